//! Unprivileged uids for instances: unique among live instances, never one that still owns
//! processes (an instance of a previous server run, or anyone else's).
//!
//! Unique across servers too: several may run on one host (the e2e tests run two at a
//! time), and a uid's processes are one sandbox's only if no other server's instance has
//! it. The process scan cannot tell, since a server picks a uid a moment before anything
//! runs as it; so each lease also holds an exclusive lock on the uid's file in
//! [`LOCK_DIR`], which the kernel lets go when the lease, or its server, ends.

use std::collections::HashSet;
use std::fs;
use std::ops::Range;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::{bail, Context, Result};
use rustix::fs::FlockOperation;

/// Where every server on the host locks the uids it leases (see the module's comment).
const LOCK_DIR: &str = "/run/porthole-uids";

/// Hands out uids from a range; each lease returns its uid when dropped. Cheap to clone
/// (clones share the pool).
#[derive(Clone)]
pub struct UidPool {
    state: Arc<Mutex<PoolState>>,
}

struct PoolState {
    range: Range<u32>,
    /// Round-robin cursor: a just-released uid is reused last, so files or processes it
    /// may have left behind have time to go.
    next: u32,
    live: HashSet<u32>,
}

/// A uid held for one instance; the gid is the same number.
pub struct UidLease {
    uid: u32,
    state: Arc<Mutex<PoolState>>,
    /// The uid's lock in [`LOCK_DIR`], held while this is open.
    _lock: fs::File,
}

impl UidLease {
    pub fn uid(&self) -> u32 {
        self.uid
    }

    pub fn gid(&self) -> u32 {
        self.uid
    }
}

impl Drop for UidLease {
    fn drop(&mut self) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.live.remove(&self.uid);
    }
}

impl Default for UidPool {
    fn default() -> Self {
        UidPool::new(200_000..210_000)
    }
}

impl UidPool {
    /// Uid 0 is never handed out, whatever the range.
    pub fn new(range: Range<u32>) -> Self {
        let range = range.start.max(1)..range.end;
        UidPool {
            state: Arc::new(Mutex::new(PoolState {
                next: range.start,
                range,
                live: HashSet::new(),
            })),
        }
    }

    pub fn acquire(&self) -> Result<UidLease> {
        let busy = uids_with_processes();
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let lock_dir = Path::new(LOCK_DIR);
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(lock_dir)
            .with_context(|| format!("creating {LOCK_DIR}"))?;
        let mut locked = None;
        for uid in candidates(&state.range, state.next, &state.live, &busy) {
            if let Some(lock) = lock_uid(lock_dir, uid)? {
                locked = Some((uid, lock));
                break;
            }
        }
        let Some((uid, lock)) = locked else {
            bail!(
                "no free uid in {}..{} ({} leased, {} owned by running processes, the rest \
                 leased by other servers)",
                state.range.start,
                state.range.end,
                state.live.len(),
                busy.iter().filter(|u| state.range.contains(u)).count()
            );
        };
        state.live.insert(uid);
        state.next = uid.saturating_add(1);
        Ok(UidLease {
            uid,
            state: Arc::clone(&self.state),
            _lock: lock,
        })
    }
}

/// The uid's lock file in `dir`, locked; None if another lease (of any server) holds it.
fn lock_uid(dir: &Path, uid: u32) -> Result<Option<fs::File>> {
    let path = dir.join(uid.to_string());
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    match rustix::fs::flock(&file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(Some(file)),
        Err(rustix::io::Errno::WOULDBLOCK) => Ok(None),
        Err(e) => Err(e).with_context(|| format!("locking {}", path.display())),
    }
}

/// The uids at or after `next` (wrapping around the range) that are neither leased nor
/// busy, in the order to try them.
fn candidates<'a>(
    range: &Range<u32>,
    next: u32,
    live: &'a HashSet<u32>,
    busy: &'a HashSet<u32>,
) -> impl Iterator<Item = u32> + 'a {
    let start = if range.contains(&next) {
        next
    } else {
        range.start
    };
    (start..range.end)
        .chain(range.start..start)
        .filter(|uid| !live.contains(uid) && !busy.contains(uid))
}

/// Every real, effective, saved and filesystem uid of every process.
fn uids_with_processes() -> HashSet<u32> {
    let mut uids = HashSet::new();
    let Ok(entries) = fs::read_dir("/proc") else {
        return uids;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !name.to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        // Processes exit while we scan: a missing status file is normal.
        let Ok(status) = fs::read_to_string(entry.path().join("status")) else {
            continue;
        };
        if let Some(line) = status.lines().find(|l| l.starts_with("Uid:")) {
            uids.extend(
                line[4..]
                    .split_whitespace()
                    .filter_map(|u| u.parse::<u32>().ok()),
            );
        }
    }
    uids
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(uids: &[u32]) -> HashSet<u32> {
        uids.iter().copied().collect()
    }

    fn pick(
        range: &Range<u32>,
        next: u32,
        live: &HashSet<u32>,
        busy: &HashSet<u32>,
    ) -> Option<u32> {
        candidates(range, next, live, busy).next()
    }

    #[test]
    fn pick_skips_leased_and_busy_and_wraps() {
        let range = 10..15;
        assert_eq!(pick(&range, 10, &set(&[]), &set(&[])), Some(10));
        assert_eq!(pick(&range, 10, &set(&[10]), &set(&[11])), Some(12));
        assert_eq!(pick(&range, 14, &set(&[14]), &set(&[])), Some(10));
        assert_eq!(pick(&range, 99, &set(&[]), &set(&[])), Some(10));
        assert_eq!(pick(&range, 12, &set(&[10, 11, 12]), &set(&[13, 14])), None);
    }

    #[test]
    fn leases_are_unique_and_released_on_drop() {
        let pool = UidPool::new(300_000..300_002);
        let a = pool.acquire().unwrap();
        let b = pool.acquire().unwrap();
        assert_ne!(a.uid(), b.uid());
        assert!(pool.acquire().is_err(), "range of two is exhausted");
        let freed = a.uid();
        drop(a);
        assert_eq!(pool.acquire().unwrap().uid(), freed);
    }

    #[test]
    fn two_pools_on_one_host_never_lease_the_same_uid() {
        // As two servers: separate pools over one range, which nothing runs as yet.
        let (one, other) = (
            UidPool::new(300_010..300_012),
            UidPool::new(300_010..300_012),
        );
        let a = one.acquire().unwrap();
        let b = other.acquire().unwrap();
        assert_ne!(a.uid(), b.uid());
        assert!(
            one.acquire().is_err(),
            "the other pool holds the range's other uid"
        );
        let freed = b.uid();
        drop(b);
        assert_eq!(one.acquire().unwrap().uid(), freed);
    }

    #[test]
    fn a_uid_lock_is_exclusive_until_its_file_closes() {
        let dir = tempfile::tempdir().unwrap();
        let held = lock_uid(dir.path(), 7).unwrap();
        assert!(held.is_some());
        assert!(lock_uid(dir.path(), 7).unwrap().is_none());
        assert!(lock_uid(dir.path(), 8).unwrap().is_some());
        drop(held);
        assert!(lock_uid(dir.path(), 7).unwrap().is_some());
    }

    #[test]
    fn the_process_scan_sees_our_own_uid() {
        let ours = rustix::process::getuid().as_raw();
        assert!(uids_with_processes().contains(&ours));
    }

    #[test]
    fn uid_zero_is_never_handed_out() {
        assert_eq!(UidPool::new(0..2).acquire().unwrap().uid(), 1);
    }
}

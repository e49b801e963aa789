//! Unprivileged uids for instances: unique among live instances, never one that still owns
//! processes (an instance of a previous server run, or anyone else's).

use std::collections::HashSet;
use std::fs;
use std::ops::Range;
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::{bail, Result};

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
        let Some(uid) = pick(&state.range, state.next, &state.live, &busy) else {
            bail!(
                "no free uid in {}..{} ({} leased, {} owned by running processes)",
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
        })
    }
}

/// The first uid at or after `next` (wrapping around the range) that is neither leased nor busy.
fn pick(range: &Range<u32>, next: u32, live: &HashSet<u32>, busy: &HashSet<u32>) -> Option<u32> {
    let start = if range.contains(&next) {
        next
    } else {
        range.start
    };
    (start..range.end)
        .chain(range.start..start)
        .find(|uid| !live.contains(uid) && !busy.contains(uid))
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
    fn the_process_scan_sees_our_own_uid() {
        let ours = rustix::process::getuid().as_raw();
        assert!(uids_with_processes().contains(&ours));
    }

    #[test]
    fn uid_zero_is_never_handed_out() {
        assert_eq!(UidPool::new(0..2).acquire().unwrap().uid(), 1);
    }
}

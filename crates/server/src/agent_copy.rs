//! The server's copy of its own executable in the runtime root, which every sandbox binds
//! as its agent (porthole_sandbox::AGENT_EXE): the original may live where instance uids
//! cannot reach it (a build under /root, say).
//!
//! Several servers may share a runtime root (the e2e tests run two at a time; a restart
//! starts a new one beside the old one's last instances), so a copy is never replaced or
//! removed while in use: the kernel refuses to bind an unlinked file, and an image
//! builder's enter-root binds the agent into the image as its image assistant. Each
//! binary therefore has its own copy, named after the file it was copied from (device,
//! inode, size, modification time), and each server holds a shared lock on its copy for
//! its life (its sandboxes die with it). A copy whose lock nobody holds is removed.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use rustix::fs::FlockOperation;

const PREFIX: &str = "porthole-agent";

/// This server's copy, in use (locked) for as long as this is alive.
pub struct AgentCopy {
    pub path: PathBuf,
    _lock: fs::File,
}

/// The copy's name for the executable with metadata `meta`.
fn copy_name(meta: &fs::Metadata) -> String {
    format!(
        "{PREFIX}-{:x}-{:x}-{:x}-{:x}.{:x}",
        meta.dev(),
        meta.ino(),
        meta.size(),
        meta.mtime(),
        meta.mtime_nsec()
    )
}

/// Installs (or reuses) the copy of this executable in `runtime_root`, locks it, and
/// removes the copies no server uses any more.
pub fn install(runtime_root: &Path) -> Result<AgentCopy> {
    let exe = std::env::current_exe().context("finding the porthole executable")?;
    let meta = fs::metadata(&exe).with_context(|| format!("reading {}", exe.display()))?;
    let path = runtime_root.join(copy_name(&meta));
    let copy = loop {
        if !path.exists() {
            let staging = runtime_root.join(format!(".{PREFIX}.{}", std::process::id()));
            fs::copy(&exe, &staging)
                .with_context(|| format!("copying {} for instances", exe.display()))?;
            crate::instances::set_mode(&staging, 0o755)?;
            // Linked, not renamed: a copy another server made meanwhile is never replaced.
            match fs::hard_link(&staging, &path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e).with_context(|| format!("installing {}", path.display())),
            }
            fs::remove_file(&staging).with_context(|| format!("removing {}", staging.display()))?;
        }
        let Some(file) = open(&path)? else { continue };
        rustix::fs::flock(&file, FlockOperation::LockShared)
            .with_context(|| format!("locking {}", path.display()))?;
        // Another server may have found it unused and removed it just before the lock.
        if same_file(&file, &path)? {
            break file;
        }
    };
    remove_unused(runtime_root, &path);
    Ok(AgentCopy { path, _lock: copy })
}

fn open(path: &Path) -> Result<Option<fs::File>> {
    match fs::File::open(path) {
        Ok(file) => Ok(Some(file)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("opening {}", path.display())),
    }
}

fn same_file(file: &fs::File, path: &Path) -> Result<bool> {
    let held = file.metadata()?;
    Ok(match fs::symlink_metadata(path) {
        Ok(now) => now.dev() == held.dev() && now.ino() == held.ino(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    })
}

/// Removes every other copy that no server holds, and staging files of servers gone (a
/// live one's is being copied: it holds no lock yet).
fn remove_unused(runtime_root: &Path, ours: &Path) {
    let Ok(entries) = fs::read_dir(runtime_root) else {
        return;
    };
    let staging_prefix = format!(".{PREFIX}.");
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let unused = if let Some(pid) = name.strip_prefix(&staging_prefix) {
            !Path::new("/proc").join(pid).exists()
        } else if name.starts_with(PREFIX) && path != ours {
            matches!(open(&path), Ok(Some(file))
                if rustix::fs::flock(&file, FlockOperation::NonBlockingLockExclusive).is_ok())
        } else {
            false
        };
        if unused {
            match fs::remove_file(&path) {
                Ok(()) => tracing::info!("removed {}: no server uses it", path.display()),
                Err(e) => tracing::warn!("cannot remove {}: {e}", path.display()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_in_use_is_kept_and_an_unused_one_removed() {
        let dir = tempfile::tempdir().unwrap();
        let first = install(dir.path()).unwrap();
        assert!(first.path.is_file());
        // The same executable again (a second server): the same copy, not a new file.
        let second = install(dir.path()).unwrap();
        assert_eq!(second.path, first.path);
        let inode = fs::metadata(&first.path).unwrap().ino();
        // Another binary's copies: one a live server holds, one left by a server gone.
        let held = dir.path().join(format!("{PREFIX}-held"));
        let left = dir.path().join(format!("{PREFIX}-left"));
        // Staging files: a server's that is gone, and a live one's (pid 1) mid-copy.
        let staging = dir.path().join(format!(".{PREFIX}.{}", u32::MAX));
        let copying = dir.path().join(format!(".{PREFIX}.1"));
        for path in [&held, &left, &staging, &copying] {
            fs::write(path, "x").unwrap();
        }
        let holder = fs::File::open(&held).unwrap();
        rustix::fs::flock(&holder, FlockOperation::LockShared).unwrap();
        drop(first);
        let third = install(dir.path()).unwrap();
        assert_eq!(
            fs::metadata(&third.path).unwrap().ino(),
            inode,
            "never replaced"
        );
        assert!(held.exists(), "a held copy stays");
        assert!(!left.exists(), "an unheld copy goes");
        assert!(!staging.exists(), "a crashed server's staging file goes");
        assert!(copying.exists(), "a live server's staging file stays");
        drop((second, third));
    }
}

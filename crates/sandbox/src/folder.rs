//! Attaching a host folder (a user's home folder) to a sandbox that is already running.
//!
//! Instances start before anyone knows whose they will be (ALWAYS_ON fleets), so the
//! sandbox gets an empty *slot*: a host directory made a shared mount point of its own peer
//! group and bound into the sandbox. Mount propagation carries a mount made on the slot
//! later, on the host, into the sandbox (whose copy is a slave of the slot), without
//! restarting anything.
//!
//! What is mounted is an *id-mapped* clone of the folder: on disk every file belongs to
//! [`FOLDER_OWNER`]; through the mount they belong to the instance's uid, and whatever the
//! instance creates is written to disk as [`FOLDER_OWNER`] again. Every instance runs under
//! a fresh uid, yet the user's files keep one stable owner, nothing is chowned at attach
//! (constant time, however many files), and two instances may mount the same folder at
//! once, each seeing the files as its own. The mount is nosuid and nodev.

use std::fs;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};
use rustix::mount::{
    mount_bind, mount_change, move_mount, open_tree, unmount, MountPropagationFlags,
    MoveMountFlags, OpenTreeFlags, UnmountFlags,
};

/// The owner (uid and gid) of attached folders' files on disk. Outside the instance uid
/// pool, never a process's: on the host no one but root reaches these files.
pub const FOLDER_OWNER: u32 = 199_999;

/// Creates `slot` (empty, root's, 0755) as a shared mount point of its own peer group, for
/// binding into a sandbox. A slot left by an earlier run is emptied first.
pub(crate) fn make_slot(slot: &Path) -> Result<()> {
    remove_slot(slot)?;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(slot)
        .with_context(|| format!("creating {}", slot.display()))?;
    mount_bind(slot, slot).with_context(|| format!("bind-mounting {}", slot.display()))?;
    // Private first: a new peer group of one, so that nothing mounted on the slot reaches
    // the host's other mount namespaces; then shared, so that it reaches the sandbox.
    for propagation in [
        MountPropagationFlags::PRIVATE,
        MountPropagationFlags::SHARED,
    ] {
        mount_change(slot, propagation)
            .with_context(|| format!("setting the propagation of {}", slot.display()))?;
    }
    Ok(())
}

/// Unmounts everything on `slot` and removes the (then empty) directory. Never deletes
/// files: a folder still attached is unmounted, not emptied. Idempotent.
pub(crate) fn remove_slot(slot: &Path) -> Result<()> {
    if !slot.exists() {
        return Ok(());
    }
    while unmount(slot, UnmountFlags::DETACH).is_ok() {}
    match fs::remove_dir(slot) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("removing {}", slot.display())),
    }
}

/// Mounts `folder` on the instance's `slot` (see [`crate::InstanceSpec::folder_slot`]),
/// id-mapped so that [`FOLDER_OWNER`]'s files are `uid`'s inside. The folder's root must
/// belong to [`FOLDER_OWNER`] (see [`own_for_folder`]). One folder per slot: attaching
/// again replaces the first (and so turns a folder read-only or writable again: mount
/// attributes do not propagate, mounts do).
pub fn attach_folder(
    slot: &Path,
    folder: &Path,
    uid: u32,
    gid: u32,
    read_only: bool,
) -> Result<()> {
    let userns = mapping_namespace(uid, gid).context("making the id mapping")?;
    let tree = open_tree(
        rustix::fs::CWD,
        folder,
        OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC,
    )
    .with_context(|| format!("cloning the mount of {}", folder.display()))?;
    set_id_mapped(&tree, &userns, read_only).with_context(|| {
        format!(
            "id-mapping {} (does its filesystem support id-mapped mounts?)",
            folder.display()
        )
    })?;
    detach_folder(slot);
    move_mount(
        tree.as_fd(),
        "",
        rustix::fs::CWD,
        slot,
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
    )
    .with_context(|| format!("mounting {} on {}", folder.display(), slot.display()))?;
    Ok(())
}

/// Unmounts the folder attached to `slot`, if any; the slot stays (empty) in the sandbox.
pub fn detach_folder(slot: &Path) {
    // The slot's own bind mount is the bottom one: unmount only what lies on top of it.
    while mounts_on(slot) > 1 {
        if unmount(slot, UnmountFlags::DETACH).is_err() {
            break;
        }
    }
}

/// Gives `path` (a file or directory the server made in a folder) to [`FOLDER_OWNER`].
pub fn own_for_folder(path: &Path) -> Result<()> {
    std::os::unix::fs::lchown(path, Some(FOLDER_OWNER), Some(FOLDER_OWNER))
        .with_context(|| format!("chown {}", path.display()))
}

/// How many mounts are stacked on `path` (from /proc/self/mountinfo).
fn mounts_on(path: &Path) -> usize {
    let Ok(info) = fs::read_to_string("/proc/self/mountinfo") else {
        return 0;
    };
    let wanted = path.to_string_lossy();
    info.lines()
        .filter(|line| line.split(' ').nth(4).map(unescape_mountinfo).as_deref() == Some(&*wanted))
        .count()
}

/// mountinfo writes space, tab, newline and backslash in paths as octal escapes.
fn unescape_mountinfo(field: &str) -> String {
    let mut out = Vec::with_capacity(field.len());
    let bytes = field.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && bytes[i + 1..i + 4].iter().all(u8::is_ascii_digit)
        {
            let code = u8::from_str_radix(&field[i + 1..i + 4], 8).unwrap_or(b'?');
            out.push(code);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A user namespace whose only ids are FOLDER_OWNER ↔ `uid`/`gid`: the idmap of the
/// mount. Made by a short-lived child that unshares its user namespace and waits until
/// the namespace is opened.
fn mapping_namespace(uid: u32, gid: u32) -> Result<OwnedFd> {
    let mut command = Command::new("sleep");
    command
        .arg("10")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: runs in the forked child before exec; unshare is a raw syscall that
    // allocates nothing, and the child has a single thread (a requirement of CLONE_NEWUSER).
    unsafe {
        command.pre_exec(|| {
            if libc::unshare(libc::CLONE_NEWUSER) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
    // spawn returns once the child has exec'd, so its namespace exists.
    let mut child = command
        .spawn()
        .context("starting the id-mapping helper (sleep)")?;
    let pid = child.id();
    let result = (|| -> Result<OwnedFd> {
        let proc = format!("/proc/{pid}");
        fs::write(
            format!("{proc}/uid_map"),
            format!("{FOLDER_OWNER} {uid} 1\n"),
        )
        .context("writing uid_map")?;
        fs::write(format!("{proc}/setgroups"), "deny").context("writing setgroups")?;
        fs::write(
            format!("{proc}/gid_map"),
            format!("{FOLDER_OWNER} {gid} 1\n"),
        )
        .context("writing gid_map")?;
        let ns = fs::File::open(format!("{proc}/ns/user")).context("opening the namespace")?;
        Ok(ns.into())
    })();
    let _ = child.kill();
    let _ = child.wait();
    result
}

/// mount_setattr(2) with MOUNT_ATTR_IDMAP (and nosuid, nodev) on a detached tree.
fn set_id_mapped(tree: &OwnedFd, userns: &OwnedFd, read_only: bool) -> Result<()> {
    const MOUNT_ATTR_RDONLY: u64 = 0x1;
    const MOUNT_ATTR_NOSUID: u64 = 0x2;
    const MOUNT_ATTR_NODEV: u64 = 0x4;
    const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;
    #[repr(C)]
    struct MountAttr {
        attr_set: u64,
        attr_clr: u64,
        propagation: u64,
        userns_fd: u64,
    }
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_IDMAP
            | MOUNT_ATTR_NOSUID
            | MOUNT_ATTR_NODEV
            | if read_only { MOUNT_ATTR_RDONLY } else { 0 },
        attr_clr: 0,
        propagation: 0,
        userns_fd: userns.as_raw_fd() as u64,
    };
    // SAFETY: a raw syscall with a valid fd, an empty C string and a pointer to a live,
    // correctly laid out `struct mount_attr` of the size passed.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            tree.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if rc != 0 {
        bail!(std::io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_escapes_are_undone() {
        assert_eq!(unescape_mountinfo("/a\\040b\\134c"), "/a b\\c");
        assert_eq!(unescape_mountinfo("/plain"), "/plain");
        assert_eq!(unescape_mountinfo("/end\\04"), "/end\\04");
    }
}

//! Attaching a host folder (a user's home folder) to a sandbox that is already running.
//!
//! Instances start before anyone knows whose they will be (ALWAYS_ON fleets). When the
//! session is assigned, the server mounts the folder straight into the running sandbox's
//! own mount namespace: a thread of its own joins that namespace (setns) and moves a
//! prepared mount onto [`crate::HOME_FOLDER_MOUNT`], an empty directory bwrap made. Nothing
//! is mounted on the host, so no other sandbox ever holds the folder in its mount tree,
//! and nothing is left to clean up after a crash: the mount goes with the namespace.
//!
//! What is mounted is an *id-mapped* clone of the folder: on disk every file belongs to
//! [`FOLDER_OWNER`]; through the mount they belong to the instance's uid, and whatever the
//! instance creates is written to disk as [`FOLDER_OWNER`] again. Every instance runs under
//! a fresh uid, yet the user's files keep one stable owner, nothing is chowned at attach
//! (constant time, however many files), and two instances may mount the same folder at
//! once, each seeing the files as its own. The mount is nosuid and nodev.

use std::fs;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{anyhow, bail, Context, Result};
use rustix::fs::{Mode, OFlags, ResolveFlags};
use rustix::mount::{move_mount, open_tree, unmount, MoveMountFlags, OpenTreeFlags, UnmountFlags};

/// The owner (uid and gid) of attached folders' files on disk. Outside the instance uid
/// pool, never a process's: on the host no one but root reaches these files.
pub const FOLDER_OWNER: u32 = 199_999;

/// Mounts `folder` at [`crate::HOME_FOLDER_MOUNT`] in the running sandbox whose outer bwrap
/// is `sandbox_pid` ([`crate::Instance::pid`]), id-mapped so that [`FOLDER_OWNER`]'s files
/// are `uid`'s inside. The folder's root must belong to [`FOLDER_OWNER`] (see
/// [`own_for_folder`]). Attaching again replaces the folder (and so turns it read-only
/// or writable again); programs with files open in the old mount keep them.
pub fn attach_folder(
    sandbox_pid: u32,
    folder: &Path,
    uid: u32,
    gid: u32,
    read_only: bool,
) -> Result<()> {
    let tree = prepared_tree(folder, Some((FOLDER_OWNER, uid, gid)), read_only)?;
    in_sandbox_mounts(sandbox_pid, move || {
        unmount_folder();
        mount_inside(tree, crate::HOME_FOLDER_MOUNT)
            .with_context(|| format!("mounting {} in the sandbox", folder.display()))
    })
}

/// Mounts an image's layers (read-only, as they are on disk) and an image builder's
/// writable layer (id-mapped like a home folder: [`FOLDER_OWNER`]'s on disk, `uid`'s
/// inside) on the mount points bwrap made for them, before any app starts on them
/// (app_root.rs). bwrap cannot bind them itself: it binds as the instance's uid, and the
/// image store is the server's alone.
pub fn attach_image(
    sandbox_pid: u32,
    layers: &[std::path::PathBuf],
    builder_layer: Option<&Path>,
    on_host: bool,
    hidden: &[std::path::PathBuf],
    uid: u32,
    gid: u32,
) -> Result<()> {
    // A builder's root (the instance's uid) owns what it builds on: each layer's owner on
    // disk (root for the host's trees and imported roots, FOLDER_OWNER for snapshots) is
    // mapped to the instance's uid, so that dpkg as root may change (copy up) its files.
    let builder_map = |dir: &Path| -> Result<Option<(u32, u32, u32)>> {
        use std::os::unix::fs::MetadataExt;
        Ok(match builder_layer {
            Some(_) => Some((fs::metadata(dir)?.uid(), uid, gid)),
            None => None,
        })
    };
    let mut trees = Vec::new();
    for (i, layer) in layers.iter().enumerate() {
        trees.push((
            prepared_tree(layer, builder_map(layer)?, true)?,
            crate::app_root::AppRoot::layer_mount(i),
        ));
    }
    if let Some(dir) = builder_layer {
        let tree = prepared_tree(dir, Some((FOLDER_OWNER, uid, gid)), false)?;
        trees.push((tree, crate::app_root::BUILDER_LAYER_MOUNT.into()));
        if on_host {
            // Its files are root's on the host, like the trees': the builder's root's inside.
            let mask = crate::host_mask::build(hidden)
                .context("masking what others may not read of the host's trees")?;
            trees.push((
                with_attributes(mask, Some((0, uid, gid)), true)?,
                crate::app_root::HOST_MASK_MOUNT.into(),
            ));
            for name in crate::app_root::HOST_TREES {
                let host = Path::new("/").join(name);
                if host.is_dir() {
                    let tree = prepared_tree(&host, builder_map(&host)?, true)?;
                    trees.push((
                        tree,
                        Path::new(crate::app_root::HOST_TREES_MOUNT).join(name),
                    ));
                }
            }
        }
    }
    in_sandbox_mounts(sandbox_pid, move || {
        for (tree, inside) in trees {
            mount_inside(tree, &inside.to_string_lossy())
                .with_context(|| format!("mounting an image layer on {}", inside.display()))?;
        }
        Ok(())
    })
}

fn prepared_tree(
    source: &Path,
    id_map: Option<(u32, u32, u32)>,
    read_only: bool,
) -> Result<OwnedFd> {
    let tree = open_tree(
        rustix::fs::CWD,
        source,
        OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC,
    )
    .with_context(|| format!("cloning the mount of {}", source.display()))?;
    with_attributes(tree, id_map, read_only)
        .with_context(|| format!("preparing the mount of {}", source.display()))
}

/// A detached mount made nosuid and nodev, read-only when asked and id-mapped when given
/// (owner, uid, gid).
fn with_attributes(
    tree: OwnedFd,
    id_map: Option<(u32, u32, u32)>,
    read_only: bool,
) -> Result<OwnedFd> {
    let userns = id_map
        .map(|(owner, uid, gid)| {
            mapping_namespace(owner, uid, gid).context("making the id mapping")
        })
        .transpose()?;
    set_attributes(&tree, userns.as_ref(), read_only)
        .context("setting its attributes (does its filesystem support id-mapped mounts?)")?;
    Ok(tree)
}

/// In the sandbox's mount namespace: mounts `tree` on the directory `inside`.
fn mount_inside(tree: OwnedFd, inside: &str) -> Result<()> {
    // The directory may be the instance uid's: opened without following a link it might
    // have been swapped for, and mounted on by its descriptor.
    let root = rustix::fs::open(
        "/",
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let target = rustix::fs::openat2(
        &root,
        inside.trim_start_matches('/'),
        OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
    )
    .with_context(|| format!("opening {inside} in the sandbox"))?;
    move_mount(
        tree.as_fd(),
        "",
        target.as_fd(),
        "",
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH | MoveMountFlags::MOVE_MOUNT_T_EMPTY_PATH,
    )?;
    Ok(())
}

/// Unmounts the folder attached to the sandbox, if any; the directory stays, empty.
pub fn detach_folder(sandbox_pid: u32) -> Result<()> {
    in_sandbox_mounts(sandbox_pid, || {
        unmount_folder();
        Ok(())
    })
}

/// In the sandbox's mount namespace: lazily unmounts what is on the folder's directory.
fn unmount_folder() {
    // Not a mount point (nothing attached yet): EINVAL, nothing to do.
    let _ = unmount(
        crate::HOME_FOLDER_MOUNT,
        UnmountFlags::DETACH | UnmountFlags::NOFOLLOW,
    );
}

/// Runs `work` on a thread of its own that has joined the mount namespace of the sandbox
/// whose outer bwrap is `sandbox_pid` (that of bwrap's child, the sandbox's pid 1).
fn in_sandbox_mounts(sandbox_pid: u32, work: impl FnOnce() -> Result<()> + Send) -> Result<()> {
    let inner = sandbox_init(sandbox_pid)?;
    let namespace = fs::File::open(format!("/proc/{inner}/ns/mnt"))
        .with_context(|| format!("opening the mount namespace of sandbox process {inner}"))?;
    std::thread::scope(|scope| {
        scope
            .spawn(move || {
                // SAFETY: plain syscalls on this thread only: unshare gives it a filesystem
                // context of its own (setns into a mount namespace requires one), setns
                // moves only this thread, which ends when `work` is done.
                if unsafe { libc::unshare(libc::CLONE_FS) } != 0 {
                    bail!("unshare(CLONE_FS): {}", std::io::Error::last_os_error());
                }
                if unsafe { libc::setns(namespace.as_raw_fd(), libc::CLONE_NEWNS) } != 0 {
                    bail!(
                        "joining the sandbox's mounts: {}",
                        std::io::Error::last_os_error()
                    );
                }
                work()
            })
            .join()
            .map_err(|_| anyhow!("the thread in the sandbox's mounts panicked"))?
    })
}

/// The sandbox's pid 1 (bwrap's child, in the sandbox's namespaces) of the outer bwrap.
fn sandbox_init(sandbox_pid: u32) -> Result<u32> {
    let children = fs::read_to_string(format!("/proc/{sandbox_pid}/task/{sandbox_pid}/children"))
        .with_context(|| format!("sandbox {sandbox_pid} is not running"))?;
    children
        .split_whitespace()
        .next()
        .and_then(|pid| pid.parse().ok())
        .with_context(|| format!("sandbox {sandbox_pid} has not started yet"))
}

/// Gives `path` (a file or directory the server made in a folder) to [`FOLDER_OWNER`].
pub fn own_for_folder(path: &Path) -> Result<()> {
    std::os::unix::fs::lchown(path, Some(FOLDER_OWNER), Some(FOLDER_OWNER))
        .with_context(|| format!("chown {}", path.display()))
}

/// A user namespace whose only ids are `owner` ↔ `uid`/`gid`: the idmap of the mount.
/// Made by a short-lived child that unshares its user namespace and waits until the
/// namespace is opened.
fn mapping_namespace(owner: u32, uid: u32, gid: u32) -> Result<OwnedFd> {
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
        fs::write(format!("{proc}/uid_map"), format!("{owner} {uid} 1\n"))
            .context("writing uid_map")?;
        fs::write(format!("{proc}/setgroups"), "deny").context("writing setgroups")?;
        fs::write(format!("{proc}/gid_map"), format!("{owner} {gid} 1\n"))
            .context("writing gid_map")?;
        let ns = fs::File::open(format!("{proc}/ns/user")).context("opening the namespace")?;
        Ok(ns.into())
    })();
    let _ = child.kill();
    let _ = child.wait();
    result
}

/// mount_setattr(2) on a detached tree: nosuid, nodev, read-only when asked, and
/// MOUNT_ATTR_IDMAP with `userns` when given.
fn set_attributes(tree: &OwnedFd, userns: Option<&OwnedFd>, read_only: bool) -> Result<()> {
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
        attr_set: if userns.is_some() {
            MOUNT_ATTR_IDMAP
        } else {
            0
        } | MOUNT_ATTR_NOSUID
            | MOUNT_ATTR_NODEV
            | if read_only { MOUNT_ATTR_RDONLY } else { 0 },
        attr_clr: 0,
        propagation: 0,
        userns_fd: userns.map_or(0, |ns| ns.as_raw_fd() as u64),
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

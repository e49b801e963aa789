//! What an image builder over the host sees of the host's system trees: only what every
//! user of the host may read.
//!
//! A builder's root owns the host's trees it builds on (they are id-mapped so that dpkg
//! may change their root-owned files, folder.rs), and an owner may read anything it owns:
//! /etc/shadow, /etc/ssl/private, the logs. The mask is one more read-only layer, just
//! above each host tree in the builder's overlays (app_root.rs), that takes this back:
//! - a whiteout over every entry others may not read (a directory: read and enter), over
//!   the server's own directories, over everything a filesystem mounted below a tree holds
//!   (the overlay sees what lies under the mount point, not what the host shows), and over
//!   every entry of a sticky directory (/var/tmp: other users' scratch files);
//! - /etc/shadow and /etc/gshadow as copies with every password locked, so that adduser,
//!   passwd and the packages that run them still work in the builder.
//!
//! The server (root) builds it for each builder start, from the host as it is then, in a
//! detached tmpfs that only the builder's mount namespace ever holds: nothing is written
//! to the host's disk and nothing is left to clean up.
//!
//! /usr is not masked: walking it would cost ~130k entries per start, and what others may
//! not read there on Debian belongs to other uids, which the builder's root does not own.

use std::fs;
use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use rustix::fs::{AtFlags, FileType, Mode, OFlags, Timespec, Timestamps};

/// The host's trees the mask covers (a subset of app_root's HOST_TREES).
const MASKED_TREES: &[&str] = &["etc", "var", "opt"];
/// Relative to the host's root: the files kept with their passwords locked.
const PASSWORD_FILES: &[&str] = &["etc/shadow", "etc/gshadow"];
/// A locked password field: no password matches it.
const LOCKED: &[u8] = b"*";
/// The mask holds whiteouts, directory copies and two small files.
const MASK_SIZE: &str = "16m";

/// One entry of the mask, its path relative to the host's root; parents come first.
#[derive(Debug, Clone, PartialEq, Eq)]
enum MaskEntry {
    /// A host directory something below is masked in. The mask's copy is what the merged
    /// directory shows (the top layer's), so it keeps the host's owner, mode and times.
    Dir(PathBuf, Attributes),
    /// An overlayfs whiteout: the entry does not exist in the builder.
    Whiteout(PathBuf),
    /// A file shown instead of the host's.
    File(PathBuf, Attributes, Vec<u8>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Attributes {
    uid: u32,
    gid: u32,
    mode: u32,
    mtime: (i64, i64),
}

impl Attributes {
    fn of(meta: &fs::Metadata) -> Self {
        Self {
            uid: meta.uid(),
            gid: meta.gid(),
            mode: meta.mode() & 0o7777,
            mtime: (meta.mtime(), meta.mtime_nsec()),
        }
    }
}

/// What becomes of one host entry.
enum Verdict {
    Keep,
    Hide,
    LockPasswords,
}

const OTHERS_READ: u32 = 0o004;
const OTHERS_READ_AND_ENTER: u32 = 0o005;
const STICKY: u32 = 0o1000;

/// The mask for a builder over the host, as a detached tmpfs mount (not yet id-mapped).
/// `hidden` are the server's directories (data dir, runtime root).
pub(crate) fn build(hidden: &[PathBuf]) -> Result<OwnedFd> {
    let hidden: Vec<PathBuf> = hidden
        .iter()
        .filter_map(|path| fs::canonicalize(path).ok())
        .collect();
    let entries = plan(Path::new("/"), &hidden).context("reading the host's trees")?;
    let mount = detached_tmpfs().context("making the mask's tmpfs")?;
    write_into(mount.as_fd(), &entries).context("writing the mask")?;
    Ok(mount)
}

fn detached_tmpfs() -> Result<OwnedFd> {
    use rustix::mount::{fsconfig_create, fsconfig_set_string, fsmount, fsopen};
    use rustix::mount::{FsMountFlags, FsOpenFlags, MountAttrFlags};
    let context = fsopen("tmpfs", FsOpenFlags::FSOPEN_CLOEXEC)?;
    fsconfig_set_string(&context, "mode", "0755")?;
    fsconfig_set_string(&context, "size", MASK_SIZE)?;
    fsconfig_create(&context)?;
    Ok(fsmount(
        &context,
        FsMountFlags::FSMOUNT_CLOEXEC,
        MountAttrFlags::empty(),
    )?)
}

/// The mask's entries for the trees under `host_root`; `hidden` are absolute paths.
fn plan(host_root: &Path, hidden: &[PathBuf]) -> Result<Vec<MaskEntry>> {
    let mut entries = Vec::new();
    for tree in MASKED_TREES {
        let host = host_root.join(tree);
        let Ok(meta) = fs::symlink_metadata(&host) else {
            continue;
        };
        if meta.is_dir() {
            walk(host_root, Path::new(tree), &meta, hidden, &mut entries)?;
        }
    }
    Ok(entries)
}

/// Appends the entries for the directory `rel` (with `meta`) and what is below it, the
/// directory itself only if anything below is masked.
fn walk(
    host_root: &Path,
    rel: &Path,
    meta: &fs::Metadata,
    hidden: &[PathBuf],
    entries: &mut Vec<MaskEntry>,
) -> Result<()> {
    let host = host_root.join(rel);
    let mut names: Vec<_> = fs::read_dir(&host)
        .with_context(|| format!("reading {}", host.display()))?
        .map(|entry| entry.map(|e| e.file_name()))
        .collect::<std::io::Result<_>>()
        .with_context(|| format!("reading {}", host.display()))?;
    names.sort();
    let mut below = Vec::new();
    for name in names {
        let child_rel = rel.join(&name);
        let child = host.join(&name);
        let child_meta = match fs::symlink_metadata(&child) {
            Ok(m) => m,
            // Gone since the directory was read.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e).with_context(|| format!("reading {}", child.display())),
        };
        match verdict(&child, &child_rel, &child_meta, meta, hidden) {
            Verdict::Hide => below.push(MaskEntry::Whiteout(child_rel)),
            Verdict::LockPasswords => {
                let text =
                    fs::read(&child).with_context(|| format!("reading {}", child.display()))?;
                below.push(MaskEntry::File(
                    child_rel,
                    Attributes::of(&child_meta),
                    lock_passwords(&text),
                ));
            }
            Verdict::Keep if child_meta.is_dir() => {
                walk(host_root, &child_rel, &child_meta, hidden, &mut below)?
            }
            Verdict::Keep => {}
        }
    }
    if !below.is_empty() {
        entries.push(MaskEntry::Dir(rel.to_owned(), Attributes::of(meta)));
        entries.append(&mut below);
    }
    Ok(())
}

fn verdict(
    host_path: &Path,
    rel: &Path,
    meta: &fs::Metadata,
    parent: &fs::Metadata,
    hidden: &[PathBuf],
) -> Verdict {
    let mode = meta.mode();
    let hide = parent.mode() & STICKY != 0
        || meta.dev() != parent.dev()
        || hidden.iter().any(|h| h == host_path);
    if hide {
        return Verdict::Hide;
    }
    if meta.is_symlink() {
        // What it leads to is judged where it lies.
        return Verdict::Keep;
    }
    if meta.is_file() && PASSWORD_FILES.iter().any(|f| rel == Path::new(f)) {
        return Verdict::LockPasswords;
    }
    let needed = if meta.is_dir() {
        OTHERS_READ_AND_ENTER
    } else {
        OTHERS_READ
    };
    match mode & needed == needed {
        true => Verdict::Keep,
        false => Verdict::Hide,
    }
}

/// shadow(5) and gshadow(5) with the second field of every entry replaced by a locked one.
fn lock_passwords(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    for line in text.split_inclusive(|&b| b == b'\n') {
        let Some(name_end) = line.iter().position(|&b| b == b':') else {
            // Not an entry (a blank line): nothing in it to lock.
            out.extend_from_slice(line);
            continue;
        };
        let after_password = line[name_end + 1..]
            .iter()
            .position(|&b| b == b':' || b == b'\n')
            .map_or(line.len(), |i| name_end + 1 + i);
        out.extend_from_slice(&line[..=name_end]);
        out.extend_from_slice(LOCKED);
        out.extend_from_slice(&line[after_password..]);
    }
    out
}

/// Creates `entries` below the directory `root`. Directories get their times last (what
/// is created in them changes them).
fn write_into(root: BorrowedFd<'_>, entries: &[MaskEntry]) -> Result<()> {
    for entry in entries {
        match entry {
            MaskEntry::Dir(path, attributes) => {
                rustix::fs::mkdirat(root, path, Mode::from_raw_mode(0o700))
                    .with_context(|| format!("mkdir {}", path.display()))?;
                own(root, path, attributes)?;
            }
            MaskEntry::Whiteout(path) => rustix::fs::mknodat(
                root,
                path,
                FileType::CharacterDevice,
                Mode::empty(),
                rustix::fs::makedev(0, 0),
            )
            .with_context(|| format!("whiteout {}", path.display()))?,
            MaskEntry::File(path, attributes, contents) => {
                let file = rustix::fs::openat(
                    root,
                    path,
                    OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o600),
                )
                .with_context(|| format!("creating {}", path.display()))?;
                fs::File::from(file)
                    .write_all(contents)
                    .with_context(|| format!("writing {}", path.display()))?;
                own(root, path, attributes)?;
                set_times(root, path, attributes)?;
            }
        }
    }
    for entry in entries.iter().rev() {
        if let MaskEntry::Dir(path, attributes) = entry {
            set_times(root, path, attributes)?;
        }
    }
    Ok(())
}

fn own(root: BorrowedFd<'_>, path: &Path, attributes: &Attributes) -> Result<()> {
    use rustix::process::{Gid, Uid};
    rustix::fs::chownat(
        root,
        path,
        Some(Uid::from_raw(attributes.uid)),
        Some(Gid::from_raw(attributes.gid)),
        AtFlags::SYMLINK_NOFOLLOW,
    )
    .with_context(|| format!("chown {}", path.display()))?;
    // After chown, which clears set-id bits.
    rustix::fs::chmodat(
        root,
        path,
        Mode::from_raw_mode(attributes.mode),
        AtFlags::empty(),
    )
    .with_context(|| format!("chmod {}", path.display()))
}

fn set_times(root: BorrowedFd<'_>, path: &Path, attributes: &Attributes) -> Result<()> {
    let (tv_sec, tv_nsec) = attributes.mtime;
    let time = Timespec { tv_sec, tv_nsec };
    rustix::fs::utimensat(
        root,
        path,
        &Timestamps {
            last_access: time,
            last_modification: time,
        },
        AtFlags::SYMLINK_NOFOLLOW,
    )
    .with_context(|| format!("setting the times of {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, PermissionsExt};

    fn make(root: &Path, rel: &str, mode: u32, dir: bool) {
        let path = root.join(rel);
        if dir {
            fs::create_dir_all(&path).unwrap();
        } else {
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(&path, rel).unwrap();
        }
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
    }

    /// The paths of the whiteouts (`true`) or of the directories (`false`).
    fn paths(entries: &[MaskEntry], whiteouts: bool) -> Vec<String> {
        entries
            .iter()
            .filter_map(|e| match (e, whiteouts) {
                (MaskEntry::Whiteout(p), true) | (MaskEntry::Dir(p, _), false) => {
                    Some(p.display().to_string())
                }
                _ => None,
            })
            .collect()
    }

    #[test]
    fn only_what_others_may_read_stays_and_the_servers_own_directories_go() {
        let host = tempfile::tempdir().unwrap();
        let root = host.path();
        for (rel, mode, dir) in [
            ("etc/ssl/certs/ca.pem", 0o644, false),
            ("etc/ssl/private", 0o710, true),
            ("etc/ssl/private/key.pem", 0o600, false),
            ("etc/sudoers", 0o440, false),
            ("etc/hostname", 0o644, false),
            ("var/log/syslog", 0o640, false),
            ("var/log/dpkg.log", 0o644, false),
            ("var/lib/porthole/credentials", 0o600, false),
            ("var/lib/porthole", 0o755, true),
            ("var/tmp", 0o1777, true),
            ("var/tmp/someone-elses.txt", 0o644, false),
            ("var/tmp/their-dir", 0o755, true),
            ("opt/app/bin", 0o755, true),
            ("usr/secret", 0o600, false),
        ] {
            make(root, rel, mode, dir);
        }
        symlink("/etc/ssl/private/key.pem", root.join("etc/key-link")).unwrap();

        let hidden = [root.join("var/lib/porthole")];
        let entries = plan(root, &hidden).unwrap();
        assert_eq!(
            paths(&entries, true),
            [
                "etc/ssl/private",
                "etc/sudoers",
                "var/lib/porthole",
                "var/log/syslog",
                "var/tmp/someone-elses.txt",
                "var/tmp/their-dir",
            ]
        );
        // Only the directories something below is masked in, parents first.
        assert_eq!(
            paths(&entries, false),
            ["etc", "etc/ssl", "var", "var/lib", "var/log", "var/tmp"]
        );
        let MaskEntry::Dir(_, tmp) = &entries[entries.len() - 3] else {
            panic!("{entries:?}");
        };
        assert_eq!(tmp.mode, 0o1777, "a copy keeps the host directory's mode");
    }

    #[test]
    fn shadow_files_keep_their_entries_with_the_passwords_locked() {
        let host = tempfile::tempdir().unwrap();
        let root = host.path();
        fs::create_dir(root.join("etc")).unwrap();
        fs::write(
            root.join("etc/shadow"),
            "root:$y$j9T$abc$def:19000:0:99999:7:::\nuser:!:19000::::::\n\n",
        )
        .unwrap();
        fs::set_permissions(root.join("etc/shadow"), fs::Permissions::from_mode(0o640)).unwrap();
        fs::write(root.join("etc/gshadow"), "sudo:$6$x$y::user\n").unwrap();
        fs::set_permissions(root.join("etc/gshadow"), fs::Permissions::from_mode(0o640)).unwrap();
        let entries = plan(root, &[]).unwrap();
        let files: Vec<(String, String, u32)> = entries
            .iter()
            .filter_map(|e| match e {
                MaskEntry::File(p, a, text) => Some((
                    p.display().to_string(),
                    String::from_utf8(text.clone()).unwrap(),
                    a.mode,
                )),
                _ => None,
            })
            .collect();
        assert_eq!(
            files,
            [
                ("etc/gshadow".into(), "sudo:*::user\n".into(), 0o640),
                (
                    "etc/shadow".into(),
                    "root:*:19000:0:99999:7:::\nuser:*:19000::::::\n\n".into(),
                    0o640
                ),
            ]
        );
        assert_eq!(lock_passwords(b"a:b"), b"a:*");
    }

    #[test]
    fn the_written_mask_has_whiteouts_and_the_hosts_attributes() {
        let host = tempfile::tempdir().unwrap();
        make(host.path(), "etc/secret", 0o600, false);
        make(host.path(), "etc", 0o751, true);
        let entries = plan(host.path(), &[]).unwrap();
        let mask = tempfile::tempdir().unwrap();
        let dir = fs::File::open(mask.path()).unwrap();
        write_into(dir.as_fd(), &entries).unwrap();
        let etc = fs::metadata(mask.path().join("etc")).unwrap();
        let host_etc = fs::metadata(host.path().join("etc")).unwrap();
        assert_eq!(etc.mode() & 0o7777, 0o751);
        assert_eq!(etc.mtime(), host_etc.mtime());
        let whiteout = fs::symlink_metadata(mask.path().join("etc/secret")).unwrap();
        use std::os::unix::fs::FileTypeExt;
        assert!(whiteout.file_type().is_char_device());
        assert_eq!(whiteout.rdev(), 0);
    }
}

//! Unpacking one layer (a tar, plain or gzip) into a directory of its own, safely: the
//! server is root and the tar is anyone's. Every entry is created beneath the layer's
//! directory by walking one component at a time with O_NOFOLLOW, so no entry can climb
//! out with "..", through an absolute name, or through a symbolic link an earlier entry
//! made ("link -> /", then "link/etc/passwd"). Hard links must name an earlier regular
//! file of the same layer. Set-id bits are dropped; device nodes and FIFOs are skipped.
//!
//! Whiteouts (`.wh.NAME`, `.wh..wh..opq`) are kept as the empty files they are: they
//! mean something only when layers are stacked (see `compose`).

use std::ffi::OsStr;
use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path};

use anyhow::{bail, Context, Result};
use rustix::fs::{AtFlags, Mode, OFlags};

/// What unpacking skipped, for the log.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Unpacked {
    pub entries: u64,
    pub bytes: u64,
    /// Device nodes and FIFOs, which an image has no use for in a sandbox.
    pub skipped: u64,
}

/// How a layer blob is compressed, from its media type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
}

impl Compression {
    pub fn of_media_type(media_type: &str) -> Result<Self> {
        match media_type {
            "application/vnd.oci.image.layer.v1.tar"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar" => Ok(Self::None),
            "application/vnd.oci.image.layer.v1.tar+gzip"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
            | "application/vnd.docker.image.rootfs.diff.tar.gzip" => Ok(Self::Gzip),
            other if other.ends_with("+zstd") => {
                bail!("layer media type {other}: zstd layers are not supported yet (re-export with gzip)")
            }
            other => bail!("layer media type {other}: not a layer Porthole can unpack"),
        }
    }
}

/// Unpacks the layer read from `blob` into `dest` (created; must not exist yet).
pub fn unpack(blob: impl Read, compression: Compression, dest: &Path) -> Result<Unpacked> {
    std::fs::create_dir(dest).with_context(|| format!("creating {}", dest.display()))?;
    let root = rustix::fs::open(
        dest,
        OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
        Mode::empty(),
    )?;
    let reader: Box<dyn Read> = match compression {
        Compression::None => Box::new(blob),
        Compression::Gzip => Box::new(flate2::read::GzDecoder::new(blob)),
    };
    let mut archive = tar::Archive::new(reader);
    let mut unpacked = Unpacked::default();
    for entry in archive
        .entries()
        .context("reading the layer (is it a tar?)")?
    {
        let mut entry = entry.context("reading the layer: a corrupt tar")?;
        let raw = entry.path_bytes().into_owned();
        let shown = String::from_utf8_lossy(&raw).into_owned();
        let names = entry_names(&raw).with_context(|| format!("layer entry {shown:?}"))?;
        if names.is_empty() {
            continue; // "./" itself
        }
        let mode = entry.header().mode().unwrap_or(0o644) & 0o1777;
        let kind = entry.header().entry_type();
        let (parent, name) = names.split_at(names.len() - 1);
        let parent = open_dirs(&root, parent).with_context(|| format!("layer entry {shown:?}"))?;
        let name = OsStr::from_bytes(name[0]);
        unpacked.entries += 1;
        match kind {
            tar::EntryType::Directory => {
                make_dir(&parent, name, mode).with_context(|| format!("layer entry {shown:?}"))?;
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                remove_existing(&parent, name)?;
                let fd = rustix::fs::openat(
                    &parent,
                    name,
                    OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::WRONLY
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    Mode::from_raw_mode(mode),
                )
                .with_context(|| format!("creating {shown:?}"))?;
                let mut file = std::fs::File::from(fd);
                let expected = entry.header().size().unwrap_or(0);
                let copied = io::copy(&mut entry, &mut file)
                    .with_context(|| format!("reading {shown:?}: the layer is corrupt"))?;
                // The tar reader ends a truncated entry quietly: count its bytes.
                if copied != expected {
                    bail!("{shown:?}: {copied} of {expected} bytes, the layer is cut short");
                }
                unpacked.bytes += copied;
                // The umask does not get a say.
                rustix::fs::fchmod(&file, Mode::from_raw_mode(mode))?;
            }
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .with_context(|| format!("symbolic link {shown:?} without a target"))?;
                remove_existing(&parent, name)?;
                // Its target is resolved inside the sandbox's root, never here.
                rustix::fs::symlinkat(OsStr::from_bytes(&target), &parent, name)
                    .with_context(|| format!("creating the link {shown:?}"))?;
            }
            tar::EntryType::Link => {
                let target = entry
                    .link_name_bytes()
                    .with_context(|| format!("hard link {shown:?} without a target"))?
                    .into_owned();
                let target_names = entry_names(&target).with_context(|| {
                    format!(
                        "hard link {shown:?} to {:?}",
                        String::from_utf8_lossy(&target)
                    )
                })?;
                if target_names.is_empty() {
                    bail!("hard link {shown:?} to the layer's root");
                }
                let (target_parent, target_name) = target_names.split_at(target_names.len() - 1);
                let target_parent = open_dirs(&root, target_parent)
                    .with_context(|| format!("hard link {shown:?}"))?;
                let target_name = OsStr::from_bytes(target_name[0]);
                let stat =
                    rustix::fs::statat(&target_parent, target_name, AtFlags::SYMLINK_NOFOLLOW)
                        .with_context(|| {
                            format!("hard link {shown:?}: its target is not in the layer")
                        })?;
                if rustix::fs::FileType::from_raw_mode(stat.st_mode)
                    != rustix::fs::FileType::RegularFile
                {
                    bail!("hard link {shown:?}: its target is not a regular file");
                }
                remove_existing(&parent, name)?;
                rustix::fs::linkat(&target_parent, target_name, &parent, name, AtFlags::empty())
                    .with_context(|| format!("creating the hard link {shown:?}"))?;
            }
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                unpacked.skipped += 1;
            }
            // Metadata the tar crate has already applied to the following entry.
            tar::EntryType::XHeader
            | tar::EntryType::XGlobalHeader
            | tar::EntryType::GNULongName
            | tar::EntryType::GNULongLink => {}
            other => bail!("layer entry {shown:?}: unsupported tar entry type {other:?}"),
        }
    }
    Ok(unpacked)
}

/// An entry's path as its components: "./a/b", "a/b/" and "/a/b" are all a, b; "."
/// components are dropped; "..", and so any way out, is refused.
pub(crate) fn entry_names(path: &[u8]) -> Result<Vec<&[u8]>> {
    let mut names = Vec::new();
    for component in Path::new(OsStr::from_bytes(path)).components() {
        match component {
            Component::Normal(name) => names.push(name.as_bytes()),
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir => bail!("path traversal (\"..\") in a layer"),
            Component::Prefix(_) => bail!("not a Unix path"),
        }
    }
    Ok(names)
}

/// Opens (making what is missing) the directory `names` beneath `root`, one component at
/// a time, never through a link.
fn open_dirs(root: &OwnedFd, names: &[&[u8]]) -> Result<OwnedFd> {
    let mut dir = rustix::fs::openat(
        root,
        ".",
        OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    for name in names {
        let name = OsStr::from_bytes(name);
        let flags = OFlags::DIRECTORY | OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        dir = match rustix::fs::openat(&dir, name, flags, Mode::empty()) {
            Ok(next) => next,
            Err(rustix::io::Errno::NOENT) => {
                rustix::fs::mkdirat(&dir, name, Mode::from_raw_mode(0o755))?;
                rustix::fs::openat(&dir, name, flags, Mode::empty())?
            }
            Err(rustix::io::Errno::LOOP | rustix::io::Errno::NOTDIR) => {
                bail!(
                    "{:?} is a link or a file, not a directory: nothing may be unpacked through it",
                    name
                )
            }
            Err(err) => return Err(err.into()),
        };
    }
    Ok(dir)
}

fn make_dir(parent: &OwnedFd, name: &OsStr, mode: u32) -> Result<()> {
    match rustix::fs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(stat)
            if rustix::fs::FileType::from_raw_mode(stat.st_mode)
                == rustix::fs::FileType::Directory => {}
        Ok(_) => {
            rustix::fs::unlinkat(parent, name, AtFlags::empty())?;
            rustix::fs::mkdirat(parent, name, Mode::from_raw_mode(mode))?;
        }
        Err(_) => rustix::fs::mkdirat(parent, name, Mode::from_raw_mode(mode))?,
    }
    rustix::fs::chmodat(parent, name, Mode::from_raw_mode(mode), AtFlags::empty())?;
    Ok(())
}

/// A later entry replaces an earlier one of the same name (not a directory's contents).
fn remove_existing(parent: &OwnedFd, name: &OsStr) -> Result<()> {
    match rustix::fs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(stat)
            if rustix::fs::FileType::from_raw_mode(stat.st_mode)
                == rustix::fs::FileType::Directory =>
        {
            bail!("{name:?} is a directory; a file cannot replace it in the same layer")
        }
        Ok(_) => Ok(rustix::fs::unlinkat(parent, name, AtFlags::empty())?),
        Err(_) => Ok(()),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    /// A tar built entry by entry: (path, kind, content or link target, mode).
    pub(crate) fn tar_of(entries: &[(&str, tar::EntryType, &str, u32)]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (path, kind, data, mode) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(*kind);
            header.set_mode(*mode);
            header.set_uid(0);
            header.set_gid(0);
            // set_path refuses "..": write the name bytes raw, as a hostile tool would.
            let name = path.as_bytes();
            header.as_old_mut().name[..name.len()].copy_from_slice(name);
            match kind {
                tar::EntryType::Symlink | tar::EntryType::Link => {
                    header.set_link_name_literal(data).unwrap();
                    header.set_size(0);
                    header.set_cksum();
                    builder.append(&header, io::empty()).unwrap();
                }
                _ => {
                    header.set_size(data.len() as u64);
                    header.set_cksum();
                    builder.append(&header, data.as_bytes()).unwrap();
                }
            }
        }
        builder.into_inner().unwrap()
    }

    use tar::EntryType::{Directory as D, Link as H, Regular as F, Symlink as L};

    fn unpack_into(tmp: &tempfile::TempDir, tar: &[u8]) -> Result<Unpacked> {
        unpack(tar, Compression::None, &tmp.path().join("layer"))
    }

    #[test]
    fn a_layer_unpacks_with_modes_links_and_whiteouts_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let tar = tar_of(&[
            ("./usr/", D, "", 0o755),
            ("./usr/bin/", D, "", 0o755),
            ("./usr/bin/app", F, "#!/bin/sh\necho hi\n", 0o4755),
            ("usr/bin/app-again", H, "usr/bin/app", 0o755),
            ("usr/bin/sh", L, "/bin/busybox", 0o777),
            ("etc/.wh.old.conf", F, "", 0o644),
        ]);
        let unpacked = unpack_into(&tmp, &tar).unwrap();
        assert_eq!(unpacked.entries, 6);
        let layer = tmp.path().join("layer");
        let app = std::fs::metadata(layer.join("usr/bin/app")).unwrap();
        assert_eq!(
            app.permissions().mode() & 0o7777,
            0o755,
            "set-id bits dropped"
        );
        assert_eq!(
            std::fs::read_to_string(layer.join("usr/bin/app")).unwrap(),
            "#!/bin/sh\necho hi\n"
        );
        assert_eq!(
            std::fs::metadata(layer.join("usr/bin/app-again"))
                .unwrap()
                .ino(),
            app.ino()
        );
        assert_eq!(
            std::fs::read_link(layer.join("usr/bin/sh")).unwrap(),
            Path::new("/bin/busybox")
        );
        assert!(layer.join("etc/.wh.old.conf").exists());
    }

    #[test]
    fn hostile_layers_are_refused_and_write_nothing_outside() {
        let outside = tempfile::tempdir().unwrap();
        let victim = outside.path().join("victim");
        let victim_str = victim.to_str().unwrap().to_owned();
        let cases: Vec<(&str, Vec<u8>, &str)> = vec![
            ("dot-dot", tar_of(&[("../../victim", F, "x", 0o644)]), "path traversal"),
            ("inner dot-dot", tar_of(&[("a/../../victim", F, "x", 0o644)]), "path traversal"),
            (
                "through a link",
                tar_of(&[("out", L, outside.path().to_str().unwrap(), 0o777), ("out/victim", F, "x", 0o644)]),
                "is a link",
            ),
            (
                "hard link outside",
                tar_of(&[("h", H, &victim_str, 0o644)]),
                "not in the layer",
            ),
            ("hard link climbing", tar_of(&[("h", H, "../victim", 0o644)]), "path traversal"),
            ("not a tar", b"this is not a tar archive at all, it is text; long enough to fill a header block? no".repeat(8), "tar"),
        ];
        for (what, tar, expected) in cases {
            let tmp = tempfile::tempdir().unwrap();
            let err = unpack_into(&tmp, &tar).expect_err(what);
            assert!(format!("{err:#}").contains(expected), "{what}: {err:#}");
            assert!(!victim.exists(), "{what} wrote outside");
        }
        // Absolute names land inside, as a layer's own.
        let tmp = tempfile::tempdir().unwrap();
        unpack_into(&tmp, &tar_of(&[("/etc/passwd", F, "mine", 0o644)])).unwrap();
        assert_eq!(
            std::fs::read_to_string(tmp.path().join("layer/etc/passwd")).unwrap(),
            "mine"
        );
    }

    #[test]
    fn a_cut_short_layer_is_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        let tar = tar_of(&[("big", F, &"x".repeat(5000), 0o644)]);
        let err = unpack_into(&tmp, &tar[..2048]).unwrap_err();
        assert!(format!("{err:#}").contains("cut short"), "{err:#}");
    }

    #[test]
    fn media_types() {
        assert_eq!(
            Compression::of_media_type("application/vnd.oci.image.layer.v1.tar+gzip").unwrap(),
            Compression::Gzip
        );
        assert_eq!(
            Compression::of_media_type("application/vnd.oci.image.layer.v1.tar").unwrap(),
            Compression::None
        );
        assert!(format!(
            "{:#}",
            Compression::of_media_type("application/vnd.oci.image.layer.v1.tar+zstd").unwrap_err()
        )
        .contains("zstd"));
        assert!(Compression::of_media_type("text/plain").is_err());
    }
}

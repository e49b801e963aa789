//! Stacking unpacked layers into an image's root filesystem, sharing their files.
//!
//! Each layer is unpacked once (layer.rs) into a directory of its own, named by its
//! digest, and shared by every image that has it. An image's root is a tree of hard
//! links to the files of its layers, applied in order with OCI's whiteouts: `.wh.NAME`
//! removes NAME from the layers below, `.wh..wh..opq` empties its directory of what the
//! layers below put there. No file's data is copied, so a root costs its directory
//! entries only, and starting an instance binds the root read-only: it copies nothing.

use std::collections::HashSet;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

const WHITEOUT: &str = ".wh.";
const OPAQUE: &str = ".wh..wh..opq";

/// Builds `root` (created; must not exist) from `layers`, lowest first.
pub fn compose(layers: &[PathBuf], root: &Path) -> Result<()> {
    fs::create_dir(root).with_context(|| format!("creating {}", root.display()))?;
    fs::set_permissions(root, fs::Permissions::from_mode(0o755))?;
    for layer in layers {
        apply(layer, root, Path::new(""))
            .with_context(|| format!("applying the layer {}", layer.display()))?;
    }
    Ok(())
}

/// Applies the directory `relative` of `layer` onto the same directory of `root`.
fn apply(layer: &Path, root: &Path, relative: &Path) -> Result<()> {
    let source = layer.join(relative);
    let target = root.join(relative);
    let entries: Vec<_> = fs::read_dir(&source)
        .with_context(|| format!("reading {}", source.display()))?
        .collect::<Result<_, _>>()?;
    let names: HashSet<_> = entries.iter().map(|e| e.file_name()).collect();
    if names.contains(std::ffi::OsStr::new(OPAQUE)) {
        // What lower layers put here goes; this layer's own entries come next.
        for old in fs::read_dir(&target)? {
            remove(&old?.path())?;
        }
    }
    for entry in entries {
        let name = entry.file_name();
        let name_str = name.to_string_lossy();
        if name_str == OPAQUE {
            continue;
        }
        if let Some(hidden) = name_str.strip_prefix(WHITEOUT) {
            if hidden.is_empty() || hidden == "." || hidden == ".." || hidden.contains('/') {
                bail!("whiteout {name_str:?} names nothing");
            }
            let gone = target.join(hidden);
            if fs::symlink_metadata(&gone).is_ok() {
                remove(&gone)?;
            }
            continue;
        }
        let from = entry.path();
        let to = target.join(&name);
        let meta = fs::symlink_metadata(&from)?;
        let existing = fs::symlink_metadata(&to).ok();
        if meta.is_dir() {
            match existing {
                Some(old) if old.is_dir() => {}
                Some(_) => {
                    remove(&to)?;
                    fs::create_dir(&to)?;
                }
                None => fs::create_dir(&to)?,
            }
            fs::set_permissions(&to, fs::Permissions::from_mode(meta.mode() & 0o1777))?;
            apply(layer, root, &relative.join(&name))?;
            continue;
        }
        if existing.is_some() {
            remove(&to)?;
        }
        if meta.file_type().is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(&from)?, &to)?;
        } else if meta.is_file() {
            fs::hard_link(&from, &to).with_context(|| format!("linking {}", to.display()))?;
        }
    }
    Ok(())
}

/// Removes a file, link or whole directory of the root being built (ours: nothing
/// there belongs to anyone else, and links are removed, not followed).
fn remove(path: &Path) -> Result<()> {
    let meta = fs::symlink_metadata(path)?;
    if meta.is_dir() {
        fs::remove_dir_all(path)
    } else {
        fs::remove_file(path)
    }
    .with_context(|| format!("removing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::tests::tar_of;
    use crate::layer::{unpack, Compression};
    use tar::EntryType::{Directory as D, Regular as F, Symlink as L};

    #[test]
    fn layers_stack_with_whiteouts_sharing_their_files() {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path().join("base");
        let top = tmp.path().join("top");
        unpack(
            &tar_of(&[
                ("etc/", D, "", 0o755),
                ("etc/old.conf", F, "old", 0o644),
                ("etc/keep.conf", F, "keep", 0o644),
                ("var/cache/", D, "", 0o755),
                ("var/cache/a", F, "a", 0o644),
                ("bin/app", F, "v1", 0o755),
            ])[..],
            Compression::None,
            &base,
        )
        .unwrap();
        unpack(
            &tar_of(&[
                ("etc/.wh.old.conf", F, "", 0o644),
                ("var/cache/.wh..wh..opq", F, "", 0o644),
                ("var/cache/b", F, "b", 0o644),
                ("bin/app", F, "v2", 0o755),
                ("bin/sh", L, "app", 0o777),
            ])[..],
            Compression::None,
            &top,
        )
        .unwrap();
        let root = tmp.path().join("root");
        compose(&[base.clone(), top.clone()], &root).unwrap();
        assert!(!root.join("etc/old.conf").exists(), "whited out");
        assert_eq!(
            fs::read_to_string(root.join("etc/keep.conf")).unwrap(),
            "keep"
        );
        let cache: Vec<_> = fs::read_dir(root.join("var/cache"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            cache,
            ["b"],
            "the opaque directory keeps only the top layer's"
        );
        assert_eq!(fs::read_to_string(root.join("bin/app")).unwrap(), "v2");
        assert_eq!(
            fs::read_link(root.join("bin/sh")).unwrap(),
            Path::new("app")
        );
        // Shared, not copied: the root's files are the layers' inodes.
        let ino = |p: &Path| fs::metadata(p).unwrap().ino();
        assert_eq!(
            ino(&root.join("etc/keep.conf")),
            ino(&base.join("etc/keep.conf"))
        );
        assert_eq!(ino(&root.join("bin/app")), ino(&top.join("bin/app")));
        // And no whiteout is left in the root.
        assert!(!root.join("etc/.wh.old.conf").exists());
        // The base layer is untouched by the top one's whiteouts.
        assert!(base.join("etc/old.conf").exists());
    }
}

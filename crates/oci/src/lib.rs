//! OCI images into root filesystems Porthole's sandboxes can run.
//!
//! [`import`] takes an OCI image layout (a directory, or a tar of one: what `docker save`
//! and `skopeo copy` produce), checks every blob against its digest, unpacks each layer
//! once into a shared layer store (layer.rs: nothing escapes, set-id bits dropped) and
//! stacks the image's layers into its root by hard links (compose.rs: whiteouts applied,
//! no data copied). The server decides what becomes of the root (an image of the plane)
//! and of the run configuration (its catalog); this crate knows no Porthole image.

pub mod compose;
pub mod layer;
pub mod layout;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

pub use layout::{Layout, RunConfig};

/// What an import made.
#[derive(Debug)]
pub struct Imported {
    /// The layer digests (hex), lowest first: their directories in the layer store.
    pub layers: Vec<String>,
    pub config: RunConfig,
}

/// Imports the image at `source` (a layout directory or a tar archive of one) into
/// `root` (created; must not exist), its layers unpacked into `layer_store` unless they
/// are there already. `scratch` is a directory an archive may be unpacked into.
pub fn import(source: &Path, layer_store: &Path, root: &Path, scratch: &Path) -> Result<Imported> {
    let unpacked_archive;
    let layout_dir = if source.is_dir() {
        source
    } else {
        let file =
            std::fs::File::open(source).with_context(|| format!("opening {}", source.display()))?;
        unpacked_archive = scratch.join("layout");
        layer::unpack(file, layer::Compression::None, &unpacked_archive)
            .with_context(|| format!("unpacking the archive {}", source.display()))?;
        &unpacked_archive
    };
    let layout = Layout::open(layout_dir)?;
    let manifest = layout.manifest()?;
    let config = layout.run_config(&manifest)?;
    std::fs::create_dir_all(layer_store)
        .with_context(|| format!("creating {}", layer_store.display()))?;
    let mut layers = Vec::new();
    let mut dirs: Vec<PathBuf> = Vec::new();
    for descriptor in &manifest.layers {
        let hex = layout::sha256_hex(&descriptor.digest)?.to_owned();
        let dir = layer_store.join(&hex);
        if !dir.is_dir() {
            let compression = layer::Compression::of_media_type(&descriptor.media_type)?;
            layout.verify(descriptor)?;
            // Unpacked beside, renamed when whole: a failed import leaves no half layer.
            let staging = layer_store.join(format!(".{hex}.partial"));
            let _ = std::fs::remove_dir_all(&staging);
            let blob = std::fs::File::open(layout.blob_path(descriptor)?)?;
            if let Err(err) = layer::unpack(blob, compression, &staging) {
                let _ = std::fs::remove_dir_all(&staging);
                return Err(err.context(format!("layer {}", descriptor.digest)));
            }
            std::fs::rename(&staging, &dir)?;
        }
        layers.push(hex);
        dirs.push(dir);
    }
    if let Err(err) = compose::compose(&dirs, root) {
        let _ = std::fs::remove_dir_all(root);
        return Err(err);
    }
    Ok(Imported { layers, config })
}

#[cfg(test)]
mod tests {
    use super::*;
    use layer::tests::tar_of;
    use layout::tests::layout_of;
    use tar::EntryType::{Directory as D, Regular as F};

    #[test]
    fn an_image_imports_from_a_layout_or_its_archive_and_shares_layers() {
        let tmp = tempfile::tempdir().unwrap();
        let base = tar_of(&[
            ("bin/", D, "", 0o755),
            ("bin/hello", F, "#!/bin/sh\necho hello\n", 0o755),
        ]);
        let app = tar_of(&[
            ("usr/share/applications/", D, "", 0o755),
            (
                "usr/share/applications/hello.desktop",
                F,
                "[Desktop Entry]\n",
                0o644,
            ),
        ]);
        let layout_dir = tmp.path().join("layout");
        layout_of(
            &layout_dir,
            &[base.clone(), app],
            serde_json::json!({ "io.porthole.name": "hello" }),
        );
        let store = tmp.path().join("layers");
        let first = import(&layout_dir, &store, &tmp.path().join("root-1"), tmp.path()).unwrap();
        assert_eq!(first.layers.len(), 2);
        assert_eq!(
            first.config.labels.as_ref().unwrap()["io.porthole.name"],
            "hello"
        );
        assert!(tmp
            .path()
            .join("root-1/usr/share/applications/hello.desktop")
            .exists());

        // The same image as a tar archive (docker save's shape): same layers, shared.
        let archive = tmp.path().join("image.tar");
        let mut builder = tar::Builder::new(std::fs::File::create(&archive).unwrap());
        builder.append_dir_all(".", &layout_dir).unwrap();
        builder.finish().unwrap();
        let scratch = tempfile::tempdir().unwrap();
        let second = import(&archive, &store, &tmp.path().join("root-2"), scratch.path()).unwrap();
        assert_eq!(second.layers, first.layers);
        use std::os::unix::fs::MetadataExt;
        let ino = |p: &str| std::fs::metadata(tmp.path().join(p)).unwrap().ino();
        assert_eq!(
            ino("root-1/bin/hello"),
            ino("root-2/bin/hello"),
            "one copy of the file on disk"
        );
        assert_eq!(
            std::fs::read_dir(&store).unwrap().count(),
            2,
            "two layers, unpacked once"
        );
    }

    #[test]
    fn a_layer_with_a_traversal_fails_the_import_and_leaves_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let evil = tar_of(&[("../../escaped", F, "x", 0o644)]);
        let layout_dir = tmp.path().join("layout");
        layout_of(&layout_dir, &[evil], serde_json::json!({}));
        let store = tmp.path().join("layers");
        let err = import(&layout_dir, &store, &tmp.path().join("root"), tmp.path()).unwrap_err();
        assert!(format!("{err:#}").contains("path traversal"), "{err:#}");
        assert!(!tmp.path().join("root").exists());
        assert_eq!(
            std::fs::read_dir(&store).unwrap().count(),
            0,
            "no half layer left"
        );
        assert!(!tmp.path().parent().unwrap().join("escaped").exists());
    }
}

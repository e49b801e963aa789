//! Reading an OCI image layout (what `skopeo copy ... oci:DIR` and `docker save` of
//! Docker 25+ produce): `oci-layout`, `index.json`, content-addressed `blobs/`. Every
//! blob is checked against its digest and size before use; a digest is only ever
//! `sha256:` and 64 hex digits, so it cannot name a path outside `blobs/sha256/`.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use sha2::{Digest, Sha256};

const INDEX: &str = "application/vnd.oci.image.index.v1+json";
const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default)]
    pub platform: Option<Platform>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Platform {
    pub architecture: String,
    pub os: String,
}

#[derive(Deserialize)]
struct Index {
    manifests: Vec<Descriptor>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Manifest {
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
}

/// What Porthole reads of an image's configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RunConfig {
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub env: Option<Vec<String>>,
    #[serde(default)]
    pub working_dir: Option<String>,
    #[serde(default)]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default)]
    pub cmd: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct ConfigBlob {
    #[serde(default)]
    config: RunConfig,
    #[serde(default)]
    os: Option<String>,
}

/// An image layout directory.
pub struct Layout {
    dir: PathBuf,
}

impl Layout {
    pub fn open(dir: &Path) -> Result<Self> {
        let marker = std::fs::read_to_string(dir.join("oci-layout")).with_context(|| {
            format!(
                "{} is not an OCI image layout (no oci-layout file)",
                dir.display()
            )
        })?;
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Marker {
            image_layout_version: String,
        }
        let marker: Marker = serde_json::from_str(&marker).context("reading oci-layout")?;
        if !marker.image_layout_version.starts_with("1.") {
            bail!(
                "OCI image layout version {} is not supported",
                marker.image_layout_version
            );
        }
        Ok(Self {
            dir: dir.to_owned(),
        })
    }

    /// The image's manifest: the index's only one, or its linux/amd64 one.
    pub fn manifest(&self) -> Result<Manifest> {
        let index: Index = read_json(&self.dir.join("index.json")).context("reading index.json")?;
        let mut candidates = index.manifests;
        // One level of nested index (a multi-platform image saved as such).
        if let [only] = &candidates[..] {
            if only.media_type == INDEX || only.media_type == DOCKER_LIST {
                let nested: Index = serde_json::from_slice(&self.read_blob(only)?)
                    .context("reading the nested image index")?;
                candidates = nested.manifests;
            }
        }
        let chosen = match &candidates[..] {
            [] => bail!("index.json lists no image"),
            [only] => only.clone(),
            many => many
                .iter()
                .find(|d| {
                    d.platform
                        .as_ref()
                        .is_some_and(|p| p.os == "linux" && p.architecture == "amd64")
                })
                .cloned()
                .with_context(|| {
                    format!(
                        "index.json lists {} images and none for linux/amd64",
                        many.len()
                    )
                })?,
        };
        if chosen.media_type != MANIFEST && chosen.media_type != DOCKER_MANIFEST {
            bail!(
                "the image's manifest has media type {}, not an image manifest",
                chosen.media_type
            );
        }
        let manifest: Manifest = serde_json::from_slice(&self.read_blob(&chosen)?)
            .context("reading the image manifest")?;
        if manifest.layers.is_empty() {
            bail!("the image has no layers");
        }
        Ok(manifest)
    }

    pub fn run_config(&self, manifest: &Manifest) -> Result<RunConfig> {
        let blob: ConfigBlob = serde_json::from_slice(&self.read_blob(&manifest.config)?)
            .context("reading the image configuration")?;
        if let Some(os) = blob.os.filter(|os| os != "linux") {
            bail!("the image is for {os}, not linux");
        }
        Ok(blob.config)
    }

    /// A blob's path, once its digest names one.
    pub fn blob_path(&self, descriptor: &Descriptor) -> Result<PathBuf> {
        Ok(self
            .dir
            .join("blobs")
            .join("sha256")
            .join(sha256_hex(&descriptor.digest)?))
    }

    /// Checks a blob against its digest and size (reading it whole).
    pub fn verify(&self, descriptor: &Descriptor) -> Result<()> {
        let path = self.blob_path(descriptor)?;
        let mut file =
            File::open(&path).with_context(|| format!("blob {} is missing", descriptor.digest))?;
        let mut hasher = Sha256::new();
        let mut buffer = vec![0u8; 1 << 20];
        let mut size = 0u64;
        loop {
            let n = file.read(&mut buffer)?;
            if n == 0 {
                break;
            }
            size += n as u64;
            hasher.update(&buffer[..n]);
        }
        if size != descriptor.size {
            bail!(
                "blob {} is {size} bytes, its descriptor says {}: corrupt or cut short",
                descriptor.digest,
                descriptor.size
            );
        }
        let actual = hex::encode(hasher.finalize());
        if actual != sha256_hex(&descriptor.digest)? {
            bail!(
                "blob {} has the digest sha256:{actual}: corrupt",
                descriptor.digest
            );
        }
        Ok(())
    }

    fn read_blob(&self, descriptor: &Descriptor) -> Result<Vec<u8>> {
        // Small JSON documents: refuse a descriptor that claims megabytes.
        if descriptor.size > 4 << 20 {
            bail!(
                "blob {} is too large for a manifest or configuration",
                descriptor.digest
            );
        }
        self.verify(descriptor)?;
        Ok(std::fs::read(self.blob_path(descriptor)?)?)
    }
}

/// The 64 hex digits of a `sha256:` digest (anything else is refused).
pub fn sha256_hex(digest: &str) -> Result<&str> {
    match digest.strip_prefix("sha256:") {
        Some(hex)
            if hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) =>
        {
            Ok(hex)
        }
        _ => bail!("digest {digest:?} is not a sha256 digest"),
    }
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(serde_json::from_slice(&bytes)?)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Writes a blob into a layout and returns its descriptor.
    pub(crate) fn put_blob(dir: &Path, media_type: &str, bytes: &[u8]) -> serde_json::Value {
        let hex = hex::encode(Sha256::digest(bytes));
        let blobs = dir.join("blobs/sha256");
        std::fs::create_dir_all(&blobs).unwrap();
        std::fs::write(blobs.join(&hex), bytes).unwrap();
        serde_json::json!({ "mediaType": media_type, "digest": format!("sha256:{hex}"), "size": bytes.len() })
    }

    /// A one-manifest layout of `layers` (tar bytes, plain) with `labels`.
    pub(crate) fn layout_of(dir: &Path, layers: &[Vec<u8>], labels: serde_json::Value) {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        let config = serde_json::json!({ "os": "linux", "architecture": "amd64", "config": { "Labels": labels, "Env": ["PATH=/bin"] } });
        let config = put_blob(
            dir,
            "application/vnd.oci.image.config.v1+json",
            config.to_string().as_bytes(),
        );
        let layers: Vec<_> = layers
            .iter()
            .map(|l| put_blob(dir, "application/vnd.oci.image.layer.v1.tar", l))
            .collect();
        let manifest = serde_json::json!({ "schemaVersion": 2, "mediaType": MANIFEST, "config": config, "layers": layers });
        let manifest = put_blob(dir, MANIFEST, manifest.to_string().as_bytes());
        let index = serde_json::json!({ "schemaVersion": 2, "manifests": [manifest] });
        std::fs::write(dir.join("index.json"), index.to_string()).unwrap();
    }

    #[test]
    fn a_layout_gives_its_manifest_and_config() {
        let tmp = tempfile::tempdir().unwrap();
        layout_of(
            tmp.path(),
            &[b"layer-one".to_vec()],
            serde_json::json!({ "a": "b" }),
        );
        let layout = Layout::open(tmp.path()).unwrap();
        let manifest = layout.manifest().unwrap();
        assert_eq!(manifest.layers.len(), 1);
        layout.verify(&manifest.layers[0]).unwrap();
        let config = layout.run_config(&manifest).unwrap();
        assert_eq!(config.labels.unwrap()["a"], "b");
        assert_eq!(config.env.unwrap(), ["PATH=/bin"]);
    }

    #[test]
    fn corrupt_and_hostile_layouts_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        assert!(format!("{:#}", Layout::open(tmp.path()).err().unwrap())
            .contains("not an OCI image layout"));
        layout_of(tmp.path(), &[b"layer-one".to_vec()], serde_json::json!({}));
        let layout = Layout::open(tmp.path()).unwrap();
        let manifest = layout.manifest().unwrap();
        // A flipped byte in the layer.
        let path = layout.blob_path(&manifest.layers[0]).unwrap();
        std::fs::write(&path, b"layer-onE").unwrap();
        assert!(
            format!("{:#}", layout.verify(&manifest.layers[0]).unwrap_err()).contains("corrupt")
        );
        std::fs::write(&path, b"layer").unwrap();
        assert!(
            format!("{:#}", layout.verify(&manifest.layers[0]).unwrap_err()).contains("cut short")
        );
        // Digests never name paths.
        for digest in ["sha256:../../etc/passwd", "sha512:abcd", "sha256:ABCDEF"] {
            assert!(sha256_hex(digest).is_err(), "{digest}");
        }
    }
}

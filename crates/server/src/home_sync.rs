//! Home folders on S3-compatible object storage (`[home_folders.s3]`), by object_store.
//!
//! The folder an instance mounts is always a local directory (home_folders.rs); with S3
//! configured that directory is this host's copy of the bucket's `user/<kind>/<sha256>/`
//! objects, kept in step both ways:
//!
//! - *pull*, before the folder is attached to a session: objects that changed since the
//!   last sync (by ETag) are downloaded, those deleted in the bucket are deleted here
//!   unless changed here since (a local change is never overwritten unsynced);
//! - *push*, every few seconds while a session holds the folder, when its instance ends,
//!   and at server start for every folder on disk (so a crash or restart loses nothing):
//!   files whose size or modification time differ from the last sync are uploaded, files
//!   gone since are deleted in the bucket. A push that fails is counted
//!   (`porthole_home_folder_sync_failures_total`), logged and retried on the next round,
//!   never dropped: what is not yet in the bucket stays on this host's disk.
//!
//! What was last synced (path -> size, mtime, ETag) is kept per folder in
//! `<data dir>/home-folders/.sync/`. Empty directories are not stored (S3 has none).
//! Two hosts writing one file: the last push wins, file by file.

use std::collections::{BTreeMap, HashMap};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use futures_util::StreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::ObjectStore;
use porthole_control::my_files::PARTIAL_UPLOAD_PREFIX;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;

use crate::config::S3Config;

/// How often folders held by sessions (and failed ones) are pushed.
pub(crate) const PUSH_INTERVAL: Duration = Duration::from_secs(5);
const MANIFESTS: &str = ".sync";

pub(crate) struct RemoteFolders {
    store: Arc<dyn ObjectStore>,
    bucket: String,
    manifests: PathBuf,
    /// One sync at a time per folder (by key).
    busy: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Folders whose last push failed (key -> local path), retried every round.
    pending: Mutex<BTreeMap<String, PathBuf>>,
    pub(crate) failures: AtomicU64,
    pub(crate) uploads: AtomicU64,
}

/// A file as last synced.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Synced {
    size: u64,
    mtime_ns: i128,
    e_tag: Option<String>,
}

#[derive(Default, Serialize, Deserialize)]
struct Manifest {
    files: BTreeMap<String, Synced>,
}

/// A local regular file: its path relative to the folder, size and mtime.
struct LocalFile {
    size: u64,
    mtime_ns: i128,
}

impl RemoteFolders {
    pub(crate) fn new(config: &S3Config, root: &Path) -> Result<Self> {
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&config.bucket)
            .with_region(&config.region)
            .with_access_key_id(&config.access_key_id)
            .with_secret_access_key(&config.secret_access_key);
        if let Some(endpoint) = &config.endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"))
                // S3-compatible servers seldom resolve bucket subdomains.
                .with_virtual_hosted_style_request(false);
        }
        let store = builder
            .build()
            .context("configuring the S3 home-folder store")?;
        let manifests = root.join(MANIFESTS);
        std::fs::create_dir_all(&manifests)
            .with_context(|| format!("creating {}", manifests.display()))?;
        Ok(Self {
            store: Arc::new(store),
            bucket: config.bucket.clone(),
            manifests,
            busy: Mutex::new(HashMap::new()),
            pending: Mutex::new(BTreeMap::new()),
            failures: AtomicU64::new(0),
            uploads: AtomicU64::new(0),
        })
    }

    pub(crate) fn pending_count(&self) -> usize {
        self.pending.lock().expect("sync lock").len()
    }

    fn lock_for(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut busy = self.busy.lock().expect("sync lock");
        busy.entry(key.to_owned()).or_default().clone()
    }

    fn manifest_path(&self, key: &str) -> PathBuf {
        self.manifests
            .join(format!("{}.json", key.replace('/', "_")))
    }

    fn load(&self, key: &str) -> Manifest {
        std::fs::read(self.manifest_path(key))
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default()
    }

    fn save(&self, key: &str, manifest: &Manifest) -> Result<()> {
        let path = self.manifest_path(key);
        let staging = path.with_extension("json.new");
        std::fs::write(&staging, serde_json::to_vec(manifest)?)
            .with_context(|| format!("writing {}", staging.display()))?;
        std::fs::rename(&staging, &path).with_context(|| format!("writing {}", path.display()))
    }

    /// Brings this host's copy of the folder up to the bucket's.
    pub(crate) async fn pull(&self, key: &str, folder: &Path) -> Result<()> {
        let lock = self.lock_for(key);
        let _held = lock.lock().await;
        let mut manifest = self.load(key);
        let prefix = ObjectPath::from(key);
        let mut remote: BTreeMap<String, object_store::ObjectMeta> = BTreeMap::new();
        let mut listing = self.store.list(Some(&prefix));
        while let Some(meta) = listing.next().await {
            let meta = meta.with_context(|| format!("listing s3://{}/{key}/", self.bucket))?;
            if let Some(relative) = relative_path(&meta.location, &prefix) {
                remote.insert(relative, meta);
            }
        }
        let local = local_files(folder);
        for (relative, meta) in &remote {
            let synced = manifest.files.get(relative);
            let here = local.get(relative);
            let unchanged_remote = synced.is_some_and(|s| s.e_tag == meta.e_tag);
            let changed_here = match (synced, here) {
                (Some(s), Some(l)) => s.size != l.size || s.mtime_ns != l.mtime_ns,
                (None, Some(_)) => true,
                (_, None) => false,
            };
            if unchanged_remote && here.is_some() || changed_here {
                continue;
            }
            let file = self.download(&meta.location, folder, relative).await?;
            manifest.files.insert(
                relative.clone(),
                Synced {
                    size: file.size,
                    mtime_ns: file.mtime_ns,
                    e_tag: meta.e_tag.clone(),
                },
            );
        }
        // Deleted in the bucket since the last sync, and not changed here: gone here too.
        let deleted: Vec<String> = manifest
            .files
            .keys()
            .filter(|k| !remote.contains_key(*k))
            .cloned()
            .collect();
        for relative in deleted {
            let synced = manifest.files.remove(&relative).expect("listed");
            if let Some(l) = local.get(&relative) {
                if l.size == synced.size && l.mtime_ns == synced.mtime_ns {
                    let _ = std::fs::remove_file(folder.join(&relative));
                }
            }
        }
        self.save(key, &manifest)
    }

    /// Downloads one object to `folder/relative` (a partial file renamed when complete).
    async fn download(
        &self,
        location: &ObjectPath,
        folder: &Path,
        relative: &str,
    ) -> Result<LocalFile> {
        let target = folder.join(relative);
        let parent = target.parent().unwrap_or(folder);
        make_dirs(folder, parent)?;
        let staging = parent.join(format!(
            "{PARTIAL_UPLOAD_PREFIX}{}",
            hex::encode(crate::credentials::random_bytes(8))
        ));
        let result = async {
            let mut out = tokio::fs::File::create(&staging).await?;
            let mut stream = self.store.get(location).await?.into_stream();
            while let Some(chunk) = stream.next().await {
                out.write_all(&chunk?).await?;
            }
            out.sync_all().await?;
            porthole_sandbox::own_for_folder(&staging)?;
            tokio::fs::rename(&staging, &target).await?;
            anyhow::Ok(())
        }
        .await;
        if let Err(err) = result {
            let _ = std::fs::remove_file(&staging);
            return Err(err.context(format!("downloading {relative}")));
        }
        let meta = std::fs::symlink_metadata(&target)?;
        Ok(LocalFile {
            size: meta.size(),
            mtime_ns: mtime_ns(&meta),
        })
    }

    /// Brings the bucket up to this host's copy. On failure the folder is kept for the
    /// next round (see [`RemoteFolders::push_pending`]).
    pub(crate) async fn push(&self, key: &str, folder: &Path) {
        match self.push_once(key, folder).await {
            Ok(uploaded) => {
                self.pending.lock().expect("sync lock").remove(key);
                if uploaded > 0 {
                    tracing::debug!(folder = key, uploaded, "home folder pushed");
                }
            }
            Err(err) => {
                self.failures.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    folder = key,
                    "home folder sync to S3 failed, will retry: {err:#}"
                );
                self.pending
                    .lock()
                    .expect("sync lock")
                    .insert(key.to_owned(), folder.to_owned());
            }
        }
    }

    async fn push_once(&self, key: &str, folder: &Path) -> Result<usize> {
        let lock = self.lock_for(key);
        let _held = lock.lock().await;
        let mut manifest = self.load(key);
        let local = local_files(folder);
        let mut uploaded = 0;
        let mut outcome = Ok(());
        for (relative, file) in &local {
            let same = manifest
                .files
                .get(relative)
                .is_some_and(|s| s.size == file.size && s.mtime_ns == file.mtime_ns);
            if same {
                continue;
            }
            match self.upload(key, folder, relative).await {
                Ok(e_tag) => {
                    uploaded += 1;
                    self.uploads.fetch_add(1, Ordering::Relaxed);
                    manifest.files.insert(
                        relative.clone(),
                        Synced {
                            size: file.size,
                            mtime_ns: file.mtime_ns,
                            e_tag,
                        },
                    );
                }
                Err(err) => {
                    outcome = Err(err);
                    break;
                }
            }
        }
        if outcome.is_ok() {
            let gone: Vec<String> = manifest
                .files
                .keys()
                .filter(|k| !local.contains_key(*k))
                .cloned()
                .collect();
            for relative in gone {
                let location = object_path(key, &relative);
                match self.store.delete(&location).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => {
                        manifest.files.remove(&relative);
                    }
                    Err(err) => {
                        outcome =
                            Err(anyhow::Error::new(err).context(format!("deleting {relative}")));
                        break;
                    }
                }
            }
        }
        // What did reach the bucket is recorded even when a later file failed.
        self.save(key, &manifest)?;
        outcome.map(|()| uploaded)
    }

    async fn upload(&self, key: &str, folder: &Path, relative: &str) -> Result<Option<String>> {
        let location = object_path(key, relative);
        let mut file = tokio::fs::File::open(folder.join(relative))
            .await
            .with_context(|| format!("opening {relative}"))?;
        let mut writer =
            object_store::buffered::BufWriter::new(self.store.clone(), location.clone());
        tokio::io::copy(&mut file, &mut writer)
            .await
            .with_context(|| format!("uploading {relative}"))?;
        writer
            .shutdown()
            .await
            .with_context(|| format!("uploading {relative}"))?;
        let meta = self
            .store
            .head(&location)
            .await
            .with_context(|| format!("checking the upload of {relative}"))?;
        Ok(meta.e_tag)
    }

    /// Folders to push again: `held` (those sessions hold now) and every failed one.
    pub(crate) async fn push_round(&self, held: Vec<(String, PathBuf)>) {
        let mut all: BTreeMap<String, PathBuf> = self.pending.lock().expect("sync lock").clone();
        all.extend(held);
        for (key, folder) in all {
            self.push(&key, &folder).await;
        }
    }

    /// At start: every folder on disk, for whatever a previous run did not push.
    pub(crate) fn push_everything_under(&self, root: &Path) {
        let mut pending = self.pending.lock().expect("sync lock");
        for kind in ["userpool", "federated", "custom"] {
            let Ok(entries) = std::fs::read_dir(root.join("user").join(kind)) else {
                continue;
            };
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                pending.insert(format!("user/{kind}/{name}"), entry.path());
            }
        }
    }
}

fn object_path(key: &str, relative: &str) -> ObjectPath {
    ObjectPath::from_iter(key.split('/').chain(relative.split('/')))
}

/// `location` below `prefix`, its parts decoded and joined by '/'.
fn relative_path(location: &ObjectPath, prefix: &ObjectPath) -> Option<String> {
    let parts: Vec<String> = location
        .prefix_match(prefix)?
        .map(|part| {
            percent_encoding::percent_decode_str(part.as_ref())
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    let valid = !parts.is_empty()
        && parts.iter().all(|p| {
            !p.is_empty() && p != "." && p != ".." && !p.contains('/') && !p.contains('\0')
        });
    valid.then(|| parts.join("/"))
}

/// Regular files under `folder` (no links followed; partial uploads left out).
fn local_files(folder: &Path) -> BTreeMap<String, LocalFile> {
    let mut files = BTreeMap::new();
    let mut pending = vec![(folder.to_path_buf(), String::new())];
    while let Some((dir, prefix)) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(PARTIAL_UPLOAD_PREFIX) {
                continue;
            }
            let relative = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            };
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                pending.push((entry.path(), relative));
            } else if meta.is_file() {
                files.insert(
                    relative,
                    LocalFile {
                        size: meta.size(),
                        mtime_ns: mtime_ns(&meta),
                    },
                );
            }
        }
    }
    files
}

fn mtime_ns(meta: &std::fs::Metadata) -> i128 {
    i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec())
}

/// Creates `dir` and its parents below `folder`, each the folder owner's. Refuses to
/// pass through a link.
fn make_dirs(folder: &Path, dir: &Path) -> Result<()> {
    let relative = dir.strip_prefix(folder).unwrap_or(Path::new(""));
    let mut at = folder.to_path_buf();
    for part in relative.components() {
        at.push(part);
        match std::fs::symlink_metadata(&at) {
            Ok(meta) if meta.is_dir() => continue,
            Ok(_) => anyhow::bail!("{} is in the way (not a folder)", at.display()),
            Err(_) => {
                std::fs::create_dir(&at).with_context(|| format!("creating {}", at.display()))?;
                porthole_sandbox::own_for_folder(&at)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_paths_round_trip_and_stay_inside() {
        let prefix = ObjectPath::from("user/custom/abc");
        for relative in ["a.txt", "docs/r\u{e9}sum\u{e9} 1.pdf", "x/y/z#1[2]%.txt"] {
            let location = object_path("user/custom/abc", relative);
            assert_eq!(relative_path(&location, &prefix).as_deref(), Some(relative));
        }
        assert_eq!(
            relative_path(&ObjectPath::from("user/custom/abd/a"), &prefix),
            None
        );
        assert_eq!(relative_path(&prefix, &prefix), None);
    }
}

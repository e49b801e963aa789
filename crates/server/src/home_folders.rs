//! Users' persistent home folders (a stack's HOMEFOLDERS storage connector).
//!
//! Each user's folder is a directory under `<data dir>/home-folders/`, at AppStream's key
//! (`user/<userpool|federated|custom>/<sha256 of the user id>`), its files owned on disk
//! by [`FOLDER_OWNER`]. When a session of a stack with home folders gets its instance,
//! the folder is attached to the running instance (id-mapped, mounted inside its own
//! mount namespace: no restart, see porthole-sandbox's folder.rs) at
//! `~/MyFiles/HomeFolder`. What an app
//! saves there is on the server's disk at once: killing the instance, losing the browser
//! or restarting the server loses nothing written.
//!
//! Two sessions of one user (two stacks sharing the connector) attach the same folder:
//! they see one set of files, live, as two programs on one computer do; a file written
//! by both holds whichever write came last. Nothing is merged, nothing is copied, so
//! nothing can be torn between copies.
//!
//! With `[home_folders.s3]` the directory is this host's copy of the user's objects in
//! the bucket (home_sync.rs): pulled before it is attached, pushed while it is held, when
//! its instance ends and after a restart.
//!
//! The quota: the folder's size is checked at attach and every few seconds; at or past
//! the quota the folder is attached again read-only and the session's browsers are told,
//! and it turns writable again once files are deleted (through My Files).

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use porthole_control::my_files::{home_folder_key, quota_state, QuotaState};
use porthole_sandbox::own_for_folder;

use crate::home_sync::{RemoteFolders, PUSH_INTERVAL};
use crate::state::Server;

/// How often attached folders' sizes are checked against the quota.
const QUOTA_CHECK_INTERVAL: Duration = Duration::from_secs(2);
/// The quota when the config names none.
pub const DEFAULT_QUOTA_MIB: u64 = 10 * 1024;

pub(crate) struct HomeFolders {
    root: PathBuf,
    quota: Option<u64>,
    /// The bucket the folders are kept in, when there is one.
    pub(crate) remote: Option<RemoteFolders>,
    /// Folders attached to live sessions, by session id.
    attached: Mutex<HashMap<String, Attachment>>,
    /// Folders attached to running instances (key, folder), by instance id: pushed
    /// once more when the instance is gone.
    by_instance: Mutex<HashMap<String, (String, PathBuf)>>,
}

#[derive(Clone)]
struct Attachment {
    instance_id: String,
    key: String,
    folder: PathBuf,
    full: bool,
}

/// The user of a session, as their home folder knows them.
pub(crate) struct FolderOwner<'a> {
    pub(crate) authentication: porthole_control::session::AuthenticationType,
    pub(crate) user_id: &'a str,
}

impl HomeFolders {
    pub(crate) fn new(data_dir: &Path, config: &crate::config::HomeFoldersConfig) -> Result<Self> {
        let root = data_dir.join("home-folders");
        private_dir(&root)?;
        let remote = match &config.s3 {
            Some(s3) => {
                let remote = RemoteFolders::new(s3, &root)?;
                // Whatever a previous run left unpushed goes first.
                remote.push_everything_under(&root);
                Some(remote)
            }
            None => None,
        };
        Ok(Self {
            root,
            quota: config.quota_bytes(),
            remote,
            attached: Mutex::new(HashMap::new()),
            by_instance: Mutex::new(HashMap::new()),
        })
    }

    pub(crate) fn quota(&self) -> Option<u64> {
        self.quota
    }

    /// The user's folder (its key and local directory), made (empty, theirs) if it is not
    /// there yet.
    pub(crate) fn folder(&self, owner: &FolderOwner) -> Result<(String, PathBuf)> {
        let key = home_folder_key(owner.authentication, owner.user_id);
        let folder = self.root.join(&key);
        if !folder.is_dir() {
            if let Some(parent) = folder.parent() {
                private_dir(parent)?;
            }
            fs::DirBuilder::new()
                .mode(0o700)
                .create(&folder)
                .or_else(|e| match e.kind() {
                    std::io::ErrorKind::AlreadyExists => Ok(()),
                    _ => Err(e),
                })
                .with_context(|| format!("creating {}", folder.display()))?;
            own_for_folder(&folder)?;
        }
        Ok((key, folder))
    }

    /// The folder attached to a live session, if any.
    pub(crate) fn attached_to(&self, session_id: &str) -> Option<PathBuf> {
        let attached = self.attached.lock().expect("home folders lock");
        attached.get(session_id).map(|a| a.folder.clone())
    }

    /// Whether a session's folder is at or past its quota.
    pub(crate) fn is_full(&self, session_id: &str) -> bool {
        let attached = self.attached.lock().expect("home folders lock");
        attached.get(session_id).is_some_and(|a| a.full)
    }

    /// A snapshot of the folders attached to live sessions, by session id.
    fn attachments(&self) -> Vec<(String, Attachment)> {
        let attached = self.attached.lock().expect("home folders lock");
        attached
            .iter()
            .map(|(id, a)| (id.clone(), a.clone()))
            .collect()
    }

    pub(crate) fn forget(&self, session_id: &str) {
        self.attached
            .lock()
            .expect("home folders lock")
            .remove(session_id);
    }

    /// The instance is gone: its folder is pushed one last time (with S3).
    pub(crate) async fn instance_ended(&self, instance_id: &str) {
        let held = self
            .by_instance
            .lock()
            .expect("home folders lock")
            .remove(instance_id);
        if let (Some(remote), Some((key, folder))) = (&self.remote, held) {
            remote.push(&key, &folder).await;
        }
    }
}

impl Server {
    /// Attaches the session's user's home folder to its (running) instance, once; a
    /// session of a stack without home folders gets none. Returns whether it attached.
    pub(crate) async fn attach_home_folder(&self, session_id: &str) -> Result<bool> {
        if self.home_folders.attached_to(session_id).is_some() {
            return Ok(false);
        }
        let (instance_id, key, folder) = {
            let cp = self.plane.lock().await;
            let session = cp
                .session(session_id)
                .map_err(|e| anyhow::anyhow!(e.message))?;
            let enabled = cp
                .stack(&session.stack)
                .is_ok_and(|stack| stack.home_folders_enabled());
            let Some(instance_id) = session.instance_id.clone().filter(|_| enabled) else {
                return Ok(false);
            };
            let owner = FolderOwner {
                authentication: session.authentication_type,
                user_id: &session.user_id,
            };
            let (key, folder) = self.home_folders.folder(&owner)?;
            (instance_id, key, folder)
        };
        if let Some(remote) = &self.home_folders.remote {
            // A bucket that cannot be reached leaves this host's copy as it is: the
            // session starts with it, and what it saves is pushed later.
            if let Err(err) = remote.pull(&key, &folder).await {
                remote
                    .failures
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tracing::warn!(folder = %key, "home folder sync from S3 failed: {err:#}");
            }
        }
        let full = quota_state(usage(&folder), self.home_folders.quota) == QuotaState::Full;
        self.instances
            .attach_folder(&instance_id, &folder, full)
            .context("attaching the home folder")?;
        self.home_folders
            .by_instance
            .lock()
            .expect("home folders lock")
            .insert(instance_id.clone(), (key.clone(), folder.clone()));
        self.home_folders
            .attached
            .lock()
            .expect("home folders lock")
            .insert(
                session_id.to_owned(),
                Attachment {
                    instance_id,
                    key,
                    folder,
                    full,
                },
            );
        if full {
            self.signals.folder_full(session_id, true);
        }
        Ok(true)
    }

    /// Every [`PUSH_INTERVAL`] (with S3): pushes the folders sessions hold and those
    /// whose last push failed.
    pub(crate) async fn sync_home_folders(self: Arc<Self>) {
        let Some(remote) = &self.home_folders.remote else {
            return;
        };
        let mut interval = tokio::time::interval(PUSH_INTERVAL);
        loop {
            interval.tick().await;
            let held = self
                .home_folders
                .attachments()
                .into_iter()
                .map(|(_, a)| (a.key, a.folder))
                .collect();
            remote.push_round(held).await;
        }
    }

    /// Every [`QUOTA_CHECK_INTERVAL`]: attached folders that crossed their quota either
    /// way are attached again (read-only when full) and their sessions told.
    pub(crate) async fn check_quotas(self: Arc<Self>) {
        let Some(quota) = self.home_folders.quota else {
            return;
        };
        let mut interval = tokio::time::interval(QUOTA_CHECK_INTERVAL);
        loop {
            interval.tick().await;
            for (session_id, attachment) in self.home_folders.attachments() {
                let folder = attachment.folder.clone();
                let used = tokio::task::spawn_blocking(move || usage(&folder))
                    .await
                    .unwrap_or(0);
                let full = quota_state(used, Some(quota)) == QuotaState::Full;
                if full != attachment.full {
                    self.set_full(&session_id, &attachment, full);
                }
            }
        }
    }

    /// Re-checks one session's folder now (after My Files deleted or wrote something).
    pub(crate) fn recheck_quota(&self, session_id: &str) {
        let attachment = {
            let attached = self
                .home_folders
                .attached
                .lock()
                .expect("home folders lock");
            attached.get(session_id).cloned()
        };
        if let Some(attachment) = attachment {
            let used = usage(&attachment.folder);
            let full = quota_state(used, self.home_folders.quota) == QuotaState::Full;
            if full != attachment.full {
                self.set_full(session_id, &attachment, full);
            }
        }
    }

    fn set_full(&self, session_id: &str, attachment: &Attachment, full: bool) {
        if let Err(err) =
            self.instances
                .attach_folder(&attachment.instance_id, &attachment.folder, full)
        {
            tracing::warn!(session = %session_id, "re-attaching the home folder: {err:#}");
            return;
        }
        tracing::info!(session = %session_id, full, "home folder quota");
        if let Some(a) = self
            .home_folders
            .attached
            .lock()
            .expect("home folders lock")
            .get_mut(session_id)
        {
            a.full = full;
        }
        self.signals.folder_full(session_id, full);
    }
}

/// Bytes in the folder's regular files (symbolic links are not followed).
pub(crate) fn usage(folder: &Path) -> u64 {
    let mut total = 0;
    let mut pending = vec![folder.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                pending.push(entry.path());
            } else if meta.is_file() {
                total += meta.size();
            }
        }
    }
    total
}

/// A directory only root may enter.
fn private_dir(dir: &Path) -> Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("creating {}", dir.display()))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
        .with_context(|| format!("setting the mode of {}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use porthole_control::session::AuthenticationType;
    use porthole_sandbox::FOLDER_OWNER;

    #[test]
    fn folders_are_made_private_at_appstreams_key_and_owned_for_mounting() {
        let data = std::env::temp_dir().join(format!("porthole-home-{}", std::process::id()));
        let config = crate::config::HomeFoldersConfig {
            quota_mib: 0,
            s3: None,
        };
        let folders = HomeFolders::new(&data, &config).unwrap();
        let owner = FolderOwner {
            authentication: AuthenticationType::Userpool,
            user_id: "alice@example.com",
        };
        let (key, folder) = folders.folder(&owner).unwrap();
        assert_eq!(
            key,
            "user/userpool/ff8d9819fc0e12bf0d24892e45987e249a28dce836a85cad60e28eaaa8c6d976"
        );
        assert_eq!(
            folder,
            data.join("home-folders/user/userpool")
                .join("ff8d9819fc0e12bf0d24892e45987e249a28dce836a85cad60e28eaaa8c6d976")
        );
        let meta = fs::metadata(&folder).unwrap();
        assert_eq!((meta.uid(), meta.mode() & 0o777), (FOLDER_OWNER, 0o700));
        for dir in [data.join("home-folders"), data.join("home-folders/user")] {
            let meta = fs::metadata(&dir).unwrap();
            assert_eq!((meta.uid(), meta.mode() & 0o777), (0, 0o700), "{dir:?}");
        }
        fs::write(folder.join("a"), [0u8; 100]).unwrap();
        fs::create_dir(folder.join("d")).unwrap();
        fs::write(folder.join("d/b"), [0u8; 23]).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", folder.join("link")).unwrap();
        assert_eq!(usage(&folder), 123);
        // Made once: a second call finds it, files and all.
        assert_eq!(folders.folder(&owner).unwrap().1, folder);
        assert!(folder.join("d/b").exists());
        fs::remove_dir_all(&data).unwrap();
    }
}

//! My Files: the web client's file panel, over a session's two folders, the persistent
//! home folder (when its stack has one) and the instance's temporary files.
//!
//! `GET /session/TOKEN/files?folder=home|temporary&path=P` lists a directory (JSON);
//! `GET|PUT|DELETE /session/TOKEN/files/content?folder=..&path=P` downloads, uploads
//! (the body, with its Content-Length) and deletes (a directory with what it holds);
//! `POST /session/TOKEN/files/directory?folder=..&path=P` makes a directory.
//!
//! The token must be a streaming URL's (its signature checked) whose session is live
//! and active: the URL's own validity only bounds when a session may be opened. The
//! stack's FILE_UPLOAD and FILE_DOWNLOAD settings are enforced here.
//!
//! The server is root and the folders are the users': every path is resolved beneath
//! the folder's root directory by openat2, following no symbolic link and crossing no
//! mount, so nothing a user left in their folder (a link to /etc, a directory swapped
//! for a link mid-request) leads outside it. An upload is written to a hidden partial
//! file and renamed into place only once every byte arrived and reached the disk: a
//! dropped connection leaves no file that looks complete.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::StreamExt;
use porthole_control::my_files::{fits, folder_path, FolderKind, PARTIAL_UPLOAD_PREFIX};
use porthole_control::SessionState;
use porthole_sandbox::FOLDER_OWNER;
use rustix::fs::{AtFlags, Mode, OFlags, ResolveFlags};
use serde::Deserialize;
use serde_json::json;
use tokio::io::AsyncWriteExt;

use crate::home_folders::usage;
use crate::state::Server;

const FILE_UPLOAD: &str = "FILE_UPLOAD";
const FILE_DOWNLOAD: &str = "FILE_DOWNLOAD";
/// Write buffer of uploads: few, large writes.
const UPLOAD_BUFFER: usize = 1 << 20;
/// Read size of downloads.
const DOWNLOAD_CHUNK: usize = 256 * 1024;

pub fn routes() -> Router<Arc<Server>> {
    Router::new()
        .route("/session/{token}/files", get(list))
        .route(
            "/session/{token}/files/content",
            get(download).put(upload).delete(remove),
        )
        .route("/session/{token}/files/directory", post(make_directory))
}

#[derive(Deserialize)]
struct Target {
    folder: String,
    #[serde(default)]
    path: String,
}

/// Why a request was refused, as the browser reads it: `{"message"}` with the status.
struct Refusal(StatusCode, String);

fn refuse(status: StatusCode, message: impl std::fmt::Display) -> Refusal {
    Refusal(status, message.to_string())
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "message": self.1 }))).into_response()
    }
}

type Reply = Result<Response, Refusal>;

/// What a request may do, in which folder.
struct Opened {
    session_id: String,
    kind: FolderKind,
    folder: Folder,
    /// The folder on the host (for the quota).
    path: std::path::PathBuf,
    upload: bool,
    download: bool,
}

async fn open(server: &Server, token: &str, target: &Target) -> Result<Opened, Refusal> {
    let grant = server
        .tokens
        .open_grant(token)
        .map_err(|err| refuse(StatusCode::FORBIDDEN, err.message()))?;
    let kind = FolderKind::parse(&target.folder).ok_or_else(|| {
        refuse(
            StatusCode::BAD_REQUEST,
            format!("no folder {:?}: home or temporary", target.folder),
        )
    })?;
    let (session_id, instance_id, upload, download) = {
        let cp = server.plane.lock().await;
        let session = cp
            .live_session(&grant)
            .filter(|s| s.state == SessionState::Active)
            .ok_or_else(|| refuse(StatusCode::CONFLICT, "this URL has no active session"))?;
        // An image builder's desktop is the administrator's: files go both ways.
        let (upload, download) = match &session.image_builder {
            Some(_) => (true, true),
            None => {
                let stack = cp
                    .stack(&session.stack)
                    .map_err(|err| refuse(StatusCode::NOT_FOUND, err.message))?;
                (stack.permits(FILE_UPLOAD), stack.permits(FILE_DOWNLOAD))
            }
        };
        (
            session.id.clone(),
            session.instance_id.clone().unwrap_or_default(),
            upload,
            download,
        )
    };
    let (path, owner) = match kind {
        FolderKind::Home => match server.home_folders.attached_to(&session_id) {
            Some(path) => (path, FOLDER_OWNER),
            None => {
                return Err(refuse(
                    StatusCode::NOT_FOUND,
                    "this session has no home folder (its stack keeps none)",
                ))
            }
        },
        FolderKind::Temporary => {
            server
                .instances
                .temporary_files(&instance_id)
                .ok_or_else(|| {
                    refuse(
                        StatusCode::CONFLICT,
                        "the session's instance is not running",
                    )
                })?
        }
    };
    let folder = Folder::open(&path, owner).map_err(|err| io_refusal(&err, ""))?;
    Ok(Opened {
        session_id,
        kind,
        folder,
        path,
        upload,
        download,
    })
}

fn components(path: &str) -> Result<Vec<&str>, Refusal> {
    folder_path(path).map_err(|err| refuse(StatusCode::BAD_REQUEST, err))
}

/// The components of a path that must name something inside the folder.
fn inner_components<'a>(path: &'a str, why: &str) -> Result<Vec<&'a str>, Refusal> {
    let names = components(path)?;
    if names.is_empty() {
        return Err(refuse(StatusCode::BAD_REQUEST, why));
    }
    Ok(names)
}

/// An IO error as the browser hears it: what happened, never a host path.
fn io_refusal(err: &io::Error, path: &str) -> Refusal {
    let errno = err.raw_os_error();
    let (status, what) = match err.kind() {
        io::ErrorKind::NotFound => (StatusCode::NOT_FOUND, "does not exist"),
        io::ErrorKind::AlreadyExists => (StatusCode::CONFLICT, "already exists"),
        io::ErrorKind::PermissionDenied => (StatusCode::FORBIDDEN, "is not accessible"),
        io::ErrorKind::NotADirectory => (StatusCode::CONFLICT, "is not a folder"),
        io::ErrorKind::IsADirectory => (StatusCode::CONFLICT, "is a folder"),
        io::ErrorKind::DirectoryNotEmpty => (StatusCode::CONFLICT, "is not empty"),
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => (
            StatusCode::INSUFFICIENT_STORAGE,
            "does not fit: the disk is full",
        ),
        _ if errno == Some(libc_eloop()) || errno == Some(libc_exdev()) => {
            (StatusCode::FORBIDDEN, "leads outside the folder (a link)")
        }
        _ => {
            tracing::warn!("My Files: {path:?}: {err}");
            (StatusCode::INTERNAL_SERVER_ERROR, "could not be accessed")
        }
    };
    let name = if path.is_empty() { "the folder" } else { path };
    refuse(status, format!("{name} {what}"))
}

fn libc_eloop() -> i32 {
    rustix::io::Errno::LOOP.raw_os_error()
}

fn libc_exdev() -> i32 {
    rustix::io::Errno::XDEV.raw_os_error()
}

async fn list(
    State(server): State<Arc<Server>>,
    axum::extract::Path(token): axum::extract::Path<String>,
    Query(target): Query<Target>,
) -> Reply {
    let opened = open(&server, &token, &target).await?;
    let names = components(&target.path)?;
    let entries = opened
        .folder
        .list(&names)
        .map_err(|err| io_refusal(&err, &target.path))?;
    let quota = server.home_folders.quota();
    let folder_path = opened.path.clone();
    let used = tokio::task::spawn_blocking(move || usage(&folder_path))
        .await
        .unwrap_or(0);
    Ok(Json(json!({
        "folder": target.folder,
        "path": names.join("/"),
        "entries": entries,
        "used": used,
        "quota": quota,
        "full": opened.kind == FolderKind::Home && server.home_folders.is_full(&opened.session_id),
        "upload": opened.upload,
        "download": opened.download,
    }))
    .into_response())
}

async fn download(
    State(server): State<Arc<Server>>,
    axum::extract::Path(token): axum::extract::Path<String>,
    Query(target): Query<Target>,
) -> Reply {
    let opened = open(&server, &token, &target).await?;
    if !opened.download {
        return Err(refuse(
            StatusCode::FORBIDDEN,
            "file download is disabled for this stack",
        ));
    }
    let names = inner_components(&target.path, "name a file to download")?;
    let (file, size) = opened
        .folder
        .open_file(&names)
        .map_err(|err| io_refusal(&err, &target.path))?;
    let name = names.last().copied().unwrap_or("download");
    let stream = tokio_util::io::ReaderStream::with_capacity(
        tokio::fs::File::from_std(file),
        DOWNLOAD_CHUNK,
    );
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
            (header::CONTENT_LENGTH, size.to_string()),
            (header::CONTENT_DISPOSITION, content_disposition(name)),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}

/// `attachment` with the name as RFC 6266's UTF-8 `filename*` (and an ASCII fallback).
fn content_disposition(name: &str) -> String {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String = name
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

async fn upload(
    State(server): State<Arc<Server>>,
    axum::extract::Path(token): axum::extract::Path<String>,
    Query(target): Query<Target>,
    headers: HeaderMap,
    body: Body,
) -> Reply {
    let opened = open(&server, &token, &target).await?;
    if !opened.upload {
        return Err(refuse(
            StatusCode::FORBIDDEN,
            "file upload is disabled for this stack",
        ));
    }
    let names = inner_components(&target.path, "name the file to upload")?;
    let length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .ok_or_else(|| {
            refuse(
                StatusCode::LENGTH_REQUIRED,
                "an upload needs its Content-Length",
            )
        })?;
    // The temporary folder is on the server's disk too: the same quota holds there.
    let quota = server.home_folders.quota();
    let folder_path = opened.path.clone();
    let used = tokio::task::spawn_blocking(move || usage(&folder_path))
        .await
        .unwrap_or(0);
    if !fits(used, length, quota) {
        let which = match opened.kind {
            FolderKind::Home => "your home folder",
            FolderKind::Temporary => "the temporary folder",
        };
        return Err(refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "{which} is full: {} MiB of {} MiB used; delete files to make room",
                used >> 20,
                quota.unwrap_or(0) >> 20
            ),
        ));
    }
    let (parent_names, name) = names.split_at(names.len() - 1);
    let partial = opened
        .folder
        .create_partial(parent_names)
        .map_err(|err| io_refusal(&err, &target.path))?;
    // Dropped unfinished (an error, or the request given up), the partial file goes.
    write_body(partial.file.try_clone(), body, length)
        .await
        .and_then(|()| partial.commit(name[0]))
        .map_err(|err| match err.kind() {
            io::ErrorKind::UnexpectedEof | io::ErrorKind::InvalidData => refuse(
                StatusCode::BAD_REQUEST,
                format!("the upload of {} was cut short: {err}", target.path),
            ),
            _ => io_refusal(&err, &target.path),
        })?;
    if opened.kind == FolderKind::Home {
        server.recheck_quota(&opened.session_id);
    }
    Ok((
        StatusCode::CREATED,
        Json(json!({ "path": names.join("/"), "size": length })),
    )
        .into_response())
}

/// Streams the body into `file`, then flushes it to the disk. Exactly `length` bytes or
/// an error.
async fn write_body(file: io::Result<File>, body: Body, length: u64) -> io::Result<()> {
    let file = tokio::fs::File::from_std(file?);
    let mut out = tokio::io::BufWriter::with_capacity(UPLOAD_BUFFER, file);
    let mut stream = body.into_data_stream();
    let mut received = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|err| io::Error::new(io::ErrorKind::UnexpectedEof, err))?;
        received += chunk.len() as u64;
        if received > length {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "more bytes than its Content-Length",
            ));
        }
        out.write_all(&chunk).await?;
    }
    if received != length {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("{received} of {length} bytes arrived"),
        ));
    }
    out.flush().await?;
    out.into_inner().sync_all().await
}

async fn remove(
    State(server): State<Arc<Server>>,
    axum::extract::Path(token): axum::extract::Path<String>,
    Query(target): Query<Target>,
) -> Reply {
    let opened = open(&server, &token, &target).await?;
    let names: Vec<String> = inner_components(&target.path, "the folder itself cannot be deleted")?
        .into_iter()
        .map(str::to_owned)
        .collect();
    let folder = opened.folder;
    tokio::task::spawn_blocking(move || {
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        folder.remove(&names)
    })
    .await
    .unwrap_or_else(|err| Err(io::Error::other(err)))
    .map_err(|err| io_refusal(&err, &target.path))?;
    if opened.kind == FolderKind::Home {
        server.recheck_quota(&opened.session_id);
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn make_directory(
    State(server): State<Arc<Server>>,
    axum::extract::Path(token): axum::extract::Path<String>,
    Query(target): Query<Target>,
) -> Reply {
    let opened = open(&server, &token, &target).await?;
    let names = inner_components(&target.path, "name the new folder")?;
    opened
        .folder
        .make_dir(&names)
        .map_err(|err| io_refusal(&err, &target.path))?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "path": names.join("/") })),
    )
        .into_response())
}

/// A folder's root, and the owner of what the server makes in it.
struct Folder {
    root: OwnedFd,
    owner: u32,
}

/// A listed entry.
#[derive(serde::Serialize)]
struct Entry {
    name: String,
    #[serde(rename = "type")]
    kind: &'static str,
    size: u64,
    /// Milliseconds since the epoch.
    modified: i64,
}

/// An upload being written: renamed to its name by `commit`, removed when dropped
/// uncommitted.
struct Partial {
    parent: OwnedFd,
    name: String,
    file: File,
    committed: std::cell::Cell<bool>,
}

impl Partial {
    fn commit(&self, name: &str) -> io::Result<()> {
        rustix::fs::renameat(&self.parent, &self.name, &self.parent, name)?;
        self.committed.set(true);
        Ok(())
    }
}

impl Drop for Partial {
    fn drop(&mut self) {
        if !self.committed.get() {
            let _ = rustix::fs::unlinkat(&self.parent, &self.name, AtFlags::empty());
        }
    }
}

impl Folder {
    fn open(path: &Path, owner: u32) -> io::Result<Self> {
        let root = rustix::fs::open(
            path,
            OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
            Mode::empty(),
        )?;
        Ok(Self { root, owner })
    }

    /// Opens `names` beneath the root: no symbolic link, no "..", no other mount.
    fn resolve(&self, names: &[&str], flags: OFlags) -> io::Result<OwnedFd> {
        let path = if names.is_empty() {
            ".".to_owned()
        } else {
            names.join("/")
        };
        Ok(rustix::fs::openat2(
            &self.root,
            path,
            flags | OFlags::CLOEXEC | OFlags::NOFOLLOW,
            Mode::empty(),
            ResolveFlags::BENEATH
                | ResolveFlags::NO_SYMLINKS
                | ResolveFlags::NO_MAGICLINKS
                | ResolveFlags::NO_XDEV,
        )?)
    }

    fn dir(&self, names: &[&str]) -> io::Result<OwnedFd> {
        self.resolve(names, OFlags::DIRECTORY | OFlags::RDONLY)
    }

    fn list(&self, names: &[&str]) -> io::Result<Vec<Entry>> {
        let dir = self.dir(names)?;
        let mut entries = Vec::new();
        for entry in rustix::fs::Dir::read_from(&dir)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name == "." || name == ".." || name.starts_with(PARTIAL_UPLOAD_PREFIX) {
                continue;
            }
            let Ok(stat) = rustix::fs::statat(&dir, entry.file_name(), AtFlags::SYMLINK_NOFOLLOW)
            else {
                continue;
            };
            let kind = match rustix::fs::FileType::from_raw_mode(stat.st_mode) {
                rustix::fs::FileType::RegularFile => "file",
                rustix::fs::FileType::Directory => "directory",
                // Links and the like are the apps' business, not the panel's.
                _ => continue,
            };
            entries.push(Entry {
                name,
                kind,
                size: stat.st_size as u64,
                modified: stat.st_mtime * 1000 + stat.st_mtime_nsec as i64 / 1_000_000,
            });
        }
        entries.sort_by(|a, b| {
            (a.kind != "directory", &a.name).cmp(&(b.kind != "directory", &b.name))
        });
        Ok(entries)
    }

    fn open_file(&self, names: &[&str]) -> io::Result<(File, u64)> {
        let fd = self.resolve(names, OFlags::RDONLY)?;
        let stat = rustix::fs::fstat(&fd)?;
        if rustix::fs::FileType::from_raw_mode(stat.st_mode) != rustix::fs::FileType::RegularFile {
            return Err(io::Error::from(io::ErrorKind::IsADirectory));
        }
        Ok((File::from(fd), stat.st_size as u64))
    }

    /// A new hidden file in the directory `parent`, for an upload.
    fn create_partial(&self, parent: &[&str]) -> io::Result<Partial> {
        let parent = self.dir(parent)?;
        let name = format!(
            "{PARTIAL_UPLOAD_PREFIX}{}",
            hex::encode(crate::credentials::random_bytes(8))
        );
        let fd = rustix::fs::openat(
            &parent,
            &name,
            OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
            Mode::from_raw_mode(0o644),
        )?;
        rustix::fs::fchown(&fd, Some(uid(self.owner)), Some(gid(self.owner)))?;
        Ok(Partial {
            parent,
            name,
            file: File::from(fd),
            committed: std::cell::Cell::new(false),
        })
    }

    fn make_dir(&self, names: &[&str]) -> io::Result<()> {
        let (parent, name) = names.split_at(names.len() - 1);
        let parent = self.dir(parent)?;
        rustix::fs::mkdirat(&parent, name[0], Mode::from_raw_mode(0o755))?;
        rustix::fs::chownat(
            &parent,
            name[0],
            Some(uid(self.owner)),
            Some(gid(self.owner)),
            AtFlags::SYMLINK_NOFOLLOW,
        )?;
        Ok(())
    }

    /// Removes a file, or a directory and everything in it.
    fn remove(&self, names: &[&str]) -> io::Result<()> {
        let (parent, name) = names.split_at(names.len() - 1);
        let parent = self.dir(parent)?;
        remove_at(&parent, name[0])
    }
}

/// Removes `name` in `dir` without following links: a directory's contents first,
/// each opened relative to its own directory.
fn remove_at(dir: &impl AsFd, name: &str) -> io::Result<()> {
    let stat = rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)?;
    if rustix::fs::FileType::from_raw_mode(stat.st_mode) != rustix::fs::FileType::Directory {
        rustix::fs::unlinkat(dir, name, AtFlags::empty())?;
        return Ok(());
    }
    let child = rustix::fs::openat(
        dir,
        name,
        OFlags::DIRECTORY | OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let mut names = Vec::new();
    for entry in rustix::fs::Dir::read_from(&child)? {
        let entry = entry?;
        let entry_name = entry.file_name().to_string_lossy().into_owned();
        if entry_name != "." && entry_name != ".." {
            names.push(entry_name);
        }
    }
    for entry_name in names {
        remove_at(&child, &entry_name)?;
    }
    rustix::fs::unlinkat(dir, name, AtFlags::REMOVEDIR)?;
    Ok(())
}

fn uid(id: u32) -> rustix::fs::Uid {
    rustix::fs::Uid::from_raw(id)
}

fn gid(id: u32) -> rustix::fs::Gid {
    rustix::fs::Gid::from_raw(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn folder(name: &str) -> (tempfile::TempDir, Folder) {
        let dir = tempfile::Builder::new().prefix(name).tempdir().unwrap();
        let folder = Folder::open(dir.path(), 4242).unwrap();
        (dir, folder)
    }

    #[test]
    fn links_never_lead_outside() {
        let (dir, folder) = folder("files-links");
        std::os::unix::fs::symlink("/etc", dir.path().join("etc")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", dir.path().join("passwd")).unwrap();
        for names in [vec!["etc", "passwd"], vec!["passwd"]] {
            let err = folder.open_file(&names).unwrap_err();
            assert_eq!(err.raw_os_error(), Some(libc_eloop()), "{names:?}");
        }
        assert!(folder.list(&["etc"]).is_err());
        assert!(folder.create_partial(&["etc"]).is_err());
        // Deleting the link deletes the link, never its target.
        folder.remove(&["etc"]).unwrap();
        assert!(Path::new("/etc/passwd").exists());
        // The listing leaves links out.
        let names: Vec<String> = folder
            .list(&[])
            .unwrap()
            .into_iter()
            .map(|e| e.name)
            .collect();
        assert_eq!(names, Vec::<String>::new());
    }

    #[test]
    fn uploads_appear_only_when_committed_and_belong_to_the_owner() {
        let (dir, folder) = folder("files-upload");
        folder.make_dir(&["docs"]).unwrap();
        let partial = folder.create_partial(&["docs"]).unwrap();
        use std::io::Write;
        (&partial.file).write_all(b"half").unwrap();
        assert!(
            folder.list(&["docs"]).unwrap().is_empty(),
            "a partial upload is not listed"
        );
        partial.commit("a.txt").unwrap();
        let listed = folder.list(&["docs"]).unwrap();
        assert_eq!(
            (listed[0].name.as_str(), listed[0].kind, listed[0].size),
            ("a.txt", "file", 4)
        );
        let meta = std::fs::metadata(dir.path().join("docs/a.txt")).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (4242, 4242));
        assert_eq!(
            std::fs::metadata(dir.path().join("docs")).unwrap().uid(),
            4242
        );
        drop(folder.create_partial(&[]).unwrap());
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "only docs is left"
        );
        folder.remove(&["docs"]).unwrap();
        assert!(!dir.path().join("docs").exists());
    }

    #[test]
    fn download_names_are_quoted() {
        assert_eq!(
            content_disposition("r\u{e9}sum\u{e9} \"1\".pdf"),
            "attachment; filename=\"r_sum_ _1_.pdf\"; filename*=UTF-8''r%C3%A9sum%C3%A9%20%221%22.pdf"
        );
    }
}

//! The image store: the files behind images that are not the host's, under
//! `DATA_DIR/images`. `layers/` holds each OCI layer unpacked once (by digest),
//! `roots/<id>` an imported image's root stacked from its layers by hard links
//! (porthole-oci), `snapshots/<id>` what an image builder changed. Images name these
//! by layer id (`roots/<id>`, see `porthole_control::image::is_layer_id`); all are
//! immutable once made and shared by every image that lists them.

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, ensure, Context, Result};
use porthole_control::desktop_entry::is_valid_name;
use porthole_control::session_scripts::SESSION_SCRIPTS_CONFIG;
use porthole_control::{Application, ImageRoot, ScriptPhase, SessionScripts};

/// The image label (or file in the image) listing its catalog as JSON.
pub const CATALOG_LABEL: &str = "io.porthole.applications";
use porthole_agent_api::image_assistant::{CatalogEntry, CATALOG_FILE};

#[derive(Clone)]
pub struct ImageStore {
    dir: PathBuf,
}

/// A running image builder's applications (see [`ImageStore::builder_applications`]).
pub struct BuilderApplications {
    /// Its catalog file's entries, each with the application the image would make of it,
    /// or why it would refuse it.
    pub catalog: Vec<(CatalogEntry, Result<Application, String>)>,
    /// The applications installed in it (its .desktop entries), as the default image
    /// finds them: what the image assistant may add.
    pub installed: Vec<Application>,
}

/// What an import made: the image's root and its catalog.
pub struct Imported {
    pub root: ImageRoot,
    pub applications: Vec<Application>,
}

impl ImageStore {
    pub fn new(data_dir: &Path) -> Result<Self> {
        let dir = data_dir.join("images");
        // The server's alone: instances get their layers as open fds (porthole-sandbox).
        for (sub, mode) in [
            ("", 0o700),
            ("roots", 0o700),
            ("snapshots", 0o700),
            ("builders", 0o700),
            ("layers", 0o700),
            ("tmp", 0o700),
        ] {
            let path = dir.join(sub);
            fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
            fs::set_permissions(&path, fs::Permissions::from_mode(mode))?;
        }
        // Uploads a crash interrupted.
        for entry in fs::read_dir(dir.join("tmp"))?.flatten() {
            let _ = fs::remove_dir_all(entry.path()).or_else(|_| fs::remove_file(entry.path()));
        }
        Ok(Self { dir })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A fresh path for an upload or an unpacked archive (removed at the next start
    /// should the server die meanwhile).
    pub fn scratch_path(&self, what: &str) -> PathBuf {
        let id = hex::encode(crate::credentials::random_bytes(8));
        self.dir.join("tmp").join(format!("{what}-{id}"))
    }

    /// Imports an OCI image layout (a directory, or a tar of one) as a new root, and
    /// reads its catalog. Blocking: call from a blocking thread.
    pub fn import(&self, source: &Path) -> Result<Imported> {
        let id = hex::encode(crate::credentials::random_bytes(8));
        let root_id = format!("roots/{id}");
        let root = self.dir.join(&root_id);
        let scratch = self.scratch_path("import");
        fs::create_dir(&scratch)?;
        let imported = porthole_oci::import(source, &self.dir.join("layers"), &root, &scratch);
        let _ = fs::remove_dir_all(&scratch);
        let imported = imported?;
        let label = imported
            .config
            .labels
            .as_ref()
            .and_then(|labels| labels.get(CATALOG_LABEL))
            .cloned();
        let applications = catalog(&[&root], label)
            .and_then(|apps| session_scripts(&[&root]).map(|_| apps))
            .inspect_err(|_| {
                let _ = fs::remove_dir_all(&root);
            })?;
        fs::set_permissions(&root, fs::Permissions::from_mode(0o755))?;
        Ok(Imported {
            root: ImageRoot::Layers {
                on_host: false,
                layers: vec![root_id],
            },
            applications,
        })
    }

    pub fn writable_layer(&self, id: &str) -> Result<PathBuf> {
        writable_layer(&self.dir, id)
    }

    /// Turns a stopped builder's changes into the read-only layer `layer`, then reads the
    /// catalog of the image `lower` (its other layers, lowest first) plus that layer make.
    /// Done again after a crash, it finds the layer made. Blocking.
    pub fn snapshot(
        &self,
        writable_layer: &str,
        layer: &str,
        on_host: bool,
        lower: &[String],
    ) -> Result<Vec<Application>> {
        ensure!(
            porthole_control::image::is_layer_id(layer) && layer.starts_with("snapshots/"),
            "{layer:?} is not a snapshot layer"
        );
        let writable = self.writable_layer(writable_layer)?;
        let target = self.dir.join(layer);
        // app_root.rs keeps the changes in `root/` and overlayfs's scratch in `work/`.
        let changes = writable.join("root");
        if !target.exists() {
            if changes.is_dir() {
                fs::rename(&changes, &target).context("moving the builder's changes")?;
            } else {
                fs::create_dir(&target)?;
            }
        }
        let _ = fs::remove_dir_all(writable.join("work"));
        fs::set_permissions(&target, fs::Permissions::from_mode(0o755))?;
        let roots = self.stack(target, on_host, lower);
        let roots: Vec<&Path> = roots.iter().map(PathBuf::as_path).collect();
        let applications = catalog(&roots, None)?;
        session_scripts(&roots)?;
        Ok(applications)
    }

    /// The session scripts of the image whose root is `root`, if it has any, read as
    /// they are now (the host image's may have changed since the server started).
    pub fn image_session_scripts(&self, root: &ImageRoot) -> Result<Option<SessionScripts>> {
        let roots = match root {
            ImageRoot::Host => vec![PathBuf::from("/")],
            ImageRoot::Layers { on_host, layers } => {
                let Some((top, lower)) = layers.split_last() else {
                    bail!("the image has no layers");
                };
                self.stack(self.dir.join(top), *on_host, lower)
            }
        };
        session_scripts(&roots.iter().map(PathBuf::as_path).collect::<Vec<_>>())
    }

    /// What a running builder's image assistant panel shows, read from its layers on
    /// disk (only the builder writes them; reading under its mounted overlay is safe).
    pub fn builder_applications(
        &self,
        writable_layer: &str,
        on_host: bool,
        lower: &[String],
    ) -> Result<BuilderApplications> {
        let changes = self.writable_layer(writable_layer)?.join("root");
        let roots = self.stack(changes, on_host, lower);
        let roots: Vec<&Path> = roots.iter().map(PathBuf::as_path).collect();
        // A deleted catalog is a whiteout in the writable layer: no catalog.
        let entries: Vec<CatalogEntry> = match crate::defaults::file_in_root(&roots, CATALOG_FILE) {
            Some(path) => serde_json::from_str(&fs::read_to_string(path)?)
                .with_context(|| format!("reading the builder's {CATALOG_FILE}"))?,
            None => Vec::new(),
        };
        Ok(BuilderApplications {
            catalog: entries
                .into_iter()
                .map(|entry| {
                    let made = application(&roots, entry.clone()).map_err(|err| format!("{err:#}"));
                    (entry, made)
                })
                .collect(),
            installed: crate::defaults::host_applications(&roots),
        })
    }

    /// The layers an image builder's apps see, top first: `top`, its `lower` layers (ids,
    /// lowest first), and the host's root when it builds on the host.
    fn stack(&self, top: PathBuf, on_host: bool, lower: &[String]) -> Vec<PathBuf> {
        let mut roots = vec![top];
        roots.extend(lower.iter().rev().map(|id| self.dir.join(id)));
        if on_host {
            roots.push(PathBuf::from("/"));
        }
        roots
    }

    /// Removes the roots, snapshots and builder layers no image or builder lists any more
    /// (`in_use`).
    pub fn remove_unused(&self, in_use: &BTreeSet<String>) {
        for kind in ["roots", "snapshots", "builders"] {
            for entry in fs::read_dir(self.dir.join(kind))
                .into_iter()
                .flatten()
                .flatten()
            {
                let id = format!("{kind}/{}", entry.file_name().to_string_lossy());
                if !in_use.contains(&id) {
                    match fs::remove_dir_all(entry.path()) {
                        Ok(()) => {
                            tracing::info!(layer = %id, "removed an image layer no image uses")
                        }
                        Err(err) => {
                            tracing::warn!(layer = %id, "cannot remove an unused image layer: {err}")
                        }
                    }
                }
            }
        }
    }
}

/// An image builder's writable layer in the store at `store`, made if new: owned by the
/// folder owner on disk, which the builder's id-mapped mount shows as the instance's uid
/// (root in its apps).
pub fn writable_layer(store: &Path, id: &str) -> Result<PathBuf> {
    ensure!(
        porthole_control::image::is_layer_id(id) && id.starts_with("builders/"),
        "{id:?} is not an image builder's layer"
    );
    let dir = store.join(id);
    if !dir.is_dir() {
        fs::create_dir(&dir).with_context(|| format!("creating {}", dir.display()))?;
        porthole_sandbox::own_for_folder(&dir)?;
    }
    Ok(dir)
}

/// The session scripts of the image whose layers are `root` (top first), checked as its
/// catalog is: each script must be an executable file in the image.
fn session_scripts(root: &[&Path]) -> Result<Option<SessionScripts>> {
    // A configuration deleted in a builder is a whiteout there: none.
    let Some(path) = crate::defaults::file_in_root(root, SESSION_SCRIPTS_CONFIG) else {
        return Ok(None);
    };
    let json = fs::read_to_string(&path)
        .with_context(|| format!("reading the image's {SESSION_SCRIPTS_CONFIG}"))?;
    let scripts = SessionScripts::parse(&json).map_err(anyhow::Error::msg)?;
    for phase in [ScriptPhase::SessionStart, ScriptPhase::SessionTermination] {
        for script in &scripts.section(phase).scripts {
            ensure!(
                crate::defaults::is_executable(root, &script.filename),
                "{SESSION_SCRIPTS_CONFIG}, {}: the \"{}\" script {} is not an executable file in \
                 the image",
                phase.as_str(),
                script.context.as_str(),
                script.filename
            );
        }
    }
    Ok(Some(scripts))
}

/// The catalog of the image whose layers are `root` (top first): the label's, else the
/// file's, else its .desktop entries (as the default image's); every launch path must be
/// an executable file in the image.
fn catalog(root: &[&Path], label: Option<String>) -> Result<Vec<Application>> {
    let labelled = label.map(|json| (format!("the label {CATALOG_LABEL}"), json));
    let filed = || {
        let (path, _) = crate::defaults::in_root(root, CATALOG_FILE)?;
        let json = fs::read_to_string(path).ok()?;
        Some((CATALOG_FILE.to_owned(), json))
    };
    let apps = match labelled.or_else(filed) {
        Some((from, json)) => {
            let entries: Vec<CatalogEntry> = serde_json::from_str(&json)
                .with_context(|| format!("reading the catalog in {from}"))?;
            entries
                .into_iter()
                .map(|entry| application(root, entry))
                .collect::<Result<Vec<_>>>()
                .with_context(|| format!("in the catalog of {from}"))?
        }
        None => crate::defaults::host_applications(root),
    };
    if apps.is_empty() {
        bail!(
            "the image has no applications: list them in the label {CATALOG_LABEL} or in \
             {CATALOG_FILE} (JSON: [{{\"name\", \"launch_path\", ...}}]), or install .desktop \
             entries under /usr/share/applications"
        );
    }
    let mut names = BTreeSet::new();
    for app in &apps {
        if !names.insert(app.name.as_str()) {
            bail!("the catalog names {} twice", app.name);
        }
    }
    Ok(apps)
}

fn application(root: &[&Path], entry: CatalogEntry) -> Result<Application> {
    ensure!(
        is_valid_name(&entry.name),
        "application name {:?}: use letters, digits, '_', '.', '-' (up to 100)",
        entry.name
    );
    ensure!(
        entry.launch_path.starts_with('/')
            && crate::defaults::is_executable(root, &entry.launch_path),
        "application {}: the launch path {} is not an executable file in the image",
        entry.name,
        entry.launch_path
    );
    let icon_path = entry
        .icon
        .as_deref()
        .and_then(|icon| crate::defaults::resolve_icon(root, icon))
        .map(|p| p.to_string_lossy().into_owned());
    Ok(Application {
        display_name: entry.display_name.unwrap_or_else(|| entry.name.clone()),
        name: entry.name,
        launch_path: entry.launch_path,
        launch_parameters: entry.launch_parameters,
        working_directory: entry.working_directory,
        icon_url: None,
        enabled: true,
        icon_path,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn put(root: &Path, path: &str, text: &str, mode: u32) {
        let file = root.join(path.trim_start_matches('/'));
        fs::create_dir_all(file.parent().unwrap()).unwrap();
        fs::write(&file, text).unwrap();
        fs::set_permissions(&file, fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn a_running_builders_catalog_and_installed_apps_read_through_its_layers() {
        let data = tempfile::tempdir().unwrap();
        let store = ImageStore::new(data.path()).unwrap();
        let base = store.dir().join("roots/base");
        put(&base, "/usr/bin/hello", "#!/bin/sh\n", 0o755);
        put(
            &base,
            "/usr/share/applications/hello.desktop",
            "[Desktop Entry]\nType=Application\nName=Hello\nExec=hello\nIcon=hello\n",
            0o644,
        );
        put(
            &base,
            "/usr/share/icons/hicolor/48x48/apps/hello.png",
            "png",
            0o644,
        );
        let lower = vec!["roots/base".to_owned()];

        // Before the image assistant wrote anything: no catalog, the installed app.
        let apps = store
            .builder_applications("builders/b", false, &lower)
            .unwrap();
        assert!(apps.catalog.is_empty());
        let names: Vec<_> = apps.installed.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["hello"]);
        assert_eq!(
            apps.installed[0].icon_path.as_deref(),
            Some(
                &*base
                    .join("usr/share/icons/hicolor/48x48/apps/hello.png")
                    .to_string_lossy()
            )
        );

        // The builder's writable layer (on top) has its catalog: one good entry, one
        // whose program is gone.
        let changes = store.writable_layer("builders/b").unwrap().join("root");
        put(
            &changes,
            CATALOG_FILE,
            r#"[{"name": "hello", "launch_path": "/usr/bin/hello", "icon": "hello"},
                {"name": "gone", "launch_path": "/usr/bin/gone"}]"#,
            0o644,
        );
        let apps = store
            .builder_applications("builders/b", false, &lower)
            .unwrap();
        let (entry, made) = &apps.catalog[0];
        assert_eq!(entry.name, "hello");
        let made = made.as_ref().unwrap();
        assert_eq!(made.display_name, "hello");
        assert!(made.icon_path.is_some());
        let (entry, made) = &apps.catalog[1];
        assert_eq!(entry.name, "gone");
        assert!(
            made.as_ref()
                .unwrap_err()
                .contains("not an executable file"),
            "{made:?}"
        );
    }
}

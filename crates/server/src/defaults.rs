//! What a first start creates, so that a newcomer streams an app at once: the
//! default image (the host's filesystem and its GUI apps), an ALWAYS_ON fleet
//! with one instance, a stack with home folders, and a streaming URL printed at
//! every start.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use porthole_appstream_ops::APPSTREAM;
use porthole_control::desktop_entry::{is_valid_name, parse_desktop_entry, DesktopEntry};
use porthole_control::image::DEFAULT_IMAGE_NAME;
use porthole_control::{default_image, Application, FleetState};
use serde_json::json;

use crate::state::{now, Server};

pub const FLEET: &str = "porthole-default";
pub const STACK: &str = "porthole-default";
/// The printed URL stays valid for a week (AppStream's maximum).
const WELCOME_VALIDITY_SECS: u64 = 604_800;
const FLEET_START_TIMEOUT: Duration = Duration::from_secs(60);

/// Programs whose catalog name is fixed here, in catalog order: xterm first
/// (the welcome URL's app, and the ApplicationId that URLs in the wild name),
/// then x11-apps' programs, which Debian ships without .desktop entries. An
/// entry of /usr/share/applications launching one of them (without arguments)
/// lends it its display name and icon.
const KNOWN_APPS: &[(&str, &str, &str)] = &[
    ("xterm", "XTerm", "/usr/bin/xterm"),
    ("xclock", "Clock", "/usr/bin/xclock"),
    ("xeyes", "Eyes", "/usr/bin/xeyes"),
    ("xcalc", "Calculator", "/usr/bin/xcalc"),
];

/// Where a relative Exec= program is looked for (a login shell's PATH): the
/// server's own PATH is not the instances'.
const PROGRAM_DIRS: &[&str] = &[
    "/usr/local/bin",
    "/usr/bin",
    "/bin",
    "/usr/local/sbin",
    "/usr/sbin",
    "/sbin",
    "/usr/games",
];

/// hicolor sizes in order of preference: the catalog shows 48 px tiles.
const ICON_SIZES: &[&str] = &[
    "48x48", "64x64", "scalable", "96x96", "128x128", "72x72", "256x256", "32x32", "192x192",
    "512x512", "36x36", "24x24", "22x22", "16x16",
];

/// `path` (absolute, as the image sees it) on the host whose root is `root`.
/// `path` (absolute, as the image sees it) resolved inside `root` as the image would
/// resolve it (symlinks stay in the root, `..` stops at it), and its metadata: the host
/// path to read and whether it is an executable regular file. An image's absolute
/// symlink must never lead the server to a host file.
/// `roots` is an image's layers, top first: the first that has the path answers (a
/// whiteout, a character device, answers "not an executable file").
pub(crate) fn in_root(roots: &[&Path], path: &str) -> Option<(PathBuf, bool)> {
    roots.iter().find_map(|root| in_one_root(root, path))
}

fn in_one_root(root: &Path, path: &str) -> Option<(PathBuf, bool)> {
    use rustix::fs::{Mode, OFlags, ResolveFlags};
    let flags = OFlags::PATH | OFlags::CLOEXEC;
    let dir = rustix::fs::open(root, flags | OFlags::DIRECTORY, Mode::empty()).ok()?;
    let relative = path.trim_start_matches('/');
    let file = if relative.is_empty() {
        dir
    } else {
        rustix::fs::openat2(&dir, relative, flags, Mode::empty(), ResolveFlags::IN_ROOT).ok()?
    };
    let stat = rustix::fs::fstat(&file).ok()?;
    let real = std::fs::read_link(format!("/proc/self/fd/{}", {
        use std::os::fd::AsRawFd;
        file.as_raw_fd()
    }))
    .ok()?;
    let is_file = rustix::fs::FileType::from_raw_mode(stat.st_mode).is_file();
    Some((real, is_file && stat.st_mode & 0o111 != 0))
}

/// `path` as a regular file of the image whose layers are `root`: not a directory, nor
/// a whiteout (the character device that hides a lower layer's file).
pub(crate) fn file_in_root(root: &[&Path], path: &str) -> Option<PathBuf> {
    in_root(root, path)
        .map(|(real, _)| real)
        .filter(|real| real.is_file())
}

/// Whether `path` is an executable regular file in the image whose layers are `root`.
pub(crate) fn is_executable(root: &[&Path], path: &str) -> bool {
    in_root(root, path).is_some_and(|(_, executable)| executable)
}

/// The absolute path (in the image) of an Exec= or TryExec= program, if it is
/// installed.
fn find_program(root: &[&Path], program: &str) -> Option<String> {
    if program.starts_with('/') {
        return is_executable(root, program).then(|| program.to_owned());
    }
    if program.contains('/') {
        return None;
    }
    PROGRAM_DIRS
        .iter()
        .map(|dir| format!("{dir}/{program}"))
        .find(|path| is_executable(root, path))
}

/// An Icon= value as a PNG or SVG file on the host: an absolute path as is,
/// a name looked up in the hicolor theme's apps (48 px first), then in
/// /usr/share/pixmaps. Browsers show neither XPM nor theme-less names.
pub fn resolve_icon(root: &[&Path], icon: &str) -> Option<PathBuf> {
    let image = |path: &str| {
        let real = file_in_root(root, path)?;
        let is_image = matches!(
            real.extension().and_then(|e| e.to_str()),
            Some("png" | "svg")
        );
        is_image.then_some(real)
    };
    if icon.starts_with('/') {
        return image(icon);
    }
    let name = ["png", "svg", "xpm"]
        .iter()
        .find_map(|ext| icon.strip_suffix(&format!(".{ext}")))
        .unwrap_or(icon);
    if name.contains('/') {
        return None;
    }
    let hicolor = ICON_SIZES.iter().flat_map(|size| {
        ["png", "svg"].map(|ext| format!("/usr/share/icons/hicolor/{size}/apps/{name}.{ext}"))
    });
    let pixmaps = ["png", "svg"].map(|ext| format!("/usr/share/pixmaps/{name}.{ext}"));
    hicolor.chain(pixmaps).find_map(|path| image(&path))
}

/// The image's catalog from the host under `root`, as Image Assistant would
/// record it: the KNOWN_APPS that are installed, then every shown application
/// of /usr/share/applications whose program is installed, named by its
/// desktop file id, in id order. `icon_path`s are host paths.
pub fn host_applications(root: &[&Path]) -> Vec<Application> {
    const DIR: &str = "/usr/share/applications";
    // Every layer's entries; the top one's file wins.
    let names: std::collections::BTreeSet<String> = root
        .iter()
        .filter_map(|layer| in_one_root(layer, DIR))
        .filter_map(|(dir, _)| std::fs::read_dir(dir).ok())
        .flatten()
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .collect();
    let files: Vec<(String, PathBuf)> = names
        .into_iter()
        .filter_map(|name| {
            let id = name.strip_suffix(".desktop")?.to_owned();
            Some((id, file_in_root(root, &format!("{DIR}/{name}"))?))
        })
        .collect();
    let mut entries: Vec<(String, DesktopEntry, String)> = files
        .into_iter()
        .filter_map(|(id, path)| {
            let entry = parse_desktop_entry(&std::fs::read_to_string(&path).ok()?)?;
            if let Some(try_exec) = &entry.try_exec {
                find_program(root, try_exec)?;
            }
            let launch_path = find_program(root, &entry.program)?;
            is_valid_name(&id).then_some((id, entry, launch_path))
        })
        .collect();
    let app = |name: &str,
               display_name: &str,
               launch_path: String,
               args: &[String],
               icon: Option<&str>| Application {
        name: name.to_owned(),
        display_name: display_name.to_owned(),
        launch_path,
        launch_parameters: (!args.is_empty()).then(|| args.join(" ")),
        working_directory: None,
        icon_url: None,
        enabled: true,
        icon_path: icon
            .and_then(|icon| resolve_icon(root, icon))
            .map(|p| p.to_string_lossy().into_owned()),
    };
    let mut apps = Vec::new();
    for (name, display_name, path) in KNOWN_APPS {
        if !is_executable(root, path) {
            continue;
        }
        let described = entries
            .iter()
            .position(|(_, e, launch_path)| launch_path == path && e.args.is_empty());
        apps.push(match described.map(|i| entries.remove(i)) {
            Some((_, entry, _)) => app(
                name,
                &entry.display_name,
                (*path).to_owned(),
                &[],
                entry.icon.as_deref(),
            ),
            None => app(name, display_name, (*path).to_owned(), &[], None),
        });
    }
    for (id, entry, launch_path) in entries {
        apps.push(app(
            &id,
            &entry.display_name,
            launch_path,
            &entry.args,
            entry.icon.as_deref(),
        ));
    }
    apps
}

/// Where DescribeImages' IconURL points: the server serves catalog icons
/// there (catalog.rs).
pub(crate) fn with_icon_urls(
    base_url: &str,
    image: &str,
    mut apps: Vec<Application>,
) -> Vec<Application> {
    for app in &mut apps {
        if app.icon_path.is_some() {
            app.icon_url = Some(format!(
                "{base_url}{}",
                crate::catalog::icon_path(image, &app.name)
            ));
        }
    }
    apps
}

pub async fn create(server: &Arc<Server>) -> Result<()> {
    let apps = with_icon_urls(
        &server.base_url,
        DEFAULT_IMAGE_NAME,
        host_applications(&[Path::new("/")]),
    );
    if apps.is_empty() {
        bail!("no GUI application found on this host (install xterm)");
    }
    let effects = {
        let mut cp = server.plane.lock().await;
        let now = now();
        cp.put_image(default_image(now, apps));
        let steps = [
            (
                "CreateFleet",
                json!({
                    "Name": FLEET, "ImageName": DEFAULT_IMAGE_NAME, "InstanceType": "stream.standard.small",
                    "FleetType": "ALWAYS_ON", "ComputeCapacity": { "DesiredInstances": 1 },
                    "DisplayName": "Default fleet", "StreamView": "APP",
                }),
            ),
            (
                "CreateStack",
                json!({
                    "Name": STACK,
                    "DisplayName": "Default stack",
                    // A newcomer's files outlive the session from the first one on.
                    "StorageConnectors": [{ "ConnectorType": "HOMEFOLDERS" }],
                }),
            ),
            (
                "AssociateFleet",
                json!({ "FleetName": FLEET, "StackName": STACK }),
            ),
            ("StartFleet", json!({ "Name": FLEET })),
        ];
        for (operation, input) in steps {
            APPSTREAM
                .call(&mut cp, operation, &input, now)
                .map_err(|err| anyhow::anyhow!("{operation}: {}", err.message))?;
        }
        cp.take_effects()
    };
    server.plane.persist().await?;
    server.apply(effects).await;
    Ok(())
}

/// The default fleet's first app (xterm): a newcomer streams it at once,
/// where a URL without ApplicationId would show the catalog first.
fn first_app(cp: &porthole_control::ControlPlane) -> Option<&str> {
    let fleet = cp.fleet(FLEET).ok()?;
    let image = cp.image(&fleet.image_name).ok()?;
    let app = image.applications.iter().find(|a| a.enabled)?;
    Some(&app.name)
}

/// A streaming URL for the default stack, once its fleet is running (or
/// None when the default fleet has been removed or stopped).
pub async fn welcome_url(server: &Arc<Server>) -> Result<Option<String>> {
    let timeout = format!(
        "the default fleet did not start within {FLEET_START_TIMEOUT:?}; see the instance logs"
    );
    let grant = server
        .plane
        .wait_for(FLEET_START_TIMEOUT, &timeout, |cp| {
            match cp.fleet(FLEET).map(|f| f.state) {
                Ok(FleetState::Running) => Some(
                    cp.create_streaming_url(
                        STACK,
                        FLEET,
                        "newcomer",
                        first_app(cp),
                        Some(WELCOME_VALIDITY_SECS),
                        None,
                        now(),
                    )
                    .map(Some)
                    .map_err(|err| anyhow::anyhow!(err.message))
                    .context("making the welcome streaming URL"),
                ),
                Ok(FleetState::Starting) => None,
                // Removed or stopped by an administrator: nothing to welcome with.
                _ => Some(Ok(None)),
            }
        })
        .await?;
    Ok(grant.map(|grant| {
        format!(
            "{}/session/{}/",
            server.base_url,
            server.tokens.sign(&grant)
        )
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn under(root: &Path, path: &str) -> PathBuf {
        root.join(path.trim_start_matches('/'))
    }

    /// A host tree in a temp dir: files at `paths` (executables under */bin/).
    fn host(paths: &[(&str, &str)]) -> tempfile::TempDir {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().unwrap();
        for (path, text) in paths {
            let file = under(root.path(), path);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(&file, text).unwrap();
            let mode = if path.contains("/bin/") { 0o755 } else { 0o644 };
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).unwrap();
        }
        root
    }

    #[test]
    fn icons_resolve_to_png_or_svg_files_preferring_48_px() {
        let root = host(&[
            ("/usr/share/icons/hicolor/16x16/apps/a.png", ""),
            ("/usr/share/icons/hicolor/48x48/apps/a.png", ""),
            ("/usr/share/icons/hicolor/scalable/apps/a.svg", ""),
            ("/usr/share/icons/hicolor/scalable/apps/b.svg", ""),
            ("/usr/share/icons/hicolor/16x16/apps/c.png", ""),
            ("/usr/share/pixmaps/d.png", ""),
            ("/usr/share/pixmaps/e.xpm", ""),
            ("/opt/e/icon.png", ""),
            ("/opt/e/icon.xpm", ""),
        ]);
        let r = root.path();
        let found = |icon: &str| resolve_icon(&[r], icon);
        assert_eq!(
            found("a"),
            Some(r.join("usr/share/icons/hicolor/48x48/apps/a.png"))
        );
        assert_eq!(found("a.png"), found("a"));
        assert_eq!(
            found("b"),
            Some(r.join("usr/share/icons/hicolor/scalable/apps/b.svg"))
        );
        assert_eq!(
            found("c"),
            Some(r.join("usr/share/icons/hicolor/16x16/apps/c.png"))
        );
        assert_eq!(found("d"), Some(r.join("usr/share/pixmaps/d.png")));
        assert_eq!(found("/opt/e/icon.png"), Some(r.join("opt/e/icon.png")));
        for missing in [
            "e",
            "/opt/e/icon.xpm",
            "/opt/e/none.png",
            "zzz",
            "../pixmaps/d",
        ] {
            assert_eq!(found(missing), None, "{missing}");
        }
    }

    #[test]
    fn the_host_catalog_has_known_apps_first_then_installed_desktop_entries() {
        let desktop = |name: &str, exec: &str, icon: &str| {
            format!("[Desktop Entry]\nType=Application\nName={name}\nExec={exec}\nIcon={icon}\n")
        };
        let root = host(&[
            ("/usr/bin/xterm", ""),
            ("/usr/bin/xeyes", ""),
            ("/usr/bin/uxterm", ""),
            ("/usr/bin/chromium", ""),
            ("/usr/share/icons/hicolor/scalable/apps/mini.xterm.svg", ""),
            ("/usr/share/icons/hicolor/48x48/apps/chromium.png", ""),
            (
                "/usr/share/applications/debian-xterm.desktop",
                &desktop("XTerm", "xterm", "mini.xterm"),
            ),
            (
                "/usr/share/applications/debian-uxterm.desktop",
                &desktop("UXTerm", "uxterm", "mini.xterm"),
            ),
            (
                "/usr/share/applications/chromium.desktop",
                &desktop("Chromium", "/usr/bin/chromium --flag %U", "chromium"),
            ),
            (
                "/usr/share/applications/gone.desktop",
                &desktop("Gone", "not-installed", "x"),
            ),
            (
                "/usr/share/applications/tried.desktop",
                &format!("{}TryExec=missing\n", desktop("Tried", "xterm -T t", "x")),
            ),
            (
                "/usr/share/applications/vim.desktop",
                &format!("{}Terminal=true\n", desktop("Vim", "xterm", "x")),
            ),
            (
                "/usr/share/applications/bad name.desktop",
                &desktop("Bad", "xterm -e bad", "x"),
            ),
            ("/usr/share/applications/notes.txt", "not a desktop file"),
        ]);
        let apps = host_applications(&[root.path()]);
        let summary: Vec<_> = apps
            .iter()
            .map(|a| {
                (
                    a.name.as_str(),
                    a.display_name.as_str(),
                    a.launch_path.as_str(),
                    a.launch_parameters.as_deref(),
                    a.icon_path
                        .as_deref()
                        .map(|p| p.rsplit('/').next().unwrap()),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                (
                    "xterm",
                    "XTerm",
                    "/usr/bin/xterm",
                    None,
                    Some("mini.xterm.svg")
                ),
                ("xeyes", "Eyes", "/usr/bin/xeyes", None, None),
                (
                    "chromium",
                    "Chromium",
                    "/usr/bin/chromium",
                    Some("--flag"),
                    Some("chromium.png")
                ),
                (
                    "debian-uxterm",
                    "UXTerm",
                    "/usr/bin/uxterm",
                    None,
                    Some("mini.xterm.svg")
                ),
            ]
        );
        assert!(apps.iter().all(|a| a.enabled && a.icon_url.is_none()));
        let with_urls = with_icon_urls("http://h:1", "img", apps);
        assert_eq!(
            with_urls[0].icon_url.as_deref(),
            Some("http://h:1/catalog/icons/img/xterm")
        );
        assert_eq!(with_urls[1].icon_url, None);
    }
}

//! `image-assistant` (also `AppStreamImageAssistant`): the catalog tool inside an image
//! builder, after AppStream's Linux Image Assistant CLI. It keeps the builder's catalog in
//! /etc/porthole/applications.json (which becomes the image's), takes an application's
//! display name and icon from its .desktop entry when not given, and asks the server to
//! make the image. Every command prints AppStream's `{"status": 0, "message": ...}`.

use std::path::{Path, PathBuf};

use anyhow::{bail, ensure, Context, Result};
use clap::Subcommand;
use porthole_agent_api::image_assistant::{
    CatalogEntry, CreateImage, CreateImageAnswer, CATALOG_FILE, SOCKET_INSIDE,
};
use porthole_control::desktop_entry::{is_valid_name, parse_desktop_entry};

const DESKTOP_DIRS: &[&str] = &["/usr/share/applications", "/usr/local/share/applications"];

#[derive(Subcommand)]
pub enum AssistantCommand {
    /// Add an application to the image's catalog (or replace the one of that name).
    AddApplication {
        #[arg(long)]
        name: String,
        #[arg(long)]
        absolute_app_path: PathBuf,
        /// Default: the Name= of the application's .desktop entry, else --name.
        #[arg(long)]
        display_name: Option<String>,
        /// A PNG or SVG file. Default: the Icon= of the application's .desktop entry.
        #[arg(long)]
        absolute_icon_path: Option<PathBuf>,
        #[arg(long)]
        working_directory: Option<String>,
        #[arg(long, allow_hyphen_values = true)]
        launch_parameters: Option<String>,
    },
    /// Remove an application from the catalog.
    RemoveApplication {
        #[arg(long)]
        name: String,
    },
    /// Print the catalog as JSON.
    ListApplications,
    /// Make an image of this builder: the builder stops (ending this session), and the
    /// image is AVAILABLE once its layer is made.
    CreateImage {
        #[arg(long)]
        name: String,
        #[arg(long)]
        display_name: Option<String>,
        #[arg(long)]
        description: Option<String>,
    },
}

/// Runs one command and prints its outcome as AppStream's tool does.
pub fn run(command: AssistantCommand) -> std::process::ExitCode {
    let outcome = match command {
        AssistantCommand::ListApplications => read_catalog(Path::new(CATALOG_FILE))
            .map(|apps| serde_json::json!({ "applications": apps })),
        other => execute(other, Path::new(CATALOG_FILE))
            .map(|message| serde_json::json!({ "status": 0, "message": message })),
    };
    match outcome {
        Ok(answer) => {
            println!("{answer:#}");
            std::process::ExitCode::SUCCESS
        }
        Err(err) => {
            println!(
                "{:#}",
                serde_json::json!({ "status": 1, "message": format!("{err:#}") })
            );
            std::process::ExitCode::FAILURE
        }
    }
}

fn execute(command: AssistantCommand, catalog: &Path) -> Result<String> {
    match command {
        AssistantCommand::AddApplication {
            name,
            absolute_app_path,
            display_name,
            absolute_icon_path,
            working_directory,
            launch_parameters,
        } => {
            ensure!(
                is_valid_name(&name),
                "--name {name:?}: use letters, digits, '_', '.', '-' (up to 100)"
            );
            ensure!(
                is_executable(&absolute_app_path),
                "--absolute-app-path {}: not an executable file",
                absolute_app_path.display()
            );
            if let Some(icon) = &absolute_icon_path {
                ensure!(
                    icon.is_file(),
                    "--absolute-icon-path {}: no such file",
                    icon.display()
                );
            }
            let described = desktop_entry_for(&absolute_app_path);
            let entry = CatalogEntry {
                display_name: display_name
                    .or_else(|| described.as_ref().map(|d| d.display_name.clone())),
                launch_path: absolute_app_path.display().to_string(),
                launch_parameters,
                working_directory,
                icon: absolute_icon_path
                    .map(|p| p.display().to_string())
                    .or_else(|| described.and_then(|d| d.icon)),
                name,
            };
            let mut apps = read_catalog(catalog)?;
            apps.retain(|a| a.name != entry.name);
            let message = format!("added {}", entry.name);
            apps.push(entry);
            write_catalog(catalog, &apps)?;
            Ok(message)
        }
        AssistantCommand::RemoveApplication { name } => {
            let mut apps = read_catalog(catalog)?;
            let before = apps.len();
            apps.retain(|a| a.name != name);
            ensure!(apps.len() < before, "no application {name} in the catalog");
            write_catalog(catalog, &apps)?;
            Ok(format!("removed {name}"))
        }
        AssistantCommand::CreateImage {
            name,
            display_name,
            description,
        } => {
            ensure!(
                !read_catalog(catalog)?.is_empty(),
                "the catalog is empty: add an application first (add-application)"
            );
            let request = CreateImage {
                name,
                display_name,
                description,
            };
            match ask_server(Path::new(SOCKET_INSIDE), &request)? {
                CreateImageAnswer::Accepted { image, state } => Ok(format!(
                    "the image {image} is {state}; this builder stops to make it"
                )),
                CreateImageAnswer::Refused { message } => bail!(message),
            }
        }
        AssistantCommand::ListApplications => unreachable!("answered by run"),
    }
}

fn read_catalog(catalog: &Path) -> Result<Vec<CatalogEntry>> {
    match std::fs::read_to_string(catalog) {
        Ok(text) => serde_json::from_str(&text)
            .with_context(|| format!("reading the catalog {}", catalog.display())),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(err) => Err(err).with_context(|| format!("reading {}", catalog.display())),
    }
}

/// Written whole and renamed into place: a crash never leaves half a catalog.
fn write_catalog(catalog: &Path, apps: &[CatalogEntry]) -> Result<()> {
    let dir = catalog.parent().context("the catalog has no directory")?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let partial = catalog.with_extension("json.partial");
    std::fs::write(&partial, serde_json::to_vec_pretty(apps)?)
        .with_context(|| format!("writing {}", partial.display()))?;
    std::fs::rename(&partial, catalog).with_context(|| format!("writing {}", catalog.display()))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.is_absolute()
        && std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The .desktop entry whose program is `app` (by path, or by name on the PATH).
fn desktop_entry_for(app: &Path) -> Option<porthole_control::desktop_entry::DesktopEntry> {
    let path_dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    let runs_app = |program: &str| {
        if program.starts_with('/') {
            return Path::new(program) == app;
        }
        path_dirs.iter().any(|dir| dir.join(program) == app)
    };
    let mut files: Vec<PathBuf> = DESKTOP_DIRS
        .iter()
        .filter_map(|dir| std::fs::read_dir(dir).ok())
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "desktop"))
        .collect();
    files.sort();
    files.into_iter().find_map(|file| {
        let entry = parse_desktop_entry(&std::fs::read_to_string(file).ok()?)?;
        runs_app(&entry.program).then_some(entry)
    })
}

/// One JSON line to the server over the builder's socket, one back.
fn ask_server(socket: &Path, request: &CreateImage) -> Result<CreateImageAnswer> {
    use std::io::{BufRead, Write};
    let mut stream = std::os::unix::net::UnixStream::connect(socket).with_context(|| {
        format!(
            "connecting to {} (is this an image builder?)",
            socket.display()
        )
    })?;
    let mut line = serde_json::to_vec(request)?;
    line.push(b'\n');
    stream.write_all(&line)?;
    let mut answer = String::new();
    std::io::BufReader::new(stream)
        .read_line(&mut answer)
        .context("reading the server's answer")?;
    serde_json::from_str(&answer).context("the server's answer")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add(catalog: &Path, name: &str, app: &Path) -> Result<String> {
        execute(
            AssistantCommand::AddApplication {
                name: name.into(),
                absolute_app_path: app.into(),
                display_name: Some(format!("{name} app")),
                absolute_icon_path: None,
                working_directory: Some("/tmp".into()),
                launch_parameters: Some("-x 1".into()),
            },
            catalog,
        )
    }

    #[test]
    fn the_catalog_keeps_one_entry_per_name_in_the_servers_format() {
        let dir = tempfile::tempdir().unwrap();
        let catalog = dir.path().join("etc/porthole/applications.json");
        add(&catalog, "sh", Path::new("/bin/sh")).unwrap();
        add(&catalog, "cat", Path::new("/bin/cat")).unwrap();
        add(&catalog, "sh", Path::new("/bin/sh")).unwrap();
        let apps = read_catalog(&catalog).unwrap();
        let names: Vec<&str> = apps.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["cat", "sh"]);
        let written: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&catalog).unwrap()).unwrap();
        assert_eq!(
            written[1],
            serde_json::json!({"name": "sh", "display_name": "sh app", "launch_path": "/bin/sh",
                "launch_parameters": "-x 1", "working_directory": "/tmp"})
        );
        execute(
            AssistantCommand::RemoveApplication { name: "cat".into() },
            &catalog,
        )
        .unwrap();
        assert_eq!(read_catalog(&catalog).unwrap().len(), 1);
    }

    #[test]
    fn bad_applications_are_refused_and_change_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let catalog = dir.path().join("applications.json");
        let err = add(&catalog, "x", Path::new("/no/such/app")).unwrap_err();
        assert!(format!("{err}").contains("not an executable file"));
        let err = add(&catalog, "bad name", Path::new("/bin/sh")).unwrap_err();
        assert!(format!("{err}").contains("--name"));
        assert!(!catalog.exists());
        let err = execute(
            AssistantCommand::CreateImage {
                name: "i".into(),
                display_name: None,
                description: None,
            },
            &catalog,
        )
        .unwrap_err();
        assert!(format!("{err}").contains("catalog is empty"));
    }
}

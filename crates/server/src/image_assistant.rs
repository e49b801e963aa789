//! The image assistant of a running image builder, both ways in:
//! - its socket (see porthole_agent_api::image_assistant): `image-assistant create-image`
//!   inside the builder asks for an image of it here; served from the builder's readiness
//!   until its instance ends;
//! - the Image Assistant panel of the builder's session page (web/image-assistant.js):
//!   routes under /session/TOKEN/image-assistant that list the builder's catalog and the
//!   applications installed in it (read from its layers on disk), edit the catalog by
//!   running the builder's own `image-assistant` inside it (the one writer of the catalog
//!   file), and make the image.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Extension, Json, Router};
use porthole_agent_api::image_assistant::{CreateImage, CreateImageAnswer};
use porthole_agent_api::LaunchRequest;
use porthole_control::{ImageBuilder, SessionState};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

use crate::catalog::{error, icon_file};
use crate::image_store::BuilderApplications;
use crate::state::{now, Server};

/// A request is one short JSON line.
const MAX_REQUEST: u64 = 16 * 1024;

/// Listens on the builder's socket (owned by the instance's uid, 0600) until dropped.
pub(crate) fn listen(
    server: &Arc<Server>,
    builder: &str,
    socket: PathBuf,
    uid: u32,
) -> Result<tokio::task::JoinHandle<()>> {
    let _ = std::fs::remove_file(&socket);
    let listener = UnixListener::bind(&socket)
        .with_context(|| format!("listening on {}", socket.display()))?;
    std::os::unix::fs::chown(&socket, Some(uid), Some(uid))?;
    std::fs::set_permissions(&socket, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    let (server, builder) = (server.clone(), builder.to_owned());
    Ok(tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (server, builder) = (server.clone(), builder.clone());
            tokio::spawn(async move {
                if let Err(err) = answer(&server, &builder, stream).await {
                    tracing::warn!(image_builder = %builder, "image assistant request: {err:#}");
                }
            });
        }
    }))
}

async fn answer(server: &Arc<Server>, builder: &str, stream: UnixStream) -> Result<()> {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    BufReader::new(read.take(MAX_REQUEST))
        .read_line(&mut line)
        .await?;
    let (answer, effects) = match serde_json::from_str::<CreateImage>(&line) {
        Err(err) => (
            refused(format!("not a create-image request: {err}")),
            vec![],
        ),
        Ok(request) => make_image(server, builder, request).await?,
    };
    let mut reply = serde_json::to_vec(&answer)?;
    reply.push(b'\n');
    // Answered before the builder stops: the stop ends the asking process too.
    write.write_all(&reply).await?;
    write.shutdown().await?;
    server.apply(effects).await;
    Ok(())
}

/// Asks the plane for an image of the builder, saved before the answer; the effects
/// (the builder's stop, then its snapshot) are the caller's to apply once it answered.
async fn make_image(
    server: &Arc<Server>,
    builder: &str,
    request: CreateImage,
) -> Result<(CreateImageAnswer, Vec<porthole_control::Effect>)> {
    let made = {
        let mut cp = server.plane.lock().await;
        let made = cp.create_image_from_builder(
            builder,
            &request.name,
            request.display_name,
            request.description,
            now(),
        );
        let answer = match made {
            Ok(image) => CreateImageAnswer::Accepted {
                image: image.name.clone(),
                state: image.state.as_str().to_owned(),
            },
            Err(err) => refused(err.message),
        };
        (answer, cp.take_effects())
    };
    server.plane.persist().await?;
    if let CreateImageAnswer::Accepted { image, .. } = &made.0 {
        tracing::info!(image_builder = %builder, %image, "making an image of the builder");
    }
    Ok(made)
}

fn refused(message: String) -> CreateImageAnswer {
    CreateImageAnswer::Refused { message }
}

pub fn routes() -> Router<Arc<Server>> {
    const BASE: &str = "/session/{token}/image-assistant";
    Router::new()
        .route(BASE, get(panel))
        .route(&format!("{BASE}/applications"), post(add_application))
        .route(
            &format!("{BASE}/applications/{{name}}"),
            delete(remove_application),
        )
        .route(&format!("{BASE}/icons/{{list}}/{{name}}"), get(icon))
        .route(&format!("{BASE}/image"), post(create_image))
        .layer(Extension(Arc::new(PanelIcons::default())))
}

/// The running builder a session page's token opens.
struct Opened {
    builder: String,
    instance_id: String,
    writable_layer: String,
    on_host: bool,
    lower: Vec<String>,
}

async fn open(server: &Server, token: &str) -> Result<Opened, Response> {
    let grant = server
        .tokens
        .open_grant(token)
        .map_err(|err| error(StatusCode::FORBIDDEN, err.message()))?;
    let Some(builder) = grant.image_builder.clone() else {
        return Err(error(
            StatusCode::NOT_FOUND,
            "the image assistant is in image builders' sessions only",
        ));
    };
    let cp = server.plane.lock().await;
    let instance_id = cp
        .live_session(&grant)
        .filter(|s| s.state == SessionState::Active)
        .and_then(|s| s.instance_id.clone())
        .ok_or_else(|| error(StatusCode::CONFLICT, "this URL has no active session"))?;
    let found = cp
        .image_builder(&builder)
        .map_err(|err| error(StatusCode::NOT_FOUND, err.message))?;
    let (on_host, lower) = ImageBuilder::layered_root(&found.root);
    Ok(Opened {
        writable_layer: found.writable_layer.clone(),
        builder,
        instance_id,
        on_host,
        lower,
    })
}

async fn applications(server: &Server, opened: &Opened) -> Result<BuilderApplications, Response> {
    let store = server.image_store.clone();
    let (layer, on_host, lower) = (
        opened.writable_layer.clone(),
        opened.on_host,
        opened.lower.clone(),
    );
    tokio::task::spawn_blocking(move || store.builder_applications(&layer, on_host, &lower))
        .await
        .map_err(anyhow::Error::from)
        .and_then(|read| read)
        .map_err(|err| error(StatusCode::INTERNAL_SERVER_ERROR, format!("{err:#}")))
}

/// `{"builder", "catalog": [{"name", "displayName", "launchPath", "launchParameters",
/// "workingDirectory", "iconUrl", "problem"}], "installed": [{"name", "displayName",
/// "launchPath", "launchParameters", "iconUrl", "inCatalog"}]}`; icon URLs are relative
/// to the session page.
async fn panel(
    State(server): State<Arc<Server>>,
    Extension(icons): Extension<Arc<PanelIcons>>,
    Path(token): Path<String>,
) -> Result<Response, Response> {
    let opened = open(&server, &token).await?;
    let apps = applications(&server, &opened).await?;
    let icon_url = |list: &str, name: &str| format!("image-assistant/icons/{list}/{name}");
    let catalog: Vec<_> = apps
        .catalog
        .iter()
        .map(|(entry, made)| {
            let app = made.as_ref().ok();
            json!({
                "name": entry.name,
                "displayName": app.map_or(entry.name.as_str(), |a| a.display_name.as_str()),
                "launchPath": entry.launch_path,
                "launchParameters": entry.launch_parameters,
                "workingDirectory": entry.working_directory,
                "iconUrl": app.and_then(|a| a.icon_path.as_ref()).map(|_| icon_url("catalog", &entry.name)),
                "problem": made.as_ref().err(),
            })
        })
        .collect();
    let installed: Vec<_> = apps
        .installed
        .iter()
        .map(|app| {
            json!({
                "name": app.name,
                "displayName": app.display_name,
                "launchPath": app.launch_path,
                "launchParameters": app.launch_parameters,
                "iconUrl": app.icon_path.as_ref().map(|_| icon_url("installed", &app.name)),
                "inCatalog": apps.catalog.iter().any(|(entry, _)| {
                    entry.launch_path == app.launch_path
                        && entry.launch_parameters == app.launch_parameters
                }),
            })
        })
        .collect();
    icons.remember(&opened.builder, &apps);
    Ok(
        Json(json!({ "builder": opened.builder, "catalog": catalog, "installed": installed }))
            .into_response(),
    )
}

/// An icon the panel listed: known from its listing, else read again from the builder.
async fn icon(
    State(server): State<Arc<Server>>,
    Extension(icons): Extension<Arc<PanelIcons>>,
    Path((token, list, name)): Path<(String, String, String)>,
) -> Result<Response, Response> {
    let opened = open(&server, &token).await?;
    let path = match icons.path(&opened.builder, &list, &name) {
        Some(path) => Some(path),
        None => {
            let apps = applications(&server, &opened).await?;
            icons.remember(&opened.builder, &apps);
            icons.path(&opened.builder, &list, &name)
        }
    };
    match path {
        Some(path) => Ok(icon_file(&path).await),
        None => Err(error(StatusCode::NOT_FOUND, "no such icon")),
    }
}

/// The icons of each builder's last panel listing, by list ("catalog", "installed") and
/// application name: the panel's icon requests then need no new scan of the builder.
#[derive(Default)]
struct PanelIcons(Mutex<HashMap<String, IconPaths>>);

/// Host paths of icons by (list, application name).
type IconPaths = HashMap<(String, String), String>;

impl PanelIcons {
    fn remember(&self, builder: &str, apps: &BuilderApplications) {
        let catalog = apps.catalog.iter().filter_map(|(entry, made)| {
            let path = made.as_ref().ok()?.icon_path.clone()?;
            Some((("catalog".to_owned(), entry.name.clone()), path))
        });
        let installed = apps.installed.iter().filter_map(|app| {
            let path = app.icon_path.clone()?;
            Some((("installed".to_owned(), app.name.clone()), path))
        });
        let icons = catalog.chain(installed).collect();
        let mut builders = self.0.lock().expect("panel icons lock");
        builders.insert(builder.to_owned(), icons);
    }

    fn path(&self, builder: &str, list: &str, name: &str) -> Option<String> {
        let builders = self.0.lock().expect("panel icons lock");
        builders
            .get(builder)?
            .get(&(list.to_owned(), name.to_owned()))
            .cloned()
    }
}

/// An application to add, as the panel's form has it (empty fields are absent).
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct NewApplication {
    name: String,
    launch_path: String,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    icon_path: Option<String>,
    #[serde(default)]
    working_directory: Option<String>,
    #[serde(default)]
    launch_parameters: Option<String>,
}

async fn add_application(
    State(server): State<Arc<Server>>,
    Path(token): Path<String>,
    Json(app): Json<NewApplication>,
) -> Result<Response, Response> {
    let mut args = vec![
        "add-application".to_owned(),
        format!("--name={}", app.name),
        format!("--absolute-app-path={}", app.launch_path),
    ];
    for (flag, value) in [
        ("--display-name", app.display_name),
        ("--absolute-icon-path", app.icon_path),
        ("--working-directory", app.working_directory),
        ("--launch-parameters", app.launch_parameters),
    ] {
        if let Some(value) = value.filter(|v| !v.trim().is_empty()) {
            args.push(format!("{flag}={value}"));
        }
    }
    run_assistant(&server, &token, args).await
}

async fn remove_application(
    State(server): State<Arc<Server>>,
    Path((token, name)): Path<(String, String)>,
) -> Result<Response, Response> {
    let args = vec!["remove-application".to_owned(), format!("--name={name}")];
    run_assistant(&server, &token, args).await
}

/// How long an image assistant command may take: it edits one small file.
const ASSISTANT_LIMIT: std::time::Duration = std::time::Duration::from_secs(30);

/// Runs the builder's image assistant inside it (as root there, like its terminal) and
/// answers its `{"status", "message"}`: 200 when it succeeded, else 400.
async fn run_assistant(
    server: &Server,
    token: &str,
    args: Vec<String>,
) -> Result<Response, Response> {
    let opened = open(server, token).await?;
    // `--flag=value`: a value that starts with '-' stays a value.
    let request = LaunchRequest {
        command: [porthole_sandbox::IMAGE_ASSISTANT.to_owned()]
            .into_iter()
            .chain(args)
            .collect(),
        env: Default::default(),
        working_directory: None,
    };
    let ran = server
        .instances
        .run_command(&opened.instance_id, request, ASSISTANT_LIMIT)
        .await
        .map_err(|err| error(StatusCode::BAD_GATEWAY, format!("{err:#}")))?;
    #[derive(serde::Deserialize)]
    struct Outcome {
        status: i32,
        message: String,
    }
    match serde_json::from_str::<Outcome>(&ran.stdout) {
        Ok(outcome) if outcome.status == 0 => {
            Ok(Json(json!({ "message": outcome.message })).into_response())
        }
        Ok(outcome) => Err(error(StatusCode::BAD_REQUEST, outcome.message)),
        Err(_) => Err(error(
            StatusCode::BAD_GATEWAY,
            format!(
                "the image assistant answered nothing readable (exit {:?}): {}",
                ran.code,
                ran.stderr.trim()
            ),
        )),
    }
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct NewImage {
    name: String,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    description: Option<String>,
}

/// Makes the image, as `image-assistant create-image` does, once the catalog is one the
/// image can have: not empty, every entry an executable in the builder. Answered before
/// the builder stops (which ends this session).
async fn create_image(
    State(server): State<Arc<Server>>,
    Path(token): Path<String>,
    Json(image): Json<NewImage>,
) -> Result<Response, Response> {
    let opened = open(&server, &token).await?;
    let apps = applications(&server, &opened).await?;
    if apps.catalog.is_empty() {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "the catalog is empty: add an application first",
        ));
    }
    if let Some((entry, Err(problem))) = apps.catalog.iter().find(|(_, made)| made.is_err()) {
        return Err(error(
            StatusCode::BAD_REQUEST,
            format!("{}: {problem}", entry.name),
        ));
    }
    let optional = |v: Option<String>| v.filter(|v| !v.trim().is_empty());
    let request = CreateImage {
        name: image.name,
        display_name: optional(image.display_name),
        description: optional(image.description),
    };
    let (answer, effects) = make_image(&server, &opened.builder, request)
        .await
        .map_err(|err| error(StatusCode::INTERNAL_SERVER_ERROR, format!("{err:#}")))?;
    let server = server.clone();
    tokio::spawn(async move { server.apply(effects).await });
    match answer {
        CreateImageAnswer::Accepted { image, state } => {
            Ok(Json(json!({ "image": image, "state": state })).into_response())
        }
        CreateImageAnswer::Refused { message } => Err(error(StatusCode::BAD_REQUEST, message)),
    }
}

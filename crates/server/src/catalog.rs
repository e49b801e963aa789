//! The application catalog of a session. A streaming URL without ApplicationId
//! opens on the stack's catalog (the apps of its fleet's image, then the
//! applications associated with the fleet) instead of an app; its page reads
//! the catalog at GET /session/TOKEN/catalog and starts apps in the session
//! with POST /session/TOKEN/launch, any number of times.
//! Icons are served at /catalog/icons/IMAGE/APP, which is also the IconURL
//! DescribeImages shows: public (icons are no secret, and the admin fetches
//! them without a streaming URL), and only files an image's catalog names.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use porthole_agent_api::LaunchRequest as AgentLaunch;
use porthole_control::{Application, Image, LaunchRefused};
use serde_json::json;

use crate::state::{now, Server};

pub fn routes() -> Router<Arc<Server>> {
    Router::new()
        .route("/session/{token}/catalog", get(catalog))
        .route("/session/{token}/launch", post(launch))
        .route("/catalog/icons/{image}/{app}", get(icon))
}

/// The server path of an app's icon (see the module's documentation).
pub fn icon_path(image: &str, app: &str) -> String {
    format!("/catalog/icons/{image}/{app}")
}

/// Where a browser gets an app's icon: a path of our own where we have the
/// file (the stored IconURL names the address the server had when the image
/// was made), else the IconURL it was given.
pub fn icon_url(image: &Image, app: &Application) -> Option<String> {
    match &app.icon_path {
        Some(_) => Some(icon_path(&image.name, &app.name)),
        None => app.icon_url.clone(),
    }
}

/// Why an app was not started in a session.
#[derive(Debug)]
pub enum LaunchError {
    /// No live, active session (not opened yet, starting, or ended).
    NotActive,
    /// Not an enabled app of the image of the session's fleet.
    NotInCatalog(String),
    /// The user's attributes do not entitle them to it.
    NotEntitled(String),
    /// The instance's agent could not start it.
    Failed(anyhow::Error),
}

impl std::fmt::Display for LaunchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotActive => write!(f, "the session is not active: open its stream first"),
            Self::NotInCatalog(app) => {
                write!(f, "{app} is not an application of this session's catalog")
            }
            Self::NotEntitled(app) => write!(f, "you are not entitled to {app}"),
            Self::Failed(err) => write!(f, "{err:#}"),
        }
    }
}

impl std::error::Error for LaunchError {}

impl LaunchError {
    fn status(&self) -> StatusCode {
        match self {
            Self::NotActive => StatusCode::CONFLICT,
            Self::NotInCatalog(_) => StatusCode::NOT_FOUND,
            Self::NotEntitled(_) => StatusCode::FORBIDDEN,
            Self::Failed(_) => StatusCode::BAD_GATEWAY,
        }
    }
}

/// Starts the catalog app `app` in the active session's instance, with the
/// session's AppStream_* environment.
pub async fn start_app(server: &Server, session_id: &str, app: &str) -> Result<(), LaunchError> {
    let launch = server
        .plane
        .lock()
        .await
        .app_launch(session_id, app)
        .map_err(|refused| match refused {
            LaunchRefused::NotActive => LaunchError::NotActive,
            LaunchRefused::NotInCatalog => LaunchError::NotInCatalog(app.to_owned()),
            LaunchRefused::NotEntitled => LaunchError::NotEntitled(app.to_owned()),
        })?;
    let request = AgentLaunch {
        command: launch.command,
        env: launch.env,
        working_directory: launch.working_directory,
    };
    server
        .instances
        .launch_app(&launch.instance_id, &request)
        .await
        .map_err(LaunchError::Failed)?;
    server.session_apps.record(session_id, app);
    Ok(())
}

pub(crate) fn error(status: StatusCode, message: impl std::fmt::Display) -> Response {
    (status, Json(json!({ "message": message.to_string() }))).into_response()
}

/// `{"applications": [{"name", "displayName", "iconUrl"?}], "applicationId":
/// the session's (or the URL's) ApplicationId or null, "started": [names]}`.
async fn catalog(State(server): State<Arc<Server>>, Path(token): Path<String>) -> Response {
    let grant = match server.tokens.open_grant(&token) {
        Ok(grant) => grant,
        Err(err) => return error(StatusCode::FORBIDDEN, err.message()),
    };
    let cp = server.plane.lock().await;
    let session = cp.live_session(&grant);
    // Past the URL's validity only its session's page may still read the catalog.
    if session.is_none() && now() >= grant.expires {
        return error(
            StatusCode::FORBIDDEN,
            crate::tokens::TokenError::Expired.message(),
        );
    }
    let Some((image, catalog)) = cp.streaming_catalog(&grant.fleet, grant.image_builder.as_deref())
    else {
        return error(StatusCode::NOT_FOUND, "this session's fleet has no image");
    };
    let applications: Vec<_> = catalog
        .iter()
        .filter(|a| {
            grant.image_builder.is_some()
                || cp.is_entitled(
                    &grant.stack,
                    grant.authentication_type,
                    &grant.attributes,
                    &a.name,
                )
        })
        .map(|a| {
            let icon_url = icon_url(image, a);
            json!({ "name": a.name, "displayName": a.display_name, "iconUrl": icon_url })
        })
        .collect();
    let application_id = session.map_or(&grant.application_id, |s| &s.application_id);
    let started = session
        .map(|s| server.session_apps.started(&s.id))
        .unwrap_or_default();
    Json(json!({
        "applications": applications,
        "applicationId": application_id,
        "started": started,
    }))
    .into_response()
}

#[derive(serde::Deserialize)]
struct LaunchRequest {
    app: String,
}

async fn launch(
    State(server): State<Arc<Server>>,
    Path(token): Path<String>,
    Json(request): Json<LaunchRequest>,
) -> Response {
    let grant = match server.tokens.open_grant(&token) {
        Ok(grant) => grant,
        Err(err) => return error(StatusCode::FORBIDDEN, err.message()),
    };
    let session_id = {
        let mut cp = server.plane.lock().await;
        let Some(id) = cp.live_session(&grant).map(|s| s.id.clone()) else {
            if now() >= grant.expires {
                let expired = crate::tokens::TokenError::Expired;
                return error(StatusCode::FORBIDDEN, expired.message());
            }
            return error(StatusCode::CONFLICT, LaunchError::NotActive);
        };
        // Picking an app is the user at work: it keeps the idle timeout away.
        let _ = cp.session_input(&id, now());
        id
    };
    match start_app(&server, &session_id, &request.app).await {
        Ok(()) => Json(json!({ "started": request.app })).into_response(),
        Err(err) => {
            if let LaunchError::Failed(_) = err {
                tracing::warn!(session = %session_id, app = %request.app, "catalog launch failed: {err}");
            }
            error(err.status(), err)
        }
    }
}

async fn icon(
    State(server): State<Arc<Server>>,
    Path((image, app)): Path<(String, String)>,
) -> Response {
    let path = {
        let cp = server.plane.lock().await;
        cp.image(&image)
            .ok()
            .and_then(|i| i.application(&app))
            .and_then(|a| a.icon_path.clone())
    };
    match path {
        Some(path) => icon_file(&path).await,
        None => error(StatusCode::NOT_FOUND, "no such icon"),
    }
}

/// Serves a catalog's icon file: a PNG or SVG that anyone on the host may read (an
/// image's Icon= must not lead the server, which reads as root, to a private file).
pub(crate) async fn icon_file(path: &str) -> Response {
    use std::os::unix::fs::PermissionsExt;
    let not_found = || error(StatusCode::NOT_FOUND, "no such icon");
    let mime = match std::path::Path::new(path)
        .extension()
        .and_then(|e| e.to_str())
    {
        Some("png") => "image/png",
        Some("svg") => "image/svg+xml",
        _ => return not_found(),
    };
    let readable = tokio::fs::metadata(path)
        .await
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o004 != 0);
    if !readable {
        return not_found();
    }
    match tokio::fs::read(path).await {
        Ok(bytes) => (
            [
                (header::CONTENT_TYPE, mime),
                (header::CACHE_CONTROL, "max-age=3600"),
                // An SVG opened on its own must not run scripts on our origin.
                (
                    header::CONTENT_SECURITY_POLICY,
                    "default-src 'none'; style-src 'unsafe-inline'",
                ),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            bytes,
        )
            .into_response(),
        Err(err) => {
            tracing::warn!("reading the icon {path}: {err}");
            not_found()
        }
    }
}

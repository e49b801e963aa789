//! The browsers' side: a streaming URL's page (the web client) and its
//! WebSocket, which opens (or resumes) the session and is then proxied to the
//! agent of the session's instance. The gateway also sees what the control
//! plane needs: connects, disconnects and input (for the idle timeout).

use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use futures_util::{SinkExt, StreamExt};
use porthole_control::{SessionState, StreamingGrant};
use tokio_tungstenite::tungstenite::Message as AgentMessage;

use crate::{now, Server};

/// How long a browser waits for its session's instance to be ready.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// Input is reported to the control plane at most this often.
const INPUT_REPORT_INTERVAL: Duration = Duration::from_secs(1);

pub fn routes() -> Router<Arc<Server>> {
    Router::new()
        .route("/", get(|| async { Html(LANDING) }))
        .route("/session/{token}/", get(page))
        .route("/session/{token}/ws", get(upgrade))
        .route(
            "/session/{token}/{*path}",
            get(|Path((_, path)): Path<(String, String)>| async move {
                porthole_agent::web_asset(&path)
            }),
        )
}

const LANDING: &str = "<!doctype html><title>Porthole</title><p>Porthole is running. Open a streaming URL to start a session.</p>";

async fn page(State(server): State<Arc<Server>>, Path(token): Path<String>) -> Response {
    match server.tokens.verify(&token, now()) {
        Ok(_) => porthole_agent::web_asset("index.html"),
        Err(err) => (
            StatusCode::FORBIDDEN,
            Html(format!(
                "<!doctype html><title>Porthole</title><h1>Cannot open this session</h1><p>{}</p>",
                err.message()
            )),
        )
            .into_response(),
    }
}

async fn upgrade(
    State(server): State<Arc<Server>>,
    Path(token): Path<String>,
    ws: WebSocketUpgrade,
) -> Response {
    ws.max_message_size(porthole_protocol::MAX_CLIENT_MESSAGE)
        .on_upgrade(move |socket| async move {
            let mut socket = socket;
            let reason = match server.tokens.verify(&token, now()) {
                Ok(grant) => match connect(&server, &grant, &mut socket).await {
                    Ok(reason) => reason,
                    Err(err) => format!("{err:#}"),
                },
                Err(err) => err.message().to_owned(),
            };
            porthole_agent::goodbye(&mut socket, &reason).await;
        })
}

/// Opens or resumes the grant's session, then proxies until either side
/// leaves or the control plane ends it. Returns why the browser must go.
async fn connect(
    server: &Arc<Server>,
    grant: &StreamingGrant,
    browser: &mut WebSocket,
) -> Result<String> {
    let (session, effects) = {
        let mut cp = server.cp.lock().await;
        cp.open_session(grant, now())
            .map_err(|err| anyhow::anyhow!(err.message))?
    };
    server.persist().await?;
    server.apply(effects).await;
    let session_id = session.id.clone();
    let mut leave = server.session_signal(&session_id);
    let instance_id = wait_until_active(server, &session_id).await?;
    launch_app_once(server, &session_id, &instance_id).await?;

    let socket = server.instances.socket_path(&instance_id);
    let stream = tokio::net::UnixStream::connect(&socket)
        .await
        .with_context(|| format!("connecting to the instance's agent at {}", socket.display()))?;
    let (agent, _) = tokio_tungstenite::client_async("ws://agent/ws", stream)
        .await
        .context("opening the stream to the instance")?;
    let (mut to_agent, mut from_agent) = agent.split();

    server
        .observe(|cp| cp.session_connected(&session_id, now()))
        .await;
    let mut last_input_report = tokio::time::Instant::now() - INPUT_REPORT_INTERVAL;
    let reason = loop {
        tokio::select! {
            message = browser.recv() => {
                let Some(Ok(message)) = message else { break "the browser left".to_owned() };
                let forwarded = match message {
                    Message::Binary(bytes) => {
                        if is_input(&bytes) && last_input_report.elapsed() >= INPUT_REPORT_INTERVAL {
                            last_input_report = tokio::time::Instant::now();
                            let mut cp = server.cp.lock().await;
                            let _ = cp.session_input(&session_id, now());
                        }
                        AgentMessage::Binary(bytes)
                    }
                    Message::Text(text) => AgentMessage::Text(text.as_str().into()),
                    Message::Close(_) => break "the browser left".to_owned(),
                    Message::Ping(_) | Message::Pong(_) => continue,
                };
                if to_agent.send(forwarded).await.is_err() {
                    break "the instance's stream ended".to_owned();
                }
            }
            message = from_agent.next() => {
                let forwarded = match message {
                    Some(Ok(AgentMessage::Binary(bytes))) => Message::Binary(bytes),
                    Some(Ok(AgentMessage::Close(frame))) => {
                        break frame.map_or_else(|| "the instance closed the stream".to_owned(), |f| f.reason.to_string());
                    }
                    Some(Ok(_)) => continue,
                    Some(Err(_)) | None => break "the instance's stream ended".to_owned(),
                };
                if browser.send(forwarded).await.is_err() {
                    break "the browser left".to_owned();
                }
            }
            changed = leave.changed() => {
                if changed.is_err() {
                    break "the session ended".to_owned();
                }
                if let Some(reason) = leave.borrow().clone() {
                    break reason;
                }
            }
        }
    };
    let _ = to_agent.close().await;
    server
        .observe(|cp| cp.session_disconnected(&session_id, now()))
        .await;
    Ok(reason)
}

/// Client messages that count as user input (docs/protocol.md types 0x03..=0x09).
fn is_input(message: &[u8]) -> bool {
    matches!(message.first(), Some(0x03..=0x09))
}

async fn wait_until_active(server: &Server, session_id: &str) -> Result<String> {
    let timeout = "the session's instance did not start in time";
    server
        .wait_for(START_TIMEOUT, timeout, |cp| {
            let session = match cp.session(session_id) {
                Ok(session) => session,
                Err(err) => return Some(Err(anyhow::anyhow!(err.message))),
            };
            match (&session.state, &session.instance_id) {
                (SessionState::Active, Some(instance)) => Some(Ok(instance.clone())),
                (SessionState::Expired, _) => Some(Err(anyhow::anyhow!(
                    "{}",
                    session
                        .end_reason
                        .map_or("the session ended", porthole_control::EndReason::message)
                ))),
                _ => None,
            }
        })
        .await
}

/// Starts the session's application the first time a browser attaches.
async fn launch_app_once(server: &Server, session_id: &str, instance_id: &str) -> Result<()> {
    let (command, env) = {
        let first = server
            .launched
            .lock()
            .expect("launched lock")
            .insert(session_id.to_owned());
        if !first {
            return Ok(());
        }
        let cp = server.cp.lock().await;
        let session = cp
            .session(session_id)
            .map_err(|err| anyhow::anyhow!(err.message))?;
        let fleet = cp
            .fleet(&session.fleet)
            .map_err(|err| anyhow::anyhow!(err.message))?;
        let image = cp
            .image(&fleet.image_name)
            .map_err(|err| anyhow::anyhow!(err.message))?;
        let app = match &session.application_id {
            Some(id) => image.application(id),
            // No app chosen: the image's first app (a catalog page is still to come).
            None => image.applications.iter().find(|a| a.enabled),
        };
        let Some(app) = app else {
            bail!("the image has no application to start")
        };
        let mut command = vec![app.launch_path.clone()];
        if let Some(params) = &app.launch_parameters {
            command.extend(params.split_whitespace().map(str::to_owned));
        }
        let env = vec![
            ("AppStream_Stack_Name".to_owned(), session.stack.clone()),
            ("AppStream_UserName".to_owned(), session.user_id.clone()),
            ("AppStream_User_Access_Mode".to_owned(), "custom".to_owned()),
            ("AppStream_Session_ID".to_owned(), session.id.clone()),
            ("AppStream_Resource_Type".to_owned(), "fleet".to_owned()),
            ("AppStream_Resource_Name".to_owned(), session.fleet.clone()),
            (
                "AppStream_Instance_Type".to_owned(),
                fleet.instance_type.clone(),
            ),
            (
                "AppStream_Image_Arn".to_owned(),
                cp.arn(porthole_control::ResourceType::Image, &image.name),
            ),
            (
                "APPSTREAM_SESSION_CONTEXT".to_owned(),
                session.session_context.clone().unwrap_or_default(),
            ),
        ];
        (command, env)
    };
    server.instances.launch_app(instance_id, command, env).await
}

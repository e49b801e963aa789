//! The browsers' side: a streaming URL's page (the web client) and its
//! WebSocket, which opens (or resumes) the session and is then proxied to the
//! agent of the session's instance. The gateway also sees what the control
//! plane needs: connects, disconnects and input (for the idle timeout).

use std::collections::HashMap;
use std::sync::{Arc, Mutex as StdMutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Extension;
use axum::Router;
use futures_util::future::{BoxFuture, Shared};
use futures_util::{FutureExt, SinkExt, StreamExt};
use porthole_control::{EndReason, Notice, NoticeKind, SessionState, StreamingGrant};
use tokio_tungstenite::tungstenite::Message as AgentMessage;

use crate::catalog;
use crate::state::{now, Server};

/// How long a browser waits for its session's instance to be ready.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// Input is reported to the control plane at most this often.
const INPUT_REPORT_INTERVAL: Duration = Duration::from_secs(1);
/// How often each browser's round trip is measured.
const PING_INTERVAL: Duration = Duration::from_secs(1);

pub fn routes() -> Router<Arc<Server>> {
    let preparing = Arc::new(Preparing::default());
    Router::new()
        .route("/session/{token}/", get(page))
        .route("/session/{token}/ws", get(upgrade))
        .route("/session/{token}/end", post(end))
        .merge(catalog::routes())
        .merge(crate::files::routes())
        .merge(crate::image_assistant::routes())
        .route(
            "/session/{token}/{*path}",
            get(|Path((_, path)): Path<(String, String)>| async move {
                porthole_web_client::asset(&path)
            }),
        )
        .layer(Extension(preparing))
}

async fn page(
    State(server): State<Arc<Server>>,
    Extension(preparing): Extension<Arc<Preparing>>,
    Path(token): Path<String>,
    method: Method,
) -> Response {
    match server.tokens.verify(&token, now()) {
        Ok(grant) => {
            // HEAD has no side effects: it only checks the URL.
            if method == Method::GET {
                preparing.start(&server, &token, grant);
            }
            porthole_web_client::asset("index.html")
        }
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
    Extension(preparing): Extension<Arc<Preparing>>,
    Path(token): Path<String>,
    ws: WebSocketUpgrade,
) -> Response {
    ws.max_message_size(porthole_protocol::MAX_CLIENT_MESSAGE)
        .on_upgrade(move |socket| async move {
            let mut socket = socket;
            let reason = match server.tokens.verify(&token, now()) {
                Ok(grant) => {
                    match connect(&server, &preparing, &token, &grant, &mut socket).await {
                        Ok(reason) => reason,
                        Err(err) => format!("{err:#}"),
                    }
                }
                Err(err) => err.message().to_owned(),
            };
            porthole_web_client::goodbye(&mut socket, &reason).await;
        })
}

/// The user ends their session (the toolbar's End session): its browsers are
/// told why and its instance is destroyed, as with ExpireSession.
async fn end(State(server): State<Arc<Server>>, Path(token): Path<String>) -> Response {
    let grant = match server.tokens.open_grant(&token) {
        Ok(grant) => grant,
        Err(err) => return (StatusCode::FORBIDDEN, err.message().to_owned()).into_response(),
    };
    let session_id = server
        .plane
        .lock()
        .await
        .live_session(&grant)
        .map(|s| s.id.clone());
    let Some(session_id) = session_id else {
        return (StatusCode::CONFLICT, "this URL has no live session").into_response();
    };
    server
        .observe(|cp| cp.end_session(&session_id, EndReason::UserEnded, now()))
        .await;
    match server.plane.persist().await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(err) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{err:#}")).into_response(),
    }
}

/// Opens or resumes the grant's session, then proxies until either side
/// leaves or the control plane ends it. Returns why the browser must go.
async fn connect(
    server: &Arc<Server>,
    preparing: &Preparing,
    token: &str,
    grant: &StreamingGrant,
    browser: &mut WebSocket,
) -> Result<String> {
    let started = tokio::time::Instant::now();
    let prepared = match preparing.take(token) {
        Some(preparation) => preparation.await.map_err(|err| anyhow::anyhow!(err))?,
        None => prepare(server, grant).await?,
    };
    let session_id = prepared.session_id;
    let instance_id = prepared.instance_id;
    let mut leave = server.signals.subscribe(&session_id);
    let (opened, assigned, launched) = (prepared.opened, prepared.assigned, started.elapsed());

    let socket = server.instances.socket_path(&instance_id);
    let stream = tokio::net::UnixStream::connect(&socket)
        .await
        .with_context(|| format!("connecting to the instance's agent at {}", socket.display()))?;
    let (agent, _) = tokio_tungstenite::client_async(
        format!("ws://agent{}", porthole_agent_api::STREAM_PATH),
        stream,
    )
    .await
    .context("opening the stream to the instance")?;
    let (mut to_agent, mut from_agent) = agent.split();
    tracing::info!(
        session = %session_id,
        instance = %instance_id,
        opened_ms = opened.as_millis() as u64,
        assigned_ms = assigned.as_millis() as u64,
        launched_ms = launched.as_millis() as u64,
        attached_ms = started.elapsed().as_millis() as u64,
        "browser attached"
    );

    server
        .observe(|cp| cp.session_connected(&session_id, now()))
        .await;
    let mut last_input_report = tokio::time::Instant::now() - INPUT_REPORT_INTERVAL;
    // WebSocket pings measure the browser's round trip (answered by its
    // network stack, whatever its page is doing).
    let mut pings = tokio::time::interval(PING_INTERVAL);
    let mut ping_out: Option<(u64, tokio::time::Instant)> = None;
    let mut ping_count = 0u64;
    // Warnings already passed to this browser: the signal holds the latest ones.
    let mut told: Vec<Notice> = Vec::new();
    let reason = loop {
        tokio::select! {
            message = browser.recv() => {
                let Some(Ok(message)) = message else { break "the browser left".to_owned() };
                let forwarded = match message {
                    Message::Binary(bytes) => {
                        server.traffic.received_from_browser(&session_id, bytes.len());
                        if porthole_protocol::is_input_message(&bytes) && last_input_report.elapsed() >= INPUT_REPORT_INTERVAL {
                            last_input_report = tokio::time::Instant::now();
                            let mut cp = server.plane.lock().await;
                            let _ = cp.session_input(&session_id, now());
                        }
                        AgentMessage::Binary(bytes)
                    }
                    Message::Text(text) => AgentMessage::Text(text.as_str().into()),
                    Message::Close(_) => break "the browser left".to_owned(),
                    Message::Pong(payload) => {
                        if let Some((count, sent)) = ping_out {
                            if payload[..] == count.to_be_bytes() {
                                server.traffic.round_trip(&session_id, sent.elapsed());
                                ping_out = None;
                            }
                        }
                        continue;
                    }
                    Message::Ping(_) => continue,
                };
                if to_agent.send(forwarded).await.is_err() {
                    break "the instance's stream ended".to_owned();
                }
            }
            message = from_agent.next() => {
                let forwarded = match message {
                    Some(Ok(AgentMessage::Binary(bytes))) => {
                        server.traffic.sent_to_browser(&session_id, bytes.len());
                        Message::Binary(bytes)
                    }
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
            _ = pings.tick() => {
                ping_count += 1;
                ping_out = Some((ping_count, tokio::time::Instant::now()));
                let ping = Message::Ping(ping_count.to_be_bytes().to_vec().into());
                if browser.send(ping).await.is_err() {
                    break "the browser left".to_owned();
                }
            }
            changed = leave.changed() => {
                if changed.is_err() {
                    break "the session ended".to_owned();
                }
                let signal = leave.borrow_and_update().clone();
                if let Some(reason) = signal.leave {
                    // Before the Goodbye: the session goes on, and for how long.
                    if let Some(resume) = signal.resume {
                        let _ = browser.send(notice_message(resume)).await;
                    }
                    break reason;
                }
                let fresh: Vec<Notice> = signal.notices().filter(|n| !told.contains(n)).collect();
                let mut sent = true;
                for notice in fresh {
                    told.push(notice);
                    sent &= browser.send(notice_message(notice)).await.is_ok();
                }
                if !sent {
                    break "the browser left".to_owned();
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

/// A warning as the browser gets it, with the time left from now.
fn notice_message(notice: Notice) -> Message {
    let kind = match notice.kind {
        NoticeKind::SessionEnding => porthole_protocol::NoticeKind::SessionEnding,
        NoticeKind::IdleDisconnect => porthole_protocol::NoticeKind::IdleDisconnect,
        NoticeKind::Disconnected => porthole_protocol::NoticeKind::Disconnected,
        NoticeKind::HomeFolderFull => porthole_protocol::NoticeKind::HomeFolderFull,
        NoticeKind::SessionScriptFailed => porthole_protocol::NoticeKind::SessionScriptFailed,
    };
    let message = porthole_protocol::ServerMessage::Notice {
        kind,
        seconds_left: notice.seconds_left(now()),
        text: notice.kind.message().to_owned(),
    };
    Message::Binary(message.encode().into())
}

/// The background preparations started by page requests, by token, until
/// the page's WebSocket takes its own. The result is shared, so an error (no
/// capacity) is met, and counted, once per page load.
#[derive(Default)]
struct Preparing(StdMutex<HashMap<String, (Instant, Preparation)>>);

type Preparation = Shared<BoxFuture<'static, Result<Prepared, String>>>;

impl Preparing {
    fn start(&self, server: &Arc<Server>, token: &str, grant: StreamingGrant) {
        let server = server.clone();
        let preparation = async move {
            prepare(&server, &grant)
                .await
                .map_err(|err| format!("{err:#}"))
        }
        .boxed()
        .shared();
        // Driven now, whether or not a WebSocket ever comes for it.
        tokio::spawn(preparation.clone());
        let mut pending = self.0.lock().expect("preparing lock");
        // Pages whose WebSocket never came.
        pending.retain(|_, (at, _)| at.elapsed() < START_TIMEOUT);
        pending.insert(token.to_owned(), (Instant::now(), preparation));
    }

    fn take(&self, token: &str) -> Option<Preparation> {
        let taken = self.0.lock().expect("preparing lock").remove(token);
        taken.map(|(_, preparation)| preparation)
    }
}

/// A session made ready for a browser, and how long each step took.
#[derive(Clone)]
struct Prepared {
    session_id: String,
    instance_id: String,
    opened: Duration,
    assigned: Duration,
}

/// Opens (or resumes) the grant's session, waits for its instance and starts
/// its app. Idempotent: the page request runs it in the background so that the
/// app starts while the client loads, and the WebSocket runs it again to find
/// the session (at once, by then).
async fn prepare(server: &Arc<Server>, grant: &StreamingGrant) -> Result<Prepared> {
    let started = tokio::time::Instant::now();
    let (session, effects) = {
        let mut cp = server.plane.lock().await;
        cp.open_session(grant, now())
            .map_err(|err| anyhow::anyhow!(err.message))?
    };
    // Not waited for: the streaming path never waits for a disk write; a
    // session lost in a crash is gone with its instance anyway.
    server.plane.persist_soon().await;
    server.apply(effects).await;
    let opened = started.elapsed();
    let instance_id = wait_until_active(server, &session.id).await?;
    let assigned = started.elapsed();
    // Before the app: it may open files there at once, and the image's scripts set up
    // what it needs (both at once, as AppStream runs them).
    let (attached, ()) = tokio::join!(
        server.attach_home_folder(&session.id),
        server.run_start_scripts(&session.id)
    );
    if attached? {
        tracing::info!(
            session = %session.id,
            attach_ms = (started.elapsed() - assigned).as_secs_f64() * 1000.0,
            "home folder attached"
        );
    }
    launch_app_once(server, &session.id).await?;
    Ok(Prepared {
        session_id: session.id,
        instance_id,
        opened,
        assigned,
    })
}

async fn wait_until_active(server: &Server, session_id: &str) -> Result<String> {
    let timeout = "the session's instance did not start in time";
    server
        .plane
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

/// Starts the URL's application the first time a browser attaches. Without
/// one (or with the desktop) nothing starts: the page shows the catalog.
async fn launch_app_once(server: &Server, session_id: &str) -> Result<()> {
    if !server.session_apps.claim_url_app(session_id) {
        return Ok(());
    }
    let application_id = {
        let cp = server.plane.lock().await;
        let session = cp
            .session(session_id)
            .map_err(|err| anyhow::anyhow!(err.message))?;
        session.application_id.clone()
    };
    match application_id {
        Some(app) if app != porthole_control::DESKTOP_APPLICATION_ID => {
            Ok(catalog::start_app(server, session_id, &app).await?)
        }
        _ => Ok(()),
    }
}

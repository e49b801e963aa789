//! The streaming agent: owns one X display and serves it to browsers.
//!
//! Two ways to run it:
//! - `run_stream`: one app, served over TCP to browsers directly (`porthole stream`);
//! - `run_agent`: inside an instance's sandbox, served over a Unix socket to the
//!   control plane's gateway, with apps launched on request (`porthole agent`).
//!
//! Threads: the X event thread (porthole-x11), the frame pump (capture, plan,
//! encode), and the tokio runtime for sockets and processes.

mod apps;
mod assets;
mod encode;
mod pump;
mod viewer;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::sync::Arc;

use anyhow::{Context, Result};
pub use assets::serve as web_asset;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use axum::{Json, Router};
pub use porthole_x11::ViewMode;
use porthole_x11::{Display, Listen, XServer};
use tokio::process::Child;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::{watch, Mutex};
pub use viewer::goodbye;

use crate::pump::{Pump, PumpInput};
use crate::viewer::Session;

pub struct StreamConfig {
    pub listen: SocketAddr,
    pub width: u32,
    pub height: u32,
    pub view: ViewMode,
    /// The app and its arguments.
    pub command: Vec<String>,
}

pub struct AgentConfig {
    /// The Unix socket to serve on (inside the instance's runtime directory).
    pub socket: PathBuf,
    pub width: u32,
    pub height: u32,
    pub view: ViewMode,
}

/// A running X server with its window manager, event thread and frame pump.
struct LiveDisplay {
    name: String,
    session: Arc<Session>,
    ended: watch::Sender<Option<String>>,
    // Dropped last: stopping Xorg ends the event thread and then the pump.
    xserver: XServer,
}

impl LiveDisplay {
    fn start(
        width: u32,
        height: u32,
        view: ViewMode,
        listen: Listen,
        session_name: String,
    ) -> Result<Self> {
        let xserver =
            XServer::start_with(width, height, listen).context("starting the X server")?;
        let name = xserver.display_name();
        let (display, x_events) = Display::connect(&name, view)
            .with_context(|| format!("connecting to X display {name}"))?;
        let display = Arc::new(display);
        let mirror = display.mirror().context("setting up screen capture")?;

        let (pump_tx, pump_rx) = std::sync::mpsc::channel();
        let forward_tx = pump_tx.clone();
        std::thread::Builder::new()
            .name("x-events".into())
            .spawn(move || {
                for event in x_events {
                    if forward_tx.send(PumpInput::X(event)).is_err() {
                        return;
                    }
                }
            })
            .context("spawning the X event forwarder")?;
        let pump = Pump::new(display.clone(), mirror);
        std::thread::Builder::new()
            .name("frame-pump".into())
            .spawn(move || pump.run(pump_rx))
            .context("spawning the frame pump")?;

        let (ended, ended_rx) = watch::channel(None);
        let session = Arc::new(Session::new(session_name, display, pump_tx, ended_rx));
        Ok(Self {
            name,
            session,
            ended,
            xserver,
        })
    }

    fn xserver_pid(&self) -> u32 {
        self.xserver.pid()
    }

    /// The web client and the streaming socket.
    fn router(&self) -> Router {
        Router::new()
            .route("/ws", get(upgrade))
            .route("/", get(|| async { assets::serve("") }))
            .route(
                "/{*path}",
                get(|Path(path): Path<String>| async move { assets::serve(&path) }),
            )
            .with_state(self.session.clone())
    }

    /// Tells every viewer why the session is over, and gives them a moment to hear it.
    async fn end(&self, reason: String) {
        tracing::info!("{reason}; shutting down");
        let _ = self.ended.send(Some(reason));
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Streams `config.command` until it exits (its status is returned) or until
/// SIGINT/SIGTERM (success). Everything started here is stopped before return.
pub async fn run_stream(config: StreamConfig) -> Result<ExitStatus> {
    apps::adopt_orphans()?;
    let live = LiveDisplay::start(
        config.width,
        config.height,
        config.view,
        Listen::PathAndAbstract,
        session_name(&config.command),
    )?;
    let mut app = apps::spawn(&config.command, &BTreeMap::new(), &live.name)?;

    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("listening on {}", config.listen))?;
    let url = format!(
        "http://{}/",
        listener.local_addr().context("reading the bound address")?
    );
    let listener = listener.tap_io(|tcp| {
        // Small frames (a keystroke's echo) must not wait for Nagle's algorithm.
        let _ = tcp.set_nodelay(true);
    });
    println!("porthole: streaming {} at {url}", config.command.join(" "));
    let live_router = live.router();
    let server = tokio::spawn(async move { axum::serve(listener, live_router).await });

    let mut stop = StopSignals::new()?;
    let (status, reason) = tokio::select! {
        status = app.wait() => {
            let status = status.context("waiting for the app")?;
            (status, format!("the application exited ({status})"))
        }
        reason = stop.recv() => (ExitStatus::default(), reason),
    };
    live.end(reason).await;
    apps::stop(&mut app).await;
    apps::kill_descendants(&[live.xserver_pid()]);
    server.abort();
    Ok(status)
}

/// Serves one instance's display on a Unix socket until SIGINT/SIGTERM.
/// `POST /launch` starts an app; `GET /health` answers once the display is up.
pub async fn run_agent(config: AgentConfig) -> Result<()> {
    apps::adopt_orphans()?;
    // Inside a sandbox: no abstract X socket, which host-network instances would share.
    let live = LiveDisplay::start(
        config.width,
        config.height,
        config.view,
        Listen::PathOnly,
        "instance".into(),
    )?;
    let _ = std::fs::remove_file(&config.socket);
    let listener = tokio::net::UnixListener::bind(&config.socket)
        .with_context(|| format!("listening on {}", config.socket.display()))?;
    let launcher = Arc::new(Launcher {
        display: live.name.clone(),
        apps: Mutex::new(Vec::new()),
    });
    let control = Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/launch", post(launch))
        .with_state(launcher.clone());
    let router = live.router().merge(control);
    let server = tokio::spawn(async move { axum::serve(listener, router).await });
    tracing::info!(socket = %config.socket.display(), display = %live.name, "agent ready");

    let reason = StopSignals::new()?.recv().await;
    live.end(reason).await;
    for app in launcher.apps.lock().await.iter_mut() {
        apps::stop(app).await;
    }
    apps::kill_descendants(&[live.xserver_pid()]);
    server.abort();
    let _ = std::fs::remove_file(&config.socket);
    Ok(())
}

struct Launcher {
    display: String,
    apps: Mutex<Vec<Child>>,
}

#[derive(serde::Deserialize)]
struct LaunchRequest {
    command: Vec<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
}

async fn launch(
    State(launcher): State<Arc<Launcher>>,
    Json(request): Json<LaunchRequest>,
) -> (StatusCode, String) {
    match apps::spawn(&request.command, &request.env, &launcher.display) {
        Ok(child) => {
            let pid = child.id().unwrap_or_default();
            launcher.apps.lock().await.push(child);
            (StatusCode::OK, pid.to_string())
        }
        Err(err) => (StatusCode::BAD_REQUEST, format!("{err:#}")),
    }
}

struct StopSignals {
    term: Signal,
    int: Signal,
}

impl StopSignals {
    fn new() -> Result<Self> {
        Ok(Self {
            term: signal(SignalKind::terminate()).context("installing the SIGTERM handler")?,
            int: signal(SignalKind::interrupt()).context("installing the SIGINT handler")?,
        })
    }

    async fn recv(&mut self) -> String {
        tokio::select! {
            _ = self.term.recv() => "the session was stopped (SIGTERM)".to_owned(),
            _ = self.int.recv() => "the session was stopped (SIGINT)".to_owned(),
        }
    }
}

async fn upgrade(State(session): State<Arc<Session>>, ws: WebSocketUpgrade) -> Response {
    ws.max_message_size(porthole_protocol::MAX_CLIENT_MESSAGE)
        .on_upgrade(move |socket| viewer::serve(socket, session))
}

fn session_name(command: &[String]) -> String {
    command
        .first()
        .and_then(|c| std::path::Path::new(c).file_name())
        .map_or_else(|| "app".to_owned(), |n| n.to_string_lossy().into_owned())
}

//! The streaming agent: owns one X display and serves it to browsers.
//!
//! `run_stream` starts a private X server, the app and a window manager, then
//! serves the web client and the streaming WebSocket until the app exits or
//! the process is told to stop. Threads: the X event thread (porthole-x11),
//! the frame pump (capture, plan, encode), and the tokio runtime for sockets.

mod assets;
mod encode;
mod pump;
mod viewer;

use std::net::SocketAddr;
use std::process::ExitStatus;
use std::sync::Arc;

use anyhow::{Context, Result};
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::get;
use axum::serve::ListenerExt;
use axum::Router;
pub use porthole_x11::ViewMode;
use porthole_x11::{Display, XServer};
use tokio::process::{Child, Command};
use tokio::signal::unix::{signal, SignalKind};

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

/// Streams `config.command` until it exits (its status is returned) or until
/// SIGINT/SIGTERM (success). Everything started here is stopped before return.
pub async fn run_stream(config: StreamConfig) -> Result<ExitStatus> {
    let xserver = XServer::start(config.width, config.height).context("starting the X server")?;
    let display_name = xserver.display_name();
    let (display, x_events) = Display::connect(&display_name, config.view)
        .with_context(|| format!("connecting to X display {display_name}"))?;
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
    let pump_thread = std::thread::Builder::new()
        .name("frame-pump".into())
        .spawn(move || pump.run(pump_rx))
        .context("spawning the frame pump")?;

    let mut app = spawn_app(&config.command, &display_name)?;
    let (ended_tx, ended_rx) = tokio::sync::watch::channel(None);
    let session = Arc::new(Session::new(
        session_name(&config.command),
        display,
        pump_tx,
        ended_rx,
    ));

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

    let router = Router::new()
        .route("/ws", get(upgrade))
        .route("/", get(|| async { assets::serve("") }))
        .route(
            "/{*path}",
            get(|Path(path): Path<String>| async move { assets::serve(&path) }),
        )
        .with_state(session.clone());
    let server = tokio::spawn(async move { axum::serve(listener, router).await });

    let mut sigterm = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut sigint = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let (status, reason) = tokio::select! {
        status = app.wait() => {
            let status = status.context("waiting for the app")?;
            (status, format!("the application exited ({status})"))
        }
        _ = sigterm.recv() => (ExitStatus::default(), "the session was stopped (SIGTERM)".to_owned()),
        _ = sigint.recv() => (ExitStatus::default(), "the session was stopped (SIGINT)".to_owned()),
    };
    tracing::info!("{reason}; shutting down");
    let _ = ended_tx.send(Some(reason));
    stop_app(&mut app).await;
    // Give viewers a moment to receive their Goodbye before the socket goes.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    server.abort();
    drop(session);
    drop(pump_thread);
    drop(xserver);
    Ok(status)
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

/// The app runs in its own process group so that stopping it reaches its children too.
fn spawn_app(command: &[String], display: &str) -> Result<Child> {
    let (program, args) = command.split_first().context("no app command given")?;
    Command::new(program)
        .args(args)
        .env("DISPLAY", display)
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {program}"))
}

async fn stop_app(app: &mut Child) {
    if let Some(pid) = app.id() {
        let group = rustix::process::Pid::from_raw(pid as i32);
        if let Some(group) = group {
            let _ = rustix::process::kill_process_group(group, rustix::process::Signal::TERM);
        }
        if tokio::time::timeout(std::time::Duration::from_secs(2), app.wait())
            .await
            .is_err()
        {
            let _ = app.kill().await;
        }
        if let Some(group) = group {
            let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
        }
    }
}

//! The streaming agent: owns one X display and serves it to browsers.
//!
//! Two ways to run it:
//! - `run_stream`: one app, served over TCP to browsers directly (`porthole stream`);
//! - `run_agent`: inside an instance's sandbox, served over a Unix socket to the
//!   control plane's gateway, with apps launched on request (`porthole agent`);
//!   the socket's control API is porthole-agent-api's.
//!
//! Threads: the X event thread (porthole-x11), the frame pump (capture, plan,
//! encode), and the tokio runtime for sockets and processes.

mod apps;
mod desktop;
mod encode;
mod pump;
mod viewer;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::sync::Arc;

use anyhow::{Context, Result};
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use axum::{Json, Router};
use porthole_agent_api::{
    AgentError, LaunchRequest, Launched, Ran, RunRequest, StartFailure, HEALTH_PATH, LAUNCH_PATH,
    RUN_PATH, STREAM_PATH,
};
pub use porthole_x11::ViewMode;
use porthole_x11::{Display, Listen, XServer};
use tokio::process::Child;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::{watch, Mutex};

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
            .route(STREAM_PATH, get(upgrade))
            .route("/", get(|| async { porthole_web_client::asset("") }))
            .route(
                "/{*path}",
                get(|Path(path): Path<String>| async move { porthole_web_client::asset(&path) }),
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
    let mut app = apps::spawn(&config.command, None, &BTreeMap::new(), &live.name)?;

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

/// Serves one instance's display on a Unix socket until SIGINT/SIGTERM, with the
/// control API of porthole-agent-api. If it cannot start, it says why in a
/// [`StartFailure`] beside the socket for the server to read.
pub async fn run_agent(config: AgentConfig) -> Result<()> {
    let started = start_agent(&config).await;
    if let Err(err) = &started {
        if let Some(runtime_dir) = config.socket.parent() {
            let failure = StartFailure {
                message: format!("{err:#}"),
            };
            if let Err(write_err) = failure.write(runtime_dir) {
                tracing::warn!("cannot write the start-failure report: {write_err}");
            }
        }
    }
    let (live, launcher, server) = started?;
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

type ServeTask = tokio::task::JoinHandle<std::io::Result<()>>;

async fn start_agent(config: &AgentConfig) -> Result<(LiveDisplay, Arc<Launcher>, ServeTask)> {
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
    let router = live.router().merge(control_routes(launcher.clone()));
    let server = tokio::spawn(async move { axum::serve(listener, router).await });
    tracing::info!(socket = %config.socket.display(), display = %live.name, "agent ready");
    Ok((live, launcher, server))
}

/// The control API the server's `AgentClient` speaks (porthole-agent-api).
fn control_routes(launcher: Arc<Launcher>) -> Router {
    Router::new()
        .route(HEALTH_PATH, get(|| async { "ok" }))
        .route(LAUNCH_PATH, post(launch))
        .route(RUN_PATH, post(run))
        .with_state(launcher)
}

struct Launcher {
    display: String,
    apps: Mutex<Vec<Child>>,
}

async fn launch(
    State(launcher): State<Arc<Launcher>>,
    Json(request): Json<LaunchRequest>,
) -> Result<Json<Launched>, (StatusCode, Json<AgentError>)> {
    let (command, cwd) = app_command(&request.command, request.working_directory.as_deref());
    let child =
        apps::spawn(&command, cwd.as_deref(), &request.env, &launcher.display).map_err(refused)?;
    let pid = child.id().unwrap_or_default();
    launcher.apps.lock().await.push(child);
    Ok(Json(Launched { pid }))
}

async fn run(
    State(launcher): State<Arc<Launcher>>,
    Json(request): Json<RunRequest>,
) -> Result<Json<Ran>, (StatusCode, Json<AgentError>)> {
    let launch = &request.launch;
    let (command, cwd) = app_command(&launch.command, launch.working_directory.as_deref());
    let limit = std::time::Duration::from_secs(request.limit_secs);
    let output = apps::run(
        &command,
        cwd.as_deref(),
        &launch.env,
        &launcher.display,
        limit,
    )
    .await
    .map_err(refused)?;
    Ok(Json(match output {
        Some(output) => Ran {
            code: output.status.code(),
            timed_out: false,
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        },
        None => Ran {
            code: None,
            timed_out: true,
            stdout: String::new(),
            stderr: String::new(),
        },
    }))
}

fn refused(err: anyhow::Error) -> (StatusCode, Json<AgentError>) {
    (
        StatusCode::BAD_REQUEST,
        Json(AgentError {
            message: format!("{err:#}"),
        }),
    )
}

/// The command starting an app, and the directory to start it in. On an image that is
/// not the host's, apps run on the image's root (the sandbox says so in the
/// environment): through this executable's `enter-root`, which moves to the working
/// directory itself once inside the image. The executable is named by the path the
/// sandbox binds it to (see porthole_sandbox::AGENT_EXE), not by /proc/self/exe.
fn app_command(
    command: &[String],
    working_directory: Option<&str>,
) -> (Vec<String>, Option<PathBuf>) {
    match std::env::var_os(porthole_sandbox::APP_ROOT_ENV) {
        Some(spec) => (
            porthole_sandbox::app_command(
                std::path::Path::new(porthole_sandbox::AGENT_EXE),
                command,
                working_directory,
                &spec.to_string_lossy(),
            ),
            None,
        ),
        _ => (
            command.to_vec(),
            working_directory
                .map(|dir| porthole_sandbox::app_working_directory(Some(dir.as_ref()))),
        ),
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

#[cfg(test)]
mod tests {
    use super::*;
    use porthole_agent_api::client::AgentClient;

    /// The agent's control routes on a real Unix socket, and the server's client.
    async fn control_api() -> (tempfile::TempDir, AgentClient) {
        let (dir, client, _) = control_api_with_launcher().await;
        (dir, client)
    }

    async fn control_api_with_launcher() -> (tempfile::TempDir, AgentClient, Arc<Launcher>) {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join(porthole_agent_api::SOCKET);
        let listener = tokio::net::UnixListener::bind(&socket).unwrap();
        let launcher = Arc::new(Launcher {
            // Nothing launched here needs a display.
            display: ":none".into(),
            apps: Mutex::new(Vec::new()),
        });
        let routes = control_routes(launcher.clone());
        tokio::spawn(async move { axum::serve(listener, routes).await });
        (dir, AgentClient::new(socket), launcher)
    }

    /// Launches `sh -c 'pwd > OUT'` in `working_directory` and answers what it wrote,
    /// once it has exited.
    async fn launched_apps_directory(working_directory: Option<String>) -> String {
        let (dir, client, launcher) = control_api_with_launcher().await;
        let out = dir.path().join("pwd.txt");
        client
            .launch(&LaunchRequest {
                command: vec![
                    "/bin/sh".into(),
                    "-c".into(),
                    format!("pwd > {}", out.display()),
                ],
                env: BTreeMap::new(),
                working_directory,
            })
            .await
            .unwrap();
        let status = launcher.apps.lock().await[0].wait().await.unwrap();
        assert!(status.success(), "{status}");
        std::fs::read_to_string(out).unwrap().trim_end().to_owned()
    }

    #[tokio::test]
    async fn an_app_starts_in_its_working_directory() {
        let work = tempfile::tempdir().unwrap();
        let work = work.path().canonicalize().unwrap();
        let seen = launched_apps_directory(Some(work.display().to_string())).await;
        assert_eq!(seen, work.display().to_string());
    }

    #[tokio::test]
    async fn an_app_whose_working_directory_is_missing_starts_in_home() {
        let home = std::env::var("HOME").unwrap();
        let seen = launched_apps_directory(Some("/no/such/directory".into())).await;
        assert_eq!(
            std::path::Path::new(&seen).canonicalize().unwrap(),
            std::path::Path::new(&home).canonicalize().unwrap()
        );
    }

    #[tokio::test]
    async fn the_client_hears_health_and_a_launched_apps_pid() {
        let (_dir, client) = control_api().await;
        client.health().await.unwrap();
        let launched = client
            .launch(&LaunchRequest {
                command: vec!["/bin/sh".into(), "-c".into(), "exit 0".into()],
                env: BTreeMap::from([("AppStream_Stack_Name".into(), "s".into())]),
                working_directory: None,
            })
            .await
            .unwrap();
        assert!(launched.pid > 0, "{launched:?}");
    }

    #[tokio::test]
    async fn a_failed_launch_reaches_the_client_as_the_agents_error() {
        let (_dir, client) = control_api().await;
        let err = client
            .launch(&LaunchRequest {
                command: vec!["/nonexistent/app".into()],
                env: BTreeMap::new(),
                working_directory: None,
            })
            .await
            .unwrap_err();
        let message = format!("{err:#}");
        assert!(message.contains("could not start the app"), "{message}");
        assert!(message.contains("/nonexistent/app"), "{message}");
    }

    fn run_request(command: &[&str], limit_secs: u64) -> RunRequest {
        RunRequest {
            launch: LaunchRequest {
                command: command.iter().map(|arg| arg.to_string()).collect(),
                env: BTreeMap::new(),
                working_directory: None,
            },
            limit_secs,
        }
    }

    #[tokio::test]
    async fn a_run_answers_the_commands_exit_code_and_output() {
        let (_dir, client) = control_api().await;
        let ran = client
            .run(&run_request(
                &["/bin/sh", "-c", "echo out; echo err >&2; exit 3"],
                30,
            ))
            .await
            .unwrap();
        assert_eq!(
            ran,
            Ran {
                code: Some(3),
                timed_out: false,
                stdout: "out\n".into(),
                stderr: "err\n".into()
            }
        );
        let err = client
            .run(&run_request(&["/nonexistent/tool"], 30))
            .await
            .unwrap_err();
        assert!(format!("{err:#}").contains("/nonexistent/tool"), "{err:#}");
    }

    #[tokio::test]
    async fn a_run_past_its_limit_is_stopped_with_what_it_started() {
        let (dir, client) = control_api().await;
        let pid_file = dir.path().join("child.pid");
        let script = format!("sleep 30 & echo $! > {}; wait", pid_file.display());
        let ran = client
            .run(&run_request(&["/bin/sh", "-c", &script], 1))
            .await
            .unwrap();
        assert!(ran.timed_out && ran.code.is_none(), "{ran:?}");
        // The background sleep was in the script's process group: killed with it.
        let pid: i32 = std::fs::read_to_string(&pid_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let pid = rustix::process::Pid::from_raw(pid).unwrap();
        let gone = (0..100).any(|_| {
            std::thread::sleep(std::time::Duration::from_millis(20));
            rustix::process::test_kill_process(pid).is_err()
                || std::fs::read_to_string(format!("/proc/{}/stat", pid.as_raw_nonzero()))
                    .is_ok_and(|stat| stat.contains(") Z "))
        });
        assert!(gone, "the script's child outlived its time limit");
    }

    #[tokio::test]
    async fn no_agent_on_the_socket_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join(porthole_agent_api::SOCKET);
        let err = AgentClient::new(&socket).health().await.unwrap_err();
        assert!(format!("{err:#}").contains(&*socket.to_string_lossy()));
    }
}

//! Running instances: each is a sandbox (porthole-sandbox) running
//! `porthole agent` on a Unix socket in its runtime directory. This module
//! starts them, waits until their agent answers, launches apps in them, and
//! stops them; it reports nothing to the control plane itself — callers do.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use porthole_control::{LaunchSpec, StreamView};
use porthole_sandbox::{ImageRoot, InstanceSpec, Limits, Network, UidPool, RUNTIME_MOUNT};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::sync::oneshot;

/// How long an instance may take from launch to an answering agent.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
const AGENT_SOCKET: &str = "agent.sock";
/// Where the agent executable appears inside a sandbox (on its private /run).
const AGENT_EXE_INSIDE: &str = "/run/porthole-agent";
/// Processes and threads per instance: X server, agent, apps.
const MAX_PIDS: u32 = 2048;

pub struct Instances {
    pool: UidPool,
    runtime_root: PathBuf,
    /// Paths an instance must never see (the server's data directory).
    hidden: Vec<PathBuf>,
    porthole_exe: PathBuf,
    /// Running instances: a way to ask each one's supervising task to stop it.
    running: Mutex<HashMap<String, oneshot::Sender<()>>>,
    /// Instances not yet cleaned up, and a wake-up when that number changes.
    alive: tokio::sync::watch::Sender<usize>,
}

/// How an instance ended, for the control plane.
pub enum Ended {
    /// It never became ready.
    Failed(anyhow::Error),
    /// It ran and is gone now.
    Exited,
}

impl Instances {
    pub fn new(runtime_root: PathBuf, hidden: Vec<PathBuf>) -> Result<Self> {
        std::fs::create_dir_all(&runtime_root)
            .with_context(|| format!("creating {}", runtime_root.display()))?;
        // Instances' own uids must traverse it to reach their runtime directories.
        set_mode(&runtime_root, 0o711)?;
        let porthole_exe = agent_executable(&runtime_root)?;
        Ok(Self {
            pool: UidPool::default(),
            runtime_root,
            hidden,
            porthole_exe,
            running: Mutex::new(HashMap::new()),
            alive: tokio::sync::watch::channel(0).0,
        })
    }

    pub fn socket_path(&self, instance_id: &str) -> PathBuf {
        self.runtime_root.join(instance_id).join(AGENT_SOCKET)
    }

    /// Starts the instance and supervises it: `ready` fires once its agent
    /// answers (or with the launch error); the returned future resolves when
    /// the instance has ended, however that happened.
    pub async fn run(&self, spec: LaunchSpec, ready: oneshot::Sender<Result<()>>) -> Ended {
        let (stop_tx, stop_rx) = oneshot::channel();
        self.running
            .lock()
            .expect("instances lock")
            .insert(spec.instance_id.clone(), stop_tx);
        let ended = self.supervise(&spec, ready, stop_rx).await;
        self.running
            .lock()
            .expect("instances lock")
            .remove(&spec.instance_id);
        ended
    }

    async fn supervise(
        &self,
        spec: &LaunchSpec,
        ready: oneshot::Sender<Result<()>>,
        stop: oneshot::Receiver<()>,
    ) -> Ended {
        let mut instance = match self.launch(spec) {
            Ok(instance) => instance,
            Err(err) => {
                let _ = ready.send(Err(anyhow::anyhow!("{err:#}")));
                return Ended::Failed(err);
            }
        };
        let socket = self.socket_path(&spec.instance_id);
        let became_ready = tokio::select! {
            result = wait_for_agent(&socket) => result,
            status = instance.wait() => Err(anyhow::anyhow!("the instance exited while starting: {status:?}")),
        };
        if let Err(err) = became_ready {
            instance.terminate().await;
            let _ = ready.send(Err(anyhow::anyhow!("{err:#}")));
            return Ended::Failed(err);
        }
        let _ = ready.send(Ok(()));
        tokio::select! {
            _ = instance.wait() => tracing::info!(instance = %spec.instance_id, "instance exited"),
            _ = stop => tracing::info!(instance = %spec.instance_id, "stopping instance"),
        }
        instance.terminate().await;
        // Kept only when something went wrong (see the early returns above).
        let _ = std::fs::remove_file(self.log_path(&spec.instance_id));
        Ended::Exited
    }

    fn log_path(&self, instance_id: &str) -> PathBuf {
        self.runtime_root.join(format!("{instance_id}.log"))
    }

    fn launch(&self, spec: &LaunchSpec) -> Result<porthole_sandbox::Instance> {
        let lease = self
            .pool
            .acquire()
            .context("allocating a uid for the instance")?;
        let runtime_dir = self.runtime_root.join(&spec.instance_id);
        let view = match spec.stream_view {
            StreamView::App => "app",
            StreamView::Desktop => "desktop",
        };
        let sandbox_spec = InstanceSpec {
            id: spec.instance_id.clone(),
            uid: lease.uid(),
            gid: lease.gid(),
            root: match spec.root {
                porthole_control::ImageRoot::Host => ImageRoot::Host,
            },
            runtime_dir: runtime_dir.clone(),
            home_dir: None,
            hide: self.hidden.clone(),
            read_only: vec![(self.porthole_exe.clone(), PathBuf::from(AGENT_EXE_INSIDE))],
            limits: Limits {
                cpu_millis: (spec.instance_type.vcpus * 1000.0) as u32,
                memory_bytes: u64::from(spec.instance_type.memory_mib) * 1024 * 1024,
                pids: MAX_PIDS,
            },
            network: if spec.network {
                Network::Host
            } else {
                Network::None
            },
            env: vec![("PORTHOLE_LOG".into(), "info".into())],
            command: vec![
                AGENT_EXE_INSIDE.into(),
                "agent".into(),
                "--socket".into(),
                format!("{RUNTIME_MOUNT}/{AGENT_SOCKET}"),
                "--view".into(),
                view.into(),
            ],
            log_file: Some(self.log_path(&spec.instance_id)),
        };
        let mut instance = porthole_sandbox::launch(&sandbox_spec)
            .with_context(|| format!("launching instance {}", spec.instance_id))?;
        instance.hold(lease);
        Ok(instance)
    }

    /// Asks a running instance to stop; false when it is not running here.
    pub fn stop(&self, instance_id: &str) -> bool {
        match self
            .running
            .lock()
            .expect("instances lock")
            .remove(instance_id)
        {
            Some(stop) => stop.send(()).is_ok(),
            None => false,
        }
    }

    /// Stops every instance and waits (up to `limit`) until all are cleaned up.
    pub async fn stop_all(&self, limit: Duration) {
        let stops: Vec<_> = self
            .running
            .lock()
            .expect("instances lock")
            .drain()
            .collect();
        for (_, stop) in stops {
            let _ = stop.send(());
        }
        let mut alive = self.alive.subscribe();
        let _ = tokio::time::timeout(limit, alive.wait_for(|n| *n == 0)).await;
    }

    /// Starts an app in the instance's session.
    pub async fn launch_app(
        &self,
        instance_id: &str,
        command: Vec<String>,
        env: Vec<(String, String)>,
    ) -> Result<()> {
        let body = serde_json::json!({ "command": command, "env": env.into_iter().collect::<HashMap<_, _>>() });
        let (status, text) = agent_request(
            &self.socket_path(instance_id),
            "POST",
            "/launch",
            &body.to_string(),
        )
        .await?;
        if status != 200 {
            bail!("the agent could not start the app: {text}");
        }
        Ok(())
    }
}

/// A copy of this executable that every instance uid can run: the original
/// may live where they cannot reach it (a build under /root, say).
fn agent_executable(runtime_root: &Path) -> Result<PathBuf> {
    let exe = std::env::current_exe().context("finding the porthole executable")?;
    let copy = runtime_root.join("porthole-agent");
    let staging = runtime_root.join(format!(".porthole-agent.{}", std::process::id()));
    std::fs::copy(&exe, &staging)
        .with_context(|| format!("copying {} for instances", exe.display()))?;
    set_mode(&staging, 0o755)?;
    // Renamed into place: instances still starting from an older copy keep theirs.
    std::fs::rename(&staging, &copy).with_context(|| format!("installing {}", copy.display()))?;
    Ok(copy)
}

async fn wait_for_agent(socket: &Path) -> Result<()> {
    let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
    loop {
        if let Ok((200, _)) = agent_request(socket, "GET", "/health", "").await {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            bail!("the instance's agent did not answer within {READY_TIMEOUT:?}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// One HTTP/1.1 request to the agent over its Unix socket.
async fn agent_request(
    socket: &Path,
    method: &str,
    path: &str,
    body: &str,
) -> Result<(u16, String)> {
    let mut stream = UnixStream::connect(socket)
        .await
        .with_context(|| format!("connecting to {}", socket.display()))?;
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: agent\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .context("malformed response from the agent")?;
    let text = response
        .split_once("\r\n\r\n")
        .map_or("", |(_, body)| body)
        .to_owned();
    Ok((status, text))
}

fn set_mode(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("setting the mode of {}", path.display()))
}

//! Running instances: each is a sandbox (porthole-sandbox) running
//! `porthole agent` on a Unix socket in its runtime directory. This module
//! starts them, waits until their agent answers, launches apps in them, and
//! stops them; it reports nothing to the control plane itself — callers do.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use porthole_agent_api::client::AgentClient;
use porthole_agent_api::{LaunchRequest, Ran, RunRequest, StartFailure};
use porthole_control::{LaunchSpec, StreamView};
use porthole_sandbox::{
    ImageRoot, InstanceSpec, Limits, Network, UidPool, AGENT_EXE, RUNTIME_MOUNT,
};
use tokio::sync::oneshot;

/// How long an instance may take from launch to an answering agent.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// Processes and threads per instance: X server, agent, apps.
const MAX_PIDS: u32 = 2048;
/// Test-only: `TYPE=MIB` gives instances of that type a memory limit too small to start,
/// so the API tests can run a fleet that really fails. Never set in production.
const TEST_MEMORY_ENV: &str = "PORTHOLE_TEST_INSTANCE_TYPE_MEMORY_MIB";
/// Lines of a failed instance's log quoted in the server's log (for the operator;
/// the admin hears the agent's own [`StartFailure`]).
const LOG_TAIL_LINES: usize = 20;

pub struct Instances {
    pool: UidPool,
    runtime_root: PathBuf,
    /// Paths an instance must never see (the server's data directory).
    hidden: Vec<PathBuf>,
    /// Where the layers of images that are not the host's are (image_store.rs).
    image_store: PathBuf,
    agent: crate::agent_copy::AgentCopy,
    /// Running instances: a way to ask each one's supervising task to stop it.
    running: Mutex<HashMap<String, oneshot::Sender<()>>>,
    /// The uid and sandbox pid of launched instances, for attaching folders to them.
    launched: Mutex<HashMap<String, Launched>>,
    /// Instances not yet cleaned up, and a wake-up when that number changes.
    alive: tokio::sync::watch::Sender<usize>,
    /// Failed launches per fleet since the server started (a Prometheus counter).
    launch_failures: Mutex<BTreeMap<String, u64>>,
    /// See [`TEST_MEMORY_ENV`].
    test_memory: Option<(String, u32)>,
}

/// How an instance ended, for the control plane.
pub enum Ended {
    /// It never became ready: why, fit for an admin's eyes (FleetErrors).
    Failed(String),
    /// It ran and is gone now.
    Exited,
}

impl Instances {
    /// `hidden`: paths instances must never see (the runtime root is added: other
    /// instances' sockets and attached folders are there).
    pub fn new(
        runtime_root: PathBuf,
        mut hidden: Vec<PathBuf>,
        image_store: PathBuf,
    ) -> Result<Self> {
        std::fs::create_dir_all(&runtime_root)
            .with_context(|| format!("creating {}", runtime_root.display()))?;
        // Instances' own uids must traverse it to reach their runtime directories.
        set_mode(&runtime_root, 0o711)?;
        // Instances of a previous run are never resumed (the plane ends their sessions).
        remove_leftovers(&runtime_root)?;
        let agent = crate::agent_copy::install(&runtime_root)?;
        hidden.push(runtime_root.clone());
        let test_memory = std::env::var(TEST_MEMORY_ENV).ok().and_then(|v| {
            let (itype, mib) = v.split_once('=')?;
            tracing::warn!("{TEST_MEMORY_ENV}: {itype} instances get {mib} MiB (test setting)");
            Some((itype.to_owned(), mib.parse().ok()?))
        });
        Ok(Self {
            pool: UidPool::default(),
            runtime_root,
            hidden,
            image_store,
            agent,
            running: Mutex::new(HashMap::new()),
            launched: Mutex::new(HashMap::new()),
            alive: tokio::sync::watch::channel(0).0,
            launch_failures: Mutex::new(BTreeMap::new()),
            test_memory,
        })
    }

    /// Failed launches per fleet, for /metrics.
    pub fn launch_failures(&self) -> BTreeMap<String, u64> {
        self.launch_failures.lock().expect("instances lock").clone()
    }

    pub fn socket_path(&self, instance_id: &str) -> PathBuf {
        self.runtime_root
            .join(instance_id)
            .join(porthole_agent_api::SOCKET)
    }

    /// Starts the instance and supervises it: `ready` fires once its agent
    /// answers (dropped if it never does); the returned future resolves when
    /// the instance has ended, however that happened.
    pub async fn run(&self, spec: LaunchSpec, ready: oneshot::Sender<()>) -> Ended {
        let (stop_tx, stop_rx) = oneshot::channel();
        self.running
            .lock()
            .expect("instances lock")
            .insert(spec.instance_id.clone(), stop_tx);
        self.alive.send_modify(|n| *n += 1);
        let ended = match self.supervise(&spec, ready, stop_rx).await {
            Ok(()) => Ended::Exited,
            Err(err) => {
                *self
                    .launch_failures
                    .lock()
                    .expect("instances lock")
                    .entry(spec.fleet.clone())
                    .or_default() += 1;
                Ended::Failed(self.failure_report(&spec, &err))
            }
        };
        self.running
            .lock()
            .expect("instances lock")
            .remove(&spec.instance_id);
        self.launched
            .lock()
            .expect("instances lock")
            .remove(&spec.instance_id);
        self.alive.send_modify(|n| *n -= 1);
        ended
    }

    /// Logs a failed launch once, with the tail of the instance's log (then removed: a
    /// fleet that keeps failing must not fill the disk), and returns the admin's message.
    fn failure_report(&self, spec: &LaunchSpec, err: &anyhow::Error) -> String {
        let log = self.log_path(&spec.instance_id);
        let tail = log_tail(&log, LOG_TAIL_LINES);
        let _ = std::fs::remove_file(&log);
        tracing::error!(
            instance = %spec.instance_id,
            fleet = %spec.fleet,
            instance_type = spec.instance_type.name,
            "instance failed to start: {err:#}; its log ends with:\n{tail}"
        );
        let mut message = format!("{err:#}");
        // Paths of the server's own directories are none of the admin's API business.
        for dir in self.hidden.iter().chain([&self.runtime_root]) {
            message = message.replace(&*dir.to_string_lossy(), "…");
        }
        message.chars().take(500).collect()
    }

    /// Ok once the instance ran and is gone; the error when it never became ready.
    async fn supervise(
        &self,
        spec: &LaunchSpec,
        ready: oneshot::Sender<()>,
        mut stop: oneshot::Receiver<()>,
    ) -> Result<()> {
        let mut instance = match self.launch(spec) {
            Ok(instance) => instance,
            // Dropping `ready` tells the waiter it never will be.
            Err(err) => return Err(err),
        };
        let agent = AgentClient::new(self.socket_path(&spec.instance_id));
        let became_ready = tokio::select! {
            result = wait_for_agent(&agent) => result.map(|()| true),
            status = instance.wait() => Err(match status {
                Ok(status) => anyhow::anyhow!("the instance exited while starting ({status})"),
                Err(err) => err.context("the instance exited while starting"),
            }),
            // Stopped while starting (shutdown, fleet stopped): not a failure.
            _ = &mut stop => Ok(false),
        };
        match became_ready {
            Err(err) => {
                // Read before the sandbox's directories are removed.
                let failure = StartFailure::read(&self.runtime_root.join(&spec.instance_id));
                instance.terminate().await;
                return Err(match failure {
                    Some(failure) => anyhow::anyhow!("{err:#}: {}", failure.message),
                    None => err,
                });
            }
            Ok(true) => {
                if let Err(err) = self.attach_image(spec, &instance) {
                    instance.terminate().await;
                    return Err(err);
                }
                let _ = ready.send(());
                tokio::select! {
                    _ = instance.wait() => tracing::info!(instance = %spec.instance_id, "instance exited"),
                    _ = stop => tracing::info!(instance = %spec.instance_id, "stopping instance"),
                }
            }
            Ok(false) => {
                tracing::info!(instance = %spec.instance_id, "stopping a starting instance");
                instance.kill().await;
            }
        }
        instance.terminate().await;
        let _ = std::fs::remove_file(self.log_path(&spec.instance_id));
        Ok(())
    }

    fn log_path(&self, instance_id: &str) -> PathBuf {
        self.runtime_root.join(format!("{instance_id}.log"))
    }

    /// The instance's temporary files (`~/MyFiles/TemporaryFiles` inside), owned by
    /// its uid; None unless it runs here.
    pub fn temporary_files(&self, instance_id: &str) -> Option<(PathBuf, u32)> {
        let (uid, runtime_dir) = self.runtime(instance_id)?;
        Some((runtime_dir.join(porthole_sandbox::TEMPORARY_FILES_DIR), uid))
    }

    /// The running instance's uid and its runtime directory (on the host).
    pub fn runtime(&self, instance_id: &str) -> Option<(u32, PathBuf)> {
        let uid = self
            .launched
            .lock()
            .expect("instances lock")
            .get(instance_id)?
            .uid;
        Some((uid, self.runtime_root.join(instance_id)))
    }

    /// Mounts `folder` at `~/MyFiles/HomeFolder` in the running instance, its files the
    /// instance uid's (id-mapped); read-only replaces a writable one and back.
    pub fn attach_folder(&self, instance_id: &str, folder: &Path, read_only: bool) -> Result<()> {
        let Launched { uid, pid } = *self
            .launched
            .lock()
            .expect("instances lock")
            .get(instance_id)
            .with_context(|| format!("instance {instance_id} is not running here"))?;
        porthole_sandbox::attach_folder(pid, folder, uid, uid, read_only)
    }

    fn launch(&self, spec: &LaunchSpec) -> Result<porthole_sandbox::Instance> {
        let lease = self
            .pool
            .acquire()
            .context("allocating a uid for the instance")?;
        let runtime_dir = self.runtime_root.join(&spec.instance_id);
        let memory_mib = match &self.test_memory {
            Some((itype, mib)) if itype == spec.instance_type.name => *mib,
            _ => spec.instance_type.memory_mib,
        };
        let view = match spec.stream_view {
            StreamView::App => "app",
            StreamView::Desktop => "desktop",
        };
        let sandbox_spec = InstanceSpec {
            id: spec.instance_id.clone(),
            uid: lease.uid(),
            gid: lease.gid(),
            root: self.image_root(spec)?,
            runtime_dir: runtime_dir.clone(),
            home_dir: None,
            hide: self.hidden.clone(),
            read_only: vec![(self.agent.path.clone(), PathBuf::from(AGENT_EXE))],
            limits: Limits {
                cpu_millis: (spec.instance_type.vcpus * 1000.0) as u32,
                memory_bytes: u64::from(memory_mib) * 1024 * 1024,
                pids: MAX_PIDS,
            },
            // Internet access, not the host's loopback services (admin API).
            network: if spec.network {
                Network::Private
            } else {
                Network::None
            },
            env: vec![("PORTHOLE_LOG".into(), "info".into())],
            command: vec![
                AGENT_EXE.into(),
                "agent".into(),
                "--socket".into(),
                format!("{RUNTIME_MOUNT}/{}", porthole_agent_api::SOCKET),
                "--view".into(),
                view.into(),
            ],
            log_file: Some(self.log_path(&spec.instance_id)),
        };
        let mut instance = porthole_sandbox::launch(&sandbox_spec)
            .with_context(|| format!("launching instance {}", spec.instance_id))?;
        self.launched.lock().expect("instances lock").insert(
            spec.instance_id.clone(),
            Launched {
                uid: lease.uid(),
                pid: instance.pid(),
            },
        );
        instance.hold(lease);
        Ok(instance)
    }

    /// Mounts the image's layers into the instance, before any app runs on them.
    fn attach_image(&self, spec: &LaunchSpec, instance: &porthole_sandbox::Instance) -> Result<()> {
        let ImageRoot::Layers {
            layers,
            builder_layer,
            on_host,
        } = self.image_root(spec)?
        else {
            return Ok(());
        };
        let uid = self
            .launched
            .lock()
            .expect("instances lock")
            .get(&spec.instance_id)
            .map(|l| l.uid)
            .context("the instance is not running")?;
        porthole_sandbox::attach_image(
            instance.pid(),
            &layers,
            builder_layer.as_deref(),
            on_host,
            &self.hidden,
            uid,
            uid,
        )
        .with_context(|| format!("attaching the image {} to the instance", spec.image))
    }

    /// The sandbox's view of an image root: layer ids become the image store's directories.
    fn image_root(&self, spec: &LaunchSpec) -> Result<ImageRoot> {
        let builder_layer = spec
            .writable_layer
            .as_deref()
            .map(|id| crate::image_store::writable_layer(&self.image_store, id))
            .transpose()?;
        Ok(match &spec.root {
            porthole_control::ImageRoot::Host => ImageRoot::Host,
            porthole_control::ImageRoot::Layers { on_host, layers } => ImageRoot::Layers {
                on_host: *on_host,
                layers: layers
                    .iter()
                    .map(|id| {
                        anyhow::ensure!(
                            porthole_control::image::is_layer_id(id),
                            "{id:?} is not a layer of the image store"
                        );
                        Ok(self.image_store.join(id))
                    })
                    .collect::<Result<_>>()?,
                builder_layer,
            },
        })
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
    pub async fn launch_app(&self, instance_id: &str, request: &LaunchRequest) -> Result<()> {
        AgentClient::new(self.socket_path(instance_id))
            .launch(request)
            .await
            .map(drop)
    }

    /// Runs a command in the instance, as its apps run, to its end or to `limit` (one of
    /// the server's tools, or a session script).
    pub async fn run_command(
        &self,
        instance_id: &str,
        launch: LaunchRequest,
        limit: std::time::Duration,
    ) -> Result<Ran> {
        let request = RunRequest {
            launch,
            limit_secs: limit.as_secs(),
        };
        AgentClient::new(self.socket_path(instance_id))
            .run(&request)
            .await
    }
}

/// An instance as folders are attached to it.
#[derive(Clone, Copy)]
struct Launched {
    uid: u32,
    /// Its outer bwrap's.
    pid: u32,
}

/// Whether `name` (in the runtime root) belongs to an instance: its directory or its log.
/// The plane's instance ids are "i-" and 16 hex digits; nothing else is touched.
fn instance_id_of(name: &str) -> Option<&str> {
    let id = name.strip_suffix(".log").unwrap_or(name);
    let hex = id.strip_prefix("i-")?;
    (hex.len() == 16 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then_some(id)
}

/// Removes what instances of a previous server run left in the runtime root after a
/// kill -9 or a crash: runtime directories, logs, cgroups, and processes should any have
/// survived. Instances another live server supervises on the same root are left alone.
fn remove_leftovers(runtime_root: &Path) -> Result<()> {
    let entries = std::fs::read_dir(runtime_root)
        .with_context(|| format!("reading {}", runtime_root.display()))?;
    let mut ids: Vec<String> = entries
        .flatten()
        .filter_map(|e| instance_id_of(&e.file_name().to_string_lossy()).map(str::to_owned))
        .collect();
    ids.sort();
    ids.dedup();
    let (mut removed, mut killed) = (0, 0);
    for id in ids {
        let dir = runtime_root.join(&id);
        match porthole_sandbox::remove_leftover(&id, &dir) {
            Ok(porthole_sandbox::Leftover::Supervised) => {
                tracing::info!(instance = %id, "left alone: another server runs it");
                continue;
            }
            Ok(porthole_sandbox::Leftover::Killed(n)) => killed += n,
            Ok(porthole_sandbox::Leftover::Removed) => {}
            Err(err) => {
                tracing::warn!(instance = %id, "cannot remove a leftover instance: {err:#}");
                continue;
            }
        }
        let _ = std::fs::remove_file(runtime_root.join(format!("{id}.log")));
        removed += 1;
    }
    if removed > 0 {
        tracing::info!(
            "removed {removed} leftover instance(s) of a previous run ({killed} process(es) killed)"
        );
    }
    Ok(())
}

/// The last `lines` lines of a log, without ANSI colors should it have any
/// (the agent writes none to a file; an older binary did).
fn log_tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read(path).unwrap_or_default();
    let text = String::from_utf8_lossy(&text[text.len().saturating_sub(16 * 1024)..]);
    let mut plain = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // An ANSI escape: ESC [ params letter.
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            plain.push(c);
        }
    }
    let all: Vec<&str> = plain.lines().filter(|l| !l.trim().is_empty()).collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

async fn wait_for_agent(agent: &AgentClient) -> Result<()> {
    let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
    loop {
        if agent.health().await.is_ok() {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            bail!("the instance's agent did not answer within {READY_TIMEOUT:?}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

pub(crate) fn set_mode(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("setting the mode of {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_instance_ids_are_leftovers() {
        assert_eq!(
            instance_id_of("i-0123456789abcdef"),
            Some("i-0123456789abcdef")
        );
        assert_eq!(
            instance_id_of("i-0123456789abcdef.log"),
            Some("i-0123456789abcdef")
        );
        for other in [
            "porthole-agent",
            ".porthole-agent.12",
            "i-123",
            "i-0123456789abcdeg",
            "x-0123456789abcdef",
            "i-0123456789abcdef.sock",
        ] {
            assert_eq!(instance_id_of(other), None, "{other}");
        }
    }

    #[test]
    fn log_tail_strips_colors_and_keeps_the_last_lines() {
        let path = std::env::temp_dir().join(format!("porthole-log-tail-{}", std::process::id()));
        std::fs::write(&path, "one\n\x1b[31mtwo\x1b[0m\n\nthree\n").unwrap();
        assert_eq!(log_tail(&path, 2), "two\nthree");
        assert_eq!(log_tail(&path.with_extension("missing"), 2), "");
        std::fs::remove_file(path).unwrap();
    }
}

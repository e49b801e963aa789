//! Instances: one bubblewrap sandbox each, with its own unprivileged uid, PID/mount/IPC/UTS/
//! user/cgroup (and by default network) namespaces, a private /tmp, the image read-only, and
//! cpu/memory/pids limits in its own cgroup.
//!
//! The sandboxed process joins its cgroups and drops to the instance's uid in a pre-exec hook,
//! before bwrap runs: every process of the instance is in the cgroup from its first
//! instruction, and nothing in the sandbox ever runs as root.

// The pre-exec hooks (fork-to-exec window), mount_setattr(2) and setns (folder.rs) and the
// NS_GET_USERNS ioctl (net.rs) are the only unsafe code; see their SAFETY comments.
#![allow(unsafe_code)]

mod app_root;
mod bwrap;
mod cgroup;
mod folder;
mod host_mask;
mod net;
mod uid;

use std::ffi::CString;
use std::fs;
use std::os::fd::RawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{chown, DirBuilderExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::{anyhow, bail, ensure, Context, Result};
use rustix::fs::{Mode, OFlags};
use rustix::process::Signal;
use tokio::process::{Child, Command};

pub use app_root::{
    app_command, enter as enter_app_root, working_directory as app_working_directory, APP_ROOT_ENV,
    IMAGE_ASSISTANT,
};
pub use bwrap::{
    HOME_FOLDER_MOUNT, HOME_MOUNT, RUNTIME_MOUNT, TEMPORARY_FILES_DIR, TEMPORARY_FILES_MOUNT,
};
pub use cgroup::{cgroup_support, CgroupSupport};
pub use folder::{attach_folder, attach_image, detach_folder, own_for_folder, FOLDER_OWNER};
pub use net::NAMESERVER;
pub use uid::{UidLease, UidPool};

const BWRAP: &str = "bwrap";
/// Where the server binds its copy of this executable in every sandbox, which runs it
/// there as the agent: the one path to it the sandbox guarantees. /proc/self/exe names
/// the copy's host file, "(deleted)" should that ever be unlinked, and a deleted file can
/// neither be run by that name nor bound.
pub const AGENT_EXE: &str = "/run/porthole-agent";
/// Between SIGTERM and SIGKILL in `terminate`.
pub const STOP_GRACE: Duration = Duration::from_secs(3);

/// Resource limits; 0 means unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// 1000 = one core.
    pub cpu_millis: u32,
    pub memory_bytes: u64,
    /// Processes and threads.
    pub pids: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    /// An own, empty network namespace: only loopback.
    None,
    /// The host's network namespace (including its abstract unix sockets and every
    /// service listening on the host's loopback).
    Host,
    /// An own network namespace NATed to the outside by slirp4netns (net.rs): 10.0.2.100,
    /// DNS at [`NAMESERVER`] (its /etc/resolv.conf says so), the host's loopback out of reach.
    Private,
}

/// The filesystem the instance's applications see as `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageRoot {
    /// The host filesystem, read-only: the default image.
    Host,
    /// Host directories stacked (lowest first) over the host's system trees or over
    /// nothing, under a writable layer in memory or, for an image builder, in
    /// `builder_layer` (see app_root.rs). The X server and agent stay on the host's root.
    Layers {
        on_host: bool,
        layers: Vec<PathBuf>,
        builder_layer: Option<PathBuf>,
    },
}

#[derive(Debug, Clone)]
pub struct InstanceSpec {
    /// Used in paths and cgroup names: letters, digits, '-', '_', '.'.
    pub id: String,
    /// Unprivileged and unique per live instance (see [`UidPool`]); the same inside and out.
    pub uid: u32,
    pub gid: u32,
    pub root: ImageRoot,
    /// Created fresh (owned by uid, 0700) and mounted read-write at [`RUNTIME_MOUNT`]; removed
    /// when the instance ends. Its parent directories must be searchable by `uid` (0711).
    pub runtime_dir: PathBuf,
    /// Mounted at [`HOME_MOUNT`]; created if missing, chowned to uid, mode 0700; kept at the
    /// end. Same rule for its parents as `runtime_dir`. None: an empty tmpfs.
    pub home_dir: Option<PathBuf>,
    /// Host paths covered with an empty tmpfs inside (the server's data dir); missing ones
    /// are skipped.
    pub hide: Vec<PathBuf>,
    /// Extra files or directories mounted read-only: (host path, path inside). The inside
    /// path must lie on one of the sandbox's own tmpfs mounts (e.g. under /run).
    pub read_only: Vec<(PathBuf, PathBuf)>,
    pub limits: Limits,
    pub network: Network,
    /// The whole environment inside, on top of HOME, USER, PATH, LANG=C.UTF-8 (which it may
    /// override): nothing of the server's environment is passed.
    pub env: Vec<(String, String)>,
    pub command: Vec<String>,
    /// The sandbox's stdout and stderr, appended (opened by the server, before the sandbox).
    /// None: inherited from the server.
    pub log_file: Option<PathBuf>,
}

/// A running sandbox. `terminate` (or drop) kills it and removes its cgroups and runtime dir.
pub struct Instance {
    id: String,
    pid: u32,
    child: Child,
    exit: Option<ExitStatus>,
    cleanup: Cleanup,
    /// Released after the instance's processes are gone (Drop runs before fields drop).
    _lease: Option<UidLease>,
}

impl Instance {
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The host pid of the outer bwrap process.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The host pid of the slirp4netns serving a [`Network::Private`] instance.
    pub fn network_pid(&self) -> Option<u32> {
        self.cleanup.network.as_ref().map(net::Slirp::pid)
    }

    pub fn runtime_dir(&self) -> &Path {
        &self.cleanup.runtime_dir
    }

    /// The instance's cgroup directories (one on v2, memory/cpu/pids on v1).
    pub fn cgroups(&self) -> &[PathBuf] {
        &self.cleanup.cgroups
    }

    /// Host pids of every process of the instance, bwrap included.
    pub fn pids(&self) -> Vec<u32> {
        self.cleanup
            .cgroups
            .first()
            .map(|dir| cgroup::procs(dir))
            .unwrap_or_default()
    }

    /// Keep `lease` until the instance is gone, then return its uid to the pool.
    pub fn hold(&mut self, lease: UidLease) {
        self._lease = Some(lease);
    }

    /// Wait for the sandbox to exit (its command exiting ends it: PID namespace). Does not
    /// clean up: call `terminate` (or drop) afterwards.
    pub async fn wait(&mut self) -> Result<ExitStatus> {
        if let Some(status) = self.exit {
            return Ok(status);
        }
        let status = self.child.wait().await.context("waiting for bwrap")?;
        self.exit = Some(status);
        Ok(status)
    }

    /// SIGTERM to every process inside, SIGKILL to all that remain after [`STOP_GRACE`],
    /// then remove the cgroups and the runtime dir. Idempotent.
    pub async fn terminate(&mut self) {
        if self.cleanup.done {
            return;
        }
        if self.exit.is_none() {
            // Not to the outer bwrap: it would die at once and take the sandbox down
            // without a graceful exit. The inner bwrap (pid 1 there) ignores SIGTERM.
            for dir in &self.cleanup.cgroups {
                cgroup::signal_all(dir, Signal::TERM, Some(self.pid));
            }
            match tokio::time::timeout(STOP_GRACE, self.child.wait()).await {
                Ok(status) => self.exit = status.ok(),
                Err(_) => {
                    tracing::warn!(id = %self.id, "instance ignored SIGTERM; killing it");
                    self.kill_all().await;
                }
            }
        }
        self.clean_up().await;
    }

    /// SIGKILL to every process at once (for an instance still starting: it has nothing
    /// to save), then the cleanup of `terminate`. Idempotent.
    pub async fn kill(&mut self) {
        if self.cleanup.done {
            return;
        }
        if self.exit.is_none() {
            self.kill_all().await;
        }
        self.clean_up().await;
    }

    async fn clean_up(&mut self) {
        if self.cleanup.done {
            return;
        }
        let mut cleanup = Cleanup {
            cgroups: self.cleanup.cgroups.clone(),
            runtime_dir: self.cleanup.runtime_dir.clone(),
            network: self.cleanup.network.take(),
            done: false,
        };
        self.cleanup.done = true;
        // Removing a cgroup polls until its killed processes are gone: off the async
        // threads, so that stopping many instances at once runs in parallel.
        let _ = tokio::task::spawn_blocking(move || cleanup.run()).await;
    }

    async fn kill_all(&mut self) {
        for dir in &self.cleanup.cgroups {
            cgroup::signal_all(dir, Signal::KILL, None);
        }
        // Also directly: should anything have escaped the cgroup, the outer bwrap's death
        // still takes the PID namespace down (die-with-parent).
        let _ = self.child.start_kill();
        self.exit = self.child.wait().await.ok();
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if !self.cleanup.done {
            let _ = self.child.start_kill();
            // Cleanup SIGKILLs what is left in the cgroups before removing them.
            self.cleanup.run();
        }
    }
}

/// What an instance leaves on the host: removed once, by terminate, drop or a failed launch.
struct Cleanup {
    cgroups: Vec<PathBuf>,
    runtime_dir: PathBuf,
    network: Option<net::Slirp>,
    done: bool,
}

impl Cleanup {
    fn run(&mut self) {
        if self.done {
            return;
        }
        self.done = true;
        // Killed and reaped: also where there are no cgroups to take it down.
        drop(self.network.take());
        cgroup::remove(self.cgroups.iter().map(PathBuf::as_path));
        if let Err(e) = fs::remove_dir_all(&self.runtime_dir) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(dir = %self.runtime_dir.display(), error = %e, "cannot remove runtime dir");
            }
        }
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        self.run();
    }
}

/// Start the sandbox. Needs a tokio runtime (the child is a `tokio::process::Child`) and root.
/// With [`Network::Private`], returns once the network is up (milliseconds, blocking): the
/// sandbox's command starts only then.
pub fn launch(spec: &InstanceSpec) -> Result<Instance> {
    validate(spec)?;
    let groups = cgroup::plan(cgroup_support(), &spec.id, &spec.limits)?;
    let handle = tokio::runtime::Handle::try_current()
        .map_err(|_| anyhow!("porthole_sandbox::launch needs a tokio runtime"))?;

    // Runtime dir first so the cleanup guard owns everything created from here on.
    if spec.runtime_dir.exists() {
        fs::remove_dir_all(&spec.runtime_dir)
            .with_context(|| format!("removing stale {}", spec.runtime_dir.display()))?;
    }
    let mut cleanup = Cleanup {
        cgroups: Vec::new(),
        runtime_dir: spec.runtime_dir.clone(),
        network: None,
        done: false,
    };
    owned_private_dir(&spec.runtime_dir, spec.uid, spec.gid)?;
    owned_private_dir(
        &spec.runtime_dir.join(bwrap::TEMPORARY_FILES_DIR),
        spec.uid,
        spec.gid,
    )?;
    if let Some(home) = &spec.home_dir {
        owned_private_dir(home, spec.uid, spec.gid)?;
    }
    cgroup::create(cgroup_support(), &groups)?;
    cleanup.cgroups = groups.into_iter().map(|g| g.dir).collect();

    let hide: Vec<&Path> = spec
        .hide
        .iter()
        .map(PathBuf::as_path)
        .filter(|p| p.exists())
        .collect();
    let hold = match spec.network {
        Network::Private => {
            net::write_resolv_conf(&spec.runtime_dir)?;
            Some(net::Hold::new()?)
        }
        Network::None | Network::Host => None,
    };
    let private = hold.as_ref().map(|hold| {
        let (info_fd, block_fd) = hold.bwrap_fds();
        bwrap::PrivateNetwork {
            info_fd,
            block_fd,
            resolv_conf: spec.runtime_dir.join(net::RESOLV_CONF),
            resolv_conf_target: net::resolv_conf_target(),
        }
    });
    let mut command = std::process::Command::new(BWRAP);
    command
        .args(bwrap::args(spec, &hide, private.as_ref()))
        .env_clear()
        .stdin(Stdio::null())
        // Own process group: a Ctrl-C at the server's terminal reaches the server, which
        // then terminates instances gracefully, not the sandboxes directly.
        .process_group(0);
    if let Some(log) = &spec.log_file {
        let file = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("opening {}", log.display()))?;
        command.stdout(file.try_clone()?).stderr(file);
    }
    let setup = ChildSetup {
        inherit: private
            .as_ref()
            .map(|p| vec![p.info_fd, p.block_fd])
            .unwrap_or_default(),
        user_namespace: None,
        // bwrap's own --die-with-parent.
        parent_death: false,
    };
    prepare_child(&mut command, &cleanup.cgroups, spec.uid, spec.gid, setup)?;

    let mut command = Command::from(command);
    let child = on_spawner_thread(move || {
        // The child registers with the caller's runtime for its exit notification.
        let _runtime = handle.enter();
        command.spawn()
    })
    .with_context(|| format!("spawning {BWRAP} (package bubblewrap)"))?;
    let started = hold.map(net::Hold::bwrap_started);
    let pid = child.id().context("bwrap exited at once")?;
    let mut instance = Instance {
        id: spec.id.clone(),
        pid,
        child,
        exit: None,
        cleanup,
        _lease: None,
    };
    // A failure drops `instance`, which kills the sandbox and cleans up.
    if let Some(started) = started {
        let slirp = net::attach(
            started,
            &instance.cleanup.cgroups,
            spec.uid,
            spec.gid,
            spec.log_file.as_deref(),
        )
        .with_context(|| format!("attaching the private network of instance {}", spec.id))?;
        instance.cleanup.network = Some(slirp);
    }
    tracing::info!(id = %spec.id, pid, uid = spec.uid, "instance started");
    Ok(instance)
}

/// What [`remove_leftover`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leftover {
    /// Nothing of it ran any more; its cgroups and runtime dir are removed.
    Removed,
    /// Its processes ran with no server supervising them: killed, then removed.
    Killed(usize),
    /// A live process outside it (another server on the same runtime root) supervises
    /// it: left alone.
    Supervised,
}

/// Cleans up what a server that is gone (kill -9) left of instance `id`: its cgroups and
/// `runtime_dir`, and any of its processes that survived, unless another live server
/// supervises them. Blocking: waits briefly for killed processes to drain.
pub fn remove_leftover(id: &str, runtime_dir: &Path) -> Result<Leftover> {
    ensure!(valid_id(id), "instance id {id:?}: not an instance's id");
    let unlimited = Limits {
        cpu_millis: 0,
        memory_bytes: 0,
        pids: 0,
    };
    let cgroups: Vec<PathBuf> = match cgroup_support() {
        CgroupSupport::None => Vec::new(),
        support => cgroup::plan(support, id, &unlimited)?
            .into_iter()
            .map(|g| g.dir)
            .collect(),
    };
    let pids: std::collections::HashSet<u32> =
        cgroups.iter().flat_map(|dir| cgroup::procs(dir)).collect();
    // A server's sandbox is its child (the outer bwrap). With the server gone it died too
    // (--die-with-parent) or, should anything survive, was reparented to init or a
    // subreaper: a parent outside the group running porthole is a live server.
    let supervised = pids.iter().any(|pid| {
        parent_of(*pid).is_some_and(|ppid| !pids.contains(&ppid) && runs_this_program(ppid))
    });
    if supervised {
        return Ok(Leftover::Supervised);
    }
    let mut cleanup = Cleanup {
        cgroups,
        runtime_dir: runtime_dir.to_owned(),
        network: None,
        done: false,
    };
    cleanup.run();
    Ok(match pids.len() {
        0 => Leftover::Removed,
        n => Leftover::Killed(n),
    })
}

/// The parent pid from /proc/PID/stat (None once the process is gone).
fn parent_of(pid: u32) -> Option<u32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// Whether `pid` runs the same executable (by file name) as this process.
fn runs_this_program(pid: u32) -> bool {
    let name = |exe: PathBuf| {
        let name = exe.file_name()?.to_string_lossy().into_owned();
        // A rebuilt or upgraded binary shows as "NAME (deleted)" in running processes.
        Some(name.trim_end_matches(" (deleted)").to_owned())
    };
    let theirs = fs::read_link(format!("/proc/{pid}/exe"))
        .ok()
        .and_then(name);
    let ours = std::env::current_exe().ok().and_then(name);
    theirs.is_some() && theirs == ours
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id != "."
        && id != ".."
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

fn validate(spec: &InstanceSpec) -> Result<()> {
    ensure!(
        valid_id(&spec.id),
        "instance id {:?}: use letters, digits, '-', '_', '.'",
        spec.id
    );
    for (name, id) in [("uid", spec.uid), ("gid", spec.gid)] {
        ensure!(
            id != 0 && id != u32::MAX,
            "instance {name} {id} is not unprivileged"
        );
    }
    ensure!(
        !spec.command.is_empty(),
        "instance {}: empty command",
        spec.id
    );
    for dir in std::iter::once(&spec.runtime_dir).chain(&spec.home_dir) {
        ensure!(
            dir.is_absolute(),
            "{} is not an absolute path",
            dir.display()
        );
        searchable_by(dir, spec.uid, spec.gid)?;
    }
    Ok(())
}

/// bwrap resolves bind sources as the instance's uid: every parent must let it through.
fn searchable_by(dir: &Path, uid: u32, gid: u32) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    for parent in dir.ancestors().skip(1) {
        let Ok(meta) = fs::metadata(parent) else {
            continue; // created below, by root, mode 0755
        };
        let mode = meta.mode();
        let ok = mode & 0o001 != 0
            || (meta.uid() == uid && mode & 0o100 != 0)
            || (meta.gid() == gid && mode & 0o010 != 0);
        if !ok {
            bail!(
                "{} (mode {:o}) is not searchable by uid {uid}: the sandbox cannot mount {}",
                parent.display(),
                mode & 0o7777,
                dir.display()
            );
        }
    }
    Ok(())
}

fn owned_private_dir(dir: &Path, uid: u32, gid: u32) -> Result<()> {
    if let Some(parent) = dir.parent() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    match fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(anyhow!(e).context(format!("creating {}", dir.display()))),
    }
    chown(dir, Some(uid), Some(gid)).with_context(|| format!("chown {}", dir.display()))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
        .with_context(|| format!("chmod 0700 {}", dir.display()))
}

/// What a sandbox's helper process needs beyond its cgroups and ids.
pub(crate) struct ChildSetup {
    /// Descriptors (CLOEXEC here) the child keeps across exec.
    pub inherit: Vec<RawFd>,
    /// A user namespace to join after dropping to the uid (slirp4netns, net.rs).
    pub user_namespace: Option<RawFd>,
    /// SIGKILL when the forking thread exits (see [`on_spawner_thread`]).
    pub parent_death: bool,
}

/// In the child, before exec: enter the cgroups (writing "0" to `cgroup.procs` moves the
/// writer) while still root, then drop to uid/gid with no supplementary groups, then what
/// `setup` asks for. std's `CommandExt::uid` would drop privileges before pre-exec hooks
/// run, too early for this.
pub(crate) fn prepare_child(
    command: &mut std::process::Command,
    cgroups: &[PathBuf],
    uid: u32,
    gid: u32,
    setup: ChildSetup,
) -> Result<()> {
    let procs: Vec<CString> = cgroups
        .iter()
        .map(|dir| CString::new(dir.join("cgroup.procs").as_os_str().as_bytes()))
        .collect::<Result<_, _>>()
        .context("cgroup path contains a NUL byte")?;
    let uid = rustix::process::Uid::from_raw(uid);
    let gid = rustix::process::Gid::from_raw(gid);
    let hook = move || -> std::io::Result<()> {
        for path in &procs {
            let fd = rustix::fs::open(
                path.as_c_str(),
                OFlags::WRONLY | OFlags::CLOEXEC,
                Mode::empty(),
            )?;
            rustix::io::write(&fd, b"0")?;
        }
        for fd in &setup.inherit {
            // SAFETY: fcntl on a descriptor the parent keeps open until spawn returns.
            if unsafe { libc::fcntl(*fd, libc::F_SETFD, 0) } != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        rustix::thread::set_thread_groups(&[])?;
        rustix::thread::set_thread_gid(gid)?;
        rustix::thread::set_thread_uid(uid)?;
        if let Some(ns) = setup.user_namespace {
            // SAFETY: setns on a descriptor the parent keeps open until spawn returns; the
            // child is single-threaded, as joining a user namespace requires.
            if unsafe { libc::setns(ns, libc::CLONE_NEWUSER) } != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        if setup.parent_death {
            // Last: changing credentials (setuid, setns) clears it.
            rustix::process::set_parent_process_death_signal(Some(Signal::KILL))?;
        }
        Ok(())
    };
    // SAFETY: the hook runs in the forked child, where only async-signal-safe work is
    // allowed: it allocates nothing (the paths and descriptor lists are prepared above,
    // the ids are Copy) and makes only raw syscalls (open, write, close, fcntl, setgroups,
    // setgid, setuid, setns, prctl). The child has a single thread, so the per-thread id
    // syscalls change the whole process.
    unsafe {
        command.pre_exec(hook);
    }
    Ok(())
}

type Job = Box<dyn FnOnce() + Send>;

/// bwrap's `--die-with-parent` (PR_SET_PDEATHSIG) fires when the *thread* that forked it
/// exits. Forking from a thread that lives as long as the process makes it mean "when the
/// server dies", wherever `launch` is called from (a blocking-pool thread exits when idle).
pub(crate) fn on_spawner_thread<T: Send + 'static>(
    spawn: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> Result<T> {
    static SPAWNER: OnceLock<mpsc::Sender<Job>> = OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("sandbox-spawner".into())
            .spawn(move || {
                for job in rx {
                    job();
                }
            })
            .expect("starting the sandbox spawner thread");
        tx
    });
    let (reply, result) = mpsc::sync_channel(1);
    spawner
        .send(Box::new(move || {
            let _ = reply.send(spawn());
        }))
        .map_err(|_| anyhow!("the sandbox spawner thread is gone"))?;
    Ok(result
        .recv()
        .map_err(|_| anyhow!("the sandbox spawner thread is gone"))??)
}

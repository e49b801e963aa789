//! Shared fixtures: a per-test directory (runtime dir, home, log), a spec with a leased uid,
//! FIFOs the sandbox signals readiness through, and pidfd-based "has exited" waits.
// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::sync::LazyLock;
use std::time::Duration;

use porthole_sandbox::{launch, ImageRoot, InstanceSpec, Limits, Network, UidLease, UidPool};
use rustix::fs::{FileType, Mode, CWD};
use tokio::io::AsyncBufReadExt;

/// Generous: two cores shared with other builds and tests.
pub const TIMEOUT: Duration = Duration::from_secs(60);

static POOL: LazyLock<UidPool> = LazyLock::new(UidPool::default);

/// A test's directory and spec. The directory is removed on drop.
pub struct Case {
    pub spec: InstanceSpec,
    pub lease: Option<UidLease>,
    pub dir: PathBuf,
}

impl Case {
    pub fn new(name: &str, command: Vec<String>) -> Case {
        Case::with_pool(name, command, &POOL)
    }

    pub fn with_pool(name: &str, command: Vec<String>, pool: &UidPool) -> Case {
        // Not under /tmp: the sandbox sees this tree (read-only root), which is what the
        // isolation tests need to poke at each other's directories.
        let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("sandbox");
        let dir = base.join(format!("{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        // The instance's uid must be able to traverse to its runtime dir and home.
        for d in [&base, &dir] {
            fs::set_permissions(d, fs::Permissions::from_mode(0o711)).unwrap();
        }
        let lease = pool.acquire().unwrap();
        let spec = InstanceSpec {
            id: format!("test-{}-{name}", std::process::id()),
            uid: lease.uid(),
            gid: lease.gid(),
            root: ImageRoot::Host,
            runtime_dir: dir.join("run"),
            home_dir: Some(dir.join("home")),
            read_only: vec![],
            hide: vec![],
            limits: Limits {
                cpu_millis: 1000,
                memory_bytes: 512 << 20,
                pids: 256,
            },
            network: Network::None,
            env: vec![],
            command,
            log_file: Some(dir.join("log")),
        };
        Case {
            spec,
            lease: Some(lease),
            dir,
        }
    }

    pub fn home(&self) -> PathBuf {
        self.dir.join("home")
    }

    /// A FIFO in the home (mounted at /home/user/NAME inside) that the sandbox writes a
    /// line to when it is ready. Created before launch; launch chowns only the home itself.
    pub fn fifo(&self, name: &str) -> PathBuf {
        let home = self.home();
        fs::create_dir_all(&home).unwrap();
        let path = home.join(name);
        rustix::fs::mknodat(CWD, &path, FileType::Fifo, Mode::from_raw_mode(0o666), 0).unwrap();
        // mknod obeys the umask; the sandbox's uid must be able to write.
        fs::set_permissions(&path, fs::Permissions::from_mode(0o666)).unwrap();
        path
    }

    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("log")).unwrap_or_default()
    }

    /// Launch, holding the lease for the instance's lifetime.
    pub fn launch(&mut self) -> porthole_sandbox::Instance {
        let mut instance = launch(&self.spec).expect("launch");
        if let Some(lease) = self.lease.take() {
            instance.hold(lease);
        }
        instance
    }

    /// Run the command to its end; returns its exit status and its output. The instance is
    /// terminated (cleaned up) afterwards; `inspect` runs before that, with the cgroups
    /// still in place.
    pub async fn run(
        &mut self,
        inspect: impl FnOnce(&porthole_sandbox::Instance),
    ) -> (ExitStatus, String) {
        let mut instance = self.launch();
        let status = tokio::time::timeout(TIMEOUT, instance.wait())
            .await
            .unwrap_or_else(|_| panic!("instance did not exit; log:\n{}", self.log()))
            .unwrap();
        inspect(&instance);
        instance.terminate().await;
        (status, self.log())
    }
}

impl Drop for Case {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

pub fn sh(script: &str) -> Vec<String> {
    vec!["sh".into(), "-c".into(), script.into()]
}

pub fn python(script: &str, args: &[&str]) -> Vec<String> {
    let mut command = vec!["python3".to_string(), "-c".into(), script.into()];
    command.extend(args.iter().map(|a| a.to_string()));
    command
}

/// The first line written to a FIFO (opened read-write so it never sees EOF early).
pub async fn read_line(fifo: &Path) -> String {
    let receiver = tokio::net::unix::pipe::OpenOptions::new()
        .read_write(true)
        .open_receiver(fifo)
        .unwrap();
    let mut line = String::new();
    tokio::time::timeout(
        TIMEOUT,
        tokio::io::BufReader::new(receiver).read_line(&mut line),
    )
    .await
    .unwrap_or_else(|_| {
        // The FIFO is in the case's home; the sandbox's log beside it.
        let log = fifo
            .parent()
            .and_then(Path::parent)
            .map(|dir| dir.join("log"));
        let log = log
            .and_then(|l| fs::read_to_string(l).ok())
            .unwrap_or_default();
        panic!("the sandbox never signalled readiness; its log:\n{log}")
    })
    .unwrap();
    line.trim().to_string()
}

/// Wait until `pid` has exited (zombies count as exited), via a pidfd.
pub async fn exited(pid: u32) {
    let Some(raw) = rustix::process::Pid::from_raw(pid as i32) else {
        return;
    };
    let Ok(fd) = rustix::process::pidfd_open(raw, rustix::process::PidfdFlags::NONBLOCK) else {
        return; // ESRCH: already gone and reaped
    };
    // Deprecated because it accepts fds it does not own; an OwnedFd is the sound case, and
    // the replacement (`register`) is `unsafe`, which the workspace denies.
    #[allow(deprecated)]
    let fd = tokio::io::unix::AsyncFd::new(fd).unwrap();
    let _ready = tokio::time::timeout(TIMEOUT, fd.readable())
        .await
        .unwrap_or_else(|_| panic!("process {pid} still alive"))
        .unwrap();
}

/// "key=value" lines of a sandbox's output.
pub fn field<'a>(output: &'a str, key: &str) -> &'a str {
    let prefix = format!("{key}=");
    output
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {key}= in output:\n{output}"))
}

/// The Uid: or Gid: line of a host process, as its four ids.
pub fn ids(pid: u32, key: &str) -> Vec<u32> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .unwrap()
        .split_whitespace()
        .map(|v| v.parse().unwrap())
        .collect()
}

/// The cgroup file holding a limit: (v2 name, v1 name), looked up in the instance's groups.
pub fn limit_file(instance: &porthole_sandbox::Instance, v2: &str, v1: &str) -> String {
    instance
        .cgroups()
        .iter()
        .flat_map(|dir| [dir.join(v2), dir.join(v1)])
        .find(|p| p.exists())
        .map(|p| fs::read_to_string(p).unwrap().trim().to_string())
        .unwrap_or_else(|| panic!("neither {v2} nor {v1} in {:?}", instance.cgroups()))
}

/// Polls `condition` until it holds (panics after [`TIMEOUT`]).
pub async fn wait_until(mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition never held"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

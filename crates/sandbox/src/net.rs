//! [`crate::Network::Private`]: the sandbox's own network namespace, NATed to the outside
//! by a slirp4netns attached to it, with the host's loopback out of reach.
//!
//! bwrap reports the pid of its child (in the sandbox's namespaces) on `--info-fd` and
//! holds the sandbox's command on `--block-fd`; meanwhile slirp4netns joins the sandbox's
//! network namespace, configures its tap (10.0.2.100, default route via 10.0.2.2, DNS at
//! 10.0.2.3) and says so on `--ready-fd`. Only then is the command let go: it never runs
//! without its network.
//!
//! slirp4netns runs as the instance's uid, in the instance's cgroups (it dies with them)
//! and in the user namespace that owns the sandbox's network namespace, where that uid
//! is root: that is what lets it attach to the namespace and sandbox itself
//! (`--enable-sandbox`: own mount namespace, capabilities dropped) without any privilege
//! on the host. The user namespace is the network namespace's owner (NS_GET_USERNS), not
//! `/proc/<pid>/ns/user`: with `--dev`, bwrap nests a second user namespace for the
//! command, which has no power over the network namespace.

use std::fs;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Component, Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use rustix::event::{PollFd, PollFlags};

const SLIRP: &str = "slirp4netns";
/// The resolver slirp4netns answers on (it forwards to the host's).
pub const NAMESERVER: &str = "10.0.2.3";
/// In the instance's runtime dir: the resolv.conf bound over the sandbox's /etc/resolv.conf.
pub(crate) const RESOLV_CONF: &str = "resolv.conf";
/// For bwrap to report its child, and slirp4netns to attach and configure the tap: each
/// takes milliseconds, but the machine may be busy.
const TIMEOUT: Duration = Duration::from_secs(20);

/// The pipes between `launch` and bwrap. bwrap's ends are inherited by it and closed
/// here once it runs.
pub(crate) struct Hold {
    info: OwnedFd,
    release: OwnedFd,
    bwrap_info: OwnedFd,
    bwrap_block: OwnedFd,
}

impl Hold {
    pub(crate) fn new() -> Result<Self> {
        let (info, bwrap_info) = pipe()?;
        let (bwrap_block, release) = pipe()?;
        Ok(Self {
            info,
            release,
            bwrap_info,
            bwrap_block,
        })
    }

    /// bwrap's `--info-fd` and `--block-fd`.
    pub(crate) fn bwrap_fds(&self) -> (RawFd, RawFd) {
        (self.bwrap_info.as_raw_fd(), self.bwrap_block.as_raw_fd())
    }

    /// Once bwrap runs: only its copies of its ends may stay open (EOF on `info` must
    /// mean bwrap is done with it).
    pub(crate) fn bwrap_started(self) -> Started {
        Started {
            info: self.info,
            release: self.release,
        }
    }
}

pub(crate) struct Started {
    info: OwnedFd,
    release: OwnedFd,
}

/// The running slirp4netns; killed and reaped when dropped.
pub(crate) struct Slirp {
    child: Child,
    /// slirp4netns's `--exit-fd` reads the other end: should the server die without
    /// dropping this, the kernel closes it and slirp4netns exits.
    _exit: OwnedFd,
}

impl Slirp {
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Slirp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes the resolv.conf naming slirp4netns's resolver into the instance's runtime dir.
pub(crate) fn write_resolv_conf(runtime_dir: &Path) -> Result<PathBuf> {
    let path = runtime_dir.join(RESOLV_CONF);
    fs::write(&path, format!("nameserver {NAMESERVER}\n"))
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// Where bwrap binds the sandbox's resolv.conf: `/etc/resolv.conf` or, when that is a
/// symlink on the host (systemd-resolved's stub), the path it leads to. bwrap would
/// resolve an absolute link from its own setup root, not the sandbox's.
pub(crate) fn resolv_conf_target() -> PathBuf {
    let mut path = PathBuf::from("/etc/resolv.conf");
    for _ in 0..40 {
        let Ok(link) = fs::read_link(&path) else {
            break;
        };
        let dir = path.parent().unwrap_or(Path::new("/")).to_path_buf();
        path = normalize(&dir.join(link));
    }
    path
}

/// `.` and `..` removed lexically (`..` of `/` is `/`).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for component in path.components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(name) => out.push(name),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

/// Attaches slirp4netns to the sandbox bwrap reports on `started`, then lets the
/// sandbox's command run. Blocks until the network is up.
pub(crate) fn attach(
    started: Started,
    cgroups: &[PathBuf],
    uid: u32,
    gid: u32,
    log_file: Option<&Path>,
) -> Result<Slirp> {
    let deadline = Instant::now() + TIMEOUT;
    let info = read_to_end(&started.info, deadline).context("reading bwrap's --info-fd")?;
    let pid = child_pid(&info)?;
    let netns = fs::File::open(format!("/proc/{pid}/ns/net"))
        .with_context(|| format!("opening the network namespace of sandbox process {pid}"))?;
    let userns = owning_user_namespace(&netns)?;
    wait_for_uid_map(pid, deadline)?;

    let (ready, slirp_ready) = pipe()?;
    let (slirp_exit, exit) = pipe()?;
    let mut command = Command::new(SLIRP);
    command
        .args(slirp_args(
            slirp_ready.as_raw_fd(),
            slirp_exit.as_raw_fd(),
            netns.as_raw_fd(),
        ))
        .env_clear()
        .stdin(Stdio::null());
    if let Some(log) = log_file {
        let file = fs::OpenOptions::new()
            .append(true)
            .open(log)
            .with_context(|| format!("opening {}", log.display()))?;
        command.stdout(file.try_clone()?).stderr(file);
    }
    crate::prepare_child(
        &mut command,
        cgroups,
        uid,
        gid,
        crate::ChildSetup {
            inherit: vec![
                slirp_ready.as_raw_fd(),
                slirp_exit.as_raw_fd(),
                netns.as_raw_fd(),
            ],
            user_namespace: Some(userns.as_raw_fd()),
            parent_death: true,
        },
    )?;
    // From the long-lived thread: PR_SET_PDEATHSIG fires when the forking thread exits.
    let child = crate::on_spawner_thread(move || command.spawn())
        .with_context(|| format!("spawning {SLIRP} (package slirp4netns)"))?;
    let slirp = Slirp { child, _exit: exit };
    drop((slirp_ready, slirp_exit, netns, userns));

    if read_byte(&ready, deadline).context("waiting for slirp4netns's --ready-fd")? != Some(b'1') {
        bail!("{SLIRP} exited before the network was up (its messages are in the instance's log)");
    }
    rustix::io::write(&started.release, b"1").context("releasing the sandbox's command")?;
    Ok(slirp)
}

/// `--netns-type=path` with a descriptor inherited from here: the path stays valid
/// whatever the sandbox's processes do.
fn slirp_args(ready: RawFd, exit: RawFd, netns: RawFd) -> Vec<String> {
    [
        "--configure",
        "--mtu=65520",
        // 10.0.2.2 would otherwise be the host's 127.0.0.1 (the admin API, test servers).
        "--disable-host-loopback",
        "--enable-sandbox",
        "--enable-seccomp",
    ]
    .into_iter()
    .map(str::to_owned)
    .chain([
        format!("--ready-fd={ready}"),
        format!("--exit-fd={exit}"),
        "--netns-type=path".to_owned(),
        format!("/proc/self/fd/{netns}"),
        "tap0".to_owned(),
    ])
    .collect()
}

/// The `"child-pid": N` of bwrap's `--info-fd` JSON.
fn child_pid(info: &[u8]) -> Result<u32> {
    let text = String::from_utf8_lossy(info);
    let pid = text.split_once("\"child-pid\"").and_then(|(_, rest)| {
        let rest = rest.trim_start().strip_prefix(':')?.trim_start();
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok()
    });
    pid.with_context(|| {
        if info.is_empty() {
            "bwrap exited before it started the sandbox".to_owned()
        } else {
            format!("no child-pid in bwrap's info {text:?}")
        }
    })
}

fn owning_user_namespace(netns: &fs::File) -> Result<OwnedFd> {
    // SAFETY: NS_GET_USERNS takes no argument and returns a new descriptor (or -1), which
    // nothing else owns.
    let fd = unsafe { libc::ioctl(netns.as_raw_fd(), libc::NS_GET_USERNS) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error())
            .context("finding the user namespace of the sandbox's network namespace");
    }
    // SAFETY: a fresh descriptor returned by the kernel, owned from here on.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// bwrap's child writes the uid map of its user namespace right after bwrap reported it;
/// slirp4netns must start after that, to be root there (uid 0 is the instance's uid).
/// bwrap signals nothing at that point: a condition polled, almost always already true.
fn wait_for_uid_map(pid: u32, deadline: Instant) -> Result<()> {
    let path = format!("/proc/{pid}/uid_map");
    loop {
        let map = fs::read_to_string(&path)
            .with_context(|| format!("sandbox process {pid} exited while starting"))?;
        if !map.trim().is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!("the sandbox's user namespace got no uid map within {TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).context("creating a pipe")
}

/// Waits until `fd` is readable (data or EOF), failing at `deadline`.
fn wait_readable(fd: &OwnedFd, deadline: Instant) -> Result<()> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            bail!("timed out after {TIMEOUT:?}");
        }
        let timeout = rustix::event::Timespec {
            tv_sec: left.as_secs() as i64,
            tv_nsec: i64::from(left.subsec_nanos()),
        };
        let mut fds = [PollFd::new(fd, PollFlags::IN)];
        match rustix::event::poll(&mut fds, Some(&timeout)) {
            Ok(0) | Err(rustix::io::Errno::INTR) => continue,
            Ok(_) => return Ok(()),
            Err(e) => return Err(e).context("poll"),
        }
    }
}

fn read_to_end(fd: &OwnedFd, deadline: Instant) -> Result<Vec<u8>> {
    let mut data = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        wait_readable(fd, deadline)?;
        match rustix::io::read(fd, &mut buf) {
            Ok(0) => return Ok(data),
            Ok(n) => data.extend_from_slice(&buf[..n]),
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e).context("read"),
        }
    }
}

/// One byte, or None at EOF (the writer exited without writing).
fn read_byte(fd: &OwnedFd, deadline: Instant) -> Result<Option<u8>> {
    let mut buf = [0u8; 1];
    loop {
        wait_readable(fd, deadline)?;
        match rustix::io::read(fd, &mut buf) {
            Ok(0) => return Ok(None),
            Ok(_) => return Ok(Some(buf[0])),
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e).context("read"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_child_pid_comes_from_bwraps_info() {
        assert_eq!(child_pid(b"{\n    \"child-pid\": 4242\n}\n").unwrap(), 4242);
        assert_eq!(
            child_pid(b"{ \"child-pid\":17, \"net-namespace\": 4026532180 }").unwrap(),
            17
        );
        assert!(child_pid(b"")
            .unwrap_err()
            .to_string()
            .contains("exited before"));
        assert!(child_pid(b"{}").is_err());
    }

    #[test]
    fn slirp_attaches_by_descriptor_without_host_loopback() {
        assert_eq!(
            slirp_args(5, 6, 7).join(" "),
            "--configure --mtu=65520 --disable-host-loopback --enable-sandbox \
             --enable-seccomp --ready-fd=5 --exit-fd=6 --netns-type=path /proc/self/fd/7 tap0"
        );
    }

    #[test]
    fn symlinks_resolve_lexically() {
        assert_eq!(
            normalize(Path::new("/etc/../run/systemd/./resolve/stub-resolv.conf")),
            Path::new("/run/systemd/resolve/stub-resolv.conf")
        );
        assert_eq!(normalize(Path::new("/../a")), Path::new("/a"));
    }
}

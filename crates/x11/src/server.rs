//! A private Xorg (dummy video driver) per session: started on a free display, resized to
//! the requested size, and killed and cleaned up on drop.

use std::fs;
use std::io::Read;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, Context, Result};
use rustix::process::{kill_process, Pid, Signal};

use crate::resize::resize_screen;

const XORG: &str = "/usr/lib/xorg/Xorg";
/// Generous: Xorg is ready in ~0.3-0.5 s here, but parallel test runs on 2 cores are slower.
const START_TIMEOUT: Duration = Duration::from_secs(20);
const STOP_GRACE: Duration = Duration::from_secs(2);

/// The dummy driver can resize to any mode up to `Virtual`; `AutoAddDevices false` keeps
/// udev input devices (the host's keyboard) out of the session.
/// The dummy-driver configuration every Porthole X server runs with (resizable
/// up to 5120x2880, no input devices).
pub const XORG_CONF: &str = r#"Section "ServerFlags"
  Option "AutoAddDevices" "false"
  Option "AutoEnableDevices" "false"
EndSection
Section "Device"
  Identifier "dummy"
  Driver "dummy"
  VideoRam 256000
EndSection
Section "Screen"
  Identifier "screen"
  Device "dummy"
  DefaultDepth 24
  SubSection "Display"
    Depth 24
    Virtual 5120 2880
  EndSubSection
EndSection
"#;

/// The local sockets an X server listens on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listen {
    /// The socket in /tmp/.X11-unix and the abstract one.
    PathAndAbstract,
    /// Only the socket in /tmp/.X11-unix. Abstract sockets are shared by every
    /// process of a network namespace (the host's, or all host-network
    /// instances'), so a sandboxed server must not offer one.
    PathOnly,
}

/// A running Xorg. Dropping it stops the server and removes its files.
pub struct XServer {
    child: Child,
    display: u32,
    dir: PathBuf,
    startup: Duration,
}

impl XServer {
    /// Start Xorg on a display it picks itself (`-displayfd`) and set the screen size.
    pub fn start(width: u32, height: u32) -> Result<XServer> {
        Self::start_with(width, height, Listen::PathAndAbstract)
    }

    /// Like [`XServer::start`], choosing which local sockets Xorg listens on.
    pub fn start_with(width: u32, height: u32, listen: Listen) -> Result<XServer> {
        let began = Instant::now();
        let dir = private_dir()?;
        fs::write(dir.join("xorg.conf"), XORG_CONF).context("writing xorg.conf")?;
        let log = dir.join("Xorg.log");
        // Xorg writes the display number to fd 1, which is our pipe: no fd juggling in the child.
        let spawned = Command::new(XORG)
            .args([
                "-noreset",
                // No autorepeat of X's own: the browser repeats a held key itself (keydown
                // events with repeat set, which the client forwards), and X's repeat would
                // double those and, on a loaded machine, invent repeats of keys only
                // pressed when their release arrives late (x11vnc's -norepeat, likewise).
                "-r",
                "-nolisten",
                "tcp",
                "-config",
                "xorg.conf",
                "-logfile",
            ])
            .arg(&log)
            .args(["-displayfd", "1"])
            .args(match listen {
                Listen::PathAndAbstract => &[][..],
                Listen::PathOnly => &["-nolisten", "local"][..],
            })
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(e) => {
                let _ = fs::remove_dir_all(&dir);
                return Err(anyhow!(e).context(format!(
                    "spawning {XORG} (packages xserver-xorg-core, xserver-xorg-video-dummy)"
                )));
            }
        };
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut server = XServer {
            child,
            display: 0,
            dir,
            startup: Duration::ZERO,
        };
        server.display = read_display(stdout).map_err(|e| e.context(server.log_tail()))?;
        resize_screen(&server.display_name(), width, height)
            .with_context(|| format!("setting the initial size {width}x{height}"))?;
        server.startup = began.elapsed();
        tracing::debug!(
            display = server.display,
            startup_ms = server.startup.as_millis(),
            "Xorg ready"
        );
        Ok(server)
    }

    /// ":N", for `DISPLAY` and `x11rb::connect`.
    pub fn display_name(&self) -> String {
        format!(":{}", self.display)
    }

    /// Time from spawn to a ready, resized screen.
    pub fn startup_time(&self) -> Duration {
        self.startup
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn log_tail(&self) -> String {
        let log = fs::read_to_string(self.dir.join("Xorg.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        format!(
            "Xorg log tail:\n{}",
            lines[lines.len().saturating_sub(15)..].join("\n")
        )
    }

    fn stop(&mut self) {
        let pid = Pid::from_raw(self.child.id() as i32);
        if let Some(pid) = pid {
            let _ = kill_process(pid, Signal::TERM);
        }
        let deadline = Instant::now() + STOP_GRACE;
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) | Err(_) => break,
                Ok(None) if Instant::now() >= deadline => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break;
                }
                // Reaping has no blocking-with-timeout call in std: poll briefly.
                Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
        remove_stale_display_files(self.display, self.child.id());
        let _ = fs::remove_dir_all(&self.dir);
    }
}

impl Drop for XServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A fresh mode-0700 directory: Xorg's config, log and cwd.
fn private_dir() -> Result<PathBuf> {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let name = format!(
        "porthole-xorg-{}-{}-{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    let dir = std::env::temp_dir().join(name);
    fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// Wait for the display number Xorg writes to `-displayfd` (EOF means Xorg died).
fn read_display(mut pipe: impl Read + Send + 'static) -> Result<u32> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut text = String::new();
        let mut buf = [0u8; 32];
        let result = loop {
            match pipe.read(&mut buf) {
                Ok(0) => break Err(anyhow!("Xorg exited before reporting its display")),
                Ok(n) => {
                    text.push_str(&String::from_utf8_lossy(&buf[..n]));
                    if text.contains('\n') {
                        break text
                            .trim()
                            .parse::<u32>()
                            .with_context(|| format!("bad display number {text:?}"));
                    }
                }
                Err(e) => break Err(anyhow!(e).context("reading -displayfd pipe")),
            }
        };
        let _ = tx.send(result);
    });
    rx.recv_timeout(START_TIMEOUT)
        .map_err(|_| anyhow!("Xorg did not report a display within {START_TIMEOUT:?}"))?
}

/// Xorg removes its lock and socket on SIGTERM, but not when killed: remove them if the
/// lock still names our process (another server may already reuse the number).
fn remove_stale_display_files(display: u32, pid: u32) {
    let lock = PathBuf::from(format!("/tmp/.X{display}-lock"));
    if lock_owner(&lock) == Some(pid) {
        let _ = fs::remove_file(format!("/tmp/.X11-unix/X{display}"));
        let _ = fs::remove_file(&lock);
    }
}

fn lock_owner(lock: &Path) -> Option<u32> {
    fs::read_to_string(lock).ok()?.trim().parse().ok()
}

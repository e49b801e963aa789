//! The session's applications: each runs in its own process group on the
//! display, so that stopping it also stops whatever it started.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::process::{Child, Command};

/// How long an app may take to exit after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// Starts `command` in `cwd`, or in the agent's own directory without one.
pub fn spawn(
    command: &[String],
    cwd: Option<&Path>,
    env: &BTreeMap<String, String>,
    display: &str,
) -> Result<Child> {
    on_display(command, cwd, env, display)?
        .spawn()
        .with_context(|| format!("starting {}", command[0]))
}

/// Runs `command` like [`spawn`] to its end, with its output; None when it took longer
/// than `limit`, and was killed with its process group.
pub async fn run(
    command: &[String],
    cwd: Option<&Path>,
    env: &BTreeMap<String, String>,
    display: &str,
    limit: Duration,
) -> Result<Option<std::process::Output>> {
    let program = command.first().map_or("", String::as_str);
    let child = on_display(command, cwd, env, display)?
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {program}"))?;
    let group = child.id();
    match tokio::time::timeout(limit, child.wait_with_output()).await {
        Ok(output) => output
            .map(Some)
            .with_context(|| format!("running {program}")),
        Err(_) => {
            // The timed-out wait dropped (and so killed) the child; its group goes too.
            if let Some(group) = group.and_then(|pid| rustix::process::Pid::from_raw(pid as i32)) {
                let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
            }
            Ok(None)
        }
    }
}

/// `command` on the display, in a process group of its own.
fn on_display(
    command: &[String],
    cwd: Option<&Path>,
    env: &BTreeMap<String, String>,
    display: &str,
) -> Result<Command> {
    let (program, args) = command.split_first().context("no app command given")?;
    let mut child = Command::new(program);
    if let Some(cwd) = cwd {
        child.current_dir(cwd);
    }
    child
        .args(args)
        .envs(env)
        .env("DISPLAY", display)
        .process_group(0)
        .kill_on_drop(true);
    Ok(child)
}

/// Stops the app's whole process group: SIGTERM, then SIGKILL after a grace period.
pub async fn stop(app: &mut Child) {
    let Some(group) = app
        .id()
        .and_then(|pid| rustix::process::Pid::from_raw(pid as i32))
    else {
        return;
    };
    let _ = rustix::process::kill_process_group(group, rustix::process::Signal::TERM);
    if tokio::time::timeout(STOP_GRACE, app.wait()).await.is_err() {
        let _ = app.kill().await;
    }
    // Children the app left behind in its group.
    let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
}

/// Makes this process the reaper of its orphaned descendants, so that an app's
/// children that leave its process group (daemons, `timeout`, `setsid`) can
/// still be found and stopped: they are re-parented here instead of to init.
pub fn adopt_orphans() -> Result<()> {
    rustix::process::set_child_subreaper(Some(rustix::process::getpid()))
        .context("becoming the subreaper of the session's processes")
}

/// Kills every descendant of this process except `keep` (the X server), and
/// reaps those that were orphaned to us.
pub fn kill_descendants(keep: &[u32]) {
    let me = std::process::id();
    let parents = process_parents();
    let is_descendant = |mut pid: u32| {
        while let Some(&parent) = parents.get(&pid) {
            if parent == me {
                return true;
            }
            pid = parent;
        }
        false
    };
    let victims: Vec<u32> = parents
        .keys()
        .copied()
        .filter(|&pid| !keep.contains(&pid) && is_descendant(pid))
        .collect();
    for &pid in &victims {
        if let Some(pid) = rustix::process::Pid::from_raw(pid as i32) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
        }
    }
    for &pid in victims
        .iter()
        .filter(|&&pid| parents.get(&pid) == Some(&me))
    {
        let _ = rustix::process::waitpid(
            rustix::process::Pid::from_raw(pid as i32),
            rustix::process::WaitOptions::empty(),
        );
    }
}

/// pid -> parent pid for every process we can see.
fn process_parents() -> std::collections::HashMap<u32, u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Default::default();
    };
    entries
        .filter_map(|entry| {
            let pid: u32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // The command name may contain spaces and parentheses: fields start after the last ')'.
            let fields = &stat[stat.rfind(')')? + 2..];
            let ppid = fields.split(' ').nth(1)?.parse().ok()?;
            Some((pid, ppid))
        })
        .collect()
}

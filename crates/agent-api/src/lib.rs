//! The control API between `porthole serve` and the agent in each instance,
//! spoken as HTTP/1.1 over the Unix socket in the instance's runtime directory.
//! Both sides take the paths and messages from here, so they cannot drift:
//!
//! - `GET /health` answers 200 once the agent's display is up;
//! - `POST /launch` with a [`LaunchRequest`] starts an app: 200 with a
//!   [`Launched`], or 400 with an [`AgentError`];
//! - `POST /run` with a [`RunRequest`] runs a command to its end (or its time limit), as
//!   apps run, and answers 200 with its [`Ran`] (the server runs its own tools there, the
//!   image assistant's catalog edits in an image builder, and the image's session scripts);
//! - `GET /ws` is the browser stream (docs/protocol.md), proxied by the gateway;
//! - an agent that cannot start writes a [`StartFailure`] next to its socket;
//! - in an image builder, [`image_assistant`]'s socket goes the other way: the builder's
//!   image assistant asks the server to make an image.
//!
//! [`client::AgentClient`] is the server's side of it.

pub mod client;
pub mod image_assistant;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The agent's socket, in the instance's runtime directory.
pub const SOCKET: &str = "agent.sock";
/// Where an agent that could not start explains why, beside its socket.
pub const FAILURE_REPORT: &str = "agent-failure.json";

pub const HEALTH_PATH: &str = "/health";
pub const LAUNCH_PATH: &str = "/launch";
pub const RUN_PATH: &str = "/run";
pub const STREAM_PATH: &str = "/ws";

/// Starts an app on the instance's display.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LaunchRequest {
    /// The executable and its arguments.
    pub command: Vec<String>,
    /// Added to the agent's own environment (AppStream_* variables, say).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Where the app starts, on the image's root (the application's
    /// WorkingDirectory); the agent's HOME when absent or not a directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_directory: Option<String>,
}

/// Runs a command to its end, killed (with its process group) past `limit_secs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRequest {
    #[serde(flatten)]
    pub launch: LaunchRequest,
    pub limit_secs: u64,
}

/// A started app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Launched {
    pub pid: u32,
}

/// A command run to its end: its exit code (None when a signal ended it, or when it was
/// killed at its time limit: `timed_out`) and output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ran {
    pub code: Option<i32>,
    #[serde(default)]
    pub timed_out: bool,
    pub stdout: String,
    pub stderr: String,
}

/// The body of every non-200 answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentError {
    pub message: String,
}

/// Why an agent could not start, for the admin (FleetErrors) and the server's log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartFailure {
    pub message: String,
}

impl StartFailure {
    pub fn path(runtime_dir: &Path) -> PathBuf {
        runtime_dir.join(FAILURE_REPORT)
    }

    /// Written once, as the agent gives up.
    pub fn write(&self, runtime_dir: &Path) -> std::io::Result<()> {
        let json = serde_json::to_vec(self).map_err(std::io::Error::other)?;
        std::fs::write(Self::path(runtime_dir), json)
    }

    /// The report of an agent that gave up, if it wrote one (an agent killed
    /// outright, by the OOM killer say, cannot).
    pub fn read(runtime_dir: &Path) -> Option<Self> {
        let bytes = std::fs::read(Self::path(runtime_dir)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_start_failure_reads_back_as_written_and_is_absent_until_written() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(StartFailure::read(dir.path()), None);
        let failure = StartFailure {
            message: "starting the X server: Xorg exited".into(),
        };
        failure.write(dir.path()).unwrap();
        assert_eq!(StartFailure::read(dir.path()), Some(failure));
    }

    #[test]
    fn a_launch_request_without_env_or_directory_has_neither() {
        let request: LaunchRequest = serde_json::from_str(r#"{"command":["xterm"]}"#).unwrap();
        assert_eq!(request.command, ["xterm"]);
        assert!(request.env.is_empty());
        assert_eq!(request.working_directory, None);
    }
}

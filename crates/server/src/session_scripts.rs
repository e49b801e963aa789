//! Running an image's session scripts (porthole_control::session_scripts): its
//! SessionStart section once per session, after the instance is assigned and beside the
//! home folder's attach, before the app launches; its SessionTermination section when
//! the session ends, before the instance is stopped. Scripts run through the instance's
//! agent, as its apps do. A script that fails warns the user and is logged; the session
//! goes on. With s3LogEnabled a script's output is kept in
//! `DATA_DIR/session-scripts/<session id>/<section>-<context>.log`.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use porthole_agent_api::{LaunchRequest, Ran};
use porthole_control::session_scripts::{Script, ScriptSection};
use porthole_control::ScriptPhase;
use tokio::task::JoinHandle;

use crate::state::Server;

pub(crate) struct SessionScriptRuns {
    logs: PathBuf,
    /// Sessions whose start scripts were claimed, with their termination scripts to run.
    sessions: Mutex<HashMap<String, Option<Termination>>>,
    /// Termination scripts running, by instance: its stop waits for them.
    ending: Mutex<HashMap<String, JoinHandle<()>>>,
}

/// A session's termination scripts, and where and how they run.
struct Termination {
    instance_id: String,
    section: ScriptSection,
    env: BTreeMap<String, String>,
}

impl SessionScriptRuns {
    pub(crate) fn new(data_dir: &std::path::Path) -> Self {
        Self {
            logs: data_dir.join("session-scripts"),
            sessions: Mutex::default(),
            ending: Mutex::default(),
        }
    }

    /// True the first time only: a session's start scripts run once, however many
    /// browsers prepare it.
    fn claim(&self, session_id: &str) -> bool {
        let mut sessions = self.sessions.lock().expect("session scripts lock");
        if sessions.contains_key(session_id) {
            return false;
        }
        sessions.insert(session_id.to_owned(), None);
        true
    }

    /// The termination scripts running for `instance_id`'s session, if any: what its
    /// stop waits for.
    pub(crate) fn take_ending(&self, instance_id: &str) -> Option<JoinHandle<()>> {
        self.ending
            .lock()
            .expect("session scripts lock")
            .remove(instance_id)
    }
}

impl Server {
    /// Runs the start scripts of the fleet session `session_id`'s image, the first time
    /// it is called for the session, and keeps its termination scripts for its end.
    pub(crate) async fn run_start_scripts(&self, session_id: &str) {
        let target = self.plane.lock().await.session_script_target(session_id);
        let Some(target) = target else { return };
        if !self.session_scripts.claim(session_id) {
            return;
        }
        let scripts = match self.image_store.image_session_scripts(&target.root) {
            Ok(Some(scripts)) => scripts,
            Ok(None) => return,
            Err(err) => {
                // The host image's configuration, edited since: imports check theirs.
                tracing::warn!(session = %session_id, "the image's session scripts: {err:#}");
                self.signals.script_failed(session_id);
                return;
            }
        };
        let ok = self
            .run_section(
                session_id,
                &target.instance_id,
                ScriptPhase::SessionStart,
                &scripts.start,
                &target.env,
            )
            .await;
        if !ok {
            self.signals.script_failed(session_id);
        }
        if !scripts.termination.scripts.is_empty() {
            let mut sessions = self
                .session_scripts
                .sessions
                .lock()
                .expect("session scripts lock");
            // Gone already when the session ended while its start scripts ran.
            if let Some(termination) = sessions.get_mut(session_id) {
                *termination = Some(Termination {
                    instance_id: target.instance_id,
                    section: scripts.termination,
                    env: target.env,
                });
            }
        }
    }

    /// The session ended: its termination scripts start, and its instance's stop will
    /// wait for them (at most their waitingTime).
    pub(crate) fn start_termination_scripts(self: &Arc<Self>, session_id: &str) {
        let termination = self
            .session_scripts
            .sessions
            .lock()
            .expect("session scripts lock")
            .remove(session_id)
            .flatten();
        let Some(termination) = termination else {
            return;
        };
        let server = self.clone();
        let session = session_id.to_owned();
        let instance = termination.instance_id.clone();
        let running = tokio::spawn(async move {
            server
                .run_section(
                    &session,
                    &termination.instance_id,
                    ScriptPhase::SessionTermination,
                    &termination.section,
                    &termination.env,
                )
                .await;
            // Done before the instance's stop came: it need not wait.
            server.session_scripts.take_ending(&termination.instance_id);
        });
        self.session_scripts
            .ending
            .lock()
            .expect("session scripts lock")
            .insert(instance, running);
    }

    /// Runs a section's scripts side by side, each stopped at the section's
    /// waitingTime; true when every one exited 0.
    async fn run_section(
        &self,
        session_id: &str,
        instance_id: &str,
        phase: ScriptPhase,
        section: &ScriptSection,
        env: &BTreeMap<String, String>,
    ) -> bool {
        let runs = section.scripts.iter().map(|script| async move {
            let request = LaunchRequest {
                command: script.command(),
                env: env.clone(),
                working_directory: None,
            };
            let ran = self
                .instances
                .run_command(instance_id, request, section.waiting_time)
                .await;
            let outcome = Outcome::of(&ran, section);
            match &outcome {
                Outcome::Succeeded => tracing::info!(
                    session = %session_id, phase = phase.as_str(), context = script.context.as_str(),
                    "session script {} succeeded", script.filename
                ),
                failed => tracing::warn!(
                    session = %session_id, phase = phase.as_str(), context = script.context.as_str(),
                    "session script {} {failed}", script.filename
                ),
            }
            if script.keep_log {
                if let Err(err) = self.session_scripts.write_log(session_id, phase, script, &outcome, &ran) {
                    tracing::warn!(session = %session_id, "keeping a session script's log: {err:#}");
                }
            }
            matches!(outcome, Outcome::Succeeded)
        });
        futures_util::future::join_all(runs)
            .await
            .into_iter()
            .all(|ok| ok)
    }
}

/// How a script's run ended.
enum Outcome {
    Succeeded,
    Exited(Option<i32>),
    TimedOut(u64),
    NotStarted(String),
}

impl Outcome {
    fn of(ran: &anyhow::Result<Ran>, section: &ScriptSection) -> Self {
        match ran {
            Ok(ran) if ran.timed_out => Self::TimedOut(section.waiting_time.as_secs()),
            Ok(ran) if ran.code == Some(0) => Self::Succeeded,
            Ok(ran) => Self::Exited(ran.code),
            Err(err) => Self::NotStarted(format!("{err:#}")),
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Succeeded => write!(f, "exited with code 0"),
            Self::Exited(Some(code)) => write!(f, "exited with code {code}"),
            Self::Exited(None) => write!(f, "was ended by a signal"),
            Self::TimedOut(secs) => write!(f, "was stopped at its waitingTime of {secs} s"),
            Self::NotStarted(err) => write!(f, "could not run: {err}"),
        }
    }
}

impl SessionScriptRuns {
    fn write_log(
        &self,
        session_id: &str,
        phase: ScriptPhase,
        script: &Script,
        outcome: &Outcome,
        ran: &anyhow::Result<Ran>,
    ) -> anyhow::Result<()> {
        // The plane's ids are plain; nothing else may name a directory here.
        anyhow::ensure!(
            session_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-'),
            "{session_id:?} is not a session id"
        );
        let dir = self.logs.join(session_id);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut log = format!("command: {}\n{outcome}\n", script.command().join(" "));
        if let Ok(ran) = ran {
            let _ = write!(log, "--- stdout\n{}--- stderr\n{}", ran.stdout, ran.stderr);
        }
        let path = dir.join(format!(
            "{}-{}.log",
            phase.as_str(),
            script.context.as_str()
        ));
        std::fs::write(&path, log).with_context(|| format!("writing {}", path.display()))
    }
}

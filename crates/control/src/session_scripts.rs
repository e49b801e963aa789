//! Session scripts: what an image runs as its sessions start and end, from the
//! image's `/opt/appstream/SessionScripts/config.json` in AppStream's own format.
//!
//! Each section (`SessionStart`, `SessionTermination`) has at most two executables,
//! one of `"context": "system"` and one of `"user"`, and a `waitingTime` (at most
//! 60 s) that bounds the section: a script still running then is stopped. A script
//! that fails is reported to the user; the session goes on. An executable whose
//! `filename` is empty is not run (AppStream's template ships that way).

use std::time::Duration;

use serde::Deserialize;

/// Where an image keeps its session scripts' configuration.
pub const SESSION_SCRIPTS_CONFIG: &str = "/opt/appstream/SessionScripts/config.json";
/// AppStream's bound on a section's waitingTime.
pub const MAX_WAITING_TIME: Duration = Duration::from_secs(60);
/// AppStream's bound on `filename` and on `arguments`, in characters.
const MAX_FIELD_CHARS: usize = 1000;

/// An image's session scripts, validated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionScripts {
    pub start: ScriptSection,
    pub termination: ScriptSection,
}

/// The scripts of one moment of a session, run together, and how long they may take.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScriptSection {
    pub scripts: Vec<Script>,
    pub waiting_time: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    pub context: ScriptContext,
    /// An absolute path in the image.
    pub filename: String,
    pub arguments: String,
    /// s3LogEnabled: whether its output is kept (under the server's data directory).
    pub keep_log: bool,
}

/// Whom a script runs as. AppStream runs `system` scripts as root; Porthole runs both
/// as the instance's own unprivileged uid, the only one its sandbox has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ScriptContext {
    System,
    User,
}

impl ScriptContext {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::System => "system",
            Self::User => "user",
        }
    }
}

/// When a section runs; its name is the configuration's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScriptPhase {
    SessionStart,
    SessionTermination,
}

impl ScriptPhase {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::SessionStart => "SessionStart",
            Self::SessionTermination => "SessionTermination",
        }
    }
}

impl Script {
    /// The executable and its arguments (split at whitespace, as LaunchParameters are).
    pub fn command(&self) -> Vec<String> {
        std::iter::once(self.filename.clone())
            .chain(self.arguments.split_whitespace().map(str::to_owned))
            .collect()
    }
}

impl SessionScripts {
    /// Reads a config.json; the error says which member is wrong and why.
    pub fn parse(json: &str) -> Result<Self, String> {
        let config: ConfigFile = serde_json::from_str(json)
            .map_err(|err| format!("{SESSION_SCRIPTS_CONFIG} is not valid: {err}"))?;
        let section = |phase: ScriptPhase, section: Option<SectionFile>| {
            section
                .map(|s| s.validate())
                .transpose()
                .map(Option::unwrap_or_default)
                .map_err(|err| format!("{SESSION_SCRIPTS_CONFIG}, {}: {err}", phase.as_str()))
        };
        Ok(Self {
            start: section(ScriptPhase::SessionStart, config.session_start)?,
            termination: section(ScriptPhase::SessionTermination, config.session_termination)?,
        })
    }

    pub fn section(&self, phase: ScriptPhase) -> &ScriptSection {
        match phase {
            ScriptPhase::SessionStart => &self.start,
            ScriptPhase::SessionTermination => &self.termination,
        }
    }
}

#[derive(Deserialize)]
struct ConfigFile {
    #[serde(rename = "SessionStart")]
    session_start: Option<SectionFile>,
    #[serde(rename = "SessionTermination")]
    session_termination: Option<SectionFile>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SectionFile {
    #[serde(default)]
    executables: Vec<ExecutableFile>,
    waiting_time: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExecutableFile {
    context: String,
    #[serde(default)]
    filename: String,
    #[serde(default)]
    arguments: String,
    #[serde(default = "default_true", rename = "s3LogEnabled")]
    s3_log_enabled: bool,
}

fn default_true() -> bool {
    true
}

impl SectionFile {
    fn validate(self) -> Result<ScriptSection, String> {
        let waiting_time = Duration::from_secs(self.waiting_time);
        if waiting_time > MAX_WAITING_TIME {
            return Err(format!(
                "waitingTime is {} s; at most {} s",
                self.waiting_time,
                MAX_WAITING_TIME.as_secs()
            ));
        }
        if self.executables.len() > 2 {
            return Err(format!(
                "{} executables; at most two, one of context \"system\" and one of \"user\"",
                self.executables.len()
            ));
        }
        let mut scripts: Vec<Script> = Vec::new();
        let mut contexts = Vec::new();
        for executable in self.executables {
            let context = match executable.context.as_str() {
                "system" => ScriptContext::System,
                "user" => ScriptContext::User,
                other => return Err(format!("context {other:?}: use \"system\" or \"user\"")),
            };
            if contexts.contains(&context) {
                return Err(format!(
                    "two executables of context \"{}\"",
                    context.as_str()
                ));
            }
            contexts.push(context);
            for (member, value) in [
                ("filename", &executable.filename),
                ("arguments", &executable.arguments),
            ] {
                let chars = value.chars().count();
                if chars > MAX_FIELD_CHARS {
                    return Err(format!(
                        "the {member} of the \"{}\" executable is {chars} characters long; at most {MAX_FIELD_CHARS}",
                        context.as_str()
                    ));
                }
            }
            if executable.filename.is_empty() {
                continue;
            }
            if !executable.filename.starts_with('/') {
                return Err(format!(
                    "the filename {:?} of the \"{}\" executable is not an absolute path",
                    executable.filename,
                    context.as_str()
                ));
            }
            scripts.push(Script {
                context,
                filename: executable.filename,
                arguments: executable.arguments,
                keep_log: executable.s3_log_enabled,
            });
        }
        Ok(ScriptSection {
            scripts,
            waiting_time,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// AppStream's Linux template, with the given start executables.
    fn config(start_executables: &str, start_waiting: u64) -> String {
        format!(
            r#"{{
              "SessionStart": {{ "executables": [{start_executables}], "waitingTime": {start_waiting} }},
              "SessionTermination": {{
                "executables": [
                  {{ "context": "system", "filename": "", "arguments": "", "s3LogEnabled": true }},
                  {{ "context": "user", "filename": "/opt/appstream/SessionScripts/end.sh", "arguments": "", "s3LogEnabled": false }}
                ],
                "waitingTime": 10
              }}
            }}"#
        )
    }

    #[test]
    fn both_sections_read_with_their_scripts_commands_and_waiting_times() {
        let start = r#"
            { "context": "system", "filename": "/opt/appstream/SessionScripts/setup.sh", "arguments": "--mode  fast" },
            { "context": "user", "filename": "/usr/bin/env", "arguments": "", "s3LogEnabled": false }"#;
        let scripts = SessionScripts::parse(&config(start, 30)).unwrap();
        assert_eq!(scripts.start.waiting_time, Duration::from_secs(30));
        let [system, user] = &scripts.start.scripts[..] else {
            panic!("two start scripts: {:?}", scripts.start)
        };
        assert_eq!(system.context, ScriptContext::System);
        assert_eq!(
            system.command(),
            ["/opt/appstream/SessionScripts/setup.sh", "--mode", "fast"]
        );
        assert!(system.keep_log, "s3LogEnabled defaults to true");
        assert_eq!(user.context, ScriptContext::User);
        assert!(!user.keep_log);
        // The template's empty system executable is no script.
        let ending = scripts.section(ScriptPhase::SessionTermination);
        assert_eq!(ending.waiting_time, Duration::from_secs(10));
        assert_eq!(ending.scripts.len(), 1);
        assert_eq!(ending.scripts[0].context, ScriptContext::User);
    }

    #[test]
    fn a_missing_section_has_no_scripts() {
        let scripts =
            SessionScripts::parse(r#"{"SessionStart": {"executables": [], "waitingTime": 5}}"#)
                .unwrap();
        assert_eq!(scripts.start.scripts, []);
        assert_eq!(scripts.termination, ScriptSection::default());
    }

    #[test]
    fn configurations_outside_appstreams_bounds_are_refused_with_the_reason() {
        let system = |filename: &str, arguments: &str| {
            format!(
                r#"{{ "context": "system", "filename": "{filename}", "arguments": "{arguments}" }}"#
            )
        };
        let long = format!("/{}", "a".repeat(1000));
        let cases = [
            (
                config(&system("/x", ""), 61),
                "SessionStart: waitingTime is 61 s; at most 60 s",
            ),
            (
                config(
                    &[system("/a", ""), system("/b", ""), system("/c", "")].join(","),
                    5,
                ),
                "3 executables; at most two",
            ),
            (
                config(&[system("/a", ""), system("/b", "")].join(","), 5),
                "two executables of context \"system\"",
            ),
            (
                config(r#"{ "context": "root", "filename": "/a" }"#, 5),
                "context \"root\": use \"system\" or \"user\"",
            ),
            (
                config(&system("setup.sh", ""), 5),
                "the filename \"setup.sh\" of the \"system\" executable is not an absolute path",
            ),
            (
                config(&system(&long, ""), 5),
                "the filename of the \"system\" executable is 1001 characters long",
            ),
            (
                config(&system("/a", &"x".repeat(1001)), 5),
                "the arguments of the \"system\" executable is 1001 characters long",
            ),
            ("{ not json".to_owned(), "config.json is not valid"),
            (
                r#"{"SessionStart": {"executables": []}}"#.to_owned(),
                "missing field `waitingTime`",
            ),
        ];
        for (json, reason) in cases {
            let err = SessionScripts::parse(&json).unwrap_err();
            assert!(err.contains(reason), "{err:?} should say {reason:?}");
        }
    }
}

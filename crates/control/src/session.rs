//! Sessions and streaming grants.

use crate::entitlement::Attribute;
use crate::fleet::wire_enum;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

wire_enum!(SessionState {
    Pending = "PENDING",
    Active = "ACTIVE",
    Expired = "EXPIRED",
});
wire_enum!(ConnectionState {
    Connected = "CONNECTED",
    NotConnected = "NOT_CONNECTED",
});
wire_enum!(AuthenticationType {
    Api = "API",
    Saml = "SAML",
    Userpool = "USERPOOL",
    AwsAd = "AWS_AD",
});

/// Why a session ended; recorded and shown to the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    MaxDurationReached,
    DisconnectTimeout,
    /// ExpireSession.
    Expired,
    UserEnded,
    InstanceExited,
    FleetStopped,
    ServerRestart,
    /// DisableUser.
    UserDisabled,
    /// DeleteUser.
    UserDeleted,
    /// StopImageBuilder or DeleteImageBuilder.
    ImageBuilderStopped,
    /// The builder stops to make an image of itself.
    ImageBuilderSnapshotting,
}

impl EndReason {
    /// A stable code for the browser and logs.
    pub fn code(self) -> &'static str {
        match self {
            Self::MaxDurationReached => "max_duration_reached",
            Self::DisconnectTimeout => "disconnect_timeout",
            Self::Expired => "expired",
            Self::UserEnded => "user_ended",
            Self::InstanceExited => "instance_exited",
            Self::FleetStopped => "fleet_stopped",
            Self::ServerRestart => "server_restart",
            Self::UserDisabled => "user_disabled",
            Self::UserDeleted => "user_deleted",
            Self::ImageBuilderStopped => "image_builder_stopped",
            Self::ImageBuilderSnapshotting => "image_builder_snapshotting",
        }
    }

    /// What the user is told.
    pub fn message(self) -> &'static str {
        match self {
            Self::MaxDurationReached => "the session reached its maximum duration",
            Self::DisconnectTimeout => "the session was disconnected for too long",
            Self::Expired => "the session was ended by an administrator",
            Self::UserEnded => "you ended the session",
            Self::InstanceExited => "the instance stopped",
            Self::FleetStopped => "the fleet was stopped",
            Self::ServerRestart => "the instance stopped (server restart)",
            Self::UserDisabled => "your account was disabled by an administrator",
            Self::UserDeleted => "your account was deleted by an administrator",
            Self::ImageBuilderStopped => "the image builder was stopped",
            Self::ImageBuilderSnapshotting => {
                "the image builder stopped to make the image; it is STOPPED when the image is ready"
            }
        }
    }
}

/// Why browsers were disconnected from a session that goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DisconnectReason {
    IdleTimeout,
}

impl DisconnectReason {
    pub fn message(self) -> &'static str {
        match self {
            Self::IdleTimeout => {
                "you were disconnected for inactivity; reconnect before the disconnect timeout to resume your session"
            }
        }
    }
}

/// A session-ending warning comes this long before the maximum duration
/// (AppStream prompts users to save their work five minutes before).
pub const SESSION_ENDING_WARNING_SECS: u64 = 300;

/// How long before an idle disconnect the user is warned: a minute, or half
/// the timeout when that is shorter (at AppStream's minimum of 60 s, a warning
/// after 30 s without input leaves time both to notice and to react).
pub fn idle_warning_lead_secs(idle_timeout_secs: u64) -> u64 {
    (idle_timeout_secs / 2).min(60)
}

/// What a warning is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeKind {
    /// The session ends at its maximum duration.
    SessionEnding,
    /// The browsers are disconnected for inactivity unless input arrives.
    IdleDisconnect,
    /// The browsers were disconnected; reconnecting by the deadline (the
    /// disconnect timeout) resumes the session.
    Disconnected,
    /// The home folder reached its quota (the deadline: when) and is
    /// read-only until files are deleted.
    HomeFolderFull,
    /// A session script of the image failed (the deadline: when); the session goes on.
    SessionScriptFailed,
}

impl NoticeKind {
    /// What the user is told (the browser shows the time left beside it).
    pub fn message(self) -> &'static str {
        match self {
            Self::SessionEnding => {
                "Your session is about to reach its maximum duration and will end: save your work."
            }
            Self::IdleDisconnect => {
                "You will be disconnected for inactivity. Use the keyboard or mouse to stay connected."
            }
            Self::Disconnected => "Reconnect to resume your session before it ends.",
            Self::HomeFolderFull => {
                "Your home folder is full: nothing more can be saved to it. Delete files in My Files to make room."
            }
            Self::SessionScriptFailed => {
                "A session script of this image failed: your session goes on, but what the script sets up may be missing."
            }
        }
    }
}

/// A warning for a session's browsers: `kind` happens at `deadline`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Notice {
    pub kind: NoticeKind,
    pub deadline: Timestamp,
}

impl Notice {
    /// Whole seconds from `now` to the deadline, rounded up, 0 once passed.
    pub fn seconds_left(&self, now: Timestamp) -> u32 {
        let millis = self.deadline.as_millis().saturating_sub(now.as_millis());
        u32::try_from(millis.div_ceil(1000)).unwrap_or(u32::MAX)
    }
}

/// Which warnings a session's browsers were given. Not persisted: sessions
/// do not survive a restart.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Warned {
    pub(crate) session_ending: bool,
    /// The `last_input_time` whose idle deadline was warned of; new input
    /// moves the deadline and so re-arms the warning.
    pub(crate) idle_since: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub id: String,
    pub user_id: String,
    pub stack: String,
    pub fleet: String,
    pub instance_id: Option<String>,
    /// PENDING until its instance is running, then ACTIVE, EXPIRED once ended.
    pub state: SessionState,
    pub connection_state: ConnectionState,
    /// Open browser connections; NOT_CONNECTED when it drops to zero.
    pub connections: u32,
    pub start_time: Timestamp,
    pub max_expiration_time: Timestamp,
    pub authentication_type: AuthenticationType,
    pub last_input_time: Timestamp,
    /// Start of the current NOT_CONNECTED spell (from creation until the
    /// first connection too: an unclaimed session times out like a left one).
    pub disconnected_since: Option<Timestamp>,
    pub application_id: Option<String>,
    pub session_context: Option<String>,
    /// A federated user's attributes, which entitlements match.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<Attribute>,
    pub end_time: Option<Timestamp>,
    pub end_reason: Option<EndReason>,
    /// A session on an image builder's desktop (no stack or fleet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_builder: Option<String>,
    #[serde(skip)]
    pub(crate) warned: Warned,
}

impl Session {
    pub fn is_live(&self) -> bool {
        self.state != SessionState::Expired
    }
}

/// What a streaming URL authorises; the server signs it into the URL's token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamingGrant {
    pub stack: String,
    pub fleet: String,
    pub user_id: String,
    pub application_id: Option<String>,
    pub session_context: Option<String>,
    pub expires: Timestamp,
    /// API for CreateStreamingURL's; USERPOOL for the portal's; SAML for
    /// federated users' (whatever their protocol: AppStream knows only SAML).
    #[serde(default = "api_user")]
    pub authentication_type: AuthenticationType,
    /// A federated user's attributes (roles, groups, ...), as their identity
    /// provider asserted them; signed into the URL with the rest.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<Attribute>,
    /// CreateImageBuilderStreamingURL's: the builder's desktop (stack and fleet empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_builder: Option<String>,
}

fn api_user() -> AuthenticationType {
    AuthenticationType::Api
}

pub const DEFAULT_URL_VALIDITY_SECS: u64 = 60;
pub const MAX_URL_VALIDITY_SECS: u64 = 604_800;

/// A streaming URL's Validity: the default when absent, refused outside AppStream's range.
pub(crate) fn url_validity(validity_secs: Option<u64>) -> crate::error::Result<u64> {
    let validity = validity_secs.unwrap_or(DEFAULT_URL_VALIDITY_SECS);
    if !(1..=MAX_URL_VALIDITY_SECS).contains(&validity) {
        return Err(crate::error::DomainError::validation(format!(
            "Validity must be between 1 and {MAX_URL_VALIDITY_SECS} seconds."
        )));
    }
    Ok(validity)
}

//! Sessions and streaming grants.

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
            Self::IdleTimeout => "you were disconnected after a period without input",
        }
    }
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
    pub end_time: Option<Timestamp>,
    pub end_reason: Option<EndReason>,
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
}

pub const DEFAULT_URL_VALIDITY_SECS: u64 = 60;
pub const MAX_URL_VALIDITY_SECS: u64 = 604_800;

//! Fleets: configuration plus the STARTING/RUNNING/STOPPING/STOPPED machine.

use crate::error::{DomainError, ErrorKind, Result};
use crate::instance_type::InstanceType;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const DEFAULT_MAX_USER_DURATION_SECS: u64 = 57_600;
pub const DEFAULT_DISCONNECT_TIMEOUT_SECS: u64 = 900;
/// AppStream allows 100 instances on a fleet with default internet access;
/// here it bounds every fleet so a typo cannot fork thousands of sandboxes.
pub const MAX_DESIRED_INSTANCES: u32 = 100;

macro_rules! wire_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident = $s:literal),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name { $(#[serde(rename = $s)] $variant),* }

        impl $name {
            pub const fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $s),* }
            }

            pub fn parse(s: &str) -> Option<Self> {
                [$(Self::$variant),*].into_iter().find(|v| v.as_str() == s)
            }
        }
    };
}
pub(crate) use wire_enum;

wire_enum!(FleetType {
    AlwaysOn = "ALWAYS_ON",
    OnDemand = "ON_DEMAND",
    Elastic = "ELASTIC",
});
wire_enum!(FleetState {
    Starting = "STARTING",
    Running = "RUNNING",
    Stopping = "STOPPING",
    Stopped = "STOPPED",
});
wire_enum!(StreamView {
    App = "APP",
    Desktop = "DESKTOP",
});
wire_enum!(
    /// The FleetErrorCode values Porthole reports (the model has many more).
    FleetErrorCode {
    InstanceProvisioningFailure = "FLEET_INSTANCE_PROVISIONING_FAILURE",
});

/// First wait after a failed launch; doubled per further failure, up to the cap.
pub const LAUNCH_BACKOFF_FIRST_SECS: u64 = 1;
pub const LAUNCH_BACKOFF_MAX_SECS: u64 = 60;

/// One of DescribeFleets' FleetErrors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetError {
    pub code: FleetErrorCode,
    pub message: String,
}

/// Failed launches since an instance of the fleet last came up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LaunchBackoff {
    /// Counted per round: instances launched together and failing together count once.
    pub failures: u32,
    /// When the last counted failure was reported; instances created before it belong to
    /// the same round.
    pub last_failure: Timestamp,
    /// No replacement is launched before this.
    pub until: Timestamp,
}

impl LaunchBackoff {
    /// The wait after `failures` consecutive failures: 1 s, 2 s, 4 s, ... capped.
    pub fn wait_secs(failures: u32) -> u64 {
        let doublings = failures.saturating_sub(1).min(63);
        LAUNCH_BACKOFF_FIRST_SECS
            .saturating_mul(1u64 << doublings)
            .min(LAUNCH_BACKOFF_MAX_SECS)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fleet {
    pub name: String,
    pub display_name: Option<String>,
    pub description: Option<String>,
    pub image_name: String,
    pub instance_type: String,
    pub fleet_type: FleetType,
    /// DesiredInstances for ALWAYS_ON and ON_DEMAND; unused for ELASTIC.
    pub desired_instances: u32,
    /// Required for ELASTIC, absent otherwise.
    pub max_concurrent_sessions: Option<u32>,
    pub max_user_duration_secs: u64,
    pub disconnect_timeout_secs: u64,
    /// 0 disables the idle timeout.
    pub idle_disconnect_timeout_secs: u64,
    /// true: a private, NATed network (no host loopback); false: an empty netns.
    pub enable_default_internet_access: bool,
    pub stream_view: StreamView,
    pub state: FleetState,
    pub created_time: Timestamp,
    /// Sessions refused for lack of capacity (the InsufficientCapacityError metric).
    pub insufficient_capacity_errors: u64,
    pub tags: BTreeMap<String, String>,
    /// Why instances fail to start (at most one per code). Not stored: a restart retries.
    #[serde(skip)]
    pub errors: Vec<FleetError>,
    #[serde(skip)]
    pub launch_backoff: Option<LaunchBackoff>,
    /// Model members Porthole stores and returns but does not act on
    /// (VpcConfig, DomainJoinInfo, IamRoleArn, Platform, ...), by wire name.
    pub extra: BTreeMap<String, serde_json::Value>,
}

impl Fleet {
    /// A fleet with AppStream's defaults, STOPPED as CreateFleet leaves it.
    pub fn new(
        name: &str,
        image_name: &str,
        instance_type: &str,
        fleet_type: FleetType,
        now: Timestamp,
    ) -> Self {
        Self {
            name: name.to_owned(),
            display_name: None,
            description: None,
            image_name: image_name.to_owned(),
            instance_type: instance_type.to_owned(),
            fleet_type,
            desired_instances: 0,
            max_concurrent_sessions: None,
            max_user_duration_secs: DEFAULT_MAX_USER_DURATION_SECS,
            disconnect_timeout_secs: DEFAULT_DISCONNECT_TIMEOUT_SECS,
            idle_disconnect_timeout_secs: 0,
            enable_default_internet_access: false,
            stream_view: StreamView::App,
            state: FleetState::Stopped,
            created_time: now,
            insufficient_capacity_errors: 0,
            tags: BTreeMap::new(),
            errors: Vec::new(),
            launch_backoff: None,
            extra: BTreeMap::new(),
        }
    }

    /// Checks the rules that hold whatever the fleet's state.
    pub fn validate(&self) -> Result<()> {
        let itype = InstanceType::lookup(&self.instance_type)?;
        match (self.fleet_type, self.max_concurrent_sessions) {
            (FleetType::Elastic, None) => {
                return Err(DomainError::combination(
                    "MaxConcurrentSessions is required for Elastic fleets.",
                ))
            }
            (FleetType::Elastic, Some(0)) => {
                return Err(DomainError::validation(
                    "MaxConcurrentSessions must be at least 1.",
                ))
            }
            (FleetType::Elastic, Some(_)) if !itype.allowed_for_elastic() => {
                return Err(DomainError::combination(format!(
                    "The instance type {} is not available for Elastic fleets.",
                    itype.name
                )))
            }
            (FleetType::AlwaysOn | FleetType::OnDemand, Some(_)) => {
                return Err(DomainError::combination(
                    "MaxConcurrentSessions is only allowed for Elastic fleets.",
                ))
            }
            _ => {}
        }
        if self.desired_instances > MAX_DESIRED_INSTANCES {
            return Err(DomainError::new(
                ErrorKind::LimitExceeded,
                format!("A fleet can have at most {MAX_DESIRED_INSTANCES} instances."),
            ));
        }
        check_range(
            "MaxUserDurationInSeconds",
            self.max_user_duration_secs,
            600,
            432_000,
        )?;
        check_range(
            "DisconnectTimeoutInSeconds",
            self.disconnect_timeout_secs,
            60,
            36_000,
        )?;
        if self.idle_disconnect_timeout_secs != 0 {
            check_range(
                "IdleDisconnectTimeoutInSeconds",
                self.idle_disconnect_timeout_secs,
                60,
                36_000,
            )?;
        }
        Ok(())
    }

    pub fn instance_type(&self) -> InstanceType {
        // Validated on every write, so the lookup cannot fail for a stored fleet.
        InstanceType::lookup(&self.instance_type).unwrap_or(crate::instance_type::INSTANCE_TYPES[0])
    }

    /// STOPPED -> STARTING. Anything else is refused: a fleet in transition
    /// asks the caller to retry, a started one is already started.
    pub fn start(&mut self) -> Result<()> {
        match self.state {
            FleetState::Stopped => {
                self.state = FleetState::Starting;
                Ok(())
            }
            FleetState::Stopping => Err(DomainError::new(
                ErrorKind::ConcurrentModification,
                format!(
                    "The fleet {} is stopping; start it once it is STOPPED.",
                    self.name
                ),
            )),
            FleetState::Starting | FleetState::Running => Err(DomainError::not_permitted(format!(
                "The fleet {} is already {}.",
                self.name,
                self.state.as_str()
            ))),
        }
    }

    /// STARTING/RUNNING -> STOPPING. Stopping a stopped or stopping fleet is a
    /// no-op (StopFleet models no error for it). Returns whether it changed.
    pub fn stop(&mut self) -> bool {
        match self.state {
            FleetState::Starting | FleetState::Running => {
                self.state = FleetState::Stopping;
                self.clear_launch_failures();
                true
            }
            FleetState::Stopping | FleetState::Stopped => false,
        }
    }

    /// A launch failed: records the error (replacing one of the same code) and, unless the
    /// instance was launched before the last counted failure (same round), backs off further.
    pub fn launch_failed(&mut self, error: FleetError, launched_at: Timestamp, now: Timestamp) {
        self.errors.retain(|e| e.code != error.code);
        self.errors.push(error);
        let failures = match self.launch_backoff {
            Some(b) if launched_at < b.last_failure => return,
            Some(b) => b.failures + 1,
            None => 1,
        };
        self.launch_backoff = Some(LaunchBackoff {
            failures,
            last_failure: now,
            until: now.plus_secs(LaunchBackoff::wait_secs(failures)),
        });
    }

    /// An instance came up, or the admin stopped or changed the fleet: start afresh.
    pub fn clear_launch_failures(&mut self) {
        self.errors.clear();
        self.launch_backoff = None;
    }

    /// Whether the fleet keeps instances and accepts sessions.
    pub fn is_active(&self) -> bool {
        matches!(self.state, FleetState::Starting | FleetState::Running)
    }

    /// The idle timeout as AppStream applies it: rounded to whole minutes,
    /// half a minute rounding up (70 s -> 60 s, 90 s -> 120 s).
    pub fn effective_idle_timeout_secs(&self) -> u64 {
        (self.idle_disconnect_timeout_secs + 30) / 60 * 60
    }
}

fn check_range(member: &str, value: u64, min: u64, max: u64) -> Result<()> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(DomainError::validation(format!(
            "{member} must be between {min} and {max}, got {value}."
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fleet(fleet_type: FleetType) -> Fleet {
        let mut f = Fleet::new(
            "f",
            "img",
            "stream.standard.small",
            fleet_type,
            Timestamp(0),
        );
        if fleet_type == FleetType::Elastic {
            f.max_concurrent_sessions = Some(2);
        }
        f
    }

    #[test]
    fn start_stop_transitions() {
        let mut f = fleet(FleetType::AlwaysOn);
        f.start().unwrap();
        assert_eq!(f.state, FleetState::Starting);
        assert_eq!(
            f.start().unwrap_err().kind,
            ErrorKind::OperationNotPermitted
        );
        assert!(f.stop());
        assert_eq!(f.state, FleetState::Stopping);
        assert!(!f.stop());
        assert_eq!(
            f.start().unwrap_err().kind,
            ErrorKind::ConcurrentModification
        );
    }

    #[test]
    fn type_specific_capacity_members() {
        let mut f = fleet(FleetType::AlwaysOn);
        f.max_concurrent_sessions = Some(3);
        assert_eq!(
            f.validate().unwrap_err().kind,
            ErrorKind::InvalidParameterCombination
        );
        let mut e = fleet(FleetType::Elastic);
        e.max_concurrent_sessions = None;
        assert_eq!(
            e.validate().unwrap_err().kind,
            ErrorKind::InvalidParameterCombination
        );
        let mut e = fleet(FleetType::Elastic);
        e.instance_type = "stream.compute.large".into();
        assert_eq!(
            e.validate().unwrap_err().kind,
            ErrorKind::InvalidParameterCombination
        );
        assert!(fleet(FleetType::Elastic).validate().is_ok());
    }

    #[test]
    fn timeout_ranges() {
        let mut f = fleet(FleetType::OnDemand);
        f.idle_disconnect_timeout_secs = 59;
        assert_eq!(f.validate().unwrap_err().kind, ErrorKind::Validation);
        f.idle_disconnect_timeout_secs = 0;
        f.disconnect_timeout_secs = 36_001;
        assert_eq!(f.validate().unwrap_err().kind, ErrorKind::Validation);
        f.disconnect_timeout_secs = 60;
        f.max_user_duration_secs = 599;
        assert_eq!(f.validate().unwrap_err().kind, ErrorKind::Validation);
    }

    #[test]
    fn launch_backoff_doubles_and_is_capped() {
        let waits: Vec<u64> = (1..=9).map(LaunchBackoff::wait_secs).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(LaunchBackoff::wait_secs(u32::MAX), LAUNCH_BACKOFF_MAX_SECS);
    }

    #[test]
    fn idle_timeout_rounds_to_minutes() {
        let mut f = fleet(FleetType::AlwaysOn);
        for (set, effective) in [(0, 0), (60, 60), (70, 60), (90, 120), (119, 120)] {
            f.idle_disconnect_timeout_secs = set;
            assert_eq!(f.effective_idle_timeout_secs(), effective, "{set}");
        }
    }
}

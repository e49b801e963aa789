//! Instances as bookkeeping: the server runs the sandboxes, the domain decides
//! how many there should be and what each is for.

use crate::fleet::StreamView;
use crate::image::ImageRoot;
use crate::instance_type::InstanceType;
use crate::session::{DisconnectReason, EndReason, Notice};
use crate::time::Timestamp;
use crate::user::Mail;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstanceState {
    /// ON_DEMAND capacity: reserved, no process until a session starts it.
    Stopped,
    /// Launch or start requested; the server reports readiness.
    Pending,
    /// Ready to stream (free, or serving its session).
    Running,
    /// Termination requested; the server reports the exit.
    Terminating,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    pub id: String,
    /// Empty for an image builder's instance.
    pub fleet: String,
    /// The image builder it runs, if it is one's.
    pub builder: Option<String>,
    /// The image it was launched from: a fleet's image can change while it
    /// runs, free instances of the old image are then replaced.
    pub image_name: String,
    pub state: InstanceState,
    /// The one session this instance serves; an instance is never reused.
    pub session: Option<String>,
    pub created_time: Timestamp,
}

impl Instance {
    pub fn is_free(&self) -> bool {
        self.session.is_none() && self.state != InstanceState::Terminating
    }

    pub fn in_use(&self) -> bool {
        self.session.is_some() && self.state != InstanceState::Terminating
    }
}

/// Everything the server needs to run an instance.
#[derive(Debug, Clone, PartialEq)]
pub struct LaunchSpec {
    pub instance_id: String,
    pub fleet: String,
    pub instance_type: InstanceType,
    pub image: String,
    pub root: ImageRoot,
    /// An image builder's name and the image store's directory its changes are kept in.
    pub image_builder: Option<String>,
    pub writable_layer: Option<String>,
    /// true: a private, NATed network (EnableDefaultInternetAccess); false: empty netns.
    pub network: bool,
    pub stream_view: StreamView,
}

/// What the server must do; produced by the domain, applied in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Create and boot a new instance; report `instance_ready` or `instance_exited`.
    LaunchInstance(LaunchSpec),
    /// Boot a reserved ON_DEMAND instance for the session now assigned to it.
    StartInstance(LaunchSpec),
    /// Destroy the instance; report `instance_exited` when it is gone.
    TerminateInstance { instance_id: String },
    /// The builder's instance is gone: turn `writable_layer`'s changes into the read-only
    /// `layer` (leaving the writable layer empty), read the catalog of the image made of
    /// it, and report `image_builder_snapshot_done`.
    SnapshotImageBuilder {
        builder: String,
        writable_layer: String,
        layer: String,
    },
    /// Tell the session's browsers why it ended and close them.
    EndSession {
        session_id: String,
        instance_id: Option<String>,
        reason: EndReason,
    },
    /// Close the session's browsers (it stays ACTIVE until the disconnect
    /// timeout; reconnecting resumes it).
    DisconnectSession {
        session_id: String,
        reason: DisconnectReason,
        /// Until when reconnecting resumes it (kind Disconnected).
        resume: Notice,
    },
    /// Warn the session's connected browsers of a coming timeout.
    WarnSession { session_id: String, notice: Notice },
    /// Send a user-pool user a message (welcome, stack assigned).
    MailUser { user_name: String, mail: Mail },
}

/// Counts behind ComputeCapacityStatus and the CloudWatch-named metrics.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Capacity {
    /// ComputeCapacityStatus.Desired: DesiredInstances, or MaxConcurrentSessions (ELASTIC).
    pub desired: u32,
    /// Instances running (free or in use).
    pub running: u32,
    pub in_use: u32,
    /// Ready for a new session: running and free (ALWAYS_ON), reserved or
    /// running and free (ON_DEMAND), unused session slots (ELASTIC).
    pub available: u32,
    /// Instances being provisioned that no session waits for.
    pub pending: u32,
    pub insufficient_capacity_errors: u64,
}

impl Capacity {
    /// ActualCapacity = Available + InUse.
    pub fn actual(&self) -> u32 {
        self.available + self.in_use
    }

    /// DesiredCapacity metric = Actual + Pending (AppStream's definition).
    pub fn desired_metric(&self) -> u32 {
        self.actual() + self.pending
    }

    /// CapacityUtilization = InUse / Actual * 100 (0 with no capacity).
    pub fn utilization(&self) -> f64 {
        match self.actual() {
            0 => 0.0,
            actual => f64::from(self.in_use) * 100.0 / f64::from(actual),
        }
    }
}

//! Porthole's control plane as pure state machines: images, fleets, stacks,
//! instances (as bookkeeping), sessions, timeouts and scaling. No IO, no
//! clock, no randomness: time is a parameter, ids come from an [`IdSource`],
//! and everything the server must do comes back as [`Effect`]s.
//!
//! It knows no API documents: porthole-appstream-ops maps AppStream's and
//! Application Auto Scaling's operations onto the methods here. serde is only
//! for persistence (and the model members stored as they came, `extra`).
//!
//! Contract with the server: apply every returned `Vec<Effect>` in order;
//! after a method that returns none (the operations') call
//! [`ControlPlane::take_effects`]; call [`ControlPlane::tick`] periodically
//! (about once a second); report instance readiness/exits and browser
//! connections; persist [`ControlPlane::take_changes`] after each mutation.

pub mod app_block;
mod app_launch;
pub mod application;
pub mod arn;
pub mod autoscaling;
pub mod desktop_entry;
pub mod entitlement;
pub mod error;
pub mod fleet;
pub mod image;
pub mod image_builder;
mod image_sharing;
pub mod instance;
pub mod instance_type;
pub mod my_files;
mod plane;
mod runtime;
pub mod scaling;
pub mod session;
pub mod session_scripts;
pub mod stack;
pub mod time;
pub mod user;

pub use app_block::AppBlock;
pub use app_launch::{AppLaunch, LaunchRefused, ScriptTarget};
pub use application::FleetApplication;
pub use arn::{Config, ResourceType};
pub use error::{DomainError, ErrorKind};
pub use fleet::{Fleet, FleetState, FleetType, StreamView};
pub use image::{default_image, Application, Image, ImageRoot};
pub use image_builder::{ImageBuilder, ImageBuilderState, NewImageBuilder};
pub use instance::{Capacity, Effect, Instance, InstanceState, LaunchSpec};
pub use instance_type::InstanceType;
pub use plane::{Change, ControlPlane, IdSource, SequentialIds, MAX_TAGS};
pub use runtime::DESKTOP_APPLICATION_ID;
pub use scaling::{ScalableTarget, SuspendedState, TargetTrackingPolicy};
pub use session::{EndReason, Notice, NoticeKind, Session, SessionState, StreamingGrant};
pub use session_scripts::{ScriptPhase, SessionScripts};
pub use stack::Stack;
pub use time::Timestamp;
pub use user::{Mail, User, UserStatus};

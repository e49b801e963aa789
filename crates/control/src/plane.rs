//! The aggregate: every resource, their relations, the effect outbox and the
//! dirty set that feeds persistence.

use crate::app_block::AppBlock;
use crate::application::FleetApplication;
use crate::arn::{Config, ResourceType};
use crate::entitlement::Entitlement;
use crate::error::{DomainError, ErrorKind, Result};
use crate::fleet::{Fleet, FleetState};
use crate::image::{Image, ImageState, Visibility};
use crate::image_builder::ImageBuilder;
use crate::instance::{Effect, Instance, InstanceState};
use crate::scaling::ScalableTarget;
use crate::session::{ConnectionState, EndReason, Session};
use crate::stack::Stack;
use crate::time::Timestamp;
use crate::user::User;
use serde::de::DeserializeOwned;
use std::collections::{BTreeMap, BTreeSet};

/// AppStream's per-resource tag limit.
pub const MAX_TAGS: usize = 50;

/// Where new session and instance ids come from (random in the server,
/// sequential in tests). Ids already in use are skipped, so a counter that
/// restarts after `restore` cannot collide with recorded sessions.
pub trait IdSource: Send {
    fn next_id(&mut self) -> String;
}

impl<F: FnMut() -> String + Send> IdSource for F {
    fn next_id(&mut self) -> String {
        self()
    }
}

/// 1, 2, 3, ... as 16 hex digits.
#[derive(Debug, Default)]
pub struct SequentialIds {
    next: u64,
}

impl IdSource for SequentialIds {
    fn next_id(&mut self) -> String {
        self.next += 1;
        format!("{:016x}", self.next)
    }
}

/// Kinds of persisted documents. Instances are not among them: after a
/// restart every instance is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum DocKind {
    Image,
    Fleet,
    Stack,
    Session,
    /// A fleet's Application Auto Scaling target with its policies and
    /// activities, keyed by fleet name.
    ScalableTarget,
    /// A user-pool user, keyed by user name.
    User,
    /// An entitlement, keyed by `stack/name`.
    Entitlement,
    AppBlock,
    /// An API application with its fleet associations, keyed by name.
    Application,
    ImageBuilder,
}

impl DocKind {
    const ALL: [DocKind; 10] = [
        Self::Image,
        Self::Fleet,
        Self::Stack,
        Self::Session,
        Self::ScalableTarget,
        Self::User,
        Self::Entitlement,
        Self::AppBlock,
        Self::Application,
        Self::ImageBuilder,
    ];

    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            Self::Image => "image",
            Self::Fleet => "fleet",
            Self::Stack => "stack",
            Self::Session => "session",
            Self::ScalableTarget => "scalable-target",
            Self::User => "user",
            Self::Entitlement => "entitlement",
            Self::AppBlock => "app-block",
            Self::Application => "application",
            Self::ImageBuilder => "image-builder",
        }
    }
}

/// One document to write (`Some`) or delete (`None`) in the store.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub kind: &'static str,
    pub key: String,
    pub document: Option<serde_json::Value>,
}

pub struct ControlPlane {
    pub(crate) config: Config,
    ids: Box<dyn IdSource>,
    pub(crate) images: BTreeMap<String, Image>,
    pub(crate) fleets: BTreeMap<String, Fleet>,
    pub(crate) stacks: BTreeMap<String, Stack>,
    pub(crate) sessions: BTreeMap<String, Session>,
    pub(crate) instances: BTreeMap<String, Instance>,
    /// By fleet name.
    pub(crate) scalable_targets: BTreeMap<String, ScalableTarget>,
    /// The user pool, by user name.
    pub(crate) users: BTreeMap<String, User>,
    /// By `stack/name`.
    pub(crate) entitlements: BTreeMap<String, Entitlement>,
    pub(crate) app_blocks: BTreeMap<String, AppBlock>,
    pub(crate) applications: BTreeMap<String, FleetApplication>,
    pub(crate) image_builders: BTreeMap<String, ImageBuilder>,
    pub(crate) outbox: Vec<Effect>,
    dirty: BTreeSet<(DocKind, String)>,
}

impl ControlPlane {
    pub fn new(config: Config, ids: impl IdSource + 'static) -> Self {
        Self {
            config,
            ids: Box::new(ids),
            images: BTreeMap::new(),
            fleets: BTreeMap::new(),
            stacks: BTreeMap::new(),
            sessions: BTreeMap::new(),
            instances: BTreeMap::new(),
            scalable_targets: BTreeMap::new(),
            users: BTreeMap::new(),
            entitlements: BTreeMap::new(),
            app_blocks: BTreeMap::new(),
            applications: BTreeMap::new(),
            image_builders: BTreeMap::new(),
            outbox: Vec::new(),
            dirty: BTreeSet::new(),
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn arn(&self, resource: ResourceType, name: &str) -> String {
        self.config.arn(resource, name)
    }

    pub(crate) fn fresh_id(&mut self, prefix: &str) -> String {
        loop {
            let id = format!("{prefix}{}", self.ids.next_id());
            if !self.sessions.contains_key(&id) && !self.instances.contains_key(&id) {
                return id;
            }
        }
    }

    pub(crate) fn mark(&mut self, kind: DocKind, key: &str) {
        self.dirty.insert((kind, key.to_owned()));
    }

    // ---- reads -------------------------------------------------------------

    pub fn image(&self, name: &str) -> Result<&Image> {
        self.images
            .get(name)
            .ok_or_else(|| DomainError::not_found("image", name))
    }

    pub fn images(&self) -> impl Iterator<Item = &Image> {
        self.images.values()
    }

    /// An image that instances can be launched from now.
    pub fn available_image(&self, name: &str) -> Result<&Image> {
        let image = self.image(name)?;
        if image.state != ImageState::Available {
            return Err(DomainError::new(
                ErrorKind::ResourceNotAvailable,
                format!(
                    "The image {name} is {}; a fleet needs an AVAILABLE image.",
                    image.state.as_str()
                ),
            ));
        }
        Ok(image)
    }

    /// The image a stack streams: its fleet's, if it has a fleet.
    pub fn stack_image(&self, stack: &str) -> Option<&Image> {
        let fleet = self.fleet(self.stack(stack).ok()?.fleet.as_deref()?).ok()?;
        self.image(&fleet.image_name).ok()
    }

    pub fn fleet(&self, name: &str) -> Result<&Fleet> {
        self.fleets
            .get(name)
            .ok_or_else(|| DomainError::not_found("fleet", name))
    }

    pub fn fleets(&self) -> impl Iterator<Item = &Fleet> {
        self.fleets.values()
    }

    pub fn stack(&self, name: &str) -> Result<&Stack> {
        self.stacks
            .get(name)
            .ok_or_else(|| DomainError::not_found("stack", name))
    }

    pub fn stacks(&self) -> impl Iterator<Item = &Stack> {
        self.stacks.values()
    }

    pub fn session(&self, id: &str) -> Result<&Session> {
        self.sessions
            .get(id)
            .ok_or_else(|| DomainError::not_found("session", id))
    }

    /// Every recorded session, ended ones included.
    pub fn sessions(&self) -> impl Iterator<Item = &Session> {
        self.sessions.values()
    }

    pub fn instance(&self, id: &str) -> Result<&Instance> {
        self.instances
            .get(id)
            .ok_or_else(|| DomainError::not_found("instance", id))
    }

    pub fn instances(&self) -> impl Iterator<Item = &Instance> {
        self.instances.values()
    }

    /// Names of the stacks `fleet` is associated with.
    pub fn associated_stacks(&self, fleet: &str) -> Vec<String> {
        self.stacks
            .values()
            .filter(|s| s.fleet.as_deref() == Some(fleet))
            .map(|s| s.name.clone())
            .collect()
    }

    // ---- images ------------------------------------------------------------

    /// Adds or replaces an image (the server refreshes the default image's
    /// catalog at every start).
    pub fn put_image(&mut self, image: Image) {
        self.mark(DocKind::Image, &image.name);
        self.images.insert(image.name.clone(), image);
    }

    /// Removes a private image that no fleet uses, and answers it as it was.
    pub fn delete_image(&mut self, name: &str) -> Result<Image> {
        if self.image(name)?.visibility != Visibility::Private {
            return Err(DomainError::not_permitted(format!(
                "The image {name} is not private: only your own images can be deleted."
            )));
        }
        let fleets: Vec<&str> = self
            .fleets
            .values()
            .filter(|f| f.image_name == name)
            .map(|f| f.name.as_str())
            .collect();
        if !fleets.is_empty() {
            return Err(DomainError::in_use(format!(
                "The image {name} is used by fleet(s) {}; delete them or change their image first.",
                fleets.join(", ")
            )));
        }
        let builders: Vec<&str> = self
            .image_builders
            .values()
            .filter(|b| b.image_name == name)
            .map(|b| b.name.as_str())
            .collect();
        if !builders.is_empty() {
            return Err(DomainError::in_use(format!(
                "The image {name} is the base of image builder(s) {}; delete them first.",
                builders.join(", ")
            )));
        }
        // A fleet given another image keeps busy instances on this one until their
        // sessions end; its root must outlive them.
        let running = self
            .instances
            .values()
            .filter(|i| i.image_name == name && i.state != InstanceState::Stopped)
            .count();
        if running > 0 {
            return Err(DomainError::in_use(format!(
                "The image {name} still runs {running} instance(s); delete it once their sessions end."
            )));
        }
        self.mark(DocKind::Image, name);
        Ok(self.images.remove(name).expect("looked up above"))
    }

    // ---- fleets ------------------------------------------------------------

    pub fn create_fleet(&mut self, fleet: Fleet) -> Result<()> {
        if self.fleets.contains_key(&fleet.name) {
            return Err(DomainError::new(
                ErrorKind::ResourceAlreadyExists,
                format!("The fleet {} already exists.", fleet.name),
            ));
        }
        self.available_image(&fleet.image_name)?;
        fleet.validate()?;
        self.mark(DocKind::Fleet, &fleet.name);
        self.fleets.insert(fleet.name.clone(), fleet);
        Ok(())
    }

    /// Applies `edit` to a copy of the fleet and keeps it only if the result
    /// is valid, then reconciles (capacity or image may have changed).
    pub fn update_fleet(
        &mut self,
        name: &str,
        now: Timestamp,
        edit: impl FnOnce(&mut Fleet) -> Result<()>,
    ) -> Result<&Fleet> {
        let mut fleet = self.fleet(name)?.clone();
        edit(&mut fleet)?;
        fleet.name = name.to_owned();
        // The admin may have fixed what made launches fail: retry at once.
        fleet.clear_launch_failures();
        self.available_image(&fleet.image_name)?;
        fleet.validate()?;
        self.fleets.insert(name.to_owned(), fleet);
        self.mark(DocKind::Fleet, name);
        self.reconcile_fleet(name, now);
        self.fleet(name)
    }

    pub fn start_fleet(&mut self, name: &str, now: Timestamp) -> Result<()> {
        self.fleets
            .get_mut(name)
            .ok_or_else(|| DomainError::not_found("fleet", name))?
            .start()?;
        self.mark(DocKind::Fleet, name);
        self.reconcile_fleet(name, now);
        Ok(())
    }

    /// Ends the fleet's sessions and terminates its instances; the fleet is
    /// STOPPED once the last instance has exited.
    pub fn stop_fleet(&mut self, name: &str, now: Timestamp) -> Result<()> {
        let fleet = self
            .fleets
            .get_mut(name)
            .ok_or_else(|| DomainError::not_found("fleet", name))?;
        if fleet.stop() {
            self.mark(DocKind::Fleet, name);
        }
        self.reconcile_fleet(name, now);
        Ok(())
    }

    pub fn delete_fleet(&mut self, name: &str) -> Result<()> {
        let fleet = self.fleet(name)?;
        if fleet.state != FleetState::Stopped {
            return Err(DomainError::in_use(format!(
                "The fleet {name} is {}; stop it before deleting it.",
                fleet.state.as_str()
            )));
        }
        let stacks = self.associated_stacks(name);
        if !stacks.is_empty() {
            return Err(DomainError::in_use(format!(
                "The fleet {name} is associated with stack(s) {}; disassociate it first.",
                stacks.join(", ")
            )));
        }
        self.fleets.remove(name);
        self.mark(DocKind::Fleet, name);
        if self.scalable_targets.remove(name).is_some() {
            self.mark(DocKind::ScalableTarget, name);
        }
        self.forget_fleet_applications(name);
        Ok(())
    }

    // ---- stacks ------------------------------------------------------------

    pub fn create_stack(&mut self, stack: Stack) -> Result<()> {
        if self.stacks.contains_key(&stack.name) {
            return Err(DomainError::new(
                ErrorKind::ResourceAlreadyExists,
                format!("The stack {} already exists.", stack.name),
            ));
        }
        for s in &stack.user_settings {
            s.validate()?;
        }
        self.mark(DocKind::Stack, &stack.name);
        self.stacks.insert(stack.name.clone(), stack);
        Ok(())
    }

    pub fn update_stack(
        &mut self,
        name: &str,
        edit: impl FnOnce(&mut Stack) -> Result<()>,
    ) -> Result<&Stack> {
        let mut stack = self.stack(name)?.clone();
        edit(&mut stack)?;
        stack.name = name.to_owned();
        self.stacks.insert(name.to_owned(), stack);
        self.mark(DocKind::Stack, name);
        self.stack(name)
    }

    pub fn delete_stack(&mut self, name: &str) -> Result<()> {
        if let Some(fleet) = &self.stack(name)?.fleet {
            return Err(DomainError::in_use(format!(
                "The stack {name} is associated with the fleet {fleet}; disassociate it first."
            )));
        }
        self.stacks.remove(name);
        self.mark(DocKind::Stack, name);
        self.forget_stack_assignments(name);
        self.forget_stack_entitlements(name);
        Ok(())
    }

    pub fn associate_fleet(&mut self, fleet: &str, stack: &str) -> Result<()> {
        self.fleet(fleet)?;
        match &self.stack(stack)?.fleet {
            Some(current) if current == fleet => return Ok(()),
            Some(current) => {
                return Err(DomainError::new(
                    ErrorKind::LimitExceeded,
                    format!(
                        "The stack {stack} is already associated with the fleet {current}; \
                         a stack streams from one fleet."
                    ),
                ))
            }
            None => {}
        }
        self.update_stack(stack, |s| {
            s.fleet = Some(fleet.to_owned());
            Ok(())
        })?;
        Ok(())
    }

    pub fn disassociate_fleet(&mut self, fleet: &str, stack: &str) -> Result<()> {
        self.fleet(fleet)?;
        if self.stack(stack)?.fleet.as_deref() != Some(fleet) {
            return Err(DomainError::new(
                ErrorKind::ResourceNotFound,
                format!("The fleet {fleet} is not associated with the stack {stack}."),
            ));
        }
        let live = self
            .sessions
            .values()
            .filter(|s| s.is_live() && s.fleet == fleet && s.stack == stack)
            .count();
        if live > 0 {
            return Err(DomainError::in_use(format!(
                "{live} session(s) of the stack {stack} run on the fleet {fleet}."
            )));
        }
        self.update_stack(stack, |s| {
            s.fleet = None;
            Ok(())
        })?;
        Ok(())
    }

    // ---- tags --------------------------------------------------------------

    fn tags_mut(&mut self, arn: &str) -> Result<&mut BTreeMap<String, String>> {
        let (kind, name) = self.config.parse_arn(arn)?;
        let (doc, tags) = match kind {
            ResourceType::Fleet => (
                DocKind::Fleet,
                self.fleets.get_mut(&name).map(|f| &mut f.tags),
            ),
            ResourceType::Stack => (
                DocKind::Stack,
                self.stacks.get_mut(&name).map(|s| &mut s.tags),
            ),
            ResourceType::Image => (
                DocKind::Image,
                self.images.get_mut(&name).map(|i| &mut i.tags),
            ),
            ResourceType::AppBlock => (
                DocKind::AppBlock,
                self.app_blocks.get_mut(&name).map(|b| &mut b.tags),
            ),
            ResourceType::Application => (
                DocKind::Application,
                self.applications.get_mut(&name).map(|a| &mut a.tags),
            ),
            ResourceType::ImageBuilder => (
                DocKind::ImageBuilder,
                self.image_builders.get_mut(&name).map(|b| &mut b.tags),
            ),
        };
        let tags = tags.ok_or_else(|| DomainError::not_found("resource", arn))?;
        self.dirty.insert((doc, name));
        Ok(tags)
    }

    pub fn tags(&self, arn: &str) -> Result<BTreeMap<String, String>> {
        let (kind, name) = self.config.parse_arn(arn)?;
        match kind {
            ResourceType::Fleet => self.fleet(&name).map(|f| f.tags.clone()),
            ResourceType::Stack => self.stack(&name).map(|s| s.tags.clone()),
            ResourceType::Image => self.image(&name).map(|i| i.tags.clone()),
            ResourceType::AppBlock => self.app_block(&name).map(|b| b.tags.clone()),
            ResourceType::Application => self.fleet_application(&name).map(|a| a.tags.clone()),
            ResourceType::ImageBuilder => self.image_builder(&name).map(|b| b.tags.clone()),
        }
        .map_err(|_| DomainError::not_found("resource", arn))
    }

    pub fn tag_resource(&mut self, arn: &str, new: BTreeMap<String, String>) -> Result<()> {
        let tags = self.tags_mut(arn)?;
        let after = tags.keys().chain(new.keys()).collect::<BTreeSet<_>>().len();
        if after > MAX_TAGS {
            return Err(DomainError::new(
                ErrorKind::LimitExceeded,
                format!("A resource can have at most {MAX_TAGS} tags."),
            ));
        }
        tags.extend(new);
        Ok(())
    }

    pub fn untag_resource(&mut self, arn: &str, keys: &[String]) -> Result<()> {
        let tags = self.tags_mut(arn)?;
        for key in keys {
            tags.remove(key);
        }
        Ok(())
    }

    // ---- persistence -------------------------------------------------------

    /// The documents changed since the last call: the current state of each
    /// (None when deleted), for the store to write in one transaction.
    pub fn take_changes(&mut self) -> Vec<Change> {
        std::mem::take(&mut self.dirty)
            .into_iter()
            .map(|(kind, key)| {
                let document = match kind {
                    DocKind::Image => self.images.get(&key).map(to_document),
                    DocKind::Fleet => self.fleets.get(&key).map(to_document),
                    DocKind::Stack => self.stacks.get(&key).map(to_document),
                    DocKind::Session => self.sessions.get(&key).map(to_document),
                    DocKind::ScalableTarget => self.scalable_targets.get(&key).map(to_document),
                    DocKind::User => self.users.get(&key).map(to_document),
                    DocKind::Entitlement => self.entitlements.get(&key).map(to_document),
                    DocKind::AppBlock => self.app_blocks.get(&key).map(to_document),
                    DocKind::Application => self.applications.get(&key).map(to_document),
                    DocKind::ImageBuilder => self.image_builders.get(&key).map(to_document),
                };
                Change {
                    kind: kind.as_str(),
                    key,
                    document,
                }
            })
            .collect()
    }

    /// Rebuilds the state from stored `(kind, document)` pairs. No instance
    /// survives a restart, so every PENDING/ACTIVE session is ended (and
    /// recorded EXPIRED) with reason `ServerRestart`; call
    /// [`ControlPlane::reconcile`] afterwards to launch fresh instances.
    pub fn restore(
        &mut self,
        documents: impl IntoIterator<Item = (String, serde_json::Value)>,
        now: Timestamp,
    ) -> Result<()> {
        self.images.clear();
        self.fleets.clear();
        self.stacks.clear();
        self.sessions.clear();
        self.instances.clear();
        self.scalable_targets.clear();
        self.users.clear();
        self.entitlements.clear();
        self.app_blocks.clear();
        self.applications.clear();
        self.image_builders.clear();
        self.outbox.clear();
        self.dirty.clear();
        for (kind, document) in documents {
            let kind = DocKind::ALL
                .into_iter()
                .find(|k| k.as_str() == kind)
                .ok_or_else(|| DomainError::validation(format!("unknown document kind {kind}")))?;
            match kind {
                DocKind::Image => {
                    let image: Image = from_document(kind, document)?;
                    self.images.insert(image.name.clone(), image);
                }
                DocKind::Fleet => {
                    let fleet: Fleet = from_document(kind, document)?;
                    self.fleets.insert(fleet.name.clone(), fleet);
                }
                DocKind::Stack => {
                    let stack: Stack = from_document(kind, document)?;
                    self.stacks.insert(stack.name.clone(), stack);
                }
                DocKind::Session => {
                    let session: Session = from_document(kind, document)?;
                    self.sessions.insert(session.id.clone(), session);
                }
                DocKind::ScalableTarget => {
                    let target: ScalableTarget = from_document(kind, document)?;
                    self.scalable_targets.insert(target.fleet.clone(), target);
                }
                DocKind::User => {
                    let user: User = from_document(kind, document)?;
                    self.users.insert(user.user_name.clone(), user);
                }
                DocKind::Entitlement => {
                    let entitlement: Entitlement = from_document(kind, document)?;
                    self.entitlements.insert(entitlement.key(), entitlement);
                }
                DocKind::AppBlock => {
                    let block: AppBlock = from_document(kind, document)?;
                    self.app_blocks.insert(block.name.clone(), block);
                }
                DocKind::Application => {
                    let app: FleetApplication = from_document(kind, document)?;
                    self.applications.insert(app.name.clone(), app);
                }
                DocKind::ImageBuilder => {
                    let builder: ImageBuilder = from_document(kind, document)?;
                    self.image_builders.insert(builder.name.clone(), builder);
                }
            }
        }
        let orphaned: Vec<String> = self
            .sessions
            .values()
            .filter(|s| s.is_live())
            .map(|s| s.id.clone())
            .collect();
        for id in orphaned {
            if let Some(s) = self.sessions.get_mut(&id) {
                s.end(EndReason::ServerRestart, now);
            }
            self.mark(DocKind::Session, &id);
        }
        Ok(())
    }
}

impl Session {
    /// Records the end; the caller releases the instance and tells the browser.
    pub(crate) fn end(&mut self, reason: EndReason, now: Timestamp) {
        self.state = crate::session::SessionState::Expired;
        self.connection_state = ConnectionState::NotConnected;
        self.connections = 0;
        self.end_time = Some(now);
        self.end_reason = Some(reason);
    }
}

fn to_document<T: serde::Serialize>(value: &T) -> serde_json::Value {
    // Documents are plain structs with string-keyed maps: serializing them to
    // a Value cannot fail.
    serde_json::to_value(value).expect("domain documents always serialize")
}

fn from_document<T: DeserializeOwned>(kind: DocKind, document: serde_json::Value) -> Result<T> {
    serde_json::from_value(document).map_err(|e| {
        DomainError::validation(format!("stored {} document is invalid: {e}", kind.as_str()))
    })
}

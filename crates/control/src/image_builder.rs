//! Image builders: an instance with a writable layer over an image, streamed as a desktop,
//! where an administrator installs and sets up applications and then makes an image of it.
//!
//! The builder's writable layer (`builders/<id>` in the image store) persists while it is
//! stopped. Making an image stops the builder and turns the layer's changes into a new
//! read-only layer (`snapshots/<id>`): the image is the builder's layers plus that one, and
//! the builder goes on over the same stack with an empty writable layer. No file is
//! copied, and every image made from one builder shares its lower layers.
//!
//! Life cycle (AppStream's states): PENDING → RUNNING ⇄ STOPPING → STOPPED → PENDING …;
//! RUNNING → SNAPSHOTTING (the image PENDING) → STOPPED (the image AVAILABLE or FAILED);
//! an instance that never comes up leaves the builder FAILED; DELETING → gone.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{DomainError, ErrorKind, Result};
use crate::fleet::wire_enum;
use crate::image::{Application, Image, ImageRoot, ImageState, Visibility};
use crate::instance::{Effect, Instance, InstanceState, LaunchSpec};
use crate::instance_type::InstanceType;
use crate::plane::{ControlPlane, DocKind};
use crate::session::{url_validity, AuthenticationType, EndReason, StreamingGrant};
use crate::time::Timestamp;

wire_enum!(ImageBuilderState {
    Pending = "PENDING",
    Running = "RUNNING",
    Stopping = "STOPPING",
    Stopped = "STOPPED",
    Snapshotting = "SNAPSHOTTING",
    Deleting = "DELETING",
    Failed = "FAILED",
});

/// Who a builder's streaming URL signs in as: there is no user, only the administrator.
pub const BUILDER_USER: &str = "image-builder-administrator";

/// Why the builder is in its state (AppStream's ImageBuilderStateChangeReason).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateChangeReason {
    /// INTERNAL_ERROR or IMAGE_UNAVAILABLE.
    pub code: String,
    pub message: String,
}

/// The image being made from the builder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub image: String,
    /// The layer the builder's changes become.
    pub layer: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageBuilder {
    pub name: String,
    pub display_name: Option<String>,
    pub description: Option<String>,
    /// The image it was created from.
    pub image_name: String,
    pub instance_type: String,
    pub platform: String,
    /// Outbound network (NAT, never the host's loopback) for package installs.
    pub enable_default_internet_access: bool,
    pub state: ImageBuilderState,
    pub state_change_reason: Option<StateChangeReason>,
    pub created_time: Timestamp,
    /// The read-only layers under the writable one, lowest first: the source image's,
    /// then every image made here since.
    pub root: ImageRoot,
    /// The image store's directory holding the changes (`builders/<id>`).
    pub writable_layer: String,
    pub snapshot: Option<Snapshot>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

impl ImageBuilder {
    /// Layers, or the host's system trees with no layer, under the writable layer.
    pub fn layered_root(root: &ImageRoot) -> (bool, Vec<String>) {
        match root {
            ImageRoot::Host => (true, Vec::new()),
            ImageRoot::Layers { on_host, layers } => (*on_host, layers.clone()),
        }
    }
}

/// What CreateImageBuilder asks for.
pub struct NewImageBuilder {
    pub name: String,
    pub image_name: String,
    pub instance_type: String,
    pub display_name: Option<String>,
    pub description: Option<String>,
    pub enable_default_internet_access: bool,
    pub tags: BTreeMap<String, String>,
}

impl ControlPlane {
    pub fn image_builder(&self, name: &str) -> Result<&ImageBuilder> {
        self.image_builders
            .get(name)
            .ok_or_else(|| DomainError::not_found("image builder", name))
    }

    pub fn image_builders(&self) -> impl Iterator<Item = &ImageBuilder> {
        self.image_builders.values()
    }

    fn builder_mut(&mut self, name: &str) -> Result<&mut ImageBuilder> {
        self.mark(DocKind::ImageBuilder, name);
        self.image_builders
            .get_mut(name)
            .ok_or_else(|| DomainError::not_found("image builder", name))
    }

    /// The builder's instance, if it has one.
    fn builder_instance(&self, name: &str) -> Option<&Instance> {
        self.instances
            .values()
            .find(|i| i.builder.as_deref() == Some(name))
    }

    pub fn create_image_builder(
        &mut self,
        new: NewImageBuilder,
        now: Timestamp,
    ) -> Result<&ImageBuilder> {
        if self.image_builders.contains_key(&new.name) {
            return Err(DomainError::new(
                ErrorKind::ResourceAlreadyExists,
                format!("The image builder {} already exists.", new.name),
            ));
        }
        InstanceType::lookup(&new.instance_type)?;
        let image = self.available_image(&new.image_name)?;
        let (on_host, layers) = ImageBuilder::layered_root(&image.root);
        let builder = ImageBuilder {
            name: new.name.clone(),
            display_name: new.display_name,
            description: new.description,
            image_name: image.name.clone(),
            instance_type: new.instance_type,
            platform: image.platform.clone(),
            enable_default_internet_access: new.enable_default_internet_access,
            state: ImageBuilderState::Pending,
            state_change_reason: None,
            created_time: now,
            root: ImageRoot::Layers { on_host, layers },
            writable_layer: format!("builders/{}", self.fresh_id("")),
            snapshot: None,
            tags: new.tags,
        };
        self.mark(DocKind::ImageBuilder, &new.name);
        self.image_builders.insert(new.name.clone(), builder);
        self.reconcile_builder(&new.name, now);
        self.image_builder(&new.name)
    }

    pub fn start_image_builder(&mut self, name: &str, now: Timestamp) -> Result<&ImageBuilder> {
        let builder = self.image_builder(name)?;
        match builder.state {
            ImageBuilderState::Stopped | ImageBuilderState::Failed => {}
            ImageBuilderState::Pending | ImageBuilderState::Running => {
                return self.image_builder(name)
            }
            state => return Err(not_now(name, state, "be started")),
        }
        let builder = self.builder_mut(name)?;
        builder.state = ImageBuilderState::Pending;
        builder.state_change_reason = None;
        self.reconcile_builder(name, now);
        self.image_builder(name)
    }

    pub fn stop_image_builder(&mut self, name: &str, now: Timestamp) -> Result<&ImageBuilder> {
        let builder = self.image_builder(name)?;
        match builder.state {
            ImageBuilderState::Pending | ImageBuilderState::Running => {}
            ImageBuilderState::Stopped | ImageBuilderState::Stopping => {
                return self.image_builder(name)
            }
            state => return Err(not_now(name, state, "be stopped")),
        }
        self.builder_mut(name)?.state = ImageBuilderState::Stopping;
        self.end_builder_sessions(name, EndReason::ImageBuilderStopped, now);
        self.reconcile_builder(name, now);
        self.image_builder(name)
    }

    /// Answers the builder as it was; its writable layer is the server's to remove.
    pub fn delete_image_builder(&mut self, name: &str, now: Timestamp) -> Result<ImageBuilder> {
        let builder = self.image_builder(name)?;
        if builder.state == ImageBuilderState::Snapshotting {
            return Err(not_now(name, builder.state, "be deleted"));
        }
        let answer = builder.clone();
        self.builder_mut(name)?.state = ImageBuilderState::Deleting;
        self.end_builder_sessions(name, EndReason::ImageBuilderStopped, now);
        self.reconcile_builder(name, now);
        Ok(ImageBuilder {
            state: ImageBuilderState::Deleting,
            ..answer
        })
    }

    /// CreateImageBuilderStreamingURL's decision: a desktop on the running builder.
    pub fn create_image_builder_streaming_url(
        &self,
        name: &str,
        validity_secs: Option<u64>,
        now: Timestamp,
    ) -> Result<StreamingGrant> {
        let validity = url_validity(validity_secs)?;
        self.check_builder_streamable(name)?;
        Ok(StreamingGrant {
            stack: String::new(),
            fleet: String::new(),
            user_id: BUILDER_USER.to_owned(),
            // The desktop, with the catalog of the builder's image to pick from.
            application_id: None,
            session_context: None,
            expires: now.plus_secs(validity),
            authentication_type: AuthenticationType::Api,
            attributes: Vec::new(),
            image_builder: Some(name.to_owned()),
        })
    }

    pub(crate) fn check_builder_streamable(&self, name: &str) -> Result<&Instance> {
        let builder = self.image_builder(name)?;
        let instance = self.builder_instance(name);
        match instance {
            Some(i) if builder.state == ImageBuilderState::Running => Ok(i),
            _ => Err(DomainError::new(
                ErrorKind::ResourceNotAvailable,
                format!(
                    "The image builder {name} is {}, not RUNNING.",
                    builder.state.as_str()
                ),
            )),
        }
    }

    /// "Create image" from inside a running builder: the builder stops, its changes become
    /// the new image's top layer (see [`Effect::SnapshotImageBuilder`]). Answers the new
    /// image, PENDING.
    pub fn create_image_from_builder(
        &mut self,
        builder_name: &str,
        image_name: &str,
        display_name: Option<String>,
        description: Option<String>,
        now: Timestamp,
    ) -> Result<&Image> {
        let builder = self.image_builder(builder_name)?.clone();
        if builder.state != ImageBuilderState::Running {
            return Err(not_now(builder_name, builder.state, "make an image"));
        }
        if self.images.contains_key(image_name) {
            return Err(DomainError::new(
                ErrorKind::ResourceAlreadyExists,
                format!("The image {image_name} already exists."),
            ));
        }
        let (on_host, mut layers) = ImageBuilder::layered_root(&builder.root);
        let layer = format!("snapshots/{}", self.fresh_id(""));
        layers.push(layer.clone());
        let image = Image {
            name: image_name.to_owned(),
            display_name: display_name.unwrap_or_else(|| image_name.to_owned()),
            description: description.unwrap_or_default(),
            state: ImageState::Pending,
            visibility: Visibility::Private,
            platform: builder.platform.clone(),
            created_time: now,
            applications: Vec::new(),
            root: ImageRoot::Layers { on_host, layers },
            tags: Default::default(),
            shared_with: Default::default(),
        };
        self.put_image(image);
        let builder = self.builder_mut(builder_name)?;
        builder.state = ImageBuilderState::Snapshotting;
        builder.snapshot = Some(Snapshot {
            image: image_name.to_owned(),
            layer,
        });
        self.end_builder_sessions(builder_name, EndReason::ImageBuilderSnapshotting, now);
        self.reconcile_builder(builder_name, now);
        self.image(image_name)
    }

    /// The server made the snapshot's layer (`Ok`: the catalog read from it) or could not:
    /// the image becomes AVAILABLE or FAILED, the builder STOPPED either way.
    pub fn image_builder_snapshot_done(
        &mut self,
        builder_name: &str,
        outcome: std::result::Result<Vec<Application>, String>,
    ) -> Result<()> {
        let builder = self.builder_mut(builder_name)?;
        let snapshot = builder
            .snapshot
            .take()
            .ok_or_else(|| DomainError::not_permitted("The image builder is not snapshotting."))?;
        builder.state = ImageBuilderState::Stopped;
        let image = self
            .images
            .get_mut(&snapshot.image)
            .ok_or_else(|| DomainError::not_found("image", &snapshot.image))?;
        match outcome {
            Ok(applications) => {
                image.state = ImageState::Available;
                image.applications = applications;
                // The builder goes on over what it made.
                let root = image.root.clone();
                if let Some(builder) = self.image_builders.get_mut(builder_name) {
                    builder.root = root;
                }
            }
            Err(message) => {
                image.state = ImageState::Failed;
                image.description = format!("Making the image failed: {message}");
                if let Some(builder) = self.image_builders.get_mut(builder_name) {
                    builder.state_change_reason = Some(StateChangeReason {
                        code: "INTERNAL_ERROR".to_owned(),
                        message: format!("Creating the image {} failed: {message}", snapshot.image),
                    });
                }
            }
        }
        self.mark(DocKind::Image, &snapshot.image);
        Ok(())
    }

    /// Every layer an image builder needs kept: its lower layers and its writable one.
    pub fn builder_layers(&self) -> impl Iterator<Item = &str> {
        self.image_builders.values().flat_map(|b| {
            let lower = match &b.root {
                ImageRoot::Host => &[][..],
                ImageRoot::Layers { layers, .. } => &layers[..],
            };
            lower
                .iter()
                .map(String::as_str)
                .chain([b.writable_layer.as_str()])
                .chain(b.snapshot.iter().map(|s| s.layer.as_str()))
        })
    }

    fn end_builder_sessions(&mut self, name: &str, reason: EndReason, now: Timestamp) {
        let live: Vec<String> = self
            .sessions
            .values()
            .filter(|s| s.is_live() && s.image_builder.as_deref() == Some(name))
            .map(|s| s.id.clone())
            .collect();
        for id in live {
            self.end_session_inner(&id, reason, now);
        }
    }

    pub(crate) fn builder_launch_spec(
        &self,
        builder: &ImageBuilder,
        instance_id: &str,
    ) -> LaunchSpec {
        LaunchSpec {
            instance_id: instance_id.to_owned(),
            fleet: format!("image-builder/{}", builder.name),
            instance_type: InstanceType::lookup(&builder.instance_type)
                .unwrap_or(crate::instance_type::INSTANCE_TYPES[0]),
            image: builder.image_name.clone(),
            root: builder.root.clone(),
            image_builder: Some(builder.name.clone()),
            writable_layer: Some(builder.writable_layer.clone()),
            network: builder.enable_default_internet_access,
            stream_view: crate::fleet::StreamView::Desktop,
        }
    }

    /// Brings the builder's instance in line with its state.
    pub(crate) fn reconcile_builder(&mut self, name: &str, now: Timestamp) {
        let Some(builder) = self.image_builders.get(name).cloned() else {
            return;
        };
        let instance = self.builder_instance(name).map(|i| (i.id.clone(), i.state));
        match (builder.state, instance) {
            (ImageBuilderState::Pending | ImageBuilderState::Running, None) => {
                let id = self.fresh_id("i-");
                let spec = self.builder_launch_spec(&builder, &id);
                self.outbox.push(Effect::LaunchInstance(spec));
                self.instances.insert(
                    id.clone(),
                    Instance {
                        id,
                        fleet: String::new(),
                        builder: Some(name.to_owned()),
                        image_name: builder.image_name.clone(),
                        state: InstanceState::Pending,
                        session: None,
                        created_time: now,
                    },
                );
                if builder.state == ImageBuilderState::Running {
                    // After a restart: running again once the new instance is.
                    self.set_builder_state(name, ImageBuilderState::Pending);
                }
            }
            (
                ImageBuilderState::Stopping
                | ImageBuilderState::Snapshotting
                | ImageBuilderState::Deleting,
                Some((id, _)),
            ) => self.release_instance(&id),
            (ImageBuilderState::Stopping, None) => {
                self.set_builder_state(name, ImageBuilderState::Stopped)
            }
            (ImageBuilderState::Snapshotting, None) => {
                if let Some(snapshot) = builder.snapshot.clone() {
                    let effect = Effect::SnapshotImageBuilder {
                        builder: name.to_owned(),
                        writable_layer: builder.writable_layer.clone(),
                        layer: snapshot.layer,
                    };
                    if !self.outbox.contains(&effect) {
                        self.outbox.push(effect);
                    }
                }
            }
            (ImageBuilderState::Deleting, None) => {
                self.image_builders.remove(name);
                self.mark(DocKind::ImageBuilder, name);
            }
            _ => {}
        }
    }

    fn set_builder_state(&mut self, name: &str, state: ImageBuilderState) {
        if let Some(builder) = self.image_builders.get_mut(name) {
            builder.state = state;
            self.mark(DocKind::ImageBuilder, name);
        }
    }

    /// Every builder's instance in line with its state (after a restart, for one).
    pub(crate) fn reconcile_builders(&mut self, now: Timestamp) {
        let names: Vec<String> = self.image_builders.keys().cloned().collect();
        for name in names {
            self.reconcile_builder(&name, now);
        }
    }

    /// A builder's instance came up.
    pub(crate) fn builder_instance_ready(&mut self, name: &str) {
        if let Ok(builder) = self.builder_mut(name) {
            if builder.state == ImageBuilderState::Pending {
                builder.state = ImageBuilderState::Running;
            }
        }
    }

    /// A builder's instance is gone: stopped as asked, or it failed.
    pub(crate) fn builder_instance_gone(
        &mut self,
        name: &str,
        failure: Option<&str>,
        now: Timestamp,
    ) {
        self.end_builder_sessions(name, EndReason::InstanceExited, now);
        if let Ok(builder) = self.builder_mut(name) {
            if matches!(
                builder.state,
                ImageBuilderState::Pending | ImageBuilderState::Running
            ) {
                builder.state = ImageBuilderState::Failed;
                builder.state_change_reason = Some(StateChangeReason {
                    code: "INTERNAL_ERROR".to_owned(),
                    message: failure.map_or_else(
                        || "The image builder's instance stopped.".to_owned(),
                        |m| format!("The image builder's instance failed to start: {m}"),
                    ),
                });
            }
        }
        self.reconcile_builder(name, now);
    }
}

fn not_now(name: &str, state: ImageBuilderState, what: &str) -> DomainError {
    DomainError::not_permitted(format!(
        "The image builder {name} is {}: it cannot {what} now.",
        state.as_str()
    ))
}

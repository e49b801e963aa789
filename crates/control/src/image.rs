//! Images: a root filesystem plus the application catalog users can launch.

use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// Name of the image made at first start from the host's own filesystem.
pub const DEFAULT_IMAGE_NAME: &str = "porthole-default";

/// The catalog entry of one application, as Image Assistant would record it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Application {
    pub name: String,
    pub display_name: String,
    pub launch_path: String,
    pub launch_parameters: Option<String>,
    pub working_directory: Option<String>,
    pub icon_url: Option<String>,
    pub enabled: bool,
    /// The icon file on the host that the server serves at `icon_url`:
    /// Porthole's own, not one of AppStream's members.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon_path: Option<String>,
}

/// Where an instance's root filesystem comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ImageRoot {
    /// The host filesystem, mounted read-only into the sandbox.
    Host,
    /// Directories of the server's image store (see [`is_layer_id`]), lowest first,
    /// stacked read-only over the host's system trees (`on_host`: what an image builder
    /// on the default image makes) or over nothing (an imported OCI image's root).
    /// Layers are immutable and shared by every image that lists them.
    Layers { on_host: bool, layers: Vec<String> },
}

/// Whether `id` may name a layer of the image store: a relative path of plain,
/// lowercase names (`roots/<sha256>`, `snapshots/<id>`, an image builder's writable
/// `builders/<id>`), never `..` or absolute.
pub fn is_layer_id(id: &str) -> bool {
    let mut parts = id.split('/');
    let kind = parts.next().unwrap_or_default();
    let name = parts.next().unwrap_or_default();
    parts.next().is_none()
        && ["roots", "snapshots", "builders"].contains(&kind)
        && !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ImageState {
    /// Being made (an image builder's snapshot); fleets cannot use it yet.
    Pending,
    Available,
    /// Making it failed (see the image's state change reason).
    Failed,
}

impl ImageState {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Available => "AVAILABLE",
            Self::Failed => "FAILED",
        }
    }
}

/// AppStream's image visibility; images made here are the account's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Visibility {
    Public,
    Private,
    Shared,
}

impl Visibility {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Public => "PUBLIC",
            Self::Private => "PRIVATE",
            Self::Shared => "SHARED",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Public, Self::Private, Self::Shared]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Image {
    pub name: String,
    pub display_name: String,
    pub description: String,
    pub state: ImageState,
    pub visibility: Visibility,
    /// AppStream's PlatformType; AMAZON_LINUX2 is the Linux value every client
    /// version knows.
    pub platform: String,
    pub created_time: Timestamp,
    pub applications: Vec<Application>,
    pub root: ImageRoot,
    #[serde(default)]
    pub tags: std::collections::BTreeMap<String, String>,
    /// UpdateImagePermissions' grants, by the 12-digit account shared with.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub shared_with: std::collections::BTreeMap<String, ImagePermissions>,
}

/// What an account an image is shared with may do with it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImagePermissions {
    pub allow_fleet: bool,
    pub allow_image_builder: bool,
}

impl Image {
    /// The enabled catalog entry called `name`, if any.
    pub fn application(&self, name: &str) -> Option<&Application> {
        self.applications
            .iter()
            .find(|a| a.enabled && a.name == name)
    }
}

/// The default image: the host filesystem with the applications the server
/// detected on it.
pub fn default_image(now: Timestamp, applications: Vec<Application>) -> Image {
    Image {
        name: DEFAULT_IMAGE_NAME.to_owned(),
        display_name: "Porthole default (host applications)".to_owned(),
        description: "The host's own filesystem, read-only, with its installed GUI applications"
            .to_owned(),
        state: ImageState::Available,
        visibility: Visibility::Private,
        platform: "AMAZON_LINUX2".to_owned(),
        created_time: now,
        applications,
        root: ImageRoot::Host,
        tags: Default::default(),
        shared_with: Default::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_ids_are_plain_paths_of_the_image_store() {
        for good in ["roots/0a1b", "snapshots/ib-1-2", "builders/00ff"] {
            assert!(is_layer_id(good), "{good}");
        }
        for bad in [
            "",
            "roots",
            "roots/",
            "roots/../x",
            "/roots/a",
            "roots/a/b",
            "other/a",
            "roots/A",
            "roots/a.b",
        ] {
            assert!(!is_layer_id(bad), "{bad}");
        }
    }
}

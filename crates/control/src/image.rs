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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ImageState {
    Available,
}

impl ImageState {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Available => "AVAILABLE",
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
    }
}

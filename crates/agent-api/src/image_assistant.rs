//! The image assistant's socket: how `image-assistant create-image`, run inside an image
//! builder, asks the server to make an image of the builder. The server listens on
//! [`SOCKET`] in the builder instance's runtime directory (owned by the instance's uid:
//! only the builder's own processes reach it), one JSON line each way per connection.

use serde::{Deserialize, Serialize};

/// In the builder instance's runtime directory, beside the agent's socket.
pub const SOCKET: &str = "image-assistant.sock";
/// Where the runtime directory appears to apps of an image's root (app_root.rs binds it).
pub const SOCKET_INSIDE: &str = "/run/porthole/image-assistant.sock";

/// The image's catalog file, which the image assistant writes and the server reads
/// (when no image label lists the catalog): a JSON list of [`CatalogEntry`].
pub const CATALOG_FILE: &str = "/etc/porthole/applications.json";

/// One application of [`CATALOG_FILE`] (or of an OCI image's catalog label).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogEntry {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    pub launch_path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch_parameters: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_directory: Option<String>,
    /// An icon file in the image, or an icon name (hicolor, pixmaps).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon: Option<String>,
}

/// Make an image of this builder: it stops, its changes become the image's top layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateImage {
    pub name: String,
    pub display_name: Option<String>,
    pub description: Option<String>,
}

/// The server's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CreateImageAnswer {
    /// The image is PENDING; the builder is stopping to make it.
    Accepted {
        image: String,
        state: String,
    },
    Refused {
        message: String,
    },
}

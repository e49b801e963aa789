//! The image assistant's socket: how `image-assistant create-image`, run inside an image
//! builder, asks the server to make an image of the builder. The server listens on
//! [`SOCKET`] in the builder instance's runtime directory (owned by the instance's uid:
//! only the builder's own processes reach it), one JSON line each way per connection.

use serde::{Deserialize, Serialize};

/// In the builder instance's runtime directory, beside the agent's socket.
pub const SOCKET: &str = "image-assistant.sock";
/// Where the runtime directory appears to apps of an image's root (app_root.rs binds it).
pub const SOCKET_INSIDE: &str = "/run/porthole/image-assistant.sock";

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

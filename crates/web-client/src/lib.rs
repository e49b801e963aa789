//! What a browser gets from Porthole, whoever serves it: the web client's files
//! (embedded in the binary) and the WebSocket goodbye. Both the agent (its own
//! page in `porthole stream`, and inside instances) and the server's gateway
//! serve these, so neither has to link the other.

mod assets;

pub use assets::serve as asset;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use porthole_protocol::ServerMessage;

/// WebSocket close codes (RFC 6455).
pub const CLOSE_NORMAL: u16 = 1000;
pub const CLOSE_PROTOCOL_ERROR: u16 = 1002;
pub const CLOSE_UNSUPPORTED: u16 = 1003;

/// Tells the browser why it must leave (shown to the user), then closes normally.
pub async fn goodbye(socket: &mut WebSocket, reason: &str) {
    let message = ServerMessage::Goodbye {
        reason: reason.to_owned(),
    }
    .encode();
    let _ = socket.send(Message::Binary(message.into())).await;
    close(socket, CLOSE_NORMAL, reason).await;
}

/// Closes with `code`; the reason is cut to fit the close frame.
pub async fn close(socket: &mut WebSocket, code: u16, reason: &str) {
    // Close reasons are limited to 123 bytes on the wire.
    let frame = CloseFrame {
        code,
        reason: reason.chars().take(100).collect::<String>().into(),
    };
    let _ = socket.send(Message::Close(Some(frame))).await;
}

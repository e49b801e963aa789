//! One browser connection: the handshake, input from the browser to X, and the
//! pump's messages back. A malformed message closes this connection only.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::ws::{Message, WebSocket};
use porthole_engine::keymap::keysym_for_key;
use porthole_protocol::{ClientMessage, ServerMessage, CODEC_H264, PROTOCOL_VERSION};
use porthole_web_client::{close, goodbye, CLOSE_NORMAL, CLOSE_PROTOCOL_ERROR, CLOSE_UNSUPPORTED};
use tokio::sync::mpsc;

use crate::desktop::Desktop;
use crate::pump::{PumpInput, ViewerId};

const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

/// What every connection of one display shares.
pub struct Session {
    pub name: String,
    pub display: Arc<dyn Desktop>,
    pub pump: Sender<PumpInput>,
    pub clipboard_limit: usize,
    next_viewer: AtomicU64,
    /// Tells connected viewers the session is over.
    pub ended: tokio::sync::watch::Receiver<Option<String>>,
}

impl Session {
    pub fn new(
        name: String,
        display: Arc<dyn Desktop>,
        pump: Sender<PumpInput>,
        ended: tokio::sync::watch::Receiver<Option<String>>,
    ) -> Self {
        Self {
            name,
            display,
            pump,
            clipboard_limit: 256 * 1024,
            next_viewer: AtomicU64::new(1),
            ended,
        }
    }

    fn to_pump(&self, input: PumpInput) {
        // The pump only stops when the session shuts down; a lost message is harmless then.
        let _ = self.pump.send(input);
    }
}

enum Close {
    Normal(String),
    ProtocolError(String),
}

pub async fn serve(mut socket: WebSocket, session: Arc<Session>) {
    let viewer = session.next_viewer.fetch_add(1, Ordering::Relaxed);
    let outcome = run(&mut socket, &session, viewer).await;
    session.to_pump(PumpInput::Leave { viewer });
    let (code, reason) = match outcome {
        Ok(Close::Normal(reason)) => (CLOSE_NORMAL, reason),
        Ok(Close::ProtocolError(reason)) => {
            tracing::warn!(viewer, %reason, "closing a viewer connection: protocol error");
            (CLOSE_PROTOCOL_ERROR, reason)
        }
        Err(err) => {
            tracing::debug!(viewer, "viewer connection ended: {err:#}");
            return;
        }
    };
    if code == CLOSE_NORMAL {
        goodbye(&mut socket, &reason).await;
    } else {
        close(&mut socket, code, &reason).await;
    }
}

async fn run(socket: &mut WebSocket, session: &Session, viewer: ViewerId) -> anyhow::Result<Close> {
    let hello = match tokio::time::timeout(HELLO_TIMEOUT, socket.recv()).await {
        Err(_) => return Ok(Close::ProtocolError("no Hello within 10 s".into())),
        Ok(None) => anyhow::bail!("closed before Hello"),
        Ok(Some(message)) => message?,
    };
    let (width, height, codecs) = match decode(&hello) {
        Ok(ClientMessage::Hello {
            version,
            width,
            height,
            codecs,
        }) if version == PROTOCOL_VERSION => (width, height, codecs),
        Ok(ClientMessage::Hello { version, .. }) => {
            let reason = format!("protocol version {version} is not supported (this agent speaks {PROTOCOL_VERSION})");
            let goodbye = ServerMessage::Goodbye {
                reason: reason.clone(),
            }
            .encode();
            socket.send(Message::Binary(goodbye.into())).await?;
            return Ok(Close::ProtocolError(reason));
        }
        Ok(_) => {
            return Ok(Close::ProtocolError(
                "the first message must be Hello".into(),
            ))
        }
        Err(reason) => return Ok(Close::ProtocolError(reason)),
    };
    let server_hello = ServerMessage::ServerHello {
        version: PROTOCOL_VERSION,
        session: session.name.clone(),
    };
    socket
        .send(Message::Binary(server_hello.encode().into()))
        .await?;
    if width > 0 && height > 0 {
        resize(session, width, height);
    }

    let (out_tx, mut out_rx) = mpsc::unbounded_channel::<Bytes>();
    session.to_pump(PumpInput::Join {
        viewer,
        h264: codecs & CODEC_H264 != 0,
        out: out_tx,
    });
    let mut ended = session.ended.clone();
    loop {
        tokio::select! {
            outgoing = out_rx.recv() => match outgoing {
                Some(bytes) => {
                    let len = bytes.len();
                    socket.send(Message::Binary(bytes)).await?;
                    tracing::trace!(viewer, len, "sent");
                }
                None => return Ok(Close::Normal("the session ended".into())),
            },
            incoming = socket.recv() => {
                let Some(message) = incoming else { anyhow::bail!("the browser closed the connection") };
                let message = message?;
                if let Message::Close(_) = message {
                    anyhow::bail!("the browser closed the connection");
                }
                match receive(session, viewer, &message) {
                    Ok(Some(reply)) => socket.send(Message::Binary(reply.encode().into())).await?,
                    Ok(None) => {}
                    Err(reason) => return Ok(Close::ProtocolError(reason)),
                }
            }
            changed = ended.changed() => {
                let reason = ended.borrow().clone();
                if changed.is_err() || reason.is_some() {
                    return Ok(Close::Normal(reason.unwrap_or_else(|| "the session ended".into())));
                }
            }
        }
    }
}

fn decode(message: &Message) -> Result<ClientMessage, String> {
    match message {
        Message::Binary(bytes) => ClientMessage::decode(bytes).map_err(|e| e.to_string()),
        Message::Text(_) => Err(format!(
            "text messages are not part of the protocol (close {CLOSE_UNSUPPORTED})"
        )),
        _ => Err("unexpected WebSocket control message".into()),
    }
}

/// Applies one message from the browser after the handshake (but not its
/// Close): returns a direct reply, if any, or why this connection must close.
fn receive(
    session: &Session,
    viewer: ViewerId,
    message: &Message,
) -> Result<Option<ServerMessage>, String> {
    if matches!(message, Message::Ping(_) | Message::Pong(_)) {
        return Ok(None);
    }
    Ok(handle(session, viewer, decode(message)?))
}

/// Applies one browser message; returns a direct reply, if any.
fn handle(session: &Session, viewer: ViewerId, message: ClientMessage) -> Option<ServerMessage> {
    let input = &*session.display;
    let result = match message {
        ClientMessage::Hello { .. } => Ok(()),
        ClientMessage::FrameAck { frame_id } => {
            session.to_pump(PumpInput::Ack { viewer, frame_id });
            Ok(())
        }
        ClientMessage::PointerMove { x, y } => input.pointer_move(x.into(), y.into()),
        ClientMessage::PointerButton {
            button,
            pressed,
            x,
            y,
        } => input
            .pointer_move(x.into(), y.into())
            .and_then(|()| input.button(button, pressed)),
        ClientMessage::Wheel { dx, dy } => wheel(input, dx, dy),
        ClientMessage::Key { pressed, code, key } => match keysym_for_key(&code, &key) {
            Some(keysym) if pressed => {
                tracing::trace!(keysym, "key press");
                input.key(keysym, pressed)
            }
            Some(keysym) => input.key(keysym, pressed),
            None => Ok(()),
        },
        ClientMessage::Text { text } => input.type_text(&text),
        ClientMessage::Resize { width, height } => {
            resize(session, width, height);
            Ok(())
        }
        ClientMessage::ClipboardSet { text } => {
            input.set_clipboard(&truncate_utf8(&text, session.clipboard_limit))
        }
        ClientMessage::ReleaseAll => input.release_all(),
        ClientMessage::Ping { timestamp } => return Some(ServerMessage::Pong { timestamp }),
        ClientMessage::RefreshRequest => {
            session.to_pump(PumpInput::Refresh);
            Ok(())
        }
        ClientMessage::FocusWindow { window } => input.focus(window),
    };
    if let Err(err) = result {
        tracing::warn!(viewer, "input from the browser failed: {err:#}");
    }
    None
}

/// X wheel notches are button clicks: 4/5 vertical, 6/7 horizontal.
fn wheel(input: &dyn Desktop, dx: i16, dy: i16) -> anyhow::Result<()> {
    let clicks = [(dy, 4u8, 5u8), (dx, 6, 7)];
    for (delta, negative, positive) in clicks {
        let button = if delta < 0 { negative } else { positive };
        for _ in 0..delta.unsigned_abs().min(20) {
            input.button(button, true)?;
            input.button(button, false)?;
        }
    }
    Ok(())
}

fn resize(session: &Session, width: u16, height: u16) {
    let (width, height) = (
        u32::from(width).clamp(64, 8192),
        u32::from(height).clamp(64, 8192),
    );
    if let Err(err) = session.display.resize(width, height) {
        tracing::warn!(width, height, "cannot resize the screen: {err:#}");
    }
}

fn truncate_utf8(text: &str, limit: usize) -> String {
    if text.len() <= limit {
        return text.to_owned();
    }
    let mut end = limit;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc::{channel, Receiver};

    use super::*;
    use crate::desktop::fake::{Call, FakeDesktop};

    const VIEWER: ViewerId = 7;

    /// A session over a recording display; the receiver sees what reached the pump.
    fn session(clipboard_limit: usize) -> (Session, Arc<FakeDesktop>, Receiver<PumpInput>) {
        let desktop = Arc::new(FakeDesktop::default());
        let (pump, pumped) = channel();
        let (_, ended) = tokio::sync::watch::channel(None);
        let mut session = Session::new("s".into(), desktop.clone(), pump, ended);
        session.clipboard_limit = clipboard_limit;
        (session, desktop, pumped)
    }

    fn binary(message: ClientMessage) -> Message {
        Message::Binary(message.encode().into())
    }

    #[test]
    fn a_click_moves_the_pointer_then_presses_the_button() {
        let (session, desktop, _pumped) = session(1024);
        let click = ClientMessage::PointerButton {
            button: 1,
            pressed: true,
            x: 10,
            y: 20,
        };
        assert_eq!(receive(&session, VIEWER, &binary(click)), Ok(None));
        assert_eq!(
            desktop.calls(),
            [Call::PointerMove(10, 20), Call::Button(1, true)]
        );
    }

    #[test]
    fn wheel_notches_are_clicks_of_buttons_4_to_7() {
        let (session, desktop, _pumped) = session(1024);
        let wheel = ClientMessage::Wheel { dx: 1, dy: -2 };
        receive(&session, VIEWER, &binary(wheel)).unwrap();
        let up = [Call::Button(4, true), Call::Button(4, false)];
        let right = [Call::Button(7, true), Call::Button(7, false)];
        assert_eq!(desktop.calls(), [&up[..], &up[..], &right[..]].concat());
    }

    #[test]
    fn keys_reach_the_display_as_keysyms_and_unknown_keys_are_dropped() {
        let (session, desktop, _pumped) = session(1024);
        for (code, key, pressed) in [("KeyA", "a", true), ("KeyA", "a", false), ("", "", true)] {
            let message = ClientMessage::Key {
                pressed,
                code: code.into(),
                key: key.into(),
            };
            receive(&session, VIEWER, &binary(message)).unwrap();
        }
        assert_eq!(
            desktop.calls(),
            [Call::Key(0x61, true), Call::Key(0x61, false)]
        );
    }

    #[test]
    fn the_clipboard_is_cut_to_the_limit_on_a_character_boundary() {
        // Two bytes would end inside the two-byte "é".
        let (session, desktop, _pumped) = session(2);
        let text = ClientMessage::ClipboardSet {
            text: "héllo".into(),
        };
        receive(&session, VIEWER, &binary(text)).unwrap();
        assert_eq!(desktop.calls(), [Call::Clipboard("h".into())]);
    }

    #[test]
    fn acks_and_refreshes_go_to_the_pump_and_pings_are_answered() {
        let (session, desktop, pumped) = session(1024);
        let ack = ClientMessage::FrameAck { frame_id: 3 };
        assert_eq!(receive(&session, VIEWER, &binary(ack)), Ok(None));
        receive(&session, VIEWER, &binary(ClientMessage::RefreshRequest)).unwrap();
        let ping = ClientMessage::Ping { timestamp: 42 };
        assert_eq!(
            receive(&session, VIEWER, &binary(ping)),
            Ok(Some(ServerMessage::Pong { timestamp: 42 }))
        );
        assert!(matches!(
            pumped.try_recv(),
            Ok(PumpInput::Ack {
                viewer: VIEWER,
                frame_id: 3
            })
        ));
        assert!(matches!(pumped.try_recv(), Ok(PumpInput::Refresh)));
        assert!(pumped.try_recv().is_err());
        assert!(desktop.calls().is_empty(), "none of them is input to X");
    }

    #[test]
    fn a_resize_is_clamped_to_what_x_can_take() {
        let (session, desktop, _pumped) = session(1024);
        let resize = ClientMessage::Resize {
            width: 10,
            height: 9000,
        };
        receive(&session, VIEWER, &binary(resize)).unwrap();
        assert_eq!(desktop.calls(), [Call::Resize(64, 8192)]);
    }

    #[test]
    fn malformed_and_text_messages_close_the_connection_without_input() {
        let (session, desktop, _pumped) = session(1024);
        let truncated = Message::Binary(vec![0x03, 0x00].into());
        assert!(receive(&session, VIEWER, &truncated).is_err());
        let text = Message::Text("hello".into());
        let reason = receive(&session, VIEWER, &text).unwrap_err();
        assert!(reason.contains("text messages"), "{reason}");
        assert_eq!(
            receive(&session, VIEWER, &Message::Ping(Bytes::new())),
            Ok(None)
        );
        assert!(desktop.calls().is_empty());
    }
}

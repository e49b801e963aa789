//! The one thread that reads X events. X delivers all events of a connection through one
//! queue, so damage, RandR, cursor, clipboard, keymap and window-manager events are read
//! here and handed to each [`EventHandler`]; they turn them into [`XEvent`]s.

use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;

use anyhow::{Context, Result};
use porthole_engine::Rect;
use x11rb::connection::Connection;
use x11rb::protocol::xproto::{ClientMessageEvent, ConnectionExt as _, EventMask, Window};
use x11rb::protocol::Event;

use crate::Conn;

/// What the agent hears from the X server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum XEvent {
    /// Newly damaged screen area. Acknowledge damage before capturing (see [`crate::ScreenMirror::grab`]).
    Damage(Rect),
    ScreenResized {
        width: u32,
        height: u32,
    },
    /// The cursor image changed; fetch it with `cursor_image()` (its serial skips repeats).
    CursorChanged,
    /// Another X client put this text on the CLIPBOARD (our own ownership is not echoed).
    ClipboardChanged(String),
    /// Managed windows were mapped, unmapped, moved, retitled or refocused: re-read `windows()`.
    WindowsChanged,
}

/// One consumer of X events. Runs on the event thread: it must not wait on anything slow
/// (a round trip to the local X server is fine; waiting for another client is not).
pub trait EventHandler: Send + Sync {
    fn handle(&self, event: &Event, emit: &mut dyn FnMut(XEvent)) -> Result<()>;
}

/// The running event thread; dropping it stops the thread.
pub struct EventThread {
    conn: Arc<Conn>,
    window: Window,
    quit: u32,
    thread: Option<JoinHandle<()>>,
}

/// Start the event thread. `window` is a window of this connection and `quit` an atom:
/// a ClientMessage of that type to that window stops the thread, because a thread blocked
/// in `wait_for_event` can only be woken by an event.
pub fn spawn_event_thread(
    conn: Arc<Conn>,
    window: Window,
    quit: u32,
    handlers: Vec<Arc<dyn EventHandler>>,
) -> Result<(Receiver<XEvent>, EventThread)> {
    let (tx, rx) = mpsc::channel();
    let thread_conn = conn.clone();
    let thread = std::thread::Builder::new()
        .name("x11-events".into())
        .spawn(move || pump(&thread_conn, quit, &handlers, &tx))
        .context("spawning the X event thread")?;
    Ok((
        rx,
        EventThread {
            conn,
            window,
            quit,
            thread: Some(thread),
        },
    ))
}

fn pump(conn: &Conn, quit: u32, handlers: &[Arc<dyn EventHandler>], tx: &Sender<XEvent>) {
    // The window manager and the clipboard keep working when nobody listens: ignore a
    // dropped receiver.
    let mut emit = |ev: XEvent| {
        let _ = tx.send(ev);
    };
    loop {
        let event = match conn.wait_for_event() {
            Ok(event) => event,
            Err(e) => {
                tracing::info!("X connection closed: {e}");
                return;
            }
        };
        match &event {
            Event::ClientMessage(m) if m.type_ == quit => return,
            Event::Error(e) => tracing::debug!(?e, "X error"),
            _ => {}
        }
        for handler in handlers {
            if let Err(e) = handler.handle(&event, &mut emit) {
                tracing::warn!("X event handler failed: {e:#}");
            }
        }
    }
}

impl Drop for EventThread {
    fn drop(&mut self) {
        let message = ClientMessageEvent::new(32, self.window, self.quit, [0u32; 5]);
        let sent = self
            .conn
            .send_event(false, self.window, EventMask::NO_EVENT, message)
            .is_ok()
            && self.conn.flush().is_ok();
        if let Some(thread) = self.thread.take() {
            // Without a sent message the thread ends only with the connection: don't wait.
            if sent {
                let _ = thread.join();
            }
        }
    }
}

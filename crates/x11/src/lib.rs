//! Everything that talks to the X server: a private Xorg ([`XServer`]), screen capture
//! over MIT-SHM with XDamage ([`ScreenMirror`], [`DamageTracker`]), XTEST input
//! ([`Input`]), RandR resize, the XFixes cursor, the clipboard, a minimal window manager
//! and one event thread that serves them all ([`spawn_event_thread`]).
//!
//! [`Display`] wires these together for the agent. Every type shares one
//! `Arc<RustConnection>`; only the event thread calls `wait_for_event` on it.

mod atoms;
pub mod capture;
pub mod clipboard;
pub mod cursor;
mod display;
pub mod events;
pub mod input;
pub mod keymap;
pub mod resize;
pub mod server;
pub mod wm;

pub use capture::{DamageTracker, ScreenMirror};
pub use clipboard::{Clipboard, MAX_CLIPBOARD_BYTES};
pub use cursor::CursorImage;
pub use display::Display;
pub use events::{spawn_event_thread, EventHandler, EventThread, XEvent};
pub use input::Input;
pub use server::{Listen, XServer};
pub use wm::{ManagedWindow, ViewMode, WindowManager};

/// The connection type every part of this crate shares (Send + Sync).
pub type Conn = x11rb::rust_connection::RustConnection;

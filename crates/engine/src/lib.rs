//! The streaming engine: every decision between "the screen changed" and "these
//! bytes go to the browser", with no IO. Time is an input (`std::time::Duration`
//! since an arbitrary origin), so tests drive it directly and deterministically.
//!
//! Knows nothing about X11, codecs' byte formats or the wire protocol.

mod classify;
pub mod flow;
pub mod geom;
mod grid;
pub mod keymap;
mod merge;
mod motion;
pub mod planner;
mod scroll;

pub use geom::{FrameBuf, FrameRef, Rect};

//! Image and video encoders for screen updates: indexed/RGB PNG for text and UI,
//! JPEG for photographic tiles, H.264 (openh264, Annex B) for video regions.
//!
//! Every function reads a `rect` of a BGRX [`FrameRef`]; the rect must be non-empty
//! and lie inside the frame (a caller bug otherwise, so the functions panic).
#![allow(unsafe_code)] // Only yuv.rs, to call its AVX2-compiled conversion (SAFETY note there).

mod h264;
mod lossless;
mod lossy;
mod yuv;

pub use h264::{CodecError, H264Encoder};
pub use lossless::{encode_cursor_png, encode_png};
pub use lossy::encode_jpeg;
pub use porthole_engine::{FrameRef, Rect};

/// Panics unless `rect` is non-empty and inside `frame` (and the frame's buffer covers it).
fn check_rect(frame: &FrameRef<'_>, rect: Rect) {
    assert!(!rect.is_empty(), "empty rect {rect:?}");
    assert!(
        frame.bounds().contains(&rect),
        "rect {rect:?} outside {}x{} frame",
        frame.width,
        frame.height
    );
    assert!(
        frame.stride >= frame.width as usize * 4,
        "stride {} < width {} * 4",
        frame.stride,
        frame.width
    );
    let needed = (rect.bottom() as usize - 1) * frame.stride + rect.right() as usize * 4;
    assert!(
        frame.pixels.len() >= needed,
        "frame buffer {} bytes, rect {rect:?} needs {needed}",
        frame.pixels.len()
    );
}

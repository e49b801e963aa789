//! Turns the engine's paint operations into protocol rects, with the codecs.
//! Owns the H.264 encoder of the current video region, if any.

use porthole_codec::{encode_jpeg, encode_png, H264Encoder};
use porthole_engine::planner::Op;
use porthole_engine::{FrameRef, Rect};
use porthole_protocol::{Encoding, Rect as WireRect};

use crate::pump::wire_u16;

/// Bits per second for a video region, scaled by its area relative to 720p.
const VIDEO_BITS_PER_720P: f64 = 2_500_000.0;
const VIDEO_MAX_FPS: f32 = 30.0;

#[derive(Default)]
pub struct FrameEncoder {
    video: Option<(Rect, H264Encoder)>,
}

impl FrameEncoder {
    /// Encodes `ops` in order. Rects that could not be encoded are passed to
    /// `failed`, so the planner can repaint them exactly later.
    pub fn encode(
        &mut self,
        frame: FrameRef<'_>,
        ops: &[Op],
        mut failed: impl FnMut(Rect),
    ) -> Vec<WireRect> {
        ops.iter()
            .filter_map(|op| {
                let encoded = self.encode_op(frame, op);
                if encoded.is_none() {
                    failed(op.rect());
                }
                encoded
            })
            .collect()
    }

    fn encode_op(&mut self, frame: FrameRef<'_>, op: &Op) -> Option<WireRect> {
        let (encoding, rect, data) = match *op {
            Op::Solid { rect, rgb } => (Encoding::Solid, rect, vec![rgb[0], rgb[1], rgb[2], 255]),
            Op::Copy { rect, src_x, src_y } => {
                let mut data = Vec::with_capacity(4);
                data.extend_from_slice(&wire_u16(src_x).to_le_bytes());
                data.extend_from_slice(&wire_u16(src_y).to_le_bytes());
                (Encoding::Copy, rect, data)
            }
            Op::Lossless { rect } => (Encoding::Png, rect, encode_png(frame, rect)),
            Op::Lossy { rect, quality } => {
                (Encoding::Jpeg, rect, encode_jpeg(frame, rect, quality))
            }
            Op::Video { rect, keyframe } => (
                Encoding::H264,
                rect,
                self.encode_video(frame, rect, keyframe)?,
            ),
        };
        Some(WireRect {
            encoding,
            x: wire_u16(rect.x),
            y: wire_u16(rect.y),
            width: wire_u16(rect.w),
            height: wire_u16(rect.h),
            data,
        })
    }

    /// A video rect with new geometry gets a new encoder (and so a keyframe).
    /// A failing encoder is dropped; the next video rect starts a new one with a keyframe.
    fn encode_video(&mut self, frame: FrameRef<'_>, rect: Rect, keyframe: bool) -> Option<Vec<u8>> {
        let fresh = !matches!(&self.video, Some((current, _)) if *current == rect);
        if fresh {
            let bitrate =
                (VIDEO_BITS_PER_720P * rect.area() as f64 / (1280.0 * 720.0)).max(300_000.0) as u32;
            match H264Encoder::new(rect.w, rect.h, bitrate, VIDEO_MAX_FPS) {
                Ok(encoder) => self.video = Some((rect, encoder)),
                Err(err) => {
                    tracing::warn!(%err, ?rect, "cannot start a video encoder");
                    self.video = None;
                    return None;
                }
            }
        }
        let (_, encoder) = self.video.as_mut()?;
        let keyframe = keyframe || fresh;
        match encoder.encode(frame, rect, keyframe) {
            Ok(units) => {
                let mut data = Vec::with_capacity(units.len() + 5);
                data.push(u8::from(keyframe));
                data.extend_from_slice(&wire_u16(encoder.width()).to_le_bytes());
                data.extend_from_slice(&wire_u16(encoder.height()).to_le_bytes());
                data.extend_from_slice(&units);
                Some(data)
            }
            Err(err) => {
                tracing::warn!(%err, "video encode failed");
                self.video = None;
                None
            }
        }
    }
}

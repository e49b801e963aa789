//! JPEG for photographic content.

use crate::{check_rect, FrameRef, Rect};
use jpeg_encoder::{ColorType, Encoder, SamplingFactor};

/// Encodes `rect` of `frame` as a baseline JPEG at `quality` (1-100); chroma is
/// subsampled 4:2:0 below quality 90 and kept at full resolution from 90 up.
pub fn encode_jpeg(frame: FrameRef<'_>, rect: Rect, quality: u8) -> Vec<u8> {
    check_rect(&frame, rect);
    let (w, h) = (dimension(rect.w), dimension(rect.h));
    let row_bytes = rect.w as usize * 4;
    let start = rect.y as usize * frame.stride + rect.x as usize * 4;
    let mut out = Vec::with_capacity(rect.area() as usize / 4 + 1024);
    let mut encoder = Encoder::new(&mut out, quality.clamp(1, 100));
    encoder.set_sampling_factor(if quality < 90 {
        SamplingFactor::F_2_2
    } else {
        SamplingFactor::F_1_1
    });
    // The encoder's fast (AVX2) colour conversion reads only packed rows: hand it the
    // frame directly when the rect's rows are contiguous, else a packed copy of them.
    let result = if frame.stride == row_bytes {
        encoder.encode(
            &frame.pixels[start..start + row_bytes * rect.h as usize],
            w,
            h,
            ColorType::Bgra,
        )
    } else {
        let mut packed = Vec::with_capacity(row_bytes * rect.h as usize);
        for y in rect.y..rect.bottom() {
            packed.extend_from_slice(frame.row(y, rect.x, rect.right()));
        }
        encoder.encode(&packed, w, h, ColorType::Bgra)
    };
    // Encoding into a Vec fails only for a zero size or short data, both excluded above.
    result.expect("JPEG encode of a checked rect");
    out
}

/// JPEG sizes are 16-bit; screens are far smaller.
fn dimension(v: u32) -> u16 {
    u16::try_from(v).unwrap_or_else(|_| panic!("JPEG dimension {v} exceeds 65535"))
}

//! Lossless PNG: indexed at the smallest bit depth that holds the rect's colours
//! (terminal text is usually 2 colours, so 1 bit per pixel), RGB above 256 colours.

use crate::{check_rect, FrameRef, Rect};
use png::{BitDepth, ColorType, DeflateCompression, Filter};

/// Encodes `rect` of `frame` as a PNG of `rect.w` x `rect.h` pixels, pixel-exact.
pub fn encode_png(frame: FrameRef<'_>, rect: Rect) -> Vec<u8> {
    check_rect(&frame, rect);
    match index_colours(frame, rect) {
        Some(indexed) => encode_indexed(rect, &indexed),
        None => encode_rgb(frame, rect),
    }
}

/// Encodes a cursor image (`rgba`: `width` x `height` pixels, R, G, B, A bytes, unpremultiplied)
/// as an RGBA PNG for a CSS `cursor: url(...)`.
pub fn encode_cursor_png(width: u32, height: u32, rgba: &[u8]) -> Vec<u8> {
    assert_eq!(
        rgba.len(),
        width as usize * height as usize * 4,
        "cursor {width}x{height} needs width*height*4 bytes"
    );
    // Cursors are tiny and sent once per shape: spend the time on the smallest file.
    write_png(
        width,
        height,
        ColorType::Rgba,
        BitDepth::Eight,
        None,
        CURSOR_SETTINGS,
        rgba,
    )
}

/// The rect as one palette index byte per pixel, plus the palette (RGB triples).
struct Indexed {
    indices: Vec<u8>,
    palette: Vec<u8>,
}

/// Open-addressing colour table: 512 slots keep the load under 1/2 at 256 colours.
const SLOTS: usize = 512;
/// Never a real key: keys are 24-bit colours.
const EMPTY: u32 = u32::MAX;

/// Maps each pixel to a palette index, or `None` as soon as a 257th colour shows up.
fn index_colours(frame: FrameRef<'_>, rect: Rect) -> Option<Indexed> {
    let mut keys = [EMPTY; SLOTS];
    let mut values = [0u8; SLOTS];
    let mut palette = Vec::with_capacity(256 * 3);
    let mut indices = vec![0u8; rect.area() as usize];
    for (y, out_row) in (rect.y..rect.bottom()).zip(indices.chunks_exact_mut(rect.w as usize)) {
        for (px, out) in frame
            .row(y, rect.x, rect.right())
            .chunks_exact(4)
            .zip(out_row)
        {
            let key = u32::from_le_bytes([px[0], px[1], px[2], px[3]]) & 0xff_ffff;
            let mut slot = (key.wrapping_mul(0x9E37_79B1) >> 23) as usize;
            // Nearly always true once the colours are known: a well-predicted branch, where
            // a "same as the last pixel" test mispredicts on every glyph edge.
            if keys[slot] != key {
                loop {
                    if keys[slot] == key {
                        break;
                    }
                    if keys[slot] == EMPTY {
                        if palette.len() == 256 * 3 {
                            return None;
                        }
                        keys[slot] = key;
                        values[slot] = (palette.len() / 3) as u8;
                        palette.extend_from_slice(&[px[2], px[1], px[0]]);
                        break;
                    }
                    slot = (slot + 1) % SLOTS;
                }
            }
            *out = values[slot];
        }
    }
    Some(Indexed { indices, palette })
}

/// Bits per index for a palette of `colours` entries.
fn palette_depth(colours: usize) -> BitDepth {
    match colours {
        0..=2 => BitDepth::One,
        3..=4 => BitDepth::Two,
        5..=16 => BitDepth::Four,
        _ => BitDepth::Eight,
    }
}

fn encode_indexed(rect: Rect, indexed: &Indexed) -> Vec<u8> {
    let depth = palette_depth(indexed.palette.len() / 3);
    let bits = depth as usize;
    let w = rect.w as usize;
    let packed = if bits == 8 {
        indexed.indices.clone()
    } else {
        // PNG packs sub-byte samples most significant bit first, each row starting on a byte.
        let per_byte = 8 / bits;
        let row_bytes = w.div_ceil(per_byte);
        let mut packed = vec![0u8; row_bytes * rect.h as usize];
        for (src, dst) in indexed
            .indices
            .chunks_exact(w)
            .zip(packed.chunks_exact_mut(row_bytes))
        {
            let pack = |group: &[u8]| group.iter().fold(0u8, |acc, &index| acc << bits | index);
            let groups = src.chunks_exact(per_byte);
            let tail = groups.remainder();
            for (group, out) in groups.zip(dst.iter_mut()) {
                *out = pack(group);
            }
            if !tail.is_empty() {
                // The short last group still starts at the byte's top bits.
                dst[row_bytes - 1] = pack(tail) << (bits * (per_byte - tail.len()));
            }
        }
        packed
    };
    write_png(
        rect.w,
        rect.h,
        ColorType::Indexed,
        depth,
        Some(&indexed.palette),
        INDEXED_SETTINGS,
        &packed,
    )
}

fn encode_rgb(frame: FrameRef<'_>, rect: Rect) -> Vec<u8> {
    let mut rgb = vec![0u8; rect.area() as usize * 3];
    for (y, out_row) in (rect.y..rect.bottom()).zip(rgb.chunks_exact_mut(rect.w as usize * 3)) {
        for (px, out) in frame
            .row(y, rect.x, rect.right())
            .chunks_exact(4)
            .zip(out_row.chunks_exact_mut(3))
        {
            out.copy_from_slice(&[px[2], px[1], px[0]]);
        }
    }
    write_png(
        rect.w,
        rect.h,
        ColorType::Rgb,
        BitDepth::Eight,
        None,
        RGB_SETTINGS,
        &rgb,
    )
}

// Settings measured on 1280x720 synthetic content (release build, this machine):
// indexed text (2, 8 and 16 colours): NoFilter beat every filter at every level
// (filters scramble indices); zlib level 2 gave 12 KB / 0.9 ms for 1-bit text against
// 14 KB / 0.7 ms at level 1, 23 KB / 0.2 ms with fdeflate and 10.7 KB / 1.3 ms at level 4;
// text is the bandwidth item, so bytes win while the cost stays around a millisecond.
// RGB: noisy full-colour content costs 6.7 ms with fdeflate+Adaptive against 22-30 ms
// at zlib level 1 for 15% fewer bytes; on flat many-colour UI blocks Adaptive was 3.4x
// smaller than Up or Sub with fdeflate. Full-colour areas should go to JPEG or H.264 anyway.
const INDEXED_SETTINGS: (DeflateCompression, Filter) =
    (DeflateCompression::Level(2), Filter::NoFilter);
const RGB_SETTINGS: (DeflateCompression, Filter) =
    (DeflateCompression::FdeflateUltraFast, Filter::Adaptive);
const CURSOR_SETTINGS: (DeflateCompression, Filter) =
    (DeflateCompression::Level(6), Filter::Adaptive);

fn write_png(
    width: u32,
    height: u32,
    colour: ColorType,
    depth: BitDepth,
    palette: Option<&[u8]>,
    (compression, filter): (DeflateCompression, Filter),
    data: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() / 4 + 128);
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(colour);
    encoder.set_depth(depth);
    if let Some(palette) = palette {
        encoder.set_palette(palette);
    }
    encoder.set_deflate_compression(compression);
    encoder.set_filter(filter);
    // Writing to a Vec cannot fail, and the header and data sizes are consistent by construction.
    let mut writer = encoder
        .write_header()
        .expect("PNG header for valid parameters");
    writer
        .write_image_data(data)
        .expect("PNG data of the declared size");
    writer.finish().expect("PNG finish into a Vec");
    out
}

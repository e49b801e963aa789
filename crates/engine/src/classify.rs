//! Which codec suits a changed tile. Desktop content splits cleanly: flat fills
//! (one colour, a few bytes), text and UI (few colours, small and exact as PNG)
//! and photos/video (many colours, where JPEG or H.264 are far smaller).

use crate::geom::{FrameRef, Rect};

/// Colours beyond which a tile counts as photographic.
pub const MAX_PALETTE: usize = 256;
/// JPEG quality for settled photographic content.
pub const STILL_QUALITY: u8 = 80;
/// JPEG quality for content in sustained motion without H.264: it is replaced
/// soon, and a lossless refresh follows when it stops.
pub const MOTION_QUALITY: u8 = 60;

/// What the client needs to decode the tile (see [`ClientCaps`](crate::planner::ClientCaps)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClientCaps {
    /// The client decodes H.264 (WebCodecs in a secure context).
    pub h264: bool,
}

/// The encoding chosen for one tile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TileClass {
    Solid([u8; 3]),
    Lossless,
    Lossy {
        quality: u8,
    },
    /// Many colours in sustained motion and the client decodes H.264: a video region candidate.
    Motion,
}

/// How many distinct colours a tile has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Palette {
    Single([u8; 3]),
    Few,
    Many,
}

/// Classify the pixels of `tile`; `moving` says whether the tile has been
/// changing on most frames lately.
pub fn classify(screen: &FrameRef<'_>, tile: Rect, moving: bool, caps: ClientCaps) -> TileClass {
    match palette(screen, tile) {
        Palette::Single(rgb) => TileClass::Solid(rgb),
        Palette::Few => TileClass::Lossless,
        Palette::Many if moving && caps.h264 => TileClass::Motion,
        Palette::Many if moving => TileClass::Lossy {
            quality: MOTION_QUALITY,
        },
        Palette::Many => TileClass::Lossy {
            quality: STILL_QUALITY,
        },
    }
}

/// Count the colours of `rect`, stopping as soon as there are more than [`MAX_PALETTE`].
pub fn palette(screen: &FrameRef<'_>, rect: Rect) -> Palette {
    let mut set = ColourSet::new();
    // The last two colours seen: text alternates between ink and background,
    // so most pixels skip the set lookup.
    let mut recent = [ColourSet::EMPTY; 2];
    for y in rect.y..rect.bottom() {
        let row = screen.row(y, rect.x, rect.right());
        let mut groups = row.chunks_exact(4 * 8);
        for group in &mut groups {
            // Check 8 pixels at once without branches (the compiler vectorises this).
            let all_recent = group
                .chunks_exact(4)
                .fold(true, |all, px| all & is_recent(colour_of(px), recent));
            if !all_recent && collect(group, &mut recent, &mut set) > MAX_PALETTE {
                return Palette::Many;
            }
        }
        if collect(groups.remainder(), &mut recent, &mut set) > MAX_PALETTE {
            return Palette::Many;
        }
    }
    match set.len {
        1 => Palette::Single(rgb_of(recent[0])),
        _ => Palette::Few,
    }
}

fn colour_of(px: &[u8]) -> u32 {
    u32::from_le_bytes(px.try_into().expect("4-byte pixel")) & 0x00FF_FFFF
}

fn is_recent(colour: u32, recent: [u32; 2]) -> bool {
    (colour == recent[0]) | (colour == recent[1])
}

/// Add the colours of `pixels` to `set`; returns the number of distinct colours so far.
fn collect(pixels: &[u8], recent: &mut [u32; 2], set: &mut ColourSet) -> usize {
    for px in pixels.chunks_exact(4) {
        let colour = colour_of(px);
        if !is_recent(colour, *recent) {
            *recent = [colour, recent[0]];
            set.insert(colour);
        }
    }
    set.len
}

fn rgb_of(bgr: u32) -> [u8; 3] {
    let [b, g, r, _] = bgr.to_le_bytes();
    [r, g, b]
}

/// A tiny open-addressing set of 24-bit colours, big enough for `MAX_PALETTE + 1` entries.
struct ColourSet {
    slots: [u32; 1024],
    len: usize,
}

impl ColourSet {
    /// A slot value no 24-bit colour can take.
    const EMPTY: u32 = u32::MAX;

    fn new() -> Self {
        Self {
            slots: [Self::EMPTY; 1024],
            len: 0,
        }
    }

    /// Insert `colour` and return the number of distinct colours seen.
    fn insert(&mut self, colour: u32) -> usize {
        let mask = self.slots.len() - 1;
        let mut i = (colour.wrapping_mul(0x9E37_79B1) >> 22) as usize & mask;
        loop {
            match self.slots[i] {
                Self::EMPTY => {
                    self.slots[i] = colour;
                    self.len += 1;
                    return self.len;
                }
                c if c == colour => return self.len,
                _ => i = (i + 1) & mask,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geom::FrameBuf;

    fn frame_with(width: u32, height: u32, colour_of: impl Fn(u32, u32) -> [u8; 3]) -> FrameBuf {
        let mut f = FrameBuf::new(width, height);
        for y in 0..height {
            for x in 0..width {
                let [r, g, b] = colour_of(x, y);
                let i = (y * width + x) as usize * 4;
                f.pixels[i..i + 4].copy_from_slice(&[b, g, r, 0xAA]);
            }
        }
        f
    }

    const TILE: Rect = Rect::new(0, 0, 64, 64);
    const H264: ClientCaps = ClientCaps { h264: true };
    const NO_H264: ClientCaps = ClientCaps { h264: false };

    #[test]
    fn one_colour_is_solid_with_rgb_order_and_ignores_the_padding_byte() {
        let mut f = frame_with(64, 64, |_, _| [10, 20, 30]);
        f.pixels[7] = 0x00; // padding byte of pixel 1 differs
        assert_eq!(
            classify(&f.as_ref(), TILE, false, H264),
            TileClass::Solid([10, 20, 30])
        );
    }

    #[test]
    fn text_like_content_is_lossless() {
        let f = frame_with(64, 64, |x, y| {
            if (x * 7 + y * 3) % 11 < 3 {
                [0, 0, 0]
            } else {
                [255, 255, 255]
            }
        });
        assert_eq!(
            classify(&f.as_ref(), TILE, false, H264),
            TileClass::Lossless
        );
        assert_eq!(
            classify(&f.as_ref(), TILE, true, H264),
            TileClass::Lossless,
            "moving text stays exact"
        );
    }

    #[test]
    fn exactly_the_palette_limit_is_still_lossless() {
        let f = frame_with(64, 64, |x, y| [((y * 64 + x) % 256) as u8, 0, 0]);
        assert_eq!(palette(&f.as_ref(), TILE), Palette::Few);
        let f = frame_with(64, 64, |x, y| {
            [
                ((y * 64 + x) % 257) as u8,
                ((y * 64 + x) % 257 / 256) as u8,
                0,
            ]
        });
        assert_eq!(palette(&f.as_ref(), TILE), Palette::Many);
    }

    #[test]
    fn photographic_content_is_lossy_or_motion_depending_on_movement_and_caps() {
        let f = frame_with(64, 64, |x, y| [(x * 4) as u8, (y * 4) as u8, (x ^ y) as u8]);
        let r = f.as_ref();
        assert_eq!(
            classify(&r, TILE, false, H264),
            TileClass::Lossy {
                quality: STILL_QUALITY
            }
        );
        assert_eq!(classify(&r, TILE, true, H264), TileClass::Motion);
        assert_eq!(
            classify(&r, TILE, true, NO_H264),
            TileClass::Lossy {
                quality: MOTION_QUALITY
            }
        );
    }

    #[test]
    fn only_the_given_rect_is_examined() {
        let f = frame_with(128, 64, |x, y| {
            if x < 64 {
                [1, 2, 3]
            } else {
                [(x * 3) as u8, (y * 3) as u8, 9]
            }
        });
        assert_eq!(
            classify(&f.as_ref(), TILE, false, H264),
            TileClass::Solid([1, 2, 3])
        );
    }
}

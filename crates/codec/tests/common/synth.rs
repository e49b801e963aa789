//! Deterministic synthetic screen content for the codec tests and examples/codec_speed.rs.
#![allow(dead_code)] // Each includer uses a different subset.

use porthole_engine::FrameBuf;

/// A small deterministic PRNG (xorshift32), so content is identical on every run.
pub struct Rng(u32);

impl Rng {
    pub fn new(seed: u32) -> Self {
        Self(seed.max(1))
    }

    pub fn next(&mut self) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 17;
        self.0 ^= self.0 << 5;
        self.0
    }
}

pub fn put(frame: &mut FrameBuf, x: u32, y: u32, rgb: [u8; 3]) {
    let i = (y * frame.width + x) as usize * 4;
    frame.pixels[i..i + 4].copy_from_slice(&[rgb[2], rgb[1], rgb[0], 0xff]);
}

pub fn get_rgb(frame: &FrameBuf, x: u32, y: u32) -> [u8; 3] {
    let i = (y * frame.width + x) as usize * 4;
    [frame.pixels[i + 2], frame.pixels[i + 1], frame.pixels[i]]
}

/// Terminal-like text: 8x16 cells, glyphs from a fixed 64-glyph "font" (so glyphs repeat
/// like real text), short and blank lines like a shell session. `shades` > 0 adds that many
/// anti-aliasing blends of `fg` and `bg` around strokes (2 + `shades` colours in all).
pub fn text(width: u32, height: u32, fg: [u8; 3], bg: [u8; 3], shades: u32) -> FrameBuf {
    let mut frame = FrameBuf::new(width, height);
    for y in 0..height {
        for x in 0..width {
            put(&mut frame, x, y, bg);
        }
    }
    let blend = |level: u32| -> [u8; 3] {
        let k = level * 255 / (shades + 1);
        [0, 1, 2].map(|c| ((u32::from(fg[c]) * k + u32::from(bg[c]) * (255 - k)) / 255) as u8)
    };
    let mut rng = Rng::new(7);
    let font: Vec<[u8; 128]> = (0..64).map(|_| glyph(&mut rng, shades)).collect();
    for row in 0..height / 16 {
        let line_len = rng.next() % (width / 8 + 1);
        for col in 0..line_len {
            if rng.next() % 10 < 2 {
                continue; // a space
            }
            let bitmap = &font[(rng.next() % 64) as usize];
            for (i, &level) in bitmap.iter().enumerate() {
                if level > 0 {
                    let colour = if level as u32 > shades {
                        fg
                    } else {
                        blend(u32::from(level))
                    };
                    put(
                        &mut frame,
                        col * 8 + i as u32 % 8,
                        row * 16 + i as u32 / 8,
                        colour,
                    );
                }
            }
        }
    }
    frame
}

/// One 8x16 glyph as coverage levels 0..=shades+1: up to 3 vertical and 3 horizontal strokes
/// inside x 1..7, y 3..13, with lower levels beside vertical strokes as anti-aliasing.
fn glyph(rng: &mut Rng, shades: u32) -> [u8; 128] {
    let bits = rng.next();
    let full = (shades + 1) as u8;
    let mut g = [0u8; 128];
    for s in 0..3 {
        if bits >> s & 1 == 1 {
            let x = 1 + (bits >> (3 + 3 * s) & 7).min(5) as usize;
            for y in 3..13 {
                g[y * 8 + x] = full;
                if shades > 0 {
                    let side = g[y * 8 + x + 1].max((y as u32 % shades + 1) as u8);
                    g[y * 8 + x + 1] = side;
                }
            }
        }
        if bits >> (12 + s) & 1 == 1 {
            let y = 3 + (bits >> (15 + 3 * s) & 7) as usize * 10 / 7;
            g[y * 8 + 1..y * 8 + 7].fill(full);
        }
    }
    g
}

/// `n` distinct colours in 4x4 blocks; every colour appears at least once when
/// `width * height / 16 >= n`.
pub fn palette_blocks(width: u32, height: u32, n: u32) -> FrameBuf {
    let mut frame = FrameBuf::new(width, height);
    let blocks_per_row = width.div_ceil(4);
    for y in 0..height {
        for x in 0..width {
            let i = (y / 4 * blocks_per_row + x / 4) % n;
            // Spread the index over all three channels so colours are distinct.
            put(
                &mut frame,
                x,
                y,
                [
                    (i * 37 % 256) as u8,
                    (i / 7 * 11 % 256) as u8,
                    (i % 7 * 40 + i / 256) as u8,
                ],
            );
        }
    }
    frame
}

/// Full-colour content like ffmpeg's testsrc2: diagonal gradients, colour bars, a moving
/// box and per-pixel noise, shifted by `t` (frame number).
pub fn testsrc(width: u32, height: u32, t: u32) -> FrameBuf {
    let mut frame = FrameBuf::new(width, height);
    let mut rng = Rng::new(1 + t);
    for y in 0..height {
        for x in 0..width {
            let noise = (rng.next() % 9) as u8;
            let mut rgb = [
                ((x + 3 * t) * 255 / width) as u8,
                ((y + 2 * t) * 255 / height) as u8,
                (((x + y + 5 * t) / 4) % 256) as u8,
            ];
            if y < height / 5 {
                rgb = [
                    [255, 255, 0],
                    [0, 255, 255],
                    [0, 255, 0],
                    [255, 0, 255],
                    [255, 0, 0],
                    [0, 0, 255],
                    [40, 40, 40],
                ][(x * 7 / width) as usize];
            }
            let bx = (t * 8) % width.max(1);
            if x >= bx && x < bx + width / 8 && y > height / 2 && y < height / 2 + height / 8 {
                rgb = [250, 250, 250];
            }
            put(&mut frame, x, y, rgb.map(|c| c.saturating_add(noise)));
        }
    }
    frame
}

/// A smooth gradient that moves by a few pixels per frame `t` (video-like, easy to predict).
pub fn moving_gradient(width: u32, height: u32, t: u32) -> FrameBuf {
    // A triangle wave keeps the gradient free of hard wrap-around edges.
    let tri = |v: u32| -> u8 {
        let v = v % 510;
        (if v < 255 { v } else { 510 - v }) as u8
    };
    let mut frame = FrameBuf::new(width, height);
    for y in 0..height {
        for x in 0..width {
            let (sx, sy) = (x + 4 * t, y + 2 * t);
            put(&mut frame, x, y, [tri(sx), tri(sy * 2), tri(sx + sy)]);
        }
    }
    frame
}

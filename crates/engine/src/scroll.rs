//! Vertical scroll detection. X reports a scrolled terminal or page as "this
//! whole area changed"; the client already holds almost all of those pixels,
//! one offset away. Finding the offset turns a full-area resend into a Copy op
//! of a few bytes plus the newly exposed lines.
//!
//! Rows are hashed per 64-pixel column strip, so a scrolling window next to a
//! static one still matches in the strips it fully covers.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::geom::{FrameRef, Rect};
use crate::grid::TILE;

/// Minimum height of a matched band: shorter coincidences (repeated text rows) are not worth a Copy.
const MIN_BAND_ROWS: usize = 8;
/// Minimum number of votes for an offset to be trusted.
const MIN_VOTES: u32 = 8;

/// "Copy the client's pixels at (rect.x, src_y) to rect".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Band {
    pub rect: Rect,
    pub src_y: u32,
}

/// Whether `area` is large enough for scroll detection to pay off.
pub fn worth_detecting(area: &Rect, screen_width: u32) -> bool {
    area.w >= screen_width / 4 && area.h >= TILE
}

/// The bands of `area` in `new` that equal rows of `old` shifted by one common
/// vertical offset, ordered so that applying them one after another never
/// reads a row an earlier band already overwrote. Empty when no offset fits.
pub fn detect(old: &FrameRef<'_>, new: &FrameRef<'_>, area: Rect) -> Vec<Band> {
    let strips = strips_of(area);
    let rows = area.h as usize;
    let old_hashes = row_hashes(old, area, &strips);
    let new_hashes = row_hashes(new, area, &strips);
    let Some(dy) = vote_offset(&old_hashes, &new_hashes, rows) else {
        return Vec::new();
    };
    let needed = (rows / 2).min(TILE as usize);
    let mut pieces = Vec::new();
    for (s, &(x0, x1)) in strips.iter().enumerate() {
        let range = s * rows..(s + 1) * rows;
        let runs = matching_runs(&old_hashes[range.clone()], &new_hashes[range], dy);
        if runs.iter().map(|r| r.len()).sum::<usize>() >= needed {
            pieces.extend(runs.into_iter().map(|r| (x0, x1, r)));
        }
    }
    let mut bands = merge_strips(pieces, area, dy);
    bands.sort_by_key(|b| b.rect.y);
    if dy > 0 {
        // Content moved down: sources lie above destinations, so paint bottom-up.
        bands.reverse();
    }
    bands
}

/// The 64-pixel column strips of `area` (aligned like the tile grid when `area` is).
fn strips_of(area: Rect) -> Vec<(u32, u32)> {
    (area.x..area.right())
        .step_by(TILE as usize)
        .map(|x0| (x0, (x0 + TILE).min(area.right())))
        .collect()
}

/// Hashes of every row of every strip, strip-major.
fn row_hashes(frame: &FrameRef<'_>, area: Rect, strips: &[(u32, u32)]) -> Vec<u64> {
    let rows = area.h as usize;
    let mut hashes = vec![0; strips.len() * rows];
    // Walk memory in order (row by row): strip by strip is several times slower on large screens.
    for (r, y) in (area.y..area.bottom()).enumerate() {
        let row = frame.row(y, area.x, area.right());
        for (s, chunk) in row.chunks(TILE as usize * 4).enumerate() {
            hashes[s * rows + r] = hash_bytes(chunk);
        }
    }
    hashes
}

/// A fast non-cryptographic hash of a row. Eight independent lanes keep the
/// multiplies from serialising; collisions only cost efficiency, never
/// correctness (the planner re-compares pixels after applying a Copy).
pub fn hash_bytes(bytes: &[u8]) -> u64 {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut lanes = [1u64, 2, 3, 4, 5, 6, 7, 8];
    let mut chunks = bytes.chunks_exact(64);
    for chunk in &mut chunks {
        for (lane, word) in lanes.iter_mut().zip(chunk.chunks_exact(8)) {
            let w = u64::from_le_bytes(word.try_into().expect("8-byte chunk"));
            *lane = (*lane ^ w).wrapping_mul(K);
        }
    }
    for (i, &b) in chunks.remainder().iter().enumerate() {
        lanes[i % 8] = (lanes[i % 8].rotate_left(8) ^ u64::from(b)).wrapping_mul(K);
    }
    lanes.iter().fold(bytes.len() as u64, |h, &l| {
        (h.rotate_left(29) ^ l).wrapping_mul(K)
    })
}

/// The offset `dy` (new row = old row + dy, nonzero) that most changed rows agree on.
/// Only rows whose hash is unique in the old strip vote: blank and repeated rows
/// match everywhere and would vote for every offset.
fn vote_offset(old: &[u64], new: &[u64], rows: usize) -> Option<i32> {
    let mut votes = vec![0u32; 2 * rows];
    let mut unique_rows: HashMap<u64, Option<usize>, BuildHasherDefault<PreHashed>> =
        HashMap::default();
    for (old_strip, new_strip) in old.chunks_exact(rows).zip(new.chunks_exact(rows)) {
        unique_rows.clear();
        for (r, &h) in old_strip.iter().enumerate() {
            unique_rows
                .entry(h)
                .and_modify(|row| *row = None)
                .or_insert(Some(r));
        }
        for (r, &h) in new_strip.iter().enumerate() {
            if h == old_strip[r] {
                continue;
            }
            if let Some(&Some(old_r)) = unique_rows.get(&h) {
                votes[r + rows - old_r] += 1;
            }
        }
    }
    let (best, &count) = votes.iter().enumerate().max_by_key(|&(_, &v)| v)?;
    (count >= MIN_VOTES).then_some(best as i32 - rows as i32)
}

/// Runs of rows `r` (at least [`MIN_BAND_ROWS`] long) where `new[r] == old[r - dy]`,
/// trimmed of rows at either end that did not change in place (nothing to copy there).
fn matching_runs(old: &[u64], new: &[u64], dy: i32) -> Vec<std::ops::Range<usize>> {
    let matches = |r: usize| {
        let src = r as i64 - i64::from(dy);
        src >= 0 && (src as usize) < old.len() && new[r] == old[src as usize]
    };
    let mut runs = Vec::new();
    let mut r = 0;
    while r < new.len() {
        if !matches(r) {
            r += 1;
            continue;
        }
        let start = r;
        while r < new.len() && matches(r) {
            r += 1;
        }
        let changed = |i: &usize| new[*i] != old[*i];
        if let (Some(first), Some(last)) =
            ((start..r).find(changed), (start..r).rev().find(changed))
        {
            if last + 1 - first >= MIN_BAND_ROWS {
                runs.push(first..last + 1);
            }
        }
    }
    runs
}

/// Join per-strip runs into bands, widening a band over neighbouring strips with the same rows.
fn merge_strips(pieces: Vec<(u32, u32, std::ops::Range<usize>)>, area: Rect, dy: i32) -> Vec<Band> {
    let mut bands: Vec<Band> = Vec::new();
    for (x0, x1, rows) in pieces {
        let y = area.y + rows.start as u32;
        let h = rows.len() as u32;
        match bands
            .iter_mut()
            .find(|b| b.rect.right() == x0 && b.rect.y == y && b.rect.h == h)
        {
            Some(band) => band.rect.w += x1 - x0,
            None => bands.push(Band {
                rect: Rect::new(x0, y, x1 - x0, h),
                src_y: (i64::from(y) - i64::from(dy)) as u32,
            }),
        }
    }
    bands
}

/// Hashing for keys that already are good 64-bit hashes.
#[derive(Default)]
struct PreHashed(u64);

impl Hasher for PreHashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0 = hash_bytes(bytes);
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geom::FrameBuf;

    /// A terminal-like screen: text lines of `line_h` rows, each with its own pattern, on white.
    fn terminal(width: u32, height: u32, line_h: u32, first_line: u32) -> FrameBuf {
        let mut f = FrameBuf::new(width, height);
        for y in 0..height {
            let line = first_line + y / line_h;
            let row_in_line = y % line_h;
            for x in 0..width {
                let glyph_bits = hash_bytes(&[
                    (x / 3) as u8,
                    (x / 768) as u8,
                    line as u8,
                    (line >> 8) as u8,
                    row_in_line as u8,
                ]);
                let ink = row_in_line > 2 && glyph_bits % 5 == 1;
                let v = if ink { 0 } else { 255 };
                let i = (y * width + x) as usize * 4;
                f.pixels[i..i + 4].copy_from_slice(&[v, v, v, 0]);
            }
        }
        f
    }

    fn apply(frame: &mut FrameBuf, bands: &[Band]) {
        for band in bands {
            let src = frame.clone();
            let r = band.rect;
            for row in 0..r.h {
                let from = src.as_ref().row(band.src_y + row, r.x, r.right()).to_vec();
                let start = ((r.y + row) * frame.width + r.x) as usize * 4;
                frame.pixels[start..start + from.len()].copy_from_slice(&from);
            }
        }
    }

    #[test]
    fn terminal_scrolled_up_by_three_lines_is_one_band() {
        let old = terminal(256, 192, 16, 0);
        let new = terminal(256, 192, 16, 3);
        let bands = detect(&old.as_ref(), &new.as_ref(), Rect::new(0, 0, 256, 192));
        // Rows 0..3 are blank in both frames: nothing to copy there.
        assert_eq!(
            bands,
            vec![Band {
                rect: Rect::new(0, 3, 256, 192 - 48 - 3),
                src_y: 51
            }]
        );
        let mut client = old.clone();
        apply(&mut client, &bands);
        assert_eq!(client.pixels[..256 * 144 * 4], new.pixels[..256 * 144 * 4]);
    }

    #[test]
    fn content_moved_down_is_ordered_bottom_up() {
        let old = terminal(256, 256, 16, 10);
        let mut new = terminal(256, 256, 16, 8);
        // A changed line in the middle splits the scrolled area into two bands.
        new.copy_from(
            &terminal(256, 256, 16, 100).as_ref(),
            Rect::new(0, 128, 256, 16),
        );
        let bands = detect(&old.as_ref(), &new.as_ref(), Rect::new(0, 0, 256, 256));
        assert_eq!(bands.len(), 2);
        assert!(bands.iter().all(|b| b.rect.y == b.src_y + 32));
        assert!(
            bands[0].rect.y > bands[1].rect.y,
            "bottom band first: {bands:?}"
        );
        let mut client = old.clone();
        apply(&mut client, &bands);
        for b in &bands {
            for y in b.rect.y..b.rect.bottom() {
                assert_eq!(client.as_ref().row(y, 0, 256), new.as_ref().row(y, 0, 256));
            }
        }
    }

    #[test]
    fn a_static_window_beside_the_terminal_keeps_its_strips_out_of_the_copy() {
        let old = terminal(320, 192, 16, 0);
        let mut new = terminal(320, 192, 16, 2);
        // Columns 256.. hold a static window (unchanged from old) that does not scroll.
        new.copy_from(&old.as_ref(), Rect::new(256, 0, 64, 192));
        let bands = detect(&old.as_ref(), &new.as_ref(), Rect::new(0, 0, 320, 192));
        assert_eq!(
            bands,
            vec![Band {
                rect: Rect::new(0, 3, 256, 157),
                src_y: 35
            }]
        );
    }

    #[test]
    fn unrelated_content_yields_no_band() {
        let old = terminal(256, 128, 16, 0);
        let mut new = FrameBuf::new(256, 128);
        for (i, p) in new.pixels.iter_mut().enumerate() {
            *p = (i * 31 % 251) as u8;
        }
        assert!(detect(&old.as_ref(), &new.as_ref(), Rect::new(0, 0, 256, 128)).is_empty());
    }

    #[test]
    fn small_areas_are_not_worth_detecting() {
        assert!(!worth_detecting(&Rect::new(0, 0, 64, 720), 1280));
        assert!(!worth_detecting(&Rect::new(0, 0, 1280, 32), 1280));
        assert!(worth_detecting(&Rect::new(0, 0, 320, 64), 1280));
    }

    #[test]
    fn row_hash_sees_every_byte() {
        let row = vec![7u8; 1280 * 4 + 3];
        let h = hash_bytes(&row);
        for i in [0, 100, row.len() - 1] {
            let mut changed = row.clone();
            changed[i] ^= 1;
            assert_ne!(hash_bytes(&changed), h, "byte {i}");
        }
    }
}

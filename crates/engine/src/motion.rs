//! Sustained motion and the video region. Video played in a window, a game or
//! a 3D view changes a large many-coloured area on most frames: one H.264
//! stream over it costs a fraction of per-frame JPEG tiles. The region must be
//! stable (every new geometry restarts the decoder with a costly keyframe), so
//! it only starts after motion persisted, only grows while it lives, and ends
//! after the area has been still for a while (its tiles then get a lossless refresh).

use std::time::Duration;

use crate::geom::Rect;
use crate::grid::TileGrid;

/// Longest pause between two changes of a tile that still counts as one run of motion.
pub const MOTION_GAP: Duration = Duration::from_millis(150);
/// How long a run of motion must last before the tile counts as in sustained motion.
pub const MOTION_MIN: Duration = Duration::from_millis(300);
/// How long lossy content must stay unchanged before it is refreshed losslessly;
/// also how long a video region must be still before it ends.
pub const SETTLE: Duration = Duration::from_millis(300);
/// Smallest video region edge in pixels: smaller moving areas are cheaper as JPEG tiles.
pub const MIN_VIDEO_EDGE: u32 = 128;

/// The current run of changes of one tile.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MotionRun {
    start: Duration,
    last: Option<Duration>,
}

impl MotionRun {
    pub fn record_change(&mut self, now: Duration) {
        let continues = self
            .last
            .is_some_and(|last| now.saturating_sub(last) <= MOTION_GAP);
        if !continues {
            self.start = now;
        }
        self.last = Some(now);
    }

    /// Whether the tile has been changing with short pauses only for at least [`MOTION_MIN`] up to `now`.
    pub fn is_sustained(&self, now: Duration) -> bool {
        self.last
            .is_some_and(|last| now.saturating_sub(last) <= MOTION_GAP)
            && now.saturating_sub(self.start) >= MOTION_MIN
    }
}

/// Tile-aligned bounding boxes (in pixels, clipped to the screen) of the groups
/// of touching `hot` tiles that are big enough and mostly hot, largest first.
pub fn video_candidates(grid: &TileGrid, hot: &[bool]) -> Vec<Rect> {
    let mut seen = vec![false; grid.len()];
    let mut found = Vec::new();
    for start in 0..grid.len() {
        if !hot[start] || seen[start] {
            continue;
        }
        let (c0, r0, c1, r1, count) = flood(grid, hot, &mut seen, start);
        let rect = grid.span_rect(c0, r0, c1, r1);
        let mostly_hot = 2 * count >= (c1 - c0) as usize * (r1 - r0) as usize;
        if rect.w >= MIN_VIDEO_EDGE && rect.h >= MIN_VIDEO_EDGE && mostly_hot {
            found.push(rect);
        }
    }
    found.sort_by_key(|r| std::cmp::Reverse(r.area()));
    found
}

/// Visit the 8-connected group of hot tiles containing `start`; returns its
/// tile bounds (c0, r0, c1, r1) and size.
fn flood(
    grid: &TileGrid,
    hot: &[bool],
    seen: &mut [bool],
    start: usize,
) -> (u32, u32, u32, u32, usize) {
    let (sc, sr) = grid.col_row(start);
    let (mut c0, mut r0, mut c1, mut r1, mut count) = (sc, sr, sc + 1, sr + 1, 0);
    let mut stack = vec![start];
    seen[start] = true;
    while let Some(i) = stack.pop() {
        count += 1;
        let (col, row) = grid.col_row(i);
        (c0, r0, c1, r1) = (c0.min(col), r0.min(row), c1.max(col + 1), r1.max(row + 1));
        for nr in row.saturating_sub(1)..(row + 2).min(grid.rows) {
            for nc in col.saturating_sub(1)..(col + 2).min(grid.cols) {
                let n = grid.index(nc, nr);
                if hot[n] && !seen[n] {
                    seen[n] = true;
                    stack.push(n);
                }
            }
        }
    }
    (c0, r0, c1, r1, count)
}

/// The area streamed as video.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VideoRegion {
    /// Tile-aligned bounds (clipped to the screen) that candidates are compared against.
    pub tiles: Rect,
    /// The rect sent to the encoder: `tiles` shrunk to even width and height.
    pub rect: Rect,
    last_change: Duration,
}

/// At most one video region, with its lifecycle.
#[derive(Debug, Default)]
pub struct VideoTracker {
    region: Option<VideoRegion>,
    keyframe_due: bool,
}

impl VideoTracker {
    pub fn region(&self) -> Option<&VideoRegion> {
        self.region.as_ref()
    }

    /// Drop the region (screen resized, client lost H.264).
    pub fn end(&mut self) {
        self.region = None;
    }

    /// The next video op must be a keyframe (new viewer, refresh request).
    pub fn restart(&mut self) {
        self.keyframe_due = true;
    }

    /// Whether the next video op must be a keyframe; clears the flag.
    pub fn take_keyframe(&mut self) -> bool {
        std::mem::take(&mut self.keyframe_due)
    }

    /// Advance by one plan: `region_changed` says whether anything inside the
    /// current region changed now, `candidates` come from [`video_candidates`].
    pub fn update(&mut self, now: Duration, region_changed: bool, candidates: &[Rect]) {
        if let Some(region) = &mut self.region {
            if region_changed {
                region.last_change = now;
            } else if now.saturating_sub(region.last_change) >= SETTLE {
                self.region = None;
            }
        }
        let tiles = match self.region {
            None => candidates.first().copied(),
            // Grow only: a region that shrinks and regrows with the content restarts the decoder each time.
            Some(region) => candidates
                .iter()
                .find(|c| !c.intersect(&region.tiles).is_empty() && !region.tiles.contains(c))
                .map(|c| c.union(&region.tiles)),
        };
        if let Some(tiles) = tiles {
            self.region = Some(VideoRegion {
                tiles,
                rect: even(tiles),
                last_change: now,
            });
            self.keyframe_due = true;
        }
    }

    /// When the region ends if nothing inside it changes.
    pub fn deadline(&self) -> Option<Duration> {
        self.region.map(|r| r.last_change + SETTLE)
    }
}

/// `rect` shrunk to even width and height (H.264 codes 2x2 chroma blocks).
fn even(rect: Rect) -> Rect {
    Rect::new(rect.x, rect.y, rect.w & !1, rect.h & !1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[test]
    fn motion_is_sustained_only_after_a_run_of_close_changes() {
        let mut run = MotionRun::default();
        for t in (0..=280).step_by(40) {
            run.record_change(MS(t));
            assert!(!run.is_sustained(MS(t)), "at {t} ms");
        }
        run.record_change(MS(320));
        assert!(run.is_sustained(MS(320)));
        assert!(
            !run.is_sustained(MS(320) + MOTION_GAP + MS(1)),
            "a pause ends it"
        );
    }

    #[test]
    fn a_long_pause_restarts_the_run() {
        let mut run = MotionRun::default();
        for t in [0, 100, 200, 300, 600, 700] {
            run.record_change(MS(t));
        }
        assert!(!run.is_sustained(MS(700)));
    }

    fn hot_tiles(grid: &TileGrid, tiles: &[(u32, u32)]) -> Vec<bool> {
        let mut hot = vec![false; grid.len()];
        for &(c, r) in tiles {
            hot[grid.index(c, r)] = true;
        }
        hot
    }

    #[test]
    fn a_mostly_hot_block_of_two_by_two_tiles_is_a_candidate_and_isolated_tiles_are_not() {
        let grid = TileGrid::new(640, 480);
        let hot = hot_tiles(&grid, &[(1, 1), (2, 1), (1, 2), (2, 2), (3, 3), (8, 6)]);
        assert_eq!(
            video_candidates(&grid, &hot),
            vec![Rect::new(64, 64, 192, 192)]
        );
        let sparse = hot_tiles(&grid, &[(0, 0), (3, 3)]);
        assert!(video_candidates(&grid, &sparse).is_empty());
    }

    #[test]
    fn candidates_are_clipped_to_the_screen() {
        let grid = TileGrid::new(150, 150);
        let hot = vec![true; grid.len()];
        assert_eq!(
            video_candidates(&grid, &hot),
            vec![Rect::new(0, 0, 150, 150)]
        );
    }

    #[test]
    fn region_starts_with_a_keyframe_has_even_size_and_ends_after_settling() {
        let mut video = VideoTracker::default();
        video.update(MS(0), false, &[Rect::new(0, 0, 135, 129)]);
        assert_eq!(
            video.region().map(|r| r.rect),
            Some(Rect::new(0, 0, 134, 128))
        );
        assert!(video.take_keyframe());
        assert!(!video.take_keyframe());
        video.update(MS(100), true, &[]);
        assert_eq!(video.deadline(), Some(MS(100) + SETTLE));
        video.update(MS(399), false, &[]);
        assert!(video.region().is_some());
        video.update(MS(400), false, &[]);
        assert!(video.region().is_none());
    }

    #[test]
    fn region_grows_but_never_shrinks() {
        let mut video = VideoTracker::default();
        let big = Rect::new(0, 0, 256, 256);
        video.update(MS(0), true, &[big]);
        video.take_keyframe();
        video.update(MS(20), true, &[Rect::new(64, 64, 128, 128)]);
        assert_eq!(video.region().map(|r| r.tiles), Some(big));
        assert!(!video.take_keyframe(), "same geometry, same stream");
        video.update(MS(40), true, &[Rect::new(192, 0, 128, 128)]);
        assert_eq!(
            video.region().map(|r| r.tiles),
            Some(Rect::new(0, 0, 320, 256))
        );
        assert!(video.take_keyframe(), "new geometry starts a new stream");
    }

    #[test]
    fn a_disjoint_candidate_does_not_move_the_region() {
        let mut video = VideoTracker::default();
        video.update(MS(0), true, &[Rect::new(0, 0, 128, 128)]);
        video.update(MS(20), true, &[Rect::new(512, 0, 256, 256)]);
        assert_eq!(
            video.region().map(|r| r.tiles),
            Some(Rect::new(0, 0, 128, 128))
        );
    }
}

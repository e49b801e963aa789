//! The planner decides, once per frame, which paint operations bring the
//! client's canvas up to date with the screen, cheaply. It keeps a shadow of
//! what the client shows so it can ignore damage that repaints identical
//! pixels, turn scrolling into Copy ops, send each changed tile with the codec
//! that suits its content, stream sustained motion as video, and repaint
//! everything sent lossily with exact pixels once it settles: the client ends
//! up pixel-exact whenever the screen is still.

use std::time::Duration;

pub use crate::classify::ClientCaps;
use crate::classify::{classify, palette, Palette, TileClass, MOTION_QUALITY};
use crate::geom::{FrameBuf, FrameRef, Rect};
use crate::grid::TileGrid;
use crate::merge::merge_tiles;
use crate::motion::{video_candidates, MotionRun, VideoTracker, SETTLE};
use crate::scroll::{self, Band};

/// One paint operation for the client, applied in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Solid {
        rect: Rect,
        rgb: [u8; 3],
    },
    /// The client copies its own pixels at (`src_x`, `src_y`) to `rect` (scrolling).
    Copy {
        rect: Rect,
        src_x: u32,
        src_y: u32,
    },
    /// Exact pixels (PNG).
    Lossless {
        rect: Rect,
    },
    /// Approximate pixels (JPEG); a lossless refresh follows once they settle.
    Lossy {
        rect: Rect,
        quality: u8,
    },
    /// The next frame of the H.264 stream for `rect`; a keyframe starts a new stream.
    Video {
        rect: Rect,
        keyframe: bool,
    },
}

impl Op {
    /// The screen area this op paints.
    pub fn rect(&self) -> Rect {
        match *self {
            Op::Solid { rect, .. }
            | Op::Copy { rect, .. }
            | Op::Lossless { rect }
            | Op::Lossy { rect, .. }
            | Op::Video { rect, .. } => rect,
        }
    }
}

/// How a tile outside the video region is painted; tiles merge when it is equal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Paint {
    Solid([u8; 3]),
    Lossless,
    Lossy(u8),
}

impl Paint {
    fn of(class: TileClass) -> Self {
        match class {
            TileClass::Solid(rgb) => Paint::Solid(rgb),
            TileClass::Lossless => Paint::Lossless,
            TileClass::Lossy { quality } => Paint::Lossy(quality),
            // Moving content that is not part of the video region.
            TileClass::Motion => Paint::Lossy(MOTION_QUALITY),
        }
    }

    /// The exact repaint of a tile that was sent lossily.
    fn refresh(screen: &FrameRef<'_>, tile: Rect) -> Self {
        match palette(screen, tile) {
            Palette::Single(rgb) => Paint::Solid(rgb),
            Palette::Few | Palette::Many => Paint::Lossless,
        }
    }

    fn is_exact(self) -> bool {
        !matches!(self, Paint::Lossy(_))
    }

    fn op(self, rect: Rect) -> Op {
        match self {
            Paint::Solid(rgb) => Op::Solid { rect, rgb },
            Paint::Lossless => Op::Lossless { rect },
            Paint::Lossy(quality) => Op::Lossy { rect, quality },
        }
    }
}

/// What the planner remembers about one tile.
#[derive(Debug, Clone, Copy, Default)]
struct TileState {
    /// When the client last received approximate pixels here; `None` while it shows them exactly.
    lossy_at: Option<Duration>,
    motion: MotionRun,
}

impl TileState {
    fn refresh_due(&self, now: Duration) -> bool {
        self.lossy_at.is_some_and(|at| now >= at + SETTLE)
    }
}

/// Plans the paint operations for one client view of the screen.
#[derive(Debug)]
pub struct Planner {
    caps: ClientCaps,
    grid: TileGrid,
    /// The screen as last sent (exact pixels, also where the client only has approximations).
    shadow: FrameBuf,
    tiles: Vec<TileState>,
    video: VideoTracker,
    /// The client's canvas is unknown: the next plan repaints everything.
    full_pending: bool,
}

impl Planner {
    pub fn new(width: u32, height: u32, caps: ClientCaps) -> Self {
        let grid = TileGrid::new(width, height);
        Self {
            caps,
            grid,
            shadow: FrameBuf::new(width, height),
            tiles: vec![TileState::default(); grid.len()],
            video: VideoTracker::default(),
            full_pending: true,
        }
    }

    /// The screen changed size: forget everything, the next plan sends the whole screen.
    pub fn resize(&mut self, width: u32, height: u32) {
        *self = Self::new(width, height, self.caps);
    }

    pub fn set_caps(&mut self, caps: ClientCaps) {
        if !caps.h264 {
            // Its tiles are already marked lossy and get refreshed once still.
            self.video.end();
        }
        self.caps = caps;
    }

    /// A new viewer or a refresh request: the next plan re-sends the whole
    /// screen and restarts video with a keyframe.
    pub fn request_full(&mut self) {
        self.full_pending = true;
        self.video.restart();
    }

    /// The client may not show `rect` as planned (an encoder failed and its op
    /// was dropped): repaint it exactly at the next plan. Inside the video
    /// region the repaint waits until the region ends; a broken video stream
    /// itself needs [`request_full`](Self::request_full).
    pub fn invalidate(&mut self, rect: Rect) {
        for i in self.grid.tiles_touching(&rect) {
            self.tiles[i].lossy_at = Some(Duration::ZERO);
        }
    }

    /// When `plan` must run even without new damage (lossless refresh of settled lossy areas).
    pub fn next_deadline(&self) -> Option<Duration> {
        if self.full_pending {
            return Some(Duration::ZERO);
        }
        let refresh = self
            .tiles
            .iter()
            .filter_map(|t| t.lossy_at)
            .min()
            .map(|at| at + SETTLE);
        [refresh, self.video.deadline()].into_iter().flatten().min()
    }

    /// The ops that bring the client from its current canvas to `screen`.
    /// `damaged` holds the areas X reported changed since the previous plan.
    pub fn plan(&mut self, now: Duration, screen: FrameRef<'_>, damaged: &[Rect]) -> Vec<Op> {
        if (screen.width, screen.height) != (self.grid.width, self.grid.height) {
            self.resize(screen.width, screen.height);
        }
        let mut ops = Vec::new();
        let full = std::mem::take(&mut self.full_pending);
        let mut changed = if full {
            vec![true; self.grid.len()]
        } else {
            self.changed_tiles(&screen, damaged)
        };
        if !full {
            // A Copy needs the client's old canvas, which a full repaint does not trust.
            self.follow_scroll(now, &screen, &mut changed, &mut ops);
        }
        for (tile, _) in self.tiles.iter_mut().zip(&changed).filter(|(_, &c)| c) {
            tile.motion.record_change(now);
        }
        let classes = self.classify_changed(now, &screen, &changed);
        self.update_video(now, &changed, &classes);
        ops.extend(self.video_op(now, &screen, &changed));
        ops.extend(self.tile_ops(now, &screen, &changed, &classes));
        ops
    }

    /// Damaged tiles whose pixels differ from what the client was sent.
    fn changed_tiles(&self, screen: &FrameRef<'_>, damaged: &[Rect]) -> Vec<bool> {
        let mut is_damaged = vec![false; self.grid.len()];
        for rect in damaged {
            for i in self.grid.tiles_touching(rect) {
                is_damaged[i] = true;
            }
        }
        is_damaged
            .iter()
            .enumerate()
            .map(|(i, &d)| d && self.differs(screen, self.grid.rect(i)))
            .collect()
    }

    fn differs(&self, screen: &FrameRef<'_>, rect: Rect) -> bool {
        let shadow = self.shadow.as_ref();
        (rect.y..rect.bottom())
            .any(|y| screen.row(y, rect.x, rect.right()) != shadow.row(y, rect.x, rect.right()))
    }

    /// Emit Copy ops for content that moved vertically within the changed area,
    /// then re-diff the tiles they touched.
    fn follow_scroll(
        &mut self,
        now: Duration,
        screen: &FrameRef<'_>,
        changed: &mut [bool],
        ops: &mut Vec<Op>,
    ) {
        let tiles = changed
            .iter()
            .enumerate()
            .filter(|(_, &c)| c)
            .fold(Rect::default(), |a, (i, _)| a.union(&self.grid.rect(i)));
        if tiles.is_empty() {
            return;
        }
        let area = self.changed_columns(screen, changed, tiles);
        if !scroll::worth_detecting(&area, self.grid.width) {
            return;
        }
        if self
            .video
            .region()
            .is_some_and(|r| !r.rect.intersect(&area).is_empty())
        {
            return; // Video already covers this area; a Copy would only add ops inside it.
        }
        let bands = scroll::detect(&self.shadow.as_ref(), screen, area);
        for band in &bands {
            self.apply_copy(now, band);
            ops.push(Op::Copy {
                rect: band.rect,
                src_x: band.rect.x,
                src_y: band.src_y,
            });
        }
        for band in &bands {
            for i in self.grid.tiles_touching(&band.rect) {
                changed[i] = self.differs(screen, self.grid.rect(i));
            }
        }
    }

    /// `tiles` (the bounds of the changed tiles) narrowed to the columns that
    /// really changed. Windows are rarely tile-aligned: with exact edges, the
    /// scroll strips lie inside the scrolling window instead of straddling its
    /// border and a static neighbour.
    fn changed_columns(&self, screen: &FrameRef<'_>, changed: &[bool], tiles: Rect) -> Rect {
        let (c0, _, c1, _) = self.grid.span_of(&tiles).expect("non-empty tiles");
        let edge_tiles = (0..self.grid.len())
            .filter(|&i| changed[i] && [c0, c1 - 1].contains(&self.grid.col_row(i).0));
        let (left, right) = edge_tiles
            .filter_map(|i| self.differing_columns(screen, self.grid.rect(i)))
            .fold((tiles.right(), tiles.x), |(l, r), (x0, x1)| {
                (l.min(x0), r.max(x1))
            });
        Rect::new(left, tiles.y, right.saturating_sub(left), tiles.h)
    }

    /// The leftmost and one past the rightmost column where `screen` and the shadow differ in `rect`.
    fn differing_columns(&self, screen: &FrameRef<'_>, rect: Rect) -> Option<(u32, u32)> {
        let shadow = self.shadow.as_ref();
        let mut span: Option<(u32, u32)> = None;
        for y in rect.y..rect.bottom() {
            let (new, old) = (
                screen.row(y, rect.x, rect.right()),
                shadow.row(y, rect.x, rect.right()),
            );
            if new == old {
                continue; // memcmp is much faster than the per-pixel search below
            }
            let differs = |px: &usize| new[px * 4..px * 4 + 4] != old[px * 4..px * 4 + 4];
            let pixels = 0..rect.w as usize;
            if let (Some(first), Some(last)) =
                (pixels.clone().find(differs), pixels.rev().find(differs))
            {
                let (x0, x1) = (rect.x + first as u32, rect.x + last as u32 + 1);
                span = Some(span.map_or((x0, x1), |(a, b)| (a.min(x0), b.max(x1))));
            }
        }
        span
    }

    /// Mirror a client-side Copy in the shadow. Destination tiles that receive
    /// approximate pixels become lossy; fully overwritten ones take the source's exactness.
    fn apply_copy(&mut self, now: Duration, band: &Band) {
        let lossy_before: Vec<bool> = self.tiles.iter().map(|t| t.lossy_at.is_some()).collect();
        for i in self.grid.tiles_touching(&band.rect) {
            let tile = self.grid.rect(i);
            let covered = tile.intersect(&band.rect);
            let from = Rect::new(
                covered.x,
                covered.y - band.rect.y + band.src_y,
                covered.w,
                covered.h,
            );
            if self.grid.tiles_touching(&from).any(|j| lossy_before[j]) {
                self.tiles[i].lossy_at = Some(now);
            } else if covered == tile {
                self.tiles[i].lossy_at = None;
            }
        }
        self.shadow.copy_within(band.rect, band.rect.x, band.src_y);
    }

    /// The class of each changed tile that the current video region does not cover.
    fn classify_changed(
        &self,
        now: Duration,
        screen: &FrameRef<'_>,
        changed: &[bool],
    ) -> Vec<Option<TileClass>> {
        (0..self.grid.len())
            .map(|i| {
                let rect = self.grid.rect(i);
                (changed[i] && !self.video_covers(&rect)).then(|| {
                    classify(
                        screen,
                        rect,
                        self.tiles[i].motion.is_sustained(now),
                        self.caps,
                    )
                })
            })
            .collect()
    }

    fn video_covers(&self, rect: &Rect) -> bool {
        self.video.region().is_some_and(|r| r.rect.contains(rect))
    }

    fn video_touches(&self, rect: &Rect) -> bool {
        self.video
            .region()
            .is_some_and(|r| !r.rect.intersect(rect).is_empty())
    }

    /// Start, grow or end the video region from this plan's changes.
    fn update_video(&mut self, now: Duration, changed: &[bool], classes: &[Option<TileClass>]) {
        let region_changed =
            (0..self.grid.len()).any(|i| changed[i] && self.video_touches(&self.grid.rect(i)));
        let candidates = if self.caps.h264 {
            let hot: Vec<bool> = (0..self.grid.len())
                .map(|i| {
                    let in_motion = changed[i] && self.tiles[i].motion.is_sustained(now);
                    in_motion
                        && (classes[i] == Some(TileClass::Motion)
                            || self.video_touches(&self.grid.rect(i)))
                })
                .collect();
            video_candidates(&self.grid, &hot)
        } else {
            Vec::new()
        };
        self.video.update(now, region_changed, &candidates);
    }

    /// The video frame for this plan, when the region changed or needs a keyframe.
    fn video_op(&mut self, now: Duration, screen: &FrameRef<'_>, changed: &[bool]) -> Option<Op> {
        let rect = self.video.region()?.rect;
        let changed_inside =
            (0..self.grid.len()).any(|i| changed[i] && self.video_touches(&self.grid.rect(i)));
        let keyframe = self.video.take_keyframe();
        if !keyframe && !changed_inside {
            return None;
        }
        self.shadow.copy_from(screen, rect);
        for i in self.grid.tiles_touching(&rect) {
            self.tiles[i].lossy_at = Some(now);
        }
        Some(Op::Video { rect, keyframe })
    }

    /// Ops for changed tiles outside the video region and for settled lossy
    /// tiles due for their exact repaint, merged into larger rects.
    fn tile_ops(
        &mut self,
        now: Duration,
        screen: &FrameRef<'_>,
        changed: &[bool],
        classes: &[Option<TileClass>],
    ) -> Vec<Op> {
        let paints: Vec<Option<Paint>> = (0..self.grid.len())
            .map(|i| {
                let rect = self.grid.rect(i);
                if changed[i] {
                    // The region only grows within a plan, so uncovered changed tiles were classified.
                    (!self.video_covers(&rect))
                        .then(|| Paint::of(classes[i].expect("uncovered changed tile classified")))
                } else if self.tiles[i].refresh_due(now) && !self.video_touches(&rect) {
                    Some(Paint::refresh(screen, rect))
                } else {
                    None
                }
            })
            .collect();
        for (tile, paint) in self.tiles.iter_mut().zip(&paints) {
            if let Some(paint) = paint {
                tile.lossy_at = (!paint.is_exact()).then_some(now);
            }
        }
        let merged = merge_tiles(&self.grid, &paints);
        merged
            .into_iter()
            .map(|(rect, paint)| {
                self.shadow.copy_from(screen, rect);
                paint.op(rect)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;

//! The fixed tile grid the planner reasons in. Damage, change detection,
//! classification, motion and refresh all work per 64x64 tile aligned to the
//! screen origin, so per-tile state is a flat `Vec` indexed by tile number.

use crate::geom::Rect;

/// Tile edge in pixels. Large enough that per-tile overhead (one rect header,
/// one PNG/JPEG header) stays small, small enough that a changed character
/// resends little.
pub const TILE: u32 = 64;

/// The tiles covering a `width` x `height` screen; edge tiles are clipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TileGrid {
    pub width: u32,
    pub height: u32,
    pub cols: u32,
    pub rows: u32,
}

impl TileGrid {
    pub fn new(width: u32, height: u32) -> Self {
        Self {
            width,
            height,
            cols: width.div_ceil(TILE),
            rows: height.div_ceil(TILE),
        }
    }

    pub fn len(&self) -> usize {
        self.cols as usize * self.rows as usize
    }

    pub fn index(&self, col: u32, row: u32) -> usize {
        row as usize * self.cols as usize + col as usize
    }

    pub fn col_row(&self, index: usize) -> (u32, u32) {
        (
            (index % self.cols as usize) as u32,
            (index / self.cols as usize) as u32,
        )
    }

    /// The screen pixels of tile `index`, clipped to the screen.
    pub fn rect(&self, index: usize) -> Rect {
        let (col, row) = self.col_row(index);
        self.span_rect(col, row, col + 1, row + 1)
    }

    /// Pixels of the tile columns `c0..c1` and rows `r0..r1`, clipped to the screen.
    pub fn span_rect(&self, c0: u32, r0: u32, c1: u32, r1: u32) -> Rect {
        let x = c0 * TILE;
        let y = r0 * TILE;
        Rect::new(
            x,
            y,
            (c1 * TILE).min(self.width) - x,
            (r1 * TILE).min(self.height) - y,
        )
    }

    /// Tile columns `c0..c1` and rows `r0..r1` touched by `rect` (after clipping to the screen).
    pub fn span_of(&self, rect: &Rect) -> Option<(u32, u32, u32, u32)> {
        let r = rect.intersect(&Rect::new(0, 0, self.width, self.height));
        if r.is_empty() {
            return None;
        }
        Some((
            r.x / TILE,
            r.y / TILE,
            r.right().div_ceil(TILE),
            r.bottom().div_ceil(TILE),
        ))
    }

    /// Indices of the tiles that `rect` touches.
    pub fn tiles_touching(&self, rect: &Rect) -> impl Iterator<Item = usize> + '_ {
        let (c0, r0, c1, r1) = self.span_of(rect).unwrap_or((0, 0, 0, 0));
        (r0..r1).flat_map(move |row| (c0..c1).map(move |col| self.index(col, row)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edge_tiles_are_clipped_to_the_screen() {
        let grid = TileGrid::new(130, 70);
        assert_eq!((grid.cols, grid.rows), (3, 2));
        assert_eq!(grid.rect(2), Rect::new(128, 0, 2, 64));
        assert_eq!(grid.rect(5), Rect::new(128, 64, 2, 6));
    }

    #[test]
    fn tiles_touching_a_rect_include_partially_covered_ones() {
        let grid = TileGrid::new(256, 256);
        let tiles: Vec<usize> = grid.tiles_touching(&Rect::new(63, 0, 2, 65)).collect();
        assert_eq!(tiles, vec![0, 1, 4, 5]);
    }

    #[test]
    fn rects_outside_the_screen_touch_nothing() {
        let grid = TileGrid::new(100, 100);
        assert_eq!(grid.tiles_touching(&Rect::new(200, 0, 10, 10)).count(), 0);
        assert_eq!(
            grid.tiles_touching(&Rect::new(90, 90, 50, 50))
                .collect::<Vec<_>>(),
            vec![3]
        );
    }
}

//! Joining neighbouring tiles that get the same encoding into larger rects:
//! every rect costs a header on the wire, an image header and a decode call in
//! the browser, so fewer, larger rects are cheaper than many 64x64 ones.

use crate::geom::Rect;
use crate::grid::TileGrid;

/// Rects covering the tiles with `Some(kind)`, each holding tiles of one kind:
/// runs along a tile row, stacked with identical runs of the following rows.
/// Sorted top to bottom, then left to right.
pub fn merge_tiles<K: Copy + PartialEq>(grid: &TileGrid, kinds: &[Option<K>]) -> Vec<(Rect, K)> {
    // Open rects: (c0, c1, first row, kind), still extendable downwards.
    let mut open: Vec<(u32, u32, u32, K)> = Vec::new();
    let mut done = Vec::new();
    for row in 0..grid.rows {
        let mut still_open = Vec::new();
        for (c0, c1, kind) in row_runs(grid, kinds, row) {
            match open
                .iter()
                .position(|&(o0, o1, _, k)| (o0, o1) == (c0, c1) && k == kind)
            {
                Some(i) => still_open.push(open.swap_remove(i)),
                None => still_open.push((c0, c1, row, kind)),
            }
        }
        done.extend(
            open.drain(..)
                .map(|(c0, c1, r0, k)| (grid.span_rect(c0, r0, c1, row), k)),
        );
        open = still_open;
    }
    done.extend(
        open.into_iter()
            .map(|(c0, c1, r0, k)| (grid.span_rect(c0, r0, c1, grid.rows), k)),
    );
    done.sort_by_key(|(r, _)| (r.y, r.x));
    done
}

/// Maximal runs (c0, c1, kind) of equal kinds in one tile row.
fn row_runs<K: Copy + PartialEq>(
    grid: &TileGrid,
    kinds: &[Option<K>],
    row: u32,
) -> Vec<(u32, u32, K)> {
    let mut runs: Vec<(u32, u32, K)> = Vec::new();
    for col in 0..grid.cols {
        let Some(kind) = kinds[grid.index(col, row)] else {
            continue;
        };
        match runs.last_mut() {
            Some((_, end, k)) if *end == col && *k == kind => *end += 1,
            _ => runs.push((col, col + 1, kind)),
        }
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(grid: &TileGrid, rows: &[&str]) -> Vec<Option<char>> {
        assert_eq!(rows.len(), grid.rows as usize);
        rows.iter()
            .flat_map(|r| r.chars().map(|c| (c != '.').then_some(c)))
            .collect()
    }

    #[test]
    fn runs_in_a_row_become_one_rect_per_kind() {
        let grid = TileGrid::new(320, 64);
        let merged = merge_tiles(&grid, &kinds(&grid, &["aab.a"]));
        assert_eq!(
            merged,
            vec![
                (Rect::new(0, 0, 128, 64), 'a'),
                (Rect::new(128, 0, 64, 64), 'b'),
                (Rect::new(256, 0, 64, 64), 'a')
            ]
        );
    }

    #[test]
    fn identical_runs_stack_into_rectangles_and_differing_ones_do_not() {
        let grid = TileGrid::new(256, 200);
        let merged = merge_tiles(&grid, &kinds(&grid, &["aa..", "aa.b", "aaa.", "bb.."]));
        assert_eq!(
            merged,
            vec![
                (Rect::new(0, 0, 128, 128), 'a'),
                (Rect::new(192, 64, 64, 64), 'b'),
                (Rect::new(0, 128, 192, 64), 'a'),
                (Rect::new(0, 192, 128, 8), 'b'),
            ]
        );
    }

    #[test]
    fn merged_rects_cover_exactly_the_marked_tiles() {
        let grid = TileGrid::new(500, 300);
        let marks: Vec<Option<u8>> = (0..grid.len())
            .map(|i| [None, Some(1), Some(2)][i * 7 % 3])
            .collect();
        let merged = merge_tiles(&grid, &marks);
        for (i, mark) in marks.iter().enumerate() {
            let tile = grid.rect(i);
            let covering: Vec<_> = merged
                .iter()
                .filter(|(r, _)| !r.intersect(&tile).is_empty())
                .collect();
            match mark {
                None => assert!(covering.is_empty()),
                Some(k) => assert_eq!(
                    covering
                        .iter()
                        .map(|(r, k)| (r.contains(&tile), *k))
                        .collect::<Vec<_>>(),
                    vec![(true, *k)]
                ),
            }
        }
    }
}

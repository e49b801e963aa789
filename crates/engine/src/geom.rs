//! Screen geometry and borrowed pixel buffers shared by the engine, the codecs and X capture.

/// A rectangle in screen pixels. Empty when `w` or `h` is 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Rect {
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
}

impl Rect {
    pub const fn new(x: u32, y: u32, w: u32, h: u32) -> Self {
        Self { x, y, w, h }
    }

    pub fn is_empty(&self) -> bool {
        self.w == 0 || self.h == 0
    }

    pub fn right(&self) -> u32 {
        self.x + self.w
    }

    pub fn bottom(&self) -> u32 {
        self.y + self.h
    }

    pub fn area(&self) -> u64 {
        u64::from(self.w) * u64::from(self.h)
    }

    pub fn intersect(&self, other: &Rect) -> Rect {
        let x = self.x.max(other.x);
        let y = self.y.max(other.y);
        let r = self.right().min(other.right());
        let b = self.bottom().min(other.bottom());
        if r <= x || b <= y {
            Rect::default()
        } else {
            Rect::new(x, y, r - x, b - y)
        }
    }

    /// The smallest rectangle containing both (an empty one contributes nothing).
    pub fn union(&self, other: &Rect) -> Rect {
        if self.is_empty() {
            return *other;
        }
        if other.is_empty() {
            return *self;
        }
        let x = self.x.min(other.x);
        let y = self.y.min(other.y);
        Rect::new(
            x,
            y,
            self.right().max(other.right()) - x,
            self.bottom().max(other.bottom()) - y,
        )
    }

    pub fn contains(&self, other: &Rect) -> bool {
        other.x >= self.x
            && other.y >= self.y
            && other.right() <= self.right()
            && other.bottom() <= self.bottom()
    }
}

/// A borrowed 32-bit image: 4 bytes per pixel in X's little-endian order
/// B, G, R, X (the fourth byte is ignored). `stride` is bytes per row.
#[derive(Debug, Clone, Copy)]
pub struct FrameRef<'a> {
    pub width: u32,
    pub height: u32,
    pub stride: usize,
    pub pixels: &'a [u8],
}

impl<'a> FrameRef<'a> {
    /// The bytes of row `y` between columns `x0` and `x1` (exclusive).
    pub fn row(&self, y: u32, x0: u32, x1: u32) -> &'a [u8] {
        let start = y as usize * self.stride + x0 as usize * 4;
        &self.pixels[start..start + (x1 - x0) as usize * 4]
    }

    pub fn bounds(&self) -> Rect {
        Rect::new(0, 0, self.width, self.height)
    }
}

/// An owned 32-bit BGRX image (the client's view of the screen, or a capture mirror).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FrameBuf {
    pub width: u32,
    pub height: u32,
    pub pixels: Vec<u8>,
}

impl FrameBuf {
    pub fn new(width: u32, height: u32) -> Self {
        Self {
            width,
            height,
            pixels: vec![0; width as usize * height as usize * 4],
        }
    }

    pub fn stride(&self) -> usize {
        self.width as usize * 4
    }

    pub fn as_ref(&self) -> FrameRef<'_> {
        FrameRef {
            width: self.width,
            height: self.height,
            stride: self.stride(),
            pixels: &self.pixels,
        }
    }

    /// Copy `rect` of `src` (same coordinates) into this buffer.
    pub fn copy_from(&mut self, src: &FrameRef<'_>, rect: Rect) {
        let rect = rect
            .intersect(&self.as_ref().bounds())
            .intersect(&src.bounds());
        let stride = self.stride();
        for y in rect.y..rect.bottom() {
            let dst = y as usize * stride + rect.x as usize * 4;
            self.pixels[dst..dst + rect.w as usize * 4].copy_from_slice(src.row(
                y,
                rect.x,
                rect.right(),
            ));
        }
    }

    /// Copy the `rect.w` x `rect.h` pixels at (`src_x`, `src_y`) of this buffer to `rect`,
    /// as if through a temporary (overlap is fine): the client's Copy operation.
    /// Both rects must lie inside the buffer.
    pub fn copy_within(&mut self, rect: Rect, src_x: u32, src_y: u32) {
        let stride = self.stride();
        let row_bytes = rect.w as usize * 4;
        let copy_row = |pixels: &mut Vec<u8>, dy: u32| {
            let from = (src_y + dy) as usize * stride + src_x as usize * 4;
            let to = (rect.y + dy) as usize * stride + rect.x as usize * 4;
            pixels.copy_within(from..from + row_bytes, to);
        };
        // Walk away from the destination so no source row is overwritten before it is read.
        if src_y < rect.y {
            (0..rect.h)
                .rev()
                .for_each(|dy| copy_row(&mut self.pixels, dy));
        } else {
            (0..rect.h).for_each(|dy| copy_row(&mut self.pixels, dy));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 4x4 buffer whose pixel (x, y) has first byte 10 * y + x.
    fn numbered() -> FrameBuf {
        let mut f = FrameBuf::new(4, 4);
        for (i, px) in f.pixels.chunks_exact_mut(4).enumerate() {
            px[0] = (10 * (i / 4) + i % 4) as u8;
        }
        f
    }

    fn first_bytes(f: &FrameBuf) -> Vec<u8> {
        f.pixels.chunks_exact(4).map(|p| p[0]).collect()
    }

    #[test]
    fn copy_within_handles_overlap_in_both_directions() {
        let mut down = numbered();
        down.copy_within(Rect::new(1, 1, 2, 3), 1, 0);
        assert_eq!(
            first_bytes(&down),
            vec![0, 1, 2, 3, 10, 1, 2, 13, 20, 11, 12, 23, 30, 21, 22, 33]
        );
        let mut up = numbered();
        up.copy_within(Rect::new(0, 0, 4, 3), 0, 1);
        assert_eq!(
            first_bytes(&up),
            vec![10, 11, 12, 13, 20, 21, 22, 23, 30, 31, 32, 33, 30, 31, 32, 33]
        );
        let mut sideways = numbered();
        sideways.copy_within(Rect::new(1, 0, 3, 1), 0, 0);
        assert_eq!(first_bytes(&sideways)[..4], [0, 0, 1, 2]);
    }
}

//! BGRX -> I420 (BT.709, limited range) conversion for the H.264 encoder.
//!
//! Integer math with the 8-bit BT.709 coefficients libyuv uses; chroma is the colour of
//! each 2x2 block's average. Odd sizes are padded to even by repeating the last column/row.

use crate::{FrameRef, Rect};

/// An I420 picture: Y plane `width` x `height`, U and V planes half that in each direction.
pub(crate) struct I420 {
    pub width: usize,
    pub height: usize,
    pub y: Vec<u8>,
    pub u: Vec<u8>,
    pub v: Vec<u8>,
}

impl I420 {
    /// A picture of the even coded size for a `width` x `height` source.
    pub fn for_source(width: u32, height: u32) -> Self {
        let (width, height) = (
            width.next_multiple_of(2) as usize,
            height.next_multiple_of(2) as usize,
        );
        let chroma = width / 2 * (height / 2);
        Self {
            width,
            height,
            y: vec![0; width * height],
            u: vec![128; chroma],
            v: vec![128; chroma],
        }
    }

    /// Fills the picture from `rect` of `frame` (`rect` already checked, sized for this picture).
    pub fn convert(&mut self, frame: &FrameRef<'_>, rect: Rect) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: `convert_avx2` only requires a CPU with AVX2, detected just above.
            unsafe { self.convert_avx2(frame, rect) };
            return;
        }
        self.convert_portable(frame, rect);
    }

    /// The portable loops compiled with AVX2 enabled: the compiler vectorises them 16 pixels wide.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn convert_avx2(&mut self, frame: &FrameRef<'_>, rect: Rect) {
        self.convert_portable(frame, rect);
    }

    #[inline(always)]
    fn convert_portable(&mut self, frame: &FrameRef<'_>, rect: Rect) {
        debug_assert_eq!(self.width, rect.w.next_multiple_of(2) as usize);
        debug_assert_eq!(self.height, rect.h.next_multiple_of(2) as usize);
        let (w, cw) = (self.width, self.width / 2);
        let last_row = rect.bottom() - 1;
        let rows = self
            .y
            .chunks_exact_mut(2 * w)
            .zip(self.u.chunks_exact_mut(cw))
            .zip(self.v.chunks_exact_mut(cw));
        for (pair, ((y_rows, u_row), v_row)) in rows.enumerate() {
            let src_y = rect.y + 2 * pair as u32;
            let top = frame.row(src_y, rect.x, rect.right());
            let bottom = frame.row((src_y + 1).min(last_row), rect.x, rect.right());
            let (y_top, y_bottom) = y_rows.split_at_mut(w);
            convert_row_pair(top, bottom, y_top, y_bottom, u_row, v_row);
        }
    }
}

/// Converts two source rows (`src_w` BGRX pixels each) into two luma rows and one row of each
/// chroma plane. The luma rows are `src_w` rounded up to even; a missing last column repeats.
#[inline(always)]
fn convert_row_pair(
    top: &[u8],
    bottom: &[u8],
    y_top: &mut [u8],
    y_bottom: &mut [u8],
    u: &mut [u8],
    v: &mut [u8],
) {
    luma_row(top, y_top);
    luma_row(bottom, y_bottom);
    let even = top.len() / 8 * 8;
    chroma_row(&top[..even], &bottom[..even], u, v);
    if even < top.len() {
        // Odd width: the last chroma sample covers the last column and its padded copy.
        let doubled = |p: &[u8]| {
            let mut two = [0u8; 8];
            two[..4].copy_from_slice(&p[even..even + 4]);
            two[4..].copy_from_slice(&p[even..even + 4]);
            two
        };
        let n = even / 8;
        chroma_row(
            &doubled(top),
            &doubled(bottom),
            &mut u[n..=n],
            &mut v[n..=n],
        );
    }
}

/// Luma of each BGRX pixel of `src` into `dst`; an extra `dst` byte (odd width) repeats the last.
/// A plain per-pixel loop on whole 32-bit pixels, which the compiler vectorises well.
#[inline(always)]
fn luma_row(src: &[u8], dst: &mut [u8]) {
    for (px, y) in src.chunks_exact(4).zip(dst.iter_mut()) {
        let p = u32::from_le_bytes([px[0], px[1], px[2], px[3]]);
        let (b, g, r) = (p & 0xff, p >> 8 & 0xff, p >> 16 & 0xff);
        *y = (((47 * r + 157 * g + 16 * b + 128) >> 8) + 16) as u8;
    }
    let w = src.len() / 4;
    if dst.len() > w {
        dst[w] = dst[w - 1];
    }
}

/// Chroma of each 2x2 block (two pixels of `top` over two of `bottom`) from its average colour.
#[inline(always)]
fn chroma_row(top: &[u8], bottom: &[u8], u: &mut [u8], v: &mut [u8]) {
    let blocks = top
        .chunks_exact(8)
        .zip(bottom.chunks_exact(8))
        .zip(u.iter_mut().zip(v.iter_mut()));
    for ((t, bt), (u, v)) in blocks {
        let avg = |c: usize| -> i16 {
            ((u16::from(t[c]) + u16::from(t[c + 4]) + u16::from(bt[c]) + u16::from(bt[c + 4]) + 2)
                >> 2) as i16
        };
        let (b, g, r) = (avg(0), avg(1), avg(2));
        // Each row of coefficients sums to 0 so greys get exactly neutral chroma; the sums
        // stay within +-28688, inside i16.
        *u = (((112 * b - 26 * r - 86 * g + 128) >> 8) + 128) as u8;
        *v = (((112 * r - 102 * g - 10 * b + 128) >> 8) + 128) as u8;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use porthole_engine::FrameBuf;

    fn solid(w: u32, h: u32, bgrx: [u8; 4]) -> FrameBuf {
        let mut f = FrameBuf::new(w, h);
        f.pixels
            .chunks_exact_mut(4)
            .for_each(|p| p.copy_from_slice(&bgrx));
        f
    }

    /// BT.709 limited range from the real-valued equations.
    fn reference(b: f64, g: f64, r: f64) -> [f64; 3] {
        let y = 0.2126 * r + 0.7152 * g + 0.0722 * b;
        let u = (b - y) / 1.8556;
        let v = (r - y) / 1.5748;
        [
            16.0 + y * 219.0 / 255.0,
            128.0 + u * 224.0 / 255.0,
            128.0 + v * 224.0 / 255.0,
        ]
    }

    #[test]
    fn colours_match_bt709_limited_range_within_one_step() {
        let colours = [
            [0, 0, 0],
            [255, 255, 255],
            [0, 0, 255],
            [0, 255, 0],
            [255, 0, 0],
            [30, 140, 220],
            [128, 128, 128],
        ];
        for bgr in colours {
            let frame = solid(2, 2, [bgr[0], bgr[1], bgr[2], 0]);
            let mut pic = I420::for_source(2, 2);
            pic.convert(&frame.as_ref(), Rect::new(0, 0, 2, 2));
            let want = reference(f64::from(bgr[0]), f64::from(bgr[1]), f64::from(bgr[2]));
            for (got, want) in [pic.y[3], pic.u[0], pic.v[0]].into_iter().zip(want) {
                assert!(
                    (f64::from(got) - want).abs() <= 1.0,
                    "bgr {bgr:?}: got {got}, want {want:.2}"
                );
            }
        }
    }

    #[test]
    fn odd_rect_pads_by_repeating_last_column_and_row() {
        // 3x3 rect at (1,1) of a 5x5 frame: column x=3 is white, everything else black.
        let mut frame = solid(5, 5, [0, 0, 0, 0]);
        for y in 0..5 {
            frame.pixels[y * 20 + 12..y * 20 + 16].copy_from_slice(&[255, 255, 255, 0]);
        }
        let mut pic = I420::for_source(3, 3);
        pic.convert(&frame.as_ref(), Rect::new(1, 1, 3, 3));
        assert_eq!((pic.width, pic.height), (4, 4));
        for row in pic.y.chunks_exact(4) {
            assert_eq!(row, [16, 16, 235, 235]);
        }
        // The padded block is all white, so neutral chroma; the left block is all black too.
        assert_eq!(pic.u, [128, 128, 128, 128]);
    }
}

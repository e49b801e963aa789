//! Measures `Planner::plan` on a 1280x720 screen for the common workloads.
//! Run with `cargo run --release -p porthole-engine --example plan_cost [case-name-part]`.

use std::time::{Duration, Instant};

use porthole_engine::planner::{ClientCaps, Op, Planner};
use porthole_engine::{FrameBuf, Rect};

const W: u32 = 1280;
const H: u32 = 720;
const LINE_H: u32 = 16;
const GLYPH_W: u32 = 8;

/// A cheap deterministic pixel hash standing in for glyph shapes and photos.
fn mix(v: u32) -> u32 {
    let v = (v ^ (v >> 16)).wrapping_mul(0x7feb_352d);
    (v ^ (v >> 15)).wrapping_mul(0x846c_a68b) ^ (v >> 16)
}

/// A full-screen terminal showing lines `first..` of an endless text.
fn terminal(first: u32) -> FrameBuf {
    let mut f = FrameBuf::new(W, H);
    for y in 0..H {
        let (line, row) = (first + y / LINE_H, y % LINE_H);
        for x in 0..W {
            let cell = line * 160 + x / GLYPH_W;
            // Spaces (a third of the cells) and the inter-line rows stay blank.
            let ink =
                row > 3 && mix(cell) % 3 != 1 && mix(cell * 131 + row * 17 + x % GLYPH_W) % 3 == 1;
            let v = if ink { 0 } else { 255 };
            let i = (y * W + x) as usize * 4;
            f.pixels[i..i + 4].copy_from_slice(&[v, v, v, 0]);
        }
    }
    f
}

fn photo(seed: u32) -> FrameBuf {
    let mut f = FrameBuf::new(W, H);
    for (i, px) in f.pixels.chunks_exact_mut(4).enumerate() {
        let v = mix(i as u32 / 3 + seed);
        px.copy_from_slice(&[v as u8, (v >> 8) as u8, (v >> 16) as u8, 0]);
    }
    f
}

/// Plans `frames` in turn (each with its damage) `rounds` times; returns the
/// sorted per-plan times and the mean pixels painted per plan (Copy ops excluded).
fn measure(frames: &[(FrameBuf, Vec<Rect>)], rounds: usize) -> (Vec<Duration>, u64) {
    let mut planner = Planner::new(W, H, ClientCaps { h264: false });
    let mut now = Duration::ZERO;
    planner.plan(now, frames[0].0.as_ref(), &[]);
    let mut times = Vec::new();
    let mut painted = 0;
    for (screen, damage) in frames.iter().cycle().skip(1).take(frames.len() * rounds) {
        now += Duration::from_millis(16);
        let start = Instant::now();
        let ops = planner.plan(now, screen.as_ref(), damage);
        times.push(start.elapsed());
        painted += ops
            .iter()
            .filter(|op| !matches!(op, Op::Copy { .. }))
            .map(|op| op.rect().area())
            .sum::<u64>();
    }
    times.sort();
    let plans = times.len() as u64;
    (times, painted / plans)
}

/// Measure and print one case, unless the first command-line argument names
/// other cases (for profiling one case).
fn run(name: &str, frames: &[(FrameBuf, Vec<Rect>)], rounds: usize) {
    if std::env::args()
        .nth(1)
        .is_some_and(|only| !name.contains(&only))
    {
        return;
    }
    let (times, painted) = measure(frames, rounds);
    let pct = |p: usize| times[(times.len() - 1) * p / 100].as_secs_f64() * 1e3;
    println!(
        "{name:<34} median {:>6.3} ms  p90 {:>6.3} ms  max {:>6.3} ms  painted {painted:>7} px/plan",
        pct(50),
        pct(90),
        pct(100)
    );
}

fn main() {
    let full = Rect::new(0, 0, W, H);

    let base = terminal(0);
    let mut typed = base.clone();
    let glyph = Rect::new(400, 320, GLYPH_W, LINE_H);
    typed.copy_from(&terminal(500).as_ref(), glyph);
    let typing = vec![(base.clone(), vec![glyph]), (typed, vec![glyph])];
    run("(a) one character changed", &typing, 200);

    let scrolling: Vec<_> = (0..40).map(|line| (terminal(line), vec![full])).collect();
    run("(b) terminal scrolled by one line", &scrolling, 5);

    let pages: Vec<_> = (0..4)
        .map(|page| (terminal(page * 1000), vec![full]))
        .collect();
    run("(c) full-screen change, text", &pages, 50);

    let photos: Vec<_> = (0..4)
        .map(|seed| (photo(seed * 7919), vec![full]))
        .collect();
    run("(c) full-screen change, photo", &photos, 50);

    let repaint = vec![(base, vec![full])];
    run("identical full-screen repaint", &repaint, 200);
}

//! Planner behaviour, checked by replaying its ops on a simulated client canvas.

use super::*;
use crate::motion::MOTION_MIN;
use proptest::prelude::*;

const MS: fn(u64) -> Duration = Duration::from_millis;
const H264: ClientCaps = ClientCaps { h264: true };
const NO_H264: ClientCaps = ClientCaps { h264: false };

fn set_px(f: &mut FrameBuf, x: u32, y: u32, [r, g, b]: [u8; 3]) {
    let i = (y * f.width + x) as usize * 4;
    f.pixels[i..i + 4].copy_from_slice(&[b, g, r, 0]);
}

fn paint(f: &mut FrameBuf, rect: Rect, colour_of: impl Fn(u32, u32) -> [u8; 3]) {
    let rect = rect.intersect(&f.as_ref().bounds());
    for y in rect.y..rect.bottom() {
        for x in rect.x..rect.right() {
            set_px(f, x, y, colour_of(x, y));
        }
    }
}

fn fill(f: &mut FrameBuf, rect: Rect, rgb: [u8; 3]) {
    paint(f, rect, |_, _| rgb);
}

/// Two-colour text-like pixels that differ per `seed`.
fn text(f: &mut FrameBuf, rect: Rect, seed: u32) {
    paint(f, rect, |x, y| {
        if (x / 2 * 7 + y * 13).wrapping_add(seed.wrapping_mul(31)) % 9 < 3 {
            [20, 20, 20]
        } else {
            [250, 250, 250]
        }
    });
}

/// Photo-like pixels with many colours that differ per `seed`.
fn photo(f: &mut FrameBuf, rect: Rect, seed: u32) {
    paint(f, rect, |x, y| {
        let v = x.wrapping_mul(2654435761) ^ y.wrapping_mul(40503) ^ seed.wrapping_mul(2246822519);
        [(v >> 3) as u8, (v >> 11) as u8, (v >> 19) as u8]
    });
}

/// A terminal of `line_h`-row lines starting at line `first` of an endless text.
fn terminal(f: &mut FrameBuf, rect: Rect, line_h: u32, first: u32) {
    paint(f, rect, |x, y| {
        let line = first + (y - rect.y) / line_h;
        let row = (y - rect.y) % line_h;
        let glyph_bits = crate::scroll::hash_bytes(
            &[(x / 2).to_le_bytes(), line.to_le_bytes(), row.to_le_bytes()].concat(),
        );
        let ink = row > 2 && glyph_bits % 7 < 2;
        if ink {
            [0, 0, 0]
        } else {
            [255, 255, 255]
        }
    });
}

/// The client: applies ops in order. Lossy and video pixels come out approximate.
fn apply(ops: &[Op], screen: &FrameBuf, client: &mut FrameBuf) {
    for op in ops {
        let rect = op.rect();
        assert!(
            !rect.is_empty() && screen.as_ref().bounds().contains(&rect),
            "{op:?} outside the screen"
        );
        match *op {
            Op::Solid { rgb, .. } => fill(client, rect, rgb),
            Op::Copy { src_x, src_y, .. } => {
                assert!(
                    screen
                        .as_ref()
                        .bounds()
                        .contains(&Rect::new(src_x, src_y, rect.w, rect.h)),
                    "{op:?} source"
                );
                client.copy_within(rect, src_x, src_y);
            }
            Op::Lossless { .. } => client.copy_from(&screen.as_ref(), rect),
            Op::Lossy { .. } | Op::Video { .. } => {
                let mut approx = screen.clone();
                approx.pixels.iter_mut().for_each(|b| *b &= 0xF0);
                client.copy_from(&approx.as_ref(), rect);
            }
        }
    }
}

/// A planner, its screen and the simulated client in step.
struct Session {
    planner: Planner,
    screen: FrameBuf,
    client: FrameBuf,
    now: Duration,
}

impl Session {
    fn new(width: u32, height: u32, caps: ClientCaps) -> Self {
        let mut s = Self {
            planner: Planner::new(width, height, caps),
            screen: FrameBuf::new(width, height),
            client: FrameBuf::new(width, height),
            now: Duration::ZERO,
        };
        s.client.pixels.fill(0x55); // the client starts with garbage
        s
    }

    fn plan_at(&mut self, now: Duration, damaged: &[Rect]) -> Vec<Op> {
        self.now = now;
        let ops = self.planner.plan(now, self.screen.as_ref(), damaged);
        apply(&ops, &self.screen, &mut self.client);
        ops
    }

    fn plan_after(&mut self, ms: u64, damaged: &[Rect]) -> Vec<Op> {
        self.plan_at(self.now + MS(ms), damaged)
    }

    fn full(&self) -> Rect {
        self.screen.as_ref().bounds()
    }

    /// Run plans at every deadline until none is left.
    fn settle(&mut self) {
        let mut rounds = 0;
        while let Some(at) = self.planner.next_deadline() {
            self.plan_at(at.max(self.now), &[]);
            rounds += 1;
            assert!(rounds < 10, "deadlines never end");
        }
    }

    fn client_is_exact(&self) -> bool {
        self.client == self.screen
    }
}

fn covered_area(ops: &[Op]) -> u64 {
    ops.iter().map(|op| op.rect().area()).sum()
}

#[test]
fn first_plan_paints_the_whole_screen_and_nothing_more_is_due() {
    let mut s = Session::new(300, 200, NO_H264);
    text(&mut s.screen, Rect::new(0, 0, 300, 100), 1);
    fill(&mut s.screen, Rect::new(0, 100, 300, 100), [0, 90, 200]);
    let ops = s.plan_at(MS(0), &[]);
    assert!(s.client_is_exact());
    assert_eq!(covered_area(&ops), 300 * 200, "no overlapping ops: {ops:?}");
    assert_eq!(s.planner.next_deadline(), None);
}

#[test]
fn damage_that_repaints_identical_pixels_sends_nothing() {
    let mut s = Session::new(256, 256, NO_H264);
    let full = s.full();
    text(&mut s.screen, full, 3);
    s.plan_at(MS(0), &[]);
    assert_eq!(s.plan_after(20, &[s.full()]), vec![]);
}

#[test]
fn a_typed_character_sends_one_small_lossless_rect() {
    let mut s = Session::new(1280, 720, NO_H264);
    let full = s.full();
    terminal(&mut s.screen, full, 16, 0);
    s.plan_at(MS(0), &[]);
    let glyph = Rect::new(100, 40, 8, 13);
    text(&mut s.screen, glyph, 77);
    let ops = s.plan_after(20, &[glyph]);
    assert_eq!(
        ops,
        vec![Op::Lossless {
            rect: Rect::new(64, 0, 64, 64)
        }]
    );
    assert!(s.client_is_exact());
}

#[test]
fn a_flat_area_becomes_one_merged_solid_op() {
    let mut s = Session::new(512, 256, NO_H264);
    let full = s.full();
    text(&mut s.screen, full, 1);
    s.plan_at(MS(0), &[]);
    let area = Rect::new(64, 64, 256, 128);
    fill(&mut s.screen, area, [200, 10, 10]);
    assert_eq!(
        s.plan_after(20, &[area]),
        vec![Op::Solid {
            rect: area,
            rgb: [200, 10, 10]
        }]
    );
}

#[test]
fn only_damaged_areas_are_examined() {
    let mut s = Session::new(256, 256, NO_H264);
    s.plan_at(MS(0), &[]);
    text(&mut s.screen, Rect::new(0, 0, 256, 256), 5);
    let ops = s.plan_after(20, &[Rect::new(0, 0, 10, 10)]);
    assert_eq!(
        ops,
        vec![Op::Lossless {
            rect: Rect::new(0, 0, 64, 64)
        }]
    );
}

#[test]
fn a_scrolled_terminal_is_a_copy_plus_the_new_line() {
    let mut s = Session::new(1280, 720, NO_H264);
    let term = Rect::new(0, 0, 1280, 720);
    terminal(&mut s.screen, term, 16, 0);
    s.plan_at(MS(0), &[]);
    terminal(&mut s.screen, term, 16, 1);
    let ops = s.plan_after(20, &[term]);
    assert!(matches!(ops[0], Op::Copy { src_x: 0, .. }), "{ops:?}");
    let painted: u64 = ops
        .iter()
        .filter(|op| !matches!(op, Op::Copy { .. }))
        .map(|op| op.rect().area())
        .sum();
    assert!(
        painted <= 1280 * 64,
        "only the exposed line's tile row is painted, got {painted} px: {ops:?}"
    );
    assert!(s.client_is_exact());
}

#[test]
fn a_scrolling_terminal_beside_a_static_window_is_still_copied() {
    let mut s = Session::new(1280, 720, NO_H264);
    let full = s.full();
    photo(&mut s.screen, full, 9);
    let term = Rect::new(37, 50, 700, 600);
    terminal(&mut s.screen, term, 15, 0);
    s.plan_at(MS(0), &[]);
    for step in 1..=5 {
        terminal(&mut s.screen, term, 15, step * 2);
        let ops = s.plan_after(16, &[term]);
        assert!(matches!(ops[0], Op::Copy { .. }), "step {step}: {ops:?}");
        assert!(
            covered_area(&ops[1..]) < 700 * 600 / 4,
            "step {step}: most of the terminal is copied: {ops:?}"
        );
    }
    s.settle();
    assert!(s.client_is_exact());
}

#[test]
fn a_photo_is_sent_lossy_then_refreshed_losslessly_when_settled() {
    let mut s = Session::new(256, 256, NO_H264);
    s.plan_at(MS(0), &[]);
    let area = Rect::new(0, 0, 128, 64);
    photo(&mut s.screen, area, 1);
    let ops = s.plan_at(MS(1000), &[area]);
    assert_eq!(
        ops,
        vec![Op::Lossy {
            rect: area,
            quality: crate::classify::STILL_QUALITY
        }]
    );
    assert!(!s.client_is_exact());
    assert_eq!(s.planner.next_deadline(), Some(MS(1000) + SETTLE));
    assert_eq!(s.plan_at(MS(1100), &[]), vec![], "not settled yet");
    assert_eq!(s.plan_at(MS(1300), &[]), vec![Op::Lossless { rect: area }]);
    assert!(s.client_is_exact());
    assert_eq!(s.planner.next_deadline(), None);
}

#[test]
fn an_invalidated_area_is_repainted_exactly_at_the_next_plan() {
    let mut s = Session::new(256, 256, NO_H264);
    let full = s.full();
    text(&mut s.screen, full, 2);
    s.plan_at(MS(5000), &[]);
    s.client.pixels[..4 * 10].fill(0); // the op painting the top-left tile was lost
    s.planner.invalidate(Rect::new(0, 0, 10, 1));
    assert!(s.planner.next_deadline().is_some_and(|at| at <= s.now));
    assert_eq!(
        s.plan_after(1, &[]),
        vec![Op::Lossless {
            rect: Rect::new(0, 0, 64, 64)
        }]
    );
    assert!(s.client_is_exact());
}

#[test]
fn a_lossy_area_that_keeps_changing_postpones_its_refresh() {
    let mut s = Session::new(256, 256, NO_H264);
    s.plan_at(MS(0), &[]);
    let area = Rect::new(0, 0, 64, 64);
    photo(&mut s.screen, area, 1);
    s.plan_at(MS(1000), &[area]);
    photo(&mut s.screen, area, 2);
    s.plan_at(MS(1200), &[area]);
    assert_eq!(s.planner.next_deadline(), Some(MS(1200) + SETTLE));
}

/// Plays a many-coloured animation in `area` every 33 ms for `frames` frames.
fn play(s: &mut Session, area: Rect, frames: u32) -> Vec<Vec<Op>> {
    (0..frames)
        .map(|f| {
            photo(&mut s.screen, area, 1000 + f);
            s.plan_after(33, &[area])
        })
        .collect()
}

#[test]
fn sustained_motion_becomes_a_stable_video_region_that_ends_with_a_lossless_refresh() {
    let mut s = Session::new(640, 480, H264);
    let full = s.full();
    text(&mut s.screen, full, 0);
    s.plan_at(MS(0), &[]);
    let area = Rect::new(128, 64, 256, 192);
    let frames = play(&mut s, area, 30);
    let first_video = frames
        .iter()
        .position(|ops| ops.iter().any(|op| matches!(op, Op::Video { .. })))
        .expect("video");
    assert!(
        u64::from(first_video as u32 + 1) * 33 >= MOTION_MIN.as_millis() as u64,
        "not before motion persisted"
    );
    assert!(
        first_video * 33 <= 500,
        "video started late: frame {first_video}"
    );
    assert_eq!(
        frames[first_video],
        vec![Op::Video {
            rect: area,
            keyframe: true
        }]
    );
    for ops in &frames[first_video + 1..] {
        assert_eq!(
            ops,
            &vec![Op::Video {
                rect: area,
                keyframe: false
            }],
            "one stable stream, nothing else"
        );
    }
    assert_eq!(s.planner.next_deadline(), Some(s.now + SETTLE));
    s.plan_at(s.now + SETTLE, &[]);
    assert!(s.client_is_exact());
    assert_eq!(s.planner.next_deadline(), None);
}

#[test]
fn without_h264_motion_is_sent_as_lower_quality_jpeg() {
    let mut s = Session::new(640, 480, NO_H264);
    s.plan_at(MS(0), &[]);
    let area = Rect::new(128, 64, 256, 192);
    let frames = play(&mut s, area, 20);
    assert_eq!(
        frames[19],
        vec![Op::Lossy {
            rect: area,
            quality: MOTION_QUALITY
        }]
    );
    s.settle();
    assert!(s.client_is_exact());
}

#[test]
fn small_moving_areas_do_not_become_video() {
    let mut s = Session::new(640, 480, H264);
    s.plan_at(MS(0), &[]);
    let frames = play(&mut s, Rect::new(0, 0, 64, 128), 30);
    assert!(frames
        .iter()
        .flatten()
        .all(|op| matches!(op, Op::Lossy { .. })));
}

#[test]
fn request_full_resends_everything_and_restarts_video_with_a_keyframe() {
    let mut s = Session::new(640, 480, H264);
    let full = s.full();
    text(&mut s.screen, full, 0);
    s.plan_at(MS(0), &[]);
    let area = Rect::new(0, 0, 256, 256);
    play(&mut s, area, 20);
    s.planner.request_full();
    assert_eq!(s.planner.next_deadline(), Some(Duration::ZERO));
    s.client.pixels.fill(0); // a new viewer's empty canvas
    let ops = s.plan_after(10, &[]);
    assert_eq!(
        ops[0],
        Op::Video {
            rect: area,
            keyframe: true
        }
    );
    assert_eq!(covered_area(&ops), 640 * 480);
    let ops = play(&mut s, area, 1);
    assert_eq!(
        ops[0],
        vec![Op::Video {
            rect: area,
            keyframe: false
        }]
    );
    s.settle();
    assert!(s.client_is_exact());
}

#[test]
fn losing_h264_ends_the_region_and_falls_back_to_jpeg() {
    let mut s = Session::new(640, 480, H264);
    s.plan_at(MS(0), &[]);
    let area = Rect::new(0, 0, 256, 256);
    play(&mut s, area, 20);
    s.planner.set_caps(NO_H264);
    let ops = play(&mut s, area, 1);
    assert_eq!(
        ops[0],
        vec![Op::Lossy {
            rect: area,
            quality: MOTION_QUALITY
        }]
    );
    s.settle();
    assert!(s.client_is_exact());
}

#[test]
fn resize_repaints_the_new_screen() {
    let mut s = Session::new(300, 200, NO_H264);
    s.plan_at(MS(0), &[]);
    s.planner.resize(333, 211);
    s.screen = FrameBuf::new(333, 211);
    let full = s.full();
    text(&mut s.screen, full, 4);
    s.client = FrameBuf::new(333, 211);
    let ops = s.plan_after(10, &[]);
    assert_eq!(covered_area(&ops), 333 * 211);
    assert!(s.client_is_exact());
}

#[test]
fn an_odd_sized_screen_gets_an_even_video_rect_and_edge_tiles_stay_correct() {
    // Edge tiles 5 pixels wide and high still hold more than 256 colours of the animation.
    let mut s = Session::new(261, 197, H264);
    s.plan_at(MS(0), &[]);
    let full = s.full();
    let frames = play(&mut s, full, 20);
    assert!(
        frames[19].contains(&Op::Video {
            rect: Rect::new(0, 0, 260, 196),
            keyframe: false
        }),
        "{:?}",
        frames[19]
    );
    s.settle();
    assert!(s.client_is_exact());
}

#[test]
fn copying_lossy_pixels_marks_the_destination_for_refresh() {
    let mut s = Session::new(1280, 720, NO_H264);
    let term = Rect::new(0, 0, 1280, 720);
    terminal(&mut s.screen, term, 16, 0);
    let picture = Rect::new(320, 320, 320, 128);
    photo(&mut s.screen, picture, 3);
    s.plan_at(MS(0), &[]);
    // Scroll everything (picture included) up by 64 rows.
    let before = s.screen.clone();
    s.screen.copy_from(&before.as_ref(), term);
    s.screen.copy_within(Rect::new(0, 0, 1280, 656), 0, 64);
    terminal(&mut s.screen, Rect::new(0, 656, 1280, 64), 16, 1000);
    let ops = s.plan_after(50, &[term]);
    assert!(matches!(ops[0], Op::Copy { .. }), "{ops:?}");
    assert!(!s.client_is_exact());
    s.settle();
    assert!(s.client_is_exact());
}

/// One random change to the screen between plans.
#[derive(Debug, Clone)]
enum Change {
    Fill(Rect, [u8; 3]),
    Text(Rect, u32),
    Photo(Rect, u32),
    Scroll { area: Rect, dy: i32 },
}

fn rect_in(width: u32, height: u32) -> impl Strategy<Value = Rect> {
    (0..width, 0..height, 1..=width, 1..=height)
        .prop_map(move |(x, y, w, h)| Rect::new(x, y, w.min(width - x), h.min(height - y)))
}

fn change(width: u32, height: u32) -> impl Strategy<Value = Change> {
    prop_oneof![
        (rect_in(width, height), any::<[u8; 3]>()).prop_map(|(r, c)| Change::Fill(r, c)),
        (rect_in(width, height), any::<u32>()).prop_map(|(r, s)| Change::Text(r, s)),
        (rect_in(width, height), any::<u32>()).prop_map(|(r, s)| Change::Photo(r, s)),
        (rect_in(width, height), -40i32..40).prop_map(|(area, dy)| Change::Scroll { area, dy }),
    ]
}

/// Apply `change`; returns the damage X would report.
fn make(screen: &mut FrameBuf, change: &Change) -> Rect {
    match *change {
        Change::Fill(r, c) => fill(screen, r, c),
        Change::Text(r, seed) => text(screen, r, seed),
        Change::Photo(r, seed) => photo(screen, r, seed),
        Change::Scroll { area, dy } => {
            let shift = dy.unsigned_abs().min(area.h.saturating_sub(1));
            let kept = Rect::new(area.x, area.y, area.w, area.h - shift);
            if dy < 0 {
                screen.copy_within(kept, area.x, area.y + shift);
            } else {
                screen.copy_within(
                    Rect::new(area.x, area.y + shift, area.w, area.h - shift),
                    area.x,
                    area.y,
                );
            }
            return area;
        }
    }
    match *change {
        Change::Fill(r, _) | Change::Text(r, _) | Change::Photo(r, _) => r,
        Change::Scroll { area, .. } => area,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Whatever happened, one plan after the screen settled leaves the client pixel-exact.
    #[test]
    fn client_is_exact_once_the_screen_settles(
        h264: bool,
        steps in prop::collection::vec((prop::collection::vec(change(272, 200), 0..4), 0u64..120, any::<bool>()), 1..25),
    ) {
        let caps = ClientCaps { h264 };
        let mut s = Session::new(272, 200, caps);
        photo(&mut s.screen, Rect::new(0, 0, 272, 100), 0);
        text(&mut s.screen, Rect::new(0, 100, 272, 100), 0);
        s.plan_at(MS(0), &[]);
        for (changes, gap_ms, extra_damage) in &steps {
            let mut damage: Vec<Rect> = changes.iter().map(|c| make(&mut s.screen, c)).collect();
            if *extra_damage {
                damage.push(s.full());
            }
            s.plan_after(*gap_ms, &damage);
        }
        let last = s.now;
        let deadline = s.planner.next_deadline();
        prop_assert!(deadline.is_none_or(|d| d <= last + SETTLE), "deadline {deadline:?} after {last:?}");
        s.plan_at(last + SETTLE, &[]);
        prop_assert!(s.client_is_exact());
        prop_assert_eq!(s.planner.next_deadline(), None);
    }

    /// Ops never leave the screen and copies read only inside it (checked by `apply`),
    /// including for long continuous motion with video.
    #[test]
    fn motion_sequences_stay_inside_odd_screens(width in 130u32..300, height in 130u32..260, frames in 5u32..25) {
        let mut s = Session::new(width, height, H264);
        s.plan_at(MS(0), &[]);
        let area = Rect::new(width / 5, height / 7, width - width / 5, height - height / 7);
        play(&mut s, area, frames);
        s.settle();
        prop_assert!(s.client_is_exact());
    }
}

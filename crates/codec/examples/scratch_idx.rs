#[path = "../tests/common/synth.rs"]
mod synth;
use std::time::Instant;
fn main() {
    let t2 = synth::text(1280, 720, [220, 220, 220], [0, 0, 40], 0);
    let t16 = synth::text(1280, 720, [0, 0, 0], [255, 255, 250], 14);
    for (n, f) in [("t2", &t2), ("t16", &t16)] {
        let mut best = f64::MAX;
        for _ in 0..40 { let t = Instant::now(); let v = porthole_codec::encode_png(f.as_ref(), f.as_ref().bounds()); std::hint::black_box(v); best = best.min(t.elapsed().as_secs_f64() * 1000.0); }
        println!("{n} png min {best:.3}");
    }
}

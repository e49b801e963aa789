//! Encode speed and size on synthetic 1280x720 content.
//! Run: cargo run --release -p porthole-codec --example codec_speed

#[path = "../tests/common/synth.rs"]
mod synth;

use porthole_codec::{encode_jpeg, encode_png, H264Encoder};
use porthole_engine::FrameBuf;
use std::time::Instant;

const W: u32 = 1280;
const H: u32 = 720;
const BITRATE: u32 = 3_000_000;

/// Median milliseconds and mean output size over `runs` calls of `f` (the median keeps
/// the number honest on a machine shared with other work).
fn time(runs: u32, mut f: impl FnMut(u32) -> usize) -> (f64, usize) {
    let mut times = Vec::new();
    let mut bytes = 0;
    for i in 0..runs {
        let start = Instant::now();
        bytes += f(i);
        times.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    (times[times.len() / 2], bytes / runs as usize)
}

fn report(content: &str, codec: &str, (ms, bytes): (f64, usize)) {
    println!("{content:<22} {codec:<26} {ms:>8.2} ms {bytes:>10} bytes");
}

/// H.264 on a sequence: the first (IDR) frame, then P-frames cycling through `frames`.
fn h264(content: &str, frames: &[FrameBuf]) {
    let rect = frames[0].as_ref().bounds();
    let mut encoder = H264Encoder::new(W, H, BITRATE, 30.0).expect("encoder");
    let start = Instant::now();
    let key = encoder
        .encode(frames[0].as_ref(), rect, false)
        .expect("encode")
        .len();
    report(
        content,
        "H.264 first IDR",
        (start.elapsed().as_secs_f64() * 1000.0, key),
    );
    let n = frames.len() as u32;
    report(
        content,
        "H.264 P-frame (changing)",
        time(60, |i| {
            encoder
                .encode(frames[(i % (n - 1) + 1) as usize].as_ref(), rect, false)
                .expect("encode")
                .len()
        }),
    );
    let still = &frames[n as usize - 1];
    report(
        content,
        "H.264 P-frame (unchanged)",
        time(30, |_| {
            encoder
                .encode(still.as_ref(), rect, false)
                .expect("encode")
                .len()
        }),
    );
    report(
        content,
        "H.264 forced IDR",
        time(5, |_| {
            encoder
                .encode(still.as_ref(), rect, true)
                .expect("encode")
                .len()
        }),
    );
}

/// 31 frames of ffmpeg's real testsrc2 as BGRX, when ffmpeg is installed.
fn ffmpeg_testsrc2() -> Option<Vec<FrameBuf>> {
    let out = std::process::Command::new("ffmpeg")
        .args([
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            &format!("testsrc2=size={W}x{H}:rate=30"),
        ])
        .args(["-frames:v", "31", "-pix_fmt", "bgr0", "-f", "rawvideo", "-"])
        .output()
        .ok()
        .filter(|out| out.status.success())?;
    let size = (W * H * 4) as usize;
    let frames: Vec<FrameBuf> = out
        .stdout
        .chunks_exact(size)
        .map(|f| FrameBuf {
            width: W,
            height: H,
            pixels: f.to_vec(),
        })
        .collect();
    (frames.len() == 31).then_some(frames)
}

fn main() {
    println!(
        "1280x720, release build; H.264 at {} Mbps, 30 fps",
        BITRATE / 1_000_000
    );
    let text = synth::text(W, H, [220, 220, 220], [0, 0, 40], 0);
    let aa_text = synth::text(W, H, [0, 0, 0], [255, 255, 250], 14);
    let testsrc: Vec<FrameBuf> = (0..31).map(|t| synth::testsrc(W, H, t)).collect();
    let full = text.as_ref().bounds();

    for (name, frame) in [
        ("text, 2 colours", &text),
        ("text, AA 16 colours", &aa_text),
        ("synthetic testsrc", &testsrc[0]),
    ] {
        report(
            name,
            "PNG",
            time(10, |_| encode_png(frame.as_ref(), full).len()),
        );
        report(
            name,
            "JPEG q80",
            time(10, |_| encode_jpeg(frame.as_ref(), full, 80).len()),
        );
    }
    // Text that changes a little each frame: a cursor-sized block moving along a line.
    let text_frames: Vec<FrameBuf> = (0..31u32)
        .map(|t| {
            let mut f = text.clone();
            for y in 0..16 {
                for x in 0..8 {
                    synth::put(&mut f, 8 * t + x, 320 + y, [220, 220, 220]);
                }
            }
            f
        })
        .collect();
    h264("text, 2 colours", &text_frames);
    h264("synthetic testsrc", &testsrc);
    match ffmpeg_testsrc2() {
        Some(frames) => {
            let name = "ffmpeg testsrc2";
            report(
                name,
                "PNG",
                time(10, |_| encode_png(frames[0].as_ref(), full).len()),
            );
            report(
                name,
                "JPEG q80",
                time(10, |_| encode_jpeg(frames[0].as_ref(), full, 80).len()),
            );
            h264(name, &frames);
        }
        None => println!("(ffmpeg not found: skipping the real testsrc2 rows)"),
    }
}

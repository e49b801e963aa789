#[path = "../tests/common/synth.rs"]
mod synth;
use openh264::encoder::*;
use openh264::formats::{BgraSliceU8, YUVBuffer};
use openh264::OpenH264API;
use std::time::Instant;

fn cpu_ms() -> f64 {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap();
    s.split_whitespace().next().unwrap().parse::<f64>().unwrap() / 1e6
}

fn main() {
    let (w, h) = (1280u32, 720u32);
    let text = synth::text(w, h, [220, 220, 220], [0, 0, 40], 0);
    let text_frames: Vec<YUVBuffer> = (0..31u32).map(|t| { let mut f = text.clone(); for y in 0..16 { for x in 0..8 { synth::put(&mut f, 8*t+x, 320+y, [220,220,220]); } } YUVBuffer::from_rgb_source(BgraSliceU8::new(&f.pixels, (1280, 720))) }).collect();
    let ts: Vec<YUVBuffer> = (0..31).map(|t| YUVBuffer::from_rgb_source(BgraSliceU8::new(&synth::testsrc(w, h, t).pixels, (1280, 720)))).collect();
    let grad: Vec<YUVBuffer> = (0..31).map(|t| YUVBuffer::from_rgb_source(BgraSliceU8::new(&synth::moving_gradient(w, h, t).pixels, (1280, 720)))).collect();
    let big = synth::text(w, h + 64, [220, 220, 220], [0, 0, 40], 0);
    let scroll: Vec<YUVBuffer> = (0..31usize).map(|t| YUVBuffer::from_rgb_source(BgraSliceU8::new(&big.pixels[t * 2 * 1280 * 4..][..1280 * 720 * 4], (1280, 720)))).collect();
    let raw = std::fs::read("/tmp/codec_ts2.raw").unwrap();
    let ts2: Vec<YUVBuffer> = raw.chunks_exact(1280 * 720 * 4).map(|f| YUVBuffer::from_rgb_source(BgraSliceU8::new(f, (1280, 720)))).collect();
    let variants: Vec<(&str, UsageType, Complexity, bool, bool)> = vec![
        ("camera low", UsageType::CameraVideoRealTime, Complexity::Low, false, false),
        ("camera low +bg", UsageType::CameraVideoRealTime, Complexity::Low, false, true),
        ("screen low", UsageType::ScreenContentRealTime, Complexity::Low, false, false),
        ("camera low", UsageType::CameraVideoRealTime, Complexity::Low, false, false),
        ("screen low", UsageType::ScreenContentRealTime, Complexity::Low, false, false),
    ];
    for (name, usage, cx, aq, bg) in variants {
        for (cname, frames) in [("text", &text_frames), ("testsrc", &ts), ("ts2", &ts2), ("scroll", &scroll)] {
            let cfg = EncoderConfig::new().profile(Profile::Baseline).usage_type(usage).complexity(cx).num_threads(1)
                .rate_control_mode(RateControlMode::Bitrate).bitrate(BitRate::from_bps(3_000_000)).max_frame_rate(FrameRate::from_hz(30.0))
                .skip_frames(false).intra_frame_period(IntraFramePeriod::from_num_frames(0)).scene_change_detect(false)
                .adaptive_quantization(aq).background_detection(bg);
            let mut enc = Encoder::with_api_config(OpenH264API::from_source(), cfg).unwrap();
            let t0 = Instant::now();
            let mut units = vec![enc.encode(&frames[0]).unwrap().to_vec()];
            let k = units[0].len();
            let kms = t0.elapsed().as_secs_f64() * 1000.0;
            let t1 = Instant::now(); let mut bytes = 0;
            let _ = t1; let c0 = cpu_ms();
            for i in 0..60 { let u = enc.encode(&frames[i % 30 + 1]).unwrap().to_vec(); bytes += u.len(); units.push(u); }
            let pms = (cpu_ms() - c0) / 60.0;
            let mut dec = openh264::decoder::Decoder::new().unwrap();
            let mut psnrs = Vec::new();
            for (i, u) in units.iter().enumerate() {
                use openh264::formats::YUVSource;
                let d = dec.decode(u).unwrap().unwrap();
                let src = &frames[if i == 0 { 0 } else { (i - 1) % 30 + 1 }];
                let st = d.strides().0;
                let mut sq = 0.0;
                for y in 0..720 { for x in 0..1280 { let e = f64::from(d.y()[y * st + x]) - f64::from(src.y()[y * 1280 + x]); sq += e * e; } }
                psnrs.push(10.0 * (65025.0 / (sq / 921600.0)).log10());
            }
            let pmin = psnrs.iter().cloned().fold(f64::MAX, f64::min);
            let pavg = psnrs.iter().sum::<f64>() / psnrs.len() as f64;
            println!("{name:20} {cname:9} IDR {kms:6.2}ms {k:7}B  P {pms:5.2}ms avg {:6}B  PSNR-Y first {:.1} avg {pavg:.1} min {pmin:.1}", bytes / 60, psnrs[0]);
        }
    }
}

#[path = "../tests/common/synth.rs"]
mod synth;
use png::{BitDepth, ColorType, DeflateCompression, Filter};
use std::time::Instant;

fn enc(w: u32, h: u32, c: ColorType, d: BitDepth, pal: Option<&[u8]>, f: Filter, z: DeflateCompression, data: &[u8]) -> usize {
    let mut out = Vec::new();
    let mut e = png::Encoder::new(&mut out, w, h);
    e.set_color(c); e.set_depth(d);
    if let Some(p) = pal { e.set_palette(p); }
    e.set_deflate_compression(z); e.set_filter(f);
    let mut wr = e.write_header().unwrap();
    wr.write_image_data(data).unwrap();
    wr.finish().unwrap();
    out.len()
}

fn pack(frame: &porthole_engine::FrameBuf, bits: usize) -> (Vec<u8>, Vec<u8>) {
    let mut pal: Vec<[u8;3]> = Vec::new();
    let (w, h) = (frame.width as usize, frame.height as usize);
    let rb = (w * bits).div_ceil(8);
    let mut out = vec![0u8; rb * h];
    for y in 0..h { for x in 0..w {
        let c = synth::get_rgb(frame, x as u32, y as u32);
        let i = pal.iter().position(|p| *p == c).unwrap_or_else(|| { pal.push(c); pal.len()-1 });
        let bitpos = x * bits;
        out[y*rb + bitpos/8] |= (i as u8) << (8 - bits - bitpos % 8);
    }}
    (out, pal.concat())
}

fn main() {
    let (w, h) = (1280u32, 720u32);
    let t2 = synth::text(w, h, [220, 220, 220], [0, 0, 40], 0);
    let t8 = synth::text(w, h, [0, 0, 0], [255, 255, 250], 6);
    let t16 = synth::text(w, h, [0, 0, 0], [255, 255, 250], 14);
    let (p1, pal1) = pack(&t2, 1);
    let (p4, pal4) = pack(&t8, 4);
    let (p4b, pal4b) = pack(&t16, 4);
    let (p8, pal8) = pack(&t16, 8);
    let ts = synth::testsrc(w, h, 0);
    let rgb: Vec<u8> = ts.pixels.chunks_exact(4).flat_map(|p| [p[2], p[1], p[0]]).collect();
    let zs = [("ultrafast", DeflateCompression::FdeflateUltraFast), ("l1", DeflateCompression::Level(1)), ("l2", DeflateCompression::Level(2)), ("l4", DeflateCompression::Level(4))];
    let fs = [("none", Filter::NoFilter), ("sub", Filter::Sub), ("up", Filter::Up), ("paeth", Filter::Paeth), ("adaptive", Filter::Adaptive)];
    for (zn, z) in zs { for (fname, f) in fs {
        let mut line = format!("{zn:9} {fname:8}");
        for (name, c, d, p, data) in [("t2@1", ColorType::Indexed, BitDepth::One, Some(&pal1[..]), &p1), ("t8@4", ColorType::Indexed, BitDepth::Four, Some(&pal4[..]), &p4), ("t16@4", ColorType::Indexed, BitDepth::Four, Some(&pal4b[..]), &p4b), ("t16@8", ColorType::Indexed, BitDepth::Eight, Some(&pal8[..]), &p8), ("testsrc", ColorType::Rgb, BitDepth::Eight, None, &rgb)] {
            let n = if name == "testsrc" {2} else {8}; let t = Instant::now(); let mut sz = 0;
            for _ in 0..n { sz = enc(w, h, c, d, p, f, z, data); }
            line += &format!("|{name} {:5.2}ms {:7}B", t.elapsed().as_secs_f64()*1000.0/n as f64, sz);
        }
        println!("{line}");
    }}
}

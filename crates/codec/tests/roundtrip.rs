//! Decode what the encoders produce and compare with the source pixels.

#[path = "common/synth.rs"]
mod synth;

use porthole_codec::{encode_cursor_png, encode_jpeg, encode_png, CodecError, H264Encoder};
use porthole_engine::{FrameBuf, Rect};

struct DecodedPng {
    info_depth: png::BitDepth,
    colour: png::ColorType,
    palette_len: usize,
    /// RGB triples (palette expanded).
    rgb: Vec<u8>,
    width: u32,
    height: u32,
}

fn decode_png(data: &[u8]) -> DecodedPng {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(data));
    decoder.set_transformations(png::Transformations::EXPAND);
    let mut reader = decoder.read_info().expect("PNG header");
    let info = reader.info();
    let (info_depth, colour) = (info.bit_depth, info.color_type);
    let palette_len = info.palette.as_ref().map_or(0, |p| p.len() / 3);
    let mut buf = vec![0; reader.output_buffer_size().expect("size")];
    let out = reader.next_frame(&mut buf).expect("PNG data");
    assert_eq!(
        out.color_type,
        png::ColorType::Rgb,
        "indexed and RGB expand to RGB"
    );
    buf.truncate(out.buffer_size());
    DecodedPng {
        info_depth,
        colour,
        palette_len,
        rgb: buf,
        width: out.width,
        height: out.height,
    }
}

fn rect_rgb(frame: &FrameBuf, rect: Rect) -> Vec<u8> {
    let mut rgb = Vec::new();
    for y in rect.y..rect.bottom() {
        for x in rect.x..rect.right() {
            rgb.extend_from_slice(&synth::get_rgb(frame, x, y));
        }
    }
    rgb
}

fn count_colours(frame: &FrameBuf, rect: Rect) -> usize {
    let mut set = std::collections::HashSet::new();
    for y in rect.y..rect.bottom() {
        for x in rect.x..rect.right() {
            set.insert(synth::get_rgb(frame, x, y));
        }
    }
    set.len()
}

/// Round-trips `rect` of `frame` through PNG and checks the pixels and the chosen format.
fn assert_png_round_trip(
    frame: &FrameBuf,
    rect: Rect,
    colour: png::ColorType,
    depth: png::BitDepth,
) {
    let decoded = decode_png(&encode_png(frame.as_ref(), rect));
    assert_eq!((decoded.width, decoded.height), (rect.w, rect.h));
    assert_eq!((decoded.colour, decoded.info_depth), (colour, depth));
    if colour == png::ColorType::Indexed {
        assert_eq!(
            decoded.palette_len,
            count_colours(frame, rect),
            "palette holds exactly the colours used"
        );
    }
    assert!(
        decoded.rgb == rect_rgb(frame, rect),
        "pixels differ after the round trip"
    );
}

#[test]
fn png_two_colour_text_is_exact_at_one_bit() {
    let frame = synth::text(203, 67, [220, 220, 220], [0, 0, 40], 0);
    assert_eq!(count_colours(&frame, frame.as_ref().bounds()), 2);
    // A sub-rect with an odd width and offset exercises the bit packing and the stride.
    assert_png_round_trip(
        &frame,
        Rect::new(3, 5, 189, 51),
        png::ColorType::Indexed,
        png::BitDepth::One,
    );
    assert_png_round_trip(
        &frame,
        frame.as_ref().bounds(),
        png::ColorType::Indexed,
        png::BitDepth::One,
    );
}

#[test]
fn png_anti_aliased_text_is_exact_at_four_bits() {
    let frame = synth::text(320, 96, [0, 0, 0], [255, 255, 250], 6);
    assert_eq!(count_colours(&frame, frame.as_ref().bounds()), 8);
    assert_png_round_trip(
        &frame,
        frame.as_ref().bounds(),
        png::ColorType::Indexed,
        png::BitDepth::Four,
    );
}

#[test]
fn png_palette_depth_follows_colour_count() {
    let cases = [
        (1, png::ColorType::Indexed, png::BitDepth::One),
        (3, png::ColorType::Indexed, png::BitDepth::Two),
        (4, png::ColorType::Indexed, png::BitDepth::Two),
        (16, png::ColorType::Indexed, png::BitDepth::Four),
        (17, png::ColorType::Indexed, png::BitDepth::Eight),
        (200, png::ColorType::Indexed, png::BitDepth::Eight),
        (256, png::ColorType::Indexed, png::BitDepth::Eight),
        (257, png::ColorType::Rgb, png::BitDepth::Eight),
        (1000, png::ColorType::Rgb, png::BitDepth::Eight),
    ];
    for (n, colour, depth) in cases {
        let frame = synth::palette_blocks(150, 121, n);
        assert_eq!(
            count_colours(&frame, frame.as_ref().bounds()),
            n as usize,
            "test content has {n} colours"
        );
        assert_png_round_trip(&frame, frame.as_ref().bounds(), colour, depth);
    }
}

#[test]
fn png_reads_a_sub_rect_of_a_padded_stride() {
    let frame = synth::testsrc(64, 40, 3);
    // Same pixels behind a stride with 12 bytes of padding per row.
    let stride = 64 * 4 + 12;
    let mut padded = vec![0xAB; stride * 40];
    for y in 0..40 {
        padded[y * stride..y * stride + 256].copy_from_slice(&frame.pixels[y * 256..(y + 1) * 256]);
    }
    let view = porthole_engine::FrameRef {
        width: 64,
        height: 40,
        stride,
        pixels: &padded,
    };
    let rect = Rect::new(10, 7, 33, 21);
    let decoded = decode_png(&encode_png(view, rect));
    assert!(decoded.rgb == rect_rgb(&frame, rect));
}

#[test]
fn cursor_png_keeps_rgba() {
    let rgba: Vec<u8> = (0..24u32 * 24)
        .flat_map(|i| [(i % 256) as u8, 10, 200, (i * 7 % 256) as u8])
        .collect();
    let data = encode_cursor_png(24, 24, &rgba);
    let mut reader = png::Decoder::new(std::io::Cursor::new(&data))
        .read_info()
        .expect("PNG header");
    let mut buf = vec![0; reader.output_buffer_size().expect("size")];
    let out = reader.next_frame(&mut buf).expect("PNG data");
    assert_eq!(
        (out.width, out.height, out.color_type),
        (24, 24, png::ColorType::Rgba)
    );
    assert_eq!(&buf[..out.buffer_size()], &rgba[..]);
}

fn mean_abs_error(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(&x, &y)| f64::from(x.abs_diff(y)))
        .sum::<f64>()
        / a.len() as f64
}

#[test]
fn jpeg_q80_decodes_to_the_right_size_and_close_pixels() {
    let frame = synth::moving_gradient(160, 100, 0);
    // Full frame (contiguous rows) and an odd sub-rect (strided rows).
    for rect in [frame.as_ref().bounds(), Rect::new(7, 9, 101, 55)] {
        let data = encode_jpeg(frame.as_ref(), rect, 80);
        let mut decoder = jpeg_decoder::Decoder::new(&data[..]);
        let rgb = decoder.decode().expect("JPEG decodes");
        let info = decoder.info().expect("JPEG info");
        assert_eq!(
            (u32::from(info.width), u32::from(info.height)),
            (rect.w, rect.h)
        );
        assert_eq!(info.pixel_format, jpeg_decoder::PixelFormat::RGB24);
        let err = mean_abs_error(&rgb, &rect_rgb(&frame, rect));
        assert!(err < 3.0, "mean absolute error {err:.2} for {rect:?}");
    }
}

#[test]
fn jpeg_high_quality_is_closer_than_low_quality() {
    let frame = synth::testsrc(128, 96, 0);
    let rect = frame.as_ref().bounds();
    let error_at = |q| {
        let rgb = jpeg_decoder::Decoder::new(&encode_jpeg(frame.as_ref(), rect, q)[..])
            .decode()
            .expect("JPEG decodes");
        mean_abs_error(&rgb, &rect_rgb(&frame, rect))
    };
    assert!(error_at(95) < error_at(30));
}

/// NAL unit types of an Annex B access unit, asserting it starts with a start code.
fn nal_types(unit: &[u8]) -> Vec<u8> {
    assert!(
        unit.starts_with(&[0, 0, 0, 1]) || unit.starts_with(&[0, 0, 1]),
        "Annex B start code first"
    );
    let mut types = Vec::new();
    let mut i = 0;
    while i + 3 < unit.len() {
        if unit[i..i + 3] == [0, 0, 1] {
            types.push(unit[i + 3] & 0x1f);
            i += 3;
        } else {
            i += 1;
        }
    }
    types
}

/// PSNR of the decoded luma against BT.709 limited-range luma computed from the source RGB,
/// so it measures the colour conversion and the codec together.
fn luma_psnr(decoded: &openh264::decoder::DecodedYUV<'_>, frame: &FrameBuf, rect: Rect) -> f64 {
    use openh264::formats::YUVSource;
    let (stride, _, _) = decoded.strides();
    let mut sq = 0.0;
    for y in 0..rect.h {
        for x in 0..rect.w {
            let [r, g, b] = synth::get_rgb(frame, rect.x + x, rect.y + y).map(f64::from);
            let want = 16.0 + (0.2126 * r + 0.7152 * g + 0.0722 * b) * 219.0 / 255.0;
            let d = f64::from(decoded.y()[y as usize * stride + x as usize]) - want;
            sq += d * d;
        }
    }
    let mse = sq / rect.area() as f64;
    10.0 * (255.0 * 255.0 / mse).log10()
}

#[test]
fn h264_keyframes_only_first_and_on_request_and_decodes_well() {
    // Odd size inside a bigger frame: coded 134x76, padded.
    let rect = Rect::new(5, 3, 133, 75);
    let mut encoder = H264Encoder::new(rect.w, rect.h, 3_000_000, 30.0).expect("encoder");
    assert_eq!((encoder.width(), encoder.height()), (133, 75));
    let mut decoder = openh264::decoder::Decoder::new().expect("decoder");
    for t in 0..10 {
        let frame = synth::moving_gradient(160, 90, t);
        let forced = t == 6;
        let unit = encoder
            .encode(frame.as_ref(), rect, forced)
            .expect("encode");
        let types = nal_types(&unit);
        if t == 0 {
            // SPS right after the first start code: profile_idc 66 with constraint_set1 = constrained baseline.
            assert_eq!(unit[4] & 0x1f, 7, "SPS first");
            assert_eq!(
                (unit[5], unit[6] & 0x40),
                (66, 0x40),
                "constrained baseline"
            );
        }
        if t == 0 || forced {
            for nal in [7, 8, 5] {
                assert!(
                    types.contains(&nal),
                    "frame {t}: keyframe has NAL {nal}, got {types:?}"
                );
            }
        } else {
            assert!(
                types.contains(&1) && !types.iter().any(|n| [5, 7, 8].contains(n)),
                "frame {t}: P-frame only, got {types:?}"
            );
        }
        let decoded = decoder
            .decode(&unit)
            .expect("decodes")
            .expect("a picture per access unit");
        let psnr = luma_psnr(&decoded, &frame, rect);
        assert!(psnr > 40.0, "frame {t}: PSNR {psnr:.1} dB");
    }
}

#[test]
fn h264_rejects_a_rect_of_another_size() {
    let mut encoder = H264Encoder::new(64, 64, 1_000_000, 30.0).expect("encoder");
    let frame = FrameBuf::new(128, 128);
    assert!(encoder
        .encode(frame.as_ref(), Rect::new(0, 0, 64, 62), false)
        .is_err());
}

#[test]
fn h264_rejects_sizes_and_rates_openh264_cannot_encode() {
    for (w, h) in [(0, 64), (15, 64), (64, 15), (3842, 64), (2162, 2162)] {
        assert!(
            matches!(
                H264Encoder::new(w, h, 1_000_000, 30.0),
                Err(CodecError::UnsupportedSize { .. })
            ),
            "{w}x{h}"
        );
    }
    for (bps, fps) in [(0, 30.0), (1_000_000, 0.0), (1_000_000, f32::NAN)] {
        assert!(matches!(
            H264Encoder::new(64, 64, bps, fps),
            Err(CodecError::InvalidRate { .. })
        ));
    }
    // The smallest accepted size really encodes.
    let frame = FrameBuf::new(17, 16);
    let mut encoder = H264Encoder::new(17, 16, 1_000_000, 30.0).expect("encoder");
    assert!(!encoder
        .encode(frame.as_ref(), frame.as_ref().bounds(), false)
        .expect("encode")
        .is_empty());
}

//! H.264 video via openh264: constrained baseline, one slice, no B-frames, keyframes only
//! on request, Annex B output that a WebCodecs `VideoDecoder` without a description accepts.

use crate::yuv::I420;
use crate::{check_rect, FrameRef, Rect};
use openh264::encoder::{
    BitRate, Complexity, Encoder, EncoderConfig, FrameRate, FrameType, IntraFramePeriod, Profile,
    RateControlMode, SpsPpsStrategy, UsageType, VuiConfig,
};
use openh264::formats::YUVSlices;
use openh264::{OpenH264API, Timestamp};

#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("H.264 size {width}x{height} not supported: {reason}")]
    UnsupportedSize {
        width: u32,
        height: u32,
        reason: &'static str,
    },
    #[error("H.264 rate {target_bitrate_bps} bps at {max_fps} fps: both must be positive")]
    InvalidRate {
        target_bitrate_bps: u32,
        max_fps: f32,
    },
    #[error("rect {rect:?} does not match the H.264 encoder's size {width}x{height}")]
    SizeMismatch { rect: Rect, width: u32, height: u32 },
    #[error("openh264 {context}")]
    OpenH264 {
        context: &'static str,
        #[source]
        source: openh264::Error,
    },
}

/// One H.264 stream for rects of a fixed size.
pub struct H264Encoder {
    encoder: Encoder,
    width: u32,
    height: u32,
    max_fps: f32,
    frames: u64,
    picture: I420,
}

/// openh264 refuses larger pictures (level 5.2).
const MAX_LONG_SIDE: u32 = 3840;
const MAX_SHORT_SIDE: u32 = 2160;
/// openh264 refuses pictures under one macroblock in either direction.
const MIN_SIDE: u32 = 16;

impl H264Encoder {
    /// An encoder for `width` x `height` rects (coded at the size rounded up to even),
    /// rate-controlled to `target_bitrate_bps` at up to `max_fps` frames per second.
    pub fn new(
        width: u32,
        height: u32,
        target_bitrate_bps: u32,
        max_fps: f32,
    ) -> Result<Self, CodecError> {
        let unsupported = |reason| CodecError::UnsupportedSize {
            width,
            height,
            reason,
        };
        if width < MIN_SIDE || height < MIN_SIDE {
            return Err(unsupported("smaller than openh264's 16x16 minimum"));
        }
        let (coded_w, coded_h) = (width.next_multiple_of(2), height.next_multiple_of(2));
        if coded_w.max(coded_h) > MAX_LONG_SIDE || coded_w.min(coded_h) > MAX_SHORT_SIDE {
            return Err(unsupported("larger than openh264's 3840x2160"));
        }
        if target_bitrate_bps == 0 || !(max_fps > 0.0 && max_fps.is_finite()) {
            return Err(CodecError::InvalidRate {
                target_bitrate_bps,
                max_fps,
            });
        }
        let config = EncoderConfig::new()
            .profile(Profile::Baseline)
            .usage_type(UsageType::CameraVideoRealTime)
            .complexity(Complexity::Low)
            .num_threads(1)
            .rate_control_mode(RateControlMode::Bitrate)
            .bitrate(BitRate::from_bps(target_bitrate_bps))
            .max_frame_rate(FrameRate::from_hz(max_fps))
            // A skipped frame would leave the client's picture stale until the next change.
            .skip_frames(false)
            // Keyframes only when asked (new viewer): no periodic or scene-change IDRs.
            .intra_frame_period(IntraFramePeriod::from_num_frames(0))
            .scene_change_detect(false)
            .adaptive_quantization(false)
            .background_detection(false)
            .sps_pps_strategy(SpsPpsStrategy::ConstantId)
            .vui(VuiConfig::bt709());
        let encoder =
            Encoder::with_api_config(OpenH264API::from_source(), config).map_err(|source| {
                CodecError::OpenH264 {
                    context: "creating the encoder",
                    source,
                }
            })?;
        Ok(Self {
            encoder,
            width,
            height,
            max_fps,
            frames: 0,
            picture: I420::for_source(width, height),
        })
    }

    /// The rect width this encoder was made for.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// The rect height this encoder was made for.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// Encodes `rect` of `frame` (its size must be this encoder's) as one access unit in
    /// Annex B. The first unit, and any with `force_keyframe`, is an IDR preceded by SPS and PPS.
    /// Empty only if openh264 skipped the frame, which it is configured never to do.
    pub fn encode(
        &mut self,
        frame: FrameRef<'_>,
        rect: Rect,
        force_keyframe: bool,
    ) -> Result<Vec<u8>, CodecError> {
        if (rect.w, rect.h) != (self.width, self.height) {
            return Err(CodecError::SizeMismatch {
                rect,
                width: self.width,
                height: self.height,
            });
        }
        check_rect(&frame, rect);
        self.picture.convert(&frame, rect);
        let pic = &self.picture;
        let source = YUVSlices::new(
            (&pic.y, &pic.u, &pic.v),
            (pic.width, pic.height),
            (pic.width, pic.width / 2, pic.width / 2),
        );
        if force_keyframe && self.frames > 0 {
            self.encoder.force_intra_frame();
        }
        // Rate control budgets per frame at the configured rate; timestamps on that grid keep it consistent.
        let timestamp =
            Timestamp::from_millis((self.frames as f64 * 1000.0 / f64::from(self.max_fps)) as u64);
        self.frames += 1;
        let stream = self
            .encoder
            .encode_at(&source, timestamp)
            .map_err(|source| CodecError::OpenH264 {
                context: "encoding a frame",
                source,
            })?;
        // Frame skipping is off, so a skip would be an openh264 surprise: it comes back empty.
        Ok(match stream.frame_type() {
            FrameType::Skip => Vec::new(),
            _ => stream.to_vec(),
        })
    }
}

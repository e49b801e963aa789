//! The browser <-> agent wire protocol (docs/protocol.md), and nothing else.
//!
//! Pure: no IO, no allocation beyond the decoded values. This is the only crate
//! that knows the byte layout; the agent converts to and from its own types at
//! the edge. Decoding never panics on any input (see tests/decode_fuzz.rs).

mod wire;

pub use wire::DecodeError;
use wire::{Reader, Writer};

pub const PROTOCOL_VERSION: u16 = 1;
/// Largest client -> agent message accepted.
pub const MAX_CLIENT_MESSAGE: usize = 1 << 20;

/// `Hello.codecs` bit: the client decodes H.264 with WebCodecs.
pub const CODEC_H264: u32 = 1;
/// `Hello.codecs` bit: the client decodes WebP.
pub const CODEC_WEBP: u32 = 2;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientMessage {
    Hello {
        version: u16,
        width: u16,
        height: u16,
        codecs: u32,
    },
    FrameAck {
        frame_id: u32,
    },
    PointerMove {
        x: u16,
        y: u16,
    },
    PointerButton {
        button: u8,
        pressed: bool,
        x: u16,
        y: u16,
    },
    Wheel {
        dx: i16,
        dy: i16,
    },
    Key {
        pressed: bool,
        code: String,
        key: String,
    },
    Text {
        text: String,
    },
    Resize {
        width: u16,
        height: u16,
    },
    ClipboardSet {
        text: String,
    },
    ReleaseAll,
    Ping {
        timestamp: u32,
    },
    RefreshRequest,
    FocusWindow {
        window: u32,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Encoding {
    Solid = 0,
    Copy = 1,
    Png = 2,
    Jpeg = 3,
    H264 = 4,
    Webp = 5,
}

impl Encoding {
    fn from_u8(v: u8) -> Result<Self, DecodeError> {
        Ok(match v {
            0 => Self::Solid,
            1 => Self::Copy,
            2 => Self::Png,
            3 => Self::Jpeg,
            4 => Self::H264,
            5 => Self::Webp,
            other => return Err(DecodeError::UnknownEncoding(other)),
        })
    }
}

/// What a `Notice` warns of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum NoticeKind {
    /// The session ends (maximum duration) when the time is up.
    SessionEnding = 0,
    /// The browser is disconnected for inactivity unless input arrives first.
    IdleDisconnect = 1,
    /// This browser was disconnected (a Goodbye follows) but the session goes
    /// on: reconnecting within the time left resumes it.
    Disconnected = 2,
    /// The home folder reached its quota and is read-only until files are deleted
    /// (`seconds_left` is 0).
    HomeFolderFull = 3,
    /// A session script of the image failed (`seconds_left` is 0); the session goes on.
    SessionScriptFailed = 4,
}

impl NoticeKind {
    fn from_u8(v: u8) -> Result<Self, DecodeError> {
        Ok(match v {
            0 => Self::SessionEnding,
            1 => Self::IdleDisconnect,
            2 => Self::Disconnected,
            3 => Self::HomeFolderFull,
            4 => Self::SessionScriptFailed,
            other => return Err(DecodeError::UnknownNoticeKind(other)),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rect {
    pub encoding: Encoding,
    pub x: u16,
    pub y: u16,
    pub width: u16,
    pub height: u16,
    pub data: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowInfo {
    pub id: u32,
    pub x: i16,
    pub y: i16,
    pub width: u16,
    pub height: u16,
    pub focused: bool,
    pub title: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerMessage {
    ServerHello {
        version: u16,
        session: String,
    },
    Frame {
        frame_id: u32,
        rects: Vec<Rect>,
    },
    ScreenSize {
        width: u16,
        height: u16,
    },
    Cursor {
        hot_x: u16,
        hot_y: u16,
        width: u16,
        height: u16,
        png: Vec<u8>,
    },
    Clipboard {
        text: String,
    },
    Windows {
        windows: Vec<WindowInfo>,
    },
    Pong {
        timestamp: u32,
    },
    Goodbye {
        reason: String,
    },
    Notice {
        kind: NoticeKind,
        /// From when the message is sent until the event.
        seconds_left: u32,
        text: String,
    },
}

/// Whether an encoded client message is user input (pointer, wheel, keys, text,
/// resize, clipboard): what the idle timeout counts. Reads only the type byte, so
/// a proxy can ask without decoding; agrees with [`ClientMessage::is_input`].
pub fn is_input_message(bytes: &[u8]) -> bool {
    matches!(bytes.first(), Some(0x03..=0x09))
}

impl ClientMessage {
    /// Whether this message is the user acting (see [`is_input_message`]).
    pub fn is_input(&self) -> bool {
        match self {
            Self::PointerMove { .. }
            | Self::PointerButton { .. }
            | Self::Wheel { .. }
            | Self::Key { .. }
            | Self::Text { .. }
            | Self::Resize { .. }
            | Self::ClipboardSet { .. } => true,
            Self::Hello { .. }
            | Self::FrameAck { .. }
            | Self::ReleaseAll
            | Self::Ping { .. }
            | Self::RefreshRequest
            | Self::FocusWindow { .. } => false,
        }
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        if bytes.len() > MAX_CLIENT_MESSAGE {
            return Err(DecodeError::TooLarge(bytes.len()));
        }
        let mut r = Reader::new(bytes);
        let msg = match r.u8()? {
            0x01 => Self::Hello {
                version: r.u16()?,
                width: r.u16()?,
                height: r.u16()?,
                codecs: r.u32()?,
            },
            0x02 => Self::FrameAck { frame_id: r.u32()? },
            0x03 => Self::PointerMove {
                x: r.u16()?,
                y: r.u16()?,
            },
            0x04 => Self::PointerButton {
                button: r.u8()?,
                pressed: r.bool()?,
                x: r.u16()?,
                y: r.u16()?,
            },
            0x05 => Self::Wheel {
                dx: r.i16()?,
                dy: r.i16()?,
            },
            0x06 => Self::Key {
                pressed: r.bool()?,
                code: r.str()?,
                key: r.str()?,
            },
            0x07 => Self::Text { text: r.str()? },
            0x08 => Self::Resize {
                width: r.u16()?,
                height: r.u16()?,
            },
            0x09 => Self::ClipboardSet { text: r.str()? },
            0x0A => Self::ReleaseAll,
            0x0B => Self::Ping {
                timestamp: r.u32()?,
            },
            0x0C => Self::RefreshRequest,
            0x0D => Self::FocusWindow { window: r.u32()? },
            other => return Err(DecodeError::UnknownType(other)),
        };
        r.finish()?;
        Ok(msg)
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        match self {
            Self::Hello {
                version,
                width,
                height,
                codecs,
            } => {
                w.u8(0x01)
                    .u16(*version)
                    .u16(*width)
                    .u16(*height)
                    .u32(*codecs);
            }
            Self::FrameAck { frame_id } => {
                w.u8(0x02).u32(*frame_id);
            }
            Self::PointerMove { x, y } => {
                w.u8(0x03).u16(*x).u16(*y);
            }
            Self::PointerButton {
                button,
                pressed,
                x,
                y,
            } => {
                w.u8(0x04).u8(*button).bool(*pressed).u16(*x).u16(*y);
            }
            Self::Wheel { dx, dy } => {
                w.u8(0x05).i16(*dx).i16(*dy);
            }
            Self::Key { pressed, code, key } => {
                w.u8(0x06).bool(*pressed).str(code).str(key);
            }
            Self::Text { text } => {
                w.u8(0x07).str(text);
            }
            Self::Resize { width, height } => {
                w.u8(0x08).u16(*width).u16(*height);
            }
            Self::ClipboardSet { text } => {
                w.u8(0x09).str(text);
            }
            Self::ReleaseAll => {
                w.u8(0x0A);
            }
            Self::Ping { timestamp } => {
                w.u8(0x0B).u32(*timestamp);
            }
            Self::RefreshRequest => {
                w.u8(0x0C);
            }
            Self::FocusWindow { window } => {
                w.u8(0x0D).u32(*window);
            }
        }
        w.into_bytes()
    }
}

impl ServerMessage {
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let msg = match r.u8()? {
            0x80 => Self::ServerHello {
                version: r.u16()?,
                session: r.str()?,
            },
            0x81 => {
                let frame_id = r.u32()?;
                let count = r.u16()?;
                let mut rects = Vec::with_capacity(usize::from(count).min(r.remaining() / 13));
                for _ in 0..count {
                    rects.push(Rect {
                        encoding: Encoding::from_u8(r.u8()?)?,
                        x: r.u16()?,
                        y: r.u16()?,
                        width: r.u16()?,
                        height: r.u16()?,
                        data: r.bytes()?.to_vec(),
                    });
                }
                Self::Frame { frame_id, rects }
            }
            0x82 => Self::ScreenSize {
                width: r.u16()?,
                height: r.u16()?,
            },
            0x83 => Self::Cursor {
                hot_x: r.u16()?,
                hot_y: r.u16()?,
                width: r.u16()?,
                height: r.u16()?,
                png: r.bytes()?.to_vec(),
            },
            0x84 => Self::Clipboard { text: r.str()? },
            0x85 => {
                let count = r.u16()?;
                let mut windows = Vec::with_capacity(usize::from(count).min(r.remaining() / 18));
                for _ in 0..count {
                    windows.push(WindowInfo {
                        id: r.u32()?,
                        x: r.i16()?,
                        y: r.i16()?,
                        width: r.u16()?,
                        height: r.u16()?,
                        focused: r.bool()?,
                        title: r.str()?,
                    });
                }
                Self::Windows { windows }
            }
            0x86 => Self::Pong {
                timestamp: r.u32()?,
            },
            0x87 => Self::Goodbye { reason: r.str()? },
            0x88 => Self::Notice {
                kind: NoticeKind::from_u8(r.u8()?)?,
                seconds_left: r.u32()?,
                text: r.str()?,
            },
            other => return Err(DecodeError::UnknownType(other)),
        };
        r.finish()?;
        Ok(msg)
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        match self {
            Self::ServerHello { version, session } => {
                w.u8(0x80).u16(*version).str(session);
            }
            Self::Frame { frame_id, rects } => {
                w.u8(0x81).u32(*frame_id).u16(len_u16(rects.len()));
                for rect in rects.iter().take(usize::from(u16::MAX)) {
                    w.u8(rect.encoding as u8)
                        .u16(rect.x)
                        .u16(rect.y)
                        .u16(rect.width)
                        .u16(rect.height)
                        .bytes(&rect.data);
                }
            }
            Self::ScreenSize { width, height } => {
                w.u8(0x82).u16(*width).u16(*height);
            }
            Self::Cursor {
                hot_x,
                hot_y,
                width,
                height,
                png,
            } => {
                w.u8(0x83)
                    .u16(*hot_x)
                    .u16(*hot_y)
                    .u16(*width)
                    .u16(*height)
                    .bytes(png);
            }
            Self::Clipboard { text } => {
                w.u8(0x84).str(text);
            }
            Self::Windows { windows } => {
                w.u8(0x85).u16(len_u16(windows.len()));
                for win in windows.iter().take(usize::from(u16::MAX)) {
                    w.u32(win.id)
                        .i16(win.x)
                        .i16(win.y)
                        .u16(win.width)
                        .u16(win.height)
                        .bool(win.focused)
                        .str(&win.title);
                }
            }
            Self::Pong { timestamp } => {
                w.u8(0x86).u32(*timestamp);
            }
            Self::Goodbye { reason } => {
                w.u8(0x87).str(reason);
            }
            Self::Notice {
                kind,
                seconds_left,
                text,
            } => {
                w.u8(0x88).u8(*kind as u8).u32(*seconds_left).str(text);
            }
        }
        w.into_bytes()
    }
}

/// Lists longer than the wire allows are cut at `u16::MAX` entries by the encoder.
fn len_u16(len: usize) -> u16 {
    u16::try_from(len).unwrap_or(u16::MAX)
}

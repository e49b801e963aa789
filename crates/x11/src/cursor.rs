//! The cursor image through XFixes: CursorNotify says it changed, GetCursorImage reads it.

use std::sync::Arc;

use anyhow::{Context, Result};
use x11rb::protocol::xfixes::{ConnectionExt as _, CursorNotifyMask};
use x11rb::protocol::xproto::Window;
use x11rb::protocol::Event;

use crate::events::{EventHandler, XEvent};
use crate::Conn;

/// A cursor image in straight (not premultiplied) RGBA, row-major.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CursorImage {
    /// Changes whenever the displayed cursor changes: skip an image whose serial you sent.
    pub serial: u32,
    pub hot_x: u16,
    pub hot_y: u16,
    pub width: u16,
    pub height: u16,
    pub rgba: Vec<u8>,
}

/// Announces XFixes and selects CursorNotify on the root window; emits `CursorChanged`.
pub struct CursorWatcher;

impl CursorWatcher {
    pub fn new(conn: &Conn, root: Window) -> Result<Self> {
        announce_xfixes(conn)?;
        conn.xfixes_select_cursor_input(root, CursorNotifyMask::DISPLAY_CURSOR)?
            .check()
            .context("XFixesSelectCursorInput")?;
        Ok(Self)
    }
}

impl EventHandler for CursorWatcher {
    fn handle(&self, event: &Event, emit: &mut dyn FnMut(XEvent)) -> Result<()> {
        if let Event::XfixesCursorNotify(_) = event {
            emit(XEvent::CursorChanged);
        }
        Ok(())
    }
}

/// XFixes requests fail until the client announced its version; harmless to repeat.
pub(crate) fn announce_xfixes(conn: &Conn) -> Result<()> {
    conn.xfixes_query_version(5, 0)?
        .reply()
        .context("XFIXES extension missing")?;
    Ok(())
}

/// The cursor currently displayed.
pub fn cursor_image(conn: &Arc<Conn>) -> Result<CursorImage> {
    let reply = conn
        .xfixes_get_cursor_image()?
        .reply()
        .context("XFixesGetCursorImage")?;
    Ok(CursorImage {
        serial: reply.cursor_serial,
        hot_x: reply.xhot,
        hot_y: reply.yhot,
        width: reply.width,
        height: reply.height,
        rgba: straight_rgba(&reply.cursor_image),
    })
}

/// XFixes pixels are premultiplied ARGB in a u32; browsers want straight RGBA bytes.
pub fn straight_rgba(argb: &[u32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(argb.len() * 4);
    for &p in argb {
        let a = (p >> 24) as u8;
        let unmultiply = |c: u32| -> u8 {
            let c = (c & 0xff) as u16;
            if a == 0 {
                0
            } else {
                ((c * 255 + u16::from(a) / 2) / u16::from(a)).min(255) as u8
            }
        };
        out.extend_from_slice(&[unmultiply(p >> 16), unmultiply(p >> 8), unmultiply(p), a]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::straight_rgba;

    #[test]
    fn opaque_pixels_keep_their_colour() {
        assert_eq!(
            straight_rgba(&[0xff_12_34_56]),
            vec![0x12, 0x34, 0x56, 0xff]
        );
    }

    #[test]
    fn translucent_pixels_are_unpremultiplied() {
        // 50% alpha white premultiplied is 0x80 per channel.
        assert_eq!(
            straight_rgba(&[0x80_80_80_80]),
            vec![0xff, 0xff, 0xff, 0x80]
        );
        assert_eq!(straight_rgba(&[0x80_40_00_00]), vec![0x80, 0, 0, 0x80]);
    }

    #[test]
    fn transparent_pixels_are_zero() {
        assert_eq!(straight_rgba(&[0x00_00_00_00]), vec![0, 0, 0, 0]);
    }
}

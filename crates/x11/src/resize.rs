//! Screen resize through RandR 1.2 on the dummy driver: one mode per size, created on
//! demand and destroyed once it is no longer used, so repeated resizes don't leak modes.

use anyhow::{bail, Context, Result};
use x11rb::connection::Connection;
use x11rb::protocol::randr::{self, ConnectionExt as _, ModeFlag, ModeInfo, Rotation, SetConfig};
use x11rb::protocol::xproto::{ConnectionExt as _, Window};
use x11rb::CURRENT_TIME;

/// Modes we create carry this prefix; others (the driver's built-in list) are left alone.
const MODE_PREFIX: &str = "porthole-";
/// The dummy driver's framebuffer comes out of `VideoRam 256000` (KiB).
const MAX_FRAMEBUFFER_BYTES: u64 = 256_000 * 1024;

/// RandR requests behave as 1.0 until the client announced its version; call once per connection.
pub fn announce_randr_version(conn: &impl Connection) -> Result<()> {
    conn.randr_query_version(1, 5)?
        .reply()
        .context("RandR QueryVersion")?;
    Ok(())
}

/// Open a connection to `display` and resize its screen (used once at server start).
pub fn resize_screen(display: &str, width: u32, height: u32) -> Result<()> {
    let (conn, screen) =
        x11rb::connect(Some(display)).with_context(|| format!("connecting to {display}"))?;
    let root = conn.setup().roots[screen].root;
    announce_randr_version(&conn)?;
    resize(&conn, root, width, height)
}

/// Resize the screen of `root` to exactly `width` x `height`.
pub fn resize(conn: &impl Connection, root: Window, width: u32, height: u32) -> Result<()> {
    // Already so (every connect asks for its viewport): a mode switch would
    // still make the window manager and the app lay out and redraw everything.
    let geom = conn.get_geometry(root)?.reply()?;
    if (u32::from(geom.width), u32::from(geom.height)) == (width, height) {
        return Ok(());
    }
    let range = conn
        .randr_get_screen_size_range(root)?
        .reply()
        .context("RandR GetScreenSizeRange")?;
    if width < u32::from(range.min_width)
        || height < u32::from(range.min_height)
        || width > u32::from(range.max_width)
        || height > u32::from(range.max_height)
        || u64::from(width) * u64::from(height) * 4 > MAX_FRAMEBUFFER_BYTES
    {
        bail!(
            "screen size {width}x{height} outside {}x{}..{}x{} or above the video memory",
            range.min_width,
            range.min_height,
            range.max_width,
            range.max_height
        );
    }
    let (w, h) = (width as u16, height as u16);
    let res = conn
        .randr_get_screen_resources_current(root)?
        .reply()
        .context("RandR GetScreenResourcesCurrent")?;
    let (output, crtc, output_modes) = pick_output(conn, &res)?;

    let name = format!("{MODE_PREFIX}{width}x{height}");
    let names = mode_names(&res);
    let mode = match names.iter().find(|(_, n)| *n == name) {
        Some((info, _)) => info.id,
        None => {
            conn.randr_create_mode(root, mode_info(w, h, name.len()), name.as_bytes())?
                .reply()
                .context("RandR CreateMode")?
                .mode
        }
    };
    if !output_modes.contains(&mode) {
        conn.randr_add_output_mode(output, mode)?
            .check()
            .context("RandR AddOutputMode")?;
    }

    // The server refuses a screen smaller than a CRTC: grow to the bounding size before
    // switching the CRTC, shrink after (xrandr does the same).
    let bound = (geom.width.max(w), geom.height.max(h));
    if bound != (geom.width, geom.height) {
        set_screen_size(conn, root, bound.0, bound.1)?;
    }
    let status = conn
        .randr_set_crtc_config(
            crtc,
            CURRENT_TIME,
            res.config_timestamp,
            0,
            0,
            mode,
            Rotation::ROTATE0,
            &[output],
        )?
        .reply()
        .context("RandR SetCrtcConfig")?
        .status;
    if status != SetConfig::SUCCESS {
        bail!("RandR SetCrtcConfig to {name} failed: {status:?}");
    }
    if bound != (w, h) {
        set_screen_size(conn, root, w, h)?;
    }

    for (info, n) in names
        .iter()
        .filter(|(info, n)| n.starts_with(MODE_PREFIX) && info.id != mode)
    {
        if output_modes.contains(&info.id) {
            conn.randr_delete_output_mode(output, info.id)?
                .check()
                .with_context(|| format!("deleting mode {n}"))?;
        }
        conn.randr_destroy_mode(info.id)?
            .check()
            .with_context(|| format!("destroying mode {n}"))?;
    }
    Ok(())
}

/// The connected output and its CRTC (the dummy driver has one active output, DUMMY0).
fn pick_output(
    conn: &impl Connection,
    res: &randr::GetScreenResourcesCurrentReply,
) -> Result<(randr::Output, randr::Crtc, Vec<randr::Mode>)> {
    let mut fallback = None;
    for &output in &res.outputs {
        let info = conn
            .randr_get_output_info(output, res.config_timestamp)?
            .reply()?;
        if info.connection != randr::Connection::CONNECTED {
            continue;
        }
        if info.crtc != 0 {
            return Ok((output, info.crtc, info.modes));
        }
        if fallback.is_none() {
            let crtc = info.crtcs.first().copied();
            fallback = crtc.map(|crtc| (output, crtc, info.modes));
        }
    }
    fallback.context("no connected RandR output with a CRTC")
}

fn mode_names(res: &randr::GetScreenResourcesCurrentReply) -> Vec<(ModeInfo, String)> {
    let mut offset = 0;
    res.modes
        .iter()
        .map(|info| {
            let len = usize::from(info.name_len);
            let name = String::from_utf8_lossy(&res.names[offset..offset + len]).into_owned();
            offset += len;
            (*info, name)
        })
        .collect()
}

/// Timings only matter to real monitors; the dummy driver needs a consistent 60 Hz-ish mode.
fn mode_info(width: u16, height: u16, name_len: usize) -> ModeInfo {
    let htotal = width.saturating_add(160);
    let vtotal = height.saturating_add(30);
    ModeInfo {
        id: 0,
        width,
        height,
        dot_clock: u32::from(htotal) * u32::from(vtotal) * 60,
        hsync_start: width.saturating_add(48),
        hsync_end: width.saturating_add(80),
        htotal,
        hskew: 0,
        vsync_start: height.saturating_add(3),
        vsync_end: height.saturating_add(8),
        vtotal,
        name_len: name_len as u16,
        mode_flags: ModeFlag::HSYNC_POSITIVE | ModeFlag::VSYNC_NEGATIVE,
    }
}

/// Physical size at 96 DPI, so apps that compute DPI from it get the usual value.
fn set_screen_size(conn: &impl Connection, root: Window, w: u16, h: u16) -> Result<()> {
    let mm = |px: u16| (f64::from(px) * 25.4 / 96.0).round() as u32;
    conn.randr_set_screen_size(root, w, h, mm(w), mm(h))?
        .check()
        .with_context(|| format!("RandR SetScreenSize {w}x{h}"))?;
    Ok(())
}

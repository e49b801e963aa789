mod common;

use common::{client, start, wait_for};
use porthole_x11::{ViewMode, XEvent};
use x11rb::connection::Connection;
use x11rb::protocol::xproto::{ConnectionExt, CreateWindowAux, WindowClass};

/// XC_xterm in the core cursor font; the mask glyph follows it.
const XC_XTERM: u16 = 152;

#[test]
fn cursor_change_is_reported_with_the_new_image() {
    let (server, display, events) = start(640, 480, ViewMode::App);
    let before = display.cursor_image().unwrap();

    let (app, root) = client(&server);
    let font = app.generate_id().unwrap();
    app.open_font(font, b"cursor").unwrap();
    let cursor = app.generate_id().unwrap();
    app.create_glyph_cursor(
        cursor,
        font,
        font,
        XC_XTERM,
        XC_XTERM + 1,
        0,
        0,
        0,
        0xffff,
        0xffff,
        0xffff,
    )
    .unwrap();
    let window = app.generate_id().unwrap();
    let aux = CreateWindowAux::new().cursor(cursor);
    app.create_window(
        0,
        window,
        root,
        0,
        0,
        640,
        480,
        0,
        WindowClass::INPUT_OUTPUT,
        0,
        &aux,
    )
    .unwrap();
    app.map_window(window).unwrap();
    app.flush().unwrap();
    display.input().pointer_move(320, 240).unwrap();

    let after = wait_for(&events, "the xterm cursor", |ev| {
        let image = (*ev == XEvent::CursorChanged).then(|| display.cursor_image().unwrap())?;
        (image.serial != before.serial).then_some(image)
    });
    assert_ne!(after.rgba, before.rgba);
    assert_eq!(
        after.rgba.len(),
        usize::from(after.width) * usize::from(after.height) * 4
    );
    // The I-beam is narrow and tall, its hot spot inside it.
    assert!(
        after.height > after.width,
        "{}x{}",
        after.width,
        after.height
    );
    assert!(after.hot_x < after.width && after.hot_y < after.height);
    // Opaque black outline and white fill, nothing half-transparent from premultiplying.
    let opaque = after.rgba.chunks(4).filter(|p| p[3] == 0xff).count();
    assert!(opaque > 0);
    assert!(after.rgba.chunks(4).all(|p| p[3] == 0 || p[3] == 0xff));
}

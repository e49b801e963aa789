mod common;

use std::time::Instant;

use common::{client, start, wait_for};
use porthole_engine::Rect;
use porthole_x11::{ViewMode, XEvent};
use x11rb::connection::Connection;
use x11rb::protocol::xproto::{
    ConnectionExt, CreateGCAux, CreateWindowAux, EventMask, Rectangle, WindowClass,
};
use x11rb::protocol::Event;

#[test]
fn damage_reports_the_drawn_rect_and_the_mirror_gets_its_pixels() {
    let (server, display, events) = start(640, 480, ViewMode::Desktop);
    let mut mirror = display.mirror().expect("mirror");

    // An app window at (50,50); draw only after it is exposed, or the drawing is lost.
    let (app, root) = client(&server);
    let window = app.generate_id().unwrap();
    let aux = CreateWindowAux::new()
        .background_pixel(0)
        .event_mask(EventMask::EXPOSURE);
    app.create_window(
        0,
        window,
        root,
        50,
        50,
        200,
        100,
        0,
        WindowClass::INPUT_OUTPUT,
        0,
        &aux,
    )
    .unwrap();
    app.map_window(window).unwrap();
    app.flush().unwrap();
    loop {
        if let Event::Expose(_) = app.wait_for_event().unwrap() {
            break;
        }
    }
    // Acknowledge everything so far: the fill below is then reported on its own.
    mirror.grab(&[Rect::new(0, 0, 640, 480)]).unwrap();

    let gc = app.generate_id().unwrap();
    app.create_gc(gc, window, &CreateGCAux::new().foreground(0x00ff_8000))
        .unwrap();
    app.poly_fill_rectangle(
        window,
        gc,
        &[Rectangle {
            x: 10,
            y: 10,
            width: 100,
            height: 50,
        }],
    )
    .unwrap();
    app.flush().unwrap();

    let drawn = Rect::new(60, 60, 100, 50);
    let mut damaged = Vec::new();
    wait_for(&events, "damage of the filled rect", |ev| match ev {
        XEvent::Damage(r) => {
            damaged.push(*r);
            (*r == drawn).then_some(())
        }
        _ => None,
    });
    mirror.grab(&damaged).unwrap();
    let frame = mirror.frame();
    for y in [drawn.y, drawn.bottom() - 1] {
        for px in frame.row(y, drawn.x, drawn.right()).chunks(4) {
            assert_eq!(&px[..3], &[0x00, 0x80, 0xff], "BGR of 0xff8000 at row {y}");
        }
    }
    // The window background around the fill is black.
    assert_eq!(&frame.row(55, 55, 56)[..3], &[0, 0, 0]);
}

#[test]
fn full_screen_grab_is_fast() {
    let (_server, display, _events) = start(1280, 720, ViewMode::Desktop);
    let mut mirror = display.mirror().expect("mirror");
    let full = [Rect::new(0, 0, 1280, 720)];
    mirror.grab(&full).unwrap();
    let rounds = 20;
    let began = Instant::now();
    for _ in 0..rounds {
        mirror.grab(&full).unwrap();
    }
    let each = began.elapsed() / rounds;
    eprintln!("ShmGetImage 1280x720 + copy: {each:?} per grab");
    // Generous bound for a loaded 2-core machine; ~1 ms is typical.
    assert!(each.as_millis() < 50, "grab took {each:?}");
}

#[test]
fn mirror_follows_a_resize() {
    let (_server, display, events) = start(640, 480, ViewMode::Desktop);
    let mut mirror = display.mirror().expect("mirror");
    display.resize(800, 600).unwrap();
    // RandR may first report the size the screen had when we subscribed.
    wait_for(&events, "ScreenResized to 800x600", |ev| {
        (*ev == XEvent::ScreenResized {
            width: 800,
            height: 600,
        })
        .then_some(())
    });
    mirror.resize(800, 600).unwrap();
    mirror.grab(&[Rect::new(0, 0, 800, 600)]).unwrap();
    assert_eq!((mirror.frame().width, mirror.frame().height), (800, 600));
}

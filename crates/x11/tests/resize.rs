mod common;

use common::{start, wait_for};
use porthole_x11::{ViewMode, XEvent};
use x11rb::protocol::randr::ConnectionExt;

#[test]
fn resizes_grow_and_shrink_without_leaking_modes() {
    let (_server, display, events) = start(800, 600, ViewMode::App);
    for (w, h) in [
        (1000, 700),
        (1600, 900),
        (800, 600),
        (1920, 500),
        (1200, 1000),
    ] {
        display
            .resize(w, h)
            .unwrap_or_else(|e| panic!("resize to {w}x{h}: {e:#}"));
        wait_for(&events, &format!("ScreenResized {w}x{h}"), |ev| {
            (*ev == XEvent::ScreenResized {
                width: w,
                height: h,
            })
            .then_some(())
        });
        assert_eq!(display.size().unwrap(), (w, h));
    }
    let res = display
        .conn()
        .randr_get_screen_resources_current(display.root())
        .unwrap()
        .reply()
        .unwrap();
    let ours = String::from_utf8_lossy(&res.names)
        .matches("porthole-")
        .count();
    assert_eq!(ours, 1, "only the mode in use remains");
}

#[test]
fn rejects_sizes_beyond_video_memory() {
    let (_server, display, _events) = start(800, 600, ViewMode::App);
    assert!(display.resize(16000, 16000).is_err());
    assert_eq!(display.size().unwrap(), (800, 600));
}

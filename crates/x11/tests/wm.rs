mod common;

use std::process::{Child, Command, Stdio};

use common::{client, next_event, start, wait_until};
use porthole_x11::{ManagedWindow, ViewMode, XServer};
use x11rb::connection::Connection;
use x11rb::protocol::xproto::{
    AtomEnum, ConnectionExt, CreateWindowAux, EventMask, PropMode, WindowClass,
};
use x11rb::protocol::Event;
use x11rb::wrapper::ConnectionExt as _;

struct Xterm(Child);

impl Xterm {
    fn start(server: &XServer, title: &str) -> Xterm {
        let child = Command::new("xterm")
            .env("DISPLAY", server.display_name())
            .args(["-T", title, "-e", "sleep", "60"])
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("xterm");
        Xterm(child)
    }
}

impl Drop for Xterm {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn titled(display: &porthole_x11::Display, title: &str) -> Option<ManagedWindow> {
    display.windows().into_iter().find(|w| w.title == title)
}

#[test]
fn app_mode_fills_the_screen_and_follows_resizes() {
    let (server, display, events) = start(800, 600, ViewMode::App);
    let _xterm = Xterm::start(&server, "porthole-test");
    let full = |w: u32, h: u32| {
        move |win: ManagedWindow| {
            (win.x, win.y, win.width, win.height) == (0, 0, w, h) && win.focused
        }
    };
    wait_until(&events, "xterm managed at 800x600", || {
        titled(&display, "porthole-test").is_some_and(full(800, 600))
    });
    display.resize(1024, 768).unwrap();
    wait_until(&events, "xterm at 1024x768", || {
        titled(&display, "porthole-test").is_some_and(full(1024, 768))
    });
}

#[test]
fn dialogs_keep_their_size_centred_and_focus_moves_between_windows() {
    let (server, display, events) = start(800, 600, ViewMode::App);
    let (app, root) = client(&server);
    let make = |w: u16, h: u16| {
        let id = app.generate_id().unwrap();
        let aux = CreateWindowAux::new().event_mask(EventMask::STRUCTURE_NOTIFY);
        app.create_window(
            0,
            id,
            root,
            5,
            5,
            w,
            h,
            0,
            WindowClass::INPUT_OUTPUT,
            0,
            &aux,
        )
        .unwrap();
        id
    };
    let main = make(300, 300);
    app.change_property8(
        PropMode::REPLACE,
        main,
        AtomEnum::WM_NAME,
        AtomEnum::STRING,
        b"main",
    )
    .unwrap();
    app.map_window(main).unwrap();
    let dialog = make(200, 100);
    app.change_property32(
        PropMode::REPLACE,
        dialog,
        AtomEnum::WM_TRANSIENT_FOR,
        AtomEnum::WINDOW,
        &[main],
    )
    .unwrap();
    app.map_window(dialog).unwrap();
    app.flush().unwrap();

    wait_until(&events, "both windows managed", || {
        display.windows().len() == 2
    });
    let windows = display.windows();
    assert_eq!(
        (windows[0].id, windows[0].width, windows[0].height),
        (main, 800, 600)
    );
    assert_eq!(
        (
            windows[1].id,
            windows[1].x,
            windows[1].y,
            windows[1].width,
            windows[1].height
        ),
        (dialog, 300, 250, 200, 100)
    );
    assert!(windows[1].focused && !windows[0].focused);

    display.focus(main).unwrap();
    wait_until(&events, "main focused on top", || {
        display
            .windows()
            .last()
            .is_some_and(|w| w.id == main && w.focused)
    });
    app.destroy_window(main).unwrap();
    app.flush().unwrap();
    wait_until(&events, "dialog focused after main is gone", || {
        display
            .windows()
            .iter()
            .map(|w| (w.id, w.focused))
            .eq([(dialog, true)])
    });
    // The override-redirect rule: a menu keeps its geometry and is not managed.
    let menu = app.generate_id().unwrap();
    let aux = CreateWindowAux::new()
        .override_redirect(1)
        .event_mask(EventMask::STRUCTURE_NOTIFY);
    app.create_window(
        0,
        menu,
        root,
        7,
        9,
        50,
        60,
        0,
        WindowClass::INPUT_OUTPUT,
        0,
        &aux,
    )
    .unwrap();
    app.map_window(menu).unwrap();
    app.flush().unwrap();
    while !matches!(next_event(&app), Event::MapNotify(m) if m.window == menu) {}
    let geom = app.get_geometry(menu).unwrap().reply().unwrap();
    assert_eq!((geom.x, geom.y, geom.width, geom.height), (7, 9, 50, 60));
    assert!(display.windows().iter().all(|w| w.id != menu));
}

mod common;

use std::process::{Command, Stdio};

use common::{client, next_event, poll_until, start, wait_until};
use porthole_x11::keymap::{
    same_symbol, Keymap, Levels, XK_ISO_LEVEL3_SHIFT, XK_SHIFT_L, XK_SHIFT_R,
};
use porthole_x11::{ViewMode, XServer};
use x11rb::connection::Connection;
use x11rb::protocol::xproto::{ConnectionExt, CreateWindowAux, EventMask, KeyButMask, WindowClass};
use x11rb::protocol::Event;
use x11rb::rust_connection::RustConnection;

/// An app window that has the input focus, reading key events on its own connection.
fn focused_window(server: &XServer) -> RustConnection {
    let (app, root) = client(server);
    let window = app.generate_id().unwrap();
    let mask = EventMask::KEY_PRESS | EventMask::KEY_RELEASE | EventMask::FOCUS_CHANGE;
    let aux = CreateWindowAux::new().event_mask(mask);
    app.create_window(
        0,
        window,
        root,
        0,
        0,
        300,
        200,
        0,
        WindowClass::INPUT_OUTPUT,
        0,
        &aux,
    )
    .unwrap();
    app.map_window(window).unwrap();
    app.flush().unwrap();
    // Our window manager gives newly mapped windows the focus.
    while !matches!(next_event(&app), Event::FocusIn(_)) {}
    app
}

/// The keysym the app sees for a key event: the server's current mapping at the level
/// selected by the event's modifier state (Level3 is Mod5 on this keymap).
fn keysym_seen(app: &RustConnection, keycode: u8, state: KeyButMask) -> u32 {
    let setup = app.setup();
    let (min, max) = (setup.min_keycode, setup.max_keycode);
    let map = app
        .get_keyboard_mapping(min, max - min + 1)
        .unwrap()
        .reply()
        .unwrap();
    let keymap = Keymap {
        min_keycode: min,
        per_keycode: usize::from(map.keysyms_per_keycode),
        syms: map.keysyms,
    };
    let levels = Levels {
        shift: state.contains(KeyButMask::SHIFT),
        level3: state.contains(KeyButMask::MOD5),
    };
    keymap.produced(keycode, levels)
}

fn is_modifier(keysym: u32) -> bool {
    [XK_SHIFT_L, XK_SHIFT_R, XK_ISO_LEVEL3_SHIFT].contains(&keysym)
}

#[test]
fn typed_characters_arrive_as_their_keysyms() {
    let (server, display, _events) = start(640, 480, ViewMode::App);
    let app = focused_window(&server);
    let text = "aAé!ß€Ω";
    display.input().type_text(text).unwrap();

    let mut seen = Vec::new();
    while seen.len() < text.chars().count() {
        if let Event::KeyPress(k) = next_event(&app) {
            let keysym = keysym_seen(&app, k.detail, k.state);
            if !is_modifier(keysym) {
                seen.push(keysym);
            }
        }
    }
    for (c, keysym) in text.chars().zip(&seen) {
        let expected = porthole_engine::keymap::keysym_for_char(c);
        assert!(
            same_symbol(*keysym, expected),
            "{c:?}: saw keysym {keysym:#x}, expected {expected:#x}"
        );
    }
}

/// Keycodes the server considers down, after everything `display` sent was processed.
fn keys_down(display: &porthole_x11::Display, app: &RustConnection) -> Vec<u8> {
    display.size().unwrap(); // round trip: the fake input before it has been processed
    let keys = app.query_keymap().unwrap().reply().unwrap().keys;
    (0..=255u8)
        .filter(|&kc| keys[usize::from(kc / 8)] & (1 << (kc % 8)) != 0)
        .collect()
}

#[test]
fn release_all_releases_held_keys_and_a_keysym_change_on_release_is_handled() {
    let (server, display, _events) = start(640, 480, ViewMode::App);
    let app = focused_window(&server);
    let input = display.input();
    input.key('a' as u32, true).unwrap();
    let a = keys_down(&display, &app);
    assert_eq!(a.len(), 1);
    input.key(XK_SHIFT_L, true).unwrap();
    // Browsers report the key-up of 'a' as 'A' when Shift went down meanwhile.
    input.key('A' as u32, false).unwrap();
    input.key('x' as u32, true).unwrap();
    let down = keys_down(&display, &app);
    assert_eq!(down.len(), 2, "Shift and x held, a released: {down:?}");
    assert!(!down.contains(&a[0]));

    input.release_all().unwrap();
    assert_eq!(keys_down(&display, &app), Vec::<u8>::new());
}

#[test]
fn xterm_receives_typed_text() {
    let (server, display, events) = start(800, 600, ViewMode::App);
    let dir = std::env::temp_dir().join(format!("porthole-xterm-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("typed.txt");
    let mut xterm = Command::new("xterm")
        .env("DISPLAY", server.display_name())
        .env("LC_ALL", "C.UTF-8")
        .args(["-e", "sh", "-c", &format!("cat > '{}'", out.display())])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("xterm");
    wait_until(&events, "xterm focused", || {
        display.windows().iter().any(|w| w.focused)
    });
    // Its shell has run the redirection: xterm is past its start-up, whose
    // last steps on a loaded machine can otherwise drop the first keys.
    poll_until("xterm's cat to start", || out.exists());
    display.input().type_text("hello é€\n").unwrap();
    poll_until("typed text in the file", || {
        std::fs::read_to_string(&out).is_ok_and(|s| s == "hello é€\n")
    });
    let _ = xterm.kill();
    let _ = xterm.wait();
    let _ = std::fs::remove_dir_all(&dir);
}

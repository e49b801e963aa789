mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::{start, wait_for};
use porthole_x11::{ViewMode, XEvent, XServer};

fn xclip_out(server: &XServer, selection: &str) -> String {
    let out = Command::new("xclip")
        .env("DISPLAY", server.display_name())
        .args(["-o", "-selection", selection])
        .output()
        .expect("xclip");
    assert!(
        out.status.success(),
        "xclip -o failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

/// `xclip -i` takes the selection and stays in the background to serve it.
fn xclip_in(server: &XServer, text: &str) {
    let mut child = Command::new("xclip")
        .env("DISPLAY", server.display_name())
        .args(["-i", "-selection", "clipboard"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("xclip");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success());
}

fn clipboard_text(events: &std::sync::mpsc::Receiver<XEvent>) -> String {
    wait_for(events, "ClipboardChanged", |ev| match ev {
        XEvent::ClipboardChanged(text) => Some(text.clone()),
        _ => None,
    })
}

#[test]
fn our_clipboard_is_readable_by_other_clients() {
    let (server, display, _events) = start(640, 480, ViewMode::App);
    display.set_clipboard("héllo € Ω").unwrap();
    assert_eq!(xclip_out(&server, "clipboard"), "héllo € Ω");
    assert_eq!(xclip_out(&server, "primary"), "héllo € Ω");
}

#[test]
fn other_clients_clipboard_is_reported_and_ours_is_not_echoed() {
    let (server, display, events) = start(640, 480, ViewMode::App);
    display.set_clipboard("ours").unwrap();
    xclip_in(&server, "hi");
    // Had our own ownership been echoed, "ours" would arrive first.
    assert_eq!(clipboard_text(&events), "hi");
    xclip_in(&server, "ünïcode €");
    assert_eq!(clipboard_text(&events), "ünïcode €");
}

#[test]
fn large_clipboard_text_both_ways() {
    let (server, display, events) = start(640, 480, ViewMode::App);
    let big: String = "0123456789abcdef".repeat(200 * 1024 / 16);
    display.set_clipboard(&big).unwrap();
    assert_eq!(xclip_out(&server, "clipboard"), big);
    xclip_in(&server, &big[1..]);
    assert_eq!(clipboard_text(&events), big[1..]);
    assert!(display
        .set_clipboard(&"x".repeat(porthole_x11::MAX_CLIPBOARD_BYTES + 1))
        .is_err());
}

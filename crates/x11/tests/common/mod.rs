//! Shared test helpers: a fresh Xorg per test, and waiting on events with a deadline.
#![allow(dead_code)] // each test binary uses a different subset

use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use porthole_x11::{Display, ViewMode, XEvent, XServer};

pub const TIMEOUT: Duration = Duration::from_secs(15);

pub fn start(width: u32, height: u32, mode: ViewMode) -> (XServer, Display, Receiver<XEvent>) {
    let server = XServer::start(width, height).expect("starting Xorg");
    let (display, events) = Display::connect(&server.display_name(), mode).expect("connecting");
    (server, display, events)
}

/// Wait for the first event for which `f` returns Some, skipping others.
pub fn wait_for<T>(
    events: &Receiver<XEvent>,
    what: &str,
    mut f: impl FnMut(&XEvent) -> Option<T>,
) -> T {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match events.recv_timeout(left) {
            Ok(ev) => {
                if let Some(found) = f(&ev) {
                    return found;
                }
            }
            Err(RecvTimeoutError::Timeout) => panic!("timed out waiting for {what}"),
            Err(RecvTimeoutError::Disconnected) => {
                panic!("event thread ended while waiting for {what}")
            }
        }
    }
}

/// Re-check `cond` after every event until it holds.
pub fn wait_until(events: &Receiver<XEvent>, what: &str, mut cond: impl FnMut() -> bool) {
    if cond() {
        return;
    }
    wait_for(events, what, |_| cond().then_some(()));
}

/// For state outside X (files written by child processes): poll with a deadline.
pub fn poll_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + TIMEOUT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A plain client connection, as an app would have.
pub fn client(server: &XServer) -> (x11rb::rust_connection::RustConnection, u32) {
    let (conn, screen) = x11rb::connect(Some(&server.display_name())).expect("client connection");
    let root = x11rb::connection::Connection::setup(&conn).roots[screen].root;
    (conn, root)
}

/// The next event of an app connection, failing the test instead of hanging.
pub fn next_event(conn: &x11rb::rust_connection::RustConnection) -> x11rb::protocol::Event {
    use x11rb::connection::Connection;
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if let Some(event) = conn.poll_for_event().expect("app connection") {
            return event;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for an app event"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

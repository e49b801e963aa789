//! The frame pump: one thread per display that turns X events into frames for
//! every viewer. It owns the screen mirror, the engine's planner and the encoders;
//! viewers talk to it through `PumpInput` messages and receive encoded messages.
//!
//! Frames are made only when there is damage, a viewer can take one (flow
//! control) and, for lossless refreshes, when the planner's deadline passes.
//! With no viewer attached nothing is captured: an idle or unwatched screen costs
//! no CPU.

use std::collections::HashMap;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use porthole_codec::encode_cursor_png;
use porthole_engine::flow::{FrameGate, Readiness};
use porthole_engine::planner::{ClientCaps, Op, Planner};
use porthole_engine::Rect;
use porthole_protocol::{ServerMessage, WindowInfo};
use porthole_x11::XEvent;
use tokio::sync::mpsc::UnboundedSender;

use crate::desktop::{Desktop, Screen};
use crate::encode::FrameEncoder;

pub type ViewerId = u64;

/// At most this many frames may be unacknowledged per viewer.
const MAX_IN_FLIGHT: u32 = 2;
/// Sustained updates are paced to at most ~60 frames a second.
const MIN_FRAME_INTERVAL: Duration = Duration::from_millis(16);
/// Beyond this many damage rects, one bounding rect is cheaper to capture.
const MAX_CAPTURE_RECTS: usize = 32;
/// How long the pump sleeps when nothing is scheduled.
const IDLE_WAIT: Duration = Duration::from_secs(3600);

pub enum PumpInput {
    X(XEvent),
    Join {
        viewer: ViewerId,
        h264: bool,
        out: UnboundedSender<Bytes>,
    },
    Leave {
        viewer: ViewerId,
    },
    Ack {
        viewer: ViewerId,
        frame_id: u32,
    },
    Refresh,
}

struct Viewer {
    out: UnboundedSender<Bytes>,
    gate: FrameGate,
    h264: bool,
}

pub struct Pump {
    display: Arc<dyn Desktop>,
    mirror: Box<dyn Screen>,
    planner: Planner,
    encoder: FrameEncoder,
    viewers: HashMap<ViewerId, Viewer>,
    damage: Vec<Rect>,
    next_frame_id: u32,
    origin: Instant,
    /// The latest cursor and window list, for viewers that join later.
    cursor: Option<Bytes>,
    windows: Option<Bytes>,
}

impl Pump {
    pub fn new(display: Arc<dyn Desktop>, mirror: impl Screen + 'static) -> Self {
        let mirror: Box<dyn Screen> = Box::new(mirror);
        let frame = mirror.frame();
        let planner = Planner::new(frame.width, frame.height, ClientCaps { h264: false });
        Self {
            display,
            mirror,
            planner,
            encoder: FrameEncoder::default(),
            viewers: HashMap::new(),
            damage: Vec::new(),
            next_frame_id: 1,
            origin: Instant::now(),
            cursor: None,
            windows: None,
        }
    }

    /// Runs until every sender of `inputs` is gone.
    pub fn run(mut self, inputs: Receiver<PumpInput>) {
        self.refresh_cursor();
        self.refresh_windows();
        // One grab before any viewer: it faults in the shared segment and the
        // mirror, which would otherwise slow the first viewer's first frame
        // (a waiting instance's only frame that matters for session start).
        let bounds = self.mirror.frame().bounds();
        if let Err(err) = self.mirror.grab(&[bounds]) {
            tracing::warn!("capture failed: {err:#}");
        }
        loop {
            let now = self.origin.elapsed();
            let wait = self
                .wakeup(now)
                .map_or(IDLE_WAIT, |at| at.saturating_sub(now));
            match inputs.recv_timeout(wait) {
                Ok(input) => self.handle(input),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
            // Coalesce everything that queued up meanwhile into one frame.
            while let Ok(input) = inputs.try_recv() {
                self.handle(input);
            }
            self.send_frame_if_due();
        }
    }

    fn handle(&mut self, input: PumpInput) {
        match input {
            PumpInput::X(event) => self.handle_x(event),
            PumpInput::Join { viewer, h264, out } => {
                let frame = self.mirror.frame();
                let hello = [
                    Some(encode(&ServerMessage::ScreenSize {
                        width: wire_u16(frame.width),
                        height: wire_u16(frame.height),
                    })),
                    self.cursor.clone(),
                    self.windows.clone(),
                ];
                for message in hello.into_iter().flatten() {
                    let _ = out.send(message);
                }
                let gate = FrameGate::new(MAX_IN_FLIGHT, MIN_FRAME_INTERVAL);
                self.viewers.insert(viewer, Viewer { out, gate, h264 });
                self.update_caps();
                self.request_full();
            }
            PumpInput::Leave { viewer } => {
                self.viewers.remove(&viewer);
                self.update_caps();
            }
            PumpInput::Ack { viewer, frame_id } => {
                let now = self.origin.elapsed();
                tracing::trace!(viewer, frame_id, "ack");
                if let Some(v) = self.viewers.get_mut(&viewer) {
                    v.gate.on_ack(frame_id, now);
                }
            }
            PumpInput::Refresh => self.request_full(),
        }
    }

    fn handle_x(&mut self, event: XEvent) {
        match event {
            XEvent::Damage(rect) => {
                tracing::trace!(?rect, "damage");
                if !self.viewers.is_empty() {
                    self.damage.push(rect);
                }
            }
            XEvent::ScreenResized { width, height } => {
                if let Err(err) = self.mirror.resize(width, height) {
                    tracing::error!("cannot follow the screen resize: {err:#}");
                    return;
                }
                self.planner.resize(width, height);
                self.broadcast(encode(&ServerMessage::ScreenSize {
                    width: wire_u16(width),
                    height: wire_u16(height),
                }));
                self.request_full();
            }
            XEvent::CursorChanged => self.refresh_cursor(),
            XEvent::WindowsChanged => self.refresh_windows(),
            XEvent::ClipboardChanged(text) => {
                self.broadcast(encode(&ServerMessage::Clipboard { text }))
            }
        }
    }

    fn refresh_cursor(&mut self) {
        let message = match self.display.cursor_image() {
            Ok(cursor) => ServerMessage::Cursor {
                hot_x: cursor.hot_x,
                hot_y: cursor.hot_y,
                width: cursor.width,
                height: cursor.height,
                png: encode_cursor_png(cursor.width.into(), cursor.height.into(), &cursor.rgba),
            },
            Err(err) => {
                tracing::warn!("cannot read the cursor image: {err:#}");
                return;
            }
        };
        let message = encode(&message);
        self.cursor = Some(message.clone());
        self.broadcast(message);
    }

    fn refresh_windows(&mut self) {
        let windows = self
            .display
            .windows()
            .into_iter()
            .map(|w| WindowInfo {
                id: w.id,
                x: wire_i16(w.x),
                y: wire_i16(w.y),
                width: wire_u16(w.width),
                height: wire_u16(w.height),
                focused: w.focused,
                title: w.title,
            })
            .collect();
        let message = encode(&ServerMessage::Windows { windows });
        self.windows = Some(message.clone());
        self.broadcast(message);
    }

    /// The planner can use H.264 only when every viewer decodes it.
    fn update_caps(&mut self) {
        let h264 = !self.viewers.is_empty() && self.viewers.values().all(|v| v.h264);
        self.planner.set_caps(ClientCaps { h264 });
    }

    fn request_full(&mut self) {
        self.planner.request_full();
        self.damage.clear();
        self.damage.push(self.mirror.frame().bounds());
    }

    /// When the loop must wake up even without input.
    fn wakeup(&self, now: Duration) -> Option<Duration> {
        if self.viewers.is_empty() {
            return None;
        }
        let deadline = self.planner.next_deadline();
        if self.damage.is_empty() {
            return deadline;
        }
        match self.readiness(now) {
            Readiness::Now => Some(now),
            Readiness::At(at) => Some(deadline.map_or(at, |d| d.min(at))),
            Readiness::WaitForAck => deadline,
        }
    }

    /// The pump is as fast as its slowest viewer: one frame goes to everyone.
    fn readiness(&self, now: Duration) -> Readiness {
        let mut result = Readiness::Now;
        for viewer in self.viewers.values() {
            match viewer.gate.readiness(now) {
                Readiness::Now => {}
                Readiness::WaitForAck => return Readiness::WaitForAck,
                Readiness::At(at) => {
                    result = match result {
                        Readiness::At(prev) => Readiness::At(prev.max(at)),
                        _ => Readiness::At(at),
                    }
                }
            }
        }
        result
    }

    fn send_frame_if_due(&mut self) {
        if self.viewers.is_empty() {
            self.damage.clear();
            return;
        }
        let now = self.origin.elapsed();
        let refresh_due = self.planner.next_deadline().is_some_and(|at| at <= now);
        if self.damage.is_empty() && !refresh_due {
            return;
        }
        if !matches!(self.readiness(now), Readiness::Now) {
            return;
        }
        let damage = std::mem::take(&mut self.damage);
        let capture = if damage.len() > MAX_CAPTURE_RECTS {
            vec![damage.iter().fold(Rect::default(), |acc, r| acc.union(r))]
        } else {
            damage.clone()
        };
        let started = Instant::now();
        if let Err(err) = self.mirror.grab(&capture) {
            tracing::warn!("capture failed: {err:#}");
            return;
        }
        let grabbed = Instant::now();
        let frame = self.mirror.frame();
        let ops = self.planner.plan(now, frame, &damage);
        if ops.is_empty() {
            return;
        }
        let planned = Instant::now();
        let planner = &mut self.planner;
        let rects = self
            .encoder
            .encode(frame, &ops, |rect| planner.invalidate(rect));
        let frame_id = self.next_frame_id;
        self.next_frame_id = self.next_frame_id.wrapping_add(1);
        let message = encode(&ServerMessage::Frame { frame_id, rects });
        tracing::trace!(
            frame_id,
            ops = ops.len(),
            video = ops
                .iter()
                .filter(|op| matches!(op, Op::Video { .. }))
                .count(),
            damage = damage.len(),
            bytes = message.len(),
            grab_us = (grabbed - started).as_micros(),
            plan_us = (planned - grabbed).as_micros(),
            encode_us = planned.elapsed().as_micros(),
            "frame"
        );
        for viewer in self.viewers.values_mut() {
            viewer.gate.on_sent(frame_id, now);
            let _ = viewer.out.send(message.clone());
        }
    }

    fn broadcast(&self, message: Bytes) {
        for viewer in self.viewers.values() {
            let _ = viewer.out.send(message.clone());
        }
    }
}

fn encode(message: &ServerMessage) -> Bytes {
    Bytes::from(message.encode())
}

/// X screen coordinates never exceed 32767, so they fit the wire's u16.
pub(crate) fn wire_u16(v: u32) -> u16 {
    u16::try_from(v).unwrap_or(u16::MAX)
}

fn wire_i16(v: i32) -> i16 {
    i16::try_from(v).unwrap_or(if v < 0 { i16::MIN } else { i16::MAX })
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc::{channel, Sender};
    use std::thread::JoinHandle;

    use porthole_protocol::{Encoding, Rect as WireRect};
    use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};

    use super::*;
    use crate::desktop::fake::{cursor, FakeDesktop, FakeScreen};

    const WIDTH: u32 = 256;
    const HEIGHT: u32 = 128;
    /// Long enough for any message the pump owes; only a failing test waits this long.
    const DUE: Duration = Duration::from_secs(10);
    /// Many pacing intervals: a frame the gate let through would arrive well within it.
    const QUIET: Duration = Duration::from_millis(150);
    const GREY: [u8; 4] = [0x30, 0x20, 0x10, 0];
    const WHITE: [u8; 4] = [0xff, 0xff, 0xff, 0];

    /// A pump on its own thread, as in the agent, over a fake screen and display.
    struct Running {
        inputs: Sender<PumpInput>,
        thread: JoinHandle<()>,
        screen: FakeScreen,
        desktop: Arc<FakeDesktop>,
    }

    impl Running {
        fn start() -> Self {
            let screen = FakeScreen::new(WIDTH, HEIGHT);
            screen.paint(Rect::new(0, 0, WIDTH, HEIGHT), GREY);
            let desktop = Arc::new(FakeDesktop::default());
            let pump = Pump::new(desktop.clone(), screen.mirror());
            let (inputs, rx) = channel();
            let thread = std::thread::spawn(move || pump.run(rx));
            Self {
                inputs,
                thread,
                screen,
                desktop,
            }
        }

        fn send(&self, input: PumpInput) {
            self.inputs.send(input).expect("the pump is running");
        }

        fn join(&self, viewer: ViewerId) -> UnboundedReceiver<Bytes> {
            let (out, rx) = unbounded_channel();
            self.send(PumpInput::Join {
                viewer,
                h264: false,
                out,
            });
            rx
        }

        /// Joins and reads the hello messages and the first frame.
        async fn join_and_settle(&self, viewer: ViewerId) -> UnboundedReceiver<Bytes> {
            let mut rx = self.join(viewer);
            while !matches!(next(&mut rx).await, ServerMessage::Frame { .. }) {}
            rx
        }

        /// Paints `rect` on the screen and reports it damaged, as X would.
        fn damage(&self, rect: Rect, bgrx: [u8; 4]) {
            self.screen.paint(rect, bgrx);
            self.send(PumpInput::X(XEvent::Damage(rect)));
        }

        /// Stops the pump once it handled everything sent; returns its grabs.
        fn stop(self) -> Vec<Vec<Rect>> {
            drop(self.inputs);
            self.thread.join().expect("the pump does not panic");
            self.screen.grabs()
        }
    }

    async fn next(rx: &mut UnboundedReceiver<Bytes>) -> ServerMessage {
        let bytes = tokio::time::timeout(DUE, rx.recv())
            .await
            .expect("a message from the pump")
            .expect("the pump keeps this viewer");
        ServerMessage::decode(&bytes).expect("the pump sends valid messages")
    }

    async fn next_frame(rx: &mut UnboundedReceiver<Bytes>) -> (u32, Vec<WireRect>) {
        match next(rx).await {
            ServerMessage::Frame { frame_id, rects } => (frame_id, rects),
            other => panic!("expected a frame, got {other:?}"),
        }
    }

    async fn assert_quiet(rx: &mut UnboundedReceiver<Bytes>) {
        if let Ok(message) = tokio::time::timeout(QUIET, rx.recv()).await {
            panic!(
                "expected nothing, got {:?}",
                message.map(|b| ServerMessage::decode(&b))
            );
        }
    }

    /// Asserts the rects paint every pixel of a `width` x `height` screen exactly once.
    fn assert_covers(rects: &[WireRect], width: u32, height: u32) {
        let mut painted = vec![0u8; (width * height) as usize];
        for r in rects {
            assert!(
                u32::from(r.x) + u32::from(r.width) <= width,
                "{r:?} is off screen"
            );
            assert!(
                u32::from(r.y) + u32::from(r.height) <= height,
                "{r:?} is off screen"
            );
            for y in r.y..r.y + r.height {
                for x in r.x..r.x + r.width {
                    painted[y as usize * width as usize + x as usize] += 1;
                }
            }
        }
        assert!(painted.iter().all(|&n| n == 1), "not painted exactly once");
    }

    /// The solid colour every rect paints (the fake screen is painted in solid areas).
    fn solid_rgba(rects: &[WireRect]) -> Vec<[u8; 4]> {
        rects
            .iter()
            .map(|r| {
                assert_eq!(r.encoding, Encoding::Solid, "{r:?}");
                r.data.as_slice().try_into().expect("solid rgba")
            })
            .collect()
    }

    #[tokio::test]
    async fn a_joining_viewer_gets_the_screen_size_cursor_windows_then_a_full_frame() {
        let pump = Running::start();
        let mut rx = pump.join(1);
        assert_eq!(
            next(&mut rx).await,
            ServerMessage::ScreenSize {
                width: WIDTH as u16,
                height: HEIGHT as u16
            }
        );
        assert!(matches!(next(&mut rx).await, ServerMessage::Cursor { .. }));
        assert_eq!(
            next(&mut rx).await,
            ServerMessage::Windows { windows: vec![] }
        );
        let (_, rects) = next_frame(&mut rx).await;
        assert_covers(&rects, WIDTH, HEIGHT);
        // GREY is BGRX in the mirror, RGBA on the wire.
        assert!(solid_rgba(&rects)
            .iter()
            .all(|&rgba| rgba == [0x10, 0x20, 0x30, 255]));
        pump.stop();
    }

    #[tokio::test]
    async fn damage_with_no_viewer_is_not_captured() {
        let pump = Running::start();
        for x in [0, 64, 128] {
            pump.damage(Rect::new(x, 0, 64, 64), WHITE);
        }
        pump.send(PumpInput::Refresh);
        let grabs = pump.stop();
        // Only the warm-up grab at start.
        assert_eq!(grabs, vec![vec![Rect::new(0, 0, WIDTH, HEIGHT)]]);
    }

    #[tokio::test]
    async fn no_more_than_max_in_flight_frames_go_unacknowledged() {
        let pump = Running::start();
        let mut rx = pump.join_and_settle(1).await;
        // Frame 1 (the full frame) is in flight; damage lets one more go.
        pump.damage(Rect::new(0, 0, 64, 64), WHITE);
        let (second, rects) = next_frame(&mut rx).await;
        assert_eq!(rects.len(), 1);
        assert_eq!(
            (rects[0].x, rects[0].y, rects[0].width, rects[0].height),
            (0, 0, 64, 64)
        );
        let grabs = pump.screen.grabs().len();

        // MAX_IN_FLIGHT frames unacknowledged: damage keeps coming, nothing goes out.
        for (i, x) in [64, 128, 192].into_iter().enumerate() {
            pump.damage(Rect::new(x, 64, 64, 64), [i as u8, 0, 0, 0]);
            assert_quiet(&mut rx).await;
        }
        assert_eq!(
            pump.screen.grabs().len(),
            grabs,
            "nothing captured meanwhile"
        );

        // An ack of the first frame frees one slot: all the damage goes in one frame.
        pump.send(PumpInput::Ack {
            viewer: 1,
            frame_id: second - 1,
        });
        let (third, rects) = next_frame(&mut rx).await;
        assert_eq!(third, second + 1);
        let mut painted: Vec<_> = rects.iter().map(|r| r.x).collect();
        painted.sort_unstable();
        assert_eq!(painted, vec![64, 128, 192]);
        assert_quiet(&mut rx).await;
        pump.stop();
    }

    #[tokio::test]
    async fn a_screen_resize_resizes_the_mirror_and_tells_viewers() {
        let pump = Running::start();
        let mut rx = pump.join_and_settle(1).await;
        pump.screen.set_size(320, 200);
        pump.screen.paint(Rect::new(0, 0, 320, 200), WHITE);
        pump.send(PumpInput::X(XEvent::ScreenResized {
            width: 320,
            height: 200,
        }));
        assert_eq!(
            next(&mut rx).await,
            ServerMessage::ScreenSize {
                width: 320,
                height: 200
            }
        );
        let (_, rects) = next_frame(&mut rx).await;
        assert_covers(&rects, 320, 200);
        assert!(solid_rgba(&rects)
            .iter()
            .all(|&rgba| rgba == [0xff, 0xff, 0xff, 255]));
        pump.stop();
    }

    #[tokio::test]
    async fn cursor_changes_reach_every_viewer_and_later_joiners() {
        let pump = Running::start();
        let mut first = pump.join_and_settle(1).await;
        let mut second = pump.join_and_settle(2).await;
        // The second's full frame went to the first too.
        next_frame(&mut first).await;
        pump.desktop.set_cursor(cursor(2, 3, 4));
        pump.send(PumpInput::X(XEvent::CursorChanged));
        for rx in [&mut first, &mut second] {
            let ServerMessage::Cursor {
                hot_x,
                width,
                height,
                ..
            } = next(rx).await
            else {
                panic!("expected the new cursor");
            };
            assert_eq!((hot_x, width, height), (3, 4, 4));
        }
        let mut late = pump.join(3);
        next(&mut late).await; // ScreenSize
        assert!(matches!(
            next(&mut late).await,
            ServerMessage::Cursor {
                hot_x: 3,
                width: 4,
                ..
            }
        ));
        pump.stop();
    }

    #[tokio::test]
    async fn window_changes_reach_viewers_with_coordinates_clamped_to_the_wire() {
        let pump = Running::start();
        let mut rx = pump.join_and_settle(1).await;
        pump.desktop.set_windows(vec![porthole_x11::ManagedWindow {
            id: 9,
            x: -40_000,
            y: 10,
            width: 100_000,
            height: 50,
            focused: true,
            title: "xterm".into(),
        }]);
        pump.send(PumpInput::X(XEvent::WindowsChanged));
        assert_eq!(
            next(&mut rx).await,
            ServerMessage::Windows {
                windows: vec![WindowInfo {
                    id: 9,
                    x: i16::MIN,
                    y: 10,
                    width: u16::MAX,
                    height: 50,
                    focused: true,
                    title: "xterm".into(),
                }]
            }
        );
        pump.stop();
    }

    #[tokio::test]
    async fn a_viewer_that_left_gets_nothing_more() {
        let pump = Running::start();
        let mut leaving = pump.join_and_settle(1).await;
        let mut staying = pump.join_and_settle(2).await;
        // The second's full frame went to the first too.
        next_frame(&mut leaving).await;
        pump.send(PumpInput::Leave { viewer: 1 });
        pump.damage(Rect::new(0, 0, 64, 64), WHITE);
        pump.send(PumpInput::X(XEvent::ClipboardChanged("copied".into())));
        assert!(matches!(
            next(&mut staying).await,
            ServerMessage::Clipboard { .. }
        ));
        next_frame(&mut staying).await;
        // The pump dropped its sender: the channel ends with nothing queued.
        let ended = tokio::time::timeout(DUE, leaving.recv()).await;
        assert_eq!(ended.expect("the channel closes"), None);
        pump.stop();
    }
}

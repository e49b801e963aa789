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
use porthole_x11::{Display, ScreenMirror, XEvent};
use tokio::sync::mpsc::UnboundedSender;

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
    display: Arc<Display>,
    mirror: ScreenMirror,
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
    pub fn new(display: Arc<Display>, mirror: ScreenMirror) -> Self {
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

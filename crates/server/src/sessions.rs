//! What the server keeps per live session beside the plane: what its
//! browsers must be told, which apps it has had started, and its traffic.
//! All are forgotten when the session ends.

use std::collections::HashMap;
use std::sync::Mutex;

use porthole_control::{Notice, NoticeKind};
use tokio::sync::watch;

/// What a live session's browsers are told, besides the stream.
#[derive(Debug, Clone, Default)]
pub(crate) struct SessionSignal {
    /// Why they must leave (None while they may stay).
    pub(crate) leave: Option<String>,
    /// With `leave` when the session goes on: until when reconnecting resumes it.
    pub(crate) resume: Option<Notice>,
    /// The latest warning of each kind.
    pub(crate) session_ending: Option<Notice>,
    pub(crate) idle: Option<Notice>,
    /// Since when the home folder is full (read-only), while it is.
    pub(crate) folder_full: Option<Notice>,
    /// When a session script failed, if one did.
    pub(crate) script_failed: Option<Notice>,
}

impl SessionSignal {
    pub(crate) fn notices(&self) -> impl Iterator<Item = Notice> {
        self.session_ending
            .into_iter()
            .chain(self.idle)
            .chain(self.folder_full)
            .chain(self.script_failed)
    }
}

/// Each live session's [`SessionSignal`], watched by its browsers.
#[derive(Default)]
pub(crate) struct SessionSignals(Mutex<HashMap<String, watch::Sender<SessionSignal>>>);

impl SessionSignals {
    /// The session's browsers must leave, for `reason`.
    pub(crate) fn leave(&self, session_id: &str, reason: &str) {
        self.modify(session_id, |s| s.leave = Some(reason.to_owned()));
    }

    /// They must leave, and may come back until `resume`'s deadline.
    pub(crate) fn disconnect(&self, session_id: &str, reason: &str, resume: Notice) {
        self.modify(session_id, |s| {
            s.leave = Some(reason.to_owned());
            s.resume = Some(resume);
        });
    }

    /// A warning for them, replacing the previous one of its kind.
    pub(crate) fn warn(&self, session_id: &str, notice: Notice) {
        self.modify(session_id, |s| match notice.kind {
            NoticeKind::SessionEnding => s.session_ending = Some(notice),
            NoticeKind::IdleDisconnect => s.idle = Some(notice),
            NoticeKind::Disconnected => s.resume = Some(notice),
            NoticeKind::HomeFolderFull => s.folder_full = Some(notice),
            NoticeKind::SessionScriptFailed => s.script_failed = Some(notice),
        });
    }

    /// A session script failed. Kept even before a browser connects: the start scripts
    /// run while the first one is on its way.
    pub(crate) fn script_failed(&self, session_id: &str) {
        let notice = Notice {
            kind: NoticeKind::SessionScriptFailed,
            deadline: crate::state::now(),
        };
        let mut signals = self.0.lock().expect("signals lock");
        signal_of(&mut signals, session_id).send_modify(|s| s.script_failed = Some(notice));
    }

    /// The session's home folder turned full (read-only) or writable again.
    pub(crate) fn folder_full(&self, session_id: &str, full: bool) {
        let notice = full.then(|| Notice {
            kind: NoticeKind::HomeFolderFull,
            deadline: crate::state::now(),
        });
        self.modify(session_id, |s| s.folder_full = notice);
    }

    fn modify(&self, session_id: &str, modify: impl FnOnce(&mut SessionSignal)) {
        if let Some(signal) = self.0.lock().expect("signals lock").get(session_id) {
            signal.send_modify(modify);
        }
    }

    /// What a browser connecting to the session watches.
    pub(crate) fn subscribe(&self, session_id: &str) -> watch::Receiver<SessionSignal> {
        let mut signals = self.0.lock().expect("signals lock");
        let sender = signal_of(&mut signals, session_id);
        // A reconnecting browser starts with a clean slate after an idle
        // disconnect, and connecting is activity: an idle warning is void.
        sender.send_modify(|s| {
            s.leave = None;
            s.resume = None;
            s.idle = None;
        });
        let mut receiver = sender.subscribe();
        // Warnings given earlier (session ending, a failed script) reach this browser too.
        if receiver.borrow().notices().next().is_some() {
            receiver.mark_changed();
        }
        receiver
    }

    pub(crate) fn forget(&self, session_id: &str) {
        self.0.lock().expect("signals lock").remove(session_id);
    }
}

/// The session's signal, made on first use.
fn signal_of<'a>(
    signals: &'a mut HashMap<String, watch::Sender<SessionSignal>>,
    session_id: &str,
) -> &'a watch::Sender<SessionSignal> {
    signals
        .entry(session_id.to_owned())
        .or_insert_with(|| watch::channel(SessionSignal::default()).0)
}

/// What each live session has had started, until it ends.
#[derive(Default)]
pub(crate) struct SessionApps(Mutex<HashMap<String, Launches>>);

#[derive(Default)]
struct Launches {
    /// The streaming URL's ApplicationId was dealt with (started, or none).
    url_app_claimed: bool,
    /// Apps started, by name, in order: what the page needs to know whether
    /// to show the catalog.
    started: Vec<String>,
}

impl SessionApps {
    /// True the first time only: the URL's app starts once per session,
    /// however many browsers attach.
    pub(crate) fn claim_url_app(&self, session_id: &str) -> bool {
        let mut sessions = self.0.lock().expect("session apps lock");
        let launches = sessions.entry(session_id.to_owned()).or_default();
        !std::mem::replace(&mut launches.url_app_claimed, true)
    }

    pub(crate) fn record(&self, session_id: &str, app: &str) {
        self.0
            .lock()
            .expect("session apps lock")
            .entry(session_id.to_owned())
            .or_default()
            .started
            .push(app.to_owned());
    }

    pub(crate) fn forget(&self, session_id: &str) {
        self.0.lock().expect("session apps lock").remove(session_id);
    }

    pub(crate) fn started(&self, session_id: &str) -> Vec<String> {
        self.0
            .lock()
            .expect("session apps lock")
            .get(session_id)
            .map(|l| l.started.clone())
            .unwrap_or_default()
    }
}

/// Round trips kept per session for its latency quantiles.
const ROUND_TRIP_SAMPLES: usize = 120;

/// Each live session's traffic through the gateway: bytes each way and the
/// latest browser round trips (WebSocket pings), for /metrics and the console.
#[derive(Default)]
pub(crate) struct SessionTraffic(Mutex<HashMap<String, Traffic>>);

#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Traffic {
    pub(crate) bytes_to_browser: u64,
    pub(crate) bytes_from_browser: u64,
    /// Milliseconds, oldest first.
    round_trips: std::collections::VecDeque<f64>,
}

impl Traffic {
    /// The `q` quantile (0..=1) of the kept round trips, nearest rank.
    pub(crate) fn round_trip_quantile(&self, q: f64) -> Option<f64> {
        let mut sorted: Vec<f64> = self.round_trips.iter().copied().collect();
        sorted.sort_by(f64::total_cmp);
        let rank = (q * sorted.len() as f64).ceil() as usize;
        sorted.get(rank.clamp(1, sorted.len().max(1)) - 1).copied()
    }
}

impl SessionTraffic {
    fn modify(&self, session_id: &str, modify: impl FnOnce(&mut Traffic)) {
        modify(
            self.0
                .lock()
                .expect("traffic lock")
                .entry(session_id.to_owned())
                .or_default(),
        );
    }

    pub(crate) fn sent_to_browser(&self, session_id: &str, bytes: usize) {
        self.modify(session_id, |t| t.bytes_to_browser += bytes as u64);
    }

    pub(crate) fn received_from_browser(&self, session_id: &str, bytes: usize) {
        self.modify(session_id, |t| t.bytes_from_browser += bytes as u64);
    }

    pub(crate) fn round_trip(&self, session_id: &str, round_trip: std::time::Duration) {
        self.modify(session_id, |t| {
            if t.round_trips.len() == ROUND_TRIP_SAMPLES {
                t.round_trips.pop_front();
            }
            t.round_trips.push_back(round_trip.as_secs_f64() * 1000.0);
        });
    }

    pub(crate) fn of(&self, session_id: &str) -> Option<Traffic> {
        self.0
            .lock()
            .expect("traffic lock")
            .get(session_id)
            .cloned()
    }

    pub(crate) fn forget(&self, session_id: &str) {
        self.0.lock().expect("traffic lock").remove(session_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn round_trip_quantiles_are_nearest_rank_over_the_latest_samples() {
        let traffic = SessionTraffic::default();
        assert_eq!(traffic.of("s"), None);
        for ms in 1..=100 {
            traffic.round_trip("s", Duration::from_millis(ms));
        }
        let t = traffic.of("s").unwrap();
        assert_eq!(t.round_trip_quantile(0.5), Some(50.0));
        assert_eq!(t.round_trip_quantile(0.95), Some(95.0));
        for _ in 0..ROUND_TRIP_SAMPLES {
            traffic.round_trip("s", Duration::from_millis(7));
        }
        let t = traffic.of("s").unwrap();
        assert_eq!(
            t.round_trip_quantile(0.95),
            Some(7.0),
            "old samples dropped"
        );
        traffic.sent_to_browser("s", 10);
        traffic.received_from_browser("s", 3);
        let t = traffic.of("s").unwrap();
        assert_eq!((t.bytes_to_browser, t.bytes_from_browser), (10, 3));
        traffic.forget("s");
        assert_eq!(traffic.of("s"), None);
        assert_eq!(Traffic::default().round_trip_quantile(0.5), None);
    }
}

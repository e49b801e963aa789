//! What the server keeps per live session beside the plane: what its
//! browsers must be told, and which apps it has had started. Both are
//! forgotten when the session ends.

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
}

impl SessionSignal {
    pub(crate) fn notices(&self) -> impl Iterator<Item = Notice> {
        self.session_ending.into_iter().chain(self.idle)
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
        });
    }

    fn modify(&self, session_id: &str, modify: impl FnOnce(&mut SessionSignal)) {
        if let Some(signal) = self.0.lock().expect("signals lock").get(session_id) {
            signal.send_modify(modify);
        }
    }

    /// What a browser connecting to the session watches.
    pub(crate) fn subscribe(&self, session_id: &str) -> watch::Receiver<SessionSignal> {
        let mut signals = self.0.lock().expect("signals lock");
        let sender = signals
            .entry(session_id.to_owned())
            .or_insert_with(|| watch::channel(SessionSignal::default()).0);
        // A reconnecting browser starts with a clean slate after an idle
        // disconnect, and connecting is activity: an idle warning is void.
        sender.send_modify(|s| {
            s.leave = None;
            s.resume = None;
            s.idle = None;
        });
        let mut receiver = sender.subscribe();
        // A session-ending warning given earlier reaches this browser too.
        if receiver.borrow().session_ending.is_some() {
            receiver.mark_changed();
        }
        receiver
    }

    pub(crate) fn forget(&self, session_id: &str) {
        self.0.lock().expect("signals lock").remove(session_id);
    }
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

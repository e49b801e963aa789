//! The server's handle on the control plane: the pure plane behind one
//! lock, its changes written to the store in the order it made them, and a
//! signal for those waiting on a change of its state.

use std::time::{Duration, UNIX_EPOCH};

use anyhow::{Context, Result};
use porthole_control::{ControlPlane, EndReason};
use porthole_store::{SessionRecord, Store};
use tokio::sync::{mpsc, oneshot, Mutex, MutexGuard, Notify};

/// A batch of changes for the writer, and who waits for it to be durable.
type Write = (
    Vec<porthole_store::Change>,
    Option<oneshot::Sender<Result<()>>>,
);

pub(crate) struct Plane {
    cp: Mutex<ControlPlane>,
    store: Store,
    /// All writes go through one task, in the order the plane made them.
    writes: mpsc::UnboundedSender<Write>,
    /// Wakes those waiting in [`Plane::wait_for`].
    changed: Notify,
}

impl Plane {
    /// Starts the writer task (on the current runtime).
    pub(crate) fn new(cp: ControlPlane, store: Store) -> Self {
        let (writes, pending) = mpsc::unbounded_channel();
        tokio::spawn(write_in_order(store.clone(), pending));
        Self {
            cp: Mutex::new(cp),
            store,
            writes,
            changed: Notify::new(),
        }
    }

    /// The plane itself. Whoever changes it persists afterwards
    /// ([`Plane::persist`] or [`Plane::persist_soon`]).
    pub(crate) async fn lock(&self) -> MutexGuard<'_, ControlPlane> {
        self.cp.lock().await
    }

    /// Saves the plane's pending changes and waits until they are durable:
    /// for answers that promise a change happened (the admin API).
    pub(crate) async fn persist(&self) -> Result<()> {
        let (done, durable) = oneshot::channel();
        self.queue_changes(Some(done)).await;
        durable.await.context("the state writer stopped")?
    }

    /// Saves the plane's pending changes without waiting: for the streaming
    /// path, where an fsync must not delay the first frame.
    pub(crate) async fn persist_soon(&self) {
        self.queue_changes(None).await;
    }

    async fn queue_changes(&self, done: Option<oneshot::Sender<Result<()>>>) {
        // Taken and queued under the lock, so batches reach the writer in order.
        let cp = &mut *self.cp.lock().await;
        let changes = cp
            .take_changes()
            .into_iter()
            .map(|c| porthole_store::Change {
                kind: c.kind,
                key: c.key,
                document: c.document,
            })
            .collect();
        let _ = self.writes.send((changes, done));
    }

    /// Persists, then adds the usage records of sessions that ended.
    pub(crate) async fn persist_and_record(&self, ended_sessions: &[String]) -> Result<()> {
        self.persist().await?;
        for id in ended_sessions {
            let Some(record) = session_record(&*self.cp.lock().await, id) else {
                continue;
            };
            self.store.record_session(&record).await?;
        }
        Ok(())
    }

    /// Wakes everyone in [`Plane::wait_for`] to look again.
    pub(crate) fn notify_changed(&self) {
        self.changed.notify_waiters();
    }

    /// Re-checks the plane each time it changes until `check` decides
    /// (Some), or fails with `timeout_message` at `limit`.
    pub(crate) async fn wait_for<T>(
        &self,
        limit: Duration,
        timeout_message: &str,
        mut check: impl FnMut(&ControlPlane) -> Option<Result<T>>,
    ) -> Result<T> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            // Registered before the check, so a change in between is not missed.
            let changed = self.changed.notified();
            if let Some(decided) = check(&*self.cp.lock().await) {
                return decided;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                anyhow::bail!("{timeout_message}");
            }
        }
    }
}

async fn write_in_order(store: Store, mut pending: mpsc::UnboundedReceiver<Write>) {
    while let Some((changes, done)) = pending.recv().await {
        let result = store.apply(&changes).await;
        if let Err(err) = &result {
            tracing::error!("saving state failed: {err:#}");
        }
        if let Some(done) = done {
            let _ = done.send(result);
        }
    }
}

/// The usage record of a session, once it has ended.
fn session_record(cp: &ControlPlane, session_id: &str) -> Option<SessionRecord> {
    let session = cp.session(session_id).ok()?;
    let fleet = cp.fleet(&session.fleet).ok();
    let end = session.end_time.unwrap_or(session.start_time);
    Some(SessionRecord {
        session_id: session.id.clone(),
        user_id: session.user_id.clone(),
        stack: session.stack.clone(),
        fleet: session.fleet.clone(),
        instance_type: fleet.map(|f| f.instance_type.clone()).unwrap_or_default(),
        stream_view: fleet
            .map(|f| format!("{:?}", f.stream_view).to_uppercase())
            .unwrap_or_default(),
        start: UNIX_EPOCH + Duration::from_millis(session.start_time.as_millis()),
        end: UNIX_EPOCH + Duration::from_millis(end.as_millis()),
        duration_secs: end
            .as_millis()
            .saturating_sub(session.start_time.as_millis())
            / 1000,
        end_reason: session
            .end_reason
            .map(EndReason::code)
            .unwrap_or_default()
            .to_owned(),
        settings: serde_json::json!({}),
    })
}

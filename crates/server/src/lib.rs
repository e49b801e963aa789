//! `porthole serve`: the control plane in one process. One port serves the
//! AppStream-compatible admin API (admin.rs), the web client and the browsers'
//! streaming connections (gateway.rs, proxied to each instance's agent), and
//! /metrics. State lives in the pure `porthole-control` plane, persisted by
//! `porthole-store` after every change; instances are sandboxes (instances.rs).

mod admin;
mod catalog;
mod credentials;
mod defaults;
mod gateway;
mod instances;
mod metrics;
mod tls;
mod tokens;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex as StdMutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use axum::Router;
use porthole_control::{Config, ControlPlane, Effect, EndReason, Notice, NoticeKind, Timestamp};
use porthole_store::{SessionRecord, Store};
use tokio::sync::{watch, Mutex, Notify};

pub use credentials::Credentials;
pub use tls::CertificateFiles;

pub struct ServeConfig {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// `postgres://...`; the default is SQLite in the data directory.
    pub database: Option<String>,
    /// Where instances' runtime directories (agent sockets) live.
    pub runtime_dir: PathBuf,
    /// Serve TLS (always beyond loopback): with these files, or a self-signed
    /// certificate kept in the data directory.
    pub tls: bool,
    pub certificate: Option<CertificateFiles>,
}

const REGION: &str = "us-east-1";
const ACCOUNT: &str = "000000000000";
const TICK: Duration = Duration::from_secs(1);

/// A batch of changes for the writer, and who waits for it to be durable.
type Write = (
    Vec<porthole_store::Change>,
    Option<tokio::sync::oneshot::Sender<Result<()>>>,
);

pub(crate) struct Server {
    cp: Mutex<ControlPlane>,
    store: Store,
    /// All writes go through one task, in the order the plane made them.
    writes: tokio::sync::mpsc::UnboundedSender<Write>,
    credentials: Credentials,
    tokens: tokens::TokenKey,
    instances: instances::Instances,
    /// Wakes browsers waiting for their session's instance.
    changed: Notify,
    /// Per live session: what its connected browsers must be told.
    session_signals: StdMutex<HashMap<String, watch::Sender<SessionSignal>>>,
    /// Set at shutdown: instances that stop then are not replaced.
    stopping: std::sync::atomic::AtomicBool,
    /// Sessions being made ready for a page that was just served.
    preparing: gateway::Preparing,
    /// Apps started in each session (the URL's and the catalog's).
    session_apps: catalog::SessionApps,
    base_url: String,
}

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

pub(crate) fn now() -> Timestamp {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Timestamp::from_millis(since_epoch.as_millis() as u64)
}

/// Runs until SIGINT/SIGTERM.
pub async fn serve(config: ServeConfig) -> Result<()> {
    let tls = config.tls || config.certificate.is_some() || !config.listen.ip().is_loopback();
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating {}", config.data_dir.display()))?;
    let store = match &config.database {
        Some(url) => Store::open(url).await,
        None => Store::open_in_data_dir(&config.data_dir).await,
    }
    .context("opening the database")?;
    let credentials = credentials::load_or_create(&config.data_dir)?;
    let token_key = store
        .get_or_init_meta(
            "streaming_url_key",
            &hex::encode(credentials::random_bytes(32)),
        )
        .await
        .context("reading the streaming-URL key")?;
    let token_key =
        tokens::TokenKey::new(hex::decode(token_key).context("decoding the streaming-URL key")?);

    let mut cp = ControlPlane::new(
        Config {
            region: REGION.into(),
            account: ACCOUNT.into(),
        },
        || {
            format!(
                "{:016x}",
                u64::from_le_bytes(credentials::random_bytes(8).try_into().expect("8 bytes"))
            )
        },
    );
    let documents = store.load_all().await.context("loading the saved state")?;
    let restored = !documents.is_empty();
    cp.restore(documents.into_iter().map(|d| (d.kind, d.document)), now())
        .context("restoring the saved state")?;

    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("listening on {}", config.listen))?;
    let tls_config = match tls {
        true => Some(tls::server_config(
            config.certificate.as_ref(),
            &config.data_dir,
        )?),
        false => None,
    };
    let scheme = if tls { "https" } else { "http" };
    let base_url = format!("{scheme}://{}", listener.local_addr()?);
    let (writes, pending_writes) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(write_in_order(store.clone(), pending_writes));
    let server = Arc::new(Server {
        cp: Mutex::new(cp),
        store,
        writes,
        credentials,
        tokens: token_key,
        instances: instances::Instances::new(
            config.runtime_dir.clone(),
            vec![config.data_dir.clone()],
        )?,
        changed: Notify::new(),
        session_signals: StdMutex::new(HashMap::new()),
        preparing: gateway::Preparing::default(),
        session_apps: catalog::SessionApps::default(),
        stopping: std::sync::atomic::AtomicBool::new(false),
        base_url: base_url.clone(),
    });
    // Sessions ended by the restart are recorded like any other.
    let ended: Vec<_> = server
        .cp
        .lock()
        .await
        .sessions()
        .filter(|s| !s.is_live())
        .map(|s| s.id.clone())
        .collect();
    server.persist_and_record(&ended).await?;
    if !restored {
        defaults::create(&server)
            .await
            .context("creating the default image, fleet and stack")?;
    }
    let effects = server.cp.lock().await.reconcile(now());
    server.apply(effects).await;

    let router = Router::new()
        .route("/", post(admin::handle))
        .route(
            "/service/PhotonAdminProxyService/operation/{operation}",
            post(admin::handle),
        )
        .route("/metrics", get(metrics::handle))
        .merge(gateway::routes())
        .with_state(server.clone());
    let ticker = tokio::spawn(tick_forever(server.clone()));
    let http = match tls_config {
        Some(tls_config) => tokio::spawn(tls::serve(listener, router, tls_config)),
        None => tokio::spawn(async move {
            // Small messages (a Hello, a keystroke's echo) must not wait for
            // Nagle's algorithm: that cost tens of ms per exchange.
            let listener = listener.tap_io(|tcp| {
                let _ = tcp.set_nodelay(true);
            });
            if let Err(err) = axum::serve(listener, router).await {
                tracing::error!("the HTTP server stopped: {err}");
            }
        }),
    };
    println!(
        "porthole: serving at {base_url}/ (admin API: aws appstream --endpoint-url {base_url})"
    );
    println!(
        "porthole: admin credentials in {}",
        config.data_dir.join(credentials::FILE_NAME).display()
    );
    if let Some(url) = defaults::welcome_url(&server).await? {
        println!("porthole: open {url}");
    }
    stop_signal().await?;
    tracing::info!("shutting down");
    ticker.abort();
    http.abort();
    server
        .stopping
        .store(true, std::sync::atomic::Ordering::SeqCst);
    // Sandboxes get their SIGTERM grace period, and their directories are removed.
    server
        .instances
        .stop_all(porthole_sandbox::STOP_GRACE + Duration::from_secs(2))
        .await;
    Ok(())
}

async fn stop_signal() -> Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}

async fn tick_forever(server: Arc<Server>) {
    let mut interval = tokio::time::interval(TICK);
    loop {
        interval.tick().await;
        let effects = server.cp.lock().await.tick(now());
        server.persist_soon().await;
        server.apply(effects).await;
    }
}

async fn write_in_order(store: Store, mut pending: tokio::sync::mpsc::UnboundedReceiver<Write>) {
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

impl Server {
    /// Saves the plane's pending changes and waits until they are durable:
    /// for answers that promise a change happened (the admin API).
    async fn persist(&self) -> Result<()> {
        let (done, durable) = tokio::sync::oneshot::channel();
        self.queue_changes(Some(done)).await;
        durable.await.context("the state writer stopped")?
    }

    /// Saves the plane's pending changes without waiting: for the streaming
    /// path, where an fsync must not delay the first frame.
    async fn persist_soon(&self) {
        self.queue_changes(None).await;
    }

    async fn queue_changes(&self, done: Option<tokio::sync::oneshot::Sender<Result<()>>>) {
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

    async fn persist_and_record(&self, ended_sessions: &[String]) -> Result<()> {
        self.persist().await?;
        for id in ended_sessions {
            let record = {
                let cp = self.cp.lock().await;
                let Ok(session) = cp.session(id) else {
                    continue;
                };
                let fleet = cp.fleet(&session.fleet).ok();
                let end = session.end_time.unwrap_or(session.start_time);
                SessionRecord {
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
                }
            };
            self.store.record_session(&record).await?;
        }
        Ok(())
    }

    /// Carries out what the control plane decided. Instance work runs in the
    /// background and reports back through the plane.
    fn apply(self: &Arc<Self>, effects: Vec<Effect>) -> futures_util::future::BoxFuture<'_, ()> {
        Box::pin(async move {
            for effect in effects {
                match effect {
                    Effect::LaunchInstance(spec) | Effect::StartInstance(spec) => {
                        if !self.stopping.load(std::sync::atomic::Ordering::SeqCst) {
                            tokio::spawn(self.clone().run_instance(spec));
                        }
                    }
                    Effect::TerminateInstance { instance_id } => {
                        if !self.instances.stop(&instance_id) {
                            // Not running here (reserved, or never started): gone already.
                            self.observe(|cp| cp.instance_exited(&instance_id, now()))
                                .await;
                        }
                    }
                    Effect::EndSession {
                        session_id, reason, ..
                    } => {
                        self.signal_session(&session_id, reason.message());
                        self.session_signals
                            .lock()
                            .expect("signals lock")
                            .remove(&session_id);
                        self.session_apps.forget(&session_id);
                        if let Err(err) = self
                            .persist_and_record(std::slice::from_ref(&session_id))
                            .await
                        {
                            tracing::error!("recording session {session_id} failed: {err:#}");
                        }
                    }
                    Effect::DisconnectSession {
                        session_id,
                        reason,
                        resume,
                    } => {
                        self.modify_signal(&session_id, |s| {
                            s.leave = Some(reason.message().to_owned());
                            s.resume = Some(resume);
                        });
                    }
                    Effect::WarnSession { session_id, notice } => {
                        self.modify_signal(&session_id, |s| match notice.kind {
                            NoticeKind::SessionEnding => s.session_ending = Some(notice),
                            NoticeKind::IdleDisconnect => s.idle = Some(notice),
                            NoticeKind::Disconnected => s.resume = Some(notice),
                        });
                    }
                }
            }
            self.changed.notify_waiters();
        })
    }

    /// Applies an observation to the plane, persists, and carries out its effects.
    async fn observe(
        self: &Arc<Self>,
        observation: impl FnOnce(&mut ControlPlane) -> porthole_control::error::Result<Vec<Effect>>,
    ) {
        let effects = observation(&mut *self.cp.lock().await);
        self.persist_soon().await;
        match effects {
            Ok(effects) => self.apply(effects).await,
            Err(err) => tracing::debug!("observation not applied: {}", err.message),
        }
    }

    async fn run_instance(self: Arc<Self>, spec: porthole_control::LaunchSpec) {
        let id = spec.instance_id.clone();
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let watcher = {
            let server = self.clone();
            let id = id.clone();
            tokio::spawn(async move {
                if ready_rx.await.is_ok() {
                    server.observe(|cp| cp.instance_ready(&id, now())).await;
                }
            })
        };
        let ended = self.instances.run(spec, ready_tx).await;
        let _ = watcher.await;
        match ended {
            // The plane backs off before replacing it: no tight loop on a broken fleet.
            instances::Ended::Failed(message) => {
                self.observe(|cp| cp.instance_failed(&id, &message, now()))
                    .await
            }
            instances::Ended::Exited => self.observe(|cp| cp.instance_exited(&id, now())).await,
        }
    }

    /// Re-checks the plane each time it changes until `check` decides
    /// (Some), or fails with `timeout_message` at `limit`.
    async fn wait_for<T>(
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

    fn signal_session(&self, session_id: &str, reason: &str) {
        self.modify_signal(session_id, |s| s.leave = Some(reason.to_owned()));
    }

    fn modify_signal(&self, session_id: &str, modify: impl FnOnce(&mut SessionSignal)) {
        if let Some(signal) = self
            .session_signals
            .lock()
            .expect("signals lock")
            .get(session_id)
        {
            signal.send_modify(modify);
        }
    }

    fn session_signal(&self, session_id: &str) -> watch::Receiver<SessionSignal> {
        let mut signals = self.session_signals.lock().expect("signals lock");
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
}

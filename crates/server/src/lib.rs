//! `porthole serve`: the control plane in one process. One port serves the
//! AppStream-compatible admin API (admin.rs), the web client and the browsers'
//! streaming connections (gateway.rs, proxied to each instance's agent), and
//! /metrics. State lives in the pure `porthole-control` plane, persisted by
//! `porthole-store` after every change; instances are sandboxes (instances.rs).
//!
//! This file only composes. Handlers (admin, gateway, catalog, metrics,
//! defaults) depend downward on [`state::Server`]: the plane's handle
//! (plane.rs: lock, persist, wait for a change), the sessions' bookkeeping
//! (sessions.rs), the instances and the keys; effects.rs carries out what
//! the plane decides.

mod admin;
mod agent_copy;
mod catalog;
mod config;
mod console;
mod credentials;
mod defaults;
mod effects;
mod files;
mod gateway;
mod home_folders;
mod home_sync;
mod image_assistant;
mod image_import;
mod image_store;
mod instances;
mod mail;
mod metrics;
mod oidc;
mod passwords;
mod plane;
mod portal;
mod saml;
mod session_scripts;
mod sessions;
mod state;
mod tls;
mod tokens;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use axum::Router;
use porthole_control::{Config, ControlPlane};
use porthole_store::Store;

use crate::plane::Plane;
use crate::state::{now, IdentityProviders, Server, ServerParts};

pub use config::FileConfig;
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
    /// Send user messages through this SMTP server (`smtp://`, `smtps://`);
    /// they are always kept in the data directory's outbox first.
    pub smtp_url: Option<String>,
    /// The sender of user messages.
    pub mail_from: Option<String>,
    /// The config file's settings (identity providers).
    pub file: FileConfig,
}

const REGION: &str = "us-east-1";
const ACCOUNT: &str = "000000000000";
const TICK: Duration = Duration::from_secs(1);

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
    let image_store = image_store::ImageStore::new(&config.data_dir)?;
    let instances = instances::Instances::new(
        config.runtime_dir.clone(),
        vec![config.data_dir.clone()],
        image_store.dir().to_owned(),
    )?;
    let server = Arc::new(Server::new(ServerParts {
        plane: Plane::new(cp, store),
        credentials,
        tokens: token_key,
        instances,
        mailer: mail::Mailer::new(
            &config.data_dir,
            config.smtp_url.as_deref(),
            config.mail_from.as_deref(),
        )?,
        idps: IdentityProviders {
            oidc: oidc::OidcProviders::new(config.file.oidc)?,
            saml: saml::SamlProviders::new(config.file.saml, &base_url)?,
        },
        home_folders: home_folders::HomeFolders::new(&config.data_dir, &config.file.home_folders)?,
        image_store,
        session_scripts: session_scripts::SessionScriptRuns::new(&config.data_dir),
        base_url: base_url.clone(),
    }));
    // Sessions ended by the restart are recorded like any other.
    let ended: Vec<_> = server
        .plane
        .lock()
        .await
        .sessions()
        .filter(|s| !s.is_live())
        .map(|s| s.id.clone())
        .collect();
    server.plane.persist_and_record(&ended).await?;
    if !restored {
        defaults::create(&server)
            .await
            .context("creating the default image, fleet and stack")?;
    }
    // Roots an import left when the server died before the image was saved.
    server.remove_unused_layers().await;
    let effects = server.plane.lock().await.reconcile(now());
    server.apply(effects).await;

    let router = Router::new()
        .route("/", post(admin::handle))
        .route(
            "/service/PhotonAdminProxyService/operation/{operation}",
            post(admin::handle),
        )
        .route("/metrics", get(metrics::handle))
        .route(image_import::PATH, post(image_import::handle))
        .merge(portal::routes())
        .merge(console::routes())
        .merge(gateway::routes())
        .with_state(server.clone());
    let ticker = tokio::spawn(tick_forever(server.clone()));
    let quotas = tokio::spawn(server.clone().check_quotas());
    let sync = tokio::spawn(server.clone().sync_home_folders());
    if server.mailer.sends_by_smtp() {
        tokio::spawn(retry_mail_forever(server.clone()));
    }
    let http = match tls_config {
        Some(tls_config) => tokio::spawn(tls::serve(listener, router, tls_config)),
        None => tokio::spawn(async move {
            // Small messages (a Hello, a keystroke's echo) must not wait for
            // Nagle's algorithm: that cost tens of ms per exchange.
            let listener = listener.tap_io(|tcp| {
                let _ = tcp.set_nodelay(true);
            });
            if let Err(err) = axum::serve(
                listener,
                router.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
            {
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
    quotas.abort();
    sync.abort();
    http.abort();
    server.stop();
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

/// Messages the SMTP server did not take (or left from before a restart).
async fn retry_mail_forever(server: Arc<Server>) {
    let mut interval = tokio::time::interval(mail::RETRY_INTERVAL);
    loop {
        interval.tick().await;
        server.mailer.send_pending().await;
    }
}

async fn tick_forever(server: Arc<Server>) {
    let mut interval = tokio::time::interval(TICK);
    loop {
        interval.tick().await;
        let effects = server.plane.lock().await.tick(now());
        server.plane.persist_soon().await;
        server.apply(effects).await;
    }
}

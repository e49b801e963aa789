//! TLS for listening beyond loopback: browsers only give WebCodecs and the
//! async Clipboard API to secure contexts, and admin credentials and session
//! tokens must not cross a network in clear. Uses the given certificate, or a
//! self-signed one made at first start and kept in DATA_DIR/tls/.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

pub struct CertificateFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// The given certificate, or the self-signed one in `data_dir` (made if missing).
pub fn server_config(
    given: Option<&CertificateFiles>,
    data_dir: &Path,
) -> Result<Arc<rustls::ServerConfig>> {
    let files = match given {
        Some(files) => CertificateFiles {
            cert: files.cert.clone(),
            key: files.key.clone(),
        },
        None => self_signed(data_dir)?,
    };
    let certs = CertificateDer::pem_file_iter(&files.cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("reading certificates from {}", files.cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .with_context(|| format!("reading the private key from {}", files.key.display()))?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .context("choosing TLS versions")?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .context("loading the TLS certificate")?;
    // WebSocket upgrades are HTTP/1.1.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn self_signed(data_dir: &Path) -> Result<CertificateFiles> {
    let dir = data_dir.join("tls");
    let files = CertificateFiles {
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
    };
    if files.cert.exists() && files.key.exists() {
        return Ok(files);
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned(), hostname()];
    let certified =
        rcgen::generate_simple_self_signed(names).context("making a self-signed certificate")?;
    std::fs::write(&files.cert, certified.cert.pem())
        .with_context(|| format!("writing {}", files.cert.display()))?;
    crate::credentials::write_private_file(
        &files.key,
        certified.signing_key.serialize_pem().as_bytes(),
    )?;
    Ok(files)
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map_or_else(|_| "localhost".to_owned(), |h| h.trim().to_owned())
}

/// Serves `router` over TLS until the task is dropped. A failed handshake
/// closes only that connection.
pub async fn serve(listener: TcpListener, router: Router, config: Arc<rustls::ServerConfig>) {
    let acceptor = TlsAcceptor::from(config);
    loop {
        let Ok((tcp, peer)) = listener.accept().await else {
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        // What ConnectInfo<SocketAddr> reads, as axum::serve provides it.
        let service = TowerToHyperService::new(
            router
                .clone()
                .layer(axum::Extension(axum::extract::ConnectInfo(peer))),
        );
        tokio::spawn(async move {
            let tls = match acceptor.accept(tcp).await {
                Ok(tls) => tls,
                Err(err) => {
                    tracing::debug!(%peer, "TLS handshake failed: {err}");
                    return;
                }
            };
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            if let Err(err) = builder
                .serve_connection_with_upgrades(TokioIo::new(tls), service)
                .await
            {
                tracing::debug!(%peer, "connection ended: {err}");
            }
        });
    }
}

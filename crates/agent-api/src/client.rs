//! The server's client of one agent: HTTP/1.1 over its Unix socket, one
//! connection per request (requests are rare: a health probe, an app launch).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use tokio::net::UnixStream;

use crate::{
    AgentError, LaunchRequest, Launched, Ran, RunRequest, HEALTH_PATH, LAUNCH_PATH, RUN_PATH,
};

pub struct AgentClient {
    socket: PathBuf,
}

impl AgentClient {
    pub fn new(socket: impl Into<PathBuf>) -> Self {
        Self {
            socket: socket.into(),
        }
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Ok once the agent's display is up.
    pub async fn health(&self) -> Result<()> {
        let (status, body) = self.request(Method::GET, HEALTH_PATH, None).await?;
        if status != StatusCode::OK {
            bail!(
                "the agent is not healthy ({status}): {}",
                error_message(&body)
            );
        }
        Ok(())
    }

    /// Starts an app; the error is the agent's own explanation.
    pub async fn launch(&self, request: &LaunchRequest) -> Result<Launched> {
        let body = serde_json::to_vec(request).context("encoding the launch request")?;
        let (status, body) = self.request(Method::POST, LAUNCH_PATH, Some(body)).await?;
        if status != StatusCode::OK {
            bail!(
                "the agent could not start the app: {}",
                error_message(&body)
            );
        }
        parse(&body)
    }

    /// Runs a command to its end (or its time limit) in the instance; an error when it
    /// could not be started.
    pub async fn run(&self, request: &RunRequest) -> Result<Ran> {
        let body = serde_json::to_vec(request).context("encoding the run request")?;
        let (status, body) = self.request(Method::POST, RUN_PATH, Some(body)).await?;
        if status != StatusCode::OK {
            bail!(
                "the agent could not run {}: {}",
                request.launch.command.first().map_or("", String::as_str),
                error_message(&body)
            );
        }
        parse(&body)
    }

    async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<(StatusCode, Bytes)> {
        let stream = UnixStream::connect(&self.socket)
            .await
            .with_context(|| format!("connecting to {}", self.socket.display()))?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .context("talking HTTP to the agent")?;
        // Drives the connection until the exchange is over.
        tokio::spawn(connection);
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, "agent");
        if body.is_some() {
            request = request.header(hyper::header::CONTENT_TYPE, "application/json");
        }
        let request = request
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .context("building the request")?;
        let response = sender
            .send_request(request)
            .await
            .with_context(|| format!("asking the agent for {path}"))?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .context("reading the agent's answer")?
            .to_bytes();
        Ok((status, body))
    }
}

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T> {
    serde_json::from_slice(body).context("a malformed answer from the agent")
}

/// The agent's [`AgentError`], or the body as text from something else.
fn error_message(body: &[u8]) -> String {
    parse::<AgentError>(body)
        .map(|e| e.message)
        .unwrap_or_else(|_| String::from_utf8_lossy(body).into_owned())
}

//! `porthole image import`: sends an OCI image (a layout directory, tarred on the way,
//! or an archive from `docker save` / `skopeo copy oci-archive:`) to a server's import
//! route, signed with SigV4 like any admin request.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{bail, Context, Result};
use aws_sigv4::http_request::{
    sign, PayloadChecksumKind, SignableBody, SignableRequest, SigningSettings,
};
use sha2::{Digest, Sha256};

pub struct ImportArgs {
    pub source: PathBuf,
    pub name: String,
    pub display_name: Option<String>,
    pub description: Option<String>,
    pub endpoint: String,
    pub region: String,
    pub credentials_file: PathBuf,
    pub insecure: bool,
}

/// The path the server imports from (crates/server/src/image_import.rs).
const IMPORT_PATH: &str = "/porthole/images/import";

pub async fn import(args: ImportArgs) -> Result<serde_json::Value> {
    let (access_key, secret_key, session_token) = credentials(&args.credentials_file)?;
    // A directory goes as the tar of itself (the server accepts both shapes as archives).
    let staged;
    let archive = if args.source.is_dir() {
        staged = tempfile::NamedTempFile::new().context("creating a temporary archive")?;
        let mut builder = tar::Builder::new(staged.reopen()?);
        builder.follow_symlinks(false);
        builder
            .append_dir_all(".", &args.source)
            .with_context(|| format!("archiving {}", args.source.display()))?;
        builder.finish()?;
        staged.path().to_owned()
    } else {
        args.source.clone()
    };
    let digest = sha256_of(&archive)?;
    let mut query = format!("Name={}", encode(&args.name));
    for (key, value) in [
        ("DisplayName", &args.display_name),
        ("Description", &args.description),
    ] {
        if let Some(value) = value {
            query.push_str(&format!("&{key}={}", encode(value)));
        }
    }
    let url = format!(
        "{}{IMPORT_PATH}?{query}",
        args.endpoint.trim_end_matches('/')
    );
    let host = reqwest::Url::parse(&url)
        .with_context(|| format!("the endpoint {}", args.endpoint))?
        .host_str()
        .map(str::to_owned)
        .context("the endpoint has no host")?;
    let host = match reqwest::Url::parse(&url)?.port() {
        Some(port) => format!("{host}:{port}"),
        None => host,
    };
    let identity = aws_credential_types::Credentials::new(
        access_key,
        secret_key,
        session_token,
        None,
        "porthole",
    )
    .into();
    let mut settings = SigningSettings::default();
    settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(&args.region)
        .name("appstream")
        .time(SystemTime::now())
        .settings(settings)
        .build()?
        .into();
    let headers = [("host", host.as_str())];
    let signable = SignableRequest::new(
        "POST",
        &url,
        headers.into_iter(),
        SignableBody::Precomputed(hex::encode(digest)),
    )?;
    let (instructions, _) = sign(signable, &params)?.into_parts();
    let client = reqwest::Client::builder()
        .danger_accept_invalid_certs(args.insecure)
        .build()?;
    let mut request = client.post(&url).body(reqwest::Body::from(
        tokio::fs::File::open(&archive)
            .await
            .with_context(|| format!("opening {}", archive.display()))?,
    ));
    for (name, value) in instructions.headers() {
        request = request.header(name, value);
    }
    let response = request
        .send()
        .await
        .with_context(|| format!("sending the image to {}", args.endpoint))?;
    let status = response.status();
    let body: serde_json::Value = response
        .json()
        .await
        .context("reading the server's answer")?;
    if !status.is_success() {
        let code = body["__type"].as_str().unwrap_or("error");
        let message = body["message"]
            .as_str()
            .or(body["Message"].as_str())
            .unwrap_or("");
        bail!("the server refused the image ({status}, {code}): {message}");
    }
    Ok(body)
}

/// AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN) when set, else the
/// default profile of a shared-credentials file (the server's DATA_DIR/credentials).
fn credentials(file: &Path) -> Result<(String, String, Option<String>)> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    if let (Some(key), Some(secret)) = (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
        return Ok((key, secret, env("AWS_SESSION_TOKEN")));
    }
    let text = std::fs::read_to_string(file).with_context(|| {
        format!(
            "reading credentials from {} (or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)",
            file.display()
        )
    })?;
    let value = |key: &str| {
        text.lines()
            .filter_map(|line| line.split_once('='))
            .find(|(k, _)| k.trim() == key)
            .map(|(_, v)| v.trim().to_owned())
            .with_context(|| format!("{} has no {key}", file.display()))
    };
    Ok((
        value("aws_access_key_id")?,
        value("aws_secret_access_key")?,
        None,
    ))
}

fn sha256_of(path: &Path) -> Result<[u8; 32]> {
    let mut file =
        std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            return Ok(hasher.finalize().into());
        }
        hasher.update(&buffer[..n]);
    }
}

/// RFC 3986 unreserved characters stay; everything else is percent-encoded (SigV4's rule).
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

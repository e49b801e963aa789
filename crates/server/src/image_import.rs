//! `POST /porthole/images/import?Name=...`: an OCI image (the tar of an image layout,
//! what `docker save`, `skopeo copy oci-archive:` or `porthole image import` send)
//! becomes an AVAILABLE image. AppStream's CreateImportedImage only takes AMIs, so OCI
//! import has this route of its own, signed with SigV4 like the admin API. The body
//! streams to disk while it is hashed: the signature is checked against that hash
//! before anything is unpacked. The answer is DescribeImages' document of the image.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use porthole_appstream_api::{ApiError, Protocol, Service};
use porthole_control::image::{Image, ImageState, Visibility};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::admin::{authenticate, error_response};
use crate::state::{now, Server};

pub const PATH: &str = "/porthole/images/import";
/// Larger uploads are refused as they arrive.
const MAX_ARCHIVE_BYTES: u64 = 32 << 30;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImportQuery {
    name: String,
    display_name: Option<String>,
    description: Option<String>,
}

pub async fn handle(
    State(server): State<Arc<Server>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    query: Result<Query<ImportQuery>, axum::extract::rejection::QueryRejection>,
    body: Body,
) -> Response {
    let request_id = hex::encode(crate::credentials::random_bytes(16));
    let archive = server.image_store.scratch_path("upload");
    let result = import(&server, &method, &uri, &headers, query, body, &archive).await;
    let _ = tokio::fs::remove_file(&archive).await;
    match result {
        Ok(document) => (StatusCode::OK, axum::Json(document)).into_response(),
        Err(err) => {
            tracing::info!(code = %err.code, "image import refused: {}", err.message);
            error_response(Protocol::AwsJson11, &err, &request_id)
        }
    }
}

async fn import(
    server: &Arc<Server>,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    query: Result<Query<ImportQuery>, axum::extract::rejection::QueryRejection>,
    body: Body,
    archive: &std::path::Path,
) -> Result<serde_json::Value, ApiError> {
    let service = Service::AppStream;
    let digest = receive(body, archive).await?;
    let header_list: Vec<(String, String)> = headers
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    authenticate(
        server,
        service,
        method,
        uri,
        &header_list,
        porthole_sigv4::Payload::Sha256(digest),
    )?;
    let Query(query) = query.map_err(|err| {
        service.error(
            "InvalidParameterValueException",
            format!("{}: Name is required", err.body_text()),
        )
    })?;
    let invalid = |message: String| service.error("InvalidParameterValueException", message);
    if !porthole_control::desktop_entry::is_valid_name(&query.name) {
        return Err(invalid(format!(
            "Name {:?}: use letters, digits, '_', '.', '-' (up to 100), starting with a letter or digit.",
            query.name
        )));
    }
    let exists = |cp: &porthole_control::ControlPlane| {
        cp.image(&query.name).is_ok().then(|| {
            service.error(
                "ResourceAlreadyExistsException",
                format!("The image {} already exists.", query.name),
            )
        })
    };
    if let Some(err) = exists(&*server.plane.lock().await) {
        return Err(err);
    }
    let store = server.clone();
    let source = archive.to_owned();
    let imported = tokio::task::spawn_blocking(move || store.image_store.import(&source))
        .await
        .map_err(|err| ApiError::internal(format!("the import stopped: {err}")))?
        .map_err(|err| invalid(format!("The image cannot be imported: {err:#}")))?;
    let document = {
        let mut cp = server.plane.lock().await;
        if let Some(err) = exists(&cp) {
            drop(cp);
            server.remove_unused_layers().await;
            return Err(err);
        }
        let applications =
            crate::defaults::with_icon_urls(&server.base_url, &query.name, imported.applications);
        cp.put_image(Image {
            name: query.name.clone(),
            display_name: query
                .display_name
                .clone()
                .unwrap_or_else(|| query.name.clone()),
            description: query.description.clone().unwrap_or_default(),
            state: ImageState::Available,
            visibility: Visibility::Private,
            platform: "AMAZON_LINUX2".to_owned(),
            created_time: now(),
            applications,
            root: imported.root,
            tags: Default::default(),
            shared_with: Default::default(),
        });
        let described = porthole_appstream_ops::APPSTREAM.call(
            &mut cp,
            "DescribeImages",
            &serde_json::json!({ "Names": [query.name] }),
            now(),
        );
        match described {
            Ok(porthole_appstream_ops::Outcome::Done(mut doc)) => {
                serde_json::json!({ "Image": doc["Images"][0].take() })
            }
            _ => return Err(ApiError::internal("describing the imported image failed")),
        }
    };
    server
        .plane
        .persist()
        .await
        .map_err(|err| ApiError::internal(format!("saving state failed: {err:#}")))?;
    tracing::info!(image = %query.name, "image imported");
    Ok(document)
}

/// Writes the body to `path`, hashing it; refuses one over [`MAX_ARCHIVE_BYTES`].
async fn receive(body: Body, path: &std::path::Path) -> Result<[u8; 32], ApiError> {
    let write_failed =
        |err: std::io::Error| ApiError::internal(format!("storing the upload failed: {err}"));
    let mut file = tokio::fs::File::create(path).await.map_err(write_failed)?;
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk =
            chunk.map_err(|err| ApiError::serialization(format!("reading the upload: {err}")))?;
        size += chunk.len() as u64;
        if size > MAX_ARCHIVE_BYTES {
            return Err(ApiError::serialization(format!(
                "the archive is over {MAX_ARCHIVE_BYTES} bytes"
            ))
            .with_status(413));
        }
        hasher.update(&chunk);
        file.write_all(&chunk).await.map_err(write_failed)?;
    }
    file.flush().await.map_err(write_failed)?;
    Ok(hasher.finalize().into())
}

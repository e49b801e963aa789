//! The admin API endpoint, for AppStream and for Application Auto Scaling
//! (which scales fleets): SigV4 authentication, the wire layer
//! (porthole-appstream-api) and the control plane's operations.

use std::sync::Arc;
use std::time::SystemTime;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use porthole_appstream_api::{self as wire, ApiError, Protocol, Route, Service};
use porthole_appstream_ops::{self as ops, Outcome};

use crate::state::{now, Server};

/// Larger admin requests are refused before parsing (AppStream's are small).
pub const MAX_BODY: usize = 1 << 20;

pub async fn handle(
    State(server): State<Arc<Server>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request_id = hex::encode(crate::credentials::random_bytes(16));
    let header_list: Vec<(String, String)> = headers
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    let route = match wire::route(method.as_str(), uri.path(), &header_list) {
        Ok(route) => route,
        Err(err) => return error_response(Protocol::AwsJson11, &err, &request_id),
    };
    let (service, protocol) = (route.service, route.protocol);
    if body.len() > MAX_BODY {
        let err =
            ApiError::serialization(format!("request body over {MAX_BODY} bytes")).with_status(413);
        return error_response(protocol, &err, &request_id);
    }
    let payload = porthole_sigv4::Payload::Bytes(&body);
    if let Err(err) = authenticate(&server, service, &method, &uri, &header_list, payload) {
        return error_response(protocol, &err, &request_id);
    }
    let operation = route.operation.clone();
    match call(&server, &route, &body).await {
        Ok(output) => {
            let mut response = (StatusCode::OK, output).into_response();
            for (name, value) in wire::response_headers(protocol) {
                insert_header(&mut response, &name, &value);
            }
            insert_header(&mut response, "x-amzn-requestid", &request_id);
            response
        }
        Err(err) => {
            tracing::info!(%operation, code = %err.code, "admin request refused: {}", err.message);
            error_response(protocol, &err, &request_id)
        }
    }
}

/// Checks the request's SigV4 signature against the administrator's key or the
/// console's temporary credentials.
pub(crate) fn authenticate(
    server: &Server,
    service: Service,
    method: &Method,
    uri: &Uri,
    headers: &[(String, String)],
    body: porthole_sigv4::Payload<'_>,
) -> Result<(), ApiError> {
    let request = porthole_sigv4::Request {
        method: method.as_str(),
        path: uri.path(),
        query: uri.query().unwrap_or(""),
        headers,
        body,
    };
    let credentials = &server.credentials;
    let at = now();
    // The administrator's key, or the console's temporary credentials.
    let secrets = |key: &str, session_token: Option<&str>| match session_token {
        _ if key == credentials.access_key_id => Ok(credentials.secret_access_key.clone()),
        Some(token) => crate::console::secret_for(&server.tokens, key, token, at),
        None => Err(porthole_sigv4::AuthError::UnknownAccessKey),
    };
    // The credential scope names the service the client signed for.
    porthole_sigv4::verify(
        &request,
        &secrets,
        service.signing_name(),
        SystemTime::now(),
    )
    .map(|_| ())
    .map_err(|err| {
        service
            .error(err.aws_code(), err.message())
            .with_status(err.http_status())
    })
}

async fn call(server: &Arc<Server>, route: &Route, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let Route {
        service,
        protocol,
        operation,
    } = route;
    let (service, protocol, operation) = (*service, *protocol, operation.as_str());
    let operations = match service {
        Service::AppStream => &ops::APPSTREAM,
        Service::ApplicationAutoScaling => &ops::APPLICATION_AUTO_SCALING,
    };
    if !operations.implements(operation) {
        // route() only lets through operations of the service's model.
        return Err(service.unsupported_operation(operation));
    }
    let input = wire::decode_input(service, protocol, operation, body)?;
    let (outcome, effects) = {
        let mut cp = server.plane.lock().await;
        let outcome = operations.call(&mut cp, operation, &input, now());
        (outcome, cp.take_effects())
    };
    // State is saved before the client hears of it: a crash after the answer loses nothing.
    server
        .plane
        .persist()
        .await
        .map_err(|err| ApiError::internal(format!("saving state failed: {err:#}")))?;
    server.apply(effects).await;
    if matches!(operation, "DeleteImage" | "DeleteImageBuilder") && outcome.is_ok() {
        server.remove_unused_layers().await;
    }
    let output = match outcome.map_err(|err| service.error(err.aws_code(), err.message))? {
        Outcome::Done(output) => output,
        Outcome::StreamingUrl(grant) => {
            let url = format!(
                "{}/session/{}/",
                server.base_url,
                server.tokens.sign(&grant)
            );
            ops::streaming_url_output(&url, &grant)
        }
    };
    wire::encode_output(service, protocol, operation, &output)
}

pub(crate) fn error_response(protocol: Protocol, err: &ApiError, request_id: &str) -> Response {
    let (status, headers, body) = wire::encode_error(protocol, err);
    let mut response = (
        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
        body,
    )
        .into_response();
    for (name, value) in headers {
        insert_header(&mut response, &name, &value);
    }
    insert_header(&mut response, "x-amzn-requestid", request_id);
    response
}

fn insert_header(response: &mut Response, name: &str, value: &str) {
    if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
        response.headers_mut().insert(name, value);
    }
}

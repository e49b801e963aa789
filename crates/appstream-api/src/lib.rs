//! The admin APIs' wire layer, driven by the official botocore models
//! (`model/<service>/service-2.json.gz`, embedded): routing, decoding and
//! validating inputs, encoding outputs and errors. Two services share one
//! port and one code path, told apart by their model's `targetPrefix`:
//!
//! - [`Service::AppStream`] (`PhotonAdminProxyService`), in both protocols
//!   its model lists;
//! - [`Service::ApplicationAutoScaling`] (`AnyScaleFrontendService`), which
//!   scales AppStream fleets, in awsJson1_1 only.
//!
//! The protocols:
//! - awsJson1_1: `POST /`, `X-Amz-Target: <targetPrefix>.<Op>`,
//!   JSON bodies, timestamps as epoch-seconds numbers;
//! - rpcv2Cbor: `POST /service/<targetPrefix>/operation/<Op>`,
//!   `smithy-protocol: rpc-v2-cbor`, CBOR bodies, timestamps as tag 1.
//!
//! Documents are `serde_json::Value`s shaped as the model says, in either
//! protocol; this crate knows nothing of fleets or sessions.

mod cbor;
mod model;
mod validate;

use serde_json::{json, Value};

use model::Model;
pub use model::Paginator;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    AwsJson11,
    RpcV2Cbor,
}

/// A service whose botocore model is embedded here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    AppStream,
    ApplicationAutoScaling,
}

/// An error in AWS's shape: `code` is what clients surface as the error code
/// (`__type`), `status` the HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code} ({status}): {message}")]
pub struct ApiError {
    pub code: String,
    pub message: String,
    pub status: u16,
}

impl ApiError {
    /// An error of no particular service: 400 unless told otherwise.
    fn plain(code: &str, message: impl Into<String>) -> Self {
        ApiError {
            code: code.to_owned(),
            message: message.into(),
            status: 400,
        }
    }

    pub fn with_status(self, status: u16) -> Self {
        ApiError { status, ..self }
    }

    /// Input that breaks the model's constraints (400 in every model).
    pub fn validation(message: impl Into<String>) -> Self {
        Self::plain("ValidationException", message)
    }

    /// A body that is not well-formed JSON/CBOR or has a value of the wrong type.
    pub fn serialization(message: impl Into<String>) -> Self {
        Self::plain("SerializationException", message)
    }

    /// A request that names no operation of any service served here.
    pub fn unknown_operation(message: impl Into<String>) -> Self {
        Self::plain("UnknownOperationException", message)
    }

    /// A failure on the server's side (an output that does not fit the model).
    pub fn internal(message: impl Into<String>) -> Self {
        Self::plain("InternalFailure", message).with_status(500)
    }
}

impl Service {
    pub const ALL: [Service; 2] = [Service::AppStream, Service::ApplicationAutoScaling];

    fn model(self) -> &'static Model {
        match self {
            Service::AppStream => &model::APPSTREAM,
            Service::ApplicationAutoScaling => &model::APPLICATION_AUTOSCALING,
        }
    }

    /// The model's `serviceId` ("AppStream", "Application Auto Scaling").
    pub fn name(self) -> &'static str {
        &self.model().metadata.service_id
    }

    /// The service name in SigV4 credential scopes (`signingName`).
    pub fn signing_name(self) -> &'static str {
        &self.model().metadata.signing_name
    }

    /// The service name on the wire (`targetPrefix`).
    pub fn target_prefix(self) -> &'static str {
        &self.model().metadata.target_prefix
    }

    /// Whether the model lists rpcv2Cbor among its protocols.
    pub fn speaks_cbor(self) -> bool {
        self.model()
            .metadata
            .protocols
            .iter()
            .any(|p| p == "smithy-rpc-v2-cbor")
    }

    /// Whether the model has this operation.
    pub fn operation_exists(self, name: &str) -> bool {
        self.model().operations.contains_key(name)
    }

    fn operation(self, name: &str) -> Result<&'static model::Operation, ApiError> {
        self.model()
            .operations
            .get(name)
            .ok_or_else(|| self.unknown_operation(name))
    }

    /// An error with the HTTP status this service's model gives the code's
    /// error shape (`error.httpStatusCode`): AppStream's ResourceNotFoundException
    /// is 404, DryRunOperationException 412; codes without one (all of
    /// Application Auto Scaling's) or not in the model get 400.
    pub fn error(self, code: impl Into<String>, message: impl Into<String>) -> ApiError {
        let code = code.into();
        let status = self
            .model()
            .error_statuses
            .get(&code)
            .copied()
            .unwrap_or(400);
        ApiError {
            code,
            message: message.into(),
            status,
        }
    }

    /// An operation in the model that Porthole does not implement yet.
    ///
    /// The code is `UnsupportedOperationException`, which neither model
    /// defines: the modelled alternatives (OperationNotPermittedException,
    /// ValidationException) mean "not allowed in this state/input" and boto3
    /// raises them as typed exceptions that scripts may catch and misread. An
    /// unmodelled code reaches the caller as a plain ClientError with this
    /// exact code and message. 400, so no client retries it.
    pub fn unsupported_operation(self, operation: &str) -> ApiError {
        self.error(
            "UnsupportedOperationException",
            format!(
                "Porthole does not support the {} operation {operation} yet",
                self.name()
            ),
        )
    }

    /// An operation name that is not in this service's API at all.
    pub fn unknown_operation(self, operation: &str) -> ApiError {
        ApiError::unknown_operation(format!(
            "{operation} is not an operation of the {} API",
            self.name()
        ))
    }

    /// The pagination member names of an operation (paginators-1.json), if it paginates.
    pub fn paginator(self, operation: &str) -> Option<Paginator> {
        self.model().paginators.get(operation).cloned()
    }
}

/// Which service, protocol and operation a request is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub service: Service,
    pub protocol: Protocol,
    pub operation: String,
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
}

/// `/service/<targetPrefix>/operation/<Op>` of a service that speaks CBOR.
fn cbor_route(path: &str) -> Option<(Service, &str)> {
    let rest = path.strip_prefix("/service/")?;
    let (prefix, operation) = rest.split_once("/operation/")?;
    Service::ALL
        .into_iter()
        .find(|s| s.speaks_cbor() && s.target_prefix() == prefix)
        .map(|s| (s, operation))
}

/// Figures out the service, protocol and operation of an API request.
///
/// awsJson1_1 is `POST /` with `X-Amz-Target: <targetPrefix>.<Op>`;
/// rpcv2Cbor is `POST /service/<targetPrefix>/operation/<Op>` with
/// `smithy-protocol: rpc-v2-cbor` (which the rpcv2 spec makes mandatory).
/// Content-Type is not checked: clients send it only with a body, and the
/// body's decoder reports a body that is not what the protocol says.
/// The operation returned is in the service's model (else UnknownOperationException).
pub fn route(method: &str, path: &str, headers: &[(String, String)]) -> Result<Route, ApiError> {
    let path = path.split('?').next().unwrap_or_default();
    if !method.eq_ignore_ascii_case("POST") {
        return Err(ApiError::unknown_operation(format!(
            "{method} {path} is not an admin API request (the API takes POST)"
        )));
    }
    let (service, protocol, operation) = if let Some((service, operation)) = cbor_route(path) {
        match header(headers, "smithy-protocol") {
            Some("rpc-v2-cbor") => (service, Protocol::RpcV2Cbor, operation),
            other => {
                return Err(ApiError::serialization(format!(
                "rpcv2Cbor requests need the header smithy-protocol: rpc-v2-cbor (got {other:?})"
            )))
            }
        }
    } else if path == "/" {
        let target = header(headers, "x-amz-target").ok_or_else(|| {
            ApiError::unknown_operation(
                "missing X-Amz-Target header (PhotonAdminProxyService.<Operation> or \
                 AnyScaleFrontendService.<Operation>)",
            )
        })?;
        let (prefix, operation) = target.split_once('.').unwrap_or((target, ""));
        let service = Service::ALL
            .into_iter()
            .find(|s| s.target_prefix() == prefix)
            .ok_or_else(|| {
                ApiError::unknown_operation(format!(
                    "{target} is not an operation of any API Porthole serves"
                ))
            })?;
        (service, Protocol::AwsJson11, operation)
    } else {
        return Err(ApiError::unknown_operation(format!(
            "{path} is not an admin API path"
        )));
    };
    if !service.operation_exists(operation) {
        return Err(service.unknown_operation(operation));
    }
    Ok(Route {
        service,
        protocol,
        operation: operation.to_string(),
    })
}

/// Decodes a request body and validates it against the operation's input shape.
///
/// An empty body is `{}`. Returns only the modelled members (unknown ones are
/// ignored, as AWS does), nulls dropped. Malformed bodies and values of the
/// wrong type are SerializationException; broken constraints are one
/// ValidationException listing them all, worded as AWS words them.
pub fn decode_input(
    service: Service,
    protocol: Protocol,
    operation_name: &str,
    body: &[u8],
) -> Result<Value, ApiError> {
    let op = service.operation(operation_name)?;
    let document = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        match protocol {
            Protocol::AwsJson11 => serde_json::from_slice(body)
                .map_err(|e| ApiError::serialization(format!("malformed JSON body: {e}")))?,
            Protocol::RpcV2Cbor => cbor::decode(body).map_err(ApiError::serialization)?,
        }
    };
    if !document.is_object() {
        return Err(ApiError::serialization(format!(
            "the request body must be an object, not {}",
            validate::render(&document)
        )));
    }
    let Some(input) = &op.input else {
        return Ok(json!({}));
    };
    let checked = validate::check_input(service.model(), input, &document)
        .map_err(ApiError::serialization)?;
    match checked.violations.len() {
        0 => Ok(checked.value),
        n => Err(ApiError::validation(format!(
            "{n} validation error{} detected: {}",
            if n == 1 { "" } else { "s" },
            checked.violations.join("; ")
        ))),
    }
}

fn without_nulls(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), without_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}

/// Encodes an operation's output document. JSON: as given, nulls omitted.
/// CBOR: guided by the output shape (timestamps as tag 1 + float64, blobs as
/// byte strings). `null` or an operation without output is `{}` / an empty map.
pub fn encode_output(
    service: Service,
    protocol: Protocol,
    operation_name: &str,
    output: &Value,
) -> Result<Vec<u8>, ApiError> {
    let op = service.operation(operation_name)?;
    let empty = json!({});
    let output = if output.is_null() { &empty } else { output };
    if !output.is_object() {
        return Err(ApiError::internal(format!(
            "{operation_name} output must be an object, not {output}"
        )));
    }
    match protocol {
        Protocol::AwsJson11 => serde_json::to_vec(&without_nulls(output))
            .map_err(|e| ApiError::internal(format!("{operation_name} output: {e}"))),
        Protocol::RpcV2Cbor => {
            let mut writer = cbor::Writer::default();
            match &op.output {
                Some(shape) => writer
                    .typed(service.model(), shape, output)
                    .map_err(|e| ApiError::internal(format!("{operation_name}: {e}")))?,
                None => writer.map_header(0),
            }
            Ok(writer.bytes)
        }
    }
}

/// The Content-Type of the protocol's bodies.
pub fn content_type(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::AwsJson11 => "application/x-amz-json-1.1",
        Protocol::RpcV2Cbor => "application/cbor",
    }
}

/// The headers every response of the protocol carries (success or error):
/// Content-Type, and for rpcv2Cbor the `smithy-protocol` header the spec
/// requires on responses.
pub fn response_headers(protocol: Protocol) -> Vec<(String, String)> {
    let mut headers = vec![(
        "Content-Type".to_string(),
        content_type(protocol).to_string(),
    )];
    if protocol == Protocol::RpcV2Cbor {
        headers.push(("smithy-protocol".to_string(), "rpc-v2-cbor".to_string()));
    }
    headers
}

/// An error response: status, headers and body `{"__type": code, "message": ...}`
/// (a CBOR map for rpcv2Cbor). Clients strip any `namespace#` prefix from
/// `__type`; a plain code is what they end up with anyway, so it is sent plain.
/// awsJson also gets `x-amzn-ErrorType`, which the Rust and Java SDKs read first.
pub fn encode_error(protocol: Protocol, err: &ApiError) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut headers = response_headers(protocol);
    let body = match protocol {
        Protocol::AwsJson11 => {
            headers.push(("x-amzn-ErrorType".to_string(), err.code.clone()));
            json!({"__type": err.code, "message": err.message})
                .to_string()
                .into_bytes()
        }
        Protocol::RpcV2Cbor => {
            let mut writer = cbor::Writer::default();
            writer.map_header(2);
            writer.text("__type");
            writer.text(&err.code);
            writer.text("message");
            writer.text(&err.message);
            writer.bytes
        }
    };
    (err.status, headers, body)
}

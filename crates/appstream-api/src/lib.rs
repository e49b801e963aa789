//! The AppStream admin API's wire layer, driven by the official botocore model
//! (`model/service-2.json.gz`, embedded): routing, decoding and validating
//! inputs, encoding outputs and errors, for both protocols the model lists:
//!
//! - awsJson1_1: `POST /`, `X-Amz-Target: PhotonAdminProxyService.<Op>`,
//!   JSON bodies, timestamps as epoch-seconds numbers;
//! - rpcv2Cbor: `POST /service/PhotonAdminProxyService/operation/<Op>`,
//!   `smithy-protocol: rpc-v2-cbor`, CBOR bodies, timestamps as tag 1.
//!
//! Documents are `serde_json::Value`s shaped as the model says, in either
//! protocol; this crate knows nothing of fleets or sessions.

mod cbor;
mod model;
mod validate;

use serde_json::{json, Value};

pub use model::Paginator;
use model::MODEL;

/// The model's `targetPrefix`: the service name on the wire.
const TARGET_PREFIX: &str = "PhotonAdminProxyService";
const CBOR_PATH_PREFIX: &str = "/service/PhotonAdminProxyService/operation/";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    AwsJson11,
    RpcV2Cbor,
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
    /// An error with the HTTP status the model gives the code's error shape
    /// (`error.httpStatusCode`): 404 for ResourceNotFoundException, 412 for
    /// DryRunOperationException, 400 for the other AppStream errors.
    /// Codes the model does not list get 400.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        let code = code.into();
        let status = MODEL.error_statuses.get(&code).copied().unwrap_or(400);
        ApiError {
            code,
            message: message.into(),
            status,
        }
    }

    pub fn with_status(self, status: u16) -> Self {
        ApiError { status, ..self }
    }

    /// Input that breaks the model's constraints.
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new("ValidationException", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new("ResourceNotFoundException", message)
    }

    /// An operation in the model that Porthole does not implement yet.
    ///
    /// The code is `UnsupportedOperationException`, which the AppStream model
    /// does not define: the modelled alternative, OperationNotPermittedException,
    /// means "not allowed in this state/account" and boto3 raises it as a
    /// typed exception that scripts may catch and misread. An unmodelled code
    /// reaches the caller as a plain ClientError with this exact code and
    /// message. 400, so no client retries it.
    pub fn unsupported_operation(operation: &str) -> Self {
        Self::new(
            "UnsupportedOperationException",
            format!("Porthole does not support the AppStream operation {operation} yet"),
        )
    }

    /// An operation name that is not in the AppStream API at all.
    pub fn unknown_operation(operation: &str) -> Self {
        Self::new(
            "UnknownOperationException",
            format!("{operation} is not an operation of the AppStream API"),
        )
    }

    /// A body that is not well-formed JSON/CBOR or has a value of the wrong type.
    pub fn serialization(message: impl Into<String>) -> Self {
        Self::new("SerializationException", message)
    }

    /// A failure on the server's side (an output that does not fit the model).
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new("InternalFailure", message).with_status(500)
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
}

/// Figures out the protocol and operation of an API request.
///
/// awsJson1_1 is `POST /` with `X-Amz-Target: PhotonAdminProxyService.<Op>`;
/// rpcv2Cbor is `POST /service/PhotonAdminProxyService/operation/<Op>` with
/// `smithy-protocol: rpc-v2-cbor` (which the rpcv2 spec makes mandatory).
/// Content-Type is not checked: clients send it only with a body, and the
/// body's decoder reports a body that is not what the protocol says.
/// The operation returned is in the model (else UnknownOperationException).
pub fn route(
    method: &str,
    path: &str,
    headers: &[(String, String)],
) -> Result<(Protocol, String), ApiError> {
    let path = path.split('?').next().unwrap_or_default();
    if !method.eq_ignore_ascii_case("POST") {
        return Err(ApiError::new(
            "UnknownOperationException",
            format!("{method} {path} is not an AppStream API request (the API takes POST)"),
        ));
    }
    let (protocol, operation) = if let Some(operation) = path.strip_prefix(CBOR_PATH_PREFIX) {
        match header(headers, "smithy-protocol") {
            Some("rpc-v2-cbor") => (Protocol::RpcV2Cbor, operation),
            other => {
                return Err(ApiError::serialization(format!(
                "rpcv2Cbor requests need the header smithy-protocol: rpc-v2-cbor (got {other:?})"
            )))
            }
        }
    } else if path == "/" {
        let target = header(headers, "x-amz-target").ok_or_else(|| {
            ApiError::new(
                "UnknownOperationException",
                "missing X-Amz-Target header (PhotonAdminProxyService.<Operation>)",
            )
        })?;
        let operation = target
            .strip_prefix(TARGET_PREFIX)
            .and_then(|rest| rest.strip_prefix('.'))
            .ok_or_else(|| ApiError::unknown_operation(target))?;
        (Protocol::AwsJson11, operation)
    } else {
        return Err(ApiError::new(
            "UnknownOperationException",
            format!("{path} is not an AppStream API path"),
        ));
    };
    if !operation_exists(operation) {
        return Err(ApiError::unknown_operation(operation));
    }
    Ok((protocol, operation.to_string()))
}

/// Whether the model has this operation.
pub fn operation_exists(name: &str) -> bool {
    MODEL.operations.contains_key(name)
}

fn operation(name: &str) -> Result<&'static model::Operation, ApiError> {
    MODEL
        .operations
        .get(name)
        .ok_or_else(|| ApiError::unknown_operation(name))
}

/// Decodes a request body and validates it against the operation's input shape.
///
/// An empty body is `{}`. Returns only the modelled members (unknown ones are
/// ignored, as AWS does), nulls dropped. Malformed bodies and values of the
/// wrong type are SerializationException; broken constraints are one
/// ValidationException listing them all, worded as AWS words them.
pub fn decode_input(
    protocol: Protocol,
    operation_name: &str,
    body: &[u8],
) -> Result<Value, ApiError> {
    let op = operation(operation_name)?;
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
    let checked =
        validate::check_input(&MODEL, input, &document).map_err(ApiError::serialization)?;
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
    protocol: Protocol,
    operation_name: &str,
    output: &Value,
) -> Result<Vec<u8>, ApiError> {
    let op = operation(operation_name)?;
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
                    .typed(&MODEL, shape, output)
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

/// The pagination member names of an operation (paginators-1.json), if it paginates.
pub fn paginator(operation: &str) -> Option<Paginator> {
    model::PAGINATORS_MAP.get(operation).cloned()
}

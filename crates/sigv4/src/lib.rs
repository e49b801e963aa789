//! AWS Signature Version 4 verification for incoming requests (the
//! `Authorization: AWS4-HMAC-SHA256 ...` header form), pure: no IO, and the
//! current time is a parameter.
//!
//! Errors map to the codes AWS's JSON/CBOR services return, so SDKs and the
//! AWS CLI report them as they would against AWS itself.

mod canonical;
mod time;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use std::time::SystemTime;

const ALGORITHM: &str = "AWS4-HMAC-SHA256";
const TERMINATOR: &str = "aws4_request";
/// AWS refuses requests whose timestamp is further than this from its clock.
const MAX_SKEW_SECS: i64 = 15 * 60;

/// A request as received: path and query still percent-encoded as on the wire.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub method: &'a str,
    /// Raw path, e.g. `/` or `/service/PhotonAdminProxyService/operation/DescribeFleets`.
    pub path: &'a str,
    /// Raw query string without the `?`; empty if none.
    pub query: &'a str,
    /// Header names in any case; a name may repeat.
    pub headers: &'a [(String, String)],
    pub body: Payload<'a>,
}

/// The request's body, or (for a large upload hashed as it streamed to disk) its SHA-256.
#[derive(Debug, Clone, Copy)]
pub enum Payload<'a> {
    Bytes(&'a [u8]),
    Sha256([u8; 32]),
}

impl Payload<'_> {
    fn sha256_hex(&self) -> String {
        match self {
            Self::Bytes(body) => hex::encode(Sha256::digest(body)),
            Self::Sha256(digest) => hex::encode(digest),
        }
    }
}

/// Finds the secret access key for an access key id and, for temporary
/// credentials, the request's session token (`X-Amz-Security-Token`):
/// [`AuthError::UnknownAccessKey`] or [`AuthError::ExpiredToken`] if none.
pub trait SecretLookup {
    fn secret_for(
        &self,
        access_key_id: &str,
        session_token: Option<&str>,
    ) -> Result<String, AuthError>;
}

impl<F: Fn(&str, Option<&str>) -> Result<String, AuthError>> SecretLookup for F {
    fn secret_for(
        &self,
        access_key_id: &str,
        session_token: Option<&str>,
    ) -> Result<String, AuthError> {
        self(access_key_id, session_token)
    }
}

/// Who signed an accepted request, and for which scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub access_key_id: String,
    pub region: String,
    pub service: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization` header at all.
    #[error("Missing Authentication Token")]
    MissingAuthentication,
    /// The `Authorization` header or the date header is malformed or incomplete.
    #[error("{0}")]
    IncompleteSignature(String),
    #[error("The security token included in the request is invalid.")]
    UnknownAccessKey,
    /// Temporary credentials past their expiration.
    #[error("The security token included in the request is expired")]
    ExpiredToken,
    /// Well-formed but refused for a stated reason (wrong credential scope,
    /// `host` not signed).
    #[error("{0}")]
    InvalidSignature(String),
    /// The signature (or the declared body hash) does not match. Like AWS, the
    /// message shows what we signed, so a client author can diff it.
    #[error(
        "The request signature we calculated does not match the signature you provided. \
         Check your AWS Secret Access Key and signing method. Consult the service documentation for details.\n\n\
         The Canonical String for this request should have been\n'{canonical_request}'\n\n\
         The String-to-Sign should have been\n'{string_to_sign}'\n"
    )]
    SignatureDoesNotMatch {
        canonical_request: String,
        string_to_sign: String,
    },
    /// The request timestamp is more than 15 minutes from `now`; the message
    /// uses AWS's wording ("Signature expired: ...").
    #[error("{0}")]
    RequestExpired(String),
}

impl AuthError {
    /// The AWS error code (`__type` in JSON, the CBOR error code).
    pub fn aws_code(&self) -> &'static str {
        match self {
            AuthError::MissingAuthentication => "MissingAuthenticationTokenException",
            AuthError::IncompleteSignature(_) => "IncompleteSignatureException",
            AuthError::UnknownAccessKey => "UnrecognizedClientException",
            AuthError::ExpiredToken => "ExpiredTokenException",
            AuthError::InvalidSignature(_)
            | AuthError::SignatureDoesNotMatch { .. }
            | AuthError::RequestExpired(_) => "InvalidSignatureException",
        }
    }

    pub fn message(&self) -> String {
        self.to_string()
    }

    /// AWS answers every authentication failure with 403 Forbidden.
    pub fn http_status(&self) -> u16 {
        403
    }
}

/// Verifies a SigV4-signed request against the secret of its access key,
/// checking in AWS's order: header shape, credential scope, clock skew, key,
/// then the signature itself.
pub fn verify(
    req: &Request<'_>,
    secrets: &impl SecretLookup,
    expected_service: &str,
    now: SystemTime,
) -> Result<Verified, AuthError> {
    let authorization = match header_values(req.headers, "authorization").as_slice() {
        [] => return Err(AuthError::MissingAuthentication),
        [one] => *one,
        _ => {
            return Err(AuthError::IncompleteSignature(
                "Only one Authorization header may be sent.".to_owned(),
            ))
        }
    };
    let date_header =
        first_header(req.headers, "x-amz-date").or_else(|| first_header(req.headers, "date"));
    let auth = parse_authorization(authorization, date_header.is_some())?;
    let date_header = date_header.unwrap_or_default();
    let request_secs = parse_request_date(date_header)?;
    let amz_date = time::format_amz_date(request_secs);

    let scope = parse_credential(auth.credential)?;
    if scope.terminator != TERMINATOR {
        return Err(AuthError::InvalidSignature(format!(
            "Credential should be scoped with a valid terminator: '{TERMINATOR}', not '{}'.",
            scope.terminator
        )));
    }
    if scope.service != expected_service {
        return Err(AuthError::InvalidSignature(format!(
            "Credential should be scoped to correct service: '{expected_service}'."
        )));
    }
    if scope.region.is_empty() {
        return Err(AuthError::InvalidSignature(
            "Credential should be scoped to a valid region.".to_owned(),
        ));
    }
    if scope.date != &amz_date[..8] {
        return Err(AuthError::InvalidSignature(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: \
             '{}' != '{}', from '{date_header}'.",
            scope.date,
            &amz_date[..8]
        )));
    }
    let signed_headers: Vec<&str> = auth.signed_headers.split(';').collect();
    if !signed_headers
        .iter()
        .any(|h| h.eq_ignore_ascii_case("host"))
    {
        return Err(AuthError::InvalidSignature(
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.".to_owned(),
        ));
    }

    let now_secs = time::unix_seconds(now);
    let skew = request_secs.saturating_sub(now_secs);
    if skew.saturating_abs() > MAX_SKEW_SECS {
        let now_str = time::format_amz_date(now_secs);
        return Err(AuthError::RequestExpired(if skew > 0 {
            let limit = time::format_amz_date(now_secs + MAX_SKEW_SECS);
            format!("Signature not yet current: {amz_date} is still later than {limit} ({now_str} + 15 min.)")
        } else {
            let limit = time::format_amz_date(now_secs - MAX_SKEW_SECS);
            format!(
                "Signature expired: {amz_date} is now earlier than {limit} ({now_str} - 15 min.)"
            )
        }));
    }

    let session_token = first_header(req.headers, "x-amz-security-token").map(str::trim);
    let secret = secrets.secret_for(scope.access_key_id, session_token)?;

    let canonical_request = canonical_request(req, &signed_headers, auth.signed_headers);
    let credential_scope = format!(
        "{}/{}/{}/{TERMINATOR}",
        scope.date, scope.region, scope.service
    );
    let string_to_sign = format!(
        "{ALGORITHM}\n{amz_date}\n{credential_scope}\n{}",
        hex::encode(Sha256::digest(canonical_request.as_bytes()))
    );
    let mismatch = || AuthError::SignatureDoesNotMatch {
        canonical_request: canonical_request.clone(),
        string_to_sign: string_to_sign.clone(),
    };

    // The canonical request always hashes the real body; a declared hash that
    // differs means the body was altered after signing.
    let body_hash = req.body.sha256_hex();
    if let Some(declared) = first_header(req.headers, "x-amz-content-sha256") {
        if declared.trim() != body_hash {
            return Err(mismatch());
        }
    }

    let provided = hex::decode(auth.signature).map_err(|_| mismatch())?;
    let mut mac = hmac_for(&signing_key(
        &secret,
        scope.date,
        scope.region,
        scope.service,
    ));
    mac.update(string_to_sign.as_bytes());
    // verify_slice compares in constant time.
    mac.verify_slice(&provided).map_err(|_| mismatch())?;

    Ok(Verified {
        access_key_id: scope.access_key_id.to_owned(),
        region: scope.region.to_owned(),
        service: scope.service.to_owned(),
    })
}

struct Authorization<'a> {
    credential: &'a str,
    signed_headers: &'a str,
    signature: &'a str,
}

/// Parses `AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...`,
/// listing every missing part at once, as AWS does.
fn parse_authorization(header: &str, has_date: bool) -> Result<Authorization<'_>, AuthError> {
    let header = header.trim();
    let (algorithm, params) = header.split_once(' ').unwrap_or((header, ""));
    if algorithm != ALGORITHM {
        return Err(AuthError::IncompleteSignature(format!(
            "Unsupported Authorization algorithm '{algorithm}': only {ALGORITHM} is accepted."
        )));
    }
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for param in params.split(',') {
        match param.trim().split_once('=') {
            Some(("Credential", v)) => credential = Some(v),
            Some(("SignedHeaders", v)) => signed_headers = Some(v),
            Some(("Signature", v)) => signature = Some(v),
            _ => {}
        }
    }
    let mut problems = String::new();
    for (name, value) in [
        ("Credential", credential),
        ("Signature", signature),
        ("SignedHeaders", signed_headers),
    ] {
        if value.is_none_or(str::is_empty) {
            problems.push_str(&format!(
                "Authorization header requires '{name}' parameter. "
            ));
        }
    }
    if !has_date {
        problems.push_str(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. ",
        );
    }
    match (credential, signed_headers, signature) {
        (Some(credential), Some(signed_headers), Some(signature)) if problems.is_empty() => {
            Ok(Authorization {
                credential,
                signed_headers,
                signature,
            })
        }
        _ => Err(AuthError::IncompleteSignature(format!(
            "{problems}Authorization={header}"
        ))),
    }
}

struct Scope<'a> {
    access_key_id: &'a str,
    date: &'a str,
    region: &'a str,
    service: &'a str,
    terminator: &'a str,
}

fn parse_credential(credential: &str) -> Result<Scope<'_>, AuthError> {
    match credential.split('/').collect::<Vec<_>>().as_slice() {
        &[access_key_id, date, region, service, terminator] => {
            Ok(Scope { access_key_id, date, region, service, terminator })
        }
        _ => Err(AuthError::IncompleteSignature(format!(
            "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '{credential}'"
        ))),
    }
}

/// `X-Amz-Date` is ISO 8601 basic; a plain `Date` header may be that or an HTTP date.
fn parse_request_date(value: &str) -> Result<i64, AuthError> {
    time::parse_amz_date(value.trim())
        .or_else(|| httpdate::parse_http_date(value.trim()).ok().map(time::unix_seconds))
        .ok_or_else(|| {
            AuthError::IncompleteSignature(format!(
                "Date must be in ISO-8601 'basic format'. Got '{value}'. See http://en.wikipedia.org/wiki/ISO_8601"
            ))
        })
}

fn canonical_request(
    req: &Request<'_>,
    signed_headers: &[&str],
    signed_headers_raw: &str,
) -> String {
    let mut headers = String::new();
    for name in signed_headers {
        let values: Vec<String> = header_values(req.headers, name)
            .into_iter()
            .map(canonical::header_value)
            .collect();
        headers.push_str(&format!("{name}:{}\n", values.join(",")));
    }
    format!(
        "{}\n{}\n{}\n{headers}\n{signed_headers_raw}\n{}",
        req.method,
        canonical::uri(req.path),
        canonical::query(req.query),
        req.body.sha256_hex(),
    )
}

fn header_values<'h>(headers: &'h [(String, String)], name: &str) -> Vec<&'h str> {
    headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
        .collect()
}

fn first_header<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn hmac_for(key: &[u8]) -> Hmac<Sha256> {
    // HMAC accepts keys of any length, so this cannot fail.
    Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length")
}

fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> Vec<u8> {
    let mut key = format!("AWS4{secret}").into_bytes();
    for part in [date, region, service, TERMINATOR] {
        let mut mac = hmac_for(&key);
        mac.update(part.as_bytes());
        key = mac.finalize().into_bytes().to_vec();
    }
    key
}

//! Requests signed by the AWS SDK's own signer (aws-sigv4) must verify; any
//! change after signing must be refused with the specific AWS error.

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign, PayloadChecksumKind, SignableBody, SignableRequest, SigningSettings,
};
use aws_sigv4::sign::v4;
use porthole_sigv4::{verify, AuthError, Request, Verified};
use proptest::prelude::*;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const AKID: &str = "AKIDPORTHOLE";
const SECRET: &str = "porthole/secret+key";
const OTHER_AKID: &str = "AKIDOTHER";
const TEMP_AKID: &str = "ASIATEMPORARY";
const HOST: &str = "appstream2.us-west-2.amazonaws.com";
const SERVICE: &str = "appstream";
const JSON_BODY: &[u8] = br#"{"Names":["default"]}"#;
const CBOR_PATH: &str = "/service/PhotonAdminProxyService/operation/DescribeFleets";
/// `{"Names": ["default"]}` in CBOR.
const CBOR_BODY: &[u8] = b"\xa1\x65Names\x81\x67default";

fn signing_time() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_764_000_000)
}

fn secrets(id: &str, token: Option<&str>) -> Result<String, AuthError> {
    match (id, token) {
        (AKID, _) => Ok(SECRET.to_owned()),
        (OTHER_AKID, _) => Ok("another secret".to_owned()),
        // Temporary credentials: the secret goes with the token.
        (TEMP_AKID, Some("token-1")) => Ok("temporary secret".to_owned()),
        (TEMP_AKID, Some("expired-token")) => Err(AuthError::ExpiredToken),
        _ => Err(AuthError::UnknownAccessKey),
    }
}

/// A request as the server would receive it after the client signed it.
#[derive(Clone)]
struct Wire {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Wire {
    fn request(&self) -> Request<'_> {
        Request {
            method: &self.method,
            path: &self.path,
            query: &self.query,
            headers: &self.headers,
            body: porthole_sigv4::Payload::Bytes(&self.body),
        }
    }

    fn verify_at(&self, now: SystemTime) -> Result<Verified, AuthError> {
        verify(&self.request(), &secrets, SERVICE, now)
    }

    fn verify(&self) -> Result<Verified, AuthError> {
        self.verify_at(signing_time())
    }

    fn header_mut(&mut self, name: &str) -> &mut String {
        let (_, value) = self
            .headers
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .expect("header present");
        value
    }
}

struct Signing<'a> {
    path_and_query: &'a str,
    headers: &'a [(&'a str, &'a str)],
    body: &'a [u8],
    content_sha256: bool,
    service: &'a str,
    /// Temporary credentials (TEMP_AKID) with this session token.
    session_token: Option<&'a str>,
}

/// Signs with the SDK's signer and returns what goes on the wire.
fn sign_with_sdk(s: &Signing<'_>) -> Wire {
    let identity = match s.session_token {
        Some(token) => Credentials::new(
            TEMP_AKID,
            "temporary secret",
            Some(token.to_owned()),
            None,
            "test",
        ),
        None => Credentials::new(AKID, SECRET, None, None, "test"),
    }
    .into();
    let mut settings = SigningSettings::default();
    if s.content_sha256 {
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    }
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-west-2")
        .name(s.service)
        .time(signing_time())
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let mut headers: Vec<(String, String)> = vec![("Host".to_owned(), HOST.to_owned())];
    headers.extend(
        s.headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned())),
    );
    let signable = SignableRequest::new(
        "POST",
        format!("https://{HOST}{}", s.path_and_query),
        headers.iter().map(|(n, v)| (n.as_str(), v.as_str())),
        SignableBody::Bytes(s.body),
    )
    .unwrap();
    let (instructions, _signature) = sign(signable, &params).unwrap().into_parts();
    headers.extend(
        instructions
            .headers()
            .map(|(n, v)| (n.to_owned(), v.to_owned())),
    );
    let (path, query) = s
        .path_and_query
        .split_once('?')
        .unwrap_or((s.path_and_query, ""));
    Wire {
        method: "POST".to_owned(),
        path: path.to_owned(),
        query: query.to_owned(),
        headers,
        body: s.body.to_vec(),
    }
}

fn json_request(content_sha256: bool) -> Wire {
    sign_with_sdk(&Signing {
        path_and_query: "/",
        headers: &[
            ("Content-Type", "application/x-amz-json-1.1"),
            ("X-Amz-Target", "PhotonAdminProxyService.DescribeFleets"),
        ],
        body: JSON_BODY,
        content_sha256,
        service: SERVICE,
        session_token: None,
    })
}

fn cbor_request(content_sha256: bool) -> Wire {
    sign_with_sdk(&Signing {
        path_and_query: CBOR_PATH,
        headers: &[
            ("Content-Type", "application/cbor"),
            ("Accept", "application/cbor"),
            ("smithy-protocol", "rpc-v2-cbor"),
        ],
        body: CBOR_BODY,
        content_sha256,
        service: SERVICE,
        session_token: None,
    })
}

fn query_request() -> Wire {
    sign_with_sdk(&Signing {
        path_and_query: "/?Action=DescribeFleets&Version=2016-12-01&Name=a%20b&Empty=",
        headers: &[],
        body: b"",
        content_sha256: false,
        service: SERVICE,
        session_token: None,
    })
}

fn all_sdk_requests() -> Vec<(&'static str, Wire)> {
    vec![
        ("json", json_request(false)),
        ("json+sha256", json_request(true)),
        ("cbor", cbor_request(false)),
        ("cbor+sha256", cbor_request(true)),
        ("query", query_request()),
    ]
}

fn assert_mismatch(result: Result<Verified, AuthError>, what: &str) {
    match result {
        Err(e @ AuthError::SignatureDoesNotMatch { .. }) => {
            assert_eq!(e.aws_code(), "InvalidSignatureException", "{what}");
            assert!(
                e.message().starts_with("The request signature we calculated does not match the signature you provided."),
                "{what}: {}",
                e.message()
            );
        }
        other => panic!("{what}: expected SignatureDoesNotMatch, got {other:?}"),
    }
}

#[test]
fn sdk_signed_requests_verify() {
    for (name, wire) in all_sdk_requests() {
        let verified = wire.verify().unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            verified,
            Verified {
                access_key_id: AKID.into(),
                region: "us-west-2".into(),
                service: SERVICE.into()
            },
            "{name}"
        );
    }
}

#[test]
fn signed_header_names_in_any_case_are_found() {
    let mut wire = cbor_request(true);
    for (name, _) in &mut wire.headers {
        *name = name.to_ascii_uppercase();
    }
    wire.verify().unwrap();
}

#[test]
fn an_unsigned_header_added_later_does_not_matter() {
    let mut wire = json_request(false);
    wire.headers
        .push(("X-Forwarded-For".to_owned(), "10.0.0.1".to_owned()));
    wire.verify().unwrap();
}

#[test]
fn changed_body_byte_is_refused() {
    for (name, mut wire) in all_sdk_requests() {
        wire.body.push(b' ');
        assert_mismatch(wire.verify(), name);
    }
    let mut wire = cbor_request(true);
    wire.body[0] ^= 1;
    assert_mismatch(wire.verify(), "cbor body byte");
}

#[test]
fn declared_body_hash_that_differs_from_the_body_is_refused() {
    let mut wire = json_request(true);
    *wire.header_mut("x-amz-content-sha256") = "0".repeat(64);
    assert_mismatch(wire.verify(), "forged x-amz-content-sha256");
}

#[test]
fn changed_signed_header_is_refused() {
    let mut wire = json_request(false);
    *wire.header_mut("x-amz-target") = "PhotonAdminProxyService.DeleteFleet".to_owned();
    assert_mismatch(wire.verify(), "x-amz-target");

    let mut wire = cbor_request(false);
    *wire.header_mut("host") = "evil.example".to_owned();
    assert_mismatch(wire.verify(), "host");
}

#[test]
fn changed_path_or_query_is_refused() {
    let mut wire = cbor_request(false);
    wire.path = wire.path.replace("DescribeFleets", "DeleteFleet");
    assert_mismatch(wire.verify(), "path");

    let mut wire = query_request();
    wire.query = wire.query.replace("Name=a%20b", "Name=a%20c");
    assert_mismatch(wire.verify(), "query");
}

#[test]
fn changed_date_is_refused() {
    // Same day: the scope still matches, the signature does not.
    let mut wire = json_request(false);
    let date = wire.header_mut("x-amz-date");
    date.replace_range(14..15, if date.ends_with("0Z") { "1" } else { "0" });
    assert_mismatch(wire.verify(), "x-amz-date second");

    // Another day: the credential scope no longer matches the request date.
    let mut wire = json_request(false);
    let date = wire.header_mut("x-amz-date");
    date.replace_range(0..4, "2024");
    let err = wire.verify().unwrap_err();
    assert!(matches!(err, AuthError::InvalidSignature(_)), "{err:?}");
    assert!(
        err.message()
            .starts_with("Date in Credential scope does not match"),
        "{err}"
    );
}

fn replace_in_authorization(wire: &mut Wire, from: &str, to: &str) {
    let auth = wire.header_mut("authorization");
    assert!(auth.contains(from), "{auth} lacks {from}");
    *auth = auth.replace(from, to);
}

#[test]
fn unknown_key_id_is_unrecognized_and_another_known_key_mismatches() {
    let mut wire = json_request(false);
    replace_in_authorization(
        &mut wire,
        &format!("Credential={AKID}/"),
        "Credential=AKIDNOBODY/",
    );
    let err = wire.verify().unwrap_err();
    assert_eq!(err, AuthError::UnknownAccessKey);
    assert_eq!(err.aws_code(), "UnrecognizedClientException");
    assert_eq!(
        err.message(),
        "The security token included in the request is invalid."
    );

    let mut wire = json_request(false);
    replace_in_authorization(
        &mut wire,
        &format!("Credential={AKID}/"),
        &format!("Credential={OTHER_AKID}/"),
    );
    assert_mismatch(wire.verify(), "other key");
}

#[test]
fn changed_or_malformed_signature_is_refused() {
    let wire = json_request(false);
    let auth = wire
        .headers
        .iter()
        .find(|(n, _)| n == "authorization")
        .unwrap()
        .1
        .clone();
    let signature = auth.rsplit_once("Signature=").unwrap().1.to_owned();
    let flipped: String = signature
        .char_indices()
        .map(|(i, c)| {
            if i == 10 {
                if c == '0' {
                    '1'
                } else {
                    '0'
                }
            } else {
                c
            }
        })
        .collect();
    for bad in [
        flipped,
        signature[..63].to_owned(),
        "zz".repeat(32),
        String::new() + "ab",
    ] {
        let mut tampered = wire.clone();
        replace_in_authorization(&mut tampered, &signature, &bad);
        assert_mismatch(tampered.verify(), &bad);
    }
}

#[test]
fn wrong_service_scope_is_refused() {
    let wire = sign_with_sdk(&Signing {
        path_and_query: "/",
        headers: &[("X-Amz-Target", "DynamoDB_20120810.ListTables")],
        body: b"{}",
        content_sha256: false,
        service: "dynamodb",
        session_token: None,
    });
    let err = wire.verify().unwrap_err();
    assert_eq!(
        err,
        AuthError::InvalidSignature(
            "Credential should be scoped to correct service: 'appstream'.".into()
        )
    );
    assert_eq!(err.aws_code(), "InvalidSignatureException");
}

#[test]
fn missing_authorization_is_missing_authentication_token() {
    let mut wire = json_request(false);
    wire.headers.retain(|(n, _)| n != "authorization");
    let err = wire.verify().unwrap_err();
    assert_eq!(err, AuthError::MissingAuthentication);
    assert_eq!(err.aws_code(), "MissingAuthenticationTokenException");
    assert_eq!(err.message(), "Missing Authentication Token");
    assert_eq!(err.http_status(), 403);
}

#[test]
fn malformed_authorization_is_incomplete_signature() {
    let incomplete = |wire: &Wire| match wire.verify() {
        Err(e @ AuthError::IncompleteSignature(_)) => {
            assert_eq!(e.aws_code(), "IncompleteSignatureException");
            assert_eq!(e.http_status(), 403);
            e.message()
        }
        other => panic!("expected IncompleteSignature, got {other:?}"),
    };

    let mut wire = json_request(false);
    *wire.header_mut("authorization") =
        format!("AWS4-HMAC-SHA256 Credential={AKID}/20251124/us-west-2/appstream/aws4_request");
    let message = incomplete(&wire);
    assert!(
        message.contains("requires 'Signature' parameter"),
        "{message}"
    );
    assert!(
        message.contains("requires 'SignedHeaders' parameter"),
        "{message}"
    );
    assert!(!message.contains("requires 'Credential'"), "{message}");

    let mut no_date = json_request(false);
    no_date.headers.retain(|(n, _)| n != "x-amz-date");
    assert!(incomplete(&no_date).contains("'X-Amz-Date' or a 'Date' header"));

    let mut bad_date = json_request(false);
    *bad_date.header_mut("x-amz-date") = "2025-11-24T16:00:00Z".to_owned();
    assert!(incomplete(&bad_date).starts_with("Date must be in ISO-8601 'basic format'"));

    let mut short_credential = json_request(false);
    replace_in_authorization(&mut short_credential, "/aws4_request", "");
    assert!(incomplete(&short_credential)
        .starts_with("Credential must have exactly 5 slash-delimited elements"));

    let mut other_algorithm = json_request(false);
    *other_algorithm.header_mut("authorization") = "Bearer abc".to_owned();
    incomplete(&other_algorithm);

    let mut twice = json_request(false);
    let auth = twice.header_mut("authorization").clone();
    twice.headers.push(("Authorization".to_owned(), auth));
    incomplete(&twice);
}

#[test]
fn host_must_be_signed() {
    let mut wire = json_request(false);
    let auth = wire.header_mut("authorization");
    let (prefix, rest) = auth.split_once("SignedHeaders=").unwrap();
    let (_, suffix) = rest.split_once(',').unwrap();
    *auth = format!("{prefix}SignedHeaders=x-amz-date,{suffix}");
    let err = wire.verify().unwrap_err();
    assert_eq!(
        err,
        AuthError::InvalidSignature(
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.".into()
        )
    );
}

#[test]
fn clock_skew_up_to_fifteen_minutes_is_accepted() {
    let wire = cbor_request(true);
    let limit = Duration::from_secs(15 * 60);
    wire.verify_at(signing_time() + limit).unwrap();
    wire.verify_at(signing_time() - limit).unwrap();
}

#[test]
fn clock_skew_beyond_fifteen_minutes_is_expired() {
    let wire = cbor_request(true);
    let beyond = Duration::from_secs(15 * 60 + 1);
    // signing_time() is 2025-11-24T16:00:00Z.
    let late = wire.verify_at(signing_time() + beyond).unwrap_err();
    assert_eq!(
        late,
        AuthError::RequestExpired(
            "Signature expired: 20251124T160000Z is now earlier than 20251124T160001Z (20251124T161501Z - 15 min.)"
                .into()
        )
    );
    assert_eq!(late.aws_code(), "InvalidSignatureException");
    assert_eq!(late.http_status(), 403);

    let early = wire.verify_at(signing_time() - beyond).unwrap_err();
    assert_eq!(
        early,
        AuthError::RequestExpired(
            "Signature not yet current: 20251124T160000Z is still later than 20251124T155959Z (20251124T154459Z + 15 min.)"
                .into()
        )
    );
}

/// Header names the verifier looks at, plus noise.
fn header_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("Authorization".to_owned()),
        Just("X-Amz-Date".to_owned()),
        Just("Date".to_owned()),
        Just("Host".to_owned()),
        Just("x-amz-content-sha256".to_owned()),
        "\\PC{0,12}",
    ]
}

/// Mostly Authorization-shaped values, so parsing goes deep, plus raw noise.
fn header_value() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("AWS4-HMAC-SHA256 ".to_owned()),
        Just("Credential=".to_owned()),
        Just(format!("{AKID}/20251124/us-west-2/appstream/aws4_request")),
        Just("SignedHeaders=host;x-amz-date".to_owned()),
        Just("Signature=".to_owned()),
        Just("20251124T160000Z".to_owned()),
        "[0-9a-f]{0,64}",
        Just(", ".to_owned()),
        Just("/".to_owned()),
        Just("=".to_owned()),
        "\\PC{0,8}",
        "[\\x00-\\x7f]{0,8}",
    ];
    prop::collection::vec(piece, 0..10).prop_map(|pieces| pieces.concat())
}

proptest! {
    #[test]
    fn arbitrary_headers_never_panic_and_never_verify(
        headers in prop::collection::vec((header_name(), header_value()), 0..8),
        path in "\\PC{0,16}",
        query in "\\PC{0,16}",
        body in prop::collection::vec(any::<u8>(), 0..16),
        now_offset in -2_000i64..2_000,
    ) {
        let now = if now_offset >= 0 {
            signing_time() + Duration::from_secs(now_offset.unsigned_abs())
        } else {
            signing_time() - Duration::from_secs(now_offset.unsigned_abs())
        };
        let request = Request { method: "POST", path: &path, query: &query, headers: &headers, body: porthole_sigv4::Payload::Bytes(&body) };
        let result = verify(&request, &secrets, SERVICE, now);
        prop_assert!(result.is_err(), "forged request accepted: {headers:?}");
    }
}

fn temporary_request(token: &str) -> Wire {
    sign_with_sdk(&Signing {
        path_and_query: "/",
        headers: &[("Content-Type", "application/x-amz-json-1.1")],
        body: JSON_BODY,
        content_sha256: false,
        service: SERVICE,
        session_token: Some(token),
    })
}

#[test]
fn temporary_credentials_verify_with_their_token_and_expire() {
    let verified = temporary_request("token-1").verify().unwrap();
    assert_eq!(verified.access_key_id, TEMP_AKID);

    let err = temporary_request("expired-token").verify().unwrap_err();
    assert_eq!(err, AuthError::ExpiredToken);
    assert_eq!(err.aws_code(), "ExpiredTokenException");

    // A token the lookup does not know (forged, or another key's).
    let mut wire = temporary_request("token-1");
    *wire.header_mut("x-amz-security-token") = "token-2".into();
    assert_eq!(wire.verify().unwrap_err(), AuthError::UnknownAccessKey);
}

#[test]
fn a_body_hashed_while_it_streamed_verifies_like_the_body() {
    use sha2::{Digest, Sha256};
    for (name, wire) in all_sdk_requests() {
        let digest: [u8; 32] = Sha256::digest(&wire.body).into();
        let mut request = wire.request();
        request.body = porthole_sigv4::Payload::Sha256(digest);
        verify(&request, &secrets, SERVICE, signing_time())
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        let mut other = digest;
        other[0] ^= 1;
        request.body = porthole_sigv4::Payload::Sha256(other);
        assert_mismatch(verify(&request, &secrets, SERVICE, signing_time()), name);
    }
}

//! Known-answer tests: AWS's own SigV4 test suite (as shipped in the aws-sigv4
//! crate) and the documented `get-vanilla` example, written out by hand.

use porthole_sigv4::{verify, AuthError, Request};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
/// 2015-08-30T12:36:00Z, the time every suite case is signed at.
const SIGNED_AT: u64 = 1_440_938_160;

fn signed_at() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(SIGNED_AT)
}

fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

fn secret_lookup(id: &str, _token: Option<&str>) -> Result<String, AuthError> {
    (id == "AKIDEXAMPLE")
        .then(|| SECRET.to_owned())
        .ok_or(AuthError::UnknownAccessKey)
}

/// A request in the suite's plain-text HTTP/1.1 form, split into the parts
/// `Request` borrows.
struct ParsedRequest {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl ParsedRequest {
    fn parse(text: &str) -> Self {
        let (head, body) = text.split_once("\n\n").unwrap_or((text, ""));
        let mut lines = head.lines();
        let request_line = lines.next().expect("request line");
        // The target may contain raw spaces (get-space-*), so cut at the first
        // and the last space rather than splitting on every one.
        let (method, rest) = request_line.split_once(' ').expect("method");
        let (target, _version) = rest.rsplit_once(' ').expect("version");
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let mut headers: Vec<(String, String)> = Vec::new();
        for line in lines {
            if line.starts_with([' ', '\t']) {
                // Obsolete line folding (get-header-value-multiline): the
                // continuation belongs to the previous header's value.
                let (_, value) = headers.last_mut().expect("folded line after a header");
                value.push(' ');
                value.push_str(line);
            } else {
                let (name, value) = line.split_once(':').expect("header colon");
                headers.push((name.to_owned(), value.to_owned()));
            }
        }
        ParsedRequest {
            method: method.to_owned(),
            path: path.to_owned(),
            query: query.to_owned(),
            headers,
            body: body.as_bytes().to_vec(),
        }
    }

    fn request(&self) -> Request<'_> {
        Request {
            method: &self.method,
            path: &self.path,
            query: &self.query,
            headers: &self.headers,
            body: porthole_sigv4::Payload::Bytes(&self.body),
        }
    }
}

#[test]
fn accepts_every_normalized_case_of_the_aws_test_suite() {
    // Read at run time: a test binary built from another checkout into a shared
    // target directory must still read this checkout's files.
    let dir = std::env::var_os("CARGO_MANIFEST_DIR").expect("run by cargo test or nextest");
    let suite = Path::new(&dir).join("tests/aws-signing-test-suite");
    let mut cases: Vec<_> = std::fs::read_dir(&suite)
        .expect("suite directory")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(cases.len() >= 30, "suite incomplete: {} cases", cases.len());

    for case in &cases {
        let name = case.file_name().unwrap().to_string_lossy();
        let context: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(case.join("context.json")).unwrap())
                .unwrap();
        assert_eq!(context["timestamp"], "2015-08-30T12:36:00Z", "{name}");
        assert_eq!(
            context["credentials"]["secret_access_key"], SECRET,
            "{name}"
        );
        let service = context["service"].as_str().unwrap();
        let region = context["region"].as_str().unwrap();

        let text = std::fs::read_to_string(case.join("header-signed-request.txt")).unwrap();
        let parsed = ParsedRequest::parse(&text);
        let verified = verify(&parsed.request(), &secret_lookup, service, signed_at())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(verified.access_key_id, "AKIDEXAMPLE", "{name}");
        assert_eq!(verified.region, region, "{name}");
        assert_eq!(verified.service, service, "{name}");

        // The same request with its body or path changed must be refused, so
        // the acceptance above is not vacuous.
        let mut tampered = ParsedRequest::parse(&text);
        tampered.path.push('x');
        assert!(
            matches!(
                verify(&tampered.request(), &secret_lookup, service, signed_at()),
                Err(AuthError::SignatureDoesNotMatch { .. })
            ),
            "{name}: tampered path accepted"
        );
    }
}

/// The `get-vanilla` example of AWS's SigV4 documentation, by hand.
fn get_vanilla_headers(signature: &str) -> Vec<(String, String)> {
    vec![
        ("Host".to_owned(), "example.amazonaws.com".to_owned()),
        ("X-Amz-Date".to_owned(), "20150830T123600Z".to_owned()),
        (
            "Authorization".to_owned(),
            format!(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
                 SignedHeaders=host;x-amz-date, Signature={signature}"
            ),
        ),
    ]
}

fn get_vanilla(headers: &[(String, String)]) -> Request<'_> {
    Request {
        method: "GET",
        path: "/",
        query: "",
        headers,
        body: porthole_sigv4::Payload::Bytes(b""),
    }
}

#[test]
fn documented_get_vanilla_example_verifies() {
    let headers =
        get_vanilla_headers("5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
    let verified = verify(
        &get_vanilla(&headers),
        &secret_lookup,
        "service",
        signed_at(),
    )
    .unwrap();
    assert_eq!(verified.region, "us-east-1");
}

#[test]
fn documented_get_vanilla_mismatch_shows_the_documented_canonical_request() {
    let headers =
        get_vanilla_headers("0000000000000000000000000000000000000000000000000000000000000000");
    let err = verify(
        &get_vanilla(&headers),
        &secret_lookup,
        "service",
        signed_at(),
    )
    .unwrap_err();
    let AuthError::SignatureDoesNotMatch {
        canonical_request,
        string_to_sign,
    } = err
    else {
        panic!("expected a mismatch, got {err:?}");
    };
    assert_eq!(
        canonical_request,
        "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n\
         e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert_eq!(
        string_to_sign,
        "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n\
         bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63"
    );
}

#[test]
fn date_header_in_http_format_is_accepted_like_x_amz_date() {
    // A `Date` header (HTTP format) instead of X-Amz-Date: the string to sign
    // must carry its ISO 8601 basic form. The signature is computed with
    // aws-sigv4's own primitives from the string to sign we expect.
    use aws_sigv4::sign::v4::{calculate_signature, generate_signing_key};
    let canonical =
        "GET\n/\n\ndate:Sun, 30 Aug 2015 12:36:00 GMT\nhost:example.amazonaws.com\n\ndate;host\n\
        e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n{}",
        sha256_hex(canonical.as_bytes())
    );
    let key = generate_signing_key(SECRET, signed_at(), "us-east-1", "service");
    let signature = calculate_signature(key, string_to_sign.as_bytes());
    let headers = vec![
        ("Host".to_owned(), "example.amazonaws.com".to_owned()),
        (
            "Date".to_owned(),
            "Sun, 30 Aug 2015 12:36:00 GMT".to_owned(),
        ),
        (
            "Authorization".to_owned(),
            format!(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
                 SignedHeaders=date;host, Signature={signature}"
            ),
        ),
    ];
    verify(
        &get_vanilla(&headers),
        &secret_lookup,
        "service",
        signed_at(),
    )
    .unwrap();
}

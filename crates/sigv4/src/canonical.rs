//! The pieces of the SigV4 canonical request, computed from the request as it
//! arrived on the wire (so path and query are already percent-encoded once).

use std::fmt::Write;

/// Canonical URI for non-S3 services: dot segments and empty segments removed
/// (as the AWS SDKs normalise before signing), then every segment
/// percent-encoded once more. The wire path is already encoded, so this is
/// AWS's "double encoding": `/a%20b` becomes `/a%2520b`.
pub(crate) fn uri(raw_path: &str) -> String {
    let normalized = normalize_path(raw_path);
    let mut out = String::with_capacity(normalized.len());
    for byte in normalized.bytes() {
        if byte == b'/' {
            out.push('/');
        } else {
            push_encoded(&mut out, byte);
        }
    }
    out
}

fn normalize_path(raw: &str) -> String {
    if raw.is_empty() {
        return "/".to_owned();
    }
    if !raw.contains('.') && !raw.contains("//") && raw.starts_with('/') {
        return raw.to_owned();
    }
    let mut segments: Vec<&str> = Vec::new();
    for segment in raw.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            other => segments.push(other),
        }
    }
    let mut out = format!("/{}", segments.join("/"));
    // A trailing slash (including one implied by a trailing dot segment) survives.
    let trailing = ["/", "/.", "/..", "/./", "/../"]
        .iter()
        .any(|t| raw.ends_with(t));
    if trailing && !out.ends_with('/') {
        out.push('/');
    }
    out
}

/// Canonical query string: each `name=value` pair decoded (`+` is a space, as
/// in form encoding), re-encoded strictly, and sorted by name then value.
pub(crate) fn query(raw_query: &str) -> String {
    let mut pairs: Vec<(String, String)> = raw_query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (reencode_query_part(name), reencode_query_part(value))
        })
        .collect();
    pairs.sort_unstable();
    let mut out = String::new();
    for (i, (name, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        let _ = write!(out, "{name}={value}");
    }
    out
}

fn reencode_query_part(part: &str) -> String {
    let mut out = String::with_capacity(part.len());
    for byte in percent_decode(part) {
        push_encoded(&mut out, byte);
    }
    out
}

fn percent_decode(s: &str) -> Vec<u8> {
    let bytes = s.as_bytes();
    let hex_digit = |at: usize| bytes.get(at).and_then(|&b| char::from(b).to_digit(16));
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match (bytes[i], hex_digit(i + 1), hex_digit(i + 2)) {
            (b'%', Some(high), Some(low)) => {
                // Two hex digits are at most 0xFF, so the cast is lossless.
                out.push((high * 16 + low) as u8);
                i += 3;
            }
            (b'+', _, _) => {
                out.push(b' ');
                i += 1;
            }
            // A stray '%' stays literal (and is then encoded as %25).
            (other, _, _) => {
                out.push(other);
                i += 1;
            }
        }
    }
    out
}

/// RFC 3986 unreserved characters stay; everything else becomes `%XX`
/// (upper-case hex), exactly as the SigV4 specification demands.
fn push_encoded(out: &mut String, byte: u8) {
    if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
        out.push(char::from(byte));
    } else {
        let _ = write!(out, "%{byte:02X}");
    }
}

/// Canonical header value: trimmed, inner whitespace runs collapsed to one space.
pub(crate) fn header_value(value: &str) -> String {
    value.split_ascii_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_keeps_plain_paths_and_encodes_once_more() {
        assert_eq!(uri(""), "/");
        assert_eq!(uri("/"), "/");
        assert_eq!(
            uri("/service/PhotonAdminProxyService/operation/DescribeFleets"),
            "/service/PhotonAdminProxyService/operation/DescribeFleets"
        );
        assert_eq!(uri("/a%20b/c d"), "/a%2520b/c%20d");
    }

    #[test]
    fn uri_removes_dot_and_empty_segments() {
        // These match the AWS SigV4 test suite's normalize-path cases.
        assert_eq!(uri("/example/.."), "/");
        assert_eq!(uri("/example1/example2/../.."), "/");
        assert_eq!(uri("/./"), "/");
        assert_eq!(uri("/example/./"), "/example/");
        assert_eq!(uri("//example//"), "/example/");
        assert_eq!(uri("/../x"), "/x");
        assert_eq!(uri("/a.b/c"), "/a.b/c");
    }

    #[test]
    fn query_is_sorted_and_strictly_encoded() {
        assert_eq!(query(""), "");
        assert_eq!(query("b=2&a=1&a=0"), "a=0&a=1&b=2");
        assert_eq!(query("flag&x=%7e"), "flag=&x=~");
        assert_eq!(query("k=a+b&s=%2B/"), "k=a%20b&s=%2B%2F");
        assert_eq!(query("bad=%zz%4"), "bad=%25zz%254");
        assert_eq!(
            query("Param1=value2&Param1=Value1"),
            "Param1=Value1&Param1=value2"
        );
    }

    #[test]
    fn header_values_are_trimmed_and_collapsed() {
        assert_eq!(header_value("  a   b\t c  "), "a b c");
        assert_eq!(header_value(""), "");
    }
}

//! The botocore models of the services Porthole serves, embedded and each
//! parsed once, at first use.
//!
//! Only what the wire layer needs is kept: the metadata that routes and signs
//! requests, shapes with their constraint traits, operations' input/output
//! shapes, error shapes' HTTP status and the paginators.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::sync::LazyLock;

use serde::Deserialize;

/// One embedded botocore model: `service-2.json.gz`, `paginators-1.json` and
/// the ranges its documentation states (see [`APPSTREAM_RANGES`]).
pub(crate) struct Source {
    service_gz: &'static [u8],
    paginators: &'static str,
    documented_ranges: &'static [DocumentedRange],
}

/// (input shape, member, min, max).
pub(crate) type DocumentedRange = (&'static str, &'static str, i64, i64);

pub(crate) static APPSTREAM_SOURCE: Source = Source {
    service_gz: include_bytes!("../model/appstream/service-2.json.gz"),
    paginators: include_str!("../model/appstream/paginators-1.json"),
    documented_ranges: APPSTREAM_RANGES,
};

pub(crate) static APPLICATION_AUTOSCALING_SOURCE: Source = Source {
    service_gz: include_bytes!("../model/application-autoscaling/service-2.json.gz"),
    paginators: include_str!("../model/application-autoscaling/paginators-1.json"),
    documented_ranges: APPLICATION_AUTOSCALING_RANGES,
};

pub(crate) static APPSTREAM: LazyLock<Model> = LazyLock::new(|| Model::load(&APPSTREAM_SOURCE));
pub(crate) static APPLICATION_AUTOSCALING: LazyLock<Model> =
    LazyLock::new(|| Model::load(&APPLICATION_AUTOSCALING_SOURCE));

/// Ranges the service enforces that the model states only in its members'
/// documentation ("Specify a value between 1 and 604800 seconds"), not as
/// `min`/`max` traits. They are applied like model ranges; `model_tests`
/// checks each against the documentation text so a model update cannot
/// silently drift from this table.
/// DescribeSessions' `Limit` documents only its maximum (50); 1 is the least
/// page size that makes progress, so it is the minimum here.
/// IdleDisconnectTimeoutInSeconds is "0, or 60..36000": the gap is the
/// control plane's rule, only the outer range is checked here.
pub(crate) const APPSTREAM_RANGES: &[DocumentedRange] = &[
    ("CreateStreamingURLRequest", "Validity", 1, 604_800),
    (
        "CreateImageBuilderStreamingURLRequest",
        "Validity",
        1,
        604_800,
    ),
    (
        "CreateAppBlockBuilderStreamingURLRequest",
        "Validity",
        1,
        604_800,
    ),
    ("DescribeSessionsRequest", "Limit", 1, 50),
    (
        "CreateFleetRequest",
        "MaxUserDurationInSeconds",
        600,
        432_000,
    ),
    (
        "UpdateFleetRequest",
        "MaxUserDurationInSeconds",
        600,
        432_000,
    ),
    (
        "CreateFleetRequest",
        "DisconnectTimeoutInSeconds",
        60,
        36_000,
    ),
    (
        "UpdateFleetRequest",
        "DisconnectTimeoutInSeconds",
        60,
        36_000,
    ),
    (
        "CreateFleetRequest",
        "IdleDisconnectTimeoutInSeconds",
        0,
        36_000,
    ),
    (
        "UpdateFleetRequest",
        "IdleDisconnectTimeoutInSeconds",
        0,
        36_000,
    ),
    ("VolumeConfig", "VolumeSizeInGb", 200, 500),
];

/// Application Auto Scaling's page sizes ("This value can be between 1 and 50").
pub(crate) const APPLICATION_AUTOSCALING_RANGES: &[DocumentedRange] = &[
    ("DescribeScalableTargetsRequest", "MaxResults", 1, 50),
    ("DescribeScalingPoliciesRequest", "MaxResults", 1, 10),
    ("DescribeScalingActivitiesRequest", "MaxResults", 1, 50),
];

#[derive(Debug, Deserialize)]
struct RawModel {
    metadata: Metadata,
    operations: HashMap<String, RawOperation>,
    shapes: HashMap<String, RawShape>,
}

/// The model's `metadata` members that route and authenticate requests.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Metadata {
    /// The service name on the wire: `X-Amz-Target: <targetPrefix>.<Op>`,
    /// `/service/<targetPrefix>/operation/<Op>`.
    pub target_prefix: String,
    /// The service in SigV4 credential scopes.
    pub signing_name: String,
    pub service_id: String,
    /// botocore names: `json`, `smithy-rpc-v2-cbor`.
    pub protocols: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct RawOperation {
    input: Option<RawRef>,
    output: Option<RawRef>,
}

#[derive(Debug, Deserialize)]
struct RawRef {
    shape: String,
}

#[derive(Debug, Deserialize)]
struct RawErrorInfo {
    #[serde(rename = "httpStatusCode")]
    http_status_code: Option<u16>,
}

#[derive(Debug, Deserialize)]
struct RawShape {
    #[serde(rename = "type")]
    kind: String,
    // BTreeMap: members are validated (and errors listed) in a stable order.
    #[serde(default)]
    members: BTreeMap<String, RawRef>,
    #[serde(default)]
    required: Vec<String>,
    member: Option<RawRef>,
    key: Option<RawRef>,
    value: Option<RawRef>,
    min: Option<f64>,
    max: Option<f64>,
    pattern: Option<String>,
    #[serde(rename = "enum")]
    enum_values: Option<Vec<String>>,
    #[serde(default)]
    sensitive: bool,
    error: Option<RawErrorInfo>,
    #[serde(default)]
    exception: bool,
}

/// Inclusive bounds from the model (`min`/`max`): a length for strings, lists,
/// maps and blobs, a value for numbers.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Bounds {
    pub min: Option<f64>,
    pub max: Option<f64>,
}

#[derive(Debug)]
pub(crate) struct Member {
    pub name: String,
    pub target: String,
    /// A documented range that overrides the target shape's (see APPSTREAM_RANGES).
    pub documented_range: Option<Bounds>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NumberKind {
    Integer,
    Long,
    Float,
}

#[derive(Debug)]
pub(crate) enum Shape {
    Structure {
        members: Vec<Member>,
        required: Vec<String>,
    },
    List {
        member: String,
        length: Bounds,
    },
    Map {
        key: String,
        value: String,
        length: Bounds,
    },
    String {
        length: Bounds,
        pattern: Option<String>,
        enum_values: Option<Vec<String>>,
        sensitive: bool,
    },
    Number {
        kind: NumberKind,
        range: Bounds,
    },
    Boolean,
    Timestamp,
    Blob {
        length: Bounds,
    },
}

impl Shape {
    /// The Java-style type name AWS uses in serialization error messages.
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Shape::Structure { .. } => "Structure",
            Shape::List { .. } => "List",
            Shape::Map { .. } => "Map",
            Shape::String { .. } => "String",
            Shape::Number {
                kind: NumberKind::Integer,
                ..
            } => "Integer",
            Shape::Number {
                kind: NumberKind::Long,
                ..
            } => "Long",
            Shape::Number {
                kind: NumberKind::Float,
                ..
            } => "Double",
            Shape::Boolean => "Boolean",
            Shape::Timestamp => "Timestamp",
            Shape::Blob { .. } => "Blob",
        }
    }
}

#[derive(Debug)]
pub(crate) struct Operation {
    pub input: Option<String>,
    pub output: Option<String>,
}

#[derive(Debug)]
pub(crate) struct Model {
    pub metadata: Metadata,
    pub operations: HashMap<String, Operation>,
    pub shapes: HashMap<String, Shape>,
    /// Error shape name -> HTTP status from its `error.httpStatusCode`.
    pub error_statuses: HashMap<String, u16>,
    /// Every `pattern` compiled once, keyed by the model's pattern text.
    pub patterns: HashMap<String, fancy_regex::Regex>,
    pub paginators: HashMap<String, Paginator>,
}

impl Model {
    pub(crate) fn shape(&self, name: &str) -> &Shape {
        // The model is checked at load time: every referenced shape exists.
        &self.shapes[name]
    }
}

impl Source {
    /// The embedded service model's JSON text, decompressed.
    pub(crate) fn service_json(&self) -> String {
        let mut text = String::new();
        flate2::read::GzDecoder::new(self.service_gz)
            .read_to_string(&mut text)
            .expect("embedded service-2.json.gz is valid gzip'd UTF-8");
        text
    }
}

impl Model {
    fn load(source: &Source) -> Model {
        let raw: RawModel =
            serde_json::from_str(&source.service_json()).expect("embedded service-2.json parses");
        let paginators: RawPaginators =
            serde_json::from_str(source.paginators).expect("embedded paginators-1.json parses");
        build(raw, source.documented_ranges, paginators)
    }
}

fn bounds(raw: &RawShape) -> Bounds {
    Bounds {
        min: raw.min,
        max: raw.max,
    }
}

fn build(raw: RawModel, documented_ranges: &[DocumentedRange], paginators: RawPaginators) -> Model {
    let mut error_statuses = HashMap::new();
    let mut patterns = HashMap::new();
    let mut shapes = HashMap::new();
    for (name, shape) in &raw.shapes {
        if shape.exception {
            let status = shape
                .error
                .as_ref()
                .and_then(|e| e.http_status_code)
                .unwrap_or(400);
            error_statuses.insert(name.clone(), status);
        }
        let built = match shape.kind.as_str() {
            "structure" => Shape::Structure {
                members: shape
                    .members
                    .iter()
                    .map(|(member, target)| Member {
                        name: member.clone(),
                        target: target.shape.clone(),
                        documented_range: documented_ranges
                            .iter()
                            .find(|(s, m, _, _)| s == name && m == member)
                            .map(|&(_, _, min, max)| Bounds {
                                min: Some(min as f64),
                                max: Some(max as f64),
                            }),
                    })
                    .collect(),
                required: shape.required.clone(),
            },
            "list" => Shape::List {
                member: target(name, &shape.member),
                length: bounds(shape),
            },
            "map" => Shape::Map {
                key: target(name, &shape.key),
                value: target(name, &shape.value),
                length: bounds(shape),
            },
            "string" => {
                if let Some(pattern) = &shape.pattern {
                    patterns
                        .entry(pattern.clone())
                        .or_insert_with(|| compile_pattern(pattern));
                }
                Shape::String {
                    length: bounds(shape),
                    pattern: shape.pattern.clone(),
                    enum_values: shape.enum_values.clone(),
                    sensitive: shape.sensitive,
                }
            }
            "integer" => number(NumberKind::Integer, shape),
            "long" => number(NumberKind::Long, shape),
            "float" | "double" => number(NumberKind::Float, shape),
            "boolean" => Shape::Boolean,
            "timestamp" => Shape::Timestamp,
            "blob" => Shape::Blob {
                length: bounds(shape),
            },
            other => panic!("shape {name}: unsupported model type {other:?}"),
        };
        shapes.insert(name.clone(), built);
    }
    let operations = raw
        .operations
        .into_iter()
        .map(|(name, op)| {
            (
                name,
                Operation {
                    input: op.input.map(|r| r.shape),
                    output: op.output.map(|r| r.shape),
                },
            )
        })
        .collect();
    let paginators = paginators
        .pagination
        .into_iter()
        .map(|(op, p)| {
            (
                op,
                Paginator {
                    input_token: p.input_token,
                    output_token: p.output_token,
                    limit_key: p.limit_key,
                },
            )
        })
        .collect();
    let model = Model {
        metadata: raw.metadata,
        operations,
        shapes,
        error_statuses,
        patterns,
        paginators,
    };
    check_references(&model);
    model
}

fn number(kind: NumberKind, raw: &RawShape) -> Shape {
    Shape::Number {
        kind,
        range: bounds(raw),
    }
}

fn target(shape: &str, reference: &Option<RawRef>) -> String {
    reference
        .as_ref()
        .unwrap_or_else(|| panic!("shape {shape}: collection without member/key/value"))
        .shape
        .clone()
}

/// Fails loudly at first use if the embedded model refers to a shape it lacks,
/// so lookups afterwards can index directly.
fn check_references(model: &Model) {
    let check = |from: &str, to: &str| {
        assert!(
            model.shapes.contains_key(to),
            "model: {from} refers to missing shape {to}"
        );
    };
    for (name, op) in &model.operations {
        for shape in op.input.iter().chain(&op.output) {
            check(name, shape);
        }
    }
    for (name, shape) in &model.shapes {
        match shape {
            Shape::Structure { members, .. } => {
                members.iter().for_each(|m| check(name, &m.target));
            }
            Shape::List { member, .. } => check(name, member),
            Shape::Map { key, value, .. } => {
                check(name, key);
                check(name, value);
            }
            _ => {}
        }
    }
}

/// Compiles a model pattern with AWS's server-side semantics.
///
/// The service (Java) matches the whole value (`Matcher.matches`), so an
/// unanchored pattern like `[\w+=,.@-]*` still rejects "a b": the pattern is
/// wrapped in `^(?:...)$`. Java's `\w`, `\d` and `\s` are ASCII-only, Rust's
/// are Unicode, so they (and `\p{Print}`) are rewritten to the ASCII
/// classes. Java writes
/// characters beyond the BMP as UTF-16 surrogate pairs (`\uD800\uDC00`,
/// Application Auto Scaling's XmlString), which Rust cannot parse: they
/// become code points. Patterns use look-ahead and look-behind (TagKey,
/// S3Bucket), hence fancy-regex.
fn compile_pattern(pattern: &str) -> fancy_regex::Regex {
    let translated = format!("^(?:{})$", java_to_rust(pattern));
    fancy_regex::Regex::new(&translated)
        .unwrap_or_else(|e| panic!("model pattern {pattern:?} does not compile: {e}"))
}

/// The UTF-16 unit of a Java `\uXXXX` escape whose `\u` was just read.
fn utf16_unit(chars: &mut std::str::Chars) -> Option<u32> {
    let hex: String = chars.clone().take(4).collect();
    let unit = u32::from_str_radix(&hex, 16)
        .ok()
        .filter(|_| hex.len() == 4)?;
    chars.nth(3);
    Some(unit)
}

/// A Java `\uXXXX` (or surrogate pair `\uXXXX\uYYYY`) escape as Rust's `\x{...}`.
fn java_unicode_escape(chars: &mut std::str::Chars) -> Option<String> {
    let unit = utf16_unit(chars)?;
    let code = if (0xD800..0xDC00).contains(&unit) {
        let mut ahead = chars.clone();
        let low = (ahead.next() == Some('\\') && ahead.next() == Some('u'))
            .then(|| utf16_unit(&mut ahead))
            .flatten()
            .filter(|low| (0xDC00..0xE000).contains(low))?;
        *chars = ahead;
        0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
    } else {
        unit
    };
    Some(format!("\\x{{{code:X}}}"))
}

fn java_to_rust(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut in_class = false;
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let Some(next) = chars.next() else {
                    out.push(c);
                    break;
                };
                if next == 'u' {
                    if let Some(escape) = java_unicode_escape(&mut chars) {
                        out.push_str(&escape);
                        continue;
                    }
                }
                let posix = match next {
                    'w' => Some("[:word:]"),
                    'd' => Some("[:digit:]"),
                    's' => Some("[:space:]"),
                    // Java's \p{Print} is ASCII's printable range.
                    'p' if chars.as_str().starts_with("{Print}") => {
                        chars.nth(6);
                        Some("[:print:]")
                    }
                    _ => None,
                };
                match (posix, in_class) {
                    (Some(class), true) => out.push_str(class),
                    (Some(class), false) => {
                        out.push('[');
                        out.push_str(class);
                        out.push(']');
                    }
                    (None, _) => {
                        out.push(c);
                        out.push(next);
                    }
                }
            }
            '[' if !in_class => {
                in_class = true;
                out.push(c);
            }
            ']' if in_class => {
                in_class = false;
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

#[derive(Debug, Deserialize)]
struct RawPaginators {
    pagination: HashMap<String, RawPaginator>,
}

#[derive(Debug, Deserialize)]
struct RawPaginator {
    input_token: String,
    output_token: String,
    limit_key: Option<String>,
}

/// The member names an operation's pagination uses (paginators-1.json).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paginator {
    pub input_token: String,
    pub output_token: String,
    pub limit_key: Option<String>,
}

#[cfg(test)]
mod model_tests {
    use super::*;

    #[test]
    fn the_whole_model_loads_and_every_pattern_compiles() {
        assert!(APPSTREAM.operations.len() >= 90);
        assert!(APPSTREAM.patterns.len() >= 25);
        assert_eq!(APPSTREAM.error_statuses["ResourceNotFoundException"], 404);
        assert_eq!(APPSTREAM.error_statuses["ResourceInUseException"], 400);
        assert_eq!(APPSTREAM.metadata.target_prefix, "PhotonAdminProxyService");
        assert_eq!(APPSTREAM.metadata.signing_name, "appstream");
    }

    #[test]
    fn the_application_auto_scaling_model_loads() {
        let m = &*APPLICATION_AUTOSCALING;
        assert_eq!(m.operations.len(), 14);
        assert_eq!(m.metadata.target_prefix, "AnyScaleFrontendService");
        assert_eq!(m.metadata.signing_name, "application-autoscaling");
        assert_eq!(m.metadata.protocols, ["json"]);
        assert_eq!(m.error_statuses["ObjectNotFoundException"], 400);
        // The same code has another status in AppStream: statuses are per model.
        assert_eq!(m.error_statuses["ResourceNotFoundException"], 400);
        assert_eq!(
            m.paginators["DescribeScalingPolicies"].limit_key.as_deref(),
            Some("MaxResults")
        );
    }

    #[test]
    fn documented_ranges_match_the_model_documentation() {
        for source in [&APPSTREAM_SOURCE, &APPLICATION_AUTOSCALING_SOURCE] {
            check_documented_ranges(source);
        }
    }

    fn check_documented_ranges(source: &Source) {
        let raw: serde_json::Value = serde_json::from_str(&source.service_json()).unwrap();
        for &(shape, member, min, max) in source.documented_ranges {
            let doc = raw["shapes"][shape]["members"][member]["documentation"]
                .as_str()
                .unwrap_or_else(|| panic!("{shape}.{member} is not in the model"));
            assert!(
                doc.contains(&max.to_string()),
                "{shape}.{member}: documentation does not mention {max}: {doc}"
            );
            // DescribeSessions' minimum is ours (see APPSTREAM_RANGES).
            if shape != "DescribeSessionsRequest" {
                assert!(
                    doc.contains(&min.to_string()),
                    "{shape}.{member}: documentation does not mention {min}: {doc}"
                );
            }
        }
    }

    #[test]
    fn java_classes_become_ascii_classes_inside_and_outside_brackets() {
        assert_eq!(java_to_rust(r"[\w+=,.@-]*"), r"[[:word:]+=,.@-]*");
        assert_eq!(java_to_rust(r"^\d+$"), r"^[[:digit:]]+$");
        assert_eq!(java_to_rust(r"\.\-"), r"\.\-");
        assert_eq!(
            java_to_rust(r"[\u0020-\uD7FF\uD800\uDC00-\uDBFF\uDFFF\t]*"),
            r"[\x{20}-\x{D7FF}\x{10000}-\x{10FFFF}\t]*"
        );
        let xml = compile_pattern(r"[\u0020-\uD7FF\uE000-\uFFFD\uD800\uDC00-\uDBFF\uDFFF\r\n\t]*");
        assert!(xml.is_match("fleet/demo 😀").unwrap());
        assert!(!xml.is_match("bell\u{7}").unwrap());
        let print = compile_pattern(r"\p{Print}+");
        assert!(print.is_match("util75 ~").unwrap());
        assert!(!print.is_match("tab\t").unwrap());
        assert!(!print.is_match("é").unwrap(), "Java's Print class is ASCII");
        let user_id = compile_pattern(r"[\w+=,.@-]*");
        assert!(user_id.is_match("alice@example.com").unwrap());
        assert!(!user_id.is_match("élise").unwrap(), "Java's \\w is ASCII");
        assert!(!user_id.is_match("a b").unwrap(), "whole-value match");
    }

    #[test]
    fn lookaround_patterns_work() {
        let tag_key = &APPSTREAM.patterns[r"^(^(?!aws:).[\p{L}\p{Z}\p{N}_.:/=+\-@]*)$"];
        assert!(tag_key.is_match("Team").unwrap());
        assert!(tag_key.is_match("équipe").unwrap());
        assert!(!tag_key.is_match("aws:reserved").unwrap());
        let bucket = &APPSTREAM.patterns[r"^[0-9a-z\.\-]*(?<!\.)$"];
        assert!(bucket.is_match("my.bucket").unwrap());
        assert!(!bucket.is_match("my.bucket.").unwrap());
    }
}

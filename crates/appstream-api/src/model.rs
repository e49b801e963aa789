//! The botocore AppStream model, embedded and parsed once.
//!
//! Only what the wire layer needs is kept: shapes with their constraint traits,
//! operations' input/output shapes, error shapes' HTTP status and the paginators.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::sync::{LazyLock, OnceLock};

use serde::Deserialize;

static SERVICE_GZ: &[u8] = include_bytes!("../model/service-2.json.gz");
static PAGINATORS: &str = include_str!("../model/paginators-1.json");

/// Ranges the service enforces that the model states only in its members'
/// documentation ("Specify a value between 1 and 604800 seconds"), not as
/// `min`/`max` traits. They are applied like model ranges; `model_tests`
/// checks each against the documentation text so a model update cannot
/// silently drift from this table.
/// DescribeSessions' `Limit` documents only its maximum (50); 1 is the least
/// page size that makes progress, so it is the minimum here.
/// IdleDisconnectTimeoutInSeconds is "0, or 60..36000": the gap is the
/// control plane's rule, only the outer range is checked here.
pub(crate) const DOCUMENTED_RANGES: &[(&str, &str, i64, i64)] = &[
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

#[derive(Debug, Deserialize)]
struct RawModel {
    operations: HashMap<String, RawOperation>,
    shapes: HashMap<String, RawShape>,
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
    /// A documented range that overrides the target shape's (see DOCUMENTED_RANGES).
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
    pub operations: HashMap<String, Operation>,
    pub shapes: HashMap<String, Shape>,
    /// Error shape name -> HTTP status from its `error.httpStatusCode`.
    pub error_statuses: HashMap<String, u16>,
    /// Every `pattern` compiled once, keyed by the model's pattern text.
    pub patterns: HashMap<String, fancy_regex::Regex>,
}

impl Model {
    pub(crate) fn shape(&self, name: &str) -> &Shape {
        // The model is checked at load time: every referenced shape exists.
        &self.shapes[name]
    }
}

/// The embedded service model's JSON text, decompressed.
pub(crate) fn service_json() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| {
        let mut text = String::new();
        flate2::read::GzDecoder::new(SERVICE_GZ)
            .read_to_string(&mut text)
            .expect("embedded service-2.json.gz is valid gzip'd UTF-8");
        text
    })
}

pub(crate) static MODEL: LazyLock<Model> = LazyLock::new(|| {
    let raw: RawModel =
        serde_json::from_str(service_json()).expect("embedded service-2.json parses");
    build(raw)
});

fn bounds(raw: &RawShape) -> Bounds {
    Bounds {
        min: raw.min,
        max: raw.max,
    }
}

fn build(raw: RawModel) -> Model {
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
                        documented_range: DOCUMENTED_RANGES
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
    let model = Model {
        operations,
        shapes,
        error_statuses,
        patterns,
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
/// are Unicode, so they are rewritten to the ASCII classes. Patterns use
/// look-ahead and look-behind (TagKey, S3Bucket), hence fancy-regex.
fn compile_pattern(pattern: &str) -> fancy_regex::Regex {
    let translated = format!("^(?:{})$", java_ascii_classes(pattern));
    fancy_regex::Regex::new(&translated)
        .unwrap_or_else(|e| panic!("model pattern {pattern:?} does not compile: {e}"))
}

fn java_ascii_classes(pattern: &str) -> String {
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
                let posix = match next {
                    'w' => Some("[:word:]"),
                    'd' => Some("[:digit:]"),
                    's' => Some("[:space:]"),
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

pub(crate) static PAGINATORS_MAP: LazyLock<HashMap<String, Paginator>> = LazyLock::new(|| {
    let raw: RawPaginators =
        serde_json::from_str(PAGINATORS).expect("embedded paginators-1.json parses");
    raw.pagination
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
        .collect()
});

#[cfg(test)]
mod model_tests {
    use super::*;

    #[test]
    fn the_whole_model_loads_and_every_pattern_compiles() {
        assert!(MODEL.operations.len() >= 90);
        assert!(MODEL.patterns.len() >= 25);
        assert_eq!(MODEL.error_statuses["ResourceNotFoundException"], 404);
        assert_eq!(MODEL.error_statuses["ResourceInUseException"], 400);
    }

    #[test]
    fn documented_ranges_match_the_model_documentation() {
        let raw: serde_json::Value = serde_json::from_str(service_json()).unwrap();
        for &(shape, member, min, max) in DOCUMENTED_RANGES {
            let doc = raw["shapes"][shape]["members"][member]["documentation"]
                .as_str()
                .unwrap_or_else(|| panic!("{shape}.{member} is not in the model"));
            assert!(
                doc.contains(&max.to_string()),
                "{shape}.{member}: documentation does not mention {max}: {doc}"
            );
            // DescribeSessions' minimum is ours (see DOCUMENTED_RANGES).
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
        assert_eq!(java_ascii_classes(r"[\w+=,.@-]*"), r"[[:word:]+=,.@-]*");
        assert_eq!(java_ascii_classes(r"^\d+$"), r"^[[:digit:]]+$");
        assert_eq!(java_ascii_classes(r"\.\-"), r"\.\-");
        let user_id = compile_pattern(r"[\w+=,.@-]*");
        assert!(user_id.is_match("alice@example.com").unwrap());
        assert!(!user_id.is_match("élise").unwrap(), "Java's \\w is ASCII");
        assert!(!user_id.is_match("a b").unwrap(), "whole-value match");
    }

    #[test]
    fn lookaround_patterns_work() {
        let tag_key = &MODEL.patterns[r"^(^(?!aws:).[\p{L}\p{Z}\p{N}_.:/=+\-@]*)$"];
        assert!(tag_key.is_match("Team").unwrap());
        assert!(tag_key.is_match("équipe").unwrap());
        assert!(!tag_key.is_match("aws:reserved").unwrap());
        let bucket = &MODEL.patterns[r"^[0-9a-z\.\-]*(?<!\.)$"];
        assert!(bucket.is_match("my.bucket").unwrap());
        assert!(!bucket.is_match("my.bucket.").unwrap());
    }
}

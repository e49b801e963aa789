//! Validation of an input document against its model shape, with AWS's
//! (Coral's) messages.
//!
//! Two failure kinds, as AWS has them: a value of the wrong JSON type cannot
//! be deserialized at all (SerializationException, first one aborts), while
//! constraint violations (required, length, pattern, enum, range) are all
//! collected into one ValidationException.

use serde_json::{Map, Value};

use crate::model::{Bounds, Model, NumberKind, Shape};

/// The outcome of validating a document that has the right types.
pub(crate) struct Checked {
    /// The document with only modelled members, nulls dropped and integral
    /// floats (`5.0`) turned into integers for integer shapes.
    pub value: Value,
    /// One AWS-style sentence per violated constraint.
    pub violations: Vec<String>,
}

/// Validates `value` against structure `shape`. `Err` is a serialization
/// error message (a value of the wrong type).
pub(crate) fn check_input(model: &Model, shape: &str, value: &Value) -> Result<Checked, String> {
    let mut violations = Vec::new();
    let value = check(model, shape, None, value, "", &mut violations)?;
    Ok(Checked { value, violations })
}

/// AWS's member path: lowerCamel member names joined by dots.
fn member_path(parent: &str, member: &str) -> String {
    let mut chars = member.chars();
    let camel: String = match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    };
    if parent.is_empty() {
        camel
    } else {
        format!("{parent}.{camel}")
    }
}

/// How Coral prints a value in "Value '...' at": Java's toString.
pub(crate) fn render(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(render).collect();
            format!("[{}]", items.join(", "))
        }
        Value::Object(map) => {
            let entries: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{k}={}", render(v)))
                .collect();
            format!("{{{}}}", entries.join(", "))
        }
        other => other.to_string(),
    }
}

fn violation(value: &Value, sensitive: bool, path: &str, constraint: &str) -> String {
    if sensitive {
        // AWS does not echo sensitive values back.
        format!("Value at '{path}' failed to satisfy constraint: {constraint}")
    } else {
        format!(
            "Value '{}' at '{path}' failed to satisfy constraint: {constraint}",
            render(value)
        )
    }
}

/// Jackson's name for the JSON token found where another type was expected.
fn token_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "VALUE_NULL",
        Value::Bool(true) => "VALUE_TRUE",
        Value::Bool(false) => "VALUE_FALSE",
        Value::Number(n) if n.is_f64() => "VALUE_NUMBER_FLOAT",
        Value::Number(_) => "VALUE_NUMBER_INT",
        Value::String(_) => "VALUE_STRING",
        Value::Array(_) => "START_ARRAY",
        Value::Object(_) => "START_OBJECT",
    }
}

fn mismatch(shape: &Shape, value: &Value, path: &str) -> String {
    let at = if path.is_empty() {
        "the request body".to_string()
    } else {
        format!("'{path}'")
    };
    format!(
        "{} can not be converted to {} {} (at {at})",
        token_name(value),
        if shape.type_name().starts_with(['A', 'E', 'I', 'O', 'U']) {
            "an"
        } else {
            "a"
        },
        shape.type_name()
    )
}

fn length_constraints(len: usize, bounds: Bounds) -> Vec<String> {
    let len = len as f64;
    let mut out = Vec::new();
    if let Some(min) = bounds.min.filter(|&min| len < min) {
        out.push(format!(
            "Member must have length greater than or equal to {min}"
        ));
    }
    if let Some(max) = bounds.max.filter(|&max| len > max) {
        out.push(format!(
            "Member must have length less than or equal to {max}"
        ));
    }
    out
}

fn range_constraints(n: f64, bounds: Bounds) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(min) = bounds.min.filter(|&min| n < min) {
        out.push(format!(
            "Member must have value greater than or equal to {min}"
        ));
    }
    if let Some(max) = bounds.max.filter(|&max| n > max) {
        out.push(format!(
            "Member must have value less than or equal to {max}"
        ));
    }
    out
}

/// The constraints a scalar (already type-checked, normalized) value breaks,
/// each as "Member must ...".
fn scalar_constraints(
    model: &Model,
    shape: &Shape,
    range_override: Option<Bounds>,
    value: &Value,
) -> Vec<String> {
    match (shape, value) {
        (
            Shape::String {
                length,
                pattern,
                enum_values,
                ..
            },
            Value::String(s),
        ) => {
            let mut out = Vec::new();
            if let Some(values) = enum_values.as_ref().filter(|v| !v.contains(s)) {
                out.push(format!(
                    "Member must satisfy enum value set: [{}]",
                    values.join(", ")
                ));
            }
            // Smithy's length counts Unicode scalar values.
            out.extend(length_constraints(s.chars().count(), *length));
            if let Some(pattern) = pattern {
                // A regex engine error (backtrack limit) counts as no match.
                if !model.patterns[pattern].is_match(s).unwrap_or(false) {
                    out.push(format!(
                        "Member must satisfy regular expression pattern: {pattern}"
                    ));
                }
            }
            out
        }
        (Shape::Number { range, .. }, Value::Number(n)) => {
            range_constraints(n.as_f64().unwrap_or(0.0), range_override.unwrap_or(*range))
        }
        (Shape::Blob { length }, Value::String(b64)) => {
            // Base64 text of n bytes is 4*ceil(n/3) long; the byte count is
            // what the constraint is about.
            let padding = b64.chars().rev().take_while(|&c| c == '=').count();
            length_constraints((b64.len() / 4 * 3).saturating_sub(padding), *length)
        }
        _ => Vec::new(),
    }
}

fn sensitive(shape: &Shape) -> bool {
    matches!(
        shape,
        Shape::String {
            sensitive: true,
            ..
        }
    )
}

fn is_scalar(shape: &Shape) -> bool {
    !matches!(
        shape,
        Shape::Structure { .. } | Shape::List { .. } | Shape::Map { .. }
    )
}

/// Type-checks and normalizes `value` for `shape_name`, collecting the
/// constraints it breaks into `violations` (with its own path).
fn check(
    model: &Model,
    shape_name: &str,
    range_override: Option<Bounds>,
    value: &Value,
    path: &str,
    violations: &mut Vec<String>,
) -> Result<Value, String> {
    let shape = model.shape(shape_name);
    let normalized = normalize_type(model, shape, value, path, violations)?;
    for constraint in scalar_constraints(model, shape, range_override, &normalized) {
        violations.push(violation(&normalized, sensitive(shape), path, &constraint));
    }
    Ok(normalized)
}

/// Checks that `value` has the JSON type `shape` needs; recurses into
/// collections and structures.
fn normalize_type(
    model: &Model,
    shape: &Shape,
    value: &Value,
    path: &str,
    violations: &mut Vec<String>,
) -> Result<Value, String> {
    match (shape, value) {
        (Shape::Structure { members, required }, Value::Object(object)) => {
            let mut out = Map::new();
            for member in members {
                let child = member_path(path, &member.name);
                match object.get(&member.name) {
                    // AWS treats an explicit null like an absent member.
                    None | Some(Value::Null) => {
                        if required.contains(&member.name) {
                            violations.push(format!(
                                "Value null at '{child}' failed to satisfy constraint: Member must not be null"
                            ));
                        }
                    }
                    Some(v) => {
                        let checked = check(
                            model,
                            &member.target,
                            member.documented_range,
                            v,
                            &child,
                            violations,
                        )?;
                        out.insert(member.name.clone(), checked);
                    }
                }
            }
            Ok(Value::Object(out))
        }
        (Shape::List { member, length }, Value::Array(items)) => {
            let member_shape = model.shape(member);
            let mut out = Vec::with_capacity(items.len());
            let mut element_constraints = Vec::new();
            for (index, item) in items.iter().enumerate() {
                let child = format!("{path}.{}.member", index + 1);
                if item.is_null() {
                    violations.push(format!(
                        "Value null at '{child}' failed to satisfy constraint: Member must not be null"
                    ));
                    continue;
                }
                if is_scalar(member_shape) {
                    let normalized = normalize_type(model, member_shape, item, &child, violations)?;
                    element_constraints.extend(scalar_constraints(
                        model,
                        member_shape,
                        None,
                        &normalized,
                    ));
                    out.push(normalized);
                } else {
                    out.push(check(model, member, None, item, &child, violations)?);
                }
            }
            let out = Value::Array(out);
            // Coral reports scalar elements' failures once, on the list.
            if !element_constraints.is_empty() {
                dedup_in_order(&mut element_constraints);
                violations.push(violation(
                    &out,
                    sensitive(member_shape),
                    path,
                    &format!(
                        "Member must satisfy constraint: [{}]",
                        element_constraints.join(", ")
                    ),
                ));
            }
            for constraint in length_constraints(items.len(), *length) {
                violations.push(violation(&out, false, path, &constraint));
            }
            Ok(out)
        }
        (Shape::Map { key, value, length }, Value::Object(object)) => {
            let key_shape = model.shape(key);
            let value_shape = model.shape(value);
            let mut out = Map::new();
            let mut key_constraints = Vec::new();
            let mut value_constraints = Vec::new();
            for (k, v) in object {
                let k_value = Value::String(k.clone());
                let k_checked = normalize_type(model, key_shape, &k_value, path, violations)?;
                key_constraints.extend(scalar_constraints(model, key_shape, None, &k_checked));
                let child = format!("{path}.{k}");
                if v.is_null() {
                    violations.push(format!(
                        "Value null at '{child}' failed to satisfy constraint: Member must not be null"
                    ));
                    continue;
                }
                let checked = if is_scalar(value_shape) {
                    let normalized = normalize_type(model, value_shape, v, &child, violations)?;
                    value_constraints.extend(scalar_constraints(
                        model,
                        value_shape,
                        None,
                        &normalized,
                    ));
                    normalized
                } else {
                    check(model, value, None, v, &child, violations)?
                };
                out.insert(k.clone(), checked);
            }
            let out = Value::Object(out);
            for (label, mut constraints, is_sensitive) in [
                ("Map keys", key_constraints, sensitive(key_shape)),
                ("Map value", value_constraints, sensitive(value_shape)),
            ] {
                if !constraints.is_empty() {
                    dedup_in_order(&mut constraints);
                    violations.push(violation(
                        &out,
                        is_sensitive,
                        path,
                        &format!(
                            "{label} must satisfy constraint: [{}]",
                            constraints.join(", ")
                        ),
                    ));
                }
            }
            for constraint in length_constraints(object.len(), *length) {
                violations.push(violation(&out, false, path, &constraint));
            }
            Ok(out)
        }
        (Shape::String { .. }, Value::String(_)) | (Shape::Boolean, Value::Bool(_)) => {
            Ok(value.clone())
        }
        // Epoch seconds, the JSON (and decoded CBOR tag 1) timestamp form.
        (Shape::Timestamp, Value::Number(_)) => Ok(value.clone()),
        // Blobs travel as base64 text in JSON (and CBOR byte strings are
        // decoded to it).
        (Shape::Blob { .. }, Value::String(_)) => Ok(value.clone()),
        (Shape::Number { kind, .. }, Value::Number(n)) => {
            normalize_number(*kind, n).ok_or_else(|| mismatch(shape, value, path))
        }
        _ => Err(mismatch(shape, value, path)),
    }
}

fn normalize_number(kind: NumberKind, n: &serde_json::Number) -> Option<Value> {
    let integral = || {
        n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                .map(|f| f as i64)
        })
    };
    match kind {
        NumberKind::Integer => integral()
            .filter(|&i| i32::try_from(i).is_ok())
            .map(Value::from),
        NumberKind::Long => integral().map(Value::from),
        NumberKind::Float => n.as_f64().map(Value::from),
    }
}

fn dedup_in_order(items: &mut Vec<String>) {
    let mut seen = std::collections::HashSet::new();
    items.retain(|item| seen.insert(item.clone()));
}

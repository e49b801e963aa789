//! CBOR <-> JSON document conversion for rpcv2Cbor.
//!
//! Decoding is generic (ciborium): maps become objects, tag 1 timestamps
//! become epoch-seconds numbers, byte strings become base64 text (the JSON
//! form of blobs), so validation sees the same document as for awsJson.
//!
//! Encoding is driven by the output shape and written by hand: timestamps
//! must become tag 1 and blobs byte strings, and every float is written as a
//! float64, because the Rust SDK reads timestamps and doubles with
//! `minicbor::Decoder::f64`, which accepts only float64 (ciborium would
//! shrink 1700000000.0 to a float32).

use base64::Engine as _;
use ciborium::Value as Cbor;
use serde_json::{Map, Number, Value};

use crate::model::{Model, NumberKind, Shape};

/// Decodes one CBOR data item (the whole body) into a JSON document.
pub(crate) fn decode(body: &[u8]) -> Result<Value, String> {
    let mut reader = body;
    let item: Cbor =
        ciborium::de::from_reader(&mut reader).map_err(|e| format!("malformed CBOR: {e}"))?;
    if !reader.is_empty() {
        return Err(format!(
            "malformed CBOR: {} bytes after the body's data item",
            reader.len()
        ));
    }
    to_json(item)
}

fn to_json(item: Cbor) -> Result<Value, String> {
    Ok(match item {
        Cbor::Null => Value::Null,
        Cbor::Bool(b) => Value::Bool(b),
        Cbor::Integer(i) => integer_to_json(i128::from(i))?,
        Cbor::Float(f) => float_to_json(f)?,
        Cbor::Text(s) => Value::String(s),
        Cbor::Bytes(b) => Value::String(base64::engine::general_purpose::STANDARD.encode(b)),
        Cbor::Array(items) => {
            Value::Array(items.into_iter().map(to_json).collect::<Result<_, _>>()?)
        }
        Cbor::Map(entries) => {
            let mut object = Map::new();
            for (key, value) in entries {
                let Cbor::Text(key) = key else {
                    return Err(format!("CBOR map key {key:?} is not a text string"));
                };
                object.insert(key, to_json(value)?);
            }
            Value::Object(object)
        }
        Cbor::Tag(1, inner) => match *inner {
            Cbor::Integer(i) => integer_to_json(i128::from(i))?,
            Cbor::Float(f) => float_to_json(f)?,
            other => return Err(format!("CBOR tag 1 (timestamp) on a non-number: {other:?}")),
        },
        Cbor::Tag(tag, _) => return Err(format!("unsupported CBOR tag {tag}")),
        other => return Err(format!("unsupported CBOR item {other:?}")),
    })
}

fn integer_to_json(i: i128) -> Result<Value, String> {
    if let Ok(i) = i64::try_from(i) {
        Ok(Value::from(i))
    } else if let Ok(u) = u64::try_from(i) {
        Ok(Value::from(u))
    } else {
        Err(format!("CBOR integer {i} is out of range"))
    }
}

fn float_to_json(f: f64) -> Result<Value, String> {
    Number::from_f64(f)
        .map(Value::Number)
        .ok_or_else(|| format!("CBOR float {f} has no JSON form"))
}

/// A minimal CBOR writer (definite lengths, float64 only).
#[derive(Default)]
pub(crate) struct Writer {
    pub bytes: Vec<u8>,
}

impl Writer {
    fn head(&mut self, major: u8, n: u64) {
        let major = major << 5;
        match n {
            0..=23 => self.bytes.push(major | n as u8),
            24..=0xff => self.bytes.extend([major | 24, n as u8]),
            0x100..=0xffff => {
                self.bytes.push(major | 25);
                self.bytes.extend((n as u16).to_be_bytes());
            }
            0x1_0000..=0xffff_ffff => {
                self.bytes.push(major | 26);
                self.bytes.extend((n as u32).to_be_bytes());
            }
            _ => {
                self.bytes.push(major | 27);
                self.bytes.extend(n.to_be_bytes());
            }
        }
    }

    fn int(&mut self, i: i64) {
        if i >= 0 {
            self.head(0, i as u64);
        } else {
            // CBOR negative integers encode -1 - n.
            self.head(1, (-1 - i) as u64);
        }
    }

    fn float(&mut self, f: f64) {
        self.bytes.push(0xfb);
        self.bytes.extend(f.to_be_bytes());
    }

    pub(crate) fn text(&mut self, s: &str) {
        self.head(3, s.len() as u64);
        self.bytes.extend(s.as_bytes());
    }

    fn byte_string(&mut self, b: &[u8]) {
        self.head(2, b.len() as u64);
        self.bytes.extend(b);
    }

    pub(crate) fn map_header(&mut self, len: usize) {
        self.head(5, len as u64);
    }

    fn array_header(&mut self, len: usize) {
        self.head(4, len as u64);
    }

    /// Writes `value` without a shape: numbers as integers when integral,
    /// floats otherwise. Used for members the model does not describe.
    fn untyped(&mut self, value: &Value) {
        match value {
            Value::Null => self.bytes.push(0xf6),
            Value::Bool(b) => self.bytes.push(if *b { 0xf5 } else { 0xf4 }),
            Value::Number(n) => match n.as_i64() {
                Some(i) => self.int(i),
                None => match n.as_u64() {
                    Some(u) => self.head(0, u),
                    None => self.float(n.as_f64().unwrap_or(f64::NAN)),
                },
            },
            Value::String(s) => self.text(s),
            Value::Array(items) => {
                self.array_header(items.len());
                items.iter().for_each(|item| self.untyped(item));
            }
            Value::Object(map) => {
                let entries: Vec<_> = map.iter().filter(|(_, v)| !v.is_null()).collect();
                self.map_header(entries.len());
                for (k, v) in entries {
                    self.text(k);
                    self.untyped(v);
                }
            }
        }
    }

    /// Writes `value` as `shape_name` says. `Err` means the document does not
    /// fit the model (a bug in whoever built it).
    pub(crate) fn typed(
        &mut self,
        model: &Model,
        shape_name: &str,
        value: &Value,
    ) -> Result<(), String> {
        let shape = model.shape(shape_name);
        let wrong = || format!("output value {value} does not fit shape {shape_name}");
        match (shape, value) {
            (Shape::Structure { members, .. }, Value::Object(object)) => {
                let entries: Vec<_> = object.iter().filter(|(_, v)| !v.is_null()).collect();
                self.map_header(entries.len());
                for (name, v) in entries {
                    self.text(name);
                    match members.iter().find(|m| &m.name == name) {
                        Some(member) => self.typed(model, &member.target, v)?,
                        None => self.untyped(v),
                    }
                }
            }
            (Shape::List { member, .. }, Value::Array(items)) => {
                self.array_header(items.len());
                for item in items {
                    self.typed(model, member, item)?;
                }
            }
            (
                Shape::Map {
                    value: value_shape, ..
                },
                Value::Object(object),
            ) => {
                let entries: Vec<_> = object.iter().filter(|(_, v)| !v.is_null()).collect();
                self.map_header(entries.len());
                for (k, v) in entries {
                    self.text(k);
                    self.typed(model, value_shape, v)?;
                }
            }
            (Shape::String { .. }, Value::String(s)) => self.text(s),
            (Shape::Boolean, Value::Bool(b)) => self.bytes.push(if *b { 0xf5 } else { 0xf4 }),
            (Shape::Timestamp, Value::Number(n)) => {
                self.head(6, 1);
                self.float(n.as_f64().ok_or_else(wrong)?);
            }
            (Shape::Blob { .. }, Value::String(b64)) => {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .map_err(|e| format!("{}: {e}", wrong()))?;
                self.byte_string(&bytes);
            }
            (
                Shape::Number {
                    kind: NumberKind::Float,
                    ..
                },
                Value::Number(n),
            ) => {
                self.float(n.as_f64().ok_or_else(wrong)?);
            }
            (Shape::Number { .. }, Value::Number(n)) => self.int(n.as_i64().ok_or_else(wrong)?),
            _ => return Err(wrong()),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn botocore_tag_1_timestamps_decode_to_epoch_seconds() {
        // Two Fleet structures as botocore 1.44.8's rpcv2Cbor serializer
        // writes them (tests/botocore_roundtrip.py): tag 1 + integer, then
        // tag 1 + float64.
        let mut reader: &[u8] = include_bytes!("../tests/fixtures/fleets.botocore.cbor");
        let mut next = || to_json(ciborium::de::from_reader(&mut reader).unwrap()).unwrap();
        assert_eq!(
            next(),
            json!({"Name": "demo", "CreatedTime": 1_700_000_000})
        );
        assert_eq!(
            next(),
            json!({"Name": "demo", "CreatedTime": 1_700_000_000.25})
        );
    }

    #[test]
    fn byte_strings_become_base64_and_non_text_keys_are_refused() {
        // {"B": h'010203'}
        assert_eq!(
            decode(&[0xa1, 0x61, b'B', 0x43, 1, 2, 3]).unwrap(),
            json!({"B": "AQID"})
        );
        // {1: 2}
        assert!(decode(&[0xa1, 0x01, 0x02])
            .unwrap_err()
            .contains("not a text string"));
    }

    #[test]
    fn writer_uses_the_shortest_integer_heads() {
        let mut w = Writer::default();
        for i in [0, 23, 24, 255, 256, 65_536, -1, -25, 5_000_000_000] {
            w.int(i);
        }
        assert_eq!(
            w.bytes,
            [
                &[0x00, 0x17, 0x18, 24, 0x18, 255, 0x19, 1, 0][..],
                &[0x1a, 0, 1, 0, 0, 0x20, 0x38, 24],
                &[0x1b, 0, 0, 0, 1, 0x2a, 0x05, 0xf2, 0x00],
            ]
            .concat()
        );
    }
}

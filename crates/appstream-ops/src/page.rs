//! The page of a Describe or List operation: items sorted by a key, those
//! after the input's NextToken, at most a limit.

use porthole_control::error::Result;
use porthole_control::{DomainError, ErrorKind};

pub(crate) struct Page<T> {
    pub items: Vec<T>,
    /// Present when more items follow.
    pub next_token: Option<String>,
}

impl<T> Page<T> {
    /// The items a Describe's Names ask for, each of which must exist, in
    /// one page.
    pub fn named(names: &[String], lookup: impl Fn(&str) -> Result<T>) -> Result<Self> {
        Ok(Self {
            items: names
                .iter()
                .map(|name| lookup(name))
                .collect::<Result<_>>()?,
            next_token: None,
        })
    }

    /// An AppStream page: its model has no error of its own for a NextToken
    /// Porthole did not issue, so that is a ValidationException.
    pub fn appstream(
        items: impl IntoIterator<Item = (String, T)>,
        next_token: Option<&str>,
        limit: usize,
    ) -> Result<Self> {
        Self::after(items, next_token, limit, ErrorKind::Validation)
    }

    /// `bad_token` is the error kind of a NextToken Porthole did not issue
    /// (InvalidNextTokenException for Application Auto Scaling).
    pub fn after(
        items: impl IntoIterator<Item = (String, T)>,
        next_token: Option<&str>,
        limit: usize,
        bad_token: ErrorKind,
    ) -> Result<Self> {
        let after = next_token
            .map(|token| {
                decode_token(token)
                    .ok_or_else(|| DomainError::new(bad_token, "The NextToken is invalid."))
            })
            .transpose()?;
        let mut rest: Vec<(String, T)> = items
            .into_iter()
            .filter(|(key, _)| after.as_ref().is_none_or(|a| key > a))
            .collect();
        rest.sort_by(|a, b| a.0.cmp(&b.0));
        let more = rest.len() > limit;
        rest.truncate(limit);
        let next_token = more
            .then(|| rest.last().map(|(key, _)| encode_token(key)))
            .flatten();
        Ok(Self {
            items: rest.into_iter().map(|(_, item)| item).collect(),
            next_token,
        })
    }
}

/// Tokens are the hex of the last key returned: opaque to clients, stable
/// across restarts, and still valid if that item disappears meanwhile.
fn encode_token(key: &str) -> String {
    key.bytes().map(|b| format!("{b:02x}")).collect()
}

fn decode_token(token: &str) -> Option<String> {
    if token.len() % 2 != 0 {
        return None;
    }
    let bytes = (0..token.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(token.get(i..i + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    String::from_utf8(bytes).ok()
}

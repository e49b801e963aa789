//! Typed inputs. An absent or null optional member is `None`; every error
//! is a ValidationException naming the member.

use porthole_control::error::Result;
use porthole_control::DomainError;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::collections::BTreeMap;

/// The operation's input struct from its document.
pub(crate) fn parse<I: DeserializeOwned>(input: &Value) -> Result<I> {
    serde_path_to_error::deserialize(input).map_err(|err| {
        let message = err.inner().to_string();
        // serde words an absent required member "missing field `Name`".
        match message
            .strip_prefix("missing field `")
            .and_then(|rest| rest.strip_suffix('`'))
        {
            Some(member) => DomainError::validation(format!("{member} is required.")),
            None => DomainError::validation(format!("{} is invalid: {message}", err.path())),
        }
    })
}

/// The members present (not null) in an input document.
pub(crate) fn present_members(input: &Value) -> impl Iterator<Item = &str> {
    input
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, value)| !value.is_null())
        .map(|(name, _)| name.as_str())
}

/// Copies the pass-through members named `names` from an input's members
/// not otherwise read (`rest`) into a resource's `extra`.
pub(crate) fn keep_passthrough(
    rest: &BTreeMap<String, Value>,
    names: &[&str],
    extra: &mut BTreeMap<String, Value>,
) {
    for name in names {
        if let Some(value) = rest.get(*name).filter(|v| !v.is_null()) {
            extra.insert((*name).to_owned(), value.clone());
        }
    }
}

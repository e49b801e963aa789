//! AppStream 2.0's and Application Auto Scaling's operations on documents
//! shaped like their models' inputs and outputs (PascalCase members,
//! timestamps as epoch seconds), mapped onto porthole-control's domain, which
//! knows no API documents. The wire layer (porthole-appstream-api) has
//! already checked the models' types, lengths and patterns; the semantic
//! rules are here.
//!
//! One module per resource family, each listing its operations in its own
//! table (`OPERATIONS`): adding an operation is a handler and a row there.
//! A handler takes its typed input and answers its typed output document.
//!
//! Effects an operation causes stay in the plane's outbox: drain them with
//! [`ControlPlane::take_effects`] after [`Service::call`].

use porthole_control::error::Result;
use porthole_control::{ControlPlane, DomainError, StreamingGrant, Timestamp};
use serde::Serialize;
use serde_json::Value;

/// A table row: the operation `$name` runs `$handler(plane, input, now)` on
/// its typed input and answers its typed output.
macro_rules! op {
    ($name:ident => $handler:path) => {
        $crate::Operation::new(stringify!($name), |cp, input, now| {
            $crate::document($handler(cp, $crate::input::parse(input)?, now)?)
        })
    };
}

mod applications;
mod entitlements;
mod fleets;
mod image_builders;
mod images;
mod input;
mod page;
mod scaling;
mod sessions;
mod stacks;
mod tags;
mod users;

pub use sessions::streaming_url_output;

pub enum Outcome {
    /// The operation's output document.
    Done(Value),
    /// CreateStreamingURL: the server signs the grant into a URL and answers
    /// with [`streaming_url_output`].
    StreamingUrl(StreamingGrant),
}

/// One operation of a service's model.
pub struct Operation {
    pub name: &'static str,
    run: fn(&mut ControlPlane, &Value, Timestamp) -> Result<Outcome>,
}

impl Operation {
    /// A row for a handler of its own shape; most rows are [`op!`]'s.
    const fn new(
        name: &'static str,
        run: fn(&mut ControlPlane, &Value, Timestamp) -> Result<Outcome>,
    ) -> Self {
        Self { name, run }
    }
}

/// The output document of a typed output.
fn document(output: impl Serialize) -> Result<Outcome> {
    let document =
        serde_json::to_value(output).expect("output documents have string keys and plain values");
    Ok(Outcome::Done(document))
}

/// The output of the operations that answer nothing: `{}`.
#[derive(Serialize)]
struct Empty {}

/// A service's implemented operations, and how it refuses the others.
pub struct Service {
    tables: &'static [&'static [Operation]],
    unsupported: fn(&str) -> DomainError,
}

pub const APPSTREAM: Service = Service {
    tables: &[
        fleets::OPERATIONS,
        stacks::OPERATIONS,
        images::OPERATIONS,
        image_builders::OPERATIONS,
        sessions::OPERATIONS,
        tags::OPERATIONS,
        users::OPERATIONS,
        entitlements::OPERATIONS,
        applications::OPERATIONS,
    ],
    unsupported: |operation| {
        DomainError::not_permitted(format!(
            "The operation {operation} is not supported by Porthole yet."
        ))
    },
};

pub const APPLICATION_AUTO_SCALING: Service = Service {
    tables: &[scaling::OPERATIONS],
    unsupported: |operation| {
        DomainError::validation(format!(
            "The Application Auto Scaling operation {operation} is not supported by Porthole yet."
        ))
    },
};

impl Service {
    pub fn operations(&self) -> impl Iterator<Item = &'static Operation> {
        self.tables.iter().flat_map(|table| table.iter())
    }

    /// Whether [`Service::call`] runs `operation` (the others deserve a
    /// "not supported yet").
    pub fn implements(&self, operation: &str) -> bool {
        self.operations().any(|op| op.name == operation)
    }

    /// Runs one operation; its effects stay in the plane's outbox.
    pub fn call(
        &self,
        cp: &mut ControlPlane,
        operation: &str,
        input: &Value,
        now: Timestamp,
    ) -> Result<Outcome> {
        let op = self
            .operations()
            .find(|op| op.name == operation)
            .ok_or_else(|| (self.unsupported)(operation))?;
        (op.run)(cp, input, now)
    }
}

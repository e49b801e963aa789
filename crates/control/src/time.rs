//! Time as a plain value: the caller reads the clock, the domain only compares.

use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch. Integer so that comparisons are exact and
/// documents round-trip without float noise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(pub u64);

impl Timestamp {
    pub const fn from_millis(millis: u64) -> Self {
        Self(millis)
    }

    pub const fn from_secs(secs: u64) -> Self {
        Self(secs.saturating_mul(1000))
    }

    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// Epoch seconds as AWS outputs them (JSON number, fractional allowed).
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1000.0
    }

    pub const fn plus_secs(self, secs: u64) -> Self {
        Self(self.0.saturating_add(secs.saturating_mul(1000)))
    }

    /// True once at least `secs` seconds have passed since `earlier`.
    pub const fn reached(self, earlier: Timestamp, secs: u64) -> bool {
        self.0 >= earlier.plus_secs(secs).0
    }
}

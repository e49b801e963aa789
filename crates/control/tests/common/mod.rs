//! What the control plane's integration tests share: the clock and reading effects.

use porthole_control::{Effect, LaunchSpec, Timestamp};

pub fn at(secs: u64) -> Timestamp {
    Timestamp::from_secs(1_700_000_000 + secs)
}

/// The instances the effects launch.
pub fn launches(effects: &[Effect]) -> Vec<LaunchSpec> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::LaunchInstance(spec) => Some(spec.clone()),
            _ => None,
        })
        .collect()
}

/// The instances the effects terminate.
pub fn terminated(effects: &[Effect]) -> Vec<String> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::TerminateInstance { instance_id } => Some(instance_id.clone()),
            _ => None,
        })
        .collect()
}

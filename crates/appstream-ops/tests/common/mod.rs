#![allow(dead_code)] // each test binary uses a different subset

use porthole_appstream_ops::{Outcome, APPSTREAM};
use porthole_control::{
    default_image, Application, Config, ControlPlane, Effect, SequentialIds, StreamingGrant,
    Timestamp,
};
use serde_json::{json, Value};

pub const T0: u64 = 1_700_000_000;

pub fn at(secs: u64) -> Timestamp {
    Timestamp::from_secs(T0 + secs)
}

pub fn plane() -> ControlPlane {
    let mut cp = ControlPlane::new(
        Config {
            region: "us-east-1".into(),
            account: "123456789012".into(),
        },
        SequentialIds::default(),
    );
    cp.put_image(default_image(
        at(0),
        vec![Application {
            name: "xterm".into(),
            display_name: "XTerm".into(),
            launch_path: "/usr/bin/xterm".into(),
            launch_parameters: None,
            working_directory: None,
            icon_url: None,
            enabled: true,
            icon_path: None,
        }],
    ));
    cp
}

pub fn call(cp: &mut ControlPlane, op: &str, input: Value, now: Timestamp) -> Value {
    match APPSTREAM.call(cp, op, &input, now) {
        Ok(Outcome::Done(v)) => v,
        Ok(Outcome::StreamingUrl(g)) => panic!("{op} returned a grant {g:?}"),
        Err(e) => panic!("{op} {input} failed: {e}"),
    }
}

pub fn error(cp: &mut ControlPlane, op: &str, input: Value, now: Timestamp) -> &'static str {
    match APPSTREAM.call(cp, op, &input, now) {
        Ok(_) => panic!("{op} {input} succeeded"),
        Err(e) => e.aws_code(),
    }
}

pub fn grant(
    cp: &mut ControlPlane,
    stack: &str,
    fleet: &str,
    user: &str,
    now: Timestamp,
) -> StreamingGrant {
    let input = json!({"StackName": stack, "FleetName": fleet, "UserId": user, "Validity": 300});
    match APPSTREAM.call(cp, "CreateStreamingURL", &input, now) {
        Ok(Outcome::StreamingUrl(g)) => g,
        Ok(Outcome::Done(v)) => panic!("no grant: {v}"),
        Err(e) => panic!("CreateStreamingURL failed: {e}"),
    }
}

/// A fleet + stack, associated, fleet not started.
pub fn fleet_and_stack(cp: &mut ControlPlane, fleet: Value) {
    let name = fleet["Name"].as_str().unwrap().to_owned();
    call(cp, "CreateFleet", fleet, at(0));
    call(cp, "CreateStack", json!({"Name": "stack"}), at(0));
    call(
        cp,
        "AssociateFleet",
        json!({"FleetName": name, "StackName": "stack"}),
        at(0),
    );
}

pub fn launched(effects: &[Effect]) -> Vec<String> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::LaunchInstance(spec) => Some(spec.instance_id.clone()),
            _ => None,
        })
        .collect()
}

pub fn terminated(effects: &[Effect]) -> Vec<String> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::TerminateInstance { instance_id } => Some(instance_id.clone()),
            _ => None,
        })
        .collect()
}

pub fn fleet_state(cp: &mut ControlPlane, name: &str) -> Value {
    let out = call(cp, "DescribeFleets", json!({"Names": [name]}), at(0));
    out["Fleets"][0].clone()
}

pub fn capacity(cp: &mut ControlPlane, name: &str) -> (String, Value) {
    let f = fleet_state(cp, name);
    (
        f["State"].as_str().unwrap().to_owned(),
        f["ComputeCapacityStatus"].clone(),
    )
}

/// CreateStreamingURL then open it, both at `now`.
pub fn open(
    cp: &mut ControlPlane,
    fleet: &str,
    user: &str,
    now: Timestamp,
) -> Result<(porthole_control::Session, Vec<Effect>), porthole_control::DomainError> {
    let g = grant(cp, "stack", fleet, user, now);
    cp.open_session(&g, now)
}

//! Instances that fail to start: per-fleet launch backoff and FleetErrors.

mod common;
use common::*;
use porthole_control::{ControlPlane, Timestamp};
use serde_json::{json, Value};

const CODE: &str = "FLEET_INSTANCE_PROVISIONING_FAILURE";

fn always_on(desired: u32) -> Value {
    json!({
        "Name": "fleet", "ImageName": "porthole-default", "InstanceType": "stream.standard.small",
        "FleetType": "ALWAYS_ON", "ComputeCapacity": {"DesiredInstances": desired},
    })
}

/// A started ALWAYS_ON fleet and the instances its start launched.
fn started(desired: u32) -> (ControlPlane, Vec<String>) {
    let mut cp = plane();
    fleet_and_stack(&mut cp, always_on(desired));
    call(&mut cp, "StartFleet", json!({"Name": "fleet"}), at(0));
    let ids = launched(&cp.take_effects());
    assert_eq!(ids.len(), desired as usize);
    (cp, ids)
}

fn ms(secs: u64, millis: u64) -> Timestamp {
    Timestamp::from_millis(at(secs).as_millis() + millis)
}

/// Ticks once a second from `from` (exclusive) until the plane launches; returns when and what.
fn tick_until_launch(cp: &mut ControlPlane, from: u64) -> (u64, Vec<String>) {
    for t in from + 1..=from + 120 {
        let ids = launched(&cp.tick(at(t)));
        if !ids.is_empty() {
            return (t, ids);
        }
    }
    panic!("no launch within 120 s after {from}");
}

fn fleet_errors(cp: &mut ControlPlane) -> Value {
    fleet_state(cp, "fleet")["FleetErrors"].clone()
}

#[test]
fn backoff_doubles_from_one_second_and_is_capped_at_a_minute() {
    let (mut cp, ids) = started(1);
    let (mut id, mut now, mut waits) = (ids[0].clone(), 0, Vec::new());
    for _ in 0..9 {
        let effects = cp
            .instance_failed(&id, "Xorg did not start", at(now))
            .unwrap();
        assert!(
            launched(&effects).is_empty(),
            "replaced at once: {effects:?}"
        );
        let (t, next) = tick_until_launch(&mut cp, now);
        assert_eq!(next.len(), 1);
        waits.push(t - now);
        (id, now) = (next[0].clone(), t);
    }
    assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
}

#[test]
fn nothing_is_launched_before_the_deadline() {
    let (mut cp, ids) = started(1);
    cp.instance_failed(&ids[0], "boom", at(10)).unwrap();
    let (t, probe) = tick_until_launch(&mut cp, 10);
    cp.instance_failed(&probe[0], "boom", at(t)).unwrap();
    // Two failures in a row: 2 s. Ticks just before the deadline launch nothing.
    assert!(launched(&cp.tick(ms(t + 1, 999))).is_empty());
    assert!(launched(&cp.reconcile(ms(t + 1, 999))).is_empty());
    assert_eq!(launched(&cp.tick(at(t + 2))).len(), 1);
}

#[test]
fn a_failed_round_counts_once_and_retries_with_one_probe() {
    let (mut cp, ids) = started(3);
    // The three launched together fail together: one failure, not three.
    for (i, id) in ids.iter().enumerate() {
        cp.instance_failed(id, "boom", ms(5, i as u64)).unwrap();
    }
    let (t, probe) = tick_until_launch(&mut cp, 5);
    assert_eq!((t, probe.len()), (6, 1), "1 s backoff, then one probe");
    assert!(
        launched(&cp.tick(at(t + 10))).is_empty(),
        "one probe at a time"
    );
    // The probe comes up: the rest is launched at once, with no wait.
    let effects = cp.instance_ready(&probe[0], at(t + 11)).unwrap();
    assert_eq!(launched(&effects).len(), 2);
}

#[test]
fn backoff_resets_when_an_instance_becomes_ready() {
    let (mut cp, ids) = started(1);
    let (mut id, mut now) = (ids[0].clone(), 0);
    for _ in 0..4 {
        cp.instance_failed(&id, "boom", at(now)).unwrap();
        let (t, next) = tick_until_launch(&mut cp, now);
        (id, now) = (next[0].clone(), t);
    }
    assert_eq!(now, 1 + 2 + 4 + 8);
    cp.instance_ready(&id, at(now)).unwrap();
    // It ran, then exited (a crash): replaced at once, no backoff.
    let effects = cp.instance_exited(&id, at(now + 5)).unwrap();
    let next = launched(&effects);
    assert_eq!(next.len(), 1);
    // And a new failure starts over at 1 s.
    cp.instance_failed(&next[0], "boom", at(now + 6)).unwrap();
    assert_eq!(tick_until_launch(&mut cp, now + 6).0, now + 7);
}

#[test]
fn fleet_errors_report_the_failure_while_the_fleet_keeps_starting() {
    let (mut cp, ids) = started(1);
    assert_eq!(fleet_errors(&mut cp), json!([]));
    cp.instance_failed(&ids[0], "the agent did not answer within 30s", at(3))
        .unwrap();
    let errors = fleet_errors(&mut cp);
    assert_eq!(errors.as_array().unwrap().len(), 1, "{errors}");
    assert_eq!(errors[0]["ErrorCode"], CODE);
    let message = errors[0]["ErrorMessage"].as_str().unwrap();
    assert!(
        message.contains("the agent did not answer within 30s"),
        "{message}"
    );
    let (state, cap) = capacity(&mut cp, "fleet");
    assert_eq!(
        state, "STARTING",
        "AppStream keeps a fleet without capacity STARTING"
    );
    assert_eq!(
        (cap["Desired"].clone(), cap["Running"].clone()),
        (json!(1), json!(0))
    );

    // Repeated failures keep one error per code, with the latest message.
    let (t, next) = tick_until_launch(&mut cp, 3);
    cp.instance_failed(&next[0], "Xorg exited", at(t)).unwrap();
    let errors = fleet_errors(&mut cp);
    assert_eq!(errors.as_array().unwrap().len(), 1, "{errors}");
    assert!(errors[0]["ErrorMessage"]
        .as_str()
        .unwrap()
        .contains("Xorg exited"));

    // An instance comes up: the errors are gone.
    let (t, next) = tick_until_launch(&mut cp, t);
    cp.instance_ready(&next[0], at(t)).unwrap();
    assert_eq!(fleet_errors(&mut cp), json!([]));
    assert_eq!(capacity(&mut cp, "fleet").0, "RUNNING");
}

#[test]
fn stopping_or_updating_the_fleet_clears_errors_and_backoff() {
    let (mut cp, ids) = started(1);
    cp.instance_failed(&ids[0], "boom", at(1)).unwrap();
    call(&mut cp, "StopFleet", json!({"Name": "fleet"}), at(2));
    assert_eq!(fleet_errors(&mut cp), json!([]));
    assert_eq!(capacity(&mut cp, "fleet").0, "STOPPED");
    call(
        &mut cp,
        "UpdateFleet",
        json!({"Name": "fleet", "InstanceType": "stream.standard.medium"}),
        at(3),
    );
    // Started again: launched at once, no leftover backoff.
    call(&mut cp, "StartFleet", json!({"Name": "fleet"}), at(3));
    let relaunched = launched(&cp.take_effects());
    assert_eq!(relaunched.len(), 1);

    // A RUNNING fleet whose replacement fails: UpdateFleet retries at once.
    cp.instance_ready(&relaunched[0], at(4)).unwrap();
    let next = launched(&cp.instance_exited(&relaunched[0], at(5)).unwrap());
    cp.instance_failed(&next[0], "boom", at(6)).unwrap();
    assert_eq!(fleet_errors(&mut cp)[0]["ErrorCode"], CODE);
    call(
        &mut cp,
        "UpdateFleet",
        json!({"Name": "fleet", "DisplayName": "fixed"}),
        at(6),
    );
    assert_eq!(fleet_errors(&mut cp), json!([]));
    assert_eq!(
        launched(&cp.take_effects()).len(),
        1,
        "relaunched by the update"
    );
}

#[test]
fn an_instance_failing_while_terminated_is_no_fleet_error() {
    let (mut cp, ids) = started(1);
    call(&mut cp, "StopFleet", json!({"Name": "fleet"}), at(1));
    cp.take_effects();
    cp.instance_failed(&ids[0], "killed while starting", at(2))
        .unwrap();
    assert_eq!(fleet_errors(&mut cp), json!([]));
    assert_eq!(capacity(&mut cp, "fleet").0, "STOPPED");
}

#[test]
fn a_failed_elastic_instance_ends_its_session_and_reports_the_error() {
    let mut cp = plane();
    fleet_and_stack(
        &mut cp,
        json!({
            "Name": "fleet", "ImageName": "porthole-default", "InstanceType": "stream.standard.small",
            "FleetType": "ELASTIC", "MaxConcurrentSessions": 2,
        }),
    );
    call(&mut cp, "StartFleet", json!({"Name": "fleet"}), at(0));
    cp.reconcile(at(0));
    let (session, effects) = open(&mut cp, "fleet", "alice", at(1)).unwrap();
    let id = launched(&effects)[0].clone();
    cp.instance_failed(&id, "boom", at(2)).unwrap();
    assert!(!cp.session(&session.id).unwrap().is_live());
    assert_eq!(fleet_errors(&mut cp)[0]["ErrorCode"], CODE);
}

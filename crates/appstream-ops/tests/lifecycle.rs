//! Whole lifecycles through the AppStream operations and the observation entry points.

mod common;
use common::*;
use porthole_control::session::{DisconnectReason, Notice, NoticeKind};
use porthole_control::Effect;
use porthole_control::{EndReason, InstanceState, SessionState};
use serde_json::json;

fn always_on(desired: u32) -> serde_json::Value {
    json!({
        "Name": "fleet", "ImageName": "porthole-default", "InstanceType": "stream.standard.small",
        "FleetType": "ALWAYS_ON", "ComputeCapacity": {"DesiredInstances": desired},
        "DisconnectTimeoutInSeconds": 60, "MaxUserDurationInSeconds": 3600,
        "IdleDisconnectTimeoutInSeconds": 90,
    })
}

#[test]
fn always_on_lifecycle() {
    let mut cp = plane();
    fleet_and_stack(&mut cp, always_on(2));
    let f = fleet_state(&mut cp, "fleet");
    assert_eq!(f["State"], "STOPPED");
    assert_eq!(
        f["Arn"],
        "arn:aws:appstream:us-east-1:123456789012:fleet/fleet"
    );
    assert_eq!(
        f["ImageArn"],
        "arn:aws:appstream:us-east-1:123456789012:image/porthole-default"
    );

    call(&mut cp, "StartFleet", json!({"Name": "fleet"}), at(1));
    let launches = launched(&cp.take_effects());
    assert_eq!(launches.len(), 2);
    let (state, cap) = capacity(&mut cp, "fleet");
    assert_eq!(state, "STARTING");
    assert_eq!(
        cap,
        json!({"Desired": 2, "Running": 0, "InUse": 0, "Available": 0})
    );
    let c = cp.capacity("fleet").unwrap();
    assert_eq!((c.pending, c.actual(), c.desired_metric()), (2, 0, 2));

    cp.instance_ready(&launches[0], at(2)).unwrap();
    assert_eq!(
        capacity(&mut cp, "fleet").0,
        "STARTING",
        "one of two running"
    );
    cp.instance_ready(&launches[1], at(3)).unwrap();
    let (state, cap) = capacity(&mut cp, "fleet");
    assert_eq!(state, "RUNNING");
    assert_eq!(
        cap,
        json!({"Desired": 2, "Running": 2, "InUse": 0, "Available": 2})
    );

    let g = grant(&mut cp, "stack", "fleet", "alice", at(4));
    assert_eq!(g.expires, at(304));
    let (session, effects) = cp.open_session(&g, at(5)).unwrap();
    assert!(
        effects.is_empty(),
        "ALWAYS_ON serves from a running instance"
    );
    assert_eq!(session.state, SessionState::Active);
    assert_eq!(
        session.instance_id.as_deref(),
        Some(launches[0].as_str()),
        "oldest first"
    );
    assert_eq!(
        capacity(&mut cp, "fleet").1,
        json!({"Desired": 2, "Running": 2, "InUse": 1, "Available": 1})
    );
    let c = cp.capacity("fleet").unwrap();
    assert_eq!((c.actual(), c.utilization()), (2, 50.0));

    let listed = call(
        &mut cp,
        "DescribeSessions",
        json!({"StackName": "stack", "FleetName": "fleet"}),
        at(6),
    );
    assert_eq!(listed["Sessions"][0]["Id"], session.id.as_str());
    assert_eq!(listed["Sessions"][0]["State"], "ACTIVE");
    assert_eq!(listed["Sessions"][0]["ConnectionState"], "NOT_CONNECTED");
    assert_eq!(
        listed["Sessions"][0]["MaxExpirationTime"],
        json!((T0 + 5 + 3600) as f64)
    );

    cp.session_connected(&session.id, at(10)).unwrap();
    cp.session_input(&session.id, at(20)).unwrap();
    cp.session_disconnected(&session.id, at(30)).unwrap();
    assert!(cp.tick(at(89)).is_empty(), "disconnect timeout not reached");
    let effects = cp.tick(at(90));
    assert_eq!(
        effects[0],
        Effect::EndSession {
            session_id: session.id.clone(),
            instance_id: Some(launches[0].clone()),
            reason: EndReason::DisconnectTimeout
        }
    );
    assert_eq!(terminated(&effects), vec![launches[0].clone()]);
    let replacement = launched(&effects);
    assert_eq!(
        replacement.len(),
        1,
        "a used instance is replaced, never reused"
    );
    let ended = cp.session(&session.id).unwrap();
    assert_eq!(ended.state, SessionState::Expired);
    assert_eq!(ended.end_reason, Some(EndReason::DisconnectTimeout));
    let listed = call(
        &mut cp,
        "DescribeSessions",
        json!({"StackName": "stack", "FleetName": "fleet"}),
        at(91),
    );
    assert_eq!(listed["Sessions"], json!([]));

    assert!(cp.instance_exited(&launches[0], at(92)).unwrap().is_empty());
    cp.instance_ready(&replacement[0], at(93)).unwrap();
    assert_eq!(
        capacity(&mut cp, "fleet").1,
        json!({"Desired": 2, "Running": 2, "InUse": 0, "Available": 2})
    );

    // Stop: STOPPING until every instance has exited.
    call(&mut cp, "StopFleet", json!({"Name": "fleet"}), at(100));
    let stops = terminated(&cp.take_effects());
    assert_eq!(stops.len(), 2);
    assert_eq!(capacity(&mut cp, "fleet").0, "STOPPING");
    assert_eq!(
        error(&mut cp, "DeleteFleet", json!({"Name": "fleet"}), at(101)),
        "ResourceInUseException"
    );
    cp.instance_exited(&stops[0], at(102)).unwrap();
    assert_eq!(capacity(&mut cp, "fleet").0, "STOPPING");
    cp.instance_exited(&stops[1], at(103)).unwrap();
    assert_eq!(capacity(&mut cp, "fleet").0, "STOPPED");

    assert_eq!(
        error(&mut cp, "DeleteFleet", json!({"Name": "fleet"}), at(104)),
        "ResourceInUseException"
    );
    assert_eq!(
        error(&mut cp, "DeleteStack", json!({"Name": "stack"}), at(104)),
        "ResourceInUseException"
    );
    call(
        &mut cp,
        "DisassociateFleet",
        json!({"FleetName": "fleet", "StackName": "stack"}),
        at(105),
    );
    call(&mut cp, "DeleteFleet", json!({"Name": "fleet"}), at(106));
    call(&mut cp, "DeleteStack", json!({"Name": "stack"}), at(106));
    assert_eq!(
        error(
            &mut cp,
            "DescribeFleets",
            json!({"Names": ["fleet"]}),
            at(107)
        ),
        "ResourceNotFoundException"
    );
}

fn running_always_on(desired: u32) -> (porthole_control::ControlPlane, Vec<String>) {
    let mut cp = plane();
    fleet_and_stack(&mut cp, always_on(desired));
    call(&mut cp, "StartFleet", json!({"Name": "fleet"}), at(0));
    let ids = launched(&cp.take_effects());
    for id in &ids {
        cp.instance_ready(id, at(0)).unwrap();
    }
    (cp, ids)
}

#[test]
fn idle_timeout_disconnects_then_disconnect_timeout_ends() {
    let (mut cp, _) = running_always_on(1);
    let g = grant(&mut cp, "stack", "fleet", "alice", at(0));
    let (s, _) = cp.open_session(&g, at(0)).unwrap();
    cp.session_connected(&s.id, at(10)).unwrap();
    cp.session_input(&s.id, at(30)).unwrap();
    // IdleDisconnectTimeoutInSeconds 90 rounds to 120; a warning comes first
    // (tests/warnings.rs has its timing).
    assert!(matches!(cp.tick(at(149))[..], [Effect::WarnSession { .. }]));
    let effects = cp.tick(at(150));
    assert_eq!(
        effects,
        vec![Effect::DisconnectSession {
            session_id: s.id.clone(),
            reason: DisconnectReason::IdleTimeout,
            // Reconnecting within DisconnectTimeoutInSeconds (60) resumes it.
            resume: Notice {
                kind: NoticeKind::Disconnected,
                deadline: at(210),
            },
        }]
    );
    // The browser closing afterwards does not restart the disconnect clock.
    cp.session_disconnected(&s.id, at(155)).unwrap();
    assert_eq!(cp.session(&s.id).unwrap().state, SessionState::Active);
    // Reconnecting in time resumes the same session.
    let again = open(&mut cp, "fleet", "alice", at(160)).unwrap().0;
    assert_eq!(again.id, s.id);
    cp.session_connected(&s.id, at(170)).unwrap();
    cp.session_disconnected(&s.id, at(200)).unwrap();
    let effects = cp.tick(at(260));
    assert!(matches!(
        effects[0],
        Effect::EndSession {
            reason: EndReason::DisconnectTimeout,
            ..
        }
    ));
}

#[test]
fn max_duration_ends_connected_session() {
    let (mut cp, ids) = running_always_on(1);
    let g = grant(&mut cp, "stack", "fleet", "alice", at(0));
    let (s, _) = cp.open_session(&g, at(0)).unwrap();
    cp.session_connected(&s.id, at(1)).unwrap();
    for t in (60..3600).step_by(60) {
        cp.session_input(&s.id, at(t)).unwrap();
        let effects = cp.tick(at(t));
        // Warned 5 minutes before (tests/warnings.rs has the details).
        match t {
            3300 => assert!(matches!(effects[..], [Effect::WarnSession { .. }])),
            _ => assert!(effects.is_empty(), "at {t}"),
        }
    }
    let effects = cp.tick(at(3600));
    assert!(matches!(
        effects[0],
        Effect::EndSession {
            reason: EndReason::MaxDurationReached,
            ..
        }
    ));
    assert_eq!(terminated(&effects), ids);
    assert_eq!(
        error_on_ended(&mut cp, &s.id),
        "OperationNotPermittedException"
    );
}

fn error_on_ended(cp: &mut porthole_control::ControlPlane, id: &str) -> &'static str {
    cp.session_connected(id, at(4000)).unwrap_err().aws_code()
}

#[test]
fn expire_session_and_instance_exit() {
    let (mut cp, ids) = running_always_on(2);
    let (a, _) = open(&mut cp, "fleet", "alice", at(0)).unwrap();
    let (b, _) = open(&mut cp, "fleet", "bob", at(0)).unwrap();
    assert_ne!(a.instance_id, b.instance_id);

    call(&mut cp, "ExpireSession", json!({"SessionId": a.id}), at(5));
    let effects = cp.take_effects();
    assert!(matches!(
        effects[0],
        Effect::EndSession {
            reason: EndReason::Expired,
            ..
        }
    ));
    assert_eq!(terminated(&effects), vec![ids[0].clone()]);
    assert_eq!(launched(&effects).len(), 1);
    // Expiring again is harmless.
    call(&mut cp, "ExpireSession", json!({"SessionId": a.id}), at(6));
    assert!(cp.take_effects().is_empty());

    // Bob's instance crashes: his session ends, never left ACTIVE.
    let effects = cp.instance_exited(&ids[1], at(7)).unwrap();
    assert!(matches!(
        effects[0],
        Effect::EndSession {
            reason: EndReason::InstanceExited,
            ..
        }
    ));
    assert!(terminated(&effects).is_empty(), "it is already gone");
    assert_eq!(launched(&effects).len(), 1, "replaced");
    assert_eq!(cp.session(&b.id).unwrap().state, SessionState::Expired);
}

#[test]
fn insufficient_capacity_is_refused_and_counted() {
    let (mut cp, _) = running_always_on(1);
    let (a, _) = open(&mut cp, "fleet", "alice", at(0)).unwrap();
    let again = open(&mut cp, "fleet", "alice", at(1)).unwrap().0;
    assert_eq!(
        again.id, a.id,
        "the same user reconnects to the live session"
    );
    cp.take_changes();
    let err = open(&mut cp, "fleet", "bob", at(2)).unwrap_err();
    assert_eq!(err.aws_code(), "ResourceNotAvailableException");
    assert_eq!(
        cp.capacity("fleet").unwrap().insufficient_capacity_errors,
        1
    );
    let changes = cp.take_changes();
    assert_eq!(changes[0].kind, "fleet", "the counter is persisted");
    assert_eq!(
        changes[0].document.as_ref().unwrap()["insufficient_capacity_errors"],
        1
    );
}

#[test]
fn on_demand_starts_reserved_instances_on_connect() {
    let mut cp = plane();
    fleet_and_stack(
        &mut cp,
        json!({"Name": "od", "ImageName": "porthole-default", "InstanceType": "stream.standard.medium",
               "FleetType": "ON_DEMAND", "ComputeCapacity": {"DesiredInstances": 2}}),
    );
    call(&mut cp, "StartFleet", json!({"Name": "od"}), at(0));
    assert!(
        cp.take_effects().is_empty(),
        "reserved capacity runs nothing"
    );
    let (state, cap) = capacity(&mut cp, "od");
    assert_eq!(state, "RUNNING");
    assert_eq!(
        cap,
        json!({"Desired": 2, "Running": 0, "InUse": 0, "Available": 2})
    );

    let (s, effects) = open(&mut cp, "od", "alice", at(1)).unwrap();
    assert_eq!(s.state, SessionState::Pending);
    let Effect::StartInstance(spec) = &effects[0] else {
        panic!("{effects:?}")
    };
    assert_eq!(spec.instance_type.memory_mib, 4096);
    assert_eq!(Some(&spec.instance_id), s.instance_id.as_ref());
    assert!(!spec.network, "no internet access by default");
    cp.instance_ready(&spec.instance_id, at(3)).unwrap();
    assert_eq!(cp.session(&s.id).unwrap().state, SessionState::Active);
    assert_eq!(
        capacity(&mut cp, "od").1,
        json!({"Desired": 2, "Running": 1, "InUse": 1, "Available": 1})
    );
    // Ending it terminates the started instance; a reserved one replaces it.
    let effects = cp.end_session(&s.id, EndReason::UserEnded, at(4)).unwrap();
    assert_eq!(terminated(&effects), vec![spec.instance_id.clone()]);
    assert!(launched(&effects).is_empty());
    cp.instance_exited(&spec.instance_id, at(5)).unwrap();
    assert_eq!(cp.capacity("od").unwrap().available, 2);
}

#[test]
fn elastic_launches_per_session_up_to_the_maximum() {
    let mut cp = plane();
    fleet_and_stack(
        &mut cp,
        json!({"Name": "el", "ImageName": "porthole-default", "InstanceType": "stream.standard.small",
               "FleetType": "ELASTIC", "MaxConcurrentSessions": 1, "StreamView": "DESKTOP",
               "EnableDefaultInternetAccess": true}),
    );
    call(&mut cp, "StartFleet", json!({"Name": "el"}), at(0));
    assert!(cp.take_effects().is_empty());
    assert_eq!(
        capacity(&mut cp, "el"),
        (
            "RUNNING".to_owned(),
            json!({"Desired": 1, "Running": 0, "InUse": 0, "Available": 1})
        )
    );
    let (s, effects) = open(&mut cp, "el", "alice", at(1)).unwrap();
    let Effect::LaunchInstance(spec) = &effects[0] else {
        panic!("{effects:?}")
    };
    assert!(spec.network);
    assert_eq!(spec.stream_view, porthole_control::StreamView::Desktop);
    let err = open(&mut cp, "el", "bob", at(2)).unwrap_err();
    assert_eq!(err.aws_code(), "ResourceNotAvailableException");
    let effects = cp.end_session(&s.id, EndReason::UserEnded, at(3)).unwrap();
    assert_eq!(terminated(&effects), vec![spec.instance_id.clone()]);
    assert!(launched(&effects).is_empty(), "nothing is kept warm");
    cp.instance_exited(&spec.instance_id, at(4)).unwrap();
    assert!(open(&mut cp, "el", "bob", at(5)).is_ok());
    // Stopping an ELASTIC fleet ends its sessions.
    call(&mut cp, "StopFleet", json!({"Name": "el"}), at(6));
    let effects = cp.take_effects();
    assert!(matches!(
        effects[0],
        Effect::EndSession {
            reason: EndReason::FleetStopped,
            ..
        }
    ));
    let gone = terminated(&effects);
    cp.instance_exited(&gone[0], at(7)).unwrap();
    assert_eq!(capacity(&mut cp, "el").0, "STOPPED");
}

#[test]
fn restore_after_restart_ends_sessions_and_relaunches() {
    let (mut cp, _) = running_always_on(1);
    let (s, _) = open(&mut cp, "fleet", "alice", at(0)).unwrap();
    let stored: Vec<(String, serde_json::Value)> = cp
        .take_changes()
        .into_iter()
        .filter_map(|c| Some((c.kind.to_owned(), c.document?)))
        .collect();
    assert!(stored.iter().any(|(k, _)| k == "session"));

    let mut restarted = plane();
    restarted.restore(stored, at(50)).unwrap();
    let ended = restarted.session(&s.id).unwrap();
    assert_eq!(ended.state, SessionState::Expired);
    assert_eq!(
        ended.end_reason.unwrap().message(),
        "the instance stopped (server restart)"
    );
    assert_eq!(restarted.instances().count(), 0);
    let changes = restarted.take_changes();
    assert!(changes
        .iter()
        .any(|c| c.kind == "session" && c.document.as_ref().unwrap()["state"] == "EXPIRED"));
    let effects = restarted.reconcile(at(51));
    assert_eq!(launched(&effects).len(), 1);
    assert_eq!(
        restarted.fleet("fleet").unwrap().state,
        porthole_control::FleetState::Running
    );
    // New ids never collide with recorded ones, even from a fresh counter.
    let new_id = &launched(&effects)[0];
    assert!(restarted.session(new_id).is_err());
    assert_eq!(
        restarted.instance(new_id).unwrap().state,
        InstanceState::Pending
    );
}

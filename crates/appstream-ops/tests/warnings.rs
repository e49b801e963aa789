//! Warnings before a session's timeouts hit: AppStream prompts users to save
//! their work five minutes before the maximum duration, and notifies them
//! before an idle disconnect. Time is an input; ticks are driven by hand.

mod common;
use common::*;
use porthole_control::session::{Notice, NoticeKind};
use porthole_control::{ControlPlane, Effect, Session};
use serde_json::json;

/// A running ALWAYS_ON fleet with one ready instance and these timeouts.
fn running(max_duration: u64, idle: u64) -> ControlPlane {
    let mut cp = plane();
    fleet_and_stack(
        &mut cp,
        json!({
            "Name": "fleet", "ImageName": "porthole-default", "InstanceType": "stream.standard.small",
            "FleetType": "ALWAYS_ON", "ComputeCapacity": {"DesiredInstances": 1},
            "DisconnectTimeoutInSeconds": 60, "MaxUserDurationInSeconds": max_duration,
            "IdleDisconnectTimeoutInSeconds": idle,
        }),
    );
    call(&mut cp, "StartFleet", json!({"Name": "fleet"}), at(0));
    for id in launched(&cp.take_effects()) {
        cp.instance_ready(&id, at(0)).unwrap();
    }
    cp
}

/// A session opened and connected at `at(0)`.
fn connected(cp: &mut ControlPlane) -> Session {
    let (s, _) = open(cp, "fleet", "alice", at(0)).unwrap();
    cp.session_connected(&s.id, at(0)).unwrap();
    s
}

fn warnings(effects: &[Effect]) -> Vec<Notice> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::WarnSession { notice, .. } => Some(*notice),
            _ => None,
        })
        .collect()
}

/// Ticks every second over `secs` (inclusive) and returns (time, notice) of every warning.
fn tick_over(cp: &mut ControlPlane, secs: std::ops::RangeInclusive<u64>) -> Vec<(u64, Notice)> {
    let mut out = Vec::new();
    for t in secs {
        out.extend(warnings(&cp.tick(at(t))).into_iter().map(|n| (t, n)));
    }
    out
}

#[test]
fn a_connected_session_is_warned_once_five_minutes_before_its_maximum_duration() {
    let mut cp = running(600, 0);
    let s = connected(&mut cp);
    let seen = tick_over(&mut cp, 1..=599);
    let ending = Notice {
        kind: NoticeKind::SessionEnding,
        deadline: at(600),
    };
    assert_eq!(seen, vec![(300, ending)]);
    assert_eq!(ending.seconds_left(at(300)), 300);
    let effects = cp.tick(at(600));
    assert!(warnings(&effects).is_empty());
    assert!(effects
        .iter()
        .any(|e| matches!(e, Effect::EndSession { session_id, .. } if *session_id == s.id)));
}

#[test]
fn the_warning_is_addressed_to_the_session() {
    let mut cp = running(600, 0);
    let s = connected(&mut cp);
    let effects = cp.tick(at(300));
    assert_eq!(
        effects,
        vec![Effect::WarnSession {
            session_id: s.id,
            notice: Notice {
                kind: NoticeKind::SessionEnding,
                deadline: at(600)
            }
        }]
    );
}

#[test]
fn nobody_connected_nobody_warned_until_a_browser_comes_back_in_the_last_minutes() {
    let mut cp = running(600, 0);
    let s = connected(&mut cp);
    cp.session_disconnected(&s.id, at(250)).unwrap();
    assert!(
        tick_over(&mut cp, 251..=305).is_empty(),
        "not connected at 300 s"
    );
    cp.session_connected(&s.id, at(306)).unwrap();
    let seen = tick_over(&mut cp, 306..=599);
    assert_eq!(seen.len(), 1, "{seen:?}");
    let (t, notice) = seen[0];
    assert_eq!(
        t, 306,
        "warned at the first tick after the browser came back"
    );
    assert_eq!(notice.kind, NoticeKind::SessionEnding);
    assert_eq!(notice.seconds_left(at(t)), 294);
}

#[test]
fn reconnecting_does_not_repeat_the_session_ending_warning() {
    let mut cp = running(600, 0);
    let s = connected(&mut cp);
    assert_eq!(tick_over(&mut cp, 1..=300).len(), 1);
    cp.session_disconnected(&s.id, at(301)).unwrap();
    cp.session_connected(&s.id, at(310)).unwrap();
    assert!(tick_over(&mut cp, 302..=599).is_empty());
}

#[test]
fn the_idle_warning_comes_half_the_timeout_or_a_minute_before_the_disconnect() {
    // (IdleDisconnectTimeoutInSeconds, when the warning comes, seconds left)
    for (idle, warn_at, left) in [(60, 30, 30), (90, 60, 60), (300, 240, 60)] {
        let mut cp = running(3600, idle);
        connected(&mut cp);
        let effective = if idle == 90 { 120 } else { idle };
        let seen = tick_over(&mut cp, 1..=effective - 1);
        assert_eq!(seen.len(), 1, "idle {idle}: {seen:?}");
        let (t, notice) = seen[0];
        assert_eq!(t, warn_at, "idle {idle}");
        assert_eq!(notice.kind, NoticeKind::IdleDisconnect);
        assert_eq!(notice.deadline, at(effective));
        assert_eq!(notice.seconds_left(at(t)), left, "idle {idle}");
        assert!(matches!(
            cp.tick(at(effective))[..],
            [Effect::DisconnectSession { .. }]
        ));
    }
}

#[test]
fn input_rearms_the_idle_warning_and_moves_its_deadline() {
    let mut cp = running(3600, 60);
    let s = connected(&mut cp);
    assert_eq!(tick_over(&mut cp, 1..=30).len(), 1);
    assert!(
        tick_over(&mut cp, 31..=40).is_empty(),
        "never twice for one deadline"
    );
    cp.session_input(&s.id, at(40)).unwrap();
    let seen = tick_over(&mut cp, 41..=99);
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].0, 70);
    assert_eq!(seen[0].1.deadline, at(100));
    assert!(matches!(
        cp.tick(at(100))[..],
        [Effect::DisconnectSession { .. }]
    ));
}

#[test]
fn steady_input_is_never_warned_for_idleness() {
    let mut cp = running(3600, 60);
    let s = connected(&mut cp);
    for t in 1..=600 {
        if t % 20 == 0 {
            cp.session_input(&s.id, at(t)).unwrap();
        }
        assert!(cp.tick(at(t)).is_empty(), "at {t}");
    }
}

#[test]
fn no_idle_warning_when_the_idle_timeout_is_disabled_or_nobody_is_connected() {
    let mut cp = running(3600, 0);
    connected(&mut cp);
    assert!(tick_over(&mut cp, 1..=1000).is_empty());

    let mut cp = running(3600, 60);
    let (s, _) = open(&mut cp, "fleet", "alice", at(0)).unwrap();
    assert!(tick_over(&mut cp, 1..=50).is_empty(), "never connected");
    cp.session_connected(&s.id, at(50)).unwrap();
    cp.session_disconnected(&s.id, at(51)).unwrap();
    assert!(
        tick_over(&mut cp, 51..=105).is_empty(),
        "left before the warning"
    );
}

#[test]
fn seconds_left_rounds_up_and_stops_at_zero() {
    let notice = Notice {
        kind: NoticeKind::IdleDisconnect,
        deadline: at(100),
    };
    assert_eq!(notice.seconds_left(at(40)), 60);
    assert_eq!(
        notice.seconds_left(porthole_control::Timestamp::from_millis(
            at(40).as_millis() + 1
        )),
        60
    );
    assert_eq!(notice.seconds_left(at(100)), 0);
    assert_eq!(notice.seconds_left(at(200)), 0);
}

#[test]
fn notices_say_what_happens_and_what_to_do() {
    assert!(NoticeKind::SessionEnding.message().contains("save"));
    assert!(NoticeKind::IdleDisconnect.message().contains("inactivity"));
}

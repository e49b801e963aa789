//! Application Auto Scaling on fleets through its AWS-shaped operations:
//! targets, target-tracking policies, the tick's decisions and persistence.

mod common;

use common::*;
use porthole_appstream_ops::{Outcome, APPLICATION_AUTO_SCALING};
use porthole_control::ControlPlane;
use serde_json::{json, Value};

const DIM: &str = "appstream:fleet:DesiredCapacity";

fn aas(cp: &mut ControlPlane, op: &str, input: Value) -> Value {
    match APPLICATION_AUTO_SCALING.call(cp, op, &input, at(0)) {
        Ok(Outcome::Done(v)) => v,
        Ok(Outcome::StreamingUrl(g)) => panic!("{op} returned a grant {g:?}"),
        Err(e) => panic!("{op} {input}: {e}"),
    }
}

fn aas_error(cp: &mut ControlPlane, op: &str, input: Value) -> (&'static str, String) {
    match APPLICATION_AUTO_SCALING.call(cp, op, &input, at(0)) {
        Ok(_) => panic!("{op} {input} succeeded"),
        Err(e) => (e.aws_code(), e.message),
    }
}

fn register(cp: &mut ControlPlane, min: u32, max: u32) -> Value {
    aas(
        cp,
        "RegisterScalableTarget",
        json!({"ServiceNamespace": "appstream", "ResourceId": "fleet/fleet",
               "ScalableDimension": DIM, "MinCapacity": min, "MaxCapacity": max}),
    )
}

fn policy_input(name: &str, target: f64, out: u64, scale_in: u64) -> Value {
    json!({"PolicyName": name, "ServiceNamespace": "appstream", "ResourceId": "fleet/fleet",
           "ScalableDimension": DIM, "PolicyType": "TargetTrackingScaling",
           "TargetTrackingScalingPolicyConfiguration": {
               "TargetValue": target, "ScaleOutCooldown": out, "ScaleInCooldown": scale_in,
               "PredefinedMetricSpecification": {"PredefinedMetricType": "AppStreamAverageCapacityUtilization"}}})
}

fn always_on(desired: u32) -> Value {
    json!({"Name": "fleet", "ImageName": "porthole-default", "InstanceType": "stream.standard.small",
           "FleetType": "ALWAYS_ON", "ComputeCapacity": {"DesiredInstances": desired}})
}

fn running_always_on(desired: u32) -> ControlPlane {
    let mut cp = plane();
    fleet_and_stack(&mut cp, always_on(desired));
    call(&mut cp, "StartFleet", json!({"Name": "fleet"}), at(0));
    for id in launched(&cp.take_effects()) {
        cp.instance_ready(&id, at(0)).unwrap();
    }
    cp
}

fn desired(cp: &ControlPlane) -> u32 {
    cp.fleet("fleet").unwrap().desired_instances
}

fn activities(cp: &mut ControlPlane) -> Vec<Value> {
    let out = aas(
        cp,
        "DescribeScalingActivities",
        json!({"ServiceNamespace": "appstream", "ResourceId": "fleet/fleet"}),
    );
    out["ScalingActivities"].as_array().unwrap().clone()
}

#[test]
fn register_describe_and_update_a_target() {
    let mut cp = plane();
    fleet_and_stack(&mut cp, always_on(2));
    let arn = register(&mut cp, 1, 5)["ScalableTargetARN"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        arn.starts_with("arn:aws:application-autoscaling:us-east-1:123456789012:scalable-target/"),
        "{arn}"
    );
    let out = aas(
        &mut cp,
        "DescribeScalableTargets",
        json!({"ServiceNamespace": "appstream"}),
    );
    let t = &out["ScalableTargets"][0];
    assert_eq!(
        (
            t["ResourceId"].as_str(),
            t["MinCapacity"].as_u64(),
            t["MaxCapacity"].as_u64()
        ),
        (Some("fleet/fleet"), Some(1), Some(5))
    );
    assert_eq!(t["ScalableTargetARN"], arn.as_str());
    assert_eq!(t["SuspendedState"]["DynamicScalingInSuspended"], false);
    // Registering again updates only what is given; the ARN stays.
    let again = aas(
        &mut cp,
        "RegisterScalableTarget",
        json!({"ServiceNamespace": "appstream", "ResourceId": "fleet/fleet", "ScalableDimension": DIM,
               "MaxCapacity": 8, "SuspendedState": {"DynamicScalingInSuspended": true}}),
    );
    assert_eq!(again["ScalableTargetARN"], arn.as_str());
    let t = cp.scalable_target("fleet").unwrap();
    assert_eq!((t.min_capacity, t.max_capacity), (1, 8));
    assert!(t.suspended.dynamic_scaling_in && !t.suspended.dynamic_scaling_out);
    let filtered = aas(
        &mut cp,
        "DescribeScalableTargets",
        json!({"ServiceNamespace": "appstream", "ResourceIds": ["fleet/other"]}),
    );
    assert_eq!(filtered["ScalableTargets"], json!([]));
}

#[test]
fn registering_moves_capacity_into_the_range_at_once() {
    let mut cp = running_always_on(1);
    register(&mut cp, 3, 5);
    assert_eq!(desired(&cp), 3);
    assert_eq!(
        launched(&cp.take_effects()).len(),
        2,
        "the new capacity is launched"
    );
    let acts = activities(&mut cp);
    assert_eq!(acts.len(), 1);
    assert_eq!(acts[0]["Description"], "Setting desired capacity to 3.");
    assert_eq!(acts[0]["StatusCode"], "Successful");
    register(&mut cp, 1, 2);
    assert_eq!(desired(&cp), 2, "above the new max: down to it");
    assert_eq!(
        activities(&mut cp)[0]["Description"],
        "Setting desired capacity to 2."
    );
    register(&mut cp, 1, 4);
    assert_eq!(desired(&cp), 2, "inside the range: untouched");
    assert_eq!(activities(&mut cp).len(), 2);
}

#[test]
fn policies_scale_the_fleet_on_tick_with_cooldowns() {
    let mut cp = running_always_on(1);
    register(&mut cp, 1, 4);
    let arn = aas(
        &mut cp,
        "PutScalingPolicy",
        policy_input("util50", 50.0, 60, 600),
    )["PolicyARN"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        arn.starts_with("arn:aws:autoscaling:us-east-1:123456789012:scalingPolicy:")
            && arn.ends_with(":resource/appstream/fleet/fleet:policyName/util50"),
        "{arn}"
    );
    let (s, _) = open(&mut cp, "fleet", "alice", at(0)).unwrap();
    cp.session_connected(&s.id, at(0)).unwrap();
    let effects = cp.tick(at(1));
    assert_eq!(launched(&effects).len(), 1, "1 in use at 50 % wants 2");
    assert_eq!(desired(&cp), 2);
    let new = launched(&effects)[0].clone();
    cp.instance_ready(&new, at(2)).unwrap();
    let (b, _) = open(&mut cp, "fleet", "bob", at(3)).unwrap();
    cp.session_connected(&b.id, at(3)).unwrap();
    assert!(launched(&cp.tick(at(30))).is_empty(), "scale-out cooldown");
    assert_eq!(launched(&cp.tick(at(61))).len(), 2, "2 in use wants 4");
    cp.end_session(&s.id, porthole_control::EndReason::UserEnded, at(62))
        .unwrap();
    cp.tick(at(63));
    assert_eq!(desired(&cp), 4, "scale-in cooldown");
    cp.tick(at(661));
    assert_eq!(desired(&cp), 2);
    let acts = activities(&mut cp);
    let descriptions: Vec<&str> = acts
        .iter()
        .map(|a| a["Description"].as_str().unwrap())
        .collect();
    assert_eq!(
        descriptions,
        [
            "Setting desired capacity to 2.",
            "Setting desired capacity to 4.",
            "Setting desired capacity to 2.",
        ]
    );
    assert!(
        acts[1]["Cause"].as_str().unwrap().contains("util50"),
        "{}",
        acts[1]
    );
}

#[test]
fn policies_are_described_replaced_and_deleted() {
    let mut cp = plane();
    fleet_and_stack(&mut cp, always_on(1));
    register(&mut cp, 1, 4);
    let first =
        aas(&mut cp, "PutScalingPolicy", policy_input("a", 75.0, 0, 0))["PolicyARN"].clone();
    let mut defaults = policy_input("b", 60.0, 0, 0);
    let config = defaults["TargetTrackingScalingPolicyConfiguration"]
        .as_object_mut()
        .unwrap();
    config.remove("ScaleOutCooldown");
    config.remove("ScaleInCooldown");
    config.insert("DisableScaleIn".into(), json!(true));
    aas(&mut cp, "PutScalingPolicy", defaults);
    let again =
        aas(&mut cp, "PutScalingPolicy", policy_input("a", 40.0, 5, 5))["PolicyARN"].clone();
    assert_eq!(first, again, "replacing a policy keeps its ARN");
    let out = aas(
        &mut cp,
        "DescribeScalingPolicies",
        json!({"ServiceNamespace": "appstream"}),
    );
    let policies = out["ScalingPolicies"].as_array().unwrap();
    assert_eq!(policies.len(), 2);
    let a = &policies[0]["TargetTrackingScalingPolicyConfiguration"];
    assert_eq!(
        (a["TargetValue"].as_f64(), a["ScaleOutCooldown"].as_u64()),
        (Some(40.0), Some(5))
    );
    let b = &policies[1]["TargetTrackingScalingPolicyConfiguration"];
    assert_eq!(
        (
            b["ScaleOutCooldown"].as_u64(),
            b["ScaleInCooldown"].as_u64()
        ),
        (Some(300), Some(300)),
        "AWS's AppStream defaults"
    );
    assert_eq!(b["DisableScaleIn"], true);
    let page = aas(
        &mut cp,
        "DescribeScalingPolicies",
        json!({"ServiceNamespace": "appstream", "MaxResults": 1}),
    );
    assert_eq!(page["ScalingPolicies"][0]["PolicyName"], "a");
    let rest = aas(
        &mut cp,
        "DescribeScalingPolicies",
        json!({"ServiceNamespace": "appstream", "MaxResults": 1, "NextToken": page["NextToken"]}),
    );
    assert_eq!(rest["ScalingPolicies"][0]["PolicyName"], "b");
    assert!(rest.get("NextToken").is_none());
    let named = aas(
        &mut cp,
        "DescribeScalingPolicies",
        json!({"ServiceNamespace": "appstream", "PolicyNames": ["b"], "ResourceId": "fleet/fleet"}),
    );
    assert_eq!(named["ScalingPolicies"].as_array().unwrap().len(), 1);
    let delete = json!({"PolicyName": "a", "ServiceNamespace": "appstream",
                        "ResourceId": "fleet/fleet", "ScalableDimension": DIM});
    aas(&mut cp, "DeleteScalingPolicy", delete.clone());
    assert_eq!(
        aas_error(&mut cp, "DeleteScalingPolicy", delete).0,
        "ObjectNotFoundException"
    );
}

#[test]
fn deregistering_drops_the_policies_and_deleting_the_fleet_the_target() {
    let mut cp = plane();
    fleet_and_stack(&mut cp, always_on(1));
    register(&mut cp, 1, 4);
    aas(&mut cp, "PutScalingPolicy", policy_input("a", 75.0, 0, 0));
    let target = json!({"ServiceNamespace": "appstream", "ResourceId": "fleet/fleet",
                        "ScalableDimension": DIM});
    aas(&mut cp, "DeregisterScalableTarget", target.clone());
    let out = aas(
        &mut cp,
        "DescribeScalingPolicies",
        json!({"ServiceNamespace": "appstream"}),
    );
    assert_eq!(out["ScalingPolicies"], json!([]));
    assert_eq!(
        aas_error(&mut cp, "DeregisterScalableTarget", target).0,
        "ObjectNotFoundException"
    );

    register(&mut cp, 1, 4);
    call(
        &mut cp,
        "DisassociateFleet",
        json!({"FleetName": "fleet", "StackName": "stack"}),
        at(0),
    );
    cp.take_changes();
    call(&mut cp, "DeleteFleet", json!({"Name": "fleet"}), at(0));
    assert_eq!(cp.scalable_targets().count(), 0);
    let deleted: Vec<_> = cp
        .take_changes()
        .into_iter()
        .filter(|c| c.kind == "scalable-target")
        .collect();
    assert_eq!(deleted.len(), 1);
    assert!(
        deleted[0].document.is_none(),
        "the stored target is deleted too"
    );
}

#[test]
fn bad_input_is_refused_with_aas_codes_and_changes_nothing() {
    let mut cp = plane();
    fleet_and_stack(&mut cp, always_on(1));
    call(
        &mut cp,
        "CreateFleet",
        json!({"Name": "el", "ImageName": "porthole-default",
        "InstanceType": "stream.standard.small", "FleetType": "ELASTIC", "MaxConcurrentSessions": 2}),
        at(0),
    );
    cp.take_changes();
    let reg = |ns: &str, id: &str, dim: &str, min: u32, max: u32| {
        json!({"ServiceNamespace": ns, "ResourceId": id, "ScalableDimension": dim,
               "MinCapacity": min, "MaxCapacity": max})
    };
    for (input, why) in [
        (reg("ecs", "fleet/fleet", DIM, 1, 2), "namespace"),
        (reg("appstream", "fleet/nosuch", DIM, 1, 2), "fleet"),
        (reg("appstream", "stack/fleet", DIM, 1, 2), "resource id"),
        (
            reg("appstream", "fleet/fleet", "ecs:service:DesiredCount", 1, 2),
            "dimension",
        ),
        (reg("appstream", "fleet/fleet", DIM, 3, 2), "min > max"),
        (
            reg("appstream", "fleet/fleet", DIM, 1, 500),
            "max over the fleet limit",
        ),
        (reg("appstream", "fleet/el", DIM, 1, 2), "elastic"),
    ] {
        assert_eq!(
            aas_error(&mut cp, "RegisterScalableTarget", input).0,
            "ValidationException",
            "{why}"
        );
    }
    let missing_bounds = json!({"ServiceNamespace": "appstream", "ResourceId": "fleet/fleet",
                                "ScalableDimension": DIM});
    assert_eq!(
        aas_error(&mut cp, "RegisterScalableTarget", missing_bounds).0,
        "ValidationException"
    );
    assert_eq!(
        aas_error(&mut cp, "PutScalingPolicy", policy_input("p", 50.0, 0, 0)).0,
        "ObjectNotFoundException",
        "no target registered"
    );
    register(&mut cp, 1, 3);
    cp.take_changes();
    let mut step = policy_input("p", 50.0, 0, 0);
    step["PolicyType"] = json!("StepScaling");
    let (code, message) = aas_error(&mut cp, "PutScalingPolicy", step);
    assert_eq!(code, "ValidationException");
    assert!(message.contains("not supported"), "{message}");
    let mut custom = policy_input("p", 50.0, 0, 0);
    custom["TargetTrackingScalingPolicyConfiguration"]["CustomizedMetricSpecification"] =
        json!({"MetricName": "x"});
    assert!(aas_error(&mut cp, "PutScalingPolicy", custom)
        .1
        .contains("not supported"));
    let mut other_metric = policy_input("p", 50.0, 0, 0);
    other_metric["TargetTrackingScalingPolicyConfiguration"]["PredefinedMetricSpecification"] =
        json!({"PredefinedMetricType": "ECSServiceAverageCPUUtilization"});
    assert_eq!(
        aas_error(&mut cp, "PutScalingPolicy", other_metric).0,
        "ValidationException"
    );
    assert_eq!(
        aas_error(&mut cp, "PutScalingPolicy", policy_input("p", 150.0, 0, 0)).0,
        "ValidationException"
    );
    assert!(
        cp.take_changes().is_empty(),
        "refused input changed nothing"
    );
    assert!(cp.scalable_target("fleet").unwrap().policies.is_empty());
}

#[test]
fn suspended_scale_out_is_honoured_by_the_tick() {
    let mut cp = running_always_on(1);
    aas(
        &mut cp,
        "RegisterScalableTarget",
        json!({"ServiceNamespace": "appstream", "ResourceId": "fleet/fleet", "ScalableDimension": DIM,
               "MinCapacity": 1, "MaxCapacity": 4,
               "SuspendedState": {"DynamicScalingOutSuspended": true}}),
    );
    aas(&mut cp, "PutScalingPolicy", policy_input("p", 50.0, 0, 0));
    let (s, _) = open(&mut cp, "fleet", "alice", at(0)).unwrap();
    cp.session_connected(&s.id, at(0)).unwrap();
    cp.tick(at(1));
    assert_eq!(desired(&cp), 1);
    register(&mut cp, 1, 4); // suspended states not given: kept
    cp.tick(at(2));
    assert_eq!(desired(&cp), 1);
    aas(
        &mut cp,
        "RegisterScalableTarget",
        json!({"ServiceNamespace": "appstream", "ResourceId": "fleet/fleet", "ScalableDimension": DIM,
               "SuspendedState": {"DynamicScalingOutSuspended": false}}),
    );
    cp.tick(at(3));
    assert_eq!(desired(&cp), 2);
}

#[test]
fn targets_policies_and_activities_survive_a_restore() {
    let mut cp = running_always_on(1);
    register(&mut cp, 2, 4);
    aas(&mut cp, "PutScalingPolicy", policy_input("p", 50.0, 0, 0));
    let before = cp.scalable_target("fleet").unwrap().clone();
    assert_eq!(before.activities.len(), 1);
    let stored: Vec<(String, Value)> = cp
        .take_changes()
        .into_iter()
        .filter_map(|c| Some((c.kind.to_owned(), c.document?)))
        .collect();
    let mut restored = plane();
    restored.restore(stored, at(10)).unwrap();
    assert_eq!(restored.scalable_target("fleet").unwrap(), &before);
    assert_eq!(restored.fleet("fleet").unwrap().desired_instances, 2);
}

#[test]
fn describes_of_other_namespaces_are_empty_as_on_aws() {
    let mut cp = running_always_on(1);
    register(&mut cp, 1, 3);
    for (op, list) in [
        ("DescribeScalableTargets", "ScalableTargets"),
        ("DescribeScalingPolicies", "ScalingPolicies"),
        ("DescribeScalingActivities", "ScalingActivities"),
    ] {
        let out = aas(&mut cp, op, json!({"ServiceNamespace": "ecs"}));
        assert_eq!(out, json!({ list: [] }), "{op} for ecs");
        let out = aas(&mut cp, op, json!({"ServiceNamespace": "appstream"}));
        assert!(out[list].is_array(), "{op} for appstream: {out}");
    }
    let all = aas(
        &mut cp,
        "DescribeScalableTargets",
        json!({"ServiceNamespace": "appstream"}),
    );
    assert_eq!(all["ScalableTargets"].as_array().unwrap().len(), 1);
    // Changes still refuse what Porthole cannot scale.
    let (code, _) = aas_error(
        &mut cp,
        "RegisterScalableTarget",
        json!({"ServiceNamespace": "ecs", "ResourceId": "service/c/s",
               "ScalableDimension": "ecs:service:DesiredCount", "MinCapacity": 1, "MaxCapacity": 2}),
    );
    assert_eq!(code, "ValidationException");
}

#[test]
fn a_next_token_not_issued_here_is_an_invalid_next_token() {
    let mut cp = running_always_on(1);
    register(&mut cp, 1, 3);
    for op in [
        "DescribeScalableTargets",
        "DescribeScalingPolicies",
        "DescribeScalingActivities",
    ] {
        let (code, _) = aas_error(
            &mut cp,
            op,
            json!({"ServiceNamespace": "appstream", "NextToken": "not-a-token"}),
        );
        assert_eq!(code, "InvalidNextTokenException", "{op}");
    }
}

//! Application Auto Scaling operations on JSON documents shaped like its
//! model's inputs and outputs, for the `appstream` service namespace only:
//! the one place that knows its member names. The wire layer has already
//! checked the model's types, lengths, patterns and enums.

use crate::api::{
    member, opt_member, opt_str, opt_u32, opt_u64, paginate, req_member, req_str, with_token,
};
use crate::autoscaling::{PolicySettings, TargetSettings};
use crate::error::{DomainError, ErrorKind, Result};
use crate::plane::ControlPlane;
use crate::scaling::{
    ScalableTarget, TargetTrackingPolicy, DEFAULT_SCALE_IN_COOLDOWN_SECS,
    DEFAULT_SCALE_OUT_COOLDOWN_SECS,
};
use crate::time::Timestamp;
use serde_json::{json, Value};

/// The operations [`call`] implements; the others of the service deserve a
/// "not supported yet".
pub const OPERATIONS: &[&str] = &[
    "RegisterScalableTarget",
    "DescribeScalableTargets",
    "DeregisterScalableTarget",
    "PutScalingPolicy",
    "DescribeScalingPolicies",
    "DeleteScalingPolicy",
    "DescribeScalingActivities",
];

pub const SERVICE_NAMESPACE: &str = "appstream";
pub const SCALABLE_DIMENSION: &str = "appstream:fleet:DesiredCapacity";
pub const PREDEFINED_METRIC: &str = "AppStreamAverageCapacityUtilization";
const TARGETS_PAGE: u64 = 50;
const POLICIES_PAGE: u64 = 10;
const ACTIVITIES_PAGE: u64 = 50;

/// Runs one operation; like [`crate::api::call`], effects stay in the outbox.
pub fn call(
    cp: &mut ControlPlane,
    operation: &str,
    input: &Value,
    now: Timestamp,
) -> Result<Value> {
    // AWS lists what each namespace has: here, only appstream's fleets.
    if let Some(list) = described_list(operation) {
        if !in_scope(input)? {
            return Ok(json!({ list: [] }));
        }
    }
    check_namespace(input)?;
    check_dimension(input)?;
    match operation {
        "RegisterScalableTarget" => register_scalable_target(cp, input, now),
        "DescribeScalableTargets" => describe_scalable_targets(cp, input),
        "DeregisterScalableTarget" => {
            cp.deregister_scalable_target(&fleet_of(input)?)?;
            Ok(json!({}))
        }
        "PutScalingPolicy" => put_scaling_policy(cp, input, now),
        "DescribeScalingPolicies" => describe_scaling_policies(cp, input),
        "DeleteScalingPolicy" => {
            cp.delete_scaling_policy(&fleet_of(input)?, req_str(input, "PolicyName")?)?;
            Ok(json!({}))
        }
        "DescribeScalingActivities" => describe_scaling_activities(cp, input),
        other => Err(DomainError::validation(format!(
            "The Application Auto Scaling operation {other} is not supported by Porthole yet."
        ))),
    }
}

// ---- input -----------------------------------------------------------------

/// The list a Describe operation answers with.
fn described_list(operation: &str) -> Option<&'static str> {
    match operation {
        "DescribeScalableTargets" => Some("ScalableTargets"),
        "DescribeScalingPolicies" => Some("ScalingPolicies"),
        "DescribeScalingActivities" => Some("ScalingActivities"),
        _ => None,
    }
}

/// Whether the input's namespace and dimension are ones Porthole scales.
fn in_scope(input: &Value) -> Result<bool> {
    Ok(req_str(input, "ServiceNamespace")? == SERVICE_NAMESPACE
        && opt_str(input, "ScalableDimension")?.is_none_or(|d| d == SCALABLE_DIMENSION))
}

/// One page of a Describe; a NextToken Porthole did not issue gets AAS's own error.
fn page<T>(
    items: Vec<(String, T)>,
    input: &Value,
    limit: usize,
) -> Result<(Vec<T>, Option<String>)> {
    paginate(items, input, limit)
        .map_err(|err| DomainError::new(ErrorKind::InvalidNextToken, err.message))
}

fn check_namespace(input: &Value) -> Result<()> {
    match req_str(input, "ServiceNamespace")? {
        SERVICE_NAMESPACE => Ok(()),
        other => Err(DomainError::validation(format!(
            "Porthole scales only the {SERVICE_NAMESPACE} service namespace, not {other}."
        ))),
    }
}

fn check_dimension(input: &Value) -> Result<()> {
    match opt_str(input, "ScalableDimension")? {
        None | Some(SCALABLE_DIMENSION) => Ok(()),
        Some(other) => Err(DomainError::validation(format!(
            "Unsupported scalable dimension {other} for service namespace \
             {SERVICE_NAMESPACE}: the only one is {SCALABLE_DIMENSION}."
        ))),
    }
}

/// The fleet name of `fleet/NAME`, or None for another resource id.
fn fleet_name(resource_id: &str) -> Option<&str> {
    resource_id
        .strip_prefix("fleet/")
        .filter(|name| !name.is_empty() && !name.contains('/'))
}

fn resource_id(fleet: &str) -> String {
    format!("fleet/{fleet}")
}

fn fleet_of(input: &Value) -> Result<String> {
    let id = req_str(input, "ResourceId")?;
    fleet_name(id).map(str::to_owned).ok_or_else(|| {
        DomainError::validation(format!(
            "Unsupported resource ID {id}: AppStream fleets are fleet/<fleet name>."
        ))
    })
}

/// The fleet of the input's ResourceId, which must exist.
fn existing_fleet(cp: &ControlPlane, input: &Value) -> Result<String> {
    let fleet = fleet_of(input)?;
    cp.fleet(&fleet)
        .map_err(|_| DomainError::validation(format!("The fleet {fleet} does not exist.")))?;
    Ok(fleet)
}

fn page_size(input: &Value, default: u64) -> Result<usize> {
    Ok(opt_u64(input, "MaxResults")?.unwrap_or(default) as usize)
}

fn not_supported(what: &str) -> DomainError {
    DomainError::validation(format!("{what} is not supported by Porthole yet."))
}

// ---- output ----------------------------------------------------------------

fn target_arn(cp: &ControlPlane, target: &ScalableTarget) -> String {
    let c = cp.config();
    format!(
        "arn:aws:application-autoscaling:{}:{}:scalable-target/{}",
        c.region, c.account, target.id
    )
}

fn policy_arn(cp: &ControlPlane, fleet: &str, policy: &TargetTrackingPolicy) -> String {
    let c = cp.config();
    format!(
        "arn:aws:autoscaling:{}:{}:scalingPolicy:{}:resource/{SERVICE_NAMESPACE}/{}:policyName/{}",
        c.region,
        c.account,
        policy.id,
        resource_id(fleet),
        policy.name
    )
}

/// The service-linked role AWS uses for AppStream fleets.
fn role_arn(cp: &ControlPlane) -> String {
    format!(
        "arn:aws:iam::{}:role/aws-service-role/appstream.application-autoscaling.amazonaws.com/\
         AWSServiceRoleForApplicationAutoScaling_AppStreamFleet",
        cp.config().account
    )
}

fn common(fleet: &str) -> serde_json::Map<String, Value> {
    let mut obj = serde_json::Map::new();
    obj.insert("ServiceNamespace".into(), SERVICE_NAMESPACE.into());
    obj.insert("ResourceId".into(), resource_id(fleet).into());
    obj.insert("ScalableDimension".into(), SCALABLE_DIMENSION.into());
    obj
}

pub fn scalable_target_json(cp: &ControlPlane, target: &ScalableTarget) -> Value {
    let mut obj = common(&target.fleet);
    obj.insert("MinCapacity".into(), target.min_capacity.into());
    obj.insert("MaxCapacity".into(), target.max_capacity.into());
    obj.insert("RoleARN".into(), role_arn(cp).into());
    obj.insert(
        "CreationTime".into(),
        target.created_time.as_secs_f64().into(),
    );
    obj.insert(
        "SuspendedState".into(),
        json!({
            "DynamicScalingInSuspended": target.suspended.dynamic_scaling_in,
            "DynamicScalingOutSuspended": target.suspended.dynamic_scaling_out,
            "ScheduledScalingSuspended": target.suspended.scheduled_scaling,
        }),
    );
    obj.insert("ScalableTargetARN".into(), target_arn(cp, target).into());
    Value::Object(obj)
}

pub fn scaling_policy_json(cp: &ControlPlane, fleet: &str, policy: &TargetTrackingPolicy) -> Value {
    let mut obj = common(fleet);
    obj.insert("PolicyARN".into(), policy_arn(cp, fleet, policy).into());
    obj.insert("PolicyName".into(), policy.name.clone().into());
    obj.insert("PolicyType".into(), "TargetTrackingScaling".into());
    obj.insert(
        "TargetTrackingScalingPolicyConfiguration".into(),
        json!({
            "TargetValue": policy.target_utilization,
            "PredefinedMetricSpecification": {"PredefinedMetricType": PREDEFINED_METRIC},
            "ScaleOutCooldown": policy.scale_out_cooldown_secs,
            "ScaleInCooldown": policy.scale_in_cooldown_secs,
            "DisableScaleIn": policy.disable_scale_in,
        }),
    );
    // AWS creates CloudWatch alarms for a policy; Porthole evaluates it in its tick.
    obj.insert("Alarms".into(), json!([]));
    obj.insert(
        "CreationTime".into(),
        policy.created_time.as_secs_f64().into(),
    );
    Value::Object(obj)
}

// ---- operations ------------------------------------------------------------

fn register_scalable_target(cp: &mut ControlPlane, input: &Value, now: Timestamp) -> Result<Value> {
    let fleet = existing_fleet(cp, input)?;
    if member(input, "Tags").is_some() {
        return Err(not_supported("Tagging scalable targets"));
    }
    let suspended = member(input, "SuspendedState")
        .cloned()
        .unwrap_or(json!({}));
    let settings = TargetSettings {
        min_capacity: opt_u32(input, "MinCapacity")?,
        max_capacity: opt_u32(input, "MaxCapacity")?,
        dynamic_scaling_in_suspended: opt_member(&suspended, "DynamicScalingInSuspended")?,
        dynamic_scaling_out_suspended: opt_member(&suspended, "DynamicScalingOutSuspended")?,
        scheduled_scaling_suspended: opt_member(&suspended, "ScheduledScalingSuspended")?,
    };
    let target = cp.register_scalable_target(&fleet, settings, now)?.clone();
    Ok(json!({ "ScalableTargetARN": target_arn(cp, &target) }))
}

fn describe_scalable_targets(cp: &ControlPlane, input: &Value) -> Result<Value> {
    let ids: Option<Vec<String>> = opt_member(input, "ResourceIds")?;
    let items = cp
        .scalable_targets()
        .filter(|t| {
            ids.as_ref()
                .is_none_or(|ids| ids.contains(&resource_id(&t.fleet)))
        })
        .map(|t| (t.fleet.clone(), scalable_target_json(cp, t)))
        .collect();
    let (targets, token) = page(items, input, page_size(input, TARGETS_PAGE)?)?;
    Ok(with_token(json!({ "ScalableTargets": targets }), token))
}

fn put_scaling_policy(cp: &mut ControlPlane, input: &Value, now: Timestamp) -> Result<Value> {
    let fleet = existing_fleet(cp, input)?;
    let name = req_str(input, "PolicyName")?;
    // AWS's default type is StepScaling.
    let policy_type = opt_str(input, "PolicyType")?.unwrap_or("StepScaling");
    if policy_type != "TargetTrackingScaling" {
        return Err(not_supported(&format!(
            "The policy type {policy_type} (only TargetTrackingScaling is)"
        )));
    }
    let config = member(input, "TargetTrackingScalingPolicyConfiguration").ok_or_else(|| {
        DomainError::validation(
            "TargetTrackingScalingPolicyConfiguration is required for a TargetTrackingScaling policy.",
        )
    })?;
    if member(config, "CustomizedMetricSpecification").is_some() {
        return Err(not_supported(&format!(
            "A customized metric (only the predefined {PREDEFINED_METRIC} is)"
        )));
    }
    let metric = member(config, "PredefinedMetricSpecification").ok_or_else(|| {
        DomainError::validation(format!(
            "PredefinedMetricSpecification is required: {PREDEFINED_METRIC}."
        ))
    })?;
    match req_str(metric, "PredefinedMetricType")? {
        PREDEFINED_METRIC => {}
        other => {
            return Err(DomainError::validation(format!(
                "The predefined metric type {other} is not valid for the \
                 {SERVICE_NAMESPACE} namespace: use {PREDEFINED_METRIC}."
            )))
        }
    }
    let settings = PolicySettings {
        target_utilization: req_member(config, "TargetValue")?,
        scale_out_cooldown_secs: opt_u64(config, "ScaleOutCooldown")?
            .unwrap_or(DEFAULT_SCALE_OUT_COOLDOWN_SECS),
        scale_in_cooldown_secs: opt_u64(config, "ScaleInCooldown")?
            .unwrap_or(DEFAULT_SCALE_IN_COOLDOWN_SECS),
        disable_scale_in: opt_member(config, "DisableScaleIn")?.unwrap_or(false),
    };
    let policy = cp.put_scaling_policy(&fleet, name, settings, now)?.clone();
    Ok(json!({ "PolicyARN": policy_arn(cp, &fleet, &policy), "Alarms": [] }))
}

fn describe_scaling_policies(cp: &ControlPlane, input: &Value) -> Result<Value> {
    let names: Option<Vec<String>> = opt_member(input, "PolicyNames")?;
    let resource = opt_str(input, "ResourceId")?;
    let items = cp
        .scalable_targets()
        .filter(|t| resource.is_none_or(|r| r == resource_id(&t.fleet)))
        .flat_map(|t| t.policies.values().map(move |p| (t, p)))
        .filter(|(_, p)| names.as_ref().is_none_or(|n| n.contains(&p.name)))
        .map(|(t, p)| {
            (
                format!("{}/{}", t.fleet, p.name),
                scaling_policy_json(cp, &t.fleet, p),
            )
        })
        .collect();
    let (policies, token) = page(items, input, page_size(input, POLICIES_PAGE)?)?;
    Ok(with_token(json!({ "ScalingPolicies": policies }), token))
}

fn describe_scaling_activities(cp: &ControlPlane, input: &Value) -> Result<Value> {
    let resource = opt_str(input, "ResourceId")?;
    let items = cp
        .scalable_targets()
        .filter(|t| resource.is_none_or(|r| r == resource_id(&t.fleet)))
        .flat_map(|t| t.activities.iter().enumerate().map(move |(i, a)| (t, i, a)))
        .map(|(t, i, a)| {
            let mut obj = common(&t.fleet);
            obj.insert("ActivityId".into(), a.id.clone().into());
            obj.insert("Description".into(), a.description.clone().into());
            obj.insert("Cause".into(), a.cause.clone().into());
            obj.insert("StartTime".into(), a.start_time.as_secs_f64().into());
            obj.insert("EndTime".into(), a.end_time.as_secs_f64().into());
            obj.insert("StatusCode".into(), "Successful".into());
            // Keys sort newest first, as DescribeScalingActivities lists;
            // a target's own order (newest first) breaks ties.
            let key = format!(
                "{:020}/{}/{i:06}",
                u64::MAX - a.start_time.as_millis(),
                t.fleet
            );
            (key, Value::Object(obj))
        })
        .collect();
    let (activities, token) = page(items, input, page_size(input, ACTIVITIES_PAGE)?)?;
    Ok(with_token(
        json!({ "ScalingActivities": activities }),
        token,
    ))
}

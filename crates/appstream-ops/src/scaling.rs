//! Application Auto Scaling, for the `appstream` service namespace only:
//! RegisterScalableTarget, DescribeScalableTargets, DeregisterScalableTarget,
//! PutScalingPolicy, DescribeScalingPolicies, DeleteScalingPolicy and
//! DescribeScalingActivities.

use crate::page::Page;
use crate::{Empty, Operation};
use porthole_control::autoscaling::{PolicySettings, TargetSettings};
use porthole_control::error::Result;
use porthole_control::scaling::{DEFAULT_SCALE_IN_COOLDOWN_SECS, DEFAULT_SCALE_OUT_COOLDOWN_SECS};
use porthole_control::{
    ControlPlane, DomainError, ErrorKind, ScalableTarget, TargetTrackingPolicy, Timestamp,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub(crate) const OPERATIONS: &[Operation] = &[
    op!(RegisterScalableTarget => register_scalable_target),
    op!(DescribeScalableTargets => describe_scalable_targets),
    op!(DeregisterScalableTarget => deregister_scalable_target),
    op!(PutScalingPolicy => put_scaling_policy),
    op!(DescribeScalingPolicies => describe_scaling_policies),
    op!(DeleteScalingPolicy => delete_scaling_policy),
    op!(DescribeScalingActivities => describe_scaling_activities),
];

const SERVICE_NAMESPACE: &str = "appstream";
const SCALABLE_DIMENSION: &str = "appstream:fleet:DesiredCapacity";
const PREDEFINED_METRIC: &str = "AppStreamAverageCapacityUtilization";
const TARGETS_PAGE: usize = 50;
const POLICIES_PAGE: usize = 10;
const ACTIVITIES_PAGE: usize = 50;

// ---- inputs ----------------------------------------------------------------

/// The namespace and dimension every input names.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Scope {
    service_namespace: String,
    scalable_dimension: Option<String>,
}

impl Scope {
    /// Whether these are the namespace and dimension Porthole scales: the
    /// describes of any other list nothing, as AWS lists what each has.
    fn is_ours(&self) -> bool {
        self.service_namespace == SERVICE_NAMESPACE
            && self
                .scalable_dimension
                .as_deref()
                .is_none_or(|d| d == SCALABLE_DIMENSION)
    }

    /// Refuses another namespace or dimension, naming the ones there are.
    fn check(&self) -> Result<()> {
        if self.service_namespace != SERVICE_NAMESPACE {
            return Err(DomainError::validation(format!(
                "Porthole scales only the {SERVICE_NAMESPACE} service namespace, not {}.",
                self.service_namespace
            )));
        }
        match self.scalable_dimension.as_deref() {
            None | Some(SCALABLE_DIMENSION) => Ok(()),
            Some(other) => Err(DomainError::validation(format!(
                "Unsupported scalable dimension {other} for service namespace \
                 {SERVICE_NAMESPACE}: the only one is {SCALABLE_DIMENSION}."
            ))),
        }
    }
}

/// The paging members of the describes.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Paging {
    max_results: Option<usize>,
    next_token: Option<String>,
}

impl Paging {
    /// One page of `items`; a NextToken Porthole did not issue gets the
    /// service's own InvalidNextTokenException.
    fn page<T>(
        &self,
        items: impl IntoIterator<Item = (String, T)>,
        default: usize,
    ) -> Result<Page<T>> {
        Page::after(
            items,
            self.next_token.as_deref(),
            self.max_results.unwrap_or(default),
            ErrorKind::InvalidNextToken,
        )
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct SuspendedStateInput {
    dynamic_scaling_in_suspended: Option<bool>,
    dynamic_scaling_out_suspended: Option<bool>,
    scheduled_scaling_suspended: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RegisterScalableTargetInput {
    #[serde(flatten)]
    scope: Scope,
    resource_id: String,
    min_capacity: Option<u32>,
    max_capacity: Option<u32>,
    suspended_state: Option<SuspendedStateInput>,
    tags: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DescribeScalableTargetsInput {
    #[serde(flatten)]
    scope: Scope,
    resource_ids: Option<Vec<String>>,
    #[serde(flatten)]
    paging: Paging,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DeregisterScalableTargetInput {
    #[serde(flatten)]
    scope: Scope,
    resource_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PredefinedMetricSpecification {
    predefined_metric_type: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TargetTrackingConfigurationInput {
    target_value: f64,
    predefined_metric_specification: Option<PredefinedMetricSpecification>,
    customized_metric_specification: Option<Value>,
    scale_out_cooldown: Option<u64>,
    scale_in_cooldown: Option<u64>,
    disable_scale_in: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PutScalingPolicyInput {
    #[serde(flatten)]
    scope: Scope,
    resource_id: String,
    policy_name: String,
    policy_type: Option<String>,
    target_tracking_scaling_policy_configuration: Option<TargetTrackingConfigurationInput>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DescribeScalingPoliciesInput {
    #[serde(flatten)]
    scope: Scope,
    policy_names: Option<Vec<String>>,
    resource_id: Option<String>,
    #[serde(flatten)]
    paging: Paging,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DeleteScalingPolicyInput {
    #[serde(flatten)]
    scope: Scope,
    resource_id: String,
    policy_name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DescribeScalingActivitiesInput {
    #[serde(flatten)]
    scope: Scope,
    resource_id: Option<String>,
    #[serde(flatten)]
    paging: Paging,
}

/// The fleet name of `fleet/NAME`.
fn fleet_of(resource_id: &str) -> Result<String> {
    resource_id
        .strip_prefix("fleet/")
        .filter(|name| !name.is_empty() && !name.contains('/'))
        .map(str::to_owned)
        .ok_or_else(|| {
            DomainError::validation(format!(
                "Unsupported resource ID {resource_id}: AppStream fleets are fleet/<fleet name>."
            ))
        })
}

/// The fleet of a ResourceId, which must exist.
fn existing_fleet(cp: &ControlPlane, resource_id: &str) -> Result<String> {
    let fleet = fleet_of(resource_id)?;
    cp.fleet(&fleet)
        .map_err(|_| DomainError::validation(format!("The fleet {fleet} does not exist.")))?;
    Ok(fleet)
}

fn resource_id(fleet: &str) -> String {
    format!("fleet/{fleet}")
}

fn not_supported(what: &str) -> DomainError {
    DomainError::validation(format!("{what} is not supported by Porthole yet."))
}

// ---- outputs ---------------------------------------------------------------

/// The members naming a scalable target, in every described item.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Resource {
    service_namespace: &'static str,
    resource_id: String,
    scalable_dimension: &'static str,
}

impl Resource {
    fn of(fleet: &str) -> Self {
        Self {
            service_namespace: SERVICE_NAMESPACE,
            resource_id: resource_id(fleet),
            scalable_dimension: SCALABLE_DIMENSION,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct SuspendedStateDoc {
    dynamic_scaling_in_suspended: bool,
    dynamic_scaling_out_suspended: bool,
    scheduled_scaling_suspended: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ScalableTargetDoc {
    #[serde(flatten)]
    resource: Resource,
    min_capacity: u32,
    max_capacity: u32,
    #[serde(rename = "RoleARN")]
    role_arn: String,
    creation_time: f64,
    suspended_state: SuspendedStateDoc,
    #[serde(rename = "ScalableTargetARN")]
    scalable_target_arn: String,
}

impl ScalableTargetDoc {
    fn new(cp: &ControlPlane, target: &ScalableTarget) -> Self {
        Self {
            resource: Resource::of(&target.fleet),
            min_capacity: target.min_capacity,
            max_capacity: target.max_capacity,
            role_arn: role_arn(cp),
            creation_time: target.created_time.as_secs_f64(),
            suspended_state: SuspendedStateDoc {
                dynamic_scaling_in_suspended: target.suspended.dynamic_scaling_in,
                dynamic_scaling_out_suspended: target.suspended.dynamic_scaling_out,
                scheduled_scaling_suspended: target.suspended.scheduled_scaling,
            },
            scalable_target_arn: target_arn(cp, target),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct PredefinedMetricDoc {
    predefined_metric_type: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct TargetTrackingConfigurationDoc {
    target_value: f64,
    predefined_metric_specification: PredefinedMetricDoc,
    scale_out_cooldown: u64,
    scale_in_cooldown: u64,
    disable_scale_in: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ScalingPolicyDoc {
    #[serde(flatten)]
    resource: Resource,
    #[serde(rename = "PolicyARN")]
    policy_arn: String,
    policy_name: String,
    policy_type: &'static str,
    target_tracking_scaling_policy_configuration: TargetTrackingConfigurationDoc,
    /// AWS creates CloudWatch alarms for a policy; Porthole evaluates it
    /// in its tick, so there are none.
    alarms: Vec<Value>,
    creation_time: f64,
}

impl ScalingPolicyDoc {
    fn new(cp: &ControlPlane, fleet: &str, policy: &TargetTrackingPolicy) -> Self {
        Self {
            resource: Resource::of(fleet),
            policy_arn: policy_arn(cp, fleet, policy),
            policy_name: policy.name.clone(),
            policy_type: "TargetTrackingScaling",
            target_tracking_scaling_policy_configuration: TargetTrackingConfigurationDoc {
                target_value: policy.target_utilization,
                predefined_metric_specification: PredefinedMetricDoc {
                    predefined_metric_type: PREDEFINED_METRIC,
                },
                scale_out_cooldown: policy.scale_out_cooldown_secs,
                scale_in_cooldown: policy.scale_in_cooldown_secs,
                disable_scale_in: policy.disable_scale_in,
            },
            alarms: Vec::new(),
            creation_time: policy.created_time.as_secs_f64(),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ScalingActivityDoc {
    #[serde(flatten)]
    resource: Resource,
    activity_id: String,
    description: String,
    cause: String,
    start_time: f64,
    end_time: f64,
    status_code: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct RegisterScalableTargetOutput {
    #[serde(rename = "ScalableTargetARN")]
    scalable_target_arn: String,
}

#[derive(Serialize, Default)]
#[serde(rename_all = "PascalCase")]
struct DescribeScalableTargetsOutput {
    scalable_targets: Vec<ScalableTargetDoc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct PutScalingPolicyOutput {
    #[serde(rename = "PolicyARN")]
    policy_arn: String,
    /// AWS creates CloudWatch alarms for a policy; Porthole evaluates it
    /// in its tick, so there are none.
    alarms: Vec<Value>,
}

#[derive(Serialize, Default)]
#[serde(rename_all = "PascalCase")]
struct DescribeScalingPoliciesOutput {
    scaling_policies: Vec<ScalingPolicyDoc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

#[derive(Serialize, Default)]
#[serde(rename_all = "PascalCase")]
struct DescribeScalingActivitiesOutput {
    scaling_activities: Vec<ScalingActivityDoc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

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

// ---- operations ------------------------------------------------------------

fn register_scalable_target(
    cp: &mut ControlPlane,
    input: RegisterScalableTargetInput,
    now: Timestamp,
) -> Result<RegisterScalableTargetOutput> {
    input.scope.check()?;
    let fleet = existing_fleet(cp, &input.resource_id)?;
    if input.tags.is_some() {
        return Err(not_supported("Tagging scalable targets"));
    }
    let suspended = input.suspended_state.unwrap_or_default();
    let settings = TargetSettings {
        min_capacity: input.min_capacity,
        max_capacity: input.max_capacity,
        dynamic_scaling_in_suspended: suspended.dynamic_scaling_in_suspended,
        dynamic_scaling_out_suspended: suspended.dynamic_scaling_out_suspended,
        scheduled_scaling_suspended: suspended.scheduled_scaling_suspended,
    };
    let target = cp.register_scalable_target(&fleet, settings, now)?.clone();
    Ok(RegisterScalableTargetOutput {
        scalable_target_arn: target_arn(cp, &target),
    })
}

fn describe_scalable_targets(
    cp: &ControlPlane,
    input: DescribeScalableTargetsInput,
    _now: Timestamp,
) -> Result<DescribeScalableTargetsOutput> {
    if !input.scope.is_ours() {
        return Ok(DescribeScalableTargetsOutput::default());
    }
    let items = cp
        .scalable_targets()
        .filter(|t| {
            input
                .resource_ids
                .as_ref()
                .is_none_or(|ids| ids.contains(&resource_id(&t.fleet)))
        })
        .map(|t| (t.fleet.clone(), ScalableTargetDoc::new(cp, t)));
    let page = input.paging.page(items, TARGETS_PAGE)?;
    Ok(DescribeScalableTargetsOutput {
        scalable_targets: page.items,
        next_token: page.next_token,
    })
}

fn deregister_scalable_target(
    cp: &mut ControlPlane,
    input: DeregisterScalableTargetInput,
    _now: Timestamp,
) -> Result<Empty> {
    input.scope.check()?;
    cp.deregister_scalable_target(&fleet_of(&input.resource_id)?)?;
    Ok(Empty {})
}

fn put_scaling_policy(
    cp: &mut ControlPlane,
    input: PutScalingPolicyInput,
    now: Timestamp,
) -> Result<PutScalingPolicyOutput> {
    input.scope.check()?;
    let fleet = existing_fleet(cp, &input.resource_id)?;
    // AWS's default type is StepScaling.
    let policy_type = input.policy_type.as_deref().unwrap_or("StepScaling");
    if policy_type != "TargetTrackingScaling" {
        return Err(not_supported(&format!(
            "The policy type {policy_type} (only TargetTrackingScaling is)"
        )));
    }
    let config = input
        .target_tracking_scaling_policy_configuration
        .ok_or_else(|| {
            DomainError::validation(
                "TargetTrackingScalingPolicyConfiguration is required for a TargetTrackingScaling policy.",
            )
        })?;
    if config.customized_metric_specification.is_some() {
        return Err(not_supported(&format!(
            "A customized metric (only the predefined {PREDEFINED_METRIC} is)"
        )));
    }
    let metric = config.predefined_metric_specification.ok_or_else(|| {
        DomainError::validation(format!(
            "PredefinedMetricSpecification is required: {PREDEFINED_METRIC}."
        ))
    })?;
    if metric.predefined_metric_type != PREDEFINED_METRIC {
        return Err(DomainError::validation(format!(
            "The predefined metric type {} is not valid for the \
             {SERVICE_NAMESPACE} namespace: use {PREDEFINED_METRIC}.",
            metric.predefined_metric_type
        )));
    }
    let settings = PolicySettings {
        target_utilization: config.target_value,
        scale_out_cooldown_secs: config
            .scale_out_cooldown
            .unwrap_or(DEFAULT_SCALE_OUT_COOLDOWN_SECS),
        scale_in_cooldown_secs: config
            .scale_in_cooldown
            .unwrap_or(DEFAULT_SCALE_IN_COOLDOWN_SECS),
        disable_scale_in: config.disable_scale_in.unwrap_or(false),
    };
    let policy = cp
        .put_scaling_policy(&fleet, &input.policy_name, settings, now)?
        .clone();
    Ok(PutScalingPolicyOutput {
        policy_arn: policy_arn(cp, &fleet, &policy),
        alarms: Vec::new(),
    })
}

fn describe_scaling_policies(
    cp: &ControlPlane,
    input: DescribeScalingPoliciesInput,
    _now: Timestamp,
) -> Result<DescribeScalingPoliciesOutput> {
    if !input.scope.is_ours() {
        return Ok(DescribeScalingPoliciesOutput::default());
    }
    let names = input.policy_names.as_ref();
    let resource = input.resource_id.as_deref();
    let items = cp
        .scalable_targets()
        .filter(|t| resource.is_none_or(|r| r == resource_id(&t.fleet)))
        .flat_map(|t| t.policies.values().map(move |p| (t, p)))
        .filter(|(_, p)| names.is_none_or(|n| n.contains(&p.name)))
        .map(|(t, p)| {
            (
                format!("{}/{}", t.fleet, p.name),
                ScalingPolicyDoc::new(cp, &t.fleet, p),
            )
        });
    let page = input.paging.page(items, POLICIES_PAGE)?;
    Ok(DescribeScalingPoliciesOutput {
        scaling_policies: page.items,
        next_token: page.next_token,
    })
}

fn delete_scaling_policy(
    cp: &mut ControlPlane,
    input: DeleteScalingPolicyInput,
    _now: Timestamp,
) -> Result<Empty> {
    input.scope.check()?;
    cp.delete_scaling_policy(&fleet_of(&input.resource_id)?, &input.policy_name)?;
    Ok(Empty {})
}

fn describe_scaling_activities(
    cp: &ControlPlane,
    input: DescribeScalingActivitiesInput,
    _now: Timestamp,
) -> Result<DescribeScalingActivitiesOutput> {
    if !input.scope.is_ours() {
        return Ok(DescribeScalingActivitiesOutput::default());
    }
    let resource = input.resource_id.as_deref();
    let items = cp
        .scalable_targets()
        .filter(|t| resource.is_none_or(|r| r == resource_id(&t.fleet)))
        .flat_map(|t| t.activities.iter().enumerate().map(move |(i, a)| (t, i, a)))
        .map(|(t, i, a)| {
            // Keys sort newest first, as DescribeScalingActivities lists;
            // a target's own order (newest first) breaks ties.
            let key = format!(
                "{:020}/{}/{i:06}",
                u64::MAX - a.start_time.as_millis(),
                t.fleet
            );
            let doc = ScalingActivityDoc {
                resource: Resource::of(&t.fleet),
                activity_id: a.id.clone(),
                description: a.description.clone(),
                cause: a.cause.clone(),
                start_time: a.start_time.as_secs_f64(),
                end_time: a.end_time.as_secs_f64(),
                status_code: "Successful",
            };
            (key, doc)
        });
    let page = input.paging.page(items, ACTIVITIES_PAGE)?;
    Ok(DescribeScalingActivitiesOutput {
        scaling_activities: page.items,
        next_token: page.next_token,
    })
}

//! Fleets: CreateFleet, DescribeFleets, UpdateFleet, StartFleet, StopFleet
//! and DeleteFleet.

use crate::input::{keep_passthrough, parse, present_members};
use crate::page::Page;
use crate::{document, Empty, Operation};
use porthole_control::error::Result;
use porthole_control::fleet::FleetError;
use porthole_control::{
    ControlPlane, DomainError, ErrorKind, Fleet, FleetState, FleetType, ResourceType, StreamView,
    Timestamp,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

pub(crate) const OPERATIONS: &[Operation] = &[
    op!(CreateFleet => create_fleet),
    op!(DescribeFleets => describe_fleets),
    // Which members are present decides what may change: the document too.
    Operation::new("UpdateFleet", |cp, input, now| {
        document(update_fleet(cp, parse(input)?, input, now)?)
    }),
    op!(StartFleet => start_fleet),
    op!(StopFleet => stop_fleet),
    op!(DeleteFleet => delete_fleet),
];

/// Page size of DescribeFleets, which has no size member.
const PAGE_SIZE: usize = 25;

/// Fleet members stored and echoed without effect here, by wire name.
const FLEET_PASSTHROUGH: &[&str] = &[
    "VpcConfig",
    "DomainJoinInfo",
    "IamRoleArn",
    "Platform",
    "UsbDeviceFilterStrings",
    "SessionScriptS3Location",
    "RootVolumeConfig",
    "DisableIMDSV1",
];

// ---- inputs ----------------------------------------------------------------

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ComputeCapacity {
    desired_instances: Option<u32>,
    desired_sessions: Option<u32>,
}

/// The members CreateFleet and UpdateFleet share.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct FleetMembers {
    image_name: Option<String>,
    image_arn: Option<String>,
    compute_capacity: Option<ComputeCapacity>,
    max_sessions_per_instance: Option<u32>,
    max_concurrent_sessions: Option<u32>,
    display_name: Option<String>,
    description: Option<String>,
    max_user_duration_in_seconds: Option<u64>,
    disconnect_timeout_in_seconds: Option<u64>,
    idle_disconnect_timeout_in_seconds: Option<u64>,
    enable_default_internet_access: Option<bool>,
    stream_view: Option<StreamView>,
    /// The members not read above, among them the pass-through ones.
    #[serde(flatten)]
    rest: BTreeMap<String, Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateFleetInput {
    name: String,
    instance_type: String,
    fleet_type: Option<FleetType>,
    tags: Option<BTreeMap<String, String>>,
    #[serde(flatten)]
    members: FleetMembers,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UpdateFleetInput {
    name: String,
    instance_type: Option<String>,
    attributes_to_delete: Option<Vec<String>>,
    delete_vpc_config: Option<bool>,
    #[serde(flatten)]
    members: FleetMembers,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DescribeFleetsInput {
    names: Option<Vec<String>>,
    next_token: Option<String>,
}

/// StartFleet, StopFleet and DeleteFleet.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct FleetNameInput {
    name: String,
}

// ---- outputs ---------------------------------------------------------------

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ComputeCapacityStatus {
    desired: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    running: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    in_use: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    available: Option<u32>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct FleetErrorDoc {
    error_code: &'static str,
    error_message: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct FleetDoc {
    arn: String,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    display_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    image_name: String,
    image_arn: String,
    instance_type: String,
    fleet_type: FleetType,
    compute_capacity_status: ComputeCapacityStatus,
    max_user_duration_in_seconds: u64,
    disconnect_timeout_in_seconds: u64,
    idle_disconnect_timeout_in_seconds: u64,
    state: FleetState,
    created_time: f64,
    fleet_errors: Vec<FleetErrorDoc>,
    enable_default_internet_access: bool,
    stream_view: StreamView,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_concurrent_sessions: Option<u32>,
    /// The image's, unless the fleet was given one (then in `extra`).
    #[serde(skip_serializing_if = "Option::is_none")]
    platform: Option<String>,
    #[serde(flatten)]
    extra: BTreeMap<String, Value>,
}

impl FleetDoc {
    fn new(cp: &ControlPlane, fleet: &Fleet) -> Self {
        let status = match cp.capacity(&fleet.name) {
            Ok(c) => ComputeCapacityStatus {
                desired: c.desired,
                running: Some(c.running),
                in_use: Some(c.in_use),
                available: Some(c.available),
            },
            Err(_) => ComputeCapacityStatus {
                desired: fleet.desired_instances,
                running: None,
                in_use: None,
                available: None,
            },
        };
        let platform = if fleet.extra.contains_key("Platform") {
            None
        } else {
            cp.image(&fleet.image_name).ok().map(|i| i.platform.clone())
        };
        Self {
            arn: cp.arn(ResourceType::Fleet, &fleet.name),
            name: fleet.name.clone(),
            display_name: fleet.display_name.clone(),
            description: fleet.description.clone(),
            image_name: fleet.image_name.clone(),
            image_arn: cp.arn(ResourceType::Image, &fleet.image_name),
            instance_type: fleet.instance_type.clone(),
            fleet_type: fleet.fleet_type,
            compute_capacity_status: status,
            max_user_duration_in_seconds: fleet.max_user_duration_secs,
            disconnect_timeout_in_seconds: fleet.disconnect_timeout_secs,
            idle_disconnect_timeout_in_seconds: fleet.idle_disconnect_timeout_secs,
            state: fleet.state,
            created_time: fleet.created_time.as_secs_f64(),
            fleet_errors: fleet.errors.iter().map(FleetErrorDoc::new).collect(),
            enable_default_internet_access: fleet.enable_default_internet_access,
            stream_view: fleet.stream_view,
            max_concurrent_sessions: fleet.max_concurrent_sessions,
            platform,
            extra: fleet.extra.clone(),
        }
    }
}

impl FleetErrorDoc {
    fn new(error: &FleetError) -> Self {
        Self {
            error_code: error.code.as_str(),
            error_message: error.message.clone(),
        }
    }
}

/// CreateFleet's and UpdateFleet's output.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct FleetOutput {
    fleet: FleetDoc,
}

impl FleetOutput {
    fn of(cp: &ControlPlane, name: &str) -> Result<Self> {
        Ok(Self {
            fleet: FleetDoc::new(cp, cp.fleet(name)?),
        })
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct DescribeFleetsOutput {
    fleets: Vec<FleetDoc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

// ---- operations ------------------------------------------------------------

/// ImageName or ImageArn (at most one) to an image name.
fn image_name_from(cp: &ControlPlane, members: &FleetMembers) -> Result<Option<String>> {
    match (&members.image_name, &members.image_arn) {
        (Some(_), Some(_)) => Err(DomainError::combination(
            "Specify either ImageName or ImageArn, not both.",
        )),
        (Some(name), None) => Ok(Some(name.clone())),
        (None, Some(arn)) => match cp.config().parse_arn(arn)? {
            (ResourceType::Image, name) => Ok(Some(name)),
            _ => Err(DomainError::not_found("image", arn)),
        },
        (None, None) => Ok(None),
    }
}

/// ComputeCapacity's DesiredInstances; multi-session (DesiredSessions) is not offered.
fn desired_instances(members: &FleetMembers, fleet_type: FleetType) -> Result<Option<u32>> {
    let Some(capacity) = &members.compute_capacity else {
        return Ok(None);
    };
    if fleet_type == FleetType::Elastic {
        return Err(DomainError::combination(
            "ComputeCapacity is not allowed for Elastic fleets; use MaxConcurrentSessions.",
        ));
    }
    if capacity.desired_sessions.is_some() {
        return Err(DomainError::combination(
            "DesiredSessions applies to multi-session fleets, which Porthole does not offer; use DesiredInstances.",
        ));
    }
    capacity
        .desired_instances
        .map(Some)
        .ok_or_else(|| DomainError::combination("ComputeCapacity needs DesiredInstances."))
}

fn reject_multi_session(members: &FleetMembers) -> Result<()> {
    match members.max_sessions_per_instance {
        Some(n) if n > 1 => Err(DomainError::combination(
            "Multi-session fleets (MaxSessionsPerInstance > 1) are not supported.",
        )),
        _ => Ok(()),
    }
}

/// The members CreateFleet and UpdateFleet share that need no checks of
/// their own here, applied when present.
fn apply_common_members(fleet: &mut Fleet, members: &FleetMembers) {
    if let Some(v) = &members.display_name {
        fleet.display_name = Some(v.clone());
    }
    if let Some(v) = &members.description {
        fleet.description = Some(v.clone());
    }
    if let Some(v) = members.max_user_duration_in_seconds {
        fleet.max_user_duration_secs = v;
    }
    if let Some(v) = members.disconnect_timeout_in_seconds {
        fleet.disconnect_timeout_secs = v;
    }
    if let Some(v) = members.idle_disconnect_timeout_in_seconds {
        fleet.idle_disconnect_timeout_secs = v;
    }
    if let Some(v) = members.enable_default_internet_access {
        fleet.enable_default_internet_access = v;
    }
    if let Some(v) = members.stream_view {
        fleet.stream_view = v;
    }
    keep_passthrough(&members.rest, FLEET_PASSTHROUGH, &mut fleet.extra);
}

fn create_fleet(
    cp: &mut ControlPlane,
    input: CreateFleetInput,
    now: Timestamp,
) -> Result<FleetOutput> {
    let members = &input.members;
    let image = image_name_from(cp, members)?
        .ok_or_else(|| DomainError::combination("ImageName or ImageArn is required."))?;
    // AppStream's default fleet type.
    let fleet_type = input.fleet_type.unwrap_or(FleetType::OnDemand);
    let mut fleet = Fleet::new(&input.name, &image, &input.instance_type, fleet_type, now);
    match desired_instances(members, fleet_type)? {
        Some(n) => fleet.desired_instances = n,
        None if fleet_type != FleetType::Elastic => {
            return Err(DomainError::combination(
                "ComputeCapacity is required for Always-On and On-Demand fleets.",
            ))
        }
        None => {}
    }
    reject_multi_session(members)?;
    fleet.max_concurrent_sessions = members.max_concurrent_sessions;
    apply_common_members(&mut fleet, members);
    fleet.tags = input.tags.unwrap_or_default();
    cp.create_fleet(fleet)?;
    FleetOutput::of(cp, &input.name)
}

fn describe_fleets(
    cp: &ControlPlane,
    input: DescribeFleetsInput,
    _now: Timestamp,
) -> Result<DescribeFleetsOutput> {
    let page = match input.names {
        Some(names) => Page::named(&names, |n| cp.fleet(n).map(|f| FleetDoc::new(cp, f)))?,
        None => Page::appstream(
            cp.fleets().map(|f| (f.name.clone(), FleetDoc::new(cp, f))),
            input.next_token.as_deref(),
            PAGE_SIZE,
        )?,
    };
    Ok(DescribeFleetsOutput {
        fleets: page.items,
        next_token: page.next_token,
    })
}

/// UpdateFleet's deletable attributes and the member each clears.
fn fleet_attribute_member(attribute: &str) -> Result<&'static str> {
    Ok(match attribute {
        "VPC_CONFIGURATION" | "VPC_CONFIGURATION_SECURITY_GROUP_IDS" => "VpcConfig",
        "DOMAIN_JOIN_INFO" => "DomainJoinInfo",
        "IAM_ROLE_ARN" => "IamRoleArn",
        "USB_DEVICE_FILTER_STRINGS" => "UsbDeviceFilterStrings",
        "SESSION_SCRIPT_S3_LOCATION" => "SessionScriptS3Location",
        "MAX_SESSIONS_PER_INSTANCE" => "MaxSessionsPerInstance",
        "VOLUME_CONFIGURATION" => "RootVolumeConfig",
        other => {
            return Err(DomainError::validation(format!(
                "Unknown fleet attribute {other}."
            )))
        }
    })
}

/// The members UpdateFleet may change while the fleet is RUNNING (the model's
/// documented rule); a STOPPED fleet takes any.
fn updatable_while_running(fleet_type: FleetType) -> &'static [&'static str] {
    match fleet_type {
        FleetType::AlwaysOn | FleetType::OnDemand => &[
            "DisplayName",
            "ComputeCapacity",
            "ImageArn",
            "ImageName",
            "IdleDisconnectTimeoutInSeconds",
            "DisconnectTimeoutInSeconds",
        ],
        FleetType::Elastic => &[
            "DisplayName",
            "IdleDisconnectTimeoutInSeconds",
            "DisconnectTimeoutInSeconds",
            "MaxConcurrentSessions",
            "SessionScriptS3Location",
            "UsbDeviceFilterStrings",
        ],
    }
}

/// `document` is the input as given: its members (and the attributes to
/// delete) are what the fleet's state must allow to change.
fn update_fleet(
    cp: &mut ControlPlane,
    input: UpdateFleetInput,
    document: &Value,
    now: Timestamp,
) -> Result<FleetOutput> {
    let name = input.name.as_str();
    let current = cp.fleet(name)?;
    let mut deleted_members = input
        .attributes_to_delete
        .iter()
        .flatten()
        .map(|a| fleet_attribute_member(a))
        .collect::<Result<Vec<_>>>()?;
    if input.delete_vpc_config == Some(true) {
        deleted_members.push("VpcConfig");
    }
    let changed: Vec<&str> = present_members(document)
        .filter(|m| !matches!(*m, "Name" | "AttributesToDelete" | "DeleteVpcConfig"))
        .chain(deleted_members.iter().copied())
        .collect();
    match current.state {
        FleetState::Stopped => {}
        FleetState::Running => {
            let allowed = updatable_while_running(current.fleet_type);
            if let Some(bad) = changed.iter().find(|m| !allowed.contains(m)) {
                return Err(DomainError::not_permitted(format!(
                    "{bad} cannot be changed while the fleet {name} is RUNNING; stop it first."
                )));
            }
        }
        FleetState::Starting | FleetState::Stopping if !changed.is_empty() => {
            return Err(DomainError::new(
                ErrorKind::ConcurrentModification,
                format!(
                    "The fleet {name} is {}; update it once it is RUNNING or STOPPED.",
                    current.state.as_str()
                ),
            ))
        }
        FleetState::Starting | FleetState::Stopping => {}
    }
    let members = &input.members;
    let image = image_name_from(cp, members)?;
    let desired = desired_instances(members, current.fleet_type)?;
    reject_multi_session(members)?;
    cp.update_fleet(name, now, |fleet| {
        for m in &deleted_members {
            fleet.extra.remove(*m);
        }
        if let Some(image) = image {
            fleet.image_name = image;
        }
        if let Some(n) = desired {
            fleet.desired_instances = n;
        }
        if let Some(t) = &input.instance_type {
            fleet.instance_type = t.clone();
        }
        if members.max_concurrent_sessions.is_some() {
            fleet.max_concurrent_sessions = members.max_concurrent_sessions;
        }
        apply_common_members(fleet, members);
        Ok(())
    })?;
    FleetOutput::of(cp, name)
}

fn start_fleet(cp: &mut ControlPlane, input: FleetNameInput, now: Timestamp) -> Result<Empty> {
    cp.start_fleet(&input.name, now)?;
    Ok(Empty {})
}

fn stop_fleet(cp: &mut ControlPlane, input: FleetNameInput, now: Timestamp) -> Result<Empty> {
    cp.stop_fleet(&input.name, now)?;
    Ok(Empty {})
}

fn delete_fleet(cp: &mut ControlPlane, input: FleetNameInput, _now: Timestamp) -> Result<Empty> {
    cp.delete_fleet(&input.name)?;
    Ok(Empty {})
}

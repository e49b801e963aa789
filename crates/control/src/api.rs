//! AppStream operations on JSON documents shaped like the model's inputs and
//! outputs (PascalCase members, timestamps as epoch seconds). The wire layer
//! has already checked the model's types, lengths and patterns; this module
//! enforces the semantic rules and maps them to the domain.

use crate::arn::ResourceType;
use crate::error::{DomainError, ErrorKind, Result};
use crate::fleet::{Fleet, FleetState, FleetType, StreamView};
use crate::image::{Image, Visibility};
use crate::plane::ControlPlane;
use crate::session::{AuthenticationType, EndReason, Session, StreamingGrant};
use crate::stack::{ApplicationSettings, Stack, StorageConnector, UserSetting};
use crate::time::Timestamp;
use serde::de::DeserializeOwned;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// The operations [`call`] implements; others deserve a "not supported yet".
pub const OPERATIONS: &[&str] = &[
    "CreateFleet",
    "DescribeFleets",
    "UpdateFleet",
    "StartFleet",
    "StopFleet",
    "DeleteFleet",
    "CreateStack",
    "DescribeStacks",
    "UpdateStack",
    "DeleteStack",
    "AssociateFleet",
    "DisassociateFleet",
    "ListAssociatedStacks",
    "ListAssociatedFleets",
    "DescribeImages",
    "CreateStreamingURL",
    "DescribeSessions",
    "ExpireSession",
    "TagResource",
    "UntagResource",
    "ListTagsForResource",
];

/// Page size of the list operations without a size member.
pub const PAGE_SIZE: usize = 25;
const SESSIONS_DEFAULT_LIMIT: u64 = 20;
const SESSIONS_MAX_LIMIT: u64 = 50;
const IMAGES_MAX_RESULTS: u64 = 25;

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

/// Stack members stored and echoed without effect here, by wire name.
const STACK_PASSTHROUGH: &[&str] = &[
    "AccessEndpoints",
    "StreamingExperienceSettings",
    "ContentRedirection",
    "WebAuthnRedirection",
    "AgentAccessConfig",
    "StorageConnectorAuthentication",
];

pub enum Outcome {
    /// The operation's output document.
    Done(Value),
    /// CreateStreamingURL: the server signs the grant into a URL and answers
    /// with [`streaming_url_output`].
    StreamingUrl(StreamingGrant),
}

/// CreateStreamingURL's output once the server has made the URL.
pub fn streaming_url_output(url: &str, grant: &StreamingGrant) -> Value {
    json!({ "StreamingURL": url, "Expires": grant.expires.as_secs_f64() })
}

/// Runs one operation. Effects it causes stay in the plane's outbox: drain
/// them with [`ControlPlane::take_effects`] afterwards.
pub fn call(
    cp: &mut ControlPlane,
    operation: &str,
    input: &Value,
    now: Timestamp,
) -> Result<Outcome> {
    let out = match operation {
        "CreateFleet" => create_fleet(cp, input, now)?,
        "DescribeFleets" => describe_fleets(cp, input)?,
        "UpdateFleet" => update_fleet(cp, input, now)?,
        "StartFleet" => {
            cp.start_fleet(req_str(input, "Name")?, now)?;
            json!({})
        }
        "StopFleet" => {
            cp.stop_fleet(req_str(input, "Name")?, now)?;
            json!({})
        }
        "DeleteFleet" => {
            cp.delete_fleet(req_str(input, "Name")?)?;
            json!({})
        }
        "CreateStack" => create_stack(cp, input, now)?,
        "DescribeStacks" => describe_stacks(cp, input)?,
        "UpdateStack" => update_stack(cp, input)?,
        "DeleteStack" => {
            cp.delete_stack(req_str(input, "Name")?)?;
            json!({})
        }
        "AssociateFleet" => {
            cp.associate_fleet(req_str(input, "FleetName")?, req_str(input, "StackName")?)?;
            json!({})
        }
        "DisassociateFleet" => {
            cp.disassociate_fleet(req_str(input, "FleetName")?, req_str(input, "StackName")?)?;
            json!({})
        }
        "ListAssociatedStacks" => {
            let names = cp.associated_stacks(req_str(input, "FleetName")?);
            names_page(names, input)?
        }
        "ListAssociatedFleets" => {
            let stack = req_str(input, "StackName")?;
            let names = cp
                .stacks
                .get(stack)
                .and_then(|s| s.fleet.clone())
                .into_iter()
                .collect();
            names_page(names, input)?
        }
        "DescribeImages" => describe_images(cp, input)?,
        "CreateStreamingURL" => {
            return cp
                .create_streaming_url(
                    req_str(input, "StackName")?,
                    req_str(input, "FleetName")?,
                    req_str(input, "UserId")?,
                    opt_str(input, "ApplicationId")?,
                    opt_u64(input, "Validity")?,
                    opt_str(input, "SessionContext")?,
                    now,
                )
                .map(Outcome::StreamingUrl)
        }
        "DescribeSessions" => describe_sessions(cp, input)?,
        "ExpireSession" => {
            cp.end_session_keep_effects(req_str(input, "SessionId")?, EndReason::Expired, now)?;
            json!({})
        }
        "TagResource" => {
            let tags: BTreeMap<String, String> = req_member(input, "Tags")?;
            cp.tag_resource(req_str(input, "ResourceArn")?, tags)?;
            json!({})
        }
        "UntagResource" => {
            let keys: Vec<String> = req_member(input, "TagKeys")?;
            cp.untag_resource(req_str(input, "ResourceArn")?, &keys)?;
            json!({})
        }
        "ListTagsForResource" => json!({ "Tags": cp.tags(req_str(input, "ResourceArn")?)? }),
        other => {
            return Err(DomainError::not_permitted(format!(
                "The operation {other} is not supported by Porthole yet."
            )))
        }
    };
    Ok(Outcome::Done(out))
}

// ---- input helpers ---------------------------------------------------------

pub(crate) fn member<'a>(input: &'a Value, name: &str) -> Option<&'a Value> {
    input.get(name).filter(|v| !v.is_null())
}

pub(crate) fn opt_member<T: DeserializeOwned>(input: &Value, name: &str) -> Result<Option<T>> {
    member(input, name)
        .map(|v| {
            serde_json::from_value(v.clone())
                .map_err(|e| DomainError::validation(format!("{name} is invalid: {e}")))
        })
        .transpose()
}

pub(crate) fn req_member<T: DeserializeOwned>(input: &Value, name: &str) -> Result<T> {
    opt_member(input, name)?.ok_or_else(|| DomainError::validation(format!("{name} is required.")))
}

pub(crate) fn opt_str<'a>(input: &'a Value, name: &str) -> Result<Option<&'a str>> {
    member(input, name)
        .map(|v| {
            v.as_str()
                .ok_or_else(|| DomainError::validation(format!("{name} must be a string.")))
        })
        .transpose()
}

pub(crate) fn req_str<'a>(input: &'a Value, name: &str) -> Result<&'a str> {
    opt_str(input, name)?.ok_or_else(|| DomainError::validation(format!("{name} is required.")))
}

pub(crate) fn opt_u64(input: &Value, name: &str) -> Result<Option<u64>> {
    opt_member(input, name)
}

pub(crate) fn opt_u32(input: &Value, name: &str) -> Result<Option<u32>> {
    opt_member(input, name)
}

fn parse_enum<T>(
    input: &Value,
    name: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<Option<T>> {
    opt_str(input, name)?
        .map(|s| {
            parse(s).ok_or_else(|| DomainError::validation(format!("{name} {s} is not valid.")))
        })
        .transpose()
}

/// Copies the pass-through members present in `input` into `extra`.
fn copy_passthrough(input: &Value, names: &[&str], extra: &mut BTreeMap<String, Value>) {
    for name in names {
        if let Some(v) = member(input, name) {
            extra.insert((*name).to_owned(), v.clone());
        }
    }
}

fn set_opt(obj: &mut Map<String, Value>, name: &str, value: Option<impl Into<Value>>) {
    if let Some(v) = value {
        obj.insert(name.to_owned(), v.into());
    }
}

// ---- pagination ------------------------------------------------------------

/// Tokens are the hex of the last key returned: opaque to clients, stable
/// across restarts, and still valid if that item disappears meanwhile.
fn encode_token(key: &str) -> String {
    key.bytes().map(|b| format!("{b:02x}")).collect()
}

fn decode_token(token: &str) -> Result<String> {
    let invalid = || DomainError::validation("The NextToken is invalid.");
    if token.len() % 2 != 0 {
        return Err(invalid());
    }
    let bytes = (0..token.len())
        .step_by(2)
        .map(|i| {
            u8::from_str_radix(token.get(i..i + 2).ok_or_else(invalid)?, 16).map_err(|_| invalid())
        })
        .collect::<Result<Vec<u8>>>()?;
    String::from_utf8(bytes).map_err(|_| invalid())
}

/// One page of `items` (sorted by key) after the input's NextToken.
pub(crate) fn paginate<T>(
    mut items: Vec<(String, T)>,
    input: &Value,
    limit: usize,
) -> Result<(Vec<T>, Option<String>)> {
    items.sort_by(|a, b| a.0.cmp(&b.0));
    let after = opt_str(input, "NextToken")?.map(decode_token).transpose()?;
    let mut rest: Vec<(String, T)> = items
        .into_iter()
        .filter(|(k, _)| after.as_ref().is_none_or(|a| k > a))
        .collect();
    let more = rest.len() > limit;
    rest.truncate(limit);
    let token = if more {
        rest.last().map(|(k, _)| encode_token(k))
    } else {
        None
    };
    Ok((rest.into_iter().map(|(_, v)| v).collect(), token))
}

pub(crate) fn with_token(mut out: Value, token: Option<String>) -> Value {
    if let (Some(t), Some(obj)) = (token, out.as_object_mut()) {
        obj.insert("NextToken".into(), Value::String(t));
    }
    out
}

fn names_page(names: Vec<String>, input: &Value) -> Result<Value> {
    let (names, token) = paginate(
        names.into_iter().map(|n| (n.clone(), n)).collect(),
        input,
        PAGE_SIZE,
    )?;
    Ok(with_token(json!({ "Names": names }), token))
}

// ---- fleets ----------------------------------------------------------------

/// ImageName or ImageArn (exactly one) to an image name.
fn image_name_from(cp: &ControlPlane, input: &Value) -> Result<Option<String>> {
    match (opt_str(input, "ImageName")?, opt_str(input, "ImageArn")?) {
        (Some(_), Some(_)) => Err(DomainError::combination(
            "Specify either ImageName or ImageArn, not both.",
        )),
        (Some(name), None) => Ok(Some(name.to_owned())),
        (None, Some(arn)) => match cp.config.parse_arn(arn)? {
            (ResourceType::Image, name) => Ok(Some(name)),
            _ => Err(DomainError::not_found("image", arn)),
        },
        (None, None) => Ok(None),
    }
}

/// ComputeCapacity's DesiredInstances; multi-session (DesiredSessions) is not offered.
fn desired_instances(input: &Value, fleet_type: FleetType) -> Result<Option<u32>> {
    let Some(capacity) = member(input, "ComputeCapacity") else {
        return Ok(None);
    };
    if fleet_type == FleetType::Elastic {
        return Err(DomainError::combination(
            "ComputeCapacity is not allowed for Elastic fleets; use MaxConcurrentSessions.",
        ));
    }
    if member(capacity, "DesiredSessions").is_some() {
        return Err(DomainError::combination(
            "DesiredSessions applies to multi-session fleets, which Porthole does not offer; use DesiredInstances.",
        ));
    }
    opt_u32(capacity, "DesiredInstances")?
        .map(Some)
        .ok_or_else(|| DomainError::combination("ComputeCapacity needs DesiredInstances."))
}

fn reject_multi_session(input: &Value) -> Result<()> {
    match opt_u32(input, "MaxSessionsPerInstance")? {
        Some(n) if n > 1 => Err(DomainError::combination(
            "Multi-session fleets (MaxSessionsPerInstance > 1) are not supported.",
        )),
        _ => Ok(()),
    }
}

fn create_fleet(cp: &mut ControlPlane, input: &Value, now: Timestamp) -> Result<Value> {
    let name = req_str(input, "Name")?;
    let instance_type = req_str(input, "InstanceType")?;
    let image = image_name_from(cp, input)?
        .ok_or_else(|| DomainError::combination("ImageName or ImageArn is required."))?;
    // AppStream's default fleet type.
    let fleet_type =
        parse_enum(input, "FleetType", FleetType::parse)?.unwrap_or(FleetType::OnDemand);
    let mut fleet = Fleet::new(name, &image, instance_type, fleet_type, now);
    match desired_instances(input, fleet_type)? {
        Some(n) => fleet.desired_instances = n,
        None if fleet_type != FleetType::Elastic => {
            return Err(DomainError::combination(
                "ComputeCapacity is required for Always-On and On-Demand fleets.",
            ))
        }
        None => {}
    }
    reject_multi_session(input)?;
    fleet.max_concurrent_sessions = opt_u32(input, "MaxConcurrentSessions")?;
    apply_common_fleet_members(&mut fleet, input)?;
    fleet.tags = opt_member(input, "Tags")?.unwrap_or_default();
    cp.create_fleet(fleet)?;
    Ok(json!({ "Fleet": fleet_json(cp, cp.fleet(name)?) }))
}

/// Members CreateFleet and UpdateFleet share, applied when present.
fn apply_common_fleet_members(fleet: &mut Fleet, input: &Value) -> Result<()> {
    if let Some(v) = opt_str(input, "DisplayName")? {
        fleet.display_name = Some(v.to_owned());
    }
    if let Some(v) = opt_str(input, "Description")? {
        fleet.description = Some(v.to_owned());
    }
    if let Some(v) = opt_u64(input, "MaxUserDurationInSeconds")? {
        fleet.max_user_duration_secs = v;
    }
    if let Some(v) = opt_u64(input, "DisconnectTimeoutInSeconds")? {
        fleet.disconnect_timeout_secs = v;
    }
    if let Some(v) = opt_u64(input, "IdleDisconnectTimeoutInSeconds")? {
        fleet.idle_disconnect_timeout_secs = v;
    }
    if let Some(v) = opt_member(input, "EnableDefaultInternetAccess")? {
        fleet.enable_default_internet_access = v;
    }
    if let Some(v) = parse_enum(input, "StreamView", StreamView::parse)? {
        fleet.stream_view = v;
    }
    copy_passthrough(input, FLEET_PASSTHROUGH, &mut fleet.extra);
    Ok(())
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

fn update_fleet(cp: &mut ControlPlane, input: &Value, now: Timestamp) -> Result<Value> {
    let name = req_str(input, "Name")?;
    let current = cp.fleet(name)?;
    let deleted: Vec<String> = opt_member(input, "AttributesToDelete")?.unwrap_or_default();
    let mut deleted_members = deleted
        .iter()
        .map(|a| fleet_attribute_member(a))
        .collect::<Result<Vec<_>>>()?;
    if opt_member::<bool>(input, "DeleteVpcConfig")? == Some(true) {
        deleted_members.push("VpcConfig");
    }
    let changed: Vec<&str> = input
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, v)| {
            !v.is_null()
                && !matches!(
                    k.as_str(),
                    "Name" | "AttributesToDelete" | "DeleteVpcConfig"
                )
        })
        .map(|(k, _)| k.as_str())
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
    let fleet_type = current.fleet_type;
    let image = image_name_from(cp, input)?;
    let desired = desired_instances(input, fleet_type)?;
    reject_multi_session(input)?;
    let instance_type = opt_str(input, "InstanceType")?;
    let max_concurrent = opt_u32(input, "MaxConcurrentSessions")?;
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
        if let Some(t) = instance_type {
            fleet.instance_type = t.to_owned();
        }
        if max_concurrent.is_some() {
            fleet.max_concurrent_sessions = max_concurrent;
        }
        apply_common_fleet_members(fleet, input)
    })?;
    Ok(json!({ "Fleet": fleet_json(cp, cp.fleet(name)?) }))
}

pub fn fleet_json(cp: &ControlPlane, fleet: &Fleet) -> Value {
    let cap = cp.capacity(&fleet.name).ok();
    let mut obj = Map::new();
    obj.insert(
        "Arn".into(),
        cp.arn(ResourceType::Fleet, &fleet.name).into(),
    );
    obj.insert("Name".into(), fleet.name.clone().into());
    set_opt(&mut obj, "DisplayName", fleet.display_name.clone());
    set_opt(&mut obj, "Description", fleet.description.clone());
    obj.insert("ImageName".into(), fleet.image_name.clone().into());
    obj.insert(
        "ImageArn".into(),
        cp.arn(ResourceType::Image, &fleet.image_name).into(),
    );
    obj.insert("InstanceType".into(), fleet.instance_type.clone().into());
    obj.insert("FleetType".into(), fleet.fleet_type.as_str().into());
    obj.insert(
        "ComputeCapacityStatus".into(),
        cap.map_or_else(
            || json!({ "Desired": fleet.desired_instances }),
            |c| json!({ "Desired": c.desired, "Running": c.running, "InUse": c.in_use, "Available": c.available }),
        ),
    );
    obj.insert(
        "MaxUserDurationInSeconds".into(),
        fleet.max_user_duration_secs.into(),
    );
    obj.insert(
        "DisconnectTimeoutInSeconds".into(),
        fleet.disconnect_timeout_secs.into(),
    );
    obj.insert(
        "IdleDisconnectTimeoutInSeconds".into(),
        fleet.idle_disconnect_timeout_secs.into(),
    );
    obj.insert("State".into(), fleet.state.as_str().into());
    obj.insert(
        "CreatedTime".into(),
        fleet.created_time.as_secs_f64().into(),
    );
    obj.insert(
        "FleetErrors".into(),
        fleet
            .errors
            .iter()
            .map(|e| json!({ "ErrorCode": e.code.as_str(), "ErrorMessage": e.message }))
            .collect(),
    );
    obj.insert(
        "EnableDefaultInternetAccess".into(),
        fleet.enable_default_internet_access.into(),
    );
    obj.insert("StreamView".into(), fleet.stream_view.as_str().into());
    set_opt(
        &mut obj,
        "MaxConcurrentSessions",
        fleet.max_concurrent_sessions,
    );
    if !fleet.extra.contains_key("Platform") {
        if let Ok(image) = cp.image(&fleet.image_name) {
            obj.insert("Platform".into(), image.platform.clone().into());
        }
    }
    obj.extend(fleet.extra.clone());
    Value::Object(obj)
}

fn describe_fleets(cp: &ControlPlane, input: &Value) -> Result<Value> {
    if let Some(names) = opt_member::<Vec<String>>(input, "Names")? {
        let fleets = names
            .iter()
            .map(|n| cp.fleet(n).map(|f| fleet_json(cp, f)))
            .collect::<Result<Vec<_>>>()?;
        return Ok(json!({ "Fleets": fleets }));
    }
    let items = cp
        .fleets()
        .map(|f| (f.name.clone(), fleet_json(cp, f)))
        .collect();
    let (fleets, token) = paginate(items, input, PAGE_SIZE)?;
    Ok(with_token(json!({ "Fleets": fleets }), token))
}

// ---- stacks ----------------------------------------------------------------

fn apply_stack_members(stack: &mut Stack, input: &Value) -> Result<()> {
    if let Some(v) = opt_str(input, "DisplayName")? {
        stack.display_name = Some(v.to_owned());
    }
    if let Some(v) = opt_str(input, "Description")? {
        stack.description = Some(v.to_owned());
    }
    if let Some(v) = opt_member::<Vec<StorageConnector>>(input, "StorageConnectors")? {
        stack.storage_connectors = v;
    }
    if let Some(v) = opt_member::<Vec<UserSetting>>(input, "UserSettings")? {
        stack.merge_user_settings(v)?;
    }
    if let Some(v) = opt_member::<ApplicationSettings>(input, "ApplicationSettings")? {
        stack.application_settings = Some(v);
    }
    if let Some(v) = opt_member::<Vec<String>>(input, "EmbedHostDomains")? {
        stack.embed_host_domains = v;
    }
    if let Some(v) = opt_str(input, "RedirectURL")? {
        stack.redirect_url = Some(v.to_owned());
    }
    if let Some(v) = opt_str(input, "FeedbackURL")? {
        stack.feedback_url = Some(v.to_owned());
    }
    copy_passthrough(input, STACK_PASSTHROUGH, &mut stack.extra);
    Ok(())
}

fn create_stack(cp: &mut ControlPlane, input: &Value, now: Timestamp) -> Result<Value> {
    let name = req_str(input, "Name")?;
    let mut stack = Stack::new(name, now);
    apply_stack_members(&mut stack, input)?;
    stack.tags = opt_member(input, "Tags")?.unwrap_or_default();
    cp.create_stack(stack)?;
    Ok(json!({ "Stack": stack_json(cp, cp.stack(name)?) }))
}

fn delete_stack_attribute(stack: &mut Stack, attribute: &str) -> Result<()> {
    let connector = |stack: &mut Stack, kind: &str| {
        stack
            .storage_connectors
            .retain(|c| c.connector_type != kind)
    };
    match attribute {
        "STORAGE_CONNECTORS" => stack.storage_connectors.clear(),
        "STORAGE_CONNECTOR_HOMEFOLDERS" => connector(stack, "HOMEFOLDERS"),
        "STORAGE_CONNECTOR_GOOGLE_DRIVE" => connector(stack, "GOOGLE_DRIVE"),
        "STORAGE_CONNECTOR_ONE_DRIVE" => connector(stack, "ONE_DRIVE"),
        "REDIRECT_URL" => stack.redirect_url = None,
        "FEEDBACK_URL" => stack.feedback_url = None,
        "USER_SETTINGS" => stack.user_settings.clear(),
        "EMBED_HOST_DOMAINS" => stack.embed_host_domains.clear(),
        // Themes and IAM roles are not modelled here: nothing to delete.
        "THEME_NAME" | "IAM_ROLE_ARN" => {}
        "ACCESS_ENDPOINTS" => drop(stack.extra.remove("AccessEndpoints")),
        "STREAMING_EXPERIENCE_SETTINGS" => drop(stack.extra.remove("StreamingExperienceSettings")),
        "CONTENT_REDIRECTION" => drop(stack.extra.remove("ContentRedirection")),
        "WEB_AUTHN_REDIRECTION" => drop(stack.extra.remove("WebAuthnRedirection")),
        "AGENT_ACCESS_CONFIG" => drop(stack.extra.remove("AgentAccessConfig")),
        "STORAGE_CONNECTOR_AUTHENTICATION" => {
            drop(stack.extra.remove("StorageConnectorAuthentication"))
        }
        "AGENT_ACCESS_CONFIG_KMS_KEY_ARN" => {
            if let Some(Value::Object(config)) = stack.extra.get_mut("AgentAccessConfig") {
                config.remove("KmsKeyArn");
            }
        }
        other => {
            return Err(DomainError::validation(format!(
                "Unknown stack attribute {other}."
            )))
        }
    }
    Ok(())
}

fn update_stack(cp: &mut ControlPlane, input: &Value) -> Result<Value> {
    let name = req_str(input, "Name")?;
    let deleted: Vec<String> = opt_member(input, "AttributesToDelete")?.unwrap_or_default();
    let drop_connectors = opt_member::<bool>(input, "DeleteStorageConnectors")? == Some(true);
    cp.update_stack(name, |stack| {
        if drop_connectors {
            stack.storage_connectors.clear();
        }
        for attribute in &deleted {
            delete_stack_attribute(stack, attribute)?;
        }
        apply_stack_members(stack, input)
    })?;
    Ok(json!({ "Stack": stack_json(cp, cp.stack(name)?) }))
}

pub fn stack_json(cp: &ControlPlane, stack: &Stack) -> Value {
    let mut obj = Map::new();
    obj.insert(
        "Arn".into(),
        cp.arn(ResourceType::Stack, &stack.name).into(),
    );
    obj.insert("Name".into(), stack.name.clone().into());
    set_opt(&mut obj, "DisplayName", stack.display_name.clone());
    set_opt(&mut obj, "Description", stack.description.clone());
    obj.insert(
        "CreatedTime".into(),
        stack.created_time.as_secs_f64().into(),
    );
    obj.insert("StorageConnectors".into(), json!(stack.storage_connectors));
    set_opt(&mut obj, "RedirectURL", stack.redirect_url.clone());
    set_opt(&mut obj, "FeedbackURL", stack.feedback_url.clone());
    obj.insert("StackErrors".into(), json!([]));
    obj.insert(
        "UserSettings".into(),
        json!(stack.effective_user_settings()),
    );
    obj.insert(
        "ApplicationSettings".into(),
        stack
            .application_settings
            .as_ref()
            .map_or_else(|| json!({ "Enabled": false }), |a| json!(a)),
    );
    if !stack.embed_host_domains.is_empty() {
        obj.insert("EmbedHostDomains".into(), json!(stack.embed_host_domains));
    }
    obj.extend(stack.extra.clone());
    Value::Object(obj)
}

fn describe_stacks(cp: &ControlPlane, input: &Value) -> Result<Value> {
    if let Some(names) = opt_member::<Vec<String>>(input, "Names")? {
        let stacks = names
            .iter()
            .map(|n| cp.stack(n).map(|s| stack_json(cp, s)))
            .collect::<Result<Vec<_>>>()?;
        return Ok(json!({ "Stacks": stacks }));
    }
    let items = cp
        .stacks()
        .map(|s| (s.name.clone(), stack_json(cp, s)))
        .collect();
    let (stacks, token) = paginate(items, input, PAGE_SIZE)?;
    Ok(with_token(json!({ "Stacks": stacks }), token))
}

// ---- images ----------------------------------------------------------------

pub fn image_json(cp: &ControlPlane, image: &Image) -> Value {
    let applications: Vec<Value> = image
        .applications
        .iter()
        .map(|a| {
            let mut obj = Map::new();
            obj.insert("Name".into(), a.name.clone().into());
            obj.insert("DisplayName".into(), a.display_name.clone().into());
            set_opt(&mut obj, "IconURL", a.icon_url.clone());
            obj.insert("LaunchPath".into(), a.launch_path.clone().into());
            set_opt(&mut obj, "LaunchParameters", a.launch_parameters.clone());
            set_opt(&mut obj, "WorkingDirectory", a.working_directory.clone());
            obj.insert("Enabled".into(), a.enabled.into());
            obj.insert("Metadata".into(), json!({}));
            Value::Object(obj)
        })
        .collect();
    json!({
        "Name": image.name,
        "Arn": cp.arn(ResourceType::Image, &image.name),
        "DisplayName": image.display_name,
        "Description": image.description,
        "State": image.state.as_str(),
        "Visibility": image.visibility.as_str(),
        "ImageBuilderSupported": false,
        "Platform": image.platform,
        "CreatedTime": image.created_time.as_secs_f64(),
        "Applications": applications,
    })
}

fn describe_images(cp: &ControlPlane, input: &Value) -> Result<Value> {
    let names = opt_member::<Vec<String>>(input, "Names")?;
    let arns = opt_member::<Vec<String>>(input, "Arns")?;
    let visibility = parse_enum(input, "Type", Visibility::parse)?;
    let selected: Vec<&Image> = match (names, arns) {
        (Some(_), Some(_)) => {
            return Err(DomainError::combination(
                "Specify either Names or Arns, not both.",
            ))
        }
        (Some(names), None) => names.iter().map(|n| cp.image(n)).collect::<Result<_>>()?,
        (None, Some(arns)) => arns
            .iter()
            .map(|arn| match cp.config.parse_arn(arn)? {
                (ResourceType::Image, name) => cp.image(&name),
                _ => Err(DomainError::not_found("image", arn)),
            })
            .collect::<Result<_>>()?,
        (None, None) => cp.images().collect(),
    };
    let limit = match opt_u64(input, "MaxResults")? {
        None | Some(0) => IMAGES_MAX_RESULTS,
        Some(n) => n.min(IMAGES_MAX_RESULTS),
    };
    let items = selected
        .into_iter()
        .filter(|i| visibility.is_none_or(|v| i.visibility == v))
        .map(|i| (i.name.clone(), image_json(cp, i)))
        .collect();
    let (images, token) = paginate(items, input, limit as usize)?;
    Ok(with_token(json!({ "Images": images }), token))
}

// ---- sessions --------------------------------------------------------------

pub fn session_json(session: &Session) -> Value {
    let mut obj = Map::new();
    obj.insert("Id".into(), session.id.clone().into());
    obj.insert("UserId".into(), session.user_id.clone().into());
    obj.insert("StackName".into(), session.stack.clone().into());
    obj.insert("FleetName".into(), session.fleet.clone().into());
    obj.insert("State".into(), session.state.as_str().into());
    obj.insert(
        "ConnectionState".into(),
        session.connection_state.as_str().into(),
    );
    obj.insert("StartTime".into(), session.start_time.as_secs_f64().into());
    obj.insert(
        "MaxExpirationTime".into(),
        session.max_expiration_time.as_secs_f64().into(),
    );
    obj.insert(
        "AuthenticationType".into(),
        session.authentication_type.as_str().into(),
    );
    set_opt(&mut obj, "InstanceId", session.instance_id.clone());
    Value::Object(obj)
}

/// Live (PENDING/ACTIVE) sessions only, as AppStream lists them; ended ones
/// stay readable through [`ControlPlane::session`].
fn describe_sessions(cp: &ControlPlane, input: &Value) -> Result<Value> {
    let stack = req_str(input, "StackName")?;
    let fleet = req_str(input, "FleetName")?;
    let user = opt_str(input, "UserId")?;
    let instance = opt_str(input, "InstanceId")?;
    // The model: without AuthenticationType, streaming-URL (API) users.
    let auth = parse_enum(input, "AuthenticationType", AuthenticationType::parse)?
        .unwrap_or(AuthenticationType::Api);
    let limit = opt_u64(input, "Limit")?.unwrap_or(SESSIONS_DEFAULT_LIMIT);
    if !(1..=SESSIONS_MAX_LIMIT).contains(&limit) {
        return Err(DomainError::validation(format!(
            "Limit must be between 1 and {SESSIONS_MAX_LIMIT}."
        )));
    }
    let items = cp
        .sessions()
        .filter(|s| {
            s.is_live()
                && s.stack == stack
                && s.fleet == fleet
                && s.authentication_type == auth
                && user.is_none_or(|u| s.user_id == u)
                && instance.is_none_or(|i| s.instance_id.as_deref() == Some(i))
        })
        .map(|s| {
            (
                format!("{:020}/{}", s.start_time.as_millis(), s.id),
                session_json(s),
            )
        })
        .collect();
    let (sessions, token) = paginate(items, input, limit as usize)?;
    Ok(with_token(json!({ "Sessions": sessions }), token))
}

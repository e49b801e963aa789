//! Stacks and their fleet: CreateStack, DescribeStacks, UpdateStack,
//! DeleteStack, AssociateFleet, DisassociateFleet, ListAssociatedStacks and
//! ListAssociatedFleets.

use crate::input::keep_passthrough;
use crate::page::Page;
use crate::{Empty, Operation};
use porthole_control::error::Result;
use porthole_control::stack::{ApplicationSettings, StorageConnector, UserSetting};
use porthole_control::{ControlPlane, DomainError, ResourceType, Stack, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

pub(crate) const OPERATIONS: &[Operation] = &[
    op!(CreateStack => create_stack),
    op!(DescribeStacks => describe_stacks),
    op!(UpdateStack => update_stack),
    op!(DeleteStack => delete_stack),
    op!(AssociateFleet => associate_fleet),
    op!(DisassociateFleet => disassociate_fleet),
    op!(ListAssociatedStacks => list_associated_stacks),
    op!(ListAssociatedFleets => list_associated_fleets),
];

/// Page size of the operations here, which have no size member.
const PAGE_SIZE: usize = 25;

/// Stack members stored and echoed without effect here, by wire name.
const STACK_PASSTHROUGH: &[&str] = &[
    "AccessEndpoints",
    "StreamingExperienceSettings",
    "ContentRedirection",
    "WebAuthnRedirection",
    "AgentAccessConfig",
    "StorageConnectorAuthentication",
];

// ---- inputs ----------------------------------------------------------------

/// The members CreateStack and UpdateStack share.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct StackMembers {
    display_name: Option<String>,
    description: Option<String>,
    storage_connectors: Option<Vec<StorageConnector>>,
    user_settings: Option<Vec<UserSetting>>,
    application_settings: Option<ApplicationSettings>,
    embed_host_domains: Option<Vec<String>>,
    #[serde(rename = "RedirectURL")]
    redirect_url: Option<String>,
    #[serde(rename = "FeedbackURL")]
    feedback_url: Option<String>,
    /// The members not read above, among them the pass-through ones.
    #[serde(flatten)]
    rest: BTreeMap<String, Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateStackInput {
    name: String,
    tags: Option<BTreeMap<String, String>>,
    #[serde(flatten)]
    members: StackMembers,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UpdateStackInput {
    name: String,
    attributes_to_delete: Option<Vec<String>>,
    delete_storage_connectors: Option<bool>,
    #[serde(flatten)]
    members: StackMembers,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DescribeStacksInput {
    names: Option<Vec<String>>,
    next_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DeleteStackInput {
    name: String,
}

/// AssociateFleet and DisassociateFleet.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AssociationInput {
    fleet_name: String,
    stack_name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListAssociatedStacksInput {
    fleet_name: String,
    next_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListAssociatedFleetsInput {
    stack_name: String,
    next_token: Option<String>,
}

// ---- outputs ---------------------------------------------------------------

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct StackDoc {
    arn: String,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    display_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    created_time: f64,
    storage_connectors: Vec<StorageConnector>,
    #[serde(rename = "RedirectURL", skip_serializing_if = "Option::is_none")]
    redirect_url: Option<String>,
    #[serde(rename = "FeedbackURL", skip_serializing_if = "Option::is_none")]
    feedback_url: Option<String>,
    /// Porthole reports no stack errors.
    stack_errors: [Value; 0],
    user_settings: Vec<UserSetting>,
    application_settings: ApplicationSettings,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    embed_host_domains: Vec<String>,
    #[serde(flatten)]
    extra: BTreeMap<String, Value>,
}

impl StackDoc {
    fn new(cp: &ControlPlane, stack: &Stack) -> Self {
        Self {
            arn: cp.arn(ResourceType::Stack, &stack.name),
            name: stack.name.clone(),
            display_name: stack.display_name.clone(),
            description: stack.description.clone(),
            created_time: stack.created_time.as_secs_f64(),
            storage_connectors: stack.storage_connectors.clone(),
            redirect_url: stack.redirect_url.clone(),
            feedback_url: stack.feedback_url.clone(),
            stack_errors: [],
            user_settings: stack.effective_user_settings(),
            application_settings: stack.application_settings.clone().unwrap_or(
                ApplicationSettings {
                    enabled: false,
                    settings_group: None,
                },
            ),
            embed_host_domains: stack.embed_host_domains.clone(),
            extra: stack.extra.clone(),
        }
    }
}

/// CreateStack's and UpdateStack's output.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct StackOutput {
    stack: StackDoc,
}

impl StackOutput {
    fn of(cp: &ControlPlane, name: &str) -> Result<Self> {
        Ok(Self {
            stack: StackDoc::new(cp, cp.stack(name)?),
        })
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct DescribeStacksOutput {
    stacks: Vec<StackDoc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

/// ListAssociatedStacks' and ListAssociatedFleets' output.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct NamesOutput {
    names: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

impl NamesOutput {
    fn page(names: Vec<String>, next_token: Option<&str>) -> Result<Self> {
        let items = names.into_iter().map(|n| (n.clone(), n));
        let page = Page::appstream(items, next_token, PAGE_SIZE)?;
        Ok(Self {
            names: page.items,
            next_token: page.next_token,
        })
    }
}

// ---- operations ------------------------------------------------------------

fn apply_stack_members(stack: &mut Stack, members: StackMembers) -> Result<()> {
    if let Some(v) = members.display_name {
        stack.display_name = Some(v);
    }
    if let Some(v) = members.description {
        stack.description = Some(v);
    }
    if let Some(v) = members.storage_connectors {
        stack.storage_connectors = v;
    }
    if let Some(v) = members.user_settings {
        stack.merge_user_settings(v)?;
    }
    if let Some(v) = members.application_settings {
        stack.application_settings = Some(v);
    }
    if let Some(v) = members.embed_host_domains {
        stack.embed_host_domains = v;
    }
    if let Some(v) = members.redirect_url {
        stack.redirect_url = Some(v);
    }
    if let Some(v) = members.feedback_url {
        stack.feedback_url = Some(v);
    }
    keep_passthrough(&members.rest, STACK_PASSTHROUGH, &mut stack.extra);
    Ok(())
}

fn create_stack(
    cp: &mut ControlPlane,
    input: CreateStackInput,
    now: Timestamp,
) -> Result<StackOutput> {
    let mut stack = Stack::new(&input.name, now);
    apply_stack_members(&mut stack, input.members)?;
    stack.tags = input.tags.unwrap_or_default();
    cp.create_stack(stack)?;
    StackOutput::of(cp, &input.name)
}

fn describe_stacks(
    cp: &ControlPlane,
    input: DescribeStacksInput,
    _now: Timestamp,
) -> Result<DescribeStacksOutput> {
    let page = match input.names {
        Some(names) => Page::named(&names, |n| cp.stack(n).map(|s| StackDoc::new(cp, s)))?,
        None => Page::appstream(
            cp.stacks().map(|s| (s.name.clone(), StackDoc::new(cp, s))),
            input.next_token.as_deref(),
            PAGE_SIZE,
        )?,
    };
    Ok(DescribeStacksOutput {
        stacks: page.items,
        next_token: page.next_token,
    })
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

fn update_stack(
    cp: &mut ControlPlane,
    input: UpdateStackInput,
    _now: Timestamp,
) -> Result<StackOutput> {
    cp.update_stack(&input.name, |stack| {
        if input.delete_storage_connectors == Some(true) {
            stack.storage_connectors.clear();
        }
        for attribute in input.attributes_to_delete.iter().flatten() {
            delete_stack_attribute(stack, attribute)?;
        }
        apply_stack_members(stack, input.members)
    })?;
    StackOutput::of(cp, &input.name)
}

fn delete_stack(cp: &mut ControlPlane, input: DeleteStackInput, _now: Timestamp) -> Result<Empty> {
    cp.delete_stack(&input.name)?;
    Ok(Empty {})
}

fn associate_fleet(
    cp: &mut ControlPlane,
    input: AssociationInput,
    _now: Timestamp,
) -> Result<Empty> {
    cp.associate_fleet(&input.fleet_name, &input.stack_name)?;
    Ok(Empty {})
}

fn disassociate_fleet(
    cp: &mut ControlPlane,
    input: AssociationInput,
    _now: Timestamp,
) -> Result<Empty> {
    cp.disassociate_fleet(&input.fleet_name, &input.stack_name)?;
    Ok(Empty {})
}

fn list_associated_stacks(
    cp: &ControlPlane,
    input: ListAssociatedStacksInput,
    _now: Timestamp,
) -> Result<NamesOutput> {
    let names = cp.associated_stacks(&input.fleet_name);
    NamesOutput::page(names, input.next_token.as_deref())
}

/// A stack streams from at most one fleet; an unknown stack has none.
fn list_associated_fleets(
    cp: &ControlPlane,
    input: ListAssociatedFleetsInput,
    _now: Timestamp,
) -> Result<NamesOutput> {
    let names = cp
        .stack(&input.stack_name)
        .ok()
        .and_then(|s| s.fleet.clone())
        .into_iter()
        .collect();
    NamesOutput::page(names, input.next_token.as_deref())
}

//! Entitlements: CreateEntitlement, DescribeEntitlements, UpdateEntitlement,
//! DeleteEntitlement, AssociateApplicationToEntitlement,
//! DisassociateApplicationFromEntitlement and ListEntitledApplications.

use crate::page::Page;
use crate::{Empty, Operation};
use porthole_control::entitlement::{AppVisibility, Attribute, Entitlement, EntitlementChanges};
use porthole_control::error::Result;
use porthole_control::{ControlPlane, Timestamp};
use serde::{Deserialize, Serialize};

pub(crate) const OPERATIONS: &[Operation] = &[
    op!(CreateEntitlement => create_entitlement),
    op!(DescribeEntitlements => describe_entitlements),
    op!(UpdateEntitlement => update_entitlement),
    op!(DeleteEntitlement => delete_entitlement),
    op!(AssociateApplicationToEntitlement => associate_application),
    op!(DisassociateApplicationFromEntitlement => disassociate_application),
    op!(ListEntitledApplications => list_entitled_applications),
];

const PAGE_SIZE: usize = 25;

#[derive(Deserialize, Serialize, Clone)]
#[serde(rename_all = "PascalCase")]
struct AttributeDoc {
    name: String,
    value: String,
}

impl From<AttributeDoc> for Attribute {
    fn from(a: AttributeDoc) -> Self {
        Self {
            name: a.name,
            value: a.value,
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateEntitlementInput {
    name: String,
    stack_name: String,
    description: Option<String>,
    app_visibility: AppVisibility,
    attributes: Vec<AttributeDoc>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UpdateEntitlementInput {
    name: String,
    stack_name: String,
    description: Option<String>,
    app_visibility: Option<AppVisibility>,
    attributes: Option<Vec<AttributeDoc>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DescribeEntitlementsInput {
    stack_name: String,
    name: Option<String>,
    max_results: Option<usize>,
    next_token: Option<String>,
}

/// DeleteEntitlement.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct EntitlementInput {
    name: String,
    stack_name: String,
}

/// AssociateApplicationToEntitlement and DisassociateApplicationFromEntitlement.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ApplicationInput {
    stack_name: String,
    entitlement_name: String,
    application_identifier: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListEntitledApplicationsInput {
    stack_name: String,
    entitlement_name: String,
    max_results: Option<usize>,
    next_token: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct EntitlementDoc {
    name: String,
    stack_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    app_visibility: AppVisibility,
    attributes: Vec<AttributeDoc>,
    created_time: f64,
    last_modified_time: f64,
}

impl EntitlementDoc {
    fn new(e: &Entitlement) -> Self {
        Self {
            name: e.name.clone(),
            stack_name: e.stack.clone(),
            description: e.description.clone(),
            app_visibility: e.app_visibility,
            attributes: e
                .attributes
                .iter()
                .map(|a| AttributeDoc {
                    name: a.name.clone(),
                    value: a.value.clone(),
                })
                .collect(),
            created_time: e.created_time.as_secs_f64(),
            last_modified_time: e.last_modified_time.as_secs_f64(),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct EntitlementOutput {
    entitlement: EntitlementDoc,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct DescribeEntitlementsOutput {
    entitlements: Vec<EntitlementDoc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct EntitledApplication {
    application_identifier: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ListEntitledApplicationsOutput {
    entitled_applications: Vec<EntitledApplication>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

fn limit(max_results: Option<usize>) -> usize {
    max_results.filter(|&n| n > 0).unwrap_or(PAGE_SIZE)
}

fn create_entitlement(
    cp: &mut ControlPlane,
    input: CreateEntitlementInput,
    now: Timestamp,
) -> Result<EntitlementOutput> {
    let attributes = input.attributes.into_iter().map(Attribute::from).collect();
    let entitlement = cp.create_entitlement(
        &input.stack_name,
        &input.name,
        input.description,
        input.app_visibility,
        attributes,
        now,
    )?;
    Ok(EntitlementOutput {
        entitlement: EntitlementDoc::new(entitlement),
    })
}

fn describe_entitlements(
    cp: &ControlPlane,
    input: DescribeEntitlementsInput,
    _now: Timestamp,
) -> Result<DescribeEntitlementsOutput> {
    let page = match &input.name {
        Some(name) => Page::named(std::slice::from_ref(name), |n| {
            cp.entitlement(&input.stack_name, n)
                .map(EntitlementDoc::new)
        })?,
        None => Page::appstream(
            cp.entitlements_of(&input.stack_name)?
                .map(|e| (e.name.clone(), EntitlementDoc::new(e))),
            input.next_token.as_deref(),
            limit(input.max_results),
        )?,
    };
    Ok(DescribeEntitlementsOutput {
        entitlements: page.items,
        next_token: page.next_token,
    })
}

fn update_entitlement(
    cp: &mut ControlPlane,
    input: UpdateEntitlementInput,
    now: Timestamp,
) -> Result<EntitlementOutput> {
    let changes = EntitlementChanges {
        description: input.description,
        app_visibility: input.app_visibility,
        attributes: input
            .attributes
            .map(|list| list.into_iter().map(Attribute::from).collect()),
    };
    let entitlement = cp.update_entitlement(&input.stack_name, &input.name, changes, now)?;
    Ok(EntitlementOutput {
        entitlement: EntitlementDoc::new(entitlement),
    })
}

fn delete_entitlement(
    cp: &mut ControlPlane,
    input: EntitlementInput,
    _now: Timestamp,
) -> Result<Empty> {
    cp.delete_entitlement(&input.stack_name, &input.name)?;
    Ok(Empty {})
}

fn associate_application(
    cp: &mut ControlPlane,
    input: ApplicationInput,
    now: Timestamp,
) -> Result<Empty> {
    cp.entitle_application(
        &input.stack_name,
        &input.entitlement_name,
        &input.application_identifier,
        now,
    )?;
    Ok(Empty {})
}

fn disassociate_application(
    cp: &mut ControlPlane,
    input: ApplicationInput,
    now: Timestamp,
) -> Result<Empty> {
    cp.unentitle_application(
        &input.stack_name,
        &input.entitlement_name,
        &input.application_identifier,
        now,
    )?;
    Ok(Empty {})
}

fn list_entitled_applications(
    cp: &ControlPlane,
    input: ListEntitledApplicationsInput,
    _now: Timestamp,
) -> Result<ListEntitledApplicationsOutput> {
    let apps = cp
        .entitled_applications(&input.stack_name, &input.entitlement_name)?
        .into_iter()
        .map(|name| {
            let app = EntitledApplication {
                application_identifier: name.clone(),
            };
            (name, app)
        });
    let page = Page::appstream(apps, input.next_token.as_deref(), limit(input.max_results))?;
    Ok(ListEntitledApplicationsOutput {
        entitled_applications: page.items,
        next_token: page.next_token,
    })
}

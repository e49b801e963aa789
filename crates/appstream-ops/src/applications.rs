//! App blocks and applications: CreateAppBlock, DescribeAppBlocks,
//! DeleteAppBlock, CreateApplication, DescribeApplications,
//! UpdateApplication, DeleteApplication, AssociateApplicationFleet,
//! DisassociateApplicationFleet and DescribeApplicationFleetAssociations.

use crate::page::Page;
use crate::{Empty, Operation};
use porthole_control::app_block::{AppBlock, PackagingType, S3Location, ScriptDetails};
use porthole_control::application::{ApplicationAttribute, ApplicationChanges, FleetApplication};
use porthole_control::error::Result;
use porthole_control::{ControlPlane, DomainError, ResourceType, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

pub(crate) const OPERATIONS: &[Operation] = &[
    op!(CreateAppBlock => create_app_block),
    op!(DescribeAppBlocks => describe_app_blocks),
    op!(DeleteAppBlock => delete_app_block),
    op!(CreateApplication => create_application),
    op!(DescribeApplications => describe_applications),
    op!(UpdateApplication => update_application),
    op!(DeleteApplication => delete_application),
    op!(AssociateApplicationFleet => associate_application_fleet),
    op!(DisassociateApplicationFleet => disassociate_application_fleet),
    op!(DescribeApplicationFleetAssociations => describe_application_fleet_associations),
];

/// ApplicationFleetAssociationList's maximum, used for every page here.
const PAGE_SIZE: usize = 25;

fn limit(max_results: Option<usize>) -> usize {
    max_results
        .filter(|&n| n > 0)
        .map_or(PAGE_SIZE, |n| n.min(PAGE_SIZE))
}

/// The name an ARN of `kind` gives; any other ARN names nothing here.
fn named(cp: &ControlPlane, kind: ResourceType, arn: &str) -> Result<String> {
    match cp.config().parse_arn(arn)? {
        (k, name) if k == kind => Ok(name),
        _ => Err(DomainError::not_found("resource", arn)),
    }
}

#[derive(Deserialize, Serialize, Clone)]
#[serde(rename_all = "PascalCase")]
struct S3LocationDoc {
    s3_bucket: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    s3_key: Option<String>,
}

impl From<S3LocationDoc> for S3Location {
    fn from(d: S3LocationDoc) -> Self {
        Self {
            bucket: d.s3_bucket,
            key: d.s3_key,
        }
    }
}

impl From<&S3Location> for S3LocationDoc {
    fn from(l: &S3Location) -> Self {
        Self {
            s3_bucket: l.bucket.clone(),
            s3_key: l.key.clone(),
        }
    }
}

#[derive(Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
struct ScriptDetailsDoc {
    script_s3_location: S3LocationDoc,
    executable_path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    executable_parameters: Option<String>,
    timeout_in_seconds: i64,
}

impl From<ScriptDetailsDoc> for ScriptDetails {
    fn from(d: ScriptDetailsDoc) -> Self {
        Self {
            script: d.script_s3_location.into(),
            executable_path: d.executable_path,
            executable_parameters: d.executable_parameters,
            timeout_secs: d.timeout_in_seconds,
        }
    }
}

impl From<&ScriptDetails> for ScriptDetailsDoc {
    fn from(s: &ScriptDetails) -> Self {
        Self {
            script_s3_location: (&s.script).into(),
            executable_path: s.executable_path.clone(),
            executable_parameters: s.executable_parameters.clone(),
            timeout_in_seconds: s.timeout_secs,
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateAppBlockInput {
    name: String,
    description: Option<String>,
    display_name: Option<String>,
    source_s3_location: S3LocationDoc,
    setup_script_details: Option<ScriptDetailsDoc>,
    post_setup_script_details: Option<ScriptDetailsDoc>,
    packaging_type: Option<PackagingType>,
    tags: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DescribeInput {
    arns: Option<Vec<String>>,
    next_token: Option<String>,
    max_results: Option<usize>,
}

/// DeleteAppBlock and DeleteApplication.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct NameInput {
    name: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct AppBlockDoc {
    name: String,
    arn: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    display_name: Option<String>,
    source_s3_location: S3LocationDoc,
    #[serde(skip_serializing_if = "Option::is_none")]
    setup_script_details: Option<ScriptDetailsDoc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    post_setup_script_details: Option<ScriptDetailsDoc>,
    created_time: f64,
    packaging_type: PackagingType,
    state: &'static str,
}

impl AppBlockDoc {
    fn new(cp: &ControlPlane, block: &AppBlock) -> Self {
        Self {
            name: block.name.clone(),
            arn: cp.arn(ResourceType::AppBlock, &block.name),
            description: block.description.clone(),
            display_name: block.display_name.clone(),
            source_s3_location: (&block.source).into(),
            setup_script_details: block.setup_script.as_ref().map(Into::into),
            post_setup_script_details: block.post_setup_script.as_ref().map(Into::into),
            created_time: block.created_time.as_secs_f64(),
            packaging_type: block.packaging_type,
            state: block.state.as_str(),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct AppBlockOutput {
    app_block: AppBlockDoc,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct DescribeAppBlocksOutput {
    app_blocks: Vec<AppBlockDoc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

fn create_app_block(
    cp: &mut ControlPlane,
    input: CreateAppBlockInput,
    now: Timestamp,
) -> Result<AppBlockOutput> {
    let mut block = AppBlock::new(
        &input.name,
        input.source_s3_location.into(),
        // AppStream's default: a block with its own setup script.
        input.packaging_type.unwrap_or(PackagingType::Custom),
        now,
    );
    block.description = input.description;
    block.display_name = input.display_name;
    block.setup_script = input.setup_script_details.map(Into::into);
    block.post_setup_script = input.post_setup_script_details.map(Into::into);
    block.tags = input.tags.unwrap_or_default();
    let block = cp.create_app_block(block)?.clone();
    Ok(AppBlockOutput {
        app_block: AppBlockDoc::new(cp, &block),
    })
}

fn describe_app_blocks(
    cp: &ControlPlane,
    input: DescribeInput,
    _now: Timestamp,
) -> Result<DescribeAppBlocksOutput> {
    let selected: Vec<&AppBlock> = match &input.arns {
        Some(arns) => arns
            .iter()
            .map(|arn| cp.app_block(&named(cp, ResourceType::AppBlock, arn)?))
            .collect::<Result<_>>()?,
        None => cp.app_blocks().collect(),
    };
    let items = selected
        .into_iter()
        .map(|b| (b.name.clone(), AppBlockDoc::new(cp, b)));
    let page = Page::appstream(items, input.next_token.as_deref(), limit(input.max_results))?;
    Ok(DescribeAppBlocksOutput {
        app_blocks: page.items,
        next_token: page.next_token,
    })
}

fn delete_app_block(cp: &mut ControlPlane, input: NameInput, _now: Timestamp) -> Result<Empty> {
    cp.delete_app_block(&input.name)?;
    Ok(Empty {})
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateApplicationInput {
    name: String,
    display_name: Option<String>,
    description: Option<String>,
    icon_s3_location: S3LocationDoc,
    launch_path: String,
    working_directory: Option<String>,
    launch_parameters: Option<String>,
    platforms: Vec<String>,
    instance_families: Vec<String>,
    app_block_arn: String,
    tags: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UpdateApplicationInput {
    name: String,
    display_name: Option<String>,
    description: Option<String>,
    icon_s3_location: Option<S3LocationDoc>,
    launch_path: Option<String>,
    working_directory: Option<String>,
    launch_parameters: Option<String>,
    app_block_arn: Option<String>,
    attributes_to_delete: Option<Vec<ApplicationAttribute>>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ApplicationDoc {
    name: String,
    /// AppStream shows the name where no display name was given.
    display_name: String,
    launch_path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    launch_parameters: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    working_directory: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    enabled: bool,
    metadata: BTreeMap<String, String>,
    arn: String,
    app_block_arn: String,
    icon_s3_location: S3LocationDoc,
    platforms: Vec<String>,
    instance_families: Vec<String>,
    created_time: f64,
}

impl ApplicationDoc {
    fn new(cp: &ControlPlane, app: &FleetApplication) -> Self {
        Self {
            name: app.name.clone(),
            display_name: app.display_name.clone().unwrap_or_else(|| app.name.clone()),
            launch_path: app.launch_path.clone(),
            launch_parameters: app.launch_parameters.clone(),
            working_directory: app.working_directory.clone(),
            description: app.description.clone(),
            enabled: true,
            metadata: BTreeMap::new(),
            arn: cp.arn(ResourceType::Application, &app.name),
            app_block_arn: cp.arn(ResourceType::AppBlock, &app.app_block),
            icon_s3_location: (&app.icon).into(),
            platforms: app.platforms.clone(),
            instance_families: app.instance_families.clone(),
            created_time: app.created_time.as_secs_f64(),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ApplicationOutput {
    application: ApplicationDoc,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct DescribeApplicationsOutput {
    applications: Vec<ApplicationDoc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

fn create_application(
    cp: &mut ControlPlane,
    input: CreateApplicationInput,
    now: Timestamp,
) -> Result<ApplicationOutput> {
    let app_block = named(cp, ResourceType::AppBlock, &input.app_block_arn)?;
    let app = cp
        .create_fleet_application(FleetApplication {
            name: input.name,
            display_name: input.display_name,
            description: input.description,
            icon: input.icon_s3_location.into(),
            launch_path: input.launch_path,
            launch_parameters: input.launch_parameters,
            working_directory: input.working_directory,
            platforms: input.platforms,
            instance_families: input.instance_families,
            app_block,
            fleets: BTreeSet::new(),
            created_time: now,
            tags: input.tags.unwrap_or_default(),
        })?
        .clone();
    Ok(ApplicationOutput {
        application: ApplicationDoc::new(cp, &app),
    })
}

fn describe_applications(
    cp: &ControlPlane,
    input: DescribeInput,
    _now: Timestamp,
) -> Result<DescribeApplicationsOutput> {
    let selected: Vec<&FleetApplication> = match &input.arns {
        Some(arns) => arns
            .iter()
            .map(|arn| cp.fleet_application(&named(cp, ResourceType::Application, arn)?))
            .collect::<Result<_>>()?,
        None => cp.fleet_applications().collect(),
    };
    let items = selected
        .into_iter()
        .map(|a| (a.name.clone(), ApplicationDoc::new(cp, a)));
    let page = Page::appstream(items, input.next_token.as_deref(), limit(input.max_results))?;
    Ok(DescribeApplicationsOutput {
        applications: page.items,
        next_token: page.next_token,
    })
}

fn update_application(
    cp: &mut ControlPlane,
    input: UpdateApplicationInput,
    _now: Timestamp,
) -> Result<ApplicationOutput> {
    let changes = ApplicationChanges {
        display_name: input.display_name,
        description: input.description,
        icon: input.icon_s3_location.map(Into::into),
        launch_path: input.launch_path,
        launch_parameters: input.launch_parameters,
        working_directory: input.working_directory,
        app_block: input
            .app_block_arn
            .map(|arn| named(cp, ResourceType::AppBlock, &arn))
            .transpose()?,
        attributes_to_delete: input.attributes_to_delete.unwrap_or_default(),
    };
    let app = cp.update_fleet_application(&input.name, changes)?.clone();
    Ok(ApplicationOutput {
        application: ApplicationDoc::new(cp, &app),
    })
}

fn delete_application(cp: &mut ControlPlane, input: NameInput, _now: Timestamp) -> Result<Empty> {
    cp.delete_fleet_application(&input.name)?;
    Ok(Empty {})
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AssociationInput {
    fleet_name: String,
    application_arn: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DescribeAssociationsInput {
    fleet_name: Option<String>,
    application_arn: Option<String>,
    max_results: Option<usize>,
    next_token: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct AssociationDoc {
    fleet_name: String,
    application_arn: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct AssociationOutput {
    application_fleet_association: AssociationDoc,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct DescribeAssociationsOutput {
    application_fleet_associations: Vec<AssociationDoc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

fn associate_application_fleet(
    cp: &mut ControlPlane,
    input: AssociationInput,
    _now: Timestamp,
) -> Result<AssociationOutput> {
    let app = named(cp, ResourceType::Application, &input.application_arn)?;
    cp.associate_application_fleet(&input.fleet_name, &app)?;
    Ok(AssociationOutput {
        application_fleet_association: AssociationDoc {
            fleet_name: input.fleet_name,
            application_arn: input.application_arn,
        },
    })
}

fn disassociate_application_fleet(
    cp: &mut ControlPlane,
    input: AssociationInput,
    _now: Timestamp,
) -> Result<Empty> {
    // The model has no not-found error here: an ARN naming no application
    // of ours names no association either.
    if let Ok(app) = named(cp, ResourceType::Application, &input.application_arn) {
        cp.disassociate_application_fleet(&input.fleet_name, &app);
    }
    Ok(Empty {})
}

fn describe_application_fleet_associations(
    cp: &ControlPlane,
    input: DescribeAssociationsInput,
    _now: Timestamp,
) -> Result<DescribeAssociationsOutput> {
    let app = match &input.application_arn {
        Some(arn) => match named(cp, ResourceType::Application, arn) {
            Ok(name) => Some(name),
            // Not ours: nothing is associated with it.
            Err(_) => {
                return Ok(DescribeAssociationsOutput {
                    application_fleet_associations: Vec::new(),
                    next_token: None,
                })
            }
        },
        None => None,
    };
    let pairs = cp.application_fleet_associations(input.fleet_name.as_deref(), app.as_deref())?;
    let items = pairs.into_iter().map(|(fleet, app)| {
        let doc = AssociationDoc {
            application_arn: cp.arn(ResourceType::Application, &app),
            fleet_name: fleet.clone(),
        };
        (format!("{fleet}/{app}"), doc)
    });
    let page = Page::appstream(items, input.next_token.as_deref(), limit(input.max_results))?;
    Ok(DescribeAssociationsOutput {
        application_fleet_associations: page.items,
        next_token: page.next_token,
    })
}

//! Images: DescribeImages, DeleteImage, CopyImage and the image permissions
//! (Update, Describe, DeleteImagePermissions).

use crate::page::Page;
use crate::{Empty, Operation};
use porthole_control::error::Result;
use porthole_control::image::{ImagePermissions, Visibility};
use porthole_control::{Application, ControlPlane, DomainError, Image, ResourceType, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub(crate) const OPERATIONS: &[Operation] = &[
    op!(DescribeImages => describe_images),
    op!(DeleteImage => delete_image),
    op!(CopyImage => copy_image),
    op!(UpdateImagePermissions => update_image_permissions),
    op!(DescribeImagePermissions => describe_image_permissions),
    op!(DeleteImagePermissions => delete_image_permissions),
];

const IMAGES_MAX_RESULTS: u64 = 25;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DescribeImagesInput {
    names: Option<Vec<String>>,
    arns: Option<Vec<String>>,
    /// PUBLIC, PRIVATE or SHARED (the stored Visibility has its own spelling).
    #[serde(rename = "Type")]
    visibility: Option<String>,
    next_token: Option<String>,
    max_results: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DeleteImageInput {
    name: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ApplicationDoc {
    name: String,
    display_name: String,
    #[serde(rename = "IconURL", skip_serializing_if = "Option::is_none")]
    icon_url: Option<String>,
    launch_path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    launch_parameters: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    working_directory: Option<String>,
    enabled: bool,
    metadata: BTreeMap<String, String>,
}

impl ApplicationDoc {
    fn new(app: &Application) -> Self {
        Self {
            name: app.name.clone(),
            display_name: app.display_name.clone(),
            icon_url: app.icon_url.clone(),
            launch_path: app.launch_path.clone(),
            launch_parameters: app.launch_parameters.clone(),
            working_directory: app.working_directory.clone(),
            enabled: app.enabled,
            metadata: BTreeMap::new(),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ImageDoc {
    name: String,
    arn: String,
    display_name: String,
    description: String,
    state: &'static str,
    visibility: &'static str,
    image_builder_supported: bool,
    platform: String,
    created_time: f64,
    applications: Vec<ApplicationDoc>,
}

impl ImageDoc {
    fn new(cp: &ControlPlane, image: &Image) -> Self {
        Self {
            name: image.name.clone(),
            arn: cp.arn(ResourceType::Image, &image.name),
            display_name: image.display_name.clone(),
            description: image.description.clone(),
            state: image.state.as_str(),
            visibility: image.visibility.as_str(),
            image_builder_supported: true,
            platform: image.platform.clone(),
            created_time: image.created_time.as_secs_f64(),
            applications: image.applications.iter().map(ApplicationDoc::new).collect(),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct DescribeImagesOutput {
    images: Vec<ImageDoc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

fn describe_images(
    cp: &ControlPlane,
    input: DescribeImagesInput,
    _now: Timestamp,
) -> Result<DescribeImagesOutput> {
    let visibility = input
        .visibility
        .map(|s| {
            Visibility::parse(&s)
                .ok_or_else(|| DomainError::validation(format!("Type {s} is not valid.")))
        })
        .transpose()?;
    let selected: Vec<&Image> = match (input.names, input.arns) {
        (Some(_), Some(_)) => {
            return Err(DomainError::combination(
                "Specify either Names or Arns, not both.",
            ))
        }
        (Some(names), None) => names.iter().map(|n| cp.image(n)).collect::<Result<_>>()?,
        (None, Some(arns)) => arns
            .iter()
            .map(|arn| match cp.config().parse_arn(arn)? {
                (ResourceType::Image, name) => cp.image(&name),
                _ => Err(DomainError::not_found("image", arn)),
            })
            .collect::<Result<_>>()?,
        (None, None) => cp.images().collect(),
    };
    let limit = page_limit(input.max_results, IMAGES_MAX_RESULTS);
    let items = selected
        .into_iter()
        .filter(|i| visibility.is_none_or(|v| i.visibility == v))
        .map(|i| (i.name.clone(), ImageDoc::new(cp, i)));
    let page = Page::appstream(items, input.next_token.as_deref(), limit)?;
    Ok(DescribeImagesOutput {
        images: page.items,
        next_token: page.next_token,
    })
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct DeleteImageOutput {
    image: ImageDoc,
}

fn delete_image(
    cp: &mut ControlPlane,
    input: DeleteImageInput,
    _now: Timestamp,
) -> Result<DeleteImageOutput> {
    let image = cp.delete_image(&input.name)?;
    Ok(DeleteImageOutput {
        image: ImageDoc::new(cp, &image),
    })
}

/// A MaxResults as a page size: absent or 0 is the most the operation returns.
fn page_limit(max_results: Option<u64>, ceiling: u64) -> usize {
    match max_results {
        None | Some(0) => ceiling,
        Some(n) => n.min(ceiling),
    }
    .try_into()
    .unwrap_or(usize::MAX)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CopyImageInput {
    source_image_name: String,
    destination_image_name: String,
    destination_region: String,
    destination_image_description: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct CopyImageOutput {
    destination_image_name: String,
}

fn copy_image(
    cp: &mut ControlPlane,
    input: CopyImageInput,
    now: Timestamp,
) -> Result<CopyImageOutput> {
    let copy = cp.copy_image(
        &input.source_image_name,
        &input.destination_image_name,
        &input.destination_region,
        input.destination_image_description,
        now,
    )?;
    Ok(CopyImageOutput {
        destination_image_name: copy.name.clone(),
    })
}

/// The model's ImagePermissions; an absent member grants nothing.
#[derive(Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct ImagePermissionsDoc {
    #[serde(default)]
    allow_fleet: bool,
    #[serde(default)]
    allow_image_builder: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UpdateImagePermissionsInput {
    name: String,
    shared_account_id: String,
    image_permissions: ImagePermissionsDoc,
}

fn update_image_permissions(
    cp: &mut ControlPlane,
    input: UpdateImagePermissionsInput,
    _now: Timestamp,
) -> Result<Empty> {
    let permissions = ImagePermissions {
        allow_fleet: input.image_permissions.allow_fleet,
        allow_image_builder: input.image_permissions.allow_image_builder,
    };
    cp.share_image(&input.name, &input.shared_account_id, permissions)?;
    Ok(Empty {})
}

/// DescribeImagePermissions' MaxResults ceiling (the model's).
const IMAGE_PERMISSIONS_MAX_RESULTS: u64 = 500;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DescribeImagePermissionsInput {
    name: String,
    max_results: Option<u64>,
    shared_aws_account_ids: Option<Vec<String>>,
    next_token: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SharedImagePermissionsDoc {
    shared_account_id: String,
    image_permissions: ImagePermissionsDoc,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct DescribeImagePermissionsOutput {
    name: String,
    shared_image_permissions_list: Vec<SharedImagePermissionsDoc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

fn describe_image_permissions(
    cp: &ControlPlane,
    input: DescribeImagePermissionsInput,
    _now: Timestamp,
) -> Result<DescribeImagePermissionsOutput> {
    let wanted = input.shared_aws_account_ids.as_deref();
    let items = cp
        .image_shares(&input.name)?
        .iter()
        .filter(|(account, _)| wanted.is_none_or(|w| w.contains(account)))
        .map(|(account, p)| {
            let doc = SharedImagePermissionsDoc {
                shared_account_id: account.clone(),
                image_permissions: ImagePermissionsDoc {
                    allow_fleet: p.allow_fleet,
                    allow_image_builder: p.allow_image_builder,
                },
            };
            (account.clone(), doc)
        });
    let limit = page_limit(input.max_results, IMAGE_PERMISSIONS_MAX_RESULTS);
    let page = Page::appstream(items, input.next_token.as_deref(), limit)?;
    Ok(DescribeImagePermissionsOutput {
        name: input.name,
        shared_image_permissions_list: page.items,
        next_token: page.next_token,
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DeleteImagePermissionsInput {
    name: String,
    shared_account_id: String,
}

fn delete_image_permissions(
    cp: &mut ControlPlane,
    input: DeleteImagePermissionsInput,
    _now: Timestamp,
) -> Result<Empty> {
    cp.unshare_image(&input.name, &input.shared_account_id)?;
    Ok(Empty {})
}

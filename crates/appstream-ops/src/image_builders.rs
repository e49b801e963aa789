//! Image builders: Create, Describe, Start, Stop, DeleteImageBuilder and
//! CreateImageBuilderStreamingURL. Making an image is done from inside the builder (its
//! image assistant), as in AppStream, not by an operation here.

use std::collections::BTreeMap;

use crate::input::parse;
use crate::page::Page;
use crate::{Operation, Outcome};
use porthole_control::error::Result;
use porthole_control::{
    ControlPlane, DomainError, ImageBuilder, NewImageBuilder, ResourceType, Timestamp,
};
use serde::{Deserialize, Serialize};

pub(crate) const OPERATIONS: &[Operation] = &[
    op!(CreateImageBuilder => create_image_builder),
    op!(DescribeImageBuilders => describe_image_builders),
    op!(StartImageBuilder => start_image_builder),
    op!(StopImageBuilder => stop_image_builder),
    op!(DeleteImageBuilder => delete_image_builder),
    // The answer is a grant: only the server can sign it into a URL.
    Operation::new("CreateImageBuilderStreamingURL", |cp, input, now| {
        let input: StreamingUrlInput = parse(input)?;
        cp.create_image_builder_streaming_url(&input.name, input.validity, now)
            .map(Outcome::StreamingUrl)
    }),
];

const BUILDERS_MAX_RESULTS: usize = 25;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateImageBuilderInput {
    name: String,
    image_name: Option<String>,
    image_arn: Option<String>,
    instance_type: String,
    description: Option<String>,
    display_name: Option<String>,
    enable_default_internet_access: Option<bool>,
    tags: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct NameInput {
    name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DescribeImageBuildersInput {
    names: Option<Vec<String>>,
    next_token: Option<String>,
    max_results: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct StreamingUrlInput {
    name: String,
    validity: Option<u64>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct StateChangeReasonDoc {
    code: String,
    message: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ImageBuilderDoc {
    name: String,
    arn: String,
    image_arn: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    display_name: Option<String>,
    instance_type: String,
    platform: String,
    state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    state_change_reason: Option<StateChangeReasonDoc>,
    created_time: f64,
    enable_default_internet_access: bool,
}

impl ImageBuilderDoc {
    fn new(cp: &ControlPlane, builder: &ImageBuilder) -> Self {
        Self {
            name: builder.name.clone(),
            arn: cp.arn(ResourceType::ImageBuilder, &builder.name),
            image_arn: cp.arn(ResourceType::Image, &builder.image_name),
            description: builder.description.clone(),
            display_name: builder.display_name.clone(),
            instance_type: builder.instance_type.clone(),
            platform: builder.platform.clone(),
            state: builder.state.as_str(),
            state_change_reason: builder.state_change_reason.as_ref().map(|r| {
                StateChangeReasonDoc {
                    code: r.code.clone(),
                    message: r.message.clone(),
                }
            }),
            created_time: builder.created_time.as_secs_f64(),
            enable_default_internet_access: builder.enable_default_internet_access,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ImageBuilderOutput {
    image_builder: ImageBuilderDoc,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct DescribeImageBuildersOutput {
    image_builders: Vec<ImageBuilderDoc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

fn answer(cp: &ControlPlane, builder: &ImageBuilder) -> ImageBuilderOutput {
    ImageBuilderOutput {
        image_builder: ImageBuilderDoc::new(cp, builder),
    }
}

fn create_image_builder(
    cp: &mut ControlPlane,
    input: CreateImageBuilderInput,
    now: Timestamp,
) -> Result<ImageBuilderOutput> {
    let image_name = match (input.image_name, input.image_arn) {
        (Some(_), Some(_)) => {
            return Err(DomainError::combination(
                "Specify either ImageName or ImageArn, not both.",
            ))
        }
        (Some(name), None) => name,
        (None, Some(arn)) => match cp.config().parse_arn(&arn)? {
            (ResourceType::Image, name) => name,
            _ => return Err(DomainError::not_found("image", &arn)),
        },
        (None, None) => {
            return Err(DomainError::combination(
                "ImageName or ImageArn is required.",
            ))
        }
    };
    let tags = input.tags.unwrap_or_default();
    if tags.len() > porthole_control::MAX_TAGS {
        return Err(DomainError::validation(format!(
            "A resource can have at most {} tags.",
            porthole_control::MAX_TAGS
        )));
    }
    let new = NewImageBuilder {
        name: input.name,
        image_name,
        instance_type: input.instance_type,
        display_name: input.display_name,
        description: input.description,
        enable_default_internet_access: input.enable_default_internet_access.unwrap_or(false),
        tags,
    };
    let builder = cp.create_image_builder(new, now)?.clone();
    Ok(answer(cp, &builder))
}

fn describe_image_builders(
    cp: &ControlPlane,
    input: DescribeImageBuildersInput,
    _now: Timestamp,
) -> Result<DescribeImageBuildersOutput> {
    let selected: Vec<&ImageBuilder> = match input.names {
        Some(names) => names
            .iter()
            .map(|n| cp.image_builder(n))
            .collect::<Result<_>>()?,
        None => cp.image_builders().collect(),
    };
    let limit = match input.max_results {
        None | Some(0) => BUILDERS_MAX_RESULTS,
        Some(n) => usize::try_from(n)
            .unwrap_or(usize::MAX)
            .min(BUILDERS_MAX_RESULTS),
    };
    let items = selected
        .into_iter()
        .map(|b| (b.name.clone(), ImageBuilderDoc::new(cp, b)));
    let page = Page::appstream(items, input.next_token.as_deref(), limit)?;
    Ok(DescribeImageBuildersOutput {
        image_builders: page.items,
        next_token: page.next_token,
    })
}

fn start_image_builder(
    cp: &mut ControlPlane,
    input: NameInput,
    now: Timestamp,
) -> Result<ImageBuilderOutput> {
    let builder = cp.start_image_builder(&input.name, now)?.clone();
    Ok(answer(cp, &builder))
}

fn stop_image_builder(
    cp: &mut ControlPlane,
    input: NameInput,
    now: Timestamp,
) -> Result<ImageBuilderOutput> {
    let builder = cp.stop_image_builder(&input.name, now)?.clone();
    Ok(answer(cp, &builder))
}

fn delete_image_builder(
    cp: &mut ControlPlane,
    input: NameInput,
    now: Timestamp,
) -> Result<ImageBuilderOutput> {
    let builder = cp.delete_image_builder(&input.name, now)?;
    Ok(answer(cp, &builder))
}

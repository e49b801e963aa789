//! Tags of fleets, stacks and images: TagResource, UntagResource and
//! ListTagsForResource.

use crate::{Empty, Operation};
use porthole_control::error::Result;
use porthole_control::{ControlPlane, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub(crate) const OPERATIONS: &[Operation] = &[
    op!(TagResource => tag_resource),
    op!(UntagResource => untag_resource),
    op!(ListTagsForResource => list_tags_for_resource),
];

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TagResourceInput {
    resource_arn: String,
    tags: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UntagResourceInput {
    resource_arn: String,
    tag_keys: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListTagsForResourceInput {
    resource_arn: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ListTagsForResourceOutput {
    tags: BTreeMap<String, String>,
}

fn tag_resource(cp: &mut ControlPlane, input: TagResourceInput, _now: Timestamp) -> Result<Empty> {
    cp.tag_resource(&input.resource_arn, input.tags)?;
    Ok(Empty {})
}

fn untag_resource(
    cp: &mut ControlPlane,
    input: UntagResourceInput,
    _now: Timestamp,
) -> Result<Empty> {
    cp.untag_resource(&input.resource_arn, &input.tag_keys)?;
    Ok(Empty {})
}

fn list_tags_for_resource(
    cp: &ControlPlane,
    input: ListTagsForResourceInput,
    _now: Timestamp,
) -> Result<ListTagsForResourceOutput> {
    Ok(ListTagsForResourceOutput {
        tags: cp.tags(&input.resource_arn)?,
    })
}

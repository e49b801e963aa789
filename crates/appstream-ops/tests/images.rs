//! Images through the AppStream operations: a running fleet's image changed
//! by UpdateFleet, CopyImage, and the image permissions.

mod common;
use common::*;
use porthole_control::image::ImageState;
use porthole_control::{default_image, Image};
use serde_json::json;

const IMAGE_ARN: &str = "arn:aws:appstream:us-east-1:123456789012:image/";

fn running_fleet(cp: &mut porthole_control::ControlPlane, desired: u32) -> Vec<String> {
    fleet_and_stack(
        cp,
        json!({"Name": "fleet", "ImageName": "porthole-default",
            "InstanceType": "stream.standard.small", "FleetType": "ALWAYS_ON",
            "ComputeCapacity": {"DesiredInstances": desired}}),
    );
    call(cp, "StartFleet", json!({"Name": "fleet"}), at(0));
    let ids = launched(&cp.take_effects());
    for id in &ids {
        cp.instance_ready(id, at(0)).unwrap();
    }
    ids
}

fn copy(source: &str, destination: &str) -> serde_json::Value {
    json!({"SourceImageName": source, "DestinationImageName": destination,
        "DestinationRegion": "us-east-1", "DestinationImageDescription": "a copy"})
}

#[test]
fn a_running_fleet_takes_a_new_image_by_arn_and_keeps_busy_instances() {
    let mut cp = plane();
    let ids = running_fleet(&mut cp, 2);
    let (session, _) = open(&mut cp, "fleet", "alice", at(1)).unwrap();
    let busy = session.instance_id.clone().unwrap();
    call(&mut cp, "CopyImage", copy("porthole-default", "v2"), at(2));

    let updated = call(
        &mut cp,
        "UpdateFleet",
        json!({"Name": "fleet", "ImageArn": format!("{IMAGE_ARN}v2")}),
        at(3),
    );
    assert_eq!(updated["Fleet"]["ImageName"], "v2");
    let described = fleet_state(&mut cp, "fleet");
    assert_eq!(described["ImageName"], "v2");
    assert_eq!(described["ImageArn"], format!("{IMAGE_ARN}v2"));
    assert_eq!(described["State"], "RUNNING");
    let effects = cp.take_effects();
    let idle: Vec<String> = ids.into_iter().filter(|i| *i != busy).collect();
    assert_eq!(terminated(&effects), idle);
    assert_eq!(launched(&effects).len(), 1);

    call(
        &mut cp,
        "ExpireSession",
        json!({"SessionId": session.id}),
        at(4),
    );
    let effects = cp.take_effects();
    assert_eq!(terminated(&effects), [busy]);
    let Some(porthole_control::Effect::LaunchInstance(spec)) = effects
        .iter()
        .find(|e| matches!(e, porthole_control::Effect::LaunchInstance(_)))
    else {
        panic!("no replacement: {effects:?}")
    };
    assert_eq!(spec.image, "v2");
}

#[test]
fn a_fleet_refuses_a_missing_or_unavailable_image() {
    let mut cp = plane();
    running_fleet(&mut cp, 1);
    cp.put_image(Image {
        name: "building".into(),
        state: ImageState::Pending,
        ..default_image(at(0), vec![])
    });
    for (image, code) in [
        ("missing", "ResourceNotFoundException"),
        ("building", "ResourceNotAvailableException"),
    ] {
        let input = json!({"Name": "fleet", "ImageName": image});
        assert_eq!(error(&mut cp, "UpdateFleet", input, at(1)), code, "{image}");
    }
    assert_eq!(
        fleet_state(&mut cp, "fleet")["ImageName"],
        "porthole-default"
    );
}

#[test]
fn copy_image_shares_the_catalog_and_outlives_its_source() {
    let mut cp = plane();
    call(
        &mut cp,
        "TagResource",
        json!({"ResourceArn": format!("{IMAGE_ARN}porthole-default"), "Tags": {"team": "a"}}),
        at(0),
    );
    let out = call(&mut cp, "CopyImage", copy("porthole-default", "v2"), at(1));
    assert_eq!(out, json!({"DestinationImageName": "v2"}));
    let images = call(
        &mut cp,
        "DescribeImages",
        json!({"Names": ["porthole-default", "v2"]}),
        at(1),
    );
    let (source, copy_doc) = (&images["Images"][0], &images["Images"][1]);
    assert_eq!(copy_doc["Arn"], format!("{IMAGE_ARN}v2"));
    assert_eq!(copy_doc["Description"], "a copy");
    assert_eq!(copy_doc["State"], "AVAILABLE");
    assert_eq!(copy_doc["Visibility"], "PRIVATE");
    assert_eq!(copy_doc["Applications"], source["Applications"]);
    let tags = call(
        &mut cp,
        "ListTagsForResource",
        json!({"ResourceArn": format!("{IMAGE_ARN}v2")}),
        at(1),
    );
    assert_eq!(tags["Tags"], json!({}), "tags are not copied");

    call(
        &mut cp,
        "DeleteImage",
        json!({"Name": "porthole-default"}),
        at(2),
    );
    let root = cp.image("v2").unwrap().root.clone();
    assert!(cp.image_root_in_use(&root));

    for (input, code) in [
        (copy("v2", "v2"), "ResourceAlreadyExistsException"),
        (copy("porthole-default", "v3"), "ResourceNotFoundException"),
        (
            json!({"SourceImageName": "v2", "DestinationImageName": "v3",
                "DestinationRegion": "eu-west-1"}),
            "InvalidParameterCombinationException",
        ),
    ] {
        assert_eq!(
            error(&mut cp, "CopyImage", input.clone(), at(3)),
            code,
            "{input}"
        );
    }
}

#[test]
fn image_permissions_are_updated_described_and_deleted() {
    let mut cp = plane();
    let share = |account: &str, fleet: bool| {
        json!({"Name": "porthole-default", "SharedAccountId": account,
            "ImagePermissions": {"allowFleet": fleet, "allowImageBuilder": true}})
    };
    let described = |cp: &mut porthole_control::ControlPlane, input: serde_json::Value| {
        call(cp, "DescribeImagePermissions", input, at(1))
    };
    assert_eq!(
        call(
            &mut cp,
            "UpdateImagePermissions",
            share("111111111111", true),
            at(1)
        ),
        json!({})
    );
    call(
        &mut cp,
        "UpdateImagePermissions",
        share("222222222222", true),
        at(1),
    );
    call(
        &mut cp,
        "UpdateImagePermissions",
        share("111111111111", false),
        at(1),
    );

    let first = described(
        &mut cp,
        json!({"Name": "porthole-default", "MaxResults": 1}),
    );
    assert_eq!(first["Name"], "porthole-default");
    assert_eq!(
        first["SharedImagePermissionsList"],
        json!([{"sharedAccountId": "111111111111",
            "imagePermissions": {"allowFleet": false, "allowImageBuilder": true}}])
    );
    let token = first["NextToken"].as_str().unwrap();
    let second = described(
        &mut cp,
        json!({"Name": "porthole-default", "MaxResults": 1, "NextToken": token}),
    );
    assert_eq!(
        second["SharedImagePermissionsList"][0]["sharedAccountId"],
        "222222222222"
    );
    assert!(second.get("NextToken").is_none());
    let filtered = described(
        &mut cp,
        json!({"Name": "porthole-default", "SharedAwsAccountIds": ["222222222222", "333333333333"]}),
    );
    assert_eq!(
        filtered["SharedImagePermissionsList"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let images = call(&mut cp, "DescribeImages", json!({"Type": "SHARED"}), at(1));
    assert_eq!(
        images["Images"],
        json!([]),
        "shared only for the other account"
    );

    let unshare = json!({"Name": "porthole-default", "SharedAccountId": "111111111111"});
    assert_eq!(
        call(&mut cp, "DeleteImagePermissions", unshare.clone(), at(2)),
        json!({})
    );
    assert_eq!(
        error(&mut cp, "DeleteImagePermissions", unshare, at(2)),
        "ResourceNotFoundException"
    );
    let rest = described(&mut cp, json!({"Name": "porthole-default"}));
    assert_eq!(
        rest["SharedImagePermissionsList"].as_array().unwrap().len(),
        1
    );

    let missing = json!({"Name": "missing"});
    assert_eq!(
        error(&mut cp, "DescribeImagePermissions", missing, at(3)),
        "ResourceNotFoundException"
    );
    assert_eq!(
        error(
            &mut cp,
            "UpdateImagePermissions",
            share("123456789012", true),
            at(3)
        ),
        "ValidationException"
    );
}

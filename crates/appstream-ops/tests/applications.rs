//! App blocks and applications through their AWS-shaped operations, and
//! their associations with fleets.

mod common;

use common::*;
use porthole_control::ControlPlane;
use serde_json::{json, Value};

const ACCOUNT: &str = "arn:aws:appstream:us-east-1:123456789012";

fn plane_with_fleet() -> ControlPlane {
    let mut cp = plane();
    fleet_and_stack(
        &mut cp,
        json!({"Name": "fleet", "ImageName": "porthole-default", "InstanceType": "stream.standard.small",
               "FleetType": "ON_DEMAND", "ComputeCapacity": {"DesiredInstances": 1}}),
    );
    cp
}

fn block(name: &str) -> Value {
    json!({"Name": name, "SourceS3Location": {"S3Bucket": "bucket", "S3Key": "app.vhdx"},
           "SetupScriptDetails": {"ScriptS3Location": {"S3Bucket": "bucket", "S3Key": "setup.sh"},
                                  "ExecutablePath": "/bin/sh", "TimeoutInSeconds": 60}})
}

fn application(name: &str) -> Value {
    json!({"Name": name, "IconS3Location": {"S3Bucket": "bucket", "S3Key": "icon.png"},
           "LaunchPath": "/usr/bin/xterm", "LaunchParameters": "-title term",
           "Platforms": ["AMAZON_LINUX2"], "InstanceFamilies": ["GENERAL_PURPOSE"],
           "AppBlockArn": format!("{ACCOUNT}:app-block/block")})
}

fn association(app: &str) -> Value {
    json!({"FleetName": "fleet", "ApplicationArn": format!("{ACCOUNT}:application/{app}")})
}

#[test]
fn an_app_block_is_created_described_and_deleted() {
    let mut cp = plane_with_fleet();
    let created = call(&mut cp, "CreateAppBlock", block("block"), at(1));
    let b = &created["AppBlock"];
    assert_eq!(b["Arn"], format!("{ACCOUNT}:app-block/block"));
    assert_eq!(b["PackagingType"], "CUSTOM");
    assert_eq!(b["State"], "ACTIVE");
    assert_eq!(b["SetupScriptDetails"]["ExecutablePath"], "/bin/sh");
    assert_eq!(b["CreatedTime"], (T0 + 1) as f64);

    let packaged = json!({"Name": "packaged", "PackagingType": "APPSTREAM2",
                          "SourceS3Location": {"S3Bucket": "bucket"}});
    let created = call(&mut cp, "CreateAppBlock", packaged, at(1));
    assert_eq!(created["AppBlock"]["State"], "INACTIVE");

    let all = call(&mut cp, "DescribeAppBlocks", json!({}), at(2));
    assert_eq!(all["AppBlocks"].as_array().unwrap().len(), 2);
    let one = call(
        &mut cp,
        "DescribeAppBlocks",
        json!({"Arns": [format!("{ACCOUNT}:app-block/packaged")]}),
        at(2),
    );
    assert_eq!(one["AppBlocks"][0]["Name"], "packaged");
    assert_eq!(
        error(
            &mut cp,
            "DescribeAppBlocks",
            json!({"Arns": [format!("{ACCOUNT}:application/packaged")]}),
            at(2)
        ),
        "ResourceNotFoundException"
    );

    call(
        &mut cp,
        "DeleteAppBlock",
        json!({"Name": "packaged"}),
        at(3),
    );
    assert_eq!(
        error(
            &mut cp,
            "DeleteAppBlock",
            json!({"Name": "packaged"}),
            at(3)
        ),
        "ResourceNotFoundException"
    );
}

#[test]
fn an_application_needs_its_app_block_and_keeps_it_in_use() {
    let mut cp = plane_with_fleet();
    assert_eq!(
        error(&mut cp, "CreateApplication", application("term"), at(1)),
        "ResourceNotFoundException"
    );
    call(&mut cp, "CreateAppBlock", block("block"), at(1));
    let created = call(&mut cp, "CreateApplication", application("term"), at(1));
    let a = &created["Application"];
    assert_eq!(a["Arn"], format!("{ACCOUNT}:application/term"));
    assert_eq!(a["AppBlockArn"], format!("{ACCOUNT}:app-block/block"));
    assert_eq!(a["DisplayName"], "term");
    assert_eq!(a["Enabled"], true);
    assert_eq!(a["Platforms"], json!(["AMAZON_LINUX2"]));
    assert_eq!(
        error(&mut cp, "CreateApplication", application("term"), at(1)),
        "ResourceAlreadyExistsException"
    );
    assert_eq!(
        error(&mut cp, "DeleteAppBlock", json!({"Name": "block"}), at(2)),
        "ResourceInUseException"
    );

    let updated = call(
        &mut cp,
        "UpdateApplication",
        json!({"Name": "term", "DisplayName": "Terminal", "AttributesToDelete": ["LAUNCH_PARAMETERS"]}),
        at(3),
    );
    assert_eq!(updated["Application"]["DisplayName"], "Terminal");
    assert!(updated["Application"].get("LaunchParameters").is_none());
    assert_eq!(
        error(
            &mut cp,
            "UpdateApplication",
            json!({"Name": "nope", "DisplayName": "x"}),
            at(3)
        ),
        "ResourceNotFoundException"
    );

    let described = call(
        &mut cp,
        "DescribeApplications",
        json!({"Arns": [format!("{ACCOUNT}:application/term")]}),
        at(4),
    );
    assert_eq!(described["Applications"][0]["DisplayName"], "Terminal");

    call(&mut cp, "DeleteApplication", json!({"Name": "term"}), at(5));
    call(&mut cp, "DeleteAppBlock", json!({"Name": "block"}), at(5));
}

#[test]
fn associations_follow_fleets_and_block_deletes() {
    let mut cp = plane_with_fleet();
    call(&mut cp, "CreateAppBlock", block("block"), at(1));
    call(&mut cp, "CreateApplication", application("term"), at(1));
    let mut unknown_fleet = association("term");
    unknown_fleet["FleetName"] = json!("nope");
    assert_eq!(
        error(&mut cp, "AssociateApplicationFleet", unknown_fleet, at(2)),
        "ResourceNotFoundException"
    );
    assert_eq!(
        error(
            &mut cp,
            "AssociateApplicationFleet",
            association("nope"),
            at(2)
        ),
        "ResourceNotFoundException"
    );
    let associated = call(
        &mut cp,
        "AssociateApplicationFleet",
        association("term"),
        at(2),
    );
    assert_eq!(
        associated["ApplicationFleetAssociation"],
        association("term")
    );
    assert_eq!(
        error(&mut cp, "DeleteApplication", json!({"Name": "term"}), at(3)),
        "ResourceInUseException"
    );

    let by_fleet = call(
        &mut cp,
        "DescribeApplicationFleetAssociations",
        json!({"FleetName": "fleet"}),
        at(3),
    );
    assert_eq!(
        by_fleet["ApplicationFleetAssociations"],
        json!([association("term")])
    );
    assert_eq!(
        error(
            &mut cp,
            "DescribeApplicationFleetAssociations",
            json!({}),
            at(3)
        ),
        "InvalidParameterCombinationException"
    );
    // Entitlements see the application as one of the stack's.
    call(
        &mut cp,
        "CreateEntitlement",
        json!({"Name": "eng", "StackName": "stack", "AppVisibility": "ASSOCIATED",
               "Attributes": [{"Name": "groups", "Value": "eng"}]}),
        at(3),
    );
    call(
        &mut cp,
        "AssociateApplicationToEntitlement",
        json!({"StackName": "stack", "EntitlementName": "eng", "ApplicationIdentifier": "term"}),
        at(3),
    );

    call(
        &mut cp,
        "DisassociateApplicationFleet",
        association("term"),
        at(4),
    );
    call(
        &mut cp,
        "DisassociateApplicationFleet",
        association("term"),
        at(4),
    );
    let by_app = call(
        &mut cp,
        "DescribeApplicationFleetAssociations",
        json!({"ApplicationArn": format!("{ACCOUNT}:application/term")}),
        at(4),
    );
    assert_eq!(by_app["ApplicationFleetAssociations"], json!([]));
    call(&mut cp, "DeleteApplication", json!({"Name": "term"}), at(5));
}

#[test]
fn app_blocks_and_applications_carry_tags() {
    let mut cp = plane_with_fleet();
    let mut tagged = block("block");
    tagged["Tags"] = json!({"team": "a"});
    call(&mut cp, "CreateAppBlock", tagged, at(1));
    let arn = format!("{ACCOUNT}:app-block/block");
    call(
        &mut cp,
        "TagResource",
        json!({"ResourceArn": arn, "Tags": {"env": "test"}}),
        at(2),
    );
    let tags = call(
        &mut cp,
        "ListTagsForResource",
        json!({"ResourceArn": arn}),
        at(2),
    );
    assert_eq!(tags["Tags"], json!({"team": "a", "env": "test"}));
}

//! Operation shapes, semantic rules and the error kind of each misuse.

mod common;
use common::*;
use porthole_control::default_image;
use serde_json::{json, Value};

fn fleet(name: &str, extra: Value) -> Value {
    let mut f = json!({"Name": name, "ImageName": "porthole-default",
        "InstanceType": "stream.standard.small", "FleetType": "ALWAYS_ON",
        "ComputeCapacity": {"DesiredInstances": 1}});
    for (k, v) in extra.as_object().unwrap() {
        f[k] = v.clone();
    }
    f
}

#[test]
fn misuse_maps_to_aws_exceptions() {
    let mut cp = plane();
    fleet_and_stack(&mut cp, fleet("f", json!({})));
    call(&mut cp, "CreateFleet", fleet("g", json!({})), at(0));
    call(&mut cp, "CreateStack", json!({"Name": "other"}), at(0));
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "CreateFleet",
            fleet("f", json!({})),
            "ResourceAlreadyExistsException",
        ),
        (
            "CreateFleet",
            fleet("x", json!({"InstanceType": "stream.bogus.large"})),
            "ValidationException",
        ),
        (
            "CreateFleet",
            fleet("x", json!({"ImageName": "nope"})),
            "ResourceNotFoundException",
        ),
        (
            "CreateFleet",
            fleet(
                "x",
                json!({"ImageArn": "arn:aws:appstream:us-east-1:123456789012:image/porthole-default"}),
            ),
            "InvalidParameterCombinationException",
        ),
        (
            "CreateFleet",
            fleet(
                "x",
                json!({"FleetType": "ELASTIC", "MaxConcurrentSessions": 2}),
            ),
            "InvalidParameterCombinationException",
        ),
        (
            "CreateFleet",
            fleet("x", json!({"MaxConcurrentSessions": 2})),
            "InvalidParameterCombinationException",
        ),
        (
            "CreateFleet",
            fleet("x", json!({"ComputeCapacity": {"DesiredSessions": 2}})),
            "InvalidParameterCombinationException",
        ),
        (
            "CreateFleet",
            fleet("x", json!({"ComputeCapacity": null})),
            "InvalidParameterCombinationException",
        ),
        (
            "CreateFleet",
            fleet("x", json!({"ComputeCapacity": {"DesiredInstances": 101}})),
            "LimitExceededException",
        ),
        (
            "CreateFleet",
            fleet("x", json!({"IdleDisconnectTimeoutInSeconds": 30})),
            "ValidationException",
        ),
        (
            "CreateFleet",
            fleet("x", json!({"MaxSessionsPerInstance": 4})),
            "InvalidParameterCombinationException",
        ),
        (
            "StartFleet",
            json!({"Name": "nope"}),
            "ResourceNotFoundException",
        ),
        (
            "DeleteStack",
            json!({"Name": "stack"}),
            "ResourceInUseException",
        ),
        (
            "AssociateFleet",
            json!({"FleetName": "g", "StackName": "stack"}),
            "LimitExceededException",
        ),
        (
            "DisassociateFleet",
            json!({"FleetName": "g", "StackName": "stack"}),
            "ResourceNotFoundException",
        ),
        (
            "CreateStack",
            json!({"Name": "stack"}),
            "ResourceAlreadyExistsException",
        ),
        (
            "CreateStack",
            json!({"Name": "s2", "UserSettings": [{"Action": "FILE_UPLOAD", "Permission": "ENABLED", "MaximumLength": 5}]}),
            "InvalidParameterCombinationException",
        ),
        (
            "CreateStreamingURL",
            json!({"StackName": "stack", "FleetName": "f", "UserId": "u"}),
            "ResourceNotAvailableException",
        ),
        (
            "CreateStreamingURL",
            json!({"StackName": "other", "FleetName": "f", "UserId": "u"}),
            "InvalidParameterCombinationException",
        ),
        (
            "CreateStreamingURL",
            json!({"StackName": "nope", "FleetName": "f", "UserId": "u"}),
            "ResourceNotFoundException",
        ),
        (
            "DescribeSessions",
            json!({"StackName": "stack", "FleetName": "f", "Limit": 51}),
            "ValidationException",
        ),
        (
            "DescribeFleets",
            json!({"NextToken": "zz"}),
            "ValidationException",
        ),
        (
            "DescribeImages",
            json!({"Names": ["porthole-default"], "Arns": []}),
            "InvalidParameterCombinationException",
        ),
        (
            "DescribeImages",
            json!({"Names": ["nope"]}),
            "ResourceNotFoundException",
        ),
        (
            "ExpireSession",
            json!({"SessionId": "nope"}),
            "ResourceNotFoundException",
        ),
        (
            "ListTagsForResource",
            json!({"ResourceArn": "arn:aws:appstream:us-east-1:123456789012:fleet/nope"}),
            "ResourceNotFoundException",
        ),
        (
            "CreateAppBlockBuilder",
            json!({}),
            "OperationNotPermittedException",
        ),
    ];
    for (op, input, code) in cases {
        assert_eq!(
            error(&mut cp, op, input.clone(), at(1)),
            code,
            "{op} {input}"
        );
    }
}

#[test]
fn running_fleet_rules_for_streaming_and_updates() {
    let mut cp = plane();
    fleet_and_stack(&mut cp, fleet("f", json!({"StreamView": "APP"})));
    call(&mut cp, "StartFleet", json!({"Name": "f"}), at(0));
    assert_eq!(
        error(&mut cp, "StartFleet", json!({"Name": "f"}), at(0)),
        "OperationNotPermittedException"
    );
    assert_eq!(
        error(
            &mut cp,
            "UpdateFleet",
            json!({"Name": "f", "DisplayName": "x"}),
            at(0)
        ),
        "ConcurrentModificationException",
        "STARTING"
    );
    let id = launched(&cp.take_effects())[0].clone();
    cp.instance_ready(&id, at(1)).unwrap();

    let url = |app: Value, validity: Value| json!({"StackName": "stack", "FleetName": "f", "UserId": "u", "ApplicationId": app, "Validity": validity});
    assert_eq!(
        error(
            &mut cp,
            "CreateStreamingURL",
            url(json!("Desktop"), json!(60)),
            at(2)
        ),
        "InvalidParameterCombinationException"
    );
    assert_eq!(
        error(
            &mut cp,
            "CreateStreamingURL",
            url(json!("gimp"), json!(60)),
            at(2)
        ),
        "ResourceNotFoundException"
    );
    assert_eq!(
        error(
            &mut cp,
            "CreateStreamingURL",
            url(json!("xterm"), json!(0)),
            at(2)
        ),
        "ValidationException"
    );
    assert_eq!(
        error(
            &mut cp,
            "CreateStreamingURL",
            url(json!("xterm"), json!(604_801)),
            at(2)
        ),
        "ValidationException"
    );
    let input = url(json!("xterm"), Value::Null);
    let Ok(porthole_appstream_ops::Outcome::StreamingUrl(g)) =
        porthole_appstream_ops::APPSTREAM.call(&mut cp, "CreateStreamingURL", &input, at(2))
    else {
        panic!("no grant")
    };
    assert_eq!(g.expires, at(62), "default validity is 60 s");
    assert_eq!(
        porthole_appstream_ops::streaming_url_output("https://h/s?t=1", &g),
        json!({"StreamingURL": "https://h/s?t=1", "Expires": (T0 + 62) as f64})
    );
    assert_eq!(
        cp.open_session(&g, at(62)).unwrap_err().aws_code(),
        "OperationNotPermittedException"
    );

    for member in [
        json!({"InstanceType": "stream.standard.large"}),
        json!({"Description": "d"}),
        json!({"AttributesToDelete": ["VPC_CONFIGURATION"]}),
    ] {
        let mut input = member.clone();
        input["Name"] = json!("f");
        assert_eq!(
            error(&mut cp, "UpdateFleet", input, at(3)),
            "OperationNotPermittedException",
            "{member}"
        );
    }
    let out = call(
        &mut cp,
        "UpdateFleet",
        json!({"Name": "f", "ComputeCapacity": {"DesiredInstances": 3}, "DisconnectTimeoutInSeconds": 120}),
        at(3),
    );
    assert_eq!(out["Fleet"]["ComputeCapacityStatus"]["Desired"], 3);
    assert_eq!(out["Fleet"]["DisconnectTimeoutInSeconds"], 120);
    assert_eq!(
        launched(&cp.take_effects()).len(),
        2,
        "capacity follows at once"
    );
}

#[test]
fn image_change_replaces_free_instances_only() {
    let mut cp = plane();
    let mut second = porthole_control::default_image(at(0), vec![]);
    second.name = "second".into();
    cp.put_image(second);
    fleet_and_stack(
        &mut cp,
        fleet("f", json!({"ComputeCapacity": {"DesiredInstances": 2}})),
    );
    call(&mut cp, "StartFleet", json!({"Name": "f"}), at(0));
    let ids = launched(&cp.take_effects());
    for id in &ids {
        cp.instance_ready(id, at(0)).unwrap();
    }
    let (s, _) = open(&mut cp, "f", "alice", at(1)).unwrap();
    call(
        &mut cp,
        "UpdateFleet",
        json!({"Name": "f", "ImageName": "second"}),
        at(2),
    );
    let effects = cp.take_effects();
    let busy = s.instance_id.unwrap();
    let free: Vec<_> = ids.into_iter().filter(|i| *i != busy).collect();
    assert_eq!(terminated(&effects), free);
    let porthole_control::Effect::LaunchInstance(spec) = &effects[1] else {
        panic!("{effects:?}")
    };
    assert_eq!(spec.image, "second");
}

#[test]
fn stopped_fleet_updates_anything_and_deletes_attributes() {
    let mut cp = plane();
    call(
        &mut cp,
        "CreateFleet",
        fleet(
            "f",
            json!({"VpcConfig": {"SubnetIds": ["s-1"]}, "Description": "d", "Tags": {"team": "a"}}),
        ),
        at(0),
    );
    let out = call(
        &mut cp,
        "UpdateFleet",
        json!({"Name": "f", "InstanceType": "stream.compute.large", "AttributesToDelete": ["VPC_CONFIGURATION"], "DisplayName": "F"}),
        at(1),
    );
    let f = &out["Fleet"];
    assert_eq!(f["InstanceType"], "stream.compute.large");
    assert_eq!(f["DisplayName"], "F");
    assert_eq!(f["Description"], "d");
    assert!(f.get("VpcConfig").is_none());
    assert_eq!(f["FleetType"], "ALWAYS_ON");
    assert_eq!(f["MaxUserDurationInSeconds"], 57600);
    assert_eq!(f["DisconnectTimeoutInSeconds"], 900);
    assert_eq!(f["IdleDisconnectTimeoutInSeconds"], 0);
    assert_eq!(f["StreamView"], "APP");
    assert_eq!(f["EnableDefaultInternetAccess"], false);
    assert_eq!(f["Platform"], "AMAZON_LINUX2");
    assert_eq!(f["CreatedTime"], json!(T0 as f64));
    assert_eq!(f["FleetErrors"], json!([]));
}

#[test]
fn describe_fleets_paginates() {
    let mut cp = plane();
    for i in 0..30 {
        call(
            &mut cp,
            "CreateFleet",
            fleet(&format!("f{i:02}"), json!({})),
            at(0),
        );
    }
    let first = call(&mut cp, "DescribeFleets", json!({}), at(0));
    assert_eq!(first["Fleets"].as_array().unwrap().len(), 25);
    let token = first["NextToken"].as_str().unwrap().to_owned();
    let second = call(
        &mut cp,
        "DescribeFleets",
        json!({"NextToken": token}),
        at(0),
    );
    let names: Vec<_> = second["Fleets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["Name"].clone())
        .collect();
    assert_eq!(
        names,
        vec![
            json!("f25"),
            json!("f26"),
            json!("f27"),
            json!("f28"),
            json!("f29")
        ]
    );
    assert!(second.get("NextToken").is_none());
}

#[test]
fn describe_sessions_filters_and_pages() {
    let mut cp = plane();
    fleet_and_stack(
        &mut cp,
        fleet("f", json!({"ComputeCapacity": {"DesiredInstances": 3}})),
    );
    call(&mut cp, "StartFleet", json!({"Name": "f"}), at(0));
    for id in launched(&cp.take_effects()) {
        cp.instance_ready(&id, at(0)).unwrap();
    }
    for (i, user) in ["a", "b", "c"].iter().enumerate() {
        open(&mut cp, "f", user, at(i as u64)).unwrap();
    }
    let base = json!({"StackName": "stack", "FleetName": "f"});
    let page = call(
        &mut cp,
        "DescribeSessions",
        json!({"StackName": "stack", "FleetName": "f", "Limit": 2}),
        at(5),
    );
    let users: Vec<_> = page["Sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["UserId"].clone())
        .collect();
    assert_eq!(users, vec![json!("a"), json!("b")]);
    let mut next = base.clone();
    next["NextToken"] = page["NextToken"].clone();
    let rest = call(&mut cp, "DescribeSessions", next, at(5));
    assert_eq!(rest["Sessions"][0]["UserId"], "c");
    let only_b = call(
        &mut cp,
        "DescribeSessions",
        json!({"StackName": "stack", "FleetName": "f", "UserId": "b"}),
        at(5),
    );
    assert_eq!(only_b["Sessions"].as_array().unwrap().len(), 1);
    let saml = call(
        &mut cp,
        "DescribeSessions",
        json!({"StackName": "stack", "FleetName": "f", "AuthenticationType": "SAML"}),
        at(5),
    );
    assert_eq!(saml["Sessions"], json!([]));
}

#[test]
fn stacks_images_associations_and_tags() {
    let mut cp = plane();
    call(&mut cp, "CreateFleet", fleet("f", json!({})), at(0));
    let out = call(
        &mut cp,
        "CreateStack",
        json!({"Name": "s", "UserSettings": [{"Action": "FILE_DOWNLOAD", "Permission": "DISABLED"}],
               "StorageConnectors": [{"ConnectorType": "HOMEFOLDERS"}], "EmbedHostDomains": ["example.com"],
               "StreamingExperienceSettings": {"PreferredProtocol": "TCP"}}),
        at(0),
    );
    let s = &out["Stack"];
    assert_eq!(s["Arn"], "arn:aws:appstream:us-east-1:123456789012:stack/s");
    assert_eq!(s["UserSettings"].as_array().unwrap().len(), 5);
    assert!(s["UserSettings"]
        .as_array()
        .unwrap()
        .contains(&json!({"Action": "FILE_DOWNLOAD", "Permission": "DISABLED"})));
    assert_eq!(
        s["StorageConnectors"],
        json!([{"ConnectorType": "HOMEFOLDERS"}])
    );
    assert_eq!(
        s["StreamingExperienceSettings"],
        json!({"PreferredProtocol": "TCP"})
    );
    assert!(cp.stack("s").unwrap().home_folders_enabled());

    let out = call(
        &mut cp,
        "UpdateStack",
        json!({"Name": "s", "AttributesToDelete": ["STORAGE_CONNECTOR_HOMEFOLDERS", "STREAMING_EXPERIENCE_SETTINGS"],
               "UserSettings": [{"Action": "FILE_DOWNLOAD", "Permission": "ENABLED"}]}),
        at(1),
    );
    assert_eq!(out["Stack"]["StorageConnectors"], json!([]));
    assert!(out["Stack"].get("StreamingExperienceSettings").is_none());
    assert!(cp.stack("s").unwrap().permits("FILE_DOWNLOAD"));

    call(
        &mut cp,
        "AssociateFleet",
        json!({"FleetName": "f", "StackName": "s"}),
        at(2),
    );
    call(
        &mut cp,
        "AssociateFleet",
        json!({"FleetName": "f", "StackName": "s"}),
        at(2),
    );
    assert_eq!(
        call(
            &mut cp,
            "ListAssociatedStacks",
            json!({"FleetName": "f"}),
            at(2)
        ),
        json!({"Names": ["s"]})
    );
    assert_eq!(
        call(
            &mut cp,
            "ListAssociatedFleets",
            json!({"StackName": "s"}),
            at(2)
        ),
        json!({"Names": ["f"]})
    );

    let images = call(&mut cp, "DescribeImages", json!({"Type": "PRIVATE"}), at(2));
    let image = &images["Images"][0];
    assert_eq!(image["Name"], "porthole-default");
    assert_eq!(image["State"], "AVAILABLE");
    assert_eq!(image["Applications"][0]["LaunchPath"], "/usr/bin/xterm");
    assert_eq!(
        call(&mut cp, "DescribeImages", json!({"Type": "PUBLIC"}), at(2))["Images"],
        json!([])
    );
    let by_arn = call(
        &mut cp,
        "DescribeImages",
        json!({"Arns": ["arn:aws:appstream:us-east-1:123456789012:image/porthole-default"]}),
        at(2),
    );
    assert_eq!(by_arn["Images"][0]["Name"], "porthole-default");

    let arn = "arn:aws:appstream:us-east-1:123456789012:stack/s";
    call(
        &mut cp,
        "TagResource",
        json!({"ResourceArn": arn, "Tags": {"a": "1", "b": ""}}),
        at(3),
    );
    call(
        &mut cp,
        "UntagResource",
        json!({"ResourceArn": arn, "TagKeys": ["a"]}),
        at(3),
    );
    assert_eq!(
        call(
            &mut cp,
            "ListTagsForResource",
            json!({"ResourceArn": arn}),
            at(3)
        ),
        json!({"Tags": {"b": ""}})
    );
    let many: serde_json::Map<String, Value> =
        (0..50).map(|i| (format!("k{i}"), json!("v"))).collect();
    assert_eq!(
        error(
            &mut cp,
            "TagResource",
            json!({"ResourceArn": arn, "Tags": many}),
            at(3)
        ),
        "LimitExceededException"
    );
}

#[test]
fn changes_track_documents_and_deletions() {
    let mut cp = plane();
    let first = cp.take_changes();
    assert_eq!(first.len(), 1);
    assert_eq!(
        (first[0].kind, first[0].key.as_str()),
        ("image", "porthole-default")
    );
    call(&mut cp, "CreateStack", json!({"Name": "s"}), at(0));
    call(&mut cp, "DeleteStack", json!({"Name": "s"}), at(0));
    let changes = cp.take_changes();
    assert_eq!(changes.len(), 1);
    assert_eq!(
        (
            changes[0].kind,
            changes[0].key.as_str(),
            changes[0].document.is_none()
        ),
        ("stack", "s", true)
    );
    assert!(cp.take_changes().is_empty());
}

#[test]
fn delete_image_removes_a_private_image_no_fleet_uses() {
    let mut cp = plane();
    cp.take_changes();
    call(
        &mut cp,
        "CreateFleet",
        json!({"Name": "f", "ImageName": "porthole-default", "InstanceType": "stream.standard.small",
               "ComputeCapacity": {"DesiredInstances": 1}}),
        at(0),
    );
    let in_use = json!({"Name": "porthole-default"});
    assert_eq!(
        error(&mut cp, "DeleteImage", in_use.clone(), at(1)),
        "ResourceInUseException"
    );
    call(&mut cp, "DeleteFleet", json!({"Name": "f"}), at(1));
    cp.take_changes();

    let deleted = call(&mut cp, "DeleteImage", in_use.clone(), at(2));
    assert_eq!(deleted["Image"]["Name"], "porthole-default");
    assert_eq!(deleted["Image"]["Applications"][0]["Name"], "xterm");
    let changes = cp.take_changes();
    assert_eq!(
        changes
            .iter()
            .map(|c| (c.kind, c.key.as_str(), c.document.is_none()))
            .collect::<Vec<_>>(),
        [("image", "porthole-default", true)]
    );
    assert_eq!(
        error(
            &mut cp,
            "DescribeImages",
            json!({"Names": ["porthole-default"]}),
            at(2)
        ),
        "ResourceNotFoundException"
    );
    assert_eq!(
        error(&mut cp, "DeleteImage", in_use, at(2)),
        "ResourceNotFoundException"
    );
}

#[test]
fn delete_image_refuses_an_image_that_is_not_private() {
    let mut cp = plane();
    let mut public = default_image(at(0), vec![]);
    public.name = "aws-image".into();
    public.visibility = porthole_control::image::Visibility::Public;
    cp.put_image(public);
    assert_eq!(
        error(&mut cp, "DeleteImage", json!({"Name": "aws-image"}), at(1)),
        "OperationNotPermittedException"
    );
    call(
        &mut cp,
        "DescribeImages",
        json!({"Names": ["aws-image"]}),
        at(1),
    );
}

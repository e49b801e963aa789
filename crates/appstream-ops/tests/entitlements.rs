//! Entitlements through their AWS-shaped operations, and the apps they let a
//! federated user with given attributes see.

mod common;

use common::*;
use porthole_control::entitlement::Attribute;
use porthole_control::ControlPlane;
use serde_json::json;

fn stack_with_fleet() -> ControlPlane {
    let mut cp = plane();
    fleet_and_stack(
        &mut cp,
        json!({"Name": "fleet", "ImageName": "porthole-default", "InstanceType": "stream.standard.small",
               "ComputeCapacity": {"DesiredInstances": 1}}),
    );
    cp
}

fn eng(visibility: &str) -> serde_json::Value {
    json!({"Name": "eng", "StackName": "stack", "AppVisibility": visibility,
           "Attributes": [{"Name": "groups", "Value": "eng"}]})
}

fn attr(name: &str, value: &str) -> Attribute {
    Attribute {
        name: name.into(),
        value: value.into(),
    }
}

#[test]
fn an_entitlement_lives_through_create_describe_update_and_delete() {
    let mut cp = stack_with_fleet();
    let created = call(&mut cp, "CreateEntitlement", eng("ALL"), at(1));
    assert_eq!(created["Entitlement"]["AppVisibility"], "ALL");
    assert_eq!(
        error(&mut cp, "CreateEntitlement", eng("ALL"), at(1)),
        "EntitlementAlreadyExistsException"
    );
    let mut bad = eng("ALL");
    bad["Name"] = json!("bad");
    bad["Attributes"] = json!([{"Name": "shoeSize", "Value": "42"}]);
    assert_eq!(
        error(&mut cp, "CreateEntitlement", bad, at(1)),
        "OperationNotPermittedException"
    );
    let mut no_stack = eng("ALL");
    no_stack["StackName"] = json!("nope");
    assert_eq!(
        error(&mut cp, "CreateEntitlement", no_stack, at(1)),
        "ResourceNotFoundException"
    );

    let updated = call(
        &mut cp,
        "UpdateEntitlement",
        json!({"Name": "eng", "StackName": "stack", "AppVisibility": "ASSOCIATED", "Description": "engineers"}),
        at(5),
    );
    assert_eq!(updated["Entitlement"]["AppVisibility"], "ASSOCIATED");
    assert_eq!(updated["Entitlement"]["LastModifiedTime"], (T0 + 5) as f64);
    let described = call(
        &mut cp,
        "DescribeEntitlements",
        json!({"StackName": "stack"}),
        at(5),
    );
    assert_eq!(described["Entitlements"][0]["Description"], "engineers");

    call(
        &mut cp,
        "DeleteEntitlement",
        json!({"Name": "eng", "StackName": "stack"}),
        at(6),
    );
    assert_eq!(
        error(
            &mut cp,
            "DescribeEntitlements",
            json!({"StackName": "stack", "Name": "eng"}),
            at(6)
        ),
        "EntitlementNotFoundException"
    );
}

#[test]
fn associated_apps_are_what_matching_users_see() {
    let mut cp = stack_with_fleet();
    call(&mut cp, "CreateEntitlement", eng("ASSOCIATED"), at(1));
    let app = |name: &str| json!({"StackName": "stack", "EntitlementName": "eng", "ApplicationIdentifier": name});
    assert_eq!(
        error(
            &mut cp,
            "AssociateApplicationToEntitlement",
            app("emacs"),
            at(1)
        ),
        "ResourceNotFoundException"
    );
    let listed = |cp: &mut ControlPlane| {
        call(
            cp,
            "ListEntitledApplications",
            json!({"StackName": "stack", "EntitlementName": "eng"}),
            at(1),
        )["EntitledApplications"]
            .clone()
    };
    assert_eq!(listed(&mut cp), json!([]));
    assert!(cp
        .apps_for_attributes("stack", &[attr("groups", "eng")])
        .is_empty());

    call(
        &mut cp,
        "AssociateApplicationToEntitlement",
        app("xterm"),
        at(1),
    );
    assert_eq!(listed(&mut cp), json!([{"ApplicationIdentifier": "xterm"}]));
    let eng_user = cp.apps_for_attributes("stack", &[attr("roles", "x"), attr("groups", "eng")]);
    assert_eq!(eng_user.into_iter().collect::<Vec<_>>(), ["xterm"]);
    assert!(
        cp.apps_for_attributes("stack", &[attr("groups", "sales")])
            .is_empty(),
        "a user matching no entitlement sees nothing"
    );

    call(
        &mut cp,
        "DisassociateApplicationFromEntitlement",
        app("xterm"),
        at(2),
    );
    assert_eq!(listed(&mut cp), json!([]));

    // Deleting the stack deletes its entitlements.
    call(
        &mut cp,
        "DisassociateFleet",
        json!({"FleetName": "fleet", "StackName": "stack"}),
        at(3),
    );
    call(&mut cp, "DeleteStack", json!({"Name": "stack"}), at(3));
    call(&mut cp, "CreateStack", json!({"Name": "stack"}), at(4));
    assert_eq!(
        call(
            &mut cp,
            "DescribeEntitlements",
            json!({"StackName": "stack"}),
            at(4)
        )["Entitlements"],
        json!([])
    );
}

/// A running fleet whose image has xterm and xclock, behind "stack".
fn running_two_app_stack() -> ControlPlane {
    let mut cp = plane();
    fleet_and_stack(
        &mut cp,
        json!({"Name": "fleet", "ImageName": "porthole-default", "InstanceType": "stream.standard.small",
               "FleetType": "ALWAYS_ON", "ComputeCapacity": {"DesiredInstances": 1}}),
    );
    let mut image = cp.image("porthole-default").unwrap().clone();
    let mut xclock = image.applications[0].clone();
    xclock.name = "xclock".into();
    xclock.launch_path = "/usr/bin/xclock".into();
    image.applications.push(xclock);
    cp.put_image(image);
    call(&mut cp, "StartFleet", json!({"Name": "fleet"}), at(1));
    let launches = launched(&cp.take_effects());
    cp.instance_ready(&launches[0], at(2)).unwrap();
    cp
}

#[test]
fn federated_users_see_and_launch_only_entitled_apps_and_everything_without_entitlements() {
    let mut cp = running_two_app_stack();
    let eng_user = vec![attr("groups", "eng")];
    let sales_user = vec![attr("groups", "sales")];
    assert_eq!(
        cp.apps_for_attributes("stack", &sales_user)
            .into_iter()
            .collect::<Vec<_>>(),
        ["xclock", "xterm"],
        "a stack without entitlements shows every app"
    );
    assert!(cp
        .federated_grant("sam", sales_user.clone(), "stack", Some("xclock"), at(3))
        .is_ok());

    call(&mut cp, "CreateEntitlement", eng("ASSOCIATED"), at(3));
    call(
        &mut cp,
        "AssociateApplicationToEntitlement",
        json!({"StackName": "stack", "EntitlementName": "eng", "ApplicationIdentifier": "xterm"}),
        at(3),
    );
    let refused = |cp: &ControlPlane, attributes: &[Attribute], app: Option<&str>| {
        cp.federated_grant("u", attributes.to_vec(), "stack", app, at(4))
            .unwrap_err()
            .kind
    };
    use porthole_control::ErrorKind::OperationNotPermitted;
    assert_eq!(
        refused(&cp, &eng_user, Some("xclock")),
        OperationNotPermitted
    );
    assert_eq!(
        refused(&cp, &sales_user, Some("xterm")),
        OperationNotPermitted
    );
    assert_eq!(
        refused(&cp, &sales_user, None),
        OperationNotPermitted,
        "no catalog of nothing"
    );
    assert_eq!(
        refused(&cp, &eng_user, Some("Desktop")),
        porthole_control::ErrorKind::InvalidParameterCombination,
        "an app fleet streams no desktop"
    );

    // The catalog grant opens; inside the session only xterm starts.
    let grant = cp
        .federated_grant("erin", eng_user.clone(), "stack", None, at(4))
        .unwrap();
    assert_eq!(
        grant.authentication_type,
        porthole_control::session::AuthenticationType::Saml
    );
    let (session, _) = cp.open_session(&grant, at(5)).unwrap();
    assert_eq!(session.attributes, eng_user);
    assert!(cp.app_launch(&session.id, "xterm").is_ok());
    assert_eq!(
        cp.app_launch(&session.id, "xclock"),
        Err(porthole_control::LaunchRefused::NotEntitled)
    );

    // A grant made before the entitlement lost xterm is refused when opened.
    let xterm = cp
        .federated_grant("erin", eng_user.clone(), "stack", Some("xterm"), at(6))
        .unwrap();
    call(
        &mut cp,
        "DisassociateApplicationFromEntitlement",
        json!({"StackName": "stack", "EntitlementName": "eng", "ApplicationIdentifier": "xterm"}),
        at(7),
    );
    assert_eq!(
        cp.open_session(&xterm, at(7)).unwrap_err().kind,
        OperationNotPermitted
    );
    assert_eq!(
        cp.app_launch(&session.id, "xterm"),
        Err(porthole_control::LaunchRefused::NotEntitled)
    );
}

//! The user pool through its AWS-shaped operations, and what it means for
//! streaming: welcome messages, portal grants, and disabled or deleted users.

mod common;

use common::*;
use porthole_control::session::AuthenticationType;
use porthole_control::{ControlPlane, Effect, EndReason, Mail};
use serde_json::{json, Value};

const ANA: &str = "ana@example.com";

fn create(cp: &mut ControlPlane, user: &str, extra: Value) {
    let mut input = json!({"UserName": user, "AuthenticationType": "USERPOOL"});
    input
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    call(cp, "CreateUser", input, at(0));
}

fn mails(effects: &[Effect]) -> Vec<(String, Mail)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::MailUser { user_name, mail } => Some((user_name.clone(), mail.clone())),
            _ => None,
        })
        .collect()
}

fn assign(cp: &mut ControlPlane, op: &str, stack: &str, user: &str, notify: bool) -> Value {
    call(
        cp,
        op,
        json!({"UserStackAssociations": [{"StackName": stack, "UserName": user,
               "AuthenticationType": "USERPOOL", "SendEmailNotification": notify}]}),
        at(0),
    )
}

/// A running ALWAYS_ON fleet of two instances behind "stack", and ANA assigned to it.
fn streaming_plane() -> ControlPlane {
    let mut cp = plane();
    fleet_and_stack(
        &mut cp,
        json!({"Name": "fleet", "ImageName": "porthole-default", "InstanceType": "stream.standard.small",
               "FleetType": "ALWAYS_ON", "ComputeCapacity": {"DesiredInstances": 2}}),
    );
    call(&mut cp, "StartFleet", json!({"Name": "fleet"}), at(0));
    for id in launched(&cp.take_effects()) {
        cp.instance_ready(&id, at(1)).unwrap();
    }
    create(&mut cp, ANA, json!({}));
    assign(&mut cp, "BatchAssociateUserStack", "stack", ANA, false);
    cp.take_effects();
    cp
}

#[test]
fn a_new_user_gets_a_welcome_unless_suppressed_and_resend_is_for_the_unconfirmed() {
    let mut cp = plane();
    create(&mut cp, ANA, json!({"FirstName": "Ana"}));
    assert_eq!(mails(&cp.take_effects()), [(ANA.to_owned(), Mail::Welcome)]);
    create(
        &mut cp,
        "bea@example.com",
        json!({"MessageAction": "SUPPRESS"}),
    );
    assert_eq!(mails(&cp.take_effects()), []);
    create(
        &mut cp,
        "bea@example.com",
        json!({"MessageAction": "RESEND"}),
    );
    assert_eq!(
        mails(&cp.take_effects()),
        [("bea@example.com".to_owned(), Mail::Welcome)]
    );

    cp.set_password(ANA, "$argon2id$chosen".into()).unwrap();
    let resend =
        json!({"UserName": ANA, "AuthenticationType": "USERPOOL", "MessageAction": "RESEND"});
    assert_eq!(
        error(&mut cp, "CreateUser", resend, at(1)),
        "OperationNotPermittedException"
    );
    let api_user = json!({"UserName": "c@example.com", "AuthenticationType": "API"});
    assert_eq!(
        error(&mut cp, "CreateUser", api_user, at(1)),
        "InvalidParameterCombinationException"
    );
    let user = &call(
        &mut cp,
        "DescribeUsers",
        json!({"AuthenticationType": "USERPOOL"}),
        at(1),
    )["Users"][0];
    assert_eq!(
        (&user["UserName"], &user["Status"], &user["FirstName"]),
        (&json!(ANA), &json!("CONFIRMED"), &json!("Ana"))
    );
}

#[test]
fn temporary_passwords_last_seven_days_and_a_chosen_one_replaces_them() {
    let mut cp = plane();
    create(&mut cp, ANA, json!({}));
    cp.set_temporary_password(ANA, "$argon2id$temp".into(), at(10))
        .unwrap();
    let temporary = cp.user(ANA).unwrap().temporary_password.clone().unwrap();
    assert_eq!(temporary.expires, at(10 + 7 * 24 * 3600));
    cp.set_password(ANA, "$argon2id$chosen".into()).unwrap();
    let user = cp.user(ANA).unwrap();
    assert_eq!(user.temporary_password, None);
    assert_eq!(user.password_hash.as_deref(), Some("$argon2id$chosen"));
}

#[test]
fn batches_answer_each_pair_they_could_not_make_and_notify_on_request() {
    let mut cp = streaming_plane();
    let out = call(
        &mut cp,
        "BatchAssociateUserStack",
        json!({"UserStackAssociations": [
            {"StackName": "nope", "UserName": ANA, "AuthenticationType": "USERPOOL"},
            {"StackName": "stack", "UserName": "zoe@example.com", "AuthenticationType": "USERPOOL"},
        ]}),
        at(2),
    );
    let codes: Vec<_> = out["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["ErrorCode"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(codes, ["STACK_NOT_FOUND", "USER_NAME_NOT_FOUND"]);

    call(&mut cp, "CreateStack", json!({"Name": "second"}), at(2));
    assign(&mut cp, "BatchAssociateUserStack", "second", ANA, true);
    assert_eq!(
        mails(&cp.take_effects()),
        [(
            ANA.to_owned(),
            Mail::StackAssigned {
                stack: "second".into()
            }
        )]
    );
    let of_user = json!({"UserName": ANA, "AuthenticationType": "USERPOOL"});
    let listed = call(
        &mut cp,
        "DescribeUserStackAssociations",
        of_user.clone(),
        at(2),
    );
    assert_eq!(listed["UserStackAssociations"].as_array().unwrap().len(), 2);

    // A deleted stack is no longer assigned.
    call(&mut cp, "DeleteStack", json!({"Name": "second"}), at(3));
    let listed = call(&mut cp, "DescribeUserStackAssociations", of_user, at(3));
    assert_eq!(listed["UserStackAssociations"][0]["StackName"], "stack");
    assert_eq!(listed["UserStackAssociations"].as_array().unwrap().len(), 1);
}

#[test]
fn the_portal_grants_only_assigned_stacks_to_enabled_users() {
    let mut cp = streaming_plane();
    let grant = cp.user_grant(ANA, "stack", Some("xterm"), at(2)).unwrap();
    assert_eq!(grant.authentication_type, AuthenticationType::Userpool);
    assert_eq!(grant.fleet, "fleet");
    assert_eq!(
        cp.user_grant("zoe@example.com", "stack", None, at(2))
            .unwrap_err()
            .aws_code(),
        "OperationNotPermittedException"
    );
    call(&mut cp, "CreateStack", json!({"Name": "other"}), at(2));
    assert!(
        cp.user_grant(ANA, "other", None, at(2)).is_err(),
        "not assigned"
    );

    // A grant made before the user was disabled opens nothing after.
    let disable = json!({"UserName": ANA, "AuthenticationType": "USERPOOL"});
    call(&mut cp, "DisableUser", disable.clone(), at(3));
    assert!(cp.open_session(&grant, at(3)).is_err());
    call(&mut cp, "EnableUser", disable, at(4));
    let (session, _) = cp.open_session(&grant, at(4)).unwrap();
    assert_eq!(session.authentication_type, AuthenticationType::Userpool);
    let sessions = call(
        &mut cp,
        "DescribeSessions",
        json!({"StackName": "stack", "FleetName": "fleet", "AuthenticationType": "USERPOOL"}),
        at(4),
    );
    assert_eq!(sessions["Sessions"][0]["UserId"], ANA);
}

#[test]
fn disabling_or_deleting_a_user_ends_their_sessions_with_that_reason() {
    for (op, reason) in [
        ("DisableUser", EndReason::UserDisabled),
        ("DeleteUser", EndReason::UserDeleted),
    ] {
        let mut cp = streaming_plane();
        let grant = cp.user_grant(ANA, "stack", Some("xterm"), at(2)).unwrap();
        let (session, _) = cp.open_session(&grant, at(2)).unwrap();
        // A streaming-URL user of the same name is another identity.
        let (api_session, _) = open(&mut cp, "fleet", ANA, at(2)).unwrap();
        call(
            &mut cp,
            op,
            json!({"UserName": ANA, "AuthenticationType": "USERPOOL"}),
            at(3),
        );
        let ended: Vec<_> = cp
            .take_effects()
            .into_iter()
            .filter_map(|e| match e {
                Effect::EndSession {
                    session_id, reason, ..
                } => Some((session_id, reason)),
                _ => None,
            })
            .collect();
        assert_eq!(ended, [(session.id.clone(), reason)], "{op}");
        assert!(cp.session(&api_session.id).unwrap().is_live(), "{op}");
    }
}

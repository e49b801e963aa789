//! The user pool: CreateUser, DescribeUsers, DeleteUser, EnableUser,
//! DisableUser, BatchAssociateUserStack, BatchDisassociateUserStack and
//! DescribeUserStackAssociations.

use crate::page::Page;
use crate::{Empty, Operation};
use porthole_control::error::Result;
use porthole_control::session::AuthenticationType;
use porthole_control::user::{AssociationError, BatchErrors, StackAssignment};
use porthole_control::{ControlPlane, DomainError, Timestamp, User};
use serde::{Deserialize, Serialize};

pub(crate) const OPERATIONS: &[Operation] = &[
    op!(CreateUser => create_user),
    op!(DescribeUsers => describe_users),
    op!(DeleteUser => delete_user),
    op!(EnableUser => enable_user),
    op!(DisableUser => disable_user),
    op!(BatchAssociateUserStack => batch_associate_user_stack),
    op!(BatchDisassociateUserStack => batch_disassociate_user_stack),
    op!(DescribeUserStackAssociations => describe_user_stack_associations),
];

const USERS_PAGE: usize = 25;
const ASSOCIATIONS_PAGE: usize = 25;

// ---- inputs ----------------------------------------------------------------

#[derive(Deserialize, PartialEq)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
enum MessageAction {
    Suppress,
    Resend,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateUserInput {
    user_name: String,
    authentication_type: AuthenticationType,
    message_action: Option<MessageAction>,
    first_name: Option<String>,
    last_name: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DescribeUsersInput {
    authentication_type: AuthenticationType,
    max_results: Option<usize>,
    next_token: Option<String>,
}

/// DeleteUser, EnableUser and DisableUser.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UserInput {
    user_name: String,
    authentication_type: AuthenticationType,
}

#[derive(Deserialize, Serialize, Clone)]
#[serde(rename_all = "PascalCase")]
struct UserStackAssociation {
    stack_name: String,
    user_name: String,
    authentication_type: AuthenticationType,
    #[serde(skip_serializing_if = "Option::is_none")]
    send_email_notification: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct BatchUserStackInput {
    user_stack_associations: Vec<UserStackAssociation>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DescribeUserStackAssociationsInput {
    stack_name: Option<String>,
    user_name: Option<String>,
    authentication_type: Option<AuthenticationType>,
    max_results: Option<usize>,
    next_token: Option<String>,
}

/// Only user-pool users live here: another type names no user of ours.
fn user_pool(authentication: AuthenticationType, user_name: &str) -> Result<()> {
    match authentication {
        AuthenticationType::Userpool => Ok(()),
        _ => Err(DomainError::not_found("user", user_name)),
    }
}

// ---- outputs ---------------------------------------------------------------

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct UserDoc {
    arn: String,
    user_name: String,
    enabled: bool,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    first_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_name: Option<String>,
    created_time: f64,
    authentication_type: AuthenticationType,
}

impl UserDoc {
    fn new(cp: &ControlPlane, user: &User) -> Self {
        let config = cp.config();
        Self {
            arn: format!(
                "arn:aws:appstream:{}:{}:user/userpool/{}",
                config.region, config.account, user.user_name
            ),
            user_name: user.user_name.clone(),
            enabled: user.enabled,
            status: user.status.as_str(),
            first_name: user.first_name.clone(),
            last_name: user.last_name.clone(),
            created_time: user.created_time.as_secs_f64(),
            authentication_type: AuthenticationType::Userpool,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct DescribeUsersOutput {
    users: Vec<UserDoc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct UserStackAssociationError {
    user_stack_association: UserStackAssociation,
    error_code: &'static str,
    error_message: String,
}

/// The model's member is lower-case here.
#[derive(Serialize)]
struct BatchUserStackOutput {
    errors: Vec<UserStackAssociationError>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct DescribeUserStackAssociationsOutput {
    user_stack_associations: Vec<UserStackAssociation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

// ---- operations ------------------------------------------------------------

fn create_user(cp: &mut ControlPlane, input: CreateUserInput, now: Timestamp) -> Result<Empty> {
    if input.authentication_type != AuthenticationType::Userpool {
        return Err(DomainError::combination(
            "CreateUser makes user-pool users: AuthenticationType must be USERPOOL.",
        ));
    }
    match input.message_action {
        Some(MessageAction::Resend) => {
            if input.first_name.is_some() || input.last_name.is_some() {
                return Err(DomainError::combination(
                    "With MessageAction RESEND, omit FirstName and LastName.",
                ));
            }
            cp.resend_welcome(&input.user_name)?;
        }
        action => cp.create_user(
            &input.user_name,
            input.first_name,
            input.last_name,
            action == Some(MessageAction::Suppress),
            now,
        )?,
    }
    Ok(Empty {})
}

fn describe_users(
    cp: &ControlPlane,
    input: DescribeUsersInput,
    _now: Timestamp,
) -> Result<DescribeUsersOutput> {
    let users = cp
        .users()
        .filter(|_| input.authentication_type == AuthenticationType::Userpool)
        .map(|u| (u.user_name.clone(), UserDoc::new(cp, u)));
    let limit = input.max_results.filter(|&n| n > 0).unwrap_or(USERS_PAGE);
    let page = Page::appstream(users, input.next_token.as_deref(), limit)?;
    Ok(DescribeUsersOutput {
        users: page.items,
        next_token: page.next_token,
    })
}

fn delete_user(cp: &mut ControlPlane, input: UserInput, now: Timestamp) -> Result<Empty> {
    user_pool(input.authentication_type, &input.user_name)?;
    cp.delete_user(&input.user_name, now)?;
    Ok(Empty {})
}

fn enable_user(cp: &mut ControlPlane, input: UserInput, now: Timestamp) -> Result<Empty> {
    user_pool(input.authentication_type, &input.user_name)?;
    cp.set_user_enabled(&input.user_name, true, now)?;
    Ok(Empty {})
}

fn disable_user(cp: &mut ControlPlane, input: UserInput, now: Timestamp) -> Result<Empty> {
    user_pool(input.authentication_type, &input.user_name)?;
    cp.set_user_enabled(&input.user_name, false, now)?;
    Ok(Empty {})
}

/// The pairs of a batch the domain takes, and the answer of those it refused.
fn run_batch(
    cp: &mut ControlPlane,
    input: BatchUserStackInput,
    apply: fn(&mut ControlPlane, &[StackAssignment]) -> Result<BatchErrors>,
) -> Result<BatchUserStackOutput> {
    let mut errors = Vec::new();
    let mut assignments = Vec::new();
    for association in &input.user_stack_associations {
        if association.authentication_type != AuthenticationType::Userpool {
            errors.push(UserStackAssociationError {
                user_stack_association: association.clone(),
                error_code: AssociationError::UserNameNotFound.code(),
                error_message: "Only user-pool users (USERPOOL) are assigned stacks.".into(),
            });
            continue;
        }
        assignments.push(StackAssignment {
            stack: association.stack_name.clone(),
            user_name: association.user_name.clone(),
            notify: association.send_email_notification.unwrap_or(false),
        });
    }
    for (a, error) in apply(cp, &assignments)? {
        let error_message = match error {
            AssociationError::StackNotFound => format!("The stack {} does not exist.", a.stack),
            AssociationError::UserNameNotFound => {
                format!("The user {} does not exist.", a.user_name)
            }
        };
        errors.push(UserStackAssociationError {
            user_stack_association: UserStackAssociation {
                stack_name: a.stack,
                user_name: a.user_name,
                authentication_type: AuthenticationType::Userpool,
                send_email_notification: Some(a.notify),
            },
            error_code: error.code(),
            error_message,
        });
    }
    Ok(BatchUserStackOutput { errors })
}

fn batch_associate_user_stack(
    cp: &mut ControlPlane,
    input: BatchUserStackInput,
    _now: Timestamp,
) -> Result<BatchUserStackOutput> {
    run_batch(cp, input, ControlPlane::associate_users)
}

fn batch_disassociate_user_stack(
    cp: &mut ControlPlane,
    input: BatchUserStackInput,
    _now: Timestamp,
) -> Result<BatchUserStackOutput> {
    run_batch(cp, input, ControlPlane::disassociate_users)
}

fn describe_user_stack_associations(
    cp: &ControlPlane,
    input: DescribeUserStackAssociationsInput,
    _now: Timestamp,
) -> Result<DescribeUserStackAssociationsOutput> {
    if input.user_name.is_some() != input.authentication_type.is_some() {
        return Err(DomainError::combination(
            "UserName and AuthenticationType go together.",
        ));
    }
    if input
        .authentication_type
        .is_some_and(|a| a != AuthenticationType::Userpool)
    {
        return Ok(DescribeUserStackAssociationsOutput {
            user_stack_associations: Vec::new(),
            next_token: None,
        });
    }
    let pairs = cp
        .user_stack_associations(input.stack_name.as_deref(), input.user_name.as_deref())?
        .into_iter()
        .map(|(stack, user)| {
            let association = UserStackAssociation {
                stack_name: stack.clone(),
                user_name: user.clone(),
                authentication_type: AuthenticationType::Userpool,
                send_email_notification: None,
            };
            (format!("{stack}\n{user}"), association)
        });
    let limit = input
        .max_results
        .filter(|&n| n > 0)
        .unwrap_or(ASSOCIATIONS_PAGE);
    let page = Page::appstream(pairs, input.next_token.as_deref(), limit)?;
    Ok(DescribeUserStackAssociationsOutput {
        user_stack_associations: page.items,
        next_token: page.next_token,
    })
}

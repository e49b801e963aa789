//! The user pool: people who sign in to the portal with an email address
//! and a password, and the stacks assigned to them. Passwords arrive here
//! already hashed: the server hashes and verifies them (this crate has no
//! randomness and does no slow work).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::error::{DomainError, ErrorKind, Result};
use crate::fleet::wire_enum;
use crate::instance::Effect;
use crate::plane::{ControlPlane, DocKind};
use crate::session::{AuthenticationType, EndReason, Session, StreamingGrant};
use crate::time::Timestamp;

// CONFIRMED: signed in and chose a password; FORCE_CHANGE_PASSWORD: has
// only the welcome message's temporary password.
wire_enum!(UserStatus {
    Confirmed = "CONFIRMED",
    ForceChangePassword = "FORCE_CHANGE_PASSWORD",
});

/// How long a welcome message's temporary password lets its user in.
pub const TEMPORARY_PASSWORD_VALIDITY_SECS: u64 = 7 * 24 * 3600;
/// How long a forgot-password code is good for (AppStream's: 24 hours).
pub const RESET_CODE_VALIDITY_SECS: u64 = 24 * 3600;
/// How long a portal launch's grant is valid: the page opens it at once.
pub const PORTAL_GRANT_SECS: u64 = 60;
/// BatchAssociateUserStack and BatchDisassociateUserStack take at most this many.
pub const MAX_BATCH_ASSOCIATIONS: usize = 25;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// The email address; case-sensitive, as in AppStream.
    pub user_name: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub enabled: bool,
    pub status: UserStatus,
    pub created_time: Timestamp,
    /// The password the user chose, as a PHC string (Argon2id).
    pub password_hash: Option<String>,
    /// The welcome message's password, until it is replaced or expires.
    pub temporary_password: Option<TemporaryPassword>,
    /// A forgot-password code (hashed), until used or expired.
    #[serde(default)]
    pub reset_code: Option<TemporaryPassword>,
    /// Stacks assigned to the user, by name.
    pub stacks: BTreeSet<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemporaryPassword {
    pub hash: String,
    pub expires: Timestamp,
}

/// What a user is sent; the server writes the message (SMTP or outbox).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mail {
    /// The portal link and a new temporary password (which the server makes
    /// and hands back with [`ControlPlane::set_temporary_password`]).
    Welcome,
    /// A stack was assigned (BatchAssociateUserStack's SendEmailNotification).
    StackAssigned { stack: String },
    /// A one-time code to choose a new password (which the server makes and
    /// hands back with [`ControlPlane::set_reset_code`]).
    PasswordReset,
}

/// Why one association of a batch was not made or removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssociationError {
    StackNotFound,
    UserNameNotFound,
}

impl AssociationError {
    pub fn code(self) -> &'static str {
        match self {
            Self::StackNotFound => "STACK_NOT_FOUND",
            Self::UserNameNotFound => "USER_NAME_NOT_FOUND",
        }
    }
}

/// The pairs of a batch that were refused, and why.
pub type BatchErrors = Vec<(StackAssignment, AssociationError)>;

/// One (stack, user) pair of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackAssignment {
    pub stack: String,
    pub user_name: String,
    pub notify: bool,
}

impl ControlPlane {
    pub fn user(&self, user_name: &str) -> Result<&User> {
        self.users
            .get(user_name)
            .ok_or_else(|| DomainError::not_found("user", user_name))
    }

    pub fn users(&self) -> impl Iterator<Item = &User> {
        self.users.values()
    }

    fn user_mut(&mut self, user_name: &str) -> Result<&mut User> {
        self.mark(DocKind::User, user_name);
        self.users
            .get_mut(user_name)
            .ok_or_else(|| DomainError::not_found("user", user_name))
    }

    /// CreateUser: a new, enabled user who must choose a password at first
    /// sign-in; sent a welcome message unless `suppress`.
    pub fn create_user(
        &mut self,
        user_name: &str,
        first_name: Option<String>,
        last_name: Option<String>,
        suppress: bool,
        now: Timestamp,
    ) -> Result<()> {
        if self.users.contains_key(user_name) {
            return Err(DomainError::new(
                ErrorKind::ResourceAlreadyExists,
                format!("The user {user_name} already exists."),
            ));
        }
        let user = User {
            user_name: user_name.to_owned(),
            first_name,
            last_name,
            enabled: true,
            status: UserStatus::ForceChangePassword,
            created_time: now,
            password_hash: None,
            temporary_password: None,
            reset_code: None,
            stacks: BTreeSet::new(),
        };
        self.users.insert(user_name.to_owned(), user);
        self.mark(DocKind::User, user_name);
        if !suppress {
            self.mail(user_name, Mail::Welcome);
        }
        Ok(())
    }

    /// CreateUser with MessageAction RESEND: a new welcome message (and
    /// temporary password) for a user who has not chosen a password yet.
    pub fn resend_welcome(&mut self, user_name: &str) -> Result<()> {
        if self.user(user_name)?.status != UserStatus::ForceChangePassword {
            return Err(DomainError::not_permitted(format!(
                "The user {user_name} has already signed in and chosen a password."
            )));
        }
        self.mail(user_name, Mail::Welcome);
        Ok(())
    }

    fn mail(&mut self, user_name: &str, mail: Mail) {
        self.outbox.push(Effect::MailUser {
            user_name: user_name.to_owned(),
            mail,
        });
    }

    /// The server made a welcome message's password: it replaces the
    /// previous one, valid for seven days from `now`.
    pub fn set_temporary_password(
        &mut self,
        user_name: &str,
        hash: String,
        now: Timestamp,
    ) -> Result<()> {
        self.user_mut(user_name)?.temporary_password = Some(TemporaryPassword {
            hash,
            expires: now.plus_secs(TEMPORARY_PASSWORD_VALIDITY_SECS),
        });
        Ok(())
    }

    /// Forgot password: an enabled user is sent a one-time code. Unknown or
    /// disabled users are not told apart from others (the caller answers
    /// the same either way), so this never fails.
    pub fn request_password_reset(&mut self, user_name: &str) {
        if self.user(user_name).is_ok_and(|u| u.enabled) {
            self.mail(user_name, Mail::PasswordReset);
        }
    }

    /// The server made a forgot-password code: valid 24 hours from `now`.
    pub fn set_reset_code(&mut self, user_name: &str, hash: String, now: Timestamp) -> Result<()> {
        self.user_mut(user_name)?.reset_code = Some(TemporaryPassword {
            hash,
            expires: now.plus_secs(RESET_CODE_VALIDITY_SECS),
        });
        Ok(())
    }

    /// The user chose a password: the temporary one and any reset code are void.
    pub fn set_password(&mut self, user_name: &str, hash: String) -> Result<()> {
        let user = self.user_mut(user_name)?;
        user.password_hash = Some(hash);
        user.temporary_password = None;
        user.reset_code = None;
        user.status = UserStatus::Confirmed;
        Ok(())
    }

    /// The portal's grant for a user-pool user to stream `app` (or the
    /// stack's catalog) from an assigned stack.
    pub fn user_grant(
        &self,
        user_name: &str,
        stack: &str,
        app: Option<&str>,
        now: Timestamp,
    ) -> Result<StreamingGrant> {
        self.check_user_may_stream(user_name, stack)?;
        let mut grant = self.portal_grant(stack, user_name, app, now)?;
        grant.authentication_type = AuthenticationType::Userpool;
        Ok(grant)
    }

    /// A grant the portal signs for its user: short-lived (the portal makes
    /// a new one at every launch), from the stack's fleet.
    pub(crate) fn portal_grant(
        &self,
        stack: &str,
        user_id: &str,
        app: Option<&str>,
        now: Timestamp,
    ) -> Result<StreamingGrant> {
        let fleet = self.stack(stack)?.fleet.clone().ok_or_else(|| {
            DomainError::new(
                ErrorKind::ResourceNotAvailable,
                format!("The stack {stack} has no fleet to stream from yet."),
            )
        })?;
        self.create_streaming_url(
            stack,
            &fleet,
            user_id,
            app,
            Some(PORTAL_GRANT_SECS),
            None,
            now,
        )
    }

    /// A user-pool user streams only while enabled, and only assigned stacks.
    pub(crate) fn check_user_may_stream(&self, user_name: &str, stack: &str) -> Result<()> {
        let user = self
            .user(user_name)
            .map_err(|_| DomainError::not_permitted("This account no longer exists."))?;
        if !user.enabled {
            return Err(DomainError::not_permitted("This account is disabled."));
        }
        if !user.stacks.contains(stack) {
            return Err(DomainError::not_permitted(format!(
                "The stack {stack} is not assigned to you."
            )));
        }
        Ok(())
    }

    /// DeleteUser: the user, their assignments and their live sessions end.
    pub fn delete_user(&mut self, user_name: &str, now: Timestamp) -> Result<()> {
        self.user(user_name)?;
        self.end_user_sessions(user_name, EndReason::UserDeleted, now);
        self.users.remove(user_name);
        self.mark(DocKind::User, user_name);
        Ok(())
    }

    /// EnableUser / DisableUser. Disabling ends the user's live sessions.
    pub fn set_user_enabled(
        &mut self,
        user_name: &str,
        enabled: bool,
        now: Timestamp,
    ) -> Result<()> {
        self.user_mut(user_name)?.enabled = enabled;
        if !enabled {
            self.end_user_sessions(user_name, EndReason::UserDisabled, now);
        }
        Ok(())
    }

    /// The user-pool user's live sessions (a streaming-URL user of the same
    /// name is another identity).
    pub fn live_user_sessions<'a>(
        &'a self,
        user_name: &'a str,
    ) -> impl Iterator<Item = &'a Session> + 'a {
        self.live_sessions_of(user_name, AuthenticationType::Userpool)
    }

    /// The live sessions of one identity: a user id means someone else
    /// under another authentication type.
    pub fn live_sessions_of<'a>(
        &'a self,
        user_id: &'a str,
        authentication_type: AuthenticationType,
    ) -> impl Iterator<Item = &'a Session> + 'a {
        self.sessions().filter(move |s| {
            s.is_live() && s.user_id == user_id && s.authentication_type == authentication_type
        })
    }

    fn end_user_sessions(&mut self, user_name: &str, reason: EndReason, now: Timestamp) {
        let live: Vec<String> = self
            .live_user_sessions(user_name)
            .map(|s| s.id.clone())
            .collect();
        for id in live {
            // Just listed as live: ending cannot fail.
            let _ = self.end_session_keep_effects(&id, reason, now);
        }
    }

    /// BatchAssociateUserStack: each pair is made, or answered with why not.
    pub fn associate_users(&mut self, assignments: &[StackAssignment]) -> Result<BatchErrors> {
        self.batch(assignments, |cp, a| {
            let added = cp.user_mut(&a.user_name)?.stacks.insert(a.stack.clone());
            if added && a.notify {
                cp.mail(
                    &a.user_name,
                    Mail::StackAssigned {
                        stack: a.stack.clone(),
                    },
                );
            }
            Ok(())
        })
    }

    /// BatchDisassociateUserStack. The user's running sessions go on.
    pub fn disassociate_users(&mut self, assignments: &[StackAssignment]) -> Result<BatchErrors> {
        self.batch(assignments, |cp, a| {
            cp.user_mut(&a.user_name)?.stacks.remove(&a.stack);
            Ok(())
        })
    }

    fn batch(
        &mut self,
        assignments: &[StackAssignment],
        apply: impl Fn(&mut Self, &StackAssignment) -> Result<()>,
    ) -> Result<BatchErrors> {
        if assignments.is_empty() || assignments.len() > MAX_BATCH_ASSOCIATIONS {
            return Err(DomainError::validation(format!(
                "UserStackAssociations must have 1 to {MAX_BATCH_ASSOCIATIONS} items."
            )));
        }
        let mut errors = Vec::new();
        for a in assignments {
            let error = if !self.stacks.contains_key(&a.stack) {
                Some(AssociationError::StackNotFound)
            } else if !self.users.contains_key(&a.user_name) {
                Some(AssociationError::UserNameNotFound)
            } else {
                None
            };
            match error {
                Some(error) => errors.push((a.clone(), error)),
                None => apply(self, a)?,
            }
        }
        Ok(errors)
    }

    /// The (stack, user) pairs of a stack, of a user, or both.
    pub fn user_stack_associations(
        &self,
        stack: Option<&str>,
        user_name: Option<&str>,
    ) -> Result<Vec<(String, String)>> {
        if stack.is_none() && user_name.is_none() {
            return Err(DomainError::combination(
                "Specify StackName, or UserName and AuthenticationType.",
            ));
        }
        Ok(self
            .users
            .values()
            .filter(|u| user_name.is_none_or(|n| u.user_name == n))
            .flat_map(|u| {
                u.stacks
                    .iter()
                    .map(move |s| (s.clone(), u.user_name.clone()))
            })
            .filter(|(s, _)| stack.is_none_or(|name| s == name))
            .collect())
    }

    /// A deleted stack is no longer assigned to anyone.
    pub(crate) fn forget_stack_assignments(&mut self, stack: &str) {
        let holders: Vec<String> = self
            .users
            .values()
            .filter(|u| u.stacks.contains(stack))
            .map(|u| u.user_name.clone())
            .collect();
        for name in holders {
            if let Ok(user) = self.user_mut(&name) {
                user.stacks.remove(stack);
            }
        }
    }
}

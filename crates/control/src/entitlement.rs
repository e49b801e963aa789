//! Entitlements: which apps of a stack federated users see, by the
//! attributes their identity provider asserts (roles, department, groups,
//! ...). As on AppStream, user-pool and streaming-URL users are entitled to
//! every app of their stack; entitlements apply to federated identities.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::error::{DomainError, ErrorKind, Result};
use crate::fleet::wire_enum;
use crate::plane::{ControlPlane, DocKind};
use crate::runtime::DESKTOP_APPLICATION_ID;
use crate::session::{AuthenticationType, StreamingGrant};
use crate::time::Timestamp;

wire_enum!(AppVisibility {
    All = "ALL",
    Associated = "ASSOCIATED",
});

/// The attribute names AppStream matches (its SAML PrincipalTag names).
pub const ATTRIBUTE_NAMES: [&str; 7] = [
    "roles",
    "department",
    "organization",
    "groups",
    "title",
    "costCenter",
    "userType",
];
/// Entitlements per stack, as AppStream's quota.
pub const MAX_ENTITLEMENTS_PER_STACK: usize = 50;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Attribute {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entitlement {
    pub name: String,
    pub stack: String,
    pub description: Option<String>,
    pub app_visibility: AppVisibility,
    /// A user matching any one of these is entitled.
    pub attributes: Vec<Attribute>,
    /// With ASSOCIATED visibility: the apps it entitles, by name.
    pub applications: BTreeSet<String>,
    pub created_time: Timestamp,
    pub last_modified_time: Timestamp,
}

impl Entitlement {
    pub(crate) fn key(&self) -> String {
        key(&self.stack, &self.name)
    }

    fn matches(&self, attributes: &[Attribute]) -> bool {
        self.attributes.iter().any(|a| attributes.contains(a))
    }
}

fn key(stack: &str, name: &str) -> String {
    format!("{stack}/{name}")
}

/// What UpdateEntitlement changes (None: unchanged).
#[derive(Debug, Default)]
pub struct EntitlementChanges {
    pub description: Option<String>,
    pub app_visibility: Option<AppVisibility>,
    pub attributes: Option<Vec<Attribute>>,
}

fn check_attributes(attributes: &[Attribute]) -> Result<()> {
    if attributes.is_empty() {
        return Err(DomainError::validation(
            "Attributes must name at least one attribute.",
        ));
    }
    match attributes
        .iter()
        .find(|a| !ATTRIBUTE_NAMES.contains(&a.name.as_str()))
    {
        Some(a) => Err(DomainError::not_permitted(format!(
            "The attribute {} is not one entitlements match: {}.",
            a.name,
            ATTRIBUTE_NAMES.join(", ")
        ))),
        None => Ok(()),
    }
}

impl ControlPlane {
    pub fn entitlement(&self, stack: &str, name: &str) -> Result<&Entitlement> {
        self.stack(stack)?;
        self.entitlements.get(&key(stack, name)).ok_or_else(|| {
            DomainError::new(
                ErrorKind::EntitlementNotFound,
                format!("The entitlement {name} of the stack {stack} does not exist."),
            )
        })
    }

    fn entitlement_mut(
        &mut self,
        stack: &str,
        name: &str,
        now: Timestamp,
    ) -> Result<&mut Entitlement> {
        self.entitlement(stack, name)?;
        let key = key(stack, name);
        self.mark(DocKind::Entitlement, &key);
        let entitlement = self.entitlements.get_mut(&key).expect("looked up above");
        entitlement.last_modified_time = now;
        Ok(entitlement)
    }

    /// The stack's entitlements, by name.
    pub fn entitlements_of<'a>(
        &'a self,
        stack: &'a str,
    ) -> Result<impl Iterator<Item = &'a Entitlement> + 'a> {
        self.stack(stack)?;
        Ok(self.entitlements.values().filter(move |e| e.stack == stack))
    }

    #[allow(clippy::too_many_arguments)] // the operation's own members
    pub fn create_entitlement(
        &mut self,
        stack: &str,
        name: &str,
        description: Option<String>,
        app_visibility: AppVisibility,
        attributes: Vec<Attribute>,
        now: Timestamp,
    ) -> Result<&Entitlement> {
        if self.entitlements_of(stack)?.count() >= MAX_ENTITLEMENTS_PER_STACK {
            return Err(DomainError::new(
                ErrorKind::LimitExceeded,
                format!("A stack has at most {MAX_ENTITLEMENTS_PER_STACK} entitlements."),
            ));
        }
        let key = key(stack, name);
        if self.entitlements.contains_key(&key) {
            return Err(DomainError::new(
                ErrorKind::EntitlementAlreadyExists,
                format!("The entitlement {name} of the stack {stack} already exists."),
            ));
        }
        check_attributes(&attributes)?;
        let entitlement = Entitlement {
            name: name.to_owned(),
            stack: stack.to_owned(),
            description,
            app_visibility,
            attributes,
            applications: BTreeSet::new(),
            created_time: now,
            last_modified_time: now,
        };
        self.mark(DocKind::Entitlement, &key);
        Ok(self.entitlements.entry(key).or_insert(entitlement))
    }

    pub fn update_entitlement(
        &mut self,
        stack: &str,
        name: &str,
        changes: EntitlementChanges,
        now: Timestamp,
    ) -> Result<&Entitlement> {
        if let Some(attributes) = &changes.attributes {
            check_attributes(attributes)?;
        }
        let entitlement = self.entitlement_mut(stack, name, now)?;
        if let Some(description) = changes.description {
            entitlement.description = Some(description);
        }
        if let Some(visibility) = changes.app_visibility {
            entitlement.app_visibility = visibility;
        }
        if let Some(attributes) = changes.attributes {
            entitlement.attributes = attributes;
        }
        Ok(entitlement)
    }

    pub fn delete_entitlement(&mut self, stack: &str, name: &str) -> Result<()> {
        self.entitlement(stack, name)?;
        let key = key(stack, name);
        self.entitlements.remove(&key);
        self.mark(DocKind::Entitlement, &key);
        Ok(())
    }

    /// AssociateApplicationToEntitlement: `app` must be in the catalog of
    /// the stack's fleet (its image's, or associated with it).
    pub fn entitle_application(
        &mut self,
        stack: &str,
        name: &str,
        app: &str,
        now: Timestamp,
    ) -> Result<()> {
        self.entitlement(stack, name)?;
        if self.stack_catalog(stack).iter().all(|a| a.name != app) {
            return Err(DomainError::not_found("application", app));
        }
        self.entitlement_mut(stack, name, now)?
            .applications
            .insert(app.to_owned());
        Ok(())
    }

    pub fn unentitle_application(
        &mut self,
        stack: &str,
        name: &str,
        app: &str,
        now: Timestamp,
    ) -> Result<()> {
        self.entitlement_mut(stack, name, now)?
            .applications
            .remove(app);
        Ok(())
    }

    /// ListEntitledApplications: the apps an entitlement entitles (with ALL,
    /// every app of the stack's catalog).
    pub fn entitled_applications(&self, stack: &str, name: &str) -> Result<Vec<String>> {
        let entitlement = self.entitlement(stack, name)?;
        Ok(match entitlement.app_visibility {
            AppVisibility::All => self.stack_applications(stack),
            AppVisibility::Associated => entitlement.applications.iter().cloned().collect(),
        })
    }

    fn stack_applications(&self, stack: &str) -> Vec<String> {
        self.stack_catalog(stack)
            .into_iter()
            .map(|a| a.name)
            .collect()
    }

    /// The apps of `stack` a federated user with `attributes` may see and
    /// launch. As on AppStream, a stack without entitlements shows every
    /// app; once it has any, a user sees the apps of the entitlements they
    /// match, and a user matching none sees nothing.
    pub fn apps_for_attributes(&self, stack: &str, attributes: &[Attribute]) -> BTreeSet<String> {
        let Ok(entitlements) = self.entitlements_of(stack) else {
            return BTreeSet::new();
        };
        let all = self.stack_applications(stack);
        let entitlements: Vec<&Entitlement> = entitlements.collect();
        if entitlements.is_empty() {
            return all.into_iter().collect();
        }
        entitlements
            .into_iter()
            .filter(|e| e.matches(attributes))
            .flat_map(|e| match e.app_visibility {
                AppVisibility::All => all.clone(),
                AppVisibility::Associated => e.applications.iter().cloned().collect(),
            })
            .collect()
    }

    /// Whether the streaming identity may see and launch `app` of `stack`:
    /// user-pool and streaming-URL users every app of their stack,
    /// federated (SAML) users the apps their attributes entitle them to.
    pub fn is_entitled(
        &self,
        stack: &str,
        authentication_type: AuthenticationType,
        attributes: &[Attribute],
        app: &str,
    ) -> bool {
        if authentication_type != AuthenticationType::Saml {
            return true;
        }
        if app == DESKTOP_APPLICATION_ID {
            // The desktop reaches every app: only where no entitlement narrows the stack.
            return self
                .entitlements_of(stack)
                .is_ok_and(|mut e| e.next().is_none());
        }
        self.apps_for_attributes(stack, attributes).contains(app)
    }

    /// The portal's grant for a federated user (signed in through an
    /// identity provider) to stream `app`, or the catalog of the apps they
    /// are entitled to, from `stack`. Which stacks a provider's users may
    /// open is the server's configuration; which apps, the entitlements'.
    pub fn federated_grant(
        &self,
        user_id: &str,
        attributes: Vec<Attribute>,
        stack: &str,
        app: Option<&str>,
        now: Timestamp,
    ) -> Result<StreamingGrant> {
        let mut grant = self.portal_grant(stack, user_id, app, now)?;
        grant.authentication_type = AuthenticationType::Saml;
        grant.attributes = attributes;
        self.check_entitled(&grant)?;
        Ok(grant)
    }

    /// A federated grant names an app it is entitled to, or opens a catalog
    /// that has one. Checked again at every open: entitlements change.
    pub(crate) fn check_entitled(&self, grant: &StreamingGrant) -> Result<()> {
        if grant.authentication_type != AuthenticationType::Saml {
            return Ok(());
        }
        match &grant.application_id {
            Some(app)
                if !self.is_entitled(
                    &grant.stack,
                    grant.authentication_type,
                    &grant.attributes,
                    app,
                ) =>
            {
                Err(DomainError::not_permitted(format!(
                    "You are not entitled to the application {app} of the stack {}.",
                    grant.stack
                )))
            }
            None if self
                .apps_for_attributes(&grant.stack, &grant.attributes)
                .is_empty() =>
            {
                Err(DomainError::not_permitted(format!(
                    "No application of the stack {} is entitled to you.",
                    grant.stack
                )))
            }
            _ => Ok(()),
        }
    }

    /// A deleted stack's entitlements go with it.
    pub(crate) fn forget_stack_entitlements(&mut self, stack: &str) {
        let keys: Vec<String> = self
            .entitlements
            .values()
            .filter(|e| e.stack == stack)
            .map(Entitlement::key)
            .collect();
        for key in keys {
            self.entitlements.remove(&key);
            self.mark(DocKind::Entitlement, &key);
        }
    }
}

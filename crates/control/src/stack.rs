//! Stacks: what users see of a fleet, and the per-session permissions.

use crate::error::{DomainError, Result};
use crate::fleet::wire_enum;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

wire_enum!(Permission {
    Enabled = "ENABLED",
    Disabled = "DISABLED",
});

/// The actions a stack returns settings for even when none were given, as
/// AppStream does (all enabled by default).
pub const DEFAULT_ENABLED_ACTIONS: [&str; 5] = [
    "CLIPBOARD_COPY_FROM_LOCAL_DEVICE",
    "CLIPBOARD_COPY_TO_LOCAL_DEVICE",
    "FILE_UPLOAD",
    "FILE_DOWNLOAD",
    "PRINTING_TO_LOCAL_DEVICE",
];

const CLIPBOARD_ACTIONS: [&str; 2] = [
    "CLIPBOARD_COPY_FROM_LOCAL_DEVICE",
    "CLIPBOARD_COPY_TO_LOCAL_DEVICE",
];

/// The model's UserSetting, stored with its wire member names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UserSetting {
    pub action: String,
    pub permission: Permission,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub maximum_length: Option<u32>,
}

impl UserSetting {
    pub fn validate(&self) -> Result<()> {
        if self.maximum_length.is_some() {
            if !CLIPBOARD_ACTIONS.contains(&self.action.as_str()) {
                return Err(DomainError::combination(format!(
                    "MaximumLength applies only to clipboard actions, not {}.",
                    self.action
                )));
            }
            if self.permission == Permission::Disabled {
                return Err(DomainError::combination(format!(
                    "MaximumLength is not allowed when {} is DISABLED.",
                    self.action
                )));
            }
        }
        Ok(())
    }
}

/// The model's StorageConnector (HOMEFOLDERS, GOOGLE_DRIVE, ONE_DRIVE).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StorageConnector {
    pub connector_type: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub resource_identifier: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub domains: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub domains_require_admin_consent: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ApplicationSettings {
    pub enabled: bool,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub settings_group: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stack {
    pub name: String,
    pub display_name: Option<String>,
    pub description: Option<String>,
    pub created_time: Timestamp,
    /// The associated fleet: a stack streams from at most one fleet
    /// (AppStream: "cannot be performed on a stack that already has an
    /// associated fleet"); a fleet may serve several stacks.
    pub fleet: Option<String>,
    /// Explicit settings only; see [`Stack::effective_user_settings`].
    pub user_settings: Vec<UserSetting>,
    pub storage_connectors: Vec<StorageConnector>,
    pub application_settings: Option<ApplicationSettings>,
    pub embed_host_domains: Vec<String>,
    pub redirect_url: Option<String>,
    pub feedback_url: Option<String>,
    pub tags: BTreeMap<String, String>,
    /// Model members stored and returned but not acted on (AccessEndpoints,
    /// StreamingExperienceSettings, ...), by wire name.
    pub extra: BTreeMap<String, serde_json::Value>,
}

impl Stack {
    pub fn new(name: &str, now: Timestamp) -> Self {
        Self {
            name: name.to_owned(),
            display_name: None,
            description: None,
            created_time: now,
            fleet: None,
            user_settings: Vec::new(),
            storage_connectors: Vec::new(),
            application_settings: None,
            embed_host_domains: Vec::new(),
            redirect_url: None,
            feedback_url: None,
            tags: BTreeMap::new(),
            extra: BTreeMap::new(),
        }
    }

    /// Sets (or replaces, by action) user settings.
    pub fn merge_user_settings(&mut self, settings: Vec<UserSetting>) -> Result<()> {
        for s in &settings {
            s.validate()?;
        }
        for s in settings {
            self.user_settings.retain(|old| old.action != s.action);
            self.user_settings.push(s);
        }
        Ok(())
    }

    /// Whether users of this stack may perform `action` (enabled by default).
    pub fn permits(&self, action: &str) -> bool {
        self.user_settings
            .iter()
            .find(|s| s.action == action)
            .is_none_or(|s| s.permission == Permission::Enabled)
    }

    /// Every default action with its permission, then any other explicit one.
    pub fn effective_user_settings(&self) -> Vec<UserSetting> {
        let mut out: Vec<UserSetting> = DEFAULT_ENABLED_ACTIONS
            .iter()
            .map(|action| {
                self.user_settings
                    .iter()
                    .find(|s| s.action == *action)
                    .cloned()
                    .unwrap_or(UserSetting {
                        action: (*action).to_owned(),
                        permission: Permission::Enabled,
                        maximum_length: None,
                    })
            })
            .collect();
        out.extend(
            self.user_settings
                .iter()
                .filter(|s| !DEFAULT_ENABLED_ACTIONS.contains(&s.action.as_str()))
                .cloned(),
        );
        out
    }

    /// Whether users get a persistent home folder.
    pub fn home_folders_enabled(&self) -> bool {
        self.storage_connectors
            .iter()
            .any(|c| c.connector_type == "HOMEFOLDERS")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setting(action: &str, permission: Permission, max: Option<u32>) -> UserSetting {
        UserSetting {
            action: action.into(),
            permission,
            maximum_length: max,
        }
    }

    #[test]
    fn settings_default_to_enabled_and_merge_by_action() {
        let mut s = Stack::new("s", Timestamp(0));
        assert!(s.permits("FILE_UPLOAD"));
        s.merge_user_settings(vec![setting("FILE_UPLOAD", Permission::Disabled, None)])
            .unwrap();
        assert!(!s.permits("FILE_UPLOAD"));
        s.merge_user_settings(vec![setting("FILE_UPLOAD", Permission::Enabled, None)])
            .unwrap();
        assert!(s.permits("FILE_UPLOAD"));
        assert_eq!(s.user_settings.len(), 1);
        assert_eq!(
            s.effective_user_settings().len(),
            DEFAULT_ENABLED_ACTIONS.len()
        );
    }

    #[test]
    fn maximum_length_only_for_enabled_clipboard() {
        let mut s = Stack::new("s", Timestamp(0));
        for bad in [
            setting("FILE_UPLOAD", Permission::Enabled, Some(10)),
            setting(
                "CLIPBOARD_COPY_TO_LOCAL_DEVICE",
                Permission::Disabled,
                Some(10),
            ),
        ] {
            let err = s.merge_user_settings(vec![bad]).unwrap_err();
            assert_eq!(err.aws_code(), "InvalidParameterCombinationException");
        }
        s.merge_user_settings(vec![setting(
            "CLIPBOARD_COPY_TO_LOCAL_DEVICE",
            Permission::Enabled,
            Some(10),
        )])
        .unwrap();
    }
}

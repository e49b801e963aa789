//! App blocks: where an application's files come from (AppStream keeps them
//! as a virtual hard disk in S3, mounted by a setup script). Porthole has no
//! S3 packaging: it keeps the block's metadata, so that applications can
//! name it and tools that create blocks before applications keep working.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{DomainError, ErrorKind, Result};
use crate::fleet::wire_enum;
use crate::plane::{ControlPlane, DocKind};
use crate::time::Timestamp;

wire_enum!(PackagingType {
    Custom = "CUSTOM",
    AppStream2 = "APPSTREAM2",
});
wire_enum!(AppBlockState {
    Inactive = "INACTIVE",
    Active = "ACTIVE",
});

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct S3Location {
    pub bucket: String,
    pub key: Option<String>,
}

/// A setup (or post-setup) script and how it runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScriptDetails {
    pub script: S3Location,
    pub executable_path: String,
    pub executable_parameters: Option<String>,
    pub timeout_secs: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppBlock {
    pub name: String,
    pub display_name: Option<String>,
    pub description: Option<String>,
    pub source: S3Location,
    pub setup_script: Option<ScriptDetails>,
    pub post_setup_script: Option<ScriptDetails>,
    pub packaging_type: PackagingType,
    pub state: AppBlockState,
    pub created_time: Timestamp,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

impl AppBlock {
    /// A custom block is usable at once (ACTIVE); an APPSTREAM2 one waits
    /// for an app block builder to package it, which Porthole does not
    /// have, so it stays INACTIVE.
    pub fn new(
        name: &str,
        source: S3Location,
        packaging_type: PackagingType,
        now: Timestamp,
    ) -> Self {
        Self {
            name: name.to_owned(),
            display_name: None,
            description: None,
            source,
            setup_script: None,
            post_setup_script: None,
            packaging_type,
            state: match packaging_type {
                PackagingType::Custom => AppBlockState::Active,
                PackagingType::AppStream2 => AppBlockState::Inactive,
            },
            created_time: now,
            tags: BTreeMap::new(),
        }
    }

    fn validate(&self) -> Result<()> {
        match self.packaging_type {
            PackagingType::Custom if self.setup_script.is_none() => Err(DomainError::validation(
                "SetupScriptDetails must be provided for the CUSTOM PackagingType.",
            )),
            PackagingType::Custom if self.post_setup_script.is_some() => {
                Err(DomainError::validation(
                    "PostSetupScriptDetails can only be provided for the APPSTREAM2 PackagingType.",
                ))
            }
            _ => Ok(()),
        }
    }
}

impl ControlPlane {
    pub fn app_block(&self, name: &str) -> Result<&AppBlock> {
        self.app_blocks
            .get(name)
            .ok_or_else(|| DomainError::not_found("app block", name))
    }

    pub fn app_blocks(&self) -> impl Iterator<Item = &AppBlock> {
        self.app_blocks.values()
    }

    pub fn create_app_block(&mut self, block: AppBlock) -> Result<&AppBlock> {
        if self.app_blocks.contains_key(&block.name) {
            return Err(DomainError::new(
                ErrorKind::ResourceAlreadyExists,
                format!("The app block {} already exists.", block.name),
            ));
        }
        block.validate()?;
        let name = block.name.clone();
        self.mark(DocKind::AppBlock, &name);
        Ok(self.app_blocks.entry(name).or_insert(block))
    }

    /// Refused while an application uses the block: its files would be gone.
    pub fn delete_app_block(&mut self, name: &str) -> Result<()> {
        self.app_block(name)?;
        let users: Vec<&str> = self
            .fleet_applications()
            .filter(|a| a.app_block == name)
            .map(|a| a.name.as_str())
            .collect();
        if !users.is_empty() {
            return Err(DomainError::in_use(format!(
                "The app block {name} is used by the application(s) {}; delete them first.",
                users.join(", ")
            )));
        }
        self.app_blocks.remove(name);
        self.mark(DocKind::AppBlock, name);
        Ok(())
    }
}

//! Applications made by the API (CreateApplication), as AppStream has them
//! for Elastic fleets: launch details on an app block, launchable in the
//! sessions of the fleets they are associated with, beside the catalog of
//! the fleet's image. Porthole allows the association for every fleet type;
//! the files the application runs must be on the fleet's image (app blocks
//! are not mounted).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::app_block::S3Location;
use crate::error::{DomainError, ErrorKind, Result};
use crate::fleet::wire_enum;
use crate::image::{Application, Image};
use crate::plane::{ControlPlane, DocKind};
use crate::time::Timestamp;

/// AppStream's quota of applications associated with one fleet.
pub const MAX_APPLICATIONS_PER_FLEET: usize = 50;

wire_enum!(ApplicationAttribute {
    LaunchParameters = "LAUNCH_PARAMETERS",
    WorkingDirectory = "WORKING_DIRECTORY",
});

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FleetApplication {
    pub name: String,
    pub display_name: Option<String>,
    pub description: Option<String>,
    pub icon: S3Location,
    pub launch_path: String,
    pub launch_parameters: Option<String>,
    pub working_directory: Option<String>,
    /// PlatformType values.
    pub platforms: Vec<String>,
    pub instance_families: Vec<String>,
    /// The app block's name.
    pub app_block: String,
    /// The fleets it is associated with, by name.
    pub fleets: BTreeSet<String>,
    pub created_time: Timestamp,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

impl FleetApplication {
    /// The application as an entry of a session's catalog.
    fn catalog_entry(&self) -> Application {
        Application {
            name: self.name.clone(),
            display_name: self
                .display_name
                .clone()
                .unwrap_or_else(|| self.name.clone()),
            launch_path: self.launch_path.clone(),
            launch_parameters: self.launch_parameters.clone(),
            working_directory: self.working_directory.clone(),
            // The icon is in S3, which Porthole does not read.
            icon_url: None,
            enabled: true,
            icon_path: None,
        }
    }
}

/// What UpdateApplication changes (None: unchanged).
#[derive(Debug, Default)]
pub struct ApplicationChanges {
    pub display_name: Option<String>,
    pub description: Option<String>,
    pub icon: Option<S3Location>,
    pub launch_path: Option<String>,
    pub launch_parameters: Option<String>,
    pub working_directory: Option<String>,
    pub app_block: Option<String>,
    pub attributes_to_delete: Vec<ApplicationAttribute>,
}

impl ControlPlane {
    pub fn fleet_application(&self, name: &str) -> Result<&FleetApplication> {
        self.applications
            .get(name)
            .ok_or_else(|| DomainError::not_found("application", name))
    }

    pub fn fleet_applications(&self) -> impl Iterator<Item = &FleetApplication> {
        self.applications.values()
    }

    pub fn create_fleet_application(
        &mut self,
        application: FleetApplication,
    ) -> Result<&FleetApplication> {
        if self.applications.contains_key(&application.name) {
            return Err(DomainError::new(
                ErrorKind::ResourceAlreadyExists,
                format!("The application {} already exists.", application.name),
            ));
        }
        self.app_block(&application.app_block)?;
        if application.platforms.is_empty() {
            return Err(DomainError::validation(
                "Platforms must name at least one platform.",
            ));
        }
        let name = application.name.clone();
        self.mark(DocKind::Application, &name);
        Ok(self.applications.entry(name).or_insert(application))
    }

    pub fn update_fleet_application(
        &mut self,
        name: &str,
        changes: ApplicationChanges,
    ) -> Result<&FleetApplication> {
        self.fleet_application(name)?;
        if let Some(block) = &changes.app_block {
            self.app_block(block)?;
        }
        self.mark(DocKind::Application, name);
        let app = self.applications.get_mut(name).expect("looked up above");
        for attribute in &changes.attributes_to_delete {
            match attribute {
                ApplicationAttribute::LaunchParameters => app.launch_parameters = None,
                ApplicationAttribute::WorkingDirectory => app.working_directory = None,
            }
        }
        let ApplicationChanges {
            display_name,
            description,
            icon,
            launch_path,
            launch_parameters,
            working_directory,
            app_block,
            attributes_to_delete: _,
        } = changes;
        let keep = |field: &mut Option<String>, new: Option<String>| {
            if new.is_some() {
                *field = new;
            }
        };
        keep(&mut app.display_name, display_name);
        keep(&mut app.description, description);
        keep(&mut app.launch_parameters, launch_parameters);
        keep(&mut app.working_directory, working_directory);
        if let Some(icon) = icon {
            app.icon = icon;
        }
        if let Some(path) = launch_path {
            app.launch_path = path;
        }
        if let Some(block) = app_block {
            app.app_block = block;
        }
        Ok(app)
    }

    /// Refused while associated with a fleet: its sessions may launch it.
    pub fn delete_fleet_application(&mut self, name: &str) -> Result<()> {
        let app = self.fleet_application(name)?;
        if !app.fleets.is_empty() {
            return Err(DomainError::in_use(format!(
                "The application {name} is associated with the fleet(s) {}; disassociate it first.",
                app.fleets.iter().cloned().collect::<Vec<_>>().join(", ")
            )));
        }
        self.applications.remove(name);
        self.mark(DocKind::Application, name);
        Ok(())
    }

    /// The fleet's image must be of one of the application's platforms.
    pub fn associate_application_fleet(&mut self, fleet: &str, application: &str) -> Result<()> {
        let platform = self.image(&self.fleet(fleet)?.image_name)?.platform.clone();
        let app = self.fleet_application(application)?;
        if app.fleets.contains(fleet) {
            return Ok(());
        }
        if !app.platforms.contains(&platform) {
            return Err(DomainError::combination(format!(
                "The application {application} supports the platform(s) {}, not the fleet {fleet}'s {platform}.",
                app.platforms.join(", ")
            )));
        }
        if self.associated_applications(fleet).count() >= MAX_APPLICATIONS_PER_FLEET {
            return Err(DomainError::new(
                ErrorKind::LimitExceeded,
                format!("A fleet has at most {MAX_APPLICATIONS_PER_FLEET} applications."),
            ));
        }
        self.mark(DocKind::Application, application);
        self.applications
            .get_mut(application)
            .expect("looked up above")
            .fleets
            .insert(fleet.to_owned());
        Ok(())
    }

    /// Disassociating what is not associated changes nothing (the model has
    /// no not-found error for it).
    pub fn disassociate_application_fleet(&mut self, fleet: &str, application: &str) {
        if let Some(app) = self.applications.get_mut(application) {
            if app.fleets.remove(fleet) {
                self.mark(DocKind::Application, application);
            }
        }
    }

    /// DescribeApplicationFleetAssociations: (fleet, application) pairs of
    /// the fleet, of the application, or both.
    pub fn application_fleet_associations(
        &self,
        fleet: Option<&str>,
        application: Option<&str>,
    ) -> Result<Vec<(String, String)>> {
        if fleet.is_none() && application.is_none() {
            return Err(DomainError::combination(
                "Specify FleetName, ApplicationArn or both.",
            ));
        }
        Ok(self
            .fleet_applications()
            .filter(|a| application.is_none_or(|name| a.name == name))
            .flat_map(|a| a.fleets.iter().map(move |f| (f.clone(), a.name.clone())))
            .filter(|(f, _)| fleet.is_none_or(|name| f == name))
            .collect())
    }

    fn associated_applications<'a>(
        &'a self,
        fleet: &'a str,
    ) -> impl Iterator<Item = &'a FleetApplication> + 'a {
        self.applications
            .values()
            .filter(move |a| a.fleets.contains(fleet))
    }

    /// What sessions of `fleet` may launch: the enabled entries of its
    /// image's catalog, then the applications associated with it whose
    /// names the image's catalog does not use (the image's entry wins).
    pub fn fleet_catalog(&self, fleet: &str) -> Vec<Application> {
        let mut catalog: Vec<Application> = self
            .fleet(fleet)
            .and_then(|f| self.image(&f.image_name))
            .map(|image| {
                image
                    .applications
                    .iter()
                    .filter(|a| a.enabled)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        let associated: Vec<Application> = self
            .associated_applications(fleet)
            .filter(|a| catalog.iter().all(|c| c.name != a.name))
            .map(FleetApplication::catalog_entry)
            .collect();
        catalog.extend(associated);
        catalog
    }

    /// What a session streams from: the image and catalog of its fleet (see
    /// [`ControlPlane::fleet_catalog`]), or of its image builder's source image.
    pub fn streaming_catalog(
        &self,
        fleet: &str,
        image_builder: Option<&str>,
    ) -> Option<(&Image, Vec<Application>)> {
        match image_builder {
            Some(builder) => {
                let image = self
                    .image(&self.image_builder(builder).ok()?.image_name)
                    .ok()?;
                let apps = image.applications.iter().filter(|a| a.enabled).cloned();
                Some((image, apps.collect()))
            }
            None => {
                let image = self.image(&self.fleet(fleet).ok()?.image_name).ok()?;
                Some((image, self.fleet_catalog(fleet)))
            }
        }
    }

    /// The catalog entry `app` of `fleet`'s sessions.
    pub fn fleet_catalog_entry(&self, fleet: &str, app: &str) -> Option<Application> {
        self.fleet_catalog(fleet)
            .into_iter()
            .find(|a| a.name == app)
    }

    /// The catalog of the stack's fleet (empty without a fleet).
    pub fn stack_catalog(&self, stack: &str) -> Vec<Application> {
        match self.stack(stack).ok().and_then(|s| s.fleet.as_deref()) {
            Some(fleet) => self.fleet_catalog(fleet),
            None => Vec::new(),
        }
    }

    /// A deleted fleet's associations go with it.
    pub(crate) fn forget_fleet_applications(&mut self, fleet: &str) {
        let names: Vec<String> = self
            .associated_applications(fleet)
            .map(|a| a.name.clone())
            .collect();
        for name in names {
            self.disassociate_application_fleet(fleet, &name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app_block::{AppBlock, AppBlockState, PackagingType, ScriptDetails};
    use crate::{default_image, Config, Fleet, FleetType, SequentialIds};

    const T: u64 = 1_700_000_000;

    fn s3(key: &str) -> S3Location {
        S3Location {
            bucket: "bucket".into(),
            key: Some(key.into()),
        }
    }

    fn custom_block(name: &str) -> AppBlock {
        let mut block = AppBlock::new(
            name,
            s3("app.vhdx"),
            PackagingType::Custom,
            Timestamp::from_secs(T),
        );
        block.setup_script = Some(ScriptDetails {
            script: s3("setup.sh"),
            executable_path: "/bin/sh".into(),
            executable_parameters: Some("setup.sh".into()),
            timeout_secs: 60,
        });
        block
    }

    fn application(name: &str, block: &str) -> FleetApplication {
        FleetApplication {
            name: name.into(),
            display_name: None,
            description: None,
            icon: s3("icon.png"),
            launch_path: "/usr/bin/xterm".into(),
            launch_parameters: Some("-title hi".into()),
            working_directory: Some("/tmp".into()),
            platforms: vec!["AMAZON_LINUX2".into()],
            instance_families: vec!["GENERAL_PURPOSE".into()],
            app_block: block.into(),
            fleets: BTreeSet::new(),
            created_time: Timestamp::from_secs(T),
            tags: BTreeMap::new(),
        }
    }

    /// A plane with the default image (one app, "editor"), fleet "f", app block "b".
    fn plane() -> ControlPlane {
        let now = Timestamp::from_secs(T);
        let mut cp = ControlPlane::new(
            Config {
                region: "us-east-1".into(),
                account: "123456789012".into(),
            },
            SequentialIds::default(),
        );
        cp.put_image(default_image(
            now,
            vec![Application {
                name: "editor".into(),
                display_name: "Editor".into(),
                launch_path: "/usr/bin/editor".into(),
                launch_parameters: None,
                working_directory: None,
                icon_url: None,
                enabled: true,
                icon_path: None,
            }],
        ));
        let image = cp.images().next().unwrap().name.clone();
        let fleet = Fleet::new(
            "f",
            &image,
            "stream.standard.small",
            FleetType::OnDemand,
            now,
        );
        cp.create_fleet(fleet).unwrap();
        cp.create_app_block(custom_block("b")).unwrap();
        cp
    }

    #[test]
    fn packaging_decides_the_state_and_the_scripts_it_takes() {
        let mut cp = plane();
        assert_eq!(cp.app_block("b").unwrap().state, AppBlockState::Active);
        let packaged = AppBlock::new(
            "p",
            s3("p"),
            PackagingType::AppStream2,
            Timestamp::from_secs(T),
        );
        assert_eq!(
            cp.create_app_block(packaged).unwrap().state,
            AppBlockState::Inactive
        );
        let mut no_setup = custom_block("c");
        no_setup.setup_script = None;
        let err = cp.create_app_block(no_setup).unwrap_err();
        assert_eq!(err.aws_code(), "ValidationException");
        let mut post_setup = custom_block("c");
        post_setup.post_setup_script = post_setup.setup_script.clone();
        let err = cp.create_app_block(post_setup).unwrap_err();
        assert_eq!(err.aws_code(), "ValidationException");
        let err = cp.create_app_block(custom_block("b")).unwrap_err();
        assert_eq!(err.aws_code(), "ResourceAlreadyExistsException");
    }

    #[test]
    fn an_application_needs_an_existing_app_block() {
        let mut cp = plane();
        let err = cp
            .create_fleet_application(application("a", "nope"))
            .unwrap_err();
        assert_eq!(err.aws_code(), "ResourceNotFoundException");
        cp.create_fleet_application(application("a", "b")).unwrap();
        let err = cp
            .create_fleet_application(application("a", "b"))
            .unwrap_err();
        assert_eq!(err.aws_code(), "ResourceAlreadyExistsException");
        let changes = ApplicationChanges {
            app_block: Some("nope".into()),
            ..Default::default()
        };
        let err = cp.update_fleet_application("a", changes).unwrap_err();
        assert_eq!(err.aws_code(), "ResourceNotFoundException");
    }

    #[test]
    fn update_sets_given_members_and_deletes_named_attributes() {
        let mut cp = plane();
        cp.create_fleet_application(application("a", "b")).unwrap();
        let changes = ApplicationChanges {
            display_name: Some("A".into()),
            launch_path: Some("/usr/bin/other".into()),
            attributes_to_delete: vec![ApplicationAttribute::WorkingDirectory],
            ..Default::default()
        };
        let app = cp.update_fleet_application("a", changes).unwrap();
        assert_eq!(app.display_name.as_deref(), Some("A"));
        assert_eq!(app.launch_path, "/usr/bin/other");
        assert_eq!(app.launch_parameters.as_deref(), Some("-title hi"));
        assert_eq!(app.working_directory, None);
    }

    #[test]
    fn deletes_are_refused_while_in_use() {
        let mut cp = plane();
        cp.create_fleet_application(application("a", "b")).unwrap();
        cp.associate_application_fleet("f", "a").unwrap();
        let err = cp.delete_fleet_application("a").unwrap_err();
        assert_eq!(err.aws_code(), "ResourceInUseException");
        let err = cp.delete_app_block("b").unwrap_err();
        assert_eq!(err.aws_code(), "ResourceInUseException");
        cp.disassociate_application_fleet("f", "a");
        cp.delete_fleet_application("a").unwrap();
        cp.delete_app_block("b").unwrap();
        let err = cp.delete_app_block("b").unwrap_err();
        assert_eq!(err.aws_code(), "ResourceNotFoundException");
    }

    #[test]
    fn associations_need_a_fleet_an_application_and_a_common_platform() {
        let mut cp = plane();
        cp.create_fleet_application(application("a", "b")).unwrap();
        let err = cp.associate_application_fleet("nope", "a").unwrap_err();
        assert_eq!(err.aws_code(), "ResourceNotFoundException");
        let err = cp.associate_application_fleet("f", "nope").unwrap_err();
        assert_eq!(err.aws_code(), "ResourceNotFoundException");
        let mut windows = application("w", "b");
        windows.platforms = vec!["WINDOWS_SERVER_2019".into()];
        cp.create_fleet_application(windows).unwrap();
        let err = cp.associate_application_fleet("f", "w").unwrap_err();
        assert_eq!(err.aws_code(), "InvalidParameterCombinationException");

        cp.associate_application_fleet("f", "a").unwrap();
        cp.associate_application_fleet("f", "a").unwrap();
        let pairs = [("f".to_owned(), "a".to_owned())];
        assert_eq!(
            cp.application_fleet_associations(Some("f"), None).unwrap(),
            pairs
        );
        assert_eq!(
            cp.application_fleet_associations(None, Some("a")).unwrap(),
            pairs
        );
        let err = cp.application_fleet_associations(None, None).unwrap_err();
        assert_eq!(err.aws_code(), "InvalidParameterCombinationException");
    }

    #[test]
    fn associated_applications_join_the_fleets_catalog_after_the_images() {
        let mut cp = plane();
        cp.create_fleet_application(application("a", "b")).unwrap();
        cp.create_fleet_application(application("editor", "b"))
            .unwrap();
        let names = |cp: &ControlPlane| -> Vec<String> {
            cp.fleet_catalog("f").into_iter().map(|a| a.name).collect()
        };
        assert_eq!(names(&cp), ["editor"]);
        cp.associate_application_fleet("f", "a").unwrap();
        cp.associate_application_fleet("f", "editor").unwrap();
        assert_eq!(names(&cp), ["editor", "a"]);
        // The image's own "editor" wins over the application of that name.
        let editor = cp.fleet_catalog_entry("f", "editor").unwrap();
        assert_eq!(editor.launch_path, "/usr/bin/editor");
        let a = cp.fleet_catalog_entry("f", "a").unwrap();
        assert_eq!(a.display_name, "a");
        assert_eq!(a.launch_parameters.as_deref(), Some("-title hi"));
    }

    #[test]
    fn a_deleted_fleet_takes_its_associations_and_all_survive_a_restart() {
        let mut cp = plane();
        cp.create_fleet_application(application("a", "b")).unwrap();
        cp.associate_application_fleet("f", "a").unwrap();
        let documents: Vec<(String, serde_json::Value)> = cp
            .take_changes()
            .into_iter()
            .filter_map(|c| Some((c.kind.to_owned(), c.document?)))
            .collect();
        let mut restored = plane();
        restored
            .restore(documents, Timestamp::from_secs(T))
            .unwrap();
        assert_eq!(restored.app_block("b").unwrap(), cp.app_block("b").unwrap());
        assert_eq!(
            restored.fleet_application("a").unwrap(),
            cp.fleet_application("a").unwrap()
        );

        cp.delete_fleet("f").unwrap();
        assert!(cp.fleet_application("a").unwrap().fleets.is_empty());
        assert!(cp
            .take_changes()
            .iter()
            .any(|c| c.kind == "application" && c.key == "a"));
    }
}

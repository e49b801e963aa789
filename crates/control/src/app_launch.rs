//! How an image's application starts in a session: the command line, and the
//! environment AppStream gives a session's applications (AppStream_*). The
//! server hands the result to the instance's agent.

use std::collections::BTreeMap;

use crate::arn::ResourceType;
use crate::image::ImageRoot;
use crate::plane::ControlPlane;
use crate::session::{AuthenticationType, Session, SessionState};

/// An application to start on a session's instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppLaunch {
    pub instance_id: String,
    /// The executable and its arguments (LaunchParameters split at whitespace).
    pub command: Vec<String>,
    pub env: BTreeMap<String, String>,
    /// The application's WorkingDirectory, a path on the image's root.
    pub working_directory: Option<String>,
}

/// Where a session's scripts run (see [`ControlPlane::session_script_target`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptTarget {
    pub instance_id: String,
    /// The root of the instance's image, where its scripts' configuration is read.
    pub root: ImageRoot,
    pub env: BTreeMap<String, String>,
}

/// Why an application cannot start in a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LaunchRefused {
    /// The session is unknown, ended, or still waiting for its instance.
    NotActive,
    /// The app is neither in the catalog of the session's fleet's image nor
    /// an application associated with the fleet.
    NotInCatalog,
    /// A federated user's attributes do not entitle them to the app.
    NotEntitled,
}

impl ControlPlane {
    /// The launch of catalog application `app` in the active session
    /// `session_id` (see [`ControlPlane::fleet_catalog`]).
    pub fn app_launch(&self, session_id: &str, app: &str) -> Result<AppLaunch, LaunchRefused> {
        let session = self
            .session(session_id)
            .map_err(|_| LaunchRefused::NotActive)?;
        let instance_id = match (&session.state, &session.instance_id) {
            (SessionState::Active, Some(instance)) => instance.clone(),
            _ => return Err(LaunchRefused::NotActive),
        };
        let (image, catalog) = self
            .streaming_catalog(&session.fleet, session.image_builder.as_deref())
            .ok_or(LaunchRefused::NotInCatalog)?;
        let application = catalog
            .into_iter()
            .find(|a| a.name == app)
            .ok_or(LaunchRefused::NotInCatalog)?;
        // An image builder's desktop is the administrator's: no stack, no entitlements.
        if session.image_builder.is_none()
            && !self.is_entitled(
                &session.stack,
                session.authentication_type,
                &session.attributes,
                app,
            )
        {
            return Err(LaunchRefused::NotEntitled);
        }
        let mut command = vec![application.launch_path.clone()];
        if let Some(params) = &application.launch_parameters {
            command.extend(params.split_whitespace().map(str::to_owned));
        }
        let env = self
            .session_environment(session, &image.name)
            .ok_or(LaunchRefused::NotActive)?;
        Ok(AppLaunch {
            instance_id,
            command,
            env,
            working_directory: application.working_directory,
        })
    }

    /// Where and with what environment the session scripts of the active fleet session
    /// `session_id` run: its instance, the image that instance was launched from, and
    /// the session's AppStream_* environment. None for an image builder's sessions (its
    /// administrator is the one editing the scripts) and for sessions not active.
    pub fn session_script_target(&self, session_id: &str) -> Option<ScriptTarget> {
        let session = self.session(session_id).ok()?;
        let instance_id = match (&session.state, &session.instance_id, &session.image_builder) {
            (SessionState::Active, Some(instance), None) => instance.clone(),
            _ => return None,
        };
        let image = self.instance(&instance_id).ok()?.image_name.clone();
        Some(ScriptTarget {
            env: self.session_environment(session, &image)?,
            root: self.image(&image).ok()?.root.clone(),
            instance_id,
        })
    }

    /// The AppStream_* variables of a session's apps and scripts, on image `image`.
    fn session_environment(
        &self,
        session: &Session,
        image: &str,
    ) -> Option<BTreeMap<String, String>> {
        let (resource_type, resource_name, instance_type) = match &session.image_builder {
            Some(builder) => {
                let builder = self.image_builder(builder).ok()?;
                ("image-builder", &builder.name, &builder.instance_type)
            }
            None => {
                let fleet = self.fleet(&session.fleet).ok()?;
                ("fleet", &fleet.name, &fleet.instance_type)
            }
        };
        let env = [
            ("AppStream_Stack_Name", session.stack.clone()),
            ("AppStream_UserName", session.user_id.clone()),
            (
                "AppStream_User_Access_Mode",
                access_mode(session.authentication_type).to_owned(),
            ),
            ("AppStream_Session_ID", session.id.clone()),
            ("AppStream_Resource_Type", resource_type.to_owned()),
            ("AppStream_Resource_Name", resource_name.clone()),
            ("AppStream_Instance_Type", instance_type.clone()),
            ("AppStream_Image_Arn", self.arn(ResourceType::Image, image)),
            (
                "APPSTREAM_SESSION_CONTEXT",
                session.session_context.clone().unwrap_or_default(),
            ),
        ]
        .map(|(name, value)| (name.to_owned(), value))
        .into();
        Some(env)
    }
}

/// AppStream_User_Access_Mode: streaming-URL users are "custom".
fn access_mode(authentication: AuthenticationType) -> &'static str {
    match authentication {
        AuthenticationType::Api => "custom",
        AuthenticationType::Userpool => "userpool",
        AuthenticationType::Saml => "saml",
        AuthenticationType::AwsAd => "ad",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        default_image, Application, Config, Effect, Fleet, FleetType, SequentialIds, Stack,
        Timestamp,
    };

    const T: u64 = 1_700_000_000;

    /// A plane with an active session of user "ana" on a started always-on fleet.
    fn active_session() -> (ControlPlane, String) {
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
                launch_parameters: Some("--new-window  notes.txt".into()),
                working_directory: Some("/srv/notes".into()),
                icon_url: None,
                enabled: true,
                icon_path: None,
            }],
        ));
        let image = cp.images().next().unwrap().name.clone();
        let mut fleet = Fleet::new(
            "f",
            &image,
            "stream.standard.small",
            FleetType::AlwaysOn,
            now,
        );
        fleet.desired_instances = 1;
        cp.create_fleet(fleet).unwrap();
        cp.create_stack(Stack::new("s", now)).unwrap();
        cp.associate_fleet("f", "s").unwrap();
        cp.start_fleet("f", now).unwrap();
        for effect in cp.reconcile(now) {
            if let Effect::LaunchInstance(spec) = effect {
                cp.instance_ready(&spec.instance_id, now).unwrap();
            }
        }
        let grant = cp
            .create_streaming_url("s", "f", "ana", None, None, Some("ctx=1"), now)
            .unwrap();
        let (session, _) = cp.open_session(&grant, now).unwrap();
        (cp, session.id)
    }

    #[test]
    fn an_app_starts_with_its_parameters_directory_and_the_sessions_appstream_environment() {
        let (cp, session_id) = active_session();
        let launch = cp.app_launch(&session_id, "editor").unwrap();
        let session = cp.session(&session_id).unwrap();
        assert_eq!(Some(&launch.instance_id), session.instance_id.as_ref());
        assert_eq!(
            launch.command,
            ["/usr/bin/editor", "--new-window", "notes.txt"]
        );
        assert_eq!(launch.working_directory.as_deref(), Some("/srv/notes"));
        let env = |name: &str| launch.env.get(name).map(String::as_str);
        assert_eq!(env("AppStream_Stack_Name"), Some("s"));
        assert_eq!(env("AppStream_UserName"), Some("ana"));
        assert_eq!(env("AppStream_Session_ID"), Some(&*session_id));
        assert_eq!(env("AppStream_Resource_Type"), Some("fleet"));
        assert_eq!(env("AppStream_Resource_Name"), Some("f"));
        assert_eq!(
            env("AppStream_Instance_Type"),
            Some("stream.standard.small")
        );
        assert_eq!(env("APPSTREAM_SESSION_CONTEXT"), Some("ctx=1"));
        assert!(env("AppStream_Image_Arn")
            .unwrap()
            .starts_with("arn:aws:appstream:us-east-1:123456789012:image/"));
    }

    #[test]
    fn an_application_associated_with_the_fleet_starts_like_a_catalog_entry() {
        use crate::app_block::{AppBlock, PackagingType, S3Location};
        use crate::application::FleetApplication;

        let (mut cp, session_id) = active_session();
        let s3 = || S3Location {
            bucket: "bucket".into(),
            key: Some("key".into()),
        };
        let now = Timestamp::from_secs(T);
        cp.create_app_block(AppBlock::new("b", s3(), PackagingType::AppStream2, now))
            .unwrap();
        cp.create_fleet_application(FleetApplication {
            name: "term".into(),
            display_name: Some("Terminal".into()),
            description: None,
            icon: s3(),
            launch_path: "/usr/bin/xterm".into(),
            launch_parameters: Some("-title term".into()),
            working_directory: Some("/tmp".into()),
            platforms: vec!["AMAZON_LINUX2".into()],
            instance_families: vec!["GENERAL_PURPOSE".into()],
            app_block: "b".into(),
            fleets: Default::default(),
            created_time: now,
            tags: Default::default(),
        })
        .unwrap();
        assert_eq!(
            cp.app_launch(&session_id, "term"),
            Err(LaunchRefused::NotInCatalog)
        );
        cp.associate_application_fleet("f", "term").unwrap();
        let launch = cp.app_launch(&session_id, "term").unwrap();
        assert_eq!(launch.command, ["/usr/bin/xterm", "-title", "term"]);
        assert_eq!(launch.working_directory.as_deref(), Some("/tmp"));
        assert_eq!(
            launch
                .env
                .get("AppStream_Resource_Name")
                .map(String::as_str),
            Some("f")
        );
    }

    #[test]
    fn session_scripts_run_on_the_sessions_instance_with_its_image_and_environment() {
        let (cp, session_id) = active_session();
        let target = cp.session_script_target(&session_id).unwrap();
        let launch = cp.app_launch(&session_id, "editor").unwrap();
        assert_eq!(target.instance_id, launch.instance_id);
        assert_eq!(target.env, launch.env);
        assert_eq!(target.root, ImageRoot::Host);
        assert_eq!(cp.session_script_target("no-such-session"), None);
    }

    #[test]
    fn only_catalog_apps_of_active_sessions_start() {
        let (cp, session_id) = active_session();
        assert_eq!(
            cp.app_launch(&session_id, "rm-rf"),
            Err(LaunchRefused::NotInCatalog)
        );
        assert_eq!(
            cp.app_launch("no-such-session", "editor"),
            Err(LaunchRefused::NotActive)
        );
    }
}

//! What a first start creates, so that a newcomer streams an app at once: the
//! default image (the host's filesystem and its GUI apps), an ALWAYS_ON fleet
//! with one instance, a stack, and a streaming URL printed at every start.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use porthole_control::image::DEFAULT_IMAGE_NAME;
use porthole_control::{api, default_image, Application, FleetState};
use serde_json::json;

use crate::{now, Server};

pub const FLEET: &str = "porthole-default";
pub const STACK: &str = "porthole-default";
/// The printed URL stays valid for a week (AppStream's maximum).
const WELCOME_VALIDITY_SECS: u64 = 604_800;
const FLEET_START_TIMEOUT: Duration = Duration::from_secs(60);

/// GUI apps looked for on the host, in catalog order: (name, display name, path).
const KNOWN_APPS: &[(&str, &str, &str)] = &[
    ("xterm", "XTerm", "/usr/bin/xterm"),
    ("xclock", "Clock", "/usr/bin/xclock"),
    ("xeyes", "Eyes", "/usr/bin/xeyes"),
    ("xcalc", "Calculator", "/usr/bin/xcalc"),
    ("gedit", "Text Editor", "/usr/bin/gedit"),
    ("mousepad", "Mousepad", "/usr/bin/mousepad"),
    ("firefox", "Firefox", "/usr/bin/firefox-esr"),
    ("libreoffice", "LibreOffice", "/usr/bin/libreoffice"),
];

fn installed_apps() -> Vec<Application> {
    KNOWN_APPS
        .iter()
        .filter(|(_, _, path)| std::path::Path::new(path).exists())
        .map(|(name, display_name, path)| Application {
            name: (*name).to_owned(),
            display_name: (*display_name).to_owned(),
            launch_path: (*path).to_owned(),
            launch_parameters: None,
            working_directory: None,
            icon_url: None,
            enabled: true,
        })
        .collect()
}

pub async fn create(server: &Arc<Server>) -> Result<()> {
    let apps = installed_apps();
    if apps.is_empty() {
        bail!("no GUI application found on this host (install xterm)");
    }
    let effects = {
        let mut cp = server.cp.lock().await;
        let now = now();
        cp.put_image(default_image(now, apps));
        let steps = [
            (
                "CreateFleet",
                json!({
                    "Name": FLEET, "ImageName": DEFAULT_IMAGE_NAME, "InstanceType": "stream.standard.small",
                    "FleetType": "ALWAYS_ON", "ComputeCapacity": { "DesiredInstances": 1 },
                    "DisplayName": "Default fleet", "StreamView": "APP",
                }),
            ),
            (
                "CreateStack",
                json!({ "Name": STACK, "DisplayName": "Default stack" }),
            ),
            (
                "AssociateFleet",
                json!({ "FleetName": FLEET, "StackName": STACK }),
            ),
            ("StartFleet", json!({ "Name": FLEET })),
        ];
        for (operation, input) in steps {
            api::call(&mut cp, operation, &input, now)
                .map_err(|err| anyhow::anyhow!("{operation}: {}", err.message))?;
        }
        cp.take_effects()
    };
    server.persist().await?;
    server.apply(effects).await;
    Ok(())
}

/// A streaming URL for the default stack, once its fleet is running (or
/// None when the default fleet has been removed or stopped).
pub async fn welcome_url(server: &Arc<Server>) -> Result<Option<String>> {
    let timeout = format!(
        "the default fleet did not start within {FLEET_START_TIMEOUT:?}; see the instance logs"
    );
    let grant = server
        .wait_for(FLEET_START_TIMEOUT, &timeout, |cp| {
            match cp.fleet(FLEET).map(|f| f.state) {
                Ok(FleetState::Running) => Some(
                    cp.create_streaming_url(
                        STACK,
                        FLEET,
                        "newcomer",
                        None,
                        Some(WELCOME_VALIDITY_SECS),
                        None,
                        now(),
                    )
                    .map(Some)
                    .map_err(|err| anyhow::anyhow!(err.message))
                    .context("making the welcome streaming URL"),
                ),
                Ok(FleetState::Starting) => None,
                // Removed or stopped by an administrator: nothing to welcome with.
                _ => Some(Ok(None)),
            }
        })
        .await?;
    Ok(grant.map(|grant| {
        format!(
            "{}/session/{}/",
            server.base_url,
            server.tokens.sign(&grant)
        )
    }))
}

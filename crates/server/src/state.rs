//! What every handler shares: the control plane's handle, the instances,
//! the sessions' bookkeeping and the keys. Handlers reach the plane only
//! through [`Plane`] and carry out its decisions with [`Server::apply`]
//! (effects.rs).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use porthole_control::Timestamp;

use crate::credentials::Credentials;
use crate::home_folders::HomeFolders;
use crate::instances::Instances;
use crate::mail::Mailer;
use crate::oidc::OidcProviders;
use crate::plane::Plane;
use crate::saml::SamlProviders;
use crate::sessions::{SessionApps, SessionSignals, SessionTraffic};
use crate::tokens::TokenKey;

pub(crate) struct Server {
    pub(crate) plane: Plane,
    pub(crate) credentials: Credentials,
    pub(crate) tokens: TokenKey,
    pub(crate) instances: Instances,
    /// Where messages to users go.
    pub(crate) mailer: Mailer,
    /// The identity providers users may sign in with.
    pub(crate) idps: IdentityProviders,
    /// Per live session: what its connected browsers must be told.
    pub(crate) signals: SessionSignals,
    /// Apps started in each session (the URL's and the catalog's).
    pub(crate) session_apps: SessionApps,
    /// Bytes and round trips of each live session's browsers.
    pub(crate) traffic: SessionTraffic,
    /// Users' persistent home folders, and which are attached to live sessions.
    pub(crate) home_folders: HomeFolders,
    pub(crate) image_store: crate::image_store::ImageStore,
    /// Each live session's scripts: whether its start scripts ran, its termination's.
    pub(crate) session_scripts: crate::session_scripts::SessionScriptRuns,
    /// Set at shutdown: instances that stop then are not replaced.
    stopping: AtomicBool,
    pub(crate) base_url: String,
}

/// What a [`Server`] is made of; the rest starts empty.
pub(crate) struct ServerParts {
    pub(crate) plane: Plane,
    pub(crate) credentials: Credentials,
    pub(crate) tokens: TokenKey,
    pub(crate) instances: Instances,
    pub(crate) mailer: Mailer,
    pub(crate) idps: IdentityProviders,
    pub(crate) home_folders: HomeFolders,
    pub(crate) image_store: crate::image_store::ImageStore,
    pub(crate) session_scripts: crate::session_scripts::SessionScriptRuns,
    pub(crate) base_url: String,
}

impl Server {
    pub(crate) fn new(parts: ServerParts) -> Self {
        let ServerParts {
            plane,
            credentials,
            tokens,
            instances,
            mailer,
            idps,
            home_folders,
            image_store,
            session_scripts,
            base_url,
        } = parts;
        Self {
            plane,
            credentials,
            tokens,
            instances,
            mailer,
            idps,
            signals: SessionSignals::default(),
            session_apps: SessionApps::default(),
            traffic: SessionTraffic::default(),
            home_folders,
            image_store,
            session_scripts,
            stopping: AtomicBool::new(false),
            base_url,
        }
    }

    /// Removes the image store's layers that no image or image builder lists any more.
    pub(crate) async fn remove_unused_layers(&self) {
        let in_use: std::collections::BTreeSet<String> = {
            let cp = self.plane.lock().await;
            cp.images()
                .filter_map(|image| match &image.root {
                    porthole_control::ImageRoot::Layers { layers, .. } => Some(layers.clone()),
                    porthole_control::ImageRoot::Host => None,
                })
                .flatten()
                .chain(cp.builder_layers().map(str::to_owned))
                .collect()
        };
        self.image_store.remove_unused(&in_use);
    }

    /// From now on, instances that stop are not replaced.
    pub(crate) fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
    }

    pub(crate) fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }
}

pub(crate) struct IdentityProviders {
    pub(crate) oidc: OidcProviders,
    pub(crate) saml: SamlProviders,
}

impl IdentityProviders {
    /// The stacks users of the identity provider `name` may open.
    pub(crate) fn stacks(&self, name: &str) -> &[String] {
        match (self.oidc.get(name), self.saml.get(name)) {
            (Some(oidc), _) => &oidc.config.stacks,
            (None, Some(saml)) => &saml.config.stacks,
            (None, None) => &[],
        }
    }
}

pub(crate) fn now() -> Timestamp {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Timestamp::from_millis(since_epoch.as_millis() as u64)
}

//! Carrying out what the control plane decided ([`Effect`]s), and reporting
//! back what instances did. Instance work runs in the background.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use porthole_control::{ControlPlane, Effect, LaunchSpec, Mail};

use crate::instances::Ended;
use crate::state::{now, Server};
use crate::{mail, passwords};

impl Server {
    /// Carries out effects in order, then wakes those waiting on the plane.
    pub(crate) fn apply(self: &Arc<Self>, effects: Vec<Effect>) -> BoxFuture<'_, ()> {
        // Boxed: applying may observe, and observing applies.
        Box::pin(async move {
            for effect in effects {
                self.apply_one(effect).await;
            }
            self.plane.notify_changed();
        })
    }

    async fn apply_one(self: &Arc<Self>, effect: Effect) {
        match effect {
            Effect::LaunchInstance(spec) | Effect::StartInstance(spec) => {
                if !self.is_stopping() {
                    tokio::spawn(self.clone().run_instance(spec));
                }
            }
            Effect::TerminateInstance { instance_id } => {
                match self.session_scripts.take_ending(&instance_id) {
                    Some(scripts) => {
                        let server = self.clone();
                        tokio::spawn(async move {
                            let _ = scripts.await;
                            server.terminate(&instance_id).await;
                        });
                    }
                    None => self.terminate(&instance_id).await,
                }
            }
            Effect::EndSession {
                session_id, reason, ..
            } => {
                self.signals.leave(&session_id, reason.message());
                // Before the TerminateInstance that follows: its stop waits for them.
                self.start_termination_scripts(&session_id);
                self.signals.forget(&session_id);
                self.session_apps.forget(&session_id);
                self.traffic.forget(&session_id);
                self.home_folders.forget(&session_id);
                if let Err(err) = self
                    .plane
                    .persist_and_record(std::slice::from_ref(&session_id))
                    .await
                {
                    tracing::error!("recording session {session_id} failed: {err:#}");
                }
            }
            Effect::DisconnectSession {
                session_id,
                reason,
                resume,
            } => self
                .signals
                .disconnect(&session_id, reason.message(), resume),
            Effect::WarnSession { session_id, notice } => self.signals.warn(&session_id, notice),
            Effect::SnapshotImageBuilder {
                builder,
                writable_layer,
                layer,
            } => {
                tokio::spawn(self.clone().snapshot(builder, writable_layer, layer));
            }
            Effect::MailUser { user_name, mail } => {
                if let Err(err) = self.mail_user(&user_name, mail).await {
                    tracing::error!("the message to {user_name} was not written: {err:#}");
                }
            }
        }
    }

    /// Writes a user's message; a welcome message gets a new temporary
    /// password, whose hash the plane keeps (it is saved before the message
    /// goes out, so no message names a password that does not work).
    async fn mail_user(&self, user_name: &str, mail: Mail) -> anyhow::Result<()> {
        let portal = format!("{}/", self.base_url);
        let message = match mail {
            Mail::Welcome => {
                let password = passwords::temporary_password();
                let hash = passwords::hash_off_thread(password.clone()).await?;
                let first_name = {
                    let mut cp = self.plane.lock().await;
                    cp.set_temporary_password(user_name, hash, now())?;
                    cp.user(user_name)?.first_name.clone()
                };
                self.plane.persist().await?;
                mail::welcome(user_name, first_name.as_deref(), &portal, &password)
            }
            Mail::StackAssigned { stack } => mail::stack_assigned(user_name, &stack, &portal),
            Mail::PasswordReset => {
                let code = passwords::reset_code();
                let hash = passwords::hash_off_thread(code.clone()).await?;
                self.plane
                    .lock()
                    .await
                    .set_reset_code(user_name, hash, now())?;
                self.plane.persist().await?;
                mail::password_reset(user_name, &code, &portal)
            }
        };
        let path = self.mailer.deliver(&message).await?;
        tracing::info!("message to {user_name} written to {}", path.display());
        Ok(())
    }

    /// Applies an observation to the plane, persists, and carries out its effects.
    pub(crate) async fn observe(
        self: &Arc<Self>,
        observation: impl FnOnce(&mut ControlPlane) -> porthole_control::error::Result<Vec<Effect>>,
    ) {
        let effects = observation(&mut *self.plane.lock().await);
        self.plane.persist_soon().await;
        match effects {
            Ok(effects) => self.apply(effects).await,
            Err(err) => tracing::debug!("observation not applied: {}", err.message),
        }
    }

    /// Stops the instance; the plane hears of its exit as it goes.
    async fn terminate(self: &Arc<Self>, instance_id: &str) {
        if !self.instances.stop(instance_id) {
            // Not running here (reserved, or never started): gone already.
            self.observe(|cp| cp.instance_exited(instance_id, now()))
                .await;
        }
    }

    /// Makes the layer of an image builder's snapshot and reports how that went.
    async fn snapshot(self: Arc<Self>, builder: String, writable_layer: String, layer: String) {
        let lower = {
            let cp = self.plane.lock().await;
            cp.image_builder(&builder).map(|b| b.root.clone())
        };
        let Ok(porthole_control::ImageRoot::Layers { on_host, layers }) = lower else {
            tracing::error!(image_builder = %builder, "snapshot of a builder that is gone");
            return;
        };
        let store = self.image_store.clone();
        let made = tokio::task::spawn_blocking(move || {
            store.snapshot(&writable_layer, &layer, on_host, &layers)
        })
        .await
        .map_err(anyhow::Error::from)
        .and_then(|made| made)
        .map_err(|err| {
            tracing::error!(image_builder = %builder, "making the image failed: {err:#}");
            format!("{err:#}")
        });
        self.observe(|cp| {
            cp.image_builder_snapshot_done(&builder, made)?;
            Ok(cp.take_effects())
        })
        .await;
        if let Err(err) = self.plane.persist().await {
            tracing::error!("saving the snapshot's image failed: {err:#}");
        }
    }

    /// Runs an instance to its end, reporting readiness and the end to the plane.
    async fn run_instance(self: Arc<Self>, spec: LaunchSpec) {
        let id = spec.instance_id.clone();
        let builder = spec.image_builder.clone();
        let builder_instance = builder.is_some();
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let watcher = {
            let server = self.clone();
            let id = id.clone();
            tokio::spawn(async move {
                if ready_rx.await.is_err() {
                    return None;
                }
                // The builder's image assistant can ask for an image from now on.
                let assistant = builder.and_then(|builder| {
                    let (uid, dir) = server.instances.runtime(&id)?;
                    let socket = dir.join(porthole_agent_api::image_assistant::SOCKET);
                    crate::image_assistant::listen(&server, &builder, socket, uid)
                        .inspect_err(|err| tracing::error!(instance = %id, "{err:#}"))
                        .ok()
                });
                server.observe(|cp| cp.instance_ready(&id, now())).await;
                assistant
            })
        };
        let ended = self.instances.run(spec, ready_tx).await;
        if let Ok(Some(assistant)) = watcher.await {
            assistant.abort();
        }
        // Everything its apps saved is on disk now: the last push (with S3), in the
        // background so that the instance's replacement does not wait for the upload.
        let server = self.clone();
        let instance = id.clone();
        tokio::spawn(async move { server.home_folders.instance_ended(&instance).await });
        if builder_instance && self.is_stopping() {
            // Stopped by the shutdown, not by the builder's state: it stays as recorded
            // (RUNNING) and relaunches at the next start.
            return;
        }
        match ended {
            // The plane backs off before replacing it: no tight loop on a broken fleet.
            Ended::Failed(message) => {
                self.observe(|cp| cp.instance_failed(&id, &message, now()))
                    .await
            }
            Ended::Exited => self.observe(|cp| cp.instance_exited(&id, now())).await,
        }
        if builder_instance {
            // A deleted builder's writable layer goes with it.
            self.remove_unused_layers().await;
        }
    }
}

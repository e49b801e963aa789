//! Instances: reconciling each fleet's instances with its state and desired
//! capacity, launch backoff, and what the server reports of instances.

use crate::error::{DomainError, Result};
use crate::fleet::{FleetError, FleetErrorCode, FleetState, FleetType};
use crate::instance::{Capacity, Effect, Instance, InstanceState, LaunchSpec};
use crate::plane::{ControlPlane, DocKind};
use crate::session::{EndReason, Session, SessionState};
use crate::time::Timestamp;

impl ControlPlane {
    /// Drains the effects produced so far (by an operation, for instance).
    pub fn take_effects(&mut self) -> Vec<Effect> {
        std::mem::take(&mut self.outbox)
    }

    /// Brings every fleet's instances in line with its state and capacity.
    pub fn reconcile(&mut self, now: Timestamp) -> Vec<Effect> {
        let names: Vec<String> = self.fleets.keys().cloned().collect();
        for name in names {
            self.reconcile_fleet(&name, now);
        }
        self.reconcile_builders(now);
        self.take_effects()
    }

    /// Periodic work: scaling decisions, session timeouts, then reconcile.
    pub fn tick(&mut self, now: Timestamp) -> Vec<Effect> {
        self.apply_scaling(now);
        let live: Vec<String> = self
            .sessions
            .values()
            .filter(|s| s.is_live())
            .map(|s| s.id.clone())
            .collect();
        for id in live {
            self.check_timeouts(&id, now);
            self.check_warnings(&id, now);
        }
        self.reconcile(now)
    }

    pub fn capacity(&self, fleet: &str) -> Result<Capacity> {
        let f = self.fleet(fleet)?;
        let mine = || self.instances.values().filter(|i| i.fleet == fleet);
        let running = mine().filter(|i| i.state == InstanceState::Running).count() as u32;
        let in_use = mine().filter(|i| i.in_use()).count() as u32;
        let pending = mine()
            .filter(|i| i.state == InstanceState::Pending && i.session.is_none())
            .count() as u32;
        let free_in = |states: &[InstanceState]| {
            mine()
                .filter(|i| i.session.is_none() && states.contains(&i.state))
                .count() as u32
        };
        let (desired, available) = match f.fleet_type {
            FleetType::AlwaysOn => (f.desired_instances, free_in(&[InstanceState::Running])),
            FleetType::OnDemand => (
                f.desired_instances,
                free_in(&[InstanceState::Running, InstanceState::Stopped]),
            ),
            FleetType::Elastic => {
                let max = f.max_concurrent_sessions.unwrap_or(0);
                let slots = if f.state == FleetState::Running {
                    max.saturating_sub(in_use)
                } else {
                    0
                };
                (max, slots)
            }
        };
        Ok(Capacity {
            desired,
            running,
            in_use,
            available,
            pending,
            insufficient_capacity_errors: f.insufficient_capacity_errors,
        })
    }

    // ---- instances ---------------------------------------------------------

    pub(super) fn launch_spec(&self, instance: &Instance) -> Option<LaunchSpec> {
        let fleet = self.fleets.get(&instance.fleet)?;
        let image = self.images.get(&instance.image_name)?;
        Some(LaunchSpec {
            instance_id: instance.id.clone(),
            fleet: fleet.name.clone(),
            instance_type: fleet.instance_type(),
            image: image.name.clone(),
            root: image.root.clone(),
            image_builder: None,
            writable_layer: None,
            network: fleet.enable_default_internet_access,
            stream_view: fleet.stream_view,
        })
    }

    /// Records a new instance; Pending ones get a LaunchInstance effect.
    pub(super) fn add_instance(
        &mut self,
        fleet: &str,
        state: InstanceState,
        session: Option<String>,
        now: Timestamp,
    ) -> Option<String> {
        let image_name = self.fleets.get(fleet)?.image_name.clone();
        let id = self.fresh_id("i-");
        let instance = Instance {
            id: id.clone(),
            fleet: fleet.to_owned(),
            builder: None,
            image_name,
            state,
            session,
            created_time: now,
        };
        if state == InstanceState::Pending {
            let spec = self.launch_spec(&instance)?;
            self.outbox.push(Effect::LaunchInstance(spec));
        }
        self.instances.insert(id.clone(), instance);
        Some(id)
    }

    /// Stops using an instance: reserved ones just disappear, live ones are
    /// terminated (once).
    pub(crate) fn release_instance(&mut self, id: &str) {
        let Some(instance) = self.instances.get_mut(id) else {
            return;
        };
        match instance.state {
            InstanceState::Stopped => {
                self.instances.remove(id);
            }
            InstanceState::Terminating => {}
            InstanceState::Pending | InstanceState::Running => {
                instance.state = InstanceState::Terminating;
                self.outbox.push(Effect::TerminateInstance {
                    instance_id: id.to_owned(),
                });
            }
        }
    }

    /// Takes an instance out of service, ending its session first if any.
    fn retire_instance(&mut self, id: &str, reason: EndReason, now: Timestamp) {
        let session = self.instances.get(id).and_then(|i| i.session.clone());
        match session {
            Some(session) if self.sessions.get(&session).is_some_and(Session::is_live) => {
                self.end_session_inner(&session, reason, now)
            }
            _ => self.release_instance(id),
        }
    }

    pub(crate) fn reconcile_fleet(&mut self, name: &str, now: Timestamp) {
        let Some(fleet) = self.fleets.get(name) else {
            return;
        };
        let (state, fleet_type, desired, image) = (
            fleet.state,
            fleet.fleet_type,
            fleet.desired_instances,
            fleet.image_name.clone(),
        );
        let mine = |cp: &ControlPlane| -> Vec<Instance> {
            cp.instances
                .values()
                .filter(|i| i.fleet == name)
                .cloned()
                .collect()
        };
        match state {
            FleetState::Stopping | FleetState::Stopped => {
                for instance in mine(self) {
                    self.retire_instance(&instance.id, EndReason::FleetStopped, now);
                }
                if state == FleetState::Stopping && mine(self).is_empty() {
                    self.set_fleet_state(name, FleetState::Stopped);
                }
                return;
            }
            FleetState::Starting | FleetState::Running => {}
        }
        if fleet_type != FleetType::Elastic {
            // A new image reaches free instances at once; busy ones keep the
            // old image until their session ends.
            for instance in mine(self) {
                if instance.is_free() && instance.image_name != image {
                    self.release_instance(&instance.id);
                }
            }
            let mut live: Vec<Instance> = mine(self)
                .into_iter()
                .filter(|i| i.state != InstanceState::Terminating)
                .collect();
            let count = live.len() as u32;
            let fresh_state = match fleet_type {
                FleetType::OnDemand => InstanceState::Stopped,
                _ => InstanceState::Pending,
            };
            let missing = desired.saturating_sub(count);
            let launches = match fresh_state {
                InstanceState::Pending => self.launches_allowed(name, missing, now),
                _ => missing,
            };
            for _ in 0..launches {
                self.add_instance(name, fresh_state, None, now);
            }
            if count > desired {
                // Scale in with the cheapest first: reserved, then booting,
                // then idle running; newest first. Sessions are never cut.
                live.retain(Instance::is_free);
                live.sort_by_key(|i| {
                    let rank = match i.state {
                        InstanceState::Stopped => 0,
                        InstanceState::Pending => 1,
                        _ => 2,
                    };
                    (
                        rank,
                        std::cmp::Reverse(i.created_time),
                        std::cmp::Reverse(i.id.clone()),
                    )
                });
                for instance in live.iter().take((count - desired) as usize) {
                    self.release_instance(&instance.id);
                }
            }
        }
        if state == FleetState::Starting {
            // ALWAYS_ON is RUNNING once its desired instances run; ON_DEMAND
            // and ELASTIC once capacity is reserved, i.e. right away.
            let ready = match fleet_type {
                FleetType::AlwaysOn => {
                    mine(self)
                        .iter()
                        .filter(|i| i.state == InstanceState::Running)
                        .count() as u32
                        >= desired
                }
                FleetType::OnDemand | FleetType::Elastic => true,
            };
            if ready {
                self.set_fleet_state(name, FleetState::Running);
            }
        }
    }

    /// How many of `missing` instances to launch now: all of them normally; after failed
    /// launches none before the backoff deadline, then one probe at a time until one comes
    /// up, so that a broken fleet costs one sandbox per attempt.
    fn launches_allowed(&self, fleet: &str, missing: u32, now: Timestamp) -> u32 {
        let Some(backoff) = self.fleets.get(fleet).and_then(|f| f.launch_backoff) else {
            return missing;
        };
        let probing = self
            .instances
            .values()
            .any(|i| i.fleet == fleet && i.state == InstanceState::Pending && i.session.is_none());
        if now < backoff.until || probing {
            0
        } else {
            missing.min(1)
        }
    }

    fn set_fleet_state(&mut self, name: &str, state: FleetState) {
        if let Some(f) = self.fleets.get_mut(name) {
            f.state = state;
            self.mark(DocKind::Fleet, name);
        }
    }

    /// The server reports that an instance booted and can stream.
    pub fn instance_ready(&mut self, id: &str, now: Timestamp) -> Result<Vec<Effect>> {
        let instance = self
            .instances
            .get_mut(id)
            .ok_or_else(|| DomainError::not_found("instance", id))?;
        if instance.state == InstanceState::Pending {
            instance.state = InstanceState::Running;
            if let Some(builder) = instance.builder.clone() {
                self.builder_instance_ready(&builder);
                return Ok(self.take_effects());
            }
            let (fleet, session) = (instance.fleet.clone(), instance.session.clone());
            if let Some(f) = self.fleets.get_mut(&fleet) {
                f.clear_launch_failures();
            }
            if let Some(s) = session.and_then(|s| self.sessions.get_mut(&s)) {
                if s.state == SessionState::Pending {
                    s.state = SessionState::Active;
                    let sid = s.id.clone();
                    self.mark(DocKind::Session, &sid);
                }
            }
            self.reconcile_fleet(&fleet, now);
        }
        Ok(self.take_effects())
    }

    /// The server reports that an instance is gone (terminated, crashed or
    /// failed to boot). Its session, if still live, ends with the reason.
    pub fn instance_exited(&mut self, id: &str, now: Timestamp) -> Result<Vec<Effect>> {
        self.instance_gone(id, None, now)
    }

    fn instance_gone(
        &mut self,
        id: &str,
        failure: Option<&str>,
        now: Timestamp,
    ) -> Result<Vec<Effect>> {
        let instance = self
            .instances
            .remove(id)
            .ok_or_else(|| DomainError::not_found("instance", id))?;
        if let Some(builder) = &instance.builder {
            self.builder_instance_gone(builder, failure, now);
            return Ok(self.take_effects());
        }
        if let Some(session) = &instance.session {
            if self.sessions.get(session).is_some_and(Session::is_live) {
                self.end_session_inner(session, EndReason::InstanceExited, now);
            }
        }
        self.reconcile_fleet(&instance.fleet, now);
        Ok(self.take_effects())
    }

    /// The server reports that an instance never came up (its sandbox or agent did not
    /// start). Like [`ControlPlane::instance_exited`], and the fleet records the error
    /// (FleetErrors) and backs off before launching a replacement.
    pub fn instance_failed(
        &mut self,
        id: &str,
        message: &str,
        now: Timestamp,
    ) -> Result<Vec<Effect>> {
        let instance = self.instance(id)?;
        let (fleet, created) = (instance.fleet.clone(), instance.created_time);
        // Terminated while starting (fleet stopped, scaled in): no fault of the fleet.
        let wanted = instance.state == InstanceState::Pending;
        if let Some(f) = self
            .fleets
            .get_mut(&fleet)
            .filter(|f| wanted && f.is_active())
        {
            let error = FleetError {
                code: FleetErrorCode::InstanceProvisioningFailure,
                message: format!("An instance failed to start: {message}"),
            };
            f.launch_failed(error, created, now);
        }
        self.instance_gone(id, Some(message), now)
    }
}

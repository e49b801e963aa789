//! Sessions: streaming grants, opening a session on an instance, browser
//! connections, timeouts and the warnings before them.

use crate::error::{DomainError, ErrorKind, Result};
use crate::fleet::{FleetState, FleetType};
use crate::instance::{Effect, InstanceState};
use crate::plane::{ControlPlane, DocKind};
use crate::session::{
    idle_warning_lead_secs, url_validity, AuthenticationType, ConnectionState, DisconnectReason,
    EndReason, Notice, NoticeKind, Session, SessionState, StreamingGrant, Warned,
    MAX_URL_VALIDITY_SECS, SESSION_ENDING_WARNING_SECS,
};
use crate::time::Timestamp;

/// ApplicationId that asks for the desktop instead of one application.
pub const DESKTOP_APPLICATION_ID: &str = "Desktop";

impl ControlPlane {
    fn check_streamable(&self, stack: &str, fleet: &str) -> Result<()> {
        let s = self.stack(stack)?;
        let f = self.fleet(fleet)?;
        if s.fleet.as_deref() != Some(fleet) {
            return Err(DomainError::combination(format!(
                "The fleet {fleet} is not associated with the stack {stack}."
            )));
        }
        if f.state != FleetState::Running {
            return Err(DomainError::new(
                ErrorKind::ResourceNotAvailable,
                format!("The fleet {fleet} is {}, not RUNNING.", f.state.as_str()),
            ));
        }
        Ok(())
    }

    /// CreateStreamingURL's decision; the server signs the grant into a URL.
    #[allow(clippy::too_many_arguments)] // the operation's own members
    pub fn create_streaming_url(
        &self,
        stack: &str,
        fleet: &str,
        user_id: &str,
        application_id: Option<&str>,
        validity_secs: Option<u64>,
        session_context: Option<&str>,
        now: Timestamp,
    ) -> Result<StreamingGrant> {
        let validity = url_validity(validity_secs)?;
        self.check_streamable(stack, fleet)?;
        if let Some(app) = application_id {
            let f = self.fleet(fleet)?;
            if app == DESKTOP_APPLICATION_ID {
                if f.stream_view != crate::fleet::StreamView::Desktop {
                    return Err(DomainError::combination(format!(
                        "The fleet {fleet} streams applications, not the desktop."
                    )));
                }
            } else if self.fleet_catalog_entry(&f.name, app).is_none() {
                return Err(DomainError::not_found("application", app));
            }
        }
        Ok(StreamingGrant {
            stack: stack.to_owned(),
            fleet: fleet.to_owned(),
            user_id: user_id.to_owned(),
            application_id: application_id.map(str::to_owned),
            session_context: session_context.map(str::to_owned),
            expires: now.plus_secs(validity),
            authentication_type: AuthenticationType::Api,
            attributes: Vec::new(),
            image_builder: None,
        })
    }

    /// The live session a streaming URL's user has in its stack and fleet.
    pub fn live_session(&self, grant: &StreamingGrant) -> Option<&Session> {
        self.sessions.values().find(|s| {
            s.is_live()
                && s.image_builder == grant.image_builder
                && s.user_id == grant.user_id
                && s.stack == grant.stack
                && s.fleet == grant.fleet
                && s.authentication_type == grant.authentication_type
        })
    }

    /// Opening a streaming URL: the user's live session in that stack and
    /// fleet if there is one (AppStream reconnects), else a new session on a
    /// free instance. No capacity: ResourceNotAvailable, counted as an
    /// InsufficientCapacityError.
    pub fn open_session(
        &mut self,
        grant: &StreamingGrant,
        now: Timestamp,
    ) -> Result<(Session, Vec<Effect>)> {
        if now >= grant.expires {
            return Err(DomainError::not_permitted("The streaming URL has expired."));
        }
        if let Some(builder) = &grant.image_builder {
            return self.open_builder_session(grant, builder, now);
        }
        self.check_streamable(&grant.stack, &grant.fleet)?;
        if grant.authentication_type == AuthenticationType::Userpool {
            // Checked again at every open: the user may be disabled since.
            self.check_user_may_stream(&grant.user_id, &grant.stack)?;
        }
        self.check_entitled(grant)?;
        if let Some(existing) = self.live_session(grant) {
            return Ok((existing.clone(), self.take_effects()));
        }
        let session_id = self.fresh_id("");
        let instance_id = self
            .assign_instance(&grant.fleet, &session_id, now)
            .ok_or_else(|| {
                if let Some(f) = self.fleets.get_mut(&grant.fleet) {
                    f.insufficient_capacity_errors += 1;
                }
                self.mark(DocKind::Fleet, &grant.fleet);
                DomainError::new(
                    ErrorKind::ResourceNotAvailable,
                    format!(
                        "No streaming capacity is available on the fleet {}; try again later.",
                        grant.fleet
                    ),
                )
            })?;
        let fleet = self.fleet(&grant.fleet)?;
        let ready = self
            .instances
            .get(&instance_id)
            .is_some_and(|i| i.state == InstanceState::Running);
        let session = Session {
            id: session_id.clone(),
            user_id: grant.user_id.clone(),
            stack: grant.stack.clone(),
            fleet: grant.fleet.clone(),
            instance_id: Some(instance_id),
            state: if ready {
                SessionState::Active
            } else {
                SessionState::Pending
            },
            connection_state: ConnectionState::NotConnected,
            connections: 0,
            start_time: now,
            max_expiration_time: now.plus_secs(fleet.max_user_duration_secs),
            authentication_type: grant.authentication_type,
            last_input_time: now,
            disconnected_since: Some(now),
            application_id: grant.application_id.clone(),
            session_context: grant.session_context.clone(),
            attributes: grant.attributes.clone(),
            end_time: None,
            end_reason: None,
            image_builder: None,
            warned: Warned::default(),
        };
        self.sessions.insert(session_id.clone(), session.clone());
        self.mark(DocKind::Session, &session_id);
        self.reconcile_fleet(&grant.fleet, now);
        Ok((session, self.take_effects()))
    }

    /// A session on a running builder's desktop: the one there is, or a new one. The
    /// builder's instance outlives its sessions; no fleet timeout applies to them.
    fn open_builder_session(
        &mut self,
        grant: &StreamingGrant,
        builder: &str,
        now: Timestamp,
    ) -> Result<(Session, Vec<Effect>)> {
        let instance_id = self.check_builder_streamable(builder)?.id.clone();
        if let Some(existing) = self.live_session(grant) {
            return Ok((existing.clone(), self.take_effects()));
        }
        let session_id = self.fresh_id("");
        let session = Session {
            id: session_id.clone(),
            user_id: grant.user_id.clone(),
            stack: String::new(),
            fleet: String::new(),
            instance_id: Some(instance_id),
            state: SessionState::Active,
            connection_state: ConnectionState::NotConnected,
            connections: 0,
            start_time: now,
            max_expiration_time: now.plus_secs(MAX_URL_VALIDITY_SECS),
            authentication_type: grant.authentication_type,
            last_input_time: now,
            disconnected_since: Some(now),
            application_id: grant.application_id.clone(),
            session_context: None,
            attributes: Vec::new(),
            end_time: None,
            end_reason: None,
            image_builder: Some(builder.to_owned()),
            warned: Warned::default(),
        };
        self.sessions.insert(session_id.clone(), session.clone());
        self.mark(DocKind::Session, &session_id);
        Ok((session, self.take_effects()))
    }

    /// Binds a free instance of the fleet to the session, by fleet type.
    fn assign_instance(&mut self, fleet: &str, session: &str, now: Timestamp) -> Option<String> {
        let f = self.fleets.get(fleet)?;
        let oldest_free = |cp: &ControlPlane, state: InstanceState| {
            cp.instances
                .values()
                .filter(|i| i.fleet == fleet && i.is_free() && i.state == state)
                .min_by_key(|i| (i.created_time, i.id.clone()))
                .map(|i| i.id.clone())
        };
        match f.fleet_type {
            FleetType::AlwaysOn => {
                let id = oldest_free(self, InstanceState::Running)?;
                self.instances.get_mut(&id)?.session = Some(session.to_owned());
                Some(id)
            }
            FleetType::OnDemand => {
                if let Some(id) = oldest_free(self, InstanceState::Running) {
                    self.instances.get_mut(&id)?.session = Some(session.to_owned());
                    return Some(id);
                }
                let id = oldest_free(self, InstanceState::Stopped)?;
                let instance = self.instances.get_mut(&id)?;
                instance.session = Some(session.to_owned());
                instance.state = InstanceState::Pending;
                let instance = instance.clone();
                let spec = self.launch_spec(&instance)?;
                self.outbox.push(Effect::StartInstance(spec));
                Some(id)
            }
            FleetType::Elastic => {
                let in_use = self.capacity(fleet).ok()?.in_use;
                if in_use >= f.max_concurrent_sessions.unwrap_or(0) {
                    return None;
                }
                self.add_instance(fleet, InstanceState::Pending, Some(session.to_owned()), now)
            }
        }
    }

    fn live_session_mut(&mut self, id: &str) -> Result<&mut Session> {
        let session = self
            .sessions
            .get_mut(id)
            .ok_or_else(|| DomainError::not_found("session", id))?;
        match session.end_reason {
            Some(reason) if !session.is_live() => Err(DomainError::not_permitted(format!(
                "The session {id} has ended: {}.",
                reason.message()
            ))),
            _ => Ok(session),
        }
    }

    /// A browser connected to the session (several may, e.g. two tabs).
    pub fn session_connected(&mut self, id: &str, now: Timestamp) -> Result<Vec<Effect>> {
        let s = self.live_session_mut(id)?;
        s.connections += 1;
        s.connection_state = ConnectionState::Connected;
        s.disconnected_since = None;
        // Connecting is activity: the idle clock starts now.
        s.last_input_time = now;
        self.mark(DocKind::Session, id);
        Ok(self.take_effects())
    }

    /// A browser left; with none left the disconnect timeout starts.
    pub fn session_disconnected(&mut self, id: &str, now: Timestamp) -> Result<Vec<Effect>> {
        let s = self.live_session_mut(id)?;
        if s.connections > 0 {
            s.connections -= 1;
            if s.connections == 0 {
                s.connection_state = ConnectionState::NotConnected;
                s.disconnected_since = Some(now);
            }
            self.mark(DocKind::Session, id);
        }
        Ok(self.take_effects())
    }

    /// Keyboard or mouse input (not pixels, audio or file transfer).
    pub fn session_input(&mut self, id: &str, now: Timestamp) -> Result<()> {
        // Not persisted: input is frequent, and after a restart the session
        // is over anyway.
        self.live_session_mut(id)?.last_input_time = now;
        Ok(())
    }

    /// Ends a session (ExpireSession, or the user ending it). Ending an
    /// ended session changes nothing.
    pub fn end_session(
        &mut self,
        id: &str,
        reason: EndReason,
        now: Timestamp,
    ) -> Result<Vec<Effect>> {
        self.end_session_keep_effects(id, reason, now)?;
        Ok(self.take_effects())
    }

    /// [`ControlPlane::end_session`] leaving the effects in the outbox, as
    /// every AppStream operation does (ExpireSession: its caller drains them).
    pub fn end_session_keep_effects(
        &mut self,
        id: &str,
        reason: EndReason,
        now: Timestamp,
    ) -> Result<()> {
        let session = self.session(id)?;
        if session.is_live() {
            let fleet = session.fleet.clone();
            self.end_session_inner(id, reason, now);
            self.reconcile_fleet(&fleet, now);
        }
        Ok(())
    }

    pub(crate) fn end_session_inner(&mut self, id: &str, reason: EndReason, now: Timestamp) {
        let Some(session) = self.sessions.get_mut(id) else {
            return;
        };
        session.end(reason, now);
        let instance_id = session.instance_id.clone();
        let on_builder = session.image_builder.is_some();
        self.mark(DocKind::Session, id);
        self.outbox.push(Effect::EndSession {
            session_id: id.to_owned(),
            instance_id: instance_id.clone(),
            reason,
        });
        // Instances are never reused: the session's instance goes with it (an image
        // builder's stays: it has a life of its own).
        if let Some(instance) = instance_id.clone().filter(|_| !on_builder) {
            self.release_instance(&instance);
        }
    }

    /// Warns connected browsers before the maximum duration and before an
    /// idle disconnect, once per deadline. Runs after `check_timeouts`, so a
    /// deadline already reached has been acted on instead.
    pub(super) fn check_warnings(&mut self, id: &str, now: Timestamp) {
        let Some(s) = self.sessions.get(id) else {
            return;
        };
        let Some(f) = self.fleets.get(&s.fleet) else {
            return;
        };
        if !s.is_live() || s.connection_state != ConnectionState::Connected {
            return;
        }
        let idle = f.effective_idle_timeout_secs();
        let mut notices = Vec::new();
        let ending = s.max_expiration_time;
        if !s.warned.session_ending && now.plus_secs(SESSION_ENDING_WARNING_SECS) >= ending {
            notices.push(Notice {
                kind: NoticeKind::SessionEnding,
                deadline: ending,
            });
        }
        let idle_since = s.last_input_time;
        let idle_deadline = idle_since.plus_secs(idle);
        if idle > 0
            && s.warned.idle_since != Some(idle_since)
            && now.plus_secs(idle_warning_lead_secs(idle)) >= idle_deadline
        {
            notices.push(Notice {
                kind: NoticeKind::IdleDisconnect,
                deadline: idle_deadline,
            });
        }
        let Some(s) = self.sessions.get_mut(id) else {
            return;
        };
        for notice in notices {
            match notice.kind {
                NoticeKind::SessionEnding => s.warned.session_ending = true,
                NoticeKind::IdleDisconnect => s.warned.idle_since = Some(idle_since),
                // Goes with the disconnect itself, never as a warning.
                NoticeKind::Disconnected
                | NoticeKind::HomeFolderFull
                | NoticeKind::SessionScriptFailed => {}
            }
            self.outbox.push(Effect::WarnSession {
                session_id: id.to_owned(),
                notice,
            });
        }
    }

    pub(super) fn check_timeouts(&mut self, id: &str, now: Timestamp) {
        let Some(s) = self.sessions.get(id) else {
            return;
        };
        let Some(f) = self.fleets.get(&s.fleet) else {
            return;
        };
        let idle = f.effective_idle_timeout_secs();
        let disconnect_timeout = f.disconnect_timeout_secs;
        if now >= s.max_expiration_time {
            self.end_session_inner(id, EndReason::MaxDurationReached, now);
        } else if s
            .disconnected_since
            .is_some_and(|since| now.reached(since, f.disconnect_timeout_secs))
        {
            self.end_session_inner(id, EndReason::DisconnectTimeout, now);
        } else if idle > 0
            && s.connection_state == ConnectionState::Connected
            && now.reached(s.last_input_time, idle)
        {
            // AppStream disconnects idle users; the disconnect timeout then
            // decides whether the session ends or the user resumes it.
            if let Some(s) = self.sessions.get_mut(id) {
                s.connections = 0;
                s.connection_state = ConnectionState::NotConnected;
                s.disconnected_since = Some(now);
            }
            self.mark(DocKind::Session, id);
            self.outbox.push(Effect::DisconnectSession {
                session_id: id.to_owned(),
                reason: DisconnectReason::IdleTimeout,
                resume: Notice {
                    kind: NoticeKind::Disconnected,
                    deadline: now.plus_secs(disconnect_timeout),
                },
            });
        }
    }
}

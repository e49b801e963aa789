//! Application Auto Scaling's operations on the plane: scalable targets on
//! fleets, their target-tracking policies, and the tick's scaling step.

use crate::error::{DomainError, ErrorKind, Result};
use crate::fleet::{FleetState, FleetType, MAX_DESIRED_INSTANCES};
use crate::plane::{ControlPlane, DocKind};
use crate::scaling::{ScalableTarget, SuspendedState, TargetTrackingPolicy};
use crate::time::Timestamp;
use std::collections::{BTreeMap, VecDeque};

/// RegisterScalableTarget's settings; `None` keeps the current value (or
/// the default for a new target: no suspension).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TargetSettings {
    pub min_capacity: Option<u32>,
    pub max_capacity: Option<u32>,
    pub dynamic_scaling_in_suspended: Option<bool>,
    pub dynamic_scaling_out_suspended: Option<bool>,
    pub scheduled_scaling_suspended: Option<bool>,
}

/// PutScalingPolicy's target-tracking configuration, defaults applied.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicySettings {
    pub target_utilization: f64,
    pub scale_out_cooldown_secs: u64,
    pub scale_in_cooldown_secs: u64,
    pub disable_scale_in: bool,
}

impl ControlPlane {
    pub fn scalable_target(&self, fleet: &str) -> Result<&ScalableTarget> {
        self.scalable_targets.get(fleet).ok_or_else(|| {
            DomainError::new(
                ErrorKind::ObjectNotFound,
                format!("No scalable target registered for the fleet {fleet}."),
            )
        })
    }

    pub fn scalable_targets(&self) -> impl Iterator<Item = &ScalableTarget> {
        self.scalable_targets.values()
    }

    /// Registers the fleet as a scalable target, or updates its bounds and
    /// suspended states. A desired capacity outside the new bounds is moved
    /// inside at once (recorded as an activity), as AWS does.
    pub fn register_scalable_target(
        &mut self,
        fleet: &str,
        settings: TargetSettings,
        now: Timestamp,
    ) -> Result<&ScalableTarget> {
        let f = self
            .fleets
            .get(fleet)
            .ok_or_else(|| DomainError::validation(format!("The fleet {fleet} does not exist.")))?;
        if f.fleet_type == FleetType::Elastic {
            return Err(DomainError::validation(format!(
                "The fleet {fleet} is ELASTIC: it scales by MaxConcurrentSessions, \
                 not by desired capacity."
            )));
        }
        let desired = f.desired_instances;
        let mut target = match self.scalable_targets.get(fleet) {
            Some(existing) => existing.clone(),
            None => {
                let (Some(min), Some(max)) = (settings.min_capacity, settings.max_capacity) else {
                    return Err(DomainError::validation(
                        "MinCapacity and MaxCapacity are required to register a new scalable target.",
                    ));
                };
                ScalableTarget {
                    fleet: fleet.to_owned(),
                    id: self.fresh_id(""),
                    min_capacity: min,
                    max_capacity: max,
                    suspended: SuspendedState::default(),
                    created_time: now,
                    policies: BTreeMap::new(),
                    activities: VecDeque::new(),
                    last_scaling_change: None,
                }
            }
        };
        target.min_capacity = settings.min_capacity.unwrap_or(target.min_capacity);
        target.max_capacity = settings.max_capacity.unwrap_or(target.max_capacity);
        if target.min_capacity > target.max_capacity {
            return Err(DomainError::validation(format!(
                "MinCapacity {} must not be greater than MaxCapacity {}.",
                target.min_capacity, target.max_capacity
            )));
        }
        if target.max_capacity > MAX_DESIRED_INSTANCES {
            return Err(DomainError::validation(format!(
                "MaxCapacity must be at most {MAX_DESIRED_INSTANCES} (the instances a fleet can have)."
            )));
        }
        let s = &mut target.suspended;
        s.dynamic_scaling_in = settings
            .dynamic_scaling_in_suspended
            .unwrap_or(s.dynamic_scaling_in);
        s.dynamic_scaling_out = settings
            .dynamic_scaling_out_suspended
            .unwrap_or(s.dynamic_scaling_out);
        s.scheduled_scaling = settings
            .scheduled_scaling_suspended
            .unwrap_or(s.scheduled_scaling);
        let moved = target.clamp(desired);
        if moved != desired {
            let cause = format!(
                "the scalable target's capacity range was set to [{}, {}]",
                target.min_capacity, target.max_capacity
            );
            target.record(self.fresh_id(""), moved, cause, now);
            self.set_desired(fleet, moved, now);
        }
        self.mark(DocKind::ScalableTarget, fleet);
        self.scalable_targets.insert(fleet.to_owned(), target);
        self.scalable_target(fleet)
    }

    /// Removes the fleet's scalable target and its policies.
    pub fn deregister_scalable_target(&mut self, fleet: &str) -> Result<()> {
        self.scalable_target(fleet)?;
        self.scalable_targets.remove(fleet);
        self.mark(DocKind::ScalableTarget, fleet);
        Ok(())
    }

    /// Creates or replaces (keeping its ARN) a target-tracking policy.
    pub fn put_scaling_policy(
        &mut self,
        fleet: &str,
        name: &str,
        settings: PolicySettings,
        now: Timestamp,
    ) -> Result<&TargetTrackingPolicy> {
        self.scalable_target(fleet)?;
        if !(settings.target_utilization > 0.0 && settings.target_utilization <= 100.0) {
            return Err(DomainError::validation(format!(
                "TargetValue {} is not a CapacityUtilization percentage in (0, 100].",
                settings.target_utilization
            )));
        }
        let existing = self.scalable_targets[fleet].policies.get(name).cloned();
        let (id, created_time) = match existing {
            Some(p) => (p.id, p.created_time),
            None => (self.policy_id(), now),
        };
        let policy = TargetTrackingPolicy {
            name: name.to_owned(),
            id,
            target_utilization: settings.target_utilization,
            scale_out_cooldown_secs: settings.scale_out_cooldown_secs,
            scale_in_cooldown_secs: settings.scale_in_cooldown_secs,
            disable_scale_in: settings.disable_scale_in,
            created_time,
        };
        self.mark(DocKind::ScalableTarget, fleet);
        let target = self.scalable_targets.get_mut(fleet).expect("checked above");
        target.policies.insert(name.to_owned(), policy);
        Ok(&target.policies[name])
    }

    pub fn delete_scaling_policy(&mut self, fleet: &str, name: &str) -> Result<()> {
        let missing = || {
            DomainError::new(
                ErrorKind::ObjectNotFound,
                format!("No scaling policy {name} on the fleet {fleet}."),
            )
        };
        let target = self.scalable_targets.get_mut(fleet).ok_or_else(missing)?;
        target.policies.remove(name).ok_or_else(missing)?;
        self.mark(DocKind::ScalableTarget, fleet);
        Ok(())
    }

    /// A UUID-shaped id, like those in AWS's policy ARNs.
    fn policy_id(&mut self) -> String {
        let hex = format!("{}{}", self.fresh_id(""), self.fresh_id(""));
        match (hex.len(), hex.bytes().all(|b| b.is_ascii_hexdigit())) {
            (32, true) => format!(
                "{}-{}-{}-{}-{}",
                &hex[..8],
                &hex[8..12],
                &hex[12..16],
                &hex[16..20],
                &hex[20..]
            ),
            _ => hex,
        }
    }

    fn set_desired(&mut self, fleet: &str, desired: u32, now: Timestamp) {
        if let Some(f) = self.fleets.get_mut(fleet) {
            f.desired_instances = desired;
            self.mark(DocKind::Fleet, fleet);
            self.reconcile_fleet(fleet, now);
        }
    }

    /// The tick's scaling step: each running fleet's policies against its
    /// sessions in use.
    pub(crate) fn apply_scaling(&mut self, now: Timestamp) {
        let decisions: Vec<(String, crate::scaling::Decision)> = self
            .scalable_targets
            .values()
            .filter_map(|t| {
                let f = self.fleets.get(&t.fleet)?;
                if f.state != FleetState::Running {
                    return None;
                }
                let in_use = self.capacity(&t.fleet).ok()?.in_use;
                Some((t.fleet.clone(), t.decide(f.desired_instances, in_use, now)?))
            })
            .collect();
        for (fleet, decision) in decisions {
            let id = self.fresh_id("");
            if let Some(t) = self.scalable_targets.get_mut(&fleet) {
                t.record(id, decision.capacity, decision.cause, now);
                t.last_scaling_change = Some(now);
                self.mark(DocKind::ScalableTarget, &fleet);
            }
            self.set_desired(&fleet, decision.capacity, now);
        }
    }
}

//! Application Auto Scaling for fleets: a scalable target per fleet (bounds on
//! its DesiredInstances, suspended states), target-tracking policies on
//! CapacityUtilization (`AppStreamAverageCapacityUtilization`) and the
//! scaling activities they cause. Pure decisions; the plane applies them.

use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};

/// AWS's default cooldowns for AppStream fleets when a policy gives none.
pub const DEFAULT_SCALE_OUT_COOLDOWN_SECS: u64 = 300;
pub const DEFAULT_SCALE_IN_COOLDOWN_SECS: u64 = 300;
/// Activities kept per target; older ones are dropped (AWS keeps six weeks).
pub const MAX_ACTIVITIES: usize = 50;

/// `SuspendedState`: which kinds of scaling are paused.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SuspendedState {
    pub dynamic_scaling_in: bool,
    pub dynamic_scaling_out: bool,
    /// Stored and reported; Porthole has no scheduled actions to suspend.
    pub scheduled_scaling: bool,
}

/// A target-tracking policy on the fleet's CapacityUtilization.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetTrackingPolicy {
    pub name: String,
    /// The unique part of the policy's ARN.
    pub id: String,
    /// Wanted CapacityUtilization in percent (InUse / Actual * 100), in (0, 100].
    pub target_utilization: f64,
    pub scale_out_cooldown_secs: u64,
    pub scale_in_cooldown_secs: u64,
    /// The policy only ever adds capacity.
    pub disable_scale_in: bool,
    pub created_time: Timestamp,
}

impl TargetTrackingPolicy {
    /// The capacity that puts utilization at the target for `in_use` sessions
    /// (unbounded; the target clamps).
    pub fn wanted_capacity(&self, in_use: u32) -> u32 {
        let target = self.target_utilization.clamp(f64::MIN_POSITIVE, 100.0);
        // in_use * 100 / target keeps exact integers exact (300/75 = 4.0); the
        // epsilon stops float noise from rounding 5.000000001 up to 6.
        (f64::from(in_use) * 100.0 / target - 1e-9).ceil().max(0.0) as u32
    }
}

/// One change of desired capacity (DescribeScalingActivities), always
/// Successful: the change is made in the same step it is decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScalingActivity {
    pub id: String,
    pub description: String,
    pub cause: String,
    pub start_time: Timestamp,
    pub end_time: Timestamp,
}

/// The scalable target `fleet/NAME` with `appstream:fleet:DesiredCapacity`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScalableTarget {
    pub fleet: String,
    /// The unique part of the target's ARN.
    pub id: String,
    pub min_capacity: u32,
    pub max_capacity: u32,
    pub suspended: SuspendedState,
    pub created_time: Timestamp,
    /// By policy name.
    pub policies: BTreeMap<String, TargetTrackingPolicy>,
    /// Newest first, at most [`MAX_ACTIVITIES`].
    pub activities: VecDeque<ScalingActivity>,
    /// When a policy last changed the capacity: the origin of both cooldowns.
    pub last_scaling_change: Option<Timestamp>,
}

/// A capacity change a target decided, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub capacity: u32,
    pub cause: String,
}

impl ScalableTarget {
    pub fn clamp(&self, capacity: u32) -> u32 {
        capacity.clamp(self.min_capacity, self.max_capacity)
    }

    /// What the policies make of `current` capacity with `in_use` sessions.
    ///
    /// As Application Auto Scaling combines several target-tracking policies:
    /// it scales out when any policy wants more capacity (to the largest
    /// wish whose scale-out cooldown has passed) and scales in only when all
    /// agree (to the largest wish, once every scale-in cooldown has passed).
    /// A DisableScaleIn policy never agrees to scale in. Cooldowns run from
    /// the last change a policy made; suspended directions do nothing.
    pub fn decide(&self, current: u32, in_use: u32, now: Timestamp) -> Option<Decision> {
        if self.policies.is_empty() {
            return None;
        }
        let cooled = |secs: u64| {
            self.last_scaling_change
                .is_none_or(|at| now.reached(at, secs))
        };
        let wishes: Vec<(&TargetTrackingPolicy, u32)> = self
            .policies
            .values()
            .map(|p| {
                let wish = self.clamp(p.wanted_capacity(in_use));
                (
                    p,
                    if p.disable_scale_in {
                        wish.max(current)
                    } else {
                        wish
                    },
                )
            })
            .collect();
        let utilization = |capacity: u32| match capacity {
            0 => 0.0,
            c => f64::from(in_use) * 100.0 / f64::from(c),
        };
        let out = wishes
            .iter()
            .filter(|(p, wish)| *wish > current && cooled(p.scale_out_cooldown_secs))
            .max_by_key(|(_, wish)| *wish);
        if let Some((policy, wish)) = out {
            if self.suspended.dynamic_scaling_out {
                return None;
            }
            return Some(Decision {
                capacity: *wish,
                cause: format!(
                    "policy {} wants capacity {wish}: utilization {:.1} % is above its target of {} %",
                    policy.name,
                    utilization(current),
                    policy.target_utilization
                ),
            });
        }
        let largest = wishes.iter().map(|(_, wish)| *wish).max()?;
        let all_cooled = wishes.iter().all(|(p, _)| cooled(p.scale_in_cooldown_secs));
        if largest < current && all_cooled && !self.suspended.dynamic_scaling_in {
            let names: Vec<&str> = wishes.iter().map(|(p, _)| p.name.as_str()).collect();
            return Some(Decision {
                capacity: largest,
                cause: format!(
                    "policies {} agree on capacity {largest}: utilization {:.1} % is below their targets",
                    names.join(", "),
                    utilization(current)
                ),
            });
        }
        None
    }

    /// Records a change of desired capacity, keeping the newest activities.
    pub fn record(&mut self, id: String, capacity: u32, cause: String, now: Timestamp) {
        self.activities.push_front(ScalingActivity {
            id,
            description: format!("Setting desired capacity to {capacity}."),
            cause,
            start_time: now,
            end_time: now,
        });
        self.activities.truncate(MAX_ACTIVITIES);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> Timestamp {
        Timestamp::from_secs(1000 + secs)
    }

    fn policy(name: &str, target: f64) -> TargetTrackingPolicy {
        TargetTrackingPolicy {
            name: name.into(),
            id: format!("id-{name}"),
            target_utilization: target,
            scale_out_cooldown_secs: 60,
            scale_in_cooldown_secs: 300,
            disable_scale_in: false,
            created_time: at(0),
        }
    }

    fn target(policies: &[TargetTrackingPolicy]) -> ScalableTarget {
        ScalableTarget {
            fleet: "f".into(),
            id: "t".into(),
            min_capacity: 1,
            max_capacity: 10,
            suspended: SuspendedState::default(),
            created_time: at(0),
            policies: policies
                .iter()
                .map(|p| (p.name.clone(), p.clone()))
                .collect(),
            activities: VecDeque::new(),
            last_scaling_change: None,
        }
    }

    fn capacity(t: &ScalableTarget, current: u32, in_use: u32, now: Timestamp) -> Option<u32> {
        t.decide(current, in_use, now).map(|d| d.capacity)
    }

    #[test]
    fn wanted_capacity_tracks_utilization() {
        let p = policy("p", 75.0);
        for (in_use, want) in [(0, 0), (1, 2), (3, 4), (4, 6), (9, 12)] {
            assert_eq!(p.wanted_capacity(in_use), want, "in_use {in_use}");
        }
        // 3 / 0.6 is 5.000000000000001 in floating point: must stay 5.
        assert_eq!(policy("p", 60.0).wanted_capacity(3), 5);
    }

    #[test]
    fn wishes_are_clamped_to_the_targets_bounds() {
        let t = target(&[policy("p", 75.0)]);
        assert_eq!(capacity(&t, 5, 0, at(0)), Some(1), "never below min");
        assert_eq!(capacity(&t, 5, 30, at(0)), Some(10), "never above max");
    }

    #[test]
    fn no_policy_no_decision() {
        assert_eq!(capacity(&target(&[]), 5, 5, at(0)), None);
    }

    #[test]
    fn scale_out_waits_for_its_cooldown_from_the_last_change() {
        let mut t = target(&[policy("p", 75.0)]);
        assert_eq!(capacity(&t, 2, 3, at(0)), Some(4));
        t.last_scaling_change = Some(at(0));
        assert_eq!(capacity(&t, 2, 3, at(59)), None);
        assert_eq!(capacity(&t, 2, 3, at(60)), Some(4));
    }

    #[test]
    fn scale_in_waits_for_its_longer_cooldown() {
        let mut t = target(&[policy("p", 75.0)]);
        t.last_scaling_change = Some(at(0));
        assert_eq!(capacity(&t, 6, 0, at(299)), None);
        assert_eq!(capacity(&t, 6, 0, at(300)), Some(1));
    }

    #[test]
    fn any_policy_scales_out_to_the_largest_wish() {
        // 3 in use: the 75 % policy wants 4, the 50 % one 6.
        let t = target(&[policy("a", 75.0), policy("b", 50.0)]);
        let d = t.decide(2, 3, at(0)).unwrap();
        assert_eq!(d.capacity, 6);
        assert!(d.cause.contains("policy b"), "{}", d.cause);
    }

    #[test]
    fn scale_in_needs_every_policy_to_agree() {
        // 2 in use at capacity 8: a (50 %) wants 4, b (20 %) wants 10 > 8:
        // b scales out instead, never in.
        let t = target(&[policy("a", 50.0), policy("b", 20.0)]);
        assert_eq!(capacity(&t, 8, 2, at(0)), Some(10));
        // At capacity 10, b is satisfied, a wants 4: no agreement, no change.
        assert_eq!(capacity(&t, 10, 2, at(0)), None);
        // With 1 in use, a wants 2 and b 5: in to the larger, 5.
        assert_eq!(capacity(&t, 10, 1, at(0)), Some(5));
    }

    #[test]
    fn disable_scale_in_never_lets_capacity_go_down() {
        let mut p = policy("p", 50.0);
        p.disable_scale_in = true;
        let t = target(&[p.clone()]);
        assert_eq!(capacity(&t, 6, 0, at(1000)), None);
        assert_eq!(capacity(&t, 1, 2, at(0)), Some(4), "still scales out");
        // Another policy wanting less does not override it either.
        let t = target(&[p, policy("q", 100.0)]);
        assert_eq!(capacity(&t, 6, 1, at(1000)), None);
    }

    #[test]
    fn suspended_directions_do_nothing() {
        let mut t = target(&[policy("p", 50.0)]);
        t.suspended.dynamic_scaling_out = true;
        assert_eq!(capacity(&t, 1, 3, at(0)), None);
        assert_eq!(capacity(&t, 9, 0, at(0)), Some(1), "scale-in still runs");
        t.suspended = SuspendedState {
            dynamic_scaling_in: true,
            ..SuspendedState::default()
        };
        assert_eq!(capacity(&t, 9, 0, at(0)), None);
        assert_eq!(capacity(&t, 1, 3, at(0)), Some(6), "scale-out still runs");
    }

    #[test]
    fn activities_are_newest_first_and_bounded() {
        let mut t = target(&[]);
        for i in 0..(MAX_ACTIVITIES as u32 + 5) {
            t.record(format!("a{i}"), i, "test".into(), at(u64::from(i)));
        }
        assert_eq!(t.activities.len(), MAX_ACTIVITIES);
        let newest = &t.activities[0];
        assert_eq!(newest.id, format!("a{}", MAX_ACTIVITIES + 4));
        assert_eq!(
            newest.description,
            format!("Setting desired capacity to {}.", MAX_ACTIVITIES + 4)
        );
    }
}

//! Target tracking on CapacityUtilization, the policy AppStream fleets get
//! from Application Auto Scaling (`AppStreamAverageCapacityUtilization`).

use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScalingPolicy {
    pub min_capacity: u32,
    pub max_capacity: u32,
    /// Wanted CapacityUtilization in percent (InUse / Actual * 100), 1..=100.
    pub target_utilization: f64,
    pub scale_out_cooldown_secs: u64,
    pub scale_in_cooldown_secs: u64,
}

impl ScalingPolicy {
    /// The capacity that puts utilization at the target for `in_use` sessions,
    /// clamped to the policy's bounds.
    pub fn target_capacity(&self, in_use: u32) -> u32 {
        let target = self.target_utilization.clamp(1.0, 100.0);
        // in_use * 100 / target keeps exact integers exact (300/75 = 4.0); the
        // epsilon stops float noise from rounding 5.000000001 up to 6.
        let wanted = (f64::from(in_use) * 100.0 / target - 1e-9).ceil().max(0.0) as u32;
        wanted.clamp(self.min_capacity, self.max_capacity.max(self.min_capacity))
    }

    /// The new desired capacity, or None to keep `current`. Each direction
    /// waits for its own cooldown, measured from the last change made by
    /// scaling (`last_change`), as Application Auto Scaling does.
    pub fn decide(
        &self,
        current: u32,
        in_use: u32,
        last_change: Option<Timestamp>,
        now: Timestamp,
    ) -> Option<u32> {
        let target = self.target_capacity(in_use);
        let cooldown = match target.cmp(&current) {
            std::cmp::Ordering::Equal => return None,
            std::cmp::Ordering::Greater => self.scale_out_cooldown_secs,
            std::cmp::Ordering::Less => self.scale_in_cooldown_secs,
        };
        match last_change {
            Some(at) if !now.reached(at, cooldown) => None,
            _ => Some(target),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> ScalingPolicy {
        ScalingPolicy {
            min_capacity: 1,
            max_capacity: 10,
            target_utilization: 75.0,
            scale_out_cooldown_secs: 60,
            scale_in_cooldown_secs: 300,
        }
    }

    #[test]
    fn target_capacity_tracks_utilization_within_bounds() {
        let p = policy();
        for (in_use, want) in [(0, 1), (1, 2), (3, 4), (4, 6), (9, 10), (30, 10)] {
            assert_eq!(p.target_capacity(in_use), want, "in_use {in_use}");
        }
        let p60 = ScalingPolicy {
            target_utilization: 60.0,
            ..policy()
        };
        // 3 / 0.6 is 5.000000000000001 in floating point: must stay 5.
        assert_eq!(p60.target_capacity(3), 5);
    }

    #[test]
    fn scale_out_waits_for_its_cooldown() {
        let p = policy();
        let t0 = Timestamp::from_secs(1000);
        assert_eq!(p.decide(2, 3, None, t0), Some(4));
        assert_eq!(p.decide(2, 3, Some(t0), t0.plus_secs(59)), None);
        assert_eq!(p.decide(2, 3, Some(t0), t0.plus_secs(60)), Some(4));
    }

    #[test]
    fn scale_in_waits_for_the_longer_cooldown() {
        let p = policy();
        let t0 = Timestamp::from_secs(1000);
        assert_eq!(p.decide(6, 0, Some(t0), t0.plus_secs(299)), None);
        assert_eq!(p.decide(6, 0, Some(t0), t0.plus_secs(300)), Some(1));
    }

    #[test]
    fn no_change_when_on_target() {
        assert_eq!(policy().decide(4, 3, None, Timestamp::from_secs(5)), None);
    }
}

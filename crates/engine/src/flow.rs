//! Per-viewer flow control: when the next frame may go out. Frames are only
//! worth sending as fast as the client consumes them; queueing more behind a
//! slow link only adds latency, while the agent coalesces damage into the next
//! frame instead. The first frame after a quiet period leaves at once, so a
//! keystroke echo waits for no timer.

use std::collections::VecDeque;
use std::time::Duration;

/// What the gate allows now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readiness {
    /// Send a frame now.
    Now,
    /// Pacing: the next frame may go at this time.
    At(Duration),
    /// Too many frames unacknowledged: wait for an ack.
    WaitForAck,
}

/// Limits frames in flight and paces sustained updates for one viewer.
#[derive(Debug)]
pub struct FrameGate {
    max_in_flight: u32,
    min_interval: Duration,
    /// Sent, unacknowledged frames in send order, with their send times.
    in_flight: VecDeque<(u32, Duration)>,
    last_sent: Option<Duration>,
    srtt: Option<Duration>,
}

impl FrameGate {
    pub fn new(max_in_flight: u32, min_interval: Duration) -> Self {
        Self {
            max_in_flight,
            min_interval,
            in_flight: VecDeque::new(),
            last_sent: None,
            srtt: None,
        }
    }

    pub fn on_sent(&mut self, frame_id: u32, now: Duration) {
        self.in_flight.push_back((frame_id, now));
        self.last_sent = Some(now);
    }

    /// The client painted `frame_id` and everything sent before it. Unknown
    /// and repeated ids are ignored.
    pub fn on_ack(&mut self, frame_id: u32, now: Duration) {
        let Some(pos) = self.in_flight.iter().position(|&(id, _)| id == frame_id) else {
            return;
        };
        let (_, sent) = self.in_flight[pos];
        self.in_flight.drain(..=pos);
        self.record_rtt(now.saturating_sub(sent));
    }

    /// Smoothed round trip from sending a frame to its ack (RFC 6298 weights).
    pub fn rtt(&self) -> Option<Duration> {
        self.srtt
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    pub fn readiness(&self, now: Duration) -> Readiness {
        if self.in_flight.len() >= self.max_in_flight as usize {
            return Readiness::WaitForAck;
        }
        match self.last_sent.map(|at| at + self.min_interval) {
            Some(next) if next > now => Readiness::At(next),
            _ => Readiness::Now,
        }
    }

    fn record_rtt(&mut self, sample: Duration) {
        self.srtt = Some(match self.srtt {
            None => sample,
            Some(srtt) => srtt * 7 / 8 + sample / 8,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    fn gate() -> FrameGate {
        FrameGate::new(2, MS(16))
    }

    #[test]
    fn first_frame_after_a_quiet_period_goes_at_once() {
        let mut g = gate();
        assert_eq!(g.readiness(MS(0)), Readiness::Now);
        g.on_sent(1, MS(0));
        g.on_ack(1, MS(3));
        assert_eq!(g.readiness(MS(500)), Readiness::Now);
    }

    #[test]
    fn sustained_updates_are_paced_by_the_minimum_interval() {
        let mut g = gate();
        g.on_sent(1, MS(100));
        g.on_ack(1, MS(102));
        assert_eq!(g.readiness(MS(105)), Readiness::At(MS(116)));
        assert_eq!(g.readiness(MS(116)), Readiness::Now);
    }

    #[test]
    fn never_more_than_max_in_flight() {
        let mut g = gate();
        g.on_sent(1, MS(0));
        g.on_sent(2, MS(20));
        assert_eq!(g.readiness(MS(1000)), Readiness::WaitForAck);
        g.on_ack(1, MS(1001));
        assert_eq!(g.readiness(MS(1001)), Readiness::Now);
    }

    #[test]
    fn an_ack_covers_all_earlier_frames_and_stray_acks_are_ignored() {
        let mut g = gate();
        for id in 1..=3 {
            g.on_sent(id, MS(u64::from(id) * 20));
        }
        g.on_ack(2, MS(70));
        assert_eq!(g.in_flight(), 1);
        g.on_ack(2, MS(75)); // duplicate
        g.on_ack(99, MS(76)); // never sent
        assert_eq!(g.in_flight(), 1);
        assert_eq!(g.rtt(), Some(MS(30)), "duplicates must not add samples");
        g.on_ack(3, MS(90));
        assert_eq!(g.in_flight(), 0);
    }

    #[test]
    fn rtt_is_smoothed() {
        let mut g = gate();
        assert_eq!(g.rtt(), None);
        g.on_sent(1, MS(0));
        g.on_ack(1, MS(80));
        g.on_sent(2, MS(100));
        g.on_ack(2, MS(100));
        assert_eq!(g.rtt(), Some(MS(70)));
    }

    #[test]
    fn frame_ids_may_wrap() {
        let mut g = gate();
        g.on_sent(u32::MAX, MS(0));
        g.on_sent(0, MS(20));
        g.on_ack(0, MS(30));
        assert_eq!(g.in_flight(), 0);
    }

    /// A slow client: damage every 5 ms, acks 100 ms after each send. The
    /// agent sends whenever the gate allows, carrying the newest damage.
    #[test]
    fn slow_client_gets_at_most_two_frames_in_flight_each_with_the_newest_damage() {
        let mut g = gate();
        let mut pending_acks: VecDeque<(Duration, u32)> = VecDeque::new();
        let mut damage_version = 0u32; // bumped by every screen change
        let mut sent: Vec<(Duration, u32, u32)> = Vec::new(); // (time, frame id, damage version carried)
        let mut next_id = 1;
        let mut unsent_damage = false;
        for t in 0..2000u64 {
            let now = MS(t);
            while pending_acks.front().is_some_and(|&(at, _)| at <= now) {
                let (_, id) = pending_acks.pop_front().expect("checked");
                g.on_ack(id, now);
            }
            if t % 5 == 0 {
                damage_version += 1;
                unsent_damage = true;
            }
            if unsent_damage && g.readiness(now) == Readiness::Now {
                g.on_sent(next_id, now);
                sent.push((now, next_id, damage_version));
                pending_acks.push_back((now + MS(100), next_id));
                next_id += 1;
                unsent_damage = false;
            }
            assert!(g.in_flight() <= 2, "at {t} ms");
        }
        // Two frames per 100 ms round trip, each sent the moment an ack freed a slot.
        assert!((38..=42).contains(&sent.len()), "{} frames", sent.len());
        for pair in sent.windows(3) {
            assert_eq!(
                pair[2].0 - pair[0].0,
                MS(100),
                "a slot is reused as soon as its ack arrives"
            );
        }
        assert!(sent
            .iter()
            .all(|&(at, _, version)| version == at.as_millis() as u32 / 5 + 1));
        assert_eq!(g.rtt(), Some(MS(100)));
    }
}

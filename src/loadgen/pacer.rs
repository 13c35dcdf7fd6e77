//! Login pacing: at most `rate` logins started per second, at most `concurrency` in progress at
//! once, `total` in all. Sans-IO: the caller passes `now` and how many logins are in flight.
//!
//! Owns: the login schedule. Must not touch: the clock, the subscribers.
//!
//! Login `k` is due at `start + k / rate`. When logins fall behind (the concurrency cap held them
//! back, or the driver was busy), the schedule catches up by at most [`MAX_BURST_LAG`] worth of
//! logins at once instead of firing everything it missed: the rate is a ceiling, never a debt.

use std::time::{Duration, Instant};

/// How far behind schedule the pacer lets itself be: the largest burst after a stall is
/// `rate × MAX_BURST_LAG` logins.
pub const MAX_BURST_LAG: Duration = Duration::from_millis(50);

/// The login schedule.
#[derive(Debug, Clone)]
pub struct Pacer {
    total: u64,
    started: u64,
    /// Time between logins; `None` for no rate limit.
    interval: Option<Duration>,
    next: Instant,
    concurrency: u64,
    stopped: bool,
}

impl Pacer {
    /// `total` logins from `now`, `rate` per second (0, negative, NaN or infinite: unlimited),
    /// at most `concurrency` in flight (0 is taken as 1).
    pub fn new(now: Instant, total: u64, rate: f64, concurrency: u64) -> Self {
        let interval = (rate.is_finite() && rate > 0.0)
            .then(|| Duration::from_secs_f64(1.0 / rate))
            .filter(|d| !d.is_zero());
        Self {
            total,
            started: 0,
            interval,
            next: now,
            concurrency: concurrency.max(1),
            stopped: false,
        }
    }

    /// The number of the next login if it may start now (0-based), advancing the schedule.
    pub fn take(&mut self, now: Instant, in_flight: u64) -> Option<u64> {
        if self.is_done() || in_flight >= self.concurrency {
            return None;
        }
        if let Some(interval) = self.interval {
            if self.next > now {
                return None;
            }
            if let Some(floor) = now.checked_sub(MAX_BURST_LAG)
                && self.next < floor
            {
                self.next = floor;
            }
            self.next += interval;
        }
        let k = self.started;
        self.started += 1;
        Some(k)
    }

    /// When the next login is due, or `None` when none will be (all started, stopped) or the
    /// concurrency cap holds it until a login in flight finishes.
    pub fn poll_timeout(&self, in_flight: u64) -> Option<Instant> {
        if self.is_done() || in_flight >= self.concurrency {
            return None;
        }
        Some(self.next)
    }

    /// Every login started, or stopped.
    pub fn is_done(&self) -> bool {
        self.stopped || self.started >= self.total
    }

    /// Starts no more logins.
    pub fn stop(&mut self) {
        self.stopped = true;
    }

    /// Logins started.
    pub fn started(&self) -> u64 {
        self.started
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(p: &mut Pacer, now: Instant, in_flight: u64) -> Vec<u64> {
        std::iter::from_fn(|| p.take(now, in_flight)).collect()
    }

    #[test]
    fn paces_at_the_rate() {
        let t0 = crate::runtime::clock::test_epoch();
        let mut p = Pacer::new(t0, 10, 100.0, 1000);
        assert_eq!(drain(&mut p, t0, 0), vec![0]);
        assert_eq!(p.poll_timeout(0), Some(t0 + Duration::from_millis(10)));
        assert!(drain(&mut p, t0 + Duration::from_millis(9), 0).is_empty());
        assert_eq!(drain(&mut p, t0 + Duration::from_millis(10), 0), vec![1]);
        // 30 ms later: the three due (20, 30, 40 ms) start together, within the burst allowance.
        assert_eq!(
            drain(&mut p, t0 + Duration::from_millis(40), 0),
            vec![2, 3, 4]
        );
        assert_eq!(p.started(), 5);
    }

    #[test]
    fn bounded_catch_up_after_a_stall() {
        let t0 = crate::runtime::clock::test_epoch();
        let mut p = Pacer::new(t0, 1000, 1000.0, 10_000);
        // A one-second stall: not 1000 logins at once, only the 50 ms burst allowance (+1).
        let burst = drain(&mut p, t0 + Duration::from_secs(1), 0);
        assert_eq!(burst.len(), 51);
        assert_eq!(
            p.poll_timeout(0),
            Some(t0 + Duration::from_secs(1) + Duration::from_millis(1))
        );
    }

    #[test]
    fn concurrency_caps_logins_in_flight() {
        let t0 = crate::runtime::clock::test_epoch();
        let mut p = Pacer::new(t0, 100, 0.0, 3);
        assert_eq!(p.take(t0, 0), Some(0));
        assert_eq!(p.take(t0, 3), None);
        assert_eq!(p.poll_timeout(3), None, "held until a login finishes");
        assert_eq!(p.take(t0, 2), Some(1));
        // Unlimited rate: the caller loops while in_flight grows.
        let mut in_flight = 0;
        let mut got = 0;
        while p.take(t0, in_flight).is_some() {
            in_flight += 1;
            got += 1;
        }
        assert_eq!(got, 3);
    }

    #[test]
    fn stops_at_the_total_or_on_request() {
        let t0 = crate::runtime::clock::test_epoch();
        let mut p = Pacer::new(t0, 2, f64::INFINITY, 10);
        assert_eq!(drain(&mut p, t0, 0), vec![0, 1]);
        assert!(p.is_done());
        assert_eq!(p.poll_timeout(0), None);
        let mut p = Pacer::new(t0, 5, 1.0, 10);
        p.stop();
        assert_eq!(p.take(t0, 0), None);
        assert!(p.is_done());
    }
}

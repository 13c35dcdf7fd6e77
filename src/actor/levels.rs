//! Service levels in the running daemon (seed 000 claims 8, 10, 11): every
//! `[disconnect] sampling_interval` the actor reads each relaying LAC session's counters into the
//! traffic monitor and allocator of [`crate::engine::service_level`], and hands every decided
//! change to the planner ([`crate::engine::planner::Planner::set_level`]), which may grant less
//! when the tunnel lacks room and may move sessions into the room a lowered level frees.
//!
//! Only when `[planner.service_level] enabled`; otherwise every session keeps its contract's
//! level. The configuration maps onto the allocator's [`LevelPolicy`] like this (with allocation
//! `a`, measured rate `r`):
//! - lowered when `r < a × lower_percent / 100` and `a − r > floor` (for `hold`);
//! - raised when `r > a × raise_percent / 100` or `a − r < floor` (for `hold`);
//! - the new allocation is `r × 100 / target_percent` (at least `r + 2 × floor`, so it does not
//!   land in the raise zone at once), in steps of 1 kbit/s, clamped to `[min, max]`;
//! - the rate is the allocator's time-weighted EWMA with time constant `window`; no change during
//!   the first `window` of a session, and at most one change per `hold`.
//!
//! A change of `[planner.service_level]` by reload applies to sessions that log in afterwards;
//! turning it on or off needs a restart.
//!
//! Owns: the [`ServiceLevels`] of the LAC sessions. Must not touch: the planner's table except
//! through `set_level`, the counters beyond reading them.

use std::time::{Duration, Instant};

use super::lac::Phase;
use super::{Actor, TimerKey};
use crate::config::{Config, ServiceLevelConfig};
use crate::dataplane::counters::Direction;
use crate::engine::admin::SessionId;
use crate::engine::service_level::{
    ByteCounters, Direction as LevelDirection, LevelPolicy, MonitorConfig, ServiceLevels,
};

/// Step of allocated levels.
const GRANULARITY_BPS: u64 = 1_000;

/// The allocator's policy for `[planner.service_level]` (see the module docs).
pub(super) fn policy(c: &ServiceLevelConfig) -> LevelPolicy {
    let target = u64::from(c.target_percent.clamp(1, 100));
    let headroom = (10_000 / target).saturating_sub(100);
    LevelPolicy {
        lower_below_percent: c.lower_percent,
        lower_margin_floor_bps: c.floor,
        raise_above_percent: c.raise_percent,
        raise_headroom_floor_bps: c.floor,
        target_headroom_percent: u8::try_from(headroom).unwrap_or(u8::MAX),
        target_headroom_floor_bps: c.floor.saturating_mul(2).max(GRANULARITY_BPS),
        granularity_bps: GRANULARITY_BPS,
        min_level_bps: c.min,
        max_level_bps: c.max,
        cap_at_contract: false,
        sustain_samples: 2,
        sustain_for: c.hold,
        cooldown: c.hold,
        warmup: c.window,
    }
}

/// The monitors and allocators of the LAC sessions, when service levels are on.
pub(super) struct Levels {
    inner: Option<ServiceLevels>,
    interval: Duration,
}

impl Levels {
    /// From the configuration; off when `[planner.service_level]` is off or its thresholds do not
    /// form a stable policy (logged).
    pub fn new(config: &Config) -> Self {
        let c = &config.planner.service_level;
        let interval = config
            .disconnect
            .sampling_interval
            .max(Duration::from_millis(10));
        let inner = c.enabled.then(|| {
            ServiceLevels::new(
                MonitorConfig {
                    time_constant: c.window,
                },
                policy(c),
            )
        });
        let inner = match inner {
            Some(Ok(levels)) => Some(levels),
            Some(Err(why)) => {
                tracing::error!(
                    reason = why,
                    "planner.service_level: these thresholds would make allocations flap; \
                     service levels stay at the contracts'"
                );
                None
            }
            None => None,
        };
        Self { inner, interval }
    }

    /// When the first sample is due (`None` when off).
    pub fn first_sample(&self, now: Instant) -> Option<Instant> {
        self.inner.as_ref().map(|_| now + self.interval)
    }

    /// A session starts at its contract's level; returns the level to place it with.
    pub fn start(&mut self, session: SessionId, contract_bps: u64) -> u64 {
        match self.inner.as_mut() {
            Some(l) => l.insert(session, contract_bps),
            None => contract_bps,
        }
    }

    /// A session ended.
    pub fn stop(&mut self, session: SessionId) {
        if let Some(l) = self.inner.as_mut() {
            l.remove(session);
        }
    }

    /// The planner granted `level_bps` (after a change or a move).
    pub fn granted(&mut self, now: Instant, session: SessionId, level_bps: u64) {
        if let Some(l) = self.inner.as_mut() {
            l.set_granted(now, session, level_bps);
        }
    }
}

impl Actor {
    /// Samples every relaying LAC session and acts on the changes the allocator decides.
    pub(super) fn sample_levels(&mut self, now: Instant) {
        let Some(levels) = self.levels.inner.as_mut() else {
            return;
        };
        let mut changes = Vec::new();
        for sub in self.lac.subscribers.values() {
            if sub.phase != Phase::Relaying {
                continue;
            }
            let snap = sub.counters.snapshot();
            let counters = ByteCounters {
                rx_bytes: snap.direction(Direction::FromSubscriber).bytes,
                tx_bytes: snap.direction(Direction::ToSubscriber).bytes,
            };
            if let Some(change) = levels.handle_sample(now, SessionId(sub.id), counters) {
                let name = sub.profile.as_ref().map(|p| p.name.clone());
                changes.push((sub.id, name, change));
            }
        }
        let interval = self.levels.interval;
        for (id, name, change) in changes {
            let sid = SessionId(id);
            let Ok(outcome) = self.planner.set_level(now, sid, change.new_bps) else {
                continue;
            };
            self.levels.granted(now, sid, outcome.granted_bps);
            tracing::info!(
                role = "lac",
                subscriber = name.as_deref().unwrap_or(""),
                direction = match change.direction {
                    LevelDirection::Lower => "lower",
                    LevelDirection::Raise => "raise",
                },
                measured_bps = change.measured_bps,
                previous_bps = outcome.previous_bps,
                requested_bps = outcome.requested_bps,
                granted_bps = outcome.granted_bps,
                moves = outcome.decisions.len(),
                "service level changed"
            );
            self.apply_decisions(now, outcome.decisions);
        }
        self.timers.set(TimerKey::LevelSample, Some(now + interval));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_valid_threshold_triple_gives_a_stable_policy() {
        let mut c = ServiceLevelConfig::default();
        // The configuration refuses target_percent below 29 (see its schema).
        for lower in 1..=98u8 {
            for target in (lower + 1).max(29)..=99 {
                for raise in [target + 1, target.saturating_add(5).min(100), 100] {
                    if raise <= target {
                        continue;
                    }
                    c.lower_percent = lower;
                    c.target_percent = target;
                    c.raise_percent = raise;
                    let p = policy(&c);
                    assert_eq!(
                        p.validate(),
                        Ok(()),
                        "lower {lower} target {target} raise {raise}: {p:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn defaults_map_onto_the_allocator() {
        let c = ServiceLevelConfig::default();
        let p = policy(&c);
        assert_eq!(p.lower_below_percent, 40);
        assert_eq!(p.raise_above_percent, 90);
        // r × 100 / 70 = r + 42 % of r (rounded down to the percent).
        assert_eq!(p.target_headroom_percent, 42);
        assert_eq!(p.min_level_bps, 64_000);
        assert_eq!(p.sustain_for, c.hold);
        // A session idle at 1 Mbit/s under a 10 Mbit/s allocation is lowered; to what it uses
        // plus headroom.
        assert!(1_000_000 < p.lower_threshold(10_000_000));
        assert_eq!(p.target(1_000_000), 1_512_000);
    }
}

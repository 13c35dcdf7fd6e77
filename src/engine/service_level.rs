//! Service levels (seed 000 claims 8, 10, 11): a per-session traffic monitor and an allocator that
//! lowers or raises a session's allocated bandwidth when its measured traffic stays below or above
//! thresholds.
//!
//! Owns: per-session rate estimates and allocation decisions. Must not touch: the admin table (the
//! integrator passes each [`LevelChange`] to [`Planner::set_level`](super::planner::Planner::set_level),
//! which may grant less when the tunnel has no room, and tells the allocator what was granted with
//! [`ServiceLevels::set_granted`]), the dataplane counters (the actor samples them about once a second
//! and passes the values in), the clock.
//!
//! # Rate estimate
//! [`TrafficMonitor`] turns cumulative byte counters into a rate with a time-weighted exponential
//! moving average: each sample's rate `r = 8 * Δbytes / Δt` is blended in with weight
//! `α = 1 - exp(-Δt / τ)`, where `τ` is [`MonitorConfig::time_constant`]. With irregular sampling
//! this weighs each interval by its length, so a late sample does not count more than an on-time
//! one. After a step change in traffic the estimate covers 63 % of the step after `τ` and 95 % after
//! `3τ`. Each direction is tracked; the session's rate is the busier direction, because the level is
//! the bandwidth the session may use each way. A counter that goes backwards (reset) re-baselines
//! the monitor without producing a rate.
//!
//! # Allocation
//! With allocated level `A` and measured rate `r`, the [`LevelPolicy`] thresholds are:
//! - lower when `r < min(A * lower_below_percent / 100, A - lower_margin_floor_bps)`: the session
//!   uses less than a share of its level and sits at least an absolute margin under it;
//! - raise when `r > A - max(A * (100 - raise_above_percent) / 100, raise_headroom_floor_bps)`: the
//!   headroom left is under a share of the level or under an absolute floor, whichever is larger.
//!
//! A condition must hold for `sustain_samples` consecutive samples and for at least `sustain_for`
//! (hysteresis), no change happens within `cooldown` of the previous one, and nothing happens during
//! `warmup` after the first sample. The new level is `r` plus headroom
//! (`max(r * target_headroom_percent / 100, target_headroom_floor_bps)`), rounded up to
//! `granularity_bps`, clamped to `[min_level_bps, max]`, where `max` is `max_level_bps` and, when
//! `cap_at_contract` is set, the session's contracted level. [`LevelPolicy::validate`] checks that
//! the target of a change never lies in the opposite threshold's zone, so a steady rate settles.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::admin::SessionId;

/// Tunables of the traffic monitor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MonitorConfig {
    /// The EWMA time constant τ. Default [`MonitorConfig::DEFAULT_TIME_CONSTANT`].
    pub time_constant: Duration,
}

impl MonitorConfig {
    /// Default τ: 30 s, long enough to ride over bursts, short enough to follow a session that goes
    /// quiet within a couple of minutes.
    pub const DEFAULT_TIME_CONSTANT: Duration = Duration::from_secs(30);
}

impl Default for MonitorConfig {
    fn default() -> Self {
        Self {
            time_constant: Self::DEFAULT_TIME_CONSTANT,
        }
    }
}

/// Cumulative byte counters of one session, as sampled from the dataplane.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ByteCounters {
    /// Bytes received from the subscriber.
    pub rx_bytes: u64,
    /// Bytes sent to the subscriber.
    pub tx_bytes: u64,
}

/// A rate estimate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// From the subscriber, bit/s.
    pub rx_bps: u64,
    /// To the subscriber, bit/s.
    pub tx_bps: u64,
}

impl Rate {
    /// The busier direction, bit/s.
    pub fn bps(&self) -> u64 {
        self.rx_bps.max(self.tx_bps)
    }
}

/// Time-weighted EWMA of one session's traffic. See the module docs.
#[derive(Debug, Clone)]
pub struct TrafficMonitor {
    config: MonitorConfig,
    last: Option<(Instant, ByteCounters)>,
    rx: Option<f64>,
    tx: Option<f64>,
    first_sample: Option<Instant>,
}

impl TrafficMonitor {
    /// A monitor with no sample yet.
    pub fn new(config: MonitorConfig) -> Self {
        Self {
            config,
            last: None,
            rx: None,
            tx: None,
            first_sample: None,
        }
    }

    /// Feeds a sample of the cumulative counters taken at `now`. Returns the updated estimate, or
    /// `None` for the first sample, after a counter reset, or for a sample not later than the last.
    pub fn sample(&mut self, now: Instant, counters: ByteCounters) -> Option<Rate> {
        self.first_sample.get_or_insert(now);
        let Some((then, prev)) = self.last else {
            self.last = Some((now, counters));
            return None;
        };
        if now <= then {
            return None;
        }
        self.last = Some((now, counters));
        if counters.rx_bytes < prev.rx_bytes || counters.tx_bytes < prev.tx_bytes {
            return None;
        }
        let dt = now.duration_since(then).as_secs_f64();
        let alpha = if self.config.time_constant.is_zero() {
            1.0
        } else {
            1.0 - (-dt / self.config.time_constant.as_secs_f64()).exp()
        };
        let blend = |old: Option<f64>, bytes: u64| {
            let r = bytes as f64 * 8.0 / dt;
            // The first interval seeds the average instead of pulling it up from zero, which would
            // read as a quiet session and lower its level at once.
            Some(old.map_or(r, |o| o + alpha * (r - o)))
        };
        self.rx = blend(self.rx, counters.rx_bytes - prev.rx_bytes);
        self.tx = blend(self.tx, counters.tx_bytes - prev.tx_bytes);
        self.rate()
    }

    /// The current estimate, once there is one.
    pub fn rate(&self) -> Option<Rate> {
        Some(Rate {
            rx_bps: self.rx?.round() as u64,
            tx_bps: self.tx?.round() as u64,
        })
    }

    /// When the first sample arrived.
    pub fn first_sample(&self) -> Option<Instant> {
        self.first_sample
    }
}

/// Tunables of the level allocator. Every field has a named default; see the module docs for how
/// they combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LevelPolicy {
    /// Lower when the rate stays under this share of the level, percent.
    pub lower_below_percent: u8,
    /// ...and at least this far under the level, bit/s.
    pub lower_margin_floor_bps: u64,
    /// Raise when the rate stays above this share of the level, percent...
    pub raise_above_percent: u8,
    /// ...or when less than this much headroom is left, bit/s.
    pub raise_headroom_floor_bps: u64,
    /// Headroom a new level gives over the measured rate, percent of the rate...
    pub target_headroom_percent: u8,
    /// ...but at least this much, bit/s.
    pub target_headroom_floor_bps: u64,
    /// Levels are multiples of this, bit/s (at least 1).
    pub granularity_bps: u64,
    /// Lowest level ever allocated, bit/s.
    pub min_level_bps: u64,
    /// Highest level ever allocated, bit/s.
    pub max_level_bps: u64,
    /// Never raise above the contracted level.
    pub cap_at_contract: bool,
    /// Consecutive samples a condition must hold.
    pub sustain_samples: u32,
    /// Time a condition must hold.
    pub sustain_for: Duration,
    /// Least time between two changes of one session's level.
    pub cooldown: Duration,
    /// No change during this long after the first sample.
    pub warmup: Duration,
}

impl LevelPolicy {
    /// Default lower threshold share: 40 %.
    pub const DEFAULT_LOWER_BELOW_PERCENT: u8 = 40;
    /// Default lower margin floor: 256 kbit/s.
    pub const DEFAULT_LOWER_MARGIN_FLOOR_BPS: u64 = 256_000;
    /// Default raise threshold share: 85 %.
    pub const DEFAULT_RAISE_ABOVE_PERCENT: u8 = 85;
    /// Default raise headroom floor: 256 kbit/s.
    pub const DEFAULT_RAISE_HEADROOM_FLOOR_BPS: u64 = 256_000;
    /// Default target headroom: 50 % of the rate.
    pub const DEFAULT_TARGET_HEADROOM_PERCENT: u8 = 50;
    /// Default target headroom floor: 512 kbit/s.
    pub const DEFAULT_TARGET_HEADROOM_FLOOR_BPS: u64 = 512_000;
    /// Default granularity: 64 kbit/s.
    pub const DEFAULT_GRANULARITY_BPS: u64 = 64_000;
    /// Default minimum level: 512 kbit/s.
    pub const DEFAULT_MIN_LEVEL_BPS: u64 = 512_000;
    /// Default maximum level: 1 Gbit/s.
    pub const DEFAULT_MAX_LEVEL_BPS: u64 = 1_000_000_000;
    /// Default sustain count: 10 samples (10 s at the actor's 1 s sampling).
    pub const DEFAULT_SUSTAIN_SAMPLES: u32 = 10;
    /// Default sustain time: 30 s.
    pub const DEFAULT_SUSTAIN_FOR: Duration = Duration::from_secs(30);
    /// Default cooldown: 2 minutes.
    pub const DEFAULT_COOLDOWN: Duration = Duration::from_secs(120);
    /// Default warm-up: 60 s, two EWMA time constants.
    pub const DEFAULT_WARMUP: Duration = Duration::from_secs(60);

    /// Checks the values and that a change never lands in the opposite threshold's zone: after
    /// lowering to the target for rate `r`, `r` is not above the raise threshold, and after raising,
    /// `r` is not below the lower threshold (ignoring clamping to min/max).
    pub fn validate(&self) -> Result<(), &'static str> {
        if self.lower_below_percent == 0 || self.lower_below_percent >= 100 {
            return Err("lower_below_percent must be in 1..=99");
        }
        if self.raise_above_percent == 0 || self.raise_above_percent > 100 {
            return Err("raise_above_percent must be in 1..=100");
        }
        if self.lower_below_percent >= self.raise_above_percent {
            return Err("lower_below_percent must be below raise_above_percent");
        }
        if self.granularity_bps == 0 {
            return Err("granularity_bps must be positive");
        }
        if self.min_level_bps > self.max_level_bps {
            return Err("min_level_bps must not exceed max_level_bps");
        }
        // Raise zone of the target T = r + h: headroom T - r = h must exceed the raise margin
        // max(T * (100 - R) / 100, F_raise) for every r. With h = max(r * H / 100, F_target) and
        // T <= r + h + granularity, that holds when F_target > F_raise and
        // H * R > 100 * (100 - R) plus margin; check the two conditions.
        let h = u64::from(self.target_headroom_percent);
        let r = u64::from(self.raise_above_percent);
        if self.target_headroom_floor_bps <= self.raise_headroom_floor_bps {
            return Err("target_headroom_floor_bps must exceed raise_headroom_floor_bps");
        }
        if h * r <= 100 * (100 - r) {
            return Err("target_headroom_percent too small for raise_above_percent");
        }
        // Lower zone: r >= min(T * L / 100, T - F_lower) must hold; T * L / 100 <= r holds when
        // (100 + H) * L <= 100 * 100, so the share test alone keeps r out of the lower zone for
        // large rates; small rates are held by min_level and the floor.
        if (100 + h) * u64::from(self.lower_below_percent) > 100 * 100 {
            return Err("target_headroom_percent too large for lower_below_percent");
        }
        Ok(())
    }

    /// The rate under which the level is lowered.
    pub fn lower_threshold(&self, level: u64) -> u64 {
        let share = level / 100 * u64::from(self.lower_below_percent)
            + level % 100 * u64::from(self.lower_below_percent) / 100;
        share.min(level.saturating_sub(self.lower_margin_floor_bps))
    }

    /// The rate over which the level is raised.
    pub fn raise_threshold(&self, level: u64) -> u64 {
        let pct = u64::from(100 - self.raise_above_percent.min(100));
        let margin =
            (level / 100 * pct + level % 100 * pct / 100).max(self.raise_headroom_floor_bps);
        level.saturating_sub(margin)
    }

    /// The level to allocate for a measured rate, before clamping.
    pub fn target(&self, rate: u64) -> u64 {
        let headroom = (rate / 100 * u64::from(self.target_headroom_percent))
            .max(self.target_headroom_floor_bps);
        let raw = rate.saturating_add(headroom);
        raw.div_ceil(self.granularity_bps)
            .saturating_mul(self.granularity_bps)
    }
}

impl Default for LevelPolicy {
    fn default() -> Self {
        Self {
            lower_below_percent: Self::DEFAULT_LOWER_BELOW_PERCENT,
            lower_margin_floor_bps: Self::DEFAULT_LOWER_MARGIN_FLOOR_BPS,
            raise_above_percent: Self::DEFAULT_RAISE_ABOVE_PERCENT,
            raise_headroom_floor_bps: Self::DEFAULT_RAISE_HEADROOM_FLOOR_BPS,
            target_headroom_percent: Self::DEFAULT_TARGET_HEADROOM_PERCENT,
            target_headroom_floor_bps: Self::DEFAULT_TARGET_HEADROOM_FLOOR_BPS,
            granularity_bps: Self::DEFAULT_GRANULARITY_BPS,
            min_level_bps: Self::DEFAULT_MIN_LEVEL_BPS,
            max_level_bps: Self::DEFAULT_MAX_LEVEL_BPS,
            cap_at_contract: true,
            sustain_samples: Self::DEFAULT_SUSTAIN_SAMPLES,
            sustain_for: Self::DEFAULT_SUSTAIN_FOR,
            cooldown: Self::DEFAULT_COOLDOWN,
            warmup: Self::DEFAULT_WARMUP,
        }
    }
}

/// Which way a level changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Lowered: the session used less.
    Lower,
    /// Raised: the session needed more.
    Raise,
}

/// A decided level change, for [`Planner::set_level`](super::planner::Planner::set_level).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LevelChange {
    /// The level before, bit/s.
    pub previous_bps: u64,
    /// The level wanted now, bit/s.
    pub new_bps: u64,
    /// The rate that led to it, bit/s.
    pub measured_bps: u64,
    /// Which way.
    pub direction: Direction,
}

#[derive(Debug, Clone, Copy)]
struct Streak {
    since: Instant,
    samples: u32,
}

/// One session's allocation state.
#[derive(Debug, Clone)]
pub struct LevelAllocator {
    contract_bps: u64,
    allocated_bps: u64,
    below: Option<Streak>,
    above: Option<Streak>,
    last_change: Option<Instant>,
}

impl LevelAllocator {
    /// Starts at the contracted level (claim 10: the allocation starts from the contract), clamped
    /// to the policy bounds.
    pub fn new(policy: &LevelPolicy, contract_bps: u64) -> Self {
        let mut a = Self {
            contract_bps,
            allocated_bps: 0,
            below: None,
            above: None,
            last_change: None,
        };
        a.allocated_bps = contract_bps.clamp(policy.min_level_bps, a.max(policy));
        a
    }

    /// The level allocated now, bit/s.
    pub fn allocated_bps(&self) -> u64 {
        self.allocated_bps
    }

    fn max(&self, policy: &LevelPolicy) -> u64 {
        if policy.cap_at_contract {
            policy
                .max_level_bps
                .min(self.contract_bps)
                .max(policy.min_level_bps)
        } else {
            policy.max_level_bps
        }
    }

    /// Records what the planner actually granted (it may grant less than asked when the tunnel is
    /// full). Resets the streaks and starts the cooldown.
    pub fn set_granted(&mut self, now: Instant, granted_bps: u64) {
        if granted_bps != self.allocated_bps {
            self.last_change = Some(now);
        }
        self.allocated_bps = granted_bps;
        self.below = None;
        self.above = None;
    }

    /// Feeds one rate estimate. Returns a change when a threshold has been crossed for long enough.
    /// `since_first_sample` is the monitor's age, for the warm-up.
    pub fn observe(
        &mut self,
        policy: &LevelPolicy,
        now: Instant,
        rate_bps: u64,
        first_sample: Instant,
    ) -> Option<LevelChange> {
        let level = self.allocated_bps;
        let bump = |s: Option<Streak>| match s {
            Some(s) => Some(Streak {
                since: s.since,
                samples: s.samples.saturating_add(1),
            }),
            None => Some(Streak {
                since: now,
                samples: 1,
            }),
        };
        if rate_bps < policy.lower_threshold(level) {
            self.below = bump(self.below);
            self.above = None;
        } else if rate_bps > policy.raise_threshold(level) {
            self.above = bump(self.above);
            self.below = None;
        } else {
            self.below = None;
            self.above = None;
            return None;
        }
        if now.saturating_duration_since(first_sample) < policy.warmup {
            return None;
        }
        if self
            .last_change
            .is_some_and(|t| now.saturating_duration_since(t) < policy.cooldown)
        {
            return None;
        }
        let sustained = |s: Option<Streak>| {
            s.is_some_and(|s| {
                s.samples >= policy.sustain_samples
                    && now.saturating_duration_since(s.since) >= policy.sustain_for
            })
        };
        let direction = if sustained(self.below) {
            Direction::Lower
        } else if sustained(self.above) {
            Direction::Raise
        } else {
            return None;
        };
        let target = policy
            .target(rate_bps)
            .clamp(policy.min_level_bps, self.max(policy));
        let moves_right_way = match direction {
            Direction::Lower => target < level,
            Direction::Raise => target > level,
        };
        if !moves_right_way {
            return None;
        }
        self.set_granted(now, target);
        Some(LevelChange {
            previous_bps: level,
            new_bps: target,
            measured_bps: rate_bps,
            direction,
        })
    }
}

/// The monitors and allocators of every session, keyed by session.
#[derive(Debug, Clone)]
pub struct ServiceLevels {
    monitor: MonitorConfig,
    policy: LevelPolicy,
    sessions: HashMap<SessionId, (TrafficMonitor, LevelAllocator)>,
}

impl ServiceLevels {
    /// Empty, with these tunables. The policy must pass [`LevelPolicy::validate`].
    pub fn new(monitor: MonitorConfig, policy: LevelPolicy) -> Result<Self, &'static str> {
        policy.validate()?;
        Ok(Self {
            monitor,
            policy,
            sessions: HashMap::new(),
        })
    }

    /// The policy.
    pub fn policy(&self) -> &LevelPolicy {
        &self.policy
    }

    /// Starts tracking a session at its contracted level. Returns the level to place it with.
    pub fn insert(&mut self, session: SessionId, contract_bps: u64) -> u64 {
        let alloc = LevelAllocator::new(&self.policy, contract_bps);
        let level = alloc.allocated_bps();
        self.sessions
            .insert(session, (TrafficMonitor::new(self.monitor), alloc));
        level
    }

    /// Stops tracking a session.
    pub fn remove(&mut self, session: SessionId) {
        self.sessions.remove(&session);
    }

    /// The allocated level of a session.
    pub fn allocated_bps(&self, session: SessionId) -> Option<u64> {
        self.sessions.get(&session).map(|(_, a)| a.allocated_bps())
    }

    /// The rate estimate of a session.
    pub fn rate(&self, session: SessionId) -> Option<Rate> {
        self.sessions.get(&session).and_then(|(m, _)| m.rate())
    }

    /// Feeds a counter sample. Returns a change to hand to the planner; then report what the planner
    /// granted with [`ServiceLevels::set_granted`].
    pub fn handle_sample(
        &mut self,
        now: Instant,
        session: SessionId,
        counters: ByteCounters,
    ) -> Option<LevelChange> {
        let (monitor, alloc) = self.sessions.get_mut(&session)?;
        let rate = monitor.sample(now, counters)?;
        let first = monitor.first_sample()?;
        alloc.observe(&self.policy, now, rate.bps(), first)
    }

    /// Records the level the planner granted (after a change, or after a move that raised it).
    pub fn set_granted(&mut self, now: Instant, session: SessionId, granted_bps: u64) {
        if let Some((_, a)) = self.sessions.get_mut(&session) {
            a.set_granted(now, granted_bps);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::clock::test_epoch;

    fn feed(m: &mut TrafficMonitor, start: Instant, secs: u64, bps: u64) -> Option<Rate> {
        let mut bytes = 0;
        let mut last = None;
        for i in 0..=secs {
            last = m.sample(
                start + Duration::from_secs(i),
                ByteCounters {
                    rx_bytes: bytes,
                    tx_bytes: bytes / 2,
                },
            );
            bytes += bps / 8;
        }
        last
    }

    #[test]
    fn monitor_follows_a_steady_rate_and_takes_the_busier_direction() {
        let mut m = TrafficMonitor::new(MonitorConfig::default());
        let r = feed(&mut m, test_epoch(), 20, 8_000_000).expect("a rate");
        assert_eq!(r.rx_bps, 8_000_000);
        assert_eq!(r.tx_bps, 4_000_000);
        assert_eq!(r.bps(), 8_000_000);
    }

    #[test]
    fn monitor_reaches_63_percent_of_a_step_after_one_time_constant() {
        let cfg = MonitorConfig {
            time_constant: Duration::from_secs(10),
        };
        let mut m = TrafficMonitor::new(cfg);
        let t0 = test_epoch();
        m.sample(t0, ByteCounters::default());
        m.sample(t0 + Duration::from_secs(1), ByteCounters::default());
        // A step from 0 to 10 Mbit/s, sampled every 100 ms for 10 s.
        let mut bytes = 0u64;
        let mut rate = None;
        for i in 1..=100u64 {
            bytes += 10_000_000 / 8 / 10;
            rate = m.sample(
                t0 + Duration::from_secs(1) + Duration::from_millis(100 * i),
                ByteCounters {
                    rx_bytes: bytes,
                    tx_bytes: 0,
                },
            );
        }
        let r = rate.expect("a rate").rx_bps as f64;
        assert!((r / 10_000_000.0 - 0.632).abs() < 0.01, "got {r}");
    }

    #[test]
    fn counter_reset_rebaselines() {
        let mut m = TrafficMonitor::new(MonitorConfig::default());
        let t0 = test_epoch();
        assert!(
            m.sample(
                t0,
                ByteCounters {
                    rx_bytes: 1000,
                    tx_bytes: 0
                }
            )
            .is_none()
        );
        assert!(
            m.sample(t0 + Duration::from_secs(1), ByteCounters::default())
                .is_none()
        );
        assert!(
            m.sample(t0 + Duration::from_secs(1), ByteCounters::default())
                .is_none()
        );
        let r = m.sample(
            t0 + Duration::from_secs(2),
            ByteCounters {
                rx_bytes: 125,
                tx_bytes: 0,
            },
        );
        assert_eq!(r.map(|r| r.rx_bps), Some(1000));
    }

    #[test]
    fn default_policy_is_valid() {
        LevelPolicy::default().validate().expect("defaults valid");
    }

    fn policy() -> LevelPolicy {
        LevelPolicy {
            sustain_samples: 3,
            sustain_for: Duration::from_secs(3),
            warmup: Duration::from_secs(2),
            cooldown: Duration::from_secs(10),
            ..LevelPolicy::default()
        }
    }

    #[test]
    fn lowers_only_after_the_condition_is_sustained() {
        let p = policy();
        let t0 = test_epoch();
        let mut a = LevelAllocator::new(&p, 10_000_000);
        assert_eq!(a.allocated_bps(), 10_000_000);
        let s = |i: u64| t0 + Duration::from_secs(i);
        // 1 Mbit/s against 10 Mbit/s is under 40 %. Samples at 2, 3, 4 s: three samples, but only
        // 2 s of streak; the fourth at 5 s completes 3 s.
        for i in 2..=4 {
            assert_eq!(a.observe(&p, s(i), 1_000_000, t0), None, "sample {i}");
        }
        let c = a.observe(&p, s(5), 1_000_000, t0).expect("lowered");
        assert_eq!(c.direction, Direction::Lower);
        assert_eq!(c.new_bps, 1_536_000);
        assert_eq!(a.allocated_bps(), 1_536_000);
    }

    #[test]
    fn a_single_sample_back_in_band_resets_the_streak() {
        let p = policy();
        let t0 = test_epoch();
        let mut a = LevelAllocator::new(&p, 10_000_000);
        let s = |i: u64| t0 + Duration::from_secs(i);
        for i in 2..=4 {
            assert_eq!(a.observe(&p, s(i), 1_000_000, t0), None);
        }
        assert_eq!(a.observe(&p, s(5), 6_000_000, t0), None);
        assert_eq!(a.observe(&p, s(6), 1_000_000, t0), None);
    }

    #[test]
    fn raises_up_to_the_contract_and_not_beyond() {
        let p = policy();
        let t0 = test_epoch();
        let mut a = LevelAllocator::new(&p, 10_000_000);
        a.set_granted(t0, 2_000_000);
        let s = |i: u64| t0 + Duration::from_secs(i);
        let mut change = None;
        for i in 11..=20 {
            change = change.or(a.observe(&p, s(i), 1_900_000, t0));
        }
        let c = change.expect("raised");
        assert_eq!(c.direction, Direction::Raise);
        assert_eq!(c.new_bps, 2_880_000);
        // Saturating at the contract: the target would be far above it.
        let mut a = LevelAllocator::new(&p, 10_000_000);
        a.set_granted(t0, 9_000_000);
        let mut change = None;
        for i in 11..=20 {
            change = change.or(a.observe(&p, s(i), 9_900_000, t0));
        }
        assert_eq!(change.map(|c| c.new_bps), Some(10_000_000));
        for i in 31..=40 {
            assert_eq!(
                a.observe(&p, s(i), 9_999_000, t0),
                None,
                "no raise above the contract"
            );
        }
    }

    #[test]
    fn cooldown_and_warmup_hold_changes_back() {
        let p = policy();
        let t0 = test_epoch();
        let s = |i: u64| t0 + Duration::from_secs(i);
        let mut a = LevelAllocator::new(&p, 10_000_000);
        // In warm-up (first sample at t0 + 0, warm-up 2 s) nothing happens even when sustained.
        let p_long = LevelPolicy {
            warmup: Duration::from_secs(100),
            ..p
        };
        for i in 0..50 {
            assert_eq!(a.observe(&p_long, s(i), 100_000, t0), None);
        }
        let mut a = LevelAllocator::new(&p, 10_000_000);
        a.set_granted(s(0), 9_000_000);
        for i in 1..=9 {
            assert_eq!(a.observe(&p, s(i), 100_000, t0), None, "cooldown at {i}");
        }
        assert!(a.observe(&p, s(10), 100_000, t0).is_some());
    }

    #[test]
    fn lower_clamps_at_the_minimum() {
        let p = policy();
        let t0 = test_epoch();
        let mut a = LevelAllocator::new(&p, 10_000_000);
        let mut change = None;
        for i in 2..=6 {
            change = change.or(a.observe(&p, t0 + Duration::from_secs(i), 0, t0));
        }
        assert_eq!(
            change.map(|c| c.new_bps),
            Some(p.min_level_bps.max(p.target(0)))
        );
        assert!(a.allocated_bps() >= p.min_level_bps);
    }

    #[test]
    fn a_steady_rate_settles_after_one_change() {
        use rand::{Rng, SeedableRng};
        let p = policy();
        let mut rng = rand::rngs::SmallRng::seed_from_u64(5);
        let t0 = test_epoch();
        for _ in 0..2_000 {
            let contract = rng.random_range(1_000_000..200_000_000u64);
            let rate = rng.random_range(0..contract);
            let mut a = LevelAllocator::new(&p, contract);
            let mut changes = 0;
            for i in 0..200 {
                if a.observe(&p, t0 + Duration::from_secs(i), rate, t0)
                    .is_some()
                {
                    changes += 1;
                }
            }
            assert!(
                changes <= 1,
                "rate {rate} contract {contract}: {changes} changes"
            );
            // Either the rate sits inside the band of the new level, or the level is already what
            // the rate asks for (clamped to the bounds), so no further change can follow.
            let level = a.allocated_bps();
            let fixed_point = p.target(rate).clamp(p.min_level_bps, contract) == level;
            assert!(
                fixed_point
                    || (rate >= p.lower_threshold(level) && rate <= p.raise_threshold(level)),
                "rate {rate} out of band for level {level}"
            );
        }
    }

    #[test]
    fn service_levels_table_round_trip() {
        let mut t = ServiceLevels::new(MonitorConfig::default(), policy()).expect("valid");
        let sid = SessionId(9);
        assert_eq!(t.insert(sid, 10_000_000), 10_000_000);
        let t0 = test_epoch();
        let mut change = None;
        for i in 0..=30u64 {
            let c = t.handle_sample(
                t0 + Duration::from_secs(i),
                sid,
                ByteCounters {
                    rx_bytes: i * 125_000,
                    tx_bytes: 0,
                },
            );
            change = change.or(c);
        }
        let c = change.expect("a quiet 1 Mbit/s session is lowered");
        assert_eq!(c.direction, Direction::Lower);
        t.set_granted(t0 + Duration::from_secs(31), sid, c.new_bps);
        assert_eq!(t.allocated_bps(sid), Some(c.new_bps));
        t.remove(sid);
        assert_eq!(t.allocated_bps(sid), None);
    }
}

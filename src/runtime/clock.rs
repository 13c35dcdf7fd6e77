//! The one place that reads the clock.
//!
//! Owns: the monotonic "now" handed to every sans-IO machine, and the wall-clock time stamped on
//! ledger records and logs. Must not touch: anything else. Every other module takes `now` as an
//! argument, so tests can drive time.
//!
//! Monotonic time comes from tokio's clock so that `#[tokio::test(start_paused = true)]` tests advance
//! it without sleeping. Wall time is derived from monotonic time and one anchor read at start-up, so the
//! two never disagree and wall time never steps backwards under a paused test clock.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, UTC. The unit of every wall-clock stamp in l2tpagg.
pub type UnixMillis = u64;

/// The daemon's clock: monotonic instants and wall-clock milliseconds from one anchor.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    anchor_instant: Instant,
    anchor_wall_ms: UnixMillis,
}

impl Clock {
    /// Reads the system clock once to anchor wall time.
    pub fn system() -> Self {
        let anchor_wall_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        Self::anchored(anchor_wall_ms)
    }

    /// A clock whose wall time starts at `anchor_wall_ms`; tests use it for reproducible stamps.
    pub fn anchored(anchor_wall_ms: UnixMillis) -> Self {
        Self {
            anchor_instant: now(),
            anchor_wall_ms,
        }
    }

    /// The monotonic now.
    pub fn now(&self) -> Instant {
        now()
    }

    /// Wall-clock milliseconds for a monotonic instant taken from this clock.
    pub fn wall_ms(&self, at: Instant) -> UnixMillis {
        let since = at.saturating_duration_since(self.anchor_instant);
        self.anchor_wall_ms + since.as_millis() as u64
    }

    /// Wall-clock milliseconds now.
    pub fn wall_now_ms(&self) -> UnixMillis {
        self.wall_ms(self.now())
    }
}

/// The monotonic now, following tokio's (possibly paused) clock.
pub fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// A fixed instant for tests of sans-IO machines, which need some `Instant` to add durations to.
/// It is read once per process and never again, so tests stay deterministic relative to it.
pub fn test_epoch() -> Instant {
    use std::sync::OnceLock;
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// Converts a duration to whole milliseconds, saturating.
pub fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

//! Logging: the tracing subscriber (text or JSON on stderr, or journald under systemd) and a
//! rate-limited logger for malformed input.
//!
//! Owns: the global tracing subscriber and the per-kind counters of malformed packets. Must not
//! touch: what is logged (each module emits its own events and spans).
//!
//! Journald: systemd sets `JOURNAL_STREAM=DEV:INODE` for a service whose stderr is the journal. When
//! stderr really is that stream (it could have been redirected since), logs go to journald natively,
//! with tracing fields as journal fields, instead of as text lines.
//!
//! Rate limiting: a flood of malformed packets must not become a flood of log lines. Each kind of
//! problem (a `&'static str` such as `"l2tp.truncated_header"`) gets at most N lines per interval;
//! the rest are counted, and the next line for that kind (or [`RateLimitedLog::flush`]) reports
//! "suppressed K similar". Counters are totals since start, for `ctl status`.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Display;
use std::io::IsTerminal;
use std::os::fd::AsFd;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use super::RuntimeError;
use super::clock;
use super::shutdown::ShutdownListener;

/// How log lines are written to stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// Where logs went, as chosen by [`init`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogTarget {
    /// stderr in the given format.
    Stderr(LogFormat),
    /// The systemd journal, natively.
    Journald,
}

/// The filter used when `RUST_LOG` is unset.
pub const DEFAULT_FILTER: &str = "info";

/// Installs the global tracing subscriber. `format: None` means "journald when running under
/// systemd with stderr attached to the journal, text otherwise"; an explicit format always writes
/// to stderr. The level filter comes from `RUST_LOG` (tracing-subscriber's env-filter syntax), else
/// `default_filter`. Returns where logs go. Fails if a global subscriber is already installed or the
/// filter does not parse.
pub fn init(format: Option<LogFormat>, default_filter: &str) -> Result<LogTarget, RuntimeError> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(spec) if !spec.trim().is_empty() => EnvFilter::try_new(&spec)
            .map_err(|e| RuntimeError::Logging(format!("RUST_LOG={spec:?}: {e}")))?,
        _ => EnvFilter::try_new(default_filter)
            .map_err(|e| RuntimeError::Logging(format!("filter {default_filter:?}: {e}")))?,
    };
    let registry = tracing_subscriber::registry().with(filter);
    let install_err =
        |e: tracing_subscriber::util::TryInitError| RuntimeError::Logging(e.to_string());
    if format.is_none() && stderr_is_journal() {
        match tracing_journald::layer() {
            Ok(layer) => {
                registry.with(layer).try_init().map_err(install_err)?;
                return Ok(LogTarget::Journald);
            }
            Err(e) => {
                // Fall through to text on stderr, which systemd still collects.
                eprintln!("journald unavailable ({e}); logging text to stderr");
            }
        }
    }
    let format = format.unwrap_or(LogFormat::Text);
    match format {
        LogFormat::Text => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stderr)
                    .with_ansi(std::io::stderr().is_terminal()),
            )
            .try_init()
            .map_err(install_err)?,
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_current_span(true)
                    .with_span_list(true)
                    .with_writer(std::io::stderr),
            )
            .try_init()
            .map_err(install_err)?,
    }
    Ok(LogTarget::Stderr(format))
}

/// Parses `JOURNAL_STREAM`'s `DEVICE:INODE`.
pub fn parse_journal_stream(value: &str) -> Option<(u64, u64)> {
    let (dev, ino) = value.trim().split_once(':')?;
    Some((dev.parse().ok()?, ino.parse().ok()?))
}

/// Whether stderr is the journal stream systemd set up (sd_journal_stream_fd(3) semantics).
pub fn stderr_is_journal() -> bool {
    use std::os::unix::fs::MetadataExt;
    let Some((dev, ino)) = std::env::var("JOURNAL_STREAM")
        .ok()
        .as_deref()
        .and_then(parse_journal_stream)
    else {
        return false;
    };
    let Ok(fd) = std::io::stderr().as_fd().try_clone_to_owned() else {
        return false;
    };
    let Ok(meta) = std::fs::File::from(fd).metadata() else {
        return false;
    };
    meta.dev() == dev && meta.ino() == ino
}

/// Whether a rate-limited event should be logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Log it. `suppressed_before` events of this kind were dropped in the window that just ended
    /// and have not been reported yet; report them first.
    Log {
        /// Suppressed events to report before this one.
        suppressed_before: u64,
    },
    /// Count it, do not log it.
    Suppress,
}

#[derive(Debug)]
struct KindState {
    window_start: Instant,
    logged_in_window: u32,
    suppressed_in_window: u64,
    total: u64,
}

/// A per-kind rate limiter and counter for warnings about bad input. Cheap to share (`Arc`); the
/// lock is held only to update a few integers.
#[derive(Debug)]
pub struct RateLimitedLog {
    max_lines: u32,
    interval: Duration,
    kinds: Mutex<HashMap<&'static str, KindState>>,
}

/// Default budget: 10 lines per kind per 10 seconds.
pub const DEFAULT_MAX_LINES: u32 = 10;
/// Default window.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);

impl Default for RateLimitedLog {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_LINES, DEFAULT_INTERVAL)
    }
}

impl RateLimitedLog {
    /// At most `max_lines` lines per kind per `interval`.
    pub fn new(max_lines: u32, interval: Duration) -> Self {
        Self {
            max_lines,
            interval,
            kinds: Mutex::new(HashMap::new()),
        }
    }

    /// The window length.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<&'static str, KindState>> {
        // Counters stay meaningful after a panic elsewhere; keep counting.
        self.kinds.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts one event of `kind` at `now` and says whether to log it. Windows are per kind and
    /// start at the first event after the previous window ended.
    pub fn admit_at(&self, kind: &'static str, now: Instant) -> Admission {
        let mut kinds = self.lock();
        let state = kinds.entry(kind).or_insert(KindState {
            window_start: now,
            logged_in_window: 0,
            suppressed_in_window: 0,
            total: 0,
        });
        state.total += 1;
        let mut suppressed_before = 0;
        if now.saturating_duration_since(state.window_start) >= self.interval {
            suppressed_before = state.suppressed_in_window;
            state.window_start = now;
            state.logged_in_window = 0;
            state.suppressed_in_window = 0;
        }
        if state.logged_in_window < self.max_lines {
            state.logged_in_window += 1;
            Admission::Log { suppressed_before }
        } else {
            state.suppressed_in_window += 1;
            Admission::Suppress
        }
    }

    /// Counts one event of `kind` now and logs `detail` at WARN unless the kind is over budget.
    pub fn warn(&self, kind: &'static str, detail: impl Display) {
        self.warn_at(kind, clock::now(), detail)
    }

    /// [`Self::warn`] at an explicit instant.
    pub fn warn_at(&self, kind: &'static str, now: Instant, detail: impl Display) {
        match self.admit_at(kind, now) {
            Admission::Log { suppressed_before } => {
                if suppressed_before > 0 {
                    self.emit_summary(kind, suppressed_before);
                }
                tracing::warn!(kind, total = self.total(kind), "{detail}");
            }
            Admission::Suppress => {}
        }
    }

    fn emit_summary(&self, kind: &'static str, suppressed: u64) {
        tracing::warn!(
            kind,
            suppressed,
            "suppressed {suppressed} similar {kind} messages in the last {}",
            humantime::format_duration(self.interval)
        );
    }

    /// Reports (and clears) the suppressed counts of every kind whose window has ended by `now`, so
    /// a flood that stops still gets its summary line. Call it periodically ([`Self::run_flusher`]).
    pub fn flush_at(&self, now: Instant) {
        let mut due = Vec::new();
        {
            let mut kinds = self.lock();
            for (kind, state) in kinds.iter_mut() {
                if state.suppressed_in_window > 0
                    && now.saturating_duration_since(state.window_start) >= self.interval
                {
                    due.push((*kind, state.suppressed_in_window));
                    state.suppressed_in_window = 0;
                    state.logged_in_window = 0;
                    state.window_start = now;
                }
            }
        }
        due.sort();
        for (kind, suppressed) in due {
            self.emit_summary(kind, suppressed);
        }
    }

    /// [`Self::flush_at`] now.
    pub fn flush(&self) {
        self.flush_at(clock::now())
    }

    /// Flushes once per interval until shutdown, then a last time.
    pub async fn run_flusher(self: Arc<Self>, mut shutdown: ShutdownListener) {
        let mut ticker = tokio::time::interval(self.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => self.flush(),
                _ = shutdown.recv() => break,
            }
        }
        // Whatever is still pending is reported regardless of the window.
        let pending: Vec<(&'static str, u64)> = {
            let mut kinds = self.lock();
            kinds
                .iter_mut()
                .filter(|(_, s)| s.suppressed_in_window > 0)
                .map(|(k, s)| (*k, std::mem::take(&mut s.suppressed_in_window)))
                .collect()
        };
        for (kind, suppressed) in pending {
            self.emit_summary(kind, suppressed);
        }
    }

    /// Events of `kind` counted since start, logged or not.
    pub fn total(&self, kind: &str) -> u64 {
        self.lock().get(kind).map_or(0, |s| s.total)
    }

    /// Every kind's total since start, sorted by kind (for `ctl status`).
    pub fn totals(&self) -> BTreeMap<String, u64> {
        self.lock()
            .iter()
            .map(|(k, s)| ((*k).to_owned(), s.total))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_stream_parsing() {
        assert_eq!(parse_journal_stream("8:12345"), Some((8, 12345)));
        assert_eq!(parse_journal_stream("8:12345\n"), Some((8, 12345)));
        assert_eq!(parse_journal_stream("8"), None);
        assert_eq!(parse_journal_stream("x:1"), None);
    }

    #[test]
    fn admission_budget_per_kind_and_window() {
        let log = RateLimitedLog::new(2, Duration::from_secs(1));
        let t0 = clock::test_epoch();
        assert_eq!(
            log.admit_at("a", t0),
            Admission::Log {
                suppressed_before: 0
            }
        );
        assert_eq!(
            log.admit_at("a", t0),
            Admission::Log {
                suppressed_before: 0
            }
        );
        assert_eq!(log.admit_at("a", t0), Admission::Suppress);
        assert_eq!(
            log.admit_at("a", t0 + Duration::from_millis(999)),
            Admission::Suppress
        );
        // Another kind has its own budget.
        assert_eq!(
            log.admit_at("b", t0),
            Admission::Log {
                suppressed_before: 0
            }
        );
        // The next window reports the two suppressed events once.
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(
            log.admit_at("a", t1),
            Admission::Log {
                suppressed_before: 2
            }
        );
        assert_eq!(
            log.admit_at("a", t1),
            Admission::Log {
                suppressed_before: 0
            }
        );
        assert_eq!(log.total("a"), 6);
        assert_eq!(log.totals().get("b"), Some(&1));
    }
}

//! What the emulator counts and how it reports it: per-cause failure counters, setup latencies and
//! their percentiles, traffic counters, and the final [`Report`] as text or JSON.
//!
//! Owns: the counters and their rendering. Must not touch: the clock (instants are passed in by
//! whoever measured them), sockets, protocol state.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, Instant};

use serde::Serialize;

/// Why a subscriber did not come up, or went down before it logged out. Each kind has a stable
/// snake_case name used as the key in reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CauseKind {
    /// The peer refused the L2TP tunnel (StopCCN while it was being set up).
    TunnelRefused,
    /// The peer never answered the tunnel's control messages (RFC 2661 §5.8 retransmissions
    /// exhausted).
    TunnelUnreachable,
    /// The tunnel went down for another reason (protocol error, tunnel authentication, StopCCN
    /// once established).
    TunnelDown,
    /// The peer refused or cleared the L2TP session with a CDN.
    SessionClosed,
    /// The endpoint refused to open the session (tunnel closing, session limit).
    SessionError,
    /// PPPoE: no acceptable PADO.
    PppoeNoOffer,
    /// PPPoE: offers came but no PADS.
    PppoeNoConfirmation,
    /// PPPoE: the AC answered the PADR with an error.
    PppoeRefused,
    /// PPPoE: the AC sent a PADT.
    PppoeTerminated,
    /// LCP got no answer (RFC 1661 §4.6 Max-Configure).
    LcpTimeout,
    /// LCP could not agree (or the link looked looped back, or LCP was rejected).
    LcpFailed,
    /// The peer wanted an authentication protocol we do not allow.
    AuthRefused,
    /// The peer refused our credentials.
    AuthFailed,
    /// Authentication did not finish in time.
    AuthTimeout,
    /// IPCP got no answer.
    IpcpTimeout,
    /// IPCP could not agree, or the peer closed it.
    IpcpFailed,
    /// The peer sent LCP Terminate-Request.
    PeerTerminated,
    /// The peer stopped answering LCP Echo-Requests.
    EchoTimeout,
    /// The whole setup took longer than the configured setup timeout.
    SetupTimeout,
    /// A socket error while sending.
    Io,
}

impl CauseKind {
    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TunnelRefused => "tunnel_refused",
            Self::TunnelUnreachable => "tunnel_unreachable",
            Self::TunnelDown => "tunnel_down",
            Self::SessionClosed => "session_closed",
            Self::SessionError => "session_error",
            Self::PppoeNoOffer => "pppoe_no_offer",
            Self::PppoeNoConfirmation => "pppoe_no_confirmation",
            Self::PppoeRefused => "pppoe_refused",
            Self::PppoeTerminated => "pppoe_terminated",
            Self::LcpTimeout => "lcp_timeout",
            Self::LcpFailed => "lcp_failed",
            Self::AuthRefused => "auth_refused",
            Self::AuthFailed => "auth_failed",
            Self::AuthTimeout => "auth_timeout",
            Self::IpcpTimeout => "ipcp_timeout",
            Self::IpcpFailed => "ipcp_failed",
            Self::PeerTerminated => "peer_terminated",
            Self::EchoTimeout => "echo_timeout",
            Self::SetupTimeout => "setup_timeout",
            Self::Io => "io",
        }
    }
}

impl fmt::Display for CauseKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A cause with the detail that explains it (a CDN result code, the peer's Terminate reason, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cause {
    /// The kind, for counting.
    pub kind: CauseKind,
    /// Human-readable detail, for the first occurrence shown in the summary.
    pub detail: String,
}

impl Cause {
    /// A cause.
    pub fn new(kind: CauseKind, detail: impl Into<String>) -> Self {
        Self {
            kind,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.detail.is_empty() {
            write!(f, "{}", self.kind)
        } else {
            write!(f, "{}: {}", self.kind, self.detail)
        }
    }
}

/// Counts per cause, keeping the detail of the first occurrence of each kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CauseCounts {
    counts: BTreeMap<CauseKind, (u64, String)>,
}

impl CauseCounts {
    /// Counts one occurrence.
    pub fn add(&mut self, cause: &Cause) {
        let entry = self
            .counts
            .entry(cause.kind)
            .or_insert_with(|| (0, cause.detail.clone()));
        entry.0 += 1;
    }

    /// The total over all kinds.
    pub fn total(&self) -> u64 {
        self.counts.values().map(|(n, _)| n).sum()
    }

    /// How many of `kind`.
    pub fn get(&self, kind: CauseKind) -> u64 {
        self.counts.get(&kind).map_or(0, |(n, _)| *n)
    }

    /// Every kind seen, with its count and first detail, in a fixed order.
    pub fn iter(&self) -> impl Iterator<Item = (CauseKind, u64, &str)> + '_ {
        self.counts.iter().map(|(k, (n, d))| (*k, *n, d.as_str()))
    }

    fn to_report(&self) -> BTreeMap<String, CauseReport> {
        self.iter()
            .map(|(k, count, first)| {
                (
                    k.as_str().to_owned(),
                    CauseReport {
                        count,
                        first: first.to_owned(),
                    },
                )
            })
            .collect()
    }
}

/// Setup latencies, kept exactly (one `u32` of microseconds each) so percentiles are exact.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Latencies {
    micros: Vec<u32>,
}

impl Latencies {
    /// Records one latency (saturating at about 71 minutes).
    pub fn record(&mut self, d: Duration) {
        self.micros
            .push(u32::try_from(d.as_micros()).unwrap_or(u32::MAX));
    }

    /// How many were recorded.
    pub fn len(&self) -> usize {
        self.micros.len()
    }

    /// Whether none were recorded.
    pub fn is_empty(&self) -> bool {
        self.micros.is_empty()
    }

    /// Minimum, percentiles and maximum, or `None` when nothing was recorded.
    pub fn summary(&self) -> Option<LatencySummary> {
        if self.micros.is_empty() {
            return None;
        }
        let mut sorted = self.micros.clone();
        sorted.sort_unstable();
        let sum: u64 = sorted.iter().map(|&v| u64::from(v)).sum();
        let ms = |us: u32| f64::from(us) / 1000.0;
        Some(LatencySummary {
            count: sorted.len() as u64,
            min_ms: ms(sorted[0]),
            p50_ms: ms(percentile(&sorted, 50.0)),
            p90_ms: ms(percentile(&sorted, 90.0)),
            p99_ms: ms(percentile(&sorted, 99.0)),
            max_ms: ms(sorted[sorted.len() - 1]),
            mean_ms: sum as f64 / sorted.len() as f64 / 1000.0,
        })
    }
}

/// The nearest-rank percentile of sorted values: the smallest value such that at least `p`
/// percent of the values are less than or equal to it. `p` is clamped to 0..=100; an empty slice
/// gives 0.
pub fn percentile(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let p = p.clamp(0.0, 100.0);
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Setup latency statistics, milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LatencySummary {
    /// Subscribers measured.
    pub count: u64,
    /// Fastest.
    pub min_ms: f64,
    /// Median (nearest rank).
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Slowest.
    pub max_ms: f64,
    /// Arithmetic mean.
    pub mean_ms: f64,
}

/// IP traffic through the emulated subscribers' sessions (IPv4 packets, bytes of whole IP packets).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct TrafficCounters {
    /// IP packets sent by the subscribers.
    pub packets_sent: u64,
    /// Their bytes.
    pub bytes_sent: u64,
    /// IP packets received by the subscribers.
    pub packets_received: u64,
    /// Their bytes.
    pub bytes_received: u64,
    /// Received packets that are echoes of our own test packets (UDP from the target carrying our
    /// marker back to the sender).
    pub echoes: u64,
}

/// Every counter of a run; [`Stats::report`] turns it into a [`Report`].
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// Logins started.
    pub started: u64,
    /// Subscribers that reached network-up (IPCP opened).
    pub up: u64,
    /// Subscribers that never came up, per cause.
    pub failed: CauseCounts,
    /// Subscribers that came up and went down before logging out, per cause.
    pub dropped: CauseCounts,
    /// Logins abandoned before network-up because the run was stopped.
    pub aborted: u64,
    /// Subscribers that logged out (after network-up).
    pub logged_out: u64,
    /// Setup latencies: login start to network-up.
    pub latencies: Latencies,
    /// When the first login started.
    pub first_start: Option<Instant>,
    /// When the last subscriber came up.
    pub last_up: Option<Instant>,
    /// L2TP tunnels that came up (PPPoE: 0).
    pub tunnels_up: u64,
    /// Traffic.
    pub traffic: TrafficCounters,
}

impl Stats {
    /// Logins started and not yet up, failed or aborted.
    pub fn in_flight(&self) -> u64 {
        self.started
            .saturating_sub(self.up + self.failed.total() + self.aborted)
    }

    /// Subscribers up now (came up, not yet down).
    pub fn active(&self) -> u64 {
        self.up
            .saturating_sub(self.logged_out + self.dropped.total())
    }

    /// Subscribers with nothing more to do.
    pub fn finished(&self) -> u64 {
        self.failed.total() + self.aborted + self.logged_out + self.dropped.total()
    }

    /// Records a login start.
    pub fn login_started(&mut self, now: Instant) {
        self.started += 1;
        self.first_start.get_or_insert(now);
    }

    /// Records a subscriber reaching network-up.
    pub fn came_up(&mut self, now: Instant, latency: Duration) {
        self.up += 1;
        self.latencies.record(latency);
        self.last_up = Some(self.last_up.map_or(now, |t| t.max(now)));
    }

    /// Subscribers up per second, from the first login to the last network-up; `None` before two
    /// distinct instants exist.
    pub fn setup_rate(&self) -> Option<f64> {
        let span = self.last_up?.checked_duration_since(self.first_start?)?;
        (!span.is_zero()).then(|| self.up as f64 / span.as_secs_f64())
    }

    /// A one-line summary for the progress display.
    pub fn progress_line(&self, elapsed: Duration, requested: u64) -> String {
        let p99 = self
            .latencies
            .summary()
            .map_or_else(|| "-".to_owned(), |s| format!("{:.1}ms", s.p99_ms));
        format!(
            "[{:>6.1}s] up {}/{} active {} in-flight {} failed {} dropped {} out {} | p99 {} | tx {} rx {} pkts",
            elapsed.as_secs_f64(),
            self.up,
            requested,
            self.active(),
            self.in_flight(),
            self.failed.total(),
            self.dropped.total(),
            self.logged_out,
            p99,
            self.traffic.packets_sent,
            self.traffic.packets_received,
        )
    }

    /// The final report.
    pub fn report(&self, header: ReportHeader, elapsed: Duration, interrupted: bool) -> Report {
        let not_started = header.subscribers.saturating_sub(self.started);
        let success = self.up == header.subscribers && self.dropped.total() == 0;
        Report {
            transport: header.transport,
            peer: header.peer,
            subscribers: header.subscribers,
            started: self.started,
            up: self.up,
            failed: self.failed.total(),
            failures: self.failed.to_report(),
            dropped: self.dropped.total(),
            drops: self.dropped.to_report(),
            aborted: self.aborted,
            not_started,
            logged_out: self.logged_out,
            tunnels: self.tunnels_up,
            setup_latency: self.latencies.summary(),
            setup_rate_per_second: self.setup_rate(),
            traffic: self.traffic,
            elapsed_seconds: elapsed.as_secs_f64(),
            interrupted,
            success,
        }
    }
}

/// What the report says about the run itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportHeader {
    /// `"l2tp"` or `"pppoe"`.
    pub transport: &'static str,
    /// The server address or the interface.
    pub peer: String,
    /// Subscribers requested.
    pub subscribers: u64,
}

/// One failure cause in a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CauseReport {
    /// How many.
    pub count: u64,
    /// The detail of the first occurrence.
    pub first: String,
}

/// The summary of a run; `--json` prints exactly this structure.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// `"l2tp"` (dial-in over UDP) or `"pppoe"`.
    pub transport: &'static str,
    /// The server address (L2TP) or the interface (PPPoE).
    pub peer: String,
    /// Subscribers requested.
    pub subscribers: u64,
    /// Logins started.
    pub started: u64,
    /// Subscribers that reached network-up.
    pub up: u64,
    /// Subscribers that never came up.
    pub failed: u64,
    /// `failed` per cause.
    pub failures: BTreeMap<String, CauseReport>,
    /// Subscribers that came up but went down before logging out.
    pub dropped: u64,
    /// `dropped` per cause.
    pub drops: BTreeMap<String, CauseReport>,
    /// Logins abandoned because the run was stopped.
    pub aborted: u64,
    /// Subscribers never started because the run was stopped.
    pub not_started: u64,
    /// Subscribers that logged out.
    pub logged_out: u64,
    /// L2TP tunnels that came up.
    pub tunnels: u64,
    /// Login start to network-up; `null` when nobody came up.
    pub setup_latency: Option<LatencySummary>,
    /// Subscribers up per second, first login start to last network-up.
    pub setup_rate_per_second: Option<f64>,
    /// IP traffic.
    pub traffic: TrafficCounters,
    /// Wall time of the whole run, seconds.
    pub elapsed_seconds: f64,
    /// Whether a stop request (signal) ended the run.
    pub interrupted: bool,
    /// Every subscriber came up and none was dropped: the exit status is 0 exactly when this holds.
    pub success: bool,
}

impl Report {
    /// The report as pretty JSON.
    pub fn to_json(&self) -> String {
        // Serialising plain data with string keys cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}

fn bytes_human(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1000.0 && unit + 1 < UNITS.len() {
        v /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.transport {
            "pppoe" => "PPPoE on",
            _ => "L2TP dial-in to",
        };
        writeln!(
            f,
            "l2tpagg loadgen: {} subscribers, {what} {}{}",
            self.subscribers,
            self.peer,
            if self.interrupted {
                " (interrupted)"
            } else {
                ""
            }
        )?;
        let pct = if self.subscribers == 0 {
            100.0
        } else {
            self.up as f64 * 100.0 / self.subscribers as f64
        };
        write!(
            f,
            "  sessions up      {} / {} ({pct:.1}%)",
            self.up, self.subscribers
        )?;
        if self.transport == "l2tp" {
            write!(f, " in {} tunnels", self.tunnels)?;
        }
        writeln!(f)?;
        writeln!(f, "  failed           {}", self.failed)?;
        for (kind, c) in &self.failures {
            writeln!(f, "    {kind:<20} {:>8}   first: {}", c.count, c.first)?;
        }
        if self.aborted > 0 || self.not_started > 0 {
            writeln!(
                f,
                "  stopped early    {} abandoned during setup, {} never started",
                self.aborted, self.not_started
            )?;
        }
        match &self.setup_latency {
            Some(l) => writeln!(
                f,
                "  setup latency    p50 {:.1} ms  p90 {:.1} ms  p99 {:.1} ms  max {:.1} ms  (min {:.1} ms, mean {:.1} ms)",
                l.p50_ms, l.p90_ms, l.p99_ms, l.max_ms, l.min_ms, l.mean_ms
            )?,
            None => writeln!(f, "  setup latency    - (nobody came up)")?,
        }
        if let Some(rate) = self.setup_rate_per_second {
            writeln!(
                f,
                "  setup rate       {rate:.1} subscribers/s (first login to last network-up)"
            )?;
        }
        let t = &self.traffic;
        writeln!(
            f,
            "  traffic sent     {} packets, {}",
            t.packets_sent,
            bytes_human(t.bytes_sent)
        )?;
        writeln!(
            f,
            "  traffic received {} packets, {} ({} echoes)",
            t.packets_received,
            bytes_human(t.bytes_received),
            t.echoes
        )?;
        writeln!(
            f,
            "  logged out       {}, dropped before logout {}",
            self.logged_out, self.dropped
        )?;
        for (kind, c) in &self.drops {
            writeln!(f, "    {kind:<20} {:>8}   first: {}", c.count, c.first)?;
        }
        writeln!(f, "  elapsed          {:.2} s", self.elapsed_seconds)?;
        write!(
            f,
            "  result           {}",
            if self.success {
                "every subscriber came up"
            } else {
                "NOT every subscriber came up and stayed up"
            }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), 50);
        assert_eq!(percentile(&v, 99.0), 99);
        assert_eq!(percentile(&v, 100.0), 100);
        assert_eq!(percentile(&v, 0.0), 1);
        assert_eq!(percentile(&v, 0.5), 1);
        assert_eq!(percentile(&v, 99.5), 100);
        let v = [7u32];
        assert_eq!(percentile(&v, 50.0), 7);
        assert_eq!(percentile(&v, 99.0), 7);
        // Ten values: p50 is the 5th, p99 the 10th (ceil(9.9) = 10), p90 the 9th.
        let v: Vec<u32> = (1..=10).map(|x| x * 10).collect();
        assert_eq!(percentile(&v, 50.0), 50);
        assert_eq!(percentile(&v, 90.0), 90);
        assert_eq!(percentile(&v, 99.0), 100);
        assert_eq!(percentile(&[], 50.0), 0);
    }

    #[test]
    fn latency_summary_in_milliseconds() {
        let mut l = Latencies::default();
        assert!(l.summary().is_none());
        // Recorded out of order: 1..=200 ms.
        for ms in (1..=200u64).rev() {
            l.record(Duration::from_millis(ms));
        }
        let s = l.summary().unwrap();
        assert_eq!(s.count, 200);
        assert_eq!(s.min_ms, 1.0);
        assert_eq!(s.p50_ms, 100.0);
        assert_eq!(s.p90_ms, 180.0);
        assert_eq!(s.p99_ms, 198.0);
        assert_eq!(s.max_ms, 200.0);
        assert!((s.mean_ms - 100.5).abs() < 1e-9);
        // Sub-millisecond precision survives.
        let mut l = Latencies::default();
        l.record(Duration::from_micros(1500));
        assert_eq!(l.summary().unwrap().p50_ms, 1.5);
    }

    #[test]
    fn counts_and_report() {
        let t0 = crate::runtime::clock::test_epoch();
        let mut s = Stats::default();
        for i in 0..4 {
            s.login_started(t0 + Duration::from_millis(i));
        }
        assert_eq!(s.in_flight(), 4);
        s.came_up(t0 + Duration::from_millis(500), Duration::from_millis(10));
        s.came_up(t0 + Duration::from_millis(1000), Duration::from_millis(30));
        s.failed
            .add(&Cause::new(CauseKind::AuthFailed, "bad password"));
        s.failed.add(&Cause::new(CauseKind::AuthFailed, "other"));
        assert_eq!(s.in_flight(), 0);
        assert_eq!(s.active(), 2);
        s.logged_out += 1;
        s.dropped
            .add(&Cause::new(CauseKind::PeerTerminated, "admin reset"));
        assert_eq!(s.active(), 0);
        assert_eq!(s.finished(), 4);
        assert_eq!(s.setup_rate(), Some(2.0));

        let header = ReportHeader {
            transport: "l2tp",
            peer: "127.0.0.1:1702".into(),
            subscribers: 5,
        };
        let r = s.report(header, Duration::from_secs(3), false);
        assert_eq!(r.not_started, 1);
        assert!(!r.success);
        assert_eq!(r.failures["auth_failed"].count, 2);
        assert_eq!(r.failures["auth_failed"].first, "bad password");
        assert_eq!(r.drops["peer_terminated"].count, 1);
        let json: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(json["up"], 2);
        assert_eq!(json["failures"]["auth_failed"]["count"], 2);
        assert_eq!(json["setup_latency"]["p99_ms"], 30.0);
        assert_eq!(json["success"], false);
        let text = r.to_string();
        assert!(text.contains("sessions up      2 / 5 (40.0%)"), "{text}");
        assert!(text.contains("auth_failed"), "{text}");
        assert!(text.contains("p99 30.0 ms"), "{text}");
    }

    #[test]
    fn success_needs_everyone_up_and_nobody_dropped() {
        let t0 = crate::runtime::clock::test_epoch();
        let mut s = Stats::default();
        s.login_started(t0);
        s.came_up(t0, Duration::from_millis(1));
        s.logged_out += 1;
        let header = || ReportHeader {
            transport: "pppoe",
            peer: "veth0".into(),
            subscribers: 1,
        };
        assert!(s.report(header(), Duration::ZERO, false).success);
        s.dropped.add(&Cause::new(CauseKind::EchoTimeout, ""));
        assert!(!s.report(header(), Duration::ZERO, false).success);
    }

    #[test]
    fn human_bytes() {
        assert_eq!(bytes_human(999), "999 B");
        assert_eq!(bytes_human(1_500), "1.5 kB");
        assert_eq!(bytes_human(16_200_000), "16.2 MB");
    }
}

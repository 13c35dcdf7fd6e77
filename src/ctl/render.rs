//! Rendering ctl responses for a terminal: aligned text tables (the default) or pretty JSON
//! (`--json`, the response object exactly as the daemon sent it, for scripts).
//!
//! Owns: presentation only. Must not touch: the wire format (see `proto`).

use std::fmt::Write as _;

use super::proto::{
    LineRow, MoveRow, PlanReport, Response, SessionRow, StatusReport, SubscriberRow, TunnelRow,
};
use crate::runtime::clock::UnixMillis;

/// Column alignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    /// Text columns.
    Left,
    /// Numbers.
    Right,
}

/// A text table with a header row, columns padded to their widest cell, two spaces apart.
#[derive(Debug, Clone)]
pub struct Table {
    headers: Vec<(&'static str, Align)>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these columns.
    pub fn new(headers: &[(&'static str, Align)]) -> Self {
        Self {
            headers: headers.to_vec(),
            rows: Vec::new(),
        }
    }

    /// Appends a row; missing cells render empty, extra cells are dropped.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Renders the table, one line per row, each ending in a newline, trailing spaces trimmed.
    pub fn render(&self) -> String {
        let mut widths: Vec<usize> = self
            .headers
            .iter()
            .map(|(h, _)| h.chars().count())
            .collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        let header: Vec<String> = self.headers.iter().map(|(h, _)| (*h).to_owned()).collect();
        for cells in std::iter::once(&header).chain(&self.rows) {
            let mut line = String::new();
            for (i, ((_, align), width)) in self.headers.iter().zip(&widths).enumerate() {
                let cell = cells.get(i).map(String::as_str).unwrap_or("");
                if i > 0 {
                    line.push_str("  ");
                }
                let pad = width.saturating_sub(cell.chars().count());
                match align {
                    Align::Left => {
                        line.push_str(cell);
                        line.extend(std::iter::repeat_n(' ', pad));
                    }
                    Align::Right => {
                        line.extend(std::iter::repeat_n(' ', pad));
                        line.push_str(cell);
                    }
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// The response as pretty JSON, newline-terminated.
pub fn json(response: &Response) -> String {
    let mut s =
        serde_json::to_string_pretty(response).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
    s.push('\n');
    s
}

/// The response as text for a terminal.
pub fn text(response: &Response) -> String {
    match response {
        Response::Status(report) => status(report),
        Response::Tunnels { rows } => tunnels(rows),
        Response::Sessions { rows } => sessions(rows),
        Response::Subscribers { rows } => subscribers(rows),
        Response::Lines { rows } => lines(rows),
        Response::Plan(plan) => plan_text(plan),
        Response::Done { message } => format!("{message}\n"),
        Response::Error(e) => format!("error: {e}\n"),
    }
}

/// Bits per second with a decimal SI unit, as line and contract speeds are quoted.
pub fn bps(v: u64) -> String {
    const UNITS: [(u64, &str); 4] = [
        (1_000_000_000_000, "Tbit/s"),
        (1_000_000_000, "Gbit/s"),
        (1_000_000, "Mbit/s"),
        (1_000, "kbit/s"),
    ];
    for (scale, unit) in UNITS {
        if v >= scale {
            return trim_decimal(v as f64 / scale as f64, unit);
        }
    }
    format!("{v} bit/s")
}

/// Bytes with a binary unit.
pub fn bytes(v: u64) -> String {
    const UNITS: [(u64, &str); 4] = [
        (1 << 40, "TiB"),
        (1 << 30, "GiB"),
        (1 << 20, "MiB"),
        (1 << 10, "KiB"),
    ];
    for (scale, unit) in UNITS {
        if v >= scale {
            return trim_decimal(v as f64 / scale as f64, unit);
        }
    }
    format!("{v} B")
}

fn trim_decimal(x: f64, unit: &str) -> String {
    let s = format!("{x:.1}");
    let s = s.strip_suffix(".0").unwrap_or(&s);
    format!("{s} {unit}")
}

/// A wall-clock stamp as UTC `YYYY-MM-DD HH:MM:SS`; "-" for 0 (never).
pub fn timestamp(ms: UnixMillis) -> String {
    if ms == 0 {
        return "-".into();
    }
    i64::try_from(ms)
        .ok()
        .and_then(chrono::DateTime::from_timestamp_millis)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| ms.to_string())
}

fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map_or_else(|| "-".to_owned(), T::to_string)
}

fn dash_if_empty(s: &str) -> String {
    if s.is_empty() {
        "-".into()
    } else {
        s.to_owned()
    }
}

fn status(r: &StatusReport) -> String {
    let mut out = String::new();
    let roles: Vec<String> = r.roles.iter().map(ToString::to_string).collect();
    let mut kv = |k: &str, v: String| {
        let _ = writeln!(out, "{k:<18} {v}");
    };
    kv("version", dash_if_empty(&r.daemon_version));
    kv("pid", r.pid.to_string());
    kv(
        "roles",
        if roles.is_empty() {
            "-".into()
        } else {
            roles.join(", ")
        },
    );
    let since = if r.started_at_ms == 0 {
        String::new()
    } else {
        format!(" (since {} UTC)", timestamp(r.started_at_ms))
    };
    let uptime = humantime::format_duration(std::time::Duration::from_secs(r.uptime_secs));
    kv("uptime", format!("{uptime}{since}"));
    let loaded = if r.config_loaded_at_ms == 0 {
        String::new()
    } else {
        format!(" (loaded {} UTC)", timestamp(r.config_loaded_at_ms))
    };
    kv(
        "config",
        format!("{}{loaded}", dash_if_empty(&r.config_origin)),
    );
    kv("tunnels", r.tunnels.to_string());
    kv("sessions", r.sessions.to_string());
    kv("subscribers", r.active_subscribers.to_string());
    kv("lines in use", r.lines_in_use.to_string());
    let malformed_total: u64 = r.malformed.values().sum();
    // Not only malformed packets: refused and unroutable input too (e.g. the kernel's IPv6
    // chatter on the TUN device), so the label says what the counters are.
    kv("input dropped", malformed_total.to_string());
    for (kind, count) in &r.malformed {
        let _ = writeln!(out, "  {kind:<30} {count:>12}");
    }
    if let Some(l) = &r.ledger {
        let _ = writeln!(out, "{:<18} {}", "ledger", dash_if_empty(&l.directory));
        let _ = writeln!(
            out,
            "  durable LSN {} of {}, {} pending, {} dropped, {} refused, {} readings skipped; \
             {} sessions, {} tunnels open",
            l.durable_lsn,
            l.last_lsn,
            l.pending,
            l.dropped,
            l.refused,
            l.skipped_readings,
            l.open_sessions,
            l.open_tunnels
        );
        if let Some(t) = &l.trouble {
            let _ = writeln!(
                out,
                "  TROUBLE: {t} ({} failed attempts)",
                l.trouble_failures
            );
        }
    }
    for line in &r.degraded {
        let _ = writeln!(out, "degraded: {line}");
    }
    out
}

fn empty(what: &str) -> String {
    format!("no {what}\n")
}

fn tunnels(rows: &[TunnelRow]) -> String {
    if rows.is_empty() {
        return empty("tunnels");
    }
    use Align::*;
    let mut t = Table::new(&[
        ("ROLE", Left),
        ("LOCAL-ID", Right),
        ("PEER-ID", Right),
        ("PEER", Left),
        ("ADDRESS", Left),
        ("LINE", Left),
        ("STATE", Left),
        ("SESSIONS", Right),
        ("LEVEL", Right),
        ("CAPACITY", Right),
        ("CAPABILITIES", Left),
    ]);
    for r in rows {
        t.row(vec![
            r.role.to_string(),
            r.local_tunnel_id.to_string(),
            r.peer_tunnel_id.to_string(),
            dash_if_empty(&r.peer_name),
            opt(&r.peer_address),
            opt(&r.line),
            dash_if_empty(&r.state),
            r.sessions.to_string(),
            bps(r.service_level_bps),
            bps(r.capacity_bps),
            if r.capabilities.is_empty() {
                "-".into()
            } else {
                r.capabilities.join(",")
            },
        ]);
    }
    t.render()
}

fn sessions(rows: &[SessionRow]) -> String {
    if rows.is_empty() {
        return empty("sessions");
    }
    use Align::*;
    let mut t = Table::new(&[
        ("ROLE", Left),
        ("SESSION", Right),
        ("PEER-SESSION", Right),
        ("TUNNEL", Right),
        ("SUBSCRIBER", Left),
        ("ACCESS", Left),
        ("STATE", Left),
        ("ADDRESS", Left),
        ("LEVEL", Right),
        ("LOGIN (UTC)", Left),
        ("UP", Right),
        ("DOWN", Right),
        ("PKTS-UP", Right),
        ("PKTS-DOWN", Right),
    ]);
    for r in rows {
        t.row(vec![
            r.role.to_string(),
            r.local_session_id.to_string(),
            r.peer_session_id.to_string(),
            r.local_tunnel_id.to_string(),
            dash_if_empty(&r.subscriber),
            dash_if_empty(&r.access),
            dash_if_empty(&r.state),
            opt(&r.address),
            bps(r.service_level_bps),
            timestamp(r.login_at_ms),
            bytes(r.bytes_up),
            bytes(r.bytes_down),
            r.packets_up.to_string(),
            r.packets_down.to_string(),
        ]);
    }
    t.render()
}

fn subscribers(rows: &[SubscriberRow]) -> String {
    if rows.is_empty() {
        return empty("subscribers");
    }
    use Align::*;
    let mut t = Table::new(&[
        ("SUBSCRIBER", Left),
        ("ACCOUNT", Left),
        ("CONSOLIDATED", Left),
        ("LEVEL", Right),
        ("SESSIONS", Right),
        ("MAX", Right),
        ("ADDRESSES", Left),
        ("LAST LOGIN (UTC)", Left),
    ]);
    for r in rows {
        let addresses: Vec<String> = r.addresses.iter().map(ToString::to_string).collect();
        t.row(vec![
            dash_if_empty(&r.name),
            opt(&r.account),
            if r.consolidation {
                "yes".into()
            } else {
                "no".into()
            },
            bps(r.service_level_bps),
            r.active_sessions.to_string(),
            opt(&r.max_sessions),
            if addresses.is_empty() {
                "-".into()
            } else {
                addresses.join(",")
            },
            r.last_login_at_ms.map_or_else(|| "-".into(), timestamp),
        ]);
    }
    t.render()
}

fn lines(rows: &[LineRow]) -> String {
    if rows.is_empty() {
        return empty("lines");
    }
    use Align::*;
    let mut t = Table::new(&[
        ("LINE", Left),
        ("STATE", Left),
        ("CAPACITY", Right),
        ("LEVEL", Right),
        ("USE", Right),
        ("TUNNELS", Right),
        ("SESSIONS", Right),
        ("COST/MONTH", Right),
    ]);
    for r in rows {
        let usage = if r.capacity_bps == 0 {
            "-".to_owned()
        } else {
            format!(
                "{}%",
                (u128::from(r.service_level_bps) * 100 / u128::from(r.capacity_bps))
            )
        };
        t.row(vec![
            dash_if_empty(&r.name),
            dash_if_empty(&r.state),
            bps(r.capacity_bps),
            bps(r.service_level_bps),
            usage,
            r.tunnels.to_string(),
            r.sessions.to_string(),
            minor_units(r.monthly_cost_minor),
        ]);
    }
    t.render()
}

/// Money in minor units shown with two decimals (the currency is the config's).
pub fn minor_units(v: i64) -> String {
    let sign = if v < 0 { "-" } else { "" };
    let a = v.unsigned_abs();
    format!("{sign}{}.{:02}", a / 100, a % 100)
}

fn moves(title: &str, rows: &[MoveRow], out: &mut String) {
    if rows.is_empty() {
        let _ = writeln!(out, "{title}: none");
        return;
    }
    let _ = writeln!(out, "{title}:");
    use Align::*;
    let mut t = Table::new(&[
        ("SUBSCRIBER", Left),
        ("SESSION", Right),
        ("FROM", Right),
        ("TO", Right),
        ("REASON", Left),
        ("OUTCOME", Left),
        ("DECIDED (UTC)", Left),
    ]);
    for m in rows {
        t.row(vec![
            dash_if_empty(&m.subscriber),
            m.session.to_string(),
            m.from_tunnel.to_string(),
            opt(&m.to_tunnel),
            dash_if_empty(&m.reason),
            dash_if_empty(&m.outcome),
            timestamp(m.decided_at_ms),
        ]);
    }
    out.push_str(&t.render());
}

fn plan_text(p: &PlanReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{:<18} {}", "tunnels in use", p.tunnels_in_use);
    let _ = writeln!(out, "{:<18} {}", "lines in use", p.lines_in_use);
    let _ = writeln!(out, "{:<18} {}", "lower bound L1", p.lower_bound_l1);
    let _ = writeln!(out, "{:<18} {}", "lower bound L2", p.lower_bound_l2);
    moves("pending moves", &p.pending_moves, &mut out);
    moves("recent moves", &p.recent_moves, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_columns() {
        let mut t = Table::new(&[("NAME", Align::Left), ("N", Align::Right)]);
        t.row(vec!["a".into(), "1000".into()]);
        t.row(vec!["longer".into(), "7".into()]);
        assert_eq!(t.render(), "NAME       N\na       1000\nlonger     7\n");
    }

    #[test]
    fn units() {
        assert_eq!(bps(0), "0 bit/s");
        assert_eq!(bps(999), "999 bit/s");
        assert_eq!(bps(10_000_000), "10 Mbit/s");
        assert_eq!(bps(2_500_000_000), "2.5 Gbit/s");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(3 << 30), "3 GiB");
        assert_eq!(minor_units(123_456), "1234.56");
        assert_eq!(minor_units(-5), "-0.05");
        assert_eq!(timestamp(0), "-");
        assert_eq!(timestamp(1_793_318_400_000), "2026-10-30 00:00:00");
    }
}

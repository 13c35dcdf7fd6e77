//! The subscriber usage report behind `l2tpagg billing usage --subscriber U`.
//!
//! Owns: picking one subscriber's records out of the ledger (its session starts, every interim,
//! stop and move of its legs, following moves to new legs) and summarising its sessions by the
//! same rules as invoices ([`super::aggregate`]), over the whole ledger. Must not touch: files,
//! prices.

use std::collections::HashSet;
use std::fmt::Write as _;

use serde::Serialize;

use super::LedgerNotes;
use super::aggregate::{Aggregate, TimeRange, UsageAggregator};
use super::render::{Table, csv_row, format_duration, format_time};
use crate::ledger::record::{AcctSessionId, Counters, LedgerEvent, LedgerRecord, MultiSessionId};
use crate::ledger::segment::Lsn;
use crate::runtime::clock::UnixMillis;

/// One of the subscriber's ledger records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UsageRecord {
    pub lsn: Lsn,
    pub at: UnixMillis,
    pub event: LedgerEvent,
}

/// A subscriber's records and sessions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UsageReport {
    pub subscriber: String,
    pub sessions: u64,
    pub connect_ms: u64,
    pub usage: Counters,
    /// Legs and sessions, as invoices see them (over the whole ledger).
    pub detail: Aggregate,
    /// The records, in ledger order.
    pub records: Vec<UsageRecord>,
    pub ledger: LedgerNotes,
}

/// Collects one subscriber's records from a ledger read in order.
pub struct UsageCollector {
    subscriber: String,
    legs: HashSet<AcctSessionId>,
    multis: HashSet<MultiSessionId>,
    records: Vec<UsageRecord>,
    agg: UsageAggregator,
    read: u64,
}

impl UsageCollector {
    pub fn new(subscriber: &str) -> Self {
        UsageCollector {
            subscriber: subscriber.to_owned(),
            legs: HashSet::new(),
            multis: HashSet::new(),
            records: Vec::new(),
            agg: UsageAggregator::new(TimeRange::ALL),
            read: 0,
        }
    }

    /// Takes the next record in ledger order.
    pub fn observe(&mut self, lsn: Lsn, record: &LedgerRecord) {
        self.read += 1;
        let mine = match &record.event {
            LedgerEvent::SessionStart {
                session,
                multi,
                subscriber,
                ..
            } => {
                let mine = *subscriber == self.subscriber;
                if mine {
                    self.legs.insert(*session);
                    self.multis.insert(*multi);
                }
                mine
            }
            LedgerEvent::SessionInterim { session, .. }
            | LedgerEvent::SessionStop { session, .. } => self.legs.contains(session),
            LedgerEvent::SessionMove {
                multi, from, to, ..
            } => {
                let mine = self.legs.contains(from) || self.multis.contains(multi);
                if mine {
                    self.legs.insert(*to);
                }
                mine
            }
            _ => false,
        };
        if mine {
            self.agg.observe(record);
            self.records.push(UsageRecord {
                lsn,
                at: record.at,
                event: record.event.clone(),
            });
        }
    }

    pub fn finish(self) -> UsageReport {
        let detail = self.agg.finish();
        let mut notes = LedgerNotes {
            aggregate: detail.notes.clone(),
            ..LedgerNotes::default()
        };
        notes.aggregate.records = self.read;
        UsageReport {
            subscriber: self.subscriber,
            sessions: detail.sessions.len() as u64,
            connect_ms: detail.sessions.iter().map(|s| s.ms_in_range).sum(),
            usage: detail
                .sessions
                .iter()
                .fold(Counters::default(), |a, s| a.saturating_add(s.usage)),
            detail,
            records: self.records,
            ledger: notes,
        }
    }
}

/// The usage report of `subscriber` from `(lsn, record)` pairs in ledger order.
pub fn usage_report<'a>(
    subscriber: &str,
    records: impl IntoIterator<Item = (Lsn, &'a LedgerRecord)>,
) -> UsageReport {
    let mut c = UsageCollector::new(subscriber);
    for (lsn, r) in records {
        c.observe(lsn, r);
    }
    c.finish()
}

fn event_detail(e: &LedgerEvent) -> (String, String) {
    let counters = |c: &Counters| {
        format!(
            "in {} B / {} pkt, out {} B / {} pkt",
            c.octets_in, c.packets_in, c.octets_out, c.packets_out
        )
    };
    match e {
        LedgerEvent::SessionStart {
            session,
            multi,
            account,
            place,
            ..
        } => (
            session.to_string(),
            format!(
                "multi {multi}, account {account}, tunnel {} session {}, peer {}, line {}",
                place.tunnel, place.l2tp_session_id, place.peer, place.line
            ),
        ),
        LedgerEvent::SessionInterim {
            session,
            counters: c,
        } => (session.to_string(), counters(c)),
        LedgerEvent::SessionStop {
            session,
            counters: c,
            cause,
            cause_text,
        } => (
            session.to_string(),
            format!("{}, cause {cause} {cause_text:?}", counters(c)),
        ),
        LedgerEvent::SessionMove {
            from,
            from_counters,
            to,
            to_place,
            ..
        } => (
            from.to_string(),
            format!(
                "final {}; moved to {to} in tunnel {} session {}, peer {}, line {}",
                counters(from_counters),
                to_place.tunnel,
                to_place.l2tp_session_id,
                to_place.peer,
                to_place.line
            ),
        ),
        other => (String::new(), other.name().to_owned()),
    }
}

/// The report as text: a summary, the sessions, then the records.
pub fn render_usage_text(r: &UsageReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Usage of {}: {} session{}, {} connected, {} B in, {} B out",
        r.subscriber,
        r.sessions,
        if r.sessions == 1 { "" } else { "s" },
        format_duration(r.connect_ms),
        r.usage.octets_in,
        r.usage.octets_out
    );
    let _ = writeln!(out, "\nSessions");
    let mut t = Table::new(
        &[
            "multi-session",
            "start",
            "last seen",
            "legs",
            "connect",
            "bytes in",
            "bytes out",
            "ended",
        ],
        &[false, false, false, true, true, true, true, false],
    );
    for s in &r.detail.sessions {
        let last = s
            .legs
            .iter()
            .filter_map(|&i| r.detail.legs.get(i))
            .max_by_key(|l| l.end);
        let ended = match (s.stopped, last.and_then(|l| l.stop.as_ref())) {
            (true, Some(stop)) => stop.cause.to_string(),
            _ => "running or cut off".to_owned(),
        };
        t.row(vec![
            s.multi.to_string(),
            format_time(s.start),
            format_time(s.end),
            s.legs.len().to_string(),
            format_duration(s.ms_in_range),
            s.usage.octets_in.to_string(),
            s.usage.octets_out.to_string(),
            ended,
        ]);
    }
    t.render(&mut out, "  ");
    let _ = writeln!(out, "\nRecords");
    let mut t = Table::new(
        &["lsn", "time", "record", "leg", "detail"],
        &[true, false, false, false, false],
    );
    for rec in &r.records {
        let (leg, detail) = event_detail(&rec.event);
        t.row(vec![
            rec.lsn.to_string(),
            format_time(rec.at),
            rec.event.name().to_owned(),
            leg,
            detail,
        ]);
    }
    t.render(&mut out, "  ");
    out
}

/// The report as pretty JSON, newline-terminated.
pub fn render_usage_json(r: &UsageReport) -> String {
    let mut s = serde_json::to_string_pretty(r).unwrap_or_default();
    s.push('\n');
    s
}

/// The records as CSV: `lsn, at, time, record, leg, multi, tunnel, peer, line, octets_in,
/// octets_out, packets_in, packets_out, terminate_cause, cause_text, moved_to`.
pub fn render_usage_csv(r: &UsageReport) -> String {
    let mut out = String::new();
    let header = [
        "lsn",
        "at",
        "time",
        "record",
        "leg",
        "multi",
        "tunnel",
        "peer",
        "line",
        "octets_in",
        "octets_out",
        "packets_in",
        "packets_out",
        "terminate_cause",
        "cause_text",
        "moved_to",
    ];
    csv_row(&mut out, &header.map(str::to_owned));
    for rec in &r.records {
        let mut cells = vec![String::new(); header.len()];
        cells[0] = rec.lsn.to_string();
        cells[1] = rec.at.to_string();
        cells[2] = format_time(rec.at);
        cells[3] = rec.event.name().to_owned();
        let put_counters = |cells: &mut Vec<String>, c: &Counters| {
            cells[9] = c.octets_in.to_string();
            cells[10] = c.octets_out.to_string();
            cells[11] = c.packets_in.to_string();
            cells[12] = c.packets_out.to_string();
        };
        match &rec.event {
            LedgerEvent::SessionStart {
                session,
                multi,
                place,
                ..
            } => {
                cells[4] = session.to_string();
                cells[5] = multi.to_string();
                cells[6] = place.tunnel.to_string();
                cells[7] = place.peer.clone();
                cells[8] = place.line.clone();
            }
            LedgerEvent::SessionInterim { session, counters } => {
                cells[4] = session.to_string();
                put_counters(&mut cells, counters);
            }
            LedgerEvent::SessionStop {
                session,
                counters,
                cause,
                cause_text,
            } => {
                cells[4] = session.to_string();
                put_counters(&mut cells, counters);
                cells[13] = cause.code().to_string();
                cells[14] = cause_text.clone();
            }
            LedgerEvent::SessionMove {
                multi,
                from,
                from_counters,
                to,
                to_place,
            } => {
                cells[4] = from.to_string();
                cells[5] = multi.to_string();
                cells[6] = to_place.tunnel.to_string();
                cells[7] = to_place.peer.clone();
                cells[8] = to_place.line.clone();
                put_counters(&mut cells, from_counters);
                cells[15] = to.to_string();
            }
            _ => {}
        }
        csv_row(&mut out, &cells);
    }
    out
}

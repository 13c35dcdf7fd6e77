//! Usage aggregation: from ledger records to what each leg, subscriber session, tunnel and line
//! used inside one time range.
//!
//! Owns: the accounting rules that make usage trustworthy: nothing lost, nothing counted twice.
//! Must not touch: prices (see [`crate::engine::tariff`]), contracts, files or the clock. It reads
//! records in ledger order, one at a time, keeping state per leg, so a million records cost one
//! pass and memory per leg, not per record.
//!
//! # Rules
//!
//! - **Legs and sessions.** A leg ([`AcctSessionId`]) starts with `SessionStart` or as the `to` side
//!   of a `SessionMove`. Its counters are cumulative since the leg started, so a leg's usage is its
//!   last reading, and a subscriber session's ([`MultiSessionId`]) usage is the sum over its legs.
//!   A move ends one leg with its final counters and starts the next at zero: bytes are never
//!   counted in both. A session's time is the union of its legs' time spans, so the moment where
//!   make-before-break has both legs up counts once.
//! - **Superseding.** Each interim replaces the previous reading of its leg; a stop replaces them
//!   all and closes the leg: later records for it are ignored and counted in
//!   [`AggregateNotes::ignored_after_stop`]. A reading lower than the previous one (a counter
//!   reset) is raised to the previous one, so usage never goes negative.
//! - **Sessions without a stop** (still running, or the daemon crashed) count up to their last
//!   reading: the last interim (or the move or start). Time after it is not billed.
//! - **Range boundaries.** A leg's cumulative counters are known at its readings. At a range
//!   boundary that falls between two readings the value is interpolated linearly in integer
//!   arithmetic (rounded down). The same value is used as the end of one range and the start of
//!   the next, so the parts of a split session add up exactly to the whole: usage in `[a, b)` is
//!   `C(b) - C(a)`. Time is split exactly.
//! - **Tunnels and lines** are open from `TunnelOpen` / `LineUse { in_use: true }` to
//!   `TunnelClose` / `LineUse { in_use: false }`. One still open at the end of the ledger counts
//!   up to the latest record stamp of its daemon run (runs are separated by `DaemonStart`): a
//!   crash ends the run, and the next run opens its own tunnels. `Heartbeat` records keep that
//!   stamp fresh when there is no session traffic. A line is in use while a line-use interval or
//!   any tunnel on it is open.
//! - **Clock steps.** A record stamped earlier than the previous reading of the same leg is taken
//!   as stamped at that previous reading.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use serde::Serialize;

use crate::ledger::record::{
    AcctSessionId, Counters, LedgerEvent, LedgerRecord, LegPlace, MultiSessionId, TerminateCause,
    TunnelSerial,
};
use crate::runtime::clock::UnixMillis;

/// A half-open range of wall-clock time `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TimeRange {
    pub start: UnixMillis,
    pub end: UnixMillis,
}

impl TimeRange {
    /// Everything the ledger can hold.
    pub const ALL: TimeRange = TimeRange {
        start: 0,
        end: UnixMillis::MAX,
    };

    /// Milliseconds of `[a, b]` inside the range.
    pub fn overlap(&self, a: UnixMillis, b: UnixMillis) -> u64 {
        b.min(self.end).saturating_sub(a.max(self.start))
    }

    /// Whether a span `[a, b]` belongs to the range: it overlaps it, or it is an instant inside it.
    pub fn touches(&self, a: UnixMillis, b: UnixMillis) -> bool {
        if a == b {
            self.start <= a && a < self.end
        } else {
            a < self.end && b > self.start
        }
    }
}

/// Milliseconds covered by the union of `spans`, clipped to `range`. Sorts `spans`.
pub fn union_ms(spans: &mut [(UnixMillis, UnixMillis)], range: TimeRange) -> u64 {
    spans.sort_unstable();
    let mut total = 0u64;
    let mut current: Option<(UnixMillis, UnixMillis)> = None;
    for &(a, b) in spans.iter() {
        let (a, b) = (a.max(range.start), b.min(range.end));
        if b <= a {
            continue;
        }
        current = match current {
            Some((ca, cb)) if a <= cb => Some((ca, cb.max(b))),
            Some((ca, cb)) => {
                total += cb - ca;
                Some((a, b))
            }
            None => Some((a, b)),
        };
    }
    if let Some((ca, cb)) = current {
        total += cb - ca;
    }
    total
}

type Sym = u32;

/// Hashes the ledger's own 64-bit IDs (multiply-rotate, as rustc's FxHash). They are made by the
/// daemon, not chosen by peers, so a flood-resistant hash buys nothing, while SipHash was a large
/// share of a million-record invoice.
#[derive(Default, Clone, Copy)]
struct IdHasher(u64);

const ID_HASH_K: u64 = 0x517c_c1b7_2722_0a95;

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(ID_HASH_K);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

type IdMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;

#[derive(Default)]
struct Interner {
    ids: HashMap<String, Sym>,
    names: Vec<String>,
}

impl Interner {
    fn intern(&mut self, s: &str) -> Sym {
        if let Some(&id) = self.ids.get(s) {
            return id;
        }
        let id = self.names.len() as Sym;
        self.names.push(s.to_owned());
        self.ids.insert(s.to_owned(), id);
        id
    }

    fn name(&self, id: Sym) -> &str {
        &self.names[id as usize]
    }
}

struct Leg {
    multi: MultiSessionId,
    subscriber: Sym,
    account: Sym,
    tunnel: TunnelSerial,
    peer: Sym,
    line: Sym,
    l2tp_session_id: u16,
    start: UnixMillis,
    last_t: UnixMillis,
    last_c: Counters,
    /// Cumulative counters at the range start and end, once a reading at or past them arrived.
    at_range_start: Option<Counters>,
    at_range_end: Option<Counters>,
    stop: Option<(TerminateCause, String)>,
    moved_to: Option<AcctSessionId>,
}

impl Leg {
    fn reading(&mut self, range: TimeRange, t: UnixMillis, c: Counters) {
        let t = t.max(self.last_t);
        let c = c.max(self.last_c);
        for (cut, slot) in [
            (range.start, &mut self.at_range_start),
            (range.end, &mut self.at_range_end),
        ] {
            if slot.is_none() && self.last_t < cut && cut <= t {
                *slot = Some(interpolate(self.last_t, self.last_c, t, c, cut));
            }
        }
        self.last_t = t;
        self.last_c = c;
    }
}

/// Cumulative counters at `x`, between readings `(t0, c0)` and `(t1, c1)` with `t0 < x <= t1`.
fn interpolate(
    t0: UnixMillis,
    c0: Counters,
    t1: UnixMillis,
    c1: Counters,
    x: UnixMillis,
) -> Counters {
    let num = u128::from(x - t0);
    let den = u128::from(t1 - t0);
    let f = |a: u64, b: u64| a + ((u128::from(b - a) * num) / den) as u64;
    Counters {
        octets_in: f(c0.octets_in, c1.octets_in),
        octets_out: f(c0.octets_out, c1.octets_out),
        packets_in: f(c0.packets_in, c1.packets_in),
        packets_out: f(c0.packets_out, c1.packets_out),
    }
}

struct Tunnel {
    peer: Sym,
    line: Sym,
    open_at: UnixMillis,
    close_at: Option<UnixMillis>,
    run: usize,
}

struct LineSpan {
    start: UnixMillis,
    end: Option<UnixMillis>,
    run: usize,
}

/// Oddities met while aggregating; none of them stops an invoice, all of them are shown on it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct AggregateNotes {
    /// Records read.
    pub records: u64,
    /// Interims, stops or moves for a leg whose start is not in the ledger (set aside by recovery,
    /// or written before the ledger began). Their usage cannot be attributed.
    pub orphan_records: u64,
    /// Records for a leg after its stop.
    pub ignored_after_stop: u64,
    /// Starts for a leg ID already seen, and opens of a tunnel serial already seen (the daemon must
    /// keep those unique); the first one wins.
    pub duplicate_ids: u64,
}

/// Feeds on ledger records in order; [`UsageAggregator::finish`] gives the usage inside the range.
pub struct UsageAggregator {
    range: TimeRange,
    names: Interner,
    legs: IdMap<AcctSessionId, Leg>,
    multi_owner: IdMap<MultiSessionId, (Sym, Sym)>,
    tunnels: IdMap<TunnelSerial, Tunnel>,
    lines: HashMap<Sym, Vec<LineSpan>>,
    /// Latest record stamp per daemon run; index 0 is the records before any `DaemonStart`.
    horizons: Vec<UnixMillis>,
    notes: AggregateNotes,
}

impl UsageAggregator {
    pub fn new(range: TimeRange) -> Self {
        UsageAggregator {
            range,
            names: Interner::default(),
            legs: IdMap::default(),
            multi_owner: IdMap::default(),
            tunnels: IdMap::default(),
            lines: HashMap::new(),
            horizons: vec![0],
            notes: AggregateNotes::default(),
        }
    }

    fn run(&self) -> usize {
        self.horizons.len() - 1
    }

    fn new_leg(
        &mut self,
        multi: MultiSessionId,
        owner: (Sym, Sym),
        place: &LegPlace,
        at: UnixMillis,
    ) -> Leg {
        let zero_if_before = |cut: UnixMillis| (cut <= at).then_some(Counters::default());
        Leg {
            multi,
            subscriber: owner.0,
            account: owner.1,
            tunnel: place.tunnel,
            peer: self.names.intern(&place.peer),
            line: self.names.intern(&place.line),
            l2tp_session_id: place.l2tp_session_id,
            start: at,
            last_t: at,
            last_c: Counters::default(),
            at_range_start: zero_if_before(self.range.start),
            at_range_end: zero_if_before(self.range.end),
            stop: None,
            moved_to: None,
        }
    }

    /// Takes the next record in ledger order.
    pub fn observe(&mut self, record: &LedgerRecord) {
        self.notes.records += 1;
        let at = record.at;
        if let LedgerEvent::DaemonStart { .. } = record.event {
            self.horizons.push(at);
        }
        let run = self.run();
        self.horizons[run] = self.horizons[run].max(at);
        let range = self.range;
        match &record.event {
            LedgerEvent::DaemonStart { .. } | LedgerEvent::Heartbeat => {}
            LedgerEvent::TunnelOpen {
                tunnel, peer, line, ..
            } => {
                if self.tunnels.contains_key(tunnel) {
                    self.notes.duplicate_ids += 1;
                    return;
                }
                let t = Tunnel {
                    peer: self.names.intern(peer),
                    line: self.names.intern(line),
                    open_at: at,
                    close_at: None,
                    run,
                };
                self.tunnels.insert(*tunnel, t);
            }
            LedgerEvent::TunnelClose { tunnel, .. } => match self.tunnels.get_mut(tunnel) {
                Some(t) if t.close_at.is_none() => t.close_at = Some(at.max(t.open_at)),
                Some(_) => {}
                None => self.notes.orphan_records += 1,
            },
            LedgerEvent::LineUse { line, in_use } => {
                let line = self.names.intern(line);
                let spans = self.lines.entry(line).or_default();
                let open = spans.last_mut().filter(|s| s.end.is_none());
                match (open, *in_use) {
                    (None, true) => spans.push(LineSpan {
                        start: at,
                        end: None,
                        run,
                    }),
                    (Some(s), false) => s.end = Some(at.max(s.start)),
                    // Repeated "in use" or "released": the state did not change.
                    _ => {}
                }
            }
            LedgerEvent::SessionStart {
                session,
                multi,
                subscriber,
                account,
                place,
            } => {
                if self.legs.contains_key(session) {
                    self.notes.duplicate_ids += 1;
                    return;
                }
                let owner = (self.names.intern(subscriber), self.names.intern(account));
                let owner = *self.multi_owner.entry(*multi).or_insert(owner);
                let leg = self.new_leg(*multi, owner, place, at);
                self.legs.insert(*session, leg);
            }
            LedgerEvent::SessionInterim { session, counters } => match self.legs.get_mut(session) {
                Some(leg) if leg.stop.is_some() => self.notes.ignored_after_stop += 1,
                Some(leg) => leg.reading(range, at, *counters),
                None => self.notes.orphan_records += 1,
            },
            LedgerEvent::SessionStop {
                session,
                counters,
                cause,
                cause_text,
            } => match self.legs.get_mut(session) {
                Some(leg) if leg.stop.is_some() => self.notes.ignored_after_stop += 1,
                Some(leg) => {
                    leg.reading(range, at, *counters);
                    leg.stop = Some((*cause, cause_text.clone()));
                }
                None => self.notes.orphan_records += 1,
            },
            LedgerEvent::SessionMove {
                multi,
                from,
                from_counters,
                to,
                to_place,
            } => {
                let owner = match self.legs.get_mut(from) {
                    Some(leg) => {
                        if leg.stop.is_none() {
                            leg.reading(range, at, *from_counters);
                        } else {
                            self.notes.ignored_after_stop += 1;
                        }
                        leg.moved_to = Some(*to);
                        Some((leg.subscriber, leg.account))
                    }
                    None => {
                        self.notes.orphan_records += 1;
                        None
                    }
                };
                let Some(owner) = owner.or_else(|| self.multi_owner.get(multi).copied()) else {
                    return;
                };
                if self.legs.contains_key(to) {
                    self.notes.duplicate_ids += 1;
                    return;
                }
                let leg = self.new_leg(*multi, owner, to_place, at);
                self.legs.insert(*to, leg);
            }
        }
    }

    /// The usage inside the range.
    pub fn finish(self) -> Aggregate {
        let range = self.range;
        let names = &self.names;
        // Sort by name through ranks of the interned names: comparing integers, not strings.
        let mut by_name: Vec<Sym> = (0..names.names.len() as Sym).collect();
        by_name.sort_unstable_by(|a, b| names.name(*a).cmp(names.name(*b)));
        let mut rank = vec![0u32; by_name.len()];
        for (r, sym) in by_name.into_iter().enumerate() {
            rank[sym as usize] = r as u32;
        }
        let mut kept: Vec<(AcctSessionId, Leg)> = self
            .legs
            .into_iter()
            .filter(|(_, l)| range.touches(l.start, l.last_t))
            .collect();
        kept.sort_unstable_by_key(|(session, l)| {
            (rank[l.subscriber as usize], l.multi, l.start, *session)
        });
        let legs: Vec<LegUsage> = kept
            .into_iter()
            .map(|(session, l)| {
                let at_start = l.at_range_start.unwrap_or(l.last_c);
                let at_end = l.at_range_end.unwrap_or(l.last_c);
                LegUsage {
                    session,
                    multi: l.multi,
                    subscriber: names.name(l.subscriber).to_owned(),
                    account: names.name(l.account).to_owned(),
                    tunnel: l.tunnel,
                    peer: names.name(l.peer).to_owned(),
                    line: names.name(l.line).to_owned(),
                    l2tp_session_id: l.l2tp_session_id,
                    start: l.start,
                    end: l.last_t,
                    ms_in_range: range.overlap(l.start, l.last_t),
                    usage: at_end.saturating_sub(at_start),
                    total: l.last_c,
                    stop: l.stop.map(|(cause, text)| LegStop { cause, text }),
                    moved_to: l.moved_to,
                }
            })
            .collect();

        let mut sessions: Vec<SessionUsage> = Vec::new();
        let mut spans = Vec::new();
        let mut i = 0;
        while i < legs.len() {
            let mut j = i;
            while j < legs.len()
                && legs[j].multi == legs[i].multi
                && legs[j].subscriber == legs[i].subscriber
            {
                j += 1;
            }
            let group = &legs[i..j];
            spans.clear();
            spans.extend(group.iter().map(|l| (l.start, l.end)));
            let last = group
                .iter()
                .max_by_key(|l| (l.end, l.start))
                .unwrap_or(&group[0]);
            sessions.push(SessionUsage {
                multi: group[0].multi,
                subscriber: group[0].subscriber.clone(),
                account: group[0].account.clone(),
                start: group.iter().map(|l| l.start).min().unwrap_or(0),
                end: group.iter().map(|l| l.end).max().unwrap_or(0),
                legs: (i..j).collect(),
                ms_in_range: union_ms(&mut spans, range),
                usage: group
                    .iter()
                    .fold(Counters::default(), |a, l| a.saturating_add(l.usage)),
                total: group
                    .iter()
                    .fold(Counters::default(), |a, l| a.saturating_add(l.total)),
                stopped: group
                    .iter()
                    .all(|l| l.stop.is_some() || l.moved_to.is_some())
                    && last.stop.is_some(),
            });
            i = j;
        }

        let horizon = |run: usize| self.horizons.get(run).copied().unwrap_or(0);
        let mut tunnels: Vec<TunnelUsage> = self
            .tunnels
            .into_iter()
            .map(|(tunnel, t)| {
                let end = t.close_at.unwrap_or_else(|| horizon(t.run).max(t.open_at));
                TunnelUsage {
                    tunnel,
                    peer: names.name(t.peer).to_owned(),
                    line: names.name(t.line).to_owned(),
                    open_at: t.open_at,
                    end,
                    closed: t.close_at.is_some(),
                    ms_in_range: range.overlap(t.open_at, end),
                }
            })
            .filter(|t| range.touches(t.open_at, t.end))
            .collect();
        tunnels.sort_by(|a, b| {
            (&a.line, &a.peer, a.open_at, a.tunnel).cmp(&(&b.line, &b.peer, b.open_at, b.tunnel))
        });

        let mut line_spans: HashMap<&str, Vec<(UnixMillis, UnixMillis)>> = HashMap::new();
        for (line, spans) in &self.lines {
            let v = line_spans.entry(names.name(*line)).or_default();
            for s in spans {
                v.push((
                    s.start,
                    s.end.unwrap_or_else(|| horizon(s.run).max(s.start)),
                ));
            }
        }
        for t in &tunnels {
            line_spans
                .entry(t.line.as_str())
                .or_default()
                .push((t.open_at, t.end));
        }
        let mut lines: Vec<LineUsage> = line_spans
            .into_iter()
            .map(|(line, mut spans)| LineUsage {
                line: line.to_owned(),
                in_use_ms: union_ms(&mut spans, range),
            })
            .filter(|l| l.in_use_ms > 0)
            .collect();
        lines.sort_by(|a, b| a.line.cmp(&b.line));

        Aggregate {
            range,
            legs,
            sessions,
            tunnels,
            lines,
            notes: self.notes,
        }
    }
}

/// Why a leg stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LegStop {
    pub cause: TerminateCause,
    pub text: String,
}

/// One leg's usage inside the range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LegUsage {
    pub session: AcctSessionId,
    pub multi: MultiSessionId,
    pub subscriber: String,
    /// The account the start record named (billing uses the contract table).
    pub account: String,
    pub tunnel: TunnelSerial,
    pub peer: String,
    pub line: String,
    pub l2tp_session_id: u16,
    pub start: UnixMillis,
    /// The leg's last reading (stop, move or interim).
    pub end: UnixMillis,
    pub ms_in_range: u64,
    /// Counters accrued inside the range.
    pub usage: Counters,
    /// Counters of the whole leg.
    pub total: Counters,
    pub stop: Option<LegStop>,
    pub moved_to: Option<AcctSessionId>,
}

/// One subscriber session (all legs sharing a multi-session ID) inside the range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SessionUsage {
    pub multi: MultiSessionId,
    pub subscriber: String,
    pub account: String,
    pub start: UnixMillis,
    pub end: UnixMillis,
    /// Indexes into [`Aggregate::legs`].
    pub legs: Vec<usize>,
    /// Time inside the range: the union of the legs' spans.
    pub ms_in_range: u64,
    pub usage: Counters,
    pub total: Counters,
    /// Whether the session has ended with a stop (otherwise it is running, or was cut by a crash).
    pub stopped: bool,
}

/// One tunnel inside the range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TunnelUsage {
    pub tunnel: TunnelSerial,
    pub peer: String,
    pub line: String,
    pub open_at: UnixMillis,
    /// Close stamp, or the end of the tunnel's daemon run if it was never closed.
    pub end: UnixMillis,
    pub closed: bool,
    pub ms_in_range: u64,
}

/// One physical line's time in use inside the range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LineUsage {
    pub line: String,
    pub in_use_ms: u64,
}

/// Everything used inside a range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Aggregate {
    pub range: TimeRange,
    /// Sorted by subscriber, session, start.
    pub legs: Vec<LegUsage>,
    /// Sorted by subscriber, then session ID.
    pub sessions: Vec<SessionUsage>,
    /// Sorted by line, peer, open time.
    pub tunnels: Vec<TunnelUsage>,
    /// Sorted by line.
    pub lines: Vec<LineUsage>,
    pub notes: AggregateNotes,
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: u64 = 3_600_000;

    fn c(octets: u64) -> Counters {
        Counters {
            octets_in: octets,
            octets_out: 2 * octets,
            packets_in: octets / 100,
            packets_out: octets / 50,
        }
    }

    fn place(tunnel: u64, line: &str) -> LegPlace {
        LegPlace {
            tunnel: TunnelSerial(tunnel),
            l2tp_session_id: 1,
            peer: "lns".into(),
            line: line.into(),
        }
    }

    fn rec(at: u64, event: LedgerEvent) -> LedgerRecord {
        LedgerRecord { at, event }
    }

    fn start(at: u64, leg: u64, multi: u64, who: &str, tunnel: u64) -> LedgerRecord {
        rec(
            at,
            LedgerEvent::SessionStart {
                session: AcctSessionId(leg),
                multi: MultiSessionId(multi),
                subscriber: who.into(),
                account: "A".into(),
                place: place(tunnel, "line-1"),
            },
        )
    }

    fn interim(at: u64, leg: u64, octets: u64) -> LedgerRecord {
        rec(
            at,
            LedgerEvent::SessionInterim {
                session: AcctSessionId(leg),
                counters: c(octets),
            },
        )
    }

    fn stop(at: u64, leg: u64, octets: u64) -> LedgerRecord {
        rec(
            at,
            LedgerEvent::SessionStop {
                session: AcctSessionId(leg),
                counters: c(octets),
                cause: TerminateCause::UserRequest,
                cause_text: String::new(),
            },
        )
    }

    fn moved(at: u64, multi: u64, from: u64, octets: u64, to: u64, tunnel: u64) -> LedgerRecord {
        rec(
            at,
            LedgerEvent::SessionMove {
                multi: MultiSessionId(multi),
                from: AcctSessionId(from),
                from_counters: c(octets),
                to: AcctSessionId(to),
                to_place: place(tunnel, "line-1"),
            },
        )
    }

    fn aggregate(range: TimeRange, records: &[LedgerRecord]) -> Aggregate {
        let mut agg = UsageAggregator::new(range);
        for r in records {
            agg.observe(r);
        }
        agg.finish()
    }

    #[test]
    fn interims_supersede_and_the_stop_closes() {
        let recs = [
            start(0, 1, 1, "u", 1),
            interim(H, 1, 100),
            interim(2 * H, 1, 300),
            stop(3 * H, 1, 350),
            interim(4 * H, 1, 999), // after the stop: ignored
        ];
        let a = aggregate(TimeRange::ALL, &recs);
        assert_eq!(a.sessions.len(), 1);
        assert_eq!(a.sessions[0].usage, c(350));
        assert_eq!(a.sessions[0].ms_in_range, 3 * H);
        assert!(a.sessions[0].stopped);
        assert_eq!(a.notes.ignored_after_stop, 1);
    }

    #[test]
    fn a_session_without_stop_counts_to_its_last_interim() {
        let recs = [
            start(0, 1, 1, "u", 1),
            interim(H, 1, 100),
            interim(2 * H, 1, 300),
        ];
        let a = aggregate(TimeRange::ALL, &recs);
        assert_eq!(a.sessions[0].usage, c(300));
        assert_eq!(a.sessions[0].ms_in_range, 2 * H);
        assert!(!a.sessions[0].stopped);
    }

    #[test]
    fn a_moved_session_counts_bytes_and_time_once() {
        let recs = [
            start(0, 1, 1, "u", 1),
            interim(H, 1, 100),
            moved(2 * H, 1, 1, 200, 2, 2),
            // Make-before-break: the old leg carried a little more, and its stop says so.
            interim(2 * H + 10, 2, 5),
            stop(2 * H + 20, 1, 210),
            stop(5 * H, 2, 400),
        ];
        let a = aggregate(TimeRange::ALL, &recs);
        assert_eq!(a.legs.len(), 2);
        assert_eq!(a.sessions.len(), 1);
        let s = &a.sessions[0];
        assert_eq!(s.usage, c(610));
        assert_eq!(s.ms_in_range, 5 * H, "overlap of the two legs counted once");
        assert!(s.stopped);
        assert_eq!(a.legs[0].moved_to, Some(AcctSessionId(2)));
    }

    #[test]
    fn a_boundary_splits_usage_and_time_exactly() {
        let recs = [
            start(0, 1, 1, "u", 1),
            interim(4 * H, 1, 1000),
            stop(6 * H, 1, 1600),
        ];
        let first = aggregate(
            TimeRange {
                start: 0,
                end: 3 * H,
            },
            &recs,
        );
        let second = aggregate(
            TimeRange {
                start: 3 * H,
                end: 10 * H,
            },
            &recs,
        );
        assert_eq!(first.sessions[0].usage.octets_in, 750);
        assert_eq!(second.sessions[0].usage.octets_in, 850);
        assert_eq!(first.sessions[0].ms_in_range, 3 * H);
        assert_eq!(second.sessions[0].ms_in_range, 3 * H);
        assert_eq!(
            first.sessions[0]
                .usage
                .saturating_add(second.sessions[0].usage),
            c(1600)
        );
    }

    #[test]
    fn a_counter_reset_never_makes_usage_negative() {
        let recs = [
            start(0, 1, 1, "u", 1),
            interim(H, 1, 500),
            interim(2 * H, 1, 10),
        ];
        let a = aggregate(TimeRange::ALL, &recs);
        assert_eq!(a.sessions[0].usage, c(500));
    }

    #[test]
    fn sessions_outside_the_range_are_left_out() {
        let recs = [
            start(0, 1, 1, "u", 1),
            stop(H, 1, 5),
            start(2 * H, 2, 2, "v", 1),
        ];
        let a = aggregate(
            TimeRange {
                start: H,
                end: 3 * H,
            },
            &recs,
        );
        let who: Vec<_> = a.sessions.iter().map(|s| s.subscriber.as_str()).collect();
        assert_eq!(who, vec!["v"]);
    }

    #[test]
    fn open_tunnels_end_with_their_run_and_lines_include_tunnel_time() {
        let daemon = |at| {
            rec(
                at,
                LedgerEvent::DaemonStart {
                    software: "t".into(),
                },
            )
        };
        let open = |at, t: u64| {
            rec(
                at,
                LedgerEvent::TunnelOpen {
                    tunnel: TunnelSerial(t),
                    local_tunnel_id: 1,
                    remote_tunnel_id: 2,
                    peer: "lns".into(),
                    line: "line-1".into(),
                },
            )
        };
        let recs = [
            daemon(0),
            open(0, 1),
            rec(2 * H, LedgerEvent::Heartbeat),
            daemon(5 * H), // the crash ended tunnel 1 at 2 h
            open(5 * H, 2),
            rec(
                6 * H,
                LedgerEvent::TunnelClose {
                    tunnel: TunnelSerial(2),
                    reason: String::new(),
                },
            ),
            rec(
                7 * H,
                LedgerEvent::LineUse {
                    line: "line-1".into(),
                    in_use: true,
                },
            ),
            rec(
                8 * H,
                LedgerEvent::LineUse {
                    line: "line-1".into(),
                    in_use: false,
                },
            ),
        ];
        let a = aggregate(TimeRange::ALL, &recs);
        let ms: Vec<_> = a
            .tunnels
            .iter()
            .map(|t| (t.ms_in_range, t.closed))
            .collect();
        assert_eq!(ms, vec![(2 * H, false), (H, true)]);
        assert_eq!(a.lines.len(), 1);
        assert_eq!(a.lines[0].in_use_ms, 4 * H);
    }

    #[test]
    fn records_for_unknown_legs_are_counted_not_guessed() {
        let recs = [
            interim(H, 9, 100),
            stop(2 * H, 9, 100),
            moved(3 * H, 9, 9, 1, 10, 1),
        ];
        let a = aggregate(TimeRange::ALL, &recs);
        assert!(a.sessions.is_empty());
        assert_eq!(a.notes.orphan_records, 3);
    }

    #[test]
    fn union_merges_overlaps_and_clips() {
        let mut spans = vec![(0, 10), (5, 20), (30, 40), (35, 36)];
        assert_eq!(union_ms(&mut spans, TimeRange::ALL), 30);
        assert_eq!(union_ms(&mut spans, TimeRange { start: 15, end: 38 }), 13);
    }
}

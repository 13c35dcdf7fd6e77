//! Property tests of billing over random ledgers with moves, interims, make-before-break overlap,
//! running sessions and sessions crossing period boundaries:
//! - per-user lines sum to each account's totals and claimed sum;
//! - summed over consecutive periods that cover all activity, every subscriber's bytes, packets and
//!   connect time equal the ground truth computed independently from the generated sessions: no
//!   usage lost, none counted twice (moves, interims, boundary splits);
//! - the same holds for the operator's tunnel time.

use std::collections::BTreeMap;

use l2tpagg::engine::invoice::{
    BillingPeriod, Contracts, SubscriberContract, invoice_from_records,
};
use l2tpagg::engine::tariff::{
    ConsolidationBasis, ConsolidationTariff, ContractFeeTariff, PlanTariff, Rate, Tariffs, Unit,
};
use l2tpagg::ledger::{
    AcctSessionId, Counters, LedgerEvent, LedgerRecord, LegPlace, MultiSessionId, TerminateCause,
    TunnelSerial,
};
use proptest::prelude::*;

const OCT15: u64 = 1_792_022_400_000; // 2026-10-15T00:00:00Z
const DAY: u64 = 86_400_000;
const SUBSCRIBERS: usize = 8; // the last two have no contract
const LINES: [&str; 3] = ["fiber-a", "private-1", "copper-b"];

#[derive(Debug, Clone)]
struct LegSpec {
    duration: u64,
    tunnel: u64,
    line: usize,
    /// (position in the leg in 1/65536ths, bytes in, bytes out) increments.
    interims: Vec<(u16, u32, u32)>,
    final_increment: (u32, u32),
    /// A stop of this leg after the move (make-before-break): (delay, extra bytes in).
    late_stop: Option<(u64, u32)>,
}

#[derive(Debug, Clone)]
struct SessionSpec {
    subscriber: usize,
    start: u64,
    legs: Vec<LegSpec>,
    stopped: bool,
}

#[derive(Debug, Clone)]
struct TunnelSpec {
    open: u64,
    duration: Option<u64>,
    line: usize,
    peer: usize,
}

#[derive(Debug, Clone)]
struct Scenario {
    accounts: usize,
    plans: Vec<usize>,
    consolidation: Vec<bool>,
    supplementary: Vec<Option<usize>>,
    basis: bool,
    sessions: Vec<SessionSpec>,
    tunnels: Vec<TunnelSpec>,
}

fn leg_spec() -> impl Strategy<Value = LegSpec> {
    (
        1..3 * DAY,
        0..4u64,
        0..LINES.len(),
        prop::collection::vec((any::<u16>(), 0..u32::MAX, 0..u32::MAX), 0..4),
        (0..u32::MAX, 0..u32::MAX),
        prop::option::of((1..2_000u64, 0..1_000_000u32)),
    )
        .prop_map(
            |(duration, tunnel, line, interims, final_increment, late_stop)| LegSpec {
                duration,
                tunnel,
                line,
                interims,
                final_increment,
                late_stop,
            },
        )
}

fn scenario() -> impl Strategy<Value = Scenario> {
    let session = (
        0..SUBSCRIBERS,
        0..61 * DAY,
        prop::collection::vec(leg_spec(), 1..4),
        any::<bool>(),
    )
        .prop_map(|(subscriber, start, legs, stopped)| SessionSpec {
            subscriber,
            start: OCT15 + start,
            legs,
            stopped,
        });
    let tunnel = (
        0..61 * DAY,
        prop::option::of(1..20 * DAY),
        0..LINES.len(),
        0..2usize,
    )
        .prop_map(|(open, duration, line, peer)| TunnelSpec {
            open: OCT15 + open,
            duration,
            line,
            peer,
        });
    (
        1..4usize,
        prop::collection::vec(0..3usize, SUBSCRIBERS),
        prop::collection::vec(any::<bool>(), SUBSCRIBERS),
        prop::collection::vec(prop::option::of(0..3usize), 3),
        any::<bool>(),
        prop::collection::vec(session, 0..10),
        prop::collection::vec(tunnel, 0..4),
    )
        .prop_map(
            |(accounts, plans, consolidation, supplementary, basis, sessions, tunnels)| Scenario {
                accounts,
                plans,
                consolidation,
                supplementary,
                basis,
                sessions,
                tunnels,
            },
        )
}

fn name(i: usize) -> String {
    format!("user{i}@example.net")
}

fn tariffs(basis: bool) -> Tariffs {
    let rate = |unit, price| Some(Rate { unit, price });
    Tariffs {
        currency: "EUR".into(),
        minor_unit_digits: 2,
        tunnel_hour: 7,
        line_month: 10_000,
        line_month_by_line: BTreeMap::from([("private-1".into(), 30_000)]),
        consolidation: ConsolidationTariff {
            basis: if basis {
                ConsolidationBasis::Tunnels
            } else {
                ConsolidationBasis::Lines
            },
            per_period: 300,
            usage: Rate {
                unit: Unit::Hour,
                price: 3,
            },
        },
        contract_fees: BTreeMap::from([
            (
                "fee0".into(),
                ContractFeeTariff {
                    fixed_per_period: 1000,
                    metered: None,
                },
            ),
            (
                "fee1".into(),
                ContractFeeTariff {
                    fixed_per_period: 0,
                    metered: rate(Unit::Gigabyte, 90),
                },
            ),
            (
                "fee2".into(),
                ContractFeeTariff {
                    fixed_per_period: 200,
                    metered: rate(Unit::Hour, 4),
                },
            ),
        ]),
        private_lines: ["private-1".to_owned()].into(),
        plans: BTreeMap::from([
            (
                "plan0".into(),
                PlanTariff {
                    flat_per_period: 2500,
                    per_time: None,
                    per_volume: None,
                },
            ),
            (
                "plan1".into(),
                PlanTariff {
                    flat_per_period: 0,
                    per_time: rate(Unit::Second, 1),
                    per_volume: None,
                },
            ),
            (
                "plan2".into(),
                PlanTariff {
                    flat_per_period: 500,
                    per_time: rate(Unit::Minute, 3),
                    per_volume: rate(Unit::Megabyte, 1),
                },
            ),
        ]),
    }
}

fn contracts(s: &Scenario) -> Contracts {
    Contracts {
        subscribers: (0..SUBSCRIBERS - 2)
            .map(|i| {
                let account = i % s.accounts;
                SubscriberContract {
                    subscriber: name(i),
                    account: format!("ACCT-{account}"),
                    plan: format!("plan{}", s.plans[i]),
                    consolidation: s.consolidation[i],
                    supplementary: s.supplementary[account].map(|f| format!("fee{f}")),
                }
            })
            .collect(),
    }
}

/// What each subscriber really used: bytes/packets and connect time.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Truth {
    counters: Counters,
    connect_ms: u64,
}

fn union(spans: &mut [(u64, u64)]) -> u64 {
    spans.sort_unstable();
    let mut total = 0;
    let mut cur: Option<(u64, u64)> = None;
    for &(a, b) in spans.iter() {
        cur = match cur {
            Some((ca, cb)) if a <= cb => Some((ca, cb.max(b))),
            Some((ca, cb)) => {
                total += cb - ca;
                Some((a, b))
            }
            None => Some((a, b)),
        };
    }
    total + cur.map_or(0, |(a, b)| b - a)
}

fn counters(bytes_in: u64, bytes_out: u64) -> Counters {
    Counters {
        octets_in: bytes_in,
        octets_out: bytes_out,
        packets_in: bytes_in / 1000,
        packets_out: bytes_out / 1500,
    }
}

/// The scenario's records in ledger order, the truth per subscriber, and total tunnel time.
fn build(s: &Scenario) -> (Vec<LedgerRecord>, Vec<Truth>, u64) {
    let mut events: Vec<(u64, usize, LedgerEvent)> = Vec::new();
    let mut push = |at: u64, e: LedgerEvent| {
        let seq = events.len();
        events.push((at, seq, e));
    };
    let mut truth = vec![Truth::default(); SUBSCRIBERS];
    let mut next_leg = 1u64;
    for (si, sess) in s.sessions.iter().enumerate() {
        let multi = MultiSessionId(1000 + si as u64);
        let who = name(sess.subscriber);
        let mut t = sess.start;
        let mut prev: Option<(AcctSessionId, Counters)> = None;
        let mut spans = Vec::new();
        for (li, leg) in sess.legs.iter().enumerate() {
            let id = AcctSessionId(next_leg);
            next_leg += 1;
            let place = LegPlace {
                tunnel: TunnelSerial(leg.tunnel),
                l2tp_session_id: id.0 as u16,
                peer: "lns".into(),
                line: LINES[leg.line].into(),
            };
            match prev {
                None => push(
                    t,
                    LedgerEvent::SessionStart {
                        session: id,
                        multi,
                        subscriber: who.clone(),
                        account: "whatever".into(),
                        place,
                    },
                ),
                Some((from, from_counters)) => push(
                    t,
                    LedgerEvent::SessionMove {
                        multi,
                        from,
                        from_counters,
                        to: id,
                        to_place: place,
                    },
                ),
            }
            let mut positions: Vec<_> = leg.interims.clone();
            positions.sort_by_key(|p| p.0);
            let (mut bin, mut bout) = (0u64, 0u64);
            let mut last = (t, counters(0, 0));
            for (pos, din, dout) in positions {
                bin += u64::from(din);
                bout += u64::from(dout);
                let at = t + leg.duration * u64::from(pos) / 65_536;
                let c = counters(bin, bout);
                push(
                    at,
                    LedgerEvent::SessionInterim {
                        session: id,
                        counters: c,
                    },
                );
                last = (at, c);
            }
            let is_last = li + 1 == sess.legs.len();
            let end = t + leg.duration;
            bin += u64::from(leg.final_increment.0);
            bout += u64::from(leg.final_increment.1);
            let final_c = counters(bin, bout);
            if !is_last {
                // The move record (pushed by the next leg) carries the final counters at `end`.
                last = (end, final_c);
                if let Some((delay, extra)) = leg.late_stop {
                    let c = counters(bin + u64::from(extra), bout);
                    push(
                        end + delay,
                        LedgerEvent::SessionStop {
                            session: id,
                            counters: c,
                            cause: TerminateCause::PortUnneeded,
                            cause_text: "moved".into(),
                        },
                    );
                    last = (end + delay, c);
                }
            } else if sess.stopped {
                push(
                    end,
                    LedgerEvent::SessionStop {
                        session: id,
                        counters: final_c,
                        cause: TerminateCause::UserRequest,
                        cause_text: String::new(),
                    },
                );
                last = (end, final_c);
            }
            spans.push((t, last.0));
            let tr = &mut truth[sess.subscriber];
            tr.counters = tr.counters.saturating_add(last.1);
            prev = Some((id, final_c));
            t = end;
        }
        truth[sess.subscriber].connect_ms += union(&mut spans);
    }
    // Tunnels: serials distinct from session tunnels' numbering does not matter to billing.
    let mut tunnel_ms = 0;
    let mut open_ended = Vec::new();
    for (i, tun) in s.tunnels.iter().enumerate() {
        let serial = TunnelSerial(100 + i as u64);
        push(
            tun.open,
            LedgerEvent::TunnelOpen {
                tunnel: serial,
                local_tunnel_id: 1,
                remote_tunnel_id: 1,
                peer: format!("lns-{}", tun.peer),
                line: LINES[tun.line].into(),
            },
        );
        match tun.duration {
            Some(d) => {
                push(
                    tun.open + d,
                    LedgerEvent::TunnelClose {
                        tunnel: serial,
                        reason: String::new(),
                    },
                );
                tunnel_ms += d;
            }
            None => open_ended.push(tun.open),
        }
    }
    events.sort_by_key(|(at, seq, _)| (*at, *seq));
    let horizon = events.last().map_or(0, |e| e.0);
    tunnel_ms += open_ended.iter().map(|o| horizon - o).sum::<u64>();
    let records = events
        .into_iter()
        .map(|(at, _, event)| LedgerRecord { at, event })
        .collect();
    (records, truth, tunnel_ms)
}

fn periods() -> Vec<BillingPeriod> {
    // September 2026 .. January 2027 covers every generated stamp (Oct 15 + 61 days + 3 legs of
    // at most 3 days, tunnels up to 20 days more).
    let mut p: BillingPeriod = "2026-09".parse().unwrap();
    let mut out = vec![p.clone()];
    for _ in 0..5 {
        p = p.next().unwrap();
        out.push(p.clone());
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10_000))]

    #[test]
    fn usage_is_conserved_across_periods_and_lines_add_up(s in scenario()) {
        let (records, truth, tunnel_ms) = build(&s);
        let tariffs = tariffs(s.basis);
        let contracts = contracts(&s);
        let mut seen = vec![Truth::default(); SUBSCRIBERS];
        let mut seen_tunnel_ms = 0;
        for period in periods() {
            let inv = invoice_from_records(&records, &tariffs, &contracts, &period).unwrap();
            prop_assert!(inv.ledger.aggregate.orphan_records == 0);
            for a in &inv.accounts {
                let mut comm = 0;
                let mut cons = 0;
                let mut lines = 0;
                for u in &a.users {
                    let parts = u.flat
                        + u.per_time.map_or(0, |r| r.amount)
                        + u.per_volume.map_or(0, |r| r.amount);
                    prop_assert_eq!(parts, u.communication_fee);
                    let c = u.consolidation.as_ref().map_or(0, |c| c.fee);
                    prop_assert_eq!(u.communication_fee + c, u.line_total);
                    comm += u.communication_fee;
                    cons += c;
                    lines += u.line_total;
                    let i: usize = u.subscriber[4..u.subscriber.find('@').unwrap()].parse().unwrap();
                    let t = &mut seen[i];
                    t.counters = t.counters.saturating_add(u.usage);
                    t.connect_ms += u.connect_ms;
                }
                prop_assert_eq!(comm, a.communication_total);
                prop_assert_eq!(cons, a.consolidation_total);
                let fee = a.contract_fee.as_ref().map_or(0, |f| f.fee);
                prop_assert_eq!(lines + fee, a.claimed_sum);
            }
            for u in &inv.unbilled {
                let i: usize = u.subscriber[4..u.subscriber.find('@').unwrap()].parse().unwrap();
                let t = &mut seen[i];
                t.counters = t.counters.saturating_add(u.usage);
                t.connect_ms += u.connect_ms;
            }
            seen_tunnel_ms += inv.operator.tunnels.iter().map(|t| t.hours.quantity).sum::<u64>();
            // Every contracted subscriber has exactly one line, in its account.
            let users: usize = inv.accounts.iter().map(|a| a.users.len()).sum();
            prop_assert_eq!(users, SUBSCRIBERS - 2);
        }
        prop_assert_eq!(seen, truth);
        prop_assert_eq!(seen_tunnel_ms, tunnel_ms);
    }
}

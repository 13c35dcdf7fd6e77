//! Invoice time for a one-million-record ledger on the real filesystem.
//!
//! The ledger: November 2026, 2,000 subscribers in 600 paying accounts, ~45,000 sessions of a
//! start, interims every 5 minutes and a stop (about 22 records each), a tenth of them moved once
//! by consolidation, 40 tunnels on 4 lines. It is written once with the ledger writer into a temp
//! dir; the benchmark then measures:
//! - `invoice_1m_records`: `invoice_for_period` (read, decode, aggregate, price) for 2026-11;
//! - `read_1m_records`: the read-and-decode part alone.
//!
//! Run: `cargo bench --bench invoice`.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use l2tpagg::engine::invoice::{BillingPeriod, Contracts, SubscriberContract};
use l2tpagg::engine::tariff::{
    ConsolidationBasis, ConsolidationTariff, ContractFeeTariff, PlanTariff, Rate, Tariffs, Unit,
};
use l2tpagg::ledger::billing::invoice_for_period;
use l2tpagg::ledger::{
    AcctSessionId, Counters, Ledger, LedgerEvent, LedgerOptions, LedgerReader, LedgerRecord,
    LegPlace, MultiSessionId, TerminateCause, TunnelSerial,
};
use rand::{Rng, SeedableRng};

const NOV: u64 = 1_793_491_200_000;
const MIN: u64 = 60_000;
const SUBSCRIBERS: usize = 2_000;
const TARGET_RECORDS: usize = 1_000_000;

fn subscriber(i: usize) -> String {
    format!("sub{i:05}@isp.example")
}

fn place(tunnel: u64) -> LegPlace {
    LegPlace {
        tunnel: TunnelSerial(tunnel),
        l2tp_session_id: (tunnel as u16).wrapping_mul(7) | 1,
        peer: format!("lns-{}", tunnel % 5),
        line: if tunnel.is_multiple_of(4) {
            "private-1".into()
        } else {
            format!("fiber-{}", tunnel % 4)
        },
    }
}

/// Writes the ledger and returns how many records it holds.
fn write_ledger(dir: &Path) -> usize {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(8);
    let mut events: Vec<(u64, u64, LedgerEvent)> = Vec::with_capacity(TARGET_RECORDS + 100_000);
    for t in 0..40u64 {
        let p = place(t);
        events.push((
            NOV,
            0,
            LedgerEvent::TunnelOpen {
                tunnel: TunnelSerial(t),
                local_tunnel_id: t as u16 + 1,
                remote_tunnel_id: t as u16 + 1,
                peer: p.peer,
                line: p.line,
            },
        ));
    }
    let mut leg = 1u64;
    let mut seq = 1u64;
    while events.len() < TARGET_RECORDS {
        let who = rng.random_range(0..SUBSCRIBERS);
        let start = NOV + rng.random_range(0..29 * 24 * 60) * MIN + rng.random_range(0..MIN);
        let interims = rng.random_range(10..30u64);
        let multi = MultiSessionId(leg);
        let mut id = AcctSessionId(leg);
        leg += 1;
        let mut tunnel = rng.random_range(0..40u64);
        let mut push = |at: u64, e: LedgerEvent, events: &mut Vec<_>| {
            events.push((at, seq, e));
            seq += 1;
        };
        push(
            start,
            LedgerEvent::SessionStart {
                session: id,
                multi,
                subscriber: subscriber(who),
                account: format!("ACCT-{:04}", who % 600),
                place: place(tunnel),
            },
            &mut events,
        );
        let moved_at = rng.random_bool(0.1).then(|| rng.random_range(1..interims));
        let mut c = Counters::default();
        for k in 1..=interims {
            let at = start + k * 5 * MIN;
            c.octets_in += rng.random_range(0..5_000_000);
            c.octets_out += rng.random_range(0..50_000_000);
            c.packets_in += 3000;
            c.packets_out += 30_000;
            if moved_at == Some(k) {
                let to = AcctSessionId(leg);
                leg += 1;
                tunnel = (tunnel + 1) % 40;
                push(
                    at,
                    LedgerEvent::SessionMove {
                        multi,
                        from: id,
                        from_counters: c,
                        to,
                        to_place: place(tunnel),
                    },
                    &mut events,
                );
                id = to;
                c = Counters::default();
            } else if k == interims {
                push(
                    at,
                    LedgerEvent::SessionStop {
                        session: id,
                        counters: c,
                        cause: TerminateCause::UserRequest,
                        cause_text: String::new(),
                    },
                    &mut events,
                );
            } else {
                push(
                    at,
                    LedgerEvent::SessionInterim {
                        session: id,
                        counters: c,
                    },
                    &mut events,
                );
            }
        }
    }
    events.sort_unstable_by_key(|(at, seq, _)| (*at, *seq));
    let options = LedgerOptions {
        max_pending_records: 2 * TARGET_RECORDS,
        ..LedgerOptions::default()
    };
    let (ledger, _) = Ledger::open(dir, options).unwrap();
    for (at, _, event) in &events {
        ledger
            .append(&LedgerRecord {
                at: *at,
                event: event.clone(),
            })
            .unwrap();
    }
    ledger.close().unwrap();
    events.len()
}

fn tariffs() -> Tariffs {
    Tariffs {
        currency: "EUR".into(),
        minor_unit_digits: 2,
        tunnel_hour: 5,
        line_month: 25_000,
        line_month_by_line: BTreeMap::new(),
        consolidation: ConsolidationTariff {
            basis: ConsolidationBasis::Tunnels,
            per_period: 500,
            usage: Rate {
                unit: Unit::Hour,
                price: 10,
            },
        },
        contract_fees: BTreeMap::from([(
            "metered".into(),
            ContractFeeTariff {
                fixed_per_period: 1000,
                metered: Some(Rate {
                    unit: Unit::Gigabyte,
                    price: 80,
                }),
            },
        )]),
        private_lines: ["private-1".to_owned()].into(),
        plans: BTreeMap::from([
            (
                "flat".into(),
                PlanTariff {
                    flat_per_period: 3000,
                    per_time: None,
                    per_volume: None,
                },
            ),
            (
                "metered".into(),
                PlanTariff {
                    flat_per_period: 0,
                    per_time: Some(Rate {
                        unit: Unit::Minute,
                        price: 2,
                    }),
                    per_volume: Some(Rate {
                        unit: Unit::Gigabyte,
                        price: 100,
                    }),
                },
            ),
        ]),
    }
}

fn contracts() -> Contracts {
    Contracts {
        subscribers: (0..SUBSCRIBERS)
            .map(|i| SubscriberContract {
                subscriber: subscriber(i),
                account: format!("ACCT-{:04}", i % 600),
                plan: if i % 2 == 0 { "flat" } else { "metered" }.into(),
                consolidation: i % 3 == 0,
                supplementary: (i % 600 < 100).then(|| "metered".to_owned()),
            })
            .collect(),
    }
}

fn invoice(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let records = write_ledger(dir.path());
    let period: BillingPeriod = "2026-11".parse().unwrap();
    let (tariffs, contracts) = (tariffs(), contracts());
    let mut group = c.benchmark_group("invoice");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(30));
    group.throughput(Throughput::Elements(records as u64));
    group.bench_function("invoice_1m_records", |b| {
        b.iter(|| {
            let inv = invoice_for_period(dir.path(), &tariffs, &contracts, &period).unwrap();
            assert_eq!(inv.ledger.aggregate.records, records as u64);
            inv
        })
    });
    group.bench_function("read_1m_records", |b| {
        b.iter(|| {
            let mut n = 0;
            for entry in LedgerReader::open(dir.path()).unwrap() {
                entry.unwrap();
                n += 1;
            }
            assert_eq!(n, records);
        })
    });
    group.finish();
}

criterion_group!(benches, invoice);
criterion_main!(benches);

//! The CLI's billing entry points beside a live ledger writer, with bad input, and with damage.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::Write;

use l2tpagg::engine::invoice::{
    BillingPeriod, ContractError, Contracts, InvoiceError, SubscriberContract,
};
use l2tpagg::engine::tariff::{
    ConsolidationBasis, ConsolidationTariff, PlanTariff, Rate, Tariffs, Unit,
};
use l2tpagg::ledger::billing::{BillingError, OutputFormat, render_invoice, render_usage};
use l2tpagg::ledger::segment::list_segments;
use l2tpagg::ledger::{
    Counters, IdSource, Ledger, LedgerEvent, LedgerOptions, LedgerRecord, LegPlace, TerminateCause,
    TunnelSerial, invoice_for_period, usage_for_subscriber,
};

const NOV: u64 = 1_793_491_200_000;
const H: u64 = 3_600_000;

fn tariffs() -> Tariffs {
    Tariffs {
        currency: "JPY".into(),
        minor_unit_digits: 0,
        tunnel_hour: 10,
        line_month: 5000,
        line_month_by_line: BTreeMap::new(),
        consolidation: ConsolidationTariff {
            basis: ConsolidationBasis::Lines,
            per_period: 100,
            usage: Rate {
                unit: Unit::Hour,
                price: 1,
            },
        },
        contract_fees: BTreeMap::new(),
        private_lines: Default::default(),
        plans: BTreeMap::from([(
            "per-second".into(),
            PlanTariff {
                flat_per_period: 0,
                per_time: Some(Rate {
                    unit: Unit::Second,
                    price: 1,
                }),
                per_volume: None,
            },
        )]),
    }
}

fn contracts() -> Contracts {
    Contracts {
        subscribers: vec![SubscriberContract {
            subscriber: "u@x".into(),
            account: "BANK-1".into(),
            plan: "per-second".into(),
            consolidation: false,
            supplementary: None,
        }],
    }
}

fn period() -> BillingPeriod {
    "2026-11".parse().unwrap()
}

#[test]
fn billing_reads_beside_a_live_writer_and_explains_an_in_flight_tail() {
    let tmp = tempfile::tempdir().unwrap();
    let (ledger, _) = Ledger::open(tmp.path(), LedgerOptions::default()).unwrap();
    let mut ids = IdSource::new(NOV);
    let (multi, leg) = ids.new_session();
    let tunnel = ids.tunnel();
    let place = LegPlace {
        tunnel,
        l2tp_session_id: 1,
        peer: "lns".into(),
        line: "l1".into(),
    };
    for (at, event) in [
        (
            NOV,
            LedgerEvent::TunnelOpen {
                tunnel: TunnelSerial(tunnel.0),
                local_tunnel_id: 1,
                remote_tunnel_id: 2,
                peer: "lns".into(),
                line: "l1".into(),
            },
        ),
        (
            NOV,
            LedgerEvent::SessionStart {
                session: leg,
                multi,
                subscriber: "u@x".into(),
                account: "BANK-1".into(),
                place,
            },
        ),
        (
            NOV + H,
            LedgerEvent::SessionInterim {
                session: leg,
                counters: Counters::default(),
            },
        ),
    ] {
        ledger.append(&LedgerRecord { at, event }).unwrap();
    }
    ledger.commit_and_wait().unwrap();

    let inv = invoice_for_period(tmp.path(), &tariffs(), &contracts(), &period()).unwrap();
    assert!(inv.ledger.damage.is_empty());
    assert_eq!(inv.accounts[0].users[0].connect_ms, H);
    assert_eq!(inv.accounts[0].claimed_sum, 3600, "per second, yen");
    assert!(render_invoice(&inv, OutputFormat::Text).contains("3600"));

    // A frame being written at this very moment: its first bytes are in the file.
    let seg = list_segments(tmp.path()).unwrap().pop().unwrap();
    OpenOptions::new()
        .append(true)
        .open(&seg.path)
        .unwrap()
        .write_all(&[40, 0, 0, 0, 1, 2])
        .unwrap();
    let inv2 = invoice_for_period(tmp.path(), &tariffs(), &contracts(), &period()).unwrap();
    assert_eq!(inv2.accounts, inv.accounts);
    assert_eq!(inv2.ledger.damage.len(), 1);
    assert!(
        inv2.ledger.damage[0].contains("newest segment"),
        "{}",
        inv2.ledger.damage[0]
    );
    assert!(render_invoice(&inv2, OutputFormat::Text).contains("damage:"));

    // The daemon dies here, its last write torn.
    drop(ledger);
    // The usage report for the subscriber, and for one with no records.
    let report = usage_for_subscriber(tmp.path(), "u@x").unwrap();
    assert_eq!(
        report.records.len(),
        2,
        "start and interim before the torn bytes"
    );
    assert_eq!(render_usage(&report, OutputFormat::Csv).lines().count(), 3);
    let nobody = usage_for_subscriber(tmp.path(), "nobody").unwrap();
    assert_eq!((nobody.sessions, nobody.records.len()), (0, 0));

    // The next start sets the torn bytes aside and writes to a new segment.
    let (ledger, report) = Ledger::open(tmp.path(), LedgerOptions::default()).unwrap();
    assert_eq!(report.quarantined.len(), 1);
    ledger
        .append(&LedgerRecord {
            at: NOV + 2 * H,
            event: LedgerEvent::SessionStop {
                session: leg,
                counters: Counters::default(),
                cause: TerminateCause::NasReboot,
                cause_text: "closed after restart".into(),
            },
        })
        .unwrap();
    ledger.close().unwrap();
    let inv3 = invoice_for_period(tmp.path(), &tariffs(), &contracts(), &period()).unwrap();
    assert!(inv3.ledger.damage.is_empty());
    assert_eq!(inv3.accounts[0].users[0].connect_ms, 2 * H);
}

#[test]
fn bad_contracts_fail_before_the_ledger_is_read() {
    let mut c = contracts();
    c.subscribers[0].plan = "gold".into();
    match invoice_for_period("/nonexistent/ledger".as_ref(), &tariffs(), &c, &period()) {
        Err(BillingError::Invoice(InvoiceError::Contract(ContractError::UnknownPlan {
            ..
        }))) => {}
        other => panic!("expected an unknown plan error, got {other:?}"),
    }
    let mut t = tariffs();
    t.tunnel_hour = -1;
    assert!(matches!(
        invoice_for_period("/nonexistent/ledger".as_ref(), &t, &contracts(), &period()),
        Err(BillingError::Invoice(InvoiceError::Tariff(_)))
    ));
    assert!(matches!(
        invoice_for_period(
            "/nonexistent/ledger".as_ref(),
            &tariffs(),
            &contracts(),
            &period()
        ),
        Err(BillingError::Ledger(_))
    ));
}

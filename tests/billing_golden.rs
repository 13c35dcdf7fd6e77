//! Golden invoices: a fixed ledger (checked in under tests/billing_golden/ledger/) and fixed
//! tariffs and contracts give exactly the checked-in text, JSON and CSV.
//!
//! The scenario, period 2026-11 (UTC):
//! - account SHARED-7, three users sharing a paying account under a supplementary contract with a
//!   metered fee (per GB carried on the private line "private-1"):
//!   - alice (flat plan) has a session crossing the period's start (Oct 31 23:00 - Nov 1 02:00);
//!   - bob (per started minute) has a 30.5 min session and one crossing the period's end
//!     (Nov 30 23:00 - Dec 1 01:00), both on the private line;
//!   - carol (per started GB) has a session moved by consolidation from tunnel 2 to tunnel 3,
//!     1.25 GB on the first leg and 0.8 GB on the second: 2.05 GB, counted once.
//! - account FAMILY-2: dave (per minute, consolidation service, two sessions in two tunnels) and
//!   erin (flat, no sessions), under a supplementary contract with a fixed fee.
//! - mallory has no contract: unbilled.
//! - tunnels on fiber-a to two peers and on private-1; line copper-b was only used in October.
//!
//! Set `L2TPAGG_UPDATE_GOLDEN=1` to rewrite the golden files after a deliberate change, then
//! review the diff. The figures are also asserted by hand below, so a regenerated golden file
//! cannot silently carry a wrong amount.

use std::fs;
use std::path::{Path, PathBuf};

use l2tpagg::engine::invoice::{BillingPeriod, Contracts, Invoice, invoice_from_records};
use l2tpagg::engine::tariff::Tariffs;
use l2tpagg::ledger::billing::{
    OutputFormat, invoice_for_period, render_invoice, render_usage, usage_for_subscriber,
};
use l2tpagg::ledger::segment::list_segments;
use l2tpagg::ledger::{
    AcctSessionId, Counters, Ledger, LedgerEvent, LedgerOptions, LedgerRecord, LegPlace,
    MultiSessionId, TerminateCause, TunnelSerial,
};

const NOV: u64 = 1_793_491_200_000; // 2026-11-01T00:00:00Z
const DEC: u64 = 1_796_083_200_000; // 2026-12-01T00:00:00Z
const M: u64 = 60_000;
const H: u64 = 3_600_000;
const D: u64 = 86_400_000;

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/billing_golden")
}

fn updating() -> bool {
    std::env::var_os("L2TPAGG_UPDATE_GOLDEN").is_some()
}

fn tariffs() -> Tariffs {
    serde_json::from_str(&fs::read_to_string(golden_dir().join("tariffs.json")).unwrap()).unwrap()
}

fn contracts() -> Contracts {
    serde_json::from_str(&fs::read_to_string(golden_dir().join("contracts.json")).unwrap()).unwrap()
}

fn period() -> BillingPeriod {
    "2026-11".parse().unwrap()
}

fn c(octets_in: u64, octets_out: u64) -> Counters {
    Counters {
        octets_in,
        octets_out,
        packets_in: octets_in / 1000,
        packets_out: octets_out / 1000,
    }
}

fn place(tunnel: u64, sid: u16, peer: &str, line: &str) -> LegPlace {
    LegPlace {
        tunnel: TunnelSerial(tunnel),
        l2tp_session_id: sid,
        peer: peer.into(),
        line: line.into(),
    }
}

/// The scenario's records in ledger order.
fn scenario() -> Vec<LedgerRecord> {
    use LedgerEvent::*;
    let t1 = || place(1, 0, "lns-east", "fiber-a");
    let t3 = || place(3, 0, "lns-east", "private-1");
    let start = |at, leg: u64, who: &str, acct: &str, mut p: LegPlace| {
        p.l2tp_session_id = leg as u16;
        (
            at,
            SessionStart {
                session: AcctSessionId(leg),
                multi: MultiSessionId(leg),
                subscriber: who.into(),
                account: acct.into(),
                place: p,
            },
        )
    };
    let interim = |at, leg, counters| {
        (
            at,
            SessionInterim {
                session: AcctSessionId(leg),
                counters,
            },
        )
    };
    let stop = |at, leg, counters, cause| {
        (
            at,
            SessionStop {
                session: AcctSessionId(leg),
                counters,
                cause,
                cause_text: String::new(),
            },
        )
    };
    let open = |at, t: u64, peer: &str, line: &str| {
        (
            at,
            TunnelOpen {
                tunnel: TunnelSerial(t),
                local_tunnel_id: t as u16 * 10,
                remote_tunnel_id: t as u16 * 100,
                peer: peer.into(),
                line: line.into(),
            },
        )
    };
    let close = |at, t| {
        (
            at,
            TunnelClose {
                tunnel: TunnelSerial(t),
                reason: "StopCCN".into(),
            },
        )
    };
    let line = |at, name: &str, in_use| {
        (
            at,
            LineUse {
                line: name.into(),
                in_use,
            },
        )
    };
    let oct1 = NOV - 31 * D;
    let events = vec![
        (
            oct1,
            DaemonStart {
                software: "l2tpagg 0.1.0".into(),
            },
        ),
        line(oct1, "fiber-a", true),
        line(oct1, "copper-b", true),
        // October only: outside the period.
        start(
            oct1 + 14 * D,
            0x11,
            "alice@shared.example",
            "SHARED-7",
            t1(),
        ),
        stop(
            oct1 + 14 * D + H,
            0x11,
            c(1_000, 2_000),
            TerminateCause::UserRequest,
        ),
        line(oct1 + 19 * D, "copper-b", false),
        open(NOV - 2 * H, 1, "lns-east", "fiber-a"),
        // alice: crosses the period start.
        start(NOV - H, 0x12, "alice@shared.example", "SHARED-7", t1()),
        line(NOV, "private-1", true),
        open(NOV, 3, "lns-east", "private-1"),
        interim(NOV + H, 0x12, c(2_000_000, 8_000_000)),
        stop(
            NOV + 2 * H,
            0x12,
            c(3_000_000, 12_000_000),
            TerminateCause::UserRequest,
        ),
        // carol: moved from tunnel 2 to tunnel 3 (the private line).
        open(NOV + D + 8 * H, 2, "lns-west", "fiber-a"),
        start(
            NOV + D + 8 * H,
            0x31,
            "carol@shared.example",
            "SHARED-7",
            place(2, 0, "lns-west", "fiber-a"),
        ),
        interim(NOV + D + 9 * H, 0x31, c(100_000_000, 400_000_000)),
        (
            NOV + D + 12 * H,
            SessionMove {
                multi: MultiSessionId(0x31),
                from: AcctSessionId(0x31),
                from_counters: c(250_000_000, 1_000_000_000),
                to: AcctSessionId(0x32),
                to_place: place(3, 0x32, "lns-east", "private-1"),
            },
        ),
        close(NOV + D + 12 * H, 2),
        interim(NOV + D + 13 * H, 0x32, c(50_000_000, 300_000_000)),
        stop(
            NOV + D + 14 * H,
            0x32,
            c(100_000_000, 700_000_000),
            TerminateCause::UserRequest,
        ),
        // dave: two sessions in two tunnels at once (consolidation service).
        start(
            NOV + 4 * D + 10 * H,
            0x41,
            "dave@family.example",
            "FAMILY-2",
            t1(),
        ),
        start(
            NOV + 4 * D + 11 * H,
            0x42,
            "dave@family.example",
            "FAMILY-2",
            t3(),
        ),
        stop(
            NOV + 4 * D + 12 * H,
            0x41,
            c(5_000_000, 20_000_000),
            TerminateCause::IdleTimeout,
        ),
        stop(
            NOV + 4 * D + 13 * H,
            0x42,
            c(7_000_000, 30_000_000),
            TerminateCause::SessionTimeout,
        ),
        // mallory: no contract.
        start(
            NOV + 6 * D + 9 * H,
            0x51,
            "mallory@nowhere.example",
            "UNKNOWN-9",
            t1(),
        ),
        stop(
            NOV + 6 * D + 9 * H + 45 * M,
            0x51,
            c(1_000_000, 2_000_000),
            TerminateCause::LostCarrier,
        ),
        // bob: 30.5 minutes on the private line.
        start(
            NOV + 9 * D + 10 * H,
            0x21,
            "bob@shared.example",
            "SHARED-7",
            t3(),
        ),
        stop(
            NOV + 9 * D + 10 * H + 30 * M + 30_000,
            0x21,
            c(10_000_000, 40_000_000),
            TerminateCause::UserRequest,
        ),
        close(NOV + 19 * D, 1),
        // bob: crosses the period end.
        start(DEC - H, 0x22, "bob@shared.example", "SHARED-7", t3()),
        (DEC - H / 2, Heartbeat),
        interim(DEC + H / 2, 0x22, c(30_000_000, 120_000_000)),
        stop(
            DEC + H,
            0x22,
            c(40_000_000, 160_000_000),
            TerminateCause::UserRequest,
        ),
        (DEC + H, Heartbeat),
    ];
    events
        .into_iter()
        .map(|(at, event)| LedgerRecord { at, event })
        .collect()
}

fn check_golden(name: &str, actual: &str) {
    let path = golden_dir().join(name);
    if updating() {
        fs::write(&path, actual).unwrap();
        return;
    }
    let expected = fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (set L2TPAGG_UPDATE_GOLDEN=1 to create it)",
            path.display()
        )
    });
    if expected != actual {
        let actual_path = std::env::temp_dir().join(format!("l2tpagg-actual-{name}"));
        fs::write(&actual_path, actual).unwrap();
        panic!(
            "{} differs from the golden file; actual output written to {}",
            path.display(),
            actual_path.display()
        );
    }
}

fn golden_invoice() -> Invoice {
    invoice_for_period(
        &golden_dir().join("ledger"),
        &tariffs(),
        &contracts(),
        &period(),
    )
    .unwrap()
}

#[test]
fn the_checked_in_ledger_is_what_the_writer_writes_for_the_scenario() {
    let tmp = tempfile::tempdir().unwrap();
    // Monthly segments, so the golden ledger also exercises reading across segments.
    let options = LedgerOptions {
        max_segment_age_ms: 30 * D,
        ..LedgerOptions::default()
    };
    let (ledger, _) = Ledger::open(tmp.path(), options).unwrap();
    for r in scenario() {
        ledger.append(&r).unwrap();
    }
    ledger.close().unwrap();
    let golden = golden_dir().join("ledger");
    let segs = list_segments(tmp.path()).unwrap();
    assert_eq!(segs.len(), 3);
    if updating() {
        let _ = fs::remove_dir_all(&golden);
        fs::create_dir_all(&golden).unwrap();
        for s in &segs {
            fs::copy(&s.path, golden.join(s.path.file_name().unwrap())).unwrap();
        }
    }
    // Pins the on-disk format: a change here breaks every existing ledger.
    let checked_in = list_segments(&golden).unwrap();
    assert_eq!(checked_in.len(), segs.len());
    for (ours, theirs) in segs.iter().zip(&checked_in) {
        assert_eq!(ours.path.file_name(), theirs.path.file_name());
        assert_eq!(
            fs::read(&ours.path).unwrap(),
            fs::read(&theirs.path).unwrap(),
            "segment {} bytes changed",
            ours.seq
        );
    }
}

#[test]
fn invoice_text_json_and_csv_match_the_golden_files() {
    let inv = golden_invoice();
    assert!(inv.ledger.damage.is_empty());
    check_golden(
        "invoice_2026-11.txt",
        &render_invoice(&inv, OutputFormat::Text),
    );
    check_golden(
        "invoice_2026-11.json",
        &render_invoice(&inv, OutputFormat::Json),
    );
    check_golden(
        "invoice_2026-11.csv",
        &render_invoice(&inv, OutputFormat::Csv),
    );
}

#[test]
fn usage_report_of_the_moved_session_matches_the_golden_files() {
    let report =
        usage_for_subscriber(&golden_dir().join("ledger"), "carol@shared.example").unwrap();
    check_golden(
        "usage_carol.txt",
        &render_usage(&report, OutputFormat::Text),
    );
    check_golden(
        "usage_carol.json",
        &render_usage(&report, OutputFormat::Json),
    );
    check_golden("usage_carol.csv", &render_usage(&report, OutputFormat::Csv));
    assert_eq!(report.sessions, 1, "two legs, one session");
    assert_eq!(report.records.len(), 5);
    assert_eq!(report.usage.octets_total(), 2_050_000_000);
}

#[test]
fn a_rerun_gives_the_same_invoice_and_the_ledger_agrees_with_the_records() {
    let a = golden_invoice();
    let b = golden_invoice();
    assert_eq!(a, b);
    assert_eq!(
        render_invoice(&a, OutputFormat::Json),
        render_invoice(&b, OutputFormat::Json)
    );
    let from_records =
        invoice_from_records(&scenario(), &tariffs(), &contracts(), &period()).unwrap();
    assert_eq!(from_records, a);
}

/// The figures of the golden invoice, computed by hand from the scenario.
#[test]
fn the_golden_figures_are_the_hand_computed_ones() {
    let inv = golden_invoice();
    let acct = |name: &str| inv.accounts.iter().find(|a| a.account == name).unwrap();
    let user = |a: &str, s: &str| {
        acct(a)
            .users
            .iter()
            .find(|u| u.subscriber == s)
            .unwrap()
            .clone()
    };

    let shared = acct("SHARED-7");
    assert_eq!(shared.users.len(), 3);
    // alice: only the November part of the boundary session: 2 h, and of its bytes the part
    // after midnight (1 MB in / 4 MB out of the first interim fell before it).
    let alice = user("SHARED-7", "alice@shared.example");
    assert_eq!((alice.sessions, alice.connect_ms), (1, 2 * H));
    assert_eq!(
        (alice.usage.octets_in, alice.usage.octets_out),
        (2_000_000, 8_000_000)
    );
    assert_eq!(alice.communication_fee, 3000);
    // bob: 30.5 min + 60 min before the period end = 90.5 min -> 91 started minutes x 0.02.
    let bob = user("SHARED-7", "bob@shared.example");
    assert_eq!((bob.sessions, bob.connect_ms), (2, 90 * M + 30_000));
    assert_eq!(bob.per_time.unwrap().billed_units, 91);
    assert_eq!(bob.communication_fee, 182);
    assert_eq!(bob.usage.octets_in, 10_000_000 + 20_000_000);
    // carol: 1.25 GB + 0.8 GB = 2.05 GB, once -> 3 started GB x 1.50.
    let carol = user("SHARED-7", "carol@shared.example");
    assert_eq!((carol.sessions, carol.connect_ms), (1, 6 * H));
    assert_eq!(carol.usage.octets_total(), 2_050_000_000);
    assert_eq!(carol.communication_fee, 450);
    // Private line: bob 50 MB + 100 MB (November part), carol's second leg 800 MB: 0.95 GB -> 1 GB.
    let fee = shared.contract_fee.as_ref().unwrap();
    assert_eq!(fee.metered.unwrap().quantity, 950_000_000);
    assert_eq!(fee.fee, 80);
    assert_eq!(shared.claimed_sum, 3000 + 182 + 450 + 80);

    let family = acct("FAMILY-2");
    let dave = user("FAMILY-2", "dave@family.example");
    assert_eq!(dave.communication_fee, 240 * 2);
    let cons = dave.consolidation.as_ref().unwrap();
    assert_eq!((cons.units_used, cons.usage.quantity), (2, 4 * H));
    assert_eq!(cons.fee, 500 + 4 * 10);
    assert_eq!(user("FAMILY-2", "erin@family.example").line_total, 3000);
    assert_eq!(family.contract_fee.as_ref().unwrap().fee, 1500);
    assert_eq!(family.claimed_sum, 480 + 540 + 3000 + 1500);

    // Per-user lines add up to each account's claimed sum.
    for a in &inv.accounts {
        let users: i64 = a.users.iter().map(|u| u.line_total).sum();
        assert_eq!(
            users + a.contract_fee.as_ref().map_or(0, |f| f.fee),
            a.claimed_sum
        );
    }

    assert_eq!(inv.unbilled.len(), 1);
    assert_eq!(inv.unbilled[0].subscriber, "mallory@nowhere.example");
    assert_eq!(inv.unbilled[0].connect_ms, 45 * M);

    // Operator: tunnel 1 from Nov 1 to Nov 20 (456 h), tunnel 2 4 h, tunnel 3 the whole month
    // (open, the run's last record is past the period end).
    let op = &inv.operator;
    let hours: Vec<_> = op
        .tunnels
        .iter()
        .map(|t| {
            (
                t.line.as_str(),
                t.peer.as_str(),
                t.hours.billed_units,
                t.hours.amount,
            )
        })
        .collect();
    assert_eq!(
        hours,
        vec![
            ("fiber-a", "lns-east", 456, 2280),
            ("fiber-a", "lns-west", 4, 20),
            ("private-1", "lns-east", 720, 3600)
        ]
    );
    let lines: Vec<_> = op
        .lines
        .iter()
        .map(|l| (l.line.as_str(), l.line_months, l.charge))
        .collect();
    assert_eq!(
        lines,
        vec![("fiber-a", 1, 25_000), ("private-1", 1, 40_000)]
    );
    assert_eq!(op.total, 2280 + 20 + 3600 + 25_000 + 40_000);
}

#[test]
fn october_and_december_get_the_other_parts_of_the_boundary_sessions() {
    let dir = golden_dir().join("ledger");
    let oct = invoice_for_period(
        &dir,
        &tariffs(),
        &contracts(),
        &period().previous().unwrap(),
    )
    .unwrap();
    let dec =
        invoice_for_period(&dir, &tariffs(), &contracts(), &period().next().unwrap()).unwrap();
    let nov = golden_invoice();
    let alice = |inv: &Invoice| {
        inv.accounts
            .iter()
            .flat_map(|a| &a.users)
            .find(|u| u.subscriber == "alice@shared.example")
            .unwrap()
            .clone()
    };
    // alice: the October session (1 h) plus the hour before midnight.
    assert_eq!(alice(&oct).connect_ms, 2 * H);
    assert_eq!(alice(&oct).usage.octets_in, 1_000 + 1_000_000);
    assert_eq!(
        alice(&oct).usage.octets_in + alice(&nov).usage.octets_in,
        1_000 + 3_000_000
    );
    let bob = |inv: &Invoice| {
        inv.accounts
            .iter()
            .flat_map(|a| &a.users)
            .find(|u| u.subscriber == "bob@shared.example")
            .unwrap()
            .clone()
    };
    assert_eq!(bob(&dec).connect_ms, H);
    assert_eq!(
        bob(&dec).usage.octets_in + bob(&nov).usage.octets_in,
        50_000_000
    );
}

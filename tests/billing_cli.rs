//! `l2tpagg billing` as an operator runs it: the real binary, a configuration file whose
//! `daemon.state_dir` holds a ledger written with the ledger API, and invoices and usage reports
//! checked to the cent in text, JSON and CSV. Also the failures: a bad configuration (the same
//! FILE:LINE:COL messages as `l2tpagg check`), no ledger, a damaged ledger tail.
//!
//! The scenario, period 2026-11 (UTC), EUR:
//! - account SHARED-7 ("Seven & Co"): three users with the supplementary contract, whose own fee is
//!   metered at 1.00 per started GB carried on its private line `private-7`:
//!   - alice (flat 19.99): a session from Oct 31 23:00 to Nov 1 02:00 on private-7, 300 MB in,
//!     of which the November part is 200 MB (linear between readings);
//!   - bob (0.02 per started minute): 30.5 min on Nov 2 and a session from Nov 30 23:00 to
//!     Dec 1 01:00 (one hour in November), 10 MB each in November on private-7: 91 minutes, 1.82;
//!   - carol (0.50 per started GB, consolidation service at 0.05 per started tunnel-hour): one
//!     session moved from tunnel t2 (fiber) to t1 (private-7): 1.25 GB then 0.8 GB, 2.05 GB counted
//!     once: 3 GB, 1.50; 5 h in t2 + 3 h in t1: 8 tunnel-hours, 0.40;
//!   - private-line volume 200 MB + 20 MB + 800 MB = 1.02 GB: contract fee 2 GB, 2.00;
//!   - claimed sum 19.99 + 1.82 + 1.90 + 2.00 = 25.71.
//! - erin (flat 19.99, own account): no usage, listed by name, so still invoiced.
//! - u7, a member of the [[subscriber_range]] u1..u1000 (0.02 per minute): 10 minutes, 0.20.
//! - mallory is in no configuration: unbilled.
//! - operator: tunnel t1 (private-7, lns-a) all 720 h of November, t2 (fiber, lns-a) 5 h, t3
//!   (fiber, lns-b) 1 h at 0.10 per tunnel-hour: 72.00 + 0.50 + 0.10; lines fiber 500.00 (own
//!   cost) and private-7 300.00 (the tariff's line_month): operator total 872.60.

use std::fs::OpenOptions;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use l2tpagg::ledger::segment::list_segments;
use l2tpagg::ledger::{
    Counters, IdSource, Ledger, LedgerEvent, LedgerOptions, LedgerRecord, LegPlace, TerminateCause,
    TunnelSerial,
};
use serde_json::Value;

const NOV: u64 = 1_793_491_200_000; // 2026-11-01T00:00:00Z
const DEC: u64 = 1_796_083_200_000; // 2026-12-01T00:00:00Z
const M: u64 = 60_000;
const H: u64 = 3_600_000;
const D: u64 = 86_400_000;

const CONFIG: &str = r#"
[daemon]
state_dir = "state"

[lac]
[[lac.lines]]
name = "fiber"
bind = "192.0.2.1"
capacity = "1G"
cost_per_month = 50000
[[lac.lines]]
name = "private-7"
bind = "192.0.2.2"
capacity = "100M"
private_account = "SHARED-7"

[[lac.peers]]
name = "lns-a"
address = "198.51.100.1"
realms = ["*"]
[[lac.peers]]
name = "lns-b"
address = "198.51.100.2"
realms = ["*"]

[[subscriber]]
name = "alice"
secret = "a"
contract = { account = "SHARED-7", supplementary = true, plan = "flat" }
[[subscriber]]
name = "bob"
secret = "b"
contract = { account = "SHARED-7", supplementary = true, plan = "per-minute" }
[[subscriber]]
name = "carol"
secret = "c"
contract = { account = "SHARED-7", supplementary = true, consolidation = true, plan = "per-gb" }
[[subscriber]]
name = "erin"
secret = "e"
contract = { plan = "flat" }

[[subscriber_range]]
prefix = "u"
first = 1
count = 1000
secret = "demo"
contract = { plan = "per-minute" }

[billing]
currency = "EUR"
minor_digits = 2
[billing.tariff]
tunnel_hour = 10
line_month = 30000
consolidation_fee = { per = "tunnel", amount = 5 }
supplementary_fee = { fixed = 1500 }
[[billing.plans]]
name = "flat"
monthly = 1999
[[billing.plans]]
name = "per-minute"
time = { amount = 2, per = "minute" }
[[billing.plans]]
name = "per-gb"
volume = { amount = 50, per = "gigabyte" }
[[billing.accounts]]
account = "SHARED-7"
display_name = "Seven & Co"
supplementary_fee = { metered = 100, unit = "gigabyte" }
"#;

fn l2tpagg(args: &[&str]) -> Output {
    l2tpagg_env(args, &[])
}

fn l2tpagg_env(args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_l2tpagg"));
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run l2tpagg")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn ok(out: &Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}\nstdout: {}",
        text(&out.stderr),
        text(&out.stdout)
    );
    text(&out.stdout)
}

fn counters(octets_in: u64) -> Counters {
    Counters {
        octets_in,
        octets_out: 0,
        packets_in: octets_in / 1000,
        packets_out: 0,
    }
}

fn place(tunnel: TunnelSerial, id: u16, peer: &str, line: &str) -> LegPlace {
    LegPlace {
        tunnel,
        l2tp_session_id: id,
        peer: peer.into(),
        line: line.into(),
    }
}

/// Writes the scenario's ledger into `dir` with the daemon's ledger API, in time order.
fn write_ledger(dir: &Path) {
    let (ledger, _) = Ledger::open(dir, LedgerOptions::default()).unwrap();
    let mut ids = IdSource::new(NOV - 3 * H);
    let (t1, t2, t3) = (ids.tunnel(), ids.tunnel(), ids.tunnel());
    let open = |tunnel, peer: &str, line: &str| LedgerEvent::TunnelOpen {
        tunnel,
        local_tunnel_id: 1,
        remote_tunnel_id: 2,
        peer: peer.into(),
        line: line.into(),
    };
    let close = |tunnel| LedgerEvent::TunnelClose {
        tunnel,
        reason: "empty".into(),
    };
    let start = |ids: &mut IdSource, who: &str, account: &str, at: LegPlace| {
        let (multi, leg) = ids.new_session();
        let event = LedgerEvent::SessionStart {
            session: leg,
            multi,
            subscriber: who.into(),
            account: account.into(),
            place: at,
        };
        (multi, leg, event)
    };
    let stop = |session, octets| LedgerEvent::SessionStop {
        session,
        counters: counters(octets),
        cause: TerminateCause::UserRequest,
        cause_text: "bye".into(),
    };

    let mut records: Vec<(u64, LedgerEvent)> = vec![
        (
            NOV - 3 * H,
            LedgerEvent::DaemonStart {
                software: "l2tpagg test".into(),
            },
        ),
        (NOV - 2 * H, open(t1, "lns-a", "private-7")),
    ];
    let (_, alice, e) = start(
        &mut ids,
        "alice",
        "SHARED-7",
        place(t1, 1, "lns-a", "private-7"),
    );
    records.push((NOV - H, e));
    records.push((NOV + 2 * H, stop(alice, 300_000_000)));
    let (_, bob1, e) = start(
        &mut ids,
        "bob",
        "SHARED-7",
        place(t1, 2, "lns-a", "private-7"),
    );
    records.push((NOV + D, e));
    records.push((NOV + D + 30 * M + 30_000, stop(bob1, 10_000_000)));
    records.push((NOV + 5 * D, open(t3, "lns-b", "fiber")));
    let (_, u7, e) = start(&mut ids, "u7", "u7", place(t3, 1, "lns-b", "fiber"));
    records.push((NOV + 5 * D, e));
    let (_, mallory, e) = start(&mut ids, "mallory", "M-1", place(t3, 2, "lns-b", "fiber"));
    records.push((NOV + 5 * D, e));
    records.push((NOV + 5 * D + 10 * M, stop(u7, 1_000)));
    records.push((NOV + 5 * D + H, stop(mallory, 5_000)));
    records.push((NOV + 5 * D + H, close(t3)));
    records.push((NOV + 10 * D, open(t2, "lns-a", "fiber")));
    let (carol_multi, carol1, e) = start(
        &mut ids,
        "carol",
        "SHARED-7",
        place(t2, 1, "lns-a", "fiber"),
    );
    records.push((NOV + 10 * D, e));
    records.push((
        NOV + 10 * D + 2 * H,
        LedgerEvent::SessionInterim {
            session: carol1,
            counters: counters(500_000_000),
        },
    ));
    let carol2 = ids.session();
    records.push((
        NOV + 10 * D + 5 * H,
        LedgerEvent::SessionMove {
            multi: carol_multi,
            from: carol1,
            from_counters: counters(1_250_000_000),
            to: carol2,
            to_place: place(t1, 3, "lns-a", "private-7"),
        },
    ));
    records.push((NOV + 10 * D + 5 * H, close(t2)));
    records.push((NOV + 10 * D + 8 * H, stop(carol2, 800_000_000)));
    let (_, bob2, e) = start(
        &mut ids,
        "bob",
        "SHARED-7",
        place(t1, 4, "lns-a", "private-7"),
    );
    records.push((DEC - H, e));
    records.push((DEC + H, stop(bob2, 20_000_000)));
    records.push((DEC + 2 * H, close(t1)));

    for (at, event) in records {
        ledger.append(&LedgerRecord { at, event }).unwrap();
    }
    ledger.close().unwrap();
}

/// A temp directory with `l2tpagg.toml` (state_dir = "state", relative to the file) and the
/// scenario's ledger in `state/ledger`.
fn setup() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("l2tpagg.toml");
    std::fs::write(&config, CONFIG).unwrap();
    write_ledger(&tmp.path().join("state/ledger"));
    (tmp, config)
}

fn account<'a>(invoice: &'a Value, name: &str) -> &'a Value {
    invoice["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["account"] == name)
        .unwrap_or_else(|| panic!("no account {name} in {invoice:#}"))
}

fn user<'a>(account: &'a Value, name: &str) -> &'a Value {
    account["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["subscriber"] == name)
        .unwrap_or_else(|| panic!("no user {name} in {account:#}"))
}

#[test]
fn invoice_json_has_every_amount() {
    let (_tmp, config) = setup();
    let config = config.to_str().unwrap();
    let out = l2tpagg(&[
        "billing", "invoice", "--period", "2026-11", "--json", "--config", config,
    ]);
    let inv: Value = serde_json::from_str(&ok(&out)).unwrap();
    assert_eq!(inv["period"]["label"], "2026-11");
    assert_eq!(inv["period"]["start"], NOV);
    assert_eq!(inv["currency"], "EUR");

    let shared = account(&inv, "SHARED-7");
    assert_eq!(shared["display_name"], "Seven & Co");
    assert_eq!(shared["users"].as_array().unwrap().len(), 3);
    let alice = user(shared, "alice");
    assert_eq!(alice["connect_ms"], 2 * H, "only the November part");
    assert_eq!(alice["usage"]["octets_in"], 200_000_000u64);
    assert_eq!(alice["line_total"], 1999);
    let bob = user(shared, "bob");
    assert_eq!(bob["sessions"], 2);
    assert_eq!(bob["connect_ms"], 90 * M + 30_000);
    assert_eq!(bob["per_time"]["billed_units"], 91);
    assert_eq!(bob["line_total"], 182);
    let carol = user(shared, "carol");
    assert_eq!(carol["sessions"], 1, "a moved session is one session");
    assert_eq!(carol["usage"]["octets_in"], 2_050_000_000u64);
    assert_eq!(carol["per_volume"]["billed_units"], 3);
    assert_eq!(carol["communication_fee"], 150);
    assert_eq!(carol["consolidation"]["usage"]["quantity"], 8 * H);
    assert_eq!(carol["consolidation"]["units_used"], 2);
    assert_eq!(carol["consolidation"]["fee"], 40);
    assert_eq!(carol["line_total"], 190);
    let fee = &shared["contract_fee"];
    assert_eq!(fee["tariff"], "account:SHARED-7");
    assert_eq!(fee["fixed"], 0);
    assert_eq!(fee["metered"]["quantity"], 1_020_000_000u64);
    assert_eq!(fee["metered"]["billed_units"], 2);
    assert_eq!(fee["fee"], 200);
    assert_eq!(shared["communication_total"], 1999 + 182 + 150);
    assert_eq!(shared["consolidation_total"], 40);
    assert_eq!(shared["claimed_sum"], 2571);

    let erin = account(&inv, "erin");
    assert_eq!(user(erin, "erin")["sessions"], 0);
    assert_eq!(
        erin["claimed_sum"], 1999,
        "flat fees are owed without usage"
    );
    assert!(erin.get("display_name").is_none());
    let u7 = account(&inv, "u7");
    assert_eq!(
        u7["claimed_sum"], 20,
        "a range member with usage is invoiced"
    );
    assert_eq!(
        inv["accounts"].as_array().unwrap().len(),
        3,
        "other range members are not enumerated"
    );
    let unbilled = inv["unbilled"].as_array().unwrap();
    assert_eq!(unbilled.len(), 1);
    assert_eq!(unbilled[0]["subscriber"], "mallory");
    assert_eq!(unbilled[0]["connect_ms"], H);

    let op = &inv["operator"];
    let tunnels: Vec<(String, String, u64, u64)> = op["tunnels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["line"].as_str().unwrap().to_owned(),
                t["peer"].as_str().unwrap().to_owned(),
                t["hours"]["billed_units"].as_u64().unwrap(),
                t["hours"]["amount"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        tunnels,
        [
            ("fiber".into(), "lns-a".into(), 5, 50),
            ("fiber".into(), "lns-b".into(), 1, 10),
            ("private-7".into(), "lns-a".into(), 720, 7200),
        ]
    );
    let lines: Vec<(&str, u64)> = op["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["line"].as_str().unwrap(), l["charge"].as_u64().unwrap()))
        .collect();
    assert_eq!(lines, [("fiber", 50000), ("private-7", 30000)]);
    assert_eq!(op["total"], 87260);
    assert!(inv["ledger"]["damage"].as_array().unwrap().is_empty());

    // Computed from the ledger and the tariffs alone: a rerun prints the same bytes.
    let again = l2tpagg(&[
        "billing", "invoice", "--period", "2026-11", "--json", "--config", config,
    ]);
    assert_eq!(again.stdout, out.stdout);
}

#[test]
fn invoice_text_and_csv_show_the_same_amounts() {
    let (_tmp, config) = setup();
    let config = config.to_str().unwrap();
    let txt = ok(&l2tpagg(&[
        "billing", "invoice", "--config", config, "--period", "2026-11",
    ]));
    assert!(
        txt.starts_with("Invoice for 2026-11 (2026-11-01T00:00:00.000Z to 2026-12-01T00:00:00.000Z), amounts in EUR"),
        "{txt}"
    );
    assert!(
        txt.contains(
            "Account SHARED-7 \"Seven & Co\" (3 users, supplementary contract account:SHARED-7)"
        ),
        "{txt}"
    );
    let row = |needle: &str| {
        txt.lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no line with {needle:?} in\n{txt}"))
            .split_whitespace()
            .collect::<Vec<_>>()
    };
    assert_eq!(row("claimed sum (EUR)").last(), Some(&"25.71"));
    assert_eq!(row("contract fee, metered").last(), Some(&"2.00"));
    let bob_time = txt
        .lines()
        .find(|l| l.trim_start().starts_with("bob") && l.contains("connect time"))
        .unwrap_or_else(|| panic!("no connect time line for bob in\n{txt}"));
    assert!(bob_time.ends_with(" 1.82"), "{bob_time}");
    assert!(
        txt.contains("Total claimed from all accounts: 45.90 EUR"),
        "{txt}"
    );
    assert!(txt.contains("operator total 872.60 EUR"), "{txt}");
    assert!(txt.contains("mallory"), "unbilled usage is shown: {txt}");

    let csv = ok(&l2tpagg(&[
        "billing", "--config", config, "invoice", "--period", "2026-11", "--csv",
    ]));
    let rows: Vec<Vec<&str>> = csv.lines().map(|l| l.split(',').collect()).collect();
    assert_eq!(
        rows[0],
        [
            "period",
            "section",
            "account",
            "subscriber",
            "item",
            "quantity",
            "quantity_unit",
            "billed_units",
            "billed_unit",
            "unit_price_minor",
            "amount_minor",
            "currency"
        ]
    );
    let amount = |section: &str, account: &str, subscriber: &str, item: &str| -> &str {
        rows.iter()
            .find(|r| r[1] == section && r[2] == account && r[3] == subscriber && r[4] == item)
            .unwrap_or_else(|| panic!("no {section}/{account}/{subscriber}/{item} row in\n{csv}"))
            [10]
    };
    assert_eq!(amount("account", "SHARED-7", "", "claimed_sum"), "2571");
    assert_eq!(
        amount("account", "SHARED-7", "", "contract_fee_metered"),
        "200"
    );
    assert_eq!(amount("user", "SHARED-7", "carol", "user_total"), "190");
    assert_eq!(amount("user", "SHARED-7", "bob", "time_fee"), "182");
    assert_eq!(amount("account", "erin", "", "claimed_sum"), "1999");
    assert_eq!(amount("account", "u7", "", "claimed_sum"), "20");
    assert!(
        rows.iter()
            .skip(1)
            .all(|r| r.len() == 12 && r[0] == "2026-11" && r[11] == "EUR"),
        "{csv}"
    );
}

#[test]
fn usage_lists_a_subscribers_records_following_moves() {
    let (_tmp, config) = setup();
    let config = config.to_str().unwrap();
    let json = ok(&l2tpagg(&[
        "billing",
        "usage",
        "--subscriber",
        "carol",
        "--json",
        "--config",
        config,
    ]));
    let report: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(report["subscriber"], "carol");
    assert_eq!(report["sessions"], 1);
    assert_eq!(report["connect_ms"], 8 * H);
    assert_eq!(report["usage"]["octets_in"], 2_050_000_000u64);
    let kinds: Vec<&str> = report["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["event"]["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "session_start",
            "session_interim",
            "session_move",
            "session_stop"
        ]
    );

    let txt = ok(&l2tpagg(&[
        "billing",
        "usage",
        "--subscriber",
        "bob",
        "--config",
        config,
    ]));
    assert!(
        txt.starts_with("Usage of bob: 2 sessions, 2:30:30 connected, 30000000 B in, 0 B out"),
        "{txt}"
    );
    let csv = ok(&l2tpagg(&[
        "billing",
        "usage",
        "--subscriber",
        "bob",
        "--csv",
        "--config",
        config,
    ]));
    assert_eq!(
        csv.lines().count(),
        1 + 4,
        "header, two starts, two stops:\n{csv}"
    );

    // Someone the configuration does not know, and someone without records.
    let out = l2tpagg(&[
        "billing",
        "usage",
        "--subscriber",
        "mallory",
        "--config",
        config,
    ]);
    assert!(ok(&out).starts_with("Usage of mallory: 1 session"));
    assert!(text(&out.stderr).contains("\"mallory\" is not a subscriber in"));
    let out = l2tpagg(&[
        "billing",
        "usage",
        "--subscriber",
        "erin",
        "--config",
        config,
    ]);
    assert!(ok(&out).starts_with("Usage of erin: 0 sessions"));
    assert!(text(&out.stderr).contains("has no records of \"erin\""));
}

#[test]
fn a_bad_configuration_is_refused_like_check_does() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("bad.toml");
    std::fs::write(
        &bad,
        CONFIG.replace("tunnel_hour = 10", "tunnel_hour = \"ten\""),
    )
    .unwrap();
    let bad = bad.to_str().unwrap();
    let check = l2tpagg(&["check", "--config", bad]);
    assert_eq!(check.status.code(), Some(1));
    for args in [
        &["billing", "invoice", "--period", "2026-11", "--config", bad][..],
        &["billing", "usage", "--subscriber", "alice", "--config", bad],
    ] {
        let out = l2tpagg(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(out.stdout.is_empty());
        let err = text(&out.stderr);
        assert_eq!(err, text(&check.stderr), "{args:?}");
        assert!(
            err.contains(&format!("{bad}:")) && err.contains("billing.tariff.tunnel_hour"),
            "{err}"
        );
    }
    let out = l2tpagg(&[
        "billing",
        "invoice",
        "--period",
        "2026-11",
        "--config",
        tmp.path().join("absent.toml").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("cannot read configuration file"));
}

#[test]
fn a_missing_ledger_directory_is_an_error_naming_where_it_looked() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("l2tpagg.toml");
    std::fs::write(&config, CONFIG).unwrap();
    for args in [
        &["billing", "invoice", "--period", "2026-11"][..],
        &["billing", "usage", "--subscriber", "alice"],
    ] {
        let mut args = args.to_vec();
        args.extend(["--config", config.to_str().unwrap()]);
        let out = l2tpagg(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(out.stdout.is_empty());
        let err = text(&out.stderr);
        let expected = tmp.path().join("state/ledger");
        assert!(
            err.contains("no ledger directory found") && err.contains(expected.to_str().unwrap()),
            "{err}"
        );
    }
}

#[test]
fn a_damaged_tail_is_reported_and_the_invoice_still_computed() {
    let (tmp, config) = setup();
    let config = config.to_str().unwrap();
    let args = [
        "billing", "invoice", "--period", "2026-11", "--json", "--config", config,
    ];
    let clean: Value = serde_json::from_str(&ok(&l2tpagg(&args))).unwrap();
    // A crash tore the last write: the first bytes of a frame, no more.
    let seg = list_segments(&tmp.path().join("state/ledger"))
        .unwrap()
        .pop()
        .unwrap();
    OpenOptions::new()
        .append(true)
        .open(&seg.path)
        .unwrap()
        .write_all(&[40, 0, 0, 0, 9, 9, 9])
        .unwrap();
    let out = l2tpagg(&args);
    let damaged: Value = serde_json::from_str(&ok(&out)).unwrap();
    assert_eq!(damaged["accounts"], clean["accounts"]);
    assert_eq!(damaged["ledger"]["damage"].as_array().unwrap().len(), 1);
    let err = text(&out.stderr);
    assert!(
        err.contains("warning: ledger damage:") && err.contains(seg.path.to_str().unwrap()),
        "{err}"
    );
    let txt = ok(&l2tpagg(&[
        "billing", "invoice", "--period", "2026-11", "--config", config,
    ]));
    assert!(txt.contains("damage:"), "{txt}");
}

#[test]
fn the_period_starts_at_the_configured_offset() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("l2tpagg.toml");
    std::fs::write(
        &config,
        CONFIG.replace(
            "minor_digits = 2",
            "minor_digits = 2\nperiod_offset = \"+09:00\"",
        ),
    )
    .unwrap();
    write_ledger(&tmp.path().join("state/ledger"));
    let inv: Value = serde_json::from_str(&ok(&l2tpagg(&[
        "billing",
        "invoice",
        "--period",
        "2026-11",
        "--json",
        "--config",
        config.to_str().unwrap(),
    ])))
    .unwrap();
    assert_eq!(inv["period"]["start"], NOV - 9 * H);
    assert_eq!(inv["period"]["end"], DEC - 9 * H);
    // Alice's whole session (Oct 31 23:00Z on) is November in Tokyo; bob's last one is not.
    let shared = account(&inv, "SHARED-7");
    assert_eq!(user(shared, "alice")["connect_ms"], 3 * H);
    assert_eq!(user(shared, "bob")["connect_ms"], 30 * M + 30_000);
}

#[test]
fn without_config_the_embedded_default_finds_the_ledger_like_the_daemon() {
    // The embedded default's state_dir is "auto": under systemd $STATE_DIRECTORY comes first.
    let tmp = tempfile::tempdir().unwrap();
    let (ledger, _) = Ledger::open(&tmp.path().join("ledger"), LedgerOptions::default()).unwrap();
    let mut ids = IdSource::new(NOV);
    let tunnel = ids.tunnel();
    let (multi, leg) = ids.new_session();
    for (at, event) in [
        (
            NOV + D,
            LedgerEvent::SessionStart {
                session: leg,
                multi,
                subscriber: "user5".into(),
                account: "user5".into(),
                place: place(tunnel, 1, "loopback-lns", "loopback"),
            },
        ),
        (
            NOV + D + H,
            LedgerEvent::SessionStop {
                session: leg,
                counters: counters(1),
                cause: TerminateCause::UserRequest,
                cause_text: String::new(),
            },
        ),
    ] {
        ledger.append(&LedgerRecord { at, event }).unwrap();
    }
    ledger.close().unwrap();

    let out = l2tpagg_env(
        &["billing", "invoice", "--period", "2026-11", "--json"],
        &[("STATE_DIRECTORY", tmp.path())],
    );
    let inv: Value = serde_json::from_str(&ok(&out)).unwrap();
    let user5 = account(&inv, "user5");
    assert_eq!(user(user5, "user5")["plan"], "flat");
    assert_eq!(user5["claimed_sum"], 1999);
    assert_eq!(inv["accounts"].as_array().unwrap().len(), 1);
    // The demo range's flat fee is owed by members without usage too: the invoice says it omits
    // them rather than staying silent.
    let err = text(&out.stderr);
    assert!(
        err.contains("subscribers user1 .. user100000 ([[subscriber_range]])"),
        "{err}"
    );
}

//! A LAC killed with SIGKILL in the middle of a load (issue 8's crash proof): subscribers with
//! steady traffic run through a LAC process to an LNS process; the LAC dies without a word; it is
//! started again on the same state directory. Recovery reports what it found (for a process kill
//! normally nothing torn: everything handed to `write(2)` survives), every record that was durable
//! before the kill is still there unchanged, and the ledger's per-subscriber totals agree with
//! what the LNS counted for the same sessions, up to the documented bound.
//!
//! # The bound
//!
//! A session cut by a crash is billed up to its last durable reading (`accounting.rs`, "What a
//! crash loses"). What the ledger may miss of a session is the traffic of at most
//! `interim_interval + commit_interval` (2.2 s here). The test allows 2 s of traffic more: the
//! load generator may send up to 1 s of traffic in a burst after a stall, and on a loaded machine
//! the LAC's interim can run late by up to a second. At 25 packets a second that is 105 packets
//! per direction. The ledger never holds more than the LNS counted (both count IP packets: the
//! PPP payload of data protocols).
//!
//! Needs root.

mod support;

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::Path;
use std::time::{Duration, Instant};

use l2tpagg::ledger::{LedgerEvent, LedgerReader, LedgerRecord};
use l2tpagg::loadgen::{
    Emulator, L2tpOptions, LoadgenOptions, Pattern, TrafficPlan, TransportOptions,
};
use support::configs::{loopback_lac, loopback_lns};
use support::topology::EchoServer;
use support::{Daemon, netns, wait_for};

const LNS_PORT: u16 = 11701;
const DIALIN_PORT: u16 = 11702;
const ECHO_PORT: u16 = 7777;
const LNS_ADDRESS: Ipv4Addr = Ipv4Addr::new(100, 64, 0, 1);
const T: Duration = Duration::from_secs(20);

const SUBSCRIBERS: u64 = 20;
const PPS: f64 = 25.0;
const PAYLOAD: usize = 200;
const INTERIM: Duration = Duration::from_secs(2);
const COMMIT: Duration = Duration::from_millis(200);
/// Slack beyond the documented bound: a 1 s catch-up burst of the load generator and 1 s of
/// scheduling delay of the interim.
const SLACK: Duration = Duration::from_secs(2);

fn subscribers() -> &'static str {
    "[[subscriber_range]]\nprefix = \"user\"\nfirst = 1\ncount = 100\nsecret = \"demo\"\n"
}

fn lns_config() -> String {
    loopback_lns(LNS_PORT, "l2tpcr0", subscribers())
}

fn lac_config(state_dir: Option<&Path>) -> String {
    let ledger = format!(
        "[billing.ledger]\ninterim_interval = \"{}ms\"\ncommit_interval = \"{}ms\"\n{}",
        INTERIM.as_millis(),
        COMMIT.as_millis(),
        subscribers(),
    );
    let config = loopback_lac(LNS_PORT, DIALIN_PORT, "", &ledger);
    match state_dir {
        None => config,
        Some(dir) => {
            let replaced = config.replace(
                "state_dir = \"{dir}/state\"",
                &format!("state_dir = \"{}\"", dir.display()),
            );
            assert_ne!(replaced, config, "state_dir replaced");
            replaced
        }
    }
}

fn read_ledger(dir: &Path) -> Vec<(u64, LedgerRecord)> {
    let mut reader = LedgerReader::open(dir).unwrap();
    reader
        .by_ref()
        .map(|e| {
            let e = e.unwrap();
            (e.lsn, e.record)
        })
        .collect()
}

/// Per subscriber: IP octets and packets each way, as the LNS counted them.
fn lns_counts(lns: &Daemon) -> HashMap<String, [u64; 4]> {
    lns.rows(&["sessions"])
        .iter()
        .map(|r| {
            let n = |k: &str| r[k].as_u64().unwrap();
            (
                r["subscriber"].as_str().unwrap().to_owned(),
                [
                    n("bytes_up"),
                    n("bytes_down"),
                    n("packets_up"),
                    n("packets_down"),
                ],
            )
        })
        .collect()
}

#[test]
fn sigkill_during_load_loses_at_most_the_documented_bound() {
    let ns = netns("crash");
    let lns = Daemon::start("lns", Some(ns.name()), &lns_config());
    let mut lac = Daemon::start("lac", Some(ns.name()), &lac_config(None));
    let state = lac.dir.path().join("state");
    let ledger_dir = state.join("ledger");
    let echo = EchoServer::start(&ns, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, ECHO_PORT));

    let mut l2tp = L2tpOptions::new(format!("127.0.0.1:{DIALIN_PORT}").parse().unwrap());
    l2tp.bind = "127.0.0.1:0".parse().unwrap();
    let options = LoadgenOptions {
        transport: TransportOptions::L2tp(l2tp),
        subscribers: SUBSCRIBERS,
        rate: 200.0,
        hold: None,
        setup_timeout: T,
        drain_timeout: Duration::from_millis(500),
        user: Pattern::parse("user{n}").unwrap(),
        password: Pattern::parse("demo").unwrap(),
        traffic: Some(TrafficPlan {
            rate: PPS,
            payload: PAYLOAD,
            target: Some(LNS_ADDRESS),
            port: ECHO_PORT,
        }),
        ..LoadgenOptions::default()
    };
    let emulator = Emulator::new(options).unwrap();
    let stop = emulator.stop_handle();
    let ns_name = ns.name().to_owned();
    let load = std::thread::spawn(move || {
        l2tpagg::runtime::netns::block_on_in_netns(&ns_name, move || emulator.run())
    });

    // Everybody up, then several interim rounds made durable.
    wait_for(T, || {
        (lac.ctl_json(&["status"])["ledger"]["open_sessions"] == SUBSCRIBERS).then_some(())
    })
    .unwrap_or_else(|| panic!("not every subscriber came up:\n{}", lac.log()));
    let up_at = Instant::now();
    // Kill at a random point of the interim cycle, not right after an interim round.
    let kill_after = Duration::from_secs(12)
        + Duration::from_millis(rand::random_range(0..INTERIM.as_millis() as u64));
    let before = wait_for(T, || {
        let recs = read_ledger(&ledger_dir);
        let interims = recs
            .iter()
            .filter(|(_, r)| matches!(r.event, LedgerEvent::SessionInterim { .. }))
            .count() as u64;
        (interims >= 5 * SUBSCRIBERS && up_at.elapsed() >= kill_after).then_some(recs)
    })
    .expect("interims are written while the load runs");

    lac.signal("KILL");
    let status = lac.wait_exit(T);
    assert!(!status.success(), "killed: {status}");

    // With the LAC gone nothing crosses any more: the LNS's counters settle.
    let lns_final = wait_for(T, || {
        let a = lns_counts(&lns);
        std::thread::sleep(Duration::from_millis(300));
        let b = lns_counts(&lns);
        (a == b && a.len() as u64 == SUBSCRIBERS).then_some(b)
    })
    .expect("the LNS's counters settle after the kill");
    stop.abort();
    let report = load.join().unwrap().unwrap().expect("load generator ran");
    echo.stop();
    assert_eq!(report.up, SUBSCRIBERS, "{report}");

    // Restart on the same state directory: recovery reports what it found.
    let restarted = Daemon::start("lac-again", Some(ns.name()), &lac_config(Some(&state)));
    let opened = restarted.wait_event("ledger opened", T, |_| true);
    let damage = opened["fields"]["damage"].as_u64().unwrap();
    assert_eq!(
        restarted
            .events("ledger recovery found damage and set it aside; every record before it is kept")
            .len() as u64,
        damage,
        "every piece of damage is reported"
    );
    let last_lsn = opened["fields"]["last_lsn"].as_u64().unwrap();
    assert!(last_lsn >= before.last().unwrap().0, "{opened}");
    let after = read_ledger(&ledger_dir);
    assert_eq!(
        &after[..before.len()],
        &before[..],
        "records durable before the kill are all there, unchanged"
    );

    // Per subscriber: the ledger's usage against the LNS's counts.
    let bound_packets = (PPS * (INTERIM + COMMIT + SLACK).as_secs_f64()).ceil() as u64;
    let packet_octets = (PAYLOAD + 28) as u64;
    let bound_octets = bound_packets * packet_octets;
    let mut lost_total = 0u64;
    let mut lns_total = 0u64;
    for (who, lns_c) in &lns_final {
        let u = restarted.billing_json(&["usage", "--subscriber", who, "--json"]);
        assert_eq!(u["sessions"], 1, "{who}: {u}");
        let stopped = u["detail"]["sessions"][0]["stopped"].as_bool().unwrap();
        assert!(!stopped, "{who}: cut by the crash, not stopped");
        let c = &u["usage"];
        let ledger = [
            c["octets_in"].as_u64().unwrap(),
            c["octets_out"].as_u64().unwrap(),
            c["packets_in"].as_u64().unwrap(),
            c["packets_out"].as_u64().unwrap(),
        ];
        for dir in 0..2 {
            let (octets, packets) = (ledger[dir], ledger[dir + 2]);
            let (lns_octets, lns_packets) = (lns_c[dir], lns_c[dir + 2]);
            let detail = format!(
                "{who} direction {dir}: ledger {octets} octets / {packets} packets, LNS {lns_octets} \
                 IP octets / {lns_packets} packets; bound {bound_packets} packets, {bound_octets} octets"
            );
            assert!(
                packets <= lns_packets && octets <= lns_octets,
                "the ledger holds more than the LNS counted: {detail}"
            );
            assert!(
                packets + bound_packets >= lns_packets && octets + bound_octets >= lns_octets,
                "lost more than the bound: {detail}"
            );
            // The load must dwarf the bound, or the comparison would prove nothing.
            assert!(
                lns_packets > 2 * bound_packets,
                "too little traffic: {detail}"
            );
            lost_total += lns_octets.saturating_sub(octets);
            lns_total += lns_octets;
        }
    }
    eprintln!(
        "killed {kill_after:?} after every subscriber was up; lost {lost_total} of {lns_total} \
         octets over {SUBSCRIBERS} subscribers (bound {} octets)",
        bound_octets * 2 * SUBSCRIBERS
    );
}

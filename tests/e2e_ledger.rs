//! The usage ledger of running daemons, end to end (issue 8): a LAC and an LNS, two `l2tpagg run`
//! processes in a network namespace the test creates; subscribers emulated by the load
//! generator's library dial in over L2TP to the LAC, exchange UDP with an echo server behind the
//! LNS's TUN device, and log out. Then `l2tpagg billing usage` and `l2tpagg billing invoice`, run
//! with the LAC's configuration as an operator would, show and bill exactly that traffic.
//!
//! Also proved here: one session is counted once. Sessions our LAC carries to our LNS are in the
//! LAC's ledger only (our LAC advertises the vendor Capability AVP); a session from a foreign LAC
//! (the load generator dialling the LNS directly, without it) is in the LNS's ledger only.
//!
//! What is counted: both roles count the IP packets a session carries (the PPP payload of data
//! protocols); PPP headers and PPP control frames relayed after the hand-off are not usage. So
//! the ledger must hold exactly what the subscriber sent and received. Needs root.

mod support;

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use l2tpagg::loadgen::{Credentials, Dialer, DialerOptions, DownOutcome, Subscriber};
use serde_json::Value;
use support::configs::{loopback_lac, loopback_lns};
use support::topology::EchoServer;
use support::{Daemon, netns, wait_for};

const LNS_PORT: u16 = 11701;
const DIALIN_PORT: u16 = 11702;
const ECHO_PORT: u16 = 7777;
const LNS_ADDRESS: Ipv4Addr = Ipv4Addr::new(100, 64, 0, 1);
const T: Duration = Duration::from_secs(15);
/// Packets each subscriber sends.
const PACKETS: usize = 25;

fn common() -> String {
    "[billing]\ncurrency = \"EUR\"\n\
     [billing.tariff]\ntunnel_hour = 100\nline_month = 5000\n\
     [[billing.plans]]\nname = \"metered\"\nmonthly = 1000\n\
     volume = { amount = 7, per = \"megabyte\" }\n\
     [billing.ledger]\ninterim_interval = \"1s\"\ncommit_interval = \"100ms\"\n\
     [[subscriber]]\nname = \"alice\"\nsecret = \"alice-pw\"\n\
     contract = { account = \"ACME\", plan = \"metered\" }\n\
     [[subscriber]]\nname = \"bob\"\nsecret = \"bob-pw\"\n\
     contract = { account = \"ACME\", plan = \"metered\" }\n\
     [[subscriber]]\nname = \"carol\"\nsecret = \"carol-pw\"\n\
     contract = { account = \"CAROL\", plan = \"metered\" }\n"
        .to_owned()
}

fn lns_config() -> String {
    loopback_lns(LNS_PORT, "l2tpled0", &common())
}

fn lac_config() -> String {
    loopback_lac(
        LNS_PORT,
        DIALIN_PORT,
        "empty_tunnel_linger = \"1s\"\n",
        &common(),
    )
}

fn usage(d: &Daemon, who: &str) -> Value {
    d.billing_json(&["usage", "--subscriber", who, "--json"])
}

fn record_types(usage: &Value) -> Vec<String> {
    usage["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["event"]["type"].as_str().unwrap().to_owned())
        .collect()
}

/// The record types of a usage report, which must run from a session start to a session stop.
fn start_to_stop(usage: &Value) -> Vec<String> {
    let types = record_types(usage);
    assert_eq!(
        types.first().map(String::as_str),
        Some("session_start"),
        "{usage}"
    );
    assert_eq!(
        types.last().map(String::as_str),
        Some("session_stop"),
        "{usage}"
    );
    types
}

/// Waits until the daemon's ledger has written and synced everything it accepted.
fn wait_ledger_durable(d: &Daemon) -> Value {
    wait_for(T, || {
        let l = d.ctl_json(&["status"])["ledger"].clone();
        (l["pending"] == 0 && l["durable_lsn"] == l["last_lsn"]).then_some(l)
    })
    .unwrap_or_else(|| panic!("{}: ledger never caught up: {}", d.name, d.log()))
}

/// What one subscriber sent and received, in IP octets and packets.
#[derive(Debug, Default, Clone, Copy)]
struct Traffic {
    sent_octets: u64,
    sent_packets: u64,
    received_octets: u64,
    received_packets: u64,
}

/// Sends `PACKETS` UDP datagrams of varying sizes to the echo server and takes every echo.
async fn exchange(sub: &mut Subscriber, seed: usize) -> Traffic {
    let mut t = Traffic::default();
    let server = SocketAddrV4::new(LNS_ADDRESS, ECHO_PORT);
    for i in 0..PACKETS {
        let payload = vec![(seed + i) as u8; 40 + 37 * ((seed + i) % 11)];
        sub.send_udp(server, 40000 + seed as u16, &payload)
            .await
            .unwrap();
        t.sent_octets += 20 + 8 + payload.len() as u64;
        t.sent_packets += 1;
        let echo = tokio::time::timeout(T, sub.recv_ip())
            .await
            .expect("the echo comes back in time")
            .expect("the session is up");
        assert_eq!(echo.len(), 28 + payload.len(), "an echo of our datagram");
        t.received_octets += echo.len() as u64;
        t.received_packets += 1;
    }
    t
}

fn counters(v: &Value) -> [u64; 4] {
    [
        v["octets_in"].as_u64().unwrap(),
        v["octets_out"].as_u64().unwrap(),
        v["packets_in"].as_u64().unwrap(),
        v["packets_out"].as_u64().unwrap(),
    ]
}

/// The stop counters against what the subscriber exchanged: its IP packets, exactly.
fn assert_counts_match(who: &str, stop: [u64; 4], t: Traffic) {
    let detail = format!(
        "{who}: ledger {stop:?}; subscriber sent {} IP octets in {} packets, received {} in {}",
        t.sent_octets, t.sent_packets, t.received_octets, t.received_packets
    );
    assert_eq!(
        stop,
        [
            t.sent_octets,
            t.received_octets,
            t.sent_packets,
            t.received_packets
        ],
        "{detail}"
    );
    eprintln!("{detail}");
}

#[test]
fn lac_ledger_records_and_bills_what_subscribers_exchanged_and_nothing_twice() {
    let ns = netns("ledger");
    let lns = Daemon::start("lns", Some(ns.name()), &lns_config());
    let lac = Daemon::start("lac", Some(ns.name()), &lac_config());
    let echo = EchoServer::start(&ns, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, ECHO_PORT));

    let traffic = ns
        .block_on(|| async {
            let mut options =
                DialerOptions::l2tp(format!("127.0.0.1:{DIALIN_PORT}").parse().unwrap());
            options.setup_timeout = T;
            let dialer = Dialer::start(options).await.expect("dialer");
            let mut alice = dialer
                .dial(Credentials::new("alice", "alice-pw"))
                .await
                .expect("alice comes up through the LAC");
            let mut bob = dialer
                .dial(Credentials::new("bob", "bob-pw"))
                .await
                .expect("bob comes up through the LAC");
            // A foreign LAC: the load generator itself dialling the LNS, without our Capability
            // AVP.
            let mut options = DialerOptions::l2tp(format!("127.0.0.1:{LNS_PORT}").parse().unwrap());
            options.setup_timeout = T;
            let foreign = Dialer::start(options).await.expect("foreign dialer");
            let mut carol = foreign
                .dial(Credentials::new("carol", "carol-pw"))
                .await
                .expect("carol comes up at the LNS directly");

            let ta = exchange(&mut alice, 1).await;
            let tb = exchange(&mut bob, 2).await;
            let tc = exchange(&mut carol, 3).await;

            // Interims land while the sessions run (every second).
            for (d, who) in [(&lac, "alice"), (&lac, "bob"), (&lns, "carol")] {
                wait_for(T, || {
                    record_types(&usage(d, who))
                        .contains(&"session_interim".to_owned())
                        .then_some(())
                })
                .unwrap_or_else(|| panic!("no interim for {who}"));
            }

            for s in [alice, bob, carol] {
                match s.logout().await {
                    Ok(DownOutcome::LoggedOut) => {}
                    other => panic!("logout: {other:?}"),
                }
            }
            dialer.close().await.expect("dialer closes");
            foreign.close().await.expect("foreign dialer closes");
            (ta, tb, tc)
        })
        .unwrap();
    echo.stop();
    let (ta, tb, tc) = traffic;

    for d in [&lac, &lns] {
        d.wait_rows(&["sessions"], T, |r| r.is_empty());
    }
    let state = wait_ledger_durable(&lac);
    assert_eq!(state["trouble"], Value::Null, "{state}");
    assert_eq!(state["dropped"], 0);
    assert_eq!(state["open_sessions"], 0, "{state}");
    wait_ledger_durable(&lns);

    // billing usage with the LAC's configuration: start, interims, stop.
    let mut stops = Vec::new();
    for (who, t) in [("alice", ta), ("bob", tb)] {
        let u = usage(&lac, who);
        let types = start_to_stop(&u);
        assert_eq!(types.iter().filter(|t| *t == "session_start").count(), 1);
        assert_eq!(types.iter().filter(|t| *t == "session_stop").count(), 1);
        assert!(
            types[1..types.len() - 1]
                .iter()
                .all(|t| t == "session_interim")
        );
        let records = u["records"].as_array().unwrap();
        let start = &records[0]["event"];
        assert_eq!(start["subscriber"], who);
        assert_eq!(start["account"], "ACME");
        assert_eq!(start["place"]["peer"], "lns");
        assert_eq!(start["place"]["line"], "lo");
        let stop = &records[records.len() - 1]["event"];
        let final_counters = counters(&stop["counters"]);
        assert_counts_match(who, final_counters, t);
        // Interims never go past the stop, and never backwards.
        let mut last = [0u64; 4];
        for r in &records[1..records.len() - 1] {
            let c = counters(&r["event"]["counters"]);
            for i in 0..4 {
                assert!(c[i] >= last[i] && c[i] <= final_counters[i], "{u}");
            }
            last = c;
        }
        // RFC 2866 §5.10: a logout is User-Request (1), or Lost-Carrier (2) when the
        // subscriber's CDN reached the LAC before the LNS's.
        let cause = stop["cause"].as_u64().unwrap();
        assert!(cause == 1 || cause == 2, "{stop}");
        assert!(!stop["cause_text"].as_str().unwrap().is_empty());
        assert_eq!(u["sessions"], 1);
        assert_eq!(counters(&u["usage"]), final_counters, "{u}");
        stops.push((who, final_counters));
    }
    // Counted once: the LNS's ledger has nothing of the sessions our LAC carried, the LAC's
    // nothing of the foreign LAC's.
    for who in ["alice", "bob"] {
        assert!(
            record_types(&usage(&lns, who)).is_empty(),
            "{who} at the LNS"
        );
    }
    assert!(record_types(&usage(&lac, "carol")).is_empty());
    let u = usage(&lns, "carol");
    start_to_stop(&u);
    let records = u["records"].as_array().unwrap();
    assert_eq!(
        records[0]["event"]["place"]["line"],
        format!("lns@127.0.0.1:{LNS_PORT}")
    );
    // The LNS counts IP packets: exactly what carol exchanged.
    let carol = counters(&records[records.len() - 1]["event"]["counters"]);
    assert_eq!(
        carol,
        [
            tc.sent_octets,
            tc.received_octets,
            tc.sent_packets,
            tc.received_packets
        ],
        "{u}"
    );

    // The invoice for this month bills ACME for alice and bob, from the LAC's ledger.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let period = chrono::DateTime::from_timestamp(now.as_secs() as i64, 0)
        .unwrap()
        .format("%Y-%m")
        .to_string();
    let inv = lac.billing_json(&["invoice", "--period", &period, "--json"]);
    let acme = inv["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["account"] == "ACME")
        .unwrap_or_else(|| panic!("no ACME account: {inv}"));
    let users = acme["users"].as_array().unwrap();
    assert_eq!(users.len(), 2, "{acme}");
    let mut sum = 0;
    for (who, c) in &stops {
        let line = users.iter().find(|u| u["subscriber"] == *who).unwrap();
        assert_eq!(line["sessions"], 1, "{line}");
        assert_eq!(counters(&line["usage"]), *c, "{line}");
        // 10.00 flat plus one started megabyte at 0.07.
        assert_eq!(line["communication_fee"], 1007, "{line}");
        sum += line["line_total"].as_i64().unwrap();
    }
    assert_eq!(acme["claimed_sum"].as_i64().unwrap(), sum, "{acme}");
    let tunnels = inv["operator"]["tunnels"].as_array().unwrap();
    let lo = tunnels
        .iter()
        .find(|t| t["line"] == "lo" && t["peer"] == "lns")
        .unwrap_or_else(|| panic!("no tunnel-hours on line lo: {inv}"));
    assert!(lo["tunnels"].as_u64().unwrap() >= 1, "{lo}");
    let lines = inv["operator"]["lines"].as_array().unwrap();
    let lo_line = lines.iter().find(|l| l["line"] == "lo").unwrap();
    assert_eq!(lo_line["line_months"], 1, "{lo_line}");
    assert_eq!(lo_line["charge"], 5000, "{lo_line}");
    // carol is the LNS's to bill.
    assert!(
        inv["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["account"] == "CAROL")
            .all(|a| a["users"][0]["sessions"] == 0),
        "{inv}"
    );
}

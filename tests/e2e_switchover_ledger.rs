//! Live moves in the usage ledger, end to end (issues 6 and 8): our own LAC and LNS processes
//! (`l2tpagg run` each) in a network namespace the test creates (needs root), subscribers from
//! the load generator's library, and `l2tpagg billing usage` / `billing invoice` run with the
//! LAC's configuration as an operator would.
//!
//! Tunnels hold two sessions; the planner's dwell time is an hour, so only the operator's
//! `ctl drain` moves anyone, and the moves are known in advance:
//!
//! 1. user1 and user2 dial in and share tunnel A; user3 is alone in tunnel B.
//! 2. user2 logs out; `ctl drain B` moves user3 live into A; B empties and closes.
//! 3. user4 dials in and gets a new tunnel C (A is full); user1 logs out; `ctl drain A` moves
//!    user3 live again, into C; A empties and closes.
//! 4. user3 and user4 log out.
//!
//! Every subscriber streams UDP to an echo server behind the LNS all along, counting the IP
//! octets and packets it sent and received. What the ledger must show:
//! - user3 is one session (`sessions == 1` in `billing usage` and in its invoice line): one
//!   start, two `session_move` records of the same multi-session identity chaining its legs
//!   (B → A → C, each named by its tunnel), one stop;
//! - user3's usage totals equal exactly what it sent and received (the LAC counts IP packets):
//!   the moves neither lose nor double count, and so do the other subscribers' totals;
//! - the tunnel records: B closes after the first move, A after the second, while user3 still
//!   runs in C.

mod e2e_switchover_common;
mod support;

use std::collections::HashMap;
use std::net::SocketAddrV4;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use e2e_switchover_common::{
    SERVER, SERVER_PORT, add_server_address, lac_config, lns_config, wait_async,
};
use l2tpagg::ledger::{LedgerEvent, LedgerReader, Lsn};
use l2tpagg::loadgen::{AuthChoice, Credentials, Dialer, DialerOptions, DownOutcome, Subscriber};
use serde_json::Value;
use support::{Daemon, binary, daemon_section, netns, wait_for};

const LNS_PORT: u16 = 12201;
const DIALIN_PORT: u16 = 12202;
const T: Duration = Duration::from_secs(20);
const STREAM_INTERVAL: Duration = Duration::from_millis(20);

/// Billing, a ledger with 1 s interims, and four consolidation customers of one account.
fn billing_and_subscribers() -> String {
    let mut s = "[billing]\ncurrency = \"EUR\"\n\
                 [billing.tariff]\ntunnel_hour = 100\nline_month = 5000\n\
                 [[billing.plans]]\nname = \"metered\"\nmonthly = 1000\n\
                 volume = { amount = 7, per = \"megabyte\" }\n\
                 [billing.ledger]\ninterim_interval = \"1s\"\ncommit_interval = \"100ms\"\n"
        .to_owned();
    for i in 1..=4 {
        s.push_str(&format!(
            "[[subscriber]]\nname = \"user{i}\"\nsecret = \"demo\"\nservice_level = \"1M\"\n\
             contract = {{ account = \"ACME\", plan = \"metered\", consolidation = true }}\n"
        ));
    }
    s
}

/// What a subscriber's stream sent and received, in IP octets and packets.
#[derive(Default)]
struct Traffic {
    sent_octets: AtomicU64,
    sent_packets: AtomicU64,
    received_octets: AtomicU64,
    received_packets: AtomicU64,
}

impl Traffic {
    /// In the ledger's order: octets in (from the subscriber), octets out, packets in, out.
    fn as_ledger(&self) -> [u64; 4] {
        [
            self.sent_octets.load(Ordering::Relaxed),
            self.received_octets.load(Ordering::Relaxed),
            self.sent_packets.load(Ordering::Relaxed),
            self.received_packets.load(Ordering::Relaxed),
        ]
    }
}

/// A datagram of varying size every [`STREAM_INTERVAL`] until `stop`, then a second to take the
/// last echoes. Every IP packet in either direction is counted with its full length.
async fn stream(
    mut sub: Subscriber,
    seed: usize,
    traffic: Arc<Traffic>,
    stop: Arc<AtomicBool>,
) -> Subscriber {
    let server = SocketAddrV4::new(SERVER, SERVER_PORT);
    let mut tick = tokio::time::interval(STREAM_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut n = 0usize;
    let mut drain_until: Option<tokio::time::Instant> = None;
    loop {
        let drained = async {
            match drain_until {
                Some(t) => tokio::time::sleep_until(t).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = tick.tick(), if drain_until.is_none() => {
                if stop.load(Ordering::Relaxed) {
                    drain_until = Some(tokio::time::Instant::now() + Duration::from_secs(1));
                    continue;
                }
                let payload = vec![(seed + n) as u8; 20 + 31 * ((seed + n) % 13)];
                sub.send_udp(server, 41000 + seed as u16, &payload)
                    .await
                    .expect("the session is up");
                traffic.sent_octets.fetch_add(28 + payload.len() as u64, Ordering::Relaxed);
                traffic.sent_packets.fetch_add(1, Ordering::Relaxed);
                n += 1;
            }
            packet = sub.recv_ip() => {
                let packet = packet.expect("the session is up");
                traffic.received_octets.fetch_add(packet.len() as u64, Ordering::Relaxed);
                traffic.received_packets.fetch_add(1, Ordering::Relaxed);
            }
            () = drained => break,
        }
    }
    sub
}

/// The UDP echo server behind the LNS, until the flag drops.
fn echo_server(ns: &l2tpagg::runtime::netns::NamedNetns) -> Arc<AtomicBool> {
    let socket = ns
        .run(|| std::net::UdpSocket::bind((SERVER, SERVER_PORT)))
        .unwrap()
        .expect("echo socket");
    socket
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let running = Arc::new(AtomicBool::new(true));
    let flag = running.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        while flag.load(Ordering::Relaxed) {
            if let Ok((n, from)) = socket.recv_from(&mut buf) {
                let _ = socket.send_to(&buf[..n], from);
            }
        }
    });
    running
}

/// `l2tpagg billing ARGS --config CONFIG`, JSON on stdout.
fn billing(config: &Path, args: &[&str]) -> Value {
    let out = Command::new(binary())
        .arg("billing")
        .args(args)
        .arg("--config")
        .arg(config)
        .output()
        .expect("run l2tpagg billing");
    assert!(
        out.status.success(),
        "billing {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("billing --json prints JSON")
}

fn counters(v: &Value) -> [u64; 4] {
    ["octets_in", "octets_out", "packets_in", "packets_out"]
        .map(|k| v[k].as_u64().unwrap_or_else(|| panic!("no {k} in {v}")))
}

fn add(a: [u64; 4], b: [u64; 4]) -> [u64; 4] {
    [a[0] + b[0], a[1] + b[1], a[2] + b[2], a[3] + b[3]]
}

fn ledger_dir(d: &Daemon) -> PathBuf {
    d.dir.path().join("state/ledger")
}

/// Waits until the daemon's ledger has written and synced everything it accepted.
fn wait_ledger_durable(d: &Daemon) -> Value {
    wait_for(T, || {
        let l = d.ctl_json(&["status"])["ledger"].clone();
        (l["pending"] == 0 && l["durable_lsn"] == l["last_lsn"]).then_some(l)
    })
    .unwrap_or_else(|| panic!("{}: ledger never caught up: {}", d.name, d.log()))
}

/// A tunnel in the LAC's ledger.
#[derive(Debug, Clone)]
struct TunnelRecord {
    serial: String,
    local_id: u16,
    opened: Lsn,
    closed: Option<Lsn>,
}

#[test]
fn moved_sessions_are_one_session_in_the_ledger_with_every_octet_counted_once() {
    let ns = netns("sw-ledger");
    add_server_address(&ns);
    let daemon = daemon_section(Path::new("{dir}"));
    let subs = billing_and_subscribers();
    let lns = Daemon::start(
        "lns",
        Some(ns.name()),
        &lns_config(&daemon, LNS_PORT, "l2tpswl0", &subs),
    );
    let lac = Daemon::start(
        "lac",
        Some(ns.name()),
        &lac_config(
            &daemon,
            &format!("127.0.0.1:{LNS_PORT}"),
            DIALIN_PORT,
            2,
            "",
            &subs,
        )
        // Only the operator's drains move sessions here.
        .replace("min_dwell = \"1s\"", "min_dwell = \"1h\""),
    );
    let echo = echo_server(&ns);

    let traffic: HashMap<u32, Arc<Traffic>> =
        (1..=4).map(|i| (i, Arc::new(Traffic::default()))).collect();
    let (lac_ref, traffic_ref) = (&lac, traffic.clone());
    let tunnels = ns
        .block_on(move || async move {
            let (lac, traffic) = (lac_ref, traffic_ref);
            let mut options =
                DialerOptions::l2tp(format!("127.0.0.1:{DIALIN_PORT}").parse().unwrap());
            options.setup_timeout = T;
            let dialer = Dialer::start(options).await.expect("dialer");
            let dial = |i: u32| {
                let dialer = &dialer;
                async move {
                    dialer
                        .dial(
                            Credentials::new(format!("user{i}"), "demo")
                                .with_auth(AuthChoice::Chap),
                        )
                        .await
                        .unwrap_or_else(|e| panic!("user{i}: {e}"))
                }
            };
            let tunnel_of = |name: &str| -> Option<u64> {
                lac.rows(&["sessions"])
                    .iter()
                    .find(|r| {
                        r["role"] == "lac" && r["subscriber"] == name && r["state"] == "established"
                    })
                    .and_then(|r| r["local_tunnel_id"].as_u64())
            };
            let open_tunnels = || -> Vec<u64> {
                lac.rows(&["tunnels"])
                    .iter()
                    .filter(|t| t["peer_name"] == "lns" && t["state"] == "established")
                    .filter_map(|t| t["local_tunnel_id"].as_u64())
                    .collect()
            };
            let mut tasks = HashMap::new();
            let start = |i: u32, sub: Subscriber, tasks: &mut HashMap<u32, _>| {
                let stop = Arc::new(AtomicBool::new(false));
                let task = tokio::spawn(stream(
                    sub,
                    i as usize * 7,
                    traffic[&i].clone(),
                    stop.clone(),
                ));
                tasks.insert(i, (task, stop));
            };
            async fn leave(
                i: u32,
                tasks: &mut HashMap<u32, (tokio::task::JoinHandle<Subscriber>, Arc<AtomicBool>)>,
            ) {
                let (task, stop) = tasks.remove(&i).unwrap();
                stop.store(true, Ordering::Relaxed);
                let sub = task.await.unwrap();
                match sub.logout().await {
                    Ok(DownOutcome::LoggedOut) => {}
                    other => panic!("user{i} logout: {other:?}"),
                }
            }
            let committed = |who: &str| -> Vec<Value> {
                lac.events("live session move")
                    .into_iter()
                    .filter(|e| e["fields"]["subscriber"] == who)
                    .collect()
            };

            // 1. user1 and user2 share A, user3 is alone in B.
            for i in 1..=3 {
                let s = dial(i).await;
                start(i, s, &mut tasks);
            }
            let a = tunnel_of("user1").expect("user1 is up");
            let b = tunnel_of("user3").expect("user3 is up");
            assert_eq!(
                tunnel_of("user2"),
                Some(a),
                "user1 and user2 share a tunnel"
            );
            assert_ne!(a, b);
            tokio::time::sleep(Duration::from_secs(2)).await;

            // 2. user2 leaves; B is drained: user3 moves live into A, B closes.
            leave(2, &mut tasks).await;
            let out = lac.ctl(&["drain", &b.to_string()]);
            assert!(out.status.success(), "ctl drain {b}: {out:?}");
            let first = wait_async(T, || {
                let m = committed("user3");
                (!m.is_empty()).then_some(m)
            })
            .await
            .expect("user3 moves out of the drained tunnel");
            assert_eq!(first.len(), 1, "{first:#?}");
            assert_eq!(first[0]["fields"]["outcome"], "committed", "{first:#?}");
            assert_eq!(first[0]["fields"]["from_tunnel_id"].as_u64(), Some(b));
            assert_eq!(first[0]["fields"]["to_tunnel_id"].as_u64(), Some(a));
            wait_async(T, || (!open_tunnels().contains(&b)).then_some(()))
                .await
                .expect("the drained tunnel closes");
            assert_eq!(tunnel_of("user3"), Some(a));
            tokio::time::sleep(Duration::from_secs(2)).await;

            // 3. user4 comes into a new tunnel C; user1 leaves; A is drained: user3 moves to C.
            let s = dial(4).await;
            start(4, s, &mut tasks);
            let c = tunnel_of("user4").expect("user4 is up");
            assert!(c != a && c != b, "user4 in a new tunnel: {a} {b} {c}");
            leave(1, &mut tasks).await;
            let out = lac.ctl(&["drain", &a.to_string()]);
            assert!(out.status.success(), "ctl drain {a}: {out:?}");
            let second = wait_async(T, || {
                let m = committed("user3");
                (m.len() >= 2).then_some(m)
            })
            .await
            .expect("user3 moves out of the second drained tunnel");
            assert_eq!(second.len(), 2, "{second:#?}");
            assert_eq!(second[1]["fields"]["outcome"], "committed", "{second:#?}");
            assert_eq!(second[1]["fields"]["from_tunnel_id"].as_u64(), Some(a));
            assert_eq!(second[1]["fields"]["to_tunnel_id"].as_u64(), Some(c));
            wait_async(T, || (!open_tunnels().contains(&a)).then_some(()))
                .await
                .expect("the second drained tunnel closes");
            assert_eq!(tunnel_of("user3"), Some(c));
            tokio::time::sleep(Duration::from_secs(2)).await;

            // 4. The rest leave.
            leave(3, &mut tasks).await;
            leave(4, &mut tasks).await;
            dialer.close().await.expect("dialer closes");
            (a, b, c)
        })
        .unwrap();
    echo.store(false, Ordering::Relaxed);
    let (a, b, c) = tunnels;
    lac.wait_rows(&["sessions"], T, |r| r.is_empty());
    // C empties with the last logouts and closes after its linger (its record may come only
    // when the StopCCN exchange is over).
    wait_for(Duration::from_secs(60), || {
        let closes = LedgerReader::open(&ledger_dir(&lac))
            .ok()?
            .map_while(Result::ok)
            .filter(|e| matches!(e.record.event, LedgerEvent::TunnelClose { .. }))
            .count();
        (closes >= 3).then_some(())
    })
    .unwrap_or_else(|| {
        panic!(
            "the three tunnels never all closed in the ledger: {}",
            lac.log()
        )
    });
    let state = wait_ledger_durable(&lac);
    assert_eq!(state["trouble"], Value::Null, "{state}");
    assert_eq!(state["dropped"], 0, "{state}");
    assert_eq!(state["open_sessions"], 0, "{state}");

    // The tunnel records of the LAC's ledger, and where each record sits.
    let entries: Vec<_> = LedgerReader::open(&ledger_dir(&lac))
        .expect("the LAC's ledger")
        .map(|e| e.expect("an intact ledger"))
        .collect();
    let mut tunnel_records: Vec<TunnelRecord> = Vec::new();
    for e in &entries {
        match &e.record.event {
            LedgerEvent::TunnelOpen {
                tunnel,
                local_tunnel_id,
                peer,
                line,
                ..
            } => {
                assert_eq!((peer.as_str(), line.as_str()), ("lns", "lo"));
                tunnel_records.push(TunnelRecord {
                    serial: tunnel.to_string(),
                    local_id: *local_tunnel_id,
                    opened: e.lsn,
                    closed: None,
                });
            }
            LedgerEvent::TunnelClose { tunnel, .. } => {
                let t = tunnel_records
                    .iter_mut()
                    .find(|t| t.serial == tunnel.to_string())
                    .unwrap_or_else(|| panic!("close of a tunnel never opened: {e:?}"));
                assert!(t.closed.is_none(), "tunnel {} closed twice", t.serial);
                t.closed = Some(e.lsn);
            }
            _ => {}
        }
    }
    assert_eq!(
        tunnel_records.len(),
        3,
        "tunnels A, B, C: {tunnel_records:?}"
    );
    let by_id = |id: u64| -> TunnelRecord {
        tunnel_records
            .iter()
            .find(|t| u64::from(t.local_id) == id)
            .cloned()
            .unwrap_or_else(|| panic!("no tunnel record for {id}: {tunnel_records:?}"))
    };
    let (ta, tb, tc) = (by_id(a), by_id(b), by_id(c));

    // user3: one session, two moves of one identity, B -> A -> C.
    let u = billing(
        &lac.config_path,
        &["usage", "--subscriber", "user3", "--json"],
    );
    assert_eq!(u["sessions"], 1, "user3 is one session: {u}");
    let records = u["records"].as_array().unwrap();
    let kinds: Vec<&str> = records
        .iter()
        .map(|r| r["event"]["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.first(), Some(&"session_start"), "{kinds:?}");
    assert_eq!(kinds.last(), Some(&"session_stop"), "{kinds:?}");
    let count = |k: &str| kinds.iter().filter(|x| **x == k).count();
    assert_eq!(
        (
            count("session_start"),
            count("session_move"),
            count("session_stop")
        ),
        (1, 2, 1),
        "{kinds:?}"
    );
    let start = &records[0]["event"];
    let multi = start["multi"].as_str().unwrap();
    assert_eq!(
        start["place"]["tunnel"],
        tb.serial.as_str(),
        "user3 starts in B"
    );
    let moves: Vec<(&Value, u64)> = records
        .iter()
        .filter(|r| r["event"]["type"] == "session_move")
        .map(|r| (&r["event"], r["lsn"].as_u64().unwrap()))
        .collect();
    let mut leg = start["session"].as_str().unwrap();
    for ((m, lsn), (to, from)) in moves.iter().zip([(&ta, &tb), (&tc, &ta)]) {
        assert_eq!(m["multi"], multi, "one multi-session identity: {m}");
        assert_eq!(m["from"], leg, "the move ends the current leg: {m}");
        assert_ne!(m["to"], leg);
        assert_eq!(m["to_place"]["tunnel"], to.serial.as_str(), "{m}");
        assert_eq!(m["to_place"]["peer"], "lns");
        assert_eq!(m["to_place"]["line"], "lo");
        assert!(*lsn > from.opened && *lsn > to.opened, "{m}");
        // The emptied tunnel closes after the move out of it, and was open until then.
        assert!(from.closed.is_some_and(|c| c > *lsn), "{from:?} after {m}");
        leg = m["to"].as_str().unwrap();
    }
    let stop_record = records.last().unwrap();
    let stop = &stop_record["event"];
    assert_eq!(stop["session"], leg, "the stop ends the last leg");
    let stop_lsn = stop_record["lsn"].as_u64().unwrap();
    // A closed while user3 still ran in C; C closed after the last logout.
    assert!(ta.closed.is_some_and(|c| c < stop_lsn), "{ta:?}");
    assert!(tc.closed.is_some_and(|c| c > stop_lsn), "{tc:?}");
    // The legs' counters add up to what user3 exchanged: nothing lost, nothing twice.
    let legs = add(
        add(
            counters(&moves[0].0["from_counters"]),
            counters(&moves[1].0["from_counters"]),
        ),
        counters(&stop["counters"]),
    );
    let sent = traffic[&3].as_ledger();
    eprintln!(
        "user3 across two live moves: ledger legs {:?} + {:?} + {:?} = {legs:?}; the subscriber \
         sent {} IP octets in {} packets and received {} in {}",
        counters(&moves[0].0["from_counters"]),
        counters(&moves[1].0["from_counters"]),
        counters(&stop["counters"]),
        sent[0],
        sent[2],
        sent[1],
        sent[3]
    );
    assert!(sent[2] > 100, "user3 streamed across the moves: {sent:?}");
    assert_eq!(legs, sent, "user3's legs against its traffic");
    assert_eq!(counters(&u["usage"]), sent, "user3's usage total: {u}");
    // Every leg carried traffic (the stream ran in each tunnel).
    for (i, c) in [
        counters(&moves[0].0["from_counters"]),
        counters(&moves[1].0["from_counters"]),
        counters(&stop["counters"]),
    ]
    .iter()
    .enumerate()
    {
        assert!(
            c[2] > 0 && c[3] > 0,
            "leg {i} of user3 carried nothing: {c:?}"
        );
    }

    // The others never moved: one start, one stop, exactly their traffic.
    for i in [1u32, 2, 4] {
        let who = format!("user{i}");
        let u = billing(&lac.config_path, &["usage", "--subscriber", &who, "--json"]);
        assert_eq!(u["sessions"], 1, "{u}");
        assert!(
            u["records"]
                .as_array()
                .unwrap()
                .iter()
                .all(|r| r["event"]["type"] != "session_move"),
            "{who} never moved: {u}"
        );
        assert_eq!(counters(&u["usage"]), traffic[&i].as_ledger(), "{who}: {u}");
    }

    // The invoice bills user3 for one session with the same usage.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let period = chrono::DateTime::from_timestamp(now.as_secs() as i64, 0)
        .unwrap()
        .format("%Y-%m")
        .to_string();
    let inv = billing(
        &lac.config_path,
        &["invoice", "--period", &period, "--json"],
    );
    let acme = inv["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["account"] == "ACME")
        .unwrap_or_else(|| panic!("no ACME account: {inv}"));
    let users = acme["users"].as_array().unwrap();
    assert_eq!(users.len(), 4, "{acme}");
    for i in 1..=4u32 {
        let line = users
            .iter()
            .find(|l| l["subscriber"] == format!("user{i}"))
            .unwrap_or_else(|| panic!("no invoice line for user{i}: {acme}"));
        assert_eq!(line["sessions"], 1, "{line}");
        assert_eq!(counters(&line["usage"]), traffic[&i].as_ledger(), "{line}");
    }
    let lo = inv["operator"]["tunnels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["line"] == "lo" && t["peer"] == "lns")
        .unwrap_or_else(|| panic!("no tunnel-hours on line lo: {inv}"));
    assert_eq!(lo["tunnels"], 3, "{lo}");
    // The sessions never reached the LNS's ledger (our LAC accounts for them).
    wait_ledger_durable(&lns);
    for i in 1..=4 {
        let u = billing(
            &lns.config_path,
            &["usage", "--subscriber", &format!("user{i}"), "--json"],
        );
        assert_eq!(
            u["records"].as_array().unwrap().len(),
            0,
            "user{i} at the LNS: {u}"
        );
    }
}

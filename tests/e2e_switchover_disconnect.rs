//! Live moves and the disconnect engine (issues 6 and 7), end to end through our own LAC and LNS
//! processes in a network namespace the test creates (needs root).
//!
//! 1. The LAC enforces the conditions of the subscribers it carries. A session moved live keeps
//!    them: its session-time deadline counts from its login, not from the move, and a volume
//!    condition keeps counting across the move. user1 (session time 7 s) and user2 (150 packets
//!    from the subscriber) are moved by `ctl drain` about 3 s after login; user1 is cut 7 s after
//!    its login and user2 at its 150th packet, both by the LAC, both on their new tunnel.
//! 2. An LNS enforces (and accounts) the sessions of a tunnel whose LAC did not advertise our
//!    Capability AVP. Such a session must not move: the LNS's disconnect engine and ledger know
//!    it by its key, which a move changes, so its conditions and its stop record would be lost.
//!    The test is that LAC itself (two raw L2TP clients of the test's support, one Host Name):
//!    tunnel A without the capability carries user1 (session time 6 s at the LNS), tunnel B with
//!    it asks to take user1 over (ICRQ with our Switchover AVP). The LNS refuses with a CDN
//!    saying why, and cuts user1 in A 6 s after its login, with its stop record in its ledger.
//!    (Before the fix the LNS accepted, logged the cut against the old key and never cut.)

mod e2e_switchover_common;
mod support;

use std::net::SocketAddrV4;
use std::path::Path;
use std::time::{Duration, Instant};

use e2e_switchover_common::{
    SERVER, SERVER_PORT, add_server_address, lac_config, lns_config, wait_async,
};
use l2tpagg::l2tp::{SessionRequest, TunnelConfig};
use l2tpagg::loadgen::{AuthChoice, Credentials, Dialer, DialerOptions, Subscriber};
use l2tpagg::wire::{Avps, Capabilities, Switchover};
use serde_json::Value;
use support::{Auth, Daemon, DialinClient, daemon_section, netns, wait_for};

const T: Duration = Duration::from_secs(20);

/// Sends a datagram every `interval` until the session goes down or `limit` passes; the instant
/// it went down, if it did.
async fn stream_until_down(
    mut sub: Subscriber,
    interval: Duration,
    limit: Duration,
) -> (Subscriber, Option<Instant>) {
    let server = SocketAddrV4::new(SERVER, SERVER_PORT);
    let mut tick = tokio::time::interval(interval);
    let give_up = tokio::time::sleep(limit);
    tokio::pin!(give_up);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if sub.send_udp(server, 42000, b"keep counting").await.is_err() {
                    return (sub, Some(Instant::now()));
                }
            }
            packet = sub.recv_ip() => {
                if packet.is_err() {
                    return (sub, Some(Instant::now()));
                }
            }
            () = &mut give_up => return (sub, None),
        }
    }
}

fn dial_options(port: u16) -> DialerOptions {
    let mut options = DialerOptions::l2tp(format!("127.0.0.1:{port}").parse().unwrap());
    options.setup_timeout = T;
    options
}

async fn dial(dialer: &Dialer, name: &str) -> Subscriber {
    dialer
        .dial(Credentials::new(name, "demo").with_auth(AuthChoice::Chap))
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn tunnel_of(lac: &Daemon, name: &str) -> Option<u64> {
    lac.rows(&["sessions"])
        .iter()
        .find(|r| r["role"] == "lac" && r["subscriber"] == name && r["state"] == "established")
        .and_then(|r| r["local_tunnel_id"].as_u64())
}

fn moves_of(lac: &Daemon, name: &str) -> Vec<Value> {
    lac.events("live session move")
        .into_iter()
        .filter(|e| e["fields"]["subscriber"] == name)
        .collect()
}

fn automatic(d: &Daemon, name: &str) -> Option<Value> {
    d.events("automatic disconnect")
        .into_iter()
        .find(|e| e["fields"]["subscriber"] == name)
        .map(|e| e["fields"].clone())
}

fn subscriber(name: &str, level: &str, customer: bool, profile: Option<&str>) -> String {
    let contract = if customer {
        "contract = { consolidation = true }\n"
    } else {
        ""
    };
    let profile = profile.map_or_else(String::new, |p| format!("disconnect_profile = \"{p}\"\n"));
    format!(
        "[[subscriber]]\nname = \"{name}\"\nsecret = \"demo\"\nservice_level = \"{level}\"\n\
         {contract}{profile}"
    )
}

#[test]
fn a_session_moved_live_keeps_its_session_time_and_volume_conditions() {
    let ns = netns("sw-disc");
    add_server_address(&ns);
    let daemon = daemon_section(Path::new("{dir}"));
    let subs = format!(
        "[disconnect]\nsampling_interval = \"200ms\"\n\
         [[disconnect.profiles]]\nname = \"time\"\nsession_time = \"7s\"\n\
         [[disconnect.profiles]]\nname = \"volume\"\nvolume = {{ from_subscriber_packets = 150 }}\n\
         {}{}{}{}",
        subscriber("user1", "2M", true, Some("time")),
        subscriber("user2", "2M", true, Some("volume")),
        subscriber("filler1", "1M", true, None),
        subscriber("filler2", "1M", true, None),
    );
    let _lns = Daemon::start(
        "lns",
        Some(ns.name()),
        &lns_config(&daemon, 12301, "l2tpswd0", &subs),
    );
    let lac = Daemon::start(
        "lac",
        Some(ns.name()),
        &lac_config(&daemon, "127.0.0.1:12301", 12302, 3, "", &subs)
            .replace("min_dwell = \"1s\"", "min_dwell = \"1h\""),
    );
    let lac_ref = &lac;
    let (t1_cut, t2_cut, a, b) = ns
        .block_on(move || async move {
            let lac = lac_ref;
            let dialer = Dialer::start(dial_options(12302)).await.expect("dialer");
            // user1, user2 and filler1 fill tunnel A (three sessions); filler2 opens B.
            let user1 = dial(&dialer, "user1").await;
            let login1 = Instant::now();
            let user2 = dial(&dialer, "user2").await;
            let _filler1 = dial(&dialer, "filler1").await;
            let _filler2 = dial(&dialer, "filler2").await;
            let a = tunnel_of(lac, "user1").unwrap();
            assert_eq!(tunnel_of(lac, "user2"), Some(a));
            let b = tunnel_of(lac, "filler2").unwrap();
            assert_ne!(a, b);
            // user2 sends 25 datagrams a second: its 150th 6 s from now.
            let start2 = Instant::now();
            let s1 = tokio::spawn(stream_until_down(
                user1,
                Duration::from_millis(100),
                Duration::from_secs(15),
            ));
            let s2 = tokio::spawn(stream_until_down(
                user2,
                Duration::from_millis(40),
                Duration::from_secs(15),
            ));
            tokio::time::sleep(Duration::from_millis(2500)).await;
            // Drain A: user1 and user2 (the largest) move into B.
            let out = lac.ctl(&["drain", &a.to_string()]);
            assert!(out.status.success(), "ctl drain: {out:?}");
            for who in ["user1", "user2"] {
                let m = wait_async(T, || moves_of(lac, who).pop())
                    .await
                    .unwrap_or_else(|| panic!("{who} moved"));
                assert_eq!(m["fields"]["outcome"], "committed", "{m}");
                assert_eq!(m["fields"]["to_tunnel_id"].as_u64(), Some(b), "{m}");
            }
            let moved_at = login1.elapsed();
            assert!(
                moved_at < Duration::from_secs(5),
                "moved {moved_at:?} after login"
            );
            let (_, down1) = s1.await.unwrap();
            let (_, down2) = s2.await.unwrap();
            let cut1 = down1.expect("user1 is cut").duration_since(login1);
            let cut2 = down2.expect("user2 is cut").duration_since(start2);
            eprintln!(
                "moved {moved_at:?} after login; user1 cut {cut1:?} after login (session time \
                 7 s), user2 cut {cut2:?} after its stream began (150th packet at 6 s)"
            );
            (cut1, cut2, a, b)
        })
        .unwrap();
    // Session time counts from the login: a re-registration at the move would cut ~3 s later.
    assert!(
        t1_cut >= Duration::from_millis(6800) && t1_cut <= Duration::from_millis(8500),
        "user1 cut {t1_cut:?} after login"
    );
    // Volume keeps counting: packets before the move count (a reset would cut ~2.5 s later).
    assert!(
        t2_cut >= Duration::from_millis(5500) && t2_cut <= Duration::from_millis(7500),
        "user2 cut {t2_cut:?} after its stream began"
    );
    let f1 = wait_for(T, || automatic(&lac, "user1")).expect("the LAC cut user1");
    assert_eq!(f1["condition"], "session-time", "{f1}");
    assert_eq!(f1["role"], "lac", "{f1}");
    assert_eq!(
        f1["tunnel_id"].as_u64(),
        Some(b),
        "cut on its new tunnel: {f1}"
    );
    let f2 = wait_for(T, || automatic(&lac, "user2")).expect("the LAC cut user2");
    assert_eq!(f2["condition"], "volume", "{f2}");
    assert_eq!(
        f2["tunnel_id"].as_u64(),
        Some(b),
        "cut on its new tunnel: {f2}"
    );
    assert_ne!(a, b);
}

#[test]
fn a_session_the_lns_enforces_is_not_moved_and_keeps_its_conditions() {
    let ns = netns("sw-disc-lns");
    let daemon = daemon_section(Path::new("{dir}"));
    let subs = format!(
        "[[disconnect.profiles]]\nname = \"time\"\nsession_time = \"6s\"\n{}",
        subscriber("user1", "1M", true, Some("time")),
    );
    let lns = Daemon::start(
        "lns",
        Some(ns.name()),
        &lns_config(&daemon, 12311, "l2tpswd1", &subs),
    );
    let server: std::net::SocketAddr = "127.0.0.1:12311".parse().unwrap();
    let lns_ref = &lns;
    let (cut, switchover) = ns
        .block_on(move || async move {
            let lns = lns_ref;
            // One LAC, two tunnels: A without our Capability AVP (the LNS enforces and accounts
            // its sessions), B with every capability.
            let config = |capabilities: Capabilities| TunnelConfig {
                host_name: "lac-one".into(),
                capabilities,
                ..TunnelConfig::default()
            };
            let mut a = DialinClient::new("127.0.0.1:0".parse().unwrap(), server).await;
            a.open_tunnel(config(Capabilities::NONE), T)
                .await
                .expect("tunnel A");
            let (s, _) = a
                .login("user1", "demo", Auth::Chap, T)
                .await
                .expect("user1 up in A");
            let login = Instant::now();
            let old = (a.sessions[&s].peer_tunnel, a.sessions[&s].peer_session);
            let mut b = DialinClient::new("127.0.0.1:0".parse().unwrap(), server).await;
            let tb = b
                .open_tunnel(config(Capabilities::ALL), T)
                .await
                .expect("tunnel B");
            // The LAC asks to move user1's session from A into B.
            let request = SessionRequest {
                icrq: Avps {
                    switchover: Some(Switchover {
                        old_tunnel_id: old.0,
                        old_session_id: old.1,
                        token: 0x5eed,
                    }),
                    ..Avps::default()
                },
                iccn: Avps::default(),
            };
            let now = tokio::time::Instant::now().into_std();
            let moved = b
                .endpoint
                .open_session(now, tb, request)
                .expect("switchover ICRQ");
            let answered = |c: &DialinClient| {
                c.events
                    .iter()
                    .find(|e| {
                        e.starts_with(&format!("session up {moved}"))
                            || e.starts_with(&format!("session down {moved} "))
                    })
                    .cloned()
            };
            b.drive_until(T, |c| answered(c).is_some()).await;
            let switchover = answered(&b).expect("the LNS answers the switchover");
            // user1 keeps its conditions: the LNS cuts it in A at its session time.
            let down = a.wait_down(s, Duration::from_secs(10)).await;
            let cut = down.then(|| login.elapsed());
            if cut.is_none() {
                let _ = std::fs::write("/tmp/hsw/lns2.log", lns.log());
            }
            (cut, switchover)
        })
        .unwrap();
    eprintln!("switchover of an LNS-enforced session: {switchover}; user1 cut after {cut:?}");
    assert!(
        switchover.contains("PeerCdn"),
        "the LNS refuses to move a session it enforces: {switchover}"
    );
    let refused = lns.events("switchover refused");
    assert_eq!(refused.len(), 1, "{refused:#?}");
    assert!(
        refused[0]["fields"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("enforces its disconnect conditions")),
        "{refused:#?}"
    );
    let cut = cut.expect("the LNS cuts user1 at its session time");
    assert!(
        cut >= Duration::from_millis(5800) && cut <= Duration::from_millis(7500),
        "user1 cut {cut:?} after login"
    );
    let f = wait_for(T, || automatic(&lns, "user1")).expect("the LNS cut user1");
    assert_eq!(f["condition"], "session-time", "{f}");
    assert_eq!(f["role"], "lns", "{f}");
    // The LNS's ledger has user1's session from start to stop (Session-Timeout).
    let usage = wait_for(T, || {
        let out = std::process::Command::new(support::binary())
            .args([
                "billing",
                "usage",
                "--subscriber",
                "user1",
                "--json",
                "--config",
            ])
            .arg(&lns.config_path)
            .output()
            .ok()?;
        let v: Value = serde_json::from_slice(&out.stdout).ok()?;
        v["records"]
            .as_array()?
            .iter()
            .any(|r| r["event"]["type"] == "session_stop")
            .then_some(v)
    })
    .expect("user1's stop record in the LNS's ledger");
    let stop = usage["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["event"]["type"] == "session_stop")
        .unwrap();
    assert_eq!(stop["event"]["cause"], 5, "Session-Timeout: {stop}");
}

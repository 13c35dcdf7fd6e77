//! The disconnect-condition engine end to end (issue 7's proof), through the real daemon in
//! network namespaces the test creates, with the load generator's library (`loadgen::Dialer`: a
//! subscriber's own LAC and PPP client) as the subscribers and a UDP echo server behind the LNS's
//! TUN device. One daemon runs the LAC (dial-in front-end) and the LNS; the LAC enforces the
//! conditions of its subscribers and the LNS does not enforce them again (its peer is an l2tpagg
//! LAC); a load generator dialling the LNS directly is a foreign LAC, whose sessions the LNS
//! enforces itself. Each cut is checked on the wire (the subscriber hears LCP Terminate-Request,
//! then a CDN) and in the one "automatic disconnect" log line (condition, measured value against
//! limit, RADIUS Acct-Terminate-Cause). Limits are short; every wait has a deadline. Needs root.
//!
//! ```text
//!  ns sub                   ns conc (l2tpagg: dial-in → LAC → LNS → TUN)         ns srv
//!  10.1.0.2 ──veth── 10.1.0.1:1702 (dial-in), :1701 (LNS) ... l2tpd0 ... 10.2.0.1 ──veth── 10.2.0.2:5555
//! ```

mod support;

use std::net::{SocketAddrV4, UdpSocket};
use std::time::{Duration, Instant};

use l2tpagg::loadgen::{CauseKind, Credentials, DialError, Dialer, DownOutcome, Subscriber};
use l2tpagg::runtime::netns::NamedNetns;
use serde_json::Value;
use support::topology::{Access, EchoServer, SERVER, Topology, udp_socket_in};
use support::traffic::recv_udp;
use support::{Daemon, daemon_section, dialin_dialer, udp_packet};

const T: Duration = Duration::from_secs(15);
const ECHO_PORT: u16 = 5555;
/// Subscribers' traffic while they are meant to stay up: one echo round trip this often.
const PACE: Duration = Duration::from_millis(200);

/// Three namespaces joined by veth pairs, forwarding on in the concentrator.
fn topology(tag: &str) -> Topology {
    Topology::new(tag, Access::Ip)
}

/// The daemon's configuration: both roles, a dial-in front-end, an LNS that also accepts the
/// load generator directly (a foreign LAC), the echo service for condition F, and `extra`
/// (profiles and subscribers).
fn config(grace: &str, extra: &str) -> String {
    format!(
        "{daemon}\n\
         [lns]\nlisten = [\"127.0.0.1:1701\", \"10.1.0.1:1701\"]\nlocal_address = \"100.64.0.1\"\n\
         [lns.tun]\nname = \"l2tpd0\"\n\
         [lns.resume]\ngrace = \"{grace}\"\nbuffer_packets = 8\n\
         [[lns.peers]]\nname = \"self\"\naddress = \"127.0.0.1\"\n\
         [[lns.peers]]\nname = \"foreign\"\naddress = \"10.1.0.0/24\"\n\
         [[lns.pools]]\nname = \"subs\"\nranges = [\"100.64.1.0/24\"]\ndefault = true\n\
         [lac]\nempty_tunnel_linger = \"1s\"\nsetup_timeout = \"3s\"\n\
         [[lac.lines]]\nname = \"lo\"\nbind = \"127.0.0.1\"\ncapacity = \"1G\"\n\
         [[lac.peers]]\nname = \"lns\"\naddress = \"127.0.0.1:1701\"\nrealms = [\"*\"]\n\
         [lac.dialin]\nlisten = [\"10.1.0.1:1702\"]\n\
         [[lac.dialin.peers]]\nname = \"cpe\"\naddress = \"10.1.0.0/24\"\n\
         [disconnect]\nsampling_interval = \"200ms\"\n\
         [[disconnect.services]]\nname = \"echo\"\naddress = \"10.2.0.2\"\nprotocol = \"udp\"\n\
         port = {ECHO_PORT}\nserver_idle_timeout = \"3s\"\n\
         {extra}",
        daemon = daemon_section(std::path::Path::new("{dir}")),
    )
}

/// A UDP echo server in the server namespace until stopped.
fn echo_server(srv: &NamedNetns) -> EchoServer {
    EchoServer::start(srv, SocketAddrV4::new(SERVER, ECHO_PORT))
}

/// A UDP socket on the server, for sending to a subscriber unasked.
fn server_socket(srv: &NamedNetns, port: u16) -> UdpSocket {
    udp_socket_in(srv, SocketAddrV4::new(SERVER, port))
}

async fn dialer(server: &str) -> Dialer {
    dialin_dialer("10.1.0.2:0", server, T).await
}

async fn dial(d: &Dialer, name: &str) -> Subscriber {
    d.dial(Credentials::new(name, "pw"))
        .await
        .unwrap_or_else(|e| panic!("{name} logs in: {e}"))
}

/// One echo round trip with the server through the session.
async fn echo(s: &mut Subscriber, port: u16) {
    let p = udp_packet(s.address(), port, SERVER, ECHO_PORT, b"ping");
    s.send_ip(&p).await.unwrap();
    assert_eq!(recv_udp(s, SERVER, T, "echo reply").await, b"ping");
}

/// Echo traffic every [`PACE`] for `span`: the subscriber is busy, not idle.
async fn busy_for(s: &mut Subscriber, span: Duration, port: u16) {
    let until = tokio::time::Instant::now() + span;
    let mut tick = tokio::time::interval(PACE);
    while tokio::time::Instant::now() < until {
        tick.tick().await;
        echo(s, port).await;
    }
}

/// Waits until the server ends the session; returns how.
async fn cut(s: &mut Subscriber) -> l2tpagg::loadgen::Cause {
    match tokio::time::timeout(T, s.wait_down()).await {
        Ok(Ok(DownOutcome::Dropped(cause))) => cause,
        other => panic!(
            "{}: expected the server to cut the session, got {other:?}",
            s.name()
        ),
    }
}

/// The subscriber heard LCP Terminate-Request before the CDN, and the CDN said why.
fn assert_terminated(cause: &l2tpagg::loadgen::Cause, condition: &str) {
    assert_eq!(cause.kind, CauseKind::PeerTerminated, "{cause:?}");
    assert!(
        cause.detail.contains("automatic disconnect") && cause.detail.contains(condition),
        "{cause:?}"
    );
}

/// The one log line of a cut.
fn automatic(d: &Daemon, role: &str, subscriber: &str) -> Value {
    d.wait_event("automatic disconnect", T, |e| {
        e["fields"]["role"] == role && e["fields"]["subscriber"] == subscriber
    })["fields"]
        .clone()
}

/// Seconds of a "1.234s" measure.
fn seconds(v: &Value) -> f64 {
    v.as_str()
        .and_then(|s| s.strip_suffix('s'))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not a time measure: {v}"))
}

#[test]
fn the_lac_cuts_for_session_time_idle_volume_and_application_timeout() {
    let net = topology("dab");
    let extra = r#"
[[disconnect.profiles]]
name = "short"
session_time = "2s"
[[disconnect.profiles]]
name = "idle"
idle = { time = "2s" }
[[disconnect.profiles]]
name = "volume"
volume = { from_subscriber_packets = 5 }
[[disconnect.profiles]]
name = "app"
app_timeout = { guard = "1s" }
[[subscriber_range]]
prefix = "time"
count = 1
secret = "pw"
disconnect_profile = "short"
[[subscriber_range]]
prefix = "idle"
count = 1
secret = "pw"
disconnect_profile = "idle"
[[subscriber_range]]
prefix = "vol"
count = 1
secret = "pw"
disconnect_profile = "volume"
[[subscriber_range]]
prefix = "app"
count = 1
secret = "pw"
disconnect_profile = "app"
"#;
    let daemon = Daemon::start("dab", Some(net.conc.name()), &config("30s", extra));
    let echo_running = echo_server(&net.srv);

    net.sub
        .block_on(|| async {
            let d = dialer("10.1.0.1:1702").await;

            // A: cut when the session time is reached, not before.
            let started = Instant::now();
            let mut time1 = dial(&d, "time1").await;
            assert_terminated(&cut(&mut time1).await, "session-time");
            assert!(started.elapsed() >= Duration::from_secs(2));
            let f = automatic(&daemon, "lac", "time1");
            assert_eq!(f["condition"], "session-time");
            assert_eq!(f["acct_terminate_cause"], "Session-Timeout");
            assert_eq!(f["acct_terminate_cause_value"], 5);
            assert!(seconds(&f["measured"]) >= 2.0, "{f}");
            assert_eq!(seconds(&f["limit"]), 2.0);

            // B: traffic for longer than the limit keeps the session; silence cuts it.
            let mut idle1 = dial(&d, "idle1").await;
            busy_for(&mut idle1, Duration::from_secs(3), 40001).await;
            assert!(idle1.down().is_none());
            let quiet_since = Instant::now();
            assert_terminated(&cut(&mut idle1).await, "idle");
            assert!(quiet_since.elapsed() >= Duration::from_millis(1900));
            let f = automatic(&daemon, "lac", "idle1");
            assert_eq!(f["condition"], "idle");
            assert_eq!(f["acct_terminate_cause"], "Idle-Timeout");
            assert!(seconds(&f["measured"]) >= 2.0, "{f}");
            assert_eq!(seconds(&f["limit"]), 2.0);

            // C: the sixth packet from the subscriber goes over the limit of five.
            let vol1 = dial(&d, "vol1").await;
            let mut vol1 = vol1;
            for i in 0..6u16 {
                let p = udp_packet(vol1.address(), 40100 + i, SERVER, 9, b"x");
                vol1.send_ip(&p).await.unwrap();
            }
            assert_terminated(&cut(&mut vol1).await, "volume");
            let f = automatic(&daemon, "lac", "vol1");
            assert_eq!(f["condition"], "volume");
            assert_eq!(f["acct_terminate_cause"], "NAS-Request");
            assert_eq!(f["measured"], "6 packets");
            assert_eq!(f["limit"], "5 packets");

            // F: echo traffic with the service keeps the session; after the last packet it is
            // cut a guard (1 s) before the server's own timeout (3 s), i.e. 2 s later.
            let mut app1 = dial(&d, "app1").await;
            busy_for(&mut app1, Duration::from_secs(3), 40002).await;
            assert!(app1.down().is_none(), "service traffic keeps F from firing");
            let last = Instant::now();
            assert_terminated(&cut(&mut app1).await, "app-timeout");
            let after = last.elapsed();
            assert!(
                after >= Duration::from_millis(1900) && after < Duration::from_secs(3),
                "cut {after:?} after the last service packet"
            );
            let f = automatic(&daemon, "lac", "app1");
            assert_eq!(f["condition"], "app-timeout");
            assert_eq!(f["acct_terminate_cause"], "Idle-Timeout");
            let idle = seconds(&f["measured"]);
            assert!((2.0..3.0).contains(&idle), "{f}");
            assert_eq!(
                seconds(&f["limit"]),
                2.0,
                "server timeout 3 s minus guard 1 s"
            );
            assert!(
                f["detail"].as_str().unwrap().contains("service echo"),
                "{f}"
            );

            d.close().await.expect("dialer closes");
        })
        .unwrap();
    echo_running.stop();

    // The LNS saw the CDN with our cause and did not cut anything itself.
    assert!(
        daemon
            .events("automatic disconnect")
            .iter()
            .all(|e| e["fields"]["role"] == "lac"),
        "the LNS does not enforce again what an l2tpagg LAC enforces"
    );
    for name in ["time1", "idle1", "vol1", "app1"] {
        let down = daemon.wait_event("session down", T, |e| {
            e["fields"]["role"] == "lac" && e["fields"]["subscriber"] == name
        });
        assert!(
            down["fields"]["acct_terminate_cause"].is_string(),
            "the end cause reaches the session-end path: {down}"
        );
        daemon.wait_event("session down", T, |e| {
            e["fields"]["role"] == "lns"
                && e["fields"]["subscriber"] == name
                && e["fields"]["acct_terminate_cause"].is_string()
        });
    }
    let status = daemon.ctl_json(&["status"]);
    for (k, n) in [
        ("disconnect.session-time", 1),
        ("disconnect.idle", 1),
        ("disconnect.volume", 1),
        ("disconnect.app-timeout", 1),
    ] {
        assert_eq!(status["malformed"][k], n, "{status}");
    }
}

#[test]
fn simultaneous_logins_cut_the_earliest_or_by_order_or_refuse() {
    let net = topology("dd");
    let extra = r#"
[[disconnect.profiles]]
name = "one"
logins = { per_subscriber = 1 }
[[disconnect.profiles]]
name = "refuse"
logins = { per_subscriber = 1, policy = "refuse" }
[[disconnect.profiles]]
name = "ap"
logins = { per_access_point = 2, victim = "order" }
[[subscriber]]
name = "dup"
secret = "pw"
disconnect_profile = "one"
[[subscriber]]
name = "nodup"
secret = "pw"
disconnect_profile = "refuse"
[[subscriber]]
name = "gold"
secret = "pw"
disconnect_profile = "ap"
disconnect_order = 50
[[subscriber]]
name = "bronze"
secret = "pw"
disconnect_profile = "ap"
disconnect_order = 10
[[subscriber]]
name = "silver"
secret = "pw"
disconnect_profile = "ap"
disconnect_order = 30
[[subscriber]]
name = "tin"
secret = "pw"
disconnect_profile = "ap"
disconnect_order = 5
"#;
    let daemon = Daemon::start("dd", Some(net.conc.name()), &config("30s", extra));

    net.sub
        .block_on(|| async {
            let d = dialer("10.1.0.1:1702").await;

            // Cut the earliest: the second login of "dup" ends the first.
            let mut first = dial(&d, "dup").await;
            let second = dial(&d, "dup").await;
            assert_terminated(&cut(&mut first).await, "logins");
            let f = automatic(&daemon, "lac", "dup");
            assert_eq!(f["condition"], "logins");
            assert_eq!(f["acct_terminate_cause"], "Port-Preempted");
            assert_eq!(
                (f["measured"].as_str(), f["limit"].as_str()),
                (Some("2 sessions"), Some("1 sessions"))
            );
            assert!(second.down().is_none());

            // Refuse: the second login of "nodup" fails, the first stays.
            let kept = dial(&d, "nodup").await;
            match d.dial(Credentials::new("nodup", "pw")).await {
                Err(DialError::Failed(c)) => {
                    assert!(
                        matches!(c.kind, CauseKind::AuthFailed | CauseKind::SessionClosed),
                        "{c:?}"
                    );
                }
                other => panic!("the second login must be refused: {other:?}"),
            }
            let refused =
                daemon.wait_event("login refused", T, |e| e["fields"]["subscriber"] == "nodup");
            assert!(
                refused["fields"]["reason"]
                    .as_str()
                    .unwrap()
                    .contains("per subscriber")
            );
            assert!(kept.down().is_none());

            // Per access point (all subscribers of the dial-in peer "cpe"), cut by order: start
            // from an empty access point.
            assert!(matches!(second.logout().await, Ok(DownOutcome::LoggedOut)));
            assert!(matches!(kept.logout().await, Ok(DownOutcome::LoggedOut)));
            daemon.wait_rows(&["sessions"], T, |r| r.is_empty());
            let gold = dial(&d, "gold").await;
            let mut bronze = dial(&d, "bronze").await;
            // Two sessions, the limit: silver's login cuts the lowest disconnect_order (bronze).
            let silver = dial(&d, "silver").await;
            assert_terminated(&cut(&mut bronze).await, "logins");
            let f = automatic(&daemon, "lac", "bronze");
            assert_eq!(f["acct_terminate_cause"], "Port-Preempted");
            assert!(
                f["detail"].as_str().unwrap().contains("per access-point"),
                "{f}"
            );
            // A login that itself ranks first (order 5, below gold's 50 and silver's 30) is
            // refused rather than cutting a session ranked after it.
            assert!(matches!(
                d.dial(Credentials::new("tin", "pw")).await,
                Err(DialError::Failed(_))
            ));
            daemon.wait_event("login refused", T, |e| e["fields"]["subscriber"] == "tin");
            assert!(gold.down().is_none() && silver.down().is_none());
            d.close().await.expect("dialer closes");
        })
        .unwrap();
    drop(daemon);
}

/// The value of a `ctl status` counter (0 when absent).
fn status_counter(d: &Daemon, key: &str) -> u64 {
    d.ctl_json(&["status"])["malformed"][key]
        .as_u64()
        .unwrap_or(0)
}

#[test]
fn a_subscriber_cut_for_idleness_resumes_with_its_address_and_the_packets_it_missed() {
    let net = topology("drs");
    let extra = r#"
[[disconnect.profiles]]
name = "idle"
idle = { time = "2s" }
[[subscriber_range]]
prefix = "r"
count = 2
secret = "pw"
disconnect_profile = "idle"
"#;
    let daemon = Daemon::start("drs", Some(net.conc.name()), &config("4s", extra));
    let server = server_socket(&net.srv, 7777);

    net.sub
        .block_on(|| async {
            let d = dialer("10.1.0.1:1702").await;
            let mut r1 = dial(&d, "r1").await;
            let address = r1.address();
            assert_terminated(&cut(&mut r1).await, "idle");
            let held = daemon.wait_event("address held for a resume", T, |e| {
                e["fields"]["subscriber"] == "r1"
            });
            assert_eq!(held["fields"]["address"], address.to_string());

            // While r1 is away the server sends it a datagram: the LNS keeps it.
            server
                .send_to(b"while you were away", (address, 40000))
                .unwrap();
            support::wait_for(T, || {
                (status_counter(&daemon, "resume.buffered_packets") == 1).then_some(())
            })
            .expect("the packet is buffered for r1");

            // r1 comes back within the grace: same address, and the datagram first.
            let mut again = dial(&d, "r1").await;
            assert_eq!(again.address(), address, "the held address comes back");
            let held = recv_udp(&mut again, SERVER, T, "the held packet arrives").await;
            assert_eq!(held, b"while you were away");
            daemon.wait_event("resumed: same address, buffered packets first", T, |e| {
                e["fields"]["subscriber"] == "r1" && e["fields"]["buffered_packets"] == 1
            });

            // Cut again and never back: at the end of the grace the packet sent meanwhile is
            // dropped and counted, and the address goes back to the pool.
            assert_terminated(&cut(&mut again).await, "idle");
            support::wait_for(T, || {
                (daemon.events("address held for a resume").len() == 2).then_some(())
            })
            .expect("held again");
            server.send_to(b"nobody home", (address, 40000)).unwrap();
            let ended = daemon.wait_event("resume hold ended; address back in the pool", T, |e| {
                e["fields"]["subscriber"] == "r1"
            });
            assert_eq!(ended["fields"]["dropped_packets"], 1, "{ended}");
            assert_eq!(status_counter(&daemon, "resume.expired_holds"), 1);
            assert_eq!(status_counter(&daemon, "resume.expired_packets"), 1);
            assert_eq!(status_counter(&daemon, "resume.held_addresses"), 0);
            d.close().await.expect("dialer closes");
        })
        .unwrap();
}

#[test]
fn the_lns_enforces_conditions_for_a_foreign_lac_and_holds_the_address() {
    let net = topology("dln");
    let extra = r#"
[[disconnect.profiles]]
name = "short"
session_time = "2s"
[[subscriber_range]]
prefix = "lt"
count = 1
secret = "pw"
disconnect_profile = "short"
"#;
    let daemon = Daemon::start("dln", Some(net.conc.name()), &config("30s", extra));
    net.sub
        .block_on(|| async {
            // The load generator is a LAC without our Capability AVP, dialling the LNS itself.
            let d = dialer("10.1.0.1:1701").await;
            let started = Instant::now();
            let mut lt1 = dial(&d, "lt1").await;
            let address = lt1.address();
            let cause = cut(&mut lt1).await;
            assert_eq!(
                cause.kind,
                CauseKind::PeerTerminated,
                "LCP Terminate first: {cause:?}"
            );
            assert!(cause.detail.contains("automatic disconnect"), "{cause:?}");
            assert!(started.elapsed() >= Duration::from_secs(2));
            let f = automatic(&daemon, "lns", "lt1");
            assert_eq!(f["condition"], "session-time");
            assert_eq!(f["acct_terminate_cause"], "Session-Timeout");
            assert!(seconds(&f["measured"]) >= 2.0, "{f}");
            let held = daemon.wait_event("address held for a resume", T, |e| {
                e["fields"]["subscriber"] == "lt1"
            });
            assert_eq!(held["fields"]["address"], address.to_string());
            daemon.wait_event("session down", T, |e| {
                e["fields"]["role"] == "lns"
                    && e["fields"]["subscriber"] == "lt1"
                    && e["fields"]["acct_terminate_cause"] == "Session-Timeout"
            });
            d.close().await.expect("dialer closes");
        })
        .unwrap();
}

#[test]
fn a_reload_applies_changed_conditions_to_live_sessions() {
    let net = topology("drl");
    let profile = |idle: &str| {
        format!(
            "[[disconnect.profiles]]\nname = \"p\"\n{idle}\n\
             [[subscriber_range]]\nprefix = \"z\"\ncount = 2\nsecret = \"pw\"\n\
             disconnect_profile = \"p\"\n"
        )
    };
    // Before: a session time of an hour. After: idle two seconds for everyone on the profile.
    let before = config("30s", &profile("session_time = \"1h\""));
    let after = config(
        "30s",
        &profile("session_time = \"1h\"\nidle = { time = \"2s\" }"),
    );
    let daemon = Daemon::start("drl", Some(net.conc.name()), &before);
    let echo_running = echo_server(&net.srv);
    net.sub
        .block_on(|| async {
            let d = dialer("10.1.0.1:1702").await;
            let mut z1 = dial(&d, "z1").await;
            busy_for(&mut z1, Duration::from_millis(500), 40003).await;
            daemon.write_config(&after);
            let out = daemon.ctl(&["reload"]);
            assert!(out.status.success(), "{out:?}");
            daemon.wait_event("disconnect conditions of live sessions updated", T, |e| {
                e["fields"]["sessions"] == 1
            });
            assert_terminated(&cut(&mut z1).await, "idle");
            let f = automatic(&daemon, "lac", "z1");
            assert_eq!(f["acct_terminate_cause"], "Idle-Timeout");
            d.close().await.expect("dialer closes");
        })
        .unwrap();
    echo_running.stop();
}

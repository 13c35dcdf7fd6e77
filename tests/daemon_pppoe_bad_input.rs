//! Bad PPPoE input against a running daemon (PPPoE front-end, LAC and LNS in one process, in a
//! network namespace the test creates, fed over a veth pair): malformed Discovery headers and
//! tags, PADRs without a valid AC-Cookie (none, forged, or replayed from another MAC), a PADI
//! flood from random MACs, Session-stage frames for unknown session IDs, for a live session from
//! another MAC, with a broken header, and PADTs that are not the subscriber's. Nothing crashes,
//! everything is counted (visible in `ctl status`) and logged rate-limited, the flood leaves no
//! state behind (no session, no growth of the daemon's memory, one PADO at most per PADI),
//! unknown sessions are answered with PADTs at the configured rate only, and a legitimate
//! subscriber keeps its session and its traffic while another logs in. Needs root.

mod support;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use l2tpagg::loadgen::pppoe_core::subscriber_mac;
use l2tpagg::loadgen::{Credentials, Dialer, DialerOptions, Subscriber};
use l2tpagg::runtime::packet::{MacAddr, PacketSocket, ethertype};
use serde_json::Value;
use support::pppoe::{
    AC_COOKIE, AC_MAC, HOST_UNIQ, PADI, PADO, PADR, PADS, PADT, SERVICE_NAME, discovery,
    recv_matching, tag,
};
use support::topology::{Access, AccessPair};
use support::{Daemon, daemon_section};

const T: Duration = Duration::from_secs(15);
/// Answers to unknown sessions allowed per second (`lac.pppoe.unknown_session_padt_per_second`).
const PADT_RATE: u64 = 5;

fn config(interface: &str) -> String {
    format!(
        "{daemon}\n\
         [lns]\nlisten = [\"127.0.0.1:1701\"]\nlocal_address = \"100.64.0.1\"\n\
         [lns.tun]\nname = \"l2tpq0\"\n\
         [[lns.peers]]\nname = \"self\"\naddress = \"127.0.0.1\"\n\
         [[lns.pools]]\nname = \"subs\"\nranges = [\"100.64.1.0/24\"]\ndefault = true\n\
         [lac]\n\
         [[lac.lines]]\nname = \"lo\"\nbind = \"127.0.0.1\"\ncapacity = \"1G\"\n\
         [[lac.peers]]\nname = \"lns\"\naddress = \"127.0.0.1:1701\"\nrealms = [\"*\"]\n\
         [lac.pppoe]\ninterfaces = [\"{interface}\"]\n\
         unknown_session_padt_per_second = {PADT_RATE}\n\
         [[subscriber_range]]\nprefix = \"user\"\nfirst = 1\ncount = 10\nsecret = \"demo\"\n",
        daemon = daemon_section(std::path::Path::new("{dir}")),
    )
}

fn counter(status: &Value, name: &str) -> u64 {
    status["malformed"][name].as_u64().unwrap_or(0)
}

/// A PPPoE Session payload carrying `ppp`.
fn session(session: u16, ppp: &[u8]) -> Vec<u8> {
    let mut p = vec![0x11, 0x00];
    p.extend_from_slice(&session.to_be_bytes());
    p.extend_from_slice(&(ppp.len() as u16).to_be_bytes());
    p.extend_from_slice(ppp);
    p
}

/// A locally administered unicast MAC from a counter (never one of the emulator's 02:4c:47:…).
fn random_mac(n: u32) -> MacAddr {
    let b = n.to_be_bytes();
    MacAddr([0x06, 0xee, b[0], b[1], b[2], b[3]])
}

/// Sends, yielding while the socket buffer is full.
async fn send(socket: &PacketSocket, src: MacAddr, dst: MacAddr, payload: &[u8]) {
    socket
        .send_from(src, dst, payload)
        .await
        .expect("send on the veth");
}

/// A PADI from each of the random MACs numbered `macs` (its number as Host-Uniq), in turn.
async fn padi_from_random_macs(socket: &PacketSocket, macs: std::ops::Range<u32>) {
    for n in macs {
        let padi = discovery(
            PADI,
            0,
            &[(SERVICE_NAME, b""), (HOST_UNIQ, &n.to_be_bytes())],
        );
        send(socket, random_mac(n), MacAddr::BROADCAST, &padi).await;
    }
}

/// Every frame waiting on `socket`: (destination, payload).
fn drain(socket: &PacketSocket) -> Vec<(MacAddr, Vec<u8>)> {
    let mut buf = vec![0u8; 2048];
    let mut out = Vec::new();
    while let Ok(meta) = socket.try_recv(&mut buf) {
        out.push((meta.destination, buf[..meta.len].to_vec()));
    }
    out
}

/// The daemon's resident memory in KiB.
fn rss_kib(daemon: &Daemon) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", daemon.pid())).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// Pings the LNS's own address through the subscriber's session and waits for the reply.
async fn ping(sub: &mut Subscriber, seq: u16) {
    let lns = std::net::Ipv4Addr::new(100, 64, 0, 1);
    support::traffic::ping(sub, lns, 0x7070, seq, b"still here", T).await;
}

#[test]
fn bad_pppoe_input_is_counted_bounded_and_harmless() {
    let AccessPair {
        sub,
        conc,
        sub_if,
        conc_if,
    } = AccessPair::new("ppbad", Access::Ethernet { conc_mac: AC_MAC });
    let daemon = Daemon::start("conc", Some(conc.name()), &config(&conc_if));
    let ac: MacAddr = AC_MAC.parse().unwrap();
    sub.block_on(|| async {
        let mut options = DialerOptions::pppoe(&sub_if);
        options.setup_timeout = T;
        let dialer = Dialer::start(options).await.expect("dialer");
        let mut legit = dialer
            .dial(Credentials::new("user1", "demo").with_number(1))
            .await
            .expect("a legitimate subscriber logs in");
        ping(&mut legit, 1).await;
        let row = daemon
            .rows(&["sessions"])
            .into_iter()
            .find(|r| r["role"] == "lac")
            .expect("the LAC row");
        let legit_id: u16 = row["access"]
            .as_str()
            .and_then(|a| a.rsplit(' ').next())
            .and_then(|n| n.parse().ok())
            .expect("PPPoE session ID");

        let disc = PacketSocket::bind(&sub_if, ethertype::PPPOE_DISCOVERY).unwrap();
        let sess = PacketSocket::bind(&sub_if, ethertype::PPPOE_SESSION).unwrap();
        let attacker = random_mac(0xdead);
        let before = daemon.ctl_json(&["status"]);

        // Malformed Discovery frames, one of each.
        let mut bad_version = discovery(PADI, 0, &[(SERVICE_NAME, b"")]);
        bad_version[0] = 0x21;
        let mut tag_past_end = discovery(PADI, 0, &[(SERVICE_NAME, b"")]);
        tag_past_end[9] = 0x40; // the Service-Name claims 64 octets
        let malformed: Vec<(MacAddr, Vec<u8>)> = vec![
            (attacker, bad_version),
            (attacker, tag_past_end),
            (attacker, vec![0x11, PADI, 0]), // truncated header
            (
                attacker,
                discovery(PADI, 0, &[(SERVICE_NAME, b""), (SERVICE_NAME, b"x")]),
            ),
            (attacker, discovery(PADI, 7, &[(SERVICE_NAME, b"")])),
            (attacker, discovery(PADO, 0, &[(SERVICE_NAME, b"")])),
            (
                MacAddr([0x03, 0, 0, 0, 0, 1]), // a group address as source
                discovery(PADI, 0, &[(SERVICE_NAME, b"")]),
            ),
        ];
        for (src, p) in &malformed {
            send(&disc, *src, MacAddr::BROADCAST, p).await;
        }

        // PADRs without a valid cookie: none, forged, and one replayed from another MAC.
        send(
            &disc,
            attacker,
            ac,
            &discovery(PADR, 0, &[(SERVICE_NAME, b"")]),
        )
        .await;
        send(
            &disc,
            attacker,
            ac,
            &discovery(PADR, 0, &[(SERVICE_NAME, b""), (AC_COOKIE, &[0x5a; 24])]),
        )
        .await;
        let victim = random_mac(0xbeef);
        send(
            &disc,
            victim,
            MacAddr::BROADCAST,
            &discovery(PADI, 0, &[(SERVICE_NAME, b""), (HOST_UNIQ, b"v")]),
        )
        .await;
        let pado = recv_matching(&disc, T, |dst, p| dst == victim && p[1] == PADO)
            .await
            .expect("a PADO for a well-formed PADI");
        let cookie = tag(&pado, AC_COOKIE).expect("the PADO carries an AC-Cookie");
        send(
            &disc,
            attacker,
            ac,
            &discovery(PADR, 0, &[(SERVICE_NAME, b""), (AC_COOKIE, &cookie)]),
        )
        .await;

        let status = support::wait_for(T, || {
            let s = daemon.ctl_json(&["status"]);
            (counter(&s, "pppoe.cookie_invalid") == 2).then_some(s)
        })
        .unwrap_or_else(|| panic!("{}", daemon.ctl_json(&["status"])));
        for (name, n) in [
            ("pppoe.malformed_header", 2),
            ("pppoe.malformed_tag", 1),
            ("pppoe.service_name_count", 1),
            ("pppoe.discovery_session_id_not_zero", 1),
            ("pppoe.unexpected_code", 1),
            ("pppoe.bad_source_mac", 1),
            ("pppoe.cookie_missing", 1),
            ("pppoe.cookie_invalid", 2),
        ] {
            assert_eq!(counter(&status, name), n, "{name}: {status}");
        }
        // None of the refused PADRs got a session, nor any of the malformed frames an answer.
        assert!(
            drain(&disc)
                .iter()
                .all(|(dst, p)| *dst != attacker || p[1] != PADS),
            "a PADS for a cookie-less PADR"
        );
        assert_eq!(status["sessions"], before["sessions"], "{status}");

        // A PADI flood from random MACs: each costs one PADO at most and leaves nothing.
        // Warm the allocator first so the measurement sees growth, not first use.
        padi_from_random_macs(&disc, 0..2_000).await;
        // Let the warm-up's answers come back before measuring.
        count_pados(&disc, Duration::from_millis(500)).await;
        let rss_before = rss_kib(&daemon);
        const FLOOD: u32 = 50_000;
        let started = Instant::now();
        padi_from_random_macs(&disc, 10_000..10_000 + FLOOD).await;
        let flood_time = started.elapsed();
        // Let the daemon take what the kernel queued, then count the PADOs that came back.
        let answered = count_pados(&disc, Duration::from_millis(1000)).await;
        let pado_count: u32 = answered.values().sum();
        let status = daemon.ctl_json(&["status"]);
        let rss_after = rss_kib(&daemon);
        println!(
            "PADI flood: {FLOOD} sent in {flood_time:?}, {pado_count} PADOs back, shed {}, \
             RSS {rss_before} KiB -> {rss_after} KiB",
            counter(&status, "actor.shed")
        );
        assert!(pado_count <= FLOOD + 10, "more PADOs than PADIs");
        assert!(
            answered.values().all(|n| *n == 1),
            "a MAC got two PADOs for one PADI"
        );
        assert_eq!(status["sessions"], before["sessions"], "{status}");
        assert!(
            rss_after < rss_before + 2 * 1024,
            "memory grew from {rss_before} KiB to {rss_after} KiB under a PADI flood"
        );

        // Session-stage frames for unknown sessions: counted, answered with a PADT at the
        // configured rate only.
        let configure_request = [0xc0, 0x21, 0x01, 0x01, 0x00, 0x04];
        let unknown_before = counter(&daemon.ctl_json(&["status"]), "data.pppoe_unknown_session");
        let _ = drain(&disc);
        let started = Instant::now();
        const UNKNOWN: u32 = 5_000;
        let mut sent = 0;
        for n in 0..UNKNOWN {
            let id = (n % 0xfff0) as u16 + 1;
            if id == legit_id {
                continue;
            }
            send(&sess, random_mac(n), ac, &session(id, &configure_request)).await;
            sent += 1;
        }
        // Another MAC on the legitimate session ID, and a Session frame with a bad header.
        send(&sess, attacker, ac, &session(legit_id, &configure_request)).await;
        let mut broken = session(legit_id, &configure_request);
        broken[0] = 0x12;
        send(&sess, MacAddr(subscriber_mac(1).0), ac, &broken).await;
        // PADTs that are not the subscriber's: another MAC's, and an unknown session's.
        send(&disc, attacker, ac, &discovery(PADT, legit_id, &[])).await;
        send(
            &disc,
            attacker,
            ac,
            &discovery(PADT, legit_id ^ 0x8000, &[]),
        )
        .await;

        let status = support::wait_for(T, || {
            let s = daemon.ctl_json(&["status"]);
            (counter(&s, "data.pppoe_unknown_session") == unknown_before + sent
                && counter(&s, "pppoe.padt_unknown_session") == 1)
                .then_some(s)
        })
        .unwrap_or_else(|| panic!("{}", daemon.ctl_json(&["status"])));
        let elapsed = started.elapsed();
        assert_eq!(counter(&status, "data.pppoe_wrong_peer_mac"), 1, "{status}");
        assert_eq!(
            counter(&status, "data.pppoe_malformed_session_frame"),
            1,
            "{status}"
        );
        assert_eq!(counter(&status, "pppoe.padt_peer_mismatch"), 1, "{status}");
        let padts = drain(&disc)
            .iter()
            .filter(|(dst, p)| p[1] == PADT && dst.0[..2] == [0x06, 0xee] && *dst != attacker)
            .count() as u64;
        let bound = PADT_RATE * (elapsed.as_secs() + 2);
        assert!(
            (1..=bound).contains(&padts),
            "{padts} PADTs for {sent} unknown-session frames in {elapsed:?} (bound {bound})"
        );

        // Logged, but rate-limited: at most 10 lines per kind per second plus summaries.
        let lines = daemon
            .log_events()
            .into_iter()
            .filter(|e| e["fields"]["kind"] == "data.pppoe_unknown_session")
            .count();
        assert!(
            (1..=60).contains(&lines),
            "{lines} log lines for {sent} unknown-session frames"
        );

        // The legitimate subscriber is unaffected, and another one logs in.
        ping(&mut legit, 2).await;
        let rows = daemon.rows(&["sessions"]);
        assert!(
            rows.iter()
                .filter(|r| r["subscriber"] == "user1" && r["state"] == "established")
                .count()
                == 2,
            "{rows:?}"
        );
        let mut second = dialer
            .dial(Credentials::new("user2", "demo").with_number(2))
            .await
            .expect("a second subscriber logs in after the floods");
        ping(&mut second, 1).await;
        let _ = dialer.close().await;
    })
    .unwrap();
    let mut daemon = daemon;
    daemon.signal("TERM");
    assert!(daemon.wait_exit(Duration::from_secs(10)).success());
}

/// PADOs received until `quiet` passes without any frame, by destination MAC.
async fn count_pados(socket: &PacketSocket, quiet: Duration) -> HashMap<[u8; 6], u32> {
    let mut answered: HashMap<[u8; 6], u32> = HashMap::new();
    let mut buf = vec![0u8; 2048];
    while let Ok(Ok(meta)) = tokio::time::timeout(quiet, socket.recv(&mut buf)).await {
        if buf[1] == PADO {
            *answered.entry(meta.destination.0).or_default() += 1;
        }
    }
    answered
}

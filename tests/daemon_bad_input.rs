//! Bad input against a running daemon (LAC, dial-in front-end and LNS in one process, in a network
//! namespace the test creates): truncated headers, bad versions and lengths, unknown tunnel IDs
//! and a flood of SCCRQs from an address that is not allowed, on both listening ports; then bad
//! PPP from a subscriber: garbage, truncated options, a CHAP response for another identifier and a
//! Configure-Request flood. Nothing crashes, everything is counted (visible in `ctl status`) and
//! logged rate-limited, and legitimate subscribers are unaffected. Needs root (the namespace).

mod support;

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::Duration;

use l2tpagg::l2tp::{Endpoint, EndpointConfig, PolicyDecision, TunnelConfig, TunnelRequest};
use l2tpagg::ppp::chap_md5_response;
use support::{Auth, Daemon, DialinClient, daemon_section, netns};

const T: Duration = Duration::from_secs(15);

fn config() -> String {
    format!(
        "{daemon}\n\
         [lns]\nlisten = [\"127.0.0.1:1701\"]\nlocal_address = \"100.64.0.1\"\n\
         [lns.tun]\nname = \"l2tpb0\"\nmanage_routes = false\n\
         [[lns.peers]]\nname = \"self\"\naddress = \"127.0.0.1\"\n\
         [[lns.pools]]\nname = \"subs\"\nranges = [\"100.64.1.0/24\"]\ndefault = true\n\
         [lac]\n\
         [[lac.lines]]\nname = \"lo\"\nbind = \"127.0.0.1\"\ncapacity = \"10G\"\n\
         [[lac.peers]]\nname = \"lns\"\naddress = \"127.0.0.1:1701\"\nrealms = [\"*\"]\n\
         [lac.dialin]\nlisten = [\"127.0.0.1:1702\"]\n\
         [[lac.dialin.peers]]\nname = \"cpe\"\naddress = \"127.0.0.1\"\n\
         [[subscriber_range]]\nprefix = \"user\"\nfirst = 1\ncount = 10\nsecret = \"demo\"\n",
        daemon = daemon_section(std::path::Path::new("{dir}")),
    )
}

fn counter(d: &Daemon, name: &str) -> u64 {
    d.ctl_json(&["status"])["malformed"][name]
        .as_u64()
        .unwrap_or(0)
}

/// SCCRQs as a real LAC would send them, one per tunnel, from `from`.
fn sccrqs(from: SocketAddr, to: SocketAddr, n: usize) -> Vec<Vec<u8>> {
    let now = std::time::Instant::now();
    let mut ep = Endpoint::new(
        EndpointConfig { max_tunnels: n + 1 },
        |_: &TunnelRequest<'_>| PolicyDecision::Ignore,
        [7; 32],
    );
    let cfg = Arc::new(TunnelConfig::default());
    for _ in 0..n {
        ep.open_tunnel(now, from, to, cfg.clone()).unwrap();
    }
    std::iter::from_fn(|| ep.poll_transmit().map(|t| t.payload)).collect()
}

#[test]
fn malformed_datagrams_and_an_sccrq_flood_are_counted_and_harmless() {
    let ns = netns("badwire");
    let daemon = Daemon::start("conc", Some(ns.name()), &config());
    ns.block_on(|| async {
        let mut client = DialinClient::connect("127.0.0.1:0", "127.0.0.1:1702", T).await;
        client
            .login("user1", "demo", Auth::Chap, T)
            .await
            .expect("a legitimate subscriber logs in");
        let tunnels_before = daemon.rows(&["tunnels"]).len();

        // 127.0.0.2 is on loopback but in no allow-list.
        let attacker = UdpSocket::bind("127.0.0.2:0").unwrap();
        attacker.set_nonblocking(true).unwrap();
        let lns: SocketAddr = "127.0.0.1:1701".parse().unwrap();
        let dialin: SocketAddr = "127.0.0.1:1702".parse().unwrap();
        let malformed: Vec<Vec<u8>> = vec![
            vec![0x00],                                           // truncated flags
            vec![0xc8],                                           // truncated control flags
            vec![0xc8, 0x02, 0x00],                               // control without tunnel ID
            vec![0xc8, 0x03, 0, 12, 0, 0, 0, 0, 0, 0, 0, 0],      // version 3
            vec![0xc8, 0x01, 0, 12, 0, 0, 0, 0, 0, 0, 0, 0],      // L2F
            vec![0x40, 0x02, 0x01, 0x00, 0, 1, 0, 1, 0xff, 0x03], // data length beyond datagram
            vec![0x02, 0x02, 0, 1, 0, 1, 0x7f, 0xff, 0xff, 0x03], // offset beyond datagram
            vec![0x00, 0x02, 0x00],                               // data without tunnel ID
        ];
        for to in [lns, dialin] {
            for m in &malformed {
                attacker.send_to(m, to).unwrap();
            }
            // Unknown tunnel: a data message and a control message (ZLB) to tunnel 0x4242.
            attacker
                .send_to(
                    &[0x00, 0x02, 0x42, 0x42, 0x00, 0x01, 0xff, 0x03, 0xc0, 0x21],
                    to,
                )
                .unwrap();
            attacker
                .send_to(&[0xc8, 0x02, 0, 12, 0x42, 0x42, 0, 0, 0, 0, 0, 0], to)
                .unwrap();
        }
        // Control headers whose Length exceeds the datagram reach the endpoint and are refused.
        let flood = sccrqs(attacker.local_addr().unwrap(), lns, 300);
        for m in &flood {
            attacker.send_to(m, lns).unwrap();
        }
        let dialin_flood = sccrqs(attacker.local_addr().unwrap(), dialin, 50);
        for m in &dialin_flood {
            attacker.send_to(m, dialin).unwrap();
        }

        // Everything counted.
        let settled = support::wait_for(T, || {
            (counter(&daemon, "l2tp.lns.sccrq_not_allowed") == 300
                && counter(&daemon, "l2tp.dialin.sccrq_not_allowed") == 50)
                .then_some(())
        });
        assert!(settled.is_some(), "{}", daemon.ctl_json(&["status"]));
        let status = daemon.ctl_json(&["status"]);
        let m = &status["malformed"];
        assert_eq!(m["l2tp.malformed_header"], 2 * malformed.len(), "{m}");
        assert_eq!(m["data.unknown_session"], 2, "{m}");
        assert_eq!(m["l2tp.lns.unknown_tunnel"], 1, "{m}");
        assert_eq!(m["l2tp.dialin.unknown_tunnel"], 1, "{m}");

        // No state, no reply.
        assert_eq!(daemon.rows(&["tunnels"]).len(), tunnels_before);
        let mut buf = [0u8; 2048];
        client
            .drive_until(Duration::from_millis(300), |_| false)
            .await;
        assert!(
            attacker.recv_from(&mut buf).is_err(),
            "the flood drew a reply"
        );

        // Logged, but rate-limited: at most 10 lines per kind per second, plus a summary of
        // what was suppressed (a loaded machine may spread the flood over a few seconds).
        let lines = daemon
            .log_events()
            .into_iter()
            .filter(|e| e["fields"]["kind"] == "l2tp.lns.sccrq_not_allowed")
            .count();
        assert!(
            (1..=40).contains(&lines),
            "{lines} log lines for 300 refused SCCRQs"
        );

        // The legitimate subscriber is unaffected: still up, and another logs in.
        let sessions = daemon.rows(&["sessions"]);
        assert!(
            sessions
                .iter()
                .filter(|r| r["subscriber"] == "user1" && r["state"] == "established")
                .count()
                == 2,
            "{sessions:?}"
        );
        client
            .login("user2", "demo", Auth::Pap, T)
            .await
            .expect("a second subscriber logs in after the flood");
    })
    .unwrap();
    let mut daemon = daemon;
    daemon.signal("TERM");
    assert!(daemon.wait_exit(Duration::from_secs(15)).success());
}

/// A PPP frame as the subscriber's LAC carries it: FF 03, protocol, code, id, length, data.
fn ppp(protocol: u16, code: u8, id: u8, data: &[u8]) -> Vec<u8> {
    let mut f = vec![0xff, 0x03];
    f.extend_from_slice(&protocol.to_be_bytes());
    f.push(code);
    f.push(id);
    f.extend_from_slice(&((4 + data.len()) as u16).to_be_bytes());
    f.extend_from_slice(data);
    f
}

/// (protocol, code, id, data) of a received frame.
fn parse(f: &[u8]) -> Option<(u16, u8, u8, Vec<u8>)> {
    let f = f.strip_prefix(&[0xff, 0x03]).unwrap_or(f);
    if f.len() < 6 {
        return None;
    }
    let len = usize::from(u16::from_be_bytes([f[4], f[5]]));
    Some((
        u16::from_be_bytes([f[0], f[1]]),
        f[2],
        f[3],
        f.get(6..2 + len)?.to_vec(),
    ))
}

#[test]
fn bad_ppp_from_subscribers_never_crashes_the_daemon() {
    let ns = netns("badppp");
    let daemon = Daemon::start("conc", Some(ns.name()), &config());
    ns.block_on(|| async {
        let mut client = DialinClient::connect("127.0.0.1:0", "127.0.0.1:1702", T).await;
        let (good, _) = client
            .login("user1", "demo", Auth::Chap, T)
            .await
            .expect("a legitimate subscriber logs in");

        // Garbage, truncated options, bad lengths, unknown protocols, a Configure-Request flood.
        let s = client.dial_raw();
        assert!(client.wait_established(s, T).await);
        let mut junk: Vec<Vec<u8>> = vec![
            vec![],
            vec![0xff],
            vec![0xff, 0x03],
            vec![0xff, 0x03, 0xc0],
            vec![0xff, 0x03, 0xc0, 0x21, 0x01],
            // Configure-Request whose MRU option claims 10 octets.
            ppp(0xc021, 1, 1, &[0x01, 0x0a, 0x05]),
            // Option length 0 and 1.
            ppp(0xc021, 1, 2, &[0x05, 0x00]),
            ppp(0xc021, 1, 3, &[0x05, 0x01, 0x00]),
            // Length field larger than the frame.
            vec![0xff, 0x03, 0xc0, 0x21, 0x01, 0x04, 0x10, 0x00, 0x01],
            // Unknown LCP code, unknown protocols, IP before the network is up.
            ppp(0xc021, 0xee, 4, b"????"),
            ppp(0x1235, 1, 1, b"x"),
            ppp(0x0021, 0x45, 0, &[0; 20]),
            ppp(0xc223, 2, 9, &[16; 17]),
            ppp(0xc023, 1, 9, &[200, 1, 2]),
        ];
        for n in 0u8..=255 {
            junk.push(vec![0xff, 0x03, n, n.wrapping_mul(7), n, n, n]);
        }
        for f in &junk {
            client.send_frame(s, f).await;
        }
        for id in 0..2000u32 {
            client
                .send_frame(s, &ppp(0xc021, 1, id as u8, &[0x01, 0x04, 0x05, 0xdc]))
                .await;
        }
        client
            .drive_until(Duration::from_millis(500), |_| false)
            .await;

        // A CHAP response for another identifier is silently discarded; the right one passes.
        let c = client.dial_raw();
        assert!(client.wait_established(c, T).await);
        client.send_frame(c, &ppp(0xc021, 1, 1, &[])).await;
        let mut challenge = None;
        let mut lcp_acked = false;
        for _ in 0..50 {
            let Some(f) = client.recv_frame(c, T).await else {
                break;
            };
            match parse(&f) {
                Some((0xc021, 1, id, opts)) => {
                    // Acknowledge whatever the LAC asks (MRU, CHAP, magic number).
                    client.send_frame(c, &ppp(0xc021, 2, id, &opts)).await;
                }
                Some((0xc021, 2, 1, _)) => lcp_acked = true,
                Some((0xc223, 1, id, data)) => {
                    challenge = Some((id, data[1..1 + usize::from(data[0])].to_vec()));
                    break;
                }
                _ => {}
            }
        }
        assert!(lcp_acked, "LCP never opened on the raw session");
        let (id, value) = challenge.expect("a CHAP challenge");
        let respond = |rid: u8, digest_id: u8| {
            let mut d = vec![16];
            d.extend_from_slice(&chap_md5_response(digest_id, b"demo", &value));
            d.extend_from_slice(b"user3");
            ppp(0xc223, 2, rid, &d)
        };
        client.send_frame(c, &respond(id.wrapping_add(1), id)).await;
        client
            .drive_until(Duration::from_millis(300), |_| false)
            .await;
        assert!(
            daemon.events("login failed").is_empty(),
            "a response for another identifier was judged: {}",
            daemon.log()
        );
        client.send_frame(c, &respond(id, id)).await;
        let mut success = false;
        for _ in 0..50 {
            let Some(f) = client.recv_frame(c, T).await else {
                break;
            };
            if let Some((0xc223, 3, sid, _)) = parse(&f) {
                assert_eq!(sid, id, "CHAP Success carries the challenge's identifier");
                success = true;
                break;
            }
        }
        assert!(success, "the right CHAP response did not log user3 in");
        // The LAC handed user3 to the LNS, which took over the proxied CHAP (its IPCP is for
        // the raw client to do, which it does not).
        daemon.wait_event("session up", T, |e| {
            e["fields"]["role"] == "lac" && e["fields"]["subscriber"] == "user3"
        });

        // The daemon is alive and the first subscriber still up.
        let sessions = daemon.rows(&["sessions", "--user", "user1"]);
        assert_eq!(sessions.len(), 2, "{sessions:?}");
        assert!(client.sessions[&good].down.is_none());
        client
            .login("user2", "demo", Auth::Pap, T)
            .await
            .expect("another subscriber logs in after the bad PPP");
    })
    .unwrap();
    let mut daemon = daemon;
    daemon.signal("TERM");
    assert!(daemon.wait_exit(Duration::from_secs(15)).success());
}

//! End to end over PPPoE in network namespaces the test creates (issue 5's proof): subscribers
//! emulated by the load generator's library (`loadgen::Dialer`: a PPPoE client and a PPP client
//! per subscriber, each with its own MAC) discover our access concentrator on one end of a veth
//! pair, are authenticated by our LAC, switched into a tunnel to our LNS (same process, both
//! roles), get an address by IPCP and exchange UDP and ICMP with a server in another namespace
//! behind the LNS's TUN device; the server sees the assigned address. Then every way a PPPoE
//! session ends tears everything down: the subscriber's clean logout (LCP Terminate, then PADT),
//! a bare PADT, an LCP Terminate-Request alone, and the operator's disconnect (LCP Terminate and
//! PADT toward the subscriber); the empty tunnel closes after its linger. Needs root.
//!
//! ```text
//!  ns sub (loadgen)          ns conc (l2tpagg: PPPoE → LAC → LNS → TUN)              ns srv
//!  ps-N ──veth── pc-N (02:ac:..:01) ... 127.0.0.1:1701 ... l2tpp0 ... 10.2.0.1 ──veth── 10.2.0.2
//! ```

mod support;

use std::net::SocketAddrV4;
use std::time::Duration;

use l2tpagg::loadgen::pppoe_core::subscriber_mac;
use l2tpagg::loadgen::{AuthChoice, Credentials, Dialer, DialerOptions, DownOutcome};
use l2tpagg::runtime::packet::{MacAddr, PacketSocket, ethertype};
use serde_json::Value;
use support::configs::both_roles;
use support::pppoe::AC_MAC;
use support::topology::{Access, SERVER, Topology, udp_socket_in};
use support::traffic::{ping, udp_round_trip};
use support::{Daemon, udp_packet};

const T: Duration = Duration::from_secs(15);

fn topology(tag: &str) -> Topology {
    Topology::new(tag, Access::Ethernet { conc_mac: AC_MAC })
}

fn config(interface: &str) -> String {
    both_roles(
        "l2tpp0",
        &format!("[lac.pppoe]\ninterfaces = [\"{interface}\"]\nac_name = \"e2e-ac\"\n"),
    )
}

fn options(interface: &str) -> DialerOptions {
    let mut options = DialerOptions::pppoe(interface);
    options.setup_timeout = T;
    options.drain_timeout = Duration::from_secs(5);
    options
}

/// The LAC row of `subscriber` in `ctl sessions`.
fn lac_row(daemon: &Daemon, subscriber: &str) -> Value {
    daemon
        .rows(&["sessions"])
        .into_iter()
        .find(|r| r["role"] == "lac" && r["subscriber"] == subscriber)
        .unwrap_or_else(|| panic!("no LAC row for {subscriber}:\n{}", daemon.log()))
}

/// The PPPoE session ID from a LAC row's access ("pppoe IFACE MAC session N").
fn pppoe_session_id(row: &Value) -> u16 {
    row["access"]
        .as_str()
        .and_then(|a| a.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no PPPoE session ID in {row}"))
}

/// The emptied tunnel closed: the LAC sent StopCCN, and the LNS only lingers.
fn wait_tunnel_closed_when_empty(daemon: &Daemon) {
    daemon.wait_lac_tunnel_closed(T);
    // The LNS side only lingers to acknowledge retransmissions (RFC 2661 §5.7).
    daemon.wait_rows(&["tunnels"], T, |r| {
        r.iter().all(|t| t["state"] == "lingering")
    });
}

#[test]
fn pppoe_subscriber_reaches_a_server_behind_the_lns_and_logs_out() {
    let topo = topology("a");
    let daemon = Daemon::start("conc", Some(topo.conc.name()), &config(&topo.conc_if));
    let running = daemon.events("l2tpagg running");
    assert_eq!(
        running[0]["fields"]["roles"], "lns,lac,pppoe",
        "{running:?}"
    );
    let server = udp_socket_in(&topo.srv, SocketAddrV4::new(SERVER, 5555));
    server
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();

    topo.sub
        .block_on(|| async {
            let dialer = Dialer::start(options(&topo.sub_if)).await.expect("dialer");
            let mut subscriber = dialer
                .dial(
                    Credentials::new("user3", "demo")
                        .with_auth(AuthChoice::Chap)
                        .with_number(3),
                )
                .await
                .expect("user3 gets an address over PPPoE");
            let addr = subscriber.address();
            assert_eq!(&addr.octets()[..3], &[100, 64, 1]);

            // `ctl sessions` shows the access: PPPoE, the interface, the MAC, the session ID.
            let row = lac_row(&daemon, "user3");
            let access = row["access"].as_str().unwrap();
            let prefix = format!("pppoe {} {} session ", topo.conc_if, subscriber_mac(3));
            assert!(access.starts_with(&prefix), "{access} vs {prefix}");
            assert!(pppoe_session_id(&row) > 0);
            assert_eq!(row["state"], "established");

            // UDP both ways: the server sees the assigned address as the source.
            let from = udp_round_trip(
                &mut subscriber,
                40000,
                &server,
                b"hello over pppoe",
                b"hello from the server",
                T,
            )
            .await;

            // Full-size packets: 1492 octets of IP is the largest a PPPoE session carries
            // (RFC 2516 §7), and it crosses both ways unfragmented.
            let big = vec![0x5a; 1492 - 28];
            subscriber
                .send_ip(&udp_packet(addr, 40000, SERVER, 5555, &big))
                .await
                .unwrap();
            let mut buf = [0u8; 1500];
            let (n, _) = server.recv_from(&mut buf).expect("the full-size datagram");
            assert_eq!(n, big.len());
            server.send_to(&big, from).unwrap();
            let reply = tokio::time::timeout(T, subscriber.recv_ip())
                .await
                .expect("the full-size reply in time")
                .unwrap();
            assert_eq!(reply.len(), 1492);

            // ICMP echo: the server's kernel answers.
            ping(&mut subscriber, SERVER, 0x4242, 1, b"ping", T).await;

            // The counters moved on both roles' rows.
            let rows = daemon.rows(&["sessions"]);
            let lns_row = rows.iter().find(|r| r["role"] == "lns").expect("LNS row");
            assert_eq!(lns_row["address"], addr.to_string());
            assert!(lns_row["bytes_up"].as_u64().unwrap() > 1400, "{lns_row}");
            assert!(lns_row["bytes_down"].as_u64().unwrap() > 1400, "{lns_row}");
            let lac_row = lac_row(&daemon, "user3");
            assert!(lac_row["packets_up"].as_u64().unwrap() >= 3, "{lac_row}");
            assert!(lac_row["packets_down"].as_u64().unwrap() >= 3, "{lac_row}");

            // A clean logout: LCP Terminate, then PADT. Both sessions end, then the empty
            // tunnel closes after its linger.
            match subscriber.logout().await {
                Ok(DownOutcome::LoggedOut) => {}
                other => panic!("logout: {other:?}"),
            }
            daemon.wait_down_both_roles("user3", T);
            wait_tunnel_closed_when_empty(&daemon);
            let stats = dialer.close().await.expect("dialer closes cleanly");
            assert_eq!(stats.up, 1);
        })
        .unwrap();

    // Nothing the subscriber did was refused or malformed.
    let status = daemon.ctl_json(&["status"]);
    let malformed = status["malformed"].as_object().unwrap();
    assert!(
        malformed
            .keys()
            .all(|k| !k.starts_with("pppoe.") && !k.starts_with("data.pppoe")),
        "{status}"
    );

    let mut daemon = daemon;
    daemon.signal("TERM");
    assert!(daemon.wait_exit(Duration::from_secs(10)).success());
}

/// An LCP Terminate-Request with `session_id` from `mac`, on the subscribers' side of the veth.
fn send_lcp_terminate(interface: &str, mac: MacAddr, session_id: u16) {
    let socket = PacketSocket::bind(interface, ethertype::PPPOE_SESSION).expect("AF_PACKET");
    let mut payload = vec![0x11, 0x00];
    payload.extend_from_slice(&session_id.to_be_bytes());
    let lcp = [0xc0, 0x21, 0x05, 0x42, 0x00, 0x04];
    payload.extend_from_slice(&(lcp.len() as u16).to_be_bytes());
    payload.extend_from_slice(&lcp);
    socket
        .try_send_from(mac, AC_MAC.parse().unwrap(), &payload)
        .expect("send the Terminate-Request");
}

#[test]
fn padt_lcp_terminate_and_operator_disconnect_each_tear_everything_down() {
    let topo = topology("b");
    let daemon = Daemon::start("conc", Some(topo.conc.name()), &config(&topo.conc_if));

    topo.sub
        .block_on(|| async {
            let dialer = Dialer::start(options(&topo.sub_if)).await.expect("dialer");
            let mut subs = Vec::new();
            for n in 1..=3u64 {
                subs.push(
                    dialer
                        .dial(Credentials::new(format!("user{n}"), "demo").with_number(n))
                        .await
                        .unwrap_or_else(|e| panic!("user{n}: {e}")),
                );
            }
            let mut subs = subs.into_iter();
            let (one, mut two, mut three) = (
                subs.next().unwrap(),
                subs.next().unwrap(),
                subs.next().unwrap(),
            );

            // A bare PADT (the modem lost power): the LAC sends CDN toward the LNS.
            match one.hang_up().await {
                Ok(DownOutcome::LoggedOut) => {}
                other => panic!("hang up: {other:?}"),
            }
            let lac = daemon.wait_down_both_roles("user1", T);
            let cause = lac["fields"]["cause"].as_str().unwrap();
            assert!(cause.contains("PADT"), "{lac}");
            let lns = daemon.wait_event("session down", T, |e| {
                e["fields"]["role"] == "lns" && e["fields"]["subscriber"] == "user1"
            });
            assert!(
                lns["fields"]["cause"]
                    .as_str()
                    .unwrap()
                    .contains("SubscriberLeft"),
                "{lns}"
            );

            // An LCP Terminate-Request alone, no PADT: it is relayed to the LNS, whose PPP ends
            // the session; the LAC then sends the subscriber the PADT.
            let row = lac_row(&daemon, "user2");
            let id = pppoe_session_id(&row);
            let interface = topo.sub_if.clone();
            send_lcp_terminate(&interface, MacAddr(subscriber_mac(2).0), id);
            let lns = daemon.wait_event("session down", T, |e| {
                e["fields"]["role"] == "lns" && e["fields"]["subscriber"] == "user2"
            });
            // The LNS ended it (its PPP saw the Terminate-Request), not the LAC.
            assert!(
                lns["fields"]["cause"]
                    .as_str()
                    .unwrap()
                    .starts_with("we sent CDN"),
                "{lns}"
            );
            daemon.wait_event("session down", T, |e| {
                e["fields"]["role"] == "lac" && e["fields"]["subscriber"] == "user2"
            });
            match tokio::time::timeout(T, two.wait_down()).await {
                Ok(Ok(DownOutcome::Dropped(_))) => {}
                other => panic!("user2 after its Terminate-Request: {other:?}"),
            }

            // The operator disconnects user3 at the LAC: LCP Terminate-Request (the reason in
            // its data) and PADT reach the subscriber, CDN the LNS.
            let row = lac_row(&daemon, "user3");
            let id = pppoe_session_id(&row);
            let session = row["local_session_id"].as_u64().unwrap().to_string();
            let sniffer = PacketSocket::bind(&interface, ethertype::PPPOE_SESSION).unwrap();
            let out = daemon.ctl(&["disconnect", &session]);
            assert!(out.status.success(), "{out:?}");
            match tokio::time::timeout(T, three.wait_down()).await {
                Ok(Ok(DownOutcome::Dropped(cause))) => {
                    let text = format!("{cause:?}");
                    assert!(
                        text.contains("PeerTerminated") || text.contains("PppoeTerminated"),
                        "{text}"
                    );
                }
                other => panic!("user3 after the disconnect: {other:?}"),
            }
            let mut buf = [0u8; 1600];
            let mut terminate = None;
            while let Ok(meta) = sniffer.try_recv(&mut buf) {
                let ppp = &buf[6..meta.len];
                if meta.destination.0 == subscriber_mac(3).0
                    && buf[2..4] == id.to_be_bytes()
                    && ppp.starts_with(&[0xc0, 0x21, 0x05])
                {
                    terminate = Some(String::from_utf8_lossy(&ppp[6..]).into_owned());
                }
            }
            let reason = terminate.expect("an LCP Terminate-Request preceded the PADT");
            assert!(reason.contains("operator"), "{reason}");
            let lac = daemon.wait_down_both_roles("user3", T);
            assert!(
                lac["fields"]["cause"]
                    .as_str()
                    .unwrap()
                    .contains("operator"),
                "{lac}"
            );

            // Every session is gone and the empty tunnel closes after its linger.
            wait_tunnel_closed_when_empty(&daemon);
            let _ = dialer.close().await;
        })
        .unwrap();

    // The Terminate-Ack answering our own goodbye is expected, never counted as bad input.
    let status = daemon.ctl_json(&["status"]);
    assert!(
        status["malformed"]["data.pppoe_unknown_session"].is_null(),
        "{status}"
    );
    let mut daemon = daemon;
    daemon.signal("TERM");
    assert!(daemon.wait_exit(Duration::from_secs(10)).success());
}

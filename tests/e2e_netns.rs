//! End to end in network namespaces the test creates (issue 4's proof): a subscriber emulated by
//! the load generator's library (`loadgen::Dialer`: its own LAC and a PPP client) dials in over
//! L2TP to our LAC (dial-in front-end), is authenticated, switched into a tunnel to our LNS (same
//! process, both roles), gets an address by IPCP and exchanges UDP and ICMP with a server in
//! another namespace behind the LNS's TUN device; the server sees the subscriber's assigned
//! address. A spoofed source is dropped and counted; logging out tears everything down and the
//! empty tunnel closes after its linger. Needs root.
//!
//! ```text
//!  ns sub                ns conc (l2tpagg: dial-in → LAC → LNS → TUN)          ns srv
//!  10.1.0.2 ──veth── 10.1.0.1:1702 ... 127.0.0.1:1701 ... l2tpe0 ... 10.2.0.1 ──veth── 10.2.0.2
//! ```

mod support;

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use l2tpagg::loadgen::{AuthChoice, Credentials, DownOutcome};
use support::configs::both_roles;
use support::topology::{Access, SERVER, Topology, udp_socket_in};
use support::traffic::{ping, udp_round_trip};
use support::{Daemon, dialin_dialer, udp_packet};

const T: Duration = Duration::from_secs(15);

fn config() -> String {
    both_roles(
        "l2tpe0",
        "[lac.dialin]\nlisten = [\"10.1.0.1:1702\"]\n\
         [[lac.dialin.peers]]\nname = \"cpe\"\naddress = \"10.1.0.0/24\"\n",
    )
}

#[test]
fn subscriber_reaches_a_server_behind_the_lns_and_spoofing_is_dropped() {
    let Topology { sub, conc, srv, .. } = Topology::new("e2e", Access::Ip);

    let daemon = Daemon::start("conc", Some(conc.name()), &config());
    let routes = conc.ip(&["-4", "route", "show", "dev", "l2tpe0"]).unwrap();
    assert!(
        routes.contains("100.64.1.0/24"),
        "pool route via the TUN: {routes}"
    );

    let server = udp_socket_in(&srv, SocketAddrV4::new(SERVER, 5555));
    server
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();

    sub.block_on(|| async {
        let dialer = dialin_dialer("10.1.0.2:0", "10.1.0.1:1702", T).await;
        let mut subscriber = dialer
            .dial(Credentials::new("user3", "demo").with_auth(AuthChoice::Chap))
            .await
            .expect("user3 gets an address");
        let addr = subscriber.address();
        assert_eq!(&addr.octets()[..3], &[100, 64, 1]);

        // UDP both ways: the server sees the assigned address as the source.
        let from = udp_round_trip(
            &mut subscriber,
            40000,
            &server,
            b"hello from the subscriber",
            b"hello from the server",
            T,
        )
        .await;
        assert_eq!(from.port(), 40000);

        // ICMP echo: the server's kernel answers.
        let icmp = ping(&mut subscriber, SERVER, 0x4242, 1, b"ping", T).await;
        assert_eq!(&icmp[4..8], &[0x42, 0x42, 0, 1]);

        // A spoofed source never reaches the server and is counted.
        let spoofed = Ipv4Addr::new(100, 64, 1, 250);
        for _ in 0..3 {
            subscriber
                .send_ip(&udp_packet(spoofed, 40001, SERVER, 5555, b"spoofed"))
                .await
                .unwrap();
        }
        // A legitimate packet sent after them arrives; the spoofed ones before it did not.
        subscriber
            .send_ip(&udp_packet(addr, 40000, SERVER, 5555, b"after"))
            .await
            .unwrap();
        let mut buf = [0u8; 1500];
        let (n, from) = server
            .recv_from(&mut buf)
            .expect("the legitimate packet arrives");
        assert_eq!(
            (&buf[..n], from.ip()),
            (&b"after"[..], std::net::IpAddr::V4(addr))
        );
        let status = daemon.ctl_json(&["status"]);
        assert_eq!(status["malformed"]["data.spoofed_source"], 3, "{status}");

        // The session's counters moved on both roles' rows.
        let rows = daemon.rows(&["sessions"]);
        let lns_row = rows.iter().find(|r| r["role"] == "lns").expect("LNS row");
        assert_eq!(lns_row["address"], addr.to_string());
        assert!(lns_row["bytes_up"].as_u64().unwrap() > 0, "{lns_row}");
        assert!(lns_row["bytes_down"].as_u64().unwrap() > 0, "{lns_row}");
        let lac_row = rows.iter().find(|r| r["role"] == "lac").expect("LAC row");
        assert!(lac_row["packets_up"].as_u64().unwrap() >= 4, "{lac_row}");

        // The subscriber logs out (LCP Terminate, then CDN): both sessions end, then the empty
        // tunnel closes after its linger.
        match subscriber.logout().await {
            Ok(DownOutcome::LoggedOut) => {}
            other => panic!("logout: {other:?}"),
        }
        daemon.wait_down_both_roles("user3", T);
        daemon.wait_lac_tunnel_closed(T);
        let stats = dialer.close().await.expect("dialer closes cleanly");
        assert_eq!(stats.up, 1);
    })
    .unwrap();

    let mut daemon = daemon;
    daemon.signal("TERM");
    assert!(daemon.wait_exit(Duration::from_secs(10)).success());
    let routes = conc.ip(&["-4", "route", "show"]).unwrap();
    assert!(
        !routes.contains("100.64.1.0/24"),
        "pool route removed on exit: {routes}"
    );
}

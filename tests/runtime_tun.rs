//! TUN device in a fresh network namespace (needs root; fails loudly without it).
//!
//! The namespace is created with `ip netns add` and the code under test runs on a thread moved into
//! it with setns (`runtime::netns`), so assertions stay in this process; `ip -n` inspects the result
//! from outside. Real time is used only as a deadline for packets crossing the kernel.

use std::net::{Ipv4Addr, UdpSocket};
use std::time::Duration;

use ipnet::Ipv4Net;
use l2tpagg::runtime::netns::NamedNetns;
use l2tpagg::runtime::tun::{TunConfig, TunDevice};

fn ns(tag: &str) -> NamedNetns {
    NamedNetns::create(&format!("l2tpagg-tun-{}-{tag}", std::process::id()))
        .unwrap_or_else(|e| panic!("this test needs root and iproute2: {e}"))
}

fn ipv4_checksum(header: &[u8]) -> u16 {
    let mut sum: u32 = header
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An IPv4/UDP packet (UDP checksum 0, allowed for IPv4 by RFC 768).
fn udp_packet(src: Ipv4Addr, sport: u16, dst: Ipv4Addr, dport: u16, payload: &[u8]) -> Vec<u8> {
    let total = 20 + 8 + payload.len();
    let mut p = vec![0u8; total];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    p[8] = 64;
    p[9] = 17;
    p[12..16].copy_from_slice(&src.octets());
    p[16..20].copy_from_slice(&dst.octets());
    let csum = ipv4_checksum(&p[..20]);
    p[10..12].copy_from_slice(&csum.to_be_bytes());
    p[20..22].copy_from_slice(&sport.to_be_bytes());
    p[22..24].copy_from_slice(&dport.to_be_bytes());
    p[24..26].copy_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    p[28..].copy_from_slice(payload);
    p
}

const LOCAL: Ipv4Addr = Ipv4Addr::new(10, 200, 0, 1);
const PEER: Ipv4Addr = Ipv4Addr::new(10, 200, 0, 2);
const SUBSCRIBER: Ipv4Addr = Ipv4Addr::new(10, 201, 0, 7);

fn pool() -> Ipv4Net {
    "10.201.0.0/24".parse().unwrap()
}

#[test]
fn tun_carries_packets_both_ways_and_cleans_up_routes() {
    let ns = ns("io");
    let name = ns
        .block_on(|| async {
            let config = TunConfig {
                name: "l2tpt%d".into(),
                mtu: Some(1400),
                address: Some(LOCAL),
                peer: Some(PEER),
                prefix_len: None,
                routes: vec![pool()],
            };
            let tun = TunDevice::create(&config).expect("create TUN");
            let name = tun.name().to_owned();
            assert!(name.starts_with("l2tpt"), "kernel-chosen name {name}");
            assert_eq!(tun.routes(), vec![pool()]);

            let addr = ns.ip(&["-o", "-4", "addr", "show", "dev", &name]).unwrap();
            assert!(
                addr.contains("inet 10.200.0.1 peer 10.200.0.2/32"),
                "{addr}"
            );
            let link = ns.ip(&["-o", "link", "show", "dev", &name]).unwrap();
            assert!(link.contains("mtu 1400") && link.contains(",UP"), "{link}");
            let routes = ns.ip(&["-4", "route", "show"]).unwrap();
            assert!(
                routes.contains(&format!("10.201.0.0/24 dev {name}")),
                "{routes}"
            );

            // Kernel → code: a datagram to a subscriber address is routed into the TUN.
            let socket = UdpSocket::bind((LOCAL, 0)).unwrap();
            let local_port = socket.local_addr().unwrap().port();
            socket
                .send_to(b"hello-from-kernel", (SUBSCRIBER, 9000))
                .unwrap();
            let mut buf = vec![0u8; 2048];
            let packet = tokio::time::timeout(Duration::from_secs(5), async {
                loop {
                    let n = tun.recv(&mut buf).await.unwrap();
                    let p = &buf[..n];
                    // Skip anything else the kernel sends on a fresh link (IPv6 router solicitations).
                    if n >= 28 && p[0] >> 4 == 4 && p[9] == 17 && p[16..20] == SUBSCRIBER.octets() {
                        return p.to_vec();
                    }
                }
            })
            .await
            .expect("the kernel's datagram reached the TUN");
            assert_eq!(&packet[12..16], &LOCAL.octets());
            assert_eq!(u16::from_be_bytes([packet[22], packet[23]]), 9000);
            assert_eq!(&packet[28..], b"hello-from-kernel");

            // Code → kernel: a packet written to the TUN is delivered to the local socket.
            let reply = udp_packet(SUBSCRIBER, 9000, LOCAL, local_port, b"hello-from-code");
            assert_eq!(tun.send(&reply).await.unwrap(), reply.len());
            socket
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            let (n, from) = socket
                .recv_from(&mut buf)
                .expect("the TUN's packet reached the socket");
            assert_eq!(&buf[..n], b"hello-from-code");
            assert_eq!(from, (SUBSCRIBER, 9000).into());

            // A route this device did not install twice: the second add is refused (EEXIST).
            let err = tun.add_route(pool()).unwrap_err().to_string();
            assert!(
                err.contains("add route") && err.contains("10.201.0.0/24"),
                "{err}"
            );

            // Remove by hand, add another, then let close() remove it and take the link down.
            tun.remove_route(pool()).unwrap();
            assert!(
                !ns.ip(&["-4", "route", "show"])
                    .unwrap()
                    .contains("10.201.0.0/24")
            );
            assert!(tun.routes().is_empty());
            let extra: Ipv4Net = "10.202.0.0/16".parse().unwrap();
            tun.add_route(extra).unwrap();
            assert!(
                ns.ip(&["-4", "route", "show"])
                    .unwrap()
                    .contains("10.202.0.0/16")
            );
            tun.close().expect("clean close");
            name
        })
        .unwrap();
    let routes = ns.ip(&["-4", "route", "show"]).unwrap();
    assert!(
        !routes.contains("10.202.0.0/16"),
        "route left behind: {routes}"
    );
    assert!(
        ns.ip(&["link", "show", "dev", &name]).is_err(),
        "device {name} still exists"
    );
}

#[test]
fn tun_drop_removes_routes_and_device() {
    let ns = ns("drop");
    let name = ns
        .block_on(|| async {
            let mut config = TunConfig::named("l2tpd%d");
            config.address = Some(LOCAL);
            config.prefix_len = Some(24);
            config.routes = vec![pool()];
            let tun = TunDevice::create(&config).expect("create TUN");
            let routes = ns.ip(&["-4", "route", "show"]).unwrap();
            // prefix_len 24 gives the connected route; the pool route is ours.
            assert!(
                routes.contains(&format!("10.200.0.0/24 dev {}", tun.name())),
                "{routes}"
            );
            assert!(routes.contains("10.201.0.0/24"), "{routes}");
            tun.name().to_owned()
            // `tun` drops here.
        })
        .unwrap();
    let routes = ns.ip(&["-4", "route", "show"]).unwrap();
    assert!(routes.trim().is_empty(), "routes left after drop: {routes}");
    assert!(
        ns.ip(&["link", "show", "dev", &name]).is_err(),
        "device {name} still exists"
    );
}

#[test]
fn tun_creation_failure_names_the_step() {
    let ns = ns("fail");
    ns.block_on(|| async {
        // The kernel refuses the MTU: the error names the device and the step, and the half-made
        // device is gone afterwards.
        let mut config = TunConfig::named("l2tpf0");
        config.routes = vec!["10.203.0.0/24".parse().unwrap()];
        config.mtu = Some(10); // below the IPv4 minimum of 68: refused by the kernel
        let err = TunDevice::create(&config).unwrap_err().to_string();
        assert!(err.contains("TUN l2tpf0: set MTU"), "{err}");
    })
    .unwrap();
    assert!(
        ns.ip(&["link", "show", "dev", "l2tpf0"]).is_err(),
        "half-made device left behind"
    );
}

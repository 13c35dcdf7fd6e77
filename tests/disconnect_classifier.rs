//! The data plane's packet classifier: it never panics on any bytes, and it counts crafted IPv4,
//! UDP, TCP and ICMP packets, listed-server traffic and application services exactly.

use std::net::Ipv4Addr;
use std::time::Duration;

use l2tpagg::dataplane::classifier::{
    Ipv4Error, Ipv4Summary, PROTO_ICMP, PROTO_TCP, PROTO_UDP, ServiceId, ServiceSpec, ServiceTable,
    SharedServiceTable, count_ipv4, count_shared,
};
use l2tpagg::dataplane::counters::{Direction, SessionCounters};
use proptest::prelude::*;

const SUB: Ipv4Addr = Ipv4Addr::new(100, 64, 0, 7);
const DNS: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 53);
const WEB: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 80);
const PINGER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const OTHER: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 9);

fn table() -> ServiceTable {
    let svc = |name: &str, address, protocol, port| {
        ServiceSpec::host(name, address, protocol, port, Duration::from_secs(120))
    };
    ServiceTable::build(
        vec![
            svc("dns", DNS, PROTO_UDP, Some(53)),
            svc("web", WEB, PROTO_TCP, Some(443)),
            svc("ping", PINGER, PROTO_ICMP, None),
            svc("web-any-udp", WEB, PROTO_UDP, None),
        ],
        // Set 0: the web server; set 1: the DNS server and the web server.
        &[vec![WEB.into()], vec![DNS.into(), WEB.into()]],
        // Every service in group 0.
        &[],
    )
    .unwrap()
}

/// An IPv4 packet: `options` words of IP options, then `payload` bytes (ports first for TCP/UDP).
fn packet(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    proto: u8,
    ports: Option<(u16, u16)>,
    options: usize,
    payload: usize,
) -> Vec<u8> {
    let header = 20 + options * 4;
    let total = header + payload;
    let mut p = vec![0u8; total];
    p[0] = 0x40 | (5 + options as u8);
    p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    p[8] = 64;
    p[9] = proto;
    p[12..16].copy_from_slice(&src.octets());
    p[16..20].copy_from_slice(&dst.octets());
    for o in 0..options * 4 {
        p[20 + o] = 1; // NOP options
    }
    if let Some((s, d)) = ports {
        p[header..header + 2].copy_from_slice(&s.to_be_bytes());
        p[header + 2..header + 4].copy_from_slice(&d.to_be_bytes());
    }
    p
}

fn tracking(sets: u64) -> SessionCounters {
    let c = SessionCounters::new();
    c.set_watch(sets, 1);
    c
}

#[test]
fn udp_to_a_service_counts_everything() {
    let t = table();
    let c = tracking(0b10);
    let p = packet(SUB, DNS, PROTO_UDP, Some((40000, 53)), 0, 8 + 32);
    let class = count_ipv4(&t, &c, Direction::FromSubscriber, &p, 77).unwrap();
    assert_eq!(class.bytes, 60);
    assert!(class.listed, "DNS is in set 1, which the session follows");
    assert_eq!(class.service, Some(ServiceId(0)));
    let s = c.snapshot();
    assert_eq!(
        (
            s.from_subscriber.bytes,
            s.from_subscriber.packets,
            s.from_subscriber.last_activity
        ),
        (60, 1, 77)
    );
    assert_eq!(
        (
            s.from_subscriber.listed_bytes,
            s.from_subscriber.listed_packets
        ),
        (60, 1)
    );
    assert_eq!(s.to_subscriber, Default::default());
    assert_eq!(
        c.service_activity(t.generation()).collect::<Vec<_>>(),
        vec![(0, 77)]
    );
}

#[test]
fn tcp_from_a_server_matches_on_its_source_port() {
    let t = table();
    let c = tracking(0b01);
    let reply = packet(WEB, SUB, PROTO_TCP, Some((443, 51000)), 0, 20 + 1400);
    let class = count_ipv4(&t, &c, Direction::ToSubscriber, &reply, 5).unwrap();
    assert_eq!(class.service, Some(ServiceId(1)));
    assert!(class.listed);
    // The same ports the other way round are not the web service (the server port is 51000).
    let odd = packet(WEB, SUB, PROTO_TCP, Some((51000, 443)), 0, 20);
    assert_eq!(
        count_ipv4(&t, &c, Direction::ToSubscriber, &odd, 6)
            .unwrap()
            .service,
        None
    );
    let s = c.snapshot().to_subscriber;
    assert_eq!((s.bytes, s.packets, s.listed_packets), (1440 + 40, 2, 2));
}

#[test]
fn icmp_matches_a_portless_service_and_udp_any_port() {
    let t = table();
    let c = tracking(0);
    let echo = packet(SUB, PINGER, PROTO_ICMP, None, 0, 64);
    assert_eq!(
        count_ipv4(&t, &c, Direction::FromSubscriber, &echo, 1)
            .unwrap()
            .service,
        Some(ServiceId(2))
    );
    let udp = packet(SUB, WEB, PROTO_UDP, Some((1234, 9999)), 0, 8);
    assert_eq!(
        count_ipv4(&t, &c, Direction::FromSubscriber, &udp, 1)
            .unwrap()
            .service,
        Some(ServiceId(3))
    );
    // ICMP to an unlisted server: counted, nothing else.
    let other = packet(SUB, OTHER, PROTO_ICMP, None, 0, 64);
    let class = count_ipv4(&t, &c, Direction::FromSubscriber, &other, 1).unwrap();
    assert_eq!((class.listed, class.service), (false, None));
    assert_eq!(c.snapshot().from_subscriber.packets, 3);
}

#[test]
fn options_are_skipped_before_the_ports() {
    let t = table();
    let c = tracking(0);
    let p = packet(SUB, DNS, PROTO_UDP, Some((40000, 53)), 3, 8);
    let ip = Ipv4Summary::parse(&p).unwrap();
    assert_eq!(ip.ports, Some((40000, 53)));
    assert_eq!(
        count_ipv4(&t, &c, Direction::FromSubscriber, &p, 1)
            .unwrap()
            .service,
        Some(ServiceId(0))
    );
}

#[test]
fn later_fragments_have_no_ports() {
    let t = table();
    let c = tracking(0);
    let mut p = packet(SUB, DNS, PROTO_UDP, Some((40000, 53)), 0, 8);
    p[6..8].copy_from_slice(&0x0010u16.to_be_bytes()); // fragment offset 16 (x8 bytes)
    let ip = Ipv4Summary::parse(&p).unwrap();
    assert_eq!(
        ip.ports, None,
        "bytes after the header are the middle of a datagram, not ports"
    );
    assert_eq!(
        count_ipv4(&t, &c, Direction::FromSubscriber, &p, 1)
            .unwrap()
            .service,
        None
    );
    // A later fragment to WEB over UDP still matches the any-port service.
    let mut q = packet(SUB, WEB, PROTO_UDP, None, 0, 100);
    q[6..8].copy_from_slice(&0x0020u16.to_be_bytes());
    assert_eq!(
        count_ipv4(&t, &c, Direction::FromSubscriber, &q, 1)
            .unwrap()
            .service,
        Some(ServiceId(3))
    );
    assert_eq!(c.snapshot().from_subscriber.bytes, 28 + 120);
}

#[test]
fn a_transport_header_cut_short_has_no_ports() {
    let p = packet(SUB, DNS, PROTO_TCP, None, 0, 3);
    assert_eq!(Ipv4Summary::parse(&p).unwrap().ports, None);
}

#[test]
fn link_padding_after_total_length_is_not_counted() {
    let t = table();
    let c = tracking(0);
    let mut p = packet(SUB, DNS, PROTO_UDP, Some((40000, 53)), 0, 8);
    p.extend_from_slice(&[0u8; 18]);
    assert_eq!(
        count_ipv4(&t, &c, Direction::FromSubscriber, &p, 1)
            .unwrap()
            .bytes,
        28
    );
    assert_eq!(c.snapshot().from_subscriber.bytes, 28);
}

#[test]
fn malformed_headers_are_typed_errors_and_count_nothing() {
    let t = table();
    let c = tracking(u64::MAX);
    let good = packet(SUB, DNS, PROTO_UDP, Some((1, 53)), 0, 8);
    let cases: Vec<(Vec<u8>, Ipv4Error)> = vec![
        (good[..19].to_vec(), Ipv4Error::Truncated { len: 19 }),
        (
            {
                let mut p = good.clone();
                p[0] = 0x65;
                p
            },
            Ipv4Error::Version { version: 6 },
        ),
        (
            {
                let mut p = good.clone();
                p[0] = 0x44;
                p
            },
            Ipv4Error::HeaderLength {
                header_len: 16,
                len: 28,
            },
        ),
        (
            {
                let mut p = good.clone();
                p[0] = 0x48;
                p
            },
            Ipv4Error::HeaderLength {
                header_len: 32,
                len: 28,
            },
        ),
        (
            {
                let mut p = good.clone();
                p[2..4].copy_from_slice(&29u16.to_be_bytes());
                p
            },
            Ipv4Error::TotalLength {
                total_len: 29,
                header_len: 20,
                len: 28,
            },
        ),
        (
            {
                let mut p = good.clone();
                p[2..4].copy_from_slice(&19u16.to_be_bytes());
                p
            },
            Ipv4Error::TotalLength {
                total_len: 19,
                header_len: 20,
                len: 28,
            },
        ),
    ];
    for (bytes, want) in cases {
        assert_eq!(
            count_ipv4(&t, &c, Direction::ToSubscriber, &bytes, 1),
            Err(want)
        );
    }
    assert_eq!(c.snapshot(), Default::default());
}

#[test]
fn services_are_looked_up_only_for_sessions_that_track_them_and_only_with_a_table() {
    let c = SessionCounters::new(); // tracks nothing
    let p = packet(SUB, DNS, PROTO_UDP, Some((40000, 53)), 0, 8);
    let class = count_ipv4(&table(), &c, Direction::FromSubscriber, &p, 1).unwrap();
    assert_eq!((class.listed, class.service), (false, None));
    let tracking = tracking(u64::MAX);
    let class = count_ipv4(
        &ServiceTable::empty(),
        &tracking,
        Direction::FromSubscriber,
        &p,
        1,
    )
    .unwrap();
    assert_eq!((class.listed, class.service), (false, None));
    assert_eq!(tracking.snapshot().from_subscriber.packets, 1);
}

#[test]
fn a_server_set_the_session_does_not_follow_is_not_listed() {
    let c = tracking(0b01); // the web set only
    let p = packet(SUB, DNS, PROTO_UDP, Some((40000, 53)), 0, 8);
    assert!(
        !count_ipv4(&table(), &c, Direction::FromSubscriber, &p, 1)
            .unwrap()
            .listed
    );
    assert_eq!(c.snapshot().from_subscriber.listed_packets, 0);
}

#[test]
fn the_shared_path_counts_like_the_direct_one_and_follows_a_publish() {
    let shared = SharedServiceTable::new(ServiceTable::empty());
    let p = packet(SUB, DNS, PROTO_UDP, Some((40000, 53)), 0, 8);
    let ip = Ipv4Summary::parse(&p).unwrap();
    let watching = tracking(0b10);
    let plain = SessionCounters::new();
    // Empty table: counted, nothing classified.
    let class = count_shared(&shared, &watching, Direction::FromSubscriber, &ip, 3);
    assert_eq!(
        (class.listed, class.service, class.bytes),
        (false, None, 28)
    );
    // After a publish the same thread sees the new table at its next packet.
    let t = shared.publish(table());
    let class = count_shared(&shared, &watching, Direction::FromSubscriber, &ip, 4);
    assert_eq!((class.listed, class.service), (true, Some(ServiceId(0))));
    assert_eq!(
        watching
            .service_activity(t.generation())
            .collect::<Vec<_>>(),
        vec![(0, 4)]
    );
    // A session that watches nothing is only counted.
    let class = count_shared(&shared, &plain, Direction::FromSubscriber, &ip, 4);
    assert_eq!((class.listed, class.service), (false, None));
    assert_eq!(plain.snapshot().from_subscriber.packets, 1);
    assert_eq!(watching.snapshot().from_subscriber.packets, 2);
    assert_eq!(watching.snapshot().from_subscriber.listed_packets, 1);
}

fn check_any(bytes: &[u8], stamp: u64) {
    let t = table();
    let c = tracking(u64::MAX);
    for direction in Direction::BOTH {
        let before = c.snapshot();
        match count_ipv4(&t, &c, direction, bytes, stamp) {
            Ok(class) => {
                let after = c.snapshot();
                assert_eq!(
                    after.direction(direction).bytes - before.direction(direction).bytes,
                    u64::from(class.bytes)
                );
                assert!(usize::from(class.bytes) <= bytes.len());
                assert!(usize::from(class.bytes) >= 20);
            }
            Err(_) => assert_eq!(c.snapshot(), before),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(100_000))]

    /// Any bytes at all: no panic, and a packet is counted exactly when it parses.
    #[test]
    fn never_panics_on_random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..96), stamp in any::<u64>()) {
        check_any(&bytes, stamp);
    }

    /// Bytes that start like IPv4 with addresses from the table, so the lookups run too.
    #[test]
    fn never_panics_on_near_valid_headers(
        ihl in 0u8..16,
        total in 0u16..120,
        proto in prop_oneof![Just(PROTO_TCP), Just(PROTO_UDP), Just(PROTO_ICMP), any::<u8>()],
        frag in any::<u16>(),
        src in prop_oneof![Just(SUB), Just(WEB), Just(DNS), Just(PINGER)],
        dst in prop_oneof![Just(SUB), Just(WEB), Just(DNS), Just(PINGER)],
        rest in proptest::collection::vec(any::<u8>(), 0..100),
    ) {
        let mut p = vec![0x40 | ihl, 0];
        p.extend_from_slice(&total.to_be_bytes());
        p.extend_from_slice(&[0, 0]);
        p.extend_from_slice(&frag.to_be_bytes());
        p.extend_from_slice(&[64, proto, 0, 0]);
        p.extend_from_slice(&src.octets());
        p.extend_from_slice(&dst.octets());
        p.extend_from_slice(&rest);
        check_any(&p, 1);
    }
}

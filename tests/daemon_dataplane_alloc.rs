//! The data plane's forward path allocates nothing per packet: a counting global allocator
//! watches relayed L2TP frames (LAC, both directions), terminated IPv4 to the TUN device (LNS,
//! with the anti-spoofing check), packets from the TUN device toward their session, and drops.

mod counting_alloc;

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use l2tpagg::dataplane::counters::{CoarseClock, Direction, SessionCounters};
use l2tpagg::dataplane::sessions::{
    Action, DatagramSink, Dataplane, HEADROOM, Ingress, L2tpPath, PacketSink, SessionEntry,
    TunRoute, session_key,
};
use l2tpagg::runtime::clock::test_epoch;
use l2tpagg::wire::data::{Kind, classify};

#[global_allocator]
static GLOBAL: counting_alloc::Counting = counting_alloc::Counting;

/// Counts bytes sent; stores nothing (storing would allocate).
#[derive(Default)]
struct Sink(AtomicUsize);

impl DatagramSink for Sink {
    fn try_send_datagram(&self, p: &[u8], _: SocketAddr, _: Option<IpAddr>) -> io::Result<usize> {
        self.0.fetch_add(p.len(), Ordering::Relaxed);
        Ok(p.len())
    }
    fn local_addr(&self) -> SocketAddr {
        "127.0.0.1:1701".parse().unwrap()
    }
}

impl PacketSink for Sink {
    fn try_send_packet(&self, p: &[u8]) -> io::Result<usize> {
        self.0.fetch_add(p.len(), Ordering::Relaxed);
        Ok(p.len())
    }
}

const SUB: Ipv4Addr = Ipv4Addr::new(100, 64, 1, 2);
const SERVER: Ipv4Addr = Ipv4Addr::new(10, 2, 0, 2);

fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, len: usize) -> Vec<u8> {
    let mut p = vec![0u8; len];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    p[8] = 64;
    p[9] = 17;
    p[12..16].copy_from_slice(&src.octets());
    p[16..20].copy_from_slice(&dst.octets());
    p
}

/// A received datagram laid out the way a socket task holds it: HEADROOM, then the datagram.
fn datagram(tunnel: u16, session: u16, frame: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; HEADROOM];
    buf.extend_from_slice(&[0x00, 0x02]);
    buf.extend_from_slice(&tunnel.to_be_bytes());
    buf.extend_from_slice(&session.to_be_bytes());
    buf.extend_from_slice(frame);
    buf
}

#[test]
fn relaying_terminating_and_tun_forwarding_do_not_allocate() {
    let peer: SocketAddr = "192.0.2.1:1701".parse().unwrap();
    let sink = Arc::new(Sink::default());
    let dp = Dataplane::new(Arc::new(CoarseClock::new(test_epoch())));
    assert!(dp.set_tun(sink.clone()));
    let counters = Arc::new(SessionCounters::new());
    let path = |t, s| Arc::new(L2tpPath::new(sink.clone(), None, peer, t, s, t % 2 == 0));
    // Dial-in leg relayed to the LNS leg, LNS leg relayed back, LNS termination, TUN route.
    dp.dialin.insert(
        session_key(1, 1),
        Arc::new(SessionEntry {
            peer,
            counters: counters.clone(),
            inbound: Direction::FromSubscriber,
            action: Action::Relay(path(2, 2)),
        }),
    );
    dp.lac.insert(
        session_key(2, 2),
        Arc::new(SessionEntry {
            peer,
            counters: counters.clone(),
            inbound: Direction::ToSubscriber,
            action: Action::Relay(path(1, 1)),
        }),
    );
    dp.lns.insert(
        session_key(3, 3),
        Arc::new(SessionEntry {
            peer,
            counters: counters.clone(),
            inbound: Direction::FromSubscriber,
            action: Action::Terminate { address: SUB },
        }),
    );
    dp.routes.insert(
        SUB,
        Arc::new(TunRoute {
            path: path(4, 4),
            counters: counters.clone(),
        }),
    );
    let mut frame = vec![0xff, 0x03, 0x00, 0x21];
    frame.extend_from_slice(&ipv4(SUB, SERVER, 1400));
    let mut spoofed = vec![0xff, 0x03, 0x00, 0x21];
    spoofed.extend_from_slice(&ipv4(SERVER, SERVER, 100));
    let packets = [
        (1u16, datagram(1, 1, &frame)),
        (2, datagram(2, 2, &frame)),
        (3, datagram(3, 3, &frame)),
        (3, datagram(3, 3, &spoofed)),
        (9, datagram(9, 9, &frame)),
    ];
    let mut tun_packet = vec![0u8; HEADROOM];
    tun_packet.extend_from_slice(&ipv4(SERVER, SUB, 1400));
    let mut bufs: Vec<Vec<u8>> = packets.iter().map(|(_, b)| b.clone()).collect();
    let mut tun_buf = tun_packet.clone();
    let mut forwarded = 0;

    let before = counting_alloc::allocations();
    for _ in 0..2_000 {
        for (i, (t, _)) in packets.iter().enumerate() {
            let buf = &mut bufs[i];
            buf.copy_from_slice(&packets[i].1);
            let Ok(Kind::Data {
                tunnel_id,
                session_id,
                payload,
                ..
            }) = classify(&buf[HEADROOM..])
            else {
                panic!("data")
            };
            let map = match t {
                1 => &dp.dialin,
                2 => &dp.lac,
                _ => &dp.lns,
            };
            let range = HEADROOM + payload.start..HEADROOM + payload.end;
            if dp.l2tp_ingress(map, tunnel_id, session_id, peer, buf, range) == Ingress::Forwarded {
                forwarded += 1;
            }
        }
        tun_buf.copy_from_slice(&tun_packet);
        let end = tun_buf.len();
        if dp.tun_ingress(&mut tun_buf, HEADROOM..end) == Ingress::Forwarded {
            forwarded += 1;
        }
    }
    let after = counting_alloc::allocations();
    assert_eq!(after - before, 0, "the forward path allocated");
    // Relay both ways, termination and the TUN direction forward; spoofed and unknown drop.
    assert_eq!(forwarded, 2_000 * 4);
    assert_eq!(
        counters.packets(Direction::FromSubscriber, false),
        2_000 * 2
    );
    assert_eq!(counters.packets(Direction::ToSubscriber, false), 2_000 * 2);
    assert!(sink.0.load(Ordering::Relaxed) > 0);
}

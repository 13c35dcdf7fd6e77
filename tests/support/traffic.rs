//! Traffic through a subscriber the load generator dialled (`loadgen::Subscriber`): a UDP
//! datagram to a server socket checked on arrival, the next UDP packet checked for where it came
//! from, an ICMP echo round trip. Every wait has a deadline.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::time::Duration;

use l2tpagg::loadgen::Subscriber;

use super::{icmp_echo, parse_ipv4, udp_packet};

/// Sends `data` from the subscriber's address and port `sport` to `server` (a socket bound to an
/// IPv4 address in the server's namespace, with a read timeout) and asserts that the server
/// receives exactly `data` from the subscriber's address. Returns the source the server saw.
pub async fn udp_to_server(
    sub: &Subscriber,
    sport: u16,
    server: &UdpSocket,
    data: &[u8],
) -> SocketAddr {
    let SocketAddr::V4(to) = server.local_addr().unwrap() else {
        panic!("the server socket is IPv4");
    };
    let addr = sub.address();
    sub.send_ip(&udp_packet(addr, sport, *to.ip(), to.port(), data))
        .await
        .unwrap();
    let mut buf = [0u8; 2048];
    let (n, from) = server
        .recv_from(&mut buf)
        .expect("the server receives the datagram");
    assert_eq!(&buf[..n], data);
    assert_eq!(
        from.ip(),
        IpAddr::V4(addr),
        "server sees the subscriber's address"
    );
    from
}

/// UDP both ways between the subscriber (port `sport`) and `server`: `up` arrives from the
/// subscriber's address ([`udp_to_server`]), and the server's answer `down` reaches the subscriber
/// from the server's address within `timeout`. Returns the source the server saw.
pub async fn udp_round_trip(
    sub: &mut Subscriber,
    sport: u16,
    server: &UdpSocket,
    up: &[u8],
    down: &[u8],
    timeout: Duration,
) -> SocketAddr {
    let from = udp_to_server(sub, sport, server, up).await;
    server.send_to(down, from).unwrap();
    let IpAddr::V4(server_ip) = server.local_addr().unwrap().ip() else {
        panic!("the server socket is IPv4");
    };
    let reply = recv_udp(sub, server_ip, timeout, "the reply reaches the subscriber").await;
    assert_eq!(reply, down);
    from
}

/// The next IP packet on the session within `timeout`, which must be UDP from `src` to the
/// subscriber's address; returns the UDP payload. `what` names the packet in failure messages.
pub async fn recv_udp(
    sub: &mut Subscriber,
    src: Ipv4Addr,
    timeout: Duration,
    what: &str,
) -> Vec<u8> {
    let packet = tokio::time::timeout(timeout, sub.recv_ip())
        .await
        .unwrap_or_else(|_| panic!("{what} in time"))
        .expect("the session is up");
    let (s, d, proto, payload) = parse_ipv4(&packet).expect("IPv4");
    assert_eq!((s, d, proto), (src, sub.address(), 17), "{what}");
    payload[8..].to_vec()
}

/// An ICMP echo round trip from the subscriber to `dst` (identifier `id`, sequence `seq`):
/// asserts that an echo reply comes back from `dst` within `timeout`; returns the ICMP message.
pub async fn ping(
    sub: &mut Subscriber,
    dst: Ipv4Addr,
    id: u16,
    seq: u16,
    data: &[u8],
    timeout: Duration,
) -> Vec<u8> {
    let addr = sub.address();
    sub.send_ip(&icmp_echo(addr, dst, id, seq, data))
        .await
        .unwrap();
    let reply = tokio::time::timeout(timeout, sub.recv_ip())
        .await
        .expect("echo reply in time")
        .expect("the session is up");
    let (src, to, proto, payload) = parse_ipv4(&reply).expect("IPv4");
    assert_eq!((src, to, proto), (dst, addr, 1));
    assert_eq!(payload[0], 0, "ICMP echo reply");
    payload.to_vec()
}

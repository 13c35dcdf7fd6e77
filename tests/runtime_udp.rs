//! UDP endpoints with packet info, in a fresh network namespace so the loopback setup is known
//! (needs root; fails loudly without it). A socket bound to the wildcard address learns the address
//! each datagram was sent to and replies from it.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::time::Duration;

use l2tpagg::runtime::netns::NamedNetns;
use l2tpagg::runtime::udp::{UdpConfig, UdpEndpoint};

fn ns(tag: &str) -> NamedNetns {
    NamedNetns::create(&format!("l2tpagg-udp-{}-{tag}", std::process::id()))
        .unwrap_or_else(|e| panic!("this test needs root and iproute2: {e}"))
}

const REQUEST_TO: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
const CLIENT: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 5);

async fn exchange(endpoint: &UdpEndpoint) {
    let port = endpoint.local_addr().port();
    let client = UdpSocket::bind((CLIENT, 0)).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    client.send_to(b"SCCRQ", (REQUEST_TO, port)).unwrap();

    let mut buf = [0u8; 1500];
    let meta = tokio::time::timeout(Duration::from_secs(5), endpoint.recv(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&buf[..meta.len], b"SCCRQ");
    assert_eq!(meta.source, client.local_addr().unwrap());
    assert_eq!(meta.local, Some(IpAddr::V4(REQUEST_TO)));
    assert_eq!(meta.ifindex, 1, "arrived on lo");
    assert!(!meta.truncated);

    // Reply from the address the request came to.
    endpoint
        .send_from(b"SCCRP", meta.source, meta.local.unwrap())
        .await
        .unwrap();
    let mut reply = [0u8; 64];
    let (n, from) = client.recv_from(&mut reply).unwrap();
    assert_eq!(&reply[..n], b"SCCRP");
    assert_eq!(from, SocketAddr::from((REQUEST_TO, port)));

    // Without a chosen source the kernel picks 127.0.0.1 for this route: the difference is what
    // send_from is for.
    endpoint.send_to(b"plain", meta.source).await.unwrap();
    let (n, from) = client.recv_from(&mut reply).unwrap();
    assert_eq!(&reply[..n], b"plain");
    assert_eq!(from, SocketAddr::from((Ipv4Addr::LOCALHOST, port)));
}

#[test]
fn wildcard_ipv4_socket_replies_from_the_request_address() {
    let ns = ns("v4");
    ns.block_on(|| async {
        let endpoint = UdpEndpoint::bind(&UdpConfig::new("0.0.0.0:0".parse().unwrap())).unwrap();
        assert_ne!(endpoint.local_addr().port(), 0);
        let sizes = endpoint.buffer_sizes();
        // As root, SO_RCVBUFFORCE lifts the rmem_max cap; the kernel reports double.
        assert!(!sizes.capped(), "{sizes:?}");
        assert_eq!(sizes.recv_achieved, 2 * sizes.recv_requested);
        exchange(&endpoint).await;
    })
    .unwrap();
}

#[test]
fn dual_stack_ipv6_socket_handles_ipv4_as_ipv4() {
    let ns = ns("v6");
    ns.block_on(|| async {
        let endpoint = UdpEndpoint::bind(&UdpConfig::new("[::]:0".parse().unwrap())).unwrap();
        exchange(&endpoint).await;

        // Native IPv6 on ::1 too.
        let port = endpoint.local_addr().port();
        let client = UdpSocket::bind("[::1]:0").unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        client.send_to(b"v6", ("::1", port)).unwrap();
        let mut buf = [0u8; 64];
        let meta = endpoint.recv(&mut buf).await.unwrap();
        assert_eq!(meta.local, Some("::1".parse().unwrap()));
        endpoint
            .send_from(b"v6-reply", meta.source, meta.local.unwrap())
            .await
            .unwrap();
        let (n, from) = client.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"v6-reply");
        assert_eq!(from.port(), port);
    })
    .unwrap();
}

#[test]
fn oversized_datagram_is_flagged_truncated() {
    let ns = ns("trunc");
    ns.block_on(|| async {
        let endpoint = UdpEndpoint::bind(&UdpConfig::new("127.0.0.1:0".parse().unwrap())).unwrap();
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        client.send_to(&[7u8; 300], endpoint.local_addr()).unwrap();
        let mut small = [0u8; 100];
        let meta = endpoint.recv(&mut small).await.unwrap();
        assert!(meta.truncated);
        assert_eq!(meta.len, 100);
        // try_recv on an empty queue says WouldBlock rather than waiting.
        assert_eq!(
            endpoint.try_recv(&mut small).unwrap_err().kind(),
            std::io::ErrorKind::WouldBlock
        );
    })
    .unwrap();
}

#[test]
fn binding_a_taken_port_names_address_and_step() {
    let ns = ns("taken");
    ns.block_on(|| async {
        let first = UdpEndpoint::bind(&UdpConfig::new("127.0.0.1:0".parse().unwrap())).unwrap();
        let mut config = UdpConfig::new(first.local_addr());
        config.reuse_address = false;
        let err = UdpEndpoint::bind(&config).unwrap_err().to_string();
        assert!(
            err.contains(&format!("UDP {}: bind", first.local_addr())),
            "{err}"
        );
    })
    .unwrap();
}

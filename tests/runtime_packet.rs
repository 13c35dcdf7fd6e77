//! AF_PACKET sockets over a veth pair in a fresh network namespace (needs root; fails loudly
//! without it). Frames sent by the code with ethertype 0x8863 must arrive on the other end's socket
//! with the right addresses, and frames of another ethertype must not.

use std::time::Duration;

use l2tpagg::runtime::netns::NamedNetns;
use l2tpagg::runtime::packet::{FrameKind, MacAddr, PacketSocket, ethertype};

fn ns(tag: &str) -> NamedNetns {
    let ns = NamedNetns::create(&format!("l2tpagg-pkt-{}-{tag}", std::process::id()))
        .unwrap_or_else(|e| panic!("this test needs root and iproute2: {e}"));
    ns.ip(&["link", "add", "va", "type", "veth", "peer", "name", "vb"])
        .unwrap();
    ns.ip(&["link", "set", "va", "address", "02:00:00:00:00:0a"])
        .unwrap();
    ns.ip(&["link", "set", "vb", "address", "02:00:00:00:00:0b"])
        .unwrap();
    ns.ip(&["link", "set", "va", "up"]).unwrap();
    ns.ip(&["link", "set", "vb", "up"]).unwrap();
    ns
}

const A: MacAddr = MacAddr([2, 0, 0, 0, 0, 0x0a]);
const B: MacAddr = MacAddr([2, 0, 0, 0, 0, 0x0b]);

async fn recv(socket: &PacketSocket, buf: &mut [u8]) -> l2tpagg::runtime::packet::FrameMeta {
    tokio::time::timeout(Duration::from_secs(5), socket.recv(buf))
        .await
        .expect("frame arrived within the deadline")
        .unwrap()
}

#[test]
fn discovery_frames_cross_a_veth_pair() {
    let ns = ns("disc");
    ns.block_on(|| async {
        let a = PacketSocket::bind("va", ethertype::PPPOE_DISCOVERY).expect("bind va");
        let b = PacketSocket::bind("vb", ethertype::PPPOE_DISCOVERY).expect("bind vb");
        assert_eq!(a.mac(), A);
        assert_eq!(b.mac(), B);
        assert_eq!(a.ethertype(), 0x8863);

        // A PADI-shaped payload (RFC 2516 §5.1): ver/type 0x11, code 0x09, session 0, length 4,
        // Service-Name tag of length 0.
        let padi = [0x11, 0x09, 0x00, 0x00, 0x00, 0x04, 0x01, 0x01, 0x00, 0x00];
        a.send_to(MacAddr::BROADCAST, &padi).await.unwrap();
        let mut buf = [0u8; 1500];
        let meta = recv(&b, &mut buf).await;
        assert_eq!(meta.source, A);
        assert_eq!(meta.destination, MacAddr::BROADCAST);
        assert_eq!(meta.kind, FrameKind::Broadcast);
        assert_eq!(meta.ethertype, ethertype::PPPOE_DISCOVERY);
        assert!(!meta.truncated);
        // Ethernet pads short frames to 60 bytes; the PPPoE length field says what is real.
        assert_eq!(&buf[..padi.len()], &padi);

        // Unicast answer back.
        let pado = [0x11, 0x07, 0x00, 0x00, 0x00, 0x00];
        b.send_to(meta.source, &pado).await.unwrap();
        let meta = recv(&a, &mut buf).await;
        assert_eq!(
            (meta.source, meta.destination, meta.kind),
            (B, A, FrameKind::Host)
        );
        assert_eq!(&buf[..pado.len()], &pado);

        // The emulator's case: a frame from a MAC that is not the interface's.
        let emulated = MacAddr([2, 0x42, 0, 0, 0, 1]);
        a.send_from(emulated, B, &padi).await.unwrap();
        let meta = recv(&b, &mut buf).await;
        assert_eq!(meta.source, emulated);

        // A session-stage frame is not delivered to the discovery socket: after it, the next frame
        // b's discovery socket sees is the marker sent after it.
        let session = PacketSocket::bind("va", ethertype::PPPOE_SESSION).unwrap();
        session
            .send_to(B, &[0x11, 0x00, 0x00, 0x01, 0x00, 0x00])
            .await
            .unwrap();
        let marker = [0x11, 0xa7, 0x00, 0x00, 0x00, 0x00];
        a.send_to(B, &marker).await.unwrap();
        let meta = recv(&b, &mut buf).await;
        assert_eq!(meta.ethertype, ethertype::PPPOE_DISCOVERY);
        assert_eq!(&buf[..marker.len()], &marker);

        // A payload longer than the buffer is reported as truncated, not as a shorter frame.
        a.send_to(B, &[0x11; 200]).await.unwrap();
        let mut small = [0u8; 50];
        let meta = recv(&b, &mut small).await;
        assert!(meta.truncated);
        assert_eq!(meta.len, 50);
    })
    .unwrap();
}

#[test]
fn binding_a_missing_interface_names_it() {
    let ns = ns("missing");
    ns.block_on(|| async {
        let err = PacketSocket::bind("nosuch0", ethertype::PPPOE_DISCOVERY)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("AF_PACKET on nosuch0: interface index"),
            "{err}"
        );
    })
    .unwrap();
}

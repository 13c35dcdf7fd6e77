//! The emulated subscribers' test traffic: IPv4/UDP packets carrying a marker, and recognising
//! the echo of one.
//!
//! Owns: building the packets (RFC 791 header with its checksum, RFC 768 UDP with its checksum) and
//! parsing what comes back. Must not touch: PPP or any framing around the IP packet.
//!
//! A test packet's UDP payload starts with [`MARKER`], the sender's subscriber index and a
//! sequence number, and is padded to the requested size. An echo is a UDP packet addressed to the
//! subscriber whose payload starts with the same marker and index: a UDP echo service (RFC 862),
//! or a responder that swaps addresses and ports, sends exactly that.

use std::net::Ipv4Addr;

/// The first four octets of every test payload.
pub const MARKER: [u8; 4] = *b"L2AG";
/// Octets of the marker, the subscriber index (u32) and the sequence number (u64).
pub const MIN_PAYLOAD: usize = 16;
/// IPv4 header without options plus the UDP header.
pub const HEADERS: usize = 28;
/// The UDP source port of test packets.
pub const SOURCE_PORT: u16 = 49_152;

const PROTO_UDP: u8 = 17;

/// One's-complement sum of 16-bit words (RFC 1071), not yet folded.
fn sum16(data: &[u8], mut acc: u32) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        acc += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        acc += u32::from(*last) << 8;
    }
    acc
}

fn fold(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

/// Builds an IPv4/UDP test packet of `HEADERS + payload_len` octets (`payload_len` is raised to
/// [`MIN_PAYLOAD`] if smaller).
pub fn test_packet(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    dst_port: u16,
    subscriber: u32,
    seq: u64,
    payload_len: usize,
) -> Vec<u8> {
    let payload_len = payload_len.max(MIN_PAYLOAD);
    let mut payload = vec![0u8; payload_len];
    payload[..4].copy_from_slice(&MARKER);
    payload[4..8].copy_from_slice(&subscriber.to_be_bytes());
    payload[8..16].copy_from_slice(&seq.to_be_bytes());
    udp_packet(
        src,
        SOURCE_PORT,
        dst,
        dst_port,
        &payload,
        (seq & 0xffff) as u16,
    )
}

/// Builds an IPv4/UDP packet (TTL 64, DF clear, no options) with valid IP and UDP checksums.
/// `payload` must leave the total under 65,536 octets; longer payloads are truncated to fit.
pub fn udp_packet(
    src: Ipv4Addr,
    src_port: u16,
    dst: Ipv4Addr,
    dst_port: u16,
    payload: &[u8],
    ident: u16,
) -> Vec<u8> {
    let payload = &payload[..payload.len().min(usize::from(u16::MAX) - HEADERS)];
    let total = HEADERS + payload.len();
    let mut p = vec![0u8; total];
    // RFC 791 §3.1: version 4, IHL 5.
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    p[4..6].copy_from_slice(&ident.to_be_bytes());
    p[8] = 64;
    p[9] = PROTO_UDP;
    p[12..16].copy_from_slice(&src.octets());
    p[16..20].copy_from_slice(&dst.octets());
    let ip_sum = fold(sum16(&p[..20], 0));
    p[10..12].copy_from_slice(&ip_sum.to_be_bytes());
    let udp_len = (8 + payload.len()) as u16;
    p[20..22].copy_from_slice(&src_port.to_be_bytes());
    p[22..24].copy_from_slice(&dst_port.to_be_bytes());
    p[24..26].copy_from_slice(&udp_len.to_be_bytes());
    p[28..].copy_from_slice(payload);
    // RFC 768: the checksum covers a pseudo header of addresses, protocol and UDP length.
    let mut acc = sum16(&src.octets(), 0);
    acc = sum16(&dst.octets(), acc);
    acc += u32::from(PROTO_UDP) + u32::from(udp_len);
    let udp_sum = match fold(sum16(&p[20..], acc)) {
        // RFC 768: a computed zero is sent as all ones (zero means "no checksum").
        0 => 0xffff,
        s => s,
    };
    p[26..28].copy_from_slice(&udp_sum.to_be_bytes());
    p
}

/// A UDP datagram inside an IPv4 packet, as far as the emulator and test responders care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpView<'a> {
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// The UDP payload (bounded by the UDP length).
    pub payload: &'a [u8],
}

/// Reads an IPv4 packet carrying an unfragmented UDP datagram; `None` for anything else or
/// anything malformed.
pub fn parse_udp(packet: &[u8]) -> Option<UdpView<'_>> {
    let first = *packet.first()?;
    if first >> 4 != 4 {
        return None;
    }
    let ihl = usize::from(first & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([*packet.get(2)?, *packet.get(3)?]));
    if ihl < 20 || total < ihl + 8 || total > packet.len() || packet[9] != PROTO_UDP {
        return None;
    }
    // A fragment's payload is not a whole datagram: MF set or a non-zero offset.
    let frag = u16::from_be_bytes([packet[6], packet[7]]);
    if frag & 0x3fff != 0 {
        return None;
    }
    let udp = &packet[ihl..total];
    let udp_len = usize::from(u16::from_be_bytes([udp[4], udp[5]]));
    if udp_len < 8 || udp_len > udp.len() {
        return None;
    }
    let addr =
        |at: usize| Ipv4Addr::new(packet[at], packet[at + 1], packet[at + 2], packet[at + 3]);
    Some(UdpView {
        src: addr(12),
        dst: addr(16),
        src_port: u16::from_be_bytes([udp[0], udp[1]]),
        dst_port: u16::from_be_bytes([udp[2], udp[3]]),
        payload: &udp[8..udp_len],
    })
}

/// Whether `packet` is the echo of a test packet sent by subscriber `subscriber` from `local`.
pub fn is_echo(packet: &[u8], local: Ipv4Addr, subscriber: u32) -> bool {
    parse_udp(packet).is_some_and(|u| {
        u.dst == local
            && u.dst_port == SOURCE_PORT
            && u.payload.len() >= MIN_PAYLOAD
            && u.payload[..4] == MARKER
            && u.payload[4..8] == subscriber.to_be_bytes()
    })
}

/// The echo a UDP echo service would send for `packet` (addresses and ports swapped, payload
/// kept), or `None` if `packet` is not UDP over IPv4. For test responders.
pub fn echo_reply(packet: &[u8]) -> Option<Vec<u8>> {
    let u = parse_udp(packet)?;
    Some(udp_packet(
        u.dst, u.dst_port, u.src, u.src_port, u.payload, 0,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verify_ip_checksum(p: &[u8]) -> bool {
        fold(sum16(&p[..20], 0)) == 0
    }

    #[test]
    fn builds_a_valid_packet() {
        let src = Ipv4Addr::new(100, 64, 1, 2);
        let dst = Ipv4Addr::new(192, 0, 2, 7);
        let p = test_packet(src, dst, 7, 42, 9, 100);
        assert_eq!(p.len(), HEADERS + 100);
        assert_eq!(p[0], 0x45);
        assert_eq!(u16::from_be_bytes([p[2], p[3]]), 128);
        assert!(verify_ip_checksum(&p));
        let u = parse_udp(&p).unwrap();
        assert_eq!(
            (u.src, u.dst, u.src_port, u.dst_port),
            (src, dst, SOURCE_PORT, 7)
        );
        assert_eq!(&u.payload[..4], b"L2AG");
        assert_eq!(&u.payload[4..8], &42u32.to_be_bytes());
        assert_eq!(&u.payload[8..16], &9u64.to_be_bytes());
        // UDP checksum including the pseudo header verifies to zero.
        let mut acc = sum16(&src.octets(), 0);
        acc = sum16(&dst.octets(), acc);
        acc += 17 + 108;
        assert_eq!(fold(sum16(&p[20..], acc)), 0);
        // A tiny request is raised to the marker's size.
        assert_eq!(
            test_packet(src, dst, 7, 1, 1, 0).len(),
            HEADERS + MIN_PAYLOAD
        );
    }

    #[test]
    fn known_checksum_vectors() {
        // The worked example of the IPv4 header checksum (Wikipedia, "Internet checksum").
        let header = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(fold(sum16(&header, 0)), 0xb861);
        // Our header for 192.168.0.1 -> 192.168.0.199, 32 octets, ID 0x1c46, DF clear; checksum
        // worked by hand: the words sum to 0x2238f, folded 0x2391, complemented 0xdc6e.
        let p = udp_packet(
            Ipv4Addr::new(192, 168, 0, 1),
            1000,
            Ipv4Addr::new(192, 168, 0, 199),
            2000,
            b"abcd",
            0x1c46,
        );
        assert_eq!(
            &p[..20],
            &[
                0x45, 0x00, 0x00, 0x20, 0x1c, 0x46, 0x00, 0x00, 0x40, 0x11, 0xdc, 0x6e, 0xc0, 0xa8,
                0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7
            ]
        );
    }

    #[test]
    fn recognises_echoes() {
        let me = Ipv4Addr::new(100, 64, 1, 2);
        let server = Ipv4Addr::new(100, 64, 0, 1);
        let p = test_packet(me, server, 7, 5, 1, 64);
        let echo = echo_reply(&p).unwrap();
        assert!(verify_ip_checksum(&echo));
        assert!(is_echo(&echo, me, 5));
        assert!(!is_echo(&echo, me, 6));
        assert!(!is_echo(&echo, server, 5));
        assert!(!is_echo(&p, me, 5), "our own packet is not an echo");
    }

    #[test]
    fn parse_rejects_malformed_and_fragments() {
        let p = test_packet(Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST, 7, 0, 0, 32);
        for cut in 0..HEADERS {
            assert!(parse_udp(&p[..cut]).is_none(), "cut at {cut}");
        }
        let mut v6 = p.clone();
        v6[0] = 0x60;
        assert!(parse_udp(&v6).is_none());
        let mut frag = p.clone();
        frag[6] = 0x20; // MF
        assert!(parse_udp(&frag).is_none());
        let mut tcp = p.clone();
        tcp[9] = 6;
        assert!(parse_udp(&tcp).is_none());
        let mut long_udp = p.clone();
        long_udp[24] = 0xff;
        assert!(parse_udp(&long_udp).is_none());
        let mut long_ip = p;
        long_ip[2] = 0xff;
        assert!(parse_udp(&long_ip).is_none());
    }
}

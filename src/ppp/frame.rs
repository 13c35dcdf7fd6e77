//! PPP frame envelope: the optional HDLC address/control octets and the Protocol field.
//!
//! Owns: recognising and stripping `FF 03` (RFC 1662 §3.1, carried by L2TP, absent on PPPoE), reading
//! and writing the Protocol field with or without Protocol-Field-Compression (RFC 1661 §2, §6.5), and
//! the table that says which protocols the engine handles and which are data for the caller to route.
//! Must not touch: anything inside the payload. Everything here is total: no input panics.

use super::Error;

/// The HDLC All-Stations address octet (RFC 1662 §3.1).
pub const HDLC_ADDRESS: u8 = 0xff;
/// The HDLC Unnumbered-Information control octet (RFC 1662 §3.1).
pub const HDLC_CONTROL: u8 = 0x03;

/// PPP protocol numbers the engine knows by name (RFC 1661 §2, the IANA PPP DLL protocol registry).
pub mod protocol {
    /// Internet Protocol version 4 (RFC 1332): data.
    pub const IPV4: u16 = 0x0021;
    /// Internet Protocol version 6 (RFC 5072): data; IPv6CP is not supported, so it is rejected.
    pub const IPV6: u16 = 0x0057;
    /// IP Control Protocol (RFC 1332).
    pub const IPCP: u16 = 0x8021;
    /// IPv6 Control Protocol (RFC 5072): not supported, answered with Protocol-Reject.
    pub const IPV6CP: u16 = 0x8057;
    /// Compression Control Protocol (RFC 1962): not supported, answered with Protocol-Reject.
    pub const CCP: u16 = 0x80fd;
    /// Link Control Protocol (RFC 1661).
    pub const LCP: u16 = 0xc021;
    /// Password Authentication Protocol (RFC 1334).
    pub const PAP: u16 = 0xc023;
    /// Challenge-Handshake Authentication Protocol (RFC 1994).
    pub const CHAP: u16 = 0xc223;
}

/// What a protocol number means to whoever received the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtocolClass {
    /// Network-layer data (IPv4). The caller routes it on the fast path once the network is up;
    /// the engine never sees it.
    Data,
    /// A protocol the engine negotiates (LCP, PAP, CHAP, IPCP): hand the frame to
    /// [`Link::handle_frame`](super::Link::handle_frame).
    Control,
    /// Anything else. Give it to the engine too: it answers with an LCP Protocol-Reject when the
    /// link is open (RFC 1661 §5.7) and drops it otherwise.
    Unsupported,
}

/// Classifies a protocol number for routing.
pub fn classify(protocol: u16) -> ProtocolClass {
    match protocol {
        protocol::IPV4 => ProtocolClass::Data,
        protocol::LCP | protocol::PAP | protocol::CHAP | protocol::IPCP => ProtocolClass::Control,
        _ => ProtocolClass::Unsupported,
    }
}

/// Returns the frame without a leading `FF 03`, or unchanged when it has none.
///
/// The pair is unambiguous: no valid Protocol field starts with `FF` (RFC 1661 §2 requires the
/// first octet of an uncompressed Protocol field to be even), so a frame starting `FF 03` always
/// carries the HDLC header.
pub fn strip_address_control(frame: &[u8]) -> &[u8] {
    match frame {
        [HDLC_ADDRESS, HDLC_CONTROL, rest @ ..] => rest,
        _ => frame,
    }
}

/// Returns `frame` with `FF 03` in front, the form L2TP carries (RFC 2661 §2 carries HDLC-framed PPP
/// minus the FCS and transparency). `frame` starts at the Protocol field.
pub fn with_address_control(frame: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(frame.len() + 2);
    out.push(HDLC_ADDRESS);
    out.push(HDLC_CONTROL);
    out.extend_from_slice(frame);
    out
}

/// Reads the Protocol field of a frame, with or without `FF 03` in front.
///
/// `accept_compressed` says whether a one-octet (PFC, RFC 1661 §6.5) Protocol field is allowed;
/// pass [`Link::accepts_compressed_protocol`](super::Link::accepts_compressed_protocol). Returns the
/// protocol number and the information field.
pub fn parse_frame(frame: &[u8], accept_compressed: bool) -> Result<(u16, &[u8]), Error> {
    let body = strip_address_control(frame);
    let Some(&first) = body.first() else {
        return Err(Error::Truncated {
            what: "PPP protocol field",
            need: 1,
            have: 0,
        });
    };
    // RFC 1661 §2: "the least significant bit of the least significant octet is 1" and "the least
    // significant bit of the most significant octet is 0". An odd first octet is therefore a
    // compressed, one-octet field.
    if first & 1 == 1 {
        if accept_compressed {
            return Ok((u16::from(first), &body[1..]));
        }
        return Err(Error::UnexpectedCompression(first));
    }
    let Some(&second) = body.get(1) else {
        return Err(Error::Truncated {
            what: "PPP protocol field",
            need: 2,
            have: body.len(),
        });
    };
    if second & 1 == 0 {
        return Err(Error::BadProtocol(u16::from_be_bytes([first, second])));
    }
    Ok((u16::from_be_bytes([first, second]), &body[2..]))
}

/// Appends a frame (uncompressed Protocol field, then `payload`) to `out`. With `address_control`
/// the frame starts with `FF 03`. The engine never compresses what it sends: compression is an
/// option the peer grants, never an obligation (RFC 1661 §6.5, §6.6).
pub fn emit_frame(protocol: u16, payload: &[u8], address_control: bool, out: &mut Vec<u8>) {
    out.reserve(payload.len() + 4);
    if address_control {
        out.push(HDLC_ADDRESS);
        out.push(HDLC_CONTROL);
    }
    out.extend_from_slice(&protocol.to_be_bytes());
    out.extend_from_slice(payload);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_hdlc_header_only_when_present() {
        assert_eq!(
            strip_address_control(&[0xff, 0x03, 0xc0, 0x21]),
            &[0xc0, 0x21]
        );
        assert_eq!(strip_address_control(&[0xc0, 0x21]), &[0xc0, 0x21]);
        assert_eq!(strip_address_control(&[0xff]), &[0xff]);
        assert_eq!(strip_address_control(&[]), &[] as &[u8]);
        assert_eq!(
            with_address_control(&[0x80, 0x21]),
            vec![0xff, 0x03, 0x80, 0x21]
        );
    }

    #[test]
    fn parses_protocol_field_forms() {
        let lcp = [0xff, 0x03, 0xc0, 0x21, 0x01, 0x02];
        assert_eq!(
            parse_frame(&lcp, false),
            Ok((protocol::LCP, &[0x01, 0x02][..]))
        );
        assert_eq!(
            parse_frame(&lcp[2..], false),
            Ok((protocol::LCP, &[0x01, 0x02][..]))
        );
        // PFC: IPv4 as the single octet 0x21, with and without the HDLC header.
        assert_eq!(
            parse_frame(&[0x21, 0x45], true),
            Ok((protocol::IPV4, &[0x45][..]))
        );
        assert_eq!(
            parse_frame(&[0xff, 0x03, 0x21, 0x45], true),
            Ok((0x21, &[0x45][..]))
        );
        assert_eq!(
            parse_frame(&[0x21, 0x45], false),
            Err(Error::UnexpectedCompression(0x21))
        );
        assert_eq!(
            parse_frame(&[0x00, 0x20], false),
            Err(Error::BadProtocol(0x0020))
        );
        assert!(matches!(
            parse_frame(&[], true),
            Err(Error::Truncated { .. })
        ));
        assert!(matches!(
            parse_frame(&[0xff, 0x03], true),
            Err(Error::Truncated { .. })
        ));
        assert!(matches!(
            parse_frame(&[0xc0], true),
            Err(Error::Truncated { .. })
        ));
    }

    #[test]
    fn emits_uncompressed_frames() {
        let mut out = Vec::new();
        emit_frame(protocol::IPCP, &[1, 2], true, &mut out);
        assert_eq!(out, [0xff, 0x03, 0x80, 0x21, 1, 2]);
        out.clear();
        emit_frame(protocol::IPV4, &[9], false, &mut out);
        assert_eq!(out, [0x00, 0x21, 9]);
    }

    #[test]
    fn classifies_protocols() {
        assert_eq!(classify(protocol::IPV4), ProtocolClass::Data);
        assert_eq!(classify(protocol::LCP), ProtocolClass::Control);
        assert_eq!(classify(protocol::CHAP), ProtocolClass::Control);
        assert_eq!(classify(protocol::IPV6CP), ProtocolClass::Unsupported);
        assert_eq!(classify(protocol::CCP), ProtocolClass::Unsupported);
    }
}

//! The data-message fast path (RFC 2661 §3.1, §5.3, §5.4): classify a datagram and find its PPP
//! payload, or write a data header in front of a payload, without allocating.
//!
//! The runtime's socket task calls [`classify`] on every datagram: control messages go to the
//! [`crate::l2tp::Endpoint`], data messages are looked up by (tunnel ID, session ID) and their
//! payload range forwarded. [`write_header`] builds the header for (peer tunnel ID, peer session ID)
//! into the caller's buffer, in front of the payload.

use std::ops::Range;

use super::Error;
use super::header::{
    FLAG_LENGTH, FLAG_OFFSET, FLAG_PRIORITY, FLAG_SEQUENCE, FLAG_TYPE, VERSION, VERSION_MASK,
};

/// What a datagram is, as far as the data path needs to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A control message (T bit set) for the given local tunnel; hand the datagram to the endpoint.
    Control {
        /// The recipient tunnel ID (0 for a new SCCRQ).
        tunnel_id: u16,
    },
    /// A data message carrying a PPP frame.
    Data {
        /// Our tunnel ID.
        tunnel_id: u16,
        /// Our session ID.
        session_id: u16,
        /// Ns when the S bit is set (RFC 2661 §5.4); Nr is reserved on data messages and ignored.
        ns: Option<u16>,
        /// The P bit: the sender asks for preferential queuing (e.g. LCP echo).
        priority: bool,
        /// Where the PPP frame lies in the datagram (after any offset padding, up to Length).
        payload: Range<usize>,
    },
}

#[inline]
fn be16(b: &[u8], at: usize) -> Result<u16, Error> {
    match b.get(at..at + 2) {
        Some(s) => Ok(u16::from_be_bytes([s[0], s[1]])),
        None => Err(Error::Truncated {
            need: at + 2,
            have: b.len(),
        }),
    }
}

/// Classifies one datagram received on the L2TP port. Never allocates and never reads past the
/// datagram or its Length field.
#[inline]
pub fn classify(b: &[u8]) -> Result<Kind, Error> {
    let flags = be16(b, 0)?;
    let version = flags & VERSION_MASK;
    if version != VERSION {
        // RFC 2661 §3.1 and §8.1: unknown versions (L2F is 1) MUST be discarded.
        return Err(Error::BadVersion(version as u8));
    }
    if flags & FLAG_TYPE != 0 {
        // Control messages always carry Length, so the tunnel ID sits at offset 4.
        return Ok(Kind::Control {
            tunnel_id: be16(b, 4)?,
        });
    }
    let mut at = 2;
    let mut end = b.len();
    if flags & FLAG_LENGTH != 0 {
        let length = be16(b, 2)?;
        if length as usize > b.len() {
            return Err(Error::BadLength {
                length,
                actual: b.len(),
            });
        }
        end = length as usize;
        at = 4;
    }
    let tunnel_id = be16(b, at)?;
    let session_id = be16(b, at + 2)?;
    at += 4;
    let mut ns = None;
    if flags & FLAG_SEQUENCE != 0 {
        ns = Some(be16(b, at)?);
        at += 4;
    }
    if flags & FLAG_OFFSET != 0 {
        let offset = be16(b, at)?;
        at += 2 + offset as usize;
        if at > end {
            return Err(Error::BadOffset {
                offset,
                actual: end,
            });
        }
    }
    if at > end {
        let length = end as u16;
        return Err(Error::BadLength {
            length,
            actual: b.len(),
        });
    }
    Ok(Kind::Data {
        tunnel_id,
        session_id,
        ns,
        priority: flags & FLAG_PRIORITY != 0,
        payload: at..end,
    })
}

/// Options of a data header we send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DataHeaderOptions {
    /// Set the L bit and fill in Length (needs the payload length).
    pub with_length: bool,
    /// Set the S bit with this Ns (RFC 2661 §5.4: when the peer asked for sequencing); Nr is 0.
    pub ns: Option<u16>,
    /// Set the P bit (RFC 2661 §3.1: e.g. LCP echo requests).
    pub priority: bool,
}

/// Bytes [`write_header`] will write for these options: 6 plain, +2 with length, +4 with sequence.
#[inline]
pub fn header_len(opts: DataHeaderOptions) -> usize {
    6 + if opts.with_length { 2 } else { 0 } + if opts.ns.is_some() { 4 } else { 0 }
}

/// Writes a data-message header for the peer's (tunnel ID, session ID) into `buf[..header_len]`,
/// for a payload of `payload_len` bytes that the caller places right after it. Returns the header
/// length. Never allocates.
#[inline]
pub fn write_header(
    buf: &mut [u8],
    peer_tunnel_id: u16,
    peer_session_id: u16,
    payload_len: usize,
    opts: DataHeaderOptions,
) -> Result<usize, Error> {
    let hlen = header_len(opts);
    let Some(h) = buf.get_mut(..hlen) else {
        return Err(Error::BufferTooSmall {
            need: hlen,
            have: buf.len(),
        });
    };
    let mut flags = VERSION;
    let mut at = 2;
    if opts.with_length {
        let total = hlen + payload_len;
        let Ok(total) = u16::try_from(total) else {
            return Err(Error::MessageTooLong(total));
        };
        flags |= FLAG_LENGTH;
        h[2..4].copy_from_slice(&total.to_be_bytes());
        at = 4;
    }
    h[at..at + 2].copy_from_slice(&peer_tunnel_id.to_be_bytes());
    h[at + 2..at + 4].copy_from_slice(&peer_session_id.to_be_bytes());
    at += 4;
    if let Some(ns) = opts.ns {
        flags |= FLAG_SEQUENCE;
        h[at..at + 2].copy_from_slice(&ns.to_be_bytes());
        h[at + 2..at + 4].copy_from_slice(&0u16.to_be_bytes());
    }
    if opts.priority {
        flags |= FLAG_PRIORITY;
    }
    h[0..2].copy_from_slice(&flags.to_be_bytes());
    Ok(hlen)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_data_vector() {
        // T=0 L=0 S=0 O=0, Ver 2, tunnel 0x0102, session 0x0304, PPP LCP frame ff 03 c0 21.
        let b = [0x00, 0x02, 0x01, 0x02, 0x03, 0x04, 0xff, 0x03, 0xc0, 0x21];
        assert_eq!(
            classify(&b).unwrap(),
            Kind::Data {
                tunnel_id: 0x102,
                session_id: 0x304,
                ns: None,
                priority: false,
                payload: 6..10
            }
        );
        let mut out = [0u8; 6];
        assert_eq!(
            write_header(&mut out, 0x102, 0x304, 4, DataHeaderOptions::default()),
            Ok(6)
        );
        assert_eq!(out, b[..6]);
    }

    #[test]
    fn all_optional_fields_vector() {
        // L, S, O and P set; Length 20; Ns 7 Nr 0; offset 2 with 2 pad bytes; payload 4 bytes.
        let b = [
            0x4b, 0x02, 0x00, 0x14, 0x00, 0x05, 0x00, 0x06, 0x00, 0x07, 0x00, 0x00, 0x00, 0x02,
            0xaa, 0xbb, 0xc0, 0x21, 0x01, 0x01, 0xee,
        ];
        assert_eq!(
            classify(&b).unwrap(),
            Kind::Data {
                tunnel_id: 5,
                session_id: 6,
                ns: Some(7),
                priority: true,
                payload: 16..20
            }
        );
    }

    #[test]
    fn written_headers_classify_back() {
        for opts in [
            DataHeaderOptions::default(),
            DataHeaderOptions {
                with_length: true,
                ns: Some(9),
                priority: true,
            },
            DataHeaderOptions {
                with_length: true,
                ns: None,
                priority: false,
            },
        ] {
            let mut buf = [0u8; 32];
            let h = write_header(&mut buf, 11, 12, 3, opts).unwrap();
            buf[h..h + 3].copy_from_slice(&[1, 2, 3]);
            let kind = classify(&buf[..h + 3]).unwrap();
            assert_eq!(
                kind,
                Kind::Data {
                    tunnel_id: 11,
                    session_id: 12,
                    ns: opts.ns,
                    priority: opts.priority,
                    payload: h..h + 3
                }
            );
        }
    }

    #[test]
    fn rejections_are_typed() {
        assert!(matches!(classify(&[0x00]), Err(Error::Truncated { .. })));
        assert_eq!(
            classify(&[0x00, 0x01, 0, 0, 0, 0]),
            Err(Error::BadVersion(1))
        );
        assert!(matches!(
            classify(&[0x40, 0x02, 0x00, 0x20, 0, 1, 0, 2]),
            Err(Error::BadLength { .. })
        ));
        assert!(matches!(
            classify(&[0x02, 0x02, 0, 1, 0, 2, 0x00, 0x09, 1]),
            Err(Error::BadOffset { .. })
        ));
        assert_eq!(
            classify(&[0xc8, 0x02, 0, 12, 0, 9]),
            Ok(Kind::Control { tunnel_id: 9 })
        );
        let mut small = [0u8; 4];
        assert!(write_header(&mut small, 1, 1, 0, DataHeaderOptions::default()).is_err());
    }
}

//! The L2TP header (RFC 2661 §3.1) for control messages: a checked view over bytes and a repr.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! |T|L|x|x|S|x|O|P|x|x|x|x|  Ver  |          Length (opt)         |
//! |           Tunnel ID           |           Session ID          |
//! |             Ns (opt)          |             Nr (opt)          |
//! |      Offset Size (opt)        |    Offset pad... (opt)
//! ```
//! Data messages have their own zero-allocation parser in [`super::data`].

use super::Error;

/// T bit: 1 for control messages.
pub const FLAG_TYPE: u16 = 0x8000;
/// L bit: the Length field is present.
pub const FLAG_LENGTH: u16 = 0x4000;
/// S bit: Ns and Nr are present.
pub const FLAG_SEQUENCE: u16 = 0x0800;
/// O bit: the Offset Size field is present.
pub const FLAG_OFFSET: u16 = 0x0200;
/// P bit: priority (data messages only).
pub const FLAG_PRIORITY: u16 = 0x0100;
/// The Ver nibble.
pub const VERSION_MASK: u16 = 0x000f;
/// The only header version we speak (RFC 2661 §3.1; 1 is L2F).
pub const VERSION: u16 = 2;
/// Flags word of every control message we send: T, L, S and Ver 2 (RFC 2661 §3.1).
pub const CONTROL_FLAGS: u16 = FLAG_TYPE | FLAG_LENGTH | FLAG_SEQUENCE | VERSION;
/// Size of a control header (all optional fields but the offset present).
pub const CONTROL_HEADER_LEN: usize = 12;

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// A view over a control message whose header has been checked: every accessor is infallible.
#[derive(Debug, Clone, Copy)]
pub struct ControlPacket<T: AsRef<[u8]>> {
    buffer: T,
    length: usize,
}

impl<T: AsRef<[u8]>> ControlPacket<T> {
    /// Checks that `buffer` holds a well-formed control header: version 2, T, L and S set, O clear
    /// (RFC 2661 §3.1), and a Length between the header size and the datagram size. Bytes after
    /// Length are not part of the message and are ignored.
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let b = buffer.as_ref();
        if b.len() < CONTROL_HEADER_LEN {
            return Err(Error::Truncated {
                need: CONTROL_HEADER_LEN,
                have: b.len(),
            });
        }
        let flags = be16(b, 0);
        let version = flags & VERSION_MASK;
        if version != VERSION {
            return Err(Error::BadVersion(version as u8));
        }
        if flags & FLAG_TYPE == 0 {
            return Err(Error::WrongKind {
                expected: "control",
            });
        }
        // RFC 2661 §3.1: L and S MUST be 1 and O MUST be 0 on control messages. The P bit MUST be 0
        // too, but it changes no layout, so a peer that sets it is tolerated.
        if flags & (FLAG_LENGTH | FLAG_SEQUENCE) != (FLAG_LENGTH | FLAG_SEQUENCE)
            || flags & FLAG_OFFSET != 0
        {
            return Err(Error::BadControlFlags(flags));
        }
        let length = be16(b, 2);
        if (length as usize) < CONTROL_HEADER_LEN || length as usize > b.len() {
            return Err(Error::BadLength {
                length,
                actual: b.len(),
            });
        }
        Ok(Self {
            buffer,
            length: length as usize,
        })
    }

    fn b(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// The recipient's tunnel ID.
    pub fn tunnel_id(&self) -> u16 {
        be16(self.b(), 4)
    }

    /// The recipient's session ID (0 for tunnel-wide messages).
    pub fn session_id(&self) -> u16 {
        be16(self.b(), 6)
    }

    /// Ns: this message's sequence number.
    pub fn ns(&self) -> u16 {
        be16(self.b(), 8)
    }

    /// Nr: the next sequence number the sender expects from us.
    pub fn nr(&self) -> u16 {
        be16(self.b(), 10)
    }

    /// The Length field: the message's total size.
    pub fn length(&self) -> usize {
        self.length
    }

    /// The AVPs: bytes between the header and Length.
    pub fn body(&self) -> &[u8] {
        &self.b()[CONTROL_HEADER_LEN..self.length]
    }

    /// A zero-length body: the message is a ZLB acknowledgement (RFC 2661 §5.8).
    pub fn is_zlb(&self) -> bool {
        self.length == CONTROL_HEADER_LEN
    }

    /// The header as a repr.
    pub fn header(&self) -> ControlHeader {
        ControlHeader {
            tunnel_id: self.tunnel_id(),
            session_id: self.session_id(),
            ns: self.ns(),
            nr: self.nr(),
        }
    }
}

/// The fields of a control header that vary (the flags are fixed, the length is computed on emit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ControlHeader {
    /// The recipient's tunnel ID (0 before the peer assigned one).
    pub tunnel_id: u16,
    /// The recipient's session ID (0 for tunnel messages or before the peer assigned one).
    pub session_id: u16,
    /// Sequence number of this message.
    pub ns: u16,
    /// Next sequence number expected from the peer.
    pub nr: u16,
}

impl ControlHeader {
    /// Parses a control packet into its header and AVP body.
    pub fn parse(bytes: &[u8]) -> Result<(ControlHeader, &[u8]), Error> {
        let p = ControlPacket::new_checked(bytes)?;
        let length = p.length();
        Ok((p.header(), &bytes[CONTROL_HEADER_LEN..length]))
    }

    /// Writes the 12-byte header for a message of `length` bytes in total into `buf[..12]`.
    pub fn emit(&self, length: u16, buf: &mut [u8]) -> Result<(), Error> {
        let Some(h) = buf.get_mut(..CONTROL_HEADER_LEN) else {
            return Err(Error::BufferTooSmall {
                need: CONTROL_HEADER_LEN,
                have: buf.len(),
            });
        };
        h[0..2].copy_from_slice(&CONTROL_FLAGS.to_be_bytes());
        h[2..4].copy_from_slice(&length.to_be_bytes());
        h[4..6].copy_from_slice(&self.tunnel_id.to_be_bytes());
        h[6..8].copy_from_slice(&self.session_id.to_be_bytes());
        h[8..10].copy_from_slice(&self.ns.to_be_bytes());
        h[10..12].copy_from_slice(&self.nr.to_be_bytes());
        Ok(())
    }

    /// A ZLB acknowledgement (RFC 2661 §5.8): a header with no AVPs.
    pub fn zlb(&self) -> [u8; CONTROL_HEADER_LEN] {
        let mut b = [0u8; CONTROL_HEADER_LEN];
        // Cannot fail: the buffer is exactly one header long.
        let _ = self.emit(CONTROL_HEADER_LEN as u16, &mut b);
        b
    }
}

/// Rewrites Ns and Nr in an already encoded control message (the control channel does this on each
/// retransmission: RFC 2661 §5.8 says Nr MUST be updated). No-op on a buffer shorter than a header.
pub fn patch_sequence(packet: &mut [u8], ns: u16, nr: u16) {
    if packet.len() >= CONTROL_HEADER_LEN {
        packet[8..10].copy_from_slice(&ns.to_be_bytes());
        packet[10..12].copy_from_slice(&nr.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 2661 Appendix B.1: the final ZLB of lock-step establishment, Nr 2, Ns 1.
    const ZLB: [u8; 12] = [
        0xc8, 0x02, 0x00, 0x0c, 0x12, 0x34, 0x00, 0x00, 0x00, 0x01, 0x00, 0x02,
    ];

    #[test]
    fn zlb_vector_decodes_and_encodes() {
        let p = ControlPacket::new_checked(&ZLB[..]).unwrap();
        assert!(p.is_zlb());
        assert_eq!(
            p.header(),
            ControlHeader {
                tunnel_id: 0x1234,
                session_id: 0,
                ns: 1,
                nr: 2
            }
        );
        assert_eq!(p.header().zlb(), ZLB);
    }

    #[test]
    fn rejects_bad_headers_with_typed_errors() {
        assert_eq!(
            ControlPacket::new_checked(&ZLB[..11]).unwrap_err(),
            Error::Truncated { need: 12, have: 11 }
        );
        let mut l2f = ZLB;
        l2f[1] = 0x01;
        assert_eq!(
            ControlPacket::new_checked(&l2f[..]).unwrap_err(),
            Error::BadVersion(1)
        );
        let mut no_s = ZLB;
        no_s[0] = 0xc0;
        assert_eq!(
            ControlPacket::new_checked(&no_s[..]).unwrap_err(),
            Error::BadControlFlags(0xc002)
        );
        let mut long = ZLB;
        long[3] = 13;
        assert_eq!(
            ControlPacket::new_checked(&long[..]).unwrap_err(),
            Error::BadLength {
                length: 13,
                actual: 12
            }
        );
        let mut data = ZLB;
        data[0] = 0x48;
        assert_eq!(
            ControlPacket::new_checked(&data[..]).unwrap_err(),
            Error::WrongKind {
                expected: "control"
            }
        );
    }

    #[test]
    fn trailing_bytes_after_length_are_not_body() {
        let mut b = ZLB.to_vec();
        b.extend_from_slice(&[1, 2, 3]);
        let p = ControlPacket::new_checked(&b[..]).unwrap();
        assert!(p.is_zlb());
        assert!(p.body().is_empty());
    }
}

//! The control-packet envelope shared by LCP, IPCP, PAP and CHAP, and the option TLVs of
//! Configure-Request/Ack/Nak/Reject.
//!
//! Owns: the `Code | Identifier | Length | Data` header (RFC 1661 §5; PAP and CHAP reuse it, RFC 1334
//! §2.2, RFC 1994 §4) and the `Type | Length | Data` option encoding (RFC 1661 §6). Must not touch:
//! the meaning of codes or options; that lives in `lcp`, `ipcp`, `pap` and `chap`. Parse never panics
//! and never reads past a Length field.

use super::Error;

/// Octets in the control-packet header.
pub const HEADER_LEN: usize = 4;

/// A view over a control packet: `Code | Identifier | Length | Data` (RFC 1661 §5).
///
/// After [`Packet::new_checked`] succeeds, no accessor can panic.
#[derive(Debug, Clone, Copy)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer after checking the header and the Length field.
    ///
    /// RFC 1661 §5: "Octets outside the range of the Length field are treated as padding and are
    /// ignored on reception. If a packet is received with an invalid Length field, the packet is
    /// silently discarded."
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let bytes = buffer.as_ref();
        if bytes.len() < HEADER_LEN {
            return Err(Error::Truncated {
                what: "control packet header",
                need: HEADER_LEN,
                have: bytes.len(),
            });
        }
        let length = usize::from(u16::from_be_bytes([bytes[2], bytes[3]]));
        if length < HEADER_LEN || length > bytes.len() {
            return Err(Error::BadLength {
                what: "control packet",
                length,
                available: bytes.len(),
            });
        }
        Ok(Self { buffer })
    }

    /// The Code field.
    pub fn code(&self) -> u8 {
        self.buffer.as_ref()[0]
    }

    /// The Identifier field.
    pub fn identifier(&self) -> u8 {
        self.buffer.as_ref()[1]
    }

    /// The Length field: header plus data, padding excluded.
    pub fn length(&self) -> u16 {
        let b = self.buffer.as_ref();
        u16::from_be_bytes([b[2], b[3]])
    }

    /// The Data field, padding excluded.
    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..usize::from(self.length())]
    }

    /// The packet itself (header and data), padding excluded.
    pub fn packet_bytes(&self) -> &[u8] {
        &self.buffer.as_ref()[..usize::from(self.length())]
    }
}

/// The parsed header and data of a control packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketRepr<'a> {
    /// The Code field.
    pub code: u8,
    /// The Identifier field.
    pub identifier: u8,
    /// The Data field, padding excluded.
    pub data: &'a [u8],
}

impl<'a> PacketRepr<'a> {
    /// Parses a control packet from the bytes after the PPP Protocol field.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, Error> {
        let packet = Packet::new_checked(bytes)?;
        let length = usize::from(packet.length());
        Ok(Self {
            code: packet.code(),
            identifier: packet.identifier(),
            data: &bytes[HEADER_LEN..length],
        })
    }

    /// Octets [`PacketRepr::emit`] writes.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + self.data.len()
    }

    /// Appends the packet to `out`. Fails only when the data does not fit the 16-bit Length field.
    pub fn emit(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        let length = u16::try_from(self.buffer_len()).map_err(|_| Error::TooLong {
            what: "control packet",
            len: self.buffer_len(),
            max: usize::from(u16::MAX),
        })?;
        out.reserve(usize::from(length));
        out.push(self.code);
        out.push(self.identifier);
        out.extend_from_slice(&length.to_be_bytes());
        out.extend_from_slice(self.data);
        Ok(())
    }

    /// The packet as a fresh vector. Callers inside the engine keep data below 64 KiB, so this
    /// truncates the data rather than failing if that invariant were ever broken.
    pub fn to_vec(&self) -> Vec<u8> {
        let data = &self.data[..self.data.len().min(usize::from(u16::MAX) - HEADER_LEN)];
        let mut out = Vec::with_capacity(HEADER_LEN + data.len());
        let repr = PacketRepr { data, ..*self };
        // Cannot fail: the data was clamped to fit the Length field.
        let _ = repr.emit(&mut out);
        out
    }
}

/// One configuration option as it appears on the wire: `Type | Length | Data` (RFC 1661 §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawOption<'a> {
    /// The Type field.
    pub kind: u8,
    /// The Data field (Length minus two octets).
    pub data: &'a [u8],
    /// The whole option, Type and Length included, exactly as received.
    pub raw: &'a [u8],
}

impl RawOption<'_> {
    /// Appends a `Type | Length | Data` option. `data` longer than 253 octets cannot be encoded
    /// and is refused.
    pub fn emit(kind: u8, data: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
        let len = u8::try_from(data.len() + 2).map_err(|_| Error::TooLong {
            what: "configuration option",
            len: data.len() + 2,
            max: usize::from(u8::MAX),
        })?;
        out.push(kind);
        out.push(len);
        out.extend_from_slice(data);
        Ok(())
    }
}

/// Iterates over the options of a Configure-* packet. Yields an error for the first malformed
/// option (Length below 2 or past the end) and then stops.
#[derive(Debug, Clone)]
pub struct Options<'a> {
    rest: &'a [u8],
    failed: bool,
}

/// Iterates over the options in `data`, the Data field of a Configure-* packet.
pub fn options(data: &[u8]) -> Options<'_> {
    Options {
        rest: data,
        failed: false,
    }
}

impl<'a> Iterator for Options<'a> {
    type Item = Result<RawOption<'a>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.rest.is_empty() {
            return None;
        }
        let rest = self.rest;
        let (kind, len) = match rest {
            [kind, len, ..] => (*kind, usize::from(*len)),
            [kind] => {
                self.failed = true;
                return Some(Err(Error::BadOptionLength {
                    kind: *kind,
                    length: 0,
                    available: 1,
                }));
            }
            [] => return None,
        };
        if len < 2 || len > rest.len() {
            self.failed = true;
            return Some(Err(Error::BadOptionLength {
                kind,
                length: len,
                available: rest.len(),
            }));
        }
        self.rest = &rest[len..];
        Some(Ok(RawOption {
            kind,
            data: &rest[2..len],
            raw: &rest[..len],
        }))
    }
}

/// Parses every option in `data`, failing on the first malformed one.
pub fn parse_options(data: &[u8]) -> Result<Vec<RawOption<'_>>, Error> {
    options(data).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_ignores_padding() {
        // Configure-Request id 7 with MRU 1492, two octets of padding after Length.
        let bytes = [0x01, 0x07, 0x00, 0x08, 0x01, 0x04, 0x05, 0xd4, 0xaa, 0xbb];
        let repr = PacketRepr::parse(&bytes).unwrap();
        assert_eq!(repr.code, 1);
        assert_eq!(repr.identifier, 7);
        assert_eq!(repr.data, &[0x01, 0x04, 0x05, 0xd4]);
        assert_eq!(repr.to_vec(), bytes[..8].to_vec());
        let view = Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(view.length(), 8);
        assert_eq!(view.packet_bytes(), &bytes[..8]);
    }

    #[test]
    fn rejects_bad_lengths() {
        assert!(matches!(
            PacketRepr::parse(&[1, 2, 0]),
            Err(Error::Truncated { .. })
        ));
        assert!(matches!(
            PacketRepr::parse(&[1, 2, 0, 3]),
            Err(Error::BadLength { .. })
        ));
        assert!(matches!(
            PacketRepr::parse(&[1, 2, 0, 9, 0]),
            Err(Error::BadLength { .. })
        ));
        assert_eq!(PacketRepr::parse(&[5, 2, 0, 4]).unwrap().data, &[] as &[u8]);
    }

    #[test]
    fn iterates_options_and_stops_on_truncation() {
        let data = [0x01, 0x04, 0x05, 0xdc, 0x07, 0x02, 0x05, 0x06, 0x00];
        let mut it = options(&data);
        let mru = it.next().unwrap().unwrap();
        assert_eq!(
            (mru.kind, mru.data, mru.raw),
            (1, &[0x05, 0xdc][..], &data[..4])
        );
        let pfc = it.next().unwrap().unwrap();
        assert_eq!((pfc.kind, pfc.data), (7, &[][..]));
        assert_eq!(
            it.next(),
            Some(Err(Error::BadOptionLength {
                kind: 5,
                length: 6,
                available: 3
            }))
        );
        assert_eq!(it.next(), None);
        assert!(parse_options(&[0x03, 0x01]).is_err());
        assert!(parse_options(&[0x03]).is_err());
        assert_eq!(parse_options(&[]).unwrap(), vec![]);
    }

    #[test]
    fn emits_options() {
        let mut out = Vec::new();
        RawOption::emit(5, &[1, 2, 3, 4], &mut out).unwrap();
        assert_eq!(out, [5, 6, 1, 2, 3, 4]);
        assert!(RawOption::emit(5, &[0; 254], &mut out).is_err());
    }
}

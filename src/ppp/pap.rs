//! PAP packets (RFC 1334 §2.2).
//!
//! Owns: the Authenticate-Request/Ack/Nak codec. Must not touch: who is allowed in (the
//! application decides) and when packets are sent (`auth`). Parse never panics.

use super::Error;
use super::packet::PacketRepr;

/// PAP codes (RFC 1334 §2.2).
pub mod code {
    /// Authenticate-Request.
    pub const AUTHENTICATE_REQUEST: u8 = 1;
    /// Authenticate-Ack.
    pub const AUTHENTICATE_ACK: u8 = 2;
    /// Authenticate-Nak.
    pub const AUTHENTICATE_NAK: u8 = 3;
}

/// A PAP packet, parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PapPacket<'a> {
    /// Authenticate-Request: the peer's name and password in clear.
    Request {
        /// Identifier.
        id: u8,
        /// Peer-ID.
        peer_id: &'a [u8],
        /// Password.
        password: &'a [u8],
    },
    /// Authenticate-Ack with its message.
    Ack {
        /// Identifier, copied from the request.
        id: u8,
        /// Human-readable message.
        message: &'a [u8],
    },
    /// Authenticate-Nak with its message.
    Nak {
        /// Identifier, copied from the request.
        id: u8,
        /// Human-readable message.
        message: &'a [u8],
    },
}

fn length_prefixed<'a>(data: &'a [u8], what: &'static str) -> Result<(&'a [u8], &'a [u8]), Error> {
    let Some((&len, rest)) = data.split_first() else {
        return Err(Error::Truncated {
            what,
            need: 1,
            have: 0,
        });
    };
    let len = usize::from(len);
    if rest.len() < len {
        return Err(Error::BadLength {
            what,
            length: len,
            available: rest.len(),
        });
    }
    Ok(rest.split_at(len))
}

impl<'a> PapPacket<'a> {
    /// Parses the bytes after the PPP Protocol field.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, Error> {
        let p = PacketRepr::parse(bytes)?;
        match p.code {
            code::AUTHENTICATE_REQUEST => {
                let (peer_id, rest) = length_prefixed(p.data, "PAP Peer-ID")?;
                let (password, _) = length_prefixed(rest, "PAP Password")?;
                Ok(Self::Request {
                    id: p.identifier,
                    peer_id,
                    password,
                })
            }
            code::AUTHENTICATE_ACK | code::AUTHENTICATE_NAK => {
                // Some peers omit Msg-Length altogether; pppd accepts that, and so do we.
                let message = if p.data.is_empty() {
                    &[][..]
                } else {
                    length_prefixed(p.data, "PAP Message")?.0
                };
                Ok(if p.code == code::AUTHENTICATE_ACK {
                    Self::Ack {
                        id: p.identifier,
                        message,
                    }
                } else {
                    Self::Nak {
                        id: p.identifier,
                        message,
                    }
                })
            }
            other => Err(Error::UnknownCode {
                protocol: "PAP",
                code: other,
            }),
        }
    }

    /// The packet in wire form (without the Protocol field). Fields longer than 255 octets are
    /// truncated to fit their one-octet length.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut data = Vec::new();
        let mut put = |field: &[u8]| {
            let field = &field[..field.len().min(255)];
            data.push(field.len() as u8);
            data.extend_from_slice(field);
        };
        let (code, id) = match *self {
            Self::Request {
                id,
                peer_id,
                password,
            } => {
                put(peer_id);
                put(password);
                (code::AUTHENTICATE_REQUEST, id)
            }
            Self::Ack { id, message } => {
                put(message);
                (code::AUTHENTICATE_ACK, id)
            }
            Self::Nak { id, message } => {
                put(message);
                (code::AUTHENTICATE_NAK, id)
            }
        };
        PacketRepr {
            code,
            identifier: id,
            data: &data,
        }
        .to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_vector() {
        let bytes = [
            0x01, 0x05, 0x00, 0x0d, 0x04, b'u', b's', b'e', b'r', 0x03, b'p', b'w', b'd',
        ];
        let p = PapPacket::parse(&bytes).unwrap();
        assert_eq!(
            p,
            PapPacket::Request {
                id: 5,
                peer_id: b"user",
                password: b"pwd"
            }
        );
        assert_eq!(p.to_vec(), bytes);
    }

    #[test]
    fn ack_nak_vectors() {
        let ack = [0x02, 0x05, 0x00, 0x07, 0x02, b'o', b'k'];
        assert_eq!(
            PapPacket::parse(&ack).unwrap(),
            PapPacket::Ack {
                id: 5,
                message: b"ok"
            }
        );
        assert_eq!(
            PapPacket::Ack {
                id: 5,
                message: b"ok"
            }
            .to_vec(),
            ack
        );
        let nak = [0x03, 0x06, 0x00, 0x05, 0x00];
        assert_eq!(
            PapPacket::parse(&nak).unwrap(),
            PapPacket::Nak {
                id: 6,
                message: b""
            }
        );
        assert_eq!(
            PapPacket::parse(&[0x02, 0x01, 0x00, 0x04]).unwrap(),
            PapPacket::Ack {
                id: 1,
                message: b""
            }
        );
    }

    #[test]
    fn truncated_fields_are_errors() {
        assert!(PapPacket::parse(&[0x01, 0x05, 0x00, 0x04]).is_err());
        assert!(PapPacket::parse(&[0x01, 0x05, 0x00, 0x06, 0x05, b'u']).is_err());
        assert!(
            PapPacket::parse(&[0x01, 0x05, 0x00, 0x06, 0x01, b'u']).is_err(),
            "missing Passwd-Length"
        );
        assert!(PapPacket::parse(&[0x02, 0x05, 0x00, 0x05, 0x09]).is_err());
        assert!(matches!(
            PapPacket::parse(&[0x07, 0x05, 0x00, 0x04]),
            Err(Error::UnknownCode { .. })
        ));
    }
}

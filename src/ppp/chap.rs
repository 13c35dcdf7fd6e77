//! CHAP packets and the MD5 response (RFC 1994 §4, §2).
//!
//! Owns: the Challenge/Response/Success/Failure codec and the MD5 response computation and
//! constant-time check. Must not touch: secrets storage (the application owns the subscriber
//! table) and when packets are sent (`auth`). Parse never panics.

use md5::{Digest, Md5};

use super::Error;
use super::packet::PacketRepr;

/// CHAP codes (RFC 1994 §4).
pub mod code {
    /// Challenge.
    pub const CHALLENGE: u8 = 1;
    /// Response.
    pub const RESPONSE: u8 = 2;
    /// Success.
    pub const SUCCESS: u8 = 3;
    /// Failure.
    pub const FAILURE: u8 = 4;
}

/// Length of an MD5 response value (RFC 1994 §4.1: "16 octets for MD5").
pub const MD5_RESPONSE_LEN: usize = 16;

/// A CHAP packet, parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChapPacket<'a> {
    /// Challenge: a value and the authenticator's name.
    Challenge {
        /// Identifier; "MUST be changed each time a Challenge is sent".
        id: u8,
        /// Challenge value, one or more octets.
        value: &'a [u8],
        /// Name of the sender.
        name: &'a [u8],
    },
    /// Response: the hash and the peer's name.
    Response {
        /// Identifier, copied from the Challenge.
        id: u8,
        /// Response value (16 octets for MD5).
        value: &'a [u8],
        /// Name of the sender.
        name: &'a [u8],
    },
    /// Success with a message.
    Success {
        /// Identifier, copied from the Response.
        id: u8,
        /// Human-readable message.
        message: &'a [u8],
    },
    /// Failure with a message.
    Failure {
        /// Identifier, copied from the Response.
        id: u8,
        /// Human-readable message.
        message: &'a [u8],
    },
}

impl<'a> ChapPacket<'a> {
    /// Parses the bytes after the PPP Protocol field.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, Error> {
        let p = PacketRepr::parse(bytes)?;
        let id = p.identifier;
        match p.code {
            code::CHALLENGE | code::RESPONSE => {
                let Some((&size, rest)) = p.data.split_first() else {
                    return Err(Error::Truncated {
                        what: "CHAP Value-Size",
                        need: 1,
                        have: 0,
                    });
                };
                let size = usize::from(size);
                // RFC 1994 §4.1: "The Value field is one or more octets."
                if size == 0 || rest.len() < size {
                    return Err(Error::BadLength {
                        what: "CHAP Value",
                        length: size,
                        available: rest.len(),
                    });
                }
                let (value, name) = rest.split_at(size);
                Ok(if p.code == code::CHALLENGE {
                    Self::Challenge { id, value, name }
                } else {
                    Self::Response { id, value, name }
                })
            }
            code::SUCCESS => Ok(Self::Success {
                id,
                message: p.data,
            }),
            code::FAILURE => Ok(Self::Failure {
                id,
                message: p.data,
            }),
            other => Err(Error::UnknownCode {
                protocol: "CHAP",
                code: other,
            }),
        }
    }

    /// The packet in wire form (without the Protocol field). A value longer than 255 octets is
    /// truncated to fit Value-Size.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut data = Vec::new();
        let (code, id) = match *self {
            Self::Challenge { id, value, name } | Self::Response { id, value, name } => {
                let value = &value[..value.len().min(255)];
                data.push(value.len() as u8);
                data.extend_from_slice(value);
                data.extend_from_slice(name);
                let code = if matches!(self, Self::Challenge { .. }) {
                    code::CHALLENGE
                } else {
                    code::RESPONSE
                };
                (code, id)
            }
            Self::Success { id, message } => {
                data.extend_from_slice(message);
                (code::SUCCESS, id)
            }
            Self::Failure { id, message } => {
                data.extend_from_slice(message);
                (code::FAILURE, id)
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

/// The CHAP-MD5 response: MD5 over the Identifier, the secret, then the challenge value
/// (RFC 1994 §4.1, RFC 1321).
pub fn chap_md5_response(id: u8, secret: &[u8], challenge: &[u8]) -> [u8; MD5_RESPONSE_LEN] {
    let mut h = Md5::new();
    h.update([id]);
    h.update(secret);
    h.update(challenge);
    h.finalize().into()
}

/// Checks a CHAP-MD5 response against a cleartext secret, in time independent of where the
/// response differs.
pub fn verify_chap_md5(id: u8, secret: &[u8], challenge: &[u8], response: &[u8]) -> bool {
    let expected = chap_md5_response(id, secret, challenge);
    if response.len() != expected.len() {
        return false;
    }
    expected
        .iter()
        .zip(response)
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_response_vector() {
        // MD5(0x01 || "secret" || 00 01 02 .. 0f), computed independently with Python's hashlib.
        let challenge: Vec<u8> = (0u8..16).collect();
        let r = chap_md5_response(1, b"secret", &challenge);
        assert_eq!(hex::encode(r), "740e86463bda3a4d7017d6e0fba0699d");
        assert!(verify_chap_md5(1, b"secret", &challenge, &r));
        assert!(!verify_chap_md5(2, b"secret", &challenge, &r));
        assert!(!verify_chap_md5(1, b"secreT", &challenge, &r));
        assert!(!verify_chap_md5(1, b"secret", &challenge, &r[..15]));
    }

    #[test]
    fn packet_vectors() {
        let challenge = [
            0x01, 0x07, 0x00, 0x0b, 0x03, 0xaa, 0xbb, 0xcc, b'l', b'n', b's',
        ];
        let p = ChapPacket::parse(&challenge).unwrap();
        assert_eq!(
            p,
            ChapPacket::Challenge {
                id: 7,
                value: &[0xaa, 0xbb, 0xcc],
                name: b"lns"
            }
        );
        assert_eq!(p.to_vec(), challenge);
        let success = [0x03, 0x07, 0x00, 0x06, b'o', b'k'];
        assert_eq!(
            ChapPacket::parse(&success).unwrap(),
            ChapPacket::Success {
                id: 7,
                message: b"ok"
            }
        );
        assert_eq!(
            ChapPacket::Success {
                id: 7,
                message: b"ok"
            }
            .to_vec(),
            success
        );
        let failure = [0x04, 0x08, 0x00, 0x04];
        assert_eq!(
            ChapPacket::parse(&failure).unwrap(),
            ChapPacket::Failure {
                id: 8,
                message: b""
            }
        );
    }

    #[test]
    fn bad_value_sizes_are_errors() {
        assert!(ChapPacket::parse(&[0x02, 0x01, 0x00, 0x04]).is_err());
        assert!(ChapPacket::parse(&[0x02, 0x01, 0x00, 0x05, 0x00]).is_err());
        assert!(ChapPacket::parse(&[0x02, 0x01, 0x00, 0x06, 0x10, 0x01]).is_err());
        assert!(matches!(
            ChapPacket::parse(&[0x05, 0x01, 0x00, 0x04]),
            Err(Error::UnknownCode { .. })
        ));
    }
}

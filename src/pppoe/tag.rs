//! Discovery-stage tags (RFC 2516 §5 and Appendix A, plus PPP-Max-Payload from RFC 4638).
//!
//! Owns: the TLV layout and the per-type length rules. Must not touch: what a tag means to the
//! automata (echoing, matching, refusing); that is [`super::ac`] and [`super::client`].

use super::wire::WireError;

/// Tag type numbers.
pub mod tag_type {
    /// RFC 2516 Appendix A.
    pub const END_OF_LIST: u16 = 0x0000;
    /// RFC 2516 Appendix A.
    pub const SERVICE_NAME: u16 = 0x0101;
    /// RFC 2516 Appendix A.
    pub const AC_NAME: u16 = 0x0102;
    /// RFC 2516 Appendix A.
    pub const HOST_UNIQ: u16 = 0x0103;
    /// RFC 2516 Appendix A.
    pub const AC_COOKIE: u16 = 0x0104;
    /// RFC 2516 Appendix A.
    pub const VENDOR_SPECIFIC: u16 = 0x0105;
    /// RFC 2516 Appendix A.
    pub const RELAY_SESSION_ID: u16 = 0x0110;
    /// RFC 4638 §4.
    pub const PPP_MAX_PAYLOAD: u16 = 0x0120;
    /// RFC 2516 Appendix A.
    pub const SERVICE_NAME_ERROR: u16 = 0x0201;
    /// RFC 2516 Appendix A.
    pub const AC_SYSTEM_ERROR: u16 = 0x0202;
    /// RFC 2516 Appendix A.
    pub const GENERIC_ERROR: u16 = 0x0203;
}

/// Octets of TAG_TYPE and TAG_LENGTH.
pub const TAG_HEADER_LEN: usize = 4;

/// One Discovery tag. Values borrow from the frame (or, when emitting, from the caller).
///
/// String-valued tags (Service-Name, AC-Name, the error tags) are UTF-8 by RFC 2516 §8, but they are
/// kept as bytes: a peer's odd encoding must not make us drop its PADI, and they are compared
/// octet for octet anyway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tag<'a> {
    /// 0x0000: "TAG_LENGTH of this TAG MUST always be zero"; nothing after it is a tag.
    EndOfList,
    /// 0x0101: the requested or offered service; empty means any service.
    ServiceName(&'a [u8]),
    /// 0x0102: the access concentrator's name.
    AcName(&'a [u8]),
    /// 0x0103: opaque host data that the AC "MUST include ... unmodified" in its response.
    HostUniq(&'a [u8]),
    /// 0x0104: opaque AC data that the host "MUST return ... unmodified" in the PADR.
    AcCookie(&'a [u8]),
    /// 0x0105: the first four octets are the vendor id (high octet 0, then the SMI enterprise code).
    VendorSpecific {
        /// The vendor id.
        vendor_id: u32,
        /// The rest of the value.
        data: &'a [u8],
    },
    /// 0x0110: added by a relay; echoed unmodified in every response.
    RelaySessionId(&'a [u8]),
    /// 0x0120 (RFC 4638): the largest PPP payload the sender can carry, two octets.
    PppMaxPayload(u16),
    /// 0x0201: the requested Service-Name cannot be honoured; optional UTF-8 text.
    ServiceNameError(&'a [u8]),
    /// 0x0202: the AC failed to perform the request; optional UTF-8 text.
    AcSystemError(&'a [u8]),
    /// 0x0203: an unrecoverable error; optional UTF-8 text.
    GenericError(&'a [u8]),
    /// Any other type. RFC 2516 §5: "a TAG of unknown TAG_TYPE ... MUST be ignored"; kept so a
    /// frame re-emits unchanged.
    Unknown {
        /// TAG_TYPE.
        tag_type: u16,
        /// TAG_VALUE.
        value: &'a [u8],
    },
}

impl<'a> Tag<'a> {
    /// Builds a typed tag from a type and a value that has already been cut to TAG_LENGTH.
    pub fn from_parts(ty: u16, value: &'a [u8]) -> Result<Self, WireError> {
        let bad = |expected| WireError::BadTagLength {
            tag_type: ty,
            length: value.len(),
            expected,
        };
        Ok(match ty {
            tag_type::END_OF_LIST => {
                if !value.is_empty() {
                    return Err(bad("End-Of-List must be empty (RFC 2516 Appendix A)"));
                }
                Tag::EndOfList
            }
            tag_type::SERVICE_NAME => Tag::ServiceName(value),
            tag_type::AC_NAME => Tag::AcName(value),
            tag_type::HOST_UNIQ => Tag::HostUniq(value),
            tag_type::AC_COOKIE => Tag::AcCookie(value),
            tag_type::VENDOR_SPECIFIC => {
                if value.len() < 4 {
                    return Err(bad(
                        "Vendor-Specific needs a 4-octet vendor id (RFC 2516 Appendix A)",
                    ));
                }
                let vendor_id = u32::from_be_bytes([value[0], value[1], value[2], value[3]]);
                Tag::VendorSpecific {
                    vendor_id,
                    data: &value[4..],
                }
            }
            tag_type::RELAY_SESSION_ID => Tag::RelaySessionId(value),
            tag_type::PPP_MAX_PAYLOAD => {
                if value.len() != 2 {
                    return Err(bad("PPP-Max-Payload must be 2 octets (RFC 4638 §4)"));
                }
                Tag::PppMaxPayload(u16::from_be_bytes([value[0], value[1]]))
            }
            tag_type::SERVICE_NAME_ERROR => Tag::ServiceNameError(value),
            tag_type::AC_SYSTEM_ERROR => Tag::AcSystemError(value),
            tag_type::GENERIC_ERROR => Tag::GenericError(value),
            _ => Tag::Unknown {
                tag_type: ty,
                value,
            },
        })
    }

    /// TAG_TYPE.
    pub fn tag_type(&self) -> u16 {
        match self {
            Tag::EndOfList => tag_type::END_OF_LIST,
            Tag::ServiceName(_) => tag_type::SERVICE_NAME,
            Tag::AcName(_) => tag_type::AC_NAME,
            Tag::HostUniq(_) => tag_type::HOST_UNIQ,
            Tag::AcCookie(_) => tag_type::AC_COOKIE,
            Tag::VendorSpecific { .. } => tag_type::VENDOR_SPECIFIC,
            Tag::RelaySessionId(_) => tag_type::RELAY_SESSION_ID,
            Tag::PppMaxPayload(_) => tag_type::PPP_MAX_PAYLOAD,
            Tag::ServiceNameError(_) => tag_type::SERVICE_NAME_ERROR,
            Tag::AcSystemError(_) => tag_type::AC_SYSTEM_ERROR,
            Tag::GenericError(_) => tag_type::GENERIC_ERROR,
            Tag::Unknown { tag_type, .. } => *tag_type,
        }
    }

    /// TAG_LENGTH.
    pub fn value_len(&self) -> usize {
        match self {
            Tag::EndOfList => 0,
            Tag::PppMaxPayload(_) => 2,
            Tag::VendorSpecific { data, .. } => 4 + data.len(),
            Tag::ServiceName(v)
            | Tag::AcName(v)
            | Tag::HostUniq(v)
            | Tag::AcCookie(v)
            | Tag::RelaySessionId(v)
            | Tag::ServiceNameError(v)
            | Tag::AcSystemError(v)
            | Tag::GenericError(v)
            | Tag::Unknown { value: v, .. } => v.len(),
        }
    }

    /// Header plus value.
    pub fn wire_len(&self) -> usize {
        TAG_HEADER_LEN + self.value_len()
    }

    /// Service-Name-Error, AC-System-Error or Generic-Error.
    pub fn is_error(&self) -> bool {
        matches!(
            self,
            Tag::ServiceNameError(_) | Tag::AcSystemError(_) | Tag::GenericError(_)
        )
    }

    /// The explanatory text of an error tag, lossily decoded, or `None` for other tags.
    pub fn error_text(&self) -> Option<String> {
        match self {
            Tag::ServiceNameError(v) | Tag::AcSystemError(v) | Tag::GenericError(v) => {
                // Appendix A: text is present only "if ... the first octet of the data is nonzero";
                // some stacks also NUL-terminate despite the RFC, so trailing NULs are dropped.
                let text = match v.iter().rposition(|&b| b != 0) {
                    Some(last) if v[0] != 0 => &v[..=last],
                    _ => &[][..],
                };
                Some(String::from_utf8_lossy(text).into_owned())
            }
            _ => None,
        }
    }

    /// Writes the tag into `buf` and returns the octets written.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, WireError> {
        let value_len = self.value_len();
        let length = u16::try_from(value_len).map_err(|_| WireError::PayloadTooLong(value_len))?;
        let needed = TAG_HEADER_LEN + value_len;
        if buf.len() < needed {
            return Err(WireError::BufferTooSmall {
                needed,
                available: buf.len(),
            });
        }
        buf[0..2].copy_from_slice(&self.tag_type().to_be_bytes());
        buf[2..4].copy_from_slice(&length.to_be_bytes());
        let out = &mut buf[TAG_HEADER_LEN..needed];
        match self {
            Tag::EndOfList => {}
            Tag::PppMaxPayload(v) => out.copy_from_slice(&v.to_be_bytes()),
            Tag::VendorSpecific { vendor_id, data } => {
                out[..4].copy_from_slice(&vendor_id.to_be_bytes());
                out[4..].copy_from_slice(data);
            }
            Tag::ServiceName(v)
            | Tag::AcName(v)
            | Tag::HostUniq(v)
            | Tag::AcCookie(v)
            | Tag::RelaySessionId(v)
            | Tag::ServiceNameError(v)
            | Tag::AcSystemError(v)
            | Tag::GenericError(v)
            | Tag::Unknown { value: v, .. } => out.copy_from_slice(v),
        }
        Ok(needed)
    }
}

/// Iterates the tags of a Discovery payload, yielding an error (once, then stopping) at the first
/// malformed tag. Stops after End-Of-List: RFC 2516 Appendix A says no tags follow it, so whatever
/// octets do are not interpreted.
#[derive(Debug, Clone)]
pub struct TagIter<'a> {
    payload: &'a [u8],
    offset: usize,
    done: bool,
}

impl<'a> TagIter<'a> {
    /// Iterates `payload`, the PPPoE payload of a Discovery frame.
    pub fn new(payload: &'a [u8]) -> Self {
        TagIter {
            payload,
            offset: 0,
            done: false,
        }
    }
}

impl<'a> Iterator for TagIter<'a> {
    type Item = Result<Tag<'a>, WireError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.offset >= self.payload.len() {
            return None;
        }
        let rest = &self.payload[self.offset..];
        if rest.len() < TAG_HEADER_LEN {
            self.done = true;
            return Some(Err(WireError::TagHeaderTruncated {
                offset: self.offset,
            }));
        }
        let ty = u16::from_be_bytes([rest[0], rest[1]]);
        let length = usize::from(u16::from_be_bytes([rest[2], rest[3]]));
        let available = rest.len() - TAG_HEADER_LEN;
        if length > available {
            self.done = true;
            return Some(Err(WireError::TagValuePastEnd {
                tag_type: ty,
                offset: self.offset,
                length,
                available,
            }));
        }
        let value = &rest[TAG_HEADER_LEN..TAG_HEADER_LEN + length];
        self.offset += TAG_HEADER_LEN + length;
        let tag = Tag::from_parts(ty, value);
        if matches!(tag, Err(_) | Ok(Tag::EndOfList)) {
            self.done = true;
        }
        Some(tag)
    }
}

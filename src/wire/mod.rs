//! L2TPv2 wire format (RFC 2661 §3, §4): the common header, data-message fast path, AVPs (every AVP
//! of §4.4, hidden AVPs, our vendor AVPs) and control messages with their §6 mandatory-AVP checks.
//!
//! Owns: turning bytes into typed values and back. Must not touch: sockets, the clock or any protocol
//! state (that is [`crate::l2tp`]). Parsing never panics and never reads past a length; every
//! rejection is an [`Error`] naming what was wrong.
//!
//! The shape follows smoltcp's `wire`: a view over bytes ([`header::ControlPacket`]) whose accessors
//! cannot panic once [`header::ControlPacket::new_checked`] has passed, and reprs ([`Message`],
//! [`header::ControlHeader`]) with `parse` and `emit`.
//!
//! * [`data`]: the zero-allocation data path: [`data::classify`] and [`data::write_header`].
//! * [`header`]: the control header and packet view.
//! * [`avp`]: AVP value types, the AVP reader and writer, our vendor AVPs.
//! * [`hidden`]: §4.3 AVP hiding and the §4.4.3 challenge response.
//! * [`message`]: [`MessageType`], [`Avps`], [`Message`] parse and emit.
//! * [`codes`]: result and error codes with their RFC meanings.

pub mod avp;
pub mod codes;
pub mod data;
pub mod header;
pub mod hidden;
pub mod message;

pub use avp::{
    AvpError, AvpType, Bearer, CallErrors, Capabilities, DEFAULT_VENDOR_ID, DisconnectCause,
    DisconnectCauseCode, Framing, ProtocolVersion, ProxyAuthenType, Q931Cause, RawAvp, ResultCode,
    Switchover, VendorAvpType,
};
pub use codes::{CdnResult, ErrorCode, StopCcnResult};
pub use header::{ControlHeader, ControlPacket};
pub use message::{
    Avps, EmitContext, HideSet, Message, MessageType, ParseContext, ProxyAuth, ProxyLcp,
};

/// The UDP port L2TP listens on (RFC 2661 §8.1).
pub const L2TP_PORT: u16 = 1701;

/// Every way bytes can fail to be a valid L2TP packet or message, and every way a message can fail
/// to be emitted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Fewer bytes than the structure being read needs.
    #[error("truncated: need {need} bytes, have {have}")]
    Truncated {
        /// Bytes needed.
        need: usize,
        /// Bytes available.
        have: usize,
    },
    /// RFC 2661 §3.1: the Ver field must be 2 (1 is L2F); such packets are discarded.
    #[error("unsupported header version {0}")]
    BadVersion(u8),
    /// A control message without the L or S bit, or with the O bit (RFC 2661 §3.1).
    #[error("control header flags {0:#06x} invalid (L and S must be set, O clear)")]
    BadControlFlags(u16),
    /// The header's Length field is smaller than the header or larger than the datagram.
    #[error("length field {length} does not fit a datagram of {actual} bytes")]
    BadLength {
        /// The Length field.
        length: u16,
        /// The datagram size.
        actual: usize,
    },
    /// The data header's Offset Size runs past the end of the packet.
    #[error("offset size {offset} runs past the end of a {actual}-byte packet")]
    BadOffset {
        /// The Offset Size field.
        offset: u16,
        /// The packet size.
        actual: usize,
    },
    /// A data-message view was asked of a control message or the other way round.
    #[error("expected a {expected} message")]
    WrongKind {
        /// "control" or "data".
        expected: &'static str,
    },
    /// An AVP header whose Length is below 6 or runs past the end of the message (RFC 2661 §4.1).
    #[error("AVP at offset {offset}: length {length} invalid with {remaining} bytes left")]
    AvpLength {
        /// Offset of the AVP within the message body.
        offset: usize,
        /// The AVP Length field.
        length: u16,
        /// Bytes left in the message at that offset.
        remaining: usize,
    },
    /// RFC 2661 §4.4.1: the first AVP must be an unhidden Message Type AVP.
    #[error("the first AVP is not an unhidden Message Type AVP")]
    MissingMessageType,
    /// A message type this implementation does not know. RFC 2661 §4.4.1: with the M bit the tunnel
    /// must be cleared, without it the message may be ignored.
    #[error("unknown message type {value} (mandatory: {mandatory})")]
    UnknownMessageType {
        /// The Message Type value.
        value: u16,
        /// The M bit of the Message Type AVP.
        mandatory: bool,
    },
    /// A known AVP with the M bit set whose value is malformed (RFC 2661 §7.1).
    #[error("AVP {attr} (vendor {vendor}): {error}")]
    BadAvp {
        /// Vendor ID.
        vendor: u16,
        /// Attribute type.
        attr: u16,
        /// What is wrong with it.
        error: AvpError,
    },
    /// A hidden AVP arrived but no shared secret is configured (RFC 2661 §4.3).
    #[error("AVP {attr} is hidden but no shared secret is configured")]
    HiddenWithoutSecret {
        /// Attribute type.
        attr: u16,
    },
    /// A hidden AVP arrived before any Random Vector AVP (RFC 2661 §4.3).
    #[error("AVP {attr} is hidden but no Random Vector AVP precedes it")]
    HiddenWithoutRandomVector {
        /// Attribute type.
        attr: u16,
    },
    /// A hidden AVP whose unhidden subformat is shorter than its own length field claims.
    #[error("hidden AVP {attr}: original length {original} exceeds the {available} bytes hidden")]
    HiddenLength {
        /// Attribute type.
        attr: u16,
        /// The "Length of Original Value" field after unhiding.
        original: u16,
        /// Bytes available after the length field.
        available: usize,
    },
    /// An AVP that RFC 2661 §6 requires in this message is absent (on receive or on send).
    #[error("{message:?} lacks the mandatory {attr:?} AVP")]
    MissingAvp {
        /// The message type.
        message: MessageType,
        /// The missing AVP.
        attr: AvpType,
    },
    /// The same known AVP appeared twice in one message.
    #[error("AVP {attr} (vendor {vendor}) appears more than once")]
    DuplicateAvp {
        /// Vendor ID.
        vendor: u16,
        /// Attribute type.
        attr: u16,
    },
    /// On emit: an AVP value longer than the 10-bit Length field allows (RFC 2661 §4.1).
    #[error("AVP {attr} value of {len} bytes exceeds the 1017-byte maximum")]
    AvpTooLong {
        /// Attribute type.
        attr: u16,
        /// Value length.
        len: usize,
    },
    /// On emit: the message exceeds the 16-bit Length field.
    #[error("message of {0} bytes exceeds 65535")]
    MessageTooLong(usize),
    /// On emit: an AVP is to be hidden but no secret was given.
    #[error("AVP {attr} is to be hidden but no shared secret was given")]
    HideWithoutSecret {
        /// Attribute type.
        attr: u16,
    },
    /// On emit: the caller's buffer cannot hold the header.
    #[error("buffer of {have} bytes cannot hold {need}")]
    BufferTooSmall {
        /// Bytes needed.
        need: usize,
        /// Bytes available.
        have: usize,
    },
}

impl Error {
    /// The RFC 2661 §4.4.2 General Error Code that best reports this error to the peer in a
    /// StopCCN or CDN with result "general error".
    pub fn error_code(&self) -> ErrorCode {
        match self {
            Error::Truncated { .. }
            | Error::BadLength { .. }
            | Error::AvpLength { .. }
            | Error::HiddenLength { .. } => ErrorCode::BadLength,
            Error::BadAvp {
                error: AvpError::Length { .. },
                ..
            } => ErrorCode::BadLength,
            Error::UnknownMessageType { .. } => ErrorCode::UnknownMandatoryAvp,
            _ => ErrorCode::BadValue,
        }
    }
}

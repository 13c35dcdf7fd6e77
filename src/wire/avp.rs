//! AVPs (RFC 2661 §4.1, §4.4): the header reader and writer, the attribute numbers, the typed
//! values of every §4.4 AVP, and our vendor AVPs.
//!
//! ```text
//! |M|H| rsvd  |      Length       |           Vendor ID           |
//! |         Attribute Type        |        Attribute Value...
//! ```
//!
//! # Our vendor AVPs
//! Sent with M=0 under a configurable Vendor ID ([`DEFAULT_VENDOR_ID`] = 32473, the RFC 5612
//! documentation enterprise number) and attribute types above 39, where standard peers' tables end.
//! A standard peer ignores them (RFC 2661 §4.1, M=0); l2tpagg sends none but the capability AVP to a
//! peer that did not advertise [`Capabilities`].
//!
//! | type | name                  | messages      | value                                                    |
//! |------|-----------------------|---------------|----------------------------------------------------------|
//! | 40   | [`Capabilities`]      | SCCRQ, SCCRP  | u32 bit flags                                            |
//! | 41   | [`Switchover`]        | ICRQ          | old tunnel ID u16, old session ID u16, move token u64    |
//! | 42   | [`DisconnectCause`]   | CDN           | cause code u16, detail u32, optional UTF-8 text          |

use super::Error;

/// The Vendor ID our vendor AVPs use unless configured otherwise: 32473, the enterprise number RFC
/// 5612 reserves for documentation.
pub const DEFAULT_VENDOR_ID: u16 = 32473;

/// A Wireshark/tshark Lua dissector for our vendor AVPs under `vendor_id`. Stock Wireshark flags
/// every AVP of a vendor it has no dissector for as "Undecoded: Vendor-Specific AVP data" (an
/// expert warning); with this script loaded (`tshark -X lua_script:FILE`) our AVPs are decoded
/// field by field. The daemon can write it out for operators reading captures.
pub fn wireshark_dissector(vendor_id: u16) -> String {
    include_str!("wireshark.lua").replace("@VENDOR_ID@", &vendor_id.to_string())
}

/// AVP header flag: Mandatory.
pub const AVP_FLAG_MANDATORY: u16 = 0x8000;
/// AVP header flag: Hidden.
pub const AVP_FLAG_HIDDEN: u16 = 0x4000;
/// The four reserved bits; RFC 2661 §4.1: an AVP with one set MUST be treated as unrecognized.
pub const AVP_FLAG_RESERVED: u16 = 0x3c00;
/// The 10-bit Length field.
pub const AVP_LENGTH_MASK: u16 = 0x03ff;
/// An AVP header's size.
pub const AVP_HEADER_LEN: usize = 6;
/// Largest value an AVP can carry (1023 - 6).
pub const AVP_MAX_VALUE: usize = 1017;

/// Why a known AVP's value is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AvpError {
    /// The value has the wrong size.
    #[error("value length {got}, expected {expected}")]
    Length {
        /// What the RFC allows, for the message.
        expected: &'static str,
        /// What arrived.
        got: usize,
    },
    /// A field is out of range (a zero ID, a zero window, a non-zero reserved octet).
    #[error("value out of range: {0}")]
    OutOfRange(&'static str),
}

/// Attribute types of RFC 2661 §4.4 (Vendor ID 0). 20 is unassigned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u16)]
#[allow(missing_docs)]
pub enum AvpType {
    MessageType = 0,
    ResultCode = 1,
    ProtocolVersion = 2,
    FramingCapabilities = 3,
    BearerCapabilities = 4,
    TieBreaker = 5,
    FirmwareRevision = 6,
    HostName = 7,
    VendorName = 8,
    AssignedTunnelId = 9,
    ReceiveWindowSize = 10,
    Challenge = 11,
    Q931CauseCode = 12,
    ChallengeResponse = 13,
    AssignedSessionId = 14,
    CallSerialNumber = 15,
    MinimumBps = 16,
    MaximumBps = 17,
    BearerType = 18,
    FramingType = 19,
    CalledNumber = 21,
    CallingNumber = 22,
    SubAddress = 23,
    TxConnectSpeed = 24,
    PhysicalChannelId = 25,
    InitialReceivedLcpConfreq = 26,
    LastSentLcpConfreq = 27,
    LastReceivedLcpConfreq = 28,
    ProxyAuthenType = 29,
    ProxyAuthenName = 30,
    ProxyAuthenChallenge = 31,
    ProxyAuthenId = 32,
    ProxyAuthenResponse = 33,
    CallErrors = 34,
    Accm = 35,
    RandomVector = 36,
    PrivateGroupId = 37,
    RxConnectSpeed = 38,
    SequencingRequired = 39,
}

impl AvpType {
    /// The attribute number.
    pub fn code(self) -> u16 {
        self as u16
    }

    /// RFC 2661 §4.4: whether the H bit may be set on this AVP.
    pub fn hideable(self) -> bool {
        !matches!(
            self,
            AvpType::MessageType
                | AvpType::ResultCode
                | AvpType::ProtocolVersion
                | AvpType::TieBreaker
                | AvpType::HostName
                | AvpType::ReceiveWindowSize
                | AvpType::Q931CauseCode
                | AvpType::RandomVector
                | AvpType::SequencingRequired
        )
    }

    /// RFC 2661 §4.4: the M bit this AVP is sent with.
    pub fn mandatory(self) -> bool {
        !matches!(
            self,
            AvpType::TieBreaker
                | AvpType::FirmwareRevision
                | AvpType::VendorName
                | AvpType::PhysicalChannelId
                | AvpType::InitialReceivedLcpConfreq
                | AvpType::LastSentLcpConfreq
                | AvpType::LastReceivedLcpConfreq
                | AvpType::ProxyAuthenType
                | AvpType::ProxyAuthenName
                | AvpType::ProxyAuthenChallenge
                | AvpType::ProxyAuthenId
                | AvpType::ProxyAuthenResponse
                | AvpType::PrivateGroupId
                | AvpType::RxConnectSpeed
        )
    }
}

/// Attribute types of our vendor AVPs (under the configured Vendor ID). See the module doc.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum VendorAvpType {
    /// [`Capabilities`].
    Capabilities = 40,
    /// [`Switchover`].
    Switchover = 41,
    /// [`DisconnectCause`].
    DisconnectCause = 42,
}

/// An AVP as it stood on the wire (value already unhidden if it was hidden and a secret was given).
/// Unknown AVPs are kept in this form so the caller can judge them (RFC 2661 §4.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawAvp {
    /// The M bit.
    pub mandatory: bool,
    /// The H bit (the value below is the revealed one).
    pub hidden: bool,
    /// The four reserved flag bits, as received (an AVP with any set counts as unrecognized).
    pub reserved: u8,
    /// Vendor ID.
    pub vendor_id: u16,
    /// Attribute type.
    pub attr: u16,
    /// Attribute value.
    pub value: Vec<u8>,
}

/// One AVP header and its (possibly hidden) value bytes, borrowed from the message.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AvpView<'a> {
    pub flags: u16,
    pub vendor_id: u16,
    pub attr: u16,
    pub value: &'a [u8],
}

impl AvpView<'_> {
    pub fn mandatory(&self) -> bool {
        self.flags & AVP_FLAG_MANDATORY != 0
    }
    pub fn hidden(&self) -> bool {
        self.flags & AVP_FLAG_HIDDEN != 0
    }
    pub fn reserved(&self) -> u8 {
        ((self.flags & AVP_FLAG_RESERVED) >> 10) as u8
    }
}

/// Walks the AVPs of a message body, checking each Length (RFC 2661 §4.1: at least 6, and within
/// the message).
pub(crate) struct AvpReader<'a> {
    body: &'a [u8],
    at: usize,
}

impl<'a> AvpReader<'a> {
    pub fn new(body: &'a [u8]) -> Self {
        Self { body, at: 0 }
    }
}

impl<'a> Iterator for AvpReader<'a> {
    type Item = Result<AvpView<'a>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.body.get(self.at..)?;
        if rest.is_empty() {
            return None;
        }
        let offset = self.at;
        if rest.len() < AVP_HEADER_LEN {
            self.at = self.body.len();
            return Some(Err(Error::AvpLength {
                offset,
                length: 0,
                remaining: rest.len(),
            }));
        }
        let flags = u16::from_be_bytes([rest[0], rest[1]]);
        let length = flags & AVP_LENGTH_MASK;
        if (length as usize) < AVP_HEADER_LEN || length as usize > rest.len() {
            self.at = self.body.len();
            return Some(Err(Error::AvpLength {
                offset,
                length,
                remaining: rest.len(),
            }));
        }
        self.at += length as usize;
        Some(Ok(AvpView {
            flags: flags & !AVP_LENGTH_MASK,
            vendor_id: u16::from_be_bytes([rest[2], rest[3]]),
            attr: u16::from_be_bytes([rest[4], rest[5]]),
            value: &rest[AVP_HEADER_LEN..length as usize],
        }))
    }
}

/// Appends one AVP (header and value as given) to `out`.
pub(crate) fn write_avp(
    out: &mut Vec<u8>,
    mandatory: bool,
    hidden: bool,
    vendor: u16,
    attr: u16,
    value: &[u8],
) -> Result<(), Error> {
    if value.len() > AVP_MAX_VALUE {
        return Err(Error::AvpTooLong {
            attr,
            len: value.len(),
        });
    }
    let mut flags = (AVP_HEADER_LEN + value.len()) as u16;
    if mandatory {
        flags |= AVP_FLAG_MANDATORY;
    }
    if hidden {
        flags |= AVP_FLAG_HIDDEN;
    }
    out.extend_from_slice(&flags.to_be_bytes());
    out.extend_from_slice(&vendor.to_be_bytes());
    out.extend_from_slice(&attr.to_be_bytes());
    out.extend_from_slice(value);
    Ok(())
}

/// A typed AVP value: decoded from and encoded to the Attribute Value field.
pub trait AvpValue: Sized {
    /// Decodes the (unhidden) value field.
    fn decode(v: &[u8]) -> Result<Self, AvpError>;
    /// Appends the value field.
    fn encode(&self, out: &mut Vec<u8>);
}

fn exact<const N: usize>(v: &[u8], expected: &'static str) -> Result<[u8; N], AvpError> {
    v.try_into().map_err(|_| AvpError::Length {
        expected,
        got: v.len(),
    })
}

impl AvpValue for u16 {
    fn decode(v: &[u8]) -> Result<Self, AvpError> {
        Ok(u16::from_be_bytes(exact(v, "2")?))
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_be_bytes());
    }
}

impl AvpValue for u32 {
    fn decode(v: &[u8]) -> Result<Self, AvpError> {
        Ok(u32::from_be_bytes(exact(v, "4")?))
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_be_bytes());
    }
}

impl AvpValue for u64 {
    fn decode(v: &[u8]) -> Result<Self, AvpError> {
        Ok(u64::from_be_bytes(exact(v, "8")?))
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_be_bytes());
    }
}

impl AvpValue for Vec<u8> {
    fn decode(v: &[u8]) -> Result<Self, AvpError> {
        Ok(v.to_vec())
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self);
    }
}

impl AvpValue for [u8; 16] {
    fn decode(v: &[u8]) -> Result<Self, AvpError> {
        exact(v, "16")
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self);
    }
}

/// Sequencing Required (RFC 2661 §4.4.4) has no value: its presence is the value.
impl AvpValue for () {
    fn decode(v: &[u8]) -> Result<Self, AvpError> {
        if v.is_empty() {
            Ok(())
        } else {
            Err(AvpError::Length {
                expected: "0",
                got: v.len(),
            })
        }
    }
    fn encode(&self, _out: &mut Vec<u8>) {}
}

/// Protocol Version (RFC 2661 §4.4.3): version 1, revision 0 for L2TPv2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProtocolVersion {
    /// Ver (1).
    pub version: u8,
    /// Rev (0).
    pub revision: u8,
}

impl ProtocolVersion {
    /// The version RFC 2661 speaks: 1.0.
    pub const V1_0: ProtocolVersion = ProtocolVersion {
        version: 1,
        revision: 0,
    };
}

impl AvpValue for ProtocolVersion {
    fn decode(v: &[u8]) -> Result<Self, AvpError> {
        let [version, revision] = exact(v, "2")?;
        Ok(ProtocolVersion { version, revision })
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[self.version, self.revision]);
    }
}

/// Framing Capabilities and Framing Type (RFC 2661 §4.4.3, §4.4.4): a 32-bit mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Framing(pub u32);

impl Framing {
    /// S: synchronous framing.
    pub const SYNC: u32 = 0x1;
    /// A: asynchronous framing.
    pub const ASYNC: u32 = 0x2;
    /// Both synchronous and asynchronous.
    pub const BOTH: Framing = Framing(Self::SYNC | Self::ASYNC);
    /// Whether synchronous framing is set.
    pub fn sync(self) -> bool {
        self.0 & Self::SYNC != 0
    }
    /// Whether asynchronous framing is set.
    pub fn asynchronous(self) -> bool {
        self.0 & Self::ASYNC != 0
    }
}

impl AvpValue for Framing {
    fn decode(v: &[u8]) -> Result<Self, AvpError> {
        Ok(Framing(u32::decode(v)?))
    }
    fn encode(&self, out: &mut Vec<u8>) {
        self.0.encode(out)
    }
}

/// Bearer Capabilities and Bearer Type (RFC 2661 §4.4.3, §4.4.4): a 32-bit mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Bearer(pub u32);

impl Bearer {
    /// D: digital.
    pub const DIGITAL: u32 = 0x1;
    /// A: analog.
    pub const ANALOG: u32 = 0x2;
}

impl AvpValue for Bearer {
    fn decode(v: &[u8]) -> Result<Self, AvpError> {
        Ok(Bearer(u32::decode(v)?))
    }
    fn encode(&self, out: &mut Vec<u8>) {
        self.0.encode(out)
    }
}

/// Result Code AVP (RFC 2661 §4.4.2): result, optional error code, optional message. The numbers
/// are interpreted with [`super::StopCcnResult`] or [`super::CdnResult`] and [`super::ErrorCode`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultCode {
    /// Result Code.
    pub result: u16,
    /// Error Code (present when the AVP is 10 bytes or longer).
    pub error: Option<u16>,
    /// Error Message, human-readable UTF-8 (needs an error code before it on the wire).
    pub message: Option<String>,
}

impl ResultCode {
    /// A result with no error code.
    pub fn new(result: u16) -> Self {
        ResultCode {
            result,
            error: None,
            message: None,
        }
    }
}

impl AvpValue for ResultCode {
    fn decode(v: &[u8]) -> Result<Self, AvpError> {
        match v.len() {
            2 => Ok(ResultCode::new(u16::decode(v)?)),
            3 => Err(AvpError::Length {
                expected: "2 or at least 4",
                got: 3,
            }),
            0 | 1 => Err(AvpError::Length {
                expected: "2 or at least 4",
                got: v.len(),
            }),
            _ => Ok(ResultCode {
                result: u16::from_be_bytes([v[0], v[1]]),
                error: Some(u16::from_be_bytes([v[2], v[3]])),
                message: (v.len() > 4).then(|| String::from_utf8_lossy(&v[4..]).into_owned()),
            }),
        }
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.result.to_be_bytes());
        if self.error.is_some() || self.message.is_some() {
            out.extend_from_slice(&self.error.unwrap_or(0).to_be_bytes());
            if let Some(m) = &self.message {
                out.extend_from_slice(m.as_bytes());
            }
        }
    }
}

/// Q.931 Cause Code AVP (RFC 2661 §4.4.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Q931Cause {
    /// The Q.931 cause code.
    pub cause: u16,
    /// The Q.931 message code (e.g. DISCONNECT).
    pub message: u8,
    /// Optional advisory text.
    pub advisory: Option<String>,
}

impl AvpValue for Q931Cause {
    fn decode(v: &[u8]) -> Result<Self, AvpError> {
        if v.len() < 3 {
            return Err(AvpError::Length {
                expected: "at least 3",
                got: v.len(),
            });
        }
        Ok(Q931Cause {
            cause: u16::from_be_bytes([v[0], v[1]]),
            message: v[2],
            advisory: (v.len() > 3).then(|| String::from_utf8_lossy(&v[3..]).into_owned()),
        })
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.cause.to_be_bytes());
        out.push(self.message);
        if let Some(a) = &self.advisory {
            out.extend_from_slice(a.as_bytes());
        }
    }
}

/// Proxy Authen Type (RFC 2661 §4.4.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProxyAuthenType(pub u16);

impl ProxyAuthenType {
    /// 1: textual username/password exchange.
    pub const TEXTUAL: ProxyAuthenType = ProxyAuthenType(1);
    /// 2: PPP CHAP.
    pub const CHAP: ProxyAuthenType = ProxyAuthenType(2);
    /// 3: PPP PAP.
    pub const PAP: ProxyAuthenType = ProxyAuthenType(3);
    /// 4: no authentication.
    pub const NONE: ProxyAuthenType = ProxyAuthenType(4);
    /// 5: Microsoft CHAP version 1.
    pub const MSCHAP_V1: ProxyAuthenType = ProxyAuthenType(5);
}

impl AvpValue for ProxyAuthenType {
    fn decode(v: &[u8]) -> Result<Self, AvpError> {
        Ok(ProxyAuthenType(u16::decode(v)?))
    }
    fn encode(&self, out: &mut Vec<u8>) {
        self.0.encode(out)
    }
}

/// Call Errors AVP (RFC 2661 §4.4.6), carried in WEN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CallErrors {
    /// PPP frames received with CRC errors.
    pub crc_errors: u32,
    /// Improperly framed PPP packets.
    pub framing_errors: u32,
    /// Receive buffer over-runs.
    pub hardware_overruns: u32,
    /// Buffer over-runs.
    pub buffer_overruns: u32,
    /// Time-outs.
    pub timeout_errors: u32,
    /// Alignment errors.
    pub alignment_errors: u32,
}

impl AvpValue for CallErrors {
    fn decode(v: &[u8]) -> Result<Self, AvpError> {
        let b: [u8; 26] = exact(v, "26")?;
        let n =
            |i: usize| u32::from_be_bytes([b[2 + 4 * i], b[3 + 4 * i], b[4 + 4 * i], b[5 + 4 * i]]);
        Ok(CallErrors {
            crc_errors: n(0),
            framing_errors: n(1),
            hardware_overruns: n(2),
            buffer_overruns: n(3),
            timeout_errors: n(4),
            alignment_errors: n(5),
        })
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[0, 0]);
        for n in [
            self.crc_errors,
            self.framing_errors,
            self.hardware_overruns,
            self.buffer_overruns,
            self.timeout_errors,
            self.alignment_errors,
        ] {
            out.extend_from_slice(&n.to_be_bytes());
        }
    }
}

/// ACCM AVP (RFC 2661 §4.4.6), carried in SLI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accm {
    /// ACCM the LAC uses on frames it sends.
    pub send: u32,
    /// ACCM the LAC uses on frames it receives.
    pub receive: u32,
}

impl AvpValue for Accm {
    fn decode(v: &[u8]) -> Result<Self, AvpError> {
        let b: [u8; 10] = exact(v, "10")?;
        Ok(Accm {
            send: u32::from_be_bytes([b[2], b[3], b[4], b[5]]),
            receive: u32::from_be_bytes([b[6], b[7], b[8], b[9]]),
        })
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&self.send.to_be_bytes());
        out.extend_from_slice(&self.receive.to_be_bytes());
    }
}

/// Our Capability AVP (vendor type 40, SCCRQ and SCCRP): what an l2tpagg peer supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Capabilities(pub u32);

impl Capabilities {
    /// The peer accepts a new session that takes over a live one ([`Switchover`] in ICRQ).
    pub const LIVE_SESSION_MOVE: u32 = 0x1;
    /// The peer understands [`DisconnectCause`] in CDN.
    pub const DISCONNECT_CAUSE: u32 = 0x2;
    /// Everything this version implements.
    pub const ALL: Capabilities = Capabilities(Self::LIVE_SESSION_MOVE | Self::DISCONNECT_CAUSE);
    /// No capability.
    pub const NONE: Capabilities = Capabilities(0);

    /// Whether every bit of `flag` is set.
    pub fn has(self, flag: u32) -> bool {
        self.0 & flag == flag
    }
}

impl AvpValue for Capabilities {
    fn decode(v: &[u8]) -> Result<Self, AvpError> {
        Ok(Capabilities(u32::decode(v)?))
    }
    fn encode(&self, out: &mut Vec<u8>) {
        self.0.encode(out)
    }
}

/// Our Switchover AVP (vendor type 41, ICRQ): this new session takes over a live one. Names the old
/// session as the LNS knows it, and a token the LAC chose so the LNS can check the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Switchover {
    /// The LNS's local tunnel ID of the old session.
    pub old_tunnel_id: u16,
    /// The LNS's local session ID of the old session.
    pub old_session_id: u16,
    /// A 64-bit token that identifies this move.
    pub token: u64,
}

impl AvpValue for Switchover {
    fn decode(v: &[u8]) -> Result<Self, AvpError> {
        let b: [u8; 12] = exact(v, "12")?;
        Ok(Switchover {
            old_tunnel_id: u16::from_be_bytes([b[0], b[1]]),
            old_session_id: u16::from_be_bytes([b[2], b[3]]),
            token: u64::from_be_bytes([b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11]]),
        })
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.old_tunnel_id.to_be_bytes());
        out.extend_from_slice(&self.old_session_id.to_be_bytes());
        out.extend_from_slice(&self.token.to_be_bytes());
    }
}

/// Cause codes of our Disconnect-Cause AVP: why l2tpagg ended a session, beyond the RFC's CDN result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DisconnectCauseCode {
    /// 1: the session moved to another tunnel (live switchover done; the subscriber stays up).
    SessionMoved,
    /// 2: a disconnect condition fired (session time, idle, volume, logins, traffic, server timeout).
    AutomaticDisconnect,
    /// 3: an operator asked for it.
    Administrative,
    /// 4: the daemon is shutting down.
    Shutdown,
    /// 5: the subscriber's PPP ended (LCP Terminate, echo failure, PADT).
    SubscriberLeft,
    /// 6: authentication of the subscriber failed.
    AuthenticationFailed,
    /// 7: a switchover was refused or failed; this is the abandoned new session.
    SwitchoverFailed,
    /// 8: the LNS could not serve the session (no address, limit reached).
    ResourceExhausted,
    /// Any other value.
    Other(u16),
}

impl DisconnectCauseCode {
    /// The number on the wire.
    pub fn code(self) -> u16 {
        match self {
            DisconnectCauseCode::SessionMoved => 1,
            DisconnectCauseCode::AutomaticDisconnect => 2,
            DisconnectCauseCode::Administrative => 3,
            DisconnectCauseCode::Shutdown => 4,
            DisconnectCauseCode::SubscriberLeft => 5,
            DisconnectCauseCode::AuthenticationFailed => 6,
            DisconnectCauseCode::SwitchoverFailed => 7,
            DisconnectCauseCode::ResourceExhausted => 8,
            DisconnectCauseCode::Other(v) => v,
        }
    }

    /// The cause for a wire number.
    pub fn from_code(v: u16) -> Self {
        match v {
            1 => DisconnectCauseCode::SessionMoved,
            2 => DisconnectCauseCode::AutomaticDisconnect,
            3 => DisconnectCauseCode::Administrative,
            4 => DisconnectCauseCode::Shutdown,
            5 => DisconnectCauseCode::SubscriberLeft,
            6 => DisconnectCauseCode::AuthenticationFailed,
            7 => DisconnectCauseCode::SwitchoverFailed,
            8 => DisconnectCauseCode::ResourceExhausted,
            v => DisconnectCauseCode::Other(v),
        }
    }
}

/// Our Disconnect-Cause AVP (vendor type 42, CDN).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisconnectCause {
    /// Why.
    pub code: DisconnectCauseCode,
    /// Detail; for [`DisconnectCauseCode::AutomaticDisconnect`] the RADIUS Acct-Terminate-Cause
    /// (RFC 2866 §5.10) of the condition that fired.
    pub detail: u32,
    /// Optional human-readable text.
    pub text: Option<String>,
}

impl AvpValue for DisconnectCause {
    fn decode(v: &[u8]) -> Result<Self, AvpError> {
        if v.len() < 6 {
            return Err(AvpError::Length {
                expected: "at least 6",
                got: v.len(),
            });
        }
        Ok(DisconnectCause {
            code: DisconnectCauseCode::from_code(u16::from_be_bytes([v[0], v[1]])),
            detail: u32::from_be_bytes([v[2], v[3], v[4], v[5]]),
            text: (v.len() > 6).then(|| String::from_utf8_lossy(&v[6..]).into_owned()),
        })
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.code.code().to_be_bytes());
        out.extend_from_slice(&self.detail.to_be_bytes());
        if let Some(t) = &self.text {
            out.extend_from_slice(t.as_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_checks_lengths() {
        // One valid AVP (Message Type SCCRQ) then a header claiming 40 bytes.
        let body = [0x80, 0x08, 0, 0, 0, 0, 0, 1, 0x80, 0x28, 0, 0, 0, 7];
        let mut r = AvpReader::new(&body);
        let first = r.next().unwrap().unwrap();
        assert_eq!((first.attr, first.value), (0, &[0u8, 1][..]));
        assert!(first.mandatory() && !first.hidden());
        assert_eq!(
            r.next().unwrap().unwrap_err(),
            Error::AvpLength {
                offset: 8,
                length: 40,
                remaining: 6
            }
        );
        assert!(r.next().is_none());
        let short = [0x80, 0x05, 0, 0, 0, 0];
        assert!(matches!(
            AvpReader::new(&short).next(),
            Some(Err(Error::AvpLength { length: 5, .. }))
        ));
    }

    #[test]
    fn value_types_reject_bad_lengths() {
        assert!(u16::decode(&[1]).is_err());
        assert!(ResultCode::decode(&[0, 1, 0]).is_err());
        assert_eq!(
            ResultCode::decode(&[0, 2, 0, 8, b'x'])
                .unwrap()
                .message
                .as_deref(),
            Some("x")
        );
        assert!(CallErrors::decode(&[0; 25]).is_err());
        assert!(Switchover::decode(&[0; 11]).is_err());
        assert!(u8::decode(&[1, 0]).is_err());
        assert!(<()>::decode(&[0]).is_err());
    }
}

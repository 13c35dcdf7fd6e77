//! Control messages (RFC 2661 §3.2, §6): the message types, the set of AVPs a message carries, and
//! parse/emit with hidden AVPs (§4.3) and the §6 mandatory-AVP checks both ways.
//!
//! A [`Message`] is a [`MessageType`] plus [`Avps`]: one typed, optional field per AVP of RFC 2661
//! §4.4 and per vendor AVP of ours, and the unknown AVPs kept raw. Emission order is fixed: Message
//! Type, then a Random Vector when anything is hidden, then the AVPs in attribute order, then ours,
//! then the unknown ones, so encoded bytes are reproducible (the test vectors depend on it).

use super::Error;
use super::avp::{
    Accm, AvpError, AvpReader, AvpType, AvpValue, Bearer, CallErrors, Capabilities,
    DisconnectCause, Framing, ProtocolVersion, ProxyAuthenType, Q931Cause, RawAvp, ResultCode,
    Switchover, VendorAvpType, write_avp,
};
use super::header::{CONTROL_HEADER_LEN, ControlHeader};
use super::hidden;

/// Control message types (RFC 2661 §3.2). 0, 5 and 13 are reserved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum MessageType {
    /// Start-Control-Connection-Request.
    Sccrq = 1,
    /// Start-Control-Connection-Reply.
    Sccrp = 2,
    /// Start-Control-Connection-Connected.
    Scccn = 3,
    /// Stop-Control-Connection-Notification.
    StopCcn = 4,
    /// Hello (keepalive).
    Hello = 6,
    /// Outgoing-Call-Request.
    Ocrq = 7,
    /// Outgoing-Call-Reply.
    Ocrp = 8,
    /// Outgoing-Call-Connected.
    Occn = 9,
    /// Incoming-Call-Request.
    Icrq = 10,
    /// Incoming-Call-Reply.
    Icrp = 11,
    /// Incoming-Call-Connected.
    Iccn = 12,
    /// Call-Disconnect-Notify.
    Cdn = 14,
    /// WAN-Error-Notify.
    Wen = 15,
    /// Set-Link-Info.
    Sli = 16,
}

impl MessageType {
    /// Every message type, in number order.
    pub const ALL: [MessageType; 14] = [
        MessageType::Sccrq,
        MessageType::Sccrp,
        MessageType::Scccn,
        MessageType::StopCcn,
        MessageType::Hello,
        MessageType::Ocrq,
        MessageType::Ocrp,
        MessageType::Occn,
        MessageType::Icrq,
        MessageType::Icrp,
        MessageType::Iccn,
        MessageType::Cdn,
        MessageType::Wen,
        MessageType::Sli,
    ];

    /// The Message Type value.
    pub fn code(self) -> u16 {
        self as u16
    }

    /// The type for a wire value, if RFC 2661 defines it.
    pub fn from_code(v: u16) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.code() == v)
    }

    /// Whether the message belongs to a session (call management, WEN, SLI) rather than the tunnel.
    /// RFC 2661 §4.1 uses this to decide whether an unknown mandatory AVP ends the session or the
    /// tunnel.
    pub fn is_session_message(self) -> bool {
        matches!(
            self,
            MessageType::Ocrq
                | MessageType::Ocrp
                | MessageType::Occn
                | MessageType::Icrq
                | MessageType::Icrp
                | MessageType::Iccn
                | MessageType::Cdn
                | MessageType::Wen
                | MessageType::Sli
        )
    }

    /// The AVPs RFC 2661 §6 says MUST be present (besides Message Type).
    pub fn mandatory_avps(self) -> &'static [AvpType] {
        use AvpType::*;
        type M = super::message::MessageType;
        match self {
            // §6.1, §6.2
            M::Sccrq | M::Sccrp => &[
                ProtocolVersion,
                HostName,
                FramingCapabilities,
                AssignedTunnelId,
            ],
            // §6.3, §6.5
            M::Scccn | M::Hello => &[],
            // §6.4
            M::StopCcn => &[AssignedTunnelId, ResultCode],
            // §6.6
            M::Icrq => &[AssignedSessionId, CallSerialNumber],
            // §6.7, §6.10
            M::Icrp | M::Ocrp => &[AssignedSessionId],
            // §6.8, §6.11
            M::Iccn | M::Occn => &[TxConnectSpeed, FramingType],
            // §6.9
            M::Ocrq => &[
                AssignedSessionId,
                CallSerialNumber,
                MinimumBps,
                MaximumBps,
                BearerType,
                FramingType,
                CalledNumber,
            ],
            // §6.12
            M::Cdn => &[ResultCode, AssignedSessionId],
            // §6.13
            M::Wen => &[CallErrors],
            // §6.14
            M::Sli => &[Accm],
        }
    }
}

/// Which AVPs to hide when emitting (RFC 2661 §4.3). Only hideable AVPs are ever hidden.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HideSet {
    /// Bit n set: hide standard attribute n.
    pub standard: u64,
    /// Bit n set: hide our vendor attribute n.
    pub vendor: u64,
}

impl HideSet {
    /// Hide nothing.
    pub const NONE: HideSet = HideSet {
        standard: 0,
        vendor: 0,
    };
    /// What l2tpagg hides when a secret exists: the subscriber's credentials and numbers (Proxy Authen
    /// Name, Challenge and Response; Called and Calling Number, Sub-Address) and our switchover token.
    pub const SENSITIVE: HideSet = HideSet {
        standard: (1 << AvpType::CalledNumber as u64)
            | (1 << AvpType::CallingNumber as u64)
            | (1 << AvpType::SubAddress as u64)
            | (1 << AvpType::ProxyAuthenName as u64)
            | (1 << AvpType::ProxyAuthenChallenge as u64)
            | (1 << AvpType::ProxyAuthenResponse as u64),
        vendor: 1 << VendorAvpType::Switchover as u64,
    };
    /// Every hideable AVP.
    pub const ALL: HideSet = HideSet {
        standard: u64::MAX,
        vendor: u64::MAX,
    };

    fn standard(&self, t: AvpType) -> bool {
        t.hideable() && self.standard & (1u64 << (t as u16 as u64 & 63)) != 0
    }

    fn vendor(&self, t: VendorAvpType) -> bool {
        self.vendor & (1u64 << (t as u16 as u64 & 63)) != 0
    }
}

/// What parsing needs besides the bytes.
#[derive(Debug, Clone, Copy)]
pub struct ParseContext<'a> {
    /// The tunnel's shared secret, to reveal hidden AVPs.
    pub secret: Option<&'a [u8]>,
    /// The Vendor ID our vendor AVPs use.
    pub vendor_id: u16,
}

/// What emitting needs besides the message.
#[derive(Debug, Clone, Copy)]
pub struct EmitContext<'a> {
    /// The tunnel's shared secret, to hide AVPs.
    pub secret: Option<&'a [u8]>,
    /// Which AVPs to hide (needs `secret`).
    pub hide: HideSet,
    /// The Random Vector to hide with (fresh per message; the caller's RNG makes it).
    pub random_vector: [u8; 16],
    /// The Vendor ID our vendor AVPs use.
    pub vendor_id: u16,
}

/// Proxy authentication as the LAC performed it (RFC 2661 §4.4.5), from an ICCN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyAuth {
    /// Proxy Authen Type.
    pub kind: ProxyAuthenType,
    /// Proxy Authen Name (types 1, 2, 3, 5).
    pub name: Option<Vec<u8>>,
    /// Proxy Authen Challenge (types 2, 5).
    pub challenge: Option<Vec<u8>>,
    /// Proxy Authen ID (types 2, 3, 5).
    pub id: Option<u8>,
    /// Proxy Authen Response (types 1, 2, 3, 5).
    pub response: Option<Vec<u8>>,
}

/// Proxy LCP as the LAC negotiated it (RFC 2661 §4.4.5), from an ICCN: the option lists of the
/// Configure-Requests, starting at the first option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyLcp {
    /// Initial Received LCP CONFREQ: the client's first Configure-Request.
    pub initial_received: Option<Vec<u8>>,
    /// Last Sent LCP CONFREQ: the LAC's final Configure-Request.
    pub last_sent: Vec<u8>,
    /// Last Received LCP CONFREQ: the client's final Configure-Request.
    pub last_received: Vec<u8>,
}

macro_rules! avp_set {
    ($($(#[$doc:meta])* $field:ident : $ty:ty = $attr:ident via $dec:expr ;)*) => {
        /// The AVPs of one control message: one optional typed field per AVP of RFC 2661 §4.4 and per
        /// vendor AVP of ours, plus the unknown AVPs kept raw (RFC 2661 §4.1: the caller judges them).
        #[derive(Debug, Clone, PartialEq, Eq, Default)]
        pub struct Avps {
            $($(#[$doc])* pub $field: Option<$ty>,)*
            /// Sequencing Required (39, no value): data messages MUST carry sequence numbers.
            pub sequencing_required: bool,
            /// Our Capability AVP.
            pub capabilities: Option<Capabilities>,
            /// Our Switchover AVP.
            pub switchover: Option<Switchover>,
            /// Our Disconnect-Cause AVP.
            pub disconnect_cause: Option<DisconnectCause>,
            /// AVPs this implementation does not know (or knows but found malformed with M=0, or
            /// with reserved flag bits set), in arrival order.
            pub unknown: Vec<RawAvp>,
        }

        impl Avps {
            /// Whether the standard AVP `attr` is present.
            pub fn has(&self, attr: AvpType) -> bool {
                match attr {
                    $(AvpType::$attr => self.$field.is_some(),)*
                    AvpType::SequencingRequired => self.sequencing_required,
                    AvpType::MessageType | AvpType::RandomVector => true,
                }
            }

            /// Stores a standard AVP's value. `Ok(false)` when it was already present.
            fn set(&mut self, attr: AvpType, v: &[u8]) -> Result<bool, AvpError> {
                match attr {
                    $(AvpType::$attr => {
                        let value = $dec(v)?;
                        if self.$field.is_some() {
                            return Ok(false);
                        }
                        self.$field = Some(value);
                    })*
                    AvpType::SequencingRequired => {
                        <()>::decode(v)?;
                        if self.sequencing_required {
                            return Ok(false);
                        }
                        self.sequencing_required = true;
                    }
                    AvpType::MessageType | AvpType::RandomVector => return Ok(false),
                }
                Ok(true)
            }

            fn hides_anything(&self, hide: &HideSet) -> bool {
                $(if self.$field.is_some() && hide.standard(AvpType::$attr) {
                    return true;
                })*
                (self.capabilities.is_some() && hide.vendor(VendorAvpType::Capabilities))
                    || (self.switchover.is_some() && hide.vendor(VendorAvpType::Switchover))
                    || (self.disconnect_cause.is_some() && hide.vendor(VendorAvpType::DisconnectCause))
                    || self.unknown.iter().any(|r| r.hidden)
            }

            fn emit_standard(&self, w: &mut Writer<'_, '_>) -> Result<(), Error> {
                $(if let Some(v) = &self.$field {
                    let t = AvpType::$attr;
                    w.put(0, t.code(), t.mandatory(), w.ctx.hide.standard(t), v)?;
                })*
                Ok(())
            }
        }
    };
}

fn dec<T: AvpValue>(v: &[u8]) -> Result<T, AvpError> {
    T::decode(v)
}

fn nonzero(v: &[u8]) -> Result<u16, AvpError> {
    match u16::decode(v)? {
        0 => Err(AvpError::OutOfRange("must be non-zero")),
        n => Ok(n),
    }
}

fn nonempty(v: &[u8]) -> Result<Vec<u8>, AvpError> {
    if v.is_empty() {
        Err(AvpError::Length {
            expected: "at least 1",
            got: 0,
        })
    } else {
        Ok(v.to_vec())
    }
}

/// Proxy Authen ID (RFC 2661 §4.4.5): two octets, the most significant MUST be 0.
impl AvpValue for u8 {
    fn decode(v: &[u8]) -> Result<Self, AvpError> {
        match v {
            [0, id] => Ok(*id),
            [_, _] => Err(AvpError::OutOfRange("reserved octet must be 0")),
            _ => Err(AvpError::Length {
                expected: "2",
                got: v.len(),
            }),
        }
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[0, *self]);
    }
}

avp_set! {
    /// Result Code (1): StopCCN, CDN.
    result_code: ResultCode = ResultCode via dec;
    /// Protocol Version (2): SCCRQ, SCCRP.
    protocol_version: ProtocolVersion = ProtocolVersion via dec;
    /// Framing Capabilities (3): SCCRQ, SCCRP.
    framing_capabilities: Framing = FramingCapabilities via dec;
    /// Bearer Capabilities (4): SCCRQ, SCCRP.
    bearer_capabilities: Bearer = BearerCapabilities via dec;
    /// Tie Breaker (5): SCCRQ.
    tie_breaker: u64 = TieBreaker via dec;
    /// Firmware Revision (6): SCCRQ, SCCRP.
    firmware_revision: u16 = FirmwareRevision via dec;
    /// Host Name (7): SCCRQ, SCCRP; at least one octet.
    host_name: Vec<u8> = HostName via nonempty;
    /// Vendor Name (8): SCCRQ, SCCRP.
    vendor_name: Vec<u8> = VendorName via dec;
    /// Assigned Tunnel ID (9): SCCRQ, SCCRP, StopCCN; non-zero.
    assigned_tunnel_id: u16 = AssignedTunnelId via nonzero;
    /// Receive Window Size (10): SCCRQ, SCCRP; non-zero (RFC 2661 §5.8).
    receive_window_size: u16 = ReceiveWindowSize via nonzero;
    /// Challenge (11): SCCRQ, SCCRP; at least one octet.
    challenge: Vec<u8> = Challenge via nonempty;
    /// Q.931 Cause Code (12): CDN.
    q931_cause: Q931Cause = Q931CauseCode via dec;
    /// Challenge Response (13): SCCRP, SCCCN.
    challenge_response: [u8; 16] = ChallengeResponse via dec;
    /// Assigned Session ID (14): ICRQ, ICRP, OCRQ, OCRP, CDN; non-zero.
    assigned_session_id: u16 = AssignedSessionId via nonzero;
    /// Call Serial Number (15): ICRQ, OCRQ.
    call_serial_number: u32 = CallSerialNumber via dec;
    /// Minimum BPS (16): OCRQ.
    minimum_bps: u32 = MinimumBps via dec;
    /// Maximum BPS (17): OCRQ.
    maximum_bps: u32 = MaximumBps via dec;
    /// Bearer Type (18): ICRQ, OCRQ.
    bearer_type: Bearer = BearerType via dec;
    /// Framing Type (19): ICCN, OCCN, OCRQ.
    framing_type: Framing = FramingType via dec;
    /// Called Number (21): ICRQ, OCRQ.
    called_number: Vec<u8> = CalledNumber via dec;
    /// Calling Number (22): ICRQ.
    calling_number: Vec<u8> = CallingNumber via dec;
    /// Sub-Address (23): ICRQ, OCRQ.
    sub_address: Vec<u8> = SubAddress via dec;
    /// (Tx) Connect Speed in bits per second (24): ICCN, OCCN.
    tx_connect_speed: u32 = TxConnectSpeed via dec;
    /// Physical Channel ID (25): ICRQ, OCRP.
    physical_channel_id: u32 = PhysicalChannelId via dec;
    /// Initial Received LCP CONFREQ (26): ICCN; the options of the client's first Configure-Request.
    initial_received_lcp_confreq: Vec<u8> = InitialReceivedLcpConfreq via dec;
    /// Last Sent LCP CONFREQ (27): ICCN.
    last_sent_lcp_confreq: Vec<u8> = LastSentLcpConfreq via dec;
    /// Last Received LCP CONFREQ (28): ICCN.
    last_received_lcp_confreq: Vec<u8> = LastReceivedLcpConfreq via dec;
    /// Proxy Authen Type (29): ICCN.
    proxy_authen_type: ProxyAuthenType = ProxyAuthenType via dec;
    /// Proxy Authen Name (30): ICCN.
    proxy_authen_name: Vec<u8> = ProxyAuthenName via dec;
    /// Proxy Authen Challenge (31): ICCN.
    proxy_authen_challenge: Vec<u8> = ProxyAuthenChallenge via dec;
    /// Proxy Authen ID (32): ICCN.
    proxy_authen_id: u8 = ProxyAuthenId via dec;
    /// Proxy Authen Response (33): ICCN.
    proxy_authen_response: Vec<u8> = ProxyAuthenResponse via dec;
    /// Call Errors (34): WEN.
    call_errors: CallErrors = CallErrors via dec;
    /// ACCM (35): SLI.
    accm: Accm = Accm via dec;
    /// Private Group ID (37): ICCN.
    private_group_id: Vec<u8> = PrivateGroupId via dec;
    /// Rx Connect Speed in bits per second (38): ICCN, OCCN.
    rx_connect_speed: u32 = RxConnectSpeed via dec;
}

impl Avps {
    /// The proxy authentication the LAC performed, when the ICCN carries a Proxy Authen Type and
    /// every AVP RFC 2661 §4.4.5 requires for that type. `None` means the LNS must authenticate
    /// the client itself.
    pub fn proxy_auth(&self) -> Option<ProxyAuth> {
        let kind = self.proxy_authen_type?;
        let (need_name, need_challenge, need_id, need_response) = match kind.0 {
            1 => (true, false, false, true),
            2 | 5 => (true, true, true, true),
            3 => (true, false, true, true),
            4 => (false, false, false, false),
            _ => return None,
        };
        if (need_name && self.proxy_authen_name.is_none())
            || (need_challenge && self.proxy_authen_challenge.is_none())
            || (need_id && self.proxy_authen_id.is_none())
            || (need_response && self.proxy_authen_response.is_none())
        {
            return None;
        }
        Some(ProxyAuth {
            kind,
            name: self.proxy_authen_name.clone(),
            challenge: self.proxy_authen_challenge.clone(),
            id: self.proxy_authen_id,
            response: self.proxy_authen_response.clone(),
        })
    }

    /// The LCP state the LAC negotiated, when the ICCN carries both final Configure-Requests
    /// (what the LNS needs to skip its own LCP negotiation).
    pub fn proxy_lcp(&self) -> Option<ProxyLcp> {
        Some(ProxyLcp {
            initial_received: self.initial_received_lcp_confreq.clone(),
            last_sent: self.last_sent_lcp_confreq.clone()?,
            last_received: self.last_received_lcp_confreq.clone()?,
        })
    }

    /// Sets the proxy LCP AVPs from `lcp`.
    pub fn set_proxy_lcp(&mut self, lcp: &ProxyLcp) {
        self.initial_received_lcp_confreq = lcp.initial_received.clone();
        self.last_sent_lcp_confreq = Some(lcp.last_sent.clone());
        self.last_received_lcp_confreq = Some(lcp.last_received.clone());
    }

    /// Sets the proxy authentication AVPs from `auth`.
    pub fn set_proxy_auth(&mut self, auth: &ProxyAuth) {
        self.proxy_authen_type = Some(auth.kind);
        self.proxy_authen_name = auth.name.clone();
        self.proxy_authen_challenge = auth.challenge.clone();
        self.proxy_authen_id = auth.id;
        self.proxy_authen_response = auth.response.clone();
    }

    /// The first unknown AVP with the M bit set, if any: RFC 2661 §4.1 says the session or tunnel
    /// the message belongs to MUST then be terminated.
    pub fn unknown_mandatory(&self) -> Option<&RawAvp> {
        self.unknown.iter().find(|r| r.mandatory)
    }
}

/// Writes AVPs into a message, hiding the ones the context asks for.
struct Writer<'o, 'c> {
    out: &'o mut Vec<u8>,
    scratch: Vec<u8>,
    ctx: &'c EmitContext<'c>,
}

impl Writer<'_, '_> {
    fn put<V: AvpValue>(
        &mut self,
        vendor: u16,
        attr: u16,
        mandatory: bool,
        hide: bool,
        v: &V,
    ) -> Result<(), Error> {
        self.scratch.clear();
        v.encode(&mut self.scratch);
        let value = std::mem::take(&mut self.scratch);
        let r = self.put_bytes(vendor, attr, mandatory, hide, &value);
        self.scratch = value;
        r
    }

    fn put_bytes(
        &mut self,
        vendor: u16,
        attr: u16,
        mandatory: bool,
        hide: bool,
        value: &[u8],
    ) -> Result<(), Error> {
        if !hide {
            return write_avp(self.out, mandatory, false, vendor, attr, value);
        }
        let Some(secret) = self.ctx.secret else {
            return Err(Error::HideWithoutSecret { attr });
        };
        let mut hidden_value = Vec::with_capacity(value.len() + 2);
        hidden::hide(
            attr,
            secret,
            &self.ctx.random_vector,
            value,
            &[],
            &mut hidden_value,
        );
        write_avp(self.out, mandatory, true, vendor, attr, &hidden_value)
    }
}

/// A control message: its type and its AVPs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The Message Type.
    pub kind: MessageType,
    /// The AVPs.
    pub avps: Avps,
}

impl Message {
    /// A message of `kind` with no AVPs yet.
    pub fn new(kind: MessageType) -> Self {
        Message {
            kind,
            avps: Avps::default(),
        }
    }

    /// Checks that every AVP RFC 2661 §6 requires for this message type is present.
    pub fn check_mandatory(&self) -> Result<(), Error> {
        for &attr in self.kind.mandatory_avps() {
            if !self.avps.has(attr) {
                return Err(Error::MissingAvp {
                    message: self.kind,
                    attr,
                });
            }
        }
        Ok(())
    }

    /// Parses the AVPs of a control message (the bytes after the header, up to Length).
    ///
    /// Hidden AVPs are revealed with `ctx.secret` and the closest preceding Random Vector
    /// (RFC 2661 §4.3). Unknown AVPs, AVPs with reserved bits set, and known AVPs with M=0 that are
    /// malformed are kept in [`Avps::unknown`] (RFC 2661 §4.1, §7.1); a malformed known AVP with
    /// M=1 is an error, and so is a missing mandatory AVP (§6).
    pub fn parse(body: &[u8], ctx: &ParseContext<'_>) -> Result<Message, Error> {
        let mut reader = AvpReader::new(body);
        let first = match reader.next() {
            Some(r) => r?,
            None => return Err(Error::MissingMessageType),
        };
        // RFC 2661 §4.4.1: Message Type MUST be the first AVP and MUST NOT be hidden.
        if first.vendor_id != 0
            || first.attr != AvpType::MessageType.code()
            || first.hidden()
            || first.value.len() != 2
        {
            return Err(Error::MissingMessageType);
        }
        let value = u16::from_be_bytes([first.value[0], first.value[1]]);
        let Some(kind) = MessageType::from_code(value) else {
            return Err(Error::UnknownMessageType {
                value,
                mandatory: first.mandatory(),
            });
        };
        let mut avps = Avps::default();
        let mut random_vector: Option<&[u8]> = None;
        for view in reader {
            let view = view?;
            let raw = |value: Vec<u8>| RawAvp {
                mandatory: view.mandatory(),
                hidden: view.hidden(),
                reserved: view.reserved(),
                vendor_id: view.vendor_id,
                attr: view.attr,
                value,
            };
            if view.vendor_id == 0
                && view.attr == AvpType::RandomVector.code()
                && view.reserved() == 0
            {
                if view.hidden() {
                    return Err(Error::BadAvp {
                        vendor: 0,
                        attr: view.attr,
                        error: AvpError::OutOfRange("Random Vector must not be hidden"),
                    });
                }
                random_vector = Some(view.value);
                continue;
            }
            // Reveal hidden values first: §4.3. Without a secret or vector a mandatory hidden AVP
            // cannot be understood; a non-mandatory one is kept raw and ignored.
            let revealed;
            let value: &[u8] = if view.hidden() {
                let attempt = match (ctx.secret, random_vector) {
                    (None, _) => Err(Error::HiddenWithoutSecret { attr: view.attr }),
                    (Some(_), None) => Err(Error::HiddenWithoutRandomVector { attr: view.attr }),
                    (Some(s), Some(rv)) => hidden::unhide(view.attr, s, rv, view.value),
                };
                match attempt {
                    Ok(v) => {
                        revealed = v;
                        &revealed
                    }
                    Err(e) if view.mandatory() => return Err(e),
                    Err(_) => {
                        avps.unknown.push(raw(view.value.to_vec()));
                        continue;
                    }
                }
            } else {
                view.value
            };
            if view.reserved() != 0 {
                // RFC 2661 §4.1: reserved bits set: treat as unrecognized.
                avps.unknown.push(raw(value.to_vec()));
                continue;
            }
            let stored = if view.vendor_id == 0 {
                standard_type(view.attr).map(|t| avps.set(t, value))
            } else if view.vendor_id == ctx.vendor_id {
                match view.attr {
                    40 => Some(set_once(&mut avps.capabilities, value)),
                    41 => Some(set_once(&mut avps.switchover, value)),
                    42 => Some(set_once(&mut avps.disconnect_cause, value)),
                    _ => None,
                }
            } else {
                None
            };
            match stored {
                None => avps.unknown.push(raw(value.to_vec())),
                Some(Ok(true)) => {}
                Some(Ok(false)) => {
                    return Err(Error::DuplicateAvp {
                        vendor: view.vendor_id,
                        attr: view.attr,
                    });
                }
                // RFC 2661 §7.1: a malformed AVP with M=1 ends the session or tunnel; with M=0 it
                // is ignored like an unrecognized one.
                Some(Err(error)) if view.mandatory() => {
                    return Err(Error::BadAvp {
                        vendor: view.vendor_id,
                        attr: view.attr,
                        error,
                    });
                }
                Some(Err(_)) => avps.unknown.push(raw(value.to_vec())),
            }
        }
        let msg = Message { kind, avps };
        msg.check_mandatory()?;
        Ok(msg)
    }

    /// Parses a whole control packet: header and message. `Ok((header, None))` is a ZLB.
    pub fn parse_packet(
        bytes: &[u8],
        ctx: &ParseContext<'_>,
    ) -> Result<(ControlHeader, Option<Message>), Error> {
        let (header, body) = ControlHeader::parse(bytes)?;
        if body.is_empty() {
            return Ok((header, None));
        }
        Ok((header, Some(Message::parse(body, ctx)?)))
    }

    /// Appends the encoded message (header with `header`'s fields and the computed Length, then the
    /// AVPs) to `out`. Fails, writing nothing, when a mandatory AVP (RFC 2661 §6) is missing, an AVP
    /// is to be hidden without a secret, or a size limit is exceeded.
    pub fn emit(
        &self,
        header: &ControlHeader,
        ctx: &EmitContext<'_>,
        out: &mut Vec<u8>,
    ) -> Result<(), Error> {
        self.check_mandatory()?;
        let start = out.len();
        let r = self.emit_inner(header, ctx, out, start);
        if r.is_err() {
            out.truncate(start);
        }
        r
    }

    fn emit_inner(
        &self,
        header: &ControlHeader,
        ctx: &EmitContext<'_>,
        out: &mut Vec<u8>,
        start: usize,
    ) -> Result<(), Error> {
        out.resize(start + CONTROL_HEADER_LEN, 0);
        write_avp(
            out,
            true,
            false,
            0,
            AvpType::MessageType.code(),
            &self.kind.code().to_be_bytes(),
        )?;
        if self.avps.hides_anything(&ctx.hide) {
            if ctx.secret.is_none() {
                return Err(Error::HideWithoutSecret {
                    attr: AvpType::RandomVector.code(),
                });
            }
            // RFC 2661 §4.3: the Random Vector precedes the first hidden AVP.
            write_avp(
                out,
                true,
                false,
                0,
                AvpType::RandomVector.code(),
                &ctx.random_vector,
            )?;
        }
        let mut w = Writer {
            out,
            scratch: Vec::with_capacity(64),
            ctx,
        };
        self.avps.emit_standard(&mut w)?;
        if self.avps.sequencing_required {
            w.put_bytes(0, AvpType::SequencingRequired.code(), true, false, &[])?;
        }
        let v = ctx.vendor_id;
        if let Some(c) = &self.avps.capabilities {
            let t = VendorAvpType::Capabilities;
            w.put(v, t as u16, false, ctx.hide.vendor(t), c)?;
        }
        if let Some(s) = &self.avps.switchover {
            let t = VendorAvpType::Switchover;
            w.put(v, t as u16, false, ctx.hide.vendor(t), s)?;
        }
        if let Some(d) = &self.avps.disconnect_cause {
            let t = VendorAvpType::DisconnectCause;
            w.put(v, t as u16, false, ctx.hide.vendor(t), d)?;
        }
        for r in &self.avps.unknown {
            let at = w.out.len();
            w.put_bytes(r.vendor_id, r.attr, r.mandatory, r.hidden, &r.value)?;
            // Keep the reserved flag bits as they came, so a raw AVP round-trips.
            w.out[at] |= (r.reserved & 0x0f) << 2;
        }
        let len = out.len() - start;
        let Ok(len16) = u16::try_from(len) else {
            return Err(Error::MessageTooLong(len));
        };
        header.emit(len16, &mut out[start..])
    }
}

fn set_once<T: AvpValue>(slot: &mut Option<T>, v: &[u8]) -> Result<bool, AvpError> {
    let value = T::decode(v)?;
    if slot.is_some() {
        return Ok(false);
    }
    *slot = Some(value);
    Ok(true)
}

fn standard_type(attr: u16) -> Option<AvpType> {
    use AvpType::*;
    const TABLE: [Option<AvpType>; 40] = [
        Some(MessageType),
        Some(ResultCode),
        Some(ProtocolVersion),
        Some(FramingCapabilities),
        Some(BearerCapabilities),
        Some(TieBreaker),
        Some(FirmwareRevision),
        Some(HostName),
        Some(VendorName),
        Some(AssignedTunnelId),
        Some(ReceiveWindowSize),
        Some(Challenge),
        Some(Q931CauseCode),
        Some(ChallengeResponse),
        Some(AssignedSessionId),
        Some(CallSerialNumber),
        Some(MinimumBps),
        Some(MaximumBps),
        Some(BearerType),
        Some(FramingType),
        None,
        Some(CalledNumber),
        Some(CallingNumber),
        Some(SubAddress),
        Some(TxConnectSpeed),
        Some(PhysicalChannelId),
        Some(InitialReceivedLcpConfreq),
        Some(LastSentLcpConfreq),
        Some(LastReceivedLcpConfreq),
        Some(ProxyAuthenType),
        Some(ProxyAuthenName),
        Some(ProxyAuthenChallenge),
        Some(ProxyAuthenId),
        Some(ProxyAuthenResponse),
        Some(CallErrors),
        Some(Accm),
        Some(RandomVector),
        Some(PrivateGroupId),
        Some(RxConnectSpeed),
        Some(SequencingRequired),
    ];
    TABLE.get(attr as usize).copied().flatten()
}

impl AvpType {
    /// The standard attribute for a number, if RFC 2661 defines it.
    pub fn from_code(attr: u16) -> Option<AvpType> {
        standard_type(attr)
    }
}

/// What [`peek`] could read from a message without fully parsing it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Peek {
    /// The Message Type value, when the first AVP is a well-formed Message Type.
    pub kind: Option<u16>,
    /// The first unhidden, non-zero Assigned Session ID.
    pub assigned_session_id: Option<u16>,
    /// The first unhidden, non-zero Assigned Tunnel ID.
    pub assigned_tunnel_id: Option<u16>,
    /// The Host Name (never hidden, RFC 2661 §4.4.3).
    pub host_name: Option<Vec<u8>>,
    /// The unhidden Tie Breaker.
    pub tie_breaker: Option<u64>,
}

/// Best-effort look at a message body: the Message Type, the unhidden IDs, the host name and the
/// tie breaker. The endpoint uses it to route an SCCRQ before it knows the peer's secret, and the
/// tunnel to answer a malformed session message with a CDN (RFC 2661 §7.1) instead of tearing the
/// whole tunnel down. Never fails; stops at the first malformed AVP header.
pub fn peek(body: &[u8]) -> Peek {
    let mut p = Peek::default();
    for (i, view) in AvpReader::new(body).enumerate() {
        let Ok(view) = view else { break };
        if view.vendor_id != 0 || view.hidden() {
            continue;
        }
        let v = view.value;
        match (view.attr, v.len()) {
            (0, 2) if i == 0 => p.kind = Some(u16::from_be_bytes([v[0], v[1]])),
            (9, 2) if p.assigned_tunnel_id.is_none() => {
                p.assigned_tunnel_id = Some(u16::from_be_bytes([v[0], v[1]])).filter(|&x| x != 0)
            }
            (14, 2) if p.assigned_session_id.is_none() => {
                p.assigned_session_id = Some(u16::from_be_bytes([v[0], v[1]])).filter(|&x| x != 0)
            }
            (7, n) if n > 0 && p.host_name.is_none() => p.host_name = Some(v.to_vec()),
            (5, 8) => p.tie_breaker = u64::decode(v).ok(),
            _ => {}
        }
    }
    p
}

//! The PPPoE frame codec (RFC 2516 §4, §5, §6): Ethernet II header with at most one 802.1Q tag, the
//! six-octet PPPoE header, and the Discovery-stage tag list (see [`super::tag`]).
//!
//! Owns: byte layout only. A [`Frame`] is a view over received bytes whose accessors cannot panic
//! once [`Frame::new_checked`] has passed; a [`FrameRepr`] is the parsed, owned-by-reference form
//! with [`FrameRepr::parse`] and [`FrameRepr::emit`]. Must not touch: protocol decisions (which
//! session IDs are valid, who may send what): those live in the automata in [`super::ac`] and
//! [`super::client`].

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

use super::tag::{Tag, TagIter};

/// Ethertype of Discovery-stage frames (RFC 2516 §4).
pub const ETHERTYPE_DISCOVERY: u16 = 0x8863;
/// Ethertype of PPP Session-stage frames (RFC 2516 §4).
pub const ETHERTYPE_SESSION: u16 = 0x8864;
/// Ethertype of an IEEE 802.1Q VLAN tag.
pub const ETHERTYPE_VLAN: u16 = 0x8100;

/// Destination, source and ethertype.
pub const ETHERNET_HEADER_LEN: usize = 14;
/// TPID and TCI of one 802.1Q tag.
pub const VLAN_TAG_LEN: usize = 4;
/// VER/TYPE, CODE, SESSION_ID, LENGTH (RFC 2516 §4).
pub const PPPOE_HEADER_LEN: usize = 6;

/// RFC 2516 §4: "The VER field ... MUST be set to 0x1".
pub const PPPOE_VERSION: u8 = 1;
/// RFC 2516 §4: "The TYPE field ... MUST be set to 0x1".
pub const PPPOE_TYPE: u8 = 1;

/// RFC 2516 §4: session ID 0xffff "is reserved for future use and MUST NOT be used".
pub const RESERVED_SESSION_ID: u16 = 0xffff;

/// The Ethernet payload size of a standard (non-jumbo) interface.
pub const ETHERNET_MTU: u16 = 1500;

/// RFC 2516 §7: "the PPP MTU MUST NOT be greater than 1492" on a 1500-octet Ethernet; the PPPoE
/// header takes 6 octets and the PPP protocol field 2.
pub const PPPOE_MAX_PPP_MTU: u16 = 1492;

/// RFC 2516 §5.1: "An entire PADI packet (including the PPPoE header) MUST NOT exceed 1484 octets".
pub const PADI_MAX_LEN: usize = 1484;

/// Everything the codec can reject. Each variant names what was wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum WireError {
    #[error("frame truncated: {needed} octets needed for the {part}, {available} present")]
    Truncated {
        part: &'static str,
        needed: usize,
        available: usize,
    },
    #[error("ethertype {0:#06x} is neither PPPoE Discovery (0x8863) nor Session (0x8864)")]
    UnknownEthertype(u16),
    #[error("more than one VLAN tag (stacked 802.1Q/802.1ad) is not supported")]
    StackedVlan,
    #[error(
        "PPPoE LENGTH {length} runs past the end of the frame ({available} octets follow the header)"
    )]
    LengthPastEnd { length: usize, available: usize },
    #[error("PPPoE VER {0} is not 1 (RFC 2516 §4)")]
    BadVersion(u8),
    #[error("PPPoE TYPE {0} is not 1 (RFC 2516 §4)")]
    BadType(u8),
    #[error("CODE {0:#04x} is not a Discovery code (PADI, PADO, PADR, PADS, PADT)")]
    UnknownDiscoveryCode(u8),
    #[error("CODE {0:#04x} on a Session-stage frame; RFC 2516 §6 requires 0x00")]
    BadSessionCode(u8),
    #[error("Session-stage frame carries no PPP protocol field")]
    EmptySessionPayload,
    #[error("tag header truncated at payload offset {offset}")]
    TagHeaderTruncated { offset: usize },
    #[error(
        "tag {tag_type:#06x} at payload offset {offset} declares {length} octets, only {available} remain"
    )]
    TagValuePastEnd {
        tag_type: u16,
        offset: usize,
        length: usize,
        available: usize,
    },
    #[error("tag {tag_type:#06x} has length {length}, {expected}")]
    BadTagLength {
        tag_type: u16,
        length: usize,
        expected: &'static str,
    },
    #[error("VLAN ID {0} does not fit in 12 bits")]
    BadVlanId(u16),
    #[error("PPPoE payload of {0} octets does not fit the 16-bit LENGTH field")]
    PayloadTooLong(usize),
    #[error("output buffer of {available} octets is too small, {needed} needed")]
    BufferTooSmall { needed: usize, available: usize },
}

/// An Ethernet MAC address.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// ff:ff:ff:ff:ff:ff, the PADI destination (RFC 2516 §5.1).
    pub const BROADCAST: MacAddr = MacAddr([0xff; 6]);
    /// 00:00:00:00:00:00, never a valid source.
    pub const ZERO: MacAddr = MacAddr([0; 6]);

    /// The six octets.
    pub const fn octets(&self) -> [u8; 6] {
        self.0
    }

    /// The group bit (I/G, least significant bit of the first octet) is set: broadcast or multicast.
    pub const fn is_multicast(&self) -> bool {
        self.0[0] & 0x01 != 0
    }

    /// ff:ff:ff:ff:ff:ff.
    pub fn is_broadcast(&self) -> bool {
        *self == Self::BROADCAST
    }

    /// A usable station address: not a group address and not all zeros. Only such an address may
    /// source a frame (RFC 2516 §4: "The SOURCE_ADDR field MUST contains the Ethernet MAC address of
    /// the source device").
    pub fn is_unicast(&self) -> bool {
        !self.is_multicast() && *self != Self::ZERO
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            o[0], o[1], o[2], o[3], o[4], o[5]
        )
    }
}

impl fmt::Debug for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A MAC address that is not six colon- or dash-separated hex octets.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid MAC address {0:?}: expected six hex octets such as 02:00:00:00:00:01")]
pub struct MacAddrParseError(pub String);

impl FromStr for MacAddr {
    type Err = MacAddrParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || MacAddrParseError(s.to_owned());
        let mut out = [0u8; 6];
        let mut parts = s.split([':', '-']);
        for octet in &mut out {
            let part = parts.next().ok_or_else(err)?;
            if part.len() != 2 {
                return Err(err());
            }
            *octet = u8::from_str_radix(part, 16).map_err(|_| err())?;
        }
        if parts.next().is_some() {
            return Err(err());
        }
        Ok(MacAddr(out))
    }
}

impl From<[u8; 6]> for MacAddr {
    fn from(octets: [u8; 6]) -> Self {
        MacAddr(octets)
    }
}

/// Which PPPoE stage a frame belongs to, from its ethertype.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    /// Ethertype 0x8863.
    Discovery,
    /// Ethertype 0x8864.
    Session,
}

impl Stage {
    /// The ethertype carrying this stage.
    pub const fn ethertype(self) -> u16 {
        match self {
            Stage::Discovery => ETHERTYPE_DISCOVERY,
            Stage::Session => ETHERTYPE_SESSION,
        }
    }
}

/// Discovery-stage CODE values (RFC 2516 §5.1 to §5.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DiscoveryCode {
    /// Active Discovery Initiation, 0x09.
    Padi,
    /// Active Discovery Offer, 0x07.
    Pado,
    /// Active Discovery Request, 0x19.
    Padr,
    /// Active Discovery Session-confirmation, 0x65.
    Pads,
    /// Active Discovery Terminate, 0xa7.
    Padt,
}

impl DiscoveryCode {
    /// The CODE octet.
    pub const fn to_u8(self) -> u8 {
        match self {
            DiscoveryCode::Padi => 0x09,
            DiscoveryCode::Pado => 0x07,
            DiscoveryCode::Padr => 0x19,
            DiscoveryCode::Pads => 0x65,
            DiscoveryCode::Padt => 0xa7,
        }
    }

    /// The code for a CODE octet, if it is a Discovery code.
    pub const fn from_u8(code: u8) -> Option<Self> {
        match code {
            0x09 => Some(DiscoveryCode::Padi),
            0x07 => Some(DiscoveryCode::Pado),
            0x19 => Some(DiscoveryCode::Padr),
            0x65 => Some(DiscoveryCode::Pads),
            0xa7 => Some(DiscoveryCode::Padt),
            _ => None,
        }
    }
}

impl fmt::Display for DiscoveryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DiscoveryCode::Padi => "PADI",
            DiscoveryCode::Pado => "PADO",
            DiscoveryCode::Padr => "PADR",
            DiscoveryCode::Pads => "PADS",
            DiscoveryCode::Padt => "PADT",
        })
    }
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn mac_at(b: &[u8], at: usize) -> MacAddr {
    let mut m = [0u8; 6];
    m.copy_from_slice(&b[at..at + 6]);
    MacAddr(m)
}

/// A read-only view of a received PPPoE frame.
///
/// [`Frame::new_checked`] verifies once that the Ethernet header, the optional VLAN tag, the PPPoE
/// header and the LENGTH octets it announces are all present; after that no accessor can panic.
/// Octets past LENGTH are Ethernet padding and are not part of [`Frame::payload`].
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    buffer: &'a [u8],
    /// Offset of the PPPoE header: 14 untagged, 18 with one VLAN tag.
    pppoe_at: usize,
}

impl<'a> Frame<'a> {
    /// Checks the lengths and the ethertype; see the type's docs.
    pub fn new_checked(buffer: &'a [u8]) -> Result<Self, WireError> {
        if buffer.len() < ETHERNET_HEADER_LEN {
            return Err(WireError::Truncated {
                part: "Ethernet header",
                needed: ETHERNET_HEADER_LEN,
                available: buffer.len(),
            });
        }
        let mut pppoe_at = ETHERNET_HEADER_LEN;
        let mut ethertype = be16(buffer, 12);
        if ethertype == ETHERTYPE_VLAN {
            let needed = ETHERNET_HEADER_LEN + VLAN_TAG_LEN;
            if buffer.len() < needed {
                return Err(WireError::Truncated {
                    part: "VLAN tag",
                    needed,
                    available: buffer.len(),
                });
            }
            ethertype = be16(buffer, 16);
            pppoe_at = needed;
        }
        match ethertype {
            ETHERTYPE_DISCOVERY | ETHERTYPE_SESSION => {}
            // 802.1Q and 802.1ad (QinQ) outer tags both land here when stacked.
            ETHERTYPE_VLAN | 0x88a8 => return Err(WireError::StackedVlan),
            other => return Err(WireError::UnknownEthertype(other)),
        }
        let needed = pppoe_at + PPPOE_HEADER_LEN;
        if buffer.len() < needed {
            return Err(WireError::Truncated {
                part: "PPPoE header",
                needed,
                available: buffer.len(),
            });
        }
        let length = usize::from(be16(buffer, pppoe_at + 4));
        let available = buffer.len() - needed;
        if length > available {
            return Err(WireError::LengthPastEnd { length, available });
        }
        Ok(Frame { buffer, pppoe_at })
    }

    /// The destination MAC address.
    pub fn dst(&self) -> MacAddr {
        mac_at(self.buffer, 0)
    }

    /// The source MAC address.
    pub fn src(&self) -> MacAddr {
        mac_at(self.buffer, 6)
    }

    /// The 12-bit VLAN ID of the 802.1Q tag, if the frame carries one.
    pub fn vlan(&self) -> Option<u16> {
        (self.pppoe_at > ETHERNET_HEADER_LEN).then(|| be16(self.buffer, 14) & 0x0fff)
    }

    /// The PPPoE stage, from the (inner) ethertype.
    pub fn stage(&self) -> Stage {
        if be16(self.buffer, self.pppoe_at - 2) == ETHERTYPE_DISCOVERY {
            Stage::Discovery
        } else {
            Stage::Session
        }
    }

    /// The VER nibble.
    pub fn version(&self) -> u8 {
        self.buffer[self.pppoe_at] >> 4
    }

    /// The TYPE nibble.
    pub fn pppoe_type(&self) -> u8 {
        self.buffer[self.pppoe_at] & 0x0f
    }

    /// The CODE octet.
    pub fn code(&self) -> u8 {
        self.buffer[self.pppoe_at + 1]
    }

    /// The SESSION_ID field.
    pub fn session_id(&self) -> u16 {
        be16(self.buffer, self.pppoe_at + 2)
    }

    /// The LENGTH field: octets of PPPoE payload.
    pub fn length(&self) -> u16 {
        be16(self.buffer, self.pppoe_at + 4)
    }

    /// The PPPoE header and payload (without Ethernet padding): what RFC 2516 §5.1 measures
    /// against 1484 octets for a PADI.
    pub fn pppoe_packet(&self) -> &'a [u8] {
        let end = self.pppoe_at + PPPOE_HEADER_LEN + usize::from(self.length());
        &self.buffer[self.pppoe_at..end]
    }

    /// The PPPoE payload: tags for Discovery, a PPP frame for Session. Ethernet padding is cut off.
    pub fn payload(&self) -> &'a [u8] {
        &self.pppoe_packet()[PPPOE_HEADER_LEN..]
    }

    /// Checks VER and TYPE (RFC 2516 §4).
    pub fn check_version(&self) -> Result<(), WireError> {
        if self.version() != PPPOE_VERSION {
            return Err(WireError::BadVersion(self.version()));
        }
        if self.pppoe_type() != PPPOE_TYPE {
            return Err(WireError::BadType(self.pppoe_type()));
        }
        Ok(())
    }
}

/// The Ethernet part of a frame: addresses and the optional VLAN ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EthernetRepr {
    /// Destination MAC.
    pub dst: MacAddr,
    /// Source MAC.
    pub src: MacAddr,
    /// 12-bit VLAN ID of a single 802.1Q tag (priority 0 on emit), or untagged.
    pub vlan: Option<u16>,
}

impl EthernetRepr {
    /// Octets of Ethernet header this emits: 14, or 18 with a VLAN tag.
    pub fn header_len(&self) -> usize {
        ETHERNET_HEADER_LEN + if self.vlan.is_some() { VLAN_TAG_LEN } else { 0 }
    }

    fn emit(&self, stage: Stage, buf: &mut [u8]) -> Result<usize, WireError> {
        let len = self.header_len();
        if buf.len() < len {
            return Err(WireError::BufferTooSmall {
                needed: len,
                available: buf.len(),
            });
        }
        buf[0..6].copy_from_slice(&self.dst.0);
        buf[6..12].copy_from_slice(&self.src.0);
        let mut at = 12;
        if let Some(vid) = self.vlan {
            if vid > 0x0fff {
                return Err(WireError::BadVlanId(vid));
            }
            buf[12..14].copy_from_slice(&ETHERTYPE_VLAN.to_be_bytes());
            buf[14..16].copy_from_slice(&vid.to_be_bytes());
            at = 16;
        }
        buf[at..at + 2].copy_from_slice(&stage.ethertype().to_be_bytes());
        Ok(len)
    }
}

/// A parsed Discovery packet: code, session ID and tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveryRepr<'a> {
    /// PADI, PADO, PADR, PADS or PADT.
    pub code: DiscoveryCode,
    /// 0 for PADI/PADO/PADR and refused PADS; the session for PADS and PADT (RFC 2516 §5).
    pub session_id: u16,
    /// Tags in wire order. Parsing stops after End-Of-List (RFC 2516 Appendix A).
    pub tags: Vec<Tag<'a>>,
}

impl<'a> DiscoveryRepr<'a> {
    /// Octets of tag payload this emits.
    pub fn payload_len(&self) -> usize {
        self.tags.iter().map(Tag::wire_len).sum()
    }

    /// The first tag the predicate picks out.
    pub fn find<T>(&self, pick: impl FnMut(&Tag<'a>) -> Option<T>) -> Option<T> {
        self.tags.iter().find_map(pick)
    }

    /// All Service-Name values, in order.
    pub fn service_names(&self) -> impl Iterator<Item = &'a [u8]> + '_ {
        self.tags.iter().filter_map(|t| match t {
            Tag::ServiceName(v) => Some(*v),
            _ => None,
        })
    }

    /// The first Host-Uniq value.
    pub fn host_uniq(&self) -> Option<&'a [u8]> {
        self.find(|t| match t {
            Tag::HostUniq(v) => Some(*v),
            _ => None,
        })
    }

    /// The first AC-Cookie value.
    pub fn ac_cookie(&self) -> Option<&'a [u8]> {
        self.find(|t| match t {
            Tag::AcCookie(v) => Some(*v),
            _ => None,
        })
    }

    /// The first AC-Name value.
    pub fn ac_name(&self) -> Option<&'a [u8]> {
        self.find(|t| match t {
            Tag::AcName(v) => Some(*v),
            _ => None,
        })
    }

    /// The first Relay-Session-Id value.
    pub fn relay_session_id(&self) -> Option<&'a [u8]> {
        self.find(|t| match t {
            Tag::RelaySessionId(v) => Some(*v),
            _ => None,
        })
    }

    /// The first PPP-Max-Payload value (RFC 4638).
    pub fn ppp_max_payload(&self) -> Option<u16> {
        self.find(|t| match t {
            Tag::PppMaxPayload(v) => Some(*v),
            _ => None,
        })
    }

    /// The first error tag (Service-Name-Error, AC-System-Error or Generic-Error), if any.
    pub fn error(&self) -> Option<Tag<'a>> {
        self.find(|t| t.is_error().then_some(*t))
    }
}

/// A parsed Session-stage packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionRepr<'a> {
    /// The session the PPP frame belongs to.
    pub session_id: u16,
    /// The PPP frame, starting with the protocol field (RFC 2516 §6).
    pub ppp: &'a [u8],
}

/// What a PPPoE frame carries after the Ethernet header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body<'a> {
    /// Ethertype 0x8863.
    Discovery(DiscoveryRepr<'a>),
    /// Ethertype 0x8864.
    Session(SessionRepr<'a>),
}

/// A whole PPPoE frame, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameRepr<'a> {
    /// Addresses and VLAN.
    pub eth: EthernetRepr,
    /// Discovery or Session body.
    pub body: Body<'a>,
}

impl<'a> FrameRepr<'a> {
    /// Parses and validates a frame: lengths, VER/TYPE, CODE and (for Discovery) every tag.
    pub fn parse(frame: &Frame<'a>) -> Result<Self, WireError> {
        frame.check_version()?;
        let eth = EthernetRepr {
            dst: frame.dst(),
            src: frame.src(),
            vlan: frame.vlan(),
        };
        let body = match frame.stage() {
            Stage::Discovery => {
                let code = DiscoveryCode::from_u8(frame.code())
                    .ok_or(WireError::UnknownDiscoveryCode(frame.code()))?;
                let tags = TagIter::new(frame.payload()).collect::<Result<Vec<_>, _>>()?;
                Body::Discovery(DiscoveryRepr {
                    code,
                    session_id: frame.session_id(),
                    tags,
                })
            }
            Stage::Session => {
                // RFC 2516 §6: "The PPPoE CODE MUST be set to 0x00."
                if frame.code() != 0 {
                    return Err(WireError::BadSessionCode(frame.code()));
                }
                // RFC 2516 §6: "The frame begins with the PPP Protocol-ID."
                if frame.payload().is_empty() {
                    return Err(WireError::EmptySessionPayload);
                }
                Body::Session(SessionRepr {
                    session_id: frame.session_id(),
                    ppp: frame.payload(),
                })
            }
        };
        Ok(FrameRepr { eth, body })
    }

    /// Checks and parses raw bytes in one go.
    pub fn parse_bytes(bytes: &'a [u8]) -> Result<Self, WireError> {
        Self::parse(&Frame::new_checked(bytes)?)
    }

    fn stage(&self) -> Stage {
        match self.body {
            Body::Discovery(_) => Stage::Discovery,
            Body::Session(_) => Stage::Session,
        }
    }

    fn payload_len(&self) -> usize {
        match &self.body {
            Body::Discovery(d) => d.payload_len(),
            Body::Session(s) => s.ppp.len(),
        }
    }

    /// Octets [`FrameRepr::emit`] writes (no Ethernet padding; the NIC pads short frames).
    pub fn buffer_len(&self) -> usize {
        self.eth.header_len() + PPPOE_HEADER_LEN + self.payload_len()
    }

    /// Writes the frame into `buf` and returns the octets written.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, WireError> {
        let payload_len = self.payload_len();
        let length =
            u16::try_from(payload_len).map_err(|_| WireError::PayloadTooLong(payload_len))?;
        let needed = self.buffer_len();
        if buf.len() < needed {
            return Err(WireError::BufferTooSmall {
                needed,
                available: buf.len(),
            });
        }
        let at = self.eth.emit(self.stage(), buf)?;
        let (code, session_id) = match &self.body {
            Body::Discovery(d) => (d.code.to_u8(), d.session_id),
            Body::Session(s) => (0, s.session_id),
        };
        write_pppoe_header(&mut buf[at..], code, session_id, length);
        let mut pos = at + PPPOE_HEADER_LEN;
        match &self.body {
            Body::Discovery(d) => {
                for tag in &d.tags {
                    pos += tag.emit(&mut buf[pos..])?;
                }
            }
            Body::Session(s) => {
                buf[pos..pos + s.ppp.len()].copy_from_slice(s.ppp);
                pos += s.ppp.len();
            }
        }
        Ok(pos)
    }

    /// Emits into a fresh vector.
    pub fn to_vec(&self) -> Result<Vec<u8>, WireError> {
        let mut out = vec![0u8; self.buffer_len()];
        let n = self.emit(&mut out)?;
        out.truncate(n);
        Ok(out)
    }
}

fn write_pppoe_header(buf: &mut [u8], code: u8, session_id: u16, length: u16) {
    buf[0] = (PPPOE_VERSION << 4) | PPPOE_TYPE;
    buf[1] = code;
    buf[2..4].copy_from_slice(&session_id.to_be_bytes());
    buf[4..6].copy_from_slice(&length.to_be_bytes());
}

/// The fixed header of every Session-stage frame of one session: the data plane's fast path for
/// sending PPP frames to a subscriber without building a [`FrameRepr`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionHeader {
    /// Our interface MAC (source of frames we send).
    pub local: MacAddr,
    /// The subscriber's MAC (destination).
    pub peer: MacAddr,
    /// The VLAN the session was discovered on.
    pub vlan: Option<u16>,
    /// The PPPoE session ID.
    pub session_id: u16,
}

impl SessionHeader {
    /// Octets of Ethernet + PPPoE header: 20 untagged, 24 tagged.
    pub fn header_len(&self) -> usize {
        self.eth().header_len() + PPPOE_HEADER_LEN
    }

    fn eth(&self) -> EthernetRepr {
        EthernetRepr {
            dst: self.peer,
            src: self.local,
            vlan: self.vlan,
        }
    }

    /// Writes the headers for a PPP frame of `ppp_len` octets into the front of `buf` and returns
    /// the header length; the caller puts the PPP frame right after it.
    pub fn emit_header(&self, buf: &mut [u8], ppp_len: usize) -> Result<usize, WireError> {
        let length = u16::try_from(ppp_len).map_err(|_| WireError::PayloadTooLong(ppp_len))?;
        let needed = self.header_len();
        if buf.len() < needed {
            return Err(WireError::BufferTooSmall {
                needed,
                available: buf.len(),
            });
        }
        let at = self.eth().emit(Stage::Session, buf)?;
        write_pppoe_header(&mut buf[at..], 0, self.session_id, length);
        Ok(needed)
    }

    /// Writes a whole Session-stage frame carrying `ppp` and returns its length.
    pub fn emit(&self, ppp: &[u8], buf: &mut [u8]) -> Result<usize, WireError> {
        let needed = self.header_len() + ppp.len();
        if buf.len() < needed {
            return Err(WireError::BufferTooSmall {
                needed,
                available: buf.len(),
            });
        }
        let at = self.emit_header(buf, ppp.len())?;
        buf[at..needed].copy_from_slice(ppp);
        Ok(needed)
    }

    /// A whole Session-stage frame in a fresh vector.
    pub fn to_vec(&self, ppp: &[u8]) -> Result<Vec<u8>, WireError> {
        let mut out = vec![0u8; self.header_len() + ppp.len()];
        self.emit(ppp, &mut out)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    //! Byte-exact vectors built by hand from the layouts of RFC 2516 §4, §5 and Appendix B.

    use super::*;
    use crate::pppoe::tag::Tag;

    const HOST: MacAddr = MacAddr([0x02, 0x00, 0x00, 0x00, 0x00, 0x01]);
    const AC: MacAddr = MacAddr([0x02, 0x00, 0x00, 0x00, 0x00, 0xaa]);

    fn discovery<'a>(
        dst: MacAddr,
        src: MacAddr,
        code: DiscoveryCode,
        sid: u16,
        tags: Vec<Tag<'a>>,
    ) -> FrameRepr<'a> {
        FrameRepr {
            eth: EthernetRepr {
                dst,
                src,
                vlan: None,
            },
            body: Body::Discovery(DiscoveryRepr {
                code,
                session_id: sid,
                tags,
            }),
        }
    }

    /// Parses `bytes` to `repr` and emits `repr` back to exactly `bytes`.
    fn round_trip(bytes: &[u8], repr: &FrameRepr<'_>) {
        let parsed = FrameRepr::parse_bytes(bytes).expect("vector parses");
        assert_eq!(&parsed, repr);
        assert_eq!(repr.buffer_len(), bytes.len());
        assert_eq!(repr.to_vec().expect("vector emits"), bytes);
    }

    #[rustfmt::skip]
    const PADI: &[u8] = &[
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff,             // DESTINATION_ADDR: broadcast (§5.1)
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01,             // SOURCE_ADDR: host
        0x88, 0x63,                                     // ETHER_TYPE: Discovery
        0x11, 0x09, 0x00, 0x00, 0x00, 0x04,             // v=1 t=1, CODE PADI, SESSION_ID 0, LENGTH 4
        0x01, 0x01, 0x00, 0x00,                         // Service-Name, empty: any service
    ];

    #[test]
    fn padi_vector_from_appendix_b() {
        round_trip(
            PADI,
            &discovery(
                MacAddr::BROADCAST,
                HOST,
                DiscoveryCode::Padi,
                0,
                vec![Tag::ServiceName(b"")],
            ),
        );
    }

    #[rustfmt::skip]
    const PADO: &[u8] = &[
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01,             // host
        0x02, 0x00, 0x00, 0x00, 0x00, 0xaa,             // access concentrator
        0x88, 0x63,
        0x11, 0x07, 0x00, 0x00, 0x00, 0x20,             // CODE PADO, SESSION_ID 0, LENGTH 32
        0x01, 0x01, 0x00, 0x00,                         // Service-Name, empty
        0x01, 0x02, 0x00, 0x18,                         // AC-Name, 24 octets (Appendix B's example)
        0x47, 0x6f, 0x20, 0x52, 0x65, 0x64, 0x42, 0x61,
        0x63, 0x6b, 0x20, 0x2d, 0x20, 0x65, 0x73, 0x68,
        0x73, 0x68, 0x65, 0x73, 0x68, 0x6f, 0x6f, 0x74,
    ];

    #[test]
    fn pado_vector_from_appendix_b() {
        let tags = vec![
            Tag::ServiceName(b""),
            Tag::AcName(b"Go RedBack - eshsheshoot"),
        ];
        round_trip(PADO, &discovery(HOST, AC, DiscoveryCode::Pado, 0, tags));
    }

    #[rustfmt::skip]
    const PADR: &[u8] = &[
        0x02, 0x00, 0x00, 0x00, 0x00, 0xaa,             // unicast to the AC (§5.3)
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
        0x88, 0x63,
        0x11, 0x19, 0x00, 0x00, 0x00, 0x14,             // CODE PADR, SESSION_ID 0, LENGTH 20
        0x01, 0x01, 0x00, 0x00,                         // Service-Name, empty
        0x01, 0x03, 0x00, 0x04, 0xde, 0xad, 0xbe, 0xef, // Host-Uniq
        0x01, 0x04, 0x00, 0x04, 0x01, 0x02, 0x03, 0x04, // AC-Cookie
    ];

    #[test]
    fn padr_vector() {
        let tags = vec![
            Tag::ServiceName(b""),
            Tag::HostUniq(&[0xde, 0xad, 0xbe, 0xef]),
            Tag::AcCookie(&[1, 2, 3, 4]),
        ];
        round_trip(PADR, &discovery(AC, HOST, DiscoveryCode::Padr, 0, tags));
    }

    #[rustfmt::skip]
    const PADS: &[u8] = &[
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
        0x02, 0x00, 0x00, 0x00, 0x00, 0xaa,
        0x88, 0x63,
        0x11, 0x65, 0x12, 0x34, 0x00, 0x0c,             // CODE PADS, SESSION_ID 0x1234, LENGTH 12
        0x01, 0x01, 0x00, 0x00,
        0x01, 0x03, 0x00, 0x04, 0xde, 0xad, 0xbe, 0xef,
    ];

    #[test]
    fn pads_vector() {
        let tags = vec![
            Tag::ServiceName(b""),
            Tag::HostUniq(&[0xde, 0xad, 0xbe, 0xef]),
        ];
        round_trip(
            PADS,
            &discovery(HOST, AC, DiscoveryCode::Pads, 0x1234, tags),
        );
    }

    #[rustfmt::skip]
    const PADT: &[u8] = &[
        0x02, 0x00, 0x00, 0x00, 0x00, 0xaa,
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
        0x88, 0x63,
        0x11, 0xa7, 0x12, 0x34, 0x00, 0x00,             // CODE PADT, SESSION_ID 0x1234, no tags (§5.5)
    ];

    #[test]
    fn padt_vector() {
        round_trip(
            PADT,
            &discovery(AC, HOST, DiscoveryCode::Padt, 0x1234, vec![]),
        );
    }

    #[rustfmt::skip]
    const SESSION_LCP: &[u8] = &[
        0x02, 0x00, 0x00, 0x00, 0x00, 0xaa,
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
        0x88, 0x64,                                     // ETHER_TYPE: Session
        0x11, 0x00, 0x12, 0x34, 0x00, 0x06,             // CODE 0, SESSION_ID 0x1234, LENGTH 6
        0xc0, 0x21,                                     // PPP protocol: LCP (Appendix B)
        0x01, 0x01, 0x00, 0x04,                         // Configure-Request, id 1, length 4
    ];

    #[test]
    fn session_vector() {
        let repr = FrameRepr {
            eth: EthernetRepr {
                dst: AC,
                src: HOST,
                vlan: None,
            },
            body: Body::Session(SessionRepr {
                session_id: 0x1234,
                ppp: &[0xc0, 0x21, 0x01, 0x01, 0x00, 0x04],
            }),
        };
        round_trip(SESSION_LCP, &repr);
        let header = SessionHeader {
            local: AC,
            peer: HOST,
            vlan: None,
            session_id: 0x1234,
        };
        // The fast-path header writes the same bytes, addresses swapped since it sends toward `peer`.
        let fast = header
            .to_vec(&[0xc0, 0x21, 0x01, 0x01, 0x00, 0x04])
            .unwrap();
        assert_eq!(&fast[..6], &HOST.0);
        assert_eq!(&fast[6..12], &AC.0);
        assert_eq!(&fast[12..], &SESSION_LCP[12..]);
    }

    #[test]
    fn vlan_tagged_padi_reports_vid_and_round_trips() {
        let mut bytes = PADI[..12].to_vec();
        bytes.extend_from_slice(&[0x81, 0x00, 0x00, 0x64]); // 802.1Q, PCP 0, VID 100
        bytes.extend_from_slice(&PADI[12..]);
        let frame = Frame::new_checked(&bytes).unwrap();
        assert_eq!(frame.vlan(), Some(100));
        assert_eq!(frame.stage(), Stage::Discovery);
        let mut repr = discovery(
            MacAddr::BROADCAST,
            HOST,
            DiscoveryCode::Padi,
            0,
            vec![Tag::ServiceName(b"")],
        );
        repr.eth.vlan = Some(100);
        round_trip(&bytes, &repr);
        // Priority bits are not part of the VLAN ID.
        bytes[14] = 0xe0;
        assert_eq!(Frame::new_checked(&bytes).unwrap().vlan(), Some(100));
    }

    #[test]
    fn ethernet_padding_is_not_payload() {
        let mut padded = PADT.to_vec();
        padded.resize(60, 0); // minimum Ethernet frame without FCS
        let frame = Frame::new_checked(&padded).unwrap();
        assert!(frame.payload().is_empty());
        assert_eq!(frame.pppoe_packet().len(), PPPOE_HEADER_LEN);
        let mut session = SESSION_LCP.to_vec();
        session.resize(60, 0);
        match FrameRepr::parse_bytes(&session).unwrap().body {
            Body::Session(s) => assert_eq!(s.ppp, &SESSION_LCP[20..]),
            other => panic!("expected a session body, got {other:?}"),
        }
    }

    #[test]
    fn header_errors_are_typed() {
        assert_eq!(
            Frame::new_checked(&PADI[..13]).unwrap_err(),
            WireError::Truncated {
                part: "Ethernet header",
                needed: 14,
                available: 13
            }
        );
        assert_eq!(
            Frame::new_checked(&PADI[..19]).unwrap_err(),
            WireError::Truncated {
                part: "PPPoE header",
                needed: 20,
                available: 19
            }
        );
        assert_eq!(
            Frame::new_checked(&PADI[..23]).unwrap_err(),
            WireError::LengthPastEnd {
                length: 4,
                available: 3
            }
        );

        let mut ipv4 = PADI.to_vec();
        ipv4[12..14].copy_from_slice(&[0x08, 0x00]);
        assert_eq!(
            Frame::new_checked(&ipv4).unwrap_err(),
            WireError::UnknownEthertype(0x0800)
        );

        let mut stacked = PADI[..12].to_vec();
        stacked.extend_from_slice(&[0x81, 0x00, 0x00, 0x01, 0x81, 0x00, 0x00, 0x02]);
        stacked.extend_from_slice(&PADI[12..]);
        assert_eq!(
            Frame::new_checked(&stacked).unwrap_err(),
            WireError::StackedVlan
        );
        assert_eq!(
            Frame::new_checked(&stacked[..17]).unwrap_err(),
            WireError::Truncated {
                part: "VLAN tag",
                needed: 18,
                available: 17
            }
        );

        let mut v2 = PADI.to_vec();
        v2[14] = 0x21;
        assert_eq!(
            FrameRepr::parse_bytes(&v2).unwrap_err(),
            WireError::BadVersion(2)
        );
        let mut t2 = PADI.to_vec();
        t2[14] = 0x12;
        assert_eq!(
            FrameRepr::parse_bytes(&t2).unwrap_err(),
            WireError::BadType(2)
        );

        let mut code = PADI.to_vec();
        code[15] = 0x42;
        assert_eq!(
            FrameRepr::parse_bytes(&code).unwrap_err(),
            WireError::UnknownDiscoveryCode(0x42)
        );

        let mut sess_code = SESSION_LCP.to_vec();
        sess_code[15] = 0x09;
        assert_eq!(
            FrameRepr::parse_bytes(&sess_code).unwrap_err(),
            WireError::BadSessionCode(0x09)
        );

        let mut empty = SESSION_LCP[..20].to_vec();
        empty[18..20].copy_from_slice(&[0, 0]);
        assert_eq!(
            FrameRepr::parse_bytes(&empty).unwrap_err(),
            WireError::EmptySessionPayload
        );
    }

    #[test]
    fn tag_errors_are_typed() {
        // A tag header cut after two octets.
        let mut cut = PADI[..20].to_vec();
        cut[19] = 6;
        cut.extend_from_slice(&[0x01, 0x01, 0x00, 0x00, 0x01, 0x03]);
        assert_eq!(
            FrameRepr::parse_bytes(&cut).unwrap_err(),
            WireError::TagHeaderTruncated { offset: 4 }
        );

        // A Host-Uniq claiming 16 octets with 2 present.
        let mut past = PADI[..20].to_vec();
        past[19] = 6;
        past.extend_from_slice(&[0x01, 0x03, 0x00, 0x10, 0xaa, 0xbb]);
        assert_eq!(
            FrameRepr::parse_bytes(&past).unwrap_err(),
            WireError::TagValuePastEnd {
                tag_type: 0x0103,
                offset: 0,
                length: 16,
                available: 2
            }
        );

        for (ty, value, expected_len) in [
            (0x0000u16, &[1u8][..], 1usize),
            (0x0120, &[5, 0xdc, 0][..], 3),
            (0x0105, &[0, 0, 9][..], 3),
        ] {
            let mut bad = PADI[..20].to_vec();
            bad[19] = (4 + value.len()) as u8;
            bad.extend_from_slice(&ty.to_be_bytes());
            bad.extend_from_slice(&(value.len() as u16).to_be_bytes());
            bad.extend_from_slice(value);
            match FrameRepr::parse_bytes(&bad).unwrap_err() {
                WireError::BadTagLength {
                    tag_type, length, ..
                } => {
                    assert_eq!((tag_type, length), (ty, expected_len));
                }
                other => panic!("tag {ty:#06x}: expected BadTagLength, got {other:?}"),
            }
        }
    }

    #[test]
    fn every_tag_type_round_trips_and_unknown_tags_are_kept() {
        let tags = vec![
            Tag::ServiceName(b"internet"),
            Tag::AcName(b"lac-1"),
            Tag::HostUniq(&[1, 2, 3]),
            Tag::AcCookie(&[4; 16]),
            Tag::VendorSpecific {
                vendor_id: 3561,
                data: &[0x01, 0x02],
            },
            Tag::RelaySessionId(&[9; 12]),
            Tag::PppMaxPayload(1500),
            Tag::ServiceNameError(b"no such service"),
            Tag::AcSystemError(b"out of memory"),
            Tag::GenericError(b"full"),
            Tag::Unknown {
                tag_type: 0x0106,
                value: &[7, 7],
            },
            Tag::EndOfList,
        ];
        let repr = discovery(HOST, AC, DiscoveryCode::Pado, 0, tags);
        let bytes = repr.to_vec().unwrap();
        assert_eq!(FrameRepr::parse_bytes(&bytes).unwrap(), repr);
        // PPP-Max-Payload is two octets in network order (RFC 4638 §4).
        let pos = bytes
            .windows(4)
            .position(|w| w == [0x01, 0x20, 0x00, 0x02])
            .unwrap();
        assert_eq!(&bytes[pos + 4..pos + 6], &[0x05, 0xdc]);
    }

    #[test]
    fn nothing_after_end_of_list_is_read() {
        let mut bytes = PADI[..20].to_vec();
        bytes[19] = 10;
        bytes.extend_from_slice(&[0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
        let repr = FrameRepr::parse_bytes(&bytes).unwrap();
        assert_eq!(
            repr,
            discovery(
                MacAddr::BROADCAST,
                HOST,
                DiscoveryCode::Padi,
                0,
                vec![Tag::EndOfList]
            )
        );
    }

    #[test]
    fn emit_checks_buffers_and_vlan_ids() {
        let repr = discovery(
            MacAddr::BROADCAST,
            HOST,
            DiscoveryCode::Padi,
            0,
            vec![Tag::ServiceName(b"")],
        );
        let mut small = [0u8; 23];
        assert_eq!(
            repr.emit(&mut small).unwrap_err(),
            WireError::BufferTooSmall {
                needed: 24,
                available: 23
            }
        );
        let mut tagged = repr.clone();
        tagged.eth.vlan = Some(4096);
        assert_eq!(tagged.to_vec().unwrap_err(), WireError::BadVlanId(4096));
        let big = vec![0u8; 70_000];
        let too_long = FrameRepr {
            eth: repr.eth,
            body: Body::Session(SessionRepr {
                session_id: 1,
                ppp: &big,
            }),
        };
        assert_eq!(
            too_long.to_vec().unwrap_err(),
            WireError::PayloadTooLong(70_000)
        );
    }

    #[test]
    fn mac_addresses_parse_and_classify() {
        assert_eq!("02:00:00:00:00:aa".parse::<MacAddr>().unwrap(), AC);
        assert_eq!("02-00-00-00-00-AA".parse::<MacAddr>().unwrap(), AC);
        for bad in [
            "",
            "02:00:00:00:00",
            "02:00:00:00:00:aa:bb",
            "2:00:00:00:00:aa",
            "zz:00:00:00:00:aa",
        ] {
            assert!(bad.parse::<MacAddr>().is_err(), "{bad:?} must not parse");
        }
        assert_eq!(AC.to_string(), "02:00:00:00:00:aa");
        assert!(AC.is_unicast());
        assert!(!MacAddr::BROADCAST.is_unicast() && MacAddr::BROADCAST.is_multicast());
        assert!(!MacAddr([0x01, 0x00, 0x5e, 0, 0, 1]).is_unicast());
        assert!(!MacAddr::ZERO.is_unicast());
    }
}

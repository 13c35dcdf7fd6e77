//! IPCP: the IP Control Protocol's options (RFC 1332 §3, RFC 1877 §1) and the IPCP option set
//! plugged into the shared automaton, for both roles.
//!
//! Owns: the IPCP option codec, the server policy (assign the peer an address by Nak, hand out DNS
//! and NBNS servers, reject compression), the client policy (ask for 0.0.0.0 and DNS, adopt what is
//! Naked), and the addresses negotiated. Must not touch: address pools (the application supplies the
//! addresses), the automaton (`fsm`), phases (`link`).

use std::net::Ipv4Addr;

use super::Error;
use super::fsm::{Negotiator, Verdict};
use super::link::DownCause;
use super::packet::{RawOption, options, parse_options};

/// IPCP option types (RFC 1332 §3, RFC 1877 §1).
pub mod option {
    /// IP-Addresses, deprecated (RFC 1332 §3.1): always rejected.
    pub const IP_ADDRESSES: u8 = 1;
    /// IP-Compression-Protocol (RFC 1332 §3.2): Van Jacobson compression is not offered.
    pub const IP_COMPRESSION_PROTOCOL: u8 = 2;
    /// IP-Address (RFC 1332 §3.3).
    pub const IP_ADDRESS: u8 = 3;
    /// Primary DNS Server Address (RFC 1877 §1.1).
    pub const PRIMARY_DNS: u8 = 129;
    /// Primary NBNS Server Address (RFC 1877 §1.2).
    pub const PRIMARY_NBNS: u8 = 130;
    /// Secondary DNS Server Address (RFC 1877 §1.3).
    pub const SECONDARY_DNS: u8 = 131;
    /// Secondary NBNS Server Address (RFC 1877 §1.4).
    pub const SECONDARY_NBNS: u8 = 132;
}

/// One IPCP configuration option, parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpcpOption<'a> {
    /// IP-Address.
    IpAddress(Ipv4Addr),
    /// Primary DNS server.
    PrimaryDns(Ipv4Addr),
    /// Primary NBNS server.
    PrimaryNbns(Ipv4Addr),
    /// Secondary DNS server.
    SecondaryDns(Ipv4Addr),
    /// Secondary NBNS server.
    SecondaryNbns(Ipv4Addr),
    /// IP-Compression-Protocol: protocol number and parameters.
    IpCompression {
        /// The compression protocol number (0x002d for Van Jacobson).
        protocol: u16,
        /// Its parameters.
        data: &'a [u8],
    },
    /// Anything else (including the deprecated IP-Addresses), kept raw.
    Unknown(RawOption<'a>),
}

/// The address-carrying option types, in the order the engine emits them.
const ADDRESS_KINDS: [u8; 5] = [
    option::IP_ADDRESS,
    option::PRIMARY_DNS,
    option::PRIMARY_NBNS,
    option::SECONDARY_DNS,
    option::SECONDARY_NBNS,
];

impl<'a> IpcpOption<'a> {
    /// Interprets a raw option. A known type with the wrong length is an error.
    pub fn parse(raw: RawOption<'a>) -> Result<Self, Error> {
        let bad = || Error::BadOptionLength {
            kind: raw.kind,
            length: raw.raw.len(),
            available: raw.raw.len(),
        };
        if ADDRESS_KINDS.contains(&raw.kind) {
            let [a, b, c, d] = raw.data else {
                return Err(bad());
            };
            let addr = Ipv4Addr::new(*a, *b, *c, *d);
            return Ok(Self::address(raw.kind, addr).unwrap_or(Self::Unknown(raw)));
        }
        Ok(match raw.kind {
            option::IP_COMPRESSION_PROTOCOL => match raw.data {
                [a, b, rest @ ..] => Self::IpCompression {
                    protocol: u16::from_be_bytes([*a, *b]),
                    data: rest,
                },
                _ => return Err(bad()),
            },
            _ => Self::Unknown(raw),
        })
    }

    fn address(kind: u8, addr: Ipv4Addr) -> Option<Self> {
        Some(match kind {
            option::IP_ADDRESS => Self::IpAddress(addr),
            option::PRIMARY_DNS => Self::PrimaryDns(addr),
            option::PRIMARY_NBNS => Self::PrimaryNbns(addr),
            option::SECONDARY_DNS => Self::SecondaryDns(addr),
            option::SECONDARY_NBNS => Self::SecondaryNbns(addr),
            _ => return None,
        })
    }

    /// Appends the option in wire form.
    pub fn emit(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        match *self {
            Self::IpAddress(a) => RawOption::emit(option::IP_ADDRESS, &a.octets(), out),
            Self::PrimaryDns(a) => RawOption::emit(option::PRIMARY_DNS, &a.octets(), out),
            Self::PrimaryNbns(a) => RawOption::emit(option::PRIMARY_NBNS, &a.octets(), out),
            Self::SecondaryDns(a) => RawOption::emit(option::SECONDARY_DNS, &a.octets(), out),
            Self::SecondaryNbns(a) => RawOption::emit(option::SECONDARY_NBNS, &a.octets(), out),
            Self::IpCompression { protocol, data } => {
                let mut d = protocol.to_be_bytes().to_vec();
                d.extend_from_slice(data);
                RawOption::emit(option::IP_COMPRESSION_PROTOCOL, &d, out)
            }
            Self::Unknown(raw) => RawOption::emit(raw.kind, raw.data, out),
        }
    }
}

/// What the server hands the peer, supplied by the application with its authentication verdict
/// (from the address pool, a static assignment or RADIUS).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpcpAssignment {
    /// Our end of the link, announced in our IP-Address option.
    pub local: Ipv4Addr,
    /// The peer's address. Any other address the peer asks for (0.0.0.0 included) is Naked with
    /// this one.
    pub peer: Ipv4Addr,
    /// Primary DNS server offered (RFC 1877 §1.1); `None` rejects the option.
    pub primary_dns: Option<Ipv4Addr>,
    /// Secondary DNS server offered (RFC 1877 §1.3); `None` rejects the option.
    pub secondary_dns: Option<Ipv4Addr>,
    /// Primary NBNS server offered (RFC 1877 §1.2); `None` rejects the option.
    pub primary_nbns: Option<Ipv4Addr>,
    /// Secondary NBNS server offered (RFC 1877 §1.4); `None` rejects the option.
    pub secondary_nbns: Option<Ipv4Addr>,
}

impl IpcpAssignment {
    /// An assignment with no name servers.
    pub fn new(local: Ipv4Addr, peer: Ipv4Addr) -> Self {
        Self {
            local,
            peer,
            primary_dns: None,
            secondary_dns: None,
            primary_nbns: None,
            secondary_nbns: None,
        }
    }
}

/// What the client asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpcpClientConfig {
    /// The address to ask for; `None` asks the server to assign one (0.0.0.0, RFC 1332 §3.3).
    pub requested_address: Option<Ipv4Addr>,
    /// Ask for primary and secondary DNS servers (RFC 1877).
    pub request_dns: bool,
}

impl Default for IpcpClientConfig {
    fn default() -> Self {
        Self {
            requested_address: None,
            request_dns: true,
        }
    }
}

/// The network layer as negotiated, reported when IPCP opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetworkInfo {
    /// Our address on the link.
    pub local: Ipv4Addr,
    /// The peer's address: for a server the address assigned to the subscriber; for a client the
    /// address the server announced, `None` if it announced none.
    pub peer: Option<Ipv4Addr>,
    /// Primary DNS server: offered (server) or obtained (client).
    pub primary_dns: Option<Ipv4Addr>,
    /// Secondary DNS server: offered (server) or obtained (client).
    pub secondary_dns: Option<Ipv4Addr>,
}

/// The address-carrying options as one small table, indexed like [`ADDRESS_KINDS`].
type Addresses = [Option<Ipv4Addr>; 5];

fn slot(kind: u8) -> Option<usize> {
    ADDRESS_KINDS.iter().position(|k| *k == kind)
}

#[derive(Debug, Clone)]
enum Side {
    Server(IpcpAssignment),
    Client(IpcpClientConfig),
}

/// The IPCP option set for the automaton.
#[derive(Debug, Clone)]
pub(crate) struct IpcpNegotiator {
    side: Side,
    /// What we put in our Configure-Request, by option.
    want: Addresses,
    /// What the peer acknowledged of our request.
    acked: Addresses,
    /// What we acknowledged of the peer's request.
    peer: Addresses,
    /// Set when negotiation cannot succeed; the link closes with it.
    pub fatal: Option<DownCause>,
}

impl IpcpNegotiator {
    pub fn server(assignment: IpcpAssignment) -> Self {
        let mut n = Self {
            side: Side::Server(assignment),
            want: [None; 5],
            acked: [None; 5],
            peer: [None; 5],
            fatal: None,
        };
        n.reset();
        n
    }

    pub fn client(cfg: IpcpClientConfig) -> Self {
        let mut n = Self {
            side: Side::Client(cfg),
            want: [None; 5],
            acked: [None; 5],
            peer: [None; 5],
            fatal: None,
        };
        n.reset();
        n
    }

    /// The negotiated network, meaningful once IPCP is open.
    pub fn network(&self) -> NetworkInfo {
        match &self.side {
            Side::Server(a) => NetworkInfo {
                local: a.local,
                peer: Some(a.peer),
                primary_dns: a.primary_dns,
                secondary_dns: a.secondary_dns,
            },
            Side::Client(_) => NetworkInfo {
                local: self.acked[0].unwrap_or(Ipv4Addr::UNSPECIFIED),
                peer: self.peer[0],
                primary_dns: self.acked[1].filter(|a| !a.is_unspecified()),
                secondary_dns: self.acked[3].filter(|a| !a.is_unspecified()),
            },
        }
    }

    /// Checked when IPCP opens: a client that ended up without an address cannot carry traffic.
    pub fn check_opened(&mut self) {
        if matches!(self.side, Side::Client(_)) && self.network().local.is_unspecified() {
            self.fatal = Some(DownCause::NegotiationFailed {
                protocol: super::frame::protocol::IPCP,
                reason: "the server did not assign an address",
            });
        }
    }

    fn server_offer(a: &IpcpAssignment) -> Addresses {
        [
            Some(a.peer),
            a.primary_dns,
            a.primary_nbns,
            a.secondary_dns,
            a.secondary_nbns,
        ]
    }
}

impl Negotiator for IpcpNegotiator {
    fn reset(&mut self) {
        self.want = match &self.side {
            Side::Server(a) => [Some(a.local), None, None, None, None],
            Side::Client(c) => {
                let dns = c.request_dns.then_some(Ipv4Addr::UNSPECIFIED);
                [
                    Some(c.requested_address.unwrap_or(Ipv4Addr::UNSPECIFIED)),
                    dns,
                    None,
                    dns,
                    None,
                ]
            }
        };
        self.acked = [None; 5];
        self.peer = [None; 5];
    }

    fn request(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        for (kind, addr) in ADDRESS_KINDS.iter().zip(self.want) {
            if let Some(addr) = addr {
                let _ = RawOption::emit(*kind, &addr.octets(), &mut out);
            }
        }
        out
    }

    fn check_request(&mut self, opts: &[u8], naks_exhausted: bool) -> Result<Verdict, Error> {
        let raw = parse_options(opts)?;
        let mut nak = Vec::new();
        let mut reject = Vec::new();
        let mut seen: Addresses = [None; 5];
        for o in raw {
            let parsed = IpcpOption::parse(o);
            let (Ok(_), Some(i)) = (&parsed, slot(o.kind)) else {
                // Compression, the deprecated IP-Addresses, unknown types, bad lengths.
                reject.extend_from_slice(o.raw);
                continue;
            };
            let asked = Ipv4Addr::new(o.data[0], o.data[1], o.data[2], o.data[3]);
            match &self.side {
                Side::Server(a) => match Self::server_offer(a)[i] {
                    Some(offer) if offer == asked => seen[i] = Some(asked),
                    // RFC 1332 §3.3 / RFC 1877: Nak with the value the peer must use.
                    Some(offer) if !naks_exhausted => {
                        let _ = RawOption::emit(o.kind, &offer.octets(), &mut nak);
                    }
                    _ => reject.extend_from_slice(o.raw),
                },
                Side::Client(_) => {
                    // The server announces its own address; we cannot assign it one, and name
                    // servers are not ours to ask for.
                    if o.kind == option::IP_ADDRESS && !asked.is_unspecified() {
                        seen[i] = Some(asked);
                    } else {
                        reject.extend_from_slice(o.raw);
                    }
                }
            }
        }
        if let Side::Server(a) = &self.side {
            // RFC 1332 §3.3: "If negotiation about the remote IP-address is required, and the peer
            // did not provide the option in its Configure-Request, the option SHOULD be appended to
            // a Configure-Nak." Not once Max-Failure is reached (RFC 1661 §4.6).
            if seen[0].is_none()
                && reject.is_empty()
                && !naks_exhausted
                && !nak_has(&nak, option::IP_ADDRESS)
            {
                let _ = RawOption::emit(option::IP_ADDRESS, &a.peer.octets(), &mut nak);
            }
        }
        Ok(if !reject.is_empty() {
            Verdict::Reject(reject)
        } else if !nak.is_empty() {
            Verdict::Nak(nak)
        } else {
            self.peer = seen;
            Verdict::Ack
        })
    }

    fn ack_received(&mut self, _opts: &[u8]) {
        self.acked = self.want;
    }

    fn nak_received(&mut self, opts: &[u8]) -> Result<(), Error> {
        let Side::Client(cfg) = &self.side else {
            // The server's own address is not negotiable: keep requesting it until the peer
            // acknowledges or rejects it.
            return options(opts).try_for_each(|o| o.map(|_| ()));
        };
        for o in options(opts) {
            let o = o?;
            let (Ok(_), Some(i)) = (IpcpOption::parse(o), slot(o.kind)) else {
                continue;
            };
            let addr = Ipv4Addr::new(o.data[0], o.data[1], o.data[2], o.data[3]);
            let wanted = match i {
                0 => true,
                1 | 3 => cfg.request_dns,
                _ => false,
            };
            if wanted && !addr.is_unspecified() {
                self.want[i] = Some(addr);
            }
        }
        Ok(())
    }

    fn reject_received(&mut self, opts: &[u8]) -> Result<(), Error> {
        for o in options(opts) {
            let o = o?;
            let Some(i) = slot(o.kind) else { continue };
            if i == 0
                && matches!(self.side, Side::Client(_))
                && self.want[0].is_some_and(|a| a.is_unspecified())
            {
                // We have no address of our own and the server will not give one.
                self.fatal = Some(DownCause::NegotiationFailed {
                    protocol: super::frame::protocol::IPCP,
                    reason: "the server rejected the IP-Address option",
                });
            }
            self.want[i] = None;
        }
        Ok(())
    }
}

fn nak_has(nak: &[u8], kind: u8) -> bool {
    options(nak).any(|o| o.is_ok_and(|o| o.kind == kind))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCAL: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const PEER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 42);
    const DNS1: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 53);
    const DNS2: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 54);

    fn server() -> IpcpNegotiator {
        IpcpNegotiator::server(IpcpAssignment {
            primary_dns: Some(DNS1),
            secondary_dns: Some(DNS2),
            ..IpcpAssignment::new(LOCAL, PEER)
        })
    }

    fn opt(kind: u8, a: Ipv4Addr) -> Vec<u8> {
        let mut v = Vec::new();
        RawOption::emit(kind, &a.octets(), &mut v).unwrap();
        v
    }

    #[test]
    fn option_vectors() {
        let bytes = [0x03, 0x06, 10, 0, 0, 1];
        let raw = options(&bytes).next().unwrap().unwrap();
        assert_eq!(
            IpcpOption::parse(raw).unwrap(),
            IpcpOption::IpAddress(LOCAL)
        );
        let vj = [0x02, 0x06, 0x00, 0x2d, 0x0f, 0x01];
        let raw = options(&vj).next().unwrap().unwrap();
        let parsed = IpcpOption::parse(raw).unwrap();
        assert_eq!(
            parsed,
            IpcpOption::IpCompression {
                protocol: 0x2d,
                data: &[0x0f, 0x01]
            }
        );
        let mut out = Vec::new();
        parsed.emit(&mut out).unwrap();
        assert_eq!(out, vj);
        let dns = [0x81, 0x06, 192, 0, 2, 53];
        let raw = options(&dns).next().unwrap().unwrap();
        assert_eq!(
            IpcpOption::parse(raw).unwrap(),
            IpcpOption::PrimaryDns(DNS1)
        );
        let bad = [0x03, 0x05, 10, 0, 0];
        let raw = options(&bad).next().unwrap().unwrap();
        assert!(IpcpOption::parse(raw).is_err());
    }

    #[test]
    fn server_requests_its_address() {
        let mut s = server();
        assert_eq!(s.request(), opt(3, LOCAL));
    }

    #[test]
    fn server_naks_zero_and_wrong_addresses_with_the_assignment() {
        let mut s = server();
        let mut req = opt(3, Ipv4Addr::UNSPECIFIED);
        req.extend(opt(129, Ipv4Addr::UNSPECIFIED));
        req.extend(opt(131, Ipv4Addr::new(8, 8, 8, 8)));
        let mut expected = opt(3, PEER);
        expected.extend(opt(129, DNS1));
        expected.extend(opt(131, DNS2));
        assert_eq!(
            s.check_request(&req, false).unwrap(),
            Verdict::Nak(expected.clone())
        );
        assert_eq!(s.check_request(&expected, false).unwrap(), Verdict::Ack);
        assert_eq!(s.network().peer, Some(PEER));
    }

    #[test]
    fn server_appends_address_when_peer_omits_it() {
        let mut s = server();
        assert_eq!(
            s.check_request(&[], false).unwrap(),
            Verdict::Nak(opt(3, PEER))
        );
        assert_eq!(
            s.check_request(&[], true).unwrap(),
            Verdict::Ack,
            "not appended past Max-Failure"
        );
    }

    #[test]
    fn server_rejects_compression_unknown_and_unoffered_servers() {
        let mut s = IpcpNegotiator::server(IpcpAssignment::new(LOCAL, PEER));
        let mut req = vec![0x02, 0x06, 0x00, 0x2d, 0x0f, 0x01];
        req.extend(opt(3, PEER));
        req.extend(opt(129, Ipv4Addr::UNSPECIFIED));
        req.extend([0x01, 0x0a, 0, 0, 0, 0, 0, 0, 0, 0]);
        let mut expected = vec![0x02, 0x06, 0x00, 0x2d, 0x0f, 0x01];
        expected.extend(opt(129, Ipv4Addr::UNSPECIFIED));
        expected.extend([0x01, 0x0a, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(
            s.check_request(&req, false).unwrap(),
            Verdict::Reject(expected)
        );
    }

    #[test]
    fn client_asks_zero_and_adopts_naks() {
        let mut c = IpcpNegotiator::client(IpcpClientConfig::default());
        let mut expected = opt(3, Ipv4Addr::UNSPECIFIED);
        expected.extend(opt(129, Ipv4Addr::UNSPECIFIED));
        expected.extend(opt(131, Ipv4Addr::UNSPECIFIED));
        assert_eq!(c.request(), expected);
        let mut nak = opt(3, PEER);
        nak.extend(opt(129, DNS1));
        nak.extend(opt(131, DNS2));
        c.nak_received(&nak).unwrap();
        let req = c.request();
        assert_eq!(req, nak);
        c.ack_received(&req);
        assert_eq!(
            c.check_request(&opt(3, LOCAL), false).unwrap(),
            Verdict::Ack
        );
        assert_eq!(
            c.network(),
            NetworkInfo {
                local: PEER,
                peer: Some(LOCAL),
                primary_dns: Some(DNS1),
                secondary_dns: Some(DNS2)
            }
        );
    }

    #[test]
    fn client_rejects_zero_server_address_and_dns_requests() {
        let mut c = IpcpNegotiator::client(IpcpClientConfig::default());
        let mut req = opt(3, Ipv4Addr::UNSPECIFIED);
        req.extend(opt(129, Ipv4Addr::UNSPECIFIED));
        assert_eq!(
            c.check_request(&req, false).unwrap(),
            Verdict::Reject(req.clone())
        );
    }

    #[test]
    fn client_without_address_fails_on_reject() {
        let mut c = IpcpNegotiator::client(IpcpClientConfig::default());
        c.request();
        let mut rej = opt(129, Ipv4Addr::UNSPECIFIED);
        c.reject_received(&rej).unwrap();
        assert!(c.fatal.is_none());
        assert!(!c.request().windows(2).any(|w| w == [129, 6]));
        rej = opt(3, Ipv4Addr::UNSPECIFIED);
        c.reject_received(&rej).unwrap();
        assert!(c.fatal.is_some());
    }

    #[test]
    fn client_with_static_address_survives_reject() {
        let mut c = IpcpNegotiator::client(IpcpClientConfig {
            requested_address: Some(PEER),
            request_dns: false,
        });
        assert_eq!(c.request(), opt(3, PEER));
        c.ack_received(&opt(3, PEER));
        c.check_opened();
        assert!(c.fatal.is_none());
        assert_eq!(c.network().local, PEER);
    }
}

//! Shared helpers for the PPP engine tests (`ppp_engine`, `ppp_pair`, `ppp_fuzz`): a driven clock,
//! frame builders for a hand-written peer, and a decoder for what the link sends. Each of those
//! test binaries includes it with `mod ppp_support;`; its own self-check lives in `ppp_engine.rs`.
#![allow(dead_code)]

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use l2tpagg::ppp::packet::PacketRepr;
use l2tpagg::ppp::{
    AuthProtocol, ClientConfig, Event, IpcpAssignment, IpcpClientConfig, Link, LinkConfig,
    ServerConfig, frame::protocol,
};
use l2tpagg::runtime::clock::test_epoch;

pub const LCP: u16 = protocol::LCP;
pub const IPCP: u16 = protocol::IPCP;
pub const PAP: u16 = protocol::PAP;
pub const CHAP: u16 = protocol::CHAP;

pub const LOCAL: Ipv4Addr = Ipv4Addr::new(100, 64, 0, 1);
pub const PEER: Ipv4Addr = Ipv4Addr::new(100, 64, 0, 77);
pub const DNS1: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 53);
pub const DNS2: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 54);

/// LCP/IPCP codes.
pub const CONF_REQ: u8 = 1;
pub const CONF_ACK: u8 = 2;
pub const CONF_NAK: u8 = 3;
pub const CONF_REJ: u8 = 4;
pub const TERM_REQ: u8 = 5;
pub const TERM_ACK: u8 = 6;
pub const CODE_REJ: u8 = 7;
pub const PROTO_REJ: u8 = 8;
pub const ECHO_REQ: u8 = 9;
pub const ECHO_REP: u8 = 10;

/// One frame the link sent, decoded as a control packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub proto: u16,
    pub code: u8,
    pub id: u8,
    pub data: Vec<u8>,
}

impl Sent {
    pub fn decode(frame: &[u8]) -> Sent {
        assert!(frame.len() >= 2, "frame too short: {frame:?}");
        let proto = u16::from_be_bytes([frame[0], frame[1]]);
        let p = PacketRepr::parse(&frame[2..]).expect("the link sends well-formed control packets");
        Sent {
            proto,
            code: p.code,
            id: p.identifier,
            data: p.data.to_vec(),
        }
    }
}

/// A control frame: Protocol field then `Code | Identifier | Length | Data`.
pub fn frame(proto: u16, code: u8, id: u8, data: &[u8]) -> Vec<u8> {
    let mut f = proto.to_be_bytes().to_vec();
    f.extend(
        PacketRepr {
            code,
            identifier: id,
            data,
        }
        .to_vec(),
    );
    f
}

pub fn opt(kind: u8, data: &[u8]) -> Vec<u8> {
    let mut v = vec![kind, (data.len() + 2) as u8];
    v.extend_from_slice(data);
    v
}

pub fn addr_opt(kind: u8, a: Ipv4Addr) -> Vec<u8> {
    opt(kind, &a.octets())
}

pub fn magic_opt(m: u32) -> Vec<u8> {
    opt(5, &m.to_be_bytes())
}

pub fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

pub fn seed(n: u8) -> [u8; 32] {
    [n; 32]
}

pub fn server_cfg(protocols: Vec<AuthProtocol>) -> LinkConfig {
    LinkConfig::server(
        ServerConfig {
            auth_protocols: protocols,
            name: b"lns".to_vec(),
        },
        seed(1),
    )
}

pub fn client_cfg(name: &str, secret: &str) -> LinkConfig {
    LinkConfig::client(
        ClientConfig {
            name: name.as_bytes().to_vec(),
            secret: secret.as_bytes().to_vec(),
            allow_pap: true,
            allow_chap: true,
            ipcp: IpcpClientConfig::default(),
        },
        seed(2),
    )
}

pub fn assignment() -> IpcpAssignment {
    IpcpAssignment {
        primary_dns: Some(DNS1),
        secondary_dns: Some(DNS2),
        ..IpcpAssignment::new(LOCAL, PEER)
    }
}

/// A link driven by hand: a clock, and helpers to feed frames and collect output.
pub struct Driven {
    pub link: Link,
    pub now: Instant,
}

impl Driven {
    pub fn new(cfg: LinkConfig) -> Self {
        let now = test_epoch();
        Self {
            link: Link::new(now, cfg),
            now,
        }
    }

    pub fn feed(&mut self, frame: &[u8]) {
        self.link.handle_frame(self.now, frame);
    }

    /// Everything the link queued, decoded.
    pub fn sent(&mut self) -> Vec<Sent> {
        std::iter::from_fn(|| self.link.poll_transmit())
            .map(|f| Sent::decode(&f))
            .collect()
    }

    /// Everything the link queued, raw.
    pub fn sent_raw(&mut self) -> Vec<Vec<u8>> {
        std::iter::from_fn(|| self.link.poll_transmit()).collect()
    }

    pub fn events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.link.poll_event()).collect()
    }

    /// Advances the clock by `d`, running every timer due on the way in order.
    pub fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        while let Some(at) = self.link.poll_timeout() {
            if at > end {
                break;
            }
            self.now = self.now.max(at);
            self.link.handle_timeout(self.now);
        }
        self.now = end;
    }

    /// Advances to the next deadline and runs it; returns how long that was.
    pub fn step(&mut self) -> Option<Duration> {
        let at = self.link.poll_timeout()?;
        let waited = at.saturating_duration_since(self.now);
        self.now = self.now.max(at);
        self.link.handle_timeout(self.now);
        Some(waited)
    }
}

/// Two links wired back to back in memory with driven time.
pub struct Pair {
    pub a: Link,
    pub b: Link,
    pub now: Instant,
    /// Every frame that went from a to b and from b to a, in order.
    pub a_to_b: Vec<Vec<u8>>,
    pub b_to_a: Vec<Vec<u8>>,
}

impl Pair {
    pub fn new(a: Link, b: Link, now: Instant) -> Self {
        Self {
            a,
            b,
            now,
            a_to_b: Vec::new(),
            b_to_a: Vec::new(),
        }
    }

    /// Moves frames both ways until neither side has anything to send. Returns the frames moved.
    pub fn exchange(&mut self) -> usize {
        let mut moved = 0;
        loop {
            let mut progress = false;
            while let Some(f) = self.a.poll_transmit() {
                self.b.handle_frame(self.now, &f);
                self.a_to_b.push(f);
                progress = true;
                moved += 1;
            }
            while let Some(f) = self.b.poll_transmit() {
                self.a.handle_frame(self.now, &f);
                self.b_to_a.push(f);
                progress = true;
                moved += 1;
            }
            if !progress {
                return moved;
            }
        }
    }

    /// Runs the earliest timer of either side, then exchanges. Returns false when no timer is left.
    pub fn step_timer(&mut self) -> bool {
        let next = match (self.a.poll_timeout(), self.b.poll_timeout()) {
            (Some(x), Some(y)) => x.min(y),
            (Some(x), None) | (None, Some(x)) => x,
            (None, None) => return false,
        };
        self.now = self.now.max(next);
        self.a.handle_timeout(self.now);
        self.b.handle_timeout(self.now);
        self.exchange();
        true
    }
}

pub fn drain_events(link: &mut Link) -> Vec<Event> {
    std::iter::from_fn(|| link.poll_event()).collect()
}

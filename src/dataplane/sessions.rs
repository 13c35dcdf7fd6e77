//! The session maps and the per-packet forwarding of the data plane.
//!
//! Owns: the L2TP session maps (one per L2TP endpoint role, keyed by our tunnel ID and session ID),
//! the PPPoE session map (keyed by access interface and PPPoE session ID), the LNS address map
//! (keyed by the subscriber's IPv4 address, for packets read from the TUN device), the
//! [`L2tpPath`] and [`PppoePath`] every session leg sends through, and the per-packet functions the
//! socket tasks call ([`Dataplane::l2tp_ingress`], [`Dataplane::pppoe_ingress`],
//! [`Dataplane::tun_ingress`]). Must not touch: the
//! actor's tables or any protocol state machine; the actor inserts, replaces and removes entries,
//! the socket tasks only read them.
//!
//! # The forward path
//! A socket task receives a datagram into a buffer that leaves [`HEADROOM`] bytes free in front,
//! classifies it with [`crate::wire::data::classify`] and hands data messages to
//! [`Dataplane::l2tp_ingress`]: one map lookup, a peer-address check, atomic counter bumps, and
//! then either a relay (the new L2TP header is written in place in front of the untouched PPP frame,
//! so nothing is copied or allocated), a write of the IPv4 packet to the TUN device, or the answer
//! "give this frame to the actor" (sessions still negotiating, and PPP control frames of established
//! LNS sessions). Packets read from the TUN device go through [`Dataplane::tun_ingress`]: one lookup
//! by destination address and an in-place encapsulation. Entries are immutable: the actor replaces
//! a session's entry (sharing its counters) when the session changes state, so a packet never sees
//! half an update.
//!
//! # PPPoE
//! A PPPoE subscriber's frames arrive on the interface's Session-stage AF_PACKET socket and go
//! through [`Dataplane::pppoe_ingress`]: one lookup by (interface, PPPoE session ID), a check of the
//! subscriber's MAC, and then either "give it to the actor" (LCP and authentication at the LAC) or a
//! relay into the subscriber's L2TP session toward the LNS. PPPoE carries PPP without the HDLC
//! address and control octets (RFC 2516 §7: the PPP payload starts at the Protocol field) while L2TP
//! carries them (RFC 2661 §2 and §5.4: the frame is `FF 03` plus the PPP packet), so the relay
//! overwrites the PPPoE Length field with `FF 03` and writes the L2TP header in front of that; the
//! other way, [`PppoePath::send_in_place`] skips `FF 03` and writes the 6-octet PPPoE header over the
//! end of the L2TP header. Neither direction copies or allocates.
//!
//! # Directions
//! Counters are kept from the subscriber's point of view ([`Direction`]): on the LNS, frames from
//! the L2TP session are [`Direction::FromSubscriber`] and packets from the TUN are
//! [`Direction::ToSubscriber`]; on the LAC, the access leg (dial-in session) carries
//! `FromSubscriber` and the leg toward the LNS carries `ToSubscriber`.
//!
//! # Counting and classification
//! Every IPv4 packet (PPP protocol 0x0021, RFC 1332) a session carries is counted by its IPv4
//! Total Length and classified ([`classifier::count_shared`]: listed servers, application
//! services) against the service table the actor publishes ([`Dataplane::services`]); the table
//! is read only for sessions whose conditions watch something. Other network-layer protocols
//! (PPP protocol values below 0x8000, RFC 1661 §2: IPv6 and the like) are counted by payload
//! length alone. Control protocols (0x8000 and above: LCP, NCPs, authentication) are relayed but
//! not counted: an LCP Echo is not the subscriber's traffic and must not keep an idle session
//! alive.
//!
//! # Resume
//! A packet from the TUN device for an address no session holds is offered to the resume buffer
//! ([`Dataplane::resume`]): while the address is held after an automatic disconnect it is kept
//! for the subscriber's return (reported as [`Ingress::Forwarded`]), or dropped and counted as
//! [`DropKind::ResumeFull`] when the buffer's bounds are reached.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering::Relaxed};

use dashmap::DashMap;

use super::classifier::{self, Ipv4Summary, SharedServiceTable};
use super::counters::{CoarseClock, Direction, SessionCounters};
use super::resume::{Offer, SharedResumeBuffer};
use crate::ppp::frame::{HDLC_ADDRESS, HDLC_CONTROL};
use crate::pppoe::MacAddr;
use crate::wire::data::{DataHeaderOptions, header_len, write_header};

/// Bytes a socket task leaves free in front of every received datagram or TUN packet: the largest
/// L2TP data header we write (Length, Ns/Nr: 12 bytes) plus `FF 03 00 21` in front of an IPv4
/// packet, rounded up.
pub const HEADROOM: usize = 32;

/// Largest datagram or packet a socket task handles (a UDP payload cannot be larger).
pub const MAX_DATAGRAM: usize = 65_535;

/// The `FF 03 00 21` in front of an IPv4 packet carried over L2TP (RFC 2661 §2: HDLC address and
/// control, then the PPP Protocol field, RFC 1661 §2).
const IPV4_OVER_L2TP: [u8; 4] = [HDLC_ADDRESS, HDLC_CONTROL, 0x00, 0x21];

/// Where a datagram goes out: implemented by the runtime's UDP endpoint; tests use an in-memory
/// sink. Sends never wait: a full socket buffer is an error the caller counts.
pub trait DatagramSink: Send + Sync + 'static {
    /// Sends `payload` to `remote`, from `source` when given (a wildcard-bound socket must answer
    /// from the address the peer talks to). Fails with `WouldBlock` when the buffer is full.
    fn try_send_datagram(
        &self,
        payload: &[u8],
        remote: SocketAddr,
        source: Option<IpAddr>,
    ) -> io::Result<usize>;

    /// The address the socket is bound to.
    fn local_addr(&self) -> SocketAddr;
}

/// Where IP packets toward the network go: the LNS's TUN device (or a test sink).
pub trait PacketSink: Send + Sync + 'static {
    /// Writes one IPv4 packet; fails with `WouldBlock` when the device queue is full.
    fn try_send_packet(&self, packet: &[u8]) -> io::Result<usize>;
}

/// Where PPP frames of a subscriber go when the subscriber is not reached over L2TP (PPPoE, or a
/// library access in tests). Frames start at the Protocol field or at `FF 03`.
pub trait FrameSink: Send + Sync + 'static {
    /// Delivers one PPP frame; fails with `WouldBlock` when the receiver is full.
    fn try_send_frame(&self, frame: &[u8]) -> io::Result<()>;

    /// Delivers the PPP frame in `buf[frame]`, which a sink may frame in place: the bytes in front
    /// of `frame.start` (at least [`HEADROOM`] minus the consumed L2TP header) are the caller's
    /// scratch space. The default copies nothing either and hands the frame to
    /// [`Self::try_send_frame`].
    fn try_send_in_place(&self, buf: &mut [u8], frame: Range<usize>) -> io::Result<()> {
        self.try_send_frame(&buf[frame])
    }
}

/// Where Ethernet frames of one ethertype go out on one interface: implemented by the runtime's
/// AF_PACKET socket (the socket writes the 14-octet Ethernet header itself, with its ethertype).
/// Sends never wait.
pub trait EthernetSink: Send + Sync + 'static {
    /// Sends `payload` (everything after the Ethernet header) from `source` to `destination`.
    /// Fails with `WouldBlock` when the socket buffer is full.
    fn try_send_ethernet(
        &self,
        source: MacAddr,
        destination: MacAddr,
        payload: &[u8],
    ) -> io::Result<()>;
}

/// Octets of the PPPoE header (RFC 2516 §4: VER/TYPE, CODE, SESSION_ID, LENGTH).
pub const PPPOE_HEADER_LEN: usize = 6;

/// VER = 1 and TYPE = 1 in one octet (RFC 2516 §4: both "MUST be set to 0x1").
const PPPOE_VER_TYPE: u8 = 0x11;

/// One PPPoE session toward its subscriber: the interface's Session-stage socket, our MAC, the
/// subscriber's MAC and the session ID. Shared by the data plane (frames relayed from the LNS) and
/// the actor (LCP and authentication at the LAC).
pub struct PppoePath {
    sink: Arc<dyn EthernetSink>,
    local: MacAddr,
    peer: MacAddr,
    session_id: u16,
}

impl std::fmt::Debug for PppoePath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PppoePath")
            .field("local", &self.local)
            .field("peer", &self.peer)
            .field("session_id", &self.session_id)
            .finish()
    }
}

impl PppoePath {
    /// A path sending Session-stage frames of `session_id` through `sink` (the interface's 0x8864
    /// socket) from `local` to `peer`.
    pub fn new(
        sink: Arc<dyn EthernetSink>,
        local: MacAddr,
        peer: MacAddr,
        session_id: u16,
    ) -> Self {
        Self {
            sink,
            local,
            peer,
            session_id,
        }
    }

    /// The subscriber's MAC.
    pub fn peer(&self) -> MacAddr {
        self.peer
    }

    /// The PPPoE session ID.
    pub fn session_id(&self) -> u16 {
        self.session_id
    }

    /// Sends the PPP frame in `buf[frame]` (with or without `FF 03`, which PPPoE does not carry,
    /// RFC 2516 §7), writing the PPPoE header in place in front of its Protocol field.
    /// `frame.start` must leave [`PPPOE_HEADER_LEN`] octets of room. No allocation.
    pub fn send_in_place(&self, buf: &mut [u8], frame: Range<usize>) -> io::Result<usize> {
        let ppp = if buf[frame.clone()].starts_with(&[HDLC_ADDRESS, HDLC_CONTROL]) {
            frame.start + 2..frame.end
        } else {
            frame
        };
        let Some(start) = ppp.start.checked_sub(PPPOE_HEADER_LEN) else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "no headroom for the PPPoE header",
            ));
        };
        let len = u16::try_from(ppp.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "PPP frame too long"))?;
        let header = &mut buf[start..ppp.start];
        header[0] = PPPOE_VER_TYPE;
        // RFC 2516 §6: "The CODE field is set to 0x00" for session data.
        header[1] = 0;
        header[2..4].copy_from_slice(&self.session_id.to_be_bytes());
        header[4..6].copy_from_slice(&len.to_be_bytes());
        self.sink
            .try_send_ethernet(self.local, self.peer, &buf[start..ppp.end])?;
        Ok(ppp.end - start)
    }

    /// Sends one PPP frame (control traffic from the actor). Allocates one buffer; the actor's
    /// frames are few.
    pub fn send_frame(&self, frame: &[u8]) -> io::Result<usize> {
        let mut buf = vec![0u8; PPPOE_HEADER_LEN + frame.len()];
        buf[PPPOE_HEADER_LEN..].copy_from_slice(frame);
        self.send_in_place(&mut buf, PPPOE_HEADER_LEN..PPPOE_HEADER_LEN + frame.len())
    }
}

impl FrameSink for PppoePath {
    fn try_send_frame(&self, frame: &[u8]) -> io::Result<()> {
        self.send_frame(frame).map(drop)
    }

    fn try_send_in_place(&self, buf: &mut [u8], frame: Range<usize>) -> io::Result<()> {
        self.send_in_place(buf, frame).map(drop)
    }
}

/// One direction of one L2TP session: the socket, the peer's address and its IDs. Shared by the
/// data plane (relays, TUN traffic) and the actor (PPP control frames), so both number data
/// messages from the same counter when the peer asked for sequencing (RFC 2661 §5.4).
pub struct L2tpPath {
    sink: Arc<dyn DatagramSink>,
    source: Option<IpAddr>,
    remote: SocketAddr,
    peer_tunnel_id: u16,
    peer_session_id: u16,
    sequencing: bool,
    next_ns: AtomicU16,
}

impl std::fmt::Debug for L2tpPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("L2tpPath")
            .field("local", &self.sink.local_addr())
            .field("source", &self.source)
            .field("remote", &self.remote)
            .field("peer_tunnel_id", &self.peer_tunnel_id)
            .field("peer_session_id", &self.peer_session_id)
            .field("sequencing", &self.sequencing)
            .finish()
    }
}

impl L2tpPath {
    /// A path sending through `sink` (from `source` if the socket is bound to a wildcard address)
    /// to `remote`, with the peer's tunnel and session IDs in every header. `sequencing`: the peer
    /// required sequence numbers on data messages (RFC 2661 §5.4, Sequencing Required AVP).
    pub fn new(
        sink: Arc<dyn DatagramSink>,
        source: Option<IpAddr>,
        remote: SocketAddr,
        peer_tunnel_id: u16,
        peer_session_id: u16,
        sequencing: bool,
    ) -> Self {
        Self {
            sink,
            source,
            remote,
            peer_tunnel_id,
            peer_session_id,
            sequencing,
            next_ns: AtomicU16::new(0),
        }
    }

    /// The peer's address.
    pub fn remote(&self) -> SocketAddr {
        self.remote
    }

    /// The peer's tunnel ID.
    pub fn peer_tunnel_id(&self) -> u16 {
        self.peer_tunnel_id
    }

    /// The peer's session ID.
    pub fn peer_session_id(&self) -> u16 {
        self.peer_session_id
    }

    fn options(&self) -> DataHeaderOptions {
        DataHeaderOptions {
            with_length: false,
            // RFC 2661 §5.4: "Ns ... incremented by one for each data message sent" when the peer
            // requires sequencing; without it, no sequence numbers (§5.4: MAY be omitted).
            ns: self.sequencing.then(|| self.next_ns.fetch_add(1, Relaxed)),
            priority: false,
        }
    }

    /// Sends the PPP frame in `buf[frame]`, writing the data header in place right in front of it.
    /// `frame.start` must leave room for the header ([`HEADROOM`] always does). No allocation.
    pub fn send_in_place(&self, buf: &mut [u8], frame: Range<usize>) -> io::Result<usize> {
        let opts = self.options();
        let hlen = header_len(opts);
        let Some(start) = frame.start.checked_sub(hlen) else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "no headroom for the L2TP header",
            ));
        };
        let len = frame.len();
        write_header(
            &mut buf[start..frame.start],
            self.peer_tunnel_id,
            self.peer_session_id,
            len,
            opts,
        )
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        self.sink
            .try_send_datagram(&buf[start..frame.end], self.remote, self.source)
    }

    /// Sends one PPP frame (control traffic from the actor). Allocates one buffer; the actor's
    /// frames are few.
    pub fn send_frame(&self, frame: &[u8]) -> io::Result<usize> {
        let mut buf = vec![0u8; HEADROOM + frame.len()];
        buf[HEADROOM..].copy_from_slice(frame);
        self.send_in_place(&mut buf, HEADROOM..HEADROOM + frame.len())
    }
}

/// What the data plane does with a frame arriving on a session leg.
#[derive(Clone)]
pub enum Action {
    /// The session is still negotiating (or the subscriber's PPP is being proxied): every frame
    /// goes to the actor.
    Actor,
    /// Relay the frame untouched to another L2TP leg (LAC: dial-in session to LNS session and
    /// back).
    Relay(Arc<L2tpPath>),
    /// Relay the frame to a non-L2TP access (PPPoE: [`PppoePath`]), which frames it in place.
    Deliver(Arc<dyn FrameSink>),
    /// LNS termination: IPv4 whose source is `address` goes to the TUN device; other protocols go
    /// to the actor; IPv4 from any other source is dropped (anti-spoofing).
    Terminate {
        /// The address IPCP assigned to the subscriber.
        address: Ipv4Addr,
    },
}

impl std::fmt::Debug for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Action::Actor => f.write_str("Actor"),
            Action::Relay(p) => f.debug_tuple("Relay").field(p).finish(),
            Action::Deliver(_) => f.write_str("Deliver"),
            Action::Terminate { address } => f
                .debug_struct("Terminate")
                .field("address", address)
                .finish(),
        }
    }
}

/// One session leg in an L2TP session map.
#[derive(Debug)]
pub struct SessionEntry {
    /// The only address data for this leg may come from (the tunnel's peer, RFC 2661 §8.1 keeps it
    /// fixed once the tunnel is up).
    pub peer: SocketAddr,
    /// The session's counters, shared by its legs and read by the actor.
    pub counters: Arc<SessionCounters>,
    /// The direction, seen from the subscriber, of traffic arriving on this leg.
    pub inbound: Direction,
    /// What to do with its frames.
    pub action: Action,
}

/// An LNS subscriber address reachable through the TUN device.
#[derive(Debug)]
pub struct TunRoute {
    /// The L2TP session toward the subscriber.
    pub path: Arc<L2tpPath>,
    /// Its counters.
    pub counters: Arc<SessionCounters>,
}

/// One PPPoE session in the PPPoE session map: the frames of its subscriber.
#[derive(Debug)]
pub struct PppoeEntry {
    /// The only MAC its frames may come from (RFC 2516 §4: the session is the session ID together
    /// with both Ethernet addresses).
    pub peer: MacAddr,
    /// The session's counters, shared with its L2TP leg toward the LNS and read by the actor.
    pub counters: Arc<SessionCounters>,
    /// [`Action::Actor`] while the LAC negotiates, [`Action::Relay`] once the L2TP session toward
    /// the LNS is up. Other actions are not used for PPPoE and send the frame to the actor.
    pub action: Action,
}

/// Packs (access interface index, PPPoE session ID) into one map key. The index is the
/// interface's position in `lac.pppoe.interfaces`.
#[inline]
pub fn pppoe_key(port: u16, session_id: u16) -> u32 {
    (u32::from(port) << 16) | u32::from(session_id)
}

/// The PPPoE sessions of every access interface, keyed by [`pppoe_key`].
pub type PppoeSessionMap = DashMap<u32, Arc<PppoeEntry>>;

/// Why the data plane dropped a Session-stage PPPoE frame. Counted per kind apart from
/// [`DropKind`] (whose kinds are L2TP's and the TUN device's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PppoeDropKind {
    /// The PPPoE header is short, has a VER/TYPE other than 1/1 or a CODE other than 0, its Length
    /// runs past the frame, or it carries less than a Protocol field.
    Malformed,
    /// A session ID no session on this interface has.
    UnknownSession,
    /// A known session ID from a MAC that is not its subscriber's.
    WrongPeer,
}

impl PppoeDropKind {
    /// Every kind, in counter order.
    pub const ALL: [PppoeDropKind; 3] = [
        PppoeDropKind::Malformed,
        PppoeDropKind::UnknownSession,
        PppoeDropKind::WrongPeer,
    ];

    /// The counter name shown by `ctl status` and used as the rate-limited log kind.
    pub fn kind(self) -> &'static str {
        match self {
            PppoeDropKind::Malformed => "data.pppoe_malformed_session_frame",
            PppoeDropKind::UnknownSession => "data.pppoe_unknown_session",
            PppoeDropKind::WrongPeer => "data.pppoe_wrong_peer_mac",
        }
    }
}

/// What [`Dataplane::pppoe_ingress`] did with a Session-stage frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PppoeIngress {
    /// Relayed toward the LNS.
    Forwarded,
    /// Give the whole frame to the actor (its access concentrator and the subscriber's PPP link):
    /// the session is still negotiating at the LAC.
    ToActor,
    /// No such session on this interface (counted). The caller may let the actor's access
    /// concentrator answer it with a PADT, at a bounded rate.
    UnknownSession {
        /// The session ID the frame carried.
        session_id: u16,
    },
    /// An LCP Terminate-Ack for a session that is gone: the subscriber acknowledging the
    /// Terminate-Request that preceded our PADT. Expected, so neither counted nor answered.
    LateTerminateAck,
    /// A send failed (counted in [`DropKind`]).
    Dropped(DropKind),
    /// Dropped and counted.
    PppoeDropped(PppoeDropKind),
}

/// Packs (tunnel ID, session ID) into one map key.
#[inline]
pub fn session_key(tunnel: u16, session: u16) -> u32 {
    (u32::from(tunnel) << 16) | u32::from(session)
}

/// The session legs of one L2TP endpoint, keyed by [`session_key`] of our IDs.
pub type L2tpSessionMap = DashMap<u32, Arc<SessionEntry>>;

/// Why the data plane dropped a packet. Counted per kind; the socket task logs them rate-limited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropKind {
    /// A data message for a (tunnel, session) the map does not hold.
    UnknownSession,
    /// A data message for a known session from an address that is not the tunnel's peer.
    WrongPeer,
    /// An LNS subscriber sent IPv4 from an address that is not its own.
    SpoofedSource,
    /// An IPv4 packet that does not parse.
    MalformedIpv4,
    /// A PPP frame whose Protocol field is unreadable.
    MalformedPpp,
    /// No TUN device (missing privilege): IP cannot leave the LNS.
    NoTun,
    /// A packet from the TUN device for an address no session holds.
    NoRoute,
    /// A packet from the TUN device that is not IPv4 (the kernel's own IPv6 chatter).
    TunNotIpv4,
    /// A packet for a subscriber away after an automatic disconnect, beyond the resume buffer's
    /// bounds.
    ResumeFull,
    /// The socket's or device's buffer was full.
    BufferFull,
    /// The send failed for another reason.
    SendFailed,
}

impl DropKind {
    /// Every kind, in counter order.
    pub const ALL: [DropKind; 11] = [
        DropKind::UnknownSession,
        DropKind::WrongPeer,
        DropKind::SpoofedSource,
        DropKind::MalformedIpv4,
        DropKind::MalformedPpp,
        DropKind::NoTun,
        DropKind::NoRoute,
        DropKind::TunNotIpv4,
        DropKind::ResumeFull,
        DropKind::BufferFull,
        DropKind::SendFailed,
    ];

    /// The counter name shown by `ctl status` and used as the rate-limited log kind.
    pub fn kind(self) -> &'static str {
        match self {
            DropKind::UnknownSession => "data.unknown_session",
            DropKind::WrongPeer => "data.wrong_peer_address",
            DropKind::SpoofedSource => "data.spoofed_source",
            DropKind::MalformedIpv4 => "data.malformed_ipv4",
            DropKind::MalformedPpp => "data.malformed_ppp",
            DropKind::NoTun => "data.no_tun_device",
            DropKind::NoRoute => "data.no_route",
            DropKind::TunNotIpv4 => "data.tun_not_ipv4",
            DropKind::ResumeFull => "data.resume_buffer_full",
            DropKind::BufferFull => "data.send_buffer_full",
            DropKind::SendFailed => "data.send_failed",
        }
    }
}

/// What [`Dataplane::l2tp_ingress`] did with a data message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ingress {
    /// Forwarded (relayed or written to the TUN device), or, from the TUN device, kept in the
    /// resume buffer for a subscriber away after an automatic disconnect.
    Forwarded,
    /// Give `buf[frame]` to the actor: a frame of session (tunnel, session) that the data plane
    /// does not forward itself.
    ToActor {
        /// Our tunnel ID.
        tunnel: u16,
        /// Our session ID.
        session: u16,
        /// The PPP frame inside the buffer.
        frame: Range<usize>,
    },
    /// Dropped and counted.
    Dropped(DropKind),
}

/// Forwarding counters: packets forwarded, and drops per [`DropKind`] and [`PppoeDropKind`].
#[derive(Debug, Default)]
pub struct DataplaneStats {
    forwarded: AtomicU64,
    drops: [AtomicU64; DropKind::ALL.len()],
    pppoe_drops: [AtomicU64; PppoeDropKind::ALL.len()],
}

impl DataplaneStats {
    fn drop(&self, why: DropKind) -> DropKind {
        self.drops[why as usize].fetch_add(1, Relaxed);
        why
    }

    /// Packets forwarded without the actor.
    pub fn forwarded(&self) -> u64 {
        self.forwarded.load(Relaxed)
    }

    /// Drops of one kind.
    pub fn dropped(&self, why: DropKind) -> u64 {
        self.drops[why as usize].load(Relaxed)
    }

    /// Every non-zero drop counter with its name.
    pub fn drops(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        DropKind::ALL
            .into_iter()
            .map(|d| (d.kind(), self.dropped(d)))
            .chain(
                PppoeDropKind::ALL
                    .into_iter()
                    .map(|d| (d.kind(), self.pppoe_dropped(d))),
            )
            .filter(|(_, n)| *n > 0)
    }

    fn pppoe_drop(&self, why: PppoeDropKind) -> PppoeDropKind {
        self.pppoe_drops[why as usize].fetch_add(1, Relaxed);
        why
    }

    /// PPPoE drops of one kind.
    pub fn pppoe_dropped(&self, why: PppoeDropKind) -> u64 {
        self.pppoe_drops[why as usize].load(Relaxed)
    }
}

/// The data plane: every session map, the TUN device and the coarse clock. One per daemon, shared
/// (`Arc`) by the socket tasks, the TUN task and the actor.
pub struct Dataplane {
    /// Sessions of the LNS endpoint (tunnels from LACs).
    pub lns: L2tpSessionMap,
    /// Sessions of the LAC endpoint (our tunnels toward LNS peers).
    pub lac: L2tpSessionMap,
    /// Sessions of the dial-in front-end (tunnels from subscribers' LACs).
    pub dialin: L2tpSessionMap,
    /// Sessions of the PPPoE front-end, keyed by [`pppoe_key`].
    pub pppoe: PppoeSessionMap,
    /// LNS subscriber addresses.
    pub routes: DashMap<Ipv4Addr, Arc<TunRoute>>,
    tun: std::sync::OnceLock<Arc<dyn PacketSink>>,
    clock: Arc<CoarseClock>,
    services: Arc<SharedServiceTable>,
    resume: SharedResumeBuffer,
    stats: DataplaneStats,
}

impl std::fmt::Debug for Dataplane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dataplane")
            .field("lns", &self.lns.len())
            .field("lac", &self.lac.len())
            .field("dialin", &self.dialin.len())
            .field("pppoe", &self.pppoe.len())
            .field("routes", &self.routes.len())
            .field("tun", &self.tun.get().is_some())
            .finish()
    }
}

impl Dataplane {
    /// An empty data plane stamping activity from `clock`.
    pub fn new(clock: Arc<CoarseClock>) -> Self {
        Self {
            lns: DashMap::new(),
            lac: DashMap::new(),
            dialin: DashMap::new(),
            pppoe: DashMap::new(),
            routes: DashMap::new(),
            tun: std::sync::OnceLock::new(),
            clock,
            services: SharedServiceTable::new(classifier::ServiceTable::empty()),
            resume: SharedResumeBuffer::new(),
            stats: DataplaneStats::default(),
        }
    }

    /// The application-service table the forward paths classify against; the actor publishes a
    /// new one at start and on reload.
    pub fn services(&self) -> &Arc<SharedServiceTable> {
        &self.services
    }

    /// Packets held for subscribers away after an automatic disconnect (LNS); the actor holds,
    /// resumes and expires, the TUN path offers.
    pub fn resume(&self) -> &SharedResumeBuffer {
        &self.resume
    }

    /// Attaches the TUN device (once; later calls are ignored and return false).
    pub fn set_tun(&self, tun: Arc<dyn PacketSink>) -> bool {
        self.tun.set(tun).is_ok()
    }

    /// Whether a TUN device is attached.
    pub fn has_tun(&self) -> bool {
        self.tun.get().is_some()
    }

    /// The forwarding counters.
    pub fn stats(&self) -> &DataplaneStats {
        &self.stats
    }

    /// The coarse clock activity stamps come from.
    pub fn clock(&self) -> &Arc<CoarseClock> {
        &self.clock
    }

    fn sent(&self, r: io::Result<usize>) -> Ingress {
        match r {
            Ok(_) => {
                self.stats.forwarded.fetch_add(1, Relaxed);
                Ingress::Forwarded
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                Ingress::Dropped(self.stats.drop(DropKind::BufferFull))
            }
            Err(_) => Ingress::Dropped(self.stats.drop(DropKind::SendFailed)),
        }
    }

    /// Counts a drop decided by the caller (e.g. an unreadable TUN packet) and returns it.
    pub fn count_drop(&self, why: DropKind) -> DropKind {
        self.stats.drop(why)
    }

    /// Handles one L2TP data message of `map`: the whole datagram is `buf[..]`, its PPP frame
    /// `buf[frame]` (from [`crate::wire::data::classify`]); `frame.start` must be at least
    /// [`HEADROOM`] so a relay can write its header in place. `remote` is the sender.
    pub fn l2tp_ingress(
        &self,
        map: &L2tpSessionMap,
        tunnel: u16,
        session: u16,
        remote: SocketAddr,
        buf: &mut [u8],
        frame: Range<usize>,
    ) -> Ingress {
        let Some(entry) = map.get(&session_key(tunnel, session)) else {
            return Ingress::Dropped(self.stats.drop(DropKind::UnknownSession));
        };
        if entry.peer != remote {
            return Ingress::Dropped(self.stats.drop(DropKind::WrongPeer));
        }
        match &entry.action {
            Action::Actor => Ingress::ToActor {
                tunnel,
                session,
                frame,
            },
            Action::Relay(path) => {
                self.count_frame(&entry.counters, entry.inbound, &buf[frame.clone()]);
                let r = path.send_in_place(buf, frame);
                self.sent(r)
            }
            Action::Deliver(sink) => {
                self.count_frame(&entry.counters, entry.inbound, &buf[frame.clone()]);
                let len = frame.len();
                let r = sink.try_send_in_place(buf, frame).map(|()| len);
                self.sent(r)
            }
            Action::Terminate { address } => {
                let Some(ip) = ipv4_payload(&buf[frame.clone()]) else {
                    // Control protocols (LCP echo, IPCP renegotiation) and anything the engine
                    // must Protocol-Reject go to the actor.
                    return Ingress::ToActor {
                        tunnel,
                        session,
                        frame,
                    };
                };
                let ip = frame.start + ip.start..frame.start + ip.end;
                self.terminate_ipv4(*address, &entry.counters, &buf[ip])
            }
        }
    }

    /// Handles one Session-stage PPPoE frame received on access interface `port` from `source`:
    /// the PPPoE packet (header and payload, Ethernet padding included) is `buf[packet]`, and
    /// `packet.start` must be at least [`HEADROOM`] so a relay can write the L2TP header in place.
    /// One lookup, a MAC check, then the relay toward the LNS (adding `FF 03`) or the answer
    /// "give it to the actor".
    pub fn pppoe_ingress(
        &self,
        port: u16,
        source: MacAddr,
        buf: &mut [u8],
        packet: Range<usize>,
    ) -> PppoeIngress {
        let header = match buf.get(packet.clone()) {
            Some(p) if p.len() >= PPPOE_HEADER_LEN => &p[..PPPOE_HEADER_LEN],
            _ => {
                return PppoeIngress::PppoeDropped(self.stats.pppoe_drop(PppoeDropKind::Malformed));
            }
        };
        let session_id = u16::from_be_bytes([header[2], header[3]]);
        let length = usize::from(u16::from_be_bytes([header[4], header[5]]));
        let ppp_start = packet.start + PPPOE_HEADER_LEN;
        // RFC 2516 §4: VER and TYPE "MUST be set to 0x1"; §6: session data has CODE 0x00. The
        // Length (the PPP payload) may be shorter than the frame (Ethernet pads to 46 octets), not
        // longer, and must hold at least a Protocol field.
        if header[0] != PPPOE_VER_TYPE
            || header[1] != 0
            || length < 2
            || length > packet.len() - PPPOE_HEADER_LEN
        {
            return PppoeIngress::PppoeDropped(self.stats.pppoe_drop(PppoeDropKind::Malformed));
        }
        let ppp = ppp_start..ppp_start + length;
        let Some(entry) = self.pppoe.get(&pppoe_key(port, session_id)) else {
            // RFC 1661 §5.6: the Terminate-Ack answering the Terminate-Request we sent right
            // before our PADT.
            if buf[ppp.clone()].starts_with(&[0xc0, 0x21, 0x06]) {
                return PppoeIngress::LateTerminateAck;
            }
            self.stats.pppoe_drop(PppoeDropKind::UnknownSession);
            return PppoeIngress::UnknownSession { session_id };
        };
        if entry.peer != source {
            return PppoeIngress::PppoeDropped(self.stats.pppoe_drop(PppoeDropKind::WrongPeer));
        }
        match &entry.action {
            Action::Relay(path) => {
                // The Length field is consumed: `FF 03` goes in its place, right before the
                // Protocol field (RFC 2661 §2 carries the HDLC address and control octets).
                let frame = ppp.start - 2..ppp.end;
                buf[frame.start] = HDLC_ADDRESS;
                buf[frame.start + 1] = HDLC_CONTROL;
                self.count_frame(
                    &entry.counters,
                    Direction::FromSubscriber,
                    &buf[frame.clone()],
                );
                let r = path.send_in_place(buf, frame);
                match self.sent(r) {
                    Ingress::Dropped(why) => PppoeIngress::Dropped(why),
                    _ => PppoeIngress::Forwarded,
                }
            }
            Action::Actor | Action::Deliver(_) | Action::Terminate { .. } => PppoeIngress::ToActor,
        }
    }

    /// Sends an IPv4 packet of an LNS subscriber whose address is `address` to the TUN device,
    /// after checking that it comes from that address (anti-spoofing). Used per packet by
    /// [`Self::l2tp_ingress`] and by the actor for the rare IPv4 frame that reaches it while a
    /// session switches to forwarding.
    pub fn terminate_ipv4(
        &self,
        address: Ipv4Addr,
        counters: &SessionCounters,
        packet: &[u8],
    ) -> Ingress {
        let summary = match Ipv4Summary::parse(packet) {
            Ok(s) => s,
            Err(_) => return Ingress::Dropped(self.stats.drop(DropKind::MalformedIpv4)),
        };
        if summary.source != address {
            return Ingress::Dropped(self.stats.drop(DropKind::SpoofedSource));
        }
        let Some(tun) = self.tun.get() else {
            return Ingress::Dropped(self.stats.drop(DropKind::NoTun));
        };
        classifier::count_shared(
            &self.services,
            counters,
            Direction::FromSubscriber,
            &summary,
            self.clock.now(),
        );
        // Link padding past the Total Length stays behind.
        let r = tun.try_send_packet(&packet[..usize::from(summary.total_len)]);
        self.sent(r)
    }

    /// Counts one relayed PPP frame (see the module docs): IPv4 classified, other network-layer
    /// protocols by length, control protocols not at all.
    #[inline]
    fn count_frame(&self, counters: &SessionCounters, direction: Direction, frame: &[u8]) {
        let Some((protocol, payload)) = ppp_protocol(frame) else {
            return;
        };
        let stamp = self.clock.now();
        let payload = frame.get(payload..).unwrap_or_default();
        if protocol == PPP_IPV4
            && let Ok(ip) = Ipv4Summary::parse(payload)
        {
            classifier::count_shared(&self.services, counters, direction, &ip, stamp);
        } else if protocol < PPP_CONTROL {
            counters.record(direction, payload.len() as u64, stamp);
        }
    }

    /// Handles one IPv4 packet read from the TUN device at `buf[packet]`; `packet.start` must be
    /// at least [`HEADROOM`]. Looks the destination up and sends it to the subscriber's session.
    pub fn tun_ingress(&self, buf: &mut [u8], packet: Range<usize>) -> Ingress {
        if buf.get(packet.start).is_some_and(|b| b >> 4 != 4) {
            return Ingress::Dropped(self.stats.drop(DropKind::TunNotIpv4));
        }
        let summary = match Ipv4Summary::parse(&buf[packet.clone()]) {
            Ok(s) => s,
            Err(_) => return Ingress::Dropped(self.stats.drop(DropKind::MalformedIpv4)),
        };
        let Some(route) = self.routes.get(&summary.destination) else {
            return self.tun_unrouted(summary.destination, &buf[packet]);
        };
        let stamp = self.clock.now();
        classifier::count_shared(
            &self.services,
            &route.counters,
            Direction::ToSubscriber,
            &summary,
            stamp,
        );
        let start = packet.start - IPV4_OVER_L2TP.len();
        let end = packet.start + usize::from(summary.total_len);
        buf[start..packet.start].copy_from_slice(&IPV4_OVER_L2TP);
        let r = route.path.send_in_place(buf, start..end);
        self.sent(r)
    }

    /// A TUN packet for an address without a session: kept if the address is held for a
    /// subscriber's return, else dropped as unroutable.
    #[cold]
    fn tun_unrouted(&self, destination: Ipv4Addr, packet: &[u8]) -> Ingress {
        let now = self.clock.base().instant(self.clock.now());
        match self.resume.offer(now, destination, packet) {
            Offer::Buffered => Ingress::Forwarded,
            Offer::Dropped(_) => Ingress::Dropped(self.stats.drop(DropKind::ResumeFull)),
            Offer::NotHeld => Ingress::Dropped(self.stats.drop(DropKind::NoRoute)),
        }
    }
}

/// The IPv4 packet inside a PPP frame (with or without `FF 03`, with a one- or two-octet Protocol
/// field), as a range of the frame; `None` for any other protocol or an unreadable frame.
#[inline]
fn ipv4_payload(frame: &[u8]) -> Option<Range<usize>> {
    let at = if frame.starts_with(&[HDLC_ADDRESS, HDLC_CONTROL]) {
        2
    } else {
        0
    };
    match frame.get(at..)? {
        // RFC 1661 §6.5: a compressed Protocol field is the single odd octet 0x21.
        [0x21, ..] => Some(at + 1..frame.len()),
        [0x00, 0x21, ..] => Some(at + 2..frame.len()),
        _ => None,
    }
}

/// PPP protocol number of IPv4 (RFC 1332 §2).
const PPP_IPV4: u16 = 0x0021;
/// Protocol values from here up are control protocols (RFC 1661 §2: "8***" to "b***" NCPs, "c***"
/// to "f***" link-layer control).
const PPP_CONTROL: u16 = 0x8000;

/// The Protocol field of a PPP frame (with or without `FF 03`, compressed or not, RFC 1661 §6.5)
/// and where its payload starts; `None` for a frame too short to have one.
#[inline]
fn ppp_protocol(frame: &[u8]) -> Option<(u16, usize)> {
    let at = if frame.starts_with(&[HDLC_ADDRESS, HDLC_CONTROL]) {
        2
    } else {
        0
    };
    let first = *frame.get(at)?;
    // RFC 1661 §2: the least significant bit of the most significant octet is 0, so an odd first
    // octet is a compressed (one-octet) field.
    if first & 1 == 1 {
        return Some((u16::from(first), at + 1));
    }
    let second = *frame.get(at + 1)?;
    Some((u16::from_be_bytes([first, second]), at + 2))
}

/// Whether a PPP frame carries IPv4 (with or without `FF 03`, compressed Protocol field or not).
pub fn is_ipv4_frame(frame: &[u8]) -> bool {
    ipv4_payload(frame).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::data::{Kind, classify};
    use std::sync::Mutex;

    type Sent = (Vec<u8>, SocketAddr, Option<IpAddr>);

    #[derive(Default)]
    struct Capture {
        sent: Mutex<Vec<Sent>>,
        full: std::sync::atomic::AtomicBool,
    }

    impl DatagramSink for Capture {
        fn try_send_datagram(
            &self,
            payload: &[u8],
            remote: SocketAddr,
            source: Option<IpAddr>,
        ) -> io::Result<usize> {
            if self.full.load(Relaxed) {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            self.sent
                .lock()
                .unwrap()
                .push((payload.to_vec(), remote, source));
            Ok(payload.len())
        }
        fn local_addr(&self) -> SocketAddr {
            "127.0.0.1:1701".parse().unwrap()
        }
    }

    #[derive(Default)]
    struct Tun(Mutex<Vec<Vec<u8>>>);
    impl PacketSink for Tun {
        fn try_send_packet(&self, packet: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().push(packet.to_vec());
            Ok(packet.len())
        }
    }

    fn ipv4(src: Ipv4Addr, dst: Ipv4Addr) -> Vec<u8> {
        let mut p = vec![0u8; 28];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&28u16.to_be_bytes());
        p[8] = 64;
        p[9] = 17;
        p[12..16].copy_from_slice(&src.octets());
        p[16..20].copy_from_slice(&dst.octets());
        p
    }

    fn datagram(tunnel: u16, session: u16, frame: &[u8]) -> (Vec<u8>, Range<usize>) {
        let mut buf = vec![0u8; HEADROOM];
        buf.extend_from_slice(&[0x00, 0x02]);
        buf.extend_from_slice(&tunnel.to_be_bytes());
        buf.extend_from_slice(&session.to_be_bytes());
        buf.extend_from_slice(frame);
        let Kind::Data { payload, .. } = classify(&buf[HEADROOM..]).unwrap() else {
            panic!("data")
        };
        (buf, HEADROOM + payload.start..HEADROOM + payload.end)
    }

    const PEER: &str = "192.0.2.1:1701";
    const SUB: Ipv4Addr = Ipv4Addr::new(100, 64, 1, 2);
    const SERVER: Ipv4Addr = Ipv4Addr::new(10, 2, 0, 2);

    fn plane() -> (Dataplane, Arc<Capture>, Arc<Tun>) {
        let clock = Arc::new(CoarseClock::new(crate::runtime::clock::test_epoch()));
        let dp = Dataplane::new(clock);
        let tun = Arc::new(Tun::default());
        assert!(dp.set_tun(tun.clone()));
        (dp, Arc::new(Capture::default()), tun)
    }

    #[test]
    fn relay_rewrites_ids_in_place_and_keeps_the_frame() {
        let (dp, sink, _) = plane();
        let counters = Arc::new(SessionCounters::new());
        let path = Arc::new(L2tpPath::new(
            sink.clone(),
            None,
            "198.51.100.9:1701".parse().unwrap(),
            0x1111,
            0x2222,
            false,
        ));
        dp.dialin.insert(
            session_key(5, 6),
            Arc::new(SessionEntry {
                peer: PEER.parse().unwrap(),
                counters: counters.clone(),
                inbound: Direction::FromSubscriber,
                action: Action::Relay(path),
            }),
        );
        let frame = [0xff, 0x03, 0xc0, 0x21, 0x09, 0x01, 0x00, 0x08, 1, 2, 3, 4];
        let (mut buf, range) = datagram(5, 6, &frame);
        let out = dp.l2tp_ingress(&dp.dialin, 5, 6, PEER.parse().unwrap(), &mut buf, range);
        assert_eq!(out, Ingress::Forwarded);
        let sent = sink.sent.lock().unwrap();
        assert_eq!(sent.len(), 1);
        let (bytes, remote, _) = &sent[0];
        assert_eq!(*remote, "198.51.100.9:1701".parse().unwrap());
        assert_eq!(&bytes[..6], &[0x00, 0x02, 0x11, 0x11, 0x22, 0x22]);
        assert_eq!(&bytes[6..], &frame);
        drop(sent);
        assert_eq!(
            counters.packets(Direction::FromSubscriber, false),
            0,
            "LCP is relayed but is not the subscriber's traffic"
        );
        // IPv4 is counted by its Total Length; IPv6 (0x0057) by its payload length.
        let mut ip_frame = vec![0xff, 0x03, 0x00, 0x21];
        ip_frame.extend_from_slice(&ipv4(SUB, SERVER));
        let (mut buf, range) = datagram(5, 6, &ip_frame);
        dp.l2tp_ingress(&dp.dialin, 5, 6, PEER.parse().unwrap(), &mut buf, range);
        let (mut buf, range) = datagram(5, 6, &[0x00, 0x57, 0x60, 0, 0, 0, 0, 0]);
        dp.l2tp_ingress(&dp.dialin, 5, 6, PEER.parse().unwrap(), &mut buf, range);
        assert_eq!(counters.packets(Direction::FromSubscriber, false), 2);
        assert_eq!(counters.bytes(Direction::FromSubscriber, false), 28 + 6);
        assert_eq!(sink.sent.lock().unwrap().len(), 3);
    }

    #[test]
    fn ppp_protocol_fields_are_read_compressed_or_not() {
        assert_eq!(
            ppp_protocol(&[0xff, 0x03, 0x00, 0x21, 0x45]),
            Some((0x21, 4))
        );
        assert_eq!(ppp_protocol(&[0x21, 0x45]), Some((0x21, 1)));
        assert_eq!(ppp_protocol(&[0xc0, 0x21, 1]), Some((0xc021, 2)));
        assert_eq!(ppp_protocol(&[0xff, 0x03, 0x80]), None);
        assert_eq!(ppp_protocol(&[]), None);
    }

    #[test]
    fn packets_for_a_held_address_wait_for_the_subscriber_and_others_are_unroutable() {
        use crate::dataplane::resume::ResumeLimits;
        let (dp, _, _) = plane();
        let held = Ipv4Addr::new(100, 64, 1, 9);
        let tun_packet = |dst| {
            let mut buf = vec![0u8; HEADROOM];
            buf.extend_from_slice(&ipv4(SERVER, dst));
            let end = buf.len();
            (buf, HEADROOM..end)
        };
        // Resume off: unroutable.
        let (mut buf, r) = tun_packet(held);
        assert_eq!(
            dp.tun_ingress(&mut buf, r),
            Ingress::Dropped(DropKind::NoRoute)
        );
        dp.resume().configure(Some(ResumeLimits {
            max_packets_per_address: 1,
            ..ResumeLimits::default()
        }));
        let now = dp.clock().base().instant(dp.clock().now());
        dp.resume()
            .with(|b| b.hold(now, "sam".into(), held).unwrap())
            .unwrap();
        let (mut buf, r) = tun_packet(held);
        assert_eq!(dp.tun_ingress(&mut buf, r), Ingress::Forwarded);
        let (mut buf, r) = tun_packet(held);
        assert_eq!(
            dp.tun_ingress(&mut buf, r),
            Ingress::Dropped(DropKind::ResumeFull)
        );
        let (mut buf, r) = tun_packet(Ipv4Addr::new(100, 64, 1, 10));
        assert_eq!(
            dp.tun_ingress(&mut buf, r),
            Ingress::Dropped(DropKind::NoRoute)
        );
        let resumed = dp.resume().with(|b| b.resume(now, "sam")).unwrap().unwrap();
        assert_eq!(
            resumed.packets,
            vec![bytes::Bytes::from(ipv4(SERVER, held))]
        );
        // Switching resume off releases what is still held.
        dp.resume()
            .with(|b| b.hold(now, "sam".into(), held).unwrap())
            .unwrap();
        assert!(dp.resume().any_held());
        let released = dp.resume().configure(None);
        assert_eq!(released.len(), 1);
        assert!(!dp.resume().any_held());
    }

    #[test]
    fn sequencing_numbers_every_message_from_one_counter() {
        let (_, sink, _) = plane();
        let path = L2tpPath::new(sink.clone(), None, PEER.parse().unwrap(), 1, 2, true);
        path.send_frame(&[0xff, 0x03, 0xc0, 0x21]).unwrap();
        path.send_frame(&[0xff, 0x03, 0xc0, 0x21]).unwrap();
        let sent = sink.sent.lock().unwrap();
        let ns: Vec<Option<u16>> = sent
            .iter()
            .map(|(b, _, _)| match classify(b).unwrap() {
                Kind::Data { ns, .. } => ns,
                Kind::Control { .. } => None,
            })
            .collect();
        assert_eq!(ns, vec![Some(0), Some(1)]);
    }

    #[test]
    fn terminate_checks_the_source_and_writes_to_the_tun() {
        let (dp, _, tun) = plane();
        let counters = Arc::new(SessionCounters::new());
        dp.lns.insert(
            session_key(7, 8),
            Arc::new(SessionEntry {
                peer: PEER.parse().unwrap(),
                counters: counters.clone(),
                inbound: Direction::FromSubscriber,
                action: Action::Terminate { address: SUB },
            }),
        );
        let peer: SocketAddr = PEER.parse().unwrap();
        // Good source, with and without FF 03 and with a compressed protocol field.
        for prefix in [&[0xff, 0x03, 0x00, 0x21][..], &[0x00, 0x21], &[0x21]] {
            let mut frame = prefix.to_vec();
            frame.extend_from_slice(&ipv4(SUB, SERVER));
            let (mut buf, range) = datagram(7, 8, &frame);
            assert_eq!(
                dp.l2tp_ingress(&dp.lns, 7, 8, peer, &mut buf, range),
                Ingress::Forwarded
            );
        }
        assert_eq!(tun.0.lock().unwrap().len(), 3);
        assert_eq!(tun.0.lock().unwrap()[0], ipv4(SUB, SERVER));
        // Spoofed source: dropped, counted, not written.
        let mut frame = vec![0xff, 0x03, 0x00, 0x21];
        frame.extend_from_slice(&ipv4(Ipv4Addr::new(100, 64, 1, 99), SERVER));
        let (mut buf, range) = datagram(7, 8, &frame);
        assert_eq!(
            dp.l2tp_ingress(&dp.lns, 7, 8, peer, &mut buf, range),
            Ingress::Dropped(DropKind::SpoofedSource)
        );
        assert_eq!(dp.stats().dropped(DropKind::SpoofedSource), 1);
        assert_eq!(tun.0.lock().unwrap().len(), 3);
        // LCP goes to the actor.
        let (mut buf, range) = datagram(7, 8, &[0xff, 0x03, 0xc0, 0x21, 9, 1, 0, 4]);
        assert!(matches!(
            dp.l2tp_ingress(&dp.lns, 7, 8, peer, &mut buf, range),
            Ingress::ToActor {
                tunnel: 7,
                session: 8,
                ..
            }
        ));
        // Wrong peer and unknown session.
        let (mut buf, range) = datagram(7, 8, &frame);
        assert_eq!(
            dp.l2tp_ingress(
                &dp.lns,
                7,
                8,
                "192.0.2.2:1701".parse().unwrap(),
                &mut buf,
                range.clone()
            ),
            Ingress::Dropped(DropKind::WrongPeer)
        );
        assert_eq!(
            dp.l2tp_ingress(&dp.lns, 7, 9, peer, &mut buf, range),
            Ingress::Dropped(DropKind::UnknownSession)
        );
        assert_eq!(counters.packets(Direction::FromSubscriber, false), 3);
    }

    #[test]
    fn tun_packets_are_encapsulated_toward_their_session() {
        let (dp, sink, _) = plane();
        let counters = Arc::new(SessionCounters::new());
        dp.routes.insert(
            SUB,
            Arc::new(TunRoute {
                path: Arc::new(L2tpPath::new(
                    sink.clone(),
                    Some("127.0.0.1".parse().unwrap()),
                    PEER.parse().unwrap(),
                    3,
                    4,
                    false,
                )),
                counters: counters.clone(),
            }),
        );
        let packet = ipv4(SERVER, SUB);
        let mut buf = vec![0u8; HEADROOM];
        buf.extend_from_slice(&packet);
        let end = buf.len();
        assert_eq!(dp.tun_ingress(&mut buf, HEADROOM..end), Ingress::Forwarded);
        let sent = sink.sent.lock().unwrap();
        let (bytes, _, source) = &sent[0];
        assert_eq!(*source, Some("127.0.0.1".parse().unwrap()));
        assert_eq!(&bytes[..10], &[0, 2, 0, 3, 0, 4, 0xff, 0x03, 0x00, 0x21]);
        assert_eq!(&bytes[10..], &packet[..]);
        assert_eq!(counters.packets(Direction::ToSubscriber, false), 1);
        drop(sent);
        let mut buf = vec![0u8; HEADROOM];
        buf.extend_from_slice(&ipv4(SERVER, Ipv4Addr::new(100, 64, 9, 9)));
        let end = buf.len();
        assert_eq!(
            dp.tun_ingress(&mut buf, HEADROOM..end),
            Ingress::Dropped(DropKind::NoRoute)
        );
    }

    #[test]
    fn a_full_socket_is_counted_not_awaited() {
        let (dp, sink, _) = plane();
        sink.full.store(true, Relaxed);
        dp.routes.insert(
            SUB,
            Arc::new(TunRoute {
                path: Arc::new(L2tpPath::new(
                    sink.clone(),
                    None,
                    PEER.parse().unwrap(),
                    3,
                    4,
                    false,
                )),
                counters: Arc::new(SessionCounters::new()),
            }),
        );
        let mut buf = vec![0u8; HEADROOM];
        buf.extend_from_slice(&ipv4(SERVER, SUB));
        let end = buf.len();
        assert_eq!(
            dp.tun_ingress(&mut buf, HEADROOM..end),
            Ingress::Dropped(DropKind::BufferFull)
        );
        assert_eq!(dp.stats().dropped(DropKind::BufferFull), 1);
    }

    type EthSent = (MacAddr, MacAddr, Vec<u8>);

    #[derive(Default)]
    struct Ether(Mutex<Vec<EthSent>>);
    impl EthernetSink for Ether {
        fn try_send_ethernet(
            &self,
            source: MacAddr,
            destination: MacAddr,
            payload: &[u8],
        ) -> io::Result<()> {
            self.0
                .lock()
                .unwrap()
                .push((source, destination, payload.to_vec()));
            Ok(())
        }
    }

    const AC: MacAddr = MacAddr([0x02, 0xac, 0, 0, 0, 1]);
    const HOST: MacAddr = MacAddr([0x02, 0x11, 0, 0, 0, 7]);

    /// A Session-stage PPPoE packet in a receive buffer with headroom, padded like a minimal
    /// Ethernet frame (46 octets of payload).
    fn pppoe_packet(session: u16, ppp: &[u8]) -> (Vec<u8>, Range<usize>) {
        let mut buf = vec![0u8; HEADROOM];
        buf.extend_from_slice(&[0x11, 0x00]);
        buf.extend_from_slice(&session.to_be_bytes());
        buf.extend_from_slice(&(ppp.len() as u16).to_be_bytes());
        buf.extend_from_slice(ppp);
        while buf.len() < HEADROOM + 46 {
            buf.push(0);
        }
        let end = buf.len();
        (buf, HEADROOM..end)
    }

    #[test]
    fn pppoe_frames_are_relayed_with_address_and_control_added_in_place() {
        let (dp, sink, _) = plane();
        let counters = Arc::new(SessionCounters::new());
        let path = Arc::new(L2tpPath::new(
            sink.clone(),
            None,
            "198.51.100.9:1701".parse().unwrap(),
            0x1111,
            0x2222,
            false,
        ));
        dp.pppoe.insert(
            pppoe_key(3, 0x0042),
            Arc::new(PppoeEntry {
                peer: HOST,
                counters: counters.clone(),
                action: Action::Relay(path),
            }),
        );
        let ppp = [0x00, 0x21, 0x45, 0x00, 0x00, 0x14];
        let (mut buf, range) = pppoe_packet(0x0042, &ppp);
        assert_eq!(
            dp.pppoe_ingress(3, HOST, &mut buf, range),
            PppoeIngress::Forwarded
        );
        let sent = sink.sent.lock().unwrap();
        let (bytes, remote, _) = &sent[0];
        assert_eq!(*remote, "198.51.100.9:1701".parse().unwrap());
        // The L2TP header, FF 03, then the PPP frame without the Ethernet padding.
        assert_eq!(&bytes[..6], &[0x00, 0x02, 0x11, 0x11, 0x22, 0x22]);
        assert_eq!(&bytes[6..8], &[0xff, 0x03]);
        assert_eq!(&bytes[8..], &ppp);
        assert_eq!(counters.packets(Direction::FromSubscriber, false), 1);
        // Usage is the PPP payload of data protocols, as on the dial-in path.
        assert_eq!(counters.bytes(Direction::FromSubscriber, false), 4);
    }

    #[test]
    fn pppoe_ingress_refuses_what_is_not_a_session_of_its_subscriber() {
        let (dp, _, _) = plane();
        dp.pppoe.insert(
            pppoe_key(0, 5),
            Arc::new(PppoeEntry {
                peer: HOST,
                counters: Arc::new(SessionCounters::new()),
                action: Action::Actor,
            }),
        );
        let lcp = [0xc0, 0x21, 0x01, 0x01, 0x00, 0x04];
        let (mut buf, range) = pppoe_packet(5, &lcp);
        assert_eq!(
            dp.pppoe_ingress(0, HOST, &mut buf, range.clone()),
            PppoeIngress::ToActor
        );
        // The same session ID on another interface, or from another MAC.
        assert_eq!(
            dp.pppoe_ingress(1, HOST, &mut buf, range.clone()),
            PppoeIngress::UnknownSession { session_id: 5 }
        );
        assert_eq!(
            dp.pppoe_ingress(0, MacAddr([2, 0, 0, 0, 0, 9]), &mut buf, range.clone()),
            PppoeIngress::PppoeDropped(PppoeDropKind::WrongPeer)
        );
        // A Terminate-Ack for a session that is gone is expected after our PADT.
        let (mut ack, ack_range) = pppoe_packet(6, &[0xc0, 0x21, 0x06, 0x01, 0x00, 0x04]);
        assert_eq!(
            dp.pppoe_ingress(0, HOST, &mut ack, ack_range),
            PppoeIngress::LateTerminateAck
        );
        // Malformed: wrong VER/TYPE, a Discovery code, a Length past the frame, no Protocol
        // field, a short header.
        let mut bad = Vec::new();
        for (at, value) in [(0usize, 0x21u8), (1, 0x09), (5, 0xff), (4, 0x01)] {
            let (mut b, r) = pppoe_packet(5, &lcp);
            b[r.start + at] = value;
            bad.push((b, r));
        }
        let (b, r) = pppoe_packet(5, &[0xc0]);
        bad.push((b, r));
        let (b, r) = pppoe_packet(5, &lcp);
        bad.push((b, r.start..r.start + 5));
        for (mut b, r) in bad {
            assert_eq!(
                dp.pppoe_ingress(0, HOST, &mut b, r),
                PppoeIngress::PppoeDropped(PppoeDropKind::Malformed)
            );
        }
        let s = dp.stats();
        assert_eq!(s.pppoe_dropped(PppoeDropKind::Malformed), 6);
        assert_eq!(s.pppoe_dropped(PppoeDropKind::UnknownSession), 1);
        assert_eq!(s.pppoe_dropped(PppoeDropKind::WrongPeer), 1);
        let names: Vec<&str> = s.drops().map(|(k, _)| k).collect();
        assert!(names.contains(&"data.pppoe_unknown_session"), "{names:?}");
    }

    #[test]
    fn frames_from_the_lns_reach_the_pppoe_subscriber_without_address_and_control() {
        let (dp, _, _) = plane();
        let ether = Arc::new(Ether::default());
        let counters = Arc::new(SessionCounters::new());
        let path = Arc::new(PppoePath::new(ether.clone(), AC, HOST, 0x0042));
        dp.lac.insert(
            session_key(9, 10),
            Arc::new(SessionEntry {
                peer: PEER.parse().unwrap(),
                counters: counters.clone(),
                inbound: Direction::ToSubscriber,
                action: Action::Deliver(path.clone()),
            }),
        );
        let mut frame = vec![0xff, 0x03, 0x00, 0x21];
        frame.extend_from_slice(&ipv4(SERVER, SUB));
        let (mut buf, range) = datagram(9, 10, &frame);
        assert_eq!(
            dp.l2tp_ingress(&dp.lac, 9, 10, PEER.parse().unwrap(), &mut buf, range),
            Ingress::Forwarded
        );
        // A frame that already lacks FF 03 (ACFC) goes out the same way, from the actor.
        path.send_frame(&[0xc0, 0x21, 0x09, 0x01, 0x00, 0x08, 0, 0, 0, 0])
            .unwrap();
        let sent = ether.0.lock().unwrap();
        assert_eq!(sent.len(), 2);
        let (src, dst, payload) = &sent[0];
        assert_eq!((*src, *dst), (AC, HOST));
        let len = (frame.len() - 2) as u16;
        assert_eq!(
            &payload[..6],
            &[0x11, 0x00, 0x00, 0x42, (len >> 8) as u8, len as u8]
        );
        assert_eq!(&payload[6..], &frame[2..]);
        assert_eq!(&sent[1].2[..6], &[0x11, 0x00, 0x00, 0x42, 0x00, 0x0a]);
        assert_eq!(&sent[1].2[6..8], &[0xc0, 0x21]);
        assert_eq!(counters.packets(Direction::ToSubscriber, false), 1);
    }
}

//! The receive loops of one PPPoE access interface: its Discovery socket (every frame to the
//! actor's access concentrator, shed first when the actor is busy) and its Session socket (each
//! frame to the data plane: relayed toward the LNS, or to the actor while the subscriber
//! negotiates; frames for unknown sessions counted and, at a bounded rate, answered with a PADT).
//!
//! Owns: the receive buffers of the interface's two sockets and the rate at which unknown
//! sessions reach the actor. Must not touch: PPPoE protocol state (the actor's access
//! concentrator) or the forwarding decision (the data plane's).

use std::io;
use std::sync::Arc;

use super::RuntimeError;
use super::clock;
use super::logging::RateLimitedLog;
use super::packet::{self, FrameMeta, PacketSocket, ethertype};
use super::receive::receive_loop;
use super::shutdown::ShutdownListener;
use crate::actor::{ActorHandle, Command, PppoePortParts};
use crate::dataplane::sessions::{Dataplane, EthernetSink, HEADROOM, MAX_DATAGRAM, PppoeIngress};
use crate::pppoe::MacAddr;
use crate::pppoe::ac::RateLimiter;

/// Octets of the Ethernet header the socket strips on receive and writes on send.
const ETHERNET_HEADER: usize = crate::sys::ETHERNET_HEADER_LEN;

impl EthernetSink for PacketSocket {
    fn try_send_ethernet(
        &self,
        source: MacAddr,
        destination: MacAddr,
        payload: &[u8],
    ) -> io::Result<()> {
        self.try_send_from(
            packet::MacAddr(source.0),
            packet::MacAddr(destination.0),
            payload,
        )
    }
}

/// One access interface with both sockets bound.
#[derive(Debug, Clone)]
pub struct PppoeInterface {
    /// Its index in `lac.pppoe.interfaces`.
    pub port: u16,
    /// The Discovery-stage socket (0x8863).
    pub discovery: Arc<PacketSocket>,
    /// The Session-stage socket (0x8864).
    pub session: Arc<PacketSocket>,
    /// The interface MTU (the Ethernet payload size).
    pub mtu: u16,
}

impl PppoeInterface {
    /// Binds both sockets on `interface`. Needs CAP_NET_RAW; fails naming the interface when it
    /// does not exist.
    pub fn bind(port: u16, interface: &str) -> Result<Self, RuntimeError> {
        let discovery = Arc::new(PacketSocket::bind(interface, ethertype::PPPOE_DISCOVERY)?);
        let session = Arc::new(PacketSocket::bind(interface, ethertype::PPPOE_SESSION)?);
        let mtu = crate::sys::if_mtu(interface)
            .ok()
            .and_then(|m| u16::try_from(m).ok())
            .unwrap_or(crate::pppoe::wire::ETHERNET_MTU);
        if !crate::sys::if_is_up(interface).unwrap_or(true) {
            tracing::warn!(
                interface,
                "PPPoE interface is down; subscribers are served once it is up"
            );
        }
        Ok(Self {
            port,
            discovery,
            session,
            mtu,
        })
    }

    /// The interface name.
    pub fn name(&self) -> &str {
        self.discovery.interface()
    }

    /// What the actor needs of it.
    pub fn parts(&self) -> PppoePortParts {
        PppoePortParts {
            interface: self.name().to_owned(),
            mac: MacAddr(self.discovery.mac().0),
            mtu: self.mtu,
            discovery: self.discovery.clone(),
            session: self.session.clone(),
        }
    }

    /// Spawns the two receive loops on the current tokio runtime.
    pub fn spawn(
        &self,
        dataplane: Arc<Dataplane>,
        actor: ActorHandle,
        rate_log: Arc<RateLimitedLog>,
        unknown_session_per_second: u32,
        shutdown: impl Fn() -> ShutdownListener,
    ) {
        let discovery = DiscoveryTask {
            socket: self.discovery.clone(),
            port: self.port,
            actor: actor.clone(),
            rate_log: rate_log.clone(),
        };
        tokio::spawn(discovery.run(shutdown()));
        let session = SessionTask {
            socket: self.session.clone(),
            port: self.port,
            dataplane,
            actor,
            rate_log,
            unknown: RateLimiter::new(unknown_session_per_second),
        };
        tokio::spawn(session.run(shutdown()));
    }
}

/// Writes the Ethernet header of a received frame back in front of its payload, which starts at
/// `at` (so the actor's access concentrator sees the frame as it was on the wire). Returns the
/// frame's range start.
fn rebuild_header(buf: &mut [u8], at: usize, meta: &FrameMeta) -> usize {
    let start = at - ETHERNET_HEADER;
    buf[start..start + 6].copy_from_slice(&meta.destination.0);
    buf[start + 6..start + 12].copy_from_slice(&meta.source.0);
    buf[start + 12..at].copy_from_slice(&meta.ethertype.to_be_bytes());
    start
}

/// The Discovery socket's loop: every frame to the actor.
struct DiscoveryTask {
    socket: Arc<PacketSocket>,
    port: u16,
    actor: ActorHandle,
    rate_log: Arc<RateLimitedLog>,
}

impl DiscoveryTask {
    async fn run(self, shutdown: ShutdownListener) {
        let mut buf = vec![0u8; ETHERNET_HEADER + MAX_DATAGRAM];
        let failed = |e| {
            self.rate_log.warn(
                "pppoe.receive_failed",
                format_args!("PPPoE Discovery socket on {}: {e}", self.socket.interface()),
            );
        };
        let handle = |buf: &mut [u8], meta: FrameMeta| self.handle(buf, &meta);
        receive_loop(
            &*self.socket,
            shutdown,
            &mut buf,
            ETHERNET_HEADER,
            handle,
            failed,
        )
        .await;
    }

    fn handle(&self, buf: &mut [u8], meta: &FrameMeta) {
        if meta.truncated {
            self.rate_log.warn(
                "pppoe.oversized_frame",
                format_args!(
                    "PPPoE Discovery frame on {} from {} larger than {MAX_DATAGRAM} octets",
                    self.socket.interface(),
                    meta.source
                ),
            );
            return;
        }
        let start = rebuild_header(buf, ETHERNET_HEADER, meta);
        let frame = buf[start..ETHERNET_HEADER + meta.len].to_vec();
        // Discovery is retransmitted by hosts (RFC 2516 §7 timeouts), so under load it yields
        // to the L2TP control traffic and the frames of subscribers already being set up.
        if !self.actor.try_send_sheddable(Command::Pppoe {
            port: self.port,
            frame,
        }) {
            self.rate_log.warn(
                "actor.shed",
                format_args!(
                    "PPPoE Discovery frame on {} from {} dropped: the daemon is busy",
                    self.socket.interface(),
                    meta.source
                ),
            );
        }
    }
}

/// The Session socket's loop: every frame through the data plane.
struct SessionTask {
    socket: Arc<PacketSocket>,
    port: u16,
    dataplane: Arc<Dataplane>,
    actor: ActorHandle,
    rate_log: Arc<RateLimitedLog>,
    /// Frames for unknown sessions handed to the actor so its access concentrator answers with
    /// a PADT (`lac.pppoe.unknown_session_padt_per_second`); the rest are only counted.
    unknown: RateLimiter,
}

impl SessionTask {
    async fn run(mut self, shutdown: ShutdownListener) {
        let mut buf = vec![0u8; HEADROOM + MAX_DATAGRAM];
        let socket = self.socket.clone();
        let rate_log = self.rate_log.clone();
        let failed = |e| {
            rate_log.warn(
                "pppoe.receive_failed",
                format_args!("PPPoE Session socket on {}: {e}", socket.interface()),
            );
        };
        let handle = |buf: &mut [u8], meta: FrameMeta| self.handle(buf, &meta);
        receive_loop(&*socket, shutdown, &mut buf, HEADROOM, handle, failed).await;
    }

    fn handle(&mut self, buf: &mut [u8], meta: &FrameMeta) {
        // RFC 2516 §4: Session-stage frames go to the peer's unicast address; frames for other
        // stations (a shared segment, a promiscuous interface) are not ours to judge.
        if meta.destination.0 != self.socket.mac().0 {
            return;
        }
        if meta.truncated {
            self.rate_log.warn(
                "pppoe.oversized_frame",
                format_args!(
                    "PPPoE Session frame on {} from {} larger than {MAX_DATAGRAM} octets",
                    self.socket.interface(),
                    meta.source
                ),
            );
            return;
        }
        let end = HEADROOM + meta.len;
        let source = MacAddr(meta.source.0);
        match self
            .dataplane
            .pppoe_ingress(self.port, source, buf, HEADROOM..end)
        {
            PppoeIngress::Forwarded | PppoeIngress::LateTerminateAck => {}
            PppoeIngress::ToActor => {
                let start = rebuild_header(buf, HEADROOM, meta);
                let command = Command::Pppoe {
                    port: self.port,
                    frame: buf[start..end].to_vec(),
                };
                if !self.actor.try_send(command) {
                    self.rate_log.warn(
                        "actor.queue_full",
                        format_args!(
                            "PPP frame from PPPoE host {source} dropped: actor queue full"
                        ),
                    );
                }
            }
            PppoeIngress::UnknownSession { session_id } => {
                self.rate_log.warn(
                    "data.pppoe_unknown_session",
                    format_args!(
                        "PPPoE frame on {} from {source} for unknown session {session_id:#06x} dropped",
                        self.socket.interface()
                    ),
                );
                if self.unknown.allow(clock::now()) {
                    let start = rebuild_header(buf, HEADROOM, meta);
                    let _ = self.actor.try_send_sheddable(Command::Pppoe {
                        port: self.port,
                        frame: buf[start..end].to_vec(),
                    });
                }
            }
            PppoeIngress::PppoeDropped(why) => self.rate_log.warn(
                why.kind(),
                format_args!(
                    "PPPoE frame on {} from {source} dropped: {why:?}",
                    self.socket.interface()
                ),
            ),
            PppoeIngress::Dropped(why) => self.rate_log.warn(
                why.kind(),
                format_args!(
                    "PPPoE frame on {} from {source} not relayed to the LNS: {why:?}",
                    self.socket.interface()
                ),
            ),
        }
    }
}

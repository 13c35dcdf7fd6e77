//! The receive loop of one bound L2TP UDP socket: classify each datagram, give control messages to
//! the actor, give data messages to the data plane, count and log (rate-limited) what is dropped.
//!
//! Owns: the receive buffer of its socket. Must not touch: protocol state (the actor's) or the
//! forwarding decision (the data plane's).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use super::logging::RateLimitedLog;
use super::receive::receive_loop;
use super::shutdown::ShutdownListener;
use super::tun::TunDevice;
use super::udp::{RecvMeta, UdpEndpoint};
use crate::actor::{ActorHandle, Command, Role};
use crate::dataplane::sessions::{
    DatagramSink, Dataplane, DropKind, HEADROOM, Ingress, L2tpSessionMap, MAX_DATAGRAM, PacketSink,
};
use crate::wire::data::{Kind, classify};

impl DatagramSink for UdpEndpoint {
    fn try_send_datagram(
        &self,
        payload: &[u8],
        remote: SocketAddr,
        source: Option<std::net::IpAddr>,
    ) -> io::Result<usize> {
        self.try_send(payload, remote, source)
    }

    fn local_addr(&self) -> SocketAddr {
        UdpEndpoint::local_addr(self)
    }
}

impl PacketSink for TunDevice {
    fn try_send_packet(&self, packet: &[u8]) -> io::Result<usize> {
        self.try_send(packet)
    }
}

/// Everything a socket task needs.
pub struct UdpTask {
    /// The socket.
    pub socket: Arc<UdpEndpoint>,
    /// Which endpoint it belongs to.
    pub role: Role,
    /// The data plane.
    pub dataplane: Arc<Dataplane>,
    /// The actor.
    pub actor: ActorHandle,
    /// Rate-limited warnings about dropped input.
    pub rate_log: Arc<RateLimitedLog>,
}

impl UdpTask {
    fn map(&self) -> &L2tpSessionMap {
        match self.role {
            Role::Lns => &self.dataplane.lns,
            Role::Lac => &self.dataplane.lac,
            Role::Dialin => &self.dataplane.dialin,
        }
    }

    /// Receives until shutdown.
    pub async fn run(self, shutdown: ShutdownListener) {
        let mut buf = vec![0u8; HEADROOM + MAX_DATAGRAM];
        let failed = |e| {
            self.rate_log.warn(
                "udp.receive_failed",
                format_args!("{} socket {}: {e}", self.role, self.socket.local_addr()),
            );
        };
        let handle = |buf: &mut [u8], meta| self.handle(buf, meta);
        receive_loop(&*self.socket, shutdown, &mut buf, HEADROOM, handle, failed).await;
    }

    fn handle(&self, buf: &mut [u8], meta: RecvMeta) {
        let bound = self.socket.local_addr();
        if meta.truncated {
            self.rate_log.warn(
                "l2tp.oversized_datagram",
                format_args!(
                    "datagram from {} larger than {MAX_DATAGRAM} bytes",
                    meta.source
                ),
            );
            return;
        }
        let end = HEADROOM + meta.len;
        let kind = match classify(&buf[HEADROOM..end]) {
            Ok(k) => k,
            Err(e) => {
                self.rate_log.warn(
                    "l2tp.malformed_header",
                    format_args!("{} datagram from {}: {e}", self.role, meta.source),
                );
                return;
            }
        };
        match kind {
            Kind::Control { .. } => {
                let local = SocketAddr::new(meta.local.unwrap_or(bound.ip()), bound.port());
                let command = Command::Control {
                    role: self.role,
                    local,
                    remote: meta.source,
                    datagram: buf[HEADROOM..end].to_vec(),
                };
                if !self.actor.try_send(command) {
                    self.rate_log.warn(
                        "actor.queue_full",
                        format_args!(
                            "control message from {} dropped: actor queue full",
                            meta.source
                        ),
                    );
                }
            }
            Kind::Data {
                tunnel_id,
                session_id,
                payload,
                ..
            } => {
                let frame = HEADROOM + payload.start..HEADROOM + payload.end;
                match self.dataplane.l2tp_ingress(
                    self.map(),
                    tunnel_id,
                    session_id,
                    meta.source,
                    buf,
                    frame,
                ) {
                    Ingress::Forwarded => {}
                    Ingress::ToActor {
                        tunnel,
                        session,
                        frame,
                    } => {
                        let command = Command::Frame {
                            role: self.role,
                            tunnel,
                            session,
                            frame: buf[frame].to_vec(),
                        };
                        if !self.actor.try_send(command) {
                            self.rate_log.warn(
                                "actor.queue_full",
                                format_args!(
                                    "PPP frame from {} dropped: actor queue full",
                                    meta.source
                                ),
                            );
                        }
                    }
                    Ingress::Dropped(why) => log_drop(
                        &self.rate_log,
                        why,
                        self.role,
                        meta.source,
                        tunnel_id,
                        session_id,
                    ),
                }
            }
        }
    }
}

fn log_drop(
    rate_log: &RateLimitedLog,
    why: DropKind,
    role: Role,
    source: SocketAddr,
    tunnel: u16,
    session: u16,
) {
    let what = match why {
        DropKind::UnknownSession => "no such session",
        DropKind::WrongPeer => "sender is not the tunnel's peer",
        DropKind::SpoofedSource => "IPv4 source is not the subscriber's address",
        DropKind::MalformedIpv4 => "malformed IPv4 packet",
        DropKind::MalformedPpp => "malformed PPP frame",
        DropKind::NoTun => "no TUN device",
        DropKind::NoRoute | DropKind::TunNotIpv4 | DropKind::ResumeFull => "not routable",
        DropKind::BufferFull => "send buffer full",
        DropKind::SendFailed => "send failed",
    };
    rate_log.warn(
        why.kind(),
        format_args!(
            "{role} data from {source} for tunnel {tunnel} session {session} dropped: {what}"
        ),
    );
}

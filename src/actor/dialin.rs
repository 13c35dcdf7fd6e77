//! The L2TP dial-in front-end (issue 5): subscribers' own LACs (xl2tpd, a CPE, another LAC) open
//! tunnels to `lac.dialin.listen`; each incoming call is a subscriber whose PPP the LAC role
//! terminates for authentication and then switches into an aggregated tunnel toward an LNS
//! (multihop: the data plane re-encapsulates each frame with the other tunnel's IDs).
//!
//! Owns: the dial-in tunnels and turning their sessions into LAC subscribers. Must not touch: the
//! subscriber's life after that (`lac.rs`).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use super::lac::Access;
use super::lns::{
    PeerTunnel, describe_session_down, describe_tunnel_down, proxy_from_avps, vendor_cause,
};
use super::{Actor, ppp_server_config, session_span};
use crate::dataplane::counters::{Direction, SessionCounters};
use crate::dataplane::sessions::{Action, SessionEntry, session_key};
use crate::l2tp::{CloseReason, Event, SessionInfo};
use crate::ppp::Link;
use crate::wire::{CdnResult, DisconnectCauseCode, ErrorCode};

/// The dial-in front-end's tunnels.
#[derive(Debug, Default)]
pub(super) struct DialinState {
    pub tunnels: HashMap<u16, PeerTunnel>,
    /// Calls accepted whose ICCN has not arrived.
    pending: HashSet<u32>,
}

impl Actor {
    pub(super) fn on_dialin_event(&mut self, now: Instant, event: Event) {
        match event {
            Event::TunnelUp { tunnel, peer } => {
                let name: Arc<str> = self
                    .dialin_policy
                    .lock()
                    .ok()
                    .and_then(|mut p| p.tunnel_up(peer.remote.ip()))
                    .unwrap_or_else(|| "unknown".into());
                tracing::info!(
                    role = "dialin", tunnel_id = tunnel, peer_tunnel_id = peer.peer_tunnel_id,
                    peer = %name, remote = %peer.remote, local = %peer.local,
                    host_name = %String::from_utf8_lossy(&peer.host_name), "tunnel up"
                );
                self.dialin.tunnels.insert(
                    tunnel,
                    PeerTunnel {
                        peer_name: name,
                        info: peer,
                        established_at: self.wall(now),
                    },
                );
            }
            Event::TunnelDown { tunnel, cause } => {
                let text = describe_tunnel_down(&cause);
                match self.dialin.tunnels.remove(&tunnel) {
                    Some(t) => {
                        if let Ok(mut p) = self.dialin_policy.lock() {
                            p.tunnel_down(&t.peer_name);
                        }
                        tracing::info!(
                            role = "dialin", tunnel_id = tunnel, peer = %t.peer_name,
                            remote = %t.info.remote, cause = %text, "tunnel down"
                        );
                    }
                    None => tracing::info!(
                        role = "dialin", tunnel_id = tunnel, cause = %text, "tunnel setup failed"
                    ),
                }
            }
            Event::IncomingCall {
                tunnel, session, ..
            } => {
                let refusal = if self.shutdown_deadline.is_some() {
                    Some(("shutting down", DisconnectCauseCode::Shutdown))
                } else if self.lac_ep.is_none() || self.config.lac.peers.is_empty() {
                    Some((
                        "no LNS peer configured",
                        DisconnectCauseCode::ResourceExhausted,
                    ))
                } else {
                    None
                };
                let Some(ep) = self.dialin_ep.as_mut() else {
                    return;
                };
                match refusal {
                    Some((message, code)) => {
                        let _ = ep.endpoint.reject_call(
                            now,
                            tunnel,
                            session,
                            CloseReason {
                                result: CdnResult::TemporaryFacilities,
                                error: Some(ErrorCode::InsufficientResources),
                                message: Some(message.into()),
                                cause: Some(vendor_cause(code, message)),
                            },
                        );
                    }
                    None => {
                        if ep.endpoint.accept_call(now, tunnel, session).is_ok()
                            && let Some(peer) = ep.endpoint.tunnel(tunnel).map(|t| t.remote)
                        {
                            self.dialin.pending.insert(session_key(tunnel, session));
                            // PPP right behind the ICCN must queue behind it at the actor, not
                            // be dropped by the data plane before the session exists.
                            self.dp.dialin.insert(
                                session_key(tunnel, session),
                                Arc::new(SessionEntry {
                                    peer,
                                    counters: Arc::new(SessionCounters::new()),
                                    inbound: Direction::FromSubscriber,
                                    action: Action::Actor,
                                }),
                            );
                        }
                    }
                }
            }
            Event::SessionUp {
                tunnel,
                session,
                info,
            } => self.dialin_session_up(now, tunnel, session, &info),
            Event::SessionDown {
                tunnel,
                session,
                cause,
            } => {
                let key = session_key(tunnel, session);
                self.dialin.pending.remove(&key);
                self.early_frames.take(super::Role::Dialin, key);
                let Some(&id) = self.lac.by_access.get(&key) else {
                    // A call that never became a subscriber (refused, or gone before ICCN).
                    self.dp.dialin.remove(&key);
                    return;
                };
                let why = format!("subscriber side: {}", describe_session_down(&cause));
                self.lac_access_lost(now, id, why);
            }
            Event::Data { .. } | Event::SetLinkInfo { .. } | Event::WanErrorNotify { .. } => {}
        }
    }

    fn dialin_session_up(&mut self, now: Instant, tunnel: u16, session: u16, info: &SessionInfo) {
        let Some(ep) = self.dialin_ep.as_ref() else {
            return;
        };
        let Some(path) = ep.path(tunnel, info.peer_session_id, info.sequencing_required) else {
            return;
        };
        let peer_name = self
            .dialin
            .tunnels
            .get(&tunnel)
            .map(|t| t.peer_name.clone())
            .unwrap_or_else(|| "unknown".into());
        // A subscriber's LAC that negotiated LCP and collected credentials itself proxies them
        // to us like we proxy to an LNS (RFC 2661 §4.4.5); otherwise we negotiate from scratch.
        let _span = session_span("lac", tunnel, session, "").entered();
        let cfg = ppp_server_config(&self.config);
        let proxy = self
            .config
            .ppp
            .accept_proxy
            .then(|| proxy_from_avps(&info.iccn))
            .flatten();
        let link = match &proxy {
            Some(p) => {
                Link::from_proxy(now, cfg.clone(), p).unwrap_or_else(|_| Link::new(now, cfg))
            }
            None => Link::new(now, cfg),
        };
        let remote = path.remote();
        let access = Access::Dialin {
            tunnel,
            session,
            path,
            peer_name: peer_name.clone(),
        };
        let id = self.lac.add(access, link, self.wall(now));
        let counters = self.lac.subscribers[&id].counters.clone();
        self.dp.dialin.insert(
            session_key(tunnel, session),
            Arc::new(SessionEntry {
                peer: remote,
                counters,
                inbound: Direction::FromSubscriber,
                action: Action::Actor,
            }),
        );
        tracing::debug!(
            role = "dialin", tunnel_id = tunnel, session_id = session, peer = %peer_name,
            proxy = proxy.is_some(), "dial-in call connected; PPP starting"
        );
        self.sub_step(now, id);
        let key = session_key(tunnel, session);
        self.dialin.pending.remove(&key);
        for frame in self.early_frames.take(super::Role::Dialin, key) {
            self.subscriber_frame(now, id, &frame);
        }
    }

    pub(super) fn dialin_frame(&mut self, now: Instant, tunnel: u16, session: u16, frame: &[u8]) {
        let key = session_key(tunnel, session);
        match self.lac.by_access.get(&key) {
            Some(&id) => self.subscriber_frame(now, id, frame),
            None if self.dialin.pending.contains(&key) => {
                self.early_frames.hold(super::Role::Dialin, key, frame);
            }
            None => {}
        }
    }
}

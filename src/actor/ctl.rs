//! Answers to `l2tpagg ctl`: the rows of `ctl::proto` filled from the actor's tables, and the
//! actions (disconnect, drain, reload).
//!
//! Owns: turning state into rows. Must not touch: the protocol machines beyond the calls every
//! other teardown uses (`lns_close`, `lac_disconnect`, closing tunnels).

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::time::Instant;

use super::lac::Phase;
use super::{Actor, Role};
use crate::ctl::proto::{
    ErrorCode, LineRow, MoveRow, PlanReport, Request, Response, Role as CtlRole, SessionRow,
    StatusReport, SubscriberRow, TunnelRow,
};
use crate::dataplane::counters::Direction;
use crate::engine::planner::{MoveOutcome, MoveView};
use crate::l2tp::{CloseReason, SessionState, TunnelState};
use crate::wire::{Capabilities, CdnResult, DisconnectCauseCode, StopCcnResult};

fn tunnel_state(s: TunnelState) -> &'static str {
    match s {
        TunnelState::Idle => "idle",
        TunnelState::WaitCtlReply => "wait-ctl-reply",
        TunnelState::WaitCtlConn => "wait-ctl-conn",
        TunnelState::Established => "established",
        TunnelState::Stopping => "stopping",
        TunnelState::Lingering => "lingering",
        TunnelState::Closed => "closed",
    }
}

fn capability_names(c: Capabilities) -> Vec<String> {
    let mut v = Vec::new();
    if c.has(Capabilities::LIVE_SESSION_MOVE) {
        v.push("live-move".to_owned());
    }
    if c.has(Capabilities::DISCONNECT_CAUSE) {
        v.push("disconnect-cause".to_owned());
    }
    v
}

fn move_row(m: &MoveView, actor: &Actor) -> MoveRow {
    let tunnel = |t| actor.lac.l2tp_tunnel(t).unwrap_or(0);
    MoveRow {
        subscriber: m.subscriber.clone(),
        // Our LAC session ID of the leg it leaves, while the move is under way.
        session: actor.switchovers.old_session(m.id).unwrap_or(0),
        from_tunnel: tunnel(m.from),
        to_tunnel: actor.lac.l2tp_tunnel(m.to),
        reason: m.reason.as_str().to_owned(),
        outcome: match m.outcome {
            None => "pending".into(),
            Some(MoveOutcome::Committed) => "done".into(),
            Some(MoveOutcome::Failed(f)) => format!("failed: {}", f.as_str()),
        },
        decided_at_ms: actor.clock.wall_now_ms().saturating_sub(m.age_ms),
    }
}

impl Actor {
    /// Answers one ctl request.
    pub(super) fn ctl(&mut self, now: Instant, request: Request) -> Response {
        match request {
            Request::Status => Response::Status(self.status(now)),
            Request::Tunnels => Response::Tunnels {
                rows: self.tunnel_rows(),
            },
            Request::Sessions { user, tunnel } => Response::Sessions {
                rows: self
                    .session_rows()
                    .into_iter()
                    .filter(|r| user.as_ref().is_none_or(|u| *u == r.subscriber))
                    .filter(|r| tunnel.is_none_or(|t| t == r.local_tunnel_id))
                    .collect(),
            },
            Request::Subscribers => Response::Subscribers {
                rows: self.subscriber_rows(),
            },
            Request::Lines => Response::Lines {
                rows: self.line_rows(),
            },
            Request::Disconnect { session } => self.ctl_disconnect(now, session),
            Request::Drain { tunnel } => self.ctl_drain(now, tunnel),
            Request::Reload => match self.reload(now) {
                Ok(message) => Response::done(message),
                Err(message) => Response::error(ErrorCode::InvalidConfig, message),
            },
            Request::Plan => Response::Plan(self.plan_report(now)),
        }
    }

    fn status(&self, now: Instant) -> StatusReport {
        let mut roles = Vec::new();
        if self.lac_ep.is_some() {
            roles.push(CtlRole::Lac);
        }
        if self.lns_ep.is_some() {
            roles.push(CtlRole::Lns);
        }
        let tunnels: usize = Role::ALL
            .iter()
            .filter_map(|r| self.endpoint(*r))
            .map(|e| e.endpoint.tunnel_count())
            .sum();
        let mut names: std::collections::HashSet<&str> = std::collections::HashSet::new();
        for s in self.lns.sessions.values() {
            if let Some(n) = &s.subscriber {
                names.insert(n);
            }
        }
        for s in self.lac.subscribers.values() {
            if let Some(p) = &s.profile {
                names.insert(&p.name);
            }
        }
        let wall = self.wall(now);
        StatusReport {
            daemon_version: env!("CARGO_PKG_VERSION").to_owned(),
            pid: std::process::id(),
            roles,
            started_at_ms: self.started_at,
            uptime_secs: wall.saturating_sub(self.started_at) / 1000,
            config_origin: match &self.config_path {
                Some(p) => p.display().to_string(),
                None => "embedded default".to_owned(),
            },
            config_loaded_at_ms: self.config_loaded_at,
            tunnels: tunnels as u64,
            sessions: (self.lns.sessions.len() + self.lac.subscribers.len()) as u64,
            active_subscribers: names.len() as u64,
            lines_in_use: self
                .planner
                .table()
                .lines()
                .filter(|l| !l.tunnels.is_empty())
                .count() as u64,
            malformed: self.drop_counters().into_iter().collect::<BTreeMap<_, _>>(),
            degraded: self
                .degraded
                .iter()
                .cloned()
                .chain(self.accounting.degraded_line())
                .collect(),
            ledger: self.accounting.status(),
        }
    }

    fn tunnel_rows(&self) -> Vec<TunnelRow> {
        let mut rows = Vec::new();
        for role in Role::ALL {
            let Some(ep) = self.endpoint(role) else {
                continue;
            };
            for id in ep.endpoint.tunnel_ids() {
                let Some(view) = ep.endpoint.tunnel(id) else {
                    continue;
                };
                let mut row = TunnelRow {
                    role: if role == Role::Lns {
                        CtlRole::Lns
                    } else {
                        CtlRole::Lac
                    },
                    local_tunnel_id: id,
                    peer_tunnel_id: view.peer_tunnel_id,
                    peer_address: Some(view.remote),
                    local_address: Some(view.local),
                    state: tunnel_state(view.state).to_owned(),
                    sessions: view.sessions as u32,
                    capabilities: capability_names(view.peer_capabilities),
                    ..TunnelRow::default()
                };
                match role {
                    Role::Lns | Role::Dialin => {
                        let t = if role == Role::Lns {
                            self.lns.tunnels.get(&id)
                        } else {
                            self.dialin.tunnels.get(&id)
                        };
                        row.peer_name = t.map_or_else(String::new, |t| t.peer_name.to_string());
                        if role == Role::Dialin {
                            row.peer_name.push_str(" (dial-in)");
                            row.line = Some("dial-in".into());
                        }
                        row.established_at_ms = t.map(|t| t.established_at);
                    }
                    Role::Lac => {
                        if let Some(t) = self.lac.tunnels.get(&id) {
                            row.peer_name = t.peer.to_string();
                            row.line = Some(t.line.to_string());
                            row.established_at_ms = t.established_at;
                            if t.closing && view.state == TunnelState::Established {
                                row.state = "closing".into();
                            } else if self.switchovers.is_draining(id) {
                                row.state = "draining".into();
                            }
                            if let Some(pt) = self.planner.table().tunnel(t.planner) {
                                row.service_level_bps = pt.committed_bps;
                                row.capacity_bps = pt.capacity_bps;
                            }
                        }
                    }
                }
                rows.push(row);
            }
        }
        rows
    }

    fn session_rows(&self) -> Vec<SessionRow> {
        let mut rows = Vec::new();
        for s in self.lns.sessions.values() {
            let snap = s.counters.snapshot();
            let state = if s.network_up {
                "established"
            } else {
                "negotiating"
            };
            rows.push(SessionRow {
                role: CtlRole::Lns,
                local_session_id: s.session,
                peer_session_id: s.path.peer_session_id(),
                local_tunnel_id: s.tunnel,
                peer_tunnel_id: s.path.peer_tunnel_id(),
                subscriber: s.subscriber.as_deref().unwrap_or("").to_owned(),
                access: String::new(),
                state: state.to_owned(),
                service_level_bps: s.service_level,
                login_at_ms: s.login_at,
                bytes_up: snap.direction(Direction::FromSubscriber).bytes,
                bytes_down: snap.direction(Direction::ToSubscriber).bytes,
                packets_up: snap.direction(Direction::FromSubscriber).packets,
                packets_down: snap.direction(Direction::ToSubscriber).packets,
                address: s.lease.map(|l| IpAddr::V4(l.address())),
            });
        }
        for s in self.lac.subscribers.values() {
            let snap = s.counters.snapshot();
            let (tunnel, session, peer_tunnel, peer_session) = match &s.leg {
                Some(l) => (
                    l.tunnel,
                    l.session,
                    l.path.as_ref().map_or(0, |p| p.peer_tunnel_id()),
                    l.path.as_ref().map_or(0, |p| p.peer_session_id()),
                ),
                None => (0, 0, 0, 0),
            };
            let state = match s.phase {
                Phase::Negotiating => "authenticating",
                Phase::Connecting => "connecting",
                Phase::Relaying => "established",
            };
            rows.push(SessionRow {
                role: CtlRole::Lac,
                local_session_id: session,
                peer_session_id: peer_session,
                local_tunnel_id: tunnel,
                peer_tunnel_id: peer_tunnel,
                subscriber: s.profile.as_ref().map_or("", |p| &p.name).to_owned(),
                access: s.access.describe(),
                state: state.to_owned(),
                // The level the planner holds (service levels may have changed the contract's).
                service_level_bps: self
                    .planner
                    .table()
                    .session(crate::engine::admin::SessionId(s.id))
                    .map_or_else(
                        || s.profile.as_ref().map_or(0, |p| p.level_bps),
                        |p| p.level_bps,
                    ),
                login_at_ms: s.login_at,
                bytes_up: snap.direction(Direction::FromSubscriber).bytes,
                bytes_down: snap.direction(Direction::ToSubscriber).bytes,
                packets_up: snap.direction(Direction::FromSubscriber).packets,
                packets_down: snap.direction(Direction::ToSubscriber).packets,
                address: None,
            });
        }
        rows.sort_by_key(|r| (r.role, r.local_tunnel_id, r.local_session_id));
        rows
    }

    fn subscriber_rows(&self) -> Vec<SubscriberRow> {
        #[derive(Default)]
        struct Active {
            count: u32,
            addresses: Vec<IpAddr>,
            last_login: u64,
        }
        let mut active: HashMap<String, Active> = HashMap::new();
        for s in self.lns.sessions.values() {
            if let Some(n) = &s.subscriber {
                let a = active.entry(n.to_string()).or_default();
                a.count += 1;
                if let Some(l) = s.lease {
                    a.addresses.push(IpAddr::V4(l.address()));
                }
                a.last_login = a.last_login.max(s.login_at);
            }
        }
        for s in self.lac.subscribers.values() {
            if let Some(p) = &s.profile {
                let a = active.entry(p.name.to_string()).or_default();
                a.count += 1;
                a.last_login = a.last_login.max(s.login_at);
            }
        }
        let table = &self.config.subscribers;
        let mut names: Vec<String> = table
            .explicit()
            .iter()
            .map(|s| s.name.to_string())
            .collect();
        for n in active.keys() {
            if table.explicit().iter().all(|s| *s.name != **n) {
                names.push(n.clone());
            }
        }
        names.sort();
        names
            .into_iter()
            .filter_map(|name| {
                let s = table.get(&name)?;
                let a = active.get(&name);
                Some(SubscriberRow {
                    account: Some(s.account().to_owned()),
                    consolidation: s.settings.contract.consolidation,
                    service_level_bps: s.settings.service_level,
                    active_sessions: a.map_or(0, |a| a.count),
                    max_sessions: s.settings.disconnect.logins.and_then(|l| l.per_subscriber),
                    addresses: a.map(|a| a.addresses.clone()).unwrap_or_default(),
                    last_login_at_ms: a.map(|a| a.last_login),
                    name,
                })
            })
            .collect()
    }

    fn line_rows(&self) -> Vec<LineRow> {
        let table = self.planner.table();
        self.config
            .lac
            .lines
            .iter()
            .map(|line| {
                let planner_line = self.lac.planner_line(&line.name);
                let planned = planner_line.and_then(|l| table.line(l));
                let tunnels = planned.map_or(0, |l| l.tunnels.len() as u32);
                let sessions: u32 = planned.map_or(0, |l| {
                    l.tunnels
                        .iter()
                        .filter_map(|t| table.tunnel(*t))
                        .map(|t| t.sessions.len() as u32)
                        .sum()
                });
                let released = planner_line.is_some_and(|l| self.planner.line_released(l));
                let state = match planned {
                    None => "unavailable",
                    Some(_) if released => "released",
                    Some(l) if l.tunnels.is_empty() => "idle",
                    Some(_) => "up",
                };
                LineRow {
                    name: line.name.to_string(),
                    state: state.to_owned(),
                    capacity_bps: line.capacity,
                    monthly_cost_minor: line.cost_per_month,
                    tunnels,
                    sessions,
                    service_level_bps: planned.map_or(0, |l| l.committed_bps),
                }
            })
            .collect()
    }

    fn plan_report(&self, now: Instant) -> PlanReport {
        let snap = self.planner.snapshot(now);
        PlanReport {
            tunnels_in_use: snap.tunnels_in_use as u32,
            lines_in_use: snap.lines_in_use as u32,
            lower_bound_l1: snap.bounds.overall.l1 as u32,
            lower_bound_l2: snap.bounds.overall.best() as u32,
            pending_moves: snap.pending.iter().map(|m| move_row(m, self)).collect(),
            recent_moves: snap.recent.iter().map(|m| move_row(m, self)).collect(),
        }
    }

    fn ctl_disconnect(&mut self, now: Instant, session: u16) -> Response {
        let lns: Vec<u32> = self
            .lns
            .sessions
            .iter()
            .filter(|(_, s)| s.session == session)
            .map(|(k, _)| *k)
            .collect();
        let lac: Vec<u64> = self
            .lac
            .subscribers
            .values()
            .filter(|s| s.leg.as_ref().is_some_and(|l| l.session == session))
            .map(|s| s.id)
            .collect();
        match (lns.as_slice(), lac.as_slice()) {
            ([], []) => Response::error(ErrorCode::NotFound, format!("no session {session}")),
            ([key], []) => {
                let subscriber = self.lns.sessions[key]
                    .subscriber
                    .as_deref()
                    .unwrap_or("")
                    .to_owned();
                let reason = CloseReason {
                    result: CdnResult::Administrative,
                    error: None,
                    message: Some("disconnected by the operator".into()),
                    cause: Some(super::lns::vendor_cause(
                        DisconnectCauseCode::Administrative,
                        "disconnected by the operator",
                    )),
                };
                self.lns_close(now, *key, reason, "disconnected by the operator");
                tracing::info!(role = "lns", session_id = session, subscriber = %subscriber, "disconnect requested by ctl");
                Response::done(format!(
                    "session {session} ({subscriber}): LCP Terminate and CDN sent"
                ))
            }
            ([], [id]) => {
                let subscriber = self.lac.subscribers[id]
                    .profile
                    .as_ref()
                    .map_or_else(String::new, |p| p.name.to_string());
                tracing::info!(role = "lac", session_id = session, subscriber = %subscriber, "disconnect requested by ctl");
                self.lac_disconnect(now, *id);
                Response::done(format!(
                    "session {session} ({subscriber}): CDN sent toward the LNS and the subscriber"
                ))
            }
            _ => Response::error(
                ErrorCode::Refused,
                format!(
                    "session ID {session} exists in several tunnels; use `ctl sessions` and drain or disconnect from the peer side"
                ),
            ),
        }
    }

    fn ctl_drain(&mut self, now: Instant, tunnel: u16) -> Response {
        let mut found: Vec<Role> = Role::ALL
            .into_iter()
            .filter(|r| {
                self.endpoint(*r)
                    .is_some_and(|e| e.endpoint.tunnel(tunnel).is_some())
            })
            .collect();
        let role = match found.len() {
            0 => return Response::error(ErrorCode::NotFound, format!("no tunnel {tunnel}")),
            // Our LAC tunnels: customers move out live (switchover.rs).
            1 if found[0] == Role::Lac && self.lac.tunnels.contains_key(&tunnel) => {
                return self.lac_drain(now, tunnel);
            }
            1 => found.remove(0),
            _ => {
                return Response::error(
                    ErrorCode::Refused,
                    format!("tunnel ID {tunnel} exists on several endpoints ({found:?})"),
                );
            }
        };
        let mut ended = 0usize;
        match role {
            Role::Lns => {
                let keys: Vec<u32> = self
                    .lns
                    .sessions
                    .iter()
                    .filter(|(_, s)| s.tunnel == tunnel)
                    .map(|(k, _)| *k)
                    .collect();
                for key in keys {
                    let reason = CloseReason::administrative(Some(super::lns::vendor_cause(
                        DisconnectCauseCode::Administrative,
                        "tunnel drained",
                    )));
                    self.lns_close(now, key, reason, "tunnel drained by the operator");
                    ended += 1;
                }
            }
            Role::Lac => {
                for id in self.lac.subscribers_on(tunnel) {
                    self.lac_disconnect(now, id);
                    ended += 1;
                }
                self.lac.mark_closing(tunnel);
            }
            Role::Dialin => {
                let ids: Vec<u64> = self
                    .lac
                    .subscribers
                    .values()
                    .filter(|s| {
                        matches!(&s.access, super::lac::Access::Dialin { tunnel: t, .. } if *t == tunnel)
                    })
                    .map(|s| s.id)
                    .collect();
                for id in ids {
                    self.lac_disconnect(now, id);
                    ended += 1;
                }
            }
        }
        // Sessions still being set up in the tunnel go with it.
        let leftovers = self
            .endpoint(role)
            .map(|e| e.endpoint.session_ids(tunnel))
            .unwrap_or_default();
        if let Some(ep) = self.endpoint_mut(role) {
            for s in leftovers {
                if ep.endpoint.session_state(tunnel, s) != Some(SessionState::Established) {
                    let _ = ep.endpoint.close_session(
                        now,
                        tunnel,
                        s,
                        CloseReason::new(CdnResult::Administrative),
                    );
                }
            }
            let _ = ep.endpoint.close_tunnel(
                now,
                tunnel,
                StopCcnResult::GeneralClear,
                None,
                Some("drained by the operator".into()),
            );
        }
        tracing::info!(
            role = role.as_str(),
            tunnel_id = tunnel,
            sessions = ended,
            "tunnel drained by ctl"
        );
        let note = if role == Role::Lns {
            " (an LNS cannot move sessions; drain the tunnel on the LAC to move them live)"
        } else {
            ""
        };
        Response::done(format!(
            "tunnel {tunnel} ({role}): {ended} session(s) ended with CDN, StopCCN sent{note}"
        ))
    }
}

//! The disconnect-condition engine (seed 004) and resume in the running daemon: registering
//! sessions at login, the engine's one deadline inside the actor's, cutting sessions when a
//! condition holds, applying reloaded conditions to live sessions, and holding an address with its
//! packets for a subscriber cut automatically.
//!
//! Owns: the [`DisconnectEngine`] and the engine's handles of live sessions, the
//! [`CompiledDisconnect`] of the configuration in force, the leases of addresses held for resume,
//! and the disconnect counters of `ctl status`. Must not touch: how a session is torn down (the
//! LAC's `lac_end`, the LNS's `lns_close`), the pools beyond keeping a held lease out of them.
//!
//! # Who enforces
//! Conditions are enforced once per session, where the subscriber is known:
//! - the LAC, for every subscriber it authenticates (dial-in today, PPPoE once wired);
//! - the LNS, only for sessions from peers that did not advertise our Capability AVP
//!   ([`Capabilities::DISCONNECT_CAUSE`]): foreign LACs (xl2tpd, a CPE, a vendor LAC) enforce
//!   nothing of ours. A session from an l2tpagg LAC is enforced by that LAC, which tells the LNS
//!   why with a CDN carrying our Disconnect-Cause `AutomaticDisconnect`.
//!
//! # Granularity
//! A (session time), B (idle, without a minimum rate) and F (application-server timeout) fire at
//! their deadline, held in the engine and folded into the actor's one deadline; activity is
//! stamped by the data plane with the runtime's coarse clock (a few milliseconds). C (volume), E
//! (traffic) and B with a minimum rate are judged by the sampling pass every
//! `disconnect.sampling_interval`: each fires no later than one sampling interval after it holds.
//! D (simultaneous logins) is judged at each login.
//!
//! # The disconnect
//! LCP Terminate-Request to the subscriber (the LAC sends one itself toward a subscriber whose link
//! it handed to the LNS), a CDN on every L2TP session of the subscriber with result 3
//! (administrative, RFC 2661 §4.4.2) and our Disconnect-Cause `AutomaticDisconnect` whose detail is
//! the RADIUS Acct-Terminate-Cause (RFC 2866 §5.10), the planner told (a freed hole may trigger a
//! move), and one log line "automatic disconnect" with the subscriber, the session, the condition,
//! the measured value against its limit and the Acct-Terminate-Cause. The same facts reach the
//! session-end path as data, an [`EndCause`] on the session (`Subscriber::end_cause`,
//! `LnsSession::end_cause`), for the accounting stop record.
//!
//! # Resume (seed 004's data guarantee, LNS)
//! When an LNS session ends automatically (our own cut, or a CDN with `AutomaticDisconnect` from an
//! l2tpagg LAC), its address is held for `lns.resume.grace` instead of going back to the pool,
//! and packets the TUN device reads for it are buffered (bounded). The same subscriber logging in
//! again within the grace gets the same address, and the buffered packets are sent to it before
//! any new one; without a re-login the hold expires, the packets are dropped and counted
//! (`ctl status`: `resume.*`), and the address returns to the pool.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;

use super::Actor;
use super::pool::Lease;
use crate::config::{Config, SubscriberStatus};
use crate::dataplane::counters::{Direction, SessionCounters};
use crate::dataplane::resume::Expired;
use crate::dataplane::sessions::Dataplane;
use crate::engine::disconnect::config::{CompiledDisconnect, disconnect_changed};
use crate::engine::disconnect::{
    ConditionKind, Decision, DisconnectEngine, Fired, LoginOutcome, LoginRefusal, LoginRequest,
    Measure, SessionHandle, SessionKey,
};
use crate::l2tp::CloseReason;
use crate::ledger::TerminateCause;
use crate::ppp::frame::emit_frame;
use crate::ppp::packet::PacketRepr;
use crate::wire::{Capabilities, CdnResult, DisconnectCause, DisconnectCauseCode, ErrorCode};

/// LNS sessions' engine keys carry this bit; LAC subscribers' keys are their IDs (from 1 up).
const LNS_KEY: u64 = 1 << 63;

/// The engine key of a LAC subscriber.
pub(super) fn lac_key(id: u64) -> SessionKey {
    SessionKey(id & !LNS_KEY)
}

/// The engine key of an LNS session (by its data-plane key).
pub(super) fn lns_key(key: u32) -> SessionKey {
    SessionKey(LNS_KEY | u64::from(key))
}

/// Whether the peer of an LNS tunnel enforces our conditions itself: an l2tpagg LAC advertises
/// our Capability AVP (RFC 2661 §4.1 vendor AVP), a foreign LAC does not.
pub(super) fn peer_enforces(capabilities: Capabilities) -> bool {
    capabilities.has(Capabilities::DISCONNECT_CAUSE)
}

/// Why a session ended, as data for its stop record: set on a session the disconnect engine cut
/// (or, on the LNS, that an l2tpagg LAC reported as cut automatically) before its end path runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EndCause {
    /// The RADIUS Acct-Terminate-Cause (RFC 2866 §5.10), as the stop record stores it: decoded
    /// from its attribute value by the ledger's one table, so the log and the record agree.
    pub acct_terminate_cause: TerminateCause,
    /// The condition that fired, when known (a peer's CDN carries it in its text only).
    pub condition: Option<ConditionKind>,
    /// What was measured against what limit, when known.
    pub measured: Option<(Measure, Measure)>,
    /// One line: the condition, measured value against limit, and anything else it said.
    pub detail: String,
}

impl EndCause {
    /// The end cause of an engine decision.
    pub fn of(fired: &Fired) -> Self {
        Self {
            acct_terminate_cause: TerminateCause::from_code(fired.cause().value()),
            condition: Some(fired.kind()),
            measured: Some((fired.measured(), fired.limit())),
            detail: fired.to_string(),
        }
    }

    /// The end cause a peer's CDN reported with our `AutomaticDisconnect` cause.
    pub fn from_peer(cause: &DisconnectCause) -> Self {
        Self {
            acct_terminate_cause: TerminateCause::from_code(cause.detail),
            condition: None,
            measured: None,
            detail: cause
                .text
                .clone()
                .unwrap_or_else(|| "automatic disconnect by the LAC".to_owned()),
        }
    }
}

/// The CDN of an automatic disconnect: result 3 (administrative, RFC 2661 §4.4.2) and our
/// Disconnect-Cause with the Acct-Terminate-Cause as detail.
fn automatic_close(fired: &Fired) -> CloseReason {
    let text = fired.to_string();
    CloseReason {
        result: CdnResult::Administrative,
        error: None,
        message: Some(format!("automatic disconnect: {text}")),
        cause: Some(DisconnectCause {
            code: DisconnectCauseCode::AutomaticDisconnect,
            detail: fired.cause().value(),
            text: Some(text),
        }),
    }
}

/// The refusal of a login under condition D (PAP/CHAP failure, then this CDN).
fn refusal_close(refusal: &LoginRefusal) -> CloseReason {
    let text = refusal.to_string();
    CloseReason {
        result: CdnResult::TemporaryFacilities,
        error: Some(ErrorCode::NoError),
        message: Some(text.clone()),
        cause: Some(DisconnectCause {
            code: DisconnectCauseCode::AutomaticDisconnect,
            detail: refusal.cause().value(),
            text: Some(text),
        }),
    }
}

/// LCP Terminate-Request (RFC 1661 §5.5) carrying `why`, as a frame starting at the Protocol
/// field: what the LAC sends a subscriber whose link it no longer runs (handed to the LNS).
fn lcp_terminate_request(why: &str) -> Vec<u8> {
    let data = &why.as_bytes()[..why.len().min(200)];
    // Any identifier will do: the link is gone on our side, the Ack is not awaited.
    let packet = PacketRepr {
        code: 5,
        identifier: 0xd1,
        data,
    }
    .to_vec();
    let mut frame = Vec::with_capacity(packet.len() + 2);
    emit_frame(crate::ppp::frame::protocol::LCP, &packet, false, &mut frame);
    frame
}

/// Disconnect counters for `ctl status`.
#[derive(Debug, Default)]
struct Counts {
    /// Sessions cut, by condition (A-F).
    fired: [u64; 6],
    /// Logins refused under condition D.
    refused: u64,
}

/// The actor's disconnect state; see the module docs.
pub(super) struct DisconnectState {
    engine: DisconnectEngine,
    compiled: CompiledDisconnect,
    handles: HashMap<SessionKey, SessionHandle>,
    /// Leases of addresses held for a resume, by address.
    held: HashMap<Ipv4Addr, Lease>,
    /// Packets to deliver to a resumed LNS session once its network is up, by its key.
    deliver: HashMap<u32, Vec<Bytes>>,
    /// The earliest hold expiry (the actor alone holds, resumes and expires).
    resume_next: Option<Instant>,
    counts: Counts,
}

impl DisconnectState {
    /// The engine for `config`, its service table published to the data plane and its resume
    /// bounds applied.
    pub fn new(config: &Config, dp: &Dataplane) -> Self {
        let compiled = compile(config);
        let table = dp.services().publish(compiled.table.clone());
        dp.resume().configure(compiled.resume);
        let engine = DisconnectEngine::new(dp.clock().base(), compiled.settings, table);
        Self {
            engine,
            compiled,
            handles: HashMap::new(),
            held: HashMap::new(),
            deliver: HashMap::new(),
            resume_next: None,
            counts: Counts::default(),
        }
    }

    /// The earliest instant the engine or a resume hold needs the actor.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        match (self.engine.poll_timeout(), self.resume_next) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Held leases (for a reload that rebuilds the pools).
    pub fn held_leases(&self) -> Vec<Lease> {
        self.held.values().copied().collect()
    }

    /// Re-points held leases after the pools were rebuilt (same order as [`Self::held_leases`]).
    pub fn repoint_held(&mut self, leases: &[Lease]) {
        for lease in leases {
            self.held.insert(lease.address(), *lease);
        }
    }

    /// Counters for `ctl status`, by name (non-zero ones only): sessions cut per condition, logins
    /// refused, and the resume buffer's holds and drops (with two gauges: addresses held and
    /// packets buffered now).
    pub fn counters(&self, dp: &Dataplane) -> Vec<(String, u64)> {
        let mut out = Vec::new();
        for (i, n) in self.counts.fired.iter().enumerate() {
            if *n > 0 {
                out.push((format!("disconnect.{}", KINDS[i].name()), *n));
            }
        }
        if self.counts.refused > 0 {
            out.push(("disconnect.logins_refused".into(), self.counts.refused));
        }
        if let Some((stats, held, (packets, _))) = dp
            .resume()
            .with(|b| (b.stats(), b.held_addresses(), b.buffered()))
        {
            for (name, v) in [
                ("resume.held_addresses", held as u64),
                ("resume.buffered_packets", packets as u64),
                ("resume.expired_holds", stats.expired),
                ("resume.expired_packets", stats.expired_packets),
                ("resume.expired_bytes", stats.expired_bytes),
                ("resume.overflow_packets", stats.overflow_packets),
                ("resume.holds_refused", stats.holds_refused),
            ] {
                if v > 0 {
                    out.push((name.into(), v));
                }
            }
        }
        out
    }
}

const KINDS: [ConditionKind; 6] = [
    ConditionKind::SessionTime,
    ConditionKind::Idle,
    ConditionKind::Volume,
    ConditionKind::Logins,
    ConditionKind::Traffic,
    ConditionKind::AppTimeout,
];

/// Maps a validated configuration; the config layer refuses what cannot be mapped, so a failure
/// here is logged and the engine runs without services rather than not at all.
fn compile(config: &Config) -> CompiledDisconnect {
    match CompiledDisconnect::new(config) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "disconnect settings cannot be mapped; running without application services or server lists");
            let mut stripped = config.clone();
            stripped.disconnect.services.clear();
            stripped.disconnect.server_lists.clear();
            CompiledDisconnect::new(&stripped).expect("an empty service table always builds")
        }
    }
}

/// Who a session is, for a login.
pub(super) struct LoginInfo<'a> {
    pub key: SessionKey,
    pub subscriber: &'a str,
    pub access_point: String,
    pub counters: Arc<SessionCounters>,
    pub path_max_bps: u64,
}

impl Actor {
    /// Registers a login with the engine (condition D is checked here). Victims D picks are cut at
    /// once. `Err` carries the CDN for a refused login.
    pub(super) fn disconnect_login(
        &mut self,
        now: Instant,
        info: LoginInfo<'_>,
    ) -> Result<(), CloseReason> {
        let Some((conditions, order)) = self
            .disconnect
            .compiled
            .for_subscriber(&self.config, info.subscriber)
        else {
            return Ok(());
        };
        // A second authentication on one link (LCP renegotiated) replaces the first login.
        self.disconnect_logout(info.key);
        let outcome = self.disconnect.engine.login(
            now,
            LoginRequest {
                session: info.key,
                subscriber: info.subscriber.into(),
                access_point: &info.access_point,
                conditions,
                counters: info.counters,
                path_max_bps: info.path_max_bps,
                logged_in_at: now,
                disconnect_order: order,
            },
        );
        match outcome {
            LoginOutcome::Refused(refusal) => {
                self.disconnect.counts.refused += 1;
                tracing::warn!(
                    subscriber = info.subscriber, access_point = %info.access_point,
                    reason = %refusal, acct_terminate_cause = refusal.cause().name(),
                    "login refused"
                );
                Err(refusal_close(&refusal))
            }
            LoginOutcome::Accepted { handle, victims } => {
                self.disconnect.handles.insert(info.key, handle);
                for victim in victims {
                    self.disconnect_cut(now, victim);
                }
                Ok(())
            }
        }
    }

    /// Registers an authenticated LNS session, unless its tunnel's peer enforces the conditions
    /// itself (see the module docs).
    pub(super) fn lns_disconnect_login(
        &mut self,
        now: Instant,
        key: u32,
        subscriber: &str,
        service_level: u64,
    ) -> Result<(), CloseReason> {
        let Some(s) = self.lns.sessions.get(&key) else {
            return Ok(());
        };
        let Some(tunnel) = self.lns.tunnels.get(&s.tunnel) else {
            return Ok(());
        };
        if peer_enforces(tunnel.info.capabilities) {
            return Ok(());
        }
        let login = LoginInfo {
            key: lns_key(key),
            subscriber,
            access_point: format!("lns:{}", tunnel.peer_name),
            counters: s.counters.clone(),
            path_max_bps: service_level,
        };
        self.disconnect_login(now, login)
    }

    /// The end cause an l2tpagg LAC reported in its CDN, if it cut the session automatically.
    pub(super) fn peer_end_cause(
        &self,
        tunnel: u16,
        cause: &crate::l2tp::SessionDownCause,
    ) -> Option<EndCause> {
        let crate::l2tp::SessionDownCause::PeerCdn { cause: Some(c), .. } = cause else {
            return None;
        };
        let capable = self
            .lns
            .tunnels
            .get(&tunnel)
            .is_some_and(|t| peer_enforces(t.info.capabilities));
        (capable && c.code == DisconnectCauseCode::AutomaticDisconnect)
            .then(|| EndCause::from_peer(c))
    }

    /// Forgets a session that ended (any reason); harmless for one never registered.
    pub(super) fn disconnect_logout(&mut self, key: SessionKey) {
        if let Some(handle) = self.disconnect.handles.remove(&key) {
            self.disconnect.engine.logout(handle);
        }
    }

    /// Engine deadlines, sampling passes and resume expiries due at `now`.
    pub(super) fn disconnect_timeout(&mut self, now: Instant) {
        if self
            .disconnect
            .engine
            .poll_timeout()
            .is_some_and(|t| t <= now)
        {
            for decision in self.disconnect.engine.handle_timeout(now) {
                self.disconnect_cut(now, decision);
            }
        }
        if self.disconnect.resume_next.is_some_and(|t| t <= now) {
            let expired = self
                .dp
                .resume()
                .with(|b| b.handle_timeout(now))
                .unwrap_or_default();
            self.resume_release(expired, "grace period over");
            self.resume_refresh_deadline();
        }
    }

    /// Carries out one decision: the one log line, the end cause on the session, its teardown.
    fn disconnect_cut(&mut self, now: Instant, decision: Decision) {
        self.disconnect.handles.remove(&decision.session);
        self.disconnect.engine.logout(decision.handle);
        let fired = &decision.fired;
        if let Some(i) = KINDS.iter().position(|k| *k == fired.kind()) {
            self.disconnect.counts.fired[i] += 1;
        }
        let cause = EndCause::of(fired);
        let reason = automatic_close(fired);
        let why = format!("automatic disconnect: {fired}");
        let key = decision.session;
        let (role, tunnel_id, session_id) = if key.0 & LNS_KEY != 0 {
            let k = (key.0 & 0xFFFF_FFFF) as u32;
            ("lns", (k >> 16) as u16, k as u16)
        } else {
            let leg = self
                .lac
                .subscribers
                .get(&key.0)
                .and_then(|s| s.leg.as_ref())
                .map_or((0, 0), |l| (l.tunnel, l.session));
            ("lac", leg.0, leg.1)
        };
        tracing::info!(
            role,
            subscriber = %decision.subscriber,
            session = key.0,
            tunnel_id,
            session_id,
            condition = fired.kind().name(),
            condition_letter = %fired.kind().letter(),
            measured = %fired.measured(),
            limit = %fired.limit(),
            acct_terminate_cause = fired.cause().name(),
            acct_terminate_cause_value = fired.cause().value(),
            detail = %fired,
            "automatic disconnect"
        );
        if key.0 & LNS_KEY != 0 {
            let k = (key.0 & 0xFFFF_FFFF) as u32;
            if let Some(s) = self.lns.sessions.get_mut(&k) {
                s.end_cause = Some(cause);
            }
            self.lns_close(now, k, reason, &why);
        } else {
            let id = key.0;
            let Some(sub) = self.lac.subscribers.get_mut(&id) else {
                return;
            };
            sub.end_cause = Some(cause);
            if sub.handed_off && sub.access_alive {
                // The LNS runs the subscriber's LCP now; the subscriber still deserves to hear
                // why before its carrier goes (RFC 1661 §3.7).
                let frame = lcp_terminate_request(&why);
                if let Err(e) = sub.access.send_frame(&frame) {
                    self.rate_log.warn(
                        "ppp.send_failed",
                        format_args!("LCP Terminate-Request to subscriber: {e}"),
                    );
                }
            }
            self.lac_end(now, id, &why, reason.clone(), reason);
        }
    }

    /// Applies a reloaded configuration: the new service table, sampling interval and resume
    /// bounds, and changed conditions (or disconnect order) of live sessions' subscribers.
    pub(super) fn disconnect_reload(&mut self, now: Instant, old: &Config, new: &Config) {
        let section_changed = disconnect_changed(old, new);
        let compiled = compile(new);
        if section_changed {
            let table = self.dp.services().publish(compiled.table.clone());
            self.disconnect.engine.set_service_table(now, table);
            self.disconnect.engine.set_settings(now, compiled.settings);
            let released = self.dp.resume().configure(compiled.resume);
            self.resume_release(released, "resume switched off");
            self.resume_refresh_deadline();
        }
        let mut changed = 0usize;
        self.disconnect.engine.reload(now, |_, name| {
            let apply = section_changed
                || matches!(
                    old.subscriber_status(new, name),
                    SubscriberStatus::Changed(c) if c.conditions || c.disconnect_order
                );
            if !apply {
                return None;
            }
            changed += 1;
            compiled.for_subscriber(new, name)
        });
        self.disconnect.compiled = compiled;
        if changed > 0 {
            tracing::info!(
                sessions = changed,
                "disconnect conditions of live sessions updated"
            );
        }
    }

    // ---- resume (LNS) ----

    /// Holds the address of an LNS session that ended automatically; false when resume is off or
    /// full (the caller then returns the lease to the pool).
    pub(super) fn resume_hold(
        &mut self,
        now: Instant,
        subscriber: &Arc<str>,
        lease: Lease,
    ) -> bool {
        let address = lease.address();
        let held = self
            .dp
            .resume()
            .with(|b| b.hold(now, subscriber.clone(), address));
        match held {
            Some(Ok(())) => {
                self.disconnect.held.insert(address, lease);
                self.resume_refresh_deadline();
                tracing::info!(
                    role = "lns", subscriber = %subscriber, address = %address,
                    grace = ?self.config.lns.resume.grace,
                    "address held for a resume"
                );
                true
            }
            Some(Err(e)) => {
                tracing::warn!(role = "lns", subscriber = %subscriber, address = %address, error = %e, "address not held for a resume");
                false
            }
            None => false,
        }
    }

    /// A re-login of `subscriber` within its grace: the held lease back, and the packets to
    /// deliver first once the session `key`'s network is up.
    pub(super) fn resume_take(
        &mut self,
        now: Instant,
        key: u32,
        subscriber: &str,
    ) -> Option<Lease> {
        let resumed = self.dp.resume().with(|b| b.resume(now, subscriber))??;
        let lease = self.disconnect.held.remove(&resumed.address)?;
        self.resume_refresh_deadline();
        tracing::info!(
            role = "lns", subscriber, address = %resumed.address,
            buffered_packets = resumed.packets.len(), "resumed: same address, buffered packets first"
        );
        if !resumed.packets.is_empty() {
            self.disconnect.deliver.insert(key, resumed.packets);
        }
        Some(lease)
    }

    /// Sends the packets held for a resumed LNS session (called when its network comes up, before
    /// its route is installed, so they arrive before anything newer).
    pub(super) fn resume_deliver(&mut self, key: u32) {
        let Some(packets) = self.disconnect.deliver.remove(&key) else {
            return;
        };
        let Some(s) = self.lns.sessions.get(&key) else {
            return;
        };
        let stamp = self.dp.clock().now();
        for p in packets {
            let mut frame = Vec::with_capacity(p.len() + 4);
            emit_frame(crate::ppp::frame::protocol::IPV4, &p, true, &mut frame);
            s.counters
                .record(Direction::ToSubscriber, p.len() as u64, stamp);
            if let Err(e) = s.path.send_frame(&frame) {
                self.rate_log.warn(
                    "resume.send_failed",
                    format_args!("held packet to {}: {e}", s.path.remote()),
                );
            }
        }
    }

    /// Forgets packets waiting for a session that ended before its network came up.
    pub(super) fn resume_forget(&mut self, key: u32) {
        self.disconnect.deliver.remove(&key);
    }

    fn resume_release(&mut self, expired: Vec<Expired>, why: &str) {
        for e in expired {
            if let Some(lease) = self.disconnect.held.remove(&e.address) {
                self.lns.pools.release(lease);
            }
            tracing::info!(
                role = "lns", subscriber = %e.subscriber, address = %e.address,
                dropped_packets = e.dropped_packets, dropped_bytes = e.dropped_bytes,
                reason = why, "resume hold ended; address back in the pool"
            );
        }
    }

    fn resume_refresh_deadline(&mut self) {
        self.disconnect.resume_next = self.dp.resume().with(|b| b.poll_timeout()).flatten();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::disconnect::AcctTerminateCause;

    #[test]
    fn keys_of_the_two_roles_never_meet() {
        assert_ne!(lac_key(7), lns_key(7));
        assert_eq!(lns_key(0x0001_0002).0 & 0xFFFF_FFFF, 0x0001_0002);
        assert_eq!(lac_key(7).0 & LNS_KEY, 0);
    }

    #[test]
    fn the_lcp_terminate_request_is_well_formed() {
        let f = lcp_terminate_request("idle");
        assert_eq!(&f[..2], &[0xc0, 0x21]);
        let p = PacketRepr::parse(&f[2..]).unwrap();
        assert_eq!((p.code, p.data), (5, &b"idle"[..]));
        assert!(lcp_terminate_request(&"x".repeat(5000)).len() < 300);
    }

    #[test]
    fn an_automatic_close_carries_the_acct_terminate_cause() {
        let fired = Fired::SessionTime {
            elapsed: std::time::Duration::from_secs(7),
            limit: std::time::Duration::from_secs(5),
        };
        let r = automatic_close(&fired);
        assert_eq!(r.result, CdnResult::Administrative);
        let c = r.cause.unwrap();
        assert_eq!(c.code, DisconnectCauseCode::AutomaticDisconnect);
        assert_eq!(c.detail, AcctTerminateCause::SessionTimeout.value());
        let back = EndCause::from_peer(&c);
        assert_eq!(back.acct_terminate_cause, TerminateCause::SessionTimeout);
        assert!(back.detail.contains("session-time"), "{}", back.detail);
    }
}

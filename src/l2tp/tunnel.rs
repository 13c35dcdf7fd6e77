//! One tunnel: the control connection state machine (RFC 2661 §7.2) in both roles, tunnel
//! authentication (§5.1.1), keepalive (§5.5), teardown (§5.7), and its sessions' incoming-call
//! state machines (§7.4.1 LAC, §7.4.2 LNS).
//!
//! Owns: one [`ControlChannel`], the tunnel's sessions and timers. Must not touch: other tunnels,
//! ID allocation across tunnels or routing (the [`super::Endpoint`] does those).
//!
//! | state            | role      | event                         | action                          | next         |
//! |------------------|-----------|-------------------------------|---------------------------------|--------------|
//! | (new)            | initiator | open                          | send SCCRQ                      | WaitCtlReply |
//! | Idle             | responder | SCCRQ acceptable              | send SCCRP                      | WaitCtlConn  |
//! | Idle             | responder | SCCRQ not acceptable          | send StopCCN                    | Stopping     |
//! | WaitCtlReply     | initiator | SCCRP acceptable              | send SCCCN, tunnel up           | Established  |
//! | WaitCtlReply     | initiator | SCCRP not acceptable          | send StopCCN                    | Stopping     |
//! | WaitCtlConn      | responder | SCCCN acceptable              | tunnel up                       | Established  |
//! | WaitCtlConn      | responder | SCCCN not acceptable          | send StopCCN (result 4)         | Stopping     |
//! | any but Idle     | both      | SCCRQ/SCCRP/SCCCN out of turn | send StopCCN (result 7)         | Stopping     |
//! | any              | both      | StopCCN received              | ack, sessions down, tunnel down | Lingering    |
//! | any              | both      | local close                   | send StopCCN                    | Stopping     |
//! | any              | both      | retransmissions exhausted     | sessions down, tunnel down      | Closed       |
//! | Stopping         | both      | StopCCN acknowledged / linger | -                               | Closed       |
//! | Lingering        | both      | linger over (§5.7, 31 s)      | -                               | Closed       |

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use rand::{Rng, RngCore};

use super::channel::{ChannelParams, ControlChannel, PeerUnreachable, Received};
use super::endpoint::{Ctx, DropReason, Transmit};
use super::event::{
    Event, PeerInfo, SessionDownCause, SessionId, SessionInfo, SessionRequest, TunnelDownCause,
    TunnelId,
};
use super::{ApiError, CloseReason, TunnelConfig};
use crate::wire::data::{self, DataHeaderOptions};
use crate::wire::hidden::{challenge_response, responses_match};
use crate::wire::message::{Peek, peek};
use crate::wire::{
    Avps, Capabilities, CdnResult, ControlHeader, EmitContext, Error as WireError, ErrorCode,
    Framing, HideSet, Message, MessageType, ParseContext, ProtocolVersion, ResultCode,
    StopCcnResult,
};

/// Where a tunnel's control connection stands (RFC 2661 §7.2.1, plus the teardown states).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TunnelState {
    /// Responder created for an SCCRQ not yet processed.
    Idle,
    /// Initiator: SCCRQ sent, waiting for SCCRP.
    WaitCtlReply,
    /// Responder: SCCRP sent, waiting for SCCCN.
    WaitCtlConn,
    /// Control connection up.
    Established,
    /// We sent StopCCN and wait for its acknowledgement.
    Stopping,
    /// We received StopCCN and keep acknowledging retransmissions (RFC 2661 §5.7).
    Lingering,
    /// Gone; the endpoint frees it.
    Closed,
}

/// Where a session stands (RFC 2661 §7.4.1, §7.4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionState {
    /// LAC: waiting for the tunnel to come up before sending ICRQ.
    WaitTunnel,
    /// LAC: ICRQ sent, waiting for ICRP.
    WaitReply,
    /// LNS: ICRQ received, waiting for the application's decision.
    WaitDecision,
    /// LNS: ICRP sent, waiting for ICCN.
    WaitConnect,
    /// Established: data may flow.
    Established,
}

#[derive(Debug)]
struct Session {
    peer_id: u16,
    state: SessionState,
    lac: bool,
    request: Option<Box<SessionRequest>>,
    sequencing_required: bool,
    /// Ns of the next data message the slow path sends (RFC 2661 §5.4, when sequencing).
    data_ns: u16,
}

/// A received control message after header checks: parsed, or why it could not be.
#[derive(Debug)]
pub(crate) struct Incoming {
    session_id: u16,
    msg: Result<Message, (WireError, Peek)>,
}

impl Incoming {
    fn is_session_message(&self) -> bool {
        match &self.msg {
            Ok(m) => m.kind.is_session_message(),
            Err((_, p)) => p
                .kind
                .and_then(MessageType::from_code)
                .is_some_and(MessageType::is_session_message),
        }
    }
}

/// Call messages kept while the control connection is still being established.
const EARLY_SESSION_MESSAGES: usize = 64;

pub(crate) struct Tunnel {
    pub id: TunnelId,
    pub peer_id: u16,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub initiator: bool,
    pub state: TunnelState,
    pub config: Arc<TunnelConfig>,
    /// Our tie breaker, when our SCCRQ carried one.
    pub tie_breaker: Option<u64>,
    /// Responder created only to refuse the peer with this result.
    reject: Option<StopCcnResult>,
    channel: ControlChannel<Incoming>,
    our_challenge: Option<[u8; 16]>,
    peer: Option<PeerInfo>,
    /// The application knows this tunnel (it opened it, or we reported TunnelUp).
    announced: bool,
    /// Call messages that arrived before the tunnel was established, in sequence order.
    early: Vec<Incoming>,
    sessions: HashMap<SessionId, Session>,
    by_peer_session: HashMap<u16, SessionId>,
    hello_at: Option<Instant>,
    close_at: Option<Instant>,
    /// The deadline the endpoint has filed this tunnel under.
    pub filed_deadline: Option<Instant>,
}

fn params(c: &TunnelConfig) -> ChannelParams {
    ChannelParams {
        receive_window: c.receive_window.max(1),
        retransmit_initial: c.retransmit_initial,
        retransmit_max: c.retransmit_max,
        max_retransmits: c.max_retransmits,
        ack_delay: c.ack_delay,
    }
}

impl Tunnel {
    fn blank(
        id: TunnelId,
        local: SocketAddr,
        remote: SocketAddr,
        config: Arc<TunnelConfig>,
        initiator: bool,
    ) -> Self {
        Tunnel {
            id,
            peer_id: 0,
            local,
            remote,
            initiator,
            state: TunnelState::Idle,
            channel: ControlChannel::new(params(&config)),
            config,
            tie_breaker: None,
            reject: None,
            our_challenge: None,
            peer: None,
            announced: initiator,
            early: Vec::new(),
            sessions: HashMap::new(),
            by_peer_session: HashMap::new(),
            hello_at: None,
            close_at: None,
            filed_deadline: None,
        }
    }

    /// An initiator: sends the SCCRQ at once (RFC 2661 §7.2.1, idle → wait-ctl-reply).
    pub fn open(
        ctx: &mut Ctx<'_>,
        id: TunnelId,
        local: SocketAddr,
        remote: SocketAddr,
        config: Arc<TunnelConfig>,
    ) -> Self {
        let mut t = Tunnel::blank(id, local, remote, config, true);
        let mut m = Message::new(MessageType::Sccrq);
        t.fill_start(ctx, &mut m.avps, true);
        if t.config.send_tie_breaker {
            let v = ctx.rng.random();
            t.tie_breaker = Some(v);
            m.avps.tie_breaker = Some(v);
        }
        t.state = TunnelState::WaitCtlReply;
        // Until SCCRP the peer has no tunnel ID for us to address: RFC 2661 §4.4.3 says use 0.
        t.send(ctx, 0, &m);
        t.hello_at = Some(ctx.now + t.config.hello_interval);
        t.flush(ctx);
        t
    }

    /// A responder for an SCCRQ carrying `sccrq_ns`; feed it the SCCRQ with
    /// [`Self::handle_control`].
    pub fn accept(
        id: TunnelId,
        local: SocketAddr,
        remote: SocketAddr,
        config: Arc<TunnelConfig>,
        reject: Option<StopCcnResult>,
        sccrq_ns: u16,
    ) -> Self {
        let mut t = Tunnel::blank(id, local, remote, config, false);
        t.reject = reject;
        // RFC 2661 §5.8 starts Ns at 0; a peer that starts elsewhere would otherwise leave its
        // SCCRQ held forever as out of order.
        t.channel.expect_first(sccrq_ns);
        t
    }

    /// The AVPs common to SCCRQ and SCCRP (RFC 2661 §6.1, §6.2).
    fn fill_start(&mut self, ctx: &mut Ctx<'_>, a: &mut Avps, advertise: bool) {
        let c = &self.config;
        a.protocol_version = Some(ProtocolVersion::V1_0);
        a.framing_capabilities = Some(c.framing_capabilities);
        a.bearer_capabilities = c.bearer_capabilities;
        a.firmware_revision = Some(c.firmware_revision);
        a.host_name = Some(if c.host_name.is_empty() {
            b"l2tpagg".to_vec()
        } else {
            c.host_name.clone().into_bytes()
        });
        a.vendor_name = (!c.vendor_name.is_empty()).then(|| c.vendor_name.clone().into_bytes());
        a.assigned_tunnel_id = Some(self.id);
        a.receive_window_size = Some(c.receive_window.max(1));
        if c.secret.is_some() {
            // RFC 2661 §5.1.1: a Challenge AVP asks the peer to prove it knows the secret.
            let mut ch = [0u8; 16];
            ctx.rng.fill_bytes(&mut ch);
            self.our_challenge = Some(ch);
            a.challenge = Some(ch.to_vec());
        }
        // Our Capability AVP is M=0, so a standard peer ignores it; in SCCRP it only answers a
        // peer that advertised its own.
        if advertise && c.capabilities != Capabilities::NONE {
            a.capabilities = Some(c.capabilities);
        }
    }

    fn secret(&self) -> Option<&[u8]> {
        self.config.secret.as_deref()
    }

    /// The capabilities both ends share (what we may use toward this peer).
    pub fn shared_capabilities(&self) -> Capabilities {
        let theirs = self
            .peer
            .as_ref()
            .map_or(Capabilities::NONE, |p| p.capabilities);
        Capabilities(theirs.0 & self.config.capabilities.0)
    }

    pub fn peer_info(&self) -> Option<&PeerInfo> {
        self.peer.as_ref()
    }

    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    pub fn session_ids(&self) -> Vec<SessionId> {
        let mut ids: Vec<SessionId> = self.sessions.keys().copied().collect();
        ids.sort_unstable();
        ids
    }

    pub fn session_state(&self, sid: SessionId) -> Option<SessionState> {
        self.sessions.get(&sid).map(|s| s.state)
    }

    pub fn session_peer_id(&self, sid: SessionId) -> Option<u16> {
        self.sessions.get(&sid).map(|s| s.peer_id)
    }

    /// Encodes `msg` for the peer and queues it on the reliable channel.
    fn send(&mut self, ctx: &mut Ctx<'_>, session_id: u16, msg: &Message) {
        let hide = if self.config.hide_sensitive_avps && self.secret().is_some() {
            HideSet::SENSITIVE
        } else {
            HideSet::NONE
        };
        let mut random_vector = [0u8; 16];
        if hide != HideSet::NONE {
            ctx.rng.fill_bytes(&mut random_vector);
        }
        let ectx = EmitContext {
            secret: self.secret(),
            hide,
            random_vector,
            vendor_id: self.config.vendor_id,
        };
        let header = ControlHeader {
            tunnel_id: self.peer_id,
            session_id,
            ns: 0,
            nr: 0,
        };
        let mut buf = Vec::with_capacity(128);
        match msg.emit(&header, &ectx, &mut buf) {
            Ok(()) => self.channel.push(buf),
            // Every message we build has its mandatory AVPs and application AVPs are checked
            // when the session is opened, so this is a bug, not a peer's doing.
            Err(e) => {
                debug_assert!(false, "emit {:?} failed: {e}", msg.kind);
                ctx.stats.count(DropReason::EncodeFailed);
            }
        }
    }

    /// Hands whatever the channel may send now to the endpoint's transmit queue.
    pub fn flush(&mut self, ctx: &mut Ctx<'_>) {
        let (local, remote) = (self.local, self.remote);
        let transmits = &mut *ctx.transmits;
        self.channel.transmit(ctx.now, self.peer_id, |payload| {
            transmits.push_back(Transmit {
                local,
                remote,
                payload,
            })
        });
    }

    pub fn deadline(&self) -> Option<Instant> {
        [self.channel.deadline(), self.hello_at, self.close_at]
            .into_iter()
            .flatten()
            .min()
    }

    pub fn is_closed(&self) -> bool {
        self.state == TunnelState::Closed
    }

    fn closing(&self) -> bool {
        matches!(
            self.state,
            TunnelState::Stopping | TunnelState::Lingering | TunnelState::Closed
        )
    }

    /// The peer showed signs of life: RFC 2661 §5.5 counts data and control alike.
    pub fn note_activity(&mut self, now: Instant) {
        if !self.closing() && self.state == TunnelState::Established {
            self.hello_at = Some(now + self.config.hello_interval);
        }
    }

    // ---------------------------------------------------------------- receiving

    /// A control message for this tunnel (header already checked).
    pub fn handle_control(&mut self, ctx: &mut Ctx<'_>, header: ControlHeader, body: &[u8]) {
        if self.state == TunnelState::Closed {
            return;
        }
        self.note_activity(ctx.now);
        let item = if body.is_empty() {
            None
        } else {
            let pctx = ParseContext {
                secret: self.secret(),
                vendor_id: self.config.vendor_id,
            };
            let msg = Message::parse(body, &pctx).map_err(|e| (e, peek(body)));
            Some(Incoming {
                session_id: header.session_id,
                msg,
            })
        };
        match self.channel.on_receive(ctx.now, header.ns, header.nr, item) {
            Received::Duplicate => ctx.stats.count(DropReason::Duplicate),
            Received::OutOfWindow => ctx.stats.count(DropReason::OutOfWindow),
            Received::Zlb | Received::InOrder | Received::Held => {}
        }
        while let Some(incoming) = self.channel.pop_delivered() {
            self.dispatch(ctx, incoming);
        }
        if self.state == TunnelState::Stopping && self.channel.unacked() == 0 {
            // RFC 2661 §7.6: our StopCCN is acknowledged; nothing left to keep.
            self.state = TunnelState::Closed;
        }
        self.flush(ctx);
    }

    /// A data message for this tunnel that reached the endpoint (slow path).
    pub fn handle_data(&mut self, ctx: &mut Ctx<'_>, session_id: u16, payload: &[u8]) {
        self.note_activity(ctx.now);
        match self.sessions.get(&session_id) {
            Some(s) if s.state == SessionState::Established => ctx.events.push_back(Event::Data {
                tunnel: self.id,
                session: session_id,
                payload: payload.to_vec(),
            }),
            Some(_) => ctx.stats.count(DropReason::DataBeforeEstablished),
            None => ctx.stats.count(DropReason::UnknownSession),
        }
    }

    fn dispatch(&mut self, ctx: &mut Ctx<'_>, incoming: Incoming) {
        if self.closing() {
            return; // §5.7: after StopCCN only the reliable transport keeps running.
        }
        if matches!(
            self.state,
            TunnelState::WaitCtlConn | TunnelState::WaitCtlReply
        ) && incoming.is_session_message()
        {
            // RFC 2661 §5.0 wants the tunnel up before any call, but xl2tpd as LAC sends its
            // ICRQ right behind its SCCRQ when the SCCRP is slow, so the ICRQ's Ns comes before
            // the SCCCN's. Keep such calls until the tunnel is established rather than tear the
            // tunnel down over the order.
            if self.early.len() < EARLY_SESSION_MESSAGES {
                self.early.push(incoming);
                return;
            }
            return self.protocol_stop(
                ctx,
                StopCcnResult::FsmError,
                None,
                "too many call messages before the tunnel was established".into(),
            );
        }
        let msg = match incoming.msg {
            Ok(m) => m,
            Err((e, peeked)) => return self.on_malformed(ctx, incoming.session_id, e, peeked),
        };
        if msg.kind.is_session_message() {
            if self.state != TunnelState::Established {
                return self.protocol_stop(
                    ctx,
                    StopCcnResult::FsmError,
                    None,
                    format!("{:?} before the tunnel is established", msg.kind),
                );
            }
            return self.dispatch_session(ctx, incoming.session_id, msg);
        }
        if matches!(
            (msg.kind, self.state),
            (MessageType::Sccrq, TunnelState::Idle)
                | (MessageType::Sccrp, TunnelState::WaitCtlReply)
        ) {
            // Learn the peer's tunnel ID first, so even a refusal reaches it.
            self.learn_peer(&msg.avps);
        }
        if msg.kind != MessageType::StopCcn
            && let Some(u) = msg.avps.unknown_mandatory()
        {
            // RFC 2661 §4.1: an unknown M=1 AVP in a tunnel message ends the tunnel.
            let detail = format!(
                "unknown mandatory AVP {} (vendor {}) in {:?}",
                u.attr, u.vendor_id, msg.kind
            );
            return self.protocol_stop(
                ctx,
                StopCcnResult::GeneralError,
                Some(ErrorCode::UnknownMandatoryAvp),
                detail,
            );
        }
        match (msg.kind, self.state) {
            (MessageType::Sccrq, TunnelState::Idle) => self.on_sccrq(ctx, msg.avps),
            (MessageType::Sccrp, TunnelState::WaitCtlReply) => self.on_sccrp(ctx, msg.avps),
            (MessageType::Scccn, TunnelState::WaitCtlConn) => self.on_scccn(ctx, msg.avps),
            (MessageType::StopCcn, _) => self.on_stopccn(ctx, msg.avps),
            (MessageType::Hello, _) => {}
            (kind, state) => self.protocol_stop(
                ctx,
                StopCcnResult::FsmError,
                None,
                format!("{kind:?} received in state {state:?}"),
            ),
        }
    }

    fn on_malformed(&mut self, ctx: &mut Ctx<'_>, session_id: u16, e: WireError, peeked: Peek) {
        ctx.stats.count(DropReason::MalformedMessage);
        if self.state == TunnelState::Idle {
            // An SCCRQ we cannot read: there is no tunnel to refuse yet; drop it.
            self.state = TunnelState::Closed;
            return;
        }
        if let WireError::UnknownMessageType { mandatory, value } = e {
            // RFC 2661 §4.4.1: unknown type with M=1 clears the tunnel; with M=0 it is ignored.
            if mandatory {
                self.protocol_stop(
                    ctx,
                    StopCcnResult::GeneralError,
                    Some(ErrorCode::UnknownMandatoryAvp),
                    format!("unknown message type {value}"),
                );
            }
            return;
        }
        let kind = peeked.kind.and_then(MessageType::from_code);
        if kind.is_some_and(MessageType::is_session_message)
            && self.state == TunnelState::Established
        {
            // RFC 2661 §7.1: a malformed session message ends the session, not the tunnel.
            let local = if session_id != 0 {
                Some(session_id)
            } else {
                peeked
                    .assigned_session_id
                    .and_then(|p| self.by_peer_session.get(&p).copied())
            };
            let detail = format!("malformed {:?}: {e}", kind.unwrap_or(MessageType::Cdn));
            if let Some(sid) = local.filter(|s| self.sessions.contains_key(s)) {
                self.session_protocol_error(
                    ctx,
                    sid,
                    CdnResult::GeneralError,
                    Some(e.error_code()),
                    detail,
                );
            } else if let (Some(MessageType::Icrq), Some(peer_sid)) =
                (kind, peeked.assigned_session_id)
            {
                self.refuse_call(
                    ctx,
                    peer_sid,
                    CdnResult::GeneralError,
                    Some(e.error_code()),
                    Some(detail),
                );
            }
            return;
        }
        let result = StopCcnResult::GeneralError;
        self.protocol_stop(
            ctx,
            result,
            Some(e.error_code()),
            format!("malformed {kind:?}: {e}"),
        );
    }

    fn check_version(&mut self, ctx: &mut Ctx<'_>, a: &Avps) -> bool {
        let v = a.protocol_version.unwrap_or(ProtocolVersion::V1_0);
        if v != ProtocolVersion::V1_0 {
            // RFC 2661 §4.4.2: result 5, the error code carries the highest version we support.
            let highest = ErrorCode::Other(
                ((ProtocolVersion::V1_0.version as u16) << 8)
                    | ProtocolVersion::V1_0.revision as u16,
            );
            self.protocol_stop(
                ctx,
                StopCcnResult::UnsupportedVersion,
                Some(highest),
                format!("protocol version {}.{}", v.version, v.revision),
            );
            return false;
        }
        true
    }

    fn learn_peer(&mut self, a: &Avps) {
        let window = a
            .receive_window_size
            .unwrap_or(super::config::PEER_DEFAULT_RECEIVE_WINDOW);
        self.channel.set_peer_window(window);
        self.peer_id = a.assigned_tunnel_id.unwrap_or(0);
        self.peer = Some(PeerInfo {
            remote: self.remote,
            local: self.local,
            peer_tunnel_id: self.peer_id,
            host_name: a.host_name.clone().unwrap_or_default(),
            vendor_name: a.vendor_name.clone(),
            firmware_revision: a.firmware_revision,
            protocol_version: a.protocol_version.unwrap_or(ProtocolVersion::V1_0),
            framing_capabilities: a.framing_capabilities.unwrap_or(Framing(0)),
            bearer_capabilities: a.bearer_capabilities,
            receive_window: self.channel.peer_window(),
            capabilities: a.capabilities.unwrap_or(Capabilities::NONE),
            initiator: self.initiator,
        });
    }

    /// The response we owe to a peer's challenge, or an authentication failure (RFC 2661 §5.1.1).
    fn answer_challenge(
        &mut self,
        ctx: &mut Ctx<'_>,
        a: &Avps,
        reply_type: MessageType,
    ) -> Result<Option<[u8; 16]>, ()> {
        let Some(ch) = &a.challenge else {
            return Ok(None);
        };
        match self.secret() {
            Some(s) => Ok(Some(challenge_response(reply_type.code() as u8, s, ch))),
            None => {
                self.auth_stop(
                    ctx,
                    "peer sent a challenge but no secret is configured for it".into(),
                );
                Err(())
            }
        }
    }

    /// Checks the peer's response to our challenge (RFC 2661 §5.1.1).
    fn verify_response(&mut self, ctx: &mut Ctx<'_>, a: &Avps, carried_by: MessageType) -> bool {
        let (Some(ours), Some(secret)) = (self.our_challenge, self.secret()) else {
            return true;
        };
        let want = challenge_response(carried_by.code() as u8, secret, &ours);
        match &a.challenge_response {
            Some(got) if responses_match(&want, got) => true,
            Some(_) => {
                self.auth_stop(ctx, format!("wrong challenge response in {carried_by:?}"));
                false
            }
            None => {
                self.auth_stop(ctx, format!("{carried_by:?} lacks the challenge response"));
                false
            }
        }
    }

    fn on_sccrq(&mut self, ctx: &mut Ctx<'_>, a: Avps) {
        if let Some(result) = self.reject {
            return self.stop(ctx, result, None, None, None);
        }
        if !self.check_version(ctx, &a) {
            return;
        }
        let Ok(response) = self.answer_challenge(ctx, &a, MessageType::Sccrp) else {
            return;
        };
        let mut m = Message::new(MessageType::Sccrp);
        self.fill_start(ctx, &mut m.avps, a.capabilities.is_some());
        m.avps.challenge_response = response;
        self.state = TunnelState::WaitCtlConn;
        self.send(ctx, 0, &m);
        self.hello_at = Some(ctx.now + self.config.hello_interval);
    }

    fn on_sccrp(&mut self, ctx: &mut Ctx<'_>, a: Avps) {
        if !self.check_version(ctx, &a) || !self.verify_response(ctx, &a, MessageType::Sccrp) {
            return;
        }
        let Ok(response) = self.answer_challenge(ctx, &a, MessageType::Scccn) else {
            return;
        };
        let mut m = Message::new(MessageType::Scccn);
        m.avps.challenge_response = response;
        self.send(ctx, 0, &m);
        self.established(ctx);
    }

    fn on_scccn(&mut self, ctx: &mut Ctx<'_>, a: Avps) {
        if self.verify_response(ctx, &a, MessageType::Scccn) {
            self.established(ctx);
        }
    }

    fn established(&mut self, ctx: &mut Ctx<'_>) {
        self.state = TunnelState::Established;
        self.announced = true;
        self.hello_at = Some(ctx.now + self.config.hello_interval);
        if let Some(p) = &self.peer {
            ctx.events.push_back(Event::TunnelUp {
                tunnel: self.id,
                peer: Box::new(p.clone()),
            });
        }
        for incoming in std::mem::take(&mut self.early) {
            self.dispatch(ctx, incoming);
        }
        // §7.4.1 wait-tunnel → wait-reply: the sessions opened early send their ICRQ now.
        let mut waiting: Vec<SessionId> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.state == SessionState::WaitTunnel)
            .map(|(id, _)| *id)
            .collect();
        waiting.sort_unstable();
        for sid in waiting {
            self.send_icrq(ctx, sid);
        }
    }

    fn on_stopccn(&mut self, ctx: &mut Ctx<'_>, a: Avps) {
        // RFC 2661 §5.7: acknowledge at once, clean up, and keep enough state to acknowledge
        // retransmissions for a full retransmission cycle.
        self.channel.ack_immediately();
        let result = a.result_code.unwrap_or(ResultCode::new(0));
        self.down(ctx, TunnelDownCause::PeerStopCcn { result });
        self.state = TunnelState::Lingering;
        self.hello_at = None;
        self.close_at = Some(ctx.now + self.config.stop_linger);
    }

    // ---------------------------------------------------------------- teardown

    /// Reports every session and then the tunnel down (once).
    fn down(&mut self, ctx: &mut Ctx<'_>, cause: TunnelDownCause) {
        let mut ids: Vec<SessionId> = self.sessions.keys().copied().collect();
        ids.sort_unstable();
        for sid in ids {
            ctx.events.push_back(Event::SessionDown {
                tunnel: self.id,
                session: sid,
                cause: SessionDownCause::TunnelDown,
            });
        }
        self.sessions.clear();
        self.by_peer_session.clear();
        if self.announced {
            ctx.events.push_back(Event::TunnelDown {
                tunnel: self.id,
                cause,
            });
        }
        self.announced = false;
    }

    /// Sends StopCCN (RFC 2661 §6.4) and tears everything down.
    pub fn stop(
        &mut self,
        ctx: &mut Ctx<'_>,
        result: StopCcnResult,
        error: Option<ErrorCode>,
        message: Option<String>,
        cause: Option<TunnelDownCause>,
    ) {
        if self.closing() {
            return;
        }
        let mut m = Message::new(MessageType::StopCcn);
        m.avps.assigned_tunnel_id = Some(self.id);
        m.avps.result_code = Some(ResultCode {
            result: result.code(),
            error: error.map(ErrorCode::code),
            message,
        });
        self.send(ctx, 0, &m);
        self.down(
            ctx,
            cause.unwrap_or(TunnelDownCause::Local { result, error }),
        );
        self.state = TunnelState::Stopping;
        self.hello_at = None;
        self.close_at = Some(ctx.now + self.config.stop_linger);
        self.flush(ctx);
    }

    fn protocol_stop(
        &mut self,
        ctx: &mut Ctx<'_>,
        result: StopCcnResult,
        error: Option<ErrorCode>,
        detail: String,
    ) {
        let cause = TunnelDownCause::ProtocolError {
            result,
            error,
            detail: detail.clone(),
        };
        self.stop(ctx, result, error, Some(detail), Some(cause));
    }

    fn auth_stop(&mut self, ctx: &mut Ctx<'_>, detail: String) {
        let cause = TunnelDownCause::AuthenticationFailed {
            detail: detail.clone(),
        };
        self.stop(
            ctx,
            StopCcnResult::NotAuthorized,
            None,
            Some(detail),
            Some(cause),
        );
    }

    /// Silently drops the tunnel (RFC 2661 §4.4.3: the loser of a tie MUST silently discard it).
    pub fn discard(&mut self, ctx: &mut Ctx<'_>, cause: TunnelDownCause) {
        if self.state == TunnelState::Closed {
            return;
        }
        self.down(ctx, cause);
        self.state = TunnelState::Closed;
    }

    /// Timers: retransmission, delayed ack, HELLO, linger.
    pub fn handle_timeout(&mut self, ctx: &mut Ctx<'_>) {
        let now = ctx.now;
        if self.state == TunnelState::Closed {
            return;
        }
        let (local, remote) = (self.local, self.remote);
        let transmits = &mut *ctx.transmits;
        let r = self.channel.handle_timeout(now, |payload| {
            transmits.push_back(Transmit {
                local,
                remote,
                payload,
            })
        });
        if let Err(PeerUnreachable) = r {
            // §5.8: the tunnel and all sessions MUST be cleared; a StopCCN would not arrive either.
            self.down(ctx, TunnelDownCause::PeerUnreachable);
            self.state = TunnelState::Closed;
            return;
        }
        if self.close_at.is_some_and(|t| now >= t) {
            self.state = TunnelState::Closed;
            return;
        }
        if self.hello_at.is_some_and(|t| now >= t) {
            match self.state {
                TunnelState::Established => {
                    // §5.5: nothing heard for the interval: probe. When messages are already
                    // outstanding their retransmission is the probe.
                    if self.channel.unacked() == 0 {
                        self.send(ctx, 0, &Message::new(MessageType::Hello));
                    }
                    self.hello_at = Some(now + self.config.hello_interval);
                }
                TunnelState::Idle | TunnelState::WaitCtlReply | TunnelState::WaitCtlConn => {
                    self.protocol_stop(
                        ctx,
                        StopCcnResult::GeneralClear,
                        None,
                        "control connection establishment did not complete".into(),
                    );
                }
                _ => self.hello_at = None,
            }
        }
        self.flush(ctx);
    }

    // ---------------------------------------------------------------- sessions

    fn alloc_session_id(&self, ctx: &mut Ctx<'_>) -> Option<SessionId> {
        for _ in 0..32 {
            let id = ctx.rng.random_range(1..=u16::MAX);
            if !self.sessions.contains_key(&id) {
                return Some(id);
            }
        }
        (1..=u16::MAX).find(|id| !self.sessions.contains_key(id))
    }

    /// LAC: a new incoming call to carry (RFC 2661 §7.4.1 idle → wait-tunnel / wait-reply).
    pub fn open_session(
        &mut self,
        ctx: &mut Ctx<'_>,
        request: SessionRequest,
    ) -> Result<SessionId, ApiError> {
        if self.closing() {
            return Err(ApiError::TunnelClosing);
        }
        if self.sessions.len() as u64 >= self.config.max_sessions as u64 {
            return Err(ApiError::TooManySessions);
        }
        if self.state == TunnelState::Established
            && request.icrq.switchover.is_some()
            && !self
                .shared_capabilities()
                .has(Capabilities::LIVE_SESSION_MOVE)
        {
            return Err(ApiError::PeerLacksCapability);
        }
        let mut request = Box::new(request);
        // Check the application's AVPs encode (sizes) before anything is queued.
        let (icrq, iccn) = build_call_messages(&mut request, 1, 1);
        let ectx = EmitContext {
            secret: None,
            hide: HideSet::NONE,
            random_vector: [0; 16],
            vendor_id: self.config.vendor_id,
        };
        for m in [&icrq, &iccn] {
            m.emit(&ControlHeader::default(), &ectx, &mut Vec::new())
                .map_err(ApiError::Encode)?;
        }
        let sid = self
            .alloc_session_id(ctx)
            .ok_or(ApiError::TooManySessions)?;
        let state = SessionState::WaitTunnel;
        self.sessions.insert(
            sid,
            Session {
                peer_id: 0,
                state,
                lac: true,
                request: Some(request),
                sequencing_required: false,
                data_ns: 0,
            },
        );
        if self.state == TunnelState::Established {
            self.send_icrq(ctx, sid);
            self.flush(ctx);
        }
        Ok(sid)
    }

    fn send_icrq(&mut self, ctx: &mut Ctx<'_>, sid: SessionId) {
        let shared = self.shared_capabilities();
        let Some(s) = self.sessions.get_mut(&sid) else {
            return;
        };
        let Some(req) = s.request.as_mut() else {
            return;
        };
        if req.icrq.switchover.is_some() && !shared.has(Capabilities::LIVE_SESSION_MOVE) {
            // Never send a vendor AVP to a peer that did not advertise it.
            self.sessions.remove(&sid);
            ctx.events.push_back(Event::SessionDown {
                tunnel: self.id,
                session: sid,
                cause: SessionDownCause::PeerLacksCapability,
            });
            return;
        }
        *ctx.call_serial = ctx.call_serial.wrapping_add(1);
        let (icrq, _) = build_call_messages(req, sid, *ctx.call_serial);
        s.state = SessionState::WaitReply;
        self.send(ctx, 0, &icrq);
    }

    fn dispatch_session(&mut self, ctx: &mut Ctx<'_>, header_sid: u16, msg: Message) {
        let a = &msg.avps;
        // Find our session: by the header's session ID, or before the peer learned ours, by its
        // Assigned Session ID (RFC 2661 §4.4.4, CDN during ICRQ).
        let sid = if header_sid != 0 {
            Some(header_sid)
        } else if msg.kind != MessageType::Icrq {
            a.assigned_session_id
                .and_then(|p| self.by_peer_session.get(&p).copied())
        } else {
            None
        };
        if msg.kind == MessageType::Icrq {
            return self.on_icrq(ctx, header_sid, msg.avps);
        }
        if msg.kind == MessageType::Ocrq {
            // We place no outgoing calls (no Bearer Capabilities advertised): §7.5.1 "not acceptable".
            if let Some(peer_sid) = a.assigned_session_id {
                let text = Some("outgoing calls are not supported".to_string());
                self.refuse_call(ctx, peer_sid, CdnResult::PermanentFacilities, None, text);
            }
            return;
        }
        let Some(sid) = sid.filter(|s| self.sessions.contains_key(s)) else {
            // §7.4: messages for a session we do not have are cleaned up (ignored).
            ctx.stats.count(DropReason::UnknownSession);
            return;
        };
        if msg.kind != MessageType::Cdn
            && let Some(u) = a.unknown_mandatory()
        {
            // RFC 2661 §4.1: an unknown M=1 AVP in a session message ends the session.
            let detail = format!(
                "unknown mandatory AVP {} (vendor {}) in {:?}",
                u.attr, u.vendor_id, msg.kind
            );
            return self.session_protocol_error(
                ctx,
                sid,
                CdnResult::GeneralError,
                Some(ErrorCode::UnknownMandatoryAvp),
                detail,
            );
        }
        let Some(s) = self.sessions.get_mut(&sid) else {
            return;
        };
        match (msg.kind, s.state, s.lac) {
            (MessageType::Cdn, _, _) => {
                let s = self.sessions.remove(&sid);
                if let Some(s) = s {
                    self.by_peer_session.remove(&s.peer_id);
                }
                let Avps {
                    result_code,
                    q931_cause,
                    disconnect_cause,
                    ..
                } = msg.avps;
                let cause = SessionDownCause::PeerCdn {
                    result: result_code.unwrap_or(ResultCode::new(0)),
                    q931: q931_cause,
                    cause: disconnect_cause,
                };
                ctx.events.push_back(Event::SessionDown {
                    tunnel: self.id,
                    session: sid,
                    cause,
                });
            }
            (MessageType::Icrp, SessionState::WaitReply, true) => {
                let peer_sid = a.assigned_session_id.unwrap_or(0);
                s.peer_id = peer_sid;
                s.state = SessionState::Established;
                let mut req = s.request.take().unwrap_or_default();
                let (_, iccn) = build_call_messages(&mut req, sid, 0);
                s.sequencing_required = iccn.avps.sequencing_required;
                self.by_peer_session.insert(peer_sid, sid);
                self.send(ctx, peer_sid, &iccn);
                let info = SessionInfo {
                    peer_tunnel_id: self.peer_id,
                    peer_session_id: peer_sid,
                    lac: true,
                    sequencing_required: iccn.avps.sequencing_required,
                    iccn: iccn.avps,
                };
                ctx.events.push_back(Event::SessionUp {
                    tunnel: self.id,
                    session: sid,
                    info: Box::new(info),
                });
            }
            (MessageType::Iccn, SessionState::WaitConnect, false) => {
                s.state = SessionState::Established;
                s.sequencing_required = a.sequencing_required;
                let info = SessionInfo {
                    peer_tunnel_id: self.peer_id,
                    peer_session_id: s.peer_id,
                    lac: false,
                    sequencing_required: a.sequencing_required,
                    iccn: msg.avps,
                };
                ctx.events.push_back(Event::SessionUp {
                    tunnel: self.id,
                    session: sid,
                    info: Box::new(info),
                });
            }
            (MessageType::Sli, SessionState::Established, _) => {
                if let Some(accm) = a.accm {
                    ctx.events.push_back(Event::SetLinkInfo {
                        tunnel: self.id,
                        session: sid,
                        accm,
                    });
                }
            }
            (MessageType::Wen, SessionState::Established, _) => {
                if let Some(errors) = a.call_errors {
                    ctx.events.push_back(Event::WanErrorNotify {
                        tunnel: self.id,
                        session: sid,
                        errors,
                    });
                }
            }
            (kind, state, _) => {
                // §7.4.1/§7.4.2: a call message out of turn: send CDN, clean up.
                let detail = format!("{kind:?} received in session state {state:?}");
                self.session_protocol_error(
                    ctx,
                    sid,
                    CdnResult::GeneralError,
                    Some(ErrorCode::NoError),
                    detail,
                );
            }
        }
    }

    /// LNS: an ICRQ (RFC 2661 §7.4.2 idle).
    fn on_icrq(&mut self, ctx: &mut Ctx<'_>, header_sid: u16, a: Avps) {
        let peer_sid = a.assigned_session_id.unwrap_or(0);
        if header_sid != 0 {
            let text = Some("ICRQ must be sent with session ID 0".to_string());
            return self.refuse_call(
                ctx,
                peer_sid,
                CdnResult::GeneralError,
                Some(ErrorCode::InvalidSessionId),
                text,
            );
        }
        if self.by_peer_session.contains_key(&peer_sid) {
            let text = Some(format!("session ID {peer_sid} is already in use"));
            return self.refuse_call(
                ctx,
                peer_sid,
                CdnResult::GeneralError,
                Some(ErrorCode::InvalidSessionId),
                text,
            );
        }
        if let Some(u) = a.unknown_mandatory() {
            let text = Some(format!(
                "unknown mandatory AVP {} (vendor {})",
                u.attr, u.vendor_id
            ));
            return self.refuse_call(
                ctx,
                peer_sid,
                CdnResult::GeneralError,
                Some(ErrorCode::UnknownMandatoryAvp),
                text,
            );
        }
        if self.sessions.len() as u64 >= self.config.max_sessions as u64 {
            let text = Some("session limit reached".to_string());
            return self.refuse_call(
                ctx,
                peer_sid,
                CdnResult::TemporaryFacilities,
                Some(ErrorCode::InsufficientResources),
                text,
            );
        }
        let Some(sid) = self.alloc_session_id(ctx) else {
            return self.refuse_call(
                ctx,
                peer_sid,
                CdnResult::TemporaryFacilities,
                Some(ErrorCode::InsufficientResources),
                None,
            );
        };
        self.sessions.insert(
            sid,
            Session {
                peer_id: peer_sid,
                state: SessionState::WaitDecision,
                lac: false,
                request: None,
                sequencing_required: false,
                data_ns: 0,
            },
        );
        self.by_peer_session.insert(peer_sid, sid);
        ctx.events.push_back(Event::IncomingCall {
            tunnel: self.id,
            session: sid,
            peer_session_id: peer_sid,
            icrq: Box::new(a),
        });
    }

    /// Sends a CDN for a call we never kept state for (RFC 2661 §7.4.2 "receive ICRQ, not
    /// acceptable"). Our Assigned Session ID is a fresh one we do not keep.
    fn refuse_call(
        &mut self,
        ctx: &mut Ctx<'_>,
        peer_sid: u16,
        result: CdnResult,
        error: Option<ErrorCode>,
        message: Option<String>,
    ) {
        ctx.stats.count(DropReason::CallRefused);
        let Some(ours) = self.alloc_session_id(ctx) else {
            return;
        };
        let mut m = Message::new(MessageType::Cdn);
        m.avps.result_code = Some(ResultCode {
            result: result.code(),
            error: error.map(ErrorCode::code),
            message,
        });
        m.avps.assigned_session_id = Some(ours);
        self.send(ctx, peer_sid, &m);
    }

    fn session_protocol_error(
        &mut self,
        ctx: &mut Ctx<'_>,
        sid: SessionId,
        result: CdnResult,
        error: Option<ErrorCode>,
        detail: String,
    ) {
        let cause = SessionDownCause::ProtocolError {
            result,
            error,
            detail: detail.clone(),
        };
        let reason = CloseReason {
            result,
            error,
            message: Some(detail),
            cause: None,
        };
        self.close_session_with(ctx, sid, reason, cause);
    }

    /// LNS: answer an incoming call with ICRP (§7.4.2 idle → wait-connect).
    pub fn accept_call(&mut self, ctx: &mut Ctx<'_>, sid: SessionId) -> Result<(), ApiError> {
        let s = self
            .sessions
            .get_mut(&sid)
            .ok_or(ApiError::UnknownSession)?;
        if s.state != SessionState::WaitDecision {
            return Err(ApiError::WrongState);
        }
        s.state = SessionState::WaitConnect;
        let peer = s.peer_id;
        let mut m = Message::new(MessageType::Icrp);
        m.avps.assigned_session_id = Some(sid);
        self.send(ctx, peer, &m);
        self.flush(ctx);
        Ok(())
    }

    /// LNS: refuse an incoming call (only while it awaits the decision).
    pub fn reject_call(
        &mut self,
        ctx: &mut Ctx<'_>,
        sid: SessionId,
        reason: CloseReason,
    ) -> Result<(), ApiError> {
        let s = self.sessions.get(&sid).ok_or(ApiError::UnknownSession)?;
        if s.state != SessionState::WaitDecision {
            return Err(ApiError::WrongState);
        }
        self.close_session(ctx, sid, reason)
    }

    /// Either side: end a session with a CDN (RFC 2661 §5.6), in any state.
    pub fn close_session(
        &mut self,
        ctx: &mut Ctx<'_>,
        sid: SessionId,
        reason: CloseReason,
    ) -> Result<(), ApiError> {
        if !self.sessions.contains_key(&sid) {
            return Err(ApiError::UnknownSession);
        }
        let cause = SessionDownCause::Local {
            result: reason.result,
            error: reason.error,
            cause: reason.cause.clone(),
        };
        self.close_session_with(ctx, sid, reason, cause);
        self.flush(ctx);
        Ok(())
    }

    fn close_session_with(
        &mut self,
        ctx: &mut Ctx<'_>,
        sid: SessionId,
        reason: CloseReason,
        cause: SessionDownCause,
    ) {
        let Some(s) = self.sessions.remove(&sid) else {
            return;
        };
        self.by_peer_session.remove(&s.peer_id);
        if s.state != SessionState::WaitTunnel && !self.closing() {
            let mut m = Message::new(MessageType::Cdn);
            let CloseReason {
                result,
                error,
                message,
                cause: vendor,
            } = reason;
            m.avps.result_code = Some(ResultCode {
                result: result.code(),
                error: error.map(ErrorCode::code),
                message,
            });
            m.avps.assigned_session_id = Some(sid);
            if self
                .shared_capabilities()
                .has(Capabilities::DISCONNECT_CAUSE)
            {
                m.avps.disconnect_cause = vendor;
            }
            // Header session ID 0 when the peer never told us its ID (CDN during ICRQ, §6.12).
            self.send(ctx, s.peer_id, &m);
        }
        ctx.events.push_back(Event::SessionDown {
            tunnel: self.id,
            session: sid,
            cause,
        });
    }

    /// Sends one PPP frame on a session's data channel (slow path; the data plane writes its own
    /// headers with [`crate::wire::data::write_header`]).
    pub fn send_data(
        &mut self,
        ctx: &mut Ctx<'_>,
        sid: SessionId,
        payload: &[u8],
    ) -> Result<(), ApiError> {
        let s = self
            .sessions
            .get_mut(&sid)
            .ok_or(ApiError::UnknownSession)?;
        if s.state != SessionState::Established {
            return Err(ApiError::WrongState);
        }
        // RFC 2661 §5.4: with Sequencing Required every data message carries Ns.
        let mut opts = DataHeaderOptions::default();
        if s.sequencing_required {
            opts.ns = Some(s.data_ns);
            s.data_ns = s.data_ns.wrapping_add(1);
        }
        let mut buf = vec![0u8; data::header_len(opts) + payload.len()];
        let h = data::write_header(&mut buf, self.peer_id, s.peer_id, payload.len(), opts)
            .map_err(ApiError::Encode)?;
        buf[h..].copy_from_slice(payload);
        ctx.transmits.push_back(Transmit {
            local: self.local,
            remote: self.remote,
            payload: buf,
        });
        Ok(())
    }
}

/// The ICRQ and ICCN for a LAC session, with the endpoint's own AVPs filled in (RFC 2661 §6.6,
/// §6.8) and nothing vendor-specific but the switchover.
fn build_call_messages(
    req: &mut SessionRequest,
    sid: SessionId,
    serial: u32,
) -> (Message, Message) {
    let mut icrq = Message {
        kind: MessageType::Icrq,
        avps: req.icrq.clone(),
    };
    icrq.avps.assigned_session_id = Some(sid);
    icrq.avps.call_serial_number = Some(serial);
    icrq.avps.capabilities = None;
    icrq.avps.disconnect_cause = None;
    let mut iccn = Message {
        kind: MessageType::Iccn,
        avps: req.iccn.clone(),
    };
    iccn.avps.tx_connect_speed.get_or_insert(10_000_000);
    iccn.avps.framing_type.get_or_insert(Framing(Framing::SYNC));
    iccn.avps.capabilities = None;
    iccn.avps.switchover = None;
    iccn.avps.disconnect_cause = None;
    (icrq, iccn)
}

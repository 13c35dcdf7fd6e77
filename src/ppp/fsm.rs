//! The option negotiation automaton of RFC 1661 §4, shared by LCP and IPCP.
//!
//! Owns: the ten states, the event/action table of RFC 1661 §4.1, the Restart timer and the
//! Max-Configure, Max-Terminate and Max-Failure counters of §4.6, identifier bookkeeping, and the
//! Configure/Terminate/Code-Reject packets common to every control protocol. The meaning of options
//! is delegated to a `Negotiator` (one for LCP, one for IPCP), so there is one automaton and two
//! option sets. Must not touch: LCP-only codes (Protocol-Reject, Echo, Discard), which the link
//! handles before calling in, and anything about phases.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::Error;
use super::packet::{HEADER_LEN, PacketRepr, parse_options};

/// Codes common to every control protocol built on the automaton (RFC 1661 §5).
pub mod code {
    /// Configure-Request (RFC 1661 §5.1).
    pub const CONFIGURE_REQUEST: u8 = 1;
    /// Configure-Ack (§5.2).
    pub const CONFIGURE_ACK: u8 = 2;
    /// Configure-Nak (§5.3).
    pub const CONFIGURE_NAK: u8 = 3;
    /// Configure-Reject (§5.4).
    pub const CONFIGURE_REJECT: u8 = 4;
    /// Terminate-Request (§5.5).
    pub const TERMINATE_REQUEST: u8 = 5;
    /// Terminate-Ack (§5.5).
    pub const TERMINATE_ACK: u8 = 6;
    /// Code-Reject (§5.6).
    pub const CODE_REJECT: u8 = 7;
}

/// The automaton's counters and Restart timer (RFC 1661 §4.6). One set serves LCP, IPCP and the
/// authentication retransmissions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NegotiationConfig {
    /// Restart timer: time to wait for a reply to a Configure-Request or Terminate-Request.
    /// RFC 1661 §4.6 says it "MUST be configurable, but SHOULD default to three (3) seconds".
    pub restart_interval: Duration,
    /// Configure-Requests sent without a valid reply before giving up (default 10).
    pub max_configure: u32,
    /// Terminate-Requests sent without a Terminate-Ack before giving up (default 2).
    pub max_terminate: u32,
    /// Configure-Naks sent without sending a Configure-Ack before further Naks become Rejects
    /// (default 5).
    pub max_failure: u32,
}

impl NegotiationConfig {
    /// RFC 1661 §4.6 default Restart timer.
    pub const DEFAULT_RESTART_INTERVAL: Duration = Duration::from_secs(3);
    /// RFC 1661 §4.6 default Max-Configure.
    pub const DEFAULT_MAX_CONFIGURE: u32 = 10;
    /// RFC 1661 §4.6 default Max-Terminate.
    pub const DEFAULT_MAX_TERMINATE: u32 = 2;
    /// RFC 1661 §4.6 default Max-Failure.
    pub const DEFAULT_MAX_FAILURE: u32 = 5;
}

impl Default for NegotiationConfig {
    fn default() -> Self {
        Self {
            restart_interval: Self::DEFAULT_RESTART_INTERVAL,
            max_configure: Self::DEFAULT_MAX_CONFIGURE,
            max_terminate: Self::DEFAULT_MAX_TERMINATE,
            max_failure: Self::DEFAULT_MAX_FAILURE,
        }
    }
}

/// The automaton states (RFC 1661 §4.2), numbered as in the §4.1 table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// 0: lower layer down, no Open.
    Initial,
    /// 1: Open issued, lower layer still down.
    Starting,
    /// 2: lower layer up, no Open.
    Closed,
    /// 3: finished or passively waiting for the peer.
    Stopped,
    /// 4: Terminate-Request sent after a Close.
    Closing,
    /// 5: Terminate-Request sent or received, link going down.
    Stopping,
    /// 6: Configure-Request sent, nothing acknowledged yet.
    ReqSent,
    /// 7: our Configure-Request acknowledged, the peer's not yet.
    AckRcvd,
    /// 8: the peer's Configure-Request acknowledged, ours not yet.
    AckSent,
    /// 9: both acknowledged.
    Opened,
}

impl State {
    /// RFC 1661 §4.1: "The states in which the Restart timer is running are identifiable by the
    /// presence of TO events."
    fn timer_runs(self) -> bool {
        matches!(
            self,
            State::Closing | State::Stopping | State::ReqSent | State::AckRcvd | State::AckSent
        )
    }

    fn negotiating(self) -> bool {
        matches!(self, State::ReqSent | State::AckRcvd | State::AckSent)
    }
}

/// How a Configure-Request's options are answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Every option acceptable: Configure-Ack with the options unchanged (RFC 1661 §5.2).
    Ack,
    /// Configure-Nak carrying these options (RFC 1661 §5.3).
    Nak(Vec<u8>),
    /// Configure-Reject carrying these options, verbatim from the request (RFC 1661 §5.4).
    Reject(Vec<u8>),
}

/// The per-protocol option logic the automaton calls out to.
pub(crate) trait Negotiator {
    /// Forget the previous negotiation and go back to the configured wishes. Called when a new
    /// negotiation starts (the first Configure-Request sent outside Req-Sent/Ack-Rcvd/Ack-Sent).
    fn reset(&mut self);
    /// The options of our next Configure-Request.
    fn request(&mut self) -> Vec<u8>;
    /// Judges the peer's Configure-Request. `naks_exhausted` is true once Max-Failure Naks have been
    /// sent without an Ack: options that would be Naked must now be Rejected and no locally desired
    /// options appended (RFC 1661 §4.6). `Err` means the option list is malformed; the request is
    /// then silently discarded.
    fn check_request(&mut self, options: &[u8], naks_exhausted: bool) -> Result<Verdict, Error>;
    /// Our request `options` was acknowledged (already checked to match exactly).
    fn ack_received(&mut self, options: &[u8]);
    /// The peer Naked our request. `Err` discards the packet.
    fn nak_received(&mut self, options: &[u8]) -> Result<(), Error>;
    /// The peer Rejected options of our request (already checked to be ours). `Err` discards it.
    fn reject_received(&mut self, options: &[u8]) -> Result<(), Error>;
}

/// The layer actions of RFC 1661 §4.4 that the automaton reports upward.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LayerEvent {
    /// This-Layer-Up (tlu): the automaton entered Opened.
    Up,
    /// This-Layer-Down (tld): the automaton left Opened.
    Down,
    /// This-Layer-Started (tls): the lower layer is needed.
    Started,
    /// This-Layer-Finished (tlf): the lower layer is no longer needed.
    Finished,
}

/// What the automaton made of a received packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Rx {
    /// The packet drove the automaton.
    Processed,
    /// A Terminate-Request was received (the data is the peer's reason).
    TerminateRequest(Vec<u8>),
    /// A Code-Reject was received for this code; `catastrophic` is RXJ- (RFC 1661 §4.3).
    CodeReject { code: u8, catastrophic: bool },
    /// Silently discarded as RFC 1661 requires (wrong identifier, wrong state...).
    Discarded(&'static str),
    /// Silently discarded because it is malformed.
    Malformed(Error),
}

/// Where the automaton writes: the instant, its Restart-timer slot in the owner's timer table, and
/// the transmit queue (frames starting at the PPP Protocol field).
pub(crate) struct Ctx<'a> {
    pub now: Instant,
    pub timer: &'a mut Option<Instant>,
    pub tx: &'a mut VecDeque<Vec<u8>>,
}

/// The option negotiation automaton for one control protocol.
#[derive(Debug, Clone)]
pub(crate) struct Fsm<N> {
    protocol: u16,
    state: State,
    cfg: NegotiationConfig,
    /// Options logic.
    pub neg: N,
    restart_count: u32,
    /// Configure-Naks sent since we last sent a Configure-Ack (Max-Failure).
    naks_sent: u32,
    next_id: u8,
    req_id: u8,
    /// The options of the last Configure-Request sent; an Ack must match them exactly.
    last_request: Vec<u8>,
    /// Whether a valid reply to `req_id` was already processed. Like pppd's `seen_ack`, a second
    /// reply to the same request (the peer answering our retransmission too) is a duplicate and is
    /// discarded rather than read as the "crossed connection" of RFC 1661 §4.3, which would tear an
    /// Opened layer down for nothing.
    answered: bool,
    /// Data carried in our Terminate-Requests.
    terminate_reason: Vec<u8>,
    layer_events: VecDeque<LayerEvent>,
    /// The largest packet the peer accepts (its MRU); Code-Rejects are truncated to it.
    peer_mru: usize,
}

impl<N: Negotiator> Fsm<N> {
    pub fn new(protocol: u16, cfg: NegotiationConfig, neg: N, first_id: u8) -> Self {
        Self {
            protocol,
            state: State::Initial,
            cfg,
            neg,
            restart_count: 0,
            naks_sent: 0,
            next_id: first_id,
            req_id: first_id,
            last_request: Vec::new(),
            answered: true,
            terminate_reason: Vec::new(),
            layer_events: VecDeque::new(),
            peer_mru: 1500,
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn last_request(&self) -> &[u8] {
        &self.last_request
    }

    pub fn set_peer_mru(&mut self, mru: u16) {
        self.peer_mru = usize::from(mru).max(HEADER_LEN + 4);
    }

    /// Takes the next layer action produced by the last call.
    pub fn take_layer_event(&mut self) -> Option<LayerEvent> {
        self.layer_events.pop_front()
    }

    /// Puts the automaton straight into Opened with `request` as our acknowledged request, as if
    /// negotiation had happened elsewhere (proxy LCP, RFC 2661 §4.4.5). No layer action is emitted.
    pub fn force_opened(&mut self, request: Vec<u8>) {
        self.last_request = request;
        self.answered = true;
        self.state = State::Opened;
    }

    /// Allocates an identifier for a packet the owner sends outside the automaton (Echo-Request,
    /// Protocol-Reject...), so identifiers never repeat back to back.
    pub fn alloc_id(&mut self) -> u8 {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        id
    }

    /// Places the automaton in `state` with one outstanding, unanswered request and the given
    /// restart count, so the whole §4.1 table can be exercised.
    #[cfg(test)]
    fn place(&mut self, state: State, restart_count: u32) {
        self.state = state;
        self.restart_count = restart_count;
        self.last_request = self.neg.request();
        self.req_id = 0x10;
        self.answered = false;
    }

    // ----- events (RFC 1661 §4.3) -----

    /// Up: the lower layer is ready.
    pub fn up(&mut self, ctx: &mut Ctx<'_>) {
        match self.state {
            State::Initial => self.state = State::Closed,
            State::Starting => {
                self.irc_configure();
                self.scr(ctx, false);
                self.state = State::ReqSent;
            }
            _ => {}
        }
        self.settle(ctx);
    }

    /// Down: the lower layer is gone.
    pub fn down(&mut self, ctx: &mut Ctx<'_>) {
        match self.state {
            State::Closed | State::Closing => self.state = State::Initial,
            State::Stopped => {
                self.layer(LayerEvent::Started);
                self.state = State::Starting;
            }
            State::Stopping | State::ReqSent | State::AckRcvd | State::AckSent => {
                self.state = State::Starting
            }
            State::Opened => {
                self.layer(LayerEvent::Down);
                self.state = State::Starting;
            }
            State::Initial | State::Starting => {}
        }
        self.settle(ctx);
    }

    /// Open: the link is administratively available. The restart option `[r]` is not taken: an
    /// Open in Stopped, Closing, Stopping or Opened changes nothing but Closing into Stopping.
    pub fn open(&mut self, ctx: &mut Ctx<'_>) {
        match self.state {
            State::Initial => {
                self.layer(LayerEvent::Started);
                self.state = State::Starting;
            }
            State::Closed => {
                self.irc_configure();
                self.scr(ctx, false);
                self.state = State::ReqSent;
            }
            State::Closing => self.state = State::Stopping,
            _ => {}
        }
        self.settle(ctx);
    }

    /// Close: the link is no longer allowed to be open. `reason` goes into the Terminate-Request.
    pub fn close(&mut self, ctx: &mut Ctx<'_>, reason: &[u8]) {
        self.terminate_reason = reason.to_vec();
        match self.state {
            State::Starting => {
                self.layer(LayerEvent::Finished);
                self.state = State::Initial;
            }
            State::Stopped => self.state = State::Closed,
            State::Stopping => self.state = State::Closing,
            State::ReqSent | State::AckRcvd | State::AckSent => {
                self.irc_terminate();
                self.str(ctx);
                self.state = State::Closing;
            }
            State::Opened => {
                self.layer(LayerEvent::Down);
                self.irc_terminate();
                self.str(ctx);
                self.state = State::Closing;
            }
            State::Initial | State::Closed | State::Closing => {}
        }
        self.settle(ctx);
    }

    /// The Restart timer expired (TO+ while the restart counter is positive, TO- once it is zero).
    pub fn timeout(&mut self, ctx: &mut Ctx<'_>) {
        *ctx.timer = None;
        let positive = self.restart_count > 0;
        match (self.state, positive) {
            (State::Closing, true) | (State::Stopping, true) => self.str(ctx),
            (State::Closing, false) => {
                self.layer(LayerEvent::Finished);
                self.state = State::Closed;
            }
            (State::Stopping, false) => {
                self.layer(LayerEvent::Finished);
                self.state = State::Stopped;
            }
            (State::ReqSent, true) | (State::AckRcvd, true) => {
                self.scr(ctx, true);
                self.state = State::ReqSent;
            }
            (State::AckSent, true) => self.scr(ctx, true),
            // RFC 1661 §4.1 `tlf/3p`: give up. The passive option is not taken; the owner ends the
            // link on This-Layer-Finished.
            (State::ReqSent | State::AckRcvd | State::AckSent, false) => {
                self.layer(LayerEvent::Finished);
                self.state = State::Stopped;
            }
            _ => {}
        }
        self.settle(ctx);
    }

    /// RXJ- for a reason found outside the automaton (LCP Protocol-Reject of this protocol,
    /// RFC 1661 §5.7).
    pub fn catastrophic_reject(&mut self, ctx: &mut Ctx<'_>) {
        self.rxj_minus(ctx);
        self.settle(ctx);
    }

    /// Handles a packet of this protocol with a code from 1 to 7, or any other code, which is
    /// answered with Code-Reject (RUC). `packet` is the whole packet (header and data).
    pub fn receive(&mut self, ctx: &mut Ctx<'_>, packet: &[u8]) -> Rx {
        let repr = match PacketRepr::parse(packet) {
            Ok(repr) => repr,
            Err(e) => return Rx::Malformed(e),
        };
        if matches!(self.state, State::Initial | State::Starting) {
            // RFC 1661 §4.1 marks every receive event illegal here: the lower layer is not up.
            return Rx::Discarded("packet before the lower layer is up");
        }
        let rx = match repr.code {
            code::CONFIGURE_REQUEST => self.rcr(ctx, &repr),
            code::CONFIGURE_ACK => self.rca(ctx, &repr),
            code::CONFIGURE_NAK | code::CONFIGURE_REJECT => self.rcn(ctx, &repr),
            code::TERMINATE_REQUEST => {
                self.rtr(ctx, repr.identifier);
                Rx::TerminateRequest(repr.data.to_vec())
            }
            code::TERMINATE_ACK => {
                self.rta(ctx);
                Rx::Processed
            }
            code::CODE_REJECT => self.rxj(ctx, &repr),
            _ => {
                self.send_code_reject(ctx, &packet[..repr.buffer_len()]);
                Rx::Processed
            }
        };
        self.settle(ctx);
        rx
    }

    /// Sends a Code-Reject for `packet` (RUC in any state where the lower layer is up).
    pub fn send_code_reject(&mut self, ctx: &mut Ctx<'_>, packet: &[u8]) {
        // RFC 1661 §5.6: "The Rejected-Packet MUST be truncated to comply with the peer's
        // established MRU."
        let room = self.peer_mru.saturating_sub(HEADER_LEN);
        let rejected = &packet[..packet.len().min(room)];
        let id = self.alloc_id();
        self.send(ctx, code::CODE_REJECT, id, rejected);
    }

    /// Sends one packet of this protocol.
    pub fn send(&self, ctx: &mut Ctx<'_>, code: u8, identifier: u8, data: &[u8]) {
        let mut frame = Vec::with_capacity(2 + HEADER_LEN + data.len());
        frame.extend_from_slice(&self.protocol.to_be_bytes());
        let repr = PacketRepr {
            code,
            identifier,
            data,
        };
        frame.extend_from_slice(&repr.to_vec());
        ctx.tx.push_back(frame);
    }

    // ----- receive events -----

    fn rcr(&mut self, ctx: &mut Ctx<'_>, repr: &PacketRepr<'_>) -> Rx {
        match self.state {
            State::Closed => {
                // RFC 1661 §4.1 Closed/RCR: sta/2.
                self.sta(ctx, repr.identifier);
                return Rx::Processed;
            }
            State::Closing | State::Stopping => {
                return Rx::Discarded("Configure-Request while terminating");
            }
            _ => {}
        }
        // Validate the option list before any action so a malformed request changes nothing.
        if let Err(e) = parse_options(repr.data) {
            return Rx::Malformed(e);
        }
        match self.state {
            State::Stopped => {
                self.irc_configure();
                self.scr(ctx, false);
            }
            State::Opened => {
                self.layer(LayerEvent::Down);
                self.scr(ctx, false);
            }
            _ => {}
        }
        let naks_exhausted = self.naks_sent >= self.cfg.max_failure;
        let verdict = match self.neg.check_request(repr.data, naks_exhausted) {
            Ok(v) => v,
            // Cannot happen after parse_options succeeded, but a negotiator may be stricter.
            Err(e) => return Rx::Malformed(e),
        };
        let good = verdict == Verdict::Ack;
        match verdict {
            Verdict::Ack => {
                self.naks_sent = 0;
                self.send(ctx, code::CONFIGURE_ACK, repr.identifier, repr.data);
            }
            Verdict::Nak(opts) => {
                self.naks_sent = self.naks_sent.saturating_add(1);
                self.send(ctx, code::CONFIGURE_NAK, repr.identifier, &opts);
            }
            Verdict::Reject(opts) => {
                self.send(ctx, code::CONFIGURE_REJECT, repr.identifier, &opts);
            }
        }
        self.state = match (self.state, good) {
            (State::Stopped, true) => State::AckSent,
            (State::Stopped, false) => State::ReqSent,
            (State::ReqSent, true) => State::AckSent,
            (State::ReqSent, false) => State::ReqSent,
            (State::AckRcvd, true) => {
                self.layer(LayerEvent::Up);
                State::Opened
            }
            (State::AckRcvd, false) => State::AckRcvd,
            (State::AckSent, true) => State::AckSent,
            (State::AckSent, false) => State::ReqSent,
            (State::Opened, true) => State::AckSent,
            (State::Opened, false) => State::ReqSent,
            (other, _) => other,
        };
        Rx::Processed
    }

    fn reply_is_current(&self, repr: &PacketRepr<'_>) -> Result<(), &'static str> {
        // RFC 1661 §5.2-5.4: the Identifier must match the last transmitted Configure-Request;
        // "Invalid packets are silently discarded."
        if repr.identifier != self.req_id {
            return Err("reply identifier does not match our Configure-Request");
        }
        if self.answered {
            return Err("duplicate reply to an answered Configure-Request");
        }
        Ok(())
    }

    fn rca(&mut self, ctx: &mut Ctx<'_>, repr: &PacketRepr<'_>) -> Rx {
        match self.state {
            State::Closed | State::Stopped => {
                self.sta(ctx, repr.identifier);
                return Rx::Processed;
            }
            State::Closing | State::Stopping => {
                return Rx::Discarded("Configure-Ack while terminating");
            }
            _ => {}
        }
        if let Err(why) = self.reply_is_current(repr) {
            return Rx::Discarded(why);
        }
        // RFC 1661 §5.2: "the Configuration Options in a Configure-Ack MUST exactly match those of
        // the last transmitted Configure-Request. Invalid packets are silently discarded."
        if repr.data != self.last_request.as_slice() {
            return Rx::Discarded("Configure-Ack options differ from our request");
        }
        self.answered = true;
        match self.state {
            State::ReqSent => {
                self.neg.ack_received(repr.data);
                self.irc_configure();
                self.state = State::AckRcvd;
            }
            State::AckRcvd => {
                // Crossed connection [x].
                self.scr(ctx, false);
                self.state = State::ReqSent;
            }
            State::AckSent => {
                self.neg.ack_received(repr.data);
                self.irc_configure();
                self.layer(LayerEvent::Up);
                self.state = State::Opened;
            }
            State::Opened => {
                self.layer(LayerEvent::Down);
                self.scr(ctx, false);
                self.state = State::ReqSent;
            }
            _ => {}
        }
        Rx::Processed
    }

    fn rcn(&mut self, ctx: &mut Ctx<'_>, repr: &PacketRepr<'_>) -> Rx {
        match self.state {
            State::Closed | State::Stopped => {
                self.sta(ctx, repr.identifier);
                return Rx::Processed;
            }
            State::Closing | State::Stopping => {
                return Rx::Discarded("Configure-Nak/Reject while terminating");
            }
            _ => {}
        }
        if let Err(why) = self.reply_is_current(repr) {
            return Rx::Discarded(why);
        }
        let applied = if repr.code == code::CONFIGURE_NAK {
            self.neg.nak_received(repr.data)
        } else {
            match rejected_subset_of(repr.data, &self.last_request) {
                Ok(true) => self.neg.reject_received(repr.data),
                Ok(false) => {
                    return Rx::Discarded("Configure-Reject names options we did not request");
                }
                Err(e) => Err(e),
            }
        };
        if let Err(e) = applied {
            return Rx::Malformed(e);
        }
        self.answered = true;
        match self.state {
            State::ReqSent => {
                self.irc_configure();
                self.scr(ctx, false);
            }
            State::AckRcvd => {
                self.scr(ctx, false);
                self.state = State::ReqSent;
            }
            State::AckSent => {
                self.irc_configure();
                self.scr(ctx, false);
            }
            State::Opened => {
                self.layer(LayerEvent::Down);
                self.scr(ctx, false);
                self.state = State::ReqSent;
            }
            _ => {}
        }
        Rx::Processed
    }

    fn rtr(&mut self, ctx: &mut Ctx<'_>, id: u8) {
        match self.state {
            State::Closed | State::Stopped | State::Closing | State::Stopping => self.sta(ctx, id),
            State::ReqSent | State::AckRcvd | State::AckSent => {
                self.sta(ctx, id);
                self.state = State::ReqSent;
            }
            State::Opened => {
                self.layer(LayerEvent::Down);
                self.zrc(ctx);
                self.sta(ctx, id);
                self.state = State::Stopping;
            }
            State::Initial | State::Starting => {}
        }
    }

    fn rta(&mut self, ctx: &mut Ctx<'_>) {
        match self.state {
            State::Closing => {
                self.layer(LayerEvent::Finished);
                self.state = State::Closed;
            }
            State::Stopping => {
                self.layer(LayerEvent::Finished);
                self.state = State::Stopped;
            }
            State::AckRcvd => self.state = State::ReqSent,
            State::Opened => {
                self.layer(LayerEvent::Down);
                self.scr(ctx, false);
                self.state = State::ReqSent;
            }
            _ => {}
        }
    }

    fn rxj(&mut self, ctx: &mut Ctx<'_>, repr: &PacketRepr<'_>) -> Rx {
        let Some(&rejected) = repr.data.first() else {
            return Rx::Malformed(Error::Truncated {
                what: "Code-Reject rejected packet",
                need: 1,
                have: 0,
            });
        };
        // RFC 1661 §4.3 RXJ: rejecting one of the codes the automaton itself needs is catastrophic;
        // rejecting an extension code (Echo, Discard...) is acceptable.
        let catastrophic = (code::CONFIGURE_REQUEST..=code::CODE_REJECT).contains(&rejected);
        if catastrophic {
            self.rxj_minus(ctx);
        }
        Rx::CodeReject {
            code: rejected,
            catastrophic,
        }
    }

    fn rxj_minus(&mut self, ctx: &mut Ctx<'_>) {
        match self.state {
            State::Closed | State::Stopped => self.layer(LayerEvent::Finished),
            State::Closing => {
                self.layer(LayerEvent::Finished);
                self.state = State::Closed;
            }
            State::Stopping | State::ReqSent | State::AckRcvd | State::AckSent => {
                self.layer(LayerEvent::Finished);
                self.state = State::Stopped;
            }
            State::Opened => {
                self.layer(LayerEvent::Down);
                self.irc_terminate();
                self.str(ctx);
                self.state = State::Stopping;
            }
            State::Initial | State::Starting => {}
        }
    }

    // ----- actions (RFC 1661 §4.4) -----

    fn layer(&mut self, event: LayerEvent) {
        self.layer_events.push_back(event);
    }

    fn irc_configure(&mut self) {
        self.restart_count = self.cfg.max_configure;
    }

    fn irc_terminate(&mut self) {
        self.restart_count = self.cfg.max_terminate;
    }

    fn zrc(&mut self, ctx: &mut Ctx<'_>) {
        self.restart_count = 0;
        *ctx.timer = Some(ctx.now + self.cfg.restart_interval);
    }

    /// Send-Configure-Request. A retransmission repeats the last request with its identifier
    /// (RFC 1661 §5.1: "For retransmissions, the Identifier MAY remain unchanged").
    fn scr(&mut self, ctx: &mut Ctx<'_>, retransmit: bool) {
        if !self.state.negotiating() {
            // A fresh negotiation starts from the configured wishes, as pppd's resetci does.
            self.neg.reset();
            self.naks_sent = 0;
        }
        if !retransmit {
            self.last_request = self.neg.request();
            self.req_id = self.alloc_id();
        }
        self.answered = false;
        let (id, opts) = (self.req_id, std::mem::take(&mut self.last_request));
        self.send(ctx, code::CONFIGURE_REQUEST, id, &opts);
        self.last_request = opts;
        self.restart_count = self.restart_count.saturating_sub(1);
        *ctx.timer = Some(ctx.now + self.cfg.restart_interval);
    }

    fn str(&mut self, ctx: &mut Ctx<'_>) {
        let id = self.alloc_id();
        let reason = std::mem::take(&mut self.terminate_reason);
        self.send(ctx, code::TERMINATE_REQUEST, id, &reason);
        self.terminate_reason = reason;
        self.restart_count = self.restart_count.saturating_sub(1);
        *ctx.timer = Some(ctx.now + self.cfg.restart_interval);
    }

    fn sta(&mut self, ctx: &mut Ctx<'_>, id: u8) {
        self.send(ctx, code::TERMINATE_ACK, id, &[]);
    }

    /// Stops the Restart timer when the new state does not run it (RFC 1661 §4.1).
    fn settle(&mut self, ctx: &mut Ctx<'_>) {
        if !self.state.timer_runs() {
            *ctx.timer = None;
        }
    }
}

/// Whether every option in a Configure-Reject appears verbatim in our request. RFC 1661 §5.4: the
/// rejected options "MUST NOT be reordered or modified in any way"; anything else is invalid.
fn rejected_subset_of(rejected: &[u8], request: &[u8]) -> Result<bool, Error> {
    let ours = parse_options(request)?;
    for option in parse_options(rejected)? {
        if !ours.iter().any(|o| o.raw == option.raw) {
            return Ok(false);
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    //! The §4.1 table, exercised with a trivial negotiator. LCP/IPCP option logic is tested in
    //! their own modules and in tests/ppp_*.rs.
    use super::*;
    use crate::runtime::clock::test_epoch;

    /// Requests one option (type 1, one data octet); accepts a request iff its first option's
    /// data is 0x00; Naks with 0x00 otherwise.
    #[derive(Debug, Default)]
    struct Toy {
        resets: u32,
        acked: u32,
        naked: u32,
        rejected: u32,
    }

    impl Negotiator for Toy {
        fn reset(&mut self) {
            self.resets += 1;
        }
        fn request(&mut self) -> Vec<u8> {
            vec![1, 3, 0x42]
        }
        fn check_request(&mut self, options: &[u8], exhausted: bool) -> Result<Verdict, Error> {
            let opts = parse_options(options)?;
            match opts.first() {
                None => Ok(Verdict::Ack),
                Some(o) if o.data == [0] => Ok(Verdict::Ack),
                Some(o) if exhausted => Ok(Verdict::Reject(o.raw.to_vec())),
                Some(_) => Ok(Verdict::Nak(vec![1, 3, 0])),
            }
        }
        fn ack_received(&mut self, _: &[u8]) {
            self.acked += 1;
        }
        fn nak_received(&mut self, _: &[u8]) -> Result<(), Error> {
            self.naked += 1;
            Ok(())
        }
        fn reject_received(&mut self, _: &[u8]) -> Result<(), Error> {
            self.rejected += 1;
            Ok(())
        }
    }

    struct Harness {
        fsm: Fsm<Toy>,
        timer: Option<Instant>,
        tx: VecDeque<Vec<u8>>,
        now: Instant,
    }

    impl Harness {
        fn new() -> Self {
            let cfg = NegotiationConfig {
                max_configure: 3,
                max_terminate: 2,
                max_failure: 2,
                ..Default::default()
            };
            Self {
                fsm: Fsm::new(0x8021, cfg, Toy::default(), 1),
                timer: None,
                tx: VecDeque::new(),
                now: test_epoch(),
            }
        }
        fn with<R>(&mut self, f: impl FnOnce(&mut Fsm<Toy>, &mut Ctx<'_>) -> R) -> R {
            let mut ctx = Ctx {
                now: self.now,
                timer: &mut self.timer,
                tx: &mut self.tx,
            };
            f(&mut self.fsm, &mut ctx)
        }
        fn rx(&mut self, code: u8, id: u8, data: &[u8]) -> Rx {
            let pkt = PacketRepr {
                code,
                identifier: id,
                data,
            }
            .to_vec();
            self.with(|f, c| f.receive(c, &pkt))
        }
        /// Pops the next sent packet as (code, id, data).
        fn sent(&mut self) -> Option<(u8, u8, Vec<u8>)> {
            let f = self.tx.pop_front()?;
            assert_eq!(&f[..2], &[0x80, 0x21]);
            let r = PacketRepr::parse(&f[2..]).unwrap();
            Some((r.code, r.identifier, r.data.to_vec()))
        }
        fn layers(&mut self) -> Vec<LayerEvent> {
            std::iter::from_fn(|| self.fsm.take_layer_event()).collect()
        }
        fn expire(&mut self) {
            self.now = self.timer.expect("timer armed");
            self.with(|f, c| f.timeout(c));
        }
        fn opened() -> Self {
            let mut h = Self::new();
            h.with(|f, c| {
                f.up(c);
                f.open(c);
            });
            let (_, id, _) = h.sent().unwrap();
            h.rx(code::CONFIGURE_ACK, id, &[1, 3, 0x42]);
            h.rx(code::CONFIGURE_REQUEST, 9, &[1, 3, 0]);
            assert_eq!(h.fsm.state(), State::Opened);
            h.tx.clear();
            h.layers();
            h
        }
    }

    /// One cell of the RFC 1661 §4.1 table: the packets sent (codes, in order), the layer
    /// actions, and the new state. `irc` and `zrc` are not observable here and are left out;
    /// illegal cells ("-") must change nothing.
    type Cell = (&'static [u8], &'static [LayerEvent], State);

    const STATES: [State; 10] = [
        State::Initial,
        State::Starting,
        State::Closed,
        State::Stopped,
        State::Closing,
        State::Stopping,
        State::ReqSent,
        State::AckRcvd,
        State::AckSent,
        State::Opened,
    ];

    #[derive(Debug, Clone, Copy)]
    enum Ev {
        Up,
        Down,
        Open,
        Close,
        ToPlus,
        ToMinus,
        RcrPlus,
        RcrMinus,
        Rca,
        Rcn,
        Rtr,
        Rta,
        Ruc,
        RxjPlus,
        RxjMinus,
    }

    fn apply(h: &mut Harness, ev: Ev) {
        let req = h.fsm.last_request().to_vec();
        match ev {
            Ev::Up => h.with(|f, c| f.up(c)),
            Ev::Down => h.with(|f, c| f.down(c)),
            Ev::Open => h.with(|f, c| f.open(c)),
            Ev::Close => h.with(|f, c| f.close(c, b"")),
            Ev::ToPlus | Ev::ToMinus => h.with(|f, c| f.timeout(c)),
            Ev::RcrPlus => drop(h.rx(code::CONFIGURE_REQUEST, 0x77, &[1, 3, 0])),
            Ev::RcrMinus => drop(h.rx(code::CONFIGURE_REQUEST, 0x77, &[1, 3, 9])),
            Ev::Rca => drop(h.rx(code::CONFIGURE_ACK, 0x10, &req)),
            Ev::Rcn => drop(h.rx(code::CONFIGURE_NAK, 0x10, &[1, 3, 1])),
            Ev::Rtr => drop(h.rx(code::TERMINATE_REQUEST, 0x77, &[])),
            Ev::Rta => drop(h.rx(code::TERMINATE_ACK, 0x77, &[])),
            Ev::Ruc => drop(h.rx(99, 0x77, &[])),
            Ev::RxjPlus => drop(h.rx(code::CODE_REJECT, 0x77, &[99, 1, 0, 4])),
            Ev::RxjMinus => {
                drop(h.rx(code::CODE_REJECT, 0x77, &[code::CONFIGURE_REQUEST, 1, 0, 4]))
            }
        }
    }

    #[test]
    fn whole_state_transition_table() {
        use LayerEvent::{Down as Tld, Finished as Tlf, Started as Tls, Up as Tlu};
        use State::*;
        const CR: u8 = code::CONFIGURE_REQUEST;
        const CA: u8 = code::CONFIGURE_ACK;
        const CN: u8 = code::CONFIGURE_NAK;
        const TR: u8 = code::TERMINATE_REQUEST;
        const TA: u8 = code::TERMINATE_ACK;
        const CJ: u8 = code::CODE_REJECT;
        // "-": illegal, nothing happens.
        fn same(s: State) -> Cell {
            (&[], &[], s)
        }
        let row = |ev: Ev| -> [Option<Cell>; 10] {
            match ev {
                Ev::Up => [
                    Some(same(Closed)),
                    Some((&[CR], &[], ReqSent)),
                    None,
                    None,
                    None,
                    None,
                    None,
                    None,
                    None,
                    None,
                ],
                Ev::Down => [
                    None,
                    None,
                    Some(same(Initial)),
                    Some((&[], &[Tls], Starting)),
                    Some(same(Initial)),
                    Some(same(Starting)),
                    Some(same(Starting)),
                    Some(same(Starting)),
                    Some(same(Starting)),
                    Some((&[], &[Tld], Starting)),
                ],
                Ev::Open => [
                    Some((&[], &[Tls], Starting)),
                    Some(same(Starting)),
                    Some((&[CR], &[], ReqSent)),
                    Some(same(Stopped)),
                    Some(same(Stopping)),
                    Some(same(Stopping)),
                    Some(same(ReqSent)),
                    Some(same(AckRcvd)),
                    Some(same(AckSent)),
                    Some(same(Opened)),
                ],
                Ev::Close => [
                    Some(same(Initial)),
                    Some((&[], &[Tlf], Initial)),
                    Some(same(Closed)),
                    Some(same(Closed)),
                    Some(same(Closing)),
                    Some(same(Closing)),
                    Some((&[TR], &[], Closing)),
                    Some((&[TR], &[], Closing)),
                    Some((&[TR], &[], Closing)),
                    Some((&[TR], &[Tld], Closing)),
                ],
                Ev::ToPlus => [
                    None,
                    None,
                    None,
                    None,
                    Some((&[TR], &[], Closing)),
                    Some((&[TR], &[], Stopping)),
                    Some((&[CR], &[], ReqSent)),
                    Some((&[CR], &[], ReqSent)),
                    Some((&[CR], &[], AckSent)),
                    None,
                ],
                Ev::ToMinus => [
                    None,
                    None,
                    None,
                    None,
                    Some((&[], &[Tlf], Closed)),
                    Some((&[], &[Tlf], Stopped)),
                    Some((&[], &[Tlf], Stopped)),
                    Some((&[], &[Tlf], Stopped)),
                    Some((&[], &[Tlf], Stopped)),
                    None,
                ],
                Ev::RcrPlus => [
                    None,
                    None,
                    Some((&[TA], &[], Closed)),
                    Some((&[CR, CA], &[], AckSent)),
                    Some(same(Closing)),
                    Some(same(Stopping)),
                    Some((&[CA], &[], AckSent)),
                    Some((&[CA], &[Tlu], Opened)),
                    Some((&[CA], &[], AckSent)),
                    Some((&[CR, CA], &[Tld], AckSent)),
                ],
                Ev::RcrMinus => [
                    None,
                    None,
                    Some((&[TA], &[], Closed)),
                    Some((&[CR, CN], &[], ReqSent)),
                    Some(same(Closing)),
                    Some(same(Stopping)),
                    Some((&[CN], &[], ReqSent)),
                    Some((&[CN], &[], AckRcvd)),
                    Some((&[CN], &[], ReqSent)),
                    Some((&[CR, CN], &[Tld], ReqSent)),
                ],
                Ev::Rca => [
                    None,
                    None,
                    Some((&[TA], &[], Closed)),
                    Some((&[TA], &[], Stopped)),
                    Some(same(Closing)),
                    Some(same(Stopping)),
                    Some(same(AckRcvd)),
                    Some((&[CR], &[], ReqSent)),
                    Some((&[], &[Tlu], Opened)),
                    Some((&[CR], &[Tld], ReqSent)),
                ],
                Ev::Rcn => [
                    None,
                    None,
                    Some((&[TA], &[], Closed)),
                    Some((&[TA], &[], Stopped)),
                    Some(same(Closing)),
                    Some(same(Stopping)),
                    Some((&[CR], &[], ReqSent)),
                    Some((&[CR], &[], ReqSent)),
                    Some((&[CR], &[], AckSent)),
                    Some((&[CR], &[Tld], ReqSent)),
                ],
                Ev::Rtr => [
                    None,
                    None,
                    Some((&[TA], &[], Closed)),
                    Some((&[TA], &[], Stopped)),
                    Some((&[TA], &[], Closing)),
                    Some((&[TA], &[], Stopping)),
                    Some((&[TA], &[], ReqSent)),
                    Some((&[TA], &[], ReqSent)),
                    Some((&[TA], &[], ReqSent)),
                    Some((&[TA], &[Tld], Stopping)),
                ],
                Ev::Rta => [
                    None,
                    None,
                    Some(same(Closed)),
                    Some(same(Stopped)),
                    Some((&[], &[Tlf], Closed)),
                    Some((&[], &[Tlf], Stopped)),
                    Some(same(ReqSent)),
                    Some(same(ReqSent)),
                    Some(same(AckSent)),
                    Some((&[CR], &[Tld], ReqSent)),
                ],
                Ev::Ruc => [
                    None,
                    None,
                    Some((&[CJ], &[], Closed)),
                    Some((&[CJ], &[], Stopped)),
                    Some((&[CJ], &[], Closing)),
                    Some((&[CJ], &[], Stopping)),
                    Some((&[CJ], &[], ReqSent)),
                    Some((&[CJ], &[], AckRcvd)),
                    Some((&[CJ], &[], AckSent)),
                    Some((&[CJ], &[], Opened)),
                ],
                Ev::RxjPlus => [
                    None,
                    None,
                    Some(same(Closed)),
                    Some(same(Stopped)),
                    Some(same(Closing)),
                    Some(same(Stopping)),
                    Some(same(ReqSent)),
                    Some(same(AckRcvd)),
                    Some(same(AckSent)),
                    Some(same(Opened)),
                ],
                Ev::RxjMinus => [
                    None,
                    None,
                    Some((&[], &[Tlf], Closed)),
                    Some((&[], &[Tlf], Stopped)),
                    Some((&[], &[Tlf], Closed)),
                    Some((&[], &[Tlf], Stopped)),
                    Some((&[], &[Tlf], Stopped)),
                    Some((&[], &[Tlf], Stopped)),
                    Some((&[], &[Tlf], Stopped)),
                    Some((&[TR], &[Tld], Stopping)),
                ],
            }
        };
        let events = [
            Ev::Up,
            Ev::Down,
            Ev::Open,
            Ev::Close,
            Ev::ToPlus,
            Ev::ToMinus,
            Ev::RcrPlus,
            Ev::RcrMinus,
            Ev::Rca,
            Ev::Rcn,
            Ev::Rtr,
            Ev::Rta,
            Ev::Ruc,
            Ev::RxjPlus,
            Ev::RxjMinus,
        ];
        let mut cells = 0;
        for ev in events {
            for (i, expected) in row(ev).into_iter().enumerate() {
                let from = STATES[i];
                let mut h = Harness::new();
                let count = if matches!(ev, Ev::ToMinus) { 0 } else { 2 };
                h.fsm.place(from, count);
                if from.timer_runs() {
                    h.timer = Some(h.now + Duration::from_secs(3));
                }
                apply(&mut h, ev);
                let sent: Vec<u8> = std::iter::from_fn(|| h.sent()).map(|s| s.0).collect();
                let layers = h.layers();
                let (codes, acts, to): Cell = expected.unwrap_or((&[], &[], from));
                assert_eq!(
                    (sent.as_slice(), layers.as_slice(), h.fsm.state()),
                    (codes, acts, to),
                    "{ev:?} in {from:?}"
                );
                // RFC 1661 §4.1: the Restart timer runs exactly in the states with TO events.
                assert_eq!(
                    h.timer.is_some(),
                    to.timer_runs(),
                    "timer after {ev:?} in {from:?}"
                );
                cells += 1;
            }
        }
        assert_eq!(cells, 150);
    }

    #[test]
    fn initial_to_opened_via_ack_rcvd() {
        let mut h = Harness::new();
        h.with(|f, c| f.open(c));
        assert_eq!(h.fsm.state(), State::Starting);
        assert_eq!(h.layers(), vec![LayerEvent::Started]);
        h.with(|f, c| f.up(c));
        assert_eq!(h.fsm.state(), State::ReqSent);
        let (code, id, data) = h.sent().unwrap();
        assert_eq!((code, data), (code::CONFIGURE_REQUEST, vec![1, 3, 0x42]));
        assert!(h.timer.is_some());
        assert_eq!(h.rx(code::CONFIGURE_ACK, id, &[1, 3, 0x42]), Rx::Processed);
        assert_eq!(h.fsm.state(), State::AckRcvd);
        h.rx(code::CONFIGURE_REQUEST, 5, &[1, 3, 0]);
        assert_eq!(h.fsm.state(), State::Opened);
        assert_eq!(h.sent(), Some((code::CONFIGURE_ACK, 5, vec![1, 3, 0])));
        assert_eq!(h.layers(), vec![LayerEvent::Up]);
        assert!(h.timer.is_none(), "Opened does not run the Restart timer");
    }

    #[test]
    fn ack_sent_then_ack_opens() {
        let mut h = Harness::new();
        h.with(|f, c| {
            f.up(c);
            f.open(c);
        });
        let (_, id, _) = h.sent().unwrap();
        h.rx(code::CONFIGURE_REQUEST, 5, &[1, 3, 7]);
        assert_eq!(h.sent(), Some((code::CONFIGURE_NAK, 5, vec![1, 3, 0])));
        assert_eq!(h.fsm.state(), State::ReqSent);
        h.rx(code::CONFIGURE_REQUEST, 6, &[1, 3, 0]);
        assert_eq!(h.fsm.state(), State::AckSent);
        h.rx(code::CONFIGURE_ACK, id, &[1, 3, 0x42]);
        assert_eq!(h.fsm.state(), State::Opened);
        assert_eq!(h.fsm.neg.acked, 1);
    }

    #[test]
    fn ack_with_wrong_id_or_options_is_discarded() {
        let mut h = Harness::new();
        h.with(|f, c| {
            f.up(c);
            f.open(c);
        });
        let (_, id, _) = h.sent().unwrap();
        assert!(matches!(
            h.rx(code::CONFIGURE_ACK, id.wrapping_add(1), &[1, 3, 0x42]),
            Rx::Discarded(_)
        ));
        assert!(matches!(
            h.rx(code::CONFIGURE_ACK, id, &[1, 3, 0x43]),
            Rx::Discarded(_)
        ));
        assert_eq!(h.fsm.state(), State::ReqSent);
        assert_eq!(h.rx(code::CONFIGURE_ACK, id, &[1, 3, 0x42]), Rx::Processed);
        // The same Ack again is a duplicate, not a crossed connection.
        assert!(matches!(
            h.rx(code::CONFIGURE_ACK, id, &[1, 3, 0x42]),
            Rx::Discarded(_)
        ));
        assert_eq!(h.fsm.state(), State::AckRcvd);
    }

    #[test]
    fn nak_and_reject_trigger_new_request() {
        let mut h = Harness::new();
        h.with(|f, c| {
            f.up(c);
            f.open(c);
        });
        let (_, id, _) = h.sent().unwrap();
        h.rx(code::CONFIGURE_NAK, id, &[1, 3, 0x01]);
        let (code, id2, _) = h.sent().unwrap();
        assert_eq!(code, code::CONFIGURE_REQUEST);
        assert_ne!(id, id2, "a new request after a reply gets a new identifier");
        assert_eq!(h.fsm.neg.naked, 1);
        // A Reject naming an option we never sent is invalid.
        assert!(matches!(
            h.rx(code::CONFIGURE_REJECT, id2, &[2, 2]),
            Rx::Discarded(_)
        ));
        h.rx(code::CONFIGURE_REJECT, id2, &[1, 3, 0x42]);
        assert_eq!(h.fsm.neg.rejected, 1);
        assert_eq!(h.sent().unwrap().0, code::CONFIGURE_REQUEST);
    }

    #[test]
    fn max_configure_expiry_finishes() {
        let mut h = Harness::new();
        h.with(|f, c| {
            f.up(c);
            f.open(c);
        });
        h.layers();
        let start = h.now;
        let (_, id, _) = h.sent().unwrap();
        // max_configure = 3: the first send plus two retransmissions, then TO-.
        h.expire();
        assert_eq!(
            h.sent().map(|s| (s.0, s.1)),
            Some((code::CONFIGURE_REQUEST, id)),
            "retransmit keeps id"
        );
        h.expire();
        assert!(h.sent().is_some());
        h.expire();
        assert!(h.sent().is_none());
        assert_eq!(h.fsm.state(), State::Stopped);
        assert_eq!(h.layers(), vec![LayerEvent::Finished]);
        assert_eq!(h.now - start, Duration::from_secs(9));
        assert!(h.timer.is_none());
    }

    #[test]
    fn max_failure_turns_naks_into_rejects() {
        let mut h = Harness::new();
        h.with(|f, c| {
            f.up(c);
            f.open(c);
        });
        h.sent();
        for id in 0..2 {
            h.rx(code::CONFIGURE_REQUEST, id, &[1, 3, 9]);
            assert_eq!(h.sent().unwrap().0, code::CONFIGURE_NAK);
        }
        h.rx(code::CONFIGURE_REQUEST, 2, &[1, 3, 9]);
        assert_eq!(h.sent(), Some((code::CONFIGURE_REJECT, 2, vec![1, 3, 9])));
    }

    #[test]
    fn close_from_opened_terminates() {
        let mut h = Harness::opened();
        h.with(|f, c| f.close(c, b"bye"));
        assert_eq!(h.fsm.state(), State::Closing);
        assert_eq!(h.layers(), vec![LayerEvent::Down]);
        let (code, id, data) = h.sent().unwrap();
        assert_eq!((code, data), (code::TERMINATE_REQUEST, b"bye".to_vec()));
        h.rx(code::TERMINATE_ACK, id, &[]);
        assert_eq!(h.fsm.state(), State::Closed);
        assert_eq!(h.layers(), vec![LayerEvent::Finished]);
        assert!(h.timer.is_none());
    }

    #[test]
    fn close_without_ack_uses_max_terminate() {
        let mut h = Harness::opened();
        h.with(|f, c| f.close(c, b""));
        assert_eq!(h.sent().unwrap().0, code::TERMINATE_REQUEST);
        h.expire();
        assert_eq!(h.sent().unwrap().0, code::TERMINATE_REQUEST);
        h.expire();
        assert!(h.sent().is_none());
        assert_eq!(h.fsm.state(), State::Closed);
    }

    #[test]
    fn peer_terminate_in_opened_waits_one_restart_period() {
        let mut h = Harness::opened();
        assert_eq!(
            h.rx(code::TERMINATE_REQUEST, 77, b"why"),
            Rx::TerminateRequest(b"why".to_vec())
        );
        assert_eq!(h.sent(), Some((code::TERMINATE_ACK, 77, vec![])));
        assert_eq!(h.fsm.state(), State::Stopping);
        assert_eq!(h.layers(), vec![LayerEvent::Down]);
        h.expire();
        assert_eq!(h.fsm.state(), State::Stopped);
        assert_eq!(h.layers(), vec![LayerEvent::Finished]);
        assert!(h.sent().is_none(), "zrc: nothing is retransmitted");
    }

    #[test]
    fn configure_request_in_opened_renegotiates() {
        let mut h = Harness::opened();
        let resets = h.fsm.neg.resets;
        h.rx(code::CONFIGURE_REQUEST, 20, &[1, 3, 0]);
        assert_eq!(h.layers(), vec![LayerEvent::Down]);
        assert_eq!(h.fsm.neg.resets, resets + 1);
        assert_eq!(h.sent().unwrap().0, code::CONFIGURE_REQUEST);
        assert_eq!(h.sent(), Some((code::CONFIGURE_ACK, 20, vec![1, 3, 0])));
        assert_eq!(h.fsm.state(), State::AckSent);
    }

    #[test]
    fn unknown_code_is_code_rejected_and_code_reject_is_classified() {
        let mut h = Harness::opened();
        h.rx(42, 3, &[1, 2, 3]);
        let (code, _, data) = h.sent().unwrap();
        assert_eq!(
            (code, data),
            (code::CODE_REJECT, vec![42, 3, 0, 7, 1, 2, 3])
        );
        assert_eq!(
            h.rx(code::CODE_REJECT, 1, &[9, 1, 0, 4]),
            Rx::CodeReject {
                code: 9,
                catastrophic: false
            }
        );
        assert_eq!(h.fsm.state(), State::Opened);
        assert_eq!(
            h.rx(code::CODE_REJECT, 1, &[1, 1, 0, 4]),
            Rx::CodeReject {
                code: 1,
                catastrophic: true
            }
        );
        assert_eq!(h.fsm.state(), State::Stopping);
        assert_eq!(h.sent().unwrap().0, code::TERMINATE_REQUEST);
    }

    #[test]
    fn closed_and_stopped_answer_with_terminate_ack() {
        let mut h = Harness::new();
        h.with(|f, c| f.up(c));
        assert_eq!(h.fsm.state(), State::Closed);
        h.rx(code::CONFIGURE_REQUEST, 4, &[1, 3, 0]);
        assert_eq!(h.sent(), Some((code::TERMINATE_ACK, 4, vec![])));
        assert_eq!(h.fsm.state(), State::Closed);
    }

    #[test]
    fn packets_before_up_are_discarded() {
        let mut h = Harness::new();
        assert!(matches!(
            h.rx(code::CONFIGURE_REQUEST, 1, &[]),
            Rx::Discarded(_)
        ));
        assert!(h.sent().is_none());
    }

    #[test]
    fn malformed_request_changes_nothing() {
        let mut h = Harness::opened();
        assert!(matches!(
            h.rx(code::CONFIGURE_REQUEST, 1, &[1, 9, 0]),
            Rx::Malformed(_)
        ));
        assert_eq!(h.fsm.state(), State::Opened);
        assert!(h.sent().is_none());
    }

    #[test]
    fn down_from_opened_and_lower_layer_events() {
        let mut h = Harness::opened();
        h.with(|f, c| f.down(c));
        assert_eq!(h.fsm.state(), State::Starting);
        assert_eq!(h.layers(), vec![LayerEvent::Down]);
        h.with(|f, c| f.close(c, b""));
        assert_eq!(h.fsm.state(), State::Initial);
        assert_eq!(h.layers(), vec![LayerEvent::Finished]);
    }
}

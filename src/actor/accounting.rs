//! Usage accounting: what the running daemon writes into the durable usage ledger
//! ([`crate::ledger`], issue 8), and when.
//!
//! Owns: the ledger writer handle, the identities of what is recorded ([`IdSource`]: one
//! Acct-Session-Id per leg, one Acct-Multi-Session-Id per subscriber session, one serial per
//! tunnel), the open legs and tunnels being recorded, the interim, heartbeat and group-commit
//! timers, and watching the writer for disk trouble. Must not touch: sessions and tunnels
//! themselves (it only reads the [`SessionCounters`] the data plane bumps), the ledger's files
//! (the writer thread does every write), billing rules.
//!
//! # Who records what
//!
//! One subscriber session must be counted exactly once, whether our LAC and our LNS run in one
//! process (one ledger) or in two (two ledgers), so:
//! - **The LAC records its subscribers**: a session starts where the LAC logs "session up" (the
//!   L2TP session toward the LNS is established and the data plane relays), gets an interim every
//!   `billing.ledger.interim_interval`, and stops where the LAC ends it (`Actor::lac_end_with`).
//!   It also records its tunnels toward LNS peers (open at "tunnel up", close at "tunnel down",
//!   with peer and line), line use (a line is in use from its first established tunnel to the
//!   close of its last one), and consolidation moves ([`Actor::account_move`]).
//! - **The LNS records only what no l2tpagg LAC records**: sessions and tunnels of peers that did
//!   not advertise our vendor Capability AVP ([`counted_by_the_peer`]), i.e. foreign LACs
//!   (xl2tpd, a BRAS). Every l2tpagg LAC advertises it (Disconnect-Cause at least), so a session
//!   from our own LAC, in this process or another, is the LAC's to count. An LNS session starts
//!   at IPCP up ("session up" on the LNS) and stops at its cleanup. Tunnels from a foreign LAC
//!   are recorded on a line named `lns@<our listen address>`: the LNS has no physical line of
//!   its own to name.
//! - Dial-in tunnels (subscribers' own LACs) are access, not transport: not recorded as
//!   tunnels; their sessions are the LAC subscribers above.
//!
//! # What is counted
//!
//! Counters are the session's [`SessionCounters`], as the data plane bumps them: "input" is what
//! the subscriber sent, "output" what was delivered toward it (RFC 2866 §5.3/§5.4 Acct-Input/
//! Output-Octets and -Packets, full 64 bits). On the LAC they are the PPP frames it relays: each
//! IP packet plus its 2 to 4 octets of PPP header (`FF 03` and the Protocol field; 4 octets for
//! a subscriber that sends `FF 03 00 21`), plus the few PPP control frames that cross after the
//! hand-off (LCP echoes, the logout's Terminate-Request/Ack). On the LNS they are IPv4 packets
//! (the PPP payload) only. Each leg's counters are cumulative since the leg began (a move begins
//! a new leg at zero, see [`crate::ledger::record`]).
//!
//! # Timers (all on the actor's deadline)
//!
//! - **Group commit**: the first record after a commit arms a commit `commit_interval` later
//!   ([`Ledger::commit`], which never blocks); it re-arms while records are pending, so a disk in
//!   trouble is retried every interval.
//! - **Interims**: each leg gets one `interim_interval` after its start and then every interval,
//!   on its own cadence (sessions that came up together stay spread over the actor's turns; at
//!   most [`MAX_INTERIMS_PER_TURN`] per turn).
//! - **Heartbeat**: every `interim_interval`, so tunnels and lines accrue time when no session
//!   record is written (billing counts an open tunnel up to the latest record of its run).
//!
//! `interim_interval = 0` switches interims and heartbeats off. Both intervals are read from the
//! configuration in force, so a reload applies them from the next timer on.
//!
//! # What a crash loses (the bound the process tests assert)
//!
//! A SIGKILL loses only records the writer thread had not yet handed to `write(2)` (microseconds
//! of appends); a machine crash loses at most one `commit_interval` of records (see
//! [`crate::ledger::writer`]). A session that was running at the crash is billed up to its last
//! durable reading, so its usage after that reading is what is lost: at most the traffic of
//! `interim_interval + commit_interval`. Tunnel and line time is lost likewise up to the last
//! heartbeat or record of the run.
//!
//! # Disk trouble
//!
//! A failed write or fsync never stops a session: the writer keeps records in memory (up to
//! `queue_bound`), retries on each commit, and counts what it must refuse beyond the bound. So
//! that what is refused is never a session's start or stop while an interim could give way, the
//! last quarter of the queue is kept for records nothing later replaces: interims and heartbeats
//! are skipped (and counted) once the queue is three quarters full; a later interim or the stop
//! carries the same counters and more. The writer logs the first failure and every power of two;
//! this module adds one error line a minute for as long as the trouble lasts, and `ctl status`
//! shows it (the `ledger` block and a `degraded` line, which keeps reporting records lost after
//! the disk recovered).
//!
//! # Hooks for other features
//!
//! - **Session end causes** (the disconnect engine): the stop record takes its
//!   Acct-Terminate-Cause and text from a [`SessionEnd`] handed down the session-end path. Call
//!   `Actor::lac_end_with(.., SessionEnd::new(TerminateCause::IdleTimeout, "idle 300 s of 300 s"))`
//!   on the LAC; on the LNS call [`Accounting::note_end`] before `Actor::lns_close`. The first
//!   cause noted for a leg wins over what the teardown reports later; without one the cause is
//!   derived from the CDN ([`SessionEnd::from_close`], [`SessionEnd::from_session_down`]; our
//!   `AutomaticDisconnect` Disconnect-Cause carries the Acct-Terminate-Cause in its detail, and
//!   that is used). A session that keeps its cause on itself (an `end_cause` field) passes it
//!   through with one line in `lac_end_with` / `lns_cleanup`.
//! - **Live switchover**: when a move commits (the subscriber's traffic runs on the new leg),
//!   call [`Actor::account_move`] with the new leg's LAC tunnel and session IDs: one
//!   `SessionMove` ends the old leg with its final counters and starts the new one, with the same
//!   Acct-Multi-Session-Id.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Actor;
use super::lns::describe_session_down;
use crate::config::LedgerConfig;
use crate::ctl::proto::LedgerState;
use crate::dataplane::counters::{Direction, SessionCounters};
use crate::l2tp::{CloseReason, SessionDownCause};
use crate::ledger::{
    AcctSessionId, AppendError, Counters, IdSource, Ledger, LedgerEvent, LedgerRecord, LegPlace,
    MultiSessionId, TerminateCause, TunnelSerial,
};
use crate::runtime::clock::UnixMillis;
use crate::wire::{Capabilities, CdnResult, DisconnectCause, DisconnectCauseCode};

/// Most interim records written in one turn of the actor; the rest follow in the next turns, so
/// a burst of due interims never holds up control traffic (and never fills the writer's queue in
/// one go).
pub(super) const MAX_INTERIMS_PER_TURN: usize = 2048;

/// Interim deadlines are rounded up to this grid (or to the interval, if shorter), so that the
/// interims of many sessions share the actor's wake-ups instead of taking one each.
const INTERIM_GRID: Duration = Duration::from_secs(1);

/// How often a disk problem that lasts is logged again.
const TROUBLE_REMINDER: Duration = Duration::from_secs(60);

/// Whether sessions of a tunnel whose peer advertised `peer` are recorded by that peer: every
/// l2tpagg LAC advertises our vendor Capability AVP and records its own subscribers, so an LNS
/// records only tunnels without it (foreign LACs).
pub(super) fn counted_by_the_peer(peer: Capabilities) -> bool {
    peer != Capabilities::NONE
}

/// Which session a leg belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) enum LegKey {
    /// A LAC subscriber (by subscriber ID).
    Lac(u64),
    /// An LNS session (by data-plane session key).
    Lns(u32),
}

/// Which tunnel (by our L2TP tunnel ID on that endpoint).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum TunnelKey {
    /// One of our LAC tunnels toward an LNS.
    Lac(u16),
    /// A tunnel a foreign LAC opened toward our LNS.
    Lns(u16),
}

/// Why a session ended, as its stop record says it: RFC 2866 §5.10 Acct-Terminate-Cause and a
/// line of text (the condition, what was measured against which limit, the CDN...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SessionEnd {
    /// Acct-Terminate-Cause.
    pub cause: TerminateCause,
    /// Free text for people.
    pub text: String,
}

impl SessionEnd {
    /// An end with this cause and text.
    pub fn new(cause: TerminateCause, text: impl Into<String>) -> Self {
        SessionEnd {
            cause,
            text: text.into(),
        }
    }

    /// The end of a session we close with `reason` (the CDN toward the subscriber's side), `why`
    /// being the actor's one-line description.
    pub fn from_close(why: &str, reason: &CloseReason) -> Self {
        SessionEnd::new(terminate_cause(reason.result, reason.cause.as_ref()), why)
    }

    /// The end of a session the L2TP endpoint reports down.
    pub fn from_session_down(cause: &SessionDownCause) -> Self {
        let code = match cause {
            SessionDownCause::PeerCdn { result, cause, .. } => {
                terminate_cause(CdnResult::from_code(result.result), cause.as_ref())
            }
            SessionDownCause::Local { result, cause, .. } => {
                terminate_cause(*result, cause.as_ref())
            }
            SessionDownCause::ProtocolError { .. } | SessionDownCause::PeerLacksCapability => {
                TerminateCause::NasError
            }
            SessionDownCause::TunnelDown => TerminateCause::LostService,
        };
        SessionEnd::new(code, describe_session_down(cause))
    }
}

/// RFC 2866 §5.10 for a CDN's result code and our vendor Disconnect-Cause. Our own cause says
/// most; a foreign peer's result code is all there is otherwise.
fn terminate_cause(result: CdnResult, vendor: Option<&DisconnectCause>) -> TerminateCause {
    use DisconnectCauseCode as V;
    match vendor.map(|c| (c.code, c.detail)) {
        // An automatic disconnect carries the condition's Acct-Terminate-Cause in its detail.
        Some((V::AutomaticDisconnect, detail)) if detail != 0 => TerminateCause::from_code(detail),
        vendor => terminate_cause_of_code(result, vendor.map(|(code, _)| code)),
    }
}

fn terminate_cause_of_code(
    result: CdnResult,
    vendor: Option<DisconnectCauseCode>,
) -> TerminateCause {
    use DisconnectCauseCode as V;
    match vendor {
        // The subscriber's PPP ended: LCP Terminate is a logout, a lost link is a lost carrier.
        Some(V::SubscriberLeft) if result == CdnResult::LossOfCarrier => {
            TerminateCause::LostCarrier
        }
        Some(V::SubscriberLeft) => TerminateCause::UserRequest,
        Some(V::Administrative) => TerminateCause::AdminReset,
        // "Administrator is ending service on the NAS, for example prior to rebooting".
        Some(V::Shutdown) => TerminateCause::AdminReboot,
        Some(V::AuthenticationFailed) => TerminateCause::UserError,
        Some(V::ResourceExhausted) => TerminateCause::ServiceUnavailable,
        // Without a detail: "NAS ended session for a non-error reason not otherwise listed".
        Some(V::AutomaticDisconnect) | Some(V::SessionMoved) => TerminateCause::NasRequest,
        Some(V::SwitchoverFailed) => TerminateCause::NasError,
        Some(V::Other(_)) | None => match result {
            CdnResult::LossOfCarrier | CdnResult::NoCarrier => TerminateCause::LostCarrier,
            CdnResult::Administrative => TerminateCause::AdminReset,
            CdnResult::TemporaryFacilities | CdnResult::PermanentFacilities | CdnResult::Busy => {
                TerminateCause::ServiceUnavailable
            }
            CdnResult::Timeout => TerminateCause::LostService,
            _ => TerminateCause::NasError,
        },
    }
}

/// The ledger's counters of a session's [`SessionCounters`].
fn read_counters(c: &SessionCounters) -> Counters {
    let s = c.snapshot();
    let up = s.direction(Direction::FromSubscriber);
    let down = s.direction(Direction::ToSubscriber);
    Counters {
        octets_in: up.bytes,
        octets_out: down.bytes,
        packets_in: up.packets,
        packets_out: down.packets,
    }
}

/// A leg being recorded.
struct Leg {
    session: AcctSessionId,
    multi: MultiSessionId,
    counters: Arc<SessionCounters>,
    /// Reading of `counters` when the leg began: a move keeps the session's counters running,
    /// while each leg counts from zero.
    base: Counters,
    /// Its slot in the interim queue.
    next_interim: Option<Instant>,
    /// The first end cause noted before the stop.
    end: Option<SessionEnd>,
}

impl Leg {
    fn reading(&self) -> Counters {
        read_counters(&self.counters).saturating_sub(self.base)
    }
}

/// A tunnel being recorded.
struct TunnelRecord {
    serial: TunnelSerial,
    peer: Arc<str>,
    line: Arc<str>,
}

/// Watching the writer for disk trouble.
#[derive(Default)]
struct TroubleWatch {
    since: Option<Instant>,
    last_reminder: Option<Instant>,
}

/// The daemon's usage accounting (see the module doc). Without a ledger (`None` at build) every
/// call is a no-op.
pub(super) struct Accounting {
    ledger: Option<Ledger>,
    /// Origin of the interim grid.
    epoch: Instant,
    dir: PathBuf,
    ids: IdSource,
    legs: HashMap<LegKey, Leg>,
    interims: BTreeSet<(Instant, LegKey)>,
    tunnels: HashMap<TunnelKey, TunnelRecord>,
    /// Tunnels recorded open per line.
    line_tunnels: HashMap<Arc<str>, usize>,
    commit_due: Option<Instant>,
    heartbeat_due: Option<Instant>,
    /// Records that could not be encoded (or came after close).
    refused: u64,
    /// The writer's bound on records not yet durable (`queue_bound` at open).
    queue_bound: usize,
    /// Interims and heartbeats not queued because the queue was near its bound.
    skipped: u64,
    trouble: TroubleWatch,
}

impl Accounting {
    /// Accounting into `ledger` for a daemon run that started at `started_at`: writes the
    /// run's `DaemonStart` and arms the heartbeat.
    pub fn new(
        ledger: Option<Ledger>,
        config: &LedgerConfig,
        now: Instant,
        started_at: UnixMillis,
    ) -> Self {
        let mut a = Accounting {
            dir: ledger
                .as_ref()
                .map(|l| l.dir().to_path_buf())
                .unwrap_or_default(),
            ledger,
            epoch: now,
            ids: IdSource::new(started_at),
            legs: HashMap::new(),
            interims: BTreeSet::new(),
            tunnels: HashMap::new(),
            line_tunnels: HashMap::new(),
            commit_due: None,
            heartbeat_due: None,
            refused: 0,
            queue_bound: config.queue_bound as usize,
            skipped: 0,
            trouble: TroubleWatch::default(),
        };
        if a.ledger.is_some() {
            a.append(
                now,
                config,
                started_at,
                LedgerEvent::DaemonStart {
                    software: format!("l2tpagg {}", env!("CARGO_PKG_VERSION")),
                },
            );
            a.heartbeat_due = nonzero(config.interim_interval).map(|i| now + i);
        }
        a
    }

    /// Whether a ledger is attached.
    pub fn enabled(&self) -> bool {
        self.ledger.is_some()
    }

    fn append(&mut self, now: Instant, config: &LedgerConfig, at: UnixMillis, event: LedgerEvent) {
        let Some(ledger) = &self.ledger else {
            return;
        };
        let kind = event.name();
        match ledger.append(&LedgerRecord { at, event }) {
            Ok(_) => {
                if self.commit_due.is_none() {
                    self.commit_due = Some(now + config.commit_interval);
                }
            }
            // Counted by the writer (LedgerStatus::dropped) and logged there at 1, 2, 4...
            Err(AppendError::Overloaded { .. }) => {}
            Err(e) => {
                self.refused += 1;
                if self.refused.is_power_of_two() {
                    tracing::error!(
                        record = kind, error = %e, refused = self.refused,
                        "usage record refused by the ledger"
                    );
                }
            }
        }
    }

    /// Whether `key` is being recorded.
    pub fn has_tunnel(&self, key: TunnelKey) -> bool {
        self.tunnels.contains_key(&key)
    }

    /// Whether `key` is being recorded.
    pub fn has_leg(&self, key: LegKey) -> bool {
        self.legs.contains_key(&key)
    }

    /// A tunnel came up: `TunnelOpen`, and `LineUse` when it is its line's first.
    #[allow(clippy::too_many_arguments)]
    pub fn tunnel_open(
        &mut self,
        now: Instant,
        config: &LedgerConfig,
        at: UnixMillis,
        key: TunnelKey,
        local_tunnel_id: u16,
        remote_tunnel_id: u16,
        peer: Arc<str>,
        line: Arc<str>,
    ) {
        if !self.enabled() || self.tunnels.contains_key(&key) {
            return;
        }
        let serial = self.ids.tunnel();
        self.append(
            now,
            config,
            at,
            LedgerEvent::TunnelOpen {
                tunnel: serial,
                local_tunnel_id,
                remote_tunnel_id,
                peer: peer.to_string(),
                line: line.to_string(),
            },
        );
        let count = self.line_tunnels.entry(line.clone()).or_default();
        *count += 1;
        if *count == 1 {
            self.append(
                now,
                config,
                at,
                LedgerEvent::LineUse {
                    line: line.to_string(),
                    in_use: true,
                },
            );
        }
        self.tunnels
            .insert(key, TunnelRecord { serial, peer, line });
    }

    /// A recorded tunnel went down: `TunnelClose`, and `LineUse` released with its line's last.
    pub fn tunnel_close(
        &mut self,
        now: Instant,
        config: &LedgerConfig,
        at: UnixMillis,
        key: TunnelKey,
        reason: &str,
    ) {
        let Some(t) = self.tunnels.remove(&key) else {
            return;
        };
        self.append(
            now,
            config,
            at,
            LedgerEvent::TunnelClose {
                tunnel: t.serial,
                reason: reason.to_owned(),
            },
        );
        if let Some(count) = self.line_tunnels.get_mut(&t.line) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.line_tunnels.remove(&t.line);
                self.append(
                    now,
                    config,
                    at,
                    LedgerEvent::LineUse {
                        line: t.line.to_string(),
                        in_use: false,
                    },
                );
            }
        }
    }

    fn place(&self, tunnel: TunnelKey, l2tp_session_id: u16) -> Option<LegPlace> {
        let t = self.tunnels.get(&tunnel)?;
        Some(LegPlace {
            tunnel: t.serial,
            l2tp_session_id,
            peer: t.peer.to_string(),
            line: t.line.to_string(),
        })
    }

    fn schedule_interim(&mut self, now: Instant, config: &LedgerConfig, key: LegKey) {
        let Some(leg) = self.legs.get_mut(&key) else {
            return;
        };
        if let Some(at) = leg.next_interim.take() {
            self.interims.remove(&(at, key));
        }
        if let Some(interval) = nonzero(config.interim_interval) {
            let at = on_grid(self.epoch, now + interval, interval.min(INTERIM_GRID));
            leg.next_interim = Some(at);
            self.interims.insert((at, key));
        }
    }

    /// A session came up in a recorded tunnel: `SessionStart` of a new subscriber session.
    /// Returns false (nothing recorded) when the tunnel is not recorded.
    #[allow(clippy::too_many_arguments)]
    pub fn session_start(
        &mut self,
        now: Instant,
        config: &LedgerConfig,
        at: UnixMillis,
        key: LegKey,
        subscriber: &str,
        account: &str,
        tunnel: TunnelKey,
        l2tp_session_id: u16,
        counters: Arc<SessionCounters>,
    ) -> bool {
        if self.legs.contains_key(&key) {
            return true;
        }
        let Some(place) = self.place(tunnel, l2tp_session_id) else {
            return false;
        };
        let (multi, session) = self.ids.new_session();
        self.append(
            now,
            config,
            at,
            LedgerEvent::SessionStart {
                session,
                multi,
                subscriber: subscriber.to_owned(),
                account: account.to_owned(),
                place,
            },
        );
        let base = read_counters(&counters);
        self.legs.insert(
            key,
            Leg {
                session,
                multi,
                counters,
                base,
                next_interim: None,
                end: None,
            },
        );
        self.schedule_interim(now, config, key);
        true
    }

    /// Notes why a leg is ending, ahead of its stop (the first noted cause wins).
    pub fn note_end(&mut self, key: LegKey, end: SessionEnd) {
        if let Some(leg) = self.legs.get_mut(&key)
            && leg.end.is_none()
        {
            leg.end = Some(end);
        }
    }

    /// The leg ended: `SessionStop` with its final counters and the cause noted earlier, else
    /// `end`.
    pub fn session_stop(
        &mut self,
        now: Instant,
        config: &LedgerConfig,
        at: UnixMillis,
        key: LegKey,
        end: SessionEnd,
    ) {
        let Some(leg) = self.legs.remove(&key) else {
            return;
        };
        if let Some(t) = leg.next_interim {
            self.interims.remove(&(t, key));
        }
        let counters = leg.reading();
        let end = leg.end.unwrap_or(end);
        self.append(
            now,
            config,
            at,
            LedgerEvent::SessionStop {
                session: leg.session,
                counters,
                cause: end.cause,
                cause_text: end.text,
            },
        );
    }

    /// The leg moved to `to_tunnel` / `to_session` (live switchover committed): one
    /// `SessionMove`, the old leg's final counters and the new leg at zero, same multi-session.
    /// `counters` are what the data plane bumps for the new leg (the same `Arc` or a new one).
    #[allow(clippy::too_many_arguments)]
    pub fn session_move(
        &mut self,
        now: Instant,
        config: &LedgerConfig,
        at: UnixMillis,
        key: LegKey,
        to_tunnel: TunnelKey,
        to_session: u16,
        counters: Arc<SessionCounters>,
    ) -> bool {
        let Some(to_place) = self.place(to_tunnel, to_session) else {
            return false;
        };
        let to = self.ids.session();
        let Some(leg) = self.legs.get_mut(&key) else {
            return false;
        };
        let from_counters = leg.reading();
        let event = LedgerEvent::SessionMove {
            multi: leg.multi,
            from: leg.session,
            from_counters,
            to,
            to_place,
        };
        leg.session = to;
        leg.base = read_counters(&counters);
        leg.counters = counters;
        self.append(now, config, at, event);
        self.schedule_interim(now, config, key);
        true
    }

    /// The earliest of the commit, interim and heartbeat timers.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.commit_due,
            self.heartbeat_due,
            self.interims.first().map(|(t, _)| *t),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// How many more superseding records (interims, heartbeats) may be queued now: while the disk
    /// fails the last quarter of the queue is kept for records nothing later replaces (starts,
    /// stops, moves, tunnels and lines).
    fn room_for_readings(&self) -> usize {
        let pending = self.ledger.as_ref().map_or(0, |l| l.status().pending);
        let threshold = self.queue_bound - self.queue_bound / 4;
        threshold.saturating_sub(pending)
    }

    /// Runs what is due at `now`.
    pub fn handle_timeout(&mut self, now: Instant, config: &LedgerConfig, at: UnixMillis) {
        if self.ledger.is_none() {
            return;
        }
        let mut room = self.room_for_readings();
        let mut due = Vec::new();
        while let Some(&(t, key)) = self.interims.first() {
            if t > now || due.len() >= MAX_INTERIMS_PER_TURN {
                break;
            }
            self.interims.pop_first();
            if let Some(leg) = self.legs.get_mut(&key) {
                leg.next_interim = None;
            }
            due.push(key);
        }
        for key in due {
            let Some(leg) = self.legs.get(&key) else {
                continue;
            };
            if room > 0 {
                room -= 1;
                let event = LedgerEvent::SessionInterim {
                    session: leg.session,
                    counters: leg.reading(),
                };
                self.append(now, config, at, event);
            } else {
                // The next reading (interim or stop) carries the same counters and more.
                self.skipped += 1;
            }
            self.schedule_interim(now, config, key);
        }
        if self.heartbeat_due.is_some_and(|t| t <= now) {
            if room > 0 {
                self.append(now, config, at, LedgerEvent::Heartbeat);
            } else {
                self.skipped += 1;
            }
            self.heartbeat_due = nonzero(config.interim_interval).map(|i| now + i);
        }
        if self.commit_due.is_some_and(|t| t <= now) {
            self.commit_due = None;
            if let Some(ledger) = &self.ledger {
                ledger.commit();
                let status = ledger.status();
                // Keep asking while anything waits: a commit request is also the writer's cue to
                // retry a failing disk.
                if status.pending > 0 || status.trouble.is_some() {
                    self.commit_due = Some(now + config.commit_interval);
                }
                self.watch_trouble(now, &status);
            }
        }
    }

    fn watch_trouble(&mut self, now: Instant, status: &crate::ledger::LedgerStatus) {
        match (&status.trouble, self.trouble.since) {
            (Some(_), None) => {
                // The writer logged the failure itself; remember when it began.
                self.trouble.since = Some(now);
                self.trouble.last_reminder = Some(now);
            }
            (Some(t), Some(since)) => {
                if self
                    .trouble
                    .last_reminder
                    .is_none_or(|r| now.duration_since(r) >= TROUBLE_REMINDER)
                {
                    self.trouble.last_reminder = Some(now);
                    tracing::error!(
                        dir = %self.dir.display(), error = %t.error, failures = t.failures,
                        pending = status.pending, dropped = status.dropped,
                        for_secs = now.duration_since(since).as_secs(),
                        "ledger disk trouble continues: usage records are held in memory; \
                         free space or fix the disk before the queue bound is reached"
                    );
                }
            }
            (None, Some(since)) => {
                self.trouble = TroubleWatch::default();
                tracing::warn!(
                    dir = %self.dir.display(), durable_lsn = status.durable_lsn,
                    dropped = status.dropped, lasted_secs = now.duration_since(since).as_secs(),
                    "ledger writes succeed again"
                );
            }
            (None, None) => {}
        }
    }

    /// Stops every open leg with `end` and closes every open tunnel, then closes the ledger,
    /// writing and syncing everything (blocks on the disk: the daemon is exiting).
    pub fn close(&mut self, now: Instant, config: &LedgerConfig, at: UnixMillis, end: &SessionEnd) {
        if self.ledger.is_none() {
            return;
        }
        let mut legs: Vec<LegKey> = self.legs.keys().copied().collect();
        legs.sort();
        for key in legs {
            self.session_stop(now, config, at, key, end.clone());
        }
        let tunnels: Vec<TunnelKey> = self.tunnels.keys().copied().collect();
        for key in tunnels {
            self.tunnel_close(now, config, at, key, &end.text);
        }
        let Some(ledger) = self.ledger.take() else {
            return;
        };
        match ledger.close() {
            Ok(status) => tracing::info!(
                dir = %self.dir.display(), durable_lsn = status.durable_lsn,
                dropped = status.dropped, "ledger closed; every record is on disk"
            ),
            Err(e) => tracing::error!(
                dir = %self.dir.display(), error = %e,
                "ledger closed with usage records that could not be written"
            ),
        }
    }

    /// The ledger block of `ctl status`.
    pub fn status(&self) -> Option<Box<LedgerState>> {
        let ledger = self.ledger.as_ref()?;
        let s = ledger.status();
        Some(Box::new(LedgerState {
            directory: self.dir.display().to_string(),
            last_lsn: s.last_lsn,
            durable_lsn: s.durable_lsn,
            pending: s.pending as u64,
            dropped: s.dropped,
            refused: self.refused,
            skipped_readings: self.skipped,
            trouble: s.trouble.as_ref().map(|t| t.error.clone()),
            trouble_failures: s.trouble.as_ref().map_or(0, |t| t.failures),
            open_sessions: self.legs.len() as u64,
            open_tunnels: self.tunnels.len() as u64,
            segment: s.segment_seq,
        }))
    }

    /// The `degraded` line of `ctl status` while the disk fails or records were lost.
    pub fn degraded_line(&self) -> Option<String> {
        let s = self.ledger.as_ref()?.status();
        match &s.trouble {
            Some(t) => Some(format!(
                "ledger {}: {t}; {} usage records lost (queue bound reached)",
                self.dir.display(),
                s.dropped
            )),
            None if s.dropped > 0 => Some(format!(
                "ledger {}: {} usage records were lost while the disk failed",
                self.dir.display(),
                s.dropped
            )),
            None => None,
        }
    }
}

fn nonzero(d: Duration) -> Option<Duration> {
    (!d.is_zero()).then_some(d)
}

/// `at` rounded up to the next multiple of `grid` after `epoch`.
fn on_grid(epoch: Instant, at: Instant, grid: Duration) -> Instant {
    let since = at.saturating_duration_since(epoch).as_nanos();
    let grid = grid.as_nanos().max(1);
    let steps = since.div_ceil(grid);
    let offset = u64::try_from(steps * grid).unwrap_or(u64::MAX);
    epoch + Duration::from_nanos(offset)
}

impl Actor {
    /// LAC hook, `TunnelUp`: record the tunnel with its peer and line.
    pub(super) fn account_lac_tunnel_up(&mut self, now: Instant, tunnel: u16, remote_id: u16) {
        let Some(t) = self.lac.tunnels.get(&tunnel) else {
            return;
        };
        let (peer, line) = (t.peer.clone(), t.line.clone());
        let at = self.wall(now);
        self.accounting.tunnel_open(
            now,
            &self.config.billing.ledger,
            at,
            TunnelKey::Lac(tunnel),
            tunnel,
            remote_id,
            peer,
            line,
        );
    }

    /// LNS hook, `TunnelUp`: record the tunnel if its LAC does not record its own sessions.
    pub(super) fn account_lns_tunnel_up(
        &mut self,
        now: Instant,
        tunnel: u16,
        peer: &crate::l2tp::PeerInfo,
        peer_name: &Arc<str>,
    ) {
        if counted_by_the_peer(peer.capabilities) {
            return;
        }
        let at = self.wall(now);
        let line: Arc<str> = format!("lns@{}", peer.local).into();
        self.accounting.tunnel_open(
            now,
            &self.config.billing.ledger,
            at,
            TunnelKey::Lns(tunnel),
            tunnel,
            peer.peer_tunnel_id,
            peer_name.clone(),
            line,
        );
    }

    /// Hook, `TunnelDown` of either role: close the tunnel's record (after its sessions').
    pub(super) fn account_tunnel_down(&mut self, now: Instant, key: TunnelKey, reason: &str) {
        if !self.accounting.has_tunnel(key) {
            return;
        }
        let at = self.wall(now);
        self.accounting
            .tunnel_close(now, &self.config.billing.ledger, at, key, reason);
    }

    /// LAC hook, "session up": the subscriber's usage starts.
    pub(super) fn account_lac_session_up(&mut self, now: Instant, id: u64) {
        if !self.accounting.enabled() {
            return;
        }
        let Some(sub) = self.lac.subscribers.get(&id) else {
            return;
        };
        let (Some(profile), Some(leg)) = (&sub.profile, &sub.leg) else {
            return;
        };
        let (name, account) = (profile.name.clone(), profile.account.clone());
        let (tunnel, session) = (leg.tunnel, leg.session);
        let counters = sub.counters.clone();
        if !self.accounting.has_tunnel(TunnelKey::Lac(tunnel)) {
            // The session's SessionUp can precede the tunnel's own event in one flush.
            let remote = self
                .lac_ep
                .as_ref()
                .and_then(|ep| ep.endpoint.tunnel(tunnel))
                .map_or(0, |t| t.peer_tunnel_id);
            self.account_lac_tunnel_up(now, tunnel, remote);
        }
        let at = self.wall(now);
        let started = self.accounting.session_start(
            now,
            &self.config.billing.ledger,
            at,
            LegKey::Lac(id),
            &name,
            &account,
            TunnelKey::Lac(tunnel),
            session,
            counters,
        );
        if !started {
            tracing::warn!(
                role = "lac", subscriber = %name, tunnel_id = tunnel, session_id = session,
                "session not recorded in the ledger: its tunnel is unknown"
            );
        }
    }

    /// LNS hook, "session up" (IPCP opened): usage of a foreign LAC's session starts.
    pub(super) fn account_lns_session_up(&mut self, now: Instant, key: u32) {
        let Some(s) = self.lns.sessions.get(&key) else {
            return;
        };
        if !self.accounting.has_tunnel(TunnelKey::Lns(s.tunnel)) {
            return;
        }
        let Some(name) = s.subscriber.clone() else {
            return;
        };
        let account = self
            .config
            .subscribers
            .get(&name)
            .map_or_else(|| name.to_string(), |r| r.account().to_owned());
        let (tunnel, session, counters) = (s.tunnel, s.session, s.counters.clone());
        let at = self.wall(now);
        self.accounting.session_start(
            now,
            &self.config.billing.ledger,
            at,
            LegKey::Lns(key),
            &name,
            &account,
            TunnelKey::Lns(tunnel),
            session,
            counters,
        );
    }

    /// Hook, end of a session of either role: its stop record (no-op for a session never up).
    pub(super) fn account_session_end(&mut self, now: Instant, key: LegKey, end: SessionEnd) {
        if !self.accounting.has_leg(key) {
            return;
        }
        let at = self.wall(now);
        self.accounting
            .session_stop(now, &self.config.billing.ledger, at, key, end);
    }

    /// Switchover hook: the LAC subscriber `id` now runs on LAC tunnel `to_tunnel`, session
    /// `to_session` (the move committed). Writes one `SessionMove`; the subscriber's current
    /// `counters` are taken as the new leg's. Returns false when nothing was recorded (the
    /// subscriber's session or the target tunnel is not in the ledger).
    pub(super) fn account_move(
        &mut self,
        now: Instant,
        id: u64,
        to_tunnel: u16,
        to_session: u16,
    ) -> bool {
        let Some(counters) = self.lac.subscribers.get(&id).map(|s| s.counters.clone()) else {
            return false;
        };
        if !self.accounting.has_tunnel(TunnelKey::Lac(to_tunnel)) {
            let remote = self
                .lac_ep
                .as_ref()
                .and_then(|ep| ep.endpoint.tunnel(to_tunnel))
                .map_or(0, |t| t.peer_tunnel_id);
            self.account_lac_tunnel_up(now, to_tunnel, remote);
        }
        let at = self.wall(now);
        self.accounting.session_move(
            now,
            &self.config.billing.ledger,
            at,
            LegKey::Lac(id),
            TunnelKey::Lac(to_tunnel),
            to_session,
            counters,
        )
    }

    /// The actor's timer for accounting.
    pub(super) fn accounting_timeout(&mut self, now: Instant) {
        let at = self.wall(now);
        self.accounting
            .handle_timeout(now, &self.config.billing.ledger, at);
    }

    /// At exit: stop what is still open, close the ledger.
    pub(super) fn accounting_close(&mut self, now: Instant) {
        let at = self.wall(now);
        let end = SessionEnd::new(TerminateCause::AdminReboot, "l2tpagg stopped");
        self.accounting
            .close(now, &self.config.billing.ledger, at, &end);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::{LedgerOptions, LedgerReader};
    use crate::runtime::clock::test_epoch;

    const T0: UnixMillis = 1_793_491_200_000;

    fn config() -> LedgerConfig {
        LedgerConfig {
            commit_interval: Duration::from_millis(200),
            interim_interval: Duration::from_secs(60),
            ..LedgerConfig::default()
        }
    }

    fn open(dir: &std::path::Path) -> Ledger {
        Ledger::open(dir, LedgerOptions::default()).unwrap().0
    }

    fn read(dir: &std::path::Path) -> Vec<LedgerEvent> {
        LedgerReader::open(dir)
            .unwrap()
            .map(|e| e.unwrap().record.event)
            .collect()
    }

    fn bump(c: &SessionCounters, up: u64, down: u64) {
        c.record(Direction::FromSubscriber, up, 1);
        c.record(Direction::ToSubscriber, down, 1);
    }

    /// Runs every timer due up to `until`, in order, like the actor does.
    fn run_until(a: &mut Accounting, cfg: &LedgerConfig, t0: Instant, until: Instant) {
        while let Some(t) = a.poll_timeout() {
            if t > until {
                break;
            }
            let at = T0 + crate::runtime::clock::millis(t - t0);
            a.handle_timeout(t, cfg, at);
        }
    }

    #[test]
    fn a_session_gets_start_interims_and_stop_with_its_own_counters() {
        let tmp = tempfile::tempdir().unwrap();
        let cfg = config();
        let t0 = test_epoch();
        let mut a = Accounting::new(Some(open(tmp.path())), &cfg, t0, T0);
        a.tunnel_open(
            t0,
            &cfg,
            T0,
            TunnelKey::Lac(7),
            7,
            70,
            "lns-a".into(),
            "fiber".into(),
        );
        let counters = Arc::new(SessionCounters::new());
        bump(&counters, 5, 5); // before the start: not this leg's
        assert!(a.session_start(
            t0,
            &cfg,
            T0,
            LegKey::Lac(1),
            "alice",
            "ACCT",
            TunnelKey::Lac(7),
            3,
            counters.clone(),
        ));
        bump(&counters, 100, 1000);
        run_until(&mut a, &cfg, t0, t0 + Duration::from_secs(61));
        bump(&counters, 50, 500);
        run_until(&mut a, &cfg, t0, t0 + Duration::from_secs(150));
        a.note_end(
            LegKey::Lac(1),
            SessionEnd::new(TerminateCause::IdleTimeout, "idle 300 s of 300 s"),
        );
        a.session_stop(
            t0 + Duration::from_secs(150),
            &cfg,
            T0 + 150_000,
            LegKey::Lac(1),
            SessionEnd::new(TerminateCause::AdminReset, "later, generic"),
        );
        a.tunnel_close(
            t0 + Duration::from_secs(151),
            &cfg,
            T0 + 151_000,
            TunnelKey::Lac(7),
            "we sent StopCCN",
        );
        a.close(
            t0 + Duration::from_secs(152),
            &cfg,
            T0 + 152_000,
            &SessionEnd::new(TerminateCause::AdminReboot, "stop"),
        );
        let events = read(tmp.path());
        let names: Vec<&str> = events.iter().map(LedgerEvent::name).collect();
        assert_eq!(
            names,
            [
                "daemon-start",
                "tunnel-open",
                "line-use",
                "session-start",
                "session-interim",
                "heartbeat",
                "session-interim",
                "heartbeat",
                "session-stop",
                "tunnel-close",
                "line-use",
            ]
        );
        let interims: Vec<Counters> = events
            .iter()
            .filter_map(|e| match e {
                LedgerEvent::SessionInterim { counters, .. } => Some(*counters),
                _ => None,
            })
            .collect();
        assert_eq!((interims[0].octets_in, interims[0].octets_out), (100, 1000));
        assert_eq!((interims[1].octets_in, interims[1].octets_out), (150, 1500));
        match &events[8] {
            LedgerEvent::SessionStop {
                counters,
                cause,
                cause_text,
                ..
            } => {
                assert_eq!(counters.octets_in, 150);
                assert_eq!(counters.packets_out, 2);
                assert_eq!(*cause, TerminateCause::IdleTimeout, "the noted cause wins");
                assert_eq!(cause_text, "idle 300 s of 300 s");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_move_ends_one_leg_and_starts_the_next_at_zero_in_one_record() {
        let tmp = tempfile::tempdir().unwrap();
        let cfg = config();
        let t0 = test_epoch();
        let mut a = Accounting::new(Some(open(tmp.path())), &cfg, t0, T0);
        for (t, line) in [(1u16, "l1"), (2, "l2")] {
            a.tunnel_open(
                t0,
                &cfg,
                T0,
                TunnelKey::Lac(t),
                t,
                t + 100,
                "lns".into(),
                line.into(),
            );
        }
        let counters = Arc::new(SessionCounters::new());
        a.session_start(
            t0,
            &cfg,
            T0,
            LegKey::Lac(9),
            "bob",
            "B",
            TunnelKey::Lac(1),
            11,
            counters.clone(),
        );
        bump(&counters, 10, 20);
        // The same counters keep running on the new leg.
        assert!(a.session_move(
            t0,
            &cfg,
            T0 + 1,
            LegKey::Lac(9),
            TunnelKey::Lac(2),
            22,
            counters.clone()
        ));
        bump(&counters, 1, 2);
        a.session_stop(
            t0,
            &cfg,
            T0 + 2,
            LegKey::Lac(9),
            SessionEnd::new(TerminateCause::UserRequest, "logout"),
        );
        drop(a);
        let events = read(tmp.path());
        let (multi, first) = events
            .iter()
            .find_map(|e| match e {
                LedgerEvent::SessionStart { multi, session, .. } => Some((*multi, *session)),
                _ => None,
            })
            .unwrap();
        let moved = events
            .iter()
            .find_map(|e| match e {
                LedgerEvent::SessionMove {
                    multi: m,
                    from,
                    from_counters,
                    to,
                    to_place,
                } => Some((*m, *from, *from_counters, *to, to_place.clone())),
                _ => None,
            })
            .unwrap();
        assert_eq!(moved.0, multi);
        assert_eq!(moved.1, first);
        assert_eq!((moved.2.octets_in, moved.2.octets_out), (10, 20));
        assert_ne!(moved.3, first);
        assert_eq!((moved.4.line.as_str(), moved.4.l2tp_session_id), ("l2", 22));
        let stop = events
            .iter()
            .find_map(|e| match e {
                LedgerEvent::SessionStop {
                    session, counters, ..
                } => Some((*session, *counters)),
                _ => None,
            })
            .unwrap();
        assert_eq!(stop.0, moved.3, "the stop is the new leg's");
        assert_eq!((stop.1.octets_in, stop.1.octets_out), (1, 2));
    }

    #[test]
    fn legs_of_unrecorded_tunnels_are_not_recorded_and_close_stops_the_rest() {
        let tmp = tempfile::tempdir().unwrap();
        let cfg = config();
        let t0 = test_epoch();
        let mut a = Accounting::new(Some(open(tmp.path())), &cfg, t0, T0);
        let c = Arc::new(SessionCounters::new());
        assert!(!a.session_start(
            t0,
            &cfg,
            T0,
            LegKey::Lns(1),
            "x",
            "x",
            TunnelKey::Lns(4),
            1,
            c.clone()
        ));
        a.tunnel_open(
            t0,
            &cfg,
            T0,
            TunnelKey::Lns(5),
            5,
            50,
            "bras".into(),
            "lns@127.0.0.1:1701".into(),
        );
        assert!(a.session_start(
            t0,
            &cfg,
            T0,
            LegKey::Lns(2),
            "y",
            "Y",
            TunnelKey::Lns(5),
            2,
            c
        ));
        let status = a.status().unwrap();
        assert_eq!((status.open_sessions, status.open_tunnels), (1, 1));
        a.close(
            t0,
            &cfg,
            T0 + 5,
            &SessionEnd::new(TerminateCause::AdminReboot, "l2tpagg stopped"),
        );
        let names: Vec<&str> = read(tmp.path()).iter().map(LedgerEvent::name).collect();
        assert_eq!(
            names,
            [
                "daemon-start",
                "tunnel-open",
                "line-use",
                "session-start",
                "session-stop",
                "tunnel-close",
                "line-use"
            ]
        );
    }

    /// Accounting over a fresh ledger in `dir` with one LAC tunnel (ID 1) open.
    fn with_one_tunnel(dir: &std::path::Path, cfg: &LedgerConfig, t0: Instant) -> Accounting {
        let mut a = Accounting::new(Some(open(dir)), cfg, t0, T0);
        let (peer, line) = ("p".into(), "l".into());
        a.tunnel_open(t0, cfg, T0, TunnelKey::Lac(1), 1, 1, peer, line);
        a
    }

    /// Starts LAC leg `id` on the tunnel of [`with_one_tunnel`].
    fn start_on_the_tunnel(a: &mut Accounting, now: Instant, cfg: &LedgerConfig, id: u64) {
        let counters = Arc::new(SessionCounters::new());
        a.session_start(
            now,
            cfg,
            T0,
            LegKey::Lac(id),
            "s",
            "s",
            TunnelKey::Lac(1),
            1,
            counters,
        );
    }

    #[test]
    fn interims_due_together_are_spread_over_turns() {
        let tmp = tempfile::tempdir().unwrap();
        let cfg = config();
        let t0 = test_epoch();
        let mut a = with_one_tunnel(tmp.path(), &cfg, t0);
        let n = MAX_INTERIMS_PER_TURN + 10;
        for i in 0..n {
            start_on_the_tunnel(&mut a, t0, &cfg, i as u64);
        }
        let due = t0 + Duration::from_secs(60);
        a.handle_timeout(due, &cfg, T0 + 60_000);
        assert_eq!(a.poll_timeout(), Some(due), "10 interims still due");
        a.handle_timeout(due, &cfg, T0 + 60_000);
        assert!(a.poll_timeout().unwrap() > due);
        drop(a);
        let interims = read(tmp.path())
            .iter()
            .filter(|e| matches!(e, LedgerEvent::SessionInterim { .. }))
            .count();
        assert_eq!(interims, n);
    }

    #[test]
    fn interim_deadlines_share_a_one_second_grid() {
        let tmp = tempfile::tempdir().unwrap();
        let cfg = config();
        let t0 = test_epoch();
        let mut a = with_one_tunnel(tmp.path(), &cfg, t0);
        for i in 0..10u64 {
            let now = t0 + Duration::from_millis(1 + 97 * i);
            start_on_the_tunnel(&mut a, now, &cfg, i);
        }
        let deadlines: std::collections::BTreeSet<Instant> =
            a.interims.iter().map(|(t, _)| *t).collect();
        assert_eq!(
            deadlines.into_iter().collect::<Vec<_>>(),
            [t0 + Duration::from_secs(61)],
            "started within the same second, due together"
        );
        assert_eq!(
            on_grid(
                t0,
                t0 + Duration::from_millis(1500),
                Duration::from_millis(200)
            ),
            t0 + Duration::from_millis(1600)
        );
        assert_eq!(on_grid(t0, t0, INTERIM_GRID), t0);
    }

    #[test]
    fn commits_are_armed_by_records_and_only_then() {
        let tmp = tempfile::tempdir().unwrap();
        let cfg = config();
        let t0 = test_epoch();
        let mut a = Accounting::new(Some(open(tmp.path())), &cfg, t0, T0);
        // DaemonStart armed a commit and the heartbeat.
        assert_eq!(a.commit_due, Some(t0 + cfg.commit_interval));
        a.handle_timeout(t0 + cfg.commit_interval, &cfg, T0 + 200);
        // Waits for the writer (no sleep): the DaemonStart record is durable.
        assert_eq!(a.ledger.as_ref().unwrap().commit_and_wait().unwrap(), 1);
        // Nothing pending: one more timeout disarms, and the next deadline is the heartbeat.
        a.handle_timeout(t0 + 2 * cfg.commit_interval, &cfg, T0 + 400);
        assert_eq!(a.commit_due, None);
        assert_eq!(a.poll_timeout(), Some(t0 + cfg.interim_interval));
    }

    #[test]
    fn without_a_ledger_everything_is_a_no_op() {
        let cfg = config();
        let t0 = test_epoch();
        let mut a = Accounting::new(None, &cfg, t0, T0);
        a.tunnel_open(
            t0,
            &cfg,
            T0,
            TunnelKey::Lac(1),
            1,
            1,
            "p".into(),
            "l".into(),
        );
        assert!(!a.has_tunnel(TunnelKey::Lac(1)));
        assert_eq!(a.poll_timeout(), None);
        assert!(a.status().is_none());
    }

    #[test]
    fn causes_map_to_rfc_2866() {
        let reason = |result, code: Option<DisconnectCauseCode>| CloseReason {
            result,
            error: None,
            message: None,
            cause: code.map(|code| DisconnectCause {
                code,
                detail: 0,
                text: None,
            }),
        };
        use DisconnectCauseCode as V;
        use TerminateCause as T;
        for (result, code, want) in [
            (
                CdnResult::Administrative,
                Some(V::SubscriberLeft),
                T::UserRequest,
            ),
            (
                CdnResult::LossOfCarrier,
                Some(V::SubscriberLeft),
                T::LostCarrier,
            ),
            (
                CdnResult::Administrative,
                Some(V::Administrative),
                T::AdminReset,
            ),
            (CdnResult::Administrative, Some(V::Shutdown), T::AdminReboot),
            (
                CdnResult::TemporaryFacilities,
                Some(V::ResourceExhausted),
                T::ServiceUnavailable,
            ),
            (
                CdnResult::Administrative,
                Some(V::AutomaticDisconnect),
                T::NasRequest,
            ),
            (CdnResult::LossOfCarrier, None, T::LostCarrier),
            (CdnResult::Administrative, None, T::AdminReset),
            (CdnResult::GeneralError, None, T::NasError),
        ] {
            let end = SessionEnd::from_close("why", &reason(result, code));
            assert_eq!(end.cause, want, "{result:?} {code:?}");
            assert_eq!(end.text, "why");
        }
        assert_eq!(
            SessionEnd::from_session_down(&SessionDownCause::TunnelDown).cause,
            T::LostService
        );
        // An automatic disconnect names its Acct-Terminate-Cause in the detail (wire/avp.rs).
        let mut idle = reason(CdnResult::Administrative, Some(V::AutomaticDisconnect));
        if let Some(c) = idle.cause.as_mut() {
            c.detail = 4;
        }
        assert_eq!(SessionEnd::from_close("idle", &idle).cause, T::IdleTimeout);
    }
}

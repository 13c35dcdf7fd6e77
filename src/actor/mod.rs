//! The one state actor: a single tokio task that owns every protocol machine and every table of
//! the daemon, driven by commands from the socket tasks, the ctl server and the signal handler, and
//! by one deadline (the earliest over every machine it owns).
//!
//! Owns: the three L2TP endpoints (LNS, LAC, dial-in) and their tunnels; every PPP link (LNS
//! terminations, LAC subscribers until they are handed to an LNS); the session-admin table and the
//! consolidation planner ([`crate::engine::planner::Planner`]); LNS address pools; LNS peer health
//! (hold-downs); the data-plane map entries (it inserts, replaces and removes them); the
//! configuration in force. Must not touch: sockets directly (it sends through
//! [`crate::dataplane::sessions::DatagramSink`]s, never waiting), data packets of established
//! sessions (the data plane forwards those), the clock beyond [`crate::runtime::clock`].
//!
//! # Files
//! | file            | what it handles                                                              |
//! |-----------------|------------------------------------------------------------------------------|
//! | `mod.rs`        | the run loop, [`ActorHandle`], [`Command`], the deadline, flushing, shutdown |
//! | `endpoint.rs`   | an L2TP endpoint with its sockets and responder policy                      |
//! | `lns.rs`        | LNS: accepting calls, PPP termination, addresses, TUN routes                 |
//! | `lac.rs`        | LAC: subscribers, authentication, peer choice, placement, relaying          |
//! | `dialin.rs`     | the L2TP dial-in front-end: subscribers' own LACs                           |
//! | `pppoe.rs`      | the PPPoE front-end: access concentrators per interface (RFC 2516)          |
//! | `ctl.rs`        | answers to `l2tpagg ctl`                                                     |
//! | `reload.rs`     | SIGHUP / `ctl reload`                                                        |
//! | `accounting.rs` | the usage ledger: who records what, interims, group commit, disk trouble     |
//! | `switchover.rs` | live session moves (LAC and LNS sides) and `ctl drain` of LAC tunnels       |
//! | `disconnect.rs` | the disconnect-condition engine (seed 004) and resume after a disconnect     |
//! | `levels.rs`     | service levels: sampling counters, feeding the allocator and the planner    |
//! | `pool.rs`, `login.rs`, `timers.rs` | address pools, credential checks, the timer table          |
//!
//! # Loop
//! Each turn: take one command (or the deadline), handle it with `now`, then flush:
//! drain every endpoint's events (each may call into another endpoint or a PPP link) and then its
//! transmits, until nothing is left. Then the next deadline is the minimum over the endpoints, the
//! planner and the actor's timer table.
//!
//! # Hooks for later tasks
//! - Live switchover (wired): `switchover.rs`. The planner's `Decision::Move` lands in
//!   `switchover::start_move` and `AbortMove` in `Actor::abort_move`; the LAC endpoint's events
//!   pass `Actor::lac_switchover_event` first; on the LNS an ICRQ with a Switchover AVP goes to
//!   `Actor::lns_switchover_call`, its ICCN to `Actor::lns_switchover_up`, every session end to
//!   `Actor::lns_switchover_down` and frames are filed by `Actor::lns_context_key`.
//! - Disconnect engine (wired, `disconnect.rs`): the field `disconnect` next to `planner`, its
//!   deadline in `Actor::poll_timeout`, its timeout in `Actor::on_timeout`; sessions register at
//!   authentication (`lac_authenticate`, `lns_authenticate`) and leave in `lac_end` /
//!   `lns_cleanup`. A session cut automatically carries an `end_cause`
//!   (`disconnect::EndCause`: Acct-Terminate-Cause, condition, measured value and limit) into
//!   its end path, for the ledger's stop record.
//! - Ledger: wired (`accounting.rs`, whose doc says who records what). A session-end path
//!   hands the stop record its cause as data: `Actor::lac_end_with(.., SessionEnd)` on the LAC,
//!   `Accounting::note_end` before `Actor::lns_close` on the LNS. A committed live move calls
//!   `Actor::account_move`.
//! - PPPoE front-end (wired): `lac::Access::Pppoe` next to `Access::Dialin` (frames toward the
//!   subscriber through a [`crate::dataplane::sessions::PppoePath`], `Action::Deliver` in the
//!   data plane), [`Command::Pppoe`] dispatched to `pppoe.rs`.

mod accounting;
mod ctl;
mod dialin;
mod disconnect;
mod endpoint;
mod lac;
mod levels;
mod lns;
mod login;
mod pool;
mod pppoe;
mod reload;
mod switchover;
#[cfg(test)]
mod tests;
mod timers;

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::{mpsc, oneshot};

use crate::config::{Config, LineId};
use crate::ctl::proto::{ErrorCode, Request, Response};
use crate::dataplane::sessions::{DatagramSink, Dataplane};
use crate::engine::planner::Planner;
use crate::l2tp::EndpointConfig;
use crate::ppp::{
    AuthProtocol, LcpConfig, LinkConfig, NegotiationConfig, RoleConfig, ServerConfig,
};
use crate::runtime::clock::{self, Clock, UnixMillis};
use crate::runtime::ctl_server::{CtlCall, CtlHandler, HandlerFuture};
use crate::runtime::logging::RateLimitedLog;

use endpoint::{AccessPolicy, RoleEndpoint, base_tunnel_config, responder_policy};
use timers::Timers;

/// Which L2TP endpoint a datagram or frame belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// The LNS endpoint: tunnels from LACs, sessions ending in PPP termination.
    Lns,
    /// The LAC endpoint: our tunnels toward LNS peers.
    Lac,
    /// The dial-in front-end: tunnels from subscribers' own LACs.
    Dialin,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 3] = [Role::Lns, Role::Lac, Role::Dialin];

    /// Name for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Lns => "lns",
            Role::Lac => "lac",
            Role::Dialin => "dialin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Something for the actor to do.
#[derive(Debug)]
pub enum Command {
    /// An L2TP control message received on a socket of `role`, sent to `local` by `remote`.
    Control {
        /// The endpoint.
        role: Role,
        /// Our address it arrived on.
        local: SocketAddr,
        /// The sender.
        remote: SocketAddr,
        /// The whole datagram.
        datagram: Vec<u8>,
    },
    /// A PPP frame of a session the data plane does not forward itself (still negotiating, or a
    /// control protocol of an established LNS session).
    Frame {
        /// The endpoint.
        role: Role,
        /// Our tunnel ID.
        tunnel: u16,
        /// Our session ID.
        session: u16,
        /// The frame as it came (with or without `FF 03`).
        frame: Vec<u8>,
    },
    /// An Ethernet frame (header included) from PPPoE access interface `port` (its index in
    /// `lac.pppoe.interfaces`): a Discovery frame, or a Session-stage frame the data plane does
    /// not forward itself (still negotiating, or an unknown session ID to answer with a PADT).
    Pppoe {
        /// The interface's index.
        port: u16,
        /// The whole frame.
        frame: Vec<u8>,
    },
    /// A ctl request.
    Ctl(CtlCall),
    /// Re-read the configuration (SIGHUP).
    Reload,
    /// Tear everything down (CDN, StopCCN) and stop within the configured grace.
    Shutdown,
    /// Answer at once: proves the actor's loop turns (the systemd watchdog pings only then).
    Ping(oneshot::Sender<()>),
}

/// Counters of the handle, shared by its clones.
#[derive(Debug, Default)]
struct HandleStats {
    queue_full: AtomicU64,
    shed: AtomicU64,
}

/// A cloneable handle to the actor: a bounded queue. Socket tasks use [`ActorHandle::try_send`]
/// (never waiting: a full queue drops and counts), the ctl server and the signal handler wait.
#[derive(Debug, Clone)]
pub struct ActorHandle {
    tx: mpsc::Sender<Command>,
    stats: Arc<HandleStats>,
}

impl ActorHandle {
    /// Queues a command without waiting. Returns false (and counts it) when the queue is full or
    /// the actor is gone.
    pub fn try_send(&self, command: Command) -> bool {
        match self.tx.try_send(command) {
            Ok(()) => true,
            Err(_) => {
                self.stats.queue_full.fetch_add(1, Relaxed);
                false
            }
        }
    }

    /// Queues a command that may be shed under load (PPPoE Discovery, frames for unknown PPPoE
    /// sessions): refused, and counted, while fewer than half of the queue's slots are free, so a
    /// flood of it cannot crowd out L2TP control messages and frames of sessions being set up.
    /// The senders of such frames retransmit.
    pub fn try_send_sheddable(&self, command: Command) -> bool {
        if self.tx.capacity() < self.tx.max_capacity() / 2 {
            self.stats.shed.fetch_add(1, Relaxed);
            return false;
        }
        self.try_send(command)
    }

    /// Queues a command, waiting for room. False when the actor is gone.
    pub async fn send(&self, command: Command) -> bool {
        self.tx.send(command).await.is_ok()
    }

    /// Asks the actor a ctl question and waits for the answer.
    pub async fn request(&self, request: Request) -> Response {
        let (reply, answer) = oneshot::channel();
        if !self.send(Command::Ctl(CtlCall { request, reply })).await {
            return Response::error(ErrorCode::Unavailable, "the daemon is shutting down");
        }
        answer.await.unwrap_or_else(|_| {
            Response::error(
                ErrorCode::Unavailable,
                "the daemon dropped the request (shutting down?)",
            )
        })
    }

    /// Whether the actor answers within `timeout` (its loop is turning).
    pub async fn ping(&self, timeout: std::time::Duration) -> bool {
        let (reply, answer) = oneshot::channel();
        if self.tx.try_send(Command::Ping(reply)).is_err() {
            // A full queue means the actor is busy, not dead; a closed one means it is gone.
            return !self.tx.is_closed();
        }
        matches!(tokio::time::timeout(timeout, answer).await, Ok(Ok(())))
    }

    /// Commands dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.stats.queue_full.load(Relaxed)
    }
}

impl CtlHandler for ActorHandle {
    fn handle(&self, request: Request) -> HandlerFuture<'_> {
        Box::pin(self.request(request))
    }
}

/// The routes through the LNS's TUN device, as the actor changes them on reload (pools and
/// static addresses added or removed). Implemented by the runtime's TUN device.
pub trait RouteTable: Send + Sync + 'static {
    /// Routes this process installed.
    fn installed(&self) -> Vec<ipnet::Ipv4Net>;
    /// Installs a route through the device.
    fn add(&self, net: ipnet::Ipv4Net) -> Result<(), String>;
    /// Removes a route this process installed.
    fn remove(&self, net: ipnet::Ipv4Net) -> Result<(), String>;
}

pub use lns::lns_routes;
pub use pppoe::PppoePortParts;

/// Everything the actor is built from; the runtime binds the sockets and hands them over.
pub struct ActorParts {
    /// The configuration in force.
    pub config: Arc<Config>,
    /// The file it came from; `None` for the embedded default (reload re-reads that).
    pub config_path: Option<PathBuf>,
    /// The data plane shared with the socket tasks.
    pub dataplane: Arc<Dataplane>,
    /// Sockets of the LNS endpoint (`lns.listen`).
    pub lns_sockets: Vec<Arc<dyn DatagramSink>>,
    /// Sockets of the dial-in front-end (`lac.dialin.listen`).
    pub dialin_sockets: Vec<Arc<dyn DatagramSink>>,
    /// One socket per LAC line, bound to the line's address.
    pub line_sockets: Vec<(LineId, Arc<dyn DatagramSink>)>,
    /// The PPPoE access interfaces, in `lac.pppoe.interfaces` order (empty: no PPPoE).
    pub pppoe: Vec<PppoePortParts>,
    /// Rate-limited log and counters of bad input.
    pub rate_log: Arc<RateLimitedLog>,
    /// Facilities running degraded, one line each (for `ctl status`).
    pub degraded: Vec<String>,
    /// The daemon's clock (wall time for `ctl`).
    pub clock: Clock,
    /// The TUN device's routes, when the LNS manages them (`lns.tun.manage_routes`).
    pub routes: Option<Arc<dyn RouteTable>>,
    /// The usage ledger, opened (and recovered) by the runtime; `None` records nothing.
    pub ledger: Option<crate::ledger::Ledger>,
}

/// Keys of the actor's own timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum TimerKey {
    /// An LNS session's PPP link (by data-plane session key).
    LnsLink(u32),
    /// A LAC subscriber: its PPP link and its setup deadline.
    Subscriber(u64),
    /// A LAC tunnel that must be up by its setup deadline.
    LacTunnelSetup(u16),
    /// A step of a live session move.
    Switchover(switchover::SwitchTimer),
    /// Sampling the counters for the service levels.
    LevelSample,
}

/// How the actor stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitReport {
    /// Every tunnel was closed and acknowledged before the grace ran out.
    Clean,
    /// The grace ran out with this many tunnels still closing.
    GraceExpired {
        /// Tunnels not yet acknowledged.
        tunnels: usize,
    },
    /// Every handle was dropped (no shutdown command was sent).
    Abandoned,
}

/// The state actor. Build it with [`Actor::new`], run it with [`Actor::run`].
pub struct Actor {
    config: Arc<Config>,
    config_path: Option<PathBuf>,
    config_loaded_at: UnixMillis,
    dp: Arc<Dataplane>,
    rate_log: Arc<RateLimitedLog>,
    degraded: Vec<String>,
    clock: Clock,
    started_at: UnixMillis,
    handle_stats: Arc<HandleStats>,

    lns_ep: Option<RoleEndpoint>,
    lac_ep: Option<RoleEndpoint>,
    dialin_ep: Option<RoleEndpoint>,
    lns_policy: Arc<Mutex<AccessPolicy>>,
    dialin_policy: Arc<Mutex<AccessPolicy>>,
    routes: Option<Arc<dyn RouteTable>>,

    lns: lns::LnsState,
    lac: lac::LacState,
    dialin: dialin::DialinState,
    pppoe: pppoe::PppoeState,
    planner: Planner,
    timers: Timers<TimerKey>,
    /// Live session moves in flight (both roles) and drained LAC tunnels.
    switchovers: switchover::Switchovers,
    /// The service-level monitor and allocator (`[planner.service_level]`).
    levels: levels::Levels,
    disconnect: disconnect::DisconnectState,
    accounting: accounting::Accounting,

    /// Set by [`Command::Shutdown`]: when the grace ends.
    shutdown_deadline: Option<Instant>,
    /// PPP frames that arrived for an accepted call before its ICCN was processed.
    early_frames: EarlyFrames,
}

/// Most frames kept per call that is accepted but not yet connected.
const MAX_EARLY_FRAMES: usize = 8;

/// PPP frames of calls we accepted whose ICCN has not been processed yet. A peer may send PPP
/// right behind its ICCN, and when its control window is full the ICCN waits while the data
/// message does not (xl2tpd's pppd and our own subscribers' LACs both do this under load):
/// dropping those frames would cost the subscriber a restart timer. They are replayed when the
/// session comes up and forgotten when it goes down.
#[derive(Debug, Default)]
struct EarlyFrames {
    frames: HashMap<(Role, u32), Vec<Vec<u8>>>,
}

impl EarlyFrames {
    fn hold(&mut self, role: Role, key: u32, frame: &[u8]) {
        let v = self.frames.entry((role, key)).or_default();
        if v.len() < MAX_EARLY_FRAMES {
            v.push(frame.to_vec());
        }
    }

    fn take(&mut self, role: Role, key: u32) -> Vec<Vec<u8>> {
        self.frames.remove(&(role, key)).unwrap_or_default()
    }
}

/// 32 bytes from the operating system's CSPRNG: every PPP link and endpoint gets its own seed
/// (two links seeded alike draw the same Magic-Numbers and look looped back, RFC 1661 §6.4).
pub(crate) fn os_seed() -> [u8; 32] {
    use rand::TryRngCore;
    let mut seed = [0u8; 32];
    if rand::rngs::OsRng.try_fill_bytes(&mut seed).is_err() {
        // getrandom failing is near impossible on Linux; fall back to the thread RNG, which is
        // itself seeded from the OS.
        use rand::RngCore;
        rand::rng().fill_bytes(&mut seed);
    }
    seed
}

/// The span every log line about one session is emitted in: role, our IDs, the subscriber.
pub(crate) fn session_span(
    role: &'static str,
    tunnel_id: u16,
    session_id: u16,
    subscriber: &str,
) -> tracing::Span {
    tracing::info_span!("session", role, tunnel_id, session_id, subscriber)
}

/// The PPP link configuration of a server-role link (LAC facing a subscriber, or LNS).
pub(crate) fn ppp_server_config(config: &Config) -> LinkConfig {
    let p = &config.ppp;
    let mut lcp = LcpConfig::for_l2tp();
    lcp.negotiation = NegotiationConfig {
        restart_interval: p.restart_timer,
        max_configure: p.max_configure,
        max_terminate: p.max_terminate,
        max_failure: p.max_failure,
    };
    lcp.mru = p.mru;
    lcp.echo_interval = (!p.lcp_echo_interval.is_zero()).then_some(p.lcp_echo_interval);
    lcp.echo_failure_limit = p.lcp_echo_failures;
    let auth_protocols = p
        .auth
        .iter()
        .map(|m| match m {
            crate::config::AuthMethod::Pap => AuthProtocol::Pap,
            crate::config::AuthMethod::ChapMd5 => AuthProtocol::ChapMd5,
        })
        .collect();
    LinkConfig {
        lcp,
        role: RoleConfig::Server(ServerConfig {
            auth_protocols,
            name: config.l2tp.hostname.as_bytes().to_vec(),
        }),
        auth_timeout: p.auth_timeout,
        seed: os_seed(),
    }
}

impl Actor {
    /// Builds the actor and its handle. Must run inside a tokio runtime (nothing is spawned).
    pub fn new(parts: ActorParts) -> (Self, ActorHandle, mpsc::Receiver<Command>) {
        let config = parts.config;
        let now = clock::now();
        let capacity = config.daemon.command_queue as usize;
        let (tx, rx) = mpsc::channel(capacity);
        let handle_stats = Arc::new(HandleStats::default());
        let handle = ActorHandle {
            tx,
            stats: handle_stats.clone(),
        };

        let lns_policy = Arc::new(Mutex::new(AccessPolicy::new(
            "lns",
            config.lns.peers.clone(),
            base_tunnel_config(&config, u32::from(config.lns.max_sessions_per_tunnel)),
            parts.rate_log.clone(),
        )));
        let dialin_policy = Arc::new(Mutex::new(AccessPolicy::new(
            "dialin",
            config.lac.dialin.peers.clone(),
            base_tunnel_config(
                &config,
                u32::from(config.lac.dialin.max_sessions_per_tunnel),
            ),
            parts.rate_log.clone(),
        )));
        let lns_ep = (config.lns.enabled && !parts.lns_sockets.is_empty()).then(|| {
            RoleEndpoint::new(
                Role::Lns,
                EndpointConfig {
                    max_tunnels: config.lns.max_tunnels as usize,
                },
                responder_policy(lns_policy.clone()),
                parts.lns_sockets,
            )
        });
        let lac_enabled = config.lac.enabled;
        let line_sockets = parts.line_sockets;
        let lac_ep = (lac_enabled && !line_sockets.is_empty()).then(|| {
            let max: u32 = config.lac.peers.iter().map(|p| p.max_tunnels).sum();
            RoleEndpoint::new(
                Role::Lac,
                EndpointConfig {
                    max_tunnels: (max as usize).max(1),
                },
                // Nobody may open a tunnel toward our LAC line sockets.
                |_: &crate::l2tp::TunnelRequest<'_>| crate::l2tp::PolicyDecision::Ignore,
                line_sockets.iter().map(|(_, s)| s.clone()).collect(),
            )
        });
        let dialin_ep = (lac_enabled
            && config.lac.dialin.enabled
            && !parts.dialin_sockets.is_empty())
        .then(|| {
            RoleEndpoint::new(
                Role::Dialin,
                EndpointConfig {
                    max_tunnels: config.lac.dialin.max_tunnels as usize,
                },
                responder_policy(dialin_policy.clone()),
                parts.dialin_sockets,
            )
        });

        let mut planner = Planner::new(lac::planner_config(&config));
        planner.set_policy(lac::planner_policy(&config));
        let lac_state = lac::LacState::new(&config, &line_sockets, &mut planner, now);
        planner.handle_timeout(now);
        let levels = levels::Levels::new(&config);
        let mut timers = Timers::default();
        timers.set(TimerKey::LevelSample, levels.first_sample(now));
        let started_at = parts.clock.wall_ms(now);
        let mut degraded = parts.degraded;
        let (pppoe, pppoe_degraded) = if lac_enabled {
            pppoe::PppoeState::new(&config, parts.pppoe, now)
        } else {
            Default::default()
        };
        degraded.extend(pppoe_degraded);
        let disconnect = disconnect::DisconnectState::new(&config, &parts.dataplane);
        let accounting =
            accounting::Accounting::new(parts.ledger, &config.billing.ledger, now, started_at);
        let actor = Actor {
            lns: lns::LnsState::new(&config),
            lac: lac_state,
            dialin: dialin::DialinState::default(),
            pppoe,
            config,
            config_path: parts.config_path,
            config_loaded_at: started_at,
            dp: parts.dataplane,
            rate_log: parts.rate_log,
            degraded,
            clock: parts.clock,
            started_at,
            handle_stats,
            lns_ep,
            lac_ep,
            dialin_ep,
            lns_policy,
            dialin_policy,
            routes: parts.routes,
            planner,
            timers,
            switchovers: switchover::Switchovers::default(),
            levels,
            disconnect,
            accounting,
            shutdown_deadline: None,
            early_frames: EarlyFrames::default(),
        };
        (actor, handle, rx)
    }

    /// Runs until a [`Command::Shutdown`] has torn everything down (or its grace ran out), or
    /// until every handle is dropped.
    pub async fn run(mut self, mut rx: mpsc::Receiver<Command>) -> ExitReport {
        loop {
            let deadline = self.poll_timeout();
            let sleep = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                command = rx.recv() => {
                    let Some(command) = command else {
                        self.accounting_close(clock::now());
                        return ExitReport::Abandoned;
                    };
                    self.handle_command(clock::now(), command);
                    self.flush(clock::now());
                    // Take what else is queued before computing the next deadline: one
                    // deadline per batch, not per datagram.
                    for _ in 0..256 {
                        match rx.try_recv() {
                            Ok(command) => {
                                self.handle_command(clock::now(), command);
                                self.flush(clock::now());
                            }
                            Err(_) => break,
                        }
                    }
                }
                () = sleep => {
                    let now = clock::now();
                    self.on_timeout(now);
                    self.flush(now);
                }
            }
            if let Some(report) = self.shutdown_finished(clock::now()) {
                // Final stops of whatever is still open, then everything written and synced.
                self.accounting_close(clock::now());
                return report;
            }
        }
    }

    fn endpoint_mut(&mut self, role: Role) -> Option<&mut RoleEndpoint> {
        match role {
            Role::Lns => self.lns_ep.as_mut(),
            Role::Lac => self.lac_ep.as_mut(),
            Role::Dialin => self.dialin_ep.as_mut(),
        }
    }

    fn endpoint(&self, role: Role) -> Option<&RoleEndpoint> {
        match role {
            Role::Lns => self.lns_ep.as_ref(),
            Role::Lac => self.lac_ep.as_ref(),
            Role::Dialin => self.dialin_ep.as_ref(),
        }
    }

    /// The earliest deadline of anything the actor owns.
    fn poll_timeout(&mut self) -> Option<Instant> {
        let disconnect = self.disconnect.poll_timeout();
        let mut next = self.timers.next();
        let mut consider = |t: Option<Instant>| {
            if let Some(t) = t {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        };
        for role in Role::ALL {
            consider(self.endpoint(role).and_then(|e| e.endpoint.poll_timeout()));
        }
        consider(self.planner.poll_timeout());
        consider(disconnect);
        consider(self.accounting.poll_timeout());
        consider(self.shutdown_deadline);
        next
    }

    fn handle_command(&mut self, now: Instant, command: Command) {
        match command {
            Command::Control {
                role,
                local,
                remote,
                datagram,
            } => {
                let rate_log = self.rate_log.clone();
                if let Some(ep) = self.endpoint_mut(role) {
                    ep.handle_datagram(now, local, remote, &datagram, &rate_log);
                }
            }
            Command::Frame {
                role,
                tunnel,
                session,
                frame,
            } => match role {
                Role::Lns => self.lns_frame(now, tunnel, session, &frame),
                Role::Dialin => self.dialin_frame(now, tunnel, session, &frame),
                // LAC legs are only ever in the map as relays; nothing reaches the actor.
                Role::Lac => {}
            },
            Command::Pppoe { port, frame } => self.pppoe_frame(now, port, &frame),
            Command::Ctl(call) => {
                let response = self.ctl(now, call.request);
                let _ = call.reply.send(response);
            }
            Command::Reload => {
                let _ = self.reload(now);
            }
            Command::Shutdown => self.begin_shutdown(now),
            Command::Ping(reply) => {
                let _ = reply.send(());
            }
        }
    }

    fn on_timeout(&mut self, now: Instant) {
        for role in Role::ALL {
            if let Some(ep) = self.endpoint_mut(role)
                && ep.endpoint.poll_timeout().is_some_and(|t| t <= now)
            {
                ep.endpoint.handle_timeout(now);
            }
        }
        if self.planner.poll_timeout().is_some_and(|t| t <= now) {
            let decisions = self.planner.handle_timeout(now);
            self.apply_decisions(now, decisions);
        }
        if self.accounting.poll_timeout().is_some_and(|t| t <= now) {
            self.accounting_timeout(now);
        }
        for key in self.timers.take_due(now) {
            match key {
                TimerKey::LnsLink(k) => self.lns_timer(now, k),
                TimerKey::Subscriber(id) => self.subscriber_timer(now, id),
                TimerKey::LacTunnelSetup(t) => self.lac_tunnel_setup_timer(now, t),
                TimerKey::Switchover(t) => self.switchover_timer(now, t),
                TimerKey::LevelSample => self.sample_levels(now),
            }
        }
        self.disconnect_timeout(now);
    }

    /// Drains every endpoint's events, then its transmits, until nothing is left. Events go first
    /// so that a session's data-plane entry exists before the message that lets the peer send on
    /// it (our ICCN, our ICRP) leaves.
    fn flush(&mut self, now: Instant) {
        loop {
            let mut progress = false;
            for role in Role::ALL {
                while let Some(event) = self
                    .endpoint_mut(role)
                    .and_then(|e| e.endpoint.poll_event())
                {
                    progress = true;
                    match role {
                        Role::Lns => self.on_lns_event(now, event),
                        Role::Lac => self.on_lac_event(now, event),
                        Role::Dialin => self.on_dialin_event(now, event),
                    }
                }
            }
            let rate_log = self.rate_log.clone();
            for role in Role::ALL {
                if let Some(ep) = self.endpoint_mut(role) {
                    progress |= ep.send_transmits(&rate_log);
                }
            }
            if !progress {
                break;
            }
        }
    }

    fn begin_shutdown(&mut self, now: Instant) {
        if self.shutdown_deadline.is_some() {
            return;
        }
        let grace = self.config.daemon.shutdown_grace;
        self.shutdown_deadline = Some(now + grace);
        for policy in [&self.lns_policy, &self.dialin_policy] {
            if let Ok(mut p) = policy.lock() {
                p.closing = true;
            }
        }
        tracing::info!(
            lns_sessions = self.lns.session_count(),
            lac_sessions = self.lac.subscriber_count(),
            grace = ?grace,
            "shutting down: CDN for every session, StopCCN for every tunnel"
        );
        self.lac_shutdown(now);
        self.lns_shutdown(now);
        let result = crate::wire::StopCcnResult::ShuttingDown;
        for role in Role::ALL {
            let ids = self
                .endpoint(role)
                .map(|e| e.endpoint.tunnel_ids())
                .unwrap_or_default();
            for id in ids {
                if role == Role::Lac {
                    self.lac.mark_closing(id);
                }
                if let Some(ep) = self.endpoint_mut(role) {
                    let _ = ep.endpoint.close_tunnel(
                        now,
                        id,
                        result,
                        None,
                        Some("l2tpagg is shutting down".into()),
                    );
                }
            }
        }
    }

    fn shutdown_finished(&self, now: Instant) -> Option<ExitReport> {
        let deadline = self.shutdown_deadline?;
        // A tunnel lingering after the peer's StopCCN only acknowledges retransmissions
        // (RFC 2661 §5.7); nothing of ours is outstanding on it.
        let tunnels: usize = Role::ALL
            .iter()
            .filter_map(|r| self.endpoint(*r))
            .map(|e| {
                e.endpoint
                    .tunnel_ids()
                    .into_iter()
                    .filter(|id| {
                        e.endpoint
                            .tunnel(*id)
                            .is_some_and(|t| t.state != crate::l2tp::TunnelState::Lingering)
                    })
                    .count()
            })
            .sum();
        if tunnels == 0 {
            return Some(ExitReport::Clean);
        }
        (now >= deadline).then_some(ExitReport::GraceExpired { tunnels })
    }

    /// Wall-clock milliseconds of a monotonic instant.
    fn wall(&self, at: Instant) -> UnixMillis {
        self.clock.wall_ms(at)
    }

    /// Every drop and refusal counter, by name (for `ctl status`).
    fn drop_counters(&self) -> HashMap<String, u64> {
        let mut out: HashMap<String, u64> = self.rate_log.totals().into_iter().collect();
        for (kind, n) in self.dp.stats().drops() {
            out.insert(kind.to_owned(), n);
        }
        for role in Role::ALL {
            if let Some(ep) = self.endpoint(role) {
                out.extend(ep.drop_counters());
            }
        }
        let queue_full = self.handle_stats.queue_full.load(Relaxed);
        if queue_full > 0 {
            out.insert("actor.queue_full".into(), queue_full);
        }
        let shed = self.handle_stats.shed.load(Relaxed);
        if shed > 0 {
            out.insert("actor.shed".into(), shed);
        }
        out.extend(self.pppoe.counters());
        out.extend(self.disconnect.counters(&self.dp));
        out
    }
}

//! The emulated subscribers themselves, whatever carries their PPP: each one's PPP client link,
//! setup deadline, hold time and test traffic, and the counters of the whole population. Sans-IO.
//!
//! Owns: per-subscriber PPP state ([`crate::ppp::Link`] in the client role), the subscriber
//! deadline index, the [`Stats`] and the [`CoreEvent`] queue. Must not touch: sockets, tokio, the
//! clock, or the carrier (L2TP session, PPPoE session): frames leave and carriers end through the
//! [`Carrier`] the transport core passes in, so the L2TP and PPPoE cores share all of this.
//!
//! # Life of a subscriber
//!
//! | phase      | entered when                            | left when                                             |
//! |------------|-----------------------------------------|-------------------------------------------------------|
//! | Carrier    | [`Population::add`]                     | carrier up (Ppp), carrier failed / setup timeout (Done) |
//! | Ppp        | [`Population::carrier_up`]: LCP starts  | IPCP opened (Up), link or carrier down, timeout (Done)  |
//! | Up         | IPCP opened: latency recorded           | hold over or logout (LoggingOut), peer ended it (Done)  |
//! | LoggingOut | LCP Terminate-Request sent              | link down or carrier down (Done, logged out)            |
//! | Done       | the outcome is counted exactly once     | never                                                 |

use std::collections::{BTreeSet, VecDeque};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use rand::TryRngCore;

use super::ip;
use super::stats::{Cause, CauseKind, Stats};
use crate::ppp::frame::protocol;
use crate::ppp::{
    self, ClientConfig, DownCause, Event as LinkEvent, FrameDisposition, IpcpClientConfig,
    LcpConfig, Link, LinkConfig, NetworkInfo,
};

/// Which authentication protocols the emulated subscriber agrees to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthChoice {
    /// PAP only (RFC 1334).
    Pap,
    /// CHAP-MD5 only (RFC 1994).
    Chap,
    /// Whichever the server asks for.
    Any,
}

/// Test traffic each subscriber sends once up.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrafficPlan {
    /// Packets per second per subscriber (above zero).
    pub rate: f64,
    /// UDP payload octets per packet (at least [`ip::MIN_PAYLOAD`]).
    pub payload: usize,
    /// Destination; `None` sends to the address the server announced in IPCP (its end of the
    /// link).
    pub target: Option<Ipv4Addr>,
    /// Destination UDP port.
    pub port: u16,
}

/// One subscriber to bring up.
#[derive(Clone, PartialEq)]
pub struct SubscriberSpec {
    /// Its number (`{n}` in the name pattern); PPPoE derives its MAC from it.
    pub number: u64,
    /// PAP Peer-ID / CHAP Name.
    pub name: String,
    /// Password / CHAP secret.
    pub secret: Vec<u8>,
    /// Protocols it agrees to.
    pub auth: AuthChoice,
    /// Test traffic once up.
    pub traffic: Option<TrafficPlan>,
    /// Log out this long after network-up; `None` stays up until told otherwise.
    pub hold: Option<Duration>,
    /// Report every IP packet it receives as [`CoreEvent::Ip`] (single-subscriber drivers);
    /// otherwise they are only counted.
    pub tap: bool,
}

impl std::fmt::Debug for SubscriberSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SubscriberSpec")
            .field("number", &self.number)
            .field("name", &self.name)
            .field("secret", &"<redacted>")
            .field("auth", &self.auth)
            .field("traffic", &self.traffic)
            .field("hold", &self.hold)
            .field("tap", &self.tap)
            .finish()
    }
}

/// How a subscriber ended, after it came up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DownOutcome {
    /// It logged out (or hung up) as asked.
    LoggedOut,
    /// The peer or the network ended it first.
    Dropped(Cause),
}

/// What the population reports to whoever drives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CoreEvent {
    /// Network-up: IPCP opened.
    Up {
        /// The subscriber.
        sub: usize,
        /// The negotiated addresses.
        network: NetworkInfo,
        /// Login start to network-up.
        latency: Duration,
    },
    /// It never came up.
    Failed {
        /// The subscriber.
        sub: usize,
        /// Why.
        cause: Cause,
    },
    /// The login was abandoned before network-up because the run stopped.
    Aborted {
        /// The subscriber.
        sub: usize,
    },
    /// It went down after coming up.
    Down {
        /// The subscriber.
        sub: usize,
        /// How.
        outcome: DownOutcome,
    },
    /// An IP packet for a subscriber whose spec asked for [`SubscriberSpec::tap`].
    Ip {
        /// The subscriber.
        sub: usize,
        /// The whole IPv4 packet.
        packet: Vec<u8>,
    },
}

/// Why a carrier is being ended, so the carrier can say so on the wire (a CDN result code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseKind {
    /// The subscriber logged out or hung up.
    Logout,
    /// PPP failed or timed out; the carrier goes with it.
    Failure,
    /// The run is stopping.
    Abort,
}

/// What carries one subscriber's PPP frames: an L2TP session or a PPPoE session.
pub trait Carrier {
    /// Sends one PPP frame of subscriber `sub` (starting at the Protocol field). Returns false if
    /// the carrier cannot send (it is not up).
    fn send_ppp(&mut self, now: Instant, sub: usize, frame: &[u8]) -> bool;
    /// Ends subscriber `sub`'s carrier (CDN, PADT, or abandoning its setup). Called at most once
    /// per subscriber, and never after the carrier reported itself down.
    fn close(&mut self, now: Instant, sub: usize, kind: CloseKind);
}

/// A source of 32-byte seeds for PPP links.
pub type SeedSource = Box<dyn FnMut() -> [u8; 32] + Send>;

/// Seeds from the operating system's CSPRNG, as [`LinkConfig::seed`] asks for production links.
/// Should the OS refuse (it does not on Linux once booted), the thread-local CSPRNG, itself seeded
/// from the OS, fills in.
pub fn os_seed() -> [u8; 32] {
    let mut seed = [0u8; 32];
    if rand::rngs::OsRng.try_fill_bytes(&mut seed).is_err() {
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut seed);
    }
    seed
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Carrier,
    Ppp,
    Up,
    LoggingOut,
    Done,
}

struct Sub {
    spec: SubscriberSpec,
    phase: Phase,
    link: Option<Box<Link>>,
    started: Instant,
    setup_deadline: Option<Instant>,
    hold_until: Option<Instant>,
    next_packet: Option<Instant>,
    seq: u64,
    network: Option<NetworkInfo>,
    filed: Option<Instant>,
}

impl Sub {
    fn deadline(&self) -> Option<Instant> {
        let link = self.link.as_ref().and_then(|l| l.poll_timeout());
        let extra = match self.phase {
            Phase::Carrier | Phase::Ppp => self.setup_deadline,
            Phase::Up => match (self.hold_until, self.next_packet) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            },
            Phase::LoggingOut | Phase::Done => None,
        };
        match (link, extra) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// Settings shared by every subscriber.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PopulationConfig {
    /// From login start to network-up at most this long, or the login fails with
    /// [`CauseKind::SetupTimeout`].
    pub setup_timeout: Duration,
}

impl Default for PopulationConfig {
    fn default() -> Self {
        Self {
            setup_timeout: Duration::from_secs(30),
        }
    }
}

/// Every emulated subscriber of a run. See the module documentation for the phases.
///
/// # Call order
/// The transport core calls [`Population::add`] when it starts a login, [`Population::carrier_up`]
/// when the subscriber's session exists, [`Population::handle_ppp`] for every PPP frame received
/// on it and [`Population::carrier_down`] when the peer ends it; the driver calls
/// [`Population::handle_timeout`] when [`Population::poll_timeout`] has passed and drains
/// [`Population::poll_event`]. Every call that may send takes the [`Carrier`].
pub struct Population {
    config: PopulationConfig,
    subs: Vec<Sub>,
    deadlines: BTreeSet<(Instant, usize)>,
    events: VecDeque<CoreEvent>,
    stats: Stats,
    seeds: SeedSource,
    /// Subscribers not yet Done.
    live: usize,
    /// Where [`Population::logout_next`] continues.
    logout_cursor: usize,
}

impl std::fmt::Debug for Population {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Population")
            .field("subscribers", &self.subs.len())
            .field("live", &self.live)
            .finish_non_exhaustive()
    }
}

impl Population {
    /// An empty population whose links are seeded from the OS ([`os_seed`]).
    pub fn new(config: PopulationConfig) -> Self {
        Self::with_seeds(config, Box::new(os_seed))
    }

    /// An empty population with a chosen seed source (deterministic tests).
    pub fn with_seeds(config: PopulationConfig, seeds: SeedSource) -> Self {
        Self {
            config,
            subs: Vec::new(),
            deadlines: BTreeSet::new(),
            events: VecDeque::new(),
            stats: Stats::default(),
            seeds,
            live: 0,
            logout_cursor: 0,
        }
    }

    /// The counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Mutable counters, for the carrier's own (tunnels).
    pub fn stats_mut(&mut self) -> &mut Stats {
        &mut self.stats
    }

    /// Subscribers added so far.
    pub fn len(&self) -> usize {
        self.subs.len()
    }

    /// Whether none were added.
    pub fn is_empty(&self) -> bool {
        self.subs.is_empty()
    }

    /// Subscribers that have not finished.
    pub fn live(&self) -> usize {
        self.live
    }

    /// A subscriber's spec.
    pub fn spec(&self, sub: usize) -> Option<&SubscriberSpec> {
        self.subs.get(sub).map(|s| &s.spec)
    }

    /// Whether `sub` has finished (or does not exist).
    pub fn is_done(&self, sub: usize) -> bool {
        self.subs.get(sub).is_none_or(|s| s.phase == Phase::Done)
    }

    /// Whether `sub` is up (network-up, not logging out).
    pub fn is_up(&self, sub: usize) -> bool {
        self.subs.get(sub).is_some_and(|s| s.phase == Phase::Up)
    }

    /// Whether `sub` is still setting up (carrier or PPP).
    pub fn is_setting_up(&self, sub: usize) -> bool {
        self.subs
            .get(sub)
            .is_some_and(|s| matches!(s.phase, Phase::Carrier | Phase::Ppp))
    }

    /// The negotiated addresses of an up subscriber.
    pub fn network(&self, sub: usize) -> Option<NetworkInfo> {
        self.subs.get(sub).and_then(|s| s.network)
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<CoreEvent> {
        self.events.pop_front()
    }

    /// When [`Self::handle_timeout`] must next run.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadlines.first().map(|(t, _)| *t)
    }

    /// Starts a login: the carrier is being set up. Returns the subscriber's index.
    pub fn add(&mut self, now: Instant, spec: SubscriberSpec) -> usize {
        let i = self.subs.len();
        self.subs.push(Sub {
            spec,
            phase: Phase::Carrier,
            link: None,
            started: now,
            setup_deadline: Some(now + self.config.setup_timeout),
            hold_until: None,
            next_packet: None,
            seq: 0,
            network: None,
            filed: None,
        });
        self.live += 1;
        self.stats.login_started(now);
        self.refile(i);
        i
    }

    /// The carrier is up: start PPP with `lcp` (clamped to the carrier's MTU by the caller).
    pub fn carrier_up(
        &mut self,
        now: Instant,
        sub: usize,
        lcp: LcpConfig,
        carrier: &mut impl Carrier,
    ) {
        let seed = (self.seeds)();
        let Some(s) = self.subs.get_mut(sub).filter(|s| s.phase == Phase::Carrier) else {
            return;
        };
        let (allow_pap, allow_chap) = match s.spec.auth {
            AuthChoice::Pap => (true, false),
            AuthChoice::Chap => (false, true),
            AuthChoice::Any => (true, true),
        };
        let client = ClientConfig {
            name: s.spec.name.as_bytes().to_vec(),
            secret: s.spec.secret.clone(),
            allow_pap,
            allow_chap,
            ipcp: IpcpClientConfig::default(),
        };
        let mut cfg = LinkConfig::client(client, seed);
        cfg.lcp = lcp;
        s.link = Some(Box::new(Link::new(now, cfg)));
        s.phase = Phase::Ppp;
        self.drive(now, sub, carrier);
    }

    /// A PPP frame arrived on `sub`'s carrier (with or without `FF 03`).
    pub fn handle_ppp(
        &mut self,
        now: Instant,
        sub: usize,
        frame: &[u8],
        carrier: &mut impl Carrier,
    ) {
        let Some(s) = self.subs.get_mut(sub) else {
            return;
        };
        let Some(link) = s.link.as_mut() else {
            return;
        };
        if let FrameDisposition::Data { payload, .. } = link.handle_frame(now, frame) {
            let t = &mut self.stats.traffic;
            t.packets_received += 1;
            t.bytes_received += payload.len() as u64;
            if let Some(net) = s.network
                && ip::is_echo(payload, net.local, sub as u32)
            {
                t.echoes += 1;
            }
            if s.spec.tap {
                self.events.push_back(CoreEvent::Ip {
                    sub,
                    packet: payload.to_vec(),
                });
            }
            // A data frame changes no PPP state: nothing to drive.
            return;
        }
        self.drive(now, sub, carrier);
    }

    /// The peer (or the network) ended `sub`'s carrier: the link dies without sending anything.
    pub fn carrier_down(&mut self, now: Instant, sub: usize, cause: Cause) {
        let Some(s) = self.subs.get_mut(sub) else {
            return;
        };
        let mut cause = cause;
        if let Some(link) = s.link.as_mut() {
            link.lower_down(now);
            // A peer usually clears the session right after refusing our credentials or sending
            // Terminate-Request; the PPP reason, when there is one, says more than the CDN/PADT.
            while let Some(ev) = link.poll_event() {
                if let LinkEvent::LinkDown(down) = ev
                    && !matches!(down, DownCause::LowerLayerDown | DownCause::LocalClose(_))
                {
                    let ppp = link_cause(&down);
                    cause = Cause::new(ppp.kind, format!("{}; then {cause}", ppp.detail));
                }
            }
        }
        match s.phase {
            Phase::Done => return,
            Phase::Carrier | Phase::Ppp => self.settle_failed(sub, cause),
            Phase::Up => self.settle_down(sub, DownOutcome::Dropped(cause)),
            // Our Terminate-Request went out; the peer clearing the session is how it ends.
            Phase::LoggingOut => self.settle_down(sub, DownOutcome::LoggedOut),
        }
        self.refile(sub);
    }

    /// Logs `sub` out cleanly: LCP Terminate-Request, then the carrier is closed once LCP is down.
    /// A subscriber still setting up is abandoned instead ([`CoreEvent::Aborted`]).
    pub fn logout(&mut self, now: Instant, sub: usize, carrier: &mut impl Carrier) {
        let Some(s) = self.subs.get_mut(sub) else {
            return;
        };
        match s.phase {
            Phase::Up => {
                s.phase = Phase::LoggingOut;
                if let Some(link) = s.link.as_mut() {
                    link.close(now, "logout");
                }
                self.drive(now, sub, carrier);
            }
            Phase::Carrier | Phase::Ppp => self.abort(now, sub, carrier),
            Phase::LoggingOut | Phase::Done => {}
        }
    }

    /// Ends `sub` abruptly: the carrier is closed (CDN or PADT) without LCP Terminate, as when a
    /// modem is unplugged. Counts as a logout when it was up, as abandoned when it was not.
    pub fn hang_up(&mut self, now: Instant, sub: usize, carrier: &mut impl Carrier) {
        let Some(s) = self.subs.get_mut(sub) else {
            return;
        };
        match s.phase {
            Phase::Up | Phase::LoggingOut => {
                if let Some(link) = s.link.as_mut() {
                    link.lower_down(now);
                }
                self.settle_down(sub, DownOutcome::LoggedOut);
                carrier.close(now, sub, CloseKind::Logout);
                self.refile(sub);
            }
            Phase::Carrier | Phase::Ppp => self.abort(now, sub, carrier),
            Phase::Done => {}
        }
    }

    /// Abandons a login still setting up (the run is stopping).
    pub fn abort(&mut self, now: Instant, sub: usize, carrier: &mut impl Carrier) {
        let Some(s) = self.subs.get_mut(sub) else {
            return;
        };
        if !matches!(s.phase, Phase::Carrier | Phase::Ppp) {
            return;
        }
        if let Some(link) = s.link.as_mut() {
            link.lower_down(now);
        }
        s.phase = Phase::Done;
        s.link = None;
        self.live -= 1;
        self.stats.aborted += 1;
        self.events.push_back(CoreEvent::Aborted { sub });
        carrier.close(now, sub, CloseKind::Abort);
        self.refile(sub);
    }

    /// The carrier could not be set up (or refused): the login fails with `cause`.
    pub fn carrier_failed(&mut self, now: Instant, sub: usize, cause: Cause) {
        if self.is_setting_up(sub) {
            if let Some(link) = self.subs[sub].link.as_mut() {
                link.lower_down(now);
            }
            self.settle_failed(sub, cause);
            self.refile(sub);
        }
    }

    /// Sends one IPv4 packet from an up subscriber. Returns false when it is not up.
    pub fn send_ip(
        &mut self,
        now: Instant,
        sub: usize,
        packet: &[u8],
        carrier: &mut impl Carrier,
    ) -> bool {
        if !self.is_up(sub) {
            return false;
        }
        let mut frame = Vec::with_capacity(packet.len() + 2);
        ppp::emit_frame(protocol::IPV4, packet, false, &mut frame);
        if !carrier.send_ppp(now, sub, &frame) {
            return false;
        }
        let t = &mut self.stats.traffic;
        t.packets_sent += 1;
        t.bytes_sent += packet.len() as u64;
        true
    }

    /// Logs out every up subscriber and abandons every login in progress.
    pub fn stop_all(&mut self, now: Instant, carrier: &mut impl Carrier) {
        self.abort_setups(now, carrier);
        while self.logout_next(now, carrier) {}
    }

    /// Abandons every login in progress.
    pub fn abort_setups(&mut self, now: Instant, carrier: &mut impl Carrier) {
        for sub in 0..self.subs.len() {
            if matches!(self.subs[sub].phase, Phase::Carrier | Phase::Ppp) {
                self.abort(now, sub, carrier);
            }
        }
    }

    /// Logs out the next up subscriber (in index order, from where the previous call stopped).
    /// Returns false when none is up. Lets a stopping run pace its logouts instead of sending
    /// every Terminate-Request at once.
    pub fn logout_next(&mut self, now: Instant, carrier: &mut impl Carrier) -> bool {
        while self.logout_cursor < self.subs.len() {
            let sub = self.logout_cursor;
            self.logout_cursor += 1;
            if self.subs[sub].phase == Phase::Up {
                self.logout(now, sub, carrier);
                return true;
            }
        }
        // Subscribers behind the cursor may have come up since it passed them (a dialer).
        let again = (0..self.subs.len()).find(|&i| self.subs[i].phase == Phase::Up);
        match again {
            Some(sub) => {
                self.logout(now, sub, carrier);
                true
            }
            None => false,
        }
    }

    /// Runs every due timer: PPP retransmissions and keepalives, setup timeouts, hold expiry and
    /// test traffic.
    pub fn handle_timeout(&mut self, now: Instant, carrier: &mut impl Carrier) {
        while let Some(&(at, sub)) = self.deadlines.first() {
            if at > now {
                break;
            }
            self.deadlines.pop_first();
            self.subs[sub].filed = None;
            self.fire(now, sub, carrier);
        }
    }

    fn fire(&mut self, now: Instant, sub: usize, carrier: &mut impl Carrier) {
        let s = &mut self.subs[sub];
        if let Some(link) = s.link.as_mut()
            && link.poll_timeout().is_some_and(|t| t <= now)
        {
            link.handle_timeout(now);
        }
        match s.phase {
            Phase::Carrier | Phase::Ppp if s.setup_deadline.is_some_and(|t| t <= now) => {
                let timeout = self.config.setup_timeout;
                if let Some(link) = s.link.as_mut() {
                    link.lower_down(now);
                }
                self.settle_failed(
                    sub,
                    Cause::new(
                        CauseKind::SetupTimeout,
                        format!("not up within {} s", timeout.as_secs_f64()),
                    ),
                );
                carrier.close(now, sub, CloseKind::Failure);
                self.refile(sub);
                return;
            }
            Phase::Up if s.hold_until.is_some_and(|t| t <= now) => {
                self.logout(now, sub, carrier);
                return;
            }
            Phase::Up if s.next_packet.is_some_and(|t| t <= now) => {
                self.send_traffic(now, sub, carrier)
            }
            _ => {}
        }
        self.drive(now, sub, carrier);
    }

    fn send_traffic(&mut self, now: Instant, sub: usize, carrier: &mut impl Carrier) {
        let s = &mut self.subs[sub];
        let (Some(plan), Some(net), Some(due)) = (s.spec.traffic, s.network, s.next_packet) else {
            return;
        };
        let Some(target) = plan.target.or(net.peer) else {
            s.next_packet = None;
            return;
        };
        let interval = Duration::from_secs_f64(1.0 / plan.rate);
        // Keep the schedule, but after a stall longer than a second skip ahead rather than burst.
        let mut next = due + interval;
        if next + Duration::from_secs(1) < now {
            next = now + interval;
        }
        s.next_packet = Some(next);
        s.seq += 1;
        let packet = ip::test_packet(
            net.local,
            target,
            plan.port,
            sub as u32,
            s.seq,
            plan.payload,
        );
        self.send_ip(now, sub, &packet, carrier);
    }

    /// Moves the link's frames to the carrier, acts on its events, refiles the deadline.
    fn drive(&mut self, now: Instant, sub: usize, carrier: &mut impl Carrier) {
        let Some(link) = self.subs[sub].link.as_mut() else {
            self.refile(sub);
            return;
        };
        while let Some(frame) = link.poll_transmit() {
            carrier.send_ppp(now, sub, &frame);
        }
        while let Some(ev) = self.subs[sub].link.as_mut().and_then(|l| l.poll_event()) {
            match ev {
                LinkEvent::NetworkUp(network) => self.network_up(now, sub, network),
                LinkEvent::LinkDown(cause) => {
                    let phase = self.subs[sub].phase;
                    match phase {
                        Phase::Carrier | Phase::Ppp => {
                            self.settle_failed(sub, link_cause(&cause));
                            carrier.close(now, sub, CloseKind::Failure);
                        }
                        Phase::Up => {
                            self.settle_down(sub, DownOutcome::Dropped(link_cause(&cause)));
                            carrier.close(now, sub, CloseKind::Failure);
                        }
                        Phase::LoggingOut => {
                            self.settle_down(sub, DownOutcome::LoggedOut);
                            carrier.close(now, sub, CloseKind::Logout);
                        }
                        Phase::Done => {}
                    }
                    break;
                }
                LinkEvent::LinkUp(_)
                | LinkEvent::Authenticated { .. }
                | LinkEvent::AuthRequest(_)
                | LinkEvent::NetworkDown => {}
            }
        }
        self.refile(sub);
    }

    fn network_up(&mut self, now: Instant, sub: usize, network: NetworkInfo) {
        let s = &mut self.subs[sub];
        if s.phase != Phase::Ppp {
            // IPCP renegotiated on an up link: keep the new addresses, nothing else changes.
            if s.phase == Phase::Up {
                s.network = Some(network);
            }
            return;
        }
        let latency = now.saturating_duration_since(s.started);
        s.phase = Phase::Up;
        s.setup_deadline = None;
        s.network = Some(network);
        s.hold_until = s.spec.hold.map(|h| now + h);
        s.next_packet = s.spec.traffic.map(|plan| {
            // Spread first packets over one interval (golden-ratio phases) so subscribers that
            // came up together do not send in lockstep.
            let interval = 1.0 / plan.rate;
            let phase = (sub as f64 * 0.618_033_988_75).fract();
            now + Duration::from_secs_f64(interval * phase)
        });
        self.stats.came_up(now, latency);
        self.events.push_back(CoreEvent::Up {
            sub,
            network,
            latency,
        });
    }

    fn settle_failed(&mut self, sub: usize, cause: Cause) {
        let s = &mut self.subs[sub];
        if s.phase == Phase::Done {
            return;
        }
        s.phase = Phase::Done;
        s.link = None;
        self.live -= 1;
        self.stats.failed.add(&cause);
        self.events.push_back(CoreEvent::Failed { sub, cause });
    }

    fn settle_down(&mut self, sub: usize, outcome: DownOutcome) {
        let s = &mut self.subs[sub];
        if s.phase == Phase::Done {
            return;
        }
        s.phase = Phase::Done;
        s.link = None;
        self.live -= 1;
        match &outcome {
            DownOutcome::LoggedOut => self.stats.logged_out += 1,
            DownOutcome::Dropped(cause) => self.stats.dropped.add(cause),
        }
        self.events.push_back(CoreEvent::Down { sub, outcome });
    }

    fn refile(&mut self, sub: usize) {
        let s = &mut self.subs[sub];
        let next = if s.phase == Phase::Done {
            None
        } else {
            s.deadline()
        };
        if s.filed == next {
            return;
        }
        if let Some(old) = s.filed.take() {
            self.deadlines.remove(&(old, sub));
        }
        if let Some(at) = next {
            self.deadlines.insert((at, sub));
            s.filed = Some(at);
        }
    }
}

/// The failure cause for a PPP link that went down.
pub fn link_cause(cause: &DownCause) -> Cause {
    let kind = match cause {
        DownCause::PeerTerminated(_) => CauseKind::PeerTerminated,
        DownCause::EchoTimeout => CauseKind::EchoTimeout,
        DownCause::NegotiationTimeout { protocol } if *protocol == protocol::IPCP => {
            CauseKind::IpcpTimeout
        }
        DownCause::NegotiationTimeout { .. } => CauseKind::LcpTimeout,
        DownCause::NegotiationFailed { protocol, .. }
        | DownCause::ProtocolRejected { protocol }
            if *protocol == protocol::IPCP || *protocol == protocol::IPV4 =>
        {
            CauseKind::IpcpFailed
        }
        DownCause::NegotiationFailed { .. }
        | DownCause::ProtocolRejected { .. }
        | DownCause::LoopbackDetected => CauseKind::LcpFailed,
        DownCause::NoNetworkProtocol => CauseKind::IpcpFailed,
        DownCause::AuthRefused => CauseKind::AuthRefused,
        DownCause::AuthFailed => CauseKind::AuthFailed,
        DownCause::AuthTimeout => CauseKind::AuthTimeout,
        // Our own close or the carrier's loss: the caller knows better and settles first.
        DownCause::LocalClose(_) | DownCause::LowerLayerDown => CauseKind::LcpFailed,
    };
    Cause::new(kind, cause.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ppp::{AuthVerdict, IpcpAssignment, ServerConfig};

    /// A carrier that records what it was asked to do.
    #[derive(Default)]
    struct Recorder {
        frames: Vec<(usize, Vec<u8>)>,
        closed: Vec<(usize, CloseKind)>,
    }

    impl Carrier for Recorder {
        fn send_ppp(&mut self, _now: Instant, sub: usize, frame: &[u8]) -> bool {
            self.frames.push((sub, frame.to_vec()));
            true
        }
        fn close(&mut self, _now: Instant, sub: usize, kind: CloseKind) {
            self.closed.push((sub, kind));
        }
    }

    fn spec(traffic: Option<TrafficPlan>, hold: Option<Duration>) -> SubscriberSpec {
        SubscriberSpec {
            number: 1,
            name: "user1".into(),
            secret: b"demo".to_vec(),
            auth: AuthChoice::Any,
            traffic,
            hold,
            tap: false,
        }
    }

    /// Brings subscriber 0 up against an in-memory server link; returns the server.
    fn bring_up(pop: &mut Population, rec: &mut Recorder, now: Instant) -> Link {
        pop.carrier_up(now, 0, LcpConfig::for_l2tp(), rec);
        let mut server = Link::new(now, LinkConfig::server(ServerConfig::default(), [5; 32]));
        for _ in 0..50 {
            for (_, f) in std::mem::take(&mut rec.frames) {
                server.handle_frame(now, &f);
            }
            while let Some(ev) = server.poll_event() {
                if let LinkEvent::AuthRequest(_) = ev {
                    let network = IpcpAssignment::new(
                        Ipv4Addr::new(100, 64, 0, 1),
                        Ipv4Addr::new(100, 64, 0, 2),
                    );
                    server
                        .answer_auth(
                            now,
                            AuthVerdict::Accept {
                                message: String::new(),
                                network,
                            },
                        )
                        .unwrap();
                }
            }
            while let Some(f) = server.poll_transmit() {
                pop.handle_ppp(now, 0, &f, rec);
            }
            if pop.is_up(0) {
                return server;
            }
        }
        panic!("did not come up");
    }

    fn data_frames(rec: &mut Recorder) -> usize {
        let n = rec
            .frames
            .iter()
            .filter(|(_, f)| f[..2] == protocol::IPV4.to_be_bytes())
            .count();
        rec.frames.clear();
        n
    }

    #[test]
    fn traffic_follows_the_rate_and_skips_ahead_after_a_stall() {
        let t0 = crate::runtime::clock::test_epoch();
        let mut pop = Population::with_seeds(PopulationConfig::default(), Box::new(|| [8; 32]));
        let mut rec = Recorder::default();
        let plan = TrafficPlan {
            rate: 10.0,
            payload: 100,
            target: None,
            port: 7,
        };
        pop.add(t0, spec(Some(plan), None));
        let _server = bring_up(&mut pop, &mut rec, t0);
        rec.frames.clear();
        // Just under a second in 1 ms steps: ten packets (due at 0, 100, ..., 900 ms).
        let mut now = t0;
        for _ in 0..999 {
            now += Duration::from_millis(1);
            pop.handle_timeout(now, &mut rec);
        }
        assert_eq!(data_frames(&mut rec), 10);
        // A five-second stall: no burst of fifty, the schedule skips ahead.
        now += Duration::from_secs(5);
        pop.handle_timeout(now, &mut rec);
        pop.handle_timeout(now, &mut rec);
        assert!(data_frames(&mut rec) <= 1);
        let t = pop.stats().traffic;
        assert_eq!(t.bytes_sent, t.packets_sent * 128);
        // Packets go from our address to the server's end of the link, port 7.
        let packet = ip::test_packet(
            Ipv4Addr::new(100, 64, 0, 2),
            Ipv4Addr::new(100, 64, 0, 1),
            7,
            0,
            1,
            100,
        );
        assert_eq!(ip::parse_udp(&packet).unwrap().dst_port, 7);
    }

    #[test]
    fn hold_expiry_logs_out_with_lcp_then_closes_the_carrier() {
        let t0 = crate::runtime::clock::test_epoch();
        let mut pop = Population::with_seeds(PopulationConfig::default(), Box::new(|| [8; 32]));
        let mut rec = Recorder::default();
        pop.add(t0, spec(None, Some(Duration::from_secs(2))));
        let mut server = bring_up(&mut pop, &mut rec, t0);
        assert_eq!(pop.stats().up, 1);
        assert!(matches!(
            pop.poll_event(),
            Some(CoreEvent::Up { sub: 0, .. })
        ));
        rec.frames.clear();
        let later = t0 + Duration::from_secs(2);
        assert!(pop.poll_timeout().is_some_and(|t| t <= later));
        pop.handle_timeout(later, &mut rec);
        // LCP Terminate-Request (code 5) went out; the carrier is still open.
        let (_, term) = rec.frames.pop().expect("a frame");
        assert_eq!(&term[..3], &[0xc0, 0x21, 5]);
        assert!(rec.closed.is_empty());
        server.handle_frame(later, &term);
        while let Some(f) = server.poll_transmit() {
            pop.handle_ppp(later, 0, &f, &mut rec);
        }
        assert_eq!(rec.closed, vec![(0, CloseKind::Logout)]);
        assert!(pop.is_done(0));
        assert_eq!(pop.stats().logged_out, 1);
        assert_eq!(pop.live(), 0);
        assert_eq!(pop.poll_timeout(), None);
    }

    #[test]
    fn setup_timeout_and_carrier_loss_are_counted_once() {
        let t0 = crate::runtime::clock::test_epoch();
        let mut pop = Population::with_seeds(
            PopulationConfig {
                setup_timeout: Duration::from_secs(5),
            },
            Box::new(|| [8; 32]),
        );
        let mut rec = Recorder::default();
        pop.add(t0, spec(None, None));
        pop.carrier_up(t0, 0, LcpConfig::for_l2tp(), &mut rec);
        // Nobody answers: LCP retransmits every 3 s; the 5 s limit ends it.
        pop.handle_timeout(t0 + Duration::from_secs(3), &mut rec);
        assert!(pop.is_setting_up(0));
        pop.handle_timeout(t0 + Duration::from_secs(5), &mut rec);
        assert!(pop.is_done(0));
        assert_eq!(pop.stats().failed.get(CauseKind::SetupTimeout), 1);
        assert_eq!(rec.closed, vec![(0, CloseKind::Failure)]);
        // A late carrier loss changes nothing.
        pop.carrier_down(
            t0 + Duration::from_secs(6),
            0,
            Cause::new(CauseKind::SessionClosed, ""),
        );
        assert_eq!(pop.stats().failed.total(), 1);
        assert_eq!(pop.stats().finished(), 1);

        // The peer clearing the session during PPP setup fails it with the carrier's cause.
        pop.add(t0, spec(None, None));
        let mut rec = Recorder::default();
        pop.carrier_up(t0, 1, LcpConfig::for_l2tp(), &mut rec);
        pop.carrier_down(t0, 1, Cause::new(CauseKind::SessionClosed, "CDN"));
        assert_eq!(pop.stats().failed.get(CauseKind::SessionClosed), 1);
    }

    #[test]
    fn a_peer_ending_an_up_session_counts_as_dropped_with_its_reason() {
        let t0 = crate::runtime::clock::test_epoch();
        let mut pop = Population::with_seeds(PopulationConfig::default(), Box::new(|| [8; 32]));
        let mut rec = Recorder::default();
        pop.add(t0, spec(None, None));
        let mut server = bring_up(&mut pop, &mut rec, t0);
        // The server terminates LCP with a reason, then clears the session (CDN or PADT).
        server.close(t0, "admin reset");
        while let Some(f) = server.poll_transmit() {
            pop.handle_ppp(t0, 0, &f, &mut rec);
        }
        pop.carrier_down(t0, 0, Cause::new(CauseKind::SessionClosed, "CDN result 3"));
        let dropped = &pop.stats().dropped;
        assert_eq!(dropped.get(CauseKind::PeerTerminated), 1, "{dropped:?}");
        let (_, _, detail) = dropped.iter().next().unwrap();
        assert!(
            detail.contains("admin reset") && detail.contains("CDN result 3"),
            "{detail}"
        );
        assert_eq!(pop.stats().logged_out, 0);
        assert!(
            rec.closed.is_empty(),
            "a carrier that went away is not closed again"
        );
        let events: Vec<CoreEvent> = std::iter::from_fn(|| pop.poll_event()).collect();
        assert!(matches!(
            events.last(),
            Some(CoreEvent::Down {
                sub: 0,
                outcome: DownOutcome::Dropped(_)
            })
        ));
    }
}

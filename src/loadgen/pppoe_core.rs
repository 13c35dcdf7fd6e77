//! Emulated PPPoE subscribers on one Ethernet segment, sans-IO: each has its own locally
//! administered MAC and its own [`PppoeClient`] (RFC 2516 discovery), carrying its PPP.
//!
//! Owns: the clients, their timer index, the MAC → subscriber map, and the queue of Ethernet
//! frames to send. Must not touch: sockets, tokio or the clock; PPP (the [`Population`]'s).
//!
//! # Addresses
//! Subscriber number `n` uses MAC `02:4c:47:NN:NN:NN` with the low 24 bits of `n` (the `02` makes it
//! locally administered and unicast), so a given subscriber always appears with the same MAC and
//! two emulators on one segment stay apart by using different `--first` numbers. Each client
//! also sends a Host-Uniq tag (its index) that the access concentrator must echo (RFC 2516
//! Appendix A).

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::Instant;

use super::population::{
    Carrier, CloseKind, CoreEvent, Population, PopulationConfig, SeedSource, SubscriberSpec,
};
use super::stats::{Cause, CauseKind, Stats};
use crate::ppp::LcpConfig;
use crate::pppoe::client::TerminateCause;
use crate::pppoe::{ClientConfig, ClientEvent, ClientFailure, ClientHandled, MacAddr, PppoeClient};

/// The first three octets of every emulated MAC.
pub const MAC_PREFIX: [u8; 3] = [0x02, 0x4c, 0x47];
/// Subscriber numbers that map to distinct MACs: 0 to 2^24 − 1.
pub const MAX_MAC_NUMBER: u64 = (1 << 24) - 1;

/// The MAC of subscriber number `n` (its low 24 bits).
pub fn subscriber_mac(n: u64) -> MacAddr {
    let b = (n as u32).to_be_bytes();
    MacAddr([
        MAC_PREFIX[0],
        MAC_PREFIX[1],
        MAC_PREFIX[2],
        b[1],
        b[2],
        b[3],
    ])
}

/// How the PPPoE core runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PppoeCoreConfig {
    /// Service-Name to ask for; empty asks for any (RFC 2516 §5.1).
    pub service_name: Vec<u8>,
    /// Accept offers only from this AC-Name.
    pub ac_name: Option<Vec<u8>>,
    /// Per-subscriber settings.
    pub population: PopulationConfig,
}

/// The carrier half of the core.
struct Segment {
    config: PppoeCoreConfig,
    clients: Vec<Option<PppoeClient>>,
    by_mac: HashMap<MacAddr, usize>,
    deadlines: BTreeSet<(Instant, usize)>,
    filed: Vec<Option<Instant>>,
    out: VecDeque<Vec<u8>>,
    /// Frames addressed to none of our subscribers, or that a client ignored.
    ignored: u64,
}

impl Segment {
    fn drain(&mut self, sub: usize) {
        if let Some(Some(client)) = self.clients.get_mut(sub) {
            while let Some(frame) = client.poll_transmit() {
                self.out.push_back(frame);
            }
        }
    }

    fn refile(&mut self, sub: usize) {
        let next = self
            .clients
            .get(sub)
            .and_then(Option::as_ref)
            .and_then(PppoeClient::poll_timeout);
        let filed = &mut self.filed[sub];
        if *filed == next {
            return;
        }
        if let Some(old) = filed.take() {
            self.deadlines.remove(&(old, sub));
        }
        if let Some(at) = next {
            self.deadlines.insert((at, sub));
            *filed = Some(at);
        }
    }

    /// Forgets `sub`'s client (after its PADT, failure or abandonment).
    fn release(&mut self, sub: usize) {
        if let Some(client) = self.clients.get_mut(sub).and_then(Option::take) {
            let mac = client.config().mac;
            if self.by_mac.get(&mac) == Some(&sub) {
                self.by_mac.remove(&mac);
            }
        }
        self.refile(sub);
    }
}

impl Carrier for Segment {
    fn send_ppp(&mut self, _now: Instant, sub: usize, frame: &[u8]) -> bool {
        let Some(header) = self
            .clients
            .get(sub)
            .and_then(Option::as_ref)
            .and_then(PppoeClient::session_header)
        else {
            return false;
        };
        match header.to_vec(frame) {
            Ok(f) => {
                self.out.push_back(f);
                true
            }
            Err(_) => false,
        }
    }

    fn close(&mut self, _now: Instant, sub: usize, kind: CloseKind) {
        if let Some(Some(client)) = self.clients.get_mut(sub) {
            let reason = match kind {
                CloseKind::Logout => "subscriber logged out",
                CloseKind::Failure => "PPP failed",
                CloseKind::Abort => "emulator stopping",
            };
            // RFC 2516 §5.5: the PADT ends the session; discovery in progress is just abandoned.
            client.close(Some(reason));
            while client.poll_event().is_some() {}
        }
        self.drain(sub);
        self.release(sub);
    }
}

/// Subscribers over PPPoE. See the module documentation.
///
/// # Call order
/// [`PppoeCore::start`] begins a login (the PADI is queued); every Ethernet frame of ethertype
/// 0x8863 or 0x8864 received on the interface goes to [`PppoeCore::handle_frame`] whole (header
/// included); when [`PppoeCore::poll_timeout`] has passed, call [`PppoeCore::handle_timeout`].
/// After any call, send every frame [`PppoeCore::poll_transmit`] returns and drain
/// [`PppoeCore::poll_event`].
pub struct PppoeCore {
    pop: Population,
    seg: Segment,
}

impl std::fmt::Debug for PppoeCore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PppoeCore")
            .field("population", &self.pop)
            .field("sessions", &self.seg.by_mac.len())
            .finish_non_exhaustive()
    }
}

impl PppoeCore {
    /// A core with no subscribers; links are seeded from the OS.
    pub fn new(config: PppoeCoreConfig) -> Self {
        Self::with_seeds(config, Box::new(super::population::os_seed))
    }

    /// A core with a chosen seed source (deterministic tests).
    pub fn with_seeds(config: PppoeCoreConfig, links: SeedSource) -> Self {
        Self {
            pop: Population::with_seeds(config.population.clone(), links),
            seg: Segment {
                config,
                clients: Vec::new(),
                by_mac: HashMap::new(),
                deadlines: BTreeSet::new(),
                filed: Vec::new(),
                out: VecDeque::new(),
                ignored: 0,
            },
        }
    }

    /// The counters.
    pub fn stats(&self) -> &Stats {
        self.pop.stats()
    }

    /// The population (read-only views of the subscribers).
    pub fn population(&self) -> &Population {
        &self.pop
    }

    /// Frames that were for none of our subscribers or that a client ignored.
    pub fn ignored_frames(&self) -> u64 {
        self.seg.ignored
    }

    /// Starts one subscriber's login (sends its PADI) and returns its index.
    pub fn start(&mut self, now: Instant, spec: SubscriberSpec) -> usize {
        let mac = subscriber_mac(spec.number);
        let sub = self.pop.add(now, spec);
        self.seg.clients.resize_with(self.pop.len(), || None);
        self.seg.filed.resize(self.pop.len(), None);
        if let Some(&other) = self.seg.by_mac.get(&mac) {
            self.pop.carrier_failed(
                now,
                sub,
                Cause::new(
                    CauseKind::PppoeRefused,
                    format!("MAC {mac} is already used by live subscriber index {other}"),
                ),
            );
            return sub;
        }
        let mut cfg = ClientConfig::new(mac);
        cfg.service_name = self.seg.config.service_name.clone();
        cfg.ac_name = self.seg.config.ac_name.clone();
        cfg.host_uniq = Some((sub as u32).to_be_bytes().to_vec());
        let mut client = PppoeClient::new(cfg);
        if let Err(e) = client.connect(now) {
            self.pop.carrier_failed(
                now,
                sub,
                Cause::new(
                    CauseKind::PppoeNoOffer,
                    format!("cannot start discovery: {e}"),
                ),
            );
            return sub;
        }
        self.seg.by_mac.insert(mac, sub);
        self.seg.clients[sub] = Some(client);
        self.seg.drain(sub);
        self.seg.refile(sub);
        sub
    }

    /// Logs a subscriber out cleanly (LCP Terminate, then PADT).
    pub fn logout(&mut self, now: Instant, sub: usize) {
        self.pop.logout(now, sub, &mut self.seg);
    }

    /// Hangs a subscriber up: PADT without LCP Terminate.
    pub fn hang_up(&mut self, now: Instant, sub: usize) {
        self.pop.hang_up(now, sub, &mut self.seg);
    }

    /// Sends one IPv4 packet from an up subscriber; false when it is not up.
    pub fn send_ip(&mut self, now: Instant, sub: usize, packet: &[u8]) -> bool {
        self.pop.send_ip(now, sub, packet, &mut self.seg)
    }

    /// No further logins will start (nothing to close on PPPoE; kept for symmetry with L2TP).
    pub fn no_more_logins(&mut self, _now: Instant) {}

    /// Stops the run: up subscribers log out, discoveries and PPP setups are abandoned.
    pub fn stop(&mut self, now: Instant) {
        self.pop.stop_all(now, &mut self.seg);
    }

    /// Abandons every login in progress (discovery or PPP).
    pub fn abort_setups(&mut self, now: Instant) {
        self.pop.abort_setups(now, &mut self.seg);
    }

    /// Logs out the next up subscriber; false when none is up.
    pub fn logout_next(&mut self, now: Instant) -> bool {
        self.pop.logout_next(now, &mut self.seg)
    }

    /// Every subscriber finished and nothing is queued.
    pub fn is_idle(&self) -> bool {
        self.pop.live() == 0 && self.seg.out.is_empty()
    }

    /// The next Ethernet frame to send (header included).
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.seg.out.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<CoreEvent> {
        self.pop.poll_event()
    }

    /// When [`Self::handle_timeout`] must next run.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let clients = self.seg.deadlines.first().map(|(t, _)| *t);
        match (clients, self.pop.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Runs due timers: discovery retransmissions, then PPP and subscriber timers.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(&(at, sub)) = self.seg.deadlines.first() {
            if at > now {
                break;
            }
            self.seg.deadlines.pop_first();
            self.seg.filed[sub] = None;
            if let Some(Some(client)) = self.seg.clients.get_mut(sub) {
                client.handle_timeout(now);
            }
            self.after_client(now, sub);
        }
        self.pop.handle_timeout(now, &mut self.seg);
    }

    /// One received Ethernet frame (ethertype 0x8863 or 0x8864), header included.
    pub fn handle_frame(&mut self, now: Instant, frame: &[u8]) {
        let Some(dst) = frame.get(..6) else {
            self.seg.ignored += 1;
            return;
        };
        let mut mac = [0u8; 6];
        mac.copy_from_slice(dst);
        let Some(&sub) = self.seg.by_mac.get(&MacAddr(mac)) else {
            self.seg.ignored += 1;
            return;
        };
        let Some(Some(client)) = self.seg.clients.get_mut(sub) else {
            self.seg.ignored += 1;
            return;
        };
        match client.handle_frame(now, frame) {
            ClientHandled::Session(ppp) => {
                self.pop.handle_ppp(now, sub, ppp, &mut self.seg);
            }
            ClientHandled::Discovery => self.after_client(now, sub),
            ClientHandled::Ignored(_) => self.seg.ignored += 1,
        }
    }

    /// Sends what a client queued and acts on what it reported.
    fn after_client(&mut self, now: Instant, sub: usize) {
        self.seg.drain(sub);
        let events: Vec<ClientEvent> = match self.seg.clients.get_mut(sub) {
            Some(Some(client)) => std::iter::from_fn(|| client.poll_event()).collect(),
            _ => Vec::new(),
        };
        self.seg.refile(sub);
        for event in events {
            match event {
                ClientEvent::Established(session) => {
                    // RFC 2516 §7: the MRU may not exceed 1492 unless PPP-Max-Payload (RFC 4638)
                    // was agreed; the session says which.
                    let max = session.max_payload.max(LcpConfig::ABSOLUTE_MIN_MRU);
                    let mut lcp = LcpConfig::for_pppoe();
                    lcp.mru = max;
                    lcp.max_peer_mru = max;
                    self.pop.carrier_up(now, sub, lcp, &mut self.seg);
                }
                ClientEvent::Terminated {
                    cause: TerminateCause::Peer { reason },
                    ..
                } => {
                    self.seg.release(sub);
                    let detail =
                        reason.unwrap_or_else(|| "PADT from the access concentrator".into());
                    self.pop
                        .carrier_down(now, sub, Cause::new(CauseKind::PppoeTerminated, detail));
                }
                ClientEvent::Terminated {
                    cause: TerminateCause::Local,
                    ..
                } => {}
                ClientEvent::Failed(failure) => {
                    self.seg.release(sub);
                    let cause = match failure {
                        ClientFailure::NoOffer { last_error } => Cause::new(
                            CauseKind::PppoeNoOffer,
                            last_error.unwrap_or_else(|| "no PADO".into()),
                        ),
                        ClientFailure::NoConfirmation => {
                            Cause::new(CauseKind::PppoeNoConfirmation, "no PADS")
                        }
                        ClientFailure::Refused { tag_type, reason } => Cause::new(
                            CauseKind::PppoeRefused,
                            format!("PADS error tag {tag_type:#06x}: {reason}"),
                        ),
                    };
                    self.pop.carrier_failed(now, sub, cause);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_are_local_unicast_and_distinct() {
        let a = subscriber_mac(1);
        assert_eq!(a, MacAddr([0x02, 0x4c, 0x47, 0, 0, 1]));
        assert!(a.is_unicast());
        assert_eq!(
            subscriber_mac(MAX_MAC_NUMBER),
            MacAddr([0x02, 0x4c, 0x47, 0xff, 0xff, 0xff])
        );
        assert_eq!(subscriber_mac(0x12_3456).0[3..], [0x12, 0x34, 0x56]);
    }
}

//! A deterministic simulated network between two [`Endpoint`]s: simulated time, latency with
//! jitter (so packets reorder), seeded loss and duplication, an optional capture of every datagram
//! put on the wire, and a switch that makes one side go silent.
//!
//! Owns: the simulated clock and the packets in flight. Must not touch: real sockets or the real
//! clock. Tests, benches and the integrator's actor tests drive protocol behaviour through it.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::{Endpoint, Event};

/// Which endpoint of the pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The first endpoint (by convention the LAC).
    A,
    /// The second endpoint (by convention the LNS).
    B,
}

/// How the simulated link treats each datagram (both directions alike).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkModel {
    /// Base one-way delay.
    pub latency: Duration,
    /// Extra delay drawn uniformly from `0..=jitter` per datagram; more jitter, more reordering.
    pub jitter: Duration,
    /// Probability a datagram is lost.
    pub loss: f64,
    /// Probability a datagram is delivered twice.
    pub duplicate: f64,
}

impl Default for LinkModel {
    fn default() -> Self {
        LinkModel {
            latency: Duration::from_millis(5),
            jitter: Duration::ZERO,
            loss: 0.0,
            duplicate: 0.0,
        }
    }
}

/// One datagram as it left an endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Captured {
    /// Simulated time it was sent.
    pub at: Instant,
    /// Source address.
    pub src: SocketAddr,
    /// Destination address.
    pub dst: SocketAddr,
    /// The L2TP message.
    pub payload: Vec<u8>,
}

/// A datagram on the link: arrival time, a tie-breaking sequence number, whether A sent it, bytes.
type InFlight = (Instant, u64, bool, Vec<u8>);

/// Two endpoints joined by a simulated link.
pub struct SimPair {
    /// Endpoint A.
    pub a: Endpoint,
    /// Endpoint B.
    pub b: Endpoint,
    /// A's address.
    pub a_addr: SocketAddr,
    /// B's address.
    pub b_addr: SocketAddr,
    /// The link.
    pub link: LinkModel,
    /// When set, everything to and from that side is dropped (a dead peer).
    pub silent: Option<Side>,
    /// Every datagram sent, when `Some` (lost ones included, in send order).
    pub capture: Option<Vec<Captured>>,
    now: Instant,
    seq: u64,
    in_flight: BinaryHeap<Reverse<InFlight>>,
    rng: StdRng,
    pending: VecDeque<(Side, Event)>,
    delivered: u64,
    last_received: [Option<Instant>; 2],
}

impl SimPair {
    /// A pair at simulated time `start`; `seed` drives loss, duplication and jitter.
    pub fn new(
        a: Endpoint,
        a_addr: SocketAddr,
        b: Endpoint,
        b_addr: SocketAddr,
        link: LinkModel,
        start: Instant,
        seed: u64,
    ) -> Self {
        SimPair {
            a,
            b,
            a_addr,
            b_addr,
            link,
            silent: None,
            capture: None,
            now: start,
            seq: 0,
            in_flight: BinaryHeap::new(),
            rng: StdRng::seed_from_u64(seed),
            pending: VecDeque::new(),
            delivered: 0,
            last_received: [None; 2],
        }
    }

    /// The simulated now.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Datagrams delivered so far.
    pub fn delivered(&self) -> u64 {
        self.delivered
    }

    /// When `side` last received a datagram.
    pub fn last_received(&self, side: Side) -> Option<Instant> {
        self.last_received[side as usize]
    }

    /// An endpoint by side.
    pub fn endpoint(&mut self, side: Side) -> &mut Endpoint {
        match side {
            Side::A => &mut self.a,
            Side::B => &mut self.b,
        }
    }

    /// Moves both endpoints' transmits onto the link and their events into the pending queue.
    fn pump(&mut self) {
        for side in [Side::A, Side::B] {
            while let Some(t) = self.endpoint(side).poll_transmit() {
                if let Some(c) = &mut self.capture {
                    c.push(Captured {
                        at: self.now,
                        src: t.local,
                        dst: t.remote,
                        payload: t.payload.clone(),
                    });
                }
                if self.silent.is_some()
                    && (self.silent == Some(side)
                        || t.remote == self.addr(self.silent.unwrap_or(side)))
                {
                    continue;
                }
                if self.rng.random_bool(self.link.loss) {
                    continue;
                }
                let copies = if self.rng.random_bool(self.link.duplicate) {
                    2
                } else {
                    1
                };
                for _ in 0..copies {
                    let jitter = if self.link.jitter.is_zero() {
                        Duration::ZERO
                    } else {
                        self.link.jitter.mul_f64(self.rng.random::<f64>())
                    };
                    let at = self.now + self.link.latency + jitter;
                    self.seq += 1;
                    self.in_flight.push(Reverse((
                        at,
                        self.seq,
                        side == Side::A,
                        t.payload.clone(),
                    )));
                }
            }
            while let Some(e) = self.endpoint(side).poll_event() {
                self.pending.push_back((side, e));
            }
        }
    }

    fn addr(&self, side: Side) -> SocketAddr {
        match side {
            Side::A => self.a_addr,
            Side::B => self.b_addr,
        }
    }

    /// Runs the simulation until `until` (or until nothing is left to happen), handing every event
    /// to `on_event`, which may issue commands on either endpoint.
    pub fn run_until(
        &mut self,
        until: Instant,
        mut on_event: impl FnMut(&mut SimPair, Side, Event),
    ) {
        loop {
            self.pump();
            while let Some((side, e)) = self.pending.pop_front() {
                on_event(self, side, e);
                self.pump();
            }
            let next = [
                self.in_flight.peek().map(|Reverse(p)| p.0),
                self.a.poll_timeout(),
                self.b.poll_timeout(),
            ]
            .into_iter()
            .flatten()
            .min();
            let Some(next) = next.filter(|&n| n <= until) else {
                self.now = self.now.max(until);
                return;
            };
            self.now = self.now.max(next);
            while let Some(Reverse((at, _, from_a, _))) = self.in_flight.peek() {
                if *at > self.now {
                    break;
                }
                let from_a = *from_a;
                let Some(Reverse((_, _, _, payload))) = self.in_flight.pop() else {
                    break;
                };
                self.delivered += 1;
                let (src, dst) = if from_a {
                    (self.a_addr, self.b_addr)
                } else {
                    (self.b_addr, self.a_addr)
                };
                let now = self.now;
                self.last_received[if from_a { Side::B } else { Side::A } as usize] = Some(now);
                let to = if from_a { &mut self.b } else { &mut self.a };
                to.handle_datagram(now, dst, src, &payload);
            }
            let now = self.now;
            if self.a.poll_timeout().is_some_and(|t| t <= now) {
                self.a.handle_timeout(now);
            }
            if self.b.poll_timeout().is_some_and(|t| t <= now) {
                self.b.handle_timeout(now);
            }
        }
    }

    /// Runs for `d` of simulated time.
    pub fn run_for(&mut self, d: Duration, on_event: impl FnMut(&mut SimPair, Side, Event)) {
        let until = self.now + d;
        self.run_until(until, on_event)
    }

    /// Drops the events produced so far without looking at them.
    pub fn discard_events(&mut self) {
        self.pump();
        self.pending.clear();
    }
}

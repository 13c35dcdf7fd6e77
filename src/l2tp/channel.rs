//! The reliable control channel of one tunnel (RFC 2661 §5.8, Appendix A): sequence numbers,
//! acknowledgements, the receive window, retransmission with exponential backoff, slow start and
//! congestion avoidance.
//!
//! Owns: Ns/Nr state, the retransmit queue, the out-of-order hold queue and the ack and retransmit
//! timers. Must not touch: message contents (it carries encoded messages out and opaque items in),
//! sockets or the clock (`now` is passed in).

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use crate::wire::header::{ControlHeader, patch_sequence};

/// Parameters of one channel (from [`super::TunnelConfig`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ChannelParams {
    pub receive_window: u16,
    pub retransmit_initial: Duration,
    pub retransmit_max: Duration,
    pub max_retransmits: u32,
    pub ack_delay: Duration,
}

/// What happened to a received message at the sequencing layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Received {
    /// A ZLB: only its Nr mattered.
    Zlb,
    /// The next expected message; it (and any held successors) are ready in delivery order.
    InOrder,
    /// Ahead of the next expected message but inside our window: held for in-order delivery.
    Held,
    /// Already received (RFC 2661 §5.8: acknowledged again, not delivered again).
    Duplicate,
    /// Ahead beyond our receive window: dropped.
    OutOfWindow,
}

/// The peer stopped acknowledging: RFC 2661 §5.8 says the tunnel and all sessions MUST be cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PeerUnreachable;

#[derive(Debug)]
pub(crate) struct ControlChannel<T> {
    p: ChannelParams,
    // Sending side.
    una: u16,
    queue: VecDeque<Vec<u8>>,
    in_flight: usize,
    peer_window: u16,
    cwnd: u16,
    ssthresh: u16,
    ca_acked: u16,
    rto: Duration,
    retries: u32,
    retransmit_at: Option<Instant>,
    // Receiving side.
    next_nr: u16,
    held: BTreeMap<u16, T>,
    delivered: VecDeque<T>,
    ack_at: Option<Instant>,
    ack_now: bool,
    nr_sent: u16,
}

impl<T> ControlChannel<T> {
    pub fn new(p: ChannelParams) -> Self {
        let peer_window = super::config::PEER_DEFAULT_RECEIVE_WINDOW;
        ControlChannel {
            p,
            una: 0,
            queue: VecDeque::new(),
            in_flight: 0,
            peer_window,
            // Appendix A: CWND starts at one packet, SSTHRESH at the advertised window.
            cwnd: 1,
            ssthresh: peer_window,
            ca_acked: 0,
            rto: p.retransmit_initial,
            retries: 0,
            retransmit_at: None,
            next_nr: 0,
            held: BTreeMap::new(),
            delivered: VecDeque::new(),
            ack_at: None,
            ack_now: false,
            nr_sent: 0,
        }
    }

    /// Sets the Ns the first received message must carry (a responder learns it from the SCCRQ).
    pub fn expect_first(&mut self, ns: u16) {
        self.next_nr = ns;
        self.nr_sent = ns;
    }

    /// Applies the peer's Receive Window Size AVP (RFC 2661 §5.8; absent means 4).
    pub fn set_peer_window(&mut self, window: u16) {
        self.peer_window = window.max(1);
        self.ssthresh = self.peer_window;
        self.cwnd = self.cwnd.min(self.peer_window);
    }

    /// The peer's advertised window.
    pub fn peer_window(&self) -> u16 {
        self.peer_window
    }

    /// The congestion window (Appendix A), for tests and statistics.
    #[cfg(test)]
    pub fn cwnd(&self) -> u16 {
        self.cwnd
    }

    /// Queues an encoded control message; its Ns and Nr are filled in when it is (re)sent.
    pub fn push(&mut self, packet: Vec<u8>) {
        self.queue.push_back(packet);
    }

    /// Messages queued or in flight and not yet acknowledged.
    pub fn unacked(&self) -> usize {
        self.queue.len()
    }

    /// The Ns of the next message not yet sent (what a ZLB carries).
    fn next_ns(&self) -> u16 {
        self.una.wrapping_add(self.in_flight as u16)
    }

    /// A ZLB header for the peer's tunnel (RFC 2661 §5.8: Ns is not consumed by a ZLB).
    pub fn zlb(&mut self, peer_tunnel_id: u16) -> [u8; 12] {
        self.nr_sent = self.next_nr;
        self.ack_at = None;
        self.ack_now = false;
        ControlHeader {
            tunnel_id: peer_tunnel_id,
            session_id: 0,
            ns: self.next_ns(),
            nr: self.next_nr,
        }
        .zlb()
    }

    /// Sends what the windows allow, and a ZLB when an acknowledgement is due and nothing carried
    /// it. `send` receives each datagram.
    pub fn transmit(&mut self, now: Instant, peer_tunnel_id: u16, mut send: impl FnMut(Vec<u8>)) {
        // RFC 2661 §5.8: up to the peer's window outstanding; Appendix A: and no more than CWND.
        let window = self.cwnd.min(self.peer_window) as usize;
        while self.in_flight < self.queue.len() && self.in_flight < window {
            let ns = self.next_ns();
            let packet = &mut self.queue[self.in_flight];
            patch_sequence(packet, ns, self.next_nr);
            send(packet.clone());
            self.in_flight += 1;
            self.nr_sent = self.next_nr;
            self.ack_at = None;
            self.ack_now = false;
            if self.retransmit_at.is_none() {
                self.retransmit_at = Some(now + self.rto);
            }
        }
        let ack_due = self.ack_now || self.ack_at.is_some_and(|t| now >= t);
        if ack_due && (self.ack_now || self.nr_sent != self.next_nr) {
            send(self.zlb(peer_tunnel_id).to_vec());
        } else if ack_due {
            self.ack_at = None;
        }
    }

    /// Runs the retransmission timer (RFC 2661 §5.8, Appendix A). Call [`Self::transmit`] after.
    pub fn handle_timeout(
        &mut self,
        now: Instant,
        mut send: impl FnMut(Vec<u8>),
    ) -> Result<(), PeerUnreachable> {
        let Some(at) = self.retransmit_at else {
            return Ok(());
        };
        if now < at || self.in_flight == 0 {
            if self.in_flight == 0 {
                self.retransmit_at = None;
            }
            return Ok(());
        }
        if self.retries >= self.p.max_retransmits {
            return Err(PeerUnreachable);
        }
        self.retries += 1;
        // Appendix A: on a retransmission, half of CWND goes to SSTHRESH and CWND restarts at one.
        self.ssthresh = (self.cwnd / 2).max(1);
        self.cwnd = 1;
        self.ca_acked = 0;
        // §5.8: the retransmission keeps its Ns but carries the current Nr.
        let (ns, nr) = (self.una, self.next_nr);
        if let Some(head) = self.queue.front_mut() {
            patch_sequence(head, ns, nr);
            send(head.clone());
            self.nr_sent = nr;
            self.ack_at = None;
            self.ack_now = false;
        }
        // §5.8: exponential backoff, capped (the cap MUST be at least 8 s; config validates).
        self.rto = self.rto.saturating_mul(2).min(self.p.retransmit_max);
        self.retransmit_at = Some(now + self.rto);
        Ok(())
    }

    /// Processes an Nr from the peer: frees acknowledged messages and grows the window.
    fn on_ack(&mut self, now: Instant, nr: u16) {
        let acked = nr.wrapping_sub(self.una) as usize;
        if acked == 0 || acked > self.in_flight {
            return; // stale, or acknowledging something we never sent
        }
        for _ in 0..acked {
            self.queue.pop_front();
            // Appendix A: each acknowledged message counts as one ACK, so growth does not depend
            // on whether the peer acknowledges one message at a time or several with one ZLB.
            if self.cwnd < self.ssthresh {
                self.cwnd += 1;
            } else {
                self.ca_acked += 1;
                if self.ca_acked >= self.cwnd {
                    self.ca_acked = 0;
                    self.cwnd = self.cwnd.saturating_add(1);
                }
            }
        }
        self.cwnd = self.cwnd.min(self.peer_window);
        self.in_flight -= acked;
        self.una = nr;
        self.retries = 0;
        self.rto = self.p.retransmit_initial;
        self.retransmit_at = (self.in_flight > 0).then(|| now + self.rto);
    }

    /// Processes a received message's Ns and Nr. `item` is `None` for a ZLB. In-order items (and
    /// held successors they release) become available from [`Self::pop_delivered`].
    pub fn on_receive(&mut self, now: Instant, ns: u16, nr: u16, item: Option<T>) -> Received {
        self.on_ack(now, nr);
        let Some(item) = item else {
            return Received::Zlb;
        };
        let ahead = ns.wrapping_sub(self.next_nr);
        if ahead >= 0x8000 {
            // §5.8: within the last 32768 values: a duplicate. It MUST be acknowledged (the ZLB
            // that acknowledged it may have been lost) and not delivered twice.
            self.ack_now = true;
            return Received::Duplicate;
        }
        if ahead > 0 {
            if ahead >= self.p.receive_window {
                return Received::OutOfWindow;
            }
            self.held.entry(ns).or_insert(item);
            return Received::Held;
        }
        self.delivered.push_back(item);
        self.next_nr = self.next_nr.wrapping_add(1);
        while let Some(next) = self.held.remove(&self.next_nr) {
            self.delivered.push_back(next);
            self.next_nr = self.next_nr.wrapping_add(1);
        }
        // The ack waits a moment for a reply to carry it, but not once half of the window we
        // advertised is unacknowledged: the peer would stall on its window while we wait.
        let unacked = self.next_nr.wrapping_sub(self.nr_sent);
        if unacked >= (self.p.receive_window / 2).max(1) {
            self.ack_now = true;
        } else if self.ack_at.is_none() {
            self.ack_at = Some(now + self.p.ack_delay);
        }
        Received::InOrder
    }

    /// Acknowledge without delay at the next [`Self::transmit`] (used after a StopCCN, RFC 2661 §5.7).
    pub fn ack_immediately(&mut self) {
        self.ack_now = true;
    }

    /// The next delivered item, in sequence order.
    pub fn pop_delivered(&mut self) -> Option<T> {
        self.delivered.pop_front()
    }

    /// The earliest of the retransmit and ack timers.
    pub fn deadline(&self) -> Option<Instant> {
        match (self.retransmit_at, self.ack_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::clock::test_epoch;
    use crate::wire::header::ControlPacket;

    fn params() -> ChannelParams {
        ChannelParams {
            receive_window: 4,
            retransmit_initial: Duration::from_secs(1),
            retransmit_max: Duration::from_secs(8),
            max_retransmits: 5,
            ack_delay: Duration::from_millis(100),
        }
    }

    fn msg(tag: u8) -> Vec<u8> {
        let mut v = ControlHeader {
            tunnel_id: 9,
            ..Default::default()
        }
        .zlb()
        .to_vec();
        v.push(tag);
        v[3] = 13;
        v
    }

    fn seq(p: &[u8]) -> (u16, u16, bool) {
        let c = ControlPacket::new_checked(p).unwrap();
        (c.ns(), c.nr(), c.is_zlb())
    }

    #[test]
    fn in_order_duplicate_and_out_of_order_delivery() {
        let t = test_epoch();
        let mut c: ControlChannel<u8> = ControlChannel::new(params());
        assert_eq!(c.on_receive(t, 1, 0, Some(1)), Received::Held);
        assert_eq!(c.on_receive(t, 2, 0, Some(2)), Received::Held);
        assert_eq!(c.pop_delivered(), None);
        assert_eq!(c.on_receive(t, 0, 0, Some(0)), Received::InOrder);
        assert_eq!(
            [c.pop_delivered(), c.pop_delivered(), c.pop_delivered()],
            [Some(0), Some(1), Some(2)]
        );
        assert_eq!(c.pop_delivered(), None);
        assert_eq!(c.on_receive(t, 1, 0, Some(9)), Received::Duplicate);
        assert_eq!(c.pop_delivered(), None);
        // Window 4: Ns 3..6 are acceptable ahead of next 3; 3+4=7 is out.
        assert_eq!(c.on_receive(t, 7, 0, Some(7)), Received::OutOfWindow);
        // The duplicate forces an immediate ZLB with Nr 3.
        let mut out = Vec::new();
        c.transmit(t, 5, |p| out.push(p));
        assert_eq!(out.len(), 1);
        assert_eq!(seq(&out[0]), (0, 3, true));
    }

    #[test]
    fn sequence_numbers_wrap_modulo_2_16() {
        let t = test_epoch();
        let mut c: ControlChannel<u16> = ControlChannel::new(params());
        c.next_nr = 65534;
        assert_eq!(c.on_receive(t, 65534, 0, Some(1)), Received::InOrder);
        assert_eq!(c.on_receive(t, 0, 0, Some(3)), Received::Held);
        assert_eq!(c.on_receive(t, 65535, 0, Some(2)), Received::InOrder);
        assert_eq!(c.next_nr, 1);
        // 15 and 32784..65535 count as <= last received (RFC 2661 §5.8's example, shifted).
        c.next_nr = 16;
        assert_eq!(c.on_receive(t, 15, 0, Some(0)), Received::Duplicate);
        assert_eq!(c.on_receive(t, 32784, 0, Some(0)), Received::Duplicate);
        assert_eq!(c.on_receive(t, 0, 0, Some(0)), Received::Duplicate);
    }

    #[test]
    fn zlb_after_delay_unless_piggybacked() {
        let t = test_epoch();
        let mut c: ControlChannel<u8> = ControlChannel::new(params());
        c.on_receive(t, 0, 0, Some(0));
        let mut out = Vec::new();
        c.transmit(t, 5, |p| out.push(p));
        assert!(out.is_empty(), "no ZLB before the ack delay");
        assert_eq!(c.deadline(), Some(t + Duration::from_millis(100)));
        c.transmit(t + Duration::from_millis(100), 5, |p| out.push(p));
        assert_eq!(out.len(), 1);
        assert_eq!(seq(&out[0]), (0, 1, true));
        // Now a message to send piggybacks the next ack: no ZLB.
        c.on_receive(t, 1, 0, Some(1));
        c.push(msg(1));
        out.clear();
        c.transmit(t + Duration::from_millis(150), 5, |p| out.push(p));
        assert_eq!(out.len(), 1);
        assert_eq!(seq(&out[0]), (0, 2, false));
        out.clear();
        c.transmit(
            t + Duration::from_secs(5) - Duration::from_millis(1),
            5,
            |p| out.push(p),
        );
        assert!(out.is_empty());
    }

    #[test]
    fn window_slow_start_and_congestion_avoidance() {
        let t = test_epoch();
        let mut c: ControlChannel<u8> = ControlChannel::new(params());
        c.set_peer_window(8);
        for i in 0..40 {
            c.push(msg(i));
        }
        let mut sent = Vec::new();
        c.transmit(t, 5, |p| sent.push(seq(&p).0));
        assert_eq!(sent, vec![0], "slow start begins with one message");
        // Ack it: CWND 2.
        c.on_receive(t, 0, 1, None);
        sent.clear();
        c.transmit(t, 5, |p| sent.push(seq(&p).0));
        assert_eq!(sent, vec![1, 2]);
        assert_eq!(c.cwnd(), 2);
        c.on_receive(t, 0, 3, None);
        assert_eq!(c.cwnd(), 4);
        c.on_receive(t, 0, 3, None); // stale ack changes nothing
        assert_eq!(c.cwnd(), 4);
        sent.clear();
        c.transmit(t, 5, |p| sent.push(seq(&p).0));
        assert_eq!(sent, vec![3, 4, 5, 6]);
        c.on_receive(t, 0, 7, None);
        assert_eq!(c.cwnd(), 8, "reaches SSTHRESH = peer window");
        c.transmit(t, 5, |_| {});
        c.on_receive(t, 0, 15, None);
        assert_eq!(c.cwnd(), 8, "never above the peer's window");
    }

    #[test]
    fn retransmission_doubles_to_cap_then_gives_up() {
        let t = test_epoch();
        let mut c: ControlChannel<u8> = ControlChannel::new(params());
        c.push(msg(0));
        c.transmit(t, 5, |_| {});
        let mut times = Vec::new();
        let now = loop {
            let now = c.deadline().unwrap();
            let mut n = 0;
            match c.handle_timeout(now, |_| n += 1) {
                Ok(()) => {
                    assert_eq!(n, 1);
                    times.push((now - t).as_secs());
                }
                Err(PeerUnreachable) => break now,
            }
        };
        // RFC 2661 §5.8: 1, 2, 4, 8, 8 seconds apart; dead a full interval after the fifth.
        assert_eq!(times, vec![1, 3, 7, 15, 23]);
        assert_eq!((now - t).as_secs(), 31);
    }

    #[test]
    fn retransmission_carries_current_nr_and_resets_on_ack() {
        let t = test_epoch();
        let mut c: ControlChannel<u8> = ControlChannel::new(params());
        c.set_peer_window(4);
        c.push(msg(0));
        c.transmit(t, 5, |_| {});
        c.on_receive(t, 0, 0, Some(0));
        c.on_receive(t, 1, 0, Some(1));
        let mut out = Vec::new();
        c.handle_timeout(t + Duration::from_secs(1), |p| out.push(p))
            .unwrap();
        assert_eq!(seq(&out[0]), (0, 2, false));
        c.on_receive(t + Duration::from_secs(2), 2, 1, Some(2));
        assert_eq!(c.unacked(), 0);
        assert_eq!(
            c.deadline(),
            Some(t + Duration::from_secs(2) + Duration::from_millis(100))
        );
    }

    /// Drives a sender and a receiver channel over a lossy, duplicating, reordering link.
    fn run_link(seed: u64, loss: f64, dup: f64, n: u32) -> (Vec<u32>, u64) {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let p = ChannelParams {
            max_retransmits: 60,
            ..params()
        };
        let mut a: ControlChannel<u32> = ControlChannel::new(p);
        let mut b: ControlChannel<u32> = ControlChannel::new(ChannelParams {
            receive_window: 8,
            ..p
        });
        a.set_peer_window(8);
        b.set_peer_window(8);
        for i in 0..n {
            let mut m = msg(0);
            m.pop();
            m.extend_from_slice(&i.to_be_bytes());
            m[3] = 16;
            a.push(m);
        }
        let t0 = test_epoch();
        let mut now = t0;
        let mut link: Vec<(Instant, bool, Vec<u8>)> = Vec::new();
        let mut got = Vec::new();
        let mut sent = 0u64;
        let mut retransmitted: Vec<Vec<u8>> = Vec::new();
        while (got.len() as u32) < n && now < t0 + Duration::from_secs(36_000) {
            let mut out_a = std::mem::take(&mut retransmitted);
            let mut out_b = Vec::new();
            a.transmit(now, 1, |p| out_a.push(p));
            b.transmit(now, 2, |p| out_b.push(p));
            for (to_b, p) in out_a
                .into_iter()
                .map(|p| (true, p))
                .chain(out_b.into_iter().map(|p| (false, p)))
            {
                sent += 1;
                if rng.random_bool(loss) {
                    continue;
                }
                let copies = if rng.random_bool(dup) { 2 } else { 1 };
                for _ in 0..copies {
                    let at = now + Duration::from_millis(rng.random_range(5..60));
                    link.push((at, to_b, p.clone()));
                }
            }
            let next = link
                .iter()
                .map(|l| l.0)
                .chain(a.deadline())
                .chain(b.deadline())
                .min();
            let Some(next) = next else { break };
            now = now.max(next);
            let (due, rest): (Vec<_>, Vec<_>) = link.into_iter().partition(|l| l.0 <= now);
            link = rest;
            for (_, to_b, p) in due {
                let (ns, nr, zlb) = seq(&p);
                if to_b {
                    let item = (!zlb).then(|| u32::from_be_bytes([p[12], p[13], p[14], p[15]]));
                    b.on_receive(now, ns, nr, item);
                    while let Some(x) = b.pop_delivered() {
                        got.push(x);
                    }
                } else {
                    a.on_receive(now, ns, nr, None);
                }
            }
            assert!(
                a.handle_timeout(now, |p| retransmitted.push(p)).is_ok(),
                "sender gave up"
            );
        }
        (got, sent)
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]

        /// RFC 2661 §5.8: whatever the link does, the receiver gets every message exactly once and
        /// in order.
        #[test]
        fn lossy_link_delivers_everything_once_and_in_order(seed in proptest::prelude::any::<u64>(), loss in 0.0f64..0.4, dup in 0.0f64..0.3, n in 1u32..120) {
                let (got, sent) = run_link(seed, loss, dup, n);
            proptest::prop_assert!(sent >= n as u64);
            proptest::prop_assert_eq!(got, (0..n).collect::<Vec<_>>());
        }
    }
}

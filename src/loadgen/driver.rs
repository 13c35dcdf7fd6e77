//! The emulator's only IO: the sockets (one UDP socket for L2TP dial-in, two AF_PACKET sockets for
//! PPPoE), the clock, and the loop that feeds the sans-IO cores.
//!
//! Owns: reading datagrams and frames into the cores, sending what they queue, waking them at
//! their deadlines, pacing logins, applying commands (dial, send, log out) and stop requests, and
//! calling the progress hook. Must not touch: protocol state; every decision is the cores'.
//!
//! One loop owns one core and its sockets on one task, so the fast path takes no locks. Time comes
//! from [`crate::runtime::clock::now`] only.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot, watch};

use super::l2tp_core::L2tpCore;
use super::pacer::Pacer;
use super::population::{CoreEvent, DownOutcome, SubscriberSpec};
use super::pppoe_core::PppoeCore;
use super::stats::{Cause, Stats};
use crate::ppp::NetworkInfo;
use crate::runtime::clock;
use crate::runtime::logging::RateLimitedLog;
use crate::runtime::packet::{MacAddr, PacketSocket, ethertype};
use crate::runtime::udp::UdpEndpoint;

/// Datagrams or frames read after one wake-up before the loop looks at its timers again.
const RECV_BATCH: usize = 256;

/// What a stop request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum StopLevel {
    /// Keep running.
    Run,
    /// Start no more logins, log everybody out cleanly, close tunnels, then end (bounded by the
    /// drain timeout).
    Drain,
    /// End now, without waiting for anything.
    Abort,
}

/// The sans-IO core a loop drives: [`L2tpCore`] or [`PppoeCore`].
pub(crate) trait Core {
    fn start(&mut self, now: Instant, spec: SubscriberSpec) -> usize;
    fn logout(&mut self, now: Instant, sub: usize);
    fn hang_up(&mut self, now: Instant, sub: usize);
    fn send_ip(&mut self, now: Instant, sub: usize, packet: &[u8]) -> bool;
    fn no_more_logins(&mut self, now: Instant);
    fn stop(&mut self, now: Instant);
    fn abort_setups(&mut self, now: Instant);
    fn logout_next(&mut self, now: Instant) -> bool;
    fn is_idle(&self) -> bool;
    fn live(&self) -> usize;
    fn poll_event(&mut self) -> Option<CoreEvent>;
    fn poll_timeout(&self) -> Option<Instant>;
    fn handle_timeout(&mut self, now: Instant);
    fn stats(&self) -> &Stats;
}

macro_rules! impl_core {
    ($t:ty) => {
        impl Core for $t {
            fn start(&mut self, now: Instant, spec: SubscriberSpec) -> usize {
                <$t>::start(self, now, spec)
            }
            fn logout(&mut self, now: Instant, sub: usize) {
                <$t>::logout(self, now, sub)
            }
            fn hang_up(&mut self, now: Instant, sub: usize) {
                <$t>::hang_up(self, now, sub)
            }
            fn send_ip(&mut self, now: Instant, sub: usize, packet: &[u8]) -> bool {
                <$t>::send_ip(self, now, sub, packet)
            }
            fn no_more_logins(&mut self, now: Instant) {
                <$t>::no_more_logins(self, now)
            }
            fn stop(&mut self, now: Instant) {
                <$t>::stop(self, now)
            }
            fn abort_setups(&mut self, now: Instant) {
                <$t>::abort_setups(self, now)
            }
            fn logout_next(&mut self, now: Instant) -> bool {
                <$t>::logout_next(self, now)
            }
            fn is_idle(&self) -> bool {
                <$t>::is_idle(self)
            }
            fn live(&self) -> usize {
                self.population().live()
            }
            fn poll_event(&mut self) -> Option<CoreEvent> {
                <$t>::poll_event(self)
            }
            fn poll_timeout(&self) -> Option<Instant> {
                <$t>::poll_timeout(self)
            }
            fn handle_timeout(&mut self, now: Instant) {
                <$t>::handle_timeout(self, now)
            }
            fn stats(&self) -> &Stats {
                <$t>::stats(self)
            }
        }
    };
}

impl_core!(L2tpCore);
impl_core!(PppoeCore);

/// The sockets of one transport.
pub(crate) trait Transport {
    type Core: Core;
    /// Waits for one datagram or frame and keeps it for [`Transport::handle`]. Cancel-safe: the
    /// read happens synchronously once the socket is readable.
    async fn recv_one(&mut self) -> io::Result<()>;
    /// Hands the kept packet, and every further one already queued (up to a batch), to the core.
    fn handle(&mut self, core: &mut Self::Core, now: Instant);
    /// Sends everything the core queued, waiting when the socket buffer is full.
    async fn flush(&mut self, core: &mut Self::Core) -> io::Result<()>;
}

/// L2TP dial-in: one UDP socket for every tunnel.
pub(crate) struct UdpTransport {
    socket: UdpEndpoint,
    buf: Vec<u8>,
    pending: Option<(usize, SocketAddr)>,
    log: RateLimitedLog,
}

impl UdpTransport {
    pub(crate) fn new(socket: UdpEndpoint) -> Self {
        Self {
            socket,
            buf: vec![0; 65_536],
            pending: None,
            log: RateLimitedLog::default(),
        }
    }
}

impl Transport for UdpTransport {
    type Core = L2tpCore;

    async fn recv_one(&mut self) -> io::Result<()> {
        let meta = self.socket.recv(&mut self.buf).await?;
        if !meta.truncated {
            self.pending = Some((meta.len, meta.source));
        }
        Ok(())
    }

    fn handle(&mut self, core: &mut L2tpCore, now: Instant) {
        if let Some((len, source)) = self.pending.take() {
            core.handle_datagram(now, source, &self.buf[..len]);
        }
        for _ in 0..RECV_BATCH {
            match self.socket.try_recv(&mut self.buf) {
                Ok(meta) if meta.truncated => {}
                Ok(meta) => core.handle_datagram(now, meta.source, &self.buf[..meta.len]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    self.log
                        .warn("loadgen_udp_recv", format!("UDP receive: {e}"));
                    break;
                }
            }
        }
    }

    async fn flush(&mut self, core: &mut L2tpCore) -> io::Result<()> {
        while let Some((dst, bytes)) = core.poll_transmit() {
            match self.socket.try_send(&bytes, dst, None) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if let Err(e) = self.socket.send_to(&bytes, dst).await {
                        self.log
                            .warn("loadgen_udp_send", format!("UDP send to {dst}: {e}"));
                    }
                }
                // A lost datagram is recovered by retransmission like any loss; say so, go on.
                Err(e) => self
                    .log
                    .warn("loadgen_udp_send", format!("UDP send to {dst}: {e}")),
            }
        }
        Ok(())
    }
}

/// PPPoE: the interface's discovery and session sockets.
pub(crate) struct PacketTransport {
    discovery: PacketSocket,
    session: PacketSocket,
    discovery_buf: Vec<u8>,
    session_buf: Vec<u8>,
    /// Which buffer holds a frame, and its length with the rebuilt Ethernet header.
    pending: Option<(bool, usize)>,
    log: RateLimitedLog,
}

/// Room for an Ethernet header in front of each receive buffer; the socket hands the payload only.
const ETH_HEADER: usize = 14;

impl PacketTransport {
    pub(crate) fn new(discovery: PacketSocket, session: PacketSocket) -> Self {
        Self {
            discovery,
            session,
            discovery_buf: vec![0; ETH_HEADER + 9_216],
            session_buf: vec![0; ETH_HEADER + 9_216],
            pending: None,
            log: RateLimitedLog::default(),
        }
    }

    /// Writes the Ethernet header back in front of a received payload so the core sees the frame
    /// as it was on the wire.
    fn rebuild(buf: &mut [u8], meta: &crate::runtime::packet::FrameMeta) -> Option<usize> {
        if meta.truncated {
            return None;
        }
        buf[0..6].copy_from_slice(&meta.destination.0);
        buf[6..12].copy_from_slice(&meta.source.0);
        buf[12..14].copy_from_slice(&meta.ethertype.to_be_bytes());
        Some(ETH_HEADER + meta.len)
    }

    fn drain_socket(
        socket: &PacketSocket,
        buf: &mut [u8],
        core: &mut PppoeCore,
        now: Instant,
        log: &RateLimitedLog,
    ) {
        for _ in 0..RECV_BATCH {
            match socket.try_recv(&mut buf[ETH_HEADER..]) {
                Ok(meta) => {
                    if let Some(len) = Self::rebuild(buf, &meta) {
                        core.handle_frame(now, &buf[..len]);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    log.warn("loadgen_packet_recv", format!("AF_PACKET receive: {e}"));
                    break;
                }
            }
        }
    }
}

impl Transport for PacketTransport {
    type Core = PppoeCore;

    async fn recv_one(&mut self) -> io::Result<()> {
        let Self {
            discovery,
            session,
            discovery_buf,
            session_buf,
            pending,
            ..
        } = self;
        tokio::select! {
            biased;
            r = discovery.recv(&mut discovery_buf[ETH_HEADER..]) => {
                let meta = r?;
                *pending = Self::rebuild(discovery_buf, &meta).map(|len| (true, len));
            }
            r = session.recv(&mut session_buf[ETH_HEADER..]) => {
                let meta = r?;
                *pending = Self::rebuild(session_buf, &meta).map(|len| (false, len));
            }
        }
        Ok(())
    }

    fn handle(&mut self, core: &mut PppoeCore, now: Instant) {
        // Discovery before session: an access concentrator sends its first LCP Configure-Request
        // right after the PADS, on the other socket. Handled first, it would reach a client that
        // is not established yet, be ignored, and cost a 3 s LCP retransmission.
        let pending = self.pending.take();
        if let Some((true, len)) = pending {
            core.handle_frame(now, &self.discovery_buf[..len]);
        }
        Self::drain_socket(
            &self.discovery,
            &mut self.discovery_buf,
            core,
            now,
            &self.log,
        );
        if let Some((false, len)) = pending {
            core.handle_frame(now, &self.session_buf[..len]);
        }
        Self::drain_socket(&self.session, &mut self.session_buf, core, now, &self.log);
    }

    async fn flush(&mut self, core: &mut PppoeCore) -> io::Result<()> {
        while let Some(frame) = core.poll_transmit() {
            if frame.len() < ETH_HEADER {
                continue;
            }
            let mut dst = [0u8; 6];
            let mut src = [0u8; 6];
            dst.copy_from_slice(&frame[0..6]);
            src.copy_from_slice(&frame[6..12]);
            let socket = match u16::from_be_bytes([frame[12], frame[13]]) {
                ethertype::PPPOE_DISCOVERY => &self.discovery,
                ethertype::PPPOE_SESSION => &self.session,
                // The clients never tag frames (VLANs are subinterfaces on Linux).
                _ => continue,
            };
            let (src, dst, payload) = (MacAddr(src), MacAddr(dst), &frame[ETH_HEADER..]);
            match socket.try_send_from(src, dst, payload) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if let Err(e) = socket.send_from(src, dst, payload).await {
                        self.log
                            .warn("loadgen_packet_send", format!("AF_PACKET send: {e}"));
                    }
                }
                Err(e) => self
                    .log
                    .warn("loadgen_packet_send", format!("AF_PACKET send: {e}")),
            }
        }
        Ok(())
    }
}

/// Linux `IFF_PROMISC`.
const IFF_PROMISC: u32 = 0x100;

/// A warning when `interface` is a physical NIC not in promiscuous mode: its hardware filter then
/// drops frames for the emulated subscribers' MACs, and every login ends in `pppoe_no_offer`.
/// Virtual interfaces (veth, bridges) deliver them anyway. `None` when all is well or unknown.
pub(crate) fn promiscuity_warning(interface: &str) -> Option<String> {
    let dir = std::path::Path::new("/sys/class/net").join(interface);
    let flags = std::fs::read_to_string(dir.join("flags")).ok()?;
    let flags = u32::from_str_radix(flags.trim().trim_start_matches("0x"), 16).ok()?;
    let physical = dir.join("device").exists();
    (physical && flags & IFF_PROMISC == 0).then(|| {
        format!(
            "{interface} is a physical interface not in promiscuous mode: it will drop frames \
             addressed to the emulated subscribers' MACs (run `ip link set {interface} promisc on`)"
        )
    })
}

/// Builds the spec of bulk login number `k` (0-based).
pub(crate) type SpecFactory = Box<dyn FnMut(u64) -> SubscriberSpec + Send>;

/// Called about once a second with the counters and the time since the run started.
pub type ProgressHook = Box<dyn FnMut(&Stats, Duration) + Send>;

/// A command from a [`super::Dialer`] or one of its subscribers.
pub(crate) enum Command {
    Dial {
        spec: SubscriberSpec,
        reply: oneshot::Sender<Result<DialedUp, Cause>>,
        events: mpsc::UnboundedSender<SubscriberEvent>,
    },
    SendIp {
        sub: usize,
        packet: Vec<u8>,
        reply: oneshot::Sender<bool>,
    },
    Logout {
        sub: usize,
    },
    HangUp {
        sub: usize,
    },
}

/// What a dialled subscriber learns after coming up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SubscriberEvent {
    Ip(Vec<u8>),
    Down(DownOutcome),
}

/// What a successful dial returns to the dialer.
#[derive(Debug, Clone)]
pub(crate) struct DialedUp {
    pub sub: usize,
    pub network: NetworkInfo,
    pub latency: Duration,
}

struct Tap {
    reply: Option<oneshot::Sender<Result<DialedUp, Cause>>>,
    events: mpsc::UnboundedSender<SubscriberEvent>,
}

/// How a loop ended.
#[derive(Debug)]
pub(crate) struct LoopEnd {
    /// A stop request ended it (rather than all work being done).
    pub interrupted: bool,
    /// Time since the loop started.
    pub elapsed: Duration,
}

/// One event loop: a transport, its core, and whatever feeds it.
pub(crate) struct Driver<T: Transport> {
    pub transport: T,
    pub core: T::Core,
    /// Bulk logins: the schedule and how to build each spec.
    pub pacer: Option<(Pacer, SpecFactory)>,
    /// Commands of a dialer; the loop ends when every sender is gone and the core is idle.
    pub commands: Option<mpsc::Receiver<Command>>,
    /// Stop requests; `None` once the sender is gone (nobody can ask any more).
    pub stop: Option<watch::Receiver<StopLevel>>,
    pub drain_timeout: Duration,
    /// Logouts per second after a stop request (the login rate; infinite: all at once).
    pub drain_rate: f64,
    pub progress: Option<ProgressHook>,
    taps: HashMap<usize, Tap>,
    log: RateLimitedLog,
}

impl<T: Transport> Driver<T> {
    pub(crate) fn new(transport: T, core: T::Core, stop: watch::Receiver<StopLevel>) -> Self {
        Self {
            transport,
            core,
            pacer: None,
            commands: None,
            stop: Some(stop),
            drain_timeout: Duration::from_secs(10),
            drain_rate: f64::INFINITY,
            progress: None,
            taps: HashMap::new(),
            log: RateLimitedLog::default(),
        }
    }

    /// Runs until the work is done (bulk: every login started and finished, tunnels closed;
    /// dialer: every handle dropped and the core idle) or a stop request ends it.
    pub(crate) async fn run(&mut self) -> io::Result<LoopEnd> {
        let started = clock::now();
        let mut stopping: Option<Instant> = None;
        let mut draining = false;
        let mut logouts: Option<Pacer> = None;
        let mut announced_last_login = false;
        let mut next_progress = started + Duration::from_secs(1);
        let mut interrupted = false;
        loop {
            let now = clock::now();
            let level = self.stop.as_ref().map_or(StopLevel::Run, |s| *s.borrow());
            if level == StopLevel::Abort {
                interrupted = true;
                break;
            }
            if level == StopLevel::Drain && !draining {
                draining = true;
                interrupted = true;
                if let Some((pacer, _)) = self.pacer.as_mut() {
                    pacer.stop();
                }
                self.commands = None;
                self.core.abort_setups(now);
                self.core.no_more_logins(now);
                // Log out at the login rate rather than all at once: a burst of Terminate-Requests
                // overflows socket buffers on both sides and turns into retransmissions.
                logouts = Some(Pacer::new(now, u64::MAX, self.drain_rate, u64::MAX));
            }
            if let Some(pacer) = logouts.as_mut() {
                while pacer.take(now, 0).is_some() {
                    if !self.core.logout_next(now) {
                        logouts = None;
                        stopping = Some(now + self.drain_timeout);
                        break;
                    }
                }
            }
            if self.core.poll_timeout().is_some_and(|t| t <= now) {
                self.core.handle_timeout(now);
            }
            if let Some((pacer, factory)) = self.pacer.as_mut() {
                while let Some(k) = pacer.take(now, self.core.stats().in_flight()) {
                    self.core.start(now, factory(k));
                }
                if pacer.is_done() && !announced_last_login {
                    announced_last_login = true;
                    self.core.no_more_logins(now);
                }
            }
            self.dispatch_events();
            self.transport.flush(&mut self.core).await?;
            if now >= next_progress {
                next_progress = now + Duration::from_secs(1);
                if let Some(hook) = self.progress.as_mut() {
                    hook(self.core.stats(), now.saturating_duration_since(started));
                }
            }
            let feeding = match (&self.pacer, &self.commands) {
                (Some((pacer, _)), _) => !pacer.is_done(),
                (None, Some(_)) => true,
                (None, None) => false,
            };
            if !feeding && self.core.is_idle() {
                break;
            }
            if !feeding && stopping.is_none() && logouts.is_none() && self.core.live() == 0 {
                // Every subscriber is done; what is left is closing tunnels. A peer that never
                // acknowledges our StopCCN must not hold the run for the endpoint's full linger.
                stopping = Some(now + self.drain_timeout);
            }
            if stopping.is_some_and(|t| now >= t) {
                break;
            }
            let pacer_due = self
                .pacer
                .as_ref()
                .and_then(|(p, _)| p.poll_timeout(self.core.stats().in_flight()));
            let next = [
                self.core.poll_timeout(),
                pacer_due,
                logouts.as_ref().and_then(|p| p.poll_timeout(0)),
                stopping,
                self.progress.as_ref().map(|_| next_progress),
            ]
            .into_iter()
            .flatten()
            .min()
            // Nothing scheduled: wake anyway now and then so a quiet run still notices its end.
            .unwrap_or(now + Duration::from_secs(1));
            let sleep = tokio::time::sleep_until(tokio::time::Instant::from_std(next));
            tokio::select! {
                biased;
                gone = wait_stop(&mut self.stop) => {
                    if gone {
                        self.stop = None;
                    }
                }
                cmd = recv_command(&mut self.commands) => match cmd {
                    Some(cmd) => self.apply(clock::now(), cmd),
                    None => {
                        // Every dialer handle is gone: wind down like a drain.
                        self.commands = None;
                        let now = clock::now();
                        self.core.stop(now);
                        self.core.no_more_logins(now);
                    }
                },
                r = self.transport.recv_one() => match r {
                    Ok(()) => {
                        let now = clock::now();
                        self.transport.handle(&mut self.core, now);
                    }
                    Err(e) => {
                        // Not fatal: an interface going down or a transient error must not end
                        // the run before its report; the logins it hurts fail and are counted.
                        // The pause keeps a persistent error from spinning the loop.
                        self.log.warn("loadgen_recv", format!("receive: {e}"));
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                },
                () = sleep => {}
            }
        }
        self.dispatch_events();
        let _ = self.transport.flush(&mut self.core).await;
        Ok(LoopEnd {
            interrupted,
            elapsed: clock::now().saturating_duration_since(started),
        })
    }

    fn apply(&mut self, now: Instant, cmd: Command) {
        match cmd {
            Command::Dial {
                spec,
                reply,
                events,
            } => {
                let sub = self.core.start(now, spec);
                self.taps.insert(
                    sub,
                    Tap {
                        reply: Some(reply),
                        events,
                    },
                );
            }
            Command::SendIp { sub, packet, reply } => {
                let _ = reply.send(self.core.send_ip(now, sub, &packet));
            }
            Command::Logout { sub } => self.core.logout(now, sub),
            Command::HangUp { sub } => self.core.hang_up(now, sub),
        }
        self.dispatch_events();
    }

    /// Hands core events to the subscribers' handles (bulk runs have none and only count).
    fn dispatch_events(&mut self) {
        while let Some(event) = self.core.poll_event() {
            match event {
                CoreEvent::Up {
                    sub,
                    network,
                    latency,
                } => {
                    if let Some(reply) = self.taps.get_mut(&sub).and_then(|t| t.reply.take()) {
                        let _ = reply.send(Ok(DialedUp {
                            sub,
                            network,
                            latency,
                        }));
                    }
                }
                CoreEvent::Failed { sub, cause } => {
                    if let Some(tap) = self.taps.remove(&sub)
                        && let Some(reply) = tap.reply
                    {
                        let _ = reply.send(Err(cause));
                    }
                }
                CoreEvent::Aborted { sub } => {
                    if let Some(tap) = self.taps.remove(&sub)
                        && let Some(reply) = tap.reply
                    {
                        let _ = reply.send(Err(Cause::new(
                            super::stats::CauseKind::SetupTimeout,
                            "abandoned: the dialer is shutting down",
                        )));
                    }
                }
                CoreEvent::Down { sub, outcome } => {
                    if let Some(tap) = self.taps.remove(&sub) {
                        let _ = tap.events.send(SubscriberEvent::Down(outcome));
                    }
                }
                CoreEvent::Ip { sub, packet } => {
                    if let Some(tap) = self.taps.get(&sub) {
                        let _ = tap.events.send(SubscriberEvent::Ip(packet));
                    }
                }
            }
        }
    }
}

/// Waits for a stop request; true when the sender is gone. Forever once it is.
async fn wait_stop(stop: &mut Option<watch::Receiver<StopLevel>>) -> bool {
    match stop {
        Some(rx) => rx.changed().await.is_err(),
        None => std::future::pending().await,
    }
}

/// Waits for a command, or forever when there is no command channel.
async fn recv_command(commands: &mut Option<mpsc::Receiver<Command>>) -> Option<Command> {
    match commands {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

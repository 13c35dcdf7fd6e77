//! In-process tests of the real state actor under tokio's paused clock: hours and days of virtual
//! time in well under a second of real time, with nothing mocked on the path under test.
//!
//! # What runs
//! One [`Actor`] playing LNS, LAC and dial-in front-end at once, built from [`ActorParts`] the way
//! `runtime::daemon` builds it: real loopback UDP sockets ([`UdpEndpoint`]) served by the real
//! socket tasks ([`UdpTask`]: classification, the data plane's relays), a real usage ledger in a
//! temporary directory, no TUN (the LNS drops subscribers' IP and counts it, as a daemon without
//! the privilege does), no PPPoE. The subscriber is the load generator's sans-IO core
//! ([`L2tpCore`]: a subscriber's own LAC plus a PPP client link) driven by a task of the test over
//! its own loopback socket. Questions go through [`ActorHandle::request`], the path `l2tpagg ctl`
//! takes.
//!
//! # Paused time and real sockets
//! Tokio's paused clock advances on its own ("auto-advance") when the runtime has nothing to run:
//! it jumps straight to the next timer. Real sockets could race with that: a datagram not yet
//! seen by the reactor when the runtime goes idle would be read only after the jump, perhaps
//! after a retransmission timer fired. Two facts rule this out here, so the tests use plain
//! `#[tokio::test(start_paused = true)]`:
//! - loopback delivery is synchronous: when `sendto` returns, the datagram is in the receiver's
//!   buffer, before any task of this single-threaded runtime can park;
//! - before auto-advancing, tokio's time driver polls the I/O driver with a zero timeout, and a
//!   task woken by that poll cancels the jump (the current-thread scheduler's `unpark_self` sets
//!   the time driver's `did_wake`; tokio 1.54, the locked version).
//!
//! So time moves only when the actor, its socket tasks and the subscriber all wait for a timer,
//! as if processing took no time. [`auto_advance_never_jumps_over_a_datagram_in_flight`] pins the
//! second fact down: if a tokio upgrade changes it, that test fails by name instead of the
//! protocol tests drifting. Runs are deterministic and nothing waits in real time.
//!
//! Ordering is another matter than time: a ctl request travels through the actor's in-memory
//! queue and can be answered before a datagram already sent (a CDN in a socket buffer) is read.
//! Where a test asks right after such a send, [`Rig::settle_sessions`] yields until the answer
//! settles; `yield_now` makes the scheduler poll the reactor without blocking, and it checks that
//! the clock did not move meanwhile.
//!
//! # Simplifications, said plainly
//! The data plane's coarse clock (last-activity stamps) ticks every second here instead of every
//! 10 ms as in the daemon: a day of 10 ms ticks would cost millions of wake-ups. Nothing tested
//! here reads activity stamps finer than that. The rate-limited log's flusher is not spawned.

use std::collections::BTreeMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant as TokioInstant;

use super::{Actor, ActorHandle, ActorParts, Command, ExitReport, Role};
use crate::ctl::proto::{Request, Response, SessionRow, TunnelRow};
use crate::dataplane::counters::CoarseClock;
use crate::dataplane::sessions::{DatagramSink, Dataplane};
use crate::ledger::{Ledger, LedgerEvent, LedgerOptions, LedgerReader, LedgerRecord};
use crate::loadgen::options::L2tpOptions;
use crate::loadgen::population::PopulationConfig;
use crate::loadgen::{
    AuthChoice, CoreEvent, DownOutcome, L2tpCore, L2tpCoreConfig, SubscriberSpec,
};
use crate::runtime::clock::{self, Clock, UnixMillis};
use crate::runtime::logging::{DEFAULT_MAX_LINES, RateLimitedLog};
use crate::runtime::shutdown::ShutdownCoordinator;
use crate::runtime::udp::{UdpConfig, UdpEndpoint};
use crate::runtime::udp_task::UdpTask;
use crate::wire::data::{Kind, classify};
use crate::wire::message::peek;
use crate::wire::{ControlHeader, MessageType};

/// Wall-clock time of the test's virtual start: stamps in ctl answers and ledger records are
/// this plus virtual time elapsed.
const WALL0: UnixMillis = 1_800_000_000_000;

/// Longest a test waits, in virtual time, for something that takes milliseconds.
const SOON: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------------------------
// The actor's side.

/// What the tap saw leave each of the actor's endpoints.
#[derive(Default)]
struct WireLog {
    /// HELLO messages sent (RFC 2661 §6.5), by endpoint role.
    hellos: Mutex<BTreeMap<Role, u64>>,
}

impl WireLog {
    fn hellos(&self, role: Role) -> u64 {
        self.hellos.lock().unwrap().get(&role).copied().unwrap_or(0)
    }
}

/// The L2TP message type of a control datagram, `None` for data messages and ZLBs.
fn control_type(datagram: &[u8]) -> Option<u16> {
    match classify(datagram) {
        Ok(Kind::Control { .. }) => {
            let (_, body) = ControlHeader::parse(datagram).ok()?;
            peek(body).kind
        }
        _ => None,
    }
}

/// One of the actor's sockets, passed through: the actor and the data plane send through it
/// exactly as through the bare socket; it notes the HELLOs that leave.
struct Tap {
    socket: Arc<UdpEndpoint>,
    role: Role,
    log: Arc<WireLog>,
}

impl DatagramSink for Tap {
    fn try_send_datagram(
        &self,
        payload: &[u8],
        remote: SocketAddr,
        source: Option<IpAddr>,
    ) -> io::Result<usize> {
        let sent = self.socket.try_send(payload, remote, source)?;
        if control_type(payload) == Some(MessageType::Hello as u16) {
            *self
                .log
                .hellos
                .lock()
                .unwrap()
                .entry(self.role)
                .or_default() += 1;
        }
        Ok(sent)
    }

    fn local_addr(&self) -> SocketAddr {
        self.socket.local_addr()
    }
}

/// The actor, its socket tasks and its ledger.
struct Rig {
    handle: ActorHandle,
    actor: JoinHandle<ExitReport>,
    tasks: ShutdownCoordinator,
    ticker: JoinHandle<()>,
    dialin: SocketAddr,
    log: Arc<WireLog>,
    ledger_dir: tempfile::TempDir,
    /// Virtual instant of [`WALL0`].
    t0: TokioInstant,
}

fn bind_loopback() -> Arc<UdpEndpoint> {
    let any = SocketAddr::from(([127, 0, 0, 1], 0));
    Arc::new(UdpEndpoint::bind(&UdpConfig::new(any)).expect("bind a loopback UDP socket"))
}

/// The configuration: LNS, LAC on one loopback line toward that LNS, dial-in from loopback, no
/// TUN routes, and `extra` (profiles, subscribers, timers).
fn config_text(lns: SocketAddr, dialin: SocketAddr, extra: &str) -> String {
    format!(
        "[daemon]\nwatchdog = false\n\
         [lns]\nlisten = [\"{lns}\"]\nlocal_address = \"100.64.0.1\"\n\
         [lns.tun]\nmanage_routes = false\n\
         [[lns.peers]]\nname = \"self\"\naddress = \"127.0.0.1\"\n\
         [[lns.pools]]\nname = \"subs\"\nranges = [\"100.64.1.0/24\"]\ndefault = true\n\
         [lac]\nempty_tunnel_linger = \"60s\"\n\
         [[lac.lines]]\nname = \"lo\"\nbind = \"127.0.0.1\"\ncapacity = \"1G\"\n\
         [[lac.peers]]\nname = \"lns\"\naddress = \"{lns}\"\nrealms = [\"*\"]\n\
         [lac.dialin]\nlisten = [\"{dialin}\"]\n\
         [[lac.dialin.peers]]\nname = \"cpe\"\naddress = \"127.0.0.1\"\n\
         {extra}"
    )
}

impl Rig {
    /// Binds the sockets, builds the actor from `extra` and spawns everything, as the daemon does.
    fn start(extra: &str) -> Rig {
        let t0 = TokioInstant::now();
        let lns = bind_loopback();
        let dialin = bind_loopback();
        let line = bind_loopback();
        let text = config_text(lns.local_addr(), dialin.local_addr(), extra);
        let config = Arc::new(
            crate::config::load_str("actor-tests", &text)
                .unwrap_or_else(|e| panic!("test configuration:\n{e}\n{text}")),
        );
        let coarse = Arc::new(CoarseClock::new(clock::now()));
        let dataplane = Arc::new(Dataplane::new(coarse.clone()));
        let rate_log = Arc::new(RateLimitedLog::new(
            DEFAULT_MAX_LINES,
            config.daemon.malformed_log_interval,
        ));
        let ledger_dir = tempfile::tempdir().expect("temporary directory");
        let (ledger, _) = Ledger::open(
            ledger_dir.path(),
            LedgerOptions {
                fsync: false,
                ..LedgerOptions::default()
            },
        )
        .expect("open the ledger");
        let log = Arc::new(WireLog::default());
        let tap = |socket: &Arc<UdpEndpoint>, role: Role| -> Arc<dyn DatagramSink> {
            Arc::new(Tap {
                socket: socket.clone(),
                role,
                log: log.clone(),
            })
        };
        let (actor, handle, rx) = Actor::new(ActorParts {
            config: config.clone(),
            config_path: None,
            dataplane: dataplane.clone(),
            lns_sockets: vec![tap(&lns, Role::Lns)],
            dialin_sockets: vec![tap(&dialin, Role::Dialin)],
            line_sockets: vec![(config.lac.lines[0].id, tap(&line, Role::Lac))],
            pppoe: Vec::new(),
            rate_log: rate_log.clone(),
            degraded: vec!["TUN: not in this test".into()],
            clock: Clock::anchored(WALL0),
            routes: None,
            ledger: Some(ledger),
        });
        let tasks = ShutdownCoordinator::new();
        for (socket, role) in [
            (&lns, Role::Lns),
            (&dialin, Role::Dialin),
            (&line, Role::Lac),
        ] {
            let task = UdpTask {
                socket: socket.clone(),
                role,
                dataplane: dataplane.clone(),
                actor: handle.clone(),
                rate_log: rate_log.clone(),
            };
            tokio::spawn(task.run(tasks.listener()));
        }
        let ticker = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                coarse.tick(clock::now());
            }
        });
        let actor = tokio::spawn(actor.run(rx));
        Rig {
            handle,
            actor,
            tasks,
            ticker,
            dialin: dialin.local_addr(),
            log,
            ledger_dir,
            t0,
        }
    }

    /// The wall-clock stamp the actor gives virtual instant `at`.
    fn wall(&self, at: TokioInstant) -> UnixMillis {
        WALL0 + clock::millis(at - self.t0)
    }

    /// The virtual instant of a wall-clock stamp from a ctl answer or a ledger record.
    fn instant_of(&self, wall: UnixMillis) -> TokioInstant {
        self.t0 + Duration::from_millis(wall - WALL0)
    }

    async fn sessions(&self) -> Vec<SessionRow> {
        match self
            .handle
            .request(Request::Sessions {
                user: None,
                tunnel: None,
            })
            .await
        {
            Response::Sessions { rows } => rows,
            other => panic!("sessions: {other:?}"),
        }
    }

    /// Waits, without letting virtual time pass, until `n` sessions are listed: messages already
    /// on the wire (a CDN in a socket buffer) are handled first. Each `yield_now` lets the
    /// scheduler poll the reactor without blocking, so the socket tasks get their datagrams.
    async fn settle_sessions(&self, n: usize) -> Vec<SessionRow> {
        let at = TokioInstant::now();
        for _ in 0..100 {
            let rows = self.sessions().await;
            if rows.len() == n {
                assert_eq!(TokioInstant::now(), at, "settling took no virtual time");
                return rows;
            }
            tokio::task::yield_now().await;
        }
        panic!("expected {n} sessions: {:?}", self.sessions().await);
    }

    async fn tunnels(&self) -> Vec<TunnelRow> {
        match self.handle.request(Request::Tunnels).await {
            Response::Tunnels { rows } => rows,
            other => panic!("tunnels: {other:?}"),
        }
    }

    /// The LAC's tunnels toward the LNS.
    async fn lac_tunnels(&self) -> Vec<TunnelRow> {
        let rows = self.tunnels().await;
        rows.into_iter()
            .filter(|t| t.role == crate::ctl::proto::Role::Lac && t.line.as_deref() == Some("lo"))
            .collect()
    }

    /// Shuts the actor down (CDN, StopCCN, final ledger records), stops the socket tasks and
    /// returns every ledger record.
    async fn finish(self) -> Vec<LedgerRecord> {
        assert!(self.handle.send(Command::Shutdown).await, "actor alive");
        let report = self.actor.await.expect("actor task");
        assert_eq!(report, ExitReport::Clean, "every StopCCN acknowledged");
        self.tasks.trigger();
        let _ = self.tasks.shutdown(Duration::from_secs(2)).await;
        self.ticker.abort();
        LedgerReader::open(self.ledger_dir.path())
            .expect("ledger readable")
            .map(|e| e.expect("ledger record").record)
            .collect()
    }
}

// ---------------------------------------------------------------------------------------------
// The subscriber's side.

enum PeerCommand {
    Dial(SubscriberSpec),
    Logout(usize),
}

/// A subscriber's own LAC with PPP clients (the load generator's [`L2tpCore`]) on its own
/// loopback socket, driven by a task in the same runtime.
struct Peer {
    commands: mpsc::UnboundedSender<PeerCommand>,
    events: mpsc::UnboundedReceiver<CoreEvent>,
    /// Control messages received, by message type.
    received: Arc<Mutex<BTreeMap<u16, u64>>>,
    task: JoinHandle<()>,
}

impl Peer {
    async fn start(server: SocketAddr) -> Peer {
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
            .await
            .expect("bind the subscriber's socket");
        let local = socket.local_addr().unwrap();
        let mut core = L2tpCore::new(L2tpCoreConfig {
            server,
            local,
            tunnel: Arc::new(crate::loadgen::emulator::tunnel_config(&L2tpOptions::new(
                server,
            ))),
            tunnel_slots: 1,
            population: PopulationConfig::default(),
        });
        let (commands, mut command_rx) = mpsc::unbounded_channel();
        let (event_tx, events) = mpsc::unbounded_channel();
        let received = Arc::new(Mutex::new(BTreeMap::new()));
        let seen = received.clone();
        let task = tokio::spawn(async move {
            let mut buf = vec![0u8; 65_536];
            loop {
                while let Some((to, datagram)) = core.poll_transmit() {
                    socket.send_to(&datagram, to).await.expect("loopback send");
                }
                while let Some(event) = core.poll_event() {
                    let _ = event_tx.send(event);
                }
                let deadline = core.poll_timeout();
                let timer = async {
                    match deadline {
                        Some(d) => tokio::time::sleep_until(d.into()).await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    received = socket.recv_from(&mut buf) => {
                        let (n, from) = received.expect("loopback receive");
                        if let Some(kind) = control_type(&buf[..n]) {
                            *seen.lock().unwrap().entry(kind).or_insert(0) += 1;
                        }
                        core.handle_datagram(clock::now(), from, &buf[..n]);
                    }
                    () = timer => core.handle_timeout(clock::now()),
                    command = command_rx.recv() => match command {
                        Some(PeerCommand::Dial(spec)) => {
                            core.start(clock::now(), spec);
                        }
                        Some(PeerCommand::Logout(sub)) => core.logout(clock::now(), sub),
                        None => return,
                    },
                }
            }
        });
        Peer {
            commands,
            events,
            received,
            task,
        }
    }

    fn received(&self, kind: MessageType) -> u64 {
        self.received
            .lock()
            .unwrap()
            .get(&(kind as u16))
            .copied()
            .unwrap_or(0)
    }

    /// Dials `name` / `secret` and waits for network-up; returns the subscriber's index.
    async fn dial(&mut self, name: &str, secret: &str) -> usize {
        let spec = SubscriberSpec {
            number: 1,
            name: name.into(),
            secret: secret.as_bytes().to_vec(),
            auth: AuthChoice::Any,
            traffic: None,
            hold: None,
            tap: false,
        };
        self.commands.send(PeerCommand::Dial(spec)).unwrap();
        match self.next_event().await {
            CoreEvent::Up { sub, .. } => sub,
            other => panic!("{name} did not come up: {other:?}"),
        }
    }

    async fn next_event(&mut self) -> CoreEvent {
        tokio::time::timeout(SOON, self.events.recv())
            .await
            .expect("a subscriber event in time")
            .expect("the subscriber task runs")
    }

    /// An event that has already happened, if any, without letting time pass.
    fn pending_event(&mut self) -> Option<CoreEvent> {
        self.events.try_recv().ok()
    }

    fn stop(self) {
        self.task.abort();
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers on ledger records.

fn stops(records: &[LedgerRecord]) -> Vec<(&LedgerRecord, &crate::ledger::TerminateCause)> {
    records
        .iter()
        .filter_map(|r| match &r.event {
            LedgerEvent::SessionStop { cause, .. } => Some((r, cause)),
            _ => None,
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The tests.

/// Condition A (session time, 24 h): a dial-in subscriber relayed to the LNS is still up one
/// second before its day is over, and cut at the deadline, with Session-Timeout as the end cause
/// in the ledger and in the CDN the subscriber hears. A virtual day of HELLOs, condition
/// samplings and interim records passes on the way without the tunnels or the session failing.
#[tokio::test(start_paused = true)]
async fn session_time_cuts_at_its_deadline_and_not_before() {
    let day = Duration::from_secs(24 * 3600);
    let start = TokioInstant::now();
    {
        let rig = Rig::start(
            "[[disconnect.profiles]]\nname = \"day\"\nsession_time = \"24h\"\n\
             [[subscriber_range]]\nprefix = \"day\"\ncount = 1\nsecret = \"pw\"\n\
             disconnect_profile = \"day\"\n",
        );
        let mut peer = Peer::start(rig.dialin).await;
        peer.dial("day1", "pw").await;

        let rows = rig.sessions().await;
        let lac: Vec<_> = rows.iter().filter(|r| r.access == "l2tp").collect();
        assert_eq!(lac.len(), 1, "one dial-in session on the LAC: {rows:?}");
        assert!(
            rows.iter()
                .any(|r| r.access.is_empty() && r.subscriber == "day1"),
            "and its LNS leg: {rows:?}"
        );
        let login = rig.instant_of(lac[0].login_at_ms);
        let deadline = login + day;

        tokio::time::sleep_until(deadline - Duration::from_secs(1)).await;
        let rows = rig.sessions().await;
        assert_eq!(
            rows.len(),
            2,
            "both legs still up 1 s before the day ends: {rows:?}"
        );
        assert!(rows.iter().all(|r| r.state == "established"), "{rows:?}");
        assert!(peer.pending_event().is_none(), "the subscriber is still up");

        tokio::time::sleep_until(deadline + Duration::from_secs(1)).await;
        assert_eq!(rig.sessions().await, Vec::new(), "cut at the deadline");
        match peer.pending_event() {
            Some(CoreEvent::Down {
                outcome: DownOutcome::Dropped(cause),
                ..
            }) => assert!(
                cause.detail.contains("automatic disconnect")
                    && cause.detail.contains("session-time"),
                "the subscriber hears why: {cause:?}"
            ),
            other => panic!("the subscriber should have been cut: {other:?}"),
        }
        assert_eq!(
            rig.lac_tunnels().await.len(),
            1,
            "the LAC tunnel outlived a day of HELLOs"
        );
        // Quiet tunnels: one HELLO a minute from whichever end heard nothing for that long
        // (RFC 2661 §6.5), every one acknowledged, or the tunnel would have been cleared after
        // its retransmissions.
        let minutes = day.as_secs() / 60;
        let lac_lns = rig.log.hellos(Role::Lac) + rig.log.hellos(Role::Lns);
        assert!(
            lac_lns >= minutes - 2,
            "HELLOs between LAC and LNS: {lac_lns}"
        );
        let dialin = rig.log.hellos(Role::Dialin);
        assert!(dialin >= minutes - 2, "HELLOs to the subscriber: {dialin}");
        assert_eq!(
            peer.received(MessageType::Hello),
            dialin,
            "each one arrived"
        );

        let records = rig.finish().await;
        peer.stop();
        // One daemon playing both roles records the subscriber's session once, on the LAC leg
        // (accounting.rs: the LNS records only what no l2tpagg LAC records).
        let stops = stops(&records);
        assert_eq!(stops.len(), 1, "one stop: {stops:?}");
        let (stop, cause) = stops[0];
        assert_eq!(
            *cause,
            crate::ledger::TerminateCause::SessionTimeout,
            "{stop:?}"
        );
        assert_eq!(
            stop.at,
            lac[0].login_at_ms + clock::millis(day),
            "stopped exactly a day after the login: {stop:?}"
        );
    }
    assert!(start.elapsed() > day, "a virtual day passed");
}

/// A LAC tunnel toward the LNS: HELLOs keep it (and the dial-in tunnel) alive through six quiet
/// hours with one subscriber in it; once the subscriber logs out it lingers empty for exactly
/// `lac.empty_tunnel_linger` (60 s) and is then closed with a StopCCN.
#[tokio::test(start_paused = true)]
async fn an_idle_lac_tunnel_lives_on_hellos_and_closes_after_its_linger() {
    let quiet = Duration::from_secs(6 * 3600);
    let linger = Duration::from_secs(60);
    let rig = Rig::start("[[subscriber_range]]\nprefix = \"q\"\ncount = 1\nsecret = \"pw\"\n");
    let mut peer = Peer::start(rig.dialin).await;
    let sub = peer.dial("q1", "pw").await;
    let lac = rig.lac_tunnels().await;
    assert_eq!(lac.len(), 1, "{lac:?}");
    let tunnel = lac[0].local_tunnel_id;

    let hellos_before = rig.log.hellos(Role::Lac) + rig.log.hellos(Role::Lns);
    let dialin_before = rig.log.hellos(Role::Dialin);
    tokio::time::sleep(quiet).await;
    let lac = rig.lac_tunnels().await;
    assert_eq!(lac.len(), 1, "{lac:?}");
    assert_eq!(
        (
            lac[0].local_tunnel_id,
            lac[0].state.as_str(),
            lac[0].sessions
        ),
        (tunnel, "established", 1),
        "the same tunnel, still carrying the subscriber"
    );
    // RFC 2661 §6.5: a HELLO after `hello_interval` (60 s) without a message from the peer. Each
    // was acknowledged: an unacknowledged one is retransmitted 5 times and then the tunnel is
    // cleared, which would have shown above.
    let minutes = quiet.as_secs() / 60;
    let lac_lns = rig.log.hellos(Role::Lac) + rig.log.hellos(Role::Lns) - hellos_before;
    assert!(
        (minutes - 1..=minutes + 1).contains(&lac_lns),
        "one HELLO a minute between LAC and LNS: {lac_lns} in {minutes} minutes"
    );
    let dialin = rig.log.hellos(Role::Dialin) - dialin_before;
    assert!(
        (minutes - 1..=minutes + 1).contains(&dialin),
        "one HELLO a minute to the subscriber: {dialin}"
    );
    assert_eq!(
        peer.received(MessageType::Hello),
        rig.log.hellos(Role::Dialin)
    );
    assert_eq!(
        rig.sessions().await.len(),
        2,
        "the session is still up on both legs"
    );

    peer.commands.send(PeerCommand::Logout(sub)).unwrap();
    match peer.next_event().await {
        CoreEvent::Down {
            outcome: DownOutcome::LoggedOut,
            ..
        } => {}
        other => panic!("logout: {other:?}"),
    }
    rig.settle_sessions(0).await;
    let emptied = TokioInstant::now();

    tokio::time::sleep_until(emptied + linger - Duration::from_secs(1)).await;
    let lac = rig.lac_tunnels().await;
    assert_eq!(lac.len(), 1, "still lingering 1 s before the end: {lac:?}");
    assert_eq!((lac[0].local_tunnel_id, lac[0].sessions), (tunnel, 0));
    tokio::time::sleep_until(emptied + linger + Duration::from_secs(1)).await;
    assert_eq!(
        rig.lac_tunnels().await,
        Vec::new(),
        "closed after its linger"
    );

    let emptied_ms = rig.wall(emptied);
    let records = rig.finish().await;
    peer.stop();
    // The ledger has the exact instants: one tunnel on the line the whole time, the session's
    // stop when the subscriber left, the tunnel's close one linger later.
    let opens: Vec<_> = records
        .iter()
        .filter_map(|r| match &r.event {
            LedgerEvent::TunnelOpen { tunnel, line, .. } if line == "lo" => Some(*tunnel),
            _ => None,
        })
        .collect();
    assert_eq!(opens.len(), 1, "the tunnel was never replaced: {opens:?}");
    let stops = stops(&records);
    assert_eq!(stops.len(), 1, "{stops:?}");
    assert_eq!(stops[0].0.at, emptied_ms, "{stops:?}");
    let close = records
        .iter()
        .find(
            |r| matches!(&r.event, LedgerEvent::TunnelClose { tunnel, .. } if *tunnel == opens[0]),
        )
        .expect("the tunnel's close is recorded");
    assert_eq!(close.at, emptied_ms + clock::millis(linger), "{close:?}");
    assert!(
        matches!(&close.event, LedgerEvent::TunnelClose { reason, .. } if reason.contains("StopCCN")),
        "{close:?}"
    );
}

/// What the harness relies on (see the module documentation): with a timer an hour away pending,
/// a datagram sent over loopback to an idle reader is read at the instant it was sent, not after
/// the paused clock jumped to the timer.
#[tokio::test(start_paused = true)]
async fn auto_advance_never_jumps_over_a_datagram_in_flight() {
    let hour = Duration::from_secs(3600);
    let start = TokioInstant::now();
    let far = tokio::spawn(tokio::time::sleep(hour));
    let a = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let b = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let to = b.local_addr().unwrap();
    let reader = tokio::spawn(async move {
        let mut buf = [0u8; 16];
        b.recv_from(&mut buf).await.unwrap();
        TokioInstant::now()
    });
    // The reader polls once, registers with the reactor and goes idle.
    tokio::task::yield_now().await;
    for _ in 0..3 {
        a.send_to(b"x", to).await.unwrap();
    }
    assert_eq!(reader.await.unwrap(), start, "read at once");
    far.await.unwrap();
    assert_eq!(start.elapsed(), hour, "and the timer still fires when due");
}

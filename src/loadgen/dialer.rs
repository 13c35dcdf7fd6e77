//! Subscribers one at a time, for tests: dial in (L2TP tunnel + session + PPP to network-up, or
//! PPPoE discovery + PPP), learn the assigned address, send and receive IP packets through the
//! session, then log out cleanly or hang up.
//!
//! Owns: the [`Dialer`] (one socket set and one background task running a core) and the
//! [`Subscriber`] handles that talk to it. Must not touch: protocol state (the cores).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use l2tpagg::loadgen::{Credentials, Dialer, DialerOptions};
//! let dialer = Dialer::start(DialerOptions::l2tp("127.0.0.1:1702".parse()?)).await?;
//! let mut alice = dialer.dial(Credentials::new("user1", "demo")).await?;
//! println!("up as {} after {:?}", alice.address(), alice.setup_latency());
//! alice
//!     .send_udp("100.64.0.1:7".parse()?, 40000, b"hello")
//!     .await?;
//! let reply = alice.recv_ip().await?;
//! alice.logout().await?;
//! dialer.close().await?;
//! # let _ = reply; Ok(()) }
//! ```

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use super::driver::{
    Command, DialedUp, Driver, PacketTransport, StopLevel, SubscriberEvent, UdpTransport,
};
use super::emulator::tunnel_config;
use super::ip;
use super::l2tp_core::{L2tpCore, L2tpCoreConfig};
use super::options::{L2tpOptions, LoadgenError, PppoeOptions, TransportOptions};
use super::population::{AuthChoice, DownOutcome, PopulationConfig, SubscriberSpec};
use super::pppoe_core::{MAX_MAC_NUMBER, PppoeCore, PppoeCoreConfig};
use super::stats::{Cause, Stats};
use crate::ppp::NetworkInfo;
use crate::runtime::packet::{PacketSocket, ethertype};
use crate::runtime::udp::{UdpConfig, UdpEndpoint};

/// How a [`Dialer`] reaches the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialerOptions {
    /// L2TP dial-in or PPPoE.
    pub transport: TransportOptions,
    /// L2TP: how many tunnels to spread dialled subscribers over (round robin). Default 1.
    pub tunnels: usize,
    /// A dial not up within this fails.
    pub setup_timeout: Duration,
    /// [`Dialer::close`] waits at most this long for logouts and StopCCN acknowledgements.
    pub drain_timeout: Duration,
    /// Number given to subscribers dialled without one (PPPoE MACs derive from it); each dial
    /// takes the next.
    pub first_number: u64,
}

impl DialerOptions {
    /// L2TP dial-in to `server` with the defaults.
    pub fn l2tp(server: SocketAddr) -> Self {
        Self::with(TransportOptions::L2tp(L2tpOptions::new(server)))
    }

    /// PPPoE on `interface` with the defaults.
    pub fn pppoe(interface: impl Into<String>) -> Self {
        Self::with(TransportOptions::Pppoe(PppoeOptions::new(interface)))
    }

    fn with(transport: TransportOptions) -> Self {
        Self {
            transport,
            tunnels: 1,
            setup_timeout: Duration::from_secs(30),
            drain_timeout: Duration::from_secs(10),
            first_number: 1,
        }
    }
}

/// Who dials.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// PAP Peer-ID / CHAP Name.
    pub name: String,
    /// Password / CHAP secret.
    pub secret: Vec<u8>,
    /// Protocols we agree to authenticate with.
    pub auth: AuthChoice,
    /// Subscriber number (PPPoE derives the MAC from it); `None` takes the dialer's next.
    pub number: Option<u64>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("name", &self.name)
            .field("secret", &"<redacted>")
            .field("auth", &self.auth)
            .field("number", &self.number)
            .finish()
    }
}

impl Credentials {
    /// `name` and `secret`, any authentication protocol the server asks for.
    pub fn new(name: impl Into<String>, secret: impl AsRef<[u8]>) -> Self {
        Self {
            name: name.into(),
            secret: secret.as_ref().to_vec(),
            auth: AuthChoice::Any,
            number: None,
        }
    }

    /// The same, restricted to `auth`.
    pub fn with_auth(mut self, auth: AuthChoice) -> Self {
        self.auth = auth;
        self
    }

    /// The same, as subscriber number `number`.
    pub fn with_number(mut self, number: u64) -> Self {
        self.number = Some(number);
        self
    }
}

/// What went wrong for one dialled subscriber.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DialError {
    /// It never came up.
    #[error("dial failed: {0}")]
    Failed(Cause),
    /// It is down (the outcome says how).
    #[error("subscriber is down: {0:?}")]
    Down(DownOutcome),
    /// The dialer's task is gone.
    #[error("the dialer has stopped")]
    DialerGone,
}

/// A socket set and a background task that dials subscribers on request. Dropping it (and every
/// [`Subscriber`]) winds the task down; [`Dialer::close`] does so and waits.
#[derive(Debug)]
pub struct Dialer {
    commands: mpsc::Sender<Command>,
    stop: watch::Sender<StopLevel>,
    task: JoinHandle<Result<Stats, LoadgenError>>,
    next_number: AtomicU64,
    local: Option<SocketAddr>,
}

impl Dialer {
    /// Opens the sockets and starts the task on the current tokio runtime.
    pub async fn start(options: DialerOptions) -> Result<Self, LoadgenError> {
        if options.first_number > MAX_MAC_NUMBER
            && matches!(options.transport, TransportOptions::Pppoe(_))
        {
            return Err(LoadgenError::InvalidOption(format!(
                "first_number {} is above {MAX_MAC_NUMBER}",
                options.first_number
            )));
        }
        let (cmd_tx, cmd_rx) = mpsc::channel(1024);
        let (stop_tx, stop_rx) = watch::channel(StopLevel::Run);
        let population = PopulationConfig {
            setup_timeout: options.setup_timeout,
        };
        let (task, local) = match &options.transport {
            TransportOptions::L2tp(l2tp) => {
                let socket = UdpEndpoint::bind(&UdpConfig::new(l2tp.bind))?;
                let local = socket.local_addr();
                let core = L2tpCore::new(L2tpCoreConfig {
                    server: l2tp.server,
                    local,
                    tunnel: Arc::new(tunnel_config(l2tp)),
                    tunnel_slots: options.tunnels.max(1),
                    population,
                });
                let mut driver = Driver::new(UdpTransport::new(socket), core, stop_rx);
                driver.commands = Some(cmd_rx);
                driver.drain_timeout = options.drain_timeout;
                let task = tokio::spawn(async move {
                    driver.run().await?;
                    Ok(driver.core.stats().clone())
                });
                (task, Some(local))
            }
            TransportOptions::Pppoe(pppoe) => {
                if let Some(warning) = super::driver::promiscuity_warning(&pppoe.interface) {
                    tracing::warn!("{warning}");
                }
                let discovery = PacketSocket::bind(&pppoe.interface, ethertype::PPPOE_DISCOVERY)?;
                let session = PacketSocket::bind(&pppoe.interface, ethertype::PPPOE_SESSION)?;
                let core = PppoeCore::new(PppoeCoreConfig {
                    service_name: pppoe.service_name.clone().into_bytes(),
                    ac_name: pppoe.ac_name.clone().map(String::into_bytes),
                    population,
                });
                let mut driver =
                    Driver::new(PacketTransport::new(discovery, session), core, stop_rx);
                driver.commands = Some(cmd_rx);
                driver.drain_timeout = options.drain_timeout;
                let task = tokio::spawn(async move {
                    driver.run().await?;
                    Ok(driver.core.stats().clone())
                });
                (task, None)
            }
        };
        Ok(Self {
            commands: cmd_tx,
            stop: stop_tx,
            task,
            next_number: AtomicU64::new(options.first_number),
            local,
        })
    }

    /// L2TP: our UDP address (the tunnels' source), as the server sees it.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.local
    }

    /// Dials one subscriber and waits until it is up (IPCP opened) or failed.
    pub async fn dial(&self, credentials: Credentials) -> Result<Subscriber, DialError> {
        let number = credentials
            .number
            .unwrap_or_else(|| self.next_number.fetch_add(1, Ordering::Relaxed));
        let spec = SubscriberSpec {
            number,
            name: credentials.name.clone(),
            secret: credentials.secret,
            auth: credentials.auth,
            traffic: None,
            hold: None,
            tap: true,
        };
        let (reply_tx, reply_rx) = oneshot::channel();
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        self.commands
            .send(Command::Dial {
                spec,
                reply: reply_tx,
                events: events_tx,
            })
            .await
            .map_err(|_| DialError::DialerGone)?;
        let up: DialedUp = reply_rx
            .await
            .map_err(|_| DialError::DialerGone)?
            .map_err(DialError::Failed)?;
        Ok(Subscriber {
            sub: up.sub,
            name: credentials.name,
            network: up.network,
            latency: up.latency,
            commands: self.commands.clone(),
            events: events_rx,
            down: None,
        })
    }

    /// Logs every subscriber out cleanly, closes the tunnels (StopCCN) and waits for the task,
    /// at most the drain timeout. Returns the counters of everything dialled.
    pub async fn close(self) -> Result<Stats, LoadgenError> {
        self.stop.send_replace(StopLevel::Drain);
        drop(self.commands);
        match self.task.await {
            Ok(result) => result,
            Err(e) => Err(LoadgenError::Task(e.to_string())),
        }
    }
}

/// One dialled subscriber that came up.
#[derive(Debug)]
pub struct Subscriber {
    sub: usize,
    name: String,
    network: NetworkInfo,
    latency: Duration,
    commands: mpsc::Sender<Command>,
    events: mpsc::UnboundedReceiver<SubscriberEvent>,
    down: Option<DownOutcome>,
}

impl Subscriber {
    /// The login name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The address the server assigned (IPCP).
    pub fn address(&self) -> Ipv4Addr {
        self.network.local
    }

    /// Everything IPCP negotiated: our address, the server's end, DNS servers.
    pub fn network(&self) -> NetworkInfo {
        self.network
    }

    /// From the dial to network-up.
    pub fn setup_latency(&self) -> Duration {
        self.latency
    }

    /// How it went down, once it has (seen by [`Self::recv_ip`] or [`Self::wait_down`]).
    pub fn down(&self) -> Option<&DownOutcome> {
        self.down.as_ref()
    }

    /// Sends one IPv4 packet through the session.
    pub async fn send_ip(&self, packet: &[u8]) -> Result<(), DialError> {
        if let Some(d) = &self.down {
            return Err(DialError::Down(d.clone()));
        }
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::SendIp {
                sub: self.sub,
                packet: packet.to_vec(),
                reply: tx,
            })
            .await
            .map_err(|_| DialError::DialerGone)?;
        match rx.await {
            Ok(true) => Ok(()),
            Ok(false) => Err(DialError::Down(DownOutcome::LoggedOut)),
            Err(_) => Err(DialError::DialerGone),
        }
    }

    /// Sends one UDP datagram from our address and `src_port` to `dst`.
    pub async fn send_udp(
        &self,
        dst: SocketAddrV4,
        src_port: u16,
        payload: &[u8],
    ) -> Result<(), DialError> {
        let packet = ip::udp_packet(
            self.network.local,
            src_port,
            *dst.ip(),
            dst.port(),
            payload,
            0,
        );
        self.send_ip(&packet).await
    }

    /// The next IPv4 packet received on the session; [`DialError::Down`] once the session ended.
    pub async fn recv_ip(&mut self) -> Result<Vec<u8>, DialError> {
        if let Some(d) = &self.down {
            return Err(DialError::Down(d.clone()));
        }
        match self.events.recv().await {
            Some(SubscriberEvent::Ip(p)) => Ok(p),
            Some(SubscriberEvent::Down(outcome)) => {
                self.down = Some(outcome.clone());
                Err(DialError::Down(outcome))
            }
            None => Err(DialError::DialerGone),
        }
    }

    /// Waits until the session ends (the server ended it, or after a logout), discarding packets.
    pub async fn wait_down(&mut self) -> Result<DownOutcome, DialError> {
        loop {
            match self.recv_ip().await {
                Ok(_) => {}
                Err(DialError::Down(outcome)) => return Ok(outcome),
                Err(e) => return Err(e),
            }
        }
    }

    /// Logs out cleanly: LCP Terminate-Request, then (once LCP is down or the server cleared the
    /// session) CDN or PADT. Waits until it is down.
    pub async fn logout(mut self) -> Result<DownOutcome, DialError> {
        if self.down.is_none() {
            self.commands
                .send(Command::Logout { sub: self.sub })
                .await
                .map_err(|_| DialError::DialerGone)?;
        }
        self.wait_down().await
    }

    /// Hangs up without LCP: CDN or PADT at once, as when a modem loses power.
    pub async fn hang_up(mut self) -> Result<DownOutcome, DialError> {
        if self.down.is_none() {
            self.commands
                .send(Command::HangUp { sub: self.sub })
                .await
                .map_err(|_| DialError::DialerGone)?;
        }
        self.wait_down().await
    }
}

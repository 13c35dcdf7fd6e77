//! The bulk emulator: N subscribers logged in at a paced rate, held, logged out, counted.
//!
//! Owns: turning [`LoadgenOptions`] into sockets, a core and a driver, and the driver's counters
//! into a [`Report`]. Must not touch: protocol state (the cores), process concerns (signals, exit
//! codes: `runtime::entry`).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::driver::{Driver, PacketTransport, ProgressHook, SpecFactory, StopLevel, UdpTransport};
use super::l2tp_core::{L2tpCore, L2tpCoreConfig};
use super::options::{LoadgenError, LoadgenOptions, TransportOptions};
use super::pacer::Pacer;
use super::population::{PopulationConfig, SubscriberSpec};
use super::pppoe_core::{PppoeCore, PppoeCoreConfig};
use super::stats::{Report, ReportHeader, Stats};
use crate::l2tp::TunnelConfig;
use crate::runtime::clock;
use crate::runtime::packet::{PacketSocket, ethertype};
use crate::runtime::udp::{UdpConfig, UdpEndpoint};
use crate::wire::Capabilities;

/// Receive window our tunnels advertise: the server's replies (ICRPs, CDNs) to many concurrent
/// setups may all be in flight at once.
const RECEIVE_WINDOW: u16 = 128;

/// Asks a running [`Emulator`] (or [`super::Dialer`]) to stop. Cloneable; the strongest request
/// wins.
#[derive(Debug, Clone)]
pub struct StopHandle {
    tx: Arc<watch::Sender<StopLevel>>,
}

impl StopHandle {
    fn request(&self, level: StopLevel) {
        self.tx.send_if_modified(|current| {
            let raise = level > *current;
            if raise {
                *current = level;
            }
            raise
        });
    }

    /// Start no more logins, abandon logins in progress, log everybody out cleanly (LCP
    /// Terminate, then CDN/StopCCN or PADT) at the login rate, and end once done or the drain
    /// timeout after the last logout began.
    pub fn drain(&self) {
        self.request(StopLevel::Drain);
    }

    /// End at once, without waiting for logouts.
    pub fn abort(&self) {
        self.request(StopLevel::Abort);
    }
}

/// A bulk run. Build it, optionally take a [`StopHandle`] and set a progress hook, then
/// [`Emulator::run`] it inside a tokio runtime.
///
/// ```no_run
/// # async fn demo() -> Result<(), l2tpagg::loadgen::LoadgenError> {
/// use l2tpagg::loadgen::{Emulator, LoadgenOptions};
/// let mut options = LoadgenOptions::default(); // 1000 demo subscribers to 127.0.0.1:1702
/// options.subscribers = 100;
/// let report = Emulator::new(options)?.run().await?;
/// assert!(report.success, "{report}");
/// # Ok(()) }
/// ```
pub struct Emulator {
    options: LoadgenOptions,
    stop_tx: Arc<watch::Sender<StopLevel>>,
    stop_rx: watch::Receiver<StopLevel>,
    progress: Option<ProgressHook>,
}

impl std::fmt::Debug for Emulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emulator")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl Emulator {
    /// Validates the options.
    pub fn new(options: LoadgenOptions) -> Result<Self, LoadgenError> {
        options.validate()?;
        let (tx, rx) = watch::channel(StopLevel::Run);
        Ok(Self {
            options,
            stop_tx: Arc::new(tx),
            stop_rx: rx,
            progress: None,
        })
    }

    /// A handle to stop the run from elsewhere (a signal handler, a test).
    pub fn stop_handle(&self) -> StopHandle {
        StopHandle {
            tx: self.stop_tx.clone(),
        }
    }

    /// Calls `hook` about once a second with the running counters and the elapsed time.
    pub fn on_progress(&mut self, hook: impl FnMut(&Stats, Duration) + Send + 'static) {
        self.progress = Some(Box::new(hook));
    }

    /// Runs to the end: every subscriber started, came up or failed, held and logged out, and
    /// every tunnel closed; or until a stop request and its drain. Fails only when the sockets
    /// cannot be opened or fail outright; per-subscriber failures are in the report.
    pub async fn run(self) -> Result<Report, LoadgenError> {
        let Self {
            options,
            stop_rx,
            progress,
            stop_tx,
        } = self;
        let header = ReportHeader {
            transport: options.transport.name(),
            peer: options.transport.peer(),
            subscribers: options.subscribers,
        };
        let population = PopulationConfig {
            setup_timeout: options.setup_timeout,
        };
        let factory = spec_factory(&options);
        let pacer = Pacer::new(
            clock::now(),
            options.subscribers,
            options.rate,
            options.concurrency,
        );
        let (stats, end) = match &options.transport {
            TransportOptions::L2tp(l2tp) => {
                let socket = UdpEndpoint::bind(&UdpConfig::new(l2tp.bind))?;
                let core = L2tpCore::new(L2tpCoreConfig {
                    server: l2tp.server,
                    local: socket.local_addr(),
                    tunnel: Arc::new(tunnel_config(l2tp)),
                    tunnel_slots: usize::try_from(options.tunnel_slots()).unwrap_or(usize::MAX),
                    population,
                });
                let mut driver = Driver::new(UdpTransport::new(socket), core, stop_rx);
                driver.pacer = Some((pacer, factory));
                driver.drain_timeout = options.drain_timeout;
                driver.drain_rate = options.rate;
                driver.progress = progress;
                let end = driver.run().await?;
                (driver.core.stats().clone(), end)
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
                driver.pacer = Some((pacer, factory));
                driver.drain_timeout = options.drain_timeout;
                driver.drain_rate = options.rate;
                driver.progress = progress;
                let end = driver.run().await?;
                (driver.core.stats().clone(), end)
            }
        };
        drop(stop_tx);
        Ok(stats.report(header, end.elapsed, end.interrupted))
    }
}

/// Runs `options` to the end; see [`Emulator::run`].
pub async fn run(options: LoadgenOptions) -> Result<Report, LoadgenError> {
    Emulator::new(options)?.run().await
}

/// Our side of every dial-in tunnel.
pub(crate) fn tunnel_config(l2tp: &super::options::L2tpOptions) -> TunnelConfig {
    TunnelConfig {
        host_name: l2tp.host_name.clone(),
        vendor_name: "l2tpagg loadgen".into(),
        receive_window: RECEIVE_WINDOW,
        secret: l2tp.secret.clone(),
        // A subscriber's own LAC (xl2tpd, a CPE) speaks plain RFC 2661: no vendor AVPs.
        capabilities: Capabilities::NONE,
        ..TunnelConfig::default()
    }
}

fn spec_factory(options: &LoadgenOptions) -> SpecFactory {
    let user = options.user.clone();
    let password = options.password.clone();
    let first = options.first;
    let auth = options.auth;
    let traffic = options.traffic;
    let hold = options.hold;
    Box::new(move |k| {
        let number = first + k;
        SubscriberSpec {
            number,
            name: user.expand(number),
            secret: password.expand(number).into_bytes(),
            auth,
            traffic,
            hold,
            tap: false,
        }
    })
}

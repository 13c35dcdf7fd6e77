//! The daemon's wiring: open the usage ledger, bind every socket the configuration names, create
//! the TUN device (or say in one line why not), bind the control socket, build the actor, spawn the
//! socket tasks, announce readiness to systemd, and turn signals into actor commands until a clean,
//! bounded shutdown.
//!
//! Owns: the process's tasks and their shutdown order. Must not touch: protocol decisions (the
//! actor's) or per-packet work (the socket tasks and the data plane).
//!
//! Shutdown order: SIGTERM → the actor sends CDN/StopCCN and waits (at most
//! `daemon.shutdown_grace`) for the StopCCNs to be acknowledged → the actor writes the final
//! stops and closes the ledger (everything written and synced) → the socket, TUN and ctl tasks
//! stop → the TUN device's routes are removed → exit.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::RuntimeError;
use super::clock::{self, Clock};
use super::ctl_server::CtlServer;
use super::logging::{DEFAULT_MAX_LINES, RateLimitedLog};
use super::packet_task::PppoeInterface;
use super::privileges::{probe_packet, probe_tun, unavailable_line};
use super::shutdown::ShutdownCoordinator;
use super::signals::{SignalEvent, Signals};
use super::systemd::SystemdNotifier;
use super::tun::{TunConfig, TunDevice};
use super::tun_task::run_tun_task;
use super::udp::{UdpConfig, UdpEndpoint};
use super::udp_task::UdpTask;
use crate::actor::{Actor, ActorHandle, ActorParts, Command, ExitReport, Role};
use crate::config::Config;
use crate::dataplane::counters::CoarseClock;
use crate::dataplane::sessions::{DatagramSink, Dataplane};
use crate::ledger::{Ledger, LedgerError, LedgerOptions, RecoveryReport, RecoveryScope};

/// How often the data plane's coarse clock is advanced.
const CLOCK_TICK: Duration = Duration::from_millis(10);
/// How long the socket and ctl tasks get to stop after the actor is done.
const TASK_DRAIN: Duration = Duration::from_secs(2);

fn bind_udp(
    config: &Config,
    addr: SocketAddr,
    device: Option<&str>,
) -> Result<Arc<UdpEndpoint>, RuntimeError> {
    let udp = UdpConfig {
        bind: addr,
        recv_buffer: usize::try_from(config.l2tp.socket_recv_buffer).unwrap_or(usize::MAX),
        send_buffer: usize::try_from(config.l2tp.socket_send_buffer).unwrap_or(usize::MAX),
        reuse_address: true,
        device: device.map(str::to_owned),
    };
    let socket = UdpEndpoint::bind(&udp)?;
    let sizes = socket.buffer_sizes();
    if sizes.capped() {
        tracing::warn!(
            socket = %socket.local_addr(),
            recv_requested = sizes.recv_requested, recv_granted = sizes.recv_achieved / 2,
            send_requested = sizes.send_requested, send_granted = sizes.send_achieved / 2,
            "UDP buffers capped by the kernel (raise net.core.rmem_max / wmem_max)"
        );
    }
    Ok(Arc::new(socket))
}

/// The UDP socket of one `lac.lines` entry, bound to the line's address and, when the line names
/// one, to its device (SO_BINDTODEVICE), so its tunnels leave on that uplink whatever the routing
/// table prefers. A device that cannot be applied (missing, or no privilege) is fatal: an operator
/// who named the uplink must not get another one silently.
fn bind_line(
    config: &Config,
    index: usize,
    line: &crate::config::Line,
) -> Result<Arc<UdpEndpoint>, RuntimeError> {
    let socket = bind_udp(
        config,
        SocketAddr::new(line.bind, 0),
        line.device.as_deref(),
    )
    .map_err(|e| match e {
        RuntimeError::Device { device, source, .. } => RuntimeError::LineDevice {
            key: format!("lac.lines[{index}].device"),
            line: line.name.to_string(),
            device,
            source,
        },
        other => other,
    })?;
    if let Some(device) = &line.device {
        tracing::info!(line = %line.name, device, socket = %socket.local_addr(), "line bound to its device");
    }
    Ok(socket)
}

/// The TUN device of the LNS, or the one line saying why there is none.
fn create_tun(config: &Config) -> Result<TunDevice, String> {
    if let Err(why) = probe_tun() {
        return Err(unavailable_line(
            "TUN",
            &why,
            "LNS IP forwarding (sessions still come up; their IP is dropped and counted)",
        ));
    }
    let lns = &config.lns;
    let routes = if lns.tun.manage_routes {
        crate::actor::lns_routes(config)
    } else {
        Vec::new()
    };
    let tun = TunConfig {
        name: lns.tun.name.clone(),
        mtu: Some(u32::from(lns.tun.mtu)),
        address: Some(lns.local_address),
        peer: None,
        prefix_len: Some(32),
        routes,
    };
    TunDevice::create(&tun).map_err(|e| {
        format!("TUN unavailable: {e}; running without LNS IP forwarding (sessions still come up; their IP is dropped and counted)")
    })
}

/// The AF_PACKET sockets of every `lac.pppoe.interfaces` entry. Without the privilege to open
/// them: one line saying why, and the daemon runs without PPPoE. An interface that cannot be
/// bound otherwise (it does not exist) is fatal, like a listen address that cannot be bound.
fn bind_pppoe(
    config: &Config,
    degraded: &mut Vec<String>,
) -> Result<Vec<PppoeInterface>, RuntimeError> {
    let p = &config.lac.pppoe;
    if !config.lac.enabled || !p.enabled() {
        return Ok(Vec::new());
    }
    if let Err(why) = probe_packet() {
        let line = unavailable_line("AF_PACKET", &why, "the PPPoE front-end");
        tracing::warn!(interfaces = ?p.interfaces, "{line}");
        degraded.push(line);
        return Ok(Vec::new());
    }
    p.interfaces
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let port = u16::try_from(i).map_err(|_| RuntimeError::Packet {
                interface: name.clone(),
                op: "index",
                source: std::io::Error::other("more than 65536 PPPoE interfaces"),
            })?;
            PppoeInterface::bind(port, name)
        })
        .collect()
}

/// The writer's options from `[billing.ledger]`.
fn ledger_options(config: &crate::config::LedgerConfig) -> LedgerOptions {
    LedgerOptions {
        max_segment_bytes: config.rotate_size,
        max_segment_age_ms: clock::millis(config.rotate_interval),
        max_pending_records: config.queue_bound as usize,
        // A crash can only tear the newest segment (the writer syncs a segment before starting
        // the next), and reading every segment of a year's ledger would hold the start for
        // minutes. `l2tpagg billing` still reports damage anywhere when it reads.
        recovery: RecoveryScope::Newest,
        fsync: config.fsync,
        ..LedgerOptions::default()
    }
}

/// Opens the usage ledger under the first state directory the daemon can create, in the order
/// `l2tpagg billing` looks for it (`config::billing_map::ledger_dir_candidates`), recovers it,
/// and logs what recovery found (at error level when it set damage aside). A ledger that cannot
/// be opened (locked by another daemon, unwritable) stops the start: running without one would
/// lose every session's usage.
fn open_ledger(config: &Config) -> Result<Ledger, RuntimeError> {
    use std::os::unix::fs::DirBuilderExt as _;
    let euid = std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m))
        .unwrap_or(u32::MAX);
    let env = |k: &str| std::env::var_os(k);
    let candidates = crate::config::billing_map::ledger_dir_candidates(config, &env, euid);
    let mut last = None;
    for dir in &candidates {
        // Usage records are the subscribers' business: the ledger directory is not
        // world-readable (its parents, shared with the control socket, keep the default mode).
        let made = match dir.parent() {
            Some(parent) => std::fs::create_dir_all(parent),
            None => Ok(()),
        }
        .and_then(|()| {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o750)
                .create(dir)
        });
        if let Err(e) = made {
            tracing::debug!(dir = %dir.display(), error = %e, "ledger directory candidate refused");
            last = Some(LedgerError::Io {
                path: dir.clone(),
                source: e,
            });
            continue;
        }
        let (ledger, report) = Ledger::open(dir, ledger_options(&config.billing.ledger))?;
        log_recovery(dir, &report);
        return Ok(ledger);
    }
    Err(RuntimeError::Ledger(last.unwrap_or_else(|| {
        LedgerError::Io {
            path: PathBuf::new(),
            source: std::io::Error::other("no ledger directory candidate"),
        }
    })))
}

fn log_recovery(dir: &Path, report: &RecoveryReport) {
    for q in &report.quarantined {
        tracing::error!(
            segment = %q.segment.display(), offset = q.offset, bytes = q.bytes,
            damage = %q.damage, quarantine_file = %q.quarantine_file.display(),
            "ledger recovery found damage and set it aside; every record before it is kept"
        );
    }
    for f in &report.removed_empty {
        tracing::warn!(segment = %f.display(), "ledger recovery removed an empty segment file");
    }
    if report.records_undecodable > 0 {
        tracing::warn!(
            records = report.records_undecodable,
            "ledger holds records this build cannot decode (written by a newer l2tpagg?); kept"
        );
    }
    tracing::info!(
        dir = %dir.display(), segments = report.segments,
        segments_verified = report.segments_verified, records_verified = report.records_verified,
        last_lsn = report.last_lsn, damage = report.quarantined.len(),
        clean = report.is_clean(), "ledger opened"
    );
}

fn bind_ctl(config: &Config) -> Result<CtlServer, RuntimeError> {
    // The owner of /proc/self is the effective UID (proc(5)); it spares an unsafe geteuid().
    let euid = std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m))
        .unwrap_or(u32::MAX);
    let env = |k: &str| std::env::var_os(k);
    let candidates = config.daemon.ctl_socket_candidates(&env, euid);
    let mut last = None;
    for path in &candidates {
        match CtlServer::bind(path) {
            Ok(server) => return Ok(server),
            Err(e) => {
                tracing::debug!(path = %path.display(), error = %e, "control socket candidate refused");
                last = Some(e);
            }
        }
    }
    Err(last.unwrap_or_else(|| RuntimeError::CtlSocket {
        path: PathBuf::new(),
        op: "choose a path",
        source: std::io::Error::other("no candidate path"),
    }))
}

/// Runs the daemon with `config` until SIGTERM/SIGINT (or until the actor stops). `config_path`
/// is what SIGHUP re-reads (`None`: the embedded default). Must run inside a multi-thread tokio
/// runtime.
pub async fn run_daemon(
    config: Config,
    config_path: Option<PathBuf>,
) -> Result<ExitReport, RuntimeError> {
    let config = Arc::new(config);
    let clock = Clock::system();
    let coarse = Arc::new(CoarseClock::new(clock::now()));
    let dataplane = Arc::new(Dataplane::new(coarse.clone()));
    let rate_log = Arc::new(RateLimitedLog::new(
        DEFAULT_MAX_LINES,
        config.daemon.malformed_log_interval,
    ));
    let mut signals = Signals::install()?;
    let shutdown = ShutdownCoordinator::new();
    let ledger = open_ledger(&config)?;

    // Sockets first: a configured address that cannot be bound is fatal, and READY=1 waits for it.
    let mut lns_sockets = Vec::new();
    if config.lns.enabled {
        for addr in &config.lns.listen {
            lns_sockets.push(bind_udp(&config, *addr, None)?);
        }
    }
    let mut dialin_sockets = Vec::new();
    let mut line_sockets = Vec::new();
    if config.lac.enabled {
        if config.lac.dialin.enabled {
            for addr in &config.lac.dialin.listen {
                dialin_sockets.push(bind_udp(&config, *addr, None)?);
            }
        }
        for (index, line) in config.lac.lines.iter().enumerate() {
            let socket = bind_line(&config, index, line)?;
            line_sockets.push((line.id, socket));
        }
    }

    let mut degraded = Vec::new();
    let tun = if config.lns.enabled {
        match create_tun(&config) {
            Ok(tun) => {
                tracing::info!(
                    device = tun.name(),
                    routes = tun.routes().len(),
                    "TUN device up"
                );
                let tun = Arc::new(tun);
                dataplane.set_tun(tun.clone());
                Some(tun)
            }
            Err(line) => {
                tracing::warn!("{line}");
                degraded.push(line);
                None
            }
        }
    } else {
        None
    };

    let pppoe = bind_pppoe(&config, &mut degraded)?;

    let ctl = bind_ctl(&config)?;
    tracing::info!(path = %ctl.path().display(), "control socket ready");

    let as_sinks = |v: &[Arc<UdpEndpoint>]| -> Vec<Arc<dyn DatagramSink>> {
        v.iter()
            .map(|s| s.clone() as Arc<dyn DatagramSink>)
            .collect()
    };
    let (actor, handle, rx) = Actor::new(ActorParts {
        config: config.clone(),
        config_path: config_path.clone(),
        dataplane: dataplane.clone(),
        lns_sockets: as_sinks(&lns_sockets),
        dialin_sockets: as_sinks(&dialin_sockets),
        line_sockets: line_sockets
            .iter()
            .map(|(id, s)| (*id, s.clone() as Arc<dyn DatagramSink>))
            .collect(),
        pppoe: pppoe.iter().map(PppoeInterface::parts).collect(),
        rate_log: rate_log.clone(),
        degraded,
        clock,
        routes: tun
            .as_ref()
            .filter(|_| config.lns.tun.manage_routes)
            .map(|t| t.clone() as Arc<dyn crate::actor::RouteTable>),
        ledger: Some(ledger),
    });

    let spawn_udp = |socket: &Arc<UdpEndpoint>, role: Role| {
        let task = UdpTask {
            socket: socket.clone(),
            role,
            dataplane: dataplane.clone(),
            actor: handle.clone(),
            rate_log: rate_log.clone(),
        };
        tokio::spawn(task.run(shutdown.listener()));
    };
    for s in &lns_sockets {
        spawn_udp(s, Role::Lns);
    }
    for s in &dialin_sockets {
        spawn_udp(s, Role::Dialin);
    }
    for (_, s) in &line_sockets {
        spawn_udp(s, Role::Lac);
    }
    for interface in &pppoe {
        interface.spawn(
            dataplane.clone(),
            handle.clone(),
            rate_log.clone(),
            config.lac.pppoe.unknown_session_padt_per_second,
            || shutdown.listener(),
        );
    }
    if let Some(tun) = &tun {
        tokio::spawn(run_tun_task(
            tun.clone(),
            dataplane.clone(),
            rate_log.clone(),
            shutdown.listener(),
        ));
    }
    {
        let mut listener = shutdown.listener();
        let coarse = coarse.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(CLOCK_TICK);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                tokio::select! {
                    _ = tick.tick() => coarse.tick(clock::now()),
                    () = listener.recv() => return,
                }
            }
        });
    }
    tokio::spawn(rate_log.clone().run_flusher(shutdown.listener()));
    tokio::spawn(ctl.serve(Arc::new(handle.clone()), shutdown.listener()));
    let mut actor_task = tokio::spawn(actor.run(rx));

    let notifier = SystemdNotifier::from_env().unwrap_or_else(|e| {
        tracing::warn!(error = %e, "cannot reach systemd's notification socket");
        SystemdNotifier::disabled()
    });
    if config.daemon.watchdog
        && let Some(interval) = notifier.watchdog_interval()
    {
        spawn_watchdog(handle.clone(), interval, shutdown.listener());
    }
    let _ = notifier.ready();
    let roles: Vec<&str> = [
        (config.lns.enabled, "lns"),
        (config.lac.enabled, "lac"),
        (config.lac.enabled && config.lac.dialin.enabled, "dialin"),
        (!pppoe.is_empty(), "pppoe"),
    ]
    .iter()
    .filter(|(on, _)| *on)
    .map(|(_, r)| *r)
    .collect();
    let _ = notifier.status(&format!("running: {}", roles.join(", ")));
    tracing::info!(
        roles = %roles.join(","),
        lns_listen = ?lns_sockets.iter().map(|s| s.local_addr()).collect::<Vec<_>>(),
        dialin_listen = ?dialin_sockets.iter().map(|s| s.local_addr()).collect::<Vec<_>>(),
        lines = ?line_sockets.iter().map(|(_, s)| s.local_addr()).collect::<Vec<_>>(),
        pppoe_interfaces = ?pppoe.iter().map(PppoeInterface::name).collect::<Vec<_>>(),
        config = %config_path.as_ref().map_or_else(|| "embedded default".to_owned(), |p| p.display().to_string()),
        "l2tpagg running"
    );

    let grace = config.daemon.shutdown_grace;
    let report = loop {
        tokio::select! {
            event = signals.recv() => match event {
                SignalEvent::Reload => {
                    let _ = notifier.reloading();
                    let _ = handle.send(Command::Reload).await;
                    let _ = notifier.ready();
                }
                SignalEvent::Shutdown { signal } => {
                    tracing::info!(signal, "shutdown requested");
                    let _ = notifier.stopping();
                    let _ = handle.send(Command::Shutdown).await;
                    // The actor bounds its own drain by the grace; this bounds a wedged actor.
                    match tokio::time::timeout(grace + TASK_DRAIN, &mut actor_task).await {
                        Ok(Ok(report)) => break report,
                        Ok(Err(e)) => {
                            tracing::error!(error = %e, "the actor task failed");
                            break ExitReport::Abandoned;
                        }
                        Err(_) => {
                            tracing::error!("the actor did not stop within the shutdown grace");
                            actor_task.abort();
                            break ExitReport::GraceExpired { tunnels: 0 };
                        }
                    }
                }
            },
            joined = &mut actor_task => {
                match joined {
                    Ok(report) => break report,
                    Err(e) => {
                        tracing::error!(error = %e, "the actor task failed");
                        break ExitReport::Abandoned;
                    }
                }
            }
        }
    };
    drop(handle);
    shutdown.trigger();
    let _ = shutdown.shutdown(TASK_DRAIN).await;
    if let Some(tun) = tun
        && let Ok(tun) = Arc::try_unwrap(tun)
        && let Err(e) = tun.close()
    {
        tracing::warn!(error = %e, "TUN teardown incomplete");
    }
    match report {
        ExitReport::Clean => tracing::info!("stopped: every tunnel closed cleanly"),
        ExitReport::GraceExpired { tunnels } => tracing::warn!(
            tunnels,
            "stopped: shutdown grace expired before every StopCCN was acknowledged"
        ),
        ExitReport::Abandoned => tracing::warn!("stopped"),
    }
    Ok(report)
}

fn spawn_watchdog(
    handle: ActorHandle,
    interval: Duration,
    mut shutdown: super::shutdown::ShutdownListener,
) {
    tokio::spawn(async move {
        let notifier = match SystemdNotifier::from_env() {
            Ok(n) => n,
            Err(_) => return,
        };
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    // Ping systemd only when the actor's loop answers: a wedged actor gets the
                    // service restarted.
                    if handle.ping(interval).await {
                        if let Err(e) = notifier.watchdog_ping() {
                            tracing::warn!(error = %e, "systemd watchdog ping failed");
                        }
                    } else {
                        tracing::error!("the actor did not answer; withholding the watchdog ping");
                    }
                }
                () = shutdown.recv() => return,
            }
        }
    });
}

//! sd-notify for `Type=notify` services: READY=1 once sockets are bound, STATUS= lines, RELOADING=1
//! and STOPPING=1, and WATCHDOG=1 pings at half of `WATCHDOG_USEC`. Every call is a no-op when the
//! daemon does not run under systemd (no `NOTIFY_SOCKET`).
//!
//! Owns: the notification socket. Must not touch: when the daemon is ready (the caller decides).
//!
//! The protocol is one datagram of `KEY=VALUE` lines to the `AF_UNIX` socket named by
//! `NOTIFY_SOCKET` (a path, or `@name` in the abstract namespace); see sd_notify(3). The socket is
//! connected once at start-up so later notifications cannot fail on a changed environment.

use std::io;
use std::os::unix::net::UnixDatagram;
use std::time::Duration;

use super::shutdown::ShutdownListener;

/// Sends service-state notifications to systemd.
#[derive(Debug)]
pub struct SystemdNotifier {
    socket: Option<UnixDatagram>,
    watchdog: Option<Duration>,
}

impl SystemdNotifier {
    /// Reads `NOTIFY_SOCKET` and `WATCHDOG_USEC`/`WATCHDOG_PID` from the environment. A missing
    /// socket gives a disabled notifier; a socket that cannot be reached is an error (the unit
    /// would otherwise time out waiting for READY=1 with no hint why).
    pub fn from_env() -> io::Result<Self> {
        let watchdog = sd_notify::watchdog_enabled();
        match std::env::var_os("NOTIFY_SOCKET") {
            Some(path) => Self::with_socket(&path.to_string_lossy(), watchdog),
            None => Ok(Self::disabled()),
        }
    }

    /// A notifier for an explicit socket (a path, or `@name` for the abstract namespace) and
    /// watchdog timeout. Tests and embedders use it instead of the environment.
    pub fn with_socket(path: &str, watchdog: Option<Duration>) -> io::Result<Self> {
        let socket = UnixDatagram::unbound()?;
        if let Some(name) = path.strip_prefix('@') {
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
            socket.connect_addr(&addr)?;
        } else {
            socket.connect(path)?;
        }
        socket.set_nonblocking(true)?;
        Ok(Self {
            socket: Some(socket),
            watchdog: watchdog.filter(|d| !d.is_zero()),
        })
    }

    /// A notifier that sends nothing.
    pub fn disabled() -> Self {
        Self {
            socket: None,
            watchdog: None,
        }
    }

    /// Whether notifications go anywhere.
    pub fn is_enabled(&self) -> bool {
        self.socket.is_some()
    }

    /// The interval between watchdog pings: half the watchdog timeout, as sd_watchdog_enabled(3)
    /// recommends. `None` when the unit has no watchdog.
    pub fn watchdog_interval(&self) -> Option<Duration> {
        self.watchdog
            .filter(|_| self.socket.is_some())
            .map(|d| d / 2)
    }

    /// READY=1: startup finished, sockets bound.
    pub fn ready(&self) -> io::Result<()> {
        self.send("READY=1\n")
    }

    /// STATUS=…: a one-line status shown by `systemctl status`. Newlines become spaces.
    pub fn status(&self, status: &str) -> io::Result<()> {
        let line: String = status
            .chars()
            .map(|c| if c == '\n' || c == '\r' { ' ' } else { c })
            .collect();
        self.send(&format!("STATUS={line}\n"))
    }

    /// RELOADING=1: a configuration reload started; call [`Self::ready`] when it is done.
    pub fn reloading(&self) -> io::Result<()> {
        // MONOTONIC_USEC lets systemd pair the reload with this message (required for
        // Type=notify-reload, harmless for Type=notify).
        let usec = sd_notify::NotifyState::monotonic_usec_now()
            .map(|s| s.to_string())
            .unwrap_or_default();
        if usec.is_empty() {
            self.send("RELOADING=1\n")
        } else {
            self.send(&format!("RELOADING=1\n{usec}\n"))
        }
    }

    /// STOPPING=1: shutdown started.
    pub fn stopping(&self) -> io::Result<()> {
        self.send("STOPPING=1\n")
    }

    /// WATCHDOG=1: the daemon is alive.
    pub fn watchdog_ping(&self) -> io::Result<()> {
        self.send("WATCHDOG=1\n")
    }

    /// Pings the watchdog every [`Self::watchdog_interval`] until shutdown; returns at once when no
    /// watchdog is configured. Run it on the task whose liveness matters (the actor's runtime), so
    /// a wedged runtime stops the pings and systemd restarts the service.
    pub async fn run_watchdog(&self, mut shutdown: ShutdownListener) {
        let Some(interval) = self.watchdog_interval() else {
            return;
        };
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {
                    if let Err(e) = self.watchdog_ping() {
                        tracing::warn!(error = %e, "systemd watchdog ping failed");
                    }
                }
                _ = shutdown.recv() => return,
            }
        }
    }

    fn send(&self, message: &str) -> io::Result<()> {
        match &self.socket {
            Some(socket) => socket.send(message.as_bytes()).map(drop),
            None => Ok(()),
        }
    }
}

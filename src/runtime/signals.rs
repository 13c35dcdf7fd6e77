//! Process signals as daemon events: SIGHUP asks for a config reload, SIGTERM and SIGINT ask for a
//! clean shutdown.
//!
//! Owns: the tokio signal handlers. Must not touch: what a reload or a shutdown does (the daemon
//! decides; reload re-reads the config and keeps every session, shutdown drains).

use tokio::signal::unix::{Signal, SignalKind, signal};

use super::RuntimeError;

/// What a signal asks the daemon to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignalEvent {
    /// SIGHUP (systemd's `ExecReload=kill -HUP`): re-read the configuration.
    Reload,
    /// SIGTERM (systemd stop) or SIGINT (Ctrl-C): shut down cleanly.
    Shutdown {
        /// "SIGTERM" or "SIGINT", for the log line.
        signal: &'static str,
    },
}

/// The daemon's signal handlers. Installing them replaces the default actions (terminate), so
/// install them before announcing readiness.
#[derive(Debug)]
pub struct Signals {
    hangup: Signal,
    terminate: Signal,
    interrupt: Signal,
}

impl Signals {
    /// Installs handlers for SIGHUP, SIGTERM and SIGINT. Must run inside a tokio runtime.
    pub fn install() -> Result<Self, RuntimeError> {
        Ok(Self {
            hangup: signal(SignalKind::hangup()).map_err(RuntimeError::Signals)?,
            terminate: signal(SignalKind::terminate()).map_err(RuntimeError::Signals)?,
            interrupt: signal(SignalKind::interrupt()).map_err(RuntimeError::Signals)?,
        })
    }

    /// Waits for the next signal. Several identical signals arriving before a call coalesce into one
    /// event, which is what both reload and shutdown want. Cancel-safe.
    pub async fn recv(&mut self) -> SignalEvent {
        loop {
            tokio::select! {
                Some(()) = self.hangup.recv() => return SignalEvent::Reload,
                Some(()) = self.terminate.recv() => return SignalEvent::Shutdown { signal: "SIGTERM" },
                Some(()) = self.interrupt.recv() => return SignalEvent::Shutdown { signal: "SIGINT" },
                // All three streams ended: cannot happen while the runtime lives; wait forever
                // rather than spin.
                else => std::future::pending::<()>().await,
            }
        }
    }
}

//! The TOML configuration: file syntax, validation, and the typed [`Config`] every other module
//! reads.
//!
//! Owns: parsing config files (the main file and the subscribers file it may name), checking
//! every value, name and reference, and reporting every problem as
//! `FILE:LINE:COL: key.path: what is wrong`. Must not touch: sockets, devices, the clock, or any
//! file other than the two it reads. Paths it returns (state directory, control socket) are
//! candidates; the runtime creates them.
//!
//! # Using it
//! - [`load_file`] / [`load_str`] return a [`Config`] or [`ConfigErrors`] (all of them, in file
//!   order, with warnings alongside). [`EMBEDDED_DEFAULT`] is `config/l2tpagg.toml`, compiled in:
//!   `l2tpagg run` without `--config` loads it with [`embedded_default`].
//! - A `Config` is immutable; share it as `Arc<Config>` (the subscriber table inside is already
//!   behind an `Arc`). On reload, [`Config::diff`] says which sections changed and which
//!   subscribers' settings (conditions, service level, address, contract, secret) changed.
//!
//! # Schema
//! The documented example, config/l2tpagg.toml, explains every key. In short:
//!
//! | table                     | typed as                     | what                                   |
//! |---------------------------|------------------------------|----------------------------------------|
//! | `[daemon]`                | [`DaemonConfig`]             | state dir, ctl socket, logs, shutdown  |
//! | `[l2tp]`                  | [`L2tpConfig`]               | control channel timers, window, vendor |
//! | `[ppp]`                   | [`PppConfig`]                | auth order, MRU, LCP timers            |
//! | `[lns]`                   | [`LnsConfig`]                | listen, allowed LACs, limits, TUN, pools, resume |
//! | `[lac]`                   | [`LacConfig`]                | lines, LNS peers, PPPoE, L2TP dial-in  |
//! | `[planner]`               | [`PlannerConfig`]            | consolidation, service-level monitor   |
//! | `[disconnect]`            | [`DisconnectConfig`]         | services, server lists, profiles (A-F) |
//! | `[subscribers]`, `[[subscriber]]`, `[[subscriber_range]]` | [`SubscriberTable`] | logins, contracts |
//! | `[billing]`               | [`BillingConfig`]            | currency, tariffs, plans, ledger       |
//!
//! Value syntaxes (durations `"30s"`, bandwidths `"100M"` or integer bit/s, byte sizes
//! `"64MiB"`, money in integer minor units) are described in [`units`].

pub mod billing_map;
mod diff;
pub(crate) mod document;
pub mod error;
pub mod model;
pub mod schema;
pub mod secret;
pub mod subscribers;
pub mod units;
mod validate;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use diff::{ConfigDiff, Section, SubscriberChange, SubscriberDiff, SubscriberStatus};
pub use error::{ConfigError, ConfigErrors, ConfigWarning, Diagnostic};
pub use model::*;
pub use schema::{
    AuthMethod, ConsolidationBasis, DaemonConfig, Direction, L2tpConfig, LedgerConfig, LogFormat,
    LoginPolicy, MeterUnit, PathSetting, PlannerConfig, PppConfig, Protocol, ResumeConfig,
    ServiceLevelConfig, TimeUnit, TunConfig, Victim, VolumeUnit,
};
pub use secret::{Secret, SecretBytes, TunnelSecret, hash_password};
pub use subscribers::{
    AddressAssignment, Contract, Subscriber, SubscriberRange, SubscriberRef, SubscriberSettings,
    SubscriberSource, SubscriberTable, realm_of,
};

/// The documented example configuration, compiled in; `l2tpagg run` uses it without `--config`.
pub const EMBEDDED_DEFAULT: &str = include_str!("../../config/l2tpagg.toml");

/// The name diagnostics give the embedded default.
pub const EMBEDDED_DEFAULT_ORIGIN: &str = "<embedded>/config/l2tpagg.toml";

/// The whole validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The main file as named by the operator (or [`EMBEDDED_DEFAULT_ORIGIN`]).
    pub origin: Arc<str>,
    /// The subscribers file, when the main file names one (resolved against the main file's
    /// directory).
    pub subscribers_file: Option<PathBuf>,
    /// `[daemon]`.
    pub daemon: DaemonConfig,
    /// `[l2tp]`.
    pub l2tp: L2tpConfig,
    /// `[ppp]`.
    pub ppp: PppConfig,
    /// `[lns]`.
    pub lns: LnsConfig,
    /// `[lac]`.
    pub lac: LacConfig,
    /// `[planner]`.
    pub planner: PlannerConfig,
    /// `[disconnect]`.
    pub disconnect: DisconnectConfig,
    /// Subscribers from both files, shared so that clones stay cheap.
    pub subscribers: Arc<SubscriberTable>,
    /// `[billing]`.
    pub billing: BillingConfig,
    /// Settings that work but are probably not what the operator wants; log them at start.
    pub warnings: Vec<ConfigWarning>,
}

/// Loads and validates a configuration file (and the subscribers file it names). Relative paths
/// inside are resolved against the file's directory.
pub fn load_file(path: &Path) -> Result<Config, ConfigErrors> {
    let origin: Arc<str> = path.display().to_string().into();
    let text = std::fs::read_to_string(path).map_err(|e| ConfigErrors {
        errors: vec![Diagnostic {
            file: origin.clone(),
            position: None,
            key: String::new(),
            message: format!("cannot read configuration file: {e}"),
        }],
        warnings: Vec::new(),
    })?;
    let base = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    validate::load(origin, &text, Some(&base))
}

/// Loads and validates configuration text. `origin` names it in diagnostics. Relative paths
/// inside (the subscribers file, state directory, control socket) stay relative to the working
/// directory.
pub fn load_str(origin: &str, text: &str) -> Result<Config, ConfigErrors> {
    validate::load(origin.into(), text, None)
}

/// The embedded default, loaded. It is tested to load without errors, so this cannot fail in a
/// released binary.
pub fn embedded_default() -> Config {
    load_str(EMBEDDED_DEFAULT_ORIGIN, EMBEDDED_DEFAULT)
        .unwrap_or_else(|e| panic!("the embedded default configuration is invalid:\n{e}"))
}

impl Config {
    /// What changed from `self` (the running configuration) to `new`; see [`ConfigDiff`].
    pub fn diff(&self, new: &Config) -> ConfigDiff {
        diff::diff(self, new)
    }

    /// How one subscriber's settings changed from `self` to `new` (works for range members too).
    pub fn subscriber_status(&self, new: &Config, name: &str) -> SubscriberStatus {
        diff::subscriber_status_in(self, new, name)
    }
}

/// Reads an environment variable; the runtime passes `std::env::var_os`, tests pass a map.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<OsString>;

impl DaemonConfig {
    /// State directories to try, in order: the configured one, or for `"auto"`:
    /// 1. `$STATE_DIRECTORY` (set by systemd's `StateDirectory=l2tpagg`, i.e. /var/lib/l2tpagg);
    /// 2. `/var/lib/l2tpagg` when running as root;
    /// 3. `$XDG_STATE_HOME/l2tpagg`, else `$HOME/.local/state/l2tpagg`;
    /// 4. `/tmp/l2tpagg-UID/state` (last resort: works for anyone, survives no reboot).
    ///
    /// The runtime uses the first it can create and write to, and logs which.
    pub fn state_dir_candidates(&self, env: EnvLookup<'_>, euid: u32) -> Vec<PathBuf> {
        match &self.state_dir {
            PathSetting::Path(p) => vec![p.clone()],
            PathSetting::Auto => {
                let mut v = Vec::new();
                if let Some(d) = env_path(env, "STATE_DIRECTORY") {
                    v.push(d);
                }
                if euid == 0 {
                    v.push(PathBuf::from("/var/lib/l2tpagg"));
                }
                match env_path(env, "XDG_STATE_HOME") {
                    Some(x) => v.push(x.join("l2tpagg")),
                    None => {
                        if let Some(h) = env_path(env, "HOME") {
                            v.push(h.join(".local/state/l2tpagg"));
                        }
                    }
                }
                v.push(PathBuf::from(format!("/tmp/l2tpagg-{euid}/state")));
                v
            }
        }
    }

    /// Control-socket paths to try, in order: the configured one, or for `"auto"`
    /// ([`default_ctl_socket_candidates`]). The daemon binds the first whose directory it can
    /// create; `l2tpagg ctl` without `--socket` connects to the first that exists.
    pub fn ctl_socket_candidates(&self, env: EnvLookup<'_>, euid: u32) -> Vec<PathBuf> {
        match &self.ctl_socket {
            PathSetting::Path(p) => vec![p.clone()],
            PathSetting::Auto => default_ctl_socket_candidates(env, euid),
        }
    }
}

/// The `"auto"` control-socket candidates:
/// 1. `$RUNTIME_DIRECTORY/ctl.sock` (systemd's `RuntimeDirectory=l2tpagg`, i.e. /run/l2tpagg);
/// 2. `/run/l2tpagg/ctl.sock` when running as root;
/// 3. `$XDG_RUNTIME_DIR/l2tpagg/ctl.sock` (a desktop or ssh session);
/// 4. `/tmp/l2tpagg-UID/ctl.sock`.
pub fn default_ctl_socket_candidates(env: EnvLookup<'_>, euid: u32) -> Vec<PathBuf> {
    let mut v = Vec::new();
    if let Some(d) = env_path(env, "RUNTIME_DIRECTORY") {
        v.push(d.join("ctl.sock"));
    }
    if euid == 0 {
        v.push(PathBuf::from("/run/l2tpagg/ctl.sock"));
    }
    if let Some(x) = env_path(env, "XDG_RUNTIME_DIR") {
        v.push(x.join("l2tpagg/ctl.sock"));
    }
    v.push(PathBuf::from(format!("/tmp/l2tpagg-{euid}/ctl.sock")));
    v
}

/// An absolute path from an environment variable (systemd may list several, colon-separated:
/// the first is ours).
fn env_path(env: EnvLookup<'_>, key: &str) -> Option<PathBuf> {
    let v = env(key)?;
    let first = v.to_str().map_or_else(
        || PathBuf::from(&v),
        |s| PathBuf::from(s.split(':').next().unwrap_or("")),
    );
    first.is_absolute().then_some(first)
}

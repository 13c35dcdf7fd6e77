//! One function per `l2tpagg` subcommand, with its argument struct; `main.rs` parses the command
//! line with clap and calls exactly one of these, exiting with the code it returns.
//!
//! Owns: the argument structs of `run`, `check`, `loadgen` and `billing`, and their entry points.
//! Must not touch: parsing of the top-level CLI (main.rs) or the `ctl` subcommand (`crate::ctl::run`).
//!
//! `loadgen` and `billing` are not wired yet: the load generator and the ledger land in other
//! branches, and the integrator fills these bodies. Until then each prints "not wired yet" to
//! stderr and returns [`EXIT_NOT_WIRED`] rather than pretending to succeed.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;

use super::logging::LogFormat;

/// Exit status of a subcommand that is not wired to its implementation yet (same as a usage
/// error: the command cannot be carried out as asked).
pub const EXIT_NOT_WIRED: i32 = 2;

/// `l2tpagg run`: the daemon in the foreground.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct RunArgs {
    /// Configuration file (TOML). Without it the embedded default runs: an LNS on 127.0.0.1:1701
    /// and a LAC in the same process, for a first look.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Log format on stderr. Default: journald when started by systemd, text otherwise.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub log_format: Option<LogFormat>,
}

/// `l2tpagg check`: validate a configuration file and exit.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct CheckArgs {
    /// Configuration file to validate; every error is printed as FILE:LINE:COL: key: what is wrong.
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
}

/// Authentication the emulated subscribers use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LoadgenAuth {
    /// PAP (RFC 1334).
    Pap,
    /// CHAP with MD5 (RFC 1994).
    Chap,
}

/// `l2tpagg loadgen`: emulate subscribers against a running daemon (issue 5).
#[derive(Debug, Clone, PartialEq, clap::Args)]
pub struct LoadgenArgs {
    /// Dial in over L2TP to this address (the daemon's L2TP dial-in front-end).
    #[arg(
        long,
        value_name = "ADDR",
        conflicts_with = "pppoe",
        default_value = "127.0.0.1:1702"
    )]
    pub l2tp: SocketAddr,
    /// Emulate PPPoE subscribers on this interface instead (e.g. one end of a veth pair).
    #[arg(long, value_name = "IFACE")]
    pub pppoe: Option<String>,
    /// How many subscribers to bring up.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub subscribers: u32,
    /// Logins started per second.
    #[arg(long, value_name = "PER_SECOND", default_value_t = 1000.0)]
    pub rate: f64,
    /// Logins in progress at once.
    #[arg(long, value_name = "N", default_value_t = 256)]
    pub concurrency: u32,
    /// Seconds each subscriber stays logged in (0: until interrupted).
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    pub hold: u64,
    /// Data packets per second each subscriber sends once up (0: no traffic).
    #[arg(long, value_name = "PER_SECOND", default_value_t = 1.0)]
    pub traffic_rate: f64,
    /// Size of each data packet's IP payload in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 512)]
    pub packet_size: u16,
    /// Where the subscribers' traffic goes (an address behind the LNS).
    #[arg(long, value_name = "ADDR")]
    pub target: Option<IpAddr>,
    /// User name pattern; `{n}` is replaced by the subscriber number.
    #[arg(long, value_name = "PATTERN", default_value = "demo{n}@loadgen")]
    pub user: String,
    /// Password of every emulated subscriber.
    #[arg(long, value_name = "SECRET", default_value = "demo")]
    pub password: String,
    /// Authentication protocol.
    #[arg(long, value_enum, default_value = "chap")]
    pub auth: LoadgenAuth,
    /// Print the final summary as JSON.
    #[arg(long)]
    pub json: bool,
}

/// A billing period: one calendar month, `YYYY-MM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BillingPeriod {
    /// Year, 1970 to 9999.
    pub year: u16,
    /// Month, 1 to 12.
    pub month: u8,
}

impl FromStr for BillingPeriod {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("{s:?} is not a month as YYYY-MM");
        let (y, m) = s.split_once('-').ok_or_else(bad)?;
        if y.len() != 4 || m.len() != 2 {
            return Err(bad());
        }
        let year: u16 = y.parse().map_err(|_| bad())?;
        let month: u8 = m.parse().map_err(|_| bad())?;
        if !(1970..=9999).contains(&year) || !(1..=12).contains(&month) {
            return Err(bad());
        }
        Ok(Self { year, month })
    }
}

impl fmt::Display for BillingPeriod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

/// `l2tpagg billing <invoice|usage>`.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct BillingArgs {
    /// Configuration file naming the state directory and tariffs (default: the embedded default).
    #[arg(long, value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
    /// What to compute.
    #[command(subcommand)]
    pub command: BillingCommand,
}

/// Billing subcommands.
#[derive(Debug, Clone, PartialEq, Eq, clap::Subcommand)]
pub enum BillingCommand {
    /// Invoices per paying account for one month, from the ledger and the tariffs alone.
    Invoice {
        /// The month, YYYY-MM.
        #[arg(long, value_name = "YYYY-MM")]
        period: BillingPeriod,
        /// Print JSON.
        #[arg(long, conflicts_with = "csv")]
        json: bool,
        /// Print CSV.
        #[arg(long)]
        csv: bool,
    },
    /// One subscriber's usage records.
    Usage {
        /// Subscriber user name.
        #[arg(long, value_name = "USER")]
        subscriber: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

fn not_wired(what: &str) -> i32 {
    eprintln!(
        "l2tpagg {what}: not wired yet: this build has the command line but not the implementation \
         (the integration branch connects it); nothing was done"
    );
    EXIT_NOT_WIRED
}

/// `l2tpagg run`. Returns the process exit code: 0 after a clean shutdown, 1 when the
/// configuration is invalid or the daemon cannot start (a socket, the control socket).
pub fn run(args: RunArgs) -> i32 {
    let (config, path) = match &args.config {
        Some(path) => match crate::config::load_file(path) {
            Ok(c) => (c, Some(path.clone())),
            Err(errors) => {
                for warning in &errors.warnings {
                    eprintln!("warning: {warning}");
                }
                eprintln!("{errors}");
                return 1;
            }
        },
        None => (crate::config::embedded_default(), None),
    };
    // --log-format wins; otherwise journald under systemd, else the file's format.
    let format = args.log_format.or_else(|| {
        (!super::logging::stderr_is_journal()).then_some(match config.daemon.log_format {
            crate::config::LogFormat::Text => LogFormat::Text,
            crate::config::LogFormat::Json => LogFormat::Json,
        })
    });
    if let Err(e) = super::logging::init(format, &config.daemon.log_level) {
        eprintln!("l2tpagg run: {e}");
        return 1;
    }
    for warning in &config.warnings {
        tracing::warn!("{warning}");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("l2tpagg")
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the async runtime");
            return 1;
        }
    };
    match runtime.block_on(super::daemon::run_daemon(config, path)) {
        Ok(_) => 0,
        Err(e) => {
            tracing::error!("cannot start: {e}");
            1
        }
    }
}

/// `l2tpagg check`. Returns the process exit code.
pub fn check(args: CheckArgs) -> i32 {
    match crate::config::load_file(&args.config) {
        Ok(config) => {
            for warning in &config.warnings {
                eprintln!("warning: {warning}");
            }
            println!("{}: ok", args.config.display());
            0
        }
        Err(errors) => {
            for warning in &errors.warnings {
                eprintln!("warning: {warning}");
            }
            eprintln!("{errors}");
            1
        }
    }
}

/// `l2tpagg loadgen`. Returns the process exit code.
pub fn loadgen(args: LoadgenArgs) -> i32 {
    let _ = args;
    not_wired("loadgen")
}

/// `l2tpagg billing`. Returns the process exit code.
pub fn billing(args: BillingArgs) -> i32 {
    let what = match args.command {
        BillingCommand::Invoice { .. } => "billing invoice",
        BillingCommand::Usage { .. } => "billing usage",
    };
    not_wired(what)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn billing_period_parsing() {
        assert_eq!(
            "2026-11".parse::<BillingPeriod>().unwrap(),
            BillingPeriod {
                year: 2026,
                month: 11
            }
        );
        assert_eq!(
            BillingPeriod {
                year: 2026,
                month: 1
            }
            .to_string(),
            "2026-01"
        );
        for bad in [
            "2026-13", "2026-00", "2026-1", "26-11", "2026/11", "", "1969-12",
        ] {
            assert!(bad.parse::<BillingPeriod>().is_err(), "{bad:?} accepted");
        }
    }
}

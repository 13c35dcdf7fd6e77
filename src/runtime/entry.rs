//! One function per `l2tpagg` subcommand, with its argument struct; `main.rs` parses the command
//! line with clap and calls exactly one of these, exiting with the code it returns.
//!
//! Owns: the argument structs of `run`, `check`, `loadgen` and `billing`, and their entry points.
//! Must not touch: parsing of the top-level CLI (main.rs) or the `ctl` subcommand (`crate::ctl::run`).
//!
//! `run` and `loadgen` are not wired to the daemon yet: the state actor and the load generator
//! land in other branches, and the integrator fills these bodies. Until then each prints "not
//! wired yet" to stderr and returns [`EXIT_NOT_WIRED`] rather than pretending to succeed.

use std::io::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use super::logging::LogFormat;
use crate::engine::invoice::BillingPeriod;

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

/// `l2tpagg billing <invoice|usage>`: reads the ledger of the daemon that runs with the same
/// configuration (found in the state directory the daemon would use), never writes to it, and may
/// run beside the daemon.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct BillingArgs {
    /// Configuration file naming the state directory, tariffs, plans and subscribers' contracts
    /// (default: the embedded default, as `l2tpagg run` without --config).
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
        /// The month, YYYY-MM; it starts at midnight at billing.period_offset.
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
        #[arg(long, conflicts_with = "csv")]
        json: bool,
        /// Print the records as CSV.
        #[arg(long)]
        csv: bool,
    },
}

fn not_wired(what: &str) -> i32 {
    eprintln!(
        "l2tpagg {what}: not wired yet: this build has the command line but not the implementation \
         (the integration branch connects it); nothing was done"
    );
    EXIT_NOT_WIRED
}

/// `l2tpagg run`. Returns the process exit code.
pub fn run(args: RunArgs) -> i32 {
    let _ = args;
    not_wired("run")
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

/// `l2tpagg billing`. Returns the process exit code: 0 when the report was printed (ledger damage
/// is reported on stderr and in the report, and does not stop it), 1 when it could not be made
/// (bad configuration, no ledger, an unreadable ledger, a tariff that cannot be used).
pub fn billing(args: BillingArgs) -> i32 {
    use crate::config::billing_map;
    use crate::ledger::billing::{
        OutputFormat, find_ledger_dir, invoice_for_period_with, render_invoice, render_usage,
        usage_for_subscriber,
    };

    /// The effective user ID, which picks the `"auto"` state directories, read without `unsafe`
    /// from /proc (field 2 of `Uid:` in proc(5)'s status file).
    fn effective_uid() -> u32 {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|status| {
                let line = status.lines().find(|l| l.starts_with("Uid:"))?;
                line.split_whitespace().nth(2)?.parse().ok()
            })
            .unwrap_or_else(|| {
                use std::os::unix::fs::MetadataExt as _;
                std::fs::metadata("/proc/self").map_or(u32::MAX, |m| m.uid())
            })
    }

    fn format(json: bool, csv: bool) -> OutputFormat {
        match (json, csv) {
            (true, _) => OutputFormat::Json,
            (_, true) => OutputFormat::Csv,
            _ => OutputFormat::Text,
        }
    }

    fn print_stdout(what: &str, text: &str) -> i32 {
        let mut out = std::io::stdout().lock();
        match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
            Ok(()) => 0,
            // A reader that stopped early (`| head`) got what it wanted.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => 0,
            Err(e) => {
                eprintln!("l2tpagg {what}: cannot write the report: {e}");
                1
            }
        }
    }

    fn warn_ledger_notes(dir: &Path, notes: &crate::engine::invoice::LedgerNotes) {
        for d in &notes.damage {
            eprintln!("warning: ledger damage: {d}");
        }
        if notes.undecodable_records > 0 {
            eprintln!(
                "warning: {} intact records in {} could not be decoded by this build (written by \
                 a newer l2tpagg?) and are not counted",
                notes.undecodable_records,
                dir.display()
            );
        }
        if notes.aggregate.orphan_records > 0 {
            eprintln!(
                "warning: {} records in {} belong to sessions whose start is not in the ledger; \
                 their usage cannot be attributed",
                notes.aggregate.orphan_records,
                dir.display()
            );
        }
    }

    let what = match &args.command {
        BillingCommand::Invoice { .. } => "billing invoice",
        BillingCommand::Usage { .. } => "billing usage",
    };
    let config = match &args.config {
        Some(path) => match crate::config::load_file(path) {
            Ok(config) => config,
            Err(errors) => {
                for warning in &errors.warnings {
                    eprintln!("warning: {warning}");
                }
                eprintln!("{errors}");
                return 1;
            }
        },
        None => crate::config::embedded_default(),
    };
    for warning in &config.warnings {
        eprintln!("warning: {warning}");
    }
    let env = |key: &str| std::env::var_os(key);
    let candidates = billing_map::ledger_dir_candidates(&config, &env, effective_uid());
    let dir = match find_ledger_dir(&candidates) {
        Ok(dir) => dir,
        Err(e) => {
            eprintln!("l2tpagg {what}: {e}");
            return 1;
        }
    };

    match args.command {
        BillingCommand::Invoice { period, json, csv } => {
            let period = match period.at_offset(config.billing.period_offset_seconds) {
                Ok(p) => p,
                Err(e) => {
                    eprintln!(
                        "l2tpagg {what}: {e} at billing.period_offset ({} s east of UTC)",
                        config.billing.period_offset_seconds
                    );
                    return 1;
                }
            };
            let tariffs = billing_map::tariffs(&config.billing, &config.lac);
            let contracts =
                |seen: &[&str]| billing_map::contracts_for(&config, seen.iter().copied());
            let mut invoice = match invoice_for_period_with(&dir, &tariffs, contracts, &period) {
                Ok(invoice) => invoice,
                Err(e) => {
                    eprintln!("l2tpagg {what}: {}: {e}", dir.display());
                    return 1;
                }
            };
            billing_map::name_accounts(&mut invoice, &config.billing);
            warn_ledger_notes(&dir, &invoice.ledger);
            for r in billing_map::ranges_missing_fixed_fees(&config) {
                eprintln!(
                    "note: subscribers {} .. {} ([[subscriber_range]]) are invoiced only when they \
                     have usage in {}; members without usage owe fixed fees not shown here (list \
                     paying subscribers as [[subscriber]] entries to invoice them regardless)",
                    r.name(r.first),
                    r.name(r.last()),
                    period.label
                );
            }
            print_stdout(what, &render_invoice(&invoice, format(json, csv)))
        }
        BillingCommand::Usage {
            subscriber,
            json,
            csv,
        } => {
            let report = match usage_for_subscriber(&dir, &subscriber) {
                Ok(report) => report,
                Err(e) => {
                    eprintln!("l2tpagg {what}: {}: {e}", dir.display());
                    return 1;
                }
            };
            warn_ledger_notes(&dir, &report.ledger);
            if !config.subscribers.contains(&subscriber) {
                eprintln!(
                    "note: {subscriber:?} is not a subscriber in {}",
                    config.origin
                );
            }
            if report.records.is_empty() {
                eprintln!(
                    "note: the ledger in {} has no records of {subscriber:?}",
                    dir.display()
                );
            }
            print_stdout(what, &render_usage(&report, format(json, csv)))
        }
    }
}

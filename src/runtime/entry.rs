//! One function per `l2tpagg` subcommand, with its argument struct; `main.rs` parses the command
//! line with clap and calls exactly one of these, exiting with the code it returns.
//!
//! Owns: the argument structs of `run`, `check`, `loadgen` and `billing`, and their entry points.
//! Must not touch: parsing of the top-level CLI (main.rs) or the `ctl` subcommand (`crate::ctl::run`).
//!
//! Every subcommand is wired: `run` to the daemon (`runtime::daemon`), `loadgen` to the
//! subscriber emulator, `billing` to the ledger and the invoice engine.

use std::io::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use super::logging::LogFormat;
use crate::engine::invoice::BillingPeriod;

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
    /// Whichever the server asks for.
    Any,
}

impl From<LoadgenAuth> for crate::loadgen::AuthChoice {
    fn from(a: LoadgenAuth) -> Self {
        match a {
            LoadgenAuth::Pap => Self::Pap,
            LoadgenAuth::Chap => Self::Chap,
            LoadgenAuth::Any => Self::Any,
        }
    }
}

/// `l2tpagg loadgen`: emulate subscribers against a running daemon (issue 5).
///
/// The defaults match the embedded default configuration: L2TP dial-in to 127.0.0.1:1702 as the
/// demo subscribers user1, user2, ... with password "demo".
#[derive(Debug, Clone, PartialEq, clap::Args)]
#[command(after_help = "\
Exit status: 0 when every subscriber came up (IPCP opened) and none was dropped before its \
logout; 1 when any failed, was dropped, or was never started because the run was stopped; 2 when \
the run could not start (invalid arguments, socket or interface errors). SIGINT or SIGTERM logs \
everybody out cleanly (a second one ends at once).")]
pub struct LoadgenArgs {
    /// Dial in over L2TP to this address (the daemon's L2TP dial-in front-end).
    #[arg(
        long,
        value_name = "ADDR",
        conflicts_with = "pppoe",
        default_value = "127.0.0.1:1702"
    )]
    pub l2tp: SocketAddr,
    /// Emulate PPPoE subscribers on this interface instead (e.g. one end of a veth pair). Each
    /// subscriber uses MAC 02:4c:47 followed by the low 24 bits of its number, so a physical NIC
    /// must be in promiscuous mode. Needs CAP_NET_RAW.
    #[arg(long, value_name = "IFACE")]
    pub pppoe: Option<String>,
    /// How many subscribers to bring up.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub subscribers: u64,
    /// Number of the first subscriber (the number the --user and --password patterns take).
    // Clap turns a literal `{n}` in help text into a line break: the help names no placeholder.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub first: u64,
    /// Logins started per second (0: as fast as --concurrency allows).
    #[arg(long, value_name = "PER_SECOND", default_value_t = 1000.0)]
    pub rate: f64,
    /// Logins in progress at once.
    #[arg(long, value_name = "N", default_value_t = 256)]
    pub concurrency: u64,
    /// Seconds each subscriber stays up before logging out (0: until interrupted).
    #[arg(long, value_name = "SECONDS", default_value_t = 30.0)]
    pub hold: f64,
    /// Seconds a login may take to reach network-up before it counts as failed.
    #[arg(long, value_name = "SECONDS", default_value_t = 30.0)]
    pub setup_timeout: f64,
    /// After SIGINT/SIGTERM (or the last logout), seconds to wait for logouts and tunnel closes.
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0)]
    pub drain_timeout: f64,
    /// Data packets per second each subscriber sends once up (0: no traffic).
    #[arg(long, value_name = "PER_SECOND", default_value_t = 1.0)]
    pub traffic_rate: f64,
    /// UDP payload of each data packet in bytes (the IP packet is 28 more).
    #[arg(long, value_name = "BYTES", default_value_t = 512)]
    pub packet_size: u16,
    /// Where the subscribers' traffic goes (an address behind the LNS). Default: the server's end
    /// of each PPP link as announced in IPCP.
    #[arg(long, value_name = "ADDR")]
    pub target: Option<Ipv4Addr>,
    /// UDP port of the traffic (7 is echo; echoes are counted).
    #[arg(long, value_name = "PORT", default_value_t = 7)]
    pub target_port: u16,
    /// User name pattern; the placeholder of the default is replaced by the subscriber number.
    #[arg(long, value_name = "PATTERN", default_value = "user{n}")]
    pub user: String,
    /// Password pattern of the emulated subscribers (the --user placeholder allowed).
    #[arg(long, value_name = "SECRET", default_value = "demo")]
    pub password: String,
    /// Authentication protocol the subscribers agree to.
    #[arg(long, value_enum, default_value = "chap")]
    pub auth: LoadgenAuth,
    /// L2TP dial-in settings.
    #[command(flatten)]
    pub l2tp_options: Box<LoadgenL2tpArgs>,
    /// PPPoE settings.
    #[command(flatten)]
    pub pppoe_options: Box<LoadgenPppoeArgs>,
    /// Print the final summary as JSON on stdout (and no progress line).
    #[arg(long)]
    pub json: bool,
}

/// `l2tpagg loadgen` settings that only apply to L2TP dial-in (kept apart, and boxed, so the
/// argument struct stays small).
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct LoadgenL2tpArgs {
    /// L2TP: subscribers per tunnel (the run opens ceil(subscribers / this) tunnels).
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub sessions_per_tunnel: u32,
    /// L2TP: Host Name AVP of our tunnels.
    #[arg(long, value_name = "NAME", default_value = "l2tpagg-loadgen")]
    pub hostname: String,
    /// L2TP: tunnel secret, when the daemon's dial-in peer entry has one.
    #[arg(long, value_name = "SECRET")]
    pub tunnel_secret: Option<String>,
    /// L2TP: local address to send from (default: any address, any port).
    #[arg(long, value_name = "ADDR")]
    pub bind: Option<SocketAddr>,
}

/// `l2tpagg loadgen` settings that only apply to PPPoE.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct LoadgenPppoeArgs {
    /// PPPoE: Service-Name to ask for (default: any).
    #[arg(long, value_name = "NAME", default_value = "")]
    pub service_name: String,
    /// PPPoE: accept offers only from this AC-Name.
    #[arg(long, value_name = "NAME")]
    pub ac_name: Option<String>,
}

impl LoadgenArgs {
    /// The emulator options these arguments describe (not yet validated).
    pub fn to_options(&self) -> Result<crate::loadgen::LoadgenOptions, String> {
        use crate::loadgen::{
            L2tpOptions, LoadgenOptions, Pattern, PppoeOptions, TrafficPlan, TransportOptions,
        };
        let seconds = |what: &str, v: f64| -> Result<std::time::Duration, String> {
            std::time::Duration::try_from_secs_f64(v)
                .map_err(|_| format!("--{what} {v} is not a number of seconds"))
        };
        let transport = match &self.pppoe {
            Some(interface) => TransportOptions::Pppoe(PppoeOptions {
                interface: interface.clone(),
                service_name: self.pppoe_options.service_name.clone(),
                ac_name: self.pppoe_options.ac_name.clone(),
            }),
            None => {
                let mut l2tp = L2tpOptions::new(self.l2tp);
                let o = &self.l2tp_options;
                if let Some(bind) = o.bind {
                    l2tp.bind = bind;
                }
                l2tp.sessions_per_tunnel = o.sessions_per_tunnel;
                l2tp.host_name = o.hostname.clone();
                l2tp.secret = o.tunnel_secret.as_ref().map(|s| s.as_bytes().to_vec());
                TransportOptions::L2tp(l2tp)
            }
        };
        let hold = seconds("hold", self.hold)?;
        let traffic = (self.traffic_rate != 0.0).then_some(TrafficPlan {
            rate: self.traffic_rate,
            payload: usize::from(self.packet_size),
            target: self.target,
            port: self.target_port,
        });
        Ok(LoadgenOptions {
            transport,
            subscribers: self.subscribers,
            first: self.first,
            rate: if self.rate == 0.0 {
                f64::INFINITY
            } else {
                self.rate
            },
            concurrency: self.concurrency,
            hold: (!hold.is_zero()).then_some(hold),
            setup_timeout: seconds("setup-timeout", self.setup_timeout)?,
            drain_timeout: seconds("drain-timeout", self.drain_timeout)?,
            user: Pattern::parse(&self.user).map_err(|e| format!("--user: {e}"))?,
            password: Pattern::parse(&self.password).map_err(|e| format!("--password: {e}"))?,
            auth: self.auth.into(),
            traffic,
        })
    }
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

/// `l2tpagg loadgen`. Returns the process exit code: 0 when every subscriber came up and none
/// was dropped before its logout, 1 otherwise, 2 when the run could not start.
pub fn loadgen(args: LoadgenArgs) -> i32 {
    use std::io::IsTerminal;

    let options = match args.to_options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("l2tpagg loadgen: {e}");
            return 2;
        }
    };
    let requested = options.subscribers;
    let mut emulator = match crate::loadgen::Emulator::new(options) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("l2tpagg loadgen: {e}");
            return 2;
        }
    };
    // Warnings (socket errors) go to stderr; the summary goes to stdout.
    let _ = super::logging::init(Some(LogFormat::Text), "warn");
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("l2tpagg loadgen: cannot start the runtime: {e}");
            return 2;
        }
    };
    let terminal = std::io::stderr().is_terminal();
    if !args.json {
        // About once a second on a terminal (one line rewritten in place); every ten seconds as
        // plain lines when stderr is a file or pipe.
        let mut calls = 0u64;
        emulator.on_progress(move |stats, elapsed| {
            calls += 1;
            let line = stats.progress_line(elapsed, requested);
            if terminal {
                eprint!("\r{line}\x1b[K");
            } else if calls.is_multiple_of(10) {
                eprintln!("{line}");
            }
        });
    }
    let stop = emulator.stop_handle();
    let result = runtime.block_on(async move {
        let mut signals = super::signals::Signals::install().map_err(|e| e.to_string())?;
        let watcher = tokio::spawn(async move {
            let mut asked = false;
            loop {
                if let super::signals::SignalEvent::Shutdown { signal } = signals.recv().await {
                    if asked {
                        eprintln!("\n{signal} again: stopping at once");
                        stop.abort();
                        return;
                    }
                    asked = true;
                    eprintln!("\n{signal}: logging every subscriber out (again to stop at once)");
                    stop.drain();
                }
            }
        });
        let report = emulator.run().await;
        watcher.abort();
        report.map_err(|e| e.to_string())
    });
    if terminal && !args.json {
        eprintln!();
    }
    match result {
        Ok(report) => {
            if args.json {
                println!("{}", report.to_json());
            } else {
                println!("{report}");
            }
            if report.success { 0 } else { 1 }
        }
        Err(e) => {
            eprintln!("l2tpagg loadgen: {e}");
            2
        }
    }
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

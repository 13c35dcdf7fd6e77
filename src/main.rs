//! `l2tpagg`: the command line. Thin on purpose: parse with clap, call one library function, exit
//! with the code it returns. Everything else lives in the library (`runtime::entry`, `ctl`).

use clap::{Parser, Subcommand};
use l2tpagg::ctl::CtlArgs;
use l2tpagg::runtime::entry::{self, BillingArgs, CheckArgs, LoadgenArgs, RunArgs};

/// L2TPv2 LAC and LNS that packs subscriber sessions into as few tunnels as it can.
#[derive(Debug, Parser)]
#[command(name = "l2tpagg", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the daemon in the foreground (systemd starts it this way).
    Run(RunArgs),
    /// Validate a configuration file and exit (0 when valid).
    Check(CheckArgs),
    /// Query or command a running daemon over its control socket.
    Ctl(CtlArgs),
    /// Emulate subscribers (PPPoE or L2TP dial-in) against a running daemon.
    Loadgen(LoadgenArgs),
    /// Invoices and usage records from the ledger.
    Billing(BillingArgs),
}

fn main() {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Run(args) => entry::run(args),
        Command::Check(args) => entry::check(args),
        Command::Ctl(args) => l2tpagg::ctl::run(
            args,
            &mut std::io::stdout().lock(),
            &mut std::io::stderr().lock(),
        ),
        Command::Loadgen(args) => entry::loadgen(args),
        Command::Billing(args) => entry::billing(args),
    };
    std::process::exit(code);
}

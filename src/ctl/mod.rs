//! The `l2tpagg ctl` client and its wire format.
//!
//! Owns: the request/response types and row structs the daemon fills ([`proto`]), the blocking
//! client ([`client`]), rendering ([`render`]) and the `ctl` subcommand ([`CtlArgs`], [`run`]).
//! Must not touch: the actor's internals; the daemon side of the socket is
//! `runtime::ctl_server`, and the actor answers through the handler it is given.
//!
//! Exit codes of `l2tpagg ctl` ([`exit`]): 0 the daemon answered with data or "done", 1 the daemon
//! answered with an error (or the exchange failed after connecting), 2 usage error (clap), 3 cannot
//! connect to the socket (the message names the path).

pub mod client;
pub mod proto;
pub mod render;

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

pub use client::{CtlClientError, DEFAULT_SOCKET_PATH, DEFAULT_TIMEOUT, call};
pub use proto::{
    CtlError, ErrorCode, LineRow, MoveRow, PROTOCOL_VERSION, PlanReport, Request, Response, Role,
    SessionRow, StatusReport, SubscriberRow, TunnelRow,
};

/// Exit codes of `l2tpagg ctl`.
pub mod exit {
    /// The daemon answered and the request was carried out.
    pub const OK: i32 = 0;
    /// The daemon answered with an error, or the exchange failed after connecting.
    pub const DAEMON_ERROR: i32 = 1;
    /// Bad command line (clap uses the same code).
    pub const USAGE: i32 = 2;
    /// The control socket could not be reached.
    pub const CANNOT_CONNECT: i32 = 3;
}

/// `l2tpagg ctl [--socket PATH] [--timeout SECS] <command> [--json]`.
#[derive(Debug, Clone, clap::Args)]
pub struct CtlArgs {
    /// Control socket of the daemon (`daemon.ctl_socket` if the config sets one). Default: the
    /// first that exists of $RUNTIME_DIRECTORY/ctl.sock, /run/l2tpagg/ctl.sock (root),
    /// $XDG_RUNTIME_DIR/l2tpagg/ctl.sock, /tmp/l2tpagg-UID/ctl.sock, the places a daemon with
    /// `ctl_socket = "auto"` (the embedded default) binds.
    #[arg(long, value_name = "PATH", global = true)]
    pub socket: Option<PathBuf>,
    /// Seconds to wait for the daemon's answer.
    #[arg(long, value_name = "SECONDS", default_value_t = DEFAULT_TIMEOUT.as_secs(), global = true)]
    pub timeout: u64,
    /// Print the daemon's response as JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
    /// What to ask.
    #[command(subcommand)]
    pub command: CtlCommand,
}

/// The ctl commands.
#[derive(Debug, Clone, PartialEq, Eq, clap::Subcommand)]
pub enum CtlCommand {
    /// Daemon summary: roles, uptime, counts, malformed-packet counters, config origin.
    Status,
    /// List tunnels.
    Tunnels,
    /// List sessions, optionally of one subscriber or one tunnel.
    Sessions {
        /// Only this subscriber's sessions (user name with realm).
        #[arg(long, value_name = "USER")]
        user: Option<String>,
        /// Only sessions in this local tunnel ID.
        #[arg(long, value_name = "TUNNEL_ID")]
        tunnel: Option<u16>,
    },
    /// List subscribers.
    Subscribers,
    /// List lines.
    Lines,
    /// Disconnect one session (CDN) by local session ID.
    Disconnect {
        /// Local session ID.
        #[arg(value_name = "SESSION_ID")]
        session: u16,
    },
    /// Drain a tunnel: place nothing new in it, move or end its sessions, close it.
    Drain {
        /// Local tunnel ID.
        #[arg(value_name = "TUNNEL_ID")]
        tunnel: u16,
    },
    /// Re-read the configuration (like SIGHUP); a bad file is refused with its errors.
    Reload,
    /// Show the consolidation plan: tunnels and lines in use, L1/L2 bounds, moves.
    Plan,
}

impl From<CtlCommand> for Request {
    fn from(command: CtlCommand) -> Self {
        match command {
            CtlCommand::Status => Request::Status,
            CtlCommand::Tunnels => Request::Tunnels,
            CtlCommand::Sessions { user, tunnel } => Request::Sessions { user, tunnel },
            CtlCommand::Subscribers => Request::Subscribers,
            CtlCommand::Lines => Request::Lines,
            CtlCommand::Disconnect { session } => Request::Disconnect { session },
            CtlCommand::Drain { tunnel } => Request::Drain { tunnel },
            CtlCommand::Reload => Request::Reload,
            CtlCommand::Plan => Request::Plan,
        }
    }
}

/// The socket `l2tpagg ctl` talks to without `--socket`: the first of the `"auto"` candidates
/// ([`crate::config::default_ctl_socket_candidates`]) that exists, else the first candidate (so
/// the error names where a daemon would be).
pub fn default_socket() -> PathBuf {
    // The owner of /proc/self is the effective UID (proc(5)).
    let euid = std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m))
        .unwrap_or(u32::MAX);
    let candidates = crate::config::default_ctl_socket_candidates(&|k| std::env::var_os(k), euid);
    candidates
        .iter()
        .find(|p| p.exists())
        .or(candidates.first())
        .cloned()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_SOCKET_PATH))
}

/// Runs `l2tpagg ctl`: sends the request, prints the response to `out` (table or JSON) and problems
/// to `err`, and returns the exit code.
pub fn run(args: CtlArgs, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let request = Request::from(args.command);
    let timeout = Duration::from_secs(args.timeout.max(1));
    let socket = args.socket.unwrap_or_else(default_socket);
    let response = match call(&socket, &request, timeout) {
        Ok(response) => response,
        Err(e @ CtlClientError::Connect { .. }) => {
            let _ = writeln!(err, "l2tpagg ctl: {e}");
            return exit::CANNOT_CONNECT;
        }
        Err(e) => {
            let _ = writeln!(err, "l2tpagg ctl: {e}");
            return exit::DAEMON_ERROR;
        }
    };
    let rendered = if args.json {
        render::json(&response)
    } else {
        render::text(&response)
    };
    match &response {
        Response::Error(e) => {
            if args.json {
                let _ = out.write_all(rendered.as_bytes());
            }
            let _ = writeln!(err, "l2tpagg ctl {}: {e}", request.command());
            exit::DAEMON_ERROR
        }
        _ => {
            let _ = out.write_all(rendered.as_bytes());
            exit::OK
        }
    }
}

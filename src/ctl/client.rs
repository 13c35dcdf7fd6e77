//! The ctl client: connect to the daemon's Unix socket, send one request, read one response, with a
//! timeout on every step.
//!
//! Owns: the client side of one connection. Must not touch: rendering (see `render`) or exit codes
//! (see `ctl::run`).

use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::proto::{Request, Response, decode_response, encode_request};

/// Where the daemon listens unless the config or `--socket` says otherwise. systemd creates
/// /run/l2tpagg for the service (`RuntimeDirectory=l2tpagg`); a daemon run by hand creates it.
pub const DEFAULT_SOCKET_PATH: &str = "/run/l2tpagg/ctl.sock";

/// How long the client waits for the daemon to answer (a reload may take a moment).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Largest response the client accepts: 64 MiB, room for a 100,000-session table.
pub const MAX_RESPONSE_BYTES: u64 = 64 * 1024 * 1024;

/// Why a ctl call failed before the daemon could answer.
#[derive(Debug, thiserror::Error)]
pub enum CtlClientError {
    /// Nothing listens at the path (daemon not running, wrong path, no permission).
    #[error(
        "cannot connect to the l2tpagg control socket {path}: {source} (is the daemon running? use --socket PATH)"
    )]
    Connect {
        /// The socket path.
        path: PathBuf,
        /// The system error.
        source: io::Error,
    },
    /// The daemon accepted but the exchange failed or timed out.
    #[error("control socket {path}: {what}: {source}")]
    Io {
        /// The socket path.
        path: PathBuf,
        /// Which step failed.
        what: &'static str,
        /// The system error (TimedOut/WouldBlock for a timeout).
        source: io::Error,
    },
    /// The daemon answered something this client cannot read.
    #[error("control socket {path}: {detail}")]
    Protocol {
        /// The socket path.
        path: PathBuf,
        /// What was wrong.
        detail: String,
    },
}

/// Sends `request` to the daemon at `path` and returns its response. Blocking; `timeout` applies to
/// each read and write.
pub fn call(path: &Path, request: &Request, timeout: Duration) -> Result<Response, CtlClientError> {
    let stream = UnixStream::connect(path).map_err(|source| CtlClientError::Connect {
        path: path.to_owned(),
        source,
    })?;
    let io_err = |what| {
        move |source| CtlClientError::Io {
            path: path.to_owned(),
            what,
            source,
        }
    };
    stream
        .set_read_timeout(Some(timeout))
        .map_err(io_err("set timeout"))?;
    stream
        .set_write_timeout(Some(timeout))
        .map_err(io_err("set timeout"))?;
    (&stream)
        .write_all(encode_request(request).as_bytes())
        .map_err(io_err("send request"))?;
    // Half-close so a server that reads to EOF also sees the end of the request.
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let mut reader = BufReader::new(io::Read::take(&stream, MAX_RESPONSE_BYTES + 1));
    let mut line = Vec::new();
    reader.read_until(b'\n', &mut line).map_err(|source| {
        let what = if matches!(
            source.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        ) {
            "no response within the timeout"
        } else {
            "read response"
        };
        io_err(what)(source)
    })?;
    if line.is_empty() {
        return Err(CtlClientError::Protocol {
            path: path.to_owned(),
            detail: "daemon closed the connection without answering".into(),
        });
    }
    if line.len() as u64 > MAX_RESPONSE_BYTES {
        return Err(CtlClientError::Protocol {
            path: path.to_owned(),
            detail: format!("response longer than {MAX_RESPONSE_BYTES} bytes"),
        });
    }
    decode_response(&line).map_err(|detail| CtlClientError::Protocol {
        path: path.to_owned(),
        detail,
    })
}

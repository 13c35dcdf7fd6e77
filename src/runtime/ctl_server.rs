//! The daemon side of the control socket: a Unix stream socket created 0600, one JSON request and
//! one JSON response per connection (see `ctl::proto`), each request handed to an async handler the
//! caller supplies.
//!
//! Owns: the listening socket file (created, replaced if stale, removed on drop) and the
//! per-connection tasks. Must not touch: what a request does; the actor answers through a
//! [`CtlHandler`] (usually the mpsc sender of its command channel, see [`CtlCall`]).
//!
//! Robustness: a request that is not valid JSON, too long, of another protocol version or an unknown
//! command gets an error response, never a crash; a client that connects and says nothing is
//! dropped after [`READ_TIMEOUT`]; at most [`MAX_CONNECTIONS`] connections are served at once and
//! the rest get "busy"; a handler that takes longer than [`HANDLER_TIMEOUT`] gets an "internal"
//! error sent in its place.
//!
//! Permissions: the socket is bound under a temporary name, chmod 0600, then renamed into place, so
//! there is no moment when it exists at its public path with looser permissions.

use std::future::Future;
use std::io;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{Semaphore, mpsc, oneshot};

use super::RuntimeError;
use super::shutdown::ShutdownListener;
use crate::ctl::proto::{
    ErrorCode, MAX_REQUEST_BYTES, Request, Response, decode_request, encode_response,
};

/// How long a client may take to send its request.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a client may take to read the response.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the handler may take to answer.
pub const HANDLER_TIMEOUT: Duration = Duration::from_secs(60);
/// Most bytes discarded from an oversized request before answering it.
const DRAIN_LIMIT: u64 = 16 * 1024 * 1024;
/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 32;

/// A boxed future returned by [`CtlHandler::handle`].
pub type HandlerFuture<'a> = Pin<Box<dyn Future<Output = Response> + Send + 'a>>;

/// Answers ctl requests. Implemented by the actor's command sender (through [`CtlCall`]) and by
/// closures through [`handler_fn`].
pub trait CtlHandler: Send + Sync + 'static {
    /// Answers one request. Errors are answered as [`Response::Error`].
    fn handle(&self, request: Request) -> HandlerFuture<'_>;
}

/// One ctl request on its way to the actor, with the channel for its answer.
#[derive(Debug)]
pub struct CtlCall {
    /// The decoded request.
    pub request: Request,
    /// Where the actor sends the response. Dropping it answers "unavailable".
    pub reply: oneshot::Sender<Response>,
}

impl CtlHandler for mpsc::Sender<CtlCall> {
    fn handle(&self, request: Request) -> HandlerFuture<'_> {
        Box::pin(async move {
            let (reply, answer) = oneshot::channel();
            if self.send(CtlCall { request, reply }).await.is_err() {
                return Response::error(ErrorCode::Unavailable, "the daemon is shutting down");
            }
            answer.await.unwrap_or_else(|_| {
                Response::error(
                    ErrorCode::Unavailable,
                    "the daemon dropped the request (shutting down?)",
                )
            })
        })
    }
}

struct FnHandler<F>(F);

impl<F, Fut> CtlHandler for FnHandler<F>
where
    F: Fn(Request) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response> + Send + 'static,
{
    fn handle(&self, request: Request) -> HandlerFuture<'_> {
        Box::pin((self.0)(request))
    }
}

/// A handler from an async closure.
pub fn handler_fn<F, Fut>(f: F) -> Arc<dyn CtlHandler>
where
    F: Fn(Request) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response> + Send + 'static,
{
    Arc::new(FnHandler(f))
}

/// The listening control socket.
#[derive(Debug)]
pub struct CtlServer {
    listener: UnixListener,
    path: PathBuf,
    inode: u64,
}

impl CtlServer {
    /// Creates the socket at `path`: makes the parent directory if needed (mode 0755), replaces a
    /// stale socket left by a dead daemon, refuses to start if a live daemon answers there or if the
    /// path is something other than a socket, and leaves the socket mode 0600. Must run inside a
    /// tokio runtime.
    pub fn bind(path: &Path) -> Result<Self, RuntimeError> {
        let err = |op: &'static str| {
            let path = path.to_owned();
            move |source: io::Error| RuntimeError::CtlSocket { path, op, source }
        };
        let file_name = path.file_name().ok_or_else(|| {
            err("check path")(io::Error::new(io::ErrorKind::InvalidInput, "no file name"))
        })?;
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
            _ => PathBuf::from("."),
        };
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(&parent)
            .map_err(err("create directory"))?;
        remove_if_stale(path).map_err(err("check existing socket"))?;

        let mut temp_name = std::ffi::OsString::from(".");
        temp_name.push(file_name);
        temp_name.push(format!(".{}.tmp", std::process::id()));
        let temp = parent.join(temp_name);
        match std::fs::remove_file(&temp) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                return Err(err("remove leftover temporary socket")(e));
            }
            _ => {}
        }
        let std_listener = std::os::unix::net::UnixListener::bind(&temp).map_err(err("bind"))?;
        let placed = std::fs::set_permissions(&temp, std::fs::Permissions::from_mode(0o600))
            .map_err(err("chmod 0600"))
            .and_then(|()| std::fs::rename(&temp, path).map_err(err("move into place")));
        if let Err(e) = placed {
            let _ = std::fs::remove_file(&temp);
            return Err(e);
        }
        let inode = std::fs::symlink_metadata(path).map_err(err("stat"))?.ino();
        std_listener
            .set_nonblocking(true)
            .map_err(err("set non-blocking"))?;
        let listener = UnixListener::from_std(std_listener).map_err(err("register with tokio"))?;
        Ok(Self {
            listener,
            path: path.to_owned(),
            inode,
        })
    }

    /// The socket path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Accepts connections until shutdown, serving each on its own task with `handler`. Returns after
    /// shutdown is signalled; connections in progress finish on their own (bounded by the timeouts).
    pub async fn serve(self, handler: Arc<dyn CtlHandler>, mut shutdown: ShutdownListener) {
        let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        loop {
            let stream = tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        // EMFILE and friends: wait a little so the loop does not spin, then retry.
                        tracing::warn!(path = %self.path.display(), error = %e, "ctl accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
                _ = shutdown.recv() => break,
            };
            let handler = handler.clone();
            match slots.clone().try_acquire_owned() {
                Ok(permit) => {
                    tokio::spawn(async move {
                        serve_connection(stream, handler.as_ref()).await;
                        drop(permit);
                    });
                }
                Err(_) => {
                    tokio::spawn(async move {
                        let busy = Response::error(
                            ErrorCode::Unavailable,
                            "too many ctl connections; try again",
                        );
                        let _ = write_response(stream, &busy).await;
                    });
                }
            }
        }
    }
}

impl Drop for CtlServer {
    fn drop(&mut self) {
        // Remove the socket only if it is still ours: a newer daemon may have replaced it.
        if std::fs::symlink_metadata(&self.path).is_ok_and(|m| m.ino() == self.inode) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Removes `path` if it is a socket nobody listens on. Errors if a daemon answers there
/// (`AddrInUse`) or if the path is not a socket (`AlreadyExists`), so nothing else gets deleted.
fn remove_if_stale(path: &Path) -> io::Result<()> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if !meta.file_type().is_socket() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "path exists and is not a socket; refusing to replace it",
        ));
    }
    match std::os::unix::net::UnixStream::connect(path) {
        Ok(_) => Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            "another process is listening on it (is l2tpagg already running?)",
        )),
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => std::fs::remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

async fn serve_connection(stream: UnixStream, handler: &dyn CtlHandler) {
    let (read_half, write_half) = stream.into_split();
    let mut reader = BufReader::new(read_half.take(MAX_REQUEST_BYTES as u64 + 1));
    let mut line = Vec::new();
    let read = tokio::time::timeout(READ_TIMEOUT, reader.read_until(b'\n', &mut line)).await;
    let response = match read {
        Err(_) => Response::error(
            ErrorCode::BadRequest,
            "no complete request within the read timeout",
        ),
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "ctl read failed");
            return;
        }
        Ok(Ok(_)) if line.len() > MAX_REQUEST_BYTES => Response::error(
            ErrorCode::BadRequest,
            format!("request longer than {MAX_REQUEST_BYTES} bytes"),
        ),
        Ok(Ok(0)) => return,
        Ok(Ok(_)) => match decode_request(&line) {
            Err(e) => {
                tracing::debug!(error = %e, "ctl bad request");
                Response::Error(e)
            }
            Ok(request) => {
                let command = request.command();
                tracing::debug!(command, "ctl request");
                match tokio::time::timeout(HANDLER_TIMEOUT, handler.handle(request)).await {
                    Ok(response) => response,
                    Err(_) => {
                        tracing::warn!(command, "ctl handler timed out");
                        Response::error(
                            ErrorCode::Internal,
                            format!("{command} did not finish in time"),
                        )
                    }
                }
            }
        },
    };
    let mut read_half = reader.into_inner().into_inner();
    if line.len() > MAX_REQUEST_BYTES {
        // Closing a Unix socket with unread input resets the connection and the client would never
        // see the error: discard the rest first (bounded in size and time).
        let mut rest = (&mut read_half).take(DRAIN_LIMIT);
        let mut sink = tokio::io::sink();
        let _ = tokio::time::timeout(READ_TIMEOUT, tokio::io::copy(&mut rest, &mut sink)).await;
    }
    let Ok(stream) = read_half.reunite(write_half) else {
        return;
    };
    if let Err(e) = write_response(stream, &response).await {
        tracing::debug!(error = %e, "ctl write failed");
    }
}

async fn write_response(mut stream: UnixStream, response: &Response) -> io::Result<()> {
    let line = encode_response(response);
    tokio::time::timeout(WRITE_TIMEOUT, async {
        stream.write_all(line.as_bytes()).await?;
        stream.shutdown().await
    })
    .await
    .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "client did not read the response"))?
}

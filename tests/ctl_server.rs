//! The control socket end to end: `runtime::ctl_server` with a test handler, `ctl::client` and
//! `ctl::render`, over a real Unix socket in a temporary directory.

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use l2tpagg::ctl::proto::{MAX_REQUEST_BYTES, decode_response};
use l2tpagg::ctl::{
    self, CtlArgs, CtlCommand, ErrorCode, Request, Response, Role, SessionRow, StatusReport,
    TunnelRow,
};
use l2tpagg::runtime::ctl_server::{CtlCall, CtlHandler, CtlServer, handler_fn};
use l2tpagg::runtime::shutdown::ShutdownCoordinator;
use tokio::sync::mpsc;

fn sessions() -> Vec<SessionRow> {
    vec![
        SessionRow {
            role: Role::Lac,
            local_session_id: 11,
            peer_session_id: 901,
            local_tunnel_id: 3,
            peer_tunnel_id: 77,
            subscriber: "alice@isp.example".into(),
            access: "pppoe".into(),
            state: "established".into(),
            service_level_bps: 20_000_000,
            login_at_ms: 1_793_318_400_000,
            bytes_up: 1536,
            bytes_down: 3 << 20,
            packets_up: 12,
            packets_down: 2400,
            address: Some("100.64.0.9".parse().unwrap()),
        },
        SessionRow {
            local_session_id: 12,
            local_tunnel_id: 4,
            subscriber: "bob@isp.example".into(),
            state: "established".into(),
            ..SessionRow::default()
        },
    ]
}

/// A stand-in for the actor: answers from fixed rows, filters sessions, refuses unknown IDs.
fn test_handler() -> Arc<dyn CtlHandler> {
    handler_fn(|request| async move {
        match request {
            Request::Status => Response::Status(StatusReport {
                daemon_version: "0.1.0".into(),
                pid: 4242,
                roles: vec![Role::Lac, Role::Lns],
                uptime_secs: 3723,
                config_origin: "embedded default".into(),
                tunnels: 2,
                sessions: 2,
                malformed: [("l2tp.truncated_header".to_owned(), 17)]
                    .into_iter()
                    .collect(),
                ..StatusReport::default()
            }),
            Request::Tunnels => Response::Tunnels {
                rows: vec![TunnelRow {
                    role: Role::Lac,
                    local_tunnel_id: 3,
                    peer_tunnel_id: 77,
                    peer_name: "lns-1".into(),
                    peer_address: Some("192.0.2.10:1701".parse().unwrap()),
                    line: Some("uplink-a".into()),
                    state: "established".into(),
                    sessions: 1,
                    service_level_bps: 20_000_000,
                    capacity_bps: 1_000_000_000,
                    capabilities: vec!["live-move".into()],
                    ..TunnelRow::default()
                }],
            },
            Request::Sessions { user, tunnel } => Response::Sessions {
                rows: sessions()
                    .into_iter()
                    .filter(|s| user.as_ref().is_none_or(|u| &s.subscriber == u))
                    .filter(|s| tunnel.is_none_or(|t| s.local_tunnel_id == t))
                    .collect(),
            },
            Request::Disconnect { session: 11 } => Response::done("session 11 disconnected"),
            Request::Disconnect { session } => {
                Response::error(ErrorCode::NotFound, format!("no session {session}"))
            }
            other => Response::error(
                ErrorCode::Unavailable,
                format!("{} not in this test", other.command()),
            ),
        }
    })
}

struct Running {
    path: PathBuf,
    coordinator: ShutdownCoordinator,
    task: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

async fn start(handler: Arc<dyn CtlHandler>) -> Running {
    let dir = tempfile::tempdir().unwrap();
    // A parent directory that does not exist yet: bind creates it.
    let path = dir.path().join("run/l2tpagg/ctl.sock");
    let server = CtlServer::bind(&path).unwrap();
    assert_eq!(server.path(), path);
    let coordinator = ShutdownCoordinator::new();
    let task = tokio::spawn(server.serve(handler, coordinator.listener()));
    Running {
        path,
        coordinator,
        task,
        _dir: dir,
    }
}

async fn call(path: &Path, request: Request) -> Response {
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || ctl::call(&path, &request, Duration::from_secs(5)).unwrap())
        .await
        .unwrap()
}

/// Sends raw bytes and returns the raw response line.
async fn raw(path: &Path, bytes: Vec<u8>) -> String {
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut stream = UnixStream::connect(&path).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        // The server may answer and close before reading everything (oversized request).
        let _ = stream.write_all(&bytes);
        let _ = stream.shutdown(std::net::Shutdown::Write);
        let mut out = String::new();
        stream.read_to_string(&mut out).unwrap();
        out
    })
    .await
    .unwrap()
}

fn run_ctl(path: &Path, command: CtlCommand, json: bool) -> (i32, String, String) {
    let args = CtlArgs {
        socket: Some(path.to_owned()),
        timeout: 5,
        json,
        command,
    };
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = ctl::run(args, &mut out, &mut err);
    (
        code,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_requests_and_renders_text_and_json() {
    let server = start(test_handler()).await;
    let mode = std::fs::metadata(&server.path)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "socket mode {mode:o}");

    match call(
        &server.path,
        Request::Sessions {
            user: Some("bob@isp.example".into()),
            tunnel: None,
        },
    )
    .await
    {
        Response::Sessions { rows } => {
            assert_eq!(rows.len(), 1);
            assert_eq!(rows[0].local_session_id, 12);
        }
        other => panic!("unexpected {other:?}"),
    }

    let path = server.path.clone();
    let (code, out, err) = tokio::task::spawn_blocking(move || {
        run_ctl(
            &path,
            CtlCommand::Sessions {
                user: None,
                tunnel: Some(3),
            },
            false,
        )
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(
        lines[0].starts_with("ROLE  SESSION  PEER-SESSION  TUNNEL  SUBSCRIBER"),
        "{out}"
    );
    // Columns line up: every cell starts where its header does.
    let col = lines[0].find("SUBSCRIBER").unwrap();
    assert_eq!(
        &lines[1][col..col + "alice@isp.example".len()],
        "alice@isp.example"
    );
    for cell in [
        "pppoe",
        "100.64.0.9",
        "20 Mbit/s",
        "2026-10-30 00:00:00",
        "1.5 KiB",
        "3 MiB",
        "2400",
    ] {
        assert!(lines[1].contains(cell), "{cell} missing in {}", lines[1]);
    }

    let path = server.path.clone();
    let (code, out, _) =
        tokio::task::spawn_blocking(move || run_ctl(&path, CtlCommand::Tunnels, true))
            .await
            .unwrap();
    assert_eq!(code, 0);
    let value: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(value["kind"], "tunnels");
    assert_eq!(value["rows"][0]["peer_address"], "192.0.2.10:1701");
    assert_eq!(value["rows"][0]["capacity_bps"], 1_000_000_000u64);

    let path = server.path.clone();
    let (code, out, _) =
        tokio::task::spawn_blocking(move || run_ctl(&path, CtlCommand::Status, false))
            .await
            .unwrap();
    assert_eq!(code, 0);
    assert!(out.contains("roles              lac, lns"), "{out}");
    assert!(out.contains("uptime             1h 2m 3s"), "{out}");
    assert!(out.contains("l2tp.truncated_header"), "{out}");

    server.coordinator.trigger();
    server.task.await.unwrap();
    assert!(
        !server.path.exists(),
        "socket removed when the server is dropped"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemon_errors_exit_1_and_done_exits_0() {
    let server = start(test_handler()).await;
    let path = server.path.clone();
    let (code, out, err) = tokio::task::spawn_blocking(move || {
        let done = run_ctl(&path, CtlCommand::Disconnect { session: 11 }, false);
        assert_eq!(done.0, 0);
        assert_eq!(done.1, "session 11 disconnected\n");
        run_ctl(&path, CtlCommand::Disconnect { session: 99 }, true)
    })
    .await
    .unwrap();
    assert_eq!(code, 1);
    assert!(
        err.contains("disconnect: not found: no session 99"),
        "{err}"
    );
    let value: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(value["kind"], "error");
    assert_eq!(value["code"], "not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_error_responses_and_the_server_keeps_going() {
    let server = start(test_handler()).await;
    let code_of = |line: &str| match decode_response(line.as_bytes()).unwrap() {
        Response::Error(e) => e.code,
        other => panic!("expected an error, got {other:?}"),
    };
    assert_eq!(
        code_of(&raw(&server.path, b"garbage\n".to_vec()).await),
        ErrorCode::BadRequest
    );
    assert_eq!(
        code_of(
            &raw(
                &server.path,
                b"{\"version\":9,\"request\":{\"command\":\"status\"}}\n".to_vec()
            )
            .await
        ),
        ErrorCode::UnsupportedVersion
    );
    assert_eq!(
        code_of(
            &raw(
                &server.path,
                b"{\"version\":1,\"request\":{\"command\":\"reboot\"}}\n".to_vec()
            )
            .await
        ),
        ErrorCode::BadRequest
    );
    // No newline before EOF still counts as a request.
    assert_eq!(
        code_of(&raw(&server.path, b"{\"version\":1".to_vec()).await),
        ErrorCode::BadRequest
    );
    let oversized = vec![b'x'; MAX_REQUEST_BYTES + 10];
    let answer = raw(&server.path, oversized).await;
    assert_eq!(code_of(&answer), ErrorCode::BadRequest);
    assert!(answer.contains("longer than"), "{answer}");
    // A client that connects and closes without a word gets nothing and harms nothing.
    assert_eq!(raw(&server.path, Vec::new()).await, "");

    assert!(matches!(
        call(&server.path, Request::Status).await,
        Response::Status(_)
    ));
}

#[tokio::test(start_paused = true)]
async fn a_silent_client_is_answered_after_the_read_timeout() {
    let server = start(test_handler()).await;
    let mut stream = tokio::net::UnixStream::connect(&server.path).await.unwrap();
    let mut answer = String::new();
    use tokio::io::AsyncReadExt;
    // With the clock paused, the server's 5 s read timeout fires as soon as everything is idle.
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(
        answer.contains("\"code\":\"bad_request\"") && answer.contains("read timeout"),
        "{answer}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_socket_is_replaced_live_one_refused_other_files_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ctl.sock");

    // A socket file left by a dead daemon: nobody listens, so it is replaced.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(path.exists());
    let server = CtlServer::bind(&path).expect("stale socket replaced");

    // While it is served, a second daemon is refused with a clear message.
    let coordinator = ShutdownCoordinator::new();
    let task = tokio::spawn(server.serve(test_handler(), coordinator.listener()));
    let err = CtlServer::bind(&path).unwrap_err().to_string();
    assert!(
        err.contains(&path.display().to_string()) && err.contains("already running"),
        "{err}"
    );
    assert!(
        matches!(call(&path, Request::Status).await, Response::Status(_)),
        "first server unharmed"
    );
    coordinator.trigger();
    task.await.unwrap();

    // A regular file at the path is never deleted.
    std::fs::write(&path, "precious").unwrap();
    let err = CtlServer::bind(&path).unwrap_err().to_string();
    assert!(err.contains("not a socket"), "{err}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "precious");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mpsc_handler_reaches_an_actor_and_reports_when_it_is_gone() {
    let (tx, mut rx) = mpsc::channel::<CtlCall>(8);
    let actor = tokio::spawn(async move {
        // Answer one request, then stop like an actor shutting down.
        let call = rx.recv().await.unwrap();
        assert_eq!(call.request, Request::Reload);
        call.reply
            .send(Response::done("configuration reloaded"))
            .unwrap();
    });
    let server = start(Arc::new(tx)).await;
    assert_eq!(
        call(&server.path, Request::Reload).await,
        Response::done("configuration reloaded")
    );
    actor.await.unwrap();
    match call(&server.path, Request::Status).await {
        Response::Error(e) => assert_eq!(e.code, ErrorCode::Unavailable),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn missing_daemon_exits_3_and_names_the_socket() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nobody-home.sock");
    let (code, out, err) = run_ctl(&path, CtlCommand::Status, false);
    assert_eq!(code, 3);
    assert!(out.is_empty());
    assert!(err.contains(&path.display().to_string()), "{err}");
}

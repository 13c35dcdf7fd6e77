//! The `l2tpagg` binary as an operator runs it: help for every subcommand, usage errors, `ctl`
//! against a control socket served by this test process, `billing` finding (or not) its ledger, and
//! the subcommands that are not wired yet refusing loudly.

mod support;

use std::sync::Arc;

use l2tpagg::ctl::{ErrorCode, Request, Response, Role, SessionRow};
use l2tpagg::runtime::ctl_server::{CtlServer, handler_fn};
use l2tpagg::runtime::shutdown::ShutdownCoordinator;
use support::cli::{ConfigFile, l2tpagg, text};

#[test]
fn help_for_every_subcommand() {
    let top = l2tpagg(&["--help"]);
    assert!(top.status.success());
    let top = text(&top.stdout);
    for sub in ["run", "check", "ctl", "loadgen", "billing"] {
        assert!(top.contains(sub), "--help lacks {sub}: {top}");
    }
    let cases: &[(&[&str], &[&str])] = &[
        (
            &["run", "--help"],
            &["--config <FILE>", "--log-format <FORMAT>", "text", "json"],
        ),
        (&["check", "--help"], &["--config <FILE>"]),
        (
            &["ctl", "--help"],
            &[
                "--socket <PATH>",
                "/run/l2tpagg/ctl.sock",
                "--json",
                "status",
                "tunnels",
                "sessions",
                "subscribers",
                "lines",
                "disconnect",
                "drain",
                "reload",
                "plan",
            ],
        ),
        (
            &["ctl", "sessions", "--help"],
            &["--user <USER>", "--tunnel <TUNNEL_ID>"],
        ),
        (&["ctl", "disconnect", "--help"], &["<SESSION_ID>"]),
        (&["ctl", "drain", "--help"], &["<TUNNEL_ID>"]),
        (
            &["loadgen", "--help"],
            &[
                "--l2tp <ADDR>",
                "--pppoe <IFACE>",
                "--subscribers <N>",
                "--rate <PER_SECOND>",
                "--hold <SECONDS>",
                "--concurrency <N>",
                "--packet-size <BYTES>",
                "--target <ADDR>",
                "--json",
            ],
        ),
        (&["billing", "--help"], &["invoice", "usage"]),
        (
            &["billing", "invoice", "--help"],
            &["--period <YYYY-MM>", "--json", "--csv", "--config <FILE>"],
        ),
        (&["billing", "usage", "--help"], &["--subscriber <USER>"]),
    ];
    for (args, needles) in cases {
        let out = l2tpagg(args);
        assert!(
            out.status.success(),
            "{args:?} failed: {}",
            text(&out.stderr)
        );
        let help = text(&out.stdout);
        for needle in *needles {
            assert!(
                help.contains(needle),
                "{args:?} help lacks {needle:?}:\n{help}"
            );
        }
    }
    let version = l2tpagg(&["--version"]);
    assert_eq!(
        text(&version.stdout).trim(),
        format!("l2tpagg {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &["frobnicate"][..],
        &["ctl"],
        &["ctl", "disconnect"],
        &["ctl", "disconnect", "not-a-number"],
        &["ctl", "drain", "70000"],
        &["check"],
        &["billing", "invoice", "--period", "2026-13"],
        &[
            "billing", "invoice", "--period", "2026-11", "--json", "--csv",
        ],
        &["loadgen", "--pppoe", "veth0", "--l2tp", "127.0.0.1:1702"],
        &["run", "--log-format", "xml"],
    ] {
        let out = l2tpagg(args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(!out.stderr.is_empty(), "{args:?} printed no reason");
    }
}

/// `run` is wired (tests/daemon_*.rs run it as a daemon): a configuration `check` rejects makes
/// it exit 1 with the same messages, before anything is bound.
#[test]
fn run_refuses_an_invalid_configuration_with_checks_messages() {
    let bad = ConfigFile::new("[lns]\nlisten = [\"1.2.3\"]\n");
    let out = bad.run("run");
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!(
            "{}:2:11: lns.listen[0]: invalid address",
            bad.path
        )),
        "{err}"
    );
    assert!(out.stdout.is_empty());
}

/// `billing` is wired: without a ledger it fails for that reason (tests/billing_cli.rs covers
/// invoices and usage reports from a real ledger).
#[test]
fn billing_reads_the_ledger_of_the_configured_state_directory() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("l2tpagg.toml");
    std::fs::write(&config, "[daemon]\nstate_dir = \"state\"\n").unwrap();
    let config = config.to_str().unwrap();
    for (args, name) in [
        (
            &[
                "billing", "invoice", "--period", "2026-11", "--config", config,
            ][..],
            "l2tpagg billing invoice",
        ),
        (
            &[
                "billing",
                "usage",
                "--subscriber",
                "alice",
                "--config",
                config,
            ],
            "l2tpagg billing usage",
        ),
    ] {
        let out = l2tpagg(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = text(&out.stderr);
        assert!(
            err.contains(name)
                && err.contains("no ledger directory found")
                && err.contains(&dir.path().join("state/ledger").display().to_string())
                && !err.contains("not wired yet"),
            "{args:?}: {err}"
        );
        assert!(out.stdout.is_empty());
    }
    std::fs::create_dir_all(dir.path().join("state/ledger")).unwrap();
    let out = l2tpagg(&[
        "billing", "invoice", "--period", "2026-11", "--config", config,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with("Invoice for 2026-11"));
}

#[test]
fn check_accepts_the_example_and_names_file_line_and_key_of_each_error() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/config/l2tpagg.toml");
    let out = l2tpagg(&["check", "--config", example]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    let bad = ConfigFile::new("[lns]\nlisten = [\"1.2.3\"]\nbogus = 1\n");
    let out = bad.run("check");
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    let at = |line: &str| format!("{}:{line}", bad.path);
    assert!(
        err.contains(&format!("{}: lns.listen[0]: invalid address", at("2:11"))),
        "{err}"
    );
    assert!(
        err.contains(&format!("{}: lns.bogus: unknown key `bogus`", at("3:1"))),
        "{err}"
    );

    let out = l2tpagg(&["check", "--config", "/nonexistent.toml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("/nonexistent.toml"));
}

#[test]
fn ctl_without_a_daemon_exits_3_naming_the_socket() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("absent.sock");
    let out = l2tpagg(&["ctl", "--socket", socket.to_str().unwrap(), "status"]);
    assert_eq!(out.status.code(), Some(3));
    let err = text(&out.stderr);
    assert!(err.contains(socket.to_str().unwrap()), "{err}");
}

#[test]
fn ctl_talks_to_a_daemon_socket() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("ctl.sock");
    let coordinator = ShutdownCoordinator::new();
    let server = runtime
        .block_on(async { CtlServer::bind(&socket) })
        .unwrap();
    let handler = handler_fn(|request| async move {
        match request {
            Request::Sessions {
                user: Some(user),
                tunnel: None,
            } => Response::Sessions {
                rows: vec![SessionRow {
                    role: Role::Lns,
                    local_session_id: 5,
                    local_tunnel_id: 9,
                    subscriber: user,
                    state: "established".into(),
                    ..SessionRow::default()
                }],
            },
            Request::Drain { tunnel } => Response::error(
                ErrorCode::Refused,
                format!("tunnel {tunnel} is the last one"),
            ),
            other => Response::error(ErrorCode::BadRequest, format!("unexpected {other:?}")),
        }
    });
    let task = runtime.spawn(server.serve(Arc::clone(&handler), coordinator.listener()));
    let sock = socket.to_str().unwrap();

    // --socket before or after the command, --json after it.
    let out = l2tpagg(&["ctl", "sessions", "--user", "carol@isp", "--socket", sock]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].starts_with("ROLE") && lines[0].contains("SUBSCRIBER"),
        "{table}"
    );
    assert!(
        lines[1].starts_with("lns") && lines[1].contains("carol@isp"),
        "{table}"
    );

    let out = l2tpagg(&[
        "ctl",
        "--socket",
        sock,
        "sessions",
        "--user",
        "carol@isp",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(value["rows"][0]["subscriber"], "carol@isp");
    assert_eq!(value["rows"][0]["local_tunnel_id"], 9);

    let out = l2tpagg(&["ctl", "--socket", sock, "drain", "9"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("refused: tunnel 9 is the last one"),
        "{}",
        text(&out.stderr)
    );

    coordinator.trigger();
    runtime.block_on(task).unwrap();
}

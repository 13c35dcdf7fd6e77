//! The global subscriber as `l2tpagg run` installs it, checked in child processes (a process can
//! install it only once): `--log-format json` writes one JSON object per line on stderr, and
//! journald is chosen only when stderr really is the stream named by JOURNAL_STREAM.

use std::os::unix::fs::MetadataExt;
use std::process::{Command, Stdio};

use l2tpagg::runtime::logging::{self, LogFormat, LogTarget};

fn child(test: &str) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "--ignored",
        "--exact",
        test,
        "--nocapture",
        "--test-threads=1",
    ]);
    cmd.env_remove("RUST_LOG").env_remove("JOURNAL_STREAM");
    cmd
}

#[test]
#[ignore = "run by json_format_writes_json_lines in a child process"]
fn child_logs_json() {
    let target = logging::init(Some(LogFormat::Json), "info").unwrap();
    assert_eq!(target, LogTarget::Stderr(LogFormat::Json));
    let span = tracing::info_span!("tunnel", tunnel_id = 7u16);
    let _entered = span.enter();
    tracing::info!(peer = "192.0.2.1:1701", "tunnel up");
    tracing::debug!("filtered out at the default level");
    // A second installation is refused, not silently ignored.
    assert!(logging::init(Some(LogFormat::Text), "info").is_err());
}

#[test]
fn json_format_writes_json_lines() {
    let output = child("child_logs_json").output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    let event = &lines[0];
    assert_eq!(event["level"], "INFO");
    assert_eq!(event["fields"]["message"], "tunnel up");
    assert_eq!(event["fields"]["peer"], "192.0.2.1:1701");
    assert_eq!(event["span"]["tunnel_id"], 7);
}

#[test]
#[ignore = "run by journal_stream_must_match_stderr in a child process"]
fn child_reports_journal_detection() {
    println!("DETECTED {}", logging::stderr_is_journal());
}

#[test]
fn journal_stream_must_match_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stderr");
    let detect = |journal_stream: Option<String>| {
        let file = std::fs::File::create(&path).unwrap();
        let meta = file.metadata().unwrap();
        let mut cmd = child("child_reports_journal_detection");
        cmd.stderr(Stdio::from(file));
        if let Some(value) = journal_stream {
            cmd.env(
                "JOURNAL_STREAM",
                value
                    .replace("DEV", &meta.dev().to_string())
                    .replace("INO", &meta.ino().to_string()),
            );
        }
        let output = cmd.output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        stdout
            .split_once("DETECTED ")
            .map(|(_, rest)| rest.trim_start().starts_with("true"))
            .unwrap_or_else(|| panic!("{stdout}"))
    };
    assert!(detect(Some("DEV:INO".into())), "matching device and inode");
    assert!(!detect(Some("DEV:1".into())), "another inode");
    assert!(!detect(Some("garbage".into())));
    assert!(!detect(None));
}

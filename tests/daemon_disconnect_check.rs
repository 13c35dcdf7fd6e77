//! Bad disconnect settings through the binary (`l2tpagg check`, and `l2tpagg run`, which refuses
//! to start with the same messages): negative and zero limits, unknown server lists and services,
//! overlapping services, a guard not shorter than a server timeout, a traffic window shorter than
//! the sampling interval, IPv6 servers and two server lists for one session each come out as
//! `FILE:LINE:COL: key: message`, all of them in one run, and the exit status is 1.

mod support;

use support::cli::{ConfigFile, l2tpagg};

const BAD: &str = r#"[disconnect]
sampling_interval = "2s"

[[disconnect.services]]
name = "web"
address = "192.0.2.0/24"
protocol = "tcp"
port = "80-443"
server_idle_timeout = "1m"

[[disconnect.services]]
name = "web-host"
address = "192.0.2.80"
protocol = "tcp"
port = 443
server_idle_timeout = "1m"

[[disconnect.services]]
name = "v6"
address = "2001:db8::80"
protocol = "udp"
port = 443
server_idle_timeout = "1m"

[[disconnect.server_lists]]
name = "cdn"
servers = ["198.51.100.0/24"]

[[disconnect.server_lists]]
name = "mail"
servers = ["203.0.113.25"]

[[disconnect.profiles]]
name = "bad"
session_time = "0s"
idle = { time = "5m", servers = "cdn" }
volume = { to_subscriber_bytes = 0, servers = "mail" }
logins = { per_subscriber = -2 }
traffic = { percent = 80, window = "1s" }
app_timeout = { guard = "1m", services = ["web", "nosuch"] }

[[disconnect.profiles]]
name = "unknown-list"
idle = { time = "5m", servers = "nolist" }
"#;

#[test]
fn check_reports_every_bad_disconnect_setting_with_its_position() {
    let bad = ConfigFile::new(BAD);
    let file = &bad.path;
    let out = bad.run("check");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    for (position, rest) in [
        (
            "13:11",
            "disconnect.services[1].address: service `web-host` (192.0.2.80/32 tcp port 443) overlaps service `web` (192.0.2.0/24 tcp port 80-443)",
        ),
        (
            "20:11",
            "disconnect.services[2].address: must be an IPv4 address or network: the data plane classifies IPv4",
        ),
        (
            "35:16",
            "disconnect.profiles[0].session_time: must be greater than zero",
        ),
        (
            "37:34",
            "disconnect.profiles[0].volume.to_subscriber_bytes: must not be zero",
        ),
        (
            "37:47",
            "disconnect.profiles[0].volume.servers: idle counts server list `cdn` but volume counts `mail`",
        ),
        (
            "38:29",
            "disconnect.profiles[0].logins.per_subscriber: must not be negative: expected 1 to 65535, got -2",
        ),
        (
            "39:36",
            "disconnect.profiles[0].traffic.window: shorter than disconnect.sampling_interval (2s)",
        ),
        (
            "40:25",
            "disconnect.profiles[0].app_timeout.guard: guard 1m is not shorter than service `web`'s server_idle_timeout 1m",
        ),
        (
            "40:50",
            "disconnect.profiles[0].app_timeout.services[1]: unknown service `nosuch`",
        ),
        (
            "44:33",
            "disconnect.profiles[1].idle.servers: unknown server list `nolist`; defined: `cdn`, `mail`",
        ),
    ] {
        let want = format!("{file}:{position}: {rest}");
        assert!(err.contains(&want), "missing {want:?} in:\n{err}");
    }

    // `run` refuses the same file with the same messages and never starts.
    let out = bad.run("run");
    assert_ne!(out.status.code(), Some(0));
    let run_err = String::from_utf8_lossy(&out.stderr);
    assert!(
        run_err.contains(&format!(
            "{file}:35:16: disconnect.profiles[0].session_time: must be greater than zero"
        )),
        "{run_err}"
    );
}

#[test]
fn check_accepts_the_documented_disconnect_examples() {
    for example in ["l2tpagg.toml", "lns-only.toml", "lac-only.toml"] {
        let path = format!("{}/config/{example}", env!("CARGO_MANIFEST_DIR"));
        let out = l2tpagg(&["check", "--config", &path]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{example}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

//! `l2tpagg run` with no configuration file runs the embedded default (config/l2tpagg.toml): an
//! LNS on 127.0.0.1:1701 and a LAC with the dial-in front-end on 127.0.0.1:1702 in one process.
//! Run without root (as `nobody`, in a network namespace the test creates so the fixed ports are
//! free): it says in one line that the TUN device is unavailable and runs the rest; `l2tpagg ctl`
//! without `--socket` finds it; a demo subscriber logs in through LAC and LNS; SIGTERM stops it.

mod support;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use l2tpagg::loadgen::Credentials;
use support::{Daemon, binary, dialin_dialer, netns, wait_for};

const T: Duration = Duration::from_secs(15);
const NOBODY: &[&str] = &[
    "setpriv",
    "--reuid=65534",
    "--regid=65534",
    "--clear-groups",
    "env",
    "-i",
    "PATH=/usr/bin:/bin",
];

#[test]
fn embedded_default_runs_without_root_and_ctl_finds_it() {
    let ns = netns("embedded");
    let socket = PathBuf::from("/tmp/l2tpagg-65534/ctl.sock");
    let mut daemon = Daemon::start_wrapped(
        "embedded",
        Some(ns.name()),
        NOBODY,
        &["run", "--log-format", "json"],
        socket,
    );
    let degraded = daemon.wait_event(
        "TUN unavailable: permission denied opening /dev/net/tun (Permission denied (os error 13); check DeviceAllow= and file mode); running without LNS IP forwarding (sessions still come up; their IP is dropped and counted)",
        T,
        |_| true,
    );
    assert_eq!(degraded["level"], "WARN");

    // `ctl` as the same user, without --socket and without any environment: the auto candidates.
    let ctl = |args: &[&str]| {
        let mut full: Vec<&str> = NOBODY.to_vec();
        full.push(binary());
        full.push("ctl");
        full.extend_from_slice(args);
        Command::new(full[0]).args(&full[1..]).output().unwrap()
    };
    let out = ctl(&["status"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("embedded default"), "{text}");
    assert!(text.contains("lac, lns"), "{text}");
    assert!(text.contains("TUN unavailable"), "{text}");

    ns.block_on(|| async {
        let dialer = dialin_dialer("127.0.0.1:0", "127.0.0.1:1702", T).await;
        let user = dialer
            .dial(Credentials::new("user42", "demo"))
            .await
            .expect("a demo subscriber logs in");
        let addr = user.address();
        assert_eq!(addr.octets()[..2], [100, 64], "{addr} from the demo pool");
        // No TUN: IP is dropped and counted, the session stays.
        user.send_ip(&support::udp_packet(
            addr,
            1,
            "192.0.2.1".parse().unwrap(),
            9,
            b"x",
        ))
        .await
        .expect("the session is up");
        let counted = wait_for(T, || {
            let out = ctl(&["status", "--json"]);
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
            (v["malformed"]["data.no_tun_device"] == 1).then_some(v)
        });
        assert!(counted.is_some(), "IP without a TUN device was not counted");
        let out = ctl(&["sessions", "--json"]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            v["rows"].as_array().unwrap().len(),
            2,
            "LAC and LNS rows: {v}"
        );
        user.logout().await.expect("user42 logs out");
        dialer.close().await.expect("the dialer closes its tunnel");
    })
    .unwrap();

    daemon.signal("TERM");
    assert!(daemon.wait_exit(Duration::from_secs(15)).success());
    assert!(
        !PathBuf::from("/tmp/l2tpagg-65534/ctl.sock").exists(),
        "socket removed on exit"
    );
}

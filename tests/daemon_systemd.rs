//! The daemon under a systemd-like supervisor: READY=1 once its sockets are bound, STATUS=,
//! WATCHDOG=1 pings (only while the actor answers), RELOADING=1 then READY=1 around a SIGHUP,
//! STOPPING=1 on SIGTERM. The notification socket is a datagram socket of the test. Runs in a
//! network namespace the test creates (needs root).

mod support;

use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

use support::{Daemon, daemon_section, netns};

fn config() -> String {
    format!(
        "{}\n[lns]\nlisten = [\"127.0.0.1:1701\"]\nlocal_address = \"100.64.0.1\"\n\
         [lns.tun]\nname = \"l2tps0\"\nmanage_routes = false\n\
         [[lns.peers]]\nname = \"lac\"\naddress = \"127.0.0.1\"\n\
         [[lns.pools]]\nname = \"p\"\nranges = [\"100.64.1.0/24\"]\ndefault = true\n",
        daemon_section(std::path::Path::new("{dir}"))
            .replace("watchdog = false", "watchdog = true")
    )
}

/// Every notification received within `timeout` until `until` holds for one of them.
fn collect(sock: &UnixDatagram, timeout: Duration, until: impl Fn(&str) -> bool) -> Vec<String> {
    let end = Instant::now() + timeout;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < end {
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        if let Ok(n) = sock.recv(&mut buf) {
            let m = String::from_utf8_lossy(&buf[..n]).into_owned();
            let done = until(&m);
            got.push(m);
            if done {
                break;
            }
        }
    }
    got
}

#[test]
fn notifies_ready_watchdog_reloading_and_stopping() {
    let ns = netns("sysd");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&path).unwrap();
    let mut daemon = Daemon::start_with_env(
        "lns",
        Some(ns.name()),
        &config(),
        &[
            ("NOTIFY_SOCKET", path.to_str().unwrap()),
            ("WATCHDOG_USEC", "400000"),
        ],
    );
    let got = collect(&sock, Duration::from_secs(10), |m| m.contains("WATCHDOG=1"));
    let all = got.join("|");
    assert!(all.contains("READY=1"), "{all}");
    assert!(all.contains("STATUS=running: lns"), "{all}");
    assert!(
        all.contains("WATCHDOG=1"),
        "watchdog pings at half of WATCHDOG_USEC: {all}"
    );
    let ready_at = got.iter().position(|m| m.contains("READY=1")).unwrap();
    let ping_at = got.iter().position(|m| m.contains("WATCHDOG=1")).unwrap();
    assert!(ready_at < ping_at, "{all}");

    daemon.signal("HUP");
    let got = collect(&sock, Duration::from_secs(10), |m| m.contains("READY=1"));
    let all = got.join("|");
    assert!(all.contains("RELOADING=1"), "{all}");
    assert!(all.contains("READY=1"), "{all}");

    daemon.signal("TERM");
    let got = collect(&sock, Duration::from_secs(10), |m| m.contains("STOPPING=1"));
    assert!(got.iter().any(|m| m.contains("STOPPING=1")), "{got:?}");
    assert!(daemon.wait_exit(Duration::from_secs(10)).success());
}

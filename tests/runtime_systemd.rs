//! sd-notify against a real datagram socket standing in for systemd, and the unit file checked by
//! `systemd-analyze verify`.

use std::os::unix::net::UnixDatagram as StdDatagram;
use std::time::Duration;

use l2tpagg::runtime::shutdown::ShutdownCoordinator;
use l2tpagg::runtime::systemd::SystemdNotifier;

fn recv_text(socket: &StdDatagram) -> String {
    let mut buf = [0u8; 512];
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let n = socket.recv(&mut buf).expect("a notification");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[test]
fn notifications_reach_the_socket() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify");
    let systemd = StdDatagram::bind(&path).unwrap();
    let notifier = SystemdNotifier::with_socket(path.to_str().unwrap(), None).unwrap();
    assert!(notifier.is_enabled());
    assert_eq!(notifier.watchdog_interval(), None);

    notifier.ready().unwrap();
    assert_eq!(recv_text(&systemd), "READY=1\n");
    notifier.status("2 tunnels\n5 sessions").unwrap();
    assert_eq!(recv_text(&systemd), "STATUS=2 tunnels 5 sessions\n");
    notifier.reloading().unwrap();
    let reloading = recv_text(&systemd);
    assert!(
        reloading.starts_with("RELOADING=1\nMONOTONIC_USEC="),
        "{reloading:?}"
    );
    notifier.stopping().unwrap();
    assert_eq!(recv_text(&systemd), "STOPPING=1\n");
}

#[test]
fn abstract_namespace_sockets_work() {
    use std::os::linux::net::SocketAddrExt;
    let name = format!("l2tpagg-notify-test-{}", std::process::id());
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let systemd = StdDatagram::bind_addr(&addr).unwrap();
    let notifier = SystemdNotifier::with_socket(&format!("@{name}"), None).unwrap();
    notifier.ready().unwrap();
    assert_eq!(recv_text(&systemd), "READY=1\n");
}

#[test]
fn outside_systemd_everything_is_a_no_op() {
    let notifier = SystemdNotifier::disabled();
    assert!(!notifier.is_enabled());
    notifier.ready().unwrap();
    notifier.status("x").unwrap();
    notifier.watchdog_ping().unwrap();
    assert_eq!(notifier.watchdog_interval(), None);
}

#[test]
fn an_unreachable_notify_socket_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    assert!(
        SystemdNotifier::with_socket(dir.path().join("absent").to_str().unwrap(), None).is_err()
    );
}

#[tokio::test(start_paused = true)]
async fn watchdog_pings_at_half_the_timeout_until_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify");
    let systemd = tokio::net::UnixDatagram::bind(&path).unwrap();
    let notifier = std::sync::Arc::new(
        SystemdNotifier::with_socket(path.to_str().unwrap(), Some(Duration::from_secs(30)))
            .unwrap(),
    );
    assert_eq!(notifier.watchdog_interval(), Some(Duration::from_secs(15)));
    let coordinator = ShutdownCoordinator::new();
    let task = {
        let notifier = notifier.clone();
        let listener = coordinator.listener();
        tokio::spawn(async move { notifier.run_watchdog(listener).await })
    };
    let start = tokio::time::Instant::now();
    let mut buf = [0u8; 64];
    for expected in [0u64, 15, 30, 45] {
        let n = systemd.recv(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"WATCHDOG=1\n");
        assert_eq!(start.elapsed(), Duration::from_secs(expected));
    }
    coordinator.trigger();
    task.await.unwrap();
    // No ping after shutdown.
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(
        systemd.try_recv(&mut buf).unwrap_err().kind(),
        std::io::ErrorKind::WouldBlock
    );
}

#[test]
fn unit_file_passes_systemd_analyze_verify() {
    let unit = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/config/l2tpagg.service"
    ))
    .unwrap();
    for needed in [
        "Type=notify",
        "NotifyAccess=main",
        "ExecStart=/usr/bin/l2tpagg run --config /etc/l2tpagg/l2tpagg.toml",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "WatchdogSec=",
        "Restart=on-failure",
        "StateDirectory=l2tpagg",
        "RuntimeDirectory=l2tpagg",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_RAW CAP_NET_BIND_SERVICE",
        "DeviceAllow=/dev/net/tun rw",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX AF_PACKET AF_NETLINK",
    ] {
        assert!(unit.contains(needed), "unit lacks {needed:?}");
    }
    // verify checks that ExecStart's binary exists: point it at the one cargo built.
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("l2tpagg.service");
    std::fs::write(
        &copy,
        unit.replace("/usr/bin/l2tpagg", env!("CARGO_BIN_EXE_l2tpagg")),
    )
    .unwrap();
    let output = std::process::Command::new("systemd-analyze")
        .arg("verify")
        .arg(&copy)
        .output()
        .unwrap_or_else(|e| {
            panic!("systemd-analyze is needed for this test (apt-get install systemd): {e}")
        });
    let stderr = String::from_utf8_lossy(&output.stderr);
    // verify exits 0 on unknown keys and only warns, so any output is a failure too.
    assert!(
        output.status.success() && stderr.trim().is_empty(),
        "systemd-analyze verify: {stderr}"
    );
}

//! Privilege probes: as root both facilities are available; in a child process whose capability
//! bounding set lacks CAP_NET_ADMIN and CAP_NET_RAW (via setpriv(1)), each probe says why not, in
//! the one-line form the daemon logs.

use std::process::Command;

use l2tpagg::runtime::privileges::{
    effective_capabilities, probe_packet, probe_tun, unavailable_line,
};

#[test]
fn as_root_tun_and_packet_sockets_are_available() {
    let caps = effective_capabilities().unwrap();
    assert!(
        caps & (1 << 12) != 0,
        "this test needs root (CAP_NET_ADMIN); CapEff={caps:x}"
    );
    probe_tun().expect("TUN available as root");
    probe_packet().expect("AF_PACKET available as root");
}

#[test]
#[ignore = "run by without_capabilities_each_probe_says_why in a child process without capabilities"]
fn child_reports_probes() {
    let tun = probe_tun().map_or_else(
        |why| unavailable_line("TUN", &why, "LNS IP forwarding"),
        |()| "TUN ok".into(),
    );
    let packet = probe_packet().map_or_else(
        |why| unavailable_line("AF_PACKET", &why, "PPPoE"),
        |()| "AF_PACKET ok".into(),
    );
    println!("PROBE {tun}");
    println!("PROBE {packet}");
}

#[test]
fn without_capabilities_each_probe_says_why() {
    let exe = std::env::current_exe().unwrap();
    let output = Command::new("setpriv")
        .args(["--bounding-set", "-net_admin,-net_raw", "--"])
        .arg(exe)
        .args([
            "--ignored",
            "--exact",
            "child_reports_probes",
            "--nocapture",
            "--test-threads=1",
        ])
        .output()
        .unwrap_or_else(|e| panic!("this test needs setpriv (util-linux): {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "child failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let probes: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.split_once("PROBE ").map(|(_, probe)| probe))
        .collect();
    assert_eq!(
        probes,
        [
            "TUN unavailable: CAP_NET_ADMIN is not in the effective capability set (needed to create the \
             device and routes); running without LNS IP forwarding",
            "AF_PACKET unavailable: cannot open an AF_PACKET socket (Operation not permitted (os error 1); \
             needs CAP_NET_RAW); running without PPPoE",
        ],
        "{stdout}"
    );
}

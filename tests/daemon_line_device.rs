//! `lac.lines[].device` is applied (SO_BINDTODEVICE on the line's UDP socket): a LAC whose line
//! names a veth device reaches its LNS through that device even though the routing table sends
//! the LNS's address elsewhere, and a line naming a device that does not exist stops the start
//! with a message naming the key, the line and the device. Real processes in network namespaces
//! the test creates; needs root.

mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use support::{Auth, Daemon, DialinClient, binary, daemon_section, netns, wait_for};

const T: Duration = Duration::from_secs(20);
const LAC_IP: &str = "10.77.0.1";
const LNS_IP: &str = "10.77.0.2";

fn subscribers() -> &'static str {
    "[[subscriber_range]]\nprefix = \"user\"\nfirst = 1\ncount = 2\nsecret = \"demo\"\n"
}

fn lac_config(device: &str) -> String {
    format!(
        "{}\n[lac]\nsetup_timeout = \"5s\"\n\
         [[lac.lines]]\nname = \"uplink\"\nbind = \"{LAC_IP}\"\ndevice = \"{device}\"\ncapacity = \"1G\"\n\
         [[lac.peers]]\nname = \"lns\"\naddress = \"{LNS_IP}:1701\"\nrealms = [\"*\"]\n\
         [lac.dialin]\nlisten = [\"127.0.0.1:11802\"]\n\
         [[lac.dialin.peers]]\nname = \"cpe\"\naddress = \"127.0.0.1\"\n{}",
        daemon_section(std::path::Path::new("{dir}")),
        subscribers()
    )
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_line_bound_to_its_device_reaches_the_lns_through_it() {
    let lac_ns = netns("ldev-lac");
    let lns_ns = netns("ldev-lns");
    let id = std::process::id() % 100_000;
    let (uplink, far) = (format!("ldu{id}"), format!("ldf{id}"));
    let (decoy, decoy_peer) = (format!("ldx{id}"), format!("ldy{id}"));
    ip(&[
        "link",
        "add",
        &uplink,
        "netns",
        lac_ns.name(),
        "type",
        "veth",
        "peer",
        "name",
        &far,
        "netns",
        lns_ns.name(),
    ]);
    ip(&[
        "-n",
        lac_ns.name(),
        "link",
        "add",
        &decoy,
        "type",
        "veth",
        "peer",
        "name",
        &decoy_peer,
    ]);
    for dev in [&uplink, &decoy, &decoy_peer] {
        lac_ns.ip(&["link", "set", dev, "up"]).unwrap();
    }
    lns_ns.ip(&["link", "set", &far, "up"]).unwrap();
    lac_ns
        .ip(&["addr", "add", &format!("{LAC_IP}/24"), "dev", &uplink])
        .unwrap();
    lns_ns
        .ip(&["addr", "add", &format!("{LNS_IP}/24"), "dev", &far])
        .unwrap();
    // The routing table sends the LNS's address into the decoy, where nothing answers: only a
    // socket bound to the uplink device gets there. Reverse-path filtering would drop the LNS's
    // replies on the uplink (its address routes elsewhere), so it is off in the LAC's namespace.
    lac_ns
        .ip(&["route", "add", &format!("{LNS_IP}/32"), "dev", &decoy])
        .unwrap();
    let sysctl = format!(
        "echo 0 > /proc/sys/net/ipv4/conf/all/rp_filter && echo 0 > /proc/sys/net/ipv4/conf/{uplink}/rp_filter"
    );
    let st = Command::new("ip")
        .args(["netns", "exec", lac_ns.name(), "sh", "-c", &sysctl])
        .status()
        .unwrap();
    assert!(st.success(), "cannot turn rp_filter off");

    let lns = Daemon::start(
        "lns",
        Some(lns_ns.name()),
        &format!(
            "{}\n[lns]\nlisten = [\"{LNS_IP}:1701\"]\nlocal_address = \"100.64.0.1\"\n\
             [lns.tun]\nname = \"l2tpd0\"\nmanage_routes = false\n\
             [[lns.peers]]\nname = \"lac\"\naddress = \"{LAC_IP}\"\n\
             [[lns.pools]]\nname = \"p\"\nranges = [\"100.64.7.0/24\"]\ndefault = true\n{}",
            daemon_section(std::path::Path::new("{dir}")),
            subscribers()
        ),
    );
    let lac = Daemon::start("lac", Some(lac_ns.name()), &lac_config(&uplink));
    lac.wait_event("line bound to its device", T, |e| {
        e["fields"]["line"] == "uplink" && e["fields"]["device"] == uplink.as_str()
    });
    lac_ns
        .block_on(|| async {
            let mut client = DialinClient::new(
                "127.0.0.1:0".parse().unwrap(),
                "127.0.0.1:11802".parse().unwrap(),
            )
            .await;
            client
                .open_tunnel(Default::default(), T)
                .await
                .expect("dial-in tunnel");
            let (_, addr) = client
                .login("user1", "demo", Auth::Pap, T)
                .await
                .expect("user1 reaches the LNS over the line's device");
            assert_eq!(addr.octets()[..3], [100, 64, 7]);
        })
        .unwrap();
    lac.wait_event("session up", T, |e| e["fields"]["subscriber"] == "user1");
    lns.wait_event("session up", T, |e| e["fields"]["subscriber"] == "user1");
}

#[test]
fn a_line_naming_a_missing_device_stops_the_start_with_the_reason() {
    let ns = netns("ldev-missing");
    ns.ip(&["addr", "add", &format!("{LAC_IP}/32"), "dev", "lo"])
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = lac_config("nosuchdev0").replace("{dir}", &dir.path().display().to_string());
    let path = dir.path().join("l2tpagg.toml");
    std::fs::write(&path, config).unwrap();
    let log_path = dir.path().join("log.jsonl");
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns.name(), binary(), "run", "--config"])
        .arg(&path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .env_remove("RUST_LOG")
        .env_remove("NOTIFY_SOCKET")
        .spawn()
        .expect("spawn l2tpagg run");
    let status = wait_for(T, || child.try_wait().ok().flatten());
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("l2tpagg run with a missing line device kept running:\n{log}");
    };
    assert!(!status.success(), "exit status {status}:\n{log}");
    assert!(!log.contains("l2tpagg running"), "{log}");
    for needle in [
        "lac.lines[0].device",
        "line `uplink`",
        "nosuchdev0",
        "no such network device",
    ] {
        assert!(log.contains(needle), "{needle:?} missing from:\n{log}");
    }
}

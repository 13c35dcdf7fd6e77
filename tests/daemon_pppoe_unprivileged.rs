//! PPPoE configured but no privilege to open AF_PACKET sockets (CAP_NET_RAW dropped from the
//! bounding set with setpriv(1)): the daemon says so in one line naming the facility and why,
//! `ctl status` lists it as degraded, and everything else runs (TUN, LNS, LAC, dial-in: a
//! subscriber logs in). Needs root (the namespace; it drops the capability itself).

mod support;

use std::time::Duration;

use l2tpagg::loadgen::Credentials;
use support::{Daemon, daemon_section, dialin_dialer, netns};

const T: Duration = Duration::from_secs(15);

#[test]
fn without_cap_net_raw_pppoe_is_off_and_the_rest_runs() {
    let ns = netns("pppoe-noraw");
    ns.ip(&[
        "link", "add", "acc0", "type", "veth", "peer", "name", "acc1",
    ])
    .unwrap();
    ns.ip(&["link", "set", "acc0", "up"]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "{daemon}\n\
         [lns]\nlisten = [\"127.0.0.1:1701\"]\nlocal_address = \"100.64.0.1\"\n\
         [lns.tun]\nname = \"l2tpn0\"\nmanage_routes = false\n\
         [[lns.peers]]\nname = \"self\"\naddress = \"127.0.0.1\"\n\
         [[lns.pools]]\nname = \"subs\"\nranges = [\"100.64.1.0/24\"]\ndefault = true\n\
         [lac]\n\
         [[lac.lines]]\nname = \"lo\"\nbind = \"127.0.0.1\"\ncapacity = \"1G\"\n\
         [[lac.peers]]\nname = \"lns\"\naddress = \"127.0.0.1:1701\"\nrealms = [\"*\"]\n\
         [lac.pppoe]\ninterfaces = [\"acc0\"]\n\
         [lac.dialin]\nlisten = [\"127.0.0.1:1702\"]\n\
         [[lac.dialin.peers]]\nname = \"cpe\"\naddress = \"127.0.0.1\"\n\
         [[subscriber_range]]\nprefix = \"user\"\nfirst = 1\ncount = 10\nsecret = \"demo\"\n",
        daemon = daemon_section(dir.path()),
    );
    let config_path = dir.path().join("l2tpagg.toml");
    std::fs::write(&config_path, config).unwrap();
    let mut daemon = Daemon::start_wrapped(
        "noraw",
        Some(ns.name()),
        &["setpriv", "--bounding-set", "-net_raw", "--"],
        &["run", "--config", &config_path.display().to_string()],
        dir.path().join("ctl.sock"),
    );
    let line = "AF_PACKET unavailable: cannot open an AF_PACKET socket (Operation not permitted \
                (os error 1); needs CAP_NET_RAW); running without the PPPoE front-end";
    let degraded = daemon.wait_event(line, T, |_| true);
    assert_eq!(degraded["level"], "WARN");
    assert_eq!(
        daemon.events(line).len(),
        1,
        "one line, not one per interface"
    );
    let running = daemon.wait_event("l2tpagg running", T, |_| true);
    assert_eq!(running["fields"]["roles"], "lns,lac,dialin", "{running}");
    let status = daemon.ctl_json(&["status"]);
    assert_eq!(status["degraded"][0], line, "{status}");
    assert!(
        daemon.events("TUN device up").len() == 1,
        "TUN still comes up"
    );

    ns.block_on(|| async {
        let dialer = dialin_dialer("127.0.0.1:0", "127.0.0.1:1702", T).await;
        let _user1 = dialer
            .dial(Credentials::new("user1", "demo"))
            .await
            .expect("a dial-in subscriber logs in without PPPoE");
        dialer.close().await.expect("the dialer closes its tunnel");
    })
    .unwrap();
    daemon.signal("TERM");
    assert!(daemon.wait_exit(Duration::from_secs(10)).success());
}

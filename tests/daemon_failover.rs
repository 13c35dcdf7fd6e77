//! The LAC picks LNS peers by preference and falls back when one refuses (StopCCN) or does not
//! answer (setup timeout), holding each failed peer down so the next login goes straight to one
//! that works. Real processes in a network namespace the test creates; needs root.

mod support;

use std::time::Duration;

use l2tpagg::loadgen::{AuthChoice, Credentials};
use support::{Daemon, daemon_section, dialin_dialer, netns};

const T: Duration = Duration::from_secs(20);

fn subscribers() -> &'static str {
    "[[subscriber_range]]\nprefix = \"user\"\nfirst = 1\ncount = 10\nsecret = \"demo\"\n"
}

fn lns(port: u16, tun: &str, peer_hostname: Option<&str>) -> String {
    format!(
        "{}\n[lns]\nlisten = [\"127.0.0.1:{port}\"]\nlocal_address = \"100.64.0.1\"\n\
         [lns.tun]\nname = \"{tun}\"\nmanage_routes = false\n\
         [[lns.peers]]\nname = \"lac\"\naddress = \"127.0.0.1\"\n{}\
         [[lns.pools]]\nname = \"p\"\nranges = [\"100.64.3.0/24\"]\ndefault = true\n{}",
        daemon_section(std::path::Path::new("{dir}")),
        peer_hostname.map_or(String::new(), |h| format!("hostname = \"{h}\"\n")),
        subscribers()
    )
}

#[test]
fn a_refusing_peer_and_a_silent_peer_are_held_down_and_the_next_one_serves() {
    let ns = netns("failover");
    // Refuses every tunnel: it wants a host name our LAC does not send.
    let _refuser = Daemon::start(
        "refuser",
        Some(ns.name()),
        &lns(11720, "l2tpf0", Some("not-us")),
    );
    let live = Daemon::start("live", Some(ns.name()), &lns(11722, "l2tpf1", None));
    // Nothing listens on 11721: the "silent" peer never answers.
    let lac_config = |peers: &str| {
        format!(
            "{}\n[lac]\nsetup_timeout = \"1s\"\nhold_down = \"1h\"\n\
             [[lac.lines]]\nname = \"lo\"\nbind = \"127.0.0.1\"\ncapacity = \"10G\"\n{peers}\
             [lac.dialin]\nlisten = [\"127.0.0.1:11702\"]\n\
             [[lac.dialin.peers]]\nname = \"cpe\"\naddress = \"127.0.0.1\"\n{}",
            daemon_section(std::path::Path::new("{dir}")),
            subscribers()
        )
    };
    let peer = |name: &str, port: u16, preference: u32| {
        format!(
            "[[lac.peers]]\nname = \"{name}\"\naddress = \"127.0.0.1:{port}\"\nrealms = [\"*\"]\npreference = {preference}\n"
        )
    };
    let lac = Daemon::start(
        "lac",
        Some(ns.name()),
        &lac_config(&format!(
            "{}{}{}",
            peer("refuser", 11720, 10),
            peer("silent", 11721, 20),
            peer("live", 11722, 30)
        )),
    );
    ns.block_on(|| async {
        let dialer = dialin_dialer("127.0.0.1:0", "127.0.0.1:11702", T).await;
        let pap = |name: &str| Credentials::new(name, "demo").with_auth(AuthChoice::Pap);
        let user1 = dialer
            .dial(pap("user1"))
            .await
            .expect("user1 ends up on the live LNS");
        assert_eq!(user1.address().octets()[..3], [100, 64, 3]);
        let held = |peer: &str| {
            lac.events("peer refused or unreachable; holding it down")
                .iter()
                .any(|e| e["fields"]["peer"] == peer)
        };
        assert!(
            held("refuser"),
            "refusing peer not held down:\n{}",
            lac.log()
        );
        assert!(held("silent"), "silent peer not held down:\n{}", lac.log());
        let refused = lac.wait_event("tunnel setup failed", T, |e| {
            e["fields"]["peer"] == "refuser"
        });
        assert!(
            refused["fields"]["cause"]
                .as_str()
                .unwrap()
                .contains("StopCCN 4"),
            "{refused}"
        );
        lac.wait_event("tunnel setup failed", T, |e| {
            e["fields"]["peer"] == "silent" && e["fields"]["cause"] == "tunnel setup timed out"
        });
        lac.wait_event("session up", T, |e| {
            e["fields"]["peer"] == "live" && e["fields"]["subscriber"] == "user1"
        });
        live.wait_event("session up", T, |e| e["fields"]["subscriber"] == "user1");

        // Both failed peers are held down: the next login goes straight to the live one.
        let opened = |peer: &str| {
            lac.events("opening tunnel")
                .iter()
                .filter(|e| e["fields"]["peer"] == peer)
                .count()
        };
        let _user2 = dialer.dial(pap("user2")).await.expect("user2 logs in");
        assert_eq!(opened("refuser"), 1);
        assert_eq!(opened("silent"), 1);
        assert_eq!(opened("live"), 1, "user2 shares the live tunnel");
        assert_eq!(live.rows(&["sessions"]).len(), 2);

        // A reload that reorders the peers and adds one: the planner keeps each peer's identity
        // by name, the live tunnel keeps its name and sessions, held-down peers stay held down.
        lac.write_config(&lac_config(&format!(
            "{}{}{}{}",
            peer("live", 11722, 30),
            peer("extra", 11723, 40),
            peer("silent", 11721, 20),
            peer("refuser", 11720, 10)
        )));
        let out = lac.ctl(&["reload"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let _user3 = dialer
            .dial(pap("user3"))
            .await
            .expect("user3 logs in after the reload");
        assert_eq!(opened("live"), 1, "user3 shares the live tunnel");
        assert_eq!(opened("refuser") + opened("silent") + opened("extra"), 2);
        let tunnels = lac.rows(&["tunnels"]);
        let live_tunnel = tunnels
            .iter()
            .find(|t| t["peer_name"] == "live")
            .expect("the live tunnel keeps its peer name");
        assert_eq!(live_tunnel["sessions"], 3);
        assert_eq!(live.rows(&["sessions"]).len(), 3);
    })
    .unwrap();
}

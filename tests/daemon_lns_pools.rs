//! LNS termination details through real processes (LAC and LNS in a network namespace the test
//! creates; needs root): tunnel secrets with hidden AVPs (a LAC peer entry with the wrong secret
//! fails tunnel authentication, is held down, and the right one serves), an exhausted pool
//! refuses the session with a clear cause, a static address is handed to its subscriber.

mod support;

use std::net::Ipv4Addr;
use std::time::Duration;

use support::{Auth, Daemon, DialinClient, daemon_section, netns};

const T: Duration = Duration::from_secs(15);

fn subscribers() -> &'static str {
    "[[subscriber]]\nname = \"alice\"\nsecret = \"a\"\n\
     [[subscriber]]\nname = \"bob\"\nsecret = \"b\"\n\
     [[subscriber]]\nname = \"carol\"\nsecret = \"c\"\naddress = \"192.0.2.77\"\n"
}

#[test]
fn secrets_static_addresses_and_an_exhausted_pool() {
    let ns = netns("pools");
    let lns_config = |extra: &str| {
        format!(
            "{}\n[l2tp]\nhide_avps = true\n\
             [lns]\nlisten = [\"127.0.0.1:1701\"]\nlocal_address = \"100.64.0.1\"\n\
             [lns.tun]\nname = \"l2tpp0\"\n\
             [[lns.peers]]\nname = \"lac\"\naddress = \"127.0.0.1\"\nsecret = \"right\"\n\
             [[lns.pools]]\nname = \"tiny\"\nranges = [\"100.64.9.9\"]\ndefault = true\n{extra}{}",
            daemon_section(std::path::Path::new("{dir}")),
            subscribers()
        )
    };
    let lns = Daemon::start("lns", Some(ns.name()), &lns_config(""));
    let lac = Daemon::start(
        "lac",
        Some(ns.name()),
        &format!(
            "{}\n[l2tp]\nhide_avps = true\n\
             [lac]\n\
             [[lac.lines]]\nname = \"lo\"\nbind = \"127.0.0.1\"\ncapacity = \"10G\"\n\
             [[lac.peers]]\nname = \"wrong\"\naddress = \"127.0.0.1:1701\"\nrealms = [\"*\"]\npreference = 1\nsecret = \"wrong\"\n\
             [[lac.peers]]\nname = \"right\"\naddress = \"127.0.0.1:1701\"\nrealms = [\"*\"]\npreference = 2\nsecret = \"right\"\n\
             [lac.dialin]\nlisten = [\"127.0.0.1:1702\"]\n\
             [[lac.dialin.peers]]\nname = \"cpe\"\naddress = \"127.0.0.1\"\n{}",
            daemon_section(std::path::Path::new("{dir}")),
            subscribers()
        ),
    );
    let routes = ns.ip(&["-4", "route", "show", "dev", "l2tpp0"]).unwrap();
    assert!(
        routes.contains("100.64.9.9") && routes.contains("192.0.2.77"),
        "{routes}"
    );
    ns.block_on(|| async {
        let mut client = DialinClient::connect("127.0.0.1:0", "127.0.0.1:1702", T).await;
        let (_, a) = client
            .login("alice", "a", Auth::Chap, T)
            .await
            .expect("alice");
        assert_eq!(a, Ipv4Addr::new(100, 64, 9, 9));
        let failed = lac.wait_event("tunnel setup failed", T, |e| e["fields"]["peer"] == "wrong");
        let cause = failed["fields"]["cause"].as_str().unwrap().to_owned();
        assert!(
            cause.contains("StopCCN 4") || cause.contains("authentication"),
            "{cause}"
        );
        lac.wait_event("peer refused or unreachable; holding it down", T, |e| {
            e["fields"]["peer"] == "wrong"
        });

        // The pool's only address is taken: bob is refused with a clear cause.
        let bob = client.dial("bob", "b", Auth::Chap);
        assert!(client.wait_down(bob, T).await, "bob not refused");
        let refused = lns.wait_event("session refused: no address", T, |e| {
            e["fields"]["subscriber"] == "bob"
        });
        assert_eq!(
            refused["fields"]["reason"],
            "address pool \"tiny\" exhausted"
        );
        lac.wait_event("session down", T, |e| {
            e["fields"]["subscriber"] == "bob"
                && e["fields"]["cause"]
                    .as_str()
                    .unwrap_or("")
                    .contains("exhausted")
        });

        // A static address is the subscriber's own.
        let (_, c) = client
            .login("carol", "c", Auth::Pap, T)
            .await
            .expect("carol");
        assert_eq!(c, Ipv4Addr::new(192, 0, 2, 77));
        let rows = lns.rows(&["sessions"]);
        assert_eq!(rows.len(), 2, "{rows:?}");

        // A pool added by a reload gets its route; live sessions stay.
        lns.write_config(&lns_config(
            "[[lns.pools]]\nname = \"extra\"\nranges = [\"100.64.10.0/30\"]\n",
        ));
        let out = lns.ctl(&["reload"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let routes = ns.ip(&["-4", "route", "show", "dev", "l2tpp0"]).unwrap();
        assert!(routes.contains("100.64.10.0/30"), "{routes}");
        assert_eq!(lns.rows(&["sessions"]).len(), 2);
    })
    .unwrap();
}

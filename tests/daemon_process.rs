//! Two real `l2tpagg run` processes, an LNS and a LAC, on the loopback of a network namespace the
//! test creates: a subscriber's LAC (the test's client) dials into the LAC's dial-in front-end,
//! the LAC authenticates, opens a tunnel to the LNS and proxies LCP/authentication; the LNS
//! assigns addresses. `ctl` shows it all in text and JSON; SIGHUP applies a good configuration
//! and refuses a bad one without dropping a session; SIGTERM tears down with CDN/StopCCN that the
//! peer logs. Needs root (the namespace).

mod support;

use std::time::Duration;

use support::{Auth, Daemon, DialinClient, daemon_section, netns};

const LNS_PORT: u16 = 11701;
const DIALIN_PORT: u16 = 11702;
const T: Duration = Duration::from_secs(15);

fn subscribers() -> &'static str {
    "[[subscriber]]\nname = \"alice@example.net\"\nsecret = \"wonderland\"\n\
     [[subscriber_range]]\nprefix = \"user\"\nfirst = 1\ncount = 1000\nsecret = \"demo\"\n"
}

pub fn lns_config(tun: &str, extra_subscribers: &str) -> String {
    format!(
        "{daemon}\n[lns]\nlisten = [\"127.0.0.1:{LNS_PORT}\"]\nlocal_address = \"100.64.0.1\"\n\
         [lns.tun]\nname = \"{tun}\"\n\
         [[lns.peers]]\nname = \"lac\"\naddress = \"127.0.0.0/8\"\n\
         [[lns.pools]]\nname = \"p\"\nranges = [\"100.64.1.0/24\"]\ndefault = true\n\
         {subs}{extra_subscribers}",
        daemon = daemon_section(std::path::Path::new("{dir}")),
        subs = subscribers(),
    )
}

pub fn lac_config(extra_subscribers: &str) -> String {
    format!(
        "{daemon}\n[lac]\nsetup_timeout = \"3s\"\nempty_tunnel_linger = \"1s\"\n\
         [[lac.lines]]\nname = \"lo\"\nbind = \"127.0.0.1\"\ncapacity = \"10G\"\n\
         [[lac.peers]]\nname = \"lns\"\naddress = \"127.0.0.1:{LNS_PORT}\"\nrealms = [\"*\"]\n\
         [lac.dialin]\nlisten = [\"127.0.0.1:{DIALIN_PORT}\"]\n\
         [[lac.dialin.peers]]\nname = \"cpe\"\naddress = \"127.0.0.0/8\"\n\
         {subs}{extra_subscribers}",
        daemon = daemon_section(std::path::Path::new("{dir}")),
        subs = subscribers(),
    )
}

fn text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn lac_and_lns_processes_bring_up_sessions_reload_and_stop_cleanly() {
    let ns = netns("proc");
    let lns = Daemon::start("lns", Some(ns.name()), &lns_config("l2tpt0", ""));
    let mut lac = Daemon::start("lac", Some(ns.name()), &lac_config(""));

    ns.block_on(|| async {
        let server = format!("127.0.0.1:{DIALIN_PORT}");
        let mut client = DialinClient::connect("127.0.0.1:0", &server, T).await;
        let (alice, alice_addr) = client
            .login("alice@example.net", "wonderland", Auth::Chap, T)
            .await
            .expect("alice logs in with CHAP");
        let (user7, user7_addr) = client
            .login("user7", "demo", Auth::Pap, T)
            .await
            .expect("user7 logs in with PAP");
        assert_ne!(alice_addr, user7_addr);
        for a in [alice_addr, user7_addr] {
            assert!(
                a.octets()[..3] == [100, 64, 1],
                "{a} is not from the pool 100.64.1.0/24"
            );
        }

        // A wrong password is refused by the LAC, which logs the name and the reason only.
        let bad = client.dial("user8", "not-the-password", Auth::Pap);
        assert!(client.wait_down(bad, T).await, "bad login not refused");
        let failed = lac.wait_event("login failed", T, |e| e["fields"]["subscriber"] == "user8");
        assert_eq!(failed["fields"]["reason"], "wrong PAP password");
        assert!(!lac.log().contains("not-the-password"), "password logged");

        // ctl on both sides, JSON and text.
        let lns_sessions = lns.wait_rows(&["sessions"], T, |r| r.len() == 2);
        let mut names: Vec<&str> = lns_sessions
            .iter()
            .map(|r| r["subscriber"].as_str().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["alice@example.net", "user7"]);
        for r in &lns_sessions {
            assert_eq!(r["role"], "lns");
            assert_eq!(r["state"], "established");
            let addr = r["address"].as_str().unwrap();
            assert!(addr == alice_addr.to_string() || addr == user7_addr.to_string());
        }
        let lac_sessions = lac.rows(&["sessions"]);
        assert_eq!(lac_sessions.len(), 2, "{lac_sessions:?}");
        assert!(
            lac_sessions
                .iter()
                .all(|r| r["access"] == "l2tp" && r["state"] == "established")
        );
        let lac_tunnels = lac.rows(&["tunnels"]);
        let toward_lns: Vec<_> = lac_tunnels
            .iter()
            .filter(|t| t["peer_name"] == "lns")
            .collect();
        assert_eq!(
            toward_lns.len(),
            1,
            "both sessions share one tunnel: {lac_tunnels:?}"
        );
        assert_eq!(toward_lns[0]["state"], "established");
        assert_eq!(toward_lns[0]["sessions"], 2);
        assert_eq!(toward_lns[0]["line"], "lo");
        let lns_tunnels = lns.rows(&["tunnels"]);
        assert_eq!(lns_tunnels.len(), 1);
        assert_eq!(lns_tunnels[0]["peer_name"], "lac");
        assert_eq!(
            lns_tunnels[0]["peer_tunnel_id"],
            toward_lns[0]["local_tunnel_id"]
        );
        let plan = lac.ctl_json(&["plan"]);
        assert_eq!(plan["tunnels_in_use"], 1, "{plan}");
        assert_eq!(plan["lines_in_use"], 1, "{plan}");
        let status = lac.ctl_json(&["status"]);
        assert_eq!(status["sessions"], 2);
        assert_eq!(status["roles"], serde_json::json!(["lac"]));
        let lns_status = lns.ctl_json(&["status"]);
        assert_eq!(lns_status["roles"], serde_json::json!(["lns"]));
        assert_eq!(lns_status["active_subscribers"], 2);
        let table = text(&lns.ctl(&["sessions"]));
        assert!(
            table.contains("alice@example.net") && table.contains("user7"),
            "{table}"
        );
        assert!(table.contains(&alice_addr.to_string()), "{table}");
        let by_user = lns.rows(&["sessions", "--user", "user7"]);
        assert_eq!(by_user.len(), 1);
        let lines = text(&lac.ctl(&["lines"]));
        assert!(lines.contains("lo"), "{lines}");
        let subs = lns.rows(&["subscribers"]);
        assert!(
            subs.iter()
                .any(|s| s["name"] == "alice@example.net" && s["active_sessions"] == 1)
        );

        // Lifecycle log lines with their fields.
        let up = lns.wait_event("session up", T, |e| {
            e["fields"]["subscriber"] == "alice@example.net"
        });
        assert_eq!(up["fields"]["address"], alice_addr.to_string());
        assert_eq!(
            up["fields"]["proxied"], true,
            "LNS took over the LAC's proxy LCP/auth"
        );
        lac.wait_event("tunnel up", T, |e| {
            e["fields"]["peer"] == "lns" && e["fields"]["line"] == "lo"
        });

        // SIGHUP with a good config: a new subscriber can log in, nobody is dropped.
        let carol = "[[subscriber]]\nname = \"carol\"\nsecret = \"c4r0l\"\n";
        lac.write_config(&lac_config(carol));
        lac.signal("HUP");
        lac.wait_event("config reloaded", T, |_| true);
        let lns_with_carol = lns_config("l2tpt0", carol);
        lns.write_config(&lns_with_carol);
        let out = lns.ctl(&["reload"]);
        assert!(out.status.success(), "{}", text(&out));
        let (_carol, _) = client
            .login("carol", "c4r0l", Auth::Chap, T)
            .await
            .expect("carol logs in after the reload");
        assert_eq!(lns.rows(&["sessions"]).len(), 3);

        // A bad config is refused with check's messages; the old one stays.
        lac.write_config("[lac]\nbogus_key = 1\n");
        lac.signal("HUP");
        let refused = lac.wait_event(
            "config reload refused; the running configuration stays",
            T,
            |_| true,
        );
        let errors = refused["fields"]["errors"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(
            errors.contains("l2tpagg.toml:2:1: lac.bogus_key"),
            "{errors}"
        );
        let out = lac.ctl(&["reload"]);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        assert!(text(&out).contains("lac.bogus_key"), "{}", text(&out));
        assert_eq!(lac.rows(&["sessions"]).len(), 3, "sessions kept");
        lac.write_config(&lac_config(carol));

        // ctl disconnect on the LNS: LCP Terminate and CDN; the subscriber's session ends.
        let row = lns
            .rows(&["sessions", "--user", "user7"])
            .pop()
            .expect("user7 row");
        let id = row["local_session_id"].as_u64().unwrap().to_string();
        let out = lns.ctl(&["disconnect", &id]);
        assert!(out.status.success(), "{}", text(&out));
        assert!(client.wait_down(user7, T).await, "user7 not torn down");
        lac.wait_event("session down", T, |e| e["fields"]["subscriber"] == "user7");
        lns.wait_rows(&["sessions"], T, |r| r.len() == 2);

        // SIGTERM the LAC: CDN for every session, StopCCN for every tunnel, exit 0; the LNS
        // logs both, and so does the subscriber's LAC.
        lac.signal("TERM");
        // Keep the subscriber's LAC answering (it acknowledges the StopCCN) while the LAC stops.
        assert!(
            client.drive_until(T, |c| c.tunnel_down.is_some()).await,
            "the subscriber's LAC saw no StopCCN: {:?}",
            client.events
        );
        client
            .drive_until(Duration::from_millis(500), |_| false)
            .await;
        let status = lac.wait_exit(Duration::from_secs(10));
        assert!(status.success(), "LAC exit status {status}");
        lac.wait_event("stopped: every tunnel closed cleanly", T, |_| true);
        lns.wait_event("session down", T, |e| {
            e["fields"]["subscriber"] == "alice@example.net"
                && e["fields"]["cause"]
                    .as_str()
                    .unwrap_or("")
                    .contains("peer sent CDN")
        });
        lns.wait_event("tunnel down", T, |e| {
            e["fields"]["cause"]
                .as_str()
                .unwrap_or("")
                .contains("peer sent StopCCN")
        });
        assert!(
            client.wait_down(alice, T).await,
            "the subscriber's LAC saw no CDN"
        );
        assert!(
            client
                .tunnel_down
                .as_deref()
                .unwrap_or("")
                .contains("PeerStopCcn"),
            "{:?}",
            client.tunnel_down
        );
        lns.wait_rows(&["sessions"], T, |r| r.is_empty());
    })
    .unwrap();
    let mut lns = lns;
    lns.signal("TERM");
    assert!(lns.wait_exit(Duration::from_secs(10)).success());
}

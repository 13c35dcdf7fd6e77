//! A subscriber that stops answering LCP echo is declared dead by the LNS, which closes the link
//! (LCP Terminate-Request, RFC 1661 §4.3, bounded by the restart timer) and then ends the L2TP
//! session with a CDN; the LAC ends its side, and the empty tunnel closes after its linger.
//! (LAC, dial-in and LNS in one process in a network namespace the test creates; needs root.)

mod support;

use std::time::Duration;

use support::{Auth, Daemon, DialinClient, daemon_section, netns};

const T: Duration = Duration::from_secs(15);

#[test]
fn echo_failure_at_the_lns_tears_the_session_down() {
    let ns = netns("echo");
    let daemon = Daemon::start(
        "conc",
        Some(ns.name()),
        &format!(
            "{}\n[ppp]\nlcp_echo_interval = \"300ms\"\nlcp_echo_failures = 2\nrestart_timer = \"200ms\"\n\
             [lns]\nlisten = [\"127.0.0.1:1701\"]\nlocal_address = \"100.64.0.1\"\n\
             [lns.tun]\nname = \"l2tpq0\"\nmanage_routes = false\n\
             [[lns.peers]]\nname = \"self\"\naddress = \"127.0.0.1\"\n\
             [[lns.pools]]\nname = \"p\"\nranges = [\"100.64.1.0/24\"]\ndefault = true\n\
             [lac]\nempty_tunnel_linger = \"200ms\"\n\
             [[lac.lines]]\nname = \"lo\"\nbind = \"127.0.0.1\"\ncapacity = \"10G\"\n\
             [[lac.peers]]\nname = \"lns\"\naddress = \"127.0.0.1:1701\"\nrealms = [\"*\"]\n\
             [lac.dialin]\nlisten = [\"127.0.0.1:1702\"]\n\
             [[lac.dialin.peers]]\nname = \"cpe\"\naddress = \"127.0.0.1\"\n\
             [[subscriber_range]]\nprefix = \"user\"\nfirst = 1\ncount = 10\nsecret = \"demo\"\n",
            daemon_section(std::path::Path::new("{dir}"))
        ),
    );
    ns.block_on(|| async {
        let mut client = DialinClient::connect("127.0.0.1:0", "127.0.0.1:1702", T).await;
        let (s, _) = client
            .login("user5", "demo", Auth::Chap, T)
            .await
            .expect("login");
        // While the subscriber answers, echoes keep the session up.
        client.drive_until(Duration::from_secs(1), |_| false).await;
        assert!(
            client.sessions[&s].down.is_none(),
            "session dropped while answering echoes"
        );
        assert_eq!(daemon.rows(&["sessions"]).len(), 2);
        // The subscriber goes silent: it stops reading (its echo replies stop).
        let down = daemon.wait_event("session down", T, |e| {
            e["fields"]["role"] == "lns"
                && e["fields"]["cause"]
                    .as_str()
                    .unwrap_or("")
                    .contains("we sent CDN")
        });
        assert_eq!(down["fields"]["subscriber"], "user5");
        daemon.wait_event("session down", T, |e| {
            e["fields"]["role"] == "lac"
                && e["fields"]["cause"]
                    .as_str()
                    .unwrap_or("")
                    .contains("peer not answering LCP echo")
        });
        daemon.wait_event("tunnel down", T, |e| e["fields"]["role"] == "lac");
        daemon.wait_rows(&["sessions"], T, |r| r.is_empty());
    })
    .unwrap();
}

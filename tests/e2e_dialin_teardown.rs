//! The dial-in counterparts of the PPPoE teardowns (issue 5's proof; e2e_netns.rs covers the
//! clean logout, LCP Terminate then CDN): a subscriber's LAC that sends a bare CDN (no LCP), and
//! a subscriber that sends an LCP Terminate-Request and nothing else. Each tears down the session
//! toward our LNS and the dial-in session, and the aggregated tunnel closes once empty. Needs root
//! (the namespace, TUN).

mod support;

use std::time::Duration;

use support::{Auth, Daemon, DialinClient, daemon_section, netns};

const T: Duration = Duration::from_secs(15);

fn config() -> String {
    format!(
        "{daemon}\n\
         [lns]\nlisten = [\"127.0.0.1:1701\"]\nlocal_address = \"100.64.0.1\"\n\
         [lns.tun]\nname = \"l2tpt0\"\nmanage_routes = false\n\
         [[lns.peers]]\nname = \"self\"\naddress = \"127.0.0.1\"\n\
         [[lns.pools]]\nname = \"subs\"\nranges = [\"100.64.1.0/24\"]\ndefault = true\n\
         [lac]\nempty_tunnel_linger = \"1s\"\n\
         [[lac.lines]]\nname = \"lo\"\nbind = \"127.0.0.1\"\ncapacity = \"1G\"\n\
         [[lac.peers]]\nname = \"lns\"\naddress = \"127.0.0.1:1701\"\nrealms = [\"*\"]\n\
         [lac.dialin]\nlisten = [\"127.0.0.1:1702\"]\n\
         [[lac.dialin.peers]]\nname = \"cpe\"\naddress = \"127.0.0.1\"\n\
         [[subscriber_range]]\nprefix = \"user\"\nfirst = 1\ncount = 10\nsecret = \"demo\"\n",
        daemon = daemon_section(std::path::Path::new("{dir}")),
    )
}

fn cause(e: &serde_json::Value) -> String {
    e["fields"]["cause"].as_str().unwrap_or("").to_owned()
}

#[test]
fn bare_cdn_and_lcp_terminate_from_a_dialin_subscriber_tear_everything_down() {
    let ns = netns("dialdown");
    let daemon = Daemon::start("conc", Some(ns.name()), &config());
    ns.block_on(|| async {
        let mut client = DialinClient::connect("127.0.0.1:0", "127.0.0.1:1702", T).await;
        let (one, _) = client
            .login("user1", "demo", Auth::Chap, T)
            .await
            .expect("user1 up");
        let (two, _) = client
            .login("user2", "demo", Auth::Chap, T)
            .await
            .expect("user2 up");

        // A bare CDN (the subscriber's modem lost power): the LAC clears the LNS session.
        client.hang_up(one).await;
        let lns = daemon.wait_event("session down", T, |e| {
            e["fields"]["role"] == "lns" && e["fields"]["subscriber"] == "user1"
        });
        assert!(cause(&lns).starts_with("peer sent CDN"), "{lns}");
        let lac = daemon.wait_event("session down", T, |e| {
            e["fields"]["role"] == "lac" && e["fields"]["subscriber"] == "user1"
        });
        assert!(cause(&lac).starts_with("subscriber side"), "{lac}");

        // An LCP Terminate-Request alone: relayed to the LNS, whose PPP ends the session with a
        // CDN; the LAC follows with a CDN toward the subscriber.
        client
            .send_frame(two, &[0xff, 0x03, 0xc0, 0x21, 0x05, 0x33, 0x00, 0x04])
            .await;
        let lns = daemon.wait_event("session down", T, |e| {
            e["fields"]["role"] == "lns" && e["fields"]["subscriber"] == "user2"
        });
        assert!(cause(&lns).starts_with("we sent CDN"), "{lns}");
        daemon.wait_event("session down", T, |e| {
            e["fields"]["role"] == "lac" && e["fields"]["subscriber"] == "user2"
        });
        assert!(
            client
                .drive_until(T, |c| c.sessions[&two].down.is_some())
                .await,
            "the subscriber's LAC got no CDN: {:?}",
            client.events
        );

        // The aggregated tunnel closes once empty.
        daemon.wait_event("tunnel down", T, |e| {
            e["fields"]["role"] == "lac" && cause(e).contains("we sent StopCCN")
        });
        daemon.wait_rows(&["sessions"], T, |r| r.is_empty());
        client.close_tunnel(T).await;
    })
    .unwrap();
    let mut daemon = daemon;
    daemon.signal("TERM");
    assert!(daemon.wait_exit(Duration::from_secs(10)).success());
}

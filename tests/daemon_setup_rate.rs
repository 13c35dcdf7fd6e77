//! A measurement, not a check: how many subscribers per second the daemon sets up end to end
//! (dial-in L2TP session, LCP, CHAP at the LAC, tunnel to the LNS, proxied LCP/CHAP taken over,
//! IPCP with a pool address). Ignored by default; run it with
//! `cargo test --release --test daemon_setup_rate -- --ignored --nocapture`
//! (`L2TPAGG_RATE_N` subscribers, default 2000; `L2TPAGG_RATE_LOG` the daemon's log level,
//! default "info"). Needs root (the namespace). The figure includes the test's own client, which
//! shares the machine with the daemon.

mod support;

use std::time::{Duration, Instant};

use support::{Auth, Daemon, DialinClient, daemon_section, netns};

#[test]
#[ignore = "a measurement; run explicitly"]
fn subscribers_set_up_per_second() {
    let n: usize = std::env::var("L2TPAGG_RATE_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let level = std::env::var("L2TPAGG_RATE_LOG").unwrap_or_else(|_| "info".into());
    let ns = netns("rate");
    let config = format!(
        "{}\n[lns]\nlisten = [\"127.0.0.1:1701\"]\nlocal_address = \"100.64.0.1\"\n\
         [lns.tun]\nname = \"l2tpr0\"\nmanage_routes = false\n\
         [[lns.peers]]\nname = \"self\"\naddress = \"127.0.0.1\"\n\
         [[lns.pools]]\nname = \"p\"\nranges = [\"100.64.0.0/16\"]\nexclude = [\"100.64.0.0/24\"]\ndefault = true\n\
         [lac]\n[[lac.lines]]\nname = \"lo\"\nbind = \"127.0.0.1\"\ncapacity = \"100G\"\n\
         [[lac.peers]]\nname = \"lns\"\naddress = \"127.0.0.1:1701\"\nrealms = [\"*\"]\ntunnel_capacity = \"10G\"\n\
         [lac.dialin]\nlisten = [\"127.0.0.1:1702\"]\nmax_sessions_per_tunnel = 65535\n\
         [[lac.dialin.peers]]\nname = \"cpe\"\naddress = \"127.0.0.1\"\n\
         [[subscriber_range]]\nprefix = \"user\"\nfirst = 1\ncount = 100000\nsecret = \"demo\"\nservice_level = \"1M\"\n",
        daemon_section(std::path::Path::new("{dir}")).replace(
            "log_level = \"info,l2tpagg=debug\"",
            &format!("log_level = \"{level}\"")
        )
    );
    let daemon = Daemon::start("rate", Some(ns.name()), &config);
    ns.block_on(|| async {
        let mut client =
            DialinClient::connect("127.0.0.1:0", "127.0.0.1:1702", Duration::from_secs(10)).await;
        let start = Instant::now();
        let ids: Vec<u16> = (1..=n)
            .map(|i| client.dial(&format!("user{i}"), "demo", Auth::Chap))
            .collect();
        let done = client
            .drive_until(Duration::from_secs(600), |c| c.settled() >= n)
            .await;
        let elapsed = start.elapsed();
        let up = ids
            .iter()
            .filter(|s| client.sessions[s].network.is_some())
            .count();
        println!(
            "{up}/{n} subscribers up in {:.2} s: {:.0} subscribers/s (daemon log level {level}, finished: {done})",
            elapsed.as_secs_f64(),
            up as f64 / elapsed.as_secs_f64()
        );
        let rows = daemon.rows(&["sessions"]);
        println!("ctl sessions rows: {}", rows.len());
        println!("drops: {}", daemon.ctl_json(&["status"])["malformed"]);
        if let Ok(dest) = std::env::var("L2TPAGG_RATE_KEEP_LOG") {
            std::fs::copy(&daemon.log_path, dest).unwrap();
        }
        assert_eq!(up, n);
    })
    .unwrap();
}

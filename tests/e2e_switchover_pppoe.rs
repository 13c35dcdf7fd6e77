//! A PPPoE subscriber's session moves live between tunnels (issues 5 and 6), end to end: the load
//! generator's PPPoE clients in one network namespace, our LAC (PPPoE front-end) and our LNS as
//! two `l2tpagg run` processes in another, joined by a veth pair (needs root).
//!
//! ```text
//!  ns sub (loadgen PPPoE)        ns conc: LAC process ══tunnels══▶ LNS process ──TUN──▶ 10.9.0.1
//!  ps-N ──veth── pc-N (02:ac:..:02)       127.0.0.1:*             127.0.0.1:LNS        UDP echo
//! ```
//!
//! Tunnels hold two sessions and the planner's dwell time is an hour, so only the operator moves
//! anyone: user1 and user2 share tunnel A, user3 is alone in B; user2 logs out, then
//! `ctl drain B` moves user3 live into A, its PPPoE session untouched (same session ID, same
//! address, no PPP renegotiation at the LNS), and B closes. user3's UDP stream (a datagram every
//! 20 ms) keeps flowing through the move: the loss is measured and printed, and bounded by two
//! datagrams; user1's stream beside it loses nothing.

mod e2e_switchover_common;
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use e2e_switchover_common::{
    PHASE_AFTER, PHASE_STOP, PHASE_WINDOW, SERVER, SERVER_PORT, Streams, add_server_address,
    lac_config, lns_config, spawn_echo_server, stream, wait_async,
};
use l2tpagg::loadgen::{AuthChoice, Credentials, Dialer, DialerOptions, DownOutcome};
use serde_json::Value;
use support::{Daemon, daemon_section, netns};

const T: Duration = Duration::from_secs(20);
const AC_MAC: &str = "02:ac:00:00:00:02";

fn subscribers() -> String {
    (1..=3)
        .map(|i| {
            format!(
                "[[subscriber]]\nname = \"user{i}\"\nsecret = \"demo\"\nservice_level = \"1M\"\n\
                 contract = {{ consolidation = true }}\n"
            )
        })
        .collect()
}

fn lac_row(lac: &Daemon, who: &str) -> Option<Value> {
    lac.rows(&["sessions"])
        .into_iter()
        .find(|r| r["role"] == "lac" && r["subscriber"] == who && r["state"] == "established")
}

fn tunnel_of(lac: &Daemon, who: &str) -> Option<u64> {
    lac_row(lac, who)?["local_tunnel_id"].as_u64()
}

#[test]
fn a_pppoe_subscribers_stream_flows_through_a_drain_move() {
    let sub_ns = netns("swp-sub");
    let conc = netns("swp-conc");
    let id = std::process::id() % 100_000;
    let (sub_if, conc_if) = (format!("psw{id}"), format!("pcw{id}"));
    let st = std::process::Command::new("ip")
        .args([
            "link",
            "add",
            &sub_if,
            "netns",
            sub_ns.name(),
            "type",
            "veth",
            "peer",
            "name",
            &conc_if,
            "netns",
            conc.name(),
        ])
        .status()
        .unwrap();
    assert!(st.success(), "veth pair");
    conc.ip(&["link", "set", &conc_if, "address", AC_MAC])
        .unwrap();
    conc.ip(&["link", "set", &conc_if, "up"]).unwrap();
    sub_ns.ip(&["link", "set", &sub_if, "up"]).unwrap();
    add_server_address(&conc);

    let daemon = daemon_section(std::path::Path::new("{dir}"));
    let subs = subscribers();
    let lns = Daemon::start(
        "lns",
        Some(conc.name()),
        &lns_config(&daemon, 12401, "l2tpswp0", &subs),
    );
    let lac = Daemon::start(
        "lac",
        Some(conc.name()),
        &lac_config(&daemon, "127.0.0.1:12401", 12402, 2, "", &subs)
            .replace("min_dwell = \"1s\"", "min_dwell = \"1h\"")
            .replace(
                "[planner]",
                &format!(
                    "[lac.pppoe]\ninterfaces = [\"{conc_if}\"]\nac_name = \"swp-ac\"\n[planner]"
                ),
            ),
    );
    let server = conc
        .run(|| std::net::UdpSocket::bind((SERVER, SERVER_PORT)))
        .unwrap()
        .expect("server socket");
    let streams = Arc::new(Streams::default());
    let echo = spawn_echo_server(server, streams.clone());

    let (lac_ref, streams_ref, sub_if_ref) = (&lac, streams.clone(), sub_if.clone());
    let (a, b, session_before, session_after) = sub_ns
        .block_on(move || async move {
            let (lac, streams) = (lac_ref, streams_ref);
            let mut options = DialerOptions::pppoe(sub_if_ref);
            options.setup_timeout = T;
            options.drain_timeout = Duration::from_secs(5);
            let dialer = Dialer::start(options).await.expect("dialer");
            let mut subs = Vec::new();
            for i in 1..=3u64 {
                let s = dialer
                    .dial(
                        Credentials::new(format!("user{i}"), "demo")
                            .with_auth(AuthChoice::Chap)
                            .with_number(i),
                    )
                    .await
                    .unwrap_or_else(|e| panic!("user{i} over PPPoE: {e}"));
                subs.push(s);
            }
            let a = tunnel_of(lac, "user1").expect("user1 is up");
            assert_eq!(tunnel_of(lac, "user2"), Some(a), "user1 and user2 share A");
            let b = tunnel_of(lac, "user3").expect("user3 is up");
            assert_ne!(a, b);
            let row = lac_row(lac, "user3").unwrap();
            let access_before = row["access"].as_str().unwrap().to_owned();
            assert!(access_before.starts_with("pppoe "), "{row}");
            let address = subs[2].address();

            let mut tasks = Vec::new();
            let mut leave = Vec::new();
            for (i, s) in subs.into_iter().enumerate() {
                let flag = Arc::new(AtomicBool::new(false));
                leave.push(flag.clone());
                tasks.push(tokio::spawn(stream(
                    s,
                    i as u32 + 1,
                    Duration::from_millis(20),
                    streams.clone(),
                    flag,
                )));
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
            // user2 leaves: A has room.
            leave[1].store(true, Ordering::Relaxed);
            let user2 = tasks.remove(1).await.unwrap();
            assert!(matches!(user2.logout().await, Ok(DownOutcome::LoggedOut)));
            streams.phase.store(PHASE_WINDOW, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(500)).await;

            let out = lac.ctl(&["drain", &b.to_string()]);
            assert!(out.status.success(), "ctl drain {b}: {out:?}");
            let moved = wait_async(T, || {
                lac.events("live session move")
                    .into_iter()
                    .find(|e| e["fields"]["subscriber"] == "user3")
            })
            .await
            .expect("user3 moves");
            assert_eq!(moved["fields"]["outcome"], "committed", "{moved}");
            assert_eq!(moved["fields"]["from_tunnel_id"].as_u64(), Some(b));
            assert_eq!(moved["fields"]["to_tunnel_id"].as_u64(), Some(a));
            wait_async(T, || {
                (!lac.rows(&["tunnels"]).iter().any(|t| {
                    t["local_tunnel_id"].as_u64() == Some(b) && t["state"] == "established"
                }))
                .then_some(())
            })
            .await
            .expect("the drained tunnel closes");
            // Past the old leg's grace for packets in flight.
            tokio::time::sleep(Duration::from_secs(3)).await;
            streams.phase.store(PHASE_AFTER, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_secs(1)).await;
            let row = lac_row(lac, "user3").expect("user3 still up");
            assert_eq!(row["local_tunnel_id"].as_u64(), Some(a), "{row}");
            let access_after = row["access"].as_str().unwrap().to_owned();
            streams.phase.store(PHASE_STOP, Ordering::Relaxed);
            for t in tasks {
                let s = t.await.unwrap();
                assert!(s.down().is_none(), "{} went down: {:?}", s.name(), s.down());
                if s.name() == "user3" {
                    assert_eq!(s.address(), address, "user3 kept its address");
                }
                let _ = s.logout().await;
            }
            (a, b, access_before, access_after)
        })
        .unwrap();
    streams.server_stop.store(true, Ordering::Relaxed);
    echo.join().unwrap();
    assert_ne!(a, b);
    assert_eq!(
        session_before, session_after,
        "the PPPoE session is untouched by the move"
    );

    // The LNS bound the new session to the PPP context it had: PPP came up once.
    let ups: Vec<Value> = lns
        .events("session up")
        .into_iter()
        .filter(|e| e["fields"]["subscriber"] == "user3")
        .collect();
    assert_eq!(ups.len(), 1, "PPP came up once for user3: {ups:#?}");
    assert!(
        lns.events("switchover: the session runs on the new leg")
            .iter()
            .any(|e| e["fields"]["subscriber"] == "user3"),
        "the LNS bound user3's new session"
    );

    let counts = streams.counts();
    let w = usize::from(PHASE_WINDOW);
    let after = usize::from(PHASE_AFTER);
    for i in [1u32, 3] {
        let c = counts[&i];
        let (sent, at_server, echoed) = (c.sent[w], c.at_server[w], c.echoed[w]);
        eprintln!(
            "user{i} ({}) in the window of the move: {sent} sent, {at_server} at the server, \
             {echoed} echoed; after it: {} sent, {} echoed",
            if i == 3 { "moved" } else { "stayed" },
            c.sent[after],
            c.echoed[after]
        );
        assert!(sent > 100, "user{i} streamed through the window: {c:?}");
        let bound = if i == 3 { 2 } else { 0 };
        assert!(
            sent - echoed.min(sent) <= bound,
            "user{i} lost {} datagrams across the move",
            sent - echoed.min(sent)
        );
        assert_eq!(
            c.sent[after], c.echoed[after],
            "user{i} after the move: {c:?}"
        );
    }
}

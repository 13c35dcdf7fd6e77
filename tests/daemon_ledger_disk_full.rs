//! A running daemon whose state directory fills up (issue 8's disk trouble): the state directory
//! is a tiny tmpfs that the test mounts and fills. Sessions keep coming up and running; the
//! trouble shows in `ctl status` (the ledger block and a `degraded` line) and in the log; records
//! queue in memory up to `queue_bound` (interims give way at three quarters, keeping the rest for
//! session starts) and what is beyond the bound is counted; once space is freed every queued
//! record lands, in order, with nothing torn. Needs root (tmpfs, namespaces).

mod support;

use std::fs;
use std::path::Path;
use std::time::Duration;

use l2tpagg::ledger::{LedgerEvent, LedgerReader};
use l2tpagg::loadgen::{Credentials, Dialer, DialerOptions, DownOutcome};
use serde_json::Value;
use support::tmpfs::Tmpfs;
use support::{Daemon, daemon_section, netns, wait_for};

const T: Duration = Duration::from_secs(20);
const USERS: usize = 10;
/// Sessions at the end: the reserve (a quarter of the queue, 10) holds 10 more starts.
const TOTAL: usize = 22;
const QUEUE_BOUND: u64 = 40;

fn config(state: &Path) -> String {
    let config = format!(
        "{daemon}\n\
         [lns]\nlisten = [\"127.0.0.1:1701\"]\nlocal_address = \"100.64.0.1\"\n\
         [lns.tun]\nname = \"l2tpdf0\"\n\
         [[lns.peers]]\nname = \"self\"\naddress = \"127.0.0.1\"\n\
         [[lns.pools]]\nname = \"subs\"\nranges = [\"100.64.1.0/24\"]\ndefault = true\n\
         [lac]\nsetup_timeout = \"5s\"\n\
         [[lac.lines]]\nname = \"lo\"\nbind = \"127.0.0.1\"\ncapacity = \"1G\"\n\
         [[lac.peers]]\nname = \"lns\"\naddress = \"127.0.0.1:1701\"\nrealms = [\"*\"]\n\
         [lac.dialin]\nlisten = [\"127.0.0.1:1702\"]\n\
         [[lac.dialin.peers]]\nname = \"cpe\"\naddress = \"127.0.0.0/8\"\n\
         [billing.ledger]\ninterim_interval = \"500ms\"\ncommit_interval = \"100ms\"\n\
         queue_bound = {QUEUE_BOUND}\n\
         [[subscriber_range]]\nprefix = \"user\"\nfirst = 1\ncount = 100\nsecret = \"demo\"\n",
        daemon = daemon_section(Path::new("{dir}")),
    );
    config.replace(
        "state_dir = \"{dir}/state\"",
        &format!("state_dir = \"{}\"", state.display()),
    )
}

fn ledger(d: &Daemon) -> Value {
    d.ctl_json(&["status"])["ledger"].clone()
}

#[test]
fn a_full_state_directory_keeps_sessions_up_shows_trouble_counts_overflow_and_recovers() {
    let fs_ = Tmpfs::mount("256k");
    let ns = netns("diskfull");
    let daemon = Daemon::start("full", Some(ns.name()), &config(&fs_.mountpoint));
    let dir = fs_.mountpoint.join("ledger");

    // DaemonStart is on disk before the disk fills.
    wait_for(T, || {
        let l = ledger(&daemon);
        (l["durable_lsn"] == 1 && l["pending"] == 0).then_some(())
    })
    .unwrap_or_else(|| panic!("DaemonStart never durable:\n{}", daemon.log()));
    let filler = fs_.fill();

    ns.block_on(|| async {
        let mut options = DialerOptions::l2tp("127.0.0.1:1702".parse().unwrap());
        options.setup_timeout = T;
        let dialer = Dialer::start(options).await.expect("dialer");
        let mut users = Vec::new();
        for n in 1..=USERS {
            users.push(
                dialer
                    .dial(Credentials::new(format!("user{n}"), "demo"))
                    .await
                    .unwrap_or_else(|e| panic!("user{n} comes up on a full disk: {e}")),
            );
        }

        // The trouble shows in ctl status and the log.
        let l = wait_for(T, || {
            let l = ledger(&daemon);
            l["trouble"].is_string().then_some(l)
        })
        .unwrap_or_else(|| panic!("no trouble in ctl status:\n{}", daemon.log()));
        assert!(
            l["trouble"].as_str().unwrap().contains("No space left"),
            "{l}"
        );
        assert!(l["trouble_failures"].as_u64().unwrap() >= 1);
        daemon.wait_event(
            "ledger write failed; holding records in memory and retrying on each commit",
            T,
            |e| e["level"] == "ERROR",
        );
        let status = daemon.ctl_json(&["status"]);
        let degraded: Vec<&str> = status["degraded"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert!(
            degraded
                .iter()
                .any(|d| d.contains("ledger") && d.contains("No space left")),
            "{status}"
        );
        let text = daemon.ctl(&["status"]);
        assert!(
            String::from_utf8_lossy(&text.stdout).contains("TROUBLE"),
            "{}",
            String::from_utf8_lossy(&text.stdout)
        );

        // Interims queue until three quarters of the bound; then they are skipped (counted), so
        // the last quarter stays for records nothing replaces: new sessions' starts.
        let l = wait_for(T, || {
            let l = ledger(&daemon);
            (l["skipped_readings"].as_u64().unwrap() > 0).then_some(l)
        })
        .unwrap_or_else(|| panic!("interims never gave way:\n{}", daemon.log()));
        assert_eq!(l["pending"].as_u64().unwrap(), QUEUE_BOUND * 3 / 4, "{l}");
        assert_eq!(l["dropped"], 0, "{l}");
        // (The segment's last tmpfs page took a few records after the fill.)
        assert_eq!(
            l["durable_lsn"].as_u64().unwrap() + l["pending"].as_u64().unwrap(),
            l["last_lsn"].as_u64().unwrap(),
            "{l}"
        );
        assert_eq!(l["open_sessions"], USERS as u64, "{l}");
        // More sessions than the reserve holds: every one comes up, the starts beyond the bound
        // are counted as dropped.
        for n in USERS + 1..=TOTAL {
            users.push(
                dialer
                    .dial(Credentials::new(format!("user{n}"), "demo"))
                    .await
                    .unwrap_or_else(|e| panic!("user{n} comes up while records overflow: {e}")),
            );
        }
        let l = wait_for(T, || {
            let l = ledger(&daemon);
            (l["dropped"].as_u64().unwrap() > 0).then_some(l)
        })
        .unwrap_or_else(|| panic!("nothing overflowed:\n{}", daemon.log()));
        assert_eq!(l["pending"].as_u64().unwrap(), QUEUE_BOUND, "{l}");
        let rows = daemon.rows(&["sessions"]);
        assert_eq!(rows.len(), 2 * TOTAL, "LAC and LNS rows: {rows:?}");

        // Space again: everything queued lands.
        fs::remove_file(&filler).unwrap();
        let l = wait_for(T, || {
            let l = ledger(&daemon);
            (l["trouble"].is_null() && l["pending"] == 0 && l["durable_lsn"] == l["last_lsn"])
                .then_some(l)
        })
        .unwrap_or_else(|| panic!("queued records never landed:\n{}", daemon.log()));
        let dropped = l["dropped"].as_u64().unwrap();
        assert!(dropped > 0);
        daemon.wait_event("ledger writes succeed again", T, |_| true);
        let status = daemon.ctl_json(&["status"]);
        assert!(
            status["degraded"]
                .as_array()
                .unwrap()
                .iter()
                .any(|d| d.as_str().unwrap().contains("usage records were lost")),
            "the loss stays visible: {status}"
        );

        for u in users {
            match u.logout().await {
                Ok(DownOutcome::LoggedOut) => {}
                other => panic!("logout: {other:?}"),
            }
        }
        let _ = dialer.close().await;
        daemon.wait_rows(&["sessions"], T, |r| r.is_empty());
        let l = wait_for(T, || {
            let l = ledger(&daemon);
            (l["pending"] == 0 && l["durable_lsn"] == l["last_lsn"]).then_some(l)
        })
        .unwrap();
        assert_eq!(
            l["dropped"].as_u64().unwrap(),
            dropped,
            "no loss after recovery"
        );

        // The ledger reads clean: every accepted record once, in order; the first sessions'
        // starts all kept (queued before the bound), the late ones' as far as the reserve held;
        // every stop written.
        let mut reader = LedgerReader::open(&dir).unwrap();
        let entries: Vec<_> = reader.by_ref().map(|e| e.unwrap()).collect();
        assert!(reader.summary().is_clean(), "{:?}", reader.summary());
        let lsns: Vec<u64> = entries.iter().map(|e| e.lsn).collect();
        assert_eq!(
            lsns,
            (1..=l["last_lsn"].as_u64().unwrap()).collect::<Vec<_>>()
        );
        let count = |name: &str| {
            entries
                .iter()
                .filter(|e| e.record.event.name() == name)
                .count()
        };
        let names: Vec<&str> = entries.iter().map(|e| e.record.event.name()).collect();
        assert_eq!(count("tunnel-open"), 1, "{names:?}");
        assert_eq!(
            count("session-start") as u64,
            TOTAL as u64 - dropped,
            "{names:?}"
        );
        assert_eq!(count("session-stop"), TOTAL, "{names:?}");
        let started: Vec<&str> = entries
            .iter()
            .filter_map(|e| match &e.record.event {
                LedgerEvent::SessionStart { subscriber, .. } => Some(subscriber.as_str()),
                _ => None,
            })
            .collect();
        for n in 1..=USERS {
            assert!(
                started.contains(&format!("user{n}").as_str()),
                "{started:?}"
            );
        }
        assert!(matches!(
            entries[0].record.event,
            LedgerEvent::DaemonStart { .. }
        ));
    })
    .unwrap();
}

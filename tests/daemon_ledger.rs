//! The usage ledger of one running daemon with both roles (the embedded default's shape: dial-in,
//! LAC and LNS in one process, one ledger): a session our LAC carries to our own LNS is recorded
//! once, by the LAC; `ctl status` shows the ledger; a second daemon on the same state directory
//! refuses to start; SIGTERM writes the final stop (Admin-Reboot), closes the tunnel and the line
//! and syncs everything; a restart recovers a clean ledger and continues it. Needs root.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use l2tpagg::ledger::{LedgerEvent, LedgerReader, TerminateCause};
use l2tpagg::loadgen::{Credentials, Dialer, DialerOptions};
use support::{Daemon, binary, daemon_section, netns, wait_for};

const T: Duration = Duration::from_secs(15);

fn config(lns_port: u16, dialin_port: u16) -> String {
    format!(
        "{daemon}\n\
         [lns]\nlisten = [\"127.0.0.1:{lns_port}\"]\nlocal_address = \"100.64.0.1\"\n\
         [lns.tun]\nname = \"l2tpdl0\"\n\
         [[lns.peers]]\nname = \"self\"\naddress = \"127.0.0.1\"\n\
         [[lns.pools]]\nname = \"subs\"\nranges = [\"100.64.1.0/24\"]\ndefault = true\n\
         [lac]\nempty_tunnel_linger = \"30s\"\nsetup_timeout = \"5s\"\n\
         [[lac.lines]]\nname = \"lo\"\nbind = \"127.0.0.1\"\ncapacity = \"1G\"\n\
         [[lac.peers]]\nname = \"lns\"\naddress = \"127.0.0.1:{lns_port}\"\nrealms = [\"*\"]\n\
         [lac.dialin]\nlisten = [\"127.0.0.1:{dialin_port}\"]\n\
         [[lac.dialin.peers]]\nname = \"cpe\"\naddress = \"127.0.0.0/8\"\n\
         [billing.ledger]\ninterim_interval = \"1s\"\ncommit_interval = \"50ms\"\n\
         [[subscriber_range]]\nprefix = \"user\"\nfirst = 1\ncount = 10\nsecret = \"demo\"\n",
        daemon = daemon_section(Path::new("{dir}")),
    )
}

fn ledger_dir(d: &Daemon) -> PathBuf {
    d.dir.path().join("state/ledger")
}

fn events(dir: &Path) -> Vec<LedgerEvent> {
    let mut reader = LedgerReader::open(dir).unwrap();
    let out = reader.by_ref().map(|e| e.unwrap().record.event).collect();
    assert!(reader.summary().is_clean(), "{:?}", reader.summary());
    out
}

fn count(events: &[LedgerEvent], name: &str) -> usize {
    events.iter().filter(|e| e.name() == name).count()
}

#[test]
fn one_process_records_once_shows_status_locks_and_stops_with_final_records() {
    let ns = netns("dledger");
    let mut daemon = Daemon::start("both", Some(ns.name()), &config(1701, 1702));
    let dir = ledger_dir(&daemon);

    ns.block_on(|| async {
        let mut options = DialerOptions::l2tp("127.0.0.1:1702".parse().unwrap());
        options.setup_timeout = T;
        // The daemon is gone when the dialer closes: nobody answers its StopCCN.
        options.drain_timeout = Duration::from_millis(200);
        let dialer = Dialer::start(options).await.expect("dialer");
        let user = dialer
            .dial(Credentials::new("user4", "demo"))
            .await
            .expect("user4 comes up");

        // ctl status shows the ledger: one session and one tunnel recorded (the LAC's; the LNS
        // leaves sessions of our own LAC to it).
        let status = wait_for(T, || {
            let s = daemon.ctl_json(&["status"]);
            (s["ledger"]["open_sessions"] == 1).then_some(s)
        })
        .unwrap_or_else(|| panic!("no open session in ctl status:\n{}", daemon.log()));
        let l = &status["ledger"];
        assert_eq!(l["open_tunnels"], 1, "{status}");
        assert_eq!(l["directory"], dir.display().to_string());
        assert_eq!(l["trouble"], serde_json::Value::Null);
        assert_eq!(l["dropped"], 0);
        let text = daemon.ctl(&["status"]);
        let text = String::from_utf8_lossy(&text.stdout);
        assert!(
            text.contains("ledger") && text.contains("durable LSN"),
            "{text}"
        );

        // An interim lands (every second) and becomes durable.
        wait_for(T, || {
            let s = daemon.ctl_json(&["status"]);
            let l = &s["ledger"];
            (l["durable_lsn"] == l["last_lsn"] && count(&events(&dir), "session-interim") >= 1)
                .then_some(())
        })
        .unwrap_or_else(|| panic!("no durable interim:\n{}", daemon.log()));

        // A second daemon on the same state directory (its own namespace, so its sockets are
        // free) refuses to start: the ledger is locked.
        let other = netns("dledger2");
        let out = Command::new("ip")
            .args(["netns", "exec", other.name(), binary(), "run", "--config"])
            .arg(&daemon.config_path)
            .output()
            .unwrap();
        assert!(!out.status.success(), "a second writer started");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("locked"), "{err}");

        // SIGTERM while the session is up.
        daemon.signal("TERM");
        assert!(daemon.wait_exit(T).success(), "{}", daemon.log());
        drop(user);
        let _ = dialer.close().await;
    })
    .unwrap();
    assert!(
        daemon
            .log()
            .contains("ledger closed; every record is on disk"),
        "{}",
        daemon.log()
    );

    let ev = events(&dir);
    let names: Vec<&str> = ev.iter().map(LedgerEvent::name).collect();
    assert_eq!(count(&ev, "daemon-start"), 1, "{names:?}");
    assert_eq!(count(&ev, "session-start"), 1, "recorded once: {names:?}");
    assert_eq!(count(&ev, "session-stop"), 1, "{names:?}");
    assert_eq!(
        count(&ev, "tunnel-open"),
        1,
        "only the LAC's tunnel: {names:?}"
    );
    assert_eq!(count(&ev, "tunnel-close"), 1, "{names:?}");
    assert_eq!(count(&ev, "line-use"), 2, "taken and released: {names:?}");
    let start = ev
        .iter()
        .find_map(|e| match e {
            LedgerEvent::SessionStart {
                subscriber,
                account,
                place,
                ..
            } => Some((subscriber.clone(), account.clone(), place.clone())),
            _ => None,
        })
        .unwrap();
    assert_eq!((start.0.as_str(), start.1.as_str()), ("user4", "user4"));
    assert_eq!(
        (start.2.peer.as_str(), start.2.line.as_str()),
        ("lns", "lo")
    );
    let stop = ev
        .iter()
        .find_map(|e| match e {
            LedgerEvent::SessionStop {
                cause, cause_text, ..
            } => Some((*cause, cause_text.clone())),
            _ => None,
        })
        .unwrap();
    assert_eq!(stop.0, TerminateCause::AdminReboot, "{stop:?}");
    // The stop comes before the tunnel's close, the line's release last.
    let pos = |n: &str| names.iter().rposition(|x| *x == n).unwrap();
    assert!(pos("session-stop") < pos("tunnel-close"));
    assert!(pos("tunnel-close") < pos("line-use"));

    // A restart on the same state directory finds a clean ledger and continues it after its
    // last LSN. (`daemon` keeps the directory alive.)
    let restart = restart_on(&dir, &ns, &config(1701, 1702));
    let opened = restart.wait_event("ledger opened", T, |_| true);
    assert_eq!(opened["fields"]["clean"], true, "{opened}");
    assert_eq!(
        opened["fields"]["last_lsn"].as_u64().unwrap(),
        ev.len() as u64
    );
    let ev2 = wait_for(T, || {
        let e = events(&dir);
        (e.len() > ev.len()).then_some(e)
    })
    .unwrap();
    assert_eq!(ev2[..ev.len()], ev[..], "earlier records unchanged");
    assert_eq!(ev2[ev.len()].name(), "daemon-start");
}

/// A daemon whose state directory is `ledger`'s parent (the test's first daemon's).
fn restart_on(ledger: &Path, ns: &l2tpagg::runtime::netns::NamedNetns, config: &str) -> Daemon {
    let state = ledger.parent().unwrap().display().to_string();
    let config = config.replace(
        "state_dir = \"{dir}/state\"",
        &format!("state_dir = \"{state}\""),
    );
    assert!(config.contains(&state), "state_dir replaced: {config}");
    Daemon::start("restart", Some(ns.name()), &config)
}

/// A state directory whose ledger ends in a torn record (a write cut short by a machine crash):
/// the daemon's start recovers it, says so at error level naming the segment and the offset,
/// sets the bytes aside in `quarantine/`, keeps every record before them, and continues after
/// the last intact one.
#[test]
fn a_torn_tail_is_reported_set_aside_and_the_ledger_continues() {
    use l2tpagg::ledger::segment::list_segments;
    use l2tpagg::ledger::{Ledger, LedgerOptions, LedgerRecord};
    use std::io::Write;

    let state = tempfile::tempdir().unwrap();
    let dir = state.path().join("ledger");
    let (ledger, _) = Ledger::open(&dir, LedgerOptions::default()).unwrap();
    for i in 0..5 {
        ledger
            .append(&LedgerRecord {
                at: 1_793_491_200_000 + i,
                event: LedgerEvent::Heartbeat,
            })
            .unwrap();
    }
    ledger.close().unwrap();
    let segment = list_segments(&dir).unwrap().pop().unwrap().path;
    let intact_len = std::fs::metadata(&segment).unwrap().len();
    // The start of a frame promising far more bytes than follow.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&segment)
        .unwrap();
    f.write_all(&[40, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7]).unwrap();
    drop(f);

    let ns = netns("dtorn");
    let config = config(1701, 1702).replace(
        "state_dir = \"{dir}/state\"",
        &format!("state_dir = \"{}\"", state.path().display()),
    );
    let daemon = Daemon::start("torn", Some(ns.name()), &config);
    let damage = daemon.wait_event(
        "ledger recovery found damage and set it aside; every record before it is kept",
        T,
        |_| true,
    );
    assert_eq!(damage["level"], "ERROR");
    assert_eq!(damage["fields"]["offset"], intact_len, "{damage}");
    assert_eq!(damage["fields"]["bytes"], 11, "{damage}");
    let quarantined = damage["fields"]["quarantine_file"].as_str().unwrap();
    assert!(quarantined.contains("quarantine"), "{damage}");
    assert_eq!(
        std::fs::read(quarantined).unwrap(),
        [40, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7]
    );
    let opened = daemon.wait_event("ledger opened", T, |_| true);
    assert_eq!(opened["fields"]["clean"], false);
    assert_eq!(opened["fields"]["last_lsn"], 5);
    let ev = wait_for(T, || {
        let e = events(&dir);
        (e.len() > 5).then_some(e)
    })
    .unwrap();
    assert!(ev[..5].iter().all(|e| e.name() == "heartbeat"));
    assert_eq!(ev[5].name(), "daemon-start");
}

//! SIGKILL during load: a child process (this test binary re-executed, running the ignored
//! `crash_writer_child` entry point) appends records as fast as it can and prints each LSN the
//! ledger acknowledges as committed (fsynced). The parent kills it with SIGKILL at a different
//! moment each round, reopens the ledger and checks that every acknowledged record is there,
//! intact, in order, and that the usage totals agree with what the child counted.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use l2tpagg::ledger::{
    AcctSessionId, Counters, Ledger, LedgerEvent, LedgerOptions, LedgerReader, LedgerRecord,
    LegPlace, MultiSessionId, TerminateCause, TunnelSerial,
};

const CHILD_ENV: &str = "L2TPAGG_LEDGER_CRASH_CHILD_DIR";
const T0: u64 = 1_793_491_200_000;

/// The record with LSN `lsn`: a mix of kinds, content derived from the LSN alone so the parent
/// can check every byte the child wrote.
fn record_for(lsn: u64) -> LedgerRecord {
    let session = AcctSessionId(lsn / 4);
    let counters = Counters {
        octets_in: lsn * 1500,
        octets_out: lsn * 9000,
        packets_in: lsn,
        packets_out: lsn * 6,
    };
    let event = match lsn % 4 {
        0 => LedgerEvent::SessionStart {
            session,
            multi: MultiSessionId(session.0),
            subscriber: format!("sub{}@isp.example", lsn % 97),
            account: format!("ACCT-{}", lsn % 13),
            place: LegPlace {
                tunnel: TunnelSerial(lsn % 5),
                l2tp_session_id: (lsn % 60_000) as u16 + 1,
                peer: "lns-1".into(),
                line: "line-a".into(),
            },
        },
        1 | 2 => LedgerEvent::SessionInterim { session, counters },
        _ => LedgerEvent::SessionStop {
            session,
            counters,
            cause: TerminateCause::LostCarrier,
            cause_text: "peer gone".into(),
        },
    };
    LedgerRecord {
        at: T0 + lsn * 10,
        event,
    }
}

fn octets_of(rec: &LedgerRecord) -> u64 {
    match &rec.event {
        LedgerEvent::SessionInterim { counters, .. }
        | LedgerEvent::SessionStop { counters, .. } => counters.octets_total(),
        _ => 0,
    }
}

/// Entry point of the writer child. Not a test on its own: the parent test runs it with
/// `--ignored --exact` and `L2TPAGG_LEDGER_CRASH_CHILD_DIR` set. It never returns normally; the
/// parent kills it.
#[test]
#[ignore = "child process of sigkill_during_load_loses_no_committed_record"]
fn crash_writer_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        eprintln!("crash_writer_child only runs as the child of the SIGKILL test");
        return;
    };
    let options = LedgerOptions {
        max_segment_bytes: 64 * 1024, // rotate often, so kills also land around rotations
        ..LedgerOptions::default()
    };
    let (ledger, report) = Ledger::open(Path::new(&dir), options).unwrap();
    let mut lsn = report.last_lsn;
    loop {
        lsn += 1;
        assert_eq!(ledger.append(&record_for(lsn)).unwrap(), lsn);
        if lsn % 64 == 0 {
            let durable = ledger.commit_and_wait().unwrap();
            assert!(durable >= lsn);
            println!("durable {durable}");
        }
    }
}

#[test]
fn sigkill_during_load_loses_no_committed_record() {
    let tmp = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut total_acked = 0;
    for round in 0..6u64 {
        let mut child = Command::new(&exe)
            .args(["crash_writer_child", "--exact", "--ignored", "--nocapture"])
            .args(["--test-threads", "1"])
            .env(CHILD_ENV, tmp.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let want_acks = 3 + round * 5;
        let mut acked = 0;
        let mut acks = 0;
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            if let Some(n) = line.strip_prefix("durable ") {
                acked = n.parse::<u64>().unwrap();
                acks += 1;
                if acks == want_acks {
                    break;
                }
            }
        }
        assert_eq!(acks, want_acks, "child stopped early in round {round}");
        child.kill().unwrap(); // SIGKILL on Unix
        let status = child.wait().unwrap();
        assert!(!status.success());

        let (ledger, report) = Ledger::open(tmp.path(), LedgerOptions::default()).unwrap();
        assert!(
            report.last_lsn >= acked,
            "round {round}: acknowledged LSN {acked} but the ledger ends at {}",
            report.last_lsn
        );
        ledger.close().unwrap();

        let mut reader = LedgerReader::open(tmp.path()).unwrap();
        let mut expect = 1;
        let mut octets_up_to_ack = 0;
        for entry in reader.by_ref() {
            let entry = entry.unwrap();
            assert_eq!(
                entry.lsn, expect,
                "round {round}: records must be contiguous"
            );
            assert_eq!(entry.record, record_for(entry.lsn), "round {round}");
            if entry.lsn <= acked {
                octets_up_to_ack += octets_of(&entry.record);
            }
            expect += 1;
        }
        assert!(reader.summary().is_clean(), "{:?}", reader.summary());
        assert_eq!(expect - 1, report.last_lsn);
        // What the child counted up to its last acknowledgement, computed independently.
        let counted: u64 = (1..=acked).map(|l| octets_of(&record_for(l))).sum();
        assert_eq!(octets_up_to_ack, counted, "round {round}");
        assert!(acked > total_acked);
        total_acked = acked;
    }
}

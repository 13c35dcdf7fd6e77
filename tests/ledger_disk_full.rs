//! Disk trouble on a real filesystem: the ledger lives on a tiny tmpfs that this test fills up.
//! The writer must report the failure, keep accepting records in memory up to its bound, count
//! what is beyond the bound, and write everything queued once space is back, leaving no torn or
//! repeated frame behind.
//!
//! Needs root (to mount tmpfs); CI runs as root. Without root the test fails with a clear message.

mod support;

use std::fs;
use std::path::Path;

use l2tpagg::ledger::{
    AcctSessionId, AppendError, Counters, Ledger, LedgerError, LedgerEvent, LedgerOptions,
    LedgerReader, LedgerRecord,
};
use support::tmpfs::Tmpfs;

const T0: u64 = 1_793_491_200_000;

fn record(i: u64) -> LedgerRecord {
    LedgerRecord {
        at: T0 + i,
        event: LedgerEvent::SessionInterim {
            session: AcctSessionId(i),
            counters: Counters {
                octets_in: i,
                octets_out: 2 * i,
                packets_in: 3 * i,
                packets_out: 4 * i,
            },
        },
    }
}

fn read_all(dir: &Path) -> Vec<LedgerRecord> {
    let mut reader = LedgerReader::open(dir).unwrap();
    let recs: Vec<_> = reader.by_ref().map(|e| e.unwrap().record).collect();
    assert!(reader.summary().is_clean(), "{:?}", reader.summary());
    recs
}

#[test]
fn a_full_disk_queues_up_to_the_bound_counts_the_rest_and_recovers() {
    let fs_ = Tmpfs::mount("1m");
    let dir = fs_.mountpoint.join("ledger");
    let options = LedgerOptions {
        max_pending_records: 2000,
        ..LedgerOptions::default()
    };
    let (ledger, _) = Ledger::open(&dir, options).unwrap();
    for i in 0..100 {
        ledger.append(&record(i)).unwrap();
    }
    assert_eq!(ledger.commit_and_wait().unwrap(), 100);

    let filler = fs_.fill();
    for i in 100..600 {
        ledger.append(&record(i)).unwrap();
    }
    match ledger.commit_and_wait() {
        Err(LedgerError::DiskTrouble(t)) => {
            assert!(t.error.contains("No space left"), "{t}");
            assert!(t.failures >= 1);
        }
        other => panic!("expected disk trouble, got {other:?}"),
    }
    let status = ledger.status();
    assert_eq!(status.durable_lsn, 100);
    assert_eq!(status.pending, 500);
    assert!(status.trouble.is_some());

    // Accepted up to the bound (2000 pending), refused and counted beyond it.
    for i in 600..2100 {
        ledger.append(&record(i)).unwrap();
    }
    for i in 2100..2110 {
        match ledger.append(&record(i)) {
            Err(AppendError::Overloaded { pending, dropped }) => {
                assert_eq!(pending, 2000);
                assert_eq!(dropped, i - 2099);
            }
            other => panic!("expected Overloaded, got {other:?}"),
        }
    }
    // Retries while the disk is still full keep failing and keep everything queued.
    assert!(ledger.commit_and_wait().is_err());
    assert!(ledger.commit_and_wait().is_err());
    let status = ledger.status();
    assert_eq!((status.pending, status.dropped), (2000, 10));
    assert!(status.trouble.as_ref().unwrap().failures >= 3);

    fs::remove_file(filler).unwrap();
    assert_eq!(ledger.commit_and_wait().unwrap(), 2100);
    let status = ledger.status();
    assert_eq!(
        (status.pending, status.dropped, status.trouble),
        (0, 10, None)
    );
    // Records flow normally again.
    assert_eq!(ledger.append(&record(5000)).unwrap(), 2101);
    ledger.close().unwrap();

    let mut want: Vec<_> = (0..2100).map(record).collect();
    want.push(record(5000));
    assert_eq!(read_all(&dir), want);
    let (ledger, report) = Ledger::open(&dir, LedgerOptions::default()).unwrap();
    assert!(report.is_clean(), "{report:?}");
    ledger.close().unwrap();
}

#[test]
fn a_disk_full_before_the_first_segment_is_ridden_out_too() {
    let fs_ = Tmpfs::mount("256k");
    let dir = fs_.mountpoint.join("ledger");
    let (ledger, _) = Ledger::open(&dir, LedgerOptions::default()).unwrap();
    let filler = fs_.fill();
    for i in 0..50 {
        ledger.append(&record(i)).unwrap();
    }
    assert!(matches!(
        ledger.commit_and_wait(),
        Err(LedgerError::DiskTrouble(_))
    ));
    // No half-made segment is left for readers to trip over.
    assert!(read_all(&dir).is_empty());
    fs::remove_file(filler).unwrap();
    assert_eq!(ledger.commit_and_wait().unwrap(), 50);
    ledger.close().unwrap();
    assert_eq!(read_all(&dir), (0..50).map(record).collect::<Vec<_>>());
}

#[test]
fn closing_on_a_full_disk_fails_loudly_with_what_was_lost() {
    let fs_ = Tmpfs::mount("256k");
    let dir = fs_.mountpoint.join("ledger");
    let (ledger, _) = Ledger::open(&dir, LedgerOptions::default()).unwrap();
    ledger.append(&record(0)).unwrap();
    ledger.commit_and_wait().unwrap();
    let _filler = fs_.fill();
    // More than the free rest of the segment's last page, which tmpfs has already allocated.
    for i in 1..=200 {
        ledger.append(&record(i)).unwrap();
    }
    match ledger.close() {
        Err(LedgerError::LostOnClose {
            records: 200,
            first_lsn: 2,
            last_lsn: 201,
            ..
        }) => {}
        other => panic!("expected LostOnClose, got {other:?}"),
    }
}

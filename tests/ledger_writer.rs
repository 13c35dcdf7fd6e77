//! The ledger writer end to end on the real filesystem: append, group commit, rotation, reopen,
//! the directory lock, and the reader's view of it all.

use std::path::Path;

use l2tpagg::ledger::segment::list_segments;
use l2tpagg::ledger::{
    AcctSessionId, AppendError, Counters, Ledger, LedgerError, LedgerEvent, LedgerOptions,
    LedgerReader, LedgerRecord, LegPlace, MultiSessionId, TerminateCause, TunnelSerial,
};

const T0: u64 = 1_793_491_200_000; // 2026-11-01T00:00:00Z

fn record(i: u64) -> LedgerRecord {
    let session = AcctSessionId(i / 3 + 1);
    let event = match i % 3 {
        0 => LedgerEvent::SessionStart {
            session,
            multi: MultiSessionId(session.0),
            subscriber: format!("user{i}@example.net"),
            account: "ACCT".into(),
            place: LegPlace {
                tunnel: TunnelSerial(1),
                l2tp_session_id: (i % 65_000) as u16 + 1,
                peer: "lns-a".into(),
                line: "fiber-1".into(),
            },
        },
        1 => LedgerEvent::SessionInterim {
            session,
            counters: Counters {
                octets_in: i * 1000,
                octets_out: i * 2000,
                packets_in: i,
                packets_out: 2 * i,
            },
        },
        _ => LedgerEvent::SessionStop {
            session,
            counters: Counters {
                octets_in: i * 1000,
                octets_out: i * 2000,
                packets_in: i,
                packets_out: 2 * i,
            },
            cause: TerminateCause::UserRequest,
            cause_text: "LCP Terminate-Request".into(),
        },
    };
    LedgerRecord {
        at: T0 + i * 1000,
        event,
    }
}

fn read_all(dir: &Path) -> Vec<(u64, LedgerRecord)> {
    let mut reader = LedgerReader::open(dir).unwrap();
    let out: Vec<_> = reader
        .by_ref()
        .map(|e| {
            let e = e.unwrap();
            (e.lsn, e.record)
        })
        .collect();
    assert!(reader.summary().is_clean(), "{:?}", reader.summary());
    out
}

#[test]
fn appended_records_read_back_in_order_after_commit() {
    let tmp = tempfile::tempdir().unwrap();
    let (ledger, report) = Ledger::open(tmp.path(), LedgerOptions::default()).unwrap();
    assert!(report.is_clean());
    assert_eq!(report.last_lsn, 0);
    for i in 0..1000 {
        assert_eq!(ledger.append(&record(i)).unwrap(), i + 1);
    }
    assert_eq!(ledger.commit_and_wait().unwrap(), 1000);
    let status = ledger.status();
    assert_eq!(
        (status.last_lsn, status.durable_lsn, status.pending),
        (1000, 1000, 0)
    );
    assert_eq!(status.trouble, None);
    // Readable while the writer is still open.
    let got = read_all(tmp.path());
    assert_eq!(got.len(), 1000);
    for (i, (lsn, rec)) in got.iter().enumerate() {
        assert_eq!(*lsn, i as u64 + 1);
        assert_eq!(*rec, record(i as u64));
    }
    ledger.close().unwrap();
}

#[test]
fn close_makes_everything_durable_without_a_commit() {
    let tmp = tempfile::tempdir().unwrap();
    let (ledger, _) = Ledger::open(tmp.path(), LedgerOptions::default()).unwrap();
    for i in 0..50 {
        ledger.append(&record(i)).unwrap();
    }
    let status = ledger.close().unwrap();
    assert_eq!(status.durable_lsn, 50);
    assert_eq!(read_all(tmp.path()).len(), 50);
}

#[test]
fn segments_rotate_by_size_and_keep_order() {
    let tmp = tempfile::tempdir().unwrap();
    let options = LedgerOptions {
        max_segment_bytes: 2048,
        ..LedgerOptions::default()
    };
    let (ledger, _) = Ledger::open(tmp.path(), options).unwrap();
    for i in 0..500 {
        ledger.append(&record(i)).unwrap();
        if i % 37 == 0 {
            ledger.commit();
        }
    }
    ledger.close().unwrap();
    let segments = list_segments(tmp.path()).unwrap();
    assert!(segments.len() > 10, "{} segments", segments.len());
    for s in &segments {
        let len = std::fs::metadata(&s.path).unwrap().len();
        assert!(len <= 2048, "{} is {len} bytes", s.path.display());
    }
    let seqs: Vec<u64> = segments.iter().map(|s| s.seq).collect();
    assert_eq!(seqs, (1..=segments.len() as u64).collect::<Vec<_>>());
    let got = read_all(tmp.path());
    assert_eq!(got.len(), 500);
    assert!(
        got.iter()
            .enumerate()
            .all(|(i, (_, r))| *r == record(i as u64))
    );
}

#[test]
fn segments_rotate_by_record_time() {
    let tmp = tempfile::tempdir().unwrap();
    let hour = 3_600_000;
    let options = LedgerOptions {
        max_segment_age_ms: 2 * hour,
        ..LedgerOptions::default()
    };
    let (ledger, _) = Ledger::open(tmp.path(), options).unwrap();
    for h in 0..10 {
        let mut r = record(3 * h + 1);
        r.at = T0 + h * hour;
        ledger.append(&r).unwrap();
    }
    ledger.close().unwrap();
    // Stamps 0..9 h with a 2 h age limit: segments start at 0, 2, 4, 6, 8 h.
    assert_eq!(list_segments(tmp.path()).unwrap().len(), 5);
    assert_eq!(read_all(tmp.path()).len(), 10);
}

#[test]
fn reopen_continues_lsns_in_a_new_segment() {
    let tmp = tempfile::tempdir().unwrap();
    let (ledger, _) = Ledger::open(tmp.path(), LedgerOptions::default()).unwrap();
    for i in 0..10 {
        ledger.append(&record(i)).unwrap();
    }
    ledger.close().unwrap();
    let (ledger, report) = Ledger::open(tmp.path(), LedgerOptions::default()).unwrap();
    assert!(report.is_clean());
    assert_eq!((report.last_lsn, report.records_verified), (10, 10));
    for i in 10..20 {
        assert_eq!(ledger.append(&record(i)).unwrap(), i + 1);
    }
    ledger.close().unwrap();
    assert_eq!(list_segments(tmp.path()).unwrap().len(), 2);
    let got = read_all(tmp.path());
    assert_eq!(
        got.iter().map(|(l, _)| *l).collect::<Vec<_>>(),
        (1..=20).collect::<Vec<_>>()
    );
}

#[test]
fn an_open_without_records_creates_no_segment() {
    let tmp = tempfile::tempdir().unwrap();
    let (ledger, _) = Ledger::open(tmp.path(), LedgerOptions::default()).unwrap();
    assert_eq!(ledger.commit_and_wait().unwrap(), 0);
    ledger.close().unwrap();
    assert!(list_segments(tmp.path()).unwrap().is_empty());
}

#[test]
fn a_second_writer_is_locked_out() {
    let tmp = tempfile::tempdir().unwrap();
    let (first, _) = Ledger::open(tmp.path(), LedgerOptions::default()).unwrap();
    match Ledger::open(tmp.path(), LedgerOptions::default()) {
        Err(LedgerError::Locked(p)) => assert_eq!(p, tmp.path()),
        other => panic!("expected Locked, got {other:?}"),
    }
    first.close().unwrap();
    let (second, _) = Ledger::open(tmp.path(), LedgerOptions::default()).unwrap();
    second.close().unwrap();
}

#[test]
fn oversized_identifiers_are_refused_without_consuming_an_lsn() {
    let tmp = tempfile::tempdir().unwrap();
    let (ledger, _) = Ledger::open(tmp.path(), LedgerOptions::default()).unwrap();
    let bad = LedgerRecord {
        at: T0,
        event: LedgerEvent::LineUse {
            line: "x".repeat(5000),
            in_use: true,
        },
    };
    assert!(matches!(ledger.append(&bad), Err(AppendError::Encode(_))));
    assert_eq!(ledger.append(&record(0)).unwrap(), 1);
    ledger.close().unwrap();
}

#[test]
fn appends_from_many_threads_all_land_once() {
    let tmp = tempfile::tempdir().unwrap();
    let (ledger, _) = Ledger::open(tmp.path(), LedgerOptions::default()).unwrap();
    let ledger = std::sync::Arc::new(ledger);
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let ledger = std::sync::Arc::clone(&ledger);
            std::thread::spawn(move || {
                for i in 0..2500 {
                    ledger.append(&record(t * 10_000 + i)).unwrap();
                    if i % 500 == 0 {
                        ledger.commit();
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(ledger.commit_and_wait().unwrap(), 10_000);
    let got = read_all(tmp.path());
    assert_eq!(got.len(), 10_000);
    let mut stamps: Vec<u64> = got.iter().map(|(_, r)| r.at).collect();
    stamps.sort_unstable();
    stamps.dedup();
    assert_eq!(stamps.len(), 10_000);
}

//! Crash tests for recovery: a ledger is cut at every byte offset inside its last record, and every
//! byte of it is flipped. Recovery must keep every complete record before the damage, set the
//! damaged bytes aside in a quarantine file, and report it; the reader must see exactly the same.

use std::fs;
use std::path::{Path, PathBuf};

use l2tpagg::ledger::segment::{SEGMENT_HEADER_LEN, list_segments};
use l2tpagg::ledger::{
    AcctSessionId, Counters, DamageKind, Ledger, LedgerError, LedgerEvent, LedgerOptions,
    LedgerReader, LedgerRecord, RecoveryScope,
};

const T0: u64 = 1_793_491_200_000;

fn record(i: u64) -> LedgerRecord {
    LedgerRecord {
        at: T0 + i,
        event: LedgerEvent::SessionInterim {
            session: AcctSessionId(i),
            counters: Counters {
                octets_in: i * 7,
                octets_out: i * 11,
                packets_in: i,
                packets_out: i + 1,
            },
        },
    }
}

fn write_ledger(dir: &Path, n: u64, options: LedgerOptions) {
    let (ledger, _) = Ledger::open(dir, options).unwrap();
    for i in 0..n {
        ledger.append(&record(i)).unwrap();
    }
    ledger.close().unwrap();
}

/// (lsn, segment, offset) of every record.
fn positions(dir: &Path) -> Vec<(u64, u64, u64)> {
    LedgerReader::open(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (e.lsn, e.segment, e.offset)
        })
        .collect()
}

fn records(dir: &Path) -> (Vec<LedgerRecord>, l2tpagg::ledger::ReadSummary) {
    let mut reader = LedgerReader::open(dir).unwrap();
    let recs = reader.by_ref().map(|e| e.unwrap().record).collect();
    (recs, reader.into_summary())
}

fn only_segment(dir: &Path) -> PathBuf {
    let segs = list_segments(dir).unwrap();
    assert_eq!(segs.len(), 1);
    segs[0].path.clone()
}

/// Puts `bytes` as the only segment of a fresh ledger directory.
fn ledger_with_segment(name: &str, bytes: &[u8]) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join(name), bytes).unwrap();
    tmp
}

/// Opens `dir`, checks that recovery kept exactly `keep` records and quarantined `tail` found at
/// `offset`, then checks the reader agrees and new appends continue after the kept records.
fn assert_recovers(dir: &Path, keep: u64, offset: u64, tail: &[u8], what: &str) {
    let seg_path = only_segment(dir);
    let (ledger, report) = Ledger::open(dir, LedgerOptions::default()).unwrap();
    assert_eq!(report.quarantined.len(), 1, "{what}: {report:?}");
    let q = &report.quarantined[0];
    assert_eq!((q.offset, q.bytes), (offset, tail.len() as u64), "{what}");
    assert_eq!(q.segment, seg_path);
    assert_eq!(
        fs::read(&q.quarantine_file).unwrap(),
        tail,
        "{what}: quarantined bytes"
    );
    assert_eq!(report.last_lsn, keep, "{what}");
    assert_eq!(
        fs::metadata(&seg_path).unwrap().len(),
        offset,
        "{what}: segment cut back"
    );
    // New records continue the LSN sequence.
    assert_eq!(ledger.append(&record(1000)).unwrap(), keep + 1);
    ledger.close().unwrap();
    let (recs, summary) = records(dir);
    assert!(summary.is_clean(), "{what}: {summary:?}");
    let mut want: Vec<_> = (0..keep).map(record).collect();
    want.push(record(1000));
    assert_eq!(recs, want, "{what}");
    // Recovery is done: a second open finds nothing.
    let (ledger, again) = Ledger::open(dir, LedgerOptions::default()).unwrap();
    assert!(again.is_clean(), "{what}: {again:?}");
    ledger.close().unwrap();
}

#[test]
fn truncation_at_every_offset_inside_the_last_record_keeps_the_rest() {
    let src = tempfile::tempdir().unwrap();
    write_ledger(src.path(), 20, LedgerOptions::default());
    let seg = only_segment(src.path());
    let name = seg.file_name().unwrap().to_str().unwrap().to_owned();
    let bytes = fs::read(&seg).unwrap();
    let last = positions(src.path()).last().unwrap().2 as usize;
    assert!(bytes.len() - last > 40, "the last record spans many bytes");

    // Cut exactly before the last record: a clean ledger of 19 records.
    let tmp = ledger_with_segment(&name, &bytes[..last]);
    let (ledger, report) = Ledger::open(tmp.path(), LedgerOptions::default()).unwrap();
    assert!(report.is_clean());
    assert_eq!(report.last_lsn, 19);
    ledger.close().unwrap();

    for cut in last + 1..bytes.len() {
        let tmp = ledger_with_segment(&name, &bytes[..cut]);
        // The reader, before any recovery, sees the same 19 records and the torn frame.
        let (recs, summary) = records(tmp.path());
        assert_eq!(recs, (0..19).map(record).collect::<Vec<_>>(), "cut {cut}");
        assert_eq!(summary.damage.len(), 1);
        assert_eq!(summary.damage[0].offset, last as u64);
        assert!(matches!(
            summary.damage[0].damage,
            DamageKind::TornFrame { .. }
        ));
        assert_recovers(
            tmp.path(),
            19,
            last as u64,
            &bytes[last..cut],
            &format!("cut {cut}"),
        );
    }
}

#[test]
fn a_flip_of_any_byte_of_the_last_record_is_detected_and_set_aside() {
    let src = tempfile::tempdir().unwrap();
    write_ledger(src.path(), 20, LedgerOptions::default());
    let seg = only_segment(src.path());
    let name = seg.file_name().unwrap().to_str().unwrap().to_owned();
    let bytes = fs::read(&seg).unwrap();
    let last = positions(src.path()).last().unwrap().2 as usize;
    for i in last..bytes.len() {
        for flip in [0x01u8, 0xFF] {
            let mut bad = bytes.clone();
            bad[i] ^= flip;
            let tmp = ledger_with_segment(&name, &bad);
            let (recs, summary) = records(tmp.path());
            assert_eq!(recs.len(), 19, "byte {i} ^ {flip:#x}");
            assert_eq!(summary.damage[0].offset, last as u64);
            assert_recovers(
                tmp.path(),
                19,
                last as u64,
                &bad[last..],
                &format!("byte {i} ^ {flip:#x}"),
            );
        }
    }
}

#[test]
fn damage_in_the_middle_sets_aside_everything_after_it() {
    let src = tempfile::tempdir().unwrap();
    write_ledger(src.path(), 20, LedgerOptions::default());
    let seg = only_segment(src.path());
    let name = seg.file_name().unwrap().to_str().unwrap().to_owned();
    let mut bytes = fs::read(&seg).unwrap();
    let pos = positions(src.path());
    let eighth = pos[7].2 as usize; // the 8th record
    bytes[eighth + 20] ^= 0x40;
    let tmp = ledger_with_segment(&name, &bytes);
    assert_recovers(
        tmp.path(),
        7,
        eighth as u64,
        &bytes[eighth..],
        "middle flip",
    );
}

#[test]
fn a_torn_header_moves_the_whole_segment_aside() {
    let tmp = tempfile::tempdir().unwrap();
    write_ledger(tmp.path(), 5, LedgerOptions::default());
    // A crash right after creating segment 2 left a partial header.
    let second = tmp.path().join("ledger-00000000000000000002.seg");
    let header = fs::read(only_segment(tmp.path())).unwrap()[..SEGMENT_HEADER_LEN - 5].to_vec();
    fs::write(&second, &header).unwrap();
    let (ledger, report) = Ledger::open(tmp.path(), LedgerOptions::default()).unwrap();
    assert_eq!(report.quarantined.len(), 1);
    let q = &report.quarantined[0];
    assert_eq!((q.offset, q.bytes), (0, header.len() as u64));
    assert!(matches!(q.damage, DamageKind::TornHeader { .. }));
    assert!(!second.exists());
    assert_eq!(fs::read(&q.quarantine_file).unwrap(), header);
    assert_eq!(report.last_lsn, 5);
    assert_eq!(ledger.append(&record(5)).unwrap(), 6);
    ledger.close().unwrap();
    let segs: Vec<u64> = list_segments(tmp.path())
        .unwrap()
        .iter()
        .map(|s| s.seq)
        .collect();
    assert_eq!(segs, vec![1, 3], "the quarantined number is not reused");
    assert_eq!(
        records(tmp.path()).0,
        (0..6).map(record).collect::<Vec<_>>()
    );
}

#[test]
fn an_empty_newest_segment_is_removed_and_reported() {
    let tmp = tempfile::tempdir().unwrap();
    write_ledger(tmp.path(), 3, LedgerOptions::default());
    let empty = tmp.path().join("ledger-00000000000000000002.seg");
    fs::write(&empty, b"").unwrap();
    // A reader beside a live writer takes an empty newest file as "being created".
    assert!(records(tmp.path()).1.is_clean());
    let (ledger, report) = Ledger::open(tmp.path(), LedgerOptions::default()).unwrap();
    assert_eq!(report.removed_empty, vec![empty.clone()]);
    assert!(report.quarantined.is_empty());
    assert!(!empty.exists());
    ledger.close().unwrap();
}

#[test]
fn damage_in_an_older_segment_is_found_by_full_verification_only() {
    let tmp = tempfile::tempdir().unwrap();
    let small = LedgerOptions {
        max_segment_bytes: 1024,
        ..LedgerOptions::default()
    };
    write_ledger(tmp.path(), 60, small.clone());
    let segs = list_segments(tmp.path()).unwrap();
    assert!(segs.len() >= 3);
    let first = &segs[0].path;
    let mut bytes = fs::read(first).unwrap();
    let n = bytes.len();
    bytes[n - 3] ^= 0x10; // inside the first segment's last record
    fs::write(first, &bytes).unwrap();

    // The reader reports the damage and goes on with the next segment.
    let (recs, summary) = records(tmp.path());
    assert_eq!(summary.damage.len(), 1);
    assert_eq!(recs.len(), 59);

    let newest_only = LedgerOptions {
        recovery: RecoveryScope::Newest,
        ..small.clone()
    };
    let (ledger, report) = Ledger::open(tmp.path(), newest_only).unwrap();
    assert!(report.is_clean());
    assert_eq!(report.segments_verified, 1);
    assert_eq!(report.last_lsn, 60);
    ledger.close().unwrap();

    let (ledger, report) = Ledger::open(tmp.path(), small).unwrap();
    assert_eq!(report.quarantined.len(), 1);
    assert_eq!(report.quarantined[0].segment, *first);
    assert_eq!(report.last_lsn, 60);
    ledger.close().unwrap();
    let (recs, summary) = records(tmp.path());
    assert!(summary.is_clean());
    assert_eq!(recs.len(), 59);
}

#[test]
fn a_segment_from_a_newer_format_stops_the_open_and_is_left_alone() {
    let tmp = tempfile::tempdir().unwrap();
    write_ledger(tmp.path(), 3, LedgerOptions::default());
    let seg = only_segment(tmp.path());
    let mut bytes = fs::read(&seg).unwrap();
    bytes[8] = 9; // format version 9, with a valid header CRC
    let crc = crc32fast::hash(&bytes[0..28]);
    bytes[28..32].copy_from_slice(&crc.to_le_bytes());
    fs::write(&seg, &bytes).unwrap();
    match Ledger::open(tmp.path(), LedgerOptions::default()) {
        Err(LedgerError::UnsupportedFormat { format: 9, .. }) => {}
        other => panic!("expected UnsupportedFormat, got {other:?}"),
    }
    assert_eq!(fs::read(&seg).unwrap(), bytes);
    assert!(matches!(
        LedgerReader::open(tmp.path()).unwrap().next(),
        Some(Err(LedgerError::UnsupportedFormat { .. }))
    ));
}

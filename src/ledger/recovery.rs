//! Recovery on open: find torn or corrupt tails, set them aside, report.
//!
//! Owns: the one place that shortens a segment or moves it away, and the `quarantine/` folder.
//! Must not touch: intact frames (only bytes at and after the first damage move), or segments
//! written by another format version (those make the open fail instead).
//!
//! # What happens to damage
//!
//! A crash can leave the newest segment with a torn last frame, or (crash right after creating
//! a segment) a torn header. Disk trouble can leave an abandoned segment with a torn tail. Bit rot
//! can flip bytes anywhere. For each verified segment:
//! - a damaged frame at offset `o`: bytes `[o, end)` are copied to
//!   `quarantine/<segment name>.tail-at-<o>`, the copy and its directory are synced, and only then is
//!   the segment shortened to `o` and synced. A crash between the two steps repeats the copy with the
//!   same content on the next open. Everything before `o` stays as it was.
//! - a damaged header: the whole file is renamed to `quarantine/<segment name>.whole`.
//! - an empty file (crash between creating a segment and writing its header) holds nothing and is
//!   removed; the report lists it.
//!
//! Frames after the first damage in a segment may be intact, but nothing proves where they start,
//! so they go to quarantine with the damage; the report says how many bytes that is so an operator
//! can look.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::record::LedgerRecord;
use super::segment::{
    DamageKind, Frames, HeaderProblem, Lsn, QUARANTINE_DIR, SegmentFile, SegmentHeader,
    list_segments,
};
use super::{LedgerError, sync_dir};

/// How much of the ledger [`super::Ledger::open`] verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RecoveryScope {
    /// Every segment: finds bit rot anywhere, costs one read of the whole ledger at start-up.
    #[default]
    All,
    /// Only the newest segment (and older ones back to the newest that holds a record). A crash
    /// can only tear the newest segment, because a segment is synced before the next one exists.
    Newest,
}

/// Damage that recovery set aside.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Quarantined {
    /// The segment the damage was found in.
    pub segment: PathBuf,
    /// Offset of the first damaged byte; the segment now ends here (0: the whole file moved).
    pub offset: u64,
    /// How many bytes were set aside.
    pub bytes: u64,
    pub damage: DamageKind,
    /// Where the bytes are now.
    pub quarantine_file: PathBuf,
}

/// What [`recover`] found and did.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct RecoveryReport {
    /// Segment files present before recovery.
    pub segments: usize,
    /// Segment files read and checked.
    pub segments_verified: usize,
    /// Intact frames in the verified segments.
    pub records_verified: u64,
    /// Intact frames whose body this build cannot decode (newer record kinds); kept on disk.
    pub records_undecodable: u64,
    /// Intact frames repeating an earlier LSN (left behind by a segment abandoned during disk
    /// trouble, then rewritten); readers skip them.
    pub records_duplicate: u64,
    /// The highest intact LSN, 0 for an empty ledger. The writer continues after it.
    pub last_lsn: Lsn,
    /// The sequence number the next segment gets.
    pub next_seq: u64,
    /// Damage set aside in `quarantine/`.
    pub quarantined: Vec<Quarantined>,
    /// Empty segment files removed.
    pub removed_empty: Vec<PathBuf>,
}

impl RecoveryReport {
    /// True when nothing was damaged or removed.
    pub fn is_clean(&self) -> bool {
        self.quarantined.is_empty() && self.removed_empty.is_empty()
    }
}

/// Verifies `dir`'s segments (per `scope`) and sets damage aside. The caller holds the directory
/// lock: nothing else writes while this runs.
pub fn recover(dir: &Path, scope: RecoveryScope) -> Result<RecoveryReport, LedgerError> {
    let segments = list_segments(dir).map_err(LedgerError::io(dir))?;
    let mut report = RecoveryReport {
        segments: segments.len(),
        next_seq: segments.last().map_or(1, |s| s.seq.saturating_add(1)),
        ..RecoveryReport::default()
    };
    match scope {
        RecoveryScope::All => {
            for seg in &segments {
                verify_segment(dir, seg, &mut report)?;
            }
        }
        RecoveryScope::Newest => {
            for seg in segments.iter().rev() {
                let before = report.records_verified;
                verify_segment(dir, seg, &mut report)?;
                if report.records_verified > before {
                    break;
                }
            }
        }
    }
    for q in &report.quarantined {
        tracing::warn!(
            segment = %q.segment.display(),
            offset = q.offset,
            bytes = q.bytes,
            damage = %q.damage,
            quarantine_file = %q.quarantine_file.display(),
            "ledger recovery set a damaged tail aside"
        );
    }
    for p in &report.removed_empty {
        tracing::warn!(segment = %p.display(), "ledger recovery removed an empty segment file");
    }
    Ok(report)
}

fn verify_segment(
    dir: &Path,
    seg: &SegmentFile,
    report: &mut RecoveryReport,
) -> Result<(), LedgerError> {
    let bytes = fs::read(&seg.path).map_err(LedgerError::io(&seg.path))?;
    report.segments_verified += 1;
    if bytes.is_empty() {
        fs::remove_file(&seg.path).map_err(LedgerError::io(&seg.path))?;
        sync_dir(dir).map_err(LedgerError::io(dir))?;
        report.removed_empty.push(seg.path.clone());
        return Ok(());
    }
    match SegmentHeader::parse(&bytes) {
        Err(HeaderProblem::UnsupportedFormat { format }) => {
            return Err(LedgerError::UnsupportedFormat {
                path: seg.path.clone(),
                format,
            });
        }
        Err(HeaderProblem::Damaged(damage)) => {
            let target = quarantine_path(dir, seg, "whole")?;
            fs::rename(&seg.path, &target).map_err(LedgerError::io(&seg.path))?;
            sync_dir(&quarantine_dir(dir)).map_err(LedgerError::io(dir))?;
            sync_dir(dir).map_err(LedgerError::io(dir))?;
            report.quarantined.push(Quarantined {
                segment: seg.path.clone(),
                offset: 0,
                bytes: bytes.len() as u64,
                damage,
                quarantine_file: target,
            });
            return Ok(());
        }
        Ok(h) if h.seq != seg.seq => {
            return Err(LedgerError::Misnamed {
                path: seg.path.clone(),
                header_seq: h.seq,
            });
        }
        Ok(_) => {}
    }
    for item in Frames::new(&bytes) {
        match item {
            Ok(frame) => {
                report.records_verified += 1;
                if frame.lsn <= report.last_lsn {
                    report.records_duplicate += 1;
                } else {
                    report.last_lsn = frame.lsn;
                }
                if LedgerRecord::decode_body(frame.body).is_err() {
                    report.records_undecodable += 1;
                }
            }
            Err((offset, damage)) => {
                let tail = &bytes[offset as usize..];
                let target = quarantine_tail(dir, seg, offset, tail)?;
                let file = fs::OpenOptions::new()
                    .write(true)
                    .open(&seg.path)
                    .map_err(LedgerError::io(&seg.path))?;
                file.set_len(offset)
                    .and_then(|()| file.sync_all())
                    .map_err(LedgerError::io(&seg.path))?;
                report.quarantined.push(Quarantined {
                    segment: seg.path.clone(),
                    offset,
                    bytes: tail.len() as u64,
                    damage,
                    quarantine_file: target,
                });
            }
        }
    }
    Ok(())
}

fn quarantine_dir(dir: &Path) -> PathBuf {
    dir.join(QUARANTINE_DIR)
}

/// A fresh path in `quarantine/` for `seg` with `suffix`; never overwrites an earlier quarantine.
fn quarantine_path(dir: &Path, seg: &SegmentFile, suffix: &str) -> Result<PathBuf, LedgerError> {
    let qdir = quarantine_dir(dir);
    fs::create_dir_all(&qdir).map_err(LedgerError::io(&qdir))?;
    let name = seg
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut candidate = qdir.join(format!("{name}.{suffix}"));
    let mut n = 1;
    while candidate.exists() {
        candidate = qdir.join(format!("{name}.{suffix}.{n}"));
        n += 1;
    }
    Ok(candidate)
}

/// Copies `tail` into quarantine and syncs it. If an identical copy is already there (a crash hit
/// between copying and shortening the segment), that copy is reused.
fn quarantine_tail(
    dir: &Path,
    seg: &SegmentFile,
    offset: u64,
    tail: &[u8],
) -> Result<PathBuf, LedgerError> {
    let qdir = quarantine_dir(dir);
    let suffix = format!("tail-at-{offset}");
    let name = seg
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let first = qdir.join(format!("{name}.{suffix}"));
    if fs::read(&first).is_ok_and(|existing| existing == tail) {
        return Ok(first);
    }
    let target = quarantine_path(dir, seg, &suffix)?;
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&target)
        .map_err(LedgerError::io(&target))?;
    file.write_all(tail)
        .and_then(|()| file.sync_all())
        .map_err(LedgerError::io(&target))?;
    sync_dir(&qdir).map_err(LedgerError::io(&qdir))?;
    Ok(target)
}

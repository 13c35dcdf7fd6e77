//! Reading the ledger back: every record in order across segments.
//!
//! Owns: read-only iteration for invoices, `billing usage` and tests. Must not touch: the files (no
//! lock, no repair; it runs beside a live writer) or billing rules.
//!
//! Damage is handled exactly like [`super::recovery`] would: a segment is read up to its first
//! damaged frame, the damage is reported in [`ReadSummary::damage`], and reading goes on with the
//! next segment. Beside a live writer, the newest segment may end in a frame that is still being
//! written; that shows up as a torn frame and is expected.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::LedgerError;
use super::record::LedgerRecord;
use super::segment::{
    DamageKind, Frames, HeaderProblem, Lsn, SEGMENT_HEADER_LEN, SegmentFile, SegmentHeader,
    list_segments,
};

/// One record as read, with where it was found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LedgerEntry {
    pub lsn: Lsn,
    /// Sequence number of the segment holding it.
    pub segment: u64,
    /// Byte offset of its frame in the segment.
    pub offset: u64,
    pub record: LedgerRecord,
}

/// Damage met while reading.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReadDamage {
    pub segment: PathBuf,
    pub offset: u64,
    /// Bytes from the damage to the end of the segment, not read.
    pub bytes: u64,
    pub damage: DamageKind,
    /// Damage in the newest segment: beside a running daemon this is usually the record being
    /// written right now, not a fault.
    pub newest_segment: bool,
}

/// A frame that was intact but could not be decoded (written by a newer build).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Undecodable {
    pub segment: u64,
    pub offset: u64,
    pub lsn: Lsn,
    pub reason: String,
}

/// What a read pass saw besides records.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct ReadSummary {
    pub segments: usize,
    pub records: u64,
    pub damage: Vec<ReadDamage>,
    pub undecodable: Vec<Undecodable>,
    /// Frames repeating an earlier LSN, skipped.
    pub duplicates: u64,
}

impl ReadSummary {
    /// True when every byte read was an intact, decodable, new record.
    pub fn is_clean(&self) -> bool {
        self.damage.is_empty() && self.undecodable.is_empty() && self.duplicates == 0
    }
}

struct Loaded {
    seq: u64,
    path: PathBuf,
    bytes: Vec<u8>,
    pos: u64,
}

/// Iterates every record of a ledger directory in LSN order. Yields `Err` only for IO errors and
/// segments this build must not interpret; after an `Err` the iteration ends.
pub struct LedgerReader {
    pending: VecDeque<SegmentFile>,
    current: Option<Loaded>,
    last_lsn: Lsn,
    summary: ReadSummary,
    failed: bool,
}

impl LedgerReader {
    /// Lists the segments of `dir`. A missing directory is an error: an empty ledger has a directory.
    pub fn open(dir: &Path) -> Result<LedgerReader, LedgerError> {
        let segments = list_segments(dir).map_err(LedgerError::io(dir))?;
        Ok(LedgerReader {
            summary: ReadSummary {
                segments: segments.len(),
                ..ReadSummary::default()
            },
            pending: segments.into(),
            current: None,
            last_lsn: 0,
            failed: false,
        })
    }

    /// What was seen so far; complete once the iterator has returned `None`.
    pub fn summary(&self) -> &ReadSummary {
        &self.summary
    }

    /// The summary, consuming the reader.
    pub fn into_summary(self) -> ReadSummary {
        self.summary
    }

    fn load_next(&mut self) -> Result<bool, LedgerError> {
        let Some(seg) = self.pending.pop_front() else {
            return Ok(false);
        };
        let bytes = std::fs::read(&seg.path).map_err(LedgerError::io(&seg.path))?;
        match SegmentHeader::parse(&bytes) {
            Ok(h) if h.seq == seg.seq => {
                self.current = Some(Loaded {
                    seq: seg.seq,
                    path: seg.path,
                    bytes,
                    pos: SEGMENT_HEADER_LEN as u64,
                });
            }
            Ok(h) => {
                return Err(LedgerError::Misnamed {
                    path: seg.path,
                    header_seq: h.seq,
                });
            }
            Err(HeaderProblem::UnsupportedFormat { format }) => {
                return Err(LedgerError::UnsupportedFormat {
                    path: seg.path,
                    format,
                });
            }
            // A live writer creates a segment and writes its header right after; an empty newest
            // file is that moment, not damage.
            Err(HeaderProblem::Damaged(_)) if bytes.is_empty() => {}
            Err(HeaderProblem::Damaged(damage)) => {
                self.summary.damage.push(ReadDamage {
                    segment: seg.path,
                    offset: 0,
                    bytes: bytes.len() as u64,
                    damage,
                    newest_segment: self.pending.is_empty(),
                });
            }
        }
        Ok(true)
    }
}

impl Iterator for LedgerReader {
    type Item = Result<LedgerEntry, LedgerError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        loop {
            if let Some(cur) = &mut self.current {
                let mut frames = Frames::new(&cur.bytes);
                frames.skip_to(cur.pos);
                match frames.next() {
                    Some(Ok(frame)) => {
                        cur.pos = frames.position();
                        if frame.lsn <= self.last_lsn {
                            self.summary.duplicates += 1;
                            continue;
                        }
                        match LedgerRecord::decode_body(frame.body) {
                            Ok(record) => {
                                self.last_lsn = frame.lsn;
                                self.summary.records += 1;
                                return Some(Ok(LedgerEntry {
                                    lsn: frame.lsn,
                                    segment: cur.seq,
                                    offset: frame.offset,
                                    record,
                                }));
                            }
                            Err(e) => {
                                self.last_lsn = frame.lsn;
                                self.summary.undecodable.push(Undecodable {
                                    segment: cur.seq,
                                    offset: frame.offset,
                                    lsn: frame.lsn,
                                    reason: e.to_string(),
                                });
                                continue;
                            }
                        }
                    }
                    Some(Err((offset, damage))) => {
                        let bytes = cur.bytes.len() as u64 - offset;
                        self.summary.damage.push(ReadDamage {
                            segment: cur.path.clone(),
                            offset,
                            bytes,
                            damage,
                            newest_segment: self.pending.is_empty(),
                        });
                        self.current = None;
                    }
                    None => self.current = None,
                }
            }
            match self.load_next() {
                Ok(true) => {}
                Ok(false) => return None,
                Err(e) => {
                    self.failed = true;
                    return Some(Err(e));
                }
            }
        }
    }
}

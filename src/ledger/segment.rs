//! Segment files and the checksummed frames inside them.
//!
//! Owns: the on-disk byte layout (segment header, frame header, CRC), segment file names, and the
//! scanner that walks frames and stops at the first damage. Must not touch: record bodies (they are
//! opaque bytes here, see [`super::record`]), writing policy or recovery actions.
//!
//! # Layout
//!
//! A ledger directory holds segment files named `ledger-<seq>.seg`, `<seq>` being 20 decimal
//! digits, so that sorting names sorts segments; there is no manifest. Each segment is:
//!
//! ```text
//! segment header, 32 bytes:
//!   [0..8)   magic "L2AGLEDG"
//!   [8..10)  format version, u16 LE (1)
//!   [10..12) header length, u16 LE (32)
//!   [12..20) segment sequence number, u64 LE (equals the number in the file name)
//!   [20..28) created_at, UnixMillis u64 LE (stamp of the segment's first record)
//!   [28..32) CRC-32 (IEEE) of bytes [0..28), u32 LE
//! then frames, back to back:
//!   [0..4)   payload length n, u32 LE: the LSN plus the record body
//!   [4..8)   CRC-32 (IEEE) over the 4 length bytes followed by the n payload bytes, u32 LE
//!   [8..16)  LSN (log sequence number), u64 LE, strictly increasing over the whole ledger
//!   [16..8+n) record body
//! ```
//! Covering the length with the CRC means a damaged length is caught too, not only a damaged body.
//! Frames are never rewritten: a segment only grows, and only the writer that created it appends.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::runtime::clock::UnixMillis;

/// Log sequence number: the position of a record in the ledger, starting at 1.
pub type Lsn = u64;

/// Magic bytes opening every segment.
pub const SEGMENT_MAGIC: [u8; 8] = *b"L2AGLEDG";
/// Segment format version this build reads and writes.
pub const SEGMENT_FORMAT: u16 = 1;
/// Length of the segment header.
pub const SEGMENT_HEADER_LEN: usize = 32;
/// Length of a frame header (length, CRC) plus the LSN.
pub const FRAME_PREFIX_LEN: usize = 16;
/// Largest accepted payload (LSN + body). Records are small; a larger length is damage.
pub const MAX_FRAME_PAYLOAD: u32 = 64 * 1024;
/// Smallest possible payload: the LSN plus a body's version, kind and timestamp.
const MIN_FRAME_PAYLOAD: u32 = 8 + 10;

/// A parsed segment header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentHeader {
    pub seq: u64,
    pub created_at: UnixMillis,
}

impl SegmentHeader {
    /// The 32 header bytes.
    pub fn encode(&self) -> [u8; SEGMENT_HEADER_LEN] {
        let mut b = [0u8; SEGMENT_HEADER_LEN];
        b[0..8].copy_from_slice(&SEGMENT_MAGIC);
        b[8..10].copy_from_slice(&SEGMENT_FORMAT.to_le_bytes());
        b[10..12].copy_from_slice(&(SEGMENT_HEADER_LEN as u16).to_le_bytes());
        b[12..20].copy_from_slice(&self.seq.to_le_bytes());
        b[20..28].copy_from_slice(&self.created_at.to_le_bytes());
        let crc = crc32fast::hash(&b[0..28]);
        b[28..32].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Parses a header from the start of a segment file's bytes.
    pub fn parse(bytes: &[u8]) -> Result<SegmentHeader, HeaderProblem> {
        if bytes.len() < SEGMENT_HEADER_LEN {
            return Err(HeaderProblem::Damaged(DamageKind::TornHeader {
                have: bytes.len() as u64,
            }));
        }
        let h = &bytes[..SEGMENT_HEADER_LEN];
        if h[0..8] != SEGMENT_MAGIC {
            return Err(HeaderProblem::Damaged(DamageKind::BadMagic));
        }
        let crc = u32::from_le_bytes([h[28], h[29], h[30], h[31]]);
        if crc32fast::hash(&h[0..28]) != crc {
            return Err(HeaderProblem::Damaged(DamageKind::HeaderChecksumMismatch));
        }
        // Checked after the CRC: a checksummed header with another version was written on purpose
        // by another build and must not be mistaken for damage.
        let format = u16::from_le_bytes([h[8], h[9]]);
        let header_len = u16::from_le_bytes([h[10], h[11]]);
        if format != SEGMENT_FORMAT || header_len as usize != SEGMENT_HEADER_LEN {
            return Err(HeaderProblem::UnsupportedFormat { format });
        }
        Ok(SegmentHeader {
            seq: read_u64(&h[12..20]),
            created_at: read_u64(&h[20..28]),
        })
    }
}

/// Why a segment header was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderProblem {
    /// Torn or corrupt: recovery sets the file aside.
    Damaged(DamageKind),
    /// Intact but written by a build with another format: never touched, the open fails instead.
    UnsupportedFormat { format: u16 },
}

/// What is wrong at a damaged offset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DamageKind {
    /// The file ends inside the segment header.
    TornHeader { have: u64 },
    /// The header does not start with the segment magic.
    BadMagic,
    /// The header's CRC does not match.
    HeaderChecksumMismatch,
    /// The file ends inside a frame: a write cut short by a crash.
    TornFrame { have: u64, need: u64 },
    /// A frame length outside what any record can have.
    BadLength { len: u32 },
    /// The frame's CRC does not match its bytes.
    ChecksumMismatch,
}

impl std::fmt::Display for DamageKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DamageKind::TornHeader { have } => {
                write!(
                    f,
                    "segment header torn ({have} of {SEGMENT_HEADER_LEN} bytes)"
                )
            }
            DamageKind::BadMagic => write!(f, "segment header has no ledger magic"),
            DamageKind::HeaderChecksumMismatch => write!(f, "segment header checksum mismatch"),
            DamageKind::TornFrame { have, need } => {
                write!(f, "torn frame ({have} of {need} bytes present)")
            }
            DamageKind::BadLength { len } => write!(f, "impossible frame length {len}"),
            DamageKind::ChecksumMismatch => write!(f, "frame checksum mismatch"),
        }
    }
}

/// One intact frame found by [`Frames`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    /// Byte offset of the frame in its segment file.
    pub offset: u64,
    pub lsn: Lsn,
    pub body: &'a [u8],
}

/// Walks the frames of a segment's bytes (header included) in order. Yields `Ok` frames until the
/// end of the bytes or the first damage, which it yields once as `Err` before stopping: nothing
/// after damage can be trusted to be framed where it seems to be.
pub struct Frames<'a> {
    bytes: &'a [u8],
    pos: usize,
    done: bool,
}

impl<'a> Frames<'a> {
    /// Starts after the segment header; the caller has checked the header.
    pub fn new(bytes: &'a [u8]) -> Self {
        Frames {
            bytes,
            pos: SEGMENT_HEADER_LEN.min(bytes.len()),
            done: false,
        }
    }

    /// Resumes a walk at `offset`, a position an earlier walk of the same bytes reported.
    pub fn skip_to(&mut self, offset: u64) {
        self.pos = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(self.bytes.len());
    }

    /// The offset just after the last intact frame returned so far.
    pub fn position(&self) -> u64 {
        self.pos as u64
    }
}

impl<'a> Iterator for Frames<'a> {
    type Item = Result<Frame<'a>, (u64, DamageKind)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.pos >= self.bytes.len() {
            return None;
        }
        let rest = &self.bytes[self.pos..];
        let offset = self.pos as u64;
        let damage = |kind| Some(Err((offset, kind)));
        if rest.len() < 8 {
            self.done = true;
            return damage(DamageKind::TornFrame {
                have: rest.len() as u64,
                need: 8,
            });
        }
        let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]);
        if !(MIN_FRAME_PAYLOAD..=MAX_FRAME_PAYLOAD).contains(&len) {
            self.done = true;
            return damage(DamageKind::BadLength { len });
        }
        let need = 8 + len as usize;
        if rest.len() < need {
            self.done = true;
            return damage(DamageKind::TornFrame {
                have: rest.len() as u64,
                need: need as u64,
            });
        }
        let stored = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]);
        if frame_crc(&rest[0..4], &rest[8..need]) != stored {
            self.done = true;
            return damage(DamageKind::ChecksumMismatch);
        }
        self.pos += need;
        Some(Ok(Frame {
            offset,
            lsn: read_u64(&rest[8..16]),
            body: &rest[16..need],
        }))
    }
}

fn frame_crc(len_bytes: &[u8], payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(len_bytes);
    h.update(payload);
    h.finalize()
}

fn read_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_le_bytes(a)
}

/// A frame buffer: [`FRAME_PREFIX_LEN`] placeholder bytes followed by a record body, sealed with
/// its LSN and CRC by [`seal_frame`]. Splitting the work this way lets callers encode bodies off
/// the writer thread while the LSN is only assigned in order.
pub fn frame_buffer() -> Vec<u8> {
    let mut v = Vec::with_capacity(128);
    v.resize(FRAME_PREFIX_LEN, 0);
    v
}

/// Fills in length, CRC and LSN of a buffer made by [`frame_buffer`] and then filled with a body.
/// Returns false if the payload is too large to frame.
pub fn seal_frame(buf: &mut [u8], lsn: Lsn) -> bool {
    let payload_len = buf.len() - 8;
    if payload_len > MAX_FRAME_PAYLOAD as usize {
        return false;
    }
    buf[0..4].copy_from_slice(&(payload_len as u32).to_le_bytes());
    buf[8..16].copy_from_slice(&lsn.to_le_bytes());
    let crc = frame_crc(&buf[0..4], &buf[8..]);
    buf[4..8].copy_from_slice(&crc.to_le_bytes());
    true
}

/// The largest body that fits in a frame.
pub const MAX_BODY_LEN: usize = MAX_FRAME_PAYLOAD as usize - 8;

/// The file name of segment `seq`.
pub fn segment_file_name(seq: u64) -> String {
    format!("ledger-{seq:020}.seg")
}

/// The sequence number in a segment file name, if `name` is one.
pub fn parse_segment_file_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("ledger-")?.strip_suffix(".seg")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Name of the directory inside a ledger directory where damaged bytes are set aside.
pub const QUARANTINE_DIR: &str = "quarantine";

/// A segment file found in a ledger directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentFile {
    pub seq: u64,
    pub path: PathBuf,
}

/// The segment files of `dir` in ledger order. Other files are left alone and ignored.
pub fn list_segments(dir: &Path) -> std::io::Result<Vec<SegmentFile>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(seq) = parse_segment_file_name(name)
            && entry.file_type()?.is_file()
        {
            out.push(SegmentFile {
                seq,
                path: entry.path(),
            });
        }
    }
    out.sort_by_key(|s| s.seq);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment_with(bodies: &[&[u8]]) -> Vec<u8> {
        let mut bytes = SegmentHeader {
            seq: 3,
            created_at: 99,
        }
        .encode()
        .to_vec();
        for (i, body) in bodies.iter().enumerate() {
            let mut f = frame_buffer();
            f.extend_from_slice(body);
            assert!(seal_frame(&mut f, i as u64 + 1));
            bytes.extend_from_slice(&f);
        }
        bytes
    }

    const BODY: &[u8] = b"0123456789abcdef-body";

    #[test]
    fn header_round_trips_and_rejects_damage() {
        let h = SegmentHeader {
            seq: 42,
            created_at: 1_790_000_000_000,
        };
        let b = h.encode();
        assert_eq!(SegmentHeader::parse(&b), Ok(h));
        for i in 0..SEGMENT_HEADER_LEN {
            let mut bad = b;
            bad[i] ^= 0x01;
            assert!(matches!(
                SegmentHeader::parse(&bad),
                Err(HeaderProblem::Damaged(_))
            ));
        }
        assert!(matches!(
            SegmentHeader::parse(&b[..31]),
            Err(HeaderProblem::Damaged(DamageKind::TornHeader { have: 31 }))
        ));
    }

    #[test]
    fn a_newer_format_is_not_damage() {
        let mut b = SegmentHeader {
            seq: 1,
            created_at: 1,
        }
        .encode();
        b[8] = 2;
        let crc = crc32fast::hash(&b[0..28]);
        b[28..32].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(
            SegmentHeader::parse(&b),
            Err(HeaderProblem::UnsupportedFormat { format: 2 })
        );
    }

    #[test]
    fn frame_bytes_are_exact() {
        let mut f = frame_buffer();
        f.extend_from_slice(BODY);
        seal_frame(&mut f, 0x0102);
        let n = (8 + BODY.len()) as u32;
        assert_eq!(&f[0..4], &n.to_le_bytes());
        let mut h = crc32fast::Hasher::new();
        h.update(&n.to_le_bytes());
        h.update(&0x0102u64.to_le_bytes());
        h.update(BODY);
        assert_eq!(&f[4..8], &h.finalize().to_le_bytes());
        assert_eq!(&f[8..16], &0x0102u64.to_le_bytes());
        assert_eq!(&f[16..], BODY);
    }

    #[test]
    fn frames_are_walked_in_order() {
        let bytes = segment_with(&[BODY, BODY, BODY]);
        let frames: Vec<_> = Frames::new(&bytes).collect::<Result<_, _>>().unwrap();
        assert_eq!(
            frames.iter().map(|f| f.lsn).collect::<Vec<_>>(),
            vec![1, 2, 3]
        );
        assert_eq!(frames[0].offset, SEGMENT_HEADER_LEN as u64);
        assert!(frames.iter().all(|f| f.body == BODY));
    }

    #[test]
    fn every_truncation_of_the_last_frame_is_torn_and_keeps_the_rest() {
        let bytes = segment_with(&[BODY, BODY]);
        let last = SEGMENT_HEADER_LEN + FRAME_PREFIX_LEN + BODY.len();
        for cut in last + 1..bytes.len() {
            let items: Vec<_> = Frames::new(&bytes[..cut]).collect();
            assert_eq!(items.len(), 2, "cut {cut}");
            assert!(items[0].is_ok());
            let (off, kind) = items[1].clone().unwrap_err();
            assert_eq!(off, last as u64);
            assert!(matches!(kind, DamageKind::TornFrame { .. }), "{kind:?}");
        }
    }

    #[test]
    fn every_byte_flip_in_a_frame_is_caught() {
        let bytes = segment_with(&[BODY, BODY]);
        let last = SEGMENT_HEADER_LEN + FRAME_PREFIX_LEN + BODY.len();
        for i in last..bytes.len() {
            for flip in [0x01u8, 0x80, 0xFF] {
                let mut bad = bytes.clone();
                bad[i] ^= flip;
                let items: Vec<_> = Frames::new(&bad).collect();
                assert_eq!(items.len(), 2, "byte {i} flip {flip:#x}");
                assert_eq!(items[1].clone().unwrap_err().0, last as u64);
            }
        }
    }

    #[test]
    fn segment_names_sort_and_parse() {
        assert_eq!(segment_file_name(7), "ledger-00000000000000000007.seg");
        assert_eq!(
            parse_segment_file_name(&segment_file_name(u64::MAX)),
            Some(u64::MAX)
        );
        assert_eq!(parse_segment_file_name("ledger-7.seg"), None);
        assert_eq!(
            parse_segment_file_name("ledger-0000000000000000000x.seg"),
            None
        );
        assert!(segment_file_name(9) < segment_file_name(10));
    }
}

//! The ledger writer: append-only, group-committed, riding out disk trouble.
//!
//! Owns: the writer thread, the newest segment file, segment rotation, fsync, and the bounded
//! in-memory queue of records that are not yet durable. Must not touch: older segments (they are
//! sealed), damaged bytes from an earlier run (recovery handles those before the thread starts), or
//! the clock.
//!
//! # Threads and calls
//!
//! [`Ledger::append`] encodes the record on the caller's thread, assigns the next LSN and queues the
//! bytes; it never does IO and never blocks on the disk (it takes one short mutex). A dedicated
//! thread, `ledger-writer`, takes everything queued in one go and hands it to `write(2)` as one
//! batch (group commit). It fsyncs when:
//! - the caller asks with [`Ledger::commit`] (non-blocking) or [`Ledger::commit_and_wait`]. The
//!   actor calls `commit` on its fsync-interval timer: the interval is the caller's, so the ledger
//!   never reads a clock or sleeps, and tests drive it by hand;
//! - more than [`LedgerOptions::sync_after_bytes`] have been written since the last fsync;
//! - a segment is sealed by rotation, or the ledger is closed.
//!
//! Segments rotate before a record that would take the segment past
//! [`LedgerOptions::max_segment_bytes`], or whose stamp is [`LedgerOptions::max_segment_age_ms`]
//! or more after the segment's first record's stamp. A segment is fsynced before the next one is
//! created, and the directory is fsynced after creating one, so only the newest segment can ever
//! have a torn tail.
//!
//! # What a crash can lose at most (the single-write-loss bound)
//!
//! - **Every record covered by a successful commit** (`commit_and_wait` returned `Ok(lsn)`, or
//!   [`LedgerStatus::durable_lsn`] reached it) survives any crash, power loss included.
//! - **Process crash** (SIGKILL, abort, OOM kill): bytes handed to `write(2)` are in the kernel and
//!   survive. Lost are only records accepted by `append` that the writer thread had not yet
//!   written: the batch in flight, at most [`LedgerOptions::max_pending_records`], in practice the
//!   few microseconds of appends before the kill.
//! - **Machine crash or power loss**: lost are the records appended since the last successful
//!   commit, i.e. at most one commit interval of records (and never more than
//!   `max_pending_records`), plus a possibly torn last frame, which recovery sets aside.
//!   An earlier record is never damaged: the file is only appended to.
//!
//! # Disk trouble
//!
//! A failed write or fsync (disk full, IO error) is logged at error level (first failure, then at
//! the 2nd, 4th, 8th... repeat), shown in [`LedgerStatus::trouble`], and returned by
//! `commit_and_wait`. Callers keep running: `append` keeps accepting records into memory while
//! fewer than `max_pending_records` are not yet durable; beyond that it refuses them with
//! [`AppendError::Overloaded`] and counts them in [`LedgerStatus::dropped`] (logged at 1, 2, 4...).
//! While in trouble the writer retries on each commit request. A retry first cuts the segment back
//! to its last fsynced length, removing any half-written frame of ours, then writes every pending
//! record again; if even that cut fails, it abandons the segment and starts a new one (readers skip
//! the repeated LSNs). When the disk recovers, everything queued is written and synced, and the
//! recovery is logged.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use serde::Serialize;

use super::record::{EncodeError, LedgerRecord};
use super::recovery::{RecoveryReport, RecoveryScope, recover};
use super::segment::{
    FRAME_PREFIX_LEN, Lsn, MAX_BODY_LEN, SEGMENT_HEADER_LEN, SegmentHeader, frame_buffer,
    seal_frame, segment_file_name,
};
use super::{LedgerError, sync_dir};
use crate::runtime::clock::UnixMillis;

/// Tuning of the writer. The defaults suit a concentrator with tens of thousands of sessions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerOptions {
    /// A segment is sealed before it would grow past this many bytes. Default 16 MiB.
    pub max_segment_bytes: u64,
    /// A segment is sealed before a record stamped this long after its first record. Default one
    /// day, so old segments can be archived by date.
    pub max_segment_age_ms: u64,
    /// Records accepted but not yet durable, at most. Beyond it `append` refuses and counts.
    /// Default 262 144 (roughly 40 MB of memory).
    pub max_pending_records: usize,
    /// Fsync without waiting for a commit request once this many bytes are unsynced. Default 4 MiB.
    pub sync_after_bytes: u64,
    /// How much of the ledger to verify on open.
    pub recovery: RecoveryScope,
    /// Fsync on commit. Off, a commit only hands the records to the kernel (`write(2)`): they
    /// survive a process crash but not a machine crash or power loss, and
    /// [`LedgerStatus::durable_lsn`] means "written" rather than "on disk". For tests and
    /// tmpfs. Segment creation and rotation still sync, so a segment never loses its header.
    /// Default on.
    pub fsync: bool,
}

impl Default for LedgerOptions {
    fn default() -> Self {
        LedgerOptions {
            max_segment_bytes: 16 * 1024 * 1024,
            max_segment_age_ms: 24 * 60 * 60 * 1000,
            max_pending_records: 262_144,
            sync_after_bytes: 4 * 1024 * 1024,
            recovery: RecoveryScope::All,
            fsync: true,
        }
    }
}

/// The disk problem the writer is riding out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DiskTrouble {
    /// The last error, as the OS said it.
    pub error: String,
    /// Failed attempts since the trouble began.
    pub failures: u64,
    /// Records accepted and not yet durable when the status was taken.
    pub pending: usize,
}

impl std::fmt::Display for DiskTrouble {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({} failed attempts, {} records pending in memory)",
            self.error, self.failures, self.pending
        )
    }
}

/// A snapshot of the writer's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LedgerStatus {
    /// The LSN of the last record `append` accepted (0: none yet in this ledger).
    pub last_lsn: Lsn,
    /// Every record up to this LSN is fsynced.
    pub durable_lsn: Lsn,
    /// Records accepted and not yet durable.
    pub pending: usize,
    /// Records refused because `max_pending_records` were pending, since open.
    pub dropped: u64,
    /// Set while writes or fsyncs fail.
    pub trouble: Option<DiskTrouble>,
    /// Sequence number of the segment being written (0: none created yet in this run).
    pub segment_seq: u64,
}

/// Why `append` did not take a record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppendError {
    #[error(transparent)]
    Encode(#[from] EncodeError),
    #[error("record body is {0} bytes; a frame holds at most {MAX_BODY_LEN}")]
    TooLarge(usize),
    #[error(
        "ledger overloaded: {pending} records pending (disk trouble?); {dropped} records refused so far"
    )]
    Overloaded { pending: usize, dropped: u64 },
    #[error("ledger is closed")]
    Closed,
}

struct Pending {
    lsn: Lsn,
    at: UnixMillis,
    /// [`frame_buffer`] prefix + body; sealed by the writer thread.
    frame: Vec<u8>,
}

struct State {
    incoming: Vec<Pending>,
    next_lsn: Lsn,
    /// Records the writer thread has taken and not yet made durable.
    held: usize,
    dropped: u64,
    commit_requested: u64,
    commit_done: u64,
    shutdown: bool,
    writer_alive: bool,
    durable_lsn: Lsn,
    trouble: Option<DiskTrouble>,
    segment_seq: u64,
    lost_on_close: Option<LedgerError>,
}

struct Shared {
    state: Mutex<State>,
    /// Wakes the writer: records queued, commit requested, shutdown.
    work: Condvar,
    /// Wakes callers waiting for a commit to be attempted.
    progress: Condvar,
    max_pending: usize,
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    // A panic elsewhere must not stop accounting; the state is plain counters and a queue.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The ledger writer. One per ledger directory (a `LOCK` file keeps others out). `&self` methods
/// may be called from any thread.
pub struct Ledger {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    dir: PathBuf,
    _lock: File,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger").field("dir", &self.dir).finish()
    }
}

impl Ledger {
    /// Opens (creating if needed) the ledger in `dir`: takes the directory lock, runs recovery
    /// (see [`super::recovery`]), and starts the writer thread. The report says what recovery found;
    /// the caller should log it and alert on damage.
    pub fn open(
        dir: &Path,
        options: LedgerOptions,
    ) -> Result<(Ledger, RecoveryReport), LedgerError> {
        std::fs::create_dir_all(dir).map_err(LedgerError::io(dir))?;
        let lock_path = dir.join("LOCK");
        let lock_file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(LedgerError::io(&lock_path))?;
        // std's advisory flock (Rust 1.89): the crate's declared rust-version predates it, and the
        // alternative, libc::flock, would need `unsafe` outside `sys`. See the branch report.
        match lock_file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(LedgerError::Locked(dir.to_path_buf()));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(LedgerError::io(&lock_path)(e)),
        }
        let report = recover(dir, options.recovery)?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                incoming: Vec::new(),
                next_lsn: report.last_lsn + 1,
                held: 0,
                dropped: 0,
                commit_requested: 0,
                commit_done: 0,
                shutdown: false,
                writer_alive: true,
                durable_lsn: report.last_lsn,
                trouble: None,
                segment_seq: 0,
                lost_on_close: None,
            }),
            work: Condvar::new(),
            progress: Condvar::new(),
            max_pending: options.max_pending_records.max(1),
        });
        let writer = Writer {
            dir: dir.to_path_buf(),
            shared: Arc::clone(&shared),
            pending: VecDeque::new(),
            written: 0,
            unsynced: 0,
            segment: None,
            next_seq: report.next_seq,
            suspect: false,
            trouble: None,
            buf: Vec::with_capacity(WRITE_CHUNK),
            commit_seen: 0,
            durable_lsn: report.last_lsn,
            options,
        };
        let thread = std::thread::Builder::new()
            .name("ledger-writer".into())
            .spawn(move || writer.run())
            .map_err(LedgerError::io(dir))?;
        Ok((
            Ledger {
                shared,
                thread: Some(thread),
                dir: dir.to_path_buf(),
                _lock: lock_file,
            },
            report,
        ))
    }

    /// The ledger directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Queues a record and returns its LSN. Never does IO. Refuses (and counts) when
    /// `max_pending_records` are already pending.
    pub fn append(&self, record: &LedgerRecord) -> Result<Lsn, AppendError> {
        let mut frame = frame_buffer();
        record.encode_body(&mut frame)?;
        let body_len = frame.len() - FRAME_PREFIX_LEN;
        if body_len > MAX_BODY_LEN {
            return Err(AppendError::TooLarge(body_len));
        }
        let mut st = lock(&self.shared.state);
        if st.shutdown || !st.writer_alive {
            return Err(AppendError::Closed);
        }
        let pending = st.incoming.len() + st.held;
        if pending >= self.shared.max_pending {
            st.dropped += 1;
            let dropped = st.dropped;
            drop(st);
            if dropped.is_power_of_two() {
                tracing::error!(
                    pending,
                    dropped,
                    "ledger queue full: usage records are being refused and lost"
                );
            }
            return Err(AppendError::Overloaded { pending, dropped });
        }
        let lsn = st.next_lsn;
        st.next_lsn += 1;
        let wake = st.incoming.is_empty();
        st.incoming.push(Pending {
            lsn,
            at: record.at,
            frame,
        });
        drop(st);
        if wake {
            self.shared.work.notify_one();
        }
        Ok(lsn)
    }

    /// Asks the writer to write and fsync everything appended so far. Returns at once; watch
    /// [`Ledger::status`] for the outcome. Call it on the fsync interval.
    pub fn commit(&self) {
        let mut st = lock(&self.shared.state);
        st.commit_requested += 1;
        drop(st);
        self.shared.work.notify_one();
    }

    /// Like [`Ledger::commit`], then waits until the writer has tried. Returns the durable LSN
    /// (covering every record appended before the call), or the disk trouble that stopped it.
    /// Blocks on the disk: for shutdown paths, tools and tests, not for the actor's loop.
    pub fn commit_and_wait(&self) -> Result<Lsn, LedgerError> {
        let mut st = lock(&self.shared.state);
        st.commit_requested += 1;
        let id = st.commit_requested;
        self.shared.work.notify_one();
        while st.commit_done < id && st.writer_alive {
            st = self
                .shared
                .progress
                .wait(st)
                .unwrap_or_else(|e| e.into_inner());
        }
        if st.commit_done < id {
            return Err(LedgerError::WriterGone);
        }
        match &st.trouble {
            Some(t) => Err(LedgerError::DiskTrouble(t.clone())),
            None => Ok(st.durable_lsn),
        }
    }

    /// A snapshot of the writer's state.
    pub fn status(&self) -> LedgerStatus {
        let st = lock(&self.shared.state);
        let pending = st.incoming.len() + st.held;
        LedgerStatus {
            last_lsn: st.next_lsn - 1,
            durable_lsn: st.durable_lsn,
            pending,
            dropped: st.dropped,
            trouble: st.trouble.clone().map(|mut t| {
                t.pending = pending;
                t
            }),
            segment_seq: st.segment_seq,
        }
    }

    /// Writes and fsyncs everything, stops the thread and releases the directory lock. Fails
    /// loudly if records could not be written.
    pub fn close(mut self) -> Result<LedgerStatus, LedgerError> {
        self.stop();
        let status = self.status();
        let mut st = lock(&self.shared.state);
        match st.lost_on_close.take() {
            Some(e) => Err(e),
            None => Ok(status),
        }
    }

    fn stop(&mut self) {
        {
            let mut st = lock(&self.shared.state);
            st.shutdown = true;
        }
        self.shared.work.notify_one();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Ledger {
    fn drop(&mut self) {
        self.stop();
        if let Some(e) = lock(&self.shared.state).lost_on_close.take() {
            tracing::error!(error = %e, "ledger dropped with records never written");
        }
    }
}

/// Bytes gathered before one `write(2)`.
const WRITE_CHUNK: usize = 1024 * 1024;

struct OpenSegment {
    file: File,
    seq: u64,
    len: u64,
    durable_len: u64,
    frames: u64,
    durable_frames: u64,
    first_at: UnixMillis,
}

struct Writer {
    dir: PathBuf,
    shared: Arc<Shared>,
    options: LedgerOptions,
    /// Sealed frames not yet durable, in LSN order. `pending[..written]` are in the current
    /// segment after its durable length.
    pending: VecDeque<Pending>,
    written: usize,
    unsynced: u64,
    segment: Option<OpenSegment>,
    next_seq: u64,
    /// A write or fsync failed: the segment may hold a partial frame after `durable_len`.
    suspect: bool,
    trouble: Option<DiskTrouble>,
    buf: Vec<u8>,
    commit_seen: u64,
    durable_lsn: Lsn,
}

/// Marks the writer dead however the thread ends, so callers never wait on it forever.
struct AliveGuard(Arc<Shared>);

impl Drop for AliveGuard {
    fn drop(&mut self) {
        lock(&self.0.state).writer_alive = false;
        self.0.progress.notify_all();
    }
}

impl Writer {
    fn run(mut self) {
        let _alive = AliveGuard(Arc::clone(&self.shared));
        loop {
            let (batch, commit_id, shutdown) = {
                let mut st = lock(&self.shared.state);
                while st.incoming.is_empty()
                    && st.commit_requested == self.commit_seen
                    && !st.shutdown
                {
                    st = self.shared.work.wait(st).unwrap_or_else(|e| e.into_inner());
                }
                let batch = std::mem::take(&mut st.incoming);
                st.held += batch.len();
                (batch, st.commit_requested, st.shutdown)
            };
            for mut p in batch {
                // The body length was checked in append, so sealing cannot fail.
                seal_frame(&mut p.frame, p.lsn);
                self.pending.push_back(p);
            }
            let commit = commit_id != self.commit_seen || shutdown;
            // In trouble, retry only when asked: hammering a failing disk on every append helps no one.
            if self.trouble.is_none() || commit {
                let result = self.write_out(commit);
                self.note(result);
            }
            self.commit_seen = commit_id;
            let mut st = lock(&self.shared.state);
            st.held = self.pending.len();
            st.durable_lsn = self.durable_lsn;
            st.trouble = self.trouble.clone();
            st.commit_done = commit_id;
            st.segment_seq = self.segment.as_ref().map_or(st.segment_seq, |s| s.seq);
            if shutdown && !self.pending.is_empty() {
                st.lost_on_close = Some(LedgerError::LostOnClose {
                    records: self.pending.len(),
                    first_lsn: self.pending.front().map_or(0, |p| p.lsn),
                    last_lsn: self.pending.back().map_or(0, |p| p.lsn),
                    error: self
                        .trouble
                        .as_ref()
                        .map_or_else(String::new, |t| t.error.clone()),
                });
            }
            drop(st);
            self.shared.progress.notify_all();
            if shutdown {
                if let Some(e) = lock(&self.shared.state).lost_on_close.as_ref() {
                    tracing::error!(error = %e, "ledger closing with unwritten records");
                }
                return;
            }
        }
    }

    fn note(&mut self, result: io::Result<()>) {
        match result {
            Ok(()) => {
                if let Some(t) = self.trouble.take() {
                    tracing::warn!(
                        failures = t.failures,
                        durable_lsn = self.durable_lsn,
                        "ledger disk trouble is over; queued records are written and synced"
                    );
                }
            }
            Err(e) => {
                self.suspect = true;
                let pending = self.pending.len();
                match &mut self.trouble {
                    None => {
                        tracing::error!(
                            error = %e,
                            pending,
                            dir = %self.dir.display(),
                            "ledger write failed; holding records in memory and retrying on each commit"
                        );
                        self.trouble = Some(DiskTrouble {
                            error: e.to_string(),
                            failures: 1,
                            pending,
                        });
                    }
                    Some(t) => {
                        t.failures += 1;
                        t.error = e.to_string();
                        t.pending = pending;
                        if t.failures.is_power_of_two() {
                            tracing::error!(
                                error = %e,
                                failures = t.failures,
                                pending,
                                "ledger writes still failing"
                            );
                        }
                    }
                }
            }
        }
    }

    fn write_out(&mut self, commit: bool) -> io::Result<()> {
        if self.suspect {
            self.repair();
        }
        let max_bytes = self.options.max_segment_bytes;
        let max_age = self.options.max_segment_age_ms;
        while self.written < self.pending.len() {
            let (at, len) = {
                let p = &self.pending[self.written];
                (p.at, p.frame.len() as u64)
            };
            let seg = match &mut self.segment {
                Some(seg) => seg,
                None => self.create_segment(at)?,
            };
            let too_big = seg.len + len > max_bytes;
            let too_old = at >= seg.first_at.saturating_add(max_age);
            if seg.frames > 0 && (too_big || too_old) {
                self.flush_buf()?;
                // Sealed segments are always synced, fsync option or not: only the newest
                // segment may ever hold a torn tail.
                self.sync(true)?;
                self.segment = None;
                continue;
            }
            seg.len += len;
            seg.frames += 1;
            self.buf
                .extend_from_slice(&self.pending[self.written].frame);
            self.written += 1;
            self.unsynced += len;
            if self.buf.len() >= WRITE_CHUNK {
                self.flush_buf()?;
            }
        }
        self.flush_buf()?;
        if commit || self.unsynced >= self.options.sync_after_bytes {
            self.sync(false)?;
        }
        Ok(())
    }

    fn create_segment(&mut self, first_at: UnixMillis) -> io::Result<&mut OpenSegment> {
        let seq = self.next_seq;
        self.next_seq += 1;
        let path = self.dir.join(segment_file_name(seq));
        // O_APPEND: after a repair cuts the file back, writes continue at the new end.
        let file = OpenOptions::new()
            .append(true)
            .create_new(true)
            .open(&path)?;
        let header = SegmentHeader {
            seq,
            created_at: first_at,
        }
        .encode();
        let made = (&file)
            .write_all(&header)
            .and_then(|()| file.sync_data())
            .and_then(|()| sync_dir(&self.dir));
        if let Err(e) = made {
            drop(file);
            // Only our own partial header is in it; leaving it would make readers report damage.
            let _ = std::fs::remove_file(&path);
            return Err(e);
        }
        Ok(self.segment.insert(OpenSegment {
            file,
            seq,
            len: SEGMENT_HEADER_LEN as u64,
            durable_len: SEGMENT_HEADER_LEN as u64,
            frames: 0,
            durable_frames: 0,
            first_at,
        }))
    }

    fn flush_buf(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let result = match &self.segment {
            Some(seg) => (&seg.file).write_all(&self.buf),
            None => Ok(()),
        };
        self.buf.clear();
        result
    }

    /// Fsyncs the segment (unless [`LedgerOptions::fsync`] is off and `force` is not set);
    /// everything written to it becomes durable.
    fn sync(&mut self, force: bool) -> io::Result<()> {
        if let Some(seg) = &mut self.segment {
            if seg.len > seg.durable_len && (force || self.options.fsync) {
                seg.file.sync_data()?;
            }
            seg.durable_len = seg.len;
            seg.durable_frames = seg.frames;
        }
        for _ in 0..self.written {
            if let Some(p) = self.pending.pop_front() {
                self.durable_lsn = p.lsn;
            }
        }
        self.written = 0;
        self.unsynced = 0;
        Ok(())
    }

    /// After a failure: cut our segment back to what is known durable, so no half-written frame
    /// of ours stays in the middle of it, and rewrite every pending record.
    fn repair(&mut self) {
        self.buf.clear();
        if let Some(seg) = &mut self.segment {
            match seg
                .file
                .set_len(seg.durable_len)
                .and_then(|()| seg.file.sync_data())
            {
                Ok(()) => {
                    seg.len = seg.durable_len;
                    seg.frames = seg.durable_frames;
                }
                Err(e) => {
                    tracing::error!(
                        error = %e,
                        segment = seg.seq,
                        "cannot cut the ledger segment back after a failed write; starting a new segment"
                    );
                    self.segment = None;
                }
            }
        }
        self.written = 0;
        self.unsynced = 0;
        self.suspect = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::LedgerEvent;
    use crate::ledger::reader::LedgerReader;

    fn heartbeat(at: UnixMillis) -> LedgerRecord {
        LedgerRecord {
            at,
            event: LedgerEvent::Heartbeat,
        }
    }

    #[test]
    fn without_fsync_commits_still_write_rotate_and_read_back() {
        let tmp = tempfile::tempdir().unwrap();
        let options = LedgerOptions {
            fsync: false,
            max_segment_bytes: 256,
            ..LedgerOptions::default()
        };
        let (ledger, _) = Ledger::open(tmp.path(), options).unwrap();
        for i in 0..40 {
            ledger.append(&heartbeat(1_000 + i)).unwrap();
        }
        assert_eq!(ledger.commit_and_wait().unwrap(), 40);
        let status = ledger.status();
        assert_eq!((status.pending, status.durable_lsn), (0, 40));
        assert!(status.segment_seq > 1, "rotated: {status:?}");
        drop(ledger);
        let mut reader = LedgerReader::open(tmp.path()).unwrap();
        let ats: Vec<UnixMillis> = reader.by_ref().map(|e| e.unwrap().record.at).collect();
        assert_eq!(ats, (1_000..1_040).collect::<Vec<_>>());
        assert!(reader.summary().is_clean());
    }
}

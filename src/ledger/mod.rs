//! The durable usage ledger: append, group commit, recovery, and reading back.
//!
//! Owns: the ledger directory (the daemon's state directory) and everything in it: segment files,
//! the `quarantine/` folder for damaged bytes, and the `LOCK` file that keeps a second writer out.
//! Must not touch: the network, billing rules (the engine computes invoices from what
//! [`LedgerReader`] yields; [`billing`] only carries records there), and the clock: every record
//! carries the caller's wall-clock stamp, and the caller's fsync tick drives durability (see
//! [`writer`]).
//!
//! # Pieces
//!
//! - [`record`]: what a record says (RFC 2866 vocabulary) and its body codec.
//! - [`segment`]: segment files, checksummed frames, the frame scanner.
//! - [`writer`]: [`Ledger`], the append-only writer with a dedicated thread, group commit, size and
//!   time rotation, and a bounded in-memory queue that rides out disk trouble.
//! - [`recovery`]: what [`Ledger::open`] does first: find a torn or corrupt tail, set it aside in
//!   `quarantine/`, report it.
//! - [`reader`]: [`LedgerReader`], every record in order across segments, read-only, tolerant of a
//!   damaged tail exactly like recovery.
//! - [`billing`]: the entry points the CLI calls: invoices and usage reports from a ledger
//!   directory.
//!
//! # Guarantees
//!
//! - Append-only: bytes are only ever added at the end of the newest segment. Recovery shortens a
//!   segment only after copying the damaged tail into `quarantine/` and syncing it, so a crash
//!   never corrupts a record that was intact before it, and damaged bytes are never silently lost.
//! - What a crash can lose at most is documented on [`writer`].

pub mod billing;
pub mod reader;
pub mod record;
pub mod recovery;
pub mod segment;
pub mod writer;

use std::path::PathBuf;

pub use billing::{
    BillingError, OutputFormat, invoice_for_period, render_invoice, render_usage,
    usage_for_subscriber,
};
pub use reader::{LedgerEntry, LedgerReader, ReadDamage, ReadSummary};
pub use record::{
    AcctSessionId, Counters, IdSource, LedgerEvent, LedgerRecord, LegPlace, MultiSessionId,
    TerminateCause, TunnelSerial,
};
pub use recovery::{Quarantined, RecoveryReport, RecoveryScope};
pub use segment::{DamageKind, Lsn};
pub use writer::{AppendError, DiskTrouble, Ledger, LedgerOptions, LedgerStatus};

/// Errors of the ledger layer.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("ledger {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("ledger directory {0} is locked by another writer (is another l2tpagg running?)")]
    Locked(PathBuf),
    #[error(
        "ledger segment {path} has format version {format}; this build reads version {}",
        segment::SEGMENT_FORMAT
    )]
    UnsupportedFormat { path: PathBuf, format: u16 },
    #[error("ledger segment {path} says it is segment {header_seq}; was it renamed or copied?")]
    Misnamed { path: PathBuf, header_seq: u64 },
    #[error("ledger disk trouble: {0}")]
    DiskTrouble(DiskTrouble),
    #[error(
        "ledger closed with {records} records (LSN {first_lsn}..={last_lsn}) never written: {error}"
    )]
    LostOnClose {
        records: usize,
        first_lsn: Lsn,
        last_lsn: Lsn,
        error: String,
    },
    #[error("ledger writer thread has stopped")]
    WriterGone,
}

impl LedgerError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> LedgerError {
        let path = path.into();
        move |source| LedgerError::Io { path, source }
    }
}

/// Syncs a directory so that entries created or renamed in it survive a crash.
pub(crate) fn sync_dir(dir: &std::path::Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

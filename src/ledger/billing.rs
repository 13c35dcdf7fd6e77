//! The billing entry points the CLI calls: `l2tpagg billing invoice` and `l2tpagg billing usage`.
//!
//! Owns: reading a ledger directory (read-only, beside a live daemon) and handing its records to
//! the pure billing engine ([`crate::engine::invoice`]), then attaching what the reader saw
//! (damage, undecodable records) to the result. Must not touch: billing rules, the ledger's files
//! (no lock, no repair).
//!
//! ```no_run
//! # use l2tpagg::ledger::billing::*;
//! # fn demo(tariffs: &l2tpagg::engine::tariff::Tariffs,
//! #         contracts: &l2tpagg::engine::invoice::Contracts) -> Result<(), BillingError> {
//! let period = "2026-11".parse().map_err(BillingError::Period)?;
//! let invoice = invoice_for_period("/var/lib/l2tpagg".as_ref(), tariffs, contracts, &period)?;
//! print!("{}", render_invoice(&invoice, OutputFormat::Text));
//! let usage = usage_for_subscriber("/var/lib/l2tpagg".as_ref(), "alice@example.net")?;
//! print!("{}", render_usage(&usage, OutputFormat::Csv));
//! # Ok(()) }
//! ```

use std::path::{Path, PathBuf};

use super::LedgerError;
use super::reader::{LedgerReader, ReadSummary};
use crate::engine::invoice::usage::{
    UsageCollector, render_usage_csv, render_usage_json, render_usage_text,
};
use crate::engine::invoice::{
    BillingPeriod, ContractTable, Contracts, Invoice, InvoiceError, LedgerNotes, PeriodError,
    UsageAggregator, UsageReport, compute_invoice, render_csv, render_json, render_text,
};
use crate::engine::tariff::Tariffs;

/// Why a billing command failed.
#[derive(Debug, thiserror::Error)]
pub enum BillingError {
    /// None of the places the daemon keeps its ledger holds one.
    #[error(
        "no ledger directory found (looked for {}): has the daemon run with this configuration, \
         as this user?",
        list_paths(.tried)
    )]
    NoLedgerDir { tried: Vec<PathBuf> },
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Invoice(#[from] InvoiceError),
    #[error(transparent)]
    Period(#[from] PeriodError),
}

/// Output formats of the billing commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Text,
    Json,
    Csv,
}

/// Computes the invoice for `period` from the ledger in `dir`, the tariffs and the contracts.
/// Tariffs and contracts are validated before the ledger is read. Deterministic: the same ledger
/// gives the same invoice.
pub fn invoice_for_period(
    dir: &Path,
    tariffs: &Tariffs,
    contracts: &Contracts,
    period: &BillingPeriod,
) -> Result<Invoice, BillingError> {
    tariffs.validate().map_err(InvoiceError::from)?;
    let table = ContractTable::build(contracts, tariffs).map_err(InvoiceError::from)?;
    let mut reader = LedgerReader::open(dir)?;
    let mut agg = UsageAggregator::new(period.range());
    for entry in reader.by_ref() {
        agg.observe(&entry?.record);
    }
    let mut invoice = compute_invoice(&agg.finish(), tariffs, &table, period)?;
    attach_read_notes(&mut invoice.ledger, reader.summary());
    Ok(invoice)
}

/// Like [`invoice_for_period`], for callers that know contracts only by name: `contracts_for` is
/// handed the subscribers with usage in the period (sorted, each once) and returns the contracts
/// to bill, which must cover at least those it knows. A configuration with generated subscriber
/// ranges answers with the members it is handed instead of enumerating every member. Subscribers
/// left without a contract show as unbilled.
pub fn invoice_for_period_with(
    dir: &Path,
    tariffs: &Tariffs,
    contracts_for: impl FnOnce(&[&str]) -> Contracts,
    period: &BillingPeriod,
) -> Result<Invoice, BillingError> {
    tariffs.validate().map_err(InvoiceError::from)?;
    let mut reader = LedgerReader::open(dir)?;
    let mut agg = UsageAggregator::new(period.range());
    for entry in reader.by_ref() {
        agg.observe(&entry?.record);
    }
    let agg = agg.finish();
    let mut seen: Vec<&str> = agg.sessions.iter().map(|s| s.subscriber.as_str()).collect();
    seen.dedup();
    let contracts = contracts_for(&seen);
    let table = ContractTable::build(&contracts, tariffs).map_err(InvoiceError::from)?;
    let mut invoice = compute_invoice(&agg, tariffs, &table, period)?;
    attach_read_notes(&mut invoice.ledger, reader.summary());
    Ok(invoice)
}

/// The first of `candidates` that is a directory: where a reader finds the ledger a daemon
/// writes, given the daemon's candidates in its order of preference (see
/// `config::billing_map::ledger_dir_candidates`).
pub fn find_ledger_dir(candidates: &[PathBuf]) -> Result<PathBuf, BillingError> {
    candidates
        .iter()
        .find(|d| d.is_dir())
        .cloned()
        .ok_or_else(|| BillingError::NoLedgerDir {
            tried: candidates.to_vec(),
        })
}

fn list_paths(paths: &[PathBuf]) -> String {
    if paths.is_empty() {
        return "nowhere (no candidates)".to_owned();
    }
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Every ledger record of `subscriber` with its sessions summarised.
pub fn usage_for_subscriber(dir: &Path, subscriber: &str) -> Result<UsageReport, BillingError> {
    let mut reader = LedgerReader::open(dir)?;
    let mut collector = UsageCollector::new(subscriber);
    for entry in reader.by_ref() {
        let entry = entry?;
        collector.observe(entry.lsn, &entry.record);
    }
    let mut report = collector.finish();
    attach_read_notes(&mut report.ledger, reader.summary());
    Ok(report)
}

fn attach_read_notes(notes: &mut LedgerNotes, summary: &ReadSummary) {
    notes.damage = summary
        .damage
        .iter()
        .map(|d| {
            let note = if d.newest_segment {
                "; at the end of the newest segment this is a record a running daemon is \
                 writing, or a write cut short by a crash, which recovery sets aside at the next start"
            } else {
                // The daemon verifies only its newest segment at start (a crash can tear nothing
                // else), so damage in a sealed segment stays until someone acts.
                "; this segment is sealed and the daemon does not repair it: restore it from a \
                 backup; the records after the damage are not counted until then"
            };
            format!(
                "{} at offset {}: {} ({} bytes not read){note}",
                d.segment.display(),
                d.offset,
                d.damage,
                d.bytes
            )
        })
        .collect();
    notes.undecodable_records = summary.undecodable.len() as u64;
}

/// Renders an invoice.
pub fn render_invoice(invoice: &Invoice, format: OutputFormat) -> String {
    match format {
        OutputFormat::Text => render_text(invoice),
        OutputFormat::Json => render_json(invoice),
        OutputFormat::Csv => render_csv(invoice),
    }
}

/// Renders a usage report.
pub fn render_usage(report: &UsageReport, format: OutputFormat) -> String {
    match format {
        OutputFormat::Text => render_usage_text(report),
        OutputFormat::Json => render_usage_json(report),
        OutputFormat::Csv => render_usage_csv(report),
    }
}

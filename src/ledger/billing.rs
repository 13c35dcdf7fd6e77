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

use std::path::Path;

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
                "; recovery sets it aside at the next daemon start"
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

//! Rendering invoices as a text table, JSON and CSV.
//!
//! Owns: output formats only; every number shown was computed in [`super`]. Must not touch:
//! billing rules, IO. Output is deterministic: same invoice, same bytes.
//!
//! - Text: for people. Amounts formatted in the currency's major unit with integer arithmetic;
//!   durations as h:mm:ss; byte counts exact.
//! - JSON: the [`Invoice`] structure as is; money in integer minor units, durations in
//!   milliseconds, volumes in bytes.
//! - CSV (RFC 4180): one flat table for spreadsheets and accounting imports, one row per charge
//!   item, money in integer minor units.

use std::fmt::Write as _;

use super::{AccountInvoice, Invoice, UserLine};
use crate::engine::tariff::{Money, Rated, format_money};
use crate::runtime::clock::UnixMillis;

/// Milliseconds as `h:mm:ss`, with `.mmm` when not whole seconds.
pub fn format_duration(ms: u64) -> String {
    let (s, milli) = (ms / 1000, ms % 1000);
    let base = format!("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60);
    if milli == 0 {
        base
    } else {
        format!("{base}.{milli:03}")
    }
}

/// A wall-clock stamp as RFC 3339 UTC with milliseconds.
pub fn format_time(ms: UnixMillis) -> String {
    i64::try_from(ms)
        .ok()
        .and_then(chrono::DateTime::from_timestamp_millis)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_else(|| format!("{ms}ms"))
}

/// Left-aligned and right-aligned columns, padded to the widest cell.
pub(crate) struct Table {
    right: Vec<bool>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub(crate) fn new(header: &[&str], right: &[bool]) -> Table {
        Table {
            right: right.to_vec(),
            rows: vec![header.iter().map(|h| (*h).to_owned()).collect()],
        }
    }

    /// A table without a header row.
    pub(crate) fn headless(right: &[bool]) -> Table {
        Table {
            right: right.to_vec(),
            rows: Vec::new(),
        }
    }

    pub(crate) fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub(crate) fn render(&self, out: &mut String, indent: &str) {
        let cols = self.right.len();
        let mut width = vec![0usize; cols];
        for r in &self.rows {
            for (i, c) in r.iter().enumerate().take(cols) {
                width[i] = width[i].max(c.chars().count());
            }
        }
        for r in &self.rows {
            let mut line = String::from(indent);
            for (i, c) in r.iter().enumerate().take(cols) {
                let pad = width[i] - c.chars().count();
                if i > 0 {
                    line.push_str("  ");
                }
                if self.right[i] {
                    line.extend(std::iter::repeat_n(' ', pad));
                    line.push_str(c);
                } else {
                    line.push_str(c);
                    if i + 1 < cols {
                        line.extend(std::iter::repeat_n(' ', pad));
                    }
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
    }
}

fn rated_quantity(r: &Rated) -> String {
    match r.unit.dimension() {
        crate::engine::tariff::Dimension::Time => format_duration(r.quantity),
        crate::engine::tariff::Dimension::Volume => format!("{} B", r.quantity),
    }
}

/// The invoice as text tables.
pub fn render_text(inv: &Invoice) -> String {
    let money = |m: Money| format_money(m, inv.minor_unit_digits);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Invoice for {} ({} to {}), amounts in {}",
        inv.period.label,
        format_time(inv.period.start),
        format_time(inv.period.end),
        inv.currency
    );
    for acct in &inv.accounts {
        out.push('\n');
        account_text(&mut out, inv, acct);
    }
    if !inv.accounts.is_empty() {
        let total = inv
            .claimed_total()
            .map_or_else(|_| "overflow".into(), money);
        let _ = writeln!(
            out,
            "\nTotal claimed from all accounts: {total} {}",
            inv.currency
        );
    }

    let op = &inv.operator;
    let _ = writeln!(out, "\nOperator: tunnel-hours per line and peer");
    let mut t = Table::new(
        &[
            "line",
            "peer",
            "tunnels",
            "tunnel time",
            "hours",
            "price/h",
            "charge",
        ],
        &[false, false, true, true, true, true, true],
    );
    for l in &op.tunnels {
        t.row(vec![
            l.line.clone(),
            l.peer.clone(),
            l.tunnels.to_string(),
            format_duration(l.hours.quantity),
            l.hours.billed_units.to_string(),
            money(l.hours.unit_price),
            money(l.hours.amount),
        ]);
    }
    t.render(&mut out, "  ");
    let _ = writeln!(out, "\nOperator: line-months per line");
    let mut t = Table::new(
        &["line", "in use", "months", "price/month", "charge"],
        &[false, true, true, true, true],
    );
    for l in &op.lines {
        t.row(vec![
            l.line.clone(),
            format_duration(l.in_use_ms),
            l.line_months.to_string(),
            money(l.unit_price),
            money(l.charge),
        ]);
    }
    t.render(&mut out, "  ");
    let _ = writeln!(
        out,
        "  tunnels {}, lines {}, operator total {} {}",
        money(op.tunnel_total),
        money(op.line_total),
        money(op.total),
        inv.currency
    );

    if !inv.unbilled.is_empty() {
        let _ = writeln!(out, "\nUnbilled usage (subscribers without a contract)");
        let mut t = Table::new(
            &[
                "subscriber",
                "account in ledger",
                "sessions",
                "connect",
                "bytes in",
                "bytes out",
            ],
            &[false, false, true, true, true, true],
        );
        for u in &inv.unbilled {
            t.row(vec![
                u.subscriber.clone(),
                u.account.clone(),
                u.sessions.to_string(),
                format_duration(u.connect_ms),
                u.usage.octets_in.to_string(),
                u.usage.octets_out.to_string(),
            ]);
        }
        t.render(&mut out, "  ");
    }

    let n = &inv.ledger;
    let _ = writeln!(
        out,
        "\nLedger: {} records read; {} orphan, {} after stop, {} duplicate IDs, {} undecodable",
        n.aggregate.records,
        n.aggregate.orphan_records,
        n.aggregate.ignored_after_stop,
        n.aggregate.duplicate_ids,
        n.undecodable_records
    );
    for d in &n.damage {
        let _ = writeln!(out, "  damage: {d}");
    }
    out
}

fn account_text(out: &mut String, inv: &Invoice, acct: &AccountInvoice) {
    let money = |m: Money| format_money(m, inv.minor_unit_digits);
    let _ = writeln!(
        out,
        "Account {}{} ({} user{}{})",
        acct.account,
        acct.display_name
            .as_ref()
            .map_or_else(String::new, |n| format!(" {n:?}")),
        acct.users.len(),
        if acct.users.len() == 1 { "" } else { "s" },
        acct.contract_fee
            .as_ref()
            .map_or_else(String::new, |f| format!(
                ", supplementary contract {}",
                f.tariff
            ))
    );
    let mut t = Table::new(
        &[
            "subscriber",
            "plan",
            "sessions",
            "connect",
            "bytes in",
            "bytes out",
        ],
        &[false, false, true, true, true, true],
    );
    for u in &acct.users {
        t.row(vec![
            u.subscriber.clone(),
            u.plan.clone(),
            u.sessions.to_string(),
            format_duration(u.connect_ms),
            u.usage.octets_in.to_string(),
            u.usage.octets_out.to_string(),
        ]);
    }
    t.render(out, "  ");
    out.push('\n');
    let mut t = Table::new(
        &[
            "subscriber",
            "item",
            "quantity",
            "billed",
            "unit price",
            "amount",
        ],
        &[false, false, true, true, true, true],
    );
    for u in &acct.users {
        user_rows(&mut t, u, &money);
    }
    if let Some(fee) = &acct.contract_fee {
        let who = || "(account)".to_owned();
        t.row(vec![
            who(),
            "contract fee, fixed".into(),
            String::new(),
            String::new(),
            String::new(),
            money(fee.fixed),
        ]);
        if let Some(m) = &fee.metered {
            t.row(vec![
                who(),
                "contract fee, metered on private lines".into(),
                rated_quantity(m),
                format!("{} {}", m.billed_units, m.unit.symbol()),
                money(m.unit_price),
                money(m.amount),
            ]);
        }
    }
    t.render(out, "  ");
    out.push('\n');
    let mut t = Table::headless(&[false, true]);
    t.row(vec![
        "communication fees".into(),
        money(acct.communication_total),
    ]);
    t.row(vec![
        "consolidation fees".into(),
        money(acct.consolidation_total),
    ]);
    t.row(vec![
        "contract fee".into(),
        money(acct.contract_fee.as_ref().map_or(0, |c| c.fee)),
    ]);
    t.row(vec![
        format!("claimed sum ({})", inv.currency),
        money(acct.claimed_sum),
    ]);
    t.render(out, "  ");
}

fn user_rows(t: &mut Table, u: &UserLine, money: &dyn Fn(Money) -> String) {
    let name = || u.subscriber.clone();
    let blank = String::new;
    if u.flat != 0 || (u.per_time.is_none() && u.per_volume.is_none()) {
        t.row(vec![
            name(),
            "flat rate".into(),
            blank(),
            blank(),
            blank(),
            money(u.flat),
        ]);
    }
    for (label, r) in [("connect time", &u.per_time), ("volume", &u.per_volume)] {
        if let Some(r) = r {
            t.row(vec![
                name(),
                label.into(),
                rated_quantity(r),
                format!("{} {}", r.billed_units, r.unit.symbol()),
                money(r.unit_price),
                money(r.amount),
            ]);
        }
    }
    if let Some(c) = &u.consolidation {
        t.row(vec![
            name(),
            "consolidation service".into(),
            blank(),
            blank(),
            blank(),
            money(c.per_period),
        ]);
        let what = match c.basis {
            crate::engine::tariff::ConsolidationBasis::Tunnels => "tunnel",
            crate::engine::tariff::ConsolidationBasis::Lines => "line",
        };
        t.row(vec![
            name(),
            format!(
                "consolidation use, {} {what}{}",
                c.units_used,
                if c.units_used == 1 { "" } else { "s" }
            ),
            format_duration(c.usage.quantity),
            format!("{} {}", c.usage.billed_units, c.usage.unit.symbol()),
            money(c.usage.unit_price),
            money(c.usage.amount),
        ]);
    }
    t.row(vec![
        name(),
        "user total".into(),
        blank(),
        blank(),
        blank(),
        money(u.line_total),
    ]);
}

/// The invoice as pretty-printed JSON, newline-terminated.
pub fn render_json(inv: &Invoice) -> String {
    // Serializing plain structs of strings and integers cannot fail.
    let mut s = serde_json::to_string_pretty(inv).unwrap_or_default();
    s.push('\n');
    s
}

/// Quotes a CSV field when it needs it (RFC 4180 §2).
pub(crate) fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

pub(crate) fn csv_row(out: &mut String, cells: &[String]) {
    let line: Vec<String> = cells.iter().map(|c| csv_field(c)).collect();
    out.push_str(&line.join(","));
    out.push_str("\r\n");
}

/// The invoice as one CSV table, one row per item.
///
/// Columns: `period, section, account, subscriber, item, quantity, quantity_unit, billed_units,
/// billed_unit, unit_price_minor, amount_minor, currency`. Sections: `user` (usage and fee items of
/// one user), `account` (contract fee and claimed sum), `operator_tunnels`, `operator_lines`,
/// `unbilled`. Quantities are exact: milliseconds, bytes or counts.
pub fn render_csv(inv: &Invoice) -> String {
    let mut out = String::new();
    let cols = [
        "period",
        "section",
        "account",
        "subscriber",
        "item",
        "quantity",
        "quantity_unit",
        "billed_units",
        "billed_unit",
        "unit_price_minor",
        "amount_minor",
        "currency",
    ];
    csv_row(&mut out, &cols.map(str::to_owned));
    struct Row<'a> {
        section: &'a str,
        account: &'a str,
        subscriber: &'a str,
        item: &'a str,
        quantity: Option<(u64, &'a str)>,
        rated: Option<&'a Rated>,
        amount: Option<Money>,
    }
    let mut emit = |r: Row| {
        let (q, qu) = match (r.quantity, r.rated) {
            (Some((q, u)), _) => (q.to_string(), u.to_owned()),
            (None, Some(rt)) => (
                rt.quantity.to_string(),
                match rt.unit.dimension() {
                    crate::engine::tariff::Dimension::Time => "ms".to_owned(),
                    crate::engine::tariff::Dimension::Volume => "bytes".to_owned(),
                },
            ),
            (None, None) => (String::new(), String::new()),
        };
        let (bu, bun, up) = match r.rated {
            Some(rt) => (
                rt.billed_units.to_string(),
                rt.unit.symbol().to_owned(),
                rt.unit_price.to_string(),
            ),
            None => (String::new(), String::new(), String::new()),
        };
        csv_row(
            &mut out,
            &[
                inv.period.label.clone(),
                r.section.to_owned(),
                r.account.to_owned(),
                r.subscriber.to_owned(),
                r.item.to_owned(),
                q,
                qu,
                bu,
                bun,
                up,
                r.amount.map(|a| a.to_string()).unwrap_or_default(),
                inv.currency.clone(),
            ],
        );
    };
    for a in &inv.accounts {
        for u in &a.users {
            let row = |item, quantity, rated, amount| Row {
                section: "user",
                account: &a.account,
                subscriber: &u.subscriber,
                item,
                quantity,
                rated,
                amount,
            };
            emit(row("sessions", Some((u.sessions, "sessions")), None, None));
            emit(row("connect_time", Some((u.connect_ms, "ms")), None, None));
            emit(row(
                "octets_in",
                Some((u.usage.octets_in, "bytes")),
                None,
                None,
            ));
            emit(row(
                "octets_out",
                Some((u.usage.octets_out, "bytes")),
                None,
                None,
            ));
            emit(row("flat_rate", None, None, Some(u.flat)));
            if let Some(r) = &u.per_time {
                emit(row("time_fee", None, Some(r), Some(r.amount)));
            }
            if let Some(r) = &u.per_volume {
                emit(row("volume_fee", None, Some(r), Some(r.amount)));
            }
            emit(row(
                "communication_fee",
                None,
                None,
                Some(u.communication_fee),
            ));
            if let Some(c) = &u.consolidation {
                emit(row("consolidation_service", None, None, Some(c.per_period)));
                emit(row(
                    "consolidation_use",
                    None,
                    Some(&c.usage),
                    Some(c.usage.amount),
                ));
            }
            emit(row("user_total", None, None, Some(u.line_total)));
        }
        let row = |item, rated, amount| Row {
            section: "account",
            account: &a.account,
            subscriber: "",
            item,
            quantity: None,
            rated,
            amount,
        };
        if let Some(f) = &a.contract_fee {
            emit(row("contract_fee_fixed", None, Some(f.fixed)));
            if let Some(m) = &f.metered {
                emit(row("contract_fee_metered", Some(m), Some(m.amount)));
            }
        }
        emit(row(
            "communication_total",
            None,
            Some(a.communication_total),
        ));
        emit(row(
            "consolidation_total",
            None,
            Some(a.consolidation_total),
        ));
        emit(row("claimed_sum", None, Some(a.claimed_sum)));
    }
    for t in &inv.operator.tunnels {
        let item = format!(
            "tunnel_hours line={} peer={} tunnels={}",
            t.line, t.peer, t.tunnels
        );
        emit(Row {
            section: "operator_tunnels",
            account: "",
            subscriber: "",
            item: &item,
            quantity: None,
            rated: Some(&t.hours),
            amount: Some(t.hours.amount),
        });
    }
    for l in &inv.operator.lines {
        let item = format!("line_months line={} months={}", l.line, l.line_months);
        emit(Row {
            section: "operator_lines",
            account: "",
            subscriber: "",
            item: &item,
            quantity: Some((l.in_use_ms, "ms")),
            rated: None,
            amount: Some(l.charge),
        });
    }
    for u in &inv.unbilled {
        for (item, q, unit) in [
            ("sessions", u.sessions, "sessions"),
            ("connect_time", u.connect_ms, "ms"),
            ("octets_in", u.usage.octets_in, "bytes"),
            ("octets_out", u.usage.octets_out, "bytes"),
        ] {
            emit(Row {
                section: "unbilled",
                account: &u.account,
                subscriber: &u.subscriber,
                item,
                quantity: Some((q, unit)),
                rated: None,
                amount: None,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_times_format() {
        assert_eq!(format_duration(0), "0:00:00");
        assert_eq!(format_duration(3_723_004), "1:02:03.004");
        assert_eq!(format_duration(720 * 3_600_000), "720:00:00");
        assert_eq!(format_time(1_793_491_200_000), "2026-11-01T00:00:00.000Z");
    }

    #[test]
    fn csv_fields_are_quoted_only_when_needed() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }

    #[test]
    fn tables_align_columns() {
        let mut t = Table::new(&["a", "num"], &[false, true]);
        t.row(vec!["long name".into(), "1".into()]);
        let mut out = String::new();
        t.render(&mut out, "");
        assert_eq!(out, "a          num\nlong name    1\n");
    }
}

//! Invoices: from ledger usage, tariffs and contracts to what each paying account owes for a
//! period, and what the operator's tunnels and lines cost.
//!
//! Owns: the invoice (seed 000 claim 19: per paying account, one line per user with the
//! communication fee, the contract fees, the claimed sum), the operator statement (tunnel-hours
//! and line-months per line and peer), the contract contents table (claim 18, [`contract`]), the
//! billing period ([`period`]), usage aggregation ([`aggregate`]), the subscriber usage report
//! ([`usage`]), and rendering as text, JSON and CSV ([`render`]). Must not touch: files (the
//! ledger module reads them and feeds records in), the clock, or tariff definitions.
//!
//! # How an invoice is computed
//!
//! Deterministically, from the ledger records and the tariffs and contracts alone: a rerun over
//! the same ledger gives the same invoice, byte for byte once rendered.
//! 1. Usage inside the period is aggregated by the rules in [`aggregate`]: moved sessions count
//!    once, interims supersede, a stop closes, sessions spanning a period boundary are split at it.
//! 2. Every subscriber in the contract table gets one line on its paying account's invoice, even
//!    without usage (flat fees are owed regardless): its communication fee per its plan (flat +
//!    time + volume) and, if it has the consolidation service, the consolidation fee (claim 1).
//! 3. An account with a supplementary contract pays one contract fee: fixed, plus metered on the
//!    account's usage on private lines (claim 19).
//! 4. The claimed sum is the sum of the user lines plus the contract fee.
//! 5. The operator statement rates tunnel time per (line, peer) by the tunnel-hour, and each line
//!    in use during the month by the line-month.
//! 6. Usage by subscribers without a contract is listed as unbilled, never dropped silently.
//!
//! Rounding is [`crate::engine::tariff`]'s one rule: exact sums per line, then started units.

pub mod aggregate;
pub mod contract;
pub mod period;
pub mod render;
pub mod usage;

use std::collections::BTreeMap;

use serde::Serialize;

pub use aggregate::{Aggregate, AggregateNotes, TimeRange, UsageAggregator};
pub use contract::{AccountTerms, ContractError, ContractTable, Contracts, SubscriberContract};
pub use period::{BillingPeriod, PeriodError};
pub use render::{render_csv, render_json, render_text};
pub use usage::{UsageReport, usage_report};

use crate::engine::tariff::{
    ConsolidationBasis, Dimension, Money, Rate, Rated, TariffError, Tariffs, Unit, sum,
};
use crate::ledger::record::{Counters, LedgerRecord, TunnelSerial};

/// Why an invoice could not be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvoiceError {
    #[error("tariffs: {0}")]
    Tariff(#[from] TariffError),
    #[error("contracts: {0}")]
    Contract(#[from] ContractError),
}

/// One user's line on an account's invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserLine {
    pub subscriber: String,
    pub plan: String,
    /// Subscriber sessions (a moved session is one) with time or usage in the period.
    pub sessions: u64,
    /// Session time in the period, milliseconds.
    pub connect_ms: u64,
    /// Bytes and packets in the period.
    pub usage: Counters,
    /// The plan's flat rate.
    pub flat: Money,
    /// The plan's time-based part, rated on `connect_ms`.
    pub per_time: Option<Rated>,
    /// The plan's volume part, rated on bytes both ways.
    pub per_volume: Option<Rated>,
    /// flat + per_time + per_volume.
    pub communication_fee: Money,
    /// The consolidation service fee, for subscribers of the service.
    pub consolidation: Option<ConsolidationLine>,
    /// communication_fee + consolidation fee.
    pub line_total: Money,
}

/// The consolidation service fee of one subscriber (claim 1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConsolidationLine {
    pub basis: ConsolidationBasis,
    /// Distinct tunnels (or lines) the subscriber's sessions used in the period.
    pub units_used: u64,
    /// The per-period service fee.
    pub per_period: Money,
    /// Tunnel (or line) time: per tunnel, the time at least one of the subscriber's sessions was
    /// in it, summed over tunnels.
    pub usage: Rated,
    pub fee: Money,
}

/// An account's supplementary contract fee (claim 19).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContractFeeLine {
    /// The fee tariff's name.
    pub tariff: String,
    pub fixed: Money,
    /// The metered part, on the account's usage on private lines.
    pub metered: Option<Rated>,
    pub fee: Money,
}

/// What one paying account owes for the period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountInvoice {
    pub account: String,
    /// The account's name for people, when the operator configured one
    /// (`[[billing.accounts]] display_name`). [`compute_invoice`] leaves it `None`: contracts do
    /// not carry names; `config::billing_map::name_accounts` fills it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// One line per user, sorted by subscriber.
    pub users: Vec<UserLine>,
    pub contract_fee: Option<ContractFeeLine>,
    /// Sum of the users' communication fees.
    pub communication_total: Money,
    /// Sum of the users' consolidation fees.
    pub consolidation_total: Money,
    /// The claimed sum: every user line plus the contract fee.
    pub claimed_sum: Money,
}

/// Tunnel time on one line to one peer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TunnelHoursLine {
    pub line: String,
    pub peer: String,
    /// Tunnels open at some time in the period.
    pub tunnels: u64,
    /// Tunnel time, each tunnel counted separately, rated per started hour of the total.
    pub hours: Rated,
}

/// One line's month.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LineMonthLine {
    pub line: String,
    /// Time the line was in use in the period, milliseconds.
    pub in_use_ms: u64,
    /// 1 if the line was in use at all during the month (line rental is monthly), else 0.
    pub line_months: u64,
    pub unit_price: Money,
    pub charge: Money,
}

/// What the operator's tunnels and lines cost in the period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OperatorStatement {
    /// Sorted by line, then peer.
    pub tunnels: Vec<TunnelHoursLine>,
    /// Sorted by line.
    pub lines: Vec<LineMonthLine>,
    pub tunnel_total: Money,
    pub line_total: Money,
    pub total: Money,
}

/// Usage by a subscriber that has no contract: shown, not charged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnbilledUsage {
    pub subscriber: String,
    /// The account its session records named.
    pub account: String,
    pub sessions: u64,
    pub connect_ms: u64,
    pub usage: Counters,
}

/// Facts about the ledger read that a reader of the invoice should know.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct LedgerNotes {
    #[serde(flatten)]
    pub aggregate: AggregateNotes,
    /// Damage the ledger reader met (a torn tail of a live segment shows here), as text.
    pub damage: Vec<String>,
    /// Intact records this build could not decode.
    pub undecodable_records: u64,
}

/// The invoice run for one period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Invoice {
    pub period: BillingPeriod,
    pub currency: String,
    pub minor_unit_digits: u8,
    /// Sorted by account.
    pub accounts: Vec<AccountInvoice>,
    pub operator: OperatorStatement,
    /// Sorted by subscriber.
    pub unbilled: Vec<UnbilledUsage>,
    pub ledger: LedgerNotes,
}

impl Invoice {
    /// Sum of every account's claimed sum.
    pub fn claimed_total(&self) -> Result<Money, TariffError> {
        sum(self.accounts.iter().map(|a| a.claimed_sum))
    }
}

/// Computes the invoice for `period` from records in ledger order.
pub fn invoice_from_records<'a>(
    records: impl IntoIterator<Item = &'a LedgerRecord>,
    tariffs: &Tariffs,
    contracts: &Contracts,
    period: &BillingPeriod,
) -> Result<Invoice, InvoiceError> {
    tariffs.validate()?;
    let table = ContractTable::build(contracts, tariffs)?;
    let mut agg = UsageAggregator::new(period.range());
    for r in records {
        agg.observe(r);
    }
    compute_invoice(&agg.finish(), tariffs, &table, period)
}

/// Computes the invoice for `period` from usage aggregated over exactly that period.
pub fn compute_invoice(
    agg: &Aggregate,
    tariffs: &Tariffs,
    table: &ContractTable,
    period: &BillingPeriod,
) -> Result<Invoice, InvoiceError> {
    tariffs.validate()?;
    let range = period.range();

    // Per-subscriber usage, from sessions (time counted once per session) and their legs.
    // Sessions come sorted by subscriber, so each subscriber's lookups happen once.
    #[derive(Default)]
    struct Acc<'a> {
        sessions: u64,
        connect_ms: u64,
        usage: Counters,
        account_seen: &'a str,
        /// Spans per tunnel or line, for the consolidation fee.
        unit_spans: BTreeMap<UnitKey<'a>, Vec<(u64, u64)>>,
    }
    #[derive(PartialEq, Eq, PartialOrd, Ord)]
    enum UnitKey<'a> {
        Tunnel(TunnelSerial),
        Line(&'a str),
    }
    let mut by_subscriber: BTreeMap<&str, Acc> = BTreeMap::new();
    // Spans and bytes per paying account on private lines, for metered contract fees.
    let mut private_spans: BTreeMap<&str, Vec<(u64, u64)>> = BTreeMap::new();
    let mut private_octets: BTreeMap<&str, u64> = BTreeMap::new();
    let mut rest = agg.sessions.as_slice();
    while let Some(first) = rest.first() {
        let n = rest
            .iter()
            .take_while(|s| s.subscriber == first.subscriber)
            .count();
        let (group, tail) = rest.split_at(n);
        rest = tail;
        let contract = table.contract(&first.subscriber);
        let mut acc = Acc {
            account_seen: first.account.as_str(),
            ..Acc::default()
        };
        for s in group {
            acc.sessions += 1;
            acc.connect_ms += s.ms_in_range;
            acc.usage = acc.usage.saturating_add(s.usage);
            for leg in s.legs.iter().filter_map(|&i| agg.legs.get(i)) {
                let key = match tariffs.consolidation.basis {
                    ConsolidationBasis::Tunnels => UnitKey::Tunnel(leg.tunnel),
                    ConsolidationBasis::Lines => UnitKey::Line(leg.line.as_str()),
                };
                acc.unit_spans
                    .entry(key)
                    .or_default()
                    .push((leg.start, leg.end));
                if let Some(c) = contract
                    && tariffs.private_lines.contains(&leg.line)
                {
                    private_spans
                        .entry(c.account.as_str())
                        .or_default()
                        .push((leg.start, leg.end));
                    let o = private_octets.entry(c.account.as_str()).or_default();
                    *o = o.saturating_add(leg.usage.octets_total());
                }
            }
        }
        by_subscriber.insert(first.subscriber.as_str(), acc);
    }

    let mut accounts = Vec::new();
    for (account, terms) in table.accounts() {
        let mut users = Vec::new();
        for subscriber in &terms.subscribers {
            let Some(contract) = table.contract(subscriber) else {
                continue;
            };
            // The table may have been built against other tariffs: refuse, never panic.
            let plan =
                tariffs
                    .plans
                    .get(&contract.plan)
                    .ok_or_else(|| ContractError::UnknownPlan {
                        subscriber: contract.subscriber.clone(),
                        plan: contract.plan.clone(),
                    })?;
            let empty = Acc::default();
            let acc = by_subscriber.get(subscriber.as_str()).unwrap_or(&empty);
            let per_time = plan.per_time.map(|r| r.rate(acc.connect_ms)).transpose()?;
            let per_volume = plan
                .per_volume
                .map(|r| r.rate(acc.usage.octets_total()))
                .transpose()?;
            let communication_fee = sum([
                plan.flat_per_period,
                per_time.map_or(0, |r| r.amount),
                per_volume.map_or(0, |r| r.amount),
            ])?;
            let consolidation = if contract.consolidation {
                let mut unit_ms = 0u64;
                let mut units_used = 0u64;
                for spans in acc.unit_spans.values() {
                    let ms = aggregate::union_ms(&mut spans.clone(), range);
                    if ms > 0 {
                        units_used += 1;
                    }
                    unit_ms = unit_ms.saturating_add(ms);
                }
                let usage = tariffs.consolidation.usage.rate(unit_ms)?;
                Some(ConsolidationLine {
                    basis: tariffs.consolidation.basis,
                    units_used,
                    per_period: tariffs.consolidation.per_period,
                    usage,
                    fee: sum([tariffs.consolidation.per_period, usage.amount])?,
                })
            } else {
                None
            };
            let line_total = sum([
                communication_fee,
                consolidation.as_ref().map_or(0, |c| c.fee),
            ])?;
            users.push(UserLine {
                subscriber: subscriber.clone(),
                plan: contract.plan.clone(),
                sessions: acc.sessions,
                connect_ms: acc.connect_ms,
                usage: acc.usage,
                flat: plan.flat_per_period,
                per_time,
                per_volume,
                communication_fee,
                consolidation,
                line_total,
            });
        }
        let contract_fee = match &terms.supplementary {
            Some(name) => {
                let fee_tariff = tariffs.contract_fees.get(name).ok_or_else(|| {
                    ContractError::UnknownContractFee {
                        subscriber: terms.subscribers.first().cloned().unwrap_or_default(),
                        fee: name.clone(),
                    }
                })?;
                let metered = match fee_tariff.metered {
                    Some(rate) => Some(rate_private(
                        rate,
                        account,
                        &mut private_spans,
                        &private_octets,
                        range,
                    )?),
                    None => None,
                };
                Some(ContractFeeLine {
                    tariff: name.clone(),
                    fixed: fee_tariff.fixed_per_period,
                    metered,
                    fee: sum([fee_tariff.fixed_per_period, metered.map_or(0, |m| m.amount)])?,
                })
            }
            None => None,
        };
        let communication_total = sum(users.iter().map(|u| u.communication_fee))?;
        let consolidation_total = sum(users
            .iter()
            .map(|u| u.consolidation.as_ref().map_or(0, |c| c.fee)))?;
        let claimed_sum = sum(users
            .iter()
            .map(|u| u.line_total)
            .chain(contract_fee.as_ref().map(|c| c.fee)))?;
        accounts.push(AccountInvoice {
            account: account.to_owned(),
            display_name: None,
            users,
            contract_fee,
            communication_total,
            consolidation_total,
            claimed_sum,
        });
    }

    let unbilled = by_subscriber
        .iter()
        .filter(|(s, _)| table.contract(s).is_none())
        .map(|(s, acc)| UnbilledUsage {
            subscriber: (*s).to_owned(),
            account: acc.account_seen.to_owned(),
            sessions: acc.sessions,
            connect_ms: acc.connect_ms,
            usage: acc.usage,
        })
        .collect();

    Ok(Invoice {
        period: period.clone(),
        currency: tariffs.currency.clone(),
        minor_unit_digits: tariffs.minor_unit_digits,
        accounts,
        operator: operator_statement(agg, tariffs, range)?,
        unbilled,
        ledger: LedgerNotes {
            aggregate: agg.notes.clone(),
            ..LedgerNotes::default()
        },
    })
}

fn rate_private(
    rate: Rate,
    account: &str,
    spans: &mut BTreeMap<&str, Vec<(u64, u64)>>,
    octets: &BTreeMap<&str, u64>,
    range: TimeRange,
) -> Result<Rated, TariffError> {
    let quantity = match rate.unit.dimension() {
        Dimension::Volume => octets.get(account).copied().unwrap_or(0),
        Dimension::Time => spans
            .get_mut(account)
            .map_or(0, |s| aggregate::union_ms(s, range)),
    };
    rate.rate(quantity)
}

fn operator_statement(
    agg: &Aggregate,
    tariffs: &Tariffs,
    range: TimeRange,
) -> Result<OperatorStatement, TariffError> {
    let hour = Rate {
        unit: Unit::Hour,
        price: tariffs.tunnel_hour,
    };
    let mut pairs: BTreeMap<(&str, &str), (u64, u64)> = BTreeMap::new();
    for t in &agg.tunnels {
        let e = pairs.entry((t.line.as_str(), t.peer.as_str())).or_default();
        e.0 += 1;
        e.1 = e.1.saturating_add(range.overlap(t.open_at, t.end));
    }
    let tunnels = pairs
        .into_iter()
        .map(|((line, peer), (count, ms))| {
            Ok(TunnelHoursLine {
                line: line.to_owned(),
                peer: peer.to_owned(),
                tunnels: count,
                hours: hour.rate(ms)?,
            })
        })
        .collect::<Result<Vec<_>, TariffError>>()?;
    let lines: Vec<LineMonthLine> = agg
        .lines
        .iter()
        .map(|l| {
            let unit_price = tariffs.line_month_price(&l.line);
            let line_months = u64::from(l.in_use_ms > 0);
            Ok(LineMonthLine {
                line: l.line.clone(),
                in_use_ms: l.in_use_ms,
                line_months,
                unit_price,
                charge: crate::engine::tariff::multiply(line_months, unit_price)?,
            })
        })
        .collect::<Result<_, TariffError>>()?;
    let tunnel_total = sum(tunnels.iter().map(|t| t.hours.amount))?;
    let line_total = sum(lines.iter().map(|l| l.charge))?;
    Ok(OperatorStatement {
        tunnels,
        lines,
        tunnel_total,
        line_total,
        total: sum([tunnel_total, line_total])?,
    })
}

//! Tariffs: what tunnels, lines, the consolidation service, the supplementary contract and
//! subscribers' communication cost, in integer minor units of one currency.
//!
//! Owns: the tariff types (filled by the integrator from the TOML config; serde here serves JSON
//! output and test fixtures), their validation, the one rounding rule, and money formatting. Must
//! not touch: the ledger, contracts (see [`super::invoice`]), IO or the clock.
//!
//! # Money
//!
//! Every amount is [`Money`]: an `i64` count of minor units (cents for EUR, yen for JPY) of
//! [`Tariffs::currency`]. No floating point is used anywhere on the way to an amount. Prices must
//! not be negative; products are computed in `i128` and refused if they do not fit an `i64`.
//!
//! # The rounding rule
//!
//! Usage is measured exactly, in milliseconds or bytes, and summed exactly per invoice line (a
//! subscriber's communication time, an account's private-line volume, a line/peer pair's tunnel
//! time...). Then, once per line, the total is rounded **up to whole started units** of the
//! rate's unit, and multiplied by the integer unit price:
//!
//! ```text
//! billed_units = ceil(total_base_units / unit_size)      amount = billed_units * unit_price
//! ```
//!
//! So "per minute" means per started minute of the line's total, not of each session; "per GB"
//! means per started 10^9 bytes (decimal units, as ISPs sell them: 1 MB = 10^6 bytes). Nothing is
//! rounded anywhere else, so an invoice line never depends on how usage was split into sessions,
//! interim records or segments.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// An amount in integer minor units of the configured currency.
pub type Money = i64;

/// Units that usage is rated in. Time units measure milliseconds, volume units bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    Second,
    Minute,
    Hour,
    /// 10^6 bytes.
    Megabyte,
    /// 10^9 bytes.
    Gigabyte,
}

/// Whether a unit measures time or volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Dimension {
    /// Milliseconds.
    Time,
    /// Bytes.
    Volume,
}

impl Unit {
    /// How many base units (milliseconds or bytes) one unit is.
    pub fn size(self) -> u64 {
        match self {
            Unit::Second => 1_000,
            Unit::Minute => 60_000,
            Unit::Hour => 3_600_000,
            Unit::Megabyte => 1_000_000,
            Unit::Gigabyte => 1_000_000_000,
        }
    }

    pub fn dimension(self) -> Dimension {
        match self {
            Unit::Second | Unit::Minute | Unit::Hour => Dimension::Time,
            Unit::Megabyte | Unit::Gigabyte => Dimension::Volume,
        }
    }

    /// Short name for tables: "s", "min", "h", "MB", "GB".
    pub fn symbol(self) -> &'static str {
        match self {
            Unit::Second => "s",
            Unit::Minute => "min",
            Unit::Hour => "h",
            Unit::Megabyte => "MB",
            Unit::Gigabyte => "GB",
        }
    }

    /// Whole started units in `quantity` base units: the rounding rule of this module.
    pub fn started_units(self, quantity: u64) -> u64 {
        quantity.div_ceil(self.size())
    }
}

/// A price per started unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rate {
    pub unit: Unit,
    /// Price of one started unit.
    pub price: Money,
}

/// A quantity rated by a [`Rate`]: what an invoice shows for one metered line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Rated {
    /// Exact measured quantity in base units (milliseconds or bytes).
    pub quantity: u64,
    pub unit: Unit,
    /// Started units billed: `ceil(quantity / unit size)`.
    pub billed_units: u64,
    pub unit_price: Money,
    pub amount: Money,
}

impl Rate {
    /// Rates `quantity` base units by the module's rounding rule.
    pub fn rate(&self, quantity: u64) -> Result<Rated, TariffError> {
        let billed_units = self.unit.started_units(quantity);
        Ok(Rated {
            quantity,
            unit: self.unit,
            billed_units,
            unit_price: self.price,
            amount: multiply(billed_units, self.price)?,
        })
    }
}

/// `units * price`, refused if it leaves `i64`.
pub fn multiply(units: u64, price: Money) -> Result<Money, TariffError> {
    Money::try_from(i128::from(units) * i128::from(price)).map_err(|_| TariffError::Overflow)
}

/// A checked sum of amounts.
pub fn sum(amounts: impl IntoIterator<Item = Money>) -> Result<Money, TariffError> {
    amounts
        .into_iter()
        .try_fold(0 as Money, |acc, a| acc.checked_add(a))
        .ok_or(TariffError::Overflow)
}

/// How the consolidation service fee (seed 000 claim 1: "charges usage fees according to the
/// number of tunnels or the number of physical communication lines") counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsolidationBasis {
    /// Per tunnel-hour: for each tunnel, the time at least one of the subscriber's sessions was in
    /// it, summed over tunnels. Sessions packed into one tunnel cost one tunnel's time.
    Tunnels,
    /// Per line-hour, likewise per physical line.
    Lines,
}

/// The consolidation service fee, for subscribers whose contract includes the service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsolidationTariff {
    pub basis: ConsolidationBasis,
    /// Service fee per period, charged to every subscriber of the service.
    pub per_period: Money,
    /// Price per started hour of tunnel (or line) use, see [`ConsolidationBasis`]. The rate's unit
    /// must be a time unit.
    pub usage: Rate,
}

/// The supplementary contract fee (seed 000 claim 19: "a fixed fee or a meter-rate decided
/// according to the amount of use" of the private line), charged once per paying account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContractFeeTariff {
    /// Fixed fee per period (0 for a purely metered contract).
    pub fixed_per_period: Money,
    /// Metered part: volume (bytes both ways) or time (the time at least one of the account's
    /// sessions was on a private line) carried on [`Tariffs::private_lines`].
    pub metered: Option<Rate>,
}

/// A subscriber plan's communication fee. The parts add up; a plan may use any of them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanTariff {
    /// Flat rate per period, charged whether or not the subscriber connected.
    pub flat_per_period: Money,
    /// Per connect time: session time of all the subscriber's sessions (a moved session counts its
    /// time once). Unit must be second, minute or hour.
    pub per_time: Option<Rate>,
    /// Per volume: bytes both ways. Unit must be megabyte or gigabyte.
    pub per_volume: Option<Rate>,
}

/// Every price billing needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tariffs {
    /// ISO 4217 code, e.g. "EUR".
    pub currency: String,
    /// Digits of the minor unit: 2 for EUR (cents), 0 for JPY.
    pub minor_unit_digits: u8,
    /// What the operator pays (or charges onward) per started tunnel-hour, per line and peer.
    pub tunnel_hour: Money,
    /// What the operator pays per line and month in which the line was in use.
    pub line_month: Money,
    /// Line-month prices for particular lines, by line name, overriding `line_month`.
    #[serde(default)]
    pub line_month_by_line: BTreeMap<String, Money>,
    pub consolidation: ConsolidationTariff,
    /// Supplementary contract fee tariffs by name; contracts name one.
    #[serde(default)]
    pub contract_fees: BTreeMap<String, ContractFeeTariff>,
    /// Lines configured as private lines for supplementary contracts (seed 000 claim 17). Metered
    /// contract fees count usage on these lines only.
    #[serde(default)]
    pub private_lines: BTreeSet<String>,
    /// Communication plans by name; contracts name one.
    pub plans: BTreeMap<String, PlanTariff>,
}

/// A tariff that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TariffError {
    #[error("currency code {0:?} is not 3 ASCII capital letters")]
    BadCurrency(String),
    #[error("minor_unit_digits is {0}; at most 6 is supported")]
    TooManyDigits(u8),
    #[error("{what} is {price}; prices must not be negative")]
    NegativePrice { what: String, price: Money },
    #[error("{what} is rated per {unit:?}, which does not measure {expected:?}")]
    WrongDimension {
        what: String,
        unit: Unit,
        expected: Dimension,
    },
    #[error("an amount does not fit in 64 bits of minor units")]
    Overflow,
}

impl Tariffs {
    /// Checks everything an invoice relies on.
    pub fn validate(&self) -> Result<(), TariffError> {
        if self.currency.len() != 3 || !self.currency.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(TariffError::BadCurrency(self.currency.clone()));
        }
        if self.minor_unit_digits > 6 {
            return Err(TariffError::TooManyDigits(self.minor_unit_digits));
        }
        non_negative("tunnel_hour", self.tunnel_hour)?;
        non_negative("line_month", self.line_month)?;
        for (line, price) in &self.line_month_by_line {
            non_negative(&format!("line_month_by_line.{line}"), *price)?;
        }
        non_negative("consolidation.per_period", self.consolidation.per_period)?;
        rate_ok(
            "consolidation.usage",
            &self.consolidation.usage,
            Some(Dimension::Time),
        )?;
        for (name, fee) in &self.contract_fees {
            non_negative(
                &format!("contract_fees.{name}.fixed_per_period"),
                fee.fixed_per_period,
            )?;
            if let Some(m) = &fee.metered {
                rate_ok(&format!("contract_fees.{name}.metered"), m, None)?;
            }
        }
        for (name, plan) in &self.plans {
            non_negative(
                &format!("plans.{name}.flat_per_period"),
                plan.flat_per_period,
            )?;
            if let Some(r) = &plan.per_time {
                rate_ok(&format!("plans.{name}.per_time"), r, Some(Dimension::Time))?;
            }
            if let Some(r) = &plan.per_volume {
                rate_ok(
                    &format!("plans.{name}.per_volume"),
                    r,
                    Some(Dimension::Volume),
                )?;
            }
        }
        Ok(())
    }

    /// The line-month price of `line`.
    pub fn line_month_price(&self, line: &str) -> Money {
        self.line_month_by_line
            .get(line)
            .copied()
            .unwrap_or(self.line_month)
    }

    /// Formats an amount of this currency, e.g. `1234` → `"12.34"`.
    pub fn format(&self, amount: Money) -> String {
        format_money(amount, self.minor_unit_digits)
    }
}

fn non_negative(what: &str, price: Money) -> Result<(), TariffError> {
    if price < 0 {
        return Err(TariffError::NegativePrice {
            what: what.to_owned(),
            price,
        });
    }
    Ok(())
}

fn rate_ok(what: &str, rate: &Rate, expected: Option<Dimension>) -> Result<(), TariffError> {
    non_negative(&format!("{what}.price"), rate.price)?;
    if let Some(expected) = expected
        && rate.unit.dimension() != expected
    {
        return Err(TariffError::WrongDimension {
            what: what.to_owned(),
            unit: rate.unit,
            expected,
        });
    }
    Ok(())
}

/// Formats minor units with `digits` decimals using integer arithmetic only.
pub fn format_money(amount: Money, digits: u8) -> String {
    let sign = if amount < 0 { "-" } else { "" };
    let abs = amount.unsigned_abs();
    if digits == 0 {
        return format!("{sign}{abs}");
    }
    let scale = 10u64.pow(u32::from(digits));
    format!(
        "{sign}{}.{:0width$}",
        abs / scale,
        abs % scale,
        width = usize::from(digits)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tariffs() -> Tariffs {
        Tariffs {
            currency: "EUR".into(),
            minor_unit_digits: 2,
            tunnel_hour: 12,
            line_month: 50_000,
            line_month_by_line: BTreeMap::from([("leased-2".into(), 80_000)]),
            consolidation: ConsolidationTariff {
                basis: ConsolidationBasis::Tunnels,
                per_period: 500,
                usage: Rate {
                    unit: Unit::Hour,
                    price: 1,
                },
            },
            contract_fees: BTreeMap::from([(
                "metered".into(),
                ContractFeeTariff {
                    fixed_per_period: 0,
                    metered: Some(Rate {
                        unit: Unit::Gigabyte,
                        price: 100,
                    }),
                },
            )]),
            private_lines: BTreeSet::from(["private-1".into()]),
            plans: BTreeMap::from([(
                "per-minute".into(),
                PlanTariff {
                    flat_per_period: 0,
                    per_time: Some(Rate {
                        unit: Unit::Minute,
                        price: 2,
                    }),
                    per_volume: None,
                },
            )]),
        }
    }

    #[test]
    fn started_units_round_up_exactly() {
        assert_eq!(Unit::Minute.started_units(0), 0);
        assert_eq!(Unit::Minute.started_units(1), 1);
        assert_eq!(Unit::Minute.started_units(60_000), 1);
        assert_eq!(Unit::Minute.started_units(60_001), 2);
        assert_eq!(Unit::Gigabyte.started_units(999_999_999), 1);
        assert_eq!(Unit::Gigabyte.started_units(1_000_000_001), 2);
        assert_eq!(Unit::Second.started_units(u64::MAX), u64::MAX / 1000 + 1);
    }

    #[test]
    fn rating_multiplies_started_units_and_refuses_overflow() {
        let r = Rate {
            unit: Unit::Megabyte,
            price: 3,
        };
        let rated = r.rate(2_500_000).unwrap();
        assert_eq!((rated.billed_units, rated.amount), (3, 9));
        let huge = Rate {
            unit: Unit::Second,
            price: Money::MAX,
        };
        assert_eq!(huge.rate(2_000), Err(TariffError::Overflow));
        assert_eq!(sum([Money::MAX, 1]), Err(TariffError::Overflow));
        assert_eq!(sum([1, 2, 3]), Ok(6));
    }

    #[test]
    fn money_formats_with_integer_arithmetic() {
        assert_eq!(format_money(0, 2), "0.00");
        assert_eq!(format_money(5, 2), "0.05");
        assert_eq!(format_money(123_456, 2), "1234.56");
        assert_eq!(format_money(-105, 2), "-1.05");
        assert_eq!(format_money(42, 0), "42");
        assert_eq!(format_money(Money::MIN, 3), "-9223372036854775.808");
    }

    #[test]
    fn validation_accepts_a_good_tariff_and_names_what_is_wrong() {
        assert_eq!(tariffs().validate(), Ok(()));
        assert_eq!(tariffs().line_month_price("leased-2"), 80_000);
        assert_eq!(tariffs().line_month_price("other"), 50_000);

        let mut t = tariffs();
        t.currency = "eur".into();
        assert!(matches!(t.validate(), Err(TariffError::BadCurrency(_))));

        let mut t = tariffs();
        t.plans.get_mut("per-minute").unwrap().per_time = Some(Rate {
            unit: Unit::Gigabyte,
            price: 1,
        });
        assert!(matches!(
            t.validate(),
            Err(TariffError::WrongDimension { what, .. }) if what == "plans.per-minute.per_time"
        ));

        let mut t = tariffs();
        t.contract_fees.get_mut("metered").unwrap().fixed_per_period = -1;
        assert!(matches!(
            t.validate(),
            Err(TariffError::NegativePrice { what, .. })
                if what == "contract_fees.metered.fixed_per_period"
        ));

        let mut t = tariffs();
        t.consolidation.usage.unit = Unit::Megabyte;
        assert!(t.validate().is_err());
    }

    #[test]
    fn tariffs_round_trip_through_json_and_refuse_unknown_fields() {
        let json = serde_json::to_string(&tariffs()).unwrap();
        let back: Tariffs = serde_json::from_str(&json).unwrap();
        assert_eq!(back, tariffs());
        let bad = json.replacen("\"tunnel_hour\"", "\"tunnel_hours\"", 1);
        assert!(serde_json::from_str::<Tariffs>(&bad).is_err());
    }
}

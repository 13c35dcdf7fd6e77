//! Billing periods: calendar months in UTC.
//!
//! Owns: turning "2026-11" into `[2026-11-01T00:00:00Z, 2026-12-01T00:00:00Z)` in UnixMillis.
//! Must not touch: the clock (the caller names the period).

use serde::Serialize;

use super::aggregate::TimeRange;
use crate::runtime::clock::UnixMillis;

/// A calendar month in UTC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BillingPeriod {
    /// "YYYY-MM".
    pub label: String,
    /// First millisecond of the month.
    pub start: UnixMillis,
    /// First millisecond of the next month (exclusive).
    pub end: UnixMillis,
}

/// A period that does not name a month.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeriodError {
    #[error("billing period {0:?} is not YYYY-MM")]
    Syntax(String),
    #[error("billing period {0:?} is outside 1970-01 .. 9999-12")]
    OutOfRange(String),
}

impl BillingPeriod {
    /// The month `month` (1-12) of `year`.
    pub fn month(year: i32, month: u32) -> Result<BillingPeriod, PeriodError> {
        let label = format!("{year:04}-{month:02}");
        let first_ms = |y: i32, m: u32| -> Option<UnixMillis> {
            let d = chrono::NaiveDate::from_ymd_opt(y, m, 1)?;
            let ms = d.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis();
            UnixMillis::try_from(ms).ok()
        };
        if !(1970..=9999).contains(&year) || !(1..=12).contains(&month) {
            return Err(PeriodError::OutOfRange(label));
        }
        let (ny, nm) = if month == 12 {
            (year + 1, 1)
        } else {
            (year, month + 1)
        };
        match (first_ms(year, month), first_ms(ny, nm)) {
            (Some(start), Some(end)) => Ok(BillingPeriod { label, start, end }),
            _ => Err(PeriodError::OutOfRange(label)),
        }
    }

    /// The period as a time range.
    pub fn range(&self) -> TimeRange {
        TimeRange {
            start: self.start,
            end: self.end,
        }
    }

    /// The month before this one.
    pub fn previous(&self) -> Result<BillingPeriod, PeriodError> {
        let (y, m) = self.year_month();
        if m == 1 {
            BillingPeriod::month(y - 1, 12)
        } else {
            BillingPeriod::month(y, m - 1)
        }
    }

    /// The month after this one.
    pub fn next(&self) -> Result<BillingPeriod, PeriodError> {
        let (y, m) = self.year_month();
        if m == 12 {
            BillingPeriod::month(y + 1, 1)
        } else {
            BillingPeriod::month(y, m + 1)
        }
    }

    fn year_month(&self) -> (i32, u32) {
        // Taken from `start` rather than the (public, editable) label.
        use chrono::Datelike;
        i64::try_from(self.start)
            .ok()
            .and_then(chrono::DateTime::from_timestamp_millis)
            .map_or((1970, 1), |t| (t.year(), t.month()))
    }
}

impl std::str::FromStr for BillingPeriod {
    type Err = PeriodError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let syntax = || PeriodError::Syntax(s.to_owned());
        let (y, m) = s.split_once('-').ok_or_else(syntax)?;
        if y.len() != 4 || m.len() != 2 || !(y.bytes().chain(m.bytes())).all(|b| b.is_ascii_digit())
        {
            return Err(syntax());
        }
        BillingPeriod::month(
            y.parse().map_err(|_| syntax())?,
            m.parse().map_err(|_| syntax())?,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_are_utc_calendar_months() {
        let p: BillingPeriod = "2026-11".parse().unwrap();
        assert_eq!(p.start, 1_793_491_200_000); // 2026-11-01T00:00:00Z
        assert_eq!(p.end, 1_796_083_200_000); // 2026-12-01T00:00:00Z
        assert_eq!(p.end - p.start, 30 * 86_400_000);
        let dec: BillingPeriod = "2026-12".parse().unwrap();
        assert_eq!(dec.start, p.end);
        assert_eq!(dec.end - dec.start, 31 * 86_400_000);
        let feb: BillingPeriod = "2028-02".parse().unwrap();
        assert_eq!(feb.end - feb.start, 29 * 86_400_000);
        assert_eq!(p.next().unwrap(), dec);
        assert_eq!(dec.previous().unwrap(), p);
        assert_eq!(
            "2027-01".parse::<BillingPeriod>().unwrap(),
            dec.next().unwrap()
        );
    }

    #[test]
    fn bad_periods_are_refused() {
        for bad in ["2026-13", "2026-00", "1969-12"] {
            assert!(
                matches!(
                    bad.parse::<BillingPeriod>(),
                    Err(PeriodError::OutOfRange(_))
                ),
                "{bad}"
            );
        }
        for bad in [
            "2026-1",
            "26-11",
            "2026/11",
            "2026-11-01",
            "",
            "abcd-ef",
            "+026-11",
        ] {
            assert!(
                matches!(bad.parse::<BillingPeriod>(), Err(PeriodError::Syntax(_))),
                "{bad}"
            );
        }
    }
}

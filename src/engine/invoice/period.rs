//! Billing periods: calendar months, in UTC or starting at midnight at a fixed UTC offset
//! (`billing.period_offset` in the config).
//!
//! Owns: turning "2026-11" into `[2026-11-01T00:00:00Z, 2026-12-01T00:00:00Z)` in UnixMillis, or at
//! offset +09:00 into `[2026-10-31T15:00:00Z, 2026-11-30T15:00:00Z)`. Must not touch: the clock
//! (the caller names the period).

use serde::Serialize;

use super::aggregate::TimeRange;
use crate::runtime::clock::UnixMillis;

/// A calendar month, in UTC unless built with [`BillingPeriod::month_at`] or
/// [`BillingPeriod::at_offset`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BillingPeriod {
    /// "YYYY-MM".
    pub label: String,
    /// First millisecond of the month.
    pub start: UnixMillis,
    /// First millisecond of the next month (exclusive).
    pub end: UnixMillis,
}

/// Largest UTC offset accepted, in seconds (a day; real offsets stay within ±14 hours).
const MAX_OFFSET_SECONDS: u32 = 86_400;

/// A period that does not name a month.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeriodError {
    #[error("billing period {0:?} is not YYYY-MM")]
    Syntax(String),
    #[error("billing period {0:?} is outside 1970-01 .. 9999-12")]
    OutOfRange(String),
}

impl BillingPeriod {
    /// The month `month` (1-12) of `year`, in UTC.
    pub fn month(year: i32, month: u32) -> Result<BillingPeriod, PeriodError> {
        BillingPeriod::month_at(year, month, 0)
    }

    /// The month `month` (1-12) of `year` as it is at `offset_seconds` east of UTC: from local
    /// midnight on the 1st to local midnight on the 1st of the next month. At +09:00, "2026-11"
    /// starts at 2026-10-31T15:00:00Z. Offsets are at most ±24 hours; a month whose start would
    /// fall before the Unix epoch (1970-01 east of UTC) is out of range.
    pub fn month_at(
        year: i32,
        month: u32,
        offset_seconds: i32,
    ) -> Result<BillingPeriod, PeriodError> {
        let label = format!("{year:04}-{month:02}");
        if !(1970..=9999).contains(&year)
            || !(1..=12).contains(&month)
            || offset_seconds.unsigned_abs() > MAX_OFFSET_SECONDS
        {
            return Err(PeriodError::OutOfRange(label));
        }
        let offset_ms = i64::from(offset_seconds) * 1000;
        let first_ms = |y: i32, m: u32| -> Option<UnixMillis> {
            let d = chrono::NaiveDate::from_ymd_opt(y, m, 1)?;
            let ms = d.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis();
            UnixMillis::try_from(ms.checked_sub(offset_ms)?).ok()
        };
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

    /// The same month at `offset_seconds` east of UTC (see [`BillingPeriod::month_at`]).
    pub fn at_offset(&self, offset_seconds: i32) -> Result<BillingPeriod, PeriodError> {
        let (y, m) = self.year_month();
        BillingPeriod::month_at(y, m, offset_seconds)
    }

    /// Seconds east of UTC at which this period's months start (0 for UTC).
    pub fn offset_seconds(&self) -> i32 {
        let (y, m) = self.year_month();
        BillingPeriod::month(y, m)
            .ok()
            .and_then(|utc| i64::try_from(utc.start).ok())
            .zip(i64::try_from(self.start).ok())
            .and_then(|(utc, start)| i32::try_from((utc - start) / 1000).ok())
            .unwrap_or(0)
    }

    /// The period as a time range.
    pub fn range(&self) -> TimeRange {
        TimeRange {
            start: self.start,
            end: self.end,
        }
    }

    /// The month before this one, at the same offset.
    pub fn previous(&self) -> Result<BillingPeriod, PeriodError> {
        let (y, m) = self.year_month();
        let offset = self.offset_seconds();
        if m == 1 {
            BillingPeriod::month_at(y - 1, 12, offset)
        } else {
            BillingPeriod::month_at(y, m - 1, offset)
        }
    }

    /// The month after this one, at the same offset.
    pub fn next(&self) -> Result<BillingPeriod, PeriodError> {
        let (y, m) = self.year_month();
        let offset = self.offset_seconds();
        if m == 12 {
            BillingPeriod::month_at(y + 1, 1, offset)
        } else {
            BillingPeriod::month_at(y, m + 1, offset)
        }
    }

    fn year_month(&self) -> (i32, u32) {
        // Taken from the times rather than the (public, editable) label. The middle of the period
        // lies inside the month in UTC whatever the offset (at most a day off at either end).
        use chrono::Datelike;
        let middle = self.start / 2 + self.end / 2;
        i64::try_from(middle)
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
    fn months_at_an_offset_start_at_local_midnight() {
        let utc: BillingPeriod = "2026-11".parse().unwrap();
        assert_eq!(utc.offset_seconds(), 0);
        let tokyo = utc.at_offset(9 * 3600).unwrap();
        assert_eq!(tokyo.label, "2026-11");
        assert_eq!(tokyo.start, utc.start - 9 * 3_600_000); // 2026-10-31T15:00:00Z
        assert_eq!(tokyo.end, utc.end - 9 * 3_600_000);
        assert_eq!(tokyo.offset_seconds(), 9 * 3600);
        let ny = BillingPeriod::month_at(2026, 11, -5 * 3600).unwrap();
        assert_eq!(ny.start, utc.start + 5 * 3_600_000);
        assert_eq!(ny.offset_seconds(), -5 * 3600);
        // Neighbours keep the offset, across year ends too.
        assert_eq!(tokyo.next().unwrap().start, tokyo.end);
        assert_eq!(tokyo.previous().unwrap().end, tokyo.start);
        let dec = BillingPeriod::month_at(2026, 12, 9 * 3600).unwrap();
        assert_eq!(
            dec.next().unwrap(),
            BillingPeriod::month_at(2027, 1, 9 * 3600).unwrap()
        );
        assert_eq!(dec.next().unwrap().previous().unwrap(), dec);
        assert_eq!(ny.at_offset(0).unwrap(), utc);
        // The first month east of UTC would start before the epoch.
        assert!(matches!(
            BillingPeriod::month_at(1970, 1, 3600),
            Err(PeriodError::OutOfRange(_))
        ));
        assert!(BillingPeriod::month_at(1970, 1, -3600).is_ok());
        assert!(matches!(
            BillingPeriod::month_at(2026, 1, 86_401),
            Err(PeriodError::OutOfRange(_))
        ));
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

//! Calendar days in UTC (`YYYY-MM-DD`) and the date window of the readings to download.
//!
//! A [`Date`] is a UTC midnight, built on the payload crate's [`Timestamp`] so that there is
//! one calendar implementation in the workspace. A [`DateWindow`] is half-open: `from` is
//! included, `to` is not, as in the portal query `heure_utc >= date'FROM' and heure_utc < date'TO'`.

use std::fmt;
use std::str::FromStr;
use std::time::SystemTime;

use garonne_payload::time::{Timestamp, TimestampError};

const SECS_PER_DAY: i64 = 86_400;

/// How many days of readings are fetched when `--from` is not given.
pub const DEFAULT_WINDOW_DAYS: i64 = 7;

/// A calendar day in UTC, written `YYYY-MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date(Timestamp);

/// Why a string is not a `YYYY-MM-DD` date.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid date {input:?}: {problem}; write it as YYYY-MM-DD, e.g. 2025-11-24")]
pub struct DateError {
    /// The text given.
    pub input: String,
    /// What is wrong with it.
    pub problem: &'static str,
}

impl Date {
    /// Today, in UTC, by the system clock.
    pub fn today() -> Date {
        // A clock before 1970 is broken; the portal has nothing from then either.
        Date::containing(Timestamp::from_system_time(SystemTime::now()).max(Timestamp::UNIX_EPOCH))
    }

    /// The day (in UTC) that contains `instant`.
    pub fn containing(instant: Timestamp) -> Date {
        let secs = instant.unix_secs();
        Date(Timestamp::new(secs - secs.rem_euclid(SECS_PER_DAY), 0).unwrap_or(instant))
    }

    /// This day's midnight, UTC.
    pub fn midnight(self) -> Timestamp {
        self.0
    }

    /// The day `days` days later (earlier when negative).
    pub fn add_days(self, days: i64) -> Date {
        let secs = self
            .0
            .unix_secs()
            .saturating_add(days.saturating_mul(SECS_PER_DAY));
        Date(Timestamp::new(secs, 0).unwrap_or(self.0))
    }
}

impl FromStr for Date {
    type Err = DateError;

    /// Parses exactly `YYYY-MM-DD`, checking the calendar (no 2025-02-29).
    fn from_str(text: &str) -> Result<Date, DateError> {
        let error = |problem| DateError {
            input: text.to_owned(),
            problem,
        };
        let b = text.as_bytes();
        let shape_ok = b.len() == 10
            && b[4] == b'-'
            && b[7] == b'-'
            && b.iter()
                .enumerate()
                .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
        if !shape_ok {
            return Err(error("not of the form YYYY-MM-DD"));
        }
        match Timestamp::parse(&format!("{text}T00:00:00Z")) {
            Ok(t) => Ok(Date(t)),
            Err(TimestampError::Field("month")) => Err(error("there is no such month")),
            Err(TimestampError::Field(_)) => Err(error("there is no such day in that month")),
            Err(_) => Err(error("not of the form YYYY-MM-DD")),
        }
    }
}

impl fmt::Display for Date {
    /// Writes `YYYY-MM-DD`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let full = self.0.to_string();
        f.write_str(full.split('T').next().unwrap_or(&full))
    }
}

/// The UTC days of readings to download: from `from` (included) to `to` (excluded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateWindow {
    /// The first day.
    pub from: Date,
    /// The day after the last one.
    pub to: Date,
}

/// A window that holds no day.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("empty date window: --from {from} must be before --to {to} (the --to day is excluded)")]
pub struct EmptyWindow {
    /// The first day asked for.
    pub from: Date,
    /// The excluded end.
    pub to: Date,
}

impl DateWindow {
    /// The window `[from, to)`; `from` must be before `to`.
    pub fn new(from: Date, to: Date) -> Result<DateWindow, EmptyWindow> {
        if from < to {
            Ok(DateWindow { from, to })
        } else {
            Err(EmptyWindow { from, to })
        }
    }

    /// The window for `--from` / `--to` as given: `to` defaults to `today`, `from` to
    /// [`DEFAULT_WINDOW_DAYS`] days before `to`.
    pub fn resolve(
        from: Option<Date>,
        to: Option<Date>,
        today: Date,
    ) -> Result<DateWindow, EmptyWindow> {
        let to = to.unwrap_or(today);
        let from = from.unwrap_or(to.add_days(-DEFAULT_WINDOW_DAYS));
        DateWindow::new(from, to)
    }
}

impl fmt::Display for DateWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} to {} (UTC, {} excluded)",
            self.from, self.to, self.to
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn date(text: &str) -> Date {
        text.parse().unwrap()
    }

    #[test]
    fn dates_parse_and_print_back() {
        for text in ["2025-11-24", "2024-02-29", "1970-01-01", "2000-12-31"] {
            assert_eq!(date(text).to_string(), text);
        }
    }

    #[test]
    fn bad_dates_say_what_is_wrong() {
        let cases = [
            ("2025-11-4", "not of the form YYYY-MM-DD"),
            ("24/11/2025", "not of the form YYYY-MM-DD"),
            ("2025-11-24T00:00:00Z", "not of the form YYYY-MM-DD"),
            ("2025-1a-24", "not of the form YYYY-MM-DD"),
            ("", "not of the form YYYY-MM-DD"),
            ("2025-13-01", "there is no such month"),
            ("2025-00-01", "there is no such month"),
            ("2025-02-29", "there is no such day in that month"),
            ("2025-04-31", "there is no such day in that month"),
        ];
        for (text, problem) in cases {
            let err = text.parse::<Date>().unwrap_err();
            assert_eq!(err.problem, problem, "{text}");
            assert_eq!(
                err.to_string(),
                format!(
                    "invalid date {text:?}: {problem}; write it as YYYY-MM-DD, e.g. 2025-11-24"
                )
            );
        }
    }

    #[test]
    fn days_add_across_months_and_years() {
        assert_eq!(date("2025-03-01").add_days(-1), date("2025-02-28"));
        assert_eq!(date("2024-03-01").add_days(-1), date("2024-02-29"));
        assert_eq!(date("2025-12-31").add_days(1), date("2026-01-01"));
        assert_eq!(date("2025-11-24").add_days(-7), date("2025-11-17"));
    }

    #[test]
    fn a_day_contains_its_instants() {
        let t = Timestamp::parse("2025-11-24T23:59:59Z").unwrap();
        assert_eq!(Date::containing(t), date("2025-11-24"));
        let t = Timestamp::parse("1969-12-31T12:00:00Z").unwrap();
        assert_eq!(Date::containing(t), date("1969-12-31"));
        assert_eq!(
            date("2025-11-24").midnight(),
            Timestamp::parse("2025-11-24T00:00:00Z").unwrap()
        );
    }

    #[test]
    fn window_defaults_to_the_seven_days_before_today() {
        let today = date("2025-11-26");
        let w = DateWindow::resolve(None, None, today).unwrap();
        assert_eq!((w.from, w.to), (date("2025-11-19"), today));
        let w = DateWindow::resolve(None, Some(date("2025-11-10")), today).unwrap();
        assert_eq!((w.from, w.to), (date("2025-11-03"), date("2025-11-10")));
        let w = DateWindow::resolve(Some(date("2025-11-01")), None, today).unwrap();
        assert_eq!((w.from, w.to), (date("2025-11-01"), today));
    }

    #[test]
    fn an_empty_window_is_refused() {
        let today = date("2025-11-26");
        let err = DateWindow::resolve(Some(today), None, today).unwrap_err();
        assert_eq!(
            err.to_string(),
            "empty date window: --from 2025-11-26 must be before --to 2025-11-26 (the --to day is excluded)"
        );
        assert!(DateWindow::resolve(Some(date("2025-11-27")), None, today).is_err());
    }
}

//! Timestamps on the wire: RFC 3339 in UTC, written with `Z`, to the nanosecond.
//!
//! The payload crate has no clock and no date library: a [`Timestamp`] is seconds and
//! nanoseconds since the Unix epoch, parsed and formatted here, exactly and without allocation
//! on the parse path. Callers pass "now" in, so validation is a pure function.

use std::fmt;
use std::str::FromStr;

/// An instant in UTC, with nanosecond precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    secs: i64,
    nanos: u32,
}

/// Why a string is not a Garonne timestamp. The text is the hint shown to the sender.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimestampError {
    /// The shape is not `YYYY-MM-DDTHH:MM:SS[.fraction]Z`.
    #[error("expected RFC 3339 UTC like 2025-11-24T10:15:00Z")]
    Shape,
    /// A UTC offset other than `Z` was written.
    #[error("the time must be in UTC, written with a final Z (convert local time to UTC first)")]
    NotUtc,
    /// A field is out of its calendar range (month 13, 30 February, hour 24...).
    #[error("{0} is out of range")]
    Field(&'static str),
}

const NANOS_PER_SEC: i64 = 1_000_000_000;

impl Timestamp {
    /// The Unix epoch, 1970-01-01T00:00:00Z.
    pub const UNIX_EPOCH: Timestamp = Timestamp { secs: 0, nanos: 0 };

    /// A timestamp from whole seconds and nanoseconds since the epoch (`nanos` < 10⁹).
    pub fn new(secs: i64, nanos: u32) -> Option<Timestamp> {
        (nanos < NANOS_PER_SEC as u32).then_some(Timestamp { secs, nanos })
    }

    /// A timestamp from seconds since the epoch, as a float (SenML times), rounded to the
    /// microsecond; `None` if not finite or beyond the year 9999.
    ///
    /// Design: an f64 near today's 1.7·10⁹ s holds about 0.24 µs, so nanoseconds would be noise;
    /// rounding to the microsecond gives back exactly what a sender wrote in ms or µs.
    pub fn from_unix_f64(secs: f64) -> Option<Timestamp> {
        if !secs.is_finite() || secs.abs() > 253_402_300_799.0 {
            return None;
        }
        let whole = secs.floor();
        let nanos = ((secs - whole) * 1e6).round() as i64 * 1000;
        let (whole, nanos) = if nanos >= NANOS_PER_SEC {
            (whole as i64 + 1, nanos - NANOS_PER_SEC)
        } else {
            (whole as i64, nanos)
        };
        Timestamp::new(whole, nanos as u32)
    }

    /// The wall clock now: the one place Garonne reads it (services pass it on to their pure
    /// cores as `now`, which then read no clock themselves).
    pub fn now() -> Timestamp {
        Timestamp::from_system_time(std::time::SystemTime::now())
    }

    /// The instant a [`std::time::SystemTime`] stands for. Instants before 1970 are kept, not
    /// clamped.
    pub fn from_system_time(t: std::time::SystemTime) -> Timestamp {
        match t.duration_since(std::time::UNIX_EPOCH) {
            Ok(d) => Timestamp {
                secs: d.as_secs() as i64,
                nanos: d.subsec_nanos(),
            },
            Err(before) => {
                let d = before.duration();
                Timestamp::UNIX_EPOCH.add_nanos(-(d.as_nanos().min(i64::MAX as u128) as i64))
            }
        }
    }

    /// A timestamp from milliseconds since the epoch.
    pub fn from_unix_millis(millis: i64) -> Timestamp {
        Timestamp {
            secs: millis.div_euclid(1000),
            nanos: (millis.rem_euclid(1000) * 1_000_000) as u32,
        }
    }

    /// Whole seconds since the epoch.
    pub fn unix_secs(self) -> i64 {
        self.secs
    }

    /// Nanoseconds within the second.
    pub fn subsec_nanos(self) -> u32 {
        self.nanos
    }

    /// Milliseconds since the epoch (truncated towards the past).
    pub fn unix_millis(self) -> i64 {
        self.secs * 1000 + i64::from(self.nanos / 1_000_000)
    }

    /// Seconds since the epoch as a float.
    pub fn unix_f64(self) -> f64 {
        self.secs as f64 + f64::from(self.nanos) / 1e9
    }

    /// Nanoseconds since the epoch, as used by InfluxDB line protocol.
    pub fn unix_nanos(self) -> i128 {
        i128::from(self.secs) * i128::from(NANOS_PER_SEC) + i128::from(self.nanos)
    }

    /// This instant moved by a signed number of nanoseconds.
    pub fn add_nanos(self, delta: i64) -> Timestamp {
        let total = self.unix_nanos() + i128::from(delta);
        let secs = total.div_euclid(i128::from(NANOS_PER_SEC));
        let nanos = total.rem_euclid(i128::from(NANOS_PER_SEC));
        Timestamp {
            secs: secs as i64,
            nanos: nanos as u32,
        }
    }

    /// Seconds from `earlier` to `self` (negative when `self` is before).
    pub fn secs_since(self, earlier: Timestamp) -> f64 {
        (self.secs - earlier.secs) as f64 + (f64::from(self.nanos) - f64::from(earlier.nanos)) / 1e9
    }

    /// Parses `YYYY-MM-DDTHH:MM:SS[.fraction]Z` (1 to 9 fraction digits).
    pub fn parse(text: &str) -> Result<Timestamp, TimestampError> {
        let b = text.as_bytes();
        if b.len() < 20 {
            return Err(TimestampError::Shape);
        }
        let shape_ok =
            b[4] == b'-' && b[7] == b'-' && b[10] == b'T' && b[13] == b':' && b[16] == b':';
        if !shape_ok {
            return Err(TimestampError::Shape);
        }
        let year = digits(&b[0..4])?;
        let month = digits(&b[5..7])?;
        let day = digits(&b[8..10])?;
        let hour = digits(&b[11..13])?;
        let minute = digits(&b[14..16])?;
        let second = digits(&b[17..19])?;
        let mut rest = &b[19..];
        let mut nanos = 0u32;
        if rest.first() == Some(&b'.') {
            let n = rest[1..].iter().take_while(|c| c.is_ascii_digit()).count();
            if n == 0 || n > 9 {
                return Err(TimestampError::Shape);
            }
            nanos = digits(&rest[1..=n])? * 10u32.pow(9 - n as u32);
            rest = &rest[1 + n..];
        }
        match rest {
            b"Z" => {}
            [b'+' | b'-', ..] | b"z" => return Err(TimestampError::NotUtc),
            _ => return Err(TimestampError::Shape),
        }
        if !(1..=12).contains(&month) {
            return Err(TimestampError::Field("month"));
        }
        if day == 0 || day > days_in_month(year, month) {
            return Err(TimestampError::Field("day"));
        }
        if hour > 23 {
            return Err(TimestampError::Field("hour"));
        }
        if minute > 59 {
            return Err(TimestampError::Field("minute"));
        }
        // Design: no leap seconds (":60"): Unix time has none and neither do the stores downstream.
        if second > 59 {
            return Err(TimestampError::Field("second"));
        }
        let days = days_from_civil(i64::from(year), month, day);
        let secs = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second);
        Ok(Timestamp { secs, nanos })
    }
}

fn digits(b: &[u8]) -> Result<u32, TimestampError> {
    b.iter().try_fold(0u32, |acc, &c| {
        if c.is_ascii_digit() {
            Ok(acc * 10 + u32::from(c - b'0'))
        } else {
            Err(TimestampError::Shape)
        }
    })
}

fn is_leap(year: u32) -> bool {
    (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400)
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day count since 1970-01-01 (inverse of [`days_from_civil`]).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

impl fmt::Display for Timestamp {
    /// Writes RFC 3339 UTC with as few fraction digits as keep the value exact (0, 3, 6 or 9).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days = self.secs.div_euclid(86_400);
        let rem = self.secs.rem_euclid(86_400);
        let (y, mo, d) = civil_from_days(days);
        write!(
            f,
            "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}",
            rem / 3600,
            rem % 3600 / 60,
            rem % 60
        )?;
        let n = self.nanos;
        if n == 0 {
        } else if n.is_multiple_of(1_000_000) {
            write!(f, ".{:03}", n / 1_000_000)?;
        } else if n.is_multiple_of(1000) {
            write!(f, ".{:06}", n / 1000)?;
        } else {
            write!(f, ".{n:09}")?;
        }
        f.write_str("Z")
    }
}

impl FromStr for Timestamp {
    type Err = TimestampError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Timestamp::parse(s)
    }
}

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Timestamp;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an RFC 3339 UTC timestamp")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Timestamp, E> {
                Timestamp::parse(v).map_err(E::custom)
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_formats_known_instants() {
        let cases = [
            ("1970-01-01T00:00:00Z", 0, 0),
            ("2025-11-24T10:15:00Z", 1_763_979_300, 0),
            ("2000-02-29T23:59:59.500Z", 951_868_799, 500_000_000),
            ("2025-11-24T10:15:00.000001Z", 1_763_979_300, 1000),
            ("2025-11-24T10:15:00.123456789Z", 1_763_979_300, 123_456_789),
            ("1969-12-31T23:59:59Z", -1, 0),
        ];
        for (text, secs, nanos) in cases {
            let t = Timestamp::parse(text).expect(text);
            assert_eq!((t.unix_secs(), t.subsec_nanos()), (secs, nanos), "{text}");
            assert_eq!(t.to_string(), text);
        }
    }

    #[test]
    fn short_fractions_are_scaled_not_misread() {
        // Regression: ".5" is half a second, not five nanoseconds.
        let t = Timestamp::parse("2025-01-01T00:00:00.5Z").expect("valid");
        assert_eq!(t.subsec_nanos(), 500_000_000);
        assert_eq!(t.to_string(), "2025-01-01T00:00:00.500Z");
    }

    #[test]
    fn refuses_what_is_not_strict_utc() {
        let cases = [
            ("2025-11-24T10:15:00+01:00", TimestampError::NotUtc),
            ("2025-11-24T10:15:00+00:00", TimestampError::NotUtc),
            ("2025-11-24T10:15:00z", TimestampError::NotUtc),
            ("2025-11-24 10:15:00Z", TimestampError::Shape),
            ("2025-11-24T10:15:00", TimestampError::Shape),
            ("2025-11-24", TimestampError::Shape),
            ("2025-11-24T10:15:00.Z", TimestampError::Shape),
            ("2025-11-24T10:15:00.1234567891Z", TimestampError::Shape),
            ("2025-13-24T10:15:00Z", TimestampError::Field("month")),
            ("2025-02-29T10:15:00Z", TimestampError::Field("day")),
            ("2025-11-24T24:00:00Z", TimestampError::Field("hour")),
            ("2025-11-24T10:60:00Z", TimestampError::Field("minute")),
            ("2016-12-31T23:59:60Z", TimestampError::Field("second")),
            ("1763979300", TimestampError::Shape),
        ];
        for (text, want) in cases {
            assert_eq!(Timestamp::parse(text), Err(want), "{text}");
        }
    }

    #[test]
    fn civil_conversion_round_trips_over_centuries() {
        for days in (-200_000..200_000).step_by(97) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn system_times_convert_on_both_sides_of_the_epoch() {
        use std::time::{Duration, UNIX_EPOCH};
        let after = UNIX_EPOCH + Duration::new(1_763_979_300, 250_000_000);
        assert_eq!(
            Timestamp::from_system_time(after).to_string(),
            "2025-11-24T10:15:00.250Z"
        );
        let before = UNIX_EPOCH - Duration::from_millis(1);
        assert_eq!(
            Timestamp::from_system_time(before).to_string(),
            "1969-12-31T23:59:59.999Z"
        );
    }

    #[test]
    fn float_seconds_convert_exactly_enough() {
        let t = Timestamp::from_unix_f64(1_763_979_300.25).expect("finite");
        assert_eq!(t.to_string(), "2025-11-24T10:15:00.250Z");
        assert_eq!(Timestamp::from_unix_f64(f64::NAN), None);
        assert_eq!(
            t.add_nanos(-250_000_000).to_string(),
            "2025-11-24T10:15:00Z"
        );
        assert_eq!(
            Timestamp::from_unix_millis(-1).to_string(),
            "1969-12-31T23:59:59.999Z"
        );
    }
}

//! ISO 8601 times with a UTC offset, as the open-data exports write them, converted to UTC.
//!
//! The payload's [`Timestamp`] accepts only UTC written with `Z`, on purpose: the wire has one
//! spelling. The exports do not: `heure_utc` is `2025-11-24T10:15:00+00:00`, and `heure_de_paris`
//! carries `+01:00` (winter) or `+02:00` (summer) in the Opendatasoft CSV exports made with
//! `timezone=Europe/Paris`. This module turns those into UTC instants, exactly.

use garonne_payload::{Timestamp, TimestampError};

/// Why an open-data time could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    /// Not the shape `YYYY-MM-DDTHH:MM[:SS[.fraction]]` followed by an offset.
    #[error("expected an ISO 8601 time like 2025-11-24T11:15:00+01:00")]
    Shape,
    /// A local time without offset, where the offset is needed to know the instant.
    #[error("no UTC offset, so the instant is ambiguous (expected e.g. +01:00 or Z)")]
    NoOffset,
    /// An offset that is not `Z`, `±HH:MM`, `±HHMM` or `±HH`, or beyond ±18 h.
    #[error("malformed UTC offset (expected Z, +HH:MM, +HHMM or +HH)")]
    Offset,
    /// A calendar field out of range (month 13, 30 February, hour 24...).
    #[error("{0} is out of range")]
    Field(&'static str),
}

/// What to do with a time that carries no offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Naive {
    /// The column is UTC by definition (`heure_utc`): a missing offset means UTC.
    IsUtc,
    /// The column is local time (`heure_de_paris`): a missing offset is an error.
    Refuse,
}

/// Parses `YYYY-MM-DD[T ]HH:MM[:SS[.fraction]]` followed by `Z`, `±HH:MM`, `±HHMM` or `±HH`,
/// and returns the UTC instant.
pub(crate) fn parse_utc(text: &str, naive: Naive) -> Result<Timestamp, TimeError> {
    let text = text.trim();
    let b = text.as_bytes();
    let date_shape = b.len() >= 16 && b[4] == b'-' && b[7] == b'-';
    if !date_shape || !b.is_ascii() || !matches!(b[10], b'T' | b't' | b' ') {
        return Err(TimeError::Shape);
    }
    // The offset starts at the first `Z`, `+` or `-` after the date (index 10 on).
    let split = b[11..]
        .iter()
        .position(|c| matches!(c, b'Z' | b'z' | b'+' | b'-'))
        .map(|i| i + 11);
    let (local, offset) = match split {
        Some(i) => (&text[11..i], &text[i..]),
        None => (&text[11..], ""),
    };
    let offset_secs = match offset {
        "" if naive == Naive::IsUtc => 0,
        "" => return Err(TimeError::NoOffset),
        "Z" | "z" => 0,
        _ => parse_offset(offset)?,
    };
    // Normalise the local part to `HH:MM:SS[.fraction]` and let the payload crate do the
    // calendar arithmetic, so there is one implementation of it.
    let clock = match local.len() {
        5 => format!("{local}:00"),
        n if n >= 8 => local.to_owned(),
        _ => return Err(TimeError::Shape),
    };
    let utc = format!("{}T{clock}Z", &text[..10]);
    let local_instant = Timestamp::parse(&utc).map_err(|e| match e {
        TimestampError::Field(f) => TimeError::Field(f),
        TimestampError::Shape | TimestampError::NotUtc => TimeError::Shape,
    })?;
    Ok(local_instant.add_nanos(-offset_secs * 1_000_000_000))
}

/// A time zone for times written without an offset (and for dates).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zone {
    /// UTC.
    Utc,
    /// Europe/Paris: +01:00 in winter, +02:00 from the last Sunday of March to the last Sunday
    /// of October (01:00 UTC both), the EU rule in force since 1996, applied to every year.
    Paris,
}

impl Zone {
    /// The UTC instant of a local wall-clock time in this zone, given as if it were UTC.
    ///
    /// Design: the hour that does not exist (March, 02:00–03:00) is read as summer time and
    /// the hour that happens twice (October, 02:00–03:00) as the later, winter one; a file that
    /// needs those hours exactly writes offsets. Before 1996 French summer time followed other
    /// dates (none at all from 1946 to 1975): an old local time may then be an hour off, which
    /// daily values do not notice.
    pub(crate) fn to_utc(self, local: Timestamp) -> Timestamp {
        const HOUR_NANOS: i64 = 3_600_000_000_000;
        match self {
            Zone::Utc => local,
            Zone::Paris => {
                let winter = local.add_nanos(-HOUR_NANOS);
                if paris_summer_time(winter) {
                    local.add_nanos(-2 * HOUR_NANOS)
                } else {
                    winter
                }
            }
        }
    }
}

/// Parses a time in `zone`: ISO 8601 with an offset (the offset wins), or without one (the
/// zone's wall-clock time), or a bare date `YYYY-MM-DD` (the zone's midnight starting that day).
pub(crate) fn parse_in_zone(text: &str, zone: Zone) -> Result<Timestamp, TimeError> {
    let text = text.trim();
    if text.len() == 10 {
        let midnight = parse_utc(&format!("{text}T00:00:00"), Naive::IsUtc)?;
        return Ok(zone.to_utc(midnight));
    }
    match parse_utc(text, Naive::Refuse) {
        Err(TimeError::NoOffset) => Ok(zone.to_utc(parse_utc(text, Naive::IsUtc)?)),
        other => other,
    }
}

/// Whether a UTC instant falls in Paris summer time (EU rule).
fn paris_summer_time(instant: Timestamp) -> bool {
    // Design: the calendar arithmetic is the payload's (`Timestamp` parses and prints dates);
    // only the weekday is computed here.
    let year = &instant.to_string()[..4];
    let switch = |month: &str| {
        // 01:00 UTC on the 31st, then back to the Sunday: 1970-01-01 was a Thursday, so the
        // weekday (0 = Sunday) of day count d is (d + 4) mod 7.
        Timestamp::parse(&format!("{year}-{month}-31T01:00:00Z")).map_or(0, |t| {
            let secs = t.unix_secs();
            secs - (secs.div_euclid(86_400) + 4).rem_euclid(7) * 86_400
        })
    };
    (switch("03")..switch("10")).contains(&instant.unix_secs())
}

/// Seconds east of UTC of `±HH:MM`, `±HHMM` or `±HH`.
fn parse_offset(offset: &str) -> Result<i64, TimeError> {
    let (sign, rest) = match offset.as_bytes().first() {
        Some(b'+') => (1, &offset[1..]),
        Some(b'-') => (-1, &offset[1..]),
        _ => return Err(TimeError::Offset),
    };
    let (hh, mm) = match rest.len() {
        2 => (rest, "00"),
        4 => (&rest[..2], &rest[2..]),
        5 if rest.as_bytes()[2] == b':' => (&rest[..2], &rest[3..]),
        _ => return Err(TimeError::Offset),
    };
    let all_digits = hh.bytes().chain(mm.bytes()).all(|c| c.is_ascii_digit());
    if !all_digits {
        return Err(TimeError::Offset);
    }
    let (hours, minutes): (i64, i64) = (
        hh.parse().map_err(|_| TimeError::Offset)?,
        mm.parse().map_err(|_| TimeError::Offset)?,
    );
    if hours > 18 || minutes > 59 {
        return Err(TimeError::Offset);
    }
    Ok(sign * (hours * 3600 + minutes * 60))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> Timestamp {
        Timestamp::parse(text).expect("valid UTC")
    }

    #[test]
    fn converts_offsets_to_utc() {
        let cases = [
            ("2025-11-24T11:15:00+01:00", "2025-11-24T10:15:00Z"),
            ("2025-07-01T02:00:00+02:00", "2025-07-01T00:00:00Z"),
            ("2025-01-01T00:30:00+01:00", "2024-12-31T23:30:00Z"),
            ("2025-11-24T10:15:00+00:00", "2025-11-24T10:15:00Z"),
            ("2025-11-24T10:15:00Z", "2025-11-24T10:15:00Z"),
            ("2025-11-24 10:15:00+0100", "2025-11-24T09:15:00Z"),
            ("2025-11-24T10:15+01", "2025-11-24T09:15:00Z"),
            ("2025-11-24T10:15:00.250-03:30", "2025-11-24T13:45:00.250Z"),
            (" 2025-11-24T10:15:00+00:00 ", "2025-11-24T10:15:00Z"),
        ];
        for (text, want) in cases {
            assert_eq!(parse_utc(text, Naive::Refuse), Ok(utc(want)), "{text}");
        }
    }

    #[test]
    fn naive_times_are_utc_only_where_the_column_says_so() {
        assert_eq!(
            parse_utc("2025-11-24T10:15:00", Naive::IsUtc),
            Ok(utc("2025-11-24T10:15:00Z"))
        );
        assert_eq!(
            parse_utc("2025-11-24T10:15:00", Naive::Refuse),
            Err(TimeError::NoOffset)
        );
    }

    #[test]
    fn refuses_what_is_not_a_time() {
        let cases = [
            ("", TimeError::Shape),
            ("2025-11-24", TimeError::Shape),
            ("24/11/2025 10:15", TimeError::Shape),
            ("2025-11-24T10:15:00+1:00", TimeError::Offset),
            ("2025-11-24T10:15:00+25:00", TimeError::Offset),
            ("2025-11-24T10:15:00+ab:00", TimeError::Offset),
            ("2025-13-24T10:15:00+01:00", TimeError::Field("month")),
            ("2025-11-24T10:1:00+01:00", TimeError::Shape),
            ("2025-11-24T1O:15:00+01:00", TimeError::Shape),
        ];
        for (text, want) in cases {
            assert_eq!(parse_utc(text, Naive::Refuse), Err(want), "{text}");
        }
    }

    #[test]
    fn paris_local_times_follow_summer_time() {
        let cases = [
            ("2025-11-24T11:15:00", "2025-11-24T10:15:00Z"),
            ("2025-06-24T10:40:30", "2025-06-24T08:40:30Z"),
            ("2025-06-24", "2025-06-23T22:00:00Z"),
            ("2023-01-01", "2022-12-31T23:00:00Z"),
            // The last Sunday of March 2025 is the 30th, of October the 26th.
            ("2025-03-30T01:59:00", "2025-03-30T00:59:00Z"),
            ("2025-03-30T03:00:00", "2025-03-30T01:00:00Z"),
            ("2025-10-26T01:30:00", "2025-10-25T23:30:00Z"),
            ("2025-10-26T03:00:00", "2025-10-26T02:00:00Z"),
            ("2025-11-24T11:15:00+00:00", "2025-11-24T11:15:00Z"),
        ];
        for (text, want) in cases {
            assert_eq!(parse_in_zone(text, Zone::Paris), Ok(utc(want)), "{text}");
        }
        assert_eq!(
            parse_in_zone("2025-06-24", Zone::Utc),
            Ok(utc("2025-06-24T00:00:00Z"))
        );
    }
}

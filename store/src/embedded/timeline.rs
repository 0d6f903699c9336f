//! A sensor's samples counted per interval ([`crate::sessions::Timeline`]), for sessions.
//!
//! Design: every interval comes with its first and last sample's time, so sessions need no
//! other query. Raw values: for each hour of the range and each quantity of the sensor in it
//! (a loose index scan), a seek finds the next value, then one statement counts the values of
//! its interval with their first and last time, in SQLite's own loop; the next seek starts at
//! the interval's end. Empty stretches cost one seek, a dense interval one count (about 6,000
//! values for a 100 Hz channel and the default 15 s interval). `reading_recent` (a few
//! thousand rows) is read over the range. Rolled-up hours are read from their records of times
//! (`times.rs`), exact too; an hour rolled up by a Garonne of schema 1, which kept no record,
//! counts as one interval spanning the whole hour.

use std::collections::{BTreeMap, HashMap};

use rusqlite::{OptionalExtension, Transaction, params};

use super::reader::Failure;
use super::sql::{self, HOUR_NS};
use super::times;
use crate::sessions::{Counted, SessionQuery};

/// The sensor's non-empty intervals of `query` (already checked), oldest first.
pub(super) fn counts(tx: &Transaction<'_>, query: &SessionQuery) -> Result<Vec<Counted>, Failure> {
    let Some(sensor) = tx
        .prepare_cached("SELECT id FROM sensor WHERE name = ?1")?
        .query_row([&query.sensor], |r| r.get::<_, i64>(0))
        .optional()?
    else {
        return Ok(Vec::new());
    };
    let (from, to) = query.range_ns();
    let width = query.interval_ns();
    let mut timeline = Intervals {
        width,
        intervals: BTreeMap::new(),
        names: HashMap::new(),
    };
    let recent_from: i64 = tx.query_row(
        "SELECT coalesce(min(time_ns), 9223372036854775807) FROM reading_recent",
        [],
        |r| r.get(0),
    )?;
    let raw_before = sql::raw_before(tx)?;
    let bounds: [Option<i64>; 2] = tx.query_row(
        "SELECT min(h), max(h) FROM (SELECT min(hour) AS h FROM reading \
         UNION ALL SELECT max(hour) FROM reading \
         UNION ALL SELECT min(hour) FROM reading_hourly UNION ALL SELECT max(hour) FROM reading_hourly)",
        [],
        |r| Ok([r.get(0)?, r.get(1)?]),
    )?;
    if let [Some(oldest), Some(newest)] = bounds {
        let first = from.div_euclid(HOUR_NS).max(oldest);
        let last = (to - 1).div_euclid(HOUR_NS).min(newest);
        for hour in first..=last {
            let lo = from.max(hour * HOUR_NS);
            let hi = to.min((hour + 1) * HOUR_NS);
            raw_hour(tx, &mut timeline, (hour, sensor), (lo, hi), recent_from)?;
            if hour * HOUR_NS < raw_before {
                rolled_hour(tx, &mut timeline, (hour, sensor), (lo, hi))?;
            }
        }
    }
    let mut recent = tx.prepare_cached(
        "SELECT time_ns, quantity FROM reading_recent \
         WHERE time_ns >= ?1 AND time_ns < ?2 AND sensor = ?3",
    )?;
    let mut rows = recent.query(params![from, to, sensor])?;
    while let Some(row) = rows.next()? {
        let t: i64 = row.get(0)?;
        timeline.add(tx, row.get(1)?, 1, t, t)?;
    }
    Ok(timeline.intervals.into_values().collect())
}

/// The intervals being counted.
struct Intervals {
    width: i64,
    intervals: BTreeMap<i64, Counted>,
    names: HashMap<i64, String>,
}

impl Intervals {
    /// Counts `count` values of `quantity` from `first` to `last` (one interval).
    fn add(
        &mut self,
        tx: &Transaction<'_>,
        quantity: i64,
        count: u64,
        first: i64,
        last: i64,
    ) -> Result<(), Failure> {
        let start = first.div_euclid(self.width) * self.width;
        let name = match self.names.get(&quantity) {
            Some(name) => name.clone(),
            None => {
                let name: String = tx
                    .prepare_cached("SELECT name FROM quantity WHERE id = ?1")?
                    .query_row([quantity], |r| r.get(0))?;
                self.names.insert(quantity, name.clone());
                name
            }
        };
        let interval = self.intervals.entry(start).or_insert_with(|| Counted {
            start_ns: start,
            ..Counted::default()
        });
        interval.merge(count, Some(first), Some(last));
        interval.quantities.insert(name);
        Ok(())
    }
}

/// Counts the raw values of `(hour, sensor)` in `[lo, hi)`, quantity by quantity, interval by
/// interval; a value also in `reading_recent` (times from `recent_from`) is counted there.
fn raw_hour(
    tx: &Transaction<'_>,
    timeline: &mut Intervals,
    (hour, sensor): (i64, i64),
    (lo, hi): (i64, i64),
    recent_from: i64,
) -> Result<(), Failure> {
    let mut quantities = Vec::new();
    {
        let mut next = tx.prepare_cached(
            "SELECT quantity FROM reading WHERE hour = ?1 AND sensor = ?2 AND quantity > ?3 \
             ORDER BY quantity LIMIT 1",
        )?;
        let mut at = i64::MIN;
        while let Some(q) = next
            .query_row(params![hour, sensor, at], |r| r.get::<_, i64>(0))
            .optional()?
        {
            quantities.push(q);
            at = q;
        }
    }
    let mut seek = tx.prepare_cached(
        "SELECT time_ns FROM reading WHERE hour = ?1 AND sensor = ?2 AND quantity = ?3 \
         AND time_ns >= ?4 AND time_ns < ?5 ORDER BY time_ns LIMIT 1",
    )?;
    let mut count = tx.prepare_cached(
        "SELECT count(*), min(time_ns), max(time_ns) FROM reading AS r \
         WHERE hour = ?1 AND sensor = ?2 AND quantity = ?3 AND time_ns >= ?4 AND time_ns < ?5 \
         AND (time_ns < ?6 OR NOT EXISTS (SELECT 1 FROM reading_recent AS x \
             WHERE x.time_ns = r.time_ns AND x.sensor = r.sensor AND x.quantity = r.quantity))",
    )?;
    for quantity in quantities {
        let mut t = lo;
        while let Some(next) = seek
            .query_row(params![hour, sensor, quantity, t, hi], |r| {
                r.get::<_, i64>(0)
            })
            .optional()?
        {
            let end = (next.div_euclid(timeline.width) + 1)
                .saturating_mul(timeline.width)
                .min(hi);
            let (n, first, last): (i64, Option<i64>, Option<i64>) = count.query_row(
                params![hour, sensor, quantity, next, end, recent_from],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )?;
            if let (Some(first), Some(last)) = (first, last) {
                timeline.add(tx, quantity, n.max(0) as u64, first, last)?;
            }
            t = end;
        }
    }
    Ok(())
}

/// Counts the rolled-up values of `(hour, sensor)` in `[lo, hi)` from their records of times.
fn rolled_hour(
    tx: &Transaction<'_>,
    timeline: &mut Intervals,
    (hour, sensor): (i64, i64),
    (lo, hi): (i64, i64),
) -> Result<(), Failure> {
    let mut rows = tx.prepare_cached(
        "SELECT h.quantity, h.count, t.times FROM reading_hourly AS h \
         LEFT JOIN reading_hourly_times AS t \
             ON t.hour = h.hour AND t.sensor = h.sensor AND t.quantity = h.quantity \
         WHERE h.hour = ?1 AND h.sensor = ?2",
    )?;
    let rolled: Vec<(i64, i64, Option<Vec<u8>>)> = rows
        .query_map(params![hour, sensor], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?
        .collect::<Result<_, _>>()?;
    let start = hour * HOUR_NS;
    for (quantity, count, record) in rolled {
        let offsets = record.as_deref().and_then(times::decode);
        match offsets {
            Some(offsets) if offsets.len() as i64 == count => {
                for offset in offsets {
                    let t = start + offset;
                    if (lo..hi).contains(&t) {
                        timeline.add(tx, quantity, 1, t, t)?;
                    }
                }
            }
            // No record (schema 1): the hour as one span, if it starts in the range.
            _ if (lo..hi).contains(&start) => {
                timeline.add(tx, quantity, count.max(0) as u64, start, hi - 1)?;
            }
            _ => {}
        }
    }
    Ok(())
}

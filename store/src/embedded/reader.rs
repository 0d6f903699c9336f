//! History queries in SQL, on read-only connections.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use garonne_payload::Timestamp;
use garonne_payload::report::Chain;
use rusqlite::{Connection, params};

use super::sql::{self, HOUR_NS};
use super::{OpenError, clamp_ns};
use crate::history::{Bucket, HistoryError, Query, Subject};

/// Idle connections kept for the next queries; more are opened while queries overlap.
const IDLE: usize = 4;

/// A sensor's buckets: its raw values in `reading_recent` and `reading`, and its hourly rows.
/// `?1` interval, `?2` from, `?3` to (ns), `?4` sensor id, `?5` quantity id, `?6` the oldest
/// time in `reading_recent`, `?7`..=`?8` the hours to look up, `?9`..`?10` the hours whose
/// hourly rows count (those that start in the range).
///
/// Design: a value written again after its move to `reading` is in both raw tables until the
/// next move; the `NOT EXISTS` keeps the newer copy, looked up only for times that
/// `reading_recent` covers. `x - ((x % e) + e) % e` is the floor to a multiple of `e`, also
/// before 1970 (SQLite's `%` truncates).
///
/// Performance: `reading` and `reading_hourly` are keyed by hour first, so the list of hours
/// turns the query into one seek and a short range scan per hour; `reading_recent` (at most
/// [`super::COMPACT_ROWS`] rows) is scanned over the range's times.
const SENSOR: &str = "
WITH RECURSIVE hours(h) AS (SELECT ?7 UNION ALL SELECT h + 1 FROM hours WHERE h < ?8)
SELECT bucket, sum(n), sum(total), min(lo), max(hi) FROM (
    SELECT time_ns - ((time_ns % ?1) + ?1) % ?1 AS bucket,
        count(*) AS n, sum(value) AS total, min(value) AS lo, max(value) AS hi
    FROM reading_recent
    WHERE time_ns >= ?2 AND time_ns < ?3 AND sensor = ?4 AND quantity = ?5
    GROUP BY bucket
  UNION ALL
    SELECT time_ns - ((time_ns % ?1) + ?1) % ?1 AS bucket,
        count(*), sum(value), min(value), max(value)
    FROM reading AS r
    WHERE hour IN (SELECT h FROM hours) AND sensor = ?4 AND quantity = ?5
        AND time_ns >= ?2 AND time_ns < ?3
        AND (time_ns < ?6 OR NOT EXISTS (SELECT 1 FROM reading_recent AS x
            WHERE x.time_ns = r.time_ns AND x.sensor = r.sensor AND x.quantity = r.quantity))
    GROUP BY bucket
  UNION ALL
    SELECT hour * 3600000000000 - ((hour * 3600000000000 % ?1) + ?1) % ?1 AS bucket,
        sum(count), sum(sum), min(min), max(max)
    FROM reading_hourly
    WHERE hour IN (SELECT h FROM hours) AND sensor = ?4 AND quantity = ?5
        AND hour >= ?9 AND hour < ?10
    GROUP BY bucket
)
GROUP BY bucket ORDER BY bucket";

/// A neighbourhood's buckets from its aggregates: mean of values (of means, for a bucket of
/// windows stored before values were), min of mins, max of maxes, sum of readings. `?1` interval, `?2` from, `?3` to, `?4` neighbourhood, `?5` quantity name.
///
/// Performance: a range scan of the primary key (neighbourhood, quantity, window start).
const NEIGHBOURHOOD: &str = "
SELECT start_ns - ((start_ns % ?1) + ?1) % ?1 AS bucket,
    coalesce(avg(value), avg(mean)), min(min), max(max), sum(readings)
FROM aggregate
WHERE neighbourhood = ?4 AND quantity = ?5 AND start_ns >= ?2 AND start_ns < ?3
GROUP BY bucket ORDER BY bucket";

/// The reader: a file and a pool of read-only connections to it.
#[derive(Debug)]
pub(super) struct Reader {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl Reader {
    /// Opens a first connection, checking the file.
    pub(super) fn open(path: PathBuf) -> Result<Reader, OpenError> {
        let conn = sql::open_reader(&path, true)?;
        Ok(Reader {
            path,
            idle: Mutex::new(vec![conn]),
        })
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// Answers `query` (already checked), blocking.
    pub(super) fn query(&self, query: &Query) -> Result<Vec<Bucket>, HistoryError> {
        self.with_connection(|conn| answer(conn, query))
    }

    /// Runs `read` on an idle connection (or a new one), blocking, and gives the connection
    /// back to the pool.
    pub(super) fn with_connection<T>(
        &self,
        read: impl FnOnce(&mut Connection) -> Result<T, Failure>,
    ) -> Result<T, HistoryError> {
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let mut conn = match idle {
            Some(conn) => conn,
            None => sql::open_reader(&self.path, false)
                .map_err(|e| HistoryError::Unavailable(Chain(&e).to_string()))?,
        };
        let answer = read(&mut conn).map_err(|e| match e {
            Failure::Invalid(message) => HistoryError::Invalid(message),
            Failure::Sqlite(e) => {
                HistoryError::Unavailable(format!("embedded store {}: {e}", self.path.display()))
            }
        });
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < IDLE {
            idle.push(conn);
        }
        answer
    }
}

/// Why a read failed: the request, or SQLite.
pub(super) enum Failure {
    /// The request cannot be answered as asked: the message says what to change.
    Invalid(String),
    /// SQLite failed.
    Sqlite(rusqlite::Error),
}

impl From<rusqlite::Error> for Failure {
    fn from(e: rusqlite::Error) -> Failure {
        Failure::Sqlite(e)
    }
}

fn answer(conn: &mut Connection, query: &Query) -> Result<Vec<Bucket>, Failure> {
    let every = i64::from(query.every_secs) * 1_000_000_000;
    let from = clamp_ns(query.from.unix_nanos());
    let to = clamp_ns(query.to.unix_nanos());
    let quantity = query.quantity.name();
    // One read transaction: every statement sees the same committed batches.
    let tx = conn.transaction()?;
    let mut buckets = Vec::new();
    match &query.subject {
        Subject::Sensor(sensor) => {
            let raw_before = sql::raw_before(&tx)?;
            if from < raw_before && every % HOUR_NS != 0 {
                let hours = query.every_secs.div_ceil(3600).saturating_mul(3600);
                return Err(Failure::Invalid(format!(
                    "readings before {} are kept as hourly rows only (raw retention): ask for \
                     every_secs a multiple of 3600 (e.g. {hours}), or from {} on",
                    time(raw_before),
                    time(raw_before),
                )));
            }
            let (sensor, quantity): (Option<i64>, Option<i64>) = tx.query_row(
                "SELECT (SELECT id FROM sensor WHERE name = ?1), \
                 (SELECT id FROM quantity WHERE name = ?2)",
                params![sensor, quantity],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            let (Some(sensor), Some(quantity)) = (sensor, quantity) else {
                return Ok(buckets);
            };
            let recent_from: i64 = tx.query_row(
                "SELECT coalesce(min(time_ns), 9223372036854775807) FROM reading_recent",
                [],
                |r| r.get(0),
            )?;
            // The hours of the range that hold rows: no lookups before or after the data.
            let bounds: [Option<i64>; 4] = tx.query_row(
                "SELECT (SELECT min(hour) FROM reading), (SELECT max(hour) FROM reading), \
                 (SELECT min(hour) FROM reading_hourly), (SELECT max(hour) FROM reading_hourly)",
                [],
                |r| Ok([r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?]),
            )?;
            let oldest = bounds[0].into_iter().chain(bounds[2]).min();
            let newest = bounds[1].into_iter().chain(bounds[3]).max();
            let first = from.div_euclid(HOUR_NS).max(oldest.unwrap_or(i64::MAX));
            let last = (to - 1).div_euclid(HOUR_NS).min(newest.unwrap_or(i64::MIN));
            // Hourly rows count when their hour starts in [from, to).
            let (counted_from, counted_to) = (ceil_hour(from), ceil_hour(to));
            let mut statement = tx.prepare_cached(SENSOR)?;
            let mut rows = statement.query(params![
                every,
                from,
                to,
                sensor,
                quantity,
                recent_from,
                first,
                last,
                counted_from,
                counted_to
            ])?;
            while let Some(row) = rows.next()? {
                let count: i64 = row.get(1)?;
                let total: f64 = row.get(2)?;
                buckets.push(Bucket {
                    start: time(row.get(0)?),
                    mean: total / count as f64,
                    min: row.get(3)?,
                    max: row.get(4)?,
                    count: count.max(0) as u64,
                });
            }
        }
        Subject::Neighbourhood(neighbourhood) => {
            let mut statement = tx.prepare_cached(NEIGHBOURHOOD)?;
            let mut rows = statement.query(params![every, from, to, neighbourhood, quantity])?;
            while let Some(row) = rows.next()? {
                let values: (Option<f64>, Option<f64>, Option<f64>) =
                    (row.get(1)?, row.get(2)?, row.get(3)?);
                // Only windows without statistics (never written by realtime): no bucket.
                let (Some(mean), Some(min), Some(max)) = values else {
                    continue;
                };
                let count: Option<i64> = row.get(4)?;
                buckets.push(Bucket {
                    start: time(row.get(0)?),
                    mean,
                    min,
                    max,
                    count: count.unwrap_or(0).max(0) as u64,
                });
            }
        }
    }
    Ok(buckets)
}

/// The number of the first hour that starts at or after `ns`.
fn ceil_hour(ns: i64) -> i64 {
    let hour = ns.div_euclid(HOUR_NS);
    if ns.rem_euclid(HOUR_NS) == 0 {
        hour
    } else {
        hour + 1
    }
}

fn time(ns: i64) -> Timestamp {
    Timestamp::UNIX_EPOCH.add_nanos(ns)
}

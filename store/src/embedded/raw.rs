//! Raw readings, page by page ([`crate::readings`]), from `reading` and `reading_recent`.
//!
//! Design: `reading` is keyed by hour, then sensor and quantity, then time, so a time-ordered
//! scan of many series cannot be one `ORDER BY time_ns` (SQLite would sort a whole hour: 72
//! million values for a car of 200 channels at 100 Hz). A page is read instead as consecutive
//! slices of time, each within one hour: for every series (sensor, quantity) of that hour, one
//! seek and a short range scan of the slice, then the slice's few thousand values are sorted in
//! memory. The slices' length adapts to the density met (a first slice of 100 ms, then as long as
//! the values left to fill the page need), so a page costs about one seek per series and slice
//! whatever the rate, and memory stays at the page. The series of an hour are found by a loose
//! index scan (one seek per series, never a scan of the values); hours and recent rows without
//! data are jumped over by seeks. `reading_recent` (a few thousand rows at most) is read over the
//! slice's times; a value in both tables (written again after its move) is given once, from
//! `reading_recent`, as history counts it.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use rusqlite::{OptionalExtension, Transaction, params};

use super::reader::Failure;
use super::sql::HOUR_NS;
use crate::readings::{Cursor, Page, Sample, Scan, sort};

/// The first slice of a page: 100 ms. The next ones adapt to the density met (a first slice of
/// 1 s read a car's 200 channels at 100 Hz twice over: 20,000 values for a page of 10,000).
const FIRST_SLICE_NS: i64 = 100_000_000;

/// The shortest slice: 1 µs (many series at one instant).
const SHORTEST_SLICE_NS: i64 = 1_000;

/// At most `limit` samples of `scan` after `after`, in scan order (already checked).
pub(super) fn page(
    tx: &Transaction<'_>,
    scan: &Scan,
    after: Option<&Cursor>,
    limit: usize,
) -> Result<Page, Failure> {
    let (from, to) = scan.range_ns();
    let Some(mut names) = Names::resolve(tx, scan)? else {
        return Ok(Page::default());
    };
    let mut t0 = after.map_or(from, |c| c.time_ns.max(from));
    let mut width = FIRST_SLICE_NS;
    let mut series: Option<(i64, Vec<(i64, i64)>)> = None;
    let mut out: Vec<Sample> = Vec::new();
    while t0 < to {
        let Some(next) = next_data(tx, t0)? else {
            break;
        };
        t0 = next;
        if t0 >= to {
            break;
        }
        let hour = t0.div_euclid(HOUR_NS);
        let t1 = to
            .min((hour + 1).saturating_mul(HOUR_NS))
            .min(t0.saturating_add(width));
        if series.as_ref().is_none_or(|(h, _)| *h != hour) {
            series = Some((hour, hour_series(tx, hour, &names)?));
        }
        let pairs = series.as_ref().map_or(&[][..], |(_, p)| &p[..]);
        let mut slice = read_slice(tx, hour, pairs, t0, t1, &mut names)?;
        if let Some(after) = after {
            slice.retain(|s| s.is_after(after));
        }
        sort(&mut slice);
        let read = slice.len();
        out.append(&mut slice);
        if out.len() >= limit {
            out.truncate(limit);
            let next = out.last().map(Sample::cursor);
            return Ok(Page { samples: out, next });
        }
        let wanted = i128::try_from(limit - out.len()).unwrap_or(i128::MAX);
        width = if read == 0 {
            width.saturating_mul(4)
        } else {
            i64::try_from(i128::from(width) * wanted / read as i128).unwrap_or(HOUR_NS)
        }
        .clamp(SHORTEST_SLICE_NS, HOUR_NS);
        t0 = t1;
    }
    Ok(Page {
        samples: out,
        next: None,
    })
}

/// The interned ids a scan asks for, and the names of the ids met.
struct Names {
    /// The sensors asked (`None`: all).
    sensors: Option<HashSet<i64>>,
    /// The quantities asked (`None`: all).
    quantities: Option<HashSet<i64>>,
    sensor_names: HashMap<i64, Arc<str>>,
    quantity_names: HashMap<i64, Arc<str>>,
}

impl Names {
    /// The ids of the scan's names; `None` when it names sensors or quantities none of which
    /// the store has seen (nothing to read).
    fn resolve(tx: &Transaction<'_>, scan: &Scan) -> Result<Option<Names>, Failure> {
        let mut sensor_names = HashMap::new();
        let mut quantity_names = HashMap::new();
        let sensors = ids(tx, "sensor", &scan.sensors, &mut sensor_names)?;
        let quantities = ids(tx, "quantity", &scan.quantities, &mut quantity_names)?;
        if sensors.as_ref().is_some_and(HashSet::is_empty)
            || quantities.as_ref().is_some_and(HashSet::is_empty)
        {
            return Ok(None);
        }
        Ok(Some(Names {
            sensors,
            quantities,
            sensor_names,
            quantity_names,
        }))
    }

    /// Whether the scan asks for this series.
    fn wants(&self, sensor: i64, quantity: i64) -> bool {
        self.sensors.as_ref().is_none_or(|s| s.contains(&sensor))
            && self
                .quantities
                .as_ref()
                .is_none_or(|q| q.contains(&quantity))
    }

    /// The names of a series.
    fn of(
        &mut self,
        tx: &Transaction<'_>,
        sensor: i64,
        quantity: i64,
    ) -> Result<(Arc<str>, Arc<str>), Failure> {
        let sensor = name(tx, &mut self.sensor_names, "sensor", sensor)?;
        let quantity = name(tx, &mut self.quantity_names, "quantity", quantity)?;
        Ok((sensor, quantity))
    }
}

/// The ids of `wanted` in `table` (`sensor` or `quantity`), their names noted in `known`;
/// `None` when nothing is named (all are wanted), empty when none is known.
fn ids(
    tx: &Transaction<'_>,
    table: &str,
    wanted: &[String],
    known: &mut HashMap<i64, Arc<str>>,
) -> Result<Option<HashSet<i64>>, Failure> {
    if wanted.is_empty() {
        return Ok(None);
    }
    let mut statement = tx.prepare_cached(&format!("SELECT id FROM {table} WHERE name = ?1"))?;
    let mut ids = HashSet::new();
    for name in wanted {
        if let Some(id) = statement.query_row([name], |r| r.get(0)).optional()? {
            ids.insert(id);
            known.insert(id, name.as_str().into());
        }
    }
    Ok(Some(ids))
}

/// The name of `id` in `table` (`sensor` or `quantity`), looked up once.
fn name(
    tx: &Transaction<'_>,
    known: &mut HashMap<i64, Arc<str>>,
    table: &str,
    id: i64,
) -> Result<Arc<str>, Failure> {
    if let Some(name) = known.get(&id) {
        return Ok(name.clone());
    }
    let name: String = tx
        .prepare_cached(&format!("SELECT name FROM {table} WHERE id = ?1"))?
        .query_row([id], |r| r.get(0))?;
    let name: Arc<str> = name.into();
    known.insert(id, name.clone());
    Ok(name)
}

/// The first time at or after `t0` where a value may be: `t0` itself if its hour has rows in
/// `reading`, else the start of the next hour that has, or the next time in `reading_recent`,
/// whichever comes first; `None` if neither has anything at or after `t0`.
fn next_data(tx: &Transaction<'_>, t0: i64) -> Result<Option<i64>, Failure> {
    let hour = t0.div_euclid(HOUR_NS);
    let stored: Option<i64> = tx
        .prepare_cached("SELECT hour FROM reading WHERE hour >= ?1 ORDER BY hour LIMIT 1")?
        .query_row([hour], |r| r.get(0))
        .optional()?;
    let stored = stored.map(|h| {
        if h == hour {
            t0
        } else {
            h.saturating_mul(HOUR_NS)
        }
    });
    let recent: Option<i64> = tx
        .prepare_cached(
            "SELECT time_ns FROM reading_recent WHERE time_ns >= ?1 ORDER BY time_ns LIMIT 1",
        )?
        .query_row([t0], |r| r.get(0))
        .optional()?;
    Ok(stored.into_iter().chain(recent).min())
}

/// The series (sensor, quantity) of `hour` in `reading` that the scan asks for, by a loose
/// index scan: one seek per series.
fn hour_series(tx: &Transaction<'_>, hour: i64, names: &Names) -> Result<Vec<(i64, i64)>, Failure> {
    let mut out = Vec::new();
    match &names.sensors {
        Some(sensors) => {
            let mut next = tx.prepare_cached(
                "SELECT quantity FROM reading WHERE hour = ?1 AND sensor = ?2 AND quantity > ?3 \
                 ORDER BY quantity LIMIT 1",
            )?;
            for &sensor in sensors {
                let mut quantity = i64::MIN;
                while let Some(q) = next
                    .query_row(params![hour, sensor, quantity], |r| r.get::<_, i64>(0))
                    .optional()?
                {
                    quantity = q;
                    if names.wants(sensor, q) {
                        out.push((sensor, q));
                    }
                }
            }
        }
        None => {
            let mut next = tx.prepare_cached(
                "SELECT sensor, quantity FROM reading WHERE hour = ?1 \
                 AND (sensor, quantity) > (?2, ?3) ORDER BY sensor, quantity LIMIT 1",
            )?;
            let mut at = (i64::MIN, i64::MIN);
            while let Some(pair) = next
                .query_row(params![hour, at.0, at.1], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
                })
                .optional()?
            {
                at = pair;
                if names.wants(pair.0, pair.1) {
                    out.push(pair);
                }
            }
        }
    }
    Ok(out)
}

/// The samples of `[t0, t1)` (within `hour`) of the scan's series, unsorted: `reading_recent`'s
/// over those times, and `reading`'s of `pairs` that `reading_recent` does not hold again.
fn read_slice(
    tx: &Transaction<'_>,
    hour: i64,
    pairs: &[(i64, i64)],
    t0: i64,
    t1: i64,
    names: &mut Names,
) -> Result<Vec<Sample>, Failure> {
    let mut out = Vec::new();
    let mut recent_keys = HashSet::new();
    {
        let mut recent = tx.prepare_cached(
            "SELECT time_ns, sensor, quantity, value FROM reading_recent \
             WHERE time_ns >= ?1 AND time_ns < ?2",
        )?;
        let mut rows = recent.query(params![t0, t1])?;
        while let Some(row) = rows.next()? {
            let (time_ns, sensor, quantity): (i64, i64, i64) =
                (row.get(0)?, row.get(1)?, row.get(2)?);
            if !names.wants(sensor, quantity) {
                continue;
            }
            recent_keys.insert((time_ns, sensor, quantity));
            let (sensor_name, quantity_name) = names.of(tx, sensor, quantity)?;
            out.push(Sample {
                time_ns,
                sensor: sensor_name,
                quantity: quantity_name,
                value: row.get(3)?,
            });
        }
    }
    let mut stored = tx.prepare_cached(
        "SELECT time_ns, value FROM reading WHERE hour = ?1 AND sensor = ?2 AND quantity = ?3 \
         AND time_ns >= ?4 AND time_ns < ?5",
    )?;
    for &(sensor, quantity) in pairs {
        let (sensor_name, quantity_name) = names.of(tx, sensor, quantity)?;
        let mut rows = stored.query(params![hour, sensor, quantity, t0, t1])?;
        while let Some(row) = rows.next()? {
            let time_ns: i64 = row.get(0)?;
            if !recent_keys.is_empty() && recent_keys.contains(&(time_ns, sensor, quantity)) {
                continue;
            }
            out.push(Sample {
                time_ns,
                sensor: sensor_name.clone(),
                quantity: quantity_name.clone(),
                value: row.get(1)?,
            });
        }
    }
    Ok(out)
}

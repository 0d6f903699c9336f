//! The writer's thread: points into rows, batch by batch, and the maintenance (compaction,
//! roll-up, retention).

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::Receiver;

use rusqlite::types::Value;
use rusqlite::{Connection, Transaction, params};
use tokio::sync::oneshot;
use tracing::warn;

use super::sql::{self, HOUR_NS, floor_hour, raw_before};
use super::times;
use super::{Maintenance, OpenError, Retention};
use crate::point::{Field, Point};
use crate::store::StoreError;

/// Rows of `reading_recent` (one per value) that trigger a move to `reading` after a write.
///
/// Performance: each move writes the current hour's pages of `reading` once, so larger is
/// faster to write (the `embedded` bench, 10,000 sensors: about 110,000 points/s at 100,000
/// rows, 130,000 at 300,000, 160,000 at 1,000,000), but a history query whose range covers the
/// recent rows scans them all (11 ms for 285,000). Under a fleet's usual rate, maintenance
/// moves the rows long before this.
pub const COMPACT_ROWS: u64 = 300_000;

/// A request to the writer's thread.
pub(super) enum Command {
    Write(Vec<Point>, oneshot::Sender<Result<(), StoreError>>),
    Maintain(i64, oneshot::Sender<Result<Maintenance, StoreError>>),
    Close(oneshot::Sender<Result<(), StoreError>>),
}

/// A sensor as the writer last stored it.
#[derive(Default)]
struct Sensor {
    id: i64,
    kind: Option<String>,
    source: Option<String>,
    lat: Option<f64>,
    lon: Option<f64>,
    located_ns: Option<i64>,
}

/// The interned ids, loaded at start and after a failed write (whose new ids were rolled back).
#[derive(Default)]
struct Ids {
    valid: bool,
    sensors: HashMap<String, Sensor>,
    quantities: HashMap<String, i64>,
}

/// The writer: owns the connection, on its own thread.
pub(super) struct Writer {
    conn: Connection,
    path: PathBuf,
    raw_ns: i64,
    hourly_ns: i64,
    ids: Ids,
    /// Rows in `reading_recent` (an upper bound: rewrites count again).
    staged: u64,
    /// Raw readings before this time are kept as hourly rows (`meta.raw_before_ns`).
    raw_before: i64,
    /// Values not written since the last maintenance because their hour's row counts them.
    skipped: u64,
    unmodelled: Arc<AtomicU64>,
    warned: HashSet<String>,
}

impl Writer {
    pub(super) fn open(
        path: &Path,
        retention: Retention,
        unmodelled: Arc<AtomicU64>,
    ) -> Result<Writer, OpenError> {
        let conn = sql::open_writer(path)?;
        let ns = |d: std::time::Duration| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX);
        let mut writer = Writer {
            conn,
            path: path.to_path_buf(),
            raw_ns: ns(retention.raw),
            hourly_ns: ns(retention.hourly),
            ids: Ids::default(),
            staged: 0,
            raw_before: i64::MIN,
            skipped: 0,
            unmodelled,
            warned: HashSet::new(),
        };
        let loaded = writer.load().and_then(|()| {
            let staged: i64 =
                writer
                    .conn
                    .query_row("SELECT count(*) FROM reading_recent", [], |r| r.get(0))?;
            writer.staged = staged.max(0) as u64;
            writer.raw_before = raw_before(&writer.conn)?;
            Ok(())
        });
        loaded.map_err(|source| OpenError::Sqlite {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(writer)
    }

    /// Serves commands until the store is dropped or closed.
    pub(super) fn run(mut self, inbox: &Receiver<Command>) {
        while let Ok(command) = inbox.recv() {
            match command {
                Command::Write(points, reply) => {
                    let _ = reply.send(self.write(&points));
                }
                Command::Maintain(now_ns, reply) => {
                    let done = self
                        .maintain(now_ns)
                        .map_err(|e| sql::store_error(&self.path, &e));
                    let _ = reply.send(done);
                }
                Command::Close(reply) => {
                    let path = self.path;
                    let closed = self
                        .conn
                        .close()
                        .map_err(|(_, e)| sql::store_error(&path, &e));
                    let _ = reply.send(closed);
                    return;
                }
            }
        }
    }

    /// Loads the interned ids.
    fn load(&mut self) -> rusqlite::Result<()> {
        let mut ids = Ids {
            valid: true,
            ..Ids::default()
        };
        let mut sensors = self
            .conn
            .prepare("SELECT id, name, kind, source, lat, lon, located_ns FROM sensor")?;
        let mut rows = sensors.query([])?;
        while let Some(row) = rows.next()? {
            let sensor = Sensor {
                id: row.get(0)?,
                kind: row.get(2)?,
                source: row.get(3)?,
                lat: row.get(4)?,
                lon: row.get(5)?,
                located_ns: row.get(6)?,
            };
            ids.sensors.insert(row.get(1)?, sensor);
        }
        let mut quantities = self.conn.prepare("SELECT id, name FROM quantity")?;
        let mut rows = quantities.query([])?;
        while let Some(row) = rows.next()? {
            ids.quantities.insert(row.get(1)?, row.get(0)?);
        }
        self.ids = ids;
        Ok(())
    }

    fn write(&mut self, points: &[Point]) -> Result<(), StoreError> {
        let written = if self.ids.valid {
            self.write_batch(points)
        } else {
            self.load().and_then(|()| self.write_batch(points))
        };
        match written {
            Ok((staged, skipped)) => {
                self.staged += staged;
                self.skipped += skipped;
            }
            Err(e) => {
                // Ids interned in the rolled-back transaction do not exist: load them again.
                self.ids.valid = false;
                return Err(sql::store_error(&self.path, &e));
            }
        }
        if self.staged >= COMPACT_ROWS
            && let Err(e) = self.compact()
        {
            // The batch is committed; the move is tried again after the next one.
            warn!(store = %self.path.display(), error = %e, "cannot move recent readings, retrying later");
        }
        Ok(())
    }

    /// Writes `points` in one transaction; returns the rows added to `reading_recent` and the
    /// values skipped because their hour's row already counts them.
    fn write_batch(&mut self, points: &[Point]) -> rusqlite::Result<(u64, u64)> {
        let Writer {
            conn,
            ids,
            raw_before,
            ..
        } = self;
        let tx = conn.transaction()?;
        let (mut staged, mut skipped) = (0, 0);
        let mut others: Vec<Other> = Vec::new();
        // The records of rolled-up times read in this batch (a replay brings many values of
        // the same hours).
        let mut rolled = HashMap::new();
        {
            let mut insert_value = tx.prepare_cached(
                "INSERT INTO reading_recent (time_ns, sensor, quantity, value) \
                 VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO UPDATE SET value = excluded.value",
            )?;
            for point in points {
                let table = match point.measurement {
                    "reading" => {
                        let Some(extra) = reading(&tx, ids, point, |quantity, sensor, value| {
                            // Performance: one comparison for a value of the raw retention.
                            if point.time_ns < *raw_before
                                && already_rolled(
                                    &tx,
                                    &mut rolled,
                                    point.time_ns,
                                    sensor,
                                    quantity,
                                )?
                            {
                                skipped += 1;
                                return Ok(0);
                            }
                            staged += 1;
                            insert_value.execute(params![point.time_ns, sensor, quantity, value])
                        })?
                        else {
                            others.push(Other::whole(point));
                            continue;
                        };
                        if !extra.is_empty() {
                            others.push(Other::fields(point, extra));
                        }
                        continue;
                    }
                    "aggregate" => &AGGREGATE,
                    "alert" => &ALERT,
                    "status" => &STATUS,
                    _ => {
                        others.push(Other::whole(point));
                        continue;
                    }
                };
                match typed(&tx, table, point)? {
                    None => others.push(Other::whole(point)),
                    Some(extra) if !extra.is_empty() => others.push(Other::fields(point, extra)),
                    Some(_) => {}
                }
            }
        }
        if !others.is_empty() {
            let mut insert = tx.prepare_cached(
                "INSERT INTO other_point (measurement, tags, time_ns, fields) \
                 VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO UPDATE SET fields = excluded.fields",
            )?;
            for other in &others {
                insert.execute(params![
                    other.measurement,
                    other.tags,
                    other.time_ns,
                    other.fields
                ])?;
            }
        }
        tx.commit()?;
        self.count_unmodelled(&others);
        Ok((staged, skipped))
    }

    fn count_unmodelled(&mut self, others: &[Other]) {
        self.unmodelled
            .fetch_add(others.len() as u64, Ordering::Relaxed);
        for other in others {
            if !self.warned.contains(other.measurement) {
                self.warned.insert(other.measurement.to_owned());
                warn!(
                    store = %self.path.display(),
                    measurement = other.measurement,
                    tags = %other.tags,
                    fields = %other.fields,
                    "point (or fields) with no table column, kept in other_point; further ones of \
                     this measurement are counted only"
                );
            }
        }
    }

    /// Moves `reading_recent` into `reading`, sorted, in one transaction; returns the rows.
    fn compact(&mut self) -> rusqlite::Result<u64> {
        let tx = self.conn.transaction()?;
        // Sorted by the target's key: each page of `reading` is written once.
        let moved = tx.execute(
            "INSERT INTO reading (hour, sensor, quantity, time_ns, value) \
             SELECT (time_ns - ((time_ns % 3600000000000) + 3600000000000) % 3600000000000) \
                 / 3600000000000, sensor, quantity, time_ns, value \
             FROM reading_recent WHERE true ORDER BY 1, 2, 3, 4 \
             ON CONFLICT DO UPDATE SET value = excluded.value",
            [],
        )?;
        tx.execute("DELETE FROM reading_recent", [])?;
        tx.commit()?;
        self.staged = 0;
        Ok(moved as u64)
    }

    /// Compaction, roll-up of the raw hours past the retention, deletion of what is past the
    /// hourly one.
    fn maintain(&mut self, now_ns: i64) -> rusqlite::Result<Maintenance> {
        self.compact()?;
        let mut done = Maintenance::default();
        let raw_cutoff = floor_hour(now_ns.saturating_sub(self.raw_ns)).max(self.raw_before);
        if raw_cutoff > self.raw_before {
            // First, so that a reader never takes hourly rows for raw ones.
            self.conn.execute(
                "INSERT INTO meta (key, value) VALUES ('raw_before_ns', ?1) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [raw_cutoff],
            )?;
            self.raw_before = raw_cutoff;
        }
        // Hour by hour, oldest first, one transaction each: bounds the lock and the log.
        let cutoff_hour = raw_cutoff.div_euclid(HOUR_NS);
        loop {
            let oldest: Option<i64> =
                self.conn
                    .query_row("SELECT min(hour) FROM reading", [], |r| r.get(0))?;
            match oldest {
                Some(hour) if hour < cutoff_hour => {
                    let (counted, skipped) = self.roll_up(hour)?;
                    done.rolled_up += counted;
                    done.duplicates_skipped += skipped;
                }
                _ => break,
            }
        }
        let hourly_cutoff = floor_hour(now_ns.saturating_sub(self.hourly_ns));
        let tx = self.conn.transaction()?;
        done.expired += tx
            .prepare_cached("DELETE FROM reading_hourly WHERE hour < ?1")?
            .execute([hourly_cutoff.div_euclid(HOUR_NS)])? as u64;
        // The records of their times go with them (not counted: they are part of the rows).
        tx.prepare_cached("DELETE FROM reading_hourly_times WHERE hour < ?1")?
            .execute([hourly_cutoff.div_euclid(HOUR_NS)])?;
        for expire in [
            "DELETE FROM aggregate WHERE start_ns < ?1",
            "DELETE FROM alert WHERE time_ns < ?1",
            "DELETE FROM status WHERE time_ns < ?1",
            "DELETE FROM other_point WHERE time_ns < ?1",
        ] {
            done.expired += tx.prepare_cached(expire)?.execute([hourly_cutoff])? as u64;
        }
        tx.commit()?;
        self.conn.execute_batch("PRAGMA optimize")?;
        done.duplicates_skipped += std::mem::take(&mut self.skipped);
        Ok(done)
    }

    /// Moves the raw values of `hour` into its hourly rows, adding to the rows already there
    /// (late readings) and to the records of their times, in one transaction; a value whose
    /// time its row already counts (a replay) is deleted, not counted again. Returns the values
    /// counted and those skipped.
    fn roll_up(&mut self, hour: i64) -> rusqlite::Result<(u64, u64)> {
        let tx = self.conn.transaction()?;
        let (mut counted, mut skipped) = (0, 0);
        {
            // Performance: the hour is a contiguous range of `reading`, read in key order: each
            // sensor's quantity comes as one run of rows, its times in order.
            let mut select = tx.prepare_cached(
                "SELECT sensor, quantity, time_ns, value FROM reading WHERE hour = ?1 \
                 ORDER BY sensor, quantity, time_ns",
            )?;
            let mut rows = select.query([hour])?;
            let mut run = Run::default();
            while let Some(row) = rows.next()? {
                let key = (row.get(0)?, row.get(1)?);
                if key != run.key && !run.values.is_empty() {
                    let (c, s) = run.fold(&tx, hour)?;
                    (counted, skipped) = (counted + c, skipped + s);
                }
                run.key = key;
                let time_ns: i64 = row.get(2)?;
                run.values.push((time_ns.rem_euclid(HOUR_NS), row.get(3)?));
            }
            if !run.values.is_empty() {
                let (c, s) = run.fold(&tx, hour)?;
                (counted, skipped) = (counted + c, skipped + s);
            }
        }
        tx.prepare_cached("DELETE FROM reading WHERE hour = ?1")?
            .execute([hour])?;
        tx.commit()?;
        Ok((counted, skipped))
    }
}

/// The raw values of one sensor's quantity in the hour being rolled up.
#[derive(Default)]
struct Run {
    /// Sensor and quantity.
    key: (i64, i64),
    /// Offset in the hour (ns) and value, in time order.
    values: Vec<(i64, f64)>,
}

impl Run {
    /// Adds the values whose times the hourly row does not count yet to it and to the record of
    /// its times, and empties the run; returns the values counted and those skipped.
    fn fold(&mut self, tx: &Transaction<'_>, hour: i64) -> rusqlite::Result<(u64, u64)> {
        let (sensor, quantity) = self.key;
        let before = times::rolled(tx, hour, sensor, quantity)?;
        let total = self.values.len() as u64;
        self.values
            .retain(|(offset, _)| !times::contains(&before, *offset));
        let skipped = total - self.values.len() as u64;
        let Some(&(_, first)) = self.values.first() else {
            return Ok((0, skipped));
        };
        let (mut sum, mut min, mut max) = (0.0, first, first);
        for &(_, value) in &self.values {
            sum += value;
            min = min.min(value);
            max = max.max(value);
        }
        tx.prepare_cached(
            "INSERT INTO reading_hourly (hour, sensor, quantity, count, sum, min, max) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
             ON CONFLICT DO UPDATE SET count = reading_hourly.count + excluded.count, \
                 sum = reading_hourly.sum + excluded.sum, \
                 min = min(reading_hourly.min, excluded.min), \
                 max = max(reading_hourly.max, excluded.max)",
        )?
        .execute(params![
            hour,
            sensor,
            quantity,
            self.values.len() as i64,
            sum,
            min,
            max
        ])?;
        let offsets: Vec<i64> = self.values.iter().map(|(offset, _)| *offset).collect();
        tx.prepare_cached(
            "INSERT INTO reading_hourly_times (hour, sensor, quantity, times) \
             VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO UPDATE SET times = excluded.times",
        )?
        .execute(params![
            hour,
            sensor,
            quantity,
            times::encode(&times::merge(&before, &offsets))
        ])?;
        let counted = self.values.len() as u64;
        self.values.clear();
        Ok((counted, skipped))
    }
}

/// Whether the value of `sensor`'s `quantity` at `time_ns` is counted in its hour's row already;
/// `records` keeps the records read (by hour, sensor and quantity).
fn already_rolled(
    tx: &Transaction<'_>,
    records: &mut HashMap<(i64, i64, i64), Vec<i64>>,
    time_ns: i64,
    sensor: i64,
    quantity: i64,
) -> rusqlite::Result<bool> {
    let hour = time_ns.div_euclid(HOUR_NS);
    let offsets = match records.entry((hour, sensor, quantity)) {
        Entry::Occupied(record) => record.into_mut(),
        Entry::Vacant(record) => record.insert(times::rolled(tx, hour, sensor, quantity)?),
    };
    Ok(times::contains(offsets, time_ns.rem_euclid(HOUR_NS)))
}

/// Stores the values of a `reading` point through `insert(quantity, sensor, value)` and keeps
/// its sensor's metadata; returns the fields left for `other_point`, or `None` if the point
/// has no `sensor` tag or a tag the tables have no column for.
fn reading<'p>(
    tx: &Transaction<'_>,
    ids: &mut Ids,
    point: &'p Point,
    mut insert: impl FnMut(i64, i64, f64) -> rusqlite::Result<usize>,
) -> rusqlite::Result<Option<Vec<&'p (&'static str, Field)>>> {
    // `kind` is a field since issue 13 (item 8); a point spooled before, with a `kind` tag, is
    // read as well.
    let Some([mut kind, Some(name), source]) = tags(point, ["kind", "sensor", "source"]) else {
        return Ok(None);
    };
    if !ids.sensors.contains_key(name) {
        let id = tx
            .prepare_cached(
                "INSERT INTO sensor (name) VALUES (?1) \
                 ON CONFLICT (name) DO UPDATE SET name = excluded.name RETURNING id",
            )?
            .query_row([name], |r| r.get(0))?;
        ids.sensors.insert(
            name.to_owned(),
            Sensor {
                id,
                ..Sensor::default()
            },
        );
    }
    let Some(sensor) = ids.sensors.get_mut(name) else {
        unreachable!("the sensor was just interned")
    };
    let (mut lat, mut lon) = (None, None);
    let mut extra = Vec::new();
    for field in &point.fields {
        let (name, value) = field;
        match (*name, number(value)) {
            ("lat", Some(v)) => lat = Some(v),
            ("lon", Some(v)) => lon = Some(v),
            ("seq", Some(_)) => {}
            ("kind", None) => match value {
                Field::Str(k) => kind = Some(k.as_str()),
                _ => extra.push(field),
            },
            ("lat" | "lon" | "seq", None) => extra.push(field),
            (quantity, Some(v)) => {
                let id = match ids.quantities.get(quantity) {
                    Some(id) => *id,
                    None => {
                        let id = tx
                            .prepare_cached(
                                "INSERT INTO quantity (name) VALUES (?1) \
                                 ON CONFLICT (name) DO UPDATE SET name = excluded.name \
                                 RETURNING id",
                            )?
                            .query_row([quantity], |r| r.get(0))?;
                        ids.quantities.insert(quantity.to_owned(), id);
                        id
                    }
                };
                insert(id, sensor.id, v)?;
            }
            (_, None) => extra.push(field),
        }
    }
    // The sensor's metadata: that of its newest reading, written only when it changes.
    let newer = sensor.located_ns.is_none_or(|t| point.time_ns >= t);
    let lat = lat.or(sensor.lat);
    let lon = lon.or(sensor.lon);
    let kind = kind.or(sensor.kind.as_deref());
    let source = source.or(sensor.source.as_deref());
    let changed = sensor.located_ns.is_none()
        || kind != sensor.kind.as_deref()
        || source != sensor.source.as_deref()
        || lat != sensor.lat
        || lon != sensor.lon;
    if newer && changed {
        tx.prepare_cached(
            "UPDATE sensor SET kind = ?2, source = ?3, lat = ?4, lon = ?5, located_ns = ?6 \
             WHERE id = ?1 AND (located_ns IS NULL OR located_ns <= ?6)",
        )?
        .execute(params![sensor.id, kind, source, lat, lon, point.time_ns])?;
        let (kind, source) = (kind.map(str::to_owned), source.map(str::to_owned));
        *sensor = Sensor {
            id: sensor.id,
            kind,
            source,
            lat,
            lon,
            located_ns: Some(point.time_ns),
        };
    }
    Ok(Some(extra))
}

/// A float column's value: a finite float, or an integer. `NaN` and infinities are kept in
/// `other_point` (SQLite would turn `NaN` into NULL).
fn number(field: &Field) -> Option<f64> {
    match field {
        Field::Float(v) if v.is_finite() => Some(*v),
        Field::Int(v) => Some(*v as f64),
        _ => None,
    }
}

/// The values of tags `keys`, in that order; `None` if the point has another tag.
fn tags<'p, const N: usize>(point: &'p Point, keys: [&str; N]) -> Option<[Option<&'p str>; N]> {
    let mut values = [None; N];
    for (key, value) in &point.tags {
        let slot = keys.iter().position(|k| k == key)?;
        values[slot] = Some(value.as_str());
    }
    Some(values)
}

/// A column type.
#[derive(Clone, Copy)]
enum Column {
    Real,
    Integer,
    Text,
}

/// How a measurement other than `reading` maps onto its table.
struct Table {
    /// Tags, in the statement's order, and whether each is part of the key (required).
    tags: &'static [(&'static str, bool)],
    /// Fields, in the statement's order after the tags and the time.
    fields: &'static [(&'static str, Column)],
    /// The upsert: tags, time, fields as parameters in that order.
    upsert: &'static str,
}

const AGGREGATE: Table = Table {
    tags: &[("neighbourhood", true), ("quantity", true), ("name", false)],
    fields: &[
        ("value", Column::Real),
        ("mean", Column::Real),
        ("min", Column::Real),
        ("max", Column::Real),
        ("readings", Column::Integer),
        ("sensors", Column::Integer),
        ("window_secs", Column::Integer),
    ],
    upsert: "INSERT INTO aggregate (neighbourhood, quantity, name, start_ns, value, mean, min, \
             max, readings, sensors, window_secs) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) \
             ON CONFLICT DO UPDATE SET name = excluded.name, value = excluded.value, \
             mean = excluded.mean, \
             min = excluded.min, max = excluded.max, readings = excluded.readings, \
             sensors = excluded.sensors, window_secs = excluded.window_secs",
};

const ALERT: Table = Table {
    tags: &[("rule", true), ("scope", true), ("quantity", true)],
    fields: &[
        ("state", Column::Text),
        ("raised", Column::Integer),
        ("value", Column::Real),
        ("threshold", Column::Real),
        ("comparison", Column::Text),
    ],
    upsert: "INSERT INTO alert (rule, scope, quantity, time_ns, state, raised, value, threshold, \
             comparison) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
             ON CONFLICT DO UPDATE SET state = excluded.state, raised = excluded.raised, \
             value = excluded.value, threshold = excluded.threshold, \
             comparison = excluded.comparison",
};

const STATUS: Table = Table {
    tags: &[("sensor", true)],
    fields: &[
        ("state", Column::Text),
        ("online", Column::Integer),
        ("kind", Column::Text),
        ("source", Column::Text),
        ("lat", Column::Real),
        ("lon", Column::Real),
        ("modules_running", Column::Integer),
        ("modules_failed", Column::Integer),
    ],
    upsert: "INSERT INTO status (sensor, time_ns, state, online, kind, source, lat, lon, \
             modules_running, modules_failed) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) \
             ON CONFLICT DO UPDATE SET state = excluded.state, online = excluded.online, \
             kind = excluded.kind, source = excluded.source, lat = excluded.lat, \
             lon = excluded.lon, modules_running = excluded.modules_running, \
             modules_failed = excluded.modules_failed",
};

/// Upserts a point into its table; returns the fields left for `other_point`, or `None` if a
/// key tag is missing or a tag has no column.
fn typed<'p>(
    tx: &Transaction<'_>,
    table: &Table,
    point: &'p Point,
) -> rusqlite::Result<Option<Vec<&'p (&'static str, Field)>>> {
    let mut values = Vec::with_capacity(table.tags.len() + 1 + table.fields.len());
    for (key, required) in table.tags {
        match point.tag(key) {
            Some(v) => values.push(Value::Text(v.to_owned())),
            None if *required => return Ok(None),
            None => values.push(Value::Null),
        }
    }
    if point
        .tags
        .iter()
        .any(|(key, _)| !table.tags.iter().any(|(k, _)| k == key))
    {
        return Ok(None);
    }
    values.push(Value::Integer(point.time_ns));
    let first_field = values.len();
    values.resize(first_field + table.fields.len(), Value::Null);
    let mut extra = Vec::new();
    for field in &point.fields {
        let (name, value) = field;
        let column = table.fields.iter().position(|(n, _)| n == name);
        let converted = column.and_then(|c| {
            let v = match (table.fields[c].1, value) {
                (Column::Real, _) => Value::Real(number(value)?),
                (Column::Integer, Field::Int(v)) => Value::Integer(*v),
                (Column::Integer, Field::Bool(b)) => Value::Integer(i64::from(*b)),
                (Column::Text, Field::Str(s)) => Value::Text(s.clone()),
                _ => return None,
            };
            Some((c, v))
        });
        match converted {
            Some((c, v)) => values[first_field + c] = v,
            None => extra.push(field),
        }
    }
    tx.prepare_cached(table.upsert)?
        .execute(rusqlite::params_from_iter(values))?;
    Ok(Some(extra))
}

/// A row of `other_point`: a whole point, or the fields of a point its table has no column
/// for, as JSON.
struct Other {
    measurement: &'static str,
    tags: String,
    time_ns: i64,
    fields: String,
}

impl Other {
    fn whole(point: &Point) -> Other {
        Other::fields(point, point.fields.iter().collect())
    }

    fn fields(point: &Point, fields: Vec<&(&'static str, Field)>) -> Other {
        let mut tags: Vec<_> = point.tags.iter().collect();
        tags.sort();
        let tags: serde_json::Map<String, serde_json::Value> = tags
            .into_iter()
            .map(|(k, v)| ((*k).to_owned(), serde_json::Value::from(v.as_str())))
            .collect();
        let fields: serde_json::Map<String, serde_json::Value> = fields
            .into_iter()
            .map(|(k, v)| ((*k).to_owned(), json(v)))
            .collect();
        Other {
            measurement: point.measurement,
            tags: serde_json::Value::Object(tags).to_string(),
            time_ns: point.time_ns,
            fields: serde_json::Value::Object(fields).to_string(),
        }
    }
}

/// A field as JSON; a float JSON cannot hold (`NaN`, infinities) as its name, a string.
fn json(field: &Field) -> serde_json::Value {
    match field {
        Field::Float(v) => serde_json::Number::from_f64(*v)
            .map_or_else(|| serde_json::Value::from(v.to_string()), Into::into),
        Field::Int(v) => (*v).into(),
        Field::Bool(v) => (*v).into(),
        Field::Str(v) => v.as_str().into(),
    }
}

//! The embedded store on real files in temporary directories: idempotent writes, history equal
//! to what the test computes from the points it wrote, roll-up and retention, the files it
//! refuses, and a reader in another process while the writes go on.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use garonne_payload::{Quantity, Timestamp};
use garonne_store::embedded::{EmbeddedHistory, EmbeddedStore, Maintenance, OpenError, Retention};
use garonne_store::history::{Bucket, History, HistoryError, Query, Subject};
use garonne_store::point::{Field, Point};
use garonne_store::store::Store;

#[path = "support/points.rs"]
mod points;

#[path = "stores/readings.rs"]
mod readings;

#[path = "stores/places.rs"]
mod places;

#[path = "stores/sessions.rs"]
mod sessions;

const SEC: i64 = 1_000_000_000;
const HOUR: i64 = 3600 * SEC;
const DAY: i64 = 24 * HOUR;
/// 2025-11-24T00:00:00Z.
const T0: i64 = 1_763_942_400 * SEC;

fn ts(ns: i64) -> Timestamp {
    Timestamp::UNIX_EPOCH.add_nanos(ns)
}

/// A deterministic generator (xorshift64*), enough for test values.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [lo, hi).
    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (self.next() >> 11) as f64 / (1u64 << 53) as f64 * (hi - lo)
    }
}

/// A `reading` point as the schema makes it.
fn reading(sensor: &str, time_ns: i64, values: &[(Quantity, f64)]) -> Point {
    let mut fields: Vec<(&'static str, Field)> = values
        .iter()
        .map(|(q, v)| (q.name(), Field::Float(*v)))
        .collect();
    fields.push(("lat", Field::Float(43.6)));
    fields.push(("lon", Field::Float(1.44)));
    fields.push(("seq", Field::Int(time_ns / SEC)));
    Point {
        measurement: "reading",
        tags: vec![
            ("kind", "bme280".to_owned()),
            ("sensor", sensor.to_owned()),
            ("source", "simulator".to_owned()),
        ],
        fields,
        time_ns,
    }
}

/// An `aggregate` point as the schema makes it, from three sensors.
fn aggregate(neighbourhood: &str, quantity: Quantity, start_ns: i64, stats: Stats) -> Point {
    let Stats {
        mean,
        min,
        max,
        readings,
    } = stats;
    points::aggregate(
        neighbourhood,
        quantity,
        start_ns,
        [mean, min, max],
        (readings, 3),
    )
}

/// One aggregate window's statistics.
#[derive(Debug, Clone, Copy)]
struct Stats {
    mean: f64,
    min: f64,
    max: f64,
    readings: i64,
}

fn alert(time_ns: i64, raised: bool) -> Point {
    Point {
        measurement: "alert",
        tags: vec![
            ("quantity", "temperature".to_owned()),
            ("rule", "heat".to_owned()),
            ("scope", "neighbourhood-3".to_owned()),
        ],
        fields: vec![
            (
                "state",
                Field::Str(if raised { "raised" } else { "cleared" }.to_owned()),
            ),
            ("raised", Field::Int(i64::from(raised))),
            ("value", Field::Float(36.5)),
            ("threshold", Field::Float(35.0)),
            ("comparison", Field::Str("above".to_owned())),
        ],
        time_ns,
    }
}

fn status(sensor: &str, time_ns: i64) -> Point {
    Point {
        measurement: "status",
        tags: vec![("sensor", sensor.to_owned())],
        fields: vec![
            ("state", Field::Str("online".to_owned())),
            ("online", Field::Int(1)),
            ("kind", Field::Str("bme280".to_owned())),
            ("source", Field::Str("simulator".to_owned())),
            ("lat", Field::Float(43.6)),
            ("lon", Field::Float(1.44)),
            ("modules_running", Field::Int(1)),
            ("modules_failed", Field::Int(0)),
        ],
        time_ns,
    }
}

fn sensor_query(sensor: &str, quantity: Quantity, from: i64, to: i64, every_secs: u32) -> Query {
    Query {
        subject: Subject::Sensor(sensor.to_owned()),
        quantity,
        from: ts(from),
        to: ts(to),
        every_secs,
    }
}

fn neighbourhood_query(id: &str, quantity: Quantity, from: i64, to: i64, every: u32) -> Query {
    Query {
        subject: Subject::Neighbourhood(id.to_owned()),
        ..sensor_query("", quantity, from, to, every)
    }
}

/// What a bucket should hold: start (ns), mean, min, max, count.
type Expected = (i64, f64, f64, f64, u64);

/// The buckets of `values` (time, value) by the history semantics, computed here.
fn expected(values: &[(i64, f64)], from: i64, to: i64, every_secs: u32) -> Vec<Expected> {
    let every = i64::from(every_secs) * SEC;
    let mut buckets: BTreeMap<i64, (f64, f64, f64, u64)> = BTreeMap::new();
    for &(t, v) in values.iter().filter(|(t, _)| (from..to).contains(t)) {
        let b = buckets.entry(t.div_euclid(every) * every).or_insert((
            0.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            0,
        ));
        b.0 += v;
        b.1 = b.1.min(v);
        b.2 = b.2.max(v);
        b.3 += 1;
    }
    buckets
        .into_iter()
        .map(|(start, (sum, min, max, n))| (start, sum / n as f64, min, max, n))
        .collect()
}

#[track_caller]
fn assert_buckets(actual: &[Bucket], expected: &[Expected]) {
    let starts = |a: &[Bucket]| a.iter().map(|b| b.start).collect::<Vec<_>>();
    assert_eq!(
        starts(actual),
        expected.iter().map(|e| ts(e.0)).collect::<Vec<_>>(),
        "bucket starts"
    );
    for (a, &(start, mean, min, max, count)) in actual.iter().zip(expected) {
        let at = ts(start);
        assert_eq!(a.count, count, "count at {at}");
        assert_eq!(a.min, min, "min at {at}");
        assert_eq!(a.max, max, "max at {at}");
        assert!(
            (a.mean - mean).abs() <= 1e-9 * mean.abs().max(1.0),
            "mean at {at}: {} instead of {mean}",
            a.mean
        );
    }
}

#[track_caller]
fn assert_same(after: &[Bucket], before: &[Bucket]) {
    let expected: Vec<Expected> = before
        .iter()
        .map(|b| {
            let start = i64::try_from(b.start.unix_nanos()).expect("in range");
            (start, b.mean, b.min, b.max, b.count)
        })
        .collect();
    assert_buckets(after, &expected);
}

/// Rows of `table`, read with a connection of the test's own.
fn rows(path: &Path, table: &str) -> i64 {
    let conn =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("the test opens the store");
    conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .expect("count")
}

fn store_path(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("data").join("history.sqlite")
}

/// A store in a new temporary folder: the folder (removed when dropped), the store's file, and
/// the store open on it.
async fn new_store() -> (tempfile::TempDir, PathBuf, EmbeddedStore) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = store_path(&dir);
    let store = open(&path).await;
    (dir, path, store)
}

async fn open(path: &Path) -> EmbeddedStore {
    EmbeddedStore::open(path, Retention::default())
        .await
        .expect("the store opens")
}

async fn history(path: &Path) -> EmbeddedHistory {
    EmbeddedHistory::open(path)
        .await
        .expect("the history opens")
}

async fn ask(history: &EmbeddedHistory, query: &Query) -> Vec<Bucket> {
    history.query(query).await.expect("the query is answered")
}

/// Readings of three sensors every 10 s to 70 s (irregular) over `hours` from `start`, with
/// temperature, humidity and pressure; returns the points and the temperatures of `s-0`.
fn fleet(start: i64, hours: i64, rng: &mut Rng) -> (Vec<Point>, Vec<(i64, f64)>) {
    let mut points = Vec::new();
    let mut temperatures = Vec::new();
    for s in 0..3 {
        let sensor = format!("s-{s}");
        let mut t = start + (rng.next() % 10) as i64 * SEC;
        while t < start + hours * HOUR {
            let temperature = rng.range(-5.0, 35.0);
            points.push(reading(
                &sensor,
                t,
                &[
                    (Quantity::Temperature, temperature),
                    (Quantity::RelativeHumidity, rng.range(0.2, 1.0)),
                    (Quantity::AtmosphericPressure, rng.range(980.0, 1030.0)),
                ],
            ));
            if s == 0 {
                temperatures.push((t, temperature));
            }
            t += (10 + rng.next() % 60) as i64 * SEC + (rng.next() % 1000) as i64;
        }
    }
    (points, temperatures)
}

#[tokio::test]
async fn writing_a_batch_twice_stores_it_once() {
    let (_dir, path, mut store) = new_store().await;
    let mut rng = Rng(7);
    let (mut points, temperatures) = fleet(T0, 2, &mut rng);
    points.push(aggregate(
        "3",
        Quantity::Temperature,
        T0,
        Stats {
            mean: 12.0,
            min: 10.0,
            max: 14.0,
            readings: 30,
        },
    ));
    points.push(alert(T0 + 60 * SEC, true));
    points.push(status("s-0", T0));
    let tables = [
        "reading_recent",
        "reading",
        "aggregate",
        "alert",
        "status",
        "sensor",
        "quantity",
        "other_point",
    ];
    let count_all = || tables.map(|t| rows(&path, t));

    store.write(&points).await.expect("first write");
    let once = count_all();
    assert_eq!(once[0], 3 * points.len() as i64 - 9, "3 values per reading");
    assert_eq!(once[2..], [1, 1, 1, 3, 3, 0]);
    store.write(&points).await.expect("second write");
    assert_eq!(count_all(), once);

    let history = history(&path).await;
    let query = sensor_query("s-0", Quantity::Temperature, T0, T0 + 2 * HOUR, 600);
    let want = expected(&temperatures, T0, T0 + 2 * HOUR, 600);
    assert_buckets(&ask(&history, &query).await, &want);

    // Moved to `reading`, then written again (in `reading_recent`): still counted once.
    assert_eq!(
        store.maintenance(ts(T0)).await.expect("maintenance"),
        Maintenance::default()
    );
    assert_eq!(rows(&path, "reading_recent"), 0);
    store.write(&points).await.expect("third write");
    assert_eq!(rows(&path, "reading_recent"), once[0]);
    assert_buckets(&ask(&history, &query).await, &want);
    store.maintenance(ts(T0)).await.expect("maintenance");
    assert_eq!(rows(&path, "reading"), once[0]);
    assert_buckets(&ask(&history, &query).await, &want);

    // With the historian stopped, a new reader still opens the file read-only and answers.
    store.close().await.expect("close");
    let later = EmbeddedHistory::open(&path).await.expect("read-only open");
    assert_buckets(&ask(&later, &query).await, &want);
}

#[tokio::test]
async fn sensor_history_is_what_was_written() {
    let (_dir, path, mut store) = new_store().await;
    let mut rng = Rng(11);
    let (mut points, mut temperatures) = fleet(T0, 6, &mut rng);
    // 40 minutes without readings of s-0: their intervals are left out.
    let gap = T0 + 2 * HOUR..T0 + 2 * HOUR + 40 * 60 * SEC;
    points.retain(|p| !(p.tag("sensor") == Some("s-0") && gap.contains(&p.time_ns)));
    temperatures.retain(|(t, _)| !gap.contains(t));
    // Half the points moved to `reading` before the other half comes: history reads both.
    let (first, second) = points.split_at(points.len() / 2);
    for batch in first.chunks(500) {
        store.write(batch).await.expect("write");
    }
    store.maintenance(ts(T0)).await.expect("maintenance");
    for batch in second.chunks(500) {
        store.write(batch).await.expect("write");
    }
    // On the edges: a reading exactly at `from` counts, one exactly at `to` does not.
    let (from, to) = (T0 + HOUR + 17 * 60 * SEC, T0 + 4 * HOUR + 50 * 60 * SEC);
    for (t, v) in [(from, 100.0), (to, 200.0)] {
        store
            .write(&[reading("s-0", t, &[(Quantity::Temperature, v)])])
            .await
            .expect("write");
        temperatures.push((t, v));
    }
    let history = history(&path).await;
    for every in [1, 60, 600, 3600, 7 * 60 + 3] {
        let query = sensor_query("s-0", Quantity::Temperature, from, to, every);
        let got = ask(&history, &query).await;
        assert_buckets(&got, &expected(&temperatures, from, to, every));
        let every_ns = i64::from(every) * SEC;
        for bucket in &got {
            let start = i64::try_from(bucket.start.unix_nanos()).expect("in range");
            assert_eq!(start % every_ns, 0, "aligned on the epoch");
            assert!(
                !(gap.start <= start && start + every_ns <= gap.end),
                "an interval of the gap at {}",
                bucket.start
            );
        }
        assert!(
            got.iter().all(|b| b.max < 200.0),
            "the reading at `to` is excluded"
        );
    }
    // The first 10-minute interval starts before `from` (epoch-aligned) but holds only the
    // readings from `from` on, the first of them the one at `from`.
    let got = ask(
        &history,
        &sensor_query("s-0", Quantity::Temperature, from, to, 600),
    )
    .await;
    assert_eq!(got[0].start, ts(T0 + HOUR + 10 * 60 * SEC));
    assert_eq!(got[0].max, 100.0);
    // Another quantity, another sensor, an unknown sensor.
    let humidity = ask(
        &history,
        &sensor_query("s-1", Quantity::RelativeHumidity, T0, T0 + 6 * HOUR, 3600),
    )
    .await;
    assert_eq!(humidity.len(), 6);
    assert!(
        humidity
            .iter()
            .all(|b| (0.2..1.0).contains(&b.min) && b.max < 1.0)
    );
    assert!(
        ask(
            &history,
            &sensor_query("nobody", Quantity::Temperature, T0, to, 60)
        )
        .await
        .is_empty()
    );
    assert!(
        ask(&history, &sensor_query("s-0", Quantity::Motion, T0, to, 60))
            .await
            .is_empty()
    );
}

/// Issue 14: a neighbourhood's history is its windows' value, the quantity's aggregate by its
/// profile's rules (bikes: the sum of its stations'), not the mean of its sensors; a bucket of
/// windows stored without a value (an older historian) falls back on their means.
#[tokio::test]
async fn neighbourhood_history_follows_the_value_and_falls_back_on_the_mean() {
    let (_dir, path, mut store) = new_store().await;
    let bikes = Quantity::from_name("availableBikeNumber").expect("a built-in quantity");
    let window = |minute: i64, mean: f64, value: Option<f64>| {
        let stats = Stats {
            mean,
            min: 2.0,
            max: 11.0,
            readings: 6,
        };
        points::with_value(aggregate("3", bikes, T0 + minute * 60 * SEC, stats), value)
    };
    store
        .write(&[
            // Hour 0: three stations each window, summed.
            window(0, 6.5, Some(19.5)),
            window(15, 7.0, Some(21.0)),
            // Hour 1: windows of an older historian, with no value.
            window(60, 5.0, None),
            window(75, 6.0, None),
        ])
        .await
        .expect("write");
    let history = history(&path).await;
    let got = ask(
        &history,
        &neighbourhood_query("3", bikes, T0, T0 + 2 * 3600 * SEC, 3600),
    )
    .await;
    let means: Vec<f64> = got.iter().map(|b| b.mean).collect();
    assert_eq!(means, [20.25, 5.5], "{got:?}");
    assert_eq!(got[0].count, 12);
}

#[tokio::test]
async fn neighbourhood_history_is_what_the_aggregates_say() {
    let (_dir, path, mut store) = new_store().await;
    let mut rng = Rng(5);
    let mut windows: BTreeMap<i64, Stats> = BTreeMap::new();
    let mut points = Vec::new();
    for minute in 0..180 {
        if (60..75).contains(&minute) {
            continue; // no windows for a quarter of an hour
        }
        let start = T0 + minute * 60 * SEC;
        let mean = rng.range(5.0, 25.0);
        let stats = Stats {
            mean,
            min: mean - rng.range(0.0, 3.0),
            max: mean + rng.range(0.0, 3.0),
            readings: 10 + (rng.next() % 50) as i64,
        };
        windows.insert(start, stats);
        points.push(aggregate("3", Quantity::Temperature, start, stats));
        // Another neighbourhood, and another quantity: not in the answer.
        let other = Stats {
            mean: 99.0,
            min: 99.0,
            max: 99.0,
            readings: 1,
        };
        points.push(aggregate("4", Quantity::Temperature, start, other));
        points.push(aggregate("3", Quantity::WindSpeed, start, other));
    }
    store.write(&points).await.expect("write");
    // A window emitted again with new statistics: the last one counts.
    let again = Stats {
        mean: 30.0,
        min: 1.0,
        max: 40.0,
        readings: 7,
    };
    store
        .write(&[aggregate(
            "3",
            Quantity::Temperature,
            T0 + 20 * 60 * SEC,
            again,
        )])
        .await
        .expect("write");
    windows.insert(T0 + 20 * 60 * SEC, again);

    let history = history(&path).await;
    let (from, to) = (T0 + 7 * 60 * SEC, T0 + 170 * 60 * SEC);
    for every in [60, 300, 900, 3600] {
        let every_ns = i64::from(every) * SEC;
        let mut want: BTreeMap<i64, (Vec<f64>, f64, f64, u64)> = BTreeMap::new();
        for (&start, s) in windows.range(from..to) {
            let b = want
                .entry(start.div_euclid(every_ns) * every_ns)
                .or_insert((Vec::new(), f64::INFINITY, f64::NEG_INFINITY, 0));
            b.0.push(s.mean);
            b.1 = b.1.min(s.min);
            b.2 = b.2.max(s.max);
            b.3 += s.readings as u64;
        }
        let want: Vec<Expected> = want
            .into_iter()
            .map(|(start, (means, min, max, count))| {
                (
                    start,
                    means.iter().sum::<f64>() / means.len() as f64,
                    min,
                    max,
                    count,
                )
            })
            .collect();
        let got = ask(
            &history,
            &neighbourhood_query("3", Quantity::Temperature, from, to, every),
        )
        .await;
        assert_buckets(&got, &want);
    }
    let got = ask(
        &history,
        &neighbourhood_query("3", Quantity::Temperature, from, to, 300),
    )
    .await;
    assert_eq!(
        got[0].start,
        ts(T0 + 5 * 60 * SEC),
        "epoch-aligned, windows from `from` on"
    );
    assert!(
        !got.iter().any(|b| (T0 + HOUR..T0 + HOUR + 15 * 60 * SEC)
            .contains(&i64::try_from(b.start.unix_nanos()).expect("in range"))),
        "no interval without windows"
    );
}

#[tokio::test]
async fn old_readings_are_answered_from_hourly_rows() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = store_path(&dir);
    let retention = Retention {
        raw: Duration::from_secs(86_400),
        hourly: Duration::from_secs(30 * 86_400),
    };
    let mut store = EmbeddedStore::open(&path, retention).await.expect("open");
    let mut rng = Rng(3);
    let (points, mut temperatures) = fleet(T0, 72, &mut rng);
    for batch in points.chunks(1000) {
        store.write(batch).await.expect("write");
    }
    store
        .write(&[aggregate(
            "3",
            Quantity::Temperature,
            T0,
            Stats {
                mean: 1.0,
                min: 0.0,
                max: 2.0,
                readings: 4,
            },
        )])
        .await
        .expect("write");
    let now = T0 + 72 * HOUR + 25 * 60 * SEC;
    let history = history(&path).await;
    let (from, to) = (T0, T0 + 72 * HOUR);
    let queries = [
        sensor_query("s-0", Quantity::Temperature, from, to, 3600),
        sensor_query("s-0", Quantity::Temperature, from, to, 6 * 3600),
        sensor_query("s-0", Quantity::Temperature, from, to, 86_400),
        // Two-hour intervals from an odd hour: the first holds one hour.
        sensor_query("s-0", Quantity::Temperature, from + HOUR, to, 7200),
        // From the raw part only, at any interval.
        sensor_query("s-0", Quantity::Temperature, now - 20 * HOUR, to, 600),
    ];
    let mut before = Vec::new();
    for query in &queries {
        before.push(ask(&history, query).await);
    }
    assert_buckets(&before[0], &expected(&temperatures, from, to, 3600));

    let done = store.maintenance(ts(now)).await.expect("maintenance");
    // Everything before the hour that started a day before `now` is rolled up.
    let raw_before = T0 + 48 * HOUR;
    let old = points.iter().filter(|p| p.time_ns < raw_before).count() as u64;
    assert_eq!(
        done,
        Maintenance {
            rolled_up: 3 * old,
            expired: 0,
            duplicates_skipped: 0,
        }
    );
    assert!(rows(&path, "reading_hourly") > 0);
    for (query, before) in queries.iter().zip(&before) {
        assert_same(&ask(&history, query).await, before);
    }
    // Hourly rows answer for whole hours only: an hour counts when it starts in the range,
    // as if `from` were rounded up to the hour.
    let partial = ask(
        &history,
        &sensor_query("s-0", Quantity::Temperature, from + 30 * 60 * SEC, to, 3600),
    )
    .await;
    assert_same(&partial, &before[0][1..]);
    // Intervals that are not whole hours cannot be answered there: the error says what to ask.
    let error = history
        .query(&sensor_query("s-0", Quantity::Temperature, from, to, 600))
        .await
        .expect_err("10-minute intervals before the raw retention");
    let HistoryError::Invalid(message) = &error else {
        panic!("not invalid: {error}");
    };
    assert!(message.contains("multiple of 3600"), "{message}");
    assert!(message.contains(&ts(raw_before).to_string()), "{message}");

    // Maintenance twice is maintenance once, also from a new writer (nothing cached).
    assert_eq!(
        store.maintenance(ts(now)).await.expect("again"),
        Maintenance::default()
    );
    store.close().await.expect("close");
    let mut store = EmbeddedStore::open(&path, retention).await.expect("reopen");
    assert_eq!(
        store.maintenance(ts(now)).await.expect("again"),
        Maintenance::default()
    );
    for (query, before) in queries.iter().zip(&before) {
        assert_same(&ask(&history, query).await, before);
    }

    // A late reading for an hour already rolled up: counted at once, and once.
    let late = (T0 + 5 * HOUR + 123 * SEC, -20.0);
    store
        .write(&[reading("s-0", late.0, &[(Quantity::Temperature, late.1)])])
        .await
        .expect("write");
    temperatures.push(late);
    let want = expected(&temperatures, from, to, 3600);
    assert_buckets(&ask(&history, &queries[0]).await, &want);
    let done = store.maintenance(ts(now)).await.expect("maintenance");
    assert_eq!(
        done,
        Maintenance {
            rolled_up: 1,
            expired: 0,
            duplicates_skipped: 0,
        }
    );
    assert_buckets(&ask(&history, &queries[0]).await, &want);

    // 30 days later, the hourly rows and the aggregate are gone.
    let done = store
        .maintenance(ts(now + 31 * DAY))
        .await
        .expect("maintenance");
    assert!(done.expired > 0);
    assert!(ask(&history, &queries[0]).await.is_empty());
    assert_eq!(rows(&path, "aggregate"), 0);
    assert_eq!(
        rows(&path, "reading") + rows(&path, "reading_recent") + rows(&path, "reading_hourly"),
        0
    );
}

/// The hourly rows (hour, sensor, quantity, count, sum, min, max), read with a connection of
/// the test's own.
type HourlyRow = (i64, i64, i64, i64, f64, f64, f64);

fn hourly_rows(path: &Path) -> Vec<HourlyRow> {
    let conn =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("the test opens the store");
    let mut statement = conn
        .prepare(
            "SELECT hour, sensor, quantity, count, sum, min, max FROM reading_hourly \
             ORDER BY hour, sensor, quantity",
        )
        .expect("prepare");
    statement
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
            ))
        })
        .and_then(Iterator::collect)
        .expect("hourly rows")
}

/// Writes `points`, then maintains the store at `now`: the values rolled up, and those skipped
/// as already counted.
async fn write_then_maintain(store: &mut EmbeddedStore, points: &[Point], now: i64) -> (u64, u64) {
    store.write(points).await.expect("write");
    let done = store.maintenance(ts(now)).await.expect("maintenance");
    (done.rolled_up, done.duplicates_skipped)
}

/// Issue 13, item 12: a point written again after its hour was rolled up (the historian's spool
/// replaying after a crash, a replay from more than a week back) is not counted twice, neither
/// at once by history nor in the hourly rows after the next roll-up; a new late reading of a
/// rolled hour still counts, once.
#[tokio::test]
async fn a_point_written_again_after_its_hour_is_rolled_up_counts_once() {
    let (_dir, path, mut store) = new_store().await;
    let mut rng = Rng(17);
    let (points, mut temperatures) = fleet(T0, 3, &mut rng);
    let values = 3 * points.len() as u64;
    for batch in points.chunks(400) {
        store.write(batch).await.expect("write");
    }
    // A week and a day later: the three hours are past the raw retention.
    let now = T0 + 8 * DAY;
    let done = store.maintenance(ts(now)).await.expect("roll-up");
    assert_eq!(done.rolled_up, values);
    let rolled = hourly_rows(&path);
    assert_eq!(
        rolled.len(),
        3 * 3 * 3,
        "3 hours of 3 sensors and 3 quantities"
    );
    let history = history(&path).await;
    let query = sensor_query("s-0", Quantity::Temperature, T0, T0 + 3 * HOUR, 3600);
    let want = expected(&temperatures, T0, T0 + 3 * HOUR, 3600);
    assert_buckets(&ask(&history, &query).await, &want);

    // The same points again, in other batches, one with another value (a rolled hour keeps the
    // value it counted): history does not change, not even before the next roll-up.
    let mut replay = points.clone();
    replay[5].fields[0].1 = Field::Float(1000.0);
    for batch in replay.chunks(333) {
        store.write(batch).await.expect("replay");
    }
    assert_buckets(&ask(&history, &query).await, &want);
    let done = store.maintenance(ts(now)).await.expect("roll-up");
    assert_eq!(
        done,
        Maintenance {
            rolled_up: 0,
            expired: 0,
            duplicates_skipped: values,
        }
    );
    assert_eq!(
        hourly_rows(&path),
        rolled,
        "count, sum, min and max unchanged"
    );
    assert_buckets(&ask(&history, &query).await, &want);

    // A new late reading of a rolled hour (written twice): counted once, at once; replayed
    // after its own roll-up, still once.
    let late = reading("s-0", T0 + HOUR + 1, &[(Quantity::Temperature, -40.0)]);
    store
        .write(std::slice::from_ref(&late))
        .await
        .expect("late");
    store
        .write(std::slice::from_ref(&late))
        .await
        .expect("late again");
    temperatures.push((late.time_ns, -40.0));
    let want = expected(&temperatures, T0, T0 + 3 * HOUR, 3600);
    assert_buckets(&ask(&history, &query).await, &want);
    let done = store.maintenance(ts(now)).await.expect("roll-up");
    assert_eq!((done.rolled_up, done.duplicates_skipped), (1, 0));
    assert_eq!(write_then_maintain(&mut store, &[late], now).await, (0, 1));
    assert_buckets(&ask(&history, &query).await, &want);
    let with_late = hourly_rows(&path);
    assert_eq!(with_late.len(), rolled.len());
    assert_eq!(
        with_late
            .iter()
            .zip(&rolled)
            .filter(|(a, b)| a != b)
            .count(),
        1,
        "only the late reading's row changed"
    );

    // A new writer (nothing cached) knows what was rolled up, too.
    store.close().await.expect("close");
    let mut store = open(&path).await;
    assert_eq!(
        write_then_maintain(&mut store, &points, now).await,
        (0, values)
    );
    assert_eq!(hourly_rows(&path), with_late);
    assert_buckets(&ask(&history, &query).await, &want);
}

/// A store of schema version 1 (before the record of rolled times): the historian upgrades it
/// at open and everything in it is kept; the server refuses it until then, and says why.
#[tokio::test]
async fn a_store_of_schema_1_is_upgraded_and_keeps_everything() {
    let (_dir, path, mut store) = new_store().await;
    let mut rng = Rng(19);
    // Three hours rolled up, and two hours of raw readings a day before `now`.
    let now = T0 + 8 * DAY;
    let (old, mut temperatures) = fleet(T0, 3, &mut rng);
    let (recent, recent_temperatures) = fleet(now - DAY, 2, &mut rng);
    temperatures.extend(recent_temperatures);
    for batch in old.chunks(1000).chain(recent.chunks(1000)) {
        store.write(batch).await.expect("write");
    }
    store.maintenance(ts(now)).await.expect("roll-up");
    let queries = [
        sensor_query("s-0", Quantity::Temperature, T0, T0 + 3 * HOUR, 3600),
        sensor_query("s-1", Quantity::RelativeHumidity, T0, now, 86_400),
        sensor_query("s-0", Quantity::Temperature, now - DAY, now, 60),
    ];
    let history = history(&path).await;
    let mut before = Vec::new();
    for query in &queries {
        before.push(ask(&history, query).await);
    }
    let want = expected(&temperatures, T0, T0 + 3 * HOUR, 3600);
    assert_buckets(&before[0], &want);
    let hourly = hourly_rows(&path);
    let raw = rows(&path, "reading");
    store.close().await.expect("close");
    drop(history);

    // Schema 1 by hand: the same tables without `reading_hourly_times` (schema 2) and without
    // the aggregate's `value` (schema 3).
    rusqlite::Connection::open(&path)
        .and_then(|c| {
            c.execute_batch(
                "DROP TABLE reading_hourly_times; ALTER TABLE aggregate DROP COLUMN value; \
                 PRAGMA user_version = 1;",
            )
        })
        .expect("the test makes a schema 1 file");
    let error = EmbeddedHistory::open(&path)
        .await
        .expect_err("the server waits for the upgrade");
    assert!(
        matches!(error, OpenError::Older { found: 1, .. }),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .contains("start this Garonne's historian once")
    );

    let mut store = open(&path).await;
    let version: i32 = rusqlite::Connection::open(&path)
        .and_then(|c| c.pragma_query_value(None, "user_version", |r| r.get(0)))
        .expect("version");
    assert_eq!(version, garonne_store::embedded::SCHEMA_VERSION);
    rusqlite::Connection::open(&path)
        .and_then(|c| c.prepare("SELECT value FROM aggregate").map(drop))
        .expect("the upgraded aggregate table has its value column");
    assert_eq!(hourly_rows(&path), hourly);
    assert_eq!(rows(&path, "reading"), raw);
    let history = EmbeddedHistory::open(&path).await.expect("upgraded");
    for (query, before) in queries.iter().zip(&before) {
        assert_same(&ask(&history, query).await, before);
    }

    // Hours rolled up before the upgrade take new late readings, once.
    let late = reading("s-0", T0 + 2 * HOUR + 7, &[(Quantity::Temperature, 50.0)]);
    let late = std::slice::from_ref(&late);
    assert_eq!(write_then_maintain(&mut store, late, now).await, (1, 0));
    assert_eq!(write_then_maintain(&mut store, late, now).await, (0, 1));
    temperatures.push((late[0].time_ns, 50.0));
    let want = expected(&temperatures, T0, T0 + 3 * HOUR, 3600);
    assert_buckets(&ask(&history, &queries[0]).await, &want);

    // Hours rolled up after it are idempotent: a week later the recent readings are rolled
    // up, and written again they are skipped.
    let later = now + 7 * DAY;
    let done = store.maintenance(ts(later)).await.expect("roll-up");
    assert_eq!(done.rolled_up, 3 * recent.len() as u64);
    let rolled = hourly_rows(&path);
    assert_eq!(
        write_then_maintain(&mut store, &recent, later).await,
        (0, 3 * recent.len() as u64)
    );
    assert_eq!(hourly_rows(&path), rolled);
}

#[tokio::test]
async fn points_without_a_table_are_kept_aside() {
    let (_dir, path, mut store) = new_store().await;
    let mut odd = reading("s-0", T0, &[(Quantity::Temperature, 10.0)]);
    odd.fields.push(("note", Field::Str("cleaned".to_owned())));
    odd.fields.push(("windSpeed", Field::Float(f64::NAN)));
    let mut untagged = reading("s-1", T0, &[(Quantity::Temperature, 10.0)]);
    untagged.tags.retain(|(k, _)| *k != "sensor");
    let unknown = Point {
        measurement: "weather",
        tags: vec![("station", "blagnac".to_owned())],
        fields: vec![("cloudy", Field::Bool(true))],
        time_ns: T0,
    };
    store
        .write(&[odd, untagged, unknown.clone()])
        .await
        .expect("write");
    store.write(&[unknown]).await.expect("write");
    assert_eq!(store.unmodelled_points(), 4);
    assert_eq!(rows(&path, "other_point"), 3);
    assert_eq!(rows(&path, "reading_recent"), 1, "the temperature of s-0");
    let conn =
        rusqlite::Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open");
    let fields: String = conn
        .query_row(
            "SELECT fields FROM other_point WHERE measurement = 'reading' AND tags LIKE '%s-0%'",
            [],
            |r| r.get(0),
        )
        .expect("the odd fields of s-0");
    assert_eq!(fields, r#"{"note":"cleaned","windSpeed":"NaN"}"#);
}

#[tokio::test]
async fn invalid_queries_say_what_to_change() {
    let (_dir, path, _store) = new_store().await;
    let history = history(&path).await;
    for (query, hint) in [
        (
            sensor_query("s", Quantity::Temperature, T0, T0 + HOUR, 0),
            "every_secs of 1 or more",
        ),
        (
            sensor_query("s", Quantity::Temperature, T0, T0, 60),
            "from must be before to",
        ),
        (
            neighbourhood_query("3", Quantity::Temperature, T0 + HOUR, T0, 60),
            "from must be before to",
        ),
    ] {
        match history.query(&query).await {
            Err(HistoryError::Invalid(message)) => assert!(message.contains(hint), "{message}"),
            other => panic!("{query:?} gave {other:?}"),
        }
    }
}

#[tokio::test]
async fn files_that_are_not_this_store_are_refused_with_what_to_do() {
    let dir = tempfile::tempdir().expect("temp dir");

    let missing = dir.path().join("missing.sqlite");
    let error = EmbeddedHistory::open(&missing).await.expect_err("no file");
    assert!(matches!(error, OpenError::Missing { .. }), "{error:?}");
    let text = error.to_string();
    assert!(
        text.contains("missing.sqlite") && text.contains("historian creates it"),
        "{text}"
    );

    let text_file = dir.path().join("notes.sqlite");
    let content = "these are notes, not a database\n".repeat(40);
    std::fs::write(&text_file, &content).expect("write");
    for error in [
        EmbeddedStore::open(&text_file, Retention::default())
            .await
            .expect_err("not SQLite"),
        EmbeddedHistory::open(&text_file)
            .await
            .expect_err("not SQLite"),
    ] {
        assert!(matches!(error, OpenError::NotSqlite { .. }), "{error:?}");
        let text = error.to_string();
        assert!(
            text.contains("notes.sqlite is not a SQLite database"),
            "{text}"
        );
    }
    assert_eq!(
        std::fs::read_to_string(&text_file).expect("read"),
        content,
        "left untouched"
    );

    let foreign = dir.path().join("foreign.sqlite");
    rusqlite::Connection::open(&foreign)
        .and_then(|c| c.execute_batch("CREATE TABLE recipes (name TEXT)"))
        .expect("another application's database");
    let error = EmbeddedStore::open(&foreign, Retention::default())
        .await
        .expect_err("foreign");
    assert!(matches!(error, OpenError::Foreign { .. }), "{error:?}");
    assert!(
        error.to_string().contains("not a Garonne embedded store"),
        "{error}"
    );

    let newer = dir.path().join("newer.sqlite");
    open(&newer).await.close().await.expect("close");
    let newer_version = garonne_store::embedded::SCHEMA_VERSION + 1;
    rusqlite::Connection::open(&newer)
        .and_then(|c| c.pragma_update(None, "user_version", newer_version))
        .expect("a newer schema version");
    for error in [
        EmbeddedStore::open(&newer, Retention::default())
            .await
            .expect_err("newer"),
        EmbeddedHistory::open(&newer).await.expect_err("newer"),
    ] {
        assert!(
            matches!(error, OpenError::Newer { found, .. } if found == newer_version),
            "{error:?}"
        );
        let text = error.to_string();
        assert!(
            text.contains("newer.sqlite") && text.contains("upgrade Garonne"),
            "{text}"
        );
    }

    let error = EmbeddedStore::open(
        dir.path().join("short.sqlite"),
        Retention {
            raw: Duration::from_secs(86_400),
            hourly: Duration::from_secs(3600),
        },
    )
    .await
    .expect_err("hourly shorter than raw");
    assert!(matches!(error, OpenError::Retention { .. }), "{error:?}");
}

/// Set in the child process of [`a_reader_in_another_process_sees_batches_as_they_commit`]:
/// the store's file, which the child reads.
const READER_ROLE: &str = "GARONNE_EMBEDDED_TEST_READER";
/// Readings of the probed sensor in each batch the parent writes.
const PROBE_PER_BATCH: u64 = 50;
/// Distinct counts the reader must see grow before it is satisfied.
const READER_SIGHTINGS: usize = 20;

/// One test, two processes. Without [`READER_ROLE`] it is the parent: it writes batches
/// continuously (and moves them to `reading` now and then, as maintenance does) while a copy of
/// this test binary, started with [`READER_ROLE`], queries the same file; the parent asserts on
/// the child's exit status and report. In the child, the same function reads: every query must
/// succeed (no SQLITE_BUSY), see whole batches only (a multiple of the batch's readings) and
/// never fewer than before, and see the count grow [`READER_SIGHTINGS`] times.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_in_another_process_sees_batches_as_they_commit() {
    if let Some(path) = std::env::var_os(READER_ROLE) {
        read_while_written(Path::new(&path)).await;
        return;
    }
    let (_dir, path, mut store) = new_store().await;
    let mut batch_number = 0;
    let mut write_batch = async |store: &mut EmbeddedStore| {
        store
            .write(&batch(batch_number))
            .await
            .expect("the parent writes");
        batch_number += 1;
    };
    write_batch(&mut store).await;

    let mut child = tokio::process::Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "a_reader_in_another_process_sees_batches_as_they_commit",
            "--exact",
            "--nocapture",
        ])
        .env(READER_ROLE, &path)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the child starts");
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut batches_during = 0;
    while child.try_wait().expect("child status").is_none() {
        assert!(
            Instant::now() < deadline,
            "the reader did not finish within 60 s"
        );
        write_batch(&mut store).await;
        batches_during += 1;
        if batches_during % 5 == 0 {
            store
                .maintenance(ts(T0))
                .await
                .expect("the parent moves rows");
        }
    }
    let output = child.wait_with_output().await.expect("the child's output");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the reader failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    assert!(
        stdout.contains("reader: saw the count grow"),
        "the child did not read (did it run the test?):\n{stdout}\n{stderr}"
    );
    assert!(
        batches_during >= READER_SIGHTINGS,
        "only {batches_during} batches written meanwhile"
    );
    println!("parent: {batches_during} batches written while the reader read\n{stdout}");
}

/// Batch `n`: [`PROBE_PER_BATCH`] readings of the probe, and 2,000 of other sensors.
fn batch(n: u64) -> Vec<Point> {
    let start = T0 + n as i64 * 100 * SEC;
    let mut points: Vec<Point> = (0..PROBE_PER_BATCH as i64)
        .map(|i| {
            reading(
                "probe",
                start + i * SEC,
                &[(Quantity::Temperature, n as f64)],
            )
        })
        .collect();
    points.extend((0..2000).map(|i| {
        reading(
            &format!("other-{i}"),
            start,
            &[
                (Quantity::Temperature, 1.0),
                (Quantity::RelativeHumidity, 0.5),
            ],
        )
    }));
    points
}

/// The child's part.
async fn read_while_written(path: &Path) {
    let history = EmbeddedHistory::open(path)
        .await
        .expect("the reader opens the store");
    let query = sensor_query("probe", Quantity::Temperature, T0, T0 + 1000 * DAY, 86_400);
    let deadline = Instant::now() + Duration::from_secs(30);
    let (mut queries, mut seen) = (0, vec![]);
    let mut last = 0;
    while seen.len() < READER_SIGHTINGS {
        let buckets = history
            .query(&query)
            .await
            .unwrap_or_else(|e| panic!("query {queries} failed while the writer writes: {e}"));
        queries += 1;
        let count: u64 = buckets.iter().map(|b| b.count).sum();
        assert_eq!(
            count % PROBE_PER_BATCH,
            0,
            "half a batch seen: {count} readings"
        );
        assert!(count >= last, "the count went back from {last} to {count}");
        if count > last {
            seen.push(count);
            last = count;
        }
        assert!(
            Instant::now() < deadline,
            "in 30 s and {queries} queries, the reader saw only the counts {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    println!(
        "reader: saw the count grow {} times in {queries} queries: {seen:?}",
        seen.len()
    );
}

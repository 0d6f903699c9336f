//! Write rate and history query times of the embedded store, on a file in a temporary
//! directory, with a fleet of 10,000 sensors each reading three quantities (a BME280's
//! temperature, humidity, pressure) once a minute, in time order, as the historian's drain hands
//! them over. Measured in the same run:
//! - `write`: batches of 5,000 reading points into a store already holding two hours of the
//!   fleet (3.6 million values: every sensor's rows span pages of their own, the steady state),
//!   the moves to `reading` they trigger included;
//! - `history`: a sensor's history over its last 2 hours and over 7 days (raw values, then
//!   hourly rows after a roll-up), with `reading_recent` just moved and nearly full (its rows
//!   fall in the 2 hours, so those queries scan them); a neighbourhood's over 2 hours of
//!   one-minute aggregates;
//! - the roll-up of the preloaded hours, timed once and printed;
//! - the bytes a rolled-up hour of one sensor and quantity takes in the file (its hourly row and
//!   the record of its times), for a station reporting every 15 minutes and for a 1 Hz sensor,
//!   measured once on stores of their own and printed.
//!
//! Run: `cargo bench -p garonne-store --bench embedded`. Figures go in BENCHMARKS.md.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use garonne_payload::{Quantity, Timestamp};
use garonne_store::embedded::{COMPACT_ROWS, EmbeddedHistory, EmbeddedStore, Retention};
use garonne_store::history::{History, Query, Subject};
use garonne_store::point::{Field, Point};
use garonne_store::store::Store;

#[path = "../tests/support/points.rs"]
#[allow(
    dead_code,
    reason = "the tests' helpers beside the ones the benches use"
)]
mod points;

const SENSORS: usize = 10_000;
const BATCH: usize = 5_000;
const SEC: i64 = 1_000_000_000;
const MINUTE: i64 = 60 * SEC;
const HOUR: i64 = 60 * MINUTE;
/// 2025-11-24T00:00:00Z: the fleet starts here; the probe's week ends here.
const T0: i64 = 1_763_942_400 * SEC;
/// Minutes of the fleet written before measuring.
const PRELOAD_MINUTES: i64 = 120;

/// The reading point of sensor `i` at minute `minute`: sensors report in turn, 6 ms apart.
fn point(i: usize, minute: i64) -> Point {
    let x = (i as f64 * 0.618 + minute as f64 * 0.1).fract();
    Point {
        measurement: "reading",
        tags: vec![
            ("kind", "bme280".to_owned()),
            ("sensor", format!("bench-{i:05}")),
            ("source", "simulator".to_owned()),
        ],
        fields: vec![
            ("temperature", Field::Float(10.0 + 5.0 * x)),
            ("relativeHumidity", Field::Float(0.5 + 0.4 * x)),
            ("atmosphericPressure", Field::Float(990.0 + 20.0 * x)),
            ("lat", Field::Float(43.6 + i as f64 * 1e-5)),
            ("lon", Field::Float(1.44 + i as f64 * 1e-5)),
            ("seq", Field::Int(minute)),
        ],
        time_ns: T0 + minute * MINUTE + i as i64 * 6_000_000,
    }
}

/// The fleet's stream, cut in batches: batch `n` holds sensors of one half of minute `n / 2`.
fn fleet_batch(n: i64) -> Vec<Point> {
    let (minute, half) = (n / 2, (n % 2) as usize);
    (half * BATCH..(half + 1) * BATCH)
        .map(|i| point(i, minute))
        .collect()
}

fn query(subject: Subject, from: i64, to: i64, every_secs: u32) -> Query {
    Query {
        subject,
        quantity: Quantity::Temperature,
        from: Timestamp::UNIX_EPOCH.add_nanos(from),
        to: Timestamp::UNIX_EPOCH.add_nanos(to),
        every_secs,
    }
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("history.sqlite");
    let mut store = runtime
        .block_on(EmbeddedStore::open(&path, Retention::default()))
        .expect("store");

    // The probe: one sensor's week, once a minute, before the fleet starts.
    let week: Vec<Point> = (0..7 * 24 * 60)
        .map(|m| Point {
            tags: vec![
                ("kind", "bme280".to_owned()),
                ("sensor", "probe".to_owned()),
                ("source", "simulator".to_owned()),
            ],
            ..point(0, m - 7 * 24 * 60)
        })
        .collect();
    let aggregates: Vec<Point> = (0..PRELOAD_MINUTES)
        .flat_map(|m| {
            (0..60).flat_map(move |n| {
                [
                    Quantity::Temperature,
                    Quantity::RelativeHumidity,
                    Quantity::AtmosphericPressure,
                ]
                .map(|q| {
                    let id = n.to_string();
                    points::aggregate(&id, q, T0 + m * MINUTE, [12.0, 10.0, 14.0], (160, 160))
                })
            })
        })
        .collect();
    let started = Instant::now();
    runtime.block_on(async {
        for batch in week.chunks(BATCH).chain(aggregates.chunks(BATCH)) {
            store.write(batch).await.expect("preload");
        }
        for n in 0..PRELOAD_MINUTES * 2 {
            store.write(&fleet_batch(n)).await.expect("preload");
        }
    });
    let preload = PRELOAD_MINUTES as usize * SENSORS;
    eprintln!(
        "preload: {preload} fleet points in {:.1} s ({:.0} points/s)",
        started.elapsed().as_secs_f64(),
        preload as f64 / started.elapsed().as_secs_f64()
    );

    let mut next = PRELOAD_MINUTES * 2;
    let mut group = c.benchmark_group("embedded");
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(20));
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("write", |b| {
        b.iter_custom(|iters| {
            let mut took = Duration::ZERO;
            for _ in 0..iters {
                let batch = fleet_batch(next);
                next += 1;
                let start = Instant::now();
                runtime.block_on(store.write(&batch)).expect("write");
                took += start.elapsed();
            }
            took
        })
    });

    let history = runtime
        .block_on(EmbeddedHistory::open(&path))
        .expect("history");
    let sensor = || Subject::Sensor("bench-00042".to_owned());
    let probe = || Subject::Sensor("probe".to_owned());
    // The last two hours, up to the newest batch written (the preload's end at the latest).
    let end = T0 + (next / 2 + 1) * MINUTE + COMPACT_ROWS as i64 / 3 / SENSORS as i64 * MINUTE;
    let queries = [
        (
            "sensor 2 h every 60 s",
            query(sensor(), end - 2 * HOUR, end, 60),
        ),
        (
            "sensor 2 h every 3600 s",
            query(sensor(), end - 2 * HOUR, end, 3600),
        ),
        (
            "sensor 7 days every 3600 s",
            query(probe(), T0 - 168 * HOUR, T0, 3600),
        ),
        (
            "neighbourhood 2 h every 300 s",
            query(
                Subject::Neighbourhood("7".to_owned()),
                T0,
                T0 + 2 * HOUR,
                300,
            ),
        ),
    ];
    group.throughput(Throughput::Elements(1));
    let ask = |group: &mut criterion::BenchmarkGroup<_>, case: &str| {
        for (name, query) in &queries {
            let buckets = runtime.block_on(history.query(query)).expect("query");
            assert!(!buckets.is_empty(), "{name}: no data");
            group.bench_function(format!("history {name}, {case}"), |b| {
                b.iter(|| runtime.block_on(history.query(black_box(query))))
            });
        }
    };
    // Right after a move: `reading_recent` empty.
    runtime
        .block_on(store.maintenance(Timestamp::UNIX_EPOCH.add_nanos(T0)))
        .expect("move");
    ask(&mut group, "recent rows moved");
    // Just before the next move: `reading_recent` nearly full, scanned by every query.
    let batches = COMPACT_ROWS / (3 * BATCH as u64) - 1;
    runtime.block_on(async {
        for _ in 0..batches {
            store.write(&fleet_batch(next)).await.expect("write");
            next += 1;
        }
    });
    ask(
        &mut group,
        &format!("{} recent values", batches * 3 * BATCH as u64),
    );

    // Roll-up of everything written: the week of the probe and the fleet's hours.
    let later = Timestamp::UNIX_EPOCH.add_nanos(T0 + 8 * 24 * HOUR);
    let started = Instant::now();
    let done = runtime.block_on(store.maintenance(later)).expect("roll-up");
    eprintln!(
        "maintenance: {} values rolled up into hourly rows in {:.1} s",
        done.rolled_up,
        started.elapsed().as_secs_f64()
    );
    let hourly = query(probe(), T0 - 168 * HOUR, T0, 3600);
    group.bench_function("history sensor 7 days every 3600 s, hourly rows", |b| {
        b.iter(|| runtime.block_on(history.query(black_box(&hourly))))
    });
    group.finish();
    runtime.block_on(store.close()).expect("close");
}

/// How one sensor reports, for [`rolled_hour_bytes`].
struct Cadence {
    name: &'static str,
    sensors: usize,
    hours: i64,
    every_ns: i64,
    /// Each time moves by up to this much, in whole milliseconds (0: exact times).
    jitter_ms: u64,
}

/// Writes `cadence`'s sensors (temperature only) for its hours three weeks back, rolls them up
/// and prints the bytes of `reading_hourly` and of the record of rolled times per rolled hour
/// of one sensor (SQLite's `dbstat`: pages, overhead included).
fn rolled_hour_bytes(runtime: &tokio::runtime::Runtime, cadence: &Cadence) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("sizes.sqlite");
    let start = T0 - 21 * 24 * HOUR;
    let mut seed = 0x9E37_79B9_7F4A_7C15_u64;
    let mut jitter = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        if cadence.jitter_ms == 0 {
            0
        } else {
            (seed % (2 * cadence.jitter_ms + 1)) as i64 - cadence.jitter_ms as i64
        }
    };
    runtime.block_on(async {
        let mut store = EmbeddedStore::open(&path, Retention::default())
            .await
            .expect("store");
        let mut batch = Vec::with_capacity(BATCH);
        let mut t = start;
        while t < start + cadence.hours * HOUR {
            for i in 0..cadence.sensors {
                batch.push(Point {
                    measurement: "reading",
                    tags: vec![("sensor", format!("size-{i:05}"))],
                    fields: vec![("temperature", Field::Float(12.5 + (i % 7) as f64))],
                    time_ns: t + i as i64 * 6_000_000 + jitter() * 1_000_000,
                });
                if batch.len() == BATCH {
                    store.write(&batch).await.expect("write");
                    batch.clear();
                }
            }
            t += cadence.every_ns;
        }
        store.write(&batch).await.expect("write");
        store
            .maintenance(Timestamp::UNIX_EPOCH.add_nanos(T0))
            .await
            .expect("roll-up");
        store.close().await.expect("close");
    });
    let conn = rusqlite::Connection::open(&path).expect("open");
    let bytes = |tables: &str| -> i64 {
        conn.query_row(
            &format!("SELECT coalesce(sum(pgsize), 0) FROM dbstat WHERE name IN ({tables})"),
            [],
            |r| r.get(0),
        )
        .expect("dbstat")
    };
    let rows: i64 = conn
        .query_row("SELECT count(*) FROM reading_hourly", [], |r| r.get(0))
        .expect("rows");
    let hourly = bytes("'reading_hourly'");
    let times = bytes("'reading_hourly_times'");
    eprintln!(
        "rolled hour, {}: {rows} hourly rows, {:.1} bytes each in reading_hourly + {:.1} in \
         reading_hourly_times = {:.1} bytes per sensor and hour",
        cadence.name,
        hourly as f64 / rows as f64,
        times as f64 / rows as f64,
        (hourly + times) as f64 / rows as f64,
    );
}

fn sizes(_: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    for cadence in [
        Cadence {
            name: "station every 15 min",
            sensors: 2_000,
            hours: 48,
            every_ns: 15 * MINUTE,
            jitter_ms: 0,
        },
        Cadence {
            name: "1 Hz sensor, whole seconds",
            sensors: 10,
            hours: 24,
            every_ns: SEC,
            jitter_ms: 0,
        },
        Cadence {
            name: "1 Hz sensor, milliseconds, +-50 ms jitter",
            sensors: 10,
            hours: 24,
            every_ns: SEC,
            jitter_ms: 50,
        },
    ] {
        rolled_hour_bytes(&runtime, &cadence);
    }
}

criterion_group!(benches, bench, sizes);
criterion_main!(benches);

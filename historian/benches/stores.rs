//! Store-only write rates: the historian's reading points, in batches of 5,000, straight into
//! each store through the [`Store`] trait: no MQTT, no spool. `bench/historian.sh` measures the
//! whole pipeline (broker → spool → store); the difference is what MQTT and the spool cost.
//!
//! The points come the historian's way: readings of the simulator's shape (10,077 sensors, 77
//! stations and 10,000 virtual sensors, three quantities each, every sensor 10 ms apart, as
//! `garonne simulate --density 500 --rate 100` makes them) encoded as JSON, then turned into
//! points by [`schema::points`], whose rate is printed too, with the line-protocol encoding's:
//! both are CPU the drain spends per batch besides the store's own time.
//!
//! Each store is written sequentially, one batch at a time, as the historian's drain does, then
//! (InfluxDB and VictoriaMetrics) by two writers at once, on a fresh server, to show whether
//! the store would take more with more than one write in flight. Every run ends by counting the
//! readings in the store.
//!
//! Run: `cargo bench -p garonne-historian --bench stores` (GARONNE_BENCH_POINTS sets the number
//! of points per run, 1,000,000 by default). influxd and victoria-metrics come from Debian
//! (`scripts/install-test-deps.sh`); a store whose server is missing is skipped.

use std::time::{Duration, Instant, SystemTime};

use garonne_historian::schema;
use garonne_payload::{Limits, Location, Quantity, Reading, Source, Timestamp, Topics};
use garonne_store::embedded::{EmbeddedStore, Retention};
use garonne_store::influx::{Credentials, InfluxV1, InfluxV2};
use garonne_store::lineproto;
use garonne_store::point::Point;
use garonne_store::store::Store;
use garonne_testkit::{Influxd, Victoria};

const STATIONS: usize = 77;
const VIRTUAL: usize = 10_000;
const SENSORS: usize = STATIONS + VIRTUAL;
const BATCH: usize = 5_000;
/// Every sensor reads every 10 ms (`--rate 100`), the fleet spread evenly over that period.
const PERIOD_NS: i64 = 10_000_000;
const DB: &str = "garonne";

/// A server started with `start` (off the runtime: it blocks until the server answers) and
/// `writers` stores on it, made by `store`; `None` when the server is not installed.
async fn server_and_stores<T: Send + 'static, S>(
    start: fn() -> Option<T>,
    writers: usize,
    store: impl Fn(&T) -> S,
) -> Option<(T, Vec<S>)> {
    let server = tokio::task::spawn_blocking(start).await.expect("start")?;
    let stores = (0..writers).map(|_| store(&server)).collect();
    Some((server, stores))
}

/// Reading `n` of the stream: sensor `n % SENSORS`, round `n / SENSORS`.
fn reading(n: usize, start: Timestamp) -> Reading {
    let (sensor, round) = (n % SENSORS, (n / SENSORS) as i64);
    let phase = PERIOD_NS / SENSORS as i64 * sensor as i64;
    let time = start.add_nanos(round * PERIOD_NS + phase);
    let x = (sensor as f64 * 0.618 + round as f64 * 0.01).fract();
    let location = Location::new(1.35 + 0.15 * x, 43.55 + 0.1 * (1.0 - x));
    let mut r = if sensor < STATIONS {
        Reading::new(
            format!("{sensor:02}-station-meteo-toulouse-bench"),
            "weather-station",
            Source::OpendataEstimate,
            time,
            round as u64,
            location,
        )
    } else {
        let v = sensor - STATIONS;
        Reading::new(
            format!("virtual-{:02}-{:03}", v / 500, v % 500),
            "virtual",
            Source::Virtual,
            time,
            round as u64,
            location,
        )
    };
    r.quantities
        .set(Quantity::Temperature, 10.0 + 8.0 * x)
        .set(Quantity::RelativeHumidity, 0.5 + 0.4 * x)
        .set(Quantity::AtmosphericPressure, 985.0 + 20.0 * x);
    r
}

/// `count` messages of the stream (topic, payload), readings `from..from + count`.
fn messages(from: usize, count: usize, start: Timestamp) -> Vec<(String, Vec<u8>)> {
    let topics = Topics::new("garonne").expect("the default prefix");
    (from..from + count)
        .map(|n| {
            let r = reading(n, start);
            (topics.reading(&r.sensor_id), r.to_json())
        })
        .collect()
}

/// The points of `messages`, as the drain makes them; and the seconds it took.
fn points(messages: &[(String, Vec<u8>)], received: Timestamp) -> (Vec<Point>, f64) {
    let topics = Topics::new("garonne").expect("the default prefix");
    let limits = Limits::default();
    let mut out = Vec::with_capacity(messages.len());
    let started = Instant::now();
    for (topic, payload) in messages {
        schema::points(&topics, topic, payload, received, &limits, &mut out)
            .expect("a valid reading");
    }
    (out, started.elapsed().as_secs_f64())
}

/// What one run measured.
struct Run {
    secs: f64,
    batch_ms: Vec<f64>,
}

/// Writes `points` in batches with `writers` stores at once (batch `i` to writer `i % writers`,
/// each writer in order, one batch in flight each).
async fn write<S: Store + 'static>(stores: Vec<S>, points: &'static [Point]) -> Run {
    let writers = stores.len();
    let started = Instant::now();
    let tasks: Vec<_> = stores
        .into_iter()
        .enumerate()
        .map(|(w, mut store)| {
            tokio::spawn(async move {
                let mut times = Vec::new();
                for batch in points.chunks(BATCH).skip(w).step_by(writers) {
                    let t = Instant::now();
                    store.write(batch).await.expect("the store takes the batch");
                    times.push(t.elapsed().as_secs_f64() * 1000.0);
                }
                times
            })
        })
        .collect();
    let mut batch_ms = Vec::new();
    for task in tasks {
        batch_ms.extend(task.await.expect("a writer"));
    }
    Run {
        secs: started.elapsed().as_secs_f64(),
        batch_ms,
    }
}

fn row(store: &str, writers: usize, points: usize, run: &Run, stored: u64) {
    let mut ms = run.batch_ms.clone();
    ms.sort_by(f64::total_cmp);
    let mean = ms.iter().sum::<f64>() / ms.len().max(1) as f64;
    let p99 = ms
        .get(((ms.len() as f64 * 0.99).ceil() as usize).saturating_sub(1))
        .copied()
        .unwrap_or(0.0);
    let all = if stored == points as u64 {
        "yes".to_owned()
    } else {
        format!("**no: {stored}**")
    };
    println!(
        "| {store} | {writers} | {points} | {all} | {:.1} | **{:.0}** | {mean:.1} | {p99:.1} |",
        run.secs,
        points as f64 / run.secs,
    );
}

async fn influx_count(url: &str, db: &str) -> u64 {
    let text = reqwest::Client::new()
        .get(
            reqwest::Url::parse_with_params(
                &format!("{url}/query"),
                [("db", db), ("q", "SELECT count(\"seq\") FROM \"reading\"")],
            )
            .expect("a URL"),
        )
        .send()
        .await
        .expect("InfluxDB answers")
        .text()
        .await
        .expect("an answer");
    let body: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    body.pointer("/results/0/series/0/values/0/1")
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(0)
}

async fn victoria_count(url: &str) -> u64 {
    let client = reqwest::Client::new();
    client
        .get(format!("{url}/internal/force_flush"))
        .send()
        .await
        .expect("VictoriaMetrics answers");
    let text = client
        .get(
            reqwest::Url::parse_with_params(
                &format!("{url}/api/v1/export"),
                [("match[]", "reading_seq")],
            )
            .expect("a URL"),
        )
        .send()
        .await
        .expect("VictoriaMetrics answers")
        .text()
        .await
        .expect("an export");
    text.lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .map(|series| series["values"].as_array().map_or(0, Vec::len) as u64)
        .sum()
}

fn main() {
    let count: usize = std::env::var("GARONNE_BENCH_POINTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // An hour ago: recent enough for every store's retention and the payload's time checks.
    let now = Timestamp::from_system_time(SystemTime::now());
    let start = now.add_nanos(-3_600_000_000_000);

    let stream = messages(0, count, start);
    let bytes: usize = stream.iter().map(|(t, p)| t.len() + p.len()).sum();
    let (points, parse_secs) = points(&stream, now);
    drop(stream);
    let points: &'static [Point] = Vec::leak(points);
    let encode_started = Instant::now();
    let lines: usize = points
        .chunks(BATCH)
        .map(|b| lineproto::encode_all(b).len())
        .sum();
    let encode_secs = encode_started.elapsed().as_secs_f64();

    println!(
        "{count} reading points of {SENSORS} sensors (3 quantities each; {:.0} bytes per message, {:.0} of line protocol per point), batches of {BATCH}, {} cores",
        bytes as f64 / count as f64,
        lines as f64 / count as f64,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!();
    println!("| step (CPU, one core, no I/O) | per point (µs) | points/s |");
    println!("|---|---|---|");
    for (step, secs) in [
        (
            "message → point (`schema::points`: JSON parse, validation)",
            parse_secs,
        ),
        (
            "point → line protocol (`lineproto::encode_all`)",
            encode_secs,
        ),
    ] {
        println!(
            "| {step} | {:.2} | {:.0} |",
            secs * 1e6 / count as f64,
            count as f64 / secs
        );
    }
    println!();
    println!(
        "| store | writers | points | all stored | seconds | points/s | batch write mean (ms) | batch write p99 (ms) |"
    );
    println!("|---|---|---|---|---|---|---|---|");

    runtime.block_on(async {
        for writers in [1, 2] {
            let Some((influxd, stores)) = server_and_stores(Influxd::start_or_skip, writers, |s| {
                InfluxV1::new(&s.url(), DB, Credentials::None).expect("a store")
            })
            .await
            else {
                break;
            };
            stores[0].create_database().await.expect("CREATE DATABASE");
            let run = write(stores, points).await;
            let stored = influx_count(&influxd.url(), DB).await;
            row("InfluxDB 1.6 (v1 API)", writers, count, &run, stored);
            drop(influxd);
        }
        for writers in [1, 2] {
            let Some((vm, stores)) = server_and_stores(Victoria::start_or_skip, writers, |s| {
                InfluxV2::new(&s.url(), DB, DB, "").expect("a store")
            })
            .await
            else {
                break;
            };
            let run = write(stores, points).await;
            let mut stored = 0;
            for _ in 0..10 {
                stored = victoria_count(&vm.url()).await;
                if stored >= count as u64 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            row(
                "VictoriaMetrics 1.79 (v2 API)",
                writers,
                count,
                &run,
                stored,
            );
            drop(vm);
        }
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("history.sqlite");
        match EmbeddedStore::open(&path, Retention::default()).await {
            Ok(store) => {
                let run = write(vec![store], points).await;
                let stored = tokio::task::spawn_blocking(move || {
                    let conn = rusqlite::Connection::open(&path).expect("the file");
                    conn.query_row(
                        "SELECT count(*) FROM (SELECT sensor, time_ns FROM reading_recent \
                         UNION SELECT sensor, time_ns FROM reading)",
                        [],
                        |r| r.get::<_, i64>(0),
                    )
                    .expect("a count") as u64
                })
                .await
                .expect("count");
                row("embedded (SQLite)", 1, count, &run, stored);
            }
            Err(e) => println!("| embedded (SQLite) | — | cannot open: {e} | | | | | |"),
        }
    });
}

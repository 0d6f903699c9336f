//! Raw readings read back and sessions counted, against the same rows read by the plainest
//! query, measured in the same run:
//! - the embedded store holding a car's 10-minute session: 200 channels at 100 Hz (60,000
//!   readings, 12 million values) written as the historian writes them;
//!   - `scan`: every value through [`Pages`] (pages of 10,000, the default) against the
//!     baseline `SELECT time_ns, value FROM reading` over the whole table (no order across
//!     series, no names: the least a reader can do);
//!   - `sessions`: the car's sessions against the baseline `SELECT count(*) FROM reading`;
//! - InfluxDB 1.x (when `influxd` is installed) holding the first minute of it (1.2 million
//!   values): `scan` through pages against one raw query of the whole minute.
//!
//! Run: `cargo bench -p garonne-store --bench readings`. Figures go in BENCHMARKS.md.

use std::time::Instant;

use garonne_payload::Timestamp;
use garonne_store::embedded::{EmbeddedHistory, EmbeddedStore, Retention};
use garonne_store::influx::{Credentials, InfluxQl, InfluxV1};
use garonne_store::point::{Field, Point};
use garonne_store::readings::{DEFAULT_PAGE, Pages, Readings, Scan};
use garonne_store::sessions::{SessionQuery, sessions};
use garonne_store::store::Store;

const CHANNELS: usize = 200;
const HZ: i64 = 100;
const SECONDS: i64 = 600;
const SEC: i64 = 1_000_000_000;
/// 2025-11-24T10:00:00Z.
const START: i64 = 1_763_978_400 * SEC;

fn ts(ns: i64) -> Timestamp {
    Timestamp::UNIX_EPOCH.add_nanos(ns)
}

/// The channel names, static as point fields are.
fn channels() -> Vec<&'static str> {
    (0..CHANNELS)
        .map(|i| &*Box::leak(format!("ch{i:03}").into_boxed_str()))
        .collect()
}

/// The car's readings `from..to` (indices of 10 ms steps).
fn readings(names: &[&'static str], from: i64, to: i64) -> Vec<Point> {
    (from..to)
        .map(|i| Point {
            measurement: "reading",
            tags: vec![("sensor", "car-1".to_owned()), ("source", "can".to_owned())],
            fields: names
                .iter()
                .enumerate()
                .map(|(c, n)| (*n, Field::Float((i + c as i64) as f64 * 0.5)))
                .collect(),
            time_ns: START + i * SEC / HZ + 3,
        })
        .collect()
}

/// Every value of the scan, page by page: (values, seconds).
async fn scan_all(readings: &impl Readings, to: i64) -> (u64, f64) {
    let scan = Scan::new(vec!["car-1".into()], ts(START), ts(to));
    let started = Instant::now();
    let mut pages = Pages::new(readings, scan, DEFAULT_PAGE);
    let mut values = 0_u64;
    let mut last = i64::MIN;
    while let Some(page) = pages.next().await {
        for s in page.expect("page") {
            assert!(s.time_ns >= last, "time order");
            last = s.time_ns;
            values += 1;
        }
    }
    (values, started.elapsed().as_secs_f64())
}

fn report(what: &str, values: u64, secs: f64, baseline: f64) {
    println!(
        "{what}: {values} values in {secs:.2} s ({:.0} values/s), {:.2}x the baseline's time",
        values as f64 / secs,
        secs / baseline
    );
}

#[tokio::main]
async fn main() {
    let names = channels();
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("history.sqlite");
    let mut store = EmbeddedStore::open(&path, Retention::default())
        .await
        .expect("store");
    let started = Instant::now();
    let steps = SECONDS * HZ;
    for from in (0..steps).step_by(500) {
        store
            .write(&readings(&names, from, from + 500))
            .await
            .expect("write");
    }
    store
        .maintenance(ts(START + SECONDS * SEC))
        .await
        .expect("compaction");
    let total = (steps as usize * CHANNELS) as u64;
    println!(
        "embedded: wrote {total} values in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // Baseline: every row of `reading`, as stored.
    let conn =
        rusqlite::Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("connection");
    let started = Instant::now();
    let mut statement = conn
        .prepare("SELECT time_ns, value FROM reading")
        .expect("statement");
    let mut rows = statement.query([]).expect("rows");
    let (mut n, mut sum) = (0_u64, 0.0);
    while let Some(row) = rows.next().expect("row") {
        let (_, v): (i64, f64) = (row.get(0).expect("time"), row.get(1).expect("value"));
        n += 1;
        sum += v;
    }
    let baseline = started.elapsed().as_secs_f64();
    assert_eq!(n, total, "{sum}");
    report(
        "embedded baseline SELECT time_ns, value",
        n,
        baseline,
        baseline,
    );

    let history = EmbeddedHistory::open(&path).await.expect("reader");
    let (values, secs) = scan_all(&history, START + SECONDS * SEC).await;
    assert_eq!(values, total);
    report(
        "embedded scan, pages of 10,000, time order",
        values,
        secs,
        baseline,
    );

    let started = Instant::now();
    let count: i64 = conn
        .query_row("SELECT count(*) FROM reading", [], |r| r.get(0))
        .expect("count");
    let baseline = started.elapsed().as_secs_f64();
    println!("embedded baseline SELECT count(*): {count} in {baseline:.3} s");
    let query = SessionQuery {
        sensor: "car-1".into(),
        from: ts(START - 3_600 * SEC),
        to: ts(START + 3_600 * SEC),
        gap_secs: 60,
    };
    let started = Instant::now();
    let found = sessions(&history, &query).await.expect("sessions");
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].samples, total);
    println!(
        "embedded sessions: {} session of {} values in {secs:.3} s, {:.2}x the count's time",
        found.len(),
        found[0].samples,
        secs / baseline
    );

    let Some(influxd) = garonne_testkit::Influxd::start_or_skip() else {
        return;
    };
    let mut influx = InfluxV1::new(&influxd.url(), "bench", Credentials::None).expect("url");
    influx.create_database().await.expect("database");
    let minute = 60 * HZ;
    for from in (0..minute).step_by(100) {
        influx
            .write(&readings(&names, from, from + 100))
            .await
            .expect("write");
    }
    let reader = InfluxQl::new(&influxd.url(), "bench", Credentials::None).expect("url");
    let started = Instant::now();
    let mut url = reqwest::Url::parse(&format!("{}/query", influxd.url())).expect("url");
    url.query_pairs_mut()
        .append_pair("db", "bench")
        .append_pair("epoch", "ns")
        .append_pair(
            "q",
            &format!(
                "SELECT * FROM \"reading\" WHERE time >= {START} AND time < {}",
                START + 60 * SEC
            ),
        );
    let body = reqwest::Client::new()
        .get(url)
        .send()
        .await
        .expect("query")
        .text()
        .await
        .expect("body");
    let answer: serde_json::Value = serde_json::from_str(&body).expect("json");
    let rows = answer["results"][0]["series"][0]["values"]
        .as_array()
        .map_or(0, Vec::len);
    let baseline = started.elapsed().as_secs_f64();
    assert_eq!(rows as i64, minute);
    let values = (rows * CHANNELS) as u64;
    report(
        "InfluxDB baseline: one raw query of the minute",
        values,
        baseline,
        baseline,
    );
    let (values, secs) = scan_all(&reader, START + 60 * SEC).await;
    assert_eq!(values, (minute as usize * CHANNELS) as u64);
    report(
        "InfluxDB scan, pages of 10,000, time order",
        values,
        secs,
        baseline,
    );
}

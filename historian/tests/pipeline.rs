//! The whole path, broker to history: the simulator's fleet (with faults) through a real
//! mosquitto, two historians (the same `serve` as `garonne historian`), one into InfluxDB 1.6,
//! one into the embedded store, and a subscriber that records every reading. The history each
//! store answers, through InfluxQL and through SQL, is recomputed here from the subscriber's
//! readings: counts, min and max exactly, means to 1e-9; and the two stores agree.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use common::{Historian, publish_probe};
use garonne_payload::{Limits, Quantity, Timestamp, parse_reading};
use garonne_simulator::fleet::FleetConfig;
use garonne_simulator::simulate;
use garonne_store::config::{InfluxV1Config, StoreConfig};
use garonne_store::embedded::{EmbeddedHistory, EmbeddedStore, Retention};
use garonne_store::history::{Bucket, History, Query, Subject};
use garonne_store::influx::{Credentials, InfluxQl, InfluxV1};
use garonne_testkit::{Influxd, Mosquitto, Subscriber};
use tokio_util::sync::CancellationToken;

const DB: &str = "garonne";
const PREFIX: &str = "pipeline";
/// History intervals: one minute.
const EVERY: u32 = 60;

/// The statistics of one interval, recomputed from readings.
#[derive(Default)]
struct Expected {
    values: Vec<f64>,
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

fn same(got: &[Bucket], want: &[Bucket]) -> bool {
    got.len() == want.len()
        && got.iter().zip(want).all(|(g, w)| {
            g.start == w.start
                && g.count == w.count
                && g.min == w.min
                && g.max == w.max
                && close(g.mean, w.mean)
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn influxdb_and_the_embedded_store_answer_the_history_the_readings_make() {
    let (Some(broker), Some(influx)) = (Mosquitto::start_or_skip(), Influxd::start_or_skip())
    else {
        return;
    };
    let influx_store = InfluxV1::new(&influx.url(), DB, Credentials::None).expect("store");
    influx_store.create_database().await.expect("database");
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("history.sqlite");
    let embedded_store = EmbeddedStore::open(&file, Retention::default())
        .await
        .expect("embedded store");

    let config = |name: &str, store: StoreConfig| {
        let spool = dir.path().join(format!("spool-{name}"));
        common::config(&broker, PREFIX, name, spool, store)
    };
    let mut sub = Subscriber::start(
        &broker,
        &format!("{PREFIX}-recorder"),
        &[&format!("{PREFIX}/v1/sensors/+/reading")],
    )
    .await;
    publish_probe(&broker, PREFIX).await;
    let influx_config = StoreConfig::InfluxV1(InfluxV1Config {
        url: influx.url(),
        db: DB.to_owned(),
    });
    let to_influx = Historian::start(config("influx", influx_config), influx_store).await;
    let embedded_config = StoreConfig::embedded(file.clone());
    let to_embedded = Historian::start(config("embedded", embedded_config), embedded_store).await;
    // Subscribed once each has taken the retained probe.
    to_influx.wait_subscribed().await;
    to_embedded.wait_subscribed().await;

    let fleet = FleetConfig {
        speed: 600.0,
        rate_hz: 4.0,
        density: 1,
        seed: 17,
        faults: 0.05,
        ..FleetConfig::default()
    };
    let fleet = common::fleet(&broker, PREFIX, fleet, 5);
    let simulated = tokio::time::timeout(
        Duration::from_secs(60),
        simulate::run(fleet, CancellationToken::new()),
    )
    .await
    .expect("the simulator stops")
    .expect("the simulator runs");
    assert!(simulated.delivered);

    // The readings, as the recorder saw them: valid ones, each (sensor, time) once.
    let messages = sub
        .wait_for("every reading", Duration::from_secs(20), |m| {
            m.len() as u64 == simulated.published
        })
        .await
        .to_vec();
    let far_future = Timestamp::new(i64::MAX / 4, 0).expect("far future");
    let mut seen = HashSet::new();
    // (sensor, quantity) → interval start → values
    let mut expected: BTreeMap<(String, Quantity), BTreeMap<i64, Expected>> = BTreeMap::new();
    let (mut valid, mut from, mut to) = (0u64, i64::MAX, i64::MIN);
    for m in &messages {
        let Ok(r) = parse_reading(&m.payload, far_future, &Limits::default()) else {
            continue;
        };
        let ns = r.time.unix_nanos() as i64;
        if !seen.insert((r.sensor_id.clone(), ns)) {
            continue; // a repeat: the stores keep one point
        }
        valid += 1;
        from = from.min(r.time.unix_secs());
        to = to.max(r.time.unix_secs() + 1);
        let start = r.time.unix_secs().div_euclid(i64::from(EVERY)) * i64::from(EVERY);
        for (q, v) in r.quantities.iter() {
            expected
                .entry((r.sensor_id.clone(), q))
                .or_default()
                .entry(start)
                .or_default()
                .values
                .push(v);
        }
    }
    assert!(valid > 500, "{valid} valid readings");

    // Both historians have taken every message (the readings, valid or not, and the fleet's
    // statuses: online then offline for each sensor and the simulator itself; the probe) and emptied
    // their spool into their store. (Points written is no measure: statuses are points too.)
    let messages = simulated.published + 2 * (simulated.sensors as u64 + 1) + 1;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    for h in [&to_influx, &to_embedded] {
        while (h.metric("garonne_historian_messages_received_total").await as u64) < messages {
            assert!(tokio::time::Instant::now() < deadline, "not all received");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        h.wait_drained().await;
    }
    let (a, b) = (to_influx.stop().await, to_embedded.stop().await);
    assert_eq!(a.skipped, b.skipped, "both skip the same faulty payloads");

    let influxql = InfluxQl::new(&influx.url(), DB, Credentials::None).expect("InfluxQL");
    let sqlite = EmbeddedHistory::open(&file)
        .await
        .expect("read-only history");
    let (from, to) = (
        Timestamp::new(from, 0).expect("from"),
        Timestamp::new(to, 0).expect("to"),
    );
    let mut compared = 0;
    for ((sensor, quantity), intervals) in &expected {
        let want: Vec<Bucket> = intervals
            .iter()
            .map(|(start, e)| Bucket {
                start: Timestamp::new(*start, 0).expect("start"),
                mean: e.values.iter().sum::<f64>() / e.values.len() as f64,
                min: e.values.iter().copied().fold(f64::INFINITY, f64::min),
                max: e.values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                count: e.values.len() as u64,
            })
            .collect();
        let query = Query {
            subject: Subject::Sensor(sensor.clone()),
            quantity: *quantity,
            from,
            to,
            every_secs: EVERY,
        };
        let from_influx = influxql.query(&query).await.expect("InfluxQL answers");
        let from_sqlite = sqlite.query(&query).await.expect("SQLite answers");
        assert!(
            same(&from_influx, &want),
            "InfluxDB, {sensor} {quantity:?}: {from_influx:?}, recomputed {want:?}"
        );
        assert!(
            same(&from_sqlite, &want),
            "embedded, {sensor} {quantity:?}: {from_sqlite:?}, recomputed {want:?}"
        );
        compared += 1;
    }
    assert!(compared > 100, "{compared} series compared");
}

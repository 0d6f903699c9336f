//! The historian loses nothing, with exact counts: the simulator's fleet publishes through a
//! real mosquitto while the store (a real InfluxDB 1.6) goes away and comes back, while the
//! broker restarts, and with two historians sharing the stream. Every reading the broker
//! acknowledged to the simulator must be in InfluxDB exactly once (`count("seq")` over
//! `reading` equals the number published: a lost reading makes it smaller, a reading stored
//! twice as two points makes it larger).
//!
//! The historian runs in process through the same `serve` as `garonne historian`; the test
//! where the historian is killed with SIGKILL runs the binary (tests/historian.rs at the
//! workspace root).

mod common;

use std::time::Duration;

use common::{Historian, publish_probe};

use garonne_historian::Summary as HistorianSummary;
use garonne_historian::config::Config;
use garonne_simulator::fleet::FleetConfig;
use garonne_simulator::simulate::{self, SimulateConfig, Summary as Simulated};
use garonne_store::config::{InfluxV1Config, StoreConfig};
use garonne_store::influx::{Credentials, InfluxV1};
use garonne_testkit::{Influxd, Mosquitto};
use serde_json::Value;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const DB: &str = "garonne";

/// Longest wait for the store to hold every reading once the fleet has stopped.
const CATCH_UP: Duration = Duration::from_secs(60);

/// A historian on `influx`, running in this process.
async fn start_historian(config: Config, influx: &Influxd) -> Historian {
    let store = InfluxV1::new(&influx.url(), DB, Credentials::None).expect("store");
    Historian::start(config, store).await
}

/// The historian `client` under `prefix`, its spool in `spool`, writing to `influx`.
fn config(
    broker: &Mosquitto,
    influx: &Influxd,
    prefix: &str,
    client: &str,
    spool: &std::path::Path,
) -> Config {
    let store = StoreConfig::InfluxV1(InfluxV1Config {
        url: influx.url(),
        db: DB.to_owned(),
    });
    common::config(broker, prefix, client, spool.to_owned(), store)
}

/// A run under load: a broker, an InfluxDB with a new database, a historian under `prefix`
/// (its spool in a temporary folder) once subscribed, and the fleet started at 10 readings per
/// second per sensor for 8 s. `None` when mosquitto or influxd is not installed (the test is
/// skipped).
async fn under_load(
    prefix: &str,
) -> Option<(
    Mosquitto,
    Influxd,
    tempfile::TempDir,
    Historian,
    JoinHandle<Simulated>,
)> {
    let (Some(broker), Some(influx)) = (Mosquitto::start_or_skip(), Influxd::start_or_skip())
    else {
        return None;
    };
    create_database(&influx).await;
    let spool = tempfile::tempdir().expect("temp dir");
    publish_probe(&broker, prefix).await;
    let config = config(&broker, &influx, prefix, "historian", spool.path());
    let historian = start_historian(config, &influx).await;
    historian.wait_subscribed().await;
    let fleet = run_fleet(fleet(&broker, prefix, 10.0, 8));
    Some((broker, influx, spool, historian, fleet))
}

/// A fault the historian must have seen: the counter that says so, and what the test says.
type Fault = (&'static str, &'static str);

const STORE_WENT_AWAY: Fault = (
    "garonne_historian_store_retries_total",
    "the historian saw the store go away",
);

const BROKER_WENT_AWAY: Fault = (
    "garonne_historian_mqtt_connection_errors_total",
    "the historian saw the broker go away",
);

/// The end of a run under `fault`: the broker took every reading of the fleet; once InfluxDB
/// has caught up, the historian's counter of the fault is above 0, InfluxDB holds every reading
/// published, and the historian's spool is empty once it is drained and stopped. Returns the
/// fleet's summary and the historian's.
async fn finish(
    fleet: JoinHandle<Simulated>,
    influx: &Influxd,
    historian: Historian,
    (counter, seen): Fault,
) -> (Simulated, HistorianSummary) {
    let simulated = fleet.await.expect("fleet task");
    assert!(simulated.delivered, "the broker took every reading");
    let stored = wait_for_readings(&influx.url(), simulated.published).await;
    let count = historian.metric(counter).await;
    historian.wait_drained().await;
    let summary = historian.stop().await;
    assert!(count > 0.0, "{seen}");
    assert_eq!(
        (stored, summary.spool_left),
        (simulated.published, 0),
        "readings in InfluxDB of {} published ({summary:?})",
        simulated.published
    );
    (simulated, summary)
}

/// Creates the test database on `influx`.
async fn create_database(influx: &Influxd) {
    InfluxV1::new(&influx.url(), DB, Credentials::None)
        .expect("store")
        .create_database()
        .await
        .expect("database");
}

/// The fleet of 20 quartiers × 2 sensors and the 77 stations, at `rate_hz` each, for `secs`.
fn fleet(broker: &Mosquitto, prefix: &str, rate_hz: f64, secs: u64) -> SimulateConfig {
    let fleet = FleetConfig {
        speed: 600.0,
        rate_hz,
        density: 2,
        seed: 5,
        ..FleetConfig::default()
    };
    common::fleet(broker, prefix, fleet, secs)
}

fn run_fleet(config: SimulateConfig) -> JoinHandle<Simulated> {
    tokio::spawn(async move {
        tokio::time::timeout(
            Duration::from_secs(120),
            simulate::run(config, CancellationToken::new()),
        )
        .await
        .expect("the simulator stops after its duration")
        .expect("the simulator runs")
    })
}

/// Readings stored in InfluxDB: `count("seq")` over `reading` (`None` while it does not
/// answer).
async fn stored_readings(influx_url: &str) -> Option<u64> {
    let url = reqwest::Url::parse_with_params(
        &format!("{influx_url}/query"),
        &[("db", DB), ("q", "SELECT count(\"seq\") FROM \"reading\"")],
    )
    .expect("query URL");
    let text = reqwest::get(url).await.ok()?.text().await.ok()?;
    let answer: Value = serde_json::from_str(&text).ok()?;
    Some(
        answer
            .pointer("/results/0/series/0/values/0/1")
            .and_then(Value::as_u64)
            .unwrap_or(0),
    )
}

/// Waits until InfluxDB holds `expected` readings (or the catch-up time is over), and returns
/// what it holds then.
async fn wait_for_readings(influx_url: &str, expected: u64) -> u64 {
    let deadline = tokio::time::Instant::now() + CATCH_UP;
    loop {
        let stored = stored_readings(influx_url).await.unwrap_or(0);
        if stored >= expected || tokio::time::Instant::now() >= deadline {
            return stored;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_going_away_under_load_loses_nothing() {
    let Some((_broker, mut influx, _spool, historian, fleet)) = under_load("faults-store").await
    else {
        return;
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    influx.stop().expect("influxd stops");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let depth = historian.metric("garonne_historian_spool_records").await;
    influx.restart().expect("influxd restarts");
    let (simulated, summary) = finish(fleet, &influx, historian, STORE_WENT_AWAY).await;
    assert!(
        depth > 0.0,
        "readings waited in the spool while the store was away"
    );
    assert_eq!(summary.rejected_points, 0, "{summary:?}");
    // Nothing more arrives later: exactly once.
    assert_eq!(
        stored_readings(&influx.url()).await,
        Some(simulated.published)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_restart_under_load_loses_nothing() {
    let Some((mut broker, influx, _spool, historian, fleet)) = under_load("faults-broker").await
    else {
        return;
    };
    tokio::time::sleep(Duration::from_secs(3)).await;
    broker.restart().expect("mosquitto restarts");
    finish(fleet, &influx, historian, BROKER_WENT_AWAY).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_historians_in_a_shared_group_split_the_stream_and_store_it_once() {
    let (Some(broker), Some(influx)) = (Mosquitto::start_or_skip(), Influxd::start_or_skip())
    else {
        return;
    };
    let prefix = "faults-shared";
    create_database(&influx).await;
    let (spool_a, spool_b) = (
        tempfile::tempdir().expect("temp dir"),
        tempfile::tempdir().expect("temp dir"),
    );
    let member = |name: &str, spool: &std::path::Path| Config {
        shared_group: Some("historians".into()),
        ..config(&broker, &influx, prefix, name, spool)
    };
    let a = start_historian(member("a", spool_a.path()), &influx).await;
    let b = start_historian(member("b", spool_b.path()), &influx).await;
    a.wait_ready().await;
    b.wait_ready().await;
    // Connected is not subscribed: give the SUBSCRIBE packets their round trip.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let simulated = run_fleet(fleet(&broker, prefix, 10.0, 5))
        .await
        .expect("fleet task");
    assert!(simulated.delivered, "the broker took every reading");
    let stored = wait_for_readings(&influx.url(), simulated.published).await;
    let (a, b) = (a.stop().await, b.stop().await);
    assert_eq!(stored, simulated.published, "{a:?} {b:?}");
    assert!(
        a.received > 0 && b.received > 0,
        "both historians took part: {} and {}",
        a.received,
        b.received
    );
    // Each message went to exactly one of them: the readings, and the fleet's statuses (online
    // then offline, for each sensor and for the simulator itself).
    let statuses = 2 * (simulated.sensors as u64 + 1);
    assert_eq!(a.received + b.received, simulated.published + statuses);
}

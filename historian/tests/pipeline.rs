//! The whole path, broker to history: the simulator's fleet (with faults) through a real
//! mosquitto, two historians (the same `serve` as `garonne historian`), one into InfluxDB 1.6,
//! one into the embedded store, and a subscriber that records every reading. The history each
//! store answers, through InfluxQL and through SQL, is recomputed here from the subscriber's
//! readings: counts, min and max exactly, means to 1e-9; and the two stores agree.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
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

/// Two historians on `broker` under `prefix`, through the same `serve` as `garonne historian`:
/// one into InfluxDB (database [`DB`], created), one into the embedded store
/// `dir/history.sqlite` (returned), each with its spool in `dir`.
async fn two_historians(
    broker: &Mosquitto,
    influx: &Influxd,
    prefix: &str,
    dir: &Path,
) -> (Historian, Historian, PathBuf) {
    let influx_store = InfluxV1::new(&influx.url(), DB, Credentials::None).expect("store");
    influx_store.create_database().await.expect("database");
    let file = dir.join("history.sqlite");
    let embedded_store = EmbeddedStore::open(&file, Retention::default())
        .await
        .expect("embedded store");
    let config = |name: &str, store: StoreConfig| {
        let spool = dir.join(format!("spool-{name}"));
        common::config(broker, prefix, name, spool, store)
    };
    let influx_config = StoreConfig::InfluxV1(InfluxV1Config {
        url: influx.url(),
        db: DB.to_owned(),
    });
    let to_influx = Historian::start(config("influx", influx_config), influx_store).await;
    let embedded_config = StoreConfig::embedded(file.clone());
    let to_embedded = Historian::start(config("embedded", embedded_config), embedded_store).await;
    (to_influx, to_embedded, file)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn influxdb_and_the_embedded_store_answer_the_history_the_readings_make() {
    let (Some(broker), Some(influx)) = (Mosquitto::start_or_skip(), Influxd::start_or_skip())
    else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let mut sub = Subscriber::start(
        &broker,
        &format!("{PREFIX}-recorder"),
        &[&format!("{PREFIX}/v1/sensors/+/reading")],
    )
    .await;
    publish_probe(&broker, PREFIX).await;
    let (to_influx, to_embedded, file) = two_historians(&broker, &influx, PREFIX, dir.path()).await;
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

/// Issue 16's first "Done when", end to end: a DBC and a `candump` log this test writes (three
/// seconds of a car at 100 Hz on two buses), replayed by the agent (`[can]`, the same `run` as
/// `garonne pi`) into SenML packs through its disk queue, a real mosquitto that stops in the
/// middle and comes back, and two historians: InfluxDB and the embedded store each hold every
/// decoded value once, at the frame's own time to the nanosecond, and the agent's queue drains.
mod can {
    use std::collections::BTreeMap;
    use std::path::Path;
    use std::time::Duration;

    use garonne_agent::can::candump::CandumpLog;
    use garonne_agent::can::dbc::CanDb;
    use garonne_agent::can::profile::channels;
    use garonne_agent::{CanConfig, Hardware, PiConfig, SiteLocation};
    use garonne_payload::Timestamp;
    use garonne_store::embedded::EmbeddedHistory;
    use garonne_store::influx::{Credentials, InfluxQl};
    use garonne_store::readings::{Pages, Readings, Scan};
    use garonne_testkit::{Influxd, Mosquitto, Task};

    use super::DB;
    use super::common::publish_probe;

    const PREFIX: &str = "can-e2e";
    const CAR: &str = "car-e2e";

    /// An engine message on `can0` and a battery pack (extended id) on `can1`: unsigned,
    /// offset, signed 12-bit and signed 16-bit signals. Names of this test only, so the
    /// profile made from it is new to the process's catalogue.
    const DBC: &str = r#"VERSION ""

NS_ :

BS_:

BU_: ECU

BO_ 256 Engine: 8 ECU
 SG_ E2eEngineSpeed : 0|16@1+ (0.25,0) [0|16383.75] "rpm" Vector__XXX
 SG_ E2eCoolantTemp : 16|8@1+ (1,-40) [-40|215] "degC" Vector__XXX
 SG_ E2eSteerTorque : 32|12@1- (0.1,0) [0|0] "Nm" Vector__XXX

BO_ 2566869246 E2eBms: 8 ECU
 SG_ E2ePackVoltage : 0|16@1+ (0.1,0) [0|800] "V" Vector__XXX
 SG_ E2ePackCurrent : 16|16@1- (0.1,0) [-1000|1000] "A" Vector__XXX
"#;

    /// Frames at 100 Hz for `secs` seconds from `start_us` (microseconds since the epoch): the
    /// engine every 10 ms, the battery 3 ms later, and now and then a frame the DBC lacks.
    fn log(start_us: u64, secs: u64) -> String {
        let at = |us: u64| format!("({}.{:06})", us / 1_000_000, us % 1_000_000);
        let mut lines = Vec::new();
        for i in 0..secs * 100 {
            let t = start_us + i * 10_000;
            let rpm = (3000 + i * 20) * 4;
            let steer = (-(i as i64) * 3) as u16 & 0x0FFF;
            lines.push(format!(
                "{} can0 100#{:02X}{:02X}{:02X}00{:02X}{:02X}0000",
                at(t),
                rpm & 0xFF,
                rpm >> 8,
                60 + i % 50,
                steer & 0xFF,
                steer >> 8,
            ));
            let volts = 3600 + i;
            let amps = (-(i as i64) * 7) as u16;
            lines.push(format!(
                "{} can1 18FF50FE#{:02X}{:02X}{:02X}{:02X}00000000",
                at(t + 3_000),
                volts & 0xFF,
                volts >> 8,
                amps & 0xFF,
                amps >> 8,
            ));
            if i % 100 == 50 {
                lines.push(format!("{} can0 7DF#0201050000000000", at(t + 5_000)));
            }
        }
        lines.join("\n") + "\n"
    }

    /// The agent of a Pi that only logs the car, replaying `log_file` at its own pace.
    fn agent(broker: &Mosquitto, queue: &Path, dbc: &Path, log_file: &Path) -> PiConfig {
        PiConfig {
            sensor_id: CAR.to_owned(),
            broker: broker.url().parse().expect("broker URL"),
            ca_file: None,
            topic_prefix: PREFIX.to_owned(),
            location: SiteLocation {
                lon: 1.4442,
                lat: 43.6047,
                alt: None,
            },
            interval_secs: 60.0,
            queue_dir: queue.to_owned(),
            queue_max_bytes: 1 << 24,
            modules: Vec::new(),
            can: Some(CanConfig {
                interfaces: Vec::new(),
                log_file: Some(log_file.to_owned()),
                log_speed: 1.0,
                dbc: dbc.to_owned(),
                sensor_id: None,
                profile: Some("test-car-e2e".to_owned()),
                pack_max_values: 100,
                pack_max_span_ms: 100,
            }),
            credentials: None,
        }
    }

    /// Every stored sample of the car: (time ns, quantity) → value; panics on a sample stored
    /// twice.
    async fn stored<R: Readings>(store: &R, scan: &Scan) -> BTreeMap<(i64, String), f64> {
        let mut pages = Pages::new(store, scan.clone(), 10_000);
        let mut samples = BTreeMap::new();
        while let Some(page) = pages.next().await {
            for s in page.expect("the store answers") {
                let key = (s.time_ns, s.quantity.to_string());
                assert!(samples.insert(key, s.value).is_none(), "{s:?} twice");
            }
        }
        samples
    }

    fn queued_packs(dir: &Path) -> usize {
        std::fs::read_dir(dir).map_or(0, |d| {
            d.filter_map(Result::ok)
                .filter(|e| e.path().extension().is_some_and(|x| x == "senml"))
                .count()
        })
    }

    /// Polls `done` every 50 ms until it holds, at most `timeout`.
    async fn wait_until(what: &str, timeout: Duration, mut done: impl AsyncFnMut() -> bool) {
        let deadline = tokio::time::Instant::now() + timeout;
        while !done().await {
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_candump_log_through_the_agent_is_stored_sample_for_sample_across_a_broker_cut() {
        let (Some(mut broker), Some(influx)) =
            (Mosquitto::start_or_skip(), Influxd::start_or_skip())
        else {
            return;
        };
        let dir = tempfile::tempdir().expect("temp dir");
        let (to_influx, to_embedded, file) =
            super::two_historians(&broker, &influx, PREFIX, dir.path()).await;
        publish_probe(&broker, PREFIX).await;
        to_influx.wait_subscribed().await;
        to_embedded.wait_subscribed().await;

        // Three seconds of the car, logged half a minute ago.
        let now_us = (Timestamp::now().unix_nanos() / 1000) as u64;
        let start_us = (now_us - 30_000_000) / 10_000 * 10_000;
        let text = log(start_us, 3);
        let (dbc, log_file) = (dir.path().join("car.dbc"), dir.path().join("run.log"));
        std::fs::write(&dbc, DBC).expect("DBC written");
        std::fs::write(&log_file, &text).expect("log written");

        // What the DBC says the log carries: the samples expected, at the frames' times.
        let db = CanDb::parse(DBC).expect("valid");
        let channels = channels(&db).expect("valid");
        let mut expected = BTreeMap::new();
        for frame in CandumpLog::parse(&text).frames {
            let Ok(values) = db.decode(frame.id, &frame.data) else {
                continue; // the id the DBC lacks
            };
            for (signal, value) in values {
                let channel = channels
                    .iter()
                    .find(|c| c.message_id == frame.id && c.signal == signal.name)
                    .expect("a channel per signal");
                let time_ns = i64::try_from(frame.time.unix_nanos()).expect("ns");
                expected.insert((time_ns, channel.quantity.clone()), value);
            }
        }
        assert_eq!(expected.len(), 300 * 3 + 300 * 2);

        let queue = dir.path().join("queue");
        let agent_config = agent(&broker, &queue, &dbc, &log_file);
        let agent = Task::spawn("the agent", |shutdown| {
            garonne_agent::run(agent_config, Hardware::Real, shutdown)
        });
        // Packs arrive; then the broker goes away while the log plays on: packs queue on
        // disk; then it comes back.
        wait_until(
            "the first pack stored",
            Duration::from_secs(20),
            async || {
                to_embedded
                    .metric("garonne_historian_messages_received_total")
                    .await
                    >= 2.0
            },
        )
        .await;
        tokio::task::block_in_place(|| broker.stop()).expect("broker stops");
        wait_until(
            "packs queued on disk",
            Duration::from_secs(10),
            async || queued_packs(&queue) >= 5,
        )
        .await;
        tokio::task::block_in_place(|| broker.restart()).expect("broker restarts");

        // Every sample, once, at its frame's time, in both stores.
        let scan = Scan::new(
            vec![CAR.to_owned()],
            Timestamp::new((start_us / 1_000_000) as i64 - 1, 0).expect("from"),
            Timestamp::new((start_us / 1_000_000) as i64 + 10, 0).expect("to"),
        );
        let influxql = InfluxQl::new(&influx.url(), DB, Credentials::None).expect("InfluxQL");
        let sqlite = EmbeddedHistory::open(&file)
            .await
            .expect("read-only history");
        wait_until("every sample stored", Duration::from_secs(30), async || {
            stored(&influxql, &scan).await.len() >= expected.len()
                && stored(&sqlite, &scan).await.len() >= expected.len()
        })
        .await;
        assert_eq!(stored(&influxql, &scan).await, expected, "InfluxDB");
        assert_eq!(stored(&sqlite, &scan).await, expected, "embedded store");
        wait_until(
            "the agent's queue drained",
            Duration::from_secs(10),
            async || queued_packs(&queue) == 0,
        )
        .await;
        agent.stop().await;
        to_influx.stop().await;
        to_embedded.stop().await;
    }
}

//! `garonne replay` end to end (issue 16): a session stored in the embedded store, replayed at
//! 10× into a real mosquitto by the same [`replay`] as the command, comes back reading for
//! reading (once, in order, values unchanged, marked `source: replay`), and a real realtime
//! aggregates it (the sensor's windowed statistics count every reading).
//!
//! A day of the city stored in InfluxDB (two stations in two quartiers, written as the historian
//! writes them) replays with each station's stored place and kind, read from InfluxDB as the
//! command reads them, so realtime places its readings in their quartiers again.
//!
//! Realtime learns of its subscription only from the broker; the test knows it is in place when
//! realtime has counted a retained probe (as realtime's own end-to-end tests do).

use std::path::{Path, PathBuf};
use std::time::Duration;

use garonne_historian::schema::reading_point;
use garonne_payload::{
    Limits, Location, Quantity, Reading, Source, Timestamp, parse_reading, senml::parse_senml,
};
use garonne_realtime::service::load_neighbourhoods;
use garonne_realtime::{Config, RealtimeError, Summary as RealtimeSummary};
use garonne_service::config::MqttConfig;
use garonne_simulator::replay::{self, ReplayConfig, Speed, Times};
use garonne_store::embedded::{EmbeddedStore, Retention};
use garonne_store::influx::InfluxV1;
use garonne_store::readings::{Scan, StoredReadings};
use garonne_store::{Credentials, Store, StoreConfig};
use garonne_testkit::{Influxd, Mosquitto, Service, Subscriber, probe};
use tokio_util::sync::CancellationToken;

/// Every wait: far above what it takes.
const WAIT: Duration = Duration::from_secs(15);

/// The session: 2 s of a 100 Hz device.
const READINGS: i64 = 200;
const PERIOD_NS: i64 = 10_000_000;

/// The device, in the quartier of the Capitole.
const SENSOR: &str = "car-replay-1";
const PLACE: (f64, f64) = (1.4442, 43.6047);

/// The city's stations: id, (lon, lat), and the quartier the fixture's polygons put them in
/// (Capitole / Arnaud Bernard / Carmes is quartier 1; Rangueil / Sauzelong / ... quartier 13).
const STATIONS: [(&str, (f64, f64), &str); 2] = [
    ("station-capitole", PLACE, "1"),
    ("station-rangueil", (1.466, 43.563), "13"),
];

/// Readings of each station in the stored day, 1 s apart.
const CITY_READINGS: i64 = 20;

/// The stored day of the city: `CITY_READINGS` readings of each station from `start`.
fn city(start: Timestamp) -> Vec<Reading> {
    let mut out = Vec::new();
    for i in 0..CITY_READINGS {
        for (n, &(sensor, (lon, lat), _)) in STATIONS.iter().enumerate() {
            let time = start.add_nanos(i * 1_000_000_000);
            let location = Location {
                lon,
                lat,
                alt: None,
            };
            let mut r = Reading::new(
                sensor,
                "weather-station",
                Source::Device,
                time,
                i as u64,
                location,
            );
            r.quantities
                .set(Quantity::Temperature, 8.0 + n as f64 + i as f64 * 0.5);
            out.push(r);
        }
    }
    out
}

/// The stored session: `READINGS` readings an hour ago, two quantities each.
fn session(start: Timestamp) -> Vec<Reading> {
    let location = Location {
        lon: PLACE.0,
        lat: PLACE.1,
        alt: None,
    };
    (0..READINGS)
        .map(|i| {
            let time = start.add_nanos(i * PERIOD_NS);
            let mut r = Reading::new(
                SENSOR,
                "can-logger",
                Source::Device,
                time,
                i as u64,
                location,
            );
            r.quantities
                .set(Quantity::Temperature, 20.0 + (i % 37) as f64 * 0.25)
                .set(Quantity::AtmosphericPressure, 1000.0 + i as f64 * 0.125);
            r
        })
        .collect()
}

/// Realtime on `broker`, under `prefix`: windows of an hour, statistics every 200 ms; started,
/// and subscribed (it has counted the retained probe, [`probe::retain_probe`], left before).
async fn realtime(broker: &Mosquitto, prefix: &str) -> Service<RealtimeSummary, RealtimeError> {
    let config = Config {
        mqtt: mqtt(broker, prefix, "realtime"),
        neighbourhoods: garonne_testkit::open_data_file("quartiers-de-democratie-locale.geojson"),
        window_secs: 3600,
        panes_per_window: 5,
        emit_every_ms: 200,
        lateness_secs: 120,
        // No state saved: the default would write the repository's data/realtime-snapshot.json.
        snapshot: None,
        ..Config::default()
    };
    let areas = load_neighbourhoods(&config).expect("the polygons load");
    probe::start_subscribed(
        "realtime",
        "garonne_realtime_messages_received_total",
        WAIT,
        |listener, shutdown| garonne_realtime::serve(config, areas, listener, shutdown),
    )
    .await
}

/// The session (see [`session`]), an hour ago in whole milliseconds (which travel exactly
/// through SenML's microseconds), written to a new embedded store in `dir`: the store's file,
/// the session's start and its readings.
async fn stored_session(dir: &Path) -> (PathBuf, Timestamp, Vec<Reading>) {
    let path = dir.join("history.sqlite");
    let start = Timestamp::from_unix_millis(Timestamp::now().unix_millis() - 3_600_000);
    let stored = session(start);
    let mut store = EmbeddedStore::open(&path, Retention::default())
        .await
        .expect("store");
    let points: Vec<_> = stored.iter().map(reading_point).collect();
    store.write(&points).await.expect("session written");
    store.close().await.expect("closed");
    (path, start, stored)
}

/// A subscriber to every sensor topic under `prefix`.
async fn watch(broker: &Mosquitto, prefix: &str) -> Subscriber {
    let sensors = format!("{prefix}/v1/sensors/#");
    Subscriber::start(broker, &format!("{prefix}-watch"), &[&sensors]).await
}

/// The `[mqtt]` section of `client` (`realtime`, `replay`): `broker`, topics under `prefix`,
/// client id `{prefix}-{client}`.
fn mqtt(broker: &Mosquitto, prefix: &str, client: &str) -> MqttConfig {
    MqttConfig::parse(&broker.url(), prefix, format!("{prefix}-{client}")).expect("[mqtt]")
}

/// Replays `scan` from `readings` into `broker` under `prefix` at `speed`×, shifted to now, each
/// sensor at the place and of the kind the store gives (as `garonne replay` does).
async fn replay_placed(
    broker: &Mosquitto,
    prefix: &str,
    readings: &StoredReadings,
    scan: Scan,
    speed: f64,
) -> replay::Summary {
    let places = readings.places(&scan).await.expect("places");
    let config = ReplayConfig {
        mqtt: mqtt(broker, prefix, "replay"),
        speed: Speed::Times(speed),
        times: Times::Now,
        places: replay::places(places),
        progress: false,
        state: None,
    };
    replay::replay(readings, scan, None, &config, CancellationToken::new())
        .await
        .expect("replayed")
}

/// The readings of the replay's messages, in the order received.
fn decode(messages: &[garonne_testkit::Message]) -> Vec<Reading> {
    let limits = Limits::default();
    let now = Timestamp::now();
    let mut out = Vec::new();
    for m in messages {
        if m.topic.ends_with("/reading") && !m.topic.contains("/probe/") {
            out.push(parse_reading(&m.payload, now, &limits).expect("a valid reading"));
        } else if m.topic.ends_with("/senml") {
            out.extend(parse_senml(&m.payload, now, &limits).expect("a valid pack"));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_session_replayed_at_10x_comes_back_once_in_order_and_realtime_counts_it() {
    let broker = Mosquitto::start().expect("mosquitto");
    let prefix = "replay10x";
    let dir = tempfile::tempdir().expect("temp dir");
    let (path, start, stored) = stored_session(dir.path()).await;

    let mut sub = watch(&broker, prefix).await;
    probe::retain_probe(&mut sub, prefix, WAIT).await;
    let realtime = realtime(&broker, prefix).await;

    let readings = StoredReadings::open(&StoreConfig::embedded(path), Credentials::None)
        .await
        .expect("readings");
    // The scan's range is wider than the session: the replay's clock starts at its first reading.
    let scan = Scan::new(
        vec![SENSOR.to_owned()],
        start.add_nanos(-5_000_000_000),
        start.add_nanos(5_000_000_000),
    );
    let places = readings.places(&scan).await.expect("places");
    let place = &places[SENSOR];
    assert_eq!((place.lon, place.lat), PLACE);
    assert_eq!(place.kind.as_deref(), Some("can-logger"), "a kind");
    let summary = replay_placed(&broker, prefix, &readings, scan, 10.0).await;
    assert_eq!(summary.readings, READINGS as u64);
    assert_eq!(summary.samples, 2 * READINGS as u64);
    assert!(
        summary.delivered && summary.stopped_at.is_none(),
        "{summary:?}"
    );
    // 1.99 s of data at 10×: the last reading is due 199 ms after the first.
    assert!(
        summary.elapsed >= Duration::from_millis(199),
        "{:?}",
        summary.elapsed
    );
    // At 10×, ten ticks of 100 ms: packs, not 200 messages.
    assert!(summary.messages <= 12, "{summary:?}");

    let messages = sub
        .wait_for("every replayed reading", WAIT, |m| {
            decode(m).len() >= READINGS as usize
        })
        .await;
    let back = decode(messages);
    assert_eq!(back.len(), READINGS as usize, "each reading once");
    for (i, (got, was)) in back.iter().zip(&stored).enumerate() {
        assert_eq!(got.sensor_id, SENSOR);
        assert_eq!(got.source, Source::Replay, "reading {i}");
        assert_eq!(got.seq, i as u64, "in order");
        assert_eq!(got.quantities, was.quantities, "values of reading {i}");
        assert_eq!(got.kind, "can-logger");
        // Shifted to now, 10 times denser: 1 ms apart.
        if i > 0 {
            let gap = got.time.unix_nanos() - back[i - 1].time.unix_nanos();
            assert_eq!(gap, 1_000_000, "reading {i}");
        }
    }
    assert!(
        back[0].time.secs_since(Timestamp::now()).abs() < 10.0,
        "shifted to now: {}",
        back[0].time
    );

    // Realtime counted every reading in the sensor's windowed statistics.
    let rolling = format!("{prefix}/v1/sensors/{SENSOR}/rolling");
    sub.wait_for("realtime's statistics of all 200 readings", WAIT, |m| {
        m.iter().filter(|m| m.topic == rolling).any(|m| {
            let v: serde_json::Value = serde_json::from_slice(&m.payload).unwrap_or_default();
            v["quantities"]["temperature"]["readings"] == READINGS
                && v["quantities"]["atmosphericPressure"]["readings"] == READINGS
        })
    })
    .await;
    realtime.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_stopped_by_ctrl_c_resumes_after_its_last_reading_from_the_state_file() {
    let broker = Mosquitto::start().expect("mosquitto");
    let prefix = "replayresume";
    let dir = tempfile::tempdir().expect("temp dir");
    let (path, start, stored) = stored_session(dir.path()).await;
    let readings = StoredReadings::open(&StoreConfig::embedded(path.clone()), Credentials::None)
        .await
        .expect("readings");
    let mut sub = watch(&broker, prefix).await;
    let state = dir.path().join("state.json");
    let config = |speed| ReplayConfig {
        mqtt: mqtt(&broker, prefix, "replay"),
        speed,
        times: Times::Original,
        places: Default::default(),
        progress: false,
        state: Some(state.clone()),
    };
    let scan = Scan::new(
        vec![SENSOR.to_owned()],
        start,
        start.add_nanos(READINGS * PERIOD_NS),
    );
    // At 1× the session takes 2 s: Ctrl-C as soon as its first message is out.
    let shutdown = CancellationToken::new();
    let slow = config(Speed::Times(1.0));
    let run = replay::replay(&readings, scan.clone(), None, &slow, shutdown.clone());
    let stop = async {
        sub.wait_for("the first message", WAIT, |m| !decode(m).is_empty())
            .await;
        shutdown.cancel();
    };
    let (first, ()) = tokio::join!(run, stop);
    let first = first.expect("stopped cleanly");
    let cursor = first.stopped_at.clone().expect("stopped before the end");
    assert!(
        first.delivered && first.readings < READINGS as u64,
        "{first:?}"
    );
    let saved = replay::ReplayState::load(&state)
        .expect("readable")
        .expect("saved");
    assert!(saved.is_of(&scan));
    assert_eq!(saved.cursor, cursor.token());

    let rest = replay::replay(
        &readings,
        scan,
        Some(cursor),
        &config(Speed::Max),
        CancellationToken::new(),
    )
    .await
    .expect("resumed");
    assert_eq!(first.readings + rest.readings, READINGS as u64, "{rest:?}");
    let messages = sub
        .wait_for("every reading", WAIT, |m| {
            decode(m).len() >= READINGS as usize
        })
        .await;
    let times: Vec<Timestamp> = decode(messages).iter().map(|r| r.time).collect();
    let expected: Vec<Timestamp> = stored.iter().map(|r| r.time).collect();
    assert_eq!(
        times, expected,
        "each reading once, in order, at its own time"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_city_day_replayed_from_influxdb_is_placed_in_its_quartiers_by_realtime() {
    let Some(influxd) = Influxd::start_or_skip() else {
        return;
    };
    let broker = Mosquitto::start().expect("mosquitto");
    let prefix = "replayinflux";
    let start = Timestamp::from_unix_millis(Timestamp::now().unix_millis() - 3_600_000);
    let stored = city(start);
    let mut store = InfluxV1::new(&influxd.url(), "garonne", Credentials::None).expect("url");
    store.create_database().await.expect("database");
    let points: Vec<_> = stored.iter().map(reading_point).collect();
    store.write(&points).await.expect("day written");

    let sensors = format!("{prefix}/v1/sensors/#");
    let neighbourhoods = format!("{prefix}/v1/neighbourhoods/#");
    let mut sub = Subscriber::start(
        &broker,
        &format!("{prefix}-watch"),
        &[&sensors, &neighbourhoods],
    )
    .await;
    probe::retain_probe(&mut sub, prefix, WAIT).await;
    let realtime = realtime(&broker, prefix).await;

    let readings = StoredReadings::open(
        &StoreConfig::influx_v1(influxd.url(), "garonne"),
        Credentials::None,
    )
    .await
    .expect("readings");
    let scan = Scan::new(Vec::new(), start, start.add_nanos(60_000_000_000));
    let summary = replay_placed(&broker, prefix, &readings, scan, 100.0).await;
    assert_eq!(summary.readings, stored.len() as u64, "{summary:?}");
    assert_eq!(summary.unplaced, 0, "every station placed: {summary:?}");
    assert!(summary.delivered, "{summary:?}");

    // Each replayed reading carries its station's stored place and kind.
    let messages = sub
        .wait_for("every replayed reading", WAIT, |m| {
            decode(m).len() >= stored.len()
        })
        .await;
    for r in decode(messages) {
        let (_, (lon, lat), _) = STATIONS
            .iter()
            .find(|(id, ..)| *id == r.sensor_id)
            .unwrap_or_else(|| panic!("an unknown sensor {}", r.sensor_id));
        assert_eq!((r.location.lon, r.location.lat), (*lon, *lat), "{r:?}");
        assert_eq!(
            (r.kind.as_str(), r.source),
            ("weather-station", Source::Replay)
        );
    }

    // Realtime placed each station's readings in its quartier.
    for (sensor, _, quartier) in STATIONS {
        let topic = format!("{prefix}/v1/neighbourhoods/{quartier}/aggregate");
        sub.wait_for(
            &format!("quartier {quartier}'s aggregate of {sensor}'s readings"),
            WAIT,
            |m| {
                m.iter().filter(|m| m.topic == topic).any(|m| {
                    let v: serde_json::Value =
                        serde_json::from_slice(&m.payload).unwrap_or_default();
                    v["quantities"]["temperature"]["readings"] == CITY_READINGS
                        && v["quantities"]["temperature"]["sensors"] == 1
                })
            },
        )
        .await;
    }
    realtime.stop().await;
}

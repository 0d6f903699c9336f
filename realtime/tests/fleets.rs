//! Described fleets into realtime, against a real mosquitto, on the real quartiers (issue 15):
//!
//! - a family this test writes (a CSV of footfall counters, its fleet description and its
//!   profile), replayed by the simulator with no Rust change, comes out of realtime as each
//!   quartier's windowed statistics: the right quartier, the value by the profile's `space`
//!   rule (a sum of each counter's last count), the counts of readings and sensors;
//! - the `river` fleet replaying the real daily maxima of the January 2022 flood raises
//!   realtime's default flood alert (`data/alerts.toml`) on the flood day, and clears it after.
//!
//! Here rather than in the simulator's tests: realtime is the one under test, and its tests
//! already run the simulator (a dev-dependency), while the simulator does not know realtime.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use garonne_payload::profile::Profile;
use garonne_payload::{
    Alert, AlertScope, AlertState, Limits, NeighbourhoodAggregate, Quantity, Reading, Timestamp,
    parse_reading,
};
use garonne_realtime::service::load_neighbourhoods;
use garonne_realtime::{Config, RealtimeError, Summary};
use garonne_service::config::MqttConfig;
use garonne_simulator::fleet::FleetConfig;
use garonne_simulator::simulate::{self, SimulateConfig};
use garonne_testkit::{Message, Mosquitto, Service, Subscriber, probe};
use rumqttc::QoS;
use tokio_util::sync::CancellationToken;

/// Every wait for something realtime or the simulator does.
const WAIT: Duration = Duration::from_secs(15);

/// Realtime on the fixture's quartiers with its default rules (the shipped flood alert),
/// hour windows emitted every 200 ms, no snapshot; started, and subscribed (it has counted the
/// retained probe [`probe::subscribe_with_probe`] left, which the broker hands to a new subscription at once).
async fn realtime(broker: &Mosquitto, prefix: &str) -> Service<Summary, RealtimeError> {
    let config = Config {
        mqtt: MqttConfig::parse(&broker.url(), prefix, format!("{prefix}-realtime"))
            .expect("[mqtt]"),
        neighbourhoods: garonne_testkit::open_data_file("quartiers-de-democratie-locale.geojson"),
        window_secs: 3600,
        panes_per_window: 5,
        emit_every_ms: 200,
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

/// Runs the fleet `name` of `data_dir` for `run` on today's clock (rebased, as `garonne up`
/// does) and waits until `sub` has every reading it published; returns them, parsed.
async fn replay(
    broker: &Mosquitto,
    prefix: &str,
    sub: &mut Subscriber,
    data_dir: PathBuf,
    name: &str,
    fleet: FleetConfig,
    run: Duration,
) -> Vec<Reading> {
    let config = SimulateConfig {
        mqtt: MqttConfig::parse(&broker.url(), prefix, format!("{prefix}-simulator"))
            .expect("[mqtt]"),
        data_dir,
        neighbourhoods: None,
        fleet,
        duration: Some(run),
        qos: QoS::AtLeastOnce,
        progress: false,
    };
    let summary = tokio::time::timeout(
        WAIT,
        simulate::run_fleets(config, Some(&[name.to_owned()]), CancellationToken::new()),
    )
    .await
    .expect("the run ends after its duration")
    .expect("the run succeeds");
    assert!(summary.delivered, "the broker acknowledged everything");
    let published = summary.published as usize;
    assert!(published > 0, "the {name} fleet published");
    let is_reading = |m: &Message| m.topic.ends_with("/reading") && !m.topic.contains("/probe/");
    let messages = sub
        .wait_for("every reading", WAIT, |m| {
            m.iter().filter(|m| is_reading(m)).count() >= published
        })
        .await;
    let now = Timestamp::now();
    messages
        .iter()
        .filter(|m| is_reading(m))
        .map(|m| {
            parse_reading(&m.payload, now, &Limits::default())
                .unwrap_or_else(|e| panic!("{}: {e}: {}", m.topic, m.text()))
        })
        .collect()
}

// ---- A family the test writes, per quartier ------------------------------------------------------

/// Footfall counters, a family Garonne has never seen: their profile...
const FOOTFALL_PROFILE: &str = r#"
name = "footfall-example"
version = 1
title = { en = "Footfall counter", fr = "Compteur de passages" }

[[quantity]]
name = "pedestriansPerHour"
unit = "count"
label = { en = "Pedestrians per hour", fr = "Piétons par heure" }
min = 0
max = 100000
integer = true
required = true
time = "last"
space = "sum"
"#;

/// ...their export (`,` CSV, Paris times with offsets; two counters in the Capitole quartier,
/// one in Saint-Cyprien)...
const FOOTFALL_CSV: &str = "\
compteur,date_heure,passages,longitude,latitude
capitole,2025-11-24T08:00:00+01:00,1200,1.4442,43.6045
esquirol,2025-11-24T08:00:00+01:00,800,1.4433,43.6003
saint-cyprien,2025-11-24T08:00:00+01:00,300,1.4330,43.5980
capitole,2025-11-24T09:00:00+01:00,1500,1.4442,43.6045
esquirol,2025-11-24T09:00:00+01:00,650,1.4433,43.6003
saint-cyprien,2025-11-24T09:00:00+01:00,420,1.4330,43.5980
";

/// ...and their description.
const FOOTFALL_FLEET: &str = r#"
name = "footfall"
profile = "footfall-example"
kind = "footfall-counter"
id_prefix = "footfall-"

[replay]
mode = "step"
max_gap_secs = 7200

[readings]
file = "compteurs.csv"
format = "csv"
id = "compteur"
time = "date_heure"
lon = "longitude"
lat = "latitude"

[[readings.value]]
quantity = "pedestriansPerHour"
column = "passages"
"#;

/// The quartier (id, name) of each counter, read off the polygons once (Capitole /
/// Arnaud Bernard / Carmes is quartier 1, Saint-Cyprien quartier 6).
const QUARTIER_OF: [(&str, &str, &str); 3] = [
    (
        "footfall-capitole",
        "1",
        "Capitole / Arnaud Bernard / Carmes",
    ),
    (
        "footfall-esquirol",
        "1",
        "Capitole / Arnaud Bernard / Carmes",
    ),
    ("footfall-saint-cyprien", "6", "Saint-Cyprien"),
];

/// A data folder holding the footfall CSV and its description in `fleets/`, the profile
/// registered (as `--profiles` would).
fn footfall_dir() -> tempfile::TempDir {
    // Registered once per process: a second test registering it again is told it exists.
    let _ = Quantity::register(Profile::parse(FOOTFALL_PROFILE).expect("the profile parses"));
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("compteurs.csv"), FOOTFALL_CSV).expect("csv");
    std::fs::create_dir(dir.path().join("fleets")).expect("fleets dir");
    std::fs::write(dir.path().join("fleets/footfall.toml"), FOOTFALL_FLEET).expect("description");
    dir
}

/// What one quartier's aggregate must say for one window, recomputed from the readings.
#[derive(Debug, PartialEq)]
struct Expected {
    name: String,
    /// The sum of each counter's last count in the window (by time, then sequence number).
    value: f64,
    readings: u64,
    sensors: u32,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_family_described_by_the_test_is_aggregated_per_quartier_by_its_profile() {
    let Some(broker) = Mosquitto::start_or_skip() else {
        return;
    };
    let prefix = "fleet-rt-footfall";
    let dir = footfall_dir();
    let mut sub = probe::subscribe_with_probe(&broker, prefix, WAIT).await;
    let realtime = realtime(&broker, prefix).await;
    // An hour of data a second: the 08:00 counts, then the 09:00 ones.
    let fleet = FleetConfig {
        speed: 3600.0,
        rate_hz: 4.0,
        ..FleetConfig::default()
    };
    let run = Duration::from_millis(1800);
    let readings = replay(
        &broker,
        prefix,
        &mut sub,
        dir.path().to_owned(),
        "footfall",
        fleet,
        run,
    )
    .await;
    let quantity = Quantity::from_name("pedestriansPerHour").expect("registered");
    let quartiers: HashMap<&str, (&str, &str)> =
        QUARTIER_OF.iter().map(|(s, q, n)| (*s, (*q, *n))).collect();
    assert!(
        readings
            .iter()
            .any(|r| r.quantities.get(quantity) == Some(1500.0)),
        "the run reached the 09:00 counts"
    );

    // Each quartier's window of its newest reading, recomputed from the readings.
    let window_of = |t: Timestamp| t.unix_secs().div_euclid(3600) * 3600;
    let mut by_quartier: BTreeMap<&str, Vec<&Reading>> = BTreeMap::new();
    for r in &readings {
        let (quartier, _) = quartiers[r.sensor_id.as_str()];
        by_quartier.entry(quartier).or_default().push(r);
    }
    assert_eq!(by_quartier.len(), 2, "both quartiers have readings");
    let mut expected: BTreeMap<String, (i64, Expected)> = BTreeMap::new();
    for (quartier, rs) in &by_quartier {
        let window = rs
            .iter()
            .map(|r| window_of(r.time))
            .max()
            .expect("a reading");
        let mut last: BTreeMap<&str, &Reading> = BTreeMap::new();
        let mut count = 0;
        for r in rs.iter().filter(|r| window_of(r.time) == window) {
            count += 1;
            let newer = last
                .get(r.sensor_id.as_str())
                .is_none_or(|l| (r.time, r.seq) > (l.time, l.seq));
            if newer {
                last.insert(&r.sensor_id, r);
            }
        }
        let value = last
            .values()
            .map(|r| r.quantities.get(quantity).expect("a count"))
            .sum();
        let name = QUARTIER_OF
            .iter()
            .find(|(_, q, _)| q == quartier)
            .map(|(_, _, n)| (*n).to_owned())
            .expect("named");
        expected.insert(
            (*quartier).to_owned(),
            (
                window,
                Expected {
                    name,
                    value,
                    readings: count,
                    sensors: last.len() as u32,
                },
            ),
        );
    }

    let (windows, want): (BTreeMap<String, i64>, BTreeMap<String, Expected>) = expected
        .into_iter()
        .map(|(q, (window, e))| ((q.clone(), window), (q, e)))
        .unzip();

    // Realtime's aggregates for those windows, once they hold every reading.
    let got = |messages: &[Message]| -> BTreeMap<String, Expected> {
        let mut got = BTreeMap::new();
        for m in messages.iter().filter(|m| m.topic.ends_with("/aggregate")) {
            let a: NeighbourhoodAggregate = serde_json::from_slice(&m.payload)
                .unwrap_or_else(|e| panic!("{}: {e}: {}", m.topic, m.text()));
            let Some(window) = windows.get(&a.neighbourhood_id) else {
                panic!(
                    "an aggregate for quartier {} (no counter there)",
                    a.neighbourhood_id
                );
            };
            let Some(stats) = a.quantities.get(&quantity) else {
                continue;
            };
            if a.window_start.unix_secs() == *window {
                got.insert(
                    a.neighbourhood_id.clone(),
                    Expected {
                        name: a.name.clone(),
                        value: stats.value,
                        readings: stats.readings,
                        sensors: stats.sensors,
                    },
                );
            }
        }
        got
    };
    let complete = |messages: &[Message]| {
        let got = got(messages);
        want.iter()
            .all(|(q, w)| got.get(q).is_some_and(|g| g.readings >= w.readings))
    };
    let messages = sub
        .wait_for("the aggregates of every reading", WAIT, complete)
        .await;
    assert_eq!(got(messages), want);
    assert_eq!(
        want["1"].sensors, 2,
        "two counters in the Capitole quartier"
    );
    realtime.stop().await;
}

// ---- The river's flood, alerted -----------------------------------------------------------------

/// The daily maxima of 7–14 January 2022 (the committed fixture's `floods/` cut of the real
/// file), in a data folder with the gauges' positions: the shipped `river` description reads it.
fn flood_dir() -> tempfile::TempDir {
    let fixture = Path::new(garonne_testkit::data::FIXTURE_DIR);
    let dir = tempfile::tempdir().expect("temp dir");
    for file in [
        "floods/garonne-toulouse-daily-max-water-height.csv",
        "garonne-hydrometric-stations.geojson",
    ] {
        let name = Path::new(file).file_name().expect("a file name");
        std::fs::copy(fixture.join(file), dir.path().join(name)).expect("copy");
    }
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_river_replay_raises_the_default_flood_alert_on_the_january_2022_flood() {
    let Some(broker) = Mosquitto::start_or_skip() else {
        return;
    };
    let prefix = "fleet-rt-river";
    let dir = flood_dir();
    let mut sub = probe::subscribe_with_probe(&broker, prefix, WAIT).await;
    let realtime = realtime(&broker, prefix).await;
    // Three days of data a second, a reading every 9 hours of it: 7 January to the 13th in
    // two seconds; the pass ends before the replay starts over (8 days and the last one held).
    let fleet = FleetConfig {
        speed: 3.0 * 86_400.0,
        rate_hz: 8.0,
        ..FleetConfig::default()
    };
    let run = Duration::from_millis(2400);
    let readings = replay(
        &broker,
        prefix,
        &mut sub,
        dir.path().to_owned(),
        "river",
        fleet,
        run,
    )
    .await;
    let level = Quantity::StreamGauge;
    // Each gauge's heights of 7 to 14 January in the file, in metres: over 3.5 m on the 10th
    // and the 11th, back under 3 m on the 12th.
    let gauges = [
        (
            "hydro-O200004001",
            [0.781, 0.756, 1.474, 3.97, 4.306, 2.422, 1.755, 1.471],
        ),
        (
            "hydro-O200008001",
            [0.584, 0.56, 1.337, 4.264, 4.633, 2.383, 1.62, 1.322],
        ),
    ];
    // What realtime must say of each gauge: raised by its first reading over 3.5 m, which is
    // a flood day's, cleared by its first reading under 3.0 m after that.
    let mut expected = BTreeMap::new();
    for (id, heights) in gauges {
        let mut rs: Vec<&Reading> = readings.iter().filter(|r| r.sensor_id == id).collect();
        rs.sort_by_key(|r| (r.time, r.seq));
        let values: Vec<f64> = rs.iter().filter_map(|r| r.quantities.get(level)).collect();
        assert!(
            values.iter().all(|v| heights.contains(v)),
            "{id}: every value is a row of the file: {values:?}"
        );
        let raised = values.iter().position(|v| *v > 3.5);
        let raised = raised.unwrap_or_else(|| panic!("{id} replayed the flood: {values:?}"));
        assert!(heights[3..5].contains(&values[raised]), "10 or 11 January");
        let cleared = values[raised..].iter().find(|v| **v < 3.0);
        let cleared = *cleared.unwrap_or_else(|| panic!("{id} replayed the fall: {values:?}"));
        expected.insert(
            id,
            [
                (AlertState::Raised, values[raised]),
                (AlertState::Cleared, cleared),
            ],
        );
    }

    // Each gauge's alert, raised and cleared.
    let alerts = |messages: &[Message]| -> BTreeMap<String, Vec<Alert>> {
        let mut by_gauge: BTreeMap<String, Vec<Alert>> = BTreeMap::new();
        let topic = format!("{prefix}/v1/alerts/river-flood/");
        for m in messages.iter().filter(|m| m.topic.starts_with(&topic)) {
            // An empty retained message removes a cleared alert from the broker.
            if m.payload.is_empty() {
                continue;
            }
            let alert: Alert = serde_json::from_slice(&m.payload)
                .unwrap_or_else(|e| panic!("{}: {e}: {}", m.topic, m.text()));
            let AlertScope::Sensor(id) = &alert.scope else {
                panic!("a sensor rule: {}", m.text());
            };
            by_gauge.entry(id.clone()).or_default().push(alert);
        }
        by_gauge
    };
    let messages = sub
        .wait_for("each gauge's alert raised and cleared", WAIT, |m| {
            let a = alerts(m);
            gauges
                .iter()
                .all(|(id, _)| a.get(*id).is_some_and(|v| v.len() >= 2))
        })
        .await;
    let by_gauge = alerts(messages);
    for (id, want) in expected {
        let seen: Vec<(AlertState, f64)> = by_gauge[id][..2]
            .iter()
            .map(|a| (a.state, a.value))
            .collect();
        assert_eq!(seen, want, "{id}");
        let raised = &by_gauge[id][0];
        assert_eq!((raised.quantity, raised.threshold), (level, 3.5), "{id}");
    }
    assert!(
        realtime
            .metric("garonne_realtime_alerts_published_total")
            .await
            >= 4.0
    );
    realtime.stop().await;
}

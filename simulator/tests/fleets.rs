//! The described fleets against a real mosquitto, on the test open data: the bikes and the
//! river replay their files (every reading valid under its profile, values, units and times
//! those of the file's rows), a family the tests write themselves runs with no Rust change, and
//! without a choice every fleet whose files are present runs.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use garonne_payload::profile::Profile;
use garonne_payload::{
    Limits, ProfileId, Quantity, Reading, Source, Timestamp, Topics, parse_reading,
    parse_reading_under,
};
use garonne_simulator::fleet::FleetConfig;
use garonne_simulator::fleets;
use garonne_simulator::simulate::{self, SimulateConfig, Summary};
use garonne_testkit::{Mosquitto, Subscriber};
use tokio_util::sync::CancellationToken;

/// The simulator on `broker` under `prefix` for three seconds, replaying the data's own times
/// (not rebased).
fn config(
    broker: &Mosquitto,
    prefix: &str,
    data_dir: PathBuf,
    fleet: FleetConfig,
) -> SimulateConfig {
    let fleet = FleetConfig {
        rebase: false,
        ..fleet
    };
    common::config(broker, prefix, data_dir, fleet, 3)
}

/// Runs the fleets `chosen` and returns the summary and every reading published, each checked
/// valid (and valid under `profile`), by sensor.
async fn run(
    broker: &Mosquitto,
    prefix: &str,
    data_dir: PathBuf,
    chosen: &[&str],
    fleet: FleetConfig,
    profile: &str,
) -> (Summary, BTreeMap<String, Vec<Reading>>) {
    let filter = format!("{prefix}/v1/sensors/+/reading");
    let mut sub = Subscriber::start(broker, &format!("{prefix}-sub"), &[&filter]).await;
    let chosen: Vec<String> = chosen.iter().map(|s| (*s).to_owned()).collect();
    let summary = tokio::time::timeout(
        Duration::from_secs(60),
        simulate::run_fleets(
            config(broker, prefix, data_dir, fleet),
            Some(&chosen),
            CancellationToken::new(),
        ),
    )
    .await
    .expect("the run ends after its duration")
    .expect("the run succeeds");
    assert!(summary.delivered, "the broker acknowledged everything");
    let expected = summary.published as usize;
    assert!(expected > 0, "something was published");
    let messages = sub
        .wait_for("every reading", Duration::from_secs(20), |m| {
            m.len() >= expected
        })
        .await;
    let now = Timestamp::now();
    let limits = Limits::default();
    let profile = ProfileId::from_name(profile).expect("catalogued profile");
    let mut readings: BTreeMap<String, Vec<Reading>> = BTreeMap::new();
    for m in &messages[..expected] {
        let text = String::from_utf8_lossy(&m.payload);
        let reading = parse_reading(&m.payload, now, &limits)
            .unwrap_or_else(|e| panic!("{}: {e}: {text}", m.topic));
        parse_reading_under(&m.payload, profile, now, &limits)
            .unwrap_or_else(|e| panic!("{}: not valid under its profile: {e}: {text}", m.topic));
        assert_eq!(reading.profile, Some(profile), "{text}");
        assert_eq!(
            m.topic,
            format!("{prefix}/v1/sensors/{}/reading", reading.sensor_id)
        );
        readings
            .entry(reading.sensor_id.clone())
            .or_default()
            .push(reading);
    }
    (summary, readings)
}

fn q(name: &str) -> Quantity {
    Quantity::from_name(name).expect("catalogued")
}

fn t(text: &str) -> Timestamp {
    Timestamp::parse(text).expect("time")
}

/// A `,` or `;` file's rows as maps, read here independently of the loader.
fn rows(path: &Path, delimiter: char) -> Vec<HashMap<String, String>> {
    let text = std::fs::read_to_string(path).expect("read");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("header").split(delimiter).collect();
    lines
        .map(|line| {
            header
                .iter()
                .zip(line.split(delimiter))
                .map(|(h, v)| ((*h).to_owned(), v.to_owned()))
                .collect()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bikes_replay_the_availability_file() {
    let Some(broker) = Mosquitto::start_or_skip() else {
        return;
    };
    let dir = garonne_testkit::open_data_dir();
    // A week of data per second: the three seconds cover the three weeks of October.
    let fleet = FleetConfig {
        speed: 604_800.0,
        rate_hz: 2.0,
        ..FleetConfig::default()
    };
    let (summary, readings) = run(
        &broker,
        "fleet-bikes",
        dir.clone(),
        &["bikes"],
        fleet,
        "bikes",
    )
    .await;
    assert_eq!(summary.fleets, [("bikes".to_owned(), 384)]);
    assert_eq!(readings.len(), 384, "every station published");

    // Positions from the static file (11 stations it lacks are placed by the snapshot).
    let stations: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("velotoulouse-stations-static-2024-10.json"))
            .expect("read"),
    )
    .expect("json");
    let positions: HashMap<String, (f64, f64)> = stations
        .as_array()
        .expect("array")
        .iter()
        .map(|s| {
            (
                format!("velotoulouse-{}", s["number"]),
                (
                    s["longitude"].as_f64().expect("lon"),
                    s["latitude"].as_f64().expect("lat"),
                ),
            )
        })
        .collect();
    // Each station's history, in file order (which is time order per station).
    let mut history: HashMap<String, Vec<(Timestamp, [f64; 3])>> = HashMap::new();
    for row in rows(&dir.join("velotoulouse-availability-2024-09_10.csv"), ',') {
        let n = |c: &str| row[c].parse::<f64>().expect("count");
        history
            .entry(format!("velotoulouse-{}", row["number"]))
            .or_default()
            .push((
                t(&row["last_update_utc"]),
                [
                    n("available_bikes"),
                    n("available_bike_stands"),
                    n("bike_stands"),
                ],
            ));
    }
    let from_snapshot = readings.keys().filter(|id| !positions.contains_key(*id));
    assert_eq!(from_snapshot.count(), 11);
    let names = ["availableBikeNumber", "freeSlotNumber", "totalSlotNumber"];
    let (mut replayed, mut estimated) = (0, 0);
    for (id, rs) in &readings {
        for r in rs {
            assert_eq!(r.kind, "bike-station");
            if let Some(position) = positions.get(id) {
                assert_eq!((r.location.lon, r.location.lat), *position, "{id}");
            }
            let got: Vec<Option<f64>> = names.iter().map(|n| r.quantities.get(q(n))).collect();
            match r.source {
                // The last row at or before the reading's time, held (a week at most).
                Source::OpendataReplay => {
                    replayed += 1;
                    let rows = &history[id];
                    let last = rows
                        .iter()
                        .filter(|(time, _)| *time <= r.time)
                        .max_by_key(|(time, _)| *time)
                        .unwrap_or_else(|| {
                            panic!("{id} replayed before its first row: {}", r.time)
                        });
                    assert!(r.time.secs_since(last.0) <= 604_800.0, "{id} at {}", r.time);
                    assert_eq!(got, last.1.map(Some), "{id} at {}", r.time);
                }
                Source::OpendataEstimate => {
                    estimated += 1;
                    if id == "velotoulouse-385" {
                        // Its snapshot dict: 1 bike, 11 docks free, capacity 13.
                        assert_eq!(got, [Some(1.0), Some(11.0), Some(13.0)]);
                    }
                }
                other => panic!("{id}: source {other:?}"),
            }
        }
    }
    assert!(
        replayed > 300 && estimated > 300,
        "{replayed} replayed, {estimated} estimated"
    );
    assert_eq!(summary.fleet.replayed, replayed);
    // A station that has rows in October is replayed exactly: station 1's row of
    // 2024-10-08T12:29:18Z holds until its next row, 2024-10-09T15:02:02Z.
    let s1 = &readings["velotoulouse-1"];
    let in_between = s1
        .iter()
        .find(|r| r.time >= t("2024-10-08T12:29:18Z") && r.time < t("2024-10-09T15:02:02Z"));
    if let Some(r) = in_between {
        let row = history["velotoulouse-1"]
            .iter()
            .find(|(time, _)| *time == t("2024-10-08T12:29:18Z"))
            .expect("the row");
        assert_eq!(r.quantities.get(q("availableBikeNumber")), Some(row.1[0]));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_river_replays_daily_maximum_heights_in_metres() {
    let Some(broker) = Mosquitto::start_or_skip() else {
        return;
    };
    let dir = garonne_testkit::open_data_dir();
    // A day per second, two readings a day per gauge.
    let fleet = FleetConfig {
        speed: 86_400.0,
        rate_hz: 2.0,
        ..FleetConfig::default()
    };
    let (summary, readings) = run(
        &broker,
        "fleet-river",
        dir.clone(),
        &["river"],
        fleet,
        "river",
    )
    .await;
    assert_eq!(summary.fleets, [("river".to_owned(), 2)]);
    let ids: Vec<&String> = readings.keys().collect();
    assert_eq!(ids, ["hydro-O200004001", "hydro-O200008001"]);

    // The file's heights by (station, date), in metres: "517 [mm]" is 0.517 m.
    let mut heights: HashMap<(String, String), f64> = HashMap::new();
    for row in rows(
        &dir.join("garonne-toulouse-daily-max-water-height.csv"),
        ';',
    ) {
        let mm: f64 = row["hauteur"]
            .strip_suffix(" [mm]")
            .expect("a [mm] value")
            .parse()
            .expect("number");
        heights.insert(
            (
                format!("hydro-{}", row["code_station"]),
                row["date_observation"].clone(),
            ),
            mm / 1000.0,
        );
    }
    let level = q("streamGauge");
    for (id, rs) in &readings {
        for r in rs {
            assert_eq!(r.source, Source::OpendataReplay);
            assert_eq!(r.kind, "river-gauge");
            // A day is local (Paris) midnight to midnight: UTC+1 in winter, UTC+2 in summer.
            let date = |hours: i64| {
                r.time.add_nanos(hours * 3_600_000_000_000).to_string()[..10].to_owned()
            };
            let (winter, summer) = (date(1), date(2));
            let want: Vec<f64> = [&winter, &summer]
                .iter()
                .filter_map(|d| heights.get(&(id.clone(), (*d).clone())).copied())
                .collect();
            let got = r.quantities.get(level).expect("a level");
            assert!(
                want.contains(&got),
                "{id} at {}: {got} m, file says {want:?}",
                r.time
            );
        }
    }
    // The first reading is the first day, 1 January 2023 from midnight in Paris: 517 mm.
    let first = &readings["hydro-O200004001"][0];
    assert_eq!(first.time, t("2022-12-31T23:00:00Z"));
    assert_eq!(first.quantities.get(level), Some(0.517));
    let pont_neuf = (first.location.lon, first.location.lat);
    assert_eq!(
        pont_neuf,
        (1.439964216, 43.597961996),
        "from the stations GeoJSON"
    );
}

/// The opendata crate's fixture of a family Garonne has never seen (car-park occupancy):
/// its CSV, its description and its profile.
const PARKING: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../opendata/tests/fixtures/parking"
);

/// A data folder with that family: its CSV, its description in `fleets/`, and its profile
/// registered (as `--profiles` would).
fn parking_dir() -> tempfile::TempDir {
    let fixture = Path::new(PARKING);
    let profile = std::fs::read_to_string(fixture.join("parking-profile.toml")).expect("profile");
    let _ = Quantity::register(Profile::parse(&profile).expect("profile"));
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::copy(fixture.join("parking.csv"), dir.path().join("parking.csv")).expect("csv");
    std::fs::create_dir(dir.path().join("fleets")).expect("fleets dir");
    std::fs::copy(
        fixture.join("parking.toml"),
        dir.path().join("fleets/parking.toml"),
    )
    .expect("description");
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_family_written_by_the_test_runs_with_no_rust_change() {
    let Some(broker) = Mosquitto::start_or_skip() else {
        return;
    };
    let dir = parking_dir();
    let fleet = FleetConfig {
        speed: 3600.0,
        rate_hz: 2.0,
        ..FleetConfig::default()
    };
    let (summary, readings) = run(
        &broker,
        "fleet-parking",
        dir.path().to_owned(),
        &["parking"],
        fleet,
        "parking-example",
    )
    .await;
    assert_eq!(summary.fleets, [("parking".to_owned(), 2)]);
    let spaces = q("freeParkingSpaces");
    // Both kept rows are 07:00 UTC (08:00 in Paris); the later rows are broken (a -1 sentinel,
    // not a number) or a duplicate, so the 08:00 values hold for the two hours the description
    // allows.
    assert_eq!(
        readings["parking-Capitole"][0].time,
        t("2025-11-24T07:00:00Z")
    );
    for (id, want) in [("parking-Capitole", 120.0), ("parking-Carmes", 75.0)] {
        for r in &readings[id] {
            assert_eq!(r.kind, "car-park");
            assert_eq!(r.quantities.get(spaces), Some(want), "{id} at {}", r.time);
            assert!(r.time <= t("2025-11-24T09:00:00Z"), "{id} at {}", r.time);
        }
    }
}

#[test]
fn without_a_choice_every_fleet_whose_files_are_present_runs() {
    let start = t("2026-01-01T00:00:00Z");
    let config = FleetConfig::default();
    let topics = Topics::default();
    let names = |dir: &Path, chosen: Option<&[String]>| -> Result<Vec<String>, String> {
        fleets::load(chosen, dir, None, &config, &topics, start)
            .map(|f| f.into_iter().map(|f| f.name).collect())
            .map_err(|e| e.to_string())
    };
    let fixture = garonne_testkit::open_data_dir();
    assert_eq!(
        names(&fixture, None),
        Ok(vec!["weather".into(), "bikes".into(), "river".into()])
    );

    // Only the river's files: only the river runs; asking for the bikes says what is missing.
    let dir = tempfile::tempdir().expect("temp dir");
    for file in [
        "garonne-toulouse-daily-max-water-height.csv",
        "garonne-hydrometric-stations.geojson",
    ] {
        std::fs::copy(fixture.join(file), dir.path().join(file)).expect("copy");
    }
    assert_eq!(names(dir.path(), None), Ok(vec!["river".into()]));
    let e = names(dir.path(), Some(&["bikes".to_owned()])).expect_err("no bike files");
    assert!(e.starts_with("cannot load the bikes fleet"), "{e}");
    let e = names(dir.path(), Some(&["bike".to_owned()])).expect_err("no such fleet");
    assert_eq!(e, "no fleet \"bike\": the fleets are weather, bikes, river");

    // A data folder's own description joins the list.
    let parking = parking_dir();
    assert_eq!(names(parking.path(), None), Ok(vec!["parking".into()]));
    let e = names(tempfile::tempdir().expect("dir").path(), None).expect_err("nothing");
    assert!(e.starts_with("no fleet has its files in"), "{e}");
}

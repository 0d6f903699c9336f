//! The shipped descriptions on the test fixture, and descriptions written by the tests: a new
//! family with no Rust change, broken descriptions and broken rows.

use std::path::Path;

use garonne_payload::{Quantity, Timestamp};

use super::*;

fn fixture() -> std::path::PathBuf {
    garonne_testkit::open_data_dir()
}

fn shipped(name: &str) -> FleetDescription {
    builtin()
        .into_iter()
        .find(|d| d.name == name)
        .unwrap_or_else(|| panic!("no shipped fleet {name}"))
}

fn q(name: &str) -> Quantity {
    Quantity::from_name(name).expect("catalogued")
}

fn t(text: &str) -> Timestamp {
    Timestamp::parse(text).expect("time")
}

#[test]
fn every_shipped_description_parses() {
    for (file, text) in BUILTIN {
        FleetDescription::parse(text, Path::new(file)).unwrap_or_else(|e| panic!("{e}"));
    }
    let names: Vec<String> = builtin().into_iter().map(|d| d.name).collect();
    assert_eq!(names, ["weather", "bikes", "river"]);
}

#[test]
fn bikes_every_station_with_history_or_snapshot() {
    let data = load_fleet(&shipped("bikes"), &fixture()).expect("bikes load");
    let report = &data.report;
    // 378 stations, the two workshops outside the area, and 11 more placed by the snapshot;
    // 100 with history in the fixture, 284 more in the snapshot, 3 in neither.
    let stations = report
        .file("velotoulouse-stations-static-2024-10.json")
        .expect("stations report");
    assert_eq!((stations.rows_read, stations.rows_kept), (378, 376));
    assert_eq!(stations.rows(Reason::OutsideArea), 2);
    assert!(
        stations.examples[0].to_string().contains("1.0001755"),
        "{}",
        stations.examples[0]
    );
    let snapshot = report
        .file("velotoulouse-stations-snapshot-2025-06-24.csv")
        .expect("second stations report");
    assert_eq!(snapshot.role, "stations");
    assert_eq!((snapshot.rows_read, snapshot.rows_kept), (385, 11));
    assert_eq!(snapshot.rows(Reason::PlacedEarlier), 372);
    assert_eq!(snapshot.rows(Reason::OutsideArea), 2);
    assert_eq!(
        (
            report.sensors_with_history,
            report.sensors_estimated,
            report.stations_without_data
        ),
        (100, 284, 3)
    );
    assert_eq!(data.sensors.len(), 384);
    // Station 242 is missing from the 2024 list: its position is the snapshot's dict.
    let s242 = data
        .sensors
        .iter()
        .find(|s| s.id == "velotoulouse-242")
        .expect("242");
    assert_eq!((s242.location.lon, s242.location.lat), (1.433072, 43.63639));
    let readings = report
        .file("velotoulouse-availability-2024-09_10.csv")
        .expect("readings report");
    // One stale row of 30 September is before the replayed period.
    assert_eq!((readings.rows_read, readings.rows_kept), (1000, 999));
    assert_eq!(readings.rows(Reason::OutsidePeriod), 1);
    assert_eq!(data.observations.len(), 999);

    // Station 55's first row: 2024-10-01T14:20:32Z, 1 bike, 12 free docks, 15 docks.
    let first = data
        .observations
        .iter()
        .find(|o| o.station_id == "velotoulouse-55")
        .expect("station 55");
    assert_eq!(first.time, t("2024-10-01T14:20:32Z"));
    assert_eq!(first.quantities.get(q("availableBikeNumber")), Some(1.0));
    assert_eq!(first.quantities.get(q("freeSlotNumber")), Some(12.0));
    assert_eq!(first.quantities.get(q("totalSlotNumber")), Some(15.0));
    let s55 = data
        .sensors
        .iter()
        .find(|s| s.id == "velotoulouse-55")
        .expect("55");
    assert_eq!((s55.location.lon, s55.location.lat), (1.441105, 43.609022));

    // Station 385 has no history: the snapshot's dict says 1 bike, 11 docks free, 13 docks.
    let s385 = data
        .sensors
        .iter()
        .find(|s| s.id == "velotoulouse-385")
        .expect("385");
    assert!(!s385.has_history);
    let estimate = s385.estimate.as_ref().expect("estimate");
    assert_eq!(estimate.get(q("availableBikeNumber")), Some(1.0));
    assert_eq!(estimate.get(q("freeSlotNumber")), Some(11.0));
    assert_eq!(estimate.get(q("totalSlotNumber")), Some(13.0));
    assert_eq!(data.replay.mode, ReplayMode::Step);
}

#[test]
fn river_the_toulouse_gauges_in_metres_on_paris_days() {
    let data = load_fleet(&shipped("river"), &fixture()).expect("river load");
    let ids: Vec<&str> = data.sensors.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["hydro-O200004001", "hydro-O200008001"]);
    let pont_neuf = &data.sensors[0];
    assert_eq!(
        (pont_neuf.location.lon, pont_neuf.location.lat),
        (1.439964216, 43.597961996)
    );
    assert_eq!(data.observations.len(), 1462);
    let level = q("streamGauge");
    // 2023-01-01;O200004001;517 [mm]: the day starts at midnight in Paris (UTC+1 in winter).
    let first = &data.observations[0];
    assert_eq!(first.station_id, "hydro-O200004001");
    assert_eq!(first.time, t("2022-12-31T23:00:00Z"));
    assert_eq!(first.quantities.get(level), Some(0.517));
    // 2023-07-01;O200004001;794 [mm], in summer time (UTC+2).
    let july = data
        .observations
        .iter()
        .find(|o| o.time == t("2023-06-30T22:00:00Z"))
        .expect("1 July 2023");
    assert_eq!(july.quantities.get(level), Some(0.794));
    let stations = data
        .report
        .file("garonne-hydrometric-stations.geojson")
        .expect("stations");
    assert_eq!(stations.rows_read, 133);
    assert_eq!(data.report.stations_without_data, stations.rows_kept - 2);
}

/// A family the project has never seen (parking occupancy, as a portal might export it),
/// described in `tests/fixtures/parking`: no Rust change.
const PARKING: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/parking");

fn parking_file(name: &str) -> String {
    std::fs::read_to_string(Path::new(PARKING).join(name)).expect("fixture")
}

/// The parking description's text, after its profile is registered (as `--profiles` would).
fn parking_fleet() -> String {
    let profile = parking_file("parking-profile.toml");
    let _ =
        Quantity::register(garonne_payload::profile::Profile::parse(&profile).expect("profile"));
    parking_file("parking.toml")
}

fn parking_dir() -> &'static Path {
    Path::new(PARKING)
}

#[test]
fn a_new_family_from_its_description_alone() {
    let text = parking_fleet();
    let description = FleetDescription::parse(&text, Path::new("parking.toml")).expect("parses");
    let data = load_fleet(&description, parking_dir()).expect("loads");
    let ids: Vec<&str> = data.sensors.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["parking-Capitole", "parking-Carmes"]);
    let spaces = q("freeParkingSpaces");
    let got: Vec<(&str, Timestamp, Option<f64>)> = data
        .observations
        .iter()
        .map(|o| (o.station_id.as_str(), o.time, o.quantities.get(spaces)))
        .collect();
    assert_eq!(
        got,
        [
            ("parking-Capitole", t("2025-11-24T07:00:00Z"), Some(120.0)),
            // A local time without offset is Paris time: 08:00 is 07:00 UTC in November.
            ("parking-Carmes", t("2025-11-24T07:00:00Z"), Some(75.0)),
        ]
    );

    // Every other row is counted, by reason, with file, row and column.
    let file = data.report.file("parking.csv").expect("report");
    assert_eq!(file.rows_read, 7);
    assert_eq!(file.rows_kept, 2);
    assert_eq!(file.rows(Reason::NoValue), 2, "the -1 and the abc rows");
    assert_eq!(file.rows(Reason::BadTime), 1);
    assert_eq!(file.rows(Reason::NoId), 1);
    assert_eq!(file.rows(Reason::Duplicate), 1);
    assert_eq!(file.values(Reason::Sentinel), 1);
    assert_eq!(file.values(Reason::NotANumber), 1);
    let messages: Vec<String> = file.examples.iter().map(ToString::to_string).collect();
    let wanted = [
        "parking.csv: line 3, column libres: \"-1\" is a no-data sentinel",
        "parking.csv: line 4, column libres: \"abc\" is not a number",
        "parking.csv: line 6, column horodatage: \"hier\" is not an ISO 8601 time",
        "parking.csv: line 7, column parking: \"\" is no sensor id",
    ];
    for want in wanted {
        assert!(
            messages.iter().any(|m| m.starts_with(want)),
            "{want}\nin {messages:#?}"
        );
    }
}

#[test]
fn rows_outside_from_until_are_counted_apart() {
    let text = parking_fleet().replace(
        "lat = \"lat\"",
        "lat = \"lat\"\nfrom = \"2025-11-24\"\nuntil = \"2025-11-24T07:30:00Z\"",
    );
    let description = FleetDescription::parse(&text, Path::new("parking.toml")).expect("parses");
    assert_eq!(
        description.readings.from,
        Some(t("2025-11-23T23:00:00Z")),
        "Paris midnight"
    );
    let data = load_fleet(&description, parking_dir()).expect("loads");
    let file = data.report.file("parking.csv").expect("report");
    // Capitole at 09:00 and 10:00 (Paris) are after `until`; the rest as without the window.
    assert_eq!(file.rows(Reason::OutsidePeriod), 2);
    assert_eq!(file.rows(Reason::NoValue), 0);
    assert_eq!(file.rows_kept, 2);

    let text = parking_fleet().replace("lat = \"lat\"", "lat = \"lat\"\nfrom = \"24/11/2025\"");
    let e = FleetDescription::parse(&text, Path::new("parking.toml")).expect_err("bad from");
    assert!(
        e.to_string()
            .starts_with("parking.toml: readings.from: \"24/11/2025\" is not a time"),
        "{e}"
    );
}

#[test]
fn ids_that_make_the_same_sensor_id_are_counted_not_merged() {
    let fleet = parking_fleet();
    let dir = tempfile::tempdir().expect("temp dir");
    let csv = "parking;horodatage;libres;lon;lat\n\
               Saint Cyprien;2025-11-24T08:00:00Z;5;1.43;43.6\n\
               Saint-Cyprien;2025-11-24T08:00:00Z;6;1.43;43.6\n";
    std::fs::write(dir.path().join("parking.csv"), csv).expect("csv");
    let description = FleetDescription::parse(&fleet, Path::new("parking.toml")).expect("parses");
    let data = load_fleet(&description, dir.path()).expect("loads");
    let ids: Vec<&str> = data.sensors.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["parking-Saint-Cyprien"]);
    assert_eq!(data.report.sensor_id_clashes, 1);
    let values: Vec<Option<f64>> = data
        .observations
        .iter()
        .map(|o| o.quantities.get(q("freeParkingSpaces")))
        .collect();
    assert_eq!(values, [Some(5.0)], "the first id's rows only");
    assert!(
        data.report.to_string().contains("1 ids left out"),
        "{}",
        data.report
    );
}

#[test]
fn broken_descriptions_name_the_file_the_key_and_the_fix() {
    let fleet = parking_fleet();
    let cases: [(&str, &str, &str); 7] = [
        (
            "profile = \"parking-example\"",
            "profile = \"parkin\"",
            "parking.toml: profile: no profile \"parkin\" in the catalogue: write one of",
        ),
        (
            "column = \"libres\"",
            "column = \"libres\"\nunit = \"ft\"",
            "parking.toml: readings.value[0].unit: no conversion from \"ft\" to count",
        ),
        (
            "quantity = \"freeParkingSpaces\"",
            "quantity = \"temperature\"",
            "parking.toml: readings.value[0].quantity: \"temperature\" is not a quantity of the fleet's profile: write one of freeParkingSpaces",
        ),
        (
            "delimiter = \";\"",
            "delimiter = \";;\"",
            "parking.toml: readings.delimiter: \";;\" is not one character",
        ),
        (
            "zone = \"Europe/Paris\"",
            "zone = \"CET\"",
            "parking.toml: readings.zone: \"CET\" is not a known zone: write \"UTC\" or \"Europe/Paris\"",
        ),
        (
            "lat = \"lat\"",
            "",
            "parking.toml: readings.lon: give both lon and lat, or neither",
        ),
        (
            "mode = \"step\"",
            "mode = \"steps\"",
            "parking.toml: not a fleet description",
        ),
    ];
    for (from, to, want) in cases {
        let text = fleet.replace(from, to);
        let e = FleetDescription::parse(&text, Path::new("parking.toml")).expect_err(want);
        assert!(e.to_string().starts_with(want), "{e}\nwanted {want}");
    }

    // A column the file does not have: the description, the key, the file, its columns.
    let text = fleet.replace("time = \"horodatage\"", "time = \"horodate\"");
    let description = FleetDescription::parse(&text, Path::new("parking.toml")).expect("parses");
    let e = load_fleet(&description, parking_dir()).expect_err("no such column");
    let message = e.to_string();
    assert!(
        message.starts_with("parking.toml: readings.time names column \"horodate\", which ")
            && message.ends_with(
                "parking.csv does not have; its columns are: parking, horodatage, libres, lon, lat"
            ),
        "{message}"
    );

    // The wrong delimiter: every row has one field, so no column is found.
    let text = fleet.replace("delimiter = \";\"", "delimiter = \",\"");
    let description = FleetDescription::parse(&text, Path::new("parking.toml")).expect("parses");
    let e = load_fleet(&description, parking_dir()).expect_err("wrong delimiter");
    assert!(
        e.to_string()
            .contains("its columns are: parking;horodatage;libres;lon;lat"),
        "{e}"
    );

    // A missing file.
    let text = fleet.replace("parking.csv", "nowhere.csv");
    let description = FleetDescription::parse(&text, Path::new("parking.toml")).expect("parses");
    let e = load_fleet(&description, parking_dir()).expect_err("no file");
    assert!(
        e.to_string().starts_with("cannot read ") && e.to_string().ends_with("nowhere.csv"),
        "{e}"
    );
}

/// The weather description gives what the weather loaders give: every observation (sensor,
/// time, every value), every station as a sensor (id, position with altitude, payload kind,
/// quantities, in catalogue order), and each readings file's counts.
#[test]
fn the_weather_description_gives_the_weather_loaders_readings() {
    let dir = fixture();
    let old = crate::load_dir(&dir).expect("weather loaders");
    let new = load_fleet(&shipped("weather"), &dir).expect("weather description");
    let comparison = crate::fleet::compare_weather(&old, &new);
    assert_eq!(comparison.differences, Vec::<String>::new());
    // The fixture: 77 stations, three readings files.
    assert_eq!(comparison.sensors, 77);
    assert_eq!(comparison.files, 3);
    assert_eq!(comparison.observations, old.observations.len());
    assert!(
        comparison.observations > 1000,
        "{}",
        comparison.observations
    );
    assert!(!new.profile_in_readings && new.neighbours);
}

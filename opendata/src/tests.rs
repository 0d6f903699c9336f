//! Tests of the loaders: the real Toulouse files (read in place from the shared data folder,
//! never copied) pin the counts of SOURCES.md; small inline files cover the edge cases.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use garonne_payload::{Limits, Quantity, Reading, Source, Timestamp, validate_reading};

use crate::*;

const CATALOGUE: &str = "stations-meteo-en-place.json";
const RECORDS_42: &str = "station-42-compans-caffarelli-records-2025-11-24.json";
const HOURLY_1: &str = "stations-meteo-hourly-2025-11-02_to_06-10stations.csv";
const HOURLY_2: &str = "stations-meteo-hourly-2025-11-23_to_27-9stations.csv";
const COMPANS: &str = "42-station-meteo-toulouse-parc-compans-cafarelli";

fn data(name: &str) -> PathBuf {
    garonne_testkit::open_data_file(name)
}

fn catalogue() -> Vec<Station> {
    load_catalogue(&data(CATALOGUE)).expect("the real catalogue loads")
}

fn utc(text: &str) -> Timestamp {
    Timestamp::parse(text).expect("valid UTC time")
}

/// Writes `content` to `name` in a fresh temporary directory.
fn temp_file(name: &str, content: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(name);
    std::fs::write(&path, content).expect("write temp file");
    (dir, path)
}

/// Loads inline readings against the real catalogue.
fn readings(name: &str, content: &str) -> Result<(Vec<Observation>, LoadReport), LoadError> {
    let (_dir, path) = temp_file(name, content);
    let mut report = LoadReport::default();
    let observations = load_readings(&path, &catalogue(), &mut report)?;
    Ok((observations, report))
}

/// Checks the invariants every load must keep: sorted by (station, time), one observation per
/// station and instant, at least one value, every row accounted for.
fn assert_invariants(observations: &[Observation], report: &LoadReport) {
    for pair in observations.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        assert!(
            (a.station_id.as_str(), a.time) < (b.station_id.as_str(), b.time),
            "not sorted or duplicated: {a:?} then {b:?}"
        );
    }
    assert!(observations.iter().all(|o| !o.quantities.is_empty()));
    let mut kept = 0;
    let readings = [Format::RecordsJson, Format::OdsCsv, Format::HourlyCsv];
    for f in report.files.iter().filter(|f| readings.contains(&f.format)) {
        assert_eq!(
            f.rows_read,
            f.observations_kept
                + f.duplicate_rows
                + f.unmatched_rows
                + f.invalid_frames
                + f.rows_without_values,
            "every row of {} is accounted for",
            f.path.display()
        );
        kept += f.observations_kept;
    }
    assert_eq!(kept, observations.len());
}

fn get(o: &Observation, q: Quantity) -> Option<f64> {
    o.quantities.get(q)
}

// ---- the real catalogue ----

#[test]
fn real_catalogue_has_77_stations_and_61_numbers() {
    let stations = catalogue();
    assert_eq!(stations.len(), 77);
    let ids: BTreeSet<&str> = stations.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids.len(), 77, "id_nom is unique");
    let numbers: BTreeSet<u32> = stations.iter().map(|s| s.number).collect();
    assert_eq!(numbers.len(), 61, "id_numero is not");
    let iss = stations
        .iter()
        .filter(|s| s.kind == StationKind::Iss)
        .count();
    assert_eq!((iss, stations.len() - iss), (61, 16));
    assert_eq!(stations.iter().filter(|s| s.transmitting).count(), 64);
    // Catalogue order is kept.
    assert_eq!(stations[0].id, "63-station-meteo-toulouse-LIFE-soufflot");

    let compans = stations.iter().find(|s| s.id == COMPANS).expect("compans");
    assert_eq!(
        (
            compans.number,
            compans.kind,
            compans.lon,
            compans.lat,
            compans.alt
        ),
        (42, StationKind::Iss, 1.431863473, 43.61245993, Some(135.41))
    );
    assert_eq!(compans.commune, "Toulouse");
    // Quirks kept as written: the typo, and a number that differs from the id_nom's prefix.
    assert!(stations.iter().any(|s| s.commune == "Saintt Alban"));
    let ozenne = stations
        .iter()
        .find(|s| s.id == "28-station-meteo-toulouse-carmes-ozenne")
        .expect("ozenne");
    assert_eq!((ozenne.number, ozenne.kind), (27, StationKind::Th));
    for s in &stations {
        assert!(garonne_payload::is_valid_sensor_id(&s.id), "{}", s.id);
        assert!(
            (1.2..1.6).contains(&s.lon) && (43.5..43.8).contains(&s.lat),
            "{}",
            s.id
        );
    }
}

#[test]
fn station_kinds_map_to_payload_kinds_and_quantities() {
    assert_eq!(StationKind::Iss.payload_kind(), "weather-station");
    assert_eq!(StationKind::Th.payload_kind(), "th-station");
    assert_eq!(StationKind::Iss.quantities().len(), 7);
    assert_eq!(
        StationKind::Th.quantities(),
        &[Quantity::Temperature, Quantity::RelativeHumidity]
    );
    for kind in [StationKind::Iss, StationKind::Th] {
        assert!(garonne_payload::is_valid_kind(kind.payload_kind()));
    }
}

// ---- the real readings ----

/// What each real readings file must give (SOURCES.md §3).
struct Expected {
    file: &'static str,
    format: Format,
    rows: usize,
    kept: usize,
    invalid_frames: usize,
    duplicates: usize,
    pressure_sentinels: usize,
    pressure_out_of_range: usize,
    stations: usize,
}

const REAL_READINGS: [Expected; 3] = [
    Expected {
        file: RECORDS_42,
        format: Format::RecordsJson,
        rows: 100,
        kept: 99,
        invalid_frames: 1,
        duplicates: 0,
        pressure_sentinels: 0,
        pressure_out_of_range: 0,
        stations: 1,
    },
    // One duplicate: pech_david 2025-11-03T13:00 twice (humidity 77 then 75: the first wins).
    // One 90000 Pa sentinel (colomiers); station 37's faulty pressure out of range 43 times.
    Expected {
        file: HOURLY_1,
        format: Format::HourlyCsv,
        rows: 585,
        kept: 584,
        invalid_frames: 0,
        duplicates: 1,
        pressure_sentinels: 1,
        pressure_out_of_range: 43,
        stations: 10,
    },
    Expected {
        file: HOURLY_2,
        format: Format::HourlyCsv,
        rows: 599,
        kept: 599,
        invalid_frames: 0,
        duplicates: 0,
        pressure_sentinels: 13,
        pressure_out_of_range: 33,
        stations: 9,
    },
];

#[test]
fn real_readings_files_give_the_documented_counts() {
    let stations = catalogue();
    for want in &REAL_READINGS {
        let mut report = LoadReport::default();
        let observations =
            load_readings(&data(want.file), &stations, &mut report).expect(want.file);
        assert_invariants(&observations, &report);
        let f = &report.files[0];
        let got = (
            f.format,
            f.rows_read,
            f.observations_kept,
            f.invalid_frames,
            f.duplicate_rows,
            f.sentinels(Quantity::AtmosphericPressure),
            f.out_of_range(Quantity::AtmosphericPressure),
        );
        let expected = (
            want.format,
            want.rows,
            want.kept,
            want.invalid_frames,
            want.duplicates,
            want.pressure_sentinels,
            want.pressure_out_of_range,
        );
        assert_eq!(got, expected, "{}", want.file);
        assert_eq!(
            f.unmatched_rows + f.rows_without_values + f.unreadable_values,
            0
        );
        assert_eq!(f.sentinels(Quantity::Temperature), 0, "{}", want.file);
        assert_eq!(f.sentinels(Quantity::RelativeHumidity), 0, "{}", want.file);
        let ids: BTreeSet<&str> = observations.iter().map(|o| o.station_id.as_str()).collect();
        assert_eq!(ids.len(), want.stations, "{}", want.file);
    }
}

#[test]
fn records_json_drops_the_invalid_frame_and_converts_units() {
    let mut report = LoadReport::default();
    let obs = load_readings(&data(RECORDS_42), &catalogue(), &mut report).expect("records");
    assert!(obs.iter().all(|o| o.station_id == COMPANS));
    assert_eq!(obs[0].time, utc("2025-11-24T02:15:00Z"));
    assert_eq!(obs[98].time, utc("2025-11-25T11:00:00Z"));
    // Regression: the 07:00 row is -50 °C / 0 % / 90000 Pa with zero wind: dropped whole.
    assert!(!obs.iter().any(|o| o.time == utc("2025-11-25T07:00:00Z")));
    assert!(obs.iter().any(|o| o.time == utc("2025-11-25T07:30:00Z")));

    // The 11:00 record: 9.4 °C, 77 %, 99800 Pa, wind 1 km/h, gust 8 km/h, rain 0, direction 0.
    let last = &obs[98];
    let want: [(Quantity, f64); 7] = [
        (Quantity::Temperature, 9.4),
        (Quantity::RelativeHumidity, 0.77),
        (Quantity::AtmosphericPressure, 998.0),
        (Quantity::Precipitation, 0.0),
        (Quantity::WindSpeed, 1.0 / 3.6),
        (Quantity::GustSpeed, 8.0 / 3.6),
        (Quantity::WindDirection, 0.0),
    ];
    assert_eq!(last.quantities.iter().collect::<Vec<_>>(), want);

    let temperatures: Vec<f64> = obs
        .iter()
        .filter_map(|o| get(o, Quantity::Temperature))
        .collect();
    let min = temperatures.iter().copied().fold(f64::INFINITY, f64::min);
    let max = temperatures
        .iter()
        .copied()
        .fold(f64::NEG_INFINITY, f64::max);
    assert_eq!((min, max), (7.4, 12.2));
}

#[test]
fn hourly_csv_times_are_utc_and_first_rows_read_right() {
    let stations = catalogue();
    let mut report = LoadReport::default();
    let obs = load_readings(&data(HOURLY_1), &stations, &mut report).expect("hourly 1");
    // The file's first row: montaudran, 2025-11-06T11:00:00+00:00, 92 %, 98900 Pa, 12.7 °C.
    let montaudran = obs
        .iter()
        .find(|o| {
            o.station_id == "12-station-meteo-toulouse-montaudran"
                && o.time == utc("2025-11-06T11:00:00Z")
        })
        .expect("montaudran's first row");
    assert_eq!(
        montaudran.quantities.iter().collect::<Vec<_>>(),
        [
            (Quantity::Temperature, 12.7),
            (Quantity::RelativeHumidity, 0.92),
            (Quantity::AtmosphericPressure, 989.0),
        ]
    );
    let times: BTreeSet<Timestamp> = obs.iter().map(|o| o.time).collect();
    assert_eq!(times.first(), Some(&utc("2025-11-02T12:00:00Z")));
    assert_eq!(times.last(), Some(&utc("2025-11-06T11:00:00Z")));
    // The duplicated pech_david row: the first one (77 %) wins.
    let pech = obs
        .iter()
        .find(|o| {
            o.station_id == "13-station-meteo-toulouse-pech-david"
                && o.time == utc("2025-11-03T13:00:00Z")
        })
        .expect("pech david");
    assert_eq!(get(pech, Quantity::RelativeHumidity), Some(0.77));
}

#[test]
fn crlf_hourly_csv_reads_labels_and_values_without_carriage_returns() {
    let raw = std::fs::read(data(HOURLY_2)).expect("read");
    assert!(
        raw.windows(2).any(|w| w == b"\r\n"),
        "the real file is CRLF"
    );
    let mut report = LoadReport::default();
    let obs = load_readings(&data(HOURLY_2), &catalogue(), &mut report).expect("hourly 2");
    // First row: 12,2025-11-27T13:00:00+00:00,69,100600,8.5,montaudran
    let first = obs
        .iter()
        .find(|o| {
            o.station_id == "12-station-meteo-toulouse-montaudran"
                && o.time == utc("2025-11-27T13:00:00Z")
        })
        .expect("first row");
    assert_eq!(get(first, Quantity::Temperature), Some(8.5));
    assert_eq!(get(first, Quantity::AtmosphericPressure), Some(1006.0));
}

#[test]
fn pressure_sentinels_of_the_second_hourly_file_are_dropped_per_station() {
    let mut report = LoadReport::default();
    let obs = load_readings(&data(HOURLY_2), &catalogue(), &mut report).expect("hourly 2");
    let mut without_pressure: BTreeMap<&str, usize> = BTreeMap::new();
    for o in &obs {
        if get(o, Quantity::AtmosphericPressure).is_none() {
            *without_pressure.entry(o.station_id.as_str()).or_default() += 1;
        }
        // The rest of the row survives a pressure sentinel.
        assert!(get(o, Quantity::Temperature).is_some());
    }
    let want = BTreeMap::from([
        (COMPANS, 8),
        ("13-station-meteo-toulouse-pech-david", 3),
        ("58-station-meteo-toulouse-fondeyre", 2),
        // Station 37's faulty sensor: out of range, not sentinels.
        ("37-station-meteo-toulouse-universite-paul-sabatier", 33),
    ]);
    assert_eq!(without_pressure, want);
    assert_eq!(report.files[0].sentinels(Quantity::AtmosphericPressure), 13);
}

#[test]
fn station_37_keeps_only_physically_possible_pressures() {
    let mut report = LoadReport::default();
    let obs = load_readings(&data(HOURLY_1), &catalogue(), &mut report).expect("hourly 1");
    let kept: Vec<f64> = obs
        .iter()
        .filter(|o| o.station_id == "37-station-meteo-toulouse-universite-paul-sabatier")
        .filter_map(|o| get(o, Quantity::AtmosphericPressure))
        .collect();
    // 92 rows, 43 of them outside 920–1085 hPa.
    assert_eq!(kept.len(), 92 - 43);
    assert!(kept.iter().all(|&p| (920.0..=1085.0).contains(&p)));
    assert!(
        kept.iter().any(|&p| p > 1040.0),
        "faulty but possible values are kept"
    );
}

#[test]
fn every_observation_of_the_real_files_is_a_valid_reading() {
    let open = load_dir(&garonne_testkit::open_data_dir()).expect("load_dir");
    let mut checked = 0;
    for (seq, o) in open.observations.iter().enumerate() {
        let station = open
            .station(&o.station_id)
            .expect("station of the observation");
        let mut reading = Reading::new(
            station.id.clone(),
            station.kind.payload_kind(),
            Source::OpendataReplay,
            o.time,
            seq as u64,
            station.location(),
        );
        reading.quantities = o.quantities.clone();
        assert!(
            o.quantities
                .iter()
                .all(|(q, _)| station.kind.quantities().contains(&q)),
            "{o:?}"
        );
        if let Err(e) = validate_reading(&reading, o.time, &Limits::default()) {
            panic!("{o:?} is not a valid reading: {e:?}");
        }
        checked += 1;
    }
    assert_eq!(checked, 1257);
}

// ---- the real directory ----

#[test]
fn load_dir_loads_the_real_folder_and_skips_other_files() {
    let open = load_dir(&garonne_testkit::open_data_dir()).expect("load_dir");
    assert_eq!(open.stations.len(), 77);
    assert_invariants(&open.observations, &open.report);

    let ids: BTreeSet<&str> = open
        .observations
        .iter()
        .map(|o| o.station_id.as_str())
        .collect();
    let want: BTreeSet<&str> = [
        "11-station-meteo-toulouse-soupetard",
        "12-station-meteo-toulouse-montaudran",
        "13-station-meteo-toulouse-pech-david",
        "24-station-meteo-colomiers-zi-enjacca",
        "31-station-meteo-mons-station-epuration",
        "33-station-meteo-saint-jory-chapelle-beldou",
        "37-station-meteo-toulouse-universite-paul-sabatier",
        COMPANS,
        "58-station-meteo-toulouse-fondeyre",
        "62-station-meteo-toulouse-parc-maourine",
    ]
    .into();
    assert_eq!(ids, want);

    // 99 + 584 + 599 observations, less the 25 hours of compans in both the records file and
    // the second hourly file (same values: the records file, read first, wins).
    assert_eq!(open.observations.len(), 99 + 584 + 599 - 25);
    let second = open.report.file(HOURLY_2).expect("hourly 2 report");
    assert_eq!((second.duplicate_rows, second.observations_kept), (25, 574));
    let compans = open.observations_of(COMPANS);
    assert_eq!(compans.len(), 96 + 99 + 72 - 25);
    assert!(compans.iter().all(|o| o.station_id == COMPANS));
    let merged = compans
        .iter()
        .find(|o| o.time == utc("2025-11-24T10:00:00Z"))
        .expect("an hour in both files");
    assert_eq!(merged.quantities.len(), 7, "the fuller records row wins");

    let skipped: BTreeSet<String> = open
        .report
        .skipped()
        .map(|f| {
            f.path
                .file_name()
                .expect("name")
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    let want_skipped: BTreeSet<String> = [
        "SOURCES.md",
        "catalog-meteo-datasets-metadata-2021-01.json",
        "communes-toulouse-metropole.geojson",
        "garonne-hydrometric-stations.geojson",
        "garonne-toulouse-daily-max-water-height.csv",
        "grands-quartiers-2015-population.geojson",
        "quartiers-de-democratie-locale.geojson",
        "velotoulouse-availability-2024-09_10.csv",
        "velotoulouse-stations-snapshot-2025-06-24.csv",
        "velotoulouse-stations-static-2024-10.json",
    ]
    .map(String::from)
    .into();
    assert_eq!(skipped, want_skipped);
    assert_eq!(open.report.files.len(), 14, "every file is listed");

    let summary = open.report.to_string();
    assert_eq!(summary.lines().count(), 14, "{summary}");
    for line in [
        "SOURCES.md: not a weather file",
        "stations-meteo-en-place.json: station catalogue (JSON export): 77 stations",
        "station-42-compans-caffarelli-records-2025-11-24.json: readings (JSON records): \
         100 rows, 99 observations; dropped: invalid radio frames 1",
        "stations-meteo-hourly-2025-11-23_to_27-9stations.csv: readings (',' hourly CSV): \
         599 rows, 574 observations; dropped: duplicate rows 25, sentinels 13 \
         (atmosphericPressure 13), out of range 33 (atmosphericPressure 33)",
    ] {
        assert!(
            summary.lines().any(|l| l == line),
            "{line}\nnot in\n{summary}"
        );
    }
}

#[test]
fn load_dir_needs_exactly_one_catalogue() {
    let catalogue_json = std::fs::read_to_string(data(CATALOGUE)).expect("read");
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("notes.txt"), "nothing to see").expect("write");
    // Binary content is skipped, not an error.
    std::fs::write(dir.path().join("blob.bin"), [0x1f, 0x8b, 0xff, 0xfe, 0x00]).expect("write");
    // So is a Latin-1 file that does not start like a weather file.
    let latin1 = b"{\"type\": \"FeatureCollection\", \"name\": \"Saint-J\xe9r\xf4me\"}";
    std::fs::write(dir.path().join("latin1.geojson"), latin1).expect("write");
    let err = load_dir(dir.path()).expect_err("no catalogue");
    assert!(matches!(err, LoadError::NoCatalogue { .. }), "{err}");

    std::fs::write(dir.path().join("a.json"), &catalogue_json).expect("write");
    let open = load_dir(dir.path()).expect("one catalogue");
    assert_eq!((open.stations.len(), open.observations.len()), (77, 0));
    assert_eq!(open.report.skipped().count(), 3);

    std::fs::write(dir.path().join("b.data"), &catalogue_json).expect("write");
    let err = load_dir(dir.path()).expect_err("two catalogues");
    assert!(matches!(err, LoadError::SeveralCatalogues { .. }), "{err}");
    assert!(err.to_string().contains("two station catalogues"), "{err}");
}

// ---- synthetic inputs: formats ----

const ODS_HEADER: &str = "data;id;humidite;direction_du_vecteur_de_vent_max;pluie_intensite_max;\
pression;direction_du_vecteur_vent_moyen;type_de_station;pluie;\
direction_du_vecteur_de_rafale_de_vent_max;force_moyenne_du_vecteur_vent;force_rafale_max;\
temperature;heure_de_paris";

/// Carmes (28) in an ODS export: label-style column names, local times around both 2025 clock
/// changes, rows out of order, an invalid frame, a pressure sentinel and a blank.
fn ods_carmes() -> String {
    format!(
        "{ODS_HEADER}\n\
         5578614f0a8000000ba00000;28;80;3;0.0;99300;90;ISS;0.2;67.5;18;36;10.2;2025-03-30T03:15:00+02:00\n\
         5578614f0a8000000ba00000;28;75;3;0.0;90000;180;ISS;0.0;67.5;0;0;8.1;2025-10-26T02:30:00+02:00\n\
         557963a00000000000000000;28;0;0;0.0;90000;0;ISS;0.0;0.0;0;0;-50.0;2025-03-30T01:30:00+01:00\n\
         5578614f0a8000000ba00000;28;;3;0.0;101000;270;ISS;0.0;67.5;3.6;7.2;7.9;2025-10-26T02:30:00+01:00\n\
         5578614f0a8000000ba00000;28;81;3;0.0;99400;45;ISS;0.0;67.5;9;18;10.0;2025-03-30T01:45:00+01:00\n"
    )
}

#[test]
fn ods_csv_export_with_paris_offsets_and_unsorted_rows() {
    // Carmes (28), label-style column names, local times around both 2025 clock changes,
    // rows out of order, an invalid frame, a pressure sentinel and a blank.
    let csv = ods_carmes();
    let (obs, report) = readings("carmes.csv", &csv).expect("ods export");
    assert_invariants(&obs, &report);
    let f = &report.files[0];
    assert_eq!(f.format, Format::OdsCsv);
    assert_eq!(
        (f.rows_read, f.observations_kept, f.invalid_frames),
        (5, 4, 1)
    );
    assert_eq!(f.sentinels(Quantity::AtmosphericPressure), 1);
    assert_eq!(f.blank_values, 1);

    let times: Vec<String> = obs.iter().map(|o| o.time.to_string()).collect();
    assert_eq!(
        times,
        [
            "2025-03-30T00:45:00Z",
            "2025-03-30T01:15:00Z",
            "2025-10-26T00:30:00Z",
            "2025-10-26T01:30:00Z",
        ]
    );
    assert!(
        obs.iter()
            .all(|o| o.station_id == "28-station-meteo-toulouse-carmes")
    );
    assert_eq!(
        obs[1].quantities.iter().collect::<Vec<_>>(),
        [
            (Quantity::Temperature, 10.2),
            (Quantity::RelativeHumidity, 0.8),
            (Quantity::AtmosphericPressure, 993.0),
            (Quantity::Precipitation, 0.2),
            (Quantity::WindSpeed, 5.0),
            (Quantity::GustSpeed, 10.0),
            (Quantity::WindDirection, 90.0),
        ]
    );
    assert_eq!(
        get(&obs[2], Quantity::AtmosphericPressure),
        None,
        "90000 Pa sentinel"
    );
    assert_eq!(get(&obs[3], Quantity::RelativeHumidity), None, "blank");
    assert_eq!(get(&obs[3], Quantity::WindSpeed), Some(1.0));
}

#[test]
fn heure_utc_wins_and_a_blank_one_falls_back_to_paris_time() {
    let csv = "id;temperature_en_degre_c;heure_de_paris;heure_utc\n\
               12;10.0;2025-11-24T11:00:00+01:00;2025-11-24T10:00:00+00:00\n\
               12;11.0;2025-11-24T12:00:00+01:00;\n\
               12;12.0;2025-11-24T13:00:00+01:00;2025-11-24T12:00:00Z\n";
    let (obs, _) = readings("utc.csv", csv).expect("loads");
    let times: Vec<String> = obs.iter().map(|o| o.time.to_string()).collect();
    assert_eq!(
        times,
        [
            "2025-11-24T10:00:00Z",
            "2025-11-24T11:00:00Z",
            "2025-11-24T12:00:00Z"
        ]
    );
}

#[test]
fn hourly_csv_with_index_column_lf_and_bom() {
    let csv = "\u{feff},id,heure_de_paris,humidite,pression,temperature_en_degre_c,station_name\n\
               0,42.0,2025-11-06T11:00:00+00:00,92.0,98900.0,12.7,compans_cafarelli\n\
               1,42.0,2025-11-06T10:00:00+00:00,91.0,99000.0,12.9,compans_cafarelli\n";
    let (obs, report) = readings("hourly.csv", csv).expect("loads");
    assert_eq!(report.files[0].format, Format::HourlyCsv);
    assert_eq!(obs.len(), 2);
    assert!(
        obs.iter().all(|o| o.station_id == COMPANS),
        "the ISS, not the point-frais TH"
    );
    assert_eq!(obs[0].time, utc("2025-11-06T10:00:00Z"));

    // The same with CRLF and no index column.
    let crlf = "id,heure_de_paris,humidite,pression,temperature_en_degre_c,station_name\r\n\
                42,2025-11-06T11:00:00+00:00,92,98900,12.7,compans_cafarelli\r\n";
    let (obs, _) = readings("crlf.csv", crlf).expect("loads");
    assert_eq!(get(&obs[0], Quantity::Temperature), Some(12.7));
}

#[test]
fn json_results_object_and_v1_records_with_a_dataset_id() {
    let v21 = r#"{"total_count": 1, "results": [
        {"id": 42, "humidite": 77, "pression": 99800, "temperature_en_degre_c": 9.4,
         "heure_de_paris": "2025-11-25T11:00:00+00:00", "heure_utc": "2025-11-25T11:00:00+00:00"}
    ]}"#;
    let (obs, report) = readings("results.json", v21).expect("v2.1 object");
    assert_eq!(report.files[0].format, Format::RecordsJson);
    assert_eq!((obs.len(), obs[0].station_id.as_str()), (1, COMPANS));

    // A v1 record names its dataset: the point-frais TH station, which has no wind.
    let v1 = r#"{"nhits": 1, "records": [{"datasetid":
        "42-station-meteo-toulouse-parc-compans-cafarelli-point-frais",
        "fields": {"id": 42, "humidite": 70, "temperature_en_degre_c": 9.0,
                   "force_moyenne_du_vecteur_vent": 7.2,
                   "heure_utc": "2025-11-25T11:00:00+00:00"}}]}"#;
    let (obs, report) = readings("v1.json", v1).expect("v1 records");
    assert_eq!(
        obs[0].station_id,
        "42-station-meteo-toulouse-parc-compans-cafarelli-point-frais"
    );
    assert_eq!(obs[0].quantities.len(), 2);
    assert_eq!(report.files[0].values_not_measured, 1);
}

#[test]
fn rows_of_unknown_stations_are_counted_not_fatal() {
    let csv = "id,heure_de_paris,temperature_en_degre_c\n\
               99,2025-11-06T11:00:00+00:00,12.0\n\
               ,2025-11-06T11:00:00+00:00,12.0\n\
               12.5,2025-11-06T11:00:00+00:00,12.0\n\
               12,2025-11-06T11:00:00+00:00,12.0\n";
    let (obs, report) = readings("unknown.csv", csv).expect("loads");
    assert_eq!(obs.len(), 1);
    let f = &report.files[0];
    assert_eq!(
        (f.unmatched_rows, f.blank_values, f.unreadable_values),
        (3, 1, 1)
    );
    assert_eq!(
        f.value_errors[0].to_string(),
        format!(
            "{}: line 4, column id: \"12.5\" is not a whole station number",
            f.path.display()
        )
    );
}

/// A station's fields, for table comparisons: id, number, kind, lon, lat, alt, transmitting.
type StationRow<'a> = (&'a str, u32, StationKind, f64, f64, Option<f64>, bool);

#[test]
fn catalogue_csv_export_with_geo_point_and_bom() {
    let csv = "\u{feff}longitude;latitude;altitude;id_nom;id_numero;emission;installation;\
               type_stati;lcz;ville;bati;veg_haute;geopoint\n\
               1.441291712;43.58533929;138.21;63-station-meteo-toulouse-LIFE-soufflot;63;V;\
               2020-02-10;TH;2;Toulouse;43126.6164;26098.3;43.58533929, 1.441291712\n\
               ;;;42-station-meteo-toulouse-parc-compans-cafarelli;42.0;N;2019-07-02;ISS;2;\
               Toulouse;;;43.61245993, 1.431863473\n\
               1.5;43.5;;99-test;99;V;2021-01-01;ISS;2;Saintt Alban;;;40.0, 2.0\n";
    let (_dir, path) = temp_file("catalogue-export", csv);
    let stations = load_catalogue(&path).expect("csv catalogue");
    let got: Vec<StationRow<'_>> = stations
        .iter()
        .map(|s| {
            (
                s.id.as_str(),
                s.number,
                s.kind,
                s.lon,
                s.lat,
                s.alt,
                s.transmitting,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                "63-station-meteo-toulouse-LIFE-soufflot",
                63,
                StationKind::Th,
                1.441291712,
                43.58533929,
                Some(138.21),
                true
            ),
            // No longitude/latitude: the "lat, lon" geo point.
            (
                COMPANS,
                42,
                StationKind::Iss,
                1.431863473,
                43.61245993,
                None,
                false
            ),
            // Both: the explicit columns win.
            ("99-test", 99, StationKind::Iss, 1.5, 43.5, None, true),
        ]
    );
    assert_eq!(stations[2].commune, "Saintt Alban");

    // Only a geo point column (an ODS CSV export with fewer columns).
    let csv = "id_nom;id_numero;type_stati;geo_point_2d\n12-x;12;ISS;43.56, 1.49\n";
    let (_dir, path) = temp_file("points", csv);
    let stations = load_catalogue(&path).expect("geo point only");
    assert_eq!((stations[0].lon, stations[0].lat), (1.49, 43.56));
}

#[test]
fn formats_are_detected_by_content_not_name() {
    let cases: [(&str, Format); 10] = [
        ("[{\"id_nom\": \"a\"}]", Format::CatalogueJson),
        ("id_nom;id_numero;type_stati\n", Format::CatalogueCsv),
        (
            "[{\"id\": 1, \"heure_utc\": \"2025-01-01T00:00:00Z\"}]",
            Format::RecordsJson,
        ),
        (
            "{\"results\": [{\"id\": 1, \"heure_utc\": \"x\"}]}",
            Format::RecordsJson,
        ),
        ("data;id;humidite;heure_de_paris\n", Format::OdsCsv),
        (",id,heure_de_paris,humidite\r\n", Format::HourlyCsv),
        (
            "{\"type\": \"FeatureCollection\", \"features\": []}",
            Format::NotWeather,
        ),
        (
            "date_observation;code_station;hauteur\n1946-01-04;O200004001;500 [mm]\n",
            Format::NotWeather,
        ),
        ("# Notes\n\nSome text.\n", Format::NotWeather),
        ("[]", Format::NotWeather),
    ];
    for (content, want) in cases {
        let sniffed = detect::sniff(Path::new("x"), content).expect(content);
        assert_eq!(sniffed.format(), want, "{content}");
    }
}

// ---- synthetic inputs: errors ----

#[test]
fn a_bad_number_drops_the_value_and_names_line_and_column() {
    let csv = "id,heure_de_paris,humidite,pression,temperature_en_degre_c,station_name\n\
               12,2025-11-06T11:00:00+00:00,92,98900,12.7,montaudran\n\
               12,2025-11-06T12:00:00+00:00,92,abc,12.9,montaudran\n";
    let (obs, report) = readings("stations-meteo-hourly.csv", csv).expect("not fatal");
    assert_eq!(obs.len(), 2);
    assert_eq!(get(&obs[1], Quantity::AtmosphericPressure), None);
    assert_eq!(get(&obs[1], Quantity::Temperature), Some(12.9));
    let f = &report.files[0];
    assert_eq!(f.unreadable_values, 1);
    let error = &f.value_errors[0];
    assert_eq!(
        error.to_string(),
        format!(
            "{}: line 3, column pression: \"abc\" is not a number",
            f.path.display()
        )
    );
    assert_eq!((error.line(), error.column()), (Some(3), Some("pression")));
    assert!(
        std::error::Error::source(error).is_some(),
        "the cause is chained"
    );
    assert!(report.to_string().contains("values that are not numbers 1"));
}

#[test]
fn bad_values_in_json_name_the_key_line() {
    let json = "[\n  {\"id\": 12,\n   \"heure_utc\": \"2025-11-06T11:00:00Z\",\n   \
                \"pression\": true,\n   \"temperature_en_degre_c\": 9}\n]";
    let (obs, report) = readings("r.json", json).expect("not fatal");
    assert_eq!(obs.len(), 1);
    let error = &report.files[0].value_errors[0];
    assert_eq!((error.line(), error.column()), (Some(4), Some("pression")));
}

#[test]
fn file_errors_name_the_file_line_and_column() {
    let cases: [(&str, &str, &str); 7] = [
        (
            "no-time.csv",
            "id,humidite,pression\n12,80,99000\n",
            "line 1: missing column heure_utc or heure_de_paris",
        ),
        (
            "no-id.csv",
            "heure_utc,humidite\n2025-11-06T11:00:00Z,80\n",
            "line 1: missing column id",
        ),
        (
            "blank-time.csv",
            "id,heure_de_paris,humidite\n12,2025-11-06T11:00:00Z,80\n12,,81\n",
            "line 3, column heure_de_paris: no value",
        ),
        (
            "bad-time.csv",
            "id;heure_de_paris;humidite\n12;06/11/2025 11:00;80\n",
            "line 2, column heure_de_paris: \"06/11/2025 11:00\" is not a time",
        ),
        (
            "naive-paris.csv",
            "id;heure_de_paris;humidite\n12;2025-11-06T11:00:00;80\n",
            "line 2, column heure_de_paris: \"2025-11-06T11:00:00\" is not a time",
        ),
        (
            "short-row.csv",
            "id;heure_de_paris;humidite\n12;2025-11-06T11:00:00Z\n",
            "line 2: malformed CSV",
        ),
        ("broken.json", "[\n{\"id\": 12,\n", "line 3: invalid JSON"),
    ];
    for (name, content, want) in cases {
        let err = readings(name, content).expect_err(name);
        let text = err.to_string();
        assert!(text.ends_with(want), "{name}: {text}");
        assert!(text.contains(name), "{name}: {text}");
    }
}

#[test]
fn catalogue_errors_name_line_and_column() {
    let cases: [(&str, &str); 4] = [
        (
            "[{\"id_nom\": \"a-1\", \"id_numero\": 1, \"type_stati\": \"ISS\", \"longitude\": 1.4, \
             \"latitude\": 43.6},\n {\"id_nom\": \"a-1\", \"id_numero\": 2, \"type_stati\": \"TH\", \
             \"longitude\": 1.4, \"latitude\": 43.6}]",
            "line 2, column id_nom: station \"a-1\" appears twice (first at line 1)",
        ),
        (
            "[\n{\"id_nom\": \"a-1\",\n \"id_numero\": 1,\n \"type_stati\": \"XYZ\",\n \
             \"longitude\": 1.4, \"latitude\": 43.6}]",
            "line 4, column type_stati: \"XYZ\" is not a station type (ISS or TH)",
        ),
        (
            "id_nom;id_numero;type_stati;longitude;latitude\na-1;1;ISS;;\n",
            "line 2, column longitude: no value",
        ),
        (
            "id_nom;id_numero;type_stati;longitude;latitude\na-1;x;ISS;1.4;43.6\n",
            "line 2, column id_numero: \"x\" is not a number",
        ),
    ];
    for (content, want) in cases {
        let (_dir, path) = temp_file("catalogue", content);
        let err = load_catalogue(&path).expect_err(want);
        assert_eq!(err.to_string(), format!("{}: {want}", path.display()));
    }
}

#[test]
fn loaders_refuse_the_wrong_kind_of_file() {
    let err = load_catalogue(&data(RECORDS_42)).expect_err("readings are not a catalogue");
    assert!(
        err.to_string()
            .ends_with("readings (JSON records), expected a station catalogue"),
        "{err}"
    );
    let mut report = LoadReport::default();
    let err = load_readings(
        &data("quartiers-de-democratie-locale.geojson"),
        &[],
        &mut report,
    )
    .expect_err("GeoJSON is not readings");
    assert!(
        err.to_string()
            .ends_with("not a weather file, expected a readings file"),
        "{err}"
    );
    assert!(report.files.is_empty(), "a failed file adds no report");
    let err = load_catalogue(&data("no-such-file.json")).expect_err("missing file");
    assert!(err.to_string().starts_with("cannot read "), "{err}");
}

#[test]
fn latin1_bytes_after_a_weather_header_are_an_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("latin1.csv");
    let mut bytes = b"id;heure_de_paris;ville\n12;2025-11-06T11:00:00Z;".to_vec();
    bytes.extend_from_slice(b"Saint-J\xe9r\xf4me\n");
    std::fs::write(&path, bytes).expect("write");
    let mut report = LoadReport::default();
    let err = load_readings(&path, &catalogue(), &mut report).expect_err("not UTF-8");
    assert!(err.to_string().ends_with("line 2: not UTF-8 text"), "{err}");
}

#[test]
fn load_dir_reads_the_layout_data_fetch_writes() {
    // `garonne data fetch` puts the catalogue at the top and one file per station under
    // readings/, with unfinished downloads as FILE.part next to FILE.part.meta.
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::copy(
        data(CATALOGUE),
        dir.path().join("stations-meteo-en-place.json"),
    )
    .expect("copy");
    std::fs::create_dir(dir.path().join("readings")).expect("mkdir");
    let records = dir.path().join("readings").join(format!("{COMPANS}.json"));
    std::fs::copy(data(RECORDS_42), &records).expect("copy");
    let half = std::fs::read(data(RECORDS_42)).expect("read");
    std::fs::write(
        dir.path()
            .join("readings/13-station-meteo-toulouse-pech-david.json.part"),
        &half[..half.len() / 2],
    )
    .expect("write");
    std::fs::write(
        dir.path()
            .join("readings/13-station-meteo-toulouse-pech-david.json.part.meta"),
        "{}",
    )
    .expect("write");
    std::fs::write(dir.path().join("manifest.json"), "{\"files\": []}").expect("write");

    let open = load_dir(dir.path()).expect("the fetched layout loads");
    assert_eq!(open.stations.len(), 77);
    assert_eq!(
        open.observations.len(),
        99,
        "the records of station 42, its sentinel row dropped"
    );
    assert!(open.observations.iter().all(|o| o.station_id == COMPANS));
    // The weather description reads the same layout the same way (unfinished files skipped).
    assert_same_by_description(dir.path());
}

/// The weather description (`data/fleets/weather.toml`, through the general loader) gives
/// what [`load_dir`] gives in `dir`: the same observations, stations and counts.
fn assert_same_by_description(dir: &Path) {
    let old = load_dir(dir).expect("weather loaders");
    let description = fleet::builtin()
        .into_iter()
        .find(|d| d.name == "weather")
        .expect("shipped weather description");
    let new = fleet::load_fleet(&description, dir).expect("weather description");
    let comparison = fleet::compare_weather(&old, &new);
    assert_eq!(
        comparison.differences,
        Vec::<String>::new(),
        "in {}",
        dir.display()
    );
    assert!(comparison.files > 0 && comparison.observations > 0);
}

/// Every synthetic readings file of the tests above, in the layout `garonne data fetch`
/// writes (`readings/`): the weather description gives what the weather loaders give.
#[test]
fn the_weather_description_reads_every_schema_family_as_the_loaders_do() {
    let v1 = r#"{"nhits": 1, "records": [{"datasetid":
        "42-station-meteo-toulouse-parc-compans-cafarelli-point-frais",
        "fields": {"id": 42, "humidite": 70, "temperature_en_degre_c": 9.0,
                   "force_moyenne_du_vecteur_vent": 7.2,
                   "heure_utc": "2025-11-25T11:00:00+00:00"}}]}"#;
    let v21 = r#"{"total_count": 1, "results": [
        {"id": 42, "humidite": 77, "pression": 99800, "temperature_en_degre_c": 9.4,
         "heure_de_paris": "2025-11-25T11:00:00+00:00", "heure_utc": "2025-11-25T11:00:00+00:00"}
    ]}"#;
    let ods = ods_carmes();
    let files: [(&str, &str); 8] = [
        (
            // The same station and instant twice: the second gives the humidity the first lacks.
            "merge.csv",
            "id,heure_de_paris,temperature_en_degre_c,humidite\n\
             12,2025-11-06T11:00:00+00:00,12.0,\n\
             12,2025-11-06T11:00:00+00:00,13.0,80\n",
        ),
        ("carmes.csv", &ods),
        (
            "utc.csv",
            "id;temperature_en_degre_c;heure_de_paris;heure_utc\n\
             12;10.0;2025-11-24T11:00:00+01:00;2025-11-24T10:00:00+00:00\n\
             12;11.0;2025-11-24T12:00:00+01:00;\n\
             12;12.0;2025-11-24T13:00:00+01:00;2025-11-24T12:00:00Z\n",
        ),
        (
            "hourly.csv",
            "\u{feff},id,heure_de_paris,humidite,pression,temperature_en_degre_c,station_name\n\
             0,42.0,2025-11-06T11:00:00+00:00,92.0,98900.0,12.7,compans_cafarelli\n\
             1,42.0,2025-11-06T10:00:00+00:00,91.0,99000.0,12.9,compans_cafarelli\n",
        ),
        (
            "crlf.csv",
            "id,heure_de_paris,humidite,pression,temperature_en_degre_c,station_name\r\n\
             42,2025-11-06T11:00:00+00:00,92,98900,12.7,compans_cafarelli\r\n",
        ),
        ("results.json", v21),
        ("v1.json", v1),
        (
            "bad-number.csv",
            "id,heure_de_paris,temperature_en_degre_c,humidite\n\
             12,2025-11-06T11:00:00+00:00,12.0,abc\n\
             99,2025-11-06T11:00:00+00:00,12.0,50\n",
        ),
    ];
    for (name, content) in files {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::copy(data(CATALOGUE), dir.path().join(CATALOGUE)).expect("copy");
        std::fs::create_dir(dir.path().join("readings")).expect("mkdir");
        std::fs::write(dir.path().join("readings").join(name), content).expect("write");
        assert_same_by_description(dir.path());
    }
}

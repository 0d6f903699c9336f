//! Sensors' places ([`garonne_store::places`]) from the embedded store and from a real InfluxDB
//! 1.x holding the same points, both through [`StoredReadings::places`] as `garonne replay`
//! reads them: each sensor's last place and kind (a car that moved, then changed its kind), a
//! sensor never stored absent, and, from InfluxDB, the last place within the scan's range.
//! (Included in the `embedded` test binary.)

use garonne_store::config::StoreConfig;
use garonne_store::embedded::{EmbeddedStore, Retention};
use garonne_store::influx::{Credentials, InfluxV1};
use garonne_store::point::{Field, Point};
use garonne_store::readings::{Scan, StoredReadings};
use garonne_store::store::Store;
use garonne_store::{Places, SensorPlace};
use garonne_testkit::Influxd;

use super::readings::{HOUR_START, SEC, point, ts};

/// The Capitole, Toulouse (lon, lat).
const CAPITOLE: (f64, f64) = (1.4442, 43.6047);
/// Rangueil, Toulouse (lon, lat).
const RANGUEIL: (f64, f64) = (1.466, 43.563);

/// When the car moves to Rangueil.
const MOVED: i64 = HOUR_START + 10 * SEC;

/// A reading of `sensor` at `time_ns`, of kind `kind`, at `(lon, lat)`.
fn placed(sensor: &str, time_ns: i64, kind: &str, (lon, lat): (f64, f64)) -> Point {
    let mut p = point(sensor, time_ns, &[("temperature", 12.5)]);
    for (name, field) in &mut p.fields {
        match *name {
            "lat" => *field = Field::Float(lat),
            "lon" => *field = Field::Float(lon),
            "kind" => *field = Field::Str(kind.to_owned()),
            _ => {}
        }
    }
    p
}

/// A station at the Capitole all along; a car there first, then at Rangueil under another kind.
fn points() -> Vec<Point> {
    let mut points = Vec::new();
    for i in 0..5 {
        let t = HOUR_START + i * SEC;
        points.push(placed("station-1", t, "weather-station", CAPITOLE));
        points.push(placed("car-1", t, "can-logger", CAPITOLE));
    }
    points.push(placed("car-1", MOVED, "can-logger-v2", RANGUEIL));
    points.push(placed("car-1", MOVED + SEC, "can-logger-v2", RANGUEIL));
    points
}

fn place(kind: &str, (lon, lat): (f64, f64)) -> SensorPlace {
    SensorPlace {
        kind: Some(kind.to_owned()),
        lat,
        lon,
    }
}

/// Every place of the scan of `sensors` (empty: all) from an hour before to an hour after.
async fn places(readings: &StoredReadings, sensors: &[&str]) -> Places {
    let scan = Scan::new(
        sensors.iter().map(|s| (*s).to_owned()).collect(),
        ts(HOUR_START - 3_600 * SEC),
        ts(HOUR_START + 3_600 * SEC),
    );
    readings.places(&scan).await.expect("places")
}

/// What every store answers for the same points.
async fn check(readings: &StoredReadings, what: &str) {
    let all = places(readings, &[]).await;
    assert_eq!(all.len(), 2, "{what}: {all:?}");
    assert_eq!(
        all["car-1"],
        place("can-logger-v2", RANGUEIL),
        "{what}: the last place and kind"
    );
    assert_eq!(
        all["station-1"],
        place("weather-station", CAPITOLE),
        "{what}"
    );
    let asked = places(readings, &["car-1", "nobody"]).await;
    assert_eq!(
        asked.keys().collect::<Vec<_>>(),
        ["car-1"],
        "{what}: only the sensors asked, one never stored absent"
    );
}

#[tokio::test]
async fn each_sensor_has_its_last_place_and_kind_from_every_store() {
    let points = points();
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("history.sqlite");
    let mut embedded = EmbeddedStore::open(&path, Retention::default())
        .await
        .expect("open");
    embedded.write(&points).await.expect("written");
    let readings = StoredReadings::open(&StoreConfig::embedded(path), Credentials::None)
        .await
        .expect("reader");
    check(&readings, "embedded store").await;

    let Some(influxd) = Influxd::start_or_skip() else {
        return;
    };
    let mut store = InfluxV1::new(&influxd.url(), "places", Credentials::None).expect("url");
    store.create_database().await.expect("database");
    store.write(&points).await.expect("written");
    let readings = StoredReadings::open(
        &StoreConfig::influx_v1(influxd.url(), "places"),
        Credentials::None,
    )
    .await
    .expect("reader");
    check(&readings, "InfluxDB").await;
    // InfluxDB keeps every reading's place: the last one within the range, before the move.
    let before = Scan::new(vec!["car-1".into()], ts(HOUR_START), ts(MOVED));
    let places = readings.places(&before).await.expect("places");
    assert_eq!(places["car-1"], place("can-logger", CAPITOLE));
    // A range without readings: no place, no error.
    let later = Scan::new(Vec::new(), ts(MOVED + 2 * SEC), ts(MOVED + 3 * SEC));
    assert!(readings.places(&later).await.expect("places").is_empty());
}

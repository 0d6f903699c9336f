//! Raw readings read back ([`garonne_store::readings`]) from the embedded store and from a real
//! InfluxDB 1.x, holding the same points: the same samples, in the same order, with their
//! nanosecond times, whatever the page size; ties of one instant across sensors and quantities;
//! an hour boundary; a value in both of the embedded store's raw tables; an empty range.
//! (Included in the `embedded` test binary, one binary less to link.)

use std::collections::BTreeMap;

use garonne_payload::Timestamp;
use garonne_store::embedded::{EmbeddedHistory, EmbeddedStore, Retention};
use garonne_store::history::HistoryError;
use garonne_store::influx::{Credentials, InfluxQl, InfluxV1};
use garonne_store::point::{Field, Point};
use garonne_store::readings::{self, Cursor, Pages, Readings, Sample, Scan};
use garonne_store::store::Store;
use garonne_testkit::Influxd;

pub const MS: i64 = 1_000_000;
pub const SEC: i64 = 1_000 * MS;
/// 2025-11-24T01:00:00Z: the data straddles this hour's start.
pub const HOUR_START: i64 = 1_763_946_000 * SEC;

pub fn ts(ns: i64) -> Timestamp {
    Timestamp::UNIX_EPOCH.add_nanos(ns)
}

/// A `reading` point as the historian's schema makes it, with any quantity names.
pub fn point(sensor: &str, time_ns: i64, values: &[(&'static str, f64)]) -> Point {
    let mut fields: Vec<(&'static str, Field)> =
        values.iter().map(|(q, v)| (*q, Field::Float(*v))).collect();
    fields.push(("lat", Field::Float(43.6)));
    fields.push(("lon", Field::Float(1.44)));
    fields.push(("kind", Field::Str("car".into())));
    fields.push(("seq", Field::Int(time_ns / MS)));
    Point {
        measurement: "reading",
        tags: vec![("sensor", sensor.to_owned()), ("source", "can".to_owned())],
        fields,
        time_ns,
    }
}

/// Two cars at 100 Hz for 3 s around an hour's start, on the same clock (ties), with odd
/// nanoseconds; a station at 1 Hz; one instant where every sensor has every quantity.
fn batches() -> (Vec<Point>, Vec<Point>) {
    let mut first = Vec::new();
    let mut second = Vec::new();
    for i in 0..300_i64 {
        let t = HOUR_START - 1_500 * MS + i * 10 * MS + 7;
        let v = i as f64;
        let batch = if i < 200 { &mut first } else { &mut second };
        batch.push(point(
            "car-1",
            t,
            &[("speed", v), ("rpm", 1000.0 + v), ("brake", v / 8.0)],
        ));
        batch.push(point("car-2", t, &[("speed", -v), ("rpm", 2000.0 - v)]));
        if i % 100 == 3 {
            batch.push(point("station", t + 3, &[("temperature", 12.5 + v)]));
        }
    }
    let instant = HOUR_START + 5 * SEC;
    for sensor in ["car-1", "car-2", "station"] {
        second.push(point(
            sensor,
            instant,
            &[
                ("speed", 1.0),
                ("rpm", 2.0),
                ("brake", 3.0),
                ("temperature", 4.0),
            ],
        ));
    }
    // Written again with another value after its move to `reading`: the newer value counts.
    second.push(point(
        "car-1",
        HOUR_START - 1_500 * MS + 7,
        &[("speed", 99.0)],
    ));
    (first, second)
}

/// What a scan should give: the last value written of each key, in key order.
fn expected(points: &[Point], scan: &Scan) -> Vec<(i64, String, String, f64)> {
    let (from, to) = (scan.from.unix_nanos(), scan.to.unix_nanos());
    let mut values = BTreeMap::new();
    for p in points {
        let sensor = p.tag("sensor").unwrap_or_default().to_owned();
        if !(scan.sensors.is_empty() || scan.sensors.contains(&sensor)) {
            continue;
        }
        if !(from..to).contains(&i128::from(p.time_ns)) {
            continue;
        }
        for (name, field) in &p.fields {
            let Field::Float(v) = field else { continue };
            if matches!(*name, "lat" | "lon")
                || !(scan.quantities.is_empty() || scan.quantities.iter().any(|q| q == name))
            {
                continue;
            }
            values.insert((p.time_ns, sensor.clone(), (*name).to_owned()), *v);
        }
    }
    values
        .into_iter()
        .map(|((t, s, q), v)| (t, s, q, v))
        .collect()
}

fn keys(samples: &[Sample]) -> Vec<(i64, String, String, f64)> {
    samples
        .iter()
        .map(|s| {
            (
                s.time_ns,
                s.sensor.to_string(),
                s.quantity.to_string(),
                s.value,
            )
        })
        .collect()
}

/// Every sample of `scan`, `limit` at a time, checking each page's size and that pages resume
/// right after each other.
async fn all(
    readings: &impl Readings,
    scan: &Scan,
    limit: usize,
) -> Vec<(i64, String, String, f64)> {
    let mut pages = Pages::new(readings, scan.clone(), limit);
    let mut out: Vec<Sample> = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.expect("page");
        assert!(
            page.len() <= limit,
            "{} samples for a limit of {limit}",
            page.len()
        );
        out.extend(page);
    }
    keys(&out)
}

fn scans() -> Vec<Scan> {
    let whole = Scan::new(
        Vec::new(),
        ts(HOUR_START - 2 * SEC),
        ts(HOUR_START + 10 * SEC),
    );
    let names = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    vec![
        whole.clone(),
        Scan {
            sensors: names(&["car-2", "station"]),
            quantities: names(&["speed", "temperature"]),
            ..whole.clone()
        },
        Scan {
            sensors: names(&["car-1"]),
            // An exact nanosecond: the first sample is in, the one at `to` is out.
            from: ts(HOUR_START - 500 * MS + 7),
            to: ts(HOUR_START + 5 * SEC),
            ..whole.clone()
        },
        Scan {
            quantities: names(&["rpm", "no-such-quantity"]),
            ..whole.clone()
        },
        // Nothing stored in range, a sensor never seen.
        Scan::new(
            Vec::new(),
            ts(HOUR_START + 6 * SEC),
            ts(HOUR_START + 9 * SEC),
        ),
        Scan::new(names(&["nobody"]), whole.from, whole.to),
    ]
}

#[tokio::test]
async fn raw_readings_are_the_same_from_every_store() {
    let (first, second) = batches();
    let written: Vec<Point> = first.iter().chain(&second).cloned().collect();

    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("history.sqlite");
    let mut embedded = EmbeddedStore::open(&path, Retention::default())
        .await
        .expect("open");
    embedded.write(&first).await.expect("first batch");
    // Moves the first batch to `reading` (nothing is old enough to roll up).
    embedded
        .maintenance(ts(HOUR_START + 60 * SEC))
        .await
        .expect("maintenance");
    embedded.write(&second).await.expect("second batch");
    let embedded_readings = EmbeddedHistory::open(&path).await.expect("reader");

    let influxd = Influxd::start_or_skip();
    let influx = match &influxd {
        Some(influxd) => {
            let mut store =
                InfluxV1::new(&influxd.url(), "readings", Credentials::None).expect("url");
            store.create_database().await.expect("database");
            store.write(&first).await.expect("first batch");
            store.write(&second).await.expect("second batch");
            Some(InfluxQl::new(&influxd.url(), "readings", Credentials::None).expect("url"))
        }
        None => None,
    };

    for scan in scans() {
        let want = expected(&written, &scan);
        for limit in [9, 37, readings::DEFAULT_PAGE] {
            let got = all(&embedded_readings, &scan, limit).await;
            assert_eq!(got, want, "embedded store, limit {limit}, {scan:?}");
            if let Some(influx) = &influx {
                let got = all(influx, &scan, limit).await;
                assert_eq!(got, want, "InfluxDB, limit {limit}, {scan:?}");
            }
        }
    }
    // The instant of 12 samples read 5 at a time: cursors within one instant.
    let instant = Scan::new(
        Vec::new(),
        ts(HOUR_START + 5 * SEC),
        ts(HOUR_START + 5 * SEC + 1),
    );
    let want = expected(&written, &instant);
    assert_eq!(want.len(), 12);
    assert_eq!(all(&embedded_readings, &instant, 5).await, want);
    if let Some(influx) = &influx {
        assert_eq!(all(influx, &instant, 5).await, want);
        let page = influx.page(&instant, None, 5).await.expect("page");
        assert_eq!(page.next, page.samples.last().map(Sample::cursor));
    }
    // A page resumes after any cursor given, one of another scan's included.
    let whole = &scans()[0];
    let cursor = Cursor {
        time_ns: HOUR_START + 5 * SEC,
        sensor: "car-2".into(),
        quantity: "rpm".into(),
    };
    let page = embedded_readings
        .page(whole, Some(&cursor), 100)
        .await
        .expect("page");
    assert_eq!(
        keys(&page.samples),
        expected(&written, whole)
            .into_iter()
            .filter(|(t, s, q, _)| (*t, s.as_str(), q.as_str()) > (cursor.time_ns, "car-2", "rpm"))
            .collect::<Vec<_>>()
    );
    // The newer value of a point in both raw tables.
    assert!(want_value(&embedded_readings, HOUR_START - 1_500 * MS + 7, 99.0).await);
    // An empty or reversed range says what to change.
    let empty = Scan::new(Vec::new(), ts(HOUR_START), ts(HOUR_START));
    assert!(matches!(
        embedded_readings.page(&empty, None, 10).await,
        Err(HistoryError::Invalid(_))
    ));
    if let Some(influx) = &influx {
        assert!(matches!(
            influx.page(&empty, None, 10).await,
            Err(HistoryError::Invalid(_))
        ));
    }
    drop(influxd);
}

/// Whether car-1's speed at `time_ns` reads `value`.
async fn want_value(readings: &impl Readings, time_ns: i64, value: f64) -> bool {
    let scan = Scan {
        sensors: vec!["car-1".into()],
        quantities: vec!["speed".into()],
        from: ts(time_ns),
        to: ts(time_ns + 1),
    };
    let page = readings.page(&scan, None, 10).await.expect("page");
    page.samples.len() == 1 && page.samples[0].value == value
}

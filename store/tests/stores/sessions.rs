//! Sessions ([`garonne_store::sessions`]) from the embedded store (raw values, then the same
//! hours rolled up) and from a real InfluxDB 1.x holding the same points: the same runs, to the
//! nanosecond, with a pause of exactly the gap (one session) and of the gap and 1 ns (two).
//! (Included in the `embedded` test binary.)

use garonne_store::embedded::{EmbeddedHistory, EmbeddedStore, Retention};
use garonne_store::influx::{Credentials, InfluxQl, InfluxV1};
use garonne_store::point::Point;
use garonne_store::sessions::{Session, SessionQuery, Timeline, sessions};
use garonne_store::store::Store;
use garonne_testkit::Influxd;

use super::readings::{HOUR_START, MS, SEC, point, ts};

/// Car 1: 2 s at 100 Hz across the hour's start (speed, rpm); one speed exactly 60 s after;
/// a brake 60 s and 1 ns after that, then 5 s at 10 Hz (speed). Car 2 in between all along.
fn points() -> (Vec<Point>, [Session; 2]) {
    let start = HOUR_START - SEC + 3;
    let mut points = Vec::new();
    for i in 0..200 {
        points.push(point(
            "car-1",
            start + i * 10 * MS,
            &[("speed", 1.0), ("rpm", 2.0)],
        ));
    }
    let joined = start + 199 * 10 * MS + 60 * SEC;
    points.push(point("car-1", joined, &[("speed", 3.0)]));
    let second = joined + 60 * SEC + 1;
    points.push(point("car-1", second, &[("brake", 1.0)]));
    for i in 1..=50 {
        points.push(point("car-1", second + i * 100 * MS, &[("speed", 4.0)]));
    }
    for i in 0..200 {
        points.push(point("car-2", start + i * SEC, &[("speed", 5.0)]));
    }
    let names = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect();
    let expected = [
        Session {
            sensor: "car-1".into(),
            start: ts(start),
            end: ts(joined),
            samples: 401,
            quantities: names(&["rpm", "speed"]),
        },
        Session {
            sensor: "car-1".into(),
            start: ts(second),
            end: ts(second + 5 * SEC),
            samples: 51,
            quantities: names(&["brake", "speed"]),
        },
    ];
    (points, expected)
}

fn query(gap_secs: u32) -> SessionQuery {
    SessionQuery {
        sensor: "car-1".into(),
        from: ts(HOUR_START - 3_600 * SEC),
        to: ts(HOUR_START + 3_600 * SEC),
        gap_secs,
    }
}

async fn check(store: &impl Timeline, expected: &[Session], what: &str) {
    assert_eq!(
        sessions(store, &query(60)).await.expect("sessions"),
        expected,
        "{what}"
    );
    // A longer gap joins them; a range that cuts the first run starts it at its first sample in.
    let joined = sessions(store, &query(61)).await.expect("sessions");
    assert_eq!(joined.len(), 1, "{what}: {joined:?}");
    assert_eq!(
        (joined[0].start, joined[0].end, joined[0].samples),
        (expected[0].start, expected[1].end, 452)
    );
    let mut cut = query(60);
    cut.from = ts(HOUR_START);
    let got = sessions(store, &cut).await.expect("sessions");
    assert_eq!(got[0].start, ts(HOUR_START + 3), "{what}");
    let mut nobody = query(60);
    nobody.sensor = "nobody".into();
    assert_eq!(
        sessions(store, &nobody).await.expect("sessions"),
        [],
        "{what}"
    );
}

#[tokio::test]
async fn sessions_are_the_same_from_every_store() {
    let (points, expected) = points();
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("history.sqlite");
    let mut embedded = EmbeddedStore::open(&path, Retention::default())
        .await
        .expect("open");
    embedded.write(&points[..300]).await.expect("write");
    embedded
        .maintenance(ts(HOUR_START + 60 * SEC))
        .await
        .expect("moved to reading");
    embedded.write(&points[300..]).await.expect("write");
    let reader = EmbeddedHistory::open(&path).await.expect("reader");
    check(&reader, &expected, "embedded store, raw values").await;
    // Every hour rolled up: the records of times give the same sessions.
    let done = embedded
        .maintenance(ts(HOUR_START + 9 * 86_400 * SEC))
        .await
        .expect("roll-up");
    assert_eq!(done.rolled_up as usize, 2 * 200 + 1 + 1 + 50 + 200);
    check(&reader, &expected, "embedded store, rolled up").await;

    if let Some(influxd) = Influxd::start_or_skip() {
        let mut store = InfluxV1::new(&influxd.url(), "sessions", Credentials::None).expect("url");
        store.create_database().await.expect("database");
        store.write(&points).await.expect("write");
        let influx = InfluxQl::new(&influxd.url(), "sessions", Credentials::None).expect("url");
        check(&influx, &expected, "InfluxDB").await;
    }
}

//! The InfluxDB stores and history against real servers: InfluxDB 1.6 (`influxd`) for the v1
//! write API and InfluxQL, VictoriaMetrics for the v2 write API through the `influxdb2` crate.
//! Each test starts its own servers on free loopback ports (garonne-testkit); outside CI a
//! missing server skips the test.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use garonne_historian::schema;
use garonne_payload::{
    Limits, Location, ModuleState, ModuleStatus, NeighbourhoodAggregate, Quantity, Reading,
    SensorState, Source, Status, Timestamp, Topics, WindowStats, encode_senml,
};
use garonne_store::history::{Bucket, History, HistoryError, Query, Subject};
use garonne_store::influx::{Credentials, InfluxQl, InfluxV1, InfluxV2};
use garonne_store::point::{Field, Point};
use garonne_store::store::{Store, StoreError};
use garonne_testkit::{Influxd, Victoria};
use serde_json::Value;

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// The database every test writes to.
const DB: &str = "garonne";

/// 2025-11-24T10:00:00Z, aligned on an hour: the start of the test data.
const T0: i64 = 1_763_978_400;

/// When the test data is received (the validator's clock).
const RECEIVED: i64 = T0 + 6 * 3600;

/// A history query of `quantity` for `subject` from `from` to `to`, in intervals of
/// `every_secs`.
fn query(
    subject: Subject,
    quantity: Quantity,
    (from, to): (Timestamp, Timestamp),
    every_secs: u32,
) -> Query {
    Query {
        subject,
        quantity,
        from,
        to,
        every_secs,
    }
}

/// The history of sensor `id`.
fn sensor(id: &str) -> Subject {
    Subject::Sensor(id.to_owned())
}

fn at(secs: i64, nanos: u32) -> Timestamp {
    Timestamp::new(secs, nanos).expect("valid timestamp")
}

/// An InfluxDB 1.6 with the test database created, and a v1 store on it.
async fn influx_with_database() -> Option<(Influxd, InfluxV1)> {
    let influxd = Influxd::start_or_skip()?;
    let store = InfluxV1::new(&influxd.url(), DB, Credentials::None).expect("valid URL");
    store.create_database().await.expect("database created");
    Some((influxd, store))
}

/// Runs one InfluxQL statement through `/query` (epoch=ns) and returns its JSON answer.
async fn influxql(url: &str, db: &str, q: &str) -> Value {
    let response = reqwest::Client::new()
        .get(url_with(
            url,
            "/query",
            &[("db", db), ("epoch", "ns"), ("q", q)],
        ))
        .send()
        .await
        .expect("query sent");
    assert_eq!(response.status().as_u16(), 200, "{q}");
    serde_json::from_str(&response.text().await.expect("body")).expect("JSON answer")
}

/// The rows of the first series of an InfluxQL answer, as column name → value maps.
fn rows(answer: &Value) -> Vec<HashMap<String, Value>> {
    let Some(series) = answer.pointer("/results/0/series/0") else {
        return Vec::new();
    };
    let columns: Vec<String> = series["columns"]
        .as_array()
        .expect("columns")
        .iter()
        .map(|c| c.as_str().expect("column name").to_owned())
        .collect();
    series["values"]
        .as_array()
        .expect("values")
        .iter()
        .map(|row| {
            columns
                .iter()
                .cloned()
                .zip(row.as_array().expect("row").iter().cloned())
                .collect()
        })
        .collect()
}

/// The first value of the first row of an InfluxQL answer (`count(...)` and the like).
fn scalar(answer: &Value, column: &str) -> Option<Value> {
    rows(answer)
        .first()
        .and_then(|row| row.get(column).cloned())
}

/// `{base}{path}?pairs` (reqwest's `query` builder method needs a feature this workspace
/// does not enable).
fn url_with(base: &str, path: &str, pairs: &[(&str, &str)]) -> reqwest::Url {
    reqwest::Url::parse_with_params(&format!("{base}{path}"), pairs).expect("valid URL")
}

/// A reading of sensor `id` at `secs` (+`nanos`) with the given quantities.
fn reading(id: &str, secs: i64, nanos: u32, seq: u64, quantities: &[(Quantity, f64)]) -> Reading {
    let mut r = Reading::new(
        id,
        "bme280",
        Source::RaspberryPi,
        at(secs, nanos),
        seq,
        Location::new(1.4442, 43.6047),
    );
    for (q, v) in quantities {
        r.quantities.set(*q, *v);
    }
    r
}

/// The points of one message, through the schema as the historian makes them.
fn points_of(topic: &str, payload: &[u8]) -> Vec<Point> {
    let mut out = Vec::new();
    schema::points(
        &Topics::default(),
        topic,
        payload,
        at(RECEIVED, 0),
        &Limits::default(),
        &mut out,
    )
    .unwrap_or_else(|skip| panic!("{topic}: {skip}"));
    out
}

fn aggregate(id: &str, window: i64, stats: &[(Quantity, WindowStats)]) -> NeighbourhoodAggregate {
    NeighbourhoodAggregate {
        v: 1,
        neighbourhood_id: id.into(),
        name: format!("Quartier {id}"),
        window_start: at(T0 + window * 300, 0),
        window_end: at(T0 + (window + 1) * 300, 0),
        emitted_at: at(T0 + (window + 1) * 300 + 5, 0),
        quantities: stats.iter().copied().collect(),
    }
}

fn stats(mean: f64, min: f64, max: f64, readings: u64) -> WindowStats {
    WindowStats {
        mean,
        min,
        max,
        readings,
        sensors: 2,
        value: mean,
    }
}

/// One batch with every measurement, made from real payloads: readings (one as a SenML
/// pack), an aggregate, an alert and a status.
fn schema_batch() -> Vec<Point> {
    let topics = Topics::default();
    let mut points = Vec::new();
    for k in 0..5u32 {
        let r = reading(
            "pi-1",
            T0 + i64::from(k) * 60,
            k * 1000,
            u64::from(k),
            &[
                (Quantity::Temperature, 10.0 + f64::from(k) * 0.1),
                (Quantity::RelativeHumidity, 0.5),
            ],
        );
        points.extend(points_of(&topics.reading("pi-1"), &r.to_json()));
    }
    let pack: Vec<Reading> = (0..3)
        .map(|k| {
            reading(
                "pi-2",
                T0 + k * 60,
                0,
                k as u64,
                &[(Quantity::WindSpeed, 2.5 + k as f64)],
            )
        })
        .collect();
    points.extend(points_of(
        &topics.senml("pi-2"),
        &encode_senml(&pack).expect("encodable pack"),
    ));
    let agg = aggregate(
        "7",
        0,
        &[
            (Quantity::Temperature, stats(10.2, 10.0, 10.4, 5)),
            (Quantity::WindSpeed, stats(3.5, 2.5, 4.5, 3)),
        ],
    );
    points.extend(points_of(
        &topics.aggregate("7"),
        &serde_json::to_vec(&agg).expect("JSON"),
    ));
    // Raised at T0 + 120 s, published at T0 + 300 s.
    let alert = r#"{"v":1,"rule":"heat","scope":{"kind":"neighbourhood","id":"7"},"state":"raised",
        "quantity":"temperature","comparison":"above","threshold":10.1,"value":10.2,
        "since":"2025-11-24T10:02:00Z","time":"2025-11-24T10:05:00Z"}"#;
    assert_eq!(at(T0 + 120, 0).to_string(), "2025-11-24T10:02:00Z");
    points.extend(points_of(
        &topics.alert("heat", "neighbourhood-7"),
        alert.as_bytes(),
    ));
    let status = Status {
        v: 1,
        sensor_id: "pi-1".into(),
        state: SensorState::Online,
        time: at(T0, 0),
        kind: "raspberry-pi".into(),
        source: Source::RaspberryPi,
        location: Some(Location::new(1.4442, 43.6047)),
        modules: vec![ModuleStatus {
            name: "bme280".into(),
            state: ModuleState::Running,
            quantities: vec![Quantity::Temperature, Quantity::RelativeHumidity],
            detail: None,
        }],
    };
    points.extend(points_of(
        &topics.status("pi-1"),
        &serde_json::to_vec(&status).expect("JSON"),
    ));
    points
}

/// Tag values, keys and strings that need every kind of escaping come back as they were
/// written (or as the encoder documents).
#[tokio::test]
async fn line_protocol_round_trips_through_influxd() -> TestResult {
    let Some((influxd, mut store)) = influx_with_database().await else {
        return Ok(());
    };
    // (tag value written, tag value read back)
    let tags = [
        ("plain", "plain"),
        ("a b", "a b"),
        ("a,b", "a,b"),
        ("a=b", "a=b"),
        (" ,= ", " ,= "),
        (r"back\slash", r"back\slash"),
        (r"back\,comma", r"back\,comma"),
        (r"back\ space", r"back\ space"),
        ("l'île \"quoted\"", "l'île \"quoted\""),
        ("unicode é漢🌧", "unicode é漢🌧"),
        ("tab\there", "tab\there"),
        ("#not a comment", "#not a comment"),
        // Documented: a newline is written as `\n`; trailing backslashes are dropped.
        ("line\nbreak", r"line\nbreak"),
        (r"trailing\\", "trailing"),
    ];
    // (string written, string read back)
    let strings = [
        ("", ""),
        ("say \"hi\"", "say \"hi\""),
        (r"C:\path\", r"C:\path\"),
        (r#"\""#, r#"\""#),
        ("a, b = c d", "a, b = c d"),
        ("unicode é漢🌧", "unicode é漢🌧"),
        ("two\nlines", r"two\nlines"),
    ];
    let floats = [
        0.1 + 0.2,
        -0.0,
        1e21,
        1e-7,
        5e-324,
        f64::MAX,
        f64::MIN_POSITIVE,
        -43.604_652_123_456_7,
    ];
    let ints = [0, -1, i64::MAX, i64::MIN + 1];
    let mut points = Vec::new();
    for (i, (tag, _)) in tags.iter().enumerate() {
        let (string, _) = strings[i % strings.len()];
        points.push(Point {
            measurement: "lp",
            tags: vec![("k", (*tag).to_owned()), ("empty", String::new())],
            fields: vec![
                ("s", Field::Str(string.to_owned())),
                ("f", Field::Float(floats[i % floats.len()])),
                ("i", Field::Int(ints[i % ints.len()])),
                ("b", Field::Bool(i % 2 == 0)),
                ("nan", Field::Float(f64::NAN)),
            ],
            time_ns: i as i64,
        });
    }
    // Keys and the measurement escape their own sets.
    points.push(Point {
        measurement: "odd measure,ment=x",
        tags: vec![("tag key,=", "v".to_owned())],
        fields: vec![("field key,=", Field::Float(1.5))],
        time_ns: 1,
    });
    store.write(&points).await?;

    let got = rows(&influxql(&influxd.url(), DB, r#"SELECT * FROM "lp""#).await);
    assert_eq!(got.len(), tags.len(), "{got:?}");
    for (i, row) in got.iter().enumerate() {
        assert_eq!(row["time"], Value::from(i as i64));
        assert_eq!(row["k"].as_str(), Some(tags[i].1), "tag {i}");
        assert_eq!(
            row["s"].as_str(),
            Some(strings[i % strings.len()].1),
            "string {i}"
        );
        assert_eq!(
            row["f"].as_f64(),
            Some(floats[i % floats.len()]),
            "float {i}"
        );
        assert_eq!(row["i"].as_i64(), Some(ints[i % ints.len()]), "int {i}");
        assert_eq!(row["b"].as_bool(), Some(i % 2 == 0), "bool {i}");
        assert!(
            !row.contains_key("empty") && !row.contains_key("nan"),
            "{row:?}"
        );
    }
    let odd = rows(
        &influxql(
            &influxd.url(),
            DB,
            r#"SELECT "field key,=", "tag key,=" FROM "odd measure,ment=x""#,
        )
        .await,
    );
    assert_eq!(odd.len(), 1, "{odd:?}");
    assert_eq!(odd[0]["field key,="].as_f64(), Some(1.5));
    assert_eq!(odd[0]["tag key,="].as_str(), Some("v"));

    // The encoder never writes exponents, but InfluxDB 1.6 would take them.
    let response = reqwest::Client::new()
        .post(url_with(
            &influxd.url(),
            "/write",
            &[("db", DB), ("precision", "ns")],
        ))
        .body("exp a=1e+06,b=1E-7,c=1.5e300 1\n")
        .send()
        .await?;
    assert_eq!(response.status().as_u16(), 204);
    let exp = rows(&influxql(&influxd.url(), DB, r#"SELECT * FROM "exp""#).await);
    assert_eq!(
        (
            exp[0]["a"].as_f64(),
            exp[0]["b"].as_f64(),
            exp[0]["c"].as_f64()
        ),
        (Some(1e6), Some(1e-7), Some(1.5e300))
    );
    Ok(())
}

/// Schema points from real payloads, written twice: one point each, with their values.
#[tokio::test]
async fn a_batch_written_twice_is_stored_once() -> TestResult {
    let Some((influxd, mut store)) = influx_with_database().await else {
        return Ok(());
    };
    store.check().await?;
    let batch = schema_batch();
    store.write(&batch).await?;
    store.write(&batch).await?;

    let url = influxd.url();
    let count = |measurement: &'static str, field: &'static str| {
        let url = url.clone();
        async move {
            let q = format!(r#"SELECT count("{field}") FROM "{measurement}""#);
            scalar(&influxql(&url, DB, &q).await, "count").and_then(|v| v.as_u64())
        }
    };
    assert_eq!(count("reading", "seq").await, Some(8));
    assert_eq!(count("reading", "temperature").await, Some(5));
    assert_eq!(count("reading", "windSpeed").await, Some(3));
    assert_eq!(count("aggregate", "mean").await, Some(2));
    assert_eq!(count("alert", "raised").await, Some(1));
    assert_eq!(count("status", "online").await, Some(1));

    // One reading read back whole, nanoseconds included.
    let got = rows(
        &influxql(
            &url,
            DB,
            r#"SELECT * FROM "reading" WHERE "sensor" = 'pi-1' AND "seq" = 3"#,
        )
        .await,
    );
    assert_eq!(got.len(), 1, "{got:?}");
    let row = &got[0];
    assert_eq!(
        row["time"].as_i64(),
        Some((T0 + 180) * 1_000_000_000 + 3000)
    );
    assert_eq!(row["temperature"].as_f64(), Some(10.0 + 3.0 * 0.1));
    assert_eq!(row["relativeHumidity"].as_f64(), Some(0.5));
    assert_eq!(row["lat"].as_f64(), Some(43.6047));
    assert_eq!(row["kind"].as_str(), Some("bme280"));
    assert_eq!(row["source"].as_str(), Some("raspberry-pi"));
    let alert = rows(&influxql(&url, DB, r#"SELECT * FROM "alert""#).await);
    assert_eq!(alert[0]["state"].as_str(), Some("raised"));
    assert_eq!(alert[0]["scope"].as_str(), Some("neighbourhood-7"));
    assert_eq!(alert[0]["time"].as_i64(), Some((T0 + 120) * 1_000_000_000));
    Ok(())
}

/// The buckets the test expects, by the semantics of `garonne_store::history`, from the
/// samples it wrote as `(time_ns, mean, min, max, readings)`: a reading is one sample with
/// its value three times; an aggregate window is one sample. Samples with `from <= time <
/// to` are grouped by `floor(time / every) * every`; the count is the number of samples, or
/// the sum of their readings when `count_is_sum`.
fn expected(
    samples: &[(i64, f64, f64, f64, u64)],
    from: Timestamp,
    to: Timestamp,
    every_secs: u32,
    count_is_sum: bool,
) -> Vec<Bucket> {
    let every = i64::from(every_secs) * 1_000_000_000;
    let (from, to) = (
        i64::try_from(from.unix_nanos()).expect("in range"),
        i64::try_from(to.unix_nanos()).expect("in range"),
    );
    let mut groups: BTreeMap<i64, Vec<(f64, f64, f64, u64)>> = BTreeMap::new();
    for &(t, mean, min, max, count) in samples {
        if from <= t && t < to {
            groups
                .entry(t.div_euclid(every) * every)
                .or_default()
                .push((mean, min, max, count));
        }
    }
    groups
        .into_iter()
        .map(|(start, values)| {
            let n = values.len() as f64;
            Bucket {
                start: at(start.div_euclid(1_000_000_000), 0),
                mean: values.iter().map(|v| v.0).sum::<f64>() / n,
                min: values.iter().map(|v| v.1).fold(f64::INFINITY, f64::min),
                max: values.iter().map(|v| v.2).fold(f64::NEG_INFINITY, f64::max),
                count: if count_is_sum {
                    values.iter().map(|v| v.3).sum()
                } else {
                    values.len() as u64
                },
            }
        })
        .collect()
}

/// The temperature history of `subject`, as the test computes it from `samples` (see
/// [`expected`]).
struct Expectation<'a> {
    subject: Subject,
    samples: &'a [(i64, f64, f64, f64, u64)],
    aggregates: bool,
}

impl Expectation<'_> {
    /// Asks `history` for the window `(from, to)` in each of the `intervals` (seconds), checks
    /// each answer against the expected buckets, and returns the answers.
    async fn check(
        &self,
        history: &InfluxQl,
        (from, to): (Timestamp, Timestamp),
        intervals: [u32; 3],
    ) -> Result<Vec<Vec<Bucket>>, HistoryError> {
        let mut answers = Vec::new();
        for every_secs in intervals {
            let query = query(
                self.subject.clone(),
                Quantity::Temperature,
                (from, to),
                every_secs,
            );
            let got = history.query(&query).await?;
            let want = expected(self.samples, from, to, every_secs, self.aggregates);
            let what = format!("{:?}, every {every_secs} s", self.subject);
            assert_buckets(&got, &want, &what);
            answers.push(got);
        }
        Ok(answers)
    }
}

fn assert_buckets(got: &[Bucket], want: &[Bucket], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: {got:?} vs {want:?}");
    assert!(!want.is_empty(), "{what}: the test expects some buckets");
    for (g, w) in got.iter().zip(want) {
        assert_eq!(
            (g.start, g.min, g.max, g.count),
            (w.start, w.min, w.max, w.count),
            "{what}"
        );
        assert!((g.mean - w.mean).abs() < 1e-9, "{what}: {g:?} vs {w:?}");
    }
}

/// InfluxQL history answers what the test computes from the points it wrote: epoch-aligned
/// intervals, `from` included, `to` excluded, other sensors, quantities and neighbourhoods
/// left out, and ids with quotes only ever values.
#[tokio::test]
async fn influxql_history_matches_the_points_written() -> TestResult {
    let Some((influxd, mut store)) = influx_with_database().await else {
        return Ok(());
    };
    let topics = Topics::default();
    let mut batch = Vec::new();
    // Sensor pi-1: a reading every 37 s (and some ns), temperature on most, humidity on all.
    let mut samples = Vec::new();
    for k in 0..60u32 {
        let secs = T0 + i64::from(k) * 37;
        let nanos = k * 1_000_003;
        let value = 10.0 + f64::from((k * 7) % 13) * 0.37;
        let mut quantities = vec![(Quantity::RelativeHumidity, 0.5)];
        if k % 5 != 4 {
            quantities.push((Quantity::Temperature, value));
            samples.push((
                secs * 1_000_000_000 + i64::from(nanos),
                value,
                value,
                value,
                1,
            ));
        }
        let r = reading("pi-1", secs, nanos, u64::from(k), &quantities);
        batch.extend(points_of(&topics.reading("pi-1"), &r.to_json()));
        // Another sensor at the same times, with other values: never in pi-1's history.
        let other = reading(
            "pi-2",
            secs,
            nanos,
            u64::from(k),
            &[(Quantity::Temperature, -5.0)],
        );
        batch.extend(points_of(&topics.reading("pi-2"), &other.to_json()));
    }
    // A neighbourhood whose id needs quoting, and another one: windows of 300 s.
    let nasty = "l'île \"x\" \\ ,=";
    let mut windows = Vec::new();
    for w in 0..12i64 {
        let mean = 11.0 + (w % 4) as f64 * 0.25;
        let s = stats(mean, mean - 1.5 - w as f64 * 0.1, mean + 2.0, 10 + w as u64);
        windows.push((
            (T0 + w * 300) * 1_000_000_000,
            s.mean,
            s.min,
            s.max,
            s.readings,
        ));
        let a = aggregate(
            nasty,
            w,
            &[
                (Quantity::Temperature, s),
                (Quantity::WindSpeed, stats(99.0, 99.0, 99.0, 1)),
            ],
        );
        batch.extend(points_of(
            &topics.aggregate(nasty),
            &serde_json::to_vec(&a).expect("JSON"),
        ));
        let b = aggregate(
            "7",
            w,
            &[(Quantity::Temperature, stats(-9.0, -9.0, -9.0, 1))],
        );
        batch.extend(points_of(
            &topics.aggregate("7"),
            &serde_json::to_vec(&b).expect("JSON"),
        ));
    }
    store.write(&batch).await?;
    // Window 3 re-emitted with other values: the last one wins.
    let s = stats(20.0, 1.0, 30.0, 50);
    windows[3] = ((T0 + 900) * 1_000_000_000, s.mean, s.min, s.max, s.readings);
    let again = aggregate(nasty, 3, &[(Quantity::Temperature, s)]);
    store
        .write(&points_of(
            &topics.aggregate(nasty),
            &serde_json::to_vec(&again).expect("JSON"),
        ))
        .await?;

    let history = InfluxQl::new(&influxd.url(), DB, Credentials::None)?;
    // `to` is exactly the time of reading 40: excluded. `from` is not aligned.
    let from = at(T0 + 45, 0);
    let to = at(T0 + 40 * 37, 40 * 1_000_003);
    let sensor_history = Expectation {
        subject: sensor("pi-1"),
        samples: &samples,
        aggregates: false,
    };
    for got in sensor_history
        .check(&history, (from, to), [120, 7, 3600])
        .await?
    {
        // Readings 2 to 39 (`from` and `to` in between), less the 8 without a temperature.
        assert_eq!(got.iter().map(|b| b.count).sum::<u64>(), 30);
    }
    // A quantity the sensor never sent: no buckets, no error.
    let none = query(sensor("pi-1"), Quantity::Illuminance, (from, to), 60);
    assert_eq!(history.query(&none).await?, []);
    // An id with quotes is a value, never part of the statement.
    let injection = query(
        Subject::Sensor("pi-1' OR \"sensor\" = 'pi-2".into()),
        Quantity::Temperature,
        (from, to),
        60,
    );
    assert_eq!(history.query(&injection).await?, []);

    let from = at(T0 + 600, 0);
    let to = at(T0 + 3000, 0); // the start of window 10: excluded
    let neighbourhood_history = Expectation {
        subject: Subject::Neighbourhood(nasty.into()),
        samples: &windows,
        aggregates: true,
    };
    neighbourhood_history
        .check(&history, (from, to), [1200, 300, 7])
        .await?;
    let invalid = query(sensor("pi-1"), Quantity::Temperature, (to, from), 60);
    assert!(matches!(
        history.query(&invalid).await,
        Err(HistoryError::Invalid(_))
    ));
    Ok(())
}

/// What the caller must do with each failure: retry (unavailable) or set aside (rejected),
/// with a message that says how to fix a configuration mistake.
#[tokio::test]
async fn errors_are_classified_for_retry_or_set_aside() -> TestResult {
    let Some((mut influxd, mut store)) = influx_with_database().await else {
        return Ok(());
    };
    let url = influxd.url();
    let batch = schema_batch();

    // A database that does not exist: unavailable (the data waits), saying how to fix it.
    let mut missing = InfluxV1::new(&url, "nowhere", Credentials::None)?;
    for result in [missing.write(&batch).await, missing.check().await] {
        match result {
            Err(StoreError::Unavailable(message)) => {
                assert!(message.contains("CREATE DATABASE \"nowhere\""), "{message}");
            }
            other => panic!("a missing database gave {other:?}"),
        }
    }
    let history = InfluxQl::new(&url, "nowhere", Credentials::None)?;
    let query = query(
        Subject::Sensor("pi-1".into()),
        Quantity::Temperature,
        (at(T0, 0), at(T0 + 600, 0)),
        60,
    );
    match history.query(&query).await {
        Err(HistoryError::Unavailable(message)) => {
            assert!(message.contains("has no database \"nowhere\""), "{message}");
        }
        other => panic!("history from a missing database gave {other:?}"),
    }

    // A field type conflict (temperature as a string after floats): rejected for good,
    // while the valid points of the same batch are written.
    store.write(&batch).await?;
    let mut conflict = vec![Point {
        measurement: "reading",
        tags: vec![("sensor", "pi-9".to_owned())],
        fields: vec![("temperature", Field::Str("warm".into()))],
        time_ns: T0 * 1_000_000_000,
    }];
    conflict.push(Point {
        measurement: "reading",
        tags: vec![("sensor", "pi-9".to_owned())],
        fields: vec![("seq", Field::Int(1))],
        time_ns: T0 * 1_000_000_000 + 1,
    });
    match store.write(&conflict).await {
        Err(StoreError::Rejected(message)) => {
            assert!(message.contains("field type conflict"), "{message}");
            assert!(message.contains("the others were written"), "{message}");
        }
        other => panic!("a type conflict gave {other:?}"),
    }
    let written = influxql(
        &url,
        DB,
        r#"SELECT count("seq") FROM "reading" WHERE "sensor" = 'pi-9'"#,
    )
    .await;
    assert_eq!(scalar(&written, "count").and_then(|v| v.as_u64()), Some(1));

    // The server stopped: unavailable, for writes and history alike.
    influxd = tokio::task::spawn_blocking(move || {
        influxd.stop().expect("influxd stops");
        influxd
    })
    .await?;
    match store.write(&batch).await {
        Err(StoreError::Unavailable(message)) => {
            assert!(message.contains("cannot reach InfluxDB at"), "{message}");
        }
        other => panic!("a stopped server gave {other:?}"),
    }
    let history = InfluxQl::new(&url, DB, Credentials::None)?;
    assert!(matches!(
        history.query(&query).await,
        Err(HistoryError::Unavailable(_))
    ));

    // Back up: the same batch goes through (the caller's retry).
    influxd = tokio::task::spawn_blocking(move || {
        influxd.restart().expect("influxd restarts");
        influxd
    })
    .await?;
    store.write(&batch).await?;
    assert!(!history.query(&query).await?.is_empty());
    drop(influxd);
    Ok(())
}

/// Credentials go as HTTP basic authentication; refused ones are unavailable (the data
/// waits) with the variables to fix in the message, never the password.
#[tokio::test]
async fn credentials_are_sent_and_refusals_say_what_to_fix() -> TestResult {
    let Some(influxd) = Influxd::start_with_auth_or_skip() else {
        return Ok(());
    };
    let url = influxd.url();
    // InfluxDB 1.x lets anyone create the first admin user.
    let response = reqwest::Client::new()
        .post(url_with(
            &url,
            "/query",
            &[(
                "q",
                "CREATE USER \"admin\" WITH PASSWORD 'right' WITH ALL PRIVILEGES",
            )],
        ))
        .send()
        .await?;
    assert_eq!(response.status().as_u16(), 200);
    let admin = Credentials::Basic {
        username: "admin".into(),
        password: "right".into(),
    };
    let mut store = InfluxV1::new(&url, DB, admin.clone())?;
    store.create_database().await?;
    store.write(&schema_batch()).await?;
    let query = query(
        Subject::Sensor("pi-1".into()),
        Quantity::Temperature,
        (at(T0, 0), at(T0 + 600, 0)),
        600,
    );
    let buckets = InfluxQl::new(&url, DB, admin)?.query(&query).await?;
    assert_eq!(buckets.len(), 1);
    assert_eq!(buckets[0].count, 5);

    let wrong = Credentials::Basic {
        username: "admin".into(),
        password: "wrong-secret".into(),
    };
    let mut refused = InfluxV1::new(&url, DB, wrong.clone())?;
    match refused.write(&schema_batch()).await {
        Err(StoreError::Unavailable(message)) => {
            assert!(
                message.contains("INFLUX_USERNAME and INFLUX_PASSWORD"),
                "{message}"
            );
            assert!(!message.contains("wrong-secret"), "{message}");
        }
        other => panic!("wrong credentials gave {other:?}"),
    }
    let mut anonymous = InfluxV1::new(&url, DB, Credentials::None)?;
    match anonymous.write(&schema_batch()).await {
        Err(StoreError::Unavailable(message)) => {
            assert!(message.contains("requires authentication"), "{message}");
        }
        other => panic!("no credentials gave {other:?}"),
    }
    match InfluxQl::new(&url, DB, wrong)?.query(&query).await {
        Err(HistoryError::Unavailable(message)) => {
            assert!(message.contains("refused the credentials"), "{message}");
            assert!(!message.contains("wrong-secret"), "{message}");
        }
        other => panic!("history with wrong credentials gave {other:?}"),
    }
    Ok(())
}

/// One series exported by VictoriaMetrics: its labels and samples.
#[derive(Debug, serde::Deserialize)]
struct Exported {
    metric: BTreeMap<String, String>,
    values: Vec<f64>,
    timestamps: Vec<i64>,
}

/// Every series whose name matches `pattern`, once `done` holds for them (polled for up to
/// 10 s; `/internal/force_flush` makes what was written searchable at once).
async fn export(vm: &Victoria, pattern: &str, done: impl Fn(&[Exported]) -> bool) -> Vec<Exported> {
    let client = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        client
            .get(format!("{}/internal/force_flush", vm.url()))
            .send()
            .await
            .expect("flush");
        let selector = format!("{{__name__=~\"{pattern}\"}}");
        let body = client
            .get(url_with(
                &vm.url(),
                "/api/v1/export",
                &[("match[]", &selector)],
            ))
            .send()
            .await
            .expect("export")
            .text()
            .await
            .expect("export body");
        let series: Vec<Exported> = body
            .lines()
            .map(|line| serde_json::from_str(line).expect("one JSON series per line"))
            .collect();
        if done(&series) || tokio::time::Instant::now() >= deadline {
            return series;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The v2 write API through the influxdb2 crate, into VictoriaMetrics: series are named
/// `{measurement}_{field}` with the tags as labels, and a batch written twice is stored once.
#[tokio::test]
async fn influx_v2_writes_into_victoria_metrics_once() -> TestResult {
    let Some(mut vm) = Victoria::start_or_skip() else {
        return Ok(());
    };
    let mut store = InfluxV2::new(&vm.url(), "city", DB, "")?;
    let batch = schema_batch();
    store.write(&batch).await?;
    store.write(&batch).await?;

    // Every numeric field of every point is one sample of the series
    // `{measurement}_{field}`. (VictoriaMetrics has no strings: what it makes of string
    // fields is not the historian's business.)
    let numeric: BTreeMap<String, usize> = batch
        .iter()
        .flat_map(|p| p.fields.iter().map(move |field| (p.measurement, field)))
        .filter(|(_, (_, f))| !matches!(f, Field::Str(_)))
        .fold(BTreeMap::new(), |mut names, (measurement, (field, _))| {
            *names.entry(format!("{measurement}_{field}")).or_default() += 1;
            names
        });
    let samples_by_name = |series: &[Exported]| {
        let mut names = BTreeMap::new();
        for s in series {
            if numeric.contains_key(&s.metric["__name__"]) {
                *names.entry(s.metric["__name__"].clone()).or_default() += s.values.len();
            }
        }
        names
    };
    let series = export(&vm, "(reading|aggregate|alert|status)_.*", |series| {
        samples_by_name(series) == numeric
    })
    .await;
    assert_eq!(samples_by_name(&series), numeric, "{}", vm.log_tail());

    let temperature = series
        .iter()
        .find(|s| s.metric["__name__"] == "reading_temperature")
        .expect("a reading_temperature series");
    assert_eq!(
        temperature.metric,
        // `kind` is a field, not a tag (a label here): free text a sensor may change at every
        // message must not make new series.
        BTreeMap::from([
            ("__name__".to_owned(), "reading_temperature".to_owned()),
            ("sensor".to_owned(), "pi-1".to_owned()),
            ("source".to_owned(), "raspberry-pi".to_owned()),
        ])
    );
    assert_eq!(
        temperature.values,
        (0..5)
            .map(|k| 10.0 + f64::from(k) * 0.1)
            .collect::<Vec<_>>()
    );
    // Milliseconds: the nanoseconds of the readings are below VictoriaMetrics' resolution.
    assert_eq!(
        temperature.timestamps,
        (0..5).map(|k| (T0 + k * 60) * 1000).collect::<Vec<_>>()
    );
    let mean = series
        .iter()
        .find(|s| s.metric["__name__"] == "aggregate_mean" && s.metric["quantity"] == "windSpeed")
        .expect("an aggregate_mean series");
    assert_eq!(mean.metric["neighbourhood"], "7");
    assert_eq!(mean.metric["name"], "Quartier 7");
    assert_eq!(mean.values, [3.5]);

    // Stopped: unavailable, and the batch goes through once it is back.
    vm = tokio::task::spawn_blocking(move || {
        vm.stop().expect("victoria-metrics stops");
        vm
    })
    .await?;
    match store.write(&batch).await {
        Err(StoreError::Unavailable(message)) => {
            assert!(
                message.contains("cannot reach InfluxDB (v2 API) at"),
                "{message}"
            );
        }
        other => panic!("a stopped server gave {other:?}"),
    }
    vm = tokio::task::spawn_blocking(move || {
        vm.restart().expect("victoria-metrics restarts");
        vm
    })
    .await?;
    store.write(&batch).await?;
    // After the flush everything written is searchable: one export tells.
    let again = export(&vm, "reading_temperature", |_| true).await;
    assert_eq!(again.iter().map(|s| s.values.len()).sum::<usize>(), 5);
    Ok(())
}

/// Issue 14: a quantity of any profile of the catalogue goes through the schema into both
/// stores, by its name, and their history answers for it; an aggregate's `value` (the
/// quantity's aggregate by its profile's rules) is stored beside its mean.
#[tokio::test]
async fn any_profiles_quantities_and_aggregate_values_are_stored_and_answered() -> TestResult {
    let Some((influxd, mut influx)) = influx_with_database().await else {
        return Ok(());
    };
    let pm25 = Quantity::from_name("pm25").expect("built-in air-quality profile");
    let bikes = Quantity::from_name("availableBikeNumber").expect("built-in bikes profile");
    let topics = Topics::default();
    let mut batch = Vec::new();
    for (k, value) in [10.0, 12.5, 15.0].into_iter().enumerate() {
        let r = reading("air-1", T0 + k as i64 * 60, 0, k as u64, &[(pm25, value)]);
        batch.extend(points_of(&topics.reading("air-1"), &r.to_json()));
    }
    // Two stations: 7.5 bikes each on average, 15 in the neighbourhood by the bikes' rules.
    let mut counts = stats(7.5, 3.0, 12.0, 6);
    counts.value = 15.0;
    let a = aggregate("7", 0, &[(bikes, counts)]);
    batch.extend(points_of(&topics.aggregate("7"), &serde_json::to_vec(&a)?));
    influx.write(&batch).await?;
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("history.sqlite");
    let mut embedded = garonne_store::embedded::EmbeddedStore::open(
        &file,
        garonne_store::embedded::Retention::default(),
    )
    .await?;
    embedded.write(&batch).await?;

    let want = [Bucket {
        start: at(T0, 0),
        mean: 12.5,
        min: 10.0,
        max: 15.0,
        count: 3,
    }];
    let q = query(sensor("air-1"), pm25, (at(T0, 0), at(T0 + 3600, 0)), 3600);
    let influxql_history = InfluxQl::new(&influxd.url(), DB, Credentials::None)?;
    assert_eq!(influxql_history.query(&q).await?, want, "InfluxDB");
    let sqlite_history = garonne_store::embedded::EmbeddedHistory::open(&file).await?;
    assert_eq!(sqlite_history.query(&q).await?, want, "embedded store");

    let answer = influxql(
        &influxd.url(),
        DB,
        "SELECT \"value\", \"mean\" FROM aggregate WHERE quantity = 'availableBikeNumber'",
    )
    .await;
    let number = |column| scalar(&answer, column).and_then(|v| v.as_f64());
    assert_eq!(number("value"), Some(15.0), "{answer}");
    assert_eq!(number("mean"), Some(7.5), "{answer}");

    // The neighbourhood's history is its value (15 bikes), from both stores.
    let q = query(
        Subject::Neighbourhood("7".into()),
        bikes,
        (at(T0, 0), at(T0 + 3600, 0)),
        3600,
    );
    let want = [Bucket {
        start: at(T0, 0),
        mean: 15.0,
        min: 3.0,
        max: 12.0,
        count: 6,
    }];
    assert_eq!(influxql_history.query(&q).await?, want, "InfluxDB");
    assert_eq!(sqlite_history.query(&q).await?, want, "embedded store");
    Ok(())
}

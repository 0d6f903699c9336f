//! What the server's tests share: a small polygon file, messages as realtime and the sensors
//! publish them, an embedded history store written as the historian writes it, and helpers to
//! read responses.

#![allow(dead_code, missing_docs)]

use std::path::Path;

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use garonne_neighbourhoods::{Neighbourhoods, Properties};
use garonne_payload::{Limits, NeighbourhoodAggregate, Timestamp, Topic, Topics, parse_reading};
use garonne_store::embedded::{EmbeddedStore, Retention};
use garonne_store::point::{Field, Point};
use garonne_store::store::Store;

/// Two squares side by side: `west` (0..1) and `east` (1..2), longitude and latitude 0..1.
pub const SQUARES: &str = r#"{"type": "FeatureCollection", "features": [
  {"type": "Feature", "properties": {"code": "west", "label": "Ouest"},
   "geometry": {"type": "Polygon", "coordinates": [[[0,0],[1,0],[1,1],[0,1],[0,0]]]}},
  {"type": "Feature", "properties": {"code": "east", "label": "Est"},
   "geometry": {"type": "Polygon", "coordinates": [[[1,0],[2,0],[2,1],[1,1],[1,0]]]}}]}"#;

pub fn squares() -> Neighbourhoods {
    Neighbourhoods::from_slice(
        SQUARES.as_bytes(),
        "squares",
        &Properties::new("code", "label"),
    )
    .expect("valid polygons")
}

pub fn ts(text: &str) -> Timestamp {
    Timestamp::parse(text).expect("valid time")
}

/// A valid reading of `sensor` at `time`.
pub fn reading(sensor: &str, time: Timestamp, temperature: f64) -> String {
    format!(
        r#"{{"v":1,"sensor_id":"{sensor}","kind":"bme280","source":"virtual","time":"{time}","seq":1,"location":{{"lon":1.5,"lat":0.5}},"quantities":{{"temperature":{temperature}}}}}"#
    )
}

/// A status of `sensor`.
pub fn status(sensor: &str, state: &str) -> String {
    format!(
        r#"{{"v":1,"sensor_id":"{sensor}","state":"{state}","time":"2025-11-24T10:00:00Z","kind":"raspberry-pi","source":"raspberry-pi","location":{{"lon":0.5,"lat":0.5}}}}"#
    )
}

/// An aggregate of `id` for the window starting at `start` (15 minutes).
pub fn aggregate(id: &str, start: Timestamp, mean: f64, readings: u64) -> String {
    let end = start.add_nanos(900 * 1_000_000_000);
    format!(
        r#"{{"v":1,"neighbourhood_id":"{id}","name":"Q {id}","window_start":"{start}","window_end":"{end}","emitted_at":"{end}","quantities":{{"temperature":{{"mean":{mean},"min":{},"max":{},"readings":{readings},"sensors":2}}}}}}"#,
        mean - 1.0,
        mean + 1.0
    )
}

/// A raised alert on `east`.
pub fn alert(state: &str) -> String {
    format!(
        r#"{{"v":1,"rule":"heat","scope":{{"kind":"neighbourhood","id":"east"}},"state":"{state}","quantity":"temperature","comparison":"above","threshold":35.0,"value":36.0,"since":"2025-11-24T10:00:00Z","time":"2025-11-24T10:10:00Z"}}"#
    )
}

/// Writes `messages` (topic, payload: readings and aggregates) into a new embedded store at
/// `path`, as the points the historian's schema makes of them (docs/historian.md; the server
/// does not depend on the historian): the `reading` and `aggregate` points history reads.
pub async fn write_history(path: &Path, messages: &[(String, String)], received: Timestamp) {
    let topics = Topics::default();
    let mut points = Vec::new();
    for (topic, payload) in messages {
        match topics.parse(topic) {
            Some(Topic::Reading { .. }) => {
                let r = parse_reading(payload.as_bytes(), received, &Limits::default())
                    .unwrap_or_else(|e| panic!("{topic}: {e:?}"));
                let source = r.source.as_str().to_owned();
                let tags = vec![
                    ("kind", r.kind),
                    ("sensor", r.sensor_id),
                    ("source", source),
                ];
                let fields = r
                    .quantities
                    .iter()
                    .map(|(q, v)| (q.name(), Field::Float(v)));
                points.push(point("reading", tags, fields.collect(), r.time));
            }
            Some(Topic::Aggregate { .. }) => {
                let a: NeighbourhoodAggregate =
                    serde_json::from_str(payload).unwrap_or_else(|e| panic!("{topic}: {e}"));
                let window_secs = a.window_end.unix_secs() - a.window_start.unix_secs();
                for (quantity, s) in &a.quantities {
                    let tags = vec![
                        ("name", a.name.clone()),
                        ("neighbourhood", a.neighbourhood_id.clone()),
                        ("quantity", quantity.name().to_owned()),
                    ];
                    let count = |n: u64| Field::Int(i64::try_from(n).expect("count"));
                    let fields = vec![
                        ("mean", Field::Float(s.mean)),
                        ("min", Field::Float(s.min)),
                        ("max", Field::Float(s.max)),
                        ("readings", count(s.readings)),
                        ("sensors", count(u64::from(s.sensors))),
                        ("window_secs", Field::Int(window_secs)),
                    ];
                    points.push(point("aggregate", tags, fields, a.window_start));
                }
            }
            _ => panic!("{topic}: the tests' history holds readings and aggregates only"),
        }
    }
    let mut store = EmbeddedStore::open(path, Retention::default())
        .await
        .expect("store opens");
    store.write(&points).await.expect("points written");
    store.close().await.expect("store closes");
}

/// A point at `time`.
fn point(
    measurement: &'static str,
    tags: Vec<(&'static str, String)>,
    fields: Vec<(&'static str, Field)>,
    time: Timestamp,
) -> Point {
    Point {
        measurement,
        tags,
        fields,
        time_ns: i64::try_from(time.unix_nanos()).expect("time within i64 nanoseconds"),
    }
}

/// A response's status, headers and body text.
pub async fn read(response: Response) -> (StatusCode, HeaderMap, String) {
    let status = response.status();
    let headers = response.headers().clone();
    let body = axum::body::to_bytes(response.into_body(), 64 << 20)
        .await
        .expect("body");
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

/// A request.
pub fn request(method: &str, uri: &str, body: impl Into<Body>) -> axum::http::Request<Body> {
    axum::http::Request::builder()
        .method(method)
        .uri(uri)
        .body(body.into())
        .expect("request")
}

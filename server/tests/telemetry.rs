//! The telemetry stream (`/api/telemetry/stream`) through `Router` + `oneshot`: a 100 Hz car fed
//! as MQTT would feed it, several viewers at once. Decimated once per device and rate and shared
//! (one stream for three viewers of 10 Hz), min and max per bucket (a one-sample spike survives),
//! each viewer gets only its channels, a viewer's width caps its rate, and a viewer that reads
//! nothing skips the oldest batches (counted) while the others get everything.

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::body::BodyDataStream;
use axum::http::StatusCode;
use axum::response::Response;
use futures_util::StreamExt;
use garonne_payload::Timestamp;
use garonne_server::{App, Config, HistorySource, router};
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use common::*;

const TOPIC: &str = "garonne/v1/sensors/car/senml";

fn app(dir: &std::path::Path) -> Arc<App> {
    App::new(
        &Config::default(),
        &squares(),
        HistorySource::embedded(dir.join("history.sqlite")),
        CancellationToken::new(),
    )
}

/// A SenML pack of `instants` readings 10 ms apart from `start_ms` (ms after T0): temperature
/// from `temperature(ms)`, humidity 0.5 + temperature / 1000.
fn pack(start_ms: i64, instants: i64, seq: i64, temperature: impl Fn(i64) -> f64) -> String {
    let bt = T0_SECS as f64 + start_ms as f64 / 1000.0;
    let mut records = vec![
        format!(r#"{{"bn":"car:","bt":{bt},"n":"lat","u":"lat","v":0.5}}"#),
        r#"{"n":"lon","u":"lon","v":1.5}"#.to_owned(),
        format!(r#"{{"n":"seq","v":{seq}}}"#),
        r#"{"n":"source","vs":"device"}"#.to_owned(),
        r#"{"n":"kind","vs":"race-car"}"#.to_owned(),
    ];
    for i in 0..instants {
        let t = i as f64 / 100.0;
        let v = temperature(start_ms + i * 10);
        let h = 0.5 + v / 1000.0;
        records.push(format!(
            r#"{{"n":"temperature","u":"Cel","v":{v},"t":{t}}}"#
        ));
        records.push(format!(
            r#"{{"n":"relativeHumidity","u":"/","v":{h},"t":{t}}}"#
        ));
    }
    format!("[{}]", records.join(","))
}

/// 2025-11-24T12:00:00Z.
const T0_SECS: i64 = 1_763_985_600;

fn now() -> Timestamp {
    Timestamp::new(T0_SECS + 600, 0).expect("valid")
}

/// The answer to `GET /api/telemetry/stream?{query}`.
async fn stream(app: &Arc<App>, query: &str) -> Response {
    router(Arc::clone(app))
        .oneshot(request(
            "GET",
            &format!("/api/telemetry/stream?{query}"),
            "",
        ))
        .await
        .expect("response")
}

/// An open viewer: its body and what it has not parsed yet.
struct Viewer {
    body: BodyDataStream,
    buffer: String,
}

impl Viewer {
    async fn open(app: &Arc<App>, query: &str) -> Viewer {
        let response = stream(app, query).await;
        assert_eq!(response.status(), StatusCode::OK, "{query}");
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        Viewer {
            body: response.into_body().into_data_stream(),
            buffer: String::new(),
        }
    }

    /// The next event: its name and data as JSON.
    async fn next(&mut self) -> (String, Value) {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let frame: String = self.buffer.drain(..end + 2).collect();
                let mut event = String::new();
                let mut data = String::new();
                for line in frame.lines() {
                    if let Some(name) = line.strip_prefix("event: ") {
                        event = name.to_owned();
                    } else if let Some(d) = line.strip_prefix("data: ") {
                        data.push_str(d);
                    }
                }
                if event.is_empty() {
                    continue; // a ping
                }
                return (event, serde_json::from_str(&data).expect("JSON data"));
            }
            let chunk = tokio::time::timeout(Duration::from_secs(5), self.body.next())
                .await
                .expect("an event within 5 s")
                .expect("the stream goes on")
                .expect("chunk");
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    async fn hello(&mut self) -> Value {
        let (event, data) = self.next().await;
        assert_eq!(event, "hello");
        data
    }
}

fn metric(app: &App, name: &str) -> f64 {
    let text = app.metrics_text();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("{name} in /metrics"))
}

/// The (t, min, max) points of `channel` in a `points` event.
fn points(data: &Value, channel: &str) -> Vec<(f64, f64, f64)> {
    let c = &data["ch"][channel];
    let col = |k: &str| -> Vec<f64> {
        c[k].as_array()
            .map(|a| a.iter().filter_map(Value::as_f64).collect())
            .unwrap_or_default()
    };
    let (t, min, max) = (col("t"), col("min"), col("max"));
    (0..t.len()).map(|i| (t[i], min[i], max[i])).collect()
}

#[tokio::test]
async fn one_decimated_stream_per_device_and_rate_shared_by_its_viewers() {
    let dir = tempfile::tempdir().expect("temp dir");
    let app = app(dir.path());
    let t0_ms = T0_SECS as f64 * 1000.0;

    // Before the car is known its rate counts as 1000 Hz: raw over 10 s on 1000 px is capped.
    let mut capped = Viewer::open(
        &app,
        "sensor=car&channels=temperature&rate=raw&window=10&width=1000",
    )
    .await;
    let hello = capped.hello().await;
    assert_eq!(
        (hello["bucket_ms"].as_i64(), hello["capped"].as_bool()),
        (Some(20), Some(true)),
        "{hello}"
    );
    let query = "sensor=car&rate=10&window=10&width=1000&channels=";
    let mut a = Viewer::open(&app, &format!("{query}temperature")).await;
    let mut b = Viewer::open(&app, &format!("{query}relativeHumidity")).await;
    let mut slow = Viewer::open(&app, &format!("{query}temperature,relativeHumidity")).await;
    for v in [&mut a, &mut b, &mut slow] {
        assert_eq!(v.hello().await["bucket_ms"], 100);
    }
    assert_eq!(
        metric(&app, "garonne_server_telemetry_streams"),
        2.0,
        "10 Hz and 50 Hz"
    );
    assert_eq!(metric(&app, "garonne_server_telemetry_viewers"), 4.0);

    // 300 ms at 100 Hz, a spike of 45 at 150 ms.
    let spike = |ms: i64| if ms == 150 { 45.0 } else { 20.0 };
    for k in 0..3 {
        app.apply(TOPIC, pack(k * 100, 10, k * 10, spike).as_bytes(), now())
            .expect("valid pack");
    }
    // Two 10 Hz batches (closed by the second and third packs), made once for three viewers.
    let (event, first) = a.next().await;
    assert_eq!(event, "points");
    let (_, second) = a.next().await;
    let got: Vec<_> = [first, second]
        .iter()
        .flat_map(|d| points(d, "temperature"))
        .collect();
    assert_eq!(
        got,
        vec![(t0_ms, 20.0, 20.0), (t0_ms + 100.0, 20.0, 45.0)],
        "min and max per bucket"
    );
    let (_, other) = b.next().await;
    assert!(
        other["ch"].get("temperature").is_none(),
        "only its channels: {other}"
    );
    assert_eq!(points(&other, "relativeHumidity").len(), 1);
    let (_, fifty) = capped.next().await;
    assert_eq!(
        points(&fifty, "temperature").len(),
        4,
        "the 20 ms buckets the first pack closed"
    );
    assert_eq!(
        metric(&app, "garonne_server_telemetry_batches_total"),
        2.0 + 3.0
    );

    // The car is known at 100 Hz: raw over 10 s fits 1000 px.
    let mut raw = Viewer::open(
        &app,
        "sensor=car&channels=temperature,relativeHumidity&rate=raw&window=10&width=1000",
    )
    .await;
    assert_eq!(raw.hello().await["bucket_ms"], 0);
    let devices = read(
        router(Arc::clone(&app))
            .oneshot(request("GET", "/api/telemetry/devices", ""))
            .await
            .expect("response"),
    )
    .await
    .2;
    let devices: Value = serde_json::from_str(&devices).expect("JSON");
    assert_eq!(devices["devices"][0]["id"], "car");
    assert_eq!(devices["devices"][0]["rate_hz"], 100.0);
    assert_eq!(devices["devices"][0]["channels"][0]["name"], "temperature");

    // 45 packs of 12 s while `raw` reads nothing: its ring (4 MiB) loses the oldest, the 10 Hz
    // viewer reads along and misses nothing.
    let packs = 45;
    let mut buckets = 0;
    for k in 0..packs {
        let start = 300 + k * 12_000;
        app.apply(
            TOPIC,
            pack(start, 1200, 30 + k * 1200, |ms| ms as f64 / 7e4).as_bytes(),
            now(),
        )
        .expect("valid pack");
        let (_, data) = a.next().await;
        buckets += points(&data, "temperature").len();
    }
    assert_eq!(buckets, 45 * 120, "every 100 ms bucket, none skipped");
    let (_, data) = raw.next().await;
    let first_t = points(&data, "temperature")[0].0;
    assert!(
        first_t > t0_ms + 300.0 + 12_000.0,
        "the oldest batches are gone for the slow viewer (first point at {first_t})"
    );
    let skipped = metric(&app, "garonne_server_telemetry_batches_skipped_total");
    assert!(skipped >= 1.0, "skipped {skipped}");
    drop(slow);
}

#[tokio::test]
async fn a_stream_request_says_what_to_fix() {
    let dir = tempfile::tempdir().expect("temp dir");
    let app = app(dir.path());
    for (query, says) in [
        ("sensor=car&channels=notAChannel", "unknown channel"),
        (
            "sensor=car&channels=temperature&rate=20",
            "is not one of raw, 50, 10, 1",
        ),
        (
            "sensor=car&channels=temperature&width=10",
            "width=10 must be a whole number from 50",
        ),
    ] {
        let response = stream(&app, query).await;
        let (status, _, body) = read(response).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
        assert!(body.contains(says), "{query}: {body}");
    }
}

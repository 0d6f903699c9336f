//! The telemetry page's data: `GET /api/telemetry/devices` (the devices that send SenML packs,
//! and the channels each has sent) and `GET /api/telemetry/stream`, one device's channels live as
//! Server-Sent Events, decimated on the server.
//!
//! ```text
//! MQTT pack ─► Telemetry::offer ─► per device: channels seen, rate
//!                               └► per (device, bucket): Decimator ─► Ring (bytes-bounded)
//!                                                                      ├─► viewer 1 (its channels)
//!                                                                      └─► viewer N
//! ```
//!
//! Design:
//! - **Once per (device, rate).** A stream is a device and a bucket width (raw, 20 ms, 100 ms,
//!   1 s, and 10 s and 60 s for long windows). Its [`Decimator`] runs once per pack however many
//!   viewers follow it, and it exists only while someone does (it is dropped at the first pack
//!   after its last viewer left).
//! - **Min and max per bucket**, per channel: a spike is never averaged away. A bucket is sent
//!   when a newer sample of the device starts a later bucket (so one pack interval late at most);
//!   raw sends every sample (min = max).
//! - **Shared, and bounded in bytes.** Each batch is rendered once, as one JSON fragment per
//!   channel; a viewer joins the fragments of its channels. Batches wait in a ring of at most
//!   [`RING_BYTES`]; a viewer that falls behind finds the oldest gone, skips them (counted in
//!   `garonne_server_telemetry_batches_skipped_total`) and goes on from the oldest left. Nothing
//!   waits for a viewer: a slow one never slows the MQTT loop or the others.
//! - **No more points than the screen can draw.** The viewer says its chart's `width` in pixels
//!   and its `window` in seconds; the server gives it the finest bucket at or coarser than the
//!   rate asked such that the window holds at most `width` buckets (the `hello` event says which).
//! - Thresholds and alert states are the page's: see docs (the viewer's own thresholds, and the
//!   alerts realtime raised for the device, from `/api/alerts`).
//!
//! The stream's events: `hello` first (`{"sensor","channels","rate","bucket_ms","capped"}`),
//! then `points`: `{"at": ms, "ch": {"name": {"t": [ms...], "min": [...], "max": [...]}}}`,
//! `at` being the time of the newest sample of the pack that produced them (for latency).

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::convert::Infallible;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::sse::Event;
use axum::response::{IntoResponse, Response};
use futures_util::Stream;
use garonne_payload::{Payload, Quantity, Reading, Timestamp, is_valid_sensor_id};
use garonne_service::prometheus::Exposition;
use tokio::sync::watch;

use crate::app::App;
use crate::error::ApiError;
use crate::events::Connection;

/// Bucket widths in milliseconds, finest first; 0 is raw. The first four are the rates a viewer
/// may ask for (raw, 50, 10, 1 Hz); the last two serve long windows on narrow screens.
pub const BUCKETS_MS: [i64; 6] = [0, 20, 100, 1000, 10_000, 60_000];
/// The rates a viewer may ask for, as `rate=` names them, with their index in [`BUCKETS_MS`].
pub const RATES: [(&str, usize); 4] = [("raw", 0), ("50", 1), ("10", 2), ("1", 3)];
/// Most bytes of batches one stream keeps for its viewers.
pub const RING_BYTES: usize = 4 << 20;
/// A batch larger than this is not kept (counted): the ring stays bounded.
pub const MAX_BATCH_BYTES: usize = 1 << 20;
/// Most devices kept; a new one past it is counted and not followed.
pub const MAX_DEVICES: usize = 10_000;
/// Most channels kept per device (a profile from a DBC has at most 256).
pub const MAX_CHANNELS: usize = 1024;
/// Window bounds, seconds: 10 s to a day (a whole session).
pub const WINDOW_SECS: (u32, u32) = (10, 86_400);
/// Width bounds, pixels.
pub const WIDTH_PX: (u32, u32) = (50, 8192);

/// What the telemetry counts, for `/metrics`.
#[derive(Debug, Default)]
pub struct TelemetryMetrics {
    /// Viewers connected now.
    pub viewers: AtomicU64,
    /// Viewers refused because `max_event_clients` were connected.
    pub viewers_refused: AtomicU64,
    /// Batches made by the decimators (once per stream, whatever the viewers).
    pub batches: AtomicU64,
    /// Events written to viewers.
    pub events_sent: AtomicU64,
    /// Batches that slow viewers skipped (gone from the ring before they read them).
    pub batches_skipped: AtomicU64,
    /// Batches over [`MAX_BATCH_BYTES`], not kept.
    pub batches_too_large: AtomicU64,
    /// Samples older than their channel's open bucket, left out of the streams.
    pub late_samples: AtomicU64,
    /// Packs of new devices past [`MAX_DEVICES`].
    pub devices_refused: AtomicU64,
}

/// One decimated batch, rendered once: a JSON fragment per channel.
#[derive(Debug)]
pub struct Batch {
    seq: u64,
    at_ms: f64,
    fragments: Vec<(Quantity, String)>,
    bytes: usize,
}

/// A stream's batches for its viewers, at most [`RING_BYTES`].
#[derive(Debug, Default)]
struct Ring {
    batches: VecDeque<Arc<Batch>>,
    bytes: usize,
    next_seq: u64,
}

/// What the viewers of one stream share.
#[derive(Debug)]
struct Shared {
    ring: Mutex<Ring>,
    /// The sequence number of the next batch: viewers wait on it.
    latest: watch::Sender<u64>,
}

impl Shared {
    fn push(&self, at_ms: f64, fragments: Vec<(Quantity, String)>) {
        let bytes = fragments.iter().map(|(_, f)| f.len() + 1).sum();
        let mut ring = self.ring.lock().unwrap_or_else(PoisonError::into_inner);
        let seq = ring.next_seq;
        ring.next_seq += 1;
        ring.bytes += bytes;
        ring.batches.push_back(Arc::new(Batch {
            seq,
            at_ms,
            fragments,
            bytes,
        }));
        while ring.bytes > RING_BYTES
            && let Some(old) = ring.batches.pop_front()
        {
            ring.bytes -= old.bytes;
        }
        drop(ring);
        self.latest.send_replace(seq + 1);
    }
}

/// Min and max of one channel over its open bucket.
#[derive(Debug, Clone, Copy)]
struct Open {
    index: i64,
    min: f64,
    max: f64,
}

/// Points of one channel in a batch.
#[derive(Debug, Default)]
struct Points {
    t: Vec<f64>,
    min: Vec<f64>,
    max: Vec<f64>,
}

impl Points {
    fn push(&mut self, t: f64, min: f64, max: f64) {
        self.t.push(t);
        self.min.push(min);
        self.max.push(max);
    }

    /// `"name":{"t":[...],"min":[...],"max":[...]}`.
    fn fragment(&self, name: &str) -> String {
        let mut s = String::with_capacity(16 + self.t.len() * 40);
        let _ = write!(s, "{}:{{", crate::live::json_string(name));
        for (key, values) in [("t", &self.t), ("min", &self.min), ("max", &self.max)] {
            if key != "t" {
                s.push(',');
            }
            let _ = write!(s, "\"{key}\":[");
            for (i, v) in values.iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                let _ = write!(s, "{v}");
            }
            s.push(']');
        }
        s.push('}');
        s
    }
}

/// Min/max decimation of one device into buckets of `bucket_ms` (0: raw, every sample).
#[derive(Debug, Default)]
pub struct Decimator {
    bucket_ms: i64,
    open: HashMap<Quantity, Open>,
    /// Raw: the time of each channel's last sample sent, so times only grow.
    last_raw: HashMap<Quantity, f64>,
    late: u64,
}

fn millis(t: Timestamp) -> f64 {
    t.unix_nanos() as f64 / 1e6
}

impl Decimator {
    /// A decimator into buckets of `bucket_ms` milliseconds (0: raw).
    pub fn new(bucket_ms: i64) -> Decimator {
        Decimator {
            bucket_ms,
            ..Decimator::default()
        }
    }

    /// Folds `readings` (one pack, in time order) in; returns the points they complete, by
    /// channel: every sample when raw, else the buckets that a later bucket of the device closed.
    fn push(&mut self, readings: &[Reading]) -> BTreeMap<Quantity, Points> {
        let mut out: BTreeMap<Quantity, Points> = BTreeMap::new();
        if self.bucket_ms == 0 {
            for r in readings {
                let t = millis(r.time);
                for (q, v) in r.quantities.iter() {
                    let last = self.last_raw.entry(q).or_insert(f64::MIN);
                    if t < *last {
                        self.late += 1;
                        continue;
                    }
                    *last = t;
                    out.entry(q).or_default().push(t, v, v);
                }
            }
            return out;
        }
        let width = self.bucket_ms;
        let mut newest = i64::MIN;
        for r in readings {
            let index = (r.time.unix_millis()).div_euclid(width);
            newest = newest.max(index);
            for (q, v) in r.quantities.iter() {
                match self.open.get_mut(&q) {
                    Some(open) if open.index == index && open.min.is_finite() => {
                        open.min = open.min.min(v);
                        open.max = open.max.max(v);
                    }
                    // Older than the open bucket, or of a bucket already sent.
                    Some(open) if open.index >= index => self.late += 1,
                    Some(open) => {
                        let done = *open;
                        *open = Open {
                            index,
                            min: v,
                            max: v,
                        };
                        if done.min.is_finite() {
                            out.entry(q).or_default().push(
                                (done.index * width) as f64,
                                done.min,
                                done.max,
                            );
                        }
                    }
                    None => {
                        self.open.insert(
                            q,
                            Open {
                                index,
                                min: v,
                                max: v,
                            },
                        );
                    }
                }
            }
        }
        // A later bucket of the device closes every channel's earlier one.
        for (q, open) in &mut self.open {
            if open.index < newest && open.min.is_finite() {
                out.entry(*q)
                    .or_default()
                    .push((open.index * width) as f64, open.min, open.max);
                // Sent: an empty bucket that later samples of this index would not reopen.
                open.min = f64::INFINITY;
                open.max = f64::NEG_INFINITY;
            }
        }
        out
    }
}

/// One stream: a device at one bucket width.
#[derive(Debug)]
struct StreamEntry {
    bucket: usize,
    decimator: Decimator,
    shared: Arc<Shared>,
}

/// What the telemetry knows of a device.
#[derive(Debug, Default)]
struct Device {
    channels: BTreeSet<Quantity>,
    /// Samples per second of the fastest channel, from the last pack of more than one instant.
    rate_hz: f64,
    last: Option<Timestamp>,
    samples: u64,
}

#[derive(Debug, Default)]
struct Hub {
    devices: BTreeMap<String, Device>,
    streams: HashMap<String, Vec<StreamEntry>>,
}

/// The telemetry hub: devices seen, and the shared decimated streams.
#[derive(Debug, Default)]
pub struct Telemetry {
    state: Mutex<Hub>,
    metrics: TelemetryMetrics,
}

impl Telemetry {
    fn state(&self) -> std::sync::MutexGuard<'_, Hub> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The counters.
    pub fn metrics(&self) -> &TelemetryMetrics {
        &self.metrics
    }

    /// Takes one reading or SenML pack the live state accepted, as it parsed it: a pack, or a
    /// reading of a sensor someone follows, updates its device and feeds the device's streams;
    /// other single readings (the city's fleet) are left alone.
    pub fn offer(&self, parsed: &Payload) {
        let readings = parsed.readings();
        let Some(first) = readings.first() else {
            return;
        };
        let sensor_id = first.sensor_id.as_str();
        if matches!(parsed, Payload::Reading(_)) && !self.state().streams.contains_key(sensor_id) {
            return;
        }
        let mut state = self.state();
        let known = state.devices.len();
        let device = match state.devices.get_mut(sensor_id) {
            Some(device) => device,
            None if known >= MAX_DEVICES => {
                self.metrics.devices_refused.fetch_add(1, Ordering::Relaxed);
                return;
            }
            None => state.devices.entry(sensor_id.to_owned()).or_default(),
        };
        observe(device, readings);
        let Some(streams) = state.streams.get_mut(sensor_id) else {
            return;
        };
        // Streams nobody follows any more go.
        streams.retain(|s| s.shared.latest.receiver_count() > 0);
        let at_ms = readings
            .iter()
            .map(|r| millis(r.time))
            .fold(f64::MIN, f64::max);
        for stream in streams.iter_mut() {
            let points = stream.decimator.push(readings);
            self.metrics.late_samples.fetch_add(
                std::mem::take(&mut stream.decimator.late),
                Ordering::Relaxed,
            );
            if points.is_empty() {
                continue;
            }
            let fragments: Vec<(Quantity, String)> = points
                .iter()
                .map(|(q, p)| (*q, p.fragment(q.name())))
                .collect();
            if fragments.iter().map(|(_, f)| f.len()).sum::<usize>() > MAX_BATCH_BYTES {
                self.metrics
                    .batches_too_large
                    .fetch_add(1, Ordering::Relaxed);
                continue;
            }
            self.metrics.batches.fetch_add(1, Ordering::Relaxed);
            stream.shared.push(at_ms, fragments);
        }
        if streams.is_empty() {
            state.streams.remove(sensor_id);
        }
    }

    /// The devices and their channels, for `/api/telemetry/devices`.
    pub fn devices_json(&self) -> serde_json::Value {
        let state = self.state();
        let devices: Vec<serde_json::Value> = state
            .devices
            .iter()
            .map(|(id, d)| {
                serde_json::json!({
                    "id": id,
                    "rate_hz": (d.rate_hz * 10.0).round() / 10.0,
                    "samples": d.samples,
                    "last": d.last.map(|t| t.to_string()),
                    "channels": d.channels.iter().map(|q| serde_json::json!({
                        "name": q.name(),
                        "unit": q.unit(),
                        "unit_display": q.unit_label(),
                        "label": { "en": q.def().label.en, "fr": q.def().label.fr },
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        serde_json::json!({ "devices": devices })
    }

    /// The samples per second `sensor` sends (0 when unknown).
    fn rate_hz(&self, sensor: &str) -> f64 {
        self.state().devices.get(sensor).map_or(0.0, |d| d.rate_hz)
    }

    /// Follows `sensor` at `BUCKETS_MS[bucket]`: the stream's shared ring and a receiver woken
    /// at each new batch, with the sequence number of the next one.
    fn subscribe(&self, sensor: &str, bucket: usize) -> (Arc<Shared>, watch::Receiver<u64>, u64) {
        let mut state = self.state();
        let streams = state.streams.entry(sensor.to_owned()).or_default();
        let shared = match streams.iter().find(|s| s.bucket == bucket) {
            Some(stream) => Arc::clone(&stream.shared),
            None => {
                let shared = Arc::new(Shared {
                    ring: Mutex::new(Ring::default()),
                    latest: watch::channel(0).0,
                });
                streams.push(StreamEntry {
                    bucket,
                    decimator: Decimator::new(BUCKETS_MS[bucket]),
                    shared: Arc::clone(&shared),
                });
                shared
            }
        };
        let receiver = shared.latest.subscribe();
        let next = shared
            .ring
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .next_seq;
        (shared, receiver, next)
    }

    /// Streams followed now.
    pub fn streams(&self) -> usize {
        self.state().streams.values().map(Vec::len).sum()
    }

    /// Adds the telemetry's metrics to `e`.
    pub fn render_metrics(&self, e: &mut Exposition) {
        let m = &self.metrics;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        e.gauge(
            "garonne_server_telemetry_viewers",
            "Viewers connected to /api/telemetry/stream.",
            load(&m.viewers) as f64,
        )
        .gauge(
            "garonne_server_telemetry_streams",
            "Decimated telemetry streams (device and rate) followed now.",
            self.streams() as f64,
        )
        .counter(
            "garonne_server_telemetry_viewers_refused_total",
            "Telemetry viewers refused because max_event_clients were connected.",
            load(&m.viewers_refused),
        )
        .counter(
            "garonne_server_telemetry_batches_total",
            "Batches made by the telemetry decimators, once per stream whatever the viewers.",
            load(&m.batches),
        )
        .counter(
            "garonne_server_telemetry_events_sent_total",
            "Events written to telemetry viewers.",
            load(&m.events_sent),
        )
        .counter(
            "garonne_server_telemetry_batches_skipped_total",
            "Batches slow telemetry viewers skipped (gone from the bounded ring before read).",
            load(&m.batches_skipped),
        )
        .counter(
            "garonne_server_telemetry_batches_too_large_total",
            "Telemetry batches over 1 MiB, not sent.",
            load(&m.batches_too_large),
        )
        .counter(
            "garonne_server_telemetry_late_samples_total",
            "Samples older than their channel's open bucket, left out of the telemetry streams.",
            load(&m.late_samples),
        )
        .counter(
            "garonne_server_telemetry_devices_refused_total",
            "Packs of new devices past the most devices the telemetry follows.",
            load(&m.devices_refused),
        );
    }
}

/// Updates what is known of `device` from one message's readings (in time order).
fn observe(device: &mut Device, readings: &[Reading]) {
    for r in readings {
        for (q, _) in r.quantities.iter() {
            if device.channels.len() < MAX_CHANNELS || device.channels.contains(&q) {
                device.channels.insert(q);
            }
        }
        device.samples += r.quantities.len() as u64;
    }
    let (first, last) = (readings[0].time, readings[readings.len() - 1].time);
    if readings.len() > 1 && last > first {
        device.rate_hz = (readings.len() - 1) as f64 / last.secs_since(first);
    } else if let Some(previous) = device.last
        && first > previous
    {
        device.rate_hz = 1.0 / first.secs_since(previous);
    }
    if device.last.is_none_or(|t| t < last) {
        device.last = Some(last);
    }
}

/// The bucket a viewer gets: the finest at or coarser than `asked` whose `window` holds at most
/// `width` points (raw counts the device's `rate_hz`, 1000 Hz when unknown).
pub fn choose_bucket(asked: usize, window_secs: u32, width: u32, rate_hz: f64) -> usize {
    let rate = if rate_hz > 0.0 { rate_hz } else { 1000.0 };
    (asked..BUCKETS_MS.len())
        .find(|&i| {
            let points = match BUCKETS_MS[i] {
                0 => f64::from(window_secs) * rate,
                ms => f64::from(window_secs) * 1000.0 / ms as f64,
            };
            points <= f64::from(width)
        })
        .unwrap_or(BUCKETS_MS.len() - 1)
}

/// A `/api/telemetry/stream` request, checked.
#[derive(Debug, PartialEq)]
pub struct StreamRequest {
    /// The device.
    pub sensor: String,
    /// Its channels wanted, sorted.
    pub channels: Vec<Quantity>,
    /// The rate asked, an index in [`BUCKETS_MS`].
    pub asked: usize,
    /// The window the viewer shows, seconds.
    pub window_secs: u32,
    /// The chart's width, pixels.
    pub width: u32,
}

/// Parses `sensor`, `channels` (comma-separated), `rate` (raw, 50, 10, 1; default 10),
/// `window` (seconds, default 60) and `width` (pixels, default 1000).
pub fn parse_request(params: &HashMap<String, String>) -> Result<StreamRequest, ApiError> {
    const KNOWN: [&str; 5] = ["sensor", "channels", "rate", "window", "width"];
    if let Some(other) = params.keys().find(|k| !KNOWN.contains(&k.as_str())) {
        return Err(ApiError::bad_request(format!(
            "unknown parameter \"{other}\": /api/telemetry/stream takes {}",
            KNOWN.join(", ")
        )));
    }
    let sensor = params.get("sensor").map_or("", String::as_str);
    if !is_valid_sensor_id(sensor) {
        return Err(ApiError::bad_request(
            "sensor= must name a device, as /api/telemetry/devices lists them",
        ));
    }
    let mut channels = Vec::new();
    for name in params
        .get("channels")
        .map_or("", String::as_str)
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let q = Quantity::from_name(name).ok_or_else(|| {
            ApiError::bad_request(format!(
                "unknown channel \"{name}\": use the names /api/telemetry/devices lists"
            ))
        })?;
        channels.push(q);
    }
    if channels.is_empty() {
        return Err(ApiError::bad_request(
            "channels= must name at least one channel (comma-separated)",
        ));
    }
    channels.sort();
    channels.dedup();
    let rate = params.get("rate").map_or("10", String::as_str);
    let asked = RATES
        .iter()
        .find(|(name, _)| *name == rate.trim_end_matches("Hz").trim_end_matches("hz"))
        .map(|(_, i)| *i)
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "rate \"{rate}\" is not one of raw, 50, 10, 1 (samples per second)"
            ))
        })?;
    let number = |name: &str, default: u32, (lo, hi): (u32, u32)| {
        params.get(name).map_or(Ok(default), |v| {
            v.parse::<u32>()
                .ok()
                .filter(|n| (lo..=hi).contains(n))
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "{name}={v} must be a whole number from {lo} to {hi}"
                    ))
                })
        })
    };
    Ok(StreamRequest {
        sensor: sensor.to_owned(),
        channels,
        asked,
        window_secs: number("window", 60, WINDOW_SECS)?,
        width: number("width", 1000, WIDTH_PX)?,
    })
}

/// `GET /api/telemetry/devices`.
pub async fn devices(State(app): State<Arc<App>>) -> Response {
    axum::Json(app.telemetry().devices_json()).into_response()
}

/// `GET /api/telemetry/stream?sensor=&channels=&rate=&window=&width=`.
pub async fn stream(
    State(app): State<Arc<App>>,
    params: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let params = crate::events::query(params)?;
    let request = parse_request(&params)?;
    let telemetry = app.telemetry();
    let viewer = crate::events::admit(
        &app,
        |app| &app.telemetry().metrics().viewers,
        |app| &app.telemetry().metrics().viewers_refused,
        "viewers are following telemetry",
    )?;
    let bucket = choose_bucket(
        request.asked,
        request.window_secs,
        request.width,
        telemetry.rate_hz(&request.sensor),
    );
    let (shared, receiver, next) = telemetry.subscribe(&request.sensor, bucket);
    let hello = serde_json::json!({
        "sensor": request.sensor,
        "channels": request.channels.iter().map(|q| q.name()).collect::<Vec<_>>(),
        "rate": RATES.iter().find(|(_, i)| *i == request.asked).map(|(n, _)| *n),
        "bucket_ms": BUCKETS_MS[bucket],
        "capped": bucket != request.asked,
    });
    let follow = Follow {
        viewer,
        shared,
        receiver,
        next,
        pending: VecDeque::new(),
        channels: request.channels,
        hello: Some(hello.to_string()),
    };
    Ok(crate::events::response(events(follow)))
}

/// One viewer's place in its stream.
struct Follow {
    viewer: Connection,
    shared: Arc<Shared>,
    receiver: watch::Receiver<u64>,
    next: u64,
    pending: VecDeque<Arc<Batch>>,
    channels: Vec<Quantity>,
    hello: Option<String>,
}

impl Follow {
    /// The batches after the last one read, counting those already gone as skipped.
    fn take(&mut self) {
        let ring = self
            .shared
            .ring
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(oldest) = ring.batches.front()
            && oldest.seq > self.next
        {
            self.viewer
                .app()
                .telemetry()
                .metrics()
                .batches_skipped
                .fetch_add(oldest.seq - self.next, Ordering::Relaxed);
            self.next = oldest.seq;
        }
        let start = ring.batches.partition_point(|b| b.seq < self.next);
        self.pending.extend(ring.batches.range(start..).cloned());
        self.next = ring.next_seq;
    }

    /// The viewer's event for `batch`: its channels' fragments, or None if it has none of them.
    fn render(&self, batch: &Batch) -> Option<String> {
        let mut data = String::new();
        for (q, fragment) in &batch.fragments {
            if self.channels.binary_search(q).is_ok() {
                data.push(if data.is_empty() { '{' } else { ',' });
                data.push_str(fragment);
            }
        }
        if data.is_empty() {
            return None;
        }
        Some(format!("{{\"at\":{},\"ch\":{data}}}}}", batch.at_ms))
    }
}

/// The viewer's events: `hello`, then `points` until the server shuts down.
fn events(follow: Follow) -> impl Stream<Item = Result<Event, Infallible>> {
    futures_util::stream::unfold(follow, |mut follow| async move {
        if let Some(hello) = follow.hello.take() {
            return Some((Ok(Event::default().event("hello").data(hello)), follow));
        }
        loop {
            while let Some(batch) = follow.pending.pop_front() {
                if let Some(data) = follow.render(&batch) {
                    follow
                        .viewer
                        .app()
                        .telemetry()
                        .metrics()
                        .events_sent
                        .fetch_add(1, Ordering::Relaxed);
                    return Some((Ok(Event::default().event("points").data(data)), follow));
                }
            }
            let shutdown = follow.viewer.app().shutdown().clone();
            tokio::select! {
                _ = shutdown.cancelled() => return None,
                changed = follow.receiver.changed() => if changed.is_err() { return None },
            }
            follow.take();
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(name: &str) -> Quantity {
        Quantity::from_name(name).expect("catalogued")
    }

    fn reading(ms: i64, values: &[(&str, f64)]) -> Reading {
        let mut r = Reading::new(
            "car",
            "car",
            garonne_payload::Source::Device,
            Timestamp::from_unix_millis(ms),
            0,
            garonne_payload::Location::new(1.44, 43.6),
        );
        for (name, v) in values {
            r.quantities.set(q(name), *v);
        }
        r
    }

    #[test]
    fn buckets_keep_min_and_max_so_a_spike_survives() {
        let mut d = Decimator::new(100);
        // 100 Hz for 0.2 s: a spike of 99 at 30 ms.
        let pack: Vec<Reading> = (0..20)
            .map(|i| {
                reading(
                    1000 + i * 10,
                    &[("temperature", if i == 3 { 99.0 } else { 20.0 })],
                )
            })
            .collect();
        let out = d.push(&pack[..10]);
        assert!(out.is_empty(), "the first bucket is still open");
        let out = d.push(&pack[10..]);
        let p = &out[&q("temperature")];
        assert_eq!(
            (p.t.clone(), p.min.clone(), p.max.clone()),
            (vec![1000.0], vec![20.0], vec![99.0])
        );
        // Raw: every sample, in order; a late one is left out and counted.
        let mut raw = Decimator::new(0);
        assert_eq!(raw.push(&pack[..10])[&q("temperature")].t.len(), 10);
        assert!(raw.push(&pack[5..6]).is_empty());
        assert_eq!(raw.late, 1);
    }

    #[test]
    fn a_viewer_gets_no_more_points_than_its_width() {
        // 10 Hz asked over 60 s on 1000 px: 600 points, granted.
        assert_eq!(choose_bucket(2, 60, 1000, 100.0), 2);
        // Raw at 100 Hz over 60 s is 6000 points: 50 Hz is 3000, 10 Hz 600.
        assert_eq!(choose_bucket(0, 60, 1000, 100.0), 2);
        assert_eq!(choose_bucket(0, 10, 1000, 100.0), 0);
        // A whole day on 800 px: one point a minute... at most 1440 > 800, the coarsest.
        assert_eq!(choose_bucket(3, 86_400, 800, 100.0), 5);
    }

    #[test]
    fn a_request_is_checked_with_what_to_fix() {
        let params = |s: &str| -> HashMap<String, String> {
            s.split('&')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect()
        };
        let r = parse_request(&params(
            "sensor=car&channels=temperature,pm10,temperature&rate=raw",
        ))
        .expect("valid");
        assert_eq!(
            (r.channels.len(), r.asked, r.window_secs, r.width),
            (2, 0, 60, 1000)
        );
        for (query, says) in [
            ("sensor=car&channels=speedo", "unknown channel \"speedo\""),
            ("sensor=car&channels=", "at least one channel"),
            (
                "sensor=car&channels=pm10&rate=25",
                "rate \"25\" is not one of",
            ),
            (
                "sensor=car&channels=pm10&window=5",
                "window=5 must be a whole number from 10",
            ),
            ("sensor=car&channels=pm10&x=1", "unknown parameter \"x\""),
            ("channels=pm10", "sensor= must name a device"),
        ] {
            let e = parse_request(&params(query)).expect_err(query);
            assert!(e.message.contains(says), "{query}: {}", e.message);
        }
    }
}

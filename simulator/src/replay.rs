//! Replay (`garonne replay`): stored readings published again over MQTT as live ones, at 1× or
//! N× on a virtual clock, each marked `source: replay`, so realtime, the map, the telemetry
//! page and Grafana see them as a live stream (issue 16).
//!
//! The readings come from any store through [`garonne_store::readings`] (the embedded store,
//! InfluxDB), page by page: memory is bounded by a page and a tick, whatever the range.
//!
//! - **Virtual clock**: the first sample's time is the replay's origin; a reading of time `t`
//!   is due `(t - origin) / speed` after the start ([`Clock`]). [`Speed::Max`] publishes as
//!   fast as the broker takes it.
//! - **Times** ([`Times`]): the stored time as it was, or shifted to now: the wall-clock instant
//!   the reading is due, so at N× a stream is N times denser than it was, and every check of
//!   a live stream (realtime's windows and lateness, the clock-skew bound) holds.
//! - **Messages**: the readings due within one [`TICK`] (100 ms) are published together: a
//!   sensor with one reading in the tick gets a reading message (`…/reading`), a sensor with
//!   several (a 100 Hz device: ten a tick at 1×) gets SenML packs (`…/senml`), as the agent
//!   publishes its CAN channels. QoS 1 throughout.
//! - **Position**: where the replay stands is the [`Cursor`] of the last sample published; on
//!   Ctrl-C (the `shutdown` token) the tick under way is not published, the position is saved
//!   in the state file ([`ReplayState`]), and `--resume` goes on from it.
//!
//! The pure part ([`Clock`], [`Grouper`], [`messages`]) takes its inputs and `now`; the async
//! driver ([`replay`]) reads pages, sleeps until each tick is due and publishes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use garonne_payload::senml::encode_senml;
use garonne_payload::{Location, Quantity, Reading, Source, Timestamp, Topics};
use garonne_service::config::MqttConfig;
use garonne_service::host::Session;
use garonne_store::readings::{Cursor, Pages, Readings, Sample, Scan};
use garonne_store::{Places, SensorPlace};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rumqttc::{AsyncClient, QoS};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::mqtt::{Connection, options};

/// The readings due within one tick are published together (see the module doc).
pub const TICK: Duration = Duration::from_millis(100);

/// Samples read from the store at a time.
pub const PAGE: usize = 10_000;

/// Most SenML records in one pack (the spec's bound is 5000 records and 256 KiB).
pub const PACK_RECORDS: usize = 2000;

/// Most readings held in one tick at [`Speed::Max`] before they are published.
const MAX_BATCH: usize = 5000;

/// Capacity of the channel between the replay and the MQTT event loop (back-pressure beyond).
const CHANNEL_CAPACITY: usize = 10_000;

/// How fast the virtual clock runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Speed {
    /// N seconds of data per second (1.0: as it happened).
    Times(f64),
    /// As fast as the broker takes it.
    Max,
}

impl FromStr for Speed {
    type Err = String;

    /// `max`, or a positive number with an optional `x`: `1`, `10`, `0.5`, `10x`.
    fn from_str(text: &str) -> Result<Speed, String> {
        if text == "max" {
            return Ok(Speed::Max);
        }
        match text.trim_end_matches(['x', '×']).parse::<f64>() {
            Ok(n) if n.is_finite() && n > 0.0 => Ok(Speed::Times(n)),
            _ => Err(format!(
                "\"{text}\" is not a speed: give a positive number (1, 10, 0.5) or max"
            )),
        }
    }
}

/// Which time a replayed reading carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Times {
    /// The stored time: realtime counts such readings only if they are still inside its
    /// windows (its lateness), the historian writes them over the stored ones.
    Original,
    /// Shifted to now: the wall-clock instant the reading is due (see the module doc).
    Now,
}

/// Where a sensor is and what it is, for its replayed messages (the store keeps them beside its
/// values: the embedded store's sensor table, InfluxDB's `lat`, `lon`, `kind` fields; read with
/// [`garonne_store::StoredReadings::places`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Place {
    /// The kind of device (`weather-station`, `can-logger`...).
    pub kind: String,
    /// Its location.
    pub location: Location,
}

impl From<SensorPlace> for Place {
    /// The stored place; a sensor stored without a kind is of kind `replay`.
    fn from(p: SensorPlace) -> Place {
        Place {
            kind: p.kind.unwrap_or_else(|| "replay".to_owned()),
            location: Location {
                lon: p.lon,
                lat: p.lat,
                alt: None,
            },
        }
    }
}

/// The places a store gives ([`garonne_store::StoredReadings::places`]) as
/// [`ReplayConfig::places`] takes them.
pub fn places(stored: Places) -> HashMap<String, Place> {
    stored
        .into_iter()
        .map(|(sensor, place)| (sensor, Place::from(place)))
        .collect()
}

/// What to replay and how.
#[derive(Debug, Clone)]
pub struct ReplayConfig {
    /// Where to publish: the broker, the topic prefix, the client id (`garonne-replay` when
    /// unset).
    pub mqtt: MqttConfig,
    /// How fast.
    pub speed: Speed,
    /// Which times.
    pub times: Times,
    /// Each sensor's kind and location; a sensor not in it is published with kind `replay` at
    /// 0° N 0° E (counted in [`Summary::unplaced`]).
    pub places: HashMap<String, Place>,
    /// Show a progress bar on standard error.
    pub progress: bool,
    /// Where the position is saved when the replay stops before its end; `None`: not saved.
    pub state: Option<PathBuf>,
}

/// What a replay did.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// Samples read from the store.
    pub samples: u64,
    /// Readings published.
    pub readings: u64,
    /// MQTT messages published (readings and packs).
    pub messages: u64,
    /// Samples of quantities this Garonne does not know (a profile not loaded): not published.
    pub unknown_quantities: u64,
    /// Sensors published without a known place.
    pub unplaced: u64,
    /// Wall-clock duration.
    pub elapsed: Duration,
    /// Whether the broker acknowledged every message.
    pub delivered: bool,
    /// Where the replay stopped, when Ctrl-C stopped it before its end (`--resume` goes on
    /// from there).
    pub stopped_at: Option<Cursor>,
}

/// Why a replay failed.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The store did not answer (or refused the scan).
    #[error("cannot read the stored readings")]
    Store(#[source] garonne_store::HistoryError),
    /// The MQTT client stopped accepting messages.
    #[error("the MQTT client stopped")]
    Client(#[source] rumqttc::ClientError),
    /// The state file could not be written.
    #[error("cannot write the replay's state file {}", path.display())]
    State {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// The virtual clock: when a reading of time `t` is due, and the time it then carries.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    /// The first sample's time, ns: due at the start.
    origin_ns: i64,
    /// When the replay started (monotonic).
    started: Instant,
    /// When the replay started (wall clock), for [`Times::Now`].
    started_wall: Timestamp,
    /// Seconds of data per second; `None` at [`Speed::Max`].
    speed: Option<f64>,
}

impl Clock {
    /// A clock whose origin `origin_ns` is due at `started` (wall clock `started_wall`).
    pub fn new(origin_ns: i64, speed: Speed, started: Instant, started_wall: Timestamp) -> Clock {
        Clock {
            origin_ns,
            started,
            started_wall,
            speed: match speed {
                Speed::Times(n) => Some(n),
                Speed::Max => None,
            },
        }
    }

    /// How long after the start a reading of time `time_ns` is due (zero at [`Speed::Max`]).
    pub fn offset(&self, time_ns: i64) -> Duration {
        let Some(speed) = self.speed else {
            return Duration::ZERO;
        };
        let data_ns = time_ns.saturating_sub(self.origin_ns).max(0) as f64;
        Duration::from_nanos((data_ns / speed) as u64)
    }

    /// When a reading of time `time_ns` is due.
    pub fn due(&self, time_ns: i64) -> Instant {
        self.started + self.offset(time_ns)
    }

    /// The time a reading of time `time_ns` carries: its own, or its due instant on the wall
    /// clock (whole microseconds, as a SenML pack carries it, so both forms agree).
    pub fn time(&self, time_ns: i64, times: Times) -> Timestamp {
        match times {
            Times::Original => Timestamp::UNIX_EPOCH.add_nanos(time_ns),
            Times::Now => {
                let micros = self.offset(time_ns).as_micros();
                let start = self.started_wall.unix_nanos() / 1000;
                let at = i64::try_from((start + micros as i128) * 1000).unwrap_or(i64::MAX);
                Timestamp::UNIX_EPOCH.add_nanos(at)
            }
        }
    }
}

/// A stored reading rebuilt from its samples: one sensor, one time, its values.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    /// The sensor.
    pub sensor: String,
    /// Its stored time, ns.
    pub time_ns: i64,
    /// Its values, by quantity.
    pub values: Vec<(Quantity, f64)>,
    /// The cursor of its last sample: where a replay stopped after it resumes.
    pub cursor: Cursor,
}

/// Samples in scan order to readings: consecutive samples of one sensor and time are one
/// reading.
#[derive(Debug, Default)]
pub struct Grouper {
    open: Option<Stored>,
    /// Samples of quantities not in the catalogue, skipped.
    pub unknown: u64,
}

impl Grouper {
    /// Takes one sample; returns the reading it closes, if any.
    pub fn push(&mut self, sample: &Sample) -> Option<Stored> {
        let same = self
            .open
            .as_ref()
            .is_some_and(|o| o.time_ns == sample.time_ns && *o.sensor == *sample.sensor);
        let closed = if same { None } else { self.open.take() };
        let open = self.open.get_or_insert_with(|| Stored {
            sensor: sample.sensor.to_string(),
            time_ns: sample.time_ns,
            values: Vec::new(),
            cursor: sample.cursor(),
        });
        open.cursor = sample.cursor();
        match Quantity::from_name(&sample.quantity) {
            Some(q) => open.values.push((q, sample.value)),
            None => self.unknown += 1,
        }
        closed
    }

    /// The reading still open, at the end of the scan.
    pub fn finish(&mut self) -> Option<Stored> {
        self.open.take()
    }
}

/// One MQTT message of a replay.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// Its topic.
    pub topic: String,
    /// Its payload.
    pub payload: Vec<u8>,
    /// Readings in it.
    pub readings: u64,
}

/// The messages of one tick's readings (in time order): per sensor, in the order of its first
/// reading, one reading message or SenML packs of [`PACK_RECORDS`] records at most.
pub fn messages(readings: Vec<Reading>, topics: &Topics) -> Vec<Message> {
    let mut order: Vec<String> = Vec::new();
    let mut by_sensor: HashMap<String, Vec<Reading>> = HashMap::new();
    for r in readings {
        if !by_sensor.contains_key(&r.sensor_id) {
            order.push(r.sensor_id.clone());
        }
        by_sensor.entry(r.sensor_id.clone()).or_default().push(r);
    }
    let mut out = Vec::new();
    for sensor in order {
        let readings = by_sensor.remove(&sensor).unwrap_or_default();
        if let [one] = readings.as_slice() {
            out.push(Message {
                topic: topics.reading(&sensor),
                payload: one.to_json(),
                readings: 1,
            });
            continue;
        }
        let mut start = 0;
        while start < readings.len() {
            let mut records = 0;
            let mut end = start;
            while end < readings.len()
                && (end == start || records + readings[end].quantities.len() <= PACK_RECORDS)
            {
                records += readings[end].quantities.len();
                end += 1;
            }
            let chunk = &readings[start..end];
            match encode_senml(chunk) {
                Some(payload) => out.push(Message {
                    topic: topics.senml(&sensor),
                    payload,
                    readings: chunk.len() as u64,
                }),
                // Cannot happen (one sensor, place and source, consecutive numbers): send them
                // one by one rather than lose them.
                None => out.extend(chunk.iter().map(|r| Message {
                    topic: topics.reading(&sensor),
                    payload: r.to_json(),
                    readings: 1,
                })),
            }
            start = end;
        }
    }
    out
}

/// The position of an interrupted replay, saved to resume it: the scan and the cursor of the
/// last sample published.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayState {
    /// Sensors of the scan (empty: all).
    pub sensors: Vec<String>,
    /// Quantities of the scan (empty: all).
    pub quantities: Vec<String>,
    /// Start of the scan's range, RFC 3339.
    pub from: String,
    /// End of the scan's range, RFC 3339.
    pub to: String,
    /// Where it stopped ([`Cursor::token`]).
    pub cursor: String,
}

impl ReplayState {
    /// The state of `scan` stopped at `cursor`.
    pub fn new(scan: &Scan, cursor: &Cursor) -> ReplayState {
        ReplayState {
            sensors: scan.sensors.clone(),
            quantities: scan.quantities.clone(),
            from: scan.from.to_string(),
            to: scan.to.to_string(),
            cursor: cursor.token(),
        }
    }

    /// Whether this state is of `scan`.
    pub fn is_of(&self, scan: &Scan) -> bool {
        self.sensors == scan.sensors
            && self.quantities == scan.quantities
            && self.from == scan.from.to_string()
            && self.to == scan.to.to_string()
    }

    /// Reads the state file at `path`; `None` when there is none.
    ///
    /// # Errors
    ///
    /// When it cannot be read or is not a state file (the text says which).
    pub fn load(path: &Path) -> Result<Option<ReplayState>, String> {
        match std::fs::read_to_string(path) {
            Ok(text) => serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| format!("{} is not a replay state file: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("cannot read {}: {e}", path.display())),
        }
    }

    /// Writes the state to `path` (through a temporary file: never half written).
    fn save(&self, path: &Path) -> std::io::Result<()> {
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(self).unwrap_or_default())?;
        std::fs::rename(&tmp, path)
    }
}

/// Replays `scan` from `readings` (after `resume`, if given) as `config` says, until its end or
/// `shutdown`.
///
/// # Errors
///
/// [`ReplayError`]: the store does not answer, the MQTT client stopped, the state file cannot
/// be written.
pub async fn replay<R: Readings>(
    readings: &R,
    scan: Scan,
    resume: Option<Cursor>,
    config: &ReplayConfig,
    shutdown: CancellationToken,
) -> Result<Summary, ReplayError> {
    let started = Instant::now();
    let mut publisher = Publisher::connect(config);
    let progress = progress_bar(config.progress, &scan);
    let mut pages = Pages::new(readings, scan.clone(), PAGE);
    if let Some(cursor) = resume {
        pages = pages.resume(cursor);
    }
    let mut grouper = Grouper::default();
    let mut tick = Tick::default();
    let mut clock: Option<Clock> = None;
    let mut summary = Summary::default();
    let mut seq: HashMap<String, u64> = HashMap::new();
    let mut interrupted = false;
    'scan: loop {
        let page = tokio::select! {
            page = pages.next() => page,
            () = shutdown.cancelled() => { interrupted = true; break 'scan; }
        };
        let Some(page) = page else { break };
        let samples = page.map_err(ReplayError::Store)?;
        summary.samples += samples.len() as u64;
        for sample in &samples {
            let Some(stored) = grouper.push(sample) else {
                continue;
            };
            let clock = start_clock(&mut clock, stored.time_ns, config.speed);
            let due = clock.due(stored.time_ns);
            if tick.is_full(due) {
                if !tick
                    .publish(&mut publisher, &mut summary, &shutdown)
                    .await?
                {
                    interrupted = true;
                    break 'scan;
                }
                progress.set_position(progress_secs(&scan, tick.last_time_ns));
            }
            let reading = reading(&stored, clock, config, &mut seq, &mut summary);
            tick.push(reading, due, stored.cursor, stored.time_ns);
        }
    }
    if !interrupted {
        if let Some(stored) = grouper.finish() {
            let clock = start_clock(&mut clock, stored.time_ns, config.speed);
            let due = clock.due(stored.time_ns);
            let reading = reading(&stored, clock, config, &mut seq, &mut summary);
            tick.push(reading, due, stored.cursor, stored.time_ns);
        }
        interrupted = !tick
            .publish(&mut publisher, &mut summary, &shutdown)
            .await?;
    }
    summary.unknown_quantities = grouper.unknown;
    progress.finish_and_clear();
    if interrupted {
        summary.stopped_at = publisher.last.clone();
    }
    if let (Some(path), Some(cursor)) = (&config.state, &summary.stopped_at) {
        ReplayState::new(&scan, cursor)
            .save(path)
            .map_err(|source| ReplayError::State {
                path: path.clone(),
                source,
            })?;
    }
    summary.delivered = publisher.finish(summary.messages).await;
    summary.elapsed = started.elapsed();
    Ok(summary)
}

/// The replay's clock, started now at `time_ns` (the first sample's time) if it is not yet.
fn start_clock(clock: &mut Option<Clock>, time_ns: i64, speed: Speed) -> &mut Clock {
    clock.get_or_insert_with(|| Clock::new(time_ns, speed, Instant::now(), Timestamp::now()))
}

/// The reading a stored one becomes: its sensor's place, `source: replay`, the next number.
fn reading(
    stored: &Stored,
    clock: &Clock,
    config: &ReplayConfig,
    seq: &mut HashMap<String, u64>,
    summary: &mut Summary,
) -> Reading {
    let place = config.places.get(&stored.sensor);
    let next = seq.entry(stored.sensor.clone()).or_insert_with(|| {
        summary.unplaced += u64::from(place.is_none());
        0
    });
    let unplaced = Location {
        lon: 0.0,
        lat: 0.0,
        alt: None,
    };
    let mut r = Reading::new(
        stored.sensor.clone(),
        place.map_or("replay", |p| p.kind.as_str()),
        Source::Replay,
        clock.time(stored.time_ns, config.times),
        *next,
        place.map_or(unplaced, |p| p.location),
    );
    *next += 1;
    for (q, v) in &stored.values {
        r.quantities.set(*q, *v);
    }
    r
}

/// The readings of the tick under way.
#[derive(Debug, Default)]
struct Tick {
    readings: Vec<Reading>,
    /// When its first reading is due.
    first_due: Option<Instant>,
    /// When its last reading is due: it is published then.
    last_due: Option<Instant>,
    /// The cursor of its last reading.
    cursor: Option<Cursor>,
    /// The stored time of its last reading, ns.
    last_time_ns: i64,
}

impl Tick {
    /// Whether a reading due at `due` belongs to the next tick.
    fn is_full(&self, due: Instant) -> bool {
        self.first_due
            .is_some_and(|first| due >= first + TICK || self.readings.len() >= MAX_BATCH)
    }

    fn push(&mut self, reading: Reading, due: Instant, cursor: Cursor, time_ns: i64) {
        if reading.quantities.is_empty() {
            // Only unknown quantities: nothing to send, but the position moves on.
            self.cursor = Some(cursor);
            return;
        }
        self.first_due.get_or_insert(due);
        self.last_due = Some(due);
        self.readings.push(reading);
        self.cursor = Some(cursor);
        self.last_time_ns = time_ns;
    }

    /// Waits until the tick is due, then publishes it; `false` when `shutdown` came first
    /// (nothing of the tick published).
    async fn publish(
        &mut self,
        publisher: &mut Publisher,
        summary: &mut Summary,
        shutdown: &CancellationToken,
    ) -> Result<bool, ReplayError> {
        if let Some(due) = self.last_due {
            tokio::select! {
                () = tokio::time::sleep_until(due) => {}
                () = shutdown.cancelled() => return Ok(false),
            }
        }
        if shutdown.is_cancelled() {
            return Ok(false);
        }
        let readings = std::mem::take(&mut self.readings);
        summary.readings += readings.len() as u64;
        for message in messages(readings, &publisher.topics) {
            publisher.send(message).await?;
            summary.messages += 1;
        }
        if let Some(cursor) = self.cursor.take() {
            publisher.last = Some(cursor);
        }
        self.first_due = None;
        self.last_due = None;
        Ok(true)
    }
}

/// The MQTT side: one connection, QoS 1.
struct Publisher {
    connection: Connection,
    topics: Topics,
    /// The cursor of the last reading published.
    last: Option<Cursor>,
}

impl Publisher {
    fn connect(config: &ReplayConfig) -> Publisher {
        let client_id = config.mqtt.client_id("replay", Session::Clean);
        let mqtt = options(
            &client_id,
            &config.mqtt.broker,
            config.mqtt.credentials.as_ref(),
        );
        let (client, eventloop) = AsyncClient::new(mqtt, CHANNEL_CAPACITY);
        Publisher {
            connection: Connection::start(client, eventloop, config.mqtt.broker.clone()),
            topics: config.mqtt.topics().clone(),
            last: None,
        }
    }

    async fn send(&self, message: Message) -> Result<(), ReplayError> {
        self.connection
            .client
            .publish(message.topic, QoS::AtLeastOnce, false, message.payload)
            .await
            .map_err(ReplayError::Client)
    }

    /// Waits (30 s at most) for the broker to acknowledge the `published` messages.
    async fn finish(self, published: u64) -> bool {
        self.connection
            .finish(published, true, Duration::from_secs(30))
            .await
    }
}

/// The progress bar: seconds of data replayed out of the scan's range, on standard error when
/// it is a terminal.
fn progress_bar(enabled: bool, scan: &Scan) -> ProgressBar {
    let total = progress_secs(scan, i64::MAX);
    let bar = ProgressBar::with_draw_target(
        Some(total),
        if enabled {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        },
    );
    if let Ok(style) = ProgressStyle::with_template(
        "{elapsed_precise} [{wide_bar}] {pos}/{len} s of data, {per_sec}, ETA {eta}",
    ) {
        bar.set_style(style);
    }
    bar
}

/// Seconds of the scan's range up to `time_ns` (clamped to the range).
fn progress_secs(scan: &Scan, time_ns: i64) -> u64 {
    let from = scan.from.unix_nanos();
    let to = scan.to.unix_nanos();
    let at = i128::from(time_ns).clamp(from, to);
    ((at - from) / 1_000_000_000) as u64
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn sample(time_ns: i64, sensor: &str, quantity: &str, value: f64) -> Sample {
        Sample {
            time_ns,
            sensor: Arc::from(sensor),
            quantity: Arc::from(quantity),
            value,
        }
    }

    #[test]
    fn speeds_parse_and_say_what_is_wrong() {
        assert_eq!("10".parse(), Ok(Speed::Times(10.0)));
        assert_eq!("10x".parse(), Ok(Speed::Times(10.0)));
        assert_eq!("0.5".parse(), Ok(Speed::Times(0.5)));
        assert_eq!("max".parse(), Ok(Speed::Max));
        for bad in ["0", "-1", "fast", "inf"] {
            let e = bad.parse::<Speed>().expect_err(bad);
            assert!(e.contains("positive number"), "{e}");
        }
    }

    #[test]
    fn the_clock_divides_the_data_time_by_the_speed() {
        let start = Instant::now();
        let wall = Timestamp::new(1_800_000_000, 0).expect("time");
        let clock = Clock::new(5_000_000_000, Speed::Times(10.0), start, wall);
        assert_eq!(clock.offset(5_000_000_000), Duration::ZERO);
        assert_eq!(clock.offset(7_000_000_000), Duration::from_millis(200));
        assert_eq!(clock.due(6_000_000_000), start + Duration::from_millis(100));
        assert_eq!(
            clock.time(7_000_000_000, Times::Now),
            Timestamp::new(1_800_000_000, 200_000_000).expect("time")
        );
        assert_eq!(
            clock.time(7_000_000_001, Times::Original).unix_nanos(),
            7_000_000_001
        );
        let max = Clock::new(0, Speed::Max, start, wall);
        assert_eq!(max.offset(1 << 50), Duration::ZERO);
    }

    #[test]
    fn samples_of_one_sensor_and_time_are_one_reading() {
        let mut g = Grouper::default();
        let samples = [
            sample(1, "a", "temperature", 20.0),
            sample(1, "a", "relativeHumidity", 0.5),
            sample(1, "b", "temperature", 21.0),
            sample(2, "a", "not-a-quantity", 1.0),
            sample(2, "a", "temperature", 22.0),
        ];
        let mut out: Vec<Stored> = samples.iter().filter_map(|s| g.push(s)).collect();
        out.extend(g.finish());
        let got: Vec<(i64, &str, usize)> = out
            .iter()
            .map(|s| (s.time_ns, s.sensor.as_str(), s.values.len()))
            .collect();
        assert_eq!(got, [(1, "a", 2), (1, "b", 1), (2, "a", 1)]);
        assert_eq!(g.unknown, 1);
        assert_eq!(out[2].cursor, samples[4].cursor());
    }

    #[test]
    fn a_sensor_with_several_readings_in_a_tick_gets_packs() {
        let topics = Topics::default();
        let place = Location {
            lon: 1.44,
            lat: 43.6,
            alt: None,
        };
        let at =
            |ms: i64| Timestamp::UNIX_EPOCH.add_nanos(1_800_000_000_000_000_000 + ms * 1_000_000);
        let mut readings = Vec::new();
        for i in 0..3 {
            let mut r = Reading::new("car", "can", Source::Replay, at(i * 10), i as u64, place);
            r.quantities.set(Quantity::Temperature, 20.0 + i as f64);
            readings.push(r);
            if i == 0 {
                let mut s = Reading::new("station", "ws", Source::Replay, at(0), 7, place);
                s.quantities.set(Quantity::Temperature, 9.0);
                readings.push(s);
            }
        }
        let out = messages(readings, &topics);
        let shape: Vec<(&str, u64)> = out.iter().map(|m| (m.topic.as_str(), m.readings)).collect();
        assert_eq!(
            shape,
            [
                ("garonne/v1/sensors/car/senml", 3),
                ("garonne/v1/sensors/station/reading", 1)
            ]
        );
        let text = String::from_utf8_lossy(&out[0].payload);
        assert!(text.contains("\"vs\":\"replay\""), "{text}");
    }
}

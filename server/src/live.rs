//! The live state the map shows: each neighbourhood's latest aggregate, each sensor's latest
//! reading, rolling statistics and status, the active alerts. A transform: MQTT messages and
//! `now` in, state changes and the events to fan out to `/events` clients out; no I/O, no clock.
//!
//! The server keeps no MQTT session. On every connection the broker hands it the retained
//! messages (aggregates, statuses, rolling statistics, raised alerts), which rebuild this state,
//! then the live ones, readings included.
//!
//! Rules (each has a test below):
//! - The last message received on a retained topic wins, as on the broker; an empty payload
//!   removes what the topic held (how realtime withdraws an alert, or a retained message is
//!   deleted) and is not fanned out.
//! - A message must be valid for the spec (readings through the payload validator, the other
//!   messages as their types) and name the same id as its topic; anything else is counted and
//!   changes nothing.
//! - A sensor's latest reading is its newest by time: a late reading is fanned out (the map
//!   blinks) but does not replace a newer one. A SenML pack counts as its newest reading.
//! - An aggregate of a neighbourhood the polygon file does not have is counted, not kept.
//! - A quantity has live data while a kept aggregate or a sensor's newest reading carries it
//!   ([`Live::quantities_with_data`]: what the map's quantity menu offers).
//! - Memory is bounded: one entry per polygon, at most `max_sensors` sensors (a new sensor past
//!   the bound is counted and left out, unless sensors silent for `forget_after` can be forgotten
//!   to make room: at the bound, at most once a minute), at most [`MAX_ALERTS`] raised alerts, each message at
//!   most [`Limits::max_pack_bytes`].

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use garonne_payload::{
    Alert, AlertState, Limits, Location, NeighbourhoodAggregate, Payload, Quantity, SPEC_VERSION,
    SensorRolling, SensorState, Source, Status, Timestamp, Topic, Topics, is_valid_sensor_id,
    parse_payload,
};

/// The kinds of live messages, as `/events` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A neighbourhood aggregate (`neighbourhoods/{id}/aggregate`).
    Aggregate,
    /// A sensor status (`sensors/{id}/status`).
    Status,
    /// An alert raised or cleared (`alerts/{rule}/{scope}`).
    Alert,
    /// A reading (`sensors/{id}/reading`, or the newest reading of a SenML pack).
    Reading,
    /// A sensor's rolling statistics (`sensors/{id}/rolling`).
    Rolling,
}

impl Kind {
    /// Every kind, in the order `/metrics` lists them.
    pub const ALL: [Kind; 5] = [
        Kind::Aggregate,
        Kind::Status,
        Kind::Alert,
        Kind::Reading,
        Kind::Rolling,
    ];

    /// The name in `/events?kinds=` and in the `event:` field.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Aggregate => "aggregate",
            Kind::Status => "status",
            Kind::Alert => "alert",
            Kind::Reading => "reading",
            Kind::Rolling => "rolling",
        }
    }

    /// Looks a kind up by name.
    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One live message for `/events`: its kind, and the message JSON as published on MQTT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveEvent {
    /// What it is.
    pub kind: Kind,
    /// The JSON text.
    pub data: Arc<str>,
}

/// What applying messages produced, to hand on once the live state's lock is released.
#[derive(Debug, Default)]
pub struct Fanout {
    /// The messages `/events` clients should see, in order.
    pub events: Vec<LiveEvent>,
    /// Each accepted reading or SenML pack, parsed once here, for the telemetry streams.
    pub readings: Vec<Payload>,
}

/// Why a message changed nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ignored {
    /// Not a topic the server reads.
    Topic,
    /// Not valid for the spec, too large, or of another spec version.
    Invalid(Kind),
    /// The payload's id differs from the topic's.
    IdMismatch(Kind),
    /// An aggregate of a neighbourhood the polygon file does not have.
    UnknownNeighbourhood,
    /// A new sensor past `max_sensors`.
    SensorLimit,
    /// A new raised alert past [`MAX_ALERTS`].
    AlertLimit,
}

/// What a message did to the live state.
#[derive(Debug)]
enum Change {
    /// It is kept; its text is fanned out.
    Kept(Arc<str>),
    /// An empty retained message removed what its topic held.
    Removed,
    /// An empty retained message found nothing to remove.
    Unchanged,
}

/// Most alerts kept active at once (rules × scopes; a city has far fewer).
pub const MAX_ALERTS: usize = 10_000;

/// What the live state counts, for `/metrics`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    /// Messages applied, by [`Kind`] (index: position in [`Kind::ALL`]).
    pub applied: [u64; Kind::ALL.len()],
    /// Empty retained messages that removed something, by kind.
    pub removed: [u64; Kind::ALL.len()],
    /// Messages refused as invalid (or of another id than their topic's), by kind.
    pub invalid: [u64; Kind::ALL.len()],
    /// Messages on topics the server does not read.
    pub other_topics: u64,
    /// Aggregates of neighbourhoods the polygon file does not have.
    pub unknown_neighbourhoods: u64,
    /// Messages of new sensors refused because `max_sensors` are kept already.
    pub sensors_refused: u64,
    /// Sensors forgotten, silent for longer than `forget_after`, to make room for new ones.
    pub sensors_forgotten: u64,
    /// New raised alerts refused because [`MAX_ALERTS`] are active already.
    pub alerts_refused: u64,
    /// Messages kept but not fanned out to `/events`, being over [`MAX_EVENT_BYTES`].
    pub events_too_large: u64,
}

/// What is known of one sensor.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sensor {
    /// Where it is: from its newest reading or status that says.
    pub location: Option<Location>,
    /// Its kind of device, likewise.
    pub kind: Option<String>,
    /// Where its values come from, likewise.
    pub source: Option<Source>,
    /// Online or offline, from its status.
    pub state: Option<SensorState>,
    /// The time of `reading`.
    pub reading_time: Option<Timestamp>,
    /// Its newest reading (JSON).
    pub reading: Option<Arc<str>>,
    /// The quantities of its newest reading.
    pub quantities: Vec<Quantity>,
    /// Its rolling statistics (JSON).
    pub rolling: Option<Arc<str>>,
    /// Its status (JSON).
    pub status: Option<Arc<str>>,
    /// When the server last heard of it (its clock, not the sensor's).
    pub heard: Option<Timestamp>,
}

impl Sensor {
    /// `online`, `offline` or `unknown` (no status yet).
    pub fn state_name(&self) -> &'static str {
        match self.state {
            Some(SensorState::Online) => "online",
            Some(SensorState::Offline) => "offline",
            None => "unknown",
        }
    }
}

/// Change counters: a cached rendering is current while its generation is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Generations {
    /// Bumped whenever an aggregate changes.
    pub neighbourhoods: u64,
    /// Bumped whenever anything of a sensor changes.
    pub sensors: u64,
    /// Bumped whenever the set of active alerts changes.
    pub alerts: u64,
}

/// The largest message fanned out to `/events` clients. The events wait in a ring of
/// `events_buffer` of them (4096 by default), so the ring holds at most 4096 × 16 KiB = 64 MiB
/// whatever is published; a reading is at most 4 KiB ([`Limits::max_reading_bytes`]), an
/// aggregate of every quantity a few KiB. A larger message (a status with a long detail) is kept
/// for the API and counted, not fanned out.
pub const MAX_EVENT_BYTES: usize = 16 * 1024;

/// How long a sensor stays known without a message when room is needed, by default: a day.
pub const FORGET_AFTER: Duration = Duration::from_secs(86_400);

/// At the bound, silent sensors are looked for at most this often (nanoseconds: a minute).
const FORGET_EVERY_NANOS: i64 = 60_000_000_000;

/// The live state (see the module doc).
#[derive(Debug, Clone)]
pub struct Live {
    topics: Topics,
    limits: Limits,
    max_sensors: usize,
    /// How long a sensor stays known without a message, when room is needed.
    forget_after: Duration,
    /// When sensors silent for `forget_after` may next be looked for (at most once a minute).
    next_forget: Option<Timestamp>,
    index: HashMap<String, usize>,
    aggregates: Vec<Option<Arc<str>>>,
    /// The quantities of each kept aggregate (same index as `aggregates`).
    aggregate_quantities: Vec<Vec<Quantity>>,
    sensors: BTreeMap<String, Sensor>,
    alerts: BTreeMap<(String, String), Arc<str>>,
    generations: Generations,
    counters: Counters,
}

impl Live {
    /// An empty state for the neighbourhoods `ids` (in file order), keeping at most
    /// `max_sensors` sensors.
    pub fn new(topics: Topics, ids: impl IntoIterator<Item = String>, max_sensors: usize) -> Live {
        let index: HashMap<String, usize> =
            ids.into_iter().enumerate().map(|(i, id)| (id, i)).collect();
        Live {
            topics,
            limits: Limits::default(),
            max_sensors,
            forget_after: FORGET_AFTER,
            next_forget: None,
            aggregates: vec![None; index.len()],
            aggregate_quantities: vec![Vec::new(); index.len()],
            index,
            sensors: BTreeMap::new(),
            alerts: BTreeMap::new(),
            generations: Generations::default(),
            counters: Counters::default(),
        }
    }

    /// Sensors silent for longer than `after` may be forgotten to make room for new ones
    /// (default: [`FORGET_AFTER`]).
    #[must_use]
    pub fn forget_after(mut self, after: Duration) -> Live {
        self.forget_after = after;
        self
    }

    /// Applies one MQTT message received at `now`; pushes onto `out` what `/events` clients
    /// should see, and an accepted reading as parsed. Returns the kind applied, or why nothing
    /// changed (also counted).
    pub fn apply(
        &mut self,
        topic: &str,
        payload: &[u8],
        now: Timestamp,
        out: &mut Fanout,
    ) -> Result<Kind, Ignored> {
        let result = self
            .change(topic, payload, now, &mut out.readings)
            .map(|(kind, change)| self.fan_out(kind, change, &mut out.events));
        match result {
            Ok(kind) if payload.is_empty() => self.counters.removed[kind.index()] += 1,
            Ok(kind) => self.counters.applied[kind.index()] += 1,
            Err(Ignored::Topic) => self.counters.other_topics += 1,
            Err(Ignored::Invalid(kind) | Ignored::IdMismatch(kind)) => {
                self.counters.invalid[kind.index()] += 1;
            }
            Err(Ignored::UnknownNeighbourhood) => self.counters.unknown_neighbourhoods += 1,
            Err(Ignored::SensorLimit) => self.counters.sensors_refused += 1,
            Err(Ignored::AlertLimit) => self.counters.alerts_refused += 1,
        }
        result
    }

    /// What the message on `topic` changes, of which kind; nothing yet if it is refused. An
    /// accepted reading or pack goes onto `readings` as parsed.
    fn change(
        &mut self,
        topic: &str,
        payload: &[u8],
        now: Timestamp,
        readings: &mut Vec<Payload>,
    ) -> Result<(Kind, Change), Ignored> {
        let parsed = self.topics.parse(topic).ok_or(Ignored::Topic)?;
        Ok(match parsed {
            Topic::Reading { sensor_id } | Topic::Senml { sensor_id } => (
                Kind::Reading,
                self.reading(sensor_id, payload, now, readings)?,
            ),
            Topic::Status { sensor_id } => (Kind::Status, self.status(sensor_id, payload, now)?),
            Topic::Rolling { sensor_id } => (Kind::Rolling, self.rolling(sensor_id, payload, now)?),
            Topic::Aggregate { neighbourhood_id } => {
                (Kind::Aggregate, self.aggregate(neighbourhood_id, payload)?)
            }
            Topic::Alert { rule, scope } => (Kind::Alert, self.alert(rule, scope, payload)?),
            Topic::Error { .. } => return Err(Ignored::Topic),
        })
    }

    /// Bumps the generation a change of `kind` makes stale, and pushes a kept message onto
    /// `out` for the `/events` clients.
    fn fan_out(&mut self, kind: Kind, change: Change, out: &mut Vec<LiveEvent>) -> Kind {
        // Design: every change bumps the generation of its kind, so no cached rendering
        // outlives it; only kept messages are fanned out.
        let generation = match kind {
            Kind::Aggregate => &mut self.generations.neighbourhoods,
            Kind::Status | Kind::Reading | Kind::Rolling => &mut self.generations.sensors,
            Kind::Alert => &mut self.generations.alerts,
        };
        match change {
            Change::Kept(data) if data.len() > MAX_EVENT_BYTES => {
                // Kept for the API, not fanned out: the ring of events stays bounded in bytes.
                *generation += 1;
                self.counters.events_too_large += 1;
            }
            Change::Kept(data) => {
                *generation += 1;
                out.push(LiveEvent { kind, data });
            }
            Change::Removed => *generation += 1,
            Change::Unchanged => {}
        }
        kind
    }

    fn reading(
        &mut self,
        sensor_id: &str,
        payload: &[u8],
        now: Timestamp,
        accepted: &mut Vec<Payload>,
    ) -> Result<Change, Ignored> {
        let kind = Kind::Reading;
        let parsed =
            parse_payload(payload, now, &self.limits).map_err(|_| Ignored::Invalid(kind))?;
        let readings = parsed.readings();
        if readings.iter().any(|r| r.sensor_id != sensor_id) {
            return Err(Ignored::IdMismatch(kind));
        }
        // A pack is resolved in time order: its newest reading is the last.
        let Some(newest) = readings.last() else {
            return Err(Ignored::Invalid(kind));
        };
        let data: Arc<str> = match &parsed {
            Payload::Reading(_) => text(payload).ok_or(Ignored::Invalid(kind))?,
            Payload::Senml(_) => Arc::from(String::from_utf8_lossy(&newest.to_json()).as_ref()),
        };
        let sensor = self.sensor_mut(sensor_id, now)?;
        sensor.location = Some(newest.location);
        sensor.kind = Some(newest.kind.clone());
        sensor.source = Some(newest.source);
        if sensor.reading_time.is_none_or(|t| t <= newest.time) {
            sensor.reading_time = Some(newest.time);
            sensor.reading = Some(Arc::clone(&data));
            sensor.quantities = newest.quantities.iter().map(|(q, _)| q).collect();
        }
        accepted.push(parsed);
        Ok(Change::Kept(data))
    }

    fn status(
        &mut self,
        sensor_id: &str,
        payload: &[u8],
        now: Timestamp,
    ) -> Result<Change, Ignored> {
        if payload.is_empty() {
            return Ok(self.clear_sensor(sensor_id, |sensor| {
                sensor.status = None;
                sensor.state = None;
            }));
        }
        let (status, data) =
            self.sensor_message(Kind::Status, sensor_id, payload, |s: &Status| {
                (s.v, s.sensor_id.as_str())
            })?;
        let sensor = self.sensor_mut(sensor_id, now)?;
        if status.location.is_some() {
            sensor.location = status.location;
        }
        sensor.kind = Some(status.kind);
        sensor.source = Some(status.source);
        sensor.state = Some(status.state);
        sensor.status = Some(Arc::clone(&data));
        Ok(Change::Kept(data))
    }

    fn rolling(
        &mut self,
        sensor_id: &str,
        payload: &[u8],
        now: Timestamp,
    ) -> Result<Change, Ignored> {
        if payload.is_empty() {
            return Ok(self.clear_sensor(sensor_id, |sensor| sensor.rolling = None));
        }
        let (_, data) =
            self.sensor_message(Kind::Rolling, sensor_id, payload, |r: &SensorRolling| {
                (r.v, r.sensor_id.as_str())
            })?;
        self.sensor_mut(sensor_id, now)?.rolling = Some(Arc::clone(&data));
        Ok(Change::Kept(data))
    }

    fn aggregate(&mut self, neighbourhood_id: &str, payload: &[u8]) -> Result<Change, Ignored> {
        let slot = *self
            .index
            .get(neighbourhood_id)
            .ok_or(Ignored::UnknownNeighbourhood)?;
        if payload.is_empty() {
            self.aggregates[slot] = None;
            self.aggregate_quantities[slot].clear();
            return Ok(Change::Removed);
        }
        let (aggregate, data) = self.message(
            Kind::Aggregate,
            payload,
            |a: &NeighbourhoodAggregate| a.v == SPEC_VERSION,
            |a| a.neighbourhood_id == neighbourhood_id,
        )?;
        self.aggregates[slot] = Some(Arc::clone(&data));
        self.aggregate_quantities[slot] = aggregate.quantities.into_keys().collect();
        Ok(Change::Kept(data))
    }

    fn alert(&mut self, rule: &str, scope: &str, payload: &[u8]) -> Result<Change, Ignored> {
        let key = (rule.to_owned(), scope.to_owned());
        if payload.is_empty() {
            return Ok(match self.alerts.remove(&key) {
                Some(_) => Change::Removed,
                None => Change::Unchanged,
            });
        }
        let (alert, data) = self.message(
            Kind::Alert,
            payload,
            |a: &Alert| a.v == SPEC_VERSION,
            |a| a.rule == rule && a.scope.topic_segment() == scope,
        )?;
        match alert.state {
            AlertState::Raised => {
                if self.alerts.len() >= MAX_ALERTS && !self.alerts.contains_key(&key) {
                    return Err(Ignored::AlertLimit);
                }
                self.alerts.insert(key, Arc::clone(&data));
            }
            AlertState::Cleared => {
                self.alerts.remove(&key);
            }
        }
        Ok(Change::Kept(data))
    }

    /// A retained message of `kind` parsed as `T` within the size bound, with its text as
    /// fanned out: refused as invalid unless `valid` (spec version, ids), and as of another id
    /// unless `for_topic` (it names what its topic names).
    fn message<T: serde::de::DeserializeOwned>(
        &self,
        kind: Kind,
        payload: &[u8],
        valid: impl FnOnce(&T) -> bool,
        for_topic: impl FnOnce(&T) -> bool,
    ) -> Result<(T, Arc<str>), Ignored> {
        if payload.len() > self.limits.max_pack_bytes {
            return Err(Ignored::Invalid(kind));
        }
        let message: T = serde_json::from_slice(payload).map_err(|_| Ignored::Invalid(kind))?;
        if !valid(&message) {
            return Err(Ignored::Invalid(kind));
        }
        if !for_topic(&message) {
            return Err(Ignored::IdMismatch(kind));
        }
        let data = text(payload).ok_or(Ignored::Invalid(kind))?;
        Ok((message, data))
    }

    /// [`Live::message`] for a message about one sensor (status, rolling statistics): `header`
    /// gives its version and sensor id, which must be v1, a valid id, and the topic's.
    fn sensor_message<T: serde::de::DeserializeOwned>(
        &self,
        kind: Kind,
        sensor_id: &str,
        payload: &[u8],
        header: impl Fn(&T) -> (u32, &str),
    ) -> Result<(T, Arc<str>), Ignored> {
        self.message(
            kind,
            payload,
            |m| {
                let (v, id) = header(m);
                v == SPEC_VERSION && is_valid_sensor_id(id)
            },
            |m| header(m).1 == sensor_id,
        )
    }

    /// An empty retained message on a sensor's topic: `clear` removes what it held from the
    /// sensor's entry, if there is one.
    fn clear_sensor(&mut self, sensor_id: &str, clear: impl FnOnce(&mut Sensor)) -> Change {
        match self.sensors.get_mut(sensor_id) {
            Some(sensor) => {
                clear(sensor);
                Change::Removed
            }
            None => Change::Unchanged,
        }
    }

    /// The entry of `sensor_id`, heard of at `now`; created if there is room (made, when
    /// needed, by forgetting sensors silent for longer than `forget_after`).
    fn sensor_mut(&mut self, sensor_id: &str, now: Timestamp) -> Result<&mut Sensor, Ignored> {
        if !self.sensors.contains_key(sensor_id) {
            if self.sensors.len() >= self.max_sensors {
                self.forget_silent(now);
            }
            if self.sensors.len() >= self.max_sensors {
                return Err(Ignored::SensorLimit);
            }
            self.sensors.insert(sensor_id.to_owned(), Sensor::default());
        }
        let sensor = self
            .sensors
            .get_mut(sensor_id)
            .ok_or(Ignored::SensorLimit)?;
        sensor.heard = Some(now);
        Ok(sensor)
    }

    /// Forgets the sensors not heard of for longer than `forget_after`; at most once a minute,
    /// so that a flood of new ids at the bound costs one pass over the sensors a minute.
    fn forget_silent(&mut self, now: Timestamp) {
        if self.next_forget.is_some_and(|next| now < next) {
            return;
        }
        self.next_forget = Some(now.add_nanos(FORGET_EVERY_NANOS));
        let after = i64::try_from(self.forget_after.as_nanos()).unwrap_or(i64::MAX);
        let horizon = now.add_nanos(after.saturating_neg());
        let before = self.sensors.len();
        self.sensors
            .retain(|_, sensor| sensor.heard.is_some_and(|heard| heard >= horizon));
        let forgotten = before - self.sensors.len();
        if forgotten > 0 {
            self.counters.sensors_forgotten += forgotten as u64;
            self.generations.sensors += 1;
        }
    }

    /// The latest aggregate of the neighbourhood at `index` (file order), if any.
    pub fn aggregate_at(&self, index: usize) -> Option<&Arc<str>> {
        self.aggregates.get(index).and_then(Option::as_ref)
    }

    /// The quantities with live data now: carried by a kept aggregate or by a sensor's newest
    /// reading, in catalogue order.
    ///
    /// Performance: one pass over the neighbourhoods and the sensors (a few per sensor), for
    /// `/api/config` and the pages, not for every message.
    pub fn quantities_with_data(&self) -> Vec<Quantity> {
        let mut seen = vec![false; Quantity::count()];
        let carried = self
            .aggregate_quantities
            .iter()
            .chain(self.sensors.values().map(|s| &s.quantities));
        for q in carried.flatten() {
            if let Some(slot) = seen.get_mut(q.index()) {
                *slot = true;
            }
        }
        // The catalogue may have grown meanwhile: a quantity past `seen` has no data.
        Quantity::all()
            .filter(|q| seen.get(q.index()) == Some(&true))
            .collect()
    }

    /// Whether the polygon file has the neighbourhood `id`.
    pub fn has_neighbourhood(&self, id: &str) -> bool {
        self.index.contains_key(id)
    }

    /// The sensors, by id.
    pub fn sensors(&self) -> &BTreeMap<String, Sensor> {
        &self.sensors
    }

    /// The active (raised) alerts, by rule and scope.
    pub fn alerts(&self) -> impl Iterator<Item = &Arc<str>> {
        self.alerts.values()
    }

    /// The change counters.
    pub fn generations(&self) -> Generations {
        self.generations
    }

    /// The counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The sensors as a GeoJSON FeatureCollection of Points (see `/api/sensors`). Sensors
    /// whose location is not known yet (a status without location, no reading) are left out:
    /// they have no place on the map.
    pub fn sensors_geojson(&self) -> String {
        let mut out = String::with_capacity(64 + self.sensors.len() * 512);
        out.push_str(r#"{"type":"FeatureCollection","features":["#);
        let mut first = true;
        for (id, sensor) in &self.sensors {
            let Some(location) = sensor.location else {
                continue;
            };
            if !first {
                out.push(',');
            }
            first = false;
            let id = json_string(id);
            let _ = write!(
                out,
                r#"{{"type":"Feature","id":{id},"geometry":{{"type":"Point","coordinates":[{},{}]}},"properties":{{"sensor_id":{id},"kind":{},"source":{},"state":"{}","reading":{},"rolling":{},"status":{}}}}}"#,
                location.lon,
                location.lat,
                sensor
                    .kind
                    .as_deref()
                    .map_or("null".to_owned(), json_string),
                sensor
                    .source
                    .map_or("null".to_owned(), |s| format!("\"{}\"", s.as_str())),
                sensor.state_name(),
                raw_or_null(sensor.reading.as_ref()),
                raw_or_null(sensor.rolling.as_ref()),
                raw_or_null(sensor.status.as_ref()),
            );
        }
        out.push_str("]}");
        out
    }

    /// The active alerts as a JSON array (see `/api/alerts`).
    pub fn alerts_json(&self) -> String {
        let mut out = String::from("[");
        for (i, alert) in self.alerts.values().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(alert);
        }
        out.push(']');
        out
    }
}

/// A JSON string literal.
pub fn json_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned())
}

fn raw_or_null(raw: Option<&Arc<str>>) -> &str {
    raw.map_or("null", |r| r.as_ref())
}

/// The payload as text (it parsed as JSON, so it is UTF-8 unless it smuggled invalid bytes
/// into a string, which serde_json refuses anyway).
fn text(payload: &[u8]) -> Option<Arc<str>> {
    std::str::from_utf8(payload).ok().map(Arc::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: &str = "2025-11-24T10:20:00Z";

    fn now() -> Timestamp {
        Timestamp::parse(NOW).expect("valid")
    }

    fn live() -> Live {
        Live::new(Topics::default(), ["1".to_owned(), "2".to_owned()], 3)
    }

    fn reading(sensor: &str, time: &str, temperature: f64) -> String {
        format!(
            r#"{{"v":1,"sensor_id":"{sensor}","kind":"bme280","source":"virtual","time":"{time}","seq":1,"location":{{"lon":1.44,"lat":43.6}},"quantities":{{"temperature":{temperature}}}}}"#
        )
    }

    fn status(sensor: &str, state: &str) -> String {
        format!(
            r#"{{"v":1,"sensor_id":"{sensor}","state":"{state}","time":"2025-11-24T10:00:00Z","kind":"raspberry-pi","source":"raspberry-pi","location":{{"lon":1.5,"lat":43.7}}}}"#
        )
    }

    fn aggregate(id: &str, mean: f64) -> String {
        format!(
            r#"{{"v":1,"neighbourhood_id":"{id}","name":"Q{id}","window_start":"2025-11-24T10:00:00Z","window_end":"2025-11-24T10:15:00Z","emitted_at":"2025-11-24T10:15:05Z","quantities":{{"temperature":{{"mean":{mean},"min":1.0,"max":20.0,"readings":4,"sensors":2}}}}}}"#
        )
    }

    fn rolling(sensor: &str) -> String {
        format!(
            r#"{{"v":1,"sensor_id":"{sensor}","window_secs":900,"time":"2025-11-24T10:10:00Z","quantities":{{"temperature":{{"mean":9.0,"min":8.0,"max":10.0,"readings":3,"sensors":1}}}}}}"#
        )
    }

    fn alert(state: &str) -> String {
        format!(
            r#"{{"v":1,"rule":"heat","scope":{{"kind":"neighbourhood","id":"1"}},"state":"{state}","quantity":"temperature","comparison":"above","threshold":35.0,"value":36.0,"since":"2025-11-24T10:00:00Z","time":"2025-11-24T10:10:00Z"}}"#
        )
    }

    const HEAT: &str = "garonne/v1/alerts/heat/neighbourhood-1";

    /// Applies messages in order; returns each outcome and the events.
    fn run(
        live: &mut Live,
        messages: &[(&str, String)],
    ) -> (Vec<Result<Kind, Ignored>>, Vec<LiveEvent>) {
        let mut out = Fanout::default();
        let results = messages
            .iter()
            .map(|(topic, payload)| live.apply(topic, payload.as_bytes(), now(), &mut out))
            .collect();
        (results, out.events)
    }

    #[test]
    fn each_message_is_applied_or_refused_for_a_reason() {
        let agg1 = "garonne/v1/neighbourhoods/1/aggregate";
        type Case<'a> = (&'a str, (&'a str, String), Result<Kind, Ignored>);
        let cases: Vec<Case> = vec![
            (
                "an aggregate",
                (agg1, aggregate("1", 9.0)),
                Ok(Kind::Aggregate),
            ),
            (
                "an aggregate of an unknown neighbourhood",
                ("garonne/v1/neighbourhoods/9/aggregate", aggregate("9", 9.0)),
                Err(Ignored::UnknownNeighbourhood),
            ),
            (
                "an aggregate naming another neighbourhood",
                (agg1, aggregate("2", 9.0)),
                Err(Ignored::IdMismatch(Kind::Aggregate)),
            ),
            (
                "an aggregate that is not one",
                (agg1, "{\"v\":1}".into()),
                Err(Ignored::Invalid(Kind::Aggregate)),
            ),
            (
                "an aggregate of spec v2",
                (agg1, aggregate("1", 9.0).replacen("\"v\":1", "\"v\":2", 1)),
                Err(Ignored::Invalid(Kind::Aggregate)),
            ),
            (
                "a reading",
                (
                    "garonne/v1/sensors/s1/reading",
                    reading("s1", "2025-11-24T10:15:00Z", 9.5),
                ),
                Ok(Kind::Reading),
            ),
            (
                "a reading out of range",
                (
                    "garonne/v1/sensors/s1/reading",
                    reading("s1", "2025-11-24T10:15:00Z", -50.0),
                ),
                Err(Ignored::Invalid(Kind::Reading)),
            ),
            (
                "a reading from the future",
                (
                    "garonne/v1/sensors/s1/reading",
                    reading("s1", "2025-11-24T11:15:00Z", 9.0),
                ),
                Err(Ignored::Invalid(Kind::Reading)),
            ),
            (
                "a reading of another sensor than its topic's",
                (
                    "garonne/v1/sensors/s2/reading",
                    reading("s1", "2025-11-24T10:15:00Z", 9.0),
                ),
                Err(Ignored::IdMismatch(Kind::Reading)),
            ),
            (
                "a status",
                ("garonne/v1/sensors/s1/status", status("s1", "online")),
                Ok(Kind::Status),
            ),
            (
                "a rolling statistics message",
                ("garonne/v1/sensors/s1/rolling", rolling("s1")),
                Ok(Kind::Rolling),
            ),
            ("an alert", (HEAT, alert("raised")), Ok(Kind::Alert)),
            (
                "an alert on the topic of another scope",
                ("garonne/v1/alerts/heat/neighbourhood-2", alert("raised")),
                Err(Ignored::IdMismatch(Kind::Alert)),
            ),
            (
                "an error report",
                ("garonne/v1/errors/s1", "{}".into()),
                Err(Ignored::Topic),
            ),
            (
                "another deployment's topic",
                (
                    "other/v1/sensors/s1/reading",
                    reading("s1", "2025-11-24T10:15:00Z", 9.0),
                ),
                Err(Ignored::Topic),
            ),
        ];
        for (what, (topic, payload), want) in cases {
            let mut state = live();
            let (results, events) = run(&mut state, &[(topic, payload.clone())]);
            assert_eq!(results[0], want, "{what}");
            match want {
                Ok(kind) => {
                    assert_eq!(events.len(), 1, "{what}: one event");
                    assert_eq!(events[0].kind, kind, "{what}");
                    assert_eq!(
                        &*events[0].data,
                        payload.as_str(),
                        "{what}: data as published"
                    );
                }
                Err(_) => assert!(events.is_empty(), "{what}: no event"),
            }
        }
    }

    #[test]
    fn the_last_aggregate_wins_and_an_empty_retained_message_removes_it() {
        let mut state = live();
        let topic = "garonne/v1/neighbourhoods/2/aggregate";
        run(
            &mut state,
            &[(topic, aggregate("2", 1.0)), (topic, aggregate("2", 2.0))],
        );
        assert_eq!(
            state.aggregate_at(1).map(|a| a.to_string()),
            Some(aggregate("2", 2.0))
        );
        assert_eq!(state.aggregate_at(0), None);
        let before = state.generations().neighbourhoods;
        let (_, events) = run(&mut state, &[(topic, String::new())]);
        assert!(events.is_empty(), "a removal is not fanned out");
        assert_eq!(state.aggregate_at(1), None);
        assert!(state.generations().neighbourhoods > before);
        assert_eq!(state.counters().removed[Kind::Aggregate.index()], 1);
    }

    #[test]
    fn a_quantity_has_live_data_while_an_aggregate_or_a_newest_reading_carries_it() {
        let mut state = live();
        assert!(state.quantities_with_data().is_empty());
        let agg2 = "garonne/v1/neighbourhoods/2/aggregate";
        let bikes = aggregate("2", 4.0).replace("temperature", "availableBikeNumber");
        let s1 = "garonne/v1/sensors/s1/reading";
        let humid = reading("s1", "2025-11-24T10:15:00Z", 9.5)
            .replace(r#""temperature":9.5"#, r#""relativeHumidity":0.5"#);
        run(&mut state, &[(agg2, bikes), (s1, humid)]);
        let names = |state: &Live| -> Vec<&str> {
            state
                .quantities_with_data()
                .into_iter()
                .map(Quantity::name)
                .collect()
        };
        assert_eq!(names(&state), ["relativeHumidity", "availableBikeNumber"]);
        // A newer reading without humidity, and the aggregate withdrawn: neither is live.
        run(
            &mut state,
            &[
                (s1, reading("s1", "2025-11-24T10:16:00Z", 9.0)),
                (agg2, String::new()),
            ],
        );
        assert_eq!(names(&state), ["temperature"]);
    }

    #[test]
    fn a_late_reading_is_fanned_out_but_does_not_replace_a_newer_one() {
        let mut state = live();
        let topic = "garonne/v1/sensors/s1/reading";
        let newer = reading("s1", "2025-11-24T10:15:00Z", 10.0);
        let older = reading("s1", "2025-11-24T10:05:00Z", 5.0);
        let (_, events) = run(&mut state, &[(topic, newer.clone()), (topic, older)]);
        assert_eq!(events.len(), 2);
        assert_eq!(
            state.sensors()["s1"].reading.as_deref(),
            Some(newer.as_str())
        );
    }

    #[test]
    fn a_senml_pack_counts_as_its_newest_reading() {
        let mut state = live();
        let pack = r#"[{"bn":"s1:","bt":1763979000,"n":"lat","u":"lat","v":43.6},{"n":"lon","u":"lon","v":1.44},{"n":"seq","v":1},{"n":"source","vs":"virtual"},{"n":"kind","vs":"bme280"},{"n":"temperature","u":"Cel","v":8.0},{"n":"temperature","u":"Cel","v":9.0,"t":60}]"#;
        let mut out = Fanout::default();
        let result = state.apply(
            "garonne/v1/sensors/s1/senml",
            pack.as_bytes(),
            now(),
            &mut out,
        );
        if result.is_err() {
            // The pack format is the payload crate's business; a pack it refuses says nothing
            // about this rule, so check the validator's verdict first.
            let verdict = parse_payload(pack.as_bytes(), now(), &Limits::default());
            panic!("pack refused: {result:?}: {verdict:?}");
        }
        assert_eq!(out.events.len(), 1, "one event for the pack");
        let sensor = &state.sensors()["s1"];
        let event = &out.events[0];
        assert_eq!(sensor.reading.as_deref(), Some(&*event.data));
        assert!(event.data.contains("\"temperature\":9"), "{}", event.data);
        // The pack is handed on as parsed, for the telemetry streams: both readings of it.
        let [parsed] = out.readings.as_slice() else {
            panic!("one parsed pack handed on, got {:?}", out.readings);
        };
        let times: Vec<_> = parsed.readings().iter().map(|r| r.time).collect();
        let at = |secs: i64| Timestamp::from_unix_millis(secs * 1000);
        assert_eq!(times, [at(1_763_979_000), at(1_763_979_060)]);
    }

    #[test]
    fn sensors_merge_status_and_readings_and_show_their_state() {
        let mut state = live();
        run(
            &mut state,
            &[
                (
                    "garonne/v1/sensors/s1/reading",
                    reading("s1", "2025-11-24T10:15:00Z", 9.5),
                ),
                ("garonne/v1/sensors/s2/status", status("s2", "offline")),
                ("garonne/v1/sensors/s1/rolling", rolling("s1")),
            ],
        );
        let s1 = &state.sensors()["s1"];
        assert_eq!(s1.state_name(), "unknown");
        assert!(s1.reading.is_some() && s1.rolling.is_some() && s1.status.is_none());
        let s2 = &state.sensors()["s2"];
        assert_eq!(s2.state_name(), "offline");
        assert_eq!(s2.location, Some(Location::new(1.5, 43.7)));
        let geojson: serde_json::Value =
            serde_json::from_str(&state.sensors_geojson()).expect("valid JSON");
        let features = geojson["features"].as_array().expect("features");
        assert_eq!(features.len(), 2);
        assert_eq!(features[0]["properties"]["sensor_id"], "s1");
        assert_eq!(features[0]["properties"]["source"], "virtual");
        assert_eq!(
            features[0]["properties"]["reading"]["quantities"]["temperature"],
            9.5
        );
        assert_eq!(
            features[0]["geometry"]["coordinates"],
            serde_json::json!([1.44, 43.6])
        );
        assert_eq!(features[1]["properties"]["state"], "offline");
        assert_eq!(
            features[1]["properties"]["reading"],
            serde_json::Value::Null
        );
    }

    #[test]
    fn a_sensor_without_a_location_is_kept_but_not_drawn() {
        let mut state = live();
        let no_location =
            status("s3", "online").replace(r#","location":{"lon":1.5,"lat":43.7}"#, "");
        let (results, _) = run(&mut state, &[("garonne/v1/sensors/s3/status", no_location)]);
        assert_eq!(results[0], Ok(Kind::Status));
        assert!(state.sensors().contains_key("s3"));
        assert_eq!(
            state.sensors_geojson(),
            r#"{"type":"FeatureCollection","features":[]}"#
        );
    }

    #[test]
    fn sensors_past_the_bound_are_counted_and_left_out() {
        let mut state = live();
        let messages: Vec<(String, String)> = (0..5)
            .map(|i| {
                (
                    format!("garonne/v1/sensors/s{i}/reading"),
                    reading(&format!("s{i}"), "2025-11-24T10:15:00Z", 9.0),
                )
            })
            .collect();
        let borrowed: Vec<(&str, String)> = messages
            .iter()
            .map(|(t, p)| (t.as_str(), p.clone()))
            .collect();
        let (results, events) = run(&mut state, &borrowed);
        assert_eq!(results[3], Err(Ignored::SensorLimit));
        assert_eq!(state.sensors().len(), 3);
        assert_eq!(events.len(), 3);
        assert_eq!(state.counters().sensors_refused, 2);
        // A known sensor is still updated at the bound.
        let (results, _) = run(
            &mut state,
            &[(
                "garonne/v1/sensors/s0/reading",
                reading("s0", "2025-11-24T10:16:00Z", 9.0),
            )],
        );
        assert_eq!(results[0], Ok(Kind::Reading));
    }

    #[test]
    fn at_the_bound_sensors_silent_for_long_make_room_for_new_ones() {
        let mut state = live().forget_after(Duration::from_secs(3600));
        let at = |secs: i64| now().add_nanos(secs * 1_000_000_000);
        let mut out = Fanout::default();
        let mut send = |state: &mut Live, id: &str, secs: i64| {
            let payload = reading(id, "2025-11-24T10:15:00Z", 9.0);
            let topic = format!("garonne/v1/sensors/{id}/reading");
            state.apply(&topic, payload.as_bytes(), at(secs), &mut out)
        };
        for id in ["s0", "s1", "s2"] {
            assert_eq!(send(&mut state, id, 0), Ok(Kind::Reading));
        }
        // s2 goes on; s0 and s1 fall silent.
        assert_eq!(send(&mut state, "s2", 3000), Ok(Kind::Reading));
        // Within the hour, nobody is forgotten: the new one is refused.
        assert_eq!(send(&mut state, "s3", 3500), Err(Ignored::SensorLimit));
        // Past the hour, but within a minute of the last look: still refused.
        assert_eq!(send(&mut state, "s3", 3550), Err(Ignored::SensorLimit));
        // A minute later: s0 and s1 are forgotten, s3 and s4 get their places.
        assert_eq!(send(&mut state, "s3", 3600 + 61), Ok(Kind::Reading));
        assert_eq!(send(&mut state, "s4", 3600 + 62), Ok(Kind::Reading));
        let ids: Vec<&str> = state.sensors().keys().map(String::as_str).collect();
        assert_eq!(ids, ["s2", "s3", "s4"]);
        assert_eq!(state.counters().sensors_forgotten, 2);
        assert_eq!(state.counters().sensors_refused, 2);
    }

    #[test]
    fn a_message_too_large_for_the_event_ring_is_kept_but_not_fanned_out() {
        let mut state = live();
        let mut status = serde_json::json!({
            "v": 1, "sensor_id": "s1", "kind": "bme280", "source": "raspberry-pi",
            "time": "2025-11-24T10:15:00Z", "state": "online", "modules": [{
                "name": "bme280", "state": "failed", "quantities": ["temperature"],
                "detail": "x".repeat(MAX_EVENT_BYTES)
            }]
        });
        let big = status.to_string();
        let (results, events) = run(&mut state, &[("garonne/v1/sensors/s1/status", big.clone())]);
        assert_eq!(results[0], Ok(Kind::Status), "{big:.200}");
        assert!(events.is_empty(), "not fanned out");
        assert_eq!(state.counters().events_too_large, 1);
        assert_eq!(
            state.sensors()["s1"].status.as_deref(),
            Some(big.as_str()),
            "kept"
        );
        status["modules"][0]["detail"] = "short".into();
        let (_, events) = run(
            &mut state,
            &[("garonne/v1/sensors/s1/status", status.to_string())],
        );
        assert_eq!(events.len(), 1, "a small one is");
    }

    #[test]
    fn raised_alerts_past_the_bound_are_counted_and_left_out() {
        let mut state = live();
        let mut out = Fanout::default();
        for i in 0..=MAX_ALERTS {
            let payload = alert("raised").replace(r#""id":"1""#, &format!(r#""id":"n{i}""#));
            let topic = format!("garonne/v1/alerts/heat/neighbourhood-n{i}");
            let result = state.apply(&topic, payload.as_bytes(), now(), &mut out);
            let want = if i < MAX_ALERTS {
                Ok(Kind::Alert)
            } else {
                Err(Ignored::AlertLimit)
            };
            assert_eq!(result, want, "alert {i}");
        }
        assert_eq!(state.alerts().count(), MAX_ALERTS);
        assert_eq!(state.counters().alerts_refused, 1);
    }

    #[test]
    fn alerts_are_active_from_raised_until_cleared_or_withdrawn() {
        let mut state = live();
        run(&mut state, &[(HEAT, alert("raised"))]);
        assert_eq!(state.alerts_json(), format!("[{}]", alert("raised")));
        let (_, events) = run(&mut state, &[(HEAT, alert("cleared"))]);
        assert_eq!(events.len(), 1, "the cleared message is fanned out");
        assert_eq!(state.alerts_json(), "[]");
        run(
            &mut state,
            &[(HEAT, alert("raised")), (HEAT, String::new())],
        );
        assert_eq!(
            state.alerts_json(),
            "[]",
            "the empty retained message withdraws it"
        );
    }
}

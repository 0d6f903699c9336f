//! The realtime core: a pure transform. Payloads (or parsed readings) and `now` go in; MQTT
//! messages to publish come out. No I/O, no clock reads, no threads: [`crate::service`] is its
//! async driver, and the tests drive it with made-up times.
//!
//! # What it keeps
//! Per sensor: where it is (its location and the neighbourhood found for it, so the polygons
//! are searched once per location, not per message), a short list of **panes** (see
//! [`crate::window`]) holding count/sum/min/max/last per quantity, fingerprints of its last readings
//! (to drop exact repeats), and the time of its newest reading.
//!
//! # What it publishes
//! At every emit (`emit_every_ms`):
//! - for each open window and neighbourhood that changed since the last emit, the
//!   [`NeighbourhoodAggregate`](garonne_payload::NeighbourhoodAggregate) (retained), older
//!   windows first so the retained message is the newest window. The mean weighs sensors
//!   equally: the mean of each sensor's mean. The `value` applies the quantity's profile rules:
//!   each sensor's readings by its `time` rule, then the sensors by its `space` rule (a
//!   quartier's available bikes: the sum of each station's last count);
//! - for each sensor with new readings, its [`SensorRolling`](garonne_payload::SensorRolling)
//!   statistics (retained);
//! - neighbourhood alerts, evaluated on the value of the newest window with data.
//!
//! At once: an [`ErrorReport`](garonne_payload::ErrorReport) for a refused payload, a late
//! reading, a sensor that lies outside every neighbourhood, or a reading whose id differs from
//! its topic's (at most one per sensor per second; the others are counted); sensor alerts as
//! readings cross their threshold.
//!
//! Performance: folding a reading is a hash lookup of the sensor id, a comparison of its
//! location with the cached one, and an update of the newest pane; the aggregation over all
//! sensors runs only at emit time (every few seconds), not per reading.
//!
//! # Layout
//! The [`Engine`] type and its entry points are here; its work is split by job:
//! - `fold`: one reading into its sensor's panes (skew, lateness, repeats, location);
//! - `emit`: at emit time, the windows per neighbourhood and each sensor's rolling statistics;
//! - `alerting`: sensor and neighbourhood rules evaluated, alerts published;
//! - `report`: error reports for what is refused, rate-limited per sensor;
//! - `restore`: the engine's state to and from a [`Snapshot`](crate::Snapshot).

mod alerting;
mod emit;
mod fold;
mod forget;
mod report;
mod restore;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;

use garonne_neighbourhoods::Neighbourhoods;
use garonne_payload::{
    Limits, Payload, Reading, Timestamp, Topic, Topics, is_valid_sensor_id, parse_payload,
};
use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::alerts::{AlertRule, Track};
use crate::metrics::Counters;
use crate::window::{Accs, Clock};

/// The area index of a sensor outside every neighbourhood.
pub(crate) const OUTSIDE: u32 = u32::MAX;

/// How many recent readings of each sensor are remembered to recognise repeats.
pub(crate) const RECENT: usize = 16;

/// The core's knobs (the service's configuration holds them too, with units and defaults).
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Length of a window, seconds (a multiple of `panes_per_window`).
    pub window_secs: u32,
    /// Panes per window: the rolling statistics slide by `window_secs / panes_per_window`.
    pub panes_per_window: u32,
    /// How long after a window's end it still accepts readings, seconds.
    pub lateness_secs: u32,
    /// Emit cadence, milliseconds.
    pub emit_every_ms: u64,
    /// Publish per-sensor rolling statistics.
    pub publish_rolling: bool,
    /// A sensor with no reading for this long is forgotten, seconds (at least a window and its
    /// lateness).
    pub forget_sensors_after_secs: u32,
    /// The most sensors tracked at once; a new one past it is refused (`too-many-sensors`)
    /// until silent ones are forgotten.
    pub max_sensors: usize,
    /// Validation bounds (clock skew, sizes).
    pub limits: Limits,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            window_secs: 900,
            panes_per_window: 5,
            lateness_secs: 120,
            emit_every_ms: 5000,
            publish_rolling: true,
            forget_sensors_after_secs: 86_400,
            max_sensors: 100_000,
            limits: Limits::default(),
        }
    }
}

/// One message to publish (QoS 1).
#[derive(Debug, Clone, PartialEq)]
pub struct Publish {
    /// Topic.
    pub topic: String,
    /// Payload (JSON; empty to remove a retained message).
    pub payload: Vec<u8>,
    /// Retained.
    pub retain: bool,
}

impl Publish {
    /// A message carrying `message` as JSON; `None` if it cannot be serialised, so that a
    /// retained topic never receives an empty payload by mistake (one deletes its retained
    /// message).
    fn json(topic: String, message: &impl Serialize, retain: bool) -> Option<Publish> {
        let payload = serde_json::to_vec(message).ok()?;
        Some(Publish {
            topic,
            payload,
            retain,
        })
    }
}

/// What became of one reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Folded into the windows (and its sensor's rolling statistics).
    Folded,
    /// Its window had closed: counted and reported, not folded.
    Late,
    /// An exact repeat of a recent reading of the sensor: counted, dropped.
    Duplicate,
    /// Further in the future than the clock-skew bound: refused.
    Future,
    /// A new sensor while `max_sensors` are tracked: counted and reported, not folded.
    TooManySensors,
}

/// Count, sum, min, max, last per quantity, for one pane of one sensor in one neighbourhood.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Pane {
    /// Pane number (see [`Clock::pane_of`]).
    pub(crate) no: i64,
    /// Neighbourhood index, or [`OUTSIDE`].
    pub(crate) area: u32,
    /// Readings folded in.
    pub(crate) readings: u32,
    /// Per quantity measured.
    pub(crate) accs: Accs,
}

/// A location and the neighbourhood found for it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Place {
    pub(crate) lon: f64,
    pub(crate) lat: f64,
    pub(crate) area: u32,
}

/// What the core keeps per sensor.
#[derive(Debug, Clone)]
pub(crate) struct Sensor {
    pub(crate) id: String,
    pub(crate) place: Option<Place>,
    /// Ascending by pane number.
    pub(crate) panes: VecDeque<Pane>,
    /// Fingerprints of the last readings (ring).
    pub(crate) recent: [u64; RECENT],
    pub(crate) recent_next: usize,
    /// Time of the newest reading folded.
    pub(crate) newest: Option<Timestamp>,
    /// New readings since the last rolling publication.
    pub(crate) rolling_dirty: bool,
}

impl Sensor {
    pub(crate) fn new(id: &str) -> Sensor {
        Sensor {
            id: id.to_owned(),
            place: None,
            panes: VecDeque::new(),
            recent: [0; RECENT],
            recent_next: 0,
            newest: None,
            rolling_dirty: false,
        }
    }

    /// Drops the panes that no window or rolling range needs any more (the oldest first).
    fn expire_panes(&mut self, clock: Clock, now_secs: i64) {
        while self
            .panes
            .front()
            .is_some_and(|p| clock.is_expired(p.no, now_secs))
        {
            self.panes.pop_front();
        }
    }
}

/// The realtime core.
pub struct Engine {
    areas: Neighbourhoods,
    topics: Topics,
    settings: Settings,
    clock: Clock,
    rules: Vec<AlertRule>,
    sensors: Vec<Sensor>,
    index: FxHashMap<String, u32>,
    /// Alert state per (rule index, scope index: neighbourhood or sensor index).
    tracks: FxHashMap<(u32, u32), Track>,
    /// Readings count of each (window, neighbourhood) at its last publication.
    published: FxHashMap<(i64, u32), u64>,
    last_report: FxHashMap<String, Timestamp>,
    next_emit: Option<Timestamp>,
    /// When silent sensors may next be looked for.
    next_forget: Option<Timestamp>,
    counters: Counters,
}

impl Engine {
    /// A core over these neighbourhoods. `rules` must have passed [`AlertRule::problem`].
    pub fn new(
        areas: Neighbourhoods,
        mut settings: Settings,
        rules: Vec<AlertRule>,
        topics: Topics,
    ) -> Engine {
        // Design: payload lists at most this many problems and counts the rest in a last entry,
        // so an error report (at most MAX_REPORTED entries) says the true count without
        // building problems it would drop.
        settings.limits.max_violations =
            settings.limits.max_violations.min(report::MAX_REPORTED - 1);
        let clock = Clock::new(
            settings.window_secs,
            settings.panes_per_window,
            settings.lateness_secs,
        );
        Engine {
            areas,
            topics,
            settings,
            clock,
            rules,
            sensors: Vec::new(),
            index: FxHashMap::default(),
            tracks: FxHashMap::default(),
            published: FxHashMap::default(),
            last_report: FxHashMap::default(),
            next_emit: None,
            next_forget: None,
            counters: Counters::default(),
        }
    }

    /// The neighbourhoods.
    pub fn areas(&self) -> &Neighbourhoods {
        &self.areas
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Handles one MQTT message: a reading or a SenML pack on a sensor topic. Anything that
    /// cannot be folded is counted, and reported on the sender's error topic.
    pub fn handle(&mut self, topic: &str, payload: &[u8], now: Timestamp, out: &mut Vec<Publish>) {
        self.counters.messages += 1;
        let topic_sensor = match self.topics.parse(topic) {
            Some(Topic::Reading { sensor_id } | Topic::Senml { sensor_id }) => sensor_id,
            _ => {
                self.counters.ignored += 1;
                return;
            }
        };
        match parse_payload(payload, now, &self.settings.limits) {
            Ok(parsed) => {
                let readings = match &parsed {
                    Payload::Reading(r) => std::slice::from_ref(r),
                    Payload::Senml(rs) => rs.as_slice(),
                };
                if let Some(first) = readings.first()
                    && first.sensor_id != topic_sensor
                {
                    let pointer = match parsed {
                        Payload::Reading(_) => "/sensor_id",
                        Payload::Senml(_) => "",
                    };
                    let violation = self.mismatch(pointer, &first.sensor_id, topic_sensor);
                    // The topic's owner hears of it; if the topic's id is not a sensor id,
                    // there is no owner, and the payload's sender hears of it instead.
                    let owner = if is_valid_sensor_id(topic_sensor) {
                        topic_sensor
                    } else {
                        first.sensor_id.as_str()
                    };
                    self.report(topic, Some(owner), payload, vec![violation], now, out);
                    return;
                }
                for reading in readings {
                    self.fold_from(reading, now, topic, Some(payload), out);
                }
            }
            Err(invalid) => {
                let id = report::sender_of(payload, topic_sensor);
                self.report(topic, id.as_deref(), payload, invalid.violations, now, out);
            }
        }
    }

    /// Folds one valid reading (the fast path of [`Engine::handle`], and what the benchmark
    /// measures). Returns what became of it.
    pub fn fold(&mut self, reading: &Reading, now: Timestamp, out: &mut Vec<Publish>) -> Outcome {
        let topic = self.topics.reading(&reading.sensor_id);
        self.fold_from(reading, now, &topic, None, out)
    }

    /// When the next emit is due (`None` before the first call to [`Engine::tick`]).
    pub fn next_emit(&self) -> Option<Timestamp> {
        self.next_emit
    }

    /// Emits if the cadence says so; call it often (every few hundred milliseconds).
    pub fn tick(&mut self, now: Timestamp, out: &mut Vec<Publish>) {
        let every = self.settings.emit_every_ms as i64 * 1_000_000;
        match self.next_emit {
            None => self.next_emit = Some(now.add_nanos(every)),
            Some(due) if now >= due => {
                self.emit(now, out);
                let mut next = due;
                while next <= now {
                    next = next.add_nanos(every);
                }
                self.next_emit = Some(next);
            }
            Some(_) => {}
        }
        self.forget_silent(now, out);
    }
}

/// A whole second as a timestamp (window bounds).
fn seconds(unix_secs: i64) -> Timestamp {
    Timestamp::new(unix_secs, 0).unwrap_or(Timestamp::UNIX_EPOCH)
}

//! The realtime core: a pure transform. Payloads (or parsed readings) and `now` go in; MQTT
//! messages to publish come out. No I/O, no clock reads, no threads: [`crate::service`] is its
//! async driver, and the tests drive it with made-up times.
//!
//! # What it keeps
//! Per sensor: where it is (its location and the neighbourhood found for it, so the polygons
//! are searched once per location, not per message), a short list of **panes** (see
//! [`crate::window`]) holding count/sum/min/max per quantity, fingerprints of its last readings
//! (to drop exact repeats), and the time of its newest reading.
//!
//! # What it publishes
//! At every emit (`emit_every_ms`):
//! - for each open window and neighbourhood that changed since the last emit, the
//!   [`NeighbourhoodAggregate`] (retained), older windows first so the retained message is the
//!   newest window. The mean weighs sensors equally: the mean of each sensor's mean;
//! - for each sensor with new readings, its [`SensorRolling`] statistics (retained);
//! - neighbourhood alerts, evaluated on the mean of the newest window with data.
//!
//! At once: an [`ErrorReport`] for a refused payload, a late reading, a sensor that lies outside
//! every neighbourhood, or a reading whose id differs from its topic's (at most one per sensor
//! per second; the others are counted); sensor alerts as readings cross their threshold.
//!
//! Performance: folding a reading is a hash lookup of the sensor id, a comparison of its
//! location with the cached one, and an update of the newest pane; the aggregation over all
//! sensors runs only at emit time (every few seconds), not per reading.

use std::collections::{BTreeMap, VecDeque};

use garonne_neighbourhoods::Neighbourhoods;
use garonne_payload::{
    Alert, AlertScope, AlertState, ErrorReport, Limits, NeighbourhoodAggregate, Payload, Quantity,
    Reading, Rule, SPEC_VERSION, SensorRolling, Timestamp, Topic, Topics, Violation, WindowStats,
    is_valid_sensor_id, parse_payload,
};
use rustc_hash::FxHashMap;

use crate::alerts::{AlertRule, ScopeKind, Track, Transition};
use crate::metrics::Counters;
use crate::window::{Acc, Clock};

/// The area index of a sensor outside every neighbourhood.
pub(crate) const OUTSIDE: u32 = u32::MAX;

/// How many recent readings of each sensor are remembered to recognise repeats.
pub(crate) const RECENT: usize = 16;

/// Error reports per sensor are at most one per this many nanoseconds.
const REPORT_INTERVAL_NANOS: i64 = 1_000_000_000;

/// Past this many entries, the error-report limiter forgets everyone (bounded memory under a
/// flood of made-up sensor ids).
const MAX_REPORT_KEYS: usize = 100_000;

/// Bytes of a refused payload quoted in its error report.
const EXCERPT_BYTES: usize = 256;

/// Most problems listed in one error report (a SenML pack of 5000 bad records has 5000); the
/// last entry then says how many more there were.
const MAX_REPORTED: usize = 20;

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
}

/// Count, sum, min, max per quantity, for one pane of one sensor in one neighbourhood.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Pane {
    /// Pane number (see [`Clock::pane_of`]).
    pub(crate) no: i64,
    /// Neighbourhood index, or [`OUTSIDE`].
    pub(crate) area: u32,
    /// Readings folded in.
    pub(crate) readings: u32,
    /// Per quantity, by [`Quantity::index`].
    pub(crate) accs: [Acc; Quantity::COUNT],
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
}

/// Statistics of one quantity across the sensors of one neighbourhood and window.
#[derive(Debug, Clone, Copy)]
struct AreaStats {
    sensors: u32,
    sum_of_means: f64,
    min: f64,
    max: f64,
    readings: u64,
}

impl Default for AreaStats {
    fn default() -> AreaStats {
        AreaStats {
            sensors: 0,
            sum_of_means: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            readings: 0,
        }
    }
}

/// One neighbourhood in one window, while aggregating.
#[derive(Debug, Clone, Default)]
struct AreaWindow {
    readings: u64,
    quantities: [AreaStats; Quantity::COUNT],
}

/// The realtime core.
pub struct Engine {
    pub(crate) areas: Neighbourhoods,
    topics: Topics,
    pub(crate) settings: Settings,
    pub(crate) clock: Clock,
    pub(crate) rules: Vec<AlertRule>,
    pub(crate) sensors: Vec<Sensor>,
    pub(crate) index: FxHashMap<String, u32>,
    /// Alert state per (rule index, scope index: neighbourhood or sensor index).
    pub(crate) tracks: FxHashMap<(u32, u32), Track>,
    /// Readings count of each (window, neighbourhood) at its last publication.
    published: FxHashMap<(i64, u32), u64>,
    last_report: FxHashMap<String, Timestamp>,
    next_emit: Option<Timestamp>,
    pub(crate) counters: Counters,
}

impl Engine {
    /// A core over these neighbourhoods. `rules` must have passed [`AlertRule::problem`].
    pub fn new(
        areas: Neighbourhoods,
        settings: Settings,
        rules: Vec<AlertRule>,
        topics: Topics,
    ) -> Engine {
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
                    let violation = Violation::new(
                        if matches!(parsed, Payload::Reading(_)) {
                            "/sensor_id"
                        } else {
                            ""
                        },
                        Rule::SensorMismatch,
                        format!(
                            "the payload is from sensor \"{}\" but was published on the topic of \
                             sensor \"{topic_sensor}\"",
                            first.sensor_id
                        ),
                        format!(
                            "publish on {} (a sensor publishes only under its own id)",
                            self.topics.reading(&first.sensor_id)
                        ),
                    );
                    // The topic's owner hears of it; if the topic's id is not a sensor id,
                    // there is no owner, and the payload's sender hears of it instead.
                    let owner = if is_valid_sensor_id(topic_sensor) {
                        topic_sensor
                    } else {
                        first.sensor_id.as_str()
                    };
                    self.reject(topic, Some(owner), payload, vec![violation], now, out);
                    return;
                }
                for reading in readings {
                    self.fold_from(reading, now, topic, Some(payload), out);
                }
            }
            Err(invalid) => {
                let id = sender_of(payload, topic_sensor);
                self.reject(topic, id.as_deref(), payload, invalid.violations, now, out);
            }
        }
    }

    /// Folds one valid reading (the fast path of [`Engine::handle`], and what the benchmark
    /// measures). Returns what became of it.
    pub fn fold(&mut self, reading: &Reading, now: Timestamp, out: &mut Vec<Publish>) -> Outcome {
        let topic = self.topics.reading(&reading.sensor_id);
        self.fold_from(reading, now, &topic, None, out)
    }

    fn fold_from(
        &mut self,
        reading: &Reading,
        now: Timestamp,
        topic: &str,
        payload: Option<&[u8]>,
        out: &mut Vec<Publish>,
    ) -> Outcome {
        let now_secs = now.unix_secs();
        let secs = reading.time.unix_secs();
        if secs > now_secs + i64::from(self.settings.limits.max_future_skew_secs) {
            self.counters.reject(Rule::ClockSkew);
            return Outcome::Future;
        }
        let pane_no = self.clock.pane_of(secs);
        let window = self.clock.window_of_pane(pane_no);
        if self.clock.is_closed(window, now_secs) {
            self.counters.reject(Rule::Late);
            let violation = Violation::new(
                "/time",
                Rule::Late,
                format!(
                    "the reading of {} arrived {:.0} s after it was measured, after its window \
                     {}–{} closed",
                    reading.time,
                    now.secs_since(reading.time),
                    seconds(self.clock.window_start(window)),
                    seconds(self.clock.window_end(window)),
                ),
                format!(
                    "send readings within {} s of the end of their {}-second window (check \
                     the sensor's clock and its connection)",
                    self.settings.lateness_secs,
                    self.clock.window_secs()
                ),
            );
            let encoded;
            let bytes = match payload {
                Some(p) => p,
                None => {
                    encoded = reading.to_json();
                    &encoded
                }
            };
            self.reject(
                topic,
                Some(&reading.sensor_id),
                bytes,
                vec![violation],
                now,
                out,
            );
            return Outcome::Late;
        }

        let s = match self.index.get(reading.sensor_id.as_str()) {
            Some(&s) => s as usize,
            None => {
                let s = self.sensors.len();
                self.sensors.push(Sensor::new(&reading.sensor_id));
                self.index.insert(reading.sensor_id.clone(), s as u32);
                s
            }
        };

        let fingerprint = fingerprint(reading);
        {
            let sensor = &mut self.sensors[s];
            if sensor.recent.contains(&fingerprint) {
                self.counters.duplicates += 1;
                return Outcome::Duplicate;
            }
            sensor.recent[sensor.recent_next] = fingerprint;
            sensor.recent_next = (sensor.recent_next + 1) % RECENT;
        }

        let (lon, lat) = (reading.location.lon, reading.location.lat);
        let area = match self.sensors[s].place {
            Some(p) if p.lon == lon && p.lat == lat => p.area,
            _ => {
                let area = self.areas.locate(lon, lat).map_or(OUTSIDE, |a| a as u32);
                self.sensors[s].place = Some(Place { lon, lat, area });
                if area == OUTSIDE {
                    let violation = Violation::new(
                        "/location",
                        Rule::OutsideArea,
                        format!(
                            "lon {lon}, lat {lat} lies outside every neighbourhood of {}: the \
                             reading counts for the sensor's rolling statistics, for no \
                             neighbourhood",
                            self.areas.source()
                        ),
                        "check the coordinates (longitude first, then latitude, in degrees) \
                         and that the sensor stands inside the mapped area",
                    );
                    let encoded;
                    let bytes = match payload {
                        Some(p) => p,
                        None => {
                            encoded = reading.to_json();
                            &encoded
                        }
                    };
                    self.report(
                        topic,
                        Some(&reading.sensor_id),
                        bytes,
                        vec![violation],
                        now,
                        out,
                    );
                }
                area
            }
        };
        if area == OUTSIDE {
            self.counters.outside += 1;
        }

        let clock = self.clock;
        let sensor = &mut self.sensors[s];
        while sensor
            .panes
            .front()
            .is_some_and(|p| clock.is_expired(p.no, now_secs))
        {
            sensor.panes.pop_front();
        }
        let pane = pane_for(&mut sensor.panes, pane_no, area);
        pane.readings += 1;
        for (q, v) in reading.quantities.iter() {
            pane.accs[q.index()].add(v);
        }
        sensor.rolling_dirty = true;
        if sensor.newest.is_none_or(|t| reading.time > t) {
            sensor.newest = Some(reading.time);
        }
        self.counters.readings += 1;
        self.counters
            .observe_lag(now.secs_since(reading.time).max(0.0));

        if self.rules.iter().any(|r| r.scope == ScopeKind::Sensor) {
            self.check_sensor_rules(s, reading, now, out);
        }
        Outcome::Folded
    }

    fn check_sensor_rules(
        &mut self,
        s: usize,
        reading: &Reading,
        now: Timestamp,
        out: &mut Vec<Publish>,
    ) {
        for r in 0..self.rules.len() {
            let rule = &self.rules[r];
            if rule.scope != ScopeKind::Sensor {
                continue;
            }
            let Some(value) = reading.quantities.get(rule.quantity) else {
                continue;
            };
            let track = self.tracks.entry((r as u32, s as u32)).or_default();
            if let Some(t) = track.observe(rule, value, reading.time) {
                let scope = AlertScope::Sensor(reading.sensor_id.clone());
                self.publish_alert(r, scope, t, value, reading.time, now, out);
            }
        }
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
    }

    /// Computes and publishes what changed: aggregates, rolling statistics, neighbourhood
    /// alerts. [`Engine::tick`] calls it on cadence; the driver calls it once more at shutdown.
    pub fn emit(&mut self, now: Timestamp, out: &mut Vec<Publish>) {
        let clock = self.clock;
        let now_secs = now.unix_secs();
        let lo = clock.oldest_open(now_secs);
        let skew = i64::from(self.settings.limits.max_future_skew_secs);
        let hi = clock.window_of(now_secs + skew).max(lo);
        let n_areas = self.areas.len();
        let n_windows = (hi - lo + 1) as usize;
        let mut table = vec![AreaWindow::default(); n_windows * n_areas];
        let rolling_lo = clock.rolling_start(now_secs);
        // One sensor's share of each (window, neighbourhood): usually one entry.
        let mut parts: Vec<(usize, u32, [Acc; Quantity::COUNT])> = Vec::new();

        for s in 0..self.sensors.len() {
            let sensor = &mut self.sensors[s];
            while sensor
                .panes
                .front()
                .is_some_and(|p| clock.is_expired(p.no, now_secs))
            {
                sensor.panes.pop_front();
            }
            parts.clear();
            let mut rolling = [Acc::EMPTY; Quantity::COUNT];
            for pane in &sensor.panes {
                let w = clock.window_of_pane(pane.no);
                if pane.area != OUTSIDE && (lo..=hi).contains(&w) {
                    let slot = (w - lo) as usize * n_areas + pane.area as usize;
                    let i = match parts.iter().position(|p| p.0 == slot) {
                        Some(i) => i,
                        None => {
                            parts.push((slot, 0, [Acc::EMPTY; Quantity::COUNT]));
                            parts.len() - 1
                        }
                    };
                    parts[i].1 += pane.readings;
                    for (acc, add) in parts[i].2.iter_mut().zip(&pane.accs) {
                        acc.merge(add);
                    }
                }
                if sensor.rolling_dirty && pane.no >= rolling_lo {
                    for (acc, add) in rolling.iter_mut().zip(&pane.accs) {
                        acc.merge(add);
                    }
                }
            }
            for (slot, readings, accs) in &parts {
                let cell = &mut table[*slot];
                cell.readings += u64::from(*readings);
                for (stats, acc) in cell.quantities.iter_mut().zip(accs) {
                    if let Some(mean) = acc.mean() {
                        stats.sensors += 1;
                        stats.sum_of_means += mean;
                        stats.min = stats.min.min(acc.min);
                        stats.max = stats.max.max(acc.max);
                        stats.readings += u64::from(acc.count);
                    }
                }
            }
            if sensor.rolling_dirty {
                sensor.rolling_dirty = false;
                if self.settings.publish_rolling
                    && let Some(time) = sensor.newest
                {
                    let quantities = stats_map(rolling.iter().map(|acc| {
                        acc.mean().map(|mean| WindowStats {
                            mean,
                            min: acc.min,
                            max: acc.max,
                            readings: u64::from(acc.count),
                            sensors: 1,
                        })
                    }));
                    if !quantities.is_empty() {
                        let message = SensorRolling {
                            v: SPEC_VERSION,
                            sensor_id: sensor.id.clone(),
                            window_secs: clock.window_secs() as u32,
                            time,
                            quantities,
                        };
                        out.push(Publish {
                            topic: self.topics.rolling(&sensor.id),
                            payload: serde_json::to_vec(&message).unwrap_or_default(),
                            retain: true,
                        });
                        self.counters.rolling += 1;
                    }
                }
            }
        }

        // Oldest window first: the retained message left on each topic is the newest window.
        for w in lo..=hi {
            for a in 0..n_areas {
                let cell = &table[(w - lo) as usize * n_areas + a];
                if cell.readings == 0 || self.published.get(&(w, a as u32)) == Some(&cell.readings)
                {
                    continue;
                }
                self.published.insert((w, a as u32), cell.readings);
                let Some(area) = self.areas.get(a) else {
                    continue;
                };
                let message = NeighbourhoodAggregate {
                    v: SPEC_VERSION,
                    neighbourhood_id: area.id().to_owned(),
                    name: area.name().to_owned(),
                    window_start: seconds(clock.window_start(w)),
                    window_end: seconds(clock.window_end(w)),
                    emitted_at: now,
                    quantities: stats_map(cell.quantities.iter().map(area_stats)),
                };
                out.push(Publish {
                    topic: self.topics.aggregate(area.id()),
                    payload: serde_json::to_vec(&message).unwrap_or_default(),
                    retain: true,
                });
                self.counters.aggregates += 1;
            }
        }
        self.published.retain(|(w, _), _| *w >= lo);

        // Neighbourhood rules watch the newest window that has the quantity.
        for r in 0..self.rules.len() {
            if self.rules[r].scope != ScopeKind::Neighbourhood {
                continue;
            }
            let q = self.rules[r].quantity.index();
            for a in 0..n_areas {
                let newest = (0..n_windows)
                    .rev()
                    .map(|wi| &table[wi * n_areas + a].quantities[q])
                    .find(|st| st.sensors > 0);
                let Some(stats) = newest else { continue };
                let mean = stats.sum_of_means / f64::from(stats.sensors);
                let rule = &self.rules[r];
                let track = self.tracks.entry((r as u32, a as u32)).or_default();
                if let Some(t) = track.observe(rule, mean, now) {
                    let id = self
                        .areas
                        .get(a)
                        .map(|n| n.id().to_owned())
                        .unwrap_or_default();
                    self.publish_alert(r, AlertScope::Neighbourhood(id), t, mean, now, now, out);
                }
            }
        }
        self.counters.sensors = self.sensors.len() as u64;
        self.counters.active_alerts = self.tracks.values().filter(|t| t.raised).count() as u64;
    }

    #[allow(clippy::too_many_arguments)]
    fn publish_alert(
        &mut self,
        r: usize,
        scope: AlertScope,
        transition: Transition,
        value: f64,
        at: Timestamp,
        now: Timestamp,
        out: &mut Vec<Publish>,
    ) {
        let rule = &self.rules[r];
        let topic = self.topics.alert(&rule.name, &scope.topic_segment());
        let (state, since) = match transition {
            Transition::Raised { since } => (AlertState::Raised, since),
            Transition::Cleared => (AlertState::Cleared, at),
        };
        let message = Alert {
            v: SPEC_VERSION,
            rule: rule.name.clone(),
            scope,
            state,
            quantity: rule.quantity,
            comparison: rule.comparison,
            threshold: rule.threshold,
            value,
            since,
            time: now,
        };
        let payload = serde_json::to_vec(&message).unwrap_or_default();
        match state {
            AlertState::Raised => out.push(Publish {
                topic,
                payload,
                retain: true,
            }),
            AlertState::Cleared => {
                // Retained only while raised: the cleared message goes to those listening now,
                // then an empty retained message removes the raised one from the broker.
                out.push(Publish {
                    topic: topic.clone(),
                    payload,
                    retain: false,
                });
                out.push(Publish {
                    topic,
                    payload: Vec::new(),
                    retain: true,
                });
            }
        }
        self.counters.alerts += 1;
    }

    fn reject(
        &mut self,
        topic: &str,
        sensor_id: Option<&str>,
        payload: &[u8],
        violations: Vec<Violation>,
        now: Timestamp,
        out: &mut Vec<Publish>,
    ) {
        if let Some(first) = violations.first()
            && first.rule != Rule::Late
        {
            self.counters.reject(first.rule);
        }
        self.report(topic, sensor_id, payload, violations, now, out);
    }

    /// Publishes an error report, at most one per sensor per second.
    fn report(
        &mut self,
        topic: &str,
        sensor_id: Option<&str>,
        payload: &[u8],
        errors: Vec<Violation>,
        now: Timestamp,
        out: &mut Vec<Publish>,
    ) {
        let key = sensor_id.unwrap_or("unknown");
        if let Some(last) = self.last_report.get(key)
            && (now.unix_nanos() - last.unix_nanos()) < i128::from(REPORT_INTERVAL_NANOS)
        {
            self.counters.error_reports_suppressed += 1;
            return;
        }
        if self.last_report.len() >= MAX_REPORT_KEYS {
            self.last_report.clear();
        }
        self.last_report.insert(key.to_owned(), now);
        let mut errors = errors;
        if errors.len() > MAX_REPORTED {
            let more = errors.len() - (MAX_REPORTED - 1);
            errors.truncate(MAX_REPORTED - 1);
            let rule = errors.last().map_or(Rule::JsonSyntax, |v| v.rule);
            errors.push(Violation::new(
                "",
                rule,
                format!("and {more} more problems, not listed"),
                "fix the problems above and check the payload again with \
                 `garonne payload validate`, which lists every one",
            ));
        }
        let excerpt = &payload[..payload.len().min(EXCERPT_BYTES)];
        let message = ErrorReport {
            v: SPEC_VERSION,
            sensor_id: sensor_id.map(str::to_owned),
            topic: topic.to_owned(),
            received_at: now,
            errors,
            excerpt: String::from_utf8_lossy(excerpt).into_owned(),
        };
        out.push(Publish {
            topic: self.topics.error(key),
            payload: serde_json::to_vec(&message).unwrap_or_default(),
            retain: false,
        });
        self.counters.error_reports += 1;
    }
}

/// The pane `(no, area)` of a sensor, created in order if missing. Searched from the newest:
/// nearly every reading goes to the last pane.
fn pane_for(panes: &mut VecDeque<Pane>, no: i64, area: u32) -> &mut Pane {
    let key = (no, area);
    let mut i = panes.len();
    while i > 0 && (panes[i - 1].no, panes[i - 1].area) > key {
        i -= 1;
    }
    if i > 0 && (panes[i - 1].no, panes[i - 1].area) == key {
        return &mut panes[i - 1];
    }
    panes.insert(i, empty_pane(no, area));
    &mut panes[i]
}

fn empty_pane(no: i64, area: u32) -> Pane {
    Pane {
        no,
        area,
        readings: 0,
        accs: [Acc::EMPTY; Quantity::COUNT],
    }
}

/// A reading's identity for repeat detection: its sequence number and time.
fn fingerprint(reading: &Reading) -> u64 {
    // splitmix64 of the two; 0 never comes out for a real reading in practice, and an empty
    // ring slot holding 0 could only match a reading whose fingerprint is 0.
    let mut x = reading.seq ^ (reading.time.unix_nanos() as u64).rotate_left(29);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    (x ^ (x >> 31)) | 1
}

fn area_stats(stats: &AreaStats) -> Option<WindowStats> {
    (stats.sensors > 0).then(|| WindowStats {
        mean: stats.sum_of_means / f64::from(stats.sensors),
        min: stats.min,
        max: stats.max,
        readings: stats.readings,
        sensors: stats.sensors,
    })
}

fn stats_map(
    per_quantity: impl Iterator<Item = Option<WindowStats>>,
) -> BTreeMap<Quantity, WindowStats> {
    Quantity::ALL
        .into_iter()
        .zip(per_quantity)
        .filter_map(|(q, s)| s.map(|s| (q, s)))
        .collect()
}

fn seconds(unix_secs: i64) -> Timestamp {
    Timestamp::new(unix_secs, 0).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// The sender of a refused payload: the `sensor_id` it carries, if valid; else its topic's id,
/// if valid; else nobody known.
fn sender_of(payload: &[u8], topic_sensor: &str) -> Option<String> {
    let from_payload = serde_json::from_slice::<serde_json::Value>(payload)
        .ok()
        .and_then(|v| match v {
            serde_json::Value::Object(mut o) => match o.remove("sensor_id") {
                Some(serde_json::Value::String(id)) => Some(id),
                _ => None,
            },
            // A SenML pack: the base name of its first record, `{sensor_id}:`.
            serde_json::Value::Array(records) => records
                .first()
                .and_then(|r| r.get("bn"))
                .and_then(|bn| bn.as_str())
                .and_then(|bn| bn.split(':').next())
                .map(str::to_owned),
            _ => None,
        })
        .filter(|id| is_valid_sensor_id(id));
    from_payload.or_else(|| is_valid_sensor_id(topic_sensor).then(|| topic_sensor.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use garonne_neighbourhoods::Properties;
    use garonne_payload::{Comparison, Location, Source};

    /// Two unit squares side by side: "west" (lon 0–1) and "east" (lon 1–2), lat 0–1.
    fn squares() -> Neighbourhoods {
        let square = |id: &str, x: f64| {
            format!(
                r#"{{"type":"Feature","properties":{{"id":"{id}","name":"{id} side"}},
                "geometry":{{"type":"Polygon","coordinates":[[[{x},0],[{x1},0],[{x1},1],[{x},1],[{x},0]]]}}}}"#,
                x1 = x + 1.0
            )
        };
        let json = format!(
            r#"{{"type":"FeatureCollection","features":[{},{}]}}"#,
            square("west", 0.0),
            square("east", 1.0)
        );
        Neighbourhoods::from_slice(json.as_bytes(), "squares", &Properties::new("id", "name"))
            .expect("valid squares")
    }

    /// 2025-11-21T10:00:00Z: the start of a 15-minute window.
    const T0: i64 = 1_763_719_200;

    fn at(secs: i64) -> Timestamp {
        Timestamp::new(T0 + secs, 0).expect("valid time")
    }

    fn engine(rules: Vec<AlertRule>) -> Engine {
        Engine::new(squares(), Settings::default(), rules, Topics::default())
    }

    fn reading(sensor: &str, secs: i64, seq: u64, lon: f64, temperature: f64) -> Reading {
        let mut r = Reading::new(
            sensor,
            "bme280",
            Source::RaspberryPi,
            at(secs),
            seq,
            Location::new(lon, 0.5),
        );
        r.quantities.set(Quantity::Temperature, temperature);
        r
    }

    /// The aggregates in `out`, decoded, in publication order.
    fn aggregates(out: &[Publish]) -> Vec<NeighbourhoodAggregate> {
        out.iter()
            .filter(|p| p.topic.ends_with("/aggregate"))
            .map(|p| serde_json::from_slice(&p.payload).expect("aggregate JSON"))
            .collect()
    }

    fn errors(out: &[Publish]) -> Vec<(String, ErrorReport)> {
        out.iter()
            .filter(|p| p.topic.contains("/errors/"))
            .map(|p| {
                let report = serde_json::from_slice(&p.payload).expect("error report JSON");
                (p.topic.clone(), report)
            })
            .collect()
    }

    fn temperature(a: &NeighbourhoodAggregate) -> WindowStats {
        a.quantities[&Quantity::Temperature]
    }

    #[test]
    fn the_mean_weighs_sensors_equally_and_min_max_counts_are_exact() {
        let mut e = engine(Vec::new());
        let mut out = Vec::new();
        // Sensor a reports 10, 11, 12; sensor b once, 20. Per reading the mean would be 13.25.
        for (i, v) in [10.0, 11.0, 12.0].into_iter().enumerate() {
            let r = reading("a", 10 + i as i64, i as u64, 0.5, v);
            assert_eq!(e.fold(&r, at(60), &mut out), Outcome::Folded);
        }
        e.fold(&reading("b", 20, 0, 0.25, 20.0), at(60), &mut out);
        e.emit(at(60), &mut out);
        let aggs = aggregates(&out);
        assert_eq!(aggs.len(), 1);
        let a = &aggs[0];
        assert_eq!(a.neighbourhood_id, "west");
        assert_eq!((a.window_start, a.window_end), (at(0), at(900)));
        assert_eq!(
            temperature(a),
            WindowStats {
                mean: 15.5,
                min: 10.0,
                max: 20.0,
                readings: 4,
                sensors: 2
            }
        );
    }

    #[test]
    fn readings_are_judged_by_their_own_time_against_now() {
        // Window 10:00–10:15 closes for good at 10:17 (lateness 2 min). Each case folds one
        // reading stamped `time` at `now` into a fresh core.
        let cases = [
            ("in its window", 100, 200, Outcome::Folded),
            (
                "out of order but within lateness",
                899,
                900 + 119,
                Outcome::Folded,
            ),
            ("after the window closed", 899, 900 + 120, Outcome::Late),
            ("far too old", -3600, 60, Outcome::Late),
            (
                "ahead within the clock-skew bound",
                180,
                60,
                Outcome::Folded,
            ),
            (
                "ahead beyond the clock-skew bound",
                181,
                60,
                Outcome::Future,
            ),
        ];
        for (name, time, now, expected) in cases {
            let mut e = engine(Vec::new());
            let mut out = Vec::new();
            let outcome = e.fold(&reading("a", time, 1, 0.5, 12.0), at(now), &mut out);
            assert_eq!(outcome, expected, "{name}");
            let reports = errors(&out);
            if expected == Outcome::Late {
                assert_eq!(e.counters().rejected(Rule::Late), 1, "{name}");
                assert_eq!(reports.len(), 1, "{name}: a late reading is reported");
                assert_eq!(reports[0].0, "garonne/v1/errors/a");
                assert_eq!(reports[0].1.errors[0].rule, Rule::Late);
                assert_eq!(reports[0].1.errors[0].pointer, "/time");
            } else {
                assert!(reports.is_empty(), "{name}: {reports:?}");
            }
        }
    }

    #[test]
    fn a_late_but_allowed_reading_updates_the_previous_window_then_the_current_one_is_retained() {
        let mut e = engine(Vec::new());
        let mut out = Vec::new();
        e.fold(&reading("a", 100, 1, 0.5, 10.0), at(100), &mut out);
        e.fold(&reading("a", 905, 2, 0.5, 14.0), at(905), &mut out);
        e.emit(at(905), &mut out);
        out.clear();
        // At 10:16 a reading of 10:14 arrives: window 10:00 is still open.
        e.fold(&reading("b", 840, 1, 0.5, 20.0), at(960), &mut out);
        e.fold(&reading("b", 950, 2, 0.5, 22.0), at(960), &mut out);
        e.emit(at(960), &mut out);
        let aggs = aggregates(&out);
        let windows: Vec<_> = aggs.iter().map(|a| a.window_start).collect();
        assert_eq!(
            windows,
            [at(0), at(900)],
            "older window first, newest retained last"
        );
        assert_eq!(temperature(&aggs[0]).mean, 15.0);
        assert_eq!(temperature(&aggs[1]).mean, 18.0);
    }

    #[test]
    fn only_what_changed_is_published_again() {
        let mut e = engine(Vec::new());
        let mut out = Vec::new();
        e.fold(&reading("a", 10, 1, 0.5, 10.0), at(10), &mut out);
        e.fold(&reading("b", 10, 1, 1.5, 10.0), at(10), &mut out);
        e.emit(at(10), &mut out);
        assert_eq!(aggregates(&out).len(), 2);
        out.clear();
        e.fold(&reading("b", 11, 2, 1.5, 11.0), at(11), &mut out);
        e.emit(at(12), &mut out);
        let ids: Vec<_> = aggregates(&out)
            .into_iter()
            .map(|a| a.neighbourhood_id)
            .collect();
        assert_eq!(ids, ["east"]);
        let rolling: Vec<_> = out
            .iter()
            .filter(|p| p.topic.ends_with("/rolling"))
            .collect();
        assert_eq!(rolling.len(), 1, "only sensor b has new readings");
        assert_eq!(rolling[0].topic, "garonne/v1/sensors/b/rolling");
        out.clear();
        e.emit(at(13), &mut out);
        assert!(out.is_empty(), "nothing new, nothing published: {out:?}");
    }

    #[test]
    fn repeats_are_dropped_and_a_sensor_is_located_once_per_location() {
        let mut e = engine(Vec::new());
        let mut out = Vec::new();
        let r = reading("a", 10, 7, 0.5, 10.0);
        assert_eq!(e.fold(&r, at(10), &mut out), Outcome::Folded);
        assert_eq!(e.fold(&r, at(11), &mut out), Outcome::Duplicate);
        // Same seq, another time (a rebooted device): not a repeat.
        assert_eq!(
            e.fold(&reading("a", 12, 7, 0.5, 10.0), at(12), &mut out),
            Outcome::Folded
        );
        assert_eq!(e.counters().duplicates, 1);
        assert_eq!(e.sensors[0].place.map(|p| p.area), Some(0));
        // The sensor moves east: found again, and its readings count there from now on.
        e.fold(&reading("a", 13, 8, 1.5, 30.0), at(13), &mut out);
        assert_eq!(e.sensors[0].place.map(|p| p.area), Some(1));
        e.emit(at(20), &mut out);
        let aggs = aggregates(&out);
        let by_id: BTreeMap<_, _> = aggs
            .iter()
            .map(|a| (a.neighbourhood_id.as_str(), temperature(a)))
            .collect();
        assert_eq!((by_id["west"].readings, by_id["west"].sensors), (2, 1));
        assert_eq!((by_id["east"].readings, by_id["east"].mean), (1, 30.0));
    }

    #[test]
    fn a_sensor_outside_every_neighbourhood_is_counted_reported_once_and_rolled() {
        let mut e = engine(Vec::new());
        let mut out = Vec::new();
        for seq in 0..3 {
            e.fold(
                &reading("far", 10 + seq as i64, seq, 5.0, 10.0),
                at(20),
                &mut out,
            );
        }
        assert_eq!(e.counters().outside, 3);
        let reports = errors(&out);
        assert_eq!(reports.len(), 1, "reported when located, not per reading");
        assert_eq!(reports[0].1.errors[0].rule, Rule::OutsideArea);
        assert_eq!(reports[0].1.errors[0].pointer, "/location");
        out.clear();
        e.emit(at(20), &mut out);
        assert!(aggregates(&out).is_empty());
        let rolling: SensorRolling = serde_json::from_slice(&out[0].payload).expect("rolling JSON");
        assert_eq!(rolling.quantities[&Quantity::Temperature].readings, 3);
    }

    #[test]
    fn every_refused_payload_gets_a_report_on_its_senders_error_topic() {
        let good = String::from_utf8(reading("pi-1", 10, 1, 0.5, 12.0).to_json()).expect("utf8");
        let cases = [
            // (topic sensor, payload, error topic, sensor_id in the report, rule)
            (
                "pi-1",
                "not json".to_owned(),
                "pi-1",
                Some("pi-1"),
                Rule::JsonSyntax,
            ),
            (
                "pi-1",
                good.replace("12.0", "99.0"),
                "pi-1",
                Some("pi-1"),
                Rule::Range,
            ),
            (
                "pi-2",
                good.clone(),
                "pi-2",
                Some("pi-2"),
                Rule::SensorMismatch,
            ),
            // No usable id anywhere: reported all the same, on errors/unknown.
            ("bad id", "{}".to_owned(), "unknown", None, Rule::Required),
        ];
        for (topic_sensor, payload, error_topic, sender, rule) in cases {
            let mut e = engine(Vec::new());
            let mut out = Vec::new();
            let topic = format!("garonne/v1/sensors/{topic_sensor}/reading");
            e.handle(&topic, payload.as_bytes(), at(20), &mut out);
            let reports = errors(&out);
            assert_eq!(reports.len(), 1, "{payload}");
            let (t, report) = &reports[0];
            assert_eq!(t, &format!("garonne/v1/errors/{error_topic}"), "{payload}");
            assert_eq!(report.sensor_id.as_deref(), sender, "{payload}");
            assert_eq!(report.topic, topic);
            assert_eq!(report.errors[0].rule, rule, "{payload}");
            assert!(!report.errors[0].hint.is_empty());
            assert!(payload.starts_with(&report.excerpt));
            assert_eq!(e.counters().rejected(rule), 1, "{payload}");
            assert_eq!(e.counters().readings, 0, "nothing refused touches a window");
        }
        // And a good one on its own topic folds.
        let mut e = engine(Vec::new());
        let mut out = Vec::new();
        e.handle(
            "garonne/v1/sensors/pi-1/reading",
            good.as_bytes(),
            at(20),
            &mut out,
        );
        assert_eq!(e.counters().readings, 1);
        e.handle("garonne/v1/alerts/x/y", b"{}", at(20), &mut out);
        assert_eq!(e.counters().ignored, 1);
    }

    #[test]
    fn an_error_report_lists_at_most_twenty_problems() {
        let mut e = engine(Vec::new());
        let mut out = Vec::new();
        let records: Vec<String> = (0..100)
            .map(|i| {
                format!(
                    r#"{{"n":"pi-1:temperature","u":"Cel","v":{},"t":{i}}}"#,
                    900 + i
                )
            })
            .collect();
        let pack = format!("[{}]", records.join(","));
        e.handle(
            "garonne/v1/sensors/pi-1/senml",
            pack.as_bytes(),
            at(20),
            &mut out,
        );
        let reports = errors(&out);
        let listed = &reports[0].1.errors;
        assert_eq!(listed.len(), MAX_REPORTED);
        assert!(
            listed[MAX_REPORTED - 1].message.contains("more problems"),
            "{listed:?}"
        );
        assert!(out[0].payload.len() < 16 * 1024);
    }

    #[test]
    fn error_reports_are_limited_to_one_per_sensor_per_second() {
        let mut e = engine(Vec::new());
        let mut out = Vec::new();
        let topic = "garonne/v1/sensors/pi-1/reading";
        e.handle(topic, b"x", at(20), &mut out);
        e.handle(topic, b"x", at(20).add_nanos(999_999_999), &mut out);
        e.handle(topic, b"x", at(21), &mut out);
        assert_eq!(errors(&out).len(), 2);
        assert_eq!(e.counters().error_reports_suppressed, 1);
        assert_eq!(e.counters().rejected(Rule::JsonSyntax), 3, "all counted");
    }

    #[test]
    fn a_senml_pack_folds_each_of_its_readings() {
        let mut e = engine(Vec::new());
        let mut out = Vec::new();
        let readings = [
            reading("pi-1", 10, 1, 0.5, 10.0),
            reading("pi-1", 11, 2, 0.5, 14.0),
        ];
        let pack = garonne_payload::encode_senml(&readings).expect("encodable");
        e.handle("garonne/v1/sensors/pi-1/senml", &pack, at(20), &mut out);
        assert_eq!(e.counters().readings, 2);
        e.emit(at(20), &mut out);
        assert_eq!(temperature(&aggregates(&out)[0]).mean, 12.0);
    }

    #[test]
    fn neighbourhood_alerts_raise_after_their_duration_and_clear_with_the_retained_message() {
        let rule = AlertRule {
            name: "heat".into(),
            quantity: Quantity::Temperature,
            scope: ScopeKind::Neighbourhood,
            comparison: Comparison::Above,
            threshold: 30.0,
            for_secs: 10,
            hysteresis: 1.0,
        };
        let mut e = engine(vec![rule]);
        let mut out = Vec::new();
        let alerts = |out: &[Publish]| -> Vec<(bool, usize)> {
            out.iter()
                .filter(|p| p.topic == "garonne/v1/alerts/heat/neighbourhood-west")
                .map(|p| (p.retain, p.payload.len()))
                .collect()
        };
        e.fold(&reading("a", 0, 1, 0.5, 35.0), at(0), &mut out);
        e.emit(at(1), &mut out);
        assert!(alerts(&out).is_empty(), "not yet held 10 s");
        e.emit(at(11), &mut out);
        let raised = alerts(&out);
        assert_eq!(raised.len(), 1);
        assert!(raised[0].0, "retained while raised");
        let alert: Alert =
            serde_json::from_slice(&out.last().expect("alert").payload).expect("alert JSON");
        assert_eq!(
            (alert.state, alert.since, alert.value),
            (AlertState::Raised, at(1), 35.0)
        );
        assert_eq!(e.counters().active_alerts, 1);
        out.clear();
        // A second sensor brings the mean to 29.5: inside the hysteresis band, still raised.
        e.fold(&reading("b", 12, 1, 0.5, 24.0), at(12), &mut out);
        e.emit(at(12), &mut out);
        assert!(alerts(&out).is_empty());
        // Then to 28.5: cleared; the cleared message is not retained, and an empty retained
        // message removes the raised one.
        e.fold(&reading("b", 13, 2, 0.5, 20.0), at(13), &mut out);
        e.emit(at(13), &mut out);
        let cleared = alerts(&out);
        assert_eq!(cleared.len(), 2);
        assert!(!cleared[0].0 && cleared[0].1 > 0);
        assert_eq!(cleared[1], (true, 0));
        assert_eq!(e.counters().active_alerts, 0);
    }

    #[test]
    fn sensor_alerts_follow_each_reading() {
        let rule = AlertRule {
            name: "frost".into(),
            quantity: Quantity::Temperature,
            scope: ScopeKind::Sensor,
            comparison: Comparison::Below,
            threshold: 0.0,
            for_secs: 0,
            hysteresis: 0.5,
        };
        let mut e = engine(vec![rule]);
        let mut out = Vec::new();
        e.fold(&reading("pi-1", 10, 1, 0.5, -1.0), at(10), &mut out);
        let topics: Vec<_> = out.iter().map(|p| p.topic.as_str()).collect();
        assert_eq!(topics, ["garonne/v1/alerts/frost/sensor-pi-1"]);
        out.clear();
        e.fold(&reading("pi-1", 11, 2, 0.5, 0.6), at(11), &mut out);
        assert_eq!(out.len(), 2, "cleared, then the retained alert removed");
    }

    #[test]
    fn a_snapshot_restores_the_same_aggregates() {
        let rule = AlertRule {
            name: "heat".into(),
            quantity: Quantity::Temperature,
            scope: ScopeKind::Neighbourhood,
            comparison: Comparison::Above,
            threshold: 30.0,
            for_secs: 0,
            hysteresis: 0.0,
        };
        let mut before = engine(vec![rule.clone()]);
        let mut out = Vec::new();
        for (i, (sensor, lon, v)) in [
            ("a", 0.5, 31.0),
            ("b", 0.2, 33.0),
            ("c", 1.5, 12.0),
            ("far", 9.0, 1.0),
        ]
        .into_iter()
        .enumerate()
        {
            before.fold(
                &reading(sensor, 100 + i as i64, 1, lon, v),
                at(200),
                &mut out,
            );
        }
        before.emit(at(200), &mut out);
        let expected = aggregates(&out);
        assert_eq!(before.counters().active_alerts, 1);

        let json = serde_json::to_vec(&before.snapshot(at(200))).expect("serialise");
        let snapshot: crate::Snapshot = serde_json::from_slice(&json).expect("read back");
        let mut after = engine(vec![rule]);
        let restored = after.restore(snapshot);
        assert_eq!(
            (restored.sensors, restored.panes, restored.alerts),
            (4, 4, 1)
        );
        let mut out = Vec::new();
        after.emit(at(200), &mut out);
        assert_eq!(
            aggregates(&out)
                .into_iter()
                .map(|mut a| {
                    a.emitted_at = at(200);
                    a
                })
                .collect::<Vec<_>>(),
            expected
                .into_iter()
                .map(|mut a| {
                    a.emitted_at = at(200);
                    a
                })
                .collect::<Vec<_>>()
        );
        assert!(
            !out.iter().any(|p| p.topic.contains("/alerts/")),
            "a restored raised alert is not raised twice"
        );
        // A repeat of a reading from before the restart is still recognised.
        assert_eq!(
            after.fold(&reading("a", 100, 1, 0.5, 31.0), at(201), &mut out),
            Outcome::Duplicate
        );
        // With another window length, panes cannot be re-cut: dropped, and said so.
        let mut other = Engine::new(
            squares(),
            Settings {
                window_secs: 600,
                ..Settings::default()
            },
            Vec::new(),
            Topics::default(),
        );
        let restored = other.restore(before.snapshot(at(200)));
        assert_eq!(
            (
                restored.panes,
                restored.dropped_panes,
                restored.dropped_alerts
            ),
            (0, 4, 1)
        );
    }

    #[test]
    fn panes_expire_so_memory_stays_flat() {
        let mut e = engine(Vec::new());
        let mut out = Vec::new();
        // One reading a minute for three hours.
        for minute in 0..180 {
            let t = minute * 60;
            e.fold(&reading("a", t, minute as u64, 0.5, 10.0), at(t), &mut out);
        }
        e.emit(at(180 * 60), &mut out);
        // Rolling range (5 panes) plus the panes of a window still in its lateness: at most 6.
        assert!(
            e.sensors[0].panes.len() <= 6,
            "{}",
            e.sensors[0].panes.len()
        );
    }
}

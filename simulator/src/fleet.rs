//! The fleet: every sensor the simulator emulates, and what each publishes when. A pure
//! transform: the open data, the configuration and `now` in, MQTT messages out; no I/O and no
//! clock reads, so it is tested without a broker ([`crate::simulate`] is its async driver).
//!
//! # The sensors
//! - Every catalogue station publishes. While the replayed period has readings of that station,
//!   it replays them (`source: opendata-replay`), linearly interpolated to the publishing rate;
//!   otherwise its values are estimated from the nearest stations that have readings at that
//!   moment, by inverse-distance weighting (`source: opendata-estimate`).
//! - `density` virtual sensors per neighbourhood, placed uniformly inside its polygon (seeded,
//!   reproducible), valued by the same estimate plus a small noise (`source: virtual`).
//!
//! # Time
//! The simulated clock runs `speed` times faster than the wall clock through the periods where
//! the files have readings (gaps with no data at all are skipped), and starts over at the end,
//! so a run can last as long as wanted with flat memory. Published times are the wall clock
//! ("rebased onto now", what live consumers expect) unless `rebase` is off, in which case they
//! are the simulated times.
//!
//! # Faults
//! With `faults` = P, each reading is, with probability P, spoiled by one of five faults drawn
//! with equal odds (P/5 each): a Toulouse sentinel value, a dropout (not sent; its `seq` is
//! skipped, so receivers can count it), malformed JSON, a duplicate, or a late delivery (held
//! back 30 s to 3 min of wall time, original time and `seq` kept).

use std::collections::VecDeque;

use garonne_neighbourhoods::Neighbourhoods;
use garonne_payload::{
    Location, ProfileId, Quantities, Quantity, Reading, SensorState, Source, Status, Timestamp,
    Topics, sensor_id_from,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use garonne_opendata::fleet::{FleetData, Replay, ReplayMode};
use garonne_opendata::{Observation, Station, StationKind};

/// Readings further apart than this are not interpolated across: the station had a gap.
const MAX_INTERPOLATION_GAP_SECS: f64 = 3.0 * 3600.0;

/// How the weather fleet replays its stations' readings.
const WEATHER_REPLAY: Replay = Replay {
    mode: ReplayMode::Linear,
    max_gap_secs: MAX_INTERPOLATION_GAP_SECS,
};

/// How many stations an estimate draws on.
const ESTIMATE_NEIGHBOURS: usize = 4;

/// Most late messages held back at once; beyond, a late fault is sent at once (and counted).
const MAX_HELD_BACK: usize = 100_000;

/// The simulator's knobs.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetConfig {
    /// Simulated seconds per wall-clock second.
    pub speed: f64,
    /// Readings per second of each sensor (1/900 to 100).
    pub rate_hz: f64,
    /// Virtual sensors per neighbourhood.
    pub density: u32,
    /// Seed of every random choice (placement, noise, faults).
    pub seed: u64,
    /// Probability that a reading is spoiled by a fault (0 to 1).
    pub faults: f64,
    /// Publish wall-clock times (true) or the replayed data's own times (false).
    pub rebase: bool,
}

impl Default for FleetConfig {
    fn default() -> FleetConfig {
        FleetConfig {
            speed: 60.0,
            rate_hz: 0.2,
            density: 0,
            seed: 1,
            faults: 0.0,
            rebase: true,
        }
    }
}

/// The slowest and fastest accepted publishing rates, readings per second per sensor.
pub const RATE_RANGE_HZ: (f64, f64) = (1.0 / 900.0, 100.0);

/// Why a fleet cannot be built.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FleetError {
    /// A described fleet has no sensor with data.
    #[error("the {0} fleet has no sensor with data to replay")]
    NoSensors(String),
    /// The data has no readings at all.
    #[error(
        "the data has no weather readings: the fleet replays at least one station's readings \
         (`garonne data fetch` downloads them)"
    )]
    NoReadings,
    /// The catalogue is empty.
    #[error("the data has no station catalogue (stations-meteo-en-place)")]
    NoStations,
    /// A knob is out of range.
    #[error("{0}")]
    Config(String),
}

impl FleetConfig {
    /// Checks the knobs, saying what is wrong and how to fix it.
    pub fn validate(&self) -> Result<(), FleetError> {
        let (lo, hi) = RATE_RANGE_HZ;
        if !(self.rate_hz >= lo && self.rate_hz <= hi) {
            return Err(FleetError::Config(format!(
                "rate {} Hz is outside {lo:.5} Hz (one reading per 15 minutes) to {hi} Hz",
                self.rate_hz
            )));
        }
        if !(self.speed > 0.0 && self.speed.is_finite()) {
            return Err(FleetError::Config(format!(
                "speed {} must be a positive number (1 is real time, 60 is a minute per second)",
                self.speed
            )));
        }
        if !(0.0..=1.0).contains(&self.faults) {
            return Err(FleetError::Config(format!(
                "faults {} is a probability: write a number from 0 to 1, e.g. 0.05",
                self.faults
            )));
        }
        Ok(())
    }
}

/// The kinds of fault the fleet injects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fault {
    /// A value replaced by a Toulouse "no data" sentinel (−50 °C, 0 % or 900 hPa).
    Sentinel,
    /// The reading is not sent; its sequence number is used up.
    Dropout,
    /// The payload is cut in half: not JSON.
    Malformed,
    /// The reading is sent twice.
    Duplicate,
    /// The reading is delivered 30 s to 3 min late, with its own time and sequence number.
    Late,
}

impl Fault {
    /// Every fault, drawn with equal odds.
    pub const ALL: [Fault; 5] = [
        Fault::Sentinel,
        Fault::Dropout,
        Fault::Malformed,
        Fault::Duplicate,
        Fault::Late,
    ];

    /// Position in [`Fault::ALL`] (and in [`FleetStats::faults`]).
    pub fn index(self) -> usize {
        self as usize
    }

    /// Name for people.
    pub fn name(self) -> &'static str {
        match self {
            Fault::Sentinel => "sentinel",
            Fault::Dropout => "dropout",
            Fault::Malformed => "malformed",
            Fault::Duplicate => "duplicate",
            Fault::Late => "late",
        }
    }
}

/// Who a sensor is, as the fleet publishes it.
#[derive(Debug, Clone, PartialEq)]
pub struct SensorInfo {
    /// Sensor id: the station's `id_nom`, `virtual-{neighbourhood}-{n}`, or a described
    /// fleet's prefixed id.
    pub id: String,
    /// Payload kind.
    pub kind: String,
    /// The profile its readings name (described fleets).
    pub profile: Option<ProfileId>,
    /// Where it is.
    pub location: Location,
    /// Replayed station, estimated station, or virtual.
    pub role: Role,
    /// Quantities it measures.
    pub quantities: Vec<Quantity>,
}

/// How a sensor's values are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A station with readings (replayed when the data covers the moment).
    Station,
    /// A station without readings: always estimated (from its neighbours, or from a described
    /// fleet's estimate file).
    EstimatedStation,
    /// A virtual sensor inside a neighbourhood (index into the neighbourhoods).
    Virtual(usize),
}

/// One MQTT message to publish.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    /// Topic.
    pub topic: String,
    /// Payload bytes.
    pub payload: Vec<u8>,
    /// Retained (statuses) or not (readings).
    pub retain: bool,
    /// Index of the sensor in [`Fleet::sensors`].
    pub sensor: usize,
}

/// Counts of what the fleet produced.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FleetStats {
    /// Readings produced (each counted once, whatever happened to it).
    pub readings: u64,
    /// Of those, replayed from a station's own data.
    pub replayed: u64,
    /// Of those, estimated.
    pub estimated: u64,
    /// Moments a sensor had nothing to send (no station covered any of its quantities).
    pub no_data: u64,
    /// Faults injected, by kind, in the order of [`Fault::ALL`].
    pub faults: [u64; 5],
    /// Late messages sent at once because the hold-back queue was full.
    pub late_overflow: u64,
}

impl FleetStats {
    /// Adds another fleet's counts to these (a run of several fleets reports their sum).
    pub fn add(&mut self, other: &FleetStats) {
        self.readings += other.readings;
        self.replayed += other.replayed;
        self.estimated += other.estimated;
        self.no_data += other.no_data;
        for (mine, theirs) in self.faults.iter_mut().zip(other.faults) {
            *mine += theirs;
        }
        self.late_overflow += other.late_overflow;
    }
}

/// A station's readings, ready for interpolation.
struct Series {
    /// Times in seconds since the epoch, increasing.
    times: Vec<f64>,
    values: Vec<Quantities>,
}

impl Series {
    /// The series of `rows`, in time order, one per instant (the first kept).
    fn of(mut rows: Vec<&Observation>) -> Series {
        rows.sort_by_key(|o| o.time);
        rows.dedup_by_key(|o| o.time);
        Series {
            times: rows.iter().map(|o| o.time.unix_f64()).collect(),
            values: rows.iter().map(|o| o.quantities.clone()).collect(),
        }
    }

    /// The value of `q` at `t` as `replay` says.
    ///
    /// Linear: interpolated between the readings around `t` when both have it and they are at
    /// most `max_gap_secs` apart, or an exact hit; a whole-number quantity is rounded. Step:
    /// the last reading at or before `t`, if at most `max_gap_secs` old.
    fn at(&self, q: Quantity, t: f64, replay: &Replay) -> Option<f64> {
        if replay.mode == ReplayMode::Step {
            let i = self.times.partition_point(|&x| x <= t);
            let last = i.checked_sub(1)?;
            if t - self.times[last] > replay.max_gap_secs {
                return None;
            }
            return self.values[last].get(q);
        }
        let i = self.times.partition_point(|&x| x < t);
        if i < self.times.len() && self.times[i] == t {
            return self.values[i].get(q);
        }
        if i == 0 || i == self.times.len() {
            return None;
        }
        let (t0, t1) = (self.times[i - 1], self.times[i]);
        if t1 - t0 > replay.max_gap_secs {
            return None;
        }
        let (v0, v1) = (self.values[i - 1].get(q)?, self.values[i].get(q)?);
        let v = v0 + (v1 - v0) * (t - t0) / (t1 - t0);
        Some(if q.def().integer { v.round() } else { v })
    }
}

/// Per-sensor state.
struct Sensor {
    info: SensorInfo,
    /// Index into `series` for stations with readings.
    series: Option<usize>,
    /// The nearest stations with readings, by index into `series`, with inverse-square-distance
    /// weights.
    neighbours: Vec<(usize, f64)>,
    /// Values for moments its own series does not cover (a described fleet's estimate file).
    estimate: Option<Quantities>,
    seq: u64,
}

/// What [`Fleet::with_neighbours`] makes a sensor of.
struct Seed {
    id: String,
    kind: String,
    location: Location,
    quantities: Vec<Quantity>,
}

/// How a fleet estimated from neighbours is built, beside its sensors.
struct Neighbourly<'a> {
    /// The neighbourhoods virtual sensors are placed in, if any.
    areas: Option<&'a Neighbourhoods>,
    replay: Replay,
    /// The profile readings name.
    profile: Option<ProfileId>,
    /// What a virtual sensor measures.
    virtual_quantities: &'a [Quantity],
}

/// The fleet: sensors, their data and their schedule.
pub struct Fleet {
    config: FleetConfig,
    topics: Topics,
    sensors: Vec<Sensor>,
    infos: Vec<SensorInfo>,
    series: Vec<Series>,
    /// How series are replayed between their readings.
    replay: Replay,
    /// Covered periods of the data, `[start, end]` in epoch seconds, increasing, disjoint.
    segments: Vec<(f64, f64)>,
    /// Total covered seconds.
    covered_secs: f64,
    start: Timestamp,
    period_nanos: i64,
    /// Round-robin schedule: the next sensor to publish, and which round it is in.
    cursor: usize,
    round: i64,
    held_back: VecDeque<(Timestamp, Outgoing)>,
    rng: ChaCha8Rng,
    stats: FleetStats,
}

impl Fleet {
    /// Builds the fleet from the catalogue, the readings and (for virtual sensors) the
    /// neighbourhoods, starting its clock at `start`: the weather fleet as the weather loaders
    /// give it, the reference the weather description is checked against.
    pub fn new(
        stations: &[Station],
        observations: &[Observation],
        areas: Option<&Neighbourhoods>,
        config: FleetConfig,
        topics: Topics,
        start: Timestamp,
    ) -> Result<Fleet, FleetError> {
        let seeds: Vec<Seed> = stations
            .iter()
            .map(|station| Seed {
                id: station.id.clone(),
                kind: station.kind.payload_kind().to_owned(),
                location: station.location(),
                quantities: station.kind.quantities().to_vec(),
            })
            .collect();
        let neighbourly = Neighbourly {
            areas,
            replay: WEATHER_REPLAY,
            profile: None,
            virtual_quantities: StationKind::Iss.quantities(),
        };
        Fleet::with_neighbours(&seeds, observations, neighbourly, config, topics, start)
    }

    /// Builds a fleet whose stations without readings, and moments their readings do not
    /// cover, are estimated from the nearest stations with data, plus `config.density` virtual
    /// sensors per neighbourhood of `areas` (the weather fleet).
    fn with_neighbours(
        seeds: &[Seed],
        observations: &[Observation],
        neighbourly: Neighbourly<'_>,
        config: FleetConfig,
        topics: Topics,
        start: Timestamp,
    ) -> Result<Fleet, FleetError> {
        config.validate()?;
        if seeds.is_empty() {
            return Err(FleetError::NoStations);
        }
        let mut by_sensor: std::collections::HashMap<&str, Vec<&Observation>> =
            std::collections::HashMap::new();
        for o in observations {
            by_sensor.entry(o.station_id.as_str()).or_default().push(o);
        }
        let mut series: Vec<Series> = Vec::new();
        let mut series_of: Vec<Option<usize>> = vec![None; seeds.len()];
        for (si, seed) in seeds.iter().enumerate() {
            let Some(rows) = by_sensor.remove(seed.id.as_str()) else {
                continue;
            };
            series_of[si] = Some(series.len());
            series.push(Series::of(rows));
        }
        if series.is_empty() {
            return Err(FleetError::NoReadings);
        }
        let station_points: Vec<(f64, f64, usize)> = seeds
            .iter()
            .zip(&series_of)
            .filter_map(|(s, i)| i.map(|i| (s.location.lon, s.location.lat, i)))
            .collect();

        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        let mut sensors = Vec::new();
        for (si, seed) in seeds.iter().enumerate() {
            let own = series_of[si];
            let role = if own.is_some() {
                Role::Station
            } else {
                Role::EstimatedStation
            };
            sensors.push(Sensor {
                info: SensorInfo {
                    id: seed.id.clone(),
                    kind: seed.kind.clone(),
                    profile: neighbourly.profile,
                    location: seed.location,
                    role,
                    quantities: seed.quantities.clone(),
                },
                series: own,
                neighbours: nearest(&station_points, seed.location.lon, seed.location.lat, own),
                estimate: None,
                seq: 0,
            });
        }
        if let Some(areas) = neighbourly.areas {
            for area in 0..areas.len() {
                let area_id = sensor_id_from(areas[area].id());
                for n in 0..config.density {
                    let (lon, lat) = areas.random_point_in(area, &mut rng);
                    sensors.push(Sensor {
                        info: SensorInfo {
                            id: format!("virtual-{area_id}-{n:03}"),
                            kind: "virtual".to_owned(),
                            profile: neighbourly.profile,
                            location: Location {
                                lon,
                                lat,
                                alt: None,
                            },
                            role: Role::Virtual(area),
                            quantities: neighbourly.virtual_quantities.to_vec(),
                        },
                        series: None,
                        neighbours: nearest(&station_points, lon, lat, None),
                        estimate: None,
                        seq: 0,
                    });
                }
            }
        }
        Ok(Fleet::assemble(
            config,
            topics,
            start,
            sensors,
            series,
            neighbourly.replay,
            rng,
        ))
    }

    /// Builds the fleet of a described open-data family (the weather, bikes, the river, a
    /// course's own dataset): one sensor per [`FleetData`] sensor, replaying its observations
    /// as the description's [`Replay`] says, or publishing its estimate (`opendata-estimate`)
    /// where they do not cover the moment. No virtual sensors and no neighbour estimates (a
    /// count or a level does not average across places), unless the description asks for
    /// them (`replay.neighbours`, the weather): then every sensor is estimated from its
    /// nearest neighbours where its rows do not cover the moment, and `areas` get
    /// `config.density` virtual sensors each, as [`Fleet::new`] does.
    pub fn from_data(
        data: &FleetData,
        areas: Option<&Neighbourhoods>,
        config: FleetConfig,
        topics: Topics,
        start: Timestamp,
    ) -> Result<Fleet, FleetError> {
        let profile = ProfileId::from_name(&data.profile).filter(|_| data.profile_in_readings);
        if data.neighbours {
            let seeds: Vec<Seed> = data
                .sensors
                .iter()
                .map(|sensor| Seed {
                    id: sensor.id.clone(),
                    kind: sensor.kind.clone(),
                    location: sensor.location,
                    quantities: sensor.quantities.clone(),
                })
                .collect();
            let neighbourly = Neighbourly {
                areas,
                replay: data.replay,
                profile,
                virtual_quantities: &data.quantities,
            };
            return Fleet::with_neighbours(
                &seeds,
                &data.observations,
                neighbourly,
                config,
                topics,
                start,
            );
        }
        config.validate()?;
        let mut by_sensor: std::collections::HashMap<&str, Vec<&Observation>> =
            std::collections::HashMap::new();
        for o in &data.observations {
            by_sensor.entry(o.station_id.as_str()).or_default().push(o);
        }
        let mut series: Vec<Series> = Vec::new();
        let mut sensors = Vec::with_capacity(data.sensors.len());
        for sensor in &data.sensors {
            let own = by_sensor.remove(sensor.id.as_str()).map(|rows| {
                series.push(Series::of(rows));
                series.len() - 1
            });
            sensors.push(Sensor {
                info: SensorInfo {
                    id: sensor.id.clone(),
                    kind: sensor.kind.clone(),
                    profile,
                    location: sensor.location,
                    role: if own.is_some() {
                        Role::Station
                    } else {
                        Role::EstimatedStation
                    },
                    quantities: sensor.quantities.clone(),
                },
                series: own,
                neighbours: Vec::new(),
                estimate: sensor.estimate.clone(),
                seq: 0,
            });
        }
        if series.is_empty() {
            return Err(FleetError::NoSensors(data.name.clone()));
        }
        let rng = ChaCha8Rng::seed_from_u64(config.seed);
        Ok(Fleet::assemble(
            config,
            topics,
            start,
            sensors,
            series,
            data.replay,
            rng,
        ))
    }

    /// The fleet of these sensors and series, its clock starting at `start`.
    fn assemble(
        config: FleetConfig,
        topics: Topics,
        start: Timestamp,
        sensors: Vec<Sensor>,
        series: Vec<Series>,
        replay: Replay,
        rng: ChaCha8Rng,
    ) -> Fleet {
        let segments = covered_segments(&series, &replay);
        let covered_secs = segments.iter().map(|(a, b)| b - a).sum::<f64>();
        let infos = sensors.iter().map(|s| s.info.clone()).collect();
        let period_nanos = (1e9 / config.rate_hz).round() as i64;
        Fleet {
            config,
            topics,
            sensors,
            infos,
            series,
            replay,
            segments,
            covered_secs,
            start,
            period_nanos,
            cursor: 0,
            round: 0,
            held_back: VecDeque::new(),
            rng,
            stats: FleetStats::default(),
        }
    }

    /// The sensors, in publishing order.
    pub fn sensors(&self) -> &[SensorInfo] {
        &self.infos
    }

    /// What the fleet has produced so far.
    pub fn stats(&self) -> &FleetStats {
        &self.stats
    }

    /// The retained status message of every sensor, online or offline.
    pub fn statuses(&self, state: SensorState, now: Timestamp) -> Vec<Outgoing> {
        self.infos
            .iter()
            .enumerate()
            .map(|(i, info)| {
                let status = Status {
                    v: 1,
                    sensor_id: info.id.clone(),
                    state,
                    time: now,
                    kind: info.kind.clone(),
                    source: match info.role {
                        Role::Station => Source::OpendataReplay,
                        Role::EstimatedStation => Source::OpendataEstimate,
                        Role::Virtual(_) => Source::Virtual,
                    },
                    location: Some(info.location),
                    modules: Vec::new(),
                };
                Outgoing {
                    topic: self.topics.status(&info.id),
                    payload: serde_json::to_vec(&status).unwrap_or_default(),
                    retain: true,
                    sensor: i,
                }
            })
            .collect()
    }

    /// When the next reading is due (held-back late messages included).
    pub fn next_due(&self) -> Timestamp {
        let scheduled = self.due_time(self.cursor, self.round);
        match self.held_back.front() {
            Some((t, _)) if *t < scheduled => *t,
            _ => scheduled,
        }
    }

    fn due_time(&self, sensor: usize, round: i64) -> Timestamp {
        // Design: sensors are spread evenly over one period, so the broker sees a steady stream,
        // not a burst per period.
        let n = self.sensors.len() as i64;
        let phase = self.period_nanos / n.max(1) * sensor as i64;
        self.start.add_nanos(round * self.period_nanos + phase)
    }

    /// The simulated instant (epoch seconds) that wall-clock `now` replays.
    pub fn simulated_time(&self, now: Timestamp) -> f64 {
        let elapsed = now.secs_since(self.start).max(0.0) * self.config.speed;
        let mut offset = if self.covered_secs > 0.0 {
            elapsed % self.covered_secs
        } else {
            0.0
        };
        for &(a, b) in &self.segments {
            if offset <= b - a {
                return a + offset;
            }
            offset -= b - a;
        }
        self.segments.last().map_or(0.0, |s| s.1)
    }

    /// Appends to `out` the late messages still held back, at once: at the end of a run they
    /// are sent late rather than never.
    pub fn drain_held_back(&mut self, out: &mut Vec<Outgoing>) {
        out.extend(self.held_back.drain(..).map(|(_, message)| message));
    }

    /// Appends to `out` every message due at or before `now`, at most `max` readings.
    pub fn poll(&mut self, now: Timestamp, max: usize, out: &mut Vec<Outgoing>) {
        while let Some((t, _)) = self.held_back.front() {
            if *t > now {
                break;
            }
            if let Some((_, message)) = self.held_back.pop_front() {
                out.push(message);
            }
        }
        let mut produced = 0;
        while produced < max && self.due_time(self.cursor, self.round) <= now {
            let sensor = self.cursor;
            let due = self.due_time(sensor, self.round);
            self.cursor += 1;
            if self.cursor == self.sensors.len() {
                self.cursor = 0;
                self.round += 1;
            }
            produced += 1;
            self.emit(sensor, due, out);
        }
    }

    /// Makes one reading of `sensor`, due at wall time `due`, with any fault.
    fn emit(&mut self, sensor: usize, due: Timestamp, out: &mut Vec<Outgoing>) {
        let sim = self.simulated_time(due);
        let Some((quantities, source)) = self.values(sensor, sim) else {
            self.stats.no_data += 1;
            return;
        };
        self.stats.readings += 1;
        match source {
            Source::OpendataReplay => self.stats.replayed += 1,
            _ => self.stats.estimated += 1,
        }
        let time = if self.config.rebase {
            due
        } else {
            Timestamp::from_unix_f64(sim).unwrap_or(due)
        };
        let state = &mut self.sensors[sensor];
        let seq = state.seq;
        state.seq += 1;
        let info = &state.info;
        let mut reading = Reading::new(
            info.id.clone(),
            info.kind.clone(),
            source,
            time,
            seq,
            info.location,
        );
        reading.quantities = quantities;
        reading.profile = info.profile;
        let topic = self.topics.reading(&info.id);

        let fault = (self.config.faults > 0.0 && self.rng.random::<f64>() < self.config.faults)
            .then(|| Fault::ALL[self.rng.random_range(0..Fault::ALL.len())]);
        let message = |payload| Outgoing {
            topic: topic.clone(),
            payload,
            retain: false,
            sensor,
        };
        match fault {
            None => out.push(message(reading.to_json())),
            Some(fault) => {
                self.stats.faults[fault.index()] += 1;
                match fault {
                    Fault::Sentinel => {
                        let q = &mut reading.quantities;
                        if q.get(Quantity::Temperature).is_some() {
                            q.set(Quantity::Temperature, -50.0);
                        } else if q.get(Quantity::RelativeHumidity).is_some() {
                            q.set(Quantity::RelativeHumidity, 0.0);
                        } else {
                            let first = q.iter().next().map(|(q, _)| q);
                            if let Some(first) = first {
                                q.set(first, first.def().max * 10.0 + 1.0);
                            }
                        }
                        out.push(message(reading.to_json()));
                    }
                    Fault::Dropout => {}
                    Fault::Malformed => {
                        let mut bytes = reading.to_json();
                        bytes.truncate(bytes.len() / 2);
                        out.push(message(bytes));
                    }
                    Fault::Duplicate => {
                        let bytes = reading.to_json();
                        out.push(message(bytes.clone()));
                        out.push(message(bytes));
                    }
                    Fault::Late => {
                        let delay = self.rng.random_range(30_000_000_000i64..180_000_000_000);
                        if self.held_back.len() >= MAX_HELD_BACK {
                            self.stats.late_overflow += 1;
                            out.push(message(reading.to_json()));
                        } else {
                            let release = due.add_nanos(delay);
                            let at = self.held_back.partition_point(|(t, _)| *t <= release);
                            self.held_back
                                .insert(at, (release, message(reading.to_json())));
                        }
                    }
                }
            }
        }
    }

    /// The values of `sensor` at simulated time `t`, and their source; `None` when no station
    /// covers any of its quantities then.
    fn values(&mut self, sensor: usize, t: f64) -> Option<(Quantities, Source)> {
        let state = &self.sensors[sensor];
        let mut q = Quantities::default();
        if let Some(own) = state.series {
            for &quantity in &state.info.quantities {
                if let Some(v) = self.series[own].at(quantity, t, &self.replay) {
                    q.set(quantity, v);
                }
            }
            if !q.is_empty() {
                return Some((q, Source::OpendataReplay));
            }
        }
        if let Some(estimate) = &state.estimate {
            return Some((estimate.clone(), Source::OpendataEstimate));
        }
        for &quantity in &state.info.quantities {
            let (mut sum, mut weights) = (0.0, 0.0);
            for &(s, w) in &state.neighbours {
                if let Some(v) = self.series[s].at(quantity, t, &self.replay) {
                    sum += w * v;
                    weights += w;
                }
            }
            if weights > 0.0 {
                q.set(quantity, sum / weights);
            }
        }
        if q.is_empty() {
            return None;
        }
        let source = match state.info.role {
            Role::Virtual(_) => {
                let noisy: Vec<(Quantity, f64)> = q
                    .iter()
                    .map(|(quantity, v)| (quantity, with_noise(quantity, v, &mut self.rng)))
                    .collect();
                q = noisy.into_iter().collect();
                Source::Virtual
            }
            _ => Source::OpendataEstimate,
        };
        Some((q, source))
    }
}

/// A value plus a small Gaussian noise typical of cheap sensors, kept inside the physical range.
fn with_noise(q: Quantity, v: f64, rng: &mut impl Rng) -> f64 {
    let sigma = match q {
        Quantity::Temperature => 0.3,
        Quantity::RelativeHumidity => 0.02,
        Quantity::AtmosphericPressure => 0.3,
        Quantity::WindSpeed | Quantity::GustSpeed => 0.3,
        Quantity::WindDirection => 10.0,
        _ => 0.0,
    };
    // Box–Muller: one standard normal draw from two uniform ones.
    let (u1, u2): (f64, f64) = (rng.random::<f64>().max(f64::MIN_POSITIVE), rng.random());
    let noisy = v + sigma * (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
    let s = q.def();
    let floor = if s.min_exclusive { s.min + 1e-3 } else { s.min };
    let noisy = if q == Quantity::WindDirection {
        noisy.rem_euclid(360.0)
    } else {
        noisy
    };
    noisy.clamp(floor, s.max)
}

/// The periods where at least one station has readings, merged across stations; a gap longer
/// than the replay's `max_gap_secs` in every station's data separates two periods. In step
/// mode a reading's value lasts `max_gap_secs` after it, so a period ends that much later.
fn covered_segments(series: &[Series], replay: &Replay) -> Vec<(f64, f64)> {
    let hold = match replay.mode {
        ReplayMode::Linear => 0.0,
        ReplayMode::Step => replay.max_gap_secs,
    };
    let mut spans: Vec<(f64, f64)> = Vec::new();
    for s in series {
        let mut start = s.times[0];
        let mut prev = s.times[0];
        for &t in &s.times[1..] {
            if t - prev > replay.max_gap_secs {
                spans.push((start, prev + hold));
                start = t;
            }
            prev = t;
        }
        spans.push((start, prev + hold));
    }
    spans.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut merged: Vec<(f64, f64)> = Vec::new();
    for (a, b) in spans {
        match merged.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => merged.push((a, b)),
        }
    }
    merged
}

/// The nearest stations with readings to a point, excluding `own`, with inverse-square-distance
/// weights (distances on a local equirectangular projection: exact enough across a city).
fn nearest(
    points: &[(f64, f64, usize)],
    lon: f64,
    lat: f64,
    own: Option<usize>,
) -> Vec<(usize, f64)> {
    let k = lat.to_radians().cos();
    let mut by_distance: Vec<(f64, usize)> = points
        .iter()
        .filter(|p| Some(p.2) != own)
        .map(|&(plon, plat, i)| {
            let dx = (plon - lon) * k;
            let dy = plat - lat;
            (dx * dx + dy * dy, i)
        })
        .collect();
    by_distance.sort_by(|a, b| a.0.total_cmp(&b.0));
    by_distance.truncate(ESTIMATE_NEIGHBOURS);
    // Design: a floor on the squared distance (about 10 m) keeps a co-located station from
    // taking an infinite weight.
    by_distance
        .into_iter()
        .map(|(d2, i)| (i, 1.0 / d2.max(1e-8)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use garonne_payload::{Limits, parse_reading};

    fn t(s: &str) -> Timestamp {
        Timestamp::parse(s).expect("valid")
    }

    fn station(id: &str, number: u32, kind: StationKind, lon: f64, lat: f64) -> Station {
        Station {
            id: id.to_owned(),
            number,
            kind,
            lon,
            lat,
            alt: Some(140.0),
            commune: "Toulouse".to_owned(),
            transmitting: true,
        }
    }

    fn observation(station: &str, time: &str, temperature: f64, humidity: f64) -> Observation {
        let mut quantities = Quantities::default();
        quantities
            .set(Quantity::Temperature, temperature)
            .set(Quantity::RelativeHumidity, humidity);
        Observation {
            station_id: station.to_owned(),
            time: t(time),
            quantities,
        }
    }

    /// Station "a" has readings 10:00 → 11:00 and 20:00 → 20:30; "b" (TH) has none.
    fn fixture(config: FleetConfig) -> Fleet {
        let stations = [
            station("a", 1, StationKind::Iss, 1.44, 43.60),
            station("b", 2, StationKind::Th, 1.45, 43.61),
        ];
        let observations = [
            observation("a", "2025-11-24T10:00:00Z", 10.0, 0.80),
            observation("a", "2025-11-24T10:30:00Z", 11.0, 0.70),
            observation("a", "2025-11-24T11:00:00Z", 12.0, 0.60),
            observation("a", "2025-11-24T20:00:00Z", 5.0, 0.90),
            observation("a", "2025-11-24T20:30:00Z", 6.0, 0.90),
        ];
        Fleet::new(
            &stations,
            &observations,
            None,
            config,
            Topics::default(),
            start(),
        )
        .expect("fleet")
    }

    fn start() -> Timestamp {
        t("2026-01-01T00:00:00Z")
    }

    fn readings(out: &[Outgoing]) -> Vec<Reading> {
        out.iter()
            .map(|o| {
                parse_reading(&o.payload, t("2030-01-01T00:00:00Z"), &Limits::default())
                    .expect("valid")
            })
            .collect()
    }

    #[test]
    fn every_station_publishes_replayed_or_estimated() {
        let mut fleet = fixture(FleetConfig {
            speed: 60.0,
            rate_hz: 1.0,
            ..FleetConfig::default()
        });
        let mut out = Vec::new();
        fleet.poll(start(), 10, &mut out);
        let got = readings(&out);
        assert_eq!(got.len(), 1, "one sensor due at the start");
        fleet.poll(start().add_nanos(999_000_000), 10, &mut out);
        let got = readings(&out);
        assert_eq!(
            got.iter().map(|r| r.sensor_id.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert_eq!(got[0].source, Source::OpendataReplay);
        assert_eq!(got[1].source, Source::OpendataEstimate);
        assert_eq!(got[1].kind, "th-station");
        // The only neighbour of b is a: the estimate is a's value at b's moment. b is due half a
        // period (0.5 s) later, 30 simulated seconds at speed 60: 10 + 1 °C × 30/1800.
        let estimate = got[1]
            .quantities
            .get(Quantity::Temperature)
            .expect("estimated");
        assert!(
            (estimate - (10.0 + 30.0 / 1800.0)).abs() < 1e-9,
            "{estimate}"
        );
        assert_eq!(got[1].quantities.get(Quantity::AtmosphericPressure), None);
    }

    #[test]
    fn values_are_interpolated_and_times_rebased() {
        // Speed 900: 1 wall second is 15 simulated minutes. At +1 s, simulated 10:15.
        let mut fleet = fixture(FleetConfig {
            speed: 900.0,
            rate_hz: 1.0,
            ..FleetConfig::default()
        });
        let mut out = Vec::new();
        fleet.poll(start().add_nanos(1_000_000_000), 10, &mut out);
        let a: Vec<Reading> = readings(&out)
            .into_iter()
            .filter(|r| r.sensor_id == "a")
            .collect();
        assert_eq!(a[1].time, start().add_nanos(1_000_000_000));
        let temperature = a[1]
            .quantities
            .get(Quantity::Temperature)
            .expect("replayed");
        assert!((temperature - 10.5).abs() < 1e-9, "{temperature}");
        assert_eq!((a[0].seq, a[1].seq), (0, 1));
    }

    #[test]
    fn the_simulated_clock_skips_gaps_and_starts_over() {
        let fleet = fixture(FleetConfig {
            speed: 60.0,
            ..FleetConfig::default()
        });
        let at = |secs: i64| {
            let s = fleet.simulated_time(start().add_nanos(secs * 1_000_000_000));
            Timestamp::from_unix_f64(s).expect("time").to_string()
        };
        assert_eq!(at(0), "2025-11-24T10:00:00Z");
        assert_eq!(at(60), "2025-11-24T11:00:00Z");
        assert_eq!(at(61), "2025-11-24T20:01:00Z", "the 9-hour gap is skipped");
        assert_eq!(at(89), "2025-11-24T20:29:00Z");
        assert_eq!(at(90), "2025-11-24T10:00:00Z", "then it starts over");
    }

    #[test]
    fn without_faults_every_payload_validates() {
        let mut fleet = fixture(FleetConfig {
            speed: 3600.0,
            rate_hz: 10.0,
            ..FleetConfig::default()
        });
        let mut out = Vec::new();
        fleet.poll(start().add_nanos(60_000_000_000), usize::MAX, &mut out);
        assert_eq!(readings(&out).len(), out.len());
        assert!(out.len() >= 1000, "{}", out.len());
        assert_eq!(fleet.stats().readings, out.len() as u64);
    }

    #[test]
    fn faults_come_in_the_stated_proportions() {
        let p = 0.05;
        let mut fleet = fixture(FleetConfig {
            speed: 600.0,
            rate_hz: 100.0,
            faults: p,
            seed: 7,
            ..FleetConfig::default()
        });
        let mut out = Vec::new();
        fleet.poll(start().add_nanos(1_000_000_000_000), usize::MAX, &mut out);
        let n = fleet.stats().readings as f64;
        assert!(n >= 200_000.0, "{n}");
        // Each kind has probability p/5; allow 4 standard deviations of a binomial count.
        let expected = n * p / 5.0;
        let tolerance = 4.0 * (n * p / 5.0 * (1.0 - p / 5.0)).sqrt();
        for fault in Fault::ALL {
            let got = fleet.stats().faults[fault.index()] as f64;
            assert!(
                (got - expected).abs() <= tolerance,
                "{}: {got} vs {expected:.0} ± {tolerance:.0}",
                fault.name()
            );
        }
        // What reaches the wire matches the counts: duplicates twice, dropouts never, the rest
        // once, late ones included once drained.
        assert!(
            !fleet.held_back.is_empty(),
            "some late messages are still held back"
        );
        fleet.drain_held_back(&mut out);
        assert!(fleet.held_back.is_empty());
        let f = |k: Fault| fleet.stats().faults[k.index()];
        assert_eq!(
            out.len() as u64,
            fleet.stats().readings - f(Fault::Dropout) + f(Fault::Duplicate)
        );
        let invalid = out
            .iter()
            .filter(|o| {
                parse_reading(&o.payload, t("2030-01-01T00:00:00Z"), &Limits::default()).is_err()
            })
            .count() as u64;
        assert_eq!(invalid, f(Fault::Sentinel) + f(Fault::Malformed));
    }

    #[test]
    fn a_dropout_leaves_a_gap_in_the_sequence() {
        let mut fleet = fixture(FleetConfig {
            rate_hz: 100.0,
            faults: 1.0,
            seed: 3,
            ..FleetConfig::default()
        });
        let mut out = Vec::new();
        fleet.poll(start().add_nanos(1_000_000_000), usize::MAX, &mut out);
        assert!(fleet.stats().faults[Fault::Dropout.index()] > 0);
        let seqs: Vec<u64> = out
            .iter()
            .filter_map(|o| {
                parse_reading(&o.payload, t("2030-01-01T00:00:00Z"), &Limits::default()).ok()
            })
            .filter(|r| r.sensor_id == "a")
            .map(|r| r.seq)
            .collect();
        assert!(seqs.windows(2).any(|w| w[1] > w[0] + 1), "{seqs:?}");
    }

    #[test]
    fn statuses_are_retained_and_say_the_source() {
        let fleet = fixture(FleetConfig::default());
        let statuses = fleet.statuses(SensorState::Online, start());
        assert_eq!(statuses.len(), 2);
        assert!(statuses.iter().all(|s| s.retain));
        let b: Status = serde_json::from_slice(&statuses[1].payload).expect("status");
        assert_eq!(
            (b.sensor_id.as_str(), b.source, b.state),
            ("b", Source::OpendataEstimate, SensorState::Online)
        );
        assert_eq!(statuses[1].topic, "garonne/v1/sensors/b/status");
    }

    /// The readings a fleet started at `now` publishes in its first second, each valid now.
    fn first_second(fleet: &mut Fleet, now: Timestamp) -> Vec<Reading> {
        let mut out = Vec::new();
        fleet.poll(now.add_nanos(999_000_000), usize::MAX, &mut out);
        out.iter()
            .filter(|o| o.topic.ends_with("/reading"))
            .map(|o| {
                parse_reading(&o.payload, Timestamp::now(), &Limits::default()).expect("valid now")
            })
            .collect()
    }

    /// The starter dataset `garonne up` writes offline has readings of November 2025: the
    /// fleet replays them on today's clock, every reading valid now.
    #[test]
    fn the_starter_dataset_replays_now() {
        let dir = tempfile::tempdir().expect("temp dir");
        garonne_opendata::starter::write(dir.path()).expect("starter written");
        let data = garonne_opendata::load_dir(dir.path()).expect("starter loads");
        let now = Timestamp::now();
        let config = FleetConfig {
            rate_hz: 1.0,
            ..FleetConfig::default()
        };
        let mut fleet = Fleet::new(
            &data.stations,
            &data.observations,
            None,
            config,
            Topics::default(),
            now,
        )
        .expect("fleet");
        let readings = first_second(&mut fleet, now);
        assert_eq!(readings.len(), data.stations.len(), "every station, once");
        assert!(fleet.stats().replayed > 0, "stations replay their readings");
        assert!(
            readings.iter().all(|r| r.time.secs_since(now).abs() < 2.0),
            "published on today's clock"
        );
    }

    /// The weather fleet from its description (`data/fleets/weather.toml`), as `garonne
    /// simulate` builds it.
    fn weather_described(
        dir: &std::path::Path,
        areas: Option<&Neighbourhoods>,
        config: FleetConfig,
        start: Timestamp,
    ) -> Fleet {
        let description = garonne_opendata::fleet::builtin()
            .into_iter()
            .find(|d| d.name == "weather")
            .expect("shipped weather description");
        let data = garonne_opendata::fleet::load_fleet(&description, dir).expect("weather loads");
        Fleet::from_data(&data, areas, config, Topics::default(), start).expect("fleet")
    }

    /// Same seed, same output: the weather fleet built from its description publishes, byte
    /// for byte, what the fleet of the weather loaders publishes (statuses, then every reading
    /// of every station and virtual sensor, replayed, estimated or spoiled by a fault).
    #[test]
    fn the_weather_description_publishes_what_the_weather_loaders_do() {
        let dir = garonne_testkit::open_data_dir();
        let areas = Neighbourhoods::load(
            dir.join("quartiers-de-democratie-locale.geojson"),
            &garonne_neighbourhoods::Properties::detect(),
        )
        .expect("neighbourhoods");
        let config = FleetConfig {
            speed: 3600.0,
            rate_hz: 2.0,
            density: 2,
            faults: 0.2,
            seed: 7,
            ..FleetConfig::default()
        };
        let data = garonne_opendata::load_dir(&dir).expect("weather loaders");
        let mut old = Fleet::new(
            &data.stations,
            &data.observations,
            Some(&areas),
            config.clone(),
            Topics::default(),
            start(),
        )
        .expect("fleet");
        let mut new = weather_described(&dir, Some(&areas), config, start());
        assert_eq!(old.sensors(), new.sensors());
        assert_eq!(
            old.statuses(SensorState::Online, start()),
            new.statuses(SensorState::Online, start())
        );
        let (mut a, mut b) = (Vec::new(), Vec::new());
        // Sixty seconds of wall time, in steps: every sensor several times over.
        for step in 1..=120 {
            let now = start().add_nanos(step * 500_000_000);
            old.poll(now, usize::MAX, &mut a);
            new.poll(now, usize::MAX, &mut b);
        }
        old.drain_held_back(&mut a);
        new.drain_held_back(&mut b);
        assert!(a.len() > 10 * old.sensors().len(), "{} messages", a.len());
        assert_eq!(a.len(), b.len());
        for (i, (x, y)) in a.iter().zip(&b).enumerate() {
            assert_eq!(x, y, "message {i}");
        }
        assert_eq!(old.stats(), new.stats());
        assert!(
            old.stats().faults.iter().all(|&n| n > 0),
            "{:?}",
            old.stats()
        );
    }

    /// The starter dataset through the weather description: every station once, replayed
    /// readings among them, on today's clock.
    #[test]
    fn the_starter_dataset_replays_now_by_description() {
        let dir = tempfile::tempdir().expect("temp dir");
        garonne_opendata::starter::write(dir.path()).expect("starter written");
        let now = Timestamp::now();
        let config = FleetConfig {
            rate_hz: 1.0,
            ..FleetConfig::default()
        };
        let mut fleet = weather_described(dir.path(), None, config, now);
        let readings = first_second(&mut fleet, now);
        assert_eq!(readings.len(), 77, "every station, once");
        assert!(fleet.stats().replayed > 0, "stations replay their readings");
        assert!(readings.iter().all(|r| r.profile.is_none()));
        assert!(
            readings.iter().all(|r| r.time.secs_since(now).abs() < 2.0),
            "published on today's clock"
        );
    }

    /// A described fleet in step mode: a daily gauge "a" (two days) and a station "b" with no
    /// rows but an estimate.
    fn daily(config: FleetConfig) -> Fleet {
        use garonne_opendata::fleet::{FleetReport, FleetSensor};
        let level = Quantity::StreamGauge;
        let sensor = |id: &str, estimate: Option<f64>| FleetSensor {
            id: id.to_owned(),
            kind: "river-gauge".to_owned(),
            location: Location::new(1.44, 43.6),
            quantities: vec![level],
            estimate: estimate.map(|v| {
                let mut q = Quantities::default();
                q.set(level, v);
                q
            }),
            has_history: estimate.is_none(),
        };
        let day = |time: &str, v: f64| {
            let mut quantities = Quantities::default();
            quantities.set(level, v);
            Observation {
                station_id: "a".to_owned(),
                time: t(time),
                quantities,
            }
        };
        let data = FleetData {
            name: "river".to_owned(),
            profile: "river".to_owned(),
            kind: "river-gauge".to_owned(),
            profile_in_readings: true,
            replay: Replay {
                mode: ReplayMode::Step,
                max_gap_secs: 90_000.0,
            },
            quantities: vec![level],
            neighbours: false,
            sensors: vec![sensor("a", None), sensor("b", Some(0.25))],
            observations: vec![
                day("2023-01-01T23:00:00Z", 0.5),
                day("2023-01-02T23:00:00Z", 0.75),
            ],
            report: FleetReport::default(),
        };
        Fleet::from_data(&data, None, config, Topics::default(), start()).expect("fleet")
    }

    #[test]
    fn step_replay_holds_each_row_for_its_day() {
        // A day per second, ten readings a second of each sensor, data times kept.
        let mut fleet = daily(FleetConfig {
            speed: 86_400.0,
            rate_hz: 10.0,
            rebase: false,
            ..FleetConfig::default()
        });
        // Two rows a day apart, each held 25 hours: the clock covers 49 hours, then starts over.
        let at = |secs: f64| {
            let s = fleet.simulated_time(start().add_nanos((secs * 1e9) as i64));
            Timestamp::from_unix_f64(s).expect("time").to_string()
        };
        assert_eq!(at(0.0), "2023-01-01T23:00:00Z");
        assert_eq!(at(2.0), "2023-01-03T23:00:00Z");
        assert_eq!(
            at(2.5),
            "2023-01-02T10:00:00Z",
            "60 hours in: 11 hours into the second pass"
        );
        let mut out = Vec::new();
        fleet.poll(start().add_nanos(1_990_000_000), usize::MAX, &mut out);
        let got = readings(&out);
        assert_eq!(got.len(), 40);
        for r in &got {
            assert_eq!(r.profile, garonne_payload::ProfileId::from_name("river"));
            assert_eq!(r.kind, "river-gauge");
            let v = r.quantities.get(Quantity::StreamGauge);
            if r.sensor_id == "b" {
                assert_eq!((r.source, v), (Source::OpendataEstimate, Some(0.25)));
                continue;
            }
            assert_eq!(r.source, Source::OpendataReplay);
            // No interpolation: the first day's 0.5 until the second day's row, then 0.75.
            let want = if r.time < t("2023-01-02T23:00:00Z") {
                0.5
            } else {
                0.75
            };
            assert_eq!(v, Some(want), "{}", r.time);
        }
    }

    #[test]
    fn linear_replay_rounds_counts() {
        let series = Series {
            times: vec![0.0, 100.0],
            values: [1.0, 2.0]
                .iter()
                .map(|&v| {
                    let mut q = Quantities::default();
                    q.set(Quantity::Motion, v).set(Quantity::Temperature, v);
                    q
                })
                .collect(),
        };
        let replay = WEATHER_REPLAY;
        assert_eq!(series.at(Quantity::Temperature, 60.0, &replay), Some(1.6));
        assert_eq!(series.at(Quantity::Motion, 60.0, &replay), Some(2.0));
        assert_eq!(series.at(Quantity::Motion, 40.0, &replay), Some(1.0));
    }

    #[test]
    fn bad_knobs_are_refused_with_the_fix() {
        type Knob = fn(&mut FleetConfig);
        let knobs: [(Knob, &str); 4] = [
            (|c| c.rate_hz = 1000.0, "rate 1000 Hz"),
            (|c| c.rate_hz = 0.0001, "one reading per 15 minutes"),
            (|c| c.speed = 0.0, "speed 0"),
            (|c| c.faults = 5.0, "e.g. 0.05"),
        ];
        for (knob, needle) in knobs {
            let mut config = FleetConfig::default();
            knob(&mut config);
            let e = config.validate().expect_err(needle);
            assert!(e.to_string().contains(needle), "{e}");
        }
    }
}

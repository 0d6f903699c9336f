//! One reading into its sensor's panes: the per-reading path, and the hot one. Each step is a
//! short function: the clock-skew and lateness checks, the sensor's slot, the repeat check, its
//! neighbourhood (searched only when its location changes), then the pane update.

use std::borrow::Cow;
use std::collections::VecDeque;

use garonne_payload::{Location, Reading, Rule, Timestamp, Violation};

use super::{Engine, OUTSIDE, Outcome, Pane, Place, Publish, RECENT, Sensor, seconds};
use crate::alerts::ScopeKind;
use crate::window::{Accs, Clock, Stamp};

impl Engine {
    /// Folds one valid reading that came on `topic` (in `payload`, when it came over MQTT).
    pub(super) fn fold_from(
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
            let violation = self.late(reading, window, now);
            let bytes = payload_or_json(payload, reading);
            let id = Some(reading.sensor_id.as_str());
            self.report(topic, id, &bytes, vec![violation], now, out);
            return Outcome::Late;
        }
        let Some(s) = self.sensor_index(&reading.sensor_id) else {
            // Counted as refused by `report`.
            let violation = self.too_many_sensors();
            let bytes = payload_or_json(payload, reading);
            let id = Some(reading.sensor_id.as_str());
            self.report(topic, id, &bytes, vec![violation], now, out);
            return Outcome::TooManySensors;
        };
        if !self.sensors[s].remember(fingerprint(reading)) {
            self.counters.duplicates += 1;
            return Outcome::Duplicate;
        }
        let (area, located) = self.locate(s, &reading.location);
        if area == OUTSIDE {
            if located {
                let violation = self.outside(&reading.location);
                let bytes = payload_or_json(payload, reading);
                let id = Some(reading.sensor_id.as_str());
                self.report(topic, id, &bytes, vec![violation], now, out);
            }
            self.counters.outside += 1;
        }
        self.sensors[s].add(reading, pane_no, area, self.clock, now_secs);
        self.counters.readings += 1;
        self.counters
            .observe_lag(now.secs_since(reading.time).max(0.0));
        if self.rules.iter().any(|r| r.scope == ScopeKind::Sensor) {
            self.check_sensor_rules(s, reading, now, out);
        }
        Outcome::Folded
    }

    /// The sensor's index, a new slot for a sensor not seen before; `None` for a new sensor
    /// when `max_sensors` are tracked already.
    fn sensor_index(&mut self, id: &str) -> Option<usize> {
        match self.index.get(id) {
            Some(&s) => Some(s as usize),
            None if self.sensors.len() >= self.settings.max_sensors => None,
            None => {
                let s = self.sensors.len();
                self.sensors.push(Sensor::new(id));
                self.index.insert(id.to_owned(), s as u32);
                Some(s)
            }
        }
    }

    /// What a new sensor is told when `max_sensors` are tracked already.
    fn too_many_sensors(&self) -> Violation {
        Violation::new(
            "/sensor_id",
            Rule::TooManySensors,
            format!(
                "realtime already tracks its most sensors ({}): this new sensor's readings are \
                 not counted until silent sensors are forgotten (after {} s without a reading)",
                self.settings.max_sensors, self.settings.forget_sensors_after_secs
            ),
            "reuse your sensor's id rather than a new one per run or per reading; the operator \
             can raise max_sensors in realtime's configuration",
            "réutilisez l'identifiant de votre capteur plutôt qu'un nouveau à chaque lancement ou \
             à chaque mesure ; l'exploitant peut augmenter max_sensors dans la configuration de \
             realtime",
        )
    }

    /// The neighbourhood of sensor `s` at `location`, and whether it had to be searched (the
    /// sensor is new or has moved); the search is cached in the sensor's [`Place`].
    fn locate(&mut self, s: usize, location: &Location) -> (u32, bool) {
        let (lon, lat) = (location.lon, location.lat);
        match self.sensors[s].place {
            Some(p) if p.lon == lon && p.lat == lat => (p.area, false),
            _ => {
                let area = self.areas.locate(lon, lat).map_or(OUTSIDE, |a| a as u32);
                self.sensors[s].place = Some(Place { lon, lat, area });
                (area, true)
            }
        }
    }

    /// Why a reading whose window has closed is refused.
    fn late(&self, reading: &Reading, window: i64, now: Timestamp) -> Violation {
        Violation::new(
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
            format!(
                "envoyez chaque mesure au plus {} s après la fin de sa fenêtre de {} secondes \
                 (vérifiez l'horloge du capteur et sa connexion)",
                self.settings.lateness_secs,
                self.clock.window_secs()
            ),
        )
    }

    /// What a sensor outside every neighbourhood is told (its readings still count for its
    /// rolling statistics).
    fn outside(&self, location: &Location) -> Violation {
        let (lon, lat) = (location.lon, location.lat);
        Violation::new(
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
            "vérifiez les coordonnées (longitude d'abord, puis latitude, en degrés) \
             et que le capteur se trouve dans la zone cartographiée",
        )
    }
}

impl Sensor {
    /// Remembers a reading's fingerprint; `false` when it is a repeat of a recent one.
    fn remember(&mut self, fingerprint: u64) -> bool {
        if self.recent.contains(&fingerprint) {
            return false;
        }
        self.recent[self.recent_next] = fingerprint;
        self.recent_next = (self.recent_next + 1) % RECENT;
        true
    }

    /// Adds a reading to pane `pane_no` in `area`, after dropping the expired panes.
    fn add(&mut self, reading: &Reading, pane_no: i64, area: u32, clock: Clock, now_secs: i64) {
        self.expire_panes(clock, now_secs);
        let pane = pane_for(&mut self.panes, pane_no, area);
        pane.readings += 1;
        let at = stamp(reading);
        for (q, v) in reading.quantities.iter() {
            pane.accs.add(q, v, at);
        }
        self.rolling_dirty = true;
        if self.newest.is_none_or(|t| reading.time > t) {
            self.newest = Some(reading.time);
        }
    }
}

/// The payload a reading came in, or its JSON when it came parsed (quoted in error reports).
fn payload_or_json<'p>(payload: Option<&'p [u8]>, reading: &Reading) -> Cow<'p, [u8]> {
    match payload {
        Some(p) => Cow::Borrowed(p),
        None => Cow::Owned(reading.to_json()),
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
    panes.insert(
        i,
        Pane {
            no,
            area,
            readings: 0,
            accs: Accs::default(),
        },
    );
    &mut panes[i]
}

/// Where a reading's values stand in its sensor's sequence (for the `last` time rule).
fn stamp(reading: &Reading) -> Stamp {
    // Validation bounds reading times (from 2000 to now + skew), well inside i64 nanoseconds.
    let time_ns = i64::try_from(reading.time.unix_nanos()).unwrap_or(i64::MAX);
    Stamp {
        time_ns,
        seq: reading.seq,
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

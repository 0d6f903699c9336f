//! Forgetting silent sensors: a sensor with no reading for `forget_sensors_after_secs` is
//! dropped from the core, with its retained rolling statistics (an empty retained message
//! removes them from the broker), so that the ids the core keeps, and the retained messages it
//! leaves, stay bounded by the sensors that are alive. Looked for at most once a minute.
//!
//! A sensor with a raised alert is kept until the alert clears: forgetting it would leave the
//! raised alert on the broker with nobody to clear it.

use garonne_payload::Timestamp;

use super::{Engine, Publish};
use crate::alerts::ScopeKind;

/// Silent sensors are looked for at most this often (nanoseconds: a minute).
const FORGET_EVERY_NANOS: i64 = 60_000_000_000;

impl Engine {
    /// Forgets the sensors whose newest reading is older than `forget_sensors_after_secs`.
    pub(super) fn forget_silent(&mut self, now: Timestamp, out: &mut Vec<Publish>) {
        if self.next_forget.is_some_and(|next| now < next) {
            return;
        }
        self.next_forget = Some(now.add_nanos(FORGET_EVERY_NANOS));
        let after = i64::from(self.settings.forget_sensors_after_secs) * 1_000_000_000;
        let horizon = now.add_nanos(-after);
        let mut s = 0;
        while s < self.sensors.len() {
            if self.is_silent(s, horizon) {
                self.forget(s, out);
            } else {
                s += 1;
            }
        }
        self.counters.sensors = self.sensors.len() as u64;
    }

    /// The indices of the rules that watch each sensor.
    fn sensor_rules(&self) -> impl Iterator<Item = u32> + '_ {
        self.rules
            .iter()
            .enumerate()
            .filter(|(_, rule)| rule.scope == ScopeKind::Sensor)
            .map(|(r, _)| r as u32)
    }

    /// Whether sensor `s` has had no reading since `horizon` and has no raised alert.
    fn is_silent(&self, s: usize, horizon: Timestamp) -> bool {
        let silent = self.sensors[s].newest.is_none_or(|newest| newest < horizon);
        silent
            && !self.sensor_rules().any(|r| {
                self.tracks
                    .get(&(r, s as u32))
                    .is_some_and(|track| track.raised)
            })
    }

    /// Drops sensor `s` (the last sensor takes its index) and withdraws its rolling statistics.
    fn forget(&mut self, s: usize, out: &mut Vec<Publish>) {
        let last = self.sensors.len() - 1;
        let gone = self.sensors.swap_remove(s);
        self.index.remove(&gone.id);
        if s != last {
            self.index.insert(self.sensors[s].id.clone(), s as u32);
        }
        let rules: Vec<u32> = self.sensor_rules().collect();
        for r in rules {
            self.tracks.remove(&(r, s as u32));
            if let Some(track) = self.tracks.remove(&(r, last as u32)) {
                self.tracks.insert((r, s as u32), track);
            }
        }
        if self.settings.publish_rolling {
            out.push(Publish {
                topic: self.topics.rolling(&gone.id),
                payload: Vec::new(),
                retain: true,
            });
        }
        self.counters.sensors_forgotten += 1;
    }
}

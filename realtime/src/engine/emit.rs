//! Emit time: the aggregation over all sensors, in three jobs. The **windows**: each open
//! window's statistics per neighbourhood, published when they changed, with each quantity's
//! `value` by its profile's rules (each sensor's readings by the `time` rule, then the
//! sensors by the `space` rule; see [`WindowStats`]); the **rolling**
//! statistics of each sensor with new readings; then the neighbourhood **alerts** (see
//! `alerting`), which read the windows.

use std::collections::{BTreeMap, VecDeque};

use garonne_payload::profile::{QuantityDef, SpaceAggregation};
use garonne_payload::{
    NeighbourhoodAggregate, Quantity, SPEC_VERSION, SensorRolling, Timestamp, WindowStats,
};

use super::{Engine, OUTSIDE, Pane, Publish, Sensor, seconds};
use crate::window::{Acc, Accs, Clock};

/// Statistics of one quantity across the sensors of one neighbourhood and window.
#[derive(Debug, Clone, Copy)]
pub(super) struct AreaStats {
    pub(super) sensors: u32,
    sum_of_means: f64,
    min: f64,
    max: f64,
    readings: u64,
    /// The sensors' values (each by the quantity's `time` rule) combined so far by its `space`
    /// rule: their sum for `mean` and `sum`, their min or max.
    combined: f64,
}

impl Default for AreaStats {
    fn default() -> AreaStats {
        AreaStats {
            sensors: 0,
            sum_of_means: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            readings: 0,
            combined: 0.0,
        }
    }
}

impl AreaStats {
    /// Adds one sensor's statistics of a quantity: its accumulator, and its value by the
    /// quantity's `time` rule, combined by the `space` rule (a sensor without the quantity adds
    /// nothing).
    fn add_sensor(&mut self, acc: &Acc, value: Option<f64>, space: SpaceAggregation) {
        let (Some(mean), Some(value)) = (acc.mean(), value) else {
            return;
        };
        self.combined = match (self.sensors, space) {
            (0, _) => value,
            (_, SpaceAggregation::Mean | SpaceAggregation::Sum) => self.combined + value,
            (_, SpaceAggregation::Min) => self.combined.min(value),
            (_, SpaceAggregation::Max) => self.combined.max(value),
        };
        self.sensors += 1;
        self.sum_of_means += mean;
        self.min = self.min.min(acc.min);
        self.max = self.max.max(acc.max);
        self.readings += u64::from(acc.count);
    }

    /// The quantity's value by its `space` rule (meaningful once a sensor is added).
    pub(super) fn value(&self, space: SpaceAggregation) -> f64 {
        match space {
            SpaceAggregation::Mean => self.combined / f64::from(self.sensors),
            SpaceAggregation::Sum | SpaceAggregation::Min | SpaceAggregation::Max => self.combined,
        }
    }

    /// The published form: the mean of the sensors' means, the value by the rules of `def`;
    /// `None` without a sensor.
    fn published(&self, def: &QuantityDef) -> Option<WindowStats> {
        (self.sensors > 0).then(|| WindowStats {
            mean: self.sum_of_means / f64::from(self.sensors),
            min: self.min,
            max: self.max,
            readings: self.readings,
            sensors: self.sensors,
            value: self.value(def.space),
        })
    }
}

/// One neighbourhood in one window, while aggregating.
#[derive(Debug, Clone, Default)]
pub(super) struct AreaWindow {
    readings: u64,
    /// By [`Quantity::index`], as long as the largest index met.
    pub(super) quantities: Vec<AreaStats>,
}

/// The open windows (`lo..=hi`) by neighbourhood, filled one sensor at a time.
pub(super) struct Windows {
    lo: i64,
    hi: i64,
    n_areas: usize,
    /// Window-major: `(w - lo) * n_areas + area`.
    cells: Vec<AreaWindow>,
    /// One sensor's share of each (cell, readings, statistics) it touches: usually one entry.
    parts: Vec<(usize, u32, Accs)>,
}

impl Windows {
    /// Empty cells for the windows open at `now_secs`, up to the one `skew_secs` ahead.
    fn new(clock: Clock, now_secs: i64, skew_secs: i64, n_areas: usize) -> Windows {
        let lo = clock.oldest_open(now_secs);
        let hi = clock.window_of(now_secs + skew_secs).max(lo);
        let n_windows = (hi - lo + 1) as usize;
        Windows {
            lo,
            hi,
            n_areas,
            cells: vec![AreaWindow::default(); n_windows * n_areas],
            parts: Vec::new(),
        }
    }

    /// Adds one sensor's panes: its own statistics per window first (a sensor counts once per
    /// window, whatever its number of panes), then those into the neighbourhood's cell.
    fn add_sensor(&mut self, panes: &VecDeque<Pane>, clock: Clock) {
        self.parts.clear();
        for pane in panes {
            let w = clock.window_of_pane(pane.no);
            if pane.area == OUTSIDE || !(self.lo..=self.hi).contains(&w) {
                continue;
            }
            let slot = (w - self.lo) as usize * self.n_areas + pane.area as usize;
            let i = match self.parts.iter().position(|p| p.0 == slot) {
                Some(i) => i,
                None => {
                    self.parts.push((slot, 0, Accs::default()));
                    self.parts.len() - 1
                }
            };
            self.parts[i].1 += pane.readings;
            self.parts[i].2.merge(&pane.accs);
        }
        for (slot, readings, accs) in &self.parts {
            let cell = &mut self.cells[*slot];
            cell.readings += u64::from(*readings);
            for (q, acc) in accs.iter() {
                if cell.quantities.len() <= q.index() {
                    cell.quantities.resize(q.index() + 1, AreaStats::default());
                }
                let def = q.def();
                let value = accs.by(q, acc, def.time);
                cell.quantities[q.index()].add_sensor(acc, value, def.space);
            }
        }
    }

    fn cell(&self, w: i64, area: usize) -> &AreaWindow {
        &self.cells[(w - self.lo) as usize * self.n_areas + area]
    }

    /// The statistics of quantity `q` in the newest window where neighbourhood `area` has it.
    pub(super) fn newest(&self, area: usize, q: Quantity) -> Option<&AreaStats> {
        (self.lo..=self.hi)
            .rev()
            .filter_map(|w| self.cell(w, area).quantities.get(q.index()))
            .find(|st| st.sensors > 0)
    }
}

impl Engine {
    /// Computes and publishes what changed: aggregates, rolling statistics, neighbourhood
    /// alerts. [`Engine::tick`] calls it on cadence; the driver calls it once more at shutdown.
    pub fn emit(&mut self, now: Timestamp, out: &mut Vec<Publish>) {
        let clock = self.clock;
        let now_secs = now.unix_secs();
        let skew_secs = i64::from(self.settings.limits.max_future_skew_secs);
        let mut windows = Windows::new(clock, now_secs, skew_secs, self.areas.len());
        let rolling_lo = clock.rolling_start(now_secs);
        let mut rolling = Accs::default();
        for s in 0..self.sensors.len() {
            let sensor = &mut self.sensors[s];
            sensor.expire_panes(clock, now_secs);
            windows.add_sensor(&sensor.panes, clock);
            if sensor.take_rolling(rolling_lo, &mut rolling) {
                self.publish_rolling(s, &rolling, out);
            }
        }
        self.publish_windows(&windows, now, out);
        self.check_area_rules(&windows, now, out);
        self.counters.sensors = self.sensors.len() as u64;
        self.counters.active_alerts = self.tracks.values().filter(|t| t.raised).count() as u64;
    }

    /// Publishes each window's aggregate of each neighbourhood whose readings changed since
    /// its last publication, oldest window first: the retained message left on each topic is
    /// the newest window.
    fn publish_windows(&mut self, windows: &Windows, now: Timestamp, out: &mut Vec<Publish>) {
        for w in windows.lo..=windows.hi {
            for a in 0..windows.n_areas {
                let cell = windows.cell(w, a);
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
                    window_start: seconds(self.clock.window_start(w)),
                    window_end: seconds(self.clock.window_end(w)),
                    emitted_at: now,
                    quantities: stats_map(cell.quantities.iter().enumerate().filter_map(
                        |(i, st)| {
                            let q = Quantity::from_index(i)?;
                            Some((q, st.published(q.def())))
                        },
                    )),
                };
                let topic = self.topics.aggregate(area.id());
                if let Some(publish) = Publish::json(topic, &message, true) {
                    out.push(publish);
                    self.counters.aggregates += 1;
                }
            }
        }
        self.published.retain(|(w, _), _| *w >= windows.lo);
    }

    /// Publishes the rolling statistics of sensor `s`, if the settings ask for them.
    fn publish_rolling(&mut self, s: usize, rolling: &Accs, out: &mut Vec<Publish>) {
        let sensor = &self.sensors[s];
        let Some(time) = sensor.newest.filter(|_| self.settings.publish_rolling) else {
            return;
        };
        let quantities = stats_map(rolling.iter().map(|(q, acc)| {
            let stats = acc.mean().map(|mean| WindowStats {
                mean,
                min: acc.min,
                max: acc.max,
                readings: u64::from(acc.count),
                sensors: 1,
                value: rolling.by(q, acc, q.def().time).unwrap_or(mean),
            });
            (q, stats)
        }));
        if quantities.is_empty() {
            return;
        }
        let message = SensorRolling {
            v: SPEC_VERSION,
            sensor_id: sensor.id.clone(),
            window_secs: self.clock.window_secs() as u32,
            time,
            quantities,
        };
        if let Some(publish) = Publish::json(self.topics.rolling(&sensor.id), &message, true) {
            out.push(publish);
            self.counters.rolling += 1;
        }
    }
}

impl Sensor {
    /// Puts in `rolling` the sensor's statistics over its panes from `rolling_lo` on, if it
    /// has new readings since the last call; whether it had. Performance: `rolling` is the
    /// caller's buffer, not a new array per sensor.
    fn take_rolling(&mut self, rolling_lo: i64, rolling: &mut Accs) -> bool {
        if !self.rolling_dirty {
            return false;
        }
        self.rolling_dirty = false;
        rolling.clear();
        for pane in self.panes.iter().filter(|p| p.no >= rolling_lo) {
            rolling.merge(&pane.accs);
        }
        true
    }
}

/// The quantities that have statistics, by name.
fn stats_map(
    per_quantity: impl Iterator<Item = (Quantity, Option<WindowStats>)>,
) -> BTreeMap<Quantity, WindowStats> {
    per_quantity
        .filter_map(|(q, s)| s.map(|s| (q, s)))
        .collect()
}

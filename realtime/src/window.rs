//! Event-time arithmetic and the running statistics the windows are made of.
//!
//! Time is cut into **panes** of `window / panes_per_window` seconds, aligned on the Unix epoch.
//! A **window** is `panes_per_window` consecutive panes, also aligned (a 15-minute window runs
//! 10:00–10:15, 10:15–10:30, ...): the neighbourhood aggregates are tumbling windows on the
//! readings' own times. The per-sensor rolling statistics slide by one pane: they cover the
//! pane of `now` and the `panes_per_window − 1` before it.
//!
//! A window accepts readings until `now` passes its end plus the allowed lateness; a reading
//! for a window already closed is *late*: counted, reported, not folded.
//!
//! An [`Accs`] keeps, per quantity, what every `time` rule of a profile needs, in one pass: an
//! [`Acc`] (count, sum, min, max: the mean, sum, min and max rules) and, for the quantities
//! whose rule is `last` only, a [`Last`]: the last value and its [`Stamp`]. "Last" is by event
//! time, not arrival: the value of the reading with the latest time; between readings of the
//! same time, the higher `seq`; between equal stamps, the one folded last (arrival).
//!
//! Performance: the last values live beside the accumulators, not in them, so an [`Acc`] stays
//! 32 bytes and a weather reading's fold touches as much memory as before the rules; only a
//! `last` quantity pays for its stamp.

use garonne_payload::Quantity;
use garonne_payload::profile::TimeAggregation;
use serde::{Deserialize, Serialize};
use smallvec::SmallVec;

/// Count, sum, min and max of the values of one quantity.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Acc {
    /// Values folded in.
    pub count: u32,
    /// Their sum.
    pub sum: f64,
    /// The smallest (+∞ when empty).
    pub min: f64,
    /// The largest (−∞ when empty).
    pub max: f64,
}

impl Acc {
    /// No value yet.
    pub const EMPTY: Acc = Acc {
        count: 0,
        sum: 0.0,
        min: f64::INFINITY,
        max: f64::NEG_INFINITY,
    };

    /// Folds one value in.
    #[inline]
    pub fn add(&mut self, value: f64) {
        self.count += 1;
        self.sum += value;
        self.min = self.min.min(value);
        self.max = self.max.max(value);
    }

    /// Folds another accumulator in.
    #[inline]
    pub fn merge(&mut self, other: &Acc) {
        self.count += other.count;
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    /// The mean, when there is a value.
    pub fn mean(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum / f64::from(self.count))
    }
}

impl Default for Acc {
    fn default() -> Acc {
        Acc::EMPTY
    }
}

/// Where a value stands in a sensor's sequence, to find the last one: its reading's time
/// (Unix nanoseconds), then its `seq`. Ordered by time, then `seq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Stamp {
    /// The reading's time, Unix nanoseconds.
    pub time_ns: i64,
    /// The reading's sequence number.
    pub seq: u64,
}

/// The last value of a quantity and its stamp.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Last {
    /// The value.
    pub value: f64,
    /// The stamp of its reading.
    pub at: Stamp,
}

impl Last {
    /// Keeps `other` if it is as late as this one or later (of equal stamps, the one folded
    /// last wins).
    #[inline]
    fn update(&mut self, other: Last) {
        if other.at >= self.at {
            *self = other;
        }
    }
}

/// An [`Acc`] per quantity measured, sorted by quantity; and the [`Last`] value of those whose
/// `time` rule is `last`.
///
/// Performance: a sensor measures a few quantities of the catalogue's many, so the pairs are
/// kept inline (up to ten, a weather station's) and found by a short scan.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Accs {
    accs: SmallVec<[(Quantity, Acc); 10]>,
    /// Sorted by quantity; empty (no allocation) for a sensor without a `last` quantity.
    lasts: Vec<(Quantity, Last)>,
}

impl Accs {
    /// The accumulator of `q`, made empty if there was none.
    fn entry(&mut self, q: Quantity) -> &mut Acc {
        let at = match self.accs.binary_search_by_key(&q, |(k, _)| *k) {
            Ok(at) => at,
            Err(at) => {
                self.accs.insert(at, (q, Acc::EMPTY));
                at
            }
        };
        &mut self.accs[at].1
    }

    /// Keeps `last` as the last value of `q` if it is the latest.
    fn update_last(&mut self, q: Quantity, last: Last) {
        match self.lasts.binary_search_by_key(&q, |(k, _)| *k) {
            Ok(at) => self.lasts[at].1.update(last),
            Err(at) => self.lasts.insert(at, (q, last)),
        }
    }

    /// Folds one value of `q` in, from the reading stamped `at`.
    #[inline]
    pub fn add(&mut self, q: Quantity, value: f64, at: Stamp) {
        self.entry(q).add(value);
        if q.def().time == TimeAggregation::Last {
            self.update_last(q, Last { value, at });
        }
    }

    /// Folds another set in, quantity by quantity (`other` counts as folded after `self`).
    pub fn merge(&mut self, other: &Accs) {
        for (q, acc) in &other.accs {
            self.entry(*q).merge(acc);
        }
        for (q, last) in &other.lasts {
            self.update_last(*q, *last);
        }
    }

    /// Sets the accumulator of `q` (restoring a snapshot).
    pub fn set(&mut self, q: Quantity, acc: Acc) {
        *self.entry(q) = acc;
    }

    /// Sets the last value of `q` (restoring a snapshot).
    pub fn set_last(&mut self, q: Quantity, last: Last) {
        match self.lasts.binary_search_by_key(&q, |(k, _)| *k) {
            Ok(at) => self.lasts[at].1 = last,
            Err(at) => self.lasts.insert(at, (q, last)),
        }
    }

    /// The quantities with their accumulators, in quantity order.
    pub fn iter(&self) -> impl Iterator<Item = (Quantity, &Acc)> {
        self.accs.iter().map(|(q, acc)| (*q, acc))
    }

    /// The last values kept, in quantity order.
    pub fn lasts(&self) -> impl Iterator<Item = (Quantity, &Last)> {
        self.lasts.iter().map(|(q, last)| (*q, last))
    }

    /// The values of `q` (whose accumulator is `acc`) combined by the `time` rule `rule`, when
    /// there is a value. A `last` quantity without a last value (restored from a format-1
    /// snapshot, which did not keep them) gives its mean until a reading comes.
    pub fn by(&self, q: Quantity, acc: &Acc, rule: TimeAggregation) -> Option<f64> {
        if acc.count == 0 {
            return None;
        }
        Some(match rule {
            TimeAggregation::Mean => acc.sum / f64::from(acc.count),
            TimeAggregation::Sum => acc.sum,
            TimeAggregation::Min => acc.min,
            TimeAggregation::Max => acc.max,
            TimeAggregation::Last => match self.lasts.binary_search_by_key(&q, |(k, _)| *k) {
                Ok(at) => self.lasts[at].1.value,
                Err(_) => acc.sum / f64::from(acc.count),
            },
        })
    }

    /// Forgets every quantity.
    pub fn clear(&mut self) {
        self.accs.clear();
        self.lasts.clear();
    }
}

/// Pane and window arithmetic for one configuration. All instants are whole Unix seconds
/// (a reading at 10:14:59.9 is in the pane of 10:14:59).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock {
    pane_secs: i64,
    panes_per_window: i64,
    lateness_secs: i64,
}

impl Clock {
    /// A clock for windows of `window_secs`, cut into `panes_per_window` panes (which must
    /// divide it), accepting readings `lateness_secs` after a window's end.
    pub fn new(window_secs: u32, panes_per_window: u32, lateness_secs: u32) -> Clock {
        let panes = i64::from(panes_per_window.max(1));
        Clock {
            pane_secs: (i64::from(window_secs) / panes).max(1),
            panes_per_window: panes,
            lateness_secs: i64::from(lateness_secs),
        }
    }

    /// Length of a window, seconds.
    pub fn window_secs(&self) -> i64 {
        self.pane_secs * self.panes_per_window
    }

    /// Panes per window.
    pub fn panes_per_window(&self) -> i64 {
        self.panes_per_window
    }

    /// The pane number of the instant `unix_secs`.
    #[inline]
    pub fn pane_of(&self, unix_secs: i64) -> i64 {
        unix_secs.div_euclid(self.pane_secs)
    }

    /// The window number of a pane.
    #[inline]
    pub fn window_of_pane(&self, pane: i64) -> i64 {
        pane.div_euclid(self.panes_per_window)
    }

    /// The window number of the instant `unix_secs`.
    #[inline]
    pub fn window_of(&self, unix_secs: i64) -> i64 {
        self.window_of_pane(self.pane_of(unix_secs))
    }

    /// Start of window `w`, Unix seconds (inclusive).
    pub fn window_start(&self, w: i64) -> i64 {
        w * self.window_secs()
    }

    /// End of window `w`, Unix seconds (exclusive).
    pub fn window_end(&self, w: i64) -> i64 {
        (w + 1) * self.window_secs()
    }

    /// Whether window `w` no longer accepts readings at `now_secs`.
    #[inline]
    pub fn is_closed(&self, w: i64, now_secs: i64) -> bool {
        now_secs >= self.window_end(w) + self.lateness_secs
    }

    /// The oldest window still open at `now_secs`.
    pub fn oldest_open(&self, now_secs: i64) -> i64 {
        (now_secs - self.lateness_secs).div_euclid(self.window_secs())
    }

    /// The oldest pane the rolling statistics cover at `now_secs`.
    pub fn rolling_start(&self, now_secs: i64) -> i64 {
        self.pane_of(now_secs) - self.panes_per_window + 1
    }

    /// Whether pane `p` serves nothing any more at `now_secs`: its window is closed and it has
    /// left the rolling range.
    #[inline]
    pub fn is_expired(&self, pane: i64, now_secs: i64) -> bool {
        pane < self.rolling_start(now_secs) && self.is_closed(self.window_of_pane(pane), now_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(time_ns: i64, seq: u64) -> Stamp {
        Stamp { time_ns, seq }
    }

    fn q(name: &str) -> Quantity {
        Quantity::from_name(name).unwrap_or_else(|| panic!("{name} is built in"))
    }

    #[test]
    fn accumulators_keep_count_sum_min_max() {
        let mut a = Acc::EMPTY;
        assert_eq!(a.mean(), None);
        for v in [3.0, -1.0, 4.0] {
            a.add(v);
        }
        let mut b = Acc::EMPTY;
        b.add(10.0);
        a.merge(&b);
        assert_eq!((a.count, a.sum, a.min, a.max), (4, 16.0, -1.0, 10.0));
        assert_eq!(a.mean(), Some(4.0));
    }

    #[test]
    fn each_time_rule_reads_the_accumulators() {
        // LAS (noise) is a `last` quantity; temperature is not, and keeps no last value.
        let las = q("LAS");
        let mut accs = Accs::default();
        // Out of order: the reading of time 30 arrives first, yet 12 (time 50) is the last.
        for (v, t) in [(7.0, 30), (12.0, 50), (3.0, 10)] {
            accs.add(las, v, stamp(t, 0));
            accs.add(Quantity::Temperature, v, stamp(t, 0));
        }
        assert_eq!(accs.lasts().map(|(q, _)| q).collect::<Vec<_>>(), [las]);
        let (_, acc) = accs.iter().find(|(k, _)| *k == las).expect("LAS");
        let by = |rule| accs.by(las, acc, rule).expect("a value");
        assert_eq!(by(TimeAggregation::Mean), 22.0 / 3.0);
        assert_eq!(by(TimeAggregation::Sum), 22.0);
        assert_eq!(by(TimeAggregation::Min), 3.0);
        assert_eq!(by(TimeAggregation::Max), 12.0);
        assert_eq!(by(TimeAggregation::Last), 12.0);
        assert_eq!(accs.by(las, &Acc::EMPTY, TimeAggregation::Last), None);
        // Without a last value (a format-1 snapshot's), `last` reads the mean.
        let (_, t) = accs.iter().next().expect("temperature");
        assert_eq!(
            accs.by(Quantity::Temperature, t, TimeAggregation::Last),
            Some(22.0 / 3.0)
        );
    }

    #[test]
    fn the_last_value_is_by_time_then_seq_then_arrival() {
        let las = q("LAS");
        let last = |values: &[(f64, Stamp)]| {
            let mut accs = Accs::default();
            for (v, at) in values {
                accs.add(las, *v, *at);
            }
            accs.lasts().next().map(|(_, l)| l.value)
        };
        assert_eq!(
            last(&[(1.0, stamp(5, 9)), (2.0, stamp(6, 0))]),
            Some(2.0),
            "time"
        );
        assert_eq!(
            last(&[(2.0, stamp(6, 0)), (1.0, stamp(5, 9))]),
            Some(2.0),
            "late"
        );
        assert_eq!(
            last(&[(1.0, stamp(5, 2)), (2.0, stamp(5, 1))]),
            Some(1.0),
            "seq"
        );
        assert_eq!(
            last(&[(1.0, stamp(5, 1)), (2.0, stamp(5, 1))]),
            Some(2.0),
            "arrival"
        );
        // Merging: the newer stamp wins whichever side it is on.
        let mut old = Accs::default();
        old.add(las, 4.0, stamp(1, 0));
        let mut new = Accs::default();
        new.add(las, 9.0, stamp(2, 0));
        let mut merged = new.clone();
        merged.merge(&old);
        assert_eq!(merged.lasts().next().map(|(_, l)| l.value), Some(9.0));
        old.merge(&new);
        assert_eq!(old.lasts().next().map(|(_, l)| l.value), Some(9.0));
        assert_eq!(old.iter().next().map(|(_, a)| a.count), Some(2));
    }

    #[test]
    fn panes_and_windows_are_aligned_on_the_epoch() {
        // 15-minute windows of five 3-minute panes, 2 minutes of lateness.
        let c = Clock::new(900, 5, 120);
        let t = 1_763_719_200; // 2025-11-21T10:00:00Z, a window boundary
        let cases = [
            // (instant, pane offset from t's pane, window offset from t's window)
            (t, 0, 0),
            (t + 179, 0, 0),
            (t + 180, 1, 0),
            (t + 899, 4, 0),
            (t + 900, 5, 1),
            (t - 1, -1, -1),
        ];
        for (instant, pane, window) in cases {
            assert_eq!(c.pane_of(instant) - c.pane_of(t), pane, "pane of {instant}");
            assert_eq!(
                c.window_of(instant) - c.window_of(t),
                window,
                "window of {instant}"
            );
        }
        let w = c.window_of(t);
        assert_eq!((c.window_start(w), c.window_end(w)), (t, t + 900));
        // Open until end + lateness, exclusive.
        assert!(!c.is_closed(w, t + 900 + 119));
        assert!(c.is_closed(w, t + 900 + 120));
        assert_eq!(c.oldest_open(t + 900 + 119), w);
        assert_eq!(c.oldest_open(t + 900 + 120), w + 1);
        // Before the epoch too (div_euclid, not truncation).
        assert_eq!(c.pane_of(-1), -1);
        assert_eq!(c.window_of(-1), -1);
    }

    #[test]
    fn a_pane_expires_once_closed_and_out_of_the_rolling_range() {
        let c = Clock::new(900, 5, 120);
        let t = 1_763_719_200;
        let p = c.pane_of(t); // first pane of its window
        // Rolling covers the pane of now and the 4 before: p is in range until p + 5 is now's.
        assert!(!c.is_expired(p, t + 4 * 180));
        // At t + 900 p left the rolling range but its window is open for 120 s more.
        assert!(!c.is_expired(p, t + 900));
        assert!(c.is_expired(p, t + 1020));
        // The last pane of the window stays for the rolling statistics after the close.
        assert!(!c.is_expired(p + 4, t + 1020));
    }
}

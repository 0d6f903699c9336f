//! Sessions: the runs of one device, as `/api/sessions` lists them, computed from the store
//! without reading every value back.
//!
//! A session is a run of one sensor: from its first to its last sample, with no gap between two
//! consecutive samples (of any quantity) longer than the gap asked ([`DEFAULT_GAP_SECS`], 60 s,
//! by default). A gap of exactly that length does not split. Only samples in `[from, to)` are
//! looked at: a run that started before `from` is a session starting at its first sample in the
//! range.
//!
//! Start and stop are not taken from status messages: a device's status says whether its
//! connection is up (`online`, and `offline` as the broker's last will), not whether it runs. A
//! car logging through a 4G gateway keeps its samples in its disk queue while the link is down
//! and sends them later with their own times: its status would cut one run in many, while the
//! gaps in the samples' times do not. Marking runs explicitly needs a field the status payload
//! does not have (see docs: sessions).
//!
//! # How
//!
//! The store counts the sensor's samples per interval of a quarter of the gap
//! ([`Timeline::counts`]: the embedded store by seeks over its keys and hourly records,
//! InfluxDB by one `SELECT count(*) ... GROUP BY time(...)`), each interval with its first and
//! last sample's time when the store knows them cheaply. Then [`sessions`] walks the non-empty
//! intervals: two with a gap of `e` empty intervals between them are apart by more than `e`
//! intervals and less than `e + 2`, which decides most cases; the few left (a pause of about the
//! gap) and each session's first and last sample are found exactly by [`Timeline::edge`], one
//! query each. The answer is exact, for the cost of a count per interval.

use std::collections::BTreeSet;

use garonne_payload::Timestamp;

use crate::history::HistoryError;

/// The gap that splits sessions by default, seconds.
pub const DEFAULT_GAP_SECS: u32 = 60;

/// Intervals counted per gap: the interval is a quarter of the gap.
const INTERVALS_PER_GAP: i64 = 4;

/// The most intervals one query may count: a range of 7 days at the default gap is 40,320.
pub const MAX_INTERVALS: i64 = 200_000;

/// Which sessions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionQuery {
    /// The sensor (device) id.
    pub sensor: String,
    /// Start of the range, inclusive.
    pub from: Timestamp,
    /// End of the range, exclusive.
    pub to: Timestamp,
    /// The longest gap within a session, seconds (at least 1).
    pub gap_secs: u32,
}

impl SessionQuery {
    /// The checks before any read: a sensor id, a gap of 1 s or more, a non-empty range within
    /// the years 1677 to 2262, at most [`MAX_INTERVALS`] intervals.
    ///
    /// # Errors
    ///
    /// [`HistoryError::Invalid`], saying what to change.
    pub fn check(&self) -> Result<(), HistoryError> {
        if self.sensor.is_empty() {
            return Err(HistoryError::Invalid("the sensor id is empty".to_owned()));
        }
        if self.gap_secs == 0 {
            return Err(HistoryError::Invalid(
                "a gap of 0 seconds: ask for a gap of 1 s or more".to_owned(),
            ));
        }
        crate::readings::Scan::new(Vec::new(), self.from, self.to).check()?;
        let (from, to) = self.range_ns();
        let intervals = (to - from) / self.interval_ns() + 1;
        if intervals > MAX_INTERVALS {
            let least = (i64::from(self.gap_secs) * intervals + MAX_INTERVALS - 1) / MAX_INTERVALS;
            return Err(HistoryError::Invalid(format!(
                "from {} to {} with a gap of {} s is {intervals} intervals to count, more than \
                 {MAX_INTERVALS}: ask for a gap of {least} s or more, or a shorter range",
                self.from, self.to, self.gap_secs
            )));
        }
        Ok(())
    }

    /// `from` and `to` in nanoseconds (after [`SessionQuery::check`]).
    pub(crate) fn range_ns(&self) -> (i64, i64) {
        crate::readings::Scan::new(Vec::new(), self.from, self.to).range_ns()
    }

    /// The gap in nanoseconds.
    fn gap_ns(&self) -> i64 {
        i64::from(self.gap_secs) * 1_000_000_000
    }

    /// The counting interval: a quarter of the gap, whole milliseconds (InfluxQL's unit).
    pub(crate) fn interval_ns(&self) -> i64 {
        self.gap_ns() / INTERVALS_PER_GAP
    }
}

/// One session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The sensor.
    pub sensor: String,
    /// Its first sample's time.
    pub start: Timestamp,
    /// Its last sample's time (included).
    pub end: Timestamp,
    /// Its values (one per quantity and time).
    pub samples: u64,
    /// The quantities it has values of, sorted.
    pub quantities: Vec<String>,
}

/// The samples of one non-empty interval of a sensor's timeline.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Counted {
    /// The interval's start, a multiple of its length since the epoch.
    pub start_ns: i64,
    /// Values in it.
    pub count: u64,
    /// Its first sample's time, if the store knew it cheaply.
    pub first_ns: Option<i64>,
    /// Its last sample's time, if the store knew it cheaply.
    pub last_ns: Option<i64>,
    /// The quantities it has values of.
    pub quantities: BTreeSet<String>,
}

impl Counted {
    /// Adds what `other` counted in the same interval.
    pub(crate) fn merge(&mut self, count: u64, first: Option<i64>, last: Option<i64>) {
        self.count += count;
        self.first_ns = min_of(self.first_ns, first);
        self.last_ns = max_of(self.last_ns, last);
    }
}

fn min_of(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    a.into_iter().chain(b).min()
}

fn max_of(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    a.into_iter().chain(b).max()
}

/// A store that counts a sensor's samples over time.
pub trait Timeline: Send + Sync {
    /// The non-empty intervals of `SessionQuery::interval_ns` of the sensor's samples in the
    /// query's range (already checked), oldest first.
    fn counts(
        &self,
        query: &SessionQuery,
    ) -> impl Future<Output = Result<Vec<Counted>, HistoryError>> + Send;

    /// The time of the sensor's first (`last` false) or last sample in `[from_ns, to_ns)`.
    /// Only asked for intervals whose [`Counted`] lacks it; by default `None` (the interval's
    /// bounds are then used).
    fn edge(
        &self,
        sensor: &str,
        from_ns: i64,
        to_ns: i64,
        last: bool,
    ) -> impl Future<Output = Result<Option<i64>, HistoryError>> + Send {
        let _ = (sensor, from_ns, to_ns, last);
        async { Ok(None) }
    }
}

/// The sessions of `query` from `store`, oldest first (see the module doc).
///
/// # Errors
///
/// [`HistoryError::Invalid`] for a query [`SessionQuery::check`] refuses,
/// [`HistoryError::Unavailable`] when the store does not answer.
pub async fn sessions<T: Timeline>(
    store: &T,
    query: &SessionQuery,
) -> Result<Vec<Session>, HistoryError> {
    query.check()?;
    let (from, to) = query.range_ns();
    let (width, gap) = (query.interval_ns(), query.gap_ns());
    let intervals = store.counts(query).await?;
    // The bounds of an interval within the range.
    let bounds = |c: &Counted| {
        (
            c.start_ns.max(from),
            c.start_ns.saturating_add(width).min(to),
        )
    };
    let first = async |c: &Counted| -> Result<i64, HistoryError> {
        let (lo, hi) = bounds(c);
        Ok(match c.first_ns {
            Some(t) => t,
            None => store
                .edge(&query.sensor, lo, hi, false)
                .await?
                .unwrap_or(lo),
        })
    };
    let last = async |c: &Counted| -> Result<i64, HistoryError> {
        let (lo, hi) = bounds(c);
        Ok(match c.last_ns {
            Some(t) => t,
            None => store
                .edge(&query.sensor, lo, hi, true)
                .await?
                .unwrap_or(hi - 1),
        })
    };
    let mut runs: Vec<(Counted, Counted, u64, BTreeSet<String>)> = Vec::new();
    for interval in intervals {
        let split = match runs.last() {
            None => true,
            Some((_, previous, _, _)) => {
                let empty = (interval.start_ns - previous.start_ns) / width - 1;
                if empty.saturating_mul(width) >= gap {
                    true
                } else if (empty + 2).saturating_mul(width) <= gap {
                    false
                } else {
                    first(&interval).await? - last(previous).await? > gap
                }
            }
        };
        if split {
            let quantities = interval.quantities.clone();
            runs.push((
                interval.clone(),
                interval.clone(),
                interval.count,
                quantities,
            ));
        } else if let Some((_, end, samples, quantities)) = runs.last_mut() {
            *samples += interval.count;
            quantities.extend(interval.quantities.iter().cloned());
            *end = interval;
        }
    }
    let mut out = Vec::with_capacity(runs.len());
    for (start, end, samples, quantities) in runs {
        out.push(Session {
            sensor: query.sensor.clone(),
            start: time(first(&start).await?),
            end: time(last(&end).await?),
            samples,
            quantities: quantities.into_iter().collect(),
        });
    }
    Ok(out)
}

fn time(ns: i64) -> Timestamp {
    Timestamp::UNIX_EPOCH.add_nanos(ns)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    const SEC: i64 = 1_000_000_000;

    /// A timeline of sample times in memory, counted as a store counts them; `exact` says
    /// whether the intervals carry their first and last times.
    struct Times {
        times: Vec<i64>,
        exact: bool,
    }

    impl Timeline for Times {
        async fn counts(&self, query: &SessionQuery) -> Result<Vec<Counted>, HistoryError> {
            let (from, to) = query.range_ns();
            let w = query.interval_ns();
            let mut intervals: BTreeMap<i64, Counted> = BTreeMap::new();
            for &t in self.times.iter().filter(|t| (from..to).contains(*t)) {
                let start = t.div_euclid(w) * w;
                let c = intervals.entry(start).or_insert_with(|| Counted {
                    start_ns: start,
                    ..Counted::default()
                });
                let (first, last) = if self.exact {
                    (Some(t), Some(t))
                } else {
                    (None, None)
                };
                c.merge(1, first, last);
                c.quantities.insert("speed".into());
            }
            Ok(intervals.into_values().collect())
        }

        async fn edge(
            &self,
            _: &str,
            from: i64,
            to: i64,
            last: bool,
        ) -> Result<Option<i64>, HistoryError> {
            let inside = self
                .times
                .iter()
                .copied()
                .filter(|t| (from..to).contains(t));
            Ok(if last { inside.max() } else { inside.min() })
        }
    }

    fn query(gap_secs: u32) -> SessionQuery {
        SessionQuery {
            sensor: "car-1".into(),
            from: time(0),
            to: time(1_000 * SEC),
            gap_secs,
        }
    }

    /// The sessions as (start, end, samples) in seconds, both ways of counting.
    async fn runs(times: &[i64], gap_secs: u32) -> Vec<(i64, i64, u64)> {
        let mut answers = Vec::new();
        for exact in [true, false] {
            let store = Times {
                times: times.to_vec(),
                exact,
            };
            let sessions = sessions(&store, &query(gap_secs)).await.expect("sessions");
            answers.push(
                sessions
                    .iter()
                    .map(|s| (s.start.unix_secs(), s.end.unix_secs(), s.samples))
                    .collect::<Vec<_>>(),
            );
        }
        assert_eq!(answers[0], answers[1], "exact and refined counts agree");
        answers.swap_remove(0)
    }

    #[tokio::test]
    async fn a_gap_longer_than_asked_splits_and_one_as_long_does_not() {
        // 1 Hz from 10 to 20 s, a gap of exactly 60 s, 80 to 85 s, a gap of 60 s + 1 ns.
        let mut times: Vec<i64> = (10..=20).map(|s| s * SEC).collect();
        times.extend((80..=85).map(|s| s * SEC));
        times.push(145 * SEC + 1);
        assert_eq!(runs(&times, 60).await, [(10, 85, 17), (145, 145, 1)]);
        // Gaps of 59.5 s and 61 s, whatever their place in the counting intervals.
        for offset in [0, 3 * SEC + 7, 14 * SEC] {
            let times = [
                offset,
                offset + 59 * SEC + SEC / 2,
                offset + 120 * SEC + SEC / 2,
            ];
            let got = runs(&times, 60).await;
            assert_eq!(got.len(), 2, "{offset}: {got:?}");
            assert_eq!(got[0].2, 2);
        }
        assert_eq!(runs(&[], 60).await, []);
        // The gap asked changes the answer.
        assert_eq!(runs(&[0, 30 * SEC, 100 * SEC], 10).await.len(), 3);
        assert_eq!(runs(&[0, 30 * SEC, 100 * SEC], 70).await, [(0, 100, 3)]);
    }

    #[test]
    fn queries_are_checked() {
        let mut q = query(60);
        assert!(q.check().is_ok());
        q.gap_secs = 0;
        assert!(q.check().is_err());
        let mut q = query(1);
        q.to = time(10 * 86_400 * SEC);
        let error = q.check().expect_err("too many intervals").to_string();
        assert!(error.contains("ask for a gap of 18 s or more"), "{error}");
        let mut q = query(60);
        q.sensor.clear();
        assert!(q.check().is_err());
    }
}

//! History queries, as the server asks them: one quantity of one sensor or one neighbourhood,
//! over a time range, as mean/min/max/count per interval. Every store gives the same answers
//! (InfluxDB through InfluxQL on `/query`, the embedded store through SQL).
//!
//! Semantics (the tests hold every store to them):
//! - Intervals are aligned on the Unix epoch (`floor(time / every) * every`), like InfluxQL's
//!   `GROUP BY time(every)`; intervals without data are left out.
//! - A sensor's history comes from its `reading` points with `from <= time < to`: mean, min
//!   and max of the quantity's values, count of readings carrying it.
//! - A neighbourhood's history comes from its `aggregate` points with
//!   `from <= window_start < to`: mean of the windows' values (the quantity's aggregate by its
//!   profile's rules: a quartier's bikes are the sum of its stations'; for the weather
//!   quantities the value is the mean), min of their mins, max of their maxes, count = sum of
//!   their readings. A bucket whose windows were stored before values existed (schema 2 of the
//!   embedded store, an older historian) gives the mean of their means instead.

use std::future::Future;

use garonne_payload::{Quantity, Timestamp};

/// Whose history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// One sensor, by id.
    Sensor(String),
    /// One neighbourhood, by id.
    Neighbourhood(String),
}

/// A history query.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// Whose history.
    pub subject: Subject,
    /// Which quantity.
    pub quantity: Quantity,
    /// Start of the range, inclusive.
    pub from: Timestamp,
    /// End of the range, exclusive.
    pub to: Timestamp,
    /// Interval length in seconds, at least 1.
    pub every_secs: u32,
}

impl Query {
    /// The checks every store makes before it reads anything: an interval of 1 s or more, a
    /// non-empty range.
    ///
    /// # Errors
    ///
    /// [`HistoryError::Invalid`], saying what to change.
    pub fn check(&self) -> Result<(), HistoryError> {
        if self.every_secs == 0 {
            return Err(HistoryError::Invalid(
                "an interval of 0 seconds: ask for every_secs of 1 or more".to_owned(),
            ));
        }
        if self.from >= self.to {
            return Err(HistoryError::Invalid(format!(
                "an empty range, from {} to {}: from must be before to (to is excluded)",
                self.from, self.to
            )));
        }
        Ok(())
    }
}

/// The statistics of one interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    /// Interval start.
    pub start: Timestamp,
    /// Mean value.
    pub mean: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// Number of readings.
    pub count: u64,
}

/// Why a query failed.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// The query itself is wrong (empty range, interval of 0, unknown id format): the message
    /// says what to change.
    #[error("invalid history query: {0}")]
    Invalid(String),
    /// The store could not answer (down, timeout, unexpected response).
    #[error("the history store did not answer: {0}")]
    Unavailable(String),
}

/// A store that answers history queries.
pub trait History: Send + Sync {
    /// The buckets of `query`, oldest first.
    fn query(
        &self,
        query: &Query,
    ) -> impl Future<Output = Result<Vec<Bucket>, HistoryError>> + Send;
}

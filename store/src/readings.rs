//! Raw readings read back: every stored value of chosen sensors and quantities over a time range,
//! at full rate, with its original time in nanoseconds, in time order, a page at a time. What
//! replay (`garonne replay`), export (CSV, Parquet) and the telemetry page (`/api/readings`)
//! read. Every store gives the same answers (the embedded store through SQL, InfluxDB through
//! InfluxQL on `/query`); the tests hold them to it.
//!
//! Semantics:
//! - A [`Sample`] is one value: a sensor, a quantity, a time (ns since the epoch) and the value,
//!   from the `reading` points with `from <= time < to`.
//! - Samples come in the order of their key `(time_ns, sensor, quantity)`, names compared
//!   byte by byte: samples of the same time (several sensors, several quantities of a reading)
//!   always come in the same order.
//! - [`Scan::sensors`] and [`Scan::quantities`] empty mean every sensor and every quantity.
//!   A sensor or quantity the store has never seen is no error: it has no samples.
//! - A [`Page`] holds at most the `limit` asked, and the [`Cursor`] of its last sample when
//!   more may follow: the next page is asked with it and starts right after it. Pages are
//!   independent requests (no state is kept between them), so a cursor can travel through an
//!   HTTP API ([`Cursor::token`], [`Cursor::parse`]). Memory is bounded by the page: a
//!   10-minute session of 200 channels at 100 Hz (12 million values) is read page by page.
//! - The embedded store answers from the raw values it keeps (7 days by default, see
//!   [`crate::embedded`]): older readings are hourly rows, which have no samples to give.
//!   InfluxDB keeps what its retention policy keeps.
//! - Two points of the same sensor and time that differ by their `source` tag are two points in
//!   InfluxDB but one in the embedded store (its key has no source): a scan gives one sample
//!   per key, the first InfluxDB answers.
//!
//! [`Pages`] walks a whole scan page by page; [`stream`] is the same as a
//! [`futures_util::Stream`]. [`StoredReadings`] is the reader of the store a `[store]` block
//! names.

use std::future::Future;
use std::sync::Arc;

use futures_util::Stream;
use garonne_payload::Timestamp;

use crate::config::{InfluxV1Config, InfluxV2Config, StoreConfig};
use crate::embedded::EmbeddedHistory;
use crate::history::{Bucket, History, HistoryError, Query};
use crate::influx::{Credentials, InfluxQl};
use crate::sessions::{Counted, SessionQuery, Timeline};

/// The page size callers use when they have no reason to choose another.
pub const DEFAULT_PAGE: usize = 10_000;

/// The largest page a store is asked for: larger limits are lowered to it.
pub const MAX_PAGE: usize = 100_000;

/// What to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scan {
    /// Sensor ids; empty for every sensor.
    pub sensors: Vec<String>,
    /// Quantity names, as on the wire (`temperature`, a DBC channel's name); empty for every
    /// quantity.
    pub quantities: Vec<String>,
    /// Start of the range, inclusive.
    pub from: Timestamp,
    /// End of the range, exclusive.
    pub to: Timestamp,
}

impl Scan {
    /// Every sample of `sensors` (empty: all) in `[from, to)`, all quantities.
    pub fn new(sensors: Vec<String>, from: Timestamp, to: Timestamp) -> Scan {
        Scan {
            sensors,
            quantities: Vec::new(),
            from,
            to,
        }
    }

    /// The checks every store makes before it reads: a non-empty range within the years
    /// 1677 to 2262 (nanoseconds in 64 bits), no empty id or name.
    ///
    /// # Errors
    ///
    /// [`HistoryError::Invalid`], saying what to change.
    pub fn check(&self) -> Result<(), HistoryError> {
        if self.from >= self.to {
            return Err(HistoryError::Invalid(format!(
                "an empty range, from {} to {}: from must be before to (to is excluded)",
                self.from, self.to
            )));
        }
        for t in [self.from, self.to] {
            if i64::try_from(t.unix_nanos()).is_err() {
                return Err(HistoryError::Invalid(format!(
                    "{t} is outside the range of stored times (years 1677 to 2262)"
                )));
            }
        }
        if self.sensors.iter().any(String::is_empty) {
            return Err(HistoryError::Invalid("a sensor id is empty".to_owned()));
        }
        if self.quantities.iter().any(String::is_empty) {
            return Err(HistoryError::Invalid("a quantity name is empty".to_owned()));
        }
        Ok(())
    }

    /// `from` and `to` in nanoseconds (after [`Scan::check`]).
    pub(crate) fn range_ns(&self) -> (i64, i64) {
        let ns = |t: Timestamp| i64::try_from(t.unix_nanos()).unwrap_or(i64::MAX);
        (ns(self.from), ns(self.to))
    }
}

/// One stored value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Nanoseconds since the Unix epoch: the reading's own time.
    pub time_ns: i64,
    /// The sensor id (shared by the samples of a page).
    pub sensor: Arc<str>,
    /// The quantity name (shared by the samples of a page).
    pub quantity: Arc<str>,
    /// The value.
    pub value: f64,
}

impl Sample {
    /// The time as a [`Timestamp`].
    pub fn time(&self) -> Timestamp {
        Timestamp::UNIX_EPOCH.add_nanos(self.time_ns)
    }

    /// Whether this sample comes after `cursor` in scan order.
    pub fn is_after(&self, cursor: &Cursor) -> bool {
        (self.time_ns, &*self.sensor, &*self.quantity)
            > (
                cursor.time_ns,
                cursor.sensor.as_str(),
                cursor.quantity.as_str(),
            )
    }

    /// The cursor that resumes a scan right after this sample.
    pub fn cursor(&self) -> Cursor {
        Cursor {
            time_ns: self.time_ns,
            sensor: self.sensor.to_string(),
            quantity: self.quantity.to_string(),
        }
    }
}

/// Samples in scan order: by time, then sensor, then quantity.
pub(crate) fn sort(samples: &mut [Sample]) {
    samples.sort_by(|a, b| {
        (a.time_ns, &*a.sensor, &*a.quantity).cmp(&(b.time_ns, &*b.sensor, &*b.quantity))
    });
}

/// Where a scan resumes: the key of the last sample given. The next page starts with the first
/// sample whose key `(time_ns, sensor, quantity)` is greater.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cursor {
    /// Nanoseconds since the epoch.
    pub time_ns: i64,
    /// Sensor id (empty: before every sensor of that time).
    pub sensor: String,
    /// Quantity name (empty: before every quantity of that sensor and time).
    pub quantity: String,
}

impl Cursor {
    /// The cursor before every sample of `time_ns`.
    pub fn before(time_ns: i64) -> Cursor {
        Cursor {
            time_ns,
            sensor: String::new(),
            quantity: String::new(),
        }
    }

    /// The cursor as text for a URL: `TIME_NS:SENSOR:QUANTITY` (a sensor id has no `:`).
    pub fn token(&self) -> String {
        format!("{}:{}:{}", self.time_ns, self.sensor, self.quantity)
    }

    /// The cursor of a [`Cursor::token`].
    ///
    /// # Errors
    ///
    /// [`HistoryError::Invalid`] when `token` is not one.
    pub fn parse(token: &str) -> Result<Cursor, HistoryError> {
        let invalid = || {
            HistoryError::Invalid(format!(
                "\"{token}\" is not a cursor: give the `next` of the previous page as it was"
            ))
        };
        let mut parts = token.splitn(3, ':');
        let time_ns = parts
            .next()
            .and_then(|t| t.parse::<i64>().ok())
            .ok_or_else(invalid)?;
        let (Some(sensor), Some(quantity)) = (parts.next(), parts.next()) else {
            return Err(invalid());
        };
        Ok(Cursor {
            time_ns,
            sensor: sensor.to_owned(),
            quantity: quantity.to_owned(),
        })
    }
}

/// One page of a scan.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Page {
    /// The samples, in scan order.
    pub samples: Vec<Sample>,
    /// Where the next page starts, if more samples may follow; `None` at the end of the scan.
    pub next: Option<Cursor>,
}

/// A store that gives its raw readings back.
pub trait Readings: Send + Sync {
    /// At most `limit` samples of `scan` (`limit` is at least 1, and lowered to [`MAX_PAGE`]),
    /// starting after `after` (from the start of the range if `None`).
    ///
    /// # Errors
    ///
    /// [`HistoryError::Invalid`] for a scan [`Scan::check`] refuses,
    /// [`HistoryError::Unavailable`] when the store does not answer.
    fn page(
        &self,
        scan: &Scan,
        after: Option<&Cursor>,
        limit: usize,
    ) -> impl Future<Output = Result<Page, HistoryError>> + Send;
}

/// `limit` within `1..=MAX_PAGE`.
pub(crate) fn clamp_limit(limit: usize) -> usize {
    limit.clamp(1, MAX_PAGE)
}

/// A whole scan, page by page: each call to [`Pages::next`] asks the store for the next page.
#[derive(Debug)]
pub struct Pages<'a, R> {
    readings: &'a R,
    scan: Scan,
    limit: usize,
    after: Option<Cursor>,
    done: bool,
}

impl<'a, R: Readings> Pages<'a, R> {
    /// The pages of `scan` from `readings`, `limit` samples at most each.
    pub fn new(readings: &'a R, scan: Scan, limit: usize) -> Pages<'a, R> {
        Pages {
            readings,
            scan,
            limit,
            after: None,
            done: false,
        }
    }

    /// Resumes after `cursor` (a scan interrupted, say by Ctrl-C, goes on where it stopped).
    pub fn resume(mut self, cursor: Cursor) -> Pages<'a, R> {
        self.after = Some(cursor);
        self
    }

    /// Where the scan stands: the cursor after the last sample given, if any.
    pub fn position(&self) -> Option<&Cursor> {
        self.after.as_ref()
    }

    /// The next non-empty page of samples, `None` once the scan is over. After an error the
    /// next call asks the same page again.
    pub async fn next(&mut self) -> Option<Result<Vec<Sample>, HistoryError>> {
        while !self.done {
            let page = match self
                .readings
                .page(&self.scan, self.after.as_ref(), self.limit)
                .await
            {
                Ok(page) => page,
                Err(e) => return Some(Err(e)),
            };
            match page.next {
                Some(next) => self.after = Some(next),
                None => self.done = true,
            }
            if !page.samples.is_empty() {
                return Some(Ok(page.samples));
            }
        }
        None
    }
}

/// The pages of `scan` from `readings` as a stream (see [`Pages`]); it ends after the first
/// error.
pub fn stream<R: Readings>(
    readings: &R,
    scan: Scan,
    limit: usize,
) -> impl Stream<Item = Result<Vec<Sample>, HistoryError>> + Send + '_ {
    futures_util::stream::unfold(
        Some(Pages::new(readings, scan, limit)),
        |pages| async move {
            let mut pages = pages?;
            match pages.next().await? {
                Ok(samples) => Some((Ok(samples), Some(pages))),
                Err(e) => Some((Err(e), None)),
            }
        },
    )
}

/// Why the store's readings could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The embedded store's file.
    #[error(transparent)]
    Embedded(#[from] crate::embedded::OpenError),
    /// InfluxDB's settings.
    #[error("cannot read InfluxDB")]
    Influx(#[from] crate::influx::ConfigError),
}

/// The readings of the store a `[store]` block names: the embedded store's file (read-only),
/// or InfluxDB through InfluxQL (v1, and v2 through the database mapped to the bucket). Also
/// its [`History`] and its [`Timeline`] (sessions).
#[derive(Debug, Clone)]
pub enum StoredReadings {
    /// The embedded store.
    Embedded(EmbeddedHistory),
    /// InfluxDB (boxed: its client is large beside the embedded store's handle).
    Influx(Box<InfluxQl>),
}

impl StoredReadings {
    /// Opens the store `config` names; `credentials` (read from the environment by the caller)
    /// for InfluxDB. The embedded store's file must exist (the historian creates it); nothing
    /// is sent to InfluxDB yet.
    ///
    /// # Errors
    ///
    /// [`OpenError`]: a file that is missing or not a store of this version, an InfluxDB URL
    /// that is not one.
    pub async fn open(
        config: &StoreConfig,
        credentials: Credentials,
    ) -> Result<StoredReadings, OpenError> {
        Ok(match config {
            StoreConfig::Embedded(c) => {
                StoredReadings::Embedded(EmbeddedHistory::open(&c.path).await?)
            }
            StoreConfig::InfluxV1(InfluxV1Config { url, db })
            | StoreConfig::InfluxV2(InfluxV2Config { url, db, .. }) => {
                StoredReadings::Influx(Box::new(InfluxQl::new(url, db, credentials)?))
            }
        })
    }
}

impl Readings for StoredReadings {
    async fn page(
        &self,
        scan: &Scan,
        after: Option<&Cursor>,
        limit: usize,
    ) -> Result<Page, HistoryError> {
        match self {
            StoredReadings::Embedded(s) => s.page(scan, after, limit).await,
            StoredReadings::Influx(s) => s.page(scan, after, limit).await,
        }
    }
}

impl Timeline for StoredReadings {
    async fn counts(&self, query: &SessionQuery) -> Result<Vec<Counted>, HistoryError> {
        match self {
            StoredReadings::Embedded(s) => s.counts(query).await,
            StoredReadings::Influx(s) => s.counts(query).await,
        }
    }

    async fn edge(
        &self,
        sensor: &str,
        from_ns: i64,
        to_ns: i64,
        last: bool,
    ) -> Result<Option<i64>, HistoryError> {
        match self {
            StoredReadings::Embedded(s) => s.edge(sensor, from_ns, to_ns, last).await,
            StoredReadings::Influx(s) => s.edge(sensor, from_ns, to_ns, last).await,
        }
    }
}

impl History for StoredReadings {
    async fn query(&self, query: &Query) -> Result<Vec<Bucket>, HistoryError> {
        match self {
            StoredReadings::Embedded(s) => s.query(query).await,
            StoredReadings::Influx(s) => s.query(query).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_travel_as_text() -> Result<(), HistoryError> {
        let cursor = Cursor {
            time_ns: -5,
            sensor: "car-1".into(),
            quantity: "a:b".into(),
        };
        assert_eq!(cursor.token(), "-5:car-1:a:b");
        assert_eq!(Cursor::parse(&cursor.token())?, cursor);
        assert_eq!(Cursor::parse("7::")?, Cursor::before(7));
        for bad in ["", "x:a:b", "7", "7:a"] {
            assert!(Cursor::parse(bad).is_err(), "{bad}");
        }
        Ok(())
    }

    #[test]
    fn samples_sort_by_time_then_sensor_then_quantity() {
        let s = |t, sensor: &str, q: &str| Sample {
            time_ns: t,
            sensor: sensor.into(),
            quantity: q.into(),
            value: 0.0,
        };
        let mut samples = vec![
            s(2, "a", "x"),
            s(1, "b", "x"),
            s(1, "a", "y"),
            s(1, "a", "x"),
        ];
        sort(&mut samples);
        let keys: Vec<_> = samples
            .iter()
            .map(|s| (s.time_ns, s.sensor.to_string(), s.quantity.to_string()))
            .collect();
        assert_eq!(
            keys,
            [
                (1, "a".into(), "x".into()),
                (1, "a".into(), "y".into()),
                (1, "b".into(), "x".into()),
                (2, "a".into(), "x".into())
            ]
        );
        assert!(samples[1].is_after(&samples[0].cursor()));
        assert!(!samples[0].is_after(&samples[0].cursor()));
        assert!(samples[0].is_after(&Cursor::before(1)));
    }

    #[test]
    fn scans_are_checked() {
        let at = |s| Timestamp::new(s, 0).unwrap_or(Timestamp::UNIX_EPOCH);
        let scan = Scan::new(vec!["a".into()], at(10), at(20));
        assert!(scan.check().is_ok());
        assert!(Scan::new(vec![], at(20), at(20)).check().is_err());
        assert!(
            Scan::new(vec![String::new()], at(10), at(20))
                .check()
                .is_err()
        );
        assert!(
            Scan::new(vec![], at(10), at(10_000_000_000))
                .check()
                .is_err()
        );
    }
}

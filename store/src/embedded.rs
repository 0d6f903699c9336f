//! The embedded store: every point in one SQLite file, written by the historian and read, for
//! history, by the web server in another process while the writes go on (`garonne up`,
//! docs/architecture.md).
//!
//! - [`EmbeddedStore`]: the [`Store`] the historian writes through (one per file), with
//!   [`EmbeddedStore::maintenance`], the roll-up and retention it runs every few minutes.
//! - [`EmbeddedHistory`]: the [`History`] the server reads through, on read-only connections,
//!   and the [`Readings`] replay and export read raw values through (`raw.rs`: a page is read
//!   as slices of time, one seek per series and slice), and the [`Timeline`] sessions are
//!   computed from (`timeline.rs`).
//!
//! # What is stored where
//!
//! | table | key | holds |
//! |---|---|---|
//! | `sensor` | `id` (interned) | each sensor's name, and the `kind`, `source`, `lat`, `lon` of its newest reading that changed them (`located_ns`: that reading's time) |
//! | `quantity` | `id` (interned) | quantity names, as on the wire (`temperature`...) |
//! | `reading_recent` | time, sensor, quantity | values of `reading` points just written: the write path |
//! | `reading` | hour, sensor, quantity, time | raw values, moved from `reading_recent` in bulk (`hour`: hours since the epoch) |
//! | `reading_hourly` | hour, sensor, quantity | `count`, `sum`, `min`, `max` of the raw values of an hour older than the raw retention |
//! | `reading_hourly_times` | hour, sensor, quantity | `times`: the record of the times its hourly row counts (see below) |
//! | `aggregate` | neighbourhood, quantity, window start | `name`, `mean`, `min`, `max`, `readings`, `sensors`, `window_secs` |
//! | `alert` | rule, scope, quantity, time | `state`, `raised`, `value`, `threshold`, `comparison` |
//! | `status` | sensor, time | `state`, `online`, `kind`, `source`, `lat`, `lon`, `modules_running`, `modules_failed` |
//! | `other_point` | measurement, tags (JSON), time | fields (JSON) of what the tables above have no column for |
//! | `meta` | key | `raw_before_ns`: raw readings before it are kept as hourly rows only |
//!
//! Every point of the historian's schema (docs/historian.md) has its row, and writing a point again replaces it (last
//! write wins, as in InfluxDB). A reading keeps its values; its `lat`, `lon`, `kind` and
//! `source` become the sensor's when they change (sensors are fixed: a moving sensor keeps its
//! newest position only) and its `seq` is not kept (it serves duplicate detection on the way
//! in, not history). Nothing is dropped otherwise: a point of an unknown measurement, or with a
//! tag its table has no column for, or without a key tag (a reading without `sensor`) is kept
//! whole in `other_point`; a field its table has no column for, or of another type (a `Str`
//! quantity, a `NaN`), is kept there alone, under the point's key. Each of these logs a warning
//! once per measurement and counts in [`EmbeddedStore::unmodelled_points`]. A write is therefore
//! never [`StoreError::Rejected`], except if SQLite itself refuses a value (a string past its
//! 1 GB limit).
//!
//! Design: the layout of readings is what makes 100,000 points/s possible. Keyed by sensor
//! first, as history reads them, a batch of 5,000 readings from 5,000 sensors dirties one page
//! per sensor and quantity: 15,000 pages, 60 MB of write-ahead log per batch, 35,000 points/s
//! on the bench machine once every sensor has pages of its own. So a batch goes to
//! `reading_recent`, keyed by time first: it appends to one end of one B-tree, a hundred pages.
//! Every [`COMPACT_ROWS`] values, and at each maintenance, the rows move in bulk to `reading`,
//! sorted, in one transaction. `reading` is keyed by hour first, then sensor and quantity: a
//! move only touches the current hour's pages, each once (not the pages of every sensor since
//! the start); a sensor's history is one seek and a short scan per hour; the roll-up and the
//! retention take and delete whole hours, contiguous ranges. History reads both tables (a
//! point written again after its move is counted once, from `reading_recent`). The `embedded`
//! bench writes about 130,000 points/s this way.
//!
//! # Retention and roll-up
//!
//! [`Retention`]: raw readings for 7 days, everything else for 400 days by default.
//! [`EmbeddedStore::maintenance`] (the historian calls it every few minutes through
//! [`Store::maintain`]) moves the raw values of every hour that ended more than `raw` ago
//! into `reading_hourly` (count, sum, min, max per sensor, quantity and hour), deleting them in
//! the same transaction; then it deletes hourly rows, aggregates, alerts, statuses and other
//! points older than `hourly`.
//!
//! Design: rolling up *moves* values, so each value is counted exactly once whatever happens:
//! running maintenance twice changes nothing (nothing old is left to move), and a late reading
//! for an hour already rolled up is added to that hour's row at the next maintenance (count and
//! sum grow, min and max widen). Rolled hours are never closed: a Pi's readings that arrive
//! days late are not lost.
//!
//! A move alone cannot tell a late reading from one written *again* after its first copy was
//! rolled up (the historian's spool replaying after a crash, a replay from more than a week
//! back). So each hourly row has the record of the times it counts, in `reading_hourly_times`:
//! the offsets in the hour, sorted, as varints of the gaps in a unit common to them (about one
//! byte a time for a sensor on a clock; `times.rs`). The same point is the same sensor,
//! quantity and time, the key of the raw tables, where writing again replaces. A value of an
//! hour before `raw_before_ns` whose time its row counts is not written (history never counts
//! it twice, not even before the next maintenance); the roll-up, which merges the times it
//! counts into the record, skips such values too. Both are reported in
//! [`Maintenance::duplicates_skipped`]. A rolled hour keeps the value it counted: a replay with
//! another value changes nothing, as its raw value is gone. Writing is thus idempotent at any
//! age, except for the values rolled up by a Garonne of schema 1, which kept no record: written
//! again, they count twice, as they did then (values rolled into those hours since are
//! recorded).
//!
//! Why a record of times: keeping the key of every rolled value (a row per value, the size of
//! the raw table) would cost 10 to 20 times more; closing rolled hours would drop genuine late
//! readings; a probabilistic set (a Bloom filter) would drop some of them too (false
//! positives). Performance: a write of the raw retention pays one comparison per value; a value
//! of a rolled hour, one lookup of its record per hour, sensor and quantity in its batch; the
//! roll-up folds each sensor's values in Rust to build the record (figures: BENCHMARKS.md).
//!
//! History answers each part of a range from where it is kept, in the same read transaction:
//! raw values after `raw_before_ns` (and late ones not rolled up yet), hourly rows before. An
//! hourly row counts when its hour starts in `[from, to)`, as if `from` and `to` were rounded up
//! to the hour there. Hourly rows can only fill intervals made of whole hours: a sensor query
//! whose `from` is before `raw_before_ns` with `every_secs` not a multiple of 3600 is
//! [`HistoryError::Invalid`], and says which `from` or `every_secs` to ask instead.
//! Neighbourhood history comes from aggregates, which are not rolled up.
//!
//! # Several processes
//!
//! The file is in WAL mode: the historian's writer and any number of readers in other processes
//! work at once; a reader sees the batches committed before its query started, never half a
//! batch, and never waits for the writer. One writer at a time: a second one would wait up to
//! [`BUSY_TIMEOUT`] for the lock, then report [`StoreError::Unavailable`].
//!
//! Design: SQLite's calls block. The writer owns its connection on a dedicated thread, fed by a
//! channel: writes are serial anyway (one writer per file), the thread keeps the prepared
//! statements and interned ids warm, and a long maintenance never holds a thread of tokio's
//! blocking pool. Readers run each query with `spawn_blocking` on a connection from a small
//! pool: queries are independent and short, and run in parallel.
//!
//! # Durability
//!
//! Each batch is one transaction, synced to disk before `write` returns (`synchronous = FULL`
//! in WAL mode: one fsync per batch). Design: `NORMAL` would survive a crash of the historian
//! but could lose the last batches to a power cut, and the historian's spool drops its copy of
//! a batch once the store has taken it, so the store must not acknowledge less than the spool
//! kept. A power cut or a crash never leaves a half-written batch: SQLite rolls it back.
//! Errors of the moment (the lock held too long, disk full, I/O) are
//! [`StoreError::Unavailable`]: the historian keeps the batch and tries again.
//!
//! # Files
//!
//! The schema is versioned (`PRAGMA user_version`, [`SCHEMA_VERSION`]) and marked as Garonne's
//! (`PRAGMA application_id`): a file from a newer Garonne, of another application, or not SQLite
//! at all is refused at open with an [`OpenError`] that names it and says what to do. A file of
//! an older schema is upgraded by the historian when it opens it, in one transaction (a crash
//! leaves it as it was); the server refuses it until then ([`OpenError::Older`]).

mod raw;
mod reader;
mod sql;
mod timeline;
mod times;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use garonne_payload::Timestamp;
use tokio::sync::oneshot;

use crate::history::{Bucket, History, HistoryError, Query};
use crate::point::Point;
use crate::readings::{self, Cursor, Page, Readings, Scan};
use crate::sessions::{Counted, SessionQuery, Timeline};
use crate::store::{Store, StoreError};

pub use sql::{BUSY_TIMEOUT, SCHEMA_VERSION};
pub use writer::COMPACT_ROWS;

/// How long each kind of row is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Raw readings, value by value (default 7 days); older hours are kept as hourly rows.
    pub raw: Duration,
    /// Hourly rows, aggregates, alerts, statuses and other points (default 400 days).
    pub hourly: Duration,
}

impl Default for Retention {
    fn default() -> Retention {
        Retention {
            raw: Duration::from_secs(7 * 86_400),
            hourly: Duration::from_secs(400 * 86_400),
        }
    }
}

/// What one maintenance did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Maintenance {
    /// Raw values folded into hourly rows (and deleted).
    pub rolled_up: u64,
    /// Rows deleted by retention: hourly rows, aggregates, alerts, statuses, other points.
    pub expired: u64,
    /// Values skipped since the previous maintenance because their hour was already rolled up
    /// with a value of the same sensor, quantity and time (a replay): not counted twice.
    pub duplicates_skipped: u64,
}

/// Why the store's file could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The reader found no file.
    #[error(
        "no embedded store at {} yet: the historian creates it when it starts (`garonne \
         historian` with the embedded store, or `garonne up`); start it first, or check the path",
        path.display()
    )]
    Missing {
        /// The file.
        path: PathBuf,
    },
    /// The reader found the file before the historian created the schema.
    #[error(
        "the embedded store {} is empty: the historian is creating it; try again in a moment",
        path.display()
    )]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// The file is not a SQLite database.
    #[error(
        "{} is not a SQLite database, so not a Garonne embedded store: move it away or choose \
         another path",
        path.display()
    )]
    NotSqlite {
        /// The file.
        path: PathBuf,
        /// SQLite's complaint.
        #[source]
        source: rusqlite::Error,
    },
    /// The file is a SQLite database of another application.
    #[error(
        "{} is a SQLite database but not a Garonne embedded store (application id {found:#x}, \
         tables already there): choose another path; the historian creates a new store there",
        path.display()
    )]
    Foreign {
        /// The file.
        path: PathBuf,
        /// Its `PRAGMA application_id`.
        found: i32,
    },
    /// The file was written by a newer Garonne.
    #[error(
        "the embedded store {} was written by a newer Garonne (schema version {found}, this \
         one knows up to {SCHEMA_VERSION}): upgrade Garonne, or give this one another file",
        path.display()
    )]
    Newer {
        /// The file.
        path: PathBuf,
        /// Its `PRAGMA user_version`.
        found: i32,
    },
    /// The reader found a file of an older schema that the historian has not upgraded yet.
    #[error(
        "the embedded store {} has the older schema version {found}: start this Garonne's \
         historian once, it upgrades the file",
        path.display()
    )]
    Older {
        /// The file.
        path: PathBuf,
        /// Its `PRAGMA user_version`.
        found: i32,
    },
    /// SQLite could not put the file in WAL mode, which readers in other processes need.
    #[error(
        "SQLite cannot put the embedded store {} in WAL mode (it stays in {mode} mode): put it \
         on a local file system (WAL needs shared memory, which network file systems lack)",
        path.display()
    )]
    NotWal {
        /// The file.
        path: PathBuf,
        /// The journal mode it stays in.
        mode: String,
    },
    /// The retention keeps hourly rows for less time than raw readings.
    #[error(
        "hourly retention ({hourly:?}) shorter than the raw retention ({raw:?}): keep hourly \
         rows at least as long as raw readings"
    )]
    Retention {
        /// Raw retention asked.
        raw: Duration,
        /// Hourly retention asked.
        hourly: Duration,
    },
    /// The directory of the file could not be created.
    #[error("cannot create the directory of the embedded store {}", path.display())]
    Directory {
        /// The file.
        path: PathBuf,
        /// The system's error.
        #[source]
        source: std::io::Error,
    },
    /// SQLite failed otherwise (permissions, I/O, a lock held too long).
    #[error("cannot open the embedded store {}", path.display())]
    Sqlite {
        /// The file.
        path: PathBuf,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// The writer's thread could not start or stopped while opening.
    #[error("the writer thread of the embedded store {} did not start", path.display())]
    Thread {
        /// The file.
        path: PathBuf,
        /// Why, when the system said.
        #[source]
        source: Option<std::io::Error>,
    },
}

/// The embedded store, writer side: a [`Store`] on one SQLite file (see the module doc).
///
/// Dropping it stops its thread after the command under way; [`EmbeddedStore::close`] also
/// waits for the file to be closed.
#[derive(Debug)]
pub struct EmbeddedStore {
    path: PathBuf,
    commands: std::sync::mpsc::Sender<writer::Command>,
    unmodelled: Arc<AtomicU64>,
}

impl EmbeddedStore {
    /// Opens the store at `path` for writing, creating the file and its schema if needed.
    pub async fn open(
        path: impl AsRef<Path>,
        retention: Retention,
    ) -> Result<EmbeddedStore, OpenError> {
        if retention.hourly < retention.raw {
            return Err(OpenError::Retention {
                raw: retention.raw,
                hourly: retention.hourly,
            });
        }
        let path = path.as_ref().to_path_buf();
        let unmodelled = Arc::new(AtomicU64::new(0));
        let (commands, inbox) = std::sync::mpsc::channel();
        let (ready, opened) = oneshot::channel();
        let thread_path = path.clone();
        let counter = unmodelled.clone();
        std::thread::Builder::new()
            .name("embedded-store".to_owned())
            .spawn(
                move || match writer::Writer::open(&thread_path, retention, counter) {
                    Ok(writer) => {
                        if ready.send(Ok(())).is_ok() {
                            writer.run(&inbox);
                        }
                    }
                    Err(e) => {
                        let _ = ready.send(Err(e));
                    }
                },
            )
            .map_err(|e| OpenError::Thread {
                path: path.clone(),
                source: Some(e),
            })?;
        match opened.await {
            Ok(Ok(())) => Ok(EmbeddedStore {
                path,
                commands,
                unmodelled,
            }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(OpenError::Thread { path, source: None }),
        }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Points (or fields) kept in `other_point` since open: what the typed tables have no column
    /// for (see the module doc).
    pub fn unmodelled_points(&self) -> u64 {
        self.unmodelled.load(Ordering::Relaxed)
    }

    /// Rolls up raw readings older than the raw retention at `now` into hourly rows and deletes
    /// what is older than the retention (see the module doc). Idempotent.
    pub async fn maintenance(&self, now: Timestamp) -> Result<Maintenance, StoreError> {
        let now_ns = clamp_ns(now.unix_nanos());
        self.ask(|reply| writer::Command::Maintain(now_ns, reply))
            .await?
    }

    /// Stops the writer and closes the file, once the command under way is done.
    pub async fn close(self) -> Result<(), StoreError> {
        self.ask(writer::Command::Close).await?
    }

    async fn ask<T>(
        &self,
        command: impl FnOnce(oneshot::Sender<T>) -> writer::Command,
    ) -> Result<T, StoreError> {
        send(&self.commands, &self.path, command).await
    }
}

/// Sends one command to the writer thread and waits for its answer.
async fn send<T>(
    commands: &std::sync::mpsc::Sender<writer::Command>,
    path: &Path,
    command: impl FnOnce(oneshot::Sender<T>) -> writer::Command,
) -> Result<T, StoreError> {
    let stopped = || {
        StoreError::Unavailable(format!(
            "the writer thread of the embedded store {} stopped",
            path.display()
        ))
    };
    let (reply, answer) = oneshot::channel();
    commands.send(command(reply)).map_err(|_| stopped())?;
    answer.await.map_err(|_| stopped())
}

impl Store for EmbeddedStore {
    fn name(&self) -> &'static str {
        "embedded"
    }

    fn write(&mut self, points: &[Point]) -> impl Future<Output = Result<(), StoreError>> + Send {
        // The writer thread needs owned points: one copy per batch, a few percent of the write.
        let points = points.to_vec();
        let commands = self.commands.clone();
        let path = self.path.clone();
        async move {
            if points.is_empty() {
                return Ok(());
            }
            send(&commands, &path, |reply| {
                writer::Command::Write(points, reply)
            })
            .await?
        }
    }

    fn maintain(&mut self, now: Timestamp) -> impl Future<Output = Result<(), StoreError>> + Send {
        let commands = self.commands.clone();
        let path = self.path.clone();
        let now_ns = clamp_ns(now.unix_nanos());
        async move {
            let done = send(&commands, &path, |reply| {
                writer::Command::Maintain(now_ns, reply)
            })
            .await??;
            tracing::debug!(
                store = %path.display(),
                rolled_up = done.rolled_up,
                expired = done.expired,
                duplicates_skipped = done.duplicates_skipped,
                "embedded store maintained"
            );
            if done.duplicates_skipped > 0 {
                tracing::info!(
                    store = %path.display(),
                    duplicates_skipped = done.duplicates_skipped,
                    "readings of hours already rolled up written again (a replay): skipped, \
                     counted once"
                );
            }
            Ok(())
        }
    }
}

/// The embedded store, reader side: a [`History`] on read-only connections to the file the
/// historian writes, from any process (see the module doc). Clones share the connections.
#[derive(Debug, Clone)]
pub struct EmbeddedHistory {
    reader: Arc<reader::Reader>,
}

impl EmbeddedHistory {
    /// Opens the store at `path` read-only. The file must exist: the historian creates it.
    pub async fn open(path: impl AsRef<Path>) -> Result<EmbeddedHistory, OpenError> {
        let path = path.as_ref().to_path_buf();
        let opening = path.clone();
        let reader = tokio::task::spawn_blocking(move || reader::Reader::open(opening))
            .await
            .map_err(|_| OpenError::Thread { path, source: None })??;
        Ok(EmbeddedHistory {
            reader: Arc::new(reader),
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        self.reader.path()
    }
}

impl History for EmbeddedHistory {
    fn query(
        &self,
        query: &Query,
    ) -> impl Future<Output = Result<Vec<Bucket>, HistoryError>> + Send {
        let reader = self.reader.clone();
        let query = query.clone();
        async move {
            query.check()?;
            tokio::task::spawn_blocking(move || reader.query(&query))
                .await
                .map_err(|e| HistoryError::Unavailable(format!("history query stopped: {e}")))?
        }
    }
}

impl Readings for EmbeddedHistory {
    fn page(
        &self,
        scan: &Scan,
        after: Option<&Cursor>,
        limit: usize,
    ) -> impl Future<Output = Result<Page, HistoryError>> + Send {
        let reader = self.reader.clone();
        let scan = scan.clone();
        let after = after.cloned();
        let limit = readings::clamp_limit(limit);
        async move {
            scan.check()?;
            tokio::task::spawn_blocking(move || {
                reader.with_connection(|conn| {
                    // One read transaction: the page sees the same committed batches throughout.
                    let tx = conn.transaction()?;
                    raw::page(&tx, &scan, after.as_ref(), limit)
                })
            })
            .await
            .map_err(|e| HistoryError::Unavailable(format!("readings scan stopped: {e}")))?
        }
    }
}

impl Timeline for EmbeddedHistory {
    fn counts(
        &self,
        query: &SessionQuery,
    ) -> impl Future<Output = Result<Vec<Counted>, HistoryError>> + Send {
        let reader = self.reader.clone();
        let query = query.clone();
        async move {
            query.check()?;
            tokio::task::spawn_blocking(move || {
                reader.with_connection(|conn| timeline::counts(&conn.transaction()?, &query))
            })
            .await
            .map_err(|e| HistoryError::Unavailable(format!("sessions query stopped: {e}")))?
        }
    }
}

/// Nanoseconds as SQLite stores them: times past 2262 (never in a valid point) are kept at the
/// largest.
fn clamp_ns(ns: i128) -> i64 {
    i64::try_from(ns).unwrap_or(if ns < 0 { i64::MIN } else { i64::MAX })
}

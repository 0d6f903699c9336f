//! The file: schema, version checks, connection settings, and SQLite errors as the store's
//! error classes.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags};

use super::OpenError;
use crate::store::StoreError;

/// Version of the schema below, in `PRAGMA user_version`. A file with a larger one is refused;
/// one with a smaller one is upgraded by the writer at open (`MIGRATIONS`).
pub const SCHEMA_VERSION: i32 = 3;

/// `PRAGMA application_id` of a Garonne store: "GRNE".
pub(super) const APPLICATION_ID: i32 = 0x4752_4E45;

/// How long a connection waits for a lock another one holds before giving up (SQLITE_BUSY).
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// One hour in nanoseconds: the roll-up interval.
pub(super) const HOUR_NS: i64 = 3_600_000_000_000;

/// The schema, version 3: version 1 and [`MIGRATIONS`].
///
/// Performance: `reading_recent` is keyed by time first so that writes append; `reading` and
/// `reading_hourly` by hour, then sensor and quantity, so that moves touch the current hour only
/// and a sensor's history is a seek per hour (see the module doc). Sensors and quantities are
/// interned as integers, and the hour is a small integer: measured with 10,000 sensors, the
/// file is 30 % smaller than with names in every row, at the same write rate. The time indexes
/// of the other tables serve retention only.
const SCHEMA: &str = "
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE sensor (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    kind TEXT,
    source TEXT,
    lat REAL,
    lon REAL,
    located_ns INTEGER
);
CREATE TABLE quantity (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);
CREATE TABLE reading_recent (
    time_ns INTEGER NOT NULL,
    sensor INTEGER NOT NULL,
    quantity INTEGER NOT NULL,
    value REAL NOT NULL,
    PRIMARY KEY (time_ns, sensor, quantity)
) WITHOUT ROWID;
CREATE TABLE reading (
    hour INTEGER NOT NULL,
    sensor INTEGER NOT NULL,
    quantity INTEGER NOT NULL,
    time_ns INTEGER NOT NULL,
    value REAL NOT NULL,
    PRIMARY KEY (hour, sensor, quantity, time_ns)
) WITHOUT ROWID;
CREATE TABLE reading_hourly (
    hour INTEGER NOT NULL,
    sensor INTEGER NOT NULL,
    quantity INTEGER NOT NULL,
    count INTEGER NOT NULL,
    sum REAL NOT NULL,
    min REAL NOT NULL,
    max REAL NOT NULL,
    PRIMARY KEY (hour, sensor, quantity)
) WITHOUT ROWID;
CREATE TABLE aggregate (
    neighbourhood TEXT NOT NULL,
    quantity TEXT NOT NULL,
    start_ns INTEGER NOT NULL,
    name TEXT,
    mean REAL,
    min REAL,
    max REAL,
    readings INTEGER,
    sensors INTEGER,
    window_secs INTEGER,
    PRIMARY KEY (neighbourhood, quantity, start_ns)
) WITHOUT ROWID;
CREATE INDEX aggregate_start ON aggregate (start_ns);
CREATE TABLE alert (
    rule TEXT NOT NULL,
    scope TEXT NOT NULL,
    quantity TEXT NOT NULL,
    time_ns INTEGER NOT NULL,
    state TEXT,
    raised INTEGER,
    value REAL,
    threshold REAL,
    comparison TEXT,
    PRIMARY KEY (rule, scope, quantity, time_ns)
) WITHOUT ROWID;
CREATE INDEX alert_time ON alert (time_ns);
CREATE TABLE status (
    sensor TEXT NOT NULL,
    time_ns INTEGER NOT NULL,
    state TEXT,
    online INTEGER,
    kind TEXT,
    source TEXT,
    lat REAL,
    lon REAL,
    modules_running INTEGER,
    modules_failed INTEGER,
    PRIMARY KEY (sensor, time_ns)
) WITHOUT ROWID;
CREATE INDEX status_time ON status (time_ns);
CREATE TABLE other_point (
    measurement TEXT NOT NULL,
    tags TEXT NOT NULL,
    time_ns INTEGER NOT NULL,
    fields TEXT NOT NULL,
    PRIMARY KEY (measurement, tags, time_ns)
) WITHOUT ROWID;
CREATE INDEX other_point_time ON other_point (time_ns);
";

/// The changes from each version to the next: `MIGRATIONS[v - 1]` upgrades version `v`.
///
/// - 1 to 2: `reading_hourly_times`, the record of the times each hourly row counts
///   (`times.rs`), beside `reading_hourly`. Design: in a table of its own, not a column of
///   `reading_hourly`, so that history, which reads hourly rows and never these records (3.6 KB
///   an hour for a 1 Hz sensor), keeps its small rows; a row of schema 1 has no record (its
///   times were not kept).
/// - 2 to 3: the aggregate's `value`, the quantity's aggregate by its profile's `time` and
///   `space` rules (issue 14); a window stored before has none, and history falls back on its
///   mean (for the weather quantities, the value is the mean).
const MIGRATIONS: [&str; 2] = [
    "
CREATE TABLE reading_hourly_times (
    hour INTEGER NOT NULL,
    sensor INTEGER NOT NULL,
    quantity INTEGER NOT NULL,
    times BLOB NOT NULL,
    PRIMARY KEY (hour, sensor, quantity)
) WITHOUT ROWID;
",
    "
ALTER TABLE aggregate ADD COLUMN value REAL;
",
];

/// What the header of a file says.
struct Header {
    application_id: i32,
    user_version: i32,
    objects: i64,
}

/// Reads the header; the first read of a file that is not SQLite fails here.
fn header(conn: &Connection, path: &Path) -> Result<Header, OpenError> {
    let read = || -> rusqlite::Result<Header> {
        Ok(Header {
            application_id: conn.pragma_query_value(None, "application_id", |r| r.get(0))?,
            user_version: conn.pragma_query_value(None, "user_version", |r| r.get(0))?,
            objects: conn.query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))?,
        })
    };
    read().map_err(|source| match source.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => OpenError::NotSqlite {
            path: path.to_path_buf(),
            source,
        },
        _ => OpenError::Sqlite {
            path: path.to_path_buf(),
            source,
        },
    })
}

/// Opens the writer's connection: checks the file, creates the schema in a new or empty file,
/// and sets WAL mode.
pub(super) fn open_writer(path: &Path) -> Result<Connection, OpenError> {
    let sqlite = |source| OpenError::Sqlite {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| OpenError::Directory {
            path: path.to_path_buf(),
            source,
        })?;
    }
    let mut conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sqlite)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(sqlite)?;
    // Design: every check before the first write, so a file that is not ours is left untouched.
    if check(&header(&conn, path)?, path)? != Schema::Current {
        // Immediate: a second historian starting on the same new file waits, then sees ours.
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(sqlite)?;
        // Design: every step in the transaction that checked the version: a crash or an error
        // leaves the file as it was.
        let from = match check(&header(&tx, path)?, path)? {
            Schema::Missing => {
                tx.execute_batch(SCHEMA).map_err(sqlite)?;
                tx.pragma_update(None, "application_id", APPLICATION_ID)
                    .map_err(sqlite)?;
                Some(1)
            }
            Schema::Older(version) => {
                tracing::info!(
                    store = %path.display(),
                    from = version,
                    to = SCHEMA_VERSION,
                    "upgrading the schema of the embedded store"
                );
                Some(version)
            }
            Schema::Current => None,
        };
        if let Some(from) = from {
            for migration in &MIGRATIONS[from as usize - 1..] {
                tx.execute_batch(migration).map_err(sqlite)?;
            }
            tx.pragma_update(None, "user_version", SCHEMA_VERSION)
                .map_err(sqlite)?;
        }
        tx.commit().map_err(sqlite)?;
    }
    // WAL (persistent in the file): readers in other processes never block the writer.
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "wal", |r| r.get(0))
        .map_err(sqlite)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(OpenError::NotWal {
            path: path.to_path_buf(),
            mode,
        });
    }
    // Design: FULL, one fsync of the log per batch. NORMAL (sync at checkpoints only) would
    // survive a crash of the process but not a power cut, and a batch is only safe in the
    // historian's spool until `write` returns: then the spool moves its cursor and deletes the
    // segment. FULL costs about 5 % of the write rate at 5,000-point batches (measured with
    // the bench), for "written" to mean "on disk" as it does for InfluxDB.
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(sqlite)?;
    // 32 MB of page cache (the default is 2 MB): the tops of the B-trees, and the pages a
    // compaction touches, stay in memory.
    conn.pragma_update(None, "cache_size", -32_768)
        .map_err(sqlite)?;
    // After a large compaction or roll-up the log is truncated back to 64 MB at most.
    conn.pragma_update(None, "journal_size_limit", 64 << 20)
        .map_err(sqlite)?;
    conn.pragma_update(None, "temp_store", "MEMORY")
        .map_err(sqlite)?;
    conn.set_prepared_statement_cache_capacity(32);
    Ok(conn)
}

/// What a file's schema needs from the writer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Schema {
    /// Nothing: it is this version.
    Current,
    /// Creating: the file is empty.
    Missing,
    /// Upgrading from this older version.
    Older(i32),
}

/// What the file's schema needs; an error if it is not a store this build can write.
fn check(header: &Header, path: &Path) -> Result<Schema, OpenError> {
    let path = path.to_path_buf();
    match header {
        Header {
            application_id: APPLICATION_ID,
            user_version,
            ..
        } if *user_version > SCHEMA_VERSION => Err(OpenError::Newer {
            path,
            found: *user_version,
        }),
        Header {
            application_id: APPLICATION_ID,
            user_version: SCHEMA_VERSION,
            ..
        } => Ok(Schema::Current),
        // An empty file, or one whose creation was interrupted before its commit.
        Header {
            application_id: 0,
            user_version: 0,
            objects: 0,
        } => Ok(Schema::Missing),
        Header {
            application_id: APPLICATION_ID,
            user_version,
            ..
        } if *user_version >= 1 => Ok(Schema::Older(*user_version)),
        Header {
            application_id: APPLICATION_ID,
            user_version,
            ..
        } => Err(OpenError::Older {
            path,
            found: *user_version,
        }),
        Header { application_id, .. } => Err(OpenError::Foreign {
            path,
            found: *application_id,
        }),
    }
}

/// Opens a read-only connection and checks the file is a store of this schema.
pub(super) fn open_reader(path: &Path, check_header: bool) -> Result<Connection, OpenError> {
    let sqlite = |source| OpenError::Sqlite {
        path: path.to_path_buf(),
        source,
    };
    if !path.exists() {
        return Err(OpenError::Missing {
            path: path.to_path_buf(),
        });
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sqlite)?;
    // Readers of a WAL file wait only in rare cases (the writer recovering the log at start).
    conn.busy_timeout(BUSY_TIMEOUT).map_err(sqlite)?;
    conn.pragma_update(None, "query_only", true)
        .map_err(sqlite)?;
    conn.set_prepared_statement_cache_capacity(8);
    if check_header {
        let header = header(&conn, path)?;
        if header.application_id == 0 && header.user_version == 0 && header.objects == 0 {
            return Err(OpenError::Empty {
                path: path.to_path_buf(),
            });
        }
        if header.application_id == APPLICATION_ID && header.user_version < SCHEMA_VERSION {
            return Err(OpenError::Older {
                path: path.to_path_buf(),
                found: header.user_version,
            });
        }
        check(&header, path)?;
    }
    Ok(conn)
}

/// The store error for a failed write: [`StoreError::Rejected`] only when SQLite refuses the
/// values themselves, [`StoreError::Unavailable`] otherwise, with what to do about it.
pub(super) fn store_error(path: &Path, error: &rusqlite::Error) -> StoreError {
    let file = path.display();
    let hint = match error.sqlite_error_code() {
        // A string or blob past SQLite's limit, or a value the schema forbids (cannot happen
        // with the conversions of the writer): the same batch would fail again.
        Some(ErrorCode::TooBig | ErrorCode::ConstraintViolation | ErrorCode::TypeMismatch) => {
            return StoreError::Rejected(format!("embedded store {file}: {error}"));
        }
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
            "another process holds the write lock (a second historian on the same file?)"
        }
        Some(ErrorCode::DiskFull) => "free some disk space",
        Some(ErrorCode::ReadOnly | ErrorCode::PermissionDenied | ErrorCode::CannotOpen) => {
            "check the permissions of the file and of its directory"
        }
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => {
            "the file is damaged: stop the historian, move the file away, restore a copy"
        }
        _ => "retrying",
    };
    StoreError::Unavailable(format!("embedded store {file}: {error} ({hint})"))
}

/// `meta.raw_before_ns`, or the smallest time if nothing was rolled up yet.
pub(super) fn raw_before(conn: &Connection) -> rusqlite::Result<i64> {
    use rusqlite::OptionalExtension;
    Ok(conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'raw_before_ns'",
            [],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or(i64::MIN))
}

/// The start of the hour of `ns`.
pub(super) fn floor_hour(ns: i64) -> i64 {
    ns.saturating_sub(ns.rem_euclid(HOUR_NS))
}

//! The historian's driver: MQTT in, the spool on disk, batches out to the store, `/metrics`.
//!
//! ```text
//! broker ─► event loop ─► inbox ─► ingest: append, sync, acknowledge ─► spool (disk)
//!                                                                        │
//!                              store ◄─ drain: read, points, write, commit ┘
//! ```
//!
//! Design: two loops joined only by the spool. The ingest loop takes whatever the inbox holds
//! (a group), appends it to the spool, syncs it (on the blocking pool), and only then
//! acknowledges each message to the broker: group commit, so one `fdatasync` covers many
//! messages under load. The drain follows behind, turns records into points
//! ([`crate::schema`]), writes them in batches and commits the spool cursor only once the store
//! confirmed. A store that is down stops the drain, never the ingest; a full spool stops the
//! ingest, and the broker keeps the messages.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use garonne_payload::{Limits, Timestamp, Topics};
use garonne_service::backoff::Backoff;
use garonne_service::host::{Handled, Host, Ops, Session, Transform};
use garonne_service::ops;
use garonne_service::outbox::Outbox;
use garonne_service::profiles::{LiveProfiles, SAVED_FOLDER};
use garonne_service::report::Chain;
use rumqttc::{Publish, QoS};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use crate::config::{Config, ConfigError, ServiceConfig};
use crate::metrics::Metrics;
use crate::schema;
use crate::spool::{
    Position, Record, Recovered, Spool, SpoolCommitter, SpoolConfig, SpoolError, SpoolReader,
    SpoolStats, SpoolWriter,
};
use garonne_store::lineproto;
use garonne_store::point::Point;
use garonne_store::store::{Store, StoreError};

/// Most messages in one spool group.
const GROUP: usize = 10_000;
/// First and longest wait between attempts on a failing store or disk.
const RETRY_START: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(5);
/// How often the store's housekeeping runs.
const MAINTAIN_EVERY: Duration = Duration::from_secs(300);
/// How long shutdown gives the acknowledgements and the batch under way.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// File of the spool directory where points the store refused for good are kept.
pub const REJECTED_FILE: &str = "rejected.lp";

/// Why the historian could not run.
#[derive(Debug, thiserror::Error)]
pub enum HistorianError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The spool cannot be used.
    #[error(transparent)]
    Spool(#[from] SpoolError),
    /// The metrics address is taken or not allowed.
    #[error(transparent)]
    Bind(#[from] ops::BindError),
    /// The store cannot be opened.
    #[error("cannot open the {store} store")]
    Store {
        /// Which store.
        store: &'static str,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Messages taken from MQTT.
    pub received: u64,
    /// Messages acknowledged to the broker (each after it was on disk).
    pub acknowledged: u64,
    /// Points the store confirmed.
    pub points_written: u64,
    /// Messages that gave no point (see `/metrics` for the reasons).
    pub skipped: u64,
    /// Points the store refused for good (kept in the spool's rejected file).
    pub rejected_points: u64,
    /// Messages left in the spool for the next start.
    pub spool_left: u64,
    /// What the spool held at start-up.
    pub recovered: Recovered,
}

/// Runs the historian with `store` until `shutdown`, serving `/metrics` on `listener`.
pub async fn serve<S: Store + 'static>(
    config: Config,
    store: S,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<Summary, HistorianError> {
    config.validate()?;
    let spool = open_spool(&config).await?;
    let recovered = spool.recovered;
    let stats = Arc::clone(&spool.stats);
    let metrics = Arc::new(Metrics::default());

    let client_id = config.mqtt.client_id("historian", Session::Persistent);
    let mut host = Host::new("historian", config.mqtt.broker.clone(), client_id);
    host.credentials = config.mqtt.credentials.clone();
    host.subscriptions = config
        .filters()
        .into_iter()
        .map(|f| (f, QoS::AtLeastOnce))
        .collect();
    host.batch = GROUP;
    // Live profiles, saved in the spool folder and registered before the drain reads the spool,
    // which may hold readings of their quantities.
    let profiles =
        LiveProfiles::new(config.mqtt.topics()).saved_in(Some(config.spool_dir.join(SAVED_FOLDER)));
    profiles.register_saved();
    host.profiles = Some(profiles);
    host.shutdown_grace = SHUTDOWN_GRACE;
    let ops = Ops {
        listener,
        metrics: {
            let (metrics, stats) = (Arc::clone(&metrics), Arc::clone(&stats));
            Arc::new(move |e| metrics.render(&stats, e))
        },
    };

    let stop_drain = CancellationToken::new();
    let drain_task = tokio::spawn(drain(
        Drain {
            topics: config.mqtt.topics().clone(),
            limits: Limits::default(),
            batch_points: config.batch_points,
            batch_bytes: config.batch_bytes,
            flush: Duration::from_millis(config.flush_interval_ms),
            rejected: config.spool_dir.join(REJECTED_FILE),
            metrics: Arc::clone(&metrics),
            stop: stop_drain.clone(),
        },
        spool.reader,
        store,
    ));
    info!(
        broker = %host.broker,
        spool = %config.spool_dir.display(),
        shared_group = config.shared_group.as_deref().unwrap_or("-"),
        "historian running"
    );

    let mut ingest = Ingest {
        writer: Some(spool.writer),
        metrics: Arc::clone(&metrics),
        spool_dir: config.spool_dir.clone(),
        shutdown: shutdown.clone(),
    };
    let ran = host.run(&mut ingest, Some(ops), shutdown).await;

    // Shutdown: the host has acknowledged what is on disk; stop the drain after its batch.
    stop_drain.cancel();
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, drain_task).await;
    if drained.is_err() {
        warn!("the store write under way did not finish in time; its messages stay in the spool");
    }
    ran?;
    let summary = summarize(&metrics, &stats, recovered);
    info!(
        received = summary.received,
        points = summary.points_written,
        spool_left = summary.spool_left,
        "historian stopped"
    );
    Ok(summary)
}

/// Opens the spool (on the blocking pool: it reads the segments left by the last run).
async fn open_spool(config: &Config) -> Result<Spool, HistorianError> {
    let spool_config = SpoolConfig {
        dir: config.spool_dir.clone(),
        max_bytes: config.spool_max_bytes,
        segment_bytes: config.spool_segment_bytes,
    };
    let spool = tokio::task::spawn_blocking(move || Spool::open(spool_config))
        .await
        .expect("opening the spool does not panic")?;
    if spool.recovered.records > 0 {
        info!(
            spool = %config.spool_dir.display(),
            records = spool.recovered.records,
            "messages from the last run are in the spool: writing them first"
        );
    }
    Ok(spool)
}

/// What a run did, from its counters.
fn summarize(metrics: &Metrics, stats: &SpoolStats, recovered: Recovered) -> Summary {
    let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    Summary {
        received: load(&metrics.received),
        acknowledged: load(&metrics.acknowledged),
        points_written: load(&metrics.points_written),
        skipped: metrics.skipped_total(),
        rejected_points: load(&metrics.rejected_points),
        spool_left: load(&stats.records),
        recovered,
    }
}

/// The ingest side on the host: each batch appended to the spool and synced, then (the host)
/// acknowledged.
struct Ingest {
    /// The spool's writer; away on the blocking pool during a sync.
    writer: Option<SpoolWriter>,
    metrics: Arc<Metrics>,
    spool_dir: PathBuf,
    /// Stops a wait for room or a retried sync: what is not synced stays unacknowledged.
    shutdown: CancellationToken,
}

impl Ingest {
    /// Waits until the spool has room; false if shutdown came first.
    async fn room(&mut self, writer: &mut SpoolWriter) -> bool {
        if writer.has_room() {
            return true;
        }
        warn!(
            spool = %self.spool_dir.display(),
            "the spool is full: taking no more messages until the store catches up (the broker keeps them)"
        );
        tokio::select! {
            _ = self.shutdown.cancelled() => false,
            () = writer.wait_for_room() => {
                info!("the spool has room again");
                true
            }
        }
    }

    /// Syncs the spool, retrying with backoff; returns the writer, and false if shutdown came
    /// first (nothing is acknowledged meanwhile).
    async fn sync(&self, mut writer: SpoolWriter) -> (SpoolWriter, bool) {
        let mut backoff = Backoff::new(RETRY_START, RETRY_MAX);
        loop {
            let started = Instant::now();
            let (back, result) = tokio::task::spawn_blocking(move || {
                let result = writer.sync();
                (writer, result)
            })
            .await
            .expect("a spool sync does not panic");
            writer = back;
            match result {
                Ok(()) => {
                    self.metrics.spool_sync.observe(started.elapsed());
                    return (writer, true);
                }
                Err(e) => {
                    self.metrics.spool_errors.fetch_add(1, Ordering::Relaxed);
                    error!(error = %Chain(&e), "cannot write to the spool, trying again (nothing is acknowledged meanwhile)");
                    tokio::select! {
                        // Not acknowledged: the broker hands the group over again next time.
                        _ = self.shutdown.cancelled() => return (writer, false),
                        () = backoff.wait() => {}
                    }
                }
            }
        }
    }
}

impl Transform for Ingest {
    type Error = HistorianError;

    async fn handle(
        &mut self,
        batch: &[Publish],
        now: Timestamp,
        _out: &mut Outbox,
    ) -> Result<Handled, HistorianError> {
        let Some(mut writer) = self.writer.take() else {
            return Ok(Handled::Withheld);
        };
        if !self.room(&mut writer).await {
            self.writer = Some(writer);
            return Ok(Handled::Withheld);
        }
        self.metrics
            .received
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        for m in batch {
            // MQTT topics are at most 65,535 bytes: the spool frames every one.
            writer
                .append(now, &m.topic, &m.payload)
                .map_err(HistorianError::Spool)?;
        }
        let (writer, synced) = self.sync(writer).await;
        self.writer = Some(writer);
        if !synced {
            return Ok(Handled::Withheld);
        }
        self.metrics
            .acknowledged
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        Ok(Handled::Done)
    }

    async fn shutdown(&mut self, _now: Timestamp, _out: &mut Outbox) -> Result<(), HistorianError> {
        Ok(())
    }
}

/// What the drain needs besides the spool and the store.
struct Drain {
    topics: Topics,
    limits: Limits,
    batch_points: usize,
    batch_bytes: usize,
    flush: Duration,
    rejected: PathBuf,
    metrics: Arc<Metrics>,
    stop: CancellationToken,
}

/// A batch on its way from the spool to the store.
struct Batch {
    points: Vec<Point>,
    /// The spool position after its last record.
    position: Position,
    /// How many spool records it holds.
    records: u64,
}

/// Moves records from the spool to the store until `stop`, committing each batch once the
/// store confirmed it. A batch under way when `stop` comes is abandoned uncommitted (it is
/// written again at the next start).
///
/// Design: two tasks joined by a channel of one batch. This one reads the spool and makes
/// points while the other waits for the store with the previous batch, so the store is never
/// idle while the next batch is prepared; the writer commits in order.
async fn drain<S: Store + 'static>(drain: Drain, mut reader: SpoolReader, store: S) {
    let drain = Arc::new(drain);
    let (batches, inbox) = mpsc::channel::<Batch>(CONCURRENT_WRITES);
    let writer = tokio::spawn(write_batches(
        Arc::clone(&drain),
        inbox,
        store,
        reader.committer(),
    ));
    let mut records: Vec<Record> = Vec::new();
    loop {
        tokio::select! {
            biased;
            _ = drain.stop.cancelled() => break,
            ready = reader.wait(drain.flush) => if !ready { continue },
        }
        // A batch: up to batch_points points or batch_bytes bytes (and the rest of the record
        // that crossed the line), or what came within the flush interval.
        records.clear();
        let mut points: Vec<Point> = Vec::with_capacity(drain.batch_points);
        let mut bytes = 0;
        let deadline = tokio::time::Instant::now() + drain.flush;
        let mut position = reader.position();
        loop {
            let before = records.len();
            let room = drain.batch_points.saturating_sub(points.len()).max(1);
            // Design: a plain file read on the async thread: the records were just written, so
            // they come from the page cache, a few milliseconds per full batch at most.
            position = match reader.read(room, &mut records) {
                Ok(p) => p,
                Err(e) => {
                    error!(error = %Chain(&e), "cannot read the spool, trying again");
                    tokio::select! {
                        _ = drain.stop.cancelled() => break,
                        () = tokio::time::sleep(RETRY_MAX) => {}
                    }
                    reader.position()
                }
            };
            let first_new = points.len();
            for r in &records[before..] {
                if let Err(skip) = schema::points(
                    &drain.topics,
                    &r.topic,
                    &r.payload,
                    r.received,
                    &drain.limits,
                    &mut points,
                ) {
                    drain.metrics.skip(skip);
                }
            }
            bytes += points[first_new..]
                .iter()
                .map(lineproto::max_len)
                .sum::<usize>();
            if points.len() >= drain.batch_points
                || bytes >= drain.batch_bytes
                || drain.stop.is_cancelled()
            {
                break;
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() || !reader.wait(left).await {
                break;
            }
        }
        let batch = Batch {
            points,
            position,
            records: records.len() as u64,
        };
        tokio::select! {
            biased;
            _ = drain.stop.cancelled() => break,
            sent = batches.send(batch) => if sent.is_err() { break },
        }
    }
    drop(batches);
    let _ = writer.await;
}

/// How many batches are written at once when the store takes concurrent writes.
const CONCURRENT_WRITES: usize = 2;

/// Writes the batches, up to [`CONCURRENT_WRITES`] at once if the store allows, committing
/// each in order once the store has it and every batch before it; runs the store's
/// housekeeping between batches. Stops at `stop` without starting another batch.
async fn write_batches<S: Store + 'static>(
    drain: Arc<Drain>,
    mut batches: mpsc::Receiver<Batch>,
    store: S,
    committer: SpoolCommitter,
) {
    type Written<S> = JoinHandle<(bool, S, Position, u64)>;
    let mut idle: Vec<S> = Vec::new();
    while idle.len() + 1 < CONCURRENT_WRITES {
        match store.concurrent() {
            Some(another) => idle.push(another),
            None => break,
        }
    }
    idle.push(store);
    let mut under_way: std::collections::VecDeque<Written<S>> = std::collections::VecDeque::new();
    let mut last_maintenance = Instant::now();
    let mut open = true;
    loop {
        tokio::select! {
            biased;
            // The oldest write finished: commit it (commits go in order).
            done = async { under_way.front_mut().expect("a write under way").await },
                if !under_way.is_empty() =>
            {
                under_way.pop_front();
                let Ok((written, mut store, position, records)) = done else {
                    break;
                };
                if !written {
                    break; // stopped: this batch and the later ones stay in the spool
                }
                if let Err(e) = committer.commit(position, records) {
                    // The store has the points; the cursor will be saved with the next
                    // batch, and points written again meanwhile are idempotent.
                    warn!(error = %Chain(&e), "cannot save the spool cursor");
                }
                if last_maintenance.elapsed() >= MAINTAIN_EVERY {
                    last_maintenance = Instant::now();
                    if let Err(e) = store.maintain(Timestamp::now()).await {
                        warn!(store = store.name(), error = %Chain(&e), "store housekeeping failed; trying again later");
                    }
                }
                idle.push(store);
            }
            // A batch is ready and a handle idle: start writing it.
            batch = batches.recv(), if open && !idle.is_empty() => {
                let Some(batch) = batch else {
                    open = false;
                    continue;
                };
                if drain.stop.is_cancelled() {
                    break;
                }
                let mut store = idle.pop().expect("an idle handle");
                let drain = Arc::clone(&drain);
                under_way.push_back(tokio::spawn(async move {
                    let written = write_all(&drain, &mut store, &batch.points).await;
                    (written, store, batch.position, batch.records)
                }));
            }
            else => break,
        }
    }
    // Whatever is still under way is left to finish or to stop on its own; nothing after the
    // last commit is committed.
    for write in under_way {
        let _ = write.await;
    }
}

/// Writes `points`, retrying while the store is unavailable, and splitting a batch the store
/// refuses, finds too large or does not answer in time, until it takes the rest; the points it
/// will never take are kept in the rejected file (one write and one sync for all of them).
/// Returns false if stopped before the store took them.
async fn write_all<S: Store>(drain: &Drain, store: &mut S, points: &[Point]) -> bool {
    let metrics = &drain.metrics;
    // The last piece on top: pieces are written in order.
    let mut pending: Vec<&[Point]> = pieces(points, drain.batch_bytes);
    pending.reverse();
    let mut set_aside: Vec<(&Point, String)> = Vec::new();
    let mut backoff = Backoff::new(RETRY_START, RETRY_MAX);
    let mut failing_since: Option<Instant> = None;
    while let Some(batch) = pending.pop() {
        if batch.is_empty() {
            continue;
        }
        let started = Instant::now();
        let error = match store.write(batch).await {
            Ok(()) => {
                metrics.store_write.observe(started.elapsed());
                metrics.batches_written.fetch_add(1, Ordering::Relaxed);
                metrics
                    .points_written
                    .fetch_add(batch.len() as u64, Ordering::Relaxed);
                if let Some(since) = failing_since.take() {
                    info!(
                        store = store.name(),
                        after_secs = since.elapsed().as_secs(),
                        "store writes resumed"
                    );
                }
                backoff.reset();
                continue;
            }
            Err(error) => error,
        };
        match Next::after(error, batch.len()) {
            Next::Retry(why) => {
                metrics.store_retries.fetch_add(1, Ordering::Relaxed);
                if failing_since.is_none() {
                    failing_since = Some(Instant::now());
                    warn!(store = store.name(), error = %why, "cannot write to the store; the spool keeps everything and writing resumes when it is back");
                }
                pending.push(batch);
                tokio::select! {
                    _ = drain.stop.cancelled() => return false,
                    () = backoff.wait() => {}
                }
            }
            Next::Split(why) => {
                // Find the culprits, or batches small enough: the halves are written (or split)
                // in turn.
                metrics.batches_split.fetch_add(1, Ordering::Relaxed);
                debug!(store = store.name(), error = %why, points = batch.len(), "writing the batch in halves");
                let (a, b) = batch.split_at(batch.len() / 2);
                pending.push(b);
                pending.push(a);
            }
            Next::SetAside(why) => {
                metrics.rejected_points.fetch_add(1, Ordering::Relaxed);
                metrics.rejected_batches.fetch_add(1, Ordering::Relaxed);
                warn!(store = store.name(), error = %why, file = %drain.rejected.display(), "the store refused a point for good; it is kept in the rejected file");
                set_aside.push((&batch[0], why));
            }
        }
    }
    if !set_aside.is_empty() {
        match keep_rejected(&drain.rejected, &set_aside) {
            Ok(true) => {
                metrics.rejected_rotations.fetch_add(1, Ordering::Relaxed);
                warn!(file = %drain.rejected.display(), max_bytes = REJECTED_MAX_BYTES, "the rejected file was full: the older half moved to rejected.lp.1, replacing what was there");
            }
            Ok(false) => {}
            Err(e) => {
                error!(error = %e, file = %drain.rejected.display(), "cannot keep the refused points");
            }
        }
    }
    true
}

/// `points` cut, in order, into pieces of at most `max_bytes` of line protocol each (a point
/// larger than that alone).
fn pieces(points: &[Point], max_bytes: usize) -> Vec<&[Point]> {
    let mut pieces = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, point) in points.iter().enumerate() {
        let size = lineproto::max_len(point);
        if i > start && bytes + size > max_bytes {
            pieces.push(&points[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes += size;
    }
    pieces.push(&points[start..]);
    pieces
}

/// What the drain does after a failed store write.
enum Next {
    /// The same batch again, after a backoff: the store is down, slow or overloaded.
    Retry(String),
    /// The batch again in halves: it holds points the store refuses, or is too large for it.
    Split(String),
    /// The one point aside in the rejected file: the store will never take it.
    SetAside(String),
}

impl Next {
    fn after(error: StoreError, points: usize) -> Next {
        match error {
            StoreError::Unavailable(why) => Next::Retry(why),
            StoreError::Rejected(why) | StoreError::TooLarge(why) | StoreError::TimedOut(why)
                if points > 1 =>
            {
                Next::Split(why)
            }
            StoreError::Rejected(why) | StoreError::TooLarge(why) => Next::SetAside(why),
            // One point not answered in time: the store is slow, not the point too large.
            StoreError::TimedOut(why) => Next::Retry(why),
        }
    }
}

/// The rejected file's bound: past it, the file is renamed `rejected.lp.1` (replacing the one
/// there) and a new one begins, so refused points take at most twice this on disk.
pub const REJECTED_MAX_BYTES: u64 = 16 * 1024 * 1024;

/// Appends the refused points, in line protocol, each after the store's reason as a comment
/// line, and syncs once; rotates the file first when it is past [`REJECTED_MAX_BYTES`]. Returns
/// whether it rotated.
fn keep_rejected(file: &Path, points: &[(&Point, String)]) -> std::io::Result<bool> {
    use std::io::Write;
    let rotated = std::fs::metadata(file).is_ok_and(|m| m.len() >= REJECTED_MAX_BYTES);
    if rotated {
        std::fs::rename(file, file.with_extension("lp.1"))?;
    }
    let mut text = String::new();
    let now = Timestamp::now();
    for (point, why) in points {
        let reason = why.replace('\n', " ");
        text.push_str(&format!("# {now} refused: {reason}\n"));
        lineproto::encode(point, &mut text);
        if !text.ends_with('\n') {
            text.push('\n');
        }
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)?;
    f.write_all(text.as_bytes())?;
    f.sync_data()?;
    Ok(rotated)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use garonne_store::point::Field;

    /// A store that is down for its first `down_for` writes, then refuses any batch holding a
    /// point whose time is in `bad`, and otherwise keeps the times it was given.
    struct Scripted {
        down_for: usize,
        bad: BTreeSet<i64>,
        calls: usize,
        kept: Vec<i64>,
        /// Batches of more points than this are refused as too large (413).
        too_large_over: usize,
        /// The size in line protocol of each request it took.
        request_bytes: Vec<usize>,
    }

    impl Scripted {
        fn new(down_for: usize, bad: BTreeSet<i64>) -> Scripted {
            Scripted {
                down_for,
                bad,
                calls: 0,
                kept: Vec::new(),
                too_large_over: usize::MAX,
                request_bytes: Vec::new(),
            }
        }
    }

    impl Store for Scripted {
        fn name(&self) -> &'static str {
            "scripted"
        }

        async fn write(&mut self, points: &[Point]) -> Result<(), StoreError> {
            self.calls += 1;
            if self.calls <= self.down_for {
                return Err(StoreError::Unavailable("connection refused".into()));
            }
            if points.len() > self.too_large_over {
                return Err(StoreError::TooLarge("413 request entity too large".into()));
            }
            if points.iter().any(|p| self.bad.contains(&p.time_ns)) {
                return Err(StoreError::Rejected("field type conflict".into()));
            }
            self.kept.extend(points.iter().map(|p| p.time_ns));
            self.request_bytes.push(lineproto::encode_all(points).len());
            Ok(())
        }
    }

    fn point(time_ns: i64) -> Point {
        Point {
            measurement: "reading",
            tags: vec![("sensor", "s-1".to_owned())],
            fields: vec![("temperature", Field::Float(20.5))],
            time_ns,
        }
    }

    fn drain_settings(dir: &Path, stop: CancellationToken) -> Drain {
        Drain {
            topics: Topics::new("garonne").expect("prefix"),
            limits: Limits::default(),
            batch_points: 100,
            batch_bytes: 4 << 20,
            flush: Duration::from_millis(10),
            rejected: dir.join(REJECTED_FILE),
            metrics: Arc::new(Metrics::default()),
            stop,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_store_that_is_down_gets_the_same_batch_again_until_it_takes_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let drain = drain_settings(dir.path(), CancellationToken::new());
        let mut store = Scripted::new(6, BTreeSet::new());
        let points: Vec<Point> = (0..10).map(point).collect();
        assert!(write_all(&drain, &mut store, &points).await);
        assert_eq!(store.kept, (0..10).collect::<Vec<_>>());
        assert_eq!(drain.metrics.store_retries.load(Ordering::Relaxed), 6);
        assert_eq!(drain.metrics.points_written.load(Ordering::Relaxed), 10);
    }

    #[tokio::test]
    async fn a_refused_batch_is_split_until_only_the_bad_points_are_set_aside() {
        let dir = tempfile::tempdir().expect("temp dir");
        let drain = drain_settings(dir.path(), CancellationToken::new());
        let bad = BTreeSet::from([3, 64, 65]);
        let mut store = Scripted::new(0, bad.clone());
        let points: Vec<Point> = (0..100).map(point).collect();
        assert!(write_all(&drain, &mut store, &points).await);
        let mut kept = store.kept.clone();
        kept.sort_unstable();
        let good: Vec<i64> = (0..100).filter(|t| !bad.contains(t)).collect();
        assert_eq!(kept, good, "every good point written once");
        assert_eq!(drain.metrics.rejected_points.load(Ordering::Relaxed), 3);
        let file = std::fs::read_to_string(dir.path().join(REJECTED_FILE)).expect("rejected file");
        let lines: Vec<&str> = file.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            lines,
            [
                "reading,sensor=s-1 temperature=20.5 3",
                "reading,sensor=s-1 temperature=20.5 64",
                "reading,sensor=s-1 temperature=20.5 65"
            ]
        );
        assert!(file.contains("refused: field type conflict"), "{file}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_batch_too_large_for_the_store_is_written_in_halves_and_nothing_is_set_aside() {
        let dir = tempfile::tempdir().expect("temp dir");
        let drain = drain_settings(dir.path(), CancellationToken::new());
        let mut store = Scripted::new(0, BTreeSet::new());
        store.too_large_over = 16;
        let points: Vec<Point> = (0..100).map(point).collect();
        // Before: a 413 was "unavailable", and the same batch was tried again forever.
        let written = tokio::time::timeout(
            Duration::from_secs(600),
            write_all(&drain, &mut store, &points),
        )
        .await
        .expect("written, not retried forever");
        assert!(written);
        let mut kept = store.kept.clone();
        kept.sort_unstable();
        assert_eq!(
            kept,
            (0..100).collect::<Vec<_>>(),
            "every point written once"
        );
        assert!(drain.metrics.batches_split.load(Ordering::Relaxed) >= 7);
        assert_eq!(drain.metrics.rejected_points.load(Ordering::Relaxed), 0);
        assert!(!dir.path().join(REJECTED_FILE).exists());
    }

    #[tokio::test]
    async fn no_request_to_the_store_is_larger_than_batch_bytes() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut drain = drain_settings(dir.path(), CancellationToken::new());
        drain.batch_bytes = 65_536;
        let mut store = Scripted::new(0, BTreeSet::new());
        // 2,000 points of about 2 KiB each (a long status text): 4 MB in all.
        let points: Vec<Point> = (0..2000)
            .map(|t| {
                let mut p = point(t);
                p.fields
                    .push(("detail", Field::Str("é \"quoted\", ".repeat(150))));
                p
            })
            .collect();
        assert!(write_all(&drain, &mut store, &points).await);
        assert_eq!(store.kept, (0..2000).collect::<Vec<_>>(), "all, in order");
        let largest = store.request_bytes.iter().max().copied().unwrap_or(0);
        // Before: one request of 4 MB, whatever the store accepts.
        assert!(largest <= 65_536, "a request of {largest} bytes");
        // The bound is an estimate a little above the real size, not a point per request.
        assert!(
            store.request_bytes.len() <= 100,
            "{} requests",
            store.request_bytes.len()
        );
    }

    #[test]
    fn a_batch_is_cut_into_pieces_under_the_byte_bound() {
        // A point larger than the bound goes alone; the others are grouped under it.
        let points: Vec<Point> = (0..10).map(point).collect();
        let one = lineproto::max_len(&points[0]);
        let cut = pieces(&points, 3 * one);
        assert_eq!(
            cut.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [3, 3, 3, 1]
        );
        assert_eq!(pieces(&points, 1).len(), 10);
    }

    #[test]
    fn a_failed_write_is_retried_split_or_set_aside_as_its_cause_says() {
        let why = || "why".to_owned();
        for (error, points, next) in [
            (StoreError::Unavailable(why()), 10, "retry"),
            (StoreError::Unavailable(why()), 1, "retry"),
            (StoreError::Rejected(why()), 10, "split"),
            (StoreError::Rejected(why()), 1, "aside"),
            (StoreError::TooLarge(why()), 10, "split"),
            (StoreError::TooLarge(why()), 1, "aside"),
            (StoreError::TimedOut(why()), 10, "split"),
            // One point not answered in time: the store is slow; nothing is set aside.
            (StoreError::TimedOut(why()), 1, "retry"),
        ] {
            let got = match Next::after(error, points) {
                Next::Retry(_) => "retry",
                Next::Split(_) => "split",
                Next::SetAside(_) => "aside",
            };
            assert_eq!(got, next, "{points} points");
        }
    }

    #[test]
    fn the_rejected_file_is_rotated_at_its_bound() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join(REJECTED_FILE);
        let full = usize::try_from(REJECTED_MAX_BYTES).expect("fits");
        std::fs::write(&file, vec![b'#'; full]).expect("a full file");
        let p = point(7);
        assert!(keep_rejected(&file, &[(&p, "bad".to_owned())]).expect("kept"));
        let rotated = dir.path().join("rejected.lp.1");
        assert_eq!(
            std::fs::metadata(&rotated).expect("rotated").len(),
            REJECTED_MAX_BYTES
        );
        let text = std::fs::read_to_string(&file).expect("new file");
        assert!(
            text.ends_with("reading,sensor=s-1 temperature=20.5 7\n"),
            "{text}"
        );
        assert!(!keep_rejected(&file, &[(&p, "bad".to_owned())]).expect("kept"));
    }

    #[tokio::test(start_paused = true)]
    async fn stopping_while_the_store_is_down_leaves_the_batch_uncommitted() {
        let dir = tempfile::tempdir().expect("temp dir");
        let stop = CancellationToken::new();
        let drain = drain_settings(dir.path(), stop.clone());
        let mut store = Scripted::new(usize::MAX, BTreeSet::new());
        let points: Vec<Point> = (0..10).map(point).collect();
        let stopper = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(30)).await;
            stop.cancel();
        });
        assert!(!write_all(&drain, &mut store, &points).await);
        stopper.await.expect("stopper");
        assert!(store.kept.is_empty());
        assert!(
            store.calls > 5,
            "retried with backoff: {} calls",
            store.calls
        );
    }
}

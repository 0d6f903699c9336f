//! What the historian counts, shared between its tasks, and its rendering for `/metrics`.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use garonne_service::prometheus::Exposition;

use crate::schema::Skip;
use crate::spool::SpoolStats;

/// Upper bounds of the latency histogram buckets, seconds (spool syncs and store writes).
pub const LATENCY_BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// A latency histogram updated from several tasks.
#[derive(Debug, Default)]
pub struct Latency {
    counts: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    sum_nanos: AtomicU64,
}

impl Latency {
    /// Records one observation.
    pub fn observe(&self, took: Duration) {
        let secs = took.as_secs_f64();
        let bucket = LATENCY_BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(LATENCY_BUCKETS.len());
        self.counts[bucket].fetch_add(1, Ordering::Relaxed);
        self.sum_nanos
            .fetch_add(took.as_nanos() as u64, Ordering::Relaxed);
    }

    fn render(&self, e: &mut Exposition, name: &str, help: &str) {
        let counts: Vec<u64> = self
            .counts
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect();
        let sum = self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        e.histogram(name, help, &LATENCY_BUCKETS, &counts, sum);
    }
}

/// The historian's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Messages taken from MQTT.
    pub received: AtomicU64,
    /// Messages acknowledged to the broker (each after it was synced to the spool).
    pub acknowledged: AtomicU64,
    /// Time to write and sync one group of messages to the spool.
    pub spool_sync: Latency,
    /// Spool syncs that failed (disk full, I/O error); the group is tried again.
    pub spool_errors: AtomicU64,
    /// Points the store confirmed.
    pub points_written: AtomicU64,
    /// Batches the store confirmed.
    pub batches_written: AtomicU64,
    /// Time of one successful store write.
    pub store_write: Latency,
    /// Store writes that failed and will be tried again (store down, slow, overloaded).
    pub store_retries: AtomicU64,
    /// Batches the store refused for good, set aside in the spool's `rejected` file.
    pub rejected_batches: AtomicU64,
    /// Points in those batches.
    pub rejected_points: AtomicU64,
    /// Batches written again in halves: refused, too large for the store, or not answered in
    /// time.
    pub batches_split: AtomicU64,
    /// Times the rejected file reached its bound and was rotated.
    pub rejected_rotations: AtomicU64,
    /// Messages that gave no point, by reason (`not-stored`, `empty`, or the payload rule).
    pub skipped: Mutex<BTreeMap<String, u64>>,
}

impl Metrics {
    /// Counts a message that gave no point.
    pub fn skip(&self, why: Skip) {
        let reason = match why {
            Skip::NotStored => "not-stored",
            Skip::Empty => "empty",
            Skip::Invalid(rule) => rule.as_str(),
        };
        if let Ok(mut skipped) = self.skipped.lock() {
            *skipped.entry(reason.to_owned()).or_default() += 1;
        }
    }

    /// Messages that gave no point, all reasons.
    pub fn skipped_total(&self) -> u64 {
        self.skipped.lock().map_or(0, |s| s.values().sum())
    }

    /// Adds the counters, and the spool's, to a Prometheus exposition.
    pub fn render(&self, spool: &SpoolStats, e: &mut Exposition) {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        e.counter(
            "garonne_historian_messages_received_total",
            "Messages taken from MQTT.",
            load(&self.received),
        )
        .counter(
            "garonne_historian_messages_acknowledged_total",
            "Acknowledgements handed to the MQTT client, each for a message on disk in the spool.",
            load(&self.acknowledged),
        )
        .gauge(
            "garonne_historian_spool_records",
            "Messages in the spool that the store has not taken yet (the spool's depth).",
            load(&spool.records) as f64,
        )
        .gauge(
            "garonne_historian_spool_bytes",
            "Bytes of the spool's segment files.",
            load(&spool.bytes) as f64,
        )
        .counter(
            "garonne_historian_spool_syncs_total",
            "Groups of messages written and synced to the spool.",
            load(&spool.syncs),
        )
        .counter(
            "garonne_historian_spool_errors_total",
            "Spool writes that failed (disk full, I/O error) and were tried again.",
            load(&self.spool_errors),
        )
        .counter(
            "garonne_historian_spool_damaged_total",
            "Damaged records found in the spool and skipped.",
            load(&spool.damaged),
        );
        self.spool_sync.render(
            e,
            "garonne_historian_spool_sync_seconds",
            "Time to write and sync one group of messages to the spool.",
        );
        e.counter(
            "garonne_historian_points_written_total",
            "Points the store confirmed.",
            load(&self.points_written),
        )
        .counter(
            "garonne_historian_batches_written_total",
            "Batches the store confirmed.",
            load(&self.batches_written),
        );
        self.store_write.render(
            e,
            "garonne_historian_store_write_seconds",
            "Time of one successful batch write to the store.",
        );
        e.counter(
            "garonne_historian_store_retries_total",
            "Store writes that failed (store down, slow or overloaded) and were tried again.",
            load(&self.store_retries),
        )
        .counter(
            "garonne_historian_rejected_points_total",
            "Points the store refused for good, kept in the spool's rejected file.",
            load(&self.rejected_points),
        )
        .counter(
            "garonne_historian_batches_split_total",
            "Batches written again in halves: refused, too large for the store or not answered in time.",
            load(&self.batches_split),
        )
        .counter(
            "garonne_historian_rejected_file_rotations_total",
            "Times the rejected file reached its bound (16 MiB) and was rotated to rejected.lp.1.",
            load(&self.rejected_rotations),
        );
        if let Ok(skipped) = self.skipped.lock() {
            e.counter_by(
                "garonne_historian_skipped_total",
                "Messages that gave no point, by reason (not-stored, empty, or the payload rule broken).",
                "reason",
                skipped.iter().map(|(k, v)| (k.as_str(), *v)),
            );
        }
    }
}

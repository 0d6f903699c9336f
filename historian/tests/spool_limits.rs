//! The spool's size bounds under a burst (issue 13, item 1): a sync group larger than a segment,
//! or than the whole spool, must neither make a segment grow past its size nor leave the writer
//! waiting for room forever.
//!
//! Measured before the fix with the historian (`spool_max_bytes = 65536`,
//! `spool_segment_bytes = 16384`, a burst of 172,350 readings): 9,737 stored, then "the spool is
//! full" forever, and a 3.6 MB segment. These tests replay that at the spool level, with
//! records of the size of a real reading.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use garonne_historian::spool::{Spool, SpoolConfig, SpoolReader, SpoolWriter};
use garonne_payload::Timestamp;

/// The settings of the measured failure.
const SEGMENT_BYTES: u64 = 16_384;
const MAX_BYTES: u64 = 65_536;
/// The historian's largest sync group (`service::MAX_GROUP`).
const GROUP: usize = 10_000;
/// The measured burst.
const BURST: usize = 172_350;
/// Longest a test waits for the writer or the drain.
const PATIENCE: Duration = Duration::from_secs(10);

fn config(dir: &Path, segment_bytes: u64, max_bytes: u64) -> SpoolConfig {
    SpoolConfig {
        dir: dir.to_owned(),
        max_bytes,
        segment_bytes,
    }
}

/// A reading of about the size the simulator publishes (some 330 bytes of JSON).
fn payload(n: usize) -> Vec<u8> {
    format!(
        "{{\"v\":1,\"sensor_id\":\"sim-capitole-{}\",\"kind\":\"weather-station\",\"source\":\
         \"virtual\",\"time\":\"2025-11-24T10:15:00Z\",\"seq\":{n},\"location\":{{\"lon\":1.4442,\
         \"lat\":43.6047}},\"quantities\":{{\"temperature\":12.5,\"relativeHumidity\":0.81,\
         \"pressure\":1013.2,\"windSpeed\":3.4,\"windDirection\":220,\"rainfall\":0.0,\
         \"pm25\":8.1,\"pm10\":14.9}}}}",
        n % 40
    )
    .into_bytes()
}

fn topic(n: usize) -> String {
    format!("garonne/v1/sensors/sim-capitole-{}/reading", n % 40)
}

fn now() -> Timestamp {
    Timestamp::new(1_764_000_000, 0).expect("time")
}

/// Appends records `range` as one group and syncs it.
fn append_group(writer: &mut SpoolWriter, range: std::ops::Range<usize>) {
    for n in range {
        writer
            .append(now(), &topic(n), &payload(n))
            .expect("append");
    }
    writer.sync().expect("sync");
}

/// The sizes of the segment files in `dir`.
fn segment_sizes(dir: &Path) -> Vec<u64> {
    let mut sizes: Vec<u64> = std::fs::read_dir(dir)
        .expect("spool directory")
        .filter_map(|e| {
            let e = e.expect("entry");
            let name = e.file_name().into_string().expect("UTF-8 name");
            name.ends_with(".seg")
                .then(|| e.metadata().expect("metadata").len())
        })
        .collect();
    sizes.sort_unstable();
    sizes
}

/// Reads and commits everything durable now, in batches of 1000 (the drain's default batch);
/// returns how many records it took.
fn drain_all(reader: &mut SpoolReader) -> usize {
    let mut taken = 0;
    loop {
        let mut out = Vec::new();
        let to = reader.read(1000, &mut out).expect("read");
        if out.is_empty() {
            return taken;
        }
        for (i, record) in out.iter().enumerate() {
            assert_eq!(
                record.payload,
                payload(taken + i),
                "record {} in order",
                taken + i
            );
        }
        taken += out.len();
        reader.commit(to, out.len() as u64).expect("commit");
    }
}

/// Failed before the fix: the whole group went into the active segment (one 3.3 MB file).
#[test]
fn a_sync_group_larger_than_a_segment_is_split_across_segments() {
    let dir = tempfile::tempdir().expect("temp dir");
    let spool = Spool::open(config(dir.path(), SEGMENT_BYTES, MAX_BYTES)).expect("open");
    let (mut writer, mut reader) = (spool.writer, spool.reader);
    append_group(&mut writer, 0..GROUP);
    let sizes = segment_sizes(dir.path());
    let largest = sizes.last().copied().unwrap_or(0);
    assert!(
        largest <= SEGMENT_BYTES,
        "every segment within {SEGMENT_BYTES} bytes; the largest is {largest} ({} segments)",
        sizes.len()
    );
    assert!(sizes.len() > 100, "the group spans many segments");
    assert_eq!(drain_all(&mut reader), GROUP, "every record comes back");
}

/// A record larger than a segment gets a segment of its own; nothing is refused.
#[test]
fn a_record_larger_than_a_segment_gets_a_segment_of_its_own() {
    let dir = tempfile::tempdir().expect("temp dir");
    let spool = Spool::open(config(dir.path(), 1024, MAX_BYTES)).expect("open");
    let (mut writer, mut reader) = (spool.writer, spool.reader);
    writer.append(now(), "t/small", b"small").expect("append");
    writer
        .append(now(), "t/big", &[b'x'; 5000])
        .expect("append");
    writer.append(now(), "t/small", b"small").expect("append");
    writer.sync().expect("sync");
    assert_eq!(segment_sizes(dir.path()).len(), 3, "small, big, small");
    let mut out = Vec::new();
    reader.read(10, &mut out).expect("read");
    let sizes: Vec<usize> = out.iter().map(|r| r.payload.len()).collect();
    assert_eq!(sizes, [5, 5000, 5]);
}

/// Failed before the fix: the waiting writer was woken only when a commit deleted a segment,
/// and here everything is in the active segment, so it waited forever.
#[tokio::test]
async fn a_waiting_writer_wakes_when_the_store_takes_the_active_segment() {
    let dir = tempfile::tempdir().expect("temp dir");
    // One large segment: the commit below deletes nothing.
    let spool = Spool::open(config(dir.path(), 1 << 30, 4096)).expect("open");
    let (mut writer, mut reader, stats) = (spool.writer, spool.reader, spool.stats);
    append_group(&mut writer, 0..50);
    assert!(!writer.has_room(), "over the bound: the writer waits");
    let waiter = tokio::spawn(async move {
        writer.wait_for_room().await;
        writer
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!waiter.is_finished(), "the writer waits for room");
    assert!(reader.wait(Duration::from_secs(1)).await);
    assert_eq!(drain_all(&mut reader), 50);
    assert_eq!(stats.records.load(Ordering::Relaxed), 0);
    let writer = tokio::time::timeout(Duration::from_secs(5), waiter)
        .await
        .expect("the writer wakes once the store took every record")
        .expect("task");
    assert!(writer.has_room());
}

/// The measured burst, at the spool level: an ingest task taking groups of up to 10,000
/// records, waiting for room as the historian does, and a drain committing batches of 1000.
/// Failed before the fix: the ingest waited forever after the first group.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_through_a_small_spool_gets_through_whole() {
    let dir = tempfile::tempdir().expect("temp dir");
    let spool = Spool::open(config(dir.path(), SEGMENT_BYTES, MAX_BYTES)).expect("open");
    let (mut writer, mut reader, stats) = (spool.writer, spool.reader, spool.stats);
    let started = Instant::now();
    let spool_dir = dir.path().to_owned();
    let ingest = tokio::spawn(async move {
        let mut next = 0;
        let mut largest_segment = 0;
        while next < BURST {
            tokio::time::timeout(PATIENCE, writer.wait_for_room())
                .await
                .unwrap_or_else(|_| panic!("the writer got no room after {next} records"));
            let end = (next + GROUP).min(BURST);
            append_group(&mut writer, next..end);
            next = end;
            largest_segment = largest_segment.max(segment_sizes(&spool_dir).pop().unwrap_or(0));
        }
        largest_segment
    });
    let drain = tokio::spawn(async move {
        let mut taken = 0;
        while taken < BURST {
            assert!(
                reader.wait(PATIENCE).await,
                "records come after {taken} taken"
            );
            let mut out = Vec::new();
            let to = reader.read(1000, &mut out).expect("read");
            for (i, record) in out.iter().enumerate() {
                assert_eq!(record.payload, payload(taken + i), "in order");
            }
            taken += out.len();
            reader.commit(to, out.len() as u64).expect("commit");
        }
        taken
    });
    let largest_segment = ingest.await.expect("ingest");
    let taken = drain.await.expect("drain");
    assert_eq!(taken, BURST, "every record of the burst reached the store");
    assert_eq!(stats.records.load(Ordering::Relaxed), 0);
    assert!(
        largest_segment <= SEGMENT_BYTES,
        "segments within their size: {largest_segment}"
    );
    eprintln!(
        "{BURST} records through a {MAX_BYTES}-byte spool in {:.2} s",
        started.elapsed().as_secs_f64()
    );
}

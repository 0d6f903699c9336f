//! The historian with a small spool under a burst, against a real mosquitto (issue 13, item 1):
//! `spool_max_bytes = 65536`, `spool_segment_bytes = 16384`, and a burst of readings published
//! as fast as the broker takes them. Measured before the fix: the historian stored 9,737 of
//! 172,350 readings, then logged "the spool is full" forever. Every reading the broker
//! acknowledged must now be taken, spooled and written, with nothing left in the spool.
//!
//! The same with the spool on a full disk (issue 13, item 15; a small tmpfs, so root only).
//!
//! The store is the embedded one (no server to run); the spool at the spool level is tested in
//! `spool_limits.rs` and `spool_durability.rs`.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Historian, publish_probe};
use garonne_historian::Summary;
use garonne_historian::config::Config;
use garonne_payload::{Limits, Timestamp, parse_reading};
use garonne_service::config::MqttConfig;
use garonne_store::config::StoreConfig;
use garonne_store::embedded::{EmbeddedStore, Retention};
use garonne_testkit::Mosquitto;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};

const PREFIX: &str = "spool-burst";
/// Readings in the burst: each group the historian takes is many times the spool's bound.
const BURST: u64 = 30_000;
/// Longest wait for the burst to be published, and for the historian to take all of it.
const PATIENCE: Duration = Duration::from_secs(120);

/// A valid reading of about the size the simulator publishes.
fn reading(n: u64, time: Timestamp) -> Vec<u8> {
    format!(
        "{{\"v\":1,\"sensor_id\":\"burst-{}\",\"kind\":\"weather-station\",\"source\":\
         \"virtual\",\"time\":\"{time}\",\"seq\":{},\"location\":{{\"lon\":1.4442,\
         \"lat\":43.6047}},\"quantities\":{{\"temperature\":12.5,\"relativeHumidity\":0.81,\
         \"atmosphericPressure\":1013.2,\"windSpeed\":3.4,\"windDirection\":220,\"precipitation\":0.0}}}}",
        n % 40,
        n / 40
    )
    .into_bytes()
}

/// Publishes `count` readings with QoS 1 and returns once the broker acknowledged every one.
async fn publish_burst(broker: &Mosquitto, count: u64) {
    let mut options = MqttOptions::new(format!("{PREFIX}-sensors"), broker.host(), broker.port());
    options.set_keep_alive(Duration::from_secs(30));
    options.set_inflight(1000);
    let (client, mut eventloop) = AsyncClient::new(options, 1000);
    let acks = tokio::spawn(async move {
        let mut acked = 0;
        while acked < count {
            if let Event::Incoming(Packet::PubAck(_)) = eventloop.poll().await.expect("broker") {
                acked += 1;
            }
        }
        eventloop
    });
    let time = Timestamp::now();
    parse_reading(&reading(0, time), time, &Limits::default()).expect("a valid reading");
    for n in 0..count {
        client
            .publish(
                format!("{PREFIX}/v1/sensors/burst-{}/reading", n % 40),
                QoS::AtLeastOnce,
                false,
                reading(n, time),
            )
            .await
            .expect("queued");
    }
    let mut eventloop = tokio::time::timeout(PATIENCE, acks)
        .await
        .expect("the broker acknowledges the burst")
        .expect("acknowledgements task");
    client.disconnect().await.expect("disconnect queued");
    let _ = tokio::time::timeout(Duration::from_secs(2), eventloop.poll()).await;
}

/// A historian whose history is an embedded store in `dir` and whose spool is `spool_dir`,
/// within `spool_max_bytes` in segments of 16 KiB, once it has subscribed.
async fn start_historian(
    broker: &Mosquitto,
    dir: &Path,
    spool_dir: PathBuf,
    spool_max_bytes: u64,
) -> Historian {
    let file = dir.join("history.sqlite");
    let store = EmbeddedStore::open(&file, Retention::default())
        .await
        .expect("embedded store");
    let config = Config {
        mqtt: MqttConfig::parse(&broker.url(), PREFIX, format!("{PREFIX}-historian"))
            .expect("[mqtt]"),
        spool_dir,
        spool_segment_bytes: 16_384,
        spool_max_bytes,
        batch_points: 1000,
        flush_interval_ms: 100,
        store: StoreConfig::embedded(file),
        ..Config::default()
    };
    publish_probe(broker, PREFIX).await;
    let historian = Historian::start(config, store).await;
    historian.wait_subscribed().await;
    historian
}

/// Waits until the historian has acknowledged `count` readings and the probe, and its spool is
/// empty; stops it and checks that each was written once, nothing left, nothing skipped.
async fn assert_stored_whole(historian: Historian, count: u64) -> Summary {
    let expected = (count + 1) as f64;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let acknowledged = historian
            .metric("garonne_historian_messages_acknowledged_total")
            .await;
        if acknowledged >= expected {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the historian took {acknowledged} of {expected} messages (spool: {} bytes)",
            historian.metric("garonne_historian_spool_bytes").await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    historian.wait_drained().await;
    let summary = historian.stop().await;
    assert_eq!(
        (summary.acknowledged, summary.spool_left, summary.skipped),
        (count + 1, 0, 0),
        "{summary:?}"
    );
    assert_eq!(summary.points_written, count + 1, "{summary:?}");
    summary
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_through_a_small_spool_is_stored_whole() {
    let Some(broker) = Mosquitto::start_or_skip() else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let historian = start_historian(&broker, dir.path(), dir.path().join("spool"), 65_536).await;
    let started = Instant::now();
    publish_burst(&broker, BURST).await;
    let summary = assert_stored_whole(historian, BURST).await;
    eprintln!(
        "{BURST} readings through a 65,536-byte spool, stored in {:.1} s: {summary:?}",
        started.elapsed().as_secs_f64()
    );
}

/// A tmpfs of `size` mounted on a temporary directory, unmounted on drop; `None` (the test then
/// skips) when this process may not mount one (mounting needs root).
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().expect("temp dir");
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !mounted {
            eprintln!("skipped: cannot mount a tmpfs here (the full-disk test needs root)");
            return None;
        }
        Some(SmallDisk { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Fills the disk with a file, leaving about `free` bytes; returns the file.
    fn fill(&self, free: u64) -> PathBuf {
        let filler = self.path().join("filler");
        let mut file = std::fs::File::create(&filler).expect("filler");
        let block = [0u8; 4096];
        let mut written = 0;
        while file.write_all(&block).is_ok() {
            written += block.len() as u64;
        }
        file.set_len(written.saturating_sub(free))
            .expect("room left");
        file.sync_all().expect("filler synced");
        filler
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

/// Issue 13, item 15: the spool on a full disk. The historian stops taking messages (nothing is
/// acknowledged that is not on disk), says why (the spool-errors metric and the log), and
/// resumes when room returns, losing nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_stops_the_historian_until_room_returns_and_loses_nothing() {
    const COUNT: u64 = 1000;
    let Some(broker) = Mosquitto::start_or_skip() else {
        return;
    };
    let Some(disk) = SmallDisk::mount("1m") else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let historian = start_historian(&broker, dir.path(), disk.path().join("spool"), 64 << 20).await;
    let filler = disk.fill(8192);
    publish_burst(&broker, COUNT).await;
    let errors = "garonne_historian_spool_errors_total";
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while historian.metric(errors).await < 2.0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no spool error on a full disk"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let acknowledged = historian
        .metric("garonne_historian_messages_acknowledged_total")
        .await;
    assert!(
        acknowledged < (COUNT + 1) as f64,
        "the disk is full: {acknowledged} acknowledged"
    );
    std::fs::remove_file(filler).expect("room again");
    let room = Instant::now();
    let summary = assert_stored_whole(historian, COUNT).await;
    eprintln!(
        "{COUNT} readings on a full disk: {acknowledged} acknowledged while it was full, all \
         stored {:.1} s after room returned: {summary:?}",
        room.elapsed().as_secs_f64()
    );
}

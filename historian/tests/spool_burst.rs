//! The historian with a small spool under a burst, against a real mosquitto (issue 13, item 1):
//! `spool_max_bytes = 65536`, `spool_segment_bytes = 16384`, and a burst of readings published
//! as fast as the broker takes them. Measured before the fix: the historian stored 9,737 of
//! 172,350 readings, then logged "the spool is full" forever. Every reading the broker
//! acknowledged must now be taken, spooled and written, with nothing left in the spool.
//!
//! The store is the embedded one (no server to run); the spool at the spool level is tested in
//! `spool_limits.rs`.

mod common;

use std::time::{Duration, Instant};

use common::{Historian, publish_probe};
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

/// Publishes the burst with QoS 1 and returns once the broker acknowledged every reading.
async fn publish_burst(broker: &Mosquitto) {
    let mut options = MqttOptions::new(format!("{PREFIX}-sensors"), broker.host(), broker.port());
    options.set_keep_alive(Duration::from_secs(30));
    options.set_inflight(1000);
    let (client, mut eventloop) = AsyncClient::new(options, 1000);
    let acks = tokio::spawn(async move {
        let mut acked = 0;
        while acked < BURST {
            if let Event::Incoming(Packet::PubAck(_)) = eventloop.poll().await.expect("broker") {
                acked += 1;
            }
        }
        eventloop
    });
    let time = Timestamp::now();
    parse_reading(&reading(0, time), time, &Limits::default()).expect("a valid reading");
    for n in 0..BURST {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_through_a_small_spool_is_stored_whole() {
    let Some(broker) = Mosquitto::start_or_skip() else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("history.sqlite");
    let store = EmbeddedStore::open(&file, Retention::default())
        .await
        .expect("embedded store");
    let mut mqtt = MqttConfig::new(broker.url().parse().expect("broker URL"));
    mqtt.topic_prefix = PREFIX.parse().expect("topic prefix");
    mqtt.client_id = Some(format!("{PREFIX}-historian"));
    let config = Config {
        mqtt,
        spool_dir: dir.path().join("spool"),
        spool_segment_bytes: 16_384,
        spool_max_bytes: 65_536,
        batch_points: 1000,
        flush_interval_ms: 100,
        store: StoreConfig::embedded(file),
        ..Config::default()
    };
    publish_probe(&broker, PREFIX).await;
    let historian = Historian::start(config, store).await;
    historian.wait_subscribed().await;

    let started = Instant::now();
    publish_burst(&broker).await;
    // The probe, then the burst.
    let expected = (BURST + 1) as f64;
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
    let elapsed = started.elapsed();
    let summary = historian.stop().await;
    eprintln!(
        "{BURST} readings through a 65,536-byte spool, stored in {:.1} s: {summary:?}",
        elapsed.as_secs_f64()
    );
    assert_eq!(
        (summary.acknowledged, summary.spool_left, summary.skipped),
        (BURST + 1, 0, 0),
        "{summary:?}"
    );
    assert_eq!(summary.points_written, BURST + 1, "{summary:?}");
}

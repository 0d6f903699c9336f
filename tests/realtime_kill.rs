//! `garonne realtime`, the real binary, killed with SIGKILL after it folded readings and
//! started again: its windows come back from the periodic snapshot (`--snapshot-every`), so the
//! neighbourhood's next aggregate still counts the readings folded before the crash. Before the
//! periodic snapshot, the state was saved at a clean shutdown only and a crash lost the windows.

use std::path::Path;
use std::time::Duration;

use garonne_payload::{NeighbourhoodAggregate, Quantity, Timestamp};
use garonne_testkit::{Launch, Mosquitto, Server, wait_until_ready};
use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Packet, QoS};

const PREFIX: &str = "rkill";
/// Readings sent before the kill.
const SENT: u64 = 5;
/// The Capitole, inside a quartier of the fixture's polygons.
const INSIDE: (f64, f64) = (1.4442, 43.6047);

/// `garonne realtime` saving its state every second; killed when dropped.
fn start_realtime(broker: &Mosquitto, dir: &Path) -> Server {
    let polygons = garonne_testkit::open_data_file("quartiers-de-democratie-locale.geojson");
    Server::start_on_free_port(5, |port| {
        Ok(Launch::new(
            "garonne realtime",
            env!("CARGO_BIN_EXE_garonne"),
            port,
            dir.join("realtime.log"),
        )
        .args(["realtime", "--broker", &broker.url()])
        .args(["--client-id", "rkill-realtime", "--prefix", PREFIX])
        .arg("--neighbourhoods")
        .arg(&polygons)
        .arg("--snapshot")
        .arg(dir.join("snapshot.json"))
        .args([
            "--snapshot-every",
            "1s",
            "--window",
            "1h",
            "--emit-every",
            "200ms",
        ])
        .args(["--metrics-addr", &format!("127.0.0.1:{port}")])
        .env("GARONNE_LOG", "warn"))
    })
    .expect("garonne realtime starts")
}

/// Waits until realtime answers `/readyz` (subscribed to the broker).
async fn wait_ready(realtime: &Server) {
    assert!(
        wait_until_ready(realtime.address(), Duration::from_secs(20)).await,
        "garonne realtime never became ready: {}",
        realtime.log_tail()
    );
}

/// A client of the test's broker, subscribed to every aggregate.
async fn aggregates(broker: &Mosquitto, id: &str) -> (AsyncClient, EventLoop) {
    let mut options = MqttOptions::new(id, broker.host(), broker.port());
    options.set_max_packet_size(1 << 20, 1 << 20);
    let (client, eventloop) = AsyncClient::new(options, 100);
    client
        .subscribe(
            format!("{PREFIX}/v1/neighbourhoods/+/aggregate"),
            QoS::AtLeastOnce,
        )
        .await
        .expect("subscribe");
    (client, eventloop)
}

/// The first aggregate published live (not a retained one) whose temperature counts `readings`,
/// within 20 s.
async fn live_aggregate_counting(
    eventloop: &mut EventLoop,
    readings: u64,
) -> NeighbourhoodAggregate {
    let wait = async {
        loop {
            if let Event::Incoming(Packet::Publish(p)) = eventloop.poll().await.expect("broker") {
                let aggregate: NeighbourhoodAggregate =
                    serde_json::from_slice(&p.payload).expect("an aggregate");
                let counted = aggregate
                    .quantities
                    .get(&Quantity::Temperature)
                    .map(|s| s.readings);
                if !p.retain && counted == Some(readings) {
                    return aggregate;
                }
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), wait)
        .await
        .unwrap_or_else(|_| panic!("no live aggregate counting {readings} readings within 20 s"))
}

fn reading(seq: u64) -> String {
    format!(
        r#"{{"v":1,"sensor_id":"pi-kill","kind":"weather","source":"raspberry-pi","time":"{}","seq":{seq},"location":{{"lon":{},"lat":{}}},"quantities":{{"temperature":12.5}}}}"#,
        Timestamp::now(),
        INSIDE.0,
        INSIDE.1
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_realtime_killed_after_folding_restores_its_windows_from_the_periodic_snapshot() {
    let Some(broker) = Mosquitto::start_or_skip() else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let mut realtime = start_realtime(&broker, dir.path());
    wait_ready(&realtime).await;

    let (client, mut eventloop) = aggregates(&broker, "rkill-watch-1").await;
    for seq in 0..SENT {
        let topic = format!("{PREFIX}/v1/sensors/pi-kill/reading");
        client
            .publish(topic, QoS::AtLeastOnce, false, reading(seq))
            .await
            .expect("publish");
    }
    let before = live_aggregate_counting(&mut eventloop, SENT).await;
    // A snapshot taken after the readings were folded: the next period's.
    let snapshot = dir.path().join("snapshot.json");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let saved_at = std::fs::read(&snapshot)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
            .and_then(|saved| serde_json::from_value::<Timestamp>(saved["saved_at"].clone()).ok());
        if saved_at.is_some_and(|t| t >= before.emitted_at) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no snapshot with the sensor within 10 s: {}",
            realtime.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(client);

    realtime.kill().expect("SIGKILL");
    realtime.restart().expect("restarts");
    wait_ready(&realtime).await;
    let (_client, mut eventloop) = aggregates(&broker, "rkill-watch-2").await;
    let after = live_aggregate_counting(&mut eventloop, SENT).await;
    assert_eq!(after.neighbourhood_id, before.neighbourhood_id);
    assert_eq!(after.window_start, before.window_start);
}

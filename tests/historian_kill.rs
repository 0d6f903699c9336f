//! `garonne historian`, the real binary, killed with SIGKILL in the middle of the simulator's
//! stream and started again: every reading the broker acknowledged to the simulator is in
//! InfluxDB exactly once. Messages synced to the spool but not yet in the store are written by
//! the second run; messages not yet synced were never acknowledged, so the broker hands them
//! over again.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use garonne_simulator::fleet::FleetConfig;
use garonne_simulator::simulate::{self, SimulateConfig};
use garonne_store::influx::{Credentials, InfluxV1};
use garonne_testkit::{Influxd, Mosquitto, free_port};
use rumqttc::QoS;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

const DB: &str = "garonne";
const PREFIX: &str = "kill";

/// `garonne historian` on the test's servers, its metrics on `metrics_port`.
fn start_historian(broker: &Mosquitto, influx: &Influxd, spool: &Path, metrics_port: u16) -> Child {
    Command::new(env!("CARGO_BIN_EXE_garonne"))
        .args(["historian", "--broker", &broker.url(), "--store", "influx"])
        .args([
            "--influx-url",
            &influx.url(),
            "--influx-api",
            "v1",
            "--db",
            DB,
        ])
        .arg("--spool-dir")
        .arg(spool)
        .args(["--metrics-addr", &format!("127.0.0.1:{metrics_port}")])
        .args(["--client-id", "kill-historian", "--prefix", PREFIX])
        .args(["--batch-points", "500", "--flush-interval", "100ms"])
        .env("GARONNE_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("garonne historian starts")
}

/// Waits until the historian answers `/readyz` (connected to the broker).
async fn wait_ready(metrics_port: u16) {
    let url = format!("http://127.0.0.1:{metrics_port}/readyz");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !reqwest::get(&url)
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "garonne historian never became ready"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn stored_readings(influx_url: &str) -> u64 {
    let url = reqwest::Url::parse_with_params(
        &format!("{influx_url}/query"),
        &[("db", DB), ("q", "SELECT count(\"seq\") FROM \"reading\"")],
    )
    .expect("query URL");
    let Ok(response) = reqwest::get(url).await else {
        return 0;
    };
    let text = response.text().await.unwrap_or_default();
    serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| v.pointer("/results/0/series/0/values/0/1")?.as_u64())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_historian_killed_mid_stream_loses_nothing_once_restarted() {
    let (Some(broker), Some(influx)) = (Mosquitto::start_or_skip(), Influxd::start_or_skip())
    else {
        return;
    };
    InfluxV1::new(&influx.url(), DB, Credentials::None)
        .expect("store")
        .create_database()
        .await
        .expect("database");
    let spool = tempfile::tempdir().expect("temp dir");
    let port = free_port().expect("a free port");
    let mut historian = start_historian(&broker, &influx, spool.path(), port);
    wait_ready(port).await;
    // Connected is not yet subscribed: give the SUBSCRIBE its round trip.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let fleet = SimulateConfig {
        broker: broker.url().parse().expect("broker URL"),
        client_id: "kill-simulator".into(),
        topic_prefix: PREFIX.into(),
        data_dir: garonne_testkit::open_data_dir(),
        neighbourhoods: None,
        fleet: FleetConfig {
            speed: 600.0,
            rate_hz: 10.0,
            density: 2,
            seed: 3,
            faults: 0.0,
            rebase: true,
        },
        duration: Some(Duration::from_secs(8)),
        qos: QoS::AtLeastOnce,
        progress: false,
    };
    let fleet = tokio::spawn(simulate::run(fleet, CancellationToken::new()));

    tokio::time::sleep(Duration::from_secs(3)).await;
    historian.kill().expect("SIGKILL");
    historian.wait().expect("reaped");
    let in_store_at_kill = stored_readings(&influx.url()).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut historian = start_historian(&broker, &influx, spool.path(), port);

    let simulated = tokio::time::timeout(Duration::from_secs(60), fleet)
        .await
        .expect("the simulator stops after its duration")
        .expect("fleet task")
        .expect("the simulator runs");
    assert!(simulated.delivered, "the broker took every reading");
    assert!(
        in_store_at_kill > 0 && in_store_at_kill < simulated.published,
        "killed mid-stream: {in_store_at_kill} of {} readings stored",
        simulated.published
    );

    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut stored = stored_readings(&influx.url()).await;
    while stored < simulated.published && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
        stored = stored_readings(&influx.url()).await;
    }
    // A clean stop after that: SIGTERM, exit code 0.
    let term = Command::new("kill")
        .args(["-TERM", &historian.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(term.success());
    let status = historian.wait().expect("reaped");
    assert!(status.success(), "garonne historian exited with {status}");
    assert_eq!(
        (stored, stored_readings(&influx.url()).await),
        (simulated.published, simulated.published),
        "readings in InfluxDB of those published, then after the clean stop"
    );
}

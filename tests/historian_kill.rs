//! `garonne historian`, the real binary, killed with SIGKILL in the middle of the simulator's
//! stream and started again: every reading the broker acknowledged to the simulator is in
//! InfluxDB exactly once. Messages synced to the spool but not yet in the store are written by
//! the second run; messages not yet synced were never acknowledged, so the broker hands them
//! over again.

use std::path::Path;
use std::time::Duration;

use garonne_service::config::MqttConfig;
use garonne_simulator::fleet::FleetConfig;
use garonne_simulator::simulate::{self, SimulateConfig};
use garonne_store::influx::{Credentials, InfluxV1};
use garonne_testkit::{Influxd, Launch, Mosquitto, Server, wait_until_ready};
use rumqttc::QoS;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

const DB: &str = "garonne";
const PREFIX: &str = "kill";

/// `garonne historian` on the test's servers, its ops server (`/readyz`) on a free port, its
/// log in `dir`; killed when dropped.
fn start_historian(broker: &Mosquitto, influx: &Influxd, dir: &Path) -> Server {
    let spool = dir.join("spool");
    Server::start_on_free_port(5, |port| {
        Ok(Launch::new(
            "garonne historian",
            env!("CARGO_BIN_EXE_garonne"),
            port,
            dir.join("historian.log"),
        )
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
        .arg(&spool)
        .args(["--metrics-addr", &format!("127.0.0.1:{port}")])
        .args(["--client-id", "kill-historian", "--prefix", PREFIX])
        .args(["--batch-points", "500", "--flush-interval", "100ms"])
        .env("GARONNE_LOG", "warn"))
    })
    .expect("garonne historian starts")
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
    let dir = tempfile::tempdir().expect("temp dir");
    let mut historian = start_historian(&broker, &influx, dir.path());
    // Ready: connected to the broker.
    assert!(
        wait_until_ready(historian.address(), Duration::from_secs(20)).await,
        "garonne historian never became ready: {}",
        historian.log_tail()
    );
    // Connected is not yet subscribed: give the SUBSCRIBE its round trip.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let fleet = SimulateConfig {
        mqtt: MqttConfig::parse(&broker.url(), PREFIX, "kill-simulator").expect("[mqtt]"),
        data_dir: garonne_testkit::open_data_dir(),
        neighbourhoods: None,
        fleet: FleetConfig {
            speed: 600.0,
            rate_hz: 10.0,
            density: 2,
            seed: 3,
            ..FleetConfig::default()
        },
        duration: Some(Duration::from_secs(8)),
        qos: QoS::AtLeastOnce,
        progress: false,
    };
    let fleet = tokio::spawn(simulate::run(fleet, CancellationToken::new()));

    tokio::time::sleep(Duration::from_secs(3)).await;
    historian.kill().expect("SIGKILL, reaped");
    let in_store_at_kill = stored_readings(&influx.url()).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    // The same command again: same port, same spool.
    historian.restart().expect("garonne historian starts again");

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
    // A clean stop after that: SIGTERM (`kill` runs, or the process would be killed and its
    // status not a success), exit code 0 within the launch's timeout.
    let status = historian.stop_with_status().expect("SIGTERM sent, reaped");
    assert!(
        status.is_some_and(|s| s.success()),
        "garonne historian exited with {status:?}: {}",
        historian.log_tail()
    );
    assert_eq!(
        (stored, stored_readings(&influx.url()).await),
        (simulated.published, simulated.published),
        "readings in InfluxDB of those published, then after the clean stop"
    );
}

//! What several historian test files share: the configurations of a historian and of the
//! simulator's fleet on a test's broker, the retained probe, and [`Historian`], the service run
//! in this process.

// Each test file compiles this module and uses a part of it.
#![allow(dead_code)]

use std::time::Duration;

use std::path::PathBuf;

use garonne_historian::config::Config;
use garonne_historian::{Summary, serve};
use garonne_payload::{Location, SPEC_VERSION, SensorState, Source, Status, Timestamp};
use garonne_service::config::MqttConfig;
use garonne_simulator::fleet::FleetConfig;
use garonne_simulator::simulate::SimulateConfig;
use garonne_store::config::StoreConfig;
use garonne_store::store::Store;
use garonne_testkit::{Mosquitto, Service};
use rumqttc::{AsyncClient, MqttOptions, QoS};

/// The historian `client` under `prefix`: its spool in `spool_dir` (segments of 1 MiB, 64 MiB
/// at most), writing to `store` in batches of up to 1,000 points, at least every 100 ms.
pub fn config(
    broker: &Mosquitto,
    prefix: &str,
    client: &str,
    spool_dir: PathBuf,
    store: StoreConfig,
) -> Config {
    Config {
        mqtt: MqttConfig::parse(&broker.url(), prefix, format!("{prefix}-{client}"))
            .expect("[mqtt]"),
        spool_dir,
        spool_segment_bytes: 1 << 20,
        spool_max_bytes: 64 << 20,
        batch_points: 1000,
        flush_interval_ms: 100,
        store,
        ..Config::default()
    }
}

/// The simulator's `fleet` on `broker` under `prefix`, from the test open data, at QoS 1, for
/// `secs`.
pub fn fleet(broker: &Mosquitto, prefix: &str, fleet: FleetConfig, secs: u64) -> SimulateConfig {
    SimulateConfig {
        mqtt: MqttConfig::parse(&broker.url(), prefix, format!("{prefix}-simulator"))
            .expect("[mqtt]"),
        data_dir: garonne_testkit::open_data_dir(),
        neighbourhoods: None,
        fleet,
        duration: Some(Duration::from_secs(secs)),
        qos: QoS::AtLeastOnce,
        progress: false,
    }
}

/// A retained status on the prefix: the broker hands it to the historian's subscription as
/// soon as it exists.
pub async fn publish_probe(broker: &Mosquitto, prefix: &str) {
    let mut options = MqttOptions::new(format!("{prefix}-probe"), broker.host(), broker.port());
    options.set_keep_alive(Duration::from_secs(5));
    let (client, mut eventloop) = AsyncClient::new(options, 10);
    let status = Status {
        v: SPEC_VERSION,
        sensor_id: "probe".into(),
        state: SensorState::Online,
        time: Timestamp::from_system_time(std::time::SystemTime::now()),
        kind: "probe".into(),
        source: Source::Device,
        location: Some(Location {
            lon: 1.44,
            lat: 43.6,
            alt: None,
        }),
        modules: Vec::new(),
    };
    client
        .publish(
            format!("{prefix}/v1/sensors/probe/status"),
            QoS::AtLeastOnce,
            true,
            serde_json::to_vec(&status).expect("JSON"),
        )
        .await
        .expect("queued");
    let acked = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let rumqttc::Event::Incoming(rumqttc::Packet::PubAck(_)) =
                eventloop.poll().await.expect("broker")
            {
                break;
            }
        }
    })
    .await;
    assert!(acked.is_ok(), "the broker took the probe");
    let _ = client.disconnect().await;
}

/// Longest wait for a historian's spool to empty.
const DRAIN_WAIT: Duration = Duration::from_secs(60);

/// A historian running in this process, through the same `serve` as `garonne historian`, its
/// `/metrics` on a free loopback port.
pub struct Historian(Service<Summary, garonne_historian::HistorianError>);

impl Historian {
    /// Starts `serve` with `store`.
    pub async fn start<S: Store + 'static>(config: Config, store: S) -> Historian {
        Historian(
            Service::start("the historian", |listener, shutdown| {
                serve(config, store, listener, shutdown)
            })
            .await,
        )
    }

    /// The value of metric `name` now; panics when `/metrics` does not have it.
    pub async fn metric(&self, name: &str) -> f64 {
        self.0.metrics().await.expect(name)
    }

    /// Waits until `/readyz` answers: connected to the broker.
    pub async fn wait_ready(&self) {
        self.0.wait_ready(Duration::from_secs(15)).await;
    }

    /// Waits until the historian has taken the retained probe: its subscription is in place.
    pub async fn wait_subscribed(&self) {
        self.0
            .wait_metric(
                "garonne_historian_messages_received_total",
                Duration::from_secs(15),
                |v| v >= 1.0,
            )
            .await;
    }

    /// Waits until the spool is empty: every message taken so far is in the store.
    pub async fn wait_drained(&self) {
        self.0
            .wait_metric("garonne_historian_spool_records", DRAIN_WAIT, |v| v <= 0.0)
            .await;
    }

    /// Stops it and returns its summary.
    pub async fn stop(self) -> Summary {
        self.0.stop().await
    }
}

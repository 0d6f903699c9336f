//! What several historian test files share.

use std::time::Duration;

use garonne_historian::config::Config;
use garonne_historian::{Summary, serve};
use garonne_payload::{Location, SPEC_VERSION, SensorState, Source, Status, Timestamp};
use garonne_store::store::Store;
use garonne_testkit::Mosquitto;
use rumqttc::{AsyncClient, MqttOptions, QoS};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

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

/// A historian running in this process, through the same `serve` as `garonne historian`.
pub struct Historian {
    task: JoinHandle<Result<Summary, garonne_historian::HistorianError>>,
    shutdown: CancellationToken,
    /// Its `/metrics` URL.
    pub metrics: String,
}

impl Historian {
    /// Starts `serve` with `store`, its metrics on a free loopback port.
    pub async fn start<S: Store + 'static>(config: Config, store: S) -> Historian {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("listener");
        let metrics = format!("http://{}/metrics", listener.local_addr().expect("address"));
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(serve(config, store, listener, shutdown.clone()));
        Historian {
            task,
            shutdown,
            metrics,
        }
    }

    /// The value of metric `name` now.
    pub async fn metric(&self, name: &str) -> f64 {
        let text = reqwest::get(&self.metrics)
            .await
            .expect("/metrics answers")
            .text()
            .await
            .expect("/metrics body");
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in /metrics:\n{text}"))
    }

    /// Waits until the historian has taken the retained probe: its subscription is in place.
    pub async fn wait_subscribed(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        while self
            .metric("garonne_historian_messages_received_total")
            .await
            < 1.0
        {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the historian never received the retained probe"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the spool is empty: every message taken so far is in the store.
    pub async fn wait_drained(&self) {
        let deadline = tokio::time::Instant::now() + DRAIN_WAIT;
        while self.metric("garonne_historian_spool_records").await > 0.0 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the spool never emptied"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops it and returns its summary.
    pub async fn stop(self) -> Summary {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(20), self.task)
            .await
            .expect("the historian stops")
            .expect("the historian task completes")
            .expect("the historian ran")
    }
}

//! What several historian test files share.

use std::time::Duration;

use garonne_payload::{Location, SPEC_VERSION, SensorState, Source, Status, Timestamp};
use garonne_testkit::Mosquitto;
use rumqttc::{AsyncClient, MqttOptions, QoS};

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

//! Publish rate of the simulator into the embedded broker (rumqttd, in the same process, as
//! `garonne up` runs it), with 10,077 sensors: the counterpart of bench/simulate-publish.sh,
//! which measures mosquitto. What counts is what the broker forwarded to a subscriber: an
//! in-process link subscribed to every reading.
//!
//! Run: `cargo bench -p garonne-simulator --bench embedded_broker` (GARONNE_BENCH_SECS sets the
//! duration of each run, 20 s by default; GARONNE_DATA_DIR the data folder).

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use garonne_service::config::MqttConfig;
use garonne_simulator::fleet::FleetConfig;
use garonne_simulator::simulate::{self, SimulateConfig};
use rumqttc::QoS;
use tokio_util::sync::CancellationToken;

fn main() {
    let secs: u64 = std::env::var("GARONNE_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let data_dir = std::env::var_os("GARONNE_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../shared/data/toulouse"
            ))
        });
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let config: rumqttd::Config = toml::from_str(&format!(
        r#"
        id = 0
        [router]
        id = 0
        max_connections = 100
        max_outgoing_packet_count = 200
        max_segment_size = 104857600
        max_segment_count = 10
        [v4.1]
        name = "v4-1"
        listen = "127.0.0.1:{port}"
        next_connection_delay_ms = 1
        [v4.1.connections]
        connection_timeout_ms = 60000
        max_payload_size = 20480
        max_inflight_count = 1000
        dynamic_filters = true
        "#
    ))
    .expect("a valid rumqttd configuration");
    let mut broker = rumqttd::Broker::new(config);

    // The counting subscriber: a link inside the broker, subscribed to every reading.
    let forwarded = Arc::new(AtomicU64::new(0));
    let (mut link_tx, mut link_rx) = broker.link("bench-counter").expect("a link");
    link_tx
        .subscribe("garonne/v1/sensors/+/reading")
        .expect("subscribe");
    let counter = Arc::clone(&forwarded);
    std::thread::spawn(move || {
        let mut received = 0u64;
        while let Ok(notification) = link_rx.recv() {
            if let Some(rumqttd::Notification::Forward(_)) = notification {
                counter.fetch_add(1, Ordering::Relaxed);
                received += 1;
            }
            // A local link asks the router for more, as network links do after each write;
            // without it the router stops after `max_outgoing_packet_count` forwards.
            if notification.is_none() || received.is_multiple_of(64) {
                let _ = link_rx.ready();
            }
        }
    });
    std::thread::spawn(move || {
        // The broker runs until the process ends; a start-up failure is reported, not returned.
        if let Err(error) = broker.start() {
            eprintln!("the embedded broker stopped: {error}");
        }
    });
    std::thread::sleep(Duration::from_millis(500));

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    println!(
        "10,077 sensors (77 stations + 20 quartiers × 500), {secs} s per run, rumqttd 0.20 in process"
    );
    println!("| publisher | messages the broker forwarded | messages/s |");
    println!("|---|---|---|");
    for (qos, label) in [(QoS::AtMostOnce, "QoS 0"), (QoS::AtLeastOnce, "QoS 1")] {
        let before = forwarded.load(Ordering::Relaxed);
        let config = SimulateConfig {
            mqtt: MqttConfig {
                broker: format!("mqtt://127.0.0.1:{port}").parse().expect("url"),
                client_id: Some(format!("bench-{label}").replace(' ', "")),
                ..MqttConfig::default()
            },
            data_dir: data_dir.clone(),
            neighbourhoods: None,
            fleet: FleetConfig {
                speed: 60.0,
                rate_hz: 100.0,
                density: 500,
                seed: 1,
                faults: 0.0,
                rebase: true,
            },
            duration: Some(Duration::from_secs(secs)),
            qos,
            progress: false,
        };
        let summary = runtime
            .block_on(simulate::run(config, CancellationToken::new()))
            .expect("the run succeeds");
        // Let the last forwards reach the counter.
        std::thread::sleep(Duration::from_secs(2));
        let count = forwarded.load(Ordering::Relaxed) - before;
        println!(
            "| garonne simulate → embedded broker, {label} | {count} (of {} published) | {:.0} |",
            summary.published,
            count as f64 / summary.elapsed.as_secs_f64()
        );
    }
}

//! Publish-to-aggregate latency through a real mosquitto: readings go out from one publisher at
//! a steady rate from 10,000 sensors spread over the 60 grands quartiers; realtime (in process,
//! its own runtime) folds them and publishes aggregates; a subscriber receives the aggregates.
//! A reading's latency is the time from its publication to the arrival of the first aggregate of
//! its neighbourhood and window that counts it (MQTT keeps one publisher's order, so the k-th
//! reading of a neighbourhood is in the first aggregate whose `readings` reaches k).
//!
//! The emit cadence bounds the latency from below (a reading waits for the next emit), so it
//! runs once per cadence. Run: `cargo bench -p garonne-realtime --bench latency`
//! (mosquitto from Debian must be installed). Figures go in BENCHMARKS.md.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use garonne_neighbourhoods::{Neighbourhoods, Properties};
use garonne_payload::{
    Location, NeighbourhoodAggregate, Quantity, Reading, Source, Timestamp, Topics,
};
use garonne_realtime::Config;
use garonne_service::config::MqttConfig;
use garonne_testkit::Mosquitto;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use tokio_util::sync::CancellationToken;

const SENSORS: usize = 10_000;
const SECONDS: u64 = 10;

fn main() {
    let Ok(broker) = Mosquitto::start() else {
        eprintln!("mosquitto is not installed: apt-get install mosquitto");
        std::process::exit(1);
    };
    let path = garonne_testkit::open_data_file("grands-quartiers-2015-population.geojson");
    let areas = Neighbourhoods::load(path, &Properties::detect()).expect("grands quartiers");
    println!(
        "| emit cadence | offered readings/s | readings | p50 | p99 | max |\n|---|---|---|---|---|---|"
    );
    for (emit_ms, rate) in [(100, 1_000), (100, 10_000), (1000, 10_000), (5000, 10_000)] {
        let r = run(&broker, &areas, emit_ms, rate);
        println!(
            "| {} ms | {rate} | {} | {:.0} ms | {:.0} ms | {:.0} ms |",
            emit_ms, r.0, r.1, r.2, r.3
        );
    }
}

/// One run; returns (readings matched, p50 ms, p99 ms, max ms).
fn run(
    broker: &Mosquitto,
    areas: &Neighbourhoods,
    emit_ms: u64,
    rate: u64,
) -> (usize, f64, f64, f64) {
    let prefix = format!("lat{emit_ms}x{rate}");
    let topics = Topics::new(&prefix).expect("prefix");
    let config = Config {
        mqtt: MqttConfig::parse(&broker.url(), &prefix, format!("{prefix}-realtime"))
            .expect("[mqtt]"),
        emit_every_ms: emit_ms,
        publish_rolling: false,
        snapshot: None,
        ..Config::default()
    };
    // Realtime on its own runtime and thread, as it would be in its own process.
    let shutdown = CancellationToken::new();
    let realtime = {
        let areas = areas.clone();
        let shutdown = shutdown.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Runtime::new().expect("runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind");
                garonne_realtime::serve(config, areas, listener, shutdown).await
            })
        })
    };

    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let latencies = rt.block_on(async {
        // Subscriber to the aggregates.
        let mut options = MqttOptions::new(format!("{prefix}-sub"), broker.host(), broker.port());
        options.set_max_packet_size(1 << 20, 1 << 20);
        let (sub, mut sub_loop) = AsyncClient::new(options, 100);
        sub.subscribe(
            format!("{prefix}/v1/neighbourhoods/+/aggregate"),
            QoS::AtLeastOnce,
        )
        .await
        .expect("subscribe");
        let (agg_tx, mut agg_rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok(event) = sub_loop.poll().await {
                if let Event::Incoming(Packet::Publish(p)) = event {
                    let _ = agg_tx.send((Instant::now(), p.payload));
                }
            }
        });
        // Give realtime and the subscriber a moment to subscribe (both are retried by MQTT).
        tokio::time::sleep(Duration::from_secs(1)).await;

        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let sensors: Vec<(String, usize, (f64, f64))> = (0..SENSORS)
            .map(|i| {
                let area = rng.random_range(0..areas.len());
                (
                    format!("lat-{i:05}"),
                    area,
                    areas.random_point_in(area, &mut rng),
                )
            })
            .collect();
        let (publisher, mut pub_loop) = AsyncClient::new(
            MqttOptions::new(format!("{prefix}-pub"), broker.host(), broker.port()),
            10_000,
        );
        tokio::spawn(async move { while pub_loop.poll().await.is_ok() {} });

        // (area id, window start) -> publication instants of its readings, in order.
        let mut sent: HashMap<(String, Timestamp), Vec<Instant>> = HashMap::new();
        let interval = Duration::from_secs_f64(1.0 / rate as f64);
        let start = Instant::now();
        let total = rate * SECONDS;
        for k in 0..total {
            let due = start + interval.mul_f64(k as f64);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                tokio::time::sleep(wait).await;
            }
            let (id, area, (lon, lat)) = &sensors[(k as usize) % SENSORS];
            let now = Timestamp::from_system_time(std::time::SystemTime::now());
            let mut r = Reading::new(
                id.clone(),
                "bme280",
                Source::RaspberryPi,
                now,
                k,
                Location::new(*lon, *lat),
            );
            r.quantities.set(Quantity::Temperature, 12.0);
            let window = now.unix_secs() - now.unix_secs().rem_euclid(900);
            let key = (
                areas.get(*area).expect("area").id().to_owned(),
                Timestamp::new(window, 0).expect("time"),
            );
            sent.entry(key).or_default().push(Instant::now());
            publisher
                .publish(topics.reading(id), QoS::AtLeastOnce, false, r.to_json())
                .await
                .expect("publish");
        }
        // Collect aggregates until every neighbourhood-window has counted all its readings.
        let mut latencies = Vec::new();
        let mut counted: HashMap<(String, Timestamp), usize> = HashMap::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        let expected: usize = sent.values().map(Vec::len).sum();
        while latencies.len() < expected && Instant::now() < deadline {
            let Ok(Some((at, payload))) =
                tokio::time::timeout(Duration::from_secs(1), agg_rx.recv()).await
            else {
                continue;
            };
            let Ok(a) = serde_json::from_slice::<NeighbourhoodAggregate>(&payload) else {
                continue;
            };
            let key = (a.neighbourhood_id, a.window_start);
            let readings = a
                .quantities
                .get(&Quantity::Temperature)
                .map_or(0, |s| s.readings) as usize;
            let Some(times) = sent.get(&key) else {
                continue;
            };
            let done = counted.entry(key).or_default();
            while *done < readings.min(times.len()) {
                latencies.push(at.duration_since(times[*done]).as_secs_f64() * 1000.0);
                *done += 1;
            }
        }
        latencies
    });
    shutdown.cancel();
    let _ = realtime.join();
    let mut l = latencies;
    l.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        l.get(((l.len() as f64 * p) as usize).min(l.len().saturating_sub(1)))
            .copied()
            .unwrap_or(f64::NAN)
    };
    (
        l.len(),
        pct(0.5),
        pct(0.99),
        l.last().copied().unwrap_or(f64::NAN),
    )
}

//! `garonne simulate` against a real mosquitto, on the real Toulouse open-data files: every
//! catalogue station publishes, every payload validates, every sensor is where it should be, and
//! nothing published is lost on the way.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

mod common;

use garonne_neighbourhoods::{Neighbourhoods, Properties};
use garonne_opendata::load_catalogue;
use garonne_payload::{Limits, Reading, SensorState, Status, Timestamp, parse_reading};
use garonne_simulator::fleet::FleetConfig;
use garonne_simulator::simulate::{self, SimulateConfig};
use garonne_testkit::{Mosquitto, Subscriber};
use tokio_util::sync::CancellationToken;

fn shared_data() -> PathBuf {
    garonne_testkit::open_data_dir()
}

/// The simulator on `broker`, under `prefix`, with the test open data: `fleet` for `secs`.
fn config(broker: &Mosquitto, prefix: &str, fleet: FleetConfig, secs: u64) -> SimulateConfig {
    common::config(broker, prefix, shared_data(), fleet, secs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_catalogue_station_publishes_valid_readings_where_it_stands() {
    let Some(broker) = Mosquitto::start_or_skip() else {
        return;
    };
    let prefix = "sim-e2e";
    let sensors = format!("{prefix}/v1/sensors/#");
    let mut sub = Subscriber::start(&broker, &format!("{prefix}-sub"), &[&sensors]).await;

    let fleet = FleetConfig {
        speed: 3600.0,
        rate_hz: 2.0,
        density: 1,
        seed: 42,
        ..FleetConfig::default()
    };
    let config = config(&broker, prefix, fleet, 3);
    let summary = tokio::time::timeout(
        Duration::from_secs(60),
        simulate::run(config, CancellationToken::new()),
    )
    .await
    .expect("the run ends after its duration")
    .expect("the run succeeds");
    assert!(summary.delivered, "the broker acknowledged everything");
    assert_eq!(summary.fleet.faults, [0; 5]);

    // Everything the simulator published reaches a subscriber: readings, plus an online and an
    // offline status per sensor and for the simulator itself.
    let expected = summary.published as usize + 2 * (summary.sensors + 1);
    let messages = sub
        .wait_for("every message", Duration::from_secs(20), |m| {
            m.len() >= expected
        })
        .await;
    let messages = &messages[..expected];

    let now = Timestamp::new(i64::MAX / 4, 0).expect("far future");
    let mut readings: BTreeMap<String, Vec<Reading>> = BTreeMap::new();
    let mut statuses: BTreeMap<String, Vec<SensorState>> = BTreeMap::new();
    for message in messages {
        let (topic, payload) = (&message.topic, &message.payload);
        if topic.ends_with("/reading") {
            let reading = parse_reading(payload, now, &Limits::default())
                .unwrap_or_else(|e| panic!("{topic}: {e}: {}", String::from_utf8_lossy(payload)));
            assert_eq!(
                topic,
                &format!("{prefix}/v1/sensors/{}/reading", reading.sensor_id)
            );
            readings
                .entry(reading.sensor_id.clone())
                .or_default()
                .push(reading);
        } else {
            let status: Status = serde_json::from_slice(payload).expect("status JSON");
            statuses
                .entry(status.sensor_id)
                .or_default()
                .push(status.state);
        }
    }

    // Every one of the 77 catalogue stations published, at its catalogue location.
    let catalogue =
        load_catalogue(&shared_data().join("stations-meteo-en-place.json")).expect("catalogue");
    assert_eq!(catalogue.len(), 77);
    for station in &catalogue {
        let got = readings
            .get(&station.id)
            .unwrap_or_else(|| panic!("{} published nothing", station.id));
        for r in got {
            assert_eq!(
                (r.location.lon, r.location.lat, r.location.alt),
                (station.lon, station.lat, station.alt),
                "{}",
                station.id
            );
            assert_eq!(r.kind, station.kind.payload_kind());
        }
    }
    // One virtual sensor in each of the 20 quartiers, located inside its own quartier.
    let quartiers = Neighbourhoods::load(
        shared_data().join("quartiers-de-democratie-locale.geojson"),
        &Properties::detect(),
    )
    .expect("quartiers");
    let virtual_ids: BTreeSet<&String> = readings
        .keys()
        .filter(|id| id.starts_with("virtual-"))
        .collect();
    assert_eq!(virtual_ids.len(), 20, "{virtual_ids:?}");
    for id in virtual_ids {
        let quartier = id.trim_start_matches("virtual-").trim_end_matches("-000");
        let r = &readings[id][0];
        let at = quartiers
            .locate(r.location.lon, r.location.lat)
            .expect("inside a quartier");
        assert_eq!(quartiers[at].id(), quartier, "{id}");
    }
    // No loss and no reordering per sensor: sequence numbers count 0, 1, 2...
    for (id, rs) in &readings {
        let seqs: Vec<u64> = rs.iter().map(|r| r.seq).collect();
        assert_eq!(seqs, (0..seqs.len() as u64).collect::<Vec<_>>(), "{id}");
    }
    // Each sensor went online, then offline.
    assert_eq!(statuses.len(), summary.sensors + 1);
    assert!(
        statuses
            .values()
            .all(|s| s == &[SensorState::Online, SensorState::Offline])
    );
    assert_eq!(summary.sensors, 77 + 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_restart_loses_nothing_and_the_fleet_keeps_its_place() {
    let Some(mut broker) = Mosquitto::start_or_skip() else {
        return;
    };
    let prefix = "sim-restart";
    let readings = format!("{prefix}/v1/sensors/+/reading");
    let mut sub =
        Subscriber::start(&broker, &format!("{prefix}-persistent-sub"), &[&readings]).await;
    let fleet = FleetConfig {
        speed: 600.0,
        rate_hz: 5.0,
        ..FleetConfig::default()
    };
    let config = config(&broker, prefix, fleet, 6);
    let run = tokio::spawn(simulate::run(config, CancellationToken::new()));

    // Two seconds in, the broker goes away for a second and a half, then comes back on the same
    // port with its persisted sessions.
    tokio::time::sleep(Duration::from_secs(2)).await;
    tokio::task::block_in_place(|| broker.stop()).expect("broker stops");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    tokio::task::block_in_place(|| broker.restart()).expect("broker restarts");

    let summary = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("the run ends")
        .expect("the task completes")
        .expect("the run succeeds");
    assert!(summary.connection_errors > 0, "the outage was seen");
    assert!(
        summary.delivered,
        "every message was acknowledged in the end"
    );

    // Every reading arrives at least once (QoS 1 may repeat one), and per sensor the sequence
    // numbers have no gap: the fleet kept its place through the outage.
    let now = Timestamp::new(i64::MAX / 4, 0).expect("far future");
    let mut seen: BTreeMap<String, BTreeSet<u64>> = BTreeMap::new();
    let mut distinct = 0u64;
    let mut parsed = 0;
    let arrived = sub
        .try_wait_for(Duration::from_secs(30), |messages| {
            for message in &messages[parsed..] {
                let reading = parse_reading(&message.payload, now, &Limits::default())
                    .expect("valid reading");
                if seen
                    .entry(reading.sensor_id)
                    .or_default()
                    .insert(reading.seq)
                {
                    distinct += 1;
                }
            }
            parsed = messages.len();
            distinct >= summary.published
        })
        .await;
    assert!(
        arrived,
        "every published reading arrived: {distinct} of {}",
        summary.published
    );
    for (id, seqs) in &seen {
        let expected: BTreeSet<u64> = (0..seqs.len() as u64).collect();
        assert_eq!(seqs, &expected, "{id}: no gap in the sequence");
    }
}

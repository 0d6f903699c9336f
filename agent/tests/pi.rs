//! `garonne pi --fake-hardware` against a real mosquitto: the same `run` as the command line,
//! on the fake Pi's simulated buses. Readings are valid and arrive in order through a broker
//! outage and an agent restart, each module's life cycle shows on the retained status topic, a
//! module that is not there fails without stopping the others, and shutdown leaves the sensor
//! offline with its modules removed.

use std::path::Path;
use std::time::Duration;

use garonne_agent::{Hardware, ModuleConfig, PiConfig, PiError, SiteLocation};
use garonne_payload::{
    Limits, ModuleState, ModuleStatus, Quantity, Reading, SensorState, Status, Timestamp,
    parse_reading,
};
use garonne_testkit::{Message, Mosquitto, Task};
use tokio_util::sync::CancellationToken;

const DEVICE: &str = "28-00000a1b2c3d";

/// Every module type, as the fake Pi has them; the DS18B20 gives the temperature.
fn all_modules() -> Vec<ModuleConfig> {
    vec![
        ModuleConfig::Bme280 {
            i2c_bus: 1,
            address: 0x76,
            quantities: Some(vec![
                "relativeHumidity".to_owned(),
                "atmosphericPressure".to_owned(),
            ]),
        },
        ModuleConfig::Bh1750 {
            i2c_bus: 1,
            address: 0x23,
        },
        ModuleConfig::Pir { gpio: 17 },
        ModuleConfig::Ds18b20 {
            device: DEVICE.to_owned(),
            w1_devices_dir: "/sys/bus/w1/devices".into(),
        },
    ]
}

fn config(sensor_id: &str, broker: &str, queue_dir: &Path, modules: Vec<ModuleConfig>) -> PiConfig {
    PiConfig {
        sensor_id: sensor_id.to_owned(),
        broker: broker.parse().expect("broker URL"),
        ca_file: None,
        // A prefix per test: tests share nothing on the broker.
        topic_prefix: format!("t-{sensor_id}"),
        location: SiteLocation {
            lon: 1.4442,
            lat: 43.6047,
            alt: Some(146.0),
        },
        interval_secs: 0.2,
        queue_dir: queue_dir.to_owned(),
        queue_max_bytes: 1 << 20,
        modules,
        can: None,
        credentials: None,
    }
}

/// What a subscriber received, in order.
#[derive(Default)]
struct Received {
    readings: Vec<Reading>,
    statuses: Vec<Status>,
}

/// A subscriber to one sensor's topics (testkit's, with a persistent session so that it gets,
/// after the broker restarts, what was published while it was reconnecting), with what it
/// received parsed.
struct Subscriber {
    sub: garonne_testkit::Subscriber,
    received: Received,
    parsed: usize,
}

impl Subscriber {
    async fn start(broker: &Mosquitto, prefix: &str, sensor_id: &str) -> Subscriber {
        let filter = format!("{prefix}/v1/sensors/{sensor_id}/#");
        Subscriber {
            sub: garonne_testkit::Subscriber::start(broker, &format!("{prefix}-sub"), &[&filter])
                .await,
            received: Received::default(),
            parsed: 0,
        }
    }

    /// Parses the messages not parsed yet.
    fn parse(received: &mut Received, parsed: &mut usize, messages: &[Message]) {
        for m in &messages[*parsed..] {
            if m.topic.ends_with("/reading") {
                let now = Timestamp::new(i64::MAX / 4, 0).expect("far future");
                let reading = parse_reading(&m.payload, now, &Limits::default())
                    .unwrap_or_else(|e| panic!("{e}: {}", m.text()));
                received.readings.push(reading);
            } else if m.topic.ends_with("/status") {
                received
                    .statuses
                    .push(serde_json::from_slice(&m.payload).expect("status JSON"));
            }
        }
        *parsed = messages.len();
    }

    /// What has arrived so far.
    fn received(&mut self) -> &Received {
        let messages = self.sub.collect();
        Subscriber::parse(&mut self.received, &mut self.parsed, messages);
        &self.received
    }

    /// Waits until `done` holds for what was received, at most `timeout`.
    /// Waits until the last status says the sensor is offline.
    async fn wait_offline(&mut self, what: &str) {
        self.wait_for(what, Duration::from_secs(10), |r| {
            r.statuses
                .last()
                .is_some_and(|s| s.state == SensorState::Offline)
        })
        .await;
    }

    async fn wait_for(&mut self, what: &str, timeout: Duration, done: impl Fn(&Received) -> bool) {
        let Subscriber {
            sub,
            received,
            parsed,
        } = self;
        let arrived = sub
            .try_wait_for(timeout, |messages| {
                Subscriber::parse(received, parsed, messages);
                done(received)
            })
            .await;
        if !arrived {
            let r = &self.received;
            panic!(
                "timed out waiting for {what}: {} readings (seqs {:?}), statuses {:#?}",
                r.readings.len(),
                r.readings.iter().map(|r| r.seq).collect::<Vec<_>>(),
                r.statuses
            );
        }
    }

    fn seqs(&mut self) -> Vec<u64> {
        self.received().readings.iter().map(|r| r.seq).collect()
    }

    fn statuses(&mut self) -> Vec<Status> {
        self.received().statuses.clone()
    }
}

fn module<'a>(status: &'a Status, name: &str) -> &'a ModuleStatus {
    status
        .modules
        .iter()
        .find(|m| m.name == name)
        .unwrap_or_else(|| panic!("no module {name} in {status:?}"))
}

fn all_in(status: &Status, state: ModuleState) -> bool {
    !status.modules.is_empty() && status.modules.iter().all(|m| m.state == state)
}

fn queued_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
                .count()
        })
        .unwrap_or(0)
}

/// Received in order, without gap, from `first`: each reading is the next one or a repeat of
/// one already received (QoS 1 is "at least once").
fn assert_in_order_without_gap(seqs: &[u64], first: u64) -> u64 {
    let mut next = first;
    for &seq in seqs {
        assert!(
            seq <= next,
            "seq {seq} arrived when {next} was expected: {seqs:?}"
        );
        if seq == next {
            next += 1;
        }
    }
    next
}

async fn wait_until(what: &str, timeout: Duration, done: impl Fn() -> bool) {
    let waited = tokio::time::timeout(timeout, async {
        while !done() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "timed out waiting for {what}");
}

/// `garonne_agent::run` in a task, on the fake Pi with `seed`; [`Task::stop`] checks it stops
/// within 20 s, cleanly.
fn start_agent(config: PiConfig, seed: u64) -> Task<(), PiError> {
    Task::spawn("the agent", |shutdown| {
        garonne_agent::run(config, Hardware::Fake { seed }, shutdown)
    })
}

/// An agent `sensor_id` with `modules` and its queue in a temporary folder, on `broker`, with a
/// subscriber to its topics that started first.
async fn start_with_subscriber(
    broker: &Mosquitto,
    sensor_id: &str,
    modules: Vec<ModuleConfig>,
    seed: u64,
) -> (tempfile::TempDir, Subscriber, Task<(), PiError>) {
    let queue = tempfile::tempdir().expect("temp dir");
    let config = config(sensor_id, &broker.url(), queue.path(), modules);
    let sub = Subscriber::start(broker, &config.topic_prefix, &config.sensor_id).await;
    (queue, sub, start_agent(config, seed))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readings_go_out_valid_survive_a_broker_outage_in_order_and_end_offline() {
    let Some(mut broker) = Mosquitto::start_or_skip() else {
        return;
    };
    let (queue, mut sub, agent) = start_with_subscriber(&broker, "pi-e2e", all_modules(), 7).await;

    // The life cycle: every module probed, tested, running, each step on the status topic.
    sub.wait_for("every module running", Duration::from_secs(20), |r| {
        r.statuses
            .iter()
            .any(|s| s.state == SensorState::Online && all_in(s, ModuleState::Running))
    })
    .await;
    let statuses = sub.statuses();
    for name in ["bme280", "bh1750", "pir", "ds18b20"] {
        let steps: Vec<ModuleState> = statuses.iter().map(|s| module(s, name).state).collect();
        let mut distinct = steps.clone();
        distinct.dedup();
        assert_eq!(
            distinct,
            [
                ModuleState::Probing,
                ModuleState::SampleTest,
                ModuleState::Running
            ],
            "{name}"
        );
    }
    let running = statuses.last().expect("a status");
    assert_eq!(running.kind, "raspberry-pi");
    assert_eq!(
        module(running, "bme280").quantities,
        [Quantity::RelativeHumidity, Quantity::AtmosphericPressure]
    );

    // Valid readings with every module's values.
    sub.wait_for("5 readings", Duration::from_secs(10), |r| {
        r.readings.len() >= 5
    })
    .await;
    {
        let r = sub.received();
        for reading in &r.readings {
            assert_eq!(reading.source.as_str(), "raspberry-pi");
            assert_eq!(reading.kind, "raspberry-pi");
            assert_eq!(reading.location.alt, Some(146.0));
            let names: Vec<&str> = reading.quantities.iter().map(|(q, _)| q.name()).collect();
            assert_eq!(
                names,
                [
                    "temperature",
                    "relativeHumidity",
                    "atmosphericPressure",
                    "illuminance",
                    "motion"
                ]
            );
        }
        let temperatures: Vec<f64> = r
            .readings
            .iter()
            .filter_map(|r| r.quantities.get(Quantity::Temperature))
            .collect();
        assert!(
            temperatures.windows(2).any(|w| w[0] != w[1]) || temperatures.len() < 2,
            "values drift: {temperatures:?}"
        );
    }

    // The broker goes away: readings queue on disk.
    tokio::task::block_in_place(|| broker.stop()).expect("broker stops");
    let queue_dir = queue.path().to_owned();
    wait_until("4 readings queued on disk", Duration::from_secs(10), || {
        queued_files(&queue_dir) >= 4
    })
    .await;
    let received_before = sub.seqs().len();
    tokio::task::block_in_place(|| broker.restart()).expect("broker restarts");

    // Back: the backlog goes out, then the new readings, with nothing lost.
    let highest_queued = {
        let r = sub.seqs();
        r.iter().copied().max().unwrap_or(0) + 4
    };
    sub.wait_for(
        "the backlog and new readings",
        Duration::from_secs(30),
        |r| r.readings.iter().any(|r| r.seq >= highest_queued + 5),
    )
    .await;
    assert!(sub.seqs().len() > received_before);

    agent.stop().await;

    sub.wait_offline("the offline status").await;
    let offline = sub.statuses().last().cloned().expect("a status");
    assert!(all_in(&offline, ModuleState::Removed), "{offline:?}");

    // Every reading taken arrived, in order, with contiguous seqs; the queue is empty.
    let seqs = sub.seqs();
    let next = assert_in_order_without_gap(&seqs, 0);
    assert!(next > highest_queued + 5, "{seqs:?}");
    assert_eq!(queued_files(queue.path()), 0, "everything was acknowledged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_module_that_is_not_there_fails_with_a_fix_and_the_others_run() {
    let Some(broker) = Mosquitto::start_or_skip() else {
        return;
    };
    let modules = vec![
        // The fake Pi's BME280 is at 0x76: nothing answers at 0x77.
        ModuleConfig::Bme280 {
            i2c_bus: 1,
            address: 0x77,
            quantities: None,
        },
        ModuleConfig::Bh1750 {
            i2c_bus: 1,
            address: 0x23,
        },
        ModuleConfig::Pir { gpio: 17 },
    ];
    let (_queue, mut sub, agent) = start_with_subscriber(&broker, "pi-failing", modules, 1).await;

    sub.wait_for("the life cycle done", Duration::from_secs(20), |r| {
        r.statuses.iter().any(|s| {
            s.modules
                .iter()
                .all(|m| matches!(m.state, ModuleState::Running | ModuleState::Failed))
        })
    })
    .await;
    sub.wait_for("3 readings", Duration::from_secs(10), |r| {
        r.readings.len() >= 3
    })
    .await;
    let done = sub.statuses().last().cloned().expect("a status");
    let bme = module(&done, "bme280");
    assert_eq!(bme.state, ModuleState::Failed);
    let detail = bme.detail.as_deref().unwrap_or_default();
    assert!(
        detail.starts_with("no BME280 at 0x77 on /dev/i2c-1: check the wiring")
            && detail.contains("I2C is enabled (raspi-config)"),
        "{detail}"
    );
    assert_eq!(module(&done, "bh1750").state, ModuleState::Running);
    assert_eq!(module(&done, "pir").state, ModuleState::Running);
    for reading in &sub.received().readings {
        let quantities: Vec<Quantity> = reading.quantities.iter().map(|(q, _)| q).collect();
        assert_eq!(quantities, [Quantity::Illuminance, Quantity::Motion]);
    }

    agent.stop().await;
    sub.wait_offline("the offline status").await;
    let offline = sub.statuses().last().cloned().expect("a status");
    assert_eq!(module(&offline, "bme280").state, ModuleState::Failed);
    assert_eq!(module(&offline, "bh1750").state, ModuleState::Removed);
    assert_eq!(module(&offline, "pir").state, ModuleState::Removed);
}

/// A `command` module: a program the agent has no driver for prints its values; a program that
/// prints nonsense fails its sample test with what it printed, and the others run on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_program_module_joins_the_readings_and_a_bad_one_fails_with_what_it_printed() {
    let Some(broker) = Mosquitto::start_or_skip() else {
        return;
    };
    let sh = |script: &str| vec!["sh".to_owned(), "-c".to_owned(), script.to_owned()];
    let modules = vec![
        ModuleConfig::Command {
            program: sh(r#"echo '{"co2": 612, "pm25": 8.5}'"#),
            quantities: vec!["co2".to_owned(), "pm25".to_owned()],
            timeout_secs: 5.0,
        },
        ModuleConfig::Command {
            program: sh("echo 'sensor not found'"),
            quantities: vec!["no2".to_owned()],
            timeout_secs: 5.0,
        },
        ModuleConfig::Bh1750 {
            i2c_bus: 1,
            address: 0x23,
        },
    ];
    let (_queue, mut sub, agent) = start_with_subscriber(&broker, "pi-program", modules, 1).await;
    sub.wait_for("3 readings", Duration::from_secs(20), |r| {
        r.readings.len() >= 3
    })
    .await;
    let co2 = Quantity::from_name("co2").expect("a built-in quantity");
    let pm25 = Quantity::from_name("pm25").expect("a built-in quantity");
    for reading in &sub.received().readings {
        let values: Vec<(Quantity, f64)> = reading.quantities.iter().collect();
        assert_eq!(values.len(), 3, "{values:?}");
        assert!(
            values.contains(&(co2, 612.0)) && values.contains(&(pm25, 8.5)),
            "{values:?}"
        );
    }
    let status = sub.statuses().last().cloned().expect("a status");
    let names: Vec<&str> = status.modules.iter().map(|m| m.name.as_str()).collect();
    let bad = status
        .modules
        .iter()
        .find(|m| m.quantities.iter().any(|q| q.name() == "no2"));
    let bad = bad.unwrap_or_else(|| panic!("the no2 program's module in {names:?}"));
    assert_eq!(bad.state, ModuleState::Failed);
    let detail = bad.detail.as_deref().unwrap_or_default();
    assert!(
        detail.contains("printed `sensor not found`, not a JSON object"),
        "{detail}"
    );
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_module_left_ends_with_a_clear_error_after_reporting_it() {
    let Some(broker) = Mosquitto::start_or_skip() else {
        return;
    };
    let queue = tempfile::tempdir().expect("temp dir");
    let modules = vec![ModuleConfig::Bme280 {
        i2c_bus: 1,
        address: 0x77,
        quantities: None,
    }];
    let config = config("pi-nothing", &broker.url(), queue.path(), modules);
    let mut sub = Subscriber::start(&broker, &config.topic_prefix, &config.sensor_id).await;
    let result = tokio::time::timeout(
        Duration::from_secs(20),
        garonne_agent::run(config, Hardware::Fake { seed: 1 }, CancellationToken::new()),
    )
    .await
    .expect("the agent stops by itself");
    let error = result.expect_err("no module works");
    assert!(matches!(error, PiError::NoModules { .. }), "{error:?}");
    let message = error.to_string();
    assert!(
        message.starts_with("no module of sensor pi-nothing works")
            && message.contains("bme280: no BME280 at 0x77 on /dev/i2c-1"),
        "{message}"
    );
    // The failure was reported on the status topic before the agent went offline.
    sub.wait_offline("the offline status").await;
    let statuses = sub.statuses();
    assert!(
        statuses
            .iter()
            .any(|s| s.state == SensorState::Online && all_in(s, ModuleState::Failed)),
        "{statuses:?}"
    );
    let last = statuses.last().expect("a status");
    assert!(
        module(last, "bme280")
            .detail
            .as_deref()
            .is_some_and(|d| d.starts_with("no BME280 at 0x77"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readings_queued_while_the_broker_is_away_go_out_after_an_agent_restart() {
    let Some(broker) = Mosquitto::start_or_skip() else {
        return;
    };
    let queue = tempfile::tempdir().expect("temp dir");
    let nowhere = format!(
        "mqtt://127.0.0.1:{}",
        garonne_testkit::free_port().expect("free port")
    );

    // First run: no broker; the readings queue on disk, and stay there after shutdown.
    let first = config("pi-restart", &nowhere, queue.path(), all_modules());
    let prefix = first.topic_prefix.clone();
    let agent = start_agent(first, 3);
    let queue_dir = queue.path().to_owned();
    wait_until("5 readings queued on disk", Duration::from_secs(20), || {
        queued_files(&queue_dir) >= 5
    })
    .await;
    agent.stop().await;
    let queued = queued_files(queue.path()) as u64;
    assert!(queued >= 5);

    // Second run, broker up: the queued readings go out first, then new ones, seq continuing.
    let second = config("pi-restart", &broker.url(), queue.path(), all_modules());
    let mut sub = Subscriber::start(&broker, &prefix, &second.sensor_id).await;
    let agent = start_agent(second, 3);
    sub.wait_for(
        "the queued readings and 3 new ones",
        Duration::from_secs(20),
        |r| r.readings.iter().any(|r| r.seq >= queued + 3),
    )
    .await;
    agent.stop().await;
    let seqs = sub.seqs();
    assert_eq!(&seqs[..queued as usize], (0..queued).collect::<Vec<_>>());
    assert_in_order_without_gap(&seqs, 0);
    assert_eq!(queued_files(queue.path()), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_that_vanishes_is_announced_offline_by_its_last_will() {
    let Some(broker) = Mosquitto::start_or_skip() else {
        return;
    };
    let (_queue, mut sub, agent) =
        start_with_subscriber(&broker, "pi-will", all_modules(), 2).await;
    sub.wait_for("a reading", Duration::from_secs(20), |r| {
        !r.readings.is_empty()
    })
    .await;
    // No shutdown: the task is dropped, as when the process dies.
    agent.abort();
    sub.wait_offline("the last will").await;
    let will = sub.statuses().last().cloned().expect("a status");
    assert_eq!(will.kind, "raspberry-pi");
    assert!(will.modules.is_empty(), "{will:?}");
    assert_eq!(will.location.map(|l| l.lat), Some(43.6047));
}

/// Without the `rpi` feature, real hardware is refused before anything starts, with the fix.
#[cfg(not(feature = "rpi"))]
#[tokio::test]
async fn real_hardware_needs_the_rpi_feature() {
    let queue = tempfile::tempdir().expect("temp dir");
    let config = config("pi-real", "mqtt://127.0.0.1:9", queue.path(), all_modules());
    let error = tokio::time::timeout(
        Duration::from_secs(5),
        garonne_agent::run(config, Hardware::Real, CancellationToken::new()),
    )
    .await
    .expect("refused at once")
    .expect_err("no rpi feature");
    assert!(matches!(error, PiError::NoRealHardware), "{error:?}");
    assert!(error.to_string().contains("--features rpi"), "{error}");
}

//! The `[can]` source loses nothing at shutdown (issue 16): what the agent read from the car (a
//! `candump` log the test writes, through a DBC the test writes) before its shutdown token was
//! cancelled (Ctrl-C, SIGTERM) is on the disk queue when `run` returns, and reaches the broker
//! after a restart: the frames a stage still held (the pending pack, the channels between the
//! stages) are passed on and written, not dropped.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use garonne_agent::can::candump::CandumpLog;
use garonne_agent::can::dbc::CanDb;
use garonne_agent::can::profile::channels;
use garonne_agent::{CanConfig, Hardware, PiConfig, PiError, SiteLocation};
use garonne_payload::{Limits, Reading, Timestamp, parse_senml};
use garonne_testkit::{Mosquitto, Task};

/// An engine message of two signals; `{P}` makes the names (hence the quantities) of one test,
/// so that the profiles the tests make do not clash in the process's catalogue.
const DBC: &str = r#"VERSION ""

NS_ :

BS_:

BU_: ECU

BO_ 256 Engine: 8 ECU
 SG_ {P}EngineSpeed : 0|16@1+ (0.25,0) [0|16383.75] "rpm" Vector__XXX
 SG_ {P}CoolantTemp : 16|8@1+ (1,-40) [-40|215] "degC" Vector__XXX
"#;

/// One sample: (time in ns, quantity) and the value's bits.
type Samples = BTreeMap<(i128, String), u64>;

/// A log of `frames` engine frames at 100 Hz, starting a minute ago, and each frame's samples
/// as the DBC decodes them, in the log's order.
fn log(dbc: &str, frames: u64) -> (String, Vec<Samples>) {
    let now_us = (Timestamp::now().unix_nanos() / 1000) as u64;
    let start_us = (now_us - 60_000_000) / 10_000 * 10_000;
    let at = |us: u64| format!("({}.{:06})", us / 1_000_000, us % 1_000_000);
    let text: String = (0..frames)
        .map(|i| {
            let rpm = (2000 + i % 4000) * 4;
            format!(
                "{} can0 100#{:02X}{:02X}{:02X}0000000000\n",
                at(start_us + i * 10_000),
                rpm & 0xFF,
                rpm >> 8,
                60 + i % 50,
            )
        })
        .collect();
    let db = CanDb::parse(dbc).expect("valid DBC");
    let channels = channels(&db).expect("valid");
    let samples = CandumpLog::parse(&text)
        .frames
        .iter()
        .map(|frame| {
            let values = db.decode(frame.id, &frame.data).expect("the engine");
            values
                .into_iter()
                .map(|(signal, value)| {
                    let channel = channels
                        .iter()
                        .find(|c| c.signal == signal.name)
                        .expect("a channel per signal");
                    let key = (frame.time.unix_nanos(), channel.quantity.clone());
                    (key, value.to_bits())
                })
                .collect()
        })
        .collect();
    (text, samples)
}

/// A Pi that only logs the car `sensor_id`, replaying `log_file` (a DBC and a log written in
/// `dir`) at `log_speed`, packs cut by `pack_max_values` and `pack_max_span_ms`.
struct Car {
    sensor_id: &'static str,
    profile: &'static str,
    log_speed: f64,
    pack_max_values: usize,
    pack_max_span_ms: u64,
}

impl Car {
    fn config(&self, broker: &str, dir: &Path, log_file: &Path) -> PiConfig {
        PiConfig {
            sensor_id: self.sensor_id.to_owned(),
            broker: broker.parse().expect("broker URL"),
            ca_file: None,
            topic_prefix: format!("t-{}", self.sensor_id),
            location: SiteLocation {
                lon: 1.4442,
                lat: 43.6047,
                alt: None,
            },
            interval_secs: 60.0,
            queue_dir: dir.join("queue"),
            queue_max_bytes: 1 << 26,
            modules: Vec::new(),
            can: Some(CanConfig {
                interfaces: Vec::new(),
                log_file: Some(log_file.to_owned()),
                log_speed: self.log_speed,
                dbc: dir.join("car.dbc"),
                sensor_id: None,
                profile: Some(self.profile.to_owned()),
                pack_max_values: self.pack_max_values,
                pack_max_span_ms: self.pack_max_span_ms,
            }),
            credentials: None,
        }
    }
}

/// `garonne_agent::run` in a task, as `garonne pi` runs it; [`Task::stop`] cancels its shutdown
/// token as Ctrl-C or SIGTERM does, and checks it returns `Ok` within 20 s.
fn start_agent(config: PiConfig) -> Task<(), PiError> {
    Task::spawn("the agent", |shutdown| {
        garonne_agent::run(config, Hardware::Real, shutdown)
    })
}

/// The samples of SenML packs, each counted once (QoS 1 may deliver a pack twice).
fn samples_of<'a>(packs: impl IntoIterator<Item = &'a [u8]>) -> Samples {
    let mut samples = Samples::new();
    for pack in packs {
        let readings: Vec<Reading> = parse_senml(pack, Timestamp::now(), &Limits::default())
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(pack)));
        for reading in readings {
            for (quantity, value) in reading.quantities.iter() {
                let key = (reading.time.unix_nanos(), quantity.name().to_owned());
                samples.insert(key, value.to_bits());
            }
        }
    }
    samples
}

/// The packs in the queue folder `dir`.
fn queued_packs(dir: &Path) -> Vec<Vec<u8>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "senml"))
        .map(|e| std::fs::read(e.path()).expect("a queued pack"))
        .collect()
}

/// How many of the log's first frames `got` holds whole, after checking that it holds those
/// and nothing else: a source reads frames in order, so what it read is a prefix of the log.
fn whole_prefix(log: &[Samples], got: &Samples) -> usize {
    let read = log
        .iter()
        .take_while(|frame| frame.iter().all(|(k, v)| got.get(k) == Some(v)))
        .count();
    let prefix: Samples = log[..read]
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    assert_eq!(
        got.len(),
        prefix.len(),
        "samples beyond the first {read} frames: a frame read was lost, or a value changed"
    );
    read
}

/// Writes the DBC of `tag` and a log of `frames` in `dir`; returns the log's path and samples.
fn write_car(dir: &Path, tag: &str, frames: u64) -> (std::path::PathBuf, Vec<Samples>) {
    let dbc = DBC.replace("{P}", tag);
    std::fs::write(dir.join("car.dbc"), &dbc).expect("DBC written");
    let (text, samples) = log(&dbc, frames);
    let log_file = dir.join("run.log");
    std::fs::write(&log_file, text).expect("log written");
    (log_file, samples)
}

/// Stopped in the middle of a log replayed at its own pace, the broker gone, while every value
/// read waits in the pending pack (up to 4000 values or 10 s): the agent saves them to its
/// queue before it returns, and the next start publishes them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_car_stopped_mid_log_saves_the_pending_pack_and_sends_it_after_a_restart() {
    let Some(mut broker) = Mosquitto::start_or_skip() else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    // Four seconds of the car: 400 frames, 800 values.
    let (log_file, log) = write_car(dir.path(), "Pend", 400);
    let car = Car {
        sensor_id: "car-pending",
        profile: "test-car-pending",
        log_speed: 1.0,
        pack_max_values: 4000,
        pack_max_span_ms: 10_000,
    };
    let config = car.config(&broker.url(), dir.path(), &log_file);
    let (topic, queue) = (
        format!("{}/v1/sensors/{}/senml", config.topic_prefix, car.sensor_id),
        config.queue_dir.clone(),
    );

    // Two seconds into the log, about 200 frames read, none in a full pack yet, the broker
    // gone: the agent stops.
    let agent = start_agent(config);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    tokio::task::block_in_place(|| broker.stop()).expect("broker stops");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stopping = std::time::Instant::now();
    agent.stop().await;
    let on_disk = samples_of(queued_packs(&queue).iter().map(Vec::as_slice));
    let saved = whole_prefix(&log, &on_disk);
    println!(
        "stopped mid-log: {saved} frames, {} values saved; stopped in {:?}",
        on_disk.len(),
        stopping.elapsed()
    );
    assert!(
        (100..400).contains(&saved),
        "the frames of the first second at least, not the whole log: {saved} frames saved"
    );

    // The broker back, the next start (an empty log: the car is parked) sends them.
    tokio::task::block_in_place(|| broker.restart()).expect("broker restarts");
    let mut sub = garonne_testkit::Subscriber::start(&broker, "pending-sub", &[&topic]).await;
    let empty = dir.path().join("empty.log");
    std::fs::write(&empty, "").expect("log written");
    let agent = start_agent(car.config(&broker.url(), dir.path(), &empty));
    let want = on_disk.len();
    sub.wait_for("the saved samples", Duration::from_secs(20), |messages| {
        samples_of(messages.iter().map(|m| m.payload.as_slice())).len() >= want
    })
    .await;
    agent.stop().await;
    let received = samples_of(sub.received().iter().map(|m| m.payload.as_slice()));
    assert_eq!(received, on_disk, "every saved sample reached the broker");
    assert!(queued_packs(&queue).is_empty(), "the queue is empty");
}

/// Stopped right after a log is read as fast as the queue takes it, while the broker is down:
/// most frames are still in the channels between the stages (frame batches, packs), since every
/// pack is one fsynced file. All of them are on disk when the agent returns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_car_stopped_with_full_channels_and_no_broker_saves_every_frame_read() {
    let dir = tempfile::tempdir().expect("temp dir");
    let nowhere = format!(
        "mqtt://127.0.0.1:{}",
        garonne_testkit::free_port().expect("free port")
    );
    // 500 frames, one pack each: read in a few milliseconds, queued at the disk's pace.
    let (log_file, log) = write_car(dir.path(), "Full", 500);
    let car = Car {
        sensor_id: "car-full",
        profile: "test-car-full",
        log_speed: 0.0,
        pack_max_values: 1,
        pack_max_span_ms: 100,
    };
    let config = car.config(&nowhere, dir.path(), &log_file);
    let queue = config.queue_dir.clone();
    let agent = start_agent(config);
    // The source starts once the agent gave up waiting for the broker (5 s).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while queued_packs(&queue).is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for the first pack queued"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The log was read whole: the reader sends its frames in batches of 512, so these 500 went
    // to the decoder in one batch, at the end of the file. Most are still in the channels.
    let before = queued_packs(&queue).len();
    let stopping = std::time::Instant::now();
    agent.stop().await;
    let packs = queued_packs(&queue);
    let on_disk = samples_of(packs.iter().map(Vec::as_slice));
    println!(
        "full channels: {before} packs queued at the stop, {} after it; stopped in {:?}",
        packs.len(),
        stopping.elapsed()
    );
    assert_eq!(
        whole_prefix(&log, &on_disk),
        log.len(),
        "every frame of the log is on disk ({} packs)",
        packs.len()
    );
    assert_eq!(packs.len(), log.len(), "one pack per frame, each once");
}

//! `garonne simulate`: the async driver of the [`Fleet`]s. It loads the open data (the fleets
//! chosen, see [`crate::fleets`]), connects to the broker, publishes every sensor's status
//! (retained) and readings on schedule, shows a live one-line progress, and on shutdown or at
//! the end of the run marks the sensors offline, waits for the broker to have everything, and
//! returns a summary. Several fleets share the connection; each keeps its own clock (its data's
//! period, replayed from the start of the run), schedule and sequence numbers.
//!
//! Topics written: `{prefix}/v1/sensors/{id}/reading` and `.../status`; the connection's last
//! will marks the simulator itself (`{prefix}/v1/sensors/simulator-{client}/status`) offline if
//! the process dies: MQTT allows one will per connection, and the fleet shares one connection.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use garonne_payload::{SensorState, Source, Status, Timestamp, Topics, sensor_id_from};
use rumqttc::{AsyncClient, LastWill, QoS};
use tokio_util::sync::CancellationToken;

use crate::fleet::{Fleet, FleetConfig, FleetStats, Outgoing};
use crate::fleets::{self, FleetsError, WEATHER};
use crate::mqtt::{Connection, options};
use garonne_service::config::MqttConfig;
use garonne_service::host::Session;

/// Most readings produced per scheduling step, so a slow broker slows the fleet instead of
/// piling messages up in memory.
const BATCH: usize = 1000;

/// Capacity of the channel between the fleet and the MQTT event loop (back-pressure beyond).
const CHANNEL_CAPACITY: usize = 10_000;

/// What to simulate, and where to publish it.
#[derive(Debug, Clone)]
pub struct SimulateConfig {
    /// Where to publish: the broker, the topic prefix, and the client id (unique per simulator
    /// on a broker; `garonne-simulator` when unset).
    pub mqtt: MqttConfig,
    /// Folder with the open-data files.
    pub data_dir: PathBuf,
    /// Polygons for the weather fleet's virtual sensors; default: the data folder's
    /// (`DataDir::polygons`). Only read when `fleet.density` > 0.
    pub neighbourhoods: Option<PathBuf>,
    /// The fleet's knobs.
    pub fleet: FleetConfig,
    /// Stop after this long (wall clock); `None` runs until shutdown.
    pub duration: Option<Duration>,
    /// QoS of readings (statuses are always QoS 1).
    pub qos: QoS,
    /// Show a live progress line on standard error.
    pub progress: bool,
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Sensors in the fleets.
    pub sensors: usize,
    /// The fleets that ran, with their sensors.
    pub fleets: Vec<(String, usize)>,
    /// Messages handed to MQTT (readings, duplicates and malformed ones included; statuses not).
    pub published: u64,
    /// What the fleets produced, summed.
    pub fleet: FleetStats,
    /// Wall-clock duration of the run.
    pub elapsed: Duration,
    /// Connection errors seen (reconnections followed them).
    pub connection_errors: u64,
    /// Whether the broker had every message at the end.
    pub delivered: bool,
}

/// Why a simulation could not run.
#[derive(Debug, thiserror::Error)]
pub enum SimulateError {
    /// The fleets could not be loaded or built.
    #[error(transparent)]
    Fleets(#[from] FleetsError),
    /// The MQTT client stopped accepting messages.
    #[error("the MQTT client stopped")]
    Client(#[source] rumqttc::ClientError),
}

/// Loads the weather data and runs the weather fleet until `duration` or `shutdown` (what
/// `garonne up` runs; [`run_fleets`] chooses).
pub async fn run(
    config: SimulateConfig,
    shutdown: CancellationToken,
) -> Result<Summary, SimulateError> {
    run_fleets(config, Some(&[WEATHER.to_owned()]), shutdown).await
}

/// Loads the fleets `chosen` names (every fleet whose files are in the data folder when
/// `None`) and runs them together until `duration` or `shutdown`.
pub async fn run_fleets(
    config: SimulateConfig,
    chosen: Option<&[String]>,
    shutdown: CancellationToken,
) -> Result<Summary, SimulateError> {
    let topics = config.mqtt.topics().clone();
    let fleets = fleets::load(
        chosen,
        &config.data_dir,
        config.neighbourhoods.as_deref(),
        &config.fleet,
        &topics,
        Timestamp::now(),
    )?;
    let named = fleets.iter().map(|f| f.name.clone()).collect();
    let fleets = fleets.into_iter().map(|f| f.fleet).collect();
    serve_all(fleets, named, &config, topics, shutdown).await
}

/// Runs a built fleet against the broker of `config`. Tests call this with their own fleet.
pub async fn serve(
    fleet: Fleet,
    config: &SimulateConfig,
    topics: Topics,
    shutdown: CancellationToken,
) -> Result<Summary, SimulateError> {
    serve_all(
        vec![fleet],
        vec![WEATHER.to_owned()],
        config,
        topics,
        shutdown,
    )
    .await
}

/// Runs built fleets (named by `names`, in the same order) together against the broker of
/// `config`, on one connection.
pub async fn serve_all(
    mut fleets: Vec<Fleet>,
    names: Vec<String>,
    config: &SimulateConfig,
    topics: Topics,
    shutdown: CancellationToken,
) -> Result<Summary, SimulateError> {
    let started = Instant::now();
    let mut publisher = Publisher::connect(config, topics);
    publisher.statuses(&fleets, SensorState::Online).await?;
    let deadline = config.duration.map(|d| started + d);
    let mut progress = Progress::new(config.progress && std::io::stderr().is_terminal());
    let mut batch: Vec<Outgoing> = Vec::with_capacity(BATCH * 2);
    let sensors: usize = fleets.iter().map(|f| f.sensors().len()).sum();
    while !shutdown.is_cancelled() && deadline.is_none_or(|d| Instant::now() < d) {
        let now = Timestamp::now();
        for fleet in &mut fleets {
            fleet.poll(now, BATCH, &mut batch);
        }
        publisher.readings(&mut batch).await?;
        progress.tick(publisher.published, sensors, &publisher.connection);
        wait_for_next_reading(&fleets, deadline, &shutdown).await;
    }
    // Late messages still held back go out now: late, but not lost.
    for fleet in &mut fleets {
        fleet.drain_held_back(&mut batch);
    }
    publisher.readings(&mut batch).await?;
    publisher.statuses(&fleets, SensorState::Offline).await?;
    progress.finish();
    Ok(publisher.finish(&fleets, names, started).await)
}

/// Sleeps until the fleets' next reading is due (a quarter of a second at most), waking for
/// `shutdown` and the `deadline`.
async fn wait_for_next_reading(
    fleets: &[Fleet],
    deadline: Option<Instant>,
    shutdown: &CancellationToken,
) {
    let Some(next) = fleets.iter().map(Fleet::next_due).min() else {
        return;
    };
    let wait = next.secs_since(Timestamp::now()).clamp(0.0, 0.25);
    if wait > 0.0 {
        let wait = Duration::from_secs_f64(wait);
        let wait = deadline.map_or(wait, |d| {
            wait.min(d.saturating_duration_since(Instant::now()))
        });
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = shutdown.cancelled() => {}
        }
    }
}

/// The fleet's MQTT side: one connection for every sensor, and what went through it.
struct Publisher {
    /// The connection, whose last will marks the simulator offline.
    connection: Connection,
    /// The topics of the deployment.
    topics: Topics,
    /// The simulator's own status, as its last will says it (offline).
    own: Status,
    /// QoS of readings.
    qos: QoS,
    /// Readings handed to the client (at `qos`).
    published: u64,
    /// Statuses handed to the client (always QoS 1).
    statuses: u64,
}

impl Publisher {
    /// Connects as `config` says, with the simulator's own offline status as the last will.
    fn connect(config: &SimulateConfig, topics: Topics) -> Publisher {
        let client_id = config.mqtt.client_id("simulator", Session::Persistent);
        let mut mqtt = options(
            &client_id,
            &config.mqtt.broker,
            config.mqtt.credentials.as_ref(),
        );
        let own_id = format!("simulator-{}", sensor_id_from(&client_id));
        let own = Status {
            v: 1,
            sensor_id: own_id.clone(),
            state: SensorState::Offline,
            time: Timestamp::now(),
            kind: "simulator".to_owned(),
            source: Source::Virtual,
            location: None,
            modules: Vec::new(),
        };
        mqtt.set_last_will(LastWill::new(
            topics.status(&own_id),
            serde_json::to_vec(&own).unwrap_or_default(),
            QoS::AtLeastOnce,
            true,
        ));
        let (client, eventloop) = AsyncClient::new(mqtt, CHANNEL_CAPACITY);
        Publisher {
            connection: Connection::start(client, eventloop, config.mqtt.broker.clone()),
            topics,
            own,
            qos: config.qos,
            published: 0,
            statuses: 0,
        }
    }

    /// Publishes every sensor's status and the simulator's own, all in `state` (retained,
    /// QoS 1).
    async fn statuses(
        &mut self,
        fleets: &[Fleet],
        state: SensorState,
    ) -> Result<(), SimulateError> {
        let now = Timestamp::now();
        for status in fleets.iter().flat_map(|f| f.statuses(state, now)) {
            send(&self.connection.client, status, QoS::AtLeastOnce).await?;
            self.statuses += 1;
        }
        self.own.state = state;
        self.own.time = now;
        let payload = serde_json::to_vec(&self.own).unwrap_or_default();
        self.connection
            .client
            .publish(
                self.topics.status(&self.own.sensor_id),
                QoS::AtLeastOnce,
                true,
                payload,
            )
            .await
            .map_err(SimulateError::Client)?;
        self.statuses += 1;
        Ok(())
    }

    /// Publishes (and empties) `batch` at the QoS of readings.
    async fn readings(&mut self, batch: &mut Vec<Outgoing>) -> Result<(), SimulateError> {
        for message in batch.drain(..) {
            send(&self.connection.client, message, self.qos).await?;
            self.published += 1;
        }
        Ok(())
    }

    /// Waits (30 s at most) for the broker to acknowledge every QoS 1 message, and says what
    /// the run did.
    async fn finish(self, fleets: &[Fleet], names: Vec<String>, started: Instant) -> Summary {
        let connection_errors = self.connection.counters.errors.load(Ordering::Relaxed);
        // Statuses are QoS 1; readings are counted as acknowledged only when they are QoS 1 too.
        let expected = if self.qos == QoS::AtMostOnce {
            self.statuses
        } else {
            self.published + self.statuses
        };
        let delivered = self
            .connection
            .finish(expected, true, Duration::from_secs(30))
            .await;
        let mut stats = FleetStats::default();
        for fleet in fleets {
            stats.add(fleet.stats());
        }
        Summary {
            sensors: fleets.iter().map(|f| f.sensors().len()).sum(),
            fleets: names
                .into_iter()
                .zip(fleets.iter().map(|f| f.sensors().len()))
                .collect(),
            published: self.published,
            fleet: stats,
            elapsed: started.elapsed(),
            connection_errors,
            delivered,
        }
    }
}

async fn send(client: &AsyncClient, message: Outgoing, qos: QoS) -> Result<(), SimulateError> {
    client
        .publish(message.topic, qos, message.retain, message.payload)
        .await
        .map_err(SimulateError::Client)
}

/// The live one-line progress: messages per second, sensors online, connection errors.
struct Progress {
    enabled: bool,
    last: Instant,
    last_count: u64,
}

impl Progress {
    fn new(enabled: bool) -> Progress {
        Progress {
            enabled,
            last: Instant::now(),
            last_count: 0,
        }
    }

    fn tick(&mut self, published: u64, sensors: usize, connection: &Connection) {
        let elapsed = self.last.elapsed();
        if !self.enabled || elapsed < Duration::from_secs(1) {
            return;
        }
        let rate = (published - self.last_count) as f64 / elapsed.as_secs_f64();
        let online = if connection.counters.connected.load(Ordering::Relaxed) {
            sensors
        } else {
            0
        };
        let errors = connection.counters.errors.load(Ordering::Relaxed);
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r{published} messages, {rate:.0} msg/s, {online}/{sensors} sensors online, {errors} connection errors   "
        );
        let _ = err.flush();
        self.last = Instant::now();
        self.last_count = published;
    }

    fn finish(&self) {
        if self.enabled {
            eprintln!();
        }
    }
}

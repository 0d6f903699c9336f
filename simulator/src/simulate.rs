//! `garonne simulate`: the async driver of the [`Fleet`]. It loads the open data, connects to
//! the broker, publishes every sensor's status (retained) and readings on schedule, shows a live
//! one-line progress, and on shutdown or at the end of the run marks the sensors offline, waits
//! for the broker to have everything, and returns a summary.
//!
//! Topics written: `{prefix}/v1/sensors/{id}/reading` and `.../status`; the connection's last
//! will marks the simulator itself (`{prefix}/v1/sensors/simulator-{client}/status`) offline if
//! the process dies: MQTT allows one will per connection, and the fleet shares one connection.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use garonne_neighbourhoods::{Neighbourhoods, Properties};
use garonne_payload::{SensorState, Source, Status, Timestamp, Topics, sensor_id_from};
use rumqttc::{AsyncClient, LastWill, QoS};
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::fleet::{Fleet, FleetConfig, FleetError, FleetStats, Outgoing};
use crate::mqtt::{BrokerUrl, Connection, options};
use garonne_opendata as opendata;

/// Most readings produced per scheduling step, so a slow broker slows the fleet instead of
/// piling messages up in memory.
const BATCH: usize = 1000;

/// Capacity of the channel between the fleet and the MQTT event loop (back-pressure beyond).
const CHANNEL_CAPACITY: usize = 10_000;

/// What to simulate, and where to publish it.
#[derive(Debug, Clone)]
pub struct SimulateConfig {
    /// The broker.
    pub broker: BrokerUrl,
    /// MQTT client id (unique per simulator on a broker).
    pub client_id: String,
    /// Topic prefix (`garonne` by default).
    pub topic_prefix: String,
    /// Folder with the open-data files.
    pub data_dir: PathBuf,
    /// Polygons for virtual sensors; default: `quartiers-de-democratie-locale.geojson` in the
    /// data folder. Only read when `fleet.density` > 0.
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
    /// Sensors in the fleet.
    pub sensors: usize,
    /// Messages handed to MQTT (readings, duplicates and malformed ones included; statuses not).
    pub published: u64,
    /// What the fleet produced.
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
    /// The open data could not be loaded.
    #[error(
        "cannot load the open data in {dir} (download it with `garonne data fetch`, or point \
         --data-dir / GARONNE_DATA_DIR at a folder that has it)"
    )]
    Data {
        /// The folder.
        dir: PathBuf,
        /// Why.
        #[source]
        source: opendata::LoadError,
    },
    /// The neighbourhood polygons could not be loaded.
    #[error("cannot load the neighbourhoods for virtual sensors")]
    Neighbourhoods(#[source] garonne_neighbourhoods::LoadError),
    /// The fleet could not be built.
    #[error("cannot build the fleet")]
    Fleet(#[source] FleetError),
    /// The topic prefix is not usable.
    #[error("topic prefix \"{0}\" is not valid: use levels of letters and digits, no + or #")]
    Prefix(String),
    /// The MQTT client stopped accepting messages.
    #[error("the MQTT client stopped")]
    Client(#[source] rumqttc::ClientError),
}

/// Loads the data and runs the fleet until `duration` or `shutdown`.
pub async fn run(
    config: SimulateConfig,
    shutdown: CancellationToken,
) -> Result<Summary, SimulateError> {
    let topics = Topics::new(&config.topic_prefix)
        .ok_or_else(|| SimulateError::Prefix(config.topic_prefix.clone()))?;
    let data = opendata::load_dir(&config.data_dir).map_err(|source| SimulateError::Data {
        dir: config.data_dir.clone(),
        source,
    })?;
    info!(
        stations = data.stations.len(),
        observations = data.observations.len(),
        "open data loaded"
    );
    let areas = if config.fleet.density > 0 {
        let path = config.neighbourhoods.clone().unwrap_or_else(|| {
            config
                .data_dir
                .join("quartiers-de-democratie-locale.geojson")
        });
        Some(
            Neighbourhoods::load(&path, &Properties::detect())
                .map_err(SimulateError::Neighbourhoods)?,
        )
    } else {
        None
    };
    let fleet = Fleet::new(
        &data.stations,
        &data.observations,
        areas.as_ref(),
        config.fleet.clone(),
        topics.clone(),
        Timestamp::now(),
    )
    .map_err(SimulateError::Fleet)?;
    serve(fleet, &config, topics, shutdown).await
}

/// Runs a built fleet against the broker of `config`. Tests call this with their own fleet.
pub async fn serve(
    mut fleet: Fleet,
    config: &SimulateConfig,
    topics: Topics,
    shutdown: CancellationToken,
) -> Result<Summary, SimulateError> {
    let started = Instant::now();
    let mut mqtt = options(&config.client_id, &config.broker);
    let will_id = format!("simulator-{}", sensor_id_from(&config.client_id));
    let will = Status {
        v: 1,
        sensor_id: will_id.clone(),
        state: SensorState::Offline,
        time: Timestamp::now(),
        kind: "simulator".to_owned(),
        source: Source::Virtual,
        location: None,
        modules: Vec::new(),
    };
    mqtt.set_last_will(LastWill::new(
        topics.status(&will_id),
        serde_json::to_vec(&will).unwrap_or_default(),
        QoS::AtLeastOnce,
        true,
    ));
    let (client, eventloop) = AsyncClient::new(mqtt, CHANNEL_CAPACITY);
    let connection = Connection::start(client, eventloop, config.broker.clone());
    let qos1 = config.qos != QoS::AtMostOnce;

    let mut published = 0u64; // QoS of readings
    let mut statuses = 0u64; // always QoS 1
    for status in fleet.statuses(SensorState::Online, Timestamp::now()) {
        send(&connection.client, status, QoS::AtLeastOnce).await?;
        statuses += 1;
    }
    let online = Status {
        state: SensorState::Online,
        time: Timestamp::now(),
        ..will
    };
    send_status(&connection.client, &topics, &will_id, &online).await?;
    statuses += 1;

    let deadline = config.duration.map(|d| started + d);
    let mut progress = Progress::new(config.progress && std::io::stderr().is_terminal());
    let mut batch: Vec<Outgoing> = Vec::with_capacity(BATCH * 2);
    loop {
        if shutdown.is_cancelled() || deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        batch.clear();
        fleet.poll(Timestamp::now(), BATCH, &mut batch);
        for message in batch.drain(..) {
            send(&connection.client, message, config.qos).await?;
            published += 1;
        }
        progress.tick(published, fleet.sensors().len(), &connection);
        // Sleep until the next reading is due, but wake for shutdown and the deadline.
        let wait = fleet
            .next_due()
            .secs_since(Timestamp::now())
            .clamp(0.0, 0.25);
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

    // Late messages still held back go out now: late, but not lost.
    batch.clear();
    fleet.drain_held_back(&mut batch);
    for message in batch.drain(..) {
        send(&connection.client, message, config.qos).await?;
        published += 1;
    }
    for status in fleet.statuses(SensorState::Offline, Timestamp::now()) {
        send(&connection.client, status, QoS::AtLeastOnce).await?;
        statuses += 1;
    }
    let offline = Status {
        state: SensorState::Offline,
        time: Timestamp::now(),
        ..online
    };
    send_status(&connection.client, &topics, &will_id, &offline).await?;
    statuses += 1;
    progress.finish();

    let connection_errors = connection.counters.errors.load(Ordering::Relaxed);
    // Statuses are QoS 1; readings are counted as acknowledged only when they are QoS 1 too.
    let expected = if qos1 { published + statuses } else { statuses };
    let delivered = connection
        .finish(expected, true, Duration::from_secs(30))
        .await;
    Ok(Summary {
        sensors: fleet.sensors().len(),
        published,
        fleet: fleet.stats().clone(),
        elapsed: started.elapsed(),
        connection_errors,
        delivered,
    })
}

async fn send(client: &AsyncClient, message: Outgoing, qos: QoS) -> Result<(), SimulateError> {
    client
        .publish(message.topic, qos, message.retain, message.payload)
        .await
        .map_err(SimulateError::Client)
}

async fn send_status(
    client: &AsyncClient,
    topics: &Topics,
    id: &str,
    status: &Status,
) -> Result<(), SimulateError> {
    let payload = serde_json::to_vec(status).unwrap_or_default();
    client
        .publish(topics.status(id), QoS::AtLeastOnce, true, payload)
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

//! The agent's async driver: the modules' life cycle, the reading interval, the disk queue and
//! the MQTT link, in one task. Hardware and disk work runs on blocking threads.
//!
//! Delivery: readings go out from the head of the disk queue, in order, at most [`WINDOW`] in
//! flight, as QoS 1; a reading's file is deleted only when its PUBACK came. Statuses share the
//! same ordered stream. Brokers acknowledge QoS 1 publishes in the order they received them
//! (MQTT 3.1.1 §4.6), so the n-th acknowledgement on a connection is for the n-th publish on it.
//!
//! Design: each connection is a fresh client whose event loop ends when the connection is lost
//! ([`Connection::start_until_lost`]), and the broker session is clean: what was in flight on a
//! lost connection is simply sent again, from the queue, on the next one. Reusing one client
//! across reconnections would let rumqttc resend its own copies (or, when the broker lost the
//! session, silently drop them) and make acknowledgements impossible to match to readings.
//! A reading the broker received just before the loss may thus arrive twice: QoS 1 is "at
//! least once", and `seq` lets receivers drop the duplicate.
//!
//! Shutdown loses nothing taken: a module reading is on disk before the loop sees the shutdown
//! (a `select!` branch runs to its end, and nothing sits between reading and queueing), and the
//! CAN source's packs still in memory are written to the queue first ([`CAN_DRAIN_GRACE`]).

use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use garonne_payload::{
    Limits, Location, ModuleState, Quantity, Reading, SPEC_VERSION, SensorState, Source, Status,
    Timestamp, Topics, encode_senml, validate_reading,
};
use garonne_service::mqtt::{Connection, Counters, Credentials, options};
use rumqttc::{AsyncClient, LastWill, QoS};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use crate::PiError;
use crate::can_source::{self, CanSource};
use crate::config::{ConfigError, PiConfig, Problem};
use crate::modules::{Backend, ModuleSlot};
use crate::queue::{DiskQueue, Item, ItemKind};

/// One module's read: its values, or why it failed.
type ModuleRead = Result<Vec<(Quantity, f64)>, String>;

/// The `kind` of the Pi's readings and status.
pub(crate) const KIND: &str = "raspberry-pi";

/// Most readings published and not yet acknowledged on one connection.
const WINDOW: usize = 32;
/// Capacity of the MQTT client's request channel: the window, statuses, and room to spare.
const CHANNEL_CAPACITY: usize = 256;
/// How long the start waits for the broker, so the life cycle shows on the status topic; the
/// agent then goes on without it (readings queue).
const STARTUP_CONNECT_WAIT: Duration = Duration::from_secs(5);
/// How long shutdown waits for the CAN source's packs still in memory to be written to the disk
/// queue (a few hundred fsynced files at worst on a slow SD card); within systemd's stop timeout
/// (90 s) with [`SHUTDOWN_GRACE`].
const CAN_DRAIN_GRACE: Duration = Duration::from_secs(10);
/// How long shutdown waits for the offline status and the readings in flight to be
/// acknowledged.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// What went out on a connection, in order, awaiting its acknowledgement.
enum Sent {
    Status,
    Reading(u64),
}

/// One MQTT connection and what was sent on it.
struct Link {
    /// `None` once closed.
    connection: Option<Connection>,
    counters: Arc<Counters>,
    in_flight: VecDeque<Sent>,
    /// Acknowledgements already matched to `in_flight`.
    applied: u64,
    /// The queue id of the last reading published on this connection.
    last_sent: Option<u64>,
    /// Whether the online status went out on this connection.
    born: bool,
}

impl Link {
    fn start(config: &PiConfig, topics: &Topics, will: &Status) -> Link {
        // With a password, an id another login cannot take over (Credentials::client_key).
        let client_id = Credentials::keyed_client_id(
            &format!("garonne-pi-{}", config.sensor_id),
            config.credentials.as_ref(),
        );
        let broker = config.mqtt_broker();
        let mut mqtt = options(&client_id, &broker, config.credentials.as_ref());
        // The disk queue, not the broker session, carries readings across connections.
        mqtt.set_clean_session(true);
        mqtt.set_last_will(LastWill::new(
            topics.status(&config.sensor_id),
            serde_json::to_vec(will).unwrap_or_default(),
            QoS::AtLeastOnce,
            true,
        ));
        let (client, eventloop) = AsyncClient::new(mqtt, CHANNEL_CAPACITY);
        let connection = Connection::start_until_lost(client, eventloop, broker);
        Link {
            counters: Arc::clone(&connection.counters),
            connection: Some(connection),
            in_flight: VecDeque::new(),
            applied: 0,
            last_sent: None,
            born: false,
        }
    }

    fn connected(&self) -> bool {
        self.counters.connected.load(Ordering::Relaxed)
    }

    /// Hands a publish to the MQTT client.
    fn publish(&self, topic: String, retain: bool, payload: Vec<u8>) -> Result<(), String> {
        let connection = self.connection.as_ref().ok_or("the connection is closed")?;
        connection
            .client
            .try_publish(topic, QoS::AtLeastOnce, retain, payload)
            .map_err(|e| e.to_string())
    }

    /// Whether the connection was made and then lost (its event loop has ended).
    fn lost(&self) -> bool {
        !self.connected() && self.counters.connections.load(Ordering::Relaxed) > 0
    }

    /// Resolves when there is something to do: an acknowledgement, the connection made (and
    /// not yet greeted), or the connection lost.
    fn changed(&self) -> impl Future<Output = ()> + use<> {
        let counters = Arc::clone(&self.counters);
        let applied = self.applied;
        let born = self.born;
        async move {
            counters
                .wait_until(|c| {
                    let connected = c.connected.load(Ordering::Relaxed);
                    c.acked.load(Ordering::Relaxed) > applied
                        || (connected && !born)
                        || (!connected && c.connections.load(Ordering::Relaxed) > 0)
                })
                .await;
        }
    }
}

pub(crate) struct Agent {
    config: PiConfig,
    topics: Topics,
    location: Location,
    modules: Vec<ModuleSlot>,
    backend: Arc<Backend>,
    queue: Arc<Mutex<DiskQueue>>,
    link: Link,
    /// The `seq` of each sensor's next reading: the Pi's, and its CAN device's when it has
    /// another id (one counter when they share the id).
    seqs: BTreeMap<String, u64>,
    /// The `[can]` source, ready to start once the modules run.
    can: Option<can_source::Prepared>,
    state: SensorState,
    /// Shutting down: publish nothing new but the offline status, reconnect no more.
    stopping: bool,
    /// Whether the last reading was refused by the payload spec (to log once per episode).
    refusing: bool,
}

impl Agent {
    /// Opens the queue and connects, then runs until `shutdown`.
    pub(crate) async fn start(
        config: PiConfig,
        backend: Backend,
        shutdown: CancellationToken,
    ) -> Result<(), PiError> {
        let topics = Topics::new(&config.topic_prefix).ok_or_else(|| {
            PiError::Config(ConfigError::Invalid {
                problems: vec![Problem {
                    key: "topic_prefix".into(),
                    message: "is not a valid topic prefix".into(),
                }],
            })
        })?;
        let location = Location {
            lon: config.location.lon,
            lat: config.location.lat,
            alt: config.location.alt,
        };
        // The DBC and its profile first: a mistake there stops the agent at once.
        let can = can_source::prepare(&config, location)?;
        let dir = config.queue_dir.clone();
        let max_bytes = config.queue_max_bytes;
        let mut sensor_ids = vec![config.sensor_id.clone()];
        sensor_ids.extend(config.can_sensor_id().map(str::to_owned));
        sensor_ids.dedup();
        let ids = sensor_ids.clone();
        let (queue, recovered, foreign) = blocking(move || open_queue(&dir, max_bytes, &ids))
            .await?
            .map_err(|source| PiError::Queue {
                dir: config.queue_dir.clone(),
                source,
            })?;
        if foreign > 0 {
            warn!(
                dir = %config.queue_dir.display(),
                removed = foreign,
                "removed queued readings of another sensor_id (pi.toml's sensor_id changed): \
                 they would have gone out under this sensor's topic"
            );
        }
        if recovered.readings > 0 {
            info!(
                dir = %config.queue_dir.display(),
                queued = queue.len(),
                "readings queued by a previous run will go out first"
            );
        }
        if recovered.partial + recovered.unreadable > 0 {
            warn!(
                dir = %config.queue_dir.display(),
                partial = recovered.partial,
                unreadable = recovered.unreadable,
                "queue files that held no complete reading: half-written ones removed (the \
                 previous run stopped while writing), unreadable ones moved to quarantine/"
            );
        }
        // Design: each sensor's `seq` carries on after its queued readings, so they and the new
        // ones form one run; with none queued it restarts at 0, as the spec allows after a
        // reboot.
        let seqs = sensor_ids
            .into_iter()
            .map(|id| {
                let next = queue.last_seq(&id).map_or(0, |s| s + 1);
                (id, next)
            })
            .collect();
        let modules = config
            .module_names()
            .into_iter()
            .zip(config.modules.iter().cloned())
            .map(|(name, module)| ModuleSlot::new(name, module))
            .collect();
        let agent = Agent {
            link: Link::start(&config, &topics, &will(&config, location)),
            config,
            topics,
            location,
            modules,
            backend: Arc::new(backend),
            queue: Arc::new(Mutex::new(queue)),
            seqs,
            can,
            state: SensorState::Online,
            stopping: false,
            refusing: false,
        };
        agent.run(shutdown).await
    }

    async fn run(mut self, shutdown: CancellationToken) -> Result<(), PiError> {
        info!(
            sensor = %self.config.sensor_id,
            broker = %self.config.broker,
            modules = self.modules.len(),
            "garonne pi starting"
        );
        let deadline = Instant::now() + STARTUP_CONNECT_WAIT;
        while !self.link.born && !shutdown.is_cancelled() {
            let changed = self.link.changed();
            tokio::select! {
                () = changed => self.service_link().await?,
                () = tokio::time::sleep_until(deadline) => {
                    warn!(
                        broker = %self.config.broker,
                        "no MQTT broker yet: starting the modules anyway, readings will queue"
                    );
                    break;
                }
                () = shutdown.cancelled() => {}
            }
        }

        self.life_cycle(&shutdown).await?;
        if !shutdown.is_cancelled()
            && self.can.is_none()
            && !self.modules.iter().any(|m| m.state == ModuleState::Running)
        {
            let failures = self
                .modules
                .iter()
                .map(|m| format!("{}: {}", m.name, m.detail.as_deref().unwrap_or("failed")))
                .collect::<Vec<_>>()
                .join("; ");
            error!(sensor = %self.config.sensor_id, "no module works, stopping");
            let error = PiError::NoModules {
                sensor_id: self.config.sensor_id.clone(),
                failures,
            };
            self.shut_down().await?;
            return Err(error);
        }

        let mut can = match self.can.take() {
            Some(prepared) => Some(prepared.start(&shutdown)?),
            None => None,
        };
        let mut ticker = tokio::time::interval(self.config.interval());
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            let changed = self.link.changed();
            tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                () = changed => self.service_link().await?,
                (sensor_id, packs) = next_packs(&mut can) => self.queue_packs(&sensor_id, packs).await?,
                _ = ticker.tick(), if !self.modules.is_empty() => self.take_reading().await?,
            }
        }
        if let Some(source) = can {
            self.drain_can(source).await?;
        }
        self.shut_down().await
    }

    /// Shutdown, first step: writes to the disk queue every pack the CAN source still holds
    /// (its readers stop and each stage passes on what it holds), for at most
    /// [`CAN_DRAIN_GRACE`]; what is left then is counted and logged as lost.
    async fn drain_can(&mut self, mut source: CanSource) -> Result<(), PiError> {
        let deadline = Instant::now() + CAN_DRAIN_GRACE;
        let (mut packs, mut values) = (0, 0);
        loop {
            let mut batch = Vec::new();
            tokio::select! {
                _ = source.packs.recv_many(&mut batch, can_source::PACKS) => {}
                () = tokio::time::sleep_until(deadline) => {
                    source.packs.close();
                    let (mut lost_packs, mut lost) = (0, 0);
                    while let Ok(pack) = source.packs.try_recv() {
                        lost_packs += 1;
                        lost += can_source::values(&pack);
                    }
                    error!(
                        packs = lost_packs,
                        values = lost,
                        grace_secs = CAN_DRAIN_GRACE.as_secs(),
                        "CAN packs not written to the disk queue before shutdown: lost (the \
                         queue's storage is too slow for the car; the source logs what it still \
                         held)"
                    );
                    break;
                }
            }
            // Empty: the source has passed on everything and ended.
            if batch.is_empty() {
                break;
            }
            packs += batch.len();
            values += batch.iter().map(|p| can_source::values(p)).sum::<usize>();
            self.queue_packs(&source.sensor_id, batch).await?;
        }
        if packs > 0 {
            info!(
                packs,
                values, "CAN packs held in memory at shutdown written to the disk queue"
            );
        }
        Ok(())
    }

    /// Probe and sample test of each module, each step published on the status topic.
    async fn life_cycle(&mut self, shutdown: &CancellationToken) -> Result<(), PiError> {
        for i in 0..self.modules.len() {
            if shutdown.is_cancelled() {
                return Ok(());
            }
            let backend = Arc::clone(&self.backend);
            self.on_modules(move |modules| modules[i].probe(&backend))
                .await?;
            self.service_link().await?;
            self.send_status();
            if self.modules[i].state == ModuleState::SampleTest {
                self.on_modules(move |modules| modules[i].sample_test())
                    .await?;
                self.service_link().await?;
                self.send_status();
            }
            let slot = &self.modules[i];
            match slot.state {
                ModuleState::Running => info!(
                    module = %slot.name,
                    quantities = ?slot.quantities,
                    "module running"
                ),
                _ => warn!(
                    module = %slot.name,
                    detail = slot.detail.as_deref().unwrap_or(""),
                    "module failed, skipped"
                ),
            }
        }
        Ok(())
    }

    /// Runs `f` on the modules on a blocking thread (drivers sleep and wait on buses).
    async fn on_modules<T: Send + 'static>(
        &mut self,
        f: impl FnOnce(&mut Vec<ModuleSlot>) -> T + Send + 'static,
    ) -> Result<T, PiError> {
        let mut modules = std::mem::take(&mut self.modules);
        let (modules, out) = blocking(move || {
            let out = f(&mut modules);
            (modules, out)
        })
        .await?;
        self.modules = modules;
        Ok(out)
    }

    /// Reads every running module and queues one reading of all their values.
    async fn take_reading(&mut self) -> Result<(), PiError> {
        let time = Timestamp::now();
        let results = self
            .on_modules(|modules| {
                modules
                    .iter_mut()
                    .map(|m| (m.state == ModuleState::Running).then(|| m.read()))
                    .collect::<Vec<_>>()
            })
            .await?;
        let mut reading = Reading::new(
            self.config.sensor_id.clone(),
            KIND,
            Source::RaspberryPi,
            time,
            self.seqs.get(&self.config.sensor_id).copied().unwrap_or(0),
            self.location,
        );
        if self.collect_values(results, &mut reading) {
            self.send_status();
        }
        if reading.quantities.is_empty() {
            debug!("no module gave a value: no reading this interval");
            return Ok(());
        }
        // Design: a reading refused or not queued still uses its `seq`, so receivers see the
        // gap and count it lost.
        let sensor_id = self.config.sensor_id.clone();
        self.take_seqs(&sensor_id, 1);
        if !self.passes_the_spec(&reading) {
            return Ok(());
        }
        self.queue_reading(&reading).await?;
        self.pump();
        Ok(())
    }

    /// Puts each module's values (`None`: not running) into `reading`, leaving out values
    /// beyond their physical range, and notes modules that fail or read again. Returns whether
    /// a module's status detail changed.
    fn collect_values(&mut self, results: Vec<Option<ModuleRead>>, reading: &mut Reading) -> bool {
        let mut status_changed = false;
        for (slot, result) in self.modules.iter_mut().zip(results) {
            match result {
                None => {}
                Some(Ok(values)) => {
                    if slot.detail.take().is_some() {
                        info!(module = %slot.name, "module reads again");
                        status_changed = true;
                    }
                    for (quantity, value) in values {
                        if quantity.in_range(value) {
                            reading.quantities.set(quantity, value);
                        } else {
                            warn!(
                                module = %slot.name,
                                quantity = quantity.name(),
                                value,
                                "value out of its physical range, left out of the reading"
                            );
                        }
                    }
                }
                // Logged and shown once per failing episode.
                Some(Err(detail)) if slot.detail.is_none() => {
                    warn!(
                        module = %slot.name,
                        %detail,
                        "module read failed; its values are left out until it reads again"
                    );
                    slot.detail = Some(format!("reads failing: {detail}"));
                    status_changed = true;
                }
                Some(Err(_)) => {}
            }
        }
        status_changed
    }

    /// Whether `reading` passes the payload spec; a refusal is logged as a warning once per
    /// episode, then at debug level.
    fn passes_the_spec(&mut self, reading: &Reading) -> bool {
        if let Err(invalid) = validate_reading(reading, Timestamp::now(), &Limits::default()) {
            let violations = invalid
                .violations
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ");
            if self.refusing {
                debug!(seq = reading.seq, %violations, "reading refused, not sent");
            } else {
                warn!(seq = reading.seq, %violations, "reading refused by the payload spec, not sent");
            }
            self.refusing = true;
            return false;
        }
        if self.refusing {
            info!(seq = reading.seq, "readings valid again");
            self.refusing = false;
        }
        true
    }

    /// The first of `count` new sequence numbers of `sensor_id`.
    fn take_seqs(&mut self, sensor_id: &str, count: u64) -> u64 {
        let next = self.seqs.entry(sensor_id.to_owned()).or_insert(0);
        let first = *next;
        *next += count;
        first
    }

    /// Writes `reading` to the disk queue (fsynced); a failure is logged and the reading lost.
    async fn queue_reading(&mut self, reading: &Reading) -> Result<(), PiError> {
        let (seq, bytes) = (reading.seq, reading.to_json());
        self.queue_item(ItemKind::Reading, &reading.sensor_id, seq, bytes)
            .await
    }

    /// Numbers the packs' readings in `sensor_id`'s run, encodes them and writes them to the
    /// disk queue (fsynced, one sync of the folder for all), then publishes what the window
    /// allows. A failure is logged and the packs lost.
    async fn queue_packs(
        &mut self,
        sensor_id: &str,
        packs: Vec<Vec<Reading>>,
    ) -> Result<(), PiError> {
        let mut items = Vec::new();
        let mut values = 0;
        for mut pack in packs {
            let first = self.take_seqs(sensor_id, pack.len() as u64);
            for (reading, seq) in pack.iter_mut().zip(first..) {
                reading.seq = seq;
            }
            values += can_source::values(&pack);
            items.extend(
                encode_within(&pack, Limits::default().max_pack_bytes)
                    .into_iter()
                    .map(|(seq, bytes)| Item {
                        kind: ItemKind::Pack,
                        sensor_id: sensor_id.to_owned(),
                        seq,
                        bytes,
                    }),
            );
        }
        let (queue, count) = (Arc::clone(&self.queue), items.len());
        match blocking(move || lock(&queue).push_all(items)).await? {
            Ok(pushed) => debug!(first = pushed.id, count, "packs queued"),
            Err(error) => error!(
                dir = %self.config.queue_dir.display(),
                packs = count,
                values,
                %error,
                "cannot write to the queue: the CAN values are lost"
            ),
        }
        self.pump();
        Ok(())
    }

    /// Writes an item to the disk queue (fsynced); a failure is logged and the item lost.
    async fn queue_item(
        &mut self,
        kind: ItemKind,
        sensor_id: &str,
        seq: u64,
        bytes: Vec<u8>,
    ) -> Result<(), PiError> {
        let queue = Arc::clone(&self.queue);
        let sensor = sensor_id.to_owned();
        match blocking(move || lock(&queue).push(kind, &sensor, seq, bytes)).await? {
            Ok(pushed) => debug!(seq, id = pushed.id, ?kind, "queued"),
            Err(error) => error!(
                dir = %self.config.queue_dir.display(),
                seq,
                %error,
                "cannot write to the queue: the readings are lost"
            ),
        }
        Ok(())
    }

    /// Matches acknowledgements to what was sent, greets a new connection, replaces a lost
    /// one, and sends what the window allows.
    async fn service_link(&mut self) -> Result<(), PiError> {
        let acked = self.link.counters.acked.load(Ordering::Relaxed);
        let mut delivered = Vec::new();
        while self.link.applied < acked {
            match self.link.in_flight.pop_front() {
                Some(Sent::Reading(id)) => delivered.push(id),
                Some(Sent::Status) => {}
                None => {
                    error!(
                        acked,
                        "more acknowledgements than publishes; ignoring the extra"
                    );
                    self.link.applied = acked;
                    break;
                }
            }
            self.link.applied += 1;
        }
        if !delivered.is_empty() {
            let queue = Arc::clone(&self.queue);
            let removed = blocking(move || {
                let mut queue = lock(&queue);
                delivered
                    .iter()
                    .try_for_each(|&id| queue.remove(id).map(drop))
            })
            .await?;
            if let Err(error) = removed {
                // The file stays and is sent again later: a duplicate, not a loss.
                error!(dir = %self.config.queue_dir.display(), %error, "cannot remove an acknowledged reading from the queue");
            }
        }
        if self.link.lost() {
            if self.stopping {
                return Ok(());
            }
            debug!(
                unacknowledged = self.link.in_flight.len(),
                "connection lost; what was in flight goes out again on the next one"
            );
            self.link = Link::start(
                &self.config,
                &self.topics,
                &will(&self.config, self.location),
            );
            return Ok(());
        }
        if self.link.connected() && !self.link.born {
            self.link.born = true;
            info!(
                broker = %self.config.broker,
                queued = lock(&self.queue).len(),
                "connected to the MQTT broker"
            );
            self.send_status();
        }
        self.pump();
        Ok(())
    }

    /// Publishes queued readings after the last one sent, up to the window.
    fn pump(&mut self) {
        if self.stopping || !self.link.born || !self.link.connected() {
            return;
        }
        let queue = lock(&self.queue);
        let link = &mut self.link;
        let mut in_flight = link
            .in_flight
            .iter()
            .filter(|s| matches!(s, Sent::Reading(_)))
            .count();
        while in_flight < WINDOW {
            let Some(entry) = queue.next_after(link.last_sent) else {
                break;
            };
            let topic = match entry.kind {
                ItemKind::Reading => self.topics.reading(&entry.sensor_id),
                ItemKind::Pack => self.topics.senml(&entry.sensor_id),
            };
            match link.publish(topic, false, entry.bytes.clone()) {
                Ok(()) => {
                    link.in_flight.push_back(Sent::Reading(entry.id));
                    link.last_sent = Some(entry.id);
                    in_flight += 1;
                }
                Err(error) => {
                    // The client is closing (connection lost): the next one sends it.
                    debug!(%error, "reading not handed to MQTT");
                    break;
                }
            }
        }
    }

    /// Publishes the current status (retained) if connected; otherwise the next connection's
    /// greeting carries it.
    fn send_status(&mut self) {
        if !self.link.born || !self.link.connected() {
            return;
        }
        let status = self.status();
        let payload = serde_json::to_vec(&status).unwrap_or_default();
        match self
            .link
            .publish(self.topics.status(&self.config.sensor_id), true, payload)
        {
            Ok(()) => self.link.in_flight.push_back(Sent::Status),
            Err(error) => debug!(%error, "status not handed to MQTT"),
        }
    }

    fn status(&self) -> Status {
        Status {
            v: SPEC_VERSION,
            sensor_id: self.config.sensor_id.clone(),
            state: self.state,
            time: Timestamp::now(),
            kind: KIND.to_owned(),
            source: Source::RaspberryPi,
            location: Some(self.location),
            modules: self.modules.iter().map(ModuleSlot::status).collect(),
        }
    }

    /// Removes the modules, publishes the offline status, waits (a little) for the broker to
    /// acknowledge it, and disconnects. Queued readings stay on disk for the next start.
    async fn shut_down(mut self) -> Result<(), PiError> {
        self.stopping = true;
        self.state = SensorState::Offline;
        self.on_modules(|modules| modules.iter_mut().for_each(ModuleSlot::remove))
            .await?;
        self.send_status();
        let deadline = Instant::now() + SHUTDOWN_GRACE;
        while self.link.connected() && !self.link.in_flight.is_empty() {
            let changed = self.link.changed();
            tokio::select! {
                () = changed => self.service_link().await?,
                () = tokio::time::sleep_until(deadline) => {
                    warn!("the broker did not acknowledge everything before shutdown");
                    break;
                }
            }
        }
        self.service_link().await?;
        if let Some(connection) = self.link.connection.take() {
            if self.link.connected() {
                let acked = self.link.counters.acked.load(Ordering::Relaxed);
                connection.finish(acked, true, Duration::from_secs(1)).await;
            } else {
                connection.abort();
            }
        }
        let queued = lock(&self.queue).len();
        if queued > 0 {
            info!(
                dir = %self.config.queue_dir.display(),
                queued,
                "readings stay queued for the next start"
            );
        }
        info!(sensor = %self.config.sensor_id, "garonne pi stopped");
        Ok(())
    }
}

impl Drop for Link {
    /// A link dropped without a clean close (the agent's task cancelled) ends its connection as
    /// a crash would: without DISCONNECT, so the broker publishes the last will. Otherwise the
    /// event loop would keep the connection, and the sensor online, for the process's life.
    fn drop(&mut self) {
        if let Some(connection) = self.connection.take() {
            connection.abort();
        }
    }
}

/// The offline status registered as the last will of each connection: no modules (the broker
/// publishes it when the Pi vanished, whatever its modules were doing).
fn will(config: &PiConfig, location: Location) -> Status {
    Status {
        v: SPEC_VERSION,
        sensor_id: config.sensor_id.clone(),
        state: SensorState::Offline,
        time: Timestamp::now(),
        kind: KIND.to_owned(),
        source: Source::RaspberryPi,
        location: Some(location),
        modules: Vec::new(),
    }
}

/// Opens the queue and removes the items of other sensors than `sensor_ids`, which a changed
/// `sensor_id` leaves behind; returns how many were removed.
fn open_queue(
    dir: &std::path::Path,
    max_bytes: u64,
    sensor_ids: &[String],
) -> std::io::Result<(DiskQueue, super::queue::Recovered, usize)> {
    let (mut queue, recovered) = DiskQueue::open(dir, max_bytes)?;
    let foreign: Vec<u64> = queue
        .entries()
        .filter(|e| !sensor_ids.contains(&e.sensor_id))
        .map(|e| e.id)
        .collect();
    for &id in &foreign {
        queue.remove(id)?;
    }
    Ok((queue, recovered, foreign.len()))
}

/// The SenML packs of `readings` (of one device, numbered in a row), each with the `seq` of its
/// last reading: one pack, or halves of it until each is at most `max_bytes` (the payload
/// spec's bound: long quantity names can make a pack of many values too large).
fn encode_within(readings: &[Reading], max_bytes: usize) -> Vec<(u64, Vec<u8>)> {
    let Some(last) = readings.last() else {
        return Vec::new();
    };
    match encode_senml(readings) {
        Some(bytes) if bytes.len() <= max_bytes || readings.len() == 1 => vec![(last.seq, bytes)],
        Some(_) => {
            let (a, b) = readings.split_at(readings.len() / 2);
            let mut packs = encode_within(a, max_bytes);
            packs.extend(encode_within(b, max_bytes));
            packs
        }
        // The source's readings are of one device: never seen.
        None => {
            error!(seq = last.seq, "a CAN pack cannot be encoded: it is lost");
            Vec::new()
        }
    }
}

/// The next packs of the CAN source (one, or all those waiting) and its sensor; never, without
/// one or once it has ended (a log replayed whole). Cancel-safe.
async fn next_packs(can: &mut Option<CanSource>) -> (String, Vec<Vec<Reading>>) {
    if let Some(source) = can {
        let mut packs = Vec::new();
        if source.packs.recv_many(&mut packs, can_source::PACKS).await > 0 {
            return (source.sensor_id.clone(), packs);
        }
        *can = None;
    }
    std::future::pending().await
}

fn lock(queue: &Mutex<DiskQueue>) -> MutexGuard<'_, DiskQueue> {
    queue.lock().unwrap_or_else(PoisonError::into_inner)
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, PiError> {
    tokio::task::spawn_blocking(f).await.map_err(PiError::Task)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::tests::reading_of as reading;

    #[test]
    fn a_pack_over_the_size_bound_goes_out_in_halves_numbered_in_a_row() {
        let readings: Vec<Reading> = (10..18)
            .map(|seq| {
                let mut r: Reading = serde_json::from_slice(&reading("car-1", seq)).expect("json");
                r.time = r.time.add_nanos(seq as i64 * 1_000_000);
                r
            })
            .collect();
        let whole = encode_senml(&readings).expect("one device").len();
        assert_eq!(encode_within(&readings, whole).len(), 1);
        let packs = encode_within(&readings, whole * 2 / 3);
        let lasts: Vec<u64> = packs.iter().map(|(last, _)| *last).collect();
        assert_eq!(lasts, [13, 17]);
        let parsed: Vec<u64> = packs
            .iter()
            .flat_map(|(_, bytes)| {
                garonne_payload::parse_senml(bytes, Timestamp::now(), &Limits::default())
                    .expect("valid")
            })
            .map(|r| r.seq)
            .collect();
        assert_eq!(parsed, (10..18).collect::<Vec<_>>());
    }

    /// Regression: readings queued under a former `sensor_id` must not go out under the new
    /// one's topic.
    #[test]
    fn readings_of_a_former_sensor_id_are_removed_at_start() {
        let dir = tempfile::tempdir().expect("temp dir");
        {
            let (mut q, _) = DiskQueue::open(dir.path(), 1 << 20).expect("open");
            for (id, seq) in [("pi-old", 7), ("pi-new", 0), ("pi-new", 1)] {
                q.push(ItemKind::Reading, id, seq, reading(id, seq))
                    .expect("push");
            }
        }
        let ids = ["pi-new".to_owned()];
        let (q, recovered, foreign) = open_queue(dir.path(), 1 << 20, &ids).expect("open");
        assert_eq!((recovered.readings, foreign), (3, 1));
        assert_eq!(q.entries().map(|e| e.seq).collect::<Vec<_>>(), [0, 1]);
        assert_eq!(q.last_seq("pi-new"), Some(1));
    }
}

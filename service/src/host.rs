//! The one host every subscribing service runs on: it owns the MQTT connection, the inbox, the
//! acknowledgements, the outbox, the ticks, the operations endpoints and the shutdown; the
//! service is a [`Transform`] it drives (messages in, ticks, shutdown → messages out).
//!
//! ```text
//! broker ─► event loop ─► inbox (bytes) ─► Transform::handle ─► outbox (bytes) ─► broker
//!              ▲                                  │ Handled::Done
//!              └──────────── acknowledgements ◄───┘
//! ```
//!
//! Design: a message is acknowledged to the broker only once the transform says it is done with
//! it ([`Handled::Done`]: realtime has folded it, the historian has it on disk). One still in
//! the inbox when the process stops is handed over again by the broker on the next start, so a
//! restart loses nothing; a transform recognises repeats.
//!
//! Live profiles ([`Host::profiles`], [`crate::profiles`]): the host also subscribes to
//! `{prefix}/v1/profiles/+` and registers what arrives there itself, before the rest of the batch
//! reaches the transform, which never sees those messages; they are acknowledged like the others.
//! Written once here, so that realtime, the historian and the web server load a published profile
//! the same way, without a restart.
//!
//! Design: messages are handled in batches — whatever the inbox holds when the host wakes, up
//! to [`Host::batch`] — and the event loop lingers after each fresh read (see [`crate::mqtt`]),
//! so that one wake-up serves many messages and their acknowledgements leave together.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use garonne_payload::Timestamp;
use rumqttc::{AsyncClient, Publish, QoS};
use tokio::net::TcpListener;
use tokio::sync::OwnedSemaphorePermit;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::inbox::{self, Inbound};
use crate::mqtt::{Acks, BrokerUrl, Connection, Counters, Credentials, options};
use crate::ops::{self, Probe};
use crate::outbox::Outbox;
use crate::profiles::LiveProfiles;
use crate::prometheus::Exposition;

/// What the transform did with a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    /// Done with every message: the host acknowledges them.
    Done,
    /// Not done (the historian could not make them durable before shutdown): not acknowledged,
    /// so the broker hands them over again on the next start.
    Withheld,
}

/// A service the [`Host`] drives. Every hook gets the wall clock's `now` from the host, and
/// puts what it publishes in the outbox.
pub trait Transform: Send {
    /// Why the service must stop.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Handles received messages, in the order the broker sent them.
    fn handle(
        &mut self,
        batch: &[Publish],
        now: Timestamp,
        out: &mut Outbox,
    ) -> impl Future<Output = Result<Handled, Self::Error>> + Send;

    /// Called every [`Host::tick_every`].
    fn tick(&mut self, _now: Timestamp, _out: &mut Outbox) {}

    /// Called once at shutdown, after the last batch: publish the final state, save it.
    fn shutdown(
        &mut self,
        now: Timestamp,
        out: &mut Outbox,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;
}

/// Renders a service's own metrics into the host's exposition.
pub type RenderMetrics = Arc<dyn Fn(&mut Exposition) + Send + Sync>;

/// The operations endpoints of a service: where they listen, and what the service adds to them.
pub struct Ops {
    /// The bound listener (tests bind port 0).
    pub listener: TcpListener,
    /// The service's metrics.
    pub metrics: RenderMetrics,
}

/// How a service's MQTT session behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Session {
    /// A persistent session with manual acknowledgements: the broker keeps what the service has
    /// not acknowledged, also while it is away (realtime, the historian).
    Persistent,
    /// A clean session: on every connection the broker sends the retained state again, nothing
    /// waits for a service that is away (the web server, at QoS 0).
    Clean,
}

/// The host's settings for one service.
#[derive(Debug, Clone)]
pub struct Host {
    /// The service's name, in logs and metric names (`garonne_{service}_…`).
    pub service: &'static str,
    /// The broker.
    pub broker: BrokerUrl,
    /// The MQTT client id (fixed for a persistent session).
    pub client_id: String,
    /// The login, if the broker wants one (read from the environment by the `garonne` command).
    pub credentials: Option<Credentials>,
    /// The session.
    pub session: Session,
    /// What to subscribe to.
    pub subscriptions: Vec<(String, QoS)>,
    /// Live profiles ([`crate::profiles`]): the host also subscribes to
    /// `{prefix}/v1/profiles/+` and registers what arrives there itself, before the batch
    /// reaches the transform (which never sees those messages); `None`: no live profiles.
    pub profiles: Option<LiveProfiles>,
    /// How often [`Transform::tick`] runs; `None`: never.
    pub tick_every: Option<Duration>,
    /// Most bytes of received messages waiting for the transform.
    pub inbox_bytes: usize,
    /// Most bytes of messages waiting for the broker.
    pub outbox_bytes: usize,
    /// Most messages handed to the transform at once.
    pub batch: usize,
    /// How long the event loop waits after a fresh read before reading again, while nothing is
    /// owed to the broker (see [`crate::mqtt`]); zero: never.
    pub linger: Duration,
    /// How long shutdown gives the broker to take the last messages and acknowledgements.
    pub shutdown_grace: Duration,
    /// The connection's counters (connected, received…), for a service that shows them
    /// elsewhere than on the host's `/metrics` (the web server's `/readyz`).
    pub mqtt: Arc<Counters>,
}

impl Host {
    /// Settings with the defaults: 4 MiB inbox and outbox, batches of 1,024, no linger, a
    /// 3 s grace, a persistent session and no ticks.
    pub fn new(service: &'static str, broker: BrokerUrl, client_id: impl Into<String>) -> Host {
        Host {
            service,
            broker,
            client_id: client_id.into(),
            credentials: None,
            session: Session::Persistent,
            subscriptions: Vec::new(),
            profiles: None,
            tick_every: None,
            inbox_bytes: 4 << 20,
            outbox_bytes: 4 << 20,
            batch: 1024,
            linger: Duration::ZERO,
            shutdown_grace: Duration::from_secs(3),
            mqtt: Arc::default(),
        }
    }
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Messages received.
    pub received: u64,
    /// Messages acknowledged.
    pub acknowledged: u64,
    /// Messages handed to the client.
    pub published: u64,
    /// Messages dropped from the outbox for want of room.
    pub dropped: u64,
    /// Whether the broker took every publication before the end.
    pub delivered: bool,
}

/// The host's own counters, shared with the metrics endpoint.
#[derive(Debug, Default)]
struct Stats {
    acknowledged: AtomicU64,
    outbox_messages: AtomicU64,
    outbox_bytes: AtomicU64,
    outbox_dropped: AtomicU64,
}

/// Capacity of the MQTT client's request queue: publications and acknowledgements wait in the
/// outbox and in [`Acks`] when it is full, never in an unbounded buffer.
const REQUESTS: usize = 4096;

/// How often the host retries handing over what the client's full request queue refused.
const RETRY_EVERY: Duration = Duration::from_millis(5);

/// The running host: the connection, the inbox and what is owed to the broker.
struct Running {
    client: AsyncClient,
    connection: Connection,
    inbox: inbox::Receiver,
    outbox: Outbox,
    acks: Acks,
    stats: Arc<Stats>,
    /// Live profiles, handled before the transform sees a batch.
    profiles: Option<LiveProfiles>,
    /// Whether the host acknowledges messages itself (a persistent session).
    manual_acks: bool,
    /// The batch being handled (reused), and its share of the inbox, given back after.
    messages: Vec<Publish>,
    rooms: Vec<OwnedSemaphorePermit>,
}

impl Host {
    /// Connects, serves the operations endpoints (if any), and drives `transform` until
    /// `shutdown`; then handles what already arrived, lets the transform publish its final state,
    /// and flushes the outbox and the acknowledgements within [`Host::shutdown_grace`].
    ///
    /// # Errors
    ///
    /// The transform's error, which stops the service at once (what it had not finished stays
    /// unacknowledged).
    pub async fn run<T: Transform>(
        self,
        transform: &mut T,
        ops: Option<Ops>,
        shutdown: CancellationToken,
    ) -> Result<Summary, T::Error> {
        if let Some(profiles) = &self.profiles {
            // Before connecting: the readings queued for a persistent session may arrive before
            // the retained profiles do.
            profiles.register_saved();
        }
        let mut running = self.connect();
        let ops_shutdown = CancellationToken::new();
        let ops_task = ops.map(|ops| {
            let probe = self.probe(ops.metrics, &running);
            tokio::spawn(ops::serve(ops.listener, probe, ops_shutdown.clone()))
        });
        info!(service = self.service, broker = %self.broker, "MQTT connection started");
        let result = self.drive(transform, &mut running, &shutdown).await;
        let summary = match result {
            Ok(()) => self.finish(transform, running).await,
            Err(error) => {
                running.connection.abort();
                Err(error)
            }
        };
        ops_shutdown.cancel();
        if let Some(task) = ops_task {
            let _ = task.await;
        }
        summary
    }

    fn connect(&self) -> Running {
        let mut options = options(&self.client_id, &self.broker, self.credentials.as_ref());
        match self.session {
            Session::Persistent => {
                options.set_manual_acks(true);
            }
            Session::Clean => {
                options.set_clean_session(true);
            }
        }
        let (client, eventloop) = AsyncClient::new(options, REQUESTS);
        let (tx, inbox) = inbox::channel(self.inbox_bytes);
        let mut subscriptions = self.subscriptions.clone();
        if let Some(profiles) = &self.profiles {
            subscriptions.push((profiles.filter(), QoS::AtLeastOnce));
        }
        let connection = Connection::start_subscriber(
            client.clone(),
            eventloop,
            self.broker.clone(),
            subscriptions,
            tx,
            self.linger,
            Arc::clone(&self.mqtt),
        );
        Running {
            client,
            connection,
            inbox,
            outbox: Outbox::new(self.outbox_bytes),
            acks: Acks::default(),
            stats: Arc::default(),
            profiles: self.profiles.clone(),
            manual_acks: self.session == Session::Persistent,
            messages: Vec::with_capacity(self.batch),
            rooms: Vec::with_capacity(self.batch),
        }
    }

    fn probe(&self, service_metrics: RenderMetrics, running: &Running) -> Probe {
        let service = self.service;
        let mqtt = Arc::clone(&self.mqtt);
        let stats = Arc::clone(&running.stats);
        let profiles = self.profiles.clone();
        Probe {
            ready: {
                let mqtt = Arc::clone(&mqtt);
                Arc::new(move || mqtt.connected.load(Ordering::Relaxed))
            },
            metrics: Arc::new(move || {
                let mut e = Exposition::new();
                service_metrics(&mut e);
                mqtt.render(service, &mut e);
                stats.render(service, &mut e);
                if let Some(profiles) = &profiles {
                    profiles.render(service, &mut e);
                }
                e.finish()
            }),
        }
    }

    /// The main loop, until `shutdown` or the inbox closes.
    async fn drive<T: Transform>(
        &self,
        transform: &mut T,
        running: &mut Running,
        shutdown: &CancellationToken,
    ) -> Result<(), T::Error> {
        let mut ticker = tokio::time::interval(self.tick_every.unwrap_or(Duration::MAX / 4));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        ticker.tick().await; // the first tick is immediate
        let mut batch: Vec<Inbound> = Vec::with_capacity(self.batch);
        let mut owed = false;
        loop {
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => return Ok(()),
                _ = ticker.tick(), if self.tick_every.is_some() => {
                    transform.tick(Timestamp::now(), &mut running.outbox);
                }
                // Only when the client's request queue was full: try again shortly.
                () = tokio::time::sleep(RETRY_EVERY), if owed => {}
                received = running.inbox.recv_many(&mut batch, self.batch) => {
                    if received == 0 {
                        return Ok(());
                    }
                    running.handle(self.service, transform, &mut batch).await?;
                }
            }
            owed = running.hand_over();
        }
    }

    /// After `shutdown`: the messages already received, the transform's last word, then the
    /// outbox and the acknowledgements, within the grace period. The transform's shutdown error,
    /// if any, is returned once the rest is flushed.
    async fn finish<T: Transform>(
        &self,
        transform: &mut T,
        mut running: Running,
    ) -> Result<Summary, T::Error> {
        // What arrives after this point stays unacknowledged: the broker keeps it.
        running.inbox.close();
        let mut batch: Vec<Inbound> = Vec::with_capacity(self.batch);
        let mut failed = None;
        while running.inbox.recv_many(&mut batch, self.batch).await > 0 {
            if let Err(error) = running.handle(self.service, transform, &mut batch).await {
                failed = Some(error);
                break;
            }
        }
        let closed = transform
            .shutdown(Timestamp::now(), &mut running.outbox)
            .await;
        let deadline = tokio::time::Instant::now() + self.shutdown_grace;
        while running.hand_over() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(RETRY_EVERY).await;
        }
        let unsent = running.outbox.len();
        let published = running.outbox.handed();
        let delivered = unsent == 0
            && running
                .connection
                .finish(published, true, self.shutdown_grace)
                .await;
        if !delivered {
            warn!(
                service = self.service,
                unsent, "the broker did not take every last publication before the timeout"
            );
        }
        if let Some(error) = failed {
            return Err(error);
        }
        closed?;
        Ok(Summary {
            received: self.mqtt.received.load(Ordering::Relaxed),
            acknowledged: running.stats.acknowledged.load(Ordering::Relaxed),
            published,
            dropped: running.outbox.dropped(),
            delivered,
        })
    }
}

impl Running {
    /// Hands `batch` to the transform, then owes the broker its acknowledgements if it is done.
    /// Live profiles are handled first, by the host, and acknowledged.
    async fn handle<T: Transform>(
        &mut self,
        service: &str,
        transform: &mut T,
        batch: &mut Vec<Inbound>,
    ) -> Result<(), T::Error> {
        self.messages.clear();
        let now = Timestamp::now();
        for Inbound { publish, room } in batch.drain(..) {
            if let Some(profiles) = &self.profiles
                && profiles.name_in(&publish.topic).is_some()
            {
                profiles.handle(service, &publish, now, &mut self.outbox);
                if self.manual_acks {
                    self.acks.owe(&publish);
                }
                continue;
            }
            self.messages.push(publish);
            self.rooms.push(room);
        }
        if self.messages.is_empty() {
            self.rooms.clear();
            return Ok(());
        }
        let handled = transform
            .handle(&self.messages, now, &mut self.outbox)
            .await;
        if matches!(handled, Ok(Handled::Done)) && self.manual_acks {
            for message in &self.messages {
                self.acks.owe(message);
            }
        }
        // Handled or not, the batch leaves the inbox: its bytes are free again.
        self.messages.clear();
        self.rooms.clear();
        handled.map(|_| ())
    }

    /// Hands owed acknowledgements and waiting publications to the client while it has room;
    /// returns whether anything is still owed.
    fn hand_over(&mut self) -> bool {
        let before = self.acks.len();
        let left = self.acks.send(&self.client);
        self.stats
            .acknowledged
            .fetch_add((before - left) as u64, Ordering::Relaxed);
        self.outbox.hand_over(&self.client);
        self.stats.observe(&self.outbox);
        !self.acks.is_empty() || !self.outbox.is_empty()
    }
}

impl Stats {
    fn observe(&self, outbox: &Outbox) {
        self.outbox_messages
            .store(outbox.len() as u64, Ordering::Relaxed);
        self.outbox_bytes
            .store(outbox.bytes() as u64, Ordering::Relaxed);
        self.outbox_dropped
            .store(outbox.dropped(), Ordering::Relaxed);
    }

    fn render(&self, service: &str, e: &mut Exposition) {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        e.counter(
            &format!("garonne_{service}_mqtt_acknowledged_total"),
            "Received messages acknowledged to the broker once handled.",
            load(&self.acknowledged),
        )
        .gauge(
            &format!("garonne_{service}_outbox_messages"),
            "Publications waiting for the MQTT client.",
            load(&self.outbox_messages) as f64,
        )
        .gauge(
            &format!("garonne_{service}_outbox_bytes"),
            "Bytes of publications waiting for the MQTT client.",
            load(&self.outbox_bytes) as f64,
        )
        .counter(
            &format!("garonne_{service}_outbox_dropped_total"),
            "Publications dropped because the outbox was full (the broker away too long).",
            load(&self.outbox_dropped),
        );
    }
}

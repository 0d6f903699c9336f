//! The realtime service on the host: the [`Engine`] as a [`Transform`], its snapshot at start
//! and stop, and its `/metrics`. The MQTT connection, acknowledgements, outbox, ticks and
//! shutdown are the host's ([`garonne_service::host`]).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use garonne_neighbourhoods::Neighbourhoods;
use garonne_payload::Timestamp;
use garonne_service::config;
use garonne_service::host::{Handled, Host, Ops, Session, Transform};
use garonne_service::ops;
use garonne_service::outbox::{EmptyRetained, Outbox, Outgoing};
use garonne_service::profiles::LiveProfiles;
use garonne_service::report::Chain;
use rumqttc::{Publish as Received, QoS};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::config::{Config, ConfigError, ServiceConfig};
use crate::engine::{Engine, Publish};
use crate::metrics::Counters;
use crate::snapshot::{Restored, Snapshot, SnapshotError};

/// How long shutdown waits for the broker to take the last publications.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(3);

/// Why the service could not run.
#[derive(Debug, thiserror::Error)]
pub enum RealtimeError {
    /// The configuration is invalid, or the polygons it names cannot be loaded.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The metrics address is taken or not allowed.
    #[error(transparent)]
    Bind(#[from] ops::BindError),
    /// The snapshot could not be written at shutdown.
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct Summary {
    /// The core's counters at the end.
    pub counters: Counters,
    /// What the start-up snapshot restored.
    pub restored: Restored,
    /// Whether the broker acknowledged every publication before the end.
    pub delivered: bool,
}

/// Loads the polygons, binds `/metrics`, and runs until `shutdown` is cancelled.
pub async fn run(config: Config, shutdown: CancellationToken) -> Result<Summary, RealtimeError> {
    config.validate()?;
    let areas = load_neighbourhoods(&config)?;
    let listener = ops::bind(config.metrics_addr).await?;
    serve(config, areas, listener, shutdown).await
}

/// The polygons named by the configuration.
pub fn load_neighbourhoods(c: &Config) -> Result<Neighbourhoods, RealtimeError> {
    let (id, name) = (c.id_property.as_deref(), c.name_property.as_deref());
    Ok(config::load_neighbourhoods(&c.neighbourhoods, id, name)?)
}

/// Runs the service on an already bound `/metrics` listener (tests bind port 0).
pub async fn serve(
    config: Config,
    areas: Neighbourhoods,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<Summary, RealtimeError> {
    config.validate()?;
    let n_areas = areas.len();
    let topics = config.mqtt.topics();
    let mut engine = Engine::new(
        areas,
        config.settings(),
        config.alert_rules(),
        topics.clone(),
    );
    // Live profiles: realtime publishes their refusals; the saved ones are registered before the
    // snapshot, which may name their quantities, is read.
    let profiles = LiveProfiles::new(topics)
        .saved_in(config.snapshot.as_deref().map(LiveProfiles::folder_beside))
        .publishing_refusals();
    profiles.register_saved();
    let restored = config
        .snapshot
        .as_deref()
        .map(|path| restore(&mut engine, path))
        .unwrap_or_default();

    let client_id = config.mqtt.client_id("realtime", Session::Persistent);
    let mut host = Host::new("realtime", config.mqtt.broker.clone(), client_id);
    host.credentials = config.mqtt.credentials.clone();
    host.subscriptions = vec![
        (topics.all_readings(), QoS::AtLeastOnce),
        (topics.all_senml(), QoS::AtLeastOnce),
    ];
    host.profiles = Some(profiles);
    // A quarter of the cadence: an emit is at most that late (200 ms at most).
    host.tick_every = Some(Duration::from_millis(
        (config.emit_every_ms / 4).clamp(5, 200),
    ));
    host.shutdown_grace = FLUSH_TIMEOUT;
    info!(
        broker = %host.broker,
        neighbourhoods = n_areas,
        window_secs = config.window_secs,
        emit_every_ms = config.emit_every_ms,
        "realtime running"
    );

    let saving = config.snapshot.clone().map(|path| Saving {
        path,
        every_nanos: i64::from(config.snapshot_every_secs) * 1_000_000_000,
        next: None,
        writing: None,
    });
    let mut realtime = Realtime::new(engine, saving);
    let ops = Ops {
        listener,
        metrics: realtime.metrics(n_areas),
    };
    let ran = host.run(&mut realtime, Some(ops), shutdown).await?;
    Ok(Summary {
        counters: realtime.engine.counters().clone(),
        restored,
        delivered: ran.delivered,
    })
}

/// Restores the engine from the snapshot at `path`, if there is one; an unreadable snapshot is
/// moved aside (someone may want to look at it) and the windows start empty.
fn restore(engine: &mut Engine, path: &Path) -> Restored {
    match Snapshot::load(path) {
        Ok(Some(snapshot)) => {
            let restored = engine.restore(snapshot);
            info!(
                path = %path.display(),
                sensors = restored.sensors,
                panes = restored.panes,
                dropped_panes = restored.dropped_panes,
                alerts = restored.alerts,
                "state restored from the snapshot"
            );
            restored
        }
        Ok(None) => Restored::default(),
        Err(error) => {
            let mut aside = path.as_os_str().to_owned();
            aside.push(".unreadable");
            let _ = std::fs::rename(path, &aside);
            warn!(error = %Chain(&error), moved_to = ?aside, "starting with empty windows");
            Restored::default()
        }
    }
}

/// The engine driven by the host.
struct Realtime {
    /// The pure core.
    engine: Engine,
    /// The core's outputs, before they go to the outbox (reused).
    out: Vec<Publish>,
    /// The core's counters as of the last tick, for `/metrics` (read by the ops task).
    shared: Arc<Mutex<Counters>>,
    /// Where and when the state is saved; `None`: not saved.
    saving: Option<Saving>,
}

/// The periodic snapshot: every `every_nanos` while running, written on a blocking thread so
/// that the host's loop never waits on the disk, and once more at shutdown.
///
/// Design: readings are acknowledged once folded in memory (the broker would hand a reading
/// over again only to a session that never acknowledged it), so a crash loses what was folded
/// since the last snapshot: at most `snapshot_every_secs` of the windows (docs/realtime.md).
struct Saving {
    path: PathBuf,
    every_nanos: i64,
    /// When the next snapshot is due (the first one a period after start).
    next: Option<Timestamp>,
    /// The snapshot being written, if one is.
    writing: Option<tokio::task::JoinHandle<()>>,
}

impl Saving {
    /// Starts writing `snapshot` if one is due and none is being written.
    fn tick(&mut self, engine: &Engine, now: Timestamp) {
        self.writing.take_if(|writing| writing.is_finished());
        let due = *self
            .next
            .get_or_insert_with(|| now.add_nanos(self.every_nanos));
        if self.writing.is_some() || now < due {
            return;
        }
        self.next = Some(now.add_nanos(self.every_nanos));
        let snapshot = engine.snapshot(now);
        let path = self.path.clone();
        self.writing = Some(tokio::task::spawn_blocking(move || {
            if let Err(e) = snapshot.save(&path) {
                warn!(path = %path.display(), error = %Chain(&e),
                    "cannot save the state, trying again next period");
            }
        }));
    }

    /// Waits for a snapshot being written, then writes the last one.
    async fn last(&mut self, engine: &Engine, now: Timestamp) -> Result<(), SnapshotError> {
        if let Some(writing) = self.writing.take() {
            let _ = writing.await;
        }
        engine.snapshot(now).save(&self.path)
    }
}

impl Realtime {
    fn new(engine: Engine, saving: Option<Saving>) -> Realtime {
        let shared = Arc::new(Mutex::new(engine.counters().clone()));
        Realtime {
            engine,
            out: Vec::new(),
            shared,
            saving,
        }
    }

    fn metrics(&self, n_areas: usize) -> garonne_service::host::RenderMetrics {
        let shared = Arc::clone(&self.shared);
        Arc::new(move |e| {
            if let Ok(counters) = shared.lock() {
                counters.render(e);
            }
            e.gauge(
                "garonne_realtime_neighbourhoods",
                "Neighbourhood polygons loaded.",
                n_areas as f64,
            );
        })
    }

    /// Moves the core's outputs to the outbox.
    fn publish(&mut self, outbox: &mut Outbox) {
        for p in self.out.drain(..) {
            // The core makes an empty retained payload only to withdraw a retained message (a
            // cleared alert), on purpose: its JSON goes through `Publish::json`, never empty.
            let message = Outgoing::message(p.topic, p.payload, p.retain)
                .unwrap_or_else(|EmptyRetained(topic)| Outgoing::clear(topic));
            outbox.push(message);
        }
    }
}

impl Transform for Realtime {
    type Error = RealtimeError;

    async fn handle(
        &mut self,
        batch: &[Received],
        now: Timestamp,
        outbox: &mut Outbox,
    ) -> Result<Handled, RealtimeError> {
        for m in batch {
            self.engine.handle(&m.topic, &m.payload, now, &mut self.out);
        }
        self.publish(outbox);
        Ok(Handled::Done)
    }

    fn tick(&mut self, now: Timestamp, outbox: &mut Outbox) {
        self.engine.tick(now, &mut self.out);
        self.publish(outbox);
        if let Ok(mut c) = self.shared.lock() {
            c.clone_from(self.engine.counters());
        }
        if let Some(saving) = &mut self.saving {
            saving.tick(&self.engine, now);
        }
    }

    async fn shutdown(&mut self, now: Timestamp, outbox: &mut Outbox) -> Result<(), RealtimeError> {
        self.engine.emit(now, &mut self.out);
        self.publish(outbox);
        if let Some(saving) = &mut self.saving {
            saving.last(&self.engine, now).await?;
            info!(path = %saving.path.display(), sensors = self.engine.counters().sensors, "state saved");
        }
        Ok(())
    }
}

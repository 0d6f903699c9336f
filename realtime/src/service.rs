//! The async driver of the [`Engine`]: MQTT in and out, the emit timer, `/metrics`, and the
//! snapshot at shutdown.
//!
//! Design: the loop never waits on MQTT to publish. Outputs go to a local queue that is handed
//! to the client with `try_publish` as room allows. Waiting there could deadlock: the event loop
//! that would take our publishes may itself be waiting for us to read the incoming queue.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use garonne_neighbourhoods::{Neighbourhoods, Properties};
use garonne_payload::Timestamp;
use garonne_service::mqtt::{Acks, Connection, subscriber_options};
use garonne_service::ops::{self, Probe};
use garonne_service::prometheus::Exposition;
use rumqttc::{AsyncClient, QoS};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::config::{Config, ConfigError};
use crate::engine::{Engine, Publish};
use crate::metrics::Counters;
use crate::snapshot::{Restored, Snapshot, SnapshotError};

/// Capacity of the channel from the MQTT event loop to the core.
const INBOX: usize = 4096;

/// Capacity of the MQTT client's request queue.
const REQUESTS: usize = 10_000;

/// Most messages handled per wake-up before the timers get a look.
const BATCH: usize = 1024;

/// How long shutdown waits for the broker to take the last publications.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(3);

/// Why the service could not run.
#[derive(Debug, thiserror::Error)]
pub enum RealtimeError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The polygons could not be loaded.
    #[error(
        "cannot load the neighbourhoods (give a polygon GeoJSON with --neighbourhoods, and \
         --id-property/--name-property if its properties are not detected)"
    )]
    Neighbourhoods(#[source] garonne_neighbourhoods::LoadError),
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
pub fn load_neighbourhoods(config: &Config) -> Result<Neighbourhoods, RealtimeError> {
    let properties = Properties {
        id: config.id_property.clone(),
        name: config.name_property.clone(),
    };
    Neighbourhoods::load(&config.neighbourhoods, &properties).map_err(RealtimeError::Neighbourhoods)
}

/// Runs the service on an already bound `/metrics` listener (tests bind port 0).
pub async fn serve(
    config: Config,
    areas: Neighbourhoods,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<Summary, RealtimeError> {
    config.validate()?;
    let (broker, topics) = config.mqtt()?;
    let n_areas = areas.len();
    let mut engine = Engine::new(
        areas,
        config.settings(),
        config.alerts.clone(),
        topics.clone(),
    );

    let mut restored = Restored::default();
    if let Some(path) = &config.snapshot {
        match Snapshot::load(path) {
            Ok(Some(snapshot)) => {
                restored = engine.restore(snapshot);
                info!(
                    path = %path.display(),
                    sensors = restored.sensors,
                    panes = restored.panes,
                    dropped_panes = restored.dropped_panes,
                    alerts = restored.alerts,
                    "state restored from the snapshot"
                );
            }
            Ok(None) => {}
            Err(error) => {
                // Kept aside, not deleted: someone may want to look at it.
                let mut aside = path.as_os_str().to_owned();
                aside.push(".unreadable");
                let _ = std::fs::rename(path, &aside);
                warn!(error = %format!("{error:#}"), moved_to = ?aside, "starting with empty windows");
            }
        }
    }

    let (client, eventloop) =
        AsyncClient::new(subscriber_options(&config.client_id, &broker), REQUESTS);
    let (inbox_tx, mut inbox) = mpsc::channel(INBOX);
    let filters = vec![
        (topics.all_readings(), QoS::AtLeastOnce),
        (topics.all_senml(), QoS::AtLeastOnce),
    ];
    let connection =
        Connection::start_subscriber(client.clone(), eventloop, broker.clone(), filters, inbox_tx);

    let shared = Arc::new(Mutex::new(engine.counters().clone()));
    let mqtt = Arc::clone(&connection.counters);
    let probe = Probe {
        ready: {
            let mqtt = Arc::clone(&mqtt);
            Arc::new(move || mqtt.connected.load(Ordering::Relaxed))
        },
        metrics: {
            let shared = Arc::clone(&shared);
            let mqtt = Arc::clone(&mqtt);
            Arc::new(move || {
                let mut e = Exposition::new();
                if let Ok(counters) = shared.lock() {
                    counters.render(&mut e);
                }
                mqtt.render("realtime", &mut e);
                e.gauge(
                    "garonne_realtime_neighbourhoods",
                    "Neighbourhood polygons loaded.",
                    n_areas as f64,
                );
                e.finish()
            })
        },
    };
    let ops_shutdown = CancellationToken::new();
    let ops_task = tokio::spawn(ops::serve(listener, probe, ops_shutdown.clone()));
    info!(
        broker = %broker,
        neighbourhoods = n_areas,
        window_secs = config.window_secs,
        emit_every_ms = config.emit_every_ms,
        "realtime running"
    );

    // A quarter of the cadence: an emit is at most that late (200 ms at most).
    let tick_every = Duration::from_millis((config.emit_every_ms / 4).clamp(5, 200));
    let mut ticker = tokio::time::interval(tick_every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut out: Vec<Publish> = Vec::new();
    let mut pending: VecDeque<Publish> = VecDeque::new();
    let mut published: u64 = 0;
    // Messages are acknowledged once folded: one still in the inbox when the process stops is
    // handed over again by the broker on the next start (and a repeat is recognised).
    let mut acks = Acks::default();
    loop {
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            _ = ticker.tick() => {
                engine.tick(now(), &mut out);
                if let Ok(mut c) = shared.lock() {
                    c.clone_from(engine.counters());
                }
            }
            _ = tokio::time::sleep(Duration::from_millis(5)), if !pending.is_empty() || !acks.is_empty() => {}
            message = inbox.recv() => {
                let Some(first) = message else { break };
                let now = now();
                engine.handle(&first.topic, &first.payload, now, &mut out);
                acks.owe(&first);
                for _ in 1..BATCH {
                    match inbox.try_recv() {
                        Ok(m) => {
                            engine.handle(&m.topic, &m.payload, now, &mut out);
                            acks.owe(&m);
                        }
                        Err(_) => break,
                    }
                }
            }
        }
        acks.send(&client);
        pending.extend(out.drain(..));
        published += hand_over(&client, &mut pending);
    }

    // Shutdown: fold what already arrived, publish the final state, save it, then acknowledge
    // what the saved state holds and let the broker have the last messages. What arrives after
    // the inbox is closed is not acknowledged: the broker keeps it for the next start.
    let now = now();
    while let Ok(m) = inbox.try_recv() {
        engine.handle(&m.topic, &m.payload, now, &mut out);
        acks.owe(&m);
    }
    drop(inbox);
    engine.emit(now, &mut out);
    pending.extend(out.drain(..));
    let saved = match &config.snapshot {
        Some(path) => engine.snapshot(now).save(path).map(|()| {
            info!(path = %path.display(), sensors = engine.counters().sensors, "state saved");
        }),
        None => Ok(()),
    };
    let deadline = tokio::time::Instant::now() + FLUSH_TIMEOUT;
    while (!pending.is_empty() || !acks.is_empty()) && tokio::time::Instant::now() < deadline {
        acks.send(&client);
        published += hand_over(&client, &mut pending);
        if !pending.is_empty() || !acks.is_empty() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    let delivered = pending.is_empty() && connection.finish(published, true, FLUSH_TIMEOUT).await;
    if !delivered {
        warn!(
            unsent = pending.len(),
            "the broker did not take every last publication before the timeout"
        );
    }
    ops_shutdown.cancel();
    let _ = ops_task.await;
    saved?;
    Ok(Summary {
        counters: engine.counters().clone(),
        restored,
        delivered,
    })
}

/// Hands queued publications to the MQTT client while it has room; returns how many.
fn hand_over(client: &AsyncClient, pending: &mut VecDeque<Publish>) -> u64 {
    let mut handed = 0;
    while let Some(p) = pending.front() {
        match client.try_publish(
            p.topic.as_str(),
            QoS::AtLeastOnce,
            p.retain,
            p.payload.clone(),
        ) {
            Ok(()) => {
                pending.pop_front();
                handed += 1;
            }
            Err(rumqttc::ClientError::TryRequest(_)) => break,
            Err(error) => {
                // Only a topic rumqttc refuses lands here; the core builds valid ones.
                warn!(topic = %p.topic, %error, "publication refused by the MQTT client");
                pending.pop_front();
            }
        }
    }
    handed
}

/// The wall clock.
pub fn now() -> Timestamp {
    Timestamp::from_system_time(SystemTime::now())
}

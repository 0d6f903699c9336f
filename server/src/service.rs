//! The driver: the MQTT subscription that feeds the live state, and the HTTP server.
//!
//! Design: the server subscribes at QoS 0 with a clean session. It needs no message twice and
//! none it missed while away: on every (re)connection the broker sends the retained
//! aggregates, statuses, rolling statistics and alerts again, which rebuild the state, and the
//! next live messages follow. Nothing is acknowledged, so nothing queues on the broker for a
//! server that is gone.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use garonne_payload::Timestamp;
use garonne_service::config;
use garonne_service::host::{Handled, Host, Session, Transform};
use garonne_service::outbox::Outbox;
use garonne_service::profiles::LiveProfiles;

use garonne_neighbourhoods::Neighbourhoods;
use garonne_store::influx::Credentials;
use rumqttc::{Publish, QoS};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::app::{App, router};
use crate::config::{Config, ServiceConfig};
use crate::error::ServerError;
use crate::history::HistorySource;
use crate::live::Counters;

/// Most messages applied under one lock.
const BATCH: usize = 256;

/// How long shutdown waits for the broker to take the DISCONNECT.
const DISCONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// What a run did.
#[derive(Debug, Clone)]
pub struct Summary {
    /// The live state's counters at the end.
    pub counters: Counters,
    /// Sensors known at the end.
    pub sensors: usize,
}

/// Loads the polygons, opens the history store (credentials from `credentials`), binds the
/// HTTP address, and serves until `shutdown` is cancelled.
pub async fn run(
    config: Config,
    credentials: Credentials,
    shutdown: CancellationToken,
) -> Result<Summary, ServerError> {
    config.validate()?;
    let areas = load_neighbourhoods(&config)?;
    let history = HistorySource::open(&config.store, credentials)?;
    let listener = bind(config.http_addr).await?;
    serve(config, areas, history, listener, shutdown).await
}

/// The polygons named by the configuration.
pub fn load_neighbourhoods(c: &Config) -> Result<Neighbourhoods, ServerError> {
    let (id, name) = (c.id_property.as_deref(), c.name_property.as_deref());
    Ok(config::load_neighbourhoods(&c.neighbourhoods, id, name)?)
}

/// Binds the HTTP address (port 0 picks a free port).
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, ServerError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Bind { addr, source })
}

/// Serves on an already bound `listener` (tests bind port 0) until `shutdown` is cancelled;
/// returns once the HTTP connections and the MQTT connection are closed.
pub async fn serve(
    config: Config,
    areas: Neighbourhoods,
    history: HistorySource,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<Summary, ServerError> {
    config.validate()?;
    let topics = config.mqtt.topics();
    let app = App::new(&config, &areas, history, shutdown.clone());

    let client_id = config.mqtt.client_id("server", Session::Clean);
    let mut host = Host::new("server", config.mqtt.broker.clone(), client_id);
    host.credentials = config.mqtt.credentials.clone();
    host.session = Session::Clean;
    host.batch = BATCH;
    // QoS 0: nothing to acknowledge, so a short linger batches the live state's updates (one
    // lock per batch) at no cost but 5 ms of latency on the map.
    host.linger = Duration::from_millis(5);
    host.shutdown_grace = DISCONNECT_TIMEOUT;
    host.subscriptions = [
        topics.all_aggregates(),
        topics.all_status(),
        topics.rolling("+"),
        topics.all_alerts(),
        topics.all_readings(),
        topics.all_senml(),
    ]
    .into_iter()
    .chain(
        config
            .broker_stats
            .then(|| crate::app::BROKER_DROPPED.to_owned()),
    )
    .map(|f| (f, QoS::AtMostOnce))
    .collect();
    // Live profiles: a clean session gets the retained ones on every connection, nothing to save.
    host.profiles = Some(LiveProfiles::new(topics));
    app.set_mqtt(Arc::clone(&host.mqtt));
    let mut feed = Feed(Arc::clone(&app));
    let mqtt_shutdown = shutdown.clone();
    let feeder = tokio::spawn(async move { host.run(&mut feed, None, mqtt_shutdown).await });

    let addr = listener.local_addr().ok();
    info!(
        http = ?addr,
        broker = %config.mqtt.broker,
        neighbourhoods = areas.len(),
        history = %app.history().describe(),
        static_dir = %config.static_dir.display(),
        "server running"
    );
    let header_read_timeout = Duration::from_secs(config.header_read_timeout_secs.into());
    crate::http::serve(
        listener,
        router(Arc::clone(&app)),
        header_read_timeout,
        shutdown.clone(),
    )
    .await;

    // The host applies what already arrived and disconnects.
    let _ = feeder.await;
    let live = app.live();
    Ok(Summary {
        counters: live.counters().clone(),
        sensors: live.sensors().len(),
    })
}

/// The live state, fed by the host with what the broker sends.
struct Feed(Arc<App>);

impl Transform for Feed {
    type Error = std::convert::Infallible;

    async fn handle(
        &mut self,
        batch: &[Publish],
        now: Timestamp,
        _out: &mut Outbox,
    ) -> Result<Handled, Self::Error> {
        self.0.apply_all(
            batch.iter().map(|m| (m.topic.as_str(), m.payload.as_ref())),
            now,
        );
        Ok(Handled::Done)
    }

    async fn shutdown(&mut self, _now: Timestamp, _out: &mut Outbox) -> Result<(), Self::Error> {
        Ok(())
    }
}

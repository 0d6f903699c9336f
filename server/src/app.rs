//! The web application: its shared state ([`App`]) and its routes ([`router`]).
//!
//! ```text
//! MQTT ─► App::apply ─► Live (RwLock) ◄─ GET /api/neighbourhoods, /api/sensors, /api/alerts
//!               └────► broadcast ─────► GET /events (one receiver per client)
//! history store ◄──────────────────────  GET /api/history
//! ```

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock, RwLockReadGuard};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::DefaultBodyLimit;
use axum::routing::{any, get, post};
use garonne_neighbourhoods::Neighbourhoods;
use garonne_payload::Timestamp;
use garonne_service::ops::{self, Probe};
use garonne_service::prometheus::Exposition;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tower_http::compression::CompressionLayer;
use tower_http::services::ServeDir;
use tower_http::trace::TraceLayer;

use crate::config::Config;
use crate::geojson::Shapes;
use crate::history::HistorySource;
use crate::live::{Fanout, Ignored, Kind, Live, LiveEvent};
use crate::telemetry::Telemetry;
use crate::{api, events, pages, telemetry};

/// Largest body `POST /api/validate` reads: four times the largest SenML pack the spec accepts,
/// so a pack just too large still gets its `size` error rather than a bare 413.
pub const VALIDATE_BODY_LIMIT: usize = 1 << 20;

/// Every route, as the OpenAPI document must describe it (method, path in OpenAPI syntax).
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/"),
    ("get", "/validate"),
    ("get", "/telemetry"),
    ("get", "/static/{path}"),
    ("get", "/api/config"),
    ("get", "/api/neighbourhoods"),
    ("get", "/api/sensors"),
    ("get", "/api/history"),
    ("get", "/api/readings"),
    ("get", "/api/sessions"),
    ("get", "/api/export"),
    ("get", "/api/telemetry/devices"),
    ("get", "/api/telemetry/stream"),
    ("get", "/api/alerts"),
    ("get", "/api/schema"),
    ("get", "/api/profiles"),
    ("get", "/api/profiles/{name}"),
    ("post", "/api/validate"),
    ("get", "/api/openapi.json"),
    ("get", "/events"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
];

/// What the server counts besides the live state's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    /// `/events` clients connected now.
    pub event_clients: AtomicU64,
    /// `/events` clients refused because `max_event_clients` were connected.
    pub event_clients_refused: AtomicU64,
    /// Events written to `/events` clients.
    pub events_sent: AtomicU64,
    /// Events that slow `/events` clients skipped (they fell `events_buffer` behind).
    pub events_dropped: AtomicU64,
    /// History queries answered.
    pub history_queries: AtomicU64,
    /// History queries the store could not answer.
    pub history_failures: AtomicU64,
    /// Payloads checked by `POST /api/validate`.
    pub validations: AtomicU64,
    /// The broker's count of messages it dropped ([`BROKER_DROPPED`]), plus one; 0 while the
    /// broker has said nothing (rumqttd publishes no `$SYS` topics).
    pub broker_dropped: AtomicU64,
}

/// Where mosquitto publishes how many messages it dropped since it started (a client's queue
/// full: `max_queued_messages`/`max_queued_bytes`), every `sys_interval`, retained. The server
/// subscribes to it so that a loss at the broker shows in its `/metrics`.
pub const BROKER_DROPPED: &str = "$SYS/broker/publish/messages/dropped";

/// A GeoJSON body rendered for one generation of the live state.
///
/// Performance: `/api/neighbourhoods` is about 150 kB for the 20 quartiers, and gzip takes
/// milliseconds per copy; rendering and compressing once per change (aggregates change every
/// few seconds), not once per request, is what lets the server answer tens of thousands of
/// requests a second. The ETag lets a browser that has this generation get a 304.
#[derive(Debug)]
pub struct Rendered {
    generation: u64,
    /// `"{boot}-{generation}"`: unique across restarts, since generations start again at 0.
    pub etag: String,
    /// The JSON text.
    pub body: Bytes,
    gzip: OnceLock<Bytes>,
}

impl Rendered {
    /// The body gzipped, compressed on first use.
    pub fn gzip(&self) -> Bytes {
        self.gzip
            .get_or_init(|| {
                use std::io::Write;
                let mut encoder = flate2::write::GzEncoder::new(
                    Vec::with_capacity(self.body.len() / 3),
                    flate2::Compression::default(),
                );
                // Writing to a Vec cannot fail.
                let _ = encoder.write_all(&self.body);
                Bytes::from(encoder.finish().unwrap_or_default())
            })
            .clone()
    }
}

/// The latest rendering of a body.
type Cache = Mutex<Option<Arc<Rendered>>>;

/// The state every handler shares.
pub struct App {
    live: RwLock<Live>,
    shapes: Shapes,
    events: broadcast::Sender<LiveEvent>,
    history: HistorySource,
    config: Config,
    schema_body: Bytes,
    static_dir: PathBuf,
    max_event_clients: usize,
    metrics: Metrics,
    mqtt: OnceLock<Arc<garonne_service::mqtt::Counters>>,
    shutdown: CancellationToken,
    boot: u64,
    neighbourhoods_cache: Cache,
    sensors_cache: Cache,
    telemetry: Telemetry,
}

impl App {
    /// The state for `config`, the polygons `areas` and the history store `history`. Event
    /// streams end when `shutdown` is cancelled, so the HTTP server can drain.
    pub fn new(
        config: &Config,
        areas: &Neighbourhoods,
        history: HistorySource,
        shutdown: CancellationToken,
    ) -> Arc<App> {
        let shapes = Shapes::new(areas);
        let topics = config.mqtt.topics().clone();
        let telemetry = Telemetry::default();
        let live = Live::new(topics, shapes.ids().map(str::to_owned), config.max_sensors)
            .forget_after(Duration::from_secs(config.forget_sensors_after_secs.into()));
        let (events, _) = broadcast::channel(config.events_buffer);
        Arc::new(App {
            live: RwLock::new(live),
            shapes,
            events,
            history,
            config: config.clone(),
            schema_body: Bytes::from(garonne_payload::json_schema().to_string()),
            static_dir: config.static_dir.clone(),
            max_event_clients: config.max_event_clients,
            metrics: Metrics::default(),
            mqtt: OnceLock::new(),
            shutdown,
            boot: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64),
            neighbourhoods_cache: Mutex::new(None),
            sensors_cache: Mutex::new(None),
            telemetry,
        })
    }

    /// Applies one MQTT message received at `now` and fans out what it changed to `/events`.
    pub fn apply(&self, topic: &str, payload: &[u8], now: Timestamp) -> Result<Kind, Ignored> {
        let mut out = Fanout::default();
        let result = self.live_mut().apply(topic, payload, now, &mut out);
        self.fan_out(out);
        result
    }

    /// Applies a batch of messages under one lock, then fans out.
    pub fn apply_all<'a>(
        &self,
        messages: impl IntoIterator<Item = (&'a str, &'a [u8])>,
        now: Timestamp,
    ) {
        let mut out = Fanout::default();
        {
            let mut live = self.live_mut();
            for (topic, payload) in messages {
                if topic == BROKER_DROPPED {
                    self.broker_said_dropped(payload);
                    continue;
                }
                let _ = live.apply(topic, payload, now, &mut out);
            }
        }
        self.fan_out(out);
    }

    /// Keeps the broker's count of dropped messages, if `payload` is one.
    fn broker_said_dropped(&self, payload: &[u8]) {
        if let Some(count) = std::str::from_utf8(payload)
            .ok()
            .and_then(|text| text.trim().parse::<u64>().ok())
        {
            self.metrics
                .broker_dropped
                .store(count.saturating_add(1), Ordering::Relaxed);
        }
    }

    /// Hands on what the live state produced, once its lock is released: events to `/events`
    /// clients, readings to the telemetry streams.
    fn fan_out(&self, out: Fanout) {
        for event in out.events {
            // No receiver (no client connected) is no error.
            let _ = self.events.send(event);
        }
        for parsed in &out.readings {
            self.telemetry.offer(parsed);
        }
    }

    /// The live state, for reading.
    pub fn live(&self) -> RwLockReadGuard<'_, Live> {
        self.live.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn live_mut(&self) -> std::sync::RwLockWriteGuard<'_, Live> {
        self.live.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// A receiver of every live event from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<LiveEvent> {
        self.events.subscribe()
    }

    /// The telemetry streams.
    pub fn telemetry(&self) -> &Telemetry {
        &self.telemetry
    }

    /// The history store.
    pub fn history(&self) -> &HistorySource {
        &self.history
    }

    /// The `/api/config` object (also embedded in the pages), made now: the catalogue and the
    /// quantities with live data change while the server runs.
    pub fn ui(&self) -> serde_json::Value {
        api::ui_config(&self.config, &self.live())
    }

    /// The payload JSON Schema body.
    pub fn schema_body(&self) -> Bytes {
        self.schema_body.clone()
    }

    /// Where the built front-end is.
    pub fn static_dir(&self) -> &std::path::Path {
        &self.static_dir
    }

    /// Most `/events` clients at once.
    pub fn max_event_clients(&self) -> usize {
        self.max_event_clients
    }

    /// The counters.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Cancelled when the server stops.
    pub fn shutdown(&self) -> &CancellationToken {
        &self.shutdown
    }

    /// Records the MQTT connection's counters, for `/readyz` and `/metrics`.
    pub fn set_mqtt(&self, counters: Arc<garonne_service::mqtt::Counters>) {
        let _ = self.mqtt.set(counters);
    }

    /// Whether the server is connected to its broker.
    pub fn ready(&self) -> bool {
        self.mqtt
            .get()
            .is_some_and(|c| c.connected.load(Ordering::Relaxed))
    }

    /// The `/api/neighbourhoods` body, rendered again only after an aggregate changed.
    pub fn neighbourhoods_body(&self) -> Arc<Rendered> {
        self.cached(
            &self.neighbourhoods_cache,
            |live| live.generations().neighbourhoods,
            |live| self.shapes.render(live),
        )
    }

    /// The `/api/sensors` body, rendered again only after a sensor changed.
    pub fn sensors_body(&self) -> Arc<Rendered> {
        self.cached(
            &self.sensors_cache,
            |live| live.generations().sensors,
            Live::sensors_geojson,
        )
    }

    /// The body in `cache` if it is of the live state's current generation, else a new
    /// rendering.
    fn cached(
        &self,
        cache: &Cache,
        generation: impl Fn(&Live) -> u64,
        render: impl Fn(&Live) -> String,
    ) -> Arc<Rendered> {
        let live = self.live();
        let current = generation(&live);
        if let Some(rendered) = &*cache.lock().unwrap_or_else(PoisonError::into_inner)
            && rendered.generation == current
        {
            return Arc::clone(rendered);
        }
        let body = Bytes::from(render(&live));
        drop(live);
        let rendered = Arc::new(Rendered {
            generation: current,
            etag: format!("\"{:x}-{current}\"", self.boot),
            body,
            gzip: OnceLock::new(),
        });
        *cache.lock().unwrap_or_else(PoisonError::into_inner) = Some(Arc::clone(&rendered));
        rendered
    }

    /// `/metrics` in the Prometheus text format.
    pub fn metrics_text(&self) -> String {
        let mut e = Exposition::new();
        {
            let live = self.live();
            let c = live.counters();
            let by_kind = |values: &[u64; Kind::ALL.len()]| {
                Kind::ALL
                    .into_iter()
                    .zip(*values)
                    .map(|(k, v)| (k.as_str(), v))
                    .collect::<Vec<_>>()
            };
            e.counter_by(
                "garonne_server_messages_total",
                "MQTT messages applied to the live state, by kind.",
                "kind",
                by_kind(&c.applied),
            )
            .counter_by(
                "garonne_server_messages_invalid_total",
                "MQTT messages refused (invalid, or another id than their topic's), by kind.",
                "kind",
                by_kind(&c.invalid),
            )
            .counter_by(
                "garonne_server_messages_removed_total",
                "Empty retained messages that removed a kept message, by kind.",
                "kind",
                by_kind(&c.removed),
            )
            .counter(
                "garonne_server_unknown_neighbourhoods_total",
                "Aggregates of neighbourhoods the polygon file does not have.",
                c.unknown_neighbourhoods,
            )
            .counter(
                "garonne_server_sensors_refused_total",
                "Messages of new sensors refused because max_sensors are kept.",
                c.sensors_refused,
            )
            .counter(
                "garonne_server_sensors_forgotten_total",
                "Sensors forgotten, silent for longer than forget_sensors_after_secs, to make room.",
                c.sensors_forgotten,
            )
            .counter(
                "garonne_server_events_too_large_total",
                "Messages kept for the API but not sent to /events clients, being over 16 KiB.",
                c.events_too_large,
            )
            .counter(
                "garonne_server_alerts_refused_total",
                "New raised alerts refused because the most active alerts are kept.",
                c.alerts_refused,
            )
            .gauge(
                "garonne_server_sensors",
                "Sensors kept in memory.",
                live.sensors().len() as f64,
            )
            .gauge(
                "garonne_server_alerts_active",
                "Alerts raised now.",
                live.alerts().count() as f64,
            );
        }
        let m = &self.metrics;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        e.gauge(
            "garonne_server_event_clients",
            "Clients connected to /events.",
            load(&m.event_clients) as f64,
        )
        .counter(
            "garonne_server_event_clients_refused_total",
            "Clients refused at /events because max_event_clients were connected.",
            load(&m.event_clients_refused),
        )
        .counter(
            "garonne_server_events_sent_total",
            "Events written to /events clients.",
            load(&m.events_sent),
        )
        .counter(
            "garonne_server_events_dropped_total",
            "Events skipped by /events clients that fell events_buffer behind.",
            load(&m.events_dropped),
        )
        .counter(
            "garonne_server_history_queries_total",
            "History queries answered.",
            load(&m.history_queries),
        )
        .counter(
            "garonne_server_history_failures_total",
            "History queries the store could not answer.",
            load(&m.history_failures),
        )
        .counter(
            "garonne_server_validations_total",
            "Payloads checked by POST /api/validate.",
            load(&m.validations),
        );
        if let Some(dropped) = load(&m.broker_dropped).checked_sub(1) {
            e.gauge(
                "garonne_server_broker_messages_dropped",
                "Messages the broker dropped since it started (a client's queue full), as \
                 mosquitto counts them in $SYS/broker/publish/messages/dropped.",
                dropped as f64,
            );
        }
        self.telemetry.render_metrics(&mut e);
        if let Some(mqtt) = self.mqtt.get() {
            mqtt.render("server", &mut e);
        }
        e.finish()
    }
}

/// Every route: pages, API, events, static files, `/healthz`, `/readyz`, `/metrics`.
pub fn router(app: Arc<App>) -> Router {
    let probe = Probe {
        ready: {
            let app = Arc::clone(&app);
            Arc::new(move || app.ready())
        },
        metrics: {
            let app = Arc::clone(&app);
            Arc::new(move || app.metrics_text())
        },
    };
    let static_files = ServeDir::new(app.static_dir());
    Router::new()
        .route("/", get(pages::map))
        .route("/validate", get(pages::validate))
        .route("/telemetry", get(pages::telemetry))
        .route("/api/config", get(api::config))
        .route("/api/neighbourhoods", get(api::neighbourhoods))
        .route("/api/sensors", get(api::sensors))
        .route("/api/history", get(api::history))
        .route("/api/readings", get(api::readings))
        .route("/api/sessions", get(api::sessions))
        .route("/api/export", get(crate::export::export))
        .route("/api/alerts", get(api::alerts))
        .route("/api/schema", get(api::schema))
        .route("/api/profiles", get(api::profiles))
        .route("/api/profiles/{name}", get(api::profile))
        .route(
            "/api/validate",
            post(api::validate).layer(DefaultBodyLimit::max(VALIDATE_BODY_LIMIT)),
        )
        .route("/api/openapi.json", get(api::openapi))
        .route("/api/telemetry/devices", get(telemetry::devices))
        .route("/api/telemetry/stream", get(telemetry::stream))
        .route("/api/{*rest}", any(api::no_such_route))
        .route("/events", get(events::events))
        .nest_service("/static", static_files)
        .with_state(app)
        .merge(ops::router(probe))
        .method_not_allowed_fallback(api::method_not_allowed)
        .layer(CompressionLayer::new())
        .layer(TraceLayer::new_for_http().on_failure(()))
}

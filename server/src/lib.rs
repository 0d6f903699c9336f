//! Garonne server: what people open in their browser. The live neighbourhood map and the
//! payload validator pages, the JSON/GeoJSON API behind them (described by an OpenAPI 3.1
//! document at `/api/openapi.json`), live updates as Server-Sent Events on `/events`, and
//! `/healthz`, `/readyz`, `/metrics` — all on one address (docs/architecture.md, server/CONTRACT.md).
//!
//! Reads, over MQTT (QoS 0, clean session): `{prefix}/v1/neighbourhoods/+/aggregate`,
//! `.../sensors/+/status`, `.../sensors/+/rolling`, `.../alerts/#` (retained: they rebuild the
//! state at every connection) and the live `.../sensors/+/reading` and `.../senml`. Reads history
//! from the store the historian writes (the embedded SQLite file, or InfluxDB through InfluxQL).
//! Writes nothing to MQTT.
//!
//! # Layout
//! - [`config`]: the TOML configuration and its checks.
//! - [`live`]: the live state, a pure transform of MQTT messages (latest per neighbourhood and
//!   sensor, active alerts), and the events it fans out.
//! - [`geojson`]: the polygons as GeoJSON, rendered once.
//! - [`history`]: the history store, and the parameters of `/api/history`.
//! - [`readings`]: raw readings and sessions from the same store, for `/api/readings` and
//!   `/api/sessions`.
//! - [`export`]: `/api/export`, stored readings as a CSV or Parquet download, streamed.
//! - [`app`]: the shared state, the routes, `/metrics`.
//! - [`api`]: the `/api` handlers and the OpenAPI document.
//! - [`events`]: `/events`, Server-Sent Events from a broadcast channel.
//! - [`pages`]: the askama page shells, French and English.
//! - [`error`]: API errors (JSON with what to fix) and start-up errors.
//! - [`telemetry`]: the telemetry page's devices and its shared, decimated live streams.
//! - [`service`]: the MQTT feed and the HTTP server: [`run`] and [`serve`].
//! - `http`: the HTTP/1.1 connection loop, with its bound on the time to send headers.

pub mod api;
pub mod app;
pub mod config;
pub mod error;
pub mod events;
pub mod export;
pub mod geojson;
pub mod history;
mod http;
pub mod live;
pub mod pages;
pub mod readings;
pub mod service;
pub mod telemetry;

pub use app::{App, BROKER_DROPPED, router};
pub use config::{Config, ConfigError, StoreConfig};
pub use error::{ApiError, ServerError};
pub use history::HistorySource;
pub use service::{Summary, bind, load_neighbourhoods, run, serve};

//! Garonne historian: readings, aggregates, alerts and statuses from MQTT into InfluxDB (1.x
//! through the v1 API, 2.x/3.x and VictoriaMetrics through the v2 API) or into the embedded
//! store, losing nothing when the database, the broker or the historian itself goes away
//! (ARCHITECTURE §7, docs/historian.md).
//!
//! - [`point`]: a point of the schema (measurement, tags, fields, time), what every store takes.
//! - [`schema`]: MQTT messages into points: the documented measurements, tags and fields.
//! - [`lineproto`]: the InfluxDB line-protocol encoder, a pure function.
//! - [`store`]: the [`store::Store`] trait a sink implements, and its error classes.
//! - [`history`]: the history queries the server asks, the same answers from every store.
//! - [`influx`]: InfluxDB stores (v1 and v2 write APIs) and InfluxQL history.
//! - [`embedded`]: the embedded store (SQLite), readable by another process while written.

pub mod backend;
pub mod config;
pub mod embedded;
pub mod history;
pub mod influx;
pub mod lineproto;
pub mod metrics;
pub mod point;
pub mod schema;
pub mod service;
pub mod spool;
pub mod store;

pub use config::{Config, Secrets};
pub use service::{HistorianError, Summary, serve};

use tokio_util::sync::CancellationToken;

/// Runs the historian until `shutdown`: binds the metrics address, opens the store the
/// configuration names (secrets from `secrets`), then [`serve`]s.
pub async fn run(
    config: Config,
    secrets: Secrets,
    shutdown: CancellationToken,
) -> Result<Summary, HistorianError> {
    config.validate()?;
    let listener = garonne_service::ops::bind(config.metrics_addr).await?;
    let store = backend::open(&config.store, &secrets).await?;
    serve(config, store, listener, shutdown).await
}

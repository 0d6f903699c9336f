//! Garonne historian: readings, aggregates, alerts and statuses from MQTT into a store of
//! `garonne-store` (InfluxDB 1.x through the v1 API, 2.x/3.x and VictoriaMetrics through the
//! v2 API, or the embedded store), losing nothing when the database, the broker or the
//! historian itself goes away (docs/historian.md).
//!
//! Reads, over MQTT (QoS 1, a persistent session): `{prefix}/v1/sensors/+/reading`,
//! `.../senml`, `.../status`, `.../neighbourhoods/+/aggregate` and `.../alerts/#`. Writes
//! nothing to MQTT.
//!
//! # Layout
//! - [`config`]: the TOML configuration and its checks (the `[store]` block is
//!   [`garonne_store::StoreConfig`]).
//! - [`schema`]: MQTT messages into points: the documented measurements, tags and fields.
//! - [`spool`]: the disk buffer between the broker and the store.
//! - [`metrics`]: the historian's `/metrics`.
//! - [`service`]: the driver: MQTT in, the spool, batches out to the store.

pub mod config;
pub mod metrics;
pub mod schema;
pub mod service;
pub mod spool;

pub use config::{Config, ServiceConfig};
pub use service::{HistorianError, Summary, serve};

use garonne_store::{Credentials, backend};
use tokio_util::sync::CancellationToken;

/// Runs the historian until `shutdown`: binds the metrics address, opens the store the
/// configuration names (InfluxDB `credentials` read from the environment by the caller), then
/// [`serve`]s.
pub async fn run(
    config: Config,
    credentials: Credentials,
    shutdown: CancellationToken,
) -> Result<Summary, HistorianError> {
    config.validate()?;
    let listener = garonne_service::ops::bind(config.metrics_addr).await?;
    let store = backend::open(&config.store, &credentials)
        .await
        .map_err(|e| HistorianError::Store {
            store: e.store,
            source: e.source,
        })?;
    serve(config, store, listener, shutdown).await
}

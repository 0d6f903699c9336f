//! The store a configuration names, opened: one type over every [`Store`], so the historian's
//! driver is compiled once.

use garonne_payload::Timestamp;
use tracing::{info, warn};

use crate::config::StoreConfig;
use crate::embedded::EmbeddedStore;
use crate::influx::{Credentials, InfluxV1, InfluxV2};
use crate::point::Point;
use crate::store::{Store, StoreError};

/// One of the stores.
pub enum Backend {
    /// InfluxDB 1.x.
    InfluxV1(InfluxV1),
    /// InfluxDB 2.x/3.x or VictoriaMetrics.
    InfluxV2(InfluxV2),
    /// The embedded store.
    Embedded(EmbeddedStore),
}

/// Why a store could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("cannot open the {store} store")]
pub struct OpenError {
    /// Which store: `InfluxDB (v1 API)`, `InfluxDB (v2 API)`, `embedded`.
    pub store: &'static str,
    /// Why.
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

impl OpenError {
    /// The error of `store`, for `source`.
    fn of(store: &'static str) -> impl Fn(Box<dyn std::error::Error + Send + Sync>) -> OpenError {
        move |source| OpenError { store, source }
    }
}

/// Opens the store `config` names, with `credentials` (read from the environment by the
/// caller). An InfluxDB that does not answer yet is no error: the historian's spool keeps
/// everything until it does.
pub async fn open(config: &StoreConfig, credentials: &Credentials) -> Result<Backend, OpenError> {
    match config {
        StoreConfig::InfluxV1(c) => {
            let failed = OpenError::of("InfluxDB (v1 API)");
            let store = InfluxV1::new(&c.url, &c.db, credentials.clone())
                .map_err(|e| failed(Box::new(e)))?;
            match store.check().await {
                Ok(()) => info!(url = %c.url, db = %c.db, "InfluxDB answers"),
                Err(e) => {
                    warn!(url = %c.url, db = %c.db, error = %e, "InfluxDB does not take writes yet; the spool keeps everything until it does")
                }
            }
            Ok(Backend::InfluxV1(store))
        }
        StoreConfig::InfluxV2(c) => {
            let failed = OpenError::of("InfluxDB (v2 API)");
            let store = InfluxV2::new(&c.url, &c.org, &c.bucket, credentials.token())
                .map_err(|e| failed(Box::new(e)))?;
            Ok(Backend::InfluxV2(store))
        }
        StoreConfig::Embedded(c) => {
            let failed = OpenError::of("embedded");
            if let Some(dir) = c.path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| failed(Box::new(e)))?;
            }
            let store = EmbeddedStore::open(&c.path, c.retention())
                .await
                .map_err(|e| failed(Box::new(e)))?;
            info!(path = %c.path.display(), "embedded store open");
            Ok(Backend::Embedded(store))
        }
    }
}

impl Store for Backend {
    fn name(&self) -> &'static str {
        match self {
            Backend::InfluxV1(s) => s.name(),
            Backend::InfluxV2(s) => s.name(),
            Backend::Embedded(s) => s.name(),
        }
    }

    fn concurrent(&self) -> Option<Self> {
        match self {
            Backend::InfluxV1(s) => s.concurrent().map(Backend::InfluxV1),
            Backend::InfluxV2(s) => s.concurrent().map(Backend::InfluxV2),
            Backend::Embedded(s) => s.concurrent().map(Backend::Embedded),
        }
    }

    async fn write(&mut self, points: &[Point]) -> Result<(), StoreError> {
        match self {
            Backend::InfluxV1(s) => s.write(points).await,
            Backend::InfluxV2(s) => s.write(points).await,
            Backend::Embedded(s) => s.write(points).await,
        }
    }

    async fn maintain(&mut self, now: Timestamp) -> Result<(), StoreError> {
        match self {
            Backend::InfluxV1(s) => s.maintain(now).await,
            Backend::InfluxV2(s) => s.maintain(now).await,
            Backend::Embedded(s) => s.maintain(now).await,
        }
    }
}

//! The store a configuration names, opened: one type over every [`Store`], so the driver is
//! compiled once.

use garonne_payload::Timestamp;
use tracing::{info, warn};

use std::time::Duration;

use crate::config::{InfluxApi, Secrets, StoreConfig, StoreKind};
use crate::embedded::{EmbeddedStore, Retention};
use crate::influx::{Credentials, InfluxV1, InfluxV2};
use crate::point::Point;
use crate::service::HistorianError;
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

/// Opens the store `config` names, with `secrets` from the environment. An InfluxDB that does
/// not answer yet is no error: the spool keeps everything until it does.
pub async fn open(config: &StoreConfig, secrets: &Secrets) -> Result<Backend, HistorianError> {
    let failed = |store: &'static str| {
        move |e: crate::influx::ConfigError| HistorianError::Store {
            store,
            source: Box::new(e),
        }
    };
    match (config.kind, config.api) {
        (StoreKind::Influx, InfluxApi::V1) => {
            let credentials = match (&secrets.username, &secrets.password) {
                (Some(username), password) => Credentials::Basic {
                    username: username.clone(),
                    password: password.clone().unwrap_or_default(),
                },
                (None, _) => Credentials::None,
            };
            let store = InfluxV1::new(&config.url, &config.db, credentials)
                .map_err(failed("InfluxDB (v1 API)"))?;
            match store.check().await {
                Ok(()) => info!(url = %config.url, db = %config.db, "InfluxDB answers"),
                Err(e) => {
                    warn!(url = %config.url, db = %config.db, error = %e, "InfluxDB does not take writes yet; the spool keeps everything until it does")
                }
            }
            Ok(Backend::InfluxV1(store))
        }
        (StoreKind::Influx, InfluxApi::V2) => {
            let token = secrets.token.clone().unwrap_or_default();
            let store = InfluxV2::new(&config.url, &config.org, &config.bucket, &token)
                .map_err(failed("InfluxDB (v2 API)"))?;
            Ok(Backend::InfluxV2(store))
        }
        (StoreKind::Embedded, _) => {
            let days = |d: u32| Duration::from_secs(u64::from(d) * 86_400);
            let retention = Retention {
                raw: days(config.raw_retention_days),
                hourly: days(config.hourly_retention_days),
            };
            if let Some(dir) = config.path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| HistorianError::Store {
                    store: "embedded",
                    source: Box::new(e),
                })?;
            }
            let store = EmbeddedStore::open(&config.path, retention)
                .await
                .map_err(|e| HistorianError::Store {
                    store: "embedded",
                    source: Box::new(e),
                })?;
            info!(path = %config.path.display(), "embedded store open");
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

//! The store flags `garonne historian` and `garonne serve` share: the historian writes the
//! store that the server reads, so both take the same flags and the same `[store]` block.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use garonne_historian::config::{InfluxApi, StoreConfig, StoreKind};

/// Which store, on the command line.
#[derive(Clone, Copy, ValueEnum)]
enum StoreArg {
    /// InfluxDB (or VictoriaMetrics through the v2 API).
    Influx,
    /// The embedded store: a SQLite file the historian writes and `garonne serve` reads.
    Embedded,
}

/// Which InfluxDB API, on the command line.
#[derive(Clone, Copy, ValueEnum)]
enum ApiArg {
    /// InfluxDB 1.x: --db; credentials from INFLUX_USERNAME and INFLUX_PASSWORD.
    V1,
    /// InfluxDB 2.x/3.x: --org and --bucket to write, --db (mapped to the bucket, DBRP) to
    /// read; token from INFLUX_TOKEN.
    V2,
}

/// The store flags. Each one overrides the `[store]` block of the configuration file.
#[derive(Args)]
pub struct StoreArgs {
    /// The history store.
    #[arg(long, value_enum)]
    store: Option<StoreArg>,
    /// Embedded store: the database file (default: history.sqlite in the data folder).
    #[arg(long)]
    store_path: Option<PathBuf>,
    /// InfluxDB base URL, e.g. http://127.0.0.1:8086.
    #[arg(long, env = "GARONNE_INFLUX_URL")]
    influx_url: Option<String>,
    /// InfluxDB API generation.
    #[arg(long, value_enum)]
    influx_api: Option<ApiArg>,
    /// InfluxDB database (1.x; for 2.x/3.x the name mapped to the bucket, used to read).
    #[arg(long)]
    db: Option<String>,
    /// InfluxDB 2.x/3.x organisation.
    #[arg(long)]
    org: Option<String>,
    /// InfluxDB 2.x/3.x bucket.
    #[arg(long)]
    bucket: Option<String>,
}

impl StoreArgs {
    /// Writes the flags given over `store`.
    pub fn apply(self, store: &mut StoreConfig) {
        if let Some(v) = self.store {
            store.kind = match v {
                StoreArg::Influx => StoreKind::Influx,
                StoreArg::Embedded => StoreKind::Embedded,
            };
        }
        if let Some(v) = self.store_path {
            store.path = v;
        }
        if let Some(v) = self.influx_url {
            store.url = v;
        }
        if let Some(v) = self.influx_api {
            store.api = match v {
                ApiArg::V1 => InfluxApi::V1,
                ApiArg::V2 => InfluxApi::V2,
            };
        }
        if let Some(v) = self.db {
            store.db = v;
        }
        if let Some(v) = self.org {
            store.org = v;
        }
        if let Some(v) = self.bucket {
            store.bucket = v;
        }
    }
}

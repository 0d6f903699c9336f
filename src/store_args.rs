//! The store flags `garonne historian` and `garonne serve` share: the historian writes the
//! store that the server reads, so both take the same flags and the same `[store]` block; and
//! the InfluxDB credentials, which both read from the environment here, never in a library.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use garonne_store::config::{StoreConfig, StoreKind};
use garonne_store::influx::{Credentials, PASSWORD_VAR, TOKEN_VAR, USERNAME_VAR};

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

/// The store flags. Each one overrides the `[store]` block of the configuration file; a flag
/// of another kind of store than the one chosen is ignored.
#[derive(Args)]
pub struct StoreArgs {
    /// The history store (`kind` of the `[store]` block: embedded, or influx-v1 / influx-v2
    /// with --influx-api).
    #[arg(long, value_enum)]
    store: Option<StoreArg>,
    /// Embedded store: the database file (default: history.sqlite in the data folder).
    #[arg(long)]
    store_path: Option<PathBuf>,
    /// InfluxDB base URL, e.g. http://127.0.0.1:8086.
    #[arg(long, env = "GARONNE_INFLUX_URL")]
    influx_url: Option<String>,
    /// InfluxDB API generation (default v1, or the configuration file's).
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
    /// `store` with the flags given written over it.
    pub fn apply(self, store: StoreConfig) -> StoreConfig {
        let api = |api: ApiArg| match api {
            ApiArg::V1 => StoreKind::InfluxV1,
            ApiArg::V2 => StoreKind::InfluxV2,
        };
        let current = store.kind();
        let kind = match (self.store, self.influx_api) {
            (Some(StoreArg::Embedded), _) => StoreKind::Embedded,
            (Some(StoreArg::Influx), Some(v)) => api(v),
            (Some(StoreArg::Influx), None) if current == StoreKind::Embedded => StoreKind::InfluxV1,
            (None, Some(v)) if current != StoreKind::Embedded => api(v),
            (Some(StoreArg::Influx) | None, _) => current,
        };
        let mut store = store.into_kind(kind);
        match &mut store {
            StoreConfig::Embedded(c) => set(&mut c.path, self.store_path),
            StoreConfig::InfluxV1(c) => {
                set(&mut c.url, self.influx_url);
                set(&mut c.db, self.db);
            }
            StoreConfig::InfluxV2(c) => {
                set(&mut c.url, self.influx_url);
                set(&mut c.db, self.db);
                set(&mut c.org, self.org);
                set(&mut c.bucket, self.bucket);
            }
        }
        store
    }
}

/// Writes `flag` over `value` if it was given.
fn set<T>(value: &mut T, flag: Option<T>) {
    if let Some(v) = flag {
        *value = v;
    }
}

/// The InfluxDB credentials of the environment: a token from `INFLUX_TOKEN`, else a user from
/// `INFLUX_USERNAME` and `INFLUX_PASSWORD`, else none (empty variables count as unset).
pub fn influx_credentials() -> Credentials {
    let var = |name| std::env::var(name).ok();
    Credentials::from_values(var(TOKEN_VAR), var(USERNAME_VAR), var(PASSWORD_VAR))
}

#[cfg(test)]
mod tests {
    use clap::Parser;
    use garonne_store::config::{InfluxV1Config, InfluxV2Config};

    use super::*;

    /// A command with the store flags only.
    #[derive(Parser)]
    struct Command {
        #[command(flatten)]
        store: StoreArgs,
    }

    fn apply(flags: &[&str], store: StoreConfig) -> StoreConfig {
        let args = std::iter::once("garonne").chain(flags.iter().copied());
        Command::parse_from(args).store.apply(store)
    }

    #[test]
    fn the_flags_choose_the_kind_and_write_its_keys() {
        let embedded = StoreConfig::default();
        assert_eq!(
            apply(&["--store-path", "h.sqlite", "--db", "x"], embedded.clone()),
            StoreConfig::embedded("h.sqlite".into())
        );
        assert_eq!(
            apply(&["--store", "influx", "--db", "city"], embedded.clone()),
            StoreConfig::InfluxV1(InfluxV1Config {
                db: "city".into(),
                ..InfluxV1Config::default()
            })
        );
        let v2 = apply(
            &[
                "--store",
                "influx",
                "--influx-api",
                "v2",
                "--org",
                "o",
                "--bucket",
                "b",
            ],
            embedded.clone(),
        );
        assert_eq!(
            v2,
            StoreConfig::InfluxV2(InfluxV2Config {
                org: "o".into(),
                bucket: "b".into(),
                ..InfluxV2Config::default()
            })
        );
        // The file's kind stays unless a flag changes it; the API alone switches between
        // the Influx kinds only.
        assert_eq!(
            apply(&["--db", "x"], v2.clone()).kind(),
            StoreKind::InfluxV2
        );
        assert_eq!(apply(&["--store", "influx"], v2.clone()), v2);
        assert_eq!(
            apply(&["--influx-api", "v1"], v2).kind(),
            StoreKind::InfluxV1
        );
        assert_eq!(apply(&["--influx-api", "v2"], embedded.clone()), embedded);
    }
}

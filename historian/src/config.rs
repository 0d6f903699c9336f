//! The historian's configuration: a TOML file (`--config`), every key overridable by a flag.
//! Units are in the names; defaults live in [`Config::default`]. Secrets never live here: the
//! InfluxDB token and credentials come from the environment ([`Secrets`]).
//!
//! ```toml
//! broker = "mqtt://127.0.0.1:1883"
//! spool_dir = "data/historian-spool"
//!
//! [store]
//! kind = "influx"            # or "embedded"
//! url = "http://127.0.0.1:8086"
//! api = "v1"                 # v1: InfluxDB 1.x (db); v2: InfluxDB 2.x/3.x (org, bucket)
//! db = "garonne"
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use garonne_payload::Topics;
use garonne_service::mqtt::BrokerUrl;
use serde::{Deserialize, Serialize};

/// Everything `garonne historian` needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The MQTT broker, `mqtt://HOST:PORT`.
    pub broker: String,
    /// MQTT client id: fixed, so the broker keeps the session (and queues messages) while the
    /// historian is down. Historians sharing the stream need one id each.
    pub client_id: String,
    /// Topic prefix (`garonne`: topics under `garonne/v1/`).
    pub topic_prefix: String,
    /// Share the stream with the other historians of this group (MQTT shared subscriptions,
    /// `$share/{group}/...`): each message goes to one of them.
    pub shared_group: Option<String>,
    /// Where messages wait, on disk, between the broker and the store.
    pub spool_dir: PathBuf,
    /// Largest size of the spool, bytes; when it is full the historian stops taking messages
    /// and the broker keeps them.
    pub spool_max_bytes: u64,
    /// Size of one spool segment file, bytes.
    pub spool_segment_bytes: u64,
    /// Most points written to the store in one request.
    pub batch_points: usize,
    /// Longest wait for a batch to fill before it is written anyway, milliseconds.
    pub flush_interval_ms: u64,
    /// Address of `/healthz`, `/readyz` and `/metrics`.
    pub metrics_addr: SocketAddr,
    /// Where points go.
    pub store: StoreConfig,
}

/// Which store, and where.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StoreKind {
    /// InfluxDB (or any server speaking its write API, e.g. VictoriaMetrics).
    Influx,
    /// The embedded store: a SQLite file the web server reads.
    Embedded,
}

/// Which InfluxDB write API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InfluxApi {
    /// InfluxDB 1.x: `/write?db=`, credentials `INFLUX_USERNAME` / `INFLUX_PASSWORD`.
    V1,
    /// InfluxDB 2.x/3.x (and VictoriaMetrics): org and bucket, token `INFLUX_TOKEN`.
    V2,
}

/// The store's settings; the keys of the other kind are ignored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// `influx` or `embedded`.
    pub kind: StoreKind,
    /// Embedded: the database file.
    pub path: PathBuf,
    /// Embedded: how long raw readings are kept, days.
    pub raw_retention_days: u32,
    /// Embedded: how long hourly roll-ups, aggregates, alerts and statuses are kept, days.
    pub hourly_retention_days: u32,
    /// InfluxDB: base URL.
    pub url: String,
    /// InfluxDB: `v1` or `v2`.
    pub api: InfluxApi,
    /// InfluxDB 1.x: database.
    pub db: String,
    /// InfluxDB 2.x/3.x: organisation.
    pub org: String,
    /// InfluxDB 2.x/3.x: bucket.
    pub bucket: String,
}

impl StoreConfig {
    /// Checks the store's values; the error says what is wrong and how to fix it.
    pub fn validate(&self) -> Result<(), String> {
        let store = self;
        match store.kind {
            StoreKind::Embedded => {
                if store.raw_retention_days == 0
                    || store.hourly_retention_days < store.raw_retention_days
                {
                    return Err(format!(
                        "retention of {} days raw and {} days hourly: keep raw readings at least \
                         a day, and hourly roll-ups at least as long as raw readings",
                        store.raw_retention_days, store.hourly_retention_days
                    ));
                }
            }
            StoreKind::Influx => {
                if !(store.url.starts_with("http://") || store.url.starts_with("https://")) {
                    return Err(format!(
                        "InfluxDB URL \"{}\" is not valid: write it like http://127.0.0.1:8086",
                        store.url
                    ));
                }
                let empty = match store.api {
                    InfluxApi::V1 => store.db.is_empty().then_some("db (--db)"),
                    InfluxApi::V2 if store.org.is_empty() => Some("org (--org)"),
                    InfluxApi::V2 => store.bucket.is_empty().then_some("bucket (--bucket)"),
                };
                if let Some(what) = empty {
                    return Err(format!("the InfluxDB {what} is empty: give one"));
                }
            }
        }
        Ok(())
    }
}

impl Default for StoreConfig {
    fn default() -> StoreConfig {
        StoreConfig {
            kind: StoreKind::Embedded,
            path: PathBuf::from("data/history.sqlite"),
            raw_retention_days: 7,
            hourly_retention_days: 400,
            url: "http://127.0.0.1:8086".to_owned(),
            api: InfluxApi::V1,
            db: "garonne".to_owned(),
            org: "garonne".to_owned(),
            bucket: "garonne".to_owned(),
        }
    }
}

impl Default for Config {
    fn default() -> Config {
        Config {
            broker: "mqtt://127.0.0.1:1883".to_owned(),
            client_id: "garonne-historian".to_owned(),
            topic_prefix: "garonne".to_owned(),
            shared_group: None,
            spool_dir: PathBuf::from("data/historian-spool"),
            spool_max_bytes: 1 << 30,
            spool_segment_bytes: 64 << 20,
            batch_points: 5000,
            flush_interval_ms: 1000,
            metrics_addr: SocketAddr::from(([127, 0, 0, 1], 9182)),
            store: StoreConfig::default(),
        }
    }
}

/// Secrets, from the environment only (never in a file, a flag or a log line).
#[derive(Clone, Default)]
pub struct Secrets {
    /// `INFLUX_TOKEN`: InfluxDB 2.x/3.x API token.
    pub token: Option<String>,
    /// `INFLUX_USERNAME`: InfluxDB 1.x user.
    pub username: Option<String>,
    /// `INFLUX_PASSWORD`: InfluxDB 1.x password.
    pub password: Option<String>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let set = |s: &Option<String>| if s.is_some() { "set" } else { "unset" };
        f.debug_struct("Secrets")
            .field("token", &set(&self.token))
            .field("username", &set(&self.username))
            .field("password", &set(&self.password))
            .finish()
    }
}

impl Secrets {
    /// Reads `INFLUX_TOKEN`, `INFLUX_USERNAME` and `INFLUX_PASSWORD`.
    pub fn from_env() -> Secrets {
        let var = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
        Secrets {
            token: var("INFLUX_TOKEN"),
            username: var("INFLUX_USERNAME"),
            password: var("INFLUX_PASSWORD"),
        }
    }
}

/// Why a configuration is refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read, or is not valid TOML for this configuration.
    #[error(transparent)]
    File(#[from] garonne_service::config::FileError),
    /// A value is out of bounds; the text says which and how to fix it.
    #[error("historian configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// Reads a TOML file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        Ok(garonne_service::config::load("historian", path)?)
    }

    /// The default configuration as TOML, for `--print-default-config`.
    pub fn default_toml() -> String {
        garonne_service::config::to_toml(&Config::default())
    }

    /// Checks every value; the error says what is wrong and how to fix it.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |s: String| Err(ConfigError::Invalid(s));
        self.mqtt()?;
        if let Some(group) = &self.shared_group
            && !garonne_payload::topic::is_topic_segment(group)
        {
            return invalid(format!(
                "shared group \"{group}\" cannot be a topic level: use letters, digits, - or _ \
                 (e.g. historians)"
            ));
        }
        if self.spool_segment_bytes < 4096 {
            return invalid(format!(
                "spool_segment_bytes is {}: use at least 4096 (64 MiB is a good size)",
                self.spool_segment_bytes
            ));
        }
        if self.spool_max_bytes < 4 * self.spool_segment_bytes {
            return invalid(format!(
                "spool_max_bytes ({}) must hold at least 4 segments of {} bytes: raise it or \
                 lower spool_segment_bytes",
                self.spool_max_bytes, self.spool_segment_bytes
            ));
        }
        if !(1..=100_000).contains(&self.batch_points) {
            return invalid(format!(
                "batch_points is {}: use 1 to 100000 (5000 suits InfluxDB)",
                self.batch_points
            ));
        }
        if !(1..=60_000).contains(&self.flush_interval_ms) {
            return invalid(format!(
                "flush_interval_ms is {}: use 1 ms to 60 s (e.g. 1000)",
                self.flush_interval_ms
            ));
        }
        self.store.validate().map_err(ConfigError::Invalid)?;
        Ok(())
    }

    /// The broker address and the topics, checked.
    pub fn mqtt(&self) -> Result<(BrokerUrl, Topics), ConfigError> {
        garonne_service::config::parse_mqtt(&self.broker, &self.topic_prefix, Topics::new)
            .map_err(ConfigError::Invalid)
    }

    /// The topics.
    pub fn topics(&self) -> Option<Topics> {
        Topics::new(&self.topic_prefix)
    }

    /// The topic filters the historian subscribes to: readings, SenML packs, statuses,
    /// aggregates and alerts, under `$share/{group}/` when the stream is shared.
    pub fn filters(&self) -> Vec<String> {
        let Some(topics) = self.topics() else {
            return Vec::new();
        };
        let filters = [
            topics.all_readings(),
            topics.all_senml(),
            topics.all_status(),
            topics.all_aggregates(),
            topics.all_alerts(),
        ];
        match &self.shared_group {
            Some(group) => filters
                .into_iter()
                .map(|f| format!("$share/{group}/{f}"))
                .collect(),
            None => filters.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_configuration_is_valid_and_round_trips_through_toml() {
        let config = Config::default();
        config.validate().expect("default is valid");
        let back: Config = toml::from_str(&Config::default_toml()).expect("parses");
        assert_eq!(back, config);
    }

    #[test]
    fn bad_values_are_refused_with_the_fix() {
        type Spoil = fn(&mut Config);
        let cases: [(&str, Spoil); 7] = [
            ("mqtt://127.0.0.1:1883", |c| c.broker = "http://x".into()),
            ("topic prefix", |c| c.topic_prefix = "a/+".into()),
            ("(e.g. historians)", |c| c.shared_group = Some("a/b".into())),
            ("at least 4 segments", |c| c.spool_max_bytes = 1 << 20),
            ("1 to 100000", |c| c.batch_points = 0),
            ("http://127.0.0.1:8086", |c| {
                c.store.kind = StoreKind::Influx;
                c.store.url = "127.0.0.1:8086".into();
            }),
            ("bucket (--bucket)", |c| {
                c.store.kind = StoreKind::Influx;
                c.store.api = InfluxApi::V2;
                c.store.bucket.clear();
            }),
        ];
        for (fix, spoil) in cases {
            let mut config = Config::default();
            spoil(&mut config);
            let e = config.validate().expect_err(fix).to_string();
            assert!(e.contains(fix), "{e} should say {fix}");
        }
    }

    #[test]
    fn a_shared_group_prefixes_every_filter() {
        let mut config = Config::default();
        assert!(
            config
                .filters()
                .iter()
                .all(|f| f.starts_with("garonne/v1/"))
        );
        config.shared_group = Some("historians".into());
        let filters = config.filters();
        assert_eq!(filters.len(), 5);
        assert!(
            filters
                .iter()
                .all(|f| f.starts_with("$share/historians/garonne/v1/")),
            "{filters:?}"
        );
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let secrets = Secrets {
            token: Some("s3cr3t".into()),
            username: None,
            password: Some("hunter2".into()),
        };
        let shown = format!("{secrets:?}");
        assert!(
            !shown.contains("s3cr3t") && !shown.contains("hunter2"),
            "{shown}"
        );
    }
}

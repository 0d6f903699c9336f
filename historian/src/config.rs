//! The historian's configuration: a TOML file (`--config`), every key overridable by a flag.
//! Units are in the names; defaults live in [`Config::default`] (the store's in
//! [`StoreConfig`]'s variants). Secrets never live here: the InfluxDB token or user comes from
//! the environment, read by the `garonne` command ([`garonne_store::Credentials`]).
//!
//! ```toml
//! broker = "mqtt://127.0.0.1:1883"
//! spool_dir = "data/historian-spool"
//!
//! [store]
//! kind = "influx-v1"         # or "influx-v2" (org, bucket), "embedded" (path)
//! url = "http://127.0.0.1:8086"
//! db = "garonne"
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use garonne_payload::Topics;
use garonne_service::mqtt::BrokerUrl;
use garonne_store::StoreConfig;
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
        let config = Config::default();
        garonne_service::config::to_toml(&config) + &config.store.other_kinds_toml()
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
    use garonne_store::config::{InfluxV1Config, InfluxV2Config};

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
                c.store = StoreConfig::InfluxV1(InfluxV1Config {
                    url: "127.0.0.1:8086".into(),
                    ..InfluxV1Config::default()
                });
            }),
            ("bucket (--bucket)", |c| {
                c.store = StoreConfig::InfluxV2(InfluxV2Config {
                    bucket: String::new(),
                    ..InfluxV2Config::default()
                });
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
}

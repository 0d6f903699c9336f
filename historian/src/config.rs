//! The historian's configuration: a TOML file (`--config`), every key overridable by a flag.
//! Units are in the names. Defaults: the broker's in [`MqttConfig`], the files' in [`DataDir`],
//! the store's in [`StoreConfig`]'s variants, the rest in [`Config::in_folder`]. Secrets never
//! live here: the InfluxDB token or user and the MQTT login come from the environment, read by
//! the `garonne` command ([`garonne_store::Credentials`], [`MqttConfig::credentials`]).
//!
//! ```toml
//! spool_dir = "data/historian-spool"
//!
//! [mqtt]
//! broker = "mqtt://127.0.0.1:1883"
//!
//! [store]
//! kind = "influx-v1"         # or "influx-v2" (org, bucket), "embedded" (path)
//! url = "http://127.0.0.1:8086"
//! db = "garonne"
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;

use garonne_service::check_range;
use garonne_service::config::MqttConfig;
pub use garonne_service::config::{ConfigError, ServiceConfig};
use garonne_service::data_dir::DataDir;
use garonne_store::StoreConfig;
use serde::{Deserialize, Serialize};

/// Everything `garonne historian` needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
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
    /// Most bytes of line protocol written to the store in one request (a point larger than
    /// this goes alone).
    pub batch_bytes: usize,
    /// Longest wait for a batch to fill before it is written anyway, milliseconds.
    pub flush_interval_ms: u64,
    /// Address of `/healthz`, `/readyz` and `/metrics`.
    pub metrics_addr: SocketAddr,
    /// The broker, the topic prefix and the client id (`garonne-historian` when unset: fixed,
    /// so the broker keeps the session, and queues messages, while the historian is down;
    /// historians sharing the stream need one id each).
    pub mqtt: MqttConfig,
    /// Where points go.
    pub store: StoreConfig,
}

/// The comments of `--print-default-config`.
const NOTES: [(&str, &str); 8] = [
    (
        "spool_dir",
        "Where messages wait, on disk, between the broker and the store. shared_group = \"NAME\"\n\
         shares the stream with the other historians of that group.",
    ),
    (
        "spool_max_bytes",
        "Largest size of the spool, bytes; full, the broker keeps the messages.",
    ),
    (
        "spool_segment_bytes",
        "Size of one spool segment file, bytes.",
    ),
    (
        "batch_points",
        "Most points written to the store in one request.",
    ),
    (
        "batch_bytes",
        "Most bytes of line protocol in one store request (InfluxDB refuses bodies over\n\
         25 MB by default, VictoriaMetrics over 32 MB).",
    ),
    (
        "flush_interval_ms",
        "Longest wait for a batch to fill before it is written anyway, milliseconds.",
    ),
    ("metrics_addr", "Address of /healthz, /readyz and /metrics."),
    (
        "[store]",
        "Where points go; kind: embedded, influx-v1 or influx-v2 (the other kinds are below).",
    ),
];

impl ServiceConfig for Config {
    const SERVICE: &'static str = "historian";
    const NOTES: &'static [(&'static str, &'static str)] = &NOTES;

    fn check(&self) -> Result<(), String> {
        if let Some(group) = &self.shared_group
            && !garonne_payload::topic::is_topic_segment(group)
        {
            return Err(format!(
                "shared group \"{group}\" cannot be a topic level: use letters, digits, - or _ \
                 (e.g. historians)"
            ));
        }
        if self.spool_segment_bytes < 4096 {
            return Err(format!(
                "spool_segment_bytes is {}: use at least 4096 (64 MiB is a good size)",
                self.spool_segment_bytes
            ));
        }
        if self.spool_max_bytes < 4 * self.spool_segment_bytes {
            return Err(format!(
                "spool_max_bytes ({}) must hold at least 4 segments of {} bytes: raise it or \
                 lower spool_segment_bytes",
                self.spool_max_bytes, self.spool_segment_bytes
            ));
        }
        check_range!(self.batch_points in 1..=100_000, "1 to 100000 (5000 suits InfluxDB)")?;
        check_range!(
            self.batch_bytes in 65_536..=67_108_864,
            "64 KiB to 64 MiB (4 MiB suits InfluxDB)"
        )?;
        check_range!(self.flush_interval_ms in 1..=60_000, "1 ms to 60 s (e.g. 1000)")?;
        self.store.validate()?;
        self.mqtt.validate()
    }

    /// The defaults, with the spool and the embedded store in `state`.
    fn in_folder(state: &DataDir) -> Config {
        Config {
            shared_group: None,
            spool_dir: state.spool(),
            spool_max_bytes: 1 << 30,
            spool_segment_bytes: 64 << 20,
            batch_points: 5000,
            batch_bytes: 4 << 20,
            flush_interval_ms: 1000,
            metrics_addr: SocketAddr::from(([127, 0, 0, 1], 9182)),
            mqtt: MqttConfig::default(),
            store: StoreConfig::embedded(state.history()),
        }
    }

    fn appendix(&self) -> String {
        self.store.other_kinds_toml()
    }
}

garonne_service::service_config_defaults!(Config);

impl Config {
    /// The topic filters the historian subscribes to: readings, SenML packs, statuses,
    /// aggregates and alerts, under `$share/{group}/` when the stream is shared.
    pub fn filters(&self) -> Vec<String> {
        let topics = self.mqtt.topics();
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
    fn defaults_print_back_and_bad_values_are_refused_with_the_fix() {
        garonne_service::config::assert_checks::<Config>(
            &[
                ("(e.g. historians)", |c| c.shared_group = Some("a/b".into())),
                ("at least 4 segments", |c| c.spool_max_bytes = 1 << 20),
                ("1 to 100000", |c| c.batch_points = 0),
                ("64 KiB to 64 MiB", |c| c.batch_bytes = 1000),
            ],
            &[
                ("mqtt://127.0.0.1:1883", "[mqtt]\nbroker = \"http://x\""),
                ("topic prefix", "[mqtt]\ntopic_prefix = \"a/+\""),
                (
                    "http://127.0.0.1:8086",
                    "[store]\nkind = \"influx-v1\"\nurl = \"127.0.0.1:8086\"",
                ),
                (
                    "bucket (--bucket)",
                    "[store]\nkind = \"influx-v2\"\nbucket = \"\"",
                ),
            ],
        );
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

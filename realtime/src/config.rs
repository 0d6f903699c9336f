//! The realtime service's configuration: a TOML file (`--config`), every key overridable by a
//! flag. Units are in the names; defaults live in [`Config::default`].
//!
//! ```toml
//! broker = "mqtt://127.0.0.1:1883"
//! neighbourhoods = "data/quartiers-de-democratie-locale.geojson"
//! window_secs = 900          # 15-minute windows
//! emit_every_ms = 5000
//! lateness_secs = 120
//! snapshot = "data/realtime-snapshot.json"
//!
//! [[alerts]]
//! name = "heat"
//! quantity = "temperature"
//! scope = "neighbourhood"
//! comparison = "above"
//! threshold = 35.0
//! for_secs = 600
//! hysteresis = 1.0
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use garonne_payload::{Limits, Topics};
use garonne_service::mqtt::BrokerUrl;
use serde::{Deserialize, Serialize};

use crate::alerts::AlertRule;
use crate::engine::Settings;

/// Everything `garonne realtime` needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The MQTT broker, `mqtt://HOST:PORT`.
    pub broker: String,
    /// MQTT client id: fixed, so the broker keeps the session (and queues readings) across a
    /// restart. Two realtime services on one broker need two ids.
    pub client_id: String,
    /// Topic prefix (`garonne`: topics under `garonne/v1/`).
    pub topic_prefix: String,
    /// The neighbourhood polygons (GeoJSON FeatureCollection).
    pub neighbourhoods: PathBuf,
    /// Feature property holding a neighbourhood's id (detected for the Toulouse files).
    pub id_property: Option<String>,
    /// Feature property holding a neighbourhood's name (detected for the Toulouse files).
    pub name_property: Option<String>,
    /// Window length, seconds.
    pub window_secs: u32,
    /// Panes per window: the rolling statistics slide by `window_secs / panes_per_window`.
    pub panes_per_window: u32,
    /// How often aggregates and rolling statistics are published, milliseconds.
    pub emit_every_ms: u64,
    /// How long after its end a window still accepts readings, seconds.
    pub lateness_secs: u32,
    /// Publish per-sensor rolling statistics on `.../sensors/{id}/rolling`.
    pub publish_rolling: bool,
    /// How far ahead of this service's clock a reading may be, seconds.
    pub max_future_skew_secs: u32,
    /// Where the state is saved at shutdown and read at start-up; `None`: not saved.
    pub snapshot: Option<PathBuf>,
    /// Address of `/healthz`, `/readyz` and `/metrics`.
    pub metrics_addr: SocketAddr,
    /// Threshold alert rules.
    pub alerts: Vec<AlertRule>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            broker: "mqtt://127.0.0.1:1883".to_owned(),
            client_id: "garonne-realtime".to_owned(),
            topic_prefix: "garonne".to_owned(),
            neighbourhoods: PathBuf::from("data/quartiers-de-democratie-locale.geojson"),
            id_property: None,
            name_property: None,
            window_secs: 900,
            panes_per_window: 5,
            emit_every_ms: 5000,
            lateness_secs: 120,
            publish_rolling: true,
            max_future_skew_secs: Limits::default().max_future_skew_secs,
            snapshot: Some(PathBuf::from("data/realtime-snapshot.json")),
            metrics_addr: SocketAddr::from(([127, 0, 0, 1], 9181)),
            alerts: Vec::new(),
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
    #[error("realtime configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// Reads a TOML file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        Ok(garonne_service::config::load("realtime", path)?)
    }

    /// The default configuration as TOML, for `--print-default-config`.
    pub fn default_toml() -> String {
        garonne_service::config::to_toml(&Config::default())
    }

    /// Checks every value; the error says what is wrong and how to fix it.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |s: String| Err(ConfigError::Invalid(s));
        self.mqtt()?;
        if self.panes_per_window == 0 || self.panes_per_window > 60 {
            return invalid(format!(
                "panes_per_window is {}: use 1 to 60",
                self.panes_per_window
            ));
        }
        if self.window_secs < self.panes_per_window
            || !self.window_secs.is_multiple_of(self.panes_per_window)
        {
            return invalid(format!(
                "window of {} s cannot be cut into {} equal whole-second panes: use a window \
                 that is a multiple of {} s (e.g. 15m = 900 s)",
                self.window_secs, self.panes_per_window, self.panes_per_window
            ));
        }
        if self.window_secs > 7 * 86_400 {
            return invalid(format!(
                "window of {} s is over a week: use a shorter window (history queries cover \
                 longer spans)",
                self.window_secs
            ));
        }
        if !(10..=3_600_000).contains(&self.emit_every_ms) {
            return invalid(format!(
                "emit_every_ms is {}: use 10 ms to 1 h (e.g. 5000 for every 5 s)",
                self.emit_every_ms
            ));
        }
        if self.lateness_secs > 86_400 {
            return invalid(format!(
                "lateness of {} s is over a day: use at most 1 day",
                self.lateness_secs
            ));
        }
        let mut names = std::collections::HashSet::new();
        for rule in &self.alerts {
            if let Some(problem) = rule.problem() {
                return invalid(problem);
            }
            if !names.insert((&rule.name, rule.scope)) {
                return invalid(format!(
                    "two alert rules are named \"{}\" for the same scope: give each a unique name",
                    rule.name
                ));
            }
        }
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

    /// The core's settings.
    pub fn settings(&self) -> Settings {
        Settings {
            window_secs: self.window_secs,
            panes_per_window: self.panes_per_window,
            lateness_secs: self.lateness_secs,
            emit_every_ms: self.emit_every_ms,
            publish_rolling: self.publish_rolling,
            limits: Limits {
                max_future_skew_secs: self.max_future_skew_secs,
                ..Limits::default()
            },
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
        let cases: [(&str, Spoil); 5] = [
            ("multiple of 5 s", |c| c.window_secs = 901),
            ("1 to 60", |c| c.panes_per_window = 0),
            ("10 ms to 1 h", |c| c.emit_every_ms = 1),
            ("mqtt://127.0.0.1:1883", |c| c.broker = "http://x".into()),
            ("topic prefix", |c| c.topic_prefix = "a/+".into()),
        ];
        for (fix, spoil) in cases {
            let mut config = Config::default();
            spoil(&mut config);
            let e = config.validate().expect_err(fix).to_string();
            assert!(e.contains(fix), "{e} should say {fix}");
        }
    }

    #[test]
    fn alert_rules_read_from_toml() {
        let config: Config = toml::from_str(
            r#"
            window_secs = 600
            [[alerts]]
            name = "frost"
            quantity = "temperature"
            scope = "sensor"
            comparison = "below"
            threshold = 0.0
            "#,
        )
        .expect("parses");
        config.validate().expect("valid");
        assert_eq!(config.alerts[0].for_secs, 0);
        let unknown = toml::from_str::<Config>("windw_secs = 600");
        assert!(
            unknown
                .expect_err("typo refused")
                .to_string()
                .contains("windw_secs")
        );
    }
}

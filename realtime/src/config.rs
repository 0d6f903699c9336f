//! The realtime service's configuration: a TOML file (`--config`), every key overridable by a
//! flag. Units are in the names. Defaults: the core's in [`Settings::default`], the broker's in
//! [`MqttConfig`], the files' in [`DataDir`], the rest in [`Config::default`].
//!
//! ```toml
//! neighbourhoods = "data/quartiers-de-democratie-locale.geojson"
//! window_secs = 900          # 15-minute windows
//! emit_every_ms = 5000
//! lateness_secs = 120
//! snapshot = "data/realtime-snapshot.json"
//! snapshot_every_secs = 60   # also saved at shutdown
//!
//! [mqtt]
//! broker = "mqtt://127.0.0.1:1883"
//!
//! default_alerts = true     # the shipped rules of data/alerts.toml (a high river level)
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
use std::path::PathBuf;

use garonne_payload::Limits;
use garonne_service::check_range;
use garonne_service::config::MqttConfig;
pub use garonne_service::config::{ConfigError, ServiceConfig};
use garonne_service::data_dir::DataDir;
use serde::{Deserialize, Serialize};

use crate::alerts::AlertRule;
use crate::engine::Settings;

/// Everything `garonne realtime` needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The polygons (GeoJSON FeatureCollection).
    pub neighbourhoods: PathBuf,
    /// Feature property holding a neighbourhood's id (detected for the Toulouse files).
    pub id_property: Option<String>,
    /// Feature property holding a neighbourhood's name (detected for the Toulouse files).
    pub name_property: Option<String>,
    /// Length of a window, seconds.
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
    /// A sensor with no reading for this long is forgotten, with its retained rolling
    /// statistics, seconds (at least a window and its lateness).
    pub forget_sensors_after_secs: u32,
    /// The most sensors tracked at once; a new sensor past it is refused, with an error report,
    /// until silent ones are forgotten.
    pub max_sensors: usize,
    /// Where the state is saved (every `snapshot_every_secs` and at shutdown) and read at
    /// start-up; `None`: not saved.
    pub snapshot: Option<PathBuf>,
    /// How often the state is saved while running, seconds: what a crash (SIGKILL, power cut)
    /// can lose of the windows is at most this much.
    pub snapshot_every_secs: u32,
    /// Address of `/healthz`, `/readyz` and `/metrics`.
    pub metrics_addr: SocketAddr,
    /// The broker, the topic prefix and the client id (`garonne-realtime` when unset: fixed,
    /// so the broker keeps the session, and queues readings, across a restart).
    pub mqtt: MqttConfig,
    /// Run the shipped alert rules (`data/alerts.toml`: a high river level) beside
    /// [`Config::alerts`]; a rule there of the same name and scope replaces a shipped one.
    pub default_alerts: bool,
    /// Threshold alert rules, this configuration's own.
    pub alerts: Vec<AlertRule>,
}

/// The comments of `--print-default-config`.
const NOTES: [(&str, &str); 14] = [
    (
        "neighbourhoods",
        "The polygons (GeoJSON); id_property and name_property name their properties when\n\
         they are not detected.",
    ),
    ("window_secs", "Length of a window, seconds."),
    (
        "panes_per_window",
        "The rolling statistics slide by window_secs / panes_per_window.",
    ),
    (
        "emit_every_ms",
        "How often aggregates are published, milliseconds.",
    ),
    (
        "lateness_secs",
        "How long after its end a window still accepts readings, seconds.",
    ),
    ("publish_rolling", "Publish per-sensor rolling statistics."),
    (
        "max_future_skew_secs",
        "How far ahead of this service's clock a reading may be, seconds.",
    ),
    (
        "forget_sensors_after_secs",
        "A sensor with no reading for this long (seconds) is forgotten, with its retained\n\
         rolling statistics.",
    ),
    (
        "max_sensors",
        "The most sensors tracked at once (about 1 KiB each); a new sensor past it is refused,\n\
         with an error report, until silent ones are forgotten.",
    ),
    (
        "snapshot",
        "Where the state is saved, periodically and at shutdown (remove the line: not saved).",
    ),
    (
        "snapshot_every_secs",
        "How often the state is saved while running, seconds: at most this much of the\n\
         windows is lost to a crash.",
    ),
    ("metrics_addr", "Address of /healthz, /readyz and /metrics."),
    (
        "default_alerts",
        "Run the shipped alert rules (data/alerts.toml: the river above 3.5 m); a rule below\n\
         of the same name and scope replaces a shipped one.",
    ),
    (
        "alerts",
        "Threshold alert rules: [[alerts]] tables, see docs/realtime.md.",
    ),
];

impl Config {
    /// The defaults, with the polygons in `data` and the snapshot in `state`.
    pub fn in_folders(data: &DataDir, state: &DataDir) -> Config {
        let core = Settings::default();
        Config {
            neighbourhoods: data.polygons(),
            id_property: None,
            name_property: None,
            window_secs: core.window_secs,
            panes_per_window: core.panes_per_window,
            emit_every_ms: core.emit_every_ms,
            lateness_secs: core.lateness_secs,
            publish_rolling: core.publish_rolling,
            max_future_skew_secs: core.limits.max_future_skew_secs,
            forget_sensors_after_secs: core.forget_sensors_after_secs,
            max_sensors: core.max_sensors,
            snapshot: Some(state.snapshot()),
            snapshot_every_secs: 60,
            metrics_addr: SocketAddr::from(([127, 0, 0, 1], 9181)),
            mqtt: MqttConfig::default(),
            default_alerts: true,
            alerts: Vec::new(),
        }
    }

    /// The rules the service runs: the shipped ones (unless `default_alerts` is off) that no
    /// rule of [`Config::alerts`] replaces, then those.
    pub fn alert_rules(&self) -> Vec<AlertRule> {
        if self.default_alerts {
            crate::alerts::with_defaults(&self.alerts)
        } else {
            self.alerts.clone()
        }
    }

    /// The core's settings.
    pub fn settings(&self) -> Settings {
        Settings {
            window_secs: self.window_secs,
            panes_per_window: self.panes_per_window,
            lateness_secs: self.lateness_secs,
            emit_every_ms: self.emit_every_ms,
            publish_rolling: self.publish_rolling,
            forget_sensors_after_secs: self.forget_sensors_after_secs,
            max_sensors: self.max_sensors,
            limits: Limits {
                max_future_skew_secs: self.max_future_skew_secs,
                ..Limits::default()
            },
        }
    }
}

impl ServiceConfig for Config {
    const SERVICE: &'static str = "realtime";
    const NOTES: &'static [(&'static str, &'static str)] = &NOTES;

    fn in_folder(data: &DataDir) -> Config {
        Config::in_folders(data, data)
    }

    fn check(&self) -> Result<(), String> {
        check_range!(self.panes_per_window in 1..=60, "1 to 60")?;
        if self.window_secs < self.panes_per_window
            || !self.window_secs.is_multiple_of(self.panes_per_window)
        {
            return Err(format!(
                "window of {} s cannot be cut into {} equal whole-second panes: use a window \
                 that is a multiple of {} s (e.g. 15m = 900 s)",
                self.window_secs, self.panes_per_window, self.panes_per_window
            ));
        }
        if self.window_secs > 7 * 86_400 {
            return Err(format!(
                "window of {} s is over a week: use a shorter window (history queries cover \
                 longer spans)",
                self.window_secs
            ));
        }
        check_range!(self.emit_every_ms in 10..=3_600_000,
            "10 ms to 1 h (e.g. 5000 for every 5 s)")?;
        check_range!(self.snapshot_every_secs in 1..=86_400, "1 s to 1 day (e.g. 60)")?;
        check_range!(self.max_sensors in 1..=10_000_000, "1 to 10000000 (100000 holds a city)")?;
        if self.lateness_secs > 86_400 {
            return Err(format!(
                "lateness of {} s is over a day: use at most 1 day",
                self.lateness_secs
            ));
        }
        if u64::from(self.forget_sensors_after_secs)
            < u64::from(self.window_secs) + u64::from(self.lateness_secs)
        {
            return Err(format!(
                "forget_sensors_after_secs ({} s) is shorter than a window and its lateness \
                 ({} s): a sensor still counted in a window would be forgotten; give at least \
                 that (86400: a day)",
                self.forget_sensors_after_secs,
                u64::from(self.window_secs) + u64::from(self.lateness_secs)
            ));
        }
        let mut names = std::collections::HashSet::new();
        for rule in &self.alert_rules() {
            if let Some(problem) = rule.problem() {
                return Err(problem);
            }
            if !names.insert((&rule.name, rule.scope)) {
                return Err(format!(
                    "two alert rules are named \"{}\" for the same scope: give each a unique name",
                    rule.name
                ));
            }
        }
        self.mqtt.validate()
    }
}

garonne_service::service_config_defaults!(Config);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_print_back_and_bad_values_are_refused_with_the_fix() {
        garonne_service::config::assert_checks::<Config>(
            &[
                ("multiple of 5 s", |c| c.window_secs = 901),
                ("1 to 60", |c| c.panes_per_window = 0),
                ("10 ms to 1 h", |c| c.emit_every_ms = 1),
            ],
            &[
                ("mqtt://127.0.0.1:1883", "[mqtt]\nbroker = \"http://x\""),
                ("topic prefix", "[mqtt]\ntopic_prefix = \"a/+\""),
            ],
        );
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
        // The shipped river rule runs beside the file's own, unless the file says not to.
        let names =
            |c: &Config| -> Vec<String> { c.alert_rules().into_iter().map(|r| r.name).collect() };
        assert_eq!(names(&config), ["river-flood", "frost"]);
        assert_eq!(names(&Config::default()), ["river-flood"]);
        let off: Config = toml::from_str("default_alerts = false").expect("parses");
        assert!(names(&off).is_empty());
        // Any quantity of the catalogue, not only the weather's; an unknown one is refused
        // with the closest names.
        let rule = |quantity: &str| {
            toml::from_str::<Config>(&format!(
                "[[alerts]]\nname = \"bikes\"\nquantity = \"{quantity}\"\n\
                 scope = \"neighbourhood\"\ncomparison = \"below\"\nthreshold = 5.0"
            ))
            .map_err(|e| e.to_string())
        };
        let bikes = rule("availableBikeNumber").expect("a built-in profile's quantity");
        assert_eq!(
            bikes.alerts[0].quantity,
            garonne_payload::Quantity::from_name("availableBikeNumber").expect("built in")
        );
        let error = rule("availableBikeNumbers").expect_err("not in the catalogue");
        assert!(
            error.contains("unknown quantity \"availableBikeNumbers\"")
                && error.contains("\"availableBikeNumber\""),
            "{error}"
        );
        let unknown = toml::from_str::<Config>("windw_secs = 600");
        assert!(
            unknown
                .expect_err("typo refused")
                .to_string()
                .contains("windw_secs")
        );
    }
}

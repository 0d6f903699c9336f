//! The other v1 messages: sensor status (birth and last will), per-sensor rolling statistics,
//! neighbourhood aggregates, alerts and error reports. Realtime and the sensors publish them;
//! the map, Grafana and any subscriber read them.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::quantity::Quantity;
use crate::reading::{Location, Source};
use crate::time::Timestamp;
use crate::validate::{Rule, Violation};

/// Serde for an enum written on the wire as its name (a string): `$name` gives a value's name,
/// `$find` the value of a name; any other string is refused with the message `$unknown` gives
/// (which starts "unknown `$what`").
// Design: a macro because trait impls cannot be written by a function; the enums live in
// modules that know nothing of serde.
macro_rules! serde_by_name {
    ($ty:ty, $name:expr, $find:expr, $unknown:expr) => {
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str($name(*self))
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let name = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
                $find(&name).ok_or_else(|| serde::de::Error::custom($unknown(&name)))
            }
        }
    };
}

serde_by_name!(
    Quantity,
    Quantity::name,
    Quantity::from_name,
    unknown_quantity
);
serde_by_name!(
    Rule,
    Rule::as_str,
    |name: &str| Rule::ALL.into_iter().find(|r| r.as_str() == name),
    |name: &str| format!("unknown rule {name}")
);

/// Why `name` is not a quantity, with the catalogue's closest names (an alert rule's or a
/// message's quantity must be in the catalogue: the built-in profiles and those loaded).
fn unknown_quantity(name: &str) -> String {
    let closest = Quantity::with_catalogue(|c| {
        c.closest_names(name)
            .iter()
            .map(|n| format!("\"{n}\""))
            .collect::<Vec<_>>()
            .join(", ")
    });
    let hint = "a quantity of another project needs its profile (--profiles DIR, or garonne \
                profile publish)";
    if closest.is_empty() {
        format!("unknown quantity \"{name}\": not in the catalogue; {hint}")
    } else {
        format!("unknown quantity \"{name}\": did you mean {closest}? otherwise {hint}")
    }
}

/// Whether a sensor is connected. Retained on `.../sensors/{id}/status`; the `Offline` form is
/// the MQTT last will, so the broker announces a sensor that vanished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SensorState {
    /// Connected and publishing.
    Online,
    /// Disconnected (cleanly, or announced by the broker's last will).
    Offline,
}

/// The status message of a sensor: who it is, where, and how each of its modules is doing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Status {
    /// Spec major version.
    pub v: u32,
    /// The sensor.
    pub sensor_id: String,
    /// Online or offline.
    pub state: SensorState,
    /// When the state was entered (for a last will: when it was registered, at connection).
    pub time: Timestamp,
    /// Kind of device, as in readings.
    pub kind: String,
    /// Source of its values, as in readings.
    pub source: Source,
    /// Where it is, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    /// Its hardware modules (a Pi's BME280, BH1750...), empty for single-module sensors.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub modules: Vec<ModuleStatus>,
}

/// The life cycle step of one hardware module of a sensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModuleState {
    /// Checking the module answers (I²C address, GPIO line, 1-wire device).
    Probing,
    /// Taking one reading and checking it is in range.
    SampleTest,
    /// Publishing readings.
    Running,
    /// Probe or sample test failed; the module is skipped.
    Failed,
    /// Removed gracefully (agent stopping or module unplugged).
    Removed,
}

/// One module of a sensor and its state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModuleStatus {
    /// Module name, e.g. `bme280`.
    pub name: String,
    /// Current step.
    pub state: ModuleState,
    /// Quantities the module measures.
    pub quantities: Vec<Quantity>,
    /// Why it failed, or other detail for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// Statistics of one quantity over a window.
///
/// `value` is the quantity's aggregate by its profile's rules: each sensor's readings in the
/// window combine by the `time` rule (their mean, sum, min, max, or the last one: the reading
/// with the latest time, a tie going to the higher `seq`, then to the one received last), then
/// the neighbourhood's sensors combine by the `space` rule (mean, each sensor weighing the
/// same; sum; min; max). A neighbourhood's available bikes are the sum of each station's last
/// count; its temperature (`mean`/`mean`) is the mean of its sensors' means, so `value` equals
/// `mean`. The other statistics mean the same for every quantity.
///
/// On the wire `value` is an addition of Garonne 1.1: a message without it (an older realtime)
/// reads with `value` = `mean`, which is what it was for the ten weather quantities.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(from = "WindowStatsWire")]
pub struct WindowStats {
    /// Mean value. For a neighbourhood it weighs sensors equally: the mean of each sensor's mean.
    pub mean: f64,
    /// Smallest value seen.
    pub min: f64,
    /// Largest value seen.
    pub max: f64,
    /// Number of readings folded in.
    pub readings: u64,
    /// Number of distinct sensors.
    pub sensors: u32,
    /// The quantity's aggregate by its profile's `time` and `space` rules (for one sensor's
    /// rolling statistics: by its `time` rule).
    pub value: f64,
}

/// [`WindowStats`] as read: `value` may be absent (messages of Garonne 1.0).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WindowStatsWire {
    mean: f64,
    min: f64,
    max: f64,
    readings: u64,
    sensors: u32,
    value: Option<f64>,
}

impl From<WindowStatsWire> for WindowStats {
    fn from(w: WindowStatsWire) -> WindowStats {
        WindowStats {
            mean: w.mean,
            min: w.min,
            max: w.max,
            readings: w.readings,
            sensors: w.sensors,
            value: w.value.unwrap_or(w.mean),
        }
    }
}

/// Window statistics of one neighbourhood, retained on `.../neighbourhoods/{id}/aggregate`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NeighbourhoodAggregate {
    /// Spec major version.
    pub v: u32,
    /// Neighbourhood id (from the polygon file's id property).
    pub neighbourhood_id: String,
    /// Neighbourhood name, for people.
    pub name: String,
    /// Window start (inclusive), event time.
    pub window_start: Timestamp,
    /// Window end (exclusive), event time.
    pub window_end: Timestamp,
    /// When this aggregate was computed.
    pub emitted_at: Timestamp,
    /// Statistics per quantity, in Garonne units.
    pub quantities: BTreeMap<Quantity, WindowStats>,
}

/// Rolling statistics of one sensor, retained on `.../sensors/{id}/rolling`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SensorRolling {
    /// Spec major version.
    pub v: u32,
    /// The sensor.
    pub sensor_id: String,
    /// Length of the rolling window, seconds.
    pub window_secs: u32,
    /// Time of the newest reading in the window.
    pub time: Timestamp,
    /// Statistics per quantity (`sensors` is 1).
    pub quantities: BTreeMap<Quantity, WindowStats>,
}

/// What an alert rule watches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "kebab-case")]
pub enum AlertScope {
    /// One neighbourhood's aggregate.
    Neighbourhood(String),
    /// One sensor's readings.
    Sensor(String),
}

impl AlertScope {
    /// The scope as one topic segment: `neighbourhood-{id}` or `sensor-{id}`.
    pub fn topic_segment(&self) -> String {
        match self {
            AlertScope::Neighbourhood(id) => format!("neighbourhood-{id}"),
            AlertScope::Sensor(id) => format!("sensor-{id}"),
        }
    }
}

impl fmt::Display for AlertScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.topic_segment())
    }
}

/// Whether an alert is active.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AlertState {
    /// The condition has held for the rule's minimum duration.
    Raised,
    /// The value came back past the hysteresis band.
    Cleared,
}

/// How a value is compared with a threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Comparison {
    /// Alert when the value is above the threshold.
    Above,
    /// Alert when the value is below the threshold.
    Below,
}

/// An alert, retained on `.../alerts/{rule}/{scope}` while raised.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Alert {
    /// Spec major version.
    pub v: u32,
    /// Name of the rule in the realtime configuration.
    pub rule: String,
    /// What is watched.
    pub scope: AlertScope,
    /// Raised or cleared.
    pub state: AlertState,
    /// Quantity compared.
    pub quantity: Quantity,
    /// Comparison.
    pub comparison: Comparison,
    /// Threshold, in the quantity's Garonne unit.
    pub threshold: f64,
    /// The value that changed the state.
    pub value: f64,
    /// When the condition started (raised) or ended (cleared).
    pub since: Timestamp,
    /// When this message was produced.
    pub time: Timestamp,
}

/// Why a payload was refused, published on `.../errors/{sensor_id}` so its sender can see.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorReport {
    /// Spec major version.
    pub v: u32,
    /// The sender, when the payload or its topic names one.
    pub sensor_id: Option<String>,
    /// The topic the payload arrived on.
    pub topic: String,
    /// When it arrived.
    pub received_at: Timestamp,
    /// Every problem found.
    pub errors: Vec<Violation>,
    /// The start of the payload (at most 256 bytes, lossy UTF-8), to recognise it.
    pub excerpt: String,
}

impl Serialize for Violation {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut s = serializer.serialize_struct("Violation", 5)?;
        s.serialize_field("pointer", &self.pointer)?;
        s.serialize_field("rule", &self.rule)?;
        s.serialize_field("message", &self.message)?;
        s.serialize_field("hint", &self.hint)?;
        s.serialize_field("hint_fr", &self.hint_fr)?;
        s.end()
    }
}

impl<'de> Deserialize<'de> for Violation {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Wire {
            pointer: String,
            rule: Rule,
            message: String,
            hint: String,
            /// Added after the first reports: an older report without it reads as empty.
            #[serde(default)]
            hint_fr: String,
        }
        let w = Wire::deserialize(deserializer)?;
        Ok(Violation {
            pointer: w.pointer,
            rule: w.rule,
            message: w.message,
            hint: w.hint,
            hint_fr: w.hint_fr,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        Timestamp::parse(s).expect("valid")
    }

    #[test]
    fn messages_round_trip_through_json() {
        let mut quantities = BTreeMap::new();
        quantities.insert(
            Quantity::Temperature,
            WindowStats {
                mean: 11.5,
                min: 9.0,
                max: 14.0,
                readings: 12,
                sensors: 3,
                value: 11.5,
            },
        );
        let agg = NeighbourhoodAggregate {
            v: 1,
            neighbourhood_id: "7".into(),
            name: "Croix-Daurade".into(),
            window_start: t("2025-11-24T10:00:00Z"),
            window_end: t("2025-11-24T10:15:00Z"),
            emitted_at: t("2025-11-24T10:15:05Z"),
            quantities,
        };
        let json = serde_json::to_string(&agg).expect("serialise");
        assert!(
            json.contains(r#""quantities":{"temperature":{"mean":11.5"#),
            "{json}"
        );
        assert_eq!(
            serde_json::from_str::<NeighbourhoodAggregate>(&json).expect("parse"),
            agg
        );

        let alert = Alert {
            v: 1,
            rule: "heat".into(),
            scope: AlertScope::Neighbourhood("7".into()),
            state: AlertState::Raised,
            quantity: Quantity::Temperature,
            comparison: Comparison::Above,
            threshold: 35.0,
            value: 36.2,
            since: t("2025-07-01T12:00:00Z"),
            time: t("2025-07-01T12:10:00Z"),
        };
        let json = serde_json::to_string(&alert).expect("serialise");
        assert!(
            json.contains(r#""scope":{"kind":"neighbourhood","id":"7"}"#),
            "{json}"
        );
        assert_eq!(serde_json::from_str::<Alert>(&json).expect("parse"), alert);

        let report = ErrorReport {
            v: 1,
            sensor_id: None,
            topic: "garonne/v1/sensors/x/reading".into(),
            received_at: t("2025-11-24T10:00:00Z"),
            errors: vec![Violation::new(
                "/v",
                Rule::Version,
                "bad",
                "fix",
                "corrigez",
            )],
            excerpt: "{".into(),
        };
        let json = serde_json::to_string(&report).expect("serialise");
        assert!(json.contains(r#""rule":"version""#), "{json}");
        assert_eq!(
            serde_json::from_str::<ErrorReport>(&json).expect("parse"),
            report
        );
    }

    /// A refusal's items carry the hint in French too; a report written before `hint_fr`
    /// existed still reads, with an empty French hint.
    #[test]
    fn error_report_items_carry_the_french_hint_and_older_ones_read_without_it() {
        let item = Violation::new("/v", Rule::Version, "bad", "fix", "corrigez");
        let json = serde_json::to_string(&item).expect("serialise");
        assert_eq!(
            json,
            r#"{"pointer":"/v","rule":"version","message":"bad","hint":"fix","hint_fr":"corrigez"}"#
        );
        let older = r#"{"v":1,"sensor_id":null,"topic":"garonne/v1/sensors/x/reading","received_at":"2025-11-24T10:00:00Z","errors":[{"pointer":"/v","rule":"version","message":"bad","hint":"fix"}],"excerpt":"{"}"#;
        let report: ErrorReport = serde_json::from_str(older).expect("an older report parses");
        assert_eq!(report.errors[0].hint, "fix");
        assert_eq!(report.errors[0].hint_fr, "");
    }

    #[test]
    fn window_stats_carry_the_value_and_read_without_it_as_the_mean() {
        let bikes = WindowStats {
            mean: 7.5,
            min: 3.0,
            max: 12.0,
            readings: 6,
            sensors: 2,
            value: 15.0,
        };
        let json = serde_json::to_string(&bikes).expect("serialise");
        assert_eq!(
            json,
            r#"{"mean":7.5,"min":3.0,"max":12.0,"readings":6,"sensors":2,"value":15.0}"#
        );
        assert_eq!(
            serde_json::from_str::<WindowStats>(&json).expect("parse"),
            bikes
        );
        // Garonne 1.0 wrote no value: it reads as the mean.
        let older: WindowStats =
            serde_json::from_str(r#"{"mean":7.5,"min":3.0,"max":12.0,"readings":6,"sensors":2}"#)
                .expect("parse");
        assert_eq!(older.value, 7.5);
        // Still strict about the rest.
        let typo = serde_json::from_str::<WindowStats>(
            r#"{"mean":7.5,"min":3.0,"max":12.0,"readings":6,"sensors":2,"valeur":1}"#,
        );
        assert!(
            typo.expect_err("unknown field")
                .to_string()
                .contains("valeur")
        );
    }

    #[test]
    fn an_unknown_quantity_names_the_closest_ones() {
        let error = serde_json::from_str::<Quantity>(r#""pm2_5""#).expect_err("unknown");
        let text = error.to_string();
        assert!(text.starts_with("unknown quantity \"pm2_5\""), "{text}");
        assert!(text.contains("\"pm25\""), "{text}");
        assert!(text.contains("--profiles"), "{text}");
        assert_eq!(
            serde_json::from_str::<Quantity>(r#""availableBikeNumber""#).expect("built-in"),
            Quantity::from_name("availableBikeNumber").expect("built-in")
        );
    }

    #[test]
    fn status_omits_what_it_does_not_know() {
        let status = Status {
            v: 1,
            sensor_id: "pi-1".into(),
            state: SensorState::Offline,
            time: t("2025-11-24T10:00:00Z"),
            kind: "raspberry-pi".into(),
            source: Source::RaspberryPi,
            location: None,
            modules: vec![],
        };
        let json = serde_json::to_string(&status).expect("serialise");
        assert_eq!(
            json,
            r#"{"v":1,"sensor_id":"pi-1","state":"offline","time":"2025-11-24T10:00:00Z","kind":"raspberry-pi","source":"raspberry-pi"}"#
        );
    }
}

//! Threshold alerts: the rules of the configuration file, and the state machine each rule runs
//! for each scope (one neighbourhood, or one sensor).
//!
//! A rule *raises* when its condition (`value above threshold`, or `below`) has held without a
//! break for at least `for_secs`, and *clears* when the value comes back past the threshold by
//! more than `hysteresis` (so a value hovering at the threshold does not flap). Neighbourhood
//! rules watch the `value` of the newest window at every emit (the quantity's aggregate by its
//! profile's rules: a quartier's mean temperature, its total of available bikes; time: the
//! service's clock); sensor rules watch every reading (time: the reading's own). A rule may
//! name any quantity of the catalogue (the built-in profiles and those of `--profiles`); an
//! unknown name is refused with the closest known ones.
//!
//! Realtime ships default rules ([`default_rules`], the file `data/alerts.toml` compiled in: a
//! high river level), which a configuration's own rules override by name and scope
//! ([`with_defaults`]).

use garonne_payload::{Comparison, Quantity, Timestamp, topic::is_topic_segment};
use serde::{Deserialize, Serialize};

/// What a rule watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScopeKind {
    /// Each neighbourhood's aggregate value.
    Neighbourhood,
    /// Each sensor's readings.
    Sensor,
}

/// One threshold rule, as written in the configuration file:
///
/// ```toml
/// [[alerts]]
/// name = "heat"              # topic segment: garonne/v1/alerts/heat/neighbourhood-7
/// quantity = "temperature"
/// scope = "neighbourhood"    # or "sensor"
/// comparison = "above"       # or "below"
/// threshold = 35.0           # in the quantity's Garonne unit (°C here)
/// for_secs = 600             # the condition must hold this long (0: at once)
/// hysteresis = 1.0           # clears below 34.0
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertRule {
    /// Name of the rule; one MQTT topic level (no `/`, `+`, `#`).
    pub name: String,
    /// The quantity compared: any quantity of the catalogue.
    pub quantity: Quantity,
    /// Neighbourhood values or sensor readings.
    pub scope: ScopeKind,
    /// Above or below.
    pub comparison: Comparison,
    /// The threshold, in the quantity's Garonne unit.
    pub threshold: f64,
    /// How long the condition must hold before the alert is raised, seconds.
    #[serde(default)]
    pub for_secs: u64,
    /// How far back past the threshold the value must come to clear the alert (≥ 0).
    #[serde(default)]
    pub hysteresis: f64,
}

impl AlertRule {
    /// What is wrong with the rule, and how to fix it.
    pub fn problem(&self) -> Option<String> {
        if !is_topic_segment(&self.name) {
            return Some(format!(
                "alert rule name \"{}\" cannot be an MQTT topic level: use letters, digits, - or _",
                self.name
            ));
        }
        if !self.threshold.is_finite() {
            return Some(format!(
                "alert rule \"{}\": the threshold must be a finite number",
                self.name
            ));
        }
        if !(self.hysteresis.is_finite() && self.hysteresis >= 0.0) {
            return Some(format!(
                "alert rule \"{}\": hysteresis must be a number ≥ 0 (it is {})",
                self.name, self.hysteresis
            ));
        }
        None
    }

    fn holds(&self, value: f64) -> bool {
        match self.comparison {
            Comparison::Above => value > self.threshold,
            Comparison::Below => value < self.threshold,
        }
    }

    fn cleared_by(&self, value: f64) -> bool {
        match self.comparison {
            Comparison::Above => value < self.threshold - self.hysteresis,
            Comparison::Below => value > self.threshold + self.hysteresis,
        }
    }
}

/// The shipped rules, as written in `data/alerts.toml`.
pub const DEFAULT_RULES_TOML: &str = include_str!("../../data/alerts.toml");

/// The file of shipped rules: its `[[alerts]]` tables.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    alerts: Vec<AlertRule>,
}

/// The shipped rules ([`DEFAULT_RULES_TOML`]): a high river level (`river-flood`).
pub fn default_rules() -> Vec<AlertRule> {
    // Design: the file is compiled in and a unit test parses it, so it cannot fail here; an
    // empty list would be the safe answer if it ever did.
    toml::from_str::<RulesFile>(DEFAULT_RULES_TOML)
        .map(|file| file.alerts)
        .unwrap_or_default()
}

/// The rules a service runs: `own`, after the shipped ones a rule of `own` does not replace (a
/// rule replaces the shipped one of the same name and scope).
pub fn with_defaults(own: &[AlertRule]) -> Vec<AlertRule> {
    let mut rules: Vec<AlertRule> = default_rules()
        .into_iter()
        .filter(|d| !own.iter().any(|o| o.name == d.name && o.scope == d.scope))
        .collect();
    rules.extend(own.iter().cloned());
    rules
}

/// What one observation did to an alert.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Transition {
    /// Raised: the condition has held since `since`.
    Raised {
        /// When the condition started.
        since: Timestamp,
    },
    /// Cleared at the observation's time.
    Cleared,
}

/// The state of one rule for one scope.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Track {
    /// Since when the condition has held without a break (raised or not).
    pub holding_since: Option<Timestamp>,
    /// Whether the alert is raised.
    pub raised: bool,
    /// The time of the newest observation, so an older one arriving late is ignored.
    pub last_seen: Option<Timestamp>,
}

impl Track {
    /// Feeds one observation of `value` at `at`; returns the transition it causes, if any.
    pub fn observe(&mut self, rule: &AlertRule, value: f64, at: Timestamp) -> Option<Transition> {
        if self.last_seen.is_some_and(|last| at < last) {
            return None;
        }
        self.last_seen = Some(at);
        if self.raised {
            if rule.cleared_by(value) {
                self.raised = false;
                self.holding_since = rule.holds(value).then_some(at);
                return Some(Transition::Cleared);
            }
            return None;
        }
        if !rule.holds(value) {
            self.holding_since = None;
            return None;
        }
        let since = *self.holding_since.get_or_insert(at);
        if at.secs_since(since) >= rule.for_secs as f64 {
            self.raised = true;
            return Some(Transition::Raised { since });
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(comparison: Comparison, for_secs: u64, hysteresis: f64) -> AlertRule {
        AlertRule {
            name: "heat".into(),
            quantity: Quantity::Temperature,
            scope: ScopeKind::Neighbourhood,
            comparison,
            threshold: 30.0,
            for_secs,
            hysteresis,
        }
    }

    fn at(secs: i64) -> Timestamp {
        Timestamp::new(1_763_719_200 + secs, 0).expect("valid time")
    }

    /// Runs `(seconds, value)` observations through a track; returns the transitions as
    /// `(seconds, "raised since S" | "cleared")`.
    fn run(rule: &AlertRule, steps: &[(i64, f64)]) -> Vec<(i64, String)> {
        let mut track = Track::default();
        let mut seen = Vec::new();
        for &(secs, value) in steps {
            match track.observe(rule, value, at(secs)) {
                Some(Transition::Raised { since }) => seen.push((
                    secs,
                    format!("raised since {}", since.unix_secs() - at(0).unix_secs()),
                )),
                Some(Transition::Cleared) => seen.push((secs, "cleared".into())),
                None => {}
            }
        }
        seen
    }

    #[test]
    fn alerts_raise_after_the_duration_and_clear_past_the_hysteresis() {
        let above = rule(Comparison::Above, 60, 1.0);
        let below = rule(Comparison::Below, 0, 0.5);
        type Case<'a> = (&'a str, &'a AlertRule, Vec<(i64, f64)>, Vec<(i64, &'a str)>);
        let cases: Vec<Case> = vec![
            (
                "at the threshold is not above",
                &above,
                vec![(0, 30.0), (100, 30.0)],
                vec![],
            ),
            (
                "raised once the condition held 60 s, since its start",
                &above,
                vec![(0, 31.0), (30, 32.0), (60, 31.0), (90, 33.0)],
                vec![(60, "raised since 0")],
            ),
            (
                "a break restarts the duration",
                &above,
                vec![(0, 31.0), (50, 29.0), (70, 31.0), (120, 31.0), (130, 31.0)],
                vec![(130, "raised since 70")],
            ),
            (
                "inside the hysteresis band it stays raised; below it clears",
                &above,
                vec![(0, 31.0), (60, 31.0), (70, 29.5), (80, 29.0), (90, 28.9)],
                vec![(60, "raised since 0"), (90, "cleared")],
            ),
            (
                "an observation older than the newest is ignored",
                &above,
                vec![(0, 31.0), (60, 31.0), (30, 10.0)],
                vec![(60, "raised since 0")],
            ),
            (
                "below with no duration raises at once",
                &below,
                vec![(0, 31.0), (10, 29.9), (20, 30.4), (30, 30.6)],
                vec![(10, "raised since 10"), (30, "cleared")],
            ),
        ];
        for (name, rule, steps, expected) in cases {
            let expected: Vec<(i64, String)> = expected
                .into_iter()
                .map(|(s, t)| (s, t.to_owned()))
                .collect();
            assert_eq!(run(rule, &steps), expected, "{name}");
        }
    }

    #[test]
    fn the_shipped_river_rule_is_valid_and_is_overridden_by_name_and_scope() {
        let shipped = default_rules();
        let names: Vec<&str> = shipped.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["river-flood"], "data/alerts.toml parses");
        let flood = &shipped[0];
        assert_eq!(flood.problem(), None);
        assert_eq!(
            (
                flood.quantity,
                flood.scope,
                flood.comparison,
                flood.threshold
            ),
            (
                Quantity::StreamGauge,
                ScopeKind::Sensor,
                Comparison::Above,
                3.5
            )
        );
        // The January 2022 flood at Pont-Neuf (3.97 m, 4.306 m) raises it; back under 3.0 m
        // it clears.
        let days = [(0, 1.2), (86_400, 3.97), (172_800, 4.306), (259_200, 2.9)];
        assert_eq!(
            run(flood, &days),
            [
                (86_400, "raised since 86400".to_owned()),
                (259_200, "cleared".to_owned())
            ]
        );

        let heat = rule(Comparison::Above, 0, 0.0);
        assert_eq!(with_defaults(&[]), shipped);
        assert_eq!(
            with_defaults(std::slice::from_ref(&heat)),
            [flood.clone(), heat]
        );
        let lower = AlertRule {
            threshold: 2.8,
            ..flood.clone()
        };
        assert_eq!(
            with_defaults(std::slice::from_ref(&lower)),
            std::slice::from_ref(&lower),
            "replaced"
        );
        let per_quartier = AlertRule {
            scope: ScopeKind::Neighbourhood,
            ..lower
        };
        assert_eq!(
            with_defaults(std::slice::from_ref(&per_quartier)),
            [flood.clone(), per_quartier],
            "another scope is another rule"
        );
    }

    #[test]
    fn bad_rules_say_how_to_fix_them() {
        let mut r = rule(Comparison::Above, 0, 0.0);
        assert_eq!(r.problem(), None);
        r.name = "heat/wave".into();
        assert!(r.problem().expect("refused").contains("topic level"));
        r.name = "heat".into();
        r.hysteresis = -1.0;
        assert!(r.problem().expect("refused").contains("≥ 0"));
    }
}

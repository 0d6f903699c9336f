//! MQTT topics of the v1 spec: builders for publishers, filters for subscribers, and a parser
//! for what arrives. All topics live under `{prefix}/v1/` (prefix `garonne` by default), so two
//! deployments can share a broker and a v2 can run beside v1.

/// The topic root of one deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    root: String,
}

/// A topic of the spec, parsed. Borrowed from the topic string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic<'a> {
    /// `sensors/{sensor_id}/reading`: one reading.
    Reading {
        /// The sensor id segment.
        sensor_id: &'a str,
    },
    /// `sensors/{sensor_id}/senml`: a SenML pack.
    Senml {
        /// The sensor id segment.
        sensor_id: &'a str,
    },
    /// `sensors/{sensor_id}/status`: online/offline (retained).
    Status {
        /// The sensor id segment.
        sensor_id: &'a str,
    },
    /// `sensors/{sensor_id}/rolling`: per-sensor rolling statistics (retained).
    Rolling {
        /// The sensor id segment.
        sensor_id: &'a str,
    },
    /// `neighbourhoods/{id}/aggregate`: window statistics (retained).
    Aggregate {
        /// The neighbourhood id segment.
        neighbourhood_id: &'a str,
    },
    /// `alerts/{rule}/{scope}`: an alert (retained while raised).
    Alert {
        /// The rule name segment.
        rule: &'a str,
        /// The scope segment (`neighbourhood-{id}` or `sensor-{id}`).
        scope: &'a str,
    },
    /// `errors/{sensor_id}`: why a payload was refused.
    Error {
        /// The sensor id segment (`unknown` when none could be read).
        sensor_id: &'a str,
    },
}

/// The default topic prefix.
pub const DEFAULT_PREFIX: &str = "garonne";

/// Whether `s` can be one topic level: non-empty, no `/`, `+`, `#` or NUL.
pub fn is_topic_segment(s: &str) -> bool {
    !s.is_empty() && !s.contains(['/', '+', '#', '\0'])
}

impl Default for Topics {
    fn default() -> Topics {
        Topics {
            root: format!("{DEFAULT_PREFIX}/v1"),
        }
    }
}

impl Topics {
    /// Topics under `prefix` (one or more levels, e.g. `garonne` or `city/garonne`).
    /// Returns `None` when the prefix is empty, has empty levels or MQTT wildcards.
    pub fn new(prefix: &str) -> Option<Topics> {
        prefix.split('/').all(is_topic_segment).then(|| Topics {
            root: format!("{prefix}/v1"),
        })
    }

    /// `{prefix}/v1`.
    pub fn root(&self) -> &str {
        &self.root
    }

    /// Where a sensor publishes a reading.
    pub fn reading(&self, sensor_id: &str) -> String {
        format!("{}/sensors/{sensor_id}/reading", self.root)
    }

    /// Where a sensor publishes a SenML pack.
    pub fn senml(&self, sensor_id: &str) -> String {
        format!("{}/sensors/{sensor_id}/senml", self.root)
    }

    /// Where a sensor's status (and last will) is retained.
    pub fn status(&self, sensor_id: &str) -> String {
        format!("{}/sensors/{sensor_id}/status", self.root)
    }

    /// Where a sensor's rolling statistics are retained.
    pub fn rolling(&self, sensor_id: &str) -> String {
        format!("{}/sensors/{sensor_id}/rolling", self.root)
    }

    /// Where a neighbourhood's aggregate is retained.
    pub fn aggregate(&self, neighbourhood_id: &str) -> String {
        format!("{}/neighbourhoods/{neighbourhood_id}/aggregate", self.root)
    }

    /// Where an alert is retained while raised.
    pub fn alert(&self, rule: &str, scope: &str) -> String {
        format!("{}/alerts/{rule}/{scope}", self.root)
    }

    /// Where refusals of a sensor's payloads are reported.
    pub fn error(&self, sensor_id: &str) -> String {
        format!("{}/errors/{sensor_id}", self.root)
    }

    /// Filter for every sensor's readings.
    pub fn all_readings(&self) -> String {
        self.reading("+")
    }

    /// Filter for every sensor's SenML packs.
    pub fn all_senml(&self) -> String {
        self.senml("+")
    }

    /// Filter for every sensor's status.
    pub fn all_status(&self) -> String {
        self.status("+")
    }

    /// Filter for every neighbourhood aggregate.
    pub fn all_aggregates(&self) -> String {
        self.aggregate("+")
    }

    /// Filter for every alert.
    pub fn all_alerts(&self) -> String {
        format!("{}/alerts/#", self.root)
    }

    /// Parses a topic of this deployment; `None` for anything else.
    pub fn parse<'a>(&self, topic: &'a str) -> Option<Topic<'a>> {
        let rest = topic.strip_prefix(self.root.as_str())?.strip_prefix('/')?;
        let parts: Vec<&str> = rest.split('/').collect();
        if parts.iter().any(|p| p.is_empty()) {
            return None;
        }
        Some(match parts.as_slice() {
            ["sensors", id, "reading"] => Topic::Reading { sensor_id: id },
            ["sensors", id, "senml"] => Topic::Senml { sensor_id: id },
            ["sensors", id, "status"] => Topic::Status { sensor_id: id },
            ["sensors", id, "rolling"] => Topic::Rolling { sensor_id: id },
            ["neighbourhoods", id, "aggregate"] => Topic::Aggregate {
                neighbourhood_id: id,
            },
            ["alerts", rule, scope] => Topic::Alert { rule, scope },
            ["errors", id] => Topic::Error { sensor_id: id },
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builders_and_parser_agree() {
        let t = Topics::default();
        let cases = [
            (t.reading("s1"), Topic::Reading { sensor_id: "s1" }),
            (t.senml("s1"), Topic::Senml { sensor_id: "s1" }),
            (t.status("s1"), Topic::Status { sensor_id: "s1" }),
            (t.rolling("s1"), Topic::Rolling { sensor_id: "s1" }),
            (
                t.aggregate("7"),
                Topic::Aggregate {
                    neighbourhood_id: "7",
                },
            ),
            (
                t.alert("heat", "neighbourhood-7"),
                Topic::Alert {
                    rule: "heat",
                    scope: "neighbourhood-7",
                },
            ),
            (t.error("s1"), Topic::Error { sensor_id: "s1" }),
        ];
        for (topic, want) in &cases {
            assert_eq!(t.parse(topic), Some(*want), "{topic}");
        }
        assert_eq!(t.reading("s1"), "garonne/v1/sensors/s1/reading");
        assert_eq!(t.all_readings(), "garonne/v1/sensors/+/reading");
        assert_eq!(t.all_alerts(), "garonne/v1/alerts/#");
    }

    #[test]
    fn foreign_and_malformed_topics_are_not_parsed() {
        let t = Topics::new("city/garonne").expect("valid prefix");
        for topic in [
            "garonne/v1/sensors/s1/reading",
            "city/garonne/v2/sensors/s1/reading",
            "city/garonne/v1/sensors//reading",
            "city/garonne/v1/sensors/s1/reading/extra",
            "city/garonne/v1x/sensors/s1/reading",
        ] {
            assert_eq!(t.parse(topic), None, "{topic}");
        }
        assert_eq!(
            t.parse("city/garonne/v1/sensors/s1/reading"),
            Some(Topic::Reading { sensor_id: "s1" })
        );
    }

    #[test]
    fn prefixes_with_wildcards_or_empty_levels_are_refused() {
        for bad in ["", "a//b", "a/+", "#", "/garonne", "garonne/"] {
            assert_eq!(Topics::new(bad), None, "{bad:?}");
        }
    }
}

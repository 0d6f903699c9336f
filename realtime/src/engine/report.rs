//! Error reports: what is refused is counted, and its sender hears why on its error topic
//! (`{prefix}/v1/errors/{sensor_id}`), with the payload's first bytes, at most once per sensor
//! per second.

use garonne_payload::{ErrorReport, Rule, SPEC_VERSION, Timestamp, Violation, is_valid_sensor_id};

use super::{Engine, Publish};

/// Error reports per sensor are at most one per this many nanoseconds.
const REPORT_INTERVAL_NANOS: i64 = 1_000_000_000;

/// Past this many entries, the error-report limiter forgets everyone (bounded memory under a
/// flood of made-up sensor ids).
const MAX_REPORT_KEYS: usize = 100_000;

/// Bytes of a refused payload quoted in its error report.
const EXCERPT_BYTES: usize = 256;

/// Most problems listed in one error report (a SenML pack of 5000 bad records has 5000); the
/// last entry then says how many more there were.
pub(super) const MAX_REPORTED: usize = 20;

impl Engine {
    /// Counts a refused payload by its first problem's rule, then publishes an error report,
    /// at most one per sensor per second. A late reading is counted where it is found, and a
    /// reading outside every neighbourhood is not refused (it counts for its sensor), so
    /// neither is counted here.
    pub(super) fn report(
        &mut self,
        topic: &str,
        sensor_id: Option<&str>,
        payload: &[u8],
        errors: Vec<Violation>,
        now: Timestamp,
        out: &mut Vec<Publish>,
    ) {
        if let Some(first) = errors.first()
            && !matches!(first.rule, Rule::Late | Rule::OutsideArea)
        {
            self.counters.reject(first.rule);
        }
        let key = sensor_id.unwrap_or("unknown");
        if let Some(last) = self.last_report.get(key)
            && (now.unix_nanos() - last.unix_nanos()) < i128::from(REPORT_INTERVAL_NANOS)
        {
            self.counters.error_reports_suppressed += 1;
            return;
        }
        if self.last_report.len() >= MAX_REPORT_KEYS {
            self.last_report.clear();
        }
        self.last_report.insert(key.to_owned(), now);
        let excerpt = &payload[..payload.len().min(EXCERPT_BYTES)];
        let message = ErrorReport {
            v: SPEC_VERSION,
            sensor_id: sensor_id.map(str::to_owned),
            topic: topic.to_owned(),
            received_at: now,
            errors: at_most_reported(errors),
            excerpt: String::from_utf8_lossy(excerpt).into_owned(),
        };
        if let Some(publish) = Publish::json(self.topics.error(key), &message, false) {
            out.push(publish);
            self.counters.error_reports += 1;
        }
    }

    /// Why a payload from `payload_sensor` is refused on the topic of `topic_sensor`.
    pub(super) fn mismatch(
        &self,
        pointer: &str,
        payload_sensor: &str,
        topic_sensor: &str,
    ) -> Violation {
        Violation::new(
            pointer,
            Rule::SensorMismatch,
            format!(
                "the payload is from sensor \"{payload_sensor}\" but was published on the topic \
                 of sensor \"{topic_sensor}\""
            ),
            format!(
                "publish on {} (a sensor publishes only under its own id)",
                self.topics.reading(payload_sensor)
            ),
            format!(
                "publiez sur {} (un capteur ne publie que sous son propre identifiant)",
                self.topics.reading(payload_sensor)
            ),
        )
    }
}

/// The problems, cut to [`MAX_REPORTED`]: the last entry then says how many more there were.
fn at_most_reported(mut errors: Vec<Violation>) -> Vec<Violation> {
    if errors.len() > MAX_REPORTED {
        let more = errors.len() - (MAX_REPORTED - 1);
        errors.truncate(MAX_REPORTED - 1);
        let rule = errors.last().map_or(Rule::JsonSyntax, |v| v.rule);
        errors.push(Violation::new(
            "",
            rule,
            format!("and {more} more problems, not listed"),
            "fix the problems above and check the payload again with \
             `garonne payload validate`, which lists every one",
            "corrigez les problèmes ci-dessus, puis vérifiez à nouveau le message avec \
             `garonne payload validate`, qui les liste tous",
        ));
    }
    errors
}

/// The sender of a refused payload: its topic's sensor id, if valid (the broker's ACL lets a
/// sensor publish under its own id only, so the topic says who sent it, whatever the payload
/// claims); else the `sensor_id` the payload carries, if valid; else nobody known.
pub(super) fn sender_of(payload: &[u8], topic_sensor: &str) -> Option<String> {
    if is_valid_sensor_id(topic_sensor) {
        return Some(topic_sensor.to_owned());
    }
    serde_json::from_slice::<serde_json::Value>(payload)
        .ok()
        .and_then(|v| match v {
            serde_json::Value::Object(mut o) => match o.remove("sensor_id") {
                Some(serde_json::Value::String(id)) => Some(id),
                _ => None,
            },
            // A SenML pack: the base name of its first record, `{sensor_id}:`.
            serde_json::Value::Array(records) => records
                .first()
                .and_then(|r| r.get("bn"))
                .and_then(|bn| bn.as_str())
                .and_then(|bn| bn.split(':').next())
                .map(str::to_owned),
            _ => None,
        })
        .filter(|id| is_valid_sensor_id(id))
}

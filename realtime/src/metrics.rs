//! What the realtime core counts, and its rendering for `/metrics`.

use garonne_payload::Rule;
use garonne_service::prometheus::Exposition;

/// Upper bounds of the lag histogram buckets, seconds: how old a reading is (by its own time)
/// when it is folded in. Replayed or queued readings land in the upper buckets.
pub const LAG_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0, 120.0, 900.0,
];

/// The core's counters. Plain numbers: the core is single-threaded; the driver copies them out
/// for `/metrics`.
#[derive(Debug, Clone, PartialEq)]
pub struct Counters {
    /// Payloads received (readings, SenML packs, and what failed to parse).
    pub messages: u64,
    /// Readings folded into the windows.
    pub readings: u64,
    /// Payloads or readings refused, by rule (index: position in [`Rule::ALL`]).
    pub rejected: [u64; Rule::ALL.len()],
    /// Readings folded whose sensor lies outside every neighbourhood.
    pub outside: u64,
    /// Readings dropped as exact repeats of one the sensor sent just before.
    pub duplicates: u64,
    /// Messages on topics realtime does not read (ignored).
    pub ignored: u64,
    /// Neighbourhood aggregates published.
    pub aggregates: u64,
    /// Per-sensor rolling statistics published.
    pub rolling: u64,
    /// Alert messages published (raised and cleared).
    pub alerts: u64,
    /// Error reports published.
    pub error_reports: u64,
    /// Error reports not published because the same sensor had one less than a second ago.
    pub error_reports_suppressed: u64,
    /// Lag histogram: counts per bucket of [`LAG_BUCKETS`], the last for above every bound.
    pub lag_counts: [u64; LAG_BUCKETS.len() + 1],
    /// Sum of the lags, seconds.
    pub lag_sum: f64,
    /// Lag of the newest reading folded, seconds.
    pub lag_last: f64,
    /// Sensors known.
    pub sensors: u64,
    /// Sensors forgotten after `forget_sensors_after_secs` without a reading.
    pub sensors_forgotten: u64,
    /// Alerts raised now.
    pub active_alerts: u64,
}

impl Default for Counters {
    fn default() -> Counters {
        Counters {
            messages: 0,
            readings: 0,
            rejected: [0; Rule::ALL.len()],
            outside: 0,
            duplicates: 0,
            ignored: 0,
            aggregates: 0,
            rolling: 0,
            alerts: 0,
            error_reports: 0,
            error_reports_suppressed: 0,
            lag_counts: [0; LAG_BUCKETS.len() + 1],
            lag_sum: 0.0,
            lag_last: 0.0,
            sensors: 0,
            sensors_forgotten: 0,
            active_alerts: 0,
        }
    }
}

impl Counters {
    /// Counts one refusal under `rule`.
    pub fn reject(&mut self, rule: Rule) {
        if let Some(i) = Rule::ALL.iter().position(|r| *r == rule) {
            self.rejected[i] += 1;
        }
    }

    /// Refusals under `rule`.
    pub fn rejected(&self, rule: Rule) -> u64 {
        Rule::ALL
            .iter()
            .position(|r| *r == rule)
            .map_or(0, |i| self.rejected[i])
    }

    /// Records the lag of one reading folded in.
    #[inline]
    pub fn observe_lag(&mut self, secs: f64) {
        let bucket = LAG_BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(LAG_BUCKETS.len());
        self.lag_counts[bucket] += 1;
        self.lag_sum += secs;
        self.lag_last = secs;
    }

    /// Adds these counters to a Prometheus exposition.
    pub fn render(&self, e: &mut Exposition) {
        e.counter(
            "garonne_realtime_messages_received_total",
            "Payloads taken from MQTT (readings, SenML packs, unparseable ones).",
            self.messages,
        )
        .counter(
            "garonne_realtime_readings_folded_total",
            "Readings folded into the windows.",
            self.readings,
        )
        .counter_by(
            "garonne_realtime_rejected_total",
            "Payloads or readings refused, by rule (late: after its window closed).",
            "rule",
            Rule::ALL
                .iter()
                .zip(self.rejected)
                .filter(|(r, _)| **r != Rule::OutsideArea)
                .map(|(r, n)| (r.as_str(), n)),
        )
        .counter(
            "garonne_realtime_late_total",
            "Readings that arrived after their window closed (also in rejected_total{rule=\"late\"}).",
            self.rejected(Rule::Late),
        )
        .counter(
            "garonne_realtime_outside_total",
            "Readings whose sensor lies outside every neighbourhood (folded for the sensor only).",
            self.outside,
        )
        .counter(
            "garonne_realtime_duplicates_total",
            "Readings dropped as repeats of one the sensor had just sent.",
            self.duplicates,
        )
        .counter(
            "garonne_realtime_ignored_total",
            "Messages on topics realtime does not read.",
            self.ignored,
        )
        .counter(
            "garonne_realtime_aggregates_published_total",
            "Neighbourhood aggregates published.",
            self.aggregates,
        )
        .counter(
            "garonne_realtime_rolling_published_total",
            "Per-sensor rolling statistics published.",
            self.rolling,
        )
        .counter(
            "garonne_realtime_alerts_published_total",
            "Alert messages published (raised and cleared).",
            self.alerts,
        )
        .counter(
            "garonne_realtime_error_reports_published_total",
            "Error reports published.",
            self.error_reports,
        )
        .counter(
            "garonne_realtime_error_reports_suppressed_total",
            "Error reports not published: the sensor had one less than a second before.",
            self.error_reports_suppressed,
        )
        .histogram(
            "garonne_realtime_lag_seconds",
            "Age of each reading, by its own time, when it is folded in.",
            &LAG_BUCKETS,
            &self.lag_counts,
            self.lag_sum,
        )
        .gauge(
            "garonne_realtime_last_lag_seconds",
            "Age of the newest reading folded in, seconds.",
            self.lag_last,
        )
        .gauge(
            "garonne_realtime_sensors",
            "Sensors known.",
            self.sensors as f64,
        )
        .counter(
            "garonne_realtime_sensors_forgotten_total",
            "Sensors forgotten after forget_sensors_after_secs without a reading.",
            self.sensors_forgotten,
        )
        .gauge(
            "garonne_realtime_active_alerts",
            "Alerts raised now.",
            self.active_alerts as f64,
        );
    }
}

//! A writer of the Prometheus text exposition format (version 0.0.4): enough for counters,
//! gauges and histograms whose values a service keeps in its own structs. Pure; no registry,
//! no global state: a service renders its counters when `/metrics` is asked.

use std::fmt::Write;

/// The `Content-Type` of the text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Prometheus text under construction.
#[derive(Debug, Default)]
pub struct Exposition {
    text: String,
}

impl Exposition {
    /// An empty exposition.
    pub fn new() -> Exposition {
        Exposition::default()
    }

    fn header(&mut self, name: &str, help: &str, kind: &str) {
        let _ = writeln!(self.text, "# HELP {name} {help}");
        let _ = writeln!(self.text, "# TYPE {name} {kind}");
    }

    /// A counter without labels.
    pub fn counter(&mut self, name: &str, help: &str, value: u64) -> &mut Self {
        self.header(name, help, "counter");
        let _ = writeln!(self.text, "{name} {value}");
        self
    }

    /// A counter with one label, one sample per `(label value, count)`.
    pub fn counter_by<'a>(
        &mut self,
        name: &str,
        help: &str,
        label: &str,
        samples: impl IntoIterator<Item = (&'a str, u64)>,
    ) -> &mut Self {
        self.header(name, help, "counter");
        for (value, count) in samples {
            let _ = writeln!(self.text, "{name}{{{label}=\"{}\"}} {count}", escape(value));
        }
        self
    }

    /// A gauge without labels.
    pub fn gauge(&mut self, name: &str, help: &str, value: f64) -> &mut Self {
        self.header(name, help, "gauge");
        let _ = writeln!(self.text, "{name} {}", number(value));
        self
    }

    /// A histogram: `bounds` are the upper bounds of the buckets (ascending, `+Inf` added),
    /// `counts[i]` the observations in bucket `i` alone (not cumulative; one more than
    /// `bounds`, the last for above every bound), `sum` the sum of the observations.
    pub fn histogram(
        &mut self,
        name: &str,
        help: &str,
        bounds: &[f64],
        counts: &[u64],
        sum: f64,
    ) -> &mut Self {
        self.header(name, help, "histogram");
        let mut cumulative = 0;
        for (i, count) in counts.iter().enumerate() {
            cumulative += count;
            let le = bounds.get(i).map_or("+Inf".to_owned(), |b| number(*b));
            let _ = writeln!(self.text, "{name}_bucket{{le=\"{le}\"}} {cumulative}");
        }
        let _ = writeln!(self.text, "{name}_sum {}", number(sum));
        let _ = writeln!(self.text, "{name}_count {cumulative}");
        self
    }

    /// The text.
    pub fn finish(self) -> String {
        self.text
    }
}

/// A label value with `\`, `"` and newlines escaped, as the format requires.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn number(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_owned()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else {
        value.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_text_format() {
        let mut e = Exposition::new();
        e.counter("x_total", "Things.", 3)
            .counter_by("r_total", "By rule.", "rule", [("a\"b", 1), ("c", 2)])
            .gauge("g", "A gauge.", 0.5)
            .histogram("h_seconds", "Lag.", &[0.1, 1.0], &[2, 0, 1], 1.7);
        let text = e.finish();
        let expected = "# HELP x_total Things.\n# TYPE x_total counter\nx_total 3\n\
# HELP r_total By rule.\n# TYPE r_total counter\nr_total{rule=\"a\\\"b\"} 1\nr_total{rule=\"c\"} 2\n\
# HELP g A gauge.\n# TYPE g gauge\ng 0.5\n\
# HELP h_seconds Lag.\n# TYPE h_seconds histogram\nh_seconds_bucket{le=\"0.1\"} 2\n\
h_seconds_bucket{le=\"1\"} 2\nh_seconds_bucket{le=\"+Inf\"} 3\nh_seconds_sum 1.7\nh_seconds_count 3\n";
        assert_eq!(text, expected);
    }
}

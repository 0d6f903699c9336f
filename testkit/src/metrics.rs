//! [`Metrics`]: a service's `/metrics` page, scraped and parsed.
//!
//! Garonne's services (realtime, the historian, the server) serve their counters in the
//! Prometheus text format on their ops address. Tests read them to know when something has
//! happened (a subscription in place, a spool drained) and to check counts. Scraping is a plain
//! HTTP/1.1 `GET` over a loopback TCP connection, so that the testkit needs no HTTP client; the
//! page is parsed into samples keyed by `name{labels}` exactly as written, such as
//! `garonne_realtime_messages_received_total` or `garonne_x_total{reason="late"}`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long one scrape (connect, request, whole answer) may take.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(5);

/// The samples of one `/metrics` page, by `name{labels}` as written.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Metrics {
    samples: HashMap<String, f64>,
    /// The page as it was served, for assertion messages.
    text: String,
}

impl Metrics {
    /// Parses a page in the Prometheus text format: comment lines (`# HELP`, `# TYPE`) and lines
    /// whose value is not a number are left out.
    #[must_use]
    pub fn parse(text: &str) -> Metrics {
        let samples = text
            .lines()
            .filter(|line| !line.starts_with('#'))
            .filter_map(|line| {
                let (name, value) = line.rsplit_once(' ')?;
                Some((name.to_owned(), value.parse().ok()?))
            })
            .collect();
        Metrics {
            samples,
            text: text.to_owned(),
        }
    }

    /// Fetches and parses `GET /metrics` from the service at `address`; an empty page when it
    /// does not answer `200` within a few seconds (a service still starting, or stopped).
    pub async fn scrape(address: SocketAddr) -> Metrics {
        let body = tokio::time::timeout(SCRAPE_TIMEOUT, get(address, "/metrics"))
            .await
            .ok()
            .flatten()
            .unwrap_or_default();
        Metrics::parse(&body)
    }

    /// The sample `name` (with its labels as written), if the page has it.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<f64> {
        self.samples.get(name).copied()
    }

    /// The sample `name`, or 0 when the page does not have it (a counter not yet counted).
    #[must_use]
    pub fn value(&self, name: &str) -> f64 {
        self.get(name).unwrap_or(0.0)
    }

    /// The sample `name`; panics with the whole page when it is missing.
    #[must_use]
    pub fn expect(&self, name: &str) -> f64 {
        self.get(name)
            .unwrap_or_else(|| panic!("no {name} in /metrics:\n{}", self.text))
    }

    /// Every sample, by `name{labels}`.
    #[must_use]
    pub fn samples(&self) -> &HashMap<String, f64> {
        &self.samples
    }

    /// The page as it was served.
    #[must_use]
    pub fn text(&self) -> &str {
        &self.text
    }
}

/// Whether the service at `address` answers `GET /readyz` with `200` now (connected to its
/// broker, for Garonne's services).
pub async fn is_ready(address: SocketAddr) -> bool {
    tokio::time::timeout(SCRAPE_TIMEOUT, get(address, "/readyz"))
        .await
        .is_ok_and(|body| body.is_some())
}

/// Polls [`is_ready`] every 50 ms until it says so, or `timeout` has passed; whether it did.
pub async fn wait_until_ready(address: SocketAddr, timeout: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if is_ready(address).await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The body of `GET path` from `address` if it answers `200`, `None` otherwise.
pub(crate) async fn get(address: SocketAddr, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect(address).await.ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.ok()?;
    let text = String::from_utf8(response).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200").then(|| body.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_keyed_by_name_and_labels_as_written() {
        let page = "# HELP a_total what a counts\n# TYPE a_total counter\na_total 3\n\
                    b{reason=\"late\",topic=\"x y\"} 1.5\nc NaN-ish\n";
        let metrics = Metrics::parse(page);
        assert_eq!(metrics.get("a_total"), Some(3.0));
        assert_eq!(metrics.get("b{reason=\"late\",topic=\"x y\"}"), Some(1.5));
        assert_eq!(metrics.get("c"), None);
        assert_eq!(metrics.value("missing"), 0.0);
        assert_eq!(metrics.samples().len(), 2);
        assert_eq!(metrics.text(), page);
    }

    #[tokio::test]
    async fn a_closed_port_scrapes_as_an_empty_page() {
        let address = SocketAddr::from(([127, 0, 0, 1], crate::free_port().expect("port")));
        assert_eq!(Metrics::scrape(address).await, Metrics::default());
    }
}

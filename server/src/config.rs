//! The server's configuration: a TOML file (`--config`), every key overridable by a flag.
//! Units are in the names. Defaults: the broker's in [`MqttConfig`], the files' in [`DataDir`],
//! the store's in [`StoreConfig`]'s variants, the rest in [`Config::in_folder`]. Secrets never
//! live here: the InfluxDB token or user and the MQTT login come from the environment, read by
//! the `garonne` command, as for the historian.
//!
//! ```toml
//! http_addr = "127.0.0.1:8080"
//! neighbourhoods = "data/quartiers-de-democratie-locale.geojson"
//! grafana_url = "http://127.0.0.1:3000"
//! static_dir = "frontend/dist"
//!
//! [mqtt]
//! broker = "mqtt://127.0.0.1:1883"
//!
//! [store]
//! kind = "embedded"          # or "influx-v1", "influx-v2" (url, db)
//! path = "data/history.sqlite"
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;

use garonne_payload::Quantity;
use garonne_service::check_range;
use garonne_service::config::MqttConfig;
pub use garonne_service::config::{ConfigError, ServiceConfig};
use garonne_service::data_dir::DataDir;
pub use garonne_store::StoreConfig;
use garonne_store::config::{InfluxV1Config, InfluxV2Config};
use serde::{Deserialize, Serialize};

/// Everything `garonne serve` needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address the web server listens on (pages, API, events, `/healthz`, `/readyz`,
    /// `/metrics`).
    pub http_addr: SocketAddr,
    /// The neighbourhood polygons (GeoJSON FeatureCollection), the same file as realtime's.
    pub neighbourhoods: PathBuf,
    /// Feature property holding a neighbourhood's id (detected for the Toulouse files).
    pub id_property: Option<String>,
    /// Feature property holding a neighbourhood's name (detected for the Toulouse files).
    pub name_property: Option<String>,
    /// Grafana's base URL for the "open in Grafana" links (`http(s)://...` or a path such as
    /// `/grafana` behind the same nginx); unset: no links.
    pub grafana_url: Option<String>,
    /// Base-map tile URL template with `{z}`, `{x}` and `{y}` (e.g.
    /// `https://tile.openstreetmap.org/{z}/{x}/{y}.png`); unset: no base map, the polygons and
    /// sensors alone.
    pub tiles_url: Option<String>,
    /// The built front-end (`cd frontend && npm ci && npm run build`), served under `/static/`.
    pub static_dir: PathBuf,
    /// Quantity the map shows first.
    pub default_quantity: Quantity,
    /// Most sensors whose latest state is kept in memory; past it, new sensors are counted in
    /// `garonne_server_sensors_refused_total` and left out, unless silent ones can be forgotten.
    pub max_sensors: usize,
    /// Live messages held for slow event-stream clients; a client further behind skips the
    /// oldest (counted in `garonne_server_events_dropped_total`), never slowing the others.
    pub events_buffer: usize,
    /// How long a sensor stays known without a message, seconds, when `max_sensors` are kept and
    /// a new one comes: the silent ones are forgotten to make room.
    pub forget_sensors_after_secs: u32,
    /// Most event-stream (`/events`) clients at once; past it, new ones get 503.
    pub max_event_clients: usize,
    /// Read the broker's count of dropped messages (mosquitto's
    /// `$SYS/broker/publish/messages/dropped`) into `/metrics`; off for a broker without `$SYS`
    /// topics (rumqttd, the embedded broker of `garonne up`, refuses the subscription).
    pub broker_stats: bool,
    /// How long a client has to send its request headers, seconds; past it, the connection is
    /// closed (a client sending a byte at a time holds nothing for longer).
    pub header_read_timeout_secs: u32,
    /// The broker, the topic prefix and the client id (unset: `garonne-server-{pid}-{random}`,
    /// so several servers can share a broker; the server keeps no session: it rebuilds its
    /// state from retained messages).
    pub mqtt: MqttConfig,
    /// Where history comes from: the historian's `[store]` block, copied as it is (the
    /// server reads `kind`, `path`, `url` and `db`).
    pub store: StoreConfig,
}

/// The comments of `--print-default-config`.
const NOTES: [(&str, &str); 11] = [
    (
        "http_addr",
        "Address of the web server (pages, API, events, /healthz, /readyz, /metrics).",
    ),
    (
        "neighbourhoods",
        "The polygons (GeoJSON), the same file as realtime's; id_property and name_property\n\
         name their properties when they are not detected.",
    ),
    (
        "static_dir",
        "The built front-end (cd frontend && npm ci && npm run build). Also: grafana_url for\n\
         the \"open in Grafana\" links, tiles_url for a base map ({z}/{x}/{y}).",
    ),
    ("default_quantity", "The quantity the map shows first."),
    (
        "max_sensors",
        "Most sensors whose latest state is kept in memory.",
    ),
    (
        "events_buffer",
        "Live messages held for slow event-stream clients.",
    ),
    (
        "forget_sensors_after_secs",
        "At the sensor bound, sensors silent this long (seconds) are forgotten to make room.",
    ),
    (
        "max_event_clients",
        "Most event-stream (/events) clients at once.",
    ),
    (
        "broker_stats",
        "Read mosquitto's count of dropped messages ($SYS) into /metrics (false for a broker\n\
         without $SYS topics).",
    ),
    (
        "header_read_timeout_secs",
        "How long a client has to send its request headers, seconds.",
    ),
    (
        "[store]",
        "Where history comes from: the historian's [store] block, copied as it is (the
\
         other kinds are below).",
    ),
];

impl ServiceConfig for Config {
    const SERVICE: &'static str = "server";
    const NOTES: &'static [(&'static str, &'static str)] = &NOTES;

    fn check(&self) -> Result<(), String> {
        if let Some(url) = &self.grafana_url
            && !is_web_address(url)
        {
            return Err(format!(
                "grafana_url \"{url}\" is not a web address: write it like \
                 http://127.0.0.1:3000 or /grafana"
            ));
        }
        if let Some(url) = &self.tiles_url
            && (!is_web_address(url) || !["{z}", "{x}", "{y}"].iter().all(|p| url.contains(p)))
        {
            return Err(format!(
                "tiles_url \"{url}\" is not a tile URL template: write it like \
                 https://tile.openstreetmap.org/{{z}}/{{x}}/{{y}}.png (with {{z}}, {{x}} and {{y}})"
            ));
        }
        check_range!(self.max_sensors in 1..=10_000_000,
            "1 to 10000000 (100000 holds a large city)")?;
        check_range!(self.events_buffer in 16..=1_000_000,
            "16 to 1000000 messages (4096 is plenty)")?;
        check_range!(self.max_event_clients in 1..=1_000_000, "1 to 1000000")?;
        check_range!(self.header_read_timeout_secs in 1..=300, "1 to 300 s (10 is plenty)")?;
        check_range!(self.forget_sensors_after_secs in 60..=31_536_000,
            "60 s to a year (86400: a day)")?;
        self.store.validate()?;
        // History is read with InfluxQL, from a database: for 2.x/3.x the one mapped to the
        // bucket (DBRP).
        if let StoreConfig::InfluxV1(InfluxV1Config { db, .. })
        | StoreConfig::InfluxV2(InfluxV2Config { db, .. }) = &self.store
            && db.is_empty()
        {
            return Err(
                "the InfluxDB db (--db) is empty: give the database history is read from \
                 (2.x/3.x: the name mapped to the bucket)"
                    .into(),
            );
        }
        self.mqtt.validate()
    }

    /// The defaults, with the polygons and the embedded store in `data`.
    fn in_folder(data: &DataDir) -> Config {
        Config {
            http_addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            neighbourhoods: data.polygons(),
            id_property: None,
            name_property: None,
            grafana_url: None,
            tiles_url: None,
            static_dir: PathBuf::from("frontend/dist"),
            default_quantity: Quantity::Temperature,
            max_sensors: 100_000,
            events_buffer: 4096,
            forget_sensors_after_secs: 86_400,
            max_event_clients: 10_000,
            header_read_timeout_secs: 10,
            broker_stats: true,
            mqtt: MqttConfig::default(),
            store: StoreConfig::embedded(data.history()),
        }
    }

    fn appendix(&self) -> String {
        self.store.other_kinds_toml()
    }
}

garonne_service::service_config_defaults!(Config);

/// An absolute `http(s)://` URL, or a path on this site.
fn is_web_address(url: &str) -> bool {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"));
    match rest {
        Some(rest) => !rest.is_empty() && !rest.starts_with('/'),
        None => url.starts_with('/') && !url.starts_with("//"),
    }
}

#[cfg(test)]
mod tests {
    use garonne_store::StoreKind;

    use super::*;

    #[test]
    fn defaults_print_back_and_bad_values_are_refused_with_the_fix() {
        garonne_service::config::assert_checks::<Config>(
            &[
                ("leave it unset", |c| c.mqtt.client_id = Some(String::new())),
                ("http://127.0.0.1:3000 or /grafana", |c| {
                    c.grafana_url = Some("grafana.local".into())
                }),
                ("with {z}, {x} and {y}", |c| {
                    c.tiles_url = Some("https://tiles.example/{z}/{x}.png".into())
                }),
                ("100000 holds", |c| c.max_sensors = 0),
                ("16 to 1000000", |c| c.events_buffer = 1),
            ],
            &[
                ("mqtt://127.0.0.1:1883", "[mqtt]\nbroker = \"http://x\""),
                ("topic prefix", "[mqtt]\ntopic_prefix = \"a/+\""),
                (
                    "http://127.0.0.1:8086",
                    "[store]\nkind = \"influx-v1\"\nurl = \"127.0.0.1:8086\"",
                ),
                ("db (--db)", "[store]\nkind = \"influx-v1\"\ndb = \"\""),
            ],
        );
    }

    #[test]
    fn web_addresses_are_absolute_urls_or_site_paths() {
        for (url, ok) in [
            ("http://127.0.0.1:3000", true),
            ("https://grafana.example.org/", true),
            ("/grafana", true),
            ("//evil.example", false),
            ("http://", false),
            ("grafana", false),
            ("ftp://x", false),
        ] {
            assert_eq!(is_web_address(url), ok, "{url}");
        }
    }

    #[test]
    fn typos_in_the_file_are_refused_by_name() {
        let e = toml::from_str::<Config>("http_adr = \"127.0.0.1:80\"").expect_err("typo");
        assert!(e.to_string().contains("http_adr"), "{e}");
        let c: Config = toml::from_str(
            "default_quantity = \"relativeHumidity\"\n[store]\nkind = \"influx-v1\"\ndb = \"g\"",
        )
        .expect("parses");
        assert_eq!(c.default_quantity, Quantity::RelativeHumidity);
        assert_eq!(c.store.kind(), StoreKind::InfluxV1);
    }
}

//! The server's configuration: a TOML file (`--config`), every key overridable by a flag.
//! Units are in the names; defaults live in [`Config::default`] (the store's in
//! [`StoreConfig`]'s variants). Secrets never live here: the InfluxDB token or user comes from
//! the environment, read by the `garonne` command, as for the historian.
//!
//! ```toml
//! broker = "mqtt://127.0.0.1:1883"
//! http_addr = "127.0.0.1:8080"
//! neighbourhoods = "data/quartiers-de-democratie-locale.geojson"
//! grafana_url = "http://127.0.0.1:3000"
//! static_dir = "frontend/dist"
//!
//! [store]
//! kind = "embedded"          # or "influx-v1", "influx-v2" (url, db)
//! path = "data/history.sqlite"
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use garonne_payload::{Quantity, Topics};
use garonne_service::mqtt::BrokerUrl;
pub use garonne_store::StoreConfig;
use garonne_store::config::{InfluxV1Config, InfluxV2Config};
use serde::{Deserialize, Serialize};

/// Everything `garonne serve` needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The MQTT broker, `mqtt://HOST:PORT`.
    pub broker: String,
    /// MQTT client id. Unset: `garonne-server-{pid}-{random}`, so several servers can share a
    /// broker (the server keeps no session: it rebuilds its state from retained messages).
    pub client_id: Option<String>,
    /// Topic prefix (`garonne`: topics under `garonne/v1/`).
    pub topic_prefix: String,
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
    /// `garonne_server_sensors_refused_total` and left out.
    pub max_sensors: usize,
    /// Live messages held for slow event-stream clients; a client further behind skips the
    /// oldest (counted in `garonne_server_events_dropped_total`), never slowing the others.
    pub events_buffer: usize,
    /// Most event-stream (`/events`) clients at once; past it, new ones get 503.
    pub max_event_clients: usize,
    /// Where history comes from: the historian's `[store]` block, copied as it is (the
    /// server reads `kind`, `path`, `url` and `db`).
    pub store: StoreConfig,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            broker: "mqtt://127.0.0.1:1883".to_owned(),
            client_id: None,
            topic_prefix: "garonne".to_owned(),
            http_addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            neighbourhoods: PathBuf::from("data/quartiers-de-democratie-locale.geojson"),
            id_property: None,
            name_property: None,
            grafana_url: None,
            tiles_url: None,
            static_dir: PathBuf::from("frontend/dist"),
            default_quantity: Quantity::Temperature,
            max_sensors: 100_000,
            events_buffer: 4096,
            max_event_clients: 10_000,
            store: StoreConfig::default(),
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
    #[error("server configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// Reads a TOML file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        Ok(garonne_service::config::load("server", path)?)
    }

    /// The default configuration as TOML, for `--print-default-config`.
    pub fn default_toml() -> String {
        let config = Config::default();
        garonne_service::config::to_toml(&config) + &config.store.other_kinds_toml()
    }

    /// Checks every value; the error says what is wrong and how to fix it.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |s: String| Err(ConfigError::Invalid(s));
        self.mqtt()?;
        if let Some(id) = &self.client_id
            && (id.is_empty() || id.len() > 128)
        {
            return invalid(
                "client_id must be 1 to 128 characters; leave it unset for a unique one".into(),
            );
        }
        if let Some(url) = &self.grafana_url
            && !is_web_address(url)
        {
            return invalid(format!(
                "grafana_url \"{url}\" is not a web address: write it like \
                 http://127.0.0.1:3000 or /grafana"
            ));
        }
        if let Some(url) = &self.tiles_url
            && (!is_web_address(url) || !["{z}", "{x}", "{y}"].iter().all(|p| url.contains(p)))
        {
            return invalid(format!(
                "tiles_url \"{url}\" is not a tile URL template: write it like \
                 https://tile.openstreetmap.org/{{z}}/{{x}}/{{y}}.png (with {{z}}, {{x}} and {{y}})"
            ));
        }
        if !(1..=10_000_000).contains(&self.max_sensors) {
            return invalid(format!(
                "max_sensors is {}: use 1 to 10000000 (100000 holds a large city)",
                self.max_sensors
            ));
        }
        if !(16..=1_000_000).contains(&self.events_buffer) {
            return invalid(format!(
                "events_buffer is {}: use 16 to 1000000 messages (4096 is plenty)",
                self.events_buffer
            ));
        }
        if !(1..=1_000_000).contains(&self.max_event_clients) {
            return invalid(format!(
                "max_event_clients is {}: use 1 to 1000000",
                self.max_event_clients
            ));
        }
        self.store.validate().map_err(ConfigError::Invalid)?;
        // History is read with InfluxQL, from a database: for 2.x/3.x the one mapped to the
        // bucket (DBRP).
        if let StoreConfig::InfluxV1(InfluxV1Config { db, .. })
        | StoreConfig::InfluxV2(InfluxV2Config { db, .. }) = &self.store
            && db.is_empty()
        {
            return invalid(
                "the InfluxDB db (--db) is empty: give the database history is read from \
                 (2.x/3.x: the name mapped to the bucket)"
                    .into(),
            );
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

    /// The MQTT client id: the configured one, or one unique to this process.
    pub fn client_id(&self) -> String {
        match &self.client_id {
            Some(id) => id.clone(),
            None => {
                let nanos = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.subsec_nanos());
                format!("garonne-server-{}-{nanos:08x}", std::process::id())
            }
        }
    }
}

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
    fn the_default_configuration_is_valid_and_round_trips_through_toml() {
        let config = Config::default();
        config.validate().expect("default is valid");
        let back: Config = toml::from_str(&Config::default_toml()).expect("parses");
        assert_eq!(back, config);
    }

    #[test]
    fn bad_values_are_refused_with_the_fix() {
        type Spoil = fn(&mut Config);
        let cases: [(&str, Spoil); 9] = [
            ("mqtt://127.0.0.1:1883", |c| c.broker = "http://x".into()),
            ("topic prefix", |c| c.topic_prefix = "a/+".into()),
            ("leave it unset", |c| c.client_id = Some(String::new())),
            ("http://127.0.0.1:3000 or /grafana", |c| {
                c.grafana_url = Some("grafana.local".into())
            }),
            ("with {z}, {x} and {y}", |c| {
                c.tiles_url = Some("https://tiles.example/{z}/{x}.png".into())
            }),
            ("100000 holds", |c| c.max_sensors = 0),
            ("16 to 1000000", |c| c.events_buffer = 1),
            ("http://127.0.0.1:8086", |c| {
                c.store = StoreConfig::InfluxV1(InfluxV1Config {
                    url: "127.0.0.1:8086".into(),
                    ..InfluxV1Config::default()
                });
            }),
            ("db (--db)", |c| {
                c.store = StoreConfig::InfluxV1(InfluxV1Config {
                    db: String::new(),
                    ..InfluxV1Config::default()
                });
            }),
        ];
        for (fix, spoil) in cases {
            let mut config = Config::default();
            spoil(&mut config);
            let e = config.validate().expect_err(fix).to_string();
            assert!(e.contains(fix), "{e} should say {fix}");
        }
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

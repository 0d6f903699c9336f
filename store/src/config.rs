//! The `[store]` block of the historian's and the server's configuration: which store, and
//! where. One variant per kind, tagged by `kind`, each with only its own keys (a key of another
//! kind is refused by name), so the file says what it means; the defaults live in each
//! variant's `Default`. Secrets never live here: [`crate::influx::Credentials`] are passed in.
//!
//! ```toml
//! [store]
//! kind = "embedded"               # or "influx-v1", "influx-v2"
//! path = "data/history.sqlite"
//! ```

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::embedded::Retention;

/// The InfluxDB every Influx kind names by default: one on this machine.
const INFLUX_URL: &str = "http://127.0.0.1:8086";

/// The database, organisation and bucket every Influx kind names by default.
const INFLUX_NAME: &str = "garonne";

/// Where points are written (the historian) and history read (the server): the `[store]`
/// block, `kind = "embedded"`, `"influx-v1"` or `"influx-v2"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum StoreConfig {
    /// `kind = "embedded"`: a SQLite file the historian writes and the server reads, no
    /// server to run.
    Embedded(EmbeddedConfig),
    /// `kind = "influx-v1"`: InfluxDB's v1 API (InfluxDB 1.x; 2.x/3.x for a database mapped to
    /// the bucket), as a user (`INFLUX_USERNAME`, `INFLUX_PASSWORD`).
    InfluxV1(InfluxV1Config),
    /// `kind = "influx-v2"`: InfluxDB's v2 write API (InfluxDB 2.x/3.x, VictoriaMetrics), with a
    /// token (`INFLUX_TOKEN`); history is read with InfluxQL from the database mapped to the
    /// bucket.
    InfluxV2(InfluxV2Config),
}

/// The embedded store's keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmbeddedConfig {
    /// The database file (its folder is created if needed).
    pub path: PathBuf,
    /// How long raw readings are kept, days.
    pub raw_retention_days: u32,
    /// How long hourly roll-ups, aggregates, alerts and statuses are kept, days.
    pub hourly_retention_days: u32,
}

/// The keys of InfluxDB through its v1 API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InfluxV1Config {
    /// Base URL, `http(s)://HOST:PORT` (a path, as behind a reverse proxy, is kept).
    pub url: String,
    /// The database written to and read from.
    pub db: String,
}

/// The keys of InfluxDB through its v2 write API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InfluxV2Config {
    /// Base URL, `http(s)://HOST:PORT`, without a path.
    pub url: String,
    /// The organisation.
    pub org: String,
    /// The bucket written to.
    pub bucket: String,
    /// The database history is read from with InfluxQL: the name mapped to the bucket (DBRP).
    /// The historian does not use it.
    pub db: String,
}

/// The kinds of store, without their keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    /// [`StoreConfig::Embedded`].
    Embedded,
    /// [`StoreConfig::InfluxV1`].
    InfluxV1,
    /// [`StoreConfig::InfluxV2`].
    InfluxV2,
}

impl StoreKind {
    /// Every kind.
    pub const ALL: [StoreKind; 3] = [
        StoreKind::Embedded,
        StoreKind::InfluxV1,
        StoreKind::InfluxV2,
    ];

    /// The value of `kind`, also the store's name in logs and metrics.
    pub fn name(self) -> &'static str {
        match self {
            StoreKind::Embedded => "embedded",
            StoreKind::InfluxV1 => "influx-v1",
            StoreKind::InfluxV2 => "influx-v2",
        }
    }
}

impl fmt::Display for StoreKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Default for StoreConfig {
    fn default() -> StoreConfig {
        StoreConfig::Embedded(EmbeddedConfig::default())
    }
}

impl Default for EmbeddedConfig {
    fn default() -> EmbeddedConfig {
        EmbeddedConfig {
            path: PathBuf::from("data/history.sqlite"),
            raw_retention_days: 7,
            hourly_retention_days: 400,
        }
    }
}

impl Default for InfluxV1Config {
    fn default() -> InfluxV1Config {
        InfluxV1Config {
            url: INFLUX_URL.to_owned(),
            db: INFLUX_NAME.to_owned(),
        }
    }
}

impl Default for InfluxV2Config {
    fn default() -> InfluxV2Config {
        InfluxV2Config {
            url: INFLUX_URL.to_owned(),
            org: INFLUX_NAME.to_owned(),
            bucket: INFLUX_NAME.to_owned(),
            db: INFLUX_NAME.to_owned(),
        }
    }
}

impl EmbeddedConfig {
    /// How long rows are kept.
    pub fn retention(&self) -> Retention {
        let days = |d: u32| Duration::from_secs(u64::from(d) * 86_400);
        Retention {
            raw: days(self.raw_retention_days),
            hourly: days(self.hourly_retention_days),
        }
    }
}

impl StoreConfig {
    /// The embedded store at `path`, with the default retention.
    pub fn embedded(path: PathBuf) -> StoreConfig {
        StoreConfig::Embedded(EmbeddedConfig {
            path,
            ..EmbeddedConfig::default()
        })
    }

    /// InfluxDB's v1 API at `url` (`http://HOST:PORT`), database `db`.
    pub fn influx_v1(url: impl Into<String>, db: impl Into<String>) -> StoreConfig {
        StoreConfig::InfluxV1(InfluxV1Config {
            url: url.into(),
            db: db.into(),
        })
    }

    /// Which kind.
    pub fn kind(&self) -> StoreKind {
        match self {
            StoreConfig::Embedded(_) => StoreKind::Embedded,
            StoreConfig::InfluxV1(_) => StoreKind::InfluxV1,
            StoreConfig::InfluxV2(_) => StoreKind::InfluxV2,
        }
    }

    /// This configuration as one of `kind`: itself if it is one, else that kind's defaults,
    /// keeping the URL and database from one Influx kind to the other.
    pub fn into_kind(self, kind: StoreKind) -> StoreConfig {
        match (self, kind) {
            (same, kind) if same.kind() == kind => same,
            (StoreConfig::InfluxV2(c), StoreKind::InfluxV1) => {
                StoreConfig::InfluxV1(InfluxV1Config {
                    url: c.url,
                    db: c.db,
                })
            }
            (StoreConfig::InfluxV1(c), StoreKind::InfluxV2) => {
                StoreConfig::InfluxV2(InfluxV2Config {
                    url: c.url,
                    db: c.db,
                    ..InfluxV2Config::default()
                })
            }
            (_, StoreKind::Embedded) => StoreConfig::default(),
            (_, StoreKind::InfluxV1) => StoreConfig::InfluxV1(InfluxV1Config::default()),
            (_, StoreKind::InfluxV2) => StoreConfig::InfluxV2(InfluxV2Config::default()),
        }
    }

    /// Checks the values the historian writes with; the error says what is wrong and how to
    /// fix it. (The server reads with InfluxQL, which also needs `db` for `influx-v2`.)
    pub fn validate(&self) -> Result<(), String> {
        let empty = match self {
            StoreConfig::Embedded(c) => {
                if c.raw_retention_days == 0 || c.hourly_retention_days < c.raw_retention_days {
                    return Err(format!(
                        "retention of {} days raw and {} days hourly: keep raw readings at least \
                         a day, and hourly roll-ups at least as long as raw readings",
                        c.raw_retention_days, c.hourly_retention_days
                    ));
                }
                None
            }
            StoreConfig::InfluxV1(c) => {
                check_url(&c.url)?;
                c.db.is_empty().then_some("db (--db)")
            }
            StoreConfig::InfluxV2(c) => {
                check_url(&c.url)?;
                if c.org.is_empty() {
                    Some("org (--org)")
                } else {
                    c.bucket.is_empty().then_some("bucket (--bucket)")
                }
            }
        };
        match empty {
            Some(what) => Err(format!("the InfluxDB {what} is empty: give one")),
            None => Ok(()),
        }
    }

    /// The other kinds with their defaults, as commented TOML to follow a printed default
    /// configuration whose `[store]` block is the last table: what to write instead.
    pub fn other_kinds_toml(&self) -> String {
        let mut text = String::from(
            "\n# Other stores: replace the [store] block above with one of these (InfluxDB \
             credentials come\n# from the environment: INFLUX_USERNAME and INFLUX_PASSWORD, or \
             INFLUX_TOKEN).\n",
        );
        for kind in StoreKind::ALL.into_iter().filter(|k| *k != self.kind()) {
            /// The block under its table name.
            #[derive(Serialize)]
            struct Block {
                store: StoreConfig,
            }
            let block = Block {
                store: StoreConfig::default().into_kind(kind),
            };
            let toml = toml::to_string_pretty(&block).unwrap_or_default();
            text.push('\n');
            for line in toml.lines() {
                text.push_str("# ");
                text.push_str(line);
                text.push('\n');
            }
        }
        text
    }
}

/// Checks an InfluxDB base URL's scheme.
fn check_url(url: &str) -> Result<(), String> {
    if url.starts_with("http://") || url.starts_with("https://") {
        Ok(())
    } else {
        Err(format!(
            "InfluxDB URL \"{url}\" is not valid: write it like http://127.0.0.1:8086"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `[store]` block read as the services read it.
    fn parse(block: &str) -> Result<StoreConfig, toml::de::Error> {
        #[derive(Deserialize)]
        struct File {
            store: StoreConfig,
        }
        toml::from_str::<File>(&format!("[store]\n{block}")).map(|f| f.store)
    }

    #[test]
    fn each_kind_reads_its_own_keys_with_defaults_for_the_rest() {
        assert_eq!(
            parse("kind = \"embedded\"\npath = \"h.sqlite\"").expect("embedded"),
            StoreConfig::embedded("h.sqlite".into())
        );
        assert_eq!(
            parse("kind = \"influx-v1\"\ndb = \"g\"").expect("v1"),
            StoreConfig::InfluxV1(InfluxV1Config {
                db: "g".into(),
                ..InfluxV1Config::default()
            })
        );
        assert_eq!(
            parse("kind = \"influx-v2\"\nbucket = \"b\"").expect("v2"),
            StoreConfig::InfluxV2(InfluxV2Config {
                bucket: "b".into(),
                ..InfluxV2Config::default()
            })
        );
    }

    #[test]
    fn keys_of_another_kind_and_unknown_kinds_are_refused_by_name() {
        let e = parse("kind = \"embedded\"\norg = \"o\"").expect_err("org is influx-v2's");
        assert!(e.to_string().contains("org"), "{e}");
        let e = parse("kind = \"influx-v1\"\npath = \"h.sqlite\"").expect_err("path");
        assert!(e.to_string().contains("path"), "{e}");
        let e = parse("kind = \"influx\"").expect_err("the old kind");
        assert!(e.to_string().contains("influx-v1"), "{e}");
    }

    #[test]
    fn every_kind_round_trips_through_toml() {
        for kind in StoreKind::ALL {
            let config = StoreConfig::default().into_kind(kind);
            let text = toml::to_string(&config).expect("serialises");
            assert!(text.contains(&format!("kind = \"{kind}\"")), "{text}");
            let back: StoreConfig = toml::from_str(&text).expect("parses");
            assert_eq!(back, config);
            config.validate().expect("defaults are valid");
        }
    }

    #[test]
    fn switching_between_influx_kinds_keeps_the_server() {
        let v1 = StoreConfig::InfluxV1(InfluxV1Config {
            url: "http://influx:8086".into(),
            db: "city".into(),
        });
        let StoreConfig::InfluxV2(v2) = v1.clone().into_kind(StoreKind::InfluxV2) else {
            panic!("not v2");
        };
        assert_eq!(
            (v2.url.as_str(), v2.db.as_str()),
            ("http://influx:8086", "city")
        );
        assert_eq!(v1.clone().into_kind(StoreKind::InfluxV1), v1);
        assert_eq!(v1.into_kind(StoreKind::Embedded), StoreConfig::default());
    }

    #[test]
    fn bad_values_are_refused_with_the_fix() {
        let cases = [
            (
                "keep raw readings at least a day",
                StoreConfig::Embedded(EmbeddedConfig {
                    raw_retention_days: 0,
                    ..EmbeddedConfig::default()
                }),
            ),
            (
                "http://127.0.0.1:8086",
                StoreConfig::InfluxV1(InfluxV1Config {
                    url: "127.0.0.1:8086".into(),
                    ..InfluxV1Config::default()
                }),
            ),
            (
                "db (--db)",
                StoreConfig::InfluxV1(InfluxV1Config {
                    db: String::new(),
                    ..InfluxV1Config::default()
                }),
            ),
            (
                "org (--org)",
                StoreConfig::InfluxV2(InfluxV2Config {
                    org: String::new(),
                    ..InfluxV2Config::default()
                }),
            ),
        ];
        for (fix, config) in cases {
            let e = config.validate().expect_err(fix);
            assert!(e.contains(fix), "{e} should say {fix}");
        }
    }

    #[test]
    fn the_other_kinds_are_printed_as_comments_that_parse_once_uncommented() {
        let text = StoreConfig::default().other_kinds_toml();
        assert!(
            text.lines().all(|l| l.is_empty() || l.starts_with('#')),
            "{text}"
        );
        for block in text.split("\n\n").skip(1) {
            let uncommented: String = block
                .lines()
                .map(|l| l.trim_start_matches('#').trim_start())
                .filter(|l| *l != "[store]")
                .collect::<Vec<_>>()
                .join("\n");
            parse(&uncommented).unwrap_or_else(|e| panic!("{block}: {e}"));
        }
        assert!(text.contains("kind = \"influx-v2\""), "{text}");
        assert!(!text.contains("kind = \"embedded\""), "{text}");
    }
}

//! History for `/api/history`: the store the historian writes, read through
//! [`garonne_store::history::History`], and the parsing of the request's parameters.
//!
//! The embedded store is opened on the first query, and again after a failure: the server may
//! start before the historian has created the file (`garonne up`, compose), and history then
//! answers 503 with the reason until it has.

use std::path::PathBuf;

use garonne_payload::{Quantity, Timestamp, is_valid_sensor_id};
use garonne_store::config::{InfluxV1Config, InfluxV2Config, StoreConfig};
use garonne_store::embedded::EmbeddedHistory;
use garonne_store::history::{Bucket, History, HistoryError, Query, Subject};
use garonne_store::influx::{Credentials, InfluxQl};
use tokio::sync::OnceCell;

use crate::error::{ApiError, ServerError};

/// Default history range: the last 24 hours.
pub const DEFAULT_RANGE_SECS: i64 = 24 * 3600;
/// Default interval: 5 minutes.
pub const DEFAULT_EVERY_SECS: u32 = 300;
/// Most intervals one query may ask for.
pub const MAX_BUCKETS: i64 = 10_000;

/// Where history comes from.
#[derive(Debug)]
pub enum HistorySource {
    /// The embedded store's file, opened read-only on first use.
    Embedded {
        /// The file.
        path: PathBuf,
        /// The reader, once the file could be opened.
        reader: OnceCell<EmbeddedHistory>,
    },
    /// InfluxDB, through InfluxQL.
    Influx(InfluxQl),
}

impl HistorySource {
    /// The store `config` names; `credentials` (from the environment) for InfluxDB.
    pub fn open(config: &StoreConfig, credentials: Credentials) -> Result<Self, ServerError> {
        Ok(match config {
            StoreConfig::Embedded(embedded) => HistorySource::embedded(embedded.path.clone()),
            StoreConfig::InfluxV1(InfluxV1Config { url, db })
            | StoreConfig::InfluxV2(InfluxV2Config { url, db, .. }) => HistorySource::Influx(
                InfluxQl::new(url, db, credentials).map_err(ServerError::History)?,
            ),
        })
    }

    /// The embedded store at `path`, opened on first use.
    pub fn embedded(path: PathBuf) -> HistorySource {
        HistorySource::Embedded {
            path,
            reader: OnceCell::new(),
        }
    }

    /// What it reads, for the start-up log line.
    pub fn describe(&self) -> String {
        match self {
            HistorySource::Embedded { path, .. } => format!("embedded store {}", path.display()),
            HistorySource::Influx(q) => format!("InfluxDB {} database {}", q.url(), q.database()),
        }
    }

    /// Runs `query`.
    pub async fn query(&self, query: &Query) -> Result<Vec<Bucket>, HistoryError> {
        match self.opened().await? {
            Opened::Embedded(reader) => reader.query(query).await,
            Opened::Influx(influx) => influx.query(query).await,
        }
    }

    /// The store, the embedded one opened if it was not yet: what raw readings and sessions
    /// are read from (`crate::readings`).
    pub async fn opened(&self) -> Result<Opened<'_>, HistoryError> {
        match self {
            HistorySource::Embedded { path, reader } => reader
                .get_or_try_init(|| EmbeddedHistory::open(path))
                .await
                .map(Opened::Embedded)
                .map_err(|e| HistoryError::Unavailable(e.to_string())),
            HistorySource::Influx(influx) => Ok(Opened::Influx(influx)),
        }
    }
}

/// A history store, open.
#[derive(Debug, Clone, Copy)]
pub enum Opened<'a> {
    /// The embedded store's reader.
    Embedded(&'a EmbeddedHistory),
    /// InfluxDB.
    Influx(&'a InfluxQl),
}

/// Turns the parameters of `/api/history` into a query. `now` sets the default range;
/// `has_neighbourhood` says whether the polygon file has an id.
pub fn parse_query(
    params: &[(String, String)],
    now: Timestamp,
    has_neighbourhood: impl Fn(&str) -> bool,
) -> Result<Query, ApiError> {
    const KNOWN: [&str; 6] = ["neighbourhood", "sensor", "quantity", "from", "to", "every"];
    let mut seen: [Option<&str>; KNOWN.len()] = [None; KNOWN.len()];
    for (name, value) in params {
        let Some(i) = KNOWN.iter().position(|k| k == name) else {
            return Err(ApiError::bad_request(format!(
                "unknown parameter \"{name}\": use neighbourhood or sensor, quantity, from, to \
                 and every"
            )));
        };
        if seen[i].replace(value).is_some() {
            return Err(ApiError::bad_request(format!("give {name} once")));
        }
    }
    let [neighbourhood, sensor, quantity, from, to, every] = seen;

    let subject = match (neighbourhood, sensor) {
        (Some(id), None) => {
            if !has_neighbourhood(id) {
                return Err(ApiError::not_found(format!(
                    "unknown neighbourhood id \"{id}\": use an id of /api/neighbourhoods"
                )));
            }
            Subject::Neighbourhood(id.to_owned())
        }
        (None, Some(id)) => {
            if !is_valid_sensor_id(id) {
                return Err(ApiError::bad_request(format!(
                    "\"{id}\" is not a sensor id: 1 to 128 letters, digits, '.', '_' or '-', \
                     starting with a letter or digit (see /api/sensors)"
                )));
            }
            Subject::Sensor(id.to_owned())
        }
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(
                "give either neighbourhood=ID or sensor=ID, not both",
            ));
        }
        (None, None) => {
            return Err(ApiError::bad_request(
                "whose history? give neighbourhood=ID or sensor=ID",
            ));
        }
    };

    let quantity = match quantity {
        Some(name) => Quantity::from_name(name).ok_or_else(|| {
            ApiError::bad_request(format!(
                "unknown quantity \"{name}\": use one of {}",
                quantity_names()
            ))
        })?,
        None => {
            return Err(ApiError::bad_request(format!(
                "which quantity? give quantity=NAME, one of {}",
                quantity_names()
            )));
        }
    };

    let time = |name: &str, value: Option<&str>| value.map(|v| time_param(name, v)).transpose();
    let to = time("to", to)?.unwrap_or(now);
    let from =
        time("from", from)?.unwrap_or_else(|| to.add_nanos(-DEFAULT_RANGE_SECS * 1_000_000_000));
    if from >= to {
        return Err(ApiError::bad_request(format!(
            "from ({from}) must be before to ({to})"
        )));
    }

    let every_secs = match every {
        None => DEFAULT_EVERY_SECS,
        Some(v) => v.parse::<u32>().ok().filter(|e| *e > 0).ok_or_else(|| {
            ApiError::bad_request(format!(
                "every={v} is not a number of seconds: give a whole number of 1 or more (e.g. \
                 300 for 5 minutes)"
            ))
        })?,
    };
    let span = to.unix_secs() - from.unix_secs();
    let buckets = span / i64::from(every_secs) + 1;
    if buckets > MAX_BUCKETS {
        let least = (span / MAX_BUCKETS + 1).max(1);
        return Err(ApiError::bad_request(format!(
            "from {from} to {to} every {every_secs} s is {buckets} intervals, more than \
             {MAX_BUCKETS}: ask for every={least} or more, or a shorter range"
        )));
    }
    Ok(Query {
        subject,
        quantity,
        from,
        to,
        every_secs,
    })
}

/// The time of parameter `name` (`from`, `to`), RFC 3339 in UTC, to the nanosecond.
///
/// # Errors
///
/// 400, saying how to write a time.
pub fn time_param(name: &str, value: &str) -> Result<Timestamp, ApiError> {
    Timestamp::parse(value).map_err(|e| {
        ApiError::bad_request(format!(
            "{name}={value} is not a time: {e} (RFC 3339 in UTC, e.g. 2025-11-24T10:15:00Z)"
        ))
    })
}

/// The quantity names, for error messages.
pub fn quantity_names() -> String {
    Quantity::all()
        .map(Quantity::name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The JSON answer of `/api/history`.
pub fn answer(query: &Query, buckets: &[Bucket]) -> serde_json::Value {
    let (kind, id) = match &query.subject {
        Subject::Neighbourhood(id) => ("neighbourhood", id),
        Subject::Sensor(id) => ("sensor", id),
    };
    serde_json::json!({
        "subject": { "kind": kind, "id": id },
        "quantity": query.quantity.name(),
        "from": query.from.to_string(),
        "to": query.to.to_string(),
        "every_secs": query.every_secs,
        "buckets": buckets.iter().map(|b| serde_json::json!({
            "start": b.start.to_string(),
            "mean": b.mean,
            "min": b.min,
            "max": b.max,
            "count": b.count,
        })).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        Timestamp::parse("2025-11-24T12:00:00Z").expect("valid")
    }

    fn parse(query: &str) -> Result<Query, ApiError> {
        let params: Vec<(String, String)> = query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (k.to_owned(), v.to_owned())
            })
            .collect();
        parse_query(&params, now(), |id| id == "7")
    }

    #[test]
    fn defaults_are_the_last_24_hours_every_5_minutes() {
        let q = parse("neighbourhood=7&quantity=temperature").expect("valid");
        assert_eq!(q.subject, Subject::Neighbourhood("7".into()));
        assert_eq!(q.quantity, Quantity::Temperature);
        assert_eq!(q.to, now());
        assert_eq!(q.from.to_string(), "2025-11-23T12:00:00Z");
        assert_eq!(q.every_secs, 300);
        let q = parse("sensor=pi-1&quantity=relativeHumidity&from=2025-11-24T10:00:00Z&to=2025-11-24T11:00:00Z&every=60")
            .expect("valid");
        assert_eq!(q.subject, Subject::Sensor("pi-1".into()));
        assert_eq!(
            (q.from.to_string(), q.every_secs),
            ("2025-11-24T10:00:00Z".into(), 60)
        );
    }

    #[test]
    fn mistakes_get_a_message_that_says_what_to_fix() {
        let cases = [
            (
                "quantity=temperature",
                400,
                "give neighbourhood=ID or sensor=ID",
            ),
            (
                "neighbourhood=7&sensor=s&quantity=temperature",
                400,
                "not both",
            ),
            (
                "neighbourhood=99&quantity=temperature",
                404,
                "unknown neighbourhood id \"99\"",
            ),
            ("sensor=a/b&quantity=temperature", 400, "is not a sensor id"),
            (
                "neighbourhood=7",
                400,
                "temperature, relativeHumidity, atmosphericPressure",
            ),
            (
                "neighbourhood=7&quantity=humidity",
                400,
                "unknown quantity \"humidity\": use one of temperature",
            ),
            (
                "neighbourhood=7&quantity=temperature&from=yesterday",
                400,
                "e.g. 2025-11-24T10:15:00Z",
            ),
            (
                "neighbourhood=7&quantity=temperature&to=2025-11-24T10:00:00+01:00",
                400,
                "UTC",
            ),
            (
                "neighbourhood=7&quantity=temperature&from=2025-11-24T13:00:00Z",
                400,
                "must be before",
            ),
            (
                "neighbourhood=7&quantity=temperature&every=0",
                400,
                "1 or more",
            ),
            (
                "neighbourhood=7&quantity=temperature&every=1",
                400,
                "ask for every=9 or more",
            ),
            (
                "neighbourhood=7&quantity=temperature&quantiy=x",
                400,
                "unknown parameter \"quantiy\"",
            ),
            (
                "neighbourhood=7&neighbourhood=7&quantity=temperature",
                400,
                "give neighbourhood once",
            ),
        ];
        for (query, status, fix) in cases {
            let e = parse(query).expect_err(query);
            assert_eq!(e.status.as_u16(), status, "{query}: {}", e.message);
            assert!(
                e.message.contains(fix),
                "{query}: {} should say {fix}",
                e.message
            );
        }
    }

    #[test]
    fn the_answer_has_the_contract_shape() {
        let q = parse("sensor=s1&quantity=temperature&from=2025-11-24T10:00:00Z&to=2025-11-24T11:00:00Z&every=600")
            .expect("valid");
        let bucket = Bucket {
            start: Timestamp::parse("2025-11-24T10:00:00Z").expect("valid"),
            mean: 9.5,
            min: 9.0,
            max: 10.0,
            count: 2,
        };
        assert_eq!(
            answer(&q, &[bucket]),
            serde_json::json!({
                "subject": {"kind": "sensor", "id": "s1"},
                "quantity": "temperature",
                "from": "2025-11-24T10:00:00Z",
                "to": "2025-11-24T11:00:00Z",
                "every_secs": 600,
                "buckets": [{"start": "2025-11-24T10:00:00Z", "mean": 9.5, "min": 9.0, "max": 10.0, "count": 2}],
            })
        );
    }
}

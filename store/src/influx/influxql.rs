//! [`InfluxQl`]: history through InfluxQL on `/query`.

use std::collections::BTreeMap;
use std::future::Future;

use garonne_payload::Timestamp;
use garonne_payload::report::Chain;
use reqwest::Url;
use serde::Deserialize;

use super::{ConfigError, Credentials, Database, server_message};
use crate::history::{Bucket, History, HistoryError, Query, Subject};

/// History read with InfluxQL: `GET /query?db=DB&epoch=ns&q=...`, one statement per query
/// (see [`statement`]), with the semantics of [`crate::history`]: InfluxQL's
/// `GROUP BY time(...)` aligns intervals on the epoch, `fill(none)` leaves empty ones out.
///
/// InfluxDB 1.x answers it for a database; 2.x for a database name mapped to the bucket
/// (DBRP mapping) with a token; 3.x likewise. Every request times out after
/// [`REQUEST_TIMEOUT`](super::REQUEST_TIMEOUT).
#[derive(Debug, Clone)]
pub struct InfluxQl {
    db: Database,
    query_url: Url,
}

impl InfluxQl {
    /// History from `database` on the server at `url` (such as `http://127.0.0.1:8086`),
    /// authenticating with `credentials`: a 1.x user ([`Credentials::Basic`]) or a 2.x/3.x
    /// token ([`Credentials::Token`]); see [`Credentials::from_values`].
    ///
    /// # Errors
    ///
    /// [`ConfigError`] for a URL that is not `http://` or `https://`, or when the HTTP client
    /// cannot be built.
    pub fn new(url: &str, database: &str, credentials: Credentials) -> Result<Self, ConfigError> {
        let db = Database::new(url, database, credentials)?;
        let query_url = db.base.endpoint("query");
        Ok(Self { db, query_url })
    }

    /// The server's URL, without credentials.
    pub fn url(&self) -> &str {
        &self.db.base.shown
    }

    /// The database read.
    pub fn database(&self) -> &str {
        &self.db.name
    }

    /// Runs `query`.
    async fn run(&self, query: &Query) -> Result<Vec<Bucket>, HistoryError> {
        let text = statement(query)?;
        let body = self.fetch(&text).await?;
        buckets(&body).map_err(|error| self.answer_error(&error))
    }

    /// The body of `/query`'s answer to the statement `text`, if the server answered 200.
    pub(super) async fn fetch(&self, text: &str) -> Result<String, HistoryError> {
        let mut url = self.query_url.clone();
        url.query_pairs_mut()
            .append_pair("db", &self.db.name)
            .append_pair("epoch", "ns")
            .append_pair("q", text);
        let server = self.db.server();
        let unavailable = |e: reqwest::Error| {
            let e = e.without_url();
            HistoryError::Unavailable(if e.is_timeout() {
                format!(
                    "{server} did not answer within {} s",
                    super::REQUEST_TIMEOUT.as_secs()
                )
            } else {
                format!("cannot query {server}: {}", Chain(&e))
            })
        };
        let response = self
            .db
            .request(reqwest::Method::GET, url)
            .send()
            .await
            .map_err(unavailable)?;
        let status = response.status().as_u16();
        let body = response.text().await.map_err(unavailable)?;
        match status {
            200 => {}
            401 | 403 => {
                return Err(HistoryError::Unavailable(format!(
                    "{server} refused the credentials ({status}: {}): {}",
                    server_message(&body),
                    self.db
                        .credentials
                        .fix(&format!("READ access to database {:?}", self.db.name))
                )));
            }
            _ => {
                return Err(HistoryError::Unavailable(format!(
                    "{server} answered {status}: {}",
                    server_message(&body)
                )));
            }
        }
        Ok(body)
    }

    /// The error for an answer's `error` text (or a body that is not an answer).
    pub(super) fn answer_error(&self, error: &str) -> HistoryError {
        let server = self.db.server();
        HistoryError::Unavailable(if error.starts_with("database not found") {
            format!(
                "{server} has no database {:?} ({error}): check the name, or create it \
                 (InfluxDB 2.x: map it to the bucket with a DBRP mapping)",
                self.db.name
            )
        } else {
            format!("{server}: {error}")
        })
    }
}

impl History for InfluxQl {
    fn query(
        &self,
        query: &Query,
    ) -> impl Future<Output = Result<Vec<Bucket>, HistoryError>> + Send {
        self.run(query)
    }
}

/// The InfluxQL statement of `query`:
///
/// - a sensor, from its readings: `SELECT mean("q"), min("q"), max("q"), count("q") FROM
///   "reading" WHERE "sensor" = 'id' AND time >= FROM AND time < TO GROUP BY time(Ns)
///   fill(none)`;
/// - a neighbourhood, from its aggregates: `SELECT mean("value"), mean("mean"), min("min"),
///   max("max"), sum("readings") FROM "aggregate" WHERE "neighbourhood" = 'id' AND
///   "quantity" = 'q' AND ...` (the same time bounds and grouping); a bucket's mean is its mean
///   value, or its mean of means when its windows have no value (stored by an older historian).
///
/// Times are integers, nanoseconds since the epoch. Identifiers are double-quoted and
/// string literals single-quoted, with `\`, the quote and newlines escaped, so any id is
/// only ever a value.
///
/// # Errors
///
/// [`HistoryError::Invalid`] for an empty id, an interval of 0 s, an empty or reversed range,
/// or times outside InfluxDB's range (years 1677 to 2262).
pub fn statement(query: &Query) -> Result<String, HistoryError> {
    query.check()?;
    let ns = |t: Timestamp| {
        i64::try_from(t.unix_nanos()).map_err(|_| {
            HistoryError::Invalid(format!(
                "{t} is outside the range InfluxDB stores (years 1677 to 2262)"
            ))
        })
    };
    let (from, to) = (ns(query.from)?, ns(query.to)?);
    let bounds = format!(
        "time >= {from} AND time < {to} GROUP BY time({}s) fill(none)",
        query.every_secs
    );
    let quantity = query.quantity.name();
    Ok(match &query.subject {
        Subject::Sensor(id) => {
            check_id(id, "sensor")?;
            let q = identifier(quantity);
            format!(
                "SELECT mean({q}), min({q}), max({q}), count({q}) FROM \"reading\" \
                 WHERE \"sensor\" = {} AND {bounds}",
                literal(id)
            )
        }
        Subject::Neighbourhood(id) => {
            check_id(id, "neighbourhood")?;
            format!(
                "SELECT mean(\"value\"), mean(\"mean\"), min(\"min\"), max(\"max\"), \
                 sum(\"readings\") FROM \"aggregate\" WHERE \"neighbourhood\" = {} AND \
                 \"quantity\" = {} AND {bounds}",
                literal(id),
                literal(quantity)
            )
        }
    })
}

/// Refuses an empty id.
pub(super) fn check_id(id: &str, what: &str) -> Result<(), HistoryError> {
    if id.is_empty() {
        Err(HistoryError::Invalid(format!("the {what} id is empty")))
    } else {
        Ok(())
    }
}

/// `name` as an InfluxQL identifier: double-quoted, escaped.
pub(super) fn identifier(name: &str) -> String {
    quoted(name, '"')
}

/// `value` as an InfluxQL string literal: single-quoted, escaped.
pub(super) fn literal(value: &str) -> String {
    quoted(value, '\'')
}

/// `s` between `quote`s, with `\`, `quote` and newlines escaped as InfluxQL's scanner reads
/// them (`\\`, `\'` or `\"`, `\n`; a raw newline ends a string there).
fn quoted(s: &str, quote: char) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// The answer of `/query` for one statement.
#[derive(Debug, Deserialize)]
pub(super) struct Answer {
    #[serde(default)]
    pub(super) results: Vec<StatementResult>,
    pub(super) error: Option<String>,
}

/// The result of one statement.
#[derive(Debug, Deserialize)]
pub(super) struct StatementResult {
    #[serde(default)]
    pub(super) series: Vec<Series>,
    pub(super) error: Option<String>,
    /// Set when the server cut the answer (`max-row-limit`).
    #[serde(default)]
    pub(super) partial: bool,
}

/// One series of a result: for history, rows of `time, mean, min, max, count`, or for a
/// neighbourhood `time, mean value, mean, min, max, count`; for raw readings, the columns named;
/// for places, one row per sensor's series.
#[derive(Debug, Deserialize)]
pub(super) struct Series {
    #[serde(default)]
    pub(super) columns: Vec<String>,
    #[serde(default)]
    pub(super) values: Vec<Vec<serde_json::Value>>,
    /// The tags of the group, for a statement with `GROUP BY` tags (places: `sensor`).
    #[serde(default)]
    pub(super) tags: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub(super) partial: bool,
}

impl Answer {
    /// The answer in `body`, its statements' series; an error text if it is not one or
    /// reports an error.
    pub(super) fn series(body: &str) -> Result<(Vec<Series>, bool), String> {
        let answer: Answer = serde_json::from_str(body)
            .map_err(|e| format!("unexpected answer ({e}): {body:.200}"))?;
        if let Some(error) = answer.error {
            return Err(error);
        }
        let mut series = Vec::new();
        let mut partial = false;
        for result in answer.results {
            if let Some(error) = result.error {
                return Err(error);
            }
            partial |= result.partial;
            for s in result.series {
                partial |= s.partial;
                series.push(s);
            }
        }
        Ok((series, partial))
    }
}

/// The buckets of a `/query` answer, oldest first; an error text otherwise.
fn buckets(body: &str) -> Result<Vec<Bucket>, String> {
    let mut out = Vec::new();
    for series in Answer::series(body)?.0 {
        for row in series.values {
            out.push(bucket(&row).ok_or_else(|| format!("unexpected row {row:?}"))?);
        }
    }
    out.sort_by_key(|b| b.start);
    Ok(out)
}

/// A bucket from a row `[time_ns, mean, min, max, count]`, or `[time_ns, mean value, mean,
/// min, max, count]` where the mean value, when there is one, is the bucket's mean.
fn bucket(row: &[serde_json::Value]) -> Option<Bucket> {
    let (time, mean, min, max, count) = match row {
        [time, mean, min, max, count] => (time, mean, min, max, count),
        [time, value, mean, min, max, count] if value.is_number() => (time, value, min, max, count),
        [time, _, mean, min, max, count] => (time, mean, min, max, count),
        _ => return None,
    };
    let time = time.as_i64()?;
    let start = Timestamp::new(
        time.div_euclid(1_000_000_000),
        u32::try_from(time.rem_euclid(1_000_000_000)).ok()?,
    )?;
    let count = count
        .as_u64()
        .or_else(|| count.as_f64().filter(|c| *c >= 0.0).map(|c| c as u64))?;
    Some(Bucket {
        start,
        mean: mean.as_f64()?,
        min: min.as_f64()?,
        max: max.as_f64()?,
        count,
    })
}

#[cfg(test)]
mod tests {
    use garonne_payload::Quantity;

    use super::*;

    fn at(secs: i64) -> Timestamp {
        Timestamp::new(secs, 0).unwrap_or(Timestamp::UNIX_EPOCH)
    }

    fn query(subject: Subject) -> Query {
        Query {
            subject,
            quantity: Quantity::RelativeHumidity,
            from: at(1_700_000_000),
            to: at(1_700_003_600),
            every_secs: 300,
        }
    }

    #[test]
    fn a_sensor_statement_reads_its_readings() -> Result<(), HistoryError> {
        assert_eq!(
            statement(&query(Subject::Sensor("pi-1".into())))?,
            "SELECT mean(\"relativeHumidity\"), min(\"relativeHumidity\"), \
             max(\"relativeHumidity\"), count(\"relativeHumidity\") FROM \"reading\" \
             WHERE \"sensor\" = 'pi-1' AND time >= 1700000000000000000 AND \
             time < 1700003600000000000 GROUP BY time(300s) fill(none)"
        );
        Ok(())
    }

    #[test]
    fn a_neighbourhood_statement_reads_its_aggregates() -> Result<(), HistoryError> {
        assert_eq!(
            statement(&query(Subject::Neighbourhood("7".into())))?,
            "SELECT mean(\"value\"), mean(\"mean\"), min(\"min\"), max(\"max\"), \
             sum(\"readings\") FROM \"aggregate\" WHERE \"neighbourhood\" = '7' AND \"quantity\" = \
             'relativeHumidity' AND time >= 1700000000000000000 AND \
             time < 1700003600000000000 GROUP BY time(300s) fill(none)"
        );
        Ok(())
    }

    #[test]
    fn ids_are_escaped_as_literals() -> Result<(), HistoryError> {
        let text = statement(&query(Subject::Neighbourhood(
            "l'île \"x\" \\ \n' OR 1=1 --".into(),
        )))?;
        assert!(
            text.contains(r#""neighbourhood" = 'l\'île "x" \\ \n\' OR 1=1 --' AND"#),
            "{text}"
        );
        assert_eq!(identifier("a\"b\\c"), r#""a\"b\\c""#);
        Ok(())
    }

    #[test]
    fn invalid_queries_say_what_to_change() {
        let mut q = query(Subject::Sensor("pi-1".into()));
        q.every_secs = 0;
        assert!(matches!(statement(&q), Err(HistoryError::Invalid(_))));
        let mut q = query(Subject::Sensor("pi-1".into()));
        q.to = q.from;
        assert!(matches!(statement(&q), Err(HistoryError::Invalid(_))));
        let q = query(Subject::Sensor(String::new()));
        assert!(matches!(statement(&q), Err(HistoryError::Invalid(_))));
        let mut q = query(Subject::Sensor("pi-1".into()));
        q.to = at(10_000_000_000);
        assert!(matches!(statement(&q), Err(HistoryError::Invalid(_))));
    }

    #[test]
    fn answers_become_buckets() {
        let body = r#"{"results":[{"statement_id":0,"series":[{"name":"reading",
            "columns":["time","mean","min","max","count"],
            "values":[[1700000300000000000,2.5,1,4,3],[1700000000000000000,3,3,3,1]]}]}]}"#;
        assert_eq!(
            buckets(body),
            Ok(vec![
                Bucket {
                    start: at(1_700_000_000),
                    mean: 3.0,
                    min: 3.0,
                    max: 3.0,
                    count: 1
                },
                Bucket {
                    start: at(1_700_000_300),
                    mean: 2.5,
                    min: 1.0,
                    max: 4.0,
                    count: 3
                },
            ])
        );
        assert_eq!(buckets(r#"{"results":[{"statement_id":0}]}"#), Ok(vec![]));
        assert_eq!(
            buckets(r#"{"results":[{"statement_id":0,"error":"database not found: x"}]}"#),
            Err("database not found: x".into())
        );
        assert!(buckets("<html>").is_err());
        assert!(buckets(r#"{"results":[{"series":[{"values":[[1,"a",1,1,1]]}]}]}"#).is_err());
    }

    #[test]
    fn a_neighbourhood_bucket_is_its_mean_value_else_its_mean() {
        let body = r#"{"results":[{"statement_id":0,"series":[{"name":"aggregate",
            "columns":["time","mean","mean_1","min","max","sum"],
            "values":[[1700000000000000000,20.25,6.75,2,11,12],
                      [1700003600000000000,null,5.5,2,11,12]]}]}]}"#;
        let means: Vec<f64> = buckets(body)
            .expect("buckets")
            .iter()
            .map(|b| b.mean)
            .collect();
        assert_eq!(means, [20.25, 5.5]);
    }
}

//! Raw readings and sessions for `/api/readings` and `/api/sessions`: the parameters of each
//! request, read from the history store ([`garonne_store::readings`],
//! [`garonne_store::sessions`]), and their JSON answers.
//!
//! `/api/readings` answers a page at a time (a limit, and the cursor of the next page), so a
//! 10-minute session of 200 channels at 100 Hz is never one body; its samples come grouped by
//! series (sensor and quantity), times in seconds, the columns a chart draws.

use std::collections::BTreeMap;

use garonne_payload::{Timestamp, is_valid_sensor_id};
use garonne_store::history::HistoryError;
use garonne_store::readings::{Cursor, DEFAULT_PAGE, MAX_PAGE, Page, Scan};
use garonne_store::sessions::{DEFAULT_GAP_SECS, Session, SessionQuery};
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::history::{HistorySource, Opened, time_param};

/// Default range of `/api/readings`: the 10 minutes before `to`.
pub const DEFAULT_READINGS_SECS: i64 = 600;

/// Default range of `/api/sessions`: the 7 days before `to` (the embedded store's raw
/// retention).
pub const DEFAULT_SESSIONS_SECS: i64 = 7 * 86_400;

/// Most sensors one `/api/readings` request may name.
pub const MAX_SENSORS: usize = 100;

/// A `/api/readings` request.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadingsRequest {
    /// What to read.
    pub scan: Scan,
    /// Samples per page.
    pub limit: usize,
    /// Where the page starts (after the previous page's last sample).
    pub after: Option<Cursor>,
}

/// The parameters of a request, each name with its values, checked against `known`.
fn by_name<'a>(
    params: &'a [(String, String)],
    known: &[&str],
    repeatable: &[&str],
) -> Result<BTreeMap<&'a str, Vec<&'a str>>, ApiError> {
    let mut out: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (name, value) in params {
        if !known.contains(&name.as_str()) {
            return Err(ApiError::bad_request(format!(
                "unknown parameter \"{name}\": use {}",
                known.join(", ")
            )));
        }
        let values = out.entry(name).or_default();
        if !values.is_empty() && !repeatable.contains(&name.as_str()) {
            return Err(ApiError::bad_request(format!("give {name} once")));
        }
        values.push(value);
    }
    Ok(out)
}

/// The one value of `name`, if given.
fn one<'a>(params: &BTreeMap<&str, Vec<&'a str>>, name: &str) -> Option<&'a str> {
    params.get(name).and_then(|v| v.first().copied())
}

/// A sensor id, checked.
fn sensor(id: &str) -> Result<String, ApiError> {
    if is_valid_sensor_id(id) {
        Ok(id.to_owned())
    } else {
        Err(ApiError::bad_request(format!(
            "\"{id}\" is not a sensor id: 1 to 128 letters, digits, '.', '_' or '-', starting \
             with a letter or digit (see /api/sensors)"
        )))
    }
}

/// `from` and `to` (RFC 3339 UTC, to the nanosecond): `to` defaults to `now`, `from` to
/// `default_secs` before `to`.
fn range(
    params: &BTreeMap<&str, Vec<&str>>,
    now: Timestamp,
    default_secs: i64,
) -> Result<(Timestamp, Timestamp), ApiError> {
    let time = |name: &str| one(params, name).map(|v| time_param(name, v)).transpose();
    let to = time("to")?.unwrap_or(now);
    let from = time("from")?.unwrap_or_else(|| to.add_nanos(-default_secs * 1_000_000_000));
    if from >= to {
        return Err(ApiError::bad_request(format!(
            "from ({from}) must be before to ({to})"
        )));
    }
    Ok((from, to))
}

/// Turns the parameters of `/api/readings` into a request; `now` sets the default range.
pub fn parse_readings(
    params: &[(String, String)],
    now: Timestamp,
) -> Result<ReadingsRequest, ApiError> {
    let params = by_name(
        params,
        &["sensor", "quantity", "from", "to", "limit", "after"],
        &["sensor", "quantity"],
    )?;
    let sensors = params
        .get("sensor")
        .map(|ids| {
            ids.iter()
                .map(|id| sensor(id))
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?
        .unwrap_or_default();
    if sensors.is_empty() {
        return Err(ApiError::bad_request(
            "whose readings? give sensor=ID (several sensor= for several sensors)",
        ));
    }
    if sensors.len() > MAX_SENSORS {
        return Err(ApiError::bad_request(format!(
            "{} sensors: ask for {MAX_SENSORS} at most per request",
            sensors.len()
        )));
    }
    let mut quantities = Vec::new();
    for name in params.get("quantity").into_iter().flatten() {
        if name.is_empty() || name.len() > 128 {
            return Err(ApiError::bad_request(format!(
                "quantity=\"{name}\" is not a quantity name: give one of the sensor's (see \
                 /api/profiles), or no quantity for all"
            )));
        }
        quantities.push((*name).to_owned());
    }
    let (from, to) = range(&params, now, DEFAULT_READINGS_SECS)?;
    let limit = match one(&params, "limit") {
        None => DEFAULT_PAGE,
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_PAGE).contains(n))
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "limit={v}: give a number of samples from 1 to {MAX_PAGE}, and follow \
                     `next` for more"
                ))
            })?,
    };
    let after = one(&params, "after")
        .map(|token| Cursor::parse(token).map_err(|e| ApiError::bad_request(e.to_string())))
        .transpose()?;
    Ok(ReadingsRequest {
        scan: Scan {
            sensors,
            quantities,
            from,
            to,
        },
        limit,
        after,
    })
}

/// Turns the parameters of `/api/sessions` into a query; `now` sets the default range.
pub fn parse_sessions(
    params: &[(String, String)],
    now: Timestamp,
) -> Result<SessionQuery, ApiError> {
    let params = by_name(params, &["sensor", "gap", "from", "to"], &[])?;
    let Some(id) = one(&params, "sensor") else {
        return Err(ApiError::bad_request("whose sessions? give sensor=ID"));
    };
    let gap_secs = match one(&params, "gap") {
        None => DEFAULT_GAP_SECS,
        Some(v) => v.parse::<u32>().ok().filter(|g| *g > 0).ok_or_else(|| {
            ApiError::bad_request(format!(
                "gap={v} is not a number of seconds: give a whole number of 1 or more (the \
                 longest pause within a session; default {DEFAULT_GAP_SECS})"
            ))
        })?,
    };
    let (from, to) = range(&params, now, DEFAULT_SESSIONS_SECS)?;
    Ok(SessionQuery {
        sensor: sensor(id)?,
        from,
        to,
        gap_secs,
    })
}

/// The page of `request` from `source`.
///
/// # Errors
///
/// As [`garonne_store::readings::Readings::page`].
pub async fn page(source: &HistorySource, request: &ReadingsRequest) -> Result<Page, HistoryError> {
    use garonne_store::readings::Readings;
    let (scan, after, limit) = (&request.scan, request.after.as_ref(), request.limit);
    match source.opened().await? {
        Opened::Embedded(store) => store.page(scan, after, limit).await,
        Opened::Influx(store) => store.page(scan, after, limit).await,
    }
}

/// The sessions of `query` from `source`.
///
/// # Errors
///
/// As [`garonne_store::sessions::sessions`].
pub async fn sessions(
    source: &HistorySource,
    query: &SessionQuery,
) -> Result<Vec<Session>, HistoryError> {
    match source.opened().await? {
        Opened::Embedded(store) => garonne_store::sessions(store, query).await,
        Opened::Influx(store) => garonne_store::sessions(store, query).await,
    }
}

/// A series' times (seconds) and values.
type Columns = (Vec<f64>, Vec<f64>);

/// The JSON answer of `/api/readings`: the page's samples grouped by series (sensor, then
/// quantity), times in seconds since the epoch.
pub fn readings_answer(request: &ReadingsRequest, page: &Page) -> Value {
    let mut series: BTreeMap<(&str, &str), Columns> = BTreeMap::new();
    for s in &page.samples {
        let (t, v) = series.entry((&s.sensor, &s.quantity)).or_default();
        t.push(s.time_ns as f64 / 1e9);
        v.push(s.value);
    }
    let series: Vec<Value> = series
        .into_iter()
        .map(|((sensor, quantity), (t, v))| {
            json!({ "sensor": sensor, "quantity": quantity, "t": t, "v": v })
        })
        .collect();
    json!({
        "from": request.scan.from.to_string(),
        "to": request.scan.to.to_string(),
        "count": page.samples.len(),
        "series": series,
        "next": page.next.as_ref().map(Cursor::token),
    })
}

/// The JSON answer of `/api/sessions`.
pub fn sessions_answer(query: &SessionQuery, sessions: &[Session]) -> Value {
    let list: Vec<Value> = sessions
        .iter()
        .map(|s| {
            let start_ns = s.start.unix_nanos();
            json!({
                "id": format!("{}@{start_ns}", s.sensor),
                "start": s.start.to_string(),
                "end": s.end.to_string(),
                "until": s.end.add_nanos(1).to_string(),
                "duration_secs": s.end.secs_since(s.start),
                "samples": s.samples,
                "quantities": s.quantities,
            })
        })
        .collect();
    json!({
        "sensor": query.sensor,
        "from": query.from.to_string(),
        "to": query.to.to_string(),
        "gap_secs": query.gap_secs,
        "sessions": list,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        Timestamp::parse("2025-11-24T12:00:00Z").expect("valid")
    }

    fn params(query: &str) -> Vec<(String, String)> {
        query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (k.to_owned(), v.to_owned())
            })
            .collect()
    }

    #[test]
    fn readings_default_to_the_last_10_minutes_of_every_quantity() {
        let r = parse_readings(&params("sensor=car-1&sensor=car-2"), now()).expect("valid");
        assert_eq!(r.scan.sensors, ["car-1", "car-2"]);
        assert!(r.scan.quantities.is_empty());
        assert_eq!(r.scan.from.to_string(), "2025-11-24T11:50:00Z");
        assert_eq!((r.limit, r.after), (DEFAULT_PAGE, None));
        let r = parse_readings(
            &params("sensor=car-1&quantity=speed&from=2025-11-24T10:00:00.000000007Z&limit=5&after=7:car-1:speed"),
            now(),
        )
        .expect("valid");
        assert_eq!(r.scan.from.unix_nanos() % 1_000_000_000, 7);
        assert_eq!(r.limit, 5);
        assert_eq!(r.after.map(|c| c.token()), Some("7:car-1:speed".into()));
    }

    #[test]
    fn mistakes_say_what_to_fix() {
        for (query, fix) in [
            ("", "give sensor=ID"),
            ("sensor=a/b", "is not a sensor id"),
            ("sensor=a&limit=0", "from 1 to 100000"),
            ("sensor=a&limit=100001", "follow `next`"),
            ("sensor=a&after=x", "is not a cursor"),
            ("sensor=a&from=2025-11-24T13:00:00Z", "must be before"),
            ("sensor=a&every=3", "unknown parameter \"every\""),
            ("sensor=a&from=hier", "RFC 3339"),
            ("sensor=a&limit=1&limit=2", "give limit once"),
        ] {
            let e = parse_readings(&params(query), now()).expect_err(query);
            assert_eq!(e.status.as_u16(), 400);
            assert!(e.message.contains(fix), "{query}: {}", e.message);
        }
        for (query, fix) in [
            ("gap=3", "give sensor=ID"),
            ("sensor=a&gap=0", "1 or more"),
            ("sensor=a&sensor=b", "give sensor once"),
        ] {
            let e = parse_sessions(&params(query), now()).expect_err(query);
            assert!(e.message.contains(fix), "{query}: {}", e.message);
        }
        let q = parse_sessions(&params("sensor=car-1"), now()).expect("valid");
        assert_eq!(
            (q.gap_secs, q.from.to_string()),
            (60, "2025-11-17T12:00:00Z".into())
        );
    }
}

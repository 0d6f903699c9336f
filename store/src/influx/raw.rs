//! Raw readings from InfluxDB, page by page ([`crate::readings`]), with InfluxQL on `/query`.
//!
//! A page is one raw query, `SELECT ... FROM "reading" WHERE <sensors> AND time >= START AND
//! time < TO ORDER BY time LIMIT n` ([`scan_statement`]): InfluxDB merges the series in time
//! order. A point holds several samples (one per quantity), so `n` is the page's samples over
//! the samples of a point: the quantities asked, or those of the first point (a probe of one
//! point). Samples of the same time are sorted here (by sensor, then quantity), which needs every
//! point of that time: when the limit cuts a page, the points of its last time are left for the
//! next page (they may be incomplete), and when a whole page is one instant (more points at one
//! time than the limit), that instant is read whole, without a limit (its size is bounded by the
//! number of series). Every page thus moves the scan forward.
//!
//! Sessions ([`crate::sessions::Timeline`]) count a sensor's values per interval with one
//! `count(*) ... GROUP BY time(...)` ([`count_statement`]), and find a first or last sample's
//! time with a one-point raw query.

use std::sync::Arc;

use super::InfluxQl;
use super::influxql::{Answer, check_id, identifier, literal};
use crate::history::HistoryError;
use crate::readings::{self, Cursor, Page, Readings, Sample, Scan, sort};
use crate::sessions::{Counted, SessionQuery, Timeline};

/// The columns of a `reading` point that are not quantities: tags and metadata fields.
const NOT_QUANTITIES: [&str; 7] = ["time", "sensor", "source", "kind", "lat", "lon", "seq"];

/// The InfluxQL statement of the points of `scan` in `[start, end)`, in time order, `limit`
/// points at most: the sensor tag and the quantities asked (every field when none is named).
///
/// # Errors
///
/// [`HistoryError::Invalid`] for an empty sensor id or quantity name.
pub fn scan_statement(
    scan: &Scan,
    start: i64,
    end: i64,
    limit: Option<usize>,
) -> Result<String, HistoryError> {
    let columns = if scan.quantities.is_empty() {
        "*".to_owned()
    } else {
        for q in &scan.quantities {
            check_id(q, "quantity")?;
        }
        std::iter::once("\"sensor\"".to_owned())
            .chain(scan.quantities.iter().map(|q| identifier(q)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let sensors = sensors_clause(&scan.sensors)?;
    let limit = limit.map_or(String::new(), |n| format!(" LIMIT {n}"));
    Ok(format!(
        "SELECT {columns} FROM \"reading\" WHERE {sensors}time >= {start} AND time < {end} \
         ORDER BY time ASC{limit}"
    ))
}

/// The start of a `WHERE` clause that keeps the points of `sensors`
/// (`("sensor" = 'a' OR "sensor" = 'b') AND `); empty when none is named (every sensor).
///
/// # Errors
///
/// [`HistoryError::Invalid`] for an empty sensor id.
pub(super) fn sensors_clause(sensors: &[String]) -> Result<String, HistoryError> {
    if sensors.is_empty() {
        return Ok(String::new());
    }
    let mut any = Vec::with_capacity(sensors.len());
    for id in sensors {
        check_id(id, "sensor")?;
        any.push(format!("\"sensor\" = {}", literal(id)));
    }
    Ok(format!("({}) AND ", any.join(" OR ")))
}

/// The points of an answer: their times (in the order given) and their samples.
#[derive(Debug, Default)]
struct Points {
    /// The time of each point, in the server's order.
    times: Vec<i64>,
    /// Every sample of every point.
    samples: Vec<Sample>,
    /// Whether the server cut the answer.
    partial: bool,
}

/// The points of a `/query` answer; an error text otherwise.
fn points(body: &str) -> Result<Points, String> {
    let (series, partial) = Answer::series(body)?;
    let mut out = Points {
        partial,
        ..Points::default()
    };
    for series in series {
        let at = |name: &str| series.columns.iter().position(|c| c == name);
        let (Some(time), Some(sensor)) = (at("time"), at("sensor")) else {
            return Err(format!("no time or sensor column in {:?}", series.columns));
        };
        let quantities: Vec<(usize, Arc<str>)> = series
            .columns
            .iter()
            .enumerate()
            .filter(|(_, c)| !NOT_QUANTITIES.contains(&c.as_str()))
            .map(|(i, c)| (i, Arc::from(c.as_str())))
            .collect();
        let mut sensors: Option<Arc<str>> = None;
        for row in &series.values {
            let (Some(time_ns), Some(id)) = (
                row.get(time).and_then(serde_json::Value::as_i64),
                row.get(sensor).and_then(serde_json::Value::as_str),
            ) else {
                return Err(format!("unexpected row {row:?}"));
            };
            // Rows of one sensor follow each other: one name shared by them.
            let id = match &sensors {
                Some(name) if &**name == id => name.clone(),
                _ => sensors.insert(Arc::from(id)).clone(),
            };
            out.times.push(time_ns);
            for (i, quantity) in &quantities {
                if let Some(value) = row.get(*i).and_then(serde_json::Value::as_f64) {
                    out.samples.push(Sample {
                        time_ns,
                        sensor: id.clone(),
                        quantity: quantity.clone(),
                        value,
                    });
                }
            }
        }
    }
    Ok(out)
}

impl InfluxQl {
    /// The points of `scan` in `[start, end)`, at most `limit`.
    async fn points(
        &self,
        scan: &Scan,
        start: i64,
        end: i64,
        limit: Option<usize>,
    ) -> Result<Points, HistoryError> {
        let text = scan_statement(scan, start, end, limit)?;
        let body = self.fetch(&text).await?;
        points(&body).map_err(|error| self.answer_error(&error))
    }

    /// How many points to ask for `limit` samples and one point more: a point holds one
    /// sample per quantity asked, or, for every quantity, as many as the first point from
    /// `start` (one query of one point).
    ///
    /// Design: asking for `limit` points of a car's 200 channels would fetch 200 times the page
    /// (the first bench measured 130 times the time of one raw query).
    async fn rows_for(
        &self,
        scan: &Scan,
        start: i64,
        to: i64,
        limit: usize,
    ) -> Result<usize, HistoryError> {
        let per_point = if scan.quantities.is_empty() {
            let probe = self.points(scan, start, to, Some(1)).await?;
            probe.samples.len()
        } else {
            scan.quantities.len()
        };
        Ok(limit.div_ceil(per_point.max(1)) + 1)
    }

    /// A page of `scan` (see the module doc).
    async fn scan_page(
        &self,
        scan: &Scan,
        after: Option<&Cursor>,
        limit: usize,
    ) -> Result<Page, HistoryError> {
        scan.check()?;
        let limit = readings::clamp_limit(limit);
        let (from, to) = scan.range_ns();
        let mut start = after.map_or(from, |c| c.time_ns.max(from));
        while start < to {
            let rows = self.rows_for(scan, start, to, limit).await?;
            let page = self.points(scan, start, to, Some(rows)).await?;
            let (Some(&first), Some(&last)) = (page.times.first(), page.times.last()) else {
                break;
            };
            let full = page.partial || page.times.len() >= rows;
            // Where the page's complete times end, when more may follow.
            let (mut samples, resume) = if !full {
                (page.samples, None)
            } else if first < last {
                let mut samples = page.samples;
                samples.retain(|s| s.time_ns < last);
                (samples, Some(last))
            } else {
                let instant = self
                    .points(scan, last, last.saturating_add(1), None)
                    .await?;
                (instant.samples, Some(last.saturating_add(1)))
            };
            sort(&mut samples);
            samples.dedup_by(|b, a| {
                (a.time_ns, &a.sensor, &a.quantity) == (b.time_ns, &b.sensor, &b.quantity)
            });
            if let Some(after) = after {
                samples.retain(|s| s.is_after(after));
            }
            if samples.is_empty() {
                match resume {
                    Some(resume) => {
                        start = resume;
                        continue;
                    }
                    None => break,
                }
            }
            let next = if samples.len() > limit {
                samples.truncate(limit);
                samples.last().map(Sample::cursor)
            } else {
                resume.map(Cursor::before)
            };
            return Ok(Page { samples, next });
        }
        Ok(Page::default())
    }
}

/// The InfluxQL statement that counts a sensor's values per interval of a sessions query:
/// `SELECT count(*) FROM "reading" WHERE "sensor" = 'id' AND time >= FROM AND time < TO GROUP
/// BY time(Nms) fill(none)`, one count per field.
///
/// # Errors
///
/// [`HistoryError::Invalid`] for a query [`SessionQuery::check`] refuses.
pub fn count_statement(query: &SessionQuery) -> Result<String, HistoryError> {
    query.check()?;
    let (from, to) = query.range_ns();
    Ok(format!(
        "SELECT count(*) FROM \"reading\" WHERE \"sensor\" = {} AND time >= {from} AND \
         time < {to} GROUP BY time({}ms) fill(none)",
        literal(&query.sensor),
        query.interval_ns() / 1_000_000
    ))
}

/// The non-empty intervals of a `count(*)` answer, oldest first.
fn intervals(body: &str) -> Result<Vec<Counted>, String> {
    let mut out = Vec::new();
    for series in Answer::series(body)?.0 {
        let quantities: Vec<(usize, &str)> = series
            .columns
            .iter()
            .enumerate()
            .filter_map(|(i, c)| Some((i, c.strip_prefix("count_")?)))
            .filter(|(_, q)| !NOT_QUANTITIES.contains(q))
            .collect();
        for row in &series.values {
            let Some(start_ns) = row.first().and_then(serde_json::Value::as_i64) else {
                return Err(format!("unexpected row {row:?}"));
            };
            let mut interval = Counted {
                start_ns,
                ..Counted::default()
            };
            for (i, quantity) in &quantities {
                let n = row.get(*i).and_then(serde_json::Value::as_u64).unwrap_or(0);
                if n > 0 {
                    interval.count += n;
                    interval.quantities.insert((*quantity).to_owned());
                }
            }
            if interval.count > 0 {
                out.push(interval);
            }
        }
    }
    out.sort_by_key(|c| c.start_ns);
    Ok(out)
}

impl Timeline for InfluxQl {
    async fn counts(&self, query: &SessionQuery) -> Result<Vec<Counted>, HistoryError> {
        let text = count_statement(query)?;
        let body = self.fetch(&text).await?;
        intervals(&body).map_err(|error| self.answer_error(&error))
    }

    async fn edge(
        &self,
        sensor: &str,
        from_ns: i64,
        to_ns: i64,
        last: bool,
    ) -> Result<Option<i64>, HistoryError> {
        check_id(sensor, "sensor")?;
        let order = if last { "DESC" } else { "ASC" };
        let text = format!(
            "SELECT * FROM \"reading\" WHERE \"sensor\" = {} AND time >= {from_ns} AND \
             time < {to_ns} ORDER BY time {order} LIMIT 1",
            literal(sensor)
        );
        let body = self.fetch(&text).await?;
        let found = points(&body).map_err(|error| self.answer_error(&error))?;
        Ok(found.times.first().copied())
    }
}

impl Readings for InfluxQl {
    fn page(
        &self,
        scan: &Scan,
        after: Option<&Cursor>,
        limit: usize,
    ) -> impl Future<Output = Result<Page, HistoryError>> + Send {
        self.scan_page(scan, after, limit)
    }
}

#[cfg(test)]
mod tests {
    use garonne_payload::Timestamp;

    use super::*;

    fn scan(sensors: &[&str], quantities: &[&str]) -> Scan {
        Scan {
            sensors: sensors.iter().map(|s| (*s).to_owned()).collect(),
            quantities: quantities.iter().map(|s| (*s).to_owned()).collect(),
            from: Timestamp::UNIX_EPOCH,
            to: Timestamp::UNIX_EPOCH.add_nanos(10),
        }
    }

    #[test]
    fn statements_name_the_sensors_and_quantities() -> Result<(), HistoryError> {
        assert_eq!(
            scan_statement(&scan(&[], &[]), 5, 10, Some(3))?,
            "SELECT * FROM \"reading\" WHERE time >= 5 AND time < 10 ORDER BY time ASC LIMIT 3"
        );
        assert_eq!(
            scan_statement(&scan(&["a", "b'c"], &["speed"]), 5, 6, None)?,
            "SELECT \"sensor\", \"speed\" FROM \"reading\" WHERE (\"sensor\" = 'a' OR \
             \"sensor\" = 'b\\'c') AND time >= 5 AND time < 6 ORDER BY time ASC"
        );
        assert!(scan_statement(&scan(&[""], &[]), 5, 6, None).is_err());
        Ok(())
    }

    #[test]
    fn answers_become_samples_without_the_metadata() -> Result<(), String> {
        let body = r#"{"results":[{"statement_id":0,"series":[{"name":"reading",
            "columns":["time","kind","lat","lon","seq","sensor","source","speed","temperature"],
            "values":[[7,"car",43.6,1.4,1,"car-1","can",12,null],
                      [8,"car",null,null,2,"car-1","can",13.5,20.25]]}]}]}"#;
        let answer = points(body)?;
        assert_eq!(answer.times, [7, 8]);
        let got: Vec<(i64, &str, &str, f64)> = answer
            .samples
            .iter()
            .map(|s| (s.time_ns, &*s.sensor, &*s.quantity, s.value))
            .collect();
        assert_eq!(
            got,
            [
                (7, "car-1", "speed", 12.0),
                (8, "car-1", "speed", 13.5),
                (8, "car-1", "temperature", 20.25)
            ]
        );
        assert!(
            points(r#"{"results":[{"statement_id":0}]}"#)?
                .times
                .is_empty()
        );
        assert!(points(r#"{"results":[{"error":"database not found: x"}]}"#).is_err());
        Ok(())
    }
}

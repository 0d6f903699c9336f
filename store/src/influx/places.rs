//! Sensors' places from InfluxDB ([`crate::places`]): the last `lat`, `lon` and `kind` of each
//! sensor's `reading` points within a scan's range, every sensor in one InfluxQL request
//! ([`places_statement`]), `GROUP BY "sensor"` giving one series per sensor.
//!
//! Design: the historian writes the place and kind as fields of every reading (a kind that
//! changes would make a new series as a tag), so `last()` of each is the place of the sensor's
//! newest reading in range; the three come from the same point, since every reading has all
//! three. The range bounds the request (InfluxDB reads only the shards it covers); it is the
//! replay's own, in which every replayed sensor has readings, hence a place.

use super::InfluxQl;
use super::influxql::Answer;
use super::raw::sensors_clause;
use crate::history::HistoryError;
use crate::places::{Places, SensorPlace};
use crate::readings::Scan;

/// The InfluxQL statement of the last place and kind of each sensor of `scan` (every sensor when
/// it names none) in its range: `SELECT last("lat") AS "lat", last("lon") AS "lon",
/// last("kind") AS "kind" FROM "reading" WHERE <sensors> AND time >= FROM AND time < TO GROUP BY
/// "sensor"`. The scan's quantities do not matter.
///
/// # Errors
///
/// [`HistoryError::Invalid`] for a scan [`Scan::check`] refuses.
pub fn places_statement(scan: &Scan) -> Result<String, HistoryError> {
    scan.check()?;
    let (from, to) = scan.range_ns();
    let sensors = sensors_clause(&scan.sensors)?;
    Ok(format!(
        "SELECT last(\"lat\") AS \"lat\", last(\"lon\") AS \"lon\", last(\"kind\") AS \"kind\" \
         FROM \"reading\" WHERE {sensors}time >= {from} AND time < {to} GROUP BY \"sensor\""
    ))
}

/// The places of a `GROUP BY "sensor"` answer (see [`places_statement`]); a sensor without a
/// latitude and a longitude is left out. An error text when the body is not such an answer.
fn places(body: &str) -> Result<Places, String> {
    let mut out = Places::new();
    for series in Answer::series(body)?.0 {
        let Some(sensor) = series.tags.as_ref().and_then(|t| t.get("sensor")) else {
            return Err(format!(
                "a series without its sensor tag: {:?}",
                series.columns
            ));
        };
        let at = |name: &str| series.columns.iter().position(|c| c == name);
        let Some(row) = series.values.first() else {
            continue;
        };
        let value = |name: &str| at(name).and_then(|i| row.get(i));
        let (Some(lat), Some(lon)) = (
            value("lat").and_then(serde_json::Value::as_f64),
            value("lon").and_then(serde_json::Value::as_f64),
        ) else {
            continue;
        };
        let kind = value("kind")
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned);
        out.insert(sensor.clone(), SensorPlace { kind, lat, lon });
    }
    Ok(out)
}

impl InfluxQl {
    /// The last place and kind of each sensor of `scan` within its range (see the module doc);
    /// sensors without one are left out.
    ///
    /// # Errors
    ///
    /// [`HistoryError::Invalid`] for a scan [`Scan::check`] refuses,
    /// [`HistoryError::Unavailable`] when the server does not answer.
    pub async fn places(&self, scan: &Scan) -> Result<Places, HistoryError> {
        let text = places_statement(scan)?;
        let body = self.fetch(&text).await?;
        places(&body).map_err(|error| self.answer_error(&error))
    }
}

#[cfg(test)]
mod tests {
    use garonne_payload::Timestamp;

    use super::*;

    #[test]
    fn the_statement_asks_each_sensors_last_place_in_the_range() -> Result<(), HistoryError> {
        let scan = Scan::new(
            vec!["a".into(), "b'c".into()],
            Timestamp::UNIX_EPOCH.add_nanos(5),
            Timestamp::UNIX_EPOCH.add_nanos(10),
        );
        assert_eq!(
            places_statement(&scan)?,
            "SELECT last(\"lat\") AS \"lat\", last(\"lon\") AS \"lon\", last(\"kind\") AS \
             \"kind\" FROM \"reading\" WHERE (\"sensor\" = 'a' OR \"sensor\" = 'b\\'c') AND \
             time >= 5 AND time < 10 GROUP BY \"sensor\""
        );
        let every = Scan::new(Vec::new(), scan.from, scan.to);
        assert!(
            places_statement(&every)?.contains("WHERE time >= 5 AND time < 10 GROUP BY"),
            "no sensor named: every sensor"
        );
        let empty = Scan::new(Vec::new(), scan.from, scan.from);
        assert!(matches!(
            places_statement(&empty),
            Err(HistoryError::Invalid(_))
        ));
        Ok(())
    }

    #[test]
    fn answers_become_places_and_sensors_without_one_are_left_out() -> Result<(), String> {
        let body = r#"{"results":[{"statement_id":0,"series":[
            {"name":"reading","tags":{"sensor":"car-1"},"columns":["time","lat","lon","kind"],
             "values":[[5,43.6047,1.4442,"can-logger"]]},
            {"name":"reading","tags":{"sensor":"old"},"columns":["time","lat","lon","kind"],
             "values":[[5,43.5,1.4,null]]},
            {"name":"reading","tags":{"sensor":"nowhere"},"columns":["time","lat","lon","kind"],
             "values":[[5,null,null,"x"]]}]}]}"#;
        let got = places(body)?;
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(
            got["car-1"],
            SensorPlace {
                kind: Some("can-logger".into()),
                lat: 43.6047,
                lon: 1.4442
            }
        );
        assert_eq!(got["old"].kind, None);
        assert!(places(r#"{"results":[{"statement_id":0}]}"#)?.is_empty());
        assert!(places(r#"{"results":[{"error":"database not found: x"}]}"#).is_err());
        assert!(
            places(r#"{"results":[{"series":[{"columns":["time","lat"],"values":[[1,2]]}]}]}"#)
                .is_err(),
            "a series without its sensor"
        );
        Ok(())
    }
}

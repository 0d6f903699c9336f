//! MQTT messages into points: the historian's schema, the measurements Grafana and the
//! history queries read.
//!
//! Made for Grafana and InfluxDB: tags are what dashboards group and filter by, and their
//! combinations (the series) stay bounded, by the sensors, by neighbourhoods × quantities, and
//! by rules × scopes; every value that changes with each message is a field.
//!
//! | measurement | from topic | tags | fields | time |
//! |---|---|---|---|---|
//! | `reading` | `sensors/{id}/reading`, `sensors/{id}/senml` (one point per reading) | `kind`, `sensor`, `source` | one float per quantity present, named as on the wire, whichever profile of the catalogue it comes from (`temperature`, `relativeHumidity`, `pm25`, `availableBikeNumber`...); `lat`, `lon` (float); `seq` (int) | the reading's time |
//! | `aggregate` | `neighbourhoods/{id}/aggregate` (one point per quantity) | `name`, `neighbourhood`, `quantity` | `value` (float: the quantity's aggregate by its profile's `time` and `space` rules), `mean`, `min`, `max` (float); `readings`, `sensors`, `window_secs` (int) | `window_start` |
//! | `alert` | `alerts/{rule}/{scope}` | `quantity`, `rule`, `scope` (`neighbourhood-3`, `sensor-pi-1`) | `state` (string `raised` or `cleared`); `raised` (int 1 or 0); `value`, `threshold` (float); `comparison` (string `above` or `below`) | `since` |
//! | `status` | `sensors/{id}/status` | `sensor` | `state` (string `online` or `offline`); `online` (int 1 or 0); `kind`, `source` (string); `lat`, `lon` (float, when the location is known); `modules_running`, `modules_failed` (int) | the status time |
//!
//! A point is named by its measurement, tags and time, so a message stored twice is one point:
//! a reading delivered again (QoS 1), an aggregate re-emitted for the same window (the last
//! one wins), a retained alert or status received again after a reconnection.
//!
//! Rolling statistics and error reports are not stored (realtime derives them again from the
//! readings), and neither are topics of another prefix. An empty payload is the retained
//! message that clears an alert: nothing to store. A payload that breaks the spec is skipped
//! with the rule it breaks: readings and SenML packs are checked by the payload validator, with
//! the time the message was received as the clock; status, aggregate and alert messages are
//! checked for their JSON shape, version and time bounds; every message must name the id of its
//! topic ([`Rule::SensorMismatch`], whatever the kind of id).

use garonne_payload::{
    Alert, AlertState, Comparison, Limits, ModuleState, NeighbourhoodAggregate, Reading, Rule,
    SPEC_VERSION, SensorState, Status, Timestamp, Topic, Topics, parse_payload,
};
use serde::de::DeserializeOwned;

use garonne_store::point::{Field, Point};

/// Why a message gave no point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Skip {
    /// Not a topic the historian stores: rolling statistics, error reports, a topic of another
    /// prefix or of no known shape.
    #[error("not a topic the historian stores")]
    NotStored,
    /// An empty payload: the empty retained message that clears a retained topic.
    #[error("empty payload")]
    Empty,
    /// A payload that breaks the spec, with the first rule it breaks (for a counter by rule).
    #[error("invalid payload ({0})")]
    Invalid(Rule),
}

/// Appends to `out` the points of the message `payload` received on `topic` at `received`, and
/// returns how many; `limits` bound readings as everywhere else. A message that gives no point
/// says why with a [`Skip`], and leaves `out` unchanged; a valid aggregate without quantities
/// gives `Ok(0)`.
pub fn points(
    topics: &Topics,
    topic: &str,
    payload: &[u8],
    received: Timestamp,
    limits: &Limits,
    out: &mut Vec<Point>,
) -> Result<usize, Skip> {
    let parsed = topics.parse(topic).ok_or(Skip::NotStored)?;
    if matches!(parsed, Topic::Rolling { .. } | Topic::Error { .. }) {
        return Err(Skip::NotStored);
    }
    if payload.is_empty() {
        return Err(Skip::Empty);
    }
    let before = out.len();
    match parsed {
        Topic::Reading { sensor_id } | Topic::Senml { sensor_id } => {
            let parsed = parse_payload(payload, received, limits).map_err(|invalid| {
                Skip::Invalid(
                    invalid
                        .violations
                        .first()
                        .map_or(Rule::JsonSyntax, |v| v.rule),
                )
            })?;
            let readings = parsed.readings();
            if readings.iter().any(|r| r.sensor_id != sensor_id) {
                return Err(Skip::Invalid(Rule::SensorMismatch));
            }
            out.extend(readings.iter().map(reading_point));
        }
        Topic::Aggregate { neighbourhood_id } => {
            let aggregate: NeighbourhoodAggregate = parse_message(payload, limits)?;
            check_version(aggregate.v)?;
            same_id(&aggregate.neighbourhood_id, neighbourhood_id)?;
            let time_ns = time_ns(aggregate.window_start, received, limits)?;
            aggregate_points(&aggregate, time_ns, out);
        }
        Topic::Alert { rule, scope } => {
            let alert: Alert = parse_message(payload, limits)?;
            check_version(alert.v)?;
            same_id(&alert.rule, rule)?;
            same_id(&alert.scope.topic_segment(), scope)?;
            let time_ns = time_ns(alert.since, received, limits)?;
            out.push(alert_point(&alert, time_ns));
        }
        Topic::Status { sensor_id } => {
            let status: Status = parse_message(payload, limits)?;
            check_version(status.v)?;
            same_id(&status.sensor_id, sensor_id)?;
            let time_ns = time_ns(status.time, received, limits)?;
            out.push(status_point(&status, time_ns));
        }
        Topic::Rolling { .. } | Topic::Error { .. } => return Err(Skip::NotStored),
    }
    Ok(out.len() - before)
}

/// The `reading` point of a valid reading.
pub fn reading_point(reading: &Reading) -> Point {
    let mut fields: Vec<(&'static str, Field)> = reading
        .quantities
        .iter()
        .map(|(q, value)| (q.name(), Field::Float(value)))
        .collect();
    fields.push(("lat", Field::Float(reading.location.lat)));
    fields.push(("lon", Field::Float(reading.location.lon)));
    // Design: the kind is free text the sensor may change at every message, so a field, not a
    // tag: a tag would make a new series each time (InfluxDB's series cardinality unbounded).
    fields.push(("kind", Field::Str(reading.kind.clone())));
    // A sequence number past i64::MAX (never seen: a counter from 0) is kept at the maximum.
    fields.push((
        "seq",
        Field::Int(i64::try_from(reading.seq).unwrap_or(i64::MAX)),
    ));
    Point {
        measurement: "reading",
        tags: vec![
            ("sensor", reading.sensor_id.clone()),
            ("source", reading.source.as_str().to_owned()),
        ],
        fields,
        // Validation bounds reading times (from 2000 to now + skew), well inside i64 ns.
        time_ns: clamp_ns(reading.time.unix_nanos()),
    }
}

/// The `aggregate` points of an aggregate, one per quantity, at `time_ns`.
fn aggregate_points(aggregate: &NeighbourhoodAggregate, time_ns: i64, out: &mut Vec<Point>) {
    let window_secs = aggregate.window_end.unix_secs() - aggregate.window_start.unix_secs();
    for (quantity, stats) in &aggregate.quantities {
        let mut tags = Vec::with_capacity(3);
        if !aggregate.name.is_empty() {
            tags.push(("name", aggregate.name.clone()));
        }
        tags.push(("neighbourhood", aggregate.neighbourhood_id.clone()));
        tags.push(("quantity", quantity.name().to_owned()));
        out.push(Point {
            measurement: "aggregate",
            tags,
            fields: vec![
                ("value", Field::Float(stats.value)),
                ("mean", Field::Float(stats.mean)),
                ("min", Field::Float(stats.min)),
                ("max", Field::Float(stats.max)),
                (
                    "readings",
                    Field::Int(i64::try_from(stats.readings).unwrap_or(i64::MAX)),
                ),
                ("sensors", Field::Int(i64::from(stats.sensors))),
                ("window_secs", Field::Int(window_secs)),
            ],
            time_ns,
        });
    }
}

/// The `alert` point of an alert, at `time_ns`.
fn alert_point(alert: &Alert, time_ns: i64) -> Point {
    let raised = alert.state == AlertState::Raised;
    Point {
        measurement: "alert",
        tags: vec![
            ("quantity", alert.quantity.name().to_owned()),
            ("rule", alert.rule.clone()),
            ("scope", alert.scope.topic_segment()),
        ],
        fields: vec![
            (
                "state",
                Field::Str(if raised { "raised" } else { "cleared" }.to_owned()),
            ),
            ("raised", Field::Int(i64::from(raised))),
            ("value", Field::Float(alert.value)),
            ("threshold", Field::Float(alert.threshold)),
            (
                "comparison",
                Field::Str(
                    match alert.comparison {
                        Comparison::Above => "above",
                        Comparison::Below => "below",
                    }
                    .to_owned(),
                ),
            ),
        ],
        time_ns,
    }
}

/// The `status` point of a status, at `time_ns`.
fn status_point(status: &Status, time_ns: i64) -> Point {
    let online = status.state == SensorState::Online;
    let count = |state: ModuleState| {
        let n = status.modules.iter().filter(|m| m.state == state).count();
        Field::Int(i64::try_from(n).unwrap_or(i64::MAX))
    };
    let mut fields = vec![
        (
            "state",
            Field::Str(if online { "online" } else { "offline" }.to_owned()),
        ),
        ("online", Field::Int(i64::from(online))),
        ("kind", Field::Str(status.kind.clone())),
        ("source", Field::Str(status.source.as_str().to_owned())),
    ];
    if let Some(location) = &status.location {
        fields.push(("lat", Field::Float(location.lat)));
        fields.push(("lon", Field::Float(location.lon)));
    }
    fields.push(("modules_running", count(ModuleState::Running)));
    fields.push(("modules_failed", count(ModuleState::Failed)));
    Point {
        measurement: "status",
        tags: vec![("sensor", status.sensor_id.clone())],
        fields,
        time_ns,
    }
}

/// Parses a status, aggregate or alert message, bounded like a SenML pack.
fn parse_message<T: DeserializeOwned>(payload: &[u8], limits: &Limits) -> Result<T, Skip> {
    if payload.len() > limits.max_pack_bytes {
        return Err(Skip::Invalid(Rule::Size));
    }
    serde_json::from_slice(payload).map_err(|e| Skip::Invalid(json_rule(&e)))
}

/// The rule a serde_json error breaks.
fn json_rule(error: &serde_json::Error) -> Rule {
    use serde_json::error::Category;
    let text = error.to_string();
    match error.classify() {
        Category::Data if text.starts_with("missing field") => Rule::Required,
        Category::Data if text.starts_with("unknown field") => Rule::UnknownField,
        Category::Data if text.starts_with("duplicate field") => Rule::DuplicateKey,
        Category::Data if text.starts_with("unknown quantity") => Rule::UnknownQuantity,
        Category::Data => Rule::Type,
        _ if text.starts_with("number out of range") => Rule::NotFinite,
        Category::Syntax | Category::Eof | Category::Io => Rule::JsonSyntax,
    }
}

/// Refuses a message of another spec version.
fn check_version(v: u32) -> Result<(), Skip> {
    if v == SPEC_VERSION {
        Ok(())
    } else {
        Err(Skip::Invalid(Rule::Version))
    }
}

/// Refuses a message whose id is not the one of its topic.
fn same_id(in_payload: &str, in_topic: &str) -> Result<(), Skip> {
    if in_payload == in_topic {
        Ok(())
    } else {
        Err(Skip::Invalid(Rule::SensorMismatch))
    }
}

/// The time of a message in nanoseconds, within the validator's bounds: not before
/// `limits.earliest`, not further than the allowed skew past `received`.
fn time_ns(time: Timestamp, received: Timestamp, limits: &Limits) -> Result<i64, Skip> {
    let latest = received.add_nanos(i64::from(limits.max_future_skew_secs) * 1_000_000_000);
    if time > latest {
        return Err(Skip::Invalid(Rule::ClockSkew));
    }
    if time < limits.earliest {
        return Err(Skip::Invalid(Rule::TimeTooOld));
    }
    i64::try_from(time.unix_nanos()).map_err(|_| Skip::Invalid(Rule::TimeTooOld))
}

/// Nanoseconds as i64, clamped (for times already bounded by validation).
fn clamp_ns(ns: i128) -> i64 {
    i64::try_from(ns).unwrap_or(if ns < 0 { i64::MIN } else { i64::MAX })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use garonne_payload::{
        AlertScope, Location, ModuleStatus, Quantity, Source, WindowStats, encode_senml,
    };

    use super::*;

    fn t(s: &str) -> Timestamp {
        Timestamp::parse(s).expect("valid time")
    }

    const NOW: &str = "2025-11-24T12:00:00Z";

    fn reading(id: &str, time: &str, seq: u64) -> Reading {
        let mut r = Reading::new(
            id,
            "bme280",
            Source::RaspberryPi,
            t(time),
            seq,
            Location::new(1.4442, 43.6047),
        );
        r.quantities
            .set(Quantity::Temperature, 12.5)
            .set(Quantity::RelativeHumidity, 0.81);
        r
    }

    fn run(topic: &str, payload: &[u8]) -> Result<Vec<Point>, Skip> {
        let mut out = Vec::new();
        let n = points(
            &Topics::default(),
            topic,
            payload,
            t(NOW),
            &Limits::default(),
            &mut out,
        )?;
        assert_eq!(n, out.len());
        Ok(out)
    }

    fn tags(p: &Point) -> Vec<(&str, &str)> {
        p.tags.iter().map(|(k, v)| (*k, v.as_str())).collect()
    }

    fn aggregate() -> NeighbourhoodAggregate {
        let mut quantities = BTreeMap::new();
        quantities.insert(
            Quantity::Temperature,
            WindowStats {
                mean: 11.5,
                min: 9.0,
                max: 14.0,
                readings: 12,
                sensors: 3,
                value: 11.5,
            },
        );
        quantities.insert(
            Quantity::WindSpeed,
            WindowStats {
                mean: 3.25,
                min: 0.5,
                max: 7.0,
                readings: 4,
                sensors: 1,
                value: 3.25,
            },
        );
        NeighbourhoodAggregate {
            v: 1,
            neighbourhood_id: "7".into(),
            name: "Croix-Daurade".into(),
            window_start: t("2025-11-24T10:00:00Z"),
            window_end: t("2025-11-24T10:15:00Z"),
            emitted_at: t("2025-11-24T10:15:05Z"),
            quantities,
        }
    }

    fn alert(state: AlertState, since: &str) -> Alert {
        Alert {
            v: 1,
            rule: "heat".into(),
            scope: AlertScope::Neighbourhood("7".into()),
            state,
            quantity: Quantity::Temperature,
            comparison: Comparison::Above,
            threshold: 35.0,
            value: 36.2,
            since: t(since),
            time: t("2025-11-24T11:10:00Z"),
        }
    }

    fn status(location: Option<Location>) -> Status {
        Status {
            v: 1,
            sensor_id: "pi-1".into(),
            state: SensorState::Online,
            time: t("2025-11-24T11:00:00Z"),
            kind: "raspberry-pi".into(),
            source: Source::RaspberryPi,
            location,
            modules: vec![
                ModuleStatus {
                    name: "bme280".into(),
                    state: ModuleState::Running,
                    quantities: vec![Quantity::Temperature],
                    detail: None,
                },
                ModuleStatus {
                    name: "bh1750".into(),
                    state: ModuleState::Failed,
                    quantities: vec![Quantity::Illuminance],
                    detail: Some("no answer at 0x23".into()),
                },
                ModuleStatus {
                    name: "pir".into(),
                    state: ModuleState::Running,
                    quantities: vec![Quantity::Motion],
                    detail: None,
                },
            ],
        }
    }

    fn json<T: serde::Serialize>(value: &T) -> Vec<u8> {
        serde_json::to_vec(value).expect("serialisable")
    }

    #[test]
    fn a_reading_is_one_point_with_a_field_per_quantity() {
        let r = reading("pi-1", "2025-11-24T10:15:00.5Z", 3);
        let got = run("garonne/v1/sensors/pi-1/reading", &r.to_json()).expect("stored");
        assert_eq!(
            got,
            [Point {
                measurement: "reading",
                tags: vec![("sensor", "pi-1".into()), ("source", "raspberry-pi".into()),],
                fields: vec![
                    ("temperature", Field::Float(12.5)),
                    ("relativeHumidity", Field::Float(0.81)),
                    ("lat", Field::Float(43.6047)),
                    ("lon", Field::Float(1.4442)),
                    ("kind", Field::Str("bme280".into())),
                    ("seq", Field::Int(3)),
                ],
                time_ns: 1_763_979_300_500_000_000,
            }]
        );
    }

    #[test]
    fn a_senml_pack_gives_one_point_per_reading() {
        let readings = [
            reading("pi-1", "2025-11-24T10:15:00Z", 1),
            reading("pi-1", "2025-11-24T10:16:00Z", 2),
            reading("pi-1", "2025-11-24T10:17:00Z", 3),
        ];
        let pack = encode_senml(&readings).expect("encodable");
        let got = run("garonne/v1/sensors/pi-1/senml", &pack).expect("stored");
        let want: Vec<Point> = readings.iter().map(reading_point).collect();
        assert_eq!(got, want);
        assert_eq!(got.len(), 3);
        assert_eq!(got[2].field("seq"), Some(&Field::Int(3)));
    }

    #[test]
    fn the_same_reading_twice_gives_identical_points() {
        let payload = reading("pi-1", "2025-11-24T10:15:00Z", 3).to_json();
        let topic = "garonne/v1/sensors/pi-1/reading";
        assert_eq!(run(topic, &payload), run(topic, &payload));
        // Received later, still the same point: its time is the reading's.
        let mut later = Vec::new();
        points(
            &Topics::default(),
            topic,
            &payload,
            t("2025-11-24T18:00:00Z"),
            &Limits::default(),
            &mut later,
        )
        .expect("stored");
        assert_eq!(Ok(later), run(topic, &payload));
    }

    #[test]
    fn an_aggregate_is_one_point_per_quantity_at_the_window_start() {
        let got = run("garonne/v1/neighbourhoods/7/aggregate", &json(&aggregate())).expect("ok");
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].measurement, "aggregate");
        assert_eq!(
            tags(&got[0]),
            [
                ("name", "Croix-Daurade"),
                ("neighbourhood", "7"),
                ("quantity", "temperature")
            ]
        );
        assert_eq!(
            got[0].fields,
            [
                ("value", Field::Float(11.5)),
                ("mean", Field::Float(11.5)),
                ("min", Field::Float(9.0)),
                ("max", Field::Float(14.0)),
                ("readings", Field::Int(12)),
                ("sensors", Field::Int(3)),
                ("window_secs", Field::Int(900)),
            ]
        );
        assert_eq!(got[0].time_ns, 1_763_978_400_000_000_000);
        assert_eq!(got[1].tag("quantity"), Some("windSpeed"));
        assert_eq!(got[1].time_ns, got[0].time_ns);

        // A re-emission of the same window is the same points (names, tags, time): it
        // overwrites them.
        let mut again = aggregate();
        again.emitted_at = t("2025-11-24T10:16:00Z");
        if let Some(s) = again.quantities.get_mut(&Quantity::Temperature) {
            s.readings = 13;
        }
        let re = run("garonne/v1/neighbourhoods/7/aggregate", &json(&again)).expect("ok");
        assert_eq!(
            (re[0].measurement, &re[0].tags, re[0].time_ns),
            (got[0].measurement, &got[0].tags, got[0].time_ns)
        );
        assert_eq!(re[0].field("readings"), Some(&Field::Int(13)));
    }

    #[test]
    fn an_aggregate_stores_each_quantitys_value_by_its_rules() {
        // Two bike stations: the neighbourhood's value is the sum of their latest counts (15),
        // not the mean of their means (7.5); 4 and 11 bikes at the least and most.
        let bikes = Quantity::from_name("availableBikeNumber").expect("built-in bikes profile");
        let mut a = aggregate();
        a.quantities.insert(
            bikes,
            WindowStats {
                mean: 7.5,
                min: 4.0,
                max: 11.0,
                readings: 5,
                sensors: 2,
                value: 15.0,
            },
        );
        let got = run("garonne/v1/neighbourhoods/7/aggregate", &json(&a)).expect("ok");
        let point = got
            .iter()
            .find(|p| p.tag("quantity") == Some("availableBikeNumber"))
            .expect("a point for the bikes");
        assert_eq!(point.field("value"), Some(&Field::Float(15.0)));
        assert_eq!(point.field("mean"), Some(&Field::Float(7.5)));

        // An aggregate of an older realtime, without `value`: its value is its mean.
        let older = String::from_utf8(json(&aggregate()))
            .expect("utf-8")
            .replace(",\"value\":11.5", "");
        assert!(!older.contains("\"value\":11.5"), "{older}");
        let got = run("garonne/v1/neighbourhoods/7/aggregate", older.as_bytes()).expect("ok");
        assert_eq!(got[0].field("value"), Some(&Field::Float(11.5)));
    }

    #[test]
    fn a_reading_of_any_profile_gives_a_field_per_quantity_by_name() {
        let pm25 = Quantity::from_name("pm25").expect("built-in air-quality profile");
        let no2 = Quantity::from_name("no2").expect("built-in air-quality profile");
        let mut r = reading("air-1", "2025-11-24T10:15:00Z", 1);
        r.quantities = Default::default();
        r.quantities.set(pm25, 12.1).set(no2, 31.0);
        let got = run("garonne/v1/sensors/air-1/reading", &r.to_json()).expect("stored");
        assert_eq!(got[0].field("pm25"), Some(&Field::Float(12.1)));
        assert_eq!(got[0].field("no2"), Some(&Field::Float(31.0)));
        assert_eq!(got[0].field("temperature"), None);
    }

    #[test]
    fn an_aggregate_without_a_name_has_no_name_tag() {
        let mut a = aggregate();
        a.name.clear();
        let got = run("garonne/v1/neighbourhoods/7/aggregate", &json(&a)).expect("ok");
        assert_eq!(
            tags(&got[0]),
            [("neighbourhood", "7"), ("quantity", "temperature")]
        );
    }

    #[test]
    fn an_alert_is_one_point_at_its_since_time() {
        let got = run(
            "garonne/v1/alerts/heat/neighbourhood-7",
            &json(&alert(AlertState::Raised, "2025-11-24T11:00:00Z")),
        )
        .expect("stored");
        assert_eq!(
            got,
            [Point {
                measurement: "alert",
                tags: vec![
                    ("quantity", "temperature".into()),
                    ("rule", "heat".into()),
                    ("scope", "neighbourhood-7".into()),
                ],
                fields: vec![
                    ("state", Field::Str("raised".into())),
                    ("raised", Field::Int(1)),
                    ("value", Field::Float(36.2)),
                    ("threshold", Field::Float(35.0)),
                    ("comparison", Field::Str("above".into())),
                ],
                time_ns: 1_763_982_000_000_000_000,
            }]
        );
        let cleared = run(
            "garonne/v1/alerts/heat/neighbourhood-7",
            &json(&alert(AlertState::Cleared, "2025-11-24T11:30:00Z")),
        )
        .expect("stored");
        assert_eq!(
            cleared[0].field("state"),
            Some(&Field::Str("cleared".into()))
        );
        assert_eq!(cleared[0].field("raised"), Some(&Field::Int(0)));
    }

    #[test]
    fn a_status_is_one_point_with_module_counts() {
        let got = run(
            "garonne/v1/sensors/pi-1/status",
            &json(&status(Some(Location::new(1.5, 43.5)))),
        )
        .expect("stored");
        assert_eq!(
            got,
            [Point {
                measurement: "status",
                tags: vec![("sensor", "pi-1".into())],
                fields: vec![
                    ("state", Field::Str("online".into())),
                    ("online", Field::Int(1)),
                    ("kind", Field::Str("raspberry-pi".into())),
                    ("source", Field::Str("raspberry-pi".into())),
                    ("lat", Field::Float(43.5)),
                    ("lon", Field::Float(1.5)),
                    ("modules_running", Field::Int(2)),
                    ("modules_failed", Field::Int(1)),
                ],
                time_ns: 1_763_982_000_000_000_000,
            }]
        );
        let mut offline = status(None);
        offline.state = SensorState::Offline;
        offline.modules.clear();
        let got = run("garonne/v1/sensors/pi-1/status", &json(&offline)).expect("stored");
        assert_eq!(got[0].field("online"), Some(&Field::Int(0)));
        assert_eq!(got[0].field("lat"), None);
        assert_eq!(got[0].field("modules_running"), Some(&Field::Int(0)));
    }

    #[test]
    fn topics_the_historian_does_not_store_are_skipped() {
        let payload = reading("pi-1", "2025-11-24T10:15:00Z", 3).to_json();
        for topic in [
            "garonne/v1/sensors/pi-1/rolling",
            "garonne/v1/errors/pi-1",
            "other/v1/sensors/pi-1/reading",
            "garonne/v2/sensors/pi-1/reading",
            "garonne/v1/sensors/pi-1/reading/extra",
            "garonne/v1/unknown/pi-1",
        ] {
            assert_eq!(run(topic, &payload), Err(Skip::NotStored), "{topic}");
        }
        // Another deployment's prefix is another deployment's data.
        let mut out = Vec::new();
        let city = Topics::new("city/garonne").expect("valid prefix");
        let skipped = points(
            &city,
            "garonne/v1/sensors/pi-1/reading",
            &payload,
            t(NOW),
            &Limits::default(),
            &mut out,
        );
        assert_eq!(skipped, Err(Skip::NotStored));
        assert!(out.is_empty());
    }

    #[test]
    fn an_empty_payload_clears_and_stores_nothing() {
        for topic in [
            "garonne/v1/alerts/heat/neighbourhood-7",
            "garonne/v1/sensors/pi-1/status",
            "garonne/v1/neighbourhoods/7/aggregate",
            "garonne/v1/sensors/pi-1/reading",
        ] {
            assert_eq!(run(topic, b""), Err(Skip::Empty), "{topic}");
        }
    }

    #[test]
    fn invalid_payloads_are_skipped_with_their_rule() {
        let good =
            String::from_utf8(reading("pi-1", "2025-11-24T10:15:00Z", 3).to_json()).expect("utf-8");
        let agg = String::from_utf8(json(&aggregate())).expect("utf-8");
        let alert_json =
            String::from_utf8(json(&alert(AlertState::Raised, "2025-11-24T11:00:00Z")))
                .expect("utf-8");
        let status_json = String::from_utf8(json(&status(None))).expect("utf-8");
        let reading_topic = "garonne/v1/sensors/pi-1/reading";
        let aggregate_topic = "garonne/v1/neighbourhoods/7/aggregate";
        let alert_topic = "garonne/v1/alerts/heat/neighbourhood-7";
        let status_topic = "garonne/v1/sensors/pi-1/status";
        let cases: Vec<(&str, String, Rule)> = vec![
            (reading_topic, "not json".into(), Rule::JsonSyntax),
            (reading_topic, good.replace("12.5", "99.5"), Rule::Range),
            (
                reading_topic,
                good.replace("2025-11-24T10:15:00Z", "2025-11-24T12:05:00Z"),
                Rule::ClockSkew,
            ),
            (
                "garonne/v1/sensors/pi-2/reading",
                good.clone(),
                Rule::SensorMismatch,
            ),
            (
                "garonne/v1/sensors/pi-2/senml",
                "[]".into(),
                Rule::SenmlEmpty,
            ),
            (aggregate_topic, "{".into(), Rule::JsonSyntax),
            (
                aggregate_topic,
                agg.replace("\"v\":1", "\"v\":2"),
                Rule::Version,
            ),
            (
                aggregate_topic,
                agg.replace("\"name\"", "\"nom\""),
                Rule::UnknownField,
            ),
            (
                aggregate_topic,
                agg.replace("windSpeed", "windspeed"),
                Rule::UnknownQuantity,
            ),
            (
                "garonne/v1/neighbourhoods/8/aggregate",
                agg.clone(),
                Rule::SensorMismatch,
            ),
            (
                aggregate_topic,
                agg.replace("2025-11-24T10:00:00Z", "1999-12-31T23:00:00Z"),
                Rule::TimeTooOld,
            ),
            (
                alert_topic,
                alert_json.replace("\"value\":36.2", "\"value\":\"hot\""),
                Rule::Type,
            ),
            (
                alert_topic,
                alert_json.replace("\"value\":36.2,", ""),
                Rule::Required,
            ),
            (
                alert_topic,
                alert_json.replace("\"value\":36.2", "\"value\":1e999"),
                Rule::NotFinite,
            ),
            (
                "garonne/v1/alerts/cold/neighbourhood-7",
                alert_json.clone(),
                Rule::SensorMismatch,
            ),
            (
                "garonne/v1/alerts/heat/sensor-7",
                alert_json.clone(),
                Rule::SensorMismatch,
            ),
            (
                alert_topic,
                alert_json.replace("2025-11-24T11:00:00Z", "2025-11-24T13:00:00Z"),
                Rule::ClockSkew,
            ),
            (
                "garonne/v1/sensors/pi-2/status",
                status_json.clone(),
                Rule::SensorMismatch,
            ),
            (
                status_topic,
                status_json.replace("\"online\"", "\"asleep\""),
                Rule::Type,
            ),
            (
                status_topic,
                format!("{}{}", status_json, " ".repeat(300 * 1024)),
                Rule::Size,
            ),
        ];
        for (topic, payload, rule) in cases {
            let mut out = vec![reading_point(&reading("x", NOW, 0))];
            let skipped = points(
                &Topics::default(),
                topic,
                payload.as_bytes(),
                t(NOW),
                &Limits::default(),
                &mut out,
            );
            assert_eq!(skipped, Err(Skip::Invalid(rule)), "{topic}: {payload}");
            assert_eq!(out.len(), 1, "out unchanged: {topic}: {payload}");
        }
    }

    #[test]
    fn skips_say_why() {
        assert_eq!(
            Skip::NotStored.to_string(),
            "not a topic the historian stores"
        );
        assert_eq!(
            Skip::Invalid(Rule::SensorMismatch).to_string(),
            "invalid payload (sensor-mismatch)"
        );
    }
}

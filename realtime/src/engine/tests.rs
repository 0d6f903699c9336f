//! The engine's unit tests: made-up readings and times through its public entry points.

use std::collections::BTreeMap;

use garonne_neighbourhoods::Properties;
use garonne_payload::{
    Alert, AlertState, Comparison, ErrorReport, Location, NeighbourhoodAggregate, Quantity, Rule,
    SensorRolling, Source, WindowStats,
};

use super::report::MAX_REPORTED;
use super::*;
use crate::alerts::ScopeKind;

/// Two unit squares side by side: "west" (lon 0–1) and "east" (lon 1–2), lat 0–1.
fn squares() -> Neighbourhoods {
    let square = |id: &str, x: f64| {
        format!(
            r#"{{"type":"Feature","properties":{{"id":"{id}","name":"{id} side"}},
            "geometry":{{"type":"Polygon","coordinates":[[[{x},0],[{x1},0],[{x1},1],[{x},1],[{x},0]]]}}}}"#,
            x1 = x + 1.0
        )
    };
    let json = format!(
        r#"{{"type":"FeatureCollection","features":[{},{}]}}"#,
        square("west", 0.0),
        square("east", 1.0)
    );
    Neighbourhoods::from_slice(json.as_bytes(), "squares", &Properties::new("id", "name"))
        .expect("valid squares")
}

/// 2025-11-21T10:00:00Z: the start of a 15-minute window.
const T0: i64 = 1_763_719_200;

fn at(secs: i64) -> Timestamp {
    Timestamp::new(T0 + secs, 0).expect("valid time")
}

fn engine(rules: Vec<AlertRule>) -> Engine {
    Engine::new(squares(), Settings::default(), rules, Topics::default())
}

fn reading(sensor: &str, secs: i64, seq: u64, lon: f64, temperature: f64) -> Reading {
    let mut r = Reading::new(
        sensor,
        "bme280",
        Source::RaspberryPi,
        at(secs),
        seq,
        Location::new(lon, 0.5),
    );
    r.quantities.set(Quantity::Temperature, temperature);
    r
}

/// The aggregates in `out`, decoded, in publication order.
fn aggregates(out: &[Publish]) -> Vec<NeighbourhoodAggregate> {
    out.iter()
        .filter(|p| p.topic.ends_with("/aggregate"))
        .map(|p| serde_json::from_slice(&p.payload).expect("aggregate JSON"))
        .collect()
}

fn errors(out: &[Publish]) -> Vec<(String, ErrorReport)> {
    out.iter()
        .filter(|p| p.topic.contains("/errors/"))
        .map(|p| {
            let report = serde_json::from_slice(&p.payload).expect("error report JSON");
            (p.topic.clone(), report)
        })
        .collect()
}

fn temperature(a: &NeighbourhoodAggregate) -> WindowStats {
    a.quantities[&Quantity::Temperature]
}

#[test]
fn the_mean_weighs_sensors_equally_and_min_max_counts_are_exact() {
    let mut e = engine(Vec::new());
    let mut out = Vec::new();
    // Sensor a reports 10, 11, 12; sensor b once, 20. Per reading the mean would be 13.25.
    for (i, v) in [10.0, 11.0, 12.0].into_iter().enumerate() {
        let r = reading("a", 10 + i as i64, i as u64, 0.5, v);
        assert_eq!(e.fold(&r, at(60), &mut out), Outcome::Folded);
    }
    e.fold(&reading("b", 20, 0, 0.25, 20.0), at(60), &mut out);
    e.emit(at(60), &mut out);
    let aggs = aggregates(&out);
    assert_eq!(aggs.len(), 1);
    let a = &aggs[0];
    assert_eq!(a.neighbourhood_id, "west");
    assert_eq!((a.window_start, a.window_end), (at(0), at(900)));
    assert_eq!(
        temperature(a),
        WindowStats {
            mean: 15.5,
            min: 10.0,
            max: 20.0,
            readings: 4,
            sensors: 2,
            value: 15.5
        }
    );
}

#[test]
fn readings_are_judged_by_their_own_time_against_now() {
    // Window 10:00–10:15 closes for good at 10:17 (lateness 2 min). Each case folds one
    // reading stamped `time` at `now` into a fresh core.
    let cases = [
        ("in its window", 100, 200, Outcome::Folded),
        (
            "out of order but within lateness",
            899,
            900 + 119,
            Outcome::Folded,
        ),
        ("after the window closed", 899, 900 + 120, Outcome::Late),
        ("far too old", -3600, 60, Outcome::Late),
        (
            "ahead within the clock-skew bound",
            180,
            60,
            Outcome::Folded,
        ),
        (
            "ahead beyond the clock-skew bound",
            181,
            60,
            Outcome::Future,
        ),
    ];
    for (name, time, now, expected) in cases {
        let mut e = engine(Vec::new());
        let mut out = Vec::new();
        let outcome = e.fold(&reading("a", time, 1, 0.5, 12.0), at(now), &mut out);
        assert_eq!(outcome, expected, "{name}");
        let reports = errors(&out);
        if expected == Outcome::Late {
            assert_eq!(e.counters().rejected(Rule::Late), 1, "{name}");
            assert_eq!(reports.len(), 1, "{name}: a late reading is reported");
            assert_eq!(reports[0].0, "garonne/v1/errors/a");
            assert_eq!(reports[0].1.errors[0].rule, Rule::Late);
            assert_eq!(reports[0].1.errors[0].pointer, "/time");
        } else {
            assert!(reports.is_empty(), "{name}: {reports:?}");
        }
    }
}

#[test]
fn a_late_but_allowed_reading_updates_the_previous_window_then_the_current_one_is_retained() {
    let mut e = engine(Vec::new());
    let mut out = Vec::new();
    e.fold(&reading("a", 100, 1, 0.5, 10.0), at(100), &mut out);
    e.fold(&reading("a", 905, 2, 0.5, 14.0), at(905), &mut out);
    e.emit(at(905), &mut out);
    out.clear();
    // At 10:16 a reading of 10:14 arrives: window 10:00 is still open.
    e.fold(&reading("b", 840, 1, 0.5, 20.0), at(960), &mut out);
    e.fold(&reading("b", 950, 2, 0.5, 22.0), at(960), &mut out);
    e.emit(at(960), &mut out);
    let aggs = aggregates(&out);
    let windows: Vec<_> = aggs.iter().map(|a| a.window_start).collect();
    assert_eq!(
        windows,
        [at(0), at(900)],
        "older window first, newest retained last"
    );
    assert_eq!(temperature(&aggs[0]).mean, 15.0);
    assert_eq!(temperature(&aggs[1]).mean, 18.0);
}

#[test]
fn only_what_changed_is_published_again() {
    let mut e = engine(Vec::new());
    let mut out = Vec::new();
    e.fold(&reading("a", 10, 1, 0.5, 10.0), at(10), &mut out);
    e.fold(&reading("b", 10, 1, 1.5, 10.0), at(10), &mut out);
    e.emit(at(10), &mut out);
    assert_eq!(aggregates(&out).len(), 2);
    out.clear();
    e.fold(&reading("b", 11, 2, 1.5, 11.0), at(11), &mut out);
    e.emit(at(12), &mut out);
    let ids: Vec<_> = aggregates(&out)
        .into_iter()
        .map(|a| a.neighbourhood_id)
        .collect();
    assert_eq!(ids, ["east"]);
    let rolling: Vec<_> = out
        .iter()
        .filter(|p| p.topic.ends_with("/rolling"))
        .collect();
    assert_eq!(rolling.len(), 1, "only sensor b has new readings");
    assert_eq!(rolling[0].topic, "garonne/v1/sensors/b/rolling");
    out.clear();
    e.emit(at(13), &mut out);
    assert!(out.is_empty(), "nothing new, nothing published: {out:?}");
}

#[test]
fn repeats_are_dropped_and_a_sensor_is_located_once_per_location() {
    let mut e = engine(Vec::new());
    let mut out = Vec::new();
    let r = reading("a", 10, 7, 0.5, 10.0);
    assert_eq!(e.fold(&r, at(10), &mut out), Outcome::Folded);
    assert_eq!(e.fold(&r, at(11), &mut out), Outcome::Duplicate);
    // Same seq, another time (a rebooted device): not a repeat.
    assert_eq!(
        e.fold(&reading("a", 12, 7, 0.5, 10.0), at(12), &mut out),
        Outcome::Folded
    );
    assert_eq!(e.counters().duplicates, 1);
    assert_eq!(e.sensors[0].place.map(|p| p.area), Some(0));
    // The sensor moves east: found again, and its readings count there from now on.
    e.fold(&reading("a", 13, 8, 1.5, 30.0), at(13), &mut out);
    assert_eq!(e.sensors[0].place.map(|p| p.area), Some(1));
    e.emit(at(20), &mut out);
    let aggs = aggregates(&out);
    let by_id: BTreeMap<_, _> = aggs
        .iter()
        .map(|a| (a.neighbourhood_id.as_str(), temperature(a)))
        .collect();
    assert_eq!((by_id["west"].readings, by_id["west"].sensors), (2, 1));
    assert_eq!((by_id["east"].readings, by_id["east"].mean), (1, 30.0));
}

#[test]
fn a_sensor_outside_every_neighbourhood_is_counted_reported_once_and_rolled() {
    let mut e = engine(Vec::new());
    let mut out = Vec::new();
    for seq in 0..3 {
        e.fold(
            &reading("far", 10 + seq as i64, seq, 5.0, 10.0),
            at(20),
            &mut out,
        );
    }
    assert_eq!(e.counters().outside, 3);
    let reports = errors(&out);
    assert_eq!(reports.len(), 1, "reported when located, not per reading");
    assert_eq!(reports[0].1.errors[0].rule, Rule::OutsideArea);
    assert_eq!(reports[0].1.errors[0].pointer, "/location");
    out.clear();
    e.emit(at(20), &mut out);
    assert!(aggregates(&out).is_empty());
    let rolling: SensorRolling = serde_json::from_slice(&out[0].payload).expect("rolling JSON");
    assert_eq!(rolling.quantities[&Quantity::Temperature].readings, 3);
}

#[test]
fn every_refused_payload_gets_a_report_on_its_senders_error_topic() {
    let good = String::from_utf8(reading("pi-1", 10, 1, 0.5, 12.0).to_json()).expect("utf8");
    let cases = [
        // (topic sensor, payload, error topic, sensor_id in the report, rule)
        (
            "pi-1",
            "not json".to_owned(),
            "pi-1",
            Some("pi-1"),
            Rule::JsonSyntax,
        ),
        (
            "pi-1",
            good.replace("12.0", "99.0"),
            "pi-1",
            Some("pi-1"),
            Rule::Range,
        ),
        (
            "pi-2",
            good.clone(),
            "pi-2",
            Some("pi-2"),
            Rule::SensorMismatch,
        ),
        // A refused payload that claims another sensor: its topic's owner sent it, and hears.
        (
            "pi-3",
            good.replace("12.0", "99.0"),
            "pi-3",
            Some("pi-3"),
            Rule::Range,
        ),
        // No usable id anywhere: reported all the same, on errors/unknown.
        ("bad id", "{}".to_owned(), "unknown", None, Rule::Required),
    ];
    for (topic_sensor, payload, error_topic, sender, rule) in cases {
        let mut e = engine(Vec::new());
        let mut out = Vec::new();
        let topic = format!("garonne/v1/sensors/{topic_sensor}/reading");
        e.handle(&topic, payload.as_bytes(), at(20), &mut out);
        let reports = errors(&out);
        assert_eq!(reports.len(), 1, "{payload}");
        let (t, report) = &reports[0];
        assert_eq!(t, &format!("garonne/v1/errors/{error_topic}"), "{payload}");
        assert_eq!(report.sensor_id.as_deref(), sender, "{payload}");
        assert_eq!(report.topic, topic);
        assert_eq!(report.errors[0].rule, rule, "{payload}");
        assert!(!report.errors[0].hint.is_empty());
        let hint_fr = &report.errors[0].hint_fr;
        assert!(
            !hint_fr.is_empty() && hint_fr != &report.errors[0].hint,
            "a French hint: {hint_fr}"
        );
        assert!(payload.starts_with(&report.excerpt));
        assert_eq!(e.counters().rejected(rule), 1, "{payload}");
        assert_eq!(e.counters().readings, 0, "nothing refused touches a window");
    }
    // And a good one on its own topic folds.
    let mut e = engine(Vec::new());
    let mut out = Vec::new();
    e.handle(
        "garonne/v1/sensors/pi-1/reading",
        good.as_bytes(),
        at(20),
        &mut out,
    );
    assert_eq!(e.counters().readings, 1);
    e.handle("garonne/v1/alerts/x/y", b"{}", at(20), &mut out);
    assert_eq!(e.counters().ignored, 1);
}

#[test]
fn an_error_report_lists_at_most_twenty_problems() {
    let mut e = engine(Vec::new());
    let mut out = Vec::new();
    // More problems than payload itself lists (100): the count must still be the true one.
    let records: Vec<String> = (0..200)
        .map(|i| {
            format!(
                r#"{{"n":"pi-1:temperature","u":"Cel","v":{},"t":{i}}}"#,
                900 + i
            )
        })
        .collect();
    let pack = format!("[{}]", records.join(","));
    e.handle(
        "garonne/v1/sensors/pi-1/senml",
        pack.as_bytes(),
        at(20),
        &mut out,
    );
    let reports = errors(&out);
    let listed = &reports[0].1.errors;
    assert_eq!(listed.len(), MAX_REPORTED);
    // The true count: every problem payload finds, listed or counted.
    let all = garonne_payload::parse_payload(pack.as_bytes(), at(20), &Limits::default())
        .expect_err("refused");
    assert!(all.more > 0, "more problems than payload lists");
    let more = all.violations.len() - 1 + all.more - (MAX_REPORTED - 1);
    assert!(
        listed[MAX_REPORTED - 1]
            .message
            .contains(&format!("and {more} more problems")),
        "{listed:?}"
    );
    assert!(out[0].payload.len() < 16 * 1024);
}

#[test]
fn error_reports_are_limited_to_one_per_sensor_per_second() {
    let mut e = engine(Vec::new());
    let mut out = Vec::new();
    let topic = "garonne/v1/sensors/pi-1/reading";
    e.handle(topic, b"x", at(20), &mut out);
    e.handle(topic, b"x", at(20).add_nanos(999_999_999), &mut out);
    e.handle(topic, b"x", at(21), &mut out);
    assert_eq!(errors(&out).len(), 2);
    assert_eq!(e.counters().error_reports_suppressed, 1);
    assert_eq!(e.counters().rejected(Rule::JsonSyntax), 3, "all counted");
}

#[test]
fn a_senml_pack_folds_each_of_its_readings() {
    let mut e = engine(Vec::new());
    let mut out = Vec::new();
    let readings = [
        reading("pi-1", 10, 1, 0.5, 10.0),
        reading("pi-1", 11, 2, 0.5, 14.0),
    ];
    let pack = garonne_payload::encode_senml(&readings).expect("encodable");
    e.handle("garonne/v1/sensors/pi-1/senml", &pack, at(20), &mut out);
    assert_eq!(e.counters().readings, 2);
    e.emit(at(20), &mut out);
    assert_eq!(temperature(&aggregates(&out)[0]).mean, 12.0);
}

#[test]
fn neighbourhood_alerts_raise_after_their_duration_and_clear_with_the_retained_message() {
    let rule = AlertRule {
        name: "heat".into(),
        quantity: Quantity::Temperature,
        scope: ScopeKind::Neighbourhood,
        comparison: Comparison::Above,
        threshold: 30.0,
        for_secs: 10,
        hysteresis: 1.0,
    };
    let mut e = engine(vec![rule]);
    let mut out = Vec::new();
    let alerts = |out: &[Publish]| -> Vec<(bool, usize)> {
        out.iter()
            .filter(|p| p.topic == "garonne/v1/alerts/heat/neighbourhood-west")
            .map(|p| (p.retain, p.payload.len()))
            .collect()
    };
    e.fold(&reading("a", 0, 1, 0.5, 35.0), at(0), &mut out);
    e.emit(at(1), &mut out);
    assert!(alerts(&out).is_empty(), "not yet held 10 s");
    e.emit(at(11), &mut out);
    let raised = alerts(&out);
    assert_eq!(raised.len(), 1);
    assert!(raised[0].0, "retained while raised");
    let alert: Alert =
        serde_json::from_slice(&out.last().expect("alert").payload).expect("alert JSON");
    assert_eq!(
        (alert.state, alert.since, alert.value),
        (AlertState::Raised, at(1), 35.0)
    );
    assert_eq!(e.counters().active_alerts, 1);
    out.clear();
    // A second sensor brings the mean to 29.5: inside the hysteresis band, still raised.
    e.fold(&reading("b", 12, 1, 0.5, 24.0), at(12), &mut out);
    e.emit(at(12), &mut out);
    assert!(alerts(&out).is_empty());
    // Then to 28.5: cleared; the cleared message is not retained, and an empty retained
    // message removes the raised one.
    e.fold(&reading("b", 13, 2, 0.5, 20.0), at(13), &mut out);
    e.emit(at(13), &mut out);
    let cleared = alerts(&out);
    assert_eq!(cleared.len(), 2);
    assert!(!cleared[0].0 && cleared[0].1 > 0);
    assert_eq!(cleared[1], (true, 0));
    assert_eq!(e.counters().active_alerts, 0);
}

/// A sensor rule: below 0 °C, at once, 0.5 °C of hysteresis.
fn frost() -> AlertRule {
    AlertRule {
        name: "frost".into(),
        quantity: Quantity::Temperature,
        scope: ScopeKind::Sensor,
        comparison: Comparison::Below,
        threshold: 0.0,
        for_secs: 0,
        hysteresis: 0.5,
    }
}

#[test]
fn sensor_alerts_follow_each_reading() {
    let mut e = engine(vec![frost()]);
    let mut out = Vec::new();
    e.fold(&reading("pi-1", 10, 1, 0.5, -1.0), at(10), &mut out);
    let topics: Vec<_> = out.iter().map(|p| p.topic.as_str()).collect();
    assert_eq!(topics, ["garonne/v1/alerts/frost/sensor-pi-1"]);
    out.clear();
    e.fold(&reading("pi-1", 11, 2, 0.5, 0.6), at(11), &mut out);
    assert_eq!(out.len(), 2, "cleared, then the retained alert removed");
}

#[test]
fn a_snapshot_restores_the_same_aggregates() {
    let rule = AlertRule {
        name: "heat".into(),
        quantity: Quantity::Temperature,
        scope: ScopeKind::Neighbourhood,
        comparison: Comparison::Above,
        threshold: 30.0,
        for_secs: 0,
        hysteresis: 0.0,
    };
    let mut before = engine(vec![rule.clone()]);
    let mut out = Vec::new();
    for (i, (sensor, lon, v)) in [
        ("a", 0.5, 31.0),
        ("b", 0.2, 33.0),
        ("c", 1.5, 12.0),
        ("far", 9.0, 1.0),
    ]
    .into_iter()
    .enumerate()
    {
        before.fold(
            &reading(sensor, 100 + i as i64, 1, lon, v),
            at(200),
            &mut out,
        );
    }
    before.emit(at(200), &mut out);
    let expected = aggregates(&out);
    assert_eq!(before.counters().active_alerts, 1);

    let json = serde_json::to_vec(&before.snapshot(at(200))).expect("serialise");
    let snapshot: crate::Snapshot = serde_json::from_slice(&json).expect("read back");
    let mut after = engine(vec![rule]);
    let restored = after.restore(snapshot);
    assert_eq!(
        (restored.sensors, restored.panes, restored.alerts),
        (4, 4, 1)
    );
    let mut out = Vec::new();
    after.emit(at(200), &mut out);
    assert_eq!(
        aggregates(&out)
            .into_iter()
            .map(|mut a| {
                a.emitted_at = at(200);
                a
            })
            .collect::<Vec<_>>(),
        expected
            .into_iter()
            .map(|mut a| {
                a.emitted_at = at(200);
                a
            })
            .collect::<Vec<_>>()
    );
    assert!(
        !out.iter().any(|p| p.topic.contains("/alerts/")),
        "a restored raised alert is not raised twice"
    );
    // A repeat of a reading from before the restart is still recognised.
    assert_eq!(
        after.fold(&reading("a", 100, 1, 0.5, 31.0), at(201), &mut out),
        Outcome::Duplicate
    );
    // With another window length, panes cannot be re-cut: dropped, and said so.
    let mut other = Engine::new(
        squares(),
        Settings {
            window_secs: 600,
            ..Settings::default()
        },
        Vec::new(),
        Topics::default(),
    );
    let restored = other.restore(before.snapshot(at(200)));
    assert_eq!(
        (
            restored.panes,
            restored.dropped_panes,
            restored.dropped_alerts
        ),
        (0, 4, 1)
    );
}

#[test]
fn panes_expire_so_memory_stays_flat() {
    let mut e = engine(Vec::new());
    let mut out = Vec::new();
    // One reading a minute for three hours.
    for minute in 0..180 {
        let t = minute * 60;
        e.fold(&reading("a", t, minute as u64, 0.5, 10.0), at(t), &mut out);
    }
    e.emit(at(180 * 60), &mut out);
    // Rolling range (5 panes) plus the panes of a window still in its lateness: at most 6.
    assert!(
        e.sensors[0].panes.len() <= 6,
        "{}",
        e.sensors[0].panes.len()
    );
}

#[test]
fn sensors_silent_for_long_are_forgotten_with_their_rolling_statistics() {
    let settings = Settings {
        forget_sensors_after_secs: 3600,
        ..Settings::default()
    };
    let mut e = Engine::new(squares(), settings, vec![frost()], Topics::default());
    let mut out = Vec::new();
    // "quiet" falls silent; "cold" too, with its frost alert raised; "alive" goes on.
    e.fold(&reading("quiet", 10, 1, 0.5, 12.0), at(10), &mut out);
    e.fold(&reading("cold", 10, 1, 0.5, -3.0), at(10), &mut out);
    e.fold(&reading("alive", 10, 1, 1.5, 12.0), at(10), &mut out);
    e.tick(at(11), &mut out);
    for minute in 1..=70 {
        let now = at(10 + minute * 60);
        e.fold(
            &reading("alive", minute * 60, minute as u64 + 1, 1.5, 12.0),
            now,
            &mut out,
        );
        out.clear();
        e.tick(now, &mut out);
        if minute * 60 < 3600 {
            assert_eq!(e.counters().sensors_forgotten, 0, "minute {minute}");
            continue;
        }
        if e.counters().sensors_forgotten == 1 {
            break;
        }
    }
    assert_eq!(
        e.counters().sensors_forgotten,
        1,
        "quiet is forgotten after the hour"
    );
    assert_eq!(
        e.counters().sensors,
        2,
        "cold (alert raised) and alive are kept"
    );
    let withdrawn: Vec<&Publish> = out
        .iter()
        .filter(|p| p.topic == "garonne/v1/sensors/quiet/rolling")
        .collect();
    assert_eq!(withdrawn.len(), 1, "{out:?}");
    assert!(withdrawn[0].payload.is_empty() && withdrawn[0].retain);
    // The sensors kept still have their own state: cold's alert clears on its own reading, and
    // quiet, back, is a new sensor that folds.
    out.clear();
    let now = at(4000);
    e.fold(&reading("cold", 3990, 2, 0.5, 0.6), now, &mut out);
    assert!(
        out.iter()
            .any(|p| p.topic == "garonne/v1/alerts/frost/sensor-cold"),
        "{out:?}"
    );
    assert_eq!(
        e.fold(&reading("quiet", 3995, 2, 0.5, 12.0), now, &mut out),
        Outcome::Folded
    );
    e.emit(now, &mut out);
    assert_eq!(e.counters().sensors, 3);
}

#[test]
fn past_max_sensors_a_new_sensor_is_refused_with_a_report_until_one_is_forgotten() {
    let settings = Settings {
        max_sensors: 2,
        forget_sensors_after_secs: 3600,
        ..Settings::default()
    };
    let mut e = Engine::new(squares(), settings, Vec::new(), Topics::default());
    let mut out = Vec::new();
    assert_eq!(
        e.fold(&reading("a", 10, 1, 0.5, 12.0), at(10), &mut out),
        Outcome::Folded
    );
    assert_eq!(
        e.fold(&reading("b", 10, 1, 1.5, 12.0), at(10), &mut out),
        Outcome::Folded
    );
    // Before: a third sensor was always taken, and realtime grew without bound.
    let third = e.fold(&reading("c", 10, 1, 0.5, 12.0), at(10), &mut out);
    assert_eq!(third, Outcome::TooManySensors);
    assert_eq!(e.counters().rejected(Rule::TooManySensors), 1);
    let reports = errors(&out);
    assert_eq!(
        reports.len(),
        1,
        "{:?}",
        reports.iter().map(|r| &r.1.errors).collect::<Vec<_>>()
    );
    assert_eq!(reports[0].0, "garonne/v1/errors/c");
    let problem = &reports[0].1.errors[0];
    assert_eq!(problem.rule, Rule::TooManySensors);
    assert!(problem.message.contains("(2)"), "{}", problem.message);
    // The known ones still fold; once "a" is forgotten, "c" takes its place.
    assert_eq!(
        e.fold(&reading("b", 70, 2, 1.5, 12.0), at(70), &mut out),
        Outcome::Folded
    );
    for minute in 2..=70 {
        let now = at(minute * 60);
        e.fold(
            &reading("b", minute * 60, minute as u64 + 1, 1.5, 12.0),
            now,
            &mut out,
        );
        e.tick(now, &mut out);
    }
    assert_eq!(e.counters().sensors_forgotten, 1);
    let later = e.fold(&reading("c", 70 * 60, 2, 0.5, 12.0), at(70 * 60), &mut out);
    assert_eq!(later, Outcome::Folded);
}

mod rules;

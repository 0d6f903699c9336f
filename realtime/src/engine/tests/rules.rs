//! Each quantity aggregated by its profile's rules: `time` within a sensor's window, then
//! `space` across the neighbourhood's sensors; the `value` they give in aggregates, rolling
//! statistics, alerts and snapshots.

use garonne_payload::profile::Profile;

use super::*;

/// A built-in quantity by name.
fn q(name: &str) -> Quantity {
    Quantity::from_name(name).unwrap_or_else(|| panic!("{name} is built in"))
}

/// A quantity with `time = "sum"` and `space = "min"`, which no built-in profile has:
/// registered once in the process's catalogue (registering the same profile again is a no-op).
fn rain_sum_min() -> Quantity {
    let profile = Profile::parse(
        r#"
        name = "rt-test-rules"
        version = 1
        title = { en = "Realtime rules test", fr = "Test des règles du temps réel" }

        [[quantity]]
        name = "rtTestRain"
        unit = "mm"
        label = { en = "Rain", fr = "Pluie" }
        min = 0
        max = 500
        time = "sum"
        space = "min"
        "#,
    )
    .expect("a valid test profile");
    Quantity::register(profile).expect("no clash");
    q("rtTestRain")
}

/// A reading of sensor `sensor` in "west" (lon 0–1) or "east" (lon 1–2) with these values.
fn reading_of(sensor: &str, secs: i64, seq: u64, lon: f64, values: &[(Quantity, f64)]) -> Reading {
    let mut r = Reading::new(
        sensor,
        "test",
        Source::Device,
        at(secs),
        seq,
        Location::new(lon, 0.5),
    );
    for (q, v) in values {
        r.quantities.set(*q, *v);
    }
    r
}

/// Two bike stations' counts within one window, as (sensor, time, seq, lon, count): station
/// s1 ends at 3 bikes (time 30, arriving before the reading of time 20), s2 at 10.
const TWO_STATIONS: [(&str, i64, u64, f64, f64); 5] = [
    ("s1", 10, 1, 0.5, 8.0),
    ("s2", 15, 1, 0.2, 12.0),
    ("s1", 30, 3, 0.5, 3.0),
    ("s1", 20, 2, 0.5, 6.0),
    ("s2", 25, 2, 0.2, 10.0),
];

/// A core with `rules` to which two bike stations in "west" sent their counts of available
/// bikes (and the same numbers as temperatures) within one window; station 1's readings
/// arrived out of order. With what it published.
fn two_stations(rules: Vec<AlertRule>) -> (Engine, Vec<Publish>) {
    let mut e = engine(rules);
    let mut out = Vec::new();
    let bikes = q("availableBikeNumber");
    for (sensor, time, seq, lon, count) in TWO_STATIONS {
        let r = reading_of(
            sensor,
            time,
            seq,
            lon,
            &[(bikes, count), (Quantity::Temperature, count)],
        );
        assert_eq!(e.fold(&r, at(60), &mut out), Outcome::Folded);
    }
    (e, out)
}

fn rolling(out: &[Publish], sensor: &str) -> SensorRolling {
    let topic = format!("garonne/v1/sensors/{sensor}/rolling");
    let p = out.iter().rfind(|p| p.topic == topic).expect("rolling");
    serde_json::from_slice(&p.payload).expect("rolling JSON")
}

#[test]
fn a_neighbourhoods_bikes_are_the_sum_of_each_stations_last_count() {
    let bikes = q("availableBikeNumber");
    let (mut e, mut out) = two_stations(Vec::new());
    e.emit(at(60), &mut out);
    let aggs = aggregates(&out);
    assert_eq!(aggs.len(), 1);
    let stats = aggs[0].quantities[&bikes];
    // The last counts by time: 3 (s1, not 6, which arrived last) + 10 (s2).
    assert_eq!(stats.value, 13.0);
    // The other statistics keep their meaning: the mean of the sensors' means, min and max
    // over readings.
    assert_eq!(
        (
            stats.mean,
            stats.min,
            stats.max,
            stats.readings,
            stats.sensors
        ),
        ((17.0 / 3.0 + 11.0) / 2.0, 3.0, 12.0, 5, 2)
    );
    // The same numbers as a weather quantity (mean, mean): value is the mean.
    let t = temperature(&aggs[0]);
    assert_eq!(t.value, t.mean);
    assert_eq!(t.mean, stats.mean);
    // A station's rolling statistics carry its value by the time rule: its last count.
    assert_eq!(rolling(&out, "s1").quantities[&bikes].value, 3.0);
    assert_eq!(rolling(&out, "s2").quantities[&bikes].value, 10.0);
    assert_eq!(
        rolling(&out, "s1").quantities[&Quantity::Temperature].value,
        17.0 / 3.0
    );
}

#[test]
fn a_bikes_payload_over_mqtt_is_validated_and_aggregated_by_its_rules() {
    // The same two stations, as the MQTT payloads a station sends (parsed and validated
    // against the catalogue by `handle`), naming their profile.
    let bikes = q("availableBikeNumber");
    let free = q("freeSlotNumber");
    let mut e = engine(Vec::new());
    let mut out = Vec::new();
    for (sensor, time, seq, lon, count) in TWO_STATIONS {
        let r = reading_of(
            sensor,
            time,
            seq,
            lon,
            &[(bikes, count), (free, 20.0 - count)],
        );
        let mut json: serde_json::Value = serde_json::from_slice(&r.to_json()).expect("JSON");
        json["profile"] = "bikes".into();
        let payload = serde_json::to_vec(&json).expect("JSON");
        let topic = format!("garonne/v1/sensors/{sensor}/reading");
        e.handle(&topic, &payload, at(60), &mut out);
    }
    assert!(errors(&out).is_empty(), "{:?}", errors(&out));
    e.emit(at(60), &mut out);
    let a = &aggregates(&out)[0];
    assert_eq!(a.quantities[&bikes].value, 3.0 + 10.0);
    assert_eq!(a.quantities[&free].value, 17.0 + 10.0);
}

#[test]
fn each_quantity_aggregates_by_its_time_then_space_rule() {
    // Sensor 1 sends three values at times 10, 30, 20 (so its last by time is the second);
    // sensor 2 one value.
    let cases = [
        // (quantity, its rules, sensor 1's values, sensor 2's, the neighbourhood's value)
        (
            Quantity::Temperature,
            "mean, mean",
            [10.0, 11.0, 12.0],
            20.0,
            15.5,
        ),
        (q("LAmax"), "max, max", [60.0, 85.0, 70.0], 75.0, 85.0),
        (q("LAS"), "last, mean", [60.0, 70.0, 65.0], 50.0, 60.0),
        (
            q("availableBikeNumber"),
            "last, sum",
            [8.0, 3.0, 6.0],
            10.0,
            13.0,
        ),
        (rain_sum_min(), "sum, min", [1.0, 2.0, 3.0], 4.0, 4.0),
        (
            rain_sum_min(),
            "sum, min (the other)",
            [0.5, 0.5, 0.5],
            4.0,
            1.5,
        ),
    ];
    for (quantity, rules, ones, two, want) in cases {
        let def = quantity.def();
        assert_eq!(
            format!("{}, {}", def.time.as_str(), def.space.as_str()),
            rules.split(" (").next().unwrap_or(rules),
            "{quantity}'s rules"
        );
        let mut e = engine(Vec::new());
        let mut out = Vec::new();
        for (i, (time, v)) in [10, 30, 20].into_iter().zip(ones).enumerate() {
            let r = reading_of("one", time, i as u64, 0.5, &[(quantity, v)]);
            e.fold(&r, at(60), &mut out);
        }
        e.fold(
            &reading_of("two", 15, 0, 0.2, &[(quantity, two)]),
            at(60),
            &mut out,
        );
        e.emit(at(60), &mut out);
        let stats = aggregates(&out)[0].quantities[&quantity];
        assert_eq!(stats.value, want, "{quantity} ({rules})");
        let mean_of_means = (ones.iter().sum::<f64>() / 3.0 + two) / 2.0;
        assert_eq!(
            stats.mean, mean_of_means,
            "{quantity}: mean keeps its meaning"
        );
    }
}

#[test]
fn neighbourhood_alerts_compare_the_value_of_any_quantity() {
    // More than 12 bikes in the neighbourhood: the sum of the last counts (13) is; the mean
    // of the stations' means (8.3) is not.
    let rule = AlertRule {
        name: "bikes-plenty".into(),
        quantity: q("availableBikeNumber"),
        scope: ScopeKind::Neighbourhood,
        comparison: Comparison::Above,
        threshold: 12.0,
        for_secs: 0,
        hysteresis: 0.0,
    };
    let loud = AlertRule {
        name: "loud".into(),
        quantity: q("LAmax"),
        scope: ScopeKind::Sensor,
        comparison: Comparison::Above,
        threshold: 80.0,
        for_secs: 0,
        hysteresis: 0.0,
    };
    let (mut e, mut out) = two_stations(vec![rule, loud]);
    e.emit(at(60), &mut out);
    let alert = |out: &[Publish], topic: &str| -> Option<Alert> {
        let p = out.iter().rfind(|p| p.topic == topic)?;
        Some(serde_json::from_slice(&p.payload).expect("alert JSON"))
    };
    let raised = alert(&out, "garonne/v1/alerts/bikes-plenty/neighbourhood-west")
        .expect("raised on the neighbourhood's value");
    assert_eq!(
        (raised.state, raised.quantity, raised.value),
        (AlertState::Raised, q("availableBikeNumber"), 13.0)
    );
    // A sensor rule on a noise quantity, on each reading.
    let r = reading_of("meter", 40, 1, 1.5, &[(q("LAmax"), 85.0)]);
    e.fold(&r, at(60), &mut out);
    let loud = alert(&out, "garonne/v1/alerts/loud/sensor-meter").expect("raised at 85 dB(A)");
    assert_eq!((loud.state, loud.value), (AlertState::Raised, 85.0));
}

#[test]
fn a_snapshot_keeps_each_sensors_last_value_and_its_time() {
    let bikes = q("availableBikeNumber");
    let (before, mut out) = two_stations(Vec::new());
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("realtime.json");
    before.snapshot(at(60)).save(&path).expect("saved");

    let restored = |path: &std::path::Path| {
        let mut after = engine(Vec::new());
        let snapshot = crate::Snapshot::load(path)
            .expect("readable")
            .expect("present");
        after.restore(snapshot);
        after
    };
    let value = |e: &mut Engine, now: i64| {
        let mut out = Vec::new();
        e.emit(at(now), &mut out);
        aggregates(&out).last().map(|a| a.quantities[&bikes].value)
    };
    let mut after = restored(&path);
    assert_eq!(value(&mut after, 60), Some(13.0));
    // A reading older than s1's last (time 25 < 30) does not replace it: its stamp was kept.
    let older = reading_of("s1", 25, 9, 0.5, &[(bikes, 9.0)]);
    assert_eq!(after.fold(&older, at(61), &mut out), Outcome::Folded);
    assert_eq!(value(&mut after, 61), Some(13.0));
    // A newer one does.
    after.fold(
        &reading_of("s1", 40, 10, 0.5, &[(bikes, 1.0)]),
        at(62),
        &mut out,
    );
    assert_eq!(value(&mut after, 62), Some(11.0));
    // And the sums are kept: the rolling sum of a sum-rule quantity, through the file.
    let rain = rain_sum_min();
    let mut e = engine(Vec::new());
    for (i, mm) in [1.0, 2.5].into_iter().enumerate() {
        e.fold(
            &reading_of("gauge", 10 + i as i64, i as u64, 0.5, &[(rain, mm)]),
            at(60),
            &mut out,
        );
    }
    e.snapshot(at(60)).save(&path).expect("saved");
    let mut out = Vec::new();
    restored(&path).emit(at(60), &mut out);
    assert_eq!(aggregates(&out)[0].quantities[&rain].value, 3.5);
}

#[test]
fn a_format_1_snapshot_is_upgraded_and_a_newer_one_refused() {
    let bikes = q("availableBikeNumber");
    let (before, _) = two_stations(Vec::new());
    // Format 1: the same without the last values.
    let mut json = serde_json::to_value(before.snapshot(at(60))).expect("JSON");
    json["format"] = 1.into();
    for sensor in json["sensors"].as_array_mut().expect("sensors") {
        for pane in sensor["panes"].as_array_mut().expect("panes") {
            let pane = pane.as_object_mut().expect("a pane");
            assert!(pane.remove("last").is_some(), "the bikes have last values");
        }
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("realtime.json");
    std::fs::write(&path, serde_json::to_vec(&json).expect("JSON")).expect("written");
    let snapshot = crate::Snapshot::load(&path)
        .expect("upgraded")
        .expect("present");
    assert_eq!(snapshot.format, crate::snapshot::FORMAT);
    let mut after = engine(Vec::new());
    assert_eq!(after.restore(snapshot).panes, 2);
    let mut out = Vec::new();
    after.emit(at(60), &mut out);
    // Each station's last count, unknown, is its pane's mean until it sends again.
    let stats = aggregates(&out)[0].quantities[&bikes];
    assert_eq!(stats.value, 17.0 / 3.0 + 11.0);
    assert_eq!(
        temperature(&aggregates(&out)[0]).value,
        (17.0 / 3.0 + 11.0) / 2.0
    );
    after.fold(
        &reading_of("s1", 35, 4, 0.5, &[(bikes, 2.0)]),
        at(61),
        &mut out,
    );
    let mut out = Vec::new();
    after.emit(at(61), &mut out);
    assert_eq!(aggregates(&out)[0].quantities[&bikes].value, 2.0 + 11.0);

    // A newer format is refused, saying which and what to do.
    json["format"] = 3.into();
    std::fs::write(&path, serde_json::to_vec(&json).expect("JSON")).expect("written");
    let error = crate::Snapshot::load(&path)
        .expect_err("refused")
        .to_string();
    assert!(error.contains("is format 3"), "{error}");
    assert!(error.contains("formats 1 to 2"), "{error}");
}

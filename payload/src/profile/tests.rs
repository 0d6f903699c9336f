//! Profile parsing, the built-in profiles and the catalogue's rules.

use proptest::prelude::*;

use super::*;
use crate::quantity::{Quantity, v1};

/// A valid profile; the tests break one line of it at a time.
const BASE: &str = r#"name = "demo"
version = 1
title = { en = "Demo", fr = "Démo" }

[[quantity]]
name = "level"
unit = "m"
label = { en = "Level", fr = "Niveau" }
min = 0
max = 10
"#;

fn problems(text: &str) -> Vec<Problem> {
    Profile::parse(text)
        .expect_err("the profile has a problem")
        .problems
}

/// The one problem of `text`, checked for its rule, line and column.
fn only(text: &str, rule: ProfileRule, line: u32, column: u32) -> Problem {
    let all = problems(text);
    assert_eq!(all.len(), 1, "{all:#?}");
    let p = all.into_iter().next().expect("one problem");
    assert_eq!((p.rule, p.line, p.column), (rule, line, column), "{p}");
    assert!(!p.hint.en.is_empty() && !p.hint.fr.is_empty(), "{p:?}");
    p
}

fn demo(version: u32, quantities: &[(&str, &str, f64)]) -> Profile {
    profile_named("demo", version, quantities)
}

fn profile_named(name: &str, version: u32, quantities: &[(&str, &str, f64)]) -> Profile {
    let mut text =
        format!("name = \"{name}\"\nversion = {version}\ntitle = {{ en = \"T\", fr = \"T\" }}\n");
    for (q, unit, max) in quantities {
        text.push_str(&format!(
            "[[quantity]]\nname = \"{q}\"\nunit = \"{unit}\"\nlabel = {{ en = \"L\", fr = \"L\" }}\nmin = 0\nmax = {max:?}\n"
        ));
    }
    Profile::parse(&text).expect("valid")
}

#[test]
fn the_base_profile_parses_with_its_defaults() {
    let p = Profile::parse(BASE).expect("valid");
    assert_eq!((p.name.as_str(), p.version), ("demo", 1));
    assert_eq!(p.title, Text::new("Demo", "Démo"));
    let q = &p.quantities[0];
    assert_eq!(q.def.unit.display, "m");
    assert!(!q.required && !q.def.integer && !q.def.min_exclusive);
    assert_eq!(
        (q.def.time, q.def.space),
        (TimeAggregation::Mean, SpaceAggregation::Mean)
    );
    let senml: Vec<&str> = q.def.senml_units.iter().map(|u| u.symbol).collect();
    assert_eq!(senml, ["m", "mm", "cm", "km"]);
}

#[test]
fn weather_profile_equals_todays_table() {
    let weather = Profile::parse(BUILTIN_PROFILES[0].1).expect("weather parses");
    assert_eq!(weather.name, "weather");
    assert_eq!(weather.quantities.len(), Quantity::WEATHER.len());
    let catalogue = Catalogue::builtin();
    for (q, pq) in Quantity::WEATHER.iter().zip(&weather.quantities) {
        let (spec, def) = (&v1::SPECS[q.index()], &pq.def);
        assert_eq!(def.name, spec.name);
        assert_eq!(def.unit.display, spec.unit, "{q}");
        assert_eq!(def.min.to_bits(), spec.min.to_bits(), "{q}");
        assert_eq!(def.min_exclusive, spec.min_exclusive, "{q}");
        assert_eq!(def.max.to_bits(), spec.max.to_bits(), "{q}");
        assert_eq!(def.integer, spec.integer, "{q}");
        assert_eq!(def.fiware.as_deref(), spec.fiware, "{q}");
        assert_eq!(def.senml_units, spec.senml_units, "{q}");
        let reason = def.range_reason.as_ref().expect("a range reason");
        assert_eq!(reason.en, spec.range_reason, "{q}");
        let description = def.description.as_ref().expect("a description");
        assert_eq!(description.en, spec.description, "{q}");
        assert!(!pq.required, "{q}: today every quantity is optional");
        // Today's realtime takes the mean of each sensor's mean for every quantity.
        assert_eq!(
            (def.time, def.space),
            (TimeAggregation::Mean, SpaceAggregation::Mean)
        );
        // Weather comes first: its ids are today's indices.
        assert_eq!(catalogue.id(spec.name), Some(QuantityId(q.index() as u16)));
    }
}

proptest! {
    #[test]
    fn any_text_parses_or_reports_problems_without_panicking(
        text in ".{0,300}",
        at in 0usize..200,
        insert in "[\\[\\]{}=\"#\n a-z0-9.,-]{0,12}",
    ) {
        let _ = Profile::parse(&text);
        // A valid profile with a few bytes of TOML punctuation put in somewhere.
        let mut broken = BASE.to_owned();
        let at = (0..=at.min(broken.len())).rev().find(|i| broken.is_char_boundary(*i)).unwrap_or(0);
        broken.insert_str(at, &insert);
        if let Err(e) = Profile::parse(&broken) {
            prop_assert!(!e.problems.is_empty());
            for p in &e.problems {
                prop_assert!(p.line >= 1 && p.line as usize <= broken.lines().count().max(1) + 1, "{}", p);
                prop_assert!(p.column >= 1);
            }
        }
    }

    #[test]
    fn weather_ranges_agree_with_todays(index in 0..Quantity::WEATHER.len(), value in prop_oneof![
        any::<f64>(),
        -50.0..1200.0f64,
        (-50i32..1200).prop_map(f64::from),
    ]) {
        // Garonne 1.0's rule, on its frozen table.
        let spec = &v1::SPECS[index];
        let v1_accepts = v1_accepts(index, value);
        let catalogue = Catalogue::builtin();
        let (_, def) = catalogue.lookup(spec.name).expect("catalogued");
        prop_assert_eq!(def.in_range(value), v1_accepts);
        prop_assert_eq!(Quantity::WEATHER[index].in_range(value), v1_accepts);
    }
}

/// Garonne 1.0's acceptance of one weather value, on its frozen table.
fn v1_accepts(index: usize, value: f64) -> bool {
    let spec = &v1::SPECS[index];
    let above_min = if spec.min_exclusive {
        value > spec.min
    } else {
        value >= spec.min
    };
    above_min && value <= spec.max && (!spec.integer || value.fract() == 0.0)
}

proptest! {
    /// Issue 14's promise, on whole readings: a weather reading is valid exactly when Garonne 1.0
    /// (ten quantities in code) found it valid, whatever its quantities and values.
    #[test]
    fn a_weather_reading_is_valid_exactly_when_garonne_1_0_found_it_valid(
        values in proptest::collection::btree_map(
            0..Quantity::WEATHER.len(),
            prop_oneof![
                any::<f64>().prop_filter("JSON has no NaN or infinity", |v| v.is_finite()),
                -50.0..1200.0f64,
                (-50i32..1200).prop_map(f64::from),
                (0..Quantity::WEATHER.len()).prop_map(|i| v1::SPECS[i].min),
                (0..Quantity::WEATHER.len()).prop_map(|i| v1::SPECS[i].max),
            ],
            1..=Quantity::WEATHER.len(),
        ),
    ) {
        let quantities: serde_json::Map<String, serde_json::Value> = values
            .iter()
            .map(|(&i, &v)| (v1::SPECS[i].name.to_owned(), serde_json::json!(v)))
            .collect();
        let reading = serde_json::json!({
            "v": 1, "sensor_id": "station-42", "kind": "weather-station",
            "source": "opendata-replay", "time": "2025-11-24T10:15:00Z", "seq": 0,
            "location": {"lon": 1.4442, "lat": 43.6047}, "quantities": quantities,
        });
        let bytes = serde_json::to_vec(&reading).expect("json");
        let now = crate::Timestamp::parse("2025-11-24T12:00:00Z").expect("a time");
        let accepted = crate::parse_reading(&bytes, now, &crate::Limits::default());
        let v1 = values.iter().all(|(&i, &v)| v1_accepts(i, v));
        prop_assert_eq!(accepted.is_ok(), v1, "{} {:?}", reading, accepted.err());
    }
}

#[test]
fn builtin_loads_all_six_profiles_sharing_stream_gauge() {
    let catalogue = Catalogue::builtin();
    let names: Vec<&str> = catalogue
        .profiles()
        .map(|p| p.profile.name.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "weather",
            "air-quality",
            "noise",
            "bikes",
            "river",
            "vehicle"
        ]
    );
    let weather = catalogue.profile("weather").expect("weather");
    let river = catalogue.profile("river").expect("river");
    assert_eq!(river.ids[0], weather.ids[8], "one streamGauge");
    assert_eq!(catalogue.defined_by(river.ids[0]), "weather");
    let bikes = catalogue.profile("bikes").expect("bikes");
    for id in &bikes.ids {
        let def = catalogue.get(*id);
        assert_eq!(
            (def.time, def.space),
            (TimeAggregation::Last, SpaceAggregation::Sum)
        );
        assert!(def.integer);
    }
    let (_, pm25) = catalogue.lookup("pm25").expect("air quality");
    assert_eq!(pm25.unit.display, "µg/m³");
    let (_, laeq) = catalogue.lookup("LAeq").expect("noise");
    assert_eq!(laeq.unit.display, "dB(A)");
    // Every built-in text is in both languages (the parser insists), and dense ids cover all.
    let total: usize = catalogue.profiles().map(|p| p.ids.len()).sum();
    assert_eq!(catalogue.len(), total - 1, "streamGauge is counted once");
    for (i, (id, _)) in catalogue.quantities().enumerate() {
        assert_eq!(id.index(), i);
    }
}

#[test]
fn dense_ids_are_stable_for_the_same_insertion_order() {
    let (a, b) = (Catalogue::builtin(), Catalogue::builtin());
    let ids = |c: &Catalogue| -> Vec<(String, QuantityId)> {
        c.quantities().map(|(id, d)| (d.name.clone(), id)).collect()
    };
    assert_eq!(ids(&a), ids(&b));
    assert_eq!(a.id("temperature"), Some(QuantityId(0)));
}

#[test]
fn the_template_parses_and_fits_the_builtin_catalogue() {
    let text = Profile::template("ecole-co2");
    let profile = Profile::parse(&text).expect("the template parses");
    assert_eq!(profile.name, "ecole-co2");
    assert!(text.contains("# La clé"), "comments in French");
    let mut catalogue = Catalogue::builtin();
    assert!(matches!(catalogue.add(profile), Ok(Added::New { .. })));
}

#[test]
fn malformed_toml_is_reported_where_it_breaks() {
    let text = BASE.replace("min = 0", "min = = 0");
    let all = problems(&text);
    // The syntax error alone: what the parser recovered on that line would mislead.
    assert_eq!(places(&all), [(ProfileRule::TomlSyntax, 9, 7)], "{all:#?}");
}

/// One edit of [`BASE`] per problem kind: what to replace, the rule, line and column of the one
/// problem it makes, and a piece of its message or English hint.
#[rustfmt::skip]
const BROKEN: &[(&str, &str, ProfileRule, u32, u32, &str)] = &[
    ("max = 10", "max = 10\nmxa = 3", ProfileRule::UnknownKey, 11, 1, "did you mean \"max\"?"),
    ("unit = \"m\"\n", "", ProfileRule::Required, 5, 1, "quantity \"level\" has no unit"),
    ("unit = \"m\"", "unit = \"°C\"", ProfileRule::UnknownUnit, 7, 8, "did you mean \"Cel\""),
    ("unit = \"m\"", "unit = \"parsecs\"", ProfileRule::UnknownUnit, 7, 8, "a SenML symbol"),
    ("unit = \"m\"", "unit = \"m\"\nsenml = [\"m\", \"K\"]", ProfileRule::SenmlUnit, 8, 15, "\"mm\""),
    ("min = 0", "min = 10", ProfileRule::Range, 9, 7, "min 10 is not below max 10"),
    ("max = 10", "max = inf", ProfileRule::NotFinite, 10, 7, "max must be a finite number"),
    ("min = 0", "min = nan", ProfileRule::NotFinite, 9, 7, "min must be a finite number"),
    ("min = 0", "min = -nan", ProfileRule::NotFinite, 9, 7, "min must be a finite number"),
    ("max = 10", "max = \"10\"", ProfileRule::Type, 10, 7, "max must be a number, not string"),
    ("name = \"demo\"", "name = \"Air Quality\"", ProfileRule::ProfileName, 1, 8, "\"air-quality\""),
    ("name = \"level\"", "name = \"water_level\"", ProfileRule::QuantityName, 6, 8, "\"waterLevel\""),
    // A SenML pack's metadata names (issue 14: `profile` joined them).
    ("name = \"level\"", "name = \"profile\"", ProfileRule::QuantityName, 6, 8, "is reserved"),
    ("name = \"level\"", "name = \"seq\"", ProfileRule::QuantityName, 6, 8, "is reserved"),
    (", fr = \"Niveau\"", "", ProfileRule::Language, 8, 9, "has no \"fr\" text"),
    ("en = \"Demo\"", "en = \"\"", ProfileRule::Language, 3, 16, "has an empty \"en\" text"),
    ("max = 10", "max = 10\nspace = \"last\"", ProfileRule::Aggregation, 11, 9, "mean | sum | min | max"),
    ("version = 1", "version = 0", ProfileRule::Version, 2, 11, "from 1 to"),
    ("version = 1", "version = 1.5", ProfileRule::Type, 2, 11, "a whole number"),
];

#[test]
fn each_problem_kind_is_reported_at_its_place_with_hints() {
    for (from, to, rule, line, column, says) in BROKEN {
        assert!(BASE.contains(from), "{from}");
        let p = only(&BASE.replace(from, to), *rule, *line, *column);
        assert!(
            p.message.contains(says) || p.hint.en.contains(says),
            "{from} -> {to}: {p}"
        );
    }
    let p = only(
        &BASE.replace("unit = \"m\"", "unit = \"°C\""),
        ProfileRule::UnknownUnit,
        7,
        8,
    );
    assert_eq!(p.hint.fr, "vouliez-vous dire \"Cel\" ?");
}

/// Each problem's rule, line and column.
fn places(all: &[Problem]) -> Vec<(ProfileRule, u32, u32)> {
    all.iter().map(|p| (p.rule, p.line, p.column)).collect()
}

#[test]
fn unknown_keys_name_the_closest_key() {
    let all = problems(&BASE.replace("title =", "titel ="));
    let expected = [
        (ProfileRule::Required, 1, 1),
        (ProfileRule::UnknownKey, 3, 1),
    ];
    assert_eq!(places(&all), expected);
    assert!(
        all[1].hint.en.contains("did you mean \"title\""),
        "{}",
        all[1]
    );
    assert!(all[1].hint.fr.contains("« title »"), "{}", all[1]);
    let all = problems(&BASE.replace("max = 10", "max = 10\nintegr = true\ninteger = \"yes\""));
    let expected = [
        (ProfileRule::UnknownKey, 11, 1),
        (ProfileRule::Type, 12, 11),
    ];
    assert_eq!(places(&all), expected);
}

#[test]
fn names_follow_their_rules() {
    for good in ["relativeHumidity", "pm25", "LAeq"] {
        assert!(is_valid_quantity_name(good), "{good}");
    }
    for bad in ["2fast", "a-b", "a b", "", "é"] {
        assert!(!is_valid_quantity_name(bad), "{bad}");
    }
    for bad in ["-x", "x-", "9x", "a_b", ""] {
        assert!(!is_valid_profile_name(bad), "{bad}");
    }
}

#[test]
fn a_quantity_defined_twice_is_refused() {
    let text = format!(
        "{BASE}\n[[quantity]]\nname = \"level\"\nunit = \"m\"\nlabel = {{ en = \"L\", fr = \"L\" }}\nmin = 0\nmax = 1\n"
    );
    let p = only(&text, ProfileRule::DuplicateQuantity, 13, 8);
    assert!(p.message.contains("first at line 6"), "{p}");
}

#[test]
fn a_profile_needs_quantities() {
    let head = BASE.split("[[quantity]]").next().expect("head");
    only(head, ProfileRule::NoQuantities, 1, 1);
}

#[test]
fn size_limits_are_enforced() {
    let big = format!("{BASE}#{}\n", "x".repeat(MAX_PROFILE_BYTES));
    only(&big, ProfileRule::Size, 1, 1);

    let long_name = "q".repeat(MAX_NAME_BYTES + 1);
    only(
        &BASE.replace("name = \"level\"", &format!("name = \"{long_name}\"")),
        ProfileRule::TooLong,
        6,
        8,
    );
    let long_text = "é".repeat(MAX_TEXT_BYTES / 2 + 1);
    only(
        &BASE.replace("fr = \"Niveau\"", &format!("fr = \"{long_text}\"")),
        ProfileRule::TooLong,
        8,
        30,
    );

    let mut many = BASE.to_owned();
    for i in 1..=MAX_QUANTITIES {
        many.push_str(&format!(
            "[[quantity]]\nname = \"q{i}\"\nunit = \"1\"\nlabel = {{ en = \"L\", fr = \"L\" }}\nmin = 0\nmax = 1\n"
        ));
    }
    let at_line = 11 + 6 * (MAX_QUANTITIES as u32 - 1);
    let p = only(&many, ProfileRule::TooMany, at_line, 1);
    assert!(p.message.contains("257 quantities"), "{p}");
}

#[test]
fn every_problem_is_reported_in_file_order() {
    let text = BASE
        .replace("name = \"demo\"", "name = \"Demo\"")
        .replace("unit = \"m\"", "unit = \"meters\"")
        .replace("min = 0", "min = 20");
    let all = problems(&text);
    let expected = [
        (ProfileRule::ProfileName, 1, 8),
        (ProfileRule::UnknownUnit, 7, 8),
        (ProfileRule::Range, 9, 7),
    ];
    assert_eq!(places(&all), expected);
    assert_eq!(
        all[1].to_string(),
        "7:8: unknown-unit: unknown unit \"meters\"; hint: did you mean \"m\"?"
    );
    let err = Profile::parse(&text).expect_err("problems");
    assert!(
        err.to_string()
            .starts_with("the profile has 3 problem(s), the first at 1:8: profile-name")
    );
}

#[test]
fn the_same_name_with_another_meaning_clashes_naming_both_profiles() {
    let mut catalogue = Catalogue::builtin();
    let clash = catalogue
        .add(profile_named(
            "classroom",
            1,
            &[("temperature", "K", 400.0)],
        ))
        .expect_err("temperature is °C in weather");
    assert_eq!(
        clash.to_string(),
        "quantity \"temperature\" of profile \"classroom\" has unit K, but profile \"weather\" \
         defines it with unit Cel"
    );
    assert!(clash.hint().fr.contains("« weather »"));
    let clash = catalogue
        .add(profile_named("classroom", 1, &[("streamGauge", "m", 31.0)]))
        .expect_err("another range");
    assert!(
        matches!(clash, Clash::Definition { field: "min", ref other, .. } if &**other == "weather")
    );
    // Nothing of a refused profile stays.
    assert!(catalogue.profile("classroom").is_none());
}

#[test]
fn identical_definitions_share_one_id() {
    let mut catalogue = Catalogue::new();
    catalogue
        .add(profile_named("a", 1, &[("level", "m", 10.0)]))
        .expect("a");
    let added = catalogue
        .add(profile_named(
            "b",
            1,
            &[("level", "m", 10.0), ("depth", "m", 5.0)],
        ))
        .expect("b");
    assert_eq!(
        added,
        Added::New {
            new_quantities: vec![QuantityId(1)]
        }
    );
    assert_eq!(
        catalogue.profile("b").expect("b").ids,
        [QuantityId(0), QuantityId(1)]
    );
    assert_eq!(catalogue.len(), 2);
}

#[test]
fn versions_replace_refuse_or_change_nothing() {
    let mut catalogue = Catalogue::new();
    catalogue
        .add(demo(2, &[("level", "m", 10.0), ("flow", "m3/s", 100.0)]))
        .expect("v2");
    assert_eq!(
        catalogue.add(demo(2, &[("level", "m", 10.0), ("flow", "m3/s", 100.0)])),
        Ok(Added::Unchanged)
    );
    assert_eq!(
        catalogue.add(demo(2, &[("level", "m", 10.0)])),
        Err(Clash::SameVersion {
            profile: "demo".into(),
            version: 2
        })
    );
    assert_eq!(
        catalogue.add(demo(1, &[("level", "m", 10.0)])),
        Err(Clash::OlderVersion {
            profile: "demo".into(),
            version: 1,
            loaded: 2
        })
    );
    // `check` says what `add` would do, and changes nothing.
    let v3 = demo(3, &[("level", "m", 10.0), ("speed", "m/s", 5.0)]);
    assert_eq!(catalogue.check(&v3), Ok(true));
    assert_eq!(
        catalogue.check(&demo(2, &[("level", "m", 10.0), ("flow", "m3/s", 100.0)])),
        Ok(false)
    );
    assert_eq!(catalogue.id("speed"), None);
    // A higher version adds `speed`, drops `flow` (kept in the catalogue, id not reused).
    let added = catalogue
        .add(demo(3, &[("level", "m", 10.0), ("speed", "m/s", 5.0)]))
        .expect("v3");
    assert_eq!(
        added,
        Added::Upgraded {
            from_version: 2,
            new_quantities: vec![QuantityId(2)],
            dropped: vec![QuantityId(1)],
        }
    );
    assert_eq!(catalogue.id("flow"), Some(QuantityId(1)));
    assert_eq!(catalogue.profile("demo").expect("demo").profile.version, 3);
    // Nor may a newer version change a quantity's meaning.
    let clash = catalogue
        .add(demo(4, &[("level", "m", 20.0)]))
        .expect_err("level keeps its range");
    assert!(matches!(clash, Clash::Definition { field: "max", .. }));
}

#[test]
fn catalogue_limits_are_enforced() {
    let mut catalogue = Catalogue::new();
    let template = profile_named("p", 1, &[("q", "1", 1.0)]);
    for i in 0..MAX_CATALOGUE_PROFILES {
        let mut p = template.clone();
        p.name = format!("p{i}");
        p.quantities[0].def.name = format!("q{i}");
        catalogue.add(p).expect("within the limit");
    }
    let mut one_more = template.clone();
    one_more.name = "late".into();
    assert_eq!(catalogue.add(one_more), Err(Clash::TooManyProfiles));

    // 65,535 quantities: the last id is 65,534, and one more is refused.
    let mut catalogue = Catalogue::new();
    let per_profile = MAX_QUANTITIES;
    let mut n = 0;
    let mut profile_index = 0;
    while n < MAX_CATALOGUE_QUANTITIES {
        let mut p = template.clone();
        p.name = format!("p{profile_index}");
        let count = per_profile.min(MAX_CATALOGUE_QUANTITIES - n);
        p.quantities = (n..n + count)
            .map(|i| {
                let mut q = template.quantities[0].clone();
                q.def.name = format!("q{i}");
                q
            })
            .collect();
        catalogue.add(p).expect("within the limit");
        n += count;
        profile_index += 1;
    }
    assert_eq!(catalogue.id("q65534"), Some(QuantityId(65_534)));
    assert_eq!(
        catalogue.add(profile_named("last", 1, &[("oneMore", "1", 1.0)])),
        Err(Clash::TooManyQuantities)
    );
}

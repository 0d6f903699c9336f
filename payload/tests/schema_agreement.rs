//! The JSON Schema and the Rust validator agree on every example of the spec.
//!
//! Where a rule cannot be written in JSON Schema ([`schema_can_express`] is false: the clock,
//! byte sizes, duplicate keys, SenML resolution), the schema must accept what Rust refuses, so
//! the list of such rules is exact, not a blanket excuse.

use std::path::PathBuf;

use garonne_payload::{Limits, Timestamp, json_schema, parse_payload, schema_can_express};

fn examples() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/examples");
    let mut out = Vec::new();
    for sub in ["valid", "invalid"] {
        for entry in std::fs::read_dir(dir.join(sub)).expect("docs/examples exists") {
            out.push(entry.expect("readable").path());
        }
    }
    out.retain(|p| p.extension().is_some_and(|e| e == "json" || e == "ndjson"));
    out.sort();
    out
}

/// The payloads of an example file: one document, or one per line for `.ndjson`.
fn payloads(path: &PathBuf) -> Vec<Vec<u8>> {
    let bytes = std::fs::read(path).expect("readable");
    if path.extension().is_some_and(|e| e == "ndjson") {
        bytes
            .split(|b| *b == b'\n')
            .filter(|l| !l.trim_ascii().is_empty())
            .map(<[u8]>::to_vec)
            .collect()
    } else {
        vec![bytes]
    }
}

#[test]
fn schema_and_validator_agree_on_every_example() {
    let schema = jsonschema::draft202012::new(&json_schema()).expect("the schema compiles");
    let now = Timestamp::parse("2025-11-25T12:00:00Z").expect("valid");
    let mut checked = 0;
    for path in examples() {
        for payload in payloads(&path) {
            let name = path.display();
            let rust = parse_payload(&payload, now, &Limits::default());
            let schema_accepts = match serde_json::from_slice::<serde_json::Value>(&payload) {
                Ok(value) => schema.is_valid(&value),
                Err(_) => false,
            };
            match rust {
                Ok(_) => assert!(schema_accepts, "{name}: Rust accepts, the schema refuses"),
                Err(invalid) => {
                    let pack = payload.trim_ascii_start().first() == Some(&b'[');
                    let expressible = invalid
                        .violations
                        .iter()
                        .any(|v| schema_can_express(v.rule, pack));
                    assert_eq!(
                        schema_accepts,
                        !expressible,
                        "{name}: Rust refuses with {:?}; the schema {}",
                        invalid
                            .violations
                            .iter()
                            .map(|v| v.rule)
                            .collect::<Vec<_>>(),
                        if schema_accepts { "accepts" } else { "refuses" }
                    );
                }
            }
            checked += 1;
        }
    }
    assert!(checked >= 12, "only {checked} payloads checked");
}

#[test]
fn the_schema_refuses_each_kind_of_value_error_rust_refuses() {
    // A direct check per rule, beside the examples: one field broken at a time.
    let schema = jsonschema::draft202012::new(&json_schema()).expect("the schema compiles");
    let now = Timestamp::parse("2025-11-25T12:00:00Z").expect("valid");
    let good = serde_json::json!({"v":1,"sensor_id":"s1","kind":"bme280","source":"device",
        "time":"2025-11-24T10:15:00Z","seq":0,"location":{"lon":1.44,"lat":43.6},
        "quantities":{"temperature":12.5}});
    assert!(schema.is_valid(&good));
    let breaks: &[(&str, serde_json::Value)] = &[
        ("/v", serde_json::json!(2)),
        ("/sensor_id", serde_json::json!("a/b")),
        ("/kind", serde_json::json!("Kind")),
        ("/source", serde_json::json!("arduino")),
        ("/time", serde_json::json!("2025-11-24T10:15:00+01:00")),
        ("/time", serde_json::json!("2025-13-24T10:15:00Z")),
        ("/seq", serde_json::json!(-1)),
        ("/location/lat", serde_json::json!(91)),
        ("/quantities/temperature", serde_json::json!(-50)),
        ("/quantities/relativeHumidity", serde_json::json!(0)),
        ("/quantities/atmosphericPressure", serde_json::json!(900)),
        ("/quantities/motion", serde_json::json!(0.5)),
        ("/quantities/humidity", serde_json::json!(0.5)),
    ];
    for (pointer, value) in breaks {
        let mut doc = good.clone();
        let (parent, key) = pointer.rsplit_once('/').expect("pointer");
        doc.pointer_mut(if parent.is_empty() { "" } else { parent })
            .and_then(serde_json::Value::as_object_mut)
            .expect("parent object")
            .insert(key.to_owned(), value.clone());
        let bytes = serde_json::to_vec(&doc).expect("json");
        assert!(
            parse_payload(&bytes, now, &Limits::default()).is_err(),
            "Rust accepts {pointer}={value}"
        );
        assert!(
            !schema.is_valid(&doc),
            "the schema accepts {pointer}={value}"
        );
    }
}

/// Readings built for a profile: valid ones and ones with one mistake each, as JSON values.
fn readings_for(
    profile: &garonne_payload::profile::Profile,
) -> Vec<(&'static str, serde_json::Value)> {
    use serde_json::{Map, Value, json};
    let middle = |d: &garonne_payload::profile::QuantityDef| {
        let mid = (d.min + d.max) / 2.0;
        if d.integer { mid.round() } else { mid }
    };
    let all: Map<String, Value> = profile
        .quantities
        .iter()
        .map(|q| (q.def.name.clone(), json!(middle(&q.def))))
        .collect();
    let reading = |quantities: Map<String, Value>, named: Option<&str>| {
        let mut r = json!({"v":1,"sensor_id":"s1","kind":"device","source":"device",
            "time":"2025-11-24T10:15:00Z","seq":0,"location":{"lon":1.44,"lat":43.6},
            "quantities": quantities});
        if let Some(name) = named {
            r["profile"] = json!(name);
        }
        r
    };
    let mut out = vec![
        ("every quantity", reading(all.clone(), Some(&profile.name))),
        (
            "every quantity, profile not named",
            reading(all.clone(), None),
        ),
    ];
    let required: Map<String, Value> = all
        .iter()
        .filter(|(k, _)| profile.quantity(k).is_some_and(|q| q.required))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if !required.is_empty() {
        out.push((
            "only the required ones",
            reading(required, Some(&profile.name)),
        ));
    }
    for q in &profile.quantities {
        let mut bad = all.clone();
        bad.insert(q.def.name.clone(), json!(q.def.max + 1.0));
        out.push(("a value above its range", reading(bad, Some(&profile.name))));
        if q.def.integer {
            let mut bad = all.clone();
            bad.insert(q.def.name.clone(), json!(q.def.min + 0.5));
            out.push((
                "a fraction for a whole number",
                reading(bad, Some(&profile.name)),
            ));
        }
        if q.required {
            let mut bad = all.clone();
            bad.remove(&q.def.name);
            out.push((
                "a required quantity missing",
                reading(bad, Some(&profile.name)),
            ));
        }
    }
    let other = garonne_payload::Quantity::all()
        .find(|q| profile.quantity(q.name()).is_none())
        .expect("another profile's quantity");
    let mut bad = all.clone();
    bad.insert(other.name().to_owned(), json!(middle(other.def())));
    out.push((
        "a quantity of another profile",
        reading(bad, Some(&profile.name)),
    ));
    let mut bad = all.clone();
    bad.insert("notAQuantity".to_owned(), json!(1));
    out.push(("an unknown quantity", reading(bad, Some(&profile.name))));
    let other_profile = if profile.name == "weather" {
        "noise"
    } else {
        "weather"
    };
    out.push((
        "another profile named",
        reading(all.clone(), Some(other_profile)),
    ));
    out.push(("no quantities", reading(Map::new(), Some(&profile.name))));
    out
}

/// Issue 14: the JSON Schema of each built-in profile agrees with the validator under that
/// profile (`parse_payload_under`), and the v1 schema with the validator on readings that name
/// the profile, on valid readings and on readings with one mistake each.
#[test]
fn each_profile_schema_agrees_with_the_validator_under_the_profile() {
    use garonne_payload::profile::BUILTIN_PROFILES;
    use garonne_payload::{Quantity, parse_payload_under, profile_schema};
    let now = Timestamp::parse("2025-11-25T12:00:00Z").expect("valid");
    let v1 = jsonschema::draft202012::new(&json_schema()).expect("the schema compiles");
    let mut checked = 0;
    for (name, _) in BUILTIN_PROFILES {
        let profile =
            Quantity::with_catalogue(|c| c.profile(name).expect("built in").profile.clone());
        let schema = profile_schema(&profile);
        assert_eq!(
            schema["$id"],
            serde_json::json!(format!(
                "urn:garonne:payload:v1:profile:{name}:v{}",
                profile.version
            ))
        );
        let schema = jsonschema::draft202012::new(&schema).expect("the profile schema compiles");
        let mut outcomes = [0usize; 2];
        for (what, reading) in readings_for(&profile) {
            let bytes = serde_json::to_vec(&reading).expect("json");
            let rust = parse_payload_under(&bytes, name, now, &Limits::default());
            outcomes[usize::from(rust.is_ok())] += 1;
            let rules: Vec<_> = rust.as_ref().err().map_or(Vec::new(), |e| {
                e.violations.iter().map(|v| v.rule).collect()
            });
            assert!(
                rules.iter().all(|r| schema_can_express(*r, false)),
                "{name}, {what}: {rules:?}"
            );
            assert_eq!(
                schema.is_valid(&reading),
                rust.is_ok(),
                "{name}, {what}: Rust says {rules:?}; {reading}"
            );
            // The v1 schema, on the reading as sent: its `if`/`then` rule for the profile.
            let as_sent = garonne_payload::parse_payload(&bytes, now, &Limits::default());
            assert_eq!(
                v1.is_valid(&reading),
                as_sent.is_ok(),
                "v1 schema, {name}, {what}"
            );
            checked += 1;
        }
        assert!(outcomes[0] >= 3 && outcomes[1] >= 2, "{name}: {outcomes:?}");
    }
    assert!(checked >= 60, "only {checked} readings checked");
}

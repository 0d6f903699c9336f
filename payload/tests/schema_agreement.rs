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

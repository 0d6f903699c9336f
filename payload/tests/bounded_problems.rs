//! Hostile input gets a bounded explanation (issue 13, items 2 and 13).
//!
//! Measured before the fix: `POST /api/validate` answered a 256 KiB SenML pack of 131,071 bare
//! numbers (one problem each) with 19.9 MB, and the server grew from ~15 to 194 MiB for that one
//! request; realtime, the historian and the server ran the same explaining path on every MQTT
//! message. Now validation stops listing at [`Limits::max_violations`] and says how many more
//! there were.

use garonne_payload::{Limits, Rule, Timestamp, parse_payload, parse_reading, parse_senml};

fn now() -> Timestamp {
    Timestamp::parse("2025-11-24T16:30:00Z").expect("time")
}

/// The measured request: the largest pack the limits accept, every record a bare number.
fn pack_of_bare_numbers() -> String {
    let pack = format!("[{}]", vec!["1"; 131_071].join(","));
    assert_eq!(pack.len(), 262_143, "just under the 256 KiB bound");
    pack
}

/// What `POST /api/validate` puts in its `errors`: the violations as JSON.
fn answer_bytes(violations: &[garonne_payload::Violation]) -> usize {
    serde_json::to_string(violations).expect("JSON").len()
}

#[test]
fn a_256_kib_pack_of_bare_numbers_gets_a_small_answer_with_the_count_of_the_rest() {
    let limits = Limits::default();
    let invalid =
        parse_payload(pack_of_bare_numbers().as_bytes(), now(), &limits).expect_err("refused");
    let bytes = answer_bytes(&invalid.violations);
    assert!(
        bytes < 32 * 1024,
        "the answer is {bytes} bytes for {} entries",
        invalid.violations.len()
    );
    let listed = limits.max_violations;
    assert_eq!(
        invalid.violations.len(),
        listed + 1,
        "the bound, then the count"
    );
    assert_eq!(invalid.more, 131_071 - listed);
    let (first, last) = (&invalid.violations[0], &invalid.violations[listed]);
    assert_eq!((first.pointer.as_str(), first.rule), ("/0", Rule::Type));
    assert_eq!(
        invalid.violations[listed - 1].pointer,
        format!("/{}", listed - 1)
    );
    assert_eq!((last.pointer.as_str(), last.rule), ("", Rule::Type));
    assert!(
        last.message
            .contains(&format!("{} more problems", 131_071 - listed)),
        "{last}"
    );
    assert!(!last.hint.is_empty());
    assert!(
        invalid
            .to_string()
            .contains(&format!("(and {} more)", 131_071 - 1)),
        "{invalid}"
    );
}

#[test]
fn the_bound_is_a_limit_and_a_payload_under_it_lists_everything() {
    let limits = Limits {
        max_violations: 3,
        ..Limits::default()
    };
    // Four records, each with a problem: one over the bound.
    let pack = r#"[{"n": 1}, {"n": 2}, {"n": 3}, {"n": 4}]"#;
    let invalid = parse_senml(pack.as_bytes(), now(), &limits).expect_err("refused");
    let pointers: Vec<&str> = invalid
        .violations
        .iter()
        .map(|v| v.pointer.as_str())
        .collect();
    assert_eq!(pointers, ["/0/n", "/1/n", "/2/n", ""]);
    assert_eq!(invalid.more, 1);
    assert!(invalid.violations[3].message.contains("1 more problem"));

    let three = r#"[{"n": 1}, {"n": 2}, {"n": 3}]"#;
    let invalid = parse_senml(three.as_bytes(), now(), &limits).expect_err("refused");
    assert_eq!((invalid.violations.len(), invalid.more), (3, 0));
}

#[test]
fn a_reading_with_many_unknown_fields_is_bounded_too() {
    let limits = Limits {
        max_violations: 10,
        ..Limits::default()
    };
    let fields: Vec<String> = (0..200).map(|i| format!("\"x{i}\": {i}")).collect();
    let reading = format!("{{{}}}", fields.join(", "));
    let invalid = parse_reading(reading.as_bytes(), now(), &limits).expect_err("refused");
    assert_eq!(invalid.violations.len(), 11);
    // 8 required fields missing, 200 unknown ones.
    assert_eq!(invalid.more, 208 - 10);
}

/// Issue 13, item 13: `seq + i` overflowed at `u64::MAX` (a panic in a debug build, a
/// wrapped sequence number in release).
#[test]
fn a_pack_whose_sequence_numbers_pass_u64_max_is_refused_with_a_clear_error() {
    let pack = format!(
        r#"[
            {{"bn": "pi-lycee-b12:", "bt": 1764000000, "n": "lat", "u": "lat", "v": 43.6}},
            {{"n": "lon", "u": "lon", "v": 1.44}},
            {{"n": "seq", "v": {}}},
            {{"n": "temperature", "v": 12.5}},
            {{"n": "temperature", "v": 12.6, "t": 60}}
        ]"#,
        u64::MAX
    );
    let invalid = parse_senml(pack.as_bytes(), now(), &Limits::default()).expect_err("refused");
    assert_eq!(invalid.violations.len(), 1, "{invalid}");
    let v = &invalid.violations[0];
    assert_eq!((v.pointer.as_str(), v.rule), ("/2/v", Rule::Range), "{v}");
    assert!(v.message.contains("18446744073709551615"), "{v}");

    // The last number that fits is fine.
    let fits = pack.replace(&u64::MAX.to_string(), &(u64::MAX - 1).to_string());
    let readings = parse_senml(fits.as_bytes(), now(), &Limits::default()).expect("valid");
    let seqs: Vec<u64> = readings.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, [u64::MAX - 1, u64::MAX]);
}

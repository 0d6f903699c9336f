//! Every refusal explains itself in French too: for each rule the validator applies, payloads
//! that break it (one per kind of hint where a rule has several), and every violation they get
//! has a French hint that is not empty, is not the English one copied, and gives the same names
//! and numbers as the English one.
//!
//! The four rules only realtime applies (late, outside-area, sensor-mismatch,
//! too-many-sensors) are built in realtime and not produced here.

use std::collections::BTreeSet;

use garonne_payload::{Limits, Rule, Timestamp, Violation, parse_payload, parse_payload_under};

fn now() -> Timestamp {
    Timestamp::parse("2025-11-24T12:00:00Z").expect("time")
}

const GOOD: &str = r#"{"v":1,"sensor_id":"pi-lycee-b12","kind":"bme280","source":"raspberry-pi","time":"2025-11-24T10:15:00Z","seq":3,"location":{"lon":1.4442,"lat":43.6047},"quantities":{"temperature":12.5}}"#;

/// The good reading with `from` replaced by `to`.
fn reading(from: &str, to: &str) -> String {
    assert!(GOOD.contains(from), "{from}");
    GOOD.replacen(from, to, 1)
}

/// A SenML pack of sensor `s1` with `records` after its metadata.
fn pack(records: &str) -> String {
    format!(
        r#"[{{"bn":"s1:","bt":1763980000,"n":"lon","u":"lon","v":1.44}},{{"n":"lat","u":"lat","v":43.6}},{{"n":"seq","v":0}}{records}]"#
    )
}

/// The rules realtime alone applies.
const REALTIME_ONLY: [Rule; 4] = [
    Rule::Late,
    Rule::OutsideArea,
    Rule::SensorMismatch,
    Rule::TooManySensors,
];

/// Payloads that are refused, by the rule they are written to break; those checked under a
/// profile are in [`under_profile`].
fn refused() -> Vec<(Rule, Vec<String>)> {
    let temperature = |v: &str| reading(r#""temperature":12.5"#, &format!(r#""temperature":{v}"#));
    let quantity = |q: &str| reading(r#""temperature":12.5"#, q);
    vec![
        (
            Rule::Size,
            vec![quantity(&format!(r#""temperature":{}1"#, "0".repeat(5000)))],
        ),
        (
            Rule::JsonSyntax,
            vec![
                "{".to_owned(),
                r#"{"v": NaN}"#.to_owned(),
                r#"{"v" 1}"#.to_owned(),
            ],
        ),
        (
            Rule::NotFinite,
            vec![
                temperature("1e999"),
                pack(r#",{"n":"temperature","bv":1e308,"v":1e308}"#),
            ],
        ),
        (
            Rule::Type,
            vec![
                r#""a reading""#.to_owned(),
                reading(r#""v":1"#, r#""v":"1""#),
                reading(r#""kind":"bme280""#, r#""kind":3"#),
                reading(r#""source":"raspberry-pi""#, r#""source":3"#),
                reading(r#""time":"2025-11-24T10:15:00Z""#, r#""time":1764000000"#),
                reading(r#""seq":3"#, r#""seq":-3"#),
                reading(r#""kind":"bme280""#, r#""kind":"bme280","profile":7"#),
                reading(r#"{"lon":1.4442,"lat":43.6047}"#, r#""here""#),
                reading(r#""lat":43.6047"#, r#""lat":"43.6""#),
                reading(r#""lat":43.6047"#, r#""lat":43.6,"alt":"high""#),
                reading(r#"{"temperature":12.5}"#, "[12.5]"),
                temperature("null"),
                temperature(r#""12.5""#),
                temperature("[12.5]"),
                r#"[1]"#.to_owned(),
                r#"[{"n":1}]"#.to_owned(),
            ],
        ),
        (
            Rule::Required,
            vec![
                "{}".to_owned(),
                reading(r#""lon":1.4442,"#, ""),
                r#"[{"bn":"s1:","n":"temperature","v":12.5}]"#.to_owned(),
            ],
        ),
        (
            Rule::UnknownField,
            vec![
                reading(r#""time""#, r#""timestamp""#),
                reading(r#""seq":3"#, r#""seq":3,"colour":"red""#),
            ],
        ),
        (
            Rule::DuplicateKey,
            vec![
                reading(r#""seq":3"#, r#""seq":3,"seq":4"#),
                pack(r#",{"n":"temperature","n":"temperature","v":1}"#),
            ],
        ),
        (Rule::Version, vec![reading(r#""v":1"#, r#""v":2"#)]),
        (
            Rule::SensorId,
            vec![reading(r#""pi-lycee-b12""#, r#""pi lycée""#)],
        ),
        (Rule::Kind, vec![reading(r#""bme280""#, r#""BME 280""#)]),
        (
            Rule::Source,
            vec![reading(r#""raspberry-pi""#, r#""satellite""#)],
        ),
        (
            Rule::TimeFormat,
            vec![
                reading("2025-11-24T10:15:00Z", "2025-11-24 10:15"),
                pack(r#",{"n":"temperature","t":1e300,"v":1}"#),
            ],
        ),
        (
            Rule::ClockSkew,
            vec![reading("2025-11-24T10:15:00Z", "2030-01-01T00:00:00Z")],
        ),
        (
            Rule::TimeTooOld,
            vec![reading("2025-11-24T10:15:00Z", "1990-01-01T00:00:00Z")],
        ),
        (
            Rule::Range,
            vec![
                temperature("-50"),
                temperature("300"),
                temperature("90"),
                quantity(r#""relativeHumidity":0"#),
                quantity(r#""relativeHumidity":83"#),
                quantity(r#""atmosphericPressure":90000"#),
                quantity(r#""atmosphericPressure":99800"#),
                quantity(r#""pm25":-1"#),
                quantity(r#""availableBikeNumber":7.5"#),
                reading(r#""lon":1.4442"#, r#""lon":200"#),
                reading(r#""lat":43.6047"#, r#""lat":100"#),
                reading(r#""lat":43.6047"#, r#""lat":43.6,"alt":10000"#),
                pack(r#",{"n":"temperature","v":1}"#)
                    .replace(r#""v":0"#, "\"v\":18446744073709551615")
                    .replace(
                        r#"{"n":"temperature","v":1}"#,
                        r#"{"n":"temperature","v":1},{"n":"temperature","t":60,"v":2}"#,
                    ),
            ],
        ),
        (
            Rule::UnknownQuantity,
            vec![
                quantity(r#""temp":12.5"#),
                quantity(r#""pm2_5":12"#),
                quantity(r#""zzzzzzzzzzzzzzzz":1"#),
            ],
        ),
        (
            Rule::NoQuantities,
            vec![reading(r#"{"temperature":12.5}"#, "{}"), pack("")],
        ),
        (
            Rule::UnknownProfile,
            vec![
                reading(
                    r#""kind":"bme280""#,
                    r#""kind":"bme280","profile":"air-qality""#,
                ),
                reading(
                    r#""kind":"bme280""#,
                    r#""kind":"bme280","profile":"zzzzzzzz""#,
                ),
            ],
        ),
        (
            Rule::SenmlName,
            vec![r#"[{"n":"temperature","v":12.5}]"#.to_owned()],
        ),
        (
            Rule::SenmlUnit,
            vec![
                pack(r#",{"n":"temperature","u":"furlong","v":1}"#),
                pack(r#",{"n":"lat","u":"deg","v":43.6}"#).replacen(
                    r#"{"n":"lat","u":"lat","v":43.6},"#,
                    "",
                    1,
                ),
                pack(r#",{"n":"temperature","v":1},{"n":"availableBikeNumber","u":"Cel","v":3}"#),
            ],
        ),
        (
            Rule::SenmlValue,
            vec![
                pack(r#",{"n":"temperature","v":1,"vs":"1"}"#),
                pack(r#",{"n":"temperature","vs":"warm"}"#),
            ],
        ),
        (
            Rule::SenmlSensor,
            vec![pack(r#",{"bn":"s2:","n":"temperature","v":1}"#)],
        ),
        (
            Rule::SenmlConflict,
            vec![
                pack(r#",{"n":"temperature","v":1},{"n":"temperature","v":2}"#),
                pack(r#",{"n":"temperature","v":1},{"n":"seq","v":1}"#),
            ],
        ),
        (
            Rule::SenmlVersion,
            vec![pack(r#",{"bver":99,"n":"temperature","v":1}"#)],
        ),
        (Rule::SenmlEmpty, vec!["[]".to_owned()]),
    ]
}

/// Readings refused under a profile: the rule, the reading and the profile.
fn under_profile() -> Vec<(Rule, String, &'static str)> {
    vec![
        (
            Rule::MissingRequiredQuantity,
            GOOD.to_owned(),
            "air-quality",
        ),
        (Rule::QuantityNotInProfile, GOOD.to_owned(), "air-quality"),
        (
            Rule::ProfileMismatch,
            reading(
                r#""kind":"bme280""#,
                r#""kind":"bme280","profile":"weather""#,
            ),
            "noise",
        ),
    ]
}

/// The violations of `payload`, checked at `now` under `profile` if named.
fn violations(payload: &str, profile: Option<&str>, limits: &Limits) -> Vec<Violation> {
    let result = match profile {
        Some(p) => parse_payload_under(payload.as_bytes(), p, now(), limits),
        None => parse_payload(payload.as_bytes(), now(), limits),
    };
    result.map_or_else(|e| e.violations, |_| Vec::new())
}

/// The names a hint quotes (`"pm25"`, `« pm25 »`), and its numbers (a French decimal comma
/// read as a point: the catalogue's French texts write `56,7 °C`).
fn parameters(hint: &str) -> BTreeSet<String> {
    let chars: Vec<char> = hint.chars().collect();
    let hint: String = chars
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            let digit = |j: Option<usize>| {
                j.and_then(|j| chars.get(j))
                    .is_some_and(char::is_ascii_digit)
            };
            if c == ',' && digit(i.checked_sub(1)) && digit(Some(i + 1)) {
                '.'
            } else {
                c
            }
        })
        .collect();
    let hint = hint.as_str();
    let mut out = BTreeSet::new();
    for (open, close) in [("\"", "\""), ("« ", " »")] {
        let mut rest = hint;
        while let Some(start) = rest.find(open) {
            let after = &rest[start + open.len()..];
            let Some(end) = after.find(close) else { break };
            let name = &after[..end];
            if !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
            {
                out.insert(name.to_owned());
            }
            rest = &after[end + close.len()..];
        }
    }
    for word in hint.split(|c: char| !(c.is_ascii_digit() || c == '.')) {
        let number = word.trim_matches('.');
        if number.chars().any(|c| c.is_ascii_digit()) {
            out.insert(number.to_owned());
        }
    }
    out
}

/// What is wrong with the French hint of `v`, if anything.
fn french_problem(v: &Violation) -> Option<String> {
    if v.hint_fr.trim().is_empty() {
        return Some("no French hint".to_owned());
    }
    if v.hint_fr == v.hint {
        return Some("the French hint is the English one".to_owned());
    }
    let (en, fr) = (parameters(&v.hint), parameters(&v.hint_fr));
    let missing: Vec<&String> = en.difference(&fr).collect();
    (!missing.is_empty()).then(|| format!("the French hint lacks {missing:?}"))
}

#[test]
fn every_refusal_has_a_french_hint_with_the_english_ones_names_and_numbers() {
    let limits = Limits::default();
    let mut produced = BTreeSet::new();
    let mut wrong = Vec::new();
    let plain = refused()
        .into_iter()
        .flat_map(|(rule, payloads)| payloads.into_iter().map(move |p| (rule, p, None)));
    let profiled = under_profile()
        .into_iter()
        .map(|(r, p, name)| (r, p, Some(name)));
    for (rule, payload, profile) in plain.chain(profiled) {
        let found = violations(&payload, profile, &limits);
        if !found.iter().any(|v| v.rule == rule) {
            wrong.push(format!(
                "{payload} (under {profile:?}): no {rule}, got {found:?}"
            ));
        }
        for v in found {
            produced.insert(v.rule);
            if let Some(problem) = french_problem(&v) {
                wrong.push(format!("{v}\n  conseil : {}\n  -> {problem}", v.hint_fr));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n\n"));
    let unproduced: Vec<Rule> = Rule::ALL
        .into_iter()
        .filter(|r| !produced.contains(r) && !REALTIME_ONLY.contains(r))
        .collect();
    assert!(
        unproduced.is_empty(),
        "no example refuses by {unproduced:?}"
    );
}

/// The last entry of a cut list (how many more problems there were) has its French hint too.
#[test]
fn the_entry_that_counts_the_rest_has_a_french_hint() {
    let limits = Limits {
        max_violations: 1,
        ..Limits::default()
    };
    let found = violations("{}", None, &limits);
    let last = found.last().expect("a problem");
    assert!(last.message.contains("more problems"), "{last}");
    assert_eq!(french_problem(last), None, "{}", last.hint_fr);
}

//! Property tests: what Garonne writes, Garonne reads back unchanged; no input makes the parser
//! panic.

use garonne_payload::{
    Limits, Location, Quantities, Quantity, Reading, Source, Timestamp, encode_senml,
    parse_payload, parse_reading, parse_senml,
};
use proptest::prelude::*;

fn now() -> Timestamp {
    Timestamp::parse("2026-01-01T00:00:00Z").expect("valid")
}

/// A value inside the quantity's range (both ends included, but an excluded minimum).
fn value_of(q: Quantity) -> BoxedStrategy<f64> {
    let s = q.def();
    if s.integer {
        ((s.min as i64)..=(s.max as i64))
            .prop_map(|v| v as f64)
            .boxed()
    } else if s.min_exclusive {
        (s.min..=s.max)
            .prop_filter("excluded minimum", move |v| *v > s.min)
            .boxed()
    } else {
        (s.min..=s.max).boxed()
    }
}

fn quantities() -> impl Strategy<Value = Quantities> {
    // Every quantity of the built-in profiles, weather's and the others'.
    let per_quantity: Vec<_> = Quantity::all()
        .map(|q| proptest::option::of(value_of(q)).prop_map(move |v| (q, v)))
        .collect();
    per_quantity
        .prop_map(|pairs| {
            pairs
                .into_iter()
                .filter_map(|(q, v)| v.map(|v| (q, v)))
                .collect::<Quantities>()
        })
        .prop_filter("at least one quantity", |q| !q.is_empty())
}

/// Times from 2020 to 2025, to the microsecond (what SenML carries exactly).
fn time() -> impl Strategy<Value = Timestamp> {
    (1_577_836_800i64..1_767_225_600, 0u32..1_000_000)
        .prop_map(|(s, us)| Timestamp::new(s, us * 1000).expect("valid nanos"))
}

fn location() -> impl Strategy<Value = Location> {
    (
        -180.0..=180.0f64,
        -90.0..=90.0f64,
        proptest::option::of(-500.0..=9000.0f64),
    )
        .prop_map(|(lon, lat, alt)| Location { lon, lat, alt })
}

fn source() -> impl Strategy<Value = Source> {
    proptest::sample::select(Source::ALL.to_vec())
}

fn reading() -> impl Strategy<Value = Reading> {
    (
        "[A-Za-z0-9][A-Za-z0-9._-]{0,40}",
        "[a-z][a-z0-9-]{0,20}",
        source(),
        time(),
        0u64..u64::MAX,
        location(),
        quantities(),
    )
        .prop_map(
            |(id, kind, source, time, seq, location, quantities)| Reading {
                quantities,
                ..Reading::new(id, kind, source, time, seq, location)
            },
        )
}

proptest! {
    #[test]
    fn a_reading_survives_json(r in reading()) {
        let bytes = r.to_json();
        let back = parse_reading(&bytes, now(), &Limits::default());
        prop_assert_eq!(back, Ok(r));
    }

    #[test]
    fn readings_survive_a_senml_pack(
        first in reading(),
        steps in proptest::collection::vec((1i64..3_600_000_000, quantities()), 0..20),
    ) {
        let mut readings = vec![first.clone()];
        let mut time = first.time;
        for (i, (step_us, quantities)) in steps.into_iter().enumerate() {
            time = time.add_nanos(step_us * 1000);
            readings.push(Reading {
                time,
                seq: first.seq.saturating_add(i as u64 + 1),
                quantities,
                ..first.clone()
            });
        }
        prop_assume!(readings.iter().zip(readings.iter().skip(1)).all(|(a, b)| b.seq == a.seq + 1));
        prop_assume!(readings.last().is_some_and(|r| r.time <= now()));
        let pack = encode_senml(&readings).expect("one sensor");
        let back = parse_senml(&pack, now(), &Limits::default());
        prop_assert_eq!(back, Ok(readings));
    }

    #[test]
    fn no_input_makes_the_parser_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = parse_payload(&bytes, now(), &Limits::default());
    }

    #[test]
    fn no_json_value_makes_the_parser_panic(text in r#"[\[\]{}",:0-9a-z .eE+-]{0,200}"#) {
        let _ = parse_payload(text.as_bytes(), now(), &Limits::default());
    }
}

//! Parse + validate throughput of the payload crate, against a baseline measured in the same
//! run: parsing the same bytes into an untyped `serde_json::Value`, the least any JSON consumer
//! does (and what a Python course skeleton's `json.loads` does).
//!
//! Run: `cargo bench -p garonne-payload --bench parse`. Figures go in BENCHMARKS.md.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use garonne_payload::{
    Limits, Location, Quantity, Reading, Source, Timestamp, encode_senml, parse_reading,
    parse_senml,
};

fn station_reading(seq: u64, time: Timestamp) -> Reading {
    let mut r = Reading::new(
        "42-station-meteo-toulouse-parc-compans-cafarelli",
        "weather-station",
        Source::OpendataReplay,
        time,
        seq,
        Location {
            lon: 1.431863473,
            lat: 43.61245993,
            alt: Some(135.41),
        },
    );
    r.quantities
        .set(Quantity::Temperature, 9.4)
        .set(Quantity::RelativeHumidity, 0.77)
        .set(Quantity::AtmosphericPressure, 998.0)
        .set(Quantity::Precipitation, 0.0)
        .set(Quantity::WindSpeed, 0.28)
        .set(Quantity::GustSpeed, 2.22)
        .set(Quantity::WindDirection, 0.0);
    r
}

/// A group timing `parse` (as `name`) and, on the same bytes, the baseline.
fn against_baseline<T>(
    c: &mut Criterion,
    group: &str,
    bytes: &[u8],
    elements: u64,
    name: &str,
    parse: impl Fn(&[u8]) -> T,
) {
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Elements(elements));
    g.bench_function("baseline: serde_json::Value", |b| {
        b.iter(|| serde_json::from_slice::<serde_json::Value>(black_box(bytes)).expect("json"))
    });
    g.bench_function(name, |b| b.iter(|| parse(black_box(bytes))));
    g.finish();
}

fn bench(c: &mut Criterion) {
    let now = Timestamp::parse("2025-11-25T12:00:00Z").expect("valid");
    let t0 = Timestamp::parse("2025-11-25T11:00:00Z").expect("valid");
    let limits = Limits::default();

    // A typical reading: a Toulouse station with 7 quantities (the spec's first example).
    let reading = station_reading(96, t0).to_json();
    against_baseline(
        c,
        "reading",
        &reading,
        1,
        "garonne: parse_reading",
        |bytes| parse_reading(bytes, now, &limits).expect("valid"),
    );

    // A Raspberry Pi's BME280 reading: 3 quantities, short id (the spec's Pi example's shape).
    let mut pi = Reading::new(
        "pi-lycee-bellevue-b12",
        "bme280",
        Source::RaspberryPi,
        t0,
        4,
        Location {
            lon: 1.4442,
            lat: 43.6047,
            alt: None,
        },
    );
    pi.quantities
        .set(Quantity::Temperature, 19.8)
        .set(Quantity::RelativeHumidity, 0.46)
        .set(Quantity::AtmosphericPressure, 1012.3);
    let pi = pi.to_json();
    against_baseline(c, "pi-reading", &pi, 1, "garonne: parse_reading", |bytes| {
        parse_reading(bytes, now, &limits).expect("valid")
    });

    // A SenML pack of 100 readings (a 100 Hz logger's second, 3 quantities each).
    let readings: Vec<Reading> = (0..100)
        .map(|i| {
            let mut r = station_reading(i, t0.add_nanos(i as i64 * 10_000_000));
            r.quantities = [
                (Quantity::Temperature, 9.4 + i as f64 * 0.01),
                (Quantity::RelativeHumidity, 0.77),
                (Quantity::AtmosphericPressure, 998.0),
            ]
            .into_iter()
            .collect();
            r
        })
        .collect();
    let pack = encode_senml(&readings).expect("one sensor");
    against_baseline(
        c,
        "senml-pack-100-readings",
        &pack,
        readings.len() as u64,
        "garonne: parse_senml",
        |bytes| parse_senml(bytes, now, &limits).expect("valid"),
    );

    // Issue 14: an air-quality reading (quantities found through the catalogue's hash map, not
    // weather's match) and a reading of 50 quantities of a course's own profile.
    let air = String::from_utf8(pi.clone()).expect("utf-8").replace(
        r#""temperature":19.8,"relativeHumidity":0.46,"atmosphericPressure":1012.3"#,
        r#""pm25":12.1,"pm10":20.4,"no2":31.0"#,
    );
    against_baseline(
        c,
        "air-quality-reading",
        air.as_bytes(),
        1,
        "garonne: parse_reading",
        |bytes| parse_reading(bytes, now, &limits).expect("valid"),
    );
    let wide = wide_reading(50, &pi);
    against_baseline(
        c,
        "reading-50-quantities",
        &wide,
        1,
        "garonne: parse_reading",
        |bytes| parse_reading(bytes, now, &limits).expect("valid"),
    );

    // An invalid reading: the explaining path (every error, with pointers and hints).
    let invalid = String::from_utf8(reading.clone())
        .expect("utf-8")
        .replace("9.4", "-50.0");
    let mut g = c.benchmark_group("invalid-reading");
    g.throughput(Throughput::Elements(1));
    g.bench_function("garonne: parse_reading (refused)", |b| {
        b.iter(|| parse_reading(black_box(invalid.as_bytes()), now, &limits).expect_err("invalid"))
    });
    g.finish();
}

/// `base` (a reading's JSON) with `n` quantities of a bench profile registered for it.
fn wide_reading(n: usize, base: &[u8]) -> Vec<u8> {
    let mut profile = String::from(
        "name = \"bench-wide\"\nversion = 1\ntitle = { en = \"Bench\", fr = \"Banc\" }\n",
    );
    let mut values = Vec::new();
    for i in 0..n {
        profile.push_str(&format!(
            "[[quantity]]\nname = \"channel{i}\"\nunit = \"V\"\n\
             label = {{ en = \"Channel {i}\", fr = \"Voie {i}\" }}\nmin = -1000\nmax = 1000\n"
        ));
        values.push(format!("\"channel{i}\":{}.25", i as i32 - 25));
    }
    let parsed = garonne_payload::profile::Profile::parse(&profile).expect("bench profile");
    Quantity::register(parsed).expect("registered");
    let base = String::from_utf8(base.to_vec()).expect("utf-8");
    let start = base.find(r#""quantities":{"#).expect("quantities") + r#""quantities":{"#.len();
    let end = start + base[start..].find('}').expect("end");
    format!("{}{}{}", &base[..start], values.join(","), &base[end..]).into_bytes()
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! Issue 16's first "Done when", first half: a `candump` log the test writes, through a DBC the
//! test writes, arrives as SenML packs that validate under the profile generated from the DBC,
//! sample for sample (every decoded value once, with its frame's time).

use std::collections::BTreeMap;

use garonne_agent::can::candump::{BadReason, CandumpLog};
use garonne_agent::can::dbc::{CanDb, CanId};
use garonne_agent::can::profile::{channels, profile_toml};
use garonne_agent::can::readings::{Device, FrameDecoder, PackPolicy, packs};
use garonne_payload::profile::Profile;
use garonne_payload::{Limits, Location, ProfileId, Quantity, Timestamp, parse_senml};

/// The agent's example DBC (docs/telemetry.md): engine, wheels, an extended-id battery pack,
/// a multiplexed message and a float.
const DBC: &str = include_str!("../src/can/example.dbc");

/// 100 Hz for one second: the engine every 10 ms, the wheels 2 ms later, the battery on the
/// other bus every 20 ms at the engine's exact time (so frames of one time merge into one
/// reading), plus frames the DBC lacks and lines that are not frames.
fn log() -> String {
    let mut lines = Vec::new();
    for i in 0..100u32 {
        let t = 1_700_000_000_000_000u64 + u64::from(i) * 10_000;
        let at = |us: u64| format!("({}.{:06})", us / 1_000_000, us % 1_000_000);
        let rpm = (4000 + i * 50) * 4;
        let steer = (-(i as i32) * 7) as u16 & 0x0FFF;
        lines.push(format!(
            "{} can0 100#{:02X}{:02X}{:02X}{:02X}{:02X}{:02X}0000",
            at(t),
            rpm & 0xFF,
            rpm >> 8,
            50 + i,
            (i * 2) as u8,
            steer & 0xFF,
            steer >> 8,
        ));
        let wheel = 5000 + i * 30;
        let lat = (-(i as i32) * 3) as u16 & 0x0FFF;
        lines.push(format!(
            "{} can0 200#{:02X}{:02X}{:02X}{:02X}",
            at(t + 2_000),
            wheel >> 8,
            wheel & 0xFF,
            lat >> 4,
            (lat & 0xF) << 4,
        ));
        if i % 2 == 0 {
            let volts = 3600 + i;
            let amps = (-(i as i32) * 10) as u16;
            lines.push(format!(
                "{} can1 18FF50FE#{:02X}{:02X}{:02X}{:02X}00000000",
                at(t),
                volts & 0xFF,
                volts >> 8,
                amps & 0xFF,
                amps >> 8,
            ));
        }
        if i % 25 == 0 {
            lines.push(format!("{} can0 7DF#0201050000000000", at(t + 5_000)));
            lines.push(format!("{} can0 100#R", at(t + 6_000)));
            lines.push("garbage".to_owned());
        }
    }
    lines.join("\n") + "\n"
}

/// A car's CAN logger, in Toulouse, under a registered profile.
fn device(sensor_id: &str, profile: &str) -> Device {
    Device {
        sensor_id: sensor_id.into(),
        kind: "can-logger".into(),
        location: Location::new(1.44, 43.6),
        profile: ProfileId::from_name(profile).expect("registered"),
    }
}

#[test]
fn a_candump_log_arrives_as_senml_that_validates_sample_for_sample() {
    let db = CanDb::parse(DBC).expect("valid");
    let text = profile_toml(&db, "test-car-log", "car.dbc").expect("valid");
    let profile = Profile::parse(&text).unwrap_or_else(|e| panic!("{e:?}\n{text}"));
    assert!(Quantity::with_catalogue(|c| c.check(&profile)).is_ok());
    Quantity::register(profile).expect("valid");
    let channels = channels(&db).expect("valid");
    let decoder = FrameDecoder::new(&db, &channels).expect("valid");

    let log = CandumpLog::parse(&log());
    // 100 engine, 100 wheel and 50 battery frames, and 4 of an id the DBC lacks.
    assert_eq!(log.frames.len(), 100 + 100 + 50 + 4);
    let bad = log.bad_counts();
    assert_eq!(bad[&BadReason::RemoteFrame], 4);
    assert_eq!(bad[&BadReason::Format], 4);

    // What the DBC says each frame carries: the expected samples.
    let mut expected: Vec<(Timestamp, String, f64)> = Vec::new();
    for frame in &log.frames {
        if let Ok(values) = db.decode(frame.id, &frame.data) {
            for (signal, value) in values {
                let quantity = channels
                    .iter()
                    .find(|c| c.message_id == frame.id && c.signal == signal.name)
                    .expect("valid");
                expected.push((frame.time, quantity.quantity.clone(), value));
            }
        }
    }
    assert_eq!(expected.len(), 100 * 4 + 100 * 2 + 50 * 2);

    let device = device("car-42", "test-car-log");
    let (readings, report) = decoder.readings(&log.frames, &device, 7);
    assert_eq!(report.values, expected.len());
    assert_eq!(
        report.unknown_ids,
        BTreeMap::from([(CanId::standard(0x7DF), 4)])
    );
    assert!(report.out_of_range.is_empty(), "{:?}", report.out_of_range);
    // The battery frames share the engine's time: 200 readings, not 250.
    assert_eq!(readings.len(), 200);

    let policy = PackPolicy::default();
    let packs = packs(&readings, policy).expect("valid");
    let mut arrived: Vec<(Timestamp, String, f64)> = Vec::new();
    let mut seq = 7;
    for pack in &packs {
        let parsed = parse_senml(pack, Timestamp::now(), &Limits::default())
            .unwrap_or_else(|e| panic!("{e:?}\n{}", String::from_utf8_lossy(pack)));
        let values: usize = parsed.iter().map(|r| r.quantities.len()).sum();
        assert!(values <= policy.max_records);
        let (first, last) = (parsed[0].time, parsed[parsed.len() - 1].time);
        assert!(
            last.secs_since(first) < 0.1,
            "a pack spans less than 100 ms"
        );
        for reading in parsed {
            assert_eq!(reading.seq, seq, "sequence numbers run on across packs");
            seq += 1;
            assert_eq!(reading.sensor_id, "car-42");
            assert_eq!(reading.profile, Some(device.profile));
            for (q, v) in reading.quantities.iter() {
                arrived.push((reading.time, q.name().to_owned(), v));
            }
        }
    }
    assert!(
        packs.len() >= 10,
        "about ten packs a second: {}",
        packs.len()
    );
    let key = |s: &(Timestamp, String, f64)| (s.0, s.1.clone(), s.2.to_bits());
    let mut want: Vec<_> = expected.iter().map(key).collect();
    let mut got: Vec<_> = arrived.iter().map(key).collect();
    want.sort();
    got.sort();
    assert_eq!(
        got, want,
        "every decoded value arrives once, with its frame's time"
    );
}

#[test]
fn values_outside_the_profile_range_are_counted_not_sent() {
    // Signals renamed (`RangeEngineSpeed`...) so that their quantities are new to the
    // process's catalogue whichever test registers first.
    let db = CanDb::parse(&DBC.replace("\n SG_ ", "\n SG_ Range")).expect("valid");
    let text = profile_toml(&db, "test-car-range", "car.dbc").expect("valid");
    Quantity::register(Profile::parse(&text).expect("valid")).expect("valid");
    let channels = channels(&db).expect("valid");
    let decoder = FrameDecoder::new(&db, &channels).expect("valid");
    // ThrottlePos: 255 × 0.4 = 102 %, above the DBC's [0|100].
    let log = CandumpLog::parse("(1700000000.000000) can0 100#401F82FF00000000\n");
    let device = device("car-43", "test-car-range");
    let (readings, report) = decoder.readings(&log.frames, &device, 0);
    assert_eq!(report.out_of_range.len(), 1);
    let (count, first) = report.out_of_range["RangeThrottlePos"];
    assert_eq!(count, 1);
    assert!((first - 102.0).abs() < 1e-9);
    assert_eq!(readings.len(), 1);
    assert_eq!(readings[0].quantities.len(), 3);
}

//! Fuzz target: any bytes through the payload parser. It must never panic, and whatever it
//! accepts must survive being written and read again unchanged.
//!
//! Run: `cd payload/fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run parse` (see BENCHMARKS.md / README).
#![no_main]

use garonne_payload::{Limits, Payload, Timestamp, encode_senml, parse_payload, parse_reading, parse_senml};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let now = Timestamp::new(1_764_000_000, 0).expect("valid");
    let limits = Limits::default();
    match parse_payload(data, now, &limits) {
        Ok(Payload::Reading(reading)) => {
            let again = parse_reading(&reading.to_json(), now, &limits).expect("re-read");
            assert_eq!(again, reading);
        }
        Ok(Payload::Senml(readings)) => {
            if let Some(pack) = encode_senml(&readings) {
                let again = parse_senml(&pack, now, &limits).expect("re-read");
                assert_eq!(again, readings);
            }
        }
        Err(invalid) => assert!(!invalid.violations.is_empty()),
    }
});

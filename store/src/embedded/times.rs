//! The record of the times an hourly row counts (`reading_hourly_times`): what makes a write
//! idempotent after its hour was rolled up (see the module doc of the embedded store,
//! "Retention and roll-up").
//!
//! A record holds the distinct times of one sensor's quantity in one hour as offsets from the
//! start of the hour, in nanoseconds, sorted. It is encoded as LEB128 varints: the first offset;
//! then, if there are more, the greatest common divisor of the gaps between them (the `unit`),
//! the median gap in units (the `base`), and each gap's difference to the base in units,
//! zigzag-encoded (0, -1, 1, -2... as 0, 1, 2, 3...).
//!
//! Design: a sensor that reports on a clock (every second, every 15 minutes) has equal gaps, or
//! gaps in whole milliseconds that differ from the usual one by its jitter: in units, less the
//! base, they are small numbers, one byte each within ±63 units (a 1 Hz sensor's 3,600 times
//! take 3.6 KB, also with ±25 ms of jitter; a 15-minute station's four about 20 bytes). Gaps of
//! arbitrary nanoseconds (times taken at reception) stay exact, at up to 5 bytes each. A record
//! is exact, never a sketch: a time it does not hold is a new reading, which must be counted (a
//! Bloom filter would drop some of them).

use rusqlite::{OptionalExtension, Transaction};

use super::sql::HOUR_NS;

/// The sorted, distinct offsets (ns from the start of the hour) of `record`, or `None` if the
/// bytes are not a record (a damaged file).
pub(super) fn decode(record: &[u8]) -> Option<Vec<i64>> {
    let mut bytes = record;
    let mut offsets = Vec::new();
    let Some(first) = varint(&mut bytes) else {
        return bytes.is_empty().then_some(offsets);
    };
    let mut offset = i64::try_from(first).ok().filter(|o| *o < HOUR_NS)?;
    offsets.push(offset);
    if bytes.is_empty() {
        return Some(offsets);
    }
    let unit = i64::try_from(varint(&mut bytes)?).ok().filter(|u| *u > 0)?;
    let base = i64::try_from(varint(&mut bytes)?).ok()?;
    offsets.reserve(bytes.len());
    while !bytes.is_empty() {
        let gap = base
            .checked_add(unzigzag(varint(&mut bytes)?))
            .filter(|g| *g > 0)?;
        offset = gap
            .checked_mul(unit)
            .and_then(|g| offset.checked_add(g))
            .filter(|o| *o < HOUR_NS)?;
        offsets.push(offset);
    }
    Some(offsets)
}

/// The record of `offsets`: sorted, distinct, in `0..HOUR_NS`.
pub(super) fn encode(offsets: &[i64]) -> Vec<u8> {
    let mut record = Vec::with_capacity(offsets.len() + 12);
    let Some(&first) = offsets.first() else {
        return record;
    };
    put_varint(&mut record, first as u64);
    if offsets.len() == 1 {
        return record;
    }
    let unit = offsets.windows(2).map(|w| w[1] - w[0]).fold(0, gcd);
    let gaps: Vec<i64> = offsets.windows(2).map(|w| (w[1] - w[0]) / unit).collect();
    let base = *gaps.clone().select_nth_unstable(gaps.len() / 2).1;
    put_varint(&mut record, unit as u64);
    put_varint(&mut record, base as u64);
    for gap in &gaps {
        put_varint(&mut record, zigzag(gap - base));
    }
    record
}

/// The times already counted in the hourly row of `(hour, sensor, quantity)`, as sorted offsets;
/// empty if none were recorded (the hour was not rolled up, or was rolled up by a Garonne of
/// schema 1, which kept no record) or if the record is damaged (logged).
pub(super) fn rolled(
    tx: &Transaction<'_>,
    hour: i64,
    sensor: i64,
    quantity: i64,
) -> rusqlite::Result<Vec<i64>> {
    let record: Option<Vec<u8>> = tx
        .prepare_cached(
            "SELECT times FROM reading_hourly_times \
             WHERE hour = ?1 AND sensor = ?2 AND quantity = ?3",
        )?
        .query_row([hour, sensor, quantity], |r| r.get(0))
        .optional()?;
    let Some(record) = record else {
        return Ok(Vec::new());
    };
    Ok(decode(&record).unwrap_or_else(|| {
        tracing::warn!(
            hour,
            sensor,
            quantity,
            "damaged record of rolled-up times: readings of this hour written again will be \
             counted again"
        );
        Vec::new()
    }))
}

/// Whether `offset` is in the sorted `offsets`.
pub(super) fn contains(offsets: &[i64], offset: i64) -> bool {
    offsets.binary_search(&offset).is_ok()
}

/// The sorted union of two sorted lists of distinct offsets.
pub(super) fn merge(a: &[i64], b: &[i64]) -> Vec<i64> {
    let mut merged = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => {
                merged.push(a[i]);
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                merged.push(b[j]);
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                merged.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    merged.extend_from_slice(&a[i..]);
    merged.extend_from_slice(&b[j..]);
    merged
}

fn gcd(a: i64, b: i64) -> i64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// Small magnitudes of either sign as small unsigned numbers.
fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

fn unzigzag(value: u64) -> i64 {
    (value >> 1) as i64 ^ -((value & 1) as i64)
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Reads one varint from the front of `bytes`; `None` at the end or on a truncated or too long
/// one.
fn varint(bytes: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for (i, &byte) in bytes.iter().enumerate().take(10) {
        value |= u64::from(byte & 0x7f).checked_shl(7 * i as u32)?;
        if byte & 0x80 == 0 {
            *bytes = &bytes[i + 1..];
            return Some(value);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: i64 = 1_000_000_000;

    #[test]
    fn records_decode_to_what_was_encoded() {
        let cases: Vec<Vec<i64>> = vec![
            vec![],
            vec![0],
            vec![HOUR_NS - 1],
            vec![0, HOUR_NS - 1],
            (0..3600).map(|s| s * SEC).collect(),
            (0..3600).map(|s| s * SEC + 250_000_000).collect(),
            vec![17, 18, 1_000_000_017, 3 * SEC + 123_456_789],
            (0..4).map(|q| q * 900 * SEC + 42 * SEC).collect(),
            // Gaps far from the median on both sides.
            vec![0, 1, 2, 3, 1_000, 1_000_000_000, 1_000_000_001, HOUR_NS - 1],
        ];
        for offsets in cases {
            assert_eq!(
                decode(&encode(&offsets)),
                Some(offsets.clone()),
                "{offsets:?}"
            );
        }
    }

    #[test]
    fn a_sensor_on_a_clock_takes_about_a_byte_a_time() {
        let every_second: Vec<i64> = (0..3600).map(|s| s * SEC + 6_000_000).collect();
        assert!(encode(&every_second).len() <= 3600 + 12);
        // Milliseconds with up to 25 ms of jitter: gaps within 50 units of the base, one byte.
        let jittered: Vec<i64> = (0..3600)
            .map(|s| s * SEC + ((s * 7_919) % 51 - 25) * 1_000_000 + 50_000_000)
            .collect();
        assert!(encode(&jittered).len() <= 3600 + 18);
        let station: Vec<i64> = (0..4).map(|q| q * 900 * SEC).collect();
        assert!(encode(&station).len() <= 18, "{}", encode(&station).len());
    }

    #[test]
    fn damaged_records_are_refused() {
        let good = encode(&[SEC, 2 * SEC, 4 * SEC]);
        for bad in [
            &good[..good.len() - 1],
            &[0xff][..],
            &[0x80, 0x80][..],
            &[0, 0, 0, 0][..],
            &[0xff; 11][..],
        ] {
            // A truncated record may still decode to fewer times, never to a wrong one.
            if let Some(offsets) = decode(bad) {
                assert!(offsets.iter().all(|o| good_contains(&good, *o)), "{bad:?}");
            }
        }
        // Past the end of the hour.
        let mut past = Vec::new();
        put_varint(&mut past, HOUR_NS as u64);
        assert_eq!(decode(&past), None);
        let mut past = encode(&[0, HOUR_NS - 1]);
        past.push(1);
        assert_eq!(decode(&past), None);
        // A zero unit or gap.
        assert_eq!(decode(&[1, 0, 1, 0]), None);
        assert_eq!(decode(&[1, 1, 0, 0]), None);
        assert_eq!(decode(&[1, 1, 1, 1]), None);
    }

    fn good_contains(record: &[u8], offset: i64) -> bool {
        decode(record).is_some_and(|o| contains(&o, offset))
    }

    #[test]
    fn zigzag_round_trips() {
        for v in [0, 1, -1, 63, -64, i64::MAX, i64::MIN] {
            assert_eq!(unzigzag(zigzag(v)), v);
        }
        assert_eq!([0, -1, 1, -2].map(zigzag), [0, 1, 2, 3]);
    }

    #[test]
    fn merging_keeps_each_time_once() {
        assert_eq!(merge(&[1, 3, 5], &[2, 3, 6]), vec![1, 2, 3, 5, 6]);
        assert_eq!(merge(&[], &[4]), vec![4]);
        assert_eq!(merge(&[4], &[]), vec![4]);
        assert!(contains(&[1, 2, 3], 2) && !contains(&[1, 3], 2));
    }
}

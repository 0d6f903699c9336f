//! Frames through a DBC into readings and SenML packs of one device: the transform between a
//! CAN source (SocketCAN or a log, `can_source`) and the agent's disk queue.
//!
//! Every decoded value keeps its frame's own time (the interface's microsecond timestamp), so
//! the full-rate store gets each sample as the car measured it. Frames of the same time merge
//! into one reading (SenML resolves records of one time into one reading); a reading is one
//! record per value. Readings go into packs of at most [`PackPolicy::max_records`] values
//! spanning at most [`PackPolicy::max_span_ms`] (defaults 100 values, 100 ms: a 100 Hz car of a
//! few dozen channels sends about ten packs a second, as issue 16 asks).
//!
//! Nothing is dropped silently: frames of an id the DBC lacks, frames shorter than their
//! message, and values outside the profile's range (SenML validation would refuse their whole
//! pack) are counted in the [`DecodeReport`].

use std::collections::{BTreeMap, HashMap, HashSet};

use garonne_payload::{Location, ProfileId, Quantity, Reading, Source, Timestamp, encode_senml};

use super::candump::Frame;
use super::dbc::{CanDb, CanId, DecodeError};
use super::profile::Channel;

/// Who sends the readings.
#[derive(Debug, Clone, PartialEq)]
pub struct Device {
    /// The sensor id (a topic segment).
    pub sensor_id: String,
    /// The device kind slug (`can-logger`).
    pub kind: String,
    /// Where the device is (a car's base, its pit).
    pub location: Location,
    /// The profile its readings follow: the one generated from the DBC.
    pub profile: ProfileId,
}

/// How readings are cut into packs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PackPolicy {
    /// The most values in one pack.
    pub max_records: usize,
    /// The longest time from a pack's first reading to its last, milliseconds.
    pub max_span_ms: u64,
}

impl Default for PackPolicy {
    fn default() -> PackPolicy {
        PackPolicy {
            max_records: 100,
            max_span_ms: 100,
        }
    }
}

/// What decoding did not turn into values.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DecodeReport {
    /// Frames decoded.
    pub frames: usize,
    /// Values put in readings.
    pub values: usize,
    /// Frames of an id the DBC lacks, per id.
    pub unknown_ids: BTreeMap<CanId, usize>,
    /// Frames shorter than their message.
    pub short_frames: usize,
    /// Values outside their quantity's range (or not finite), per signal, with the first one.
    pub out_of_range: BTreeMap<String, (usize, f64)>,
}

/// A quantity the channels name is not in the process's catalogue.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("quantity {0} is not in the catalogue: register the DBC's profile first")]
pub struct UnknownQuantity(pub String);

/// Decodes frames into readings, through a DBC and its channels' quantities.
#[derive(Debug)]
pub struct FrameDecoder<'a> {
    db: &'a CanDb,
    quantities: HashMap<(CanId, &'a str), Quantity>,
}

impl<'a> FrameDecoder<'a> {
    /// A decoder for the DBC's channels, whose quantities must be registered (the profile of
    /// [`super::profile::profile_toml`], through `Quantity::register`).
    pub fn new(
        db: &'a CanDb,
        channels: &'a [Channel],
    ) -> Result<FrameDecoder<'a>, UnknownQuantity> {
        let quantities = channels
            .iter()
            .map(|c| {
                Quantity::from_name(&c.quantity)
                    .map(|q| ((c.message_id, c.signal.as_str()), q))
                    .ok_or_else(|| UnknownQuantity(c.quantity.clone()))
            })
            .collect::<Result<_, _>>()?;
        Ok(FrameDecoder { db, quantities })
    }

    /// The readings of `frames`, in frame order, numbered from `first_seq`.
    pub fn readings(
        &self,
        frames: &[Frame],
        device: &Device,
        first_seq: u64,
    ) -> (Vec<Reading>, DecodeReport) {
        let mut report = DecodeReport::default();
        let mut readings: Vec<Reading> = Vec::new();
        for frame in frames {
            let values = match self.db.decode(frame.id, &frame.data) {
                Ok(values) => values,
                Err(DecodeError::UnknownId(id)) => {
                    *report.unknown_ids.entry(id).or_insert(0) += 1;
                    continue;
                }
                Err(DecodeError::Short { .. }) => {
                    report.short_frames += 1;
                    continue;
                }
            };
            report.frames += 1;
            let mut kept = Vec::with_capacity(values.len());
            for (signal, value) in values {
                let Some(&quantity) = self.quantities.get(&(frame.id, signal.name.as_str())) else {
                    continue;
                };
                if value.is_finite() && quantity.def().in_range(value) {
                    kept.push((quantity, value));
                } else {
                    report
                        .out_of_range
                        .entry(signal.name.clone())
                        .or_insert((0, value))
                        .0 += 1;
                }
            }
            if kept.is_empty() {
                continue;
            }
            report.values += kept.len();
            // Frames of several buses may come a little out of order: the reading of the
            // frame's time is looked for among the latest ones, back to an earlier time.
            let merge = readings
                .iter_mut()
                .rev()
                .take_while(|r| r.time >= frame.time)
                .find(|r| {
                    r.time == frame.time && kept.iter().all(|(q, _)| r.quantities.get(*q).is_none())
                });
            let reading = match merge {
                Some(reading) => reading,
                None => {
                    let seq = first_seq + readings.len() as u64;
                    let mut reading = Reading::new(
                        device.sensor_id.clone(),
                        device.kind.clone(),
                        Source::Device,
                        frame.time,
                        seq,
                        device.location,
                    );
                    reading.profile = Some(device.profile);
                    readings.push(reading);
                    readings.last_mut().expect("just pushed")
                }
            };
            for (quantity, value) in kept {
                reading.quantities.set(quantity, value);
            }
        }
        (readings, report)
    }
}

/// The SenML packs of readings of one device (consecutive sequence numbers), cut by `policy`
/// (see [`PackCutter`]). `None` when the readings are not of one device (those of
/// [`FrameDecoder::readings`] always are).
pub fn packs(readings: &[Reading], policy: PackPolicy) -> Option<Vec<Vec<u8>>> {
    let mut cutter = PackCutter::new(policy);
    let mut packs = Vec::new();
    for reading in readings {
        if let Some(full) = cutter.push(reading.clone()) {
            packs.push(encode_senml(&full)?);
        }
    }
    if let Some(last) = cutter.take() {
        packs.push(encode_senml(&last)?);
    }
    Some(packs)
}

/// Cuts a stream of readings into packs, as they come: a pack holds at most
/// [`PackPolicy::max_records`] values within [`PackPolicy::max_span_ms`] of its first reading,
/// and never two readings of the same time (SenML would merge them). A reading with more values
/// than a pack may hold goes alone.
#[derive(Debug)]
pub struct PackCutter {
    policy: PackPolicy,
    pending: Vec<Reading>,
    times: HashSet<Timestamp>,
    records: usize,
}

impl PackCutter {
    /// An empty cutter.
    pub fn new(policy: PackPolicy) -> PackCutter {
        PackCutter {
            policy,
            pending: Vec::new(),
            times: HashSet::new(),
            records: 0,
        }
    }

    /// Adds a reading; returns the pack it closed, when it does not fit in the pending one.
    pub fn push(&mut self, reading: Reading) -> Option<Vec<Reading>> {
        let full = match self.pending.first() {
            Some(first) => {
                let span_nanos = i128::from(self.policy.max_span_ms) * 1_000_000;
                let fits = self.records + reading.quantities.len() <= self.policy.max_records
                    && (reading.time.unix_nanos() - first.time.unix_nanos()).abs() < span_nanos
                    && !self.times.contains(&reading.time);
                if fits { None } else { self.take() }
            }
            None => None,
        };
        self.times.insert(reading.time);
        self.records += reading.quantities.len();
        self.pending.push(reading);
        full
    }

    /// The pending pack, if any, and the cutter emptied.
    pub fn take(&mut self) -> Option<Vec<Reading>> {
        self.times.clear();
        self.records = 0;
        (!self.pending.is_empty()).then(|| std::mem::take(&mut self.pending))
    }

    /// Whether no reading is pending.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(seq: u64, secs: i64, micros: u32) -> Reading {
        let time = Timestamp::new(secs, micros * 1000).expect("valid");
        let mut r = Reading::new(
            "car-1",
            "can-logger",
            Source::Device,
            time,
            seq,
            Location::new(1.44, 43.6),
        );
        r.quantities.set(Quantity::Temperature, 20.0 + seq as f64);
        r
    }

    #[test]
    fn packs_cut_at_their_record_count_span_and_a_repeated_time() {
        let policy = PackPolicy {
            max_records: 2,
            max_span_ms: 100,
        };
        let count = |readings: &[Reading]| packs(readings, policy).expect("one device").len();
        let t = 1_700_000_000;
        // Two values per pack at most.
        let three: Vec<_> = (0..3).map(|i| reading(i, t, i as u32 * 1000)).collect();
        assert_eq!(count(&three), 2);
        // 100 ms apart: not in one pack.
        assert_eq!(count(&[reading(0, t, 0), reading(1, t, 100_000)]), 2);
        // The same time twice (a quantity repeated at one instant): SenML would merge them.
        assert_eq!(count(&[reading(0, t, 0), reading(1, t, 0)]), 2);
        assert_eq!(count(&[reading(0, t, 0), reading(1, t, 99_999)]), 1);
    }
}

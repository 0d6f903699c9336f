//! One reading of one sensor: the payload on `garonne/v1/sensors/{sensor_id}/reading`.

use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use smallvec::SmallVec;

use crate::quantity::{ProfileId, Quantity};
use crate::time::Timestamp;

/// The major version of the payload spec this crate implements (the `v` field).
pub const SPEC_VERSION: u32 = 1;

/// One reading of one sensor at one instant.
///
/// Build one with [`Reading::new`] and [`Quantities::set`]; check it with
/// [`crate::validate_reading`] before publishing; encode it with [`Reading::to_json`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reading {
    /// Spec major version: always [`SPEC_VERSION`].
    pub v: u32,
    /// Unique id of the sensor: 1–128 characters among `A–Z a–z 0–9 . _ -`, starting with a
    /// letter or digit (it is a segment of the MQTT topic).
    pub sensor_id: String,
    /// What kind of device it is, a lower-case slug such as `weather-station` or `bme280`.
    pub kind: String,
    /// The profile the reading follows, if it names one (spec 1.1): then it carries each of the
    /// profile's required quantities and no quantity outside it. Without one, any catalogued
    /// quantity is accepted.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present_profile"
    )]
    pub profile: Option<ProfileId>,
    /// Where the values come from.
    pub source: Source,
    /// When the values were measured (UTC).
    pub time: Timestamp,
    /// Per-sensor sequence number, +1 for every reading, so receivers can count losses.
    pub seq: u64,
    /// Where the sensor is.
    pub location: Location,
    /// The measured values, by quantity; at least one.
    pub quantities: Quantities,
}

impl Reading {
    /// A reading with no quantities yet.
    pub fn new(
        sensor_id: impl Into<String>,
        kind: impl Into<String>,
        source: Source,
        time: Timestamp,
        seq: u64,
        location: Location,
    ) -> Reading {
        Reading {
            v: SPEC_VERSION,
            sensor_id: sensor_id.into(),
            kind: kind.into(),
            profile: None,
            source,
            time,
            seq,
            location,
            quantities: Quantities::default(),
        }
    }

    /// The reading as compact JSON.
    pub fn to_json(&self) -> Vec<u8> {
        // Serialising plain structs of strings and finite-or-not numbers cannot fail; a NaN is
        // written as null, which validation on the receiving side then refuses.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// Where the values of a reading come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// Replayed from a Toulouse Métropole open-data station's recorded readings.
    OpendataReplay,
    /// Estimated for a catalogue station without readings, from the nearest stations that have
    /// some (inverse-distance weighting).
    OpendataEstimate,
    /// A virtual sensor of the simulator (placed inside a neighbourhood, values with noise).
    Virtual,
    /// A real sensor on a Raspberry Pi running `garonne pi`.
    RaspberryPi,
    /// Any other real device (a student's microcontroller, a zigbee2mqtt bridge...).
    Device,
    /// Stored readings published again by `garonne replay` (spec 1.2).
    Replay,
}

impl Source {
    /// Every source, in spec order.
    pub const ALL: [Source; 6] = [
        Source::OpendataReplay,
        Source::OpendataEstimate,
        Source::Virtual,
        Source::RaspberryPi,
        Source::Device,
        Source::Replay,
    ];

    /// The name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::OpendataReplay => "opendata-replay",
            Source::OpendataEstimate => "opendata-estimate",
            Source::Virtual => "virtual",
            Source::RaspberryPi => "raspberry-pi",
            Source::Device => "device",
            Source::Replay => "replay",
        }
    }

    /// Looks a source up by its wire name.
    pub fn from_name(name: &str) -> Option<Source> {
        Source::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A WGS84 position.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Location {
    /// Longitude, degrees east, −180 to 180.
    #[serde(deserialize_with = "exact_f64")]
    pub lon: f64,
    /// Latitude, degrees north, −90 to 90.
    #[serde(deserialize_with = "exact_f64")]
    pub lat: f64,
    /// Altitude above sea level, metres, −500 to 9000; absent when unknown (never `null`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present_number"
    )]
    pub alt: Option<f64>,
}

/// An optional field that, when present, must be a number: `null` is refused, as in the schema.
fn present_number<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<f64>, D::Error> {
    exact_f64(deserializer).map(Some)
}

/// An optional profile that, when present, must be a name: `null` is refused, as in the schema.
fn present_profile<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<ProfileId>, D::Error> {
    ProfileId::deserialize(deserializer).map(Some)
}

/// A JSON number read exactly (correctly rounded) and fast.
///
/// Design: the number's text is borrowed from the input and parsed by the standard library
/// (Eisel–Lemire), which is exact and, on this path, faster than serde_json's exact mode. Exact
/// matters: a value written by one Garonne service must read back identical in the next.
fn exact_f64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    use serde::de::{Error, Unexpected};
    let raw = <&'de serde_json::value::RawValue>::deserialize(deserializer)?;
    let text = raw.get();
    match text.as_bytes().first() {
        // serde_json has already checked that this is a JSON number; std parses every JSON number.
        Some(b'-' | b'0'..=b'9') => text.parse::<f64>().map_err(D::Error::custom),
        _ => Err(D::Error::invalid_type(Unexpected::Other(text), &"a number")),
    }
}

impl Location {
    /// A position without altitude.
    pub fn new(lon: f64, lat: f64) -> Location {
        Location {
            lon,
            lat,
            alt: None,
        }
    }
}

/// The measured values of a reading, at most one per [`Quantity`].
///
/// Performance: `(id, value)` pairs sorted by id, inline up to ten (a weather station's
/// reading), so building, parsing and moving a reading's values usually allocates nothing; a
/// lookup scans a handful of pairs.
#[derive(Clone, Default)]
pub struct Quantities {
    values: SmallVec<[(Quantity, f64); 10]>,
}

impl Quantities {
    /// Sets (or replaces) the value of `quantity`.
    pub fn set(&mut self, quantity: Quantity, value: f64) -> &mut Self {
        match self.values.binary_search_by_key(&quantity, |(q, _)| *q) {
            Ok(at) => self.values[at].1 = value,
            Err(at) => self.values.insert(at, (quantity, value)),
        }
        self
    }

    /// The value of `quantity`, if measured.
    pub fn get(&self, quantity: Quantity) -> Option<f64> {
        self.values
            .iter()
            .find(|(q, _)| *q == quantity)
            .map(|(_, v)| *v)
    }

    /// Removes the value of `quantity`.
    pub fn remove(&mut self, quantity: Quantity) -> Option<f64> {
        let at = self.values.iter().position(|(q, _)| *q == quantity)?;
        Some(self.values.remove(at).1)
    }

    /// The measured values, in wire order (the catalogue's).
    pub fn iter(&self) -> impl Iterator<Item = (Quantity, f64)> + '_ {
        self.values.iter().copied()
    }

    /// How many quantities are measured.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether no quantity is measured.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

impl PartialEq for Quantities {
    /// Equal when the same quantities are measured with equal values.
    fn eq(&self, other: &Quantities) -> bool {
        self.values == other.values
    }
}

impl FromIterator<(Quantity, f64)> for Quantities {
    fn from_iter<I: IntoIterator<Item = (Quantity, f64)>>(iter: I) -> Self {
        let mut q = Quantities::default();
        for (quantity, value) in iter {
            q.set(quantity, value);
        }
        q
    }
}

impl fmt::Debug for Quantities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.iter().map(|(q, v)| (q.name(), v)))
            .finish()
    }
}

impl Serialize for Quantities {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.len()))?;
        for (q, v) in self.iter() {
            map.serialize_entry(q.name(), &v)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Quantities {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct QuantitiesVisitor;
        impl<'de> Visitor<'de> for QuantitiesVisitor {
            type Value = Quantities;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of quantity names to numbers")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Quantities, A::Error> {
                use serde::de::Error;
                let mut out = Quantities::default();
                while let Some(name) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    let q = Quantity::from_name(&name)
                        .ok_or_else(|| A::Error::custom(format!("unknown quantity {name}")))?;
                    let value = map.next_value_seed(ExactF64)?;
                    if out.get(q).is_some() {
                        return Err(A::Error::custom(format!("duplicate quantity {name}")));
                    }
                    out.set(q, value);
                }
                Ok(out)
            }
        }
        deserializer.deserialize_map(QuantitiesVisitor)
    }
}

impl Serialize for ProfileId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for ProfileId {
    /// A catalogued profile's name; any other text is refused (the explaining path then says
    /// which profiles there are).
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let name = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        ProfileId::from_name(&name)
            .ok_or_else(|| D::Error::custom(format!("unknown profile {name}")))
    }
}

/// [`exact_f64`] as a seed, for map values.
struct ExactF64;

impl<'de> serde::de::DeserializeSeed<'de> for ExactF64 {
    type Value = f64;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<f64, D::Error> {
        exact_f64(deserializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Reading {
        let mut r = Reading::new(
            "42-station-meteo-toulouse-parc-compans-cafarelli",
            "weather-station",
            Source::OpendataReplay,
            Timestamp::parse("2025-11-24T10:15:00Z").expect("valid"),
            7,
            Location {
                lon: 1.4344,
                lat: 43.6112,
                alt: Some(140.0),
            },
        );
        r.quantities
            .set(Quantity::Temperature, 9.4)
            .set(Quantity::RelativeHumidity, 0.77);
        r
    }

    #[test]
    fn serialises_in_wire_order() {
        let json = String::from_utf8(sample().to_json()).expect("utf-8");
        assert_eq!(
            json,
            r#"{"v":1,"sensor_id":"42-station-meteo-toulouse-parc-compans-cafarelli","kind":"weather-station","source":"opendata-replay","time":"2025-11-24T10:15:00Z","seq":7,"location":{"lon":1.4344,"lat":43.6112,"alt":140.0},"quantities":{"temperature":9.4,"relativeHumidity":0.77}}"#
        );
    }

    #[test]
    fn quantities_refuse_duplicates_and_unknown_names() {
        let dup: Result<Quantities, _> =
            serde_json::from_str(r#"{"temperature": 1, "temperature": 2}"#);
        assert!(
            dup.expect_err("duplicate")
                .to_string()
                .contains("duplicate quantity")
        );
        let unknown: Result<Quantities, _> = serde_json::from_str(r#"{"humidity": 1}"#);
        assert!(unknown.is_err());
    }
}

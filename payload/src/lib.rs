//! The Garonne sensor payload, version 1: what every sensor sends, and how it is checked.
//!
//! Every sensor in Garonne (the simulator's, a Raspberry Pi's, a student's own device) publishes
//! the same JSON payload on `garonne/v1/sensors/{sensor_id}/reading`, or a SenML pack (RFC 8428)
//! on `.../senml`. This crate holds those wire types, the other v1 messages (status, aggregates,
//! alerts, error reports), the MQTT topic scheme, the strict validator and the JSON Schema. It
//! does no I/O and reads no clock: callers pass `now` in. A reading may name the profile it
//! follows (spec 1.1); [`parse_payload_under`] checks a payload under a profile chosen by name. The spec for people is
//! `docs/payload-spec.md` (French: `docs/fr/specification-payload.md`).
//!
//! ```
//! use garonne_payload::{Limits, Timestamp, parse_reading};
//!
//! let now = Timestamp::parse("2025-11-24T12:00:00Z").unwrap();
//! let json = br#"{"v":1,"sensor_id":"pi-lycee-b12","kind":"bme280","source":"raspberry-pi",
//!     "time":"2025-11-24T10:15:00Z","seq":3,"location":{"lon":1.4442,"lat":43.6047},
//!     "quantities":{"temperature":-50}}"#;
//! let err = parse_reading(json, now, &Limits::default()).unwrap_err();
//! assert_eq!(err.violations[0].pointer, "/quantities/temperature");
//! assert_eq!(err.violations[0].rule.as_str(), "range");
//! ```
//!
//! # Layout
//! - [`quantity`]: a quantity (and a profile): its id in the process's catalogue of profiles.
//! - [`profile`]: profiles (quantities as data, TOML), the unit registry and the catalogue.
//! - [`reading`]: the reading, its location, source and quantities.
//! - [`validate`]: rules, violations (pointer, rule, hint) and the reading validator.
//! - [`senml`]: SenML packs resolved into readings, and encoded from them.
//! - [`messages`]: status, rolling statistics, aggregates, alerts, error reports.
//! - [`topic`]: topic builders, subscription filters and the topic parser.
//! - [`schema`]: the JSON Schema, generated from the same tables.
//! - [`time`]: RFC 3339 UTC timestamps.
//! - [`report`]: an error with its whole source chain on one line.

pub mod messages;
pub mod profile;
pub mod quantity;
pub mod reading;
pub mod report;
pub mod schema;
pub mod senml;
pub mod time;
pub mod topic;
pub mod validate;

pub use messages::{
    Alert, AlertScope, AlertState, Comparison, ErrorReport, ModuleState, ModuleStatus,
    NeighbourhoodAggregate, SensorRolling, SensorState, Status, WindowStats,
};
pub use quantity::{ProfileId, Quantity, SenmlUnit};
pub use reading::{Location, Quantities, Reading, SPEC_VERSION, Source};
pub use schema::{SCHEMA_ID, json_schema, profile_schema, profile_schema_id, schema_can_express};
pub use senml::{encode_senml, parse_senml, parse_senml_under};
pub use time::{Timestamp, TimestampError};
pub use topic::{Topic, Topics};
pub use validate::{
    Invalid, Limits, Rule, Violation, is_valid_kind, is_valid_sensor_id, parse_reading,
    parse_reading_under, sensor_id_from, unknown_profile, validate_reading,
};

/// A parsed payload: one reading, or the readings of a SenML pack.
// Design: the reading stays inline (280 bytes) rather than boxed: one allocation less per message
// on the hot path, and a Payload is moved once, not stored.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    /// A JSON object: one reading.
    Reading(Reading),
    /// A JSON array: a SenML pack, resolved.
    Senml(Vec<Reading>),
}

impl Payload {
    /// The readings it carries, in time order.
    pub fn readings(&self) -> &[Reading] {
        match self {
            Payload::Reading(r) => std::slice::from_ref(r),
            Payload::Senml(rs) => rs,
        }
    }
}

/// Parses either form: a SenML pack when the JSON starts with `[`, a reading otherwise.
pub fn parse_payload(bytes: &[u8], now: Timestamp, limits: &Limits) -> Result<Payload, Invalid> {
    if is_pack(bytes) {
        parse_senml(bytes, now, limits).map(Payload::Senml)
    } else {
        parse_reading(bytes, now, limits).map(Payload::Reading)
    }
}

/// Parses either form as [`parse_payload`] does, under the profile named `profile` (the
/// `--profile` of `garonne payload validate`, the validator page's profile choice): a payload
/// that names no profile is checked as if it named this one; one that names another profile is
/// refused ([`Rule::ProfileMismatch`]). A name that is not a catalogued profile is refused
/// ([`Rule::UnknownProfile`], at the root, with the closest names).
pub fn parse_payload_under(
    bytes: &[u8],
    profile: &str,
    now: Timestamp,
    limits: &Limits,
) -> Result<Payload, Invalid> {
    let Some(id) = ProfileId::from_name(profile) else {
        return Err(Invalid {
            violations: vec![validate::unknown_profile("", profile)],
            more: 0,
        });
    };
    if is_pack(bytes) {
        parse_senml_under(bytes, id, now, limits).map(Payload::Senml)
    } else {
        parse_reading_under(bytes, id, now, limits).map(Payload::Reading)
    }
}

/// Whether the bytes are a SenML pack: JSON that starts with `[`.
fn is_pack(bytes: &[u8]) -> bool {
    bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[')
}

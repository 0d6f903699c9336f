//! The JSON Schema (draft 2020-12) of payload v1, generated from the same tables the validator
//! uses, so the two cannot drift apart silently; `tests/examples.rs` proves they agree on every
//! example of the spec.
//!
//! A schema cannot say everything: [`schema_can_express`] lists what only the Rust validator
//! checks (the clock, byte sizes, duplicate keys, and the resolution of SenML names, units and
//! times).

use serde_json::{Map, Value, json};

use crate::profile::Profile;
use crate::quantity::Quantity;
use crate::reading::Source;
use crate::validate::{Limits, Rule};

/// The stable `$id` of the v1 schema.
pub const SCHEMA_ID: &str = "urn:garonne:payload:v1";

/// Regular expression of a sensor id (see [`crate::is_valid_sensor_id`]).
pub const SENSOR_ID_PATTERN: &str = "^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$";

/// Regular expression of a kind (see [`crate::is_valid_kind`]).
pub const KIND_PATTERN: &str = "^[a-z][a-z0-9-]{0,31}$";

/// Regular expression of a time. It checks the shape and each field's range; only impossible
/// days such as 30 February are left to the validator.
pub const TIME_PATTERN: &str = "^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,9})?Z$";

/// Whether the JSON Schema can detect a violation of `rule` in a reading (`pack` false) or in a
/// SenML pack (`pack` true).
pub fn schema_can_express(rule: Rule, pack: bool) -> bool {
    match rule {
        // The receiver's clock, the raw bytes and duplicate keys are invisible to JSON Schema.
        Rule::ClockSkew | Rule::TimeTooOld | Rule::Size | Rule::DuplicateKey => false,
        // Realtime's verdicts on valid readings (its windows, its polygons), not the payload's.
        Rule::Late | Rule::OutsideArea | Rule::SensorMismatch | Rule::TooManySensors => false,
        // A JSON Schema validator is handed parsed JSON: unparseable bytes are refused by all.
        Rule::JsonSyntax | Rule::NotFinite => true,
        _ if pack => matches!(rule, Rule::Type | Rule::UnknownField | Rule::SenmlEmpty),
        // A reading's profile rules are `if`/`then` rules (the v1 schema) or the profile's own
        // schema (`profile` const, its required quantities, no other).
        _ => true,
    }
}

/// The JSON Schema of payload v1: one reading (an object) or one SenML pack (an array).
pub fn json_schema() -> Value {
    let limits = Limits::default();
    let quantities: Vec<Quantity> = Quantity::all().collect();
    let (names, profiles): (Vec<String>, Vec<Value>) = Quantity::with_catalogue(|c| {
        c.profiles()
            .map(|p| (p.profile.name.clone(), profile_rule(&p.profile)))
            .unzip()
    });
    let mut reading = reading_schema(
        quantities_schema(&quantities, &[]),
        json!({"enum": names,
               "description": "the profile the reading follows (optional, spec 1.1): its \
                               required quantities are then required and no other is allowed"}),
    );
    reading["allOf"] = Value::Array(profiles);
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "Garonne sensor payload, version 1",
        "description": "One reading of one sensor (a JSON object), or a SenML pack (RFC 8428, a JSON \
                        array) of one sensor's readings. See docs/payload-spec.md.",
        "oneOf": [{"$ref": "#/$defs/reading"}, {"$ref": "#/$defs/senmlPack"}],
        "$defs": {
            "reading": reading,
            "location": location_schema(),
            "senmlPack": {
                "type": "array",
                "minItems": 1,
                "maxItems": limits.max_pack_records,
                "items": {"$ref": "#/$defs/senmlRecord"},
                "description": "RFC 8428 pack of one sensor; names are {sensor_id}:{field}"
            },
            "senmlRecord": {
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "bn": {"type": "string"}, "bt": {"type": "number"}, "bu": {"type": "string"},
                    "bv": {"type": "number"}, "bver": {"type": "integer", "minimum": 0},
                    "n": {"type": "string"}, "u": {"type": "string"}, "v": {"type": "number"},
                    "vs": {"type": "string"}, "vb": {"type": "boolean"}, "t": {"type": "number"}
                }
            }
        }
    })
}

/// The stable `$id` of the schema of readings under a profile's version: the v1 schema's, then
/// `:profile:NAME:vVERSION` (`urn:garonne:payload:v1:profile:air-quality:v1`).
pub fn profile_schema_id(profile: &Profile) -> String {
    format!("{SCHEMA_ID}:profile:{}:v{}", profile.name, profile.version)
}

/// The JSON Schema (draft 2020-12) of the readings under `profile`, as
/// [`crate::parse_reading_under`] checks them: its required quantities required, its other
/// quantities optional, no other quantity, each in its range (whole where integer), and
/// `profile`, if written, this profile's name. The profile's quantities must be catalogued
/// (for a profile file, add it to the catalogue first: [`Quantity::register`]).
pub fn profile_schema(profile: &Profile) -> Value {
    let quantities: Vec<Quantity> = profile
        .quantities
        .iter()
        .filter_map(|q| Quantity::from_name(&q.def.name))
        .collect();
    let required = required_names(profile);
    let mut schema = reading_schema(
        quantities_schema(&quantities, &required),
        json!({"const": profile.name, "description": "this profile's name (optional)"}),
    );
    let description = match &profile.description {
        Some(d) => format!("{} {}", profile.title.en, d.en),
        None => profile.title.en.clone(),
    };
    let head = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": profile_schema_id(profile),
        "title": format!("Garonne reading under profile {}, version {}", profile.name, profile.version),
        "description": format!("{description} See docs/payload-spec.md and `garonne profile doc`."),
    });
    if let (Value::Object(schema), Value::Object(head)) = (&mut schema, head) {
        for (k, v) in head.into_iter().rev() {
            schema.shift_insert(0, k, v);
        }
        schema.insert("$defs".into(), json!({"location": location_schema()}));
    }
    schema
}

/// The `if`/`then` rule of one profile in the v1 schema: a reading that names it carries its
/// required quantities and no other.
fn profile_rule(profile: &Profile) -> Value {
    let required = required_names(profile);
    let names: Vec<&str> = profile
        .quantities
        .iter()
        .map(|q| q.def.name.as_str())
        .collect();
    let mut quantities = json!({"propertyNames": {"enum": names}});
    if !required.is_empty() {
        quantities["required"] = json!(required);
    }
    json!({
        "if": {"required": ["profile"], "properties": {"profile": {"const": profile.name}}},
        "then": {"properties": {"quantities": quantities}}
    })
}

/// The names of a profile's required quantities, in the profile's order.
fn required_names(profile: &Profile) -> Vec<&str> {
    profile
        .quantities
        .iter()
        .filter(|q| q.required)
        .map(|q| q.def.name.as_str())
        .collect()
}

/// The `quantities` object: these quantities, each with its range, `required` the ones listed.
fn quantities_schema(quantities: &[Quantity], required: &[&str]) -> Value {
    let mut properties = Map::new();
    for q in quantities {
        properties.insert(q.name().to_owned(), quantity_schema(*q));
    }
    let mut schema = json!({
        "type": "object",
        "additionalProperties": false,
        "minProperties": 1,
        "properties": properties,
    });
    if !required.is_empty() {
        schema["required"] = json!(required);
    }
    schema
}

/// One quantity's value: its type, range and a description.
fn quantity_schema(q: Quantity) -> Value {
    let s = q.def();
    let mut p = Map::new();
    p.insert(
        "type".into(),
        json!(if s.integer { "integer" } else { "number" }),
    );
    p.insert(
        if s.min_exclusive {
            "exclusiveMinimum"
        } else {
            "minimum"
        }
        .into(),
        json!(s.min),
    );
    p.insert("maximum".into(), json!(s.max));
    let what = s.description.as_ref().unwrap_or(&s.label);
    let why = s.range_reason.as_ref().map_or("", |r| r.en.as_str());
    p.insert(
        "description".into(),
        json!(format!("{} ({}). {why}", what.en, q.unit_label())),
    );
    Value::Object(p)
}

/// The reading object, with its `quantities` and `profile` schemas.
fn reading_schema(quantities: Value, profile: Value) -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["v", "sensor_id", "kind", "source", "time", "seq", "location", "quantities"],
        "properties": {
            "v": {"const": 1, "description": "spec major version"},
            "sensor_id": {"type": "string", "pattern": SENSOR_ID_PATTERN,
                          "description": "unique sensor id; one MQTT topic level"},
            "kind": {"type": "string", "pattern": KIND_PATTERN,
                     "description": "kind of device, e.g. weather-station, bme280"},
            "profile": profile,
            "source": {"enum": Source::ALL.map(Source::as_str),
                       "description": "where the values come from"},
            "time": {"type": "string", "pattern": TIME_PATTERN,
                     "description": "when measured, RFC 3339 UTC with Z; at most \
                                     max_future_skew_secs ahead of the receiver"},
            "seq": {"type": "integer", "minimum": 0,
                    "description": "per-sensor sequence number, +1 per reading"},
            "location": {"$ref": "#/$defs/location"},
            "quantities": quantities,
        }
    })
}

/// A location: WGS84 degrees and an optional altitude.
fn location_schema() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["lon", "lat"],
        "properties": {
            "lon": {"type": "number", "minimum": -180, "maximum": 180, "description": "WGS84 longitude, degrees east"},
            "lat": {"type": "number", "minimum": -90, "maximum": 90, "description": "WGS84 latitude, degrees north"},
            "alt": {"type": "number", "minimum": -500, "maximum": 9000, "description": "altitude, metres above sea level"}
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_lists_every_quantity_with_its_range() {
        let schema = json_schema();
        let props = &schema["$defs"]["reading"]["properties"]["quantities"]["properties"];
        for q in Quantity::all() {
            assert_eq!(props[q.name()]["maximum"], json!(q.def().max), "{q}");
        }
        assert_eq!(props["relativeHumidity"]["exclusiveMinimum"], json!(0.0));
        assert_eq!(schema["$id"], json!(SCHEMA_ID));
    }
}

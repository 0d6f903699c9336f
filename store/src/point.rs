//! A point: what the historian's schema (`garonne_historian::schema`) makes of an MQTT message
//! and what every [`crate::store::Store`] writes. It mirrors InfluxDB's data model: a
//! measurement, tags (indexed strings that name a series), fields (the values) and a time in
//! nanoseconds.
//!
//! Two points with the same measurement, tags and time are the same point: a store keeps the
//! fields of the last one written. That is what makes writing a reading twice yield one point.

/// A field value.
#[derive(Debug, Clone, PartialEq)]
pub enum Field {
    /// A floating-point number (every quantity, coordinates, statistics).
    Float(f64),
    /// A signed integer (counts, sequence numbers).
    Int(i64),
    /// A boolean.
    Bool(bool),
    /// A string.
    Str(String),
}

/// One point: `measurement,tag=value field=value time`.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// The measurement: `reading`, `aggregate`, `alert` or `status` (see the historian's schema, docs/historian.md).
    pub measurement: &'static str,
    /// Tags, sorted by key (InfluxDB's advice for write speed), values non-empty.
    pub tags: Vec<(&'static str, String)>,
    /// Fields, at least one.
    pub fields: Vec<(&'static str, Field)>,
    /// Nanoseconds since the Unix epoch.
    pub time_ns: i64,
}

impl Point {
    /// The value of tag `key`, if set.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The value of field `key`, if set.
    pub fn field(&self, key: &str) -> Option<&Field> {
        self.fields.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }
}

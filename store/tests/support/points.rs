//! Points as the historian's schema makes them, for the store's tests and benches (included with
//! `#[path]` by both, which cannot share a module otherwise).

use garonne_payload::Quantity;
use garonne_store::point::{Field, Point};

/// An `aggregate` point: the one-minute window starting at `start_ns` of a neighbourhood named
/// `Quartier {neighbourhood}`, its `[mean, min, max]`, and how many readings of how many sensors
/// made it; its value is its mean, as for the weather quantities (see [`with_value`]).
pub fn aggregate(
    neighbourhood: &str,
    quantity: Quantity,
    start_ns: i64,
    [mean, min, max]: [f64; 3],
    (readings, sensors): (i64, i64),
) -> Point {
    Point {
        measurement: "aggregate",
        tags: vec![
            ("name", format!("Quartier {neighbourhood}")),
            ("neighbourhood", neighbourhood.to_owned()),
            ("quantity", quantity.name().to_owned()),
        ],
        fields: vec![
            ("value", Field::Float(mean)),
            ("mean", Field::Float(mean)),
            ("min", Field::Float(min)),
            ("max", Field::Float(max)),
            ("readings", Field::Int(readings)),
            ("sensors", Field::Int(sensors)),
            ("window_secs", Field::Int(60)),
        ],
        time_ns: start_ns,
    }
}

/// `point` (an aggregate) with another `value`, e.g. a neighbourhood's bikes, summed; `None`:
/// without one, as an older historian stored it.
pub fn with_value(mut point: Point, value: Option<f64>) -> Point {
    point.fields.retain(|(name, _)| *name != "value");
    if let Some(value) = value {
        point.fields.insert(0, ("value", Field::Float(value)));
    }
    point
}

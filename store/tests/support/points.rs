//! Points as the historian's schema makes them, for the store's tests and benches (included with
//! `#[path]` by both, which cannot share a module otherwise).

use garonne_payload::Quantity;
use garonne_store::point::{Field, Point};

/// An `aggregate` point: the one-minute window starting at `start_ns` of a neighbourhood named
/// `Quartier {neighbourhood}`, its `[mean, min, max]`, and how many readings of how many sensors
/// made it.
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

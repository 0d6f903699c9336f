//! The neighbourhood polygons as GeoJSON, rendered once at start-up.
//!
//! Performance: `/api/neighbourhoods` is the map's first and heaviest request (the 20 quartiers
//! are about 150 kB of coordinates). Each feature's text up to its `aggregate` property is
//! written once here; a response splices the latest aggregates in between (see
//! [`Shapes::render`]), and the server caches that body until an aggregate changes.

use std::fmt::Write as _;

use garonne_neighbourhoods::Neighbourhoods;
use geo::{LineString, Polygon};

use crate::live::{Live, json_string};

/// The polygons of one file, as GeoJSON feature text.
#[derive(Debug, Clone)]
pub struct Shapes {
    /// Per neighbourhood, in file order: its id, and its feature's text up to the value of
    /// `properties.aggregate`.
    heads: Vec<(String, String)>,
}

impl Shapes {
    /// Renders every neighbourhood of `areas`.
    pub fn new(areas: &Neighbourhoods) -> Shapes {
        let heads = areas
            .iter()
            .map(|area| {
                let id = json_string(area.id());
                let mut head = format!(r#"{{"type":"Feature","id":{id},"geometry":"#);
                geometry(&area.polygon().0, &mut head);
                let _ = write!(
                    head,
                    r#","properties":{{"id":{id},"name":{},"aggregate":"#,
                    json_string(area.name())
                );
                (area.id().to_owned(), head)
            })
            .collect();
        Shapes { heads }
    }

    /// The neighbourhood ids, in file order.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.heads.iter().map(|(id, _)| id.as_str())
    }

    /// The FeatureCollection with each neighbourhood's latest aggregate from `live` (or null).
    pub fn render(&self, live: &Live) -> String {
        let size: usize = self.heads.iter().map(|(_, h)| h.len() + 1024).sum();
        let mut out = String::with_capacity(64 + size);
        out.push_str(r#"{"type":"FeatureCollection","features":["#);
        for (i, (_, head)) in self.heads.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(head);
            out.push_str(live.aggregate_at(i).map_or("null", |a| a.as_ref()));
            out.push_str("}}");
        }
        out.push_str("]}");
        out
    }
}

/// A Polygon when there is one part, a MultiPolygon otherwise (RFC 7946 §3.1.6, §3.1.7).
fn geometry(parts: &[Polygon<f64>], out: &mut String) {
    match parts {
        [one] => {
            out.push_str(r#"{"type":"Polygon","coordinates":"#);
            polygon(one, out);
        }
        _ => {
            out.push_str(r#"{"type":"MultiPolygon","coordinates":["#);
            for (i, part) in parts.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                polygon(part, out);
            }
            out.push(']');
        }
    }
    out.push('}');
}

fn polygon(polygon: &Polygon<f64>, out: &mut String) {
    out.push('[');
    ring(polygon.exterior(), out);
    for hole in polygon.interiors() {
        out.push(',');
        ring(hole, out);
    }
    out.push(']');
}

fn ring(ring: &LineString<f64>, out: &mut String) {
    out.push('[');
    for (i, c) in ring.coords().enumerate() {
        if i > 0 {
            out.push(',');
        }
        // Display of f64 is the shortest text that reads back the same value, and never an
        // exponent: valid JSON numbers.
        let _ = write!(out, "[{},{}]", c.x, c.y);
    }
    out.push(']');
}

#[cfg(test)]
mod tests {
    use super::*;
    use garonne_neighbourhoods::Properties;
    use garonne_payload::{Timestamp, Topics};

    /// Two squares, the second with a hole, and a two-part neighbourhood.
    pub(crate) const SQUARES: &str = r#"{"type": "FeatureCollection", "features": [
      {"type": "Feature", "properties": {"code": "west", "label": "Ouest \"W\""},
       "geometry": {"type": "Polygon", "coordinates": [[[0,0],[1,0],[1,1],[0,1],[0,0]]]}},
      {"type": "Feature", "properties": {"code": "east", "label": "Est"},
       "geometry": {"type": "Polygon", "coordinates": [[[1,0],[2,0],[2,1],[1,1],[1,0]],
         [[1.25,0.25],[1.25,0.75],[1.75,0.75],[1.75,0.25],[1.25,0.25]]]}},
      {"type": "Feature", "properties": {"code": "isles", "label": "Îles"},
       "geometry": {"type": "MultiPolygon", "coordinates": [
         [[[3,0],[4,0],[4,1],[3,0]]], [[[5,0],[6,0],[6,1],[5,0]]]]}}]}"#;

    fn areas() -> Neighbourhoods {
        Neighbourhoods::from_slice(
            SQUARES.as_bytes(),
            "squares",
            &Properties::new("code", "label"),
        )
        .expect("valid polygons")
    }

    #[test]
    fn polygons_render_as_geojson_with_their_aggregate_or_null() {
        let areas = areas();
        let shapes = Shapes::new(&areas);
        assert_eq!(shapes.ids().collect::<Vec<_>>(), ["west", "east", "isles"]);
        let mut live = Live::new(Topics::default(), shapes.ids().map(str::to_owned), 10);
        let aggregate = r#"{"v":1,"neighbourhood_id":"east","name":"Est","window_start":"2025-11-24T10:00:00Z","window_end":"2025-11-24T10:15:00Z","emitted_at":"2025-11-24T10:15:05Z","quantities":{}}"#;
        live.apply(
            "garonne/v1/neighbourhoods/east/aggregate",
            aggregate.as_bytes(),
            Timestamp::parse("2025-11-24T10:20:00Z").expect("valid"),
            &mut crate::live::Fanout::default(),
        )
        .expect("applied");

        let value: serde_json::Value =
            serde_json::from_str(&shapes.render(&live)).expect("valid JSON");
        assert_eq!(value["type"], "FeatureCollection");
        let features = value["features"].as_array().expect("features");
        assert_eq!(features.len(), 3);
        let west = &features[0];
        assert_eq!(west["id"], "west");
        assert_eq!(west["properties"]["name"], "Ouest \"W\"");
        assert_eq!(west["properties"]["aggregate"], serde_json::Value::Null);
        assert_eq!(west["geometry"]["type"], "Polygon");
        assert_eq!(
            west["geometry"]["coordinates"],
            serde_json::json!([[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]])
        );
        let east = &features[1];
        assert_eq!(
            east["geometry"]["coordinates"].as_array().map(Vec::len),
            Some(2),
            "hole kept"
        );
        assert_eq!(east["properties"]["aggregate"]["neighbourhood_id"], "east");
        let isles = &features[2];
        assert_eq!(isles["geometry"]["type"], "MultiPolygon");
        assert_eq!(
            isles["geometry"]["coordinates"].as_array().map(Vec::len),
            Some(2)
        );
    }
}

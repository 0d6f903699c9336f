//! Reading a GeoJSON FeatureCollection of Polygon/MultiPolygon features (RFC 7946, WGS84).
//!
//! Only what neighbourhoods need is read: each feature's id, name and area. It is hand-written on
//! `serde_json::Value` rather than taken from the `geojson` crate so that every error can name the
//! feature at fault and nothing is skipped: a feature that is not a polygon is an error.

use geo::{Coord, LineString, MultiPolygon, Polygon};
use serde_json::{Map, Value};

use crate::error::{GeometryProblem, LoadError};
use crate::properties::{Properties, resolve};

/// One feature, as read.
pub(crate) struct RawFeature {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) polygon: MultiPolygon<f64>,
}

/// The features of a file, and the property names that were used.
pub(crate) struct RawLayer {
    pub(crate) id_property: String,
    pub(crate) name_property: String,
    pub(crate) features: Vec<RawFeature>,
}

/// Parse `bytes`; `file` names the source in errors.
pub(crate) fn parse(bytes: &[u8], file: &str, given: &Properties) -> Result<RawLayer, LoadError> {
    let root: Value = serde_json::from_slice(bytes).map_err(|source| LoadError::Json {
        file: file.to_owned(),
        line: source.line(),
        column: source.column(),
        source,
    })?;
    let not_collection = |found: String| LoadError::NotFeatureCollection {
        file: file.to_owned(),
        found,
    };
    let features = match &root {
        Value::Object(o) => match o.get("type").and_then(Value::as_str) {
            Some("FeatureCollection") => match o.get("features") {
                Some(Value::Array(features)) => features,
                _ => {
                    return Err(not_collection(
                        "a FeatureCollection without a \"features\" array".into(),
                    ));
                }
            },
            Some(kind) => return Err(not_collection(format!("a GeoJSON {kind}"))),
            None => return Err(not_collection("an object without \"type\"".into())),
        },
        other => return Err(not_collection(describe(other).into())),
    };
    if features.is_empty() {
        return Err(LoadError::NoFeatures {
            file: file.to_owned(),
        });
    }

    let empty = Map::new();
    let properties_of = |index: usize| {
        feature_properties(&features[index], &empty).ok_or_else(|| LoadError::NotAFeature {
            file: file.to_owned(),
            feature: index,
        })
    };

    let first = properties_of(0)?;
    let (id_property, name_property) =
        resolve(given, |p| first.contains_key(p)).ok_or_else(|| LoadError::UnknownLayer {
            file: file.to_owned(),
            available: first.keys().cloned().collect(),
        })?;

    let mut out = Vec::with_capacity(features.len());
    for (index, feature) in features.iter().enumerate() {
        let properties = properties_of(index)?;
        let text = |property: &str| -> Result<String, LoadError> {
            let value = properties
                .get(property)
                .ok_or_else(|| LoadError::MissingProperty {
                    file: file.to_owned(),
                    feature: index,
                    property: property.to_owned(),
                    available: properties.keys().cloned().collect(),
                })?;
            scalar_text(value).ok_or_else(|| LoadError::BadProperty {
                file: file.to_owned(),
                feature: index,
                property: property.to_owned(),
                found: describe(value),
            })
        };
        let id = text(&id_property)?;
        if let Some(reason) = topic_level_problem(&id) {
            return Err(LoadError::InvalidId {
                file: file.to_owned(),
                feature: index,
                id,
                reason,
            });
        }
        let name = text(&name_property)?;
        let polygon = geometry(feature.get("geometry")).map_err(|problem| LoadError::Geometry {
            file: file.to_owned(),
            feature: index,
            problem,
        })?;
        out.push(RawFeature { id, name, polygon });
    }
    Ok(RawLayer {
        id_property,
        name_property,
        features: out,
    })
}

/// The properties of a Feature object, `None` if `feature` is not one. RFC 7946 allows
/// `"properties": null`; such a feature has no id, which the caller reports.
fn feature_properties<'a>(
    feature: &'a Value,
    empty: &'a Map<String, Value>,
) -> Option<&'a Map<String, Value>> {
    let obj = feature.as_object()?;
    (obj.get("type").and_then(Value::as_str) == Some("Feature")).then(|| {
        obj.get("properties")
            .and_then(Value::as_object)
            .unwrap_or(empty)
    })
}

/// A string as is; a number as written, except that a whole float loses its ".0" so that
/// `31555` and `31555.0` give the same id.
fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => {
            if n.is_i64() || n.is_u64() {
                return Some(n.to_string());
            }
            let f = n.as_f64()?;
            // 2^53: beyond it an f64 no longer holds every integer, keep the float's text.
            if f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0 {
                #[allow(clippy::cast_possible_truncation)]
                return Some((f as i64).to_string());
            }
            Some(n.to_string())
        }
        _ => None,
    }
}

/// Why `id` cannot be one MQTT topic level, if it cannot (MQTT 3.1.1 §4.7: '/' separates levels,
/// '+' and '#' are wildcards, U+0000 is forbidden; an empty level would make the topic ambiguous).
pub(crate) fn topic_level_problem(id: &str) -> Option<&'static str> {
    if id.is_empty() {
        Some("it is empty")
    } else if id.contains('/') {
        Some("it contains '/'")
    } else if id.contains('+') {
        Some("it contains the wildcard '+'")
    } else if id.contains('#') {
        Some("it contains the wildcard '#'")
    } else if id.contains('\0') {
        Some("it contains U+0000")
    } else {
        None
    }
}

fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a JSON array",
        Value::Object(_) => "an object",
    }
}

fn geometry(geometry: Option<&Value>) -> Result<MultiPolygon<f64>, GeometryProblem> {
    let Some(obj) = geometry.and_then(Value::as_object) else {
        return Err(GeometryProblem::Missing);
    };
    let coordinates = obj.get("coordinates");
    match obj.get("type").and_then(Value::as_str) {
        Some("Polygon") => Ok(MultiPolygon::new(vec![polygon(coordinates, "Polygon")?])),
        Some("MultiPolygon") => {
            let malformed = GeometryProblem::Malformed {
                kind: "MultiPolygon",
                detail: "\"coordinates\" is not an array of polygons",
            };
            let parts = coordinates.and_then(Value::as_array).ok_or(malformed)?;
            if parts.is_empty() {
                return Err(GeometryProblem::Empty);
            }
            let parts = parts
                .iter()
                .map(|p| polygon(Some(p), "MultiPolygon"))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(MultiPolygon::new(parts))
        }
        Some(other) => Err(GeometryProblem::Unsupported {
            kind: other.to_owned(),
        }),
        None => Err(GeometryProblem::Malformed {
            kind: "geometry",
            detail: "it has no \"type\"",
        }),
    }
}

/// A polygon: an exterior ring then its holes (geo closes rings and tests holes itself).
fn polygon(rings: Option<&Value>, kind: &'static str) -> Result<Polygon<f64>, GeometryProblem> {
    let (exterior, holes) = rings
        .and_then(Value::as_array)
        .and_then(|r| r.split_first())
        .ok_or(GeometryProblem::Malformed {
            kind,
            detail: "a polygon is not a non-empty array of linear rings",
        })?;
    let exterior = ring(exterior, kind)?;
    let holes = holes
        .iter()
        .map(|r| ring(r, kind))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Polygon::new(exterior, holes))
}

fn ring(ring: &Value, kind: &'static str) -> Result<LineString<f64>, GeometryProblem> {
    let positions = ring.as_array().ok_or(GeometryProblem::Malformed {
        kind,
        detail: "a linear ring is not an array of positions",
    })?;
    if positions.len() < 4 {
        return Err(GeometryProblem::RingTooShort {
            positions: positions.len(),
        });
    }
    positions
        .iter()
        .map(|p| position(p, kind))
        .collect::<Result<Vec<_>, _>>()
        .map(LineString::new)
}

fn position(position: &Value, kind: &'static str) -> Result<Coord<f64>, GeometryProblem> {
    let malformed = GeometryProblem::Malformed {
        kind,
        detail: "a position is not an array of 2 or 3 numbers",
    };
    let numbers = position.as_array().ok_or(malformed.clone())?;
    // A third number (altitude) is allowed by RFC 7946 and ignored.
    let (Some(lon), Some(lat)) = (
        numbers.first().and_then(Value::as_f64),
        numbers.get(1).and_then(Value::as_f64),
    ) else {
        return Err(malformed);
    };
    if !(-180.0..=180.0).contains(&lon) || !(-90.0..=90.0).contains(&lat) {
        return Err(GeometryProblem::NotLonLat { lon, lat });
    }
    Ok(Coord { x: lon, y: lat })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SQUARE: &str = r#"{"type": "Polygon", "coordinates": [[[0,0],[1,0],[1,1],[0,1],[0,0]]]}"#;

    fn feature(properties: &str, geometry: &str) -> String {
        format!(r#"{{"type": "Feature", "properties": {properties}, "geometry": {geometry}}}"#)
    }

    fn collection(features: &[String]) -> String {
        format!(
            r#"{{"type": "FeatureCollection", "features": [{}]}}"#,
            features.join(",")
        )
    }

    fn quartier(id: &str) -> String {
        feature(
            &format!(r#"{{"quartier": {id}, "nom_quartier": "Q"}}"#),
            SQUARE,
        )
    }

    fn with_geometry(geometry: &str) -> String {
        collection(&[feature(r#"{"quartier": 1, "nom_quartier": "Q"}"#, geometry)])
    }

    fn load_error(json: &str, properties: &Properties) -> String {
        match parse(json.as_bytes(), "quartiers.geojson", properties) {
            Ok(_) => panic!("expected an error for {json}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn errors_name_the_file_and_the_feature() {
        let detect = Properties::detect();
        let cases: Vec<(&str, String, String)> = vec![
            (
                "invalid JSON gives line and column",
                "{\n  \"type\": \"FeatureCollection\",\n  \"features\": [\n}".into(),
                "quartiers.geojson: invalid JSON at line 4, column 1".into(),
            ),
            (
                "top-level array",
                "[]".into(),
                "quartiers.geojson: expected a GeoJSON FeatureCollection, found a JSON array".into(),
            ),
            (
                "a single Feature",
                quartier("1"),
                "quartiers.geojson: expected a GeoJSON FeatureCollection, found a GeoJSON Feature"
                    .into(),
            ),
            (
                "no features array",
                r#"{"type": "FeatureCollection"}"#.into(),
                "quartiers.geojson: expected a GeoJSON FeatureCollection, found a \
                 FeatureCollection without a \"features\" array"
                    .into(),
            ),
            (
                "no features",
                collection(&[]),
                "quartiers.geojson: the FeatureCollection has no features".into(),
            ),
            (
                "unknown layer lists the first feature's properties",
                collection(&[feature(r#"{"a": 1, "b": "x", "c": null}"#, SQUARE)]),
                "quartiers.geojson: cannot tell which properties hold the neighbourhood id and \
                 name (the first feature has: a, b, c; known layers use quartier/nom_quartier, \
                 grd_quart/libelle_des_grands_quartiers, code_insee/libelle); \
                 pass --id-property and --name-property"
                    .into(),
            ),
            (
                "a later feature without the id property",
                collection(&[
                    quartier("1"),
                    quartier("2"),
                    quartier("3"),
                    feature(r#"{"a": 1, "b": 2, "c": 3}"#, SQUARE),
                ]),
                "quartiers.geojson: feature 3 has no property \"quartier\" (it has: a, b, c)"
                    .into(),
            ),
            (
                "null properties",
                collection(&[quartier("1"), feature("null", SQUARE)]),
                "quartiers.geojson: feature 1 has no property \"quartier\" (it has: no properties)"
                    .into(),
            ),
            (
                "a missing name",
                collection(&[quartier("1"), feature(r#"{"quartier": 2, "nom": "Q"}"#, SQUARE)]),
                "quartiers.geojson: feature 1 has no property \"nom_quartier\" (it has: quartier, nom)"
                    .into(),
            ),
            (
                "an id that is null",
                collection(&[quartier("1"), quartier("null")]),
                "quartiers.geojson: feature 1 has property \"quartier\" = null, \
                 expected a string or a number"
                    .into(),
            ),
            (
                "an id with a topic separator",
                collection(&[quartier(r#""a/b""#)]),
                "quartiers.geojson: feature 0 has id \"a/b\", which cannot be an MQTT topic level \
                 because it contains '/' (choose another --id-property)"
                    .into(),
            ),
            (
                "an empty id",
                collection(&[quartier(r#""""#)]),
                "quartiers.geojson: feature 0 has id \"\", which cannot be an MQTT topic level \
                 because it is empty (choose another --id-property)"
                    .into(),
            ),
            (
                "an id with a wildcard",
                collection(&[quartier(r#""north#2""#)]),
                "quartiers.geojson: feature 0 has id \"north#2\", which cannot be an MQTT topic \
                 level because it contains the wildcard '#' (choose another --id-property)"
                    .into(),
            ),
            (
                "not a Feature",
                collection(&[quartier("1"), "42".into()]),
                "quartiers.geojson: feature 1 is not a GeoJSON Feature object".into(),
            ),
            (
                "no geometry",
                with_geometry("null"),
                "quartiers.geojson: feature 0 has no geometry".into(),
            ),
            (
                "a Point is not an area",
                with_geometry(r#"{"type": "Point", "coordinates": [1.44, 43.6]}"#),
                "quartiers.geojson: feature 0 has a Point geometry, expected Polygon or MultiPolygon"
                    .into(),
            ),
            (
                "a GeometryCollection is refused, not searched",
                with_geometry(r#"{"type": "GeometryCollection", "geometries": []}"#),
                "quartiers.geojson: feature 0 has a GeometryCollection geometry, \
                 expected Polygon or MultiPolygon"
                    .into(),
            ),
            (
                "an empty MultiPolygon",
                with_geometry(r#"{"type": "MultiPolygon", "coordinates": []}"#),
                "quartiers.geojson: feature 0 has an empty geometry".into(),
            ),
            (
                "a Polygon without rings",
                with_geometry(r#"{"type": "Polygon", "coordinates": []}"#),
                "quartiers.geojson: feature 0 has a malformed Polygon: \
                 a polygon is not a non-empty array of linear rings"
                    .into(),
            ),
            (
                "a position that is not numbers",
                with_geometry(
                    r#"{"type": "Polygon", "coordinates": [[[0,0],[1,"0"],[1,1],[0,0]]]}"#,
                ),
                "quartiers.geojson: feature 0 has a malformed Polygon: \
                 a position is not an array of 2 or 3 numbers"
                    .into(),
            ),
            (
                "a ring of 3 positions",
                with_geometry(r#"{"type": "Polygon", "coordinates": [[[0,0],[1,0],[0,0]]]}"#),
                "quartiers.geojson: feature 0 has a ring of 3 positions, \
                 a linear ring needs at least 4"
                    .into(),
            ),
            (
                "projected coordinates (Lambert-93)",
                with_geometry(
                    r#"{"type": "Polygon", "coordinates": [[[574000,6280000],[575000,6280000],[575000,6281000],[574000,6280000]]]}"#,
                ),
                "quartiers.geojson: feature 0 has the position [574000, 6280000], which is not \
                 WGS84 longitude/latitude (reproject the file to EPSG:4326)"
                    .into(),
            ),
        ];
        for (what, json, expected) in cases {
            assert_eq!(load_error(&json, &detect), expected, "{what}");
        }
    }

    #[test]
    fn ids_and_names_from_strings_and_numbers() {
        // (value in the file, id as stored)
        let cases = [
            ("15", "15"),
            ("31555", "31555"),
            ("31555.0", "31555"),
            ("-3", "-3"),
            ("2.5", "2.5"),
            (r#""3155511""#, "3155511"),
            (r#""Saint-Cyprien""#, "Saint-Cyprien"),
            (r#""007""#, "007"),
        ];
        for (value, expected) in cases {
            let json = collection(&[quartier(value)]);
            let layer =
                parse(json.as_bytes(), "t.geojson", &Properties::detect()).expect("valid layer");
            assert_eq!(layer.features[0].id, expected, "id {value}");
        }
    }

    #[test]
    fn polygon_holes_multipolygon_parts_and_altitude_are_read() {
        let json = collection(&[
            feature(
                r#"{"quartier": 1, "nom_quartier": "ring"}"#,
                r#"{"type": "Polygon", "coordinates": [
                    [[0,0],[4,0],[4,4],[0,4],[0,0]], [[1,1],[3,1],[3,3],[1,3],[1,1]]]}"#,
            ),
            feature(
                r#"{"quartier": 2, "nom_quartier": "two parts"}"#,
                r#"{"type": "MultiPolygon", "coordinates": [
                    [[[10,0,150],[11,0,150],[11,1,150],[10,0,150]]],
                    [[[12,0],[13,0],[13,1],[12,0]]]]}"#,
            ),
        ]);
        let layer = parse(json.as_bytes(), "t.geojson", &Properties::detect()).expect("valid");
        let ring = &layer.features[0].polygon;
        assert_eq!(ring.0.len(), 1);
        assert_eq!(ring.0[0].interiors().len(), 1, "the hole is kept");
        let parts = &layer.features[1].polygon;
        assert_eq!(parts.0.len(), 2);
        assert_eq!(parts.0[0].exterior().0[1], Coord { x: 11.0, y: 0.0 });
        assert_eq!(layer.features[1].name, "two parts");
    }

    #[test]
    fn topic_levels() {
        let cases = [
            ("15", None),
            ("3155511", None),
            ("saint-cyprien_2", None),
            ("Île du Ramier", None),
            ("", Some("it is empty")),
            ("a/b", Some("it contains '/'")),
            ("+", Some("it contains the wildcard '+'")),
            ("#", Some("it contains the wildcard '#'")),
            ("a\0b", Some("it contains U+0000")),
        ];
        for (id, expected) in cases {
            assert_eq!(topic_level_problem(id), expected, "{id:?}");
        }
    }
}

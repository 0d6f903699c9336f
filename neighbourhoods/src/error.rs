//! Why a neighbourhood file could not be loaded.
//!
//! Every message names the file, and the feature (its 0-based position in `features`) when one
//! feature is at fault, so that a user can open the file and find it.

use std::path::PathBuf;

use crate::properties::KNOWN_LAYERS;

/// A neighbourhood file that cannot be used as it is.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read {}", .path.display())]
    Read {
        /// The path that was given.
        path: PathBuf,
        /// Why reading failed.
        #[source]
        source: std::io::Error,
    },

    /// The file is not valid JSON.
    #[error("{file}: invalid JSON at line {line}, column {column}")]
    Json {
        /// The file name (or the source name given to `from_slice`).
        file: String,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
        /// What the JSON parser found.
        #[source]
        source: serde_json::Error,
    },

    /// The top-level value is not a GeoJSON FeatureCollection.
    #[error("{file}: expected a GeoJSON FeatureCollection, found {found}")]
    NotFeatureCollection {
        /// The file name.
        file: String,
        /// What was found instead, e.g. `a JSON array` or `a GeoJSON Feature`.
        found: String,
    },

    /// The FeatureCollection has no features: there would be nothing to locate points in.
    #[error("{file}: the FeatureCollection has no features")]
    NoFeatures {
        /// The file name.
        file: String,
    },

    /// An element of `features` is not a Feature object.
    #[error("{file}: feature {feature} is not a GeoJSON Feature object")]
    NotAFeature {
        /// The file name.
        file: String,
        /// 0-based index in `features`.
        feature: usize,
    },

    /// The id and name properties were not given and the file is not a known layer.
    #[error(
        "{file}: cannot tell which properties hold the neighbourhood id and name \
         (the first feature has: {}; known layers use {}); \
         pass --id-property and --name-property",
        list(.available),
        known_layers()
    )]
    UnknownLayer {
        /// The file name.
        file: String,
        /// The property names of the first feature, in file order.
        available: Vec<String>,
    },

    /// A feature lacks the id or the name property.
    #[error(
        "{file}: feature {feature} has no property \"{property}\" (it has: {})",
        list(.available)
    )]
    MissingProperty {
        /// The file name.
        file: String,
        /// 0-based index in `features`.
        feature: usize,
        /// The property that was looked for.
        property: String,
        /// The property names this feature has, in file order.
        available: Vec<String>,
    },

    /// The id or name property is neither a string nor a number.
    #[error(
        "{file}: feature {feature} has property \"{property}\" = {found}, \
         expected a string or a number"
    )]
    BadProperty {
        /// The file name.
        file: String,
        /// 0-based index in `features`.
        feature: usize,
        /// The property.
        property: String,
        /// What it holds: `null`, `a boolean`, `an array` or `an object`.
        found: &'static str,
    },

    /// The id cannot be used as one level of an MQTT topic
    /// (`garonne/v1/neighbourhoods/{id}/aggregate`).
    #[error(
        "{file}: feature {feature} has id {id:?}, which cannot be an MQTT topic level \
         because {reason} (choose another --id-property)"
    )]
    InvalidId {
        /// The file name.
        file: String,
        /// 0-based index in `features`.
        feature: usize,
        /// The id as read.
        id: String,
        /// Why it is rejected, e.g. `it contains '/'`.
        reason: &'static str,
    },

    /// Two features have the same id.
    #[error("{file}: features {first} and {second} both have id {id:?}")]
    DuplicateId {
        /// The file name.
        file: String,
        /// The shared id.
        id: String,
        /// 0-based index of the first feature with this id.
        first: usize,
        /// 0-based index of the second one.
        second: usize,
    },

    /// A feature's geometry is missing, not a polygon, or malformed.
    #[error("{file}: feature {feature} {problem}")]
    Geometry {
        /// The file name.
        file: String,
        /// 0-based index in `features`.
        feature: usize,
        /// What is wrong with it.
        problem: GeometryProblem,
    },
}

/// What is wrong with a feature's geometry. Displayed after "feature N".
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum GeometryProblem {
    /// `geometry` is absent or null.
    #[error("has no geometry")]
    Missing,
    /// A geometry type other than Polygon and MultiPolygon (a neighbourhood is an area).
    #[error("has a {kind} geometry, expected Polygon or MultiPolygon")]
    Unsupported {
        /// The GeoJSON `type` found.
        kind: String,
    },
    /// The coordinates do not have the shape RFC 7946 requires.
    #[error("has a malformed {kind}: {detail}")]
    Malformed {
        /// `Polygon` or `MultiPolygon`.
        kind: &'static str,
        /// Which part is wrong.
        detail: &'static str,
    },
    /// A MultiPolygon without any polygon.
    #[error("has an empty geometry")]
    Empty,
    /// A linear ring with fewer than 4 positions (RFC 7946 §3.1.6).
    #[error("has a ring of {positions} positions, a linear ring needs at least 4")]
    RingTooShort {
        /// How many positions the ring has.
        positions: usize,
    },
    /// A position outside longitude -180..180 / latitude -90..90: the file is projected
    /// (Lambert-93, Web Mercator, ...) or has lat/lon swapped beyond range.
    #[error(
        "has the position [{lon}, {lat}], which is not WGS84 longitude/latitude \
         (reproject the file to EPSG:4326)"
    )]
    NotLonLat {
        /// First coordinate of the position.
        lon: f64,
        /// Second coordinate of the position.
        lat: f64,
    },
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "no properties".to_owned()
    } else {
        names.join(", ")
    }
}

fn known_layers() -> String {
    KNOWN_LAYERS
        .iter()
        .map(|l| format!("{}/{}", l.id, l.name))
        .collect::<Vec<_>>()
        .join(", ")
}

//! Neighbourhood polygons: load them from GeoJSON, find the neighbourhood of a point, place
//! points inside a neighbourhood.
//!
//! A neighbourhood map is only as good as the answer to "which neighbourhood is this sensor
//! in?". The realtime service asks it once per sensor location to aggregate readings per
//! neighbourhood (published on `garonne/v1/neighbourhoods/{id}/aggregate`, so an id must be one
//! MQTT topic level); the simulator asks the reverse, a random point inside a neighbourhood, to
//! place virtual sensors. Both use this crate, so they agree on every border. It does no I/O
//! beyond reading the file in [`Neighbourhoods::load`].
//!
//! Any FeatureCollection of Polygon/MultiPolygon features in WGS84 longitude/latitude works, with
//! the id and name properties given ([`Properties`]) or detected for the Toulouse layers
//! ([`KNOWN_LAYERS`]: the 20 quartiers de démocratie locale, the 60 INSEE grands quartiers,
//! the 37 communes of Toulouse Métropole). Nothing is skipped silently: a feature without a
//! usable id, name or polygon is an error naming the file and the feature.
//!
//! # Border rule
//! A point strictly inside one neighbourhood belongs to it. A point on a border (an edge or a
//! vertex shared by several neighbourhoods) belongs to the first of them in file order, the one
//! with the smallest index. A point outside every neighbourhood belongs to none: `locate`
//! returns `None` and the caller counts it. Details on [`Neighbourhoods`].
//!
//! ```
//! use garonne_neighbourhoods::{Neighbourhoods, Properties};
//!
//! // Two unit squares sharing the edge lon = 1.
//! let geojson = br#"{"type": "FeatureCollection", "features": [
//!   {"type": "Feature", "properties": {"code": "west", "label": "West"},
//!    "geometry": {"type": "Polygon", "coordinates": [[[0,0],[1,0],[1,1],[0,1],[0,0]]]}},
//!   {"type": "Feature", "properties": {"code": "east", "label": "East"},
//!    "geometry": {"type": "Polygon", "coordinates": [[[1,0],[2,0],[2,1],[1,1],[1,0]]]}}]}"#;
//! let set = Neighbourhoods::from_slice(geojson, "squares.geojson", &Properties::new("code", "label"))?;
//!
//! assert_eq!(set.locate(1.5, 0.5).map(|i| set[i].id()), Some("east"));
//! assert_eq!(set.locate(1.0, 0.5), Some(0)); // on the shared edge: the first in file order
//! assert_eq!(set.locate(5.0, 5.0), None);
//! # Ok::<(), garonne_neighbourhoods::LoadError>(())
//! ```
//!
//! # Layout
//! - [`neighbourhoods`]: [`Neighbourhoods`] (load, look up, `locate`, `random_point_in`) and
//!   [`Neighbourhood`].
//! - [`properties`]: which properties hold the id and name; the known Toulouse layers.
//! - [`error`]: [`LoadError`] and [`GeometryProblem`].
//! - `geojson` (private): the FeatureCollection reader.

pub mod error;
mod geojson;
pub mod neighbourhoods;
pub mod properties;

pub use error::{GeometryProblem, LoadError};
pub use neighbourhoods::{Neighbourhood, Neighbourhoods};
pub use properties::{KNOWN_LAYERS, KnownLayer, Properties};

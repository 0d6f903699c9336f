//! The dataset catalogue: `data/datasets.toml`, compiled into the binary.
//!
//! The catalogue says which open-data datasets Garonne uses, in which export format, and under
//! which file name each one lands in the data directory. It is checked when parsed (unique ids
//! and file names, file names that stay inside the data directory), so a bad edit fails the
//! crate's tests rather than a user's download.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::{Component, Path};

use serde::Deserialize;

use super::date::DateWindow;

/// The text of `data/datasets.toml`, as compiled in.
const EMBEDDED: &str = include_str!("../../../data/datasets.toml");

/// The field a readings dataset is filtered and sorted on when it does not name another.
pub const DEFAULT_TIME_FIELD: &str = "heure_utc";

/// Where a dataset's export lives, below the portal's base URL.
const EXPORTS_PATH: &str = "/api/explore/v2.1/catalog/datasets";

/// The catalogue of open-data datasets (`data/datasets.toml`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalogue {
    /// The portal the datasets come from, such as `https://data.toulouse-metropole.fr`.
    pub base_url: String,
    /// The licence of every dataset, as an SPDX id (`ODbL-1.0`).
    pub licence: String,
    /// The licence text.
    pub licence_url: String,
    /// The attribution the licence requires (`© Toulouse Métropole`).
    pub attribution: String,
    /// The datasets, in download order: station catalogue, polygons, then readings.
    #[serde(rename = "dataset")]
    pub datasets: Vec<Dataset>,
}

/// One open-data dataset and where its file goes.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dataset {
    /// The portal's dataset id, such as `quartiers-de-democratie-locale`.
    pub id: String,
    /// The portal's title.
    pub title: String,
    /// The export format asked of the portal.
    pub format: ExportFormat,
    /// The file's path relative to the data directory, `/`-separated.
    pub file: String,
    /// Whether this is a weather-station readings dataset, downloaded for a date window only.
    pub readings: bool,
    /// For readings: the UTC timestamp field to filter and sort on (default `heure_utc`).
    #[serde(default)]
    pub time_field: Option<String>,
}

/// An export format of the Opendatasoft Explore API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    /// A plain JSON array of records.
    Json,
    /// A GeoJSON FeatureCollection.
    Geojson,
}

impl ExportFormat {
    /// The name in the export URL (`json`, `geojson`).
    pub fn as_str(self) -> &'static str {
        match self {
            ExportFormat::Json => "json",
            ExportFormat::Geojson => "geojson",
        }
    }
}

/// Why the catalogue text is not a valid catalogue.
#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    /// The text is not TOML, or has missing or unknown keys.
    #[error("the dataset catalogue does not parse")]
    Toml(#[source] toml::de::Error),
    /// Two datasets have the same id.
    #[error("dataset {id:?} is listed twice")]
    DuplicateId {
        /// The repeated id.
        id: String,
    },
    /// Two datasets would write the same file.
    #[error("datasets {first:?} and {second:?} both write {file:?}")]
    DuplicateFile {
        /// The first dataset writing the file.
        first: String,
        /// The second one.
        second: String,
        /// The file.
        file: String,
    },
    /// An id would not be a single, plain URL path segment.
    #[error("dataset id {id:?} may only hold ASCII letters, digits, '-' and '_'")]
    BadId {
        /// The id.
        id: String,
    },
    /// A file name is empty, absolute, or leaves the data directory.
    #[error("dataset {id}: file {file:?} must be a relative path inside the data directory")]
    BadFile {
        /// The dataset.
        id: String,
        /// The file name.
        file: String,
    },
    /// A time field on a dataset that is not readings, or one that is not a field name.
    #[error(
        "dataset {id}: time_field {field:?} must be a field name (a-z, 0-9, '_') on a readings dataset"
    )]
    BadTimeField {
        /// The dataset.
        id: String,
        /// The field.
        field: String,
    },
}

impl Catalogue {
    /// The catalogue compiled in from `data/datasets.toml`.
    pub fn embedded() -> Result<Catalogue, CatalogueError> {
        Catalogue::parse(EMBEDDED)
    }

    /// Parses and checks a catalogue.
    pub fn parse(text: &str) -> Result<Catalogue, CatalogueError> {
        let catalogue: Catalogue = toml::from_str(text).map_err(CatalogueError::Toml)?;
        catalogue.check()?;
        Ok(catalogue)
    }

    /// The dataset with this id.
    pub fn get(&self, id: &str) -> Option<&Dataset> {
        self.datasets.iter().find(|d| d.id == id)
    }

    fn check(&self) -> Result<(), CatalogueError> {
        let mut ids = HashSet::new();
        let mut files: Vec<(&str, &str)> = Vec::new();
        for d in &self.datasets {
            let id_ok = !d.id.is_empty()
                && d.id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !id_ok {
                return Err(CatalogueError::BadId { id: d.id.clone() });
            }
            if !ids.insert(d.id.as_str()) {
                return Err(CatalogueError::DuplicateId { id: d.id.clone() });
            }
            if !is_plain_relative(&d.file) {
                return Err(CatalogueError::BadFile {
                    id: d.id.clone(),
                    file: d.file.clone(),
                });
            }
            // Case-insensitive: two names differing by case are one file on macOS and Windows.
            if let Some((first, _)) = files.iter().find(|(_, f)| f.eq_ignore_ascii_case(&d.file)) {
                return Err(CatalogueError::DuplicateFile {
                    first: (*first).to_owned(),
                    second: d.id.clone(),
                    file: d.file.clone(),
                });
            }
            files.push((&d.id, &d.file));
            if let Some(field) = &d.time_field {
                let field_ok = !field.is_empty()
                    && field
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
                if !d.readings || !field_ok {
                    return Err(CatalogueError::BadTimeField {
                        id: d.id.clone(),
                        field: field.clone(),
                    });
                }
            }
        }
        Ok(())
    }
}

/// A `/`-separated relative path of plain names: no root, no `..`, no `.`, no empty segment.
fn is_plain_relative(file: &str) -> bool {
    !file.is_empty()
        && !file.contains('\\')
        && file.split('/').all(|segment| !segment.is_empty())
        && Path::new(file)
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
        && !file.split('/').any(|s| s == "." || s == "..")
}

impl Dataset {
    /// The timestamp field a readings dataset is filtered and sorted on.
    pub fn time_field(&self) -> &str {
        self.time_field.as_deref().unwrap_or(DEFAULT_TIME_FIELD)
    }

    /// The export URL of this dataset on the portal at `base_url` (no trailing `/` needed).
    ///
    /// A readings dataset gets the date window as an ODSQL `where` (`FROM` included, `TO`
    /// excluded), sorted by time, timestamps in UTC:
    /// `?where=heure_utc%20%3E%3D%20date%272025-11-24%27%20and%20...&order_by=heure_utc&timezone=UTC`.
    /// Other datasets ignore `window`.
    pub fn export_url(&self, base_url: &str, window: DateWindow) -> String {
        let mut url = format!(
            "{}{EXPORTS_PATH}/{}/exports/{}",
            base_url.trim_end_matches('/'),
            self.id,
            self.format.as_str()
        );
        if self.readings {
            let field = self.time_field();
            let filter = format!(
                "{field} >= date'{}' and {field} < date'{}'",
                window.from, window.to
            );
            url.push_str("?where=");
            url.push_str(&encode_query_value(&filter));
            url.push_str("&order_by=");
            url.push_str(&encode_query_value(field));
            url.push_str("&timezone=UTC");
        }
        url
    }
}

/// Percent-encodes a query value: every byte but RFC 3986's unreserved ones becomes `%XX`.
///
/// Design: spaces become `%20`, not `+`, which every server reads as a space.
pub fn encode_query_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 3);
    for &b in value.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            // Writing to a String cannot fail.
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::fetch::date::Date;

    fn window(from: &str, to: &str) -> DateWindow {
        DateWindow::new(from.parse().unwrap(), to.parse().unwrap()).unwrap()
    }

    #[test]
    fn embedded_catalogue_parses_and_has_every_dataset() {
        let c = Catalogue::embedded().unwrap();
        assert_eq!(c.base_url, "https://data.toulouse-metropole.fr");
        assert_eq!(c.licence, "ODbL-1.0");
        assert_eq!(c.attribution, "© Toulouse Métropole");
        assert_eq!(c.datasets.len(), 53);
        let readings: Vec<_> = c.datasets.iter().filter(|d| d.readings).collect();
        assert_eq!(readings.len(), 49);
        for d in &readings {
            assert_eq!(d.format, ExportFormat::Json, "{}", d.id);
            assert_eq!(d.file, format!("readings/{}.json", d.id));
            assert!(d.id.contains("-station-meteo-"), "{}", d.id);
        }
        let fixed = [
            (
                "stations-meteo-en-place",
                "stations-meteo-en-place.json",
                ExportFormat::Json,
            ),
            (
                "quartiers-de-democratie-locale",
                "quartiers-de-democratie-locale.geojson",
                ExportFormat::Geojson,
            ),
            (
                "recensement-population-2015-grands-quartiers-population",
                "grands-quartiers-2015-population.geojson",
                ExportFormat::Geojson,
            ),
            (
                "communes",
                "communes-toulouse-metropole.geojson",
                ExportFormat::Geojson,
            ),
        ];
        for (id, file, format) in fixed {
            let d = c.get(id).unwrap();
            assert_eq!(
                (d.file.as_str(), d.format, d.readings),
                (file, format, false)
            );
        }
        // The non-readings datasets come first: they are fatal, so they fail before the rest.
        assert!(c.datasets[..4].iter().all(|d| !d.readings));
    }

    #[test]
    fn life_stations_filter_on_their_own_time_field() {
        let c = Catalogue::embedded().unwrap();
        let life: Vec<_> = c
            .datasets
            .iter()
            .filter(|d| d.time_field() != DEFAULT_TIME_FIELD)
            .map(|d| &d.id[..2])
            .collect();
        assert_eq!(life, ["06", "38", "63", "65"]);
    }

    #[test]
    fn export_urls_have_the_documented_shape() {
        let c = Catalogue::embedded().unwrap();
        let w = window("2025-11-24", "2025-11-26");
        assert_eq!(
            c.get("communes")
                .unwrap()
                .export_url("https://example.org/", w),
            "https://example.org/api/explore/v2.1/catalog/datasets/communes/exports/geojson"
        );
        assert_eq!(
            c.get("42-station-meteo-toulouse-parc-compans-cafarelli")
                .unwrap()
                .export_url("http://127.0.0.1:8000", w),
            "http://127.0.0.1:8000/api/explore/v2.1/catalog/datasets/\
             42-station-meteo-toulouse-parc-compans-cafarelli/exports/json\
             ?where=heure_utc%20%3E%3D%20date%272025-11-24%27%20and%20heure_utc%20%3C%20date%272025-11-26%27\
             &order_by=heure_utc&timezone=UTC"
        );
    }

    #[test]
    fn query_encoding_keeps_only_unreserved_bytes() {
        assert_eq!(encode_query_value("a-z_0.9~"), "a-z_0.9~");
        assert_eq!(
            encode_query_value("a b'<>=&+/é"),
            "a%20b%27%3C%3E%3D%26%2B%2F%C3%A9"
        );
    }

    #[test]
    fn bad_catalogues_are_refused() {
        let head = "base_url = \"x\"\nlicence = \"l\"\nlicence_url = \"u\"\nattribution = \"a\"\n";
        let one = |id: &str, file: &str, extra: &str| {
            format!(
                "[[dataset]]\nid = \"{id}\"\ntitle = \"t\"\nformat = \"json\"\nfile = \"{file}\"\n{extra}\n"
            )
        };
        let cases = [
            (one("a", "a.json", "readings = false"), "ok"),
            (one("a/b", "a.json", "readings = false"), "BadId"),
            (one("a", "../a.json", "readings = false"), "BadFile"),
            (one("a", "/etc/a.json", "readings = false"), "BadFile"),
            (one("a", "x//a.json", "readings = false"), "BadFile"),
            (one("a", "x/./a.json", "readings = false"), "BadFile"),
            (one("a", "", "readings = false"), "BadFile"),
            (
                one("a", "a.json", "readings = false\ntime_field = \"t\""),
                "BadTimeField",
            ),
            (
                one("a", "a.json", "readings = true\ntime_field = \"t t\""),
                "BadTimeField",
            ),
            (one("a", "a.json", "readings = true\nextra = 1"), "Toml"),
            (
                one("a", "a.json", "readings = false") + &one("a", "b.json", "readings = false"),
                "DuplicateId",
            ),
            (
                one("a", "a.json", "readings = false") + &one("b", "A.json", "readings = false"),
                "DuplicateFile",
            ),
        ];
        for (datasets, expected) in cases {
            let got = match Catalogue::parse(&format!("{head}{datasets}")) {
                Ok(_) => "ok",
                Err(CatalogueError::Toml(_)) => "Toml",
                Err(CatalogueError::DuplicateId { .. }) => "DuplicateId",
                Err(CatalogueError::DuplicateFile { .. }) => "DuplicateFile",
                Err(CatalogueError::BadId { .. }) => "BadId",
                Err(CatalogueError::BadFile { .. }) => "BadFile",
                Err(CatalogueError::BadTimeField { .. }) => "BadTimeField",
            };
            assert_eq!(got, expected, "{datasets}");
        }
    }

    #[test]
    fn window_dates_print_as_written() {
        let d: Date = "2025-11-24".parse().unwrap();
        assert_eq!(d.to_string(), "2025-11-24");
    }
}

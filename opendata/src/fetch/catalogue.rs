//! The dataset catalogue: `data/datasets.toml`, compiled into the binary.
//!
//! The catalogue says which open-data datasets Garonne uses, in which export format, and under
//! which file name each one lands in the data directory. It is checked when parsed (unique ids
//! and file names, file names that stay inside the data directory), so a bad edit fails the
//! crate's tests rather than a user's download.

use std::collections::HashSet;
use std::fmt::{self, Write as _};
use std::path::{Component, Path};
use std::str::FromStr;

use serde::Deserialize;

use super::date::{Date, DateWindow};

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
    /// The VélôToulouse family (`[bikes]`): exports of the same portal.
    #[serde(default)]
    pub bikes: Option<ExportFamily>,
    /// The river family (`[river]`): Hub'Eau's hydrometry API.
    #[serde(default)]
    pub river: Option<HubeauFamily>,
}

/// A family of datasets: what `garonne data fetch --family` selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    /// The weather stations: their catalogue, the polygons, their readings (the top level).
    Weather,
    /// VélôToulouse's stations and their availability (`[bikes]`).
    Bikes,
    /// The Garonne's gauges and their daily maximum heights (`[river]`).
    River,
}

impl Family {
    /// Every family, in download order.
    pub const ALL: [Family; 3] = [Family::Weather, Family::Bikes, Family::River];

    /// The name on the command line: `weather`, `bikes`, `river`.
    pub fn name(self) -> &'static str {
        match self {
            Family::Weather => "weather",
            Family::Bikes => "bikes",
            Family::River => "river",
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A family name that is none of [`Family::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown family {0:?}: expected weather, bikes or river (famille inconnue)")]
pub struct UnknownFamily(pub String);

impl FromStr for Family {
    type Err = UnknownFamily;

    fn from_str(text: &str) -> Result<Family, UnknownFamily> {
        Family::ALL
            .into_iter()
            .find(|f| f.name() == text.trim())
            .ok_or_else(|| UnknownFamily(text.to_owned()))
    }
}

/// Who publishes a family's data, under which licence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credit {
    /// The licence, as an SPDX id (`ODbL-1.0`, `etalab-2.0`).
    pub licence: String,
    /// The licence text.
    pub licence_url: String,
    /// The attribution the licence requires.
    pub attribution: String,
}

/// A family of Opendatasoft exports from the catalogue's portal (`[bikes]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportFamily {
    /// The licence, as an SPDX id.
    pub licence: String,
    /// The licence text.
    pub licence_url: String,
    /// The attribution the licence requires.
    pub attribution: String,
    /// The datasets, exported whole (`readings = false`).
    #[serde(rename = "dataset")]
    pub datasets: Vec<Dataset>,
}

/// The river family: two datasets asked of Hub'Eau's hydrometry API v2 (`[river]`), paged,
/// and written in the formats `data/fleets/river.toml` reads.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HubeauFamily {
    /// The API's host, `https://hubeau.eaufrance.fr`.
    pub base_url: String,
    /// The licence, as an SPDX id.
    pub licence: String,
    /// The licence text.
    pub licence_url: String,
    /// The attribution the licence requires.
    pub attribution: String,
    /// The gauges (`code_station`) whose daily values are asked.
    pub gauges: Vec<String>,
    /// The first day of their history (`YYYY-MM-DD`).
    pub history_from: String,
    /// Records per page asked (`size`), 1 to 20,000.
    pub page_size: u32,
    /// Days per request: the history is asked in spans this long, each paged.
    pub chunk_days: u32,
    /// The station referential, written as GeoJSON.
    pub stations: HubeauStations,
    /// The daily elaborated observations, written as `;` CSV.
    pub heights: HubeauHeights,
}

/// `[river.stations]`: the gauges in a box, from `referentiel/stations`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HubeauStations {
    /// The dataset's id in the manifest and on the command line.
    pub id: String,
    /// What it is.
    pub title: String,
    /// Where it goes, relative to the data directory.
    pub file: String,
    /// `[lon_min, lat_min, lon_max, lat_max]` (WGS84).
    pub bbox: [f64; 4],
}

/// `[river.heights]`: one elaborated quantity of the gauges, from `obs_elab`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HubeauHeights {
    /// The dataset's id in the manifest and on the command line.
    pub id: String,
    /// What it is.
    pub title: String,
    /// Where it goes, relative to the data directory.
    pub file: String,
    /// `grandeur_hydro_elab`: `HIXnJ`, the daily maximum instantaneous height (mm).
    pub grandeur: String,
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
    /// A `[bikes]` dataset marked as readings: those are exported whole.
    #[error("dataset {id}: a [bikes] dataset is exported whole; write readings = false")]
    NotWhole {
        /// The dataset.
        id: String,
    },
    /// A `[river]` setting out of its range.
    #[error("[river]: {problem}")]
    BadRiver {
        /// What is wrong.
        problem: String,
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

    /// Every dataset of every family: (family, id, file), in download order.
    pub fn entries(&self) -> Vec<(Family, &str, &str)> {
        let mut all: Vec<(Family, &str, &str)> = self
            .datasets
            .iter()
            .map(|d| (Family::Weather, d.id.as_str(), d.file.as_str()))
            .collect();
        if let Some(bikes) = &self.bikes {
            all.extend(
                bikes
                    .datasets
                    .iter()
                    .map(|d| (Family::Bikes, d.id.as_str(), d.file.as_str())),
            );
        }
        if let Some(river) = &self.river {
            all.push((Family::River, &river.stations.id, &river.stations.file));
            all.push((Family::River, &river.heights.id, &river.heights.file));
        }
        all
    }

    /// The family of dataset `id`, if the catalogue lists it.
    pub fn family_of(&self, id: &str) -> Option<Family> {
        self.entries()
            .into_iter()
            .find(|(_, i, _)| *i == id)
            .map(|(family, ..)| family)
    }

    /// The files of `family`, relative to the data directory.
    pub fn files_of(&self, family: Family) -> Vec<&str> {
        self.entries()
            .into_iter()
            .filter(|(f, ..)| *f == family)
            .map(|(.., file)| file)
            .collect()
    }

    /// Who to credit for `family`'s data.
    pub fn credit(&self, family: Family) -> Option<Credit> {
        match family {
            Family::Weather => Some(Credit {
                licence: self.licence.clone(),
                licence_url: self.licence_url.clone(),
                attribution: self.attribution.clone(),
            }),
            Family::Bikes => self.bikes.as_ref().map(|b| Credit {
                licence: b.licence.clone(),
                licence_url: b.licence_url.clone(),
                attribution: b.attribution.clone(),
            }),
            Family::River => self.river.as_ref().map(|r| Credit {
                licence: r.licence.clone(),
                licence_url: r.licence_url.clone(),
                attribution: r.attribution.clone(),
            }),
        }
    }

    fn check(&self) -> Result<(), CatalogueError> {
        let mut ids = HashSet::new();
        let mut files: Vec<(&str, &str)> = Vec::new();
        for (_, id, file) in self.entries() {
            let id_ok = !id.is_empty()
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !id_ok {
                return Err(CatalogueError::BadId { id: id.to_owned() });
            }
            if !ids.insert(id) {
                return Err(CatalogueError::DuplicateId { id: id.to_owned() });
            }
            if !is_plain_relative(file) {
                return Err(CatalogueError::BadFile {
                    id: id.to_owned(),
                    file: file.to_owned(),
                });
            }
            // Case-insensitive: two names differing by case are one file on macOS and Windows.
            if let Some((first, _)) = files.iter().find(|(_, f)| f.eq_ignore_ascii_case(file)) {
                return Err(CatalogueError::DuplicateFile {
                    first: (*first).to_owned(),
                    second: id.to_owned(),
                    file: file.to_owned(),
                });
            }
            files.push((id, file));
        }
        for d in &self.datasets {
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
        if let Some(bikes) = &self.bikes
            && let Some(d) = bikes.datasets.iter().find(|d| d.readings)
        {
            return Err(CatalogueError::NotWhole { id: d.id.clone() });
        }
        if let Some(river) = &self.river {
            river.check()?;
        }
        Ok(())
    }
}

impl HubeauFamily {
    /// The first day of the history.
    pub fn history_from(&self) -> Result<Date, CatalogueError> {
        self.history_from
            .parse()
            .map_err(|e: super::date::DateError| CatalogueError::BadRiver {
                problem: e.to_string(),
            })
    }

    fn check(&self) -> Result<(), CatalogueError> {
        let bad = |problem: &str| {
            Err(CatalogueError::BadRiver {
                problem: problem.to_owned(),
            })
        };
        self.history_from()?;
        let code_ok = |c: &String| !c.is_empty() && c.bytes().all(|b| b.is_ascii_alphanumeric());
        if self.gauges.is_empty() || !self.gauges.iter().all(code_ok) {
            return bad("gauges must be a non-empty list of station codes such as \"O200004001\"");
        }
        if !(1..=20_000).contains(&self.page_size) {
            return bad("page_size must be 1 to 20000 (Hub'Eau's largest page)");
        }
        if self.chunk_days == 0 {
            return bad("chunk_days must be at least 1");
        }
        let [lon_min, lat_min, lon_max, lat_max] = self.stations.bbox;
        if !(lon_min < lon_max && lat_min < lat_max) {
            return bad("stations.bbox must be [lon_min, lat_min, lon_max, lat_max]");
        }
        if !code_ok(&self.heights.grandeur) {
            return bad("heights.grandeur must be a grandeur_hydro_elab code such as \"HIXnJ\"");
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
    fn the_bikes_and_the_river_are_catalogued_with_their_licences() {
        let c = Catalogue::embedded().unwrap();
        let bikes = c.bikes.as_ref().unwrap();
        assert_eq!(bikes.datasets.len(), 1);
        assert_eq!(bikes.datasets[0].id, "api-velo-toulouse-temps-reel");
        assert_eq!(bikes.datasets[0].format, ExportFormat::Json);
        assert_eq!(bikes.attribution, "© JCDecaux / Toulouse Métropole");
        let river = c.river.as_ref().unwrap();
        assert_eq!(river.base_url, "https://hubeau.eaufrance.fr");
        assert_eq!(river.licence, "etalab-2.0");
        assert_eq!(river.gauges, ["O200004001", "O200008001"]);
        assert_eq!(river.heights.grandeur, "HIXnJ");
        // The files the shipped river description reads.
        assert_eq!(
            c.files_of(Family::River),
            [
                "garonne-hydrometric-stations.geojson",
                "garonne-toulouse-daily-max-water-height.csv"
            ]
        );
        assert_eq!(c.family_of("communes"), Some(Family::Weather));
        assert_eq!(c.family_of("hubeau-hydrometrie-hixnj"), Some(Family::River));
        assert_eq!(c.family_of("nope"), None);
        assert_eq!(c.entries().len(), 53 + 1 + 2);
        for family in Family::ALL {
            assert_eq!(family.name().parse::<Family>(), Ok(family));
            assert!(c.credit(family).is_some());
        }
        assert_eq!(
            "boats".parse::<Family>().unwrap_err().to_string(),
            "unknown family \"boats\": expected weather, bikes or river (famille inconnue)"
        );
    }

    #[test]
    fn bad_families_are_refused() {
        let head = "base_url = \"x\"\nlicence = \"l\"\nlicence_url = \"u\"\nattribution = \"a\"\n\
                    [[dataset]]\nid = \"w\"\ntitle = \"t\"\nformat = \"json\"\nfile = \"w.json\"\nreadings = false\n";
        let credit = "licence = \"l\"\nlicence_url = \"u\"\nattribution = \"a\"\n";
        let bikes = |readings: bool, file: &str| {
            format!(
                "[bikes]\n{credit}[[bikes.dataset]]\nid = \"b\"\ntitle = \"t\"\nformat = \"json\"\nfile = \"{file}\"\nreadings = {readings}\n"
            )
        };
        let river = |gauges: &str, page_size: u32, from: &str, file: &str| {
            format!(
                "[river]\nbase_url = \"x\"\n{credit}gauges = {gauges}\nhistory_from = \"{from}\"\npage_size = {page_size}\nchunk_days = 10\n\
                 [river.stations]\nid = \"s\"\ntitle = \"t\"\nfile = \"s.geojson\"\nbbox = [1.0, 43.0, 2.0, 44.0]\n\
                 [river.heights]\nid = \"h\"\ntitle = \"t\"\nfile = \"{file}\"\ngrandeur = \"HIXnJ\"\n"
            )
        };
        let ok = |text: &str| Catalogue::parse(&format!("{head}{text}"));
        assert!(ok(&bikes(false, "b.json")).is_ok());
        assert!(ok(&river("[\"O1\"]", 10, "1946-01-01", "h.csv")).is_ok());
        assert!(matches!(
            ok(&bikes(true, "b.json")),
            Err(CatalogueError::NotWhole { .. })
        ));
        assert!(matches!(
            ok(&bikes(false, "../b.json")),
            Err(CatalogueError::BadFile { .. })
        ));
        for bad in [
            river("[]", 10, "1946-01-01", "h.csv"),
            river("[\"O 1\"]", 10, "1946-01-01", "h.csv"),
            river("[\"O1\"]", 0, "1946-01-01", "h.csv"),
            river("[\"O1\"]", 20_001, "1946-01-01", "h.csv"),
            river("[\"O1\"]", 10, "1946-13-01", "h.csv"),
        ] {
            assert!(
                matches!(ok(&bad), Err(CatalogueError::BadRiver { .. })),
                "{bad}"
            );
        }
        assert!(matches!(
            ok(&river("[\"O1\"]", 10, "1946-01-01", "s.geojson")),
            Err(CatalogueError::DuplicateFile { .. })
        ));
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
                Err(CatalogueError::NotWhole { .. }) => "NotWhole",
                Err(CatalogueError::BadRiver { .. }) => "BadRiver",
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

//! Toulouse Métropole's open data, for everything Garonne replays or draws: loaders for the
//! weather-station catalogue and the stations' readings (turned into [`Station`]s and
//! [`Observation`]s in Garonne units), the catalogue of datasets (`data/datasets.toml`, compiled
//! in), `garonne data fetch` ([`fetch`]) and the small starter dataset built into the binary
//! ([`starter`]).
//!
//! This crate writes no MQTT topic: it reads and writes files of the data folder. The
//! simulator replays what is loaded here: every fleet, the weather included, through [`fleet`]
//! and its description (`data/fleets/weather.toml` for the weather). The weather loaders below
//! remain as the reference that description is checked against
//! ([`fleet::compare_weather`]: the same readings, the same counts), with their own tests. The exports are messy
//! in known ways (see `testkit/fixtures/toulouse/SOURCES.md` and `docs/payload-spec.md` §6),
//! and every quirk is handled here, once, and counted in a [`LoadReport`], so that every
//! observation that leaves the loaders is a valid reading's values.
//!
//! # Formats (recognised by content, never by file name)
//! - Station catalogue (`stations-meteo-en-place`): the JSON array export, or the Opendatasoft
//!   `;` CSV export (its geo point written `"lat, lon"`; the `longitude`/`latitude` columns win
//!   when present). A file is the catalogue when its records have `id_nom`.
//! - Readings: the ODS `;` CSV export of a station dataset (`data;id;humidite;…;heure_utc`,
//!   rows in any order, `heure_de_paris` with `+01:00`/`+02:00`); the v2.1 `records` JSON (an
//!   array, or an object with `results`; the v1 `records`/`fields` form too); the student
//!   hourly `,` CSVs (pandas index column, `12.0` floats, a `station_name` label, CRLF or LF).
//!   A UTF-8 BOM is skipped.
//!
//! # Quirks
//! - Units: `humidite` % → fraction, `pression` Pa → hPa, km/h → m/s (spec §6).
//! - Sentinels (−50 °C, 0 % humidity, 90000 Pa) are dropped value by value; a row with −50 °C
//!   and 0 % together is an invalid radio frame and dropped whole. Values outside the payload's
//!   physical range (station 37's faulty pressure) are dropped and counted apart.
//! - Times are UTC: `heure_utc` when present, else `heure_de_paris` converted from its offset.
//! - `id`/`id_numero` is not unique: a readings row is attributed to one catalogue `id_nom` by
//!   the rule documented on [`load_readings`].
//!
//! # Errors
//! A file that cannot be placed at all (no time, no `id` column, broken JSON or CSV structure)
//! is a [`LoadError`] naming the file, the line and the column. A value that is not a number is
//! an error for that value only: it is dropped, counted and kept in the report (see
//! [`FileReport::value_errors`]), because real exports have holes and one bad cell must not
//! cost the rest of the row or of the file.
//!
//! # Layout
//! - `detect`: format recognition; `record`: a row read by column, CSV or JSON.
//! - `catalogue`, `readings`: the two loaders; `datetime`: offset times to UTC.
//! - `report`, `error`: what loading did, and why it failed.
//! - [`fleet`]: fleets from any open-data file, by description (bikes, the river, a course's
//!   own dataset): the TOML description, the general loader, its report.
//! - [`fetch`]: `garonne data fetch`, the dataset catalogue, the manifest, the essential files.
//! - [`starter`]: the starter dataset built into the binary, for a first start offline.

pub mod fetch;
pub mod fleet;
pub mod starter;

mod catalogue;
mod datetime;
mod detect;
mod error;
mod readings;
mod record;
mod report;
#[cfg(test)]
mod tests;

use std::fmt;
use std::path::{Path, PathBuf};

use garonne_payload::{Location, Quantities, Quantity, Timestamp};

pub use datetime::{TimeError, Zone};
pub use error::LoadError;
pub use report::{FileReport, LoadReport};

use detect::Sniffed;

/// A weather station of the catalogue.
#[derive(Debug, Clone, PartialEq)]
pub struct Station {
    /// `id_nom`, the unique key, and the sensor id readings are published under.
    pub id: String,
    /// `id_numero`: the number readings rows carry in `id`. Not unique: sub-stations share it.
    pub number: u32,
    /// `type_stati`: what the station measures.
    pub kind: StationKind,
    /// Longitude, WGS84 degrees east.
    pub lon: f64,
    /// Latitude, WGS84 degrees north.
    pub lat: f64,
    /// Altitude, metres, when the catalogue gives it.
    pub alt: Option<f64>,
    /// `ville`, as written (the source has typos such as `Saintt Alban`).
    pub commune: String,
    /// Whether `emission` is `V` (probably: the station still transmits).
    pub transmitting: bool,
}

impl Station {
    /// The station's position, as a reading carries it.
    pub fn location(&self) -> Location {
        Location {
            lon: self.lon,
            lat: self.lat,
            alt: self.alt,
        }
    }
}

/// The kind of a catalogue station (`type_stati`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum StationKind {
    /// `ISS`: a full Davis Integrated Sensor Suite (temperature, humidity, pressure, rain, wind).
    Iss,
    /// `TH`: temperature and humidity only.
    Th,
}

/// What an ISS measures: the seven weather quantities (temperature to wind direction), which
/// open the wire order of [`Quantity::WEATHER`].
const ISS_QUANTITIES: &[Quantity] = Quantity::WEATHER.split_at(7).0;

impl StationKind {
    /// The payload `kind` of a reading of such a station.
    pub fn payload_kind(self) -> &'static str {
        match self {
            StationKind::Iss => "weather-station",
            StationKind::Th => "th-station",
        }
    }

    /// The quantities such a station measures, in wire order.
    pub fn quantities(self) -> &'static [Quantity] {
        match self {
            StationKind::Iss => ISS_QUANTITIES,
            StationKind::Th => &[Quantity::Temperature, Quantity::RelativeHumidity],
        }
    }
}

/// One row of readings of one station, in Garonne units.
#[derive(Clone, Debug, PartialEq)]
pub struct Observation {
    /// The station's `id_nom` (resolved from the row's number).
    pub station_id: String,
    /// When it was measured, UTC.
    pub time: Timestamp,
    /// The values: Garonne units, sentinels and out-of-range values removed, at least one, and
    /// only quantities the station's kind measures.
    pub quantities: Quantities,
}

/// Everything loaded from a data directory.
#[derive(Debug)]
pub struct OpenData {
    /// The catalogue, in catalogue order.
    pub stations: Vec<Station>,
    /// Every file's observations, sorted by (station id, time), one per station and instant.
    pub observations: Vec<Observation>,
    /// What loading did to each file.
    pub report: LoadReport,
}

impl OpenData {
    /// The station with this `id_nom`.
    pub fn station(&self, id: &str) -> Option<&Station> {
        self.stations.iter().find(|s| s.id == id)
    }

    /// The observations of one station, in time order.
    pub fn observations_of(&self, station_id: &str) -> &[Observation] {
        // Performance: two binary searches, relying on the (station id, time) order.
        let start = self
            .observations
            .partition_point(|o| o.station_id.as_str() < station_id);
        let len = self.observations[start..].partition_point(|o| o.station_id == station_id);
        &self.observations[start..start + len]
    }
}

/// The format a file's content was recognised as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The station catalogue, JSON array export.
    CatalogueJson,
    /// The station catalogue, CSV export.
    CatalogueCsv,
    /// Readings as JSON records (v2.1 `results`, a plain array, or v1 `records`).
    RecordsJson,
    /// Readings, Opendatasoft `;` CSV export.
    OdsCsv,
    /// Readings, `,` CSV (the student hourly files).
    HourlyCsv,
    /// Neither catalogue nor readings: skipped by [`load_dir`].
    NotWeather,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::CatalogueJson => "station catalogue (JSON export)",
            Format::CatalogueCsv => "station catalogue (CSV export)",
            Format::RecordsJson => "readings (JSON records)",
            Format::OdsCsv => "readings (';' CSV export)",
            Format::HourlyCsv => "readings (',' hourly CSV)",
            Format::NotWeather => "not a weather file",
        })
    }
}

/// Loads a data directory: the one station catalogue among its files, and every readings file,
/// with the observations of all files merged.
///
/// Files are taken in name order; subdirectories are not entered. Files that are neither
/// catalogue nor readings (GeoJSON, bike data, notes...) are skipped and listed in the report as
/// "not a weather file". Observations of the same station and instant in several files are
/// merged like duplicates within a file: the earlier file wins, and the later one's report
/// counts a duplicate row. Fails when no file, or more than one, is a catalogue, or when a
/// weather file is broken.
///
/// Performance: every file is read whole to recognise it, so keep the directory to data
/// files (the Toulouse reference folder, 5 MB, loads in well under a second).
pub fn load_dir(dir: &Path) -> Result<OpenData, LoadError> {
    // Design: the data folder holds the files themselves, plus the `readings/` subfolder where
    // `garonne data fetch` puts one file per station; unfinished downloads (`.part`, and their
    // `.part.meta`) are not data yet and are skipped.
    let mut paths: Vec<PathBuf> = Vec::new();
    let readings_dir = dir.join("readings");
    let folders: Vec<&Path> = if readings_dir.is_dir() {
        vec![dir, &readings_dir]
    } else {
        vec![dir]
    };
    for folder in folders {
        let read_dir_error = |source| LoadError::ReadDir {
            path: folder.to_owned(),
            source,
        };
        for entry in std::fs::read_dir(folder).map_err(read_dir_error)? {
            let path = entry.map_err(read_dir_error)?.path();
            let unfinished = path.to_string_lossy().ends_with(".part")
                || path.to_string_lossy().ends_with(".part.meta");
            if path.is_file() && !unfinished {
                paths.push(path);
            }
        }
    }
    paths.sort();

    let mut files: Vec<(PathBuf, Vec<u8>, Format)> = Vec::with_capacity(paths.len());
    for path in paths {
        let bytes = read(&path)?;
        let format = match detect::decode(&path, &bytes)? {
            Some(text) => detect::sniff(&path, text)?.format(),
            None => Format::NotWeather,
        };
        files.push((path, bytes, format));
    }

    let mut catalogues = files
        .iter()
        .filter(|(_, _, f)| matches!(f, Format::CatalogueJson | Format::CatalogueCsv));
    let (catalogue_path, catalogue_bytes, _) =
        catalogues.next().ok_or_else(|| LoadError::NoCatalogue {
            path: dir.to_owned(),
        })?;
    if let Some((second, _, _)) = catalogues.next() {
        return Err(LoadError::SeveralCatalogues {
            path: dir.to_owned(),
            first: catalogue_path.clone(),
            second: second.clone(),
        });
    }
    let stations = catalogue_from_bytes(catalogue_path, catalogue_bytes)?;

    let mut report = LoadReport::default();
    // Each observation with the index of its file's report, for cross-file duplicates.
    let mut tagged: Vec<(Observation, usize)> = Vec::new();
    for (path, bytes, format) in &files {
        match format {
            Format::CatalogueJson | Format::CatalogueCsv => {
                let mut file = FileReport::new(path, *format);
                file.rows_read = stations.len();
                file.stations = stations.len();
                report.files.push(file);
            }
            Format::NotWeather => report.files.push(FileReport::new(path, *format)),
            Format::RecordsJson | Format::OdsCsv | Format::HourlyCsv => {
                let observations = readings_from_bytes(path, bytes, &stations, &mut report)?;
                let index = report.files.len() - 1;
                tagged.extend(observations.into_iter().map(|o| (o, index)));
            }
        }
    }

    // Stable: for one station and instant, the earlier file's observation comes first and wins.
    tagged.sort_by(|(a, _), (b, _)| a.station_id.cmp(&b.station_id).then(a.time.cmp(&b.time)));
    let mut observations: Vec<Observation> = Vec::with_capacity(tagged.len());
    for (observation, file) in tagged {
        match observations.last_mut() {
            Some(kept)
                if kept.station_id == observation.station_id && kept.time == observation.time =>
            {
                readings::merge_into(&mut kept.quantities, &observation.quantities);
                let file = &mut report.files[file];
                file.duplicate_rows += 1;
                file.observations_kept -= 1;
            }
            _ => observations.push(observation),
        }
    }

    Ok(OpenData {
        stations,
        observations,
        report,
    })
}

/// Loads a station catalogue: the JSON array export or the CSV export, recognised by content.
///
/// Any bad record is an error (see the `catalogue` module): the catalogue defines the fleet.
pub fn load_catalogue(path: &Path) -> Result<Vec<Station>, LoadError> {
    catalogue_from_bytes(path, &read(path)?)
}

/// Loads one readings file, in any of the supported forms (recognised by content), and adds
/// its [`FileReport`] to `report`.
///
/// Returns its observations sorted by (station id, time), one per station and instant.
///
/// # Which station a row belongs to
/// A row carries a station number (`id`), which several catalogue stations may share (42 is
/// both `42-…-parc-compans-cafarelli` and `42-…-parc-compans-cafarelli-point-frais`). Among the
/// stations with that number, the row goes to:
/// 1. the one whose `id_nom` equals the readings dataset id, ignoring case, when the file names
///    its dataset (a v1 record's `datasetid`, or a `datasetid` column; ODS CSV exports and v2.1
///    records do not);
/// 2. otherwise the best by these preferences, each deciding among those the previous left
///    tied: an `id_nom` not ending in `-point-frais`; an ISS station; an `id_nom` containing
///    every word of the row's `station_name` label (the student CSVs), if any; the shortest
///    `id_nom`; the alphabetically first.
///
/// Rows whose number matches no station are counted in
/// [`FileReport::unmatched_rows`], not an error: readings files may cover stations the
/// catalogue export predates.
pub fn load_readings(
    path: &Path,
    stations: &[Station],
    report: &mut LoadReport,
) -> Result<Vec<Observation>, LoadError> {
    readings_from_bytes(path, &read(path)?, stations, report)
}

fn read(path: &Path) -> Result<Vec<u8>, LoadError> {
    std::fs::read(path).map_err(|source| LoadError::Read {
        path: path.to_owned(),
        source,
    })
}

/// Recognises and loads a catalogue from a file's bytes.
fn catalogue_from_bytes(path: &Path, bytes: &[u8]) -> Result<Vec<Station>, LoadError> {
    let sniffed = sniff_bytes(path, bytes)?;
    catalogue::load(path, sniffed)
}

/// Recognises and loads a readings file from its bytes; on success its report is pushed.
fn readings_from_bytes(
    path: &Path,
    bytes: &[u8],
    stations: &[Station],
    report: &mut LoadReport,
) -> Result<Vec<Observation>, LoadError> {
    let sniffed = sniff_bytes(path, bytes)?;
    let mut file = FileReport::new(path, sniffed.format());
    let observations = readings::load(path, sniffed, stations, &mut file)?;
    report.files.push(file);
    Ok(observations)
}

fn sniff_bytes<'b>(path: &Path, bytes: &'b [u8]) -> Result<Sniffed<'b>, LoadError> {
    match detect::decode(path, bytes)? {
        Some(text) => detect::sniff(path, text),
        None => Ok(Sniffed::NotWeather),
    }
}

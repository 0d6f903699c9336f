//! Fleets from any open-data file, by description: a TOML file says how a file's rows become
//! sensors, times and values of a profile, and [`load_fleet`] turns the files of the data folder
//! into the sensors and timed observations the simulator replays. A course group or a city
//! developer who finds a dataset on the portal writes a description, not Rust.
//!
//! The shipped descriptions are in `data/fleets/` (compiled in: [`builtin`]); a data folder's
//! own `fleets/*.toml` add more ([`descriptions_in`]). `docs/simulation.md` is the manual with
//! examples; this is the reference.
//!
//! # The description, key by key
//! Top level:
//! - `name` (required): the fleet's name, `--fleet NAME`; lower-case letters, digits, `-`.
//! - `profile` (required): the catalogued profile the readings name (`bikes`, `river`, a
//!   `--profiles` one); every `quantity` below must be one of its quantities, and a row
//!   without a value of a quantity the profile requires is dropped (counted).
//! - `kind`: the payload `kind` of the sensors (default: the profile's name).
//! - `id_prefix`: put before each id value to make the sensor id (`velotoulouse-` + `55`);
//!   characters a sensor id cannot have become `-`.
//! - `area = [lon_min, lat_min, lon_max, lat_max]`: sensors outside are left out (counted).
//! - `profile_in_readings` (default `true`): `false` leaves the profile out of the readings
//!   (the weather fleet: a reading without a profile is checked as a weather reading).
//!
//! `[replay]`:
//! - `mode`: `"linear"` (default) interpolates between a sensor's rows (whole-number
//!   quantities are rounded); `"step"` holds each row's values until the next row (counts,
//!   daily values).
//! - `max_gap_secs` (default 10800): rows further apart are a gap, replayed as no data; in
//!   `step` mode a row's values hold at most this long after it. Periods where no sensor has
//!   data are skipped by the simulated clock.
//! - `neighbours` (default `false`): every station is a sensor, with rows or not; moments a
//!   sensor's rows do not cover are estimated from its nearest sensors with data (inverse
//!   square distance), and `garonne simulate --density N` adds N virtual sensors per
//!   neighbourhood (the weather fleet).
//!
//! `[readings]`, the file(s) of timed rows (required):
//! - `file`: its name in the data folder, or a list of names; a `*` in a name's last part
//!   matches any characters (`"readings/*.json"`). Every file found is read, in name order.
//! - `format`: `"csv"`, `"json"` (an array of objects, or an object whose `results` or
//!   `records` is one: Opendatasoft exports and API answers; a v1 record's `fields` and its
//!   own keys such as `datasetid`), `"geojson"` (a FeatureCollection: `properties` are the
//!   columns) or `"auto"` (file by file: JSON when it starts with `[` or `{`, else CSV with
//!   whichever of `;` and `,` the header has more of); `delimiter` (csv only, default `","`;
//!   `";"` for Opendatasoft CSV exports, `"tab"`). A UTF-8 BOM is skipped; CRLF or LF.
//! - `id`: the column of the sensor id (a whole number written `12.0` is the id `12`).
//!   `only_ids = [...]`: keep only these id values.
//!   `from`, `until`: keep only the rows from this time (included) until that one (excluded),
//!   written like the times (ISO 8601 or a date, in `zone` without an offset).
//! - `time`: the column of the time, or a list: the first the row has, not blank
//!   (`["heure_utc", "heure_de_paris"]`); `time_format`: `"iso"` (default: ISO 8601 with or without
//!   an offset, or a bare date), `"date"` (`YYYY-MM-DD`, the day's local midnight),
//!   `"unix_s"`, `"unix_ms"`; `zone`: `"UTC"` (default) or `"Europe/Paris"`, the zone of
//!   times written without an offset and of dates (an offset written in the file wins).
//! - `lon`, `lat`: position columns, when there is no `[stations]` table (a geojson file's
//!   Point geometry is used when they are left out).
//! - `[[readings.value]]`, one per quantity: `quantity` (the catalogued name), `column`
//!   (`a.b.c` reaches into a JSON object, or a Python-literal dict written in a CSV cell),
//!   `unit` (the unit the file writes, converted to the quantity's through the unit registry:
//!   `"Pa"` → hPa, `"km/h"` → m/s, `"mm"` → m), `unit_in_text = true` (values written
//!   `"500 [mm]"`: the unit is read from each value, and converted the same way), `scale` and
//!   `offset` (applied after the unit: value × scale + offset), `sentinels = [...]` (values,
//!   as written before any conversion, that mean "no data"). `column` may be a list: the
//!   first name the file has (files of several schema families); `optional = true`: a file
//!   may lack the column.
//! - `invalid_when = { quantity = value, ... }`: a row whose values (as written) are all
//!   these is dropped whole, counted (the weather's −50 °C with 0 % humidity: a radio frame
//!   decoded to zeros).
//! - `duplicates`: `"first"` (default: a later row of the same sensor and instant is
//!   dropped) or `"merge"` (it gives the quantities the first lacks); counted either way, in
//!   the later row's file, across files too.
//! - `sensor_hint = [columns]`, `label = "column"`: for ids several stations share (below).
//!
//! `[stations]`, positions joined on the id (optional): `file`, `format`, `delimiter`, `id`
//! (compared with the readings' id as text: `55` and `"55"` match), and `lon`/`lat` columns or
//! a geojson geometry. Several files may be given as `[[stations]]`: an id takes its position
//! from the first that has it. Every station with rows, or with an estimate, becomes a sensor,
//! in the files' order; rows of ids that are no station are dropped (counted). Also:
//! - `alt`: the column of the altitude (metres), carried in the readings' location.
//! - `sensor`: the column of the sensor id, when the `id` the rows carry is not unique (the
//!   weather's `id_numero`, shared by a station and its sub-stations). A row then goes to the
//!   station whose sensor id is the value of the row's first `sensor_hint` column (ignoring
//!   case); else to the best by these preferences, each deciding among those the previous
//!   left tied: a sensor id not ending in one of `avoid_suffix = [...]`; the kind
//!   `prefer_kind`; a sensor id holding every word of the row's `label`; the shortest; the
//!   alphabetically first.
//! - `kind`: the column of the station's kind, and one `[stations.kinds.VALUE]` table per
//!   value: `kind` (the payload kind of such a station) and `quantities` (what it measures;
//!   a row's values of other quantities are dropped, counted as not measured). A station of
//!   another kind is left out (counted).
//!
//! `[estimate]`, values for sensors without history (optional): `file`, `format`,
//! `delimiter`, `id` and `[[estimate.value]]` tables as above. A sensor found there publishes
//! these values, constant, as `opendata-estimate`, at every moment its own rows do not cover
//! (all the time for a station without rows).
//!
//! # Rows that break the description
//! Never silently dropped: a row without id, time, or any value, of an unknown station, or a
//! duplicate (same sensor and instant: the first in file order is kept), and a value that is
//! not a number, a sentinel, without its unit, or out of the quantity's range once converted,
//! is counted by [`Reason`] in its file's [`FleetFileReport`], with the first few as
//! [`RowError`]s naming file, row and column. A broken description or file (a missing column,
//! malformed CSV) is a [`FleetError`] naming the file, the key and the fix.
//!
//! # Layout
//! - `description`: the TOML shape, checked; `table`: any file as rows of named cells.
//! - `load`: the loader; `report`, `error`: what loading did, and why it failed.
//! - `compare`: the weather description against the weather loaders (the same readings).

mod compare;
mod description;
mod error;
mod load;
mod report;
mod table;

use std::path::{Path, PathBuf};

use garonne_payload::{Location, Quantities, Quantity};

use crate::Observation;

pub use compare::{WeatherComparison, compare_weather};
pub use description::{
    EstimateTable, FileFormat, FileSpec, FleetDescription, KindSpec, PositionSpec, ReadingsTable,
    Replay, ReplayMode, StationsTable, TimeFormat, ValueSpec,
};
pub use error::{FleetError, RowError};
pub use load::load_fleet;
pub use report::{FleetFileReport, FleetReport, Reason};
pub use table::RowPlace;

/// The descriptions shipped in `data/fleets/`, compiled in: (file name, text).
const BUILTIN: [(&str, &str); 3] = [
    (
        "weather.toml",
        include_str!("../../../data/fleets/weather.toml"),
    ),
    (
        "bikes.toml",
        include_str!("../../../data/fleets/bikes.toml"),
    ),
    (
        "river.toml",
        include_str!("../../../data/fleets/river.toml"),
    ),
];

/// A loaded fleet: its sensors and their observations, ready for the simulator.
#[derive(Debug, Clone)]
pub struct FleetData {
    /// The fleet's name.
    pub name: String,
    /// The profile its readings name.
    pub profile: String,
    /// Whether readings carry the profile's name (see
    /// [`FleetDescription::profile_in_readings`]).
    pub profile_in_readings: bool,
    /// The payload `kind` of its sensors.
    pub kind: String,
    /// How rows are replayed.
    pub replay: Replay,
    /// The quantities the description reads, in its order (what a virtual sensor measures).
    pub quantities: Vec<Quantity>,
    /// Whether sensors are estimated from their neighbours where their rows do not cover the
    /// moment (see [`FleetDescription::neighbours`]).
    pub neighbours: bool,
    /// The sensors, in the stations files' order (or order of first appearance).
    pub sensors: Vec<FleetSensor>,
    /// The observations, sorted by (sensor id, time), one per sensor and instant; values in
    /// the quantities' units, in range.
    pub observations: Vec<Observation>,
    /// What loading did.
    pub report: FleetReport,
}

/// One sensor of a loaded fleet.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetSensor {
    /// The sensor id readings are published under.
    pub id: String,
    /// Its payload `kind` (the description's, or its station kind's).
    pub kind: String,
    /// Where it is.
    pub location: Location,
    /// The quantities the description gives it.
    pub quantities: Vec<Quantity>,
    /// Its values from the estimate file, for moments its rows do not cover.
    pub estimate: Option<Quantities>,
    /// Whether it has rows of its own.
    pub has_history: bool,
}

/// The shipped descriptions (`data/fleets/*.toml`), parsed.
///
/// # Panics
/// Never in a released build: a test parses each of them.
pub fn builtin() -> Vec<FleetDescription> {
    BUILTIN
        .iter()
        .filter_map(|(file, text)| {
            let origin = PathBuf::from(format!("data/fleets/{file}"));
            FleetDescription::parse(text, &origin).ok()
        })
        .collect()
}

/// The descriptions in `{dir}/fleets/*.toml` (a data folder's own), in file-name order; none
/// when the folder does not exist.
pub fn descriptions_in(dir: &Path) -> Result<Vec<FleetDescription>, FleetError> {
    let folder = dir.join("fleets");
    let Ok(entries) = std::fs::read_dir(&folder) else {
        return Ok(Vec::new());
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    paths.sort();
    paths.iter().map(|p| FleetDescription::load(p)).collect()
}

/// Whether the files a description reads are in `dir`: its stations and estimate files, and
/// at least one readings file (a pattern counts when it matches a file).
pub fn files_present(description: &FleetDescription, dir: &Path) -> bool {
    let present = |file: &String| {
        if file.contains('*') {
            load::matching(dir, file).is_ok_and(|found| !found.is_empty())
        } else {
            dir.join(file).is_file()
        }
    };
    let others = description
        .stations
        .iter()
        .map(|s| &s.file.file)
        .chain(description.estimate.as_ref().map(|e| &e.file.file));
    description.readings.files.iter().any(present) && others.into_iter().all(present)
}

#[cfg(test)]
mod tests;

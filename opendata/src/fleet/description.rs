//! The fleet description: a TOML file saying how an open-data file becomes a fleet of sensors
//! (the field-by-field manual is the module docs of [`crate::fleet`] and `docs/simulation.md`).
//!
//! Parsing checks everything that can be checked without the data files: the keys (unknown keys
//! are refused, so a typo is not silently ignored), the profile and its quantities, the units
//! and their conversions, the time format and zone, the area. Each problem is a
//! [`FleetError::Description`] naming the file, the key and the fix.

use std::path::{Path, PathBuf};

use garonne_payload::{Quantity, SenmlUnit, Timestamp};
use serde::Deserialize;

use super::FleetError;
use crate::datetime::Zone;

/// A parsed, checked fleet description.
#[derive(Debug, Clone)]
pub struct FleetDescription {
    /// Where the description was read from (for error messages), or `builtin:NAME`.
    pub origin: PathBuf,
    /// The fleet's name (`--fleet NAME`).
    pub name: String,
    /// The profile every reading names.
    pub profile: String,
    /// The payload `kind` of its sensors.
    pub kind: String,
    /// Prepended to each sensor's id value to make its sensor id.
    pub id_prefix: String,
    /// How rows are replayed between their times.
    pub replay: Replay,
    /// Sensors outside this box (lon min, lat min, lon max, lat max) are left out.
    pub area: Option<[f64; 4]>,
    /// The file of timed rows.
    pub readings: ReadingsTable,
    /// The files of sensor positions, joined on the id: an id takes its position from the first
    /// file that has it. Empty when the readings give positions.
    pub stations: Vec<StationsTable>,
    /// The file of values for sensors without history at a moment, joined on the id.
    pub estimate: Option<EstimateTable>,
    /// Whether readings name the profile (`false`: the weather fleet, whose readings have
    /// always gone without one, the profile a reading without one is checked under).
    pub profile_in_readings: bool,
    /// Whether stations without rows are kept, and every moment a sensor's rows do not cover
    /// estimated from its nearest sensors with data (and virtual sensors may be added).
    pub neighbours: bool,
}

/// How a sensor's rows are replayed between their times.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Replay {
    /// Linear interpolation, or the last row's values held.
    pub mode: ReplayMode,
    /// Rows further apart than this are a gap: nothing is replayed across it. In `step` mode
    /// a row's values hold at most this long.
    pub max_gap_secs: f64,
}

/// How values are replayed between two rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReplayMode {
    /// Interpolated linearly (temperatures, levels); whole-number quantities are rounded.
    Linear,
    /// The last row's values, held until the next row (counts, daily values).
    Step,
}

/// How a file is read.
#[derive(Debug, Clone, PartialEq)]
pub struct FileSpec {
    /// The file name, relative to the data folder.
    pub file: String,
    /// Its format.
    pub format: FileFormat,
    /// The CSV delimiter (`b','` unless given).
    pub delimiter: u8,
}

/// The formats a fleet file may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileFormat {
    /// Delimited text with a header line.
    Csv,
    /// Recognised by content, file by file: JSON when it starts with `[` or `{`, else CSV
    /// whose delimiter is whichever of `;` and `,` its header line has more of.
    Auto,
    /// JSON records: an array of objects, or an object whose `results` or `records` is one.
    Json,
    /// A GeoJSON FeatureCollection: each feature's `properties` are its columns, and its Point
    /// geometry its position.
    Geojson,
}

/// How a row gives its time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeFormat {
    /// ISO 8601 / RFC 3339, with or without an offset (then in `zone`), or a bare date.
    Iso,
    /// A date `YYYY-MM-DD`: midnight starting that day in `zone`.
    Date,
    /// Seconds since 1970-01-01 UTC.
    UnixS,
    /// Milliseconds since 1970-01-01 UTC.
    UnixMs,
}

/// Where a row's position is.
#[derive(Debug, Clone, PartialEq)]
pub enum PositionSpec {
    /// Longitude and latitude columns (WGS84 degrees).
    Columns {
        /// Longitude column.
        lon: String,
        /// Latitude column.
        lat: String,
    },
    /// The GeoJSON feature's Point geometry.
    Geometry,
}

/// How one column becomes one quantity.
#[derive(Debug, Clone)]
pub struct ValueSpec {
    /// The catalogued quantity.
    pub quantity: Quantity,
    /// The column (`a.b.c` reaches into a JSON or Python-literal object in column `a`).
    pub column: String,
    /// The conversion of the file's declared unit to the quantity's, if it declares one.
    pub unit: Option<SenmlUnit>,
    /// Values are written `500 [mm]`: the unit is read from the text, value by value.
    pub unit_in_text: bool,
    /// Multiplied after the unit conversion.
    pub scale: f64,
    /// Added after the scale.
    pub offset: f64,
    /// Values (as written in the file, before any conversion) that mean "no data".
    pub sentinels: Vec<f64>,
    /// Other names of the column, tried in order when a file has no `column` (files of
    /// several schema families).
    pub also: Vec<String>,
    /// A file may lack the column: then it gives no value of the quantity.
    pub optional: bool,
}

/// The file of timed rows.
#[derive(Debug, Clone)]
pub struct ReadingsTable {
    /// How the files are read; `file.file` is the first of `files`.
    pub file: FileSpec,
    /// The file names or patterns (`*` matches any characters of a name), read in name order.
    pub files: Vec<String>,
    /// The column of the sensor id.
    pub id: String,
    /// The column of the time.
    pub time: String,
    /// Time columns tried, in order, when `time` is absent or blank in a row.
    pub time_fallback: Vec<String>,
    /// Columns that may name the row's sensor (its `sensor` value, ignoring case): the first
    /// rule choosing among stations that share an id.
    pub sensor_hint: Vec<String>,
    /// A column of labels whose every word a station's sensor id must contain: a rule choosing
    /// among stations that share an id.
    pub label: Option<String>,
    /// A row whose values (as written) are all these is dropped whole (an invalid frame).
    pub invalid_when: Vec<(Quantity, f64)>,
    /// Rows of the same sensor and instant are merged (the first row's values, and the
    /// quantities it lacks from the later ones) instead of the later ones dropped.
    pub merge_duplicates: bool,
    /// How the time is written.
    pub time_format: TimeFormat,
    /// The zone of times without offset and of dates.
    pub zone: Zone,
    /// The position, when there is no stations file.
    pub position: Option<PositionSpec>,
    /// Only rows of these id values are kept (others counted as not selected); all if empty.
    pub only_ids: Vec<String>,
    /// Rows before this instant are left out (counted).
    pub from: Option<Timestamp>,
    /// Rows at or after this instant are left out (counted).
    pub until: Option<Timestamp>,
    /// The values.
    pub values: Vec<ValueSpec>,
}

/// The file of sensor positions.
#[derive(Debug, Clone)]
pub struct StationsTable {
    /// The file.
    pub file: FileSpec,
    /// The column of the id, matched against the readings' id as text.
    pub id: String,
    /// The position.
    pub position: PositionSpec,
    /// The column of the sensor id, when the id is not unique (several stations may share
    /// it: a row goes to one of them by the rules of [`StationsTable::avoid_suffix`],
    /// [`StationsTable::prefer_kind`] and the readings' hints).
    pub sensor: Option<String>,
    /// The column of the altitude, metres.
    pub alt: Option<String>,
    /// The column of the station's kind and what each kind is.
    pub kinds: Option<KindSpec>,
    /// Among stations sharing an id: those whose sensor id ends so are taken last.
    pub avoid_suffix: Vec<String>,
    /// Among stations sharing an id: this kind (a value of the kind column) is preferred.
    pub prefer_kind: Option<String>,
}

/// The kinds of stations: a column, and for each of its values the payload kind and the
/// quantities such a station measures.
#[derive(Debug, Clone)]
pub struct KindSpec {
    /// The column.
    pub column: String,
    /// By column value: (payload kind, quantities measured).
    pub kinds: std::collections::BTreeMap<String, (String, Vec<Quantity>)>,
}

/// The file of values for sensors without history at a moment.
#[derive(Debug, Clone)]
pub struct EstimateTable {
    /// The file.
    pub file: FileSpec,
    /// The column of the id.
    pub id: String,
    /// The values.
    pub values: Vec<ValueSpec>,
}

// ---- The TOML shape, as written. -----------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDescription {
    name: String,
    profile: String,
    kind: Option<String>,
    #[serde(default)]
    id_prefix: String,
    #[serde(default)]
    replay: RawReplay,
    area: Option<[f64; 4]>,
    readings: RawReadings,
    stations: Option<OneOrMany<RawStations>>,
    estimate: Option<RawEstimate>,
    #[serde(default = "yes")]
    profile_in_readings: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReplay {
    #[serde(default = "default_mode")]
    mode: ReplayMode,
    #[serde(default = "default_max_gap")]
    max_gap_secs: f64,
    #[serde(default)]
    neighbours: bool,
}

impl Default for RawReplay {
    fn default() -> RawReplay {
        RawReplay {
            mode: default_mode(),
            max_gap_secs: default_max_gap(),
            neighbours: false,
        }
    }
}

fn default_mode() -> ReplayMode {
    ReplayMode::Linear
}

/// Three hours, the weather fleet's gap.
fn default_max_gap() -> f64 {
    3.0 * 3600.0
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReadings {
    file: OneOrMany<String>,
    format: FileFormat,
    delimiter: Option<String>,
    id: String,
    time: OneOrMany<String>,
    #[serde(default)]
    sensor_hint: Vec<String>,
    label: Option<String>,
    #[serde(default)]
    invalid_when: std::collections::BTreeMap<String, f64>,
    #[serde(default)]
    duplicates: Duplicates,
    #[serde(default = "default_time_format")]
    time_format: TimeFormat,
    #[serde(default = "default_zone")]
    zone: String,
    lon: Option<String>,
    lat: Option<String>,
    #[serde(default)]
    only_ids: Vec<String>,
    from: Option<String>,
    until: Option<String>,
    #[serde(default)]
    value: Vec<RawValue>,
}

/// What a row of a sensor and instant already read does.
#[derive(Deserialize, Default, PartialEq)]
#[serde(rename_all = "lowercase")]
enum Duplicates {
    /// Dropped: the first row is kept.
    #[default]
    First,
    /// Merged into the first: it gives the quantities the first lacks.
    Merge,
}

fn yes() -> bool {
    true
}

fn default_time_format() -> TimeFormat {
    TimeFormat::Iso
}

fn default_zone() -> String {
    "UTC".to_owned()
}

/// `[table]` or `[[table]]`; `"a"` or `["a", "b"]`.
#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

impl<T> OneOrMany<T> {
    fn into_vec(self) -> Vec<T> {
        match self {
            OneOrMany::One(one) => vec![one],
            OneOrMany::Many(many) => many,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStations {
    file: String,
    format: FileFormat,
    delimiter: Option<String>,
    id: String,
    lon: Option<String>,
    lat: Option<String>,
    sensor: Option<String>,
    alt: Option<String>,
    kind: Option<String>,
    #[serde(default)]
    kinds: std::collections::BTreeMap<String, RawKind>,
    #[serde(default)]
    avoid_suffix: Vec<String>,
    prefer_kind: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKind {
    kind: String,
    quantities: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEstimate {
    file: String,
    format: FileFormat,
    delimiter: Option<String>,
    id: String,
    #[serde(default)]
    value: Vec<RawValue>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawValue {
    quantity: String,
    column: OneOrMany<String>,
    #[serde(default)]
    optional: bool,
    unit: Option<String>,
    #[serde(default)]
    unit_in_text: bool,
    #[serde(default = "one")]
    scale: f64,
    #[serde(default)]
    offset: f64,
    #[serde(default)]
    sentinels: Vec<f64>,
}

fn one() -> f64 {
    1.0
}

impl FleetDescription {
    /// Parses and checks a description; `origin` names it in errors.
    pub fn parse(text: &str, origin: &Path) -> Result<FleetDescription, FleetError> {
        let raw: RawDescription = toml::from_str(text).map_err(|source| FleetError::Toml {
            path: origin.to_owned(),
            source,
        })?;
        Checker { origin }.description(raw)
    }

    /// Reads, parses and checks a description file.
    pub fn load(path: &Path) -> Result<FleetDescription, FleetError> {
        let text = std::fs::read_to_string(path).map_err(|source| crate::LoadError::Read {
            path: path.to_owned(),
            source,
        })?;
        FleetDescription::parse(&text, path)
    }

    /// The data files the description reads, readings first.
    pub fn files(&self) -> Vec<&str> {
        let mut files: Vec<&str> = self.readings.files.iter().map(String::as_str).collect();
        files.extend(self.stations.iter().map(|s| s.file.file.as_str()));
        files.extend(self.estimate.as_ref().map(|e| e.file.file.as_str()));
        files
    }
}

/// Turns the TOML shape into a checked description, one error per problem found.
struct Checker<'a> {
    origin: &'a Path,
}

impl Checker<'_> {
    fn error(&self, key: &str, problem: String) -> FleetError {
        FleetError::Description {
            path: self.origin.to_owned(),
            key: key.to_owned(),
            problem,
        }
    }

    fn description(&self, raw: RawDescription) -> Result<FleetDescription, FleetError> {
        if !garonne_payload::profile::is_valid_profile_name(&raw.name) {
            return Err(self.error(
                "name",
                format!(
                    "{:?} is not a fleet name: write lower-case letters, digits and '-', e.g. \
                     \"parking\"",
                    raw.name
                ),
            ));
        }
        let profile_quantities = self.profile(&raw.profile)?;
        if !(raw.replay.max_gap_secs > 0.0 && raw.replay.max_gap_secs.is_finite()) {
            return Err(self.error(
                "replay.max_gap_secs",
                format!(
                    "{} must be a positive number of seconds, e.g. 10800 (three hours)",
                    raw.replay.max_gap_secs
                ),
            ));
        }
        if let Some([lon0, lat0, lon1, lat1]) = raw.area {
            let ordered = lon0 < lon1 && lat0 < lat1;
            let on_earth = (-180.0..=180.0).contains(&lon0)
                && (-180.0..=180.0).contains(&lon1)
                && (-90.0..=90.0).contains(&lat0)
                && (-90.0..=90.0).contains(&lat1);
            if !(ordered && on_earth) {
                return Err(self.error(
                    "area",
                    "write [lon_min, lat_min, lon_max, lat_max] in WGS84 degrees, e.g. \
                     [1.2, 43.5, 1.7, 43.8] for Toulouse Métropole"
                        .to_owned(),
                ));
            }
        }
        let kind = raw.kind.unwrap_or_else(|| raw.profile.clone());
        if !is_slug(&kind) {
            return Err(self.error(
                "kind",
                format!(
                    "{kind:?} is not a payload kind: write a lower-case slug, e.g. \"bike-station\""
                ),
            ));
        }

        let readings = self.readings(raw.readings, &profile_quantities)?;
        let stations = match raw.stations {
            None => Vec::new(),
            Some(OneOrMany::One(s)) => vec![self.stations(s, "stations", &profile_quantities)?],
            Some(OneOrMany::Many(many)) => many
                .into_iter()
                .enumerate()
                .map(|(i, s)| self.stations(s, &format!("stations[{i}]"), &profile_quantities))
                .collect::<Result<_, _>>()?,
        };
        if stations.is_empty() && readings.position.is_none() {
            return Err(self.error(
                "readings.lon",
                "no position: give readings.lon and readings.lat (columns), use a geojson \
                 readings file, or add a [stations] table joined on the id"
                    .to_owned(),
            ));
        }
        let estimate = raw
            .estimate
            .map(|e| {
                Ok::<_, FleetError>(EstimateTable {
                    file: self.file("estimate", e.file, e.format, e.delimiter)?,
                    id: self.column("estimate.id", e.id)?,
                    values: self.values("estimate", e.value, &profile_quantities)?,
                })
            })
            .transpose()?;
        Ok(FleetDescription {
            origin: self.origin.to_owned(),
            name: raw.name,
            profile: raw.profile,
            kind,
            id_prefix: raw.id_prefix,
            replay: Replay {
                mode: raw.replay.mode,
                max_gap_secs: raw.replay.max_gap_secs,
            },
            area: raw.area,
            readings,
            stations,
            estimate,
            profile_in_readings: raw.profile_in_readings,
            neighbours: raw.replay.neighbours,
        })
    }

    /// The names of the profile's quantities, or an error listing the profiles there are.
    fn profile(&self, name: &str) -> Result<Vec<String>, FleetError> {
        Quantity::with_catalogue(|catalogue| match catalogue.profile(name) {
            Some(p) => Ok(p
                .profile
                .quantities
                .iter()
                .map(|q| q.def.name.clone())
                .collect()),
            None => {
                let names: Vec<&str> = catalogue
                    .profiles()
                    .map(|p| p.profile.name.as_str())
                    .collect();
                Err(self.error(
                    "profile",
                    format!(
                        "no profile {name:?} in the catalogue: write one of {} (or add the \
                         profile with --profiles)",
                        names.join(", ")
                    ),
                ))
            }
        })
    }

    fn readings(
        &self,
        raw: RawReadings,
        profile_quantities: &[String],
    ) -> Result<ReadingsTable, FleetError> {
        let files = raw.file.into_vec();
        let Some(first) = files.first().cloned() else {
            return Err(self.error("readings.file", "no file: name at least one".to_owned()));
        };
        let file = self.file("readings", first, raw.format, raw.delimiter)?;
        for other in &files[1..] {
            self.file("readings", other.clone(), raw.format, None)?;
        }
        let mut times = raw.time.into_vec().into_iter();
        let time = times.next().unwrap_or_default();
        let time_fallback: Vec<String> = times.collect();
        let mut invalid_when = Vec::with_capacity(raw.invalid_when.len());
        for (name, value) in raw.invalid_when {
            match Quantity::from_name(&name).filter(|_| profile_quantities.contains(&name)) {
                Some(q) => invalid_when.push((q, value)),
                None => {
                    return Err(self.error(
                        "readings.invalid_when",
                        format!(
                            "{name:?} is not a quantity of the fleet's profile: write one of {}",
                            profile_quantities.join(", ")
                        ),
                    ));
                }
            }
        }
        let zone = match raw.zone.as_str() {
            "UTC" | "utc" | "Z" => Zone::Utc,
            "Europe/Paris" => Zone::Paris,
            other => {
                return Err(self.error(
                    "readings.zone",
                    format!("{other:?} is not a known zone: write \"UTC\" or \"Europe/Paris\""),
                ));
            }
        };
        let position = self.position("readings", file.format, raw.lon, raw.lat, true)?;
        let instant = |key: &str, text: Option<String>| {
            text.map(|t| {
                crate::datetime::parse_in_zone(&t, zone).map_err(|e| {
                    self.error(
                        key,
                        format!("{t:?} is not a time: {e}; write e.g. \"2024-10-01\" or \"2024-10-01T00:00:00Z\""),
                    )
                })
            })
            .transpose()
        };
        let from = instant("readings.from", raw.from)?;
        let until = instant("readings.until", raw.until)?;
        if let (Some(a), Some(b)) = (from, until)
            && a >= b
        {
            return Err(self.error("readings.until", "must come after readings.from".to_owned()));
        }
        let values = self.values("readings", raw.value, profile_quantities)?;
        if values.is_empty() {
            return Err(self.error(
                "readings.value",
                "no value: add at least one [[readings.value]] with quantity and column".to_owned(),
            ));
        }
        Ok(ReadingsTable {
            file,
            files,
            id: self.column("readings.id", raw.id)?,
            time: self.column("readings.time", time)?,
            time_fallback,
            sensor_hint: raw.sensor_hint,
            label: raw.label,
            invalid_when,
            merge_duplicates: raw.duplicates == Duplicates::Merge,
            time_format: raw.time_format,
            zone,
            position,
            only_ids: raw.only_ids,
            from,
            until,
            values,
        })
    }

    fn stations(
        &self,
        raw: RawStations,
        table: &str,
        profile_quantities: &[String],
    ) -> Result<StationsTable, FleetError> {
        let kinds = match raw.kind {
            None if raw.kinds.is_empty() => None,
            None => {
                return Err(self.error(
                    &format!("{table}.kind"),
                    "kinds are given without the column of the kind: add kind = \"COLUMN\""
                        .to_owned(),
                ));
            }
            Some(column) => {
                let mut kinds = std::collections::BTreeMap::new();
                for (value, k) in raw.kinds {
                    let key = format!("{table}.kinds.{value}");
                    if !is_slug(&k.kind) {
                        return Err(self.error(
                            &format!("{key}.kind"),
                            format!(
                                "{:?} is not a payload kind: write a lower-case slug",
                                k.kind
                            ),
                        ));
                    }
                    let mut quantities = Vec::with_capacity(k.quantities.len());
                    for name in &k.quantities {
                        match Quantity::from_name(name)
                            .filter(|_| profile_quantities.contains(name))
                        {
                            Some(q) => quantities.push(q),
                            None => {
                                return Err(self.error(
                                    &format!("{key}.quantities"),
                                    format!(
                                        "{name:?} is not a quantity of the fleet's profile: \
                                         write some of {}",
                                        profile_quantities.join(", ")
                                    ),
                                ));
                            }
                        }
                    }
                    kinds.insert(value, (k.kind, quantities));
                }
                if kinds.is_empty() {
                    return Err(self.error(
                        &format!("{table}.kinds"),
                        "no kind: add a [stations.kinds.VALUE] table per value of the column"
                            .to_owned(),
                    ));
                }
                Some(KindSpec { column, kinds })
            }
        };
        let file = self.file(table, raw.file, raw.format, raw.delimiter)?;
        let position = self
            .position(table, file.format, raw.lon, raw.lat, false)?
            .ok_or_else(|| {
                self.error(
                    &format!("{table}.lon"),
                    "no position: give lon and lat (columns), or use a geojson stations file"
                        .to_owned(),
                )
            })?;
        Ok(StationsTable {
            file,
            id: self.column(&format!("{table}.id"), raw.id)?,
            position,
            sensor: raw.sensor,
            alt: raw.alt,
            kinds,
            avoid_suffix: raw.avoid_suffix,
            prefer_kind: raw.prefer_kind,
        })
    }

    fn file(
        &self,
        table: &str,
        file: String,
        format: FileFormat,
        delimiter: Option<String>,
    ) -> Result<FileSpec, FleetError> {
        let safe = !file.is_empty()
            && !file.starts_with('/')
            && !file.contains('\\')
            && Path::new(&file)
                .components()
                .all(|c| matches!(c, std::path::Component::Normal(_)));
        if !safe {
            return Err(self.error(
                &format!("{table}.file"),
                format!(
                    "{file:?} must be a file name inside the data folder, e.g. \"my-export.csv\""
                ),
            ));
        }
        let delimiter = match (format, delimiter.as_deref()) {
            (_, None) => b',',
            (FileFormat::Csv, Some("\\t" | "tab")) => b'\t',
            (FileFormat::Csv, Some(d)) if d.len() == 1 && d.is_ascii() => d.as_bytes()[0],
            (FileFormat::Csv, Some(d)) => {
                return Err(self.error(
                    &format!("{table}.delimiter"),
                    format!(
                        "{d:?} is not one character: write \",\", \";\" (Opendatasoft exports) \
                         or \"tab\""
                    ),
                ));
            }
            (_, Some(_)) => {
                return Err(self.error(
                    &format!("{table}.delimiter"),
                    "only a csv file has a delimiter: remove the key".to_owned(),
                ));
            }
        };
        Ok(FileSpec {
            file,
            format,
            delimiter,
        })
    }

    fn column(&self, key: &str, column: String) -> Result<String, FleetError> {
        if column.trim().is_empty() {
            return Err(self.error(key, "the column name is empty".to_owned()));
        }
        Ok(column)
    }

    fn position(
        &self,
        table: &str,
        format: FileFormat,
        lon: Option<String>,
        lat: Option<String>,
        optional: bool,
    ) -> Result<Option<PositionSpec>, FleetError> {
        match (lon, lat) {
            (Some(lon), Some(lat)) => Ok(Some(PositionSpec::Columns {
                lon: self.column(&format!("{table}.lon"), lon)?,
                lat: self.column(&format!("{table}.lat"), lat)?,
            })),
            (None, None) if format == FileFormat::Geojson => Ok(Some(PositionSpec::Geometry)),
            (None, None) if optional => Ok(None),
            (None, None) => Ok(None),
            (Some(_), None) | (None, Some(_)) => Err(self.error(
                &format!("{table}.lon"),
                "give both lon and lat, or neither".to_owned(),
            )),
        }
    }

    fn values(
        &self,
        table: &str,
        raw: Vec<RawValue>,
        profile_quantities: &[String],
    ) -> Result<Vec<ValueSpec>, FleetError> {
        let mut values: Vec<ValueSpec> = Vec::with_capacity(raw.len());
        for (i, v) in raw.into_iter().enumerate() {
            let key = |field: &str| format!("{table}.value[{i}].{field}");
            if !profile_quantities.contains(&v.quantity) {
                return Err(self.error(
                    &key("quantity"),
                    format!(
                        "{:?} is not a quantity of the fleet's profile: write one of {}",
                        v.quantity,
                        profile_quantities.join(", ")
                    ),
                ));
            }
            let quantity = Quantity::from_name(&v.quantity).ok_or_else(|| {
                self.error(
                    &key("quantity"),
                    format!("{:?} is not in the catalogue", v.quantity),
                )
            })?;
            if values.iter().any(|w| w.quantity == quantity) {
                return Err(self.error(
                    &key("quantity"),
                    format!("{} is given twice: keep one", v.quantity),
                ));
            }
            let unit = match v.unit.as_deref() {
                Some(symbol) => Some(
                    conversion(quantity, symbol)
                        .ok_or_else(|| self.error(&key("unit"), no_conversion(quantity, symbol)))?,
                ),
                None => None,
            };
            if !(v.scale.is_finite() && v.scale != 0.0 && v.offset.is_finite()) {
                return Err(self.error(
                    &key("scale"),
                    "scale must be a non-zero number and offset a number".to_owned(),
                ));
            }
            let mut columns = v.column.into_vec().into_iter();
            let column = columns.next().unwrap_or_default();
            values.push(ValueSpec {
                quantity,
                column: self.column(&key("column"), column)?,
                also: columns.collect(),
                optional: v.optional,
                unit,
                unit_in_text: v.unit_in_text,
                scale: v.scale,
                offset: v.offset,
                sentinels: v.sentinels,
            });
        }
        Ok(values)
    }
}

/// The conversion from a unit a file writes to the quantity's unit, through the unit registry.
pub(crate) fn conversion(quantity: Quantity, symbol: &str) -> Option<SenmlUnit> {
    let def = quantity.def();
    let symbol = symbol.trim();
    if symbol == def.unit.symbol || symbol == def.unit.display && !symbol.is_empty() {
        return Some(SenmlUnit {
            symbol: def.unit.symbol,
            mul: 1.0,
            div: 1.0,
            offset: 0.0,
        });
    }
    def.unit.senml.iter().find(|u| u.symbol == symbol).copied()
}

/// What to write instead of a unit that does not convert to the quantity's.
pub(crate) fn no_conversion(quantity: Quantity, symbol: &str) -> String {
    let def = quantity.def();
    let known: Vec<&str> = def.unit.senml.iter().map(|u| u.symbol).collect();
    let known = if known.is_empty() {
        def.unit.symbol.to_owned()
    } else {
        known.join(", ")
    };
    format!(
        "no conversion from {symbol:?} to {} ({}'s unit): write one of {known}, or use \
         scale and offset",
        def.unit.symbol,
        quantity.name()
    )
}

/// Whether `text` is a lower-case slug (`bike-station`).
fn is_slug(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 64
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

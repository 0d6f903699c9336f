//! The general loader: a [`FleetDescription`] and the data folder in, sensors and their timed
//! observations out (the shape the weather loaders give the simulator), every dropped row and
//! value counted in the [`FleetReport`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use garonne_payload::{Location, Quantities, Quantity, Timestamp, sensor_id_from};

use super::description::{PositionSpec, TimeFormat, ValueSpec};
use super::report::{FleetFileReport, FleetReport, Reason};
use super::table::{Cell, Column, Table};
use super::{FleetData, FleetDescription, FleetError, FleetSensor, RowError};
use crate::datetime::parse_in_zone;
use crate::{LoadError, Observation};

/// Loads the fleet `description` describes from the files of `dir`.
pub fn load_fleet(description: &FleetDescription, dir: &Path) -> Result<FleetData, FleetError> {
    let mut report = FleetReport::default();
    let stations = if description.stations.is_empty() {
        None
    } else {
        let mut stations = Stations::default();
        for (i, spec) in description.stations.iter().enumerate() {
            let key = if description.stations.len() == 1 {
                "stations".to_owned()
            } else {
                format!("stations[{i}]")
            };
            load_stations(description, dir, spec, &key, &mut stations, &mut report)?;
        }
        Some(stations)
    };
    let estimates = description
        .estimate
        .as_ref()
        .map(|e| load_estimates(description, dir, e, &mut report))
        .transpose()?;
    let files = readings_files(description, dir)?;
    let mut located = Stations::default();
    let mut rows: Vec<Row> = Vec::new();
    let mut file_reports = Vec::with_capacity(files.len());
    for (f, path) in files.iter().enumerate() {
        let resolve = Resolver::read(description, path, &description.readings.file)?;
        let placed = stations.as_ref().unwrap_or(&located);
        let (file_rows, file_report) = read_rows(&resolve, placed, stations.is_none(), f)?;
        if stations.is_none() {
            for row in &file_rows {
                if !located.keys.contains_key(&row.key) {
                    located.keys.insert(row.key.clone(), located.list.len());
                    located.list.push(file_rows_station(&row.key, row.location));
                }
            }
        }
        rows.extend(file_rows);
        file_reports.push(file_report);
    }
    finish_rows(description, &mut rows, &mut file_reports);
    for (i, file_report) in file_reports.into_iter().enumerate() {
        report.files.insert(i, file_report);
    }

    // The sensors: every station (in the files' order), or every id in order of appearance.
    let placed = stations.as_ref().unwrap_or(&located);
    let with_rows: std::collections::HashSet<&str> = rows.iter().map(|r| r.key.as_str()).collect();
    let quantities: Vec<Quantity> = description
        .readings
        .values
        .iter()
        .map(|v| v.quantity)
        .collect();
    let mut sensors = Vec::with_capacity(placed.list.len());
    let mut ids: HashMap<&str, String> = HashMap::new();
    let mut taken: std::collections::HashSet<String> = std::collections::HashSet::new();
    for station in &placed.list {
        let raw_id = &station.key;
        let estimate = estimates.as_ref().and_then(|e| e.get(raw_id)).cloned();
        let has_history = with_rows.contains(raw_id.as_str());
        if !has_history && estimate.is_none() && !description.neighbours {
            report.stations_without_data += 1;
            continue;
        }
        let id = sensor_id_from(&format!("{}{raw_id}", description.id_prefix));
        // Two ids that differ only by characters a sensor id cannot hold ("a b", "a-b") would
        // publish as one sensor: the first keeps the id, the other is left out (counted).
        if !taken.insert(id.clone()) {
            report.sensor_id_clashes += 1;
            continue;
        }
        if has_history {
            report.sensors_with_history += 1;
        } else if estimate.is_some() {
            report.sensors_estimated += 1;
        } else {
            report.sensors_from_neighbours += 1;
        }
        ids.insert(raw_id, id.clone());
        let (kind, measured) = match &station.kind {
            Some((kind, measured)) => (kind.clone(), measured.clone()),
            None => (description.kind.clone(), quantities.clone()),
        };
        sensors.push(FleetSensor {
            id,
            kind,
            location: station.location,
            quantities: measured,
            estimate,
            has_history,
        });
    }
    let mut observations: Vec<Observation> = rows
        .into_iter()
        .filter_map(|row| {
            Some(Observation {
                station_id: ids.get(row.key.as_str())?.clone(),
                time: row.time,
                quantities: row.quantities,
            })
        })
        .collect();
    // Sensor ids keep the order of raw ids only by chance (prefix, sanitising): sort again.
    observations.sort_by(|a, b| a.station_id.cmp(&b.station_id).then(a.time.cmp(&b.time)));

    if observations.is_empty() && sensors.is_empty() {
        return Err(FleetError::Empty {
            description: description.origin.clone(),
            file: dir.join(&description.readings.file.file),
            report: report.to_string(),
        });
    }
    Ok(FleetData {
        name: description.name.clone(),
        profile: description.profile.clone(),
        profile_in_readings: description.profile_in_readings,
        kind: description.kind.clone(),
        replay: description.replay,
        quantities,
        neighbours: description.neighbours,
        sensors,
        observations,
        report,
    })
}

/// The readings files: every name or pattern of `readings.file`, in name order, each once.
///
/// A plain name must exist (reading it says so otherwise); a pattern may match nothing.
fn readings_files(description: &FleetDescription, dir: &Path) -> Result<Vec<PathBuf>, FleetError> {
    let mut files: Vec<PathBuf> = Vec::new();
    for pattern in &description.readings.files {
        if !pattern.contains('*') {
            files.push(dir.join(pattern));
            continue;
        }
        files.extend(matching(dir, pattern)?);
    }
    files.sort();
    files.dedup();
    Ok(files)
}

/// The files of `dir` a pattern (`*` in its last component) matches; none when its folder does
/// not exist.
pub(crate) fn matching(dir: &Path, pattern: &str) -> Result<Vec<PathBuf>, FleetError> {
    let (folder, name) = match pattern.rsplit_once('/') {
        Some((folder, name)) => (dir.join(folder), name),
        None => (dir.to_owned(), pattern),
    };
    let Ok(entries) = std::fs::read_dir(&folder) else {
        return Ok(Vec::new());
    };
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| LoadError::ReadDir {
            path: folder.clone(),
            source,
        })?;
        let path = entry.path();
        let matched = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| glob_match(name, n));
        if matched && path.is_file() {
            found.push(path);
        }
    }
    Ok(found)
}

/// Whether `name` matches `pattern`, where `*` stands for any characters.
fn glob_match(pattern: &str, name: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = name.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// A kept readings row.
struct Row {
    /// The station's key (its sensor value, or the raw id).
    key: String,
    time: Timestamp,
    quantities: Quantities,
    /// The file it came from, by index.
    file: usize,
    /// Its position, when the readings give positions.
    location: Location,
}

fn file_rows_station(key: &str, location: Location) -> Station {
    Station {
        key: key.to_owned(),
        location,
        kind: None,
        preferred: false,
    }
}

/// Reads one readings file: its kept rows, in file order, and its report. `stations` places
/// the rows; without a stations file (`from_rows`), the rows place themselves and `stations`
/// holds the ids earlier files placed.
fn read_rows(
    resolve: &Resolver<'_>,
    stations: &Stations,
    from_rows: bool,
    file_index: usize,
) -> Result<(Vec<Row>, FleetFileReport), FleetError> {
    let description = resolve.description;
    let readings = &description.readings;
    let (table, file) = (&resolve.table, &resolve.file);
    let id_column = resolve.column("readings.id", &readings.id)?;
    let time_columns = resolve.time_columns()?;
    let values = resolve.values("readings", &readings.values)?;
    let hints: Vec<Column> = readings
        .sensor_hint
        .iter()
        .filter_map(|c| table.column(c))
        .collect();
    let label = readings.label.as_deref().and_then(|c| table.column(c));
    // With a stations file, positions come from it alone.
    let position = readings
        .position
        .as_ref()
        .filter(|_| from_rows)
        .map(|p| resolve.position("readings", p))
        .transpose()?;
    let required = required_quantities(&description.profile);

    let mut file_report = FleetFileReport::new(file, "readings");
    let mut rows: Vec<Row> = Vec::with_capacity(table.len());
    let mut located: HashMap<String, Location> = HashMap::new();
    for i in 0..table.len() {
        file_report.rows_read += 1;
        let example = |column: &str, value: &Cell<'_>, problem: &str| {
            Some(RowError {
                path: file.clone(),
                row: table.place(i),
                column: column.to_owned(),
                value: value.written().into_owned(),
                problem: problem.to_owned(),
            })
        };
        let id_cell = table.cell(i, &id_column);
        let Some(raw_id) = id_cell.id().map(|c| c.into_owned()) else {
            file_report.drop_row(
                Reason::NoId,
                example(&readings.id, &id_cell, "is no sensor id"),
            );
            continue;
        };
        if !readings.only_ids.is_empty() && !readings.only_ids.contains(&raw_id) {
            file_report.drop_row(Reason::NotSelected, None);
            continue;
        }
        let station = if from_rows {
            None
        } else {
            let hint = hints
                .iter()
                .find_map(|c| table.cell(i, c).id().map(|t| t.into_owned()));
            let label = label
                .as_ref()
                .and_then(|c| table.cell(i, c).id().map(|t| t.into_owned()));
            match stations.resolve(&raw_id, hint.as_deref(), label.as_deref()) {
                Some(s) => Some(&stations.list[s]),
                None => {
                    let problem = "is no station of the stations files (or one outside the area)";
                    file_report.drop_row(
                        Reason::UnknownSensor,
                        example(&readings.id, &id_cell, problem),
                    );
                    continue;
                }
            }
        };
        let time_cell = time_columns
            .iter()
            .map(|(_, c)| table.cell(i, c))
            .find(|c| *c != Cell::Blank)
            .unwrap_or(Cell::Blank);
        let Some(time) = parse_time(&time_cell, readings.time_format, readings.zone) else {
            let problem = match readings.time_format {
                TimeFormat::Iso => "is not an ISO 8601 time (e.g. 2025-11-24T11:15:00+01:00)",
                TimeFormat::Date => "is not a date YYYY-MM-DD",
                TimeFormat::UnixS => "is not a number of seconds since 1970",
                TimeFormat::UnixMs => "is not a number of milliseconds since 1970",
            };
            file_report.drop_row(
                Reason::BadTime,
                example(&readings.time, &time_cell, problem),
            );
            continue;
        };
        let outside = readings.from.is_some_and(|from| time < from)
            || readings.until.is_some_and(|until| time >= until);
        if outside {
            file_report.drop_row(Reason::OutsidePeriod, None);
            continue;
        }
        if invalid_row(table, i, &values, &readings.invalid_when) {
            file_report.drop_row(Reason::InvalidRow, None);
            continue;
        }
        let measured = station
            .and_then(|s| s.kind.as_ref())
            .map(|k| k.1.as_slice());
        let quantities = read_values(table, i, &values, measured, file, &mut file_report);
        if quantities.is_empty() {
            file_report.drop_row(Reason::NoValue, None);
            continue;
        }
        if let Some(q) = required.iter().find(|q| quantities.get(**q).is_none()) {
            let problem = format!("is blank or dropped, and the profile requires {}", q.name());
            let spec = values.iter().find(|(s, _)| s.quantity == *q);
            let cell = spec
                .and_then(|(_, c)| c.as_ref())
                .map_or(Cell::Blank, |c| table.cell(i, c));
            let column = spec.map_or(q.name(), |(s, _)| s.column.as_str());
            file_report.drop_row(Reason::MissingRequired, example(column, &cell, &problem));
            continue;
        }
        let (key, location) = match station {
            Some(station) => (station.key.clone(), station.location),
            None => {
                let placed = stations
                    .keys
                    .get(&raw_id)
                    .map(|&s| stations.list[s].location);
                let location = match placed.or_else(|| located.get(&raw_id).copied()) {
                    Some(location) => location,
                    None => match position.as_ref().and_then(|p| p.locate(table, i)) {
                        Some(location) if description.inside(location) => {
                            located.insert(raw_id.clone(), location);
                            location
                        }
                        Some(_) => {
                            file_report.drop_row(Reason::OutsideArea, None);
                            continue;
                        }
                        None => {
                            let problem = "has no readable position";
                            file_report.drop_row(
                                Reason::NoPosition,
                                example(&readings.id, &id_cell, problem),
                            );
                            continue;
                        }
                    },
                };
                (raw_id, location)
            }
        };
        rows.push(Row {
            key,
            time,
            quantities,
            file: file_index,
            location,
        });
    }
    Ok((rows, file_report))
}

/// Sorts the rows of every readings file by (station, time) and keeps one per instant: the
/// first in file order (earlier files first), merged with the later ones when the description
/// says so; the later ones are counted as duplicates in their file's report.
fn finish_rows(
    description: &FleetDescription,
    rows: &mut Vec<Row>,
    reports: &mut [FleetFileReport],
) {
    // Stable: rows of one station and instant stay in file order, so the first one wins.
    rows.sort_by(|a, b| a.key.cmp(&b.key).then(a.time.cmp(&b.time)));
    let merge = description.readings.merge_duplicates;
    let mut kept: Vec<Row> = Vec::with_capacity(rows.len());
    for row in rows.drain(..) {
        match kept.last_mut() {
            Some(first) if first.key == row.key && first.time == row.time => {
                if merge {
                    for (q, v) in row.quantities.iter() {
                        if first.quantities.get(q).is_none() {
                            first.quantities.set(q, v);
                        }
                    }
                }
                reports[row.file].drop_row(Reason::Duplicate, None);
            }
            _ => kept.push(row),
        }
    }
    for row in &kept {
        reports[row.file].rows_kept += 1;
    }
    *rows = kept;
}

/// Whether row `i` is an invalid frame: every value `invalid_when` names is written so.
fn invalid_row(
    table: &Table,
    i: usize,
    values: &[(&ValueSpec, Option<Column>)],
    invalid_when: &[(Quantity, f64)],
) -> bool {
    !invalid_when.is_empty()
        && invalid_when.iter().all(|(q, written)| {
            values
                .iter()
                .find(|(s, _)| s.quantity == *q)
                .and_then(|(_, c)| c.as_ref())
                .and_then(|c| number(&table.cell(i, c)))
                == Some(*written)
        })
}

/// A placed station.
struct Station {
    /// Its key: the sensor column's value, or the id.
    key: String,
    location: Location,
    /// Its payload kind and the quantities it measures, when the stations give kinds.
    kind: Option<(String, Vec<Quantity>)>,
    /// Whether its kind is the preferred one among stations sharing an id.
    preferred: bool,
}

/// The stations files: stations in file order (the first file's, then those the next ones
/// add), by key and by id.
#[derive(Default)]
struct Stations {
    list: Vec<Station>,
    keys: HashMap<String, usize>,
    by_id: HashMap<String, Vec<usize>>,
    /// Among stations sharing an id, keys ending so are taken last.
    avoid_suffix: Vec<String>,
}

impl Stations {
    /// The station a row of `id` belongs to. When several share the id: the one whose key is
    /// the row's `hint` (ignoring case); else the best by these preferences, each deciding
    /// among those the previous left tied: a key not ending in an `avoid_suffix`; the
    /// preferred kind; a key holding every word of the row's `label`; the shortest key; the
    /// alphabetically first (so the choice never depends on the files' order).
    fn resolve(&self, id: &str, hint: Option<&str>, label: Option<&str>) -> Option<usize> {
        let candidates = self.by_id.get(id)?;
        if let [only] = candidates.as_slice() {
            return Some(*only);
        }
        if let Some(hint) = hint
            && let Some(&i) = candidates
                .iter()
                .find(|&&i| self.list[i].key.eq_ignore_ascii_case(hint))
        {
            return Some(i);
        }
        candidates.iter().copied().min_by_key(|&i| {
            let s = &self.list[i];
            (
                self.avoid_suffix
                    .iter()
                    .any(|x| s.key.ends_with(x.as_str())),
                !s.preferred,
                !label.is_some_and(|l| crate::readings::label_matches(l, &s.key)),
                s.key.len(),
                s.key.as_str(),
            )
        })
    }
}

/// Adds the stations of one file that earlier files did not place.
fn load_stations(
    description: &FleetDescription,
    dir: &Path,
    spec: &super::description::StationsTable,
    key: &str,
    stations: &mut Stations,
    report: &mut FleetReport,
) -> Result<(), FleetError> {
    let resolve = Resolver::open(description, dir, &spec.file)?;
    let (table, file) = (&resolve.table, &resolve.file);
    let id_column = resolve.column(&format!("{key}.id"), &spec.id)?;
    let sensor_column = spec
        .sensor
        .as_ref()
        .map(|c| resolve.column(&format!("{key}.sensor"), c))
        .transpose()?;
    let alt_column = spec
        .alt
        .as_ref()
        .map(|c| resolve.column(&format!("{key}.alt"), c))
        .transpose()?;
    let kind_column = spec
        .kinds
        .as_ref()
        .map(|k| resolve.column(&format!("{key}.kind"), &k.column))
        .transpose()?;
    let position = resolve.position(key, &spec.position)?;
    for suffix in &spec.avoid_suffix {
        if !stations.avoid_suffix.contains(suffix) {
            stations.avoid_suffix.push(suffix.clone());
        }
    }
    let mut file_report = FleetFileReport::new(file, "stations");
    let placed_before: std::collections::HashSet<String> = stations.keys.keys().cloned().collect();
    for i in 0..table.len() {
        file_report.rows_read += 1;
        let cell = table.cell(i, &id_column);
        let example = |column: &str, cell: &Cell<'_>, problem: &str| {
            Some(RowError {
                path: file.clone(),
                row: table.place(i),
                column: column.to_owned(),
                value: cell.written().into_owned(),
                problem: problem.to_owned(),
            })
        };
        let Some(id) = cell.id().map(|c| c.into_owned()) else {
            file_report.drop_row(Reason::NoId, example(&spec.id, &cell, "is no station id"));
            continue;
        };
        let station_key = match (&sensor_column, &spec.sensor) {
            (Some(column), Some(name)) => {
                let sensor = table.cell(i, column);
                match sensor.id() {
                    Some(k) => k.into_owned(),
                    None => {
                        file_report
                            .drop_row(Reason::NoId, example(name, &sensor, "is no sensor id"));
                        continue;
                    }
                }
            }
            _ => id.clone(),
        };
        if placed_before.contains(&station_key) {
            file_report.drop_row(Reason::PlacedEarlier, None);
            continue;
        }
        if stations.keys.contains_key(&station_key) {
            file_report.drop_row(
                Reason::DuplicateStation,
                example(&spec.id, &cell, "appears again: the first is kept"),
            );
            continue;
        }
        let kind = match (&kind_column, &spec.kinds) {
            (Some(column), Some(kinds)) => {
                let written = table.cell(i, column);
                match written
                    .id()
                    .and_then(|k| kinds.kinds.get(k.as_ref()).map(|x| (k, x)))
                {
                    Some((value, found)) => {
                        let preferred = spec.prefer_kind.as_deref() == Some(value.as_ref());
                        Some((found.clone(), preferred))
                    }
                    None => {
                        let known: Vec<&str> = kinds.kinds.keys().map(String::as_str).collect();
                        let problem =
                            format!("is no kind of the description ({})", known.join(", "));
                        file_report.drop_row(
                            Reason::UnknownKind,
                            example(&kinds.column, &written, &problem),
                        );
                        continue;
                    }
                }
            }
            _ => None,
        };
        match position.locate(table, i) {
            None => file_report.drop_row(
                Reason::NoPosition,
                example(&spec.id, &cell, "has no readable position"),
            ),
            Some(location) if !description.inside(location) => {
                let problem = format!("is at {}, {}, outside the area", location.lon, location.lat);
                file_report.drop_row(Reason::OutsideArea, example(&spec.id, &cell, &problem));
            }
            Some(mut location) => {
                location.alt = alt_column.as_ref().and_then(|c| number(&table.cell(i, c)));
                file_report.rows_kept += 1;
                let index = stations.list.len();
                stations.keys.insert(station_key.clone(), index);
                stations.by_id.entry(id).or_default().push(index);
                let (kind, preferred) = match kind {
                    Some((k, preferred)) => (Some(k), preferred),
                    None => (None, false),
                };
                stations.list.push(Station {
                    key: station_key,
                    location,
                    kind,
                    preferred,
                });
            }
        }
    }
    report.files.push(file_report);
    Ok(())
}

fn load_estimates(
    description: &FleetDescription,
    dir: &Path,
    spec: &super::description::EstimateTable,
    report: &mut FleetReport,
) -> Result<HashMap<String, Quantities>, FleetError> {
    let resolve = Resolver::open(description, dir, &spec.file)?;
    let (table, file) = (&resolve.table, &resolve.file);
    let id_column = resolve.column("estimate.id", &spec.id)?;
    let values = resolve.values("estimate", &spec.values)?;
    let mut file_report = FleetFileReport::new(file, "estimate");
    let mut estimates = HashMap::new();
    for i in 0..table.len() {
        file_report.rows_read += 1;
        let Some(id) = table.cell(i, &id_column).id().map(|c| c.into_owned()) else {
            file_report.drop_row(Reason::NoId, None);
            continue;
        };
        if estimates.contains_key(&id) {
            file_report.drop_row(Reason::DuplicateStation, None);
            continue;
        }
        let quantities = read_values(table, i, &values, None, file, &mut file_report);
        if quantities.is_empty() {
            file_report.drop_row(Reason::NoValue, None);
            continue;
        }
        file_report.rows_kept += 1;
        estimates.insert(id, quantities);
    }
    report.files.push(file_report);
    Ok(estimates)
}

/// One file of the description, read, against which its column names are resolved.
struct Resolver<'a> {
    description: &'a FleetDescription,
    table: Table,
    file: PathBuf,
}

/// A position resolved against a file.
enum Locator {
    Columns(Column, Column),
    Geometry,
}

impl Locator {
    fn locate(&self, table: &Table, i: usize) -> Option<Location> {
        let (lon, lat) = match self {
            Locator::Geometry => table.geometry(i)?,
            Locator::Columns(lon, lat) => {
                (number(&table.cell(i, lon))?, number(&table.cell(i, lat))?)
            }
        };
        let valid = (-180.0..=180.0).contains(&lon) && (-90.0..=90.0).contains(&lat);
        valid.then(|| Location::new(lon, lat))
    }
}

impl<'a> Resolver<'a> {
    fn open(
        description: &'a FleetDescription,
        dir: &Path,
        spec: &super::description::FileSpec,
    ) -> Result<Resolver<'a>, FleetError> {
        Resolver::read(description, &dir.join(&spec.file), spec)
    }

    /// Reads the file at `path` as `spec` says (its format and delimiter).
    fn read(
        description: &'a FleetDescription,
        path: &Path,
        spec: &super::description::FileSpec,
    ) -> Result<Resolver<'a>, FleetError> {
        Ok(Resolver {
            description,
            table: Table::read_file(path, spec.format, spec.delimiter)?,
            file: path.to_owned(),
        })
    }

    /// The readings' time columns this file has, in order: `time`, then `time_fallback`.
    fn time_columns(&self) -> Result<Vec<(&'a str, Column)>, FleetError> {
        let readings = &self.description.readings;
        let found: Vec<(&'a str, Column)> = std::iter::once(&readings.time)
            .chain(&readings.time_fallback)
            .filter_map(|name| Some((name.as_str(), self.table.column(name)?)))
            .collect();
        if found.is_empty() {
            // Names the first: the error lists the columns the file has.
            self.column("readings.time", &readings.time)?;
        }
        Ok(found)
    }

    fn column(&self, key: &str, name: &str) -> Result<Column, FleetError> {
        self.table
            .column(name)
            .ok_or_else(|| FleetError::MissingColumn {
                description: self.description.origin.clone(),
                key: key.to_owned(),
                column: name.to_owned(),
                file: self.file.clone(),
                found: self.table.columns(),
            })
    }

    /// Each value's column: the first of its names the file has; `None` for an optional
    /// value whose column the file lacks.
    fn values<'s>(
        &self,
        table: &str,
        specs: &'s [ValueSpec],
    ) -> Result<Vec<(&'s ValueSpec, Option<Column>)>, FleetError> {
        specs
            .iter()
            .enumerate()
            .map(|(i, spec)| {
                let found = std::iter::once(&spec.column)
                    .chain(&spec.also)
                    .find_map(|name| self.table.column(name));
                match found {
                    Some(column) => Ok((spec, Some(column))),
                    None if spec.optional => Ok((spec, None)),
                    None => {
                        let key = format!("{table}.value[{i}].column");
                        Ok((spec, Some(self.column(&key, &spec.column)?)))
                    }
                }
            })
            .collect()
    }

    fn position(&self, table: &str, spec: &PositionSpec) -> Result<Locator, FleetError> {
        Ok(match spec {
            PositionSpec::Geometry => Locator::Geometry,
            PositionSpec::Columns { lon, lat } => Locator::Columns(
                self.column(&format!("{table}.lon"), lon)?,
                self.column(&format!("{table}.lat"), lat)?,
            ),
        })
    }
}

impl FleetDescription {
    /// Whether a location is inside the description's area (anywhere, without one).
    fn inside(&self, location: Location) -> bool {
        self.area.is_none_or(|[lon0, lat0, lon1, lat1]| {
            (lon0..=lon1).contains(&location.lon) && (lat0..=lat1).contains(&location.lat)
        })
    }
}

/// The quantities a reading of `profile` must carry.
fn required_quantities(profile: &str) -> Vec<Quantity> {
    Quantity::with_catalogue(|catalogue| {
        catalogue.profile(profile).map_or_else(Vec::new, |p| {
            p.profile
                .quantities
                .iter()
                .filter(|q| q.required)
                .map(|q| q.def.name.clone())
                .collect::<Vec<_>>()
        })
    })
    .iter()
    .filter_map(|name| Quantity::from_name(name))
    .collect()
}

fn number(cell: &Cell<'_>) -> Option<f64> {
    match cell {
        Cell::Number(n) => Some(*n),
        Cell::Text(t) => t.parse::<f64>().ok().filter(|n| n.is_finite()),
        Cell::Blank | Cell::Other(_) => None,
    }
}

fn parse_time(cell: &Cell<'_>, format: TimeFormat, zone: crate::Zone) -> Option<Timestamp> {
    match format {
        TimeFormat::Iso | TimeFormat::Date => match cell {
            Cell::Text(t) if format == TimeFormat::Iso || t.len() == 10 => {
                parse_in_zone(t, zone).ok()
            }
            _ => None,
        },
        TimeFormat::UnixS => Timestamp::from_unix_f64(number(cell)?),
        TimeFormat::UnixMs => {
            let ms = number(cell)?;
            (ms.fract() == 0.0 && ms.abs() < 1e17).then(|| Timestamp::from_unix_millis(ms as i64))
        }
    }
}

/// Reads the values of row `i`, counting what is dropped. A value of a quantity the station
/// does not measure (`measured`, when its kind says) is dropped and counted, unless blank or
/// not a number (counted as such).
fn read_values(
    table: &Table,
    i: usize,
    values: &[(&ValueSpec, Option<Column>)],
    measured: Option<&[Quantity]>,
    file: &Path,
    report: &mut FleetFileReport,
) -> Quantities {
    let mut quantities = Quantities::default();
    for (spec, column) in values {
        let Some(column) = column else { continue };
        let cell = table.cell(i, column);
        let carried = measured.is_none_or(|m| m.contains(&spec.quantity));
        let converted = match convert(spec, &cell) {
            Ok(Some(_)) | Err((Reason::Sentinel | Reason::OutOfRange | Reason::BadUnit, _))
                if !carried =>
            {
                report.drop_value(Reason::NotMeasured, None);
                continue;
            }
            other => other,
        };
        match converted {
            Ok(Some(v)) => {
                quantities.set(spec.quantity, v);
            }
            Ok(None) => report.blank_values += 1,
            Err((reason, problem)) => {
                let example = RowError {
                    path: file.to_owned(),
                    row: table.place(i),
                    column: spec.column.clone(),
                    value: cell.written().into_owned(),
                    problem,
                };
                report.drop_value(reason, Some(example));
            }
        }
    }
    quantities
}

/// One cell to one value in the quantity's unit: `Ok(None)` for a blank.
pub(crate) fn convert(spec: &ValueSpec, cell: &Cell<'_>) -> Result<Option<f64>, (Reason, String)> {
    let (raw, text_unit) = match cell {
        Cell::Blank => return Ok(None),
        Cell::Number(n) => (*n, None),
        Cell::Other(_) => return Err((Reason::NotANumber, "is not a number".to_owned())),
        Cell::Text(t) if spec.unit_in_text => {
            let (number, unit) = split_unit(t);
            let Some(unit) = unit else {
                return Err((
                    Reason::BadUnit,
                    "has no unit after the number (expected e.g. \"500 [mm]\")".to_owned(),
                ));
            };
            let conversion =
                super::description::conversion(spec.quantity, unit).ok_or_else(|| {
                    (
                        Reason::BadUnit,
                        super::description::no_conversion(spec.quantity, unit),
                    )
                })?;
            let n = parse_number(number)?;
            (n, Some(conversion))
        }
        Cell::Text(t) => (parse_number(t)?, None),
    };
    if spec.sentinels.contains(&raw) {
        return Err((Reason::Sentinel, "is a no-data sentinel".to_owned()));
    }
    let converted = match text_unit.or(spec.unit) {
        Some(unit) => unit.to_garonne(raw),
        None => raw,
    };
    let value = if spec.scale == 1.0 && spec.offset == 0.0 {
        converted
    } else {
        converted * spec.scale + spec.offset
    };
    if !spec.quantity.in_range(value) {
        let def = spec.quantity.def();
        return Err((
            Reason::OutOfRange,
            format!(
                "gives {value} {}, outside {} ({})",
                def.unit.symbol,
                spec.quantity.range_label(),
                spec.quantity.name()
            ),
        ));
    }
    Ok(Some(value))
}

fn parse_number(text: &str) -> Result<f64, (Reason, String)> {
    match text.trim().parse::<f64>() {
        Ok(n) if n.is_finite() => Ok(n),
        _ => Err((Reason::NotANumber, "is not a number".to_owned())),
    }
}

/// `500 [mm]`, `500 mm` or `500mm` as (`500`, `mm`).
fn split_unit(text: &str) -> (&str, Option<&str>) {
    let text = text.trim();
    let end = text
        .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E')))
        .unwrap_or(text.len());
    let (number, rest) = text.split_at(end);
    let unit = rest
        .trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .trim();
    (number, (!unit.is_empty()).then_some(unit))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(quantity: &str) -> ValueSpec {
        ValueSpec {
            quantity: Quantity::from_name(quantity).expect("catalogued"),
            column: "c".to_owned(),
            unit: None,
            unit_in_text: false,
            scale: 1.0,
            offset: 0.0,
            sentinels: Vec::new(),
            also: Vec::new(),
            optional: false,
        }
    }

    fn text(t: &str) -> Cell<'_> {
        Cell::Text(std::borrow::Cow::Borrowed(t))
    }

    #[test]
    fn values_convert_as_described() {
        let mut level = spec("streamGauge");
        level.unit_in_text = true;
        assert_eq!(convert(&level, &text("500 [mm]")), Ok(Some(0.5)));
        assert_eq!(convert(&level, &text("-80 [mm]")), Ok(Some(-0.08)));
        assert_eq!(convert(&level, &text("2 [m]")), Ok(Some(2.0)));
        assert_eq!(
            convert(&level, &text("7 [ft]")).map_err(|e| e.0),
            Err(Reason::BadUnit)
        );
        assert_eq!(
            convert(&level, &text("500")).map_err(|e| e.0),
            Err(Reason::BadUnit)
        );

        let mut wind = spec("windSpeed");
        wind.unit = super::super::description::conversion(wind.quantity, "km/h");
        assert_eq!(convert(&wind, &text("36")), Ok(Some(10.0)));

        let mut pressure = spec("atmosphericPressure");
        pressure.unit = super::super::description::conversion(pressure.quantity, "Pa");
        pressure.sentinels = vec![90_000.0];
        assert_eq!(convert(&pressure, &text("101325")), Ok(Some(1013.25)));
        assert_eq!(
            convert(&pressure, &text("90000")).map_err(|e| e.0),
            Err(Reason::Sentinel)
        );

        let bikes = spec("availableBikeNumber");
        assert_eq!(convert(&bikes, &Cell::Number(3.0)), Ok(Some(3.0)));
        assert_eq!(
            convert(&bikes, &text("2.5")).map_err(|e| e.0),
            Err(Reason::OutOfRange)
        );
        assert_eq!(
            convert(&bikes, &text("abc")).map_err(|e| e.0),
            Err(Reason::NotANumber)
        );
        assert_eq!(convert(&bikes, &Cell::Blank), Ok(None));
    }
}

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
use crate::Observation;
use crate::datetime::parse_in_zone;

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
    let resolve = Resolver::open(description, dir, &description.readings.file)?;
    let (rows, located, file_report) = read_rows(&resolve, stations.as_ref())?;
    report.files.insert(0, file_report);

    // The sensors: every station (in the files' order), or every id in order of appearance.
    let placed = stations.as_ref().unwrap_or(&located);
    let with_rows: std::collections::HashSet<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    let quantities: Vec<Quantity> = description
        .readings
        .values
        .iter()
        .map(|v| v.quantity)
        .collect();
    let mut sensors = Vec::with_capacity(placed.order.len());
    let mut ids: HashMap<&str, String> = HashMap::new();
    let mut taken: std::collections::HashSet<String> = std::collections::HashSet::new();
    for raw_id in &placed.order {
        let estimate = estimates.as_ref().and_then(|e| e.get(raw_id)).cloned();
        let has_history = with_rows.contains(raw_id.as_str());
        if !has_history && estimate.is_none() {
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
        } else {
            report.sensors_estimated += 1;
        }
        ids.insert(raw_id, id.clone());
        sensors.push(FleetSensor {
            id,
            location: placed.at[raw_id],
            quantities: quantities.clone(),
            estimate,
            has_history,
        });
    }
    let mut observations: Vec<Observation> = rows
        .iter()
        .filter_map(|(raw_id, time, quantities)| {
            Some(Observation {
                station_id: ids.get(raw_id.as_str())?.clone(),
                time: *time,
                quantities: quantities.clone(),
            })
        })
        .collect();
    // Sensor ids keep the order of raw ids only by chance (prefix, sanitising): sort again.
    observations.sort_by(|a, b| a.station_id.cmp(&b.station_id).then(a.time.cmp(&b.time)));

    if observations.is_empty() && sensors.is_empty() {
        return Err(FleetError::Empty {
            description: description.origin.clone(),
            file: resolve.file.clone(),
            report: report.to_string(),
        });
    }
    Ok(FleetData {
        name: description.name.clone(),
        profile: description.profile.clone(),
        kind: description.kind.clone(),
        replay: description.replay,
        sensors,
        observations,
        report,
    })
}

/// A kept readings row: raw id, time, values.
type Row = (String, Timestamp, Quantities);

/// Reads the readings file: its kept rows sorted by (raw id, time), one per instant; the
/// positions the rows give (when there is no stations file); and its report.
fn read_rows(
    resolve: &Resolver<'_>,
    stations: Option<&Stations>,
) -> Result<(Vec<Row>, Stations, FleetFileReport), FleetError> {
    let description = resolve.description;
    let readings = &description.readings;
    let (table, file) = (&resolve.table, &resolve.file);
    let id_column = resolve.column("readings.id", &readings.id)?;
    let time_column = resolve.column("readings.time", &readings.time)?;
    let values = resolve.values("readings", &readings.values)?;
    // With a stations file, positions come from it alone.
    let position = readings
        .position
        .as_ref()
        .filter(|_| stations.is_none())
        .map(|p| resolve.position("readings", p))
        .transpose()?;
    let required = required_quantities(&description.profile);

    let mut file_report = FleetFileReport::new(file, "readings");
    let mut rows: Vec<Row> = Vec::with_capacity(table.len());
    let mut located = Stations::default();
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
        if let Some(stations) = stations
            && !stations.contains_key(&raw_id)
        {
            let problem = "is no station of the stations files (or one outside the area)";
            file_report.drop_row(
                Reason::UnknownSensor,
                example(&readings.id, &id_cell, problem),
            );
            continue;
        }
        let time_cell = table.cell(i, &time_column);
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
        let quantities = read_values(table, i, &values, file, &mut file_report);
        if quantities.is_empty() {
            file_report.drop_row(Reason::NoValue, None);
            continue;
        }
        if let Some(q) = required.iter().find(|q| quantities.get(**q).is_none()) {
            let problem = format!("is blank or dropped, and the profile requires {}", q.name());
            let spec = values.iter().find(|(s, _)| s.quantity == *q);
            let cell = spec.map_or(Cell::Blank, |(_, c)| table.cell(i, c));
            let column = spec.map_or(q.name(), |(s, _)| s.column.as_str());
            file_report.drop_row(Reason::MissingRequired, example(column, &cell, &problem));
            continue;
        }
        if let Some(position) = &position
            && !located.contains_key(&raw_id)
        {
            match position.locate(table, i) {
                Some(location) if description.inside(location) => {
                    located.at.insert(raw_id.clone(), location);
                    located.order.push(raw_id.clone());
                }
                Some(_) => {
                    file_report.drop_row(Reason::OutsideArea, None);
                    continue;
                }
                None => {
                    let problem = "has no readable position";
                    file_report
                        .drop_row(Reason::NoPosition, example(&readings.id, &id_cell, problem));
                    continue;
                }
            }
        }
        rows.push((raw_id, time, quantities));
    }

    // Same sensor and instant: the first row in file order wins (a stable sort keeps it first).
    rows.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
    let before = rows.len();
    rows.dedup_by(|later, first| later.0 == first.0 && later.1 == first.1);
    for _ in rows.len()..before {
        file_report.drop_row(Reason::Duplicate, None);
    }
    file_report.rows_kept = rows.len();
    Ok((rows, located, file_report))
}

/// The stations files: positions by raw id, in file order (the first file's, then the ids
/// the next ones add).
#[derive(Default)]
struct Stations {
    at: HashMap<String, Location>,
    order: Vec<String>,
}

impl Stations {
    fn contains_key(&self, id: &str) -> bool {
        self.at.contains_key(id)
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
    let position = resolve.position(key, &spec.position)?;
    let mut file_report = FleetFileReport::new(file, "stations");
    let placed_before: std::collections::HashSet<String> = stations.at.keys().cloned().collect();
    for i in 0..table.len() {
        file_report.rows_read += 1;
        let cell = table.cell(i, &id_column);
        let example = |problem: &str| {
            Some(RowError {
                path: file.clone(),
                row: table.place(i),
                column: spec.id.clone(),
                value: cell.written().into_owned(),
                problem: problem.to_owned(),
            })
        };
        let Some(id) = cell.id().map(|c| c.into_owned()) else {
            file_report.drop_row(Reason::NoId, example("is no station id"));
            continue;
        };
        if placed_before.contains(&id) {
            file_report.drop_row(Reason::PlacedEarlier, None);
            continue;
        }
        if stations.at.contains_key(&id) {
            file_report.drop_row(
                Reason::DuplicateStation,
                example("appears again: the first is kept"),
            );
            continue;
        }
        match position.locate(table, i) {
            None => file_report.drop_row(Reason::NoPosition, example("has no readable position")),
            Some(location) if !description.inside(location) => {
                let problem = format!("is at {}, {}, outside the area", location.lon, location.lat);
                file_report.drop_row(Reason::OutsideArea, example(&problem));
            }
            Some(location) => {
                file_report.rows_kept += 1;
                stations.at.insert(id.clone(), location);
                stations.order.push(id);
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
        let quantities = read_values(table, i, &values, file, &mut file_report);
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
        Ok(Resolver {
            description,
            table: Table::read(dir, spec)?,
            file: dir.join(&spec.file),
        })
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

    fn values<'s>(
        &self,
        table: &str,
        specs: &'s [ValueSpec],
    ) -> Result<Vec<(&'s ValueSpec, Column)>, FleetError> {
        specs
            .iter()
            .enumerate()
            .map(|(i, spec)| {
                let key = format!("{table}.value[{i}].column");
                Ok((spec, self.column(&key, &spec.column)?))
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

/// Reads the values of row `i`, counting what is dropped.
fn read_values(
    table: &Table,
    i: usize,
    values: &[(&ValueSpec, Column)],
    file: &Path,
    report: &mut FleetFileReport,
) -> Quantities {
    let mut quantities = Quantities::default();
    for (spec, column) in values {
        let cell = table.cell(i, column);
        match convert(spec, &cell) {
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

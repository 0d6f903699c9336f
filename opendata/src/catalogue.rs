//! The station catalogue (`stations-meteo-en-place`): the JSON array export and the
//! Opendatasoft `;` CSV export of the same dataset.
//!
//! Every error in the catalogue stops the load, unlike bad values in readings: the catalogue
//! defines the fleet (which sensors exist, where, of which kind), so a station with no position
//! or an unknown type would silently vanish from the map, or appear in the wrong place. A wrong
//! catalogue is better refused with the line and column to fix.

use std::collections::HashMap;
use std::path::Path;

use garonne_payload::is_valid_sensor_id;

use crate::detect::{self, Sniffed};
use crate::record::{self, Cell, Num, Record};
use crate::{Format, LoadError, Station, StationKind};

/// Alternative names of the geo point column; the value is `{lon, lat}` (JSON object), `[lat,
/// lon]` (JSON array, the ODS convention) or `"lat, lon"` (text, in ODS CSV exports).
const GEO_POINT: &[&str] = &["geopoint", "geo_point_2d", "geo_point"];

/// Loads a detected catalogue, in file order; any bad record is an error.
pub(crate) fn load(path: &Path, sniffed: Sniffed<'_>) -> Result<Vec<Station>, LoadError> {
    let mut out = Vec::new();
    let mut first_line: HashMap<String, u64> = HashMap::new();
    let mut push = |station: Station, line: u64| -> Result<(), LoadError> {
        if let Some(&first) = first_line.get(&station.id) {
            return Err(LoadError::DuplicateStation {
                path: path.to_owned(),
                line,
                first_line: first,
                id: station.id,
            });
        }
        first_line.insert(station.id.clone(), line);
        out.push(station);
        Ok(())
    };
    match sniffed {
        Sniffed::Json {
            format: Format::CatalogueJson,
            records,
        } => {
            record::each_json_row(path, &records, |row, _| {
                push(station(path, row)?, row.line())
            })?;
        }
        Sniffed::Csv {
            format: Format::CatalogueCsv,
            delimiter,
            text,
        } => {
            let headers = detect::csv_headers(path, text, delimiter)?;
            record::each_csv_row(path, text, delimiter, &headers, |row| {
                push(station(path, row)?, row.line())
            })?;
        }
        other => {
            return Err(LoadError::WrongFormat {
                path: path.to_owned(),
                expected: "a station catalogue",
                found: other.format(),
            });
        }
    }
    Ok(out)
}

/// One catalogue record as a station.
fn station(path: &Path, row: &dyn Record) -> Result<Station, LoadError> {
    let bad = |column: &str, cell: Cell<'_>, problem: &'static str| LoadError::BadValue {
        path: path.to_owned(),
        line: row.line_of(column),
        column: column.to_owned(),
        value: cell.written().into_owned(),
        problem,
    };
    let missing = |column: &str| LoadError::MissingValue {
        path: path.to_owned(),
        line: row.line_of(column),
        column: column.to_owned(),
    };
    let number = |column: &'static str| -> Result<Option<f64>, LoadError> {
        let cell = row.cell(&[column]);
        match cell.number() {
            Num::Blank => Ok(None),
            Num::Value(v) => Ok(Some(v)),
            Num::Bad(source) => Err(LoadError::NotANumber {
                path: path.to_owned(),
                line: row.line_of(column),
                column: column.to_owned(),
                value: cell.written().into_owned(),
                source,
            }),
        }
    };

    let id_cell = row.cell(&["id_nom"]);
    let id = match id_cell {
        Cell::Blank => return Err(missing("id_nom")),
        Cell::Text(t) if is_valid_sensor_id(t) => t.to_owned(),
        other => {
            return Err(bad(
                "id_nom",
                other,
                "not a valid sensor id (1–128 of A–Z a–z 0–9 . _ -)",
            ));
        }
    };

    let number_cell = row.cell(&["id_numero"]);
    let station_number = match number("id_numero")? {
        None => return Err(missing("id_numero")),
        Some(n) => whole_number(n).ok_or_else(|| {
            bad(
                "id_numero",
                number_cell,
                "not a whole station number (0 or more)",
            )
        })?,
    };

    let kind_cell = row.cell(&["type_stati"]);
    let kind = match kind_cell.as_text() {
        Some(t) if t.eq_ignore_ascii_case("ISS") => StationKind::Iss,
        Some(t) if t.eq_ignore_ascii_case("TH") => StationKind::Th,
        _ if kind_cell.is_blank() => return Err(missing("type_stati")),
        _ => {
            return Err(bad(
                "type_stati",
                kind_cell,
                "not a station type (ISS or TH)",
            ));
        }
    };

    let (lon, lat) = match (number("longitude")?, number("latitude")?) {
        (Some(lon), Some(lat)) => (lon, lat),
        _ => match row.find(GEO_POINT) {
            Some((column, cell)) if !cell.is_blank() => geo_point(cell).ok_or_else(|| {
                bad(
                    column,
                    cell,
                    "not a geo point (\"lat, lon\", [lat, lon] or {\"lon\", \"lat\"})",
                )
            })?,
            _ => return Err(missing("longitude")),
        },
    };
    if !(-180.0..=180.0).contains(&lon) {
        return Err(bad(
            "longitude",
            Cell::Number(lon),
            "not a longitude (-180 to 180°)",
        ));
    }
    if !(-90.0..=90.0).contains(&lat) {
        return Err(bad(
            "latitude",
            Cell::Number(lat),
            "not a latitude (-90 to 90°)",
        ));
    }

    let alt = number("altitude")?;
    if let Some(a) = alt
        && !(-500.0..=9000.0).contains(&a)
    {
        return Err(bad(
            "altitude",
            Cell::Number(a),
            "not an altitude (-500 to 9000 m)",
        ));
    }

    let commune = row.cell(&["ville"]).written().into_owned();
    let transmitting = row.cell(&["emission"]).as_text() == Some("V");

    Ok(Station {
        id,
        number: station_number,
        kind,
        lon,
        lat,
        alt,
        commune,
        transmitting,
    })
}

/// `n` as a station number, if it is a whole number that fits.
pub(crate) fn whole_number(n: f64) -> Option<u32> {
    (n.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&n)).then_some(n as u32)
}

/// `(lon, lat)` of a geo point cell.
fn geo_point(cell: Cell<'_>) -> Option<(f64, f64)> {
    use serde_json::Value;
    let (lon, lat) = match cell {
        // ODS CSV exports write the point as "lat, lon".
        Cell::Text(t) => {
            let (lat, lon) = t.split_once(',')?;
            (lon.trim().parse().ok()?, lat.trim().parse().ok()?)
        }
        Cell::Json(Value::Object(o)) => (o.get("lon")?.as_f64()?, o.get("lat")?.as_f64()?),
        // ODS JSON exports of the v1 API write [lat, lon].
        Cell::Json(Value::Array(a)) if a.len() == 2 => (a[1].as_f64()?, a[0].as_f64()?),
        _ => return None,
    };
    (f64::is_finite(lon) && f64::is_finite(lat)).then_some((lon, lat))
}

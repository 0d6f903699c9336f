//! Station readings, in any of the three forms found in the wild, as [`Observation`]s.
//!
//! Each row goes through the same steps, whatever the format:
//! 1. its time: `heure_utc` when the row has it, else `heure_de_paris` converted to UTC from its
//!    offset. A row without a readable time stops the file: there is no way to place it, and a
//!    time column that does not parse is a sign the file is not what it seems.
//! 2. its station: the `id` number resolved to one catalogue `id_nom` (see [`Resolver`]). A row
//!    whose number matches no catalogue station is counted and skipped.
//! 3. an invalid radio frame (temperature −50 and humidity 0 together: the frame decoded to
//!    zeros, so its wind and rain zeros are garbage too) is counted and skipped whole.
//! 4. each value: a blank is no value; text that is not a number is dropped and counted, and
//!    the first few such errors are kept with their line and column (real exports have holes,
//!    and one bad cell must not cost the other values of the row or the rest of the file); a
//!    sentinel (−50 °C, 0 %, 90000 Pa) is dropped and counted; the value is converted to the
//!    Garonne unit (spec §6) and dropped, counted apart, if outside the payload's physical range
//!    (station 37's pressure jumps, for instance: they are faults, not sentinels); quantities
//!    the station's kind does not measure (a TH station's wind) are left out.
//! 5. a row left with no value is counted and skipped: a reading needs one quantity.
//!
//! Rows are then sorted by station and time; rows of the same station at the same instant are
//! merged into one observation: the first row in file order wins, and only the quantities it
//! lacks are taken from the later ones, which are counted as duplicates.

use std::collections::HashMap;
use std::path::Path;

use garonne_payload::{Quantities, Quantity, Timestamp};

use crate::datetime::{Naive, parse_utc};
use crate::detect::{self, Sniffed};
use crate::record::{self, Cell, Num, Record};
use crate::{FileReport, Format, LoadError, Observation, Station, StationKind, catalogue};

/// Column of the station number.
const ID: &[&str] = &["id"];
/// Column of the UTC time.
const UTC: &[&str] = &["heure_utc"];
/// Column of the local time with its offset.
const PARIS: &[&str] = &["heure_de_paris"];
/// Column of the student ETL's station label.
const LABEL: &[&str] = &["station_name"];
/// Column naming the readings dataset, in exports that have it.
const DATASET: &[&str] = &["datasetid", "dataset_id"];

/// How the first few unreadable values of a file are kept for the report.
const VALUE_ERRORS_KEPT: usize = 10;

/// How one open-data column becomes one quantity (spec §6).
struct Measure {
    quantity: Quantity,
    /// The column's names, the simple schema's first (some exports use the label-style name).
    columns: &'static [&'static str],
    /// The "no data" code, in the column's unit.
    sentinel: Option<f64>,
    /// Garonne value = column value / divisor (a divisor, not a factor: `77 / 100` is exactly
    /// `0.77`, `77 * 0.01` is not).
    divisor: f64,
}

const MEASURES: [Measure; 7] = [
    Measure {
        quantity: Quantity::Temperature,
        columns: &["temperature_en_degre_c", "temperature"],
        sentinel: Some(-50.0),
        divisor: 1.0,
    },
    Measure {
        quantity: Quantity::RelativeHumidity,
        columns: &["humidite"],
        sentinel: Some(0.0),
        divisor: 100.0,
    },
    Measure {
        quantity: Quantity::AtmosphericPressure,
        columns: &["pression"],
        sentinel: Some(90_000.0),
        divisor: 100.0,
    },
    Measure {
        quantity: Quantity::Precipitation,
        columns: &["pluie"],
        sentinel: None,
        divisor: 1.0,
    },
    Measure {
        quantity: Quantity::WindSpeed,
        columns: &["force_moyenne_du_vecteur_vent"],
        sentinel: None,
        divisor: 3.6,
    },
    Measure {
        quantity: Quantity::GustSpeed,
        columns: &["force_rafale_max"],
        sentinel: None,
        divisor: 3.6,
    },
    Measure {
        quantity: Quantity::WindDirection,
        columns: &["direction_du_vecteur_vent_moyen"],
        sentinel: None,
        divisor: 1.0,
    },
];

/// Loads a detected readings file. `report` must be fresh for this file; it is filled in.
pub(crate) fn load(
    path: &Path,
    sniffed: Sniffed<'_>,
    stations: &[Station],
    report: &mut FileReport,
) -> Result<Vec<Observation>, LoadError> {
    let mut state = FileState {
        path,
        resolver: Resolver::new(stations),
        report,
        rows: Vec::new(),
    };
    match sniffed {
        Sniffed::Json {
            format: Format::RecordsJson,
            records,
        } => {
            record::each_json_row(path, &records, |row, dataset| state.row(row, dataset))?;
        }
        Sniffed::Csv {
            format: Format::OdsCsv | Format::HourlyCsv,
            delimiter,
            text,
        } => {
            let headers = detect::csv_headers(path, text, delimiter)?;
            check_columns(path, &headers)?;
            record::each_csv_row(path, text, delimiter, &headers, |row| state.row(row, None))?;
        }
        other => {
            return Err(LoadError::WrongFormat {
                path: path.to_owned(),
                expected: "a readings file",
                found: other.format(),
            });
        }
    }
    Ok(state.finish())
}

/// Refuses a header without the station number or a time column: no row could be placed.
fn check_columns(path: &Path, headers: &[String]) -> Result<(), LoadError> {
    let has = |names: &[&str]| names.iter().any(|n| headers.iter().any(|h| h == n));
    let missing = if !has(ID) {
        "id"
    } else if !has(UTC) && !has(PARIS) {
        "heure_utc or heure_de_paris"
    } else {
        return Ok(());
    };
    Err(LoadError::MissingColumn {
        path: path.to_owned(),
        line: 1,
        column: missing,
    })
}

/// A row that passed, before sorting and merging.
struct Pending {
    station: usize,
    time: Timestamp,
    quantities: Quantities,
}

/// What is known while a file is read.
struct FileState<'a> {
    path: &'a Path,
    resolver: Resolver<'a>,
    report: &'a mut FileReport,
    rows: Vec<Pending>,
}

impl FileState<'_> {
    /// Reads one row (steps 1–5 of the module docs).
    fn row(&mut self, row: &dyn Record, dataset: Option<&str>) -> Result<(), LoadError> {
        self.report.rows_read += 1;
        let time = self.time(row)?;

        let id = self.number(row, ID);
        let label = row.cell(LABEL).as_text();
        let dataset = dataset.or_else(|| row.cell(DATASET).as_text());
        let station = id
            .and_then(catalogue::whole_number)
            .and_then(|n| self.resolver.resolve(n, dataset, label));
        let Some(station) = station else {
            if let Some(n) = id.filter(|n| catalogue::whole_number(*n).is_none()) {
                self.value_error(LoadError::BadValue {
                    path: self.path.to_owned(),
                    line: row.line_of("id"),
                    column: "id".to_owned(),
                    value: n.to_string(),
                    problem: "not a whole station number",
                });
            }
            self.report.unmatched_rows += 1;
            return Ok(());
        };

        let raw: [Option<f64>; MEASURES.len()] =
            std::array::from_fn(|i| self.number(row, MEASURES[i].columns));
        // Design: the invalid-frame test looks at temperature and humidity together: each alone
        // is also what a real but odd value could be, both together is the all-zero frame.
        if raw[0] == MEASURES[0].sentinel && raw[1] == MEASURES[1].sentinel {
            self.report.invalid_frames += 1;
            return Ok(());
        }

        let carried = self.resolver.stations[station].kind.quantities();
        let mut quantities = Quantities::default();
        for (measure, value) in MEASURES.iter().zip(raw) {
            let Some(value) = value else { continue };
            let q = measure.quantity;
            if !carried.contains(&q) {
                self.report.values_not_measured += 1;
            } else if measure.sentinel == Some(value) {
                *self.report.sentinels_dropped.entry(q).or_default() += 1;
            } else {
                let converted = value / measure.divisor;
                if q.in_range(converted) {
                    quantities.set(q, converted);
                } else {
                    *self.report.out_of_range_dropped.entry(q).or_default() += 1;
                }
            }
        }
        if quantities.is_empty() {
            self.report.rows_without_values += 1;
            return Ok(());
        }
        self.rows.push(Pending {
            station,
            time,
            quantities,
        });
        Ok(())
    }

    /// The row's time in UTC; an error for the file when it has none.
    fn time(&self, row: &dyn Record) -> Result<Timestamp, LoadError> {
        let (column, cell, naive) = match row.find(UTC) {
            Some((column, cell)) if !cell.is_blank() => (column, cell, Naive::IsUtc),
            _ => match row.find(PARIS) {
                Some((column, cell)) if !cell.is_blank() => (column, cell, Naive::Refuse),
                found => {
                    let column = found.map_or("heure_utc", |(c, _)| c);
                    return Err(LoadError::MissingValue {
                        path: self.path.to_owned(),
                        line: row.line_of(column),
                        column: column.to_owned(),
                    });
                }
            },
        };
        let written = cell.written();
        let parsed = match cell {
            Cell::Text(t) => parse_utc(t, naive),
            _ => Err(super::TimeError::Shape),
        };
        parsed.map_err(|source| LoadError::BadTime {
            path: self.path.to_owned(),
            line: row.line_of(column),
            column: column.to_owned(),
            value: written.into_owned(),
            source,
        })
    }

    /// The numeric value of the row's first column among `names`; `None` when blank or
    /// unreadable (counted, and the error kept if among the first few).
    fn number(&mut self, row: &dyn Record, names: &[&'static str]) -> Option<f64> {
        let (column, cell) = row.find(names)?;
        match cell.number() {
            Num::Value(v) => Some(v),
            Num::Blank => {
                self.report.blank_values += 1;
                None
            }
            Num::Bad(source) => {
                self.value_error(LoadError::NotANumber {
                    path: self.path.to_owned(),
                    line: row.line_of(column),
                    column: column.to_owned(),
                    value: cell.written().into_owned(),
                    source,
                });
                None
            }
        }
    }

    fn value_error(&mut self, error: LoadError) {
        self.report.unreadable_values += 1;
        if self.report.value_errors.len() < VALUE_ERRORS_KEPT {
            self.report.value_errors.push(error);
        }
    }

    /// Sorts by (station id, time), merges duplicates, and finishes the report.
    fn finish(self) -> Vec<Observation> {
        let stations = self.resolver.stations;
        let mut rows = self.rows;
        // Stable: rows of one station and instant stay in file order, so the first one wins.
        rows.sort_by(|a, b| {
            stations[a.station]
                .id
                .cmp(&stations[b.station].id)
                .then(a.time.cmp(&b.time))
        });
        let mut out: Vec<Observation> = Vec::with_capacity(rows.len());
        let mut last: Option<(usize, Timestamp)> = None;
        for row in rows {
            if last == Some((row.station, row.time)) {
                if let Some(kept) = out.last_mut() {
                    merge_into(&mut kept.quantities, &row.quantities);
                }
                self.report.duplicate_rows += 1;
                continue;
            }
            last = Some((row.station, row.time));
            out.push(Observation {
                station_id: stations[row.station].id.clone(),
                time: row.time,
                quantities: row.quantities,
            });
        }
        self.report.observations_kept = out.len();
        out
    }
}

/// Fills the quantities `kept` lacks from `later` (a duplicate of the same station and instant).
pub(crate) fn merge_into(kept: &mut Quantities, later: &Quantities) {
    for (q, v) in later.iter() {
        if kept.get(q).is_none() {
            kept.set(q, v);
        }
    }
}

/// Resolves a readings row's station number to one catalogue station.
///
/// `id_numero` is not unique (42 is both `42-…-parc-compans-cafarelli`, an ISS, and
/// `42-…-parc-compans-cafarelli-point-frais`, a TH sub-station), so among the catalogue
/// stations with the row's number the rule picks, in order:
/// 1. the one whose `id_nom` equals the readings dataset id (ignoring case: the portal
///    lower-cases `LIFE`), when the file names its dataset (a v1 record's `datasetid`, or a
///    `datasetid` column; the ODS CSV exports and v2.1 records do not);
/// 2. otherwise the best by these preferences, each one deciding only among the stations left
///    tied by the previous ones: an `id_nom` that does not end in `-point-frais`; an ISS
///    (the full station a readings dataset is about, rather than its TH sub-sensors); an
///    `id_nom` that contains every word of the row's `station_name` label (the student CSVs:
///    `paul_sabatier` → `…-universite-paul-sabatier`), when the row has one; the shortest
///    `id_nom`; the alphabetically first, so the choice never depends on catalogue order.
///
/// On the real catalogue every shared number has exactly one ISS that is not a `-point-frais`
/// entry, so step 2 always ends at its first preference pair.
pub(crate) struct Resolver<'s> {
    stations: &'s [Station],
    by_number: HashMap<u32, Vec<usize>>,
}

impl<'s> Resolver<'s> {
    pub(crate) fn new(stations: &'s [Station]) -> Resolver<'s> {
        let mut by_number: HashMap<u32, Vec<usize>> = HashMap::new();
        for (i, s) in stations.iter().enumerate() {
            by_number.entry(s.number).or_default().push(i);
        }
        Resolver {
            stations,
            by_number,
        }
    }

    /// The index of the station a row with this number (and dataset id, label) belongs to.
    pub(crate) fn resolve(
        &self,
        number: u32,
        dataset: Option<&str>,
        label: Option<&str>,
    ) -> Option<usize> {
        let candidates = self.by_number.get(&number)?;
        if let [only] = candidates.as_slice() {
            return Some(*only);
        }
        if let Some(dataset) = dataset {
            let named = candidates
                .iter()
                .find(|&&i| self.stations[i].id.eq_ignore_ascii_case(dataset));
            if let Some(&i) = named {
                return Some(i);
            }
        }
        candidates.iter().copied().min_by_key(|&i| {
            let s = &self.stations[i];
            (
                s.id.ends_with("-point-frais"),
                s.kind != StationKind::Iss,
                !label.is_some_and(|l| label_matches(l, &s.id)),
                s.id.len(),
                s.id.as_str(),
            )
        })
    }
}

/// Whether every word of a label like `compans_cafarelli` appears in `id_nom`.
pub(crate) fn label_matches(label: &str, id_nom: &str) -> bool {
    let id = id_nom.to_ascii_lowercase();
    let mut words = label
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .peekable();
    words.peek().is_some() && words.all(|w| id.contains(&w.to_ascii_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn station(id: &str, number: u32, kind: StationKind) -> Station {
        Station {
            id: id.to_owned(),
            number,
            kind,
            lon: 1.44,
            lat: 43.6,
            alt: None,
            commune: "Toulouse".to_owned(),
            transmitting: true,
        }
    }

    #[test]
    fn resolves_shared_numbers_by_the_documented_rule() {
        use StationKind::{Iss, Th};
        let stations = [
            station(
                "42-station-meteo-toulouse-parc-compans-cafarelli-point-frais",
                42,
                Th,
            ),
            station("42-station-meteo-toulouse-parc-compans-cafarelli", 42, Iss),
            station("63-station-meteo-toulouse-LIFE-soufflot", 63, Th),
            station("63-station-meteo-toulouse-LIFE-marechal-juin", 63, Iss),
            station("38-a-long-th-name", 38, Th),
            station("38-short-th", 38, Th),
            station("38-x-point-frais", 38, Th),
            station("70-b-iss", 70, Iss),
            station("70-a-iss", 70, Iss),
            station("70-north-iss-long", 70, Iss),
            station("12-station-meteo-toulouse-montaudran", 12, Iss),
        ];
        let resolver = Resolver::new(&stations);
        let id = |n, dataset, label| {
            resolver
                .resolve(n, dataset, label)
                .map(|i| stations[i].id.as_str())
        };
        let cases = [
            // (number, dataset id, label, expected id_nom)
            (
                42,
                None,
                None,
                Some("42-station-meteo-toulouse-parc-compans-cafarelli"),
            ),
            (
                42,
                None,
                Some("compans_cafarelli"),
                Some("42-station-meteo-toulouse-parc-compans-cafarelli"),
            ),
            (
                42,
                Some("42-station-meteo-toulouse-parc-compans-cafarelli-point-frais"),
                None,
                Some("42-station-meteo-toulouse-parc-compans-cafarelli-point-frais"),
            ),
            // The portal lower-cases LIFE in dataset ids.
            (
                63,
                Some("63-station-meteo-toulouse-life-soufflot"),
                None,
                Some("63-station-meteo-toulouse-LIFE-soufflot"),
            ),
            (
                63,
                Some("63-unknown-dataset"),
                None,
                Some("63-station-meteo-toulouse-LIFE-marechal-juin"),
            ),
            // No ISS: not point-frais, then the shortest.
            (38, None, None, Some("38-short-th")),
            // Several ISS: the label breaks the tie, else the shortest, then alphabetical.
            (70, None, Some("north_iss"), Some("70-north-iss-long")),
            (70, None, Some("nowhere"), Some("70-a-iss")),
            (70, None, None, Some("70-a-iss")),
            (
                12,
                None,
                Some("anything"),
                Some("12-station-meteo-toulouse-montaudran"),
            ),
            (99, None, None, None),
        ];
        for (number, dataset, label, want) in cases {
            assert_eq!(
                id(number, dataset, label),
                want,
                "{number} {dataset:?} {label:?}"
            );
        }
    }

    #[test]
    fn labels_match_by_words() {
        assert!(label_matches(
            "paul_sabatier",
            "37-station-meteo-toulouse-universite-paul-sabatier"
        ));
        assert!(label_matches(
            "saint_jory_beldou",
            "33-station-meteo-saint-jory-chapelle-beldou"
        ));
        assert!(!label_matches(
            "pech_david",
            "12-station-meteo-toulouse-montaudran"
        ));
        assert!(!label_matches("", "12-station-meteo-toulouse-montaudran"));
    }
}

//! One row of an export, whatever its format: a CSV row or a JSON record, read by column name.
//!
//! The catalogue and readings loaders are written once against [`Record`]; CSV and JSON differ
//! only in how a cell is found and on which line it sits. [`each_json_row`] and
//! [`each_csv_row`] walk a file's rows for both loaders.

use std::borrow::Cow;
use std::num::ParseFloatError;
use std::path::Path;

use serde_json::{Map, Value};

use crate::LoadError;
use crate::detect::{self, JsonRecords, RawRecord};

/// One value of a row.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Cell<'a> {
    /// Empty text, JSON `null`, or a key the record does not have.
    Blank,
    /// Text (a CSV cell, a JSON string), trimmed, not empty.
    Text(&'a str),
    /// A JSON number.
    Number(f64),
    /// Any other JSON value (boolean, array, object).
    Json(&'a Value),
}

/// What a numeric cell holds.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Num {
    /// Nothing: a blank cell.
    Blank,
    /// A finite number.
    Value(f64),
    /// Something that is not a finite number, with the parser's error for text.
    Bad(Option<ParseFloatError>),
}

impl<'a> Cell<'a> {
    /// The cell for some text: blank once trimmed, or the trimmed text.
    pub(crate) fn text(text: &'a str) -> Cell<'a> {
        match text.trim() {
            "" => Cell::Blank,
            t => Cell::Text(t),
        }
    }

    /// The cell for a JSON value.
    pub(crate) fn json(value: &'a Value) -> Cell<'a> {
        match value {
            Value::Null => Cell::Blank,
            Value::String(s) => Cell::text(s),
            // A JSON number always converts (arbitrary precision is off in this workspace).
            Value::Number(n) => n.as_f64().map_or(Cell::Json(value), Cell::Number),
            _ => Cell::Json(value),
        }
    }

    /// Whether there is no value.
    pub(crate) fn is_blank(&self) -> bool {
        matches!(self, Cell::Blank)
    }

    /// The value as written, for error messages.
    pub(crate) fn written(&self) -> Cow<'a, str> {
        match *self {
            Cell::Blank => Cow::Borrowed(""),
            Cell::Text(t) => Cow::Borrowed(t),
            Cell::Number(n) => Cow::Owned(n.to_string()),
            Cell::Json(v) => Cow::Owned(v.to_string()),
        }
    }

    /// The text, for text cells.
    pub(crate) fn as_text(&self) -> Option<&'a str> {
        match *self {
            Cell::Text(t) => Some(t),
            _ => None,
        }
    }

    /// The cell as a number: `12`, `12.0`, `-1.5e2` as text or JSON number.
    pub(crate) fn number(&self) -> Num {
        match *self {
            Cell::Blank => Num::Blank,
            Cell::Number(n) if n.is_finite() => Num::Value(n),
            Cell::Number(_) | Cell::Json(_) => Num::Bad(None),
            Cell::Text(t) => match t.parse::<f64>() {
                // Rust also reads "NaN" and "inf": no measurement is written that way.
                Ok(n) if n.is_finite() => Num::Value(n),
                Ok(_) => Num::Bad(None),
                Err(e) => Num::Bad(Some(e)),
            },
        }
    }
}

/// A row read by column name.
pub(crate) trait Record {
    /// The first of `names` the row has, and its cell; names are lower-case.
    fn find(&self, names: &[&'static str]) -> Option<(&'static str, Cell<'_>)>;

    /// The cell of the first of `names` the row has, blank if none.
    fn cell(&self, names: &[&'static str]) -> Cell<'_> {
        self.find(names).map_or(Cell::Blank, |(_, c)| c)
    }

    /// The line the row starts on.
    fn line(&self) -> u64;

    /// The line of the row's value in `column` (JSON records span several lines).
    fn line_of(&self, column: &str) -> u64 {
        let _ = column;
        self.line()
    }
}

/// A CSV row with its header.
pub(crate) struct CsvRow<'a> {
    /// The header, trimmed and lower-cased.
    pub headers: &'a [String],
    /// The row.
    pub record: &'a csv::StringRecord,
    /// The line the row starts on.
    pub line: u64,
}

impl Record for CsvRow<'_> {
    fn find(&self, names: &[&'static str]) -> Option<(&'static str, Cell<'_>)> {
        // Performance: a linear scan of about 15 headers, faster than hashing for so few.
        names.iter().find_map(|&name| {
            let i = self.headers.iter().position(|h| h == name)?;
            Some((name, Cell::text(self.record.get(i).unwrap_or_default())))
        })
    }

    fn line(&self) -> u64 {
        self.line
    }
}

/// A JSON record's values.
pub(crate) struct JsonRow<'a> {
    /// The values.
    pub fields: &'a Map<String, Value>,
    /// The record's text and first line.
    pub raw: RawRecord<'a>,
}

impl Record for JsonRow<'_> {
    fn find(&self, names: &[&'static str]) -> Option<(&'static str, Cell<'_>)> {
        names.iter().find_map(|&name| {
            let value = self.fields.get(name).or_else(|| {
                self.fields
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v)
            })?;
            Some((name, Cell::json(value)))
        })
    }

    fn line(&self) -> u64 {
        self.raw.line
    }

    fn line_of(&self, column: &str) -> u64 {
        self.raw.line_of_key(column)
    }
}

/// Calls `each` with every record of a JSON file in file order, and the dataset the record
/// names (v1 API records do); stops at the first error.
pub(crate) fn each_json_row(
    path: &Path,
    records: &JsonRecords<'_>,
    mut each: impl FnMut(&dyn Record, Option<&str>) -> Result<(), LoadError>,
) -> Result<(), LoadError> {
    for raw in records.iter() {
        let parsed = raw.fields().map_err(|source| LoadError::Json {
            path: path.to_owned(),
            line: raw.line,
            source,
        })?;
        let row = JsonRow {
            fields: &parsed.fields,
            raw,
        };
        each(&row, parsed.dataset.as_deref())?;
    }
    Ok(())
}

/// Calls `each` with every row of a CSV file (`headers` as [`detect::csv_headers`] read them)
/// in file order; stops at the first error.
pub(crate) fn each_csv_row(
    path: &Path,
    text: &str,
    delimiter: u8,
    headers: &[String],
    mut each: impl FnMut(&dyn Record) -> Result<(), LoadError>,
) -> Result<(), LoadError> {
    let mut reader = detect::csv_reader(text, delimiter);
    for result in reader.records() {
        let record = result.map_err(|source| csv_error(path, source))?;
        let row = CsvRow {
            headers,
            line: record.position().map_or(0, csv::Position::line),
            record: &record,
        };
        each(&row)?;
    }
    Ok(())
}

/// A CSV error, with its line.
fn csv_error(path: &Path, source: csv::Error) -> LoadError {
    LoadError::Csv {
        path: path.to_owned(),
        line: source.position().map_or(0, csv::Position::line),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_read_numbers_as_the_exports_write_them() {
        let cases = [
            (Cell::text("12.0"), Num::Value(12.0)),
            (Cell::text(" 98900 "), Num::Value(98_900.0)),
            (Cell::text("-1.8"), Num::Value(-1.8)),
            (Cell::text(""), Num::Blank),
            (Cell::text("   "), Num::Blank),
            (Cell::Number(77.0), Num::Value(77.0)),
            (Cell::text("NaN"), Num::Bad(None)),
            (Cell::text("inf"), Num::Bad(None)),
        ];
        for (cell, want) in cases {
            assert_eq!(cell.number(), want, "{cell:?}");
        }
        assert!(matches!(Cell::text("abc").number(), Num::Bad(Some(_))));
        assert!(matches!(
            Cell::json(&Value::Bool(true)).number(),
            Num::Bad(None)
        ));
        assert!(Cell::json(&Value::Null).is_blank());
    }
}

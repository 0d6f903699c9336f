//! A fleet file read as a table: rows of named cells, whatever the format (CSV with any
//! delimiter, JSON records, GeoJSON features), each row with the place people find it at.
//!
//! A column name `a.b.c` reaches into an object written in column `a`: a JSON object (a nested
//! JSON record), or text holding JSON or a Python literal (`{'bikes': 1, 'capacity': 13}`, as
//! pandas writes a dict into a CSV cell).

use std::borrow::Cow;
use std::fmt;
use std::path::Path;

use serde_json::{Map, Value};

use super::FleetError;
use super::description::FileFormat;
use crate::LoadError;

/// Where a row is in its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowPlace {
    /// A CSV row: its line (the header is line 1).
    Line(u64),
    /// A JSON record or GeoJSON feature: its position in the array, from 1.
    Record(u64),
}

impl fmt::Display for RowPlace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RowPlace::Line(n) => write!(f, "line {n}"),
            RowPlace::Record(n) => write!(f, "record {n}"),
        }
    }
}

/// A file's rows.
pub(crate) enum Table {
    /// CSV: the header (trimmed) and the rows.
    Csv {
        headers: Vec<String>,
        rows: Vec<(u64, csv::StringRecord)>,
    },
    /// JSON records or GeoJSON features: the values and, for features, the Point geometry.
    Json { rows: Vec<JsonRow> },
}

/// A JSON record's values, or a GeoJSON feature's properties and (lon, lat).
pub(crate) type JsonRow = (Map<String, Value>, Option<(f64, f64)>);

/// A column resolved against a table: where its cell is.
#[derive(Debug, Clone)]
pub(crate) struct Column {
    /// The CSV header index, or the JSON key.
    at: ColumnAt,
    /// The keys inside the cell's object, for `a.b.c`.
    path: Vec<String>,
}

#[derive(Debug, Clone)]
enum ColumnAt {
    Index(usize),
    Key(String),
}

/// One cell's value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cell<'a> {
    /// Empty text, `null`, or absent.
    Blank,
    /// Text, trimmed, or a number written as text.
    Text(Cow<'a, str>),
    /// A JSON number.
    Number(f64),
    /// Anything else (an object, an array, a boolean), as JSON text.
    Other(String),
}

impl Cell<'_> {
    /// The value as written, for messages.
    pub(crate) fn written(&self) -> Cow<'_, str> {
        match self {
            Cell::Blank => Cow::Borrowed(""),
            Cell::Text(t) => Cow::Borrowed(t),
            Cell::Number(n) => Cow::Owned(n.to_string()),
            Cell::Other(o) => Cow::Borrowed(o),
        }
    }

    /// The value as an id: text as written, a whole number without `.0` (a JSON number, or
    /// text such as `12.0`: pandas writes whole numbers as floats).
    pub(crate) fn id(&self) -> Option<Cow<'_, str>> {
        match self {
            Cell::Blank | Cell::Other(_) => None,
            Cell::Text(t) => Some(match t.split_once('.') {
                Some((whole, zeros))
                    if !whole.is_empty()
                        && whole.bytes().all(|b| b.is_ascii_digit())
                        && !zeros.is_empty()
                        && zeros.bytes().all(|b| b == b'0') =>
                {
                    Cow::Borrowed(whole)
                }
                _ => Cow::Borrowed(t),
            }),
            Cell::Number(n) if n.fract() == 0.0 && n.abs() < 1e15 => {
                Some(Cow::Owned(format!("{}", *n as i64)))
            }
            Cell::Number(n) => Some(Cow::Owned(n.to_string())),
        }
    }
}

impl Table {
    /// Reads and parses a fleet file (`format` [`FileFormat::Auto`]: recognised by content).
    pub(crate) fn read_file(
        path: &Path,
        format: FileFormat,
        delimiter: u8,
    ) -> Result<Table, FleetError> {
        let path = path.to_owned();
        let bytes = std::fs::read(&path).map_err(|source| LoadError::Read {
            path: path.clone(),
            source,
        })?;
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
        let text = std::str::from_utf8(bytes).map_err(|source| LoadError::NotUtf8 {
            path: path.clone(),
            line: crate::detect::line_of(
                std::str::from_utf8(&bytes[..source.valid_up_to()]).unwrap_or_default(),
                source.valid_up_to(),
            ),
            source,
        })?;
        match format {
            FileFormat::Csv => read_csv(&path, text, delimiter),
            FileFormat::Json => read_json(&path, text, false),
            FileFormat::Geojson => read_json(&path, text, true),
            FileFormat::Auto if text.trim_start().starts_with(['[', '{']) => {
                read_json(&path, text, false)
            }
            FileFormat::Auto => {
                let header = text.lines().next().unwrap_or_default();
                let count = |c: char| header.matches(c).count();
                let delimiter = if count(';') > count(',') { b';' } else { b',' };
                read_csv(&path, text, delimiter)
            }
        }
    }

    /// How many rows.
    pub(crate) fn len(&self) -> usize {
        match self {
            Table::Csv { rows, .. } => rows.len(),
            Table::Json { rows } => rows.len(),
        }
    }

    /// Where row `i` is.
    pub(crate) fn place(&self, i: usize) -> RowPlace {
        match self {
            Table::Csv { rows, .. } => RowPlace::Line(rows[i].0),
            Table::Json { .. } => RowPlace::Record(i as u64 + 1),
        }
    }

    /// The column names people can write (the header, or the first record's keys).
    pub(crate) fn columns(&self) -> Vec<String> {
        match self {
            Table::Csv { headers, .. } => headers.clone(),
            Table::Json { rows } => rows
                .first()
                .map(|(m, _)| m.keys().cloned().collect())
                .unwrap_or_default(),
        }
    }

    /// Finds `name` (`a.b.c` reaching into column `a`), or `None` when the file has no such
    /// column: the whole name first, then its part before each dot, longest first.
    pub(crate) fn column(&self, name: &str) -> Option<Column> {
        let mut split = name.len();
        loop {
            let (head, tail) = name.split_at(split);
            let at = match self {
                Table::Csv { headers, .. } => {
                    headers.iter().position(|h| h == head).map(ColumnAt::Index)
                }
                Table::Json { rows } => rows
                    .iter()
                    .take(100)
                    .any(|(m, _)| m.contains_key(head))
                    .then(|| ColumnAt::Key(head.to_owned())),
            };
            if let Some(at) = at {
                let path = tail
                    .split('.')
                    .filter(|k| !k.is_empty())
                    .map(str::to_owned)
                    .collect();
                return Some(Column { at, path });
            }
            split = head.rfind('.')?;
        }
    }

    /// The cell of row `i` in `column`.
    pub(crate) fn cell(&self, i: usize, column: &Column) -> Cell<'_> {
        let top: Cell<'_> = match (self, &column.at) {
            (Table::Csv { rows, .. }, ColumnAt::Index(c)) => {
                match rows[i].1.get(*c).map(str::trim) {
                    None | Some("") => Cell::Blank,
                    Some(t) => Cell::Text(Cow::Borrowed(t)),
                }
            }
            (Table::Json { rows }, ColumnAt::Key(k)) => match rows[i].0.get(k) {
                None => Cell::Blank,
                Some(v) if column.path.is_empty() => json_cell(v),
                Some(v) => return descend(Cow::Borrowed(v), &column.path),
            },
            _ => Cell::Blank,
        };
        if column.path.is_empty() {
            return top;
        }
        match top {
            Cell::Text(t) => match parse_literal(&t) {
                Some(v) => descend(Cow::Owned(v), &column.path),
                None => Cell::Other(t.into_owned()),
            },
            other => other,
        }
    }

    /// The Point geometry of feature `i` (GeoJSON only).
    pub(crate) fn geometry(&self, i: usize) -> Option<(f64, f64)> {
        match self {
            Table::Json { rows } => rows[i].1,
            Table::Csv { .. } => None,
        }
    }
}

/// The cell `path` leads to inside `value`.
fn descend(value: Cow<'_, Value>, path: &[String]) -> Cell<'static> {
    let mut at: &Value = &value;
    for key in path {
        match at.get(key) {
            Some(v) => at = v,
            None => return Cell::Blank,
        }
    }
    match json_cell(at) {
        Cell::Text(t) => Cell::Text(Cow::Owned(t.into_owned())),
        Cell::Blank => Cell::Blank,
        Cell::Number(n) => Cell::Number(n),
        Cell::Other(o) => Cell::Other(o),
    }
}

fn json_cell(value: &Value) -> Cell<'_> {
    match value {
        Value::Null => Cell::Blank,
        Value::String(s) if s.trim().is_empty() => Cell::Blank,
        Value::String(s) => Cell::Text(Cow::Borrowed(s.trim())),
        Value::Number(n) => n
            .as_f64()
            .map_or_else(|| Cell::Other(n.to_string()), Cell::Number),
        other => Cell::Other(other.to_string()),
    }
}

/// Text holding a JSON value, or a Python literal (single quotes, `True`, `False`, `None`).
fn parse_literal(text: &str) -> Option<Value> {
    if let Ok(v) = serde_json::from_str(text) {
        return Some(v);
    }
    // Design: a Python literal differs from JSON in its quotes and three names; rewriting
    // those outside strings is enough for the dicts pandas writes (no eval, no escapes
    // beyond `\'`).
    let mut json = String::with_capacity(text.len());
    let mut quote: Option<char> = None;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), '\\') => {
                if let Some(next) = chars.next() {
                    if next == '\'' && q == '\'' {
                        json.push('\'');
                    } else {
                        json.push('\\');
                        json.push(next);
                    }
                }
            }
            (Some(q), c) if c == q => {
                json.push('"');
                quote = None;
            }
            (Some('\''), '"') => json.push_str("\\\""),
            (Some(_), c) => json.push(c),
            (None, '\'' | '"') => {
                json.push('"');
                quote = Some(c);
            }
            (None, c) if c.is_ascii_alphabetic() => {
                let mut word = String::from(c);
                while let Some(&n) = chars.peek() {
                    if !n.is_ascii_alphanumeric() {
                        break;
                    }
                    word.push(n);
                    chars.next();
                }
                json.push_str(match word.as_str() {
                    "True" => "true",
                    "False" => "false",
                    "None" => "null",
                    other => other,
                });
            }
            (None, c) => json.push(c),
        }
    }
    serde_json::from_str(&json).ok()
}

fn read_csv(path: &Path, text: &str, delimiter: u8) -> Result<Table, FleetError> {
    let csv_error = |source: csv::Error| LoadError::Csv {
        path: path.to_owned(),
        line: source.position().map_or(1, csv::Position::line),
        source,
    };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(true)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .map_err(csv_error)?
        .iter()
        .map(|h| h.trim().to_owned())
        .collect();
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(csv_error)?;
        let line = record.position().map_or(0, csv::Position::line);
        rows.push((line, record));
    }
    Ok(Table::Csv { headers, rows })
}

fn read_json(path: &Path, text: &str, geojson: bool) -> Result<Table, FleetError> {
    let top: Value = serde_json::from_str(text).map_err(|source| LoadError::Json {
        path: path.to_owned(),
        line: source.line() as u64,
        source,
    })?;
    let shape = |expected: &str| FleetError::Shape {
        path: path.to_owned(),
        expected: expected.to_owned(),
    };
    let records = match top {
        Value::Array(a) if !geojson => a,
        Value::Object(mut o) => {
            let key = if geojson {
                "features"
            } else if o.contains_key("results") {
                "results"
            } else {
                "records"
            };
            match o.remove(key) {
                Some(Value::Array(a)) => a,
                _ if geojson => {
                    return Err(shape("a GeoJSON FeatureCollection (\"features\": [...])"));
                }
                _ => {
                    return Err(shape(
                        "JSON records: an array of objects, or an object with \"results\" or \"records\"",
                    ));
                }
            }
        }
        _ if geojson => return Err(shape("a GeoJSON FeatureCollection (\"features\": [...])")),
        _ => return Err(shape("JSON records: an array of objects")),
    };
    let mut rows = Vec::with_capacity(records.len());
    for record in records {
        let Value::Object(mut object) = record else {
            return Err(shape("records that are JSON objects"));
        };
        if geojson {
            let point = object.get("geometry").and_then(point_of);
            let properties = match object.remove("properties") {
                Some(Value::Object(p)) => p,
                _ => Map::new(),
            };
            rows.push((properties, point));
        } else {
            // A v1 API record nests its values under `fields`; its own keys (`datasetid`,
            // `recordid`, ...) are columns too, unless a field has the name.
            let fields = match object.remove("fields") {
                Some(Value::Object(mut f)) => {
                    for (key, value) in object {
                        f.entry(key).or_insert(value);
                    }
                    f
                }
                Some(other) => {
                    object.insert("fields".to_owned(), other);
                    object
                }
                None => object,
            };
            rows.push((fields, None));
        }
    }
    Ok(Table::Json { rows })
}

/// The (lon, lat) of a GeoJSON Point geometry.
fn point_of(geometry: &Value) -> Option<(f64, f64)> {
    if geometry.get("type")?.as_str()? != "Point" {
        return None;
    }
    let c = geometry.get("coordinates")?.as_array()?;
    Some((c.first()?.as_f64()?, c.get(1)?.as_f64()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_literals_read_as_json() {
        let v = parse_literal(
            "{'availabilities': {'bikes': 1, 'stands': 11}, 'capacity': 13, 'ok': True, \
             'x': None, 'name': 'l\\'île \"2\"'}",
        )
        .expect("literal");
        assert_eq!(v["availabilities"]["stands"], 11);
        assert_eq!(v["ok"], true);
        assert_eq!(v["x"], Value::Null);
        assert_eq!(v["name"], "l'île \"2\"");
        assert_eq!(parse_literal("{\"a\": 1}").expect("json")["a"], 1);
        assert_eq!(parse_literal("{'a': 1"), None);
    }

    #[test]
    fn dotted_columns_reach_into_cells() {
        let text = "id;stands\n7;\"{'availabilities': {'bikes': 3}, 'capacity': 13}\"\n";
        let Ok(table) = read_csv(Path::new("t.csv"), text, b';') else {
            panic!("csv");
        };
        let column = table.column("stands.availabilities.bikes").expect("column");
        assert_eq!(table.cell(0, &column), Cell::Number(3.0));
        let capacity = table.column("stands.capacity").expect("column");
        assert_eq!(table.cell(0, &capacity), Cell::Number(13.0));
        assert!(table.column("nope.capacity").is_none());
        assert_eq!(table.place(0), RowPlace::Line(2));
    }
}

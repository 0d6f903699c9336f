//! Telling the formats apart by content, never by file name.
//!
//! A file is JSON when its first non-blank character is `[` or `{`, CSV otherwise. JSON records
//! are the top-level array, or the `results` array of a v2.1 API response, or the `records`
//! array of a v1 one (whose records nest their values under `fields`). A CSV file's delimiter is
//! whichever of `;` and `,` its header line has more of. Then the keys decide: `id_nom` (or
//! `id_numero`, `type_stati`) makes a station catalogue; a time or measurement column of the
//! station schema (`heure_utc`, `heure_de_paris`, `temperature_en_degre_c`, `humidite`,
//! `pression`) makes readings; anything else is "not a weather file".
//!
//! Design: detection never fails on a file it does not recognise (so [`super::load_dir`] can
//! skip GeoJSON, bike data or notes); it fails only on a file that starts like one of ours but
//! is broken (invalid JSON, bytes that are not UTF-8 after a weather header).

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::{Format, LoadError};

/// Column names that make a header a station catalogue's.
const CATALOGUE_KEYS: [&str; 3] = ["id_nom", "id_numero", "type_stati"];
/// Column names that make a header a readings file's.
const READINGS_KEYS: [&str; 5] = [
    "heure_utc",
    "heure_de_paris",
    "temperature_en_degre_c",
    "humidite",
    "pression",
];

/// A file's content, classified.
pub(crate) enum Sniffed<'t> {
    /// JSON records (catalogue or readings, as `format` says).
    Json {
        /// [`Format::CatalogueJson`] or [`Format::RecordsJson`].
        format: Format,
        /// The records.
        records: JsonRecords<'t>,
    },
    /// Delimited text (catalogue or readings, as `format` says).
    Csv {
        /// [`Format::CatalogueCsv`], [`Format::OdsCsv`] or [`Format::HourlyCsv`].
        format: Format,
        /// `b';'` or `b','`.
        delimiter: u8,
        /// The whole text, header included, BOM removed.
        text: &'t str,
    },
    /// Something else.
    NotWeather,
}

impl Sniffed<'_> {
    /// The detected format.
    pub(crate) fn format(&self) -> Format {
        match self {
            Sniffed::Json { format, .. } | Sniffed::Csv { format, .. } => *format,
            Sniffed::NotWeather => Format::NotWeather,
        }
    }
}

/// Decodes a file's bytes as text without a BOM; `Ok(None)` for content that is not UTF-8
/// and does not start like one of ours (every export is UTF-8: a gzip file or a Latin-1
/// GeoJSON is just something else).
pub(crate) fn decode<'b>(path: &Path, bytes: &'b [u8]) -> Result<Option<&'b str>, LoadError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(text) => Ok(Some(text)),
        Err(e) => {
            // The valid prefix tells whether this was meant to be one of ours: a weather header
            // followed by Latin-1 bytes is a broken export, to report rather than skip.
            let prefix = std::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or_default();
            if starts_like_weather(prefix) {
                Err(LoadError::NotUtf8 {
                    path: path.to_owned(),
                    line: line_of(prefix, prefix.len()),
                    source: e,
                })
            } else {
                Ok(None)
            }
        }
    }
}

/// Whether `text` starts like a catalogue or readings file: a CSV header naming one of their
/// columns, or JSON with one of their keys in its first 64 KiB.
fn starts_like_weather(text: &str) -> bool {
    let mut end = text.len().min(64 * 1024);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let head = &text[..end];
    let mut keys = CATALOGUE_KEYS.iter().chain(READINGS_KEYS.iter());
    if head.trim_start().starts_with(['[', '{']) {
        keys.any(|k| head.contains(&format!("\"{k}\"")))
    } else {
        let header = head.lines().next().unwrap_or_default().to_ascii_lowercase();
        keys.any(|k| {
            header
                .split([';', ','])
                .any(|h| h.trim().trim_matches('"') == *k)
        })
    }
}

/// Classifies a file's text (BOM already removed).
pub(crate) fn sniff<'t>(path: &Path, text: &'t str) -> Result<Sniffed<'t>, LoadError> {
    match text.trim_start().as_bytes().first() {
        Some(b'[' | b'{') => sniff_json(path, text),
        Some(_) => Ok(sniff_csv(path, text)),
        None => Ok(Sniffed::NotWeather),
    }
}

fn sniff_json<'t>(path: &Path, text: &'t str) -> Result<Sniffed<'t>, LoadError> {
    let json_error = |source: serde_json::Error| LoadError::Json {
        path: path.to_owned(),
        line: source.line() as u64,
        source,
    };
    let raws: Vec<&'t RawValue> = if text.trim_start().starts_with('[') {
        serde_json::from_str(text).map_err(json_error)?
    } else {
        let top: BTreeMap<String, &'t RawValue> = serde_json::from_str(text).map_err(json_error)?;
        let array = ["results", "records"].iter().find_map(|k| top.get(*k));
        match array.map(|raw| serde_json::from_str::<Vec<&'t RawValue>>(raw.get())) {
            Some(Ok(raws)) => raws,
            // A GeoJSON FeatureCollection, a catalogue search response, any other object.
            _ => return Ok(Sniffed::NotWeather),
        }
    };
    Ok(classify_records(JsonRecords::new(text, raws)))
}

fn classify_records(records: JsonRecords<'_>) -> Sniffed<'_> {
    let Some(first) = records.iter().next() else {
        return Sniffed::NotWeather;
    };
    let Ok(record) = first.fields() else {
        return Sniffed::NotWeather;
    };
    let has = |keys: &[&str]| keys.iter().any(|k| record.fields.contains_key(*k));
    let format = if has(&CATALOGUE_KEYS) {
        Format::CatalogueJson
    } else if has(&READINGS_KEYS) {
        Format::RecordsJson
    } else {
        return Sniffed::NotWeather;
    };
    Sniffed::Json { format, records }
}

fn sniff_csv<'t>(path: &Path, text: &'t str) -> Sniffed<'t> {
    let first_line = text.lines().next().unwrap_or_default();
    let semicolons = first_line.matches(';').count();
    let commas = first_line.matches(',').count();
    let delimiter = match (semicolons, commas) {
        (0, 0) => return Sniffed::NotWeather,
        (s, c) if s >= c => b';',
        _ => b',',
    };
    // A header the CSV reader cannot read is not one of ours; the loaders report it if asked.
    let Ok(headers) = csv_headers(path, text, delimiter) else {
        return Sniffed::NotWeather;
    };
    let has = |keys: &[&str]| keys.iter().any(|k| headers.iter().any(|h| h == k));
    let format = if has(&CATALOGUE_KEYS) {
        Format::CatalogueCsv
    } else if has(&READINGS_KEYS) {
        if delimiter == b';' {
            Format::OdsCsv
        } else {
            Format::HourlyCsv
        }
    } else {
        return Sniffed::NotWeather;
    };
    Sniffed::Csv {
        format,
        delimiter,
        text,
    }
}

/// A CSV reader over `text` with the settings every export needs.
pub(crate) fn csv_reader(text: &str, delimiter: u8) -> csv::Reader<&[u8]> {
    // Design: not `flexible`: a row with a missing or extra field means the export is cut or
    // shifted, and guessing which column is which would attribute values to the wrong quantity.
    csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(true)
        .from_reader(text.as_bytes())
}

/// The header's column names, trimmed and lower-cased.
pub(crate) fn csv_headers(
    path: &Path,
    text: &str,
    delimiter: u8,
) -> Result<Vec<String>, LoadError> {
    let mut reader = csv_reader(text, delimiter);
    let headers = reader.headers().map_err(|source| LoadError::Csv {
        path: path.to_owned(),
        line: 1,
        source,
    })?;
    Ok(headers
        .iter()
        .map(|h| h.trim().to_ascii_lowercase())
        .collect())
}

/// The records of a JSON file, kept as raw text until each is read, with their line numbers.
///
/// Performance: records are parsed one at a time, so an 18 MB export never exists as a tree of
/// 170,000 maps; line numbers are counted incrementally, once over the file.
pub(crate) struct JsonRecords<'t> {
    text: &'t str,
    raws: Vec<&'t RawValue>,
}

/// One JSON record, not yet parsed.
#[derive(Clone, Copy)]
pub(crate) struct RawRecord<'t> {
    /// The line the record starts on.
    pub line: u64,
    /// The record's JSON text.
    pub raw: &'t str,
}

/// One JSON record's values, with what the record says about its dataset.
pub(crate) struct JsonFields {
    /// The values (a v1 record's `fields`, or the record itself).
    pub fields: Map<String, Value>,
    /// The dataset id, when the record names it (v1 `datasetid`).
    pub dataset: Option<String>,
}

impl<'t> JsonRecords<'t> {
    fn new(text: &'t str, raws: Vec<&'t RawValue>) -> JsonRecords<'t> {
        JsonRecords { text, raws }
    }

    /// The records in file order, with the line each starts on.
    pub(crate) fn iter(&self) -> impl Iterator<Item = RawRecord<'t>> + '_ {
        let base = self.text.as_ptr() as usize;
        let mut counted = 0usize;
        let mut line = 1u64;
        self.raws.iter().map(move |raw| {
            // Design: a borrowed RawValue is a slice of the input, so its address gives its
            // offset in the file; records are in file order, so counting newlines from the
            // previous record's offset is enough.
            let offset = (raw.get().as_ptr() as usize)
                .saturating_sub(base)
                .min(self.text.len());
            let offset = offset.max(counted);
            line += self.text.as_bytes()[counted..offset]
                .iter()
                .filter(|&&b| b == b'\n')
                .count() as u64;
            counted = offset;
            RawRecord {
                line,
                raw: raw.get(),
            }
        })
    }
}

impl RawRecord<'_> {
    /// Parses the record's values (unwrapping a v1 record's `fields`).
    pub(crate) fn fields(&self) -> Result<JsonFields, serde_json::Error> {
        let mut map: Map<String, Value> = serde_json::from_str(self.raw)?;
        let dataset = ["datasetid", "dataset_id"]
            .iter()
            .find_map(|k| map.get(*k).and_then(Value::as_str))
            .map(str::to_owned);
        let fields = match map.remove("fields") {
            Some(Value::Object(fields)) => fields,
            Some(other) => {
                map.insert("fields".to_owned(), other);
                map
            }
            None => map,
        };
        Ok(JsonFields { fields, dataset })
    }

    /// The line of `key` inside this record (the record's first line if not found).
    pub(crate) fn line_of_key(&self, key: &str) -> u64 {
        let needle = format!("\"{key}\"");
        match self.raw.find(&needle) {
            Some(i) => self.line + line_of(self.raw, i) - 1,
            None => self.line,
        }
    }
}

/// The 1-based line of byte `offset` in `text`.
pub(crate) fn line_of(text: &str, offset: usize) -> u64 {
    let end = offset.min(text.len());
    1 + text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count() as u64
}

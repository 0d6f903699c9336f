//! Why an open-data file could not be loaded, naming the file, the line and the column.
//!
//! Every message starts with the file, then (where it applies) `line N, column NAME`, so a user
//! can open the export at the right place: `data.csv: line 17, column pression: "abc" is not a
//! number`. The underlying cause goes in `#[source]`, never repeated in the text.

use std::num::ParseFloatError;
use std::path::{Path, PathBuf};

use crate::Format;
use crate::datetime::TimeError;

/// An error loading the open-data files.
///
/// Most variants stop the file being loaded. [`LoadError::NotANumber`] is the exception: a bad
/// value drops only that value, and the error is kept in the file's
/// [`FileReport::value_errors`](super::FileReport::value_errors) for the user to see.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The directory could not be listed.
    #[error("cannot list the directory {}", path.display())]
    ReadDir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not UTF-8 text.
    #[error("{}: line {line}: not UTF-8 text", path.display())]
    NotUtf8 {
        /// The file.
        path: PathBuf,
        /// The line of the first invalid byte.
        line: u64,
        /// Where the bytes stop being UTF-8.
        #[source]
        source: std::str::Utf8Error,
    },
    /// The file starts like JSON but is not valid JSON.
    #[error("{}: line {line}: invalid JSON", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// The line of the syntax error.
        line: u64,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// The CSV structure is broken (a row with the wrong number of fields, say).
    #[error("{}: line {line}: malformed CSV", path.display())]
    Csv {
        /// The file.
        path: PathBuf,
        /// The line of the broken row.
        line: u64,
        /// The CSV reader's error.
        #[source]
        source: csv::Error,
    },
    /// The file is not what the caller asked for (readings given as a catalogue, a GeoJSON
    /// file given as readings...).
    #[error("{}: {found}, expected {expected}", path.display())]
    WrongFormat {
        /// The file.
        path: PathBuf,
        /// What was asked for, e.g. "a station catalogue".
        expected: &'static str,
        /// What the content looks like.
        found: Format,
    },
    /// A column the format needs is not in the header (or in the JSON records).
    #[error("{}: line {line}: missing column {column}", path.display())]
    MissingColumn {
        /// The file.
        path: PathBuf,
        /// The header's line (the first record's, for JSON).
        line: u64,
        /// The missing column, e.g. `heure_utc or heure_de_paris`.
        column: &'static str,
    },
    /// A required value is blank or absent.
    #[error("{}: line {line}, column {column}: no value", path.display())]
    MissingValue {
        /// The file.
        path: PathBuf,
        /// The row's line.
        line: u64,
        /// The column.
        column: String,
    },
    /// A value in a numeric column is not a number.
    #[error("{}: line {line}, column {column}: {value:?} is not a number", path.display())]
    NotANumber {
        /// The file.
        path: PathBuf,
        /// The row's line.
        line: u64,
        /// The column.
        column: String,
        /// The value as written.
        value: String,
        /// The number parser's error, for text values (none for a JSON `true` or object).
        #[source]
        source: Option<ParseFloatError>,
    },
    /// A time column holds something that is not a time with an offset.
    #[error("{}: line {line}, column {column}: {value:?} is not a time", path.display())]
    BadTime {
        /// The file.
        path: PathBuf,
        /// The row's line.
        line: u64,
        /// The column.
        column: String,
        /// The value as written.
        value: String,
        /// What is wrong with it.
        #[source]
        source: TimeError,
    },
    /// A value is readable but not acceptable (a station type other than ISS or TH, a station
    /// number that is not a whole number, a longitude beyond 180°...).
    #[error("{}: line {line}, column {column}: {value:?} is {problem}", path.display())]
    BadValue {
        /// The file.
        path: PathBuf,
        /// The row's line.
        line: u64,
        /// The column.
        column: String,
        /// The value as written.
        value: String,
        /// What it should be, e.g. "not a station type (ISS or TH)".
        problem: &'static str,
    },
    /// Two catalogue records have the same `id_nom`, the key every reading is attributed by.
    #[error(
        "{}: line {line}, column id_nom: station {id:?} appears twice (first at line {first_line})",
        path.display()
    )]
    DuplicateStation {
        /// The file.
        path: PathBuf,
        /// The second record's line.
        line: u64,
        /// The first record's line.
        first_line: u64,
        /// The repeated `id_nom`.
        id: String,
    },
    /// No file of the directory is a station catalogue.
    #[error(
        "{}: no station catalogue among its files (a JSON or CSV export whose records have id_nom)",
        path.display()
    )]
    NoCatalogue {
        /// The directory.
        path: PathBuf,
    },
    /// Two files of the directory are station catalogues, and it is not clear which to trust.
    #[error(
        "{}: two station catalogues, {} and {}: keep only one in the directory",
        path.display(), first.display(), second.display()
    )]
    SeveralCatalogues {
        /// The directory.
        path: PathBuf,
        /// One catalogue.
        first: PathBuf,
        /// Another.
        second: PathBuf,
    },
}

/// Where in the data an error is: the file or directory, the line, the column.
type Place<'a> = (&'a Path, Option<u64>, Option<&'a str>);

impl LoadError {
    /// The file (or directory) the error is about.
    pub fn path(&self) -> &Path {
        self.place().0
    }

    /// The 1-based line of the file the error is about, when it is about one.
    pub fn line(&self) -> Option<u64> {
        self.place().1
    }

    /// The column (field name, as the file writes it) the error is about, when it is about one.
    pub fn column(&self) -> Option<&str> {
        self.place().2
    }

    // Design: one exhaustive match, so that a new variant says where it is in one place.
    fn place(&self) -> Place<'_> {
        match self {
            LoadError::Read { path, .. }
            | LoadError::ReadDir { path, .. }
            | LoadError::WrongFormat { path, .. }
            | LoadError::NoCatalogue { path }
            | LoadError::SeveralCatalogues { path, .. } => (path, None, None),
            LoadError::NotUtf8 { path, line, .. }
            | LoadError::Json { path, line, .. }
            | LoadError::Csv { path, line, .. } => (path, Some(*line), None),
            LoadError::MissingColumn { path, line, column } => (path, Some(*line), Some(column)),
            LoadError::MissingValue { path, line, column }
            | LoadError::NotANumber {
                path, line, column, ..
            }
            | LoadError::BadTime {
                path, line, column, ..
            }
            | LoadError::BadValue {
                path, line, column, ..
            } => (path, Some(*line), Some(column)),
            LoadError::DuplicateStation { path, line, .. } => (path, Some(*line), Some("id_nom")),
        }
    }
}

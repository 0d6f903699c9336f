//! Why a fleet cannot be loaded (the description or a file is broken), and why one row or value
//! was dropped (kept in the report: a broken row never stops the rest of the file).
//!
//! Every message starts with the file, then the key (a description) or the row and column (a
//! data file), then what to do: `bikes.toml: readings.value[0].unit: no conversion from "ft" to
//! m (streamGauge's unit): write one of m, mm, cm, km, or use scale and offset`.

use std::fmt;
use std::path::PathBuf;

use super::table::RowPlace;
use crate::LoadError;

/// A fleet that cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    /// A file could not be read or parsed (I/O, not UTF-8, invalid JSON, malformed CSV).
    #[error(transparent)]
    File(#[from] LoadError),
    /// The description is not valid TOML, or has an unknown or missing key.
    #[error("{}: not a fleet description (see docs/simulation.md for its keys)", path.display())]
    Toml {
        /// The description.
        path: PathBuf,
        /// The parser's error: it names the line and the key.
        #[source]
        source: toml::de::Error,
    },
    /// A key of the description has a value that cannot work.
    #[error("{}: {key}: {problem}", path.display())]
    Description {
        /// The description.
        path: PathBuf,
        /// The key, e.g. `readings.value[0].unit`.
        key: String,
        /// What is wrong, and the fix.
        problem: String,
    },
    /// A column the description names is not in the file.
    #[error(
        "{}: {key} names column {column:?}, which {} does not have; its columns are: {}",
        description.display(), file.display(), found.join(", ")
    )]
    MissingColumn {
        /// The description.
        description: PathBuf,
        /// The key naming the column.
        key: String,
        /// The column.
        column: String,
        /// The data file.
        file: PathBuf,
        /// The columns the file has.
        found: Vec<String>,
    },
    /// A JSON file is valid JSON of another shape.
    #[error("{}: expected {expected}", path.display())]
    Shape {
        /// The file.
        path: PathBuf,
        /// What the format asks for.
        expected: String,
    },
    /// Nothing is left to replay: every row was dropped (the report says why).
    #[error("{}: no reading left to replay from {}: {report}", description.display(), file.display())]
    Empty {
        /// The description.
        description: PathBuf,
        /// The readings file.
        file: PathBuf,
        /// What loading did, reasons included.
        report: String,
    },
}

/// One dropped row or value, where it is and why, for the report.
#[derive(Debug, Clone, PartialEq)]
pub struct RowError {
    /// The file.
    pub path: PathBuf,
    /// The row.
    pub row: RowPlace,
    /// The column, as the description names it.
    pub column: String,
    /// The value as written.
    pub value: String,
    /// What is wrong with it.
    pub problem: String,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}, column {}: {:?} {}",
            super::report::file_name(&self.path),
            self.row,
            self.column,
            self.value,
            self.problem
        )
    }
}

impl std::error::Error for RowError {}

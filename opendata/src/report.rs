//! What loading did to each file: the format found, rows read and kept, and every value or row
//! dropped, by reason. Nothing is dropped silently.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use garonne_payload::Quantity;

use crate::{Format, LoadError};

/// What loading did, file by file.
#[derive(Debug, Default)]
pub struct LoadReport {
    /// One entry per file looked at, in the order they were loaded (by name for
    /// [`super::load_dir`]).
    pub files: Vec<FileReport>,
}

/// What loading did to one file.
///
/// For a readings file every row lands in exactly one of: an observation kept, a duplicate,
/// an unmatched row, an invalid frame, a row without values. So `rows_read` is the sum of
/// `observations_kept`, `duplicate_rows`, `unmatched_rows`, `invalid_frames` and
/// `rows_without_values`.
#[derive(Debug)]
pub struct FileReport {
    /// The file.
    pub path: PathBuf,
    /// The format its content was recognised as.
    pub format: Format,
    /// Data rows (CSV rows after the header, JSON records) read.
    pub rows_read: usize,
    /// Stations read, for a catalogue.
    pub stations: usize,
    /// Observations this file contributes (after duplicates are merged, across files too).
    pub observations_kept: usize,
    /// "No data" codes dropped value by value (−50 °C, 0 % humidity, 90000 Pa), by quantity.
    pub sentinels_dropped: BTreeMap<Quantity, usize>,
    /// Values outside the payload's physical range after conversion, by quantity (station 37's
    /// pressure jumps, for instance).
    pub out_of_range_dropped: BTreeMap<Quantity, usize>,
    /// Rows dropped whole as invalid radio frames (−50 °C and 0 % together).
    pub invalid_frames: usize,
    /// Rows of a station and instant already read (in this file or an earlier one), merged
    /// into the first.
    pub duplicate_rows: usize,
    /// Rows whose station number is missing or matches no catalogue station.
    pub unmatched_rows: usize,
    /// Rows left with no value once blanks, sentinels and out-of-range values are dropped.
    pub rows_without_values: usize,
    /// Blank values (no data, not an error).
    pub blank_values: usize,
    /// Values that are not numbers, dropped.
    pub unreadable_values: usize,
    /// The first few of those, with their line and column.
    pub value_errors: Vec<LoadError>,
    /// Values of quantities the station's kind does not measure (a TH station's pressure).
    pub values_not_measured: usize,
}

impl FileReport {
    /// An empty report for `path`.
    pub fn new(path: &Path, format: Format) -> FileReport {
        FileReport {
            path: path.to_owned(),
            format,
            rows_read: 0,
            stations: 0,
            observations_kept: 0,
            sentinels_dropped: BTreeMap::new(),
            out_of_range_dropped: BTreeMap::new(),
            invalid_frames: 0,
            duplicate_rows: 0,
            unmatched_rows: 0,
            rows_without_values: 0,
            blank_values: 0,
            unreadable_values: 0,
            value_errors: Vec::new(),
            values_not_measured: 0,
        }
    }

    /// Sentinel values of `quantity` dropped.
    pub fn sentinels(&self, quantity: Quantity) -> usize {
        self.sentinels_dropped.get(&quantity).copied().unwrap_or(0)
    }

    /// Out-of-range values of `quantity` dropped.
    pub fn out_of_range(&self, quantity: Quantity) -> usize {
        self.out_of_range_dropped
            .get(&quantity)
            .copied()
            .unwrap_or(0)
    }

    /// The file's name, for the summary.
    fn name(&self) -> std::borrow::Cow<'_, str> {
        self.path
            .file_name()
            .map_or_else(|| self.path.to_string_lossy(), |n| n.to_string_lossy())
    }
}

impl LoadReport {
    /// The report of the file whose name (last path component) is `name`.
    pub fn file(&self, name: &str) -> Option<&FileReport> {
        self.files
            .iter()
            .find(|f| f.path.file_name().is_some_and(|n| n == name))
    }

    /// Files that were not recognised as weather files, and skipped.
    pub fn skipped(&self) -> impl Iterator<Item = &FileReport> {
        self.files.iter().filter(|f| f.format == Format::NotWeather)
    }
}

impl fmt::Display for LoadReport {
    /// One line per file: `name: format: counts`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, file) in self.files.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{file}")?;
        }
        Ok(())
    }
}

impl fmt::Display for FileReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.name(), self.format)?;
        match self.format {
            Format::NotWeather => return Ok(()),
            Format::CatalogueJson | Format::CatalogueCsv => {
                return write!(f, ": {} stations", self.stations);
            }
            Format::RecordsJson | Format::OdsCsv | Format::HourlyCsv => {}
        }
        write!(
            f,
            ": {} rows, {} observations",
            self.rows_read, self.observations_kept
        )?;
        let by_quantity = |map: &BTreeMap<Quantity, usize>| {
            map.iter()
                .map(|(q, n)| format!("{q} {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut dropped = Vec::new();
        let mut count = |what: &str, n: usize| {
            if n > 0 {
                dropped.push(format!("{what} {n}"));
            }
        };
        count("invalid radio frames", self.invalid_frames);
        count("duplicate rows", self.duplicate_rows);
        count("rows of no catalogue station", self.unmatched_rows);
        count("rows without values", self.rows_without_values);
        count("values that are not numbers", self.unreadable_values);
        count(
            "values the station kind does not measure",
            self.values_not_measured,
        );
        let sentinels: usize = self.sentinels_dropped.values().sum();
        if sentinels > 0 {
            dropped.push(format!(
                "sentinels {sentinels} ({})",
                by_quantity(&self.sentinels_dropped)
            ));
        }
        let out_of_range: usize = self.out_of_range_dropped.values().sum();
        if out_of_range > 0 {
            dropped.push(format!(
                "out of range {out_of_range} ({})",
                by_quantity(&self.out_of_range_dropped)
            ));
        }
        if !dropped.is_empty() {
            write!(f, "; dropped: {}", dropped.join(", "))?;
        }
        if self.blank_values > 0 {
            write!(f, "; blank values {}", self.blank_values)?;
        }
        Ok(())
    }
}

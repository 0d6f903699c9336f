//! What loading a fleet did to each of its files: rows read and kept, and every row or value
//! dropped, counted by reason, with the first few examples. The weather loaders' report
//! ([`crate::FileReport`]) generalised: reasons are data, not one field each, so any
//! description's quirks are counted the same way.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use super::RowError;

/// How many dropped rows or values a file's report keeps as examples.
const EXAMPLES_KEPT: usize = 10;

/// Why a row or a value was left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reason {
    /// A row without a sensor id.
    NoId,
    /// A row of an id not in `only_ids`.
    NotSelected,
    /// A readings row whose id is no station of the stations file.
    UnknownSensor,
    /// A row whose time is blank or unreadable.
    BadTime,
    /// A row before `from` or from `until` on.
    OutsidePeriod,
    /// A row left without any value.
    NoValue,
    /// A row without a value of a quantity its profile requires.
    MissingRequired,
    /// A row of a sensor and instant already read (the first is kept).
    Duplicate,
    /// A station (or sensor) without a readable position.
    NoPosition,
    /// A station outside the description's `area`.
    OutsideArea,
    /// A station id already read in the same file (the first is kept).
    DuplicateStation,
    /// A station an earlier stations file placed already.
    PlacedEarlier,
    /// A value that is not a number.
    NotANumber,
    /// A value whose unit (written in the text) is missing or does not convert.
    BadUnit,
    /// A value the description lists as "no data".
    Sentinel,
    /// A value outside the quantity's range (or not whole, for a count) once converted.
    OutOfRange,
    /// A row whose values are the description's `invalid_when` (an invalid frame).
    InvalidRow,
    /// A value of a quantity its station's kind does not measure (a TH station's pressure).
    NotMeasured,
    /// A station whose kind is none of the description's `kinds`.
    UnknownKind,
}

impl Reason {
    /// What the reason means, for people.
    pub fn describe(self) -> &'static str {
        match self {
            Reason::NoId => "no sensor id",
            Reason::NotSelected => "sensor not in only_ids",
            Reason::UnknownSensor => "sensor not in the stations file",
            Reason::BadTime => "unreadable time",
            Reason::OutsidePeriod => "outside from/until",
            Reason::NoValue => "no value left",
            Reason::MissingRequired => "a required quantity missing",
            Reason::Duplicate => "same sensor and time again",
            Reason::NoPosition => "no readable position",
            Reason::OutsideArea => "outside the area",
            Reason::DuplicateStation => "station id again",
            Reason::PlacedEarlier => "placed by an earlier stations file",
            Reason::NotANumber => "not a number",
            Reason::BadUnit => "unit missing or not convertible",
            Reason::Sentinel => "no-data sentinel",
            Reason::OutOfRange => "out of range",
            Reason::InvalidRow => "invalid frame (invalid_when)",
            Reason::NotMeasured => "not measured by the station's kind",
            Reason::UnknownKind => "unknown station kind",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// What loading did to one file of a fleet.
///
/// Every row lands in exactly one place: kept, or dropped for one reason. So `rows_read` is
/// `rows_kept` plus the sum of `rows_dropped`.
#[derive(Debug, Clone)]
pub struct FleetFileReport {
    /// The file.
    pub path: PathBuf,
    /// Its role: `readings`, `stations` or `estimate`.
    pub role: &'static str,
    /// Data rows read.
    pub rows_read: usize,
    /// Rows kept (observations, stations, estimates).
    pub rows_kept: usize,
    /// Rows dropped, by reason.
    pub rows_dropped: BTreeMap<Reason, usize>,
    /// Values dropped (the rest of their row kept), by reason.
    pub values_dropped: BTreeMap<Reason, usize>,
    /// Blank values (no data, not an error).
    pub blank_values: usize,
    /// The first few rows and values dropped, with their row, column and reason.
    pub examples: Vec<RowError>,
}

impl FleetFileReport {
    pub(crate) fn new(path: &Path, role: &'static str) -> FleetFileReport {
        FleetFileReport {
            path: path.to_owned(),
            role,
            rows_read: 0,
            rows_kept: 0,
            rows_dropped: BTreeMap::new(),
            values_dropped: BTreeMap::new(),
            blank_values: 0,
            examples: Vec::new(),
        }
    }

    /// Rows dropped for `reason`.
    pub fn rows(&self, reason: Reason) -> usize {
        self.rows_dropped.get(&reason).copied().unwrap_or(0)
    }

    /// Values dropped for `reason`.
    pub fn values(&self, reason: Reason) -> usize {
        self.values_dropped.get(&reason).copied().unwrap_or(0)
    }

    pub(crate) fn drop_row(&mut self, reason: Reason, example: Option<RowError>) {
        *self.rows_dropped.entry(reason).or_default() += 1;
        self.example(example);
    }

    pub(crate) fn drop_value(&mut self, reason: Reason, example: Option<RowError>) {
        *self.values_dropped.entry(reason).or_default() += 1;
        self.example(example);
    }

    fn example(&mut self, example: Option<RowError>) {
        if let Some(e) = example.filter(|_| self.examples.len() < EXAMPLES_KEPT) {
            self.examples.push(e);
        }
    }
}

/// What loading a fleet did, file by file, and the sensors it made.
#[derive(Debug, Clone, Default)]
pub struct FleetReport {
    /// One entry per file, readings first.
    pub files: Vec<FleetFileReport>,
    /// Sensors with rows of their own.
    pub sensors_with_history: usize,
    /// Sensors without rows, published from the estimate file alone.
    pub sensors_estimated: usize,
    /// Sensors without rows, estimated from their nearest neighbours (`replay.neighbours`).
    pub sensors_from_neighbours: usize,
    /// Stations without rows or estimate: nothing to publish, left out.
    pub stations_without_data: usize,
    /// Ids left out because an earlier one makes the same sensor id once made valid.
    pub sensor_id_clashes: usize,
}

impl FleetReport {
    /// The report of the file whose name (last path component) is `name`.
    pub fn file(&self, name: &str) -> Option<&FleetFileReport> {
        self.files
            .iter()
            .find(|f| f.path.file_name().is_some_and(|n| n == name))
    }
}

/// The last component of `path`, for messages.
pub(crate) fn file_name(path: &Path) -> std::borrow::Cow<'_, str> {
    path.file_name()
        .map_or_else(|| path.to_string_lossy(), |n| n.to_string_lossy())
}

fn by_reason(map: &BTreeMap<Reason, usize>) -> String {
    map.iter()
        .map(|(r, n)| format!("{r} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl fmt::Display for FleetFileReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = file_name(&self.path);
        write!(
            f,
            "{name} ({}): {} rows, {} kept",
            self.role, self.rows_read, self.rows_kept
        )?;
        if !self.rows_dropped.is_empty() {
            write!(f, "; rows dropped: {}", by_reason(&self.rows_dropped))?;
        }
        if !self.values_dropped.is_empty() {
            write!(f, "; values dropped: {}", by_reason(&self.values_dropped))?;
        }
        if self.blank_values > 0 {
            write!(f, "; blank values {}", self.blank_values)?;
        }
        Ok(())
    }
}

impl fmt::Display for FleetReport {
    /// One line per file, then the sensors.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for file in &self.files {
            writeln!(f, "{file}")?;
        }
        write!(
            f,
            "sensors: {} with history, {} estimated, {} stations without data left out",
            self.sensors_with_history, self.sensors_estimated, self.stations_without_data
        )?;
        if self.sensors_from_neighbours > 0 {
            write!(
                f,
                ", {} estimated from their neighbours",
                self.sensors_from_neighbours
            )?;
        }
        if self.sensor_id_clashes > 0 {
            write!(
                f,
                ", {} ids left out as they make an earlier one's sensor id",
                self.sensor_id_clashes
            )?;
        }
        Ok(())
    }
}

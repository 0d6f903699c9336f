//! Stored readings written out for simulations and spreadsheets: CSV and Parquet, one row per
//! sample, streamed (`garonne export`, the server's `/api/export`).
//!
//! Both formats have the same five columns, in the same order:
//!
//! | column | CSV | Parquet |
//! |---|---|---|
//! | `time` | RFC 3339 UTC with nine decimals (`2026-12-03T10:15:00.010000000Z`) | `INT64`, `TIMESTAMP(NANOS, UTC)` |
//! | `sensor` | text | `BYTE_ARRAY` (`STRING`, dictionary) |
//! | `quantity` | text, its name on the wire | `BYTE_ARRAY` (`STRING`, dictionary) |
//! | `value` | number (shortest exact form) | `DOUBLE` |
//! | `unit` | the quantity's unit (`°C`; empty for plain numbers) | `BYTE_ARRAY` (`STRING`, dictionary) |
//!
//! Design: long ("tidy"), not wide (a column per channel). A stored stream comes in time order
//! with each channel at its own rate (a CAN frame of 10 Hz beside one of 100 Hz): a wide row
//! would need every channel's value at every instant (holes, or a resampling that changes the
//! data) and the full set of channels before the first row (a second pass over the store), and
//! a device's channels can change mid-session. Long rows are written as they come, in bounded
//! memory, exact, and one line of pandas makes them wide per device
//! (`df.pivot_table(index="time", columns="quantity", values="value")`).
//!
//! Memory: the CSV writer holds one row; the Parquet writer holds at most [`ROW_GROUP_ROWS`]
//! rows (a few megabytes) before it writes them as one row group, so a session of 12 million
//! values is never in memory at once.

use std::io::Write;
use std::sync::Arc;

use garonne_payload::{Quantity, Timestamp};
use parquet::basic::Compression;
use parquet::data_type::{ByteArray, ByteArrayType, DoubleType, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;

use crate::history::HistoryError;
pub use crate::readings::Sample;
use crate::readings::{DEFAULT_PAGE, Pages, Readings, Scan};

/// Rows of one Parquet row group: what the Parquet writer holds in memory at most.
///
/// Performance: 65,536 rows are about 4 MB in memory (names of 20 bytes), large enough for
/// Snappy and the dictionaries to do well, small enough for a reader to skip by time.
pub const ROW_GROUP_ROWS: usize = 65_536;

/// The Parquet schema of an export (see the module doc).
const PARQUET_SCHEMA: &str = "
message reading {
    required int64 time (TIMESTAMP(NANOS, true));
    required binary sensor (STRING);
    required binary quantity (STRING);
    required double value;
    required binary unit (STRING);
}";

/// The header of a CSV export.
pub const CSV_HEADER: [&str; 5] = ["time", "sensor", "quantity", "value", "unit"];

/// An export's file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Comma-separated values, with a header line.
    Csv,
    /// Apache Parquet, Snappy-compressed.
    Parquet,
}

impl Format {
    /// The format named `name` (`csv`, `parquet`), if any.
    pub fn from_name(name: &str) -> Option<Format> {
        match name {
            "csv" => Some(Format::Csv),
            "parquet" => Some(Format::Parquet),
            _ => None,
        }
    }

    /// The file extension, which is also the name.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Parquet => "parquet",
        }
    }

    /// The HTTP content type.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8",
            Format::Parquet => "application/vnd.apache.parquet",
        }
    }
}

/// Why an export could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The CSV writer failed (the output could not be written).
    #[error("cannot write the CSV export")]
    Csv(#[source] csv::Error),
    /// The Parquet writer failed (the output could not be written).
    #[error("cannot write the Parquet export")]
    Parquet(#[source] parquet::errors::ParquetError),
    /// The output could not be flushed.
    #[error("cannot write the export")]
    Io(#[source] std::io::Error),
    /// The store did not answer, or refused the scan.
    #[error("cannot read the stored readings")]
    Store(#[source] HistoryError),
    /// Nothing to export: an unknown sensor or quantity, or a range without readings.
    #[error(
        "no stored readings of {who} from {from} to {to}: check the sensor ids (/api/sensors), \
         the quantity names and the range (the embedded store keeps raw values for 7 days)"
    )]
    Empty {
        /// The sensors asked (`any sensor` for all).
        who: String,
        /// Start of the range.
        from: Timestamp,
        /// End of the range.
        to: Timestamp,
    },
}

/// Writes every sample of `scan` from `readings` to `out` in `format`, page by page; returns
/// the rows written and the output.
///
/// # Errors
///
/// [`ExportError::Empty`] when the scan has no samples at all (the output then holds an empty
/// export), [`ExportError::Store`] when the store does not answer, the others when `out`
/// cannot be written.
pub async fn export<R: Readings, W: Write + Send>(
    readings: &R,
    scan: &Scan,
    format: Format,
    out: W,
) -> Result<(u64, W), ExportError> {
    let mut writer = ExportWriter::new(format, out)?;
    let mut pages = Pages::new(readings, scan.clone(), DEFAULT_PAGE);
    while let Some(page) = pages.next().await {
        for sample in page.map_err(ExportError::Store)? {
            writer.write(&sample)?;
        }
    }
    let (rows, mut out) = writer.finish()?;
    out.flush().map_err(ExportError::Io)?;
    if rows == 0 {
        return Err(ExportError::Empty {
            who: if scan.sensors.is_empty() {
                "any sensor".to_owned()
            } else {
                scan.sensors.join(", ")
            },
            from: scan.from,
            to: scan.to,
        });
    }
    Ok((rows, out))
}

/// A writer of samples in one [`Format`], on any output.
pub enum ExportWriter<W: Write + Send> {
    /// CSV.
    Csv(CsvWriter<W>),
    /// Parquet.
    Parquet(ParquetWriter<W>),
}

impl<W: Write + Send> ExportWriter<W> {
    /// A writer of `format` on `out`; CSV writes its header now.
    ///
    /// # Errors
    ///
    /// [`ExportError`] when `out` cannot be written.
    pub fn new(format: Format, out: W) -> Result<ExportWriter<W>, ExportError> {
        Ok(match format {
            Format::Csv => ExportWriter::Csv(CsvWriter::new(out)?),
            Format::Parquet => ExportWriter::Parquet(ParquetWriter::new(out)?),
        })
    }

    /// Writes one sample.
    ///
    /// # Errors
    ///
    /// [`ExportError`] when the output cannot be written.
    pub fn write(&mut self, sample: &Sample) -> Result<(), ExportError> {
        match self {
            ExportWriter::Csv(w) => w.write(sample),
            ExportWriter::Parquet(w) => w.write(sample),
        }
    }

    /// Writes what is held and the file's end; returns the rows written and the output.
    ///
    /// # Errors
    ///
    /// [`ExportError`] when the output cannot be written.
    pub fn finish(self) -> Result<(u64, W), ExportError> {
        match self {
            ExportWriter::Csv(w) => w.finish(),
            ExportWriter::Parquet(w) => w.finish(),
        }
    }
}

/// The unit of quantity `name`, as people read it (empty for plain numbers and unknown names).
pub fn unit_of(name: &str) -> &'static str {
    Quantity::from_name(name).map_or("", Quantity::unit)
}

/// `time_ns` as RFC 3339 UTC with nine decimals: every row of a CSV export the same width, and
/// sorted as text as in time.
pub fn rfc3339_ns(time_ns: i64) -> String {
    let t = Timestamp::UNIX_EPOCH.add_nanos(time_ns);
    // Display writes 0, 3, 6 or 9 decimals; the row wants nine.
    let secs = Timestamp::new(t.unix_secs(), 0).unwrap_or(t).to_string();
    let whole = secs.trim_end_matches('Z');
    format!("{whole}.{:09}Z", t.subsec_nanos())
}

/// The CSV writer (see the module doc for the columns).
pub struct CsvWriter<W: Write> {
    out: csv::Writer<W>,
    rows: u64,
}

impl<W: Write> CsvWriter<W> {
    /// A writer on `out`, header written.
    ///
    /// # Errors
    ///
    /// [`ExportError::Csv`] when `out` cannot be written.
    pub fn new(out: W) -> Result<CsvWriter<W>, ExportError> {
        let mut out = csv::Writer::from_writer(out);
        out.write_record(CSV_HEADER).map_err(ExportError::Csv)?;
        Ok(CsvWriter { out, rows: 0 })
    }

    /// Writes one row.
    ///
    /// # Errors
    ///
    /// [`ExportError::Csv`] when the output cannot be written.
    pub fn write(&mut self, s: &Sample) -> Result<(), ExportError> {
        let value = s.value.to_string();
        self.out
            .write_record([
                rfc3339_ns(s.time_ns).as_str(),
                &s.sensor,
                &s.quantity,
                &value,
                unit_of(&s.quantity),
            ])
            .map_err(ExportError::Csv)?;
        self.rows += 1;
        Ok(())
    }

    /// Flushes; returns the rows written and the output.
    ///
    /// # Errors
    ///
    /// [`ExportError::Csv`] when the output cannot be written.
    pub fn finish(self) -> Result<(u64, W), ExportError> {
        let out = self
            .out
            .into_inner()
            .map_err(|e| ExportError::Csv(csv::Error::from(e.into_error())))?;
        Ok((self.rows, out))
    }
}

/// The Parquet writer: rows held by column, written as a row group every [`ROW_GROUP_ROWS`].
pub struct ParquetWriter<W: Write + Send> {
    file: SerializedFileWriter<W>,
    times: Vec<i64>,
    sensors: Vec<ByteArray>,
    quantities: Vec<ByteArray>,
    values: Vec<f64>,
    units: Vec<ByteArray>,
    rows: u64,
}

impl<W: Write + Send> ParquetWriter<W> {
    /// A writer on `out` (the file's magic number written now).
    ///
    /// # Errors
    ///
    /// [`ExportError::Parquet`] when `out` cannot be written.
    pub fn new(out: W) -> Result<ParquetWriter<W>, ExportError> {
        let schema = Arc::new(parse_message_type(PARQUET_SCHEMA).map_err(ExportError::Parquet)?);
        let properties = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
            .set_created_by(format!("garonne {}", env!("CARGO_PKG_VERSION")))
            .build();
        let file = SerializedFileWriter::new(out, schema, Arc::new(properties))
            .map_err(ExportError::Parquet)?;
        Ok(ParquetWriter {
            file,
            times: Vec::with_capacity(ROW_GROUP_ROWS),
            sensors: Vec::with_capacity(ROW_GROUP_ROWS),
            quantities: Vec::with_capacity(ROW_GROUP_ROWS),
            values: Vec::with_capacity(ROW_GROUP_ROWS),
            units: Vec::with_capacity(ROW_GROUP_ROWS),
            rows: 0,
        })
    }

    /// Holds one row; writes a row group when [`ROW_GROUP_ROWS`] are held.
    ///
    /// # Errors
    ///
    /// [`ExportError::Parquet`] when the output cannot be written.
    pub fn write(&mut self, s: &Sample) -> Result<(), ExportError> {
        // Design: the same sensor and quantity come again and again; a ByteArray shares its
        // bytes, so repeating the previous row's costs no allocation.
        let same = |column: &[ByteArray], text: &str| {
            column
                .last()
                .filter(|last| last.data() == text.as_bytes())
                .cloned()
                .unwrap_or_else(|| ByteArray::from(text))
        };
        let sensor = same(&self.sensors, &s.sensor);
        let quantity = same(&self.quantities, &s.quantity);
        let unit = same(&self.units, unit_of(&s.quantity));
        self.times.push(s.time_ns);
        self.sensors.push(sensor);
        self.quantities.push(quantity);
        self.values.push(s.value);
        self.units.push(unit);
        self.rows += 1;
        if self.times.len() >= ROW_GROUP_ROWS {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes the rows held as one row group.
    fn flush(&mut self) -> Result<(), ExportError> {
        if self.times.is_empty() {
            return Ok(());
        }
        let mut group = self.file.next_row_group().map_err(ExportError::Parquet)?;
        let mut index = 0;
        while let Some(mut column) = group.next_column().map_err(ExportError::Parquet)? {
            let written = match index {
                0 => column
                    .typed::<Int64Type>()
                    .write_batch(&self.times, None, None),
                1 => column
                    .typed::<ByteArrayType>()
                    .write_batch(&self.sensors, None, None),
                2 => column
                    .typed::<ByteArrayType>()
                    .write_batch(&self.quantities, None, None),
                3 => column
                    .typed::<DoubleType>()
                    .write_batch(&self.values, None, None),
                _ => column
                    .typed::<ByteArrayType>()
                    .write_batch(&self.units, None, None),
            };
            written.map_err(ExportError::Parquet)?;
            column.close().map_err(ExportError::Parquet)?;
            index += 1;
        }
        group.close().map_err(ExportError::Parquet)?;
        self.times.clear();
        self.sensors.clear();
        self.quantities.clear();
        self.values.clear();
        self.units.clear();
        Ok(())
    }

    /// Writes the rows held and the footer; returns the rows written and the output.
    ///
    /// # Errors
    ///
    /// [`ExportError::Parquet`] when the output cannot be written.
    pub fn finish(mut self) -> Result<(u64, W), ExportError> {
        self.flush()?;
        let out = self.file.into_inner().map_err(ExportError::Parquet)?;
        Ok((self.rows, out))
    }
}

#[cfg(test)]
mod tests {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::record::Field;

    use super::*;

    fn samples(n: usize) -> Vec<Sample> {
        (0..n)
            .map(|i| Sample {
                time_ns: 1_764_000_000_000_000_000 + i as i64 * 10_000_000 + (i % 3) as i64,
                sensor: if i % 2 == 0 { "car-1" } else { "car-2" }.into(),
                quantity: if i % 5 == 0 { "temperature" } else { "motion" }.into(),
                value: i as f64 * 0.1 - 3.0,
            })
            .collect()
    }

    fn write(format: Format, samples: &[Sample]) -> Vec<u8> {
        let mut w = ExportWriter::new(format, Vec::new()).expect("writer");
        for s in samples {
            w.write(s).expect("row");
        }
        let (rows, out) = w.finish().expect("finished");
        assert_eq!(rows, samples.len() as u64);
        out
    }

    /// Reads a Parquet export back with the parquet crate's own reader.
    fn read_parquet(bytes: Vec<u8>) -> (Vec<Sample>, usize) {
        let mut file = tempfile::tempfile().expect("temp file");
        file.write_all(&bytes).expect("written");
        let reader = SerializedFileReader::new(file).expect("parquet");
        let groups = reader.metadata().num_row_groups();
        let mut out = Vec::new();
        for row in reader.get_row_iter(None).expect("rows") {
            let row = row.expect("row");
            let fields: Vec<&Field> = row.get_column_iter().map(|(_, f)| f).collect();
            // TIMESTAMP(NANOS) has no converted type: the row API gives the i64 itself.
            let [
                Field::Long(time_ns),
                Field::Str(sensor),
                Field::Str(quantity),
                Field::Double(value),
                Field::Str(unit),
            ] = fields[..]
            else {
                panic!("unexpected row {row:?}");
            };
            assert_eq!(unit, unit_of(quantity));
            out.push(Sample {
                time_ns: *time_ns,
                sensor: sensor.as_str().into(),
                quantity: quantity.as_str().into(),
                value: *value,
            });
        }
        (out, groups)
    }

    #[test]
    fn parquet_reads_back_sample_for_sample_in_row_groups() {
        let rows = samples(ROW_GROUP_ROWS + 10);
        let (back, groups) = read_parquet(write(Format::Parquet, &rows));
        assert_eq!(groups, 2, "a row group every ROW_GROUP_ROWS rows");
        assert_eq!(back, rows);
    }

    #[test]
    fn csv_has_one_row_per_sample_with_nanosecond_times_and_units() {
        let rows = samples(3);
        let text = String::from_utf8(write(Format::Csv, &rows)).expect("utf-8");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "time,sensor,quantity,value,unit",
                "2025-11-24T16:00:00.000000000Z,car-1,temperature,-3,°C",
                "2025-11-24T16:00:00.010000001Z,car-2,motion,-2.9,",
                "2025-11-24T16:00:00.020000002Z,car-1,motion,-2.8,",
            ]
        );
    }

    #[test]
    fn an_empty_export_is_a_valid_file() {
        let (back, groups) = read_parquet(write(Format::Parquet, &[]));
        assert_eq!((back.len(), groups), (0, 0));
        assert_eq!(
            write(Format::Csv, &[]),
            b"time,sensor,quantity,value,unit\n"
        );
    }

    /// A stored set: two sensors, two quantities, 1 ms apart with odd nanoseconds.
    fn stored_points(n: i64) -> Vec<crate::Point> {
        use crate::point::{Field as PointField, Point};
        (0..n)
            .map(|i| Point {
                measurement: "reading",
                tags: vec![
                    ("sensor", format!("car-{}", i % 2)),
                    ("source", "device".to_owned()),
                ],
                fields: vec![
                    ("temperature", PointField::Float(20.0 + i as f64 / 8.0)),
                    ("atmosphericPressure", PointField::Float(1000.0 - i as f64)),
                    ("lat", PointField::Float(43.6)),
                    ("lon", PointField::Float(1.44)),
                    ("kind", PointField::Str("car".to_owned())),
                    ("seq", PointField::Int(i)),
                ],
                time_ns: 1_764_000_000_000_000_000 + i * 1_000_007,
            })
            .collect()
    }

    #[tokio::test]
    async fn a_stored_set_exports_and_reads_back_sample_for_sample() {
        use crate::Store;
        use crate::embedded::{EmbeddedHistory, EmbeddedStore, Retention};
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("h.sqlite");
        let mut store = EmbeddedStore::open(&path, Retention::default())
            .await
            .expect("store");
        let points = stored_points(500);
        store.write(&points).await.expect("written");
        let readings = EmbeddedHistory::open(&path).await.expect("reader");
        let t = |ns: i64| Timestamp::UNIX_EPOCH.add_nanos(ns);
        let scan = Scan {
            sensors: vec!["car-1".to_owned()],
            quantities: vec!["temperature".to_owned()],
            from: t(points[0].time_ns),
            to: t(points[499].time_ns + 1),
        };
        let expected: Vec<Sample> = points
            .iter()
            .filter(|p| p.tag("sensor") == Some("car-1"))
            .map(|p| Sample {
                time_ns: p.time_ns,
                sensor: "car-1".into(),
                quantity: "temperature".into(),
                value: match p.field("temperature") {
                    Some(crate::point::Field::Float(v)) => *v,
                    other => panic!("{other:?}"),
                },
            })
            .collect();
        let (rows, bytes) = export(&readings, &scan, Format::Parquet, Vec::new())
            .await
            .expect("exported");
        assert_eq!(rows, 250);
        assert_eq!(read_parquet(bytes).0, expected);
        let (_, csv) = export(&readings, &scan, Format::Csv, Vec::new())
            .await
            .expect("exported");
        let csv = String::from_utf8(csv).expect("utf-8");
        assert_eq!(csv.lines().count(), 251);
        assert!(
            csv.lines()
                .nth(1)
                .is_some_and(|l| l.ends_with(",car-1,temperature,20.125,°C")),
            "{csv}"
        );

        // Nothing to export says why; so does an empty range.
        let unknown = Scan {
            sensors: vec!["car-9".to_owned()],
            ..scan.clone()
        };
        let e = export(&readings, &unknown, Format::Csv, Vec::new())
            .await
            .expect_err("nothing");
        assert!(
            matches!(e, ExportError::Empty { .. }) && e.to_string().contains("car-9"),
            "{e}"
        );
        let empty = Scan {
            to: scan.from,
            ..scan
        };
        let e = export(&readings, &empty, Format::Parquet, Vec::new())
            .await
            .expect_err("empty range");
        let shown = garonne_payload::report::Chain(&e).to_string();
        assert!(shown.contains("from must be before to"), "{shown}");
    }

    #[test]
    fn rfc3339_ns_always_has_nine_decimals() {
        assert_eq!(rfc3339_ns(0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(rfc3339_ns(-1), "1969-12-31T23:59:59.999999999Z");
        assert_eq!(rfc3339_ns(1_500_000_000), "1970-01-01T00:00:01.500000000Z");
    }
}

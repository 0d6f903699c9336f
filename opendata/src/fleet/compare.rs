//! The weather fleet two ways: the weather loaders ([`crate::load_dir`]) and the weather
//! description (`data/fleets/weather.toml`) through the general loader must give the same
//! readings. [`compare_weather`] says where they differ; a test runs it on the fixture and
//! `examples/fleet_load_time.rs` on the full data.

use garonne_payload::Quantity;

use super::{FleetData, Reason};
use crate::{Format, OpenData};

/// What [`compare_weather`] compared, and every difference found.
#[derive(Debug, Default)]
pub struct WeatherComparison {
    /// Sensors compared.
    pub sensors: usize,
    /// Observations compared.
    pub observations: usize,
    /// Readings files whose counts were compared.
    pub files: usize,
    /// The differences, one line each (empty: the same readings).
    pub differences: Vec<String>,
}

/// Compares the weather loaders' result with the weather description's: the observations
/// (sensor, time, values, in order), the sensors (catalogue order, id, position, kind,
/// quantities) and each readings file's counts, reason by reason.
pub fn compare_weather(old: &OpenData, new: &FleetData) -> WeatherComparison {
    let mut differences: Vec<String> = Vec::new();
    let lengths = [
        (
            "observations",
            old.observations.len(),
            new.observations.len(),
        ),
        ("stations", old.stations.len(), new.sensors.len()),
    ];
    for (what, a, b) in lengths {
        if a != b {
            differences.push(format!("{a} {what}, {b} by description"));
        }
    }
    let mut differ = |what: String| {
        if differences.len() < 50 {
            differences.push(what);
        }
    };
    for (a, b) in old.observations.iter().zip(&new.observations) {
        if a != b {
            differ(format!("observation {a:?} is {b:?} by description"));
        }
    }
    for (station, sensor) in old.stations.iter().zip(&new.sensors) {
        let same = station.id == sensor.id
            && station.location() == sensor.location
            && station.kind.payload_kind() == sensor.kind
            && station.kind.quantities() == sensor.quantities.as_slice();
        if !same {
            differ(format!("station {station:?} is {sensor:?} by description"));
        }
    }
    let mut compared = 0;
    for file in &old.report.files {
        if matches!(
            file.format,
            Format::NotWeather | Format::CatalogueJson | Format::CatalogueCsv
        ) {
            continue;
        }
        let Some(described) = new.report.files.iter().find(|f| f.path == file.path) else {
            differ(format!("{} not read by description", file.path.display()));
            continue;
        };
        compared += 1;
        let sum = |m: &std::collections::BTreeMap<Quantity, usize>| m.values().sum::<usize>();
        let counts = [
            ("rows read", file.rows_read, described.rows_read),
            ("kept", file.observations_kept, described.rows_kept),
            (
                "duplicates",
                file.duplicate_rows,
                described.rows(Reason::Duplicate),
            ),
            (
                "unmatched",
                file.unmatched_rows,
                described.rows(Reason::UnknownSensor) + described.rows(Reason::NoId),
            ),
            (
                "invalid frames",
                file.invalid_frames,
                described.rows(Reason::InvalidRow),
            ),
            (
                "without values",
                file.rows_without_values,
                described.rows(Reason::NoValue),
            ),
            (
                "sentinels",
                sum(&file.sentinels_dropped),
                described.values(Reason::Sentinel),
            ),
            (
                "out of range",
                sum(&file.out_of_range_dropped),
                described.values(Reason::OutOfRange),
            ),
            (
                "not numbers",
                file.unreadable_values,
                described.values(Reason::NotANumber),
            ),
            (
                "not measured",
                file.values_not_measured,
                described.values(Reason::NotMeasured),
            ),
        ];
        for (what, a, b) in counts {
            if a != b {
                differ(format!(
                    "{}: {what} {a}, {b} by description",
                    file.path.display()
                ));
            }
        }
    }
    let described_readings = new
        .report
        .files
        .iter()
        .filter(|f| f.role == "readings")
        .count();
    if described_readings != compared {
        differ(format!(
            "{compared} readings files, {described_readings} by description"
        ));
    }
    WeatherComparison {
        sensors: new.sensors.len().min(old.stations.len()),
        observations: new.observations.len().min(old.observations.len()),
        files: compared,
        differences,
    }
}

//! Where each sensor is and what it is, as the store keeps it beside its values: what a replay
//! (`garonne replay`) publishes a stored reading with, so that realtime places it in its
//! neighbourhood again. Every store answers ([`StoredReadings::places`]), so the command has no
//! store to tell apart:
//!
//! - the embedded store from its `sensor` table, which holds each sensor's newest place and kind
//!   ([`embedded_places`]);
//! - InfluxDB from the `lat`, `lon` and `kind` fields of the `reading` points, the last of each
//!   sensor within the scan's range, all sensors in one InfluxQL request
//!   ([`crate::influx::places_statement`]).
//!
//! A sensor without a stored place is absent from the answer (the replay counts it as unplaced),
//! never an error.

use std::collections::HashMap;
use std::path::Path;

use crate::embedded::OpenError;
use crate::history::HistoryError;
use crate::readings::{Scan, StoredReadings};

/// Where a sensor is and what it is, as the store keeps it beside its values: what a replay
/// needs to publish a stored reading again (`garonne replay`).
#[derive(Debug, Clone, PartialEq)]
pub struct SensorPlace {
    /// The kind of device, if stored.
    pub kind: Option<String>,
    /// Latitude, degrees.
    pub lat: f64,
    /// Longitude, degrees.
    pub lon: f64,
}

/// Each sensor's place, by sensor id.
pub type Places = HashMap<String, SensorPlace>;

/// Why the sensors' places could not be read.
#[derive(Debug, thiserror::Error)]
pub enum PlacesError {
    /// The embedded store's file could not be read.
    #[error("cannot read the sensors' places from the embedded store")]
    Embedded(#[source] OpenError),
    /// InfluxDB did not answer, or refused the scan.
    #[error("cannot read the sensors' places from InfluxDB")]
    Influx(#[source] HistoryError),
}

impl StoredReadings {
    /// The last known place and kind of each sensor of `scan` (every sensor when it names none;
    /// its quantities do not matter): from the embedded store, each sensor's newest place; from
    /// InfluxDB, the last one stored within the scan's range. Sensors without a stored place
    /// are left out.
    ///
    /// # Errors
    ///
    /// [`PlacesError`] when the store does not answer, or InfluxDB refuses the scan (see
    /// [`Scan::check`]).
    pub async fn places(&self, scan: &Scan) -> Result<Places, PlacesError> {
        match self {
            StoredReadings::Embedded(history) => {
                let mut places = embedded_places(history.path())
                    .await
                    .map_err(PlacesError::Embedded)?;
                if !scan.sensors.is_empty() {
                    places.retain(|sensor, _| scan.sensors.contains(sensor));
                }
                Ok(places)
            }
            StoredReadings::Influx(influx) => {
                influx.places(scan).await.map_err(PlacesError::Influx)
            }
        }
    }
}

/// Every sensor's newest place and kind in the embedded store at `path` (its `sensor` table,
/// read-only): sensors stored without a location are left out.
///
/// # Errors
///
/// [`OpenError`] when the file is missing or SQLite fails.
pub async fn embedded_places(path: &Path) -> Result<Places, OpenError> {
    use rusqlite::{Connection, OpenFlags};
    let path = path.to_path_buf();
    let failed = |path: &Path| {
        let path = path.to_path_buf();
        move |source| OpenError::Sqlite { path, source }
    };
    if !path.exists() {
        return Err(OpenError::Missing { path });
    }
    let thread_path = path.clone();
    tokio::task::spawn_blocking(move || {
        let path = thread_path;
        let conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(failed(&path))?;
        conn.busy_timeout(crate::embedded::BUSY_TIMEOUT)
            .map_err(failed(&path))?;
        let mut statement = conn
            .prepare(
                "SELECT name, kind, lat, lon FROM sensor WHERE lat IS NOT NULL AND lon IS NOT NULL",
            )
            .map_err(failed(&path))?;
        let rows = statement
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    SensorPlace {
                        kind: r.get(1)?,
                        lat: r.get(2)?,
                        lon: r.get(3)?,
                    },
                ))
            })
            .map_err(failed(&path))?;
        rows.collect::<Result<_, _>>().map_err(failed(&path))
    })
    .await
    .map_err(|_| OpenError::Thread { path, source: None })?
}

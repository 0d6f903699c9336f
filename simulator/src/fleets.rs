//! Which fleets a run simulates (`garonne simulate --fleet weather,bikes,river`), and loading
//! them, each from its description: the shipped ones (`data/fleets/`, compiled in: the weather
//! stations, bikes, the river) and the data folder's own `fleets/*.toml`, which replace a
//! shipped one of the same name.
//!
//! Without a choice, every fleet whose files are in the data folder runs; a fleet that is
//! chosen by name and cannot load is an error.

use std::path::{Path, PathBuf};
use std::time::Instant;

use garonne_neighbourhoods::{Neighbourhoods, Properties};
use garonne_opendata::fleet::{self as described, FleetDescription};
use garonne_payload::{Timestamp, Topics};
use garonne_service::data_dir::DataDir;
use tracing::info;

use crate::fleet::{Fleet, FleetConfig, FleetError};

/// The name of the weather fleet.
pub const WEATHER: &str = "weather";

/// Why the fleets of a run cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum FleetsError {
    /// A described fleet could not be loaded.
    #[error("cannot load the {name} fleet{fix}")]
    Described {
        /// The fleet.
        name: String,
        /// How to get a shipped fleet's files (empty for a fleet of the data folder's).
        fix: String,
        /// Why (it names the file, the key or row, and the fix).
        #[source]
        source: Box<described::FleetError>,
    },
    /// The neighbourhood polygons could not be loaded.
    #[error("cannot load the neighbourhoods for virtual sensors")]
    Neighbourhoods(#[source] garonne_neighbourhoods::LoadError),
    /// A fleet could not be built.
    #[error("cannot build the {name} fleet")]
    Fleet {
        /// The fleet.
        name: String,
        /// Why.
        #[source]
        source: Box<FleetError>,
    },
    /// A fleet asked for by name does not exist.
    #[error("no fleet {name:?}: the fleets are {}", known.join(", "))]
    Unknown {
        /// The name asked for.
        name: String,
        /// The fleets there are.
        known: Vec<String>,
    },
    /// No fleet has its files in the data folder.
    #[error(
        "no fleet has its files in {}: `garonne data fetch` downloads the shipped fleets' data \
         (weather, bikes, river); a fleet of your own reads the files its description \
         (data/fleets) names",
        dir.display()
    )]
    NothingToRun {
        /// The folder.
        dir: PathBuf,
    },
}

/// Every fleet name a data folder offers: the shipped descriptions (`weather` first), its own.
pub fn known(data_dir: &Path) -> Result<Vec<String>, FleetsError> {
    Ok(descriptions(data_dir)?
        .into_iter()
        .map(|d| d.name)
        .collect())
}

/// The descriptions: shipped ones, replaced by (or followed by) the data folder's own.
fn descriptions(data_dir: &Path) -> Result<Vec<FleetDescription>, FleetsError> {
    let own = described::descriptions_in(data_dir).map_err(|source| FleetsError::Described {
        name: "data folder's".to_owned(),
        fix: String::new(),
        source: Box::new(source),
    })?;
    let mut all: Vec<FleetDescription> = described::builtin()
        .into_iter()
        .filter(|b| own.iter().all(|o| o.name != b.name))
        .collect();
    all.extend(own);
    Ok(all)
}

/// One loaded fleet, named.
pub struct NamedFleet {
    /// The fleet's name.
    pub name: String,
    /// The fleet.
    pub fleet: Fleet,
}

/// Loads the fleets `chosen` names (every one whose files are present when `None`), each with
/// `config` and its clock starting at `start`. `neighbourhoods` places the virtual sensors of
/// a fleet estimated from neighbours, the weather's (default: the data folder's polygons).
pub fn load(
    chosen: Option<&[String]>,
    data_dir: &Path,
    neighbourhoods: Option<&Path>,
    config: &FleetConfig,
    topics: &Topics,
    start: Timestamp,
) -> Result<Vec<NamedFleet>, FleetsError> {
    let descriptions = descriptions(data_dir)?;
    let known: Vec<String> = descriptions.iter().map(|d| d.name.clone()).collect();
    if let Some(chosen) = chosen
        && let Some(name) = chosen.iter().find(|n| !known.contains(n))
    {
        return Err(FleetsError::Unknown {
            name: name.clone(),
            known,
        });
    }
    let wanted = |name: &str| chosen.is_none_or(|c| c.iter().any(|n| n == name));
    let mut fleets = Vec::new();
    for description in &descriptions {
        if !wanted(&description.name) {
            continue;
        }
        if chosen.is_none() && !described::files_present(description, data_dir) {
            info!(
                fleet = %description.name,
                files = ?description.files(),
                "files missing: the fleet does not run"
            );
            continue;
        }
        fleets.push(from_description(
            description,
            data_dir,
            neighbourhoods,
            config,
            topics,
            start,
        )?);
    }
    if fleets.is_empty() {
        return Err(FleetsError::NothingToRun {
            dir: data_dir.to_owned(),
        });
    }
    Ok(fleets)
}

/// A described fleet.
fn from_description(
    description: &FleetDescription,
    data_dir: &Path,
    neighbourhoods: Option<&Path>,
    config: &FleetConfig,
    topics: &Topics,
    start: Timestamp,
) -> Result<NamedFleet, FleetsError> {
    let name = description.name.clone();
    let loading = Instant::now();
    let data = described::load_fleet(description, data_dir).map_err(|source| {
        let shipped = described::builtin().iter().any(|b| b.name == name);
        FleetsError::Described {
            fix: if shipped && matches!(source, described::FleetError::File(_)) {
                format!(" (`garonne data fetch --family {name}` downloads its files)")
            } else {
                String::new()
            },
            name: name.clone(),
            source: Box::new(source),
        }
    })?;
    info!(
        fleet = %name,
        sensors = data.sensors.len(),
        observations = data.observations.len(),
        load_ms = loading.elapsed().as_millis() as u64,
        report = %data.report,
        "open data loaded"
    );
    let areas = if data.neighbours && config.density > 0 {
        let path = neighbourhoods
            .map(Path::to_owned)
            .unwrap_or_else(|| DataDir::new(data_dir).polygons());
        Some(
            Neighbourhoods::load(&path, &Properties::detect())
                .map_err(FleetsError::Neighbourhoods)?,
        )
    } else {
        None
    };
    let fleet = Fleet::from_data(&data, areas.as_ref(), config.clone(), topics.clone(), start)
        .map_err(|source| FleetsError::Fleet {
            name: name.clone(),
            source: Box::new(source),
        })?;
    Ok(NamedFleet { name, fleet })
}

//! Which fleets a run simulates (`garonne simulate --fleet weather,bikes,river`), and loading
//! them: `weather` from the weather loaders (the station catalogue and readings files), every
//! other one from its description — the shipped ones (`data/fleets/`, compiled in) and the
//! data folder's own `fleets/*.toml`, which replace a shipped one of the same name.
//!
//! Without a choice, every fleet whose files are in the data folder runs; a fleet that is
//! chosen by name and cannot load is an error.

use std::path::{Path, PathBuf};
use std::time::Instant;

use garonne_neighbourhoods::{Neighbourhoods, Properties};
use garonne_opendata::fleet::{self as described, FleetDescription};
use garonne_opendata::{self as opendata, LoadError};
use garonne_payload::{Timestamp, Topics};
use garonne_service::data_dir::DataDir;
use tracing::info;

use crate::fleet::{Fleet, FleetConfig, FleetError};

/// The name of the weather fleet.
pub const WEATHER: &str = "weather";

/// Why the fleets of a run cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum FleetsError {
    /// The weather open data could not be loaded.
    #[error(
        "cannot load the weather open data in {} (download it with `garonne data fetch`, or \
         point --data-dir / GARONNE_DATA_DIR at a folder that has it)",
        dir.display()
    )]
    Weather {
        /// The folder.
        dir: PathBuf,
        /// Why.
        #[source]
        source: Box<LoadError>,
    },
    /// A described fleet could not be loaded.
    #[error("cannot load the {name} fleet")]
    Described {
        /// The fleet.
        name: String,
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
        "no fleet has its files in {}: `garonne data fetch` downloads the weather data; the \
         bikes and river fleets read the files their descriptions (data/fleets) name",
        dir.display()
    )]
    NothingToRun {
        /// The folder.
        dir: PathBuf,
    },
}

/// Every fleet name a data folder offers: `weather`, the shipped descriptions, its own.
pub fn known(data_dir: &Path) -> Result<Vec<String>, FleetsError> {
    let mut names = vec![WEATHER.to_owned()];
    for d in descriptions(data_dir)? {
        names.push(d.name);
    }
    Ok(names)
}

/// The descriptions: shipped ones, replaced by (or followed by) the data folder's own.
fn descriptions(data_dir: &Path) -> Result<Vec<FleetDescription>, FleetsError> {
    let own = described::descriptions_in(data_dir).map_err(|source| FleetsError::Described {
        name: "data folder's".to_owned(),
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
/// `config` and its clock starting at `start`. `neighbourhoods` places the weather fleet's
/// virtual sensors (default: the data folder's polygons).
pub fn load(
    chosen: Option<&[String]>,
    data_dir: &Path,
    neighbourhoods: Option<&Path>,
    config: &FleetConfig,
    topics: &Topics,
    start: Timestamp,
) -> Result<Vec<NamedFleet>, FleetsError> {
    let descriptions = descriptions(data_dir)?;
    let known = known(data_dir)?;
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
    if wanted(WEATHER) {
        match weather(data_dir, neighbourhoods, config, topics, start) {
            Ok(fleet) => fleets.push(fleet),
            // Without a choice, a data folder without weather data runs the other fleets.
            Err(FleetsError::Weather { source, .. })
                if chosen.is_none() && matches!(*source, LoadError::NoCatalogue { .. }) =>
            {
                info!("no weather data: the weather fleet does not run");
            }
            Err(e) => return Err(e),
        }
    }
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

/// The weather fleet, from the weather loaders.
fn weather(
    data_dir: &Path,
    neighbourhoods: Option<&Path>,
    config: &FleetConfig,
    topics: &Topics,
    start: Timestamp,
) -> Result<NamedFleet, FleetsError> {
    let loading = Instant::now();
    let data = opendata::load_dir(data_dir).map_err(|source| FleetsError::Weather {
        dir: data_dir.to_owned(),
        source: Box::new(source),
    })?;
    info!(
        fleet = WEATHER,
        stations = data.stations.len(),
        observations = data.observations.len(),
        load_ms = loading.elapsed().as_millis() as u64,
        "open data loaded"
    );
    let areas = if config.density > 0 {
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
    let fleet = Fleet::new(
        &data.stations,
        &data.observations,
        areas.as_ref(),
        config.clone(),
        topics.clone(),
        start,
    )
    .map_err(|source| FleetsError::Fleet {
        name: WEATHER.to_owned(),
        source: Box::new(source),
    })?;
    Ok(NamedFleet {
        name: WEATHER.to_owned(),
        fleet,
    })
}

/// A described fleet.
fn from_description(
    description: &FleetDescription,
    data_dir: &Path,
    config: &FleetConfig,
    topics: &Topics,
    start: Timestamp,
) -> Result<NamedFleet, FleetsError> {
    let name = description.name.clone();
    let loading = Instant::now();
    let data =
        described::load_fleet(description, data_dir).map_err(|source| FleetsError::Described {
            name: name.clone(),
            source: Box::new(source),
        })?;
    info!(
        fleet = %name,
        sensors = data.sensors.len(),
        observations = data.observations.len(),
        load_ms = loading.elapsed().as_millis() as u64,
        report = %data.report,
        "open data loaded"
    );
    let fleet =
        Fleet::from_data(&data, config.clone(), topics.clone(), start).map_err(|source| {
            FleetsError::Fleet {
                name: name.clone(),
                source: Box::new(source),
            }
        })?;
    Ok(NamedFleet { name, fleet })
}

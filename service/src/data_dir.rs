//! The data folder (`data/` by default, `--data-dir` or `GARONNE_DATA_DIR` otherwise) and the
//! names of the files in it, written here once: the open data the services open by name (the
//! polygons, the station catalogue; `garonne data fetch` fills the folder, the dataset
//! catalogue `data/datasets.toml` names the rest) and what the services keep between runs (the history store, the historian's spool,
//! realtime's snapshot). `garonne up` keeps the second kind in a folder of its own
//! (`--state-dir`): the same names under another [`DataDir`].
//!
//! Design: the loaders recognise the open-data files by their content, never by their names;
//! the names matter only to find the default files of a folder.

use std::path::{Path, PathBuf};

/// A data folder, and where each file is in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataDir {
    path: PathBuf,
}

impl DataDir {
    /// The default folder, relative to the working directory.
    pub const DEFAULT: &'static str = "data";
    /// The neighbourhood polygons (GeoJSON): the quartiers de démocratie locale.
    pub const POLYGONS: &'static str = "quartiers-de-democratie-locale.geojson";
    /// The weather-station catalogue (the simulator's fleet).
    pub const CATALOGUE: &'static str = "stations-meteo-en-place.json";
    /// Realtime's state, saved at shutdown.
    pub const SNAPSHOT: &'static str = "realtime-snapshot.json";
    /// The historian's spool folder.
    pub const SPOOL: &'static str = "historian-spool";
    /// The embedded history store.
    pub const HISTORY: &'static str = "history.sqlite";
    /// The course's own profiles (`*.toml`), loaded at start beside the built-in ones.
    pub const PROFILES: &'static str = "profiles";

    /// The folder at `path`.
    pub fn new(path: impl Into<PathBuf>) -> DataDir {
        DataDir { path: path.into() }
    }

    /// The folder itself.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The neighbourhood polygons ([`DataDir::POLYGONS`]).
    pub fn polygons(&self) -> PathBuf {
        self.path.join(Self::POLYGONS)
    }

    /// The weather-station catalogue ([`DataDir::CATALOGUE`]).
    pub fn catalogue(&self) -> PathBuf {
        self.path.join(Self::CATALOGUE)
    }

    /// Realtime's snapshot ([`DataDir::SNAPSHOT`]).
    pub fn snapshot(&self) -> PathBuf {
        self.path.join(Self::SNAPSHOT)
    }

    /// The historian's spool ([`DataDir::SPOOL`]).
    pub fn spool(&self) -> PathBuf {
        self.path.join(Self::SPOOL)
    }

    /// The embedded history store ([`DataDir::HISTORY`]).
    pub fn history(&self) -> PathBuf {
        self.path.join(Self::HISTORY)
    }

    /// The profiles folder ([`DataDir::PROFILES`]).
    pub fn profiles(&self) -> PathBuf {
        self.path.join(Self::PROFILES)
    }
}

impl Default for DataDir {
    /// [`DataDir::DEFAULT`].
    fn default() -> DataDir {
        DataDir::new(Self::DEFAULT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_named_once_under_any_folder() {
        let data = DataDir::default();
        assert_eq!(
            data.polygons(),
            Path::new("data/quartiers-de-democratie-locale.geojson")
        );
        assert_eq!(
            data.catalogue(),
            Path::new("data/stations-meteo-en-place.json")
        );
        let state = DataDir::new("/var/lib/garonne");
        assert_eq!(
            state.history(),
            Path::new("/var/lib/garonne/history.sqlite")
        );
        assert_eq!(state.spool(), Path::new("/var/lib/garonne/historian-spool"));
        assert_eq!(
            state.snapshot(),
            Path::new("/var/lib/garonne/realtime-snapshot.json")
        );
        assert_eq!(state.path(), Path::new("/var/lib/garonne"));
    }
}

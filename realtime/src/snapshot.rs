//! The core's state on disk: written at a clean shutdown, read at start-up, so a restart does
//! not reset the map. JSON (readable, diffable), written to a temporary file, synced, then
//! renamed over the old one, so a crash mid-write leaves the previous snapshot whole.
//!
//! Neighbourhoods and rules are stored by id and name, not by position: a snapshot taken with
//! one polygon file restores into another as far as the ids match (the rest is dropped and
//! counted). Panes are dropped when the window length or pane count changed.
//!
//! This module is the file format and its reading and writing; the engine's state goes to and
//! from it in [`Engine::snapshot`](crate::Engine::snapshot) and
//! [`Engine::restore`](crate::Engine::restore).
//!
//! # Format versions
//! - 2 (this one): a pane also keeps the last value of each quantity whose profile's `time`
//!   rule is `last`, with its stamp (reading time, `seq`): [`PaneState::last`].
//! - 1 (Garonne before profiles applied their rules): read as it is, without last values: a
//!   `last` quantity's value is its pane's mean until its sensor sends again (see
//!   [`Accs::by`](crate::window::Accs::by)).
//! - A newer format (written by a newer Garonne) is refused with [`SnapshotError::Version`]:
//!   the service moves the file aside and starts with empty windows.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use garonne_payload::{AlertScope, Quantity, Timestamp};
use serde::{Deserialize, Serialize};

use crate::alerts::Track;
use crate::window::{Acc, Last};

/// The snapshot format version (see the module docs for what each version holds).
pub const FORMAT: u32 = 2;

/// The saved state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Snapshot {
    /// [`FORMAT`].
    pub format: u32,
    /// When it was taken.
    pub saved_at: Timestamp,
    /// Window length it was taken with, seconds.
    pub window_secs: u32,
    /// Panes per window it was taken with.
    pub panes_per_window: u32,
    /// Every sensor.
    pub sensors: Vec<SensorState>,
    /// Every alert track that holds something.
    pub alerts: Vec<AlertTrack>,
}

/// One sensor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SensorState {
    /// Its id.
    pub id: String,
    /// Its last location, `[lon, lat]`.
    pub location: Option<[f64; 2]>,
    /// Time of its newest reading.
    pub newest: Option<Timestamp>,
    /// Fingerprints of its last readings.
    pub recent: Vec<u64>,
    /// Its panes.
    pub panes: Vec<PaneState>,
}

/// One pane of one sensor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaneState {
    /// Pane number.
    pub no: i64,
    /// Neighbourhood id, `None` outside every neighbourhood.
    pub neighbourhood: Option<String>,
    /// Readings folded in.
    pub readings: u32,
    /// Statistics of the quantities it has.
    pub quantities: BTreeMap<Quantity, Acc>,
    /// The last value of its quantities whose `time` rule is `last` (absent in format 1).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub last: BTreeMap<Quantity, Last>,
}

/// One alert rule's state for one scope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertTrack {
    /// Rule name.
    pub rule: String,
    /// Neighbourhood or sensor.
    pub scope: AlertScope,
    /// The state.
    pub track: Track,
}

/// What a restore kept and dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Restored {
    /// Sensors restored.
    pub sensors: usize,
    /// Panes restored.
    pub panes: usize,
    /// Panes dropped (window settings changed, or their neighbourhood is not in the file).
    pub dropped_panes: usize,
    /// Alert tracks restored.
    pub alerts: usize,
    /// Alert tracks dropped (rule or scope gone).
    pub dropped_alerts: usize,
}

/// Why a snapshot could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// Reading or writing the file failed.
    #[error("cannot {action} the realtime snapshot {}", path.display())]
    Io {
        /// `read` or `write`.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a snapshot this version understands.
    #[error(
        "the realtime snapshot {} is not readable (move it away to start with empty windows)",
        path.display()
    )]
    Format {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// The file is a snapshot of a format this version does not know (a newer Garonne's).
    #[error(
        "the realtime snapshot {} is format {found}, and this version reads formats 1 to {FORMAT} \
         (a newer Garonne wrote it: run that version, or move the file away to start with \
         empty windows)",
        path.display()
    )]
    Version {
        /// The file.
        path: PathBuf,
        /// Its format.
        found: u64,
    },
}

impl Snapshot {
    /// Reads a snapshot; `Ok(None)` when the file does not exist.
    pub fn load(path: &Path) -> Result<Option<Snapshot>, SnapshotError> {
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(SnapshotError::Io {
                    action: "read",
                    path: path.to_owned(),
                    source,
                });
            }
        };
        let format = |source| SnapshotError::Format {
            path: path.to_owned(),
            source,
        };
        let json: serde_json::Value = serde_json::from_slice(&bytes).map_err(format)?;
        // Format 1 reads as this one (its panes have no `last`); a newer one is refused before
        // its shape is.
        if let Some(found) = json.get("format").and_then(serde_json::Value::as_u64)
            && found > u64::from(FORMAT)
        {
            return Err(SnapshotError::Version {
                path: path.to_owned(),
                found,
            });
        }
        let mut snapshot: Snapshot = serde_json::from_value(json).map_err(format)?;
        snapshot.format = FORMAT;
        Ok(Some(snapshot))
    }

    /// Writes the snapshot atomically: a temporary file beside it, synced, renamed over it.
    pub fn save(&self, path: &Path) -> Result<(), SnapshotError> {
        let io = |source| SnapshotError::Io {
            action: "write",
            path: path.to_owned(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let bytes = serde_json::to_vec(self).map_err(|e| io(std::io::Error::other(e)))?;
        let mut file = std::fs::File::create(&tmp).map_err(io)?;
        file.write_all(&bytes).map_err(io)?;
        file.sync_all().map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
            && let Ok(dir) = std::fs::File::open(dir)
        {
            // Makes the rename itself durable; not every file system allows it on a directory.
            let _ = dir.sync_all();
        }
        Ok(())
    }
}

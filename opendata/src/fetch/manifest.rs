//! `DATA_DIR/manifest.json`: what `garonne data fetch` downloaded, with each file's size and
//! SHA-256.
//!
//! The manifest is what lets a second run skip the files it already has, and lets anyone check
//! a data directory (`sha256sum`) against it. It is rewritten atomically (temporary file, then
//! rename) after every completed download, so an interrupted run never leaves it half written.
//!
//! ```json
//! { "format": 1,
//!   "datasets": [ { "id": "communes", "url": "https://…/exports/geojson",
//!                   "file": "communes-toulouse-metropole.geojson", "bytes": 935735,
//!                   "sha256": "…", "fetched_at": "2025-11-26T09:12:03Z" } ] }
//! ```

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use garonne_payload::time::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The manifest's file name in the data directory.
pub const MANIFEST_FILE: &str = "manifest.json";

/// The manifest format this code writes.
const FORMAT: u32 = 1;

/// The record of the files in a data directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The manifest format, `1`.
    pub format: u32,
    /// One entry per downloaded dataset, sorted by id.
    pub datasets: Vec<ManifestEntry>,
}

/// One downloaded file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestEntry {
    /// The dataset id.
    pub id: String,
    /// The URL it was downloaded from (for readings, this holds the date window).
    pub url: String,
    /// The file, relative to the data directory, `/`-separated.
    pub file: String,
    /// The file's size in bytes.
    pub bytes: u64,
    /// The SHA-256 of the file, lower-case hex.
    pub sha256: String,
    /// When the download completed.
    pub fetched_at: Timestamp,
}

/// Why the manifest could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The file exists but cannot be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The manifest.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The file is not a manifest.
    #[error("{} is not a Garonne data manifest", path.display())]
    Parse {
        /// The manifest.
        path: PathBuf,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
}

impl Default for Manifest {
    fn default() -> Manifest {
        Manifest {
            format: FORMAT,
            datasets: Vec::new(),
        }
    }
}

impl Manifest {
    /// The manifest of `data_dir`; an empty one if there is none yet.
    pub fn load(data_dir: &Path) -> Result<Manifest, ManifestError> {
        let path = data_dir.join(MANIFEST_FILE);
        let text = match std::fs::read(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Manifest::default()),
            Err(source) => return Err(ManifestError::Read { path, source }),
        };
        serde_json::from_slice(&text).map_err(|source| ManifestError::Parse { path, source })
    }

    /// The entry of dataset `id`.
    pub fn entry(&self, id: &str) -> Option<&ManifestEntry> {
        self.datasets.iter().find(|e| e.id == id)
    }

    /// Adds or replaces the entry of `entry.id`.
    pub fn upsert(&mut self, entry: ManifestEntry) {
        match self
            .datasets
            .binary_search_by(|e| e.id.as_str().cmp(&entry.id))
        {
            Ok(i) => self.datasets[i] = entry,
            Err(i) => self.datasets.insert(i, entry),
        }
    }

    /// Writes the manifest into `data_dir`, atomically; returns the path written.
    pub fn save(&self, data_dir: &Path) -> io::Result<PathBuf> {
        let path = data_dir.join(MANIFEST_FILE);
        let tmp = data_dir.join(format!("{MANIFEST_FILE}.tmp"));
        let mut text = serde_json::to_vec_pretty(self).map_err(io::Error::other)?;
        text.push(b'\n');
        std::fs::write(&tmp, &text)?;
        std::fs::rename(&tmp, &path)?;
        Ok(path)
    }
}

impl ManifestEntry {
    /// Whether the file in `data_dir` is still the one recorded: same size, same SHA-256.
    pub fn matches_file(&self, data_dir: &Path) -> io::Result<bool> {
        let path = data_dir.join(&self.file);
        match std::fs::metadata(&path) {
            Ok(meta) if meta.is_file() && meta.len() == self.bytes => {}
            Ok(_) => return Ok(false),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e),
        }
        let (bytes, sha256) = sha256_file(&path)?;
        Ok(bytes == self.bytes && sha256 == self.sha256)
    }
}

/// The size and SHA-256 (lower-case hex) of a file, read in 64 KiB blocks.
pub fn sha256_file(path: &Path) -> io::Result<(u64, String)> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 64 * 1024];
    let mut bytes = 0u64;
    loop {
        let n = match file.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buffer[..n]);
        bytes += n as u64;
    }
    Ok((bytes, hex(&hasher.finalize())))
}

/// Lower-case hex of `bytes`.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn entry(id: &str, file: &str, bytes: u64, sha256: &str) -> ManifestEntry {
        ManifestEntry {
            id: id.into(),
            url: format!("http://x/{id}"),
            file: file.into(),
            bytes,
            sha256: sha256.into(),
            fetched_at: Timestamp::parse("2025-11-26T09:00:00Z").unwrap(),
        }
    }

    #[test]
    fn sha256_of_known_inputs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"").unwrap();
        assert_eq!(
            sha256_file(&path).unwrap(),
            (
                0,
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855".into()
            )
        );
        std::fs::write(&path, b"abc").unwrap();
        assert_eq!(
            sha256_file(&path).unwrap(),
            (
                3,
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad".into()
            )
        );
    }

    #[test]
    fn upsert_keeps_entries_sorted_and_unique() {
        let mut m = Manifest::default();
        m.upsert(entry("b", "b", 1, "x"));
        m.upsert(entry("a", "a", 1, "x"));
        m.upsert(entry("b", "b", 2, "y"));
        let ids: Vec<_> = m
            .datasets
            .iter()
            .map(|e| (e.id.as_str(), e.bytes))
            .collect();
        assert_eq!(ids, [("a", 1), ("b", 2)]);
    }

    #[test]
    fn save_then_load_round_trips_and_missing_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Manifest::load(dir.path()).unwrap(), Manifest::default());
        let mut m = Manifest::default();
        m.upsert(entry("a", "readings/a.json", 3, "abc"));
        m.save(dir.path()).unwrap();
        assert_eq!(Manifest::load(dir.path()).unwrap(), m);
        assert!(!dir.path().join("manifest.json.tmp").exists());
        std::fs::write(dir.path().join(MANIFEST_FILE), b"{").unwrap();
        assert!(matches!(
            Manifest::load(dir.path()),
            Err(ManifestError::Parse { .. })
        ));
    }

    #[test]
    fn an_entry_matches_only_the_same_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"abc").unwrap();
        let (bytes, sha) = sha256_file(&path).unwrap();
        assert!(
            entry("a", "f", bytes, &sha)
                .matches_file(dir.path())
                .unwrap()
        );
        std::fs::write(&path, b"abd").unwrap();
        assert!(
            !entry("a", "f", bytes, &sha)
                .matches_file(dir.path())
                .unwrap()
        );
        std::fs::write(&path, b"abcd").unwrap();
        assert!(
            !entry("a", "f", bytes, &sha)
                .matches_file(dir.path())
                .unwrap()
        );
        assert!(
            !entry("a", "gone", bytes, &sha)
                .matches_file(dir.path())
                .unwrap()
        );
    }
}

//! The starter dataset built into the binary: the 20 quartiers, the weather-station catalogue
//! and five days of hourly readings of nine stations (23–27 November 2025), so that a first
//! `garonne up` on a machine that cannot reach the portal still shows a live map.
//!
//! The files are copies of the committed test fixture (`testkit/fixtures/toulouse`, provenance
//! in its `SOURCES.md`), compiled in with `include_bytes!`. They are Toulouse Métropole's open
//! data under the ODbL: [`write`] puts an attribution note ([`NOTE_FILE`]) beside them. The
//! fleet replays the November readings rebased onto the wall clock, like any other readings.
//! `garonne data fetch` brings the full, current data; [`retire`] then removes what only the
//! starter had (its readings and its note), and the fetch replaces the other two files.

use std::io;
use std::path::{Path, PathBuf};

use crate::fetch::ESSENTIAL_FILES;

/// The starter's readings file, in the data folder (a name no download uses).
pub const READINGS_FILE: &str = "starter-readings-2025-11-23_to_27.csv";

/// The attribution note written beside the starter's files.
pub const NOTE_FILE: &str = "STARTER-ATTRIBUTION.md";

/// The starter's files: name in the data folder, content.
pub const FILES: [(&str, &[u8]); 3] = [
    (
        ESSENTIAL_FILES[0],
        include_bytes!("../../testkit/fixtures/toulouse/stations-meteo-en-place.json"),
    ),
    (
        ESSENTIAL_FILES[1],
        include_bytes!("../../testkit/fixtures/toulouse/quartiers-de-democratie-locale.geojson"),
    ),
    (
        READINGS_FILE,
        include_bytes!(
            "../../testkit/fixtures/toulouse/stations-meteo-hourly-2025-11-23_to_27-9stations.csv"
        ),
    ),
];

/// What the note says: where the files come from, their licence, and how to get the full data.
const NOTE: &str = "\
# Starter dataset / Jeu de données de démarrage

`garonne up` wrote these files because this folder was empty and the open-data portal could not
be reached. `garonne data fetch` downloads the full, current data; it then removes the starter's
readings and this note.

`garonne up` a écrit ces fichiers parce que ce dossier était vide et que le portail open data
était injoignable. `garonne data fetch` télécharge les données complètes et à jour ; il supprime
ensuite les relevés de démarrage et cette note.

| file / fichier | what / contenu |
|---|---|
| `stations-meteo-en-place.json` | the weather-station catalogue / le catalogue des stations météo |
| `quartiers-de-democratie-locale.geojson` | the 20 quartiers / les 20 quartiers |
| `starter-readings-2025-11-23_to_27.csv` | hourly readings of 9 stations, 23–27 November 2025 / relevés horaires de 9 stations, 23–27 novembre 2025 |

Data: © Toulouse Métropole, <https://data.toulouse-metropole.fr>, Open Database License (ODbL
1.0), <https://opendatacommons.org/licenses/odbl/1-0/>. A database derived from these files and
used publicly must be offered under the ODbL too.

Données : © Toulouse Métropole, <https://data.toulouse-metropole.fr>, licence ODbL 1.0,
<https://opendatacommons.org/licenses/odbl/1-0/>. Une base de données dérivée de ces fichiers et
utilisée publiquement doit elle aussi être proposée sous ODbL.

Provenance: `testkit/fixtures/toulouse/SOURCES.md` in Garonne's repository.
";

/// Why the starter could not be written or removed.
#[derive(Debug, thiserror::Error)]
#[error("cannot write or remove the starter dataset's {}", path.display())]
pub struct StarterError {
    /// The file or folder at fault.
    pub path: PathBuf,
    /// Why.
    #[source]
    pub source: io::Error,
}

/// Writes the starter's files that `data_dir` lacks (never replacing one that is there) and
/// the attribution note, creating the folder if needed. Returns the names of the data files
/// written. Each file is written to `FILE.part` and renamed, so a crash leaves no half file.
pub fn write(data_dir: &Path) -> Result<Vec<&'static str>, StarterError> {
    let failed = |path: &Path| {
        let path = path.to_owned();
        move |source| StarterError { path, source }
    };
    std::fs::create_dir_all(data_dir).map_err(failed(data_dir))?;
    let mut written = Vec::new();
    for (name, bytes) in FILES {
        let path = data_dir.join(name);
        if path.exists() {
            continue;
        }
        let part = data_dir.join(format!("{name}.part"));
        std::fs::write(&part, bytes).map_err(failed(&part))?;
        std::fs::rename(&part, &path).map_err(failed(&path))?;
        written.push(name);
    }
    let note = data_dir.join(NOTE_FILE);
    std::fs::write(&note, NOTE).map_err(failed(&note))?;
    Ok(written)
}

/// Removes what only the starter brought (its readings file and its note) once the full data
/// is there; the catalogue and the quartiers are replaced by the download itself. Returns
/// whether there was a starter to remove; a file already gone is not an error.
pub fn retire(data_dir: &Path) -> Result<bool, StarterError> {
    let mut removed = false;
    for name in [READINGS_FILE, NOTE_FILE] {
        let path = data_dir.join(name);
        match std::fs::remove_file(&path) {
            Ok(()) => removed = true,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => return Err(StarterError { path, source }),
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::fetch::essential_missing;

    #[test]
    fn an_empty_folder_gets_every_essential_file_and_loads() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let written = write(&data).unwrap();
        assert_eq!(written.len(), FILES.len());
        assert!(essential_missing(&data).is_empty());
        assert!(data.join(NOTE_FILE).is_file(), "the attribution note");

        let open = crate::load_dir(&data).unwrap();
        assert!(!open.stations.is_empty());
        let with_readings: std::collections::BTreeSet<&str> = open
            .observations
            .iter()
            .map(|o| o.station_id.as_str())
            .collect();
        assert_eq!(with_readings.len(), 9, "nine stations have readings");

        let quartiers: serde_json::Value =
            serde_json::from_slice(&std::fs::read(data.join(ESSENTIAL_FILES[1])).unwrap()).unwrap();
        assert_eq!(quartiers["features"].as_array().unwrap().len(), 20);
    }

    #[test]
    fn files_already_there_are_kept_and_retire_removes_only_the_starters() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(ESSENTIAL_FILES[0]), "mine").unwrap();
        let written = write(dir.path()).unwrap();
        assert_eq!(written, [ESSENTIAL_FILES[1], READINGS_FILE]);
        let kept = std::fs::read_to_string(dir.path().join(ESSENTIAL_FILES[0])).unwrap();
        assert_eq!(kept, "mine");

        assert!(retire(dir.path()).unwrap());
        assert!(!dir.path().join(READINGS_FILE).exists());
        assert!(!dir.path().join(NOTE_FILE).exists());
        assert!(
            essential_missing(dir.path()).is_empty(),
            "the catalogue and quartiers stay"
        );
        assert!(!retire(dir.path()).unwrap(), "nothing left to retire");
    }

    #[test]
    fn the_note_gives_the_attribution_in_english_and_french() {
        for needed in [
            "© Toulouse Métropole",
            "ODbL",
            "Données",
            "garonne data fetch",
        ] {
            assert!(NOTE.contains(needed), "{needed}");
        }
    }
}

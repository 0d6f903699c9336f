//! The Toulouse open data that tests read.
//!
//! By default the small fixture committed in `testkit/fixtures/toulouse` (ODbL; its `SOURCES.md`
//! gives the licences, the attribution and what was trimmed), so that a clone with nothing beside
//! it passes its tests. `GARONNE_DATA_DIR` points the tests at another copy instead, such as the
//! folder `garonne data fetch` fills; tests that count stations or rows expect the fixture.

use std::path::PathBuf;

/// The committed fixture folder.
pub const FIXTURE_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/toulouse");

/// The open-data folder for tests: `GARONNE_DATA_DIR` when set, the committed fixture otherwise.
#[must_use]
pub fn open_data_dir() -> PathBuf {
    std::env::var_os("GARONNE_DATA_DIR")
        .filter(|dir| !dir.is_empty())
        .map_or_else(|| PathBuf::from(FIXTURE_DIR), PathBuf::from)
}

/// One file of [`open_data_dir`], such as `quartiers-de-democratie-locale.geojson`.
#[must_use]
pub fn open_data_file(name: &str) -> PathBuf {
    open_data_dir().join(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fixture_holds_the_polygons_and_its_licence() {
        let fixture = PathBuf::from(FIXTURE_DIR);
        for name in [
            "SOURCES.md",
            "quartiers-de-democratie-locale.geojson",
            "stations-meteo-en-place.json",
        ] {
            assert!(
                fixture.join(name).is_file(),
                "{name} missing from {FIXTURE_DIR}"
            );
        }
        let sources = std::fs::read_to_string(fixture.join("SOURCES.md")).expect("read");
        assert!(sources.contains("ODbL") && sources.contains("© Toulouse Métropole"));
    }
}

//! `garonne profile from-dbc FILE.dbc`: the profile of a car's CAN channels, written from its
//! DBC file for the teacher or the team to check (issue 16). The mapping (names, units, ranges,
//! aggregations) is [`garonne_agent::can::profile`]'s, shared with the agent that decodes the
//! frames; this command reads the file, writes the profile and runs `garonne profile check` on
//! it, so a clash with a built-in quantity shows at once.
//!
//! Exit codes as `garonne profile`: 0 written and checked, 1 written but it does not check, 2
//! nothing written (unreadable or invalid DBC, unnameable signals, bad name, existing file).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use garonne_agent::can::dbc::CanDb;
use garonne_agent::can::profile::{default_name, profile_toml};
use garonne_payload::profile::{MAX_NAME_BYTES, is_valid_profile_name};

/// Runs `garonne profile from-dbc`.
pub fn run(file: &Path, name: Option<String>, output: Option<PathBuf>) -> ExitCode {
    let name = name.unwrap_or_else(|| default_name(file));
    if !is_valid_profile_name(&name) {
        eprintln!(
            "error: profile name \"{name}\" is not 1 to {MAX_NAME_BYTES} lower-case letters, \
             digits and '-', starting with a letter; give one with --name"
        );
        return ExitCode::from(2);
    }
    let text = match generate(file, &name) {
        Ok(text) => text,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    let path = output.unwrap_or_else(|| PathBuf::from(format!("{name}.toml")));
    match crate::profile::write_new(&path, &text) {
        Ok(true) => {}
        Ok(false) => return ExitCode::SUCCESS,
        Err(code) => return code,
    }
    println!("wrote {}", path.display());
    crate::profile::check(&path)
}

/// The profile text of a DBC file, or what stops it, error chain included.
fn generate(file: &Path, name: &str) -> Result<String, String> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let db = CanDb::parse(&text).map_err(|e| {
        let cause = std::error::Error::source(&e).map_or(String::new(), |c| format!(": {c}"));
        format!("{}: {e}{cause}", file.display())
    })?;
    let source = file.file_name().map_or_else(
        || file.display().to_string(),
        |f| f.to_string_lossy().into(),
    );
    profile_toml(&db, name, &source).map_err(|e| format!("{}: {e}", file.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use garonne_payload::Quantity;
    use garonne_payload::profile::Profile;

    /// The agent's example DBC, with a comment whose quotes are escaped.
    fn example_dbc() -> String {
        include_str!("../agent/src/can/example.dbc")
            .replace("at the outlet", "at the \\\"outlet\\\"")
    }

    #[test]
    fn the_written_profile_checks_against_the_built_in_catalogue() {
        let dir = tempfile::tempdir().expect("valid");
        let dbc = dir.path().join("Car_2026.dbc");
        std::fs::write(&dbc, example_dbc()).expect("valid");
        let text = generate(&dbc, &default_name(&dbc)).expect("valid");
        let profile = Profile::parse(&text).unwrap_or_else(|e| panic!("{e:?}\n{text}"));
        assert_eq!(profile.name, "car-2026");
        assert_eq!(profile.quantities.len(), 12);
        assert!(Quantity::with_catalogue(|c| c.check(&profile)).is_ok());
        let coolant = &profile.quantity("coolantTemp").expect("valid").def;
        assert_eq!(coolant.unit.symbol, "Cel");
        assert!(
            coolant
                .description
                .as_ref()
                .expect("valid")
                .en
                .ends_with(": Engine coolant temperature at the \"outlet\"")
        );
        // Written to a file, `garonne profile check` says ok.
        let out = dir.path().join("car.toml");
        let code = run(&dbc, None, Some(out.clone()));
        assert_eq!(code, ExitCode::SUCCESS);
        assert_eq!(std::fs::read_to_string(&out).expect("valid"), text);
        // An existing file is never overwritten.
        assert_eq!(run(&dbc, None, Some(out)), ExitCode::from(2));
    }

    #[test]
    fn a_signal_clashing_with_a_built_in_quantity_fails_the_check() {
        let dir = tempfile::tempdir().expect("valid");
        let dbc = dir.path().join("car.dbc");
        std::fs::write(&dbc, example_dbc().replace("CoolantTemp", "Temperature")).expect("valid");
        let out = dir.path().join("car.toml");
        assert_eq!(run(&dbc, None, Some(out)), ExitCode::from(1));
    }

    #[test]
    fn a_dbc_that_does_not_parse_writes_nothing() {
        let dir = tempfile::tempdir().expect("valid");
        let dbc = dir.path().join("car.dbc");
        std::fs::write(&dbc, "BO_ broken").expect("valid");
        let out = dir.path().join("car.toml");
        assert_eq!(run(&dbc, None, Some(out.clone())), ExitCode::from(2));
        assert!(!out.exists());
    }

    #[test]
    fn default_names_follow_the_profile_name_rule() {
        for (file, name) in [
            ("Car_2026.dbc", "car-2026"),
            ("dir/FS  car.dbc", "fs-car"),
            ("2026.dbc", "can-2026"),
        ] {
            let got = default_name(Path::new(file));
            assert_eq!(got, name);
            assert!(is_valid_profile_name(&got));
        }
    }
}

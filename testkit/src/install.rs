//! Finding a server's program, and what to do when it is missing.

use std::env;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// Directories searched after `PATH`, because servers live in `sbin`, which
/// is often missing from an ordinary user's `PATH`.
const EXTRA_DIRS: [&str; 2] = ["/usr/sbin", "/usr/bin"];

/// Returns the path of the program `binary`, looked up on `PATH`, then in
/// `/usr/sbin` and `/usr/bin`; `None` when it is in none of them.
///
/// A `binary` that contains a `/` is taken as a path and only checked.
pub fn find(binary: &str) -> Option<PathBuf> {
    find_in(binary, env::var_os("PATH"))
}

/// Returns the path of the program `binary`, or `None` after printing
/// `skipping: BINARY not installed (apt-get install PACKAGE)` to stderr.
///
/// Call it at the start of a test that needs the program, and return from
/// the test on `None`.
///
/// # Panics
///
/// When the program is missing and the environment variable `CI` is `true`
/// or `1`: under CI a missing server is a failure, not a skip. The message
/// names the program and how to install it.
pub fn require(binary: &str, debian_package: &str) -> Option<PathBuf> {
    require_in(binary, debian_package, find(binary), under_ci())
}

/// Whether the environment variable `CI` says this is a CI run.
fn under_ci() -> bool {
    env::var("CI").is_ok_and(|value| {
        let value = value.trim();
        value == "1" || value.eq_ignore_ascii_case("true")
    })
}

/// [`require`] with the lookup's result and the CI flag given, for tests.
fn require_in(
    binary: &str,
    debian_package: &str,
    found: Option<PathBuf>,
    ci: bool,
) -> Option<PathBuf> {
    if found.is_some() {
        return found;
    }
    if ci {
        panic!(
            "{binary} is not installed, and CI is set, so tests that need it fail \
             instead of skipping: install it with `apt-get install {debian_package}`, \
             or run .ci/run which installs it"
        );
    }
    eprintln!("skipping: {binary} not installed (apt-get install {debian_package})");
    None
}

/// [`find`] with the value of `PATH` given.
fn find_in(binary: &str, path: Option<OsString>) -> Option<PathBuf> {
    if binary.contains('/') {
        let candidate = PathBuf::from(binary);
        return is_executable(&candidate).then_some(candidate);
    }
    let on_path = path
        .map(|path| env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default();
    on_path
        .into_iter()
        .chain(EXTRA_DIRS.iter().map(PathBuf::from))
        .map(|dir| dir.join(binary))
        .find(|candidate| is_executable(candidate))
}

/// Whether `path` is a file that someone may execute.
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MISSING: &str = "garonne-no-such-program";

    #[test]
    fn finds_a_program_on_path() {
        let found = find_in("sh", Some(OsString::from("/nonexistent:/bin:/usr/bin")));
        assert!(found.is_some_and(|path| path.ends_with("sh")));
    }

    #[test]
    fn finds_a_program_in_sbin_without_path() {
        // `sh` is in /usr/bin on every Debian system (merged /usr).
        assert!(find_in("sh", None).is_some());
    }

    #[test]
    fn does_not_find_a_missing_program() {
        assert_eq!(find_in(MISSING, Some(OsString::from("/bin"))), None);
        assert_eq!(find_in("/nonexistent/sh", None), None);
    }

    #[test]
    fn a_missing_program_is_skipped_outside_ci() {
        assert_eq!(require_in(MISSING, "garonne", None, false), None);
    }

    #[test]
    fn a_found_program_is_returned_under_ci() {
        let path = PathBuf::from("/bin/sh");
        assert_eq!(
            require_in("sh", "dash", Some(path.clone()), true),
            Some(path)
        );
    }

    #[test]
    #[should_panic(expected = "apt-get install garonne")]
    fn a_missing_program_fails_under_ci() {
        require_in(MISSING, "garonne", None, true);
    }
}

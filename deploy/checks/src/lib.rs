//! Checks of the deployment files (`docker-compose.yml`, `deploy/`, `nginx/`, the `Dockerfile`)
//! against the real programs they configure.
//!
//! The deployment is not Rust code, so nothing else compiles or runs it: these tests read the
//! compose file, the broker's configuration and ACL, the nginx configuration and the Grafana
//! dashboards, and check them against the `garonne` command (its flags, topics and metric names)
//! and, where the program is installed, against the real mosquitto, nginx and InfluxDB started by
//! `garonne-testkit`. They live in a crate of their own so that the command's crate stays about
//! the command, and so that `cargo test -p garonne-deploy-checks` runs exactly them.
//!
//! This library holds what the tests share: where the repository is, and the `garonne` binary
//! (`env!("CARGO_BIN_EXE_garonne")` exists only inside the package that owns the binary).
//!
//! # Layout
//!
//! - [`repo_path`]: a file of the repository, by its path from the repository's root.
//! - [`garonne`]: the `garonne` binary of this build, built first if needed.
//! - `tests/deploy_compose.rs`: the compose file, its environment and every command it runs.
//! - `tests/deploy_grafana.rs`: the dashboards' queries against a real InfluxDB and the metrics
//!   the services export.
//! - `tests/deploy_mosquitto.rs`: the broker's configuration, passwords and ACL on a real
//!   mosquitto.
//! - `tests/deploy_nginx.rs`: the nginx configuration in front of a real `garonne serve`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The path of `relative` in the repository (the workspace's root).
pub fn repo_path(relative: impl AsRef<Path>) -> PathBuf {
    // This crate is deploy/checks: the repository is two folders up.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("deploy/checks has two parents");
    root.join(relative)
}

/// The `garonne` binary of the profile the tests were built with (`target/debug/garonne` for
/// `cargo test`, `target/release/garonne` for `cargo test --release`).
///
/// The first call runs `cargo build --bin garonne` in that profile, so the binary is never
/// missing nor older than the sources (a no-op when it is up to date); later calls return the
/// same path.
///
/// # Panics
///
/// When the build fails or the binary cannot be located: a test cannot go on without it.
pub fn garonne() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(build_garonne)
}

/// Builds `garonne` next to the running test binary (`<target>/<profile>/deps/<test>`) and
/// returns its path.
fn build_garonne() -> PathBuf {
    let test = std::env::current_exe().expect("the test binary's path");
    let profile_dir = test
        .parent()
        .and_then(Path::parent)
        .expect("the test binary is in <target>/<profile>/deps");
    let profile = profile_dir
        .file_name()
        .and_then(|name| name.to_str())
        .expect("a profile folder name");
    let target_dir = profile_dir
        .parent()
        .expect("the profile folder is in the target folder");
    let mut cargo = Command::new(env!("CARGO"));
    cargo
        .args(["build", "--quiet", "--bin", "garonne", "--manifest-path"])
        .arg(repo_path("Cargo.toml"))
        .arg("--target-dir")
        .arg(target_dir);
    match profile {
        "debug" => {}
        "release" => {
            cargo.arg("--release");
        }
        other => {
            cargo.args(["--profile", other]);
        }
    }
    let status = cargo
        .status()
        .unwrap_or_else(|e| panic!("cannot run {cargo:?}: {e}"));
    assert!(status.success(), "{cargo:?} failed: {status}");
    let binary = profile_dir.join(format!("garonne{}", std::env::consts::EXE_SUFFIX));
    assert!(
        binary.is_file(),
        "{} is missing after the build",
        binary.display()
    );
    binary
}

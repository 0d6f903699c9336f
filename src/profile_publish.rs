//! `garonne profile publish FILE`: the teacher's command that puts an approved profile on the
//! broker, retained, where every service loads it live (issue 14). Being written (session 4).

use std::path::PathBuf;
use std::process::ExitCode;

/// The arguments of `garonne profile publish`.
#[derive(clap::Args)]
pub struct PublishArgs {
    /// The profile file (TOML), checked before it is published.
    pub file: PathBuf,
}

/// Runs `garonne profile publish`.
pub fn run(args: PublishArgs) -> ExitCode {
    eprintln!("error: garonne profile publish {} is not written yet", args.file.display());
    ExitCode::from(2)
}

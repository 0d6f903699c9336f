//! `garonne profile new` and `garonne profile check`: the student's tools for writing a profile
//! (issue 14), before the teacher approves and publishes it.
//!
//! Exit codes: 0 done (the profile checks), 1 the profile has problems (one block per problem:
//! `FILE:LINE:COL: rule: message`, then the hint in English and in French), 2 the command
//! cannot run (unreadable file, bad name, existing file).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Subcommand;
use garonne_payload::Quantity;
use garonne_payload::profile::{
    Clash, MAX_NAME_BYTES, Problem, Profile, ProfileProblems, is_valid_profile_name,
};
use garonne_service::data_dir::DataDir;

/// What `garonne profile` does.
#[derive(Subcommand)]
pub enum ProfileCommand {
    /// Write a commented profile template (French and English) to NAME.toml, or to --output.
    New {
        /// The profile name: lower-case letters, digits and '-' (e.g. `ecole-co2`).
        name: String,
        /// Where to write it (`-` for standard output); default `NAME.toml`.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Check a profile file: every problem with its line, column and a hint, including a
    /// quantity that clashes with a built-in profile.
    Check {
        /// The profile file (TOML).
        file: PathBuf,
    },
    /// Publish an approved profile, retained, on `garonne/v1/profiles/{name}`: every running
    /// service loads it live, without a restart.
    Publish(crate::profile_publish::PublishArgs),
}

/// Runs a `garonne profile` command.
pub fn run(command: ProfileCommand) -> ExitCode {
    match command {
        ProfileCommand::New { name, output } => new(&name, output),
        ProfileCommand::Check { file } => check(&file),
        ProfileCommand::Publish(args) => crate::profile_publish::run(args),
    }
}

fn new(name: &str, output: Option<PathBuf>) -> ExitCode {
    if !is_valid_profile_name(name) {
        eprintln!(
            "error: profile name \"{name}\" is not 1 to {MAX_NAME_BYTES} lower-case letters, \
             digits and '-', starting with a letter (e.g. \"ecole-co2\")"
        );
        return ExitCode::from(2);
    }
    let text = Profile::template(name);
    let path = output.unwrap_or_else(|| PathBuf::from(format!("{name}.toml")));
    if path.as_os_str() == "-" {
        // A closed pipe is not worth a panic.
        let _ = std::io::stdout().lock().write_all(text.as_bytes());
        return ExitCode::SUCCESS;
    }
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .and_then(|mut f| f.write_all(text.as_bytes()));
    match written {
        Ok(()) => {
            println!(
                "wrote {}: edit it, then run `garonne profile check {}`",
                path.display(),
                path.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: cannot write {}: {e}", path.display());
            ExitCode::from(2)
        }
    }
}

pub(crate) fn check(file: &Path) -> ExitCode {
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(e) => {
            eprintln!("error: cannot read {}: {e}", file.display());
            return ExitCode::from(2);
        }
    };
    let shown = file.display().to_string();
    let report = match Profile::parse(&text) {
        Ok(profile) => clash_report(&shown, &text, &profile),
        Err(ProfileProblems { problems }) => problems.iter().map(|p| block(&shown, p)).collect(),
    };
    let mut stdout = std::io::stdout().lock();
    if report.is_empty() {
        let _ = writeln!(stdout, "{shown}: ok");
        return ExitCode::SUCCESS;
    }
    for block in report {
        if write!(stdout, "{block}").is_err() {
            break;
        }
    }
    ExitCode::from(1)
}

/// Loads every profile (`*.toml`, in name order) of `folder` into the process's catalogue, or
/// of `profiles/` in the default data folder when `folder` is `None` and that exists. A profile
/// that does not check, or clashes, stops the command: every problem is in the error.
pub fn load_folder(folder: Option<&Path>) -> anyhow::Result<usize> {
    let (folder, given) = match folder {
        Some(f) => (f.to_path_buf(), true),
        None => (DataDir::default().profiles(), false),
    };
    if !given && !folder.is_dir() {
        return Ok(0);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(&folder)
        .with_context(|| {
            format!(
                "cannot read the profiles folder {} (--profiles, GARONNE_PROFILES_DIR)",
                folder.display()
            )
        })?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    for file in &files {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read the profile {}", file.display()))?;
        let shown = file.display().to_string();
        let profile = Profile::parse(&text).map_err(|ProfileProblems { problems }| {
            let blocks: String = problems.iter().map(|p| block(&shown, p)).collect();
            anyhow::anyhow!(
                "the profile {shown} does not check (garonne profile check {shown}):\n{blocks}"
            )
        })?;
        if let Err(clash) = Quantity::register(profile.clone()) {
            let blocks: String = clash_report(&shown, &text, &profile).concat();
            bail!("the profile {shown} cannot be loaded: {clash}\n{blocks}");
        }
    }
    Ok(files.len())
}

/// The clash of a valid profile with the built-in catalogue, as a problem block, if any.
fn clash_report(shown: &str, text: &str, profile: &Profile) -> Vec<String> {
    // An unchanged built-in profile is already there, unchanged: it checks. The catalogue is
    // the process's: the built-in profiles and those of the profiles folder.
    let Err(clash) = Quantity::with_catalogue(|c| c.check(profile)) else {
        return Vec::new();
    };
    let (line, column) = match &clash {
        Clash::Definition { quantity, .. } => name_position(text, quantity),
        _ => name_position_of_key(text, "version"),
    };
    let hint = clash.hint();
    vec![format!(
        "{shown}:{line}:{column}: clash: {clash}\n  hint: {}\n  conseil : {}\n",
        hint.en, hint.fr
    )]
}

fn block(shown: &str, p: &Problem) -> String {
    format!(
        "{shown}:{}:{}: {}: {}\n  hint: {}\n  conseil : {}\n",
        p.line, p.column, p.rule, p.message, p.hint.en, p.hint.fr
    )
}

/// The line and column of `name = "QUANTITY"` in the file, else 1:1.
fn name_position(text: &str, quantity: &str) -> (usize, usize) {
    let quoted = format!("\"{quantity}\"");
    position(text, |line| {
        line.trim_start().starts_with("name") && line.contains(&quoted)
    })
    .map_or((1, 1), |(n, line)| (n, column_of(line, &quoted)))
}

/// The line and column of `KEY = ...` at the start of a line, else 1:1.
fn name_position_of_key(text: &str, key: &str) -> (usize, usize) {
    position(text, |line| line.trim_start().starts_with(key))
        .map_or((1, 1), |(n, line)| (n, column_of(line, key)))
}

fn position(text: &str, found: impl Fn(&str) -> bool) -> Option<(usize, &str)> {
    text.lines()
        .enumerate()
        .find(|(_, line)| found(line))
        .map(|(i, line)| (i + 1, line))
}

fn column_of(line: &str, needle: &str) -> usize {
    line.find(needle)
        .map_or(1, |at| line[..at].chars().count() + 1)
}

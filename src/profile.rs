//! `garonne profile new`, `check`, `schema` and `doc`: the student's and the teacher's tools for
//! writing a profile (issue 14), and for reading what it asks of a sensor before the teacher
//! approves and publishes it (`doc` writes the project's payload specification, see
//! [`crate::profile_doc`]).
//!
//! Exit codes: 0 done (the profile checks), 1 the profile has problems (one block per problem:
//! `FILE:LINE:COL: rule: message`, then the hint in English and in French), 2 the command
//! cannot run (unreadable file, bad name, existing file).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Subcommand;
use garonne_payload::profile::{
    MAX_NAME_BYTES, Problem, Profile, ProfileProblems, is_valid_profile_name,
};
use garonne_payload::{Quantity, Timestamp, profile_schema, unknown_profile};
use garonne_service::data_dir::DataDir;
use garonne_service::profiles::RefusalProblem;

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
    /// Print the JSON Schema (draft 2020-12) of readings under a profile: its required
    /// quantities required, the others optional, each with its range.
    Schema {
        /// A profile file (TOML), or the name of a loaded profile (`air-quality`).
        profile: PathBuf,
    },
    /// Write the payload specification of a profile, for the teacher to read and sign off:
    /// purpose, field table, topics, a valid reading, refused readings with their exact errors.
    Doc {
        /// A profile file (TOML), or the name of a loaded profile (`air-quality`).
        profile: PathBuf,
        /// The language of the document.
        #[arg(long, value_enum)]
        lang: crate::profile_doc::Lang,
        /// Where to write it; default standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Publish an approved profile, retained, on `garonne/v1/profiles/{name}`: every running
    /// service loads it live, without a restart.
    Publish(crate::profile_publish::PublishArgs),
    /// Write the profile of a DBC file's CAN signals (one quantity per signal: name, unit,
    /// range from the DBC) to NAME.toml or --output, then check it.
    FromDbc {
        /// The DBC file.
        file: PathBuf,
        /// The profile name; default the file's name (`Car_2026.dbc` → `car-2026`).
        #[arg(long)]
        name: Option<String>,
        /// Where to write it (`-` for standard output); default `NAME.toml`.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

/// Runs a `garonne profile` command.
pub fn run(command: ProfileCommand) -> ExitCode {
    match command {
        ProfileCommand::New { name, output } => new(&name, output),
        ProfileCommand::Check { file } => check(&file),
        ProfileCommand::Schema { profile } => schema(&profile),
        ProfileCommand::Doc {
            profile,
            lang,
            output,
        } => doc(&profile, lang, output.as_deref()),
        ProfileCommand::Publish(args) => crate::profile_publish::run(args),
        ProfileCommand::FromDbc { file, name, output } => {
            crate::profile_dbc::run(&file, name, output)
        }
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
    match write_new(&path, &text) {
        Ok(true) => {
            println!(
                "wrote {}: edit it, then run `garonne profile check {}`",
                path.display(),
                path.display()
            );
            ExitCode::SUCCESS
        }
        Ok(false) => ExitCode::SUCCESS,
        Err(code) => code,
    }
}

/// Writes `text` to a new file at `path`, or to standard output for `-`: `Ok(true)` when a file
/// was written, `Ok(false)` for standard output. An existing file is never overwritten; on
/// failure the reason is printed and the exit code (2) returned.
pub(crate) fn write_new(path: &Path, text: &str) -> Result<bool, ExitCode> {
    if path.as_os_str() == "-" {
        // A closed pipe is not worth a panic.
        let _ = std::io::stdout().lock().write_all(text.as_bytes());
        return Ok(false);
    }
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()));
    match written {
        Ok(()) => Ok(true),
        Err(e) => {
            let hint = if e.kind() == std::io::ErrorKind::AlreadyExists {
                "; it is never overwritten: remove it, or choose another file with -o"
            } else {
                ""
            };
            eprintln!("error: cannot write {}: {e}{hint}", path.display());
            Err(ExitCode::from(2))
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

fn schema(target: &Path) -> ExitCode {
    let profile = match resolve(target) {
        Ok(profile) => profile,
        Err(code) => return code,
    };
    let text = serde_json::to_string_pretty(&profile_schema(&profile)).unwrap_or_default();
    // A closed pipe is not worth a panic.
    let _ = writeln!(std::io::stdout().lock(), "{text}");
    ExitCode::SUCCESS
}

fn doc(target: &Path, lang: crate::profile_doc::Lang, output: Option<&Path>) -> ExitCode {
    let profile = match resolve(target) {
        Ok(profile) => profile,
        Err(code) => return code,
    };
    let text = match crate::profile_doc::document(&profile, lang, Timestamp::now()) {
        Ok(text) => text,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(1);
        }
    };
    match output {
        None => {
            let _ = std::io::stdout().lock().write_all(text.as_bytes());
            ExitCode::SUCCESS
        }
        Some(path) => match std::fs::write(path, text) {
            Ok(()) => {
                println!("wrote {}", path.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: cannot write {}: {e}", path.display());
                ExitCode::from(2)
            }
        },
    }
}

/// The profile a command names: a profile file, checked and added to the process's catalogue
/// (so its quantities are known), or the name of a loaded profile. On failure, the problems are
/// printed and the exit code returned: 1 for a profile that does not check, 2 for nothing to
/// read.
fn resolve(target: &Path) -> Result<Profile, ExitCode> {
    if !target.is_file() {
        let name = target.to_string_lossy();
        return match Quantity::with_catalogue(|c| c.profile(&name).map(|p| p.profile.clone())) {
            Some(profile) => Ok(profile),
            None => {
                let unknown = unknown_profile("", &name);
                eprintln!(
                    "error: no profile file or loaded profile named {name}; hint: {}\n  \
                     conseil : {}",
                    unknown.hint, unknown.hint_fr
                );
                Err(ExitCode::from(2))
            }
        };
    }
    let text = std::fs::read_to_string(target).map_err(|e| {
        eprintln!("error: cannot read {}: {e}", target.display());
        ExitCode::from(2)
    })?;
    let shown = target.display().to_string();
    let profile = Profile::parse(&text).map_err(|ProfileProblems { problems }| {
        let blocks: String = problems.iter().map(|p| block(&shown, p)).collect();
        print!("{blocks}");
        ExitCode::from(1)
    })?;
    if Quantity::register(profile.clone()).is_err() {
        print!("{}", clash_report(&shown, &text, &profile).concat());
        return Err(ExitCode::from(1));
    }
    Ok(profile)
}

/// Loads every profile (`*.toml`, in name order) of `folder` into the process's catalogue, or
/// of `profiles/` in the command's data folder (`data_dir`, else the default one) when `folder`
/// is `None` and that exists. A profile that does not check, or clashes, stops the command:
/// every problem is in the error.
pub fn load_folder(folder: Option<&Path>, data_dir: Option<&Path>) -> anyhow::Result<usize> {
    let (folder, given) = match folder {
        Some(f) => (f.to_path_buf(), true),
        None => (
            data_dir
                .map_or_else(DataDir::default, DataDir::new)
                .profiles(),
            false,
        ),
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
    let p = RefusalProblem::clash(text, &clash);
    vec![format!(
        "{shown}:{}:{}: clash: {}\n  hint: {}\n  conseil : {}\n",
        p.line, p.column, p.message, p.hint.en, p.hint.fr
    )]
}

fn block(shown: &str, p: &Problem) -> String {
    format!(
        "{shown}:{}:{}: {}: {}\n  hint: {}\n  conseil : {}\n",
        p.line, p.column, p.rule, p.message, p.hint.en, p.hint.fr
    )
}

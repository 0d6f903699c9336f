//! `garonne payload validate` and `garonne payload schema`: the teacher's and the student's tools.
//! `validate --profile NAME` checks payloads as if they named that profile (issue 14).
//!
//! Exit codes of `validate`: 0 every payload is valid, 1 at least one is invalid (two lines per
//! problem: pointer, rule, message and hint, then `  conseil : ` and the hint in French, as
//! `garonne profile check` shows its hints), 2 the input cannot be read or `--profile` names no
//! loaded profile.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use garonne_payload::{
    Limits, Payload, ProfileId, Timestamp, Violation, json_schema, parse_payload,
    parse_payload_under, unknown_profile,
};

/// What `garonne payload` does.
#[derive(Subcommand)]
pub enum PayloadCommand {
    /// Validate a payload file (`-` for standard input): a reading, a SenML pack, or one payload
    /// per line (errors then name the line).
    Validate {
        /// Check each payload as if it named this profile (`air-quality`): its required
        /// quantities must be there and no other; a payload that names another profile is
        /// refused.
        #[arg(long)]
        profile: Option<String>,
        /// The file to check, or `-` for standard input.
        file: PathBuf,
    },
    /// Print the JSON Schema (draft 2020-12) of the payload.
    Schema,
}

/// Runs a `garonne payload` command.
pub fn run(command: PayloadCommand) -> ExitCode {
    match command {
        PayloadCommand::Schema => {
            let text = serde_json::to_string_pretty(&json_schema()).unwrap_or_default();
            println!("{text}");
            ExitCode::SUCCESS
        }
        PayloadCommand::Validate { profile, file } => {
            if let Some(name) = profile.as_deref()
                && ProfileId::from_name(name).is_none()
            {
                let refused = unknown_profile("", name);
                eprintln!(
                    "error: --profile: {}; hint: {}\n  conseil : {}",
                    refused.message, refused.hint, refused.hint_fr
                );
                return ExitCode::from(2);
            }
            let input = match read_input(&file) {
                Ok(bytes) => bytes,
                Err(e) => {
                    eprintln!("error: cannot read {}: {e}", display_name(&file));
                    return ExitCode::from(2);
                }
            };
            let report = validate(&input, profile.as_deref(), now(), &Limits::default());
            let mut stdout = std::io::stdout().lock();
            for line in &report.lines {
                // A closed pipe (`| head`) is not an error worth a panic.
                if writeln!(stdout, "{line}").is_err() {
                    break;
                }
            }
            if report.invalid == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
    }
}

fn display_name(file: &std::path::Path) -> String {
    if file.as_os_str() == "-" {
        "standard input".to_owned()
    } else {
        file.display().to_string()
    }
}

fn read_input(file: &std::path::Path) -> std::io::Result<Vec<u8>> {
    if file.as_os_str() == "-" {
        let mut buf = Vec::new();
        std::io::stdin().lock().read_to_end(&mut buf)?;
        Ok(buf)
    } else {
        std::fs::read(file)
    }
}

fn now() -> Timestamp {
    Timestamp::now()
}

/// What `validate` prints, and how many payloads were invalid.
#[derive(Debug, PartialEq)]
pub struct Report {
    /// Output lines.
    pub lines: Vec<String>,
    /// Number of invalid payloads.
    pub invalid: usize,
}

/// Validates one payload, or one payload per line when the input is newline-delimited; under
/// `profile` (a catalogued profile's name) when one is given.
pub fn validate(input: &[u8], profile: Option<&str>, now: Timestamp, limits: &Limits) -> Report {
    let parse = |bytes: &[u8]| match profile {
        Some(name) => parse_payload_under(bytes, name, now, limits),
        None => parse_payload(bytes, now, limits),
    };
    let mut lines = Vec::new();
    let mut invalid = 0;
    match ndjson_lines(input) {
        None => match parse(input) {
            Ok(payload) => lines.push(format!("valid: {}", describe(&payload))),
            Err(e) => {
                invalid = 1;
                for v in &e.violations {
                    lines.extend(problem_lines("", v));
                }
            }
        },
        Some(docs) => {
            for (number, doc) in &docs {
                if let Err(e) = parse(doc) {
                    invalid += 1;
                    for v in &e.violations {
                        lines.extend(problem_lines(&format!("line {number}: "), v));
                    }
                }
            }
            let valid = docs.len() - invalid;
            lines.push(format!("{valid} of {} payloads valid", docs.len()));
        }
    }
    Report { lines, invalid }
}

/// The two lines of one problem: `PREFIX` and the violation (pointer, rule, message, hint), then
/// its French hint.
fn problem_lines(prefix: &str, v: &Violation) -> [String; 2] {
    [format!("{prefix}{v}"), format!("  conseil : {}", v.hint_fr)]
}

fn describe(payload: &Payload) -> String {
    match payload {
        Payload::Reading(r) => format!(
            "reading of {} at {}, {} {}",
            r.sensor_id,
            r.time,
            r.quantities.len(),
            if r.quantities.len() == 1 {
                "quantity"
            } else {
                "quantities"
            }
        ),
        Payload::Senml(rs) => format!(
            "SenML pack of {}, {} {}",
            rs.first().map_or("", |r| r.sensor_id.as_str()),
            rs.len(),
            if rs.len() == 1 { "reading" } else { "readings" }
        ),
    }
}

/// Splits newline-delimited payloads: two or more non-blank lines, each a whole JSON object or
/// array on its own line. Returns the 1-based line numbers with their text; `None` for a single
/// (possibly pretty-printed) document.
fn ndjson_lines(input: &[u8]) -> Option<Vec<(usize, &[u8])>> {
    let docs: Vec<(usize, &[u8])> = input
        .split(|b| *b == b'\n')
        .enumerate()
        .map(|(i, line)| (i + 1, line.trim_ascii()))
        .filter(|(_, line)| !line.is_empty())
        .collect();
    let whole = |l: &[u8]| {
        matches!(
            (l.first(), l.last()),
            (Some(b'{'), Some(b'}')) | (Some(b'['), Some(b']'))
        )
    };
    (docs.len() >= 2 && docs.iter().all(|(_, l)| whole(l))).then_some(docs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        Timestamp::parse("2025-11-24T12:00:00Z").expect("valid")
    }

    const GOOD: &str = r#"{"v":1,"sensor_id":"s1","kind":"bme280","source":"device","time":"2025-11-24T10:15:00Z","seq":0,"location":{"lon":1.44,"lat":43.6},"quantities":{"temperature":12.5}}"#;

    #[test]
    fn ndjson_errors_name_their_line() {
        let input = format!("{GOOD}\n\n{}\n", GOOD.replace("12.5", "-50"));
        let report = validate(input.as_bytes(), None, now(), &Limits::default());
        assert_eq!(report.invalid, 1);
        assert!(
            report.lines[0].starts_with("line 3: /quantities/temperature: range:"),
            "{:?}",
            report.lines
        );
        assert_eq!(
            report.lines.last().map(String::as_str),
            Some("1 of 2 payloads valid")
        );
    }

    /// Each problem's hint is also given in French, on the line after it.
    #[test]
    fn each_problem_is_followed_by_its_french_hint() {
        let report = validate(
            GOOD.replace("12.5", "-50").as_bytes(),
            None,
            now(),
            &Limits::default(),
        );
        assert_eq!(report.invalid, 1);
        assert_eq!(
            report.lines,
            [
                "/quantities/temperature: range: temperature -50 is outside -40 to 60 °C; hint: \
                 -50 °C is the Toulouse stations' \"no data\" value: leave the quantity out",
                "  conseil : -50 °C est la valeur « pas de donnée » des stations de Toulouse : \
                 omettez la grandeur",
            ]
        );
    }

    #[test]
    fn a_pretty_printed_document_is_one_payload() {
        let pretty = serde_json::to_string_pretty(
            &serde_json::from_str::<serde_json::Value>(GOOD).expect("json"),
        )
        .expect("pretty");
        let report = validate(pretty.as_bytes(), None, now(), &Limits::default());
        assert_eq!(
            report.lines,
            vec!["valid: reading of s1 at 2025-11-24T10:15:00Z, 1 quantity"]
        );
    }
}

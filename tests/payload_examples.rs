//! Every example of the payload spec, run through the real `garonne payload validate`: its exit
//! code and its exact output are what `docs/examples/*/NAME.expected` says, and both spec
//! documents show each example and its output verbatim.
//!
//! After an intended change of messages, `GARONNE_BLESS=1 cargo test --test payload_examples`
//! rewrites the `.expected` files; review the diff before committing it.

use std::path::{Path, PathBuf};
use std::process::Command;

const DOCS: [&str; 2] = ["docs/payload-spec.md", "docs/fr/specification-payload.md"];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every example file, as `valid/NAME.json` or `invalid/NAME.ndjson`.
fn examples() -> Vec<String> {
    let mut out = Vec::new();
    for dir in ["valid", "invalid"] {
        let path = root().join("docs/examples").join(dir);
        for entry in std::fs::read_dir(&path).expect("docs/examples exists") {
            let name = entry
                .expect("readable")
                .file_name()
                .to_string_lossy()
                .into_owned();
            if name.ends_with(".json") || name.ends_with(".ndjson") {
                out.push(format!("{dir}/{name}"));
            }
        }
    }
    out.sort();
    out
}

fn expected_path(example: &str) -> PathBuf {
    let stem = example.rsplit_once('.').map_or(example, |(s, _)| s);
    root()
        .join("docs/examples")
        .join(format!("{stem}.expected"))
}

fn run_validate(example: &str) -> (i32, String) {
    let file = root().join("docs/examples").join(example);
    run_garonne(
        &root(),
        &["payload", "validate", file.to_str().expect("utf-8 path")],
    )
}

/// `garonne ARGS` in `dir`: exit code and standard output.
fn run_garonne(dir: &Path, args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_garonne"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("garonne runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).expect("utf-8 output"),
    )
}

#[test]
fn there_are_valid_and_invalid_examples() {
    let all = examples();
    assert!(
        all.iter().filter(|e| e.starts_with("valid/")).count() >= 3,
        "{all:?}"
    );
    assert!(
        all.iter().filter(|e| e.starts_with("invalid/")).count() >= 8,
        "{all:?}"
    );
}

#[test]
fn each_example_validates_or_fails_exactly_as_the_spec_says() {
    let bless = std::env::var_os("GARONNE_BLESS").is_some();
    for example in examples() {
        let (code, output) = run_validate(&example);
        let want_code = if example.starts_with("valid/") { 0 } else { 1 };
        assert_eq!(code, want_code, "{example}: exit code; output:\n{output}");
        let path = expected_path(&example);
        if bless {
            std::fs::write(&path, &output).expect("write expected output");
        }
        let expected = std::fs::read_to_string(&path)
            .unwrap_or_else(|_| panic!("{} is missing: run with GARONNE_BLESS=1", path.display()));
        assert_eq!(
            output,
            expected,
            "{example}: output differs from {}",
            path.display()
        );
    }
}

/// The fenced block that follows `marker` in `doc`.
fn block_after<'a>(doc: &'a str, marker: &str) -> Option<&'a str> {
    let after = &doc[doc.find(marker)? + marker.len()..];
    let open = after.find("```")?;
    let body_start = open + after[open..].find('\n')? + 1;
    let body_len = after[body_start..].find("```")?;
    Some(&after[body_start..body_start + body_len])
}

#[test]
fn both_spec_documents_show_every_example_and_its_output_verbatim() {
    for doc_path in DOCS {
        let doc = std::fs::read_to_string(root().join(doc_path))
            .unwrap_or_else(|e| panic!("{doc_path}: {e}"));
        for example in examples() {
            let file = std::fs::read_to_string(root().join("docs/examples").join(&example))
                .expect("example readable");
            let shown = |marker: &str| {
                block_after(&doc, &format!("<!-- {marker}: {example} -->"))
                    .unwrap_or_else(|| panic!("{doc_path} does not show the {marker} {example}"))
            };
            assert_eq!(
                shown("example").trim_end(),
                file.trim_end(),
                "{doc_path}: {example} differs"
            );
            let expected = std::fs::read_to_string(expected_path(&example)).expect("expected");
            assert_eq!(
                shown("output").trim_end(),
                expected.trim_end(),
                "{doc_path}: output of {example} differs"
            );
        }
    }
}

#[test]
fn validate_reports_unreadable_input_with_exit_code_2() {
    let out = Command::new(env!("CARGO_BIN_EXE_garonne"))
        .args(["payload", "validate", "/nonexistent/reading.json"])
        .output()
        .expect("garonne runs");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot read /nonexistent/reading.json"),
        "{err}"
    );
}

#[test]
fn validate_reads_standard_input() {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_garonne"))
        .args(["payload", "validate", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("garonne runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"{}")
        .expect("write");
    let out = child.wait_with_output().expect("exits");
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    for field in [
        "v",
        "sensor_id",
        "kind",
        "source",
        "time",
        "seq",
        "location",
        "quantities",
    ] {
        assert!(
            text.contains(&format!("/{field}: required: missing field {field};")),
            "{field}: {text}"
        );
    }
}

#[test]
fn schema_command_prints_the_schema() {
    let out = Command::new(env!("CARGO_BIN_EXE_garonne"))
        .args(["payload", "schema"])
        .output()
        .expect("garonne runs");
    assert!(out.status.success());
    let schema: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(schema, garonne_payload::json_schema());
    let committed = std::fs::read_to_string(Path::new(&root()).join("docs/payload-v1.schema.json"))
        .expect("docs/payload-v1.schema.json is committed");
    let committed: serde_json::Value = serde_json::from_str(&committed).expect("JSON");
    assert_eq!(
        committed, schema,
        "docs/payload-v1.schema.json is stale: regenerate it with `garonne payload schema`"
    );
}

#[test]
fn both_spec_documents_state_each_quantity_as_the_code_does() {
    use garonne_payload::Quantity;
    for doc_path in DOCS {
        let doc = std::fs::read_to_string(root().join(doc_path)).expect("doc readable");
        for q in Quantity::WEATHER {
            let row = format!(
                "| `{}` | {} | {} |",
                q.name(),
                q.unit_label(),
                q.range_label()
            );
            assert!(doc.contains(&row), "{doc_path} lacks the row {row}");
        }
        for rule in garonne_payload::Rule::ALL {
            assert!(
                doc.contains(&format!("| `{rule}` |")),
                "{doc_path} does not list rule {rule}"
            );
        }
    }
}

#[test]
fn profile_new_writes_a_template_that_checks() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (code, out) = run_garonne(dir.path(), &["profile", "new", "ecole-co2"]);
    assert_eq!(code, 0, "{out}");
    let text = std::fs::read_to_string(dir.path().join("ecole-co2.toml")).expect("written");
    assert!(text.contains("name = \"ecole-co2\""), "{text}");
    assert_eq!(
        run_garonne(dir.path(), &["profile", "check", "ecole-co2.toml"]),
        (0, "ecole-co2.toml: ok\n".to_owned())
    );
    // Never over a student's work, and never with a bad name.
    assert_eq!(
        run_garonne(dir.path(), &["profile", "new", "ecole-co2"]).0,
        2
    );
    assert_eq!(
        run_garonne(dir.path(), &["profile", "new", "École CO2"]).0,
        2
    );
    // The built-in profiles check as they are.
    for name in [
        "weather",
        "air-quality",
        "noise",
        "bikes",
        "river",
        "vehicle",
    ] {
        let file = root().join(format!("payload/profiles/{name}.toml"));
        let file = file.to_str().expect("utf-8 path");
        assert_eq!(
            run_garonne(dir.path(), &["profile", "check", file]).0,
            0,
            "{name}"
        );
    }
}

#[test]
fn profile_check_reports_each_problem_with_line_column_and_hints() {
    let dir = tempfile::tempdir().expect("temp dir");
    let text = "name = \"demo\"\nversion = 1\ntitle = { en = \"Demo\", fr = \"Démo\" }\n\n\
                [[quantity]]\nname = \"level\"\nunit = \"°C\"\nlabel = { en = \"Level\" }\n\
                min = 5\nmax = 1\n";
    std::fs::write(dir.path().join("demo.toml"), text).expect("write");
    let (code, out) = run_garonne(dir.path(), &["profile", "check", "demo.toml"]);
    assert_eq!(code, 1, "{out}");
    let firsts: Vec<&str> = out.lines().filter(|l| !l.starts_with("  ")).collect();
    assert_eq!(
        firsts,
        [
            "demo.toml:7:8: unknown-unit: unknown unit \"°C\"",
            "demo.toml:8:9: language: label of quantity \"level\" has no \"fr\" text",
            "demo.toml:9:7: range: quantity \"level\": min 5 is not below max 1",
        ],
        "{out}"
    );
    assert!(
        out.contains(
            "demo.toml:7:8: unknown-unit: unknown unit \"°C\"\n  hint: did you mean \"Cel\""
        ),
        "{out}"
    );
    assert!(
        out.contains("  conseil : vouliez-vous dire \"Cel\""),
        "{out}"
    );

    // A valid file whose quantity means something else in a built-in profile.
    let clash = text
        .replace("\"°C\"", "\"K\"")
        .replace(
            "label = { en = \"Level\" }",
            "label = { en = \"T\", fr = \"T\" }",
        )
        .replace("name = \"level\"", "name = \"temperature\"")
        .replace("min = 5", "min = 0")
        .replace("max = 1", "max = 400");
    std::fs::write(dir.path().join("clash.toml"), clash).expect("write");
    let (code, out) = run_garonne(dir.path(), &["profile", "check", "clash.toml"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.starts_with(
            "clash.toml:6:8: clash: quantity \"temperature\" of profile \"demo\" has unit K, but \
             profile \"weather\" defines it with unit Cel\n"
        ),
        "{out}"
    );
    assert_eq!(
        run_garonne(dir.path(), &["profile", "check", "missing.toml"]).0,
        2
    );
}

/// A course's own profile in a `--profiles` folder: its quantity validates; without the folder
/// it is unknown; a folder holding a profile that does not check stops the command with the
/// problem at its line and column.
#[test]
fn a_profile_in_the_profiles_folder_makes_its_quantities_valid() {
    let dir = tempfile::tempdir().expect("temp dir");
    let profiles = dir.path().join("profiles");
    std::fs::create_dir(&profiles).expect("folder");
    let profile = "name = \"cour-ecole\"\nversion = 1\n\
                   title = { en = \"Schoolyard\", fr = \"Cour d'école\" }\n\n\
                   [[quantity]]\nname = \"schoolyardNoise\"\nunit = \"dBA\"\n\
                   label = { en = \"Noise\", fr = \"Bruit\" }\nmin = 20\nmax = 140\n";
    std::fs::write(profiles.join("cour-ecole.toml"), profile).expect("profile");
    let reading = r#"{"v":1,"sensor_id":"cour-1","kind":"sonometre","source":"device","time":"2025-11-24T10:15:00Z","seq":1,"location":{"lon":1.4442,"lat":43.6047},"quantities":{"schoolyardNoise":61.5}}"#;
    std::fs::write(dir.path().join("reading.json"), reading).expect("reading");
    let with = [
        "--profiles",
        "profiles",
        "payload",
        "validate",
        "reading.json",
    ];
    let (code, out) = run_garonne(dir.path(), &with);
    assert_eq!(code, 0, "{out}");
    let (code, out) = run_garonne(dir.path(), &["payload", "validate", "reading.json"]);
    assert_eq!(code, 1, "without the folder: {out}");
    assert!(out.contains("unknown-quantity"), "{out}");

    std::fs::write(
        profiles.join("zz-broken.toml"),
        "name = \"zz-broken\"\nversion = 0\n",
    )
    .expect("broken profile");
    let out = Command::new(env!("CARGO_BIN_EXE_garonne"))
        .args(with)
        .current_dir(dir.path())
        .output()
        .expect("garonne runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("the profile profiles/zz-broken.toml does not check")
            && stderr.contains("profiles/zz-broken.toml:2:"),
        "{stderr}"
    );
}

/// The profile guide in one language: its path and the words its tables use.
struct ProfileGuide {
    path: &'static str,
    /// The heading of the unit table's section.
    units_heading: &'static str,
    /// `yes` / `no` in the `required` column.
    yes_no: [&'static str; 2],
    /// Between min and max in a range (`to`).
    to: &'static str,
    /// After an excluded minimum.
    excluded: &'static str,
    /// After the range of a whole-number quantity.
    whole: &'static str,
    /// The decimal separator.
    decimal: &'static str,
    /// What a unit's origin is called: SenML, SenML secondary, other.
    origins: [&'static str; 3],
    /// A unit's name in this language.
    unit_name: fn(&garonne_payload::profile::Unit) -> &'static str,
}

const PROFILE_GUIDES: [ProfileGuide; 2] = [
    ProfileGuide {
        path: "docs/profiles.md",
        units_heading: "## 6. Units",
        yes_no: ["yes", "no"],
        to: "to",
        excluded: " (excluded)",
        whole: ", whole numbers",
        decimal: ".",
        origins: ["SenML", "SenML secondary", "other"],
        unit_name: |u| u.name_en,
    },
    ProfileGuide {
        path: "docs/fr/profils.md",
        units_heading: "## 6. Les unités",
        yes_no: ["oui", "non"],
        to: "à",
        excluded: " (exclu)",
        whole: ", entiers",
        decimal: ",",
        origins: ["SenML", "SenML secondaire", "autre"],
        unit_name: |u| u.name_fr,
    },
];

impl ProfileGuide {
    fn number(&self, x: f64) -> String {
        x.to_string().replace('.', self.decimal)
    }

    /// A built-in profile's table row: quantity, unit symbol, unit shown, range, required,
    /// time, space.
    fn quantity_row(&self, q: &garonne_payload::profile::ProfileQuantity) -> String {
        let d = &q.def;
        let shown = if d.unit.display.is_empty() {
            "—"
        } else {
            d.unit.display
        };
        let excluded = if d.min_exclusive { self.excluded } else { "" };
        let whole = if d.integer { self.whole } else { "" };
        format!(
            "| `{}` | `{}` | {shown} | {}{excluded} {} {}{whole} | {} | `{}` | `{}` |",
            d.name,
            d.unit.symbol,
            self.number(d.min),
            self.to,
            self.number(d.max),
            self.yes_no[usize::from(!q.required)],
            d.time.as_str(),
            d.space.as_str()
        )
    }

    /// The unit table's row: symbol, shown as, name, origin, the SenML units a device may send.
    fn unit_row(&self, u: &garonne_payload::profile::Unit) -> String {
        use garonne_payload::profile::UnitOrigin;
        let shown = if u.display.is_empty() {
            "—"
        } else {
            u.display
        };
        let origin = match u.origin {
            UnitOrigin::Senml => self.origins[0],
            UnitOrigin::SenmlSecondary => self.origins[1],
            UnitOrigin::Other => self.origins[2],
        };
        let senml: Vec<String> = u.senml.iter().map(|s| format!("`{}`", s.symbol)).collect();
        let senml = if senml.is_empty() {
            "—".to_owned()
        } else {
            senml.join(", ")
        };
        format!(
            "| `{}` | {shown} | {} | {origin} | {senml} |",
            u.symbol,
            (self.unit_name)(u)
        )
    }
}

/// The text from the line `heading` to the next heading.
fn section<'a>(doc: &'a str, heading: &str) -> Option<&'a str> {
    let start = doc.find(&format!("\n{heading}\n"))? + 1;
    let body = &doc[start + heading.len()..];
    Some(&body[..body.find("\n#").unwrap_or(body.len())])
}

/// Table rows of a section whose first cell is code.
fn code_rows(section: &str) -> Vec<&str> {
    section.lines().filter(|l| l.starts_with("| `")).collect()
}

/// Both profile guides show each built-in profile as a table that says what the code says,
/// one row per quantity, every unit of the registry, and the limits.
#[test]
fn both_profile_guides_state_each_built_in_profile_and_unit_as_the_code_does() {
    use garonne_payload::Quantity;
    use garonne_payload::profile::{
        BUILTIN_PROFILES, MAX_NAME_BYTES, MAX_PROFILE_BYTES, MAX_QUANTITIES, MAX_TEXT_BYTES,
        units::UNITS,
    };
    for guide in &PROFILE_GUIDES {
        let doc = std::fs::read_to_string(root().join(guide.path))
            .unwrap_or_else(|e| panic!("{}: {e}", guide.path));
        let mut wrong = Vec::new();
        Quantity::with_catalogue(|catalogue| {
            for (name, _) in BUILTIN_PROFILES {
                let profile = &catalogue.profile(name).expect("built in").profile;
                let heading = format!("### `{name}`");
                let Some(table) = section(&doc, &heading) else {
                    wrong.push(format!("no section {heading}"));
                    continue;
                };
                let rows: Vec<String> = profile
                    .quantities
                    .iter()
                    .map(|q| guide.quantity_row(q))
                    .collect();
                if code_rows(table) != rows {
                    wrong.push(format!(
                        "{heading} should have exactly:\n{}",
                        rows.join("\n")
                    ));
                }
            }
        });
        let units: Vec<String> = UNITS.iter().map(|u| guide.unit_row(u)).collect();
        match section(&doc, guide.units_heading) {
            Some(table) if code_rows(table) == units => {}
            _ => wrong.push(format!(
                "{} should have exactly:\n{}",
                guide.units_heading,
                units.join("\n")
            )),
        }
        for limit in [
            MAX_PROFILE_BYTES,
            MAX_QUANTITIES,
            MAX_NAME_BYTES,
            MAX_TEXT_BYTES,
        ] {
            if !doc.contains(&format!("| {limit} |")) {
                wrong.push(format!("no limit row with | {limit} |"));
            }
        }
        assert!(wrong.is_empty(), "{}:\n{}", guide.path, wrong.join("\n\n"));
    }
}

/// The fenced block after `marker`, without the list indentation it is written with.
fn unindented_block(doc: &str, marker: &str) -> String {
    let block = block_after(doc, marker).unwrap_or_else(|| panic!("no block after {marker}"));
    let lines: Vec<&str> = block.lines().map(|l| l.trim_start_matches("   ")).collect();
    lines.join("\n").trim_end().to_owned()
}

/// Both profile guides show the same complete example, and it checks; their first draft gets
/// exactly the report they show from the real `garonne profile check`.
#[test]
fn both_profile_guides_show_an_example_that_checks_and_a_draft_as_it_is_reported() {
    use garonne_payload::Quantity;
    use garonne_payload::profile::Profile;
    let dir = tempfile::tempdir().expect("temp dir");
    let mut examples = Vec::new();
    for guide in &PROFILE_GUIDES {
        let doc = std::fs::read_to_string(root().join(guide.path)).expect("doc readable");
        let example = unindented_block(&doc, "<!-- profile example -->");
        let profile = Profile::parse(&example)
            .unwrap_or_else(|e| panic!("{}: the example does not check: {e}", guide.path));
        let joins = Quantity::with_catalogue(|c| c.check(&profile));
        assert_eq!(joins, Ok(true), "{}: the example clashes", guide.path);
        examples.push(example);

        let draft = unindented_block(&doc, "<!-- draft profile -->");
        std::fs::write(dir.path().join("brouillon.toml"), format!("{draft}\n")).expect("write");
        let (code, out) = run_garonne(dir.path(), &["profile", "check", "brouillon.toml"]);
        assert_eq!(code, 1, "{out}");
        let shown = unindented_block(&doc, "<!-- draft check -->");
        assert_eq!(
            shown,
            format!("$ garonne profile check brouillon.toml\n{}", out.trim_end()),
            "{}: the draft's report differs",
            guide.path
        );
    }
    assert_eq!(
        examples[0], examples[1],
        "the two guides show other examples"
    );
}

/// The built-in profiles' names.
fn builtin_profiles() -> Vec<&'static str> {
    garonne_payload::profile::BUILTIN_PROFILES
        .iter()
        .map(|(name, _)| *name)
        .collect()
}

/// Issue 14: `garonne profile doc` writes, for every built-in profile and in both languages, a
/// specification whose valid examples validate and whose refused examples get exactly the
/// errors it quotes, when run through the real `garonne payload validate` again.
#[test]
fn profile_doc_examples_validate_and_quote_the_validator_exactly() {
    let dir = tempfile::tempdir().expect("temp dir");
    for name in builtin_profiles() {
        for (lang, purpose) in [("en", "## 1. Purpose"), ("fr", "## 1. Objet")] {
            let file = format!("{name}-{lang}.md");
            let (code, out) = run_garonne(
                dir.path(),
                &["profile", "doc", name, "--lang", lang, "-o", &file],
            );
            assert_eq!(code, 0, "{name} {lang}: {out}");
            let doc = std::fs::read_to_string(dir.path().join(&file)).expect("written");
            assert!(doc.contains(purpose), "{name} {lang}: not in its language");
            assert!(
                doc.contains("garonne/v1/sensors/{sensor_id}/reading") && doc.contains("/senml`"),
                "{name} {lang}: no topics"
            );
            let check = |marker: &str, output: Option<&str>, want_code: i32| {
                let body = block_after(&doc, &format!("<!-- {marker} -->"))
                    .unwrap_or_else(|| panic!("{name} {lang}: no {marker}"));
                std::fs::write(dir.path().join("example.json"), body).expect("write");
                let (code, out) = run_garonne(dir.path(), &["payload", "validate", "example.json"]);
                assert_eq!(code, want_code, "{name} {lang} {marker}: {out}");
                if let Some(output) = output {
                    let quoted = block_after(&doc, &format!("<!-- {output} -->"))
                        .unwrap_or_else(|| panic!("{name} {lang}: no {output}"));
                    assert_eq!(
                        quoted, out,
                        "{name} {lang}: {output} is not what the validator says"
                    );
                }
            };
            check("valid example", Some("validator output: valid"), 0);
            check("senml example", None, 0);
            let refused: Vec<&str> = doc
                .lines()
                .filter_map(|l| l.strip_prefix("<!-- refused example: "))
                .filter_map(|l| l.strip_suffix(" -->"))
                .collect();
            assert!(refused.len() >= 3, "{name} {lang}: {refused:?}");
            for example in refused {
                check(
                    &format!("refused example: {example}"),
                    Some(&format!("validator output: {example}")),
                    1,
                );
            }
        }
    }
}

/// `garonne payload validate --profile`: as if the reading named the profile; a reading that
/// names another profile is refused with both names; an unknown profile cannot run.
#[test]
fn validate_under_a_chosen_profile() {
    let dir = tempfile::tempdir().expect("temp dir");
    let reading = r#"{"v":1,"sensor_id":"s1","kind":"bme280","source":"device","time":"2025-11-24T10:15:00Z","seq":0,"location":{"lon":1.44,"lat":43.6},"quantities":{"temperature":12.5}}"#;
    std::fs::write(dir.path().join("r.json"), reading).expect("write");
    let under = |profile: &str| {
        run_garonne(
            dir.path(),
            &["payload", "validate", "--profile", profile, "r.json"],
        )
    };
    assert_eq!(under("weather").0, 0);
    let (code, out) = under("air-quality");
    assert_eq!(code, 1, "{out}");
    assert!(
        out.starts_with(
            "/quantities/temperature: quantity-not-in-profile: quantity \"temperature\" is not in \
             profile \"air-quality\""
        ) && out.contains("/quantities: missing-required-quantity: profile \"air-quality\" requires quantity \"pm25\""),
        "{out}"
    );
    let named = reading.replace(
        r#""kind":"bme280","#,
        r#""kind":"bme280","profile":"weather","#,
    );
    std::fs::write(dir.path().join("r.json"), named).expect("write");
    assert_eq!(
        run_garonne(dir.path(), &["payload", "validate", "r.json"]).0,
        0
    );
    let (code, out) = under("noise");
    assert_eq!(code, 1, "{out}");
    assert!(
        out.starts_with(
            "/profile: profile-mismatch: the reading names profile \"weather\" but is checked \
             under profile \"noise\""
        ),
        "{out}"
    );
    assert_eq!(under("air-qality").0, 2);
}

/// `garonne profile schema NAME|FILE` prints the profile's schema, as the library makes it;
/// a profile file's own quantities are in it.
#[test]
fn profile_schema_prints_the_schema_of_a_built_in_or_a_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (code, out) = run_garonne(dir.path(), &["profile", "schema", "bikes"]);
    assert_eq!(code, 0, "{out}");
    let schema: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    let bikes = garonne_payload::Quantity::with_catalogue(|c| {
        c.profile("bikes").expect("built in").profile.clone()
    });
    assert_eq!(schema, garonne_payload::profile_schema(&bikes));
    assert_eq!(schema["properties"]["profile"]["const"], "bikes");

    let profile = "name = \"cour-ecole\"\nversion = 1\n\
                   title = { en = \"Schoolyard\", fr = \"Cour d'école\" }\n\n\
                   [[quantity]]\nname = \"schoolyardNoise\"\nunit = \"dBA\"\n\
                   label = { en = \"Noise\", fr = \"Bruit\" }\nmin = 20\nmax = 140\nrequired = true\n";
    std::fs::write(dir.path().join("cour-ecole.toml"), profile).expect("profile");
    let (code, out) = run_garonne(dir.path(), &["profile", "schema", "cour-ecole.toml"]);
    assert_eq!(code, 0, "{out}");
    let schema: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(
        schema["$id"],
        "urn:garonne:payload:v1:profile:cour-ecole:v1"
    );
    assert_eq!(
        schema["properties"]["quantities"]["required"],
        serde_json::json!(["schoolyardNoise"])
    );
    // A file's profile also gets its document.
    let (code, out) = run_garonne(
        dir.path(),
        &["profile", "doc", "cour-ecole.toml", "--lang", "fr"],
    );
    assert_eq!(code, 0, "{out}");
    assert!(
        out.starts_with("# Cour d'école : spécification du message"),
        "{out}"
    );
    assert_eq!(run_garonne(dir.path(), &["profile", "schema", "nope"]).0, 2);
}

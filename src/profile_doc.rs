//! `garonne profile doc`: a project's payload specification, written from its profile for the
//! teacher to read and sign off (issue 14), in French or in English.
//!
//! The document says what the project measures, the field table (label, unit, range, whole
//! numbers, required, aggregations, Smart Data Models attribute), the MQTT topics, a valid
//! reading and its SenML form, readings that are refused with the exact lines the validator
//! prints for them, and a sign-off table.
//!
//! Design: every example is generated from the profile and run through the same validator as
//! `garonne payload validate` while the document is written, and the quoted errors are its
//! output, not a copy: a document whose valid example does not validate, or whose invalid
//! example passes, is not written at all (the error says which example). The markers around the examples
//! (`<!-- valid example -->`, `<!-- refused example: NAME -->`, `<!-- validator output: NAME -->`)
//! let a test check a written document again.

use std::fmt::Write as _;

use anyhow::bail;
use clap::ValueEnum;
use garonne_payload::profile::{Profile, ProfileQuantity, SpaceAggregation, TimeAggregation};
use garonne_payload::{
    Limits, Location, ProfileId, Quantity, Reading, Source, Timestamp, encode_senml, is_valid_kind,
};
use serde_json::{Map, Value, json};

use crate::payload_cmd::validate;

/// The language of the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Lang {
    /// English.
    En,
    /// French.
    Fr,
}

/// The instant of the examples: fixed, so that a document written twice is the same.
const EXAMPLE_TIME: &str = "2025-11-24T10:15:00Z";

/// The words of one language.
struct Words {
    /// `: ` in English, ` : ` in French.
    colon: &'static str,
    title: &'static str,
    generated: &'static str,
    purpose: &'static str,
    no_description: &'static str,
    fields: &'static str,
    fields_intro: &'static str,
    common_table: [&'static str; 9],
    quantities_intro: &'static str,
    quantity_header: &'static str,
    why_ranges: &'static str,
    yes_no: [&'static str; 2],
    topics: &'static str,
    topics_text: &'static str,
    valid: &'static str,
    valid_intro: &'static str,
    senml: &'static str,
    senml_intro: &'static str,
    refused: &'static str,
    refused_intro: &'static str,
    out_of_range: &'static str,
    missing_required: &'static str,
    unknown_quantity: &'static str,
    not_in_profile: &'static str,
    checking: &'static str,
    checking_text: &'static str,
    sign_off: &'static str,
    sign_off_text: &'static str,
    sign_off_rows: [&'static str; 5],
}

const EN: Words = Words {
    colon: ": ",
    title: "payload specification",
    generated: "Profile `{name}`, version {version}. Written by `garonne profile doc` from the \
                profile; every example below was checked by the Garonne validator when this \
                document was written, and each error is quoted exactly as the validator prints it.",
    purpose: "## 1. Purpose",
    no_description: "The profile gives no description.",
    fields: "## 2. The reading",
    fields_intro: "Each sensor sends one JSON object per reading, as the Garonne payload \
                   specification (version 1.1, `docs/payload-spec.md`) says:",
    common_table: [
        "| field | content |\n|---|---|",
        "| `v` | always `1` |",
        "| `sensor_id` | the sensor's unique name: 1–128 characters among `A–Z a–z 0–9 . _ -` |",
        "| `kind` | the kind of device, a lower-case slug such as `{kind}` |",
        "| `profile` | `\"{name}\"`: the reading follows this profile (optional, but then only the catalogue is checked, not the rules of this profile) |",
        "| `source` | `device` for a project's own sensor |",
        "| `time` | when it was measured, in UTC: `2025-11-24T10:15:00Z` |",
        "| `seq` | a counter, +1 at each reading |",
        "| `location` | `{\"lon\": 1.4442, \"lat\": 43.6047}`, WGS84 degrees |",
    ],
    quantities_intro: "and `quantities`, the measured values. A reading under this profile \
                       carries every required quantity, and no quantity outside this table:",
    quantity_header: "| quantity | label | unit | range | whole numbers | required | over time | across a neighbourhood | Smart Data Models |\n|---|---|---|---|---|---|---|---|---|",
    why_ranges: "Why these ranges (a value outside is refused: it is a fault, a \"no data\" code or \
                 a unit mistake):",
    yes_no: ["yes", "no"],
    topics: "## 3. Where to publish",
    topics_text: "Publish each reading over MQTT on `garonne/v1/sensors/{sensor_id}/reading`, \
                  or several readings at once as a SenML pack on \
                  `garonne/v1/sensors/{sensor_id}/senml`, where `{sensor_id}` is the reading's \
                  own `sensor_id`. `garonne` is the default topic prefix; a deployment may set \
                  another (`--topic-prefix`, `GARONNE_TOPIC_PREFIX`): ask the operator. Refusals \
                  are published on `garonne/v1/errors/{sensor_id}`.",
    valid: "## 4. A valid reading",
    valid_intro: "A reading with every quantity of the profile, each in the middle of its range \
                  (`garonne payload validate reading.json`):",
    senml: "## 5. The same reading as a SenML pack",
    senml_intro: "The same reading as a SenML pack (RFC 8428), for devices that send several \
                  readings at once; the `profile` record names the profile, as `kind` names the \
                  device:",
    refused: "## 6. Readings that are refused",
    refused_intro: "Each of these readings is the valid one with one mistake; below each, the \
                    exact lines the validator prints (pointer, rule, message, hint, then the \
                    hint in French).",
    out_of_range: "### A value out of range",
    missing_required: "### A required quantity missing",
    unknown_quantity: "### A quantity name with a typo",
    not_in_profile: "### A quantity of another profile",
    checking: "## 7. Checking",
    checking_text: "- `garonne payload validate --profile {name} FILE` checks readings as if they \
                    named this profile.\n- `garonne profile schema {name}` prints the JSON Schema \
                    of readings under this profile (`$id` `{id}`).\n- The validator's messages \
                    are in English, each with its hint in English and in French; the rules are \
                    listed in `docs/payload-spec.md` §8.",
    sign_off: "## 8. Sign-off",
    sign_off_text: "The teacher approves this specification, then publishes the profile \
                    (`garonne profile publish FILE`); from then on, every Garonne service accepts \
                    its readings.",
    sign_off_rows: [
        "| | |\n|---|---|",
        "| Project and group | |",
        "| Teacher | |",
        "| Date | |",
        "| Decision | approved ☐ · changes requested ☐ |",
    ],
};

const FR: Words = Words {
    colon: " : ",
    title: "spécification du message",
    generated: "Profil `{name}`, version {version}. Écrit par `garonne profile doc` à partir du \
                profil ; chaque exemple ci-dessous a été vérifié par le validateur de Garonne à \
                l'écriture de ce document, et chaque erreur est citée exactement comme le \
                validateur l'affiche.",
    purpose: "## 1. Objet",
    no_description: "Le profil ne donne pas de description.",
    fields: "## 2. La mesure",
    fields_intro: "Chaque capteur envoie un objet JSON par mesure, comme le dit la spécification \
                   du message Garonne (version 1.1, `docs/fr/specification-payload.md`) :",
    common_table: [
        "| champ | contenu |\n|---|---|",
        "| `v` | toujours `1` |",
        "| `sensor_id` | le nom unique du capteur : 1 à 128 caractères parmi `A–Z a–z 0–9 . _ -` |",
        "| `kind` | le type d'appareil, en minuscules, par exemple `{kind}` |",
        "| `profile` | `\"{name}\"` : la mesure suit ce profil (facultatif, mais sans lui seul le catalogue est vérifié, pas les règles de ce profil) |",
        "| `source` | `device` pour un capteur du projet |",
        "| `time` | l'instant de la mesure, en UTC : `2025-11-24T10:15:00Z` |",
        "| `seq` | un compteur, +1 à chaque mesure |",
        "| `location` | `{\"lon\": 1.4442, \"lat\": 43.6047}`, en degrés WGS84 |",
    ],
    quantities_intro: "et `quantities`, les valeurs mesurées. Une mesure sous ce profil porte \
                       chaque grandeur obligatoire, et aucune grandeur hors de ce tableau :",
    quantity_header: "| grandeur | libellé | unité | plage | entiers | obligatoire | dans le temps | sur un quartier | Smart Data Models |\n|---|---|---|---|---|---|---|---|---|",
    why_ranges: "Pourquoi ces plages (une valeur hors plage est refusée : c'est une panne, un code \
                 « pas de donnée » ou une erreur d'unité) :",
    yes_no: ["oui", "non"],
    topics: "## 3. Où publier",
    topics_text: "Publiez chaque mesure en MQTT sur `garonne/v1/sensors/{sensor_id}/reading`, \
                  ou plusieurs mesures à la fois en paquet SenML sur \
                  `garonne/v1/sensors/{sensor_id}/senml`, où `{sensor_id}` est le `sensor_id` \
                  de la mesure. `garonne` est le préfixe par défaut ; un déploiement peut en \
                  choisir un autre (`--topic-prefix`, `GARONNE_TOPIC_PREFIX`) : demandez à \
                  l'exploitant. Les refus sont publiés sur `garonne/v1/errors/{sensor_id}`.",
    valid: "## 4. Une mesure valide",
    valid_intro: "Une mesure avec chaque grandeur du profil, chacune au milieu de sa plage \
                  (`garonne payload validate mesure.json`) :",
    senml: "## 5. La même mesure en paquet SenML",
    senml_intro: "La même mesure en paquet SenML (RFC 8428), pour les appareils qui envoient \
                  plusieurs mesures à la fois ; l'enregistrement `profile` nomme le profil, comme \
                  `kind` nomme l'appareil :",
    refused: "## 6. Des mesures refusées",
    refused_intro: "Chacune de ces mesures est la mesure valide avec une erreur ; sous chacune, \
                    les lignes exactes qu'affiche le validateur (pointeur, règle, message et \
                    conseil en anglais, puis le conseil en français).",
    out_of_range: "### Une valeur hors plage",
    missing_required: "### Une grandeur obligatoire absente",
    unknown_quantity: "### Un nom de grandeur mal écrit",
    not_in_profile: "### Une grandeur d'un autre profil",
    checking: "## 7. Vérifier",
    checking_text: "- `garonne payload validate --profile {name} FICHIER` vérifie des mesures \
                    comme si elles nommaient ce profil.\n- `garonne profile schema {name}` \
                    affiche le schéma JSON des mesures sous ce profil (`$id` `{id}`).\n- Les \
                    messages du validateur sont en anglais, chacun suivi de son conseil en \
                    anglais et en français ; les règles sont expliquées dans \
                    `docs/fr/specification-payload.md` §8.",
    sign_off: "## 8. Validation",
    sign_off_text: "L'enseignant approuve cette spécification, puis publie le profil \
                    (`garonne profile publish FICHIER`) ; dès lors, chaque service de Garonne \
                    accepte ses mesures.",
    sign_off_rows: [
        "| | |\n|---|---|",
        "| Projet et groupe | |",
        "| Enseignant | |",
        "| Date | |",
        "| Décision | approuvé ☐ · modifications demandées ☐ |",
    ],
};

impl Lang {
    fn words(self) -> &'static Words {
        match self {
            Lang::En => &EN,
            Lang::Fr => &FR,
        }
    }

    fn text(self, text: &garonne_payload::profile::Text) -> &str {
        match self {
            Lang::En => &text.en,
            Lang::Fr => &text.fr,
        }
    }

    /// A number as this language writes it in prose and tables (`0,5` in French).
    fn number(self, x: f64) -> String {
        match self {
            Lang::En => x.to_string(),
            Lang::Fr => x.to_string().replace('.', ","),
        }
    }

    fn time(self, t: TimeAggregation) -> &'static str {
        match (self, t) {
            (Lang::En, TimeAggregation::Last) => "latest",
            (Lang::En, t) => t.as_str(),
            (Lang::Fr, TimeAggregation::Mean) => "moyenne",
            (Lang::Fr, TimeAggregation::Sum) => "somme",
            (Lang::Fr, TimeAggregation::Min) => "minimum",
            (Lang::Fr, TimeAggregation::Max) => "maximum",
            (Lang::Fr, TimeAggregation::Last) => "dernière valeur",
        }
    }

    fn space(self, s: SpaceAggregation) -> &'static str {
        match (self, s) {
            (Lang::En, s) => s.as_str(),
            (Lang::Fr, SpaceAggregation::Mean) => "moyenne",
            (Lang::Fr, SpaceAggregation::Sum) => "somme",
            (Lang::Fr, SpaceAggregation::Min) => "minimum",
            (Lang::Fr, SpaceAggregation::Max) => "maximum",
        }
    }
}

/// One refused example: its marker name, its heading and its JSON.
struct Refused {
    name: &'static str,
    heading: &'static str,
    json: String,
}

/// The payload specification of `profile` (which must be in the process's catalogue), in
/// `lang`; `now` is the clock its examples are validated against.
pub fn document(profile: &Profile, lang: Lang, now: Timestamp) -> anyhow::Result<String> {
    let Some(id) = ProfileId::from_name(&profile.name) else {
        bail!("profile \"{}\" is not in the catalogue", profile.name);
    };
    let w = lang.words();
    let reading = example_reading(profile, id);
    let valid = shown_json(&serde_json::from_slice(&reading.to_json()).unwrap_or(Value::Null));
    let valid_output = expect_valid(profile, "reading", &valid, now)?;
    let senml = shown_pack(&encode_senml(std::slice::from_ref(&reading)).unwrap_or_default());
    expect_valid(profile, "SenML pack", &senml, now)?;

    let mut doc = String::new();
    let title = lang.text(&profile.title);
    let _ = writeln!(doc, "# {title}{}{}\n", w.colon, w.title);
    let _ = writeln!(
        doc,
        "*{}*\n",
        w.generated
            .replace("{name}", &profile.name)
            .replace("{version}", &profile.version.to_string())
    );
    let _ = writeln!(doc, "{}\n", w.purpose);
    let description = profile
        .description
        .as_ref()
        .map_or(w.no_description, |d| lang.text(d));
    let _ = writeln!(doc, "{description}\n");
    field_section(&mut doc, profile, lang, &reading.kind);
    let _ = writeln!(doc, "{}\n\n{}\n", w.topics, w.topics_text);
    let _ = writeln!(doc, "{}\n\n{}\n", w.valid, w.valid_intro);
    example_block(&mut doc, "valid example", &valid, "json");
    example_block(&mut doc, "validator output: valid", &valid_output, "text");
    let _ = writeln!(doc, "{}\n\n{}\n", w.senml, w.senml_intro);
    example_block(&mut doc, "senml example", &senml, "json");
    let _ = writeln!(doc, "{}\n\n{}\n", w.refused, w.refused_intro);
    for example in refused_examples(profile, w, &reading) {
        let output = validate(example.json.as_bytes(), None, now, &Limits::default());
        if output.invalid == 0 {
            bail!(
                "the generated example \"{}\" of profile \"{}\" should be refused, but validates",
                example.name,
                profile.name
            );
        }
        let _ = writeln!(doc, "{}\n", example.heading);
        example_block(
            &mut doc,
            &format!("refused example: {}", example.name),
            &example.json,
            "json",
        );
        example_block(
            &mut doc,
            &format!("validator output: {}", example.name),
            &output.lines.join("\n"),
            "text",
        );
    }
    let schema_id = garonne_payload::profile_schema_id(profile);
    let _ = writeln!(
        doc,
        "{}\n\n{}\n",
        w.checking,
        w.checking_text
            .replace("{name}", &profile.name)
            .replace("{id}", &schema_id)
    );
    let _ = writeln!(
        doc,
        "{}\n\n{}\n\n{}",
        w.sign_off,
        w.sign_off_text,
        w.sign_off_rows.join("\n")
    );
    Ok(doc)
}

/// The common fields, the quantity table and the reasons for the ranges.
fn field_section(doc: &mut String, profile: &Profile, lang: Lang, kind: &str) {
    let w = lang.words();
    let _ = writeln!(doc, "{}\n\n{}\n", w.fields, w.fields_intro);
    for row in w.common_table {
        let _ = writeln!(
            doc,
            "{}",
            row.replace("{name}", &profile.name).replace("{kind}", kind)
        );
    }
    let _ = writeln!(doc, "\n{}\n\n{}", w.quantities_intro, w.quantity_header);
    for q in &profile.quantities {
        let _ = writeln!(doc, "{}", quantity_row(q, lang));
    }
    let reasons: Vec<String> = profile
        .quantities
        .iter()
        .filter_map(|q| {
            let why = q.def.range_reason.as_ref()?;
            Some(format!("- `{}`{}{}", q.def.name, w.colon, lang.text(why)))
        })
        .collect();
    if !reasons.is_empty() {
        let _ = writeln!(doc, "\n{}\n\n{}", w.why_ranges, reasons.join("\n"));
    }
    doc.push('\n');
}

/// One row of the quantity table.
fn quantity_row(q: &ProfileQuantity, lang: Lang) -> String {
    let d = &q.def;
    let w = lang.words();
    // A dimensionless value is said as what it is (a count, a fraction), as the validator does.
    let shown = match Quantity::from_name(&d.name).map(Quantity::unit_label) {
        _ if !d.unit.display.is_empty() => d.unit.display,
        Some(label) if lang == Lang::Fr => match label {
            "count" => "nombre entier",
            "0 or 1" => "0 ou 1",
            "fraction 0–1" => "fraction 0–1",
            _ => "nombre",
        },
        Some(label) => label,
        None => "—",
    };
    let unit = format!("{shown} (`{}`)", d.unit.symbol);
    let (to, excluded) = match lang {
        Lang::En => ("to", " (excluded)"),
        Lang::Fr => ("à", " (exclu)"),
    };
    let range = format!(
        "{}{} {to} {}",
        lang.number(d.min),
        if d.min_exclusive { excluded } else { "" },
        lang.number(d.max)
    );
    let fiware = d
        .fiware
        .as_ref()
        .map_or_else(|| "—".to_owned(), |f| format!("`{f}`"));
    format!(
        "| `{}` | {} | {unit} | {range} | {} | {} | {} | {} | {fiware} |",
        d.name,
        lang.text(&d.label),
        w.yes_no[usize::from(!d.integer)],
        w.yes_no[usize::from(!q.required)],
        lang.time(d.time),
        lang.space(d.space),
    )
}

/// The valid example: every quantity of the profile in the middle of its range.
fn example_reading(profile: &Profile, id: ProfileId) -> Reading {
    let kind = if is_valid_kind(&profile.name) {
        profile.name.clone()
    } else {
        "device".to_owned()
    };
    let time = Timestamp::parse(EXAMPLE_TIME).unwrap_or(Timestamp::UNIX_EPOCH);
    let mut reading = Reading::new(
        format!("{}-01", profile.name),
        kind,
        Source::Device,
        time,
        0,
        Location::new(1.4442, 43.6047),
    );
    reading.profile = Some(id);
    for q in &profile.quantities {
        if let Some(quantity) = Quantity::from_name(&q.def.name) {
            reading.quantities.set(quantity, middle(quantity));
        }
    }
    reading
}

/// A value in the middle of a quantity's range: whole for a whole-number quantity, else with
/// at most two decimals.
fn middle(q: Quantity) -> f64 {
    let d = q.def();
    let mid = (d.min + d.max) / 2.0;
    let value = if d.integer {
        mid.round()
    } else {
        (mid * 100.0).round() / 100.0
    };
    if q.in_range(value) { value } else { d.max }
}

/// The refused examples: a value out of range, a required quantity missing (when the profile
/// requires one), a typo in a quantity's name, and a quantity of another profile.
fn refused_examples(profile: &Profile, w: &Words, reading: &Reading) -> Vec<Refused> {
    let base: Value = serde_json::from_slice(&reading.to_json()).unwrap_or(Value::Null);
    let with_quantities = |edit: &dyn Fn(&mut Map<String, Value>)| {
        let mut doc = base.clone();
        if let Some(quantities) = doc["quantities"].as_object_mut() {
            edit(quantities);
        }
        shown_json(&doc)
    };
    let mut out = Vec::new();
    let Some(first) = profile.quantities.first() else {
        return out;
    };
    let name = first.def.name.clone();
    let too_big = if first.def.max >= 1.0 {
        first.def.max * 2.0
    } else {
        first.def.max + 1.0
    };
    out.push(Refused {
        name: "out-of-range",
        heading: w.out_of_range,
        json: with_quantities(&|q| {
            q.insert(name.clone(), json!(too_big));
        }),
    });
    if let Some(required) = profile.quantities.iter().find(|q| q.required) {
        let name = required.def.name.clone();
        out.push(Refused {
            name: "missing-required",
            heading: w.missing_required,
            json: with_quantities(&|q| {
                q.shift_remove(&name);
            }),
        });
    }
    // The typo is made in an optional quantity when there is one, so that the example shows
    // one mistake, not also a missing required quantity.
    let target = profile
        .quantities
        .iter()
        .find(|q| !q.required)
        .unwrap_or(first)
        .def
        .name
        .clone();
    if let Some(typo) = typo_of(&target) {
        out.push(Refused {
            name: "unknown-quantity",
            heading: w.unknown_quantity,
            json: with_quantities(&|q| {
                // Renamed in its place.
                let renamed: Map<String, Value> = std::mem::take(q)
                    .into_iter()
                    .map(|(k, v)| {
                        if k == target {
                            (typo.clone(), v)
                        } else {
                            (k, v)
                        }
                    })
                    .collect();
                *q = renamed;
            }),
        });
    }
    let other = Quantity::all().find(|q| profile.quantity(q.name()).is_none());
    if let Some(other) = other {
        out.push(Refused {
            name: "not-in-profile",
            heading: w.not_in_profile,
            json: with_quantities(&|q| {
                q.insert(other.name().to_owned(), json!(middle(other)));
            }),
        });
    }
    out
}

/// A likely mistake in a quantity's name that is not a catalogued name.
fn typo_of(name: &str) -> Option<String> {
    let lower = name.to_lowercase();
    let candidates = [
        lower.clone(),
        format!("{name}s"),
        format!("{lower}_value"),
        format!("{name}Value"),
    ];
    candidates
        .into_iter()
        .find(|c| c != name && Quantity::from_name(c).is_none())
}

/// Validates an example that must be valid; its validator output.
fn expect_valid(
    profile: &Profile,
    what: &'static str,
    json: &str,
    now: Timestamp,
) -> anyhow::Result<String> {
    let report = validate(json.as_bytes(), None, now, &Limits::default());
    if report.invalid > 0 {
        bail!(
            "the generated {what} of profile \"{}\" does not validate: {}",
            profile.name,
            report.lines.join("; ")
        );
    }
    Ok(report.lines.join("\n"))
}

/// A reading as the spec shows one: a field per line, each value on one line.
fn shown_json(value: &Value) -> String {
    let Some(object) = value.as_object() else {
        return value.to_string();
    };
    let fields: Vec<String> = object
        .iter()
        .map(|(k, v)| format!("  {}: {}", Value::from(k.as_str()), compact(v)))
        .collect();
    format!("{{\n{}\n}}", fields.join(",\n"))
}

/// A SenML pack as the spec shows one: a record per line.
fn shown_pack(bytes: &[u8]) -> String {
    let records: Vec<Value> = serde_json::from_slice(bytes).unwrap_or_default();
    let lines: Vec<String> = records
        .iter()
        .map(|r| format!("  {}", compact(r)))
        .collect();
    format!("[\n{}\n]", lines.join(",\n"))
}

/// A JSON value on one line, with a space after each `:` and `,` as people write it.
fn compact(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let fields: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{}: {}", Value::from(k.as_str()), compact(v)))
                .collect();
            format!("{{ {} }}", fields.join(", "))
        }
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(compact).collect();
            format!("[{}]", items.join(", "))
        }
        // A whole number is written without `.0`, as a person would (`250`, not `250.0`).
        Value::Number(n) => match n.as_f64() {
            Some(x) if n.is_f64() && x.fract() == 0.0 && x.abs() < 9.0e15 => {
                format!("{}", x as i64)
            }
            _ => n.to_string(),
        },
        other => other.to_string(),
    }
}

/// A fenced block after its marker.
fn example_block(doc: &mut String, marker: &str, body: &str, language: &str) {
    let _ = writeln!(doc, "<!-- {marker} -->\n```{language}\n{body}\n```\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_middle_value_is_whole_for_a_whole_number_quantity() {
        assert_eq!(middle(Quantity::Motion), 1.0);
        assert_eq!(middle(Quantity::Temperature), 10.0);
        let bikes = Quantity::from_name("availableBikeNumber").expect("built in");
        assert_eq!(middle(bikes), 250.0);
    }

    #[test]
    fn a_typo_is_never_a_catalogued_name() {
        assert_eq!(typo_of("LAeq").as_deref(), Some("laeq"));
        assert_eq!(typo_of("pm25").as_deref(), Some("pm25s"));
    }
}

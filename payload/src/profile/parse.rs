//! The profile parser: TOML into a [`Profile`], with every problem of the file reported.
//!
//! Design: the file is parsed into toml's spanned tree ([`DeTable`]), with recovery, and then
//! walked by hand rather than deserialised with serde: serde stops at the first unknown key or
//! wrong type, while a student should see every problem of their file at once, each at its line
//! and column. Each check records its problem and carries on with what it could read.

use std::collections::HashMap;
use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::units::{self, Unit};
use super::{
    MAX_NAME_BYTES, MAX_PROFILE_BYTES, MAX_QUANTITIES, MAX_TEXT_BYTES, Problem, Profile,
    ProfileProblems, ProfileQuantity, ProfileRule, QuantityDef, SpaceAggregation, Text,
    TimeAggregation, closest, is_valid_profile_name, is_valid_quantity_name,
};

type Value<'i> = Spanned<DeValue<'i>>;

const PROFILE_KEYS: &[&str] = &["name", "version", "title", "description", "quantity"];
const QUANTITY_KEYS: &[&str] = &[
    "name",
    "unit",
    "label",
    "description",
    "min",
    "min_exclusive",
    "max",
    "integer",
    "required",
    "time",
    "space",
    "fiware",
    "range_reason",
    "senml",
];
const TEXT_KEYS: &[&str] = &["en", "fr"];

/// The names a SenML pack uses for its metadata (`{"n": "seq", ...}`), which a quantity cannot
/// take: the pack would read its values as metadata.
pub(crate) const RESERVED_QUANTITY_NAMES: [&str; 7] =
    ["lat", "lon", "alt", "seq", "kind", "source", "profile"];

pub(super) fn parse(text: &str) -> Result<Profile, ProfileProblems> {
    let mut walker = Walker {
        text,
        problems: Vec::new(),
    };
    if text.len() > MAX_PROFILE_BYTES {
        walker.push(
            0..0,
            ProfileRule::Size,
            format!(
                "the file is {} bytes, more than the {MAX_PROFILE_BYTES} a profile may have",
                text.len()
            ),
            Text::new(
                "split the quantities over several profiles",
                "répartissez les grandeurs sur plusieurs profils",
            ),
        );
        return Err(walker.finish());
    }
    let (root, errors) = DeTable::parse_recoverable(text);
    for error in errors {
        walker.push(
            error.span().unwrap_or(0..0),
            ProfileRule::TomlSyntax,
            format!("invalid TOML: {}", error.message().trim_end()),
            Text::new(
                "check the quotes, '=' signs and brackets on this line (see `garonne profile new`)",
                "vérifiez les guillemets, les signes « = » et les crochets de cette ligne (voir `garonne profile new`)",
            ),
        );
    }
    let profile = walker.profile(root.get_ref(), root.span());
    match profile {
        Some(profile) if walker.problems.is_empty() => Ok(profile),
        _ => Err(walker.finish()),
    }
}

/// The problems found so far, and the text to place them in.
struct Walker<'t> {
    text: &'t str,
    problems: Vec<Problem>,
}

/// A table being read, with what to call it in messages and where to point when a key is missing.
struct Fields<'a, 'i> {
    table: &'a DeTable<'i>,
    span: Range<usize>,
    what: String,
}

impl<'a, 'i> Fields<'a, 'i> {
    fn get(&self, key: &str) -> Option<&'a Value<'i>> {
        self.table
            .iter()
            .find(|(k, _)| k.get_ref().as_ref() == key)
            .map(|(_, v)| v)
    }
}

impl Walker<'_> {
    fn finish(mut self) -> ProfileProblems {
        self.problems.sort_by_key(|p| (p.line, p.column));
        // What the parser recovered on a line with a syntax error is a guess: its other
        // problems, and further syntax errors, would mislead. That line shows its first one.
        let broken: Vec<u32> = self
            .problems
            .iter()
            .filter(|p| p.rule == ProfileRule::TomlSyntax)
            .map(|p| p.line)
            .collect();
        let mut shown_line = None;
        self.problems.retain(|p| {
            if !broken.contains(&p.line) {
                return true;
            }
            let first = p.rule == ProfileRule::TomlSyntax && shown_line != Some(p.line);
            if first {
                shown_line = Some(p.line);
            }
            first
        });
        ProfileProblems {
            problems: self.problems,
        }
    }

    /// Records a problem at the start of `span`.
    fn push(&mut self, span: Range<usize>, rule: ProfileRule, message: String, hint: Text) {
        let (line, column) = self.position(span.start);
        self.problems.push(Problem {
            line,
            column,
            rule,
            message,
            hint,
        });
    }

    /// The 1-based line and column (in characters) of a byte offset.
    fn position(&self, offset: usize) -> (u32, u32) {
        let before = self.text.get(..offset).unwrap_or(self.text);
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let line = before.matches('\n').count() + 1;
        let column = before[line_start..].chars().count() + 1;
        let clamp = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        (clamp(line), clamp(column))
    }

    fn profile(&mut self, root: &DeTable<'_>, span: Range<usize>) -> Option<Profile> {
        let fields = Fields {
            table: root,
            span,
            what: "the profile".into(),
        };
        self.unknown_keys(&fields, PROFILE_KEYS);
        let name = self.profile_name(&fields);
        let version = self.version(&fields);
        let title = self.text_of(&fields, "title", true);
        let description = self.text_of(&fields, "description", false);
        let quantities = self.quantities(&fields);
        Some(Profile {
            name: name?,
            version: version?,
            title: title?,
            description,
            quantities: quantities?,
        })
    }

    fn profile_name(&mut self, fields: &Fields<'_, '_>) -> Option<String> {
        let (name, span) = self.string(fields, "name", true)?;
        if name.len() > MAX_NAME_BYTES {
            self.too_long(span, "the profile name", name.len(), MAX_NAME_BYTES);
            return None;
        }
        if !is_valid_profile_name(name) {
            let suggestion: String = name
                .to_lowercase()
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
                .collect();
            self.push(
                span,
                ProfileRule::ProfileName,
                format!("profile name \"{name}\" is not lower-case letters, digits and '-'"),
                Text::new(
                    format!("start with a letter and write e.g. \"{suggestion}\""),
                    format!("commencez par une lettre et écrivez par exemple « {suggestion} »"),
                ),
            );
            return None;
        }
        Some(name.to_owned())
    }

    fn version(&mut self, fields: &Fields<'_, '_>) -> Option<u32> {
        let value = self.required(fields, "version")?;
        let hint = Text::new(
            "write version = 1, and raise it by one each time you change a published profile",
            "écrivez version = 1, et augmentez-la de un à chaque modification d'un profil publié",
        );
        let DeValue::Integer(int) = value.get_ref() else {
            self.wrong_type(value, "version", "a whole number", hint);
            return None;
        };
        let parsed = i64::from_str_radix(int.as_str(), int.radix())
            .ok()
            .and_then(|v| u32::try_from(v).ok())
            .filter(|v| *v >= 1);
        if parsed.is_none() {
            self.push(
                value.span(),
                ProfileRule::Version,
                format!("version {int} is not a whole number from 1 to {}", u32::MAX),
                hint,
            );
        }
        parsed
    }

    fn quantities(&mut self, fields: &Fields<'_, '_>) -> Option<Vec<ProfileQuantity>> {
        let hint = Text::new(
            "add one [[quantity]] table per quantity (see `garonne profile new`)",
            "ajoutez une table [[quantity]] par grandeur (voir `garonne profile new`)",
        );
        let Some(value) = fields.get("quantity") else {
            self.push(
                fields.span.clone(),
                ProfileRule::NoQuantities,
                "the profile defines no quantity".into(),
                hint,
            );
            return None;
        };
        let Some(array) = value.get_ref().as_array() else {
            self.wrong_type(value, "quantity", "an array of [[quantity]] tables", hint);
            return None;
        };
        if array.is_empty() {
            self.push(
                value.span(),
                ProfileRule::NoQuantities,
                "the profile defines no quantity".into(),
                hint,
            );
            return None;
        }
        let mut out = Vec::with_capacity(array.len());
        let mut seen: HashMap<String, u32> = HashMap::new();
        let mut complete = true;
        for (i, entry) in array.iter().enumerate() {
            if i == MAX_QUANTITIES {
                self.push(
                    entry.span(),
                    ProfileRule::TooMany,
                    format!(
                        "the profile has {} quantities, more than the {MAX_QUANTITIES} allowed",
                        array.len()
                    ),
                    Text::new(
                        "split the quantities over several profiles, one per device",
                        "répartissez les grandeurs sur plusieurs profils, un par appareil",
                    ),
                );
                complete = false;
            }
            let Some(table) = entry.get_ref().as_table() else {
                self.wrong_type(entry, "quantity", "a [[quantity]] table", Text::default());
                complete = false;
                continue;
            };
            let mut fields = Fields {
                table,
                span: entry.span(),
                what: format!("quantity #{}", i + 1),
            };
            if let Some(name) = fields.get("name").and_then(|n| n.get_ref().as_str()) {
                fields.what = format!("quantity \"{name}\"");
            }
            match self.quantity(&fields, &mut seen) {
                Some(q) => out.push(q),
                None => complete = false,
            }
        }
        complete.then_some(out)
    }

    fn quantity(
        &mut self,
        fields: &Fields<'_, '_>,
        seen: &mut HashMap<String, u32>,
    ) -> Option<ProfileQuantity> {
        self.unknown_keys(fields, QUANTITY_KEYS);
        let name = self.quantity_name(fields, seen);
        let unit = self.unit(fields);
        let senml_units = unit.and_then(|u| self.senml_units(fields, u));
        let label = self.text_of(fields, "label", true);
        let description = self.text_of(fields, "description", false);
        let range_reason = self.text_of(fields, "range_reason", false);
        let range = self.range(fields);
        let integer = self.boolean(fields, "integer");
        let required = self.boolean(fields, "required");
        let time = self.aggregation(
            fields,
            "time",
            &TimeAggregation::ALL,
            TimeAggregation::as_str,
        );
        let space = self.aggregation(
            fields,
            "space",
            &SpaceAggregation::ALL,
            SpaceAggregation::as_str,
        );
        let fiware = self.fiware(fields);
        let (min, min_exclusive, max) = range?;
        Some(ProfileQuantity {
            def: QuantityDef {
                name: name?,
                unit: unit?,
                senml_units: senml_units?,
                label: label?,
                description,
                min,
                min_exclusive,
                max,
                integer: integer?.unwrap_or(false),
                time: time?.unwrap_or(TimeAggregation::Mean),
                space: space?.unwrap_or(SpaceAggregation::Mean),
                fiware: fiware?,
                range_reason,
            },
            required: required?.unwrap_or(false),
        })
    }

    fn quantity_name(
        &mut self,
        fields: &Fields<'_, '_>,
        seen: &mut HashMap<String, u32>,
    ) -> Option<String> {
        let (name, span) = self.string(fields, "name", true)?;
        if name.len() > MAX_NAME_BYTES {
            self.too_long(span, "the quantity name", name.len(), MAX_NAME_BYTES);
            return None;
        }
        if !is_valid_quantity_name(name) {
            let camel = camel_case(name);
            self.push(
                span,
                ProfileRule::QuantityName,
                format!(
                    "quantity name \"{name}\" is not letters and digits starting with a letter"
                ),
                Text::new(
                    format!("write it in camelCase, e.g. \"{camel}\": it is a JSON key"),
                    format!(
                        "écrivez-le en camelCase, par exemple « {camel} » : c'est une clé JSON"
                    ),
                ),
            );
            return None;
        }
        if RESERVED_QUANTITY_NAMES.contains(&name) {
            self.push(
                span,
                ProfileRule::QuantityName,
                format!(
                    "quantity name \"{name}\" is reserved: a SenML pack gives its metadata \
                     under that name"
                ),
                Text::new(
                    format!(
                        "choose another name; the reserved ones are {}",
                        RESERVED_QUANTITY_NAMES.join(", ")
                    ),
                    format!(
                        "choisissez un autre nom ; les noms réservés sont {}",
                        RESERVED_QUANTITY_NAMES.join(", ")
                    ),
                ),
            );
            return None;
        }
        if let Some(first) = seen.get(name).copied() {
            self.push(
                span,
                ProfileRule::DuplicateQuantity,
                format!("quantity \"{name}\" is defined twice (first at line {first})"),
                Text::new(
                    "keep one [[quantity]] table per name",
                    "gardez une seule table [[quantity]] par nom",
                ),
            );
            return None;
        }
        seen.insert(name.to_owned(), self.position(span.start).0);
        Some(name.to_owned())
    }

    fn unit(&mut self, fields: &Fields<'_, '_>) -> Option<&'static Unit> {
        let (symbol, span) = self.string(fields, "unit", true)?;
        if let Some(unit) = units::unit(symbol) {
            return Some(unit);
        }
        let near = units::closest_units(symbol);
        let (en, fr) = if near.is_empty() {
            (
                "use a SenML symbol (Cel, m, hPa, ug/m3, count, ...) or \"1\" for a plain number"
                    .to_owned(),
                "utilisez un symbole SenML (Cel, m, hPa, ug/m3, count…) ou « 1 » pour un nombre sans unité"
                    .to_owned(),
            )
        } else {
            let list = quoted(&near);
            (
                format!("did you mean {list}?"),
                format!("vouliez-vous dire {list} ?"),
            )
        };
        self.push(
            span,
            ProfileRule::UnknownUnit,
            format!("unknown unit \"{symbol}\""),
            Text::new(en, fr),
        );
        None
    }

    fn senml_units(
        &mut self,
        fields: &Fields<'_, '_>,
        unit: &'static Unit,
    ) -> Option<Vec<crate::quantity::SenmlUnit>> {
        let Some(value) = fields.get("senml") else {
            return Some(unit.senml.to_vec());
        };
        let accepted: Vec<&str> = unit.senml.iter().map(|u| u.symbol).collect();
        let hint = || {
            let list = quoted(&accepted);
            Text::new(
                format!("list some of {list}, or leave senml out to accept them all"),
                format!("choisissez parmi {list}, ou retirez senml pour tous les accepter"),
            )
        };
        let Some(array) = value.get_ref().as_array() else {
            self.wrong_type(value, "senml", "an array of unit symbols", hint());
            return None;
        };
        let mut kept = Vec::new();
        let mut complete = true;
        for entry in array.iter() {
            let Some(symbol) = entry.get_ref().as_str() else {
                self.wrong_type(entry, "senml", "a unit symbol in quotes", hint());
                complete = false;
                continue;
            };
            match unit.senml.iter().find(|u| u.symbol == symbol) {
                Some(u) => kept.push(*u),
                None => {
                    self.push(
                        entry.span(),
                        ProfileRule::SenmlUnit,
                        format!(
                            "unit \"{}\" does not convert from SenML \"{symbol}\"",
                            unit.symbol
                        ),
                        hint(),
                    );
                    complete = false;
                }
            }
        }
        // Registry order, so the unit itself stays first.
        kept.sort_by_key(|k| unit.senml.iter().position(|u| u.symbol == k.symbol));
        kept.dedup_by_key(|k| k.symbol);
        complete.then_some(kept)
    }

    /// `(min, min_exclusive, max)`.
    fn range(&mut self, fields: &Fields<'_, '_>) -> Option<(f64, bool, f64)> {
        let min = self.number(fields, "min");
        let max = self.number(fields, "max");
        let min_exclusive = self.boolean(fields, "min_exclusive");
        let ((min, min_span), (max, _)) = (min?, max?);
        if min >= max {
            self.push(
                min_span,
                ProfileRule::Range,
                format!("{}: min {min} is not below max {max}", fields.what),
                Text::new(
                    "give the physical range as min < max, in the quantity's unit",
                    "donnez la plage physique avec min < max, dans l'unité de la grandeur",
                ),
            );
            return None;
        }
        Some((min, min_exclusive?.unwrap_or(false), max))
    }

    fn number(&mut self, fields: &Fields<'_, '_>, key: &str) -> Option<(f64, Range<usize>)> {
        let value = self.required(fields, key)?;
        let parsed = match value.get_ref() {
            DeValue::Integer(int) => i64::from_str_radix(int.as_str(), int.radix())
                .map(|v| v as f64)
                .ok(),
            DeValue::Float(float) => {
                let text = float.as_str();
                text.parse::<f64>()
                    .ok()
                    .or_else(|| text.contains("nan").then_some(f64::NAN))
            }
            _ => {
                self.wrong_type(
                    value,
                    key,
                    "a number",
                    Text::new(
                        format!("write {key} = 0, without quotes"),
                        format!("écrivez {key} = 0, sans guillemets"),
                    ),
                );
                return None;
            }
        };
        match parsed {
            Some(v) if v.is_finite() => Some((v, value.span())),
            _ => {
                self.push(
                    value.span(),
                    ProfileRule::NotFinite,
                    format!("{key} must be a finite number"),
                    Text::new(
                        "give the physical limit as a number: nan and inf are not limits",
                        "donnez la limite physique en nombre : nan et inf ne sont pas des limites",
                    ),
                );
                None
            }
        }
    }

    /// `Some(None)` when the key is absent, `None` when it is there but not a boolean.
    fn boolean(&mut self, fields: &Fields<'_, '_>, key: &str) -> Option<Option<bool>> {
        let Some(value) = fields.get(key) else {
            return Some(None);
        };
        match value.get_ref().as_bool() {
            Some(b) => Some(Some(b)),
            None => {
                self.wrong_type(
                    value,
                    key,
                    "true or false",
                    Text::new(
                        format!("write {key} = true or {key} = false, without quotes"),
                        format!("écrivez {key} = true ou {key} = false, sans guillemets"),
                    ),
                );
                None
            }
        }
    }

    /// `Some(None)` when the key is absent, `None` when its word is not one of `all`.
    fn aggregation<A: Copy>(
        &mut self,
        fields: &Fields<'_, '_>,
        key: &str,
        all: &[A],
        word: fn(A) -> &'static str,
    ) -> Option<Option<A>> {
        if fields.get(key).is_none() {
            return Some(None);
        }
        let (text, span) = self.string(fields, key, false)?;
        if let Some(a) = all.iter().find(|a| word(**a) == text) {
            return Some(Some(*a));
        }
        let words: Vec<&str> = all.iter().map(|a| word(*a)).collect();
        let list = words.join(" | ");
        self.push(
            span,
            ProfileRule::Aggregation,
            format!("{key} = \"{text}\" is not one of {list}"),
            Text::new(
                format!("write one of {list}"),
                format!("écrivez l'un de {list}"),
            ),
        );
        None
    }

    /// `Some(None)` when absent.
    fn fiware(&mut self, fields: &Fields<'_, '_>) -> Option<Option<String>> {
        if fields.get("fiware").is_none() {
            return Some(None);
        }
        let (name, span) = self.string(fields, "fiware", false)?;
        if name.len() > MAX_NAME_BYTES {
            self.too_long(span, "the FIWARE attribute", name.len(), MAX_NAME_BYTES);
            return None;
        }
        Some(Some(name.to_owned()))
    }

    /// A `{ en = "...", fr = "..." }` text; `None` when it is required and missing, or broken.
    fn text_of(&mut self, fields: &Fields<'_, '_>, key: &str, required: bool) -> Option<Text> {
        let value = if required {
            self.required(fields, key)?
        } else {
            fields.get(key)?
        };
        let hint = Text::new(
            format!("write {key} = {{ en = \"…\", fr = \"…\" }}"),
            format!("écrivez {key} = {{ en = \"…\", fr = \"…\" }}"),
        );
        let Some(table) = value.get_ref().as_table() else {
            self.wrong_type(value, key, "a table with en and fr", hint);
            return None;
        };
        let inner = Fields {
            table,
            span: value.span(),
            what: format!("{key} of {}", fields.what),
        };
        self.unknown_keys(&inner, TEXT_KEYS);
        let mut text = Text::default();
        let mut complete = true;
        for (lang, slot) in [("en", &mut text.en), ("fr", &mut text.fr)] {
            let Some(v) = inner.get(lang) else {
                self.push(
                    inner.span.clone(),
                    ProfileRule::Language,
                    format!("{key} of {} has no \"{lang}\" text", fields.what),
                    hint.clone(),
                );
                complete = false;
                continue;
            };
            let Some(s) = v.get_ref().as_str() else {
                self.wrong_type(v, lang, "a string in quotes", hint.clone());
                complete = false;
                continue;
            };
            if s.trim().is_empty() {
                self.push(
                    v.span(),
                    ProfileRule::Language,
                    format!("{key} of {} has an empty \"{lang}\" text", fields.what),
                    hint.clone(),
                );
                complete = false;
            } else if s.len() > MAX_TEXT_BYTES {
                self.too_long(
                    v.span(),
                    &format!("the {lang} {key}"),
                    s.len(),
                    MAX_TEXT_BYTES,
                );
                complete = false;
            }
            *slot = s.to_owned();
        }
        complete.then_some(text)
    }

    /// A string value with its span; `None` (and a problem) when missing and required, or not
    /// a string.
    fn string<'a>(
        &mut self,
        fields: &Fields<'a, '_>,
        key: &str,
        required: bool,
    ) -> Option<(&'a str, Range<usize>)> {
        let value = if required {
            self.required(fields, key)?
        } else {
            fields.get(key)?
        };
        match value.get_ref().as_str() {
            Some(s) => Some((s, value.span())),
            None => {
                self.wrong_type(
                    value,
                    key,
                    "a string",
                    Text::new(
                        format!("put the value of {key} in double quotes"),
                        format!("mettez la valeur de {key} entre guillemets droits"),
                    ),
                );
                None
            }
        }
    }

    fn required<'a, 'i>(&mut self, fields: &Fields<'a, 'i>, key: &str) -> Option<&'a Value<'i>> {
        let value = fields.get(key);
        if value.is_none() {
            self.push(
                fields.span.clone(),
                ProfileRule::Required,
                format!("{} has no {key}", fields.what),
                Text::new(
                    format!("add {key} (see `garonne profile new` for an example)"),
                    format!("ajoutez {key} (voir l'exemple de `garonne profile new`)"),
                ),
            );
        }
        value
    }

    fn unknown_keys(&mut self, fields: &Fields<'_, '_>, allowed: &[&str]) {
        for (key, _) in fields.table.iter() {
            let key_text: &str = key.get_ref().as_ref();
            if allowed.contains(&key_text) {
                continue;
            }
            let near = closest(key_text, allowed.iter().copied());
            let list = quoted(allowed);
            let hint = match near.first() {
                Some(best) => Text::new(
                    format!("did you mean \"{best}\"? the keys are {list}"),
                    format!("vouliez-vous dire « {best} » ? les clés sont {list}"),
                ),
                None => Text::new(
                    format!("the keys are {list}"),
                    format!("les clés sont {list}"),
                ),
            };
            self.push(
                key.span(),
                ProfileRule::UnknownKey,
                format!("{} has no key \"{key_text}\"", fields.what),
                hint,
            );
        }
    }

    fn wrong_type(&mut self, value: &Value<'_>, key: &str, expected: &str, hint: Text) {
        self.push(
            value.span(),
            ProfileRule::Type,
            format!(
                "{key} must be {expected}, not {}",
                value.get_ref().type_str()
            ),
            hint,
        );
    }

    fn too_long(&mut self, span: Range<usize>, what: &str, len: usize, limit: usize) {
        self.push(
            span,
            ProfileRule::TooLong,
            format!("{what} is {len} bytes, more than the {limit} allowed"),
            Text::new(
                format!("shorten it to {limit} bytes at most"),
                format!("raccourcissez-le à {limit} octets au plus"),
            ),
        );
    }
}

/// `"a", "b" or "c"`.
fn quoted(words: &[&str]) -> String {
    let quoted: Vec<String> = words.iter().map(|w| format!("\"{w}\"")).collect();
    quoted.join(", ")
}

/// A camelCase rendering of a name with separators or a leading digit: `wind_speed` → `windSpeed`.
fn camel_case(name: &str) -> String {
    let mut out = String::new();
    let mut upper = false;
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            if out.is_empty() && c.is_ascii_digit() {
                out.push('q');
            }
            if upper && !out.is_empty() {
                out.push(c.to_ascii_uppercase());
            } else {
                out.push(c);
            }
            upper = false;
        } else {
            upper = true;
        }
    }
    if out.is_empty() {
        "myQuantity".into()
    } else {
        out
    }
}

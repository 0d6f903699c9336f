//! Profiles: the quantities a kind of sensor sends, as data a teacher can read and approve.
//!
//! A profile is a small TOML file (issue 14): a name, a version, a title and a description in
//! English and French, and one `[[quantity]]` table per quantity with its wire name, unit (a
//! symbol of the [`units`] registry), labels, physical range, and how it aggregates over time
//! (`time`) and across a neighbourhood's sensors (`space`). [`Profile::parse`] reports every
//! problem of a file at once, each with its line, column, a stable rule id and a hint in
//! English and French, so a student fixes a profile in one pass. Profiles go into a
//! [`Catalogue`], which gives each quantity a dense [`QuantityId`] and refuses a quantity name
//! that would mean two things.
//!
//! Why data and not code: every project of the IoT course brings its own sensors; with
//! profiles, a teacher approves a file instead of a developer changing the Rust enum
//! [`crate::Quantity`]. The built-in profiles live in `payload/profiles/*.toml`, which double as
//! examples; `weather` is today's table of ten quantities, unchanged.
//!
//! Limits (enforced by [`Profile::parse`]; why each is what it is):
//! - [`MAX_PROFILE_BYTES`] (256 KiB): a profile is published retained over MQTT, like a SenML
//!   pack, and gets the same bound as the largest payload ([`crate::Limits`]' `max_pack_bytes`).
//! - [`MAX_QUANTITIES`] (256): a student racing car logs a few hundred CAN channels; more than
//!   that is several devices, hence several profiles.
//! - [`MAX_NAME_BYTES`] (64): names are JSON keys, InfluxDB field names and MQTT topic levels;
//!   the longest FIWARE attribute names are about 30 bytes.
//! - [`MAX_TEXT_BYTES`] (512): a label is a few words and a description a few sentences; the
//!   map's menu and the spec's table print them whole.

mod catalogue;
mod parse;
pub mod units;

use std::fmt;

pub use catalogue::{
    Added, BUILTIN_PROFILES, Catalogue, CataloguedProfile, Clash, MAX_CATALOGUE_PROFILES,
    MAX_CATALOGUE_QUANTITIES, QuantityId,
};
pub use units::{Unit, UnitOrigin};

use crate::quantity::SenmlUnit;

/// The largest profile file, in bytes.
pub const MAX_PROFILE_BYTES: usize = 256 * 1024;
/// The most quantities one profile may define.
pub const MAX_QUANTITIES: usize = 256;
/// The longest profile name, quantity name or FIWARE attribute name, in bytes.
pub const MAX_NAME_BYTES: usize = 64;
/// The longest title, label, description or range reason, in bytes (per language).
pub const MAX_TEXT_BYTES: usize = 512;

/// A text in English and French.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Text {
    /// English.
    pub en: String,
    /// French.
    pub fr: String,
}

impl Text {
    /// A text from its two languages.
    pub fn new(en: impl Into<String>, fr: impl Into<String>) -> Text {
        Text {
            en: en.into(),
            fr: fr.into(),
        }
    }
}

/// How one sensor's readings of a quantity combine within a time window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeAggregation {
    /// The mean of the window's values (temperature).
    Mean,
    /// Their sum (precipitation since the previous reading).
    Sum,
    /// The smallest value.
    Min,
    /// The largest value (gusts).
    Max,
    /// The latest value (a count of available bikes).
    Last,
}

impl TimeAggregation {
    /// Every time aggregation, as written in a profile.
    pub const ALL: [TimeAggregation; 5] = [
        TimeAggregation::Mean,
        TimeAggregation::Sum,
        TimeAggregation::Min,
        TimeAggregation::Max,
        TimeAggregation::Last,
    ];

    /// The word a profile writes.
    pub fn as_str(self) -> &'static str {
        match self {
            TimeAggregation::Mean => "mean",
            TimeAggregation::Sum => "sum",
            TimeAggregation::Min => "min",
            TimeAggregation::Max => "max",
            TimeAggregation::Last => "last",
        }
    }
}

/// How a neighbourhood combines its sensors' values of a quantity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SpaceAggregation {
    /// The mean of the sensors' values, each sensor weighing the same.
    Mean,
    /// Their sum (a neighbourhood's available bikes).
    Sum,
    /// The smallest.
    Min,
    /// The largest.
    Max,
}

impl SpaceAggregation {
    /// Every space aggregation, as written in a profile.
    pub const ALL: [SpaceAggregation; 4] = [
        SpaceAggregation::Mean,
        SpaceAggregation::Sum,
        SpaceAggregation::Min,
        SpaceAggregation::Max,
    ];

    /// The word a profile writes.
    pub fn as_str(self) -> &'static str {
        match self {
            SpaceAggregation::Mean => "mean",
            SpaceAggregation::Sum => "sum",
            SpaceAggregation::Min => "min",
            SpaceAggregation::Max => "max",
        }
    }
}

/// Everything a profile says about one quantity, except whether the profile requires it.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantityDef {
    /// The name on the wire (the key in a reading's `quantities`).
    pub name: String,
    /// The unit of the wire value, from the registry.
    pub unit: &'static Unit,
    /// The SenML units a device may send instead, with their conversions: the unit's registry
    /// list, or the part of it the profile keeps with `senml = [...]`.
    pub senml_units: Vec<SenmlUnit>,
    /// What people read in menus and tables.
    pub label: Text,
    /// A sentence or two on what is measured, if the profile gives one.
    pub description: Option<Text>,
    /// Smallest accepted value.
    pub min: f64,
    /// Whether `min` itself is refused.
    pub min_exclusive: bool,
    /// Largest accepted value (inclusive).
    pub max: f64,
    /// Whether only whole numbers are accepted.
    pub integer: bool,
    /// How one sensor's readings combine in a window.
    pub time: TimeAggregation,
    /// How a neighbourhood combines its sensors.
    pub space: SpaceAggregation,
    /// The Smart Data Models attribute of the same meaning and unit, if there is one.
    pub fiware: Option<String>,
    /// Why the range is what it is (the spec document prints it).
    pub range_reason: Option<Text>,
}

impl QuantityDef {
    /// Whether `value` is accepted: in range, and whole if the quantity is an integer.
    pub fn in_range(&self, value: f64) -> bool {
        let above_min = if self.min_exclusive {
            value > self.min
        } else {
            value >= self.min
        };
        above_min && value <= self.max && (!self.integer || value.fract() == 0.0)
    }

    /// The first field that gives this quantity a different meaning from `other` (unit, range,
    /// integer flag, aggregation, accepted SenML units), with both values as people read them.
    /// Labels, descriptions and the FIWARE name may differ: they do not change what a value is.
    pub fn meaning_differs(&self, other: &QuantityDef) -> Option<(&'static str, String, String)> {
        let senml = |d: &QuantityDef| {
            let symbols: Vec<&str> = d.senml_units.iter().map(|u| u.symbol).collect();
            format!("[{}]", symbols.join(", "))
        };
        let fields: [(&'static str, String, String); 8] = [
            ("unit", self.unit.symbol.into(), other.unit.symbol.into()),
            ("min", self.min.to_string(), other.min.to_string()),
            (
                "min_exclusive",
                self.min_exclusive.to_string(),
                other.min_exclusive.to_string(),
            ),
            ("max", self.max.to_string(), other.max.to_string()),
            (
                "integer",
                self.integer.to_string(),
                other.integer.to_string(),
            ),
            (
                "time",
                self.time.as_str().into(),
                other.time.as_str().into(),
            ),
            (
                "space",
                self.space.as_str().into(),
                other.space.as_str().into(),
            ),
            ("senml", senml(self), senml(other)),
        ];
        fields.into_iter().find(|(_, ours, theirs)| ours != theirs)
    }
}

/// One quantity of a profile.
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileQuantity {
    /// What the quantity is.
    pub def: QuantityDef,
    /// Whether a reading under this profile must carry it.
    pub required: bool,
}

/// A parsed, checked profile.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    /// The id: lower-case letters, digits and '-' (`air-quality`).
    pub name: String,
    /// The version, from 1; a published profile replaces one of a lower version.
    pub version: u32,
    /// The title people read.
    pub title: Text,
    /// What the project measures and why, if the profile says.
    pub description: Option<Text>,
    /// The quantities, in file order, names unique.
    pub quantities: Vec<ProfileQuantity>,
}

impl Profile {
    /// Parses and checks a profile file, reporting every problem it finds.
    pub fn parse(text: &str) -> Result<Profile, ProfileProblems> {
        parse::parse(text)
    }

    /// The quantity of this name, if the profile has it.
    pub fn quantity(&self, name: &str) -> Option<&ProfileQuantity> {
        self.quantities.iter().find(|q| q.def.name == name)
    }

    /// The commented template `garonne profile new NAME` writes, comments in French and English.
    /// It parses as it is; the student edits it.
    pub fn template(name: &str) -> String {
        TEMPLATE.replace("{name}", name)
    }
}

const TEMPLATE: &str = include_str!("profile/template.toml");

/// Whether `name` is a valid profile name: 1 to [`MAX_NAME_BYTES`] bytes of lower-case ASCII
/// letters, digits and '-', starting with a letter and not ending with '-'.
pub fn is_valid_profile_name(name: &str) -> bool {
    name.len() <= MAX_NAME_BYTES
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Whether `name` is a valid quantity name: 1 to [`MAX_NAME_BYTES`] bytes of ASCII letters and
/// digits, starting with a letter — the camelCase JSON keys of today's quantities
/// (`relativeHumidity`), and Smart Data Models' `LAeq`, `pm25`.
pub fn is_valid_quantity_name(name: &str) -> bool {
    name.len() <= MAX_NAME_BYTES
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// The rule a profile breaks. Its kebab-case name is stable: tools and docs refer to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProfileRule {
    /// The file is larger than [`MAX_PROFILE_BYTES`].
    Size,
    /// The file is not valid TOML.
    TomlSyntax,
    /// A key the profile format does not define.
    UnknownKey,
    /// A key that must be there is missing.
    Required,
    /// A value has the wrong TOML type.
    Type,
    /// The profile name breaks the name rule.
    ProfileName,
    /// A quantity name breaks the name rule.
    QuantityName,
    /// Two quantities of the profile have the same name.
    DuplicateQuantity,
    /// A unit symbol the registry does not know.
    UnknownUnit,
    /// A `senml` entry the quantity's unit does not convert from.
    SenmlUnit,
    /// `min` is not below `max`.
    Range,
    /// A number is NaN or infinite.
    NotFinite,
    /// A title, label or description lacks a language, or has an empty one.
    Language,
    /// A name or text longer than its limit.
    TooLong,
    /// More quantities than [`MAX_QUANTITIES`].
    TooMany,
    /// The version is not a whole number from 1 to 4,294,967,295.
    Version,
    /// `time` or `space` is not one of its words.
    Aggregation,
    /// A profile without quantities.
    NoQuantities,
}

impl ProfileRule {
    /// The stable name of the rule.
    pub fn as_str(self) -> &'static str {
        match self {
            ProfileRule::Size => "size",
            ProfileRule::TomlSyntax => "toml-syntax",
            ProfileRule::UnknownKey => "unknown-key",
            ProfileRule::Required => "required",
            ProfileRule::Type => "type",
            ProfileRule::ProfileName => "profile-name",
            ProfileRule::QuantityName => "quantity-name",
            ProfileRule::DuplicateQuantity => "duplicate-quantity",
            ProfileRule::UnknownUnit => "unknown-unit",
            ProfileRule::SenmlUnit => "senml-unit",
            ProfileRule::Range => "range",
            ProfileRule::NotFinite => "not-finite",
            ProfileRule::Language => "language",
            ProfileRule::TooLong => "too-long",
            ProfileRule::TooMany => "too-many",
            ProfileRule::Version => "version",
            ProfileRule::Aggregation => "aggregation",
            ProfileRule::NoQuantities => "no-quantities",
        }
    }
}

impl fmt::Display for ProfileRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem of a profile file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The line, from 1.
    pub line: u32,
    /// The column, from 1, in characters.
    pub column: u32,
    /// Which rule is broken.
    pub rule: ProfileRule,
    /// What is wrong, in English, naming the value.
    pub message: String,
    /// How to fix it, in English and French.
    pub hint: Text,
}

impl fmt::Display for Problem {
    /// One line: `LINE:COL: rule: message; hint: English hint`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: {}: {}; hint: {}",
            self.line, self.column, self.rule, self.message, self.hint.en
        )
    }
}

/// Every problem of a profile file, in file order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the profile has {} problem(s), the first at {}", problems.len(), first(problems))]
pub struct ProfileProblems {
    /// The problems, sorted by line and column; never empty.
    pub problems: Vec<Problem>,
}

fn first(problems: &[Problem]) -> String {
    problems.first().map(Problem::to_string).unwrap_or_default()
}

/// The candidates closest to `word` by edit distance (ignoring case), best first, at most three;
/// a candidate qualifies when at most a third of `word`, rounded up, differs.
pub(crate) fn closest<'a>(word: &str, candidates: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let word = word.to_lowercase();
    let budget = word.chars().count().div_ceil(3).max(1);
    let mut scored: Vec<(usize, &'a str)> = candidates
        .map(|c| (edit_distance(&word, &c.to_lowercase()), c))
        .filter(|(d, _)| *d <= budget)
        .collect();
    scored.sort_by_key(|(d, _)| *d);
    scored.into_iter().take(3).map(|(_, c)| c).collect()
}

/// Edit distance in characters, a swap of two neighbours counting as one edit (`mxa` is one
/// edit from `max`): the optimal string alignment distance.
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    // d[i][j]: the distance between the first i characters of a and the first j of b.
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let substitution = d[i - 1][j - 1] + usize::from(a[i - 1] != b[j - 1]);
            let mut best = substitution.min(d[i - 1][j] + 1).min(d[i][j - 1] + 1);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests;

//! Validation that explains itself: every problem of a payload, each with a JSON pointer, the
//! rule it breaks and a hint that says how to fix it, in English and in French (the course's
//! students and teacher read French; the message, which names the values, stays English).
//!
//! Design: two paths, one verdict. The fast path deserialises straight into [`Reading`] and
//! checks values (ranges, ids, clock); it is what runs for the millions of valid readings. When
//! it fails, the explaining path walks the JSON tree to report *every* problem with its place.
//! Both call the same value checks below, and if the explaining path finds nothing the fast path's
//! own message is reported, so a payload is never refused without a reason.
//!
//! Design: the explanation is bounded. A 256 KiB SenML pack of bare numbers has 131,071
//! problems, which explained in full made a 19.9 MB answer; the problems are listed up to
//! [`Limits::max_violations`] and only counted past it ([`Invalid::more`]), and a last entry
//! says how many more there were. Every caller — realtime, the historian, the server, the
//! command line — gets the bounded list, since the bound is applied while collecting.

use std::fmt;

use serde_json::{Map, Value};

use smallvec::SmallVec;

use crate::profile::CataloguedProfile;
use crate::quantity::{ProfileId, Quantity};
use crate::reading::{Location, Reading, SPEC_VERSION, Source};
use crate::time::{Timestamp, TimestampError};

/// The rule a payload breaks. Its kebab-case name is stable: tools and the spec refer to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rule {
    /// The payload is larger than the size bound.
    Size,
    /// The bytes are not JSON (or not UTF-8).
    JsonSyntax,
    /// A value has the wrong JSON type.
    Type,
    /// A required field is missing.
    Required,
    /// A field the spec does not define.
    UnknownField,
    /// A key appears twice in one object.
    DuplicateKey,
    /// `v` is not a version this validator knows.
    Version,
    /// The sensor id breaks the id rule.
    SensorId,
    /// The kind is not a lower-case slug.
    Kind,
    /// The source is not one of the spec's sources.
    Source,
    /// The time is not RFC 3339 UTC.
    TimeFormat,
    /// The time is further in the future than the clock-skew bound allows.
    ClockSkew,
    /// The time is before the earliest accepted instant (an unset device clock).
    TimeTooOld,
    /// A number is outside its physical range.
    Range,
    /// A number is NaN, infinite or too large for a 64-bit float.
    NotFinite,
    /// A quantity name the spec does not define.
    UnknownQuantity,
    /// A reading without any quantity.
    NoQuantities,
    /// A `profile` that is not a catalogued profile's name.
    UnknownProfile,
    /// A reading under a profile that lacks one of the profile's required quantities.
    MissingRequiredQuantity,
    /// A reading under a profile that carries a quantity outside the profile.
    QuantityNotInProfile,
    /// A reading that names one profile, checked under another (`--profile`, the validator
    /// page's profile choice).
    ProfileMismatch,
    /// A SenML record name that does not resolve to `{sensor_id}:{field}`.
    SenmlName,
    /// A SenML unit not accepted for the field.
    SenmlUnit,
    /// A SenML record without a value, or with a value of the wrong kind.
    SenmlValue,
    /// A SenML pack that mixes several sensors.
    SenmlSensor,
    /// The same field given twice for one instant.
    SenmlConflict,
    /// A SenML version (`bver`) this validator does not understand.
    SenmlVersion,
    /// An empty SenML pack.
    SenmlEmpty,
    /// A valid reading that reached the realtime service after its window had closed (its time
    /// is older than the window length plus the allowed lateness). Realtime only.
    Late,
    /// A valid reading whose location lies outside every neighbourhood polygon: it counts for
    /// the sensor's rolling statistics but for no neighbourhood. Realtime only.
    OutsideArea,
    /// A reading whose sensor id differs from the id in its MQTT topic. Realtime only.
    SensorMismatch,
    /// A reading of a sensor realtime does not know, while it already tracks its most sensors
    /// (`max_sensors`): not folded. Realtime only.
    TooManySensors,
}

impl Rule {
    /// Every rule, in spec order.
    pub const ALL: [Rule; 32] = [
        Rule::Size,
        Rule::JsonSyntax,
        Rule::Type,
        Rule::Required,
        Rule::UnknownField,
        Rule::DuplicateKey,
        Rule::Version,
        Rule::SensorId,
        Rule::Kind,
        Rule::Source,
        Rule::TimeFormat,
        Rule::ClockSkew,
        Rule::TimeTooOld,
        Rule::Range,
        Rule::NotFinite,
        Rule::UnknownQuantity,
        Rule::NoQuantities,
        Rule::UnknownProfile,
        Rule::MissingRequiredQuantity,
        Rule::QuantityNotInProfile,
        Rule::ProfileMismatch,
        Rule::SenmlName,
        Rule::SenmlUnit,
        Rule::SenmlValue,
        Rule::SenmlSensor,
        Rule::SenmlConflict,
        Rule::SenmlVersion,
        Rule::SenmlEmpty,
        Rule::Late,
        Rule::OutsideArea,
        Rule::SensorMismatch,
        Rule::TooManySensors,
    ];

    /// The stable name of the rule.
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::Size => "size",
            Rule::JsonSyntax => "json-syntax",
            Rule::Type => "type",
            Rule::Required => "required",
            Rule::UnknownField => "unknown-field",
            Rule::DuplicateKey => "duplicate-key",
            Rule::Version => "version",
            Rule::SensorId => "sensor-id",
            Rule::Kind => "kind",
            Rule::Source => "source",
            Rule::TimeFormat => "time-format",
            Rule::ClockSkew => "clock-skew",
            Rule::TimeTooOld => "time-too-old",
            Rule::Range => "range",
            Rule::NotFinite => "not-finite",
            Rule::UnknownQuantity => "unknown-quantity",
            Rule::NoQuantities => "no-quantities",
            Rule::UnknownProfile => "unknown-profile",
            Rule::MissingRequiredQuantity => "missing-required-quantity",
            Rule::QuantityNotInProfile => "quantity-not-in-profile",
            Rule::ProfileMismatch => "profile-mismatch",
            Rule::SenmlName => "senml-name",
            Rule::SenmlUnit => "senml-unit",
            Rule::SenmlValue => "senml-value",
            Rule::SenmlSensor => "senml-sensor",
            Rule::SenmlConflict => "senml-conflict",
            Rule::SenmlVersion => "senml-version",
            Rule::SenmlEmpty => "senml-empty",
            Rule::Late => "late",
            Rule::OutsideArea => "outside-area",
            Rule::SensorMismatch => "sensor-mismatch",
            Rule::TooManySensors => "too-many-sensors",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem of a payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Where: an RFC 6901 JSON pointer into the payload (`""` is the whole payload).
    pub pointer: String,
    /// Which rule is broken.
    pub rule: Rule,
    /// What is wrong, naming the value.
    pub message: String,
    /// How to fix it.
    pub hint: String,
    /// How to fix it, in French: the same advice, with the same names and values.
    pub hint_fr: String,
}

impl Violation {
    /// A violation at `pointer`, with its hint in English and in French.
    pub fn new(
        pointer: impl Into<String>,
        rule: Rule,
        message: impl Into<String>,
        hint: impl Into<String>,
        hint_fr: impl Into<String>,
    ) -> Violation {
        Violation {
            pointer: pointer.into(),
            rule,
            message: message.into(),
            hint: hint.into(),
            hint_fr: hint_fr.into(),
        }
    }
}

impl fmt::Display for Violation {
    /// One line: `pointer: rule: message; hint: hint` (the whole payload is shown as `(root)`;
    /// the French hint is not in it: `garonne payload validate` prints it on a line of its own).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = if self.pointer.is_empty() {
            "(root)"
        } else {
            &self.pointer
        };
        write!(
            f,
            "{at}: {}: {}; hint: {}",
            self.rule, self.message, self.hint
        )
    }
}

/// A refused payload: the problems found, in document order, listed up to
/// [`Limits::max_violations`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid payload: {}", summary(.violations, *.more))]
pub struct Invalid {
    /// The problems, at least one. When there were more than the bound, the listed ones are
    /// followed by a last entry that says how many more there were (at the root, with the rule
    /// of the last one listed), so that a list shown as it is still tells the whole story.
    pub violations: Vec<Violation>,
    /// Problems found past the bound and not listed (0 when every one is listed).
    pub more: usize,
}

fn summary(violations: &[Violation], more: usize) -> String {
    // The last entry of a cut list counts the rest: it is not a problem of its own.
    let listed = violations.len() - usize::from(more > 0);
    match violations {
        [one] => one.to_string(),
        [first, ..] => format!("{first} (and {} more)", listed - 1 + more),
        [] => "no reason recorded".to_owned(),
    }
}

/// The problems of a payload as they are found: listed up to a bound, counted past it.
/// Performance: past the bound a problem costs a count, not a string, and the memory an
/// explanation takes no longer grows with the payload.
#[derive(Debug)]
pub(crate) struct Problems {
    listed: Vec<Violation>,
    max: usize,
    more: usize,
}

impl Problems {
    /// No problem yet, with the bound of `limits`.
    pub(crate) fn new(limits: &Limits) -> Problems {
        Problems {
            listed: Vec::new(),
            max: limits.max_violations.max(1),
            more: 0,
        }
    }

    /// Records a problem: listed while under the bound, counted past it.
    pub(crate) fn push(&mut self, violation: Violation) {
        self.push_with(|| violation);
    }

    /// Records a problem, building it only if it is listed. Performance: for the loops over a
    /// pack's records, where a hostile pack has a problem per record (building the 131,071
    /// problems of a 256 KiB pack only to count them took 110 ms).
    pub(crate) fn push_with(&mut self, violation: impl FnOnce() -> Violation) {
        if self.listed.len() < self.max {
            self.listed.push(violation());
        } else {
            self.more += 1;
        }
    }

    /// How many problems were found, listed or not.
    pub(crate) fn len(&self) -> usize {
        self.listed.len() + self.more
    }

    /// Whether no problem was found.
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The refusal: the listed problems, then, past the bound, one entry saying how many more.
    pub(crate) fn into_invalid(mut self) -> Invalid {
        if self.more > 0 {
            let rule = self.listed.last().map_or(Rule::JsonSyntax, |v| v.rule);
            let problems = if self.more == 1 {
                "problem"
            } else {
                "problems"
            };
            self.listed.push(Violation::new(
                "",
                rule,
                format!(
                    "and {} more {problems}, not listed (at most {} are)",
                    self.more, self.max
                ),
                "fix the problems above and check the payload again",
                "corrigez les problèmes ci-dessus, puis vérifiez à nouveau le message",
            ));
        }
        Invalid {
            violations: self.listed,
            more: self.more,
        }
    }

    /// `Ok(value)` when no problem was found, else the refusal.
    pub(crate) fn verdict<T>(self, value: T) -> Result<T, Invalid> {
        if self.is_empty() {
            Ok(value)
        } else {
            Err(self.into_invalid())
        }
    }
}

/// The bounds validation applies besides the physical ranges. [`Limits::default`] is the spec.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// How far ahead of the receiver's clock a reading's time may be, seconds.
    pub max_future_skew_secs: u32,
    /// The earliest accepted reading time: before it, the device clock is surely unset.
    pub earliest: Timestamp,
    /// Largest accepted single reading, bytes.
    pub max_reading_bytes: usize,
    /// Largest accepted SenML pack, bytes.
    pub max_pack_bytes: usize,
    /// Most records accepted in one SenML pack.
    pub max_pack_records: usize,
    /// Most problems listed in one refusal; past it they are only counted ([`Invalid::more`]).
    pub max_violations: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_future_skew_secs: 120,
            // 2000-01-01T00:00:00Z
            earliest: Timestamp::new(946_684_800, 0).unwrap_or(Timestamp::UNIX_EPOCH),
            max_reading_bytes: 4096,
            max_pack_bytes: 256 * 1024,
            max_pack_records: 5000,
            max_violations: 100,
        }
    }
}

/// Parses and validates one reading. `now` is the receiver's clock, for the clock-skew bound.
pub fn parse_reading(bytes: &[u8], now: Timestamp, limits: &Limits) -> Result<Reading, Invalid> {
    parse_reading_as(bytes, None, now, limits)
}

/// Parses and validates one reading as if it named `profile` (`garonne payload validate
/// --profile`, the validator page's profile choice): a reading that names no profile is checked
/// under `profile` and comes back naming it; one that names another profile is refused
/// ([`Rule::ProfileMismatch`], both names in the message).
pub fn parse_reading_under(
    bytes: &[u8],
    profile: ProfileId,
    now: Timestamp,
    limits: &Limits,
) -> Result<Reading, Invalid> {
    parse_reading_as(bytes, Some(profile), now, limits)
}

/// [`parse_reading`], under the `chosen` profile if there is one.
fn parse_reading_as(
    bytes: &[u8],
    chosen: Option<ProfileId>,
    now: Timestamp,
    limits: &Limits,
) -> Result<Reading, Invalid> {
    if bytes.len() > limits.max_reading_bytes {
        return Err(too_large(bytes.len(), limits.max_reading_bytes, "reading"));
    }
    match serde_json::from_slice::<Reading>(bytes) {
        Ok(mut reading) => {
            let mut out = Problems::new(limits);
            check_reading(&reading, chosen, now, limits, &mut out);
            if chosen.is_some() {
                reading.profile = chosen;
            }
            out.verdict(reading)
        }
        Err(fast_error) => {
            let mut out = Problems::new(limits);
            if let Some(value) = parse_json(bytes, &mut out) {
                explain_reading(&value, chosen, now, limits, &mut out);
            }
            if out.is_empty() {
                out.push(fallback(&fast_error));
            }
            Err(out.into_invalid())
        }
    }
}

/// Validates a reading built in code (the simulator's, the Pi agent's) before it is sent.
pub fn validate_reading(reading: &Reading, now: Timestamp, limits: &Limits) -> Result<(), Invalid> {
    let mut out = Problems::new(limits);
    check_reading(reading, None, now, limits, &mut out);
    out.verdict(())
}

/// Every value check of a typed reading, under the `chosen` profile if there is one.
fn check_reading(
    reading: &Reading,
    chosen: Option<ProfileId>,
    now: Timestamp,
    limits: &Limits,
    out: &mut Problems,
) {
    check_version(u64::from(reading.v), "/v", out);
    check_sensor_id(&reading.sensor_id, "/sensor_id", out);
    check_kind(&reading.kind, "/kind", out);
    let profile = resolve_profile(reading.profile, chosen, "/profile", out);
    check_time(reading.time, now, limits, "/time", out);
    check_location(&reading.location, out);
    if reading.quantities.is_empty() {
        out.push(no_quantities("/quantities"));
    }
    for (q, value) in reading.quantities.iter() {
        // Performance: the pointer is only formatted for a value that is refused.
        if !(value.is_finite() && q.in_range(value)) {
            check_quantity(q, value, &format!("/quantities/{}", q.name()), out);
        }
    }
    if let Some(profile) = profile {
        let present: SmallVec<[Quantity; 10]> = reading.quantities.iter().map(|(q, _)| q).collect();
        check_profile_quantities(
            profile,
            &present,
            |q| format!("/quantities/{}", q.name()),
            "/quantities",
            out,
        );
    }
}

/// The profile a reading is checked under: the `chosen` one if any, else the one it names. A
/// reading that names another profile than the chosen one is refused at `ptr`.
pub(crate) fn resolve_profile(
    named: Option<ProfileId>,
    chosen: Option<ProfileId>,
    ptr: &str,
    out: &mut Problems,
) -> Option<ProfileId> {
    match (named, chosen) {
        (Some(named), Some(chosen)) if named != chosen => {
            out.push(Violation::new(
                ptr,
                Rule::ProfileMismatch,
                format!(
                    "the reading names profile \"{named}\" but is checked under profile \"{chosen}\""
                ),
                format!(
                    "check it under profile \"{named}\", or write \"profile\": \"{chosen}\" if \
                     that is the profile it follows"
                ),
                format!(
                    "vérifiez-la sous le profil « {named} », ou écrivez \"profile\": \"{chosen}\" \
                     si c'est le profil qu'elle suit"
                ),
            ));
            Some(chosen)
        }
        (named, chosen) => chosen.or(named),
    }
}

/// The profile's rules for the quantities `present` in one reading: each is in the profile
/// (else refused at `ptr_of(q)`), and each of the profile's required quantities is there (else
/// refused at `missing_ptr`).
pub(crate) fn check_profile_quantities(
    profile: ProfileId,
    present: &[Quantity],
    ptr_of: impl Fn(Quantity) -> String,
    missing_ptr: &str,
    out: &mut Problems,
) {
    // Performance: the catalogue (and its lock) only for a reading that breaks the profile.
    if profile.is_followed_by(present) {
        return;
    }
    profile.with_profile(|p| {
        for q in present {
            if !p.ids.iter().any(|id| id.index() == q.index()) {
                out.push(quantity_not_in_profile(&ptr_of(*q), *q, p));
            }
        }
        for (pq, id) in p.profile.quantities.iter().zip(&p.ids) {
            if pq.required && !present.iter().any(|q| q.index() == id.index()) {
                out.push(missing_required_quantity(missing_ptr, &pq.def.name, p));
            }
        }
    });
}

/// How many names a hint lists before it says how many more there are.
const HINT_NAMES: usize = 12;

/// `names` as a hint lists them, in English and in French: quoted, comma-separated, at most
/// [`HINT_NAMES`].
fn name_list<'a>(names: impl ExactSizeIterator<Item = &'a str>) -> (String, String) {
    let total = names.len();
    let shown: Vec<&str> = names.take(HINT_NAMES).collect();
    let mut en: Vec<String> = shown.iter().map(|n| format!("\"{n}\"")).collect();
    let mut fr: Vec<String> = shown.iter().map(|n| format!("« {n} »")).collect();
    if total > HINT_NAMES {
        en.push(format!("and {} more", total - HINT_NAMES));
        fr.push(format!("et {} autres", total - HINT_NAMES));
    }
    (en.join(", "), fr.join(", "))
}

/// The unit of `q` as people read it, in French ([`Quantity::unit_label`] in English).
fn unit_label_fr(q: Quantity) -> &'static str {
    match q.unit_label() {
        "0 or 1" => "0 ou 1",
        "count" => "nombre entier",
        "number" => "nombre",
        label => label,
    }
}

/// The accepted range of `q` as people read it, in French ([`Quantity::range_label`] in
/// English).
fn range_label_fr(q: Quantity) -> String {
    q.range_label()
        .replace(" or ", " ou ")
        .replace(" (excluded)", " (exclu)")
        .replace(" to ", " à ")
}

pub(crate) fn quantity_not_in_profile(ptr: &str, q: Quantity, p: &CataloguedProfile) -> Violation {
    let name = &p.profile.name;
    let (en, fr) = name_list(p.profile.quantities.iter().map(|q| q.def.name.as_str()));
    Violation::new(
        ptr,
        Rule::QuantityNotInProfile,
        format!("quantity \"{q}\" is not in profile \"{name}\""),
        format!("remove it; the quantities of profile \"{name}\" are {en}"),
        format!("retirez-la ; les grandeurs du profil « {name} » sont {fr}"),
    )
}

pub(crate) fn missing_required_quantity(
    ptr: &str,
    quantity: &str,
    p: &CataloguedProfile,
) -> Violation {
    let name = &p.profile.name;
    let (hint, hint_fr) = match Quantity::from_name(quantity) {
        Some(q) => (
            format!(
                "add \"{quantity}\" ({}), a number in {}: {}",
                q.def().label.en,
                q.unit_label(),
                q.range_label()
            ),
            format!(
                "ajoutez « {quantity} » ({}), un nombre en {} : {}",
                q.def().label.fr,
                unit_label_fr(q),
                range_label_fr(q)
            ),
        ),
        None => (
            format!("add \"{quantity}\""),
            format!("ajoutez « {quantity} »"),
        ),
    };
    Violation::new(
        ptr,
        Rule::MissingRequiredQuantity,
        format!("profile \"{name}\" requires quantity \"{quantity}\", missing here"),
        hint,
        hint_fr,
    )
}

/// The refusal of a profile name that is not catalogued, at `ptr`: the closest names, the
/// profiles there are, and how a profile of one's own gets there.
pub fn unknown_profile(ptr: &str, name: &str) -> Violation {
    let (hint, hint_fr) = Quantity::with_catalogue(|c| {
        let closest = c.closest_profile_names(name);
        let (en, fr) = name_list(
            c.profiles()
                .map(|p| p.profile.name.as_str())
                .collect::<Vec<_>>()
                .into_iter(),
        );
        let publish = "a profile of your own is checked with garonne profile check FILE, then \
                       published by the teacher with garonne profile publish FILE";
        let publish_fr = "un profil à vous se vérifie avec garonne profile check FICHIER, puis \
                          l'enseignant le publie avec garonne profile publish FICHIER";
        match closest.first() {
            Some(best) => (
                format!("did you mean \"{best}\"? The profiles are {en}; {publish}"),
                format!("vouliez-vous dire « {best} » ? Les profils sont {fr} ; {publish_fr}"),
            ),
            None => (
                format!("the profiles are {en}; {publish}"),
                format!("les profils sont {fr} ; {publish_fr}"),
            ),
        }
    });
    Violation::new(
        ptr,
        Rule::UnknownProfile,
        format!("unknown profile \"{name}\""),
        hint,
        hint_fr,
    )
}

pub(crate) fn too_large(len: usize, max: usize, what: &str) -> Invalid {
    Invalid {
        violations: vec![Violation::new(
            "",
            Rule::Size,
            format!("the {what} is {len} bytes, more than the {max} bytes allowed"),
            "send fewer values per message, or split a SenML pack into several",
            "envoyez moins de valeurs par message, ou découpez le paquet SenML en plusieurs",
        )],
        more: 0,
    }
}

/// Parses JSON for the explaining path; a syntax error becomes a violation.
pub(crate) fn parse_json(bytes: &[u8], out: &mut Problems) -> Option<Value> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(value) => Some(value),
        Err(e) => {
            out.push(syntax_violation(&e));
            None
        }
    }
}

fn syntax_violation(e: &serde_json::Error) -> Violation {
    let text = e.to_string();
    if text.starts_with("number out of range") {
        return Violation::new(
            "",
            Rule::NotFinite,
            text,
            "numbers must fit in a 64-bit float; leave a quantity out when it has no valid value",
            "un nombre doit tenir dans un flottant de 64 bits ; omettez une grandeur qui n'a pas \
             de valeur valide",
        );
    }
    let (hint, hint_fr) = if text.starts_with("expected value") {
        (
            "NaN, Infinity, undefined and unquoted words are not JSON; leave a quantity out when \
             it has no valid value, and put strings in double quotes",
            "NaN, Infinity, undefined et les mots sans guillemets ne sont pas du JSON ; omettez \
             une grandeur qui n'a pas de valeur valide, et mettez les textes entre guillemets \
             droits",
        )
    } else if text.contains("EOF") {
        (
            "the JSON ends too early: check that every { and [ is closed",
            "le JSON s'arrête trop tôt : vérifiez que chaque { et chaque [ est refermé",
        )
    } else {
        (
            "check quotes, commas and braces at that place; keys need double quotes",
            "vérifiez les guillemets, les virgules et les accolades à cet endroit ; les clés \
             s'écrivent entre guillemets droits",
        )
    };
    Violation::new(
        "",
        Rule::JsonSyntax,
        format!("not valid JSON: {text}"),
        hint,
        hint_fr,
    )
}

fn fallback(e: &serde_json::Error) -> Violation {
    let text = e.to_string();
    if text.starts_with("duplicate") {
        Violation::new(
            "",
            Rule::DuplicateKey,
            text,
            "write each field once; JSON readers disagree on which copy wins",
            "écrivez chaque champ une seule fois ; les lecteurs JSON ne s'accordent pas sur la \
             copie qui l'emporte",
        )
    } else {
        Violation::new(
            "",
            Rule::Type,
            text,
            "compare the payload with the spec's field table",
            "comparez le message au tableau des champs de la spécification",
        )
    }
}

/// Where and which rule each problem of a result is: what the tests compare.
#[cfg(test)]
pub(crate) fn located<T>(result: Result<T, Invalid>) -> Vec<(String, Rule)> {
    match result {
        Ok(_) => Vec::new(),
        Err(e) => e
            .violations
            .into_iter()
            .map(|v| (v.pointer, v.rule))
            .collect(),
    }
}

/// Appends `key` to a JSON pointer, escaping `~` and `/` as RFC 6901 says.
pub(crate) fn pointer(base: &str, key: &str) -> String {
    let mut p = String::with_capacity(base.len() + key.len() + 1);
    p.push_str(base);
    p.push('/');
    for c in key.chars() {
        match c {
            '~' => p.push_str("~0"),
            '/' => p.push_str("~1"),
            c => p.push(c),
        }
    }
    p
}

/// A value as people say it: the scalar itself, or the container's type.
pub(crate) fn describe_value(v: &Value) -> String {
    match v {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) if s.chars().count() > 40 => "a long string".to_owned(),
        Value::String(s) => format!("the string \"{s}\""),
        Value::Array(_) => "an array".to_owned(),
        Value::Object(_) => "an object".to_owned(),
    }
}

/// A value of the wrong JSON type at `ptr`; `hint` is in English and in French.
pub(crate) fn wrong_type(
    ptr: &str,
    expected: &str,
    found: &Value,
    [hint, hint_fr]: [&str; 2],
) -> Violation {
    Violation::new(
        ptr,
        Rule::Type,
        format!("expected {expected}, found {}", describe_value(found)),
        hint,
        hint_fr,
    )
}

/// The fields of a reading, in spec order, with the hint shown when one is missing (in English
/// and in French).
const READING_FIELDS: [(&str, [&str; 2]); 8] = [
    (
        "v",
        [
            "add \"v\": 1, the spec version",
            "ajoutez \"v\": 1, la version de la spécification",
        ],
    ),
    (
        "sensor_id",
        [
            "add \"sensor_id\", the sensor's unique name, e.g. \"pi-lycee-b12\"",
            "ajoutez \"sensor_id\", le nom unique du capteur, par exemple \"pi-lycee-b12\"",
        ],
    ),
    (
        "kind",
        [
            "add \"kind\", the kind of device, e.g. \"weather-station\" or \"bme280\"",
            "ajoutez \"kind\", le type d'appareil, par exemple \"weather-station\" ou \"bme280\"",
        ],
    ),
    (
        "source",
        [
            "add \"source\": one of opendata-replay, opendata-estimate, virtual, raspberry-pi, \
             device, replay",
            "ajoutez \"source\" : une valeur parmi opendata-replay, opendata-estimate, virtual, \
             raspberry-pi, device, replay",
        ],
    ),
    (
        "time",
        [
            "add \"time\", when it was measured, in UTC: e.g. \"2025-11-24T10:15:00Z\"",
            "ajoutez \"time\", l'instant de la mesure, en UTC : par exemple \
             \"2025-11-24T10:15:00Z\"",
        ],
    ),
    (
        "seq",
        [
            "add \"seq\", a counter that goes up by 1 with every reading, starting at 0",
            "ajoutez \"seq\", un compteur qui augmente de 1 à chaque mesure, à partir de 0",
        ],
    ),
    (
        "location",
        [
            "add \"location\": {\"lon\": 1.4442, \"lat\": 43.6047}",
            "ajoutez \"location\" : {\"lon\": 1.4442, \"lat\": 43.6047}",
        ],
    ),
    (
        "quantities",
        [
            "add \"quantities\" with at least one value, e.g. {\"temperature\": 12.5}",
            "ajoutez \"quantities\" avec au moins une valeur, par exemple {\"temperature\": 12.5}",
        ],
    ),
];

/// The optional fields of a reading, in spec order.
const OPTIONAL_READING_FIELDS: [&str; 1] = ["profile"];

/// Walks a JSON value as a reading, under the `chosen` profile if there is one, reporting every
/// problem.
pub(crate) fn explain_reading(
    value: &Value,
    chosen: Option<ProfileId>,
    now: Timestamp,
    limits: &Limits,
    out: &mut Problems,
) {
    let Some(obj) = value.as_object() else {
        out.push(wrong_type(
            "",
            "a JSON object (one reading) or an array (a SenML pack)",
            value,
            [
                "a reading is an object such as {\"v\": 1, \"sensor_id\": ...}",
                "une mesure est un objet comme {\"v\": 1, \"sensor_id\": ...}",
            ],
        ));
        return;
    };
    let mut profile = chosen;
    for (field, [hint, hint_fr]) in READING_FIELDS {
        let ptr = pointer("", field);
        match obj.get(field) {
            Some(v) => explain_field(field, v, &ptr, profile, now, limits, out),
            None => out.push(Violation::new(
                ptr,
                Rule::Required,
                format!("missing field {field}"),
                hint,
                hint_fr,
            )),
        }
        // The optional `profile` is explained in its place in the spec's table, after `kind`.
        if field == "kind" {
            profile = explain_profile(obj.get("profile"), chosen, out);
        }
    }
    let mut known: Vec<&str> = READING_FIELDS.map(|(f, _)| f).to_vec();
    known.insert(3, OPTIONAL_READING_FIELDS[0]);
    unknown_fields(obj, "", &known, out);
}

/// Checks a reading's `profile` field, if it has one; returns the profile to check it under.
fn explain_profile(
    v: Option<&Value>,
    chosen: Option<ProfileId>,
    out: &mut Problems,
) -> Option<ProfileId> {
    let ptr = "/profile";
    let named = match v {
        None => None,
        Some(Value::String(name)) => match ProfileId::from_name(name) {
            Some(p) => Some(p),
            None => {
                out.push(unknown_profile(ptr, name));
                return chosen;
            }
        },
        Some(other) => {
            out.push(wrong_type(
                ptr,
                "a string",
                other,
                [
                    "write the profile's name in double quotes, e.g. \"profile\": \"air-quality\"",
                    "écrivez le nom du profil entre guillemets droits, par exemple \
                     \"profile\": \"air-quality\"",
                ],
            ));
            return chosen;
        }
    };
    resolve_profile(named, chosen, ptr, out)
}

/// Checks one field of a reading at `ptr`.
fn explain_field(
    field: &str,
    v: &Value,
    ptr: &str,
    profile: Option<ProfileId>,
    now: Timestamp,
    limits: &Limits,
    out: &mut Problems,
) {
    match field {
        "v" => match v.as_u64() {
            Some(n) => check_version(n, ptr, out),
            None => out.push(wrong_type(
                ptr,
                "a whole number",
                v,
                ["write \"v\": 1", "écrivez \"v\": 1"],
            )),
        },
        "sensor_id" | "kind" => match v.as_str() {
            Some(s) if field == "sensor_id" => check_sensor_id(s, ptr, out),
            Some(s) => check_kind(s, ptr, out),
            None => out.push(wrong_type(
                ptr,
                "a string",
                v,
                [
                    "put the text in double quotes",
                    "mettez le texte entre guillemets droits",
                ],
            )),
        },
        "source" => match v.as_str() {
            Some(s) => check_source(s, ptr, out),
            None => out.push(wrong_type(
                ptr,
                "a string",
                v,
                [
                    "e.g. \"source\": \"device\"",
                    "par exemple \"source\": \"device\"",
                ],
            )),
        },
        "time" => match v.as_str() {
            Some(s) => match Timestamp::parse(s) {
                Ok(t) => check_time(t, now, limits, ptr, out),
                Err(e) => out.push(time_format(ptr, s, &e)),
            },
            None => out.push(wrong_type(
                ptr,
                "a string",
                v,
                [
                    "write the time as text in UTC, e.g. \"2025-11-24T10:15:00Z\", not a Unix \
                     number",
                    "écrivez l'instant en texte, en UTC, par exemple \"2025-11-24T10:15:00Z\", \
                     pas en nombre Unix",
                ],
            )),
        },
        "seq" => {
            if v.as_u64().is_none() {
                out.push(wrong_type(
                    ptr,
                    "a whole number from 0 up",
                    v,
                    [
                        "count readings with an integer: 0, 1, 2...",
                        "comptez les mesures avec un entier : 0, 1, 2...",
                    ],
                ));
            }
        }
        "location" => explain_location(v, ptr, out),
        _ => explain_quantities(v, ptr, profile, out),
    }
}

/// Reports each key of `obj` (at `ptr`) that is not one of `known`.
fn unknown_fields(obj: &Map<String, Value>, ptr: &str, known: &[&str], out: &mut Problems) {
    for key in obj.keys() {
        if !known.contains(&key.as_str()) {
            out.push(unknown_field(&pointer(ptr, key), key, known));
        }
    }
}

fn explain_location(v: &Value, ptr: &str, out: &mut Problems) {
    let Some(obj) = v.as_object() else {
        out.push(wrong_type(
            ptr,
            "an object",
            v,
            [
                "write {\"lon\": 1.4442, \"lat\": 43.6047}",
                "écrivez {\"lon\": 1.4442, \"lat\": 43.6047}",
            ],
        ));
        return;
    };
    let mut lon = None;
    let mut lat = None;
    let mut alt = None;
    for (name, slot, required) in [
        ("lon", &mut lon, true),
        ("lat", &mut lat, true),
        ("alt", &mut alt, false),
    ] {
        let p = pointer(ptr, name);
        match obj.get(name) {
            None if required => out.push(Violation::new(
                p,
                Rule::Required,
                format!("missing field {name}"),
                "a location has \"lon\" and \"lat\" in WGS84 degrees (GPS coordinates)",
                "une position a \"lon\" et \"lat\" en degrés WGS84 (coordonnées GPS)",
            )),
            None => {}
            Some(x) => match x.as_f64() {
                Some(n) => *slot = Some(n),
                None => {
                    let hint = if name == "alt" {
                        [
                            "write metres as a number, or leave alt out when unknown",
                            "écrivez les mètres en nombre, ou omettez alt s'il est inconnu",
                        ]
                    } else {
                        [
                            "write degrees as a number, e.g. 43.6047",
                            "écrivez les degrés en nombre, par exemple 43.6047",
                        ]
                    };
                    out.push(wrong_type(&p, "a number", x, hint));
                }
            },
        }
    }
    unknown_fields(obj, ptr, &["lon", "lat", "alt"], out);
    for (name, value) in [("lon", lon), ("lat", lat), ("alt", alt)] {
        if let Some(x) = value {
            check_coordinate(name, x, &pointer(ptr, name), out);
        }
    }
}

fn explain_quantities(v: &Value, ptr: &str, profile: Option<ProfileId>, out: &mut Problems) {
    let Some(obj) = v.as_object() else {
        out.push(wrong_type(
            ptr,
            "an object",
            v,
            [
                "write {\"temperature\": 12.5, \"relativeHumidity\": 0.8}",
                "écrivez {\"temperature\": 12.5, \"relativeHumidity\": 0.8}",
            ],
        ));
        return;
    };
    if obj.is_empty() {
        out.push(no_quantities(ptr));
    }
    let mut present: SmallVec<[Quantity; 10]> = SmallVec::new();
    for (name, x) in obj {
        let p = pointer(ptr, name);
        let Some(q) = Quantity::from_name(name) else {
            out.push(unknown_quantity(&p, name));
            continue;
        };
        present.push(q);
        match x.as_f64() {
            Some(n) => check_quantity(q, n, &p, out),
            None => {
                let hint = match x {
                    Value::Null => [
                        "leave the quantity out when the sensor has no value",
                        "omettez la grandeur quand le capteur n'a pas de valeur",
                    ],
                    Value::String(_) => [
                        "write the number without quotes",
                        "écrivez le nombre sans guillemets",
                    ],
                    _ => [
                        "write one number in the spec's unit",
                        "écrivez un seul nombre, dans l'unité de la spécification",
                    ],
                };
                out.push(wrong_type(&p, "a number", x, hint));
            }
        }
    }
    if let Some(profile) = profile {
        check_profile_quantities(profile, &present, |q| pointer(ptr, q.name()), ptr, out);
    }
}

pub(crate) fn unknown_field(ptr: &str, key: &str, known: &[&str]) -> Violation {
    let alias = match key.to_ascii_lowercase().as_str() {
        "timestamp" | "ts" | "date" | "datetime" | "dateobserved" | "t" => Some("time"),
        "id" | "sensor" | "sensorid" | "device_id" | "deviceid" | "name" => Some("sensor_id"),
        "values" | "data" | "measurements" | "readings" | "measures" => Some("quantities"),
        "version" | "ver" => Some("v"),
        "sequence" | "seq_no" | "counter" | "count" => Some("seq"),
        "lng" | "long" | "longitude" | "x" => Some("lon"),
        "latitude" | "y" => Some("lat"),
        "altitude" | "elevation" | "z" => Some("alt"),
        "position" | "geo" | "coordinates" | "loc" => Some("location"),
        "type" => Some("kind"),
        _ => None,
    };
    let (hint, hint_fr) = match alias.filter(|a| known.contains(a)) {
        Some(a) => (
            format!("did you mean \"{a}\"?"),
            format!("vouliez-vous dire « {a} » ?"),
        ),
        None => (
            format!("remove it; the fields here are {}", known.join(", ")),
            format!("retirez-le ; les champs ici sont {}", known.join(", ")),
        ),
    };
    Violation::new(
        ptr,
        Rule::UnknownField,
        format!("unknown field \"{key}\""),
        hint,
        hint_fr,
    )
}

pub(crate) fn unknown_quantity(ptr: &str, name: &str) -> Violation {
    let closest = Quantity::with_catalogue(|c| {
        let names = c.closest_names(name);
        names
            .iter()
            .take(3)
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
    });
    let new = "garonne profile new NAME (docs/profiles.md)";
    let new_fr = "garonne profile new NOM (docs/fr/profils.md)";
    let (hint, hint_fr) = match Quantity::from_alias(name) {
        Some(q) => (
            format!("did you mean \"{}\"? (unit: {})", q.name(), q.unit_label()),
            format!(
                "vouliez-vous dire « {} » ? (unité : {})",
                q.name(),
                unit_label_fr(q)
            ),
        ),
        None if !closest.is_empty() => {
            let (en, fr) = name_list(closest.iter().map(String::as_str));
            (
                format!("did you mean {en}? A quantity of your own needs a profile: {new}"),
                format!(
                    "vouliez-vous dire {fr} ? Une grandeur à vous demande un profil : {new_fr}"
                ),
            )
        }
        None => (
            format!("a quantity of your own needs a profile: {new}"),
            format!("une grandeur à vous demande un profil : {new_fr}"),
        ),
    };
    Violation::new(
        ptr,
        Rule::UnknownQuantity,
        format!("unknown quantity \"{name}\""),
        hint,
        hint_fr,
    )
}

pub(crate) fn no_quantities(ptr: &str) -> Violation {
    Violation::new(
        ptr,
        Rule::NoQuantities,
        "a reading must carry at least one quantity",
        "add a measured value, e.g. {\"temperature\": 12.5}; a sensor with nothing to report \
         sends no reading",
        "ajoutez une valeur mesurée, par exemple {\"temperature\": 12.5} ; un capteur qui n'a \
         rien à signaler n'envoie pas de mesure",
    )
}

pub(crate) fn time_format(ptr: &str, text: &str, e: &TimestampError) -> Violation {
    Violation::new(
        ptr,
        Rule::TimeFormat,
        format!("\"{text}\" is not an RFC 3339 UTC time: {e}"),
        "write UTC with a final Z, e.g. \"2025-11-24T10:15:00Z\" or \"2025-11-24T10:15:00.250Z\"",
        "écrivez l'heure en UTC avec un Z final, par exemple \"2025-11-24T10:15:00Z\" ou \
         \"2025-11-24T10:15:00.250Z\"",
    )
}

// ---- Value checks shared by both paths -------------------------------------------------------

pub(crate) fn check_version(v: u64, ptr: &str, out: &mut Problems) {
    if v != u64::from(SPEC_VERSION) {
        out.push(Violation::new(
            ptr,
            Rule::Version,
            format!(
                "spec version {v} is not supported; this validator knows version {SPEC_VERSION}"
            ),
            "write \"v\": 1, or update Garonne if the sensor speaks a newer spec",
            "écrivez \"v\": 1, ou mettez Garonne à jour si le capteur suit une spécification plus \
             récente",
        ));
    }
}

/// Whether `id` is a valid sensor id: 1–128 of `A–Z a–z 0–9 . _ -`, starting alphanumeric.
pub fn is_valid_sensor_id(id: &str) -> bool {
    let b = id.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
}

/// A valid sensor id made from any text (a neighbourhood id, a client id): characters outside
/// `A–Z a–z 0–9 . _ -` become `-`, a leading `.`, `_` or `-` gets an `s` in front, and the result
/// is cut to 128 characters. Empty text gives `s`.
pub fn sensor_id_from(text: &str) -> String {
    let mut id: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect();
    if !id.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        id.insert(0, 's');
    }
    id.truncate(128);
    id
}

pub(crate) fn check_sensor_id(id: &str, ptr: &str, out: &mut Problems) {
    if !is_valid_sensor_id(id) {
        let why = if id.is_empty() {
            "the sensor id is empty".to_owned()
        } else if id.len() > 128 {
            format!(
                "the sensor id is {} characters long, more than 128",
                id.len()
            )
        } else {
            format!("\"{id}\" is not a valid sensor id")
        };
        out.push(Violation::new(
            ptr,
            Rule::SensorId,
            why,
            "use 1 to 128 letters, digits, '.', '_' or '-', starting with a letter or digit \
             (no spaces, '/', '+' or '#': the id is part of the MQTT topic)",
            "utilisez 1 à 128 lettres, chiffres, '.', '_' ou '-', en commençant par une lettre ou \
             un chiffre (ni espace, ni '/', '+' ou '#' : l'identifiant fait partie du topic MQTT)",
        ));
    }
}

/// Whether `kind` is a lower-case slug of 1–32 characters.
pub fn is_valid_kind(kind: &str) -> bool {
    let b = kind.as_bytes();
    !b.is_empty()
        && b.len() <= 32
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
}

pub(crate) fn check_kind(kind: &str, ptr: &str, out: &mut Problems) {
    if !is_valid_kind(kind) {
        out.push(Violation::new(
            ptr,
            Rule::Kind,
            format!("\"{kind}\" is not a valid kind"),
            "use 1 to 32 lower-case letters, digits or '-', starting with a letter, e.g. \
             \"weather-station\"",
            "utilisez 1 à 32 lettres minuscules, chiffres ou '-', en commençant par une lettre, \
             par exemple \"weather-station\"",
        ));
    }
}

pub(crate) fn check_source(source: &str, ptr: &str, out: &mut Problems) {
    if Source::from_name(source).is_none() {
        let sources = Source::ALL.map(Source::as_str).join(", ");
        out.push(Violation::new(
            ptr,
            Rule::Source,
            format!("\"{source}\" is not a known source"),
            format!("use one of {sources}"),
            format!("choisissez parmi {sources}"),
        ));
    }
}

/// Whether a time passes [`check_time`], without building anything.
pub(crate) fn time_ok(t: Timestamp, now: Timestamp, limits: &Limits) -> bool {
    t.secs_since(now) <= f64::from(limits.max_future_skew_secs) && t >= limits.earliest
}

pub(crate) fn check_time(
    t: Timestamp,
    now: Timestamp,
    limits: &Limits,
    ptr: &str,
    out: &mut Problems,
) {
    let ahead = t.secs_since(now);
    if ahead > f64::from(limits.max_future_skew_secs) {
        out.push(Violation::new(
            ptr,
            Rule::ClockSkew,
            format!(
                "{t} is more than {} s ahead of the receiver's clock",
                limits.max_future_skew_secs
            ),
            "set the device clock by NTP, and write the time in UTC, not local time",
            "réglez l'horloge de l'appareil par NTP, et écrivez l'heure en UTC, pas en heure \
             locale",
        ));
    } else if t < limits.earliest {
        out.push(Violation::new(
            ptr,
            Rule::TimeTooOld,
            format!("{t} is before {}", limits.earliest),
            "the device clock is not set: sync it by NTP (a Raspberry Pi has no battery clock)",
            "l'horloge de l'appareil n'est pas réglée : synchronisez-la par NTP (un Raspberry Pi \
             n'a pas d'horloge sur pile)",
        ));
    }
}

fn check_location(loc: &Location, out: &mut Problems) {
    check_coordinate("lon", loc.lon, "/location/lon", out);
    check_coordinate("lat", loc.lat, "/location/lat", out);
    if let Some(alt) = loc.alt {
        check_coordinate("alt", alt, "/location/alt", out);
    }
}

pub(crate) fn check_coordinate(name: &str, value: f64, ptr: &str, out: &mut Problems) {
    let (min, max, unit, [hint, hint_fr]) = match name {
        "lon" => (
            -180.0,
            180.0,
            "°",
            [
                "longitude is in WGS84 degrees east (Toulouse: about 1.44)",
                "la longitude est en degrés WGS84 vers l'est (Toulouse : environ 1.44)",
            ],
        ),
        "lat" => (
            -90.0,
            90.0,
            "°",
            [
                "latitude is in WGS84 degrees north (Toulouse: about 43.60)",
                "la latitude est en degrés WGS84 vers le nord (Toulouse : environ 43.60)",
            ],
        ),
        _ => (
            -500.0,
            9000.0,
            " m",
            [
                "altitude is in metres above sea level; leave it out if unknown",
                "l'altitude est en mètres au-dessus du niveau de la mer ; omettez-la si elle est \
                 inconnue",
            ],
        ),
    };
    if !value.is_finite() {
        out.push(not_finite(ptr, name));
    } else if !(min..=max).contains(&value) {
        out.push(Violation::new(
            ptr,
            Rule::Range,
            format!("{name} {value} is outside {min}{unit} to {max}{unit}"),
            hint,
            hint_fr,
        ));
    }
}

fn not_finite(ptr: &str, name: &str) -> Violation {
    Violation::new(
        ptr,
        Rule::NotFinite,
        format!("{name} is not a finite number"),
        "leave a value out when the sensor has none; never send NaN or infinity",
        "omettez une valeur quand le capteur n'en a pas ; n'envoyez jamais NaN ni l'infini",
    )
}

pub(crate) fn check_quantity(q: Quantity, value: f64, ptr: &str, out: &mut Problems) {
    if !value.is_finite() {
        out.push(not_finite(ptr, q.name()));
        return;
    }
    if q.in_range(value) {
        return;
    }
    let message = if q.def().integer {
        format!("{} {value} is not {}", q.name(), q.range_label())
    } else {
        format!("{} {value} is outside {}", q.name(), q.range_label())
    };
    let (hint, hint_fr) = range_hint(q, value);
    out.push(Violation::new(ptr, Rule::Range, message, hint, hint_fr));
}

/// The hint for an out-of-range value, in English and in French: the known sentinels and unit
/// mistakes first.
fn range_hint(q: Quantity, value: f64) -> (String, String) {
    const SENTINEL: &str = "is the Toulouse stations' \"no data\" value: leave the quantity out";
    const SENTINEL_FR: &str =
        "est la valeur « pas de donnée » des stations de Toulouse : omettez la grandeur";
    match q {
        Quantity::Temperature if value == -50.0 => (
            format!("-50 °C {SENTINEL}"),
            format!("-50 °C {SENTINEL_FR}"),
        ),
        Quantity::Temperature if value > 200.0 => (
            "that looks like kelvin: subtract 273.15 to get °C".to_owned(),
            "cela ressemble à des kelvins : soustrayez 273.15 pour obtenir des °C".to_owned(),
        ),
        Quantity::RelativeHumidity if value == 0.0 => (
            format!("0 % humidity {SENTINEL}"),
            format!("0 % d'humidité {SENTINEL_FR}"),
        ),
        Quantity::RelativeHumidity if value > 1.0 && value <= 100.0 => {
            let fraction = value / 100.0;
            (
                format!(
                    "relativeHumidity is a fraction: divide the percentage by 100 ({value} % → \
                     {fraction})"
                ),
                format!(
                    "relativeHumidity est une fraction : divisez le pourcentage par 100 ({value} % \
                     → {fraction})"
                ),
            )
        }
        Quantity::AtmosphericPressure if value == 90_000.0 || value == 900.0 => (
            format!("90000 Pa (900 hPa) {SENTINEL}"),
            format!("90000 Pa (900 hPa) {SENTINEL_FR}"),
        ),
        Quantity::AtmosphericPressure if (80_000.0..=110_000.0).contains(&value) => {
            let hpa = value / 100.0;
            (
                format!(
                    "that looks like pascals: divide by 100 to get hPa ({value} Pa → {hpa} hPa)"
                ),
                format!(
                    "cela ressemble à des pascals : divisez par 100 pour obtenir des hPa ({value} \
                     Pa → {hpa} hPa)"
                ),
            )
        }
        _ => {
            let (name, unit, unit_fr) = (q.name(), q.unit_label(), unit_label_fr(q));
            match &q.def().range_reason {
                Some(why) => (
                    format!("{name} is in {unit}: {}", why.en),
                    format!("{name} est en {unit_fr} : {}", why.fr),
                ),
                None => (
                    format!("{name} is in {unit}"),
                    format!("{name} est en {unit_fr}"),
                ),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        Timestamp::parse("2025-11-24T12:00:00Z").expect("valid")
    }

    const GOOD: &str = r#"{"v":1,"sensor_id":"pi-lycee-b12","kind":"bme280","source":"raspberry-pi","time":"2025-11-24T10:15:00Z","seq":3,"location":{"lon":1.4442,"lat":43.6047},"quantities":{"temperature":12.5}}"#;

    fn errors(json: &str) -> Vec<(String, Rule)> {
        located(parse_reading(json.as_bytes(), now(), &Limits::default()))
    }

    #[test]
    fn a_good_reading_passes() {
        let r = parse_reading(GOOD.as_bytes(), now(), &Limits::default()).expect("valid");
        assert_eq!(r.quantities.get(Quantity::Temperature), Some(12.5));
    }

    /// Issue 14: before profiles, `pm25` was an unknown quantity.
    #[test]
    fn the_quantities_of_every_built_in_profile_are_accepted_by_their_rules() {
        let air = GOOD.replace(
            r#""temperature":12.5"#,
            r#""pm25":12.1,"no2":31,"LAeq":54.5,"availableBikeNumber":7"#,
        );
        let r = parse_reading(air.as_bytes(), now(), &Limits::default()).expect("valid");
        let pm25 = Quantity::from_name("pm25").expect("catalogued");
        assert_eq!(r.quantities.get(pm25), Some(12.1));
        assert_eq!(r.quantities.len(), 4);
        // Their ranges and integer rules hold as weather's do.
        for (value, rule) in [
            (r#""availableBikeNumber":7.5"#, Rule::Range),
            (r#""pm25":-1"#, Rule::Range),
        ] {
            let bad = GOOD.replace(r#""temperature":12.5"#, value);
            assert_eq!(errors(&bad)[0].1, rule, "{value}");
        }
        // A typo gets the closest names, and how to bring a quantity of one's own.
        let typo = GOOD.replace(r#""temperature":12.5"#, r#""pm2_5":12"#);
        let invalid = parse_reading(typo.as_bytes(), now(), &Limits::default()).expect_err("typo");
        let hint = &invalid.violations[0].hint;
        assert!(
            hint.contains("\"pm25\"") && hint.contains("garonne profile new"),
            "{hint}"
        );
    }

    /// Issue 14: a reading may name its profile (spec 1.1); then it carries the profile's
    /// required quantities and nothing outside it.
    #[test]
    fn a_reading_that_names_its_profile_follows_it() {
        let air = |quantities: &str| {
            GOOD.replace(
                r#""kind":"bme280","#,
                r#""kind":"bme280","profile":"air-quality","#,
            )
            .replace(r#"{"temperature":12.5}"#, quantities)
        };
        let r = parse_reading(
            air(r#"{"pm25":12.1,"no2":31}"#).as_bytes(),
            now(),
            &Limits::default(),
        )
        .expect("valid");
        assert_eq!(r.profile, ProfileId::from_name("air-quality"));
        // It goes back on the wire with its profile, after `kind`.
        let json = String::from_utf8(r.to_json()).expect("utf-8");
        assert!(
            json.contains(r#""kind":"bme280","profile":"air-quality","source""#),
            "{json}"
        );
        assert_eq!(
            parse_reading(json.as_bytes(), now(), &Limits::default()),
            Ok(r)
        );

        assert_eq!(
            errors(&air(r#"{"no2":31}"#)),
            vec![("/quantities".to_owned(), Rule::MissingRequiredQuantity)]
        );
        assert_eq!(
            errors(&air(r#"{"pm25":12.1,"temperature":12.5}"#)),
            vec![(
                "/quantities/temperature".to_owned(),
                Rule::QuantityNotInProfile
            )]
        );
        let invalid = parse_reading(
            air(r#"{"no2":31,"temperature":12.5}"#).as_bytes(),
            now(),
            &Limits::default(),
        )
        .expect_err("two problems");
        let lines: Vec<String> = invalid
            .violations
            .iter()
            .map(Violation::to_string)
            .collect();
        assert!(
            lines[0].starts_with(
                "/quantities/temperature: quantity-not-in-profile: quantity \"temperature\" is not \
                 in profile \"air-quality\"; hint: remove it; the quantities of profile \
                 \"air-quality\" are \"pm25\", \"pm10\""
            ),
            "{lines:?}"
        );
        assert_eq!(
            lines[1],
            "/quantities: missing-required-quantity: profile \"air-quality\" requires quantity \
             \"pm25\", missing here; hint: add \"pm25\" (PM2.5), a number in µg/m³: 0 to 1000 µg/m³"
        );

        // An unknown profile gets the closest names and how to bring one's own.
        let typo = air(r#"{"pm25":1}"#).replace("air-quality", "air-qality");
        let invalid = parse_reading(typo.as_bytes(), now(), &Limits::default()).expect_err("typo");
        assert_eq!(invalid.violations.len(), 1, "{invalid}");
        let v = &invalid.violations[0];
        assert_eq!(
            (v.pointer.as_str(), v.rule),
            ("/profile", Rule::UnknownProfile)
        );
        assert!(
            v.hint.starts_with("did you mean \"air-quality\"?")
                && v.hint.contains("garonne profile check")
                && v.hint.contains("garonne profile publish"),
            "{}",
            v.hint
        );
        let number = air(r#"{"pm25":1}"#).replace(r#""air-quality""#, "5");
        assert_eq!(errors(&number), vec![("/profile".to_owned(), Rule::Type)]);
        // Without a profile, any catalogued quantity, as before.
        assert_eq!(errors(&GOOD.replace("temperature", "no2")), vec![]);
    }

    /// `garonne payload validate --profile`: as if the reading named the profile.
    #[test]
    fn a_reading_checked_under_a_chosen_profile() {
        let air = ProfileId::from_name("air-quality").expect("built in");
        let weather = ProfileId::from_name("weather").expect("built in");
        let under = |json: &str, p| {
            located(parse_reading_under(
                json.as_bytes(),
                p,
                now(),
                &Limits::default(),
            ))
        };
        assert_eq!(
            under(GOOD, air),
            vec![
                (
                    "/quantities/temperature".to_owned(),
                    Rule::QuantityNotInProfile
                ),
                ("/quantities".to_owned(), Rule::MissingRequiredQuantity),
            ]
        );
        let r = parse_reading_under(GOOD.as_bytes(), weather, now(), &Limits::default())
            .expect("valid");
        assert_eq!(r.profile, Some(weather), "it comes back naming the profile");
        // A reading that names another profile: both names are said.
        let named = GOOD.replace(
            r#""kind":"bme280","#,
            r#""kind":"bme280","profile":"weather","#,
        );
        let invalid = parse_reading_under(named.as_bytes(), air, now(), &Limits::default())
            .expect_err("mismatch");
        let v = &invalid.violations[0];
        assert_eq!(
            (v.pointer.as_str(), v.rule),
            ("/profile", Rule::ProfileMismatch)
        );
        assert!(
            v.message.contains("\"weather\"") && v.message.contains("\"air-quality\""),
            "{v}"
        );
        // The explaining path says the same (here a second problem sends it there).
        let broken = named.replace("\"seq\":3", "\"seq\":-1");
        assert_eq!(
            under(&broken, air),
            [
                ("/profile".to_owned(), Rule::ProfileMismatch),
                ("/seq".to_owned(), Rule::Type),
                (
                    "/quantities/temperature".to_owned(),
                    Rule::QuantityNotInProfile
                ),
                ("/quantities".to_owned(), Rule::MissingRequiredQuantity),
            ]
        );
    }

    #[test]
    fn every_missing_field_is_reported_with_its_pointer() {
        let got = errors("{}");
        let want: Vec<(String, Rule)> = READING_FIELDS
            .iter()
            .map(|(f, _)| (format!("/{f}"), Rule::Required))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn each_rule_is_reported_where_it_is_broken() {
        let cases: &[(&str, &str, Rule)] = &[
            ("\"v\":1", "\"v\":2", Rule::Version),
            ("\"v\":1", "\"v\":\"1\"", Rule::Type),
            ("pi-lycee-b12", "pi lycee/b12", Rule::SensorId),
            ("\"bme280\"", "\"BME 280\"", Rule::Kind),
            ("raspberry-pi", "raspberry", Rule::Source),
            (
                "2025-11-24T10:15:00Z",
                "2025-11-24T11:15:00+01:00",
                Rule::TimeFormat,
            ),
            (
                "2025-11-24T10:15:00Z",
                "2025-11-24T12:03:00Z",
                Rule::ClockSkew,
            ),
            (
                "2025-11-24T10:15:00Z",
                "1970-01-01T00:00:12Z",
                Rule::TimeTooOld,
            ),
            ("\"seq\":3", "\"seq\":-1", Rule::Type),
            ("\"lat\":43.6047", "\"lat\":95", Rule::Range),
            ("\"temperature\":12.5", "\"temperature\":-50", Rule::Range),
            (
                "\"temperature\":12.5",
                "\"temperature\":1e999",
                Rule::NotFinite,
            ),
            (
                "\"temperature\":12.5",
                "\"temperature\":NaN",
                Rule::JsonSyntax,
            ),
            (
                "\"temperature\":12.5",
                "\"humidity\":0.5",
                Rule::UnknownQuantity,
            ),
            ("\"temperature\":12.5", "\"temperature\":null", Rule::Type),
            ("{\"temperature\":12.5}", "{}", Rule::NoQuantities),
            ("\"seq\":3,", "\"seq\":3,\"seq\":4,", Rule::DuplicateKey),
            (
                "\"seq\":3,",
                "\"seq\":3,\"timestamp\":4,",
                Rule::UnknownField,
            ),
        ];
        for (from, to, rule) in cases {
            assert!(GOOD.contains(from), "{from}");
            let json = GOOD.replacen(from, to, 1);
            let got = errors(&json);
            assert_eq!(got.len(), 1, "{json}: {got:?}");
            assert_eq!(got[0].1, *rule, "{json}");
        }
    }

    #[test]
    fn all_problems_are_reported_not_only_the_first() {
        let json = GOOD
            .replace("\"v\":1", "\"v\":2")
            .replace("12.5", "-50")
            .replace("43.6047", "95");
        let got = errors(&json);
        assert_eq!(
            got,
            vec![
                ("/v".to_owned(), Rule::Version),
                ("/location/lat".to_owned(), Rule::Range),
                ("/quantities/temperature".to_owned(), Rule::Range),
            ]
        );
    }

    #[test]
    fn sentinel_and_unit_mistakes_get_specific_hints() {
        let hint = |q: Quantity, v: f64| range_hint(q, v).0;
        assert!(hint(Quantity::Temperature, -50.0).contains("no data"));
        assert!(hint(Quantity::RelativeHumidity, 83.0).contains("0.83"));
        assert!(hint(Quantity::AtmosphericPressure, 99_800.0).contains("998 hPa"));
        assert!(hint(Quantity::AtmosphericPressure, 90_000.0).contains("no data"));
        // The French hint gives the same values.
        let fr = |q: Quantity, v: f64| range_hint(q, v).1;
        assert!(
            fr(Quantity::Temperature, -50.0).contains("-50 °C est la valeur « pas de donnée »")
        );
        assert!(fr(Quantity::RelativeHumidity, 83.0).contains("(83 % → 0.83)"));
        assert!(fr(Quantity::AtmosphericPressure, 99_800.0).contains("(99800 Pa → 998 hPa)"));
        assert!(fr(Quantity::Temperature, 300.0).contains("soustrayez 273.15"));
    }

    #[test]
    fn size_is_bounded_before_parsing() {
        let big = format!("{{\"pad\":\"{}\"}}", "x".repeat(5000));
        assert_eq!(errors(&big), vec![(String::new(), Rule::Size)]);
    }

    #[test]
    fn built_readings_with_nan_are_refused() {
        let mut r = parse_reading(GOOD.as_bytes(), now(), &Limits::default()).expect("valid");
        r.quantities.set(Quantity::Temperature, f64::NAN);
        let e = validate_reading(&r, now(), &Limits::default()).expect_err("NaN");
        assert_eq!(e.violations[0].rule, Rule::NotFinite);
    }

    /// JSON values to put in place of a field: of every type, in and out of range.
    fn any_json() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            (-2000.0..2000.0f64).prop_map(Value::from),
            "[a-zA-Z0-9 :._/-]{0,12}".prop_map(Value::from),
            Just(serde_json::json!({"lon": 1.0, "lat": 43.0})),
            Just(serde_json::json!({"temperature": 20})),
            Just(serde_json::json!([])),
            Just(Value::from("weather")),
            Just(Value::from("air-quality")),
            Just(serde_json::json!({"pm25": 12})),
        ]
    }

    proptest::proptest! {
        /// Regression guard for the two-path design: the fast typed path accepts a document
        /// exactly when the explaining path finds nothing wrong with it.
        #[test]
        fn fast_and_explaining_paths_agree(
            path in proptest::sample::select(vec![
                "v", "sensor_id", "kind", "source", "time", "seq", "location", "quantities",
                "extra", "location/lon", "location/alt", "location/x", "quantities/temperature",
                "quantities/motion", "quantities/relativeHumidity", "quantities/nope",
                "profile", "quantities/pm25",
            ]),
            replacement in proptest::option::of(any_json()),
        ) {
            let mut doc: Value = serde_json::from_str(GOOD).expect("json");
            let (parent, key) = match path.split_once('/') {
                Some((p, k)) => (doc.get_mut(p).and_then(Value::as_object_mut), k),
                None => (doc.as_object_mut(), path),
            };
            let parent = parent.expect("object");
            match replacement {
                Some(v) => { parent.insert(key.to_owned(), v); }
                None => { parent.remove(key); }
            }
            let bytes = serde_json::to_vec(&doc).expect("json");
            let fast = parse_reading(&bytes, now(), &Limits::default());
            let mut explained = Problems::new(&Limits::default());
            explain_reading(&doc, None, now(), &Limits::default(), &mut explained);
            proptest::prop_assert_eq!(fast.is_ok(), explained.is_empty(), "{} {:?}", doc, explained);
            if let Err(e) = fast {
                proptest::prop_assert!(!e.violations.is_empty());
            }
        }
    }

    #[test]
    fn any_text_becomes_a_valid_sensor_id() {
        let cases = [
            ("virtual-7-001", "virtual-7-001"),
            ("Croix Daurade/7", "Croix-Daurade-7"),
            ("-lead", "s-lead"),
            ("", "s"),
            ("é", "s-"),
        ];
        for (text, want) in cases {
            assert_eq!(sensor_id_from(text), want, "{text:?}");
            assert!(is_valid_sensor_id(&sensor_id_from(text)));
        }
        assert_eq!(sensor_id_from(&"x".repeat(300)).len(), 128);
    }

    #[test]
    fn pointers_escape_slash_and_tilde() {
        assert_eq!(pointer("/quantities", "a/b~c"), "/quantities/a~1b~0c");
    }

    #[test]
    fn violation_line_names_pointer_rule_and_hint() {
        let v = Violation::new("", Rule::Size, "too big", "split it", "découpez-le");
        assert_eq!(v.to_string(), "(root): size: too big; hint: split it");
    }
}

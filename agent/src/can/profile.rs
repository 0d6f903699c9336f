//! The Garonne profile of a DBC's signals: what `garonne profile from-dbc` writes for the
//! teacher or the team to check (issue 16).
//!
//! One quantity per signal, in file order:
//! - **name**: the signal name in camelCase ([`quantity_name`]): split at every character that
//!   is not an ASCII letter or digit, a word in capitals only is lower-cased (`ENGINE_SPEED` →
//!   `engineSpeed`), a mixed-case word keeps its inner case (`WheelSpeedFL` → `wheelSpeedFL`),
//!   and a name that would start with a digit gets `can` in front. Two signals that map to the
//!   same name (a `Counter` in every message, say), a name over 64 bytes and a SenML metadata
//!   name (`seq`, `lat`...) are refused, naming both signals: rename them in the DBC.
//! - **unit**: the DBC unit mapped to a profile unit symbol where one fits ([`profile_unit`]:
//!   `°C`, `degC` and `C` → `Cel`, `km/h`, `rpm`, `V`, `A`, `%`...), else `1` with the DBC unit
//!   kept in the description.
//! - **range**: the DBC's `[min|max]`; when it says nothing (`[0|0]`, as DBCs often do, or
//!   min ≥ max), the range the raw bits can express, through factor and offset.
//! - **time = mean, space = mean**: every sample is stored at full rate whatever the profile
//!   says; the aggregations only shape the windows of realtime and the map. The mean of a
//!   window is the channel's level (a speed, a temperature), and the telemetry page decimates
//!   with min/max per bucket itself, so a spike is seen there, not averaged away. Across
//!   devices (several cars in one area), the mean is the neutral choice; a team that wants the
//!   hottest brake changes `space = "max"` in the file it checks.
//! - **labels**: the signal name in both languages; the description gives the message, the CAN
//!   id, the bit layout and the DBC comment (in the DBC's language).
//! - Nothing is required: a frame carries only its message's signals.

use std::collections::HashMap;

use garonne_payload::profile::is_valid_quantity_name;
use garonne_payload::profile::units::{self, Unit};
use garonne_payload::profile::{MAX_NAME_BYTES, MAX_QUANTITIES, MAX_TEXT_BYTES};

use super::dbc::{ByteOrder, CanDb, CanId, RawKind, Signal};

/// The names a SenML pack keeps for its metadata (`payload`'s `RESERVED_QUANTITY_NAMES`).
const RESERVED: [&str; 7] = ["lat", "lon", "alt", "seq", "kind", "source", "profile"];

/// DBC unit spellings and the profile unit they mean, looked up before the registry: on a CAN
/// bus `C` is a temperature, not a coulomb, and `1/min` an engine speed.
const DBC_UNITS: &[(&str, &str)] = &[
    ("C", "Cel"),
    ("°C", "Cel"),
    ("degC", "Cel"),
    ("deg C", "Cel"),
    ("DegC", "Cel"),
    ("celsius", "Cel"),
    ("kph", "km/h"),
    ("kmh", "km/h"),
    ("km/hr", "km/h"),
    ("RPM", "rpm"),
    ("1/min", "rpm"),
    ("U/min", "rpm"),
    ("tr/min", "rpm"),
    ("°", "deg"),
    ("m/s^2", "m/s2"),
    ("m/s²", "m/s2"),
    ("ohm", "Ohm"),
    ("Ω", "Ohm"),
    // Ambiguous on a car (gram or g-force): kept as a plain number.
    ("g", "1"),
];

/// A signal whose quantity cannot be named.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingError {
    /// The camelCase name breaks the quantity name rule or is reserved.
    #[error(
        "signal {signal} of message {message} gives the quantity name \"{quantity}\", which {why}; rename the signal in the DBC"
    )]
    Name {
        /// The signal.
        signal: String,
        /// Its message.
        message: String,
        /// The name it would get.
        quantity: String,
        /// What is wrong with it.
        why: String,
    },
    /// Two signals give the same quantity name.
    #[error(
        "signals {first} and {second} both give the quantity name \"{quantity}\"; rename one of them in the DBC"
    )]
    Duplicate {
        /// The name.
        quantity: String,
        /// The first signal, as `MESSAGE.SIGNAL`.
        first: String,
        /// The second signal, as `MESSAGE.SIGNAL`.
        second: String,
    },
    /// More signals than a profile may have.
    #[error(
        "the DBC has {0} signals, more than the {MAX_QUANTITIES} a profile may have; split it into one DBC per bus or per part of the car"
    )]
    TooMany(usize),
}

/// One signal and the quantity it becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channel {
    /// The signal's message id.
    pub message_id: CanId,
    /// The signal's name.
    pub signal: String,
    /// The quantity name.
    pub quantity: String,
}

/// A profile name from the DBC's file name: lower-cased, every other character a '-'
/// (`Car_2026.dbc` → `car-2026`), `can-` in front if it would not start with a letter: what
/// `garonne profile from-dbc` names the profile, and the agent's `[can]` by default.
pub fn default_name(file: &std::path::Path) -> String {
    let stem = file
        .file_stem()
        .map_or(String::new(), |s| s.to_string_lossy().into());
    let mut name = String::new();
    for c in stem.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            name.push(c);
        } else if !name.ends_with('-') {
            name.push('-');
        }
    }
    let mut name = name.trim_matches('-').to_owned();
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        name.insert_str(0, "can-");
    }
    name.truncate(MAX_NAME_BYTES);
    name.trim_end_matches('-').to_owned()
}

/// The camelCase quantity name of a signal name (see the module doc). It may still break the
/// name rule (empty, too long): [`channels`] checks.
pub fn quantity_name(signal: &str) -> String {
    let mut name = String::with_capacity(signal.len());
    let words = signal
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty());
    for (i, word) in words.enumerate() {
        let word = if word.bytes().any(|b| b.is_ascii_lowercase()) {
            word.to_owned()
        } else {
            word.to_ascii_lowercase()
        };
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            name.push(if i == 0 {
                first.to_ascii_lowercase()
            } else {
                first.to_ascii_uppercase()
            });
            name.push_str(chars.as_str());
        }
    }
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        name.insert_str(0, "can");
    }
    name
}

/// The quantity of each signal of the DBC, in file order; every name valid and unique.
pub fn channels(db: &CanDb) -> Result<Vec<Channel>, MappingError> {
    let count = db.signals().count();
    if count > MAX_QUANTITIES {
        return Err(MappingError::TooMany(count));
    }
    let mut seen: HashMap<String, &Signal> = HashMap::new();
    let mut channels = Vec::with_capacity(count);
    for signal in db.signals() {
        let quantity = quantity_name(&signal.name);
        let why = if !is_valid_quantity_name(&quantity) {
            Some(format!(
                "is not 1 to {MAX_NAME_BYTES} ASCII letters and digits starting with a letter"
            ))
        } else if RESERVED.contains(&quantity.as_str()) {
            Some("a SenML pack keeps for its metadata".to_owned())
        } else {
            None
        };
        if let Some(why) = why {
            return Err(MappingError::Name {
                signal: signal.name.clone(),
                message: signal.message_name.clone(),
                quantity,
                why,
            });
        }
        if let Some(first) = seen.get(&quantity) {
            return Err(MappingError::Duplicate {
                quantity,
                first: format!("{}.{}", first.message_name, first.name),
                second: format!("{}.{}", signal.message_name, signal.name),
            });
        }
        seen.insert(quantity.clone(), signal);
        channels.push(Channel {
            message_id: signal.message_id,
            signal: signal.name.clone(),
            quantity,
        });
    }
    Ok(channels)
}

/// The profile unit of a DBC unit string, if one fits.
pub fn profile_unit(dbc_unit: &str) -> Option<&'static Unit> {
    let trimmed = dbc_unit.trim();
    match DBC_UNITS.iter().find(|(spelling, _)| *spelling == trimmed) {
        Some((_, "1")) => None,
        Some((_, symbol)) => units::unit(symbol),
        None if trimmed.is_empty() => None,
        None => units::unit(trimmed),
    }
}

/// The profile of a DBC's signals, as a commented TOML file that [`garonne_payload::profile::Profile::parse`]
/// accepts. `name` is the profile name (checked by the parser), `source` what the header says
/// it was generated from (the DBC's file name).
pub fn profile_toml(db: &CanDb, name: &str, source: &str) -> Result<String, MappingError> {
    let channels = channels(db)?;
    let mut out = format!(
        "# Generated by `garonne profile from-dbc {source}`: check each range and unit, then\n\
         # `garonne profile check` this file. / Généré par `garonne profile from-dbc {source}` :\n\
         # vérifiez chaque plage et unité, puis `garonne profile check` ce fichier.\n\
         name = {}\nversion = 1\ntitle = {{ en = {}, fr = {} }}\n",
        string(name),
        string(&clip(&format!("CAN channels of {source}"))),
        string(&clip(&format!("Canaux CAN de {source}"))),
    );
    for (signal, channel) in db.signals().zip(&channels) {
        out.push_str(&quantity_toml(signal, &channel.quantity));
    }
    Ok(out)
}

fn quantity_toml(signal: &Signal, quantity: &str) -> String {
    let unit = profile_unit(&signal.unit);
    let (min, max, derived) = if signal.min < signal.max {
        (signal.min, signal.max, false)
    } else {
        let (min, max) = signal.raw_range();
        (min, max, true)
    };
    let layout = format!(
        "{}|{}@{}{}",
        signal.start_bit,
        signal.length,
        match signal.byte_order {
            ByteOrder::Motorola => 0,
            ByteOrder::Intel => 1,
        },
        match signal.kind {
            RawKind::Unsigned => "+",
            RawKind::Signed => "-",
            RawKind::Float32 => "- float32",
            RawKind::Float64 => "- float64",
        }
    );
    let unit_note = |en: bool| match (unit, signal.unit.trim()) {
        (None, dbc_unit) if !dbc_unit.is_empty() => {
            if en {
                format!(", DBC unit \"{dbc_unit}\"")
            } else {
                format!(", unité DBC « {dbc_unit} »")
            }
        }
        _ => String::new(),
    };
    let comment = signal
        .comment
        .as_deref()
        .map_or(String::new(), |c| format!(": {c}"));
    let describe = |en: bool| {
        let (message, scale) = if en {
            ("CAN message", "raw ×")
        } else {
            ("message CAN", "brut ×")
        };
        clip(&format!(
            "{message} {} ({}), bits {layout}, {scale} {} + {}{}{comment}",
            signal.message_name,
            signal.message_id,
            signal.factor,
            signal.offset,
            unit_note(en),
        ))
    };
    let (reason_en, reason_fr) = if derived {
        (
            "what the raw bits can express: the DBC gives no range",
            "ce que les bits bruts peuvent exprimer : le DBC ne donne pas de plage",
        )
    } else {
        ("the DBC's range", "la plage du DBC")
    };
    format!(
        "\n[[quantity]]\nname = {}\nunit = {}\nlabel = {{ en = {label}, fr = {label} }}\n\
         description = {{ en = {}, fr = {} }}\nmin = {}\nmax = {}\nrequired = false\n\
         time = \"mean\"\nspace = \"mean\"\nrange_reason = {{ en = {}, fr = {} }}\n",
        string(quantity),
        string(unit.map_or("1", |u| u.symbol)),
        string(&describe(true)),
        string(&describe(false)),
        float(min),
        float(max),
        string(reason_en),
        string(reason_fr),
        label = string(&clip(&signal.name)),
    )
}

/// A TOML string, quoted and escaped.
fn string(text: &str) -> String {
    toml::Value::String(text.to_owned()).to_string()
}

/// A TOML float.
fn float(value: f64) -> String {
    toml::Value::Float(value).to_string()
}

/// The text cut to the profile's text limit, at a character boundary.
fn clip(text: &str) -> String {
    if text.len() <= MAX_TEXT_BYTES {
        return text.to_owned();
    }
    let mut end = MAX_TEXT_BYTES - '…'.len_utf8();
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use garonne_payload::profile::Profile;

    #[test]
    fn signal_names_become_camel_case() {
        for (signal, quantity) in [
            ("EngineSpeed", "engineSpeed"),
            ("ENGINE_SPEED", "engineSpeed"),
            ("WheelSpeedFL", "wheelSpeedFL"),
            ("BMS_SOC", "bmsSoc"),
            ("_private_x", "privateX"),
            ("2ndGear", "can2ndGear"),
            ("rpm", "rpm"),
        ] {
            assert_eq!(quantity_name(signal), quantity, "{signal}");
        }
    }

    #[test]
    fn dbc_units_map_to_profile_units() {
        for (dbc, symbol) in [
            ("km/h", Some("km/h")),
            ("rpm", Some("rpm")),
            ("RPM", Some("rpm")),
            ("V", Some("V")),
            ("A", Some("A")),
            ("degC", Some("Cel")),
            ("°C", Some("Cel")),
            ("C", Some("Cel")),
            ("%", Some("%")),
            ("", None),
            ("Nm", None),
            ("g", None),
            ("bar", None),
        ] {
            assert_eq!(profile_unit(dbc).map(|u| u.symbol), symbol, "{dbc:?}");
        }
    }

    /// The example DBC, with a second signal named like `EngineSpeed`.
    fn dbc() -> String {
        crate::can::dbc::tests::DBC.replace("SG_ PackVoltage", "SG_ ENGINE_SPEED")
    }

    #[test]
    fn two_signals_with_one_name_are_refused_naming_both() {
        let db = CanDb::parse(&dbc()).expect("valid");
        let err = channels(&db).expect_err("refused");
        assert_eq!(
            err.to_string(),
            "signals Engine.EngineSpeed and BmsPack.ENGINE_SPEED both give the quantity name \
             \"engineSpeed\"; rename one of them in the DBC"
        );
    }

    #[test]
    fn a_reserved_name_is_refused() {
        let db = CanDb::parse(&crate::can::dbc::tests::DBC.replace("SG_ PackVoltage", "SG_ SEQ"))
            .expect("valid");
        let err = channels(&db).expect_err("refused");
        assert!(
            matches!(err, MappingError::Name { ref quantity, .. } if quantity == "seq"),
            "{err}"
        );
    }

    #[test]
    fn the_profile_parses_with_dbc_or_derived_ranges() {
        let db = CanDb::parse(crate::can::dbc::tests::DBC).expect("valid");
        let text = profile_toml(&db, "car", "car.dbc").expect("valid");
        let profile = Profile::parse(&text).unwrap_or_else(|e| panic!("{e:?}\n{text}"));
        let speed = &profile.quantity("engineSpeed").expect("valid").def;
        assert_eq!(
            (speed.unit.symbol, speed.min, speed.max),
            ("rpm", 0.0, 16383.75)
        );
        let steer = &profile.quantity("steerTorque").expect("valid").def;
        assert_eq!(steer.unit.symbol, "1");
        assert_eq!((steer.min, steer.max), (-204.8, 204.70000000000002));
        assert!(
            steer
                .description
                .as_ref()
                .expect("valid")
                .en
                .contains("DBC unit \"Nm\"")
        );
        assert_eq!(profile.quantity("cellPage").expect("valid").def.max, 255.0);
    }
}

//! The unit registry: every unit symbol a profile may give a quantity, how people read it, and
//! which SenML units a device may send instead (with their exact conversions).
//!
//! The symbols are those of SenML (RFC 8428 and the units RFC 8798 added, primary and secondary)
//! plus the few UCUM or usual symbols the built-in profiles need and SenML lacks (`mg/m3`, `%`,
//! `dBA`, `rpm`, `1`). A profile names one of these symbols; a SenML record may then carry any
//! unit that the symbol's entry lists, and its value is converted with the same
//! [`SenmlUnit`] arithmetic the payload has always used (`mul`, then `div`, then `offset`).
//!
//! Design: the conversions are written out per unit, not derived from a common base, because
//! derivation changes the float arithmetic (`x * 1000 / 3600` is not `x / 3.6` in binary): the
//! weather quantities' conversions must stay bit for bit what [`crate::quantity`] does.

use crate::quantity::SenmlUnit;

use UnitOrigin::{Other, Senml, SenmlSecondary};

/// Where a unit symbol comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnitOrigin {
    /// A SenML unit (RFC 8428, or a primary unit RFC 8798 added): a device may send it as `u`.
    Senml,
    /// A SenML secondary unit (RFC 8798): a device may send it as `u`.
    SenmlSecondary,
    /// A UCUM or usual symbol SenML lacks: a device sends the value without `u`, or one of the
    /// SenML units the entry converts from.
    Other,
}

/// One unit a profile may give a quantity.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Unit {
    /// The symbol a profile writes (`unit = "Cel"`).
    pub symbol: &'static str,
    /// The symbol people read on the map and in the spec (`°C`); empty for plain numbers.
    pub display: &'static str,
    /// What the unit is, in English.
    pub name_en: &'static str,
    /// What the unit is, in French.
    pub name_fr: &'static str,
    /// Where the symbol comes from.
    pub origin: UnitOrigin,
    /// The SenML units a device may send for a quantity in this unit, this unit first when it is
    /// a SenML unit itself, each with its conversion to this unit.
    pub senml: &'static [SenmlUnit],
}

const fn conv(symbol: &'static str, mul: f64, div: f64, offset: f64) -> SenmlUnit {
    SenmlUnit {
        symbol,
        mul,
        div,
        offset,
    }
}

const fn same(symbol: &'static str) -> SenmlUnit {
    conv(symbol, 1.0, 1.0, 0.0)
}

const fn row(
    origin: UnitOrigin,
    symbol: &'static str,
    display: &'static str,
    name_en: &'static str,
    name_fr: &'static str,
    senml: &'static [SenmlUnit],
) -> Unit {
    Unit {
        symbol,
        display,
        name_en,
        name_fr,
        origin,
        senml,
    }
}

/// Every unit, SenML primary units first, then RFC 8798's secondary units, then the others.
// Design: the weather entries (Cel, /, hPa, mm, m/s, deg, lx, m, 1) carry exactly the
// conversions of `quantity::SPECS`; `weather_profile_equals_todays_table` checks it.
#[rustfmt::skip]
pub const UNITS: &[Unit] = &[
    // RFC 8428.
    row(Senml, "m", "m", "metre", "mètre", &[same("m"), conv("mm", 1.0, 1000.0, 0.0), conv("cm", 1.0, 100.0, 0.0), conv("km", 1000.0, 1.0, 0.0)]),
    row(Senml, "kg", "kg", "kilogram", "kilogramme", &[same("kg"), conv("g", 1.0, 1000.0, 0.0)]),
    row(Senml, "g", "g", "gram (SenML: not recommended)", "gramme (SenML : déconseillé)", &[same("g"), conv("kg", 1000.0, 1.0, 0.0)]),
    row(Senml, "s", "s", "second", "seconde", &[same("s"), conv("ms", 1.0, 1000.0, 0.0), conv("min", 60.0, 1.0, 0.0), conv("h", 3600.0, 1.0, 0.0)]),
    row(Senml, "A", "A", "ampere", "ampère", &[same("A"), conv("mA", 1.0, 1000.0, 0.0)]),
    row(Senml, "K", "K", "kelvin", "kelvin", &[same("K"), conv("Cel", 1.0, 1.0, 273.15)]),
    row(Senml, "cd", "cd", "candela", "candela", &[same("cd")]),
    row(Senml, "mol", "mol", "mole", "mole", &[same("mol")]),
    row(Senml, "Hz", "Hz", "hertz", "hertz", &[same("Hz"), conv("MHz", 1_000_000.0, 1.0, 0.0), conv("1/s", 1.0, 1.0, 0.0)]),
    row(Senml, "rad", "rad", "radian", "radian", &[same("rad"), conv("deg", std::f64::consts::PI, 180.0, 0.0)]),
    row(Senml, "sr", "sr", "steradian", "stéradian", &[same("sr")]),
    row(Senml, "N", "N", "newton", "newton", &[same("N")]),
    row(Senml, "Pa", "Pa", "pascal", "pascal", &[same("Pa"), conv("hPa", 100.0, 1.0, 0.0)]),
    row(Senml, "J", "J", "joule", "joule", &[same("J"), conv("Wh", 3600.0, 1.0, 0.0), conv("kWh", 3_600_000.0, 1.0, 0.0)]),
    row(Senml, "W", "W", "watt", "watt", &[same("W"), conv("kW", 1000.0, 1.0, 0.0)]),
    row(Senml, "C", "C", "coulomb", "coulomb", &[same("C"), conv("Ah", 3600.0, 1.0, 0.0)]),
    row(Senml, "V", "V", "volt", "volt", &[same("V"), conv("mV", 1.0, 1000.0, 0.0)]),
    row(Senml, "F", "F", "farad", "farad", &[same("F")]),
    row(Senml, "Ohm", "Ω", "ohm", "ohm", &[same("Ohm")]),
    row(Senml, "S", "S", "siemens", "siemens", &[same("S")]),
    row(Senml, "Wb", "Wb", "weber", "weber", &[same("Wb")]),
    row(Senml, "T", "T", "tesla", "tesla", &[same("T")]),
    row(Senml, "H", "H", "henry", "henry", &[same("H")]),
    row(Senml, "Cel", "°C", "degree Celsius", "degré Celsius", &[same("Cel"), conv("K", 1.0, 1.0, -273.15)]),
    row(Senml, "lm", "lm", "lumen", "lumen", &[same("lm")]),
    row(Senml, "lx", "lx", "lux", "lux", &[same("lx")]),
    row(Senml, "Bq", "Bq", "becquerel", "becquerel", &[same("Bq")]),
    row(Senml, "Gy", "Gy", "gray", "gray", &[same("Gy")]),
    row(Senml, "Sv", "Sv", "sievert", "sievert", &[same("Sv")]),
    row(Senml, "kat", "kat", "katal", "katal", &[same("kat")]),
    row(Senml, "m2", "m²", "square metre", "mètre carré", &[same("m2")]),
    row(Senml, "m3", "m³", "cubic metre", "mètre cube", &[same("m3"), conv("l", 1.0, 1000.0, 0.0)]),
    row(Senml, "l", "l", "litre (SenML: not recommended)", "litre (SenML : déconseillé)", &[same("l"), conv("m3", 1000.0, 1.0, 0.0)]),
    row(Senml, "m/s", "m/s", "metre per second", "mètre par seconde", &[same("m/s"), conv("km/h", 1.0, 3.6, 0.0)]),
    row(Senml, "m/s2", "m/s²", "metre per second squared", "mètre par seconde carrée", &[same("m/s2")]),
    row(Senml, "m3/s", "m³/s", "cubic metre per second", "mètre cube par seconde", &[same("m3/s"), conv("l/s", 1.0, 1000.0, 0.0)]),
    row(Senml, "l/s", "l/s", "litre per second (SenML: not recommended)", "litre par seconde (SenML : déconseillé)", &[same("l/s"), conv("m3/s", 1000.0, 1.0, 0.0)]),
    row(Senml, "W/m2", "W/m²", "watt per square metre", "watt par mètre carré", &[same("W/m2")]),
    row(Senml, "cd/m2", "cd/m²", "candela per square metre", "candela par mètre carré", &[same("cd/m2")]),
    row(Senml, "bit", "bit", "bit", "bit", &[same("bit")]),
    row(Senml, "bit/s", "bit/s", "bit per second", "bit par seconde", &[same("bit/s"), conv("Mbit/s", 1_000_000.0, 1.0, 0.0), conv("B/s", 8.0, 1.0, 0.0)]),
    row(Senml, "lat", "°", "degrees latitude", "degrés de latitude", &[same("lat")]),
    row(Senml, "lon", "°", "degrees longitude", "degrés de longitude", &[same("lon")]),
    row(Senml, "pH", "pH", "pH (acidity)", "pH (acidité)", &[same("pH")]),
    row(Senml, "dB", "dB", "decibel", "décibel", &[same("dB")]),
    row(Senml, "dBW", "dBW", "decibel relative to 1 W", "décibel rapporté à 1 W", &[same("dBW"), conv("dBm", 1.0, 1.0, -30.0)]),
    row(Senml, "Bspl", "Bspl", "bel, sound pressure level (SenML: not recommended)", "bel, niveau de pression acoustique (SenML : déconseillé)", &[same("Bspl")]),
    row(Senml, "count", "", "count", "nombre", &[same("count")]),
    row(Senml, "/", "", "ratio (fraction, 0–1)", "rapport (fraction, 0–1)", &[same("/"), conv("%RH", 1.0, 100.0, 0.0)]),
    row(Senml, "%", "%", "percent (SenML: not recommended)", "pour cent (SenML : déconseillé)", &[same("%"), conv("/", 100.0, 1.0, 0.0), conv("/100", 1.0, 1.0, 0.0)]),
    row(Senml, "%RH", "%", "percent relative humidity", "pour cent d'humidité relative", &[same("%RH"), conv("/", 100.0, 1.0, 0.0)]),
    row(Senml, "%EL", "%", "percent of remaining battery energy", "pour cent d'énergie restante de la batterie", &[same("%EL")]),
    row(Senml, "EL", "s", "seconds of remaining battery energy", "secondes d'énergie restante de la batterie", &[same("EL")]),
    row(Senml, "1/s", "1/s", "event rate per second", "événements par seconde", &[same("1/s"), conv("1/min", 1.0, 60.0, 0.0)]),
    row(Senml, "1/min", "1/min", "event rate per minute (SenML: not recommended)", "événements par minute (SenML : déconseillé)", &[same("1/min"), conv("1/s", 60.0, 1.0, 0.0)]),
    row(Senml, "beat/min", "bpm", "heart rate (SenML: not recommended)", "fréquence cardiaque (SenML : déconseillé)", &[same("beat/min")]),
    row(Senml, "beats", "beats", "cumulative heart beats (SenML: not recommended)", "battements cumulés (SenML : déconseillé)", &[same("beats")]),
    row(Senml, "S/m", "S/m", "siemens per metre", "siemens par mètre", &[same("S/m")]),
    // RFC 8798 primary units.
    row(Senml, "B", "B", "byte", "octet", &[same("B"), conv("KiB", 1024.0, 1.0, 0.0), conv("GB", 1_000_000_000.0, 1.0, 0.0)]),
    row(Senml, "VA", "VA", "volt-ampere", "voltampère", &[same("VA"), conv("kVA", 1000.0, 1.0, 0.0)]),
    row(Senml, "VAs", "VAs", "volt-ampere second", "voltampère seconde", &[same("VAs"), conv("kVAh", 3_600_000.0, 1.0, 0.0)]),
    row(Senml, "var", "var", "volt-ampere reactive", "voltampère réactif", &[same("var"), conv("kvar", 1000.0, 1.0, 0.0)]),
    row(Senml, "vars", "vars", "volt-ampere reactive second", "voltampère réactif seconde", &[same("vars"), conv("varh", 3600.0, 1.0, 0.0), conv("kvarh", 3_600_000.0, 1.0, 0.0)]),
    row(Senml, "J/m", "J/m", "joule per metre", "joule par mètre", &[same("J/m"), conv("Wh/km", 3.6, 1.0, 0.0)]),
    row(Senml, "kg/m3", "kg/m³", "kilogram per cubic metre", "kilogramme par mètre cube", &[same("kg/m3")]),
    row(Senml, "deg", "°", "degree (angle)", "degré (angle)", &[same("deg"), conv("rad", 180.0, std::f64::consts::PI, 0.0)]),
    // RFC 8798 secondary units.
    row(SenmlSecondary, "ms", "ms", "millisecond", "milliseconde", &[same("ms"), conv("s", 1000.0, 1.0, 0.0)]),
    row(SenmlSecondary, "min", "min", "minute", "minute", &[same("min"), conv("s", 1.0, 60.0, 0.0)]),
    row(SenmlSecondary, "h", "h", "hour", "heure", &[same("h"), conv("s", 1.0, 3600.0, 0.0)]),
    row(SenmlSecondary, "MHz", "MHz", "megahertz", "mégahertz", &[same("MHz"), conv("Hz", 1.0, 1_000_000.0, 0.0)]),
    row(SenmlSecondary, "kW", "kW", "kilowatt", "kilowatt", &[same("kW"), conv("W", 1.0, 1000.0, 0.0)]),
    row(SenmlSecondary, "kVA", "kVA", "kilovolt-ampere", "kilovoltampère", &[same("kVA"), conv("VA", 1.0, 1000.0, 0.0)]),
    row(SenmlSecondary, "kvar", "kvar", "kilovar", "kilovar", &[same("kvar"), conv("var", 1.0, 1000.0, 0.0)]),
    row(SenmlSecondary, "Ah", "Ah", "ampere-hour", "ampère-heure", &[same("Ah"), conv("C", 1.0, 3600.0, 0.0)]),
    row(SenmlSecondary, "Wh", "Wh", "watt-hour", "wattheure", &[same("Wh"), conv("J", 1.0, 3600.0, 0.0), conv("kWh", 1000.0, 1.0, 0.0)]),
    row(SenmlSecondary, "kWh", "kWh", "kilowatt-hour", "kilowattheure", &[same("kWh"), conv("Wh", 1.0, 1000.0, 0.0), conv("J", 1.0, 3_600_000.0, 0.0)]),
    row(SenmlSecondary, "varh", "varh", "var-hour", "var-heure", &[same("varh")]),
    row(SenmlSecondary, "kvarh", "kvarh", "kilovar-hour", "kilovar-heure", &[same("kvarh")]),
    row(SenmlSecondary, "kVAh", "kVAh", "kilovolt-ampere-hour", "kilovoltampère-heure", &[same("kVAh")]),
    row(SenmlSecondary, "Wh/km", "Wh/km", "watt-hour per kilometre", "wattheure par kilomètre", &[same("Wh/km")]),
    row(SenmlSecondary, "KiB", "KiB", "kibibyte", "kibioctet", &[same("KiB"), conv("B", 1.0, 1024.0, 0.0)]),
    row(SenmlSecondary, "GB", "GB", "gigabyte", "gigaoctet", &[same("GB"), conv("B", 1.0, 1_000_000_000.0, 0.0)]),
    row(SenmlSecondary, "Mbit/s", "Mbit/s", "megabit per second", "mégabit par seconde", &[same("Mbit/s"), conv("bit/s", 1.0, 1_000_000.0, 0.0)]),
    row(SenmlSecondary, "B/s", "B/s", "byte per second", "octet par seconde", &[same("B/s"), conv("bit/s", 1.0, 8.0, 0.0)]),
    row(SenmlSecondary, "MB/s", "MB/s", "megabyte per second", "mégaoctet par seconde", &[same("MB/s")]),
    row(SenmlSecondary, "mV", "mV", "millivolt", "millivolt", &[same("mV"), conv("V", 1000.0, 1.0, 0.0)]),
    row(SenmlSecondary, "mA", "mA", "milliampere", "milliampère", &[same("mA"), conv("A", 1000.0, 1.0, 0.0)]),
    row(SenmlSecondary, "dBm", "dBm", "decibel relative to 1 mW", "décibel rapporté à 1 mW", &[same("dBm"), conv("dBW", 1.0, 1.0, 30.0)]),
    row(SenmlSecondary, "ug/m3", "µg/m³", "microgram per cubic metre", "microgramme par mètre cube", &[same("ug/m3"), conv("kg/m3", 1_000_000_000.0, 1.0, 0.0)]),
    row(SenmlSecondary, "mm/h", "mm/h", "millimetre per hour", "millimètre par heure", &[same("mm/h")]),
    row(SenmlSecondary, "m/h", "m/h", "metre per hour", "mètre par heure", &[same("m/h")]),
    row(SenmlSecondary, "ppm", "ppm", "part per million", "partie par million", &[same("ppm"), conv("/", 1_000_000.0, 1.0, 0.0)]),
    row(SenmlSecondary, "/100", "%", "percent", "pour cent", &[same("/100"), conv("/", 100.0, 1.0, 0.0)]),
    row(SenmlSecondary, "/1000", "‰", "per mille", "pour mille", &[same("/1000"), conv("/", 1000.0, 1.0, 0.0)]),
    row(SenmlSecondary, "hPa", "hPa", "hectopascal", "hectopascal", &[same("hPa"), conv("Pa", 1.0, 100.0, 0.0)]),
    row(SenmlSecondary, "mm", "mm", "millimetre", "millimètre", &[same("mm"), conv("m", 1000.0, 1.0, 0.0)]),
    row(SenmlSecondary, "cm", "cm", "centimetre", "centimètre", &[same("cm"), conv("m", 100.0, 1.0, 0.0)]),
    row(SenmlSecondary, "km", "km", "kilometre", "kilomètre", &[same("km"), conv("m", 1.0, 1000.0, 0.0)]),
    row(SenmlSecondary, "km/h", "km/h", "kilometre per hour", "kilomètre par heure", &[same("km/h"), conv("m/s", 3.6, 1.0, 0.0)]),
    // UCUM or usual symbols that SenML lacks.
    row(Other, "1", "", "plain number (UCUM \"1\")", "nombre sans unité (UCUM « 1 »)", &[]),
    row(Other, "mg/m3", "mg/m³", "milligram per cubic metre (UCUM)", "milligramme par mètre cube (UCUM)", &[conv("ug/m3", 1.0, 1000.0, 0.0), conv("kg/m3", 1_000_000.0, 1.0, 0.0)]),
    row(Other, "dBA", "dB(A)", "A-weighted decibel (a device sends dB)", "décibel pondéré A (un capteur envoie dB)", &[same("dB")]),
    row(Other, "rpm", "tr/min", "revolutions per minute (a device sends 1/min)", "tours par minute (un capteur envoie 1/min)", &[same("1/min"), conv("1/s", 60.0, 1.0, 0.0), conv("Hz", 60.0, 1.0, 0.0)]),
];

/// Symbols people write for a registered unit, with the registered one: `°C` means `Cel`.
const ALIASES: &[(&str, &str)] = &[
    ("°C", "Cel"),
    ("degC", "Cel"),
    ("celsius", "Cel"),
    ("°", "deg"),
    ("degree", "deg"),
    ("degrees", "deg"),
    ("µg/m3", "ug/m3"),
    ("µg/m³", "ug/m3"),
    ("ug/m³", "ug/m3"),
    ("mg/m³", "mg/m3"),
    ("m³/s", "m3/s"),
    ("m³", "m3"),
    ("m²", "m2"),
    ("lux", "lx"),
    ("dB(A)", "dBA"),
    ("dba", "dBA"),
    ("kmh", "km/h"),
    ("kph", "km/h"),
    ("ohm", "Ohm"),
    ("Ω", "Ohm"),
    ("tr/min", "rpm"),
    ("RPM", "rpm"),
    ("", "1"),
    ("none", "1"),
    ("bpm", "beat/min"),
    ("%HR", "%RH"),
    ("mbar", "hPa"),
    ("meter", "m"),
    ("meters", "m"),
    ("metre", "m"),
    ("metres", "m"),
];

/// The registered unit with this symbol (case-sensitive, as SenML symbols are).
pub fn unit(symbol: &str) -> Option<&'static Unit> {
    UNITS.iter().find(|u| u.symbol == symbol)
}

/// The registered symbols closest to `symbol`, best first: the one it is a known alias of
/// (`°C` is `Cel`), else those that differ by case or by a character or two. Empty when nothing
/// is close.
pub fn closest_units(symbol: &str) -> Vec<&'static str> {
    match ALIASES.iter().find(|(alias, _)| *alias == symbol) {
        Some((_, to)) => vec![*to],
        None => super::closest(symbol, UNITS.iter().map(|u| u.symbol)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbols_are_unique_and_conversions_name_registered_units() {
        for (i, u) in UNITS.iter().enumerate() {
            assert!(
                UNITS[..i].iter().all(|v| v.symbol != u.symbol),
                "{} twice",
                u.symbol
            );
            for c in u.senml {
                let from = unit(c.symbol).unwrap_or_else(|| panic!("{}: {}", u.symbol, c.symbol));
                assert_ne!(
                    from.origin,
                    UnitOrigin::Other,
                    "{} converts from {}, which no device sends",
                    u.symbol,
                    c.symbol
                );
            }
            // A SenML unit accepts itself, first, unconverted.
            if u.origin != UnitOrigin::Other {
                assert_eq!(u.senml.first(), Some(&same(u.symbol)), "{}", u.symbol);
            }
        }
        for (alias, to) in ALIASES {
            assert!(unit(to).is_some(), "{alias} -> {to}");
            assert!(unit(alias).is_none(), "{alias} is registered itself");
        }
    }

    #[test]
    fn conversions_are_exact_for_round_values() {
        let convert = |to: &str, from: &str, x: f64| {
            let u = unit(to).expect("registered");
            let c = u.senml.iter().find(|c| c.symbol == from).expect("accepted");
            c.to_garonne(x)
        };
        assert_eq!(convert("hPa", "Pa", 99_800.0), 998.0);
        assert_eq!(convert("/", "%RH", 81.0), 0.81);
        assert_eq!(convert("ug/m3", "kg/m3", 12e-9), 12.0);
        assert_eq!(convert("mg/m3", "ug/m3", 500.0), 0.5);
        assert_eq!(convert("ppm", "/", 0.000_415), 415.0);
        assert_eq!(convert("km/h", "m/s", 10.0), 36.0);
        assert_eq!(convert("V", "mV", 3300.0), 3.3);
        assert_eq!(convert("rpm", "1/s", 50.0), 3000.0);
        assert!((convert("K", "Cel", 10.0) - 283.15).abs() < 1e-9);
    }

    #[test]
    fn unknown_symbols_get_the_registered_ones_people_mean() {
        assert_eq!(closest_units("°C")[0], "Cel");
        assert_eq!(closest_units("µg/m³")[0], "ug/m3");
        assert_eq!(closest_units("hpa")[0], "hPa");
        assert!(closest_units("furlongs per fortnight").is_empty());
    }
}

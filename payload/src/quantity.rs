//! The measured quantities a reading may carry: a small handle on the process's catalogue.
//!
//! Quantities are data, not code (issue 14): a [`Quantity`] is the dense id of a quantity in the
//! process-wide catalogue, which starts with the built-in profiles (`weather` first, so its ten
//! quantities keep ids 0 to 9 and their names, units and ranges of Garonne 1.0) and grows when a
//! profile is registered ([`Quantity::register`]: a `--profiles` folder at start, a profile
//! published live). Each id's definition — name, unit, range, aggregation, SenML units — is the
//! [`QuantityDef`] its profile gave; names and units follow FIWARE Smart Data Models wherever
//! they have the quantity, so a reading exports to NGSI-LD unchanged.
//!
//! Design: the catalogue only grows. Ids are never reused and a definition never changes (a
//! clash is refused), so a definition lives for the whole process: [`Quantity::def`] hands out
//! `&'static` references, without a lock, and a reading stays a few `(id, value)` pairs. Memory
//! is bounded by the catalogue's own limit (65,535 quantities).
//!
//! A [`ProfileId`] is the same kind of handle on a profile of the catalogue: what a reading that
//! names its profile (spec 1.1) carries.
//!
//! Performance: the ten weather names are matched by code before the catalogue's hash map is
//! asked, so the readings of Garonne 1.0 validate as fast as they did.

use std::collections::HashMap;
use std::fmt;
use std::num::NonZeroU16;
use std::sync::{LazyLock, Mutex, OnceLock, PoisonError, RwLock};

use crate::profile::{
    Added, Catalogue, CataloguedProfile, Clash, Profile, QuantityDef, QuantityId,
};

#[cfg(test)]
pub(crate) mod v1;

/// One quantity of the catalogue: its dense id.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Quantity(u16);

/// How a SenML unit converts to a quantity's Garonne unit: `garonne = senml * mul / div + offset`.
///
/// Design: a divisor as well as a multiplier, because `81 * 0.01` is not `0.81` in binary
/// floating point while `81 / 100` is: unit conversion must not invent digits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SenmlUnit {
    /// The SenML unit symbol (RFC 8428 registry or RFC 8798 secondary units).
    pub symbol: &'static str,
    /// Multiplier to the Garonne unit.
    pub mul: f64,
    /// Divisor to the Garonne unit.
    pub div: f64,
    /// Offset added after scaling.
    pub offset: f64,
}

impl SenmlUnit {
    /// Converts a value in this unit to the Garonne unit.
    pub fn to_garonne(&self, value: f64) -> f64 {
        value * self.mul / self.div + self.offset
    }

    /// Whether this unit is the Garonne unit itself.
    pub fn is_identity(&self) -> bool {
        self.mul == 1.0 && self.div == 1.0 && self.offset == 0.0
    }
}

// Design: the weather quantities are named constants, spelt as the enum variants they were in
// Garonne 1.0, so code that names one (`Quantity::Temperature`) reads as it did.
#[allow(non_upper_case_globals)]
impl Quantity {
    /// Air temperature, °C.
    pub const Temperature: Quantity = Quantity(0);
    /// Relative humidity as a fraction, 0–1 (FIWARE's unit, not a percentage).
    pub const RelativeHumidity: Quantity = Quantity(1);
    /// Atmospheric pressure at the station, hPa.
    pub const AtmosphericPressure: Quantity = Quantity(2);
    /// Precipitation since the previous reading, mm (= litres per m²).
    pub const Precipitation: Quantity = Quantity(3);
    /// Mean wind speed, m/s.
    pub const WindSpeed: Quantity = Quantity(4);
    /// Maximum gust speed since the previous reading, m/s.
    pub const GustSpeed: Quantity = Quantity(5);
    /// Direction the wind blows from, degrees clockwise from true north.
    pub const WindDirection: Quantity = Quantity(6);
    /// Illuminance, lux.
    pub const Illuminance: Quantity = Quantity(7);
    /// Water level at a river gauge, m above the gauge's zero.
    pub const StreamGauge: Quantity = Quantity(8);
    /// Motion detected since the previous reading (PIR sensor): 0 or 1.
    pub const Motion: Quantity = Quantity(9);
}

impl Quantity {
    /// The built-in `weather` profile's ten quantities, in wire order.
    pub const WEATHER: [Quantity; 10] = [
        Quantity::Temperature,
        Quantity::RelativeHumidity,
        Quantity::AtmosphericPressure,
        Quantity::Precipitation,
        Quantity::WindSpeed,
        Quantity::GustSpeed,
        Quantity::WindDirection,
        Quantity::Illuminance,
        Quantity::StreamGauge,
        Quantity::Motion,
    ];

    /// How many quantities the catalogue holds now (it only grows).
    pub fn count() -> usize {
        registry().count()
    }

    /// Every quantity of the catalogue now, in id order (the order `quantities` is serialised in).
    pub fn all() -> impl Iterator<Item = Quantity> {
        (0..Quantity::count()).map(|i| Quantity(i as u16))
    }

    /// The quantity of id `index`, if the catalogue has it.
    pub fn from_index(index: usize) -> Option<Quantity> {
        (index < Quantity::count()).then_some(Quantity(index as u16))
    }

    /// The id: an index into a per-quantity array.
    pub const fn index(self) -> usize {
        self.0 as usize
    }

    /// What the quantity is: name, unit, range, aggregations, SenML units, labels.
    pub fn def(self) -> &'static QuantityDef {
        registry().def(self)
    }

    /// The name on the wire.
    pub fn name(self) -> &'static str {
        &self.def().name
    }

    /// The unit symbol people read (`°C`); empty for plain numbers.
    pub fn unit(self) -> &'static str {
        self.def().unit.display
    }

    /// The unit as people read it: the symbol, or what a dimensionless value is.
    pub fn unit_label(self) -> &'static str {
        match self.def() {
            d if !d.unit.display.is_empty() => d.unit.display,
            d if d.integer && d.min == 0.0 && d.max == 1.0 => "0 or 1",
            d if d.integer => "count",
            d if d.max <= 1.0 => "fraction 0–1",
            _ => "number",
        }
    }

    /// The accepted range as people read it, e.g. `-40 to 60 °C` or `0 (excluded) to 1`.
    pub fn range_label(self) -> String {
        let d = self.def();
        if d.integer && d.min == 0.0 && d.max == 1.0 {
            return format!("{} or {}", d.min, d.max);
        }
        let excluded = if d.min_exclusive { " (excluded)" } else { "" };
        let unit = match d.unit.display {
            "" => String::new(),
            unit => format!(" {unit}"),
        };
        format!("{}{excluded} to {}{unit}", d.min, d.max)
    }

    /// Looks a quantity up by its wire name (case-sensitive, as on the wire).
    pub fn from_name(name: &str) -> Option<Quantity> {
        // Performance: a match compiles to length and byte comparisons, with no hashing; it
        // runs for every value of every reading. `the_weather_quantities_keep_their_ids_and_names`
        // checks it against the catalogue.
        Some(match name {
            "temperature" => Quantity::Temperature,
            "relativeHumidity" => Quantity::RelativeHumidity,
            "atmosphericPressure" => Quantity::AtmosphericPressure,
            "precipitation" => Quantity::Precipitation,
            "windSpeed" => Quantity::WindSpeed,
            "gustSpeed" => Quantity::GustSpeed,
            "windDirection" => Quantity::WindDirection,
            "illuminance" => Quantity::Illuminance,
            "streamGauge" => Quantity::StreamGauge,
            "motion" => Quantity::Motion,
            _ => return registry().lookup(name),
        })
    }

    /// Whether `value` lies in this quantity's physical range (and is whole, for a count).
    pub fn in_range(self, value: f64) -> bool {
        self.def().in_range(value)
    }

    /// Adds a profile to the process's catalogue (see [`Catalogue::add`] for the rules): its new
    /// quantities are known at once, everywhere in the process. All or nothing.
    pub fn register(profile: Profile) -> Result<Added, Clash> {
        registry().register(profile)
    }

    /// Runs `read` on the process's catalogue (the profiles, the closest names to a typo...).
    pub fn with_catalogue<R>(read: impl FnOnce(&Catalogue) -> R) -> R {
        read(
            &registry()
                .catalogue
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }

    /// A name that people often write for this quantity, to suggest the right one.
    pub(crate) fn from_alias(name: &str) -> Option<Quantity> {
        let lower = name.to_ascii_lowercase();
        let q = match lower.as_str() {
            "temperature" | "temp" | "t" | "temperature_en_degre_c" | "airtemperature" => {
                Quantity::Temperature
            }
            "relativehumidity" | "humidity" | "hum" | "rh" | "humidite" => {
                Quantity::RelativeHumidity
            }
            "atmosphericpressure" | "pressure" | "pression" | "press" | "p" => {
                Quantity::AtmosphericPressure
            }
            "precipitation" | "rain" | "pluie" | "rainfall" => Quantity::Precipitation,
            "windspeed" | "wind" | "wind_speed" | "force_moyenne_du_vecteur_vent" => {
                Quantity::WindSpeed
            }
            "gustspeed" | "gust" | "windgust" | "force_rafale_max" => Quantity::GustSpeed,
            "winddirection" | "wind_direction" | "direction" | "winddir" => Quantity::WindDirection,
            "illuminance" | "lux" | "light" | "luminosity" => Quantity::Illuminance,
            "streamgauge" | "waterlevel" | "water_level" | "hauteur" => Quantity::StreamGauge,
            "motion" | "pir" | "presence" | "movement" => Quantity::Motion,
            _ => return None,
        };
        Some(q)
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Debug for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Quantity({}: {})", self.0, self.name())
    }
}

/// A profile of the process's catalogue: its dense id, the profile's place in the catalogue.
///
/// Design: like [`Quantity`], a two-byte handle, so a [`crate::Reading`] that names its profile
/// stays small and cheap to move; the name is looked up once, when the reading is parsed. The id
/// of a name never changes: a newer version of a profile takes the place of the one it replaces.
// Design: stored as index + 1 in a `NonZeroU16`, so that `Option<ProfileId>` is two bytes: a
// `Reading` is 280 bytes with it (272 without a profile field, 288 with a plain `u16`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProfileId(NonZeroU16);

impl ProfileId {
    /// Looks a profile up by its name (`air-quality`).
    pub fn from_name(name: &str) -> Option<ProfileId> {
        registry()
            .profiles
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .by_name
            .get(name)
            .copied()
    }

    /// The profile's name.
    pub fn name(self) -> &'static str {
        registry()
            .profiles
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .names
            .get(self.index())
            .copied()
            // Ids come from this catalogue: one it never gave is a bug, not bad input.
            .unwrap_or_else(|| panic!("profile id {} is not in the catalogue", self.index()))
    }

    /// The id: the profile's index in the catalogue's insertion order.
    pub const fn index(self) -> usize {
        self.0.get() as usize - 1
    }

    /// The id of the profile at `index` (below [`crate::profile::MAX_CATALOGUE_PROFILES`]).
    fn at(index: usize) -> Option<ProfileId> {
        u16::try_from(index + 1)
            .ok()
            .and_then(NonZeroU16::new)
            .map(ProfileId)
    }

    /// Whether a reading with the quantities `present` follows this profile: every quantity in
    /// the profile, every required one there.
    ///
    /// Performance: read from a snapshot of the profile's ids under a read lock, not from the
    /// catalogue's mutex, so readers in several threads do not queue; it is what runs for each
    /// valid reading that names its profile.
    pub fn is_followed_by(self, present: &[Quantity]) -> bool {
        let profiles = registry()
            .profiles
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let Some(rules) = profiles.rules.get(self.index()) else {
            return false;
        };
        present.iter().all(|q| rules.listed.contains(q))
            && rules.required.iter().all(|q| present.contains(q))
    }

    /// Runs `read` on the profile as the catalogue has it now (its latest version).
    pub fn with_profile<R>(self, read: impl FnOnce(&CataloguedProfile) -> R) -> R {
        Quantity::with_catalogue(|c| {
            let profile = c
                .profile_at(self.index())
                .unwrap_or_else(|| panic!("profile id {} is not in the catalogue", self.index()));
            read(profile)
        })
    }
}

impl fmt::Display for ProfileId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Debug for ProfileId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ProfileId({}: {})", self.index(), self.name())
    }
}

/// The profile names by id and the ids by name, and each profile's quantities, for the hot
/// paths.
#[derive(Default)]
struct ProfileNames {
    names: Vec<&'static str>,
    by_name: HashMap<&'static str, ProfileId>,
    /// By id: the quantities of the profile's latest version.
    rules: Vec<ProfileRules>,
}

/// The quantities of one profile, as ids.
struct ProfileRules {
    /// Every quantity the profile lists.
    listed: Vec<Quantity>,
    /// The ones it requires.
    required: Vec<Quantity>,
}

impl ProfileRules {
    fn of(entry: &CataloguedProfile) -> ProfileRules {
        let pairs = entry.profile.quantities.iter().zip(&entry.ids);
        let id = |(_, id): (_, &QuantityId)| Quantity(id.0);
        ProfileRules {
            listed: pairs.clone().map(id).collect(),
            required: pairs.filter(|(q, _)| q.required).map(id).collect(),
        }
    }
}

/// Quantities per chunk of the id table.
const CHUNK: usize = 256;

/// The process's catalogue, and its definitions by id and by name for the hot paths.
struct Registry {
    /// The profiles and the rules; locked only to register, or to read profiles.
    catalogue: Mutex<Catalogue>,
    /// The definitions by id, in chunks allocated as the catalogue grows; set once each.
    defs: [OnceLock<Box<[OnceLock<&'static QuantityDef>; CHUNK]>>; CHUNK],
    /// The ids by name, beyond the weather names [`Quantity::from_name`] matches itself.
    by_name: RwLock<HashMap<&'static str, Quantity>>,
    /// The profiles' names and ids.
    profiles: RwLock<ProfileNames>,
}

/// The process's registry, made with the built-in profiles on first use.
fn registry() -> &'static Registry {
    static REGISTRY: LazyLock<Registry> = LazyLock::new(|| {
        let registry = Registry {
            catalogue: Mutex::new(Catalogue::builtin()),
            defs: [const { OnceLock::new() }; CHUNK],
            by_name: RwLock::new(HashMap::new()),
            profiles: RwLock::new(ProfileNames::default()),
        };
        registry.index_new(
            &registry
                .catalogue
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        registry
    });
    &REGISTRY
}

impl Registry {
    fn count(&self) -> usize {
        self.by_name
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    fn def(&self, q: Quantity) -> &'static QuantityDef {
        let (chunk, slot) = (q.index() / CHUNK, q.index() % CHUNK);
        self.defs[chunk]
            .get()
            .and_then(|c| c[slot].get())
            .copied()
            // Ids come from this catalogue: one it never gave is a bug, not bad input.
            .unwrap_or_else(|| panic!("quantity id {} is not in the catalogue", q.0))
    }

    fn lookup(&self, name: &str) -> Option<Quantity> {
        self.by_name
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .copied()
    }

    fn register(&self, profile: Profile) -> Result<Added, Clash> {
        let mut catalogue = self
            .catalogue
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let added = catalogue.add(profile)?;
        self.index_new(&catalogue);
        Ok(added)
    }

    /// Indexes the quantities `catalogue` has beyond those already indexed, by id and by name.
    fn index_new(&self, catalogue: &Catalogue) {
        for index in self.count()..catalogue.len() {
            // Design: a definition never changes and ids are never reused (module doc), so
            // each is leaked once, for the life of the process.
            let def: &'static QuantityDef =
                Box::leak(Box::new(catalogue.get(QuantityId(index as u16)).clone()));
            let chunk = self.defs[index / CHUNK]
                .get_or_init(|| Box::new([const { OnceLock::new() }; CHUNK]));
            let _ = chunk[index % CHUNK].set(def);
            self.by_name
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(&def.name, Quantity(index as u16));
        }
        let mut profiles = self
            .profiles
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        for index in profiles.names.len()..catalogue.profile_count() {
            let Some(entry) = catalogue.profile_at(index) else {
                break;
            };
            // Design: a profile's name at an index never changes (a newer version takes the
            // place of the old one), and the catalogue holds at most MAX_CATALOGUE_PROFILES.
            let Some(id) = ProfileId::at(index) else {
                break;
            };
            let name: &'static str = Box::leak(entry.profile.name.clone().into_boxed_str());
            profiles.names.push(name);
            profiles.by_name.insert(name, id);
        }
        // A newer version of a profile keeps its id but may list other quantities: every
        // profile's rules are taken again (a registration is rare, a catalogue small).
        profiles.rules = catalogue.profiles().map(ProfileRules::of).collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_weather_quantities_keep_their_ids_and_names() {
        for (i, q) in Quantity::WEATHER.iter().enumerate() {
            assert_eq!(q.index(), i);
            assert_eq!(v1::SPECS[i].quantity, *q);
            assert_eq!(q.name(), v1::SPECS[i].name);
            assert_eq!(q.unit(), v1::SPECS[i].unit);
            assert_eq!(Quantity::from_name(q.name()), Some(*q));
            assert_eq!(
                registry().lookup(q.name()),
                Some(*q),
                "the fast path agrees"
            );
        }
    }

    #[test]
    fn the_built_in_profiles_quantities_are_known_by_name() {
        for name in [
            "pm25",
            "no2",
            "LAeq",
            "availableBikeNumber",
            "batteryVoltage",
        ] {
            let q = Quantity::from_name(name).unwrap_or_else(|| panic!("{name} is unknown"));
            assert_eq!(q.name(), name);
            assert!(q.index() >= Quantity::WEATHER.len());
            assert_eq!(Quantity::from_index(q.index()), Some(q));
        }
        assert_eq!(Quantity::from_name("pm2.5"), None);
        assert!(Quantity::count() > 20);
        assert_eq!(Quantity::all().count(), Quantity::count());
    }

    #[test]
    fn a_registered_profile_is_known_at_once_and_a_clash_changes_nothing() {
        let text = |max: u32| {
            format!(
                "name = \"quantity-rs-test\"\nversion = {max}\n\
                 title = {{ en = \"Test\", fr = \"Test\" }}\n\
                 [[quantity]]\nname = \"quantityRsTestLevel\"\nunit = \"m\"\n\
                 label = {{ en = \"Level\", fr = \"Niveau\" }}\nmin = 0\nmax = {max}\n"
            )
        };
        let before = Quantity::count();
        let profile = crate::profile::Profile::parse(&text(10)).expect("parses");
        Quantity::register(profile).expect("registered");
        let q = Quantity::from_name("quantityRsTestLevel").expect("known at once");
        assert_eq!(Quantity::count(), before + 1);
        assert!(q.in_range(10.0) && !q.in_range(10.5 + 1.0));
        // Version 2 gives the same name another range: refused, the catalogue unchanged.
        let clash = crate::profile::Profile::parse(&text(20)).expect("parses");
        let error = Quantity::register(clash).expect_err("a clash");
        assert!(error.to_string().contains("quantity-rs-test"), "{error}");
        assert_eq!(Quantity::count(), before + 1);
        assert_eq!(q.def().max, 10.0);
    }

    /// A newer version of a profile keeps its id and brings its own rules at once (the
    /// snapshot `is_followed_by` reads is taken again at each registration).
    #[test]
    fn a_profile_upgraded_live_is_followed_by_its_new_rules() {
        let quantity = |name: &str, required: bool| {
            format!(
                "[[quantity]]\nname = \"{name}\"\nunit = \"m\"\n\
                 label = {{ en = \"L\", fr = \"L\" }}\nmin = 0\nmax = 5\nrequired = {required}\n"
            )
        };
        let head = |version: u32| {
            format!(
                "name = \"quantity-rs-upgrade\"\nversion = {version}\n\
                 title = {{ en = \"Test\", fr = \"Test\" }}\n"
            )
        };
        let v1 = format!("{}{}", head(1), quantity("upgradeTestA", true));
        Quantity::register(crate::profile::Profile::parse(&v1).expect("parses")).expect("v1");
        let id = ProfileId::from_name("quantity-rs-upgrade").expect("registered");
        let a = Quantity::from_name("upgradeTestA").expect("catalogued");
        assert!(id.is_followed_by(&[a]));
        assert!(!id.is_followed_by(&[a, Quantity::Temperature]));
        assert!(!id.is_followed_by(&[]));

        let v2 = format!(
            "{}{}{}",
            head(2),
            quantity("upgradeTestA", false),
            quantity("upgradeTestB", true)
        );
        Quantity::register(crate::profile::Profile::parse(&v2).expect("parses")).expect("v2");
        let b = Quantity::from_name("upgradeTestB").expect("catalogued");
        assert_eq!(
            ProfileId::from_name("quantity-rs-upgrade"),
            Some(id),
            "same id"
        );
        assert!(!id.is_followed_by(&[a]), "B is now required");
        assert!(id.is_followed_by(&[b]) && id.is_followed_by(&[a, b]));
        assert_eq!(id.name(), "quantity-rs-upgrade");
    }

    #[test]
    fn toulouse_sentinels_are_out_of_range() {
        // Regression: the open-data "no data" values must never pass as weather.
        assert!(!Quantity::Temperature.in_range(-50.0));
        assert!(!Quantity::RelativeHumidity.in_range(0.0));
        assert!(!Quantity::AtmosphericPressure.in_range(900.0));
    }

    #[test]
    fn ranges_accept_ordinary_weather() {
        let cases = [
            (Quantity::Temperature, 12.4),
            (Quantity::RelativeHumidity, 0.83),
            (Quantity::AtmosphericPressure, 1012.0),
            (Quantity::Precipitation, 0.0),
            (Quantity::WindSpeed, 3.2),
            (Quantity::WindDirection, 360.0),
            (Quantity::Illuminance, 0.0),
            (Quantity::Motion, 1.0),
        ];
        for (q, v) in cases {
            assert!(q.in_range(v), "{q} {v}");
        }
        assert!(!Quantity::Motion.in_range(0.5));
        assert!(!Quantity::RelativeHumidity.in_range(83.0));
    }

    #[test]
    fn aliases_point_to_the_right_quantity() {
        assert_eq!(
            Quantity::from_alias("humidity"),
            Some(Quantity::RelativeHumidity)
        );
        assert_eq!(
            Quantity::from_alias("Pressure"),
            Some(Quantity::AtmosphericPressure)
        );
        assert_eq!(Quantity::from_alias("foo"), None);
    }

    #[test]
    fn senml_units_convert_to_garonne_units() {
        let pa = Quantity::AtmosphericPressure.def().senml_units[1];
        assert_eq!(pa.symbol, "Pa");
        assert_eq!(pa.to_garonne(99_800.0), 998.0);
        let percent = Quantity::RelativeHumidity.def().senml_units[1];
        assert_eq!(percent.to_garonne(81.0), 0.81);
        let kelvin = Quantity::Temperature.def().senml_units[1];
        assert!((kelvin.to_garonne(283.15) - 10.0).abs() < 1e-9);
    }
}

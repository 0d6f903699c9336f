//! The catalogue: every quantity of the loaded profiles, each with a dense id.
//!
//! Design: a quantity name means one thing everywhere. The first profile that defines a name
//! fixes its meaning — unit, range, integer flag, aggregations, accepted SenML units — for the
//! life of the catalogue; a later profile may list the same name only with the same meaning, and
//! then shares its id. Labels, descriptions and the FIWARE name may differ between profiles (each
//! profile keeps its own); the catalogue's [`QuantityDef`] keeps the first definer's.
//!
//! Design: ids are dense (`0..len`) and given in insertion order, so the same profiles added in
//! the same order get the same ids, and a reading can keep its values in a small array indexed
//! by id. Ids are never reused: a newer version of a profile that drops a quantity leaves the
//! quantity in the catalogue (stored history still names it, and other profiles may list it),
//! only no longer listed by that profile; a newer version cannot change a quantity's meaning
//! either (give the new meaning a new name).
//!
//! Re-adding a profile of the same name: a higher version replaces it (its new quantities are
//! added), the same version with the same content changes nothing, the same version with other
//! content and a lower version are refused. `add` checks everything before it changes anything.

use std::collections::HashMap;

use super::{Profile, QuantityDef, Text};

/// The most quantities a catalogue holds: ids are 16-bit.
pub const MAX_CATALOGUE_QUANTITIES: usize = u16::MAX as usize;
/// The most profiles a catalogue holds: a city's course over years, with room to spare.
pub const MAX_CATALOGUE_PROFILES: usize = 1024;

/// A quantity's dense index in its catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QuantityId(pub u16);

impl QuantityId {
    /// The id as an index into a per-quantity array.
    pub fn index(self) -> usize {
        usize::from(self.0)
    }
}

/// A profile in the catalogue, with the ids of its quantities.
#[derive(Debug, Clone, PartialEq)]
pub struct CataloguedProfile {
    /// The profile as parsed.
    pub profile: Profile,
    /// The id of each of its quantities, in the profile's order.
    pub ids: Vec<QuantityId>,
}

/// What [`Catalogue::add`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Added {
    /// A profile of a new name.
    New {
        /// The quantities it added to the catalogue (the ones it shares are not listed).
        new_quantities: Vec<QuantityId>,
    },
    /// A higher version replaced the loaded one.
    Upgraded {
        /// The version it replaced.
        from_version: u32,
        /// The quantities it added to the catalogue.
        new_quantities: Vec<QuantityId>,
        /// The quantities the old version listed and this one does not (still catalogued).
        dropped: Vec<QuantityId>,
    },
    /// The same version with the same content was already there: nothing changed.
    Unchanged,
}

/// Why a profile cannot join the catalogue.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Clash {
    /// A quantity the catalogue already has, with another meaning.
    #[error(
        "quantity \"{quantity}\" of profile \"{profile}\" has {field} {ours}, but profile \
         \"{other}\" defines it with {field} {theirs}"
    )]
    // Design: boxed strings keep the error small (clippy::result_large_err).
    Definition {
        /// The quantity name.
        quantity: Box<str>,
        /// The profile being added.
        profile: Box<str>,
        /// The profile that defined the quantity first.
        other: Box<str>,
        /// The first field that differs (`unit`, `min`, `time`, ...).
        field: &'static str,
        /// Its value in the profile being added.
        ours: Box<str>,
        /// Its value in the catalogue.
        theirs: Box<str>,
    },
    /// The same version of a loaded profile, with other content.
    #[error("profile \"{profile}\" version {version} is already loaded with other content")]
    SameVersion {
        /// The profile.
        profile: String,
        /// The version both have.
        version: u32,
    },
    /// A version lower than the loaded one.
    #[error("profile \"{profile}\" version {version} is older than the loaded version {loaded}")]
    OlderVersion {
        /// The profile.
        profile: String,
        /// The version being added.
        version: u32,
        /// The loaded version.
        loaded: u32,
    },
    /// The catalogue would hold more than [`MAX_CATALOGUE_QUANTITIES`].
    #[error("the catalogue holds at most {MAX_CATALOGUE_QUANTITIES} quantities")]
    TooManyQuantities,
    /// The catalogue would hold more than [`MAX_CATALOGUE_PROFILES`].
    #[error("the catalogue holds at most {MAX_CATALOGUE_PROFILES} profiles")]
    TooManyProfiles,
}

impl Clash {
    /// How to fix it, in English and French.
    pub fn hint(&self) -> Text {
        match self {
            Clash::Definition {
                quantity, other, ..
            } => Text::new(
                format!(
                    "use the definition of \"{quantity}\" from profile \"{other}\", or give your \
                     quantity another name"
                ),
                format!(
                    "reprenez la définition de « {quantity} » du profil « {other} », ou donnez \
                     un autre nom à votre grandeur"
                ),
            ),
            Clash::SameVersion { version, .. } => Text::new(
                format!("raise the version above {version} to publish a change"),
                format!("augmentez la version au-delà de {version} pour publier une modification"),
            ),
            Clash::OlderVersion { loaded, .. } => Text::new(
                format!("start from the loaded version {loaded} and raise it"),
                format!("repartez de la version chargée {loaded} et augmentez-la"),
            ),
            Clash::TooManyQuantities | Clash::TooManyProfiles => Text::new(
                "remove profiles that are no longer used",
                "retirez les profils qui ne servent plus",
            ),
        }
    }
}

/// The built-in profiles, as shipped in `payload/profiles/`.
pub const BUILTIN_PROFILES: [(&str, &str); 6] = [
    ("weather", include_str!("../../profiles/weather.toml")),
    (
        "air-quality",
        include_str!("../../profiles/air-quality.toml"),
    ),
    ("noise", include_str!("../../profiles/noise.toml")),
    ("bikes", include_str!("../../profiles/bikes.toml")),
    ("river", include_str!("../../profiles/river.toml")),
    ("vehicle", include_str!("../../profiles/vehicle.toml")),
];

/// Every quantity of the loaded profiles.
#[derive(Debug, Clone, Default)]
pub struct Catalogue {
    /// The definitions, indexed by id.
    defs: Vec<QuantityDef>,
    /// The profile that defined each quantity first, indexed by id.
    defined_by: Vec<String>,
    // Performance: one hash lookup per value of a reading.
    by_name: HashMap<String, QuantityId>,
    /// The profiles, in insertion order.
    profiles: Vec<CataloguedProfile>,
    by_profile_name: HashMap<String, usize>,
}

impl Catalogue {
    /// An empty catalogue.
    pub fn new() -> Catalogue {
        Catalogue::default()
    }

    /// The six built-in profiles, in the order of [`BUILTIN_PROFILES`] (so `weather`'s ten
    /// quantities have ids 0 to 9, in [`crate::Quantity::WEATHER`] order).
    pub fn builtin() -> Catalogue {
        let mut catalogue = Catalogue::new();
        for (name, text) in BUILTIN_PROFILES {
            // The tests parse and add every built-in profile: these cannot fail at run time.
            let profile = Profile::parse(text)
                .unwrap_or_else(|e| panic!("built-in profile {name} does not parse: {e}"));
            if let Err(e) = catalogue.add(profile) {
                panic!("built-in profile {name} clashes: {e}");
            }
        }
        catalogue
    }

    /// Adds a profile (see the module doc for the rules), all or nothing.
    pub fn add(&mut self, profile: Profile) -> Result<Added, Clash> {
        if !self.check(&profile)? {
            return Ok(Added::Unchanged);
        }
        let loaded = self.by_profile_name.get(&profile.name).copied();
        Ok(self.insert(profile, loaded))
    }

    /// Whether [`Catalogue::add`] would take the profile, without changing the catalogue (for a
    /// service that must refuse a bad profile and change nothing): `Ok(true)` when adding it
    /// changes the catalogue, `Ok(false)` when the same version is already there, unchanged.
    pub fn check(&self, profile: &Profile) -> Result<bool, Clash> {
        if let Some(at) = self.by_profile_name.get(&profile.name) {
            let old = &self.profiles[*at].profile;
            if profile.version == old.version {
                return if profile == old {
                    Ok(false)
                } else {
                    Err(Clash::SameVersion {
                        profile: profile.name.clone(),
                        version: old.version,
                    })
                };
            }
            if profile.version < old.version {
                return Err(Clash::OlderVersion {
                    profile: profile.name.clone(),
                    version: profile.version,
                    loaded: old.version,
                });
            }
        } else if self.profiles.len() >= MAX_CATALOGUE_PROFILES {
            return Err(Clash::TooManyProfiles);
        }
        let mut fresh = 0;
        for q in &profile.quantities {
            match self.by_name.get(&q.def.name) {
                Some(id) => {
                    if let Some((field, ours, theirs)) = q.def.meaning_differs(self.get(*id)) {
                        return Err(Clash::Definition {
                            quantity: q.def.name.as_str().into(),
                            profile: profile.name.as_str().into(),
                            other: self.defined_by[id.index()].as_str().into(),
                            field,
                            ours: ours.into(),
                            theirs: theirs.into(),
                        });
                    }
                }
                None => fresh += 1,
            }
        }
        if self.defs.len() + fresh > MAX_CATALOGUE_QUANTITIES {
            return Err(Clash::TooManyQuantities);
        }
        Ok(true)
    }

    /// Inserts a checked profile.
    fn insert(&mut self, profile: Profile, loaded: Option<usize>) -> Added {
        let mut new_quantities = Vec::new();
        let mut ids = Vec::with_capacity(profile.quantities.len());
        for q in &profile.quantities {
            let id = match self.by_name.get(&q.def.name) {
                Some(id) => *id,
                None => {
                    // Checked by `add`: at most MAX_CATALOGUE_QUANTITIES, so the id fits.
                    let id = QuantityId(u16::try_from(self.defs.len()).unwrap_or(u16::MAX));
                    self.defs.push(q.def.clone());
                    self.defined_by.push(profile.name.clone());
                    self.by_name.insert(q.def.name.clone(), id);
                    new_quantities.push(id);
                    id
                }
            };
            ids.push(id);
        }
        let entry = CataloguedProfile { profile, ids };
        match loaded {
            Some(at) => {
                let old = std::mem::replace(&mut self.profiles[at], entry);
                let dropped = old
                    .ids
                    .into_iter()
                    .filter(|id| !self.profiles[at].ids.contains(id))
                    .collect();
                Added::Upgraded {
                    from_version: old.profile.version,
                    new_quantities,
                    dropped,
                }
            }
            None => {
                self.by_profile_name
                    .insert(entry.profile.name.clone(), self.profiles.len());
                self.profiles.push(entry);
                Added::New { new_quantities }
            }
        }
    }

    /// The definition of a quantity. Panics on an id from another catalogue.
    pub fn get(&self, id: QuantityId) -> &QuantityDef {
        &self.defs[id.index()]
    }

    /// The id of the quantity of this wire name.
    pub fn id(&self, name: &str) -> Option<QuantityId> {
        self.by_name.get(name).copied()
    }

    /// The quantity of this wire name, with its id.
    pub fn lookup(&self, name: &str) -> Option<(QuantityId, &QuantityDef)> {
        self.id(name).map(|id| (id, self.get(id)))
    }

    /// The profile of this name.
    pub fn profile(&self, name: &str) -> Option<&CataloguedProfile> {
        self.by_profile_name.get(name).map(|at| &self.profiles[*at])
    }

    /// The profiles, in insertion order.
    pub fn profiles(&self) -> impl Iterator<Item = &CataloguedProfile> {
        self.profiles.iter()
    }

    /// The position of the profile of this name in insertion order: its index, stable for the
    /// life of the catalogue (a newer version takes the place of the one it replaces).
    pub fn profile_index(&self, name: &str) -> Option<usize> {
        self.by_profile_name.get(name).copied()
    }

    /// The profile at `index` in insertion order.
    pub fn profile_at(&self, index: usize) -> Option<&CataloguedProfile> {
        self.profiles.get(index)
    }

    /// The number of profiles.
    pub fn profile_count(&self) -> usize {
        self.profiles.len()
    }

    /// The profile names closest to `name`, best first, to suggest in an unknown-profile hint.
    pub fn closest_profile_names(&self, name: &str) -> Vec<&str> {
        super::closest(name, self.profiles.iter().map(|p| p.profile.name.as_str()))
    }

    /// Every quantity with its id, in id order.
    pub fn quantities(&self) -> impl Iterator<Item = (QuantityId, &QuantityDef)> {
        (0u16..).map(QuantityId).zip(self.defs.iter())
    }

    /// The profile that defined a quantity first (whose labels the catalogue keeps).
    pub fn defined_by(&self, id: QuantityId) -> &str {
        &self.defined_by[id.index()]
    }

    /// The number of quantities.
    pub fn len(&self) -> usize {
        self.defs.len()
    }

    /// Whether the catalogue has no quantity.
    pub fn is_empty(&self) -> bool {
        self.defs.is_empty()
    }

    /// The wire names closest to `name`, best first, to suggest in an unknown-quantity hint.
    pub fn closest_names(&self, name: &str) -> Vec<&str> {
        super::closest(name, self.defs.iter().map(|d| d.name.as_str()))
    }
}

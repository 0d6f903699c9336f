//! Which feature properties hold a neighbourhood's id and name, given or detected.
//!
//! Any polygon layer works when the caller names its properties; the Toulouse layers Garonne
//! ships with are recognised so that the common case needs no flags.

/// The names of the properties holding each feature's id and name.
///
/// A `None` field is detected from [`KNOWN_LAYERS`]: the first known layer whose id and name
/// properties the first feature has, and that agrees with the field that was given, if any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Properties {
    /// The id property (`--id-property`); `None` to detect it.
    pub id: Option<String>,
    /// The name property (`--name-property`); `None` to detect it.
    pub name: Option<String>,
}

impl Properties {
    /// Detect both properties from [`KNOWN_LAYERS`].
    pub fn detect() -> Self {
        Self::default()
    }

    /// Use these two properties.
    pub fn new(id: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            id: Some(id.into()),
            name: Some(name.into()),
        }
    }
}

/// A polygon layer whose properties are recognised without flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownLayer {
    /// The id property.
    pub id: &'static str,
    /// The name property.
    pub name: &'static str,
    /// What the layer is.
    pub description: &'static str,
}

/// The known layers, tried in this order.
// Design: the grands quartiers also carry `code_insee` (the commune's code, the same for all 60),
// so they must be tried before the communes, whose id is `code_insee`.
pub const KNOWN_LAYERS: &[KnownLayer] = &[
    KnownLayer {
        id: "quartier",
        name: "nom_quartier",
        description: "Toulouse, 20 quartiers de démocratie locale",
    },
    KnownLayer {
        id: "grd_quart",
        name: "libelle_des_grands_quartiers",
        description: "Toulouse, 60 INSEE grands quartiers",
    },
    KnownLayer {
        id: "code_insee",
        name: "libelle",
        description: "Toulouse Métropole, 37 communes",
    },
];

/// The id and name property names to use, or `None` when a missing one cannot be detected.
/// `has` says whether the first feature has a property.
pub(crate) fn resolve(given: &Properties, has: impl Fn(&str) -> bool) -> Option<(String, String)> {
    if let (Some(id), Some(name)) = (&given.id, &given.name) {
        return Some((id.clone(), name.clone()));
    }
    KNOWN_LAYERS
        .iter()
        .find(|layer| {
            given.id.as_deref().is_none_or(|id| id == layer.id)
                && given.name.as_deref().is_none_or(|name| name == layer.name)
                && has(layer.id)
                && has(layer.name)
        })
        .map(|layer| (layer.id.to_owned(), layer.name.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_table() {
        let quartiers = ["geo_point_2d", "quartier", "nom_quartier"];
        let grands = ["libelle_des_grands_quartiers", "code_insee", "grd_quart"];
        let communes = ["code_insee", "libelle", "libcom"];
        let other = ["NAME", "CODE"];
        let pair = |a: &str, b: &str| Some((a.to_owned(), b.to_owned()));
        /// (what, the first feature's properties, given, resolved)
        type Case<'a> = (&'a str, &'a [&'a str], Properties, Option<(String, String)>);
        let cases: &[Case] = &[
            (
                "quartiers detected",
                &quartiers,
                Properties::detect(),
                pair("quartier", "nom_quartier"),
            ),
            (
                "grands quartiers detected before communes (they also have code_insee)",
                &grands,
                Properties::detect(),
                pair("grd_quart", "libelle_des_grands_quartiers"),
            ),
            (
                "communes detected",
                &communes,
                Properties::detect(),
                pair("code_insee", "libelle"),
            ),
            ("unknown layer", &other, Properties::detect(), None),
            (
                "both given: used as is, even if absent",
                &other,
                Properties::new("CODE", "NAME"),
                pair("CODE", "NAME"),
            ),
            (
                "id given, name detected from the layer with that id",
                &communes,
                Properties {
                    id: Some("code_insee".into()),
                    name: None,
                },
                pair("code_insee", "libelle"),
            ),
            (
                "name given, id detected",
                &quartiers,
                Properties {
                    id: None,
                    name: Some("nom_quartier".into()),
                },
                pair("quartier", "nom_quartier"),
            ),
            (
                "id given but no known layer has it: not guessed",
                &other,
                Properties {
                    id: Some("CODE".into()),
                    name: None,
                },
                None,
            ),
        ];
        for (what, props, given, expected) in cases {
            let got = resolve(given, |p| props.contains(&p));
            assert_eq!(&got, expected, "{what}");
        }
    }
}

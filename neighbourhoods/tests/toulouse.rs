//! The Toulouse polygon layers and weather stations (the testkit fixture, see its SOURCES.md §1
//! and §2): detection of the known layers, the border rule on real shared vertices, and the
//! station counts SOURCES.md records.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use garonne_neighbourhoods::{Neighbourhoods, Properties};
use geo::{Contains, CoordsIter, Intersects, Point};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::Value;

const QUARTIERS: &str = "quartiers-de-democratie-locale.geojson";
const GRANDS_QUARTIERS: &str = "grands-quartiers-2015-population.geojson";
const COMMUNES: &str = "communes-toulouse-metropole.geojson";

fn load(file: &str) -> Neighbourhoods {
    Neighbourhoods::load(garonne_testkit::open_data_file(file), &Properties::detect())
        .unwrap_or_else(|e| panic!("{file} loads with detected properties: {e}"))
}

fn json(file: &str) -> Value {
    let bytes = std::fs::read(garonne_testkit::open_data_file(file)).expect("data file readable");
    serde_json::from_slice(&bytes).expect("data file is JSON")
}

/// (id_nom, ville, lon, lat) of the 77 weather stations.
fn stations() -> Vec<(String, String, f64, f64)> {
    let all = json("stations-meteo-en-place.json");
    let all = all.as_array().expect("a JSON array of stations");
    all.iter()
        .map(|s| {
            let text = |k: &str| s[k].as_str().expect("a string").to_owned();
            let number = |k: &str| s[k].as_f64().expect("a number");
            (
                text("id_nom"),
                text("ville"),
                number("longitude"),
                number("latitude"),
            )
        })
        .collect()
}

/// Brute force over every polygon, without the R-tree: the border rule as written.
fn locate_by_scan(set: &Neighbourhoods, lon: f64, lat: f64) -> Option<usize> {
    let p = Point::new(lon, lat);
    let mut polygons = set.iter().enumerate();
    polygons
        .clone()
        .find(|(_, n)| n.polygon().contains(&p))
        .or_else(|| polygons.find(|(_, n)| n.polygon().intersects(&p)))
        .map(|(i, _)| i)
}

#[test]
fn known_layers_are_detected() {
    // (file, id property, name property, count, an id, its name)
    let cases = [
        (
            QUARTIERS,
            "quartier",
            "nom_quartier",
            20,
            "6",
            "Saint-Cyprien",
        ),
        (
            GRANDS_QUARTIERS,
            "grd_quart",
            "libelle_des_grands_quartiers",
            60,
            "3155511",
            "SAINT-AUBIN - DUPUY",
        ),
        (COMMUNES, "code_insee", "libelle", 37, "31555", "Toulouse"),
    ];
    for (file, id_property, name_property, count, id, name) in cases {
        let set = load(file);
        assert_eq!(set.id_property(), id_property, "{file}");
        assert_eq!(set.name_property(), name_property, "{file}");
        assert_eq!(set.len(), count, "{file}");
        assert_eq!(set.by_id(id).map(|n| n.name()), Some(name), "{file}");
    }
}

#[test]
fn explicit_properties_override_detection() {
    let set = Neighbourhoods::load(
        garonne_testkit::open_data_file(COMMUNES),
        &Properties::new("libcom", "libelle"),
    )
    .expect("communes by upper-case name");
    assert_eq!(set.by_id("TOULOUSE").map(|n| n.name()), Some("Toulouse"));

    // The grands quartiers all share one code_insee: as an id, it is a duplicate.
    let err = Neighbourhoods::load(
        garonne_testkit::open_data_file(GRANDS_QUARTIERS),
        &Properties::new("code_insee", "libelle_des_grands_quartiers"),
    )
    .expect_err("code_insee is not unique in the grands quartiers");
    assert!(
        err.to_string()
            .ends_with(": features 0 and 1 both have id \"31555\""),
        "{err}"
    );
}

#[test]
fn quartier_reference_points_fall_in_their_own_polygon() {
    // (file, property holding the point, whether it is [lat, lon] rather than {lon, lat})
    let cases = [
        (QUARTIERS, "geo_point_2d"),
        (GRANDS_QUARTIERS, "geo_point"),
        (COMMUNES, "geo_point_2d"),
    ];
    for (file, property) in cases {
        let set = load(file);
        let features = json(file);
        let features = features["features"].as_array().expect("features");
        for (index, feature) in features.iter().enumerate() {
            let point = &feature["properties"][property];
            let (lon, lat) = match point.as_array() {
                // ODS v1 style: [lat, lon].
                Some(lat_lon) => (lat_lon[1].as_f64(), lat_lon[0].as_f64()),
                None => (point["lon"].as_f64(), point["lat"].as_f64()),
            };
            let (lon, lat) = (lon.expect("lon"), lat.expect("lat"));
            assert_eq!(set.locate(lon, lat), Some(index), "{file} feature {index}");
        }
    }
}

#[test]
fn the_57_toulouse_stations_fall_in_exactly_one_quartier() {
    let set = load(QUARTIERS);
    let mut per_quartier = vec![0; set.len()];
    let toulouse: Vec<_> = stations()
        .into_iter()
        .filter(|s| s.1 == "Toulouse")
        .collect();
    assert_eq!(toulouse.len(), 57);
    for (name, _, lon, lat) in toulouse {
        let p = Point::new(lon, lat);
        let closed: Vec<usize> = (0..set.len())
            .filter(|&i| set[i].polygon().intersects(&p))
            .collect();
        assert_eq!(
            closed.len(),
            1,
            "{name} is in one quartier, not on a border: {closed:?}"
        );
        assert_eq!(set.locate(lon, lat), Some(closed[0]), "{name}");
        per_quartier[closed[0]] += 1;
    }
    for (index, count) in per_quartier.iter().enumerate() {
        assert!(*count > 0, "quartier {} has a station", set[index].id());
    }
}

#[test]
fn the_77_stations_fall_in_the_communes_of_sources_md() {
    let set = load(COMMUNES);
    let expected: BTreeMap<&str, usize> = [
        ("Toulouse", 57),
        ("Pibrac", 3),
        ("Colomiers", 2),
        ("Mons", 2),
        ("Tournefeuille", 2),
        ("Blagnac", 2),
        ("Brax", 1),
        ("Castelginest", 1),
        ("Saint-Alban", 1),
        ("Mondonville", 1),
        ("Fenouillet", 1),
        ("Mondouzil", 1),
        ("L'Union", 1),
        ("Saint-Jory", 1),
        ("Cugnaux", 1),
    ]
    .into_iter()
    .collect();
    let mut found: BTreeMap<&str, usize> = BTreeMap::new();
    let all = stations();
    assert_eq!(all.len(), 77);
    for (name, ville, lon, lat) in &all {
        let index = set
            .locate(*lon, *lat)
            .unwrap_or_else(|| panic!("{name} is in a commune"));
        *found.entry(set[index].name()).or_default() += 1;
        if ville == "Toulouse" {
            assert_eq!(set[index].id(), "31555", "{name}");
        }
    }
    assert_eq!(found, expected);
}

#[test]
fn a_vertex_shared_by_two_quartiers_goes_to_the_first_in_file_order() {
    let set = load(QUARTIERS);
    // Regression: this vertex of the real file is shared by feature 0 (quartier 15,
    // Croix-de-Pierre) and feature 18 (quartier 14, Saint-Simon). Feature 0 wins although its
    // id is the larger: the rule is file order, not id order.
    let (lon, lat) = (1.430030107243428, 43.570444258341865);
    let owners: Vec<usize> = (0..set.len())
        .filter(|&i| set[i].polygon().intersects(&Point::new(lon, lat)))
        .collect();
    assert_eq!(owners, [0, 18]);
    assert_eq!((set[0].id(), set[18].id()), ("15", "14"));
    assert_eq!(set.locate(lon, lat), Some(0));
    // A vertex where three quartiers meet (features 0, 16, 18).
    assert_eq!(set.locate(1.431008573197477, 43.57055638031877), Some(0));

    // Every vertex shared by two or more quartiers: on no interior, and located to the
    // smallest index among the polygons that have it.
    let mut vertex_owners: HashMap<(u64, u64), BTreeSet<usize>> = HashMap::new();
    for (index, n) in set.iter().enumerate() {
        for c in n.polygon().coords_iter() {
            vertex_owners
                .entry((c.x.to_bits(), c.y.to_bits()))
                .or_default()
                .insert(index);
        }
    }
    let shared: Vec<_> = vertex_owners.iter().filter(|(_, o)| o.len() >= 2).collect();
    assert!(shared.len() > 1_000, "{} shared vertices", shared.len());
    for ((x, y), owners) in shared {
        let p = Point::new(f64::from_bits(*x), f64::from_bits(*y));
        assert!(
            set.iter().all(|n| !n.polygon().contains(&p)),
            "{p:?} is on borders only"
        );
        let first = owners.first().copied();
        assert_eq!(set.locate(p.x(), p.y()), first, "{p:?} owned by {owners:?}");
    }
}

#[test]
fn points_outside_every_polygon_are_none() {
    let quartiers = load(QUARTIERS);
    let communes = load(COMMUNES);
    // (what, lon, lat, in a quartier, in a commune)
    let cases = [
        ("Paris", 2.3522, 48.8566, false, false),
        ("null island", 0.0, 0.0, false, false),
        (
            "Blagnac airport: Toulouse Métropole, not the commune of Toulouse",
            1.3638,
            43.6291,
            false,
            true,
        ),
        ("Capitole", 1.4442, 43.6047, true, true),
    ];
    for (what, lon, lat, in_quartier, in_commune) in cases {
        assert_eq!(quartiers.locate(lon, lat).is_some(), in_quartier, "{what}");
        assert_eq!(communes.locate(lon, lat).is_some(), in_commune, "{what}");
    }
}

#[test]
fn the_r_tree_agrees_with_a_scan_of_every_polygon() {
    // Random points over the whole extent (some outside every polygon), plus one vertex in 50
    // of the communes (borders, where the rule matters; all 24,271 would take half a minute),
    // located with the R-tree and by a plain scan.
    for file in [QUARTIERS, GRANDS_QUARTIERS, COMMUNES] {
        let set = load(file);
        let mut rng = ChaCha8Rng::seed_from_u64(2025);
        let (mut inside, mut outside) = (0, 0);
        for _ in 0..500 {
            let (lon, lat) = (rng.random_range(1.19..1.65), rng.random_range(43.50..43.78));
            let found = set.locate(lon, lat);
            assert_eq!(found, locate_by_scan(&set, lon, lat), "{file} {lon},{lat}");
            if found.is_some() {
                inside += 1
            } else {
                outside += 1
            }
        }
        assert!(
            inside > 0 && outside > 0,
            "{file}: {inside} in, {outside} out"
        );
    }
    let communes = load(COMMUNES);
    for n in communes.iter() {
        for c in n.polygon().coords_iter().step_by(50) {
            assert_eq!(
                communes.locate(c.x, c.y),
                locate_by_scan(&communes, c.x, c.y)
            );
        }
    }
}

#[test]
fn random_points_are_reproducible_and_located_back() {
    for file in [QUARTIERS, GRANDS_QUARTIERS, COMMUNES] {
        let set = load(file);
        let draw = |seed: u64| -> Vec<Vec<(f64, f64)>> {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            (0..set.len())
                .map(|i| (0..20).map(|_| set.random_point_in(i, &mut rng)).collect())
                .collect()
        };
        let points = draw(42);
        assert_eq!(points, draw(42), "{file}: same seed, same points");
        for (index, points) in points.iter().enumerate() {
            for &(lon, lat) in points {
                assert_eq!(
                    set.locate(lon, lat),
                    Some(index),
                    "{file} {}",
                    set[index].id()
                );
            }
        }
    }
}

#[test]
fn areas_add_up() {
    // The 20 quartiers and the 60 grands quartiers both tile the commune of Toulouse
    // (118.3 km² per INSEE).
    let communes = load(COMMUNES);
    let toulouse = communes.by_id("31555").expect("Toulouse").area_km2();
    assert!((toulouse - 118.3).abs() < 1.0, "{toulouse} km²");
    for file in [QUARTIERS, GRANDS_QUARTIERS] {
        let total: f64 = load(file).iter().map(|n| n.area_km2()).sum();
        assert!(
            (total - toulouse).abs() < 0.5,
            "{file}: {total} km² vs {toulouse} km²"
        );
    }
}

//! Live profiles, one message at a time: accepted, unchanged, refused for each reason (and the
//! catalogue unchanged), unpublished, saved and registered again at start. The catalogue is the
//! process's: each test uses profile and quantity names of its own.

use super::*;
use rumqttc::QoS;

/// A valid profile of one quantity.
fn text(name: &str, version: u32, quantity: &str, unit: &str) -> String {
    format!(
        "name = \"{name}\"\nversion = {version}\ntitle = {{ en = \"Test\", fr = \"Essai\" }}\n\n\
         [[quantity]]\nname = \"{quantity}\"\nunit = \"{unit}\"\n\
         label = {{ en = \"Q\", fr = \"G\" }}\nmin = -50\nmax = 5000\nrequired = true\n\
         time = \"mean\"\nspace = \"mean\"\n"
    )
}

fn message(name: &str, payload: impl Into<Vec<u8>>) -> Publish {
    Publish::new(
        format!("garonne/v1/profiles/{name}"),
        QoS::AtLeastOnce,
        payload.into(),
    )
}

fn live(saved_in: Option<PathBuf>) -> LiveProfiles {
    LiveProfiles::new(&Topics::default())
        .saved_in(saved_in)
        .publishing_refusals()
}

fn handle(live: &LiveProfiles, message: &Publish) -> (Outcome, Vec<(String, Vec<u8>, bool)>) {
    let mut out = Outbox::new(1 << 20);
    let outcome = live.handle("test", message, Timestamp::now(), &mut out);
    let sent = out
        .waiting()
        .map(|m| (m.topic().to_owned(), m.payload().to_vec(), m.retain()))
        .collect();
    (outcome, sent)
}

fn refused(outcome: Outcome) -> Refusal {
    match outcome {
        Outcome::Refused(refusal) => refusal,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn topics_are_under_the_prefix_and_one_level_deep() {
    let live = LiveProfiles::new(&Topics::new("city/g").expect("prefix"));
    assert_eq!(live.filter(), "city/g/v1/profiles/+");
    assert_eq!(
        live.name_in("city/g/v1/profiles/ecole-co2"),
        Some("ecole-co2")
    );
    assert_eq!(live.name_in("city/g/v1/profiles/a/b"), None);
    assert_eq!(live.name_in("city/g/v1/profiles/"), None);
    assert_eq!(live.name_in("garonne/v1/profiles/x"), None);
    assert_eq!(
        live.error_topic("ecole-co2"),
        "city/g/v1/errors/profiles/ecole-co2"
    );
}

#[test]
fn a_new_profile_joins_the_catalogue_is_saved_and_its_refusal_cleared() {
    let dir = tempfile::tempdir().expect("temp dir");
    let folder = dir.path().join(SAVED_FOLDER);
    let live = live(Some(folder.clone()));
    assert_eq!(Quantity::from_name("liveTestCo2"), None);
    let good = text("live-test-new", 1, "liveTestCo2", "ppm");
    let (outcome, sent) = handle(&live, &message("live-test-new", good.clone()));
    assert!(
        matches!(outcome, Outcome::Accepted(Added::New { .. })),
        "{outcome:?}"
    );
    let q = Quantity::from_name("liveTestCo2").expect("known at once");
    assert_eq!(q.unit(), "ppm");
    assert_eq!(
        sent,
        [(
            "garonne/v1/errors/profiles/live-test-new".to_owned(),
            Vec::new(),
            true
        )],
        "an accepted profile clears its refusal"
    );
    let saved = std::fs::read_to_string(folder.join("live-test-new.toml")).expect("saved");
    assert_eq!(saved, good);
    // The same profile again (a restart's retained message): the catalogue unchanged, the
    // refusal topic cleared again (there is none for the profile the broker retains).
    let (outcome, sent) = handle(&live, &message("live-test-new", good.clone()));
    assert_eq!(outcome, Outcome::Unchanged);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(sent[0].1.is_empty(), "cleared");
    // Registered by another service of the process (`garonne up`): saved all the same.
    std::fs::remove_file(folder.join("live-test-new.toml")).expect("remove");
    let (outcome, _) = handle(&live, &message("live-test-new", good.clone()));
    assert_eq!(outcome, Outcome::Unchanged);
    assert_eq!(
        std::fs::read_to_string(folder.join("live-test-new.toml")).expect("saved again"),
        good
    );
    let mut e = Exposition::new();
    live.render("test", &mut e);
    let metrics = e.finish();
    assert!(
        metrics.contains("garonne_test_profiles_live_total 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("garonne_test_profiles_refused_total 0"),
        "{metrics}"
    );
}

#[test]
fn refused_profiles_change_nothing_and_say_why_where_the_author_sees_it() {
    let live = live(None);
    let clash = text("live-test-clash", 1, "temperature", "K");
    let cases: [(&str, Vec<u8>, &str); 6] = [
        ("live-test-clash", clash.into_bytes(), "clash"),
        (
            "live-test-parse",
            text("live-test-parse", 1, "liveTestParse", "furlong").into_bytes(),
            "unknown-unit",
        ),
        (
            "live-test-other",
            text("live-test-named", 1, "liveTestOther", "ppm").into_bytes(),
            "topic-name",
        ),
        ("live-test-bytes", vec![b'#', 0xff, 0xfe], "encoding"),
        ("live-test-big", vec![b'#'; MAX_PROFILE_BYTES + 1], "size"),
        ("live-test-toml", b"name = = 1".to_vec(), "toml-syntax"),
    ];
    for (name, payload, rule) in cases {
        let (outcome, sent) = handle(&live, &message(name, payload));
        let refusal = refused(outcome);
        assert_eq!(refusal.profile, name);
        assert_eq!(refusal.problems[0].rule, rule, "{refusal:?}");
        assert_eq!(sent.len(), 1, "{sent:?}");
        let (topic, json, retain) = &sent[0];
        assert_eq!(topic, &format!("garonne/v1/errors/profiles/{name}"));
        assert!(retain, "retained, for an author who subscribes later");
        let json: serde_json::Value = serde_json::from_slice(json).expect("JSON");
        let first = &json["problems"][0];
        assert_eq!(first["rule"], rule);
        for key in ["line", "column", "message"] {
            assert!(!first[key].is_null(), "{key}: {json}");
        }
        assert!(first["hint"]["en"].is_string() && first["hint"]["fr"].is_string());
    }
    // Nothing joined the catalogue (other tests add to it at the same time: no count).
    for name in [
        "live-test-clash",
        "live-test-parse",
        "live-test-named",
        "live-test-other",
    ] {
        assert!(
            Quantity::with_catalogue(|c| c.profile(name).is_none()),
            "{name}"
        );
    }
    assert_eq!(Quantity::from_name("liveTestParse"), None);
    assert_eq!(Quantity::from_name("liveTestOther"), None);
    assert_eq!(Quantity::Temperature.unit(), "°C");
}

#[test]
fn a_clash_is_placed_at_its_quantity_and_its_good_version_clears_it() {
    let live = live(None);
    let bad = text("live-test-fix", 1, "temperature", "K");
    let refusal = refused(handle(&live, &message("live-test-fix", bad.clone())).0);
    let line = bad
        .lines()
        .position(|l| l == "name = \"temperature\"")
        .expect("line") as u32
        + 1;
    assert_eq!(
        (refusal.problems[0].line, refusal.problems[0].column),
        (line, 8)
    );
    assert!(
        refusal.problems[0].message.contains("weather"),
        "{refusal:?}"
    );
    assert_eq!(refusal.version, Some(1));
    let good = text("live-test-fix", 1, "liveTestFix", "ppm");
    let (outcome, sent) = handle(&live, &message("live-test-fix", good.clone()));
    assert!(matches!(outcome, Outcome::Accepted(_)));
    assert_eq!(sent.len(), 1);
    assert!(sent[0].1.is_empty(), "cleared");
    // Refused again by the version rule (same version, other content), then the good one
    // again: unchanged, but the refusal is cleared.
    let other = text("live-test-fix", 1, "liveTestFix", "ppm").replace("Essai", "Autre");
    let refusal = refused(handle(&live, &message("live-test-fix", other)).0);
    assert!(
        refusal.problems[0].message.contains("version 1"),
        "{refusal:?}"
    );
    let (outcome, sent) = handle(&live, &message("live-test-fix", good));
    assert_eq!(outcome, Outcome::Unchanged);
    assert_eq!(sent.len(), 1);
    assert!(sent[0].1.is_empty(), "cleared");
}

#[test]
fn only_the_refusal_publisher_publishes() {
    let live = LiveProfiles::new(&Topics::default());
    let bad = text("live-test-quiet", 1, "temperature", "K");
    let (outcome, sent) = handle(&live, &message("live-test-quiet", bad));
    refused(outcome);
    assert!(sent.is_empty(), "{sent:?}");
}

#[test]
fn unpublished_profiles_stay_until_restart_and_saved_ones_come_back_at_start() {
    let dir = tempfile::tempdir().expect("temp dir");
    let folder = dir.path().join(SAVED_FOLDER);
    std::fs::create_dir_all(&folder).expect("folder");
    std::fs::write(
        folder.join("live-test-saved.toml"),
        text("live-test-saved", 1, "liveTestSaved", "ppm"),
    )
    .expect("write");
    std::fs::write(folder.join("broken.toml"), "name = = 1").expect("write");
    let live = live(Some(folder.clone()));
    assert_eq!(live.register_saved(), 1, "the broken one is skipped");
    assert!(Quantity::from_name("liveTestSaved").is_some());
    assert_eq!(live.register_saved(), 0, "already there");
    let (outcome, _) = handle(&live, &message("live-test-saved", Vec::new()));
    assert_eq!(outcome, Outcome::Unpublished);
    assert!(Quantity::from_name("liveTestSaved").is_some(), "stays");
    assert!(
        !folder.join("live-test-saved.toml").exists(),
        "not back after restart"
    );
}

//! The course walkthrough, "Votre projet sur Garonne en un après-midi" (docs/fr/votre-projet.md,
//! docs/your-project.md), run as a student would: its profile checks, both guides show that
//! profile file verbatim, and its Python script (paho-mqtt) sends readings that `garonne up`,
//! started with the profile in its profiles folder, validates and shows on the map's API.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{garonne, ports};
use serde_json::Value;

const GUIDES: [&str; 2] = ["docs/fr/votre-projet.md", "docs/your-project.md"];

fn example_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/examples/classe-co2")
}

/// A child process killed when dropped, also when the test fails.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A Python 3 that has paho-mqtt: `python3` on PATH, else Debian's. Under CI a missing one is a
/// failure (scripts/install-test-deps.sh installs python3-paho-mqtt); otherwise the test is
/// skipped, said.
fn python_with_paho() -> Option<&'static str> {
    for python in ["python3", "/usr/bin/python3"] {
        let has_paho = Command::new(python)
            .args(["-c", "import paho.mqtt.client"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if has_paho {
            return Some(python);
        }
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true: no python3 with paho-mqtt (apt-get install python3-paho-mqtt, or run \
         scripts/install-test-deps.sh)"
    );
    eprintln!("skipped: no python3 with paho-mqtt (apt-get install python3-paho-mqtt)");
    None
}

#[test]
fn the_walkthrough_profile_checks() {
    let output = Command::new(env!("CARGO_BIN_EXE_garonne"))
        .args(["profile", "check"])
        .arg(example_dir().join("classe-co2.toml"))
        .output()
        .expect("garonne runs");
    assert!(
        output.status.success(),
        "garonne profile check: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn both_guides_show_the_profile_and_the_script_they_use() {
    let profile =
        std::fs::read_to_string(example_dir().join("classe-co2.toml")).expect("the profile");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for guide in GUIDES {
        let text = std::fs::read_to_string(root.join(guide)).expect("the guide");
        assert!(
            text.contains(&format!("```toml\n{profile}```")),
            "{guide} shows docs/examples/classe-co2/classe-co2.toml verbatim in a ```toml block"
        );
        assert!(
            text.contains("docs/examples/classe-co2/envoyer_mesures.py"),
            "{guide} names the script"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_script_readings_reach_the_map_of_garonne_up() {
    let Some(python) = python_with_paho() else {
        return;
    };
    let data = garonne_testkit::open_data_dir();
    let state = tempfile::tempdir().expect("a temp dir");
    let ports @ [mqtt, http, ..] = ports();
    let mut up = garonne(&data, state.path(), ports);
    up.env("GARONNE_PROFILES_DIR", example_dir())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let _up = Killed(up.spawn().expect("garonne starts"));

    let base = format!("http://127.0.0.1:{http}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while reqwest::get(format!("{base}/api/config")).await.is_err() {
        assert!(Instant::now() < deadline, "garonne up answers within 60 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let script = Command::new(python)
        .arg(example_dir().join("envoyer_mesures.py"))
        .args(["--broker", &format!("mqtt://127.0.0.1:{mqtt}")])
        .args([
            "--capteur",
            "salle-test",
            "--nombre",
            "3",
            "--intervalle",
            "0.2",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let mut script = Killed(script);
    let started = Instant::now();
    let status = loop {
        if let Some(status) = script.0.try_wait().expect("the script's state") {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the script ends within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let mut stderr = String::new();
    if let Some(mut pipe) = script.0.stderr.take() {
        std::io::Read::read_to_string(&mut pipe, &mut stderr).expect("its error output");
    }
    assert!(status.success(), "envoyer_mesures.py: {stderr}");

    // The last reading (seq 2) is on the map, with every quantity of the profile.
    let reading = loop {
        let sensor = sensor(&base, "salle-test").await;
        let reading = sensor.as_ref().map(|f| f["properties"]["reading"].clone());
        if let Some(reading) = reading.filter(|r| r["seq"] == 2) {
            break reading;
        }
        assert!(
            Instant::now() < deadline,
            "the script's last reading in /api/sensors within 60 s; the sensor: {sensor:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let quantities = &reading["quantities"];
    for name in ["co2", "temperature", "relativeHumidity", "pupils"] {
        assert!(
            quantities[name].is_number(),
            "{name} in the reading: {quantities}"
        );
    }
    assert_eq!(quantities["pupils"], 28);
}

/// The GeoJSON feature of `id` in /api/sensors, if there is one yet.
async fn sensor(base: &str, id: &str) -> Option<Value> {
    let body = reqwest::get(format!("{base}/api/sensors"))
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    let sensors: Value = serde_json::from_str(&body).ok()?;
    sensors["features"]
        .as_array()?
        .iter()
        .find(|f| f["properties"]["sensor_id"] == id)
        .cloned()
}

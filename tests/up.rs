//! `garonne` alone (what `cargo run --release` runs), the real binary on the Toulouse open data:
//! the map's API fills with live aggregates for every quartier, a client from outside receives
//! readings from the embedded broker, and SIGTERM stops everything with its state saved. With an
//! empty data folder and the portal out of reach, it starts on its built-in starter dataset.
//! Then the ways it refuses to start: open data missing and not downloadable (starter refused),
//! an address taken, a broker beyond loopback without a password; and with one, the login it
//! then asks of every client.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{garonne, ports};
use garonne_testkit::free_port;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::Value;

/// The Toulouse open data: the testkit's committed fixture, or `GARONNE_DATA_DIR`.
fn data_dir() -> PathBuf {
    garonne_testkit::open_data_dir()
}

/// The open data, or `None` (said) when it is missing outside CI; under CI=true a failure.
fn open_data_or_skip() -> Option<PathBuf> {
    let data = data_dir();
    if data
        .join("quartiers-de-democratie-locale.geojson")
        .is_file()
    {
        return Some(data);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true: the Toulouse open data is missing at {} (set GARONNE_DATA_DIR)",
        data.display()
    );
    eprintln!(
        "skipped: no open data at {} (set GARONNE_DATA_DIR)",
        data.display()
    );
    None
}

/// `garonne` running on free ports (mqtt, http, realtime's and the historian's metrics), its
/// state in a temporary folder, its standard error in `stderr.log` there.
struct Started {
    state: tempfile::TempDir,
    ports: [u16; 4],
    running: Running,
}

/// Starts [`garonne`] on `data` (with `configure`'s extra settings, given the ports) and waits
/// until its four ports answer.
///
/// A port found free can be taken by a parallel test before garonne binds it; garonne then
/// stops at once ("not free", "in use"). That start is tried again on new ports, up to three
/// times; any other early stop fails the test with garonne's standard error.
fn start(data: &Path, configure: impl Fn(&mut Command, [u16; 4])) -> Started {
    for _attempt in 0..3 {
        let state = tempfile::tempdir().expect("temp dir");
        let ports = ports();
        let log = state.path().join("stderr.log");
        let mut command = garonne(data, state.path(), ports);
        configure(&mut command, ports);
        let mut running = Running {
            child: command
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).expect("log file"))
                .spawn()
                .expect("garonne starts"),
            log: log.clone(),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let answering = ports
                .iter()
                .all(|port| std::net::TcpStream::connect(("127.0.0.1", *port)).is_ok());
            if answering {
                return Started {
                    state,
                    ports,
                    running,
                };
            }
            if running.child.try_wait().expect("wait").is_some() {
                let stderr = std::fs::read_to_string(&log).unwrap_or_default();
                assert!(
                    stderr.contains("not free") || stderr.contains("in use"),
                    "garonne stopped at start:\n{stderr}"
                );
                eprintln!("a port was taken before garonne bound it: again on new ports");
                break;
            }
            assert!(
                Instant::now() < deadline,
                "garonne's ports did not all answer within 60 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    panic!("garonne found a port taken three times in a row");
}

/// [`start`] on the open data; `None` when the open data is missing (skipped).
fn start_on_open_data(configure: impl Fn(&mut Command, [u16; 4])) -> Option<Started> {
    Some(start(&open_data_or_skip()?, configure))
}

/// Runs `command` to its end (at most 60 s) and returns what it printed.
fn finish(mut command: Command) -> Output {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("garonne starts");
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("garonne did not stop by itself");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().expect("output")
}

/// Kills the child if the test fails before stopping it, and then shows its standard error.
struct Running {
    child: Child,
    log: PathBuf,
}

impl Running {
    /// Fails the test, with garonne's standard error, if garonne has stopped.
    fn assert_alive(&mut self, what: &str) {
        if let Some(status) = self.child.try_wait().expect("wait") {
            let stderr = std::fs::read_to_string(&self.log).unwrap_or_default();
            panic!("garonne stopped ({status}) {what}:\n{stderr}");
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let stderr = std::fs::read_to_string(&self.log).unwrap_or_default();
            eprintln!("garonne's standard error:\n{stderr}");
        }
    }
}

/// Waits (at most 60 s) until the map's API shows the 20 quartiers, each with its live
/// aggregate; returns them and the sensors' GeoJSON.
async fn every_quartier_live(base: &str, running: &mut Running) -> (Vec<Value>, Value) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let answer = async |path: &str| -> Option<Value> {
            let body = reqwest::get(format!("{base}{path}"))
                .await
                .ok()?
                .text()
                .await
                .ok()?;
            serde_json::from_str(&body).ok()
        };
        if let (Some(n), Some(s)) = (
            answer("/api/neighbourhoods").await,
            answer("/api/sensors").await,
        ) {
            let features = n["features"].as_array().cloned().unwrap_or_default();
            if features.len() == 20
                && features
                    .iter()
                    .all(|f| !f["properties"]["aggregate"].is_null())
            {
                return (features, s);
            }
        }
        assert!(
            Instant::now() < deadline,
            "the 20 quartiers never all had an aggregate"
        );
        running.assert_alive("before every quartier had an aggregate");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garonne_alone_runs_the_live_map_and_stops_with_its_state_saved() {
    let Some(Started {
        state,
        ports,
        mut running,
    }) = start_on_open_data(|_, _| ())
    else {
        return;
    };
    let base = format!("http://127.0.0.1:{}", ports[1]);

    // Every quartier gets its live aggregate on the map's API.
    let (neighbourhoods, sensors) = every_quartier_live(&base, &mut running).await;
    assert!(
        neighbourhoods
            .iter()
            .all(|f| f["properties"]["aggregate"]["quantities"]["temperature"]["mean"].is_f64()),
        "every quartier has a mean temperature"
    );
    let markers = sensors["features"].as_array().map_or(0, Vec::len);
    assert!(
        markers >= 20 * 2,
        "the simulated sensors are on the map ({markers})"
    );
    let page = reqwest::get(format!("{base}/"))
        .await
        .expect("the map page");
    assert_eq!(page.status(), 200);

    // A client from outside the process, as a Pi agent or mosquitto_sub, gets the readings.
    let mut options = MqttOptions::new("up-test-outside", "127.0.0.1", ports[0]);
    options.set_keep_alive(Duration::from_secs(5));
    let (client, mut eventloop) = AsyncClient::new(options, 10);
    client
        .subscribe("garonne/v1/sensors/+/reading", QoS::AtMostOnce)
        .await
        .expect("subscribe");
    let reading = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::Publish(p))) => break p,
                Ok(_) => {}
                Err(e) => panic!("the embedded broker refused an outside client: {e}"),
            }
        }
    })
    .await
    .expect("a reading from the embedded broker");
    let now = garonne_payload::Timestamp::from_system_time(std::time::SystemTime::now());
    garonne_payload::parse_reading(&reading.payload, now, &garonne_payload::Limits::default())
        .unwrap_or_else(|e| panic!("a valid reading on {}: {e:?}", reading.topic));

    // SIGTERM stops everything, in time, and the state is on disk.
    let pid = running.child.id().to_string();
    let stopping = Instant::now();
    let kill = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(kill.success());
    let status = loop {
        if let Some(status) = running.child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            stopping.elapsed() < Duration::from_secs(10),
            "garonne still running 10 s after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        status.success(),
        "garonne exits cleanly after SIGTERM: {status}"
    );
    let snapshot: Value = serde_json::from_slice(
        &std::fs::read(state.path().join("realtime-snapshot.json")).expect("realtime's snapshot"),
    )
    .expect("the snapshot is JSON");
    let ids = |list: &Value, key: &str| -> std::collections::BTreeSet<String> {
        list.as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s.pointer(key).and_then(Value::as_str).map(str::to_owned))
            .collect()
    };
    // Realtime knows a sensor by its readings: the map also shows those with only a status
    // yet (a bike station announces itself before its first replayed count).
    let with_reading = serde_json::Value::Array(
        sensors["features"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|f| !f["properties"]["reading"].is_null())
            .cloned()
            .collect(),
    );
    let saved = ids(&snapshot["sensors"], "/id");
    let shown = ids(&with_reading, "/properties/sensor_id");
    assert!(shown.len() >= 20 * 2, "sensors with a reading on the map");
    let missing: Vec<&String> = shown.difference(&saved).collect();
    assert!(
        missing.is_empty(),
        "the snapshot holds every sensor the map showed a reading of; missing: {missing:?}"
    );
    assert!(
        state.path().join("history.sqlite").is_file(),
        "the history store"
    );
}

#[test]
fn without_open_data_offline_and_no_starter_it_says_how_to_provide_it() {
    let empty = tempfile::tempdir().expect("temp dir");
    let state = tempfile::tempdir().expect("temp dir");
    let mut command = garonne(empty.path(), state.path(), ports());
    command.env("GARONNE_NO_STARTER", "true");
    let output = finish(command);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let error: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error")).collect();
    assert_eq!(error.len(), 1, "one line of error: {stderr}");
    for fix in ["garonne data fetch", "--data-dir", "GARONNE_DATA_DIR"] {
        assert!(
            error[0].contains(fix),
            "the error names {fix}: {}",
            error[0]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_open_data_and_offline_it_starts_on_the_built_in_starter() {
    let empty = tempfile::tempdir().expect("temp dir");
    let Started {
        state: _state,
        ports,
        mut running,
    } = start(empty.path(), |_, _| ());
    let log = running.log.clone();
    let base = format!("http://127.0.0.1:{}", ports[1]);
    let (neighbourhoods, _) = every_quartier_live(&base, &mut running).await;
    assert_eq!(neighbourhoods.len(), 20, "the starter's 20 quartiers");

    let stderr = std::fs::read_to_string(&log).expect("the log");
    let said: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("starter dataset"))
        .collect();
    assert_eq!(said.len(), 1, "one line says so: {stderr}");
    assert!(said[0].contains("garonne data fetch"), "{}", said[0]);
    for file in [
        "stations-meteo-en-place.json",
        "quartiers-de-democratie-locale.geojson",
        "STARTER-ATTRIBUTION.md",
    ] {
        assert!(empty.path().join(file).is_file(), "{file} written");
    }
}

#[test]
fn a_taken_address_or_a_broker_beyond_loopback_is_refused_with_the_fix() {
    let state = tempfile::tempdir().expect("temp dir");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let mut ports = ports();
    ports[1] = taken.local_addr().expect("addr").port();
    let output = finish(garonne(&data_dir(), state.path(), ports));
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("not free") && stderr.contains("--http"),
        "{stderr}"
    );

    let mut command = garonne(&data_dir(), state.path(), self::ports());
    command.env("GARONNE_MQTT_ADDR", "0.0.0.0:1883");
    let output = finish(command);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("only with a password") && stderr.contains("GARONNE_MQTT_PASSWORD"),
        "{stderr}"
    );
}

#[test]
fn data_fetch_if_missing_downloads_nothing_when_the_open_data_is_there() {
    let Some(data) = open_data_or_skip() else {
        return;
    };
    // The portal is unreachable: only a run that downloads nothing can succeed.
    let unreachable = format!("http://127.0.0.1:{}", free_port().expect("a free port"));
    let mut command = Command::new(env!("CARGO_BIN_EXE_garonne"));
    command
        .args(["data", "fetch", "--if-missing", "--data-dir"])
        .arg(&data)
        .env("GARONNE_OPENDATA_URL", &unreachable);
    let output = finish(command);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("nothing downloaded"), "{stdout}");

    // Without the files, --if-missing downloads (and, offline, fails saying so).
    let empty = tempfile::tempdir().expect("temp dir");
    let mut command = Command::new(env!("CARGO_BIN_EXE_garonne"));
    command
        .args(["data", "fetch", "--if-missing", "--data-dir"])
        .arg(empty.path())
        .env("GARONNE_OPENDATA_URL", &unreachable);
    assert!(
        !finish(command).status.success(),
        "an offline download fails"
    );
}

/// Connects to the broker at `port` with `login`; whether the broker accepted it.
async fn broker_accepts(port: u16, login: Option<(&str, &str)>) -> bool {
    let mut options = MqttOptions::new("up-test-login", "127.0.0.1", port);
    if let Some((username, password)) = login {
        options.set_credentials(username, password);
    }
    let (_client, mut eventloop) = AsyncClient::new(options, 10);
    let answer = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => return true,
                Ok(_) => {}
                Err(_) => return false,
            }
        }
    });
    answer.await.expect("the broker answers a CONNECT")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beyond_loopback_the_embedded_broker_asks_every_client_for_the_password() {
    let Some(Started {
        state: _state,
        ports,
        running: _running,
    }) = start_on_open_data(|command, ports| {
        command
            .env("GARONNE_MQTT_ADDR", format!("0.0.0.0:{}", ports[0]))
            .env("GARONNE_MQTT_USERNAME", "classroom")
            .env("GARONNE_MQTT_PASSWORD", "a-long-secret")
            .arg("up")
            .arg("--no-simulator");
    })
    else {
        return;
    };

    // The web server is ready once it is logged in to the embedded broker.
    let ready = format!("http://127.0.0.1:{}/readyz", ports[1]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !reqwest::get(&ready)
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(
            Instant::now() < deadline,
            "the web server never logged in to the broker"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(broker_accepts(ports[0], Some(("classroom", "a-long-secret"))).await);
    assert!(
        !broker_accepts(ports[0], Some(("classroom", "wrong"))).await,
        "a wrong password"
    );
    assert!(!broker_accepts(ports[0], None).await, "no login");
}

#[test]
fn inconsistent_mqtt_credentials_are_refused_by_every_mqtt_command() {
    let state = tempfile::tempdir().expect("temp dir");
    for command in ["up", "simulate", "realtime", "historian", "serve"] {
        let mut garonne = garonne(&data_dir(), state.path(), ports());
        garonne
            .arg(command)
            .env_remove("GARONNE_MQTT_USERNAME")
            .env("GARONNE_MQTT_PASSWORD", "s3cret");
        let output = finish(garonne);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{command}: {stderr}");
        assert!(
            stderr.contains("GARONNE_MQTT_PASSWORD is set without GARONNE_MQTT_USERNAME")
                && !stderr.contains("s3cret"),
            "{command}: {stderr}"
        );
    }
}

/// The default profiles folder is `profiles/` in the command's own data folder (`--data-dir`,
/// or `GARONNE_DATA_DIR`), not `data/profiles` of the working directory: a profile there that
/// does not check stops every command that has a data folder, naming the file, before it runs.
#[test]
fn the_default_profiles_folder_is_in_the_commands_data_folder() {
    let cwd = tempfile::tempdir().expect("temp dir");
    let data = tempfile::tempdir().expect("temp dir");
    let profiles = data.path().join("profiles");
    std::fs::create_dir(&profiles).expect("profiles folder");
    std::fs::write(profiles.join("broken.toml"), "name = = 1\n").expect("write");
    for command in ["realtime", "historian", "serve", "up"] {
        for by_env in [false, true] {
            let mut garonne = Command::new(env!("CARGO_BIN_EXE_garonne"));
            garonne
                .arg(command)
                .arg("--print-default-config")
                .current_dir(cwd.path())
                .env_remove("GARONNE_PROFILES_DIR")
                .env_remove("GARONNE_DATA_DIR");
            if command == "up" {
                // `up` has no --print-default-config: the profiles stop it before it starts.
                garonne = Command::new(env!("CARGO_BIN_EXE_garonne"));
                garonne
                    .arg(command)
                    .current_dir(cwd.path())
                    .env_remove("GARONNE_PROFILES_DIR")
                    .env_remove("GARONNE_DATA_DIR");
            }
            if by_env {
                garonne.env("GARONNE_DATA_DIR", data.path());
            } else {
                garonne.arg("--data-dir").arg(data.path());
            }
            let out = finish(garonne);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{command}: {stderr}");
            assert!(
                stderr.contains(&profiles.join("broken.toml").display().to_string()),
                "{command}: {stderr}"
            );
        }
    }
}

/// `garonne profile publish` against `garonne up`'s embedded broker, with no login set (anyone
/// on loopback may publish): realtime loads the profile live and says so, and a reading of its
/// quantity reaches the map's sensor list, with no restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_profile_published_to_the_embedded_broker_is_loaded_live() {
    let Some(Started {
        state,
        ports,
        mut running,
    }) = start_on_open_data(|command, _| {
        command
            .env_remove("GARONNE_MQTT_USERNAME")
            .env_remove("GARONNE_MQTT_PASSWORD");
    })
    else {
        return;
    };
    let base = format!("http://127.0.0.1:{}", ports[1]);
    every_quartier_live(&base, &mut running).await;

    let file = state.path().join("ecole-up.toml");
    std::fs::write(
        &file,
        "name = \"ecole-up\"\nversion = 1\ntitle = { en = \"Up\", fr = \"Up\" }\n\n\
         [[quantity]]\nname = \"upCo2\"\nunit = \"ppm\"\nlabel = { en = \"CO2\", fr = \"CO2\" }\n\
         min = 0\nmax = 10000\n",
    )
    .expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_garonne"))
        .args(["profile", "publish"])
        .arg(&file)
        .args(["--broker", &format!("mqtt://127.0.0.1:{}", ports[0])])
        .current_dir(state.path())
        .env_remove("GARONNE_MQTT_USERNAME")
        .env_remove("GARONNE_MQTT_PASSWORD")
        .output()
        .expect("garonne profile publish");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("realtime loaded it"), "{stdout}");

    let (client, mut eventloop) = AsyncClient::new(
        MqttOptions::new("up-test-profile", "127.0.0.1", ports[0]),
        10,
    );
    let now = garonne_payload::Timestamp::from_system_time(std::time::SystemTime::now());
    client
        .publish(
            "garonne/v1/sensors/classe-up/reading",
            QoS::AtLeastOnce,
            false,
            format!(
                r#"{{"v":1,"sensor_id":"classe-up","kind":"classroom","source":"device","time":"{now}","seq":1,"location":{{"lon":1.4442,"lat":43.6047}},"quantities":{{"upCo2":700}}}}"#
            ),
        )
        .await
        .expect("publish");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let _ = tokio::time::timeout(Duration::from_millis(100), eventloop.poll()).await;
        let sensors = match reqwest::get(format!("{base}/api/sensors")).await {
            Ok(response) => response.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if sensors.contains("classe-up") && sensors.contains("upCo2") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the reading never reached the map"
        );
        running.assert_alive("before the reading reached the map");
    }
}

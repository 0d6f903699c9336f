//! Live profiles end to end (issue 14, "Done when"): `garonne realtime`, `garonne historian`
//! (embedded store) and `garonne serve`, the real binary, against a real mosquitto. A profile the
//! test writes is published with `garonne profile publish`; within seconds realtime aggregates
//! its quantities, the historian stores them (the server's `/api/history` answers for them) and
//! the server lists the sensor's reading with them, with no service restarted. The same with the
//! profile in `--profiles DIR` at start. A bad profile published raw is refused on
//! `errors/profiles/NAME`, every service runs on and the catalogue is unchanged. And realtime
//! stopped, a reading of a live quantity queued for it, started again: the reading is taken
//! (the saved live profile is registered before the queued readings arrive).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use garonne_payload::Timestamp;
use garonne_testkit::{Launch, Mosquitto, Server, wait_until_ready};
use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Packet, QoS};
use serde_json::Value;

/// The Capitole, inside a quartier of the fixture's polygons.
const INSIDE: (f64, f64) = (1.4442, 43.6047);
/// How long anything may take.
const WAIT: Duration = Duration::from_secs(30);

/// The test's profile: two quantities no built-in profile has.
const PROFILE: &str = r#"name = "ecole-co2"
version = 1
title = { en = "Classroom CO2", fr = "CO2 en classe" }

[[quantity]]
name = "classCo2"
unit = "ppm"
label = { en = "CO2", fr = "CO2" }
min = 0
max = 10000
required = true
time = "mean"
space = "mean"

[[quantity]]
name = "classNoise"
unit = "dBA"
label = { en = "Noise", fr = "Bruit" }
min = 0
max = 140
required = false
time = "max"
space = "max"
"#;

/// A profile that gives weather's `temperature` another unit, and a quantity of its own.
const CLASH: &str = r#"name = "bad-temp"
version = 1
title = { en = "Bad", fr = "Mauvais" }

[[quantity]]
name = "badExtra"
unit = "1"
label = { en = "Extra", fr = "En plus" }
min = 0
max = 10
required = false
time = "mean"
space = "mean"

[[quantity]]
name = "temperature"
unit = "K"
label = { en = "Temperature", fr = "Température" }
min = 0
max = 400
required = true
time = "mean"
space = "mean"
"#;

/// The three services on one broker, under one prefix, in one folder; killed when dropped.
struct Stack {
    prefix: &'static str,
    dir: tempfile::TempDir,
    realtime: Server,
    historian: Server,
    server: Server,
}

fn polygons() -> PathBuf {
    garonne_testkit::open_data_file("quartiers-de-democratie-locale.geojson")
}

/// `garonne` in `dir` (so that no `data/profiles` of the working tree is loaded).
fn launch(name: &str, dir: &Path, port: u16, extra: &[&str]) -> Launch {
    Launch::new(
        name,
        env!("CARGO_BIN_EXE_garonne"),
        port,
        dir.join(format!("{}.log", name.replace(' ', "-"))),
    )
    .current_dir(dir)
    .args(extra)
    .env("GARONNE_LOG", "info,rumqttd=off")
}

fn start_realtime(broker: &Mosquitto, prefix: &str, dir: &Path, extra: &[&str]) -> Server {
    Server::start_on_free_port(5, |port| {
        Ok(launch("garonne realtime", dir, port, extra)
            .args(["realtime", "--broker", &broker.url(), "--prefix", prefix])
            .args(["--client-id", &format!("{prefix}-realtime")])
            .arg("--neighbourhoods")
            .arg(polygons())
            .arg("--snapshot")
            .arg(dir.join("snapshot.json"))
            .args(["--snapshot-every", "1s", "--window", "1h"])
            .args(["--emit-every", "200ms"])
            .args(["--metrics-addr", &format!("127.0.0.1:{port}")]))
    })
    .expect("garonne realtime starts")
}

fn start_historian(broker: &Mosquitto, prefix: &str, dir: &Path, extra: &[&str]) -> Server {
    Server::start_on_free_port(5, |port| {
        Ok(launch("garonne historian", dir, port, extra)
            .args(["historian", "--broker", &broker.url(), "--prefix", prefix])
            .args(["--client-id", &format!("{prefix}-historian")])
            .args(["--store", "embedded", "--store-path"])
            .arg(dir.join("history.sqlite"))
            .arg("--spool-dir")
            .arg(dir.join("spool"))
            .args(["--flush-interval", "100ms"])
            .args(["--metrics-addr", &format!("127.0.0.1:{port}")]))
    })
    .expect("garonne historian starts")
}

fn start_server(broker: &Mosquitto, prefix: &str, dir: &Path, extra: &[&str]) -> Server {
    Server::start_on_free_port(5, |port| {
        Ok(launch("garonne serve", dir, port, extra)
            .args(["serve", "--broker", &broker.url(), "--prefix", prefix])
            .args(["--store", "embedded", "--store-path"])
            .arg(dir.join("history.sqlite"))
            .arg("--neighbourhoods")
            .arg(polygons())
            .args(["--http", &format!("127.0.0.1:{port}")]))
    })
    .expect("garonne serve starts")
}

impl Stack {
    /// The three services, each with `extra` arguments (`--profiles DIR`), ready.
    async fn start(broker: &Mosquitto, prefix: &'static str, extra: &[&str]) -> Stack {
        let dir = tempfile::tempdir().expect("temp dir");
        let realtime = start_realtime(broker, prefix, dir.path(), extra);
        let historian = start_historian(broker, prefix, dir.path(), extra);
        let server = start_server(broker, prefix, dir.path(), extra);
        for s in [&realtime, &historian, &server] {
            assert!(
                wait_until_ready(s.address(), WAIT).await,
                "{} never became ready: {}",
                s.name(),
                s.log_tail()
            );
        }
        Stack {
            prefix,
            dir,
            realtime,
            historian,
            server,
        }
    }

    /// Every service still runs (none restarted, none crashed).
    fn assert_running(&mut self) {
        for s in [&mut self.realtime, &mut self.historian, &mut self.server] {
            assert!(s.is_running(), "{} stopped: {}", s.name(), s.log_tail());
        }
    }

    fn base(&self) -> String {
        format!("http://{}", self.server.address())
    }
}

/// A client of the broker subscribed to `filters`.
async fn client(broker: &Mosquitto, id: &str, filters: &[String]) -> (AsyncClient, EventLoop) {
    let mut options = MqttOptions::new(id, broker.host(), broker.port());
    options.set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut eventloop) = AsyncClient::new(options, 100);
    for f in filters {
        client
            .subscribe(f, QoS::AtLeastOnce)
            .await
            .expect("subscribe");
    }
    // Until every subscription is acknowledged.
    let mut acks = 0;
    while acks < filters.len() {
        if let Event::Incoming(Packet::SubAck(_)) = tokio::time::timeout(WAIT, eventloop.poll())
            .await
            .expect("the broker answers")
            .expect("broker")
        {
            acks += 1;
        }
    }
    (client, eventloop)
}

fn reading(sensor: &str, seq: u64, quantities: &str) -> String {
    format!(
        r#"{{"v":1,"sensor_id":"{sensor}","kind":"classroom","source":"device","time":"{}","seq":{seq},"location":{{"lon":{},"lat":{}}},"quantities":{{{quantities}}}}}"#,
        Timestamp::now(),
        INSIDE.0,
        INSIDE.1
    )
}

/// The first message on a topic of `eventloop` whose JSON `found` accepts, within [`WAIT`].
async fn first(
    eventloop: &mut EventLoop,
    what: &str,
    found: impl Fn(&str, &Value) -> bool,
) -> Value {
    let wait = async {
        loop {
            if let Event::Incoming(Packet::Publish(p)) = eventloop.poll().await.expect("broker")
                && let Ok(json) = serde_json::from_slice::<Value>(&p.payload)
                && found(&p.topic, &json)
            {
                return json;
            }
        }
    };
    tokio::time::timeout(WAIT, wait)
        .await
        .unwrap_or_else(|_| panic!("no {what} within {WAIT:?}"))
}

/// Asks `url` until `found` accepts its JSON, within [`WAIT`].
async fn poll_http(url: &str, found: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut last = Value::Null;
    while tokio::time::Instant::now() < deadline {
        if let Ok(response) = reqwest::get(url).await
            && let Ok(text) = response.text().await
            && let Ok(json) = serde_json::from_str::<Value>(&text)
        {
            if found(&json) {
                return json;
            }
            last = json;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{url} never answered as expected; last: {last}");
}

/// Readings of the profile's quantities reach every service: realtime's aggregate has them, the
/// history has them, the server's sensor list shows them.
async fn readings_flow(stack: &mut Stack, broker: &Mosquitto, sensor: &str) {
    let prefix = stack.prefix;
    let (client, mut eventloop) = client(
        broker,
        &format!("{prefix}-watch"),
        &[format!("{prefix}/v1/neighbourhoods/+/aggregate")],
    )
    .await;
    let topic = format!("{prefix}/v1/sensors/{sensor}/reading");
    for seq in 0..3 {
        let body = reading(sensor, seq, r#""classCo2":800,"classNoise":55"#);
        client
            .publish(&topic, QoS::AtLeastOnce, false, body)
            .await
            .expect("publish");
    }
    let aggregate = first(&mut eventloop, "aggregate with classCo2", |_, a| {
        a["quantities"]["classCo2"].is_object()
    })
    .await;
    assert!(
        aggregate["quantities"]["classNoise"].is_object(),
        "{aggregate}"
    );

    let base = stack.base();
    let history = poll_http(
        &format!("{base}/api/history?sensor={sensor}&quantity=classCo2"),
        |h| h["buckets"].as_array().is_some_and(|b| !b.is_empty()),
    )
    .await;
    assert_eq!(history["buckets"][0]["mean"], 800.0, "{history}");
    let sensors = poll_http(&format!("{base}/api/sensors"), |s| {
        s.to_string().contains(sensor) && s.to_string().contains("classCo2")
    })
    .await;
    assert!(sensors.to_string().contains("classNoise"), "{sensors}");
    stack.assert_running();
}

/// `garonne profile publish FILE` on the test's broker, to its end.
fn publish(broker: &Mosquitto, prefix: &str, file: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_garonne"))
        .args(["profile", "publish"])
        .arg(file)
        .args(["--broker", &broker.url(), "--prefix", prefix, "--wait", "5"])
        .current_dir(file.parent().expect("folder"))
        .env_remove("GARONNE_MQTT_USERNAME")
        .env_remove("GARONNE_MQTT_PASSWORD")
        .output()
        .expect("garonne profile publish runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_profile_published_live_reaches_every_service_without_a_restart() {
    let Some(broker) = Mosquitto::start_or_skip() else {
        return;
    };
    let mut stack = Stack::start(&broker, "plive1", &[]).await;
    let file = stack.dir.path().join("ecole-co2.toml");
    std::fs::write(&file, PROFILE).expect("write");
    let started = std::time::Instant::now();
    let out = publish(&broker, stack.prefix, &file);
    let published_in = started.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("published") && stdout.contains("plive1/v1/profiles/ecole-co2"),
        "{stdout}"
    );
    assert!(stdout.contains("realtime loaded it"), "{stdout}");
    let started = std::time::Instant::now();
    readings_flow(&mut stack, &broker, "classe-1").await;
    // Figures for the record (seen with --nocapture).
    eprintln!(
        "profile publish (check, connect, publish, realtime's word): {published_in:?}; \
         readings to aggregate, history and sensor list: {:?}",
        started.elapsed()
    );
    let metrics = garonne_testkit::Metrics::scrape(stack.realtime.address()).await;
    assert_eq!(metrics.value("garonne_realtime_profiles_live_total"), 1.0);
    // Published again, unchanged: nothing to do.
    let again = publish(&broker, stack.prefix, &file);
    assert!(again.status.success());
    assert!(String::from_utf8_lossy(&again.stdout).contains("unchanged"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_profile_in_the_profiles_folder_at_start_reaches_every_service() {
    let Some(broker) = Mosquitto::start_or_skip() else {
        return;
    };
    let profiles = tempfile::tempdir().expect("temp dir");
    std::fs::write(profiles.path().join("ecole-co2.toml"), PROFILE).expect("write");
    let folder = profiles.path().display().to_string();
    let mut stack = Stack::start(&broker, "plive2", &["--profiles", &folder]).await;
    readings_flow(&mut stack, &broker, "classe-2").await;

    // A profile that checks on the teacher's machine (no profiles folder there) but clashes
    // with the services' catalogue: published, refused by them, and `profile publish` says so.
    let other = tempfile::tempdir().expect("temp dir");
    let file = other.path().join("ecole-bis.toml");
    let bis = PROFILE
        .replace("ecole-co2", "ecole-bis")
        .replace("max = 10000", "max = 5000");
    std::fs::write(&file, bis).expect("write");
    let out = publish(&broker, stack.prefix, &file);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("ecole-bis.toml:6:8: clash:")
            && stdout.contains("refused by the services")
            && stdout.contains("conseil"),
        "{stdout}"
    );
    stack.assert_running();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_profile_is_refused_where_its_author_sees_it_and_changes_nothing() {
    let Some(broker) = Mosquitto::start_or_skip() else {
        return;
    };
    let mut stack = Stack::start(&broker, "plive3", &[]).await;
    let prefix = stack.prefix;
    let (client, mut eventloop) = client(
        &broker,
        "plive3-author",
        &[
            format!("{prefix}/v1/errors/profiles/bad-temp"),
            format!("{prefix}/v1/errors/+"),
        ],
    )
    .await;
    client
        .publish(
            format!("{prefix}/v1/profiles/bad-temp"),
            QoS::AtLeastOnce,
            true,
            CLASH,
        )
        .await
        .expect("publish");
    let refusal = first(&mut eventloop, "refusal", |topic, _| {
        topic.ends_with("/errors/profiles/bad-temp")
    })
    .await;
    let problem = &refusal["problems"][0];
    assert_eq!(problem["rule"], "clash", "{refusal}");
    assert!(
        problem["message"]
            .as_str()
            .is_some_and(|m| m.contains("weather")),
        "{refusal}"
    );
    assert_eq!(
        problem["line"], 16,
        "the line of name = \"temperature\": {refusal}"
    );
    assert!(problem["hint"]["fr"].is_string(), "{refusal}");
    // The catalogue is unchanged: the bad profile's own quantity is still unknown.
    client
        .publish(
            format!("{prefix}/v1/sensors/bad-1/reading"),
            QoS::AtLeastOnce,
            false,
            reading("bad-1", 0, r#""badExtra":1"#),
        )
        .await
        .expect("publish");
    let error = first(&mut eventloop, "error report of bad-1", |topic, _| {
        topic.ends_with("/errors/bad-1")
    })
    .await;
    assert!(error.to_string().contains("unknown-quantity"), "{error}");
    for service in [&stack.realtime, &stack.historian] {
        let metrics = garonne_testkit::Metrics::scrape(service.address()).await;
        let name = service.name().trim_start_matches("garonne ").to_owned();
        assert_eq!(
            metrics.value(&format!("garonne_{name}_profiles_refused_total")),
            1.0,
            "{}",
            metrics.text()
        );
        assert_eq!(
            metrics.value(&format!("garonne_{name}_profiles_live_total")),
            0.0
        );
    }
    // The same file through garonne profile publish: refused before it reaches the broker.
    let file = stack.dir.path().join("bad-temp.toml");
    std::fs::write(&file, CLASH).expect("write");
    let out = publish(&broker, prefix, &file);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("bad-temp.toml:16:8: clash:") && stdout.contains("conseil"),
        "{stdout}"
    );
    stack.assert_running();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reading_queued_while_realtime_was_down_is_taken_after_its_restart() {
    let Some(broker) = Mosquitto::start_or_skip() else {
        return;
    };
    let prefix = "plive4";
    let dir = tempfile::tempdir().expect("temp dir");
    let mut realtime = start_realtime(&broker, prefix, dir.path(), &[]);
    assert!(
        wait_until_ready(realtime.address(), WAIT).await,
        "{}",
        realtime.log_tail()
    );
    let file = dir.path().join("ecole-co2.toml");
    std::fs::write(&file, PROFILE).expect("write");
    let out = publish(&broker, prefix, &file);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    realtime.stop().expect("realtime stops");
    assert!(
        dir.path().join("live-profiles/ecole-co2.toml").is_file(),
        "saved"
    );

    // Queued by the broker for realtime's persistent session while it is away.
    let (client, mut eventloop) = client(
        &broker,
        "plive4-watch",
        &[
            format!("{prefix}/v1/neighbourhoods/+/aggregate"),
            format!("{prefix}/v1/errors/+"),
        ],
    )
    .await;
    client
        .publish(
            format!("{prefix}/v1/sensors/classe-4/reading"),
            QoS::AtLeastOnce,
            false,
            reading("classe-4", 0, r#""classCo2":650"#),
        )
        .await
        .expect("publish");
    let mut realtime = start_realtime(&broker, prefix, dir.path(), &[]);
    let aggregate = first(
        &mut eventloop,
        "aggregate with classCo2, or an error",
        |topic, json| topic.contains("/errors/") || json["quantities"]["classCo2"].is_object(),
    )
    .await;
    assert_eq!(
        aggregate["quantities"]["classCo2"]["mean"], 650.0,
        "{aggregate}"
    );
    assert!(realtime.is_running(), "{}", realtime.log_tail());
}

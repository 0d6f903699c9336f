//! The embedded broker of `garonne up` takes MQTT 3.1.1 and MQTT 5 clients on its one port, as
//! mosquitto does: mosquitto's own command-line clients, an implementation independent of ours,
//! publish and subscribe in each version and hear each other, with and without a login. A client
//! of an older protocol level is told so (CONNACK "unacceptable protocol version") and anything
//! that is not MQTT is disconnected, while the broker goes on serving.

mod common;

use std::future::Future;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{garonne, ports};
use garonne_testkit::{Metrics, wait_until_ready};

/// `garonne up` with no simulated fleet, its ports free, killed on drop (also when a test fails).
struct Up {
    child: Child,
    mqtt: u16,
    realtime: u16,
    _state: tempfile::TempDir,
}

impl Up {
    /// Starts it, with `login` as `GARONNE_MQTT_USERNAME`/`PASSWORD` (then listening on every
    /// interface, as a classroom would), and waits until its web server is logged in to the
    /// broker.
    fn start(login: Option<(&str, &str)>) -> Up {
        let state = tempfile::tempdir().expect("temp dir");
        let ports = ports();
        let [mqtt, http, realtime, _] = ports;
        let mut command = garonne(&garonne_testkit::open_data_dir(), state.path(), ports);
        command.args(["up", "--no-simulator"]).stdout(Stdio::null());
        if let Some((username, password)) = login {
            command
                .env("GARONNE_MQTT_ADDR", format!("0.0.0.0:{mqtt}"))
                .env("GARONNE_MQTT_USERNAME", username)
                .env("GARONNE_MQTT_PASSWORD", password);
        }
        let up = Up {
            child: command.spawn().expect("garonne starts"),
            mqtt,
            realtime,
            _state: state,
        };
        let ready = block_on(wait_until_ready(loopback(http), Duration::from_secs(60)));
        assert!(ready, "garonne up never became ready");
        up
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// 127.0.0.1:`port`.
fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Runs one of the testkit's async probes from these blocking tests.
fn block_on<T>(probe: impl Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(probe)
}

/// A mosquitto command-line client (`mosquitto_pub` or `mosquitto_sub`) speaking `version`
/// (`mqttv311` or `mqttv5`) to the broker on `port`.
fn client(program: &str, version: &str, port: u16, login: Option<(&str, &str)>) -> Command {
    let mut command = Command::new(program);
    command.args(["-h", "127.0.0.1", "-p", &port.to_string(), "-V", version]);
    if let Some((username, password)) = login {
        command.args(["-u", username, "-P", password]);
    }
    command
}

/// Publishes `message` retained on `topic` as the client `id` (`garonne-test-{version}` when
/// `None`); whether the broker took it.
fn publish(
    id: Option<&str>,
    version: &str,
    port: u16,
    login: Option<(&str, &str)>,
    topic: &str,
    message: &str,
) -> bool {
    let id = id.map_or_else(|| format!("garonne-test-{version}"), str::to_owned);
    client("mosquitto_pub", version, port, login)
        .args(["-i", &id, "-q", "1", "-r", "-t", topic, "-m", message])
        .stderr(Stdio::null())
        .status()
        .expect("mosquitto_pub runs (scripts/install-test-deps.sh installs mosquitto-clients)")
        .success()
}

/// The first message on `topic` (waiting at most 10 s), or `None`.
fn receive(version: &str, port: u16, login: Option<(&str, &str)>, topic: &str) -> Option<String> {
    let output = client("mosquitto_sub", version, port, login)
        .args(["-q", "1", "-t", topic, "-C", "1", "-W", "10"])
        .stderr(Stdio::null())
        .output()
        .expect("mosquitto_sub runs (scripts/install-test-deps.sh installs mosquitto-clients)");
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// Each version publishes on a topic of its own; each hears what the other published.
fn versions_hear_each_other(port: u16, login: Option<(&str, &str)>) {
    for (from, to) in [("mqttv311", "mqttv5"), ("mqttv5", "mqttv311")] {
        let topic = format!("garonne-test/{from}");
        let message = format!("published in {from}");
        assert!(
            publish(None, from, port, login, &topic, &message),
            "{from} cannot publish"
        );
        assert_eq!(
            receive(to, port, login, &topic).as_deref(),
            Some(message.as_str()),
            "a {to} subscriber did not receive what a {from} client published"
        );
    }
}

#[test]
fn mqtt_3_1_1_and_mqtt_5_clients_share_the_embedded_broker() {
    let up = Up::start(None);
    versions_hear_each_other(up.mqtt, None);
}

#[test]
fn with_a_login_both_versions_must_give_it() {
    let login = ("classroom", "a-long-secret");
    let up = Up::start(Some(login));
    versions_hear_each_other(up.mqtt, Some(login));
    for version in ["mqttv311", "mqttv5"] {
        assert!(
            !publish(
                None,
                version,
                up.mqtt,
                Some(("classroom", "wrong")),
                "garonne-test/x",
                "x"
            ),
            "{version}: a wrong password was accepted"
        );
        assert!(
            !publish(None, version, up.mqtt, None, "garonne-test/x", "x"),
            "{version}: no login was accepted"
        );
    }
}

#[test]
fn older_protocols_are_told_why_and_other_traffic_is_closed() {
    let up = Up::start(None);
    // An MQTT 3.1 CONNECT ("MQIsdp", level 3), client id "old".
    let mut old = TcpStream::connect(("127.0.0.1", up.mqtt)).expect("connects");
    old.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    old.write_all(&[
        0x10, 17, 0, 6, b'M', b'Q', b'I', b's', b'd', b'p', 3, 0x02, 0, 60, 0, 3, b'o', b'l', b'd',
    ])
    .expect("writes");
    let mut connack = Vec::new();
    old.read_to_end(&mut connack)
        .expect("the broker answers, then closes");
    assert_eq!(
        connack,
        [0x20, 0x02, 0x00, 0x01],
        "CONNACK: unacceptable protocol version"
    );

    let mut http = TcpStream::connect(("127.0.0.1", up.mqtt)).expect("connects");
    http.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    http.write_all(b"GET / HTTP/1.1\r\n\r\n").expect("writes");
    let mut answer = Vec::new();
    http.read_to_end(&mut answer)
        .expect("closed, not left hanging");
    assert!(answer.is_empty(), "{answer:?}");

    versions_hear_each_other(up.mqtt, None);
}

#[test]
fn nobody_from_outside_takes_a_services_session_over() {
    let up = Up::start(None);
    for version in ["mqttv311", "mqttv5"] {
        assert!(
            !publish(
                Some("garonne-realtime"),
                version,
                up.mqtt,
                None,
                "garonne-test/x",
                "x"
            ),
            "{version}: a client took realtime's client id"
        );
    }
    // realtime was never disconnected: no connection error, still connected.
    let metrics = block_on(Metrics::scrape(loopback(up.realtime)));
    for (sample, value) in [
        ("garonne_realtime_mqtt_connection_errors_total", 0.0),
        ("garonne_realtime_mqtt_connected", 1.0),
    ] {
        assert_eq!(
            metrics.get(sample),
            Some(value),
            "realtime's metrics lack {sample} {value}:\n{}",
            metrics.text()
        );
    }
    versions_hear_each_other(up.mqtt, None);
}

/// Publishes the file `payload` (not retained) on `topic`; whether the broker took it.
fn publish_file(version: &str, port: u16, topic: &str, payload: &std::path::Path) -> bool {
    client("mosquitto_pub", version, port, None)
        .args([
            "-i",
            &format!("garonne-big-{version}"),
            "-q",
            "1",
            "-t",
            topic,
        ])
        .arg("-f")
        .arg(payload)
        .stderr(Stdio::null())
        .status()
        .expect("mosquitto_pub runs (scripts/install-test-deps.sh installs mosquitto-clients)")
        .success()
}

/// The spec's largest message, a 256 KiB SenML pack, passes on a topic as long as a real one;
/// one byte per thousand over the brokers' cap is refused, and everything else goes on.
#[test]
fn the_largest_pack_the_spec_allows_passes_and_a_larger_message_is_refused() {
    let up = Up::start(None);
    let dir = tempfile::tempdir().expect("temp dir");
    let largest = dir.path().join("largest");
    let over = dir.path().join("over");
    std::fs::write(&largest, vec![b'x'; 256 * 1024]).expect("written");
    std::fs::write(&over, vec![b'x'; 270 * 1024]).expect("written");
    let topic = "garonne/v1/sensors/a-sensor-id-of-forty-characters-00000000/senml";
    for version in ["mqttv311", "mqttv5"] {
        let taken = std::thread::scope(|s| {
            let heard = s.spawn(|| {
                client("mosquitto_sub", version, up.mqtt, None)
                    .args(["-q", "1", "-t", topic, "-C", "1", "-W", "10"])
                    .stderr(Stdio::null())
                    .output()
                    .expect("mosquitto_sub runs")
                    .stdout
                    .len()
            });
            std::thread::sleep(Duration::from_millis(500));
            (
                publish_file(version, up.mqtt, topic, &largest),
                heard.join(),
            )
        });
        assert!(taken.0, "{version}: a 256 KiB pack was refused");
        assert_eq!(
            taken.1.expect("subscriber"),
            256 * 1024 + 1,
            "{version}: the 256 KiB pack was not delivered whole"
        );
        assert!(
            !publish_file(version, up.mqtt, topic, &over),
            "{version}: a 270 KiB message was taken"
        );
    }
    versions_hear_each_other(up.mqtt, None);
}

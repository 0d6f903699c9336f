//! What the tests of the `garonne` binary share: the command as a user would run it, on free
//! ports.

// Each test file compiles this module and uses a part of it.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

use garonne_testkit::free_port;

/// `garonne` with no arguments; everything else from the environment, as a user would set it.
pub fn garonne(data: &Path, state: &Path, ports: [u16; 4]) -> Command {
    let [mqtt, http, realtime, historian] = ports;
    let mut command = Command::new(env!("CARGO_BIN_EXE_garonne"));
    command
        .env("GARONNE_DATA_DIR", data)
        .env("GARONNE_STATE_DIR", state)
        .env("GARONNE_MQTT_ADDR", format!("127.0.0.1:{mqtt}"))
        .env("GARONNE_HTTP_ADDR", format!("127.0.0.1:{http}"))
        .env(
            "GARONNE_REALTIME_METRICS_ADDR",
            format!("127.0.0.1:{realtime}"),
        )
        .env(
            "GARONNE_HISTORIAN_METRICS_ADDR",
            format!("127.0.0.1:{historian}"),
        )
        .env("GARONNE_LOG", "warn,rumqttd=off")
        // Nothing is downloaded by the tests: a portal that answers nothing.
        .env(
            "GARONNE_OPENDATA_URL",
            format!("http://127.0.0.1:{}", free_port().expect("a free port")),
        );
    command
}

/// Four free ports: the broker's, the web server's, realtime's and the historian's metrics.
/// They are held together while picked, so the four differ.
pub fn ports() -> [u16; 4] {
    let held = [(); 4].map(|()| std::net::TcpListener::bind("127.0.0.1:0").expect("a free port"));
    held.map(|listener| listener.local_addr().expect("its address").port())
}

//! [`Mosquitto`]: a real MQTT broker on a free loopback port, and, when asked, a TLS listener
//! on a second one ([`Mosquitto::start_tls`]).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::instance::{Instance, Program, deref_instance, write_config};
use crate::{Error, Launch, TestCa, free_port};

/// The broker's program and package.
const PROGRAM: Program = Program {
    binary: "mosquitto",
    package: "mosquitto",
    health: None,
};

/// A mosquitto broker that runs until dropped.
///
/// It listens on 127.0.0.1 and a free port, lets anyone connect without a
/// password, and keeps its configuration (`mosquitto.conf`), persistence
/// file (`mosquitto.db`) and log (`mosquitto.log`) in a temporary directory
/// that is removed when the value is dropped. Its queues are raised well
/// above mosquitto's defaults (100 000 queued QoS 1 and 2 messages per
/// client, no limit on messages in flight) so load tests measure our code,
/// not the broker's limits.
///
/// Dropping it kills the broker (without saving) and frees the port; use
/// [`Instance::stop`] (SIGTERM: the broker writes its persistence file) and
/// [`Mosquitto::restart`] to take the broker down and bring it back mid-test
/// with its retained messages and sessions. Its port, directory and log are
/// [`Instance`]'s.
#[derive(Debug)]
pub struct Mosquitto {
    instance: Instance,
    /// The TLS listener's port, when it has one.
    tls_port: Option<u16>,
}

deref_instance!(Mosquitto);

impl Mosquitto {
    /// Starts a broker and waits (up to 10 s) until it accepts connections.
    ///
    /// # Errors
    ///
    /// [`Error::NotInstalled`] when mosquitto is not installed, or any
    /// error of [`Server::start`].
    pub fn start() -> Result<Self, Error> {
        Self::start_with("")
    }

    /// Starts a broker whose configuration ends with `extra_config`, lines
    /// in mosquitto.conf(5) syntax such as `password_file /path` or
    /// `acl_file /path`; for an option that takes one value, the last line
    /// that sets it wins. [`Mosquitto::dir`] is not known before the start,
    /// so files it names must be elsewhere.
    ///
    /// # Errors
    ///
    /// As [`Mosquitto::start`]; a line mosquitto rejects makes it exit during
    /// start-up, which is reported as [`Error::Exited`] with its message.
    pub fn start_with(extra_config: &str) -> Result<Self, Error> {
        Self::start_program(PROGRAM.find()?, None, extra_config)
    }

    /// Starts a broker as [`Mosquitto::start_with`] does, with a second listener on another
    /// free port of 127.0.0.1 that speaks MQTT over TLS with `ca`'s server certificate
    /// ([`TestCa::mosquitto_listener`]); `extra_config` comes after it, so a line of its that
    /// applies to one listener applies to the TLS one. Its address is [`Mosquitto::tls_url`].
    ///
    /// # Errors
    ///
    /// As [`Mosquitto::start_with`], and [`Error::Timeout`] when the TLS listener does not
    /// accept connections within 10 s.
    pub fn start_tls(ca: &TestCa, extra_config: &str) -> Result<Self, Error> {
        Self::start_program(PROGRAM.find()?, Some(ca), extra_config)
    }

    /// [`Mosquitto::start_tls`], skipping as [`Mosquitto::start_or_skip`] does.
    ///
    /// # Panics
    ///
    /// As [`Mosquitto::start_or_skip`].
    pub fn start_tls_or_skip(ca: &TestCa, extra_config: &str) -> Option<Self> {
        PROGRAM.start_or_skip(|program| Self::start_program(program, Some(ca), extra_config))
    }

    /// The TLS listener's port, for a broker started by [`Mosquitto::start_tls`].
    pub fn tls_port(&self) -> Option<u16> {
        self.tls_port
    }

    /// The TLS listener's address as a URL, `mqtts://127.0.0.1:PORT`, for a broker started by
    /// [`Mosquitto::start_tls`].
    pub fn tls_url(&self) -> Option<String> {
        self.tls_port
            .map(|port| format!("mqtts://{}:{port}", self.host()))
    }

    /// Starts a broker as [`Mosquitto::start`] does, or returns `None`
    /// (after printing `skipping: mosquitto not installed ...` to stderr)
    /// when mosquitto is not installed, for tests to return early:
    ///
    /// ```no_run
    /// let Some(broker) = garonne_testkit::Mosquitto::start_or_skip() else {
    ///     return;
    /// };
    /// ```
    ///
    /// # Panics
    ///
    /// When mosquitto is installed but does not start (that is a failure,
    /// never a skip), and when it is missing while the environment variable
    /// `CI` is `true` or `1` (see [`require`]).
    pub fn start_or_skip() -> Option<Self> {
        Self::start_with_or_skip("")
    }

    /// [`Mosquitto::start_with`], skipping as [`Mosquitto::start_or_skip`]
    /// does.
    ///
    /// # Panics
    ///
    /// As [`Mosquitto::start_or_skip`].
    pub fn start_with_or_skip(extra_config: &str) -> Option<Self> {
        PROGRAM.start_or_skip(|program| Self::start_program(program, None, extra_config))
    }

    /// The broker's address as a URL: `mqtt://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("mqtt://{}:{}", self.host(), self.port())
    }

    /// Stops the broker if it runs, then starts it again on the same port
    /// with the same configuration and persistence file, so it still holds
    /// the retained messages and persistent sessions it had.
    ///
    /// # Errors
    ///
    /// As [`Instance::stop`] and [`Mosquitto::start`].
    pub fn restart(&mut self) -> Result<(), Error> {
        self.instance.restart(PROGRAM)
    }

    /// Writes the configuration in a new temporary directory and starts
    /// `program` with it, on another port if the first one is taken; with
    /// `tls`, a TLS listener on a second free port.
    fn start_program(
        program: PathBuf,
        tls: Option<&TestCa>,
        extra_config: &str,
    ) -> Result<Self, Error> {
        let mut tls_port = None;
        let instance = Instance::start(PROGRAM, |port, dir| {
            let extra = match tls {
                Some(ca) => {
                    // Picked at each attempt: a taken port fails the start, which is retried.
                    let port = free_port()?;
                    tls_port = Some(port);
                    ca.mosquitto_listener(port) + extra_config
                }
                None => extra_config.to_owned(),
            };
            launch(&program, port, dir, &extra)
        })?;
        let broker = Self { instance, tls_port };
        if let Some(port) = broker.tls_port {
            broker.wait_for_tls_listener(port)?;
        }
        Ok(broker)
    }

    /// Waits (up to 10 s) until the TLS listener accepts TCP connections: mosquitto opens its
    /// listeners one after the other.
    fn wait_for_tls_listener(&self, port: u16) -> Result<(), Error> {
        let address = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        let timeout = Duration::from_secs(10);
        let started = Instant::now();
        while std::net::TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_err() {
            if started.elapsed() > timeout {
                return Err(Error::Timeout {
                    name: "mosquitto (TLS listener)".to_owned(),
                    address,
                    timeout,
                    log: self.log_tail(),
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }
}

/// Writes the configuration of a broker on `port` keeping its files in `dir` (see
/// [`configuration`]), and describes the process.
fn launch(program: &Path, port: u16, dir: &Path, extra_config: &str) -> Result<Launch, Error> {
    let config = dir.join("mosquitto.conf");
    write_config(&config, &configuration(port, dir, extra_config))?;
    Ok(
        Launch::new(PROGRAM.binary, program, port, dir.join("mosquitto.log"))
            .arg("-c")
            .arg(&config),
    )
}

/// The text of mosquitto.conf for a broker on `port` keeping its files in
/// `dir`, followed by `extra`.
fn configuration(port: u16, dir: &Path, extra: &str) -> String {
    // The persistence location is a prefix, not a directory: it needs the
    // trailing slash.
    let mut text = format!(
        "# Written by garonne-testkit for one test.\n\
         listener {port} 127.0.0.1\n\
         allow_anonymous true\n\
         # As root, mosquitto 2 switches to the user `mosquitto`, which cannot\n\
         # write to this directory; for any other user this line does nothing.\n\
         user root\n\
         persistence true\n\
         persistence_location {}/\n\
         persistence_file mosquitto.db\n\
         # Standard error goes to mosquitto.log, along with start-up errors\n\
         # printed before the log is opened.\n\
         log_dest stderr\n\
         log_type error\n\
         log_type warning\n\
         log_type notice\n\
         log_type information\n\
         max_queued_messages 100000\n\
         max_inflight_messages 0\n\
         set_tcp_nodelay true\n",
        dir.display()
    );
    if !extra.is_empty() {
        text.push_str("# Extra lines given to Mosquitto::start_with.\n");
        text.push_str(extra);
        if !extra.ends_with('\n') {
            text.push('\n');
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instance::PORT_ATTEMPTS;
    use crate::{Server, require};

    #[test]
    fn configuration_listens_on_loopback_and_persists_in_the_directory() {
        let text = configuration(41235, Path::new("/tmp/x"), "password_file /etc/p");
        assert!(text.contains("\nlistener 41235 127.0.0.1\n"), "{text}");
        assert!(text.contains("\npersistence_location /tmp/x/\n"), "{text}");
        assert!(text.contains("\nuser root\n"), "{text}");
        assert!(text.ends_with("\npassword_file /etc/p\n"), "{text}");
    }

    /// The first port offered is held by another listener, and the next
    /// attempt gets a free port.
    #[test]
    fn a_taken_port_is_retried_with_another() -> Result<(), Box<dyn std::error::Error>> {
        let Some(program) = require(PROGRAM.binary, PROGRAM.package) else {
            return Ok(());
        };
        let squatter = std::net::TcpListener::bind("127.0.0.1:0")?;
        let taken = squatter.local_addr()?.port();
        let dir = tempfile::tempdir()?;
        let mut offered = Vec::new();
        let server = Server::start_on_free_port(PORT_ATTEMPTS, |free| {
            let port = if offered.is_empty() { taken } else { free };
            offered.push(port);
            launch(&program, port, dir.path(), "")
        })?;
        assert_eq!(offered.len(), 2, "ports offered: {offered:?}");
        assert_eq!(server.port(), offered[1]);
        assert_ne!(server.port(), taken);
        drop(squatter);
        Ok(())
    }
}

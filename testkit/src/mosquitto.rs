//! [`Mosquitto`]: a real MQTT broker on a free loopback port.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use tempfile::TempDir;

use crate::{Error, Launch, Server, find, require};

/// The broker's program.
const BINARY: &str = "mosquitto";

/// The Debian package that installs it.
const PACKAGE: &str = "mosquitto";

/// How many ports to try when another process takes the free one first.
const PORT_ATTEMPTS: usize = 5;

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
/// [`Mosquitto::stop`] and [`Mosquitto::restart`] to take the broker down
/// and bring it back mid-test with its retained messages and sessions.
#[derive(Debug)]
pub struct Mosquitto {
    // Declared first so that it is dropped (the process killed) before the
    // directory it writes to is removed.
    server: Server,
    dir: TempDir,
}

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
        let program = find(BINARY).ok_or_else(|| Error::NotInstalled {
            binary: BINARY.to_owned(),
            package: PACKAGE.to_owned(),
        })?;
        Self::start_program(program, extra_config)
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
        let program = require(BINARY, PACKAGE)?;
        match Self::start_program(program, extra_config) {
            Ok(broker) => Some(broker),
            Err(error) => panic!("{}", chain(&error)),
        }
    }

    /// The host the broker listens on: `127.0.0.1`.
    pub fn host(&self) -> &'static str {
        "127.0.0.1"
    }

    /// The port the broker listens on; it stays the same across restarts.
    pub fn port(&self) -> u16 {
        self.server.port()
    }

    /// The broker's address as a URL: `mqtt://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("mqtt://{}:{}", self.host(), self.port())
    }

    /// The temporary directory with the configuration, persistence file
    /// and log.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The broker's log file.
    pub fn log(&self) -> &Path {
        self.server.log()
    }

    /// The last lines the broker wrote to its log since it last started,
    /// for assertion messages.
    pub fn log_tail(&self) -> String {
        self.server.log_tail()
    }

    /// Whether the broker process is running (it may have crashed).
    pub fn is_running(&mut self) -> bool {
        self.server.is_running()
    }

    /// Stops the broker cleanly (SIGTERM), so that it writes its
    /// persistence file, and waits for it to exit. Clients see their
    /// connection drop. Does nothing if it is already stopped.
    ///
    /// # Errors
    ///
    /// [`Error::Stop`] when the process cannot be signalled or waited for.
    pub fn stop(&mut self) -> Result<(), Error> {
        self.server.stop()
    }

    /// Stops the broker if it runs, then starts it again on the same port
    /// with the same configuration and persistence file, so it still holds
    /// the retained messages and persistent sessions it had.
    ///
    /// # Errors
    ///
    /// As [`Mosquitto::stop`] and [`Mosquitto::start`].
    pub fn restart(&mut self) -> Result<(), Error> {
        self.server.restart()
    }

    /// Writes the configuration in a new temporary directory and starts
    /// `program` with it, on another port if the first one is taken.
    fn start_program(program: PathBuf, extra_config: &str) -> Result<Self, Error> {
        let dir = tempfile::Builder::new()
            .prefix("garonne-mosquitto-")
            .tempdir()
            .map_err(|source| Error::TempDir {
                name: BINARY.to_owned(),
                source,
            })?;
        let config = dir.path().join("mosquitto.conf");
        let log = dir.path().join("mosquitto.log");
        let server = Server::start_on_free_port(PORT_ATTEMPTS, |port| {
            let text = configuration(port, dir.path(), extra_config);
            std::fs::write(&config, text).map_err(|source| Error::Write {
                path: config.clone(),
                source,
            })?;
            Ok(Launch::new(BINARY, &program, port, &log)
                .arg("-c")
                .arg(&config))
        })?;
        Ok(Self { server, dir })
    }
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

/// An error and its sources, one per line.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        // Writing to a String cannot fail.
        let _ = write!(text, "\ncaused by: {cause}");
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let Some(program) = require(BINARY, PACKAGE) else {
            return Ok(());
        };
        let squatter = std::net::TcpListener::bind("127.0.0.1:0")?;
        let taken = squatter.local_addr()?.port();
        let dir = tempfile::tempdir()?;
        let config = dir.path().join("mosquitto.conf");
        let log = dir.path().join("mosquitto.log");
        let mut offered = Vec::new();
        let server = Server::start_on_free_port(PORT_ATTEMPTS, |free| {
            let port = if offered.is_empty() { taken } else { free };
            offered.push(port);
            std::fs::write(&config, configuration(port, dir.path(), "")).map_err(|source| {
                Error::Write {
                    path: config.clone(),
                    source,
                }
            })?;
            Ok(Launch::new(BINARY, &program, port, &log)
                .arg("-c")
                .arg(&config))
        })?;
        assert_eq!(offered.len(), 2, "ports offered: {offered:?}");
        assert_eq!(server.port(), offered[1]);
        assert_ne!(server.port(), taken);
        drop(squatter);
        Ok(())
    }

    #[test]
    fn chain_lists_the_causes() {
        let error = Error::Stop {
            name: "mosquitto".to_owned(),
            port: 1,
            source: std::io::Error::other("no such process"),
        };
        assert_eq!(
            chain(&error),
            "could not stop mosquitto on port 1\ncaused by: no such process"
        );
    }
}

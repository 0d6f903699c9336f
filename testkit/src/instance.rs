//! [`Instance`]: a server process and the temporary directory it keeps its files in.
//!
//! Mosquitto, influxd and VictoriaMetrics are run the same way: a fresh temporary directory for
//! the configuration, data and log, a [`Server`] started on a free port (another one if that is
//! taken first), killed before its directory is removed. [`Instance`] is that shape once; each
//! server's type adds its configuration, its URL and its readiness check, and derefs to it for
//! the rest (`port`, `dir`, `log_tail`, `stop`, ...).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tempfile::TempDir;

use crate::influxd::wait_for_http;
use crate::{Error, Launch, Server, find, require};

/// How many ports to try when another process takes the free one first.
pub(crate) const PORT_ATTEMPTS: usize = 5;

/// A server's program: what to look for on the `PATH`, the Debian package that installs it, and
/// how it says it is ready.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Program {
    /// The program, such as `mosquitto`.
    pub(crate) binary: &'static str,
    /// The Debian package that installs it.
    pub(crate) package: &'static str,
    /// For an HTTP server, the request that answers once it is ready; `None`: ready once its
    /// port accepts connections.
    pub(crate) health: Option<Health>,
}

/// How an HTTP server says it is ready: `GET path` answers `status`, within `timeout` of its
/// start (which is also how long it is given to listen, and to stop).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Health {
    path: &'static str,
    status: u16,
    timeout: Duration,
}

impl Health {
    /// `GET path` answers `status` within `timeout_secs` seconds.
    pub(crate) const fn http(path: &'static str, status: u16, timeout_secs: u64) -> Health {
        Health {
            path,
            status,
            timeout: Duration::from_secs(timeout_secs),
        }
    }
}

impl Program {
    /// `launch` with this program's timeout, if it has one.
    pub(crate) fn timeout(self, launch: Launch) -> Launch {
        match self.health {
            Some(health) => launch.timeout(health.timeout),
            None => launch,
        }
    }

    /// Waits until `server` is ready (see [`Program::health`]).
    pub(crate) fn wait_ready(self, server: &mut Server) -> Result<(), Error> {
        match self.health {
            Some(Health {
                path,
                status,
                timeout,
            }) => wait_for_http(server, path, status, timeout),
            None => Ok(()),
        }
    }

    /// The program's path, or [`Error::NotInstalled`].
    pub(crate) fn find(self) -> Result<PathBuf, Error> {
        find(self.binary).ok_or_else(|| Error::NotInstalled {
            binary: self.binary.to_owned(),
            package: self.package.to_owned(),
        })
    }

    /// `start(program)` when the program is installed, `None` when it is not and a test may skip
    /// (see [`require`]).
    ///
    /// # Panics
    ///
    /// When the program is installed but does not start (a failure, never a skip), with the
    /// error and its causes; as [`require`] when it is missing under CI.
    pub(crate) fn start_or_skip<T>(
        self,
        start: impl FnOnce(PathBuf) -> Result<T, Error>,
    ) -> Option<T> {
        let program = require(self.binary, self.package)?;
        Some(start(program).unwrap_or_else(|error| panic!("{}", chain(&error))))
    }
}

/// A server process and the temporary directory with its configuration, data and log; dropping
/// it kills the process, then removes the directory.
#[derive(Debug)]
pub struct Instance {
    // Declared first so that it is dropped (the process killed) before the directory it
    // writes to is removed.
    server: Server,
    dir: TempDir,
}

impl Instance {
    /// Creates a temporary directory named after `program`, then starts the server `launch`
    /// describes for a free port and that directory (writing its configuration there), on
    /// another port when the first is taken, and waits until it is ready.
    pub(crate) fn start(
        program: Program,
        mut launch: impl FnMut(u16, &Path) -> Result<Launch, Error>,
    ) -> Result<Self, Error> {
        let name = program.binary;
        let dir = tempfile::Builder::new()
            .prefix(&format!("garonne-{name}-"))
            .tempdir()
            .map_err(|source| Error::TempDir {
                name: name.to_owned(),
                source,
            })?;
        let mut server = Server::start_on_free_port(PORT_ATTEMPTS, |port| {
            launch(port, dir.path()).map(|l| program.timeout(l))
        })?;
        program.wait_ready(&mut server)?;
        Ok(Self { server, dir })
    }

    /// Stops the server if it runs, then starts it again on the same port with the same files,
    /// and waits until it is ready.
    pub(crate) fn restart(&mut self, program: Program) -> Result<(), Error> {
        self.server.restart()?;
        program.wait_ready(&mut self.server)
    }

    /// The host the server listens on: `127.0.0.1`.
    pub fn host(&self) -> &'static str {
        "127.0.0.1"
    }

    /// The port the server listens on; it stays the same across restarts.
    pub fn port(&self) -> u16 {
        self.server.port()
    }

    /// The temporary directory with the configuration, data and log.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The server's log file.
    pub fn log(&self) -> &Path {
        self.server.log()
    }

    /// The last lines the server wrote to its log since it last started, for assertion
    /// messages.
    pub fn log_tail(&self) -> String {
        self.server.log_tail()
    }

    /// Whether the server process is running (it may have crashed).
    pub fn is_running(&mut self) -> bool {
        self.server.is_running()
    }

    /// Stops the server cleanly (SIGTERM, so that it saves its data) and waits for it to exit;
    /// clients then see their connection drop or refused. Does nothing if it is already
    /// stopped.
    ///
    /// # Errors
    ///
    /// [`Error::Stop`] when the process cannot be signalled or waited for.
    pub fn stop(&mut self) -> Result<(), Error> {
        self.server.stop()
    }

    /// The address the server listens on: 127.0.0.1 and [`Instance::port`].
    pub fn address(&self) -> std::net::SocketAddr {
        self.server.address()
    }
}

/// Writes a server's configuration file.
pub(crate) fn write_config(path: &Path, text: &str) -> Result<(), Error> {
    std::fs::write(path, text).map_err(|source| Error::Write {
        path: path.to_owned(),
        source,
    })
}

/// An error and its sources, one per line.
pub(crate) fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        // Writing to a String cannot fail.
        let _ = write!(text, "\ncaused by: {cause}");
        source = cause.source();
    }
    text
}

/// Lets a server type that holds an [`Instance`] in its field `instance` answer its methods.
macro_rules! deref_instance {
    ($server:ty) => {
        impl std::ops::Deref for $server {
            type Target = $crate::instance::Instance;

            fn deref(&self) -> &Self::Target {
                &self.instance
            }
        }

        impl std::ops::DerefMut for $server {
            fn deref_mut(&mut self) -> &mut Self::Target {
                &mut self.instance
            }
        }
    };
}
pub(crate) use deref_instance;

#[cfg(test)]
mod tests {
    use super::*;

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

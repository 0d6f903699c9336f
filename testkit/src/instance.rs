//! [`Instance`]: a server process and the temporary directory it keeps its files in.
//!
//! Mosquitto, influxd and VictoriaMetrics are run the same way: a fresh temporary directory for
//! the configuration, data and log, a [`Server`] started on a free port (another one if that is
//! taken first), killed before its directory is removed. [`Instance`] is that shape once; each
//! server's type adds its configuration, its URL and its readiness check, and derefs to it for
//! the rest (`port`, `dir`, `log_tail`, `stop`, ...).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use tempfile::TempDir;

use crate::{Error, Launch, Server, find, require};

/// How many ports to try when another process takes the free one first.
pub(crate) const PORT_ATTEMPTS: usize = 5;

/// A server's program: what to look for on the `PATH`, and the Debian package that installs it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Program {
    /// The program, such as `mosquitto`.
    pub(crate) binary: &'static str,
    /// The Debian package that installs it.
    pub(crate) package: &'static str,
}

impl Program {
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
    /// Creates a temporary directory named after `name`, then starts the server `launch`
    /// describes for a free port and that directory (writing its configuration there), on
    /// another port when the first is taken.
    pub(crate) fn start(
        name: &str,
        mut launch: impl FnMut(u16, &Path) -> Result<Launch, Error>,
    ) -> Result<Self, Error> {
        let dir = tempfile::Builder::new()
            .prefix(&format!("garonne-{name}-"))
            .tempdir()
            .map_err(|source| Error::TempDir {
                name: name.to_owned(),
                source,
            })?;
        let server = Server::start_on_free_port(PORT_ATTEMPTS, |port| launch(port, dir.path()))?;
        Ok(Self { server, dir })
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

    /// The process, for the server types' readiness checks and restarts.
    pub(crate) fn server(&mut self) -> &mut Server {
        &mut self.server
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

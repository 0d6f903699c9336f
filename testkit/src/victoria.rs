//! [`Victoria`]: a real VictoriaMetrics single-node server (Debian's `victoria-metrics`
//! package) on a free loopback port, the line-protocol store the historian also writes to
//! through InfluxDB's v2 write API.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tempfile::TempDir;

use crate::influxd::{chain, wait_for_http};
use crate::{Error, Launch, Server, find, require};

/// The server's program.
const BINARY: &str = "victoria-metrics";

/// The Debian package that installs it.
const PACKAGE: &str = "victoria-metrics";

/// How many ports to try when another process takes the free one first.
const PORT_ATTEMPTS: usize = 5;

/// How long the server is given to start, and to answer `/health` after that.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A VictoriaMetrics server that runs until dropped.
///
/// It serves its HTTP API on 127.0.0.1 and a free port, and nothing else (its Graphite,
/// OpenTSDB and InfluxDB TCP/UDP listeners are off by default). Its data (`data/`) and log
/// (`victoria-metrics.log`) are in a temporary directory removed when the value is dropped.
///
/// It runs with settings for tests:
/// - `-dedup.minScrapeInterval=1ms`: of the samples of one series within one millisecond,
///   only the last is kept (when parts merge and when queried or exported). Without it,
///   VictoriaMetrics keeps a sample written twice twice; with it, writing the same batch
///   again stores nothing more, as InfluxDB does. Timestamps are milliseconds in
///   VictoriaMetrics, so points less than 1 ms apart are one sample.
/// - `-retentionPeriod=100y`: the default (one month) silently drops older samples, and
///   tests write fixed dates.
/// - `-search.disableCache` and `-search.latencyOffset=0s`: a query sees what was written
///   just before it, not a cached answer nor only samples older than 30 s.
///
/// Samples become searchable about a second after they are written; `GET
/// /internal/force_flush` makes them searchable at once.
#[derive(Debug)]
pub struct Victoria {
    // Declared first so that it is dropped (the process killed) before the directory it
    // writes to is removed.
    server: Server,
    dir: TempDir,
}

impl Victoria {
    /// Starts a server and waits until `/health` answers 200 (up to 20 s).
    ///
    /// # Errors
    ///
    /// [`Error::NotInstalled`] when victoria-metrics is not installed, [`Error::Timeout`]
    /// when it does not answer in time, or any error of [`Server::start`].
    pub fn start() -> Result<Self, Error> {
        let program = find(BINARY).ok_or_else(|| Error::NotInstalled {
            binary: BINARY.to_owned(),
            package: PACKAGE.to_owned(),
        })?;
        Self::start_program(program)
    }

    /// Starts a server as [`Victoria::start`] does, or returns `None` (after printing
    /// `skipping: victoria-metrics not installed ...` to stderr) when it is not installed:
    ///
    /// ```no_run
    /// let Some(vm) = garonne_testkit::Victoria::start_or_skip() else {
    ///     return;
    /// };
    /// println!("VictoriaMetrics at {}", vm.url());
    /// ```
    ///
    /// # Panics
    ///
    /// When victoria-metrics is installed but does not start (a failure, never a skip), and
    /// when it is missing while the environment variable `CI` is `true` or `1` (see
    /// [`require`]).
    pub fn start_or_skip() -> Option<Self> {
        let program = require(BINARY, PACKAGE)?;
        Some(Self::start_program(program).unwrap_or_else(|e| panic!("{}", chain(&e))))
    }

    /// The host the server listens on: `127.0.0.1`.
    pub fn host(&self) -> &'static str {
        "127.0.0.1"
    }

    /// The HTTP port; it stays the same across restarts.
    pub fn port(&self) -> u16 {
        self.server.port()
    }

    /// The HTTP API's base URL: `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}:{}", self.host(), self.port())
    }

    /// The temporary directory with the data and log.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The server's log file.
    pub fn log(&self) -> &Path {
        self.server.log()
    }

    /// The last lines the server wrote to its log since it last started, for assertion
    /// messages (VictoriaMetrics logs the lines of a write it could not parse there, and
    /// answers 204 all the same).
    pub fn log_tail(&self) -> String {
        self.server.log_tail()
    }

    /// Whether the server process is running (it may have crashed).
    pub fn is_running(&mut self) -> bool {
        self.server.is_running()
    }

    /// Stops the server cleanly (SIGTERM: it flushes its data) and waits for it to exit.
    /// Does nothing if it is already stopped.
    ///
    /// # Errors
    ///
    /// [`Error::Stop`] when the process cannot be signalled or waited for.
    pub fn stop(&mut self) -> Result<(), Error> {
        self.server.stop()
    }

    /// Stops the server if it runs, then starts it again on the same port with the same
    /// data, and waits until `/health` answers.
    ///
    /// # Errors
    ///
    /// As [`Victoria::stop`] and [`Victoria::start`].
    pub fn restart(&mut self) -> Result<(), Error> {
        self.server.restart()?;
        wait_for_http(&mut self.server, "/health", 200, START_TIMEOUT)
    }

    /// Starts `program` with its data in a new temporary directory, on another port if the
    /// first one is taken.
    fn start_program(program: PathBuf) -> Result<Self, Error> {
        let dir = tempfile::Builder::new()
            .prefix("garonne-victoria-")
            .tempdir()
            .map_err(|source| Error::TempDir {
                name: BINARY.to_owned(),
                source,
            })?;
        let data = dir.path().join("data");
        let log = dir.path().join("victoria-metrics.log");
        let mut server = Server::start_on_free_port(PORT_ATTEMPTS, |port| {
            Ok(Launch::new(BINARY, &program, port, &log)
                .args(arguments(port, &data))
                .timeout(START_TIMEOUT))
        })?;
        wait_for_http(&mut server, "/health", 200, START_TIMEOUT)?;
        Ok(Self { server, dir })
    }
}

/// The command line of a server on `port` keeping its data in `data`.
fn arguments(port: u16, data: &Path) -> Vec<String> {
    vec![
        format!("-storageDataPath={}", data.display()),
        format!("-httpListenAddr=127.0.0.1:{port}"),
        "-dedup.minScrapeInterval=1ms".to_owned(),
        "-retentionPeriod=100y".to_owned(),
        "-search.disableCache".to_owned(),
        "-search.latencyOffset=0s".to_owned(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::influxd::http_status;

    #[test]
    fn arguments_listen_on_loopback_and_keep_data_in_the_directory() {
        let args = arguments(41235, Path::new("/tmp/x/data"));
        assert!(args.contains(&"-httpListenAddr=127.0.0.1:41235".to_owned()));
        assert!(args.contains(&"-storageDataPath=/tmp/x/data".to_owned()));
        assert!(args.contains(&"-dedup.minScrapeInterval=1ms".to_owned()));
    }

    #[test]
    fn starts_answers_health_and_restarts_on_the_same_port()
    -> Result<(), Box<dyn std::error::Error>> {
        let Some(mut vm) = Victoria::start_or_skip() else {
            return Ok(());
        };
        let address = vm.server.address();
        assert_eq!(http_status(address, "/health")?, 200);
        vm.stop()?;
        assert!(http_status(address, "/health").is_err());
        vm.restart()?;
        assert_eq!(http_status(address, "/health")?, 200);
        assert!(vm.is_running());
        Ok(())
    }
}

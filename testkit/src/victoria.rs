//! [`Victoria`]: a real VictoriaMetrics single-node server (Debian's `victoria-metrics`
//! package) on a free loopback port, the line-protocol store the historian also writes to
//! through InfluxDB's v2 write API.

use std::path::{Path, PathBuf};

use crate::instance::{Health, Instance, Program, deref_instance};
use crate::{Error, Launch};

/// The server's program and package.
const PROGRAM: Program = Program {
    binary: "victoria-metrics",
    package: "victoria-metrics",
    health: Some(Health::http("/health", 200, 20)),
};

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
///
/// [`Instance::stop`] stops it cleanly (SIGTERM: it flushes its data). VictoriaMetrics logs the
/// lines of a write it could not parse in [`Instance::log_tail`], and answers 204 all the same.
#[derive(Debug)]
pub struct Victoria {
    instance: Instance,
}

deref_instance!(Victoria);

impl Victoria {
    /// Starts a server and waits until `/health` answers 200 (up to 20 s).
    ///
    /// # Errors
    ///
    /// [`Error::NotInstalled`] when victoria-metrics is not installed, [`Error::Timeout`]
    /// when it does not answer in time, or any error of [`Server::start`].
    pub fn start() -> Result<Self, Error> {
        Self::start_program(PROGRAM.find()?)
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
        PROGRAM.start_or_skip(Self::start_program)
    }

    /// The HTTP API's base URL: `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}:{}", self.host(), self.port())
    }

    /// Stops the server if it runs, then starts it again on the same port with the same
    /// data, and waits until `/health` answers.
    ///
    /// # Errors
    ///
    /// As [`Instance::stop`] and [`Victoria::start`].
    pub fn restart(&mut self) -> Result<(), Error> {
        self.instance.restart(PROGRAM)
    }

    /// Starts `program` with its data in a new temporary directory, on another port if the
    /// first one is taken.
    fn start_program(program: PathBuf) -> Result<Self, Error> {
        let instance = Instance::start(PROGRAM, |port, dir| {
            let log = dir.join("victoria-metrics.log");
            Ok(Launch::new(PROGRAM.binary, &program, port, log)
                .args(arguments(port, &dir.join("data"))))
        })?;
        Ok(Self { instance })
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
        let address = vm.address();
        assert_eq!(http_status(address, "/health")?, 200);
        vm.stop()?;
        assert!(http_status(address, "/health").is_err());
        vm.restart()?;
        assert_eq!(http_status(address, "/health")?, 200);
        assert!(vm.is_running());
        Ok(())
    }
}

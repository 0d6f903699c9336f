//! [`Influxd`]: a real InfluxDB 1.x server (Debian's `influxdb` package) on a free loopback
//! port.
//!
//! Also the small HTTP probe the database servers share: [`Server`] only knows when a port
//! accepts TCP connections, and an HTTP server can accept them before it answers.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use crate::instance::{Health, Instance, Program, deref_instance, write_config};
use crate::{Error, Launch, Server, free_port};

/// The server's program and package; ready once `/ping` answers 204, within 20 s.
const PROGRAM: Program = Program {
    binary: "influxd",
    package: "influxdb",
    health: Some(Health::http("/ping", 204, 20)),
};

/// An InfluxDB 1.x server that runs until dropped.
///
/// It serves its HTTP API (`/write`, `/query`, `/ping`) on 127.0.0.1 and a free port, with
/// authentication off unless started with [`Influxd::start_with_auth`], and no other
/// listener: the RPC service that 1.x always opens (for backups) is moved from 8088 to
/// another free loopback port, and usage reporting, the `_internal` monitoring database and
/// continuous queries are off. Its configuration (`influxdb.conf`), metadata (`meta/`),
/// shards (`data/`), write-ahead log (`wal/`) and log (`influxd.log`) are in a temporary
/// directory removed when the value is dropped. No database exists at first.
///
/// Dropping it kills the server; [`Instance::stop`] and [`Influxd::restart`] take it down
/// and bring it back mid-test, with its data. Its port, directory and log are [`Instance`]'s.
#[derive(Debug)]
pub struct Influxd {
    instance: Instance,
}

deref_instance!(Influxd);

impl Influxd {
    /// Starts a server and waits until `/ping` answers 204 (up to 20 s).
    ///
    /// # Errors
    ///
    /// [`Error::NotInstalled`] when influxd is not installed, [`Error::Timeout`] when it
    /// does not answer in time, or any error of [`Server::start`].
    pub fn start() -> Result<Self, Error> {
        Self::start_program(PROGRAM.find()?, false)
    }

    /// Starts a server with authentication on (`auth-enabled = true`), which InfluxDB 1.x
    /// lets anyone set up once by creating the first admin user
    /// (`CREATE USER ... WITH ALL PRIVILEGES`); every other request needs credentials.
    ///
    /// # Errors
    ///
    /// As [`Influxd::start`].
    pub fn start_with_auth() -> Result<Self, Error> {
        Self::start_program(PROGRAM.find()?, true)
    }

    /// Starts a server as [`Influxd::start`] does, or returns `None` (after printing
    /// `skipping: influxd not installed ...` to stderr) when influxd is not installed:
    ///
    /// ```no_run
    /// let Some(influxd) = garonne_testkit::Influxd::start_or_skip() else {
    ///     return;
    /// };
    /// println!("InfluxDB at {}", influxd.url());
    /// ```
    ///
    /// # Panics
    ///
    /// When influxd is installed but does not start (a failure, never a skip), and when it
    /// is missing while the environment variable `CI` is `true` or `1` (see [`require`]).
    pub fn start_or_skip() -> Option<Self> {
        PROGRAM.start_or_skip(|program| Self::start_program(program, false))
    }

    /// [`Influxd::start_with_auth`], skipping as [`Influxd::start_or_skip`] does.
    ///
    /// # Panics
    ///
    /// As [`Influxd::start_or_skip`].
    pub fn start_with_auth_or_skip() -> Option<Self> {
        PROGRAM.start_or_skip(|program| Self::start_program(program, true))
    }

    /// The HTTP API's base URL: `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}:{}", self.host(), self.port())
    }

    /// Stops the server if it runs, then starts it again on the same ports with the same
    /// data, and waits until `/ping` answers.
    ///
    /// # Errors
    ///
    /// As [`Instance::stop`] and [`Influxd::start`].
    pub fn restart(&mut self) -> Result<(), Error> {
        self.instance.restart(PROGRAM)
    }

    /// Writes the configuration in a new temporary directory and starts `program` with it,
    /// on other ports if the first ones are taken.
    fn start_program(program: PathBuf, auth: bool) -> Result<Self, Error> {
        let instance = Instance::start(PROGRAM, |port, dir| {
            let config = dir.join("influxdb.conf");
            write_config(&config, &configuration(port, free_port()?, dir, auth))?;
            Ok(
                Launch::new(PROGRAM.binary, &program, port, dir.join("influxd.log"))
                    .arg("-config")
                    .arg(&config),
            )
        })?;
        Ok(Self { instance })
    }
}

/// The text of influxdb.conf for a server with its HTTP API on `http_port`, its RPC service
/// on `rpc_port`, and its files in `dir`.
fn configuration(http_port: u16, rpc_port: u16, dir: &Path, auth: bool) -> String {
    let dir = dir.display();
    format!(
        "# Written by garonne-testkit for one test.\n\
         reporting-disabled = true\n\
         # The RPC service (backup and restore) cannot be turned off: keep it on loopback.\n\
         bind-address = \"127.0.0.1:{rpc_port}\"\n\
         \n\
         [meta]\n\
         \x20 dir = \"{dir}/meta\"\n\
         \n\
         [data]\n\
         \x20 dir = \"{dir}/data\"\n\
         \x20 wal-dir = \"{dir}/wal\"\n\
         \x20 query-log-enabled = false\n\
         \n\
         [monitor]\n\
         \x20 store-enabled = false\n\
         \n\
         [continuous_queries]\n\
         \x20 enabled = false\n\
         \n\
         [http]\n\
         \x20 enabled = true\n\
         \x20 bind-address = \"127.0.0.1:{http_port}\"\n\
         \x20 auth-enabled = {auth}\n\
         \x20 log-enabled = true\n"
    )
}

/// Sends `GET path` to `server` until it answers with status `want`, the process exits, or
/// `timeout` runs out.
pub(crate) fn wait_for_http(
    server: &mut Server,
    path: &str,
    want: u16,
    timeout: Duration,
) -> Result<(), Error> {
    let deadline = Instant::now() + timeout;
    loop {
        if !server.is_running() {
            // The process exited after it listened: report it with its log, killing nothing.
            return Err(Error::Timeout {
                name: server.name().to_owned(),
                address: server.address(),
                timeout,
                log: format!("it exited; {}", server.log_tail()),
            });
        }
        let last = match http_status(server.address(), path) {
            Ok(status) if status == want => return Ok(()),
            Ok(status) => format!("GET {path} answered {status}"),
            Err(error) => format!("GET {path}: {error}"),
        };
        if Instant::now() >= deadline {
            // Best effort: the timeout is the error to report.
            let _ = server.stop();
            return Err(Error::Timeout {
                name: server.name().to_owned(),
                address: server.address(),
                timeout,
                log: format!("{last}; {}", server.log_tail()),
            });
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// The status code of `GET path` on `address`, through a bare HTTP/1.0 request (this crate
/// has no HTTP client, and a probe needs no more).
pub(crate) fn http_status(address: SocketAddr, path: &str) -> std::io::Result<u16> {
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_millis(200))?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    stream.set_write_timeout(Some(Duration::from_secs(2)))?;
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )?;
    // The status line is in the first bytes; the rest of the answer is not needed.
    let mut head = [0u8; 64];
    let mut len = 0;
    while len < 12 {
        match stream.read(&mut head[len..])? {
            0 => break,
            n => len += n,
        }
    }
    let text = String::from_utf8_lossy(&head[..len]);
    text.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .filter(|_| text.starts_with("HTTP/"))
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP answer: {text:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configuration_listens_on_loopback_only_and_keeps_files_in_the_directory() {
        let text = configuration(41235, 41236, Path::new("/tmp/x"), false);
        assert!(
            text.contains("\nbind-address = \"127.0.0.1:41236\"\n"),
            "{text}"
        );
        assert!(
            text.contains("\n  bind-address = \"127.0.0.1:41235\"\n"),
            "{text}"
        );
        assert!(text.contains("\n  dir = \"/tmp/x/meta\"\n"), "{text}");
        assert!(text.contains("\n  wal-dir = \"/tmp/x/wal\"\n"), "{text}");
        assert!(text.contains("\n  auth-enabled = false\n"), "{text}");
        assert!(text.contains("\nreporting-disabled = true\n"), "{text}");
        assert!(configuration(1, 2, Path::new("/d"), true).contains("auth-enabled = true"));
    }

    #[test]
    fn starts_answers_pings_and_restarts_on_the_same_port() -> Result<(), Box<dyn std::error::Error>>
    {
        let Some(mut influxd) = Influxd::start_or_skip() else {
            return Ok(());
        };
        let address = influxd.address();
        assert_eq!(http_status(address, "/ping")?, 204);
        assert!(influxd.url().starts_with("http://127.0.0.1:"));
        influxd.stop()?;
        assert!(http_status(address, "/ping").is_err());
        influxd.restart()?;
        assert_eq!(http_status(address, "/ping")?, 204);
        assert!(influxd.is_running());
        Ok(())
    }

    #[test]
    fn http_status_reads_the_status_line() -> Result<(), Box<dyn std::error::Error>> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let address = listener.local_addr()?;
        let server = thread::spawn(move || -> std::io::Result<()> {
            let (mut stream, _) = listener.accept()?;
            let mut request = [0u8; 256];
            let _ = stream.read(&mut request)?;
            stream.write_all(b"HTTP/1.1 418 I'm a teapot\r\n\r\n")
        });
        assert_eq!(http_status(address, "/health")?, 418);
        server.join().map_err(|_| "server thread panicked")??;
        Ok(())
    }
}

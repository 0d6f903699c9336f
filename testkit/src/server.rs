//! The generic core: run a server process, wait until it listens, stop it.
//!
//! A [`Launch`] says what to run (program, arguments, environment, log file)
//! and on which loopback port it will listen; [`Server::start`] spawns it with
//! its standard output and error appended to the log file, then tries to
//! open a TCP connection to the port until one succeeds, the process exits
//! (the error then holds the tail of its log), or the launch's timeout runs
//! out. Dropping the [`Server`] kills the process and waits for it, so no
//! test leaves a server behind, even when it panics.
//!
//! Everything here blocks the calling thread, for at most the launch's
//! timeout; from an async test, start servers before spawning tasks.

use std::ffi::{OsStr, OsString};
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::{Error, free_port};

/// How long a server is given to accept connections, unless its [`Launch`]
/// says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// How many lines of a server's log an error message quotes.
const LOG_LINES: usize = 20;

/// How long to wait between two checks of a starting or stopping process.
const POLL: Duration = Duration::from_millis(20);

/// How long one readiness connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(200);

/// What to run for a server, and where it will listen.
///
/// The server must listen on 127.0.0.1 at the port given to [`Launch::new`];
/// its configuration (written by the caller) has to say so.
#[derive(Debug, Clone)]
pub struct Launch {
    name: String,
    program: PathBuf,
    args: Vec<OsString>,
    envs: Vec<(OsString, OsString)>,
    current_dir: Option<PathBuf>,
    log: PathBuf,
    port: u16,
    timeout: Duration,
}

impl Launch {
    /// Describes the server `name` (used in messages, such as `mosquitto`),
    /// run as `program`, listening on 127.0.0.1:`port`, with its standard
    /// output and error appended to the file `log`.
    pub fn new(
        name: impl Into<String>,
        program: impl Into<PathBuf>,
        port: u16,
        log: impl Into<PathBuf>,
    ) -> Self {
        Self {
            name: name.into(),
            program: program.into(),
            args: Vec::new(),
            envs: Vec::new(),
            current_dir: None,
            log: log.into(),
            port,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Adds one argument to the command line.
    #[must_use]
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    /// Adds arguments to the command line.
    #[must_use]
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|arg| arg.as_ref().to_owned()));
        self
    }

    /// Sets an environment variable for the process (on top of the test's).
    #[must_use]
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.envs
            .push((key.as_ref().to_owned(), value.as_ref().to_owned()));
        self
    }

    /// Runs the process in `dir` instead of the test's working directory.
    #[must_use]
    pub fn current_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.current_dir = Some(dir.into());
        self
    }

    /// Sets how long the server is given to accept connections, and to exit
    /// after [`Server::stop`] asks it to; [`DEFAULT_TIMEOUT`] otherwise.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The address the server listens on: 127.0.0.1 and the port.
    pub fn address(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }
}

/// A running server process, killed when dropped.
#[derive(Debug)]
pub struct Server {
    launch: Launch,
    /// The process; `None` once stopped.
    child: Option<Child>,
    /// Where this run's lines start in the log file.
    log_start: u64,
}

impl Server {
    /// Spawns the server described by `launch` and waits until its port
    /// accepts TCP connections.
    ///
    /// # Errors
    ///
    /// [`Error::Exited`] when the process exits first, [`Error::Timeout`]
    /// when the launch's timeout runs out first (the process is then
    /// killed), [`Error::PortInUse`] when another process already listens
    /// on the port, [`Error::Spawn`] or [`Error::Write`] when it cannot be
    /// started at all.
    pub fn start(launch: Launch) -> Result<Self, Error> {
        let mut server = Self {
            launch,
            child: None,
            log_start: 0,
        };
        server.run()?;
        Ok(server)
    }

    /// Starts a server on a free port: `launch` is called with the port (to
    /// write the configuration that names it) and the server is started;
    /// when it exits because the port was taken in the meantime (see
    /// [`Error::is_port_taken`]), this is tried again with another port, up
    /// to `attempts` times in all.
    ///
    /// # Errors
    ///
    /// The first error that is not a taken port, the last one otherwise.
    pub fn start_on_free_port(
        attempts: usize,
        mut launch: impl FnMut(u16) -> Result<Launch, Error>,
    ) -> Result<Self, Error> {
        let mut tries = 1;
        loop {
            match Self::start(launch(free_port()?)?) {
                Err(error) if error.is_port_taken() && tries < attempts => tries += 1,
                result => return result,
            }
        }
    }

    /// The server's name, such as `mosquitto`.
    pub fn name(&self) -> &str {
        &self.launch.name
    }

    /// The port the server listens on; it stays the same across restarts.
    pub fn port(&self) -> u16 {
        self.launch.port
    }

    /// The address the server listens on: 127.0.0.1 and [`Server::port`].
    pub fn address(&self) -> SocketAddr {
        self.launch.address()
    }

    /// The log file: the process's standard output and error.
    pub fn log(&self) -> &Path {
        &self.launch.log
    }

    /// The last lines the current (or last) run of the server wrote to its
    /// log, for error messages.
    pub fn log_tail(&self) -> String {
        tail(&self.launch.log, self.log_start, LOG_LINES)
    }

    /// The process id, while the server runs.
    pub fn id(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the process is still running (it may have crashed).
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|child| matches!(child.try_wait(), Ok(None)))
    }

    /// Stops the server cleanly: sends it SIGTERM (so it can save its data,
    /// as mosquitto does its persistence file), waits for it to exit, and
    /// kills it if it is still running after the launch's timeout. Does
    /// nothing if the server is already stopped.
    ///
    /// # Errors
    ///
    /// [`Error::Stop`] when the process cannot be signalled or waited for.
    pub fn stop(&mut self) -> Result<(), Error> {
        self.stop_with_status().map(drop)
    }

    /// [`Server::stop`], returning how the process exited: `None` when it had to be killed
    /// after the timeout, or was not running.
    ///
    /// # Errors
    ///
    /// As [`Server::stop`].
    pub fn stop_with_status(&mut self) -> Result<Option<ExitStatus>, Error> {
        let Some(mut child) = self.child.take() else {
            return Ok(None);
        };
        let stop_error = |source| Error::Stop {
            name: self.launch.name.clone(),
            port: self.launch.port,
            source,
        };
        if let Some(status) = child.try_wait().map_err(stop_error)? {
            return Ok(Some(status));
        }
        terminate(&mut child).map_err(stop_error)?;
        let status = wait_for_exit(&mut child, self.launch.timeout).map_err(stop_error)?;
        if status.is_none() {
            child.kill().map_err(stop_error)?;
            child.wait().map_err(stop_error)?;
        }
        Ok(status)
    }

    /// Kills the server (SIGKILL: no chance to save anything, as when the machine loses power)
    /// and waits for it. Does nothing if it is already stopped.
    ///
    /// # Errors
    ///
    /// [`Error::Stop`] when the process cannot be killed or waited for.
    pub fn kill(&mut self) -> Result<(), Error> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        let stop_error = |source| Error::Stop {
            name: self.launch.name.clone(),
            port: self.launch.port,
            source,
        };
        child.kill().map_err(stop_error)?;
        child.wait().map_err(stop_error)?;
        Ok(())
    }

    /// Stops the server if it runs, then starts it again with the same
    /// launch: same program, arguments, port and files, so it finds the
    /// data it saved when stopped.
    ///
    /// # Errors
    ///
    /// Those of [`Server::stop`] and [`Server::start`]; the port may also
    /// have been taken by another process while the server was stopped.
    pub fn restart(&mut self) -> Result<(), Error> {
        self.stop()?;
        self.run()
    }

    /// Spawns the process and waits until it accepts connections.
    fn run(&mut self) -> Result<(), Error> {
        let launch = &self.launch;
        if TcpStream::connect_timeout(&launch.address(), CONNECT_TIMEOUT).is_ok() {
            return Err(Error::PortInUse {
                name: launch.name.clone(),
                address: launch.address(),
            });
        }
        let write_error = |source| Error::Write {
            path: launch.log.clone(),
            source,
        };
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&launch.log)
            .map_err(write_error)?;
        writeln!(
            log,
            "garonne-testkit: starting {} on port {}: {} {}",
            launch.name,
            launch.port,
            launch.program.display(),
            launch
                .args
                .iter()
                .map(|arg| arg.to_string_lossy())
                .collect::<Vec<_>>()
                .join(" ")
        )
        .map_err(write_error)?;
        self.log_start = log.metadata().map_err(write_error)?.len();
        let stderr = log.try_clone().map_err(write_error)?;

        let mut command = Command::new(&launch.program);
        command
            .args(&launch.args)
            .envs(launch.envs.iter().map(|(key, value)| (key, value)))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(stderr);
        if let Some(dir) = &launch.current_dir {
            command.current_dir(dir);
        }
        let child = command.spawn().map_err(|source| Error::Spawn {
            name: launch.name.clone(),
            program: launch.program.clone(),
            source,
        })?;
        self.child = Some(child);
        self.wait_until_ready()
    }

    /// Waits until the port accepts a connection, the process exits, or the
    /// timeout runs out; in the last two cases the process is reaped and
    /// `self.child` left empty.
    fn wait_until_ready(&mut self) -> Result<(), Error> {
        let address = self.address();
        let deadline = Instant::now() + self.launch.timeout;
        loop {
            if let Some(status) = self.exit_status() {
                return Err(self.exited(status));
            }
            // Something may listen that is not ours: a process that took
            // the port between `free_port` and our bind. Ours then exits.
            if TcpStream::connect_timeout(&address, CONNECT_TIMEOUT).is_ok()
                && self
                    .id()
                    .is_some_and(|pid| holds_listener(pid, address.port()))
            {
                return Ok(());
            }
            if Instant::now() >= deadline {
                if let Some(mut child) = self.child.take() {
                    // Best effort: the timeout is the error to report.
                    let _ = child.kill();
                    let _ = child.wait();
                }
                return Err(Error::Timeout {
                    name: self.launch.name.clone(),
                    address,
                    timeout: self.launch.timeout,
                    log: self.log_tail(),
                });
            }
            thread::sleep(POLL);
        }
    }

    /// The exit status if the process has exited (or cannot be checked), in
    /// which case `self.child` is emptied.
    fn exit_status(&mut self) -> Option<ExitStatus> {
        let child = self.child.as_mut()?;
        let status = match child.try_wait() {
            Ok(None) => return None,
            Ok(Some(status)) => status,
            Err(_) => {
                let _ = child.kill();
                child.wait().ok()?
            }
        };
        self.child = None;
        Some(status)
    }

    /// The error for a process that exited during start-up.
    fn exited(&self, status: ExitStatus) -> Error {
        Error::Exited {
            name: self.launch.name.clone(),
            port: self.launch.port,
            status,
            log: self.log_tail(),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Nothing to report to from a drop: the process is gone either way.
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Error {
    /// Whether this is a server that could not listen because its port was
    /// already in use: [`Error::PortInUse`], or [`Error::Exited`] with a log
    /// that says `address already in use` (as mosquitto, nginx and Go
    /// servers word it).
    pub fn is_port_taken(&self) -> bool {
        match self {
            Error::PortInUse { .. } => true,
            Error::Exited { log, .. } => {
                log.to_ascii_lowercase().contains("address already in use")
            }
            _ => false,
        }
    }
}

/// Asks `child` to exit with SIGTERM, through the `kill` program (this crate
/// has no unsafe code to call `kill(2)`); falls back to SIGKILL when `kill`
/// cannot be run.
fn terminate(child: &mut Child) -> std::io::Result<()> {
    let signalled = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if signalled { Ok(()) } else { child.kill() }
}

/// Whether the process `pid` holds a socket listening on TCP `port`, as
/// Linux's `/proc` tells: a connection to the port may otherwise reach
/// another process that took it. `true` when `/proc` cannot tell, so that the
/// connection alone decides. A server whose listening socket is held only by
/// a child process is not seen as ready.
fn holds_listener(pid: u32, port: u16) -> bool {
    let mut sockets = Vec::new();
    let mut readable = false;
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = fs::read_to_string(table) else {
            continue;
        };
        readable = true;
        // sl local_address rem_address st tx_queue:rx_queue tr:tm->when
        // retrnsmt uid timeout inode ...; addresses are HEX_IP:HEX_PORT and
        // state 0A is LISTEN.
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (Some(local), Some(state), Some(inode)) =
                (fields.get(1), fields.get(3), fields.get(9))
            else {
                continue;
            };
            let local_port = local
                .rsplit(':')
                .next()
                .and_then(|hex| u16::from_str_radix(hex, 16).ok());
            if *state == "0A" && local_port == Some(port) {
                sockets.push(format!("socket:[{inode}]"));
            }
        }
    }
    if !readable {
        return true;
    }
    let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return true;
    };
    fds.flatten().any(|fd| {
        fs::read_link(fd.path()).is_ok_and(|target| {
            sockets
                .iter()
                .any(|socket| target.as_os_str() == socket.as_str())
        })
    })
}

/// Waits up to `timeout` for `child` to exit.
fn wait_for_exit(child: &mut Child, timeout: Duration) -> std::io::Result<Option<ExitStatus>> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        thread::sleep(POLL);
    }
}

/// The last `lines` lines of the file at `path` from byte `start` on, or a
/// note saying why there are none.
fn tail(path: &Path, start: u64, lines: usize) -> String {
    let mut text = Vec::new();
    let read = File::open(path).and_then(|mut file| {
        file.seek(SeekFrom::Start(start))?;
        file.read_to_end(&mut text)
    });
    if let Err(error) = read {
        return format!("(could not read {}: {error})", path.display());
    }
    let text = String::from_utf8_lossy(&text);
    let all: Vec<&str> = text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .collect();
    if all.is_empty() {
        return format!("(nothing in {})", path.display());
    }
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shell(dir: &Path, port: u16, script: &str) -> Launch {
        Launch::new("sh", "/bin/sh", port, dir.join("sh.log"))
            .arg("-c")
            .arg(script)
            .timeout(Duration::from_millis(500))
    }

    /// A temporary directory and a free port for a test server.
    fn dir_and_port() -> Result<(tempfile::TempDir, u16), Box<dyn std::error::Error>> {
        Ok((tempfile::tempdir()?, free_port()?))
    }

    /// The error of a server that runs `script` and must fail to start (`why` otherwise).
    fn start_failing(
        dir: &Path,
        port: u16,
        script: &str,
        why: &'static str,
    ) -> Result<Error, &'static str> {
        Server::start(shell(dir, port, script)).err().ok_or(why)
    }

    #[test]
    fn a_process_that_exits_is_reported_with_its_log() -> Result<(), Box<dyn std::error::Error>> {
        let (dir, port) = dir_and_port()?;
        let error = start_failing(
            dir.path(),
            port,
            "echo first; echo boom >&2; exit 3",
            "a failing process was reported as started",
        )?;
        let message = error.to_string();
        assert!(matches!(error, Error::Exited { .. }), "{message}");
        assert!(
            message.starts_with(&format!("sh exited during start-up on port {port}")),
            "{message}"
        );
        assert!(message.ends_with("first\nboom"), "{message}");
        assert!(!error.is_port_taken());
        Ok(())
    }

    #[test]
    fn a_process_that_does_not_listen_times_out_and_is_killed()
    -> Result<(), Box<dyn std::error::Error>> {
        let (dir, port) = dir_and_port()?;
        let pid_file = dir.path().join("pid");
        let script = format!(
            "echo $$ > {}; echo waiting; exec sleep 30",
            pid_file.display()
        );
        let started = Instant::now();
        let error = start_failing(
            dir.path(),
            port,
            &script,
            "a silent process was reported as started",
        )?;
        assert!(started.elapsed() < Duration::from_secs(5));
        let message = error.to_string();
        assert_eq!(
            message,
            format!("sh did not accept connections on 127.0.0.1:{port} within 0.5 s: waiting")
        );
        let pid = std::fs::read_to_string(&pid_file)?;
        assert!(
            !Path::new(&format!("/proc/{}", pid.trim())).exists(),
            "the timed-out process {pid} still runs"
        );
        Ok(())
    }

    #[test]
    fn a_taken_port_is_recognised() -> Result<(), Box<dyn std::error::Error>> {
        let (dir, port) = dir_and_port()?;
        let script = "echo 'Error: Address already in use' >&2; exit 1";
        let error = start_failing(
            dir.path(),
            port,
            script,
            "a failing process was reported as started",
        )?;
        assert!(error.is_port_taken(), "{error}");
        Ok(())
    }

    #[test]
    fn a_port_in_use_is_not_spawned_on() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let squatter = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        let port = squatter.local_addr()?.port();
        let error = start_failing(
            dir.path(),
            port,
            "echo ran > ran",
            "a server was started on a port in use",
        )?;
        assert_eq!(
            error.to_string(),
            format!("sh cannot listen on 127.0.0.1:{port}: another process already does")
        );
        assert!(error.is_port_taken());
        assert!(!dir.path().join("ran").exists());
        Ok(())
    }

    /// Another process starts listening on the port after the server was
    /// spawned, and the server then fails to bind it: connections succeed,
    /// but the server is not taken as ready.
    #[test]
    fn a_listener_of_another_process_is_not_taken_for_the_server()
    -> Result<(), Box<dyn std::error::Error>> {
        let (dir, port) = dir_and_port()?;
        let started = dir.path().join("started");
        let squatter = thread::spawn({
            let started = started.clone();
            move || {
                let deadline = Instant::now() + Duration::from_secs(5);
                while !started.exists() && Instant::now() < deadline {
                    thread::sleep(POLL);
                }
                let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port));
                thread::sleep(Duration::from_secs(2));
                listener.map(drop)
            }
        });
        let script = format!(
            "touch {}; sleep 1; echo 'Error: Address already in use' >&2; exit 1",
            started.display()
        );
        let launch = shell(dir.path(), port, &script).timeout(Duration::from_secs(5));
        let result = Server::start(launch);
        squatter.join().map_err(|_| "squatter panicked")??;
        let error = result
            .err()
            .ok_or("another process's listener was taken as ready")?;
        assert!(error.is_port_taken(), "{error}");
        Ok(())
    }

    #[test]
    fn holds_listener_tells_whose_socket_it_is() -> Result<(), Box<dyn std::error::Error>> {
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        let port = listener.local_addr()?.port();
        assert!(holds_listener(std::process::id(), port));
        let mut child = Command::new("sleep").arg("10").spawn()?;
        let held_by_child = holds_listener(child.id(), port);
        child.kill()?;
        child.wait()?;
        assert!(!held_by_child);
        drop(listener);
        assert!(!holds_listener(std::process::id(), port));
        Ok(())
    }

    #[test]
    fn tail_keeps_the_last_lines() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("log");
        std::fs::write(&path, "old\n1\n2\n\n3\n")?;
        assert_eq!(tail(&path, 4, 2), "2\n3");
        assert_eq!(tail(&path, 0, 10), "old\n1\n2\n3");
        assert!(tail(&dir.path().join("missing"), 0, 2).starts_with("(could not read"));
        Ok(())
    }
}

//! What can go wrong starting, stopping or restarting a test server.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

/// An error from starting, stopping or restarting a test server.
///
/// Each message names the server (`mosquitto`, ...) and, where it has one,
/// its port; the operating-system cause, if any, is the error's source.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server's program is not installed.
    #[error("{binary} is not installed (apt-get install {package})")]
    NotInstalled {
        /// The program looked for, such as `mosquitto`.
        binary: String,
        /// The Debian package that provides it.
        package: String,
    },

    /// The temporary directory for a server could not be created.
    #[error("could not create a temporary directory for {name}")]
    TempDir {
        /// The server, such as `mosquitto`.
        name: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },

    /// A file (configuration, log) could not be written or opened.
    #[error("could not write {}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },

    /// No free loopback port could be found.
    #[error("could not find a free port on 127.0.0.1")]
    Port {
        /// The cause.
        #[source]
        source: std::io::Error,
    },

    /// The server's process could not be spawned.
    #[error("could not spawn {name} ({})", program.display())]
    Spawn {
        /// The server, such as `mosquitto`.
        name: String,
        /// The program that was run.
        program: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },

    /// Another process already listens on the server's port.
    #[error("{name} cannot listen on {address}: another process already does")]
    PortInUse {
        /// The server, such as `mosquitto`.
        name: String,
        /// The address it was meant to listen on.
        address: SocketAddr,
    },

    /// The server exited before it accepted connections.
    #[error("{name} exited during start-up on port {port} ({status}): {log}")]
    Exited {
        /// The server, such as `mosquitto`.
        name: String,
        /// The port it was meant to listen on.
        port: u16,
        /// How it exited.
        status: ExitStatus,
        /// The last lines of its log.
        log: String,
    },

    /// The server kept running but did not accept connections in time.
    #[error(
        "{name} did not accept connections on {address} within {} s: {log}",
        timeout.as_secs_f64()
    )]
    Timeout {
        /// The server, such as `mosquitto`.
        name: String,
        /// The address it was meant to listen on.
        address: SocketAddr,
        /// How long it was given.
        timeout: Duration,
        /// The last lines of its log.
        log: String,
    },

    /// The server's process could not be signalled or waited for.
    #[error("could not stop {name} on port {port}")]
    Stop {
        /// The server, such as `mosquitto`.
        name: String,
        /// The port it listens on.
        port: u16,
        /// The cause.
        #[source]
        source: std::io::Error,
    },

    /// A test certificate could not be made ([`crate::TestCa`]).
    #[error("could not generate a test certificate")]
    Certificate {
        /// The cause.
        #[source]
        source: rcgen::Error,
    },
}

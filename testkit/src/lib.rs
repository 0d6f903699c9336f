//! Real servers for Garonne's tests.
//!
//! Garonne talks to an MQTT broker, to time-series databases (InfluxDB,
//! VictoriaMetrics) and, later, to a web server. Mocks of those servers
//! would only test our idea of how they behave, so the tests start the real
//! programs instead: each one runs on a free port of 127.0.0.1, with its
//! configuration, data and log in a fresh temporary directory, and is killed
//! (and its directory removed) when the value that owns it is dropped.
//! Nothing listens beyond loopback.
//!
//! A test asks for a server with a `start_or_skip` function such as
//! [`Mosquitto::start_or_skip`]. When the server's program is not installed,
//! the test prints one `skipping: ...` line and returns, so that a developer
//! without the program can still run the rest of the suite; but when the
//! environment variable `CI` is `true` (or `1`), a missing program is a
//! failure, so that CI never passes by skipping. A program that is installed
//! but fails to start is always a failure, never a skip.
//!
//! ```no_run
//! use garonne_testkit::Mosquitto;
//!
//! let Some(broker) = Mosquitto::start_or_skip() else {
//!     return; // not installed, and not under CI
//! };
//! println!("broker at {}", broker.url()); // mqtt://127.0.0.1:PORT
//! ```
//!
//! # Layout
//!
//! - [`error`]: [`Error`], everything that can go wrong starting or stopping
//!   a server.
//! - [`install`]: finding a server's program ([`find`]) and the skip-or-fail
//!   rule for a missing one ([`require`]).
//! - [`port`]: picking a free loopback port ([`free_port`]).
//! - [`server`]: the generic core: [`Launch`] describes a process, and
//!   [`Server`] runs it, waits until its port accepts TCP connections (or
//!   reports its early exit with the tail of its log), stops, restarts and
//!   kills it on drop.
//! - [`instance`]: [`Instance`], a [`Server`] and the temporary directory it keeps its
//!   files in; the servers below deref to it for their port, directory, log and stop.
//! - [`mosquitto`]: [`Mosquitto`], the MQTT broker, built on [`Server`].
//! - [`influxd`]: [`Influxd`], InfluxDB 1.x, ready once `/ping` answers.
//! - [`victoria`]: [`Victoria`], VictoriaMetrics, ready once `/health` answers.
//! - [`service`]: [`Service`], a Garonne service's `serve` run in this process on a free ops
//!   port, stopped on drop, with waits on its `/metrics` and `/readyz`; [`Task`], the same
//!   without the port.
//! - [`metrics`]: [`Metrics`], a `/metrics` page scraped and parsed into `name{labels}` samples.
//! - [`data`]: the Toulouse open data tests read ([`open_data_dir`]): a committed fixture.
//! - [`probe`]: the retained probe, how a test knows a service's MQTT subscription is in place
//!   ([`probe::retain_probe`], [`probe::subscribe_with_probe`], [`probe::start_subscribed`]).
//! - [`subscriber`]: [`Subscriber`], an MQTT client on a test's broker that
//!   records what it receives, and waits (with a timeout) for what a test
//!   expects.
//! - [`tls`]: [`TestCa`], a certificate authority and a server certificate
//!   made for one test (PEM files in a temporary directory), for the TLS
//!   listeners of mosquitto ([`Mosquitto::start_tls`]) and nginx.

pub mod data;
pub mod error;
pub mod influxd;
pub mod install;
pub mod instance;
pub mod metrics;
pub mod mosquitto;
pub mod port;
pub mod probe;
pub mod server;
pub mod service;
pub mod subscriber;
pub mod tls;
pub mod victoria;

pub use data::{open_data_dir, open_data_file};
pub use error::Error;
pub use influxd::Influxd;
pub use install::{find, require};
pub use instance::Instance;
pub use metrics::{Metrics, is_ready, wait_until_ready};
pub use mosquitto::Mosquitto;
pub use port::free_port;
pub use server::{Launch, Server};
pub use service::{Service, Task};
pub use subscriber::{Message, Subscriber};
pub use tls::TestCa;
pub use victoria::Victoria;

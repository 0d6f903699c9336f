//! The Garonne device agent, `garonne pi`: the Raspberry Pi sensor agent. It reads the modules
//! wired to a Pi (BME280, BH1750, PIR, DS18B20, or any program that measures), publishes one reading of all of them every
//! interval, and keeps the readings on disk while the broker is unreachable.
//!
//! Topics written, under `{prefix}/v1/sensors/{sensor_id}/`:
//! - `reading`: one reading per interval (QoS 1, `source` and `kind` `raspberry-pi`), validated
//!   with the payload spec before it is queued;
//! - `senml` (of `[can] sensor_id`, the Pi's by default): with a `[can]` section, the car's CAN
//!   frames decoded through its DBC, as SenML packs (QoS 1, `kind` `can-logger`), every value
//!   with its frame's time;
//! - `status` (retained, QoS 1): online/offline and each module's life cycle step: `probing`
//!   (does it answer?), `sample-test` (is one reading in range?), `running`, `failed` (with a
//!   detail saying why and how to fix it; the module is skipped), `removed` (at shutdown). The
//!   MQTT last will is the offline status.
//!
//! A reading is queued on disk (fsynced) before it counts, goes out in order, and leaves the
//! queue only when the broker acknowledged it; the queue is bounded and drops its oldest
//! readings when full. The agent runs the same on a Pi (`Hardware::Real`, rppal, cargo feature
//! `rpi`) and anywhere else on simulated buses (`Hardware::Fake`, `--fake-hardware`).
//!
//! # Layout
//! - [`config`]: `pi.toml`, its validation, and the MQTT credentials from the environment.
//! - [`bme280`], [`bh1750`], [`pir`], [`ds18b20`]: the drivers, on embedded-hal 1.0 I²C and
//!   small traits of our own for the PIR's edges and the 1-wire sysfs file.
//! - `command`: the `command` module, a program run at each reading that prints its values.
//! - [`fake`]: the simulated buses of `--fake-hardware` (register models, seeded).
//! - `rpi` (feature `rpi`): the Pi's buses through rppal.
//! - `modules`: probe, sample test and readings of each module, and their status lines.
//! - [`queue`]: the crash-safe, bounded on-disk queue of readings.
//! - [`can`]: CAN frames through a DBC file into readings and SenML packs, a DBC's profile,
//!   `candump` logs (issue 16).
//! - `can_source`: the `[can]` section live: SocketCAN interfaces (Linux) or a `candump` log
//!   replayed, decoded and cut into packs for the queue.
//! - `agent`: the async driver: life cycle, interval, queue, MQTT.

pub mod bh1750;
pub mod bme280;
pub mod can;
pub mod config;
pub mod ds18b20;
pub mod fake;
pub mod pir;
pub mod queue;

mod agent;
mod can_source;
mod command;
mod modules;
#[cfg(feature = "rpi")]
mod rpi;

use std::path::PathBuf;

use tokio_util::sync::CancellationToken;

pub use config::{
    CanConfig, ConfigError, Credentials, ModuleConfig, PiConfig, Problem, SiteLocation,
};

/// The hardware the agent reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hardware {
    /// The Pi's I²C buses, GPIO lines and 1-wire folder, through rppal. Needs a build with the
    /// cargo feature `rpi`.
    Real,
    /// Simulated buses with a BME280 at 0x76 and a BH1750 at 0x23 on bus 1, a PIR on any line
    /// and every configured DS18B20 (see [`fake`]). The same seed gives the same readings.
    Fake {
        /// Seed of every simulated value.
        seed: u64,
    },
}

/// Why the agent stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum PiError {
    /// The configuration breaks a rule.
    #[error("invalid configuration")]
    Config(#[source] ConfigError),
    /// Real hardware was asked of a build without it.
    #[error(
        "this garonne was built without Raspberry Pi support: rebuild it with the `rpi` \
         feature (`cargo build --release --features rpi`), or run with \
         --fake-hardware"
    )]
    NoRealHardware,
    /// The fake hardware's 1-wire folder could not be made.
    #[error("cannot prepare the fake hardware's 1-wire folder")]
    FakeHardware(#[source] std::io::Error),
    /// The reading queue could not be opened.
    #[error(
        "cannot open the reading queue in {} (queue_dir in pi.toml: a folder this user can \
         write)",
        dir.display()
    )]
    Queue {
        /// The queue folder.
        dir: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Every module failed its probe or sample test.
    #[error(
        "no module of sensor {sensor_id} works, nothing to publish: {failures} (the status \
         topic shows the same; fix the wiring or pi.toml and start again)"
    )]
    NoModules {
        /// The sensor.
        sensor_id: String,
        /// Each module's name and why it failed.
        failures: String,
    },
    /// The `[can]` source cannot start: its DBC, its profile, its interfaces or its log.
    #[error("{what}")]
    Can {
        /// What failed, and how to fix it.
        what: String,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A blocking hardware task panicked (a bug).
    #[error("a hardware task of the agent stopped unexpectedly")]
    Task(#[source] tokio::task::JoinError),
}

/// Runs the agent until `shutdown`: probes and tests the modules, publishes a reading every
/// `config.interval_secs`, and on shutdown marks the modules removed and the sensor offline.
///
/// Returns an error when the configuration is invalid, the queue folder cannot be used, or
/// no module works (after publishing why on the status topic).
pub async fn run(
    config: PiConfig,
    hardware: Hardware,
    shutdown: CancellationToken,
) -> Result<(), PiError> {
    config.validate().map_err(PiError::Config)?;
    let backend = modules::Backend::new(&hardware, &config)?;
    agent::Agent::start(config, backend, shutdown).await
}

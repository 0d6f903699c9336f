//! The Garonne simulator: a Toulouse sensor fleet replayed from open-data files, and the
//! Raspberry Pi agent that publishes real sensors' readings with the same payload.
//!
//! # Layout
//! - [`opendata`]: loaders for the Toulouse Métropole open-data exports (station catalogue,
//!   readings), with their quirks handled and reported.
//! - [`fetch`]: `garonne data fetch`, downloading those exports into the data directory.
//! - [`fleet`]: the simulated sensors and their schedule, a pure transform (data + `now` in,
//!   messages out).
//! - [`mqtt`]: broker addresses and the reconnecting MQTT event loop (from `garonne-service`).
//! - [`simulate`]: `garonne simulate`, the fleet's async driver.
//! - [`pi`]: `garonne pi`, the Raspberry Pi sensor agent (drivers, fake hardware, disk queue).

pub mod fetch;
pub mod fleet;
pub mod opendata;
pub mod pi;
pub mod simulate;

pub use garonne_service::mqtt;

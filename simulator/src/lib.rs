//! The Garonne simulator: Toulouse sensor fleets (weather, bikes, the river, any described
//! dataset) replayed from open-data files (loaded by `garonne-opendata`) and published over
//! MQTT with the payload of a real sensor.
//!
//! Topics written, under `{prefix}/v1/sensors/{sensor_id}/`: `reading` (each sensor's readings
//! on schedule, QoS 0 or 1) and `status` (retained, QoS 1: online at start, offline at
//! shutdown); the simulator's own `simulator-{client}` status is its MQTT last will.
//!
//! # Layout
//! - [`fleet`]: the simulated sensors and their schedule, a pure transform (data + `now` in,
//!   messages out).
//! - [`fleets`]: which fleets a run simulates (the described ones: the weather, bikes, the
//!   river, a data folder's own), and loading them.
//! - [`mqtt`]: broker addresses and the reconnecting MQTT event loop (from `garonne-service`).
//! - [`simulate`]: `garonne simulate`, the fleet's async driver.
//! - [`replay`]: `garonne replay`, stored readings published again on a virtual clock.
//!
//! The open-data loaders, the dataset catalogue and `garonne data fetch` are in
//! `garonne-opendata`; the Raspberry Pi agent (`garonne pi`) is in `garonne-agent`.

pub mod fleet;
pub mod fleets;
pub mod replay;
pub mod simulate;

pub use garonne_service::mqtt;

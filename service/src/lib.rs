//! What every Garonne service shares: the MQTT connection that reconnects with capped backoff
//! (publisher and subscriber), and the operations endpoints (`/healthz`, `/readyz`, `/metrics`
//! in the Prometheus text format) that compose, Prometheus and people probe.
//!
//! # Layout
//! - [`config`]: reading a service's TOML configuration file, and checking the broker and
//!   topic prefix every service has.
//! - [`mqtt`]: broker addresses, client options, the event-loop driver and its counters.
//! - [`ops`]: the operations HTTP router and server.
//! - [`prometheus`]: a small writer of the Prometheus text exposition format.

pub mod config;
pub mod mqtt;
pub mod ops;
pub mod prometheus;

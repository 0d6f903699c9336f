//! What every Garonne service shares: the [`host`] that drives a service (its MQTT connection
//! with capped, jittered backoff, inbox, acknowledgements, outbox, ticks, operations endpoints
//! and shutdown), so that a service's own code is its logic, not its plumbing; and the pieces
//! the publishers (simulator, Pi agent) use alone.
//!
//! # Layout
//! - [`host`]: the [`host::Host`] and the [`host::Transform`] a service implements.
//! - [`profiles`]: live profiles: what the host does with a profile published on
//!   `{prefix}/v1/profiles/{name}` (register it, or refuse it and say why), for every service.
//! - [`inbox`]: the channel from the event loop to a service, bounded in bytes.
//! - [`outbox`]: publications waiting for the client, bounded in bytes, newest retained kept.
//! - [`backoff`]: the one retry policy: capped exponential backoff with jitter.
//! - [`report`]: an error with its whole source chain, for log lines.
//! - [`config`]: reading a service's TOML configuration file, its errors, and the `[mqtt]`
//!   section every service shares (broker, topic prefix, client id).
//! - [`data_dir`]: the data folder and the names of the files in it.
//! - [`mqtt`]: broker addresses, client options, the event-loop driver and its counters.
//! - [`ops`]: the operations HTTP router and server.
//! - [`prometheus`]: a small writer of the Prometheus text exposition format.

pub mod backoff;
pub mod config;
pub mod data_dir;
pub mod host;
pub mod inbox;
pub mod mqtt;
pub mod ops;
pub mod outbox;
pub mod profiles;
pub mod prometheus;
pub mod report;

//! Garonne realtime: every reading placed in its neighbourhood polygon and folded into windowed
//! statistics, republished over MQTT for the map, Grafana and any subscriber.
//!
//! Reads `{prefix}/v1/sensors/+/reading` and `.../senml`. Writes, retained,
//! `.../neighbourhoods/{id}/aggregate` (per neighbourhood and quantity: the value by the
//! quantity's profile rules, `time` per sensor then `space` across sensors, and the
//! sensor-weighted mean, min, max, readings and sensors of each event-time window),
//! `.../sensors/{id}/rolling`
//! (each sensor's rolling statistics) and `.../alerts/{rule}/{scope}` (while raised); and
//! `.../errors/{sensor_id}` for every payload it refuses, with the JSON pointer, rule and hint.
//!
//! # Layout
//! - [`engine`]: the pure core (payload + `now` in, messages out): location cache, windows,
//!   repeats, late readings, error reports, aggregation at emit time.
//! - [`window`]: panes, windows and their arithmetic; the count/sum/min/max/last accumulator.
//! - [`alerts`]: threshold rules with minimum duration and hysteresis.
//! - [`snapshot`]: the state saved at shutdown and restored at start-up.
//! - [`metrics`]: the core's counters and their Prometheus rendering.
//! - [`config`]: the TOML configuration and its checks.
//! - [`service`]: the async driver: MQTT, timers, `/metrics`, shutdown.

pub mod alerts;
pub mod config;
pub mod engine;
pub mod metrics;
pub mod service;
pub mod snapshot;
pub mod window;

pub use alerts::{AlertRule, ScopeKind};
pub use config::{Config, ConfigError};
pub use engine::{Engine, Outcome, Publish, Settings};
pub use service::{RealtimeError, Summary, run, serve};
pub use snapshot::{Restored, Snapshot, SnapshotError};

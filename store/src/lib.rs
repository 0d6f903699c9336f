//! Garonne's stores: where readings, aggregates, alerts and statuses are kept, and how their
//! history is read back. The historian writes points through the [`Store`] trait (its spool
//! and schema stay in `garonne-historian`); the web server reads history through the
//! [`History`] trait (`/api/history`). Both open the same `[store]` block ([`StoreConfig`]), so
//! the server reads what the historian writes, without depending on the historian:
//!
//! ```text
//! historian: MQTT ─► schema ─► spool ─► Store::write ─► InfluxDB (v1, v2) | embedded (SQLite)
//! server:    /api/history ─► History::query ──────────────┘
//! ```
//!
//! Nothing here reads the environment: InfluxDB [`Credentials`] are read by the `garonne`
//! command and passed in.
//!
//! # Layout
//! - [`point`]: a point (measurement, tags, fields, time), what every store takes.
//! - [`store`]: the [`Store`] trait a sink implements, and its error classes.
//! - [`lineproto`]: the InfluxDB line-protocol encoder, a pure function.
//! - [`history`]: the history queries the server asks, the same answers from every store.
//! - [`readings`]: raw readings read back at full rate, page by page (replay, export, the
//!   telemetry page), the same answers from every store.
//! - [`mod@sessions`]: a device's runs (no gap longer than asked), counted in the store.
//! - [`places`]: each sensor's last known place and kind, what a replay publishes readings with.
//! - [`influx`]: InfluxDB stores (v1 and v2 write APIs), InfluxQL history, credentials.
//! - [`embedded`]: the embedded store (SQLite), readable by another process while written.
//! - [`export`]: stored samples written out as CSV or Parquet, streamed (`garonne export`).
//! - [`config`]: the `[store]` block, one variant per kind.
//! - [`backend`]: the store a configuration names, opened.

pub mod backend;
pub mod config;
pub mod embedded;
pub mod export;
pub mod history;
pub mod influx;
pub mod lineproto;
pub mod places;
pub mod point;
pub mod readings;
pub mod sessions;
pub mod store;

pub use backend::Backend;
pub use config::{StoreConfig, StoreKind};
pub use history::{Bucket, History, HistoryError, Query, Subject};
pub use influx::Credentials;
pub use places::{Places, PlacesError, SensorPlace};
pub use point::{Field, Point};
pub use readings::{Cursor, Page, Readings, Sample, Scan, StoredReadings};
pub use sessions::{Session, SessionQuery, sessions};
pub use store::{Store, StoreError};

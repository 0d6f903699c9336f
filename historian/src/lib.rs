//! Garonne historian: stores readings and aggregates in InfluxDB or the embedded store, and
//! loses nothing when the database or the broker goes away.
//!
//! Not built yet: see issue 5. This crate exists so that the workspace has its final shape.

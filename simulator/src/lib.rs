//! The Garonne simulator: a Toulouse sensor fleet replayed from open-data files, and the
//! Raspberry Pi agent that publishes real sensors' readings with the same payload.
//!
//! # Layout
//! - [`opendata`]: loaders for the Toulouse Métropole open-data exports (station catalogue,
//!   readings), with their quirks handled and reported.

pub mod opendata;

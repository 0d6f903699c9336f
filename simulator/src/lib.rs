//! The Garonne simulator: a Toulouse sensor fleet replayed from open-data files, and the
//! Raspberry Pi agent that publishes real sensors' readings with the same payload.
//!
//! Not built yet: see issue 3. This crate exists so that the workspace has its final shape.

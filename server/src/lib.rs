//! Garonne server: the web app (live map, JSON/GeoJSON API, payload validator page).
//!
//! Not built yet: see issue 6. This crate exists so that the workspace has its final shape.

//! Loaders for the Toulouse open-data exports (being written).

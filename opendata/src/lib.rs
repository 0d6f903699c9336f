//! Toulouse's open data: loaders, the dataset catalogue and garonne data fetch (being moved here; see issue 12).

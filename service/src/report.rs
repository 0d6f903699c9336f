//! An error with its whole `#[source]` chain, for log lines: [`Chain`], defined in
//! `garonne_payload::report` (the crate the stores and the open-data fetcher share with the
//! host) and re-exported here for the services: `warn!(error = %Chain(&e), "...")`.

pub use garonne_payload::report::Chain;

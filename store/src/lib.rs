//! Garonne's stores: points, the Store trait, line protocol, InfluxDB and the embedded store, history queries (being moved here; see issue 12).

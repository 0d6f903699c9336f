//! Where points go. The historian's drain hands a store batches of points and retries what
//! failed; a store only says whether to retry.

use std::future::Future;

use crate::point::Point;

/// Why a batch was not written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store is down, slow or overloaded (connection refused, timeout, HTTP 5xx, 429):
    /// retry the same batch later. Nothing is dropped.
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    /// The store refused the batch for good (HTTP 400/422: a point it will never take, such as
    /// a field type conflict): retrying cannot help. The historian splits the batch until only
    /// the refused points are left and keeps those in its spool's `rejected.lp`. A mistake an
    /// operator can fix (wrong credentials, a database not created yet) is `Unavailable`, not
    /// this: the data waits in the spool for the fix.
    #[error("the store refused the points: {0}")]
    Rejected(String),
    /// The store refused the batch as too large (HTTP 413). The historian writes it again in
    /// halves; a single point still refused is set aside as a [`StoreError::Rejected`] one is.
    #[error("the store refused a batch too large: {0}")]
    TooLarge(String),
    /// The store took the request but did not answer in time: the batch may be too large for
    /// it, or the store overloaded. The historian writes it again in halves; a single point is
    /// retried as an [`StoreError::Unavailable`] batch is (nothing is dropped).
    #[error("the store did not answer in time: {0}")]
    TimedOut(String),
}

/// A sink for points. Writing is idempotent: a point written twice (same measurement, tags
/// and time) is stored once.
pub trait Store: Send {
    /// A short name for logs and metrics: `influx-v1`, `influx-v2`, `embedded`.
    fn name(&self) -> &'static str;

    /// Writes `points`, all or nothing as far as the caller knows: on error, the whole batch
    /// is written again later (idempotence makes that safe).
    fn write(&mut self, points: &[Point]) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Another handle on the same store, for a write at the same time as this one's, if the
    /// store gains from concurrent writes (an HTTP server: InfluxDB 1.6 takes 1.6 times as many
    /// points a second from two writers on this project's machine). `None` by default: one
    /// write at a time.
    fn concurrent(&self) -> Option<Self>
    where
        Self: Sized,
    {
        None
    }

    /// Housekeeping the historian calls every few minutes with the current time (the embedded
    /// store rolls up and deletes by retention here). Nothing by default: InfluxDB keeps its
    /// own retention policies.
    fn maintain(
        &mut self,
        now: garonne_payload::Timestamp,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        let _ = now;
        async { Ok(()) }
    }
}

//! [`Service`]: a Garonne service under test, run in this process.
//!
//! Realtime and the historian are tested through the same `serve(config, …, listener,
//! shutdown)` as their commands. [`Service::start`] binds their ops listener (`/healthz`,
//! `/readyz`, `/metrics`) on a free loopback port, spawns `serve` with a fresh shutdown token,
//! and then answers the questions every such test asks: what do the counters say
//! ([`Service::metrics`]), wait until one of them says so ([`Service::wait_metric`]), is it
//! ready ([`Service::wait_ready`]), stop it and give me its summary ([`Service::stop`]).
//! Dropping a [`Service`] — a test that fails half-way — cancels its token and aborts its task,
//! so nothing keeps running into the next test. [`Task`] is the same without the ops port, for
//! what has none (the Raspberry Pi agent, the simulator).
//!
//! ```no_run
//! # async fn example() {
//! use std::time::Duration;
//!
//! use garonne_testkit::Service;
//!
//! // `serve` stands for `garonne_realtime::serve(config, areas, …)` and the like.
//! async fn serve(
//!     listener: tokio::net::TcpListener,
//!     shutdown: tokio_util::sync::CancellationToken,
//! ) -> Result<u64, std::io::Error> {
//!     drop(listener);
//!     shutdown.cancelled().await;
//!     Ok(0)
//! }
//!
//! let service = Service::start("example", serve).await;
//! service
//!     .wait_metric("example_connected", Duration::from_secs(15), |v| v == 1.0)
//!     .await;
//! let summary = service.stop().await;
//! # }
//! ```

use std::fmt::Debug;
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::Metrics;
use crate::metrics::is_ready;

/// How often a wait polls the service.
const POLL: Duration = Duration::from_millis(50);

/// How long [`Service::stop`] waits for `serve` to return after the shutdown.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(20);

/// A future that runs until its shutdown token is cancelled, spawned on the test's runtime;
/// cancelled and aborted when dropped.
#[derive(Debug)]
pub struct Task<T, E> {
    /// Its name in messages, such as `realtime`.
    name: String,
    /// Cancelled by [`Task::stop`] and on drop.
    shutdown: CancellationToken,
    /// The task; `None` once [`Task::stop`] has taken it.
    handle: Option<JoinHandle<Result<T, E>>>,
}

impl<T, E> Task<T, E>
where
    T: Send + 'static,
    E: Debug + Send + 'static,
{
    /// Spawns `run(shutdown)`.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub fn spawn<F, Fut>(name: impl Into<String>, run: F) -> Self
    where
        F: FnOnce(CancellationToken) -> Fut,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
    {
        let shutdown = CancellationToken::new();
        let handle = tokio::spawn(run(shutdown.clone()));
        Task {
            name: name.into(),
            shutdown,
            handle: Some(handle),
        }
    }

    /// Its name, as given to [`Task::spawn`].
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether it has returned (or panicked).
    #[must_use]
    pub fn is_finished(&self) -> bool {
        self.handle.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Cancels its shutdown token and waits, at most [`STOP_TIMEOUT`], for it to return, which
    /// it must do with `Ok`.
    ///
    /// # Panics
    ///
    /// When it does not return in time, panics or returns an error.
    pub async fn stop(self) -> T {
        self.stop_within(STOP_TIMEOUT).await
    }

    /// [`Task::stop`], with `timeout` instead of [`STOP_TIMEOUT`].
    ///
    /// # Panics
    ///
    /// As [`Task::stop`].
    pub async fn stop_within(mut self, timeout: Duration) -> T {
        self.shutdown.cancel();
        let handle = self.handle.take().expect("a task is stopped once");
        let name = &self.name;
        tokio::time::timeout(timeout, handle)
            .await
            .unwrap_or_else(|_| panic!("{name} stops within {timeout:?} of the shutdown"))
            .unwrap_or_else(|e| panic!("the {name} task completes: {e}"))
            .unwrap_or_else(|e| panic!("{name} returns Ok: {e:?}"))
    }

    /// Ends it at once, without cancelling its shutdown token, as when its process dies.
    pub fn abort(mut self) {
        if let Some(handle) = self.handle.take() {
            handle.abort();
        }
    }
}

impl<T, E> Drop for Task<T, E> {
    fn drop(&mut self) {
        // Not after `abort`, which is meant to look like a process that dies: no shutdown.
        if let Some(handle) = self.handle.take() {
            self.shutdown.cancel();
            handle.abort();
        }
    }
}

/// A service's `serve` running in a [`Task`], its ops endpoints on a loopback port.
#[derive(Debug)]
pub struct Service<T, E> {
    /// `serve`.
    task: Task<T, E>,
    /// Where its ops listener is bound.
    ops: SocketAddr,
}

impl<T, E> Service<T, E>
where
    T: Send + 'static,
    E: Debug + Send + 'static,
{
    /// Binds a listener on a free port of 127.0.0.1 and spawns `serve(listener, shutdown)` as a
    /// [`Task`].
    /// Returns at once: the service may not be connected yet (see [`Service::wait_metric`] and
    /// [`Service::wait_ready`]).
    ///
    /// # Panics
    ///
    /// When no loopback port can be bound, or outside a tokio runtime.
    pub async fn start<F, Fut>(name: impl Into<String>, serve: F) -> Self
    where
        F: FnOnce(TcpListener, CancellationToken) -> Fut,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
    {
        let name = name.into();
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .unwrap_or_else(|e| panic!("a free loopback port for {name}'s ops server: {e}"));
        let ops = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("{name}'s ops address: {e}"));
        let task = Task::spawn(name, |shutdown| serve(listener, shutdown));
        Service { task, ops }
    }

    /// The address of its ops server (`/healthz`, `/readyz`, `/metrics`).
    #[must_use]
    pub fn ops_address(&self) -> SocketAddr {
        self.ops
    }

    /// The URL of `path` on its ops server, such as `http://127.0.0.1:PORT/readyz`.
    #[must_use]
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.ops)
    }

    /// Whether `serve` has returned (or panicked).
    #[must_use]
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// Its `/metrics` now; empty when it does not answer.
    pub async fn metrics(&self) -> Metrics {
        Metrics::scrape(self.ops).await
    }

    /// One sample of its `/metrics` now, 0 when absent.
    pub async fn metric(&self, name: &str) -> f64 {
        self.metrics().await.value(name)
    }

    /// Polls `/metrics` until the sample `name` (0 while absent) satisfies `done`, and returns
    /// it.
    ///
    /// # Panics
    ///
    /// When `serve` returns first, or `timeout` runs out first.
    pub async fn wait_metric(
        &self,
        name: &str,
        timeout: Duration,
        done: impl Fn(f64) -> bool,
    ) -> f64 {
        let deadline = Instant::now() + timeout;
        loop {
            let value = self.metric(name).await;
            if done(value) {
                return value;
            }
            self.assert_waiting(&format!("{name}: it is {value}"), deadline);
            tokio::time::sleep(POLL).await;
        }
    }

    /// Polls `/readyz` until it answers `200`.
    ///
    /// # Panics
    ///
    /// When `serve` returns first, or `timeout` runs out first.
    pub async fn wait_ready(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while !is_ready(self.ops).await {
            self.assert_waiting("/readyz", deadline);
            tokio::time::sleep(POLL).await;
        }
    }

    /// [`Task::stop`]: `serve` must return `Ok` within [`STOP_TIMEOUT`] of the shutdown.
    ///
    /// # Panics
    ///
    /// As [`Task::stop`].
    pub async fn stop(self) -> T {
        self.task.stop().await
    }

    /// Panics when `serve` has returned, or `deadline` has passed, while waiting on `what`.
    fn assert_waiting(&self, what: &str, deadline: Instant) {
        let name = self.task.name();
        assert!(
            !self.is_finished(),
            "{name} stopped while waiting on {what}"
        );
        assert!(
            Instant::now() < deadline,
            "{name}: timed out waiting on {what}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in for a service: counts on `/metrics` until shut down, then returns the count.
    async fn counting(listener: TcpListener, shutdown: CancellationToken) -> Result<u32, String> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut served = 0;
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return Ok(served),
                accepted = listener.accept() => {
                    let (mut stream, _) = accepted.map_err(|e| e.to_string())?;
                    // Read the request, or closing with it unread resets the connection.
                    let mut request = [0; 1024];
                    let _ = stream.read(&mut request).await.map_err(|e| e.to_string())?;
                    served += 1;
                    let body = format!("# TYPE served_total counter\nserved_total {served}\n");
                    let answer = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}", body.len());
                    stream.write_all(answer.as_bytes()).await.map_err(|e| e.to_string())?;
                }
            }
        }
    }

    #[tokio::test]
    async fn waits_on_a_counter_then_stops_with_the_summary() {
        let service = Service::start("counting", counting).await;
        let seen = service
            .wait_metric("served_total", Duration::from_secs(5), |v| v >= 3.0)
            .await;
        assert_eq!(seen, 3.0);
        service.wait_ready(Duration::from_secs(5)).await;
        assert!(service.stop().await >= 4);
    }

    #[tokio::test]
    #[should_panic(expected = "failing stopped while waiting on ready_total")]
    async fn a_service_that_returns_fails_the_wait() {
        let service: Service<(), String> =
            Service::start("failing", |_, _| async { Err("no broker".to_owned()) }).await;
        service
            .wait_metric("ready_total", Duration::from_secs(5), |v| v > 0.0)
            .await;
    }

    #[tokio::test]
    async fn dropping_a_service_cancels_it() {
        let service = Service::start("counting", counting).await;
        let shutdown = service.task.shutdown.clone();
        drop(service);
        assert!(shutdown.is_cancelled());
    }
}

//! The operations endpoints every Garonne service serves: `/healthz` (the process answers),
//! `/readyz` (it is connected to what it needs, 503 otherwise) and `/metrics` (Prometheus text).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::prometheus::CONTENT_TYPE;

/// Renders the service's metrics in the Prometheus text format.
pub type RenderMetrics = Arc<dyn Fn() -> String + Send + Sync>;

/// Says whether the service is ready (connected to its broker, its store...).
pub type CheckReady = Arc<dyn Fn() -> bool + Send + Sync>;

/// What the endpoints report.
#[derive(Clone)]
pub struct Probe {
    /// Readiness.
    pub ready: CheckReady,
    /// The metrics text.
    pub metrics: RenderMetrics,
}

/// Why the operations server could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {addr} for /metrics (pick another address with --metrics-addr)")]
pub struct BindError {
    addr: SocketAddr,
    #[source]
    source: std::io::Error,
}

/// The router: `/healthz`, `/readyz`, `/metrics`.
pub fn router(probe: Probe) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(probe)
}

async fn readyz(State(probe): State<Probe>) -> Response {
    if (probe.ready)() {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n").into_response()
    }
}

async fn metrics(State(probe): State<Probe>) -> Response {
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], (probe.metrics)()).into_response()
}

/// Binds `addr`; the returned listener goes to [`serve`] (port 0 picks a free port).
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, BindError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| BindError { addr, source })
}

/// Serves the endpoints on `listener` until `shutdown` is cancelled.
pub async fn serve(listener: TcpListener, probe: Probe, shutdown: CancellationToken) {
    let served = axum::serve(listener, router(probe))
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await;
    if let Err(error) = served {
        tracing::warn!(%error, "the operations HTTP server stopped");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    async fn get_path(probe: &Probe, path: &str) -> (StatusCode, String) {
        let response = router(probe.clone())
            .oneshot(Request::get(path).body(Body::empty()).expect("request"))
            .await
            .expect("response");
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .expect("body");
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn readiness_follows_the_flag_and_metrics_are_rendered_on_demand() {
        let ready = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&ready);
        let probe = Probe {
            ready: Arc::new(move || flag.load(Ordering::Relaxed)),
            metrics: Arc::new(|| "x_total 1\n".to_owned()),
        };
        assert_eq!(get_path(&probe, "/healthz").await.0, StatusCode::OK);
        assert_eq!(
            get_path(&probe, "/readyz").await.0,
            StatusCode::SERVICE_UNAVAILABLE
        );
        ready.store(true, Ordering::Relaxed);
        assert_eq!(get_path(&probe, "/readyz").await.0, StatusCode::OK);
        assert_eq!(
            get_path(&probe, "/metrics").await,
            (StatusCode::OK, "x_total 1\n".to_owned())
        );
    }
}

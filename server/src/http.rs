//! The HTTP/1.1 server loop: hyper's, where `axum::serve` has no settings, for a bound on how
//! long a client may take to send its request headers. A client that opens connections and
//! sends its headers a byte at a time (slowloris) would otherwise hold a task and a socket each
//! for as long as it likes; behind nginx, nginx has its own bound, but the server may listen on
//! the network by itself (`garonne up --http 0.0.0.0:8080`).
//!
//! Shutdown is graceful: no new connection is taken, and the open ones finish the request
//! they are on (the event streams end when the live state closes them).

use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

/// Serves `router` on `listener` until `shutdown`, closing a connection whose request headers
/// have not all arrived within `header_read_timeout`; then waits for the open connections.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    header_read_timeout: Duration,
    shutdown: CancellationToken,
) {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout);
    let connections = GracefulShutdown::new();
    loop {
        let (stream, peer) = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, most likely: wait rather than spin.
                    warn!(error = %e, "cannot accept an HTTP connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let service = TowerToHyperService::new(router.clone());
        let connection = connections.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                debug!(%peer, error = %e, "HTTP connection ended with an error");
            }
        });
    }
    connections.shutdown().await;
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    use super::*;

    #[tokio::test]
    async fn a_client_slow_with_its_headers_is_closed_and_the_others_are_served() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let router = Router::new().route("/", axum::routing::get(|| async { "ok" }));
        let shutdown = CancellationToken::new();
        let server = tokio::spawn(serve(
            listener,
            router,
            Duration::from_secs(1),
            shutdown.clone(),
        ));

        // Half a request, then nothing: closed once the bound has passed.
        let mut slow = TcpStream::connect(addr).await.expect("connects");
        slow.write_all(b"GET / HTTP/1.1\r\nHost: loc")
            .await
            .expect("writes");
        let started = Instant::now();
        let mut answer = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(10), slow.read_to_end(&mut answer))
            .await
            .expect("closed within 10 s, not held open");
        assert!(read.is_ok() || answer.is_empty(), "{read:?}");
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(900),
            "closed after {waited:?}"
        );
        let answer = String::from_utf8_lossy(&answer);
        assert!(
            answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
            "{answer}"
        );

        // A whole request is answered.
        let mut quick = TcpStream::connect(addr).await.expect("connects");
        quick
            .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .await
            .expect("writes");
        let mut answer = String::new();
        quick.read_to_string(&mut answer).await.expect("reads");
        assert!(
            answer.starts_with("HTTP/1.1 200") && answer.ends_with("ok"),
            "{answer}"
        );

        shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(5), server)
            .await
            .expect("stops")
            .expect("no panic");
    }
}

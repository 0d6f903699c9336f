//! `GET /events`: live messages as Server-Sent Events, for the browser's `EventSource` (which
//! reconnects by itself). `event:` is the kind, `data:` the message JSON as published on MQTT;
//! a `: ping` comment every 15 s keeps proxies from closing an idle stream.
//!
//! Design: one tokio broadcast channel feeds every client. A client that falls
//! `events_buffer` messages behind skips the oldest ones (counted in
//! `garonne_server_events_dropped_total`) and goes on from the newest: a slow browser never
//! slows the MQTT loop or the other clients, and the map catches up from the next aggregate.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::HeaderValue;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::Stream;
use tokio::sync::broadcast::error::RecvError;

use crate::app::App;
use crate::error::ApiError;
use crate::live::{Kind, LiveEvent};

/// How often an idle stream gets a comment.
pub const PING_EVERY: Duration = Duration::from_secs(15);

/// Kinds sent when the request names none.
pub const DEFAULT_KINDS: [Kind; 3] = [Kind::Aggregate, Kind::Status, Kind::Alert];

/// Which kinds a client wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kinds([bool; Kind::ALL.len()]);

impl Kinds {
    /// Parses `aggregate,status,...`; empty means [`DEFAULT_KINDS`].
    pub fn parse(list: &str) -> Result<Kinds, ApiError> {
        let mut wanted = [false; Kind::ALL.len()];
        let names: Vec<&str> = list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        if names.is_empty() {
            for k in DEFAULT_KINDS {
                wanted[k as usize] = true;
            }
        }
        for name in names {
            let kind = Kind::from_name(name).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "unknown event kind \"{name}\": use a comma-separated list of {}",
                    Kind::ALL.map(Kind::as_str).join(", ")
                ))
            })?;
            wanted[kind as usize] = true;
        }
        Ok(Kinds(wanted))
    }

    /// Whether `kind` is wanted.
    pub fn contains(self, kind: Kind) -> bool {
        self.0[kind as usize]
    }
}

/// Counts a connected client; uncounts it when its stream is dropped.
struct Client(Arc<App>);

impl Drop for Client {
    fn drop(&mut self) {
        self.0
            .metrics()
            .event_clients
            .fetch_sub(1, Ordering::Relaxed);
    }
}

/// `GET /events?kinds=...`.
pub async fn events(
    State(app): State<Arc<App>>,
    params: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(params) = params
        .map_err(|e| ApiError::bad_request(format!("the query string cannot be read ({e})")))?;
    if let Some(other) = params.keys().find(|k| *k != "kinds") {
        return Err(ApiError::bad_request(format!(
            "unknown parameter \"{other}\": /events takes only kinds"
        )));
    }
    let kinds = Kinds::parse(params.get("kinds").map_or("", String::as_str))?;
    let metrics = app.metrics();
    let before = metrics.event_clients.fetch_add(1, Ordering::Relaxed);
    let client = Client(Arc::clone(&app));
    if before >= app.max_event_clients() as u64 {
        metrics
            .event_clients_refused
            .fetch_add(1, Ordering::Relaxed);
        return Err(ApiError::unavailable(format!(
            "{} clients are following the live events already, the most this server takes: \
             try again later",
            app.max_event_clients()
        )));
    }
    let receiver = app.subscribe();
    let stream = stream(client, receiver, kinds);
    let mut response = Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(PING_EVERY).text("ping"))
        .into_response();
    // nginx would otherwise hold the events back in its buffer.
    response
        .headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
}

/// The events of `receiver` that `kinds` wants, until the server shuts down.
fn stream(
    client: Client,
    receiver: tokio::sync::broadcast::Receiver<LiveEvent>,
    kinds: Kinds,
) -> impl Stream<Item = Result<Event, Infallible>> {
    futures_util::stream::unfold(
        (client, receiver),
        move |(client, mut receiver)| async move {
            loop {
                let shutdown = client.0.shutdown().clone();
                let received = tokio::select! {
                    _ = shutdown.cancelled() => return None,
                    received = receiver.recv() => received,
                };
                match received {
                    Ok(event) if kinds.contains(event.kind) => {
                        client
                            .0
                            .metrics()
                            .events_sent
                            .fetch_add(1, Ordering::Relaxed);
                        let sse = Event::default()
                            .event(event.kind.as_str())
                            .data(&*event.data);
                        return Some((Ok(sse), (client, receiver)));
                    }
                    Ok(_) => {}
                    Err(RecvError::Lagged(skipped)) => {
                        client
                            .0
                            .metrics()
                            .events_dropped
                            .fetch_add(skipped, Ordering::Relaxed);
                    }
                    Err(RecvError::Closed) => return None,
                }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_default_to_aggregates_statuses_and_alerts() {
        let default = Kinds::parse("").expect("valid");
        assert_eq!(
            Kind::ALL.map(|k| default.contains(k)),
            [true, true, true, false, false]
        );
        let some = Kinds::parse("reading, alert").expect("valid");
        assert_eq!(
            Kind::ALL.map(|k| some.contains(k)),
            [false, false, true, true, false]
        );
        let e = Kinds::parse("aggregate,readings").expect_err("typo");
        assert!(
            e.message
                .contains("\"readings\": use a comma-separated list of aggregate, status, alert, reading, rolling"),
            "{}",
            e.message
        );
    }
}

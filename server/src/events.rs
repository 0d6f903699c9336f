//! `GET /events`: live messages as Server-Sent Events, for the browser's `EventSource` (which
//! reconnects by itself). `event:` is the kind, `data:` the message JSON as published on MQTT;
//! a `: ping` comment every 15 s keeps proxies from closing an idle stream.
//!
//! Design: one tokio broadcast channel feeds every client. A client that falls
//! `events_buffer` messages behind skips the oldest ones (counted in
//! `garonne_server_events_dropped_total`) and goes on from the newest: a slow browser never
//! slows the MQTT loop or the other clients, and the map catches up from the next aggregate.
//!
//! The pieces every Server-Sent Events endpoint needs (the client count and its limit in
//! [`admit`], the query string in [`query`], the response in [`response`]) are shared with
//! `/api/telemetry/stream`.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
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

/// A client counted in by [`admit`], counted out when its stream is dropped.
pub(crate) struct Connection {
    app: Arc<App>,
    connected: fn(&App) -> &AtomicU64,
}

impl Connection {
    /// The server the client is connected to.
    pub(crate) fn app(&self) -> &Arc<App> {
        &self.app
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        (self.connected)(&self.app).fetch_sub(1, Ordering::Relaxed);
    }
}

/// Counts a new client of a Server-Sent Events endpoint in `connected`, or refuses it (counted
/// in `refused`) when `max_event_clients` are connected already; the error says
/// "{max} `following` already".
pub(crate) fn admit(
    app: &Arc<App>,
    connected: fn(&App) -> &AtomicU64,
    refused: fn(&App) -> &AtomicU64,
    following: &str,
) -> Result<Connection, ApiError> {
    let before = connected(app).fetch_add(1, Ordering::Relaxed);
    let connection = Connection {
        app: Arc::clone(app),
        connected,
    };
    if before >= app.max_event_clients() as u64 {
        refused(app).fetch_add(1, Ordering::Relaxed);
        return Err(ApiError::unavailable(format!(
            "{} {following} already, the most this server takes: try again later",
            app.max_event_clients()
        )));
    }
    Ok(connection)
}

/// The query string of a Server-Sent Events request, or a 400 saying why it cannot be read.
pub(crate) fn query(
    params: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<HashMap<String, String>, ApiError> {
    let Query(params) = params
        .map_err(|e| ApiError::bad_request(format!("the query string cannot be read ({e})")))?;
    Ok(params)
}

/// `stream` as a Server-Sent Events response: a ping comment every [`PING_EVERY`], and
/// unbuffered by nginx (which would otherwise hold the events back in its buffer).
pub(crate) fn response(
    stream: impl Stream<Item = Result<Event, Infallible>> + Send + 'static,
) -> Response {
    let mut response = Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(PING_EVERY).text("ping"))
        .into_response();
    response
        .headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// `GET /events?kinds=...`.
pub async fn events(
    State(app): State<Arc<App>>,
    params: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let params = query(params)?;
    if let Some(other) = params.keys().find(|k| *k != "kinds") {
        return Err(ApiError::bad_request(format!(
            "unknown parameter \"{other}\": /events takes only kinds"
        )));
    }
    let kinds = Kinds::parse(params.get("kinds").map_or("", String::as_str))?;
    let client = admit(
        &app,
        |app| &app.metrics().event_clients,
        |app| &app.metrics().event_clients_refused,
        "clients are following the live events",
    )?;
    let receiver = app.subscribe();
    Ok(response(stream(client, receiver, kinds)))
}

/// The events of `receiver` that `kinds` wants, until the server shuts down.
fn stream(
    client: Connection,
    receiver: tokio::sync::broadcast::Receiver<LiveEvent>,
    kinds: Kinds,
) -> impl Stream<Item = Result<Event, Infallible>> {
    futures_util::stream::unfold(
        (client, receiver),
        move |(client, mut receiver)| async move {
            loop {
                let shutdown = client.app().shutdown().clone();
                let received = tokio::select! {
                    _ = shutdown.cancelled() => return None,
                    received = receiver.recv() => received,
                };
                match received {
                    Ok(event) if kinds.contains(event.kind) => {
                        client
                            .app()
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
                            .app()
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

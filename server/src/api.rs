//! The JSON API under `/api` (server/CONTRACT.md; described by `/api/openapi.json`). Every
//! error is a status and `{"error": "..."}` that says what to fix ([`ApiError`]).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::body::{Body, Bytes};
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use garonne_payload::{Limits, Payload, Quantity, Timestamp, parse_payload};

use crate::app::{App, Rendered, VALIDATE_BODY_LIMIT};
use crate::config::Config;
use crate::error::ApiError;
use crate::history;

/// The OpenAPI 3.1 document of every route.
///
/// Design: written by hand, not generated. The API's bodies are the payload crate's MQTT
/// messages passed through as published (aggregates, readings, statuses, alerts) and GeoJSON
/// assembled from pre-rendered text, so there are no handler types for a generator (utoipa,
/// aide) to derive from; deriving schemas in the payload crate would tie its wire types to an
/// HTTP library it must not depend on. A test keeps the document honest: it must be OpenAPI
/// 3.1, describe every route of [`crate::app::ROUTES`] and nothing else, and every route it
/// describes answers.
pub const OPENAPI: &str = include_str!("openapi.json");

/// The `/api/config` object.
pub fn ui_config(config: &Config) -> serde_json::Value {
    // The map's menu: the weather quantities, labels from the built-in profile.
    let quantities: Vec<serde_json::Value> = Quantity::WEATHER
        .into_iter()
        .map(|q| {
            let label = &q.def().label;
            serde_json::json!({ "name": q.name(), "unit": q.unit(), "label": { "fr": label.fr, "en": label.en } })
        })
        .collect();
    serde_json::json!({
        "grafana_url": config.grafana_url,
        "tiles_url": config.tiles_url,
        "default_quantity": config.default_quantity.name(),
        "quantities": quantities,
    })
}

/// A response of `body` as `content_type`.
fn body(content_type: &'static str, body: impl Into<Body>) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body.into()).into_response()
}

const JSON: &str = "application/json";
const GEOJSON: &str = "application/geo+json";

/// `GET /api/config`.
pub async fn config(State(app): State<Arc<App>>) -> Response {
    body(JSON, app.config_body())
}

/// `GET /api/neighbourhoods`: the polygons with their latest aggregates.
pub async fn neighbourhoods(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    rendered(&app.neighbourhoods_body(), &headers)
}

/// `GET /api/sensors`: the sensors with their latest reading, rolling statistics and status.
pub async fn sensors(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    rendered(&app.sensors_body(), &headers)
}

/// A cached GeoJSON body: 304 when the client has this generation (`If-None-Match`), the
/// pre-compressed copy when it takes gzip, else the text.
fn rendered(rendered: &Rendered, request: &HeaderMap) -> Response {
    let etag = HeaderValue::from_str(&rendered.etag).ok();
    let not_modified = etag.as_ref().is_some_and(|etag| {
        request
            .get_all(header::IF_NONE_MATCH)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|tag| tag.trim() == etag || tag.trim() == "*")
    });
    let mut response = if not_modified {
        StatusCode::NOT_MODIFIED.into_response()
    } else if accepts_gzip(request) {
        let mut response = body(GEOJSON, rendered.gzip());
        response
            .headers_mut()
            .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        response
    } else {
        body(GEOJSON, rendered.body.clone())
    };
    let headers = response.headers_mut();
    if let Some(etag) = etag {
        headers.insert(header::ETAG, etag);
    }
    headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    // Revalidate every time: the state is live.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// Whether `Accept-Encoding` takes gzip (not with `q=0`).
pub fn accepts_gzip(request: &HeaderMap) -> bool {
    request
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or("").trim();
            let q_zero = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q == 0.0)
            });
            (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !q_zero
        })
}

/// `GET /api/alerts`: the active alerts.
pub async fn alerts(State(app): State<Arc<App>>) -> Response {
    let text = app.live().alerts_json();
    body(JSON, text)
}

/// `GET /api/schema`: the payload JSON Schema.
pub async fn schema(State(app): State<Arc<App>>) -> Response {
    body("application/schema+json", app.schema_body())
}

/// `GET /api/openapi.json`.
pub async fn openapi() -> Response {
    body(JSON, OPENAPI)
}

/// `GET /api/history`: mean/min/max/count per interval of one quantity of one neighbourhood
/// or sensor.
pub async fn history(
    State(app): State<Arc<App>>,
    params: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(params) = params.map_err(|e| {
        ApiError::bad_request(format!(
            "the query string cannot be read ({e}): encode it as a URL query"
        ))
    })?;
    let query = history::parse_query(&params, now(), |id| app.live().has_neighbourhood(id))?;
    let metrics = app.metrics();
    match app.history().query(&query).await {
        Ok(buckets) => {
            metrics.history_queries.fetch_add(1, Ordering::Relaxed);
            Ok(body(JSON, history::answer(&query, &buckets).to_string()))
        }
        Err(garonne_store::history::HistoryError::Invalid(message)) => {
            Err(ApiError::bad_request(message))
        }
        Err(garonne_store::history::HistoryError::Unavailable(message)) => {
            metrics.history_failures.fetch_add(1, Ordering::Relaxed);
            Err(ApiError::unavailable(format!(
                "history is not available: {message}"
            )))
        }
    }
}

/// `POST /api/validate`: checks a payload (a reading, or a SenML pack when it starts with `[`)
/// and lists its problems with their place, rule and hint: up to [`Limits::max_violations`], then
/// an entry and `more` that say how many more there were.
pub async fn validate(
    State(app): State<Arc<App>>,
    bytes: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let bytes = bytes.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError {
                status: StatusCode::PAYLOAD_TOO_LARGE,
                message: format!(
                    "the payload is over {VALIDATE_BODY_LIMIT} bytes: a reading is at most {} \
                     bytes and a SenML pack at most {}",
                    Limits::default().max_reading_bytes,
                    Limits::default().max_pack_bytes
                ),
            }
        } else {
            ApiError::bad_request(format!(
                "the body cannot be read ({e}): send the payload as the request body"
            ))
        }
    })?;
    app.metrics().validations.fetch_add(1, Ordering::Relaxed);
    Ok(body(JSON, verdict(&bytes, now()).to_string()))
}

/// The answer of `POST /api/validate` for `bytes` checked at `now`.
pub fn verdict(bytes: &[u8], now: Timestamp) -> serde_json::Value {
    let senml = bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[');
    let kind = if senml { "senml" } else { "reading" };
    match parse_payload(bytes, now, &Limits::default()) {
        Ok(payload) => {
            let readings = match &payload {
                Payload::Reading(_) => 1,
                Payload::Senml(rs) => rs.len(),
            };
            serde_json::json!({ "valid": true, "kind": kind, "readings": readings, "errors": [] })
        }
        Err(invalid) => serde_json::json!({
            "valid": false,
            "kind": kind,
            "readings": 0,
            "errors": invalid.violations,
            "more": invalid.more,
        }),
    }
}

/// Any other path under `/api`.
pub async fn no_such_route(uri: axum::http::Uri) -> ApiError {
    ApiError::not_found(format!(
        "no API route {}: the routes are listed in /api/openapi.json",
        uri.path()
    ))
}

/// A known path with a method it does not answer.
pub async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError {
        status: StatusCode::METHOD_NOT_ALLOWED,
        message: format!(
            "{method} is not allowed on {}: see /api/openapi.json for each route's method",
            uri.path()
        ),
    }
}

/// The wall clock.
pub fn now() -> Timestamp {
    Timestamp::now()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_is_accepted_unless_refused() {
        for (value, want) in [
            ("gzip, deflate, br", true),
            ("br;q=1.0, gzip;q=0.8", true),
            ("GZIP", true),
            ("*", true),
            ("gzip;q=0", false),
            ("deflate, br", false),
            ("", false),
        ] {
            let mut headers = HeaderMap::new();
            headers.insert(header::ACCEPT_ENCODING, HeaderValue::from_static(value));
            assert_eq!(accepts_gzip(&headers), want, "{value}");
        }
        assert!(!accepts_gzip(&HeaderMap::new()));
    }

    #[test]
    fn a_verdict_lists_a_bounded_number_of_problems_and_counts_the_rest() {
        // A SenML pack of 1,000 bare numbers: one problem each.
        let pack = format!("[{}]", vec!["1"; 1000].join(","));
        let verdict = verdict(pack.as_bytes(), now());
        let listed = verdict["errors"].as_array().expect("errors").len();
        let limit = Limits::default().max_violations;
        assert_eq!(listed, limit + 1, "{limit} problems, then how many more");
        assert_eq!(verdict["more"], 1000 - limit);
        assert_eq!(verdict["valid"], false);
        let good = verdict_of_a_valid_reading();
        assert_eq!(good["valid"].as_bool(), Some(true));
        assert!(good.get("more").is_none(), "{good}");
    }

    fn verdict_of_a_valid_reading() -> serde_json::Value {
        let reading = format!(
            "{{\"v\":1,\"sensor_id\":\"pi-1\",\"kind\":\"weather\",\"source\":\"raspberry-pi\",\
             \"time\":\"{}\",\"seq\":1,\"location\":{{\"lon\":1.44,\"lat\":43.6}},\
             \"quantities\":{{\"temperature\":12.5}}}}",
            now()
        );
        verdict(reading.as_bytes(), now())
    }
}

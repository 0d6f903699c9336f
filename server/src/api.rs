//! The JSON API under `/api` (server/CONTRACT.md; described by `/api/openapi.json`). Every
//! error is a status and `{"error": "..."}` that says what to fix ([`ApiError`]).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::body::{Body, Bytes};
use axum::extract::Path;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use garonne_payload::profile::{BUILTIN_PROFILES, CataloguedProfile, Profile, Text};
use garonne_payload::{Limits, Payload, Quantity, Timestamp, parse_payload, parse_payload_under};
use serde_json::{Value, json};

use crate::app::{App, Rendered, VALIDATE_BODY_LIMIT};
use crate::config::Config;
use crate::error::ApiError;
use crate::history;
use crate::live::Live;
use crate::readings;
use garonne_store::history::HistoryError;

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

/// The `/api/config` object, made at request time: the catalogue grows while the server runs
/// (profiles published live), and so does the set of quantities with live data in `live`.
///
/// `quantities` stays the weather profile's ten, as in Garonne 1.0; `catalogue` has every
/// quantity (what the map's menu, legend and panels label and scale by), `profiles` the titles
/// the menu groups them under, and `live_quantities` the ones with live data now.
pub fn ui_config(config: &Config, live: &Live) -> Value {
    let quantities: Vec<Value> = Quantity::WEATHER
        .into_iter()
        .map(|q| json!({ "name": q.name(), "unit": q.unit(), "label": text(&q.def().label) }))
        .collect();
    let (catalogue, profiles) = Quantity::with_catalogue(|c| {
        let catalogue: Vec<Value> = c
            .quantities()
            .map(|(id, def)| {
                json!({
                    "name": def.name,
                    "unit": def.unit.display,
                    "label": text(&def.label),
                    "min": def.min,
                    "max": def.max,
                    "integer": def.integer,
                    "profile": c.defined_by(id),
                })
            })
            .collect();
        let profiles: Vec<Value> = c
            .profiles()
            .map(|p| json!({ "name": p.profile.name, "title": text(&p.profile.title) }))
            .collect();
        (catalogue, profiles)
    });
    let with_data: Vec<&str> = live
        .quantities_with_data()
        .into_iter()
        .map(Quantity::name)
        .collect();
    json!({
        "grafana_url": config.grafana_url,
        "tiles_url": config.tiles_url,
        "default_quantity": config.default_quantity.name(),
        "quantities": quantities,
        "catalogue": catalogue,
        "profiles": profiles,
        "live_quantities": with_data,
    })
}

/// A text as `{"fr": ..., "en": ...}`.
fn text(text: &Text) -> Value {
    json!({ "fr": text.fr, "en": text.en })
}

/// The built-in profiles as shipped, to tell a catalogued profile that is one of them.
static BUILTIN: std::sync::LazyLock<Vec<Profile>> = std::sync::LazyLock::new(|| {
    BUILTIN_PROFILES
        .iter()
        .filter_map(|(_, text)| Profile::parse(text).ok())
        .collect()
});

/// A profile of the catalogue as `/api/profiles` lists it.
pub fn profile_json(entry: &CataloguedProfile) -> Value {
    let profile = &entry.profile;
    let quantities: Vec<Value> = profile
        .quantities
        .iter()
        .map(|q| {
            let d = &q.def;
            json!({
                "name": d.name,
                "unit": d.unit.symbol,
                "unit_display": d.unit.display,
                "unit_name": { "fr": d.unit.name_fr, "en": d.unit.name_en },
                "label": text(&d.label),
                "description": d.description.as_ref().map(text),
                "min": d.min,
                "min_exclusive": d.min_exclusive,
                "max": d.max,
                "integer": d.integer,
                "required": q.required,
                "time": d.time.as_str(),
                "space": d.space.as_str(),
                "fiware": d.fiware,
            })
        })
        .collect();
    let mut out = json!({
        "name": profile.name,
        "version": profile.version,
        "title": text(&profile.title),
        "description": profile.description.as_ref().map(text),
        "quantities": quantities,
    });
    // Design: the catalogue does not record where a profile came from; one equal to a
    // built-in profile as shipped is that built-in profile. Others (a --profiles folder, a
    // live publication, a built-in one upgraded) say nothing rather than guess.
    if BUILTIN.contains(profile) {
        out["source"] = "built-in".into();
    }
    out
}

/// `GET /api/profiles`: every profile of the catalogue now, with its quantities.
pub async fn profiles() -> Response {
    let list: Vec<Value> = Quantity::with_catalogue(|c| c.profiles().map(profile_json).collect());
    body(JSON, Value::from(list).to_string())
}

/// `GET /api/profiles/{name}`: one profile, or 404 naming the known ones.
pub async fn profile(Path(name): Path<String>) -> Result<Response, ApiError> {
    let found = Quantity::with_catalogue(|c| c.profile(&name).map(profile_json));
    match found {
        Some(profile) => Ok(body(JSON, profile.to_string())),
        None => Err(ApiError::not_found(format!(
            "no profile \"{name}\": {}",
            known_profiles()
        ))),
    }
}

/// The hint for an unknown profile name: the catalogued ones, and how to add one.
fn known_profiles() -> String {
    let names: Vec<String> =
        Quantity::with_catalogue(|c| c.profiles().map(|p| p.profile.name.clone()).collect());
    format!(
        "the profiles are {} (GET /api/profiles); a new one is added with `garonne profile \
         publish FILE`",
        names.join(", ")
    )
}

/// A response of `body` as `content_type`.
fn body(content_type: &'static str, body: impl Into<Body>) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body.into()).into_response()
}

const JSON: &str = "application/json";
const GEOJSON: &str = "application/geo+json";

/// `GET /api/config`.
pub async fn config(State(app): State<Arc<App>>) -> Response {
    body(JSON, app.ui().to_string())
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
    let params = query_params(params)?;
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

/// `GET /api/readings`: raw samples of chosen sensors and quantities, a page at a time
/// (`crate::readings`).
pub async fn readings(
    State(app): State<Arc<App>>,
    params: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let request = readings::parse_readings(&query_params(params)?, now())?;
    let page = readings::page(app.history(), &request)
        .await
        .map_err(|e| store_error(&app, e, "readings are"))?;
    app.metrics()
        .history_queries
        .fetch_add(1, Ordering::Relaxed);
    Ok(body(
        JSON,
        readings::readings_answer(&request, &page).to_string(),
    ))
}

/// `GET /api/sessions`: a device's runs, no pause longer than the gap asked.
pub async fn sessions(
    State(app): State<Arc<App>>,
    params: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let query = readings::parse_sessions(&query_params(params)?, now())?;
    let sessions = readings::sessions(app.history(), &query)
        .await
        .map_err(|e| store_error(&app, e, "sessions are"))?;
    app.metrics()
        .history_queries
        .fetch_add(1, Ordering::Relaxed);
    Ok(body(
        JSON,
        readings::sessions_answer(&query, &sessions).to_string(),
    ))
}

/// A request's query string as name and value pairs.
pub(crate) fn query_params(
    params: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Vec<(String, String)>, ApiError> {
    params.map(|Query(params)| params).map_err(|e| {
        ApiError::bad_request(format!(
            "the query string cannot be read ({e}): encode it as a URL query"
        ))
    })
}

/// The API error of a store's answer: 400 for a request it cannot answer as asked, 503 (and a
/// history failure counted) when it does not answer.
fn store_error(app: &App, error: HistoryError, what: &str) -> ApiError {
    match error {
        HistoryError::Invalid(message) => ApiError::bad_request(message),
        HistoryError::Unavailable(message) => {
            app.metrics()
                .history_failures
                .fetch_add(1, Ordering::Relaxed);
            ApiError::unavailable(format!("{what} not available: {message}"))
        }
    }
}

/// `POST /api/validate[?profile=NAME]`: checks a payload (a reading, or a SenML pack when it
/// starts with `[`), against any catalogued quantity or under the profile named, and lists its
/// problems with their place, rule and hint (`hint`, and `hint_fr` in French): up to
/// [`Limits::max_violations`], then an entry and `more` that say how many more there were.
pub async fn validate(
    State(app): State<Arc<App>>,
    params: Result<Query<Vec<(String, String)>>, QueryRejection>,
    bytes: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let profile = validate_profile(params)?;
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
    Ok(body(
        JSON,
        verdict(&bytes, now(), profile.as_deref()).to_string(),
    ))
}

/// The profile `POST /api/validate` is asked to check under: none, or a catalogued one.
fn validate_profile(
    params: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Option<String>, ApiError> {
    let Query(params) = params.map_err(|e| {
        ApiError::bad_request(format!(
            "the query string cannot be read ({e}): give at most ?profile=NAME"
        ))
    })?;
    let mut profile = None;
    for (name, value) in params {
        match name.as_str() {
            "profile" if value.is_empty() => {}
            "profile" => profile = Some(value),
            _ => {
                return Err(ApiError::bad_request(format!(
                    "unknown parameter \"{name}\": the only one is profile (a profile name, or \
                     none for any catalogued quantity)"
                )));
            }
        }
    }
    match profile {
        Some(name) if Quantity::with_catalogue(|c| c.profile(&name).is_none()) => Err(
            ApiError::bad_request(format!("no profile \"{name}\": {}", known_profiles())),
        ),
        profile => Ok(profile),
    }
}

/// The answer of `POST /api/validate` for `bytes` checked at `now`, under `profile` if named
/// (a catalogued profile), else against any catalogued quantity.
pub fn verdict(bytes: &[u8], now: Timestamp, profile: Option<&str>) -> Value {
    let senml = bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[');
    let kind = if senml { "senml" } else { "reading" };
    let mut verdict = match parse_under(bytes, now, profile) {
        Ok(payload) => {
            let readings = match &payload {
                Payload::Reading(_) => 1,
                Payload::Senml(rs) => rs.len(),
            };
            json!({ "valid": true, "kind": kind, "readings": readings, "errors": [] })
        }
        Err(invalid) => json!({
            "valid": false,
            "kind": kind,
            "readings": 0,
            "errors": invalid.violations,
            "more": invalid.more,
        }),
    };
    if let Some(profile) = profile {
        verdict["profile"] = profile.into();
    }
    verdict
}

/// Parses and validates `bytes` at `now`, under `profile` if named.
fn parse_under(
    bytes: &[u8],
    now: Timestamp,
    profile: Option<&str>,
) -> Result<Payload, garonne_payload::Invalid> {
    match profile {
        Some(profile) => parse_payload_under(bytes, profile, now, &Limits::default()),
        None => parse_payload(bytes, now, &Limits::default()),
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
        let verdict = verdict(pack.as_bytes(), now(), None);
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
        verdict(reading.as_bytes(), now(), None)
    }
}

//! Every route through `Router` + `oneshot`: the live state fed as MQTT would feed it, history
//! from a real embedded store written through the historian's code, and the OpenAPI document
//! held to the routes.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use futures_util::StreamExt;
use garonne_payload::profile::BUILTIN_PROFILES;
use garonne_server::{App, Config, HistorySource, router};
use garonne_testkit::Metrics;
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use common::*;

const EAST: &str = "garonne/v1/neighbourhoods/east/aggregate";
const HEAT: &str = "garonne/v1/alerts/heat/neighbourhood-east";
const JSON: &str = "application/json";
const GEOJSON: &str = "application/geo+json";

/// An app on the squares, with history from `dir/history.sqlite` and the front-end in
/// `dir/dist` (absent unless a test writes it).
fn app_in(dir: &Path, shutdown: CancellationToken) -> Arc<App> {
    let config = Config {
        grafana_url: Some("/grafana".into()),
        static_dir: dir.join("dist"),
        events_buffer: 16,
        ..Config::default()
    };
    App::new(
        &config,
        &squares(),
        HistorySource::embedded(dir.join("history.sqlite")),
        shutdown,
    )
}

/// The app with live state: an aggregate of east, sensors s1 (reading) and pi-2 (status), a
/// raised alert; and history: four windows of east.
async fn fed_app(dir: &Path) -> Arc<App> {
    let t0 = ts("2025-11-24T10:00:00Z");
    let windows: Vec<(String, String)> = (0..4)
        .map(|i| {
            let start = t0.add_nanos(i * 900 * 1_000_000_000);
            (
                EAST.to_owned(),
                aggregate("east", start, 10.0 + i as f64, 5),
            )
        })
        .collect();
    write_history(
        &dir.join("history.sqlite"),
        &windows,
        ts("2025-11-24T12:00:00Z"),
    )
    .await;

    let app = app_in(dir, CancellationToken::new());
    let now = ts("2025-11-24T12:00:00Z");
    for (topic, payload) in [
        (EAST.to_owned(), windows[3].1.clone()),
        (
            "garonne/v1/sensors/s1/reading".to_owned(),
            reading("s1", ts("2025-11-24T11:59:00Z"), 12.5),
        ),
        (
            "garonne/v1/sensors/pi-2/status".to_owned(),
            status("pi-2", "online"),
        ),
        (HEAT.to_owned(), alert("raised")),
    ] {
        app.apply(&topic, payload.as_bytes(), now)
            .unwrap_or_else(|e| panic!("{topic}: {e:?}"));
    }
    app
}

/// A check of a response body.
type Check = fn(&str);

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

#[tokio::test]
async fn every_route_answers_as_the_contract_says() {
    let dir = tempfile::tempdir().expect("temp dir");
    let app = fed_app(dir.path()).await;
    let now = garonne_server::api::now();
    let valid = reading("s9", now.add_nanos(-60_000_000_000), 11.0);
    let out_of_range = reading("s9", now.add_nanos(-60_000_000_000), -50.0);
    let pack = format!(
        r#"[{{"bn":"s9:","bt":{},"n":"lat","u":"lat","v":0.5}},{{"n":"lon","u":"lon","v":0.5}},{{"n":"seq","v":1}},{{"n":"source","vs":"device"}},{{"n":"kind","vs":"esp32"}},{{"n":"temperature","u":"Cel","v":8}},{{"n":"temperature","u":"Cel","v":9,"t":10}}]"#,
        now.unix_secs() - 120
    );
    let history = "/api/history?neighbourhood=east&quantity=temperature&from=2025-11-24T10:00:00Z&to=2025-11-24T11:00:00Z&every=1800";

    // Refusals: the status, and `{"error": ...}` saying what to fix. First, so that the
    // `/metrics` case below sees them all.
    let huge = "x".repeat(2 << 20);
    let refusals: [(&str, &str, &str, u16, &str); 7] = [
        (
            "POST",
            "/api/validate",
            &huge,
            413,
            "SenML pack at most 262144",
        ),
        (
            "GET",
            "/api/history?neighbourhood=nord&quantity=temperature",
            "",
            404,
            "unknown neighbourhood id \"nord\"",
        ),
        (
            "GET",
            "/api/history?sensor=s1&quantity=humidity",
            "",
            400,
            "use one of temperature, relativeHumidity",
        ),
        (
            "GET",
            "/api/history?sensor=s1&quantity=temperature&from=hier",
            "",
            400,
            "2025-11-24T10:15:00Z",
        ),
        ("GET", "/api/nothing", "", 404, "/api/openapi.json"),
        ("DELETE", "/api/config", "", 405, "DELETE is not allowed"),
        (
            "GET",
            "/events?kinds=aggregates",
            "",
            400,
            "aggregate, status, alert, reading, rolling",
        ),
    ];
    for (method, uri, body, status, fix) in refusals {
        let text = answer(&app, method, uri, body, status, JSON).await;
        assert!(
            json(&text)["error"]
                .as_str()
                .is_some_and(|e| e.contains(fix)),
            "{method} {uri}: {text}"
        );
    }

    let cases: Vec<(&str, &str, &str, u16, &str, Check)> = vec![
        ("GET", "/api/config", "", 200, JSON, |b| {
            let v = json(b);
            assert_eq!(v["grafana_url"], "/grafana");
            assert_eq!(v["tiles_url"], Value::Null);
            assert_eq!(v["default_quantity"], "temperature");
            assert_eq!(v["quantities"].as_array().map(Vec::len), Some(10));
            assert_eq!(
                v["quantities"][0],
                serde_json::json!({"name": "temperature", "unit": "°C", "label": {"fr": "Température", "en": "Temperature"}})
            );
        }),
        ("GET", "/api/neighbourhoods", "", 200, GEOJSON, |b| {
            let v = json(b);
            let features = v["features"].as_array().expect("features");
            assert_eq!(features.len(), 2);
            assert_eq!(features[0]["id"], "west");
            assert_eq!(features[0]["properties"]["aggregate"], Value::Null);
            assert_eq!(features[1]["properties"]["name"], "Est");
            assert_eq!(
                features[1]["properties"]["aggregate"]["quantities"]["temperature"]["mean"],
                13.0
            );
        }),
        ("GET", "/api/sensors", "", 200, GEOJSON, |b| {
            let v = json(b);
            let features = v["features"].as_array().expect("features");
            let ids: Vec<&Value> = features
                .iter()
                .map(|f| &f["properties"]["sensor_id"])
                .collect();
            assert_eq!(ids, ["pi-2", "s1"]);
            assert_eq!(features[0]["properties"]["state"], "online");
            assert_eq!(features[0]["properties"]["source"], "raspberry-pi");
            assert_eq!(features[1]["properties"]["state"], "unknown");
            assert_eq!(
                features[1]["properties"]["reading"]["quantities"]["temperature"],
                12.5
            );
            assert_eq!(
                features[1]["geometry"]["coordinates"],
                serde_json::json!([1.5, 0.5])
            );
        }),
        ("GET", "/api/alerts", "", 200, JSON, |b| {
            let v = json(b);
            assert_eq!(v.as_array().map(Vec::len), Some(1));
            assert_eq!(v[0]["rule"], "heat");
            assert_eq!(v[0]["state"], "raised");
        }),
        (
            "GET",
            "/api/schema",
            "",
            200,
            "application/schema+json",
            |b| {
                assert_eq!(json(b)["$id"], "urn:garonne:payload:v1");
            },
        ),
        ("GET", "/api/openapi.json", "", 200, JSON, |b| {
            assert_eq!(json(b)["openapi"], "3.1.0");
        }),
        ("POST", "/api/validate", &valid, 200, JSON, |b| {
            assert_eq!(
                json(b),
                serde_json::json!({"valid": true, "kind": "reading", "readings": 1, "errors": []})
            );
        }),
        ("POST", "/api/validate", &out_of_range, 200, JSON, |b| {
            let v = json(b);
            assert_eq!(v["valid"], false);
            assert_eq!(v["readings"], 0);
            assert_eq!(v["errors"][0]["pointer"], "/quantities/temperature");
            assert_eq!(v["errors"][0]["rule"], "range");
            assert!(
                v["errors"][0]["hint"]
                    .as_str()
                    .is_some_and(|h| !h.is_empty())
            );
            // The hint in French too, for the validator page's French.
            let hint_fr = v["errors"][0]["hint_fr"].as_str().unwrap_or_default();
            assert!(
                !hint_fr.is_empty() && hint_fr != v["errors"][0]["hint"],
                "{v}"
            );
        }),
        ("POST", "/api/validate", &pack, 200, JSON, |b| {
            let v = json(b);
            assert_eq!(
                (&v["valid"], &v["kind"], &v["readings"]),
                (&Value::Bool(true), &Value::from("senml"), &Value::from(2)),
                "{v}"
            );
        }),
        ("POST", "/api/validate", "{", 200, JSON, |b| {
            let v = json(b);
            assert_eq!(v["errors"][0]["rule"], "json-syntax");
        }),
        ("GET", history, "", 200, JSON, |b| {
            let v = json(b);
            assert_eq!(
                v["subject"],
                serde_json::json!({"kind": "neighbourhood", "id": "east"})
            );
            assert_eq!(v["every_secs"], 1800);
            // Windows at 10:00, 10:15 (means 10, 11) and 10:30, 10:45 (means 12, 13).
            assert_eq!(
                v["buckets"],
                serde_json::json!([
                    {"start": "2025-11-24T10:00:00Z", "mean": 10.5, "min": 9.0, "max": 12.0, "count": 10},
                    {"start": "2025-11-24T10:30:00Z", "mean": 12.5, "min": 11.0, "max": 14.0, "count": 10},
                ])
            );
        }),
        ("GET", "/", "", 200, "text/html", |b| {
            assert!(b.contains("<html lang=\"fr\">"), "{b}");
            assert!(b.contains("L’interface n’est pas construite"), "{b}");
            assert!(
                b.contains("cd frontend &amp;&amp; npm ci &amp;&amp; npm run build"),
                "{b}"
            );
            assert!(
                !b.contains("/static/app.js"),
                "no script while not built: {b}"
            );
        }),
        ("GET", "/?lang=en", "", 200, "text/html", |b| {
            assert!(
                b.contains("<html lang=\"en\">") && b.contains("The interface is not built"),
                "{b}"
            );
        }),
        ("GET", "/validate", "", 200, "text/html", |b| {
            assert!(
                b.contains("data-page=\"validate\"") && b.contains("validateur de payload"),
                "{b}"
            );
        }),
        ("GET", "/static/app.js", "", 404, "", |_| {}),
        ("GET", "/healthz", "", 200, "", |b| assert_eq!(b, "ok\n")),
        ("GET", "/readyz", "", 503, "", |_| {}),
        ("GET", "/metrics", "", 200, "text/plain", |b| {
            let metrics = Metrics::parse(b);
            for (sample, value) in [
                ("garonne_server_messages_total{kind=\"aggregate\"}", 1.0),
                ("garonne_server_sensors", 2.0),
                ("garonne_server_alerts_active", 1.0),
                ("garonne_server_history_queries_total", 1.0),
            ] {
                assert_eq!(metrics.get(sample), Some(value), "{sample} in {b}");
            }
        }),
    ];
    for (method, uri, body, status, content_type, check) in cases {
        check(&answer(&app, method, uri, body, status, content_type).await);
    }
}

/// The body of the answer to `method uri` with `body`, once its status and content type are
/// checked.
async fn answer(
    app: &Arc<App>,
    method: &str,
    uri: &str,
    body: &str,
    status: u16,
    content_type: &str,
) -> String {
    let (got, headers, text) = call(app, method, uri, body.to_owned()).await;
    let shown: String = text.chars().take(300).collect();
    assert_eq!(got.as_u16(), status, "{method} {uri}: {shown}");
    let got_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert!(
        got_type.starts_with(content_type),
        "{method} {uri}: content type {got_type}"
    );
    text
}

/// `method uri` with `body` through the router.
async fn send(app: &Arc<App>, method: &str, uri: &str, body: impl Into<Body>) -> Response {
    router(Arc::clone(app))
        .oneshot(request(method, uri, body))
        .await
        .expect("response")
}

/// `method uri` with `body` through the router: the status, headers and body text.
async fn call(
    app: &Arc<App>,
    method: &str,
    uri: &str,
    body: impl Into<Body>,
) -> (StatusCode, HeaderMap, String) {
    read(send(app, method, uri, body).await).await
}

#[tokio::test]
async fn history_says_so_when_the_historian_has_not_created_the_store_yet() {
    let dir = tempfile::tempdir().expect("temp dir");
    let app = app_in(dir.path(), CancellationToken::new());
    let uri = "/api/history?sensor=s1&quantity=temperature";
    let (status, _, body) = call(&app, "GET", uri, "").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        body.contains("no embedded store at") && body.contains("start it first"),
        "{body}"
    );

    // Once the historian has written it, the same server answers.
    write_history(
        &dir.path().join("history.sqlite"),
        &[(
            "garonne/v1/sensors/s1/reading".into(),
            reading(
                "s1",
                garonne_server::api::now().add_nanos(-3_600_000_000_000),
                9.0,
            ),
        )],
        garonne_server::api::now(),
    )
    .await;
    let (status, _, body) = call(&app, "GET", uri, "").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let v = json(&body);
    assert_eq!(v["buckets"].as_array().map(Vec::len), Some(1), "{v}");
    assert_eq!(v["buckets"][0]["mean"], 9.0);
}

#[tokio::test]
async fn pages_load_the_bundle_once_built_and_embed_the_config() {
    let dir = tempfile::tempdir().expect("temp dir");
    let dist = dir.path().join("dist");
    std::fs::create_dir_all(&dist).expect("dist");
    for file in ["app.js", "app.css", "validate.js", "validate.css"] {
        std::fs::write(dist.join(file), format!("/* {file} */")).expect("write");
    }
    let app = app_in(dir.path(), CancellationToken::new());
    let page = |uri: &'static str, accept: &'static str| {
        let app = Arc::clone(&app);
        async move {
            let request = axum::http::Request::get(uri)
                .header("accept-language", accept)
                .body(axum::body::Body::empty())
                .expect("request");
            read(router(app).oneshot(request).await.expect("response")).await
        }
    };
    let (status, headers, html) = page("/", "en-GB,en;q=0.9,fr;q=0.8").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-language"], "en");
    assert!(
        html.contains(r#"<script src="/static/app.js" defer></script>"#),
        "{html}"
    );
    assert!(
        html.contains(r#"<link rel="stylesheet" href="/static/app.css">"#),
        "{html}"
    );
    assert!(html.contains(r#"<div id="garonne-app"></div>"#), "{html}");
    assert!(!html.contains("not built"), "{html}");
    let start = html.find(r#"id="garonne-config">"#).expect("config block") + 20;
    let end = start + html[start..].find("</script>").expect("end of block");
    let config = json(&html[start..end]);
    assert_eq!(config["lang"], "en");
    assert_eq!(config["page"], "map");
    assert_eq!(config["grafana_url"], "/grafana");
    assert_eq!(config["quantities"].as_array().map(Vec::len), Some(10));

    let (_, _, html) = page("/validate?lang=fr", "en").await;
    assert!(
        html.contains(r#"<script src="/static/validate.js" defer></script>"#),
        "{html}"
    );
    assert!(html.contains(r#"href="/static/validate.css""#), "{html}");
    assert!(html.contains("<html lang=\"fr\">"), "{html}");

    let (status, headers, body) = page("/static/validate.js", "").await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::OK, "/* validate.js */")
    );
    assert!(
        headers["content-type"]
            .to_str()
            .is_ok_and(|t| t.contains("javascript"))
    );
}

#[tokio::test]
async fn the_openapi_document_describes_every_route_and_only_those() {
    let dir = tempfile::tempdir().expect("temp dir");
    let dist = dir.path().join("dist");
    std::fs::create_dir_all(&dist).expect("dist");
    std::fs::write(dist.join("app.js"), "").expect("write");
    let app = fed_app(dir.path()).await;
    let doc = json(garonne_server::api::OPENAPI);
    assert_eq!(doc["openapi"], "3.1.0");
    let mut described = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            described.insert((method.clone(), path.clone()));
        }
    }
    let routes: BTreeSet<(String, String)> = garonne_server::app::ROUTES
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    assert_eq!(
        described, routes,
        "the OpenAPI paths and the router's routes differ"
    );

    // Every $ref points at a component that exists.
    let text = garonne_server::api::OPENAPI;
    for piece in text.split("\"$ref\": \"#/components/").skip(1) {
        let reference = &piece[..piece.find('"').expect("end of ref")];
        let mut node = &doc["components"];
        for part in reference.split('/') {
            node = &node[part];
        }
        assert!(!node.is_null(), "dangling $ref #/components/{reference}");
    }

    // And every described route answers (not 404 or 405) on the router.
    for (method, path) in routes {
        let uri = match path.as_str() {
            "/static/{path}" => "/static/app.js".to_owned(),
            "/api/history" => "/api/history?neighbourhood=east&quantity=temperature".to_owned(),
            "/api/profiles/{name}" => "/api/profiles/weather".to_owned(),
            _ => path.clone(),
        };
        // The body is not read: an event stream would not end.
        let status = send(&app, &method.to_uppercase(), &uri, "{}")
            .await
            .status();
        assert!(
            status != StatusCode::NOT_FOUND && status != StatusCode::METHOD_NOT_ALLOWED,
            "{method} {uri}: {status}"
        );
    }
}

/// The items of `POST /api/validate`'s `errors` have exactly the properties the OpenAPI
/// `Violation` schema lists, all of them required (the French hint among them).
#[test]
fn the_verdict_items_are_what_the_openapi_violation_schema_says() {
    let doc = json(garonne_server::api::OPENAPI);
    let keys = |object: &Value| -> BTreeSet<String> {
        object
            .as_object()
            .expect("an object")
            .keys()
            .cloned()
            .collect()
    };
    let schema = &doc["components"]["schemas"]["Violation"];
    let properties = keys(&schema["properties"]);
    let required: BTreeSet<String> = schema["required"]
        .as_array()
        .expect("required")
        .iter()
        .filter_map(|name| Some(name.as_str()?.to_owned()))
        .collect();
    assert_eq!(
        properties, required,
        "every property of a violation is always there"
    );
    let now = garonne_payload::Timestamp::parse("2025-11-24T12:00:00Z").expect("time");
    let verdict = garonne_server::api::verdict(b"{}", now, None);
    for item in verdict["errors"].as_array().expect("errors") {
        assert_eq!(keys(item), properties, "{item}");
        assert!(
            item["hint_fr"].as_str().is_some_and(|h| !h.is_empty()),
            "{item}"
        );
    }
}

#[tokio::test]
async fn profiles_list_the_built_in_six_with_their_quantities_and_one_by_name() {
    let dir = tempfile::tempdir().expect("temp dir");
    let app = app_in(dir.path(), CancellationToken::new());
    let list = json(&answer(&app, "GET", "/api/profiles", "", 200, JSON).await);
    let list = list.as_array().expect("an array");
    let names: Vec<&str> = list.iter().filter_map(|p| p["name"].as_str()).collect();
    let builtin: Vec<&str> = BUILTIN_PROFILES.iter().map(|(name, _)| *name).collect();
    assert_eq!(
        names[..6],
        builtin[..],
        "the built-in profiles first, in catalogue order"
    );
    for profile in &list[..6] {
        assert_eq!(profile["source"], "built-in", "{}", profile["name"]);
        assert_eq!(profile["version"], 1, "{}", profile["name"]);
        assert!(
            profile["title"]["fr"]
                .as_str()
                .is_some_and(|t| !t.is_empty())
                && profile["title"]["en"]
                    .as_str()
                    .is_some_and(|t| !t.is_empty()),
            "{profile}"
        );
        assert!(
            profile["quantities"]
                .as_array()
                .is_some_and(|q| !q.is_empty()),
            "{profile}"
        );
    }
    let weather = &list[0];
    let weather_names: Vec<&str> = weather["quantities"]
        .as_array()
        .expect("quantities")
        .iter()
        .filter_map(|q| q["name"].as_str())
        .collect();
    assert_eq!(
        weather_names,
        [
            "temperature",
            "relativeHumidity",
            "atmosphericPressure",
            "precipitation",
            "windSpeed",
            "gustSpeed",
            "windDirection",
            "illuminance",
            "streamGauge",
            "motion"
        ]
    );
    let temperature = &weather["quantities"][0];
    for (field, want) in [
        ("unit", serde_json::json!("Cel")),
        ("unit_display", serde_json::json!("°C")),
        (
            "label",
            serde_json::json!({"fr": "Température", "en": "Temperature"}),
        ),
        ("min", serde_json::json!(-40.0)),
        ("max", serde_json::json!(60.0)),
        ("integer", serde_json::json!(false)),
        ("time", serde_json::json!("mean")),
        ("space", serde_json::json!("mean")),
    ] {
        assert_eq!(temperature[field], want, "temperature's {field}");
    }
    for field in [
        "required",
        "fiware",
        "description",
        "unit_name",
        "min_exclusive",
    ] {
        assert!(temperature.get(field).is_some(), "temperature has {field}");
    }

    // One by name: the same object as in the list.
    let bikes = json(&answer(&app, "GET", "/api/profiles/bikes", "", 200, JSON).await);
    assert_eq!(&bikes, &list[3]);
    let bikes_count = &bikes["quantities"][0];
    assert_eq!(bikes_count["name"], "availableBikeNumber");
    assert_eq!(
        (
            &bikes_count["space"],
            &bikes_count["time"],
            &bikes_count["integer"],
            &bikes_count["required"]
        ),
        (
            &Value::from("sum"),
            &Value::from("last"),
            &Value::Bool(true),
            &Value::Bool(true)
        )
    );
    assert_eq!(bikes_count["fiware"], "availableBikeNumber");

    // An unknown one: 404, the API's error shape, naming the known profiles.
    let missing = json(&answer(&app, "GET", "/api/profiles/nope", "", 404, JSON).await);
    let error = missing["error"].as_str().expect("an error message");
    assert!(
        error.contains("\"nope\"") && error.contains("weather, air-quality, noise"),
        "{error}"
    );
}

/// The entry of `name` in a `/api/config` object's catalogue.
fn catalogued<'a>(config: &'a Value, name: &str) -> &'a Value {
    config["catalogue"]
        .as_array()
        .expect("catalogue")
        .iter()
        .find(|q| q["name"] == name)
        .unwrap_or_else(|| panic!("{name} in the catalogue"))
}

#[tokio::test]
async fn the_config_lists_the_catalogue_as_it_grows_and_the_quantities_with_live_data() {
    let dir = tempfile::tempdir().expect("temp dir");
    let app = fed_app(dir.path()).await;
    let config = || async { json(&answer(&app, "GET", "/api/config", "", 200, JSON).await) };
    let names = |v: &Value, field: &str| -> Vec<String> {
        v[field]
            .as_array()
            .expect(field)
            .iter()
            .map(|q| {
                q.get("name")
                    .unwrap_or(q)
                    .as_str()
                    .expect("a name")
                    .to_owned()
            })
            .collect()
    };
    let before = config().await;
    assert_eq!(names(&before, "live_quantities"), ["temperature"]);
    let catalogue = names(&before, "catalogue");
    assert_eq!(catalogue[..10], names(&before, "quantities")[..]);
    assert!(catalogue.iter().any(|n| n == "pm25") && catalogue.iter().any(|n| n == "LAeq"));
    let pm25 = catalogued(&before, "pm25");
    assert_eq!(pm25["profile"], "air-quality");
    assert!(
        pm25["unit"].as_str().is_some_and(|u| !u.is_empty()),
        "{pm25}"
    );
    assert!(pm25["min"].is_number() && pm25["max"].is_number(), "{pm25}");
    assert!(
        names(&before, "profiles").starts_with(&["weather".to_owned(), "air-quality".to_owned()])
    );

    // A profile registered while the server runs (as one published live is): listed at once.
    let profile = garonne_payload::profile::Profile::parse(
        "name = \"api-test-tide\"\nversion = 1\n\
         title = { en = \"Tide gauge\", fr = \"Marégraphe\" }\n\
         [[quantity]]\nname = \"apiTestTide\"\nunit = \"m\"\n\
         label = { en = \"Tide\", fr = \"Marée\" }\nmin = -5\nmax = 15\n",
    )
    .expect("the test profile parses");
    garonne_payload::Quantity::register(profile).expect("registered");
    let grown = config().await;
    let tide = catalogued(&grown, "apiTestTide");
    assert_eq!(
        (&tide["label"]["fr"], &tide["unit"], &tide["profile"]),
        (
            &Value::from("Marée"),
            &Value::from("m"),
            &Value::from("api-test-tide")
        )
    );
    let listed = json(&answer(&app, "GET", "/api/profiles/api-test-tide", "", 200, JSON).await);
    assert!(listed.get("source").is_none(), "not a built-in: {listed}");

    // Its first aggregate gives it live data; the page's embedded config says so too.
    let aggregate = aggregate("east", ts("2025-11-24T11:45:00Z"), 3.0, 2)
        .replace("\"temperature\"", "\"apiTestTide\"");
    app.apply(EAST, aggregate.as_bytes(), ts("2025-11-24T12:00:00Z"))
        .expect("an aggregate of the new quantity");
    let live = names(&config().await, "live_quantities");
    assert_eq!(
        live,
        ["temperature", "apiTestTide"],
        "s1's reading keeps temperature"
    );
    let page = answer(&app, "GET", "/", "", 200, "text/html").await;
    assert!(
        page.contains("\"live_quantities\":[\"temperature\",\"apiTestTide\"]"),
        "{page}"
    );
}

#[tokio::test]
async fn the_validator_checks_under_a_named_profile_and_refuses_an_unknown_one() {
    let dir = tempfile::tempdir().expect("temp dir");
    let app = app_in(dir.path(), CancellationToken::new());
    let now = garonne_server::api::now();
    let valid = reading("s9", now.add_nanos(-60_000_000_000), 11.0);
    let v = json(
        &answer(
            &app,
            "POST",
            "/api/validate?profile=weather",
            &valid,
            200,
            JSON,
        )
        .await,
    );
    assert_eq!(
        (&v["valid"], &v["profile"]),
        (&Value::Bool(true), &Value::from("weather")),
        "{v}"
    );
    // The same weather reading under air-quality: its quantity is not in that profile, and the
    // profile's required ones are missing.
    let v = json(
        &answer(
            &app,
            "POST",
            "/api/validate?profile=air-quality",
            &valid,
            200,
            JSON,
        )
        .await,
    );
    assert_eq!(v["valid"], false, "{v}");
    assert_eq!(v["profile"], "air-quality");
    let rules: Vec<&str> = v["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["rule"].as_str())
        .collect();
    assert!(
        rules.contains(&"quantity-not-in-profile") && rules.contains(&"missing-required-quantity"),
        "{v}"
    );
    let v = json(&answer(&app, "POST", "/api/validate?profile=", &valid, 200, JSON).await);
    assert_eq!(
        v["valid"], true,
        "an empty profile is any catalogued quantity: {v}"
    );
    assert!(v.get("profile").is_none(), "{v}");
    for (uri, fix) in [
        (
            "/api/validate?profile=nope",
            "the profiles are weather, air-quality",
        ),
        ("/api/validate?strict=1", "the only one is profile"),
    ] {
        let text = answer(&app, "POST", uri, &valid, 400, JSON).await;
        assert!(
            json(&text)["error"]
                .as_str()
                .is_some_and(|e| e.contains(fix)),
            "{uri}: {text}"
        );
    }
}

/// The next SSE frame of `stream` as text, within 5 s.
async fn next_frame(stream: &mut axum::body::BodyDataStream) -> Option<String> {
    tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .expect("an event within 5 s")
        .map(|chunk| String::from_utf8_lossy(&chunk.expect("chunk")).into_owned())
}

#[tokio::test]
async fn events_stream_the_wanted_kinds_as_published_skip_for_laggards_and_end_at_shutdown() {
    let dir = tempfile::tempdir().expect("temp dir");
    let shutdown = CancellationToken::new();
    let app = app_in(dir.path(), shutdown.clone());
    let now = ts("2025-11-24T12:00:00Z");
    let response = send(&app, "GET", "/events?kinds=aggregate,alert", "").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    assert_eq!(response.headers()["x-accel-buffering"], "no");
    let mut stream = response.into_body().into_data_stream();

    // A reading is not wanted; an aggregate is, and comes as published.
    let agg = aggregate("east", ts("2025-11-24T11:45:00Z"), 10.0, 4);
    app.apply(
        "garonne/v1/sensors/s1/reading",
        reading("s1", ts("2025-11-24T11:59:00Z"), 9.0).as_bytes(),
        now,
    )
    .expect("reading");
    app.apply(EAST, agg.as_bytes(), now).expect("aggregate");
    assert_eq!(
        next_frame(&mut stream).await,
        Some(format!("event: aggregate\ndata: {agg}\n\n"))
    );

    // 40 alerts while the client reads nothing: with a buffer of 16 it skips the oldest.
    for i in 0..40 {
        let payload = alert(if i % 2 == 0 { "raised" } else { "cleared" });
        app.apply(HEAT, payload.as_bytes(), now).expect("alert");
    }
    let mut received = 0;
    while received < 16 {
        let frame = next_frame(&mut stream).await.expect("a frame");
        assert!(frame.starts_with("event: alert\ndata: {"), "{frame}");
        received += 1;
    }
    let metrics = app.metrics_text();
    assert!(
        metrics.contains("garonne_server_events_dropped_total 24"),
        "{metrics}"
    );
    assert!(
        metrics.contains("garonne_server_event_clients 1"),
        "{metrics}"
    );

    shutdown.cancel();
    assert_eq!(
        next_frame(&mut stream).await,
        None,
        "the stream ends at shutdown"
    );
    drop(stream);
    assert!(
        app.metrics_text()
            .contains("garonne_server_event_clients 0")
    );
}

#[tokio::test]
async fn event_clients_past_the_limit_are_refused_with_a_reason() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = Config {
        max_event_clients: 1,
        ..Config::default()
    };
    let app = App::new(
        &config,
        &squares(),
        HistorySource::embedded(dir.path().join("h.sqlite")),
        CancellationToken::new(),
    );
    let first = send(&app, "GET", "/events", "").await;
    assert_eq!(first.status(), StatusCode::OK);
    let (status, _, body) = call(&app, "GET", "/events", "").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body.contains("try again later"), "{body}");
    drop(first);
    let again = send(&app, "GET", "/events", "").await;
    assert_eq!(
        again.status(),
        StatusCode::OK,
        "the slot is free once the first client left"
    );
}

#[tokio::test]
async fn geojson_bodies_are_gzipped_once_and_revalidated_by_etag() {
    let dir = tempfile::tempdir().expect("temp dir");
    let app = fed_app(dir.path()).await;
    let get = |headers: Vec<(&'static str, String)>| {
        let app = Arc::clone(&app);
        async move {
            let mut request = axum::http::Request::get("/api/neighbourhoods");
            for (name, value) in headers {
                request = request.header(name, value);
            }
            let response = router(app)
                .oneshot(request.body(axum::body::Body::empty()).expect("request"))
                .await
                .expect("response");
            let status = response.status();
            let headers = response.headers().clone();
            let body = axum::body::to_bytes(response.into_body(), 64 << 20)
                .await
                .expect("body");
            (status, headers, body)
        }
    };
    let (status, plain_headers, plain) = get(vec![]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(plain_headers.get("content-encoding").is_none());
    let etag = plain_headers["etag"].to_str().expect("etag").to_owned();

    let (status, headers, gzipped) = get(vec![("accept-encoding", "gzip, br".into())]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-encoding"], "gzip");
    assert_eq!(headers["vary"], "accept-encoding");
    let mut unzipped = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::GzDecoder::new(&gzipped[..]),
        &mut unzipped,
    )
    .expect("gzip");
    assert_eq!(unzipped, plain, "the same body, compressed");
    assert!(gzipped.len() < plain.len());

    let (status, _, body) = get(vec![("if-none-match", etag.clone())]).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    assert!(body.is_empty());

    // A new aggregate is a new generation: the old ETag no longer matches.
    app.apply(
        EAST,
        aggregate("east", ts("2025-11-24T11:00:00Z"), 20.0, 3).as_bytes(),
        ts("2025-11-24T12:00:00Z"),
    )
    .expect("aggregate");
    let (status, headers, body) = get(vec![("if-none-match", etag.clone())]).await;
    assert_eq!(status, StatusCode::OK);
    assert_ne!(headers["etag"].to_str().expect("etag"), etag);
    assert!(String::from_utf8_lossy(&body).contains("\"mean\":20"));
}

/// Every position of a GeoJSON geometry's coordinates, flattened.
fn positions(coordinates: &Value, out: &mut Vec<(f64, f64)>) {
    match coordinates.as_array() {
        Some(items) if items.first().is_some_and(Value::is_number) => out.push((
            items[0].as_f64().expect("lon"),
            items[1].as_f64().expect("lat"),
        )),
        Some(items) => items.iter().for_each(|c| positions(c, out)),
        None => {}
    }
}

#[tokio::test]
async fn the_toulouse_quartiers_come_out_with_every_polygon_and_position() {
    let path = garonne_testkit::open_data_file("quartiers-de-democratie-locale.geojson");
    let source = json(&std::fs::read_to_string(&path).expect("the Toulouse open data"));
    let areas = garonne_neighbourhoods::Neighbourhoods::load(
        &path,
        &garonne_neighbourhoods::Properties::detect(),
    )
    .expect("polygons load");
    let dir = tempfile::tempdir().expect("temp dir");
    let app = App::new(
        &Config::default(),
        &areas,
        HistorySource::embedded(dir.path().join("h.sqlite")),
        CancellationToken::new(),
    );
    let (status, _, body) = call(&app, "GET", "/api/neighbourhoods", "").await;
    assert_eq!(status, StatusCode::OK);
    let served = json(&body);
    let (source, served) = (
        source["features"].as_array().expect("features"),
        served["features"].as_array().expect("features"),
    );
    assert_eq!(served.len(), 20);
    assert_eq!(served.len(), source.len());
    for (want, got) in source.iter().zip(served) {
        let id = want["properties"]["quartier"].to_string();
        assert_eq!(got["id"].as_str(), Some(id.trim_matches('"')), "file order");
        assert_eq!(
            got["properties"]["name"],
            want["properties"]["nom_quartier"]
        );
        let (mut a, mut b) = (Vec::new(), Vec::new());
        positions(&want["geometry"]["coordinates"], &mut a);
        positions(&got["geometry"]["coordinates"], &mut b);
        assert_eq!(a, b, "quartier {id}: every position, exactly");
    }
}

/// A car's points for the embedded store: speed and rpm at 100 Hz for 1 s from `start` (odd
/// nanoseconds), then one speed 90 s later (a second session at the default gap).
fn car_points(start: i64) -> Vec<garonne_store::point::Point> {
    use garonne_store::point::{Field, Point};
    let point = |time_ns: i64, values: Vec<(&'static str, f64)>| Point {
        measurement: "reading",
        tags: vec![("sensor", "car-1".to_owned()), ("source", "can".to_owned())],
        fields: values
            .into_iter()
            .map(|(q, v)| (q, Field::Float(v)))
            .collect(),
        time_ns,
    };
    let mut points: Vec<Point> = (0..100)
        .map(|i| {
            point(
                start + i * 10_000_000,
                vec![("speed", i as f64), ("rpm", 1000.0 + i as f64)],
            )
        })
        .collect();
    points.push(point(start + 91_000_000_000, vec![("speed", 7.5)]));
    points
}

#[tokio::test]
async fn readings_come_back_page_by_page_and_sessions_per_device() {
    use garonne_store::store::Store;
    let dir = tempfile::tempdir().expect("temp dir");
    let app = app_in(dir.path(), CancellationToken::new());
    // Before the historian created the store: 503, saying so.
    let (status, _, body) = call(&app, "GET", "/api/sessions?sensor=car-1", "").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(
        body.contains("sessions are not available: no embedded store at"),
        "{body}"
    );

    let start = ts("2025-11-24T10:00:00Z").unix_nanos() as i64 + 7;
    let mut store = garonne_store::embedded::EmbeddedStore::open(
        dir.path().join("history.sqlite"),
        garonne_store::embedded::Retention::default(),
    )
    .await
    .expect("store");
    store.write(&car_points(start)).await.expect("write");

    // Every sample of the first second, 64 at a time, by following `next`.
    let mut uri = "/api/readings?sensor=car-1&sensor=nobody&from=2025-11-24T10:00:00.000000007Z&to=2025-11-24T10:00:01Z&limit=64".to_owned();
    let mut series: Vec<(String, Vec<f64>, Vec<f64>)> = Vec::new();
    let mut pages = 0;
    loop {
        let v = json(&answer(&app, "GET", &uri, "", 200, JSON).await);
        pages += 1;
        assert!(v["count"].as_u64().is_some_and(|n| n <= 64), "{v}");
        for s in v["series"].as_array().expect("series") {
            let q = s["quantity"].as_str().expect("quantity").to_owned();
            let (t, values) = (s["t"].as_array().expect("t"), s["v"].as_array().expect("v"));
            assert_eq!(s["sensor"], "car-1");
            assert_eq!(t.len(), values.len());
            let at = match series.iter().position(|(name, _, _)| *name == q) {
                Some(at) => at,
                None => {
                    series.push((q, Vec::new(), Vec::new()));
                    series.len() - 1
                }
            };
            series[at].1.extend(t.iter().filter_map(Value::as_f64));
            series[at].2.extend(values.iter().filter_map(Value::as_f64));
        }
        match v["next"].as_str() {
            Some(next) => {
                uri = format!(
                    "/api/readings?sensor=car-1&from=2025-11-24T10:00:00.000000007Z&to=2025-11-24T10:00:01Z&limit=64&after={next}"
                )
            }
            None => break,
        }
    }
    assert_eq!(pages, 4, "200 samples, 64 a page");
    series.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(series.len(), 2);
    let (rpm, speed) = (&series[0], &series[1]);
    assert_eq!((rpm.0.as_str(), speed.0.as_str()), ("rpm", "speed"));
    assert_eq!(speed.2, (0..100).map(f64::from).collect::<Vec<_>>());
    assert_eq!(
        rpm.2,
        (0..100).map(|i| 1000.0 + f64::from(i)).collect::<Vec<_>>()
    );
    let first = start as f64 / 1e9;
    assert!((speed.1[0] - first).abs() < 1e-6 && (speed.1[99] - first - 0.99).abs() < 1e-6);

    // One quantity, from the store's first nanosecond on; the one before it is out.
    let v = json(&answer(&app, "GET", "/api/readings?sensor=car-1&quantity=rpm&from=2025-11-24T10:00:00.000000008Z&to=2025-11-24T10:02:00Z", "", 200, JSON).await);
    assert_eq!(v["count"], 99, "{v}");
    assert_eq!(v["next"], Value::Null);

    // Two sessions at the default gap of 60 s, one at 100 s.
    let sessions = "/api/sessions?sensor=car-1&from=2025-11-24T09:00:00Z&to=2025-11-24T11:00:00Z";
    let v = json(&answer(&app, "GET", sessions, "", 200, JSON).await);
    assert_eq!(v["gap_secs"], 60);
    let list = v["sessions"].as_array().expect("sessions");
    assert_eq!(list.len(), 2, "{v}");
    assert_eq!(list[0]["start"], "2025-11-24T10:00:00.000000007Z");
    assert_eq!(list[0]["end"], "2025-11-24T10:00:00.990000007Z");
    assert_eq!(list[0]["until"], "2025-11-24T10:00:00.990000008Z");
    assert_eq!(list[0]["samples"], 200);
    assert_eq!(list[0]["quantities"], serde_json::json!(["rpm", "speed"]));
    assert_eq!(list[0]["id"], format!("car-1@{start}"));
    assert_eq!(list[1]["samples"], 1);
    let v = json(&answer(&app, "GET", &format!("{sessions}&gap=100"), "", 200, JSON).await);
    assert_eq!(v["sessions"].as_array().map(Vec::len), Some(1), "{v}");

    // Mistakes: 400 with what to fix.
    for (uri, fix) in [
        ("/api/readings?quantity=speed", "give sensor=ID"),
        ("/api/readings?sensor=car-1&limit=0", "from 1 to 100000"),
        ("/api/readings?sensor=car-1&after=nope", "is not a cursor"),
        ("/api/sessions?sensor=car-1&gap=0", "1 or more"),
        (
            "/api/sessions?sensor=car-1&gap=1&from=2025-01-01T00:00:00Z&to=2025-11-24T00:00:00Z",
            "ask for a gap of",
        ),
    ] {
        let body = answer(&app, "GET", uri, "", 400, JSON).await;
        assert!(
            json(&body)["error"]
                .as_str()
                .is_some_and(|e| e.contains(fix)),
            "{uri}: {body}"
        );
    }
}

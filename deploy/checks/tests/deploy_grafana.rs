//! Grafana's provisioning in the docker compose deployment (deploy/grafana), tested without
//! Grafana:
//!
//! - every InfluxQL query of every dashboard — panels and template variables — runs against a
//!   real InfluxDB 1.x loaded with the historian's points for the last hours, with Grafana's
//!   macros and variables replaced as Grafana replaces them (a variable's values filtered by
//!   its regex, as Grafana filters them), and returns rows;
//! - the map's Grafana links (frontend/src) open provisioned dashboards, by uid, with a
//!   variable of the name the link sets;
//! - every panel and query names a provisioned datasource, and every Prometheus query names
//!   metrics the services export (their Rust sources);
//! - the provisioning files agree with docker-compose.yml (mounts, environment).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use garonne_historian::schema;
use garonne_payload::{
    Alert, AlertScope, AlertState, Comparison, Limits, Location, ModuleState, ModuleStatus,
    NeighbourhoodAggregate, Quantity, Reading, SensorState, Source, Status, Timestamp, Topics,
    WindowStats,
};
use garonne_store::influx::{Credentials, InfluxV1};
use garonne_store::point::Point;
use garonne_store::store::Store;
use garonne_testkit::Influxd;
use serde_json::Value;

/// The database the datasource reads (`jsonData.dbName`).
const DB: &str = "garonne";

/// The datasources' uids, as provisioned and as the dashboards name them.
const INFLUX_UID: &str = "garonne-influxdb";
const PROMETHEUS_UID: &str = "garonne-prometheus";

/// The time range the queries are run over, what `$timeFilter` stands for.
const RANGE: &str = "6h";

/// What `$__interval` stands for: Grafana derives it from the range and the panel's width.
const INTERVAL: &str = "1m";
const INTERVAL_MS: &str = "60000";

/// A path under the repository.
fn repo(path: &str) -> PathBuf {
    garonne_deploy_checks::repo_path(path)
}

fn read(path: &str) -> String {
    fs::read_to_string(repo(path)).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
}

/// Every dashboard of deploy/grafana/dashboards: file name and JSON model.
fn dashboards() -> Vec<(String, Value)> {
    let dir = repo("deploy/grafana/dashboards");
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let name = path
                .file_name()
                .expect("file name")
                .to_string_lossy()
                .into_owned();
            let text = fs::read_to_string(&path).expect("dashboard readable");
            let model = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{name} is not valid JSON: {e}"));
            (name, model)
        })
        .collect()
}

fn uid(dashboard: &Value) -> &str {
    dashboard["uid"].as_str().expect("dashboard uid")
}

/// A dashboard's panels, those inside collapsed rows included, rows themselves excluded.
fn panels(dashboard: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for panel in dashboard["panels"].as_array().into_iter().flatten() {
        if panel["type"] == "row" {
            out.extend(panel["panels"].as_array().into_iter().flatten());
        } else {
            out.push(panel);
        }
    }
    out
}

fn title(panel: &Value) -> &str {
    panel["title"].as_str().unwrap_or("(untitled)")
}

/// The template variables of a dashboard.
fn variables(dashboard: &Value) -> Vec<&Value> {
    dashboard["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
        .collect()
}

/// The uid a `datasource` value names: `{"type": ..., "uid": ...}` or a bare uid string.
fn datasource_uid(datasource: &Value) -> Option<&str> {
    datasource["uid"].as_str().or_else(|| datasource.as_str())
}

/// The queries of a panel: each target with the uid of its datasource (its own, or else the
/// panel's, as Grafana resolves it).
fn targets(panel: &Value) -> Vec<(&Value, Option<&str>)> {
    let panel_uid = datasource_uid(&panel["datasource"]);
    panel["targets"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| (t, datasource_uid(&t["datasource"]).or(panel_uid)))
        .collect()
}

/// A YAML file of the repository, as JSON values.
fn yaml(path: &str) -> Value {
    serde_norway::from_str(&read(path)).unwrap_or_else(|e| panic!("{path} is not YAML: {e}"))
}

#[test]
fn the_datasources_are_provisioned_from_the_environment() {
    let provisioning = yaml("deploy/grafana/provisioning/datasources/garonne.yml");
    let datasources = provisioning["datasources"]
        .as_array()
        .expect("a datasources list");
    let by_uid = |uid: &str| {
        datasources
            .iter()
            .find(|d| d["uid"] == uid)
            .unwrap_or_else(|| panic!("no datasource with uid {uid}: {datasources:?}"))
    };
    let influx = by_uid(INFLUX_UID);
    assert_eq!(influx["type"], "influxdb");
    assert_eq!(influx["url"], "http://influxdb:8086");
    assert_eq!(influx["jsonData"]["version"], "InfluxQL");
    assert_eq!(influx["jsonData"]["dbName"], DB);
    let prometheus = by_uid(PROMETHEUS_UID);
    assert_eq!(prometheus["type"], "prometheus");
    assert_eq!(prometheus["url"], "http://prometheus:9090");

    // The credentials are Grafana's $VAR interpolation, never a value, and the grafana
    // service of docker-compose.yml sets those variables.
    let compose = read("docker-compose.yml");
    for (key, value) in [
        ("user", &influx["user"]),
        ("password", &influx["secureJsonData"]["password"]),
    ] {
        let value = value
            .as_str()
            .unwrap_or_else(|| panic!("InfluxDB datasource without {key}"));
        let name = value
            .strip_prefix("${")
            .and_then(|v| v.strip_suffix('}'))
            .or_else(|| value.strip_prefix('$'))
            .unwrap_or_else(|| panic!("{key} must come from the environment ($VAR): {value}"));
        assert!(
            compose.contains(&format!("{name}:")),
            "docker-compose.yml does not set {name} for Grafana"
        );
    }
}

#[test]
fn the_dashboards_provider_reads_the_mounted_directory() {
    let provisioning = yaml("deploy/grafana/provisioning/dashboards/garonne.yml");
    let provider = &provisioning["providers"][0];
    assert_eq!(provider["type"], "file", "{provider}");
    let path = provider["options"]["path"]
        .as_str()
        .expect("a file provider with options.path");
    let compose = read("docker-compose.yml");
    for mount in [
        format!("./deploy/grafana/dashboards:{path}"),
        "./deploy/grafana/provisioning:/etc/grafana/provisioning".to_owned(),
    ] {
        assert!(
            compose.contains(&mount),
            "docker-compose.yml does not mount {mount}"
        );
    }
}

/// The links the map builds: (dashboard uid, variable name), read from frontend/src.
fn map_links() -> Vec<(String, String)> {
    // The link's shape: /d/UID?var-VARIABLE=ID, Grafana's URL for a dashboard with a variable.
    let config = read("frontend/src/lib/config.js");
    assert!(
        config.contains("/d/${dashboard}?var-${variable}=${encodeURIComponent(id)}"),
        "grafanaLink in frontend/src/lib/config.js no longer builds /d/UID?var-NAME=ID"
    );
    // Its uses: grafana('UID', 'VARIABLE', id).
    let panel = read("frontend/src/map/panel.js");
    let mut links = Vec::new();
    for call in panel.split("grafana('").skip(1) {
        let mut quoted = call.split('\'');
        let dashboard = quoted.next().expect("uid");
        let variable = quoted.nth(1).expect("variable");
        links.push((dashboard.to_owned(), variable.to_owned()));
    }
    links
}

#[test]
fn the_map_links_open_provisioned_dashboards_with_their_variable() {
    let links = map_links();
    let uids: BTreeSet<&str> = links.iter().map(|(uid, _)| uid.as_str()).collect();
    assert_eq!(
        uids,
        BTreeSet::from(["garonne-neighbourhood", "garonne-sensor"]),
        "the map links these dashboards: {links:?}"
    );
    let dashboards = dashboards();
    for (link_uid, variable) in &links {
        let (file, dashboard) = dashboards
            .iter()
            .find(|(_, d)| uid(d) == link_uid)
            .unwrap_or_else(|| panic!("the map links to {link_uid}, no dashboard has that uid"));
        assert!(
            variables(dashboard).iter().any(|v| v["name"] == *variable),
            "the map sets var-{variable} on {link_uid}, {file} has no variable {variable}"
        );
    }
}

#[test]
fn every_dashboard_is_provisioned_with_its_datasources() {
    let dashboards = dashboards();
    let uids: BTreeSet<&str> = dashboards.iter().map(|(_, d)| uid(d)).collect();
    assert_eq!(
        uids,
        BTreeSet::from([
            "garonne-city",
            "garonne-neighbourhood",
            "garonne-pipeline",
            "garonne-sensor",
            "garonne-telemetry",
        ]),
    );
    let provisioned: BTreeSet<String> = yaml("deploy/grafana/provisioning/datasources/garonne.yml")
        ["datasources"]
        .as_array()
        .expect("a datasources list")
        .iter()
        .filter_map(|d| d["uid"].as_str().map(str::to_owned))
        .collect();
    for (file, dashboard) in &dashboards {
        let panels = panels(dashboard);
        assert!(!panels.is_empty(), "{file}: no panel");
        for panel in panels {
            let name = title(panel);
            let panel_uid = datasource_uid(&panel["datasource"])
                .unwrap_or_else(|| panic!("{file}, panel {name:?}: no datasource"));
            assert!(
                provisioned.contains(panel_uid),
                "{file}, panel {name:?}: datasource {panel_uid} is not provisioned"
            );
            let targets = targets(panel);
            assert!(!targets.is_empty(), "{file}, panel {name:?}: no query");
            for (target, target_uid) in targets {
                let target_uid = target_uid.unwrap_or_default();
                assert!(
                    provisioned.contains(target_uid),
                    "{file}, panel {name:?}, query {}: datasource {target_uid:?} is not provisioned",
                    target["refId"]
                );
            }
        }
        for variable in variables(dashboard) {
            let var_uid = datasource_uid(&variable["datasource"]).unwrap_or_default();
            assert!(
                provisioned.contains(var_uid),
                "{file}, variable {}: datasource {var_uid:?} is not provisioned",
                variable["name"]
            );
        }
    }
}

/// The fields of a reading point that are not channels (the historian's schema): its position,
/// its kind and its sequence number. The profiles reserve these names.
const NOT_CHANNELS: [&str; 4] = ["kind", "lat", "lon", "seq"];

/// The telemetry dashboard: its file name and JSON model.
fn telemetry_dashboard() -> (String, Value) {
    dashboards()
        .into_iter()
        .find(|(_, d)| uid(d) == "garonne-telemetry")
        .expect("a dashboard garonne-telemetry")
}

/// The telemetry dashboard (issue 16): the device and its channels are variables, and every
/// query of samples decimates by the minimum and maximum of each interval (a spike is never
/// averaged away) or counts them, down to the raw rate when zoomed in.
#[test]
fn the_telemetry_dashboard_chooses_device_and_channels_and_decimates_by_min_and_max() {
    let (file, dashboard) = telemetry_dashboard();
    let vars = variables(&dashboard);
    let names: Vec<&str> = vars.iter().filter_map(|v| v["name"].as_str()).collect();
    assert_eq!(names, ["device", "channel"], "{file}");
    assert_eq!(vars[0]["multi"], false, "{file}: one device at a time");
    assert_eq!(vars[1]["multi"], true, "{file}: several channels at once");
    let channels = vars[1]["query"].as_str().unwrap_or_default();
    assert!(
        channels.starts_with("SHOW FIELD KEYS FROM \"reading\""),
        "{file}: the channels are the readings' fields: {channels}"
    );
    // The fields that are not channels are left out by the variable's regex, and only they: a
    // channel may begin like one of them.
    let fields = [
        "temperature",
        "engine_rpm",
        "latency",
        "longitudinal_accel",
        "sequence",
        "kinds",
        "lat",
        "lon",
        "seq",
        "kind",
    ]
    .map(str::to_owned);
    assert_eq!(
        variable_regex(&file, vars[1], fields.to_vec()),
        fields[..fields.len() - NOT_CHANNELS.len()],
        "{file}: the channel variable's regex {}",
        vars[1]["regex"]
    );
    let mut decimated = 0;
    for panel in panels(&dashboard) {
        for (target, _) in targets(panel) {
            let name = title(panel);
            let q = target["query"].as_str().unwrap_or_default();
            assert!(
                q.contains("\"sensor\" = '$device'"),
                "{file}, panel {name:?}: one device: {q}"
            );
            assert!(
                !q.to_lowercase().contains("mean("),
                "{file}, panel {name:?}: a mean averages spikes away: {q}"
            );
            if q.contains("GROUP BY time($__interval)") {
                assert_eq!(
                    panel["interval"], "10ms",
                    "{file}, panel {name:?}: zoomed in, the raw samples (100 Hz)"
                );
                if q.contains("$channel") {
                    assert!(
                        q.contains("min(/^$channel$/)") && q.contains("max(/^$channel$/)"),
                        "{file}, panel {name:?}: min and max per interval: {q}"
                    );
                    decimated += 1;
                }
            }
        }
    }
    assert_eq!(decimated, 1, "{file}: the channels' chart");
}

/// Every `.rs` file under `dir`, recursively.
fn rust_sources(dir: &Path, out: &mut Vec<(PathBuf, String)>) {
    for entry in fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = fs::read_to_string(&path).expect("source readable");
            out.push((path, text));
        }
    }
}

/// The `garonne_*` metric names in a PromQL expression.
fn metric_names(expr: &str) -> Vec<&str> {
    let mut names = Vec::new();
    let mut rest = expr;
    while let Some(start) = rest.find("garonne_") {
        let tail = &rest[start..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        names.push(&tail[..end]);
        rest = &tail[end..];
    }
    names
}

#[test]
fn every_prometheus_query_names_metrics_the_services_export() {
    let services = ["realtime", "historian", "server"];
    let sources: BTreeMap<&str, String> = services
        .iter()
        .chain(&["service"])
        .map(|crate_dir| {
            let mut files = Vec::new();
            rust_sources(&repo(&format!("{crate_dir}/src")), &mut files);
            let text = files.into_iter().map(|(_, t)| t).collect::<String>();
            (*crate_dir, text)
        })
        .collect();
    // garonne-service renders the host's metrics (MQTT connection, acknowledgements, outbox)
    // under the name a service gives its host (or the connection's renderer).
    let exported = |name: &str| {
        let base = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .unwrap_or(name);
        let literal = |n: &str| sources.values().any(|t| t.contains(&format!("\"{n}\"")));
        if literal(name) || literal(base) {
            return true;
        }
        services.iter().any(|service| {
            name.strip_prefix(&format!("garonne_{service}_"))
                .is_some_and(|suffix| {
                    sources["service"].contains(&format!("\"garonne_{{service}}_{suffix}\""))
                        && [".render(", "Host::new("]
                            .iter()
                            .any(|call| sources[service].contains(&format!("{call}\"{service}\"")))
                })
        })
    };
    let mut checked = BTreeSet::new();
    for (file, dashboard) in dashboards() {
        for panel in panels(&dashboard) {
            for (target, target_uid) in targets(panel) {
                if target_uid != Some(PROMETHEUS_UID) {
                    continue;
                }
                let expr = target["expr"].as_str().unwrap_or_else(|| {
                    panic!(
                        "{file}, panel {:?}: Prometheus query without expr",
                        title(panel)
                    )
                });
                let names = metric_names(expr);
                assert!(
                    !names.is_empty(),
                    "{file}, panel {:?}: {expr}",
                    title(panel)
                );
                for name in names {
                    assert!(
                        exported(name),
                        "{file}, panel {:?}: no service exports {name} ({expr})",
                        title(panel)
                    );
                    checked.insert(name.to_owned());
                }
            }
        }
    }
    assert!(checked.len() >= 10, "few metrics checked: {checked:?}");
}

// --- The InfluxQL queries against a real InfluxDB ---------------------------------------------

/// The sensors of the test data: id, source and the quantities each reports.
const SENSORS: [(&str, Source, &[Quantity]); 3] = [
    (
        "pi-lycee-b12",
        Source::RaspberryPi,
        &[
            Quantity::Temperature,
            Quantity::RelativeHumidity,
            Quantity::AtmosphericPressure,
            Quantity::Illuminance,
            Quantity::Motion,
        ],
    ),
    (
        "station-42",
        Source::OpendataReplay,
        &[
            Quantity::Temperature,
            Quantity::WindSpeed,
            Quantity::GustSpeed,
            Quantity::WindDirection,
            Quantity::Precipitation,
        ],
    ),
    (
        "virtual-7-1",
        Source::Virtual,
        &[Quantity::Temperature, Quantity::StreamGauge],
    ),
];

/// The neighbourhoods of the test data: id, name and the quantities aggregated there.
const NEIGHBOURHOODS: [(&str, &str, &[Quantity]); 2] = [
    (
        "3",
        "Capitole",
        &[Quantity::Temperature, Quantity::RelativeHumidity],
    ),
    (
        "7",
        "Croix-Daurade",
        &[Quantity::Temperature, Quantity::WindSpeed],
    ),
];

/// A plausible value of `quantity` at step `k`.
fn value(quantity: Quantity, k: i64) -> f64 {
    let wave = ((k % 12) as f64) / 12.0;
    match quantity {
        Quantity::Temperature => 9.0 + 4.0 * wave,
        Quantity::RelativeHumidity => 0.6 + 0.2 * wave,
        Quantity::AtmosphericPressure => 1013.0 + wave,
        Quantity::Precipitation => 0.2 * wave,
        Quantity::WindSpeed => 3.0 + wave,
        Quantity::GustSpeed => 6.0 + wave,
        Quantity::WindDirection => 180.0 + 90.0 * wave,
        Quantity::Illuminance => 200.0 + 100.0 * wave,
        Quantity::StreamGauge => 1.5 + wave,
        Quantity::Motion => (k % 2) as f64,
        // Any other quantity: the middle of its range.
        other => (other.def().min + other.def().max) / 2.0,
    }
}

/// The points of one message, through the historian's schema, received at `now`.
fn points_of(topic: &str, payload: &[u8], now: Timestamp, out: &mut Vec<Point>) {
    schema::points(
        &Topics::default(),
        topic,
        payload,
        now,
        &Limits::default(),
        out,
    )
    .unwrap_or_else(|skip| panic!("{topic}: {skip}"));
}

/// Six hours of the historian's points up to `now`, from real payloads: a reading of every
/// sensor and an aggregate of every neighbourhood every 5 minutes, statuses, and alerts raised
/// and cleared.
fn simulated_points(now: Timestamp) -> Vec<Point> {
    let topics = Topics::default();
    let at = |minutes_ago: i64| now.add_nanos(-minutes_ago * 60_000_000_000);
    let mut out = Vec::new();
    for k in 0..70_i64 {
        let minutes_ago = 5 * (70 - k);
        for (id, source, quantities) in SENSORS {
            let mut reading = Reading::new(
                id,
                "test",
                source,
                at(minutes_ago),
                k as u64,
                Location::new(1.4442, 43.6047),
            );
            for &q in quantities {
                reading.quantities.set(q, value(q, k));
            }
            points_of(&topics.reading(id), &reading.to_json(), now, &mut out);
        }
        for (id, name, quantities) in NEIGHBOURHOODS {
            let aggregate = NeighbourhoodAggregate {
                v: 1,
                neighbourhood_id: id.into(),
                name: name.into(),
                window_start: at(minutes_ago + 5),
                window_end: at(minutes_ago),
                emitted_at: at(minutes_ago),
                quantities: quantities
                    .iter()
                    .map(|&q| {
                        let mean = value(q, k);
                        let stats = WindowStats {
                            mean,
                            min: mean - 0.5,
                            max: mean + 0.5,
                            readings: 10,
                            sensors: 2,
                            value: mean,
                        };
                        (q, stats)
                    })
                    .collect(),
            };
            let payload = serde_json::to_vec(&aggregate).expect("JSON");
            points_of(&topics.aggregate(id), &payload, now, &mut out);
        }
    }
    for (id, source, _) in SENSORS {
        for (minutes_ago, state) in [
            (330, SensorState::Online),
            (120, SensorState::Offline),
            (60, SensorState::Online),
        ] {
            let status = Status {
                v: 1,
                sensor_id: id.into(),
                state,
                time: at(minutes_ago),
                kind: "test".into(),
                source,
                location: Some(Location::new(1.4442, 43.6047)),
                modules: vec![ModuleStatus {
                    name: "bme280".into(),
                    state: ModuleState::Running,
                    quantities: vec![Quantity::Temperature],
                    detail: None,
                }],
            };
            let payload = serde_json::to_vec(&status).expect("JSON");
            points_of(&topics.status(id), &payload, now, &mut out);
        }
    }
    // Neighbourhood 3: a heat alert raised then cleared; neighbourhood 7: one still raised.
    for (id, minutes_ago, state) in [
        ("3", 180, AlertState::Raised),
        ("3", 150, AlertState::Cleared),
        ("7", 60, AlertState::Raised),
    ] {
        let scope = AlertScope::Neighbourhood(id.into());
        let alert = Alert {
            v: 1,
            rule: "heat".into(),
            scope: scope.clone(),
            state,
            quantity: Quantity::Temperature,
            comparison: Comparison::Above,
            threshold: 12.0,
            value: 12.5,
            since: at(minutes_ago),
            time: at(minutes_ago),
        };
        let payload = serde_json::to_vec(&alert).expect("JSON");
        let topic = topics.alert("heat", &scope.topic_segment());
        points_of(&topic, &payload, now, &mut out);
    }
    out
}

/// Runs one InfluxQL statement through `/query` and returns the series of its answer, or the
/// error InfluxDB gave.
async fn influxql(url: &str, q: &str) -> Result<Vec<Value>, String> {
    let url = reqwest::Url::parse_with_params(
        &format!("{url}/query"),
        &[("db", DB), ("epoch", "ms"), ("q", q)],
    )
    .expect("valid URL");
    let response = reqwest::Client::new()
        .get(url)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .map_err(|e| format!("cannot reach InfluxDB: {e}"))?;
    let status = response.status();
    let body = response.text().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("HTTP {status}: {body}"));
    }
    let answer: Value = serde_json::from_str(&body).map_err(|e| format!("{e}: {body}"))?;
    if let Some(error) = answer["error"]
        .as_str()
        .or_else(|| answer["results"][0]["error"].as_str())
    {
        return Err(error.to_owned());
    }
    Ok(answer["results"][0]["series"]
        .as_array()
        .cloned()
        .unwrap_or_default())
}

/// Whether some row of `series` has a value besides its time.
fn has_values(series: &[Value]) -> bool {
    series.iter().any(|s| {
        let time_column = s["columns"]
            .as_array()
            .and_then(|c| c.iter().position(|name| name == "time").map(|i| i as isize));
        s["values"].as_array().into_iter().flatten().any(|row| {
            row.as_array()
                .into_iter()
                .flatten()
                .enumerate()
                .any(|(i, v)| Some(i as isize) != time_column && !v.is_null())
        })
    })
}

/// The values a variable query offers: the `value` column of `SHOW TAG VALUES`, else the first
/// column (`SHOW FIELD KEYS`, `SHOW MEASUREMENTS`).
fn offered_values(series: &[Value]) -> Vec<String> {
    let mut values = Vec::new();
    for s in series {
        let columns = s["columns"].as_array().cloned().unwrap_or_default();
        let column = columns.iter().position(|c| c == "value").unwrap_or(0);
        for row in s["values"].as_array().into_iter().flatten() {
            if let Some(v) = row[column].as_str() {
                values.push(v.to_owned());
            }
        }
    }
    values
}

/// The values a variable offers once its `regex` filters them, as Grafana does: the regex is a
/// JavaScript one, `/PATTERN/FLAGS` (or else `PATTERN`, matched whole); a value it does not
/// match is left out, and a value it matches with a capture group becomes the group's text.
/// No regex: every value.
fn variable_regex(file: &str, variable: &Value, values: Vec<String>) -> Vec<String> {
    let name = &variable["name"];
    let text = variable["regex"].as_str().unwrap_or_default();
    if text.is_empty() {
        return values;
    }
    let (pattern, flags) = match text.strip_prefix('/').and_then(|t| t.rsplit_once('/')) {
        Some((pattern, flags)) => (pattern.to_owned(), flags),
        None => (format!("^(?:{text})$"), ""),
    };
    // `g` and `y` change nothing for one value tested once; the others are inline flags.
    let inline: String = flags.chars().filter(|f| "ims".contains(*f)).collect();
    assert!(
        flags.chars().all(|f| "gimsy".contains(f)),
        "{file}, variable {name}: regex flags {flags:?} are not JavaScript's"
    );
    assert!(
        !pattern.contains("(?<"),
        "{file}, variable {name}: named groups (text, value) are not emulated"
    );
    let pattern = if inline.is_empty() {
        pattern
    } else {
        format!("(?{inline}){pattern}")
    };
    let regex = fancy_regex::Regex::new(&pattern)
        .unwrap_or_else(|e| panic!("{file}, variable {name}: regex {text} is not valid: {e}"));
    values
        .into_iter()
        .filter_map(|value| {
            let captures = regex.captures(&value).unwrap_or_else(|e| {
                panic!("{file}, variable {name}: regex {text} on {value}: {e}")
            })?;
            Some(
                captures
                    .get(1)
                    .map_or(value.clone(), |g| g.as_str().to_owned()),
            )
        })
        .collect()
}

/// Escapes a value for a regular expression, as Grafana's InfluxDB datasource does for a
/// variable inside `/.../`.
fn regex_escape(value: &str) -> String {
    let mut out = String::new();
    for c in value.chars() {
        if "\\^$*+?.()|{}[]/".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `query` as Grafana sends it: the time range and interval macros, then the variables
/// (`$name`, `${name}`, `[[name]]`; inside `/^...$/` regex-escaped, elsewhere as they are:
/// every variable here has one value, a repeated panel's included).
fn interpolate(query: &str, vars: &BTreeMap<String, String>) -> String {
    let mut q = query
        .replace(
            "$timeFilter",
            &format!("time >= now() - {RANGE} and time <= now()"),
        )
        .replace("$__interval_ms", INTERVAL_MS)
        .replace("$__interval", INTERVAL);
    // Longest names first, so that $quantity does not eat $quantity_unit.
    let mut names: Vec<&String> = vars.keys().collect();
    names.sort_by_key(|n| std::cmp::Reverse(n.len()));
    for name in names {
        let value = &vars[name];
        for form in [
            format!("${{{name}}}"),
            format!("[[{name}]]"),
            format!("${name}"),
        ] {
            while let Some(at) = q.find(&form) {
                let in_regex = q[..at].ends_with("/^");
                let text = if in_regex {
                    regex_escape(value)
                } else {
                    value.clone()
                };
                q.replace_range(at..at + form.len(), &text);
            }
        }
    }
    q
}

/// Whether `query` still holds a `$name` Grafana would have replaced.
fn unreplaced(query: &str) -> bool {
    query
        .split('$')
        .skip(1)
        .any(|rest| rest.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_' || c == '{'))
}

/// The variable values a dashboard is looked at with: every value of the variables the map
/// sets and of those panels repeat over, and the saved (or else the first) value of the
/// others, each variable's values given by its query as Grafana asks it.
async fn variable_sets(
    url: &str,
    file: &str,
    dashboard: &Value,
    linked: &BTreeSet<String>,
) -> Vec<BTreeMap<String, String>> {
    let repeated: BTreeSet<&str> = panels(dashboard)
        .iter()
        .filter_map(|p| p["repeat"].as_str())
        .collect();
    let mut sets = vec![BTreeMap::new()];
    for variable in variables(dashboard) {
        let name = variable["name"].as_str().expect("variable name").to_owned();
        assert_eq!(
            variable["type"], "query",
            "{file}, variable {name}: only query variables are emulated"
        );
        let query = variable["query"]
            .as_str()
            .or_else(|| variable["query"]["query"].as_str())
            .unwrap_or_else(|| panic!("{file}, variable {name}: no query"));
        let every = linked.contains(&name) || repeated.contains(name.as_str());
        // A multi-value variable saves a list: its first value.
        let saved = variable["current"]["value"]
            .as_str()
            .or_else(|| variable["current"]["value"][0].as_str());
        let mut next = Vec::new();
        for set in sets {
            let q = interpolate(query, &set);
            let series = influxql(url, &q)
                .await
                .unwrap_or_else(|e| panic!("{file}, variable {name}: {e}\n{q}"));
            let values = variable_regex(file, variable, offered_values(&series));
            assert!(
                !values.is_empty(),
                "{file}, variable {name} offers no value with {set:?}\n{q}"
            );
            let chosen: Vec<String> = if every {
                values
            } else {
                let pick = saved
                    .filter(|s| values.iter().any(|v| v == s))
                    .unwrap_or(&values[0]);
                vec![pick.to_owned()]
            };
            for value in chosen {
                let mut set = set.clone();
                set.insert(name.clone(), value);
                next.push(set);
            }
        }
        sets = next;
    }
    sets
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_influxql_query_returns_rows_from_the_historians_points() {
    let Some(influxd) = Influxd::start_or_skip() else {
        return;
    };
    let url = influxd.url();
    let mut store = InfluxV1::new(&url, DB, Credentials::None).expect("valid URL");
    store.create_database().await.expect("database created");
    let now = Timestamp::from_system_time(SystemTime::now());
    let points = simulated_points(now);
    store.write(&points).await.expect("points written");

    let linked: BTreeSet<String> = map_links().into_iter().map(|(_, v)| v).collect();
    let mut queries = 0;
    for (file, dashboard) in dashboards() {
        let sets = variable_sets(&url, &file, &dashboard, &linked).await;
        for panel in panels(&dashboard) {
            for (target, target_uid) in targets(panel) {
                if target_uid != Some(INFLUX_UID) {
                    continue;
                }
                let name = title(panel);
                let ref_id = &target["refId"];
                assert_eq!(
                    target["rawQuery"], true,
                    "{file}, panel {name:?}, query {ref_id}: only raw InfluxQL is emulated"
                );
                let query = target["query"].as_str().unwrap_or_else(|| {
                    panic!("{file}, panel {name:?}, query {ref_id}: no query text")
                });
                for set in &sets {
                    let q = interpolate(query, set);
                    assert!(
                        !unreplaced(&q),
                        "{file}, panel {name:?}, query {ref_id}: a variable Grafana would \
                         replace is left: {q}"
                    );
                    let series = influxql(&url, &q).await.unwrap_or_else(|e| {
                        panic!("{file}, panel {name:?}, query {ref_id} with {set:?}: {e}\n{q}")
                    });
                    assert!(
                        has_values(&series),
                        "{file}, panel {name:?}, query {ref_id} with {set:?} returns no rows\n\
                         {q}\n{series:?}"
                    );
                    queries += 1;
                }
            }
        }
    }
    assert!(queries >= 15, "only {queries} InfluxQL queries run");

    // The telemetry channels: InfluxDB lists every field of the readings, the variable's regex
    // leaves out those that are not channels.
    let (file, telemetry) = telemetry_dashboard();
    let channel = variables(&telemetry)[1];
    let q = channel["query"].as_str().expect("the channel query");
    let fields = offered_values(&influxql(&url, q).await.expect("the readings' fields"));
    for field in NOT_CHANNELS {
        assert!(
            fields.iter().any(|f| f == field),
            "{file}: InfluxDB lists no field {field}: {fields:?}"
        );
    }
    let channels = variable_regex(&file, channel, fields);
    assert!(
        channels.iter().any(|c| c == "temperature")
            && !channels.iter().any(|c| NOT_CHANNELS.contains(&c.as_str())),
        "{file}: the channels offered: {channels:?}"
    );
}

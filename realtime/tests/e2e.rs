//! `garonne realtime` end to end, against a real mosquitto, on the real Toulouse polygons: the
//! same `serve` as the command line, fed by the simulator or by hand, watched by a subscriber.
//!
//! - The aggregates it publishes for the 20 quartiers are recomputed here, independently (the
//!   polygons read with serde_json and searched with geo, not through garonne-neighbourhoods),
//!   from the readings a subscriber saw; every refused reading has its error report.
//! - Bad input is reported on the right errors topic and does not stop it.
//! - A clean restart keeps the map; a broker restart loses nothing.
//! - The 60 grands quartiers and the 37 communes work the same, given their property names.
//!
//! Realtime learns of its subscription only from the broker; a test knows it is in place when
//! realtime has counted a retained probe (an invalid payload on `sensors/probe/reading`), which
//! the broker hands to a subscription as soon as it exists.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use garonne_neighbourhoods::Neighbourhoods;
use garonne_payload::{
    ErrorReport, Limits, Location, NeighbourhoodAggregate, Quantity, Reading, Rule, Source,
    Timestamp, WindowStats, parse_reading,
};
use garonne_realtime::service::load_neighbourhoods;
use garonne_realtime::{Config, RealtimeError, Summary};
use garonne_service::config::MqttConfig;
use garonne_simulator::fleet::{Fault, FleetConfig};
use garonne_simulator::simulate::{self, SimulateConfig};
use garonne_testkit::{Message, Mosquitto, Service, Subscriber, probe};
use geo::{Coord, Intersects, LineString, MultiPolygon, Point, Polygon};
use rumqttc::QoS;
use serde_json::Value;
use tempfile::TempDir;
use tokio_util::sync::CancellationToken;

/// Every wait for something realtime does: far above what it takes, far below the test's limit.
const WAIT: Duration = Duration::from_secs(15);

/// How often a test polls while waiting on what realtime published.
const POLL: Duration = Duration::from_millis(50);

fn data_dir() -> PathBuf {
    garonne_testkit::open_data_dir()
}

/// A polygon file and the properties holding each feature's id and name.
struct Layer {
    file: &'static str,
    id: &'static str,
    name: &'static str,
}

const QUARTIERS: Layer = Layer {
    file: "quartiers-de-democratie-locale.geojson",
    id: "quartier",
    name: "nom_quartier",
};

const GRANDS_QUARTIERS: Layer = Layer {
    file: "grands-quartiers-2015-population.geojson",
    id: "grd_quart",
    name: "libelle_des_grands_quartiers",
};

const COMMUNES: Layer = Layer {
    file: "communes-toulouse-metropole.geojson",
    id: "code_insee",
    name: "libelle",
};

// ---- The polygons, read independently of garonne-neighbourhoods ------------------------------

/// One feature of a polygon file.
struct Area {
    id: String,
    name: String,
    shape: MultiPolygon<f64>,
}

/// The features of a layer, in file order.
fn read_areas(layer: &Layer) -> Vec<Area> {
    let path = data_dir().join(layer.file);
    let text = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let json: Value = serde_json::from_slice(&text).expect("GeoJSON");
    let features = json["features"].as_array().expect("features");
    features
        .iter()
        .map(|f| {
            let geometry = &f["geometry"];
            let coordinates = geometry["coordinates"].as_array().expect("coordinates");
            let shape = match geometry["type"].as_str() {
                Some("Polygon") => MultiPolygon(vec![polygon(coordinates)]),
                Some("MultiPolygon") => MultiPolygon(
                    coordinates
                        .iter()
                        .map(|p| polygon(p.as_array().expect("polygon")))
                        .collect(),
                ),
                other => panic!("{}: geometry {other:?}", path.display()),
            };
            Area {
                id: property_text(&f["properties"][layer.id]),
                name: property_text(&f["properties"][layer.name]),
                shape,
            }
        })
        .collect()
}

fn polygon(rings: &[Value]) -> Polygon<f64> {
    let ring = |r: &Value| -> LineString<f64> {
        r.as_array()
            .expect("ring")
            .iter()
            .map(|p| Coord {
                x: p[0].as_f64().expect("lon"),
                y: p[1].as_f64().expect("lat"),
            })
            .collect()
    };
    Polygon::new(ring(&rings[0]), rings[1..].iter().map(ring).collect())
}

/// A property as an id or name: text as it is, a whole number without a fractional part.
fn property_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => i.to_string(),
            (None, Some(f)) if f.fract() == 0.0 => format!("{f:.0}"),
            _ => n.to_string(),
        },
        other => panic!("property {other} is neither text nor a number"),
    }
}

/// The first area, in file order, whose closed polygon holds the point.
fn locate(areas: &[Area], lon: f64, lat: f64) -> Option<usize> {
    let point = Point::new(lon, lat);
    areas.iter().position(|a| a.shape.intersects(&point))
}

// ---- Realtime, in-process ---------------------------------------------------------------------

/// The service's configuration for a test: its own prefix, client id and snapshot; windows of an
/// hour cut into five panes, emitted every 200 ms, two minutes of lateness. The id and name
/// properties are left to detection, as in the default deployment.
fn config(broker: &Mosquitto, prefix: &str, layer: &Layer, snapshot: &Path) -> Config {
    Config {
        mqtt: MqttConfig::parse(&broker.url(), prefix, format!("{prefix}-realtime"))
            .expect("[mqtt]"),
        neighbourhoods: data_dir().join(layer.file),
        window_secs: 3600,
        panes_per_window: 5,
        emit_every_ms: 200,
        lateness_secs: 120,
        snapshot: Some(snapshot.to_owned()),
        ..Config::default()
    }
}

/// A running `garonne_realtime::serve`, its `/metrics` on a free port.
struct Realtime(Service<Summary, RealtimeError>);

impl Realtime {
    /// Loads the polygons the configuration names, starts `serve`, and returns once connected to
    /// the broker.
    async fn start(config: Config) -> Realtime {
        let areas = load_neighbourhoods(&config).expect("the polygons load");
        let realtime = Realtime(
            Service::start("realtime", |listener, shutdown| {
                garonne_realtime::serve(config, areas, listener, shutdown)
            })
            .await,
        );
        realtime
            .wait_metric("garonne_realtime_mqtt_connected", |v| v == 1.0)
            .await;
        realtime
    }

    /// Waits until realtime has counted the retained probe (see [`probe::retain_probe`]): its
    /// subscription is in place. For a first start; a restart keeps its session.
    async fn wait_subscribed(&self) {
        self.wait_metric("garonne_realtime_messages_received_total", |v| v >= 1.0)
            .await;
    }

    /// One sample of `/metrics` (0 when absent).
    async fn metric(&self, name: &str) -> f64 {
        self.0.metric(name).await
    }

    /// Polls `/metrics` until the sample `name` satisfies `done`, at most [`WAIT`].
    async fn wait_metric(&self, name: &str, done: impl Fn(f64) -> bool) -> f64 {
        self.0.wait_metric(name, WAIT, done).await
    }

    /// Cancels the shutdown token and waits for `serve` to return, which it must do with Ok.
    async fn stop(self) -> Summary {
        self.0.stop().await
    }
}

/// What every test starts from, on `broker`: a temporary folder for realtime's snapshot (in a
/// `state` folder realtime creates; removed when dropped), a subscriber to everything under the
/// prefix with the retained probe in place (see [`probe::retain_probe`]), realtime's configuration, and
/// the polygons as realtime places them; and realtime, started on that configuration, subscribed.
async fn setup(
    broker: &Mosquitto,
    prefix: &str,
    layer: &Layer,
) -> (TempDir, Subscriber, Config, Neighbourhoods, Realtime) {
    setup_with(broker, prefix, layer, |_| ()).await
}

/// [`setup`], with `adjust` changing the configuration before the polygons are loaded.
async fn setup_with(
    broker: &Mosquitto,
    prefix: &str,
    layer: &Layer,
    adjust: impl FnOnce(&mut Config),
) -> (TempDir, Subscriber, Config, Neighbourhoods, Realtime) {
    let state = tempfile::tempdir().expect("temp dir");
    let sub = probe::subscribe_with_probe(broker, prefix, WAIT).await;
    let snapshot = state.path().join("state").join("realtime.json");
    let mut config = config(broker, prefix, layer, &snapshot);
    adjust(&mut config);
    let areas = load_neighbourhoods(&config).expect("polygons");
    let realtime = start_subscribed(&config).await;
    (state, sub, config, areas, realtime)
}

/// The test's broker; or, when mosquitto is not installed (and not under CI), return from the
/// test, which is then skipped (see [`Mosquitto::start_or_skip`]).
macro_rules! broker_or_skip {
    () => {
        match Mosquitto::start_or_skip() {
            Some(broker) => broker,
            None => return,
        }
    };
}

/// Starts realtime on `config` and waits until its subscription is in place.
async fn start_subscribed(config: &Config) -> Realtime {
    let realtime = Realtime::start(config.clone()).await;
    realtime.wait_subscribed().await;
    realtime
}

// ---- MQTT helpers -------------------------------------------------------------------------------

/// Publishes `payload` on `topic` at QoS 1.
async fn publish(sub: &Subscriber, topic: &str, payload: Vec<u8>) {
    sub.client()
        .publish(topic, QoS::AtLeastOnce, false, payload)
        .await
        .expect("publish queued");
}

/// Publishes `r` on its sensor's reading topic under `prefix`.
async fn publish_reading(sub: &Subscriber, prefix: &str, r: &Reading) {
    let topic = format!("{prefix}/v1/sensors/{}/reading", r.sensor_id);
    publish(sub, &topic, r.to_json()).await;
}

/// A valid temperature reading.
fn reading(sensor: &str, seq: u64, time: Timestamp, (lon, lat): (f64, f64), t: f64) -> Reading {
    let mut r = Reading::new(
        sensor,
        "bme280",
        Source::Device,
        time,
        seq,
        Location::new(lon, lat),
    );
    r.quantities.set(Quantity::Temperature, t);
    r
}

fn now() -> Timestamp {
    Timestamp::now()
}

/// The aggregates among `messages`, decoded, in arrival order.
fn aggregates(messages: &[Message]) -> Vec<NeighbourhoodAggregate> {
    messages
        .iter()
        .filter(|m| m.topic.ends_with("/aggregate"))
        .map(|m| {
            let a: NeighbourhoodAggregate = serde_json::from_slice(&m.payload)
                .unwrap_or_else(|e| panic!("{}: {e}: {}", m.topic, m.text()));
            assert!(
                m.topic.ends_with(&format!(
                    "/v1/neighbourhoods/{}/aggregate",
                    a.neighbourhood_id
                )),
                "{}",
                m.topic
            );
            a
        })
        .collect()
}

/// The error reports among `messages`, with their topics, decoded, in arrival order.
fn error_reports(messages: &[Message]) -> Vec<(String, ErrorReport)> {
    messages
        .iter()
        .filter(|m| m.topic.contains("/v1/errors/"))
        .map(|m| {
            let report = serde_json::from_slice(&m.payload)
                .unwrap_or_else(|e| panic!("{}: {e}: {}", m.topic, m.text()));
            (m.topic.clone(), report)
        })
        .collect()
}

/// The temperature statistics of an aggregate.
fn temperature(a: &NeighbourhoodAggregate) -> WindowStats {
    *a.quantities
        .get(&Quantity::Temperature)
        .unwrap_or_else(|| panic!("no temperature in {a:?}"))
}

/// How realtime quotes a payload in an error report.
fn excerpt(payload: &[u8]) -> String {
    String::from_utf8_lossy(&payload[..payload.len().min(256)]).into_owned()
}

fn is_reading_topic(prefix: &str, topic: &str) -> bool {
    topic.starts_with(&format!("{prefix}/v1/sensors/")) && topic.ends_with("/reading")
}

/// `a` and `b` agree to 1e-9 relative to `scale` (the magnitude of the values they come from,
/// so a mean near zero is not held to an impossible standard).
fn close(a: f64, b: f64, scale: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(scale)
}

// ---- a. The simulator's fleet, recomputed --------------------------------------------------------

/// A payload realtime must refuse, as this test judges it.
struct Refused<'a> {
    topic: &'a str,
    payload: &'a [u8],
    sensor: &'a str,
    rule: Rule,
    pointer: String,
}

/// The statistics of one quantity, recomputed: each sensor's values.
#[derive(Default)]
struct Expected {
    by_sensor: BTreeMap<String, Vec<f64>>,
}

impl Expected {
    fn stats(&self) -> WindowStats {
        let all = self.by_sensor.values().flatten().copied();
        let means: Vec<f64> = self
            .by_sensor
            .values()
            .map(|v| v.iter().sum::<f64>() / v.len() as f64)
            .collect();
        let mean = means.iter().sum::<f64>() / means.len() as f64;
        WindowStats {
            mean,
            min: all.clone().fold(f64::INFINITY, f64::min),
            max: all.fold(f64::NEG_INFINITY, f64::max),
            readings: self.by_sensor.values().map(|v| v.len() as u64).sum(),
            sensors: self.by_sensor.len() as u32,
            // Weather quantities: mean in time, mean in space.
            value: mean,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulated_fleet_gives_every_quartier_the_aggregates_its_readings_make() {
    let broker = broker_or_skip!();
    let prefix = "e2e-fleet";
    let (_state, mut sub, _, _, realtime) = setup(&broker, prefix, &QUARTIERS).await;

    let fleet = SimulateConfig {
        mqtt: MqttConfig::parse(&broker.url(), prefix, format!("{prefix}-simulator"))
            .expect("[mqtt]"),
        data_dir: data_dir(),
        neighbourhoods: None,
        fleet: FleetConfig {
            speed: 600.0,
            rate_hz: 2.0,
            density: 2,
            seed: 11,
            faults: 0.05,
            rebase: true,
        },
        duration: Some(Duration::from_secs(8)),
        qos: QoS::AtLeastOnce,
        progress: false,
    };
    let simulated = tokio::time::timeout(
        Duration::from_secs(40),
        simulate::run(fleet, CancellationToken::new()),
    )
    .await
    .expect("the simulator stops after its duration")
    .expect("the simulator runs");
    assert!(simulated.delivered, "the broker took every reading");
    assert_eq!(simulated.sensors, 77 + 2 * 20);

    // Realtime has taken every reading message the subscriber saw (the probe among them).
    let deadline = tokio::time::Instant::now() + WAIT;
    let seen = loop {
        let seen = sub
            .collect()
            .iter()
            .filter(|m| is_reading_topic(prefix, &m.topic))
            .count() as u64;
        let counted = realtime
            .metric("garonne_realtime_messages_received_total")
            .await as u64;
        if seen == simulated.published + 1 && counted == seen {
            break seen;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "realtime counted {counted} messages, the subscriber saw {seen} readings of {} \
             published and the probe",
            simulated.published
        );
        tokio::time::sleep(POLL).await;
    };
    let summary = realtime.stop().await;
    assert!(
        summary.delivered,
        "realtime's last publications reached the broker"
    );
    let c = &summary.counters;
    assert_eq!(c.messages, seen);
    let messages = sub
        .wait_for(
            "every aggregate, rolling statistic and error report realtime published",
            WAIT,
            |m| {
                let count = |suffix: &str| m.iter().filter(|m| m.topic.ends_with(suffix)).count();
                count("/aggregate") as u64 == c.aggregates
                    && count("/rolling") as u64 == c.rolling
                    && m.iter().filter(|m| m.topic.contains("/v1/errors/")).count() as u64
                        == c.error_reports
            },
        )
        .await;

    // The readings, judged and placed here.
    let areas = read_areas(&QUARTIERS);
    assert_eq!(areas.len(), 20);
    let far_future = Timestamp::new(i64::MAX / 4, 0).expect("far future");
    let mut refused: Vec<Refused> = Vec::new();
    let mut accepted: Vec<(Reading, Option<usize>)> = Vec::new();
    let mut distinct = HashSet::new();
    let mut repeats = 0u64;
    let mut places: HashMap<(u64, u64), Option<usize>> = HashMap::new();
    for m in messages
        .iter()
        .filter(|m| is_reading_topic(prefix, &m.topic))
    {
        let sensor = m.topic.rsplit('/').nth(1).expect("a sensor segment");
        match parse_reading(&m.payload, far_future, &Limits::default()) {
            Ok(r) => {
                assert_eq!(r.sensor_id, sensor, "{}", m.topic);
                if !distinct.insert((r.sensor_id.clone(), r.seq, r.time)) {
                    repeats += 1;
                    continue;
                }
                let (lon, lat) = (r.location.lon, r.location.lat);
                let area = *places
                    .entry((lon.to_bits(), lat.to_bits()))
                    .or_insert_with(|| locate(&areas, lon, lat));
                accepted.push((r, area));
            }
            Err(e) => refused.push(Refused {
                topic: &m.topic,
                payload: &m.payload,
                sensor,
                rule: e.violations[0].rule,
                pointer: e.violations[0].pointer.clone(),
            }),
        }
    }
    let refused_by = |rule| refused.iter().filter(|r| r.rule == rule).count() as u64;
    let faults = |fault: Fault| simulated.fleet.faults[fault.index()];
    assert_eq!(refused_by(Rule::JsonSyntax), faults(Fault::Malformed) + 1);
    assert_eq!(refused_by(Rule::Range), faults(Fault::Sentinel));
    assert_eq!(
        refused.len() as u64,
        faults(Fault::Malformed) + 1 + faults(Fault::Sentinel)
    );
    assert_eq!(repeats, faults(Fault::Duplicate));
    assert!(faults(Fault::Malformed) > 0 && faults(Fault::Sentinel) > 0 && repeats > 0);
    let outside: Vec<&Reading> = accepted
        .iter()
        .filter(|(_, a)| a.is_none())
        .map(|(r, _)| r)
        .collect();
    // Realtime agrees on every count.
    assert_eq!(c.readings, accepted.len() as u64, "readings folded");
    assert_eq!(c.duplicates, repeats, "repeats dropped");
    assert_eq!(c.outside, outside.len() as u64, "readings outside");
    assert_eq!(c.rejected(Rule::JsonSyntax), refused_by(Rule::JsonSyntax));
    assert_eq!(c.rejected(Rule::Range), refused_by(Rule::Range));
    assert_eq!(c.rejected(Rule::Late), 0);

    // Every quartier has aggregates; the last one of each window is what its readings make.
    let mut last: BTreeMap<(String, i64), NeighbourhoodAggregate> = BTreeMap::new();
    for a in aggregates(messages) {
        last.insert((a.neighbourhood_id.clone(), a.window_start.unix_secs()), a);
    }
    for area in &areas {
        assert!(
            last.keys().any(|(id, _)| id == &area.id),
            "no aggregate for quartier {} ({})",
            area.id,
            area.name
        );
    }
    for ((id, _), aggregate) in &last {
        let a = areas
            .iter()
            .position(|area| &area.id == id)
            .unwrap_or_else(|| panic!("aggregate for an unknown quartier {id}"));
        assert_eq!(aggregate.name, areas[a].name);
        assert_eq!(
            aggregate.window_end.secs_since(aggregate.window_start),
            3600.0
        );
        let mut expected: BTreeMap<Quantity, Expected> = BTreeMap::new();
        for (r, _) in accepted.iter().filter(|(r, area)| {
            *area == Some(a) && aggregate.window_start <= r.time && r.time < aggregate.window_end
        }) {
            for (q, v) in r.quantities.iter() {
                expected
                    .entry(q)
                    .or_default()
                    .by_sensor
                    .entry(r.sensor_id.clone())
                    .or_default()
                    .push(v);
            }
        }
        let quantities: Vec<&Quantity> = aggregate.quantities.keys().collect();
        assert_eq!(
            quantities,
            expected.keys().collect::<Vec<_>>(),
            "quantities of quartier {id}"
        );
        for (q, e) in &expected {
            let want = e.stats();
            let got = aggregate.quantities[q];
            let what = format!(
                "quartier {id}, {}: got {got:?}, recomputed {want:?}",
                q.name()
            );
            assert_eq!(
                (got.readings, got.sensors, got.min, got.max),
                (want.readings, want.sensors, want.min, want.max),
                "{what}"
            );
            let scale = want.min.abs().max(want.max.abs());
            assert!(close(got.mean, want.mean, scale), "{what}");
        }
    }

    // Every refused reading has its report, with the rule and place of the fault, or was
    // suppressed (one report per sensor per second); so has every sensor outside the quartiers.
    let reports = error_reports(messages);
    assert_eq!(reports.len() as u64, c.error_reports);
    let mut reported = vec![false; refused.len()];
    let outside_sensors: BTreeSet<&str> = outside.iter().map(|r| r.sensor_id.as_str()).collect();
    let mut outside_reported: BTreeSet<String> = BTreeSet::new();
    let mut senders: BTreeSet<String> = BTreeSet::new();
    for (topic, report) in &reports {
        let first = &report.errors[0];
        assert!(
            !first.message.is_empty() && !first.hint.is_empty(),
            "{report:?}"
        );
        let sender = report.sensor_id.clone().expect("every sender is known");
        assert_eq!(topic, &format!("{prefix}/v1/errors/{sender}"));
        senders.insert(sender.clone());
        if first.rule == Rule::OutsideArea {
            assert_eq!(first.pointer, "/location");
            assert!(outside_sensors.contains(sender.as_str()), "{report:?}");
            assert!(
                outside_reported.insert(sender),
                "reported twice: {report:?}"
            );
            continue;
        }
        let i = (0..refused.len())
            .find(|&i| {
                !reported[i]
                    && refused[i].topic == report.topic
                    && excerpt(refused[i].payload) == report.excerpt
            })
            .unwrap_or_else(|| panic!("a report of nothing refused: {report:?}"));
        reported[i] = true;
        assert_eq!(
            (first.rule, first.pointer.as_str(), sender.as_str()),
            (
                refused[i].rule,
                refused[i].pointer.as_str(),
                refused[i].sensor
            ),
            "{report:?}"
        );
    }
    let unreported: Vec<&Refused> = refused
        .iter()
        .zip(&reported)
        .filter(|(_, r)| !**r)
        .map(|(f, _)| f)
        .collect();
    let outside_unreported = outside_sensors.len() - outside_reported.len();
    assert_eq!(
        (unreported.len() + outside_unreported) as u64,
        c.error_reports_suppressed,
        "what has no report was suppressed"
    );
    // A suppressed report follows one published for the same sensor less than a second before.
    for r in &unreported {
        assert!(
            senders.contains(r.sensor),
            "{} never had a report",
            r.sensor
        );
    }
}

// ---- b. Bad input ------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_reported_on_the_senders_error_topic_and_never_stops_it() {
    let broker = broker_or_skip!();
    let prefix = "e2e-bad";
    let (_state, mut sub, _, areas, realtime) = setup(&broker, prefix, &QUARTIERS).await;

    let t0 = now();
    let inside = areas[0].interior_point();
    let json = |r: Reading| r.to_json();
    // One sender per case: at most one report per sensor per second would hide the next one.
    // (topic's id segment, payload, errors topic's last segment, sender in the report, rule,
    // pointer)
    type Case<'a> = (&'a str, Vec<u8>, &'a str, Option<&'a str>, Rule, &'a str);
    let huge = [b'['; 300_000].to_vec();
    let cases: Vec<Case> = vec![
        (
            "pi-1",
            b"\xff\xfe not JSON {".to_vec(),
            "pi-1",
            Some("pi-1"),
            Rule::JsonSyntax,
            "",
        ),
        (
            "pi-2",
            json(reading("pi-2", 0, t0, inside, 99.0)),
            "pi-2",
            Some("pi-2"),
            Rule::Range,
            "/quantities/temperature",
        ),
        // Someone publishing as pi-4 on pi-3's topic: pi-3's topic owner hears of it.
        (
            "pi-3",
            json(reading("pi-4", 0, t0, inside, 12.0)),
            "pi-3",
            Some("pi-3"),
            Rule::SensorMismatch,
            "/sensor_id",
        ),
        // Paris: valid, folded for the sensor, in no quartier.
        (
            "pi-5",
            json(reading("pi-5", 0, t0, (2.3522, 48.8566), 12.0)),
            "pi-5",
            Some("pi-5"),
            Rule::OutsideArea,
            "/location",
        ),
        // No valid id in the topic nor in the payload: reported all the same, on errors/unknown.
        (
            "-not valid!",
            b"{\"v\": 1}".to_vec(),
            "unknown",
            None,
            Rule::Required,
            "/sensor_id",
        ),
        // A valid reading of pi-6 on a topic whose id is not a sensor id: refused, and reported
        // to its sender, not on an errors topic named after the invalid id.
        (
            "-not valid!",
            json(reading("pi-6", 0, t0, inside, 12.0)),
            "pi-6",
            Some("pi-6"),
            Rule::SensorMismatch,
            "/sensor_id",
        ),
        (
            "pi-7",
            Vec::new(),
            "pi-7",
            Some("pi-7"),
            Rule::JsonSyntax,
            "",
        ),
        // Over the reading size bound, opening a SenML pack that never closes.
        ("pi-8", huge, "pi-8", Some("pi-8"), Rule::Size, ""),
    ];
    for (segment, payload, _, _, _, _) in &cases {
        publish(
            &sub,
            &format!("{prefix}/v1/sensors/{segment}/reading"),
            payload.clone(),
        )
        .await;
    }
    // Then a valid reading: it still makes an aggregate.
    let good = reading("pi-9", 0, t0, inside, 14.5);
    publish_reading(&sub, prefix, &good).await;
    let messages = sub
        .wait_for(
            "a report for each bad payload, and the aggregate",
            WAIT,
            |m| {
                let reports = error_reports(m);
                cases.iter().all(|(segment, payload, ..)| {
                    let topic = format!("{prefix}/v1/sensors/{segment}/reading");
                    reports
                        .iter()
                        .any(|(_, r)| r.topic == topic && r.excerpt == excerpt(payload))
                }) && aggregates(m)
                    .iter()
                    .any(|a| a.neighbourhood_id == areas[0].id() && temperature(a).readings == 1)
            },
        )
        .await;
    let reports = error_reports(messages);
    // Every case is checked before failing, so one failure shows them all.
    let mut wrong = Vec::new();
    for (segment, payload, error_segment, sender, rule, pointer) in &cases {
        let topic = format!("{prefix}/v1/sensors/{segment}/reading");
        let (report_topic, report) = reports
            .iter()
            .find(|(_, r)| r.topic == topic && r.excerpt == excerpt(payload))
            .unwrap_or_else(|| panic!("no report for {topic}: {reports:#?}"));
        let first = &report.errors[0];
        let want = (
            format!("{prefix}/v1/errors/{error_segment}"),
            *sender,
            *rule,
            *pointer,
        );
        let got = (
            report_topic.clone(),
            report.sensor_id.as_deref(),
            first.rule,
            first.pointer.as_str(),
        );
        if got != want || first.message.is_empty() || first.hint.is_empty() {
            wrong.push(format!("expected {want:?}, got {report:#?}"));
        }
        assert!(report.received_at >= t0, "{report:?}");
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    let aggregate = aggregates(messages)
        .into_iter()
        .rfind(|a| a.neighbourhood_id == areas[0].id())
        .expect("the aggregate");
    assert_eq!(
        temperature(&aggregate),
        WindowStats {
            mean: 14.5,
            min: 14.5,
            max: 14.5,
            readings: 1,
            sensors: 1,
            value: 14.5
        },
        "only the good reading counts"
    );

    assert_eq!(
        realtime.metric("garonne_realtime_mqtt_connected").await,
        1.0,
        "still running"
    );
    let summary = realtime.stop().await;
    let c = summary.counters;
    // The probe, the cases, the good reading.
    assert_eq!(c.messages, 1 + cases.len() as u64 + 1);
    assert_eq!((c.readings, c.outside), (2, 1), "pi-5 and pi-9 folded");
    assert_eq!(c.error_reports_suppressed, 0);
}

// ---- c. A clean restart ------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_restart_keeps_the_windows() {
    let broker = broker_or_skip!();
    let prefix = "e2e-restart";
    let (_state, mut sub, config, areas, realtime) = setup(&broker, prefix, &QUARTIERS).await;
    let snapshot = config.snapshot.clone().expect("a snapshot file");

    // Two sensors in the first quartier, one in the second; every time in the window of t0,
    // which stays open through the test even if the hour turns (two minutes of lateness).
    let t0 = now();
    let at = |ms: i64| t0.add_nanos(ms * 1_000_000);
    let (a, b) = (areas[0].interior_point(), areas[1].interior_point());
    let first = [
        reading("c-1", 0, at(0), a, 10.0),
        reading("c-1", 1, at(1), a, 12.0),
        reading("c-1", 2, at(2), a, 14.0),
        reading("c-2", 0, at(3), a, 20.0),
        reading("c-3", 0, at(4), b, 5.0),
        reading("c-3", 1, at(5), b, 7.0),
    ];
    for r in &first {
        publish_reading(&sub, prefix, r).await;
    }
    let (id_a, id_b) = (areas[0].id().to_owned(), areas[1].id().to_owned());
    let readings_of = |m: &[Message], id: &str| {
        aggregates(m)
            .iter()
            .rfind(|x| x.neighbourhood_id == id)
            .map(|x| (temperature(x).readings, x.window_start))
    };
    let messages = sub
        .wait_for("the aggregates of the first run", WAIT, |m| {
            readings_of(m, &id_a).is_some_and(|(n, _)| n == 4)
                && readings_of(m, &id_b).is_some_and(|(n, _)| n == 2)
        })
        .await;
    let (_, window) = readings_of(messages, &id_a).expect("aggregate");
    let summary = realtime.stop().await;
    assert_eq!(summary.counters.readings, 6);
    assert!(snapshot.exists(), "the snapshot is written at shutdown");

    // Again, with the same snapshot and a new /metrics listener.
    let mark = sub.collect().len();
    let realtime = Realtime::start(config).await;
    realtime
        .wait_metric("garonne_realtime_sensors", |v| v == 3.0)
        .await;
    publish_reading(&sub, prefix, &reading("c-2", 1, at(6), a, 30.0)).await;
    let messages = sub
        .wait_for("the aggregate with the new reading", WAIT, |m| {
            readings_of(&m[mark..], &id_a).is_some_and(|(n, _)| n == 5)
                && readings_of(&m[mark..], &id_b).is_some_and(|(n, _)| n == 2)
        })
        .await;
    let after: Vec<NeighbourhoodAggregate> = aggregates(&messages[mark..])
        .into_iter()
        .filter(|x| x.neighbourhood_id == id_a)
        .collect();
    for x in &after {
        assert_eq!(x.window_start, window, "the same window: {x:?}");
        assert!(temperature(x).readings >= 4, "the old readings kept: {x:?}");
    }
    let last = temperature(after.last().expect("an aggregate"));
    // c-1: 10, 12, 14 (mean 12); c-2: 20, 30 (mean 25).
    assert_eq!(
        (last.readings, last.sensors, last.min, last.max),
        (5, 2, 10.0, 30.0)
    );
    assert!(close(last.mean, 18.5, 30.0), "{last:?}");
    let summary = realtime.stop().await;
    assert_eq!(
        (summary.restored.sensors, summary.restored.dropped_panes),
        (3, 0)
    );
    assert!(summary.restored.panes >= 3, "{:?}", summary.restored);
}

/// Readings keep coming while realtime restarts. The broker holds them for the session while
/// neither run is connected; each must be in the map once, whichever run took it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_restart_under_traffic_counts_every_reading_once() {
    let broker = broker_or_skip!();
    let prefix = "e2e-traffic";
    let (_state, mut sub, config, areas, realtime) = setup(&broker, prefix, &QUARTIERS).await;

    // A steady stream: ten sensors in the first quartier, 20 readings every 10 ms, every time
    // in the window of t0.
    let place = areas[0].interior_point();
    let id = areas[0].id().to_owned();
    let t0 = now();
    let stop = CancellationToken::new();
    let publisher = tokio::spawn({
        let (client, stop) = (sub.client().clone(), stop.clone());
        async move {
            let mut n = 0u64;
            while !stop.is_cancelled() {
                for _ in 0..20 {
                    let sensor = format!("f-{}", n % 10);
                    let time = t0.add_nanos(n as i64 * 1000);
                    let r = reading(&sensor, n / 10, time, place, 10.0 + (n % 7) as f64);
                    let topic = format!("{prefix}/v1/sensors/{sensor}/reading");
                    client
                        .publish(topic, QoS::AtLeastOnce, false, r.to_json())
                        .await
                        .expect("publish queued");
                    n += 1;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            n
        }
    });

    // Stopped, and started again, in the middle of the stream.
    let folded = "garonne_realtime_readings_folded_total";
    realtime.wait_metric(folded, |v| v >= 500.0).await;
    let first = realtime.stop().await;
    let realtime = Realtime::start(config).await;
    realtime.wait_metric(folded, |v| v >= 500.0).await;
    stop.cancel();
    let published = tokio::time::timeout(WAIT, publisher)
        .await
        .expect("the publisher stops")
        .expect("the publisher task completes");
    let probe = format!("{prefix}/v1/sensors/probe/reading");
    sub.wait_for("every reading back from the broker", WAIT, |m| {
        m.iter()
            .filter(|m| is_reading_topic(prefix, &m.topic) && m.topic != probe)
            .count() as u64
            == published
    })
    .await;
    let in_the_map = |m: &[Message]| {
        aggregates(m)
            .iter()
            .rfind(|a| a.neighbourhood_id == id)
            .map_or(0, |a| temperature(a).readings)
    };
    // Given time to fold them all; what is missing then is lost.
    let _ = sub
        .try_wait_for(Duration::from_secs(10), |m| in_the_map(m) >= published)
        .await;
    let second = realtime.stop().await;
    let aggregates_published = first.counters.aggregates + second.counters.aggregates;
    let messages = sub
        .wait_for("every aggregate of both runs", WAIT, |m| {
            m.iter().filter(|m| m.topic.ends_with("/aggregate")).count() as u64
                == aggregates_published
        })
        .await;
    assert_eq!(
        in_the_map(messages),
        published,
        "readings in the map, of those published; the first run folded {} of the {} messages \
         it took, the second {} of {} (and dropped {} repeats)",
        first.counters.readings,
        first.counters.messages,
        second.counters.readings,
        second.counters.messages,
        second.counters.duplicates
    );
}

// ---- d. A broker restart -------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readings_published_after_a_broker_restart_are_folded() {
    let mut broker = broker_or_skip!();
    let prefix = "e2e-broker";
    let (_state, mut sub, _, areas, realtime) = setup(&broker, prefix, &QUARTIERS).await;

    let t0 = now();
    let at = |ms: i64| t0.add_nanos(ms * 1_000_000);
    let place = areas[0].interior_point();
    let id = areas[0].id().to_owned();
    let readings_of = |m: &[Message]| {
        aggregates(m)
            .iter()
            .rfind(|x| x.neighbourhood_id == id)
            .map(|x| temperature(x).readings)
    };
    publish_reading(&sub, prefix, &reading("d-1", 0, at(0), place, 10.0)).await;
    sub.wait_for("the first aggregate", WAIT, |m| readings_of(m) == Some(1))
        .await;
    let before = realtime
        .metric("garonne_realtime_messages_received_total")
        .await;

    tokio::task::block_in_place(|| broker.restart()).expect("the broker restarts");
    let mark = sub.collect().len();
    publish_reading(&sub, prefix, &reading("d-1", 1, at(1), place, 11.0)).await;
    publish_reading(&sub, prefix, &reading("d-1", 2, at(2), place, 12.0)).await;
    sub.wait_for(
        "the aggregate of the readings after the restart",
        WAIT,
        |m| readings_of(&m[mark..]) == Some(3),
    )
    .await;
    realtime
        .wait_metric("garonne_realtime_messages_received_total", |v| {
            v >= before + 2.0
        })
        .await;
    assert!(
        realtime
            .metric("garonne_realtime_mqtt_connection_errors_total")
            .await
            >= 1.0,
        "realtime saw the broker go"
    );
    let summary = realtime.stop().await;
    assert_eq!(summary.counters.readings, 3);
    assert!(summary.delivered);
}

// ---- e. Other polygon files --------------------------------------------------------------------

/// One reading at the interior point of each polygon of `layer`: each gets its aggregate.
async fn every_polygon_gets_an_aggregate(layer: &Layer, prefix: &str, expected: usize) {
    let broker = broker_or_skip!();
    let (_state, mut sub, _, placed, realtime) = setup_with(&broker, prefix, layer, |config| {
        config.id_property = Some(layer.id.to_owned());
        config.name_property = Some(layer.name.to_owned());
    })
    .await;
    let areas = read_areas(layer);
    assert_eq!((placed.len(), areas.len()), (expected, expected));

    let t0 = now();
    let value = |i: usize| 10.0 + i as f64 / 8.0;
    for (i, area) in areas.iter().enumerate() {
        let point = placed[i].interior_point();
        assert_eq!(locate(&areas, point.0, point.1), Some(i), "{}", area.id);
        let sensor = format!("e-{i}");
        publish_reading(&sub, prefix, &reading(&sensor, 0, t0, point, value(i))).await;
    }
    let messages = sub
        .wait_for("an aggregate for every polygon", WAIT, |m| {
            let ids: BTreeSet<String> = aggregates(m)
                .into_iter()
                .map(|a| a.neighbourhood_id)
                .collect();
            ids.len() == expected
        })
        .await;
    let last: BTreeMap<String, NeighbourhoodAggregate> = aggregates(messages)
        .into_iter()
        .map(|a| (a.neighbourhood_id.clone(), a))
        .collect();
    for (i, area) in areas.iter().enumerate() {
        let a = last
            .get(&area.id)
            .unwrap_or_else(|| panic!("no aggregate for {} ({})", area.id, area.name));
        assert_eq!(a.name, area.name);
        let v = value(i);
        assert_eq!(
            temperature(a),
            WindowStats {
                mean: v,
                min: v,
                max: v,
                readings: 1,
                sensors: 1,
                value: v
            },
            "{}",
            area.id
        );
    }
    let summary = realtime.stop().await;
    assert_eq!(
        (summary.counters.readings, summary.counters.outside),
        (expected as u64, 0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_60_grands_quartiers_each_get_their_aggregate() {
    every_polygon_gets_an_aggregate(&GRANDS_QUARTIERS, "e2e-grands-quartiers", 60).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_37_communes_each_get_their_aggregate() {
    every_polygon_gets_an_aggregate(&COMMUNES, "e2e-communes", 37).await;
}

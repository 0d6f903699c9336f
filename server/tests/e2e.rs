//! The server against a real mosquitto and a real embedded store, through HTTP on loopback:
//! retained messages published before it starts rebuild its state, live ones reach `/events`,
//! history comes from the store the historian's code wrote, a broker restart is survived, and
//! shutdown returns with an event stream still open.

mod common;

use std::future::Future;
use std::path::Path;
use std::time::Duration;

use futures_util::StreamExt;
use garonne_server::{Config, HistorySource, ServerError, Summary};
use garonne_service::config::MqttConfig;
use garonne_testkit::{Mosquitto, Subscriber, Task};
use rumqttc::QoS;
use serde_json::Value;

use common::*;

/// Longest wait for anything.
const WAIT: Duration = Duration::from_secs(15);

/// Polls `probe` every 50 ms until it gives `Some`, at most [`WAIT`].
async fn eventually<T, F: Future<Output = Option<T>>>(
    what: &str,
    mut probe: impl FnMut() -> F,
) -> T {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn get(client: &reqwest::Client, url: &str) -> (u16, String) {
    match client.get(url).send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            (status, response.text().await.unwrap_or_default())
        }
        Err(e) => (0, e.to_string()),
    }
}

async fn get_json(client: &reqwest::Client, url: &str) -> Value {
    let (status, body) = get(client, url).await;
    assert_eq!(status, 200, "{url}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{url}: not JSON ({e}): {body}"))
}

/// A running server.
struct Server {
    /// `http://127.0.0.1:PORT`.
    base: String,
    /// `serve`, spawned; stopped when dropped.
    task: Task<Summary, ServerError>,
}

impl Server {
    /// Starts the server as `run` does (polygons from a file, a listener bound to a free port)
    /// on `broker`, with `dir` for the polygons and the embedded store `history.sqlite`;
    /// returns once `/readyz` says ready.
    async fn start(
        broker: &Mosquitto,
        client_id: Option<&str>,
        dir: &Path,
        http: &reqwest::Client,
    ) -> Server {
        let polygons = dir.join("squares.geojson");
        std::fs::write(&polygons, SQUARES).expect("polygons");
        let mut mqtt = MqttConfig::new(broker.url().parse().expect("broker URL"));
        mqtt.client_id = client_id.map(str::to_owned);
        let config = Config {
            mqtt,
            neighbourhoods: polygons,
            id_property: Some("code".into()),
            name_property: Some("label".into()),
            http_addr: "127.0.0.1:0".parse().expect("addr"),
            static_dir: dir.join("dist"),
            ..Config::default()
        };
        let areas = garonne_server::load_neighbourhoods(&config).expect("polygons load");
        let listener = garonne_server::bind(config.http_addr).await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let history = HistorySource::embedded(dir.join("history.sqlite"));
        let task = Task::spawn("the server", |shutdown| {
            garonne_server::serve(config, areas, history, listener, shutdown)
        });
        eventually("/readyz to say ready", || async {
            (get(http, &format!("{base}/readyz")).await.0 == 200).then_some(())
        })
        .await;
        Server { base, task }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retained_state_live_events_history_and_a_broker_restart() {
    let Some(mut broker) = Mosquitto::start_or_skip() else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");

    // Before the server starts: retained messages on the broker, history in the store.
    let mut publisher = Subscriber::start(&broker, "e2e-server-publisher", &["garonne/v1/#"]).await;
    let t0 = ts("2025-11-24T10:00:00Z");
    let retained = [
        (
            "garonne/v1/neighbourhoods/east/aggregate".to_owned(),
            aggregate("east", t0, 11.0, 6),
        ),
        (
            "garonne/v1/sensors/pi-2/status".to_owned(),
            status("pi-2", "online"),
        ),
        (
            "garonne/v1/alerts/heat/neighbourhood-east".to_owned(),
            alert("raised"),
        ),
    ];
    for (topic, payload) in &retained {
        publisher
            .client()
            .publish(topic.as_str(), QoS::AtLeastOnce, true, payload.clone())
            .await
            .expect("publish");
    }
    publisher
        .wait_for("the retained messages", WAIT, |m| m.len() >= retained.len())
        .await;
    let history_messages: Vec<(String, String)> = (0..4)
        .map(|i| {
            let start = t0.add_nanos(i * 900 * 1_000_000_000);
            (
                "garonne/v1/neighbourhoods/east/aggregate".to_owned(),
                aggregate("east", start, 10.0 + i as f64, 5),
            )
        })
        .collect();
    write_history(
        &dir.path().join("history.sqlite"),
        &history_messages,
        ts("2025-11-24T12:00:00Z"),
    )
    .await;

    let http = reqwest::Client::new();
    let server = Server::start(&broker, Some("e2e-server"), dir.path(), &http).await;
    let base = &server.base;

    // The retained state is there.
    let neighbourhoods = eventually("the retained aggregate in /api/neighbourhoods", || async {
        let v = get_json(&http, &format!("{base}/api/neighbourhoods")).await;
        (!v["features"][1]["properties"]["aggregate"].is_null()).then_some(v)
    })
    .await;
    assert_eq!(
        neighbourhoods["features"][1]["properties"]["aggregate"]["quantities"]["temperature"]["mean"],
        11.0
    );
    assert_eq!(
        neighbourhoods["features"][0]["properties"]["aggregate"],
        Value::Null
    );
    let sensors = eventually("the retained status in /api/sensors", || async {
        let v = get_json(&http, &format!("{base}/api/sensors")).await;
        (v["features"].as_array().is_some_and(|f| !f.is_empty())).then_some(v)
    })
    .await;
    assert_eq!(sensors["features"][0]["properties"]["sensor_id"], "pi-2");
    assert_eq!(sensors["features"][0]["properties"]["state"], "online");
    let alerts = eventually("the retained alert in /api/alerts", || async {
        let v = get_json(&http, &format!("{base}/api/alerts")).await;
        (v.as_array().is_some_and(|a| a.len() == 1)).then_some(v)
    })
    .await;
    assert_eq!(alerts[0]["scope"]["id"], "east");

    // Live messages reach /events as published.
    let response = http
        .get(format!("{base}/events?kinds=aggregate,status,reading"))
        .send()
        .await
        .expect("events");
    assert_eq!(response.status().as_u16(), 200);
    let mut events = response.bytes_stream();
    let live_aggregate = aggregate("west", t0.add_nanos(3_600_000_000_000), 7.5, 3);
    let now = garonne_server::api::now();
    let live_reading = reading("s1", now.add_nanos(-1_000_000_000), 12.0);
    // The stream may open a moment after the response: publish until the first event comes.
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    while !(text.contains(&format!("event: aggregate\ndata: {live_aggregate}\n\n"))
        && text.contains(&format!("event: reading\ndata: {live_reading}\n\n")))
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "events not received; got: {text}"
        );
        let client = publisher.client();
        client
            .publish(
                "garonne/v1/neighbourhoods/west/aggregate",
                QoS::AtLeastOnce,
                true,
                live_aggregate.clone(),
            )
            .await
            .expect("publish");
        client
            .publish(
                "garonne/v1/sensors/s1/reading",
                QoS::AtLeastOnce,
                false,
                live_reading.clone(),
            )
            .await
            .expect("publish");
        if let Ok(Some(chunk)) =
            tokio::time::timeout(Duration::from_millis(500), events.next()).await
        {
            text.push_str(&String::from_utf8_lossy(&chunk.expect("chunk")));
            while let Ok(Some(chunk)) =
                tokio::time::timeout(Duration::from_millis(200), events.next()).await
            {
                text.push_str(&String::from_utf8_lossy(&chunk.expect("chunk")));
            }
        }
    }
    let v = get_json(&http, &format!("{base}/api/neighbourhoods")).await;
    assert_eq!(
        v["features"][0]["properties"]["aggregate"]["quantities"]["temperature"]["mean"],
        7.5
    );

    // History from the store.
    let history = get_json(
        &http,
        &format!("{base}/api/history?neighbourhood=east&quantity=temperature&from=2025-11-24T10:00:00Z&to=2025-11-24T11:00:00Z&every=3600"),
    )
    .await;
    assert_eq!(
        history["buckets"],
        serde_json::json!([{"start": "2025-11-24T10:00:00Z", "mean": 11.5, "min": 9.0, "max": 14.0, "count": 20}])
    );

    // A broker restart: the server reconnects, and sees what is retained after it.
    broker.restart().expect("broker restarts");
    let publisher = Subscriber::start(
        &broker,
        "e2e-server-publisher-2",
        &["garonne/v1/sensors/+/status"],
    )
    .await;
    publisher
        .client()
        .publish(
            "garonne/v1/sensors/pi-3/status",
            QoS::AtLeastOnce,
            true,
            status("pi-3", "offline"),
        )
        .await
        .expect("publish");
    let sensors = eventually("a status published after the restart", || async {
        let v = get_json(&http, &format!("{base}/api/sensors")).await;
        (v["features"]
            .as_array()
            .is_some_and(|f| f.iter().any(|s| s["id"] == "pi-3")))
        .then_some(v)
    })
    .await;
    let pi3 = sensors["features"]
        .as_array()
        .and_then(|f| f.iter().find(|s| s["id"] == "pi-3"))
        .cloned();
    assert_eq!(
        pi3.map(|s| s["properties"]["state"].clone()),
        Some(Value::from("offline"))
    );

    // Shutdown returns although an event stream is open, and the stream ends.
    let summary = server.task.stop_within(WAIT).await;
    assert!(summary.sensors >= 3, "{summary:?}");
    let rest = tokio::time::timeout(WAIT, async {
        while let Some(Ok(_)) = events.next().await {}
    })
    .await;
    assert!(rest.is_ok(), "the event stream ends at shutdown");
}

/// `serve` returns at shutdown when the broker went away first (compose stopping mosquitto
/// before the server): its MQTT connection is waiting to reconnect, and must not hold it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_returns_with_the_broker_gone() {
    let Some(mut broker) = Mosquitto::start_or_skip() else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let http = reqwest::Client::new();
    let server = Server::start(&broker, None, dir.path(), &http).await;
    let base = &server.base;

    broker.stop().expect("broker stops");
    eventually("/readyz to see the broker gone", || async {
        (get(&http, &format!("{base}/readyz")).await.0 == 503).then_some(())
    })
    .await;
    // `serve` returns after shutdown with the broker gone.
    server.task.stop_within(WAIT).await;
}

/// Messages the broker drops (a client's queue full) show in the server's `/metrics`: the
/// server reads mosquitto's own count from `$SYS`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_the_broker_drops_show_in_the_servers_metrics() {
    let Some(broker) = Mosquitto::start_with_or_skip("sys_interval 1\nmax_queued_messages 2\n")
    else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let http = reqwest::Client::new();
    let server = Server::start(&broker, None, dir.path(), &http).await;

    // A client with a persistent session subscribes, then goes away: past 2 queued messages,
    // the broker drops what is published for it.
    let mut away = rumqttc::MqttOptions::new("e2e-away", broker.host(), broker.port());
    away.set_clean_session(false);
    let (client, mut events) = rumqttc::AsyncClient::new(away, 10);
    client
        .subscribe("e2e/drop", QoS::AtLeastOnce)
        .await
        .expect("subscribe");
    loop {
        let event = events.poll().await.expect("broker");
        if matches!(event, rumqttc::Event::Incoming(rumqttc::Packet::SubAck(_))) {
            break;
        }
    }
    client.disconnect().await.expect("disconnect");
    while events.poll().await.is_ok() {}
    let publisher = Subscriber::start(&broker, "e2e-drop-publisher", &["e2e/none"]).await;
    for i in 0..6 {
        publisher
            .client()
            .publish("e2e/drop", QoS::AtLeastOnce, false, format!("m{i}"))
            .await
            .expect("publish");
    }

    let dropped = eventually("the broker's dropped count in /metrics", || async {
        let (_, metrics) = get(&http, &format!("{}/metrics", server.base)).await;
        metrics
            .lines()
            .find_map(|l| l.strip_prefix("garonne_server_broker_messages_dropped "))
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|&v| v >= 4.0)
    })
    .await;
    assert!(dropped >= 4.0, "6 published, 2 queued: {dropped}");
}

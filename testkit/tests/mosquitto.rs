//! The mosquitto broker that `garonne-testkit` starts is a working MQTT
//! broker: it delivers, persists across a restart, rejects bad configuration
//! and frees its port when dropped.
//!
//! Each test skips (one `skipping:` line) when mosquitto is not installed,
//! and fails instead under `CI=true`.

use std::error::Error;
use std::net::TcpStream;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use garonne_testkit::{Mosquitto, require};
use rumqttc::{AsyncClient, ConnectionError, Event, EventLoop, MqttOptions, Packet, Publish, QoS};
use tokio::time::timeout;

type TestResult = Result<(), Box<dyn Error>>;

/// How long any one wait on the broker may take before the test fails.
const WAIT: Duration = Duration::from_secs(10);

/// A name no other client or topic of this test run has.
fn unique(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.subsec_nanos());
    format!(
        "{prefix}-{}-{nanos}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A client connected to `broker` (its CONNACK received), with a unique id.
async fn connect(
    broker: &Mosquitto,
    role: &str,
) -> Result<(AsyncClient, EventLoop), Box<dyn Error>> {
    let mut options = MqttOptions::new(unique(role), broker.host(), broker.port());
    options.set_keep_alive(Duration::from_secs(5));
    let (client, mut events) = AsyncClient::new(options, 100);
    next_packet(&mut events, |packet| matches!(packet, Packet::ConnAck(_))).await?;
    Ok((client, events))
}

/// Polls `events` until a received packet matches `wanted`, for at most
/// [`WAIT`].
async fn next_packet(
    events: &mut EventLoop,
    wanted: impl Fn(&Packet) -> bool,
) -> Result<Packet, Box<dyn Error>> {
    let found = timeout(WAIT, async {
        loop {
            if let Event::Incoming(packet) = events.poll().await?
                && wanted(&packet)
            {
                return Ok::<_, ConnectionError>(packet);
            }
        }
    })
    .await??;
    Ok(found)
}

/// The next PUBLISH received on `events`, for at most [`WAIT`].
async fn next_publish(events: &mut EventLoop) -> Result<Publish, Box<dyn Error>> {
    match next_packet(events, |packet| matches!(packet, Packet::Publish(_))).await? {
        Packet::Publish(publish) => Ok(publish),
        other => Err(format!("expected a PUBLISH, got {other:?}").into()),
    }
}

/// Whether something accepts TCP connections on the broker's port.
fn accepts_connections(host: &str, port: u16) -> bool {
    TcpStream::connect((host, port)).is_ok()
}

/// A subscriber gets every QoS 1 message of a publisher, once and in order.
#[tokio::test]
async fn delivers_100_messages_in_order() -> TestResult {
    let Some(broker) = Mosquitto::start_or_skip() else {
        return Ok(());
    };
    assert_eq!(broker.url(), format!("mqtt://127.0.0.1:{}", broker.port()));
    let topic = unique("garonne/testkit/order");

    let (subscriber, mut subscriber_events) = connect(&broker, "subscriber").await?;
    timeout(WAIT, subscriber.subscribe(&topic, QoS::AtLeastOnce)).await??;
    next_packet(&mut subscriber_events, |packet| {
        matches!(packet, Packet::SubAck(_))
    })
    .await?;

    let (publisher, mut publisher_events) = connect(&broker, "publisher").await?;
    // The publisher's event loop sends what `publish` queues; it runs until
    // the test ends and the runtime drops it.
    let publisher_loop =
        tokio::spawn(async move { while publisher_events.poll().await.is_ok() {} });
    let sent: Vec<String> = (0..100).map(|n| format!("message {n}")).collect();
    for payload in &sent {
        timeout(
            WAIT,
            publisher.publish(&topic, QoS::AtLeastOnce, false, payload.clone()),
        )
        .await??;
    }

    let mut received = Vec::new();
    while received.len() < sent.len() {
        let publish = next_publish(&mut subscriber_events).await?;
        assert_eq!(publish.topic, topic);
        assert_eq!(publish.qos, QoS::AtLeastOnce);
        received.push(String::from_utf8(publish.payload.to_vec())?);
    }
    assert_eq!(received, sent, "log:\n{}", broker.log_tail());
    publisher_loop.abort();
    Ok(())
}

/// A broker stopped and restarted keeps its port and, through its
/// persistence file, the retained messages it had.
#[tokio::test]
async fn restart_keeps_the_port_and_retained_messages() -> TestResult {
    let Some(mut broker) = Mosquitto::start_or_skip() else {
        return Ok(());
    };
    let port = broker.port();
    let topic = unique("garonne/testkit/retained");

    let (client, mut events) = connect(&broker, "retainer").await?;
    timeout(
        WAIT,
        client.publish(&topic, QoS::AtLeastOnce, true, "kept across restarts"),
    )
    .await??;
    // The PUBACK says the broker holds the message.
    next_packet(&mut events, |packet| matches!(packet, Packet::PubAck(_))).await?;
    drop((client, events));

    broker.stop()?;
    assert!(!broker.is_running());
    assert!(
        !accepts_connections(broker.host(), port),
        "port {port} still open after stop"
    );
    assert!(
        broker.dir().join("mosquitto.db").is_file(),
        "no persistence file after stop; log:\n{}",
        broker.log_tail()
    );

    broker.restart()?;
    assert!(broker.is_running());
    assert_eq!(broker.port(), port);

    let (reader, mut reader_events) = connect(&broker, "reader").await?;
    timeout(WAIT, reader.subscribe(&topic, QoS::AtLeastOnce)).await??;
    let publish = next_publish(&mut reader_events).await?;
    assert_eq!(publish.topic, topic);
    assert!(publish.retain, "a retained message arrives with retain set");
    assert_eq!(&publish.payload[..], b"kept across restarts");

    // And the broker can be restarted while it runs, too.
    drop((reader, reader_events));
    broker.restart()?;
    assert_eq!(broker.port(), port);
    assert!(accepts_connections(broker.host(), port));
    Ok(())
}

/// Dropping the broker kills it: its port refuses connections at once and
/// its directory is gone.
#[test]
fn drop_frees_the_port_and_removes_the_directory() {
    let Some(broker) = Mosquitto::start_or_skip() else {
        return;
    };
    let (host, port) = (broker.host(), broker.port());
    let dir = broker.dir().to_owned();
    assert!(accepts_connections(host, port));
    assert!(dir.join("mosquitto.conf").is_file());

    drop(broker);
    assert!(
        !accepts_connections(host, port),
        "port {port} still open after drop"
    );
    assert!(!dir.exists(), "{} still exists after drop", dir.display());
}

/// Extra configuration lines are applied, after (and so over) the defaults.
#[tokio::test]
async fn extra_configuration_is_applied() -> TestResult {
    let Some(broker) = Mosquitto::start_with_or_skip("allow_anonymous false") else {
        return Ok(());
    };
    let options = MqttOptions::new(unique("anonymous"), broker.host(), broker.port());
    let (_client, mut events) = AsyncClient::new(options, 10);
    let refused = timeout(WAIT, events.poll()).await?;
    assert!(
        matches!(refused, Err(ConnectionError::ConnectionRefused(_))),
        "anonymous client not refused: {refused:?}"
    );
    Ok(())
}

/// An installed broker that cannot start is an error that quotes its log,
/// not a skip and not a hang.
#[test]
fn a_bad_configuration_is_reported_with_the_log() {
    if require("mosquitto", "mosquitto").is_none() {
        return;
    }
    let error = match Mosquitto::start_with("no_such_option 1") {
        Ok(broker) => panic!("started with a bad option on port {}", broker.port()),
        Err(error) => error,
    };
    let message = error.to_string();
    assert!(
        message.starts_with("mosquitto exited during start-up on port "),
        "{message}"
    );
    assert!(message.contains("no_such_option"), "{message}");
    assert!(!error.is_port_taken(), "{message}");
}

//! The retained probe: how a test knows that a Garonne service's MQTT subscription is in place.
//!
//! Realtime subscribes to the readings once the broker has taken its connection, and nothing
//! tells a test when that is done: a reading published too early is lost, and the test fails
//! now and then. A retained invalid payload left on `{prefix}/v1/sensors/probe/reading`
//! ([`retain_probe`]) settles it: the broker hands it at once to any subscription made later,
//! so once the service has counted one message ([`start_subscribed`]) it is subscribed.
//!
//! ```no_run
//! # async fn example() {
//! use std::time::Duration;
//!
//! use garonne_testkit::{Mosquitto, probe};
//!
//! # async fn serve(
//! #     _: tokio::net::TcpListener,
//! #     _: tokio_util::sync::CancellationToken,
//! # ) -> Result<(), String> { Ok(()) }
//! let wait = Duration::from_secs(15);
//! let broker = Mosquitto::start().expect("mosquitto");
//! let sub = probe::subscribe_with_probe(&broker, "test", wait).await;
//! // `serve` stands for `garonne_realtime::serve(config, areas, …)`.
//! let realtime = probe::start_subscribed(
//!     "realtime",
//!     "garonne_realtime_messages_received_total",
//!     wait,
//!     serve,
//! )
//! .await;
//! # }
//! ```

use std::fmt::Debug;
use std::future::Future;
use std::time::Duration;

use rumqttc::QoS;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{Mosquitto, Service, Subscriber};

/// The probe's topic under `prefix`: a reading topic, which a service of readings subscribes to.
#[must_use]
pub fn probe_topic(prefix: &str) -> String {
    format!("{prefix}/v1/sensors/probe/reading")
}

/// Leaves a retained invalid payload (`probe`) on [`probe_topic`] through `sub`, and waits, at
/// most `wait`, until `sub` receives it: the broker has it, and hands it to every later
/// subscription to the readings.
///
/// # Panics
///
/// When the publish cannot be queued, or `sub` (whose filters must cover the probe's topic)
/// does not receive it within `wait`.
pub async fn retain_probe(sub: &mut Subscriber, prefix: &str, wait: Duration) {
    let topic = probe_topic(prefix);
    sub.client()
        .publish(topic.as_str(), QoS::AtLeastOnce, true, b"probe".to_vec())
        .await
        .expect("probe queued");
    sub.wait_for("the probe", wait, |m| m.iter().any(|m| m.topic == topic))
        .await;
}

/// A subscriber, as `{prefix}-sub`, to everything under `{prefix}/v1/`, with the probe retained
/// ([`retain_probe`]).
///
/// # Panics
///
/// As [`Subscriber::start`] and [`retain_probe`].
pub async fn subscribe_with_probe(broker: &Mosquitto, prefix: &str, wait: Duration) -> Subscriber {
    let all = format!("{prefix}/v1/#");
    let mut sub = Subscriber::start(broker, &format!("{prefix}-sub"), &[&all]).await;
    retain_probe(&mut sub, prefix, wait).await;
    sub
}

/// [`Service::start`], then waits, at most `wait`, until the counter `received` (such as
/// `garonne_realtime_messages_received_total`) is at least 1: the service has counted the
/// probe, its subscription is in place. For a first start, once [`retain_probe`] has run.
///
/// # Panics
///
/// As [`Service::start`] and [`Service::wait_metric`].
pub async fn start_subscribed<T, E, F, Fut>(
    name: &str,
    received: &str,
    wait: Duration,
    serve: F,
) -> Service<T, E>
where
    T: Send + 'static,
    E: Debug + Send + 'static,
    F: FnOnce(TcpListener, CancellationToken) -> Fut,
    Fut: Future<Output = Result<T, E>> + Send + 'static,
{
    let service = Service::start(name, serve).await;
    service.wait_metric(received, wait, |v| v >= 1.0).await;
    service
}

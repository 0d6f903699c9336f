//! The host against a real mosquitto: what a transform publishes reaches the broker, a batch is
//! acknowledged only when the transform is done with it (a withheld one comes back on the next
//! start of the same persistent session), and shutdown hands the transform its last word. Over
//! TLS too (`mqtts://`, with a CA the test generates): the host and a publisher on the services'
//! own [`garonne_service::mqtt::options`] carry messages, a broker another CA signed (or whose
//! certificate names another host) is a TLS failure, said as such and retried. A live profile
//! is the host's own: registered, never handed to the transform.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use garonne_payload::Timestamp;
use garonne_service::host::{Handled, Host, Transform};
use garonne_service::mqtt::{self, BrokerUrl, CaFile, Connection, TlsProblem};
use garonne_service::outbox::{Outbox, Outgoing};
use garonne_service::profiles::LiveProfiles;
use garonne_testkit::{Mosquitto, Subscriber, TestCa};
use rumqttc::{AsyncClient, Publish, QoS};
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(20);

/// Records what it is handed, echoes it on `echo/…`, and is done with it unless told to withhold.
struct Recorder {
    seen: Arc<Mutex<Vec<String>>>,
    withhold: bool,
    shut_down: Arc<Mutex<bool>>,
}

impl Transform for Recorder {
    type Error = std::convert::Infallible;

    async fn handle(
        &mut self,
        batch: &[Publish],
        _now: Timestamp,
        out: &mut Outbox,
    ) -> Result<Handled, Self::Error> {
        for m in batch {
            let text = String::from_utf8_lossy(&m.payload).into_owned();
            self.seen.lock().expect("lock").push(text);
            let echo = Outgoing::message(format!("echo/{}", m.topic), m.payload.to_vec(), false)
                .expect("not retained");
            out.push(echo);
        }
        Ok(if self.withhold {
            Handled::Withheld
        } else {
            Handled::Done
        })
    }

    async fn shutdown(&mut self, _now: Timestamp, out: &mut Outbox) -> Result<(), Self::Error> {
        *self.shut_down.lock().expect("lock") = true;
        out.push(Outgoing::message("echo/last", b"bye".to_vec(), true).expect("not empty"));
        Ok(())
    }
}

/// Runs a host with a [`Recorder`] until `seen` holds `until` (or the wait fails), then stops it.
async fn run_until(broker: &Mosquitto, withhold: bool, until: usize) -> (Vec<String>, bool) {
    run_on_until(broker.url().parse().expect("url"), withhold, until).await
}

/// [`run_until`] on the broker at `url`.
async fn run_on_until(url: BrokerUrl, withhold: bool, until: usize) -> (Vec<String>, bool) {
    run_with(url, withhold, until, None).await
}

/// [`run_on_until`], with live profiles.
async fn run_with(
    url: BrokerUrl,
    withhold: bool,
    until: usize,
    profiles: Option<LiveProfiles>,
) -> (Vec<String>, bool) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let shut_down = Arc::new(Mutex::new(false));
    let mut recorder = Recorder {
        seen: Arc::clone(&seen),
        withhold,
        shut_down: Arc::clone(&shut_down),
    };
    let mut host = Host::new("hosttest", url, "host-test-recorder");
    host.subscriptions = vec![("in/#".to_owned(), QoS::AtLeastOnce)];
    host.profiles = profiles;
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    let watch = Arc::clone(&seen);
    let mqtt = Arc::clone(&host.mqtt);
    let stopper = tokio::spawn(async move {
        // Subscribed first (the session must exist), then as many messages as expected.
        let ready = async {
            mqtt.wait_until(|c| c.subscribed.load(Ordering::Relaxed))
                .await;
            while watch.lock().expect("lock").len() < until {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        let _ = tokio::time::timeout(WAIT, ready).await;
        stop.cancel();
    });
    let summary = tokio::time::timeout(WAIT * 2, host.run(&mut recorder, None, shutdown))
        .await
        .expect("the host stops after shutdown")
        .expect("no error");
    stopper.await.expect("stopper");
    let seen = seen.lock().expect("lock").clone();
    let closed = *shut_down.lock().expect("lock");
    assert!(summary.delivered, "every publication taken by the broker");
    (seen, closed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_only_when_done_and_published_through_the_outbox() {
    let Some(broker) = Mosquitto::start_or_skip() else {
        return;
    };
    let mut echo = Subscriber::start(&broker, "host-test-echo", &["echo/#"]).await;
    // The recorder's persistent session exists before anything is published.
    let (seen, _) = run_until(&broker, false, 0).await;
    assert!(seen.is_empty());

    for n in 1..=3 {
        echo.client()
            .publish("in/a", QoS::AtLeastOnce, false, format!("m{n}"))
            .await
            .expect("publish");
    }
    // Withheld: handed over, never acknowledged...
    let (seen, closed) = run_until(&broker, true, 3).await;
    assert_eq!(seen, ["m1", "m2", "m3"]);
    assert!(closed, "shutdown was called");
    // ... so the broker hands them over again to the same session; this time they are done.
    let (seen, _) = run_until(&broker, false, 3).await;
    assert_eq!(seen, ["m1", "m2", "m3"], "the withheld messages came back");
    // Done: acknowledged, gone. Only what is published next arrives.
    echo.client()
        .publish("in/a", QoS::AtLeastOnce, false, "m4")
        .await
        .expect("publish");
    let (seen, _) = run_until(&broker, false, 1).await;
    assert_eq!(
        seen,
        ["m4"],
        "acknowledged messages are not handed over again"
    );

    // Every handling published its echo, and every shutdown its last word.
    let messages = echo
        .wait_for("the echoes and the last words", WAIT, |m| {
            m.iter().filter(|m| m.topic == "echo/in/a").count() >= 7
                && m.iter().any(|m| m.topic == "echo/last")
        })
        .await;
    assert_eq!(
        texts_on(messages, "echo/in/a"),
        ["m1", "m2", "m3", "m1", "m2", "m3", "m4"]
    );
}

/// A profile published on `{prefix}/v1/profiles/{name}` is the host's own: registered in the
/// process's catalogue, never handed to the transform, whose messages before and after it
/// arrive as ever; realtime's host (the refusal publisher) clears its refusal topic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_profile_is_registered_by_the_host_and_never_reaches_the_transform() {
    let Some(broker) = Mosquitto::start_or_skip() else {
        return;
    };
    let topics = garonne_payload::topic::Topics::new("hostp").expect("prefix");
    let live = || Some(LiveProfiles::new(&topics).publishing_refusals());
    let url: BrokerUrl = broker.url().parse().expect("url");
    let mut echo = Subscriber::start(&broker, "host-profile-echo", &["hostp/v1/errors/#"]).await;
    let (seen, _) = run_with(url.clone(), false, 0, live()).await;
    assert!(seen.is_empty());
    let profile = "name = \"host-live\"\nversion = 1\ntitle = { en = \"T\", fr = \"T\" }\n\n\
                   [[quantity]]\nname = \"hostLiveLevel\"\nunit = \"m\"\n\
                   label = { en = \"L\", fr = \"N\" }\nmin = 0\nmax = 10\n";
    let client = echo.client();
    client
        .publish("in/a", QoS::AtLeastOnce, false, "before")
        .await
        .expect("publish");
    client
        .publish(
            "hostp/v1/profiles/host-live",
            QoS::AtLeastOnce,
            true,
            profile,
        )
        .await
        .expect("publish");
    client
        .publish("in/a", QoS::AtLeastOnce, false, "after")
        .await
        .expect("publish");
    let (seen, _) = run_with(url, false, 2, live()).await;
    assert_eq!(
        seen,
        ["before", "after"],
        "the profile is not the transform's"
    );
    let level = garonne_payload::Quantity::from_name("hostLiveLevel").expect("registered");
    assert_eq!(level.unit(), "m");
    let messages = echo
        .wait_for("the refusal topic cleared", WAIT, |m| {
            m.iter()
                .any(|m| m.topic == "hostp/v1/errors/profiles/host-live")
        })
        .await;
    assert!(texts_on(messages, "hostp/v1/errors/profiles/host-live")[0].is_empty());
}

/// The TLS listener of `broker`, trusting only the CA in `ca_file`.
fn mqtts(broker: &Mosquitto, ca_file: &std::path::Path) -> BrokerUrl {
    let url: BrokerUrl = broker
        .tls_url()
        .expect("a TLS listener")
        .parse()
        .expect("url");
    url.trusting(Some(CaFile::load(ca_file).expect("the CA file")))
        .expect("mqtts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtts_with_the_generated_ca_carries_messages_and_plain_mqtt_still_works() {
    let ca = TestCa::generate().expect("a test CA");
    let Some(broker) = Mosquitto::start_tls_or_skip(&ca, "") else {
        return;
    };
    let tls = mqtts(&broker, &ca.ca_file());
    assert_eq!(tls.to_string(), broker.tls_url().expect("url"));
    // Plain MQTT on the same broker: the echoes come back there.
    let mut echo = Subscriber::start(&broker, "host-tls-echo", &["echo/#"]).await;
    // The host's persistent session exists (over TLS) before anything is published.
    let (seen, _) = run_on_until(tls.clone(), false, 0).await;
    assert!(seen.is_empty());

    // A publisher on the services' own options, over TLS.
    let (client, eventloop) = AsyncClient::new(mqtt::options("host-tls-publisher", &tls, None), 10);
    let publisher = Connection::start(client, eventloop, tls.clone());
    for n in 1..=3 {
        publisher
            .client
            .publish("in/tls", QoS::AtLeastOnce, false, format!("t{n}"))
            .await
            .expect("publish");
    }
    assert!(
        publisher.finish(3, true, WAIT).await,
        "the broker acknowledged the publications over TLS"
    );
    let (seen, _) = run_on_until(tls, false, 3).await;
    assert_eq!(seen, ["t1", "t2", "t3"], "received over TLS");
    let messages = echo
        .wait_for("the echoes, over plain MQTT", WAIT, |m| {
            m.iter().filter(|m| m.topic == "echo/in/tls").count() >= 3
        })
        .await;
    assert_eq!(texts_on(messages, "echo/in/tls"), ["t1", "t2", "t3"]);
}

/// The payloads of `messages` on `topic`, in order.
fn texts_on(messages: &[garonne_testkit::Message], topic: &str) -> Vec<String> {
    messages
        .iter()
        .filter(|m| m.topic == topic)
        .map(|m| m.text())
        .collect()
}

/// The TLS problem of a first connection attempt to `url` on the services' options, and the
/// driver's count of TLS failures once it has retried.
async fn tls_failure(url: &BrokerUrl) -> (Option<TlsProblem>, u64) {
    let (_client, mut eventloop) =
        AsyncClient::new(mqtt::options("host-tls-refused", url, None), 10);
    let error = tokio::time::timeout(WAIT, eventloop.poll())
        .await
        .expect("an answer")
        .expect_err("the handshake fails");
    let problem = TlsProblem::of(&error);

    let counters = retried_tls_failures(url, "host-tls-retried").await;
    assert!(!counters.connected.load(Ordering::Relaxed));
    (problem, counters.tls_failures.load(Ordering::Relaxed))
}

/// A connection to `url` as `id` on the services' options, driven until three TLS handshakes
/// have failed (the driver retrying with its backoff), then stopped: its counters.
async fn retried_tls_failures(url: &BrokerUrl, id: &str) -> Arc<mqtt::Counters> {
    let (client, eventloop) = AsyncClient::new(mqtt::options(id, url, None), 10);
    let connection = Connection::start(client, eventloop, url.clone());
    let counters = Arc::clone(&connection.counters);
    let retried = tokio::time::timeout(
        WAIT,
        counters.wait_until(|c| c.tls_failures.load(Ordering::Relaxed) >= 3),
    )
    .await;
    connection.abort();
    assert!(retried.is_ok(), "the connection is retried (with backoff)");
    counters
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_certificate_of_another_ca_or_another_name_is_a_tls_failure() {
    let ca = TestCa::generate().expect("a test CA");
    let other = TestCa::generate().expect("another CA");
    let Some(broker) = Mosquitto::start_tls_or_skip(&ca, "") else {
        return;
    };
    // Trusting another CA, or the system's (which never signed a test CA's certificate).
    let (problem, failures) = tls_failure(&mqtts(&broker, &other.ca_file())).await;
    assert_eq!(problem, Some(TlsProblem::UnknownIssuer));
    assert!(failures >= 3);
    let system: BrokerUrl = broker.tls_url().expect("url").parse().expect("url");
    assert_eq!(
        tls_failure(&system).await.0,
        Some(TlsProblem::UnknownIssuer)
    );
    let said = TlsProblem::UnknownIssuer.to_string();
    assert!(said.contains("ca_file"), "the fix is named: {said}");

    // A certificate for another host name, from the CA the client trusts.
    let elsewhere = TestCa::generate_for(&["broker.example.org"]).expect("a test CA");
    let Some(misnamed) = Mosquitto::start_tls_or_skip(&elsewhere, "") else {
        return;
    };
    let (problem, _) = tls_failure(&mqtts(&misnamed, &elsewhere.ca_file())).await;
    assert_eq!(problem, Some(TlsProblem::WrongName));

    // A TLS client on the plain port: the handshake fails, and says which port to use.
    let mut plain: BrokerUrl = broker.url().parse().expect("url");
    plain.tls = mqtts(&broker, &ca.ca_file()).tls;
    let (problem, _) = tls_failure(&plain).await;
    let said = problem.expect("a TLS problem").to_string();
    assert!(said.contains("8883"), "{said}");
}

/// Log lines written while it is the thread's subscriber, without colours.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The log lines of this test binary: a global subscriber, installed once.
///
/// Design: global, not a thread's default (`set_default`): tracing caches per call site whether
/// anyone listens, and with other tests logging from other threads at the same time a
/// thread-local subscriber missed lines now and then. Each test keeps its own lines by
/// filtering on its broker's address.
fn logs() -> &'static Logs {
    static LOGS: std::sync::OnceLock<Logs> = std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Logs::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("the only global subscriber");
        logs
    })
}

#[tokio::test]
async fn a_failed_handshake_is_logged_once_as_a_tls_failure_with_the_fix() {
    let ca = TestCa::generate().expect("a test CA");
    let other = TestCa::generate().expect("another CA");
    let Some(broker) = Mosquitto::start_tls_or_skip(&ca, "") else {
        return;
    };
    let logs = logs();
    let url = mqtts(&broker, &other.ca_file());
    retried_tls_failures(&url, "host-tls-logged").await;
    let address = url.to_string();
    let text: String = String::from_utf8_lossy(&logs.0.lock().expect("lock"))
        .lines()
        .filter(|line| line.contains(&address))
        .map(|line| format!("{line}\n"))
        .collect();
    assert_eq!(
        text.matches("TLS handshake with the MQTT broker failed, retrying")
            .count(),
        1,
        "said once, as a TLS failure: {text}"
    );
    assert!(
        text.contains("not signed by a trusted certificate authority"),
        "{text}"
    );
    assert!(text.contains("set ca_file"), "the fix: {text}");
    assert!(
        !text.contains("cannot reach the MQTT broker"),
        "not a generic error: {text}"
    );
}

//! The host against a real mosquitto: what a transform publishes reaches the broker, a batch is
//! acknowledged only when the transform is done with it (a withheld one comes back on the next
//! start of the same persistent session), and shutdown hands the transform its last word.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use garonne_payload::Timestamp;
use garonne_service::host::{Handled, Host, Transform};
use garonne_service::outbox::{Outbox, Outgoing};
use garonne_testkit::{Mosquitto, Subscriber};
use rumqttc::{Publish, QoS};
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
    let seen = Arc::new(Mutex::new(Vec::new()));
    let shut_down = Arc::new(Mutex::new(false));
    let mut recorder = Recorder {
        seen: Arc::clone(&seen),
        withhold,
        shut_down: Arc::clone(&shut_down),
    };
    let mut host = Host::new(
        "hosttest",
        broker.url().parse().expect("url"),
        "host-test-recorder",
    );
    host.subscriptions = vec![("in/#".to_owned(), QoS::AtLeastOnce)];
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
    let echoed: Vec<String> = messages
        .iter()
        .filter(|m| m.topic == "echo/in/a")
        .map(|m| m.text())
        .collect();
    assert_eq!(echoed, ["m1", "m2", "m3", "m1", "m2", "m3", "m4"]);
}

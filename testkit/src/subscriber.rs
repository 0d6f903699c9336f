//! [`Subscriber`]: an MQTT client that records what a test's code publishes.
//!
//! End-to-end tests check what reaches a broker's subscribers, so they need
//! one: a real rumqttc client on the test's [`Mosquitto`], subscribed to a
//! few filters, whose event loop runs in a task and sends every publish it
//! receives into a channel. The test takes the messages from the channel
//! with [`Subscriber::wait_for`] (every wait has a timeout) and keeps them
//! all, in arrival order, so that it can check them at the end.
//!
//! The session is persistent and the client reconnects, so a subscriber
//! lives through [`Mosquitto::restart`] and receives, once it is back, the
//! QoS 1 messages published while it was away.
//!
//! ```no_run
//! # async fn example() {
//! use std::time::Duration;
//!
//! use garonne_testkit::{Mosquitto, Subscriber};
//!
//! let Some(broker) = Mosquitto::start_or_skip() else {
//!     return;
//! };
//! let mut sub = Subscriber::start(&broker, "test-sub", &["test/v1/#"]).await;
//! // ... start the code under test, publishing under test/v1/ ...
//! let got = sub
//!     .wait_for("an aggregate", Duration::from_secs(10), |messages| {
//!         messages.iter().any(|m| m.topic.ends_with("/aggregate"))
//!     })
//!     .await;
//! println!("{} messages so far", got.len());
//! # }
//! ```

use std::fmt::Write as _;
use std::time::Duration;

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS, SubscribeFilter};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::Mosquitto;

/// How long [`Subscriber::start`] waits for the broker's SUBACK.
const SUBACK_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the client waits before reconnecting after the connection is
/// lost or refused (the broker restarting, typically).
const RECONNECT_DELAY: Duration = Duration::from_millis(100);

/// Requests the client can queue (subscriptions and the test's publishes).
const REQUEST_CAPACITY: usize = 1000;

/// Largest MQTT packet sent or received: the protocol's maximum.
const MAX_PACKET: usize = 268_435_455;

/// Messages shown by a [`Subscriber::wait_for`] that timed out.
const SHOWN_ON_TIMEOUT: usize = 10;

/// One message received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The topic it was published on.
    pub topic: String,
    /// Its payload.
    pub payload: Vec<u8>,
    /// Whether the broker delivered it as a retained message (one that
    /// was kept from before the subscription).
    pub retain: bool,
}

impl Message {
    /// The payload as text (lossy UTF-8), for assertion messages.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.payload).into_owned()
    }
}

/// An MQTT subscriber on a test's broker, recording every message it
/// receives. Its connection task is stopped when it is dropped.
#[derive(Debug)]
pub struct Subscriber {
    client: AsyncClient,
    inbox: mpsc::UnboundedReceiver<Message>,
    received: Vec<Message>,
    task: JoinHandle<()>,
}

impl Subscriber {
    /// Connects to `broker` as `client_id` (unique per test: the session is
    /// persistent), subscribes to `filters` at QoS 1, and returns once the
    /// broker has acknowledged the subscription.
    ///
    /// # Panics
    ///
    /// When the subscription cannot be queued or the broker does not
    /// acknowledge it within 10 s; outside a tokio runtime.
    pub async fn start(broker: &Mosquitto, client_id: &str, filters: &[&str]) -> Subscriber {
        let mut options = MqttOptions::new(client_id, broker.host(), broker.port());
        options.set_keep_alive(Duration::from_secs(5));
        options.set_clean_session(false);
        // Tests publish oversized payloads on purpose, and receive what the code under test
        // sends: any packet the protocol allows.
        options.set_max_packet_size(MAX_PACKET, MAX_PACKET);
        let (client, mut eventloop) = AsyncClient::new(options, REQUEST_CAPACITY);
        let filters: Vec<SubscribeFilter> = filters
            .iter()
            .map(|f| SubscribeFilter::new((*f).to_owned(), QoS::AtLeastOnce))
            .collect();
        client
            .subscribe_many(filters.clone())
            .await
            .unwrap_or_else(|e| panic!("{client_id}: cannot queue the subscription: {e}"));

        let (sender, inbox) = mpsc::unbounded_channel();
        let (subscribed_tx, subscribed_rx) = oneshot::channel();
        let resubscriber = client.clone();
        let task = tokio::spawn(async move {
            let mut subscribed = Some(subscribed_tx);
            let mut connected_once = false;
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                        // A broker that lost the session (no persistence) forgot the
                        // subscription too: ask again. The first time it is already queued.
                        if connected_once && !ack.session_present {
                            let _ = resubscriber.try_subscribe_many(filters.clone());
                        }
                        connected_once = true;
                    }
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        if let Some(s) = subscribed.take() {
                            let _ = s.send(());
                        }
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let message = Message {
                            topic: p.topic,
                            payload: p.payload.to_vec(),
                            retain: p.retain,
                        };
                        // The receiver is gone: the subscriber was dropped.
                        if sender.send(message).is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    // The broker is away: try again shortly (every wait of a test is bounded).
                    Err(_) => tokio::time::sleep(RECONNECT_DELAY).await,
                }
            }
        });
        match tokio::time::timeout(SUBACK_TIMEOUT, subscribed_rx).await {
            Ok(Ok(())) => {}
            _ => {
                task.abort();
                panic!(
                    "{client_id}: no SUBACK from the broker at {} within {} s",
                    broker.url(),
                    SUBACK_TIMEOUT.as_secs()
                );
            }
        }
        Subscriber {
            client,
            inbox,
            received: Vec::new(),
            task,
        }
    }

    /// The client, to publish on the same connection (QoS 1 publishes of
    /// one client reach the broker in order).
    pub fn client(&self) -> &AsyncClient {
        &self.client
    }

    /// Every message taken so far, in arrival order (see
    /// [`Subscriber::collect`] to take the ones waiting).
    pub fn received(&self) -> &[Message] {
        &self.received
    }

    /// Takes the messages that have arrived, without waiting; returns every
    /// message taken so far.
    pub fn collect(&mut self) -> &[Message] {
        while let Ok(message) = self.inbox.try_recv() {
            self.received.push(message);
        }
        &self.received
    }

    /// Takes the messages that arrive during `duration`; returns every
    /// message taken so far. For checking that nothing more comes, not for
    /// waiting on something: use [`Subscriber::wait_for`] for that.
    pub async fn collect_for(&mut self, duration: Duration) -> &[Message] {
        let deadline = Instant::now() + duration;
        while let Ok(Some(message)) = tokio::time::timeout_at(deadline, self.inbox.recv()).await {
            self.received.push(message);
        }
        self.collect()
    }

    /// Takes messages until `done` holds for every message taken so far, at
    /// most `timeout`; returns whether it did. `done` is called again after
    /// each batch of arrivals, with all the messages; it may keep its own
    /// cursor to look at the new ones only.
    #[must_use = "a wait can time out: check whether it did"]
    pub async fn try_wait_for(
        &mut self,
        timeout: Duration,
        mut done: impl FnMut(&[Message]) -> bool,
    ) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            self.collect();
            if done(&self.received) {
                return true;
            }
            match tokio::time::timeout_at(deadline, self.inbox.recv()).await {
                Ok(Some(message)) => self.received.push(message),
                // Ok(None): the connection task ended (it only does when dropped).
                Ok(None) | Err(_) => return false,
            }
        }
    }

    /// [`Subscriber::try_wait_for`], returning every message taken so far.
    ///
    /// # Panics
    ///
    /// When `done` does not hold within `timeout`: the message says `what`
    /// was awaited and shows the last messages received.
    pub async fn wait_for(
        &mut self,
        what: &str,
        timeout: Duration,
        done: impl FnMut(&[Message]) -> bool,
    ) -> &[Message] {
        if !self.try_wait_for(timeout, done).await {
            panic!(
                "timed out after {} s waiting for {what}: {}",
                timeout.as_secs_f64(),
                self.describe()
            );
        }
        &self.received
    }

    /// How many messages were received, and the last few.
    fn describe(&self) -> String {
        let mut text = format!("{} messages received", self.received.len());
        let skip = self.received.len().saturating_sub(SHOWN_ON_TIMEOUT);
        if skip < self.received.len() {
            text.push_str(", the last ones:");
        }
        for m in &self.received[skip..] {
            let mut payload = m.text();
            if payload.len() > 200 {
                let mut end = 200;
                while !payload.is_char_boundary(end) {
                    end -= 1;
                }
                payload.truncate(end);
                payload.push_str("...");
            }
            // Writing to a String cannot fail.
            let _ = write!(text, "\n  {}: {payload}", m.topic);
        }
        text
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn receives_what_is_published_and_lives_through_a_broker_restart() {
        let Some(mut broker) = Mosquitto::start_or_skip() else {
            return;
        };
        let mut sub = Subscriber::start(&broker, "testkit-sub", &["testkit/#"]).await;
        let publish = |sub: &Subscriber, n: u8| {
            let client = sub.client().clone();
            async move {
                client
                    .publish(format!("testkit/{n}"), QoS::AtLeastOnce, false, vec![n])
                    .await
                    .expect("publish queued");
            }
        };
        publish(&sub, 1).await;
        let got = sub
            .wait_for("message 1", Duration::from_secs(10), |m| !m.is_empty())
            .await;
        assert_eq!(
            got,
            [Message {
                topic: "testkit/1".into(),
                payload: vec![1],
                retain: false
            }]
        );
        // Nothing else comes: a wait that cannot succeed says so when its time is up.
        assert!(
            !sub.try_wait_for(Duration::from_millis(200), |m| m.len() > 1)
                .await
        );

        tokio::task::block_in_place(|| broker.restart()).expect("broker restarts");
        publish(&sub, 2).await;
        sub.wait_for(
            "message 2, after the restart",
            Duration::from_secs(20),
            |m| m.iter().any(|m| m.topic == "testkit/2"),
        )
        .await;
        assert_eq!(sub.received().len(), 2);
    }
}

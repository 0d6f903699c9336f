//! What a service publishes, waiting for the MQTT client: one queue, bounded in bytes.
//!
//! Design: a service never waits on MQTT to publish (the event loop that would take the message
//! may itself be waiting for the service to read its inbox), so its messages wait here and are
//! handed to the client as its request queue has room. For a retained topic only the newest
//! message matters (the broker would keep only it), so a newer one replaces the one still
//! waiting: a broker away for an hour costs one message per retained topic, not an hour of them.
//! Past the byte budget, new non-retained messages are dropped and counted.
//!
//! An empty retained payload deletes the broker's retained message, so it is never made by
//! accident: [`Outgoing::message`] refuses it, and only [`Outgoing::clear`] says it on purpose.

use std::collections::{HashMap, VecDeque};

use rumqttc::{AsyncClient, ClientError, QoS};

/// A message to publish (QoS 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    topic: String,
    payload: Vec<u8>,
    retain: bool,
}

/// An empty retained payload made by accident (it would delete the retained message).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "refusing an empty retained payload on {0}: it would delete the retained message \
     (use Outgoing::clear to delete it on purpose)"
)]
pub struct EmptyRetained(pub String);

impl Outgoing {
    /// A message; an empty payload on a retained topic is refused.
    pub fn message(
        topic: impl Into<String>,
        payload: Vec<u8>,
        retain: bool,
    ) -> Result<Outgoing, EmptyRetained> {
        let topic = topic.into();
        if retain && payload.is_empty() {
            return Err(EmptyRetained(topic));
        }
        Ok(Outgoing {
            topic,
            payload,
            retain,
        })
    }

    /// `value` as JSON.
    pub fn json<T: serde::Serialize>(
        topic: impl Into<String>,
        value: &T,
        retain: bool,
    ) -> Result<Outgoing, serde_json::Error> {
        let payload = serde_json::to_vec(value)?;
        // JSON is never empty: `message` cannot refuse it.
        Ok(Outgoing {
            topic: topic.into(),
            payload,
            retain,
        })
    }

    /// Deletes the retained message of `topic` (an empty retained payload, on purpose).
    pub fn clear(topic: impl Into<String>) -> Outgoing {
        Outgoing {
            topic: topic.into(),
            payload: Vec::new(),
            retain: true,
        }
    }

    /// The topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The payload.
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// Whether it is retained.
    pub fn retain(&self) -> bool {
        self.retain
    }

    /// Bytes it holds in the outbox.
    fn size(&self) -> usize {
        self.topic.len() + self.payload.len()
    }
}

/// Messages waiting for the MQTT client, at most `max_bytes` of topics and payloads.
#[derive(Debug)]
pub struct Outbox {
    /// In publishing order; `None` where a newer retained message replaced this one.
    queue: VecDeque<Option<Outgoing>>,
    /// Sequence number of `queue[0]`.
    head: u64,
    /// Where each retained topic's waiting message is (its sequence number).
    retained: HashMap<String, u64>,
    bytes: usize,
    max_bytes: usize,
    waiting: usize,
    dropped: u64,
    handed: u64,
}

impl Outbox {
    /// An empty outbox holding at most `max_bytes`.
    pub fn new(max_bytes: usize) -> Outbox {
        Outbox {
            queue: VecDeque::new(),
            head: 0,
            retained: HashMap::new(),
            bytes: 0,
            max_bytes,
            waiting: 0,
            dropped: 0,
            handed: 0,
        }
    }

    /// Queues `message`; a retained one replaces the message of the same topic still waiting.
    /// Returns false when it was dropped for want of room (counted in [`Outbox::dropped`]).
    pub fn push(&mut self, message: Outgoing) -> bool {
        let replaced = if message.retain {
            self.retained.get(&message.topic).copied()
        } else {
            None
        };
        let freed = replaced.map_or(0, |seq| self.slot_size(seq));
        if self.bytes - freed + message.size() > self.max_bytes && !self.is_empty() {
            self.dropped += 1;
            return false;
        }
        if let Some(seq) = replaced {
            self.take(seq);
        }
        let seq = self.head + self.queue.len() as u64;
        if message.retain {
            self.retained.insert(message.topic.clone(), seq);
        }
        self.bytes += message.size();
        self.waiting += 1;
        self.queue.push_back(Some(message));
        true
    }

    /// Hands waiting messages to `client` while its request queue has room; returns how many.
    pub fn hand_over(&mut self, client: &AsyncClient) -> u64 {
        let mut handed = 0;
        while let Some(front) = self.queue.front() {
            let Some(message) = front else {
                self.pop_front();
                continue;
            };
            match client.try_publish(
                message.topic.as_str(),
                QoS::AtLeastOnce,
                message.retain,
                message.payload.clone(),
            ) {
                Ok(()) => handed += 1,
                Err(ClientError::TryRequest(_)) => break,
                Err(error) => {
                    // Only a topic rumqttc refuses lands here; services build valid ones.
                    tracing::warn!(topic = %message.topic, %error, "publication refused by the MQTT client");
                    self.dropped += 1;
                }
            }
            self.pop_front();
        }
        self.handed += handed;
        handed
    }

    /// The messages waiting, in publishing order (for tests).
    #[cfg(test)]
    pub(crate) fn waiting(&self) -> impl Iterator<Item = &Outgoing> {
        self.queue.iter().flatten()
    }

    /// Messages waiting.
    pub fn len(&self) -> usize {
        self.waiting
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.waiting == 0
    }

    /// Bytes waiting.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Messages dropped for want of room (or refused by the client).
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Messages handed to the client so far.
    pub fn handed(&self) -> u64 {
        self.handed
    }

    /// The waiting messages, oldest first (tests, and services that inspect their output).
    pub fn iter(&self) -> impl Iterator<Item = &Outgoing> {
        self.queue.iter().flatten()
    }

    fn slot_size(&self, seq: u64) -> usize {
        self.queue
            .get((seq - self.head) as usize)
            .and_then(Option::as_ref)
            .map_or(0, Outgoing::size)
    }

    /// Removes the message at `seq`, leaving its slot empty.
    fn take(&mut self, seq: u64) {
        if let Some(slot) = self.queue.get_mut((seq - self.head) as usize)
            && let Some(message) = slot.take()
        {
            self.bytes -= message.size();
            self.waiting -= 1;
        }
    }

    fn pop_front(&mut self) {
        if let Some(Some(message)) = self.queue.pop_front() {
            self.bytes -= message.size();
            self.waiting -= 1;
            if message.retain && self.retained.get(&message.topic) == Some(&self.head) {
                self.retained.remove(&message.topic);
            }
        }
        self.head += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(topic: &str, payload: &str, retain: bool) -> Outgoing {
        Outgoing::message(topic, payload.as_bytes().to_vec(), retain).expect("not empty")
    }

    fn waiting(outbox: &Outbox) -> Vec<(&str, &[u8])> {
        outbox.iter().map(|m| (m.topic(), m.payload())).collect()
    }

    #[test]
    fn a_newer_retained_message_replaces_the_waiting_one() {
        let mut outbox = Outbox::new(1 << 20);
        assert!(outbox.push(msg("a/agg", "1", true)));
        assert!(outbox.push(msg("err", "x", false)));
        assert!(outbox.push(msg("a/agg", "2", true)));
        assert!(outbox.push(msg("err", "y", false)));
        assert_eq!(
            waiting(&outbox),
            [("err", &b"x"[..]), ("a/agg", &b"2"[..]), ("err", &b"y"[..])]
        );
        assert_eq!((outbox.len(), outbox.bytes()), (3, 4 + 6 + 4));
    }

    #[test]
    fn past_the_budget_new_messages_are_dropped_and_counted() {
        let mut outbox = Outbox::new(10);
        assert!(outbox.push(msg("t", "123456789", false)));
        assert!(!outbox.push(msg("t", "x", false)));
        assert_eq!((outbox.len(), outbox.dropped()), (1, 1));
        // A replacement of the same size fits where a new topic would not.
        let mut outbox = Outbox::new(6);
        assert!(outbox.push(msg("r", "12345", true)));
        assert!(outbox.push(msg("r", "54321", true)));
        assert!(!outbox.push(msg("s", "1", true)));
        assert_eq!(waiting(&outbox), [("r", &b"54321"[..])]);
    }

    #[test]
    fn one_message_larger_than_the_budget_still_goes_through_an_empty_outbox() {
        let mut outbox = Outbox::new(4);
        assert!(outbox.push(msg("topic", "a large payload", false)));
        assert_eq!(outbox.len(), 1);
    }

    #[test]
    fn an_empty_retained_payload_is_only_made_on_purpose() {
        let refused = Outgoing::message("garonne/v1/alerts/r/s", Vec::new(), true);
        assert!(
            refused
                .expect_err("refused")
                .to_string()
                .contains("Outgoing::clear")
        );
        let clear = Outgoing::clear("garonne/v1/alerts/r/s");
        assert!(clear.retain() && clear.payload().is_empty());
        assert!(Outgoing::message("t", Vec::new(), false).is_ok());
    }

    #[tokio::test]
    async fn handing_over_empties_the_queue_in_order_and_forgets_retained_slots() {
        let (client, _eventloop) =
            AsyncClient::new(rumqttc::MqttOptions::new("outbox-test", "127.0.0.1", 1), 2);
        let mut outbox = Outbox::new(1 << 20);
        for (topic, retain) in [("a", true), ("b", false), ("a", true), ("c", false)] {
            outbox.push(msg(topic, "p", retain));
        }
        // The client's request queue holds two: the rest waits.
        assert_eq!(outbox.hand_over(&client), 2);
        assert_eq!(waiting(&outbox), [("c", &b"p"[..])]);
        assert!(
            outbox.push(msg("a", "q", true)),
            "a new retained message for a"
        );
        assert_eq!(waiting(&outbox), [("c", &b"p"[..]), ("a", &b"q"[..])]);
        assert_eq!(outbox.handed(), 2);
    }
}

//! The channel from the MQTT event loop to a service: bounded in bytes, not in messages.
//!
//! Design: a count bound lets 4,096 messages of 256 KiB each hold a gigabyte; a byte bound holds
//! what it says. Each message takes its topic and payload bytes (plus a fixed overhead, so that
//! a flood of empty messages is bounded too) from a semaphore, and gives them back when the
//! service drops it. A full inbox makes the event loop wait, which stops it reading the socket:
//! the broker keeps the rest (QoS 1) and TCP pushes back, instead of this process growing.

use std::sync::Arc;

use rumqttc::Publish;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

/// Bytes counted for a message besides its topic and payload.
pub const OVERHEAD: usize = 64;

/// A received message, holding its share of the inbox until dropped.
#[derive(Debug)]
pub struct Inbound {
    /// The message.
    pub publish: Publish,
    /// Its share of the inbox, given back when dropped.
    pub room: OwnedSemaphorePermit,
}

/// The event loop's end.
#[derive(Debug, Clone)]
pub struct Sender {
    tx: mpsc::UnboundedSender<Inbound>,
    room: Arc<Semaphore>,
    max_bytes: usize,
}

/// The service's end.
pub type Receiver = mpsc::UnboundedReceiver<Inbound>;

/// An inbox holding at most `max_bytes` (a single larger message still passes, alone).
pub fn channel(max_bytes: usize) -> (Sender, Receiver) {
    // At most u32::MAX: one message takes at most max_bytes permits in one u32 request.
    let max_bytes = max_bytes.clamp(OVERHEAD, Semaphore::MAX_PERMITS.min(u32::MAX as usize));
    let (tx, rx) = mpsc::unbounded_channel();
    let room = Arc::new(Semaphore::new(max_bytes));
    (
        Sender {
            tx,
            room,
            max_bytes,
        },
        rx,
    )
}

impl Sender {
    /// Waits for room, then sends; false once the receiver is gone.
    pub async fn send(&self, publish: Publish) -> bool {
        let size = (publish.topic.len() + publish.payload.len() + OVERHEAD).min(self.max_bytes);
        let Ok(room) = Arc::clone(&self.room)
            .acquire_many_owned(u32::try_from(size).unwrap_or(u32::MAX))
            .await
        else {
            return false;
        };
        self.tx.send(Inbound { publish, room }).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn message(bytes: usize) -> Publish {
        Publish::new("t", rumqttc::QoS::AtLeastOnce, vec![0; bytes])
    }

    #[tokio::test]
    async fn a_full_inbox_waits_until_the_service_drops_a_message() {
        let (tx, mut rx) = channel(2 * (1000 + 1 + OVERHEAD));
        assert!(tx.send(message(1000)).await);
        assert!(tx.send(message(1000)).await);
        let third = tokio::time::timeout(Duration::from_millis(50), tx.send(message(1000))).await;
        assert!(third.is_err(), "no room for a third message");
        let first = rx.recv().await.expect("first");
        drop(first);
        let third = tokio::time::timeout(Duration::from_secs(5), tx.send(message(1000))).await;
        assert_eq!(third, Ok(true), "room again once the first was dropped");
    }

    #[tokio::test]
    async fn a_message_larger_than_the_inbox_passes_alone() {
        let (tx, mut rx) = channel(100);
        assert!(tx.send(message(10_000)).await);
        assert_eq!(rx.recv().await.expect("it").publish.payload.len(), 10_000);
    }
}

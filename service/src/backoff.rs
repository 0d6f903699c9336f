//! The one retry policy of Garonne: capped exponential backoff with jitter.
//!
//! Every loop that retries something that failed (an MQTT connection, a store write, a spool
//! sync) waits through a [`Backoff`]: the wait doubles from `start` up to `max`, and each wait is
//! drawn at random in its upper half ("equal jitter"), so that services restarted together by a
//! broker outage do not all knock again at the same instant.

use std::time::Duration;

/// Capped exponential backoff with jitter.
#[derive(Debug, Clone)]
pub struct Backoff {
    start: Duration,
    max: Duration,
    /// The ceiling of the next wait.
    ceiling: Duration,
    /// xorshift64 state: jitter needs no cryptographic randomness.
    seed: u64,
}

impl Backoff {
    /// A backoff whose waits double from `start` to at most `max`.
    pub fn new(start: Duration, max: Duration) -> Backoff {
        let clock = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        // Mixed with an address, so two backoffs made in the same nanosecond still differ.
        let here = &clock as *const u32 as u64;
        Backoff::with_seed(start, max, u64::from(clock) ^ here.rotate_left(29))
    }

    /// Like [`Backoff::new`] with a fixed seed (tests).
    pub fn with_seed(start: Duration, max: Duration, seed: u64) -> Backoff {
        Backoff {
            start,
            max: max.max(start),
            ceiling: start,
            seed: seed | 1,
        }
    }

    /// The next wait: at random between half the current ceiling and the ceiling, which then
    /// doubles (up to `max`).
    pub fn next_wait(&mut self) -> Duration {
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        let ceiling = self.ceiling;
        self.ceiling = (self.ceiling * 2).min(self.max);
        let half = ceiling / 2;
        let nanos = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
        half + Duration::from_nanos(if nanos == 0 { 0 } else { self.seed % nanos })
    }

    /// Sleeps for [`Backoff::next_wait`].
    pub async fn wait(&mut self) {
        tokio::time::sleep(self.next_wait()).await;
    }

    /// Back to the first wait, after a success.
    pub fn reset(&mut self) {
        self.ceiling = self.start;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const START: Duration = Duration::from_millis(100);
    const MAX: Duration = Duration::from_secs(5);

    #[test]
    fn waits_double_within_their_jitter_and_stop_at_the_cap() {
        let mut backoff = Backoff::with_seed(START, MAX, 42);
        let mut ceiling = START;
        for _ in 0..12 {
            let wait = backoff.next_wait();
            assert!(
                wait >= ceiling / 2 && wait <= ceiling,
                "{wait:?} outside {ceiling:?}"
            );
            ceiling = (ceiling * 2).min(MAX);
        }
        backoff.reset();
        assert!(
            backoff.next_wait() <= START,
            "reset starts again from the first wait"
        );
    }

    #[test]
    fn two_seeds_give_two_schedules() {
        let mut a = Backoff::with_seed(START, MAX, 1);
        let mut b = Backoff::with_seed(START, MAX, 2);
        let waits = |b: &mut Backoff| (0..8).map(|_| b.next_wait()).collect::<Vec<_>>();
        assert_ne!(waits(&mut a), waits(&mut b));
    }

    #[tokio::test(start_paused = true)]
    async fn ten_failures_wait_between_the_capped_bounds_in_virtual_time() {
        let mut backoff = Backoff::new(START, MAX);
        let started = tokio::time::Instant::now();
        for _ in 0..10 {
            backoff.wait().await;
        }
        // Ceilings 0.1, 0.2, 0.4, 0.8, 1.6, 3.2, then 5 s four times: 26.3 s at most, half that
        // at least.
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(13_150) && waited <= Duration::from_millis(26_300),
            "{waited:?}"
        );
    }
}

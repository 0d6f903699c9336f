//! A PIR motion detector (HC-SR501 and the like) on a GPIO line.
//!
//! The detector drives its output high while it sees motion. The line is watched for rising
//! edges by an interrupt (rppal's on a Pi, a seeded random source in the fake), and each
//! reading reports `motion` 1 when at least one rising edge came since the previous reading,
//! 0 otherwise: a short movement between two readings is not missed, as sampling the level
//! at reading time would miss it.

/// A digital input that counts its rising edges.
pub trait EdgeInput: Send {
    /// Rising edges seen since the previous call (or since the line was opened).
    fn take_rising_edges(&mut self) -> u32;
}

/// A PIR detector on an [`EdgeInput`].
pub struct Pir<E> {
    input: E,
}

impl<E: EdgeInput> Pir<E> {
    /// A detector on an opened line; the edges it has seen so far are forgotten.
    pub fn new(mut input: E) -> Pir<E> {
        input.take_rising_edges();
        Pir { input }
    }

    /// `1.0` when motion began since the previous call, else `0.0` (the `motion` quantity).
    pub fn motion(&mut self) -> f64 {
        if self.input.take_rising_edges() > 0 {
            1.0
        } else {
            0.0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Script(Vec<u32>);

    impl EdgeInput for Script {
        fn take_rising_edges(&mut self) -> u32 {
            if self.0.is_empty() {
                0
            } else {
                self.0.remove(0)
            }
        }
    }

    #[test]
    fn motion_is_one_when_an_edge_came_since_the_previous_reading() {
        // The first count (edges before the agent started) is discarded by `new`.
        let mut pir = Pir::new(Script(vec![9, 0, 1, 4, 0]));
        let seen: Vec<f64> = (0..5).map(|_| pir.motion()).collect();
        assert_eq!(seen, [0.0, 1.0, 1.0, 0.0, 0.0]);
    }
}

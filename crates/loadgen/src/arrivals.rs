//! When each request of an open-loop load is due, from the load's start:
//! even gaps of 1/rate, or exponential gaps (a Poisson process) drawn from
//! a seeded generator, so the same seed gives the same schedule.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::plan::Arrival;

/// The due times of an open-loop load, in order, without end.
pub struct Arrivals {
    rps: f64,
    arrival: Arrival,
    rng: StdRng,
    next_s: f64,
    sent: u64,
}

impl Arrivals {
    pub fn new(rps: f64, arrival: Arrival, seed: u64) -> Arrivals {
        Arrivals {
            rps,
            arrival,
            rng: StdRng::seed_from_u64(seed),
            next_s: 0.0,
            sent: 0,
        }
    }
}

impl Iterator for Arrivals {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let due = match self.arrival {
            // Counted from the start, not added up, so no rounding drifts.
            Arrival::Constant => self.sent as f64 / self.rps,
            Arrival::Poisson => {
                let due = self.next_s;
                // Inverse of the exponential CDF; 1 - u is in (0, 1].
                let u: f64 = self.rng.random();
                self.next_s += -(1.0 - u).ln() / self.rps;
                due
            }
        };
        self.sent += 1;
        Some(Duration::from_secs_f64(due))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_arrivals_are_evenly_spaced() {
        let due: Vec<Duration> = Arrivals::new(4.0, Arrival::Constant, 0).take(5).collect();
        let ms: Vec<u128> = due.iter().map(Duration::as_millis).collect();
        assert_eq!(ms, vec![0, 250, 500, 750, 1000]);
    }

    #[test]
    fn poisson_arrivals_keep_the_rate_and_vary_the_gaps() {
        let due: Vec<Duration> = Arrivals::new(10.0, Arrival::Poisson, 7)
            .take(10_001)
            .collect();
        let secs = due[10_000].as_secs_f64();
        // 10,000 gaps of mean 0.1 s: within 3% of 1,000 s.
        assert!((secs - 1000.0).abs() < 30.0, "{secs}");
        let gaps: Vec<f64> = due
            .windows(2)
            .map(|w| (w[1] - w[0]).as_secs_f64())
            .collect();
        // An exponential's standard deviation equals its mean.
        let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
        let var = gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / gaps.len() as f64;
        assert!(
            (var.sqrt() / mean - 1.0).abs() < 0.05,
            "{}",
            var.sqrt() / mean
        );
        assert!(due.windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn the_same_seed_gives_the_same_schedule() {
        let a: Vec<Duration> = Arrivals::new(3.0, Arrival::Poisson, 42).take(20).collect();
        let b: Vec<Duration> = Arrivals::new(3.0, Arrival::Poisson, 42).take(20).collect();
        let c: Vec<Duration> = Arrivals::new(3.0, Arrival::Poisson, 43).take(20).collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }
}

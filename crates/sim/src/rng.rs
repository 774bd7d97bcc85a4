//! Seeded randomness: a ChaCha stream per purpose, derived from one seed, and the few
//! distributions the traffic and phone models draw from.

use std::time::Duration;

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// A seeded random stream. Every random choice in the simulator comes from one of these.
#[derive(Debug, Clone)]
pub struct SimRng(ChaCha8Rng);

impl SimRng {
    /// A stream for `purpose`, derived from the run's `seed` so streams do not correlate.
    pub fn new(seed: u64, purpose: u64) -> Self {
        let mixed = seed ^ purpose.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        Self(ChaCha8Rng::seed_from_u64(mixed))
    }

    /// A uniform float in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        // 53 random bits fill an f64 mantissa exactly.
        (self.0.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// A uniform integer in `[0, n)`; 0 when `n` is 0.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.0.next_u64() % n }
    }

    /// An exponential draw with the given mean (inter-arrival times of a Poisson process).
    pub fn exp(&mut self, mean: f64) -> f64 {
        -mean * (1.0 - self.unit()).ln()
    }
}

/// A duration distribution, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Dist {
    /// Always the same.
    Fixed {
        /// Milliseconds.
        ms: u64,
    },
    /// Uniform between two bounds.
    Uniform {
        /// Lower bound, ms.
        min_ms: u64,
        /// Upper bound, ms.
        max_ms: u64,
    },
    /// Exponential with a mean (memoryless patience, talk times).
    Exp {
        /// Mean, ms.
        mean_ms: u64,
    },
}

impl Dist {
    /// A fixed duration.
    pub const fn fixed(ms: u64) -> Self {
        Self::Fixed { ms }
    }

    /// One draw.
    pub fn sample(&self, rng: &mut SimRng) -> Duration {
        let ms = match *self {
            Self::Fixed { ms } => ms,
            Self::Uniform { min_ms, max_ms } => {
                min_ms + rng.below(max_ms.saturating_sub(min_ms).saturating_add(1))
            }
            // Truncated at 20 means so one unlucky draw cannot hold a call for hours.
            Self::Exp { mean_ms } => {
                let mean = mean_ms as f64;
                rng.exp(mean).min(mean * 20.0) as u64
            }
        };
        Duration::from_millis(ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream() {
        let mut a = SimRng::new(7, 1);
        let mut b = SimRng::new(7, 1);
        let mut c = SimRng::new(7, 2);
        let xs: Vec<f64> = (0..5).map(|_| a.unit()).collect();
        let ys: Vec<f64> = (0..5).map(|_| b.unit()).collect();
        let zs: Vec<f64> = (0..5).map(|_| c.unit()).collect();
        assert_eq!(xs, ys);
        assert_ne!(xs, zs);
    }

    #[test]
    fn exp_mean_is_close() {
        let mut rng = SimRng::new(1, 1);
        let n = 20_000;
        let total: f64 = (0..n).map(|_| rng.exp(100.0)).sum();
        let mean = total / f64::from(n);
        assert!((90.0..110.0).contains(&mean), "mean {mean}");
        let d = Dist::Uniform { min_ms: 10, max_ms: 20 }.sample(&mut rng);
        assert!((10..=20).contains(&d.as_millis()));
    }
}

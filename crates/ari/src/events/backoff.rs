//! Reconnect delays: capped exponential backoff with jitter from a seeded RNG.
//!
//! Jitter keeps many starq instances from reconnecting to a restarted node in lockstep; the seed
//! makes a test's delays reproducible.

use std::time::Duration;

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};

/// Backoff parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackoffConfig {
    /// Delay after the first failure (before jitter).
    pub initial: Duration,
    /// Ceiling of the delay (before jitter).
    pub max: Duration,
    /// A connection that stayed up this long counts as healthy: the next failure starts again
    /// from `initial`. Without this, a node that accepts and at once drops would be hammered.
    pub healthy_after: Duration,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        BackoffConfig {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(5),
            healthy_after: Duration::from_secs(10),
        }
    }
}

/// The delay sequence: the n-th consecutive failure waits a uniformly random time in
/// `[d/2, d]` where `d = min(max, initial * 2^(n-1))` ("equal jitter").
#[derive(Debug, Clone)]
pub struct Backoff {
    config: BackoffConfig,
    failures: u32,
    rng: ChaCha8Rng,
}

impl Backoff {
    /// A backoff with its own RNG seeded from `seed`.
    pub fn new(config: BackoffConfig, seed: u64) -> Self {
        Backoff { config, failures: 0, rng: ChaCha8Rng::seed_from_u64(seed) }
    }

    /// Consecutive failures so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Records a failure and returns how long to wait before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        self.failures = self.failures.saturating_add(1);
        let exponent = (self.failures - 1).min(30);
        let ceiling = self.config.initial.saturating_mul(1 << exponent).min(self.config.max);
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        let half = nanos / 2;
        let jitter = match nanos - half {
            0 => 0,
            span => self.rng.next_u64() % (span + 1),
        };
        Duration::from_nanos(half + jitter)
    }

    /// A connection was healthy: start again from `initial`.
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> BackoffConfig {
        BackoffConfig {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(2),
            healthy_after: Duration::from_secs(1),
        }
    }

    #[test]
    fn grows_exponentially_within_jitter_bounds_and_caps() {
        let mut backoff = Backoff::new(config(), 7);
        let mut ceiling = Duration::from_millis(100);
        for _ in 0..40 {
            let delay = backoff.next_delay();
            assert!(delay >= ceiling / 2 && delay <= ceiling, "{delay:?} vs {ceiling:?}");
            ceiling = (ceiling * 2).min(Duration::from_secs(2));
        }
        assert_eq!(backoff.failures(), 40);
        backoff.reset();
        assert!(backoff.next_delay() <= Duration::from_millis(100));
    }

    #[test]
    fn same_seed_same_delays_other_seed_other_delays() {
        let delays = |seed| {
            let mut backoff = Backoff::new(config(), seed);
            (0..10).map(|_| backoff.next_delay()).collect::<Vec<_>>()
        };
        assert_eq!(delays(1), delays(1));
        assert_ne!(delays(1), delays(2));
    }

    #[test]
    fn jitter_spreads_delays() {
        let mut seen = std::collections::BTreeSet::new();
        for seed in 0..50 {
            seen.insert(Backoff::new(config(), seed).next_delay());
        }
        assert!(seen.len() > 40, "jitter produced only {} distinct delays", seen.len());
    }
}

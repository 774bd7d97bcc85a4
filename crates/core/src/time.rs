//! Time as the core sees it: a value passed in, never read.
//!
//! [`Time`] is wall-clock milliseconds since the Unix epoch. Wall time rather than a monotonic
//! instant because due-times are shared between instances through the store and end up in
//! `queue_log` as epoch seconds; the shell keeps it monotonic for the core (it never hands in a
//! `now` earlier than the previous one).

use std::fmt;
use std::ops::{Add, Sub};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A point in time: milliseconds since the Unix epoch.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Time(pub u64);

impl Time {
    /// The Unix epoch; also "never happened" for counters such as an agent's last call end.
    pub const ZERO: Time = Time(0);

    /// Builds a time from milliseconds since the epoch.
    pub const fn from_millis(ms: u64) -> Self {
        Time(ms)
    }

    /// Milliseconds since the epoch.
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// Whole seconds since the epoch, as `queue_log` writes them.
    pub const fn as_secs(self) -> u64 {
        self.0 / 1000
    }

    /// Time elapsed since `earlier`, zero if `earlier` is later.
    pub fn since(self, earlier: Time) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }
}

// Time arithmetic saturates, so that no duration (a setting, a dialplan argument) can panic
// the core: a deadline past the end of `u64` milliseconds is one never reached. `Duration`'s
// own `+` and `*` panic on overflow; the core uses `saturating_*` on those.
impl Add<Duration> for Time {
    type Output = Time;
    fn add(self, rhs: Duration) -> Time {
        Time(self.0.saturating_add(u64::try_from(rhs.as_millis()).unwrap_or(u64::MAX)))
    }
}

impl Sub<Duration> for Time {
    type Output = Time;
    fn sub(self, rhs: Duration) -> Time {
        Time(self.0.saturating_sub(u64::try_from(rhs.as_millis()).unwrap_or(u64::MAX)))
    }
}

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:03}", self.0 / 1000, self.0 % 1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates_instead_of_wrapping() {
        assert_eq!(Time(5) - Duration::from_millis(10), Time::ZERO);
        assert_eq!(Time(u64::MAX) + Duration::from_secs(1), Time(u64::MAX));
        assert_eq!(Time(1) + Duration::MAX, Time(u64::MAX));
        assert_eq!(Time(1) + Duration::from_secs(u64::MAX), Time(u64::MAX));
        assert_eq!(Time(u64::MAX) - Duration::MAX, Time::ZERO);
        assert_eq!(Time(u64::MAX).since(Time::ZERO), Duration::from_millis(u64::MAX));
        assert_eq!(Time(1_500).since(Time(2_000)), Duration::ZERO);
        assert_eq!(Time(2_500).since(Time(1_000)), Duration::from_millis(1_500));
    }
}

//! The ranges queue and agent settings must fall in, checked where configuration is parsed
//! (`starq.toml` in the engine's config module, `penaltychange` here).
//!
//! Why bounds at all: a setting is carried into timers, handle-time averages and, with Redis,
//! milliseconds in Lua numbers. The core saturates rather than panics on any value (see
//! [`Time`](crate::Time)), but a wrap-up of 2^64 seconds is a typo, not a wish, and is better
//! refused with its key than obeyed as "never". The maxima are far beyond any call center's
//! needs (a day for anything a caller or an agent waits through, an hour for a phone ringing)
//! and are listed in `docs/starq.example.toml`. Durations are whole seconds, as written.

use std::fmt::Display;
use std::ops::RangeInclusive;
use std::time::Duration;

/// Seconds in an hour.
pub const HOUR: u64 = 3600;
/// Seconds in a day.
pub const DAY: u64 = 24 * HOUR;

/// `timeout`: how long an agent's phone rings for one offer.
pub const RING_TIMEOUT_SECS: RangeInclusive<u64> = 1..=HOUR;
/// `ring_progressively_delay`: at least a second, or the ringing set would grow in a loop.
pub const RING_PROGRESSIVELY_DELAY_SECS: RangeInclusive<u64> = 1..=HOUR;
/// `retry`: how long an agent who missed an offer is skipped.
pub const RETRY_SECS: RangeInclusive<u64> = 0..=HOUR;
/// `wrapuptime`, of a queue or of an agent.
pub const WRAPUP_SECS: RangeInclusive<u64> = 0..=DAY;
/// `max_wait` (0: no maximum).
pub const MAX_WAIT_SECS: RangeInclusive<u64> = 0..=DAY;
/// `servicelevel`.
pub const SERVICE_LEVEL_SECS: RangeInclusive<u64> = 0..=DAY;
/// The time of a `penaltychange` step, from the caller's entry.
pub const PENALTY_STEP_SECS: RangeInclusive<u64> = 0..=DAY;
/// Announcement intervals and delays (`announce.frequency`, `min_frequency`,
/// `periodic_frequency`, `periodic_start_delay`; 0 where it means "none").
pub const ANNOUNCE_SECS: RangeInclusive<u64> = 0..=DAY;
/// `announce.round_seconds` (0: minutes); only waits under a minute are said in seconds.
pub const ROUND_SECONDS: RangeInclusive<u32> = 0..=60;
/// `weight`.
pub const WEIGHT: RangeInclusive<u32> = 0..=1_000_000;
/// An agent's penalty in a queue.
pub const PENALTY: RangeInclusive<u32> = 0..=1_000_000;
/// `autopause_after`: missed offers in a row before an auto-pause.
pub const AUTOPAUSE_AFTER: RangeInclusive<u32> = 1..=1000;
/// Counts of callers or members: `maxlen` (0: unlimited), `penaltymemberslimit`,
/// `announce.position_limit`.
pub const CALLERS_OR_MEMBERS: RangeInclusive<u32> = 0..=100_000;
/// A dialplan priority (`on_timeout.priority`): Asterisk's are positive C `int`s.
pub const DIALPLAN_PRIORITY: RangeInclusive<u32> = 1..=i32::MAX as u32;

/// The duration of `secs` seconds if `range` holds it, else why not, naming the range ("must be
/// between 1 and 3600 seconds (1 hour), not 0").
pub fn secs(range: &RangeInclusive<u64>, secs: u64) -> Result<Duration, String> {
    if range.contains(&secs) {
        return Ok(Duration::from_secs(secs));
    }
    let max = *range.end();
    let words = match max {
        DAY => " (1 day)",
        HOUR => " (1 hour)",
        _ => "",
    };
    Err(format!("must be between {} and {max} seconds{words}, not {secs}", range.start()))
}

/// `value` if `range` holds it, else why not ("must be between 1 and 1000, not 0").
pub fn count<T: PartialOrd + Copy + Display>(
    range: &RangeInclusive<T>,
    value: T,
) -> Result<T, String> {
    if range.contains(&value) {
        return Ok(value);
    }
    Err(format!("must be between {} and {}, not {value}", range.start(), range.end()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_range_values_are_named_with_the_range() {
        assert_eq!(secs(&WRAPUP_SECS, 10), Ok(Duration::from_secs(10)));
        assert_eq!(
            secs(&WRAPUP_SECS, u64::MAX),
            Err("must be between 0 and 86400 seconds (1 day), not 18446744073709551615".into())
        );
        assert_eq!(
            secs(&RING_TIMEOUT_SECS, 0),
            Err("must be between 1 and 3600 seconds (1 hour), not 0".into())
        );
        assert_eq!(count(&AUTOPAUSE_AFTER, 0), Err("must be between 1 and 1000, not 0".into()));
        assert_eq!(count(&WEIGHT, 7), Ok(7));
    }
}

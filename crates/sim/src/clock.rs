//! Time as the simulator reports it: a monotonic instant for timers and a wall-clock
//! millisecond count for the `timestamp` and `creationtime` fields Asterisk writes.
//!
//! This module is the only place that reads a clock; everything else receives a [`Now`].

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

/// One reading of both clocks, taken once per REST request, timer or script step.
#[derive(Debug, Clone, Copy)]
pub struct Now {
    /// Monotonic time, for deadlines.
    pub mono: Instant,
    /// Milliseconds since the Unix epoch, for timestamps on the wire.
    pub wall_ms: u64,
}

impl Now {
    /// Reads both clocks.
    #[allow(clippy::disallowed_methods)] // the shell's one clock read
    pub fn read() -> Self {
        let wall_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        Self { mono: Instant::now(), wall_ms }
    }

    /// The same reading moved `delay` forward (used to stamp timer-driven events).
    pub fn after(self, delay: Duration) -> Self {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        let mono = self.mono.checked_add(delay).unwrap_or(self.mono);
        Self { mono, wall_ms: self.wall_ms.saturating_add(ms) }
    }

    /// This reading as Asterisk formats dates: `2026-11-22T12:12:31.281+0000`.
    pub fn stamp(self) -> String {
        format_wall_ms(self.wall_ms)
    }
}

/// Formats Unix milliseconds the way Asterisk's `ast_json_timeval` does (UTC, `+0000`).
pub fn format_wall_ms(wall_ms: u64) -> String {
    let secs = wall_ms / 1000;
    let millis = wall_ms % 1000;
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}+0000",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// Howard Hinnant's days-to-civil conversion: exact for the proleptic Gregorian calendar,
/// which spares a date crate for one format string.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let m = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_asterisk() {
        // 2026-11-22T12:12:31.281Z, the first event of sample 01.
        assert_eq!(format_wall_ms(1_795_349_551_281), "2026-11-22T12:12:31.281+0000");
        assert_eq!(format_wall_ms(0), "1970-01-01T00:00:00.000+0000");
        assert_eq!(format_wall_ms(951_782_400_000), "2000-02-29T00:00:00.000+0000");
    }
}

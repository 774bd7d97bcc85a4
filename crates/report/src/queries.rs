//! Queue performance per queue and interval, from the call records (`queue_calls`).
//!
//! [`INTERVAL_STATS`] counts, for each queue and interval of entry time, what the usual figures
//! are made of; [`IntervalStats`] turns the counts into the figures:
//!
//! - **SL** (app_queue's service level): answered within the service level / answered.
//! - **SL2** (app_queue's `servicelevel2`): (answered within + abandoned within the service
//!   level) / (answered + abandoned).
//! - **abandon rate**: abandoned / offered (callers who entered; refusals at entry are not
//!   offered calls, they are counted by outcome).
//! - **ASA**, average speed of answer: total wait of answered callers / answered.
//! - **AHT**, average handle time: total talk time / completed calls (talk only: wrap-up is
//!   agent time, not call time).
//!
//! "Within the service level" compares waits the way app_queue does, in whole seconds rounded
//! down: a wait of 20.9 s is within a 20 s service level, 21.0 s is not.
//!
//! The same query, readable, is in `docs/reports.md` for ad-hoc use.

use std::time::Duration;

use sqlx::{Database, Executor, IntoArguments, Pool};
use starq_core::Time;

use crate::sql::{AnyPool, SqlError};

/// Counts per queue and interval. Parameters, in order: interval (ms) twice, the service-level
/// bound (ms, exclusive: `(service level s + 1) × 1000`) twice, then the entry-time range
/// `[from, to)` in epoch ms. `{div}` is integer division and `{bigint}` the 64-bit integer type
/// of the dialect ([`Dialect::sql`](crate::sql::Dialect::sql)).
pub const INTERVAL_STATS: &str = "\
SELECT queuename,
  CAST((entered_ms{div}?) * ? AS {bigint}) AS interval_start,
  CAST(COUNT(*) AS {bigint}) AS offered,
  CAST(SUM(CASE WHEN answered_ms IS NOT NULL THEN 1 ELSE 0 END) AS {bigint}) AS answered,
  CAST(SUM(CASE WHEN answered_ms IS NOT NULL AND wait_ms < ? THEN 1 ELSE 0 END) AS {bigint})
    AS answered_within_sl,
  CAST(SUM(CASE WHEN outcome = 'ABANDONED' THEN 1 ELSE 0 END) AS {bigint}) AS abandoned,
  CAST(SUM(CASE WHEN outcome = 'ABANDONED' AND wait_ms < ? THEN 1 ELSE 0 END) AS {bigint})
    AS abandoned_within_sl,
  CAST(SUM(CASE WHEN answered_ms IS NOT NULL THEN wait_ms ELSE 0 END) AS {bigint})
    AS answered_wait_ms,
  CAST(SUM(CASE WHEN outcome IN ('COMPLETECALLER', 'COMPLETEAGENT') THEN 1 ELSE 0 END)
    AS {bigint}) AS completed,
  CAST(SUM(CASE WHEN outcome IN ('COMPLETECALLER', 'COMPLETEAGENT') THEN talk_ms ELSE 0 END)
    AS {bigint}) AS talk_ms
FROM queue_calls
WHERE entered_ms >= ? AND entered_ms < ?
  AND (outcome IS NULL OR outcome NOT IN ('FULL', 'JOINEMPTY', 'JOINUNAVAIL'))
GROUP BY queuename, interval_start
ORDER BY queuename, interval_start";

/// One queue's counts over one interval, and the figures made from them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IntervalStats {
    /// The queue.
    pub queue: String,
    /// The interval's start, epoch ms (entry time rounded down to the interval).
    pub interval_start: i64,
    /// Callers who entered.
    pub offered: i64,
    /// Callers connected to an agent.
    pub answered: i64,
    /// Of those, answered within the service level.
    pub answered_within_sl: i64,
    /// Callers who hung up while waiting.
    pub abandoned: i64,
    /// Of those, abandoned within the service level.
    pub abandoned_within_sl: i64,
    /// Total wait of answered callers, ms.
    pub answered_wait_ms: i64,
    /// Answered calls that ended.
    pub completed: i64,
    /// Total talk time of completed calls, ms.
    pub talk_ms: i64,
}

fn ratio(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

fn average(total_ms: i64, count: i64) -> Option<Duration> {
    (count > 0).then(|| Duration::from_millis(u64::try_from(total_ms / count).unwrap_or(0)))
}

impl IntervalStats {
    /// The figures of this interval and a later one of the same queue, as one interval that
    /// starts at this one's start (intervals are aligned to the epoch, so a report over a
    /// range that is not can span two).
    pub fn and_then(self, later: &IntervalStats) -> IntervalStats {
        IntervalStats {
            queue: self.queue,
            interval_start: self.interval_start,
            offered: self.offered + later.offered,
            answered: self.answered + later.answered,
            answered_within_sl: self.answered_within_sl + later.answered_within_sl,
            abandoned: self.abandoned + later.abandoned,
            abandoned_within_sl: self.abandoned_within_sl + later.abandoned_within_sl,
            answered_wait_ms: self.answered_wait_ms + later.answered_wait_ms,
            completed: self.completed + later.completed,
            talk_ms: self.talk_ms + later.talk_ms,
        }
    }

    /// SL: answered within the service level / answered (`None` with nothing answered).
    pub fn service_level(&self) -> Option<f64> {
        ratio(self.answered_within_sl, self.answered)
    }

    /// SL2: (answered + abandoned within the service level) / (answered + abandoned).
    pub fn service_level2(&self) -> Option<f64> {
        ratio(self.answered_within_sl + self.abandoned_within_sl, self.answered + self.abandoned)
    }

    /// Abandoned / offered.
    pub fn abandon_rate(&self) -> Option<f64> {
        ratio(self.abandoned, self.offered)
    }

    /// ASA: average wait of answered callers.
    pub fn average_speed_of_answer(&self) -> Option<Duration> {
        average(self.answered_wait_ms, self.answered)
    }

    /// AHT: average talk time of completed calls.
    pub fn average_handle_time(&self) -> Option<Duration> {
        average(self.talk_ms, self.completed)
    }
}

type Row = (String, i64, i64, i64, i64, i64, i64, i64, i64, i64);

/// [`INTERVAL_STATS`] over callers who entered in `[from, to)`, in intervals of `interval`,
/// with a service level of `service_level` (whole seconds, as app_queue's `servicelevel`).
pub async fn interval_stats(
    pool: &AnyPool,
    from: Time,
    to: Time,
    interval: Duration,
    service_level: Duration,
) -> Result<Vec<IntervalStats>, SqlError> {
    let sql = pool.dialect().sql(INTERVAL_STATS);
    let to_i64 = |v: u128| i64::try_from(v).unwrap_or(i64::MAX);
    let params = [
        to_i64(interval.as_millis()).max(1),
        to_i64(interval.as_millis()).max(1),
        to_i64(u128::from(service_level.as_secs() + 1) * 1000),
        to_i64(u128::from(service_level.as_secs() + 1) * 1000),
        to_i64(u128::from(from.as_millis())),
        to_i64(u128::from(to.as_millis())),
    ];
    let rows = match pool {
        AnyPool::MySql(p) => fetch(p, &sql, &params).await?,
        AnyPool::Postgres(p) => fetch(p, &sql, &params).await?,
        AnyPool::Sqlite(p) => fetch(p, &sql, &params).await?,
    };
    Ok(rows
        .into_iter()
        .map(|r| IntervalStats {
            queue: r.0,
            interval_start: r.1,
            offered: r.2,
            answered: r.3,
            answered_within_sl: r.4,
            abandoned: r.5,
            abandoned_within_sl: r.6,
            answered_wait_ms: r.7,
            completed: r.8,
            talk_ms: r.9,
        })
        .collect())
}

async fn fetch<DB>(pool: &Pool<DB>, sql: &str, params: &[i64]) -> Result<Vec<Row>, SqlError>
where
    DB: Database,
    for<'c> &'c Pool<DB>: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Row: for<'r> sqlx::FromRow<'r, DB::Row>,
{
    let mut query = sqlx::query_as::<DB, Row>(sql);
    for p in params {
        query = query.bind(*p);
    }
    Ok(query.fetch_all(pool).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_follow_app_queue_definitions() {
        let s = IntervalStats {
            offered: 10,
            answered: 6,
            answered_within_sl: 3,
            abandoned: 4,
            abandoned_within_sl: 1,
            answered_wait_ms: 60_000,
            completed: 5,
            talk_ms: 500_000,
            ..IntervalStats::default()
        };
        assert_eq!(s.service_level(), Some(0.5));
        assert_eq!(s.service_level2(), Some(0.4));
        assert_eq!(s.abandon_rate(), Some(0.4));
        assert_eq!(s.average_speed_of_answer(), Some(Duration::from_secs(10)));
        assert_eq!(s.average_handle_time(), Some(Duration::from_secs(100)));
        assert_eq!(IntervalStats::default().service_level(), None);
    }
}

//! The SQL sink: `queue_log` in Asterisk's realtime schema, call records and agent sessions, in
//! MySQL/MariaDB, PostgreSQL or SQLite.
//!
//! ## Exactly once
//! A batch of journal records is written in one transaction that also advances the consumer's
//! row in `report_progress` (locked for the transaction on MySQL and PostgreSQL). Records at or
//! below the stored `last_seq` are skipped, so a batch delivered again after a crash between
//! commit and acknowledgement changes nothing, call-record counters included. `last_seq` counts
//! in the journal the row names (`journal`): a batch of another journal (the embedded store of
//! a restarted process starts at seq 1 again) is written from its first record. Each
//! `queue_log` row also carries a unique `event_id` (`<journal>:<seq>.<line index>`, or
//! `<seq>.<line index>` for a journal without an id) and is inserted with conflict-ignore, a
//! second guard that tools can rely on.
//!
//! ## Schema
//! Migrations (per dialect, in `migrations/<dialect>/`, embedded in the binary) run at start
//! ([`SqlSink::migrate`], which the reporter calls first). Text values longer than a column
//! (255 characters) are cut, so that one odd record can never stall reporting.

mod sink;

use std::borrow::Cow;
use std::str::FromStr;
use std::time::Duration;

use sqlx::Pool;
use sqlx::migrate::{MigrateError, Migration, MigrationType, Migrator};
use sqlx::mysql::{MySql, MySqlConnectOptions, MySqlPoolOptions};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, Postgres};
use sqlx::sqlite::{Sqlite, SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use starq_core::Time;
use starq_core::journal::JournalId;
use thiserror::Error;

pub use sink::{SqlSink, SqlTables};

/// Why the SQL sink failed.
#[derive(Debug, Error)]
pub enum SqlError {
    /// The URL names no database starq can write to.
    #[error("sql_url {url:?}: {reason}")]
    BadUrl {
        /// The URL, without its password.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The database could not be reached or refused a statement; the batch was rolled back
    /// and can be retried.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// The schema migrations failed.
    #[error("migrating the report schema: {0}")]
    Migrate(#[from] MigrateError),
    /// A journal sequence number does not fit the database's signed 64-bit column.
    #[error("journal seq {0} does not fit a BIGINT")]
    SeqOutOfRange(u64),
    /// A journal id does not fit the database's signed 64-bit column.
    #[error("journal id {0} does not fit a BIGINT")]
    JournalOutOfRange(JournalId),
}

/// Which database a URL names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// `mysql://` or `mariadb://`.
    MySql,
    /// `postgres://` or `postgresql://`.
    Postgres,
    /// `sqlite:`.
    Sqlite,
}

impl Dialect {
    /// The dialect of a connection URL.
    pub fn of_url(url: &str) -> Option<Dialect> {
        let scheme = url.split_once(':')?.0;
        match scheme {
            "mysql" | "mariadb" => Some(Dialect::MySql),
            "postgres" | "postgresql" => Some(Dialect::Postgres),
            "sqlite" => Some(Dialect::Sqlite),
            _ => None,
        }
    }

    fn migrator(self) -> Migrator {
        let [reports, journal_id, presence, catalog] = match self {
            Dialect::MySql => [
                include_str!("../../migrations/mysql/0001_reports.sql"),
                include_str!("../../migrations/mysql/0002_journal_id.sql"),
                include_str!("../../migrations/mysql/0003_agent_presence.sql"),
                include_str!("../../migrations/mysql/0004_catalog.sql"),
            ],
            Dialect::Postgres => [
                include_str!("../../migrations/postgres/0001_reports.sql"),
                include_str!("../../migrations/postgres/0002_journal_id.sql"),
                include_str!("../../migrations/postgres/0003_agent_presence.sql"),
                include_str!("../../migrations/postgres/0004_catalog.sql"),
            ],
            Dialect::Sqlite => [
                include_str!("../../migrations/sqlite/0001_reports.sql"),
                include_str!("../../migrations/sqlite/0002_journal_id.sql"),
                include_str!("../../migrations/sqlite/0003_agent_presence.sql"),
                include_str!("../../migrations/sqlite/0004_catalog.sql"),
            ],
        };
        let migration = |version, name, sql| {
            let (name, sql) = (Cow::Borrowed(name), Cow::Borrowed(sql));
            Migration::new(version, name, MigrationType::Simple, sql, false)
        };
        let migrations = vec![
            migration(1, "reports", reports),
            migration(2, "journal_id", journal_id),
            migration(3, "agent_presence", presence),
            migration(4, "catalog", catalog),
        ];
        Migrator { migrations: Cow::Owned(migrations), ..Migrator::DEFAULT }
    }

    /// A statement written with `?` placeholders (and `{ts}` for a timestamp parameter, `{div}`
    /// for integer division, `{bigint}` for the 64-bit integer type of `CAST`) in this
    /// dialect's form.
    pub fn sql(self, template: &str) -> String {
        let ts = match self {
            Dialect::Postgres => "CAST(? AS TIMESTAMP)",
            Dialect::MySql | Dialect::Sqlite => "?",
        };
        let div = match self {
            Dialect::MySql => " DIV ",
            Dialect::Postgres | Dialect::Sqlite => " / ",
        };
        let bigint = match self {
            Dialect::MySql => "SIGNED",
            Dialect::Postgres | Dialect::Sqlite => "BIGINT",
        };
        let text = template.replace("{ts}", ts).replace("{div}", div).replace("{bigint}", bigint);
        if self != Dialect::Postgres {
            return text;
        }
        let mut numbered = String::with_capacity(text.len() + 8);
        let mut n = 0;
        for c in text.chars() {
            if c == '?' {
                n += 1;
                numbered.push_str(&format!("${n}"));
            } else {
                numbered.push(c);
            }
        }
        numbered
    }
}

/// A connection pool to one of the supported databases.
#[derive(Clone, Debug)]
pub enum AnyPool {
    /// MySQL or MariaDB.
    MySql(Pool<MySql>),
    /// PostgreSQL.
    Postgres(Pool<Postgres>),
    /// SQLite.
    Sqlite(Pool<Sqlite>),
}

impl AnyPool {
    /// Connects lazily (the first statement opens the first connection), so a database that
    /// is down at start delays reports, not the caller of this.
    pub fn connect_lazy(url: &str) -> Result<AnyPool, SqlError> {
        let bad = |reason: String| SqlError::BadUrl { url: redact(url), reason };
        let dialect = Dialect::of_url(url).ok_or_else(|| {
            bad("expected mysql://, mariadb://, postgres://, postgresql:// or sqlite:".into())
        })?;
        let timeout = Duration::from_secs(5);
        Ok(match dialect {
            Dialect::MySql => {
                let url = url.replacen("mariadb://", "mysql://", 1);
                let opts = MySqlConnectOptions::from_str(&url).map_err(|e| bad(e.to_string()))?;
                AnyPool::MySql(
                    MySqlPoolOptions::new()
                        .max_connections(2)
                        .acquire_timeout(timeout)
                        .connect_lazy_with(opts),
                )
            }
            Dialect::Postgres => {
                let opts = PgConnectOptions::from_str(url).map_err(|e| bad(e.to_string()))?;
                AnyPool::Postgres(
                    PgPoolOptions::new()
                        .max_connections(2)
                        .acquire_timeout(timeout)
                        .connect_lazy_with(opts),
                )
            }
            Dialect::Sqlite => {
                let opts = SqliteConnectOptions::from_str(url)
                    .map_err(|e| bad(e.to_string()))?
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .busy_timeout(timeout);
                AnyPool::Sqlite(
                    SqlitePoolOptions::new()
                        .max_connections(1)
                        .acquire_timeout(timeout)
                        .connect_lazy_with(opts),
                )
            }
        })
    }

    /// The pool's dialect.
    pub fn dialect(&self) -> Dialect {
        match self {
            AnyPool::MySql(_) => Dialect::MySql,
            AnyPool::Postgres(_) => Dialect::Postgres,
            AnyPool::Sqlite(_) => Dialect::Sqlite,
        }
    }

    /// Applies the report schema's migrations not yet applied.
    ///
    /// MySQL commits each DDL statement at once, so a migration interrupted midway (the
    /// process killed, the connection cut) stays recorded as unfinished ("dirty"), which would
    /// stop every later start. The MySQL migrations are written to be run again from the start
    /// (`CREATE … IF NOT EXISTS` only), so an unfinished one is forgotten and run again.
    pub async fn migrate(&self) -> Result<(), SqlError> {
        let migrator = self.dialect().migrator();
        match self {
            AnyPool::MySql(p) => match migrator.run(p).await {
                Err(MigrateError::Dirty(version)) => {
                    sqlx::query("DELETE FROM _sqlx_migrations WHERE version = ? AND NOT success")
                        .bind(version)
                        .execute(p)
                        .await?;
                    migrator.run(p).await?;
                }
                other => other?,
            },
            AnyPool::Postgres(p) => migrator.run(p).await?,
            AnyPool::Sqlite(p) => migrator.run(p).await?,
        }
        Ok(())
    }

    /// Closes every connection.
    pub async fn close(&self) {
        match self {
            AnyPool::MySql(p) => p.close().await,
            AnyPool::Postgres(p) => p.close().await,
            AnyPool::Sqlite(p) => p.close().await,
        }
    }
}

/// A URL with its password replaced, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}
/// `YYYY-MM-DD HH:MM:SS.ffffff` in UTC, the realtime `queue_log.time` format.
pub fn datetime(t: Time) -> String {
    let ms = t.as_millis();
    let (days, rem) = (ms / 86_400_000, ms % 86_400_000);
    let (y, m, d) = civil_from_days(days);
    let (h, min, s, frac) =
        (rem / 3_600_000, rem / 60_000 % 60, rem / 1000 % 60, rem % 1000 * 1000);
    format!("{y:04}-{m:02}-{d:02} {h:02}:{min:02}:{s:02}.{frac:06}")
}

/// Gregorian (year, month, day) of a count of days since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`, for non-negative day counts).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetimes_are_utc_with_microseconds() {
        assert_eq!(datetime(Time(0)), "1970-01-01 00:00:00.000000");
        assert_eq!(datetime(Time(951_782_400_123)), "2000-02-29 00:00:00.123000");
        assert_eq!(datetime(Time(1_795_362_919_456)), "2026-11-22 15:55:19.456000");
    }

    #[test]
    fn placeholders_follow_the_dialect() {
        let t = "UPDATE t SET a = {ts}, b = ? WHERE c = x{div}?";
        assert_eq!(Dialect::MySql.sql(t), "UPDATE t SET a = ?, b = ? WHERE c = x DIV ?");
        assert_eq!(
            Dialect::Postgres.sql(t),
            "UPDATE t SET a = CAST($1 AS TIMESTAMP), b = $2 WHERE c = x / $3"
        );
        assert_eq!(Dialect::Sqlite.sql(t), "UPDATE t SET a = ?, b = ? WHERE c = x / ?");
    }

    #[test]
    fn urls_name_their_dialect_and_hide_passwords() {
        assert_eq!(Dialect::of_url("mariadb://root@h/db"), Some(Dialect::MySql));
        assert_eq!(Dialect::of_url("postgresql://h/db"), Some(Dialect::Postgres));
        assert_eq!(Dialect::of_url("sqlite:///tmp/x.db"), Some(Dialect::Sqlite));
        assert_eq!(Dialect::of_url("redis://h"), None);
        assert_eq!(redact("mysql://u:secret@h:3306/db"), "mysql://u:***@h:3306/db");
        assert!(matches!(
            AnyPool::connect_lazy("oracle://x"),
            Err(SqlError::BadUrl { reason, .. }) if reason.contains("expected")
        ));
    }
}

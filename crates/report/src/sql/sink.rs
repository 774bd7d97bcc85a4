//! Writing journal batches: the statements per dialect, one transaction per batch guarded by
//! the consumer's progress row, `queue_log` rows, call-record changes and the agents' presence.

use std::time::Duration;

use sqlx::{Database, Encode, Executor, IntoArguments, Pool, Type};
use starq_core::Time;
use starq_core::journal::{JournalEntry, JournalId};

use super::{AnyPool, Dialect, SqlError, datetime};
use crate::presence::{self, PresenceChange};
use crate::queue_log::{QueueLogLine, QueueLogRenderer};
use crate::records::{self, RecordChange, outcome_name};

/// The statements the sink runs, in one dialect's form.
#[derive(Debug)]
struct Statements {
    seed_progress: String,
    read_progress: String,
    write_progress: String,
    queue_log: String,
    enter: String,
    failed_over: String,
    answer: String,
    miss: String,
    end: String,
    open_session: String,
    close_session_scope: String,
    close_session_all: String,
    presence_login: String,
    presence_logout: String,
    presence_pause_all: String,
    presence_unpause_all: String,
    pause_in: String,
    unpause_in: String,
    unpause_every_queue: String,
}

impl Statements {
    fn new(dialect: Dialect) -> Self {
        let ignore_insert = |table_and_columns: &str, values: &str| match dialect {
            Dialect::MySql => format!("INSERT IGNORE INTO {table_and_columns} VALUES ({values})"),
            Dialect::Postgres | Dialect::Sqlite => {
                format!("INSERT INTO {table_and_columns} VALUES ({values}) ON CONFLICT DO NOTHING")
            }
        };
        // Insert the row, or set `set` from the values given when the key is taken.
        let upsert = |table_and_columns: &str, values: &str, key: &str, set: &[&str]| {
            let (conflict, value) = match dialect {
                Dialect::MySql => ("ON DUPLICATE KEY UPDATE".to_owned(), "VALUES({})"),
                Dialect::Postgres | Dialect::Sqlite => {
                    (format!("ON CONFLICT ({key}) DO UPDATE SET"), "excluded.{}")
                }
            };
            let set: Vec<String> =
                set.iter().map(|c| format!("{c} = {}", value.replace("{}", c))).collect();
            format!(
                "INSERT INTO {table_and_columns} VALUES ({values}) {conflict} {}",
                set.join(", ")
            )
        };
        let presence = "agent_presence (agent, logged_in, paused_all, changed_ms)";
        let lock = match dialect {
            Dialect::MySql | Dialect::Postgres => " FOR UPDATE",
            Dialect::Sqlite => "",
        };
        let s = |t: &str| dialect.sql(t);
        Statements {
            seed_progress: s(&ignore_insert("report_progress (consumer, last_seq)", "?, 0")),
            read_progress: s(&format!(
                "SELECT last_seq, journal FROM report_progress WHERE consumer = ?{lock}"
            )),
            write_progress: s(
                "UPDATE report_progress SET last_seq = ?, journal = ? WHERE consumer = ?",
            ),
            queue_log: s(&ignore_insert(
                "queue_log (time, callid, queuename, agent, event, \
                 data1, data2, data3, data4, data5, event_id)",
                "{ts}, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?",
            )),
            enter: s(&ignore_insert(
                "queue_calls (call_id, channel, step, queuename, node, caller_id, \
                 original_position, entered_ms, ended_ms, wait_ms, talk_ms, outcome)",
                "?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?",
            )),
            failed_over: s("UPDATE queue_calls SET next_queue = ? WHERE call_id = ?"),
            answer: s("UPDATE queue_calls SET agent = ?, answered_ms = ?, wait_ms = ?, \
                 ring_ms = ? WHERE call_id = ?"),
            miss: s("UPDATE queue_calls SET missed = missed + 1 WHERE call_id = ?"),
            end: s("UPDATE queue_calls SET ended_ms = ?, outcome = ?, wait_ms = ?, talk_ms = ? \
                 WHERE call_id = ?"),
            open_session: s("INSERT INTO agent_sessions (agent, kind, queuename, reason, \
                 started_ms) VALUES (?, ?, ?, ?, ?)"),
            close_session_scope: s("UPDATE agent_sessions SET ended_ms = ? WHERE agent = ? \
                 AND kind = ? AND queuename = ? AND ended_ms IS NULL"),
            close_session_all: s("UPDATE agent_sessions SET ended_ms = ? WHERE agent = ? \
                 AND kind = ? AND ended_ms IS NULL"),
            presence_login: s(&upsert(
                presence,
                "?, TRUE, NULL, ?",
                "agent",
                &["logged_in", "changed_ms"],
            )),
            presence_logout: s(&upsert(
                presence,
                "?, FALSE, NULL, ?",
                "agent",
                &["logged_in", "paused_all", "changed_ms"],
            )),
            presence_pause_all: s(&upsert(
                presence,
                "?, FALSE, ?, ?",
                "agent",
                &["paused_all", "changed_ms"],
            )),
            presence_unpause_all: s(
                "UPDATE agent_presence SET paused_all = NULL, changed_ms = ? WHERE agent = ?",
            ),
            pause_in: s(&upsert(
                "agent_presence_pauses (agent, queuename, reason, paused_ms)",
                "?, ?, ?, ?",
                "agent, queuename",
                &["reason", "paused_ms"],
            )),
            unpause_in: s("DELETE FROM agent_presence_pauses WHERE agent = ? AND queuename = ?"),
            unpause_every_queue: s("DELETE FROM agent_presence_pauses WHERE agent = ?"),
        }
    }
}

/// What the sink writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SqlTables {
    /// Write the `queue_log` table.
    pub queue_log: bool,
    /// Write `queue_calls` and `agent_sessions`.
    pub records: bool,
}

/// Writes journal batches to a database, exactly once per consumer.
#[derive(Debug)]
pub struct SqlSink {
    pool: AnyPool,
    statements: Statements,
    tables: SqlTables,
    consumer: String,
}

impl SqlSink {
    /// A sink on `pool` writing for the journal consumer `consumer` (its progress row). The
    /// schema is migrated by [`migrate`](Self::migrate), which the reporter calls (and retries)
    /// before the first batch.
    pub fn new(pool: AnyPool, consumer: &str, tables: SqlTables) -> Self {
        SqlSink {
            statements: Statements::new(pool.dialect()),
            pool,
            tables,
            consumer: consumer.to_owned(),
        }
    }

    /// The pool, for queries.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Applies the schema migrations.
    pub async fn migrate(&self) -> Result<(), SqlError> {
        self.pool.migrate().await
    }

    /// Writes the records of `batch`, read from journal `journal`, not yet written, in one
    /// transaction. Returns how many records were new. On error nothing was written.
    pub async fn write(
        &self,
        journal: Option<JournalId>,
        batch: &[JournalEntry],
        renderer: &QueueLogRenderer,
    ) -> Result<usize, SqlError> {
        let Some(last) = batch.last() else { return Ok(0) };
        let last_seq = i64::try_from(last.seq).map_err(|_| SqlError::SeqOutOfRange(last.seq))?;
        let journal_column = journal
            .map(|j| i64::try_from(j.0).map_err(|_| SqlError::JournalOutOfRange(j)))
            .transpose()?;
        let ctx = Context {
            st: &self.statements,
            consumer: &self.consumer,
            tables: self.tables,
            journal,
            journal_column,
        };
        match &self.pool {
            AnyPool::MySql(p) => write_batch(p, &ctx, batch, last_seq, renderer).await,
            AnyPool::Postgres(p) => write_batch(p, &ctx, batch, last_seq, renderer).await,
            AnyPool::Sqlite(p) => write_batch(p, &ctx, batch, last_seq, renderer).await,
        }
    }
}

struct Context<'a> {
    st: &'a Statements,
    consumer: &'a str,
    tables: SqlTables,
    /// The journal the batch was read from, and as stored in `report_progress.journal`.
    journal: Option<JournalId>,
    journal_column: Option<i64>,
}

/// A `queue_log` row's unique id: its record's seq in its journal, and its line among the
/// record's lines.
fn event_id(journal: Option<JournalId>, seq: i64, index: usize) -> String {
    match journal {
        Some(journal) => format!("{journal}:{seq}.{index}"),
        None => format!("{seq}.{index}"),
    }
}

/// The longest text any column takes.
const MAX_TEXT: usize = 255;

/// `s` cut to [`MAX_TEXT`] characters.
fn fit(s: &str) -> String {
    match s.char_indices().nth(MAX_TEXT) {
        Some((end, _)) => s[..end].to_owned(),
        None => s.to_owned(),
    }
}

fn ms(t: Time) -> i64 {
    i64::try_from(t.as_millis()).unwrap_or(i64::MAX)
}

fn dur_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

async fn write_batch<DB>(
    pool: &Pool<DB>,
    ctx: &Context<'_>,
    batch: &[JournalEntry],
    last_seq: i64,
    renderer: &QueueLogRenderer,
) -> Result<usize, SqlError>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB> + sqlx::Decode<'q, DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'q> Option<i64>: Encode<'q, DB>,
    for<'q> Option<String>: Encode<'q, DB>,
    (i64, Option<i64>): for<'r> sqlx::FromRow<'r, DB::Row>,
{
    let mut tx = pool.begin().await?;
    sqlx::query(&ctx.st.seed_progress).bind(ctx.consumer.to_owned()).execute(&mut *tx).await?;
    let (stored_seq, stored_journal): (i64, Option<i64>) = sqlx::query_as(&ctx.st.read_progress)
        .bind(ctx.consumer.to_owned())
        .fetch_one(&mut *tx)
        .await?;
    // Seqs count within one journal: one that started anew is written from its start.
    let same_journal = stored_journal == ctx.journal_column;
    let done = if same_journal { stored_seq } else { 0 };
    let mut written = 0;
    for entry in batch {
        let seq = i64::try_from(entry.seq).map_err(|_| SqlError::SeqOutOfRange(entry.seq))?;
        if seq <= done {
            continue;
        }
        written += 1;
        if ctx.tables.queue_log {
            for (index, line) in renderer.render(entry).iter().enumerate() {
                insert_line(&mut tx, ctx, line, &event_id(ctx.journal, seq, index)).await?;
            }
        }
        if ctx.tables.records {
            for change in records::changes(entry) {
                apply_change(&mut tx, ctx, &change).await?;
            }
        }
        // Written whatever the tables asked for: a store that lost its state needs it.
        if let Some(change) = presence::change(entry) {
            apply_presence(&mut tx, ctx.st, &change).await?;
        }
    }
    if last_seq > done || !same_journal {
        sqlx::query(&ctx.st.write_progress)
            .bind(last_seq)
            .bind(ctx.journal_column)
            .bind(ctx.consumer.to_owned())
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(written)
}

async fn insert_line<DB>(
    tx: &mut sqlx::Transaction<'_, DB>,
    ctx: &Context<'_>,
    line: &QueueLogLine,
    event_id: &str,
) -> Result<(), SqlError>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
{
    let mut q = sqlx::query(&ctx.st.queue_log)
        .bind(datetime(line.time))
        .bind(fit(&line.callid))
        .bind(fit(&line.queue))
        .bind(fit(&line.agent))
        .bind(line.event.to_owned());
    for column in line.data_columns() {
        q = q.bind(fit(&column));
    }
    q.bind(event_id.to_owned()).execute(&mut **tx).await?;
    Ok(())
}

async fn apply_change<DB>(
    tx: &mut sqlx::Transaction<'_, DB>,
    ctx: &Context<'_>,
    change: &RecordChange,
) -> Result<(), SqlError>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'q> Option<i64>: Encode<'q, DB>,
    for<'q> Option<String>: Encode<'q, DB>,
{
    let st = ctx.st;
    let q = match change {
        RecordChange::Enter {
            call,
            channel,
            step,
            queue,
            node,
            caller_id,
            entered,
            position,
            refused,
        } => {
            let at = ms(*entered);
            sqlx::query(&st.enter)
                .bind(fit(call))
                .bind(fit(channel))
                .bind(i64::from(*step))
                .bind(fit(queue))
                .bind(fit(node))
                .bind(fit(caller_id))
                .bind(i64::from(*position))
                .bind(at)
                .bind(refused.map(|_| at))
                .bind(refused.map(|_| 0_i64))
                .bind(refused.map(|_| 0_i64))
                .bind(refused.map(|o| outcome_name(o).to_owned()))
        }
        RecordChange::FailedOver { call, next_queue } => {
            sqlx::query(&st.failed_over).bind(fit(next_queue)).bind(fit(call))
        }
        RecordChange::Answer { call, agent, at, wait, ring } => sqlx::query(&st.answer)
            .bind(fit(agent))
            .bind(ms(*at))
            .bind(dur_ms(*wait))
            .bind(dur_ms(*ring))
            .bind(fit(call)),
        RecordChange::Miss { call } => sqlx::query(&st.miss).bind(fit(call)),
        RecordChange::End { call, at, outcome, wait, talk } => sqlx::query(&st.end)
            .bind(ms(*at))
            .bind(outcome_name(*outcome).to_owned())
            .bind(dur_ms(*wait))
            .bind(dur_ms(*talk))
            .bind(fit(call)),
        RecordChange::Open { agent, kind, queue, reason, at } => sqlx::query(&st.open_session)
            .bind(fit(agent))
            .bind(kind.as_str().to_owned())
            .bind(fit(queue))
            .bind(fit(reason))
            .bind(ms(*at)),
        RecordChange::Close { agent, kind, queue: Some(queue), at } => {
            sqlx::query(&st.close_session_scope)
                .bind(ms(*at))
                .bind(fit(agent))
                .bind(kind.as_str().to_owned())
                .bind(fit(queue))
        }
        RecordChange::Close { agent, kind, queue: None, at } => sqlx::query(&st.close_session_all)
            .bind(ms(*at))
            .bind(fit(agent))
            .bind(kind.as_str().to_owned()),
    };
    q.execute(&mut **tx).await?;
    Ok(())
}

async fn apply_presence<DB>(
    tx: &mut sqlx::Transaction<'_, DB>,
    st: &Statements,
    change: &PresenceChange,
) -> Result<(), SqlError>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
{
    let (q, then_clear_pauses_of) = match change {
        PresenceChange::LoggedIn { agent, at } => {
            (sqlx::query(&st.presence_login).bind(fit(agent)).bind(ms(*at)), None)
        }
        PresenceChange::LoggedOut { agent, at } => {
            (sqlx::query(&st.presence_logout).bind(fit(agent)).bind(ms(*at)), Some(agent))
        }
        PresenceChange::PausedAll { agent, reason, at } => (
            sqlx::query(&st.presence_pause_all).bind(fit(agent)).bind(fit(reason)).bind(ms(*at)),
            None,
        ),
        PresenceChange::PausedIn { agent, queue, reason, at } => (
            sqlx::query(&st.pause_in)
                .bind(fit(agent))
                .bind(fit(queue))
                .bind(fit(reason))
                .bind(ms(*at)),
            None,
        ),
        PresenceChange::UnpausedAll { agent, at } => {
            (sqlx::query(&st.presence_unpause_all).bind(ms(*at)).bind(fit(agent)), Some(agent))
        }
        PresenceChange::UnpausedIn { agent, queue } => {
            (sqlx::query(&st.unpause_in).bind(fit(agent)).bind(fit(queue)), None)
        }
    };
    q.execute(&mut **tx).await?;
    if let Some(agent) = then_clear_pauses_of {
        sqlx::query(&st.unpause_every_queue).bind(fit(agent)).execute(&mut **tx).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_cut_on_a_character_boundary() {
        let long = "é".repeat(300);
        assert_eq!(fit(&long).chars().count(), MAX_TEXT);
        assert_eq!(fit("short"), "short");
    }

    #[test]
    fn presence_upserts_follow_the_dialect() {
        let (mysql, postgres) =
            (Statements::new(Dialect::MySql), Statements::new(Dialect::Postgres));
        assert_eq!(
            mysql.presence_pause_all,
            "INSERT INTO agent_presence (agent, logged_in, paused_all, changed_ms) \
             VALUES (?, FALSE, ?, ?) ON DUPLICATE KEY UPDATE paused_all = VALUES(paused_all), \
             changed_ms = VALUES(changed_ms)"
        );
        assert_eq!(
            postgres.pause_in,
            "INSERT INTO agent_presence_pauses (agent, queuename, reason, paused_ms) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (agent, queuename) DO UPDATE SET \
             reason = excluded.reason, paused_ms = excluded.paused_ms"
        );
    }
}

//! The reporter: a task that drains the store's journal into the configured sinks.
//!
//! Each round reads a batch of unacknowledged records through the reporter's consumer group,
//! with the id of the journal they belong to (the sinks keep their position as a seq of one
//! journal, so a journal that starts anew is written from its start), writes it to every sink
//! (the SQL sink in one transaction, the file sink with its position file), and acknowledges
//! the batch only once every sink has it. A sink that fails is retried
//! with the same batch after a back-off (100 ms doubling to 5 s); nothing is skipped and
//! nothing is acknowledged early, so a crash or a database outage at any point loses no record,
//! and each sink's own progress makes the batch delivered again a no-op where it was already
//! written.
//!
//! Routing never waits for the reporter: the store appends to the journal whatever the
//! reporter does, and the journal (bounded in the store) holds what is not yet written.
//! [`ReportStatus`] shows how far behind the reporter is; a warning is logged when the oldest
//! unwritten record gets older than `lag_warning_secs` (once, until it is written).

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use starq_core::config::AgentConfig;
use starq_core::journal::{JournalEntry, JournalId};
use starq_core::{AgentId, Time};
use starq_store::{Store, StoreError};
use thiserror::Error;

use crate::config::ReportConfig;
use crate::file::FileSink;
use crate::presence::PresenceTable;
use crate::queue_log::QueueLogRenderer;
use crate::sql::{AnyPool, SqlError, SqlSink, SqlTables};

/// The first retry delay after a failure; doubled per failure up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(100);
/// The longest retry delay.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Why a reporter could not be built from its configuration.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The SQL URL is not usable.
    #[error("[report] {0}")]
    Sql(#[from] SqlError),
    /// A key has a value the reporter cannot work with.
    #[error("[report] {key}: {reason}")]
    Invalid {
        /// The key.
        key: &'static str,
        /// What is wrong.
        reason: String,
    },
}

/// How far the reporter has got, for metrics and health checks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReportStatus {
    /// The last journal seq written to every sink and acknowledged (0: none yet).
    pub acknowledged_seq: u64,
    /// Records written since the reporter started (replayed ones not counted).
    pub records_written: u64,
    /// Journal records not yet acknowledged, the batch in hand included (the store's figure,
    /// refreshed after every batch and every failed attempt).
    pub backlog: u64,
    /// Records read but not yet acknowledged (the batch in hand).
    pub in_flight: usize,
    /// Whether the last read returned a full batch, i.e. more records are waiting.
    pub behind: bool,
    /// Age of the oldest record not yet written (zero when caught up).
    pub lag: Duration,
    /// Whether the lag is past the warning threshold (`lag_warning_secs`).
    pub lagging: bool,
    /// Failures in a row (journal or sink); zero once a batch goes through.
    pub consecutive_failures: u32,
    /// The last failure, if the last attempt failed.
    pub last_error: Option<String>,
}

/// A shared view of a running reporter's [`ReportStatus`].
#[derive(Clone, Debug, Default)]
pub struct StatusHandle(Arc<Mutex<ReportStatus>>);

impl StatusHandle {
    /// The current status.
    pub fn get(&self) -> ReportStatus {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ReportStatus> {
        // A panic while updating a status leaves a status still worth reading.
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn update(&self, f: impl FnOnce(&mut ReportStatus)) {
        f(&mut self.lock());
    }
}

/// The sinks a reporter writes to.
#[derive(Debug, Default)]
pub struct Sinks {
    /// The `queue_log` file.
    pub file: Option<FileSink>,
    /// The database.
    pub sql: Option<SqlSink>,
}

/// Drains the journal into the sinks; see the module docs.
#[derive(Debug)]
pub struct Reporter {
    sinks: Sinks,
    renderer: Arc<QueueLogRenderer>,
    group: String,
    batch_size: usize,
    poll_interval: Duration,
    lag_warning: Duration,
    shutdown_grace: Duration,
    /// Set once shutdown began: the drain ends when the journal is empty.
    stopping: AtomicBool,
    status: StatusHandle,
}

impl Reporter {
    /// A reporter reading through consumer group `group`, `batch_size` records at a time.
    pub fn new(sinks: Sinks, group: &str, batch_size: usize) -> Self {
        let defaults = ReportConfig::default();
        Reporter {
            sinks,
            renderer: Arc::new(QueueLogRenderer::new()),
            group: group.to_owned(),
            batch_size: batch_size.max(1),
            poll_interval: defaults.poll_interval(),
            lag_warning: defaults.lag_warning(),
            shutdown_grace: defaults.shutdown_grace(),
            stopping: AtomicBool::new(false),
            status: StatusHandle::default(),
        }
    }

    /// The reporter a `[report]` section describes. The database is connected lazily: one that
    /// is down delays reports, never this call.
    pub fn from_config(config: &ReportConfig) -> Result<Self, ConfigError> {
        if config.batch_size == 0 {
            return Err(ConfigError::Invalid {
                key: "batch_size",
                reason: "must be at least 1".into(),
            });
        }
        let sql = match &config.sql_url {
            Some(url) => {
                let tables =
                    SqlTables { queue_log: config.queue_log_table, records: config.call_records };
                Some(SqlSink::new(AnyPool::connect_lazy(url)?, &config.consumer_group, tables))
            }
            None => None,
        };
        let sinks = Sinks { file: config.queue_log_file.as_ref().map(FileSink::new), sql };
        let mut reporter = Reporter::new(sinks, &config.consumer_group, config.batch_size);
        reporter.poll_interval = config.poll_interval();
        reporter.lag_warning = config.lag_warning();
        reporter.shutdown_grace = config.shutdown_grace();
        Ok(reporter)
    }

    /// Writes these member names (agent id → `AgentConfig::name`) in `queue_log`'s agent
    /// field; agents not listed are written by id.
    pub fn with_member_names(mut self, names: std::collections::BTreeMap<AgentId, String>) -> Self {
        self.renderer = Arc::new(QueueLogRenderer::with_member_names(names));
        self
    }

    /// Writes the agents' member names in `queue_log`'s agent field and their interfaces in
    /// `AGENTLOGIN` / `AGENTLOGOFF` (see [`QueueLogRenderer::with_agents`]).
    pub fn with_agents(mut self, agents: &[AgentConfig]) -> Self {
        self.renderer = Arc::new(QueueLogRenderer::with_agents(agents));
        self
    }

    /// The agents' presence record in this reporter's database (none without one), on the
    /// same connections: what a starq that finds its store without state logs in again.
    pub fn presence_table(&self) -> Option<PresenceTable> {
        self.sinks.sql.as_ref().map(|sql| PresenceTable::new(sql.pool().clone()))
    }

    /// A handle to read the status while [`run`](Self::run) goes on.
    pub fn status(&self) -> StatusHandle {
        self.status.clone()
    }

    /// Runs until `shutdown` completes: migrates the database (retrying while it is down),
    /// then drains the journal for ever. Once `shutdown` completes it flushes: it goes on
    /// until the journal is drained (what an embedded store would otherwise lose with the
    /// process), for at most the shutdown grace (`shutdown_grace_ms`). A batch still being
    /// written then is abandoned unacknowledged (a transaction in progress rolls back) and
    /// written by the next run.
    pub async fn run<S: Store>(self, store: Arc<S>, shutdown: impl Future<Output = ()>) {
        let drain = self.drain(&*store);
        tokio::pin!(drain, shutdown);
        tokio::select! {
            () = &mut drain => return,
            () = &mut shutdown => {}
        }
        self.stopping.store(true, Ordering::Relaxed);
        if tokio::time::timeout(self.shutdown_grace, drain).await.is_err() {
            let status = self.status.get();
            tracing::warn!(
                acknowledged_seq = status.acknowledged_seq,
                "report: stopped before the journal was drained: {}",
                status.last_error.as_deref().unwrap_or("grace period over")
            );
        }
    }

    async fn drain<S: Store>(&self, store: &S) {
        if let Some(sql) = &self.sinks.sql {
            let mut failures = 0;
            while let Err(e) = sql.migrate().await {
                failures += 1;
                self.failed("migrating the report database", &e.to_string(), failures, None);
                tokio::time::sleep(backoff(failures)).await;
            }
        }
        let mut failures = 0;
        loop {
            let (journal, batch) = match read_batch(store, &self.group, self.batch_size).await {
                Ok(Some(read)) => read,
                Ok(None) => continue, // the journal started anew under the read: read again
                Err(e) => {
                    failures += 1;
                    self.failed("reading the journal", &e.to_string(), failures, None);
                    tokio::time::sleep(backoff(failures)).await;
                    continue;
                }
            };
            let Some(last) = batch.last().map(|e| e.seq) else {
                self.status.update(|s| {
                    s.behind = false;
                    s.lag = Duration::ZERO;
                });
                if self.stopping.load(Ordering::Relaxed) {
                    return; // flushed
                }
                tokio::time::sleep(self.poll_interval).await;
                continue;
            };
            let behind = batch.len() >= self.batch_size;
            self.status.update(|s| {
                s.in_flight = batch.len();
                s.behind = behind;
            });
            self.refresh_backlog(store).await;
            let written = self.write_until_done(store, journal, &batch, &mut failures).await;
            while let Err(e) = store.ack_journal(&self.group, last).await {
                failures += 1;
                self.failed("acknowledging the journal", &e.to_string(), failures, batch.first());
                tokio::time::sleep(backoff(failures)).await;
            }
            failures = 0;
            let lag = if behind { age(last_time(&batch)) } else { Duration::ZERO };
            self.status.update(|s| {
                s.acknowledged_seq = last;
                s.records_written += written as u64;
                s.in_flight = 0;
                s.lag = lag;
                s.consecutive_failures = 0;
                s.last_error = None;
            });
            self.warn_if_lagging(lag);
            self.refresh_backlog(store).await;
        }
    }

    /// Best effort: a store that cannot answer keeps the last figure.
    async fn refresh_backlog<S: Store>(&self, store: &S) {
        if let Ok(backlog) = store.journal_backlog(&self.group).await {
            self.status.update(|s| s.backlog = backlog);
        }
    }

    /// Writes the batch to every sink, retrying each failure until it goes through. Returns
    /// the records new to the last sink that wrote (the SQL one when there is one).
    async fn write_until_done<S: Store>(
        &self,
        store: &S,
        journal: Option<JournalId>,
        batch: &[JournalEntry],
        failures: &mut u32,
    ) -> usize {
        let mut written = 0;
        if let Some(file) = &self.sinks.file {
            loop {
                match self.write_file(file, journal, batch).await {
                    Ok(n) => {
                        written = n;
                        break;
                    }
                    Err(e) => {
                        *failures += 1;
                        let what = format!("writing {}", file.path().display());
                        self.failed(&what, &e, *failures, batch.first());
                        self.refresh_backlog(store).await;
                        tokio::time::sleep(backoff(*failures)).await;
                    }
                }
            }
        }
        if let Some(sql) = &self.sinks.sql {
            loop {
                match sql.write(journal, batch, &self.renderer).await {
                    Ok(n) => {
                        written = n;
                        break;
                    }
                    Err(e) => {
                        *failures += 1;
                        let e = e.to_string();
                        self.failed("writing the report database", &e, *failures, batch.first());
                        self.refresh_backlog(store).await;
                        tokio::time::sleep(backoff(*failures)).await;
                    }
                }
            }
        }
        written
    }

    /// The file sink does blocking I/O (fsync included): off the async runtime it shares with
    /// routing.
    async fn write_file(
        &self,
        file: &FileSink,
        journal: Option<JournalId>,
        batch: &[JournalEntry],
    ) -> Result<usize, String> {
        let sink = file.clone();
        let renderer = Arc::clone(&self.renderer);
        let batch = batch.to_vec();
        match tokio::task::spawn_blocking(move || sink.write(journal, &batch, &renderer)).await {
            Ok(Ok(n)) => Ok(n),
            Ok(Err(e)) => Err(e.to_string()),
            Err(e) => Err(format!("file writer task: {e}")),
        }
    }

    fn failed(&self, what: &str, error: &str, failures: u32, oldest: Option<&JournalEntry>) {
        let message = format!("{what}: {error}");
        // Every failure the first time, then one in ten, so an outage does not flood the log.
        if failures == 1 || failures.is_multiple_of(10) {
            tracing::warn!(failures, retry_in = ?backoff(failures), "report: {message}");
        }
        let lag = oldest.map(|e| age(e.time));
        self.status.update(|s| {
            s.consecutive_failures = failures;
            s.last_error = Some(message);
            if let Some(lag) = lag {
                s.lag = lag;
            }
        });
        if let Some(lag) = lag {
            self.warn_if_lagging(lag);
        }
    }

    /// Warns once when the lag passes the threshold, and says so when it is back under.
    fn warn_if_lagging(&self, lag: Duration) {
        let lagging = lag > self.lag_warning;
        let was = std::mem::replace(&mut self.status.lock().lagging, lagging);
        if lagging && !was {
            tracing::warn!(
                lag_secs = lag.as_secs(),
                "report: the journal holds records older than {} s not yet written",
                self.lag_warning.as_secs()
            );
        } else if was && !lagging {
            tracing::info!("report: caught up with the journal");
        }
    }
}

/// Up to `limit` unacknowledged records and the journal they belong to, or `None` when the
/// journal started anew while they were read (a Redis that lost its data): its id is read
/// before and after the records, so a batch is never written against another journal's
/// position. The records are then read again.
async fn read_batch<S: Store>(
    store: &S,
    group: &str,
    limit: usize,
) -> Result<Option<(Option<JournalId>, Vec<JournalEntry>)>, StoreError> {
    let before = store.journal_id().await?;
    let batch = store.read_journal(group, limit).await?;
    if batch.is_empty() {
        return Ok(Some((before, batch)));
    }
    let after = store.journal_id().await?;
    Ok((before == after).then_some((after, batch)))
}

fn last_time(batch: &[JournalEntry]) -> Time {
    batch.last().map_or(Time::ZERO, |e| e.time)
}

fn backoff(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    (MIN_BACKOFF * 2u32.pow(doublings)).min(MAX_BACKOFF)
}

/// How old a journal time is by the wall clock. The reporter is a shell: it owns this clock
/// reading, used for the lag figure only.
#[allow(clippy::disallowed_methods)]
fn age(time: Time) -> Duration {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let now = Time(u64::try_from(now.as_millis()).unwrap_or(u64::MAX));
    now.since(time)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        assert_eq!(backoff(1), MIN_BACKOFF);
        assert_eq!(backoff(2), MIN_BACKOFF * 2);
        assert_eq!(backoff(50), MAX_BACKOFF);
    }

    #[test]
    fn a_zero_batch_size_is_refused_by_key() {
        let config = ReportConfig { batch_size: 0, ..ReportConfig::default() };
        let err = Reporter::from_config(&config).unwrap_err().to_string();
        assert!(err.contains("batch_size"), "{err}");
    }
}

//! The reporter beside the engine: the `[report]` section of `starq.toml` read into
//! starq-report's settings (`STARQ_SQL_URL` overrides the database URL, which holds a
//! password) and checked, the reporter built from them, and its task started over the store;
//! its database is also the engine's record of agents' presence.
//!
//! Errors are the engine's [`ConfigError`]s (file, key, reason), so a bad `[report]` exits as
//! any configuration mistake does; none shows the database URL.

use std::future::Future;
use std::ops::RangeInclusive;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;

use starq_core::config::AgentConfig;
use starq_core::config::limits::{self, DAY, HOUR};
use starq_core::shared::Presence;
use starq_engine::PresenceRecord;
use starq_engine::config::ConfigError;
use starq_report::reporter::ConfigError as ReporterError;
use starq_report::sql::SqlError;
use starq_report::{PresenceTable, ReportConfig, Reporter, StatusHandle};
use starq_store::Store;

/// `batch_size`: journal records per transaction.
const BATCH_SIZE: RangeInclusive<usize> = 1..=10_000;
/// `poll_interval_ms`: the pause between reads of a drained journal.
const POLL_INTERVAL_MS: RangeInclusive<u64> = 1..=60_000;
/// `lag_warning_secs`.
const LAG_WARNING_SECS: RangeInclusive<u64> = 0..=DAY;
/// `shutdown_grace_ms`: how long a shutdown goes on writing the journal.
const SHUTDOWN_GRACE_MS: RangeInclusive<u64> = 0..=HOUR * 1000;

/// The report settings of a configuration file, or `None` when it asks for no report.
pub(crate) fn settings(
    table: Option<&toml::Table>,
    file: &Path,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<ReportConfig>, ConfigError> {
    let invalid = |key: &str, reason: String| ConfigError::Invalid {
        file: file.display().to_string(),
        key: format!("report.{key}"),
        reason,
    };
    let mut config = match table {
        Some(table) => serde_path_to_error::deserialize(toml::Value::Table(table.clone()))
            .map_err(|e| invalid(&e.path().to_string(), e.inner().to_string()))?,
        None => ReportConfig::default(),
    };
    if let Some(url) = env("STARQ_SQL_URL") {
        config.sql_url = Some(url);
    }
    let count = |key: &str, range: &RangeInclusive<u64>, value: u64| {
        limits::count(range, value).map(drop).map_err(|reason| invalid(key, reason))
    };
    limits::count(&BATCH_SIZE, config.batch_size).map_err(|r| invalid("batch_size", r))?;
    count("poll_interval_ms", &POLL_INTERVAL_MS, config.poll_interval_ms)?;
    count("lag_warning_secs", &LAG_WARNING_SECS, config.lag_warning_secs)?;
    count("shutdown_grace_ms", &SHUTDOWN_GRACE_MS, config.shutdown_grace_ms)?;
    let group = &config.consumer_group;
    if group.is_empty()
        || group.len() > 128
        || group.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        let reason = format!("{group:?}: 1 to 128 bytes, no whitespace or control characters");
        return Err(invalid("consumer_group", reason));
    }
    Ok(config.enabled().then_some(config))
}

/// The reporter `config` describes, its database URL parsed but not connected (which needs a
/// tokio runtime). Agents' names go into `queue_log` as member names.
pub(crate) fn reporter(
    config: &ReportConfig,
    agents: &[AgentConfig],
    file: &Path,
) -> Result<Reporter, ConfigError> {
    let reporter = Reporter::from_config(config).map_err(|e| {
        let (key, reason) = match e {
            // The reason only: the URL, even redacted, is the user's to know.
            ReporterError::Sql(SqlError::BadUrl { reason, .. }) => ("sql_url", reason),
            ReporterError::Sql(other) => ("sql_url", other.to_string()),
            ReporterError::Invalid { key, reason } => (key, reason),
        };
        ConfigError::Invalid {
            file: file.display().to_string(),
            key: format!("report.{key}"),
            reason,
        }
    })?;
    Ok(reporter.with_agents(agents))
}

/// Starts `reporter` over `store` until `shutdown` completes (then it writes what the journal
/// still holds, within its grace).
pub(crate) fn start<S: Store>(
    reporter: Reporter,
    store: Arc<S>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> (StatusHandle, tokio::task::JoinHandle<()>) {
    let status = reporter.status();
    (status, tokio::spawn(reporter.run(store, shutdown)))
}

/// Agents' presence recalled from the reporter's database, when it has one: what a store found
/// without its state is given back.
pub(crate) fn presence_record(reporter: &Reporter) -> Option<Arc<dyn PresenceRecord>> {
    let table = reporter.presence_table()?;
    Some(Arc::new(ReportedPresence(table)))
}

/// The reports database as the engine's [`PresenceRecord`].
struct ReportedPresence(PresenceTable);

impl PresenceRecord for ReportedPresence {
    fn recall(&self) -> Pin<Box<dyn Future<Output = Result<Vec<Presence>, String>> + Send + '_>> {
        Box::pin(async move {
            // The error's text never holds the URL: sqlx's messages name no connection string.
            self.0.recall().await.map_err(|e| format!("the report database (report.sql_url): {e}"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> toml::Table {
        toml::from_str(text).expect("valid TOML")
    }

    #[test]
    fn the_example_configuration_asks_for_a_queue_log_file() {
        let example: toml::Table =
            toml::from_str(include_str!("../../../docs/starq.example.toml")).expect("valid TOML");
        let section = example.get("report").and_then(toml::Value::as_table);
        let report = settings(section, Path::new("starq.example.toml"), |_| None)
            .expect("valid")
            .expect("enabled");
        assert_eq!(
            report.queue_log_file.as_deref(),
            Some(Path::new("/var/log/asterisk/queue_log"))
        );
    }

    #[test]
    fn the_environment_overrides_the_database_and_mistakes_are_named() {
        let file = Path::new("starq.toml");
        let none = |_: &str| None;
        assert!(settings(None, file, none).expect("ok").is_none(), "no section, no report");
        let t = table("queue_log_file = \"/var/log/asterisk/queue_log\"");
        let c =
            settings(Some(&t), file, |k| (k == "STARQ_SQL_URL").then(|| "sqlite://r.db".into()))
                .expect("ok")
                .expect("enabled");
        assert_eq!(c.sql_url.as_deref(), Some("sqlite://r.db"));
        let t = table("batch_size = \"many\"");
        let err = settings(Some(&t), file, none).expect_err("a string is no size").to_string();
        assert!(err.starts_with("starq.toml: report.batch_size:"), "{err}");
        let t = table("sql_ulr = \"x\"");
        let err = settings(Some(&t), file, none).expect_err("unknown key").to_string();
        assert!(err.contains("sql_ulr"), "{err}");
    }
}

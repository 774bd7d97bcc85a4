//! The `[report]` section of `starq.toml`: where reports go and how the reporter reads the
//! journal.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Where reports go, and how the journal is read.
///
/// ```toml
/// [report]
/// sql_url = "mysql://starq@db/asterisk"   # or postgres://…, sqlite:///var/lib/starq/r.db
/// queue_log_file = "/var/log/asterisk/queue_log"
/// queue_log_table = true     # write the queue_log table (with sql_url)
/// call_records = true        # write queue_calls and agent_sessions (with sql_url)
/// batch_size = 500
/// consumer_group = "starq-report"
/// poll_interval_ms = 200
/// lag_warning_secs = 60
/// shutdown_grace_ms = 5000
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReportConfig {
    /// Database for the `queue_log` table and call records; none writes no SQL.
    pub sql_url: Option<String>,
    /// `queue_log` file to append to; none writes no file.
    pub queue_log_file: Option<PathBuf>,
    /// Whether to write the `queue_log` table (needs `sql_url`).
    pub queue_log_table: bool,
    /// Whether to write `queue_calls` and `agent_sessions` (needs `sql_url`).
    pub call_records: bool,
    /// Journal records read and written per transaction.
    pub batch_size: usize,
    /// The journal consumer group (and the `report_progress` row) of this reporter.
    pub consumer_group: String,
    /// How long to wait before reading again once the journal is drained, in milliseconds.
    pub poll_interval_ms: u64,
    /// Warn when the oldest unwritten record is older than this, in seconds.
    pub lag_warning_secs: u64,
    /// On shutdown, how long to go on writing what the journal holds, in milliseconds.
    pub shutdown_grace_ms: u64,
}

impl Default for ReportConfig {
    fn default() -> Self {
        ReportConfig {
            sql_url: None,
            queue_log_file: None,
            queue_log_table: true,
            call_records: true,
            batch_size: 500,
            consumer_group: "starq-report".to_owned(),
            poll_interval_ms: 200,
            lag_warning_secs: 60,
            shutdown_grace_ms: 5_000,
        }
    }
}

impl ReportConfig {
    /// Whether any report is configured at all.
    pub fn enabled(&self) -> bool {
        self.queue_log_file.is_some() || self.sql_url.is_some()
    }

    /// The pause between reads of a drained journal.
    pub fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.poll_interval_ms.max(1))
    }

    /// The lag that triggers a warning.
    pub fn lag_warning(&self) -> Duration {
        Duration::from_secs(self.lag_warning_secs)
    }

    /// How long a shutdown may spend flushing the journal.
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_millis(self.shutdown_grace_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_section_parses_with_defaults_for_missing_keys() {
        let c: ReportConfig =
            toml::from_str("sql_url = \"sqlite:///tmp/r.db\"\nbatch_size = 50\n").unwrap();
        assert_eq!(c.sql_url.as_deref(), Some("sqlite:///tmp/r.db"));
        assert_eq!(c.batch_size, 50);
        assert!(c.queue_log_table && c.call_records && c.enabled());
        assert_eq!(c.consumer_group, "starq-report");
        assert!(!ReportConfig::default().enabled());
    }

    #[test]
    fn unknown_keys_are_refused_by_name() {
        let err = toml::from_str::<ReportConfig>("sql = \"x\"").unwrap_err().to_string();
        assert!(err.contains("unknown field `sql`"), "{err}");
    }
}

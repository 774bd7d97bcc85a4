//! The reporter beside the engine: the `[report]` section of `starq.toml` read into
//! starq-report's settings (`STARQ_SQL_URL` overrides the database URL, which holds a
//! password), and the reporter task started over the same store.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use starq_core::config::AgentConfig;
use starq_report::{ReportConfig, Reporter, StatusHandle};
use starq_store::Store;

/// The report settings of a configuration file, or `None` when it asks for no report.
pub(crate) fn settings(
    table: Option<&toml::Table>,
    file: &Path,
    env: impl Fn(&str) -> Option<String>,
) -> anyhow::Result<Option<ReportConfig>> {
    let Some(table) = table else {
        return Ok(env("STARQ_SQL_URL")
            .map(|url| ReportConfig { sql_url: Some(url), ..ReportConfig::default() }));
    };
    let mut config: ReportConfig =
        serde_path_to_error::deserialize(toml::Value::Table(table.clone())).map_err(|e| {
            anyhow::anyhow!("{}: report.{}: {}", file.display(), e.path(), e.inner())
        })?;
    if let Some(url) = env("STARQ_SQL_URL") {
        config.sql_url = Some(url);
    }
    Ok(config.enabled().then_some(config))
}

/// Starts the reporter over `store` until `shutdown` completes (then it writes what the
/// journal still holds, within its grace). Agents' names go into `queue_log` as member names.
pub(crate) fn start<S: Store>(
    config: &ReportConfig,
    agents: &[AgentConfig],
    store: Arc<S>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<(StatusHandle, tokio::task::JoinHandle<()>)> {
    let names: BTreeMap<_, _> = agents
        .iter()
        .filter(|a| !a.name.is_empty())
        .map(|a| (a.id.clone(), a.name.clone()))
        .collect();
    let reporter = Reporter::from_config(config)
        .context("report: cannot set the reporter up")?
        .with_member_names(names);
    let status = reporter.status();
    Ok((status, tokio::spawn(reporter.run(store, shutdown))))
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

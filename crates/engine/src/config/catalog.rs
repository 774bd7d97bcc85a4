//! The call center's configuration as the SQL catalog keeps it, validated by the rules of
//! `starq.toml`.
//!
//! `starq-report`'s catalog reads its tables into the shapes of `starq.toml`: a
//! `[queues.<name>]` table per queue, an `[[agents]]` table per agent. They are turned into
//! typed settings here through the same raw types and the same conversion as the file's, so a
//! queue means the same wherever it is written. Only the words of an error differ: they name
//! the catalog's table, row and column (`starq_queue_settings: queue "sales", setting
//! "timeout": …`), for an operator who wrote a row by hand to find it.
//!
//! The `[catalog]` section of `starq.toml` ([`CatalogSettings`]) says where the catalog is.
//!
//! [`Catalog`] is a whole configuration that passed: an instance replaces the one it runs with
//! only by another that passed.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::RangeInclusive;
use std::time::Duration;

use serde::de::DeserializeOwned;
use starq_core::config::limits;
use starq_core::config::{AgentConfig, QueueConfig};
use thiserror::Error;

use super::{AgentField, KeyError, SecretUrl, Spot, raw};

/// A validated configuration from the catalog, at one revision of its tables.
#[derive(Clone, Debug, PartialEq)]
pub struct Catalog {
    /// The catalog's revision the rows were read at (`starq_config_revision`).
    pub revision: u64,
    /// Queues, by name.
    pub queues: Vec<QueueConfig>,
    /// Agents, by id.
    pub agents: Vec<AgentConfig>,
}

/// One agent as the catalog holds it: its `[[agents]]` table, and the `position` of each of
/// its contacts' rows, in the order of the table's `contacts` (so an error names the row).
#[derive(Clone, Debug, PartialEq)]
pub struct AgentTable {
    /// `id`, `name`, `wrapuptime`, `queues = { <queue> = <penalty> }`,
    /// `contacts = [{ endpoint, nodes }]`.
    pub table: toml::Table,
    /// `starq_contacts.position` of each contact.
    pub contact_positions: Vec<i64>,
}

/// A row of the catalog that cannot be used: its table, the row by its key, the column (or
/// setting) and why.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[error("{table}: {row}, {field}: {reason}")]
pub struct CatalogError {
    /// `starq_queues`, `starq_queue_settings`, `starq_agents`, `starq_memberships` or
    /// `starq_contacts`.
    pub table: &'static str,
    /// The row, by its key: `queue "sales"`, `agent "a1", position 2`.
    pub row: String,
    /// The column, or the setting of a queue (`setting "timeout"`).
    pub field: String,
    /// Why, and what would be accepted.
    pub reason: String,
}

impl Catalog {
    /// Validates the catalog's queues and agents as `starq.toml`'s would be. `nodes`: the
    /// node names a contact may be bound to (an instance's `[[nodes]]`); `None` accepts any.
    pub fn validate(
        revision: u64,
        queues: &BTreeMap<String, toml::Table>,
        agents: &[AgentTable],
        nodes: Option<&BTreeSet<String>>,
    ) -> Result<Catalog, CatalogError> {
        let raw_queues = queues
            .iter()
            .map(|(name, table)| Ok((name.clone(), raw_queue(name, table)?)))
            .collect::<Result<BTreeMap<_, _>, CatalogError>>()?;
        let raw_agents = agents.iter().map(raw_agent).collect::<Result<Vec<_>, _>>()?;
        let nodes: Option<BTreeSet<&str>> = nodes.map(|n| n.iter().map(String::as_str).collect());
        let (queues, agents) = super::queues_and_agents(&raw_queues, &raw_agents, nodes.as_ref())
            .map_err(|(spot, reason)| located(spot, reason, agents))?;
        Ok(Catalog { revision, queues, agents })
    }
}

/// `[catalog] poll_ms`: how often the catalog's revision is read, in milliseconds.
pub const CATALOG_POLL_MS: RangeInclusive<u64> = 100..=10_000;

/// The `[catalog]` section: the SQL catalog of queues and agents shared by every instance.
/// `Debug` shows no password.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CatalogSettings {
    /// The database (`STARQ_CATALOG_SQL_URL` overrides the file's `sql_url`).
    pub sql_url: SecretUrl,
    /// How often its revision is read ([`CATALOG_POLL_MS`], 1 s unless set).
    pub poll: Duration,
}

/// The `[catalog]` section: where the call center's queues and agents are kept in SQL
/// (`STARQ_CATALOG_SQL_URL` first), and how often it is looked at. None without a URL.
pub(super) fn settings(
    raw: Option<&raw::Catalog>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<CatalogSettings>, KeyError> {
    let (url, origin) = match (env("STARQ_CATALOG_SQL_URL"), raw.and_then(|c| c.sql_url.clone())) {
        (Some(url), _) => (url, " (from STARQ_CATALOG_SQL_URL)"),
        (None, Some(url)) => (url, ""),
        (None, None) => {
            if raw.is_some_and(|c| c.poll_ms.is_some()) {
                let reason = "no sql_url: set it here or in STARQ_CATALOG_SQL_URL".to_owned();
                return Err(("catalog.sql_url".into(), reason));
            }
            return Ok(None);
        }
    };
    let sql_url = SecretUrl::from(url);
    let schemes = ["mysql://", "mariadb://", "postgres://", "postgresql://", "sqlite:"];
    if !schemes.iter().any(|s| sql_url.expose().starts_with(s)) {
        return Err((
            "catalog.sql_url".into(),
            format!(
                "{sql_url:?}{origin}: expected mysql://, mariadb://, postgres://, postgresql:// or sqlite:"
            ),
        ));
    }
    let poll_ms = raw.and_then(|c| c.poll_ms).unwrap_or(1000);
    limits::count(&CATALOG_POLL_MS, poll_ms).map_err(|r| ("catalog.poll_ms".to_owned(), r))?;
    Ok(Some(CatalogSettings { sql_url, poll: Duration::from_millis(poll_ms) }))
}

fn error(
    table: &'static str,
    row: String,
    field: impl Into<String>,
    reason: String,
) -> CatalogError {
    CatalogError { table, row, field: field.into(), reason }
}

fn from_table<T: DeserializeOwned>(table: toml::Table) -> Result<T, String> {
    toml::Value::Table(table).try_into().map_err(|e: toml::de::Error| e.message().to_owned())
}

fn single(key: &str, value: toml::Value) -> toml::Table {
    let mut table = toml::Table::new();
    table.insert(key.to_owned(), value);
    table
}

/// Every leaf setting of a queue's table by its dotted name, each alone in a table of the same
/// nesting (`announce.frequency` → `{ announce = { frequency = … } }`).
fn leaves(table: &toml::Table) -> Vec<(String, toml::Table)> {
    let mut out = Vec::new();
    for (key, value) in table {
        match value {
            toml::Value::Table(inner) if !inner.is_empty() => {
                for (name, leaf) in leaves(inner) {
                    out.push((format!("{key}.{name}"), single(key, toml::Value::Table(leaf))));
                }
            }
            _ => out.push((key.clone(), single(key, value.clone()))),
        }
    }
    out
}

fn raw_queue(name: &str, table: &toml::Table) -> Result<raw::Queue, CatalogError> {
    let row = || format!("queue {name:?}");
    // Each setting alone first: the error of the whole table would not say which row it was.
    for (setting, part) in leaves(table) {
        from_table::<raw::Queue>(part)
            .map_err(|r| error("starq_queue_settings", row(), format!("setting {setting:?}"), r))?;
    }
    from_table(table.clone()).map_err(|r| error("starq_queue_settings", row(), "settings", r))
}

fn raw_agent(agent: &AgentTable) -> Result<raw::Agent, CatalogError> {
    let table = &agent.table;
    let id = table.get("id").and_then(toml::Value::as_str).unwrap_or_default();
    let row = format!("agent {id:?}");
    // Each column, membership and contact alone first (with the id the type requires), so
    // that an error names its row.
    let part = |key: &str, value: toml::Value| {
        let mut part = single(key, value);
        if let Some(id) = table.get("id") {
            part.insert("id".to_owned(), id.clone());
        }
        part
    };
    for (key, value) in table {
        match (key.as_str(), value) {
            ("queues", toml::Value::Table(queues)) => {
                for (queue, penalty) in queues {
                    let one = toml::Value::Table(single(queue, penalty.clone()));
                    from_table::<raw::Agent>(part("queues", one)).map_err(|r| {
                        error("starq_memberships", format!("{row}, queue {queue:?}"), "penalty", r)
                    })?;
                }
            }
            ("contacts", toml::Value::Array(contacts)) => {
                for (i, contact) in contacts.iter().enumerate() {
                    let one = toml::Value::Array(vec![contact.clone()]);
                    from_table::<raw::Agent>(part("contacts", one)).map_err(|r| {
                        error("starq_contacts", contact_row(id, agent, i), "contact", r)
                    })?;
                }
            }
            _ => {
                from_table::<raw::Agent>(part(key, value.clone()))
                    .map_err(|r| error("starq_agents", row.clone(), key.as_str(), r))?;
            }
        }
    }
    from_table(table.clone()).map_err(|r| error("starq_agents", row, "id", r))
}

fn contact_row(id: &str, agent: &AgentTable, index: usize) -> String {
    match agent.contact_positions.get(index) {
        Some(position) => format!("agent {id:?}, position {position}"),
        None => format!("agent {id:?}, contact {index}"),
    }
}

/// The catalog's words for where the shared validation found a mistake.
fn located(spot: Spot, reason: String, agents: &[AgentTable]) -> CatalogError {
    match spot {
        Spot::Queue { queue, key: None } => {
            error("starq_queues", format!("queue {queue:?}"), "name", reason)
        }
        Spot::Queue { queue, key: Some(key) } => {
            // `penaltychange[1]`: the setting is the list, the index says which item.
            let (setting, reason) = match key.split_once('[') {
                Some((setting, index)) => {
                    (setting.to_owned(), format!("item {}: {reason}", index.trim_end_matches(']')))
                }
                None => (key, reason),
            };
            let field = format!("setting {setting:?}");
            error("starq_queue_settings", format!("queue {queue:?}"), field, reason)
        }
        Spot::Agent { index, id, field } => {
            let row = format!("agent {id:?}");
            match field {
                AgentField::IdName | AgentField::IdTwice => {
                    error("starq_agents", row, "id", reason)
                }
                AgentField::Key(key) => error("starq_agents", row, key, reason),
                AgentField::Membership(queue, column) => {
                    error("starq_memberships", format!("{row}, queue {queue:?}"), column, reason)
                }
                AgentField::NoContact => error(
                    "starq_contacts",
                    row,
                    "position",
                    "no contact: add a row to starq_contacts".to_owned(),
                ),
                AgentField::Contact(i, column) => {
                    let row = agents.get(index).map_or_else(
                        || format!("{row}, contact {i}"),
                        |agent| contact_row(&id, agent, i),
                    );
                    error("starq_contacts", row, column, reason)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tables(text: &str) -> (BTreeMap<String, toml::Table>, Vec<AgentTable>) {
        let mut file: toml::Table = toml::from_str(text).unwrap();
        let queues = match file.remove("queues") {
            Some(toml::Value::Table(queues)) => {
                queues.into_iter().map(|(name, q)| (name, q.as_table().cloned().unwrap())).collect()
            }
            _ => BTreeMap::new(),
        };
        let agents = match file.remove("agents") {
            Some(toml::Value::Array(agents)) => agents
                .into_iter()
                .map(|a| {
                    let table = a.as_table().cloned().unwrap();
                    let n = table.get("contacts").and_then(|c| c.as_array()).map_or(0, Vec::len);
                    let contact_positions = (0..n).map(|i| 10 * i as i64 + 1).collect();
                    AgentTable { table, contact_positions }
                })
                .collect(),
            _ => Vec::new(),
        };
        (queues, agents)
    }

    fn validate(text: &str) -> Result<Catalog, CatalogError> {
        let (queues, agents) = tables(text);
        let nodes: BTreeSet<String> = ["main".to_owned(), "backup".to_owned()].into();
        Catalog::validate(7, &queues, &agents, Some(&nodes))
    }

    const NODE: &str = "[[nodes]]\nname = \"main\"\nari_url = \"http://h:8088/ari\"\nusername = \"u\"\npassword = \"p\"\n[[nodes]]\nname = \"backup\"\nari_url = \"http://h:8088/ari\"\nusername = \"u\"\npassword = \"p\"\n";

    const CENTER: &str = r#"
[queues.support]
strategy = "leastrecent"
timeout = 15
autopause = "yes"
autopause_after = 2
joinempty = "paused,unavailable"
on_timeout = { queue = "backup-team" }
penaltychange = ["30,+2", "60,10"]
[queues.support.announce]
frequency = 30
position = "more"
periodic = ["queue-periodic-announce"]
[queues.backup-team]
strategy = "ringall"
on_timeout = { context = "voicemail", extension = "100" }
[[agents]]
id = "alice"
name = "Alice Martin"
queues = { support = 0, backup-team = 3 }
contacts = [{ endpoint = "PJSIP/alice", nodes = ["main"] }, { endpoint = "PJSIP/alice2" }]
[[agents]]
id = "bob"
wrapuptime = 20
contacts = [{ endpoint = "PJSIP/bob" }]
"#;

    #[test]
    fn the_catalog_means_what_the_same_file_means() {
        let catalog = validate(CENTER).unwrap();
        let file = super::super::parse(&format!("{NODE}{CENTER}"), "f", &|_| None).unwrap();
        assert_eq!(catalog.revision, 7);
        assert_eq!(catalog.queues, file.queues);
        assert_eq!(catalog.agents, file.agents);
    }

    fn fails(text: &str) -> String {
        validate(text).unwrap_err().to_string()
    }

    #[test]
    fn errors_name_the_table_the_row_and_the_setting() {
        let cases = [
            (
                "[queues.sales]\ntimeout = 0\n",
                "starq_queue_settings: queue \"sales\", setting \"timeout\": must be between 1",
            ),
            (
                "[queues.sales]\ntimeout = \"soon\"\n",
                "starq_queue_settings: queue \"sales\", setting \"timeout\": invalid type",
            ),
            (
                "[queues.sales]\ntiemout = 5\n",
                "starq_queue_settings: queue \"sales\", setting \"tiemout\": unknown field",
            ),
            (
                "[queues.sales]\nannounce = { frequency = -1 }\n",
                "starq_queue_settings: queue \"sales\", setting \"announce.frequency\": invalid value",
            ),
            (
                "[queues.sales]\nannounce = { often = 1 }\n",
                "starq_queue_settings: queue \"sales\", setting \"announce.often\": unknown field",
            ),
            (
                "[queues.sales]\non_timeout = { queue = \"nowhere\" }\n",
                "starq_queue_settings: queue \"sales\", setting \"on_timeout.queue\": no queue named",
            ),
            (
                "[queues.sales]\npenaltychange = [\"30,+2\", \"x\"]\n",
                "starq_queue_settings: queue \"sales\", setting \"penaltychange\": item 1: ",
            ),
            ("[queues.\"a b\"]\n", "starq_queues: queue \"a b\", name: "),
            (
                "[[agents]]\nid = \"a\"\nwrapuptime = -5\ncontacts = [{ endpoint = \"PJSIP/a\" }]\n",
                "starq_agents: agent \"a\", wrapuptime: invalid value",
            ),
            (
                "[[agents]]\nid = \"a\"\nqueues = { nowhere = 1 }\ncontacts = [{ endpoint = \"PJSIP/a\" }]\n",
                "starq_memberships: agent \"a\", queue \"nowhere\", queue: no queue named",
            ),
            (
                "[queues.q]\n[[agents]]\nid = \"a\"\nqueues = { q = -1 }\ncontacts = [{ endpoint = \"PJSIP/a\" }]\n",
                "starq_memberships: agent \"a\", queue \"q\", penalty: invalid value",
            ),
            (
                "[queues.q]\n[[agents]]\nid = \"a\"\nqueues = { q = 2000000 }\ncontacts = [{ endpoint = \"PJSIP/a\" }]\n",
                "starq_memberships: agent \"a\", queue \"q\", penalty: penalty must be between",
            ),
            (
                "[[agents]]\nid = \"a\"\ncontacts = [{ endpoint = \"PJSIP/a\" }, { endpoint = \"a\" }]\n",
                "starq_contacts: agent \"a\", position 11, endpoint: \"a\" is not TECH/resource",
            ),
            (
                "[[agents]]\nid = \"a\"\ncontacts = [{ endpoint = \"PJSIP/a\", nodes = [\"mars\"] }]\n",
                "starq_contacts: agent \"a\", position 1, nodes: no node named \"mars\"",
            ),
            ("[[agents]]\nid = \"a\"\n", "starq_contacts: agent \"a\", position: no contact"),
        ];
        for (text, expected) in cases {
            let error = fails(text);
            assert!(error.starts_with(expected), "{text}\n  gave {error}\n  want {expected}");
        }
    }

    #[test]
    fn contacts_take_any_node_when_no_node_is_known() {
        let (queues, agents) = tables(
            "[[agents]]\nid = \"a\"\ncontacts = [{ endpoint = \"PJSIP/a\", nodes = [\"mars\"] }]\n",
        );
        let catalog = Catalog::validate(1, &queues, &agents, None).unwrap();
        assert_eq!(catalog.agents[0].contacts[0].nodes.len(), 1);
    }

    #[test]
    fn the_catalog_section_takes_its_url_from_the_environment_first_and_hides_it() {
        let text = format!("{NODE}[catalog]\nsql_url = \"mysql://u:file-hunter2@db/c\"\n");
        let parse = |env: &dyn Fn(&str) -> Option<String>| super::super::parse(&text, "f", env);
        let catalog = parse(&|_| None).unwrap().catalog.unwrap();
        assert_eq!(catalog.sql_url.expose(), "mysql://u:file-hunter2@db/c");
        assert_eq!(catalog.poll, std::time::Duration::from_secs(1));
        let env = |name: &str| {
            (name == "STARQ_CATALOG_SQL_URL").then(|| "postgres://u:env-hunter2@db/c".to_owned())
        };
        let config = parse(&env).unwrap();
        assert_eq!(
            config.catalog.as_ref().unwrap().sql_url.expose(),
            "postgres://u:env-hunter2@db/c"
        );
        let shown = format!("{config:?}");
        assert!(shown.contains("postgres://u:***@db/c") && !shown.contains("hunter2"), "{shown}");
        let none = super::super::parse(NODE, "f", &|_| None).unwrap();
        assert_eq!(none.catalog, None);
    }

    #[test]
    fn the_catalog_section_names_its_mistakes() {
        let fails = |section: &str| {
            super::super::parse(&format!("{NODE}[catalog]\n{section}"), "f", &|_| None)
                .unwrap_err()
                .to_string()
        };
        let error = fails("sql_url = \"sqlite:x.db\"\npoll_ms = 50\n");
        assert!(
            error.contains("catalog.poll_ms: must be between 100 and 10000, not 50"),
            "{error}"
        );
        let error = fails("sql_url = \"ftp://u:hunter2@db\"\n");
        assert!(error.contains("catalog.sql_url") && !error.contains("hunter2"), "{error}");
        assert!(fails("poll_ms = 500\n").contains("catalog.sql_url: no sql_url"));
        assert!(fails("url = \"x\"\n").contains("unknown field `url`"));
    }
}

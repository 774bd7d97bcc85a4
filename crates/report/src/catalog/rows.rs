//! The catalog's rows in memory: read into the shapes of `starq.toml`, changed as a [`Change`]
//! would change the tables (so a change can be validated before it is written), and a
//! setting's text value read and written.

use std::collections::BTreeMap;

use super::CatalogError;

/// Everything the catalog holds, read in one transaction at one revision.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CatalogRows {
    /// `starq_config_revision.revision` when the rows were read.
    pub revision: u64,
    /// Each queue's settings as a `[queues.<name>]` table of `starq.toml` (dotted settings
    /// nested: `announce.frequency` is `announce = { frequency = … }`).
    pub queues: BTreeMap<String, toml::Table>,
    /// Agents, by id.
    pub agents: Vec<AgentRow>,
}

/// An agent: its `starq_agents` row with its memberships and contacts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AgentRow {
    /// `id`.
    pub id: String,
    /// `name`, shown in `queue_log` (the id when none).
    pub name: Option<String>,
    /// `wrapuptime` in seconds, overriding the queues'.
    pub wrapuptime: Option<i64>,
    /// `starq_memberships`: queue → penalty.
    pub memberships: BTreeMap<String, i64>,
    /// `starq_contacts`, by position.
    pub contacts: Vec<ContactRow>,
}

/// One way of reaching an agent (`starq_contacts`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContactRow {
    /// The order in which contacts are tried.
    pub position: i64,
    /// `TECH/resource`, as Asterisk dials it.
    pub endpoint: String,
    /// Nodes the endpoint is reachable from; empty for every node.
    pub nodes: Vec<String>,
}

impl AgentRow {
    /// The agent as an `[[agents]]` table of `starq.toml`.
    pub fn table(&self) -> toml::Table {
        let mut table = toml::Table::new();
        table.insert("id".into(), self.id.clone().into());
        if let Some(name) = &self.name {
            table.insert("name".into(), name.clone().into());
        }
        if let Some(wrapuptime) = self.wrapuptime {
            table.insert("wrapuptime".into(), wrapuptime.into());
        }
        if !self.memberships.is_empty() {
            let queues = self.memberships.iter().map(|(q, p)| (q.clone(), (*p).into()));
            table.insert("queues".into(), toml::Value::Table(queues.collect()));
        }
        if !self.contacts.is_empty() {
            let contacts = self.contacts.iter().map(|c| {
                let mut contact = toml::Table::new();
                contact.insert("endpoint".into(), c.endpoint.clone().into());
                if !c.nodes.is_empty() {
                    contact.insert("nodes".into(), c.nodes.clone().into());
                }
                toml::Value::Table(contact)
            });
            table.insert("contacts".into(), toml::Value::Array(contacts.collect()));
        }
        table
    }

    /// The position of each contact, in the order of [`table`](Self::table)'s `contacts`.
    pub fn contact_positions(&self) -> Vec<i64> {
        self.contacts.iter().map(|c| c.position).collect()
    }
}

impl ContactRow {
    /// `nodes` as the column holds it: comma-separated, empty for every node.
    pub fn nodes_column(&self) -> String {
        self.nodes.join(",")
    }

    /// The node names of a `nodes` column.
    pub fn parse_nodes(column: &str) -> Vec<String> {
        column.split(',').map(str::trim).filter(|n| !n.is_empty()).map(str::to_owned).collect()
    }
}

/// One change to the catalog, as the CLI and the API make them. Applied in one transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(missing_docs)] // fields are named for what they hold
pub enum Change {
    /// A queue with no setting (every default).
    AddQueue { queue: String },
    /// A queue with its settings and memberships.
    RemoveQueue { queue: String },
    /// A setting of a queue, set or replaced; `value` as the column holds it
    /// ([`decode_value`]).
    SetSetting { queue: String, setting: String, value: String },
    /// A setting of a queue, back to its default.
    UnsetSetting { queue: String, setting: String },
    /// An agent, with memberships and contacts.
    AddAgent(AgentRow),
    /// An agent, with memberships and contacts.
    RemoveAgent { agent: String },
    /// An agent becomes a member of a queue.
    AddMembership { agent: String, queue: String, penalty: i64 },
    /// An agent stops being a member of a queue.
    RemoveMembership { agent: String, queue: String },
    /// The penalty of an agent in a queue it is a member of.
    SetPenalty { agent: String, queue: String, penalty: i64 },
}

/// A setting's value as the `value` column holds it, read: a TOML value when the text is one
/// (`15`, `true`, `["a", "b"]`, `"quoted"`), otherwise the text as a string (`rrmemory`). A
/// date is taken as text too: no setting is a date.
pub fn decode_value(text: &str) -> toml::Value {
    let parsed = toml::from_str::<toml::Table>(&format!("v = {text}"));
    match parsed {
        // One key only: text such as `1\nx = 2` must not smuggle in a second one.
        Ok(mut table) if table.len() == 1 => match table.remove("v") {
            Some(toml::Value::Datetime(_)) | None => toml::Value::String(text.to_owned()),
            Some(value) => value,
        },
        _ => toml::Value::String(text.to_owned()),
    }
}

/// A setting's value as the `value` column holds it: a string bare when it reads back as
/// itself (`rrmemory`), quoted otherwise (`"15"` stays a string); anything else as TOML.
pub fn encode_value(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) if decode_value(s) == *value => s.clone(),
        other => other.to_string(),
    }
}

/// Every setting of a queue's table as (dotted name, column text), in name order.
pub fn settings_of(table: &toml::Table) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (key, value) in table {
        match value {
            toml::Value::Table(inner) => {
                for (name, text) in settings_of(inner) {
                    out.push((format!("{key}.{name}"), text));
                }
            }
            _ => out.push((key.clone(), encode_value(value))),
        }
    }
    out
}

/// The parts of a dotted setting name, or why it is none.
pub(super) fn setting_path(setting: &str) -> Result<Vec<&str>, String> {
    let parts: Vec<&str> = setting.split('.').collect();
    if parts.iter().any(|p| p.is_empty() || p.trim() != *p) {
        return Err("a setting is a key or dotted keys (announce.frequency), none empty".into());
    }
    Ok(parts)
}

/// Puts a setting's value into a queue's table at its dotted name.
pub(super) fn insert_setting(
    table: &mut toml::Table,
    setting: &str,
    value: toml::Value,
) -> Result<(), String> {
    let parts = setting_path(setting)?;
    let (last, parents) = parts.split_last().ok_or("empty setting")?;
    let mut at = table;
    for (depth, part) in parents.iter().enumerate() {
        let entry =
            at.entry((*part).to_owned()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
        at = match entry {
            toml::Value::Table(inner) => inner,
            _ => {
                let parent = parts[..=depth].join(".");
                return Err(format!("{parent:?} is set too, as a value of its own"));
            }
        };
    }
    if at.get(*last).is_some_and(toml::Value::is_table) {
        return Err(format!("the settings below {setting:?} are set too"));
    }
    at.insert((*last).to_owned(), value);
    Ok(())
}

/// Takes a setting out of a queue's table; whether it was there. A table left empty goes.
fn remove_setting(table: &mut toml::Table, parts: &[&str]) -> bool {
    match parts {
        [] => false,
        [last] => table.remove(*last).is_some(),
        [first, rest @ ..] => {
            let Some(toml::Value::Table(inner)) = table.get_mut(*first) else { return false };
            let removed = remove_setting(inner, rest);
            if inner.is_empty() {
                table.remove(*first);
            }
            removed
        }
    }
}

impl CatalogRows {
    /// The agent with this id.
    pub fn agent(&self, id: &str) -> Option<&AgentRow> {
        self.agents.iter().find(|a| a.id == id)
    }

    /// The queues' `[queues.<name>]` tables and the agents' `[[agents]]` tables.
    pub fn agent_tables(&self) -> Vec<(toml::Table, Vec<i64>)> {
        self.agents.iter().map(|a| (a.table(), a.contact_positions())).collect()
    }

    /// Changes the rows as [`CatalogDb::apply`](super::CatalogDb::apply) changes the tables,
    /// so that the result can be validated before it is written.
    pub fn apply(&mut self, change: &Change) -> Result<(), CatalogError> {
        match change {
            Change::AddQueue { queue } => {
                if self.queues.contains_key(queue) {
                    return Err(CatalogError::Exists(format!("queue {queue:?}")));
                }
                self.queues.insert(queue.clone(), toml::Table::new());
            }
            Change::RemoveQueue { queue } => {
                self.queues.remove(queue).ok_or_else(|| no_queue(queue))?;
                for agent in &mut self.agents {
                    agent.memberships.remove(queue);
                }
            }
            Change::SetSetting { queue, setting, value } => {
                let table = self.queues.get_mut(queue).ok_or_else(|| no_queue(queue))?;
                let parts = setting_path(setting).map_err(|r| bad_setting(queue, setting, r))?;
                remove_setting(table, &parts);
                insert_setting(table, setting, decode_value(value))
                    .map_err(|r| bad_setting(queue, setting, r))?;
            }
            Change::UnsetSetting { queue, setting } => {
                let table = self.queues.get_mut(queue).ok_or_else(|| no_queue(queue))?;
                let parts = setting_path(setting).map_err(|r| bad_setting(queue, setting, r))?;
                if !remove_setting(table, &parts) {
                    let what = format!("setting {setting:?} of queue {queue:?}");
                    return Err(CatalogError::NotFound(what));
                }
            }
            Change::AddAgent(agent) => {
                if self.agent(&agent.id).is_some() {
                    return Err(CatalogError::Exists(format!("agent {:?}", agent.id)));
                }
                if let Some(queue) =
                    agent.memberships.keys().find(|q| !self.queues.contains_key(*q))
                {
                    return Err(no_queue(queue));
                }
                let at = self.agents.partition_point(|a| a.id < agent.id);
                self.agents.insert(at, agent.clone());
            }
            Change::RemoveAgent { agent } => {
                let before = self.agents.len();
                self.agents.retain(|a| a.id != *agent);
                if self.agents.len() == before {
                    return Err(no_agent(agent));
                }
            }
            Change::AddMembership { agent, queue, penalty } => {
                if !self.queues.contains_key(queue) {
                    return Err(no_queue(queue));
                }
                let row = self.agent_mut(agent)?;
                if row.memberships.contains_key(queue) {
                    let what = format!("membership of agent {agent:?} in queue {queue:?}");
                    return Err(CatalogError::Exists(what));
                }
                row.memberships.insert(queue.clone(), *penalty);
            }
            Change::RemoveMembership { agent, queue } => {
                self.agent_mut(agent)?
                    .memberships
                    .remove(queue)
                    .ok_or_else(|| no_membership(agent, queue))?;
            }
            Change::SetPenalty { agent, queue, penalty } => {
                let row = self.agent_mut(agent)?;
                let member =
                    row.memberships.get_mut(queue).ok_or_else(|| no_membership(agent, queue))?;
                *member = *penalty;
            }
        }
        Ok(())
    }

    fn agent_mut(&mut self, id: &str) -> Result<&mut AgentRow, CatalogError> {
        self.agents.iter_mut().find(|a| a.id == id).ok_or_else(|| no_agent(id))
    }
}

fn no_queue(queue: &str) -> CatalogError {
    CatalogError::NotFound(format!("queue {queue:?}"))
}

fn no_agent(agent: &str) -> CatalogError {
    CatalogError::NotFound(format!("agent {agent:?}"))
}

fn no_membership(agent: &str, queue: &str) -> CatalogError {
    CatalogError::NotFound(format!("membership of agent {agent:?} in queue {queue:?}"))
}

pub(super) fn bad_setting(queue: &str, setting: &str, reason: String) -> CatalogError {
    CatalogError::Row {
        table: "starq_queue_settings",
        row: format!("queue {queue:?}"),
        field: format!("setting {setting:?}"),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_as_toml_when_they_are_and_as_text_otherwise() {
        assert_eq!(decode_value("15"), toml::Value::Integer(15));
        assert_eq!(decode_value("true"), toml::Value::Boolean(true));
        assert_eq!(decode_value("rrmemory"), toml::Value::String("rrmemory".into()));
        assert_eq!(decode_value("\"15\""), toml::Value::String("15".into()));
        assert_eq!(
            decode_value("paused,unavailable"),
            toml::Value::String("paused,unavailable".into())
        );
        assert_eq!(decode_value("30,+2"), toml::Value::String("30,+2".into()));
        assert_eq!(decode_value("1979-05-27"), toml::Value::String("1979-05-27".into()));
        assert_eq!(decode_value("1\nx = 2"), toml::Value::String("1\nx = 2".into()));
        assert_eq!(decode_value(""), toml::Value::String(String::new()));
        let list = decode_value("[\"a\", \"b\"]");
        assert_eq!(list, toml::Value::Array(vec!["a".into(), "b".into()]));
        for value in [
            toml::Value::String("rrmemory".into()),
            toml::Value::String("15".into()),
            toml::Value::String("true".into()),
            toml::Value::String(" spaced ".into()),
            toml::Value::String("\"quoted\"".into()),
            toml::Value::String("[x".into()),
            toml::Value::Integer(-3),
            toml::Value::Boolean(false),
            list,
        ] {
            assert_eq!(decode_value(&encode_value(&value)), value, "{value:?}");
        }
        assert_eq!(encode_value(&toml::Value::String("rrmemory".into())), "rrmemory");
        assert_eq!(encode_value(&toml::Value::String("15".into())), "\"15\"");
    }

    #[test]
    fn dotted_settings_nest_and_conflicts_are_refused() {
        let mut table = toml::Table::new();
        insert_setting(&mut table, "announce.frequency", 30.into()).unwrap();
        insert_setting(&mut table, "announce.position", "more".into()).unwrap();
        insert_setting(&mut table, "timeout", 15.into()).unwrap();
        let expected: toml::Table =
            toml::from_str("timeout = 15\nannounce = { frequency = 30, position = \"more\" }")
                .unwrap();
        assert_eq!(table, expected);
        assert_eq!(
            settings_of(&table),
            [
                ("announce.frequency".to_owned(), "30".to_owned()),
                ("announce.position".to_owned(), "more".to_owned()),
                ("timeout".to_owned(), "15".to_owned())
            ]
        );
        assert!(insert_setting(&mut table, "timeout.x", 1.into()).is_err());
        assert!(insert_setting(&mut table, "announce", 1.into()).is_err());
        assert!(insert_setting(&mut table, "a..b", 1.into()).is_err());
        assert!(remove_setting(&mut table, &["announce", "frequency"]));
        assert!(remove_setting(&mut table, &["announce", "position"]));
        assert!(!table.contains_key("announce"));
    }

    #[test]
    fn changes_in_memory_refuse_what_the_tables_would() {
        let mut rows = CatalogRows::default();
        rows.apply(&Change::AddQueue { queue: "sales".into() }).unwrap();
        assert!(matches!(
            rows.apply(&Change::AddQueue { queue: "sales".into() }),
            Err(CatalogError::Exists(_))
        ));
        let agent = AgentRow { id: "a".into(), ..AgentRow::default() };
        rows.apply(&Change::AddAgent(agent)).unwrap();
        let member = Change::AddMembership { agent: "a".into(), queue: "sales".into(), penalty: 2 };
        rows.apply(&member).unwrap();
        rows.apply(&Change::SetPenalty { agent: "a".into(), queue: "sales".into(), penalty: 5 })
            .unwrap();
        assert_eq!(rows.agent("a").unwrap().memberships["sales"], 5);
        rows.apply(&Change::RemoveQueue { queue: "sales".into() }).unwrap();
        assert!(rows.agent("a").unwrap().memberships.is_empty());
        let error = rows
            .apply(&Change::SetPenalty { agent: "a".into(), queue: "sales".into(), penalty: 1 })
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "membership of agent \"a\" in queue \"sales\" does not exist"
        );
    }
}

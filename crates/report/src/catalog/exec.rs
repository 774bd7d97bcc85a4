//! The catalog's statements per dialect, and running them: a change as a list of steps (checks
//! that name what is missing or taken, then statements) run in one transaction behind the
//! revision row's lock, and the whole catalog read in one transaction.

use std::collections::BTreeMap;

use sqlx::{Database, Decode, Encode, Executor, FromRow, IntoArguments, Pool, Type};

use super::rows::{self, AgentRow, CatalogRows, Change, ContactRow, bad_setting, setting_path};
use super::{CatalogError, Seeded};
use crate::sql::{AnyPool, Dialect};

/// A value bound to a statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Arg {
    Text(String),
    Int(i64),
    OptText(Option<String>),
    OptInt(Option<i64>),
}

/// One step of a change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Step {
    /// A `COUNT(*)` that must count a row, or the change names `what` does not exist.
    Exists { sql: String, args: Vec<Arg>, what: String },
    /// A `COUNT(*)` that must count none, or `what` exists already.
    Absent { sql: String, args: Vec<Arg>, what: String },
    /// A statement.
    Run { sql: String, args: Vec<Arg> },
}

fn text(s: &str) -> Arg {
    Arg::Text(s.to_owned())
}

/// Builds steps in one dialect's form.
struct Steps {
    dialect: Dialect,
    steps: Vec<Step>,
}

impl Steps {
    fn exists(&mut self, sql: &str, args: Vec<Arg>, what: String) {
        let sql = self.dialect.sql(sql);
        self.steps.push(Step::Exists { sql, args, what });
    }
    fn absent(&mut self, sql: &str, args: Vec<Arg>, what: String) {
        let sql = self.dialect.sql(sql);
        self.steps.push(Step::Absent { sql, args, what });
    }
    fn run(&mut self, sql: &str, args: Vec<Arg>) {
        let sql = self.dialect.sql(sql);
        self.steps.push(Step::Run { sql, args });
    }
    fn queue_exists(&mut self, queue: &str) {
        let sql = "SELECT COUNT(*) FROM starq_queues WHERE name = ?";
        self.exists(sql, vec![text(queue)], format!("queue {queue:?}"));
    }
    fn agent_exists(&mut self, agent: &str) {
        let sql = "SELECT COUNT(*) FROM starq_agents WHERE id = ?";
        self.exists(sql, vec![text(agent)], format!("agent {agent:?}"));
    }
    fn membership(&mut self, agent: &str, queue: &str, must_exist: bool) {
        let sql = "SELECT COUNT(*) FROM starq_memberships WHERE agent = ? AND queue = ?";
        let what = format!("membership of agent {agent:?} in queue {queue:?}");
        let args = vec![text(agent), text(queue)];
        if must_exist { self.exists(sql, args, what) } else { self.absent(sql, args, what) }
    }
    fn insert_queue(&mut self, queue: &str) {
        self.run("INSERT INTO starq_queues (name) VALUES (?)", vec![text(queue)]);
    }
    fn insert_setting(&mut self, queue: &str, setting: &str, value: &str) {
        let sql = "INSERT INTO starq_queue_settings (queue, setting, value) VALUES (?, ?, ?)";
        self.run(sql, vec![text(queue), text(setting), text(value)]);
    }
    fn insert_agent(&mut self, agent: &AgentRow) {
        let sql = "INSERT INTO starq_agents (id, name, wrapuptime) VALUES (?, ?, ?)";
        let args =
            vec![text(&agent.id), Arg::OptText(agent.name.clone()), Arg::OptInt(agent.wrapuptime)];
        self.run(sql, args);
        for (queue, penalty) in &agent.memberships {
            self.insert_membership(&agent.id, queue, *penalty);
        }
        for contact in &agent.contacts {
            let sql = "INSERT INTO starq_contacts (agent, position, endpoint, nodes) \
                       VALUES (?, ?, ?, ?)";
            let args = vec![
                text(&agent.id),
                Arg::Int(contact.position),
                text(&contact.endpoint),
                Arg::Text(contact.nodes_column()),
            ];
            self.run(sql, args);
        }
    }
    fn insert_membership(&mut self, agent: &str, queue: &str, penalty: i64) {
        let sql = "INSERT INTO starq_memberships (agent, queue, penalty) VALUES (?, ?, ?)";
        self.run(sql, vec![text(agent), text(queue), Arg::Int(penalty)]);
    }
}

/// The steps of one change. Children are deleted before their parents, so that nothing
/// depends on foreign keys cascading (an SQLite connection may not enforce them).
pub(super) fn plan(dialect: Dialect, change: &Change) -> Result<Vec<Step>, CatalogError> {
    let mut s = Steps { dialect, steps: Vec::new() };
    match change {
        Change::AddQueue { queue } => {
            let sql = "SELECT COUNT(*) FROM starq_queues WHERE name = ?";
            s.absent(sql, vec![text(queue)], format!("queue {queue:?}"));
            s.insert_queue(queue);
        }
        Change::RemoveQueue { queue } => {
            s.queue_exists(queue);
            s.run("DELETE FROM starq_queue_settings WHERE queue = ?", vec![text(queue)]);
            s.run("DELETE FROM starq_memberships WHERE queue = ?", vec![text(queue)]);
            s.run("DELETE FROM starq_queues WHERE name = ?", vec![text(queue)]);
        }
        Change::SetSetting { queue, setting, value } => {
            let parts = setting_path(setting).map_err(|r| bad_setting(queue, setting, r))?;
            s.queue_exists(queue);
            // `announce` and `announce.frequency` cannot both be set: one is a value, the
            // other makes it a table.
            let one = "SELECT COUNT(*) FROM starq_queue_settings WHERE queue = ? AND setting = ?";
            for depth in 1..parts.len() {
                let parent = parts[..depth].join(".");
                let what = format!("setting {parent:?} of queue {queue:?}, a value of its own,");
                s.absent(one, vec![text(queue), Arg::Text(parent)], what);
            }
            let below = "SELECT COUNT(*) FROM starq_queue_settings WHERE queue = ? \
                         AND setting LIKE ? ESCAPE '!'";
            let pattern =
                format!("{}.%", setting.replace('!', "!!").replace('%', "!%").replace('_', "!_"));
            let what = format!("a setting below {setting:?} of queue {queue:?}");
            s.absent(below, vec![text(queue), Arg::Text(pattern)], what);
            s.run(one_delete(), vec![text(queue), text(setting)]);
            s.insert_setting(queue, setting, value);
        }
        Change::UnsetSetting { queue, setting } => {
            let sql = "SELECT COUNT(*) FROM starq_queue_settings WHERE queue = ? AND setting = ?";
            let what = format!("setting {setting:?} of queue {queue:?}");
            s.exists(sql, vec![text(queue), text(setting)], what);
            s.run(one_delete(), vec![text(queue), text(setting)]);
        }
        Change::AddAgent(agent) => {
            let sql = "SELECT COUNT(*) FROM starq_agents WHERE id = ?";
            s.absent(sql, vec![text(&agent.id)], format!("agent {:?}", agent.id));
            for queue in agent.memberships.keys() {
                s.queue_exists(queue);
            }
            s.insert_agent(agent);
        }
        Change::RemoveAgent { agent } => {
            s.agent_exists(agent);
            s.run("DELETE FROM starq_contacts WHERE agent = ?", vec![text(agent)]);
            s.run("DELETE FROM starq_memberships WHERE agent = ?", vec![text(agent)]);
            s.run("DELETE FROM starq_agents WHERE id = ?", vec![text(agent)]);
        }
        Change::AddMembership { agent, queue, penalty } => {
            s.agent_exists(agent);
            s.queue_exists(queue);
            s.membership(agent, queue, false);
            s.insert_membership(agent, queue, *penalty);
        }
        Change::RemoveMembership { agent, queue } => {
            s.membership(agent, queue, true);
            let sql = "DELETE FROM starq_memberships WHERE agent = ? AND queue = ?";
            s.run(sql, vec![text(agent), text(queue)]);
        }
        Change::SetPenalty { agent, queue, penalty } => {
            s.membership(agent, queue, true);
            let sql = "UPDATE starq_memberships SET penalty = ? WHERE agent = ? AND queue = ?";
            s.run(sql, vec![Arg::Int(*penalty), text(agent), text(queue)]);
        }
    }
    Ok(s.steps)
}

fn one_delete() -> &'static str {
    "DELETE FROM starq_queue_settings WHERE queue = ? AND setting = ?"
}

/// The steps that replace every queue and agent.
pub(super) fn replace_all(
    dialect: Dialect,
    queues: &BTreeMap<String, toml::Table>,
    agents: &[AgentRow],
) -> Result<Vec<Step>, CatalogError> {
    let mut s = Steps { dialect, steps: Vec::new() };
    for table in [
        "starq_contacts",
        "starq_memberships",
        "starq_agents",
        "starq_queue_settings",
        "starq_queues",
    ] {
        s.run(&format!("DELETE FROM {table}"), Vec::new());
    }
    for (queue, table) in queues {
        s.insert_queue(queue);
        for (setting, value) in rows::settings_of(table) {
            s.insert_setting(queue, &setting, &value);
        }
    }
    for agent in agents {
        s.insert_agent(agent);
    }
    Ok(s.steps)
}

impl Seeded {
    /// The revision after a write.
    pub(super) fn revision(self) -> u64 {
        match self {
            Seeded::Written { revision } => revision,
            Seeded::AlreadyHeld { .. } => 0,
        }
    }
}

/// `$query` with every value of `$args` bound, in order.
macro_rules! bind {
    ($query:expr, $args:expr) => {{
        let mut q = $query;
        for arg in $args {
            q = match arg {
                Arg::Text(s) => q.bind(s.clone()),
                Arg::Int(i) => q.bind(*i),
                Arg::OptText(s) => q.bind(s.clone()),
                Arg::OptInt(i) => q.bind(*i),
            };
        }
        q
    }};
}

const REVISION: &str = "SELECT revision FROM starq_config_revision WHERE id = 1";

/// Runs `$body` with `$p` bound to the pool of whichever dialect `$pool` is.
macro_rules! on_pool {
    ($pool:expr, $p:ident => $body:expr) => {
        match $pool {
            AnyPool::MySql($p) => $body,
            AnyPool::Postgres($p) => $body,
            AnyPool::Sqlite($p) => $body,
        }
    };
}

pub(super) async fn revision(pool: &AnyPool) -> Result<u64, CatalogError> {
    let found: Option<(i64,)> =
        on_pool!(pool, p => sqlx::query_as(REVISION).fetch_optional(p).await?);
    found.map(|(r,)| r.cast_unsigned()).ok_or(CatalogError::NoRevision)
}

pub(super) async fn write(
    pool: &AnyPool,
    expected: Option<u64>,
    only_if_empty: bool,
    steps: &[Step],
) -> Result<Seeded, CatalogError> {
    on_pool!(pool, p => write_steps(p, expected, only_if_empty, steps).await)
}

pub(super) async fn load(pool: &AnyPool) -> Result<CatalogRows, CatalogError> {
    // Each attempt reads the revision before and after the rows: equal, nothing was committed
    // in between (every commit moves it), whatever the isolation level of the server.
    for _ in 0..5 {
        let fetched = on_pool!(pool, p => fetch(p, pool.dialect()).await?);
        if let Some(fetched) = fetched {
            return shape(fetched);
        }
    }
    Err(CatalogError::Unsettled)
}

/// The rows of every table, as read.
struct Fetched {
    revision: i64,
    queues: Vec<(String,)>,
    settings: Vec<(String, String, String)>,
    agents: Vec<(String, Option<String>, Option<i64>)>,
    memberships: Vec<(String, String, i64)>,
    contacts: Vec<(String, i64, String, String)>,
}

/// `SELECT` of these columns from `table`. MySQL's binary collation (names compare byte for
/// byte) makes a column read as bytes: its text columns are converted back.
fn select(dialect: Dialect, table: &str, columns: &[(&str, bool)]) -> String {
    let columns: Vec<String> = columns
        .iter()
        .map(|(column, text)| match dialect {
            Dialect::MySql if *text => format!("CONVERT({column} USING utf8mb4)"),
            _ => (*column).to_owned(),
        })
        .collect();
    format!("SELECT {} FROM {table}", columns.join(", "))
}

async fn fetch<DB>(pool: &Pool<DB>, dialect: Dialect) -> Result<Option<Fetched>, CatalogError>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    (i64,): for<'r> FromRow<'r, DB::Row>,
    (String,): for<'r> FromRow<'r, DB::Row>,
    (String, String, String): for<'r> FromRow<'r, DB::Row>,
    (String, Option<String>, Option<i64>): for<'r> FromRow<'r, DB::Row>,
    (String, String, i64): for<'r> FromRow<'r, DB::Row>,
    (String, i64, String, String): for<'r> FromRow<'r, DB::Row>,
{
    let mut tx = pool.begin().await?;
    let before: Option<(i64,)> = sqlx::query_as(REVISION).fetch_optional(&mut *tx).await?;
    let (revision,) = before.ok_or(CatalogError::NoRevision)?;
    let (t, n) = (true, false);
    let queues = sqlx::query_as(&select(dialect, "starq_queues", &[("name", t)]))
        .fetch_all(&mut *tx)
        .await?;
    let settings =
        select(dialect, "starq_queue_settings", &[("queue", t), ("setting", t), ("value", t)]);
    let settings = sqlx::query_as(&settings).fetch_all(&mut *tx).await?;
    let agents = select(dialect, "starq_agents", &[("id", t), ("name", t), ("wrapuptime", n)]);
    let agents = sqlx::query_as(&agents).fetch_all(&mut *tx).await?;
    let memberships =
        select(dialect, "starq_memberships", &[("agent", t), ("queue", t), ("penalty", n)]);
    let memberships = sqlx::query_as(&memberships).fetch_all(&mut *tx).await?;
    let contacts = select(
        dialect,
        "starq_contacts",
        &[("agent", t), ("position", n), ("endpoint", t), ("nodes", t)],
    );
    let contacts = sqlx::query_as(&contacts).fetch_all(&mut *tx).await?;
    let after: Option<(i64,)> = sqlx::query_as(REVISION).fetch_optional(&mut *tx).await?;
    tx.commit().await?;
    Ok((after == Some((revision,))).then_some(Fetched {
        revision,
        queues,
        settings,
        agents,
        memberships,
        contacts,
    }))
}

/// The rows read, in the shapes of `starq.toml`; rows that belong to nothing are refused.
fn shape(f: Fetched) -> Result<CatalogRows, CatalogError> {
    let mut queues: BTreeMap<String, toml::Table> =
        f.queues.into_iter().map(|(name,)| (name, toml::Table::new())).collect();
    let mut settings = f.settings;
    settings.sort();
    for (queue, setting, value) in settings {
        let Some(table) = queues.get_mut(&queue) else {
            let reason = "no such queue in starq_queues".to_owned();
            return Err(bad_setting(&queue, &setting, reason));
        };
        rows::insert_setting(table, &setting, rows::decode_value(&value))
            .map_err(|r| bad_setting(&queue, &setting, r))?;
    }
    let mut agents: BTreeMap<String, AgentRow> = f
        .agents
        .into_iter()
        .map(|(id, name, wrapuptime)| {
            (id.clone(), AgentRow { id, name, wrapuptime, ..AgentRow::default() })
        })
        .collect();
    let orphan = |table, row: String| CatalogError::Row {
        table,
        row,
        field: "agent".into(),
        reason: "no such agent in starq_agents".into(),
    };
    for (agent, queue, penalty) in f.memberships {
        let row = || format!("agent {agent:?}, queue {queue:?}");
        let Some(a) = agents.get_mut(&agent) else {
            return Err(orphan("starq_memberships", row()));
        };
        a.memberships.insert(queue, penalty);
    }
    let mut contacts = f.contacts;
    contacts.sort_by_key(|(_, position, ..)| *position);
    for (agent, position, endpoint, nodes) in contacts {
        let row = || format!("agent {agent:?}, position {position}");
        let Some(a) = agents.get_mut(&agent) else { return Err(orphan("starq_contacts", row())) };
        a.contacts.push(ContactRow { position, endpoint, nodes: ContactRow::parse_nodes(&nodes) });
    }
    Ok(CatalogRows {
        revision: f.revision.cast_unsigned(),
        queues,
        agents: agents.into_values().collect(),
    })
}

async fn write_steps<DB>(
    pool: &Pool<DB>,
    expected: Option<u64>,
    only_if_empty: bool,
    steps: &[Step],
) -> Result<Seeded, CatalogError>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> i64: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'q> Option<i64>: Encode<'q, DB>,
    for<'q> Option<String>: Encode<'q, DB>,
    (i64,): for<'r> FromRow<'r, DB::Row>,
{
    let mut tx = pool.begin().await?;
    // Writers queue up on the revision row (a write that changes nothing still locks it;
    // on SQLite it takes the database's write lock at once rather than on upgrade).
    sqlx::query("UPDATE starq_config_revision SET revision = revision WHERE id = 1")
        .execute(&mut *tx)
        .await?;
    let found: Option<(i64,)> = sqlx::query_as(REVISION).fetch_optional(&mut *tx).await?;
    let found = found.ok_or(CatalogError::NoRevision)?.0.cast_unsigned();
    if let Some(expected) = expected.filter(|e| *e != found) {
        return Err(CatalogError::Conflict { expected, found });
    }
    if only_if_empty {
        let count = |table| format!("SELECT COUNT(*) FROM {table}");
        let (queues,): (i64,) = sqlx::query_as(&count("starq_queues")).fetch_one(&mut *tx).await?;
        let (agents,): (i64,) = sqlx::query_as(&count("starq_agents")).fetch_one(&mut *tx).await?;
        if queues > 0 || agents > 0 {
            let (queues, agents) = (queues.cast_unsigned(), agents.cast_unsigned());
            return Ok(Seeded::AlreadyHeld { queues, agents });
        }
    }
    for step in steps {
        match step {
            Step::Exists { sql, args, what } | Step::Absent { sql, args, what } => {
                let (n,): (i64,) = bind!(sqlx::query_as(sql), args).fetch_one(&mut *tx).await?;
                match step {
                    Step::Exists { .. } if n == 0 => {
                        return Err(CatalogError::NotFound(what.clone()));
                    }
                    Step::Absent { .. } if n > 0 => return Err(CatalogError::Exists(what.clone())),
                    _ => {}
                }
            }
            Step::Run { sql, args } => {
                bind!(sqlx::query(sql), args).execute(&mut *tx).await?;
            }
        }
    }
    let (revision,): (i64,) = sqlx::query_as(REVISION).fetch_one(&mut *tx).await?;
    tx.commit().await?;
    let revision = revision.cast_unsigned();
    Ok(Seeded::Written { revision })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_setting_is_checked_against_its_parents_and_children_then_replaced() {
        let change = Change::SetSetting {
            queue: "q".into(),
            setting: "announce.frequency".into(),
            value: "30".into(),
        };
        let steps = plan(Dialect::Postgres, &change).unwrap();
        let sql: Vec<&str> = steps
            .iter()
            .map(|s| match s {
                Step::Exists { sql, .. } | Step::Absent { sql, .. } | Step::Run { sql, .. } => {
                    sql.as_str()
                }
            })
            .collect();
        assert_eq!(sql.len(), 5, "{sql:#?}");
        assert!(sql[3].starts_with("DELETE") && sql[4].starts_with("INSERT"), "{sql:#?}");
        assert!(sql[4].contains("$1, $2, $3"), "{sql:#?}");
        let Step::Absent { args, .. } = &steps[2] else { panic!("{steps:?}") };
        assert_eq!(args[1], Arg::Text("announce.frequency.%".into()));
        let bad =
            Change::SetSetting { queue: "q".into(), setting: "a..b".into(), value: "1".into() };
        assert!(plan(Dialect::Sqlite, &bad).is_err());
    }
}

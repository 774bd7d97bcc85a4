//! Agents' presence as the journal last left it (`agent_presence`, `agent_presence_pauses`), and
//! [`PresenceTable`], which reads it back for a starq that finds its store without state (a Redis
//! restarted empty or failed over to an empty replica, a single box restarted).
//!
//! The record keeps presence by the store's own rules: a login leaves the pauses as they are
//! (a logout cleared them), a logout clears every pause, a pause in every queue sets its reason
//! and leaves the pauses in one queue alone, an unpause in every queue clears every pause, an
//! unpause in one queue clears that one. A queue taken out of an agent's memberships loses its
//! pause too: a store could not be given it back.
//!
//! Each change is an upsert or a delete keyed by agent (and queue) with values from its record
//! alone, so records applied twice leave the same rows. The SQL sink applies them in the batch
//! transaction that also records how far the batch got.

use std::collections::BTreeMap;

use sqlx::{Database, Executor, IntoArguments, Pool};
use starq_core::journal::{JournalEntry, JournalEvent};
use starq_core::shared::Presence;
use starq_core::{AgentId, QueueId, Time};

use crate::sql::{AnyPool, SqlError};

/// One change to the presence record.
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(missing_docs)] // fields are named for what they hold
pub enum PresenceChange {
    /// Logged in; pauses unchanged.
    LoggedIn { agent: String, at: Time },
    /// Logged out; every pause cleared.
    LoggedOut { agent: String, at: Time },
    /// Paused in every queue; pauses in one queue unchanged.
    PausedAll { agent: String, reason: String, at: Time },
    /// Paused in one queue.
    PausedIn { agent: String, queue: String, reason: String, at: Time },
    /// Unpaused in every queue; every pause cleared.
    UnpausedAll { agent: String, at: Time },
    /// Unpaused in one queue, or no longer a member of it.
    UnpausedIn { agent: String, queue: String },
}

/// The change one journal record makes to the presence record, if any.
pub fn change(entry: &JournalEntry) -> Option<PresenceChange> {
    let at = entry.time;
    Some(match &entry.event {
        JournalEvent::LoggedIn { agent } => {
            PresenceChange::LoggedIn { agent: agent.to_string(), at }
        }
        JournalEvent::LoggedOut { agent, .. } => {
            PresenceChange::LoggedOut { agent: agent.to_string(), at }
        }
        JournalEvent::Paused { agent, queue: None, reason, .. } => {
            PresenceChange::PausedAll { agent: agent.to_string(), reason: reason.clone(), at }
        }
        JournalEvent::Paused { agent, queue: Some(queue), reason, .. } => {
            PresenceChange::PausedIn {
                agent: agent.to_string(),
                queue: queue.to_string(),
                reason: reason.clone(),
                at,
            }
        }
        JournalEvent::Unpaused { agent, queue: None, .. } => {
            PresenceChange::UnpausedAll { agent: agent.to_string(), at }
        }
        JournalEvent::Unpaused { agent, queue: Some(queue), .. }
        | JournalEvent::MemberRemoved { agent, queue } => {
            PresenceChange::UnpausedIn { agent: agent.to_string(), queue: queue.to_string() }
        }
        _ => return None,
    })
}

/// Every agent's row and every one-queue pause, in one statement (one snapshot): agent,
/// logged in (0 or 1), reason of the pause in every queue, then queue and reason of a pause in
/// one queue. `{bigint}` as in [`Dialect::sql`](crate::sql::Dialect::sql).
const RECALL: &str = "\
SELECT agent, CAST(CASE WHEN logged_in THEN 1 ELSE 0 END AS {bigint}) AS logged_in,
  paused_all, NULL AS queuename, NULL AS reason
FROM agent_presence
UNION ALL
SELECT agent, CAST(0 AS {bigint}), NULL, queuename, reason
FROM agent_presence_pauses";

type Row = (String, i64, Option<String>, Option<String>, Option<String>);

/// The presence record in the reports database, read back.
#[derive(Clone, Debug)]
pub struct PresenceTable {
    pool: AnyPool,
}

impl PresenceTable {
    /// The record in the database of `pool` (best the reporter's own:
    /// [`Reporter::presence_table`](crate::Reporter::presence_table), so that the two never
    /// migrate the schema side by side on one SQLite file).
    pub fn new(pool: AnyPool) -> Self {
        PresenceTable { pool }
    }

    /// Every agent's presence as last recorded, in agent id order, pauses in one queue in
    /// queue id order. Migrates the schema first: the database of a first start may not have
    /// it yet, and holds no presence then. Agents the record never saw are not in the list.
    pub async fn recall(&self) -> Result<Vec<Presence>, SqlError> {
        self.pool.migrate().await?;
        let sql = self.pool.dialect().sql(RECALL);
        let rows = match &self.pool {
            AnyPool::MySql(p) => fetch(p, &sql).await?,
            AnyPool::Postgres(p) => fetch(p, &sql).await?,
            AnyPool::Sqlite(p) => fetch(p, &sql).await?,
        };
        Ok(gather(rows))
    }
}

async fn fetch<DB>(pool: &Pool<DB>, sql: &str) -> Result<Vec<Row>, SqlError>
where
    DB: Database,
    for<'c> &'c Pool<DB>: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    Row: for<'r> sqlx::FromRow<'r, DB::Row>,
{
    Ok(sqlx::query_as::<DB, Row>(sql).fetch_all(pool).await?)
}

/// The rows of [`RECALL`] as one presence per agent. An agent with pauses in one queue and no
/// row of its own (paused while logged out, never logged in since) is logged out.
fn gather(rows: Vec<Row>) -> Vec<Presence> {
    #[derive(Default)]
    struct Gathered {
        logged_in: bool,
        paused_all: Option<String>,
        paused: BTreeMap<QueueId, String>,
    }
    let mut agents: BTreeMap<AgentId, Gathered> = BTreeMap::new();
    for (agent, logged_in, paused_all, queue, reason) in rows {
        let gathered = agents.entry(AgentId::new(agent)).or_default();
        match queue {
            Some(queue) => {
                _ = gathered.paused.insert(QueueId::new(queue), reason.unwrap_or_default())
            }
            None => {
                gathered.logged_in = logged_in != 0;
                gathered.paused_all = paused_all;
            }
        }
    }
    agents
        .into_iter()
        .map(|(agent, g)| Presence {
            agent,
            logged_in: g.logged_in,
            paused_all: g.paused_all,
            paused: g.paused.into_iter().collect(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(event: JournalEvent) -> JournalEntry {
        JournalEntry { seq: 1, time: Time(5_000), event }
    }

    #[test]
    fn agent_records_change_presence_and_calls_do_not() {
        let (agent, queue) = (AgentId::new("a1"), QueueId::new("q1"));
        let paused = |queue| JournalEvent::Paused {
            agent: agent.clone(),
            queue,
            reason: "lunch".into(),
            auto: false,
            members: vec![],
        };
        assert_eq!(
            change(&entry(paused(None))),
            Some(PresenceChange::PausedAll {
                agent: "a1".into(),
                reason: "lunch".into(),
                at: Time(5_000)
            })
        );
        assert_eq!(
            change(&entry(paused(Some(queue.clone())))),
            Some(PresenceChange::PausedIn {
                agent: "a1".into(),
                queue: "q1".into(),
                reason: "lunch".into(),
                at: Time(5_000)
            })
        );
        let removed = JournalEvent::MemberRemoved { agent: agent.clone(), queue };
        assert_eq!(
            change(&entry(removed)),
            Some(PresenceChange::UnpausedIn { agent: "a1".into(), queue: "q1".into() })
        );
        let reachability = JournalEvent::Reachability { agent, reachable: false };
        assert_eq!(change(&entry(reachability)), None);
    }

    #[test]
    fn rows_gather_into_one_presence_per_agent() {
        let row = |agent: &str,
                   logged_in,
                   all: Option<&str>,
                   queue: Option<&str>,
                   reason: Option<&str>| {
            (
                agent.to_owned(),
                logged_in,
                all.map(str::to_owned),
                queue.map(str::to_owned),
                reason.map(str::to_owned),
            )
        };
        let presence = gather(vec![
            row("a2", 0, None, Some("q9"), Some("x")),
            row("a1", 1, Some("lunch"), None, None),
            row("a1", 0, None, Some("q2"), Some("b")),
            row("a1", 0, None, Some("q1"), Some("a")),
        ]);
        assert_eq!(
            presence,
            [
                Presence {
                    agent: AgentId::new("a1"),
                    logged_in: true,
                    paused_all: Some("lunch".into()),
                    paused: vec![
                        (QueueId::new("q1"), "a".into()),
                        (QueueId::new("q2"), "b".into())
                    ],
                },
                Presence {
                    agent: AgentId::new("a2"),
                    logged_in: false,
                    paused_all: None,
                    paused: vec![(QueueId::new("q9"), "x".into())],
                },
            ]
        );
    }
}

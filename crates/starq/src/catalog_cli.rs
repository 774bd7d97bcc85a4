//! `starq queues …` and `starq agents …`: the catalog read and changed from the command line.
//!
//! The catalog is named by `--config starq.toml` (its `[catalog] sql_url`, with its nodes to
//! check contacts against) or `--sql URL`. A change is prepared on the catalog as read, checked
//! against the whole configuration it would make (the rules of `starq.toml`, errors naming the
//! table, row and column), and written only if the catalog is still at the revision it was
//! read at: a change that would leave the catalog invalid, or that raced another, writes
//! nothing and exits non-zero.

use std::collections::BTreeSet;
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use starq_engine::config;
use starq_report::catalog::{AgentRow, CatalogDb, CatalogRows, Change, ContactRow};

use crate::catalog::validate;

/// Which catalog.
#[derive(Debug, Args)]
pub(crate) struct Target {
    /// The configuration whose `[catalog] sql_url` names the catalog (its nodes are checked).
    #[arg(long, short, global = true, conflicts_with = "sql")]
    config: Option<PathBuf>,
    /// The catalog's database URL (mysql://, postgres://, sqlite:), instead of --config.
    #[arg(long, global = true)]
    sql: Option<String>,
}

/// `starq queues`.
#[derive(Debug, Args)]
pub(crate) struct QueuesArgs {
    #[command(flatten)]
    target: Target,
    #[command(subcommand)]
    command: QueuesCmd,
}

#[derive(Debug, Subcommand)]
enum QueuesCmd {
    /// Every queue, with its strategy and members.
    List,
    /// A queue's settings, as starq.toml would write them, and its members.
    Show { queue: String },
    /// Sets a setting (a starq.toml queue key, dotted when nested: announce.frequency).
    Set {
        queue: String,
        setting: String,
        /// A TOML value (15, true, ["a", "b"]) or plain text (rrmemory).
        #[arg(allow_hyphen_values = true)]
        value: String,
    },
    /// Takes a setting back to its default.
    Unset { queue: String, setting: String },
    /// Adds a queue with every setting at its default.
    Add { queue: String },
    /// Removes a queue, its settings and its memberships.
    Remove { queue: String },
}

/// `starq agents`.
#[derive(Debug, Args)]
pub(crate) struct AgentsArgs {
    #[command(flatten)]
    target: Target,
    #[command(subcommand)]
    command: AgentsCmd,
}

#[derive(Debug, Subcommand)]
enum AgentsCmd {
    /// Every agent, with queues and contacts.
    List,
    /// An agent, as starq.toml would write it.
    Show { id: String },
    /// Adds an agent.
    Add {
        id: String,
        /// The name shown in queue_log (the id if none).
        #[arg(long)]
        name: Option<String>,
        /// Wrap-up after each call, in seconds, overriding the queues'.
        #[arg(long, allow_negative_numbers = true)]
        wrapuptime: Option<i64>,
        /// A phone, tried in the order given: ENDPOINT, or ENDPOINT@node,node to reach it from
        /// those nodes only (the part after the last `@`).
        #[arg(long = "contact", value_name = "ENDPOINT[@node,node]")]
        contacts: Vec<String>,
    },
    /// Removes an agent (a call in progress finishes).
    Remove { id: String },
    /// Makes an agent a member of a queue.
    AddMember {
        id: String,
        queue: String,
        /// Lower penalties are offered calls first.
        #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
        penalty: i64,
    },
    /// Takes an agent out of a queue.
    RemoveMember { id: String, queue: String },
    /// Sets an agent's penalty in a queue.
    Penalty {
        id: String,
        queue: String,
        #[arg(allow_negative_numbers = true)]
        penalty: i64,
    },
}

impl Target {
    /// Whether a catalog was named at all.
    pub(crate) fn given(&self) -> bool {
        self.config.is_some() || self.sql.is_some()
    }
}

/// Writes an imported configuration (`starq import … --sql`) into the catalog: an empty one,
/// or with `replace` one that holds queues or agents already, if nobody changed it meanwhile.
/// The whole result is validated first; nothing is written when it does not pass.
pub(crate) async fn import_into(
    target: &Target,
    queues: &std::collections::BTreeMap<String, toml::Table>,
    agents: &[starq_core::config::AgentConfig],
    replace: bool,
) -> anyhow::Result<()> {
    let opened = open(target).await?;
    let held = opened.load().await?;
    if !replace && (!held.queues.is_empty() || !held.agents.is_empty()) {
        bail!(
            "the catalog holds {} queues and {} agents already: nothing written (--replace \
             replaces them)",
            held.queues.len(),
            held.agents.len()
        );
    }
    let agents = crate::catalog::agent_rows(agents);
    let rows = CatalogRows { revision: held.revision, queues: queues.clone(), agents };
    validate(&rows, opened.nodes.as_ref())
        .map_err(|e| anyhow::anyhow!("refused, nothing written: {e}"))?;
    let revision = opened.db.replace_all(&rows.queues, &rows.agents, Some(held.revision)).await?;
    outln!(
        "ok: {} queues and {} agents written, catalog at revision {revision}",
        rows.queues.len(),
        rows.agents.len()
    )?;
    Ok(())
}

/// The catalog opened, with the nodes its contacts are checked against.
struct Opened {
    db: CatalogDb,
    nodes: Option<BTreeSet<String>>,
}

async fn open(target: &Target) -> anyhow::Result<Opened> {
    let (settings, nodes) = match (&target.sql, &target.config) {
        (Some(url), _) => {
            let sql_url = config::SecretUrl::from(url.as_str());
            (config::CatalogSettings { sql_url, poll: std::time::Duration::from_secs(1) }, None)
        }
        (None, Some(path)) => {
            let config = config::load(path)?;
            let Some(catalog) = config.catalog else {
                bail!(
                    "{}: no [catalog] sql_url (nor STARQ_CATALOG_SQL_URL): its queues and agents \
                     are in the file",
                    path.display()
                );
            };
            let nodes = config.nodes.iter().map(|n| n.id.to_string()).collect();
            (catalog, Some(nodes))
        }
        (None, None) => bail!("which catalog? give --config starq.toml or --sql URL"),
    };
    Ok(Opened { db: crate::catalog::open(&settings).await?, nodes })
}

impl Opened {
    async fn load(&self) -> anyhow::Result<CatalogRows> {
        self.db.load().await.context("cannot read the catalog")
    }

    /// Loads, applies `change` in memory, validates the whole result, then writes the change
    /// at the revision read.
    async fn change(&self, change: Change) -> anyhow::Result<()> {
        let mut rows = self.load().await?;
        let read_at = rows.revision;
        rows.apply(&change)?;
        validate(&rows, self.nodes.as_ref())
            .map_err(|e| anyhow::anyhow!("refused, nothing written: {e}"))?;
        let revision = self.db.apply(&change, Some(read_at)).await?;
        outln!("ok: catalog at revision {revision}")?;
        Ok(())
    }
}

/// Runs `starq queues …`.
pub(crate) async fn queues(args: QueuesArgs) -> anyhow::Result<()> {
    let catalog = open(&args.target).await?;
    match args.command {
        QueuesCmd::List => {
            let rows = catalog.load().await?;
            for (name, table) in &rows.queues {
                let strategy = table.get("strategy").and_then(|s| s.as_str()).unwrap_or("ringall");
                let members =
                    rows.agents.iter().filter(|a| a.memberships.contains_key(name)).count();
                outln!("{name}\t{strategy}\t{members} members")?;
            }
        }
        QueuesCmd::Show { queue } => {
            let rows = catalog.load().await?;
            let Some(table) = rows.queues.get(&queue) else {
                bail!("queue {queue:?} does not exist");
            };
            let mut file = toml::Table::new();
            let queues =
                toml::Table::from_iter([(queue.clone(), toml::Value::Table(table.clone()))]);
            file.insert("queues".into(), toml::Value::Table(queues));
            outln!("{}", toml::to_string(&file)?.trim_end())?;
            for agent in rows.agents.iter().filter(|a| a.memberships.contains_key(&queue)) {
                outln!("# member {} (penalty {})", agent.id, agent.memberships[&queue])?;
            }
        }
        QueuesCmd::Set { queue, setting, value } => {
            catalog.change(Change::SetSetting { queue, setting, value }).await?;
        }
        QueuesCmd::Unset { queue, setting } => {
            catalog.change(Change::UnsetSetting { queue, setting }).await?;
        }
        QueuesCmd::Add { queue } => catalog.change(Change::AddQueue { queue }).await?,
        QueuesCmd::Remove { queue } => catalog.change(Change::RemoveQueue { queue }).await?,
    }
    Ok(())
}

/// Runs `starq agents …`.
pub(crate) async fn agents(args: AgentsArgs) -> anyhow::Result<()> {
    let catalog = open(&args.target).await?;
    match args.command {
        AgentsCmd::List => {
            let rows = catalog.load().await?;
            for agent in &rows.agents {
                let queues: Vec<String> =
                    agent.memberships.iter().map(|(q, p)| format!("{q}({p})")).collect();
                let contacts: Vec<&str> =
                    agent.contacts.iter().map(|c| c.endpoint.as_str()).collect();
                outln!(
                    "{}\t{}\tqueues: {}\tcontacts: {}",
                    agent.id,
                    agent.name.as_deref().unwrap_or(&agent.id),
                    queues.join(" "),
                    contacts.join(" ")
                )?;
            }
        }
        AgentsCmd::Show { id } => {
            let rows = catalog.load().await?;
            let Some(agent) = rows.agent(&id) else { bail!("agent {id:?} does not exist") };
            let file = toml::Table::from_iter([(
                "agents".to_owned(),
                toml::Value::Array(vec![toml::Value::Table(agent.table())]),
            )]);
            outln!("{}", toml::to_string(&file)?.trim_end())?;
        }
        AgentsCmd::Add { id, name, wrapuptime, contacts } => {
            let contacts =
                contacts.iter().zip(0..).map(|(text, position)| contact(text, position)).collect();
            let agent = AgentRow { id, name, wrapuptime, contacts, ..AgentRow::default() };
            catalog.change(Change::AddAgent(agent)).await?;
        }
        AgentsCmd::Remove { id } => catalog.change(Change::RemoveAgent { agent: id }).await?,
        AgentsCmd::AddMember { id, queue, penalty } => {
            catalog.change(Change::AddMembership { agent: id, queue, penalty }).await?;
        }
        AgentsCmd::RemoveMember { id, queue } => {
            catalog.change(Change::RemoveMembership { agent: id, queue }).await?;
        }
        AgentsCmd::Penalty { id, queue, penalty } => {
            catalog.change(Change::SetPenalty { agent: id, queue, penalty }).await?;
        }
    }
    Ok(())
}

/// `ENDPOINT` or `ENDPOINT@node,node` (the nodes after the last `@`).
fn contact(text: &str, position: i64) -> ContactRow {
    let (endpoint, nodes) = match text.rsplit_once('@') {
        Some((endpoint, nodes)) => (endpoint, ContactRow::parse_nodes(nodes)),
        None => (text, Vec::new()),
    };
    ContactRow { position, endpoint: endpoint.to_owned(), nodes }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contacts_name_their_nodes_after_the_last_at() {
        assert_eq!(
            contact("PJSIP/a", 0),
            ContactRow { position: 0, endpoint: "PJSIP/a".into(), nodes: vec![] }
        );
        assert_eq!(
            contact("PJSIP/1001@trunk@main,backup", 2),
            ContactRow {
                position: 2,
                endpoint: "PJSIP/1001@trunk".into(),
                nodes: vec!["main".into(), "backup".into()]
            }
        );
    }
}

//! The catalog beside the engine: the call center's queues and agents read from SQL
//! (`[catalog]` in `starq.toml`), validated with the file's rules, and followed while starq
//! runs.
//!
//! - [`load_valid`]: the catalog read whole and validated once (the CLI's and a start's).
//! - [`Watcher`]: reads the revision every `poll_ms`; when it moved, reads the catalog whole,
//!   validates it and publishes it on a `watch` channel. A change that does not validate is
//!   logged with its table, row and column and never replaces the configuration in use; a
//!   database that cannot be reached is logged and tried again at the next poll.
//! - [`seed_from_file`]: the queues and agents of `starq.toml` written into an empty catalog
//!   at start; a catalog that holds any is left alone, so two instances with different files
//!   never overwrite each other.
//!
//! At start, in this order: [`open`] (before the reporter migrates the same database: two
//! pools must not migrate one SQLite file side by side), [`seed_from_file`], [`load_valid`]
//! for the configuration to start with, then [`Watcher::spawn`] from it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use starq_core::config::AgentConfig;
use starq_engine::config::{AgentTable, Catalog, CatalogError as Invalid, CatalogSettings};
use starq_report::catalog::{AgentRow, CatalogDb, CatalogError, CatalogRows, ContactRow, Seeded};
use thiserror::Error;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// What `serve` follows: the catalog opened, seeded from the file at `path` if empty, read and
/// validated against the instance's nodes, and watched from then on (until `stop`).
pub(crate) async fn follow(
    settings: &CatalogSettings,
    path: &Path,
    config: &starq_engine::config::Config,
    stop: CancellationToken,
) -> anyhow::Result<(watch::Receiver<Arc<Catalog>>, tokio::task::JoinHandle<()>)> {
    let db = open(settings).await?;
    seed_from_file(&db, path, &config.agents).await?;
    let nodes: BTreeSet<String> = config.nodes.iter().map(|n| n.id.to_string()).collect();
    let first = load_valid(&db, Some(&nodes))
        .await
        .with_context(|| format!("catalog {}: no configuration to start with", settings.sql_url))?;
    tracing::info!(
        revision = first.revision,
        queues = first.queues.len(),
        agents = first.agents.len(),
        "catalog: configuration read; followed every {} ms",
        settings.poll.as_millis()
    );
    Ok(Watcher::new(db, settings.poll, Some(nodes)).spawn(Arc::new(first), stop))
}

/// Why the catalog gave no configuration.
#[derive(Debug, Error)]
pub(crate) enum LoadError {
    /// The catalog could not be read (database away, rows that cannot be shaped).
    #[error(transparent)]
    Read(#[from] CatalogError),
    /// The rows were read but do not make a valid configuration.
    #[error("{0}")]
    Invalid(#[from] Invalid),
}

/// The catalog of a `[catalog]` section, its tables created if they are not there yet.
pub(crate) async fn open(settings: &CatalogSettings) -> anyhow::Result<CatalogDb> {
    let url = &settings.sql_url;
    let db = CatalogDb::connect_lazy(url.expose())
        .map_err(|e| anyhow::anyhow!("catalog.sql_url: {e}"))?;
    db.migrate().await.with_context(|| format!("catalog {url}: cannot create its tables"))?;
    Ok(db)
}

/// The rows validated as an instance with these `nodes` would (`None`: any node name).
pub(crate) fn validate(
    rows: &CatalogRows,
    nodes: Option<&BTreeSet<String>>,
) -> Result<Catalog, Invalid> {
    let agents: Vec<AgentTable> = rows
        .agents
        .iter()
        .map(|a| AgentTable { table: a.table(), contact_positions: a.contact_positions() })
        .collect();
    Catalog::validate(rows.revision, &rows.queues, &agents, nodes)
}

/// The catalog read whole and validated.
pub(crate) async fn load_valid(
    db: &CatalogDb,
    nodes: Option<&BTreeSet<String>>,
) -> Result<Catalog, LoadError> {
    let rows = db.load().await?;
    Ok(validate(&rows, nodes)?)
}

/// Follows the catalog: see the module docs.
#[derive(Debug)]
pub(crate) struct Watcher {
    db: CatalogDb,
    poll: Duration,
    nodes: Option<BTreeSet<String>>,
    /// The last revision looked at, valid or not (an invalid one is not read again).
    seen: u64,
    /// Whether the last read of the revision failed (its error is logged once per outage).
    down: bool,
}

impl Watcher {
    /// A watcher of `db`, validating with the instance's `nodes`.
    pub(crate) fn new(db: CatalogDb, poll: Duration, nodes: Option<BTreeSet<String>>) -> Self {
        Watcher { db, poll, nodes, seen: 0, down: false }
    }

    /// Starts following the catalog from `first` (the configuration in use): every later valid
    /// revision is published on the channel returned, until `stop` is cancelled or every
    /// receiver is gone.
    pub(crate) fn spawn(
        mut self,
        first: Arc<Catalog>,
        stop: CancellationToken,
    ) -> (watch::Receiver<Arc<Catalog>>, tokio::task::JoinHandle<()>) {
        self.seen = first.revision;
        let (tx, rx) = watch::channel(first);
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tx.closed() => return,
                    () = tokio::time::sleep(self.poll) => {}
                }
                if let Some(catalog) = self.poll_once().await {
                    // A revision that changed nothing (a row written back as it was) wakes
                    // nobody.
                    let same = {
                        let current = tx.borrow();
                        current.queues == catalog.queues && current.agents == catalog.agents
                    };
                    if !same {
                        tx.send_replace(Arc::new(catalog));
                    }
                }
            }
        });
        (rx, task)
    }

    /// One look at the catalog: a new valid configuration, if its revision moved to one.
    pub(crate) async fn poll_once(&mut self) -> Option<Catalog> {
        let revision = match self.db.revision().await {
            Ok(revision) => revision,
            Err(error) => {
                if !self.down {
                    tracing::error!(%error, "catalog: cannot read its revision; trying again every poll");
                }
                self.down = true;
                return None;
            }
        };
        if std::mem::take(&mut self.down) {
            tracing::info!(revision, "catalog: reachable again");
        }
        if revision == self.seen {
            return None;
        }
        match load_valid(&self.db, self.nodes.as_ref()).await {
            Ok(catalog) => {
                self.seen = catalog.revision;
                tracing::info!(
                    revision = catalog.revision,
                    queues = catalog.queues.len(),
                    agents = catalog.agents.len(),
                    "catalog: new configuration"
                );
                Some(catalog)
            }
            // The database went away between the two reads: the next poll reads again.
            Err(LoadError::Read(CatalogError::Sql(error))) => {
                tracing::error!(%error, "catalog: cannot read it; trying again every poll");
                self.down = true;
                None
            }
            Err(error) => {
                self.seen = revision;
                tracing::error!(
                    revision,
                    %error,
                    "catalog: change refused, the configuration in use stays"
                );
                None
            }
        }
    }
}

/// The agents of `starq.toml` as catalog rows (contacts at positions 0, 1, …).
pub(crate) fn agent_rows(agents: &[AgentConfig]) -> Vec<AgentRow> {
    agents
        .iter()
        .map(|a| AgentRow {
            id: a.id.to_string(),
            // The name defaults to the id: kept only when it says more.
            name: (a.name != a.id.as_str()).then(|| a.name.clone()),
            wrapuptime: a.wrapup.map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)),
            memberships: a
                .memberships
                .iter()
                .map(|m| (m.queue.to_string(), i64::from(m.penalty)))
                .collect(),
            contacts: a
                .contacts
                .iter()
                .zip(0..)
                .map(|(c, position)| ContactRow {
                    position,
                    endpoint: c.endpoint.clone(),
                    nodes: c.nodes.iter().map(ToString::to_string).collect(),
                })
                .collect(),
        })
        .collect()
}

/// The `[queues.<name>]` tables of a configuration file's text, as written.
fn queue_tables(text: &str) -> Result<BTreeMap<String, toml::Table>, toml::de::Error> {
    let mut file: toml::Table = toml::from_str(text)?;
    let Some(toml::Value::Table(queues)) = file.remove("queues") else {
        return Ok(BTreeMap::new());
    };
    Ok(queues
        .into_iter()
        .filter_map(|(name, q)| match q {
            toml::Value::Table(table) => Some((name, table)),
            _ => None,
        })
        .collect())
}

/// Writes the queues and agents of the configuration file at `path` (already validated into
/// `agents`) into the catalog if it holds no queue and no agent; warns, naming how many it
/// holds, when it does. `None` when the file declares none.
pub(crate) async fn seed_from_file(
    db: &CatalogDb,
    path: &Path,
    agents: &[AgentConfig],
) -> anyhow::Result<Option<Seeded>> {
    let file = path.display();
    let text = std::fs::read_to_string(path).with_context(|| format!("{file}: cannot read"))?;
    let queues = queue_tables(&text).with_context(|| format!("{file}: cannot read"))?;
    seed(db, &queues, agents, &file.to_string()).await
}

async fn seed(
    db: &CatalogDb,
    queues: &BTreeMap<String, toml::Table>,
    agents: &[AgentConfig],
    file: &str,
) -> anyhow::Result<Option<Seeded>> {
    if queues.is_empty() && agents.is_empty() {
        return Ok(None);
    }
    db.migrate().await.context("catalog: cannot create its tables")?;
    let seeded = db
        .seed_if_empty(queues, &agent_rows(agents))
        .await
        .context("catalog: cannot write the file's queues and agents")?;
    match seeded {
        Seeded::Written { revision } => tracing::info!(
            revision,
            queues = queues.len(),
            agents = agents.len(),
            "catalog: was empty, the queues and agents of {file} written into it"
        ),
        Seeded::AlreadyHeld { queues: held_queues, agents: held_agents } => tracing::warn!(
            "catalog: holds {held_queues} queues and {held_agents} agents already: the {} queues \
             and {} agents of {file} are ignored (change the catalog with `starq queues` and \
             `starq agents`)",
            queues.len(),
            agents.len()
        ),
    }
    Ok(Some(seeded))
}

#[cfg(test)]
mod tests {
    use super::*;
    use starq_report::catalog::Change;

    /// A SQLite catalog in a directory of its own, removed on drop.
    struct TempCatalog {
        dir: std::path::PathBuf,
        db: CatalogDb,
    }

    impl TempCatalog {
        async fn new(name: &str) -> TempCatalog {
            let dir =
                std::env::temp_dir().join(format!("starq-catalog-{}-{name}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            let db = CatalogDb::connect_lazy(&format!("sqlite://{}", dir.join("c.db").display()))
                .unwrap();
            db.migrate().await.unwrap();
            TempCatalog { dir, db }
        }
    }

    impl Drop for TempCatalog {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    const FILE: &str = r#"
[[nodes]]
name = "main"
ari_url = "http://127.0.0.1:1/ari"
username = "u"
password = "p"

[queues.sales]
strategy = "rrmemory"
timeout = 20
announce = { frequency = 30 }

[[agents]]
id = "a1"
name = "Ann"
queues = { sales = 2 }
contacts = [{ endpoint = "PJSIP/a1", nodes = ["main"] }, { endpoint = "PJSIP/a1-b" }]
"#;

    fn nodes() -> BTreeSet<String> {
        ["main".to_owned()].into()
    }

    async fn seeded(name: &str) -> (TempCatalog, starq_engine::config::Config) {
        let catalog = TempCatalog::new(name).await;
        let config = starq_engine::config::parse(FILE, "starq.toml", &|_| None).unwrap();
        let queues = queue_tables(FILE).unwrap();
        let seeded = seed(&catalog.db, &queues, &config.agents, "starq.toml").await.unwrap();
        assert!(matches!(seeded, Some(Seeded::Written { .. })), "{seeded:?}");
        (catalog, config)
    }

    #[tokio::test]
    async fn the_file_seeds_an_empty_catalog_and_means_the_same_there() {
        let (catalog, config) = seeded("seed").await;
        let loaded = load_valid(&catalog.db, Some(&nodes())).await.unwrap();
        assert_eq!(loaded.queues, config.queues);
        assert_eq!(loaded.agents, config.agents);
        // A second instance with another file finds it held and writes nothing.
        let other = "[[nodes]]\nname = \"main\"\nari_url = \"http://127.0.0.1:1/ari\"\nusername = \"u\"\npassword = \"p\"\n[queues.other]\n";
        let other_config = starq_engine::config::parse(other, "other.toml", &|_| None).unwrap();
        let held =
            seed(&catalog.db, &queue_tables(other).unwrap(), &other_config.agents, "other.toml")
                .await
                .unwrap();
        assert_eq!(held, Some(Seeded::AlreadyHeld { queues: 1, agents: 1 }));
        assert_eq!(load_valid(&catalog.db, None).await.unwrap(), loaded);
        // A file with no queue and no agent leaves the catalog alone without looking at it.
        let none = seed(&catalog.db, &BTreeMap::new(), &[], "empty.toml").await.unwrap();
        assert_eq!(none, None);
    }

    #[tokio::test]
    async fn a_change_reaches_the_channel_and_an_invalid_one_never_does() {
        let (catalog, _) = seeded("watch").await;
        let first = Arc::new(load_valid(&catalog.db, Some(&nodes())).await.unwrap());
        let watcher = Watcher::new(catalog.db.clone(), Duration::from_millis(100), Some(nodes()));
        let stop = CancellationToken::new();
        let (mut rx, task) = watcher.spawn(Arc::clone(&first), stop.clone());

        // A penalty changed straight in SQL, as an operator's tool would.
        let AnyPoolSqlite(pool) = sqlite(&catalog.db);
        sqlx::query("UPDATE starq_memberships SET penalty = 7 WHERE agent = 'a1'")
            .execute(&pool)
            .await
            .unwrap();
        let changed = tokio::time::timeout(Duration::from_secs(2), rx.changed()).await;
        assert!(matches!(changed, Ok(Ok(()))), "no change within 2 s");
        let now = Arc::clone(&rx.borrow_and_update());
        assert!(now.revision > first.revision);
        assert_eq!(now.agents[0].memberships[0].penalty, 7);

        // An invalid change is refused; the configuration stays; a fix after it is taken.
        sqlx::query("UPDATE starq_queue_settings SET value = '0' WHERE setting = 'timeout'")
            .execute(&pool)
            .await
            .unwrap();
        let quiet = tokio::time::timeout(Duration::from_millis(600), rx.changed()).await;
        assert!(quiet.is_err(), "an invalid catalog was published: {:?}", rx.borrow());
        assert_eq!(*rx.borrow(), now);
        catalog
            .db
            .apply(
                &Change::SetSetting {
                    queue: "sales".into(),
                    setting: "timeout".into(),
                    value: "25".into(),
                },
                None,
            )
            .await
            .unwrap();
        let fixed = tokio::time::timeout(Duration::from_secs(2), rx.changed()).await;
        assert!(matches!(fixed, Ok(Ok(()))), "the fix was not taken within 2 s");
        assert_eq!(rx.borrow().queues[0].ring_timeout, Duration::from_secs(25));
        stop.cancel();
        task.await.unwrap();
    }

    #[tokio::test]
    async fn a_database_that_is_away_is_retried_and_the_configuration_stays() {
        let first = Arc::new(Catalog { revision: 0, queues: Vec::new(), agents: Vec::new() });
        // A file in a directory that does not exist yet: every read fails until it does.
        let dir = std::env::temp_dir().join(format!("starq-catalog-{}-away", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let url = format!("sqlite://{}", dir.join("c.db").display());
        let db = CatalogDb::connect_lazy(&url).unwrap();
        let mut watcher = Watcher::new(db.clone(), Duration::from_millis(100), None);
        assert_eq!(watcher.poll_once().await, None);
        assert!(watcher.down);
        let stop = CancellationToken::new();
        let (mut rx, task) = watcher.spawn(Arc::clone(&first), stop.clone());
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert!(!task.is_finished(), "the watcher stopped");
        assert_eq!(*rx.borrow(), first);
        // The database comes: its first valid configuration is taken.
        std::fs::create_dir_all(&dir).unwrap();
        let back = CatalogDb::connect_lazy(&url).unwrap();
        back.migrate().await.unwrap();
        back.apply(&Change::AddQueue { queue: "sales".into() }, None).await.unwrap();
        let changed = tokio::time::timeout(Duration::from_secs(2), rx.changed()).await;
        assert!(matches!(changed, Ok(Ok(()))), "nothing taken within 2 s of the database's return");
        assert_eq!(rx.borrow().queues.len(), 1);
        stop.cancel();
        task.await.unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }

    struct AnyPoolSqlite(sqlx::SqlitePool);

    fn sqlite(db: &CatalogDb) -> AnyPoolSqlite {
        match db.pool() {
            starq_report::sql::AnyPool::Sqlite(pool) => AnyPoolSqlite(pool.clone()),
            other => panic!("not SQLite: {other:?}"),
        }
    }
}

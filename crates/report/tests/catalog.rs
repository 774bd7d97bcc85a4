//! The catalog conformance suite, the same on real MariaDB and PostgreSQL servers (a database
//! per test) and a SQLite file: every setting shape written and read back as `starq.toml` has
//! it, every change in one transaction (and refused by name when it cannot be made), the
//! revision moved by the triggers on every insert, update and delete (an operator's own SQL
//! included), rows that cannot be used refused with their table, row and column, and the
//! seed written once into an empty catalog only.

#[macro_use]
mod support;

use std::collections::{BTreeMap, BTreeSet};

use starq_engine::config::{AgentTable, Catalog};
use starq_report::catalog::{
    AgentRow, CatalogDb, CatalogError, CatalogRows, Change, ContactRow, Seeded,
};
use starq_report::sql::{AnyPool, Dialect};
use support::db::TestDb;

on_every_database!(
    a_fresh_catalog_is_empty,
    every_setting_shape_round_trips,
    changes_are_written_one_by_one_and_refused_by_name,
    the_revision_moves_on_every_insert_update_and_delete,
    rows_that_cannot_be_used_are_named,
    the_seed_is_written_into_an_empty_catalog_only,
);

/// Every shape a setting takes: strings, numbers, booleans, lists, nested tables, a string
/// that reads like a number, and every agent column.
const CENTER: &str = r#"
[queues.support]
strategy = "leastrecent"
timeout = 15
autofill = true
autopause = "yes"
autopause_after = 2
joinempty = "paused,unavailable"
on_timeout = { queue = "backup-team" }
context = "queue-exits"
penaltychange = ["30,+2", "60,10"]
musicclass = "1234"
[queues.support.announce]
frequency = 30
position = "more"
periodic = ["queue-periodic-announce", "queue-thankyou"]
to_first_user = false
[queues.backup-team]
strategy = "ringall"
on_timeout = { context = "voicemail", extension = "100", priority = 2 }
[queues.empty]
"#;

fn center_queues() -> BTreeMap<String, toml::Table> {
    let file: toml::Table = toml::from_str(CENTER).unwrap();
    file["queues"]
        .as_table()
        .unwrap()
        .iter()
        .map(|(name, table)| (name.clone(), table.as_table().unwrap().clone()))
        .collect()
}

fn contact(position: i64, endpoint: &str, nodes: &[&str]) -> ContactRow {
    ContactRow {
        position,
        endpoint: endpoint.into(),
        nodes: nodes.iter().map(|n| (*n).to_owned()).collect(),
    }
}

fn center_agents() -> Vec<AgentRow> {
    vec![
        AgentRow {
            id: "alice".into(),
            name: Some("Alice Martin".into()),
            wrapuptime: None,
            memberships: [("support".to_owned(), 0), ("backup-team".to_owned(), 3)].into(),
            contacts: vec![
                contact(1, "PJSIP/alice", &["main"]),
                contact(5, "PJSIP/alice-b", &["main", "backup"]),
            ],
        },
        AgentRow {
            id: "bob".into(),
            name: None,
            wrapuptime: Some(20),
            memberships: [("support".to_owned(), 1)].into(),
            contacts: vec![contact(0, "PJSIP/bob", &[])],
        },
    ]
}

async fn catalog(db: &TestDb) -> CatalogDb {
    let catalog = CatalogDb::new(db.pool());
    catalog.migrate().await.expect("migrate");
    catalog
}

/// A text column as a string (MySQL reads the catalog's byte-compared columns as bytes).
fn text(dialect: Dialect, column: &str) -> String {
    match dialect {
        Dialect::MySql => format!("CONVERT({column} USING utf8mb4)"),
        _ => column.to_owned(),
    }
}

/// Runs one statement as an operator's own tool would.
async fn raw(pool: &AnyPool, sql: &str) {
    match pool {
        AnyPool::MySql(p) => sqlx::query(sql).execute(p).await.map(drop),
        AnyPool::Postgres(p) => sqlx::query(sql).execute(p).await.map(drop),
        AnyPool::Sqlite(p) => sqlx::query(sql).execute(p).await.map(drop),
    }
    .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// The rows validated as an instance would, with nodes `main` and `backup`.
fn validate(rows: &CatalogRows) -> Result<Catalog, starq_engine::config::CatalogError> {
    let agents: Vec<AgentTable> = rows
        .agents
        .iter()
        .map(|a| AgentTable { table: a.table(), contact_positions: a.contact_positions() })
        .collect();
    let nodes: BTreeSet<String> = ["main".to_owned(), "backup".to_owned()].into();
    Catalog::validate(rows.revision, &rows.queues, &agents, Some(&nodes))
}

async fn a_fresh_catalog_is_empty(dialect: Dialect) {
    let db = TestDb::create(dialect).await;
    let catalog = catalog(&db).await;
    let rows = catalog.load().await.unwrap();
    assert_eq!(rows, CatalogRows { revision: 0, ..CatalogRows::default() });
    assert_eq!(catalog.revision().await.unwrap(), 0);
    // Migrating again changes nothing.
    catalog.migrate().await.unwrap();
    assert_eq!(catalog.revision().await.unwrap(), 0);
    if let AnyPool::MySql(p) = catalog.pool() {
        // MySQL commits DDL at once: a catalog migration cut short is run again whole.
        sqlx::query("UPDATE _sqlx_migrations SET success = FALSE WHERE version = 4")
            .execute(p)
            .await
            .expect("mark the migration unfinished");
        catalog.migrate().await.expect("an unfinished catalog migration runs again");
        raw(catalog.pool(), "INSERT INTO starq_queues (name) VALUES ('q')").await;
        assert_eq!(catalog.revision().await.unwrap(), 1, "one trigger per statement kind");
    }
}

async fn every_setting_shape_round_trips(dialect: Dialect) {
    let db = TestDb::create(dialect).await;
    let catalog = catalog(&db).await;
    let revision = catalog.replace_all(&center_queues(), &center_agents(), Some(0)).await.unwrap();
    let rows = catalog.load().await.unwrap();
    assert_eq!(rows.revision, revision);
    assert!(revision > 0);
    assert_eq!(rows.queues, center_queues());
    assert_eq!(rows.agents, center_agents());
    // As the engine reads it: the same configuration as the same text in starq.toml.
    let valid = validate(&rows).unwrap();
    let node = "[[nodes]]\nari_url = \"http://h:8088/ari\"\nusername = \"u\"\npassword = \"p\"\n";
    let agents = r#"
[[agents]]
id = "alice"
name = "Alice Martin"
queues = { support = 0, backup-team = 3 }
contacts = [{ endpoint = "PJSIP/alice", nodes = ["main"] }, { endpoint = "PJSIP/alice-b", nodes = ["main", "backup"] }]
[[agents]]
id = "bob"
wrapuptime = 20
queues = { support = 1 }
contacts = [{ endpoint = "PJSIP/bob" }]
"#;
    let file = format!(
        "{}{}{CENTER}{agents}",
        node.replace("[[nodes]]\n", "[[nodes]]\nname = \"main\"\n"),
        node.replace("[[nodes]]\n", "[[nodes]]\nname = \"backup\"\n"),
    );
    let parsed = starq_engine::config::parse(&file, "starq.toml", &|_| None).unwrap();
    assert_eq!(valid.queues, parsed.queues);
    assert_eq!(valid.agents, parsed.agents);
    // The columns as an operator reads them: bare strings, TOML for the rest.
    let settings: Vec<(String, String)> = fetch_all!(
        catalog.pool(),
        &format!(
            "SELECT {}, {} FROM starq_queue_settings WHERE queue = 'support' ORDER BY setting",
            text(dialect, "setting"),
            text(dialect, "value")
        ),
        (String, String)
    );
    let value = |s: &str| settings.iter().find(|(k, _)| k == s).map(|(_, v)| v.as_str());
    assert_eq!(value("strategy"), Some("leastrecent"));
    assert_eq!(value("timeout"), Some("15"));
    assert_eq!(value("musicclass"), Some("\"1234\""));
    assert_eq!(value("on_timeout.queue"), Some("backup-team"));
    assert_eq!(value("announce.frequency"), Some("30"));
    assert_eq!(value("penaltychange"), Some("[\"30,+2\", \"60,10\"]"));
    let nodes: Vec<(String,)> = fetch_all!(
        catalog.pool(),
        &format!(
            "SELECT {} FROM starq_contacts WHERE agent = 'alice' ORDER BY position",
            text(dialect, "nodes")
        ),
        (String,)
    );
    assert_eq!(nodes, [("main".to_owned(),), ("main,backup".to_owned(),)]);
}

async fn changes_are_written_one_by_one_and_refused_by_name(dialect: Dialect) {
    let db = TestDb::create(dialect).await;
    let catalog = catalog(&db).await;
    let mut expected = CatalogRows::default();
    let changes = [
        Change::AddQueue { queue: "sales".into() },
        Change::SetSetting {
            queue: "sales".into(),
            setting: "strategy".into(),
            value: "rrmemory".into(),
        },
        Change::SetSetting { queue: "sales".into(), setting: "timeout".into(), value: "20".into() },
        Change::SetSetting { queue: "sales".into(), setting: "timeout".into(), value: "25".into() },
        Change::SetSetting {
            queue: "sales".into(),
            setting: "announce.periodic".into(),
            value: "[\"a\", \"b\"]".into(),
        },
        Change::UnsetSetting { queue: "sales".into(), setting: "strategy".into() },
        Change::AddQueue { queue: "support".into() },
        Change::AddAgent(AgentRow {
            id: "a1".into(),
            name: Some("Ann".into()),
            memberships: [("sales".to_owned(), 2)].into(),
            contacts: vec![contact(0, "PJSIP/a1", &[])],
            ..AgentRow::default()
        }),
        Change::AddMembership { agent: "a1".into(), queue: "support".into(), penalty: 0 },
        Change::SetPenalty { agent: "a1".into(), queue: "support".into(), penalty: 7 },
        Change::RemoveMembership { agent: "a1".into(), queue: "sales".into() },
        Change::RemoveQueue { queue: "sales".into() },
    ];
    let mut revision = 0;
    for change in &changes {
        // Written only at the revision it was prepared on.
        let next = catalog
            .apply(change, Some(revision))
            .await
            .unwrap_or_else(|e| panic!("{change:?}: {e}"));
        assert!(next > revision, "{change:?} moved the revision from {revision} to {next}");
        revision = next;
        expected.apply(change).unwrap();
        expected.revision = revision;
        assert_eq!(catalog.load().await.unwrap(), expected, "after {change:?}");
    }
    assert_eq!(expected.agent("a1").unwrap().memberships, [("support".to_owned(), 7)].into());
    assert!(!expected.queues.contains_key("sales"));
    let stale = catalog.apply(&Change::AddQueue { queue: "late".into() }, Some(revision - 1)).await;
    assert!(
        matches!(stale, Err(CatalogError::Conflict { expected, found }) if expected == revision - 1 && found == revision),
        "{stale:?}"
    );
    let refused = [
        (Change::AddQueue { queue: "support".into() }, "queue \"support\" exists already"),
        (Change::RemoveQueue { queue: "nope".into() }, "queue \"nope\" does not exist"),
        (
            Change::UnsetSetting { queue: "support".into(), setting: "timeout".into() },
            "setting \"timeout\" of queue \"support\" does not exist",
        ),
        (
            Change::SetSetting {
                queue: "nope".into(),
                setting: "timeout".into(),
                value: "1".into(),
            },
            "queue \"nope\" does not exist",
        ),
        (
            Change::AddMembership { agent: "zed".into(), queue: "support".into(), penalty: 0 },
            "agent \"zed\" does not exist",
        ),
        (
            Change::AddMembership { agent: "a1".into(), queue: "support".into(), penalty: 0 },
            "membership of agent \"a1\" in queue \"support\" exists already",
        ),
        (
            Change::SetPenalty { agent: "a1".into(), queue: "nope".into(), penalty: 0 },
            "membership of agent \"a1\" in queue \"nope\" does not exist",
        ),
        (Change::RemoveAgent { agent: "zed".into() }, "agent \"zed\" does not exist"),
        (
            Change::AddAgent(AgentRow { id: "a1".into(), ..AgentRow::default() }),
            "agent \"a1\" exists already",
        ),
    ];
    for (change, message) in refused {
        let error = catalog.apply(&change, None).await.unwrap_err();
        assert_eq!(error.to_string(), message, "{change:?}");
        assert_eq!(catalog.revision().await.unwrap(), revision, "{change:?} wrote nothing");
    }
    // A dotted setting and its parent cannot both be set.
    catalog
        .apply(
            &Change::SetSetting {
                queue: "support".into(),
                setting: "announce.frequency".into(),
                value: "30".into(),
            },
            None,
        )
        .await
        .unwrap();
    let parent = Change::SetSetting {
        queue: "support".into(),
        setting: "announce".into(),
        value: "1".into(),
    };
    assert!(matches!(catalog.apply(&parent, None).await, Err(CatalogError::Exists(_))));
    catalog.apply(&Change::RemoveAgent { agent: "a1".into() }, None).await.unwrap();
    let rows = catalog.load().await.unwrap();
    assert!(rows.agents.is_empty());
}

async fn the_revision_moves_on_every_insert_update_and_delete(dialect: Dialect) {
    let db = TestDb::create(dialect).await;
    let catalog = catalog(&db).await;
    let pool = catalog.pool().clone();
    let mut last = catalog.revision().await.unwrap();
    let statements = [
        "INSERT INTO starq_queues (name) VALUES ('sales')",
        "INSERT INTO starq_queue_settings (queue, setting, value) VALUES ('sales', 'timeout', '15')",
        "UPDATE starq_queue_settings SET value = '20' WHERE queue = 'sales'",
        "INSERT INTO starq_agents (id, name) VALUES ('a1', 'Ann')",
        "UPDATE starq_agents SET wrapuptime = 5 WHERE id = 'a1'",
        "INSERT INTO starq_memberships (agent, queue, penalty) VALUES ('a1', 'sales', 1)",
        "UPDATE starq_memberships SET penalty = 4 WHERE agent = 'a1' AND queue = 'sales'",
        "INSERT INTO starq_contacts (agent, position, endpoint, nodes) VALUES ('a1', 0, 'PJSIP/a1', '')",
        "UPDATE starq_contacts SET nodes = 'main' WHERE agent = 'a1'",
        "DELETE FROM starq_contacts WHERE agent = 'a1'",
        "DELETE FROM starq_memberships WHERE agent = 'a1'",
        "DELETE FROM starq_agents WHERE id = 'a1'",
        "DELETE FROM starq_queue_settings WHERE queue = 'sales'",
        "UPDATE starq_queues SET name = 'sales2' WHERE name = 'sales'",
        "DELETE FROM starq_queues WHERE name = 'sales2'",
    ];
    for sql in statements {
        raw(&pool, sql).await;
        let now = catalog.revision().await.unwrap();
        assert!(now > last, "{dialect:?}: `{sql}` left the revision at {now}");
        last = now;
    }
    // Reading moves nothing.
    catalog.load().await.unwrap();
    assert_eq!(catalog.revision().await.unwrap(), last);
    // An operator's penalty change is read back as written.
    catalog.replace_all(&center_queues(), &center_agents(), None).await.unwrap();
    let before = catalog.revision().await.unwrap();
    raw(&pool, "UPDATE starq_memberships SET penalty = 9 WHERE agent = 'bob'").await;
    let rows = catalog.load().await.unwrap();
    assert!(rows.revision > before);
    assert_eq!(rows.agent("bob").unwrap().memberships["support"], 9);
    assert_eq!(validate(&rows).unwrap().agents[1].memberships[0].penalty, 9);
}

async fn rows_that_cannot_be_used_are_named(dialect: Dialect) {
    let db = TestDb::create(dialect).await;
    let catalog = catalog(&db).await;
    let pool = catalog.pool().clone();
    catalog.replace_all(&center_queues(), &center_agents(), None).await.unwrap();
    let good = validate(&catalog.load().await.unwrap()).unwrap();
    let cases = [
        (
            "UPDATE starq_queue_settings SET value = 'soon' WHERE queue = 'support' AND setting = 'timeout'",
            "starq_queue_settings: queue \"support\", setting \"timeout\": invalid type",
        ),
        (
            "INSERT INTO starq_queue_settings (queue, setting, value) VALUES ('support', 'tiemout', '5')",
            "starq_queue_settings: queue \"support\", setting \"tiemout\": unknown field",
        ),
        (
            "UPDATE starq_queue_settings SET value = '0' WHERE queue = 'support' AND setting = 'announce.frequency'",
            "",
        ),
        (
            "UPDATE starq_queue_settings SET value = 'nowhere' WHERE queue = 'support' AND setting = 'on_timeout.queue'",
            "starq_queue_settings: queue \"support\", setting \"on_timeout.queue\": no queue named \"nowhere\"",
        ),
        (
            "UPDATE starq_memberships SET penalty = -1 WHERE agent = 'bob'",
            "starq_memberships: agent \"bob\", queue \"support\", penalty: invalid value",
        ),
        (
            "UPDATE starq_agents SET wrapuptime = 100000 WHERE id = 'bob'",
            "starq_agents: agent \"bob\", wrapuptime: must be between 0 and 86400",
        ),
        (
            "UPDATE starq_contacts SET nodes = 'main,mars' WHERE agent = 'alice' AND position = 5",
            "starq_contacts: agent \"alice\", position 5, nodes: no node named \"mars\"",
        ),
        (
            "UPDATE starq_contacts SET endpoint = 'bob' WHERE agent = 'bob'",
            "starq_contacts: agent \"bob\", position 0, endpoint: \"bob\" is not TECH/resource",
        ),
        (
            "DELETE FROM starq_contacts WHERE agent = 'bob'",
            "starq_contacts: agent \"bob\", position: no contact",
        ),
    ];
    for (sql, expected) in cases {
        catalog.replace_all(&center_queues(), &center_agents(), None).await.unwrap();
        raw(&pool, sql).await;
        let rows = catalog.load().await.unwrap();
        let result = validate(&rows);
        if expected.is_empty() {
            // `frequency = 0` is valid: no announcement.
            assert!(result.is_ok(), "{sql}: {result:?}");
            continue;
        }
        let error = result.expect_err(sql).to_string();
        assert!(error.starts_with(expected), "{sql}\n  gave {error}\n  want {expected}");
    }
    // Rows that cannot even be shaped are refused at load, by row.
    catalog.replace_all(&center_queues(), &center_agents(), None).await.unwrap();
    raw(&pool, "INSERT INTO starq_queue_settings (queue, setting, value) VALUES ('support', 'announce', '5')").await;
    let error = catalog.load().await.unwrap_err().to_string();
    assert_eq!(
        error,
        "starq_queue_settings: queue \"support\", setting \"announce.frequency\": \"announce\" is set too, as a value of its own"
    );
    // And the good catalog comes back whole once the row is fixed.
    raw(&pool, "DELETE FROM starq_queue_settings WHERE setting = 'announce'").await;
    assert_eq!(validate(&catalog.load().await.unwrap()).unwrap().queues, good.queues);
}

async fn the_seed_is_written_into_an_empty_catalog_only(dialect: Dialect) {
    let db = TestDb::create(dialect).await;
    let catalog = catalog(&db).await;
    let seeded = catalog.seed_if_empty(&center_queues(), &center_agents()).await.unwrap();
    let Seeded::Written { revision } = seeded else { panic!("{seeded:?}") };
    let other: BTreeMap<String, toml::Table> = [("other".to_owned(), toml::Table::new())].into();
    let again = catalog.seed_if_empty(&other, &[]).await.unwrap();
    assert_eq!(again, Seeded::AlreadyHeld { queues: 3, agents: 2 });
    let rows = catalog.load().await.unwrap();
    assert_eq!(rows.revision, revision);
    assert_eq!(rows.queues, center_queues());
    // An agent alone is enough to hold the catalog.
    catalog
        .replace_all(&BTreeMap::new(), &[AgentRow { id: "x".into(), ..AgentRow::default() }], None)
        .await
        .unwrap();
    let held = catalog.seed_if_empty(&other, &[]).await.unwrap();
    assert_eq!(held, Seeded::AlreadyHeld { queues: 0, agents: 1 });
}

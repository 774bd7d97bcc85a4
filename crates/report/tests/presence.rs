//! Agents' presence written through the reporter and read back by `PresenceTable`, on real
//! MariaDB and PostgreSQL servers and a SQLite file: logins, pauses (with reasons) and logouts
//! as the store itself keeps them, the same records applied twice changing nothing, and errors
//! that never show the database's password.

#[macro_use]
mod support;

use std::sync::Arc;
use std::time::Duration;

use starq_core::journal::{JournalEntry, JournalEvent, JournalId};
use starq_core::shared::Presence;
use starq_core::{AgentId, QueueId, Time};
use starq_report::sql::{AnyPool, Dialect, SqlSink, SqlTables};
use starq_report::{PresenceTable, QueueLogRenderer, ReportConfig, Reporter};
use starq_store::{AgentStatus, MemoryStore, Store};
use support::db::TestDb;
use support::traffic;

on_every_database!(
    a_fresh_database_is_migrated_and_recalls_nobody,
    logins_pauses_and_logouts_are_recalled_and_replays_change_nothing,
    the_record_matches_the_store_after_traffic,
);

const J: Option<JournalId> = Some(JournalId(1_700_000_000_000));

fn entry(seq: u64, event: JournalEvent) -> JournalEntry {
    JournalEntry { seq, time: Time(1_700_000_000_000 + seq * 1000), event }
}

/// Both tables, every column, in key order: what "the same table" means.
type Rows = (Vec<(String, bool, Option<String>, i64)>, Vec<(String, String, String, i64)>);

async fn rows(pool: &AnyPool) -> Rows {
    let agents: Vec<(String, i64, Option<String>, i64)> = fetch_all!(
        pool,
        "SELECT agent, CAST(CASE WHEN logged_in THEN 1 ELSE 0 END AS {bigint}), paused_all, \
         changed_ms FROM agent_presence ORDER BY agent",
        (String, i64, Option<String>, i64)
    );
    let pauses = fetch_all!(
        pool,
        "SELECT agent, queuename, reason, paused_ms FROM agent_presence_pauses \
         ORDER BY agent, queuename",
        (String, String, String, i64)
    );
    (agents.into_iter().map(|(a, l, p, t)| (a, l != 0, p, t)).collect(), pauses)
}

async fn a_fresh_database_is_migrated_and_recalls_nobody(dialect: Dialect) {
    let db = TestDb::create(dialect).await;
    let pool = db.pool();
    let table = PresenceTable::new(pool.clone());
    assert_eq!(table.recall().await.expect("recall"), []);
    assert_eq!(table.recall().await.expect("a second recall"), []);
    pool.close().await;
}

fn presence(agent: &str, logged_in: bool, all: Option<&str>, paused: &[(&str, &str)]) -> Presence {
    Presence {
        agent: AgentId::new(agent),
        logged_in,
        paused_all: all.map(str::to_owned),
        paused: paused.iter().map(|(q, r)| (QueueId::new(*q), (*r).to_owned())).collect(),
    }
}

async fn logins_pauses_and_logouts_are_recalled_and_replays_change_nothing(dialect: Dialect) {
    let db = TestDb::create(dialect).await;
    let a = |id: &str| AgentId::new(id);
    let q = |id: &str| QueueId::new(id);
    let pause = |agent: &str, queue: Option<&str>, reason: &str| JournalEvent::Paused {
        agent: a(agent),
        queue: queue.map(q),
        reason: reason.into(),
        auto: false,
        members: vec![],
    };
    let unpause = |agent: &str, queue: Option<&str>| JournalEvent::Unpaused {
        agent: a(agent),
        queue: queue.map(q),
        members: vec![],
    };
    let login = |agent: &str| JournalEvent::LoggedIn { agent: a(agent) };
    let logout = |agent: &str| JournalEvent::LoggedOut { agent: a(agent), session: Duration::ZERO };
    let events = vec![
        // a1: paused in q1, then everywhere (q1's pause stays, as in the store), q1's lifted,
        // paused in q2 with a reason changed once.
        login("a1"),
        pause("a1", Some("q1"), "coaching"),
        pause("a1", None, "lunch"),
        unpause("a1", Some("q1")),
        pause("a1", Some("q2"), "y"),
        pause("a1", Some("q2"), "training"),
        // a2: paused everywhere and in a queue, then logged out: nothing left.
        login("a2"),
        pause("a2", None, "break"),
        pause("a2", Some("q1"), "x"),
        logout("a2"),
        // a3: unpaused everywhere clears the pauses in one queue too.
        login("a3"),
        pause("a3", Some("q1"), "x"),
        pause("a3", Some("q2"), "x"),
        pause("a3", None, "meeting"),
        unpause("a3", None),
        // a4: out of q1's members, its pause there goes (no store could take it back).
        login("a4"),
        pause("a4", Some("q1"), "x"),
        pause("a4", Some("q2"), "auto"),
        JournalEvent::MemberRemoved { agent: a("a4"), queue: q("q1") },
        // a5: logged out and in again; a6: paused before logging in, as the store allows.
        login("a5"),
        logout("a5"),
        login("a5"),
        pause("a6", Some("q1"), "early"),
        login("a6"),
        // Records about calls and members change nothing.
        JournalEvent::MemberAdded { agent: a("a7"), queue: q("q1"), penalty: 0 },
        JournalEvent::Reachability { agent: a("a1"), reachable: false },
    ];
    let journal: Vec<JournalEntry> =
        events.into_iter().enumerate().map(|(i, e)| entry(i as u64 + 1, e)).collect();
    let expected = vec![
        presence("a1", true, Some("lunch"), &[("q2", "training")]),
        presence("a2", false, None, &[]),
        presence("a3", true, None, &[]),
        presence("a4", true, None, &[("q2", "auto")]),
        presence("a5", true, None, &[]),
        presence("a6", true, None, &[("q1", "early")]),
    ];

    // Written through one reporter in batches, delivered again whole and overlapping.
    let renderer = QueueLogRenderer::new();
    let tables = SqlTables { queue_log: true, records: true };
    let sink = SqlSink::new(db.pool(), "starq-report", tables);
    sink.migrate().await.expect("migrate");
    for batch in journal.chunks(4) {
        sink.write(J, batch, &renderer).await.expect("write");
    }
    for batch in journal.chunks(7) {
        assert_eq!(sink.write(J, batch, &renderer).await.expect("replay"), 0);
    }
    let table = PresenceTable::new(sink.pool().clone());
    assert_eq!(table.recall().await.expect("recall"), expected);
    let written = rows(sink.pool()).await;

    // The same records applied a second time (another consumer, its own progress row, with
    // no report tables: presence is written whatever they are) leave the same rows.
    let none = SqlTables { queue_log: false, records: false };
    let again = SqlSink::new(db.pool(), "second", none);
    for batch in journal.chunks(5) {
        assert_eq!(again.write(J, batch, &renderer).await.expect("again"), batch.len());
    }
    assert_eq!(rows(sink.pool()).await, written, "records applied twice change no row");
    // A replay from the middle of the journal (a1's first pause on) ends on the same rows.
    again.write(Some(JournalId(1)), &journal[1..], &renderer).await.expect("out of turn");
    assert_eq!(rows(sink.pool()).await, written);
    assert_eq!(table.recall().await.expect("recall"), expected);
    sink.pool().close().await;
}

/// The presence the store holds for `agent`, as the record should have it.
async fn store_presence(store: &MemoryStore, agent: &AgentId) -> Presence {
    let view = store.agent(agent).await.expect("store").expect("a configured agent");
    let mut paused = view.paused;
    paused.sort();
    Presence {
        agent: agent.clone(),
        logged_in: view.status != AgentStatus::LoggedOut,
        paused_all: view.paused_all,
        paused,
    }
}

async fn the_record_matches_the_store_after_traffic(dialect: Dialect) {
    for seed in [3, 11] {
        let db = TestDb::create(dialect).await;
        let store = Arc::new(MemoryStore::new());
        traffic::drive(&*store, seed, 60, Duration::ZERO).await;
        let config = ReportConfig {
            sql_url: Some(db.url.clone()),
            batch_size: 13,
            shutdown_grace_ms: 30_000,
            ..ReportConfig::default()
        };
        let reporter = Reporter::from_config(&config).expect("config");
        let table = reporter.presence_table().expect("a database is configured");
        // Shut down at once: the reporter writes what the journal holds, then returns.
        reporter.run(Arc::clone(&store), async {}).await;

        let recalled = table.recall().await.expect("recall");
        // Every agent of the traffic logs in at its start, so the record knows them all.
        let mut expected = Vec::new();
        for agent in traffic::config().1 {
            expected.push(store_presence(&store, &agent.id).await);
        }
        expected.sort_by(|a, b| a.agent.cmp(&b.agent));
        assert_eq!(recalled, expected, "seed {seed}: the record holds what the store holds");
        assert!(
            recalled
                .iter()
                .any(|p| p.logged_in && (p.paused_all.is_some() || !p.paused.is_empty())),
            "seed {seed}: the traffic leaves an agent logged in and paused: {recalled:?}"
        );

        // Another reporter (its own consumer group, its own progress) writes the whole
        // journal again: the presence rows stay as they are.
        let pool = db.pool();
        let written = rows(&pool).await;
        let again = ReportConfig {
            consumer_group: "again".into(),
            queue_log_table: false,
            call_records: false,
            ..config
        };
        Reporter::from_config(&again).expect("config").run(Arc::clone(&store), async {}).await;
        assert_eq!(rows(&pool).await, written, "seed {seed}: replayed records");
        assert_eq!(table.recall().await.expect("recall"), expected);
        pool.close().await;
    }
}

#[tokio::test]
async fn errors_name_what_failed_without_the_password() {
    for url in ["mysql://starq:s3cret@127.0.0.1:1/reports", "postgres://starq:s3cret@127.0.0.1:1/r"]
    {
        let table = PresenceTable::new(AnyPool::connect_lazy(url).expect("a valid URL"));
        let error = table.recall().await.expect_err("nothing listens on port 1").to_string();
        assert!(!error.contains("s3cret"), "{error}");
        assert!(!error.is_empty());
    }
}

//! A journal that starts anew. The embedded store of a restarted starq begins its journal at
//! seq 1 again, while the `queue_log` position file and `report_progress` still hold the last
//! seq the previous run wrote: the reporter of the new run must write the new journal from its
//! first record, and nothing of the old one again.

mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use starq_core::config::{AgentConfig, Contact, Membership, QueueConfig};
use starq_core::journal::JournalEntry;
use starq_core::shared::{AgentAction, Enqueue, Request};
use starq_core::{CallId, NodeId, Outcome, QueueId, Time};
use starq_report::sql::Dialect;
use starq_report::{QueueLogRenderer, ReportConfig, Reporter};
use starq_store::{MemoryStore, Store};
use support::db::TestDb;
use support::verify;

/// A consumer group that never acknowledges, so each journal stays readable for the checks.
const AUDIT: &str = "audit";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_and_file_write_a_restarted_journal() {
    restarted_journal(Dialect::MySql).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_and_file_write_a_restarted_journal() {
    restarted_journal(Dialect::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_and_file_write_a_restarted_journal() {
    restarted_journal(Dialect::Sqlite).await;
}

fn config() -> (Vec<QueueConfig>, Vec<AgentConfig>) {
    let agents = ["a1", "a2"].map(|id| {
        let mut a = AgentConfig::new(id);
        a.name = format!("Agent {id}");
        a.memberships = vec![Membership { queue: QueueId::new("support"), penalty: 0 }];
        a.contacts = vec![Contact { endpoint: format!("PJSIP/{id}"), nodes: vec![] }];
        a
    });
    (vec![QueueConfig::new("support")], agents.to_vec())
}

/// One run of a starq process from `start`: configuration, two logins, `callers` callers who
/// hang up while ringing, a pause everywhere and back, two logouts. Returns the run's journal.
async fn one_run(store: &MemoryStore, start: Time, callers: u64) -> Vec<JournalEntry> {
    store.read_journal(AUDIT, 0).await.expect("audit group");
    let (queues, agents) = config();
    store.reconfigure(&queues, &agents, start).await.expect("configure");
    let node = NodeId::new("pbx1");
    let lease = store.acquire_lease(&node, "test", start, Duration::from_secs(3600)).await;
    let fence = lease.expect("store").expect("free").fence();
    let at = |secs: u64| start + Duration::from_secs(secs);
    let agent = |id: &str, action, now| Request::Agent { agent: id.into(), action, now, draw: 0 };
    for a in ["a1", "a2"] {
        store.apply(agent(a, AgentAction::Login, at(1))).await.expect("login");
    }
    for i in 0..callers {
        // Asterisk uniqueids carry the channel's creation time: a new run has new ones.
        let call = CallId::of_channel(&node, &format!("{}.{i}", at(2).as_secs()), 0);
        let enqueue = Enqueue {
            fence: fence.clone(),
            call: call.clone(),
            queue: QueueId::new("support"),
            caller_id: format!("555{i}"),
            priority: 0,
            window: starq_core::config::Window::ANY,
            now: at(2 + i),
            resumed: None,
        };
        store.apply(Request::Enqueue(enqueue)).await.expect("enqueue");
        let leave =
            Request::Leave { fence: fence.clone(), call, outcome: Outcome::Abandoned, now: at(9) };
        store.apply(leave).await.expect("leave");
    }
    let pause = AgentAction::Pause { queue: None, reason: "lunch".into() };
    store.apply(agent("a1", pause, at(30))).await.expect("pause");
    store.apply(agent("a1", AgentAction::Unpause { queue: None }, at(40))).await.expect("unpause");
    for a in ["a1", "a2"] {
        // Wait for the legs hung up after the callers left to be down before logging out.
        let ready = Request::AgentReady { agent: a.into(), now: at(50), draw: 0 };
        store.apply(ready).await.expect("ready");
        store.apply(agent(a, AgentAction::Logout, at(60))).await.expect("logout");
    }
    store.read_journal(AUDIT, usize::MAX).await.expect("journal")
}

/// Runs a reporter over `store` until the journal is drained.
async fn report(config: &ReportConfig, store: Arc<MemoryStore>) {
    let reporter = Reporter::from_config(config).expect("config").with_agents(&config_agents());
    // Shutdown at once: the reporter writes what the journal holds, then returns.
    reporter.run(store, async {}).await;
}

fn config_agents() -> Vec<AgentConfig> {
    config().1
}

async fn restarted_journal(dialect: Dialect) {
    let db = TestDb::create(dialect).await;
    let dir = std::env::temp_dir()
        .join(format!("starq-report-restart-{}-{dialect:?}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("queue_log");
    let config = ReportConfig {
        sql_url: Some(db.url.clone()),
        queue_log_file: Some(file.clone()),
        batch_size: 7,
        shutdown_grace_ms: 30_000,
        ..ReportConfig::default()
    };

    let first = Arc::new(MemoryStore::new());
    let t1 = Time(1_700_000_000_000);
    let journal1 = one_run(&first, t1, 3).await;
    report(&config, Arc::clone(&first)).await;
    // The process restarts an hour later: a new memory store, its journal at seq 1 again and
    // shorter than the first, so every seq of it is at or below the position left behind.
    let second = Arc::new(MemoryStore::new());
    let journal2 = one_run(&second, t1 + Duration::from_secs(3600), 1).await;
    assert!(journal2.last().expect("records").seq < journal1.last().expect("records").seq);
    assert_eq!(journal2[0].seq, 1);
    report(&config, Arc::clone(&second)).await;

    let both: Vec<JournalEntry> = journal1.iter().chain(&journal2).cloned().collect();
    let renderer = QueueLogRenderer::with_agents(&config_agents());
    verify::file_matches(&file, &both, &renderer);
    let rows = verify::log_rows(&db.pool()).await;
    assert_eq!(rows, verify::expected_rows(&both, &renderer), "the queue_log table");
    let calls = verify::call_rows(&db.pool()).await;
    assert_eq!(calls.len(), 4, "a call record per caller of both runs");
    // Configuration's members are static: no ADDMEMBER, though each run journals them.
    assert_no_addmember(&file);
    let _ = std::fs::remove_dir_all(&dir);
}

fn assert_no_addmember(file: &Path) {
    let text = std::fs::read_to_string(file).expect("queue_log");
    assert!(!text.contains("|ADDMEMBER|"), "{text}");
    assert!(text.contains("|PAUSEALL|lunch\n"), "{text}");
}

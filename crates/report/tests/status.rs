//! What the reporter shows while the database is away, and that routing does not wait for it:
//! the journal takes records (store requests answer at once) while the status counts failures,
//! names the error and shows the lag; once the database is back the reporter catches up. On
//! shutdown it flushes the journal, within its grace period even mid-outage.

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use starq_core::Time;
use starq_core::config::AgentConfig;
use starq_core::shared::{AgentAction, Request, Verdict};
use starq_report::sql::Dialect;
use starq_report::{ReportConfig, ReportStatus, Reporter, StatusHandle};
use starq_store::{MemoryStore, Store};
use support::db::TestDb;
use support::proxy::Proxy;

fn wall_now() -> Time {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970");
    Time(now.as_millis() as u64)
}

/// Logs agent `a1` in or out, answered by the store at once whatever the reporter does.
async fn toggle(store: &MemoryStore, login: bool) {
    let action = if login { AgentAction::Login } else { AgentAction::Logout };
    let request = Request::Agent { agent: "a1".into(), action, now: wall_now(), draw: 0 };
    let started = Instant::now();
    let reply = store.apply(request).await.expect("memory store");
    assert_eq!(reply.result, Verdict::Done);
    assert!(started.elapsed() < Duration::from_millis(50), "routing never waits for reports");
}

async fn wait_for(status: &StatusHandle, what: &str, done: impl Fn(&ReportStatus) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done(&status.get()) {
        assert!(Instant::now() < deadline, "{what}: {:?}", status.get());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_shows_in_the_status_and_the_reporter_catches_up() {
    let db = TestDb::create(Dialect::Postgres).await;
    let proxy = Proxy::start(SocketAddr::from(([127, 0, 0, 1], db.port()))).await;
    let store = Arc::new(MemoryStore::new());
    store.reconfigure(&[], &[AgentConfig::new("a1")], wall_now()).await.expect("configure");
    let config = ReportConfig {
        sql_url: Some(db.url_via(proxy.port())),
        batch_size: 4,
        poll_interval_ms: 5,
        lag_warning_secs: 0,
        shutdown_grace_ms: 300,
        ..ReportConfig::default()
    };
    let reporter = Reporter::from_config(&config).expect("config");
    let status = reporter.status();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(reporter.run(Arc::clone(&store), async {
        let _ = stopped.await;
    }));

    toggle(&store, true).await;
    toggle(&store, false).await;
    wait_for(&status, "caught up", |s| s.acknowledged_seq == 2 && s.last_error.is_none()).await;

    proxy.cut();
    for i in 0..10 {
        toggle(&store, i % 2 == 0).await;
    }
    wait_for(&status, "failures counted", |s| s.consecutive_failures >= 2).await;
    let during = status.get();
    assert_eq!(during.acknowledged_seq, 2, "nothing acknowledged while the database is away");
    assert_eq!(during.in_flight, 4, "a full batch in hand");
    assert_eq!(during.backlog, 10, "every record since the cut waits");
    assert!(during.behind, "more records wait behind the batch");
    let error = during.last_error.clone().expect("last error");
    assert!(error.contains("database"), "{error}");
    tokio::time::sleep(Duration::from_millis(20)).await;
    let during = status.get();
    assert!(during.lag > Duration::ZERO, "the oldest unwritten record ages");
    assert!(during.lagging, "past the (zero) warning threshold");

    proxy.restore();
    wait_for(&status, "caught up after the outage", |s| {
        s.acknowledged_seq == 12 && s.consecutive_failures == 0 && s.last_error.is_none()
    })
    .await;
    assert_eq!((status.get().lag, status.get().lagging), (Duration::ZERO, false));
    assert_eq!(status.get().backlog, 0);

    proxy.cut();
    toggle(&store, true).await;
    wait_for(&status, "failing again", |s| s.consecutive_failures >= 1).await;
    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(2), task)
        .await
        .expect("the reporter stops promptly mid-outage")
        .expect("no panic");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_flushes_what_the_journal_holds() {
    let db = TestDb::create(Dialect::Sqlite).await;
    let store = Arc::new(MemoryStore::new());
    store.reconfigure(&[], &[AgentConfig::new("a1")], wall_now()).await.expect("configure");
    for i in 0..200 {
        toggle(&store, i % 2 == 0).await;
    }
    let config = ReportConfig {
        sql_url: Some(db.url.clone()),
        batch_size: 8,
        poll_interval_ms: 1_000,
        ..ReportConfig::default()
    };
    let reporter = Reporter::from_config(&config).expect("config");
    let status = reporter.status();
    // Shut down at once: everything journaled is still written before the task ends.
    let task = tokio::spawn(reporter.run(Arc::clone(&store), async {}));
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("flushed within the grace period")
        .expect("no panic");
    assert_eq!(status.get().acknowledged_seq, 200);
    assert!(store.read_journal("starq-report", 1).await.expect("journal").is_empty());
    let rows: Vec<(String,)> = fetch_all!(&db.pool(), "SELECT event FROM queue_log", (String,));
    assert_eq!(rows.len(), 200, "one AGENTLOGIN or AGENTLOGOFF line per record");
}

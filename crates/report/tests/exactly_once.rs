//! Exactly once under faults: seeded traffic with every outcome runs through a store while the
//! reporter writes the `queue_log` file and a real database; the reporter task is killed and
//! restarted at random points (mid-batch, between commit and acknowledgement, mid file write)
//! and the database is cut off for a while behind a TCP proxy. Afterwards the file and the
//! tables hold every journal record's lines exactly once, in order, and every caller of the
//! ground truth has one terminal event and one call record with its wait and talk.

mod support;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use starq_core::Outcome;
use starq_core::rng::Rng;
use starq_report::sql::Dialect;
use starq_report::{QueueLogRenderer, ReportConfig, Reporter};
use starq_store::{MemoryStore, Store};
use support::db::TestDb;
use support::proxy::Proxy;
use support::redis::RedisServer;
use support::traffic::{self, Truth};
use support::verify;

const GROUP: &str = "starq-report";
/// A consumer group that never acknowledges, so the whole journal stays readable for checks.
const AUDIT: &str = "audit";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_reporter_killed_and_database_cut() {
    faults(Arc::new(MemoryStore::new()), Dialect::MySql, 11, 500).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_reporter_killed_and_database_cut() {
    faults(Arc::new(MemoryStore::new()), Dialect::Postgres, 12, 500).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_reporter_killed() {
    faults(Arc::new(MemoryStore::new()), Dialect::Sqlite, 13, 2_000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_store_reporter_killed_and_database_cut() {
    let redis = RedisServer::start();
    let store = Arc::new(redis.store("report").await);
    faults(store, Dialect::Postgres, 14, 250).await;
}

/// Every outcome, refusals and a failover step appear in the traffic, so the checks cover them.
fn assert_every_outcome(truth: &Truth) {
    let seen: BTreeSet<String> =
        truth.values().filter_map(|t| t.outcome).map(|o| format!("{o:?}")).collect();
    let all = [
        Outcome::CompletedByCaller,
        Outcome::CompletedByAgent,
        Outcome::Abandoned,
        Outcome::Timeout,
        Outcome::JoinEmpty,
        Outcome::JoinUnavail,
        Outcome::LeaveEmpty,
        Outcome::Full,
        Outcome::ExitWithKey('1'),
        Outcome::Withdrawn,
        Outcome::NodeLost,
        Outcome::Drained,
    ];
    for o in all {
        assert!(seen.contains(&format!("{o:?}")), "the traffic has no {o:?}: {seen:?}");
    }
    assert!(truth.keys().any(|c| c.ends_with("-q1")), "the traffic has no failover step");
    assert!(truth.values().all(|t| t.outcome.is_some()), "every caller ended");
}

async fn faults<S: Store>(store: Arc<S>, dialect: Dialect, seed: u64, callers: usize) {
    let db = TestDb::create(dialect).await;
    let proxy = match dialect {
        Dialect::Sqlite => None,
        _ => Some(Proxy::start(SocketAddr::from(([127, 0, 0, 1], db.port()))).await),
    };
    let dir = std::env::temp_dir().join(format!("starq-report-{}-{seed}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file: PathBuf = dir.join("queue_log");
    store.read_journal(AUDIT, 0).await.expect("audit group");
    let (_, agents) = traffic::config();
    let names: std::collections::BTreeMap<_, _> =
        agents.iter().map(|a| (a.id.clone(), a.name.clone())).collect();
    let config = ReportConfig {
        sql_url: Some(proxy.as_ref().map_or(db.url.clone(), |p| db.url_via(p.port()))),
        queue_log_file: Some(file.clone()),
        batch_size: 16,
        poll_interval_ms: 5,
        ..ReportConfig::default()
    };
    let status = std::sync::Mutex::new(None);
    let start = || {
        let reporter =
            Reporter::from_config(&config).expect("config").with_member_names(names.clone());
        *status.lock().expect("status") = Some(reporter.status());
        tokio::spawn(reporter.run(Arc::clone(&store), std::future::pending()))
    };

    let driven = Arc::clone(&store);
    let traffic = tokio::spawn(async move {
        traffic::drive(&*driven, seed, callers, Duration::from_micros(100)).await
    });
    let mut rng = Rng::seeded(seed);
    let mut reporter = start();
    for round in 0..8 {
        tokio::time::sleep(Duration::from_millis(20 + rng.below(150))).await;
        reporter.abort();
        let _ = reporter.await;
        if round == 3
            && let Some(p) = &proxy
        {
            p.cut();
            reporter = start();
            tokio::time::sleep(Duration::from_millis(1_500)).await;
            p.restore();
        } else {
            reporter = start();
        }
    }
    let truth = traffic.await.expect("traffic");
    assert_every_outcome(&truth);

    let caught_up = async {
        while !store.read_journal(GROUP, 1).await.expect("journal").is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    if tokio::time::timeout(Duration::from_secs(120), caught_up).await.is_err() {
        let status = status.lock().expect("status").as_ref().map(|s| s.get());
        panic!("the reporter did not catch up within 120 s: {status:?}");
    }
    reporter.abort();
    let _ = reporter.await;

    let journal = store.read_journal(AUDIT, 1_000_000).await.expect("journal");
    let renderer = QueueLogRenderer::with_member_names(names);
    verify::sql_matches(&db.pool(), &journal, &truth, &renderer).await;
    verify::file_matches(&file, &journal, &renderer);
    let _ = std::fs::remove_dir_all(&dir);
}

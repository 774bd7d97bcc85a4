//! The Redis store behind Sentinel (`redis+sentinel://…/name`): the conformance suite through
//! a Sentinel, and a failover to a replica that the store follows by itself. Each test owns its
//! servers and its Sentinel.

mod support;

use std::time::Duration;

use starq_core::config::{AgentConfig, Membership, QueueConfig, Window};
use starq_core::shared::{AgentAction, Enqueue, Notice, Request, Verdict};
use starq_core::strategy::Strategy;
use starq_core::{AgentId, CallId, Fence, NodeId, Time};
use starq_store::{AgentStatus, RedisOptions, RedisStore, Store, StoreError};
use support::{RedisServer, SentinelServer, fresh_site};

const MASTER: &str = "starq-test";

async fn through(sentinel: &SentinelServer) -> RedisStore {
    let options = RedisOptions::new(sentinel.url(MASTER), fresh_site());
    RedisStore::connect(options).await.expect("connect through sentinel")
}

/// Polls `check` every 50 ms for up to 20 s.
async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..400 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

fn login(agent: &str, now: u64) -> Request {
    Request::Agent { agent: agent.into(), action: AgentAction::Login, now: Time(now), draw: 1 }
}

fn enqueue(fence: &Fence, call: &str, now: u64) -> Request {
    Request::Enqueue(Enqueue {
        fence: fence.clone(),
        call: call.into(),
        queue: "q1".into(),
        caller_id: "100".into(),
        priority: 0,
        window: Window::ANY,
        now: Time(now),
        resumed: None,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_store_through_sentinel_passes_the_conformance_suite() {
    let master = RedisServer::start_with(false);
    let sentinel = SentinelServer::start(MASTER, master.port());
    starq_store::conformance::run_all(|| through(&sentinel)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_sentinel_url_is_refused() {
    for url in ["redis+sentinel://127.0.0.1:1", "redis+sentinel:///m", "redis+sentinel://h:1/"] {
        let err = RedisStore::connect(RedisOptions::new(url, "s")).await.expect_err(url);
        assert!(matches!(err, StoreError::Protocol(_)), "{url}: {err:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_failover_the_store_follows_the_new_master_with_its_state() {
    // No delay before the replica's first sync (Redis waits 5 s by default).
    let master = RedisServer::start_with_args(
        false,
        vec!["--repl-diskless-sync-delay".to_owned(), "0".to_owned()],
    );
    let replica = RedisServer::start_replica_of(master.port());
    eventually("the replica to sync", || {
        replica.replication("master_link_status").as_deref() == Some("up")
    })
    .await;
    let sentinel = SentinelServer::start(MASTER, master.port());
    eventually("the sentinel to know the replica", || {
        sentinel.command(&format!("SENTINEL REPLICAS {MASTER}")) == "*1"
    })
    .await;

    let store = through(&sentinel).await;
    let mut q = QueueConfig::new("q1");
    q.strategy = Strategy::Linear;
    let agents: Vec<AgentConfig> = ["a1", "a2"]
        .iter()
        .map(|id| {
            let mut a = AgentConfig::new(*id);
            a.memberships = vec![Membership { queue: "q1".into(), penalty: 0 }];
            a
        })
        .collect();
    store.configure(&[q], &agents).await.expect("configure");
    let ttl = Duration::from_secs(3600);
    let lease = store.acquire_lease(&NodeId::new("n1"), "i1", Time(1_000), ttl).await;
    let fence = lease.expect("up").expect("free").fence();
    store.apply(login("a1", 2_000)).await.expect("login");
    let reply = store.apply(enqueue(&fence, "c1", 3_000)).await.expect("enqueue");
    assert!(matches!(reply.notices.first(), Some(Notice::Offer(_))), "{reply:?}");
    // Replicated before the failover: the replica's offset reached the master's. (`WAIT` would
    // not tell: on a connection of its own it waits for that connection's writes, none.)
    let offset = |server: &RedisServer, field| {
        server.replication(field).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
    };
    let written = offset(&master, "master_repl_offset");
    eventually("the replica to catch up", || offset(&replica, "slave_repl_offset") >= written)
        .await;

    // The master goes silent and the Sentinel is told to fail over: it promotes the replica.
    // (Frozen rather than killed: a port freed here could be taken at once by another test's
    // server, which the replica would then sync from, losing the site.)
    master.freeze();
    // The Sentinel promotes only a replica it heard from within the last 5 s (it asks them
    // every 10 s): until then it answers NOGOODSLAVE.
    let failover = format!("SENTINEL FAILOVER {MASTER}");
    eventually("the Sentinel to fail over", || sentinel.command(&failover) == "+OK").await;

    // Requests fail (as unavailable) until the Sentinel names the new master and the store,
    // asking it again after each failure, has connected to it.
    let mut joined = None;
    for _ in 0..400 {
        match store.apply(enqueue(&fence, "c2", 4_000)).await {
            Ok(r) => {
                joined = Some(r.result);
                break;
            }
            Err(StoreError::Unavailable(_)) => tokio::time::sleep(Duration::from_millis(50)).await,
            Err(e) => panic!("unexpected error after the failover: {e}"),
        }
    }
    assert_eq!(joined, Some(Verdict::Joined { position: 2, serving: 1 }));
    assert_eq!(replica.command("ROLE"), "*3", "the replica was promoted");
    let a1 = store.agent(&AgentId::new("a1")).await.expect("up").expect("known");
    assert_eq!(a1.status, AgentStatus::Reserved(CallId::new("c1")));
    assert_eq!(store.position(&CallId::new("c2")).await.expect("up"), Some(2));
}

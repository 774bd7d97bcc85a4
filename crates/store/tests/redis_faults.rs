//! The Redis store under faults: Redis killed and restarted mid-run (with and without its
//! data), the function library lost, Redis too slow to answer. Each test owns its server.

mod support;

use std::time::Duration;

use starq_core::config::{AgentConfig, Membership, QueueConfig, Window};
use starq_core::shared::{AgentAction, Enqueue, Notice, Offer, Request, Verdict};
use starq_core::strategy::Strategy;
use starq_core::{AgentId, CallId, Fence, NodeId, QueueId, Time};
use starq_store::{AgentStatus, RedisStore, Store, StoreError};
use support::RedisServer;

const TTL: Duration = Duration::from_secs(3600);

async fn site(store: &RedisStore) -> Fence {
    let mut q = QueueConfig::new("q1");
    q.strategy = Strategy::Linear;
    let agents: Vec<AgentConfig> = (1..=2)
        .map(|i| {
            let mut a = AgentConfig::new(format!("a{i}"));
            a.memberships = vec![Membership { queue: "q1".into(), penalty: 0 }];
            a
        })
        .collect();
    store.configure(&[q], &agents).await.expect("configure");
    let lease = store
        .acquire_lease(&NodeId::new("n1"), "i1", Time(1_000), TTL)
        .await
        .expect("available")
        .expect("free");
    lease.fence()
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

fn login(agent: &str, now: u64) -> Request {
    Request::Agent { agent: agent.into(), action: AgentAction::Login, now: Time(now), draw: 1 }
}

fn offer(notices: &[Notice]) -> Offer {
    match notices.first() {
        Some(Notice::Offer(o)) => o.clone(),
        other => panic!("expected an offer, got {other:?}"),
    }
}

/// Retries until Redis answers again (the client reconnects by itself).
async fn until_available<T, F, Fut>(mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, StoreError>>,
{
    for _ in 0..100 {
        match f().await {
            Ok(v) => return v,
            Err(StoreError::Unavailable(_)) => tokio::time::sleep(Duration::from_millis(50)).await,
            Err(e) => panic!("unexpected error while reconnecting: {e}"),
        }
    }
    panic!("the store did not come back");
}

/// Measures how long a store call takes (the test owns this clock, not the store).
#[allow(clippy::disallowed_methods)] // timing the store from outside is the point
async fn timed<T>(f: impl Future<Output = T>) -> (T, Duration) {
    let start = std::time::Instant::now();
    let out = f.await;
    (out, start.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_mid_run_fails_fast_then_recovers_the_same_state() {
    let mut server = RedisServer::start();
    let store = server.store().await;
    let fence = site(&store).await;
    store.apply(login("a1", 2_000)).await.expect("login");
    let first = store.apply(enqueue(&fence, "c1", 3_000)).await.expect("enqueue");
    let o = offer(&first.notices);
    let second = store.apply(enqueue(&fence, "c2", 4_000)).await.expect("enqueue");
    assert_eq!(second.result, Verdict::Joined { position: 2, serving: 1 });

    server.stop();
    let (down, took) = timed(store.apply(enqueue(&fence, "c3", 5_000))).await;
    assert!(matches!(down, Err(StoreError::Unavailable(_))), "{down:?}");
    assert!(took < Duration::from_secs(2), "failed fast: {took:?}");
    let (view, _) = timed(store.agent(&AgentId::new("a1"))).await;
    assert!(matches!(view, Err(StoreError::Unavailable(_))), "{view:?}");

    server.restart();
    // Nothing of the refused enqueue was kept, everything acknowledged before is there.
    let c2 = CallId::new("c2");
    let pos = until_available(|| store.position(&c2)).await;
    assert_eq!(pos, Some(2));
    assert_eq!(store.position(&CallId::new("c3")).await.expect("up"), None);
    let a1 = store.agent(&AgentId::new("a1")).await.expect("up").expect("known");
    assert_eq!(a1.status, AgentStatus::Reserved(CallId::new("c1")));
    let q = store.queue(&QueueId::new("q1")).await.expect("up").expect("known");
    assert_eq!((q.callers, q.ringing, q.logged_in, q.available), (2, 1, 1, 0));

    // Routing goes on where it stopped.
    let answered =
        Request::Answered { fence: fence.clone(), reservation: o.reservation, now: Time(6_000) };
    let r = store.apply(answered).await.expect("answer");
    assert_eq!(r.result, Verdict::Confirmed { agent: AgentId::new("a1") });
    let journal = store.read_journal("r", 100).await.expect("journal");
    assert_eq!(journal.len(), 5, "login, 2 entered, offered, connected: {journal:?}");
    assert!(journal.windows(2).all(|w| w[0].seq < w[1].seq));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_library_is_loaded_again() {
    let server = RedisServer::start_with(false);
    let store = server.store().await;
    let fence = site(&store).await;
    assert_eq!(server.command("FUNCTION FLUSH"), "+OK");
    let r = store.apply(enqueue(&fence, "c1", 3_000)).await.expect("reloaded and applied");
    assert_eq!(r.result, Verdict::Joined { position: 1, serving: 0 });
    let listed = server.command(&format!("FUNCTION LIST LIBRARYNAME {}", store.library_name()));
    assert_eq!(listed, "*1", "the library is back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn epochs_go_on_increasing_when_redis_lost_everything() {
    let mut server = RedisServer::start_with(false);
    let store = server.store().await;
    let node = NodeId::new("n1");
    let old = store.acquire_lease(&node, "i1", Time(50_000), TTL).await.expect("up").expect("free");
    server.restart();
    // Data and functions are gone; the next owner's epoch still exceeds the lost one.
    let new = until_available(|| store.acquire_lease(&node, "i2", Time(60_000), TTL))
        .await
        .expect("free after the loss");
    assert!(new.epoch > old.epoch, "{:?} after {:?}", new.epoch, old.epoch);
    let stale = store.take_notices(&old.fence(), 1).await;
    assert_eq!(stale, Err(StoreError::Fenced { node, epoch: old.epoch }));
    // Journal seqs also restart above the lost ones.
    let q = QueueConfig::new("q1");
    store.configure(&[q], &[]).await.expect("configure");
    store.apply(enqueue(&new.fence(), "c1", 61_000)).await.expect("enqueue");
    let seq = store.read_journal("g", 10).await.expect("journal")[0].seq;
    assert!(seq > 61_000_000, "seq {seq} comes from the clock floor");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_redis_gives_unavailable_fast() {
    let server = RedisServer::start_with(false);
    let store = server.store().await;
    let fence = site(&store).await;
    let port = server.port();
    let sleeper = std::thread::spawn(move || {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
        std::io::Write::write_all(&mut s, b"DEBUG SLEEP 1.5\r\n").expect("write");
        let mut buf = [0u8; 5];
        std::io::Read::read_exact(&mut s, &mut buf).expect("reply");
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (slow, took) = timed(store.apply(enqueue(&fence, "c1", 3_000))).await;
    assert!(matches!(slow, Err(StoreError::Unavailable(_))), "{slow:?}");
    assert!(took < Duration::from_millis(1_000), "answered within the call timeout: {took:?}");
    sleeper.join().expect("sleeper");
    // The timed-out call may still have run once Redis woke up: it was one atomic function,
    // so the caller is either fully queued or absent, never half.
    let c1 = CallId::new("c1");
    let pos = until_available(|| store.position(&c1)).await;
    let q = store.queue(&QueueId::new("q1")).await.expect("up").expect("known");
    assert_eq!(q.callers, pos.map_or(0, |_| 1));
    let again = store.apply(enqueue(&fence, "c2", 4_000)).await.expect("fast again");
    assert!(matches!(again.result, Verdict::Joined { .. }));
}

//! Many tasks over several connections hammering match / answer / release on one queue. The
//! journal is the order Redis applied things in; replaying it checks that no agent was ever
//! held for two calls at once and no caller was connected twice.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use starq_core::config::{AgentConfig, Membership, QueueConfig, Window};
use starq_core::journal::JournalEvent;
use starq_core::shared::{
    AgentAction, Enqueue, LEG_TEARDOWN, Miss, Notice, Party, Request, Verdict,
};
use starq_core::strategy::Strategy;
use starq_core::{AgentId, CallId, Fence, NodeId, Outcome, QueueId, Time};
use starq_store::{AgentStatus, RedisStore, Store};
use support::{RedisServer, fresh_site};

const AGENTS: usize = 12;
const CONNECTIONS: usize = 4;
const TASKS: usize = 24;
const CALLS_PER_TASK: usize = 25;

/// Handles every notice a reply carries (for any task's caller): an offer is answered and hung
/// up, or missed; an agent resting while its leg is hung up (a miss, a cancelled offer) is made
/// ready once that is done. `at` is the time of the request that brought `first`.
async fn work(store: &RedisStore, fence: &Fence, first: Vec<Notice>, at: Time, seed: &mut u64) {
    let mut todo: Vec<(Notice, Time)> = first.into_iter().map(|n| (n, at)).collect();
    let push = |notices: Vec<Notice>, at: Time, todo: &mut Vec<(Notice, Time)>| {
        todo.extend(notices.into_iter().map(|n| (n, at)));
    };
    while let Some((notice, at)) = todo.pop() {
        let o = match notice {
            Notice::Offer(o) => o,
            Notice::Cancelled(o) => {
                let ready = Request::AgentReady { agent: o.agent, now: at + LEG_TEARDOWN, draw: 0 };
                push(store.apply(ready).await.expect("ready").notices, at, &mut todo);
                continue;
            }
            Notice::Evict { .. } => continue,
        };
        *seed =
            seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        let now = Time(2_000_000 + (*seed >> 50));
        if (*seed >> 33).is_multiple_of(3) {
            let r = Request::Missed {
                fence: fence.clone(),
                reservation: o.reservation,
                miss: Miss::NoAnswer,
                now,
                draw: *seed,
            };
            push(store.apply(r).await.expect("miss").notices, now, &mut todo);
            let ready = Request::AgentReady { agent: o.agent, now: now + LEG_TEARDOWN, draw: 0 };
            push(store.apply(ready).await.expect("ready").notices, now, &mut todo);
            continue;
        }
        let r = Request::Answered { fence: fence.clone(), reservation: o.reservation, now };
        let reply = store.apply(r).await.expect("answer");
        let confirmed = matches!(reply.result, Verdict::Confirmed { .. });
        push(reply.notices, now, &mut todo);
        if confirmed {
            let r = Request::Hangup {
                fence: fence.clone(),
                call: o.call.clone(),
                // The agent ends it, so it is free for the next caller at once.
                by: Party::Agent,
                now,
                draw: *seed,
            };
            push(store.apply(r).await.expect("hangup").notices, now, &mut todo);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_matching_never_double_books() {
    let server = RedisServer::start_with(false);
    let site = fresh_site();
    let mut stores = Vec::new();
    for _ in 0..CONNECTIONS {
        stores.push(server.store_on(&site).await);
    }
    let mut q = QueueConfig::new("q1");
    q.strategy = Strategy::LeastRecent;
    q.retry = Duration::ZERO;
    let agents: Vec<AgentConfig> = (0..AGENTS)
        .map(|i| {
            let mut a = AgentConfig::new(format!("a{i}"));
            a.memberships = vec![Membership { queue: "q1".into(), penalty: (i % 2) as u32 }];
            a
        })
        .collect();
    stores[0].configure(&[q], &agents).await.expect("configure");
    let ttl = Duration::from_secs(3600);
    let lease = stores[0].acquire_lease(&NodeId::new("n1"), "i", Time(0), ttl).await;
    let fence = lease.expect("up").expect("free").fence();
    for a in &agents {
        let login = Request::Agent {
            agent: a.id.clone(),
            action: AgentAction::Login,
            now: Time(1_000),
            draw: 0,
        };
        stores[0].apply(login).await.expect("login");
    }

    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let store = stores[t % CONNECTIONS].clone();
        let fence = fence.clone();
        tasks.push(tokio::spawn(async move {
            let mut seed = t as u64 + 1;
            for i in 0..CALLS_PER_TASK {
                let e = Enqueue {
                    fence: fence.clone(),
                    call: CallId::new(format!("c{t}-{i}")),
                    queue: QueueId::new("q1"),
                    caller_id: String::new(),
                    priority: (i % 3) as i32,
                    window: Window::ANY,
                    now: Time(1_500_000 + i as u64),
                    resumed: None,
                };
                let at = e.now;
                let reply = store.apply(Request::Enqueue(e)).await.expect("enqueue");
                work(&store, &fence, reply.notices, at, &mut seed).await;
            }
            // Whoever of this task's callers still waits gives up; offers that frees are served.
            for i in 0..CALLS_PER_TASK {
                let call = CallId::new(format!("c{t}-{i}"));
                let leave = Request::Leave {
                    fence: fence.clone(),
                    call,
                    outcome: Outcome::Abandoned,
                    now: Time(3_000_000),
                };
                let reply = store.apply(leave).await.expect("leave");
                work(&store, &fence, reply.notices, Time(3_000_000), &mut seed).await;
            }
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    // A leave that found its caller connected rests the agent while its leg is hung up; the
    // engine that hung it up says the agent is ready, as here.
    for a in &agents {
        let ready = Request::AgentReady { agent: a.id.clone(), now: Time(3_100_000), draw: 0 };
        stores[0].apply(ready).await.expect("ready");
    }

    replay(&stores[0].read_journal("check", 1_000_000).await.expect("journal"));
    let q = stores[0].queue(&QueueId::new("q1")).await.expect("up").expect("known");
    assert_eq!((q.callers, q.available), (0, AGENTS as u32), "everyone done, every agent free");
    for a in &agents {
        let view = stores[1].agent(&a.id).await.expect("up").expect("known");
        assert_eq!(view.status, AgentStatus::Available, "{}", a.id);
    }
}

/// Replays the journal in the order Redis applied it: each agent holds at most one call at a
/// time, each caller is connected at most once and ends exactly once.
fn replay(journal: &[starq_core::journal::JournalEntry]) {
    let mut holding: BTreeMap<AgentId, CallId> = BTreeMap::new();
    let mut connected: BTreeSet<CallId> = BTreeSet::new();
    let mut ended: BTreeSet<CallId> = BTreeSet::new();
    let mut entered = 0;
    for e in journal {
        match &e.event {
            JournalEvent::Entered { .. } => entered += 1,
            JournalEvent::Offered { call, agent, .. } => {
                let before = holding.insert(agent.clone(), call.clone());
                assert!(before.is_none(), "{agent} offered {call} while holding {before:?}");
                assert!(!connected.contains(call), "{call} offered after it was connected");
            }
            JournalEvent::Missed { agent, .. } | JournalEvent::OfferCancelled { agent, .. } => {
                assert!(holding.remove(agent).is_some(), "{agent} released twice");
            }
            JournalEvent::Connected { call, agent, .. } => {
                assert_eq!(holding.get(agent), Some(call), "{agent} connected to another call");
                assert!(connected.insert(call.clone()), "{call} connected twice");
            }
            JournalEvent::Completed { call, agent, .. } => {
                assert_eq!(holding.remove(agent).as_ref(), Some(call));
                assert!(ended.insert(call.clone()), "{call} ended twice");
            }
            JournalEvent::Left { call, .. } => {
                // A connected call can be made to leave too (node lost): its agent is freed.
                if connected.contains(call) {
                    let agent = holding.iter().find(|(_, c)| *c == call).map(|(a, _)| a.clone());
                    holding.remove(&agent.expect("a connected call has its agent"));
                }
                assert!(ended.insert(call.clone()), "{call} ended twice");
            }
            _ => {}
        }
    }
    assert_eq!(ended.len(), entered, "every caller who entered ended once");
    assert!(connected.len() > TASKS, "the test connected calls: {}", connected.len());
    assert!(holding.is_empty(), "agents still held: {holding:?}");
}

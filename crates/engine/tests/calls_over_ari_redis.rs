//! End to end with the Redis store: the same engine over ARI against the simulator, with shared
//! state in a private `redis-server` (started on an ephemeral port for this test binary).

#[path = "../../store/tests/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::time::Duration;

use starq_core::config::{AgentConfig, Contact, Membership, QueueConfig};
use starq_core::engine::Input;
use starq_core::journal::JournalEvent;
use starq_core::shared::AgentAction;
use starq_core::{NodeId, Outcome};
use starq_engine::{NodeSpec, Settings};
use starq_sim::phones::PhoneScript;
use starq_sim::truth::Outcome as Truth;
use starq_sim::{CallSpec, Sim, SimConfig};
use starq_store::{RedisStore, Store};
use tokio::sync::oneshot;

/// One simulated node with alice's phone (answers in 50 ms, talks 300 ms), its spec for starq,
/// and alice's configuration.
async fn node_with_alice(
    seed: u64,
) -> (Sim, Arc<starq_sim::server::NodeHandle>, NodeSpec, AgentConfig) {
    let mut cfg = SimConfig::local(1, seed);
    cfg.phones = vec![PhoneScript::answering("PJSIP/alice", 50, 300)];
    let sim = Sim::start(cfg).await.expect("simulator starts");
    let node = sim.node(0).expect("node").clone();
    let spec = NodeSpec { id: NodeId::new("node0"), ari: node.ari_config("starq") };
    let mut alice = AgentConfig::new("alice");
    alice.memberships.push(Membership { queue: "support".into(), penalty: 0 });
    alice.contacts.push(Contact { endpoint: "PJSIP/alice".into(), nodes: Vec::new() });
    (sim, node, spec, alice)
}

async fn journal(store: &RedisStore) -> Vec<JournalEvent> {
    store
        .read_journal("test", 10_000)
        .await
        .expect("journal")
        .into_iter()
        .map(|e| e.event)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_complete_and_abandon_with_state_in_redis() {
    let redis = support::RedisServer::start_with(false);
    let store = Arc::new(redis.store().await);
    let (sim, node, spec, alice) = node_with_alice(3).await;
    let mut queue = QueueConfig::new("support");
    queue.ring_timeout = Duration::from_secs(2);
    let settings = Settings {
        seed: 5,
        node_down_after: Duration::from_secs(2),
        drain_grace: Duration::from_secs(2),
        ..Settings::new("redis-test")
    };
    let (stop, stopped) = oneshot::channel::<()>();
    let (shell, task) = starq_engine::start(
        Arc::clone(&store),
        vec![queue],
        vec![alice],
        vec![spec],
        settings,
        async {
            let _ = stopped.await;
        },
    )
    .await
    .expect("shell starts over Redis");
    shell.send(Input::Agent { agent: "alice".into(), action: AgentAction::Login }).await;
    for _ in 0..300 {
        if node.has_consumer("starq") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // One caller is served; a second, arriving while alice talks, gives up.
    node.place_call(&CallSpec::new("starq", &["queue=support"], "5551")).expect("placed");
    tokio::time::sleep(Duration::from_millis(150)).await;
    let mut impatient = CallSpec::new("starq", &["queue=support"], "5552");
    impatient.patience = Some(Duration::from_millis(150));
    node.place_call(&impatient).expect("placed");
    for _ in 0..500 {
        if sim.truth().callers().count() == 2 && sim.truth().callers().all(|c| c.outcome.is_some())
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let outcomes: Vec<_> = sim.truth().callers().map(|c| c.outcome.clone()).collect();
    assert_eq!(outcomes, [Some(Truth::AgentHungUp), Some(Truth::Abandoned)]);
    let mut events = Vec::new();
    for _ in 0..300 {
        events = journal(&store).await;
        let done = events.iter().any(|e| matches!(e, JournalEvent::Completed { .. }))
            && events
                .iter()
                .any(|e| matches!(e, JournalEvent::Left { outcome: Outcome::Abandoned, .. }));
        if done {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(events.iter().any(|e| matches!(e, JournalEvent::Completed { .. })), "{events:?}");
    assert!(
        events.iter().any(|e| matches!(e, JournalEvent::Left { outcome: Outcome::Abandoned, .. })),
        "{events:?}"
    );
    let _ = stop.send(());
    task.await.expect("no panic").expect("clean stop");
    node.check_invariants().expect("simulated node invariants");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_left_in_the_store_by_an_earlier_run_does_not_hold_an_agent() {
    let redis = support::RedisServer::start_with(false);
    let store = Arc::new(redis.store().await);
    let (_sim, node, spec, alice) = node_with_alice(4).await;
    let settings = Settings { drain_grace: Duration::from_millis(200), ..Settings::new("first") };
    // A first run takes a caller, then stops with nobody logged in: the caller stays queued.
    let (stop, stopped) = oneshot::channel::<()>();
    let queues = vec![QueueConfig::new("support")];
    let run = starq_engine::start(
        Arc::clone(&store),
        queues.clone(),
        vec![alice.clone()],
        vec![spec.clone()],
        settings.clone(),
        async {
            let _ = stopped.await;
        },
    );
    let (_, task) = run.await.expect("first run starts");
    for _ in 0..300 {
        if node.has_consumer("starq") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    node.place_call(&CallSpec::new("starq", &["queue=support"], "5551")).expect("placed");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = stop.send(());
    task.await.expect("no panic").expect("clean stop");
    // A second run, knowing nothing of that caller, logs alice in: the store offers her the
    // orphan, which the engine ends instead of bouncing the offer back and forth.
    let (stop, stopped) = oneshot::channel::<()>();
    let second = Settings { instance: "second".into(), ..settings };
    let (shell, task) =
        starq_engine::start(Arc::clone(&store), queues, vec![alice], vec![spec], second, async {
            let _ = stopped.await;
        })
        .await
        .expect("second run starts");
    shell.send(Input::Agent { agent: "alice".into(), action: AgentAction::Login }).await;
    let mut events = Vec::new();
    for _ in 0..300 {
        events = journal(&store).await;
        if events.iter().any(|e| matches!(e, JournalEvent::Left { outcome: Outcome::NodeLost, .. }))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        events.iter().any(|e| matches!(e, JournalEvent::Left { outcome: Outcome::NodeLost, .. })),
        "{events:?}"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    let offers =
        journal(&store).await.iter().filter(|e| matches!(e, JournalEvent::Offered { .. })).count();
    assert_eq!(offers, 1, "one offer of the orphan, not a loop");
    let view = store.agent(&"alice".into()).await.expect("store").expect("known");
    assert_eq!(view.status, starq_store::AgentStatus::Available);
    let _ = stop.send(());
    task.await.expect("no panic").expect("clean stop");
}

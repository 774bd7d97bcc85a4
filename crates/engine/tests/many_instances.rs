//! Several starq instances over the same Redis and the same simulated nodes: they share the
//! nodes, hand work to each other through the store, and take over a dead one's nodes.

#[path = "../../store/tests/support/mod.rs"]
mod support;

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{eventually as until, journal, split_names};
use starq_core::NodeId;
use starq_core::config::{AgentConfig, Contact, Membership, QueueConfig};
use starq_core::engine::Input;
use starq_core::journal::JournalEvent;
use starq_core::shared::AgentAction;
use starq_engine::{NodeHealth, NodeSpec, Settings, ShellHandle};
use starq_sim::phones::PhoneScript;
use starq_sim::truth::Outcome as Truth;
use starq_sim::{CallSpec, Sim, SimConfig};
use starq_store::RedisStore;

const NODES: [&str; 2] = ["node0", "node1"];

/// The simulated nodes, named as starq knows them.
fn node_specs(sim: &Sim) -> Vec<NodeSpec> {
    NODES
        .iter()
        .enumerate()
        .map(|(i, name)| NodeSpec {
            id: NodeId::new(*name),
            ari: sim.node(i).expect("node").ari_config("starq"),
        })
        .collect()
}

fn queue() -> QueueConfig {
    QueueConfig::new("support")
}

fn alice() -> AgentConfig {
    let mut alice = AgentConfig::new("alice");
    alice.memberships.push(Membership { queue: "support".into(), penalty: 0 });
    alice.contacts.push(Contact { endpoint: "PJSIP/alice".into(), nodes: Vec::new() });
    alice
}

async fn start(
    store: &Arc<RedisStore>,
    specs: &[NodeSpec],
    name: &str,
) -> (ShellHandle, tokio::task::JoinHandle<Result<(), starq_engine::EngineError>>) {
    let settings = Settings {
        lease_ttl: Duration::from_millis(900),
        drain_grace: Duration::from_millis(200),
        ..Settings::new(name)
    };
    starq_engine::start(
        Arc::clone(store),
        vec![queue()],
        vec![alice()],
        specs.to_vec(),
        settings,
        std::future::pending(),
    )
    .await
    .expect("instance starts")
}

fn owned(shell: &ShellHandle) -> Vec<String> {
    let health = shell.health();
    health
        .nodes
        .iter()
        .filter(|(_, s)| **s == NodeHealth::Connected)
        .map(|(n, _)| n.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_share_the_nodes_hand_work_across_and_take_over_the_dead() {
    let redis = support::RedisServer::start_with(false);
    let store = Arc::new(redis.store().await);
    let mut cfg = SimConfig::local(2, 11);
    cfg.phones = vec![PhoneScript::answering("PJSIP/alice", 50, 400)];
    let sim = Sim::start(cfg).await.expect("simulator starts");
    let specs = node_specs(&sim);
    let (first, second) = split_names(NODES);
    // The first instance starts alone and owns both nodes; the second joins and is handed the
    // node it wins.
    let (a, a_task) = start(&store, &specs, &first).await;
    until("the first instance owns both nodes", || owned(&a).len() == 2).await;
    let (b, _b_task) = start(&store, &specs, &second).await;
    until("the nodes are shared", || owned(&a) == ["node0"] && owned(&b) == ["node1"]).await;

    // Alice (one phone, reachable from both nodes) logs in through the first instance; a
    // caller on each node: she serves one, and when she is free the store offers her the
    // other, on the node the other instance owns.
    a.send(Input::Agent { agent: "alice".into(), action: AgentAction::Login }).await;
    for node in 0..2 {
        let spec = CallSpec::new("starq", &["queue=support"], format!("55{node}"));
        sim.node(node).expect("node").place_call(&spec).expect("placed");
    }
    until("both callers are served", || {
        sim.truth().callers().filter(|c| c.outcome == Some(Truth::AgentHungUp)).count() == 2
    })
    .await;

    // The first instance dies without a word: the second takes its node over once the lease
    // lapses, and serves a caller there.
    a_task.abort();
    until("the survivor owns both nodes", || owned(&b).len() == 2).await;
    let spec = CallSpec::new("starq", &["queue=support"], "5599");
    sim.node(0).expect("node").place_call(&spec).expect("placed");
    until("the caller on the taken-over node is served", || {
        sim.truth().callers().filter(|c| c.outcome == Some(Truth::AgentHungUp)).count() == 3
    })
    .await;

    let events = journal(&store).await;
    let completed = events.iter().filter(|e| matches!(e, JournalEvent::Completed { .. })).count();
    let ended = events.iter().filter(|e| e.terminal_call().is_some()).count();
    assert_eq!((completed, ended), (3, 3), "three completions, nothing else ended: {events:?}");
    for i in 0..2 {
        sim.node(i).expect("node").check_invariants().expect("simulated node invariants");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_entering_while_a_node_changes_hands_are_kept() {
    let redis = support::RedisServer::start_with(false);
    let store = Arc::new(redis.store().await);
    let sim = Sim::start(SimConfig::local(2, 12)).await.expect("simulator starts");
    let specs = node_specs(&sim);
    let (first, second) = split_names(NODES);
    let (a, _a_task) = start(&store, &specs, &first).await;
    until("the first instance owns both nodes", || owned(&a).len() == 2).await;
    // Callers keep arriving on both nodes while the second instance joins and node1 moves to
    // it; nobody logs in, so each waits a moment and hangs up.
    let arrivals = {
        let sim_nodes: Vec<_> = sim.nodes().to_vec();
        tokio::spawn(async move {
            for i in 0..60u32 {
                let mut spec = CallSpec::new("starq", &["queue=support"], format!("7{i:03}"));
                spec.patience = Some(Duration::from_millis(1_500));
                let _ = sim_nodes[(i % 2) as usize].place_call(&spec);
                tokio::time::sleep(Duration::from_millis(40)).await;
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (b, _b_task) = start(&store, &specs, &second).await;
    until("the nodes are shared", || owned(&a) == ["node0"] && owned(&b) == ["node1"]).await;
    arrivals.await.expect("arrivals placed");
    until("every caller has ended", || {
        let truth = sim.truth();
        truth.callers().count() == 60 && truth.callers().all(|c| c.outcome.is_some())
    })
    .await;
    let failed: Vec<String> = sim
        .truth()
        .callers()
        .filter(|c| c.outcome == Some(Truth::StasisFailed))
        .map(|c| c.channel_id.clone())
        .collect();
    assert!(failed.is_empty(), "callers sent to the fallback during the handover: {failed:?}");
    let events = journal(&store).await;
    let entered = events.iter().filter(|e| matches!(e, JournalEvent::Entered { .. })).count();
    let ended = events.iter().filter(|e| e.terminal_call().is_some()).count();
    assert_eq!((entered, ended), (60, 60), "every caller queued and ended once: {events:?}");
}

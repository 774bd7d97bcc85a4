//! Configuration changed while starq runs: two instances over one Redis follow a new revision
//! of the catalog at once, the call in progress of an agent removed goes on to its end, the
//! agent added is offered the next caller, and only one instance writes the change into the
//! store.

#[path = "../../store/tests/support/mod.rs"]
mod support;

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{eventually as until, journal, split_names};
use starq_core::NodeId;
use starq_core::config::{AgentConfig, Contact, Membership, QueueConfig};
use starq_core::engine::Input;
use starq_core::journal::JournalEvent;
use starq_core::shared::AgentAction;
use starq_engine::config::Catalog;
use starq_engine::{Configuration, NodeHealth, NodeSpec, Settings, ShellHandle};
use starq_sim::phones::PhoneScript;
use starq_sim::truth::Outcome as Truth;
use starq_sim::{CallSpec, Sim, SimConfig};
use tokio::sync::watch;

const NODES: [&str; 2] = ["node0", "node1"];

fn agent(id: &str, queues: &[&str]) -> AgentConfig {
    let mut a = AgentConfig::new(id);
    for q in queues {
        a.memberships.push(Membership { queue: (*q).into(), penalty: 0 });
    }
    a.contacts.push(Contact { endpoint: format!("PJSIP/{id}"), nodes: Vec::new() });
    a
}

fn catalog(revision: u64, agents: Vec<AgentConfig>) -> Arc<Catalog> {
    let queues = vec![QueueConfig::new("support"), QueueConfig::new("backoffice")];
    Arc::new(Catalog { revision, queues, agents })
}

fn owned(shell: &ShellHandle) -> usize {
    shell.health().nodes.values().filter(|s| **s == NodeHealth::Connected).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_revision_is_followed_at_once_by_every_instance_without_cutting_a_call() {
    let redis = support::RedisServer::start_with(false);
    let store = Arc::new(redis.store().await);
    let mut cfg = SimConfig::local(2, 21);
    // Alice talks long enough for the change to land during her call.
    cfg.phones = vec![
        PhoneScript::answering("PJSIP/alice", 50, 3_000),
        PhoneScript::answering("PJSIP/bob", 50, 300),
    ];
    let sim = Sim::start(cfg).await.expect("simulator starts");
    let specs: Vec<NodeSpec> = NODES
        .iter()
        .enumerate()
        .map(|(i, name)| NodeSpec {
            id: NodeId::new(*name),
            ari: sim.node(i).expect("node").ari_config("starq"),
        })
        .collect();
    // Revision 1: alice serves support, bob the back office.
    let first = catalog(1, vec![agent("alice", &["support"]), agent("bob", &["backoffice"])]);
    let (tx_a, rx_a) = watch::channel(Arc::clone(&first));
    let (tx_b, rx_b) = watch::channel(first);
    let (name_a, name_b) = split_names(NODES);
    let mut shells = Vec::new();
    for (name, rx) in [(name_a, rx_a), (name_b, rx_b)] {
        let settings = Settings {
            lease_ttl: Duration::from_millis(900),
            drain_grace: Duration::from_millis(200),
            ..Settings::new(name)
        };
        let (signals_tx, signals) = tokio::sync::mpsc::channel(1);
        let (shell, _task) = starq_engine::start_configured(
            Arc::clone(&store),
            Configuration::Catalog(rx),
            specs.clone(),
            settings,
            signals,
            None,
        )
        .await
        .expect("instance starts");
        shells.push((shell, signals_tx));
    }
    until("the nodes are shared", || shells.iter().all(|(s, _)| owned(s) == 1)).await;
    for who in ["alice", "bob"] {
        shells[0].0.send(Input::Agent { agent: who.into(), action: AgentAction::Login }).await;
    }

    // Alice takes the first caller.
    let spec = CallSpec::new("starq", &["queue=support"], "5550");
    sim.node(0).expect("node").place_call(&spec).expect("placed");
    until("alice talks to the first caller", || {
        sim.truth().callers().any(|c| c.agent.as_deref() == Some("PJSIP/alice"))
    })
    .await;

    // Revision 2, as each instance's watcher would publish it: alice removed, bob in support.
    let second = catalog(2, vec![agent("bob", &["backoffice", "support"])]);
    let changed = Instant::now();
    tx_a.send_replace(Arc::clone(&second));
    tx_b.send_replace(second);
    until("both instances know the new agents", || {
        shells.iter().all(|(s, _)| !s.knows_agent(&"alice".into()) && s.knows_agent(&"bob".into()))
    })
    .await;

    // A caller on the other node now reaches bob, within 2 s of the change.
    let spec = CallSpec::new("starq", &["queue=support"], "5551");
    sim.node(1).expect("node").place_call(&spec).expect("placed");
    until("bob serves the second caller", || {
        sim.truth().callers().any(|c| c.agent.as_deref() == Some("PJSIP/bob"))
    })
    .await;
    let reached = changed.elapsed();
    assert!(reached < Duration::from_secs(2), "bob reached {reached:?} after the change");

    // Alice's call, in progress at the change, goes on to its end.
    until("both calls end", || {
        sim.truth().callers().filter(|c| c.outcome == Some(Truth::AgentHungUp)).count() == 2
    })
    .await;
    let events = journal(&store).await;
    let bob_in_support = |e: &&JournalEvent| {
        matches!(e, JournalEvent::MemberAdded { agent, queue, .. }
            if agent.as_str() == "bob" && queue.as_str() == "support")
    };
    let added: Vec<_> = events.iter().filter(bob_in_support).collect();
    let removed: Vec<_> =
        events.iter().filter(|e| matches!(e, JournalEvent::MemberRemoved { .. })).collect();
    assert_eq!(added.len(), 1, "one writer journals bob's new membership once: {events:?}");
    assert_eq!(removed.len(), 1, "and alice's removal once: {removed:?}");
    let completed = events.iter().filter(|e| matches!(e, JournalEvent::Completed { .. })).count();
    assert_eq!(completed, 2, "both calls completed: {events:?}");
}

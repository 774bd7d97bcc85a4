//! End to end over real HTTP and WebSocket: the shell with the memory store against simulated
//! Asterisk nodes. The simulator's ground truth must agree with what starq journaled.

use std::sync::Arc;
use std::time::Duration;

use starq_ari::{Credentials, NodeConfig};
use starq_core::config::{AgentConfig, Contact, Membership, QueueConfig};
use starq_core::engine::Input;
use starq_core::journal::JournalEvent;
use starq_core::shared::AgentAction;
use starq_core::{NodeId, Outcome};
use starq_engine::{NodeSpec, Settings, ShellHandle};
use starq_sim::CallSpec;
use starq_sim::phones::PhoneScript;
use starq_sim::truth::Outcome as Truth;
use starq_sim::{Sim, SimConfig};
use starq_store::{MemoryStore, Store};
use tokio::sync::oneshot;

struct Site {
    sim: Sim,
    store: Arc<MemoryStore>,
    shell: ShellHandle,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), starq_engine::EngineError>>,
}

fn agent(id: &str, endpoint: &str) -> AgentConfig {
    let mut a = AgentConfig::new(id);
    a.memberships.push(Membership { queue: "support".into(), penalty: 0 });
    a.contacts.push(Contact { endpoint: endpoint.into(), nodes: Vec::new() });
    a
}

async fn site(queue: QueueConfig, agents: Vec<AgentConfig>, phones: Vec<PhoneScript>) -> Site {
    let mut cfg = SimConfig::local(1, 7);
    cfg.phones = phones;
    let sim = Sim::start(cfg).await.expect("simulator starts");
    let node = sim.node(0).expect("one node").clone();
    let (user, pass) = node.credentials();
    let spec = NodeSpec {
        id: NodeId::new("pbx1"),
        ari: NodeConfig {
            ari_url: node.base_url(),
            credentials: Credentials::new(user, pass),
            app: "starq".into(),
        },
    };
    let store = Arc::new(MemoryStore::new());
    let settings = Settings { instance: "test".into(), lease_ttl: Duration::from_secs(3), seed: 1 };
    let (stop, stopped) = oneshot::channel::<()>();
    let ids: Vec<_> = agents.iter().map(|a| a.id.clone()).collect();
    let (shell, task) =
        starq_engine::start(Arc::clone(&store), vec![queue], agents, vec![spec], settings, async {
            let _ = stopped.await;
        })
        .await
        .expect("shell starts");
    for agent in ids {
        assert!(shell.send(Input::Agent { agent, action: AgentAction::Login }).await);
    }
    eventually("starq holds the app", || node.has_consumer("starq")).await;
    Site { sim, store, shell, stop: Some(stop), task }
}

async fn eventually(what: &str, check: impl Fn() -> bool) {
    for _ in 0..500 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting until {what}");
}

impl Site {
    fn call(&self, args: &[&str], patience: Option<Duration>) {
        let mut spec = CallSpec::new("starq", args, "5551000");
        spec.patience = patience;
        self.sim.node(0).expect("node").place_call(&spec).expect("call placed");
    }

    async fn all_ended(&self) {
        eventually("every caller has ended", || {
            self.sim.truth().callers().all(|c| c.outcome.is_some())
        })
        .await;
    }

    async fn journal(&self) -> Vec<JournalEvent> {
        let entries = self.store.read_journal("test", 10_000).await.expect("journal");
        entries.into_iter().map(|e| e.event).collect()
    }

    async fn stop(mut self) {
        let _ = self.stop.take().expect("running").send(());
        self.task.await.expect("no panic").expect("clean stop");
        for node in self.sim.nodes() {
            node.check_invariants().expect("simulated node invariants");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_is_answered_queued_connected_and_completed() {
    let phone = PhoneScript::answering("PJSIP/alice", 50, 300);
    let site =
        site(QueueConfig::new("support"), vec![agent("alice", "PJSIP/alice")], vec![phone]).await;
    site.call(&["queue=support"], None);
    site.all_ended().await;
    let truth = site.sim.truth();
    let caller = truth.callers().next().expect("one caller");
    assert!(caller.moh_starts >= 1, "the caller heard music on hold: {caller:?}");
    assert_eq!(caller.agent.as_deref(), Some("PJSIP/alice"));
    assert_eq!(caller.outcome, Some(Truth::AgentHungUp));
    let journal = site.journal().await;
    let completed = journal.iter().find_map(|e| match e {
        JournalEvent::Completed { agent, talk, .. } => Some((agent.clone(), *talk)),
        _ => None,
    });
    let (agent, talk) = completed.expect("starq journaled the completed call");
    assert_eq!(agent.as_str(), "alice");
    assert!(talk >= Duration::from_millis(250), "talk {talk:?} matches the phone's 300 ms");
    // The API reaches the store through the shell.
    assert!(
        site.shell.send(Input::Agent { agent: "alice".into(), action: AgentAction::Logout }).await
    );
    eventually("alice is logged out", || {
        let view =
            futures_lite_poll(site.store.agent(&"alice".into())).expect("store").expect("known");
        view.status == starq_store::AgentStatus::LoggedOut
    })
    .await;
    site.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_arguments_and_unknown_queues_go_back_to_the_dialplan() {
    let site = site(QueueConfig::new("support"), vec![], vec![]).await;
    site.call(&["queue=nope"], None);
    site.call(&["queue=support", "prio=3"], None);
    site.all_ended().await;
    for caller in site.sim.truth().callers() {
        assert!(matches!(caller.outcome, Some(Truth::Continued { .. })), "{caller:?}");
    }
    assert!(site.journal().await.is_empty(), "neither entered a queue");
    site.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_who_hangs_up_while_waiting_is_an_abandon() {
    let site = site(QueueConfig::new("support"), vec![], vec![]).await;
    site.call(&["queue=support"], Some(Duration::from_millis(300)));
    site.all_ended().await;
    assert_eq!(
        site.sim.truth().callers().next().and_then(|c| c.outcome.clone()),
        Some(Truth::Abandoned)
    );
    eventually("starq journals the abandon", || {
        futures_lite_poll(site.journal())
            .iter()
            .any(|e| matches!(e, JournalEvent::Left { outcome: Outcome::Abandoned, .. }))
    })
    .await;
    site.stop().await;
}

/// Reads the journal synchronously from inside `eventually` (the memory store never waits).
fn futures_lite_poll<F: std::future::Future>(future: F) -> F::Output {
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    let mut future = std::pin::pin!(future);
    match future.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(out) => out,
        std::task::Poll::Pending => unreachable!("the memory store answers at once"),
    }
}

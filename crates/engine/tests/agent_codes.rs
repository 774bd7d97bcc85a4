//! Agent feature codes from a phone, end to end over real HTTP and WebSocket: the shell with
//! the memory store against a simulated Asterisk node. A phone dials `*45`/`*46`, its channel
//! enters `Stasis(starq,agent=…)`; what the phone heard, the `STARQ_OUTCOME` it went back to
//! the dialplan with, the store's view of the agent and the journal must agree.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{eventually, now_or_never};
use starq_core::config::{AgentConfig, Contact, Membership, Pin, QueueConfig};
use starq_core::journal::JournalEvent;
use starq_core::{AgentId, NodeId, QueueId};
use starq_engine::{NodeSpec, Settings};
use starq_sim::phones::PhoneScript;
use starq_sim::truth::{CallerRecord, Outcome as Truth};
use starq_sim::{CallSpec, Sim, SimConfig};
use starq_store::{AgentStatus, AgentView, MemoryStore, Store};
use tokio::sync::oneshot;

struct Site {
    sim: Sim,
    store: Arc<MemoryStore>,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), starq_engine::EngineError>>,
}

/// An agent of `support` rung at `PJSIP/<id>`, whose desk phone is `Local/<desk>@phones` (the
/// simulator's callers are Local channels: `Local/<exten>@<context>-<n>;2`).
fn agent(id: &str, desk: &str) -> AgentConfig {
    let mut a = AgentConfig::new(id);
    a.memberships.push(Membership { queue: "support".into(), penalty: 0 });
    for endpoint in [format!("PJSIP/{id}"), format!("Local/{desk}@phones")] {
        a.contacts.push(Contact { endpoint, nodes: Vec::new() });
    }
    a
}

async fn site(agents: Vec<AgentConfig>) -> Site {
    let mut cfg = SimConfig::local(1, 11);
    cfg.phones =
        agents.iter().map(|a| PhoneScript::answering(format!("PJSIP/{}", a.id), 50, 300)).collect();
    cfg.node.continue_wait = Duration::from_millis(200);
    cfg.node.media.scale = 0.05;
    let sim = Sim::start(cfg).await.expect("simulator starts");
    let specs = sim
        .nodes()
        .iter()
        .map(|node| NodeSpec {
            id: NodeId::new(format!("node{}", node.index())),
            ari: node.ari_config("starq"),
        })
        .collect();
    let mut queue = QueueConfig::new("support");
    queue.ring_timeout = Duration::from_secs(2);
    queue.retry = Duration::ZERO;
    let settings = Settings {
        lease_ttl: Duration::from_millis(900),
        node_down_after: Duration::from_millis(500),
        drain_grace: Duration::from_secs(2),
        ..Settings::new("test")
    };
    let store = Arc::new(MemoryStore::new());
    let (stop, stopped) = oneshot::channel::<()>();
    let (_shell, task) =
        starq_engine::start(Arc::clone(&store), vec![queue], agents, specs, settings, async {
            let _ = stopped.await;
        })
        .await
        .expect("shell starts");
    for node in sim.nodes() {
        eventually("starq holds the app", || node.has_consumer("starq")).await;
    }
    Site { sim, store, stop, task }
}

impl Site {
    /// Dials a feature code from the desk phone `Local/<desk>@phones` and waits for its
    /// channel to go back to the dialplan; returns what the phone experienced.
    async fn dial(&self, desk: &str, args: &[&str]) -> CallerRecord {
        let mut spec = CallSpec::new("starq", args, desk);
        spec.exten = desk.to_owned();
        spec.context = "phones".to_owned();
        let placed = self.sim.node(0).expect("node").place_call(&spec).expect("call placed");
        let ended = || {
            self.sim
                .truth()
                .callers()
                .find(|c| c.caller == placed.caller && c.outcome.is_some())
                .cloned()
        };
        eventually("the feature code's channel is sent on", || ended().is_some()).await;
        ended().expect("ended")
    }

    fn view(&self, agent: &str) -> AgentView {
        now_or_never(self.store.agent(&AgentId::new(agent))).expect("store").expect("known agent")
    }

    fn journal(&self) -> Vec<JournalEvent> {
        let entries = now_or_never(self.store.read_journal("test", 10_000)).expect("journal");
        entries.into_iter().map(|e| e.event).collect()
    }

    /// The agents' presence changes journaled, in order.
    fn presence(&self) -> Vec<String> {
        self.journal()
            .into_iter()
            .filter_map(|e| match e {
                JournalEvent::LoggedIn { agent } => Some(format!("{agent} in")),
                JournalEvent::LoggedOut { agent, .. } => Some(format!("{agent} out")),
                JournalEvent::Paused { agent, queue, reason, .. } => {
                    Some(format!("{agent} paused {queue:?} {reason:?}"))
                }
                JournalEvent::Unpaused { agent, queue, .. } => {
                    Some(format!("{agent} unpaused {queue:?}"))
                }
                _ => None,
            })
            .collect()
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.expect("no panic").expect("clean stop");
        for node in self.sim.nodes().iter().filter(|n| n.is_alive()) {
            node.check_invariants().expect("simulated node invariants");
        }
    }
}

/// The outcome the dialplan reads, and the prompts the phone heard.
fn told(record: &CallerRecord) -> (&str, Vec<&str>) {
    let outcome = record.left_with.get("STARQ_OUTCOME").map_or("", String::as_str);
    let heard = record.heard.iter().map(|h| h.media.as_str()).collect();
    assert!(
        matches!(&record.outcome, Some(Truth::Continued { .. })),
        "back to the dialplan: {record:?}"
    );
    (outcome, heard)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_toggle_from_the_desk_phone_logs_in_and_out_and_the_agent_is_offered_callers() {
    let site = site(vec![agent("alice", "1001"), agent("bob", "1002")]).await;
    assert_eq!(site.view("alice").status, AgentStatus::LoggedOut);

    let record = site.dial("1001", &["agent=toggle"]).await;
    assert_eq!(told(&record), ("LOGGEDIN", vec!["sound:agent-loginok"]));
    assert_eq!(site.view("alice").status, AgentStatus::Available);
    assert_eq!(site.view("bob").status, AgentStatus::LoggedOut, "found by the endpoint");

    let record = site.dial("1001", &["agent=toggle"]).await;
    assert_eq!(told(&record), ("LOGGEDOUT", vec!["sound:agent-loggedoff"]));
    assert_eq!(site.view("alice").status, AgentStatus::LoggedOut);
    let record = site.dial("1001", &["agent=login"]).await;
    assert_eq!(told(&record).0, "LOGGEDIN");
    let record = site.dial("1001", &["agent=login"]).await;
    assert_eq!(told(&record).0, "LOGGEDIN", "already in: nothing journaled again");
    assert_eq!(site.presence(), ["alice in", "alice out", "alice in"]);

    // Logged in from the phone, alice is offered the next caller.
    let mut spec = CallSpec::new("starq", &["queue=support"], "5551000");
    spec.hangup_after = Some(Duration::from_secs(1));
    let caller = site.sim.node(0).expect("node").place_call(&spec).expect("call placed");
    let connected = || {
        site.sim.truth().callers().find(|c| c.caller == caller.caller).and_then(|c| c.agent.clone())
    };
    eventually("the caller is connected to alice", || connected().is_some()).await;
    assert_eq!(connected().as_deref(), Some("PJSIP/alice"));
    site.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pause_with_a_reason_in_one_queue_and_its_toggle() {
    let site = site(vec![agent("alice", "1001"), agent("bob", "1002")]).await;
    let record = site.dial("1001", &["agent=login", "id=bob"]).await;
    assert_eq!(told(&record).0, "LOGGEDIN");
    assert_eq!(site.view("bob").status, AgentStatus::Available, "id= before the endpoint");

    let args = ["agent=pause", "id=bob", "queue=support", "reason=lunch\u{7}"];
    let record = site.dial("1001", &args).await;
    assert_eq!(told(&record), ("PAUSED", vec!["sound:dictate/paused"]));
    let support = QueueId::new("support");
    assert_eq!(site.view("bob").paused, [(support.clone(), "lunch".to_owned())]);
    assert_eq!(site.view("bob").paused_all, None, "in that queue only");

    let record = site.dial("1002", &["agent=togglepause", "queue=support"]).await;
    assert_eq!(told(&record), ("UNPAUSED", vec!["sound:beep"]));
    assert!(site.view("bob").paused.is_empty());
    let record = site.dial("1002", &["agent=togglepause", "reason=meeting"]).await;
    assert_eq!(told(&record).0, "PAUSED");
    assert_eq!(site.view("bob").paused_all.as_deref(), Some("meeting"));
    assert_eq!(
        site.presence(),
        [
            "bob in",
            "bob paused Some(QueueId(\"support\")) \"lunch\"",
            "bob unpaused Some(QueueId(\"support\"))",
            "bob paused None \"meeting\"",
        ]
    );
    site.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_codes_change_nothing() {
    let mut carol = agent("carol", "1003");
    carol.pin = Some(Pin::new("0042"));
    let site = site(vec![agent("alice", "1001"), carol]).await;

    let record = site.dial("1003", &["agent=login", "pin=1111"]).await;
    assert_eq!(told(&record), ("BADPIN", vec!["sound:agent-incorrect"]));
    let record = site.dial("1003", &["agent=login"]).await;
    assert_eq!(told(&record).0, "BADPIN", "no PIN given");
    assert_eq!(site.view("carol").status, AgentStatus::LoggedOut);

    let record = site.dial("1009", &["agent=toggle"]).await;
    assert_eq!(told(&record), ("NOAGENT", vec!["sound:beeperr"]), "no agent at this phone");
    let record = site.dial("1001", &["agent=toggle", "id=zoe"]).await;
    assert_eq!(told(&record).0, "NOAGENT");
    let record = site.dial("1001", &["agent=dance"]).await;
    assert_eq!(told(&record).0, "INVALID");
    let record = site.dial("1001", &["agent=login", "colour=red"]).await;
    assert_eq!(told(&record).0, "INVALID");
    let record = site.dial("1001", &["agent=pause", "queue=sales"]).await;
    assert_eq!(told(&record).0, "INVALID", "not one of alice's queues");
    assert_eq!(site.view("alice").status, AgentStatus::LoggedOut);
    assert!(site.view("alice").paused_all.is_none() && site.view("alice").paused.is_empty());
    assert!(site.presence().is_empty(), "nothing journaled: {:?}", site.presence());

    let record = site.dial("1003", &["agent=login", "pin=0042"]).await;
    assert_eq!(told(&record).0, "LOGGEDIN");
    assert_eq!(site.presence(), ["carol in"]);
    site.stop().await;
}

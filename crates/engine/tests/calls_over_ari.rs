//! End to end over real HTTP and WebSocket: the shell with the memory store against simulated
//! Asterisk nodes, one scenario per feature. The simulator's ground truth (what callers and
//! phones experienced) must agree with what starq journaled.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{eventually, now_or_never};
use starq_core::config::{
    AgentConfig, AutoPause, AutoPauseScope, Contact, Destination, EmptyConditions, MemberCondition,
    Membership, Overflow, QueueConfig,
};
use starq_core::engine::Input;
use starq_core::journal::JournalEvent;
use starq_core::shared::AgentAction;
use starq_core::strategy::Strategy;
use starq_core::{NodeId, Outcome};
use starq_engine::{NodeSpec, Settings, ShellHandle};
use starq_sim::phones::PhoneScript;
use starq_sim::rng::Dist;
use starq_sim::truth::{CallerRecord, Outcome as Truth, RingResult};
use starq_sim::{CallSpec, Sim, SimConfig};
use starq_store::{AgentStatus, MemoryStore, Store};
use tokio::sync::oneshot;

struct Site {
    sim: Sim,
    store: Arc<MemoryStore>,
    shell: ShellHandle,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), starq_engine::EngineError>>,
}

fn agent(id: &str, queue: &str, contacts: &[(&str, &[&str])]) -> AgentConfig {
    let mut a = AgentConfig::new(id);
    a.memberships.push(Membership { queue: queue.into(), penalty: 0 });
    for (endpoint, nodes) in contacts {
        a.contacts.push(Contact {
            endpoint: endpoint.to_string(),
            nodes: nodes.iter().copied().map(NodeId::new).collect(),
        });
    }
    a
}

fn queue(name: &str) -> QueueConfig {
    let mut q = QueueConfig::new(name);
    q.ring_timeout = Duration::from_secs(2);
    q.retry = Duration::ZERO;
    q
}

fn settings() -> Settings {
    Settings {
        lease_ttl: Duration::from_millis(900),
        node_down_after: Duration::from_millis(500),
        drain_grace: Duration::from_secs(2),
        ..Settings::new("test")
    }
}

async fn site(
    nodes: usize,
    queues: Vec<QueueConfig>,
    agents: Vec<AgentConfig>,
    phones: Vec<PhoneScript>,
) -> Site {
    site_with(nodes, queues, agents, phones, settings()).await
}

async fn site_with(
    nodes: usize,
    queues: Vec<QueueConfig>,
    agents: Vec<AgentConfig>,
    phones: Vec<PhoneScript>,
    settings: Settings,
) -> Site {
    site_tuned(nodes, queues, agents, phones, settings, |_| {}).await
}

/// A site whose simulated Asterisk is set up by `tune` as well.
async fn site_tuned(
    nodes: usize,
    queues: Vec<QueueConfig>,
    agents: Vec<AgentConfig>,
    phones: Vec<PhoneScript>,
    settings: Settings,
    tune: impl FnOnce(&mut SimConfig),
) -> Site {
    let mut cfg = SimConfig::local(nodes, 7);
    cfg.phones = phones;
    cfg.node.continue_wait = Duration::from_millis(200);
    cfg.node.media.scale = 0.05;
    tune(&mut cfg);
    let sim = Sim::start(cfg).await.expect("simulator starts");
    let specs = sim
        .nodes()
        .iter()
        .map(|node| NodeSpec {
            id: NodeId::new(format!("node{}", node.index())),
            ari: node.ari_config("starq"),
        })
        .collect();
    let store = Arc::new(MemoryStore::new());
    let (stop, stopped) = oneshot::channel::<()>();
    let ids: Vec<_> = agents.iter().map(|a| a.id.clone()).collect();
    let (shell, task) =
        starq_engine::start(Arc::clone(&store), queues, agents, specs, settings, async {
            let _ = stopped.await;
        })
        .await
        .expect("shell starts");
    for agent in &ids {
        assert!(
            shell.send(Input::Agent { agent: agent.clone(), action: AgentAction::Login }).await
        );
    }
    // Calls placed next must find every agent logged in (the API and events are separate
    // inputs, and events are served first).
    eventually("every agent is logged in", || {
        ids.iter().all(|a| {
            let view = now_or_never(store.agent(a)).expect("store").expect("known agent");
            view.status != AgentStatus::LoggedOut
        })
    })
    .await;
    for node in sim.nodes() {
        eventually("starq holds the app", || node.has_consumer("starq")).await;
    }
    Site { sim, store, shell, stop: Some(stop), task }
}

impl Site {
    fn call(&self, node: usize, args: &[&str], script: impl FnOnce(&mut CallSpec)) -> String {
        let mut spec = CallSpec::new("starq", args, "5551000");
        script(&mut spec);
        let placed = self.sim.node(node).expect("node").place_call(&spec).expect("call placed");
        placed.channel_id
    }

    /// Places a caller on node 0 into `support` and waits until it is first in the queue.
    async fn queued_caller(&self) -> String {
        let channel = self.call(0, &["queue=support"], |_| {});
        let call = starq_core::CallId::of_channel(&NodeId::new("node0"), &channel, 0);
        eventually("the caller waits", || {
            now_or_never(self.store.position(&call)).ok().flatten() == Some(1)
        })
        .await;
        channel
    }

    async fn all_ended(&self) -> Vec<CallerRecord> {
        eventually("every caller has ended", || {
            self.sim.truth().callers().all(|c| c.outcome.is_some())
        })
        .await;
        self.sim.truth().callers().cloned().collect()
    }

    fn journal(&self) -> Vec<JournalEvent> {
        let entries = now_or_never(self.store.read_journal("test", 10_000)).expect("journal");
        entries.into_iter().map(|e| e.event).collect()
    }

    fn left(&self) -> Vec<Outcome> {
        self.journal()
            .into_iter()
            .filter_map(|e| match e {
                JournalEvent::Left { outcome, .. } | JournalEvent::Refused { outcome, .. } => {
                    Some(outcome)
                }
                _ => None,
            })
            .collect()
    }

    fn agent_status(&self, agent: &str) -> AgentStatus {
        now_or_never(self.store.agent(&agent.into())).expect("store").expect("known agent").status
    }

    /// Stops starq (drain, leases released) and checks the nodes; the simulator and the store
    /// stay for inspection.
    async fn stop(mut self) -> (Sim, Arc<MemoryStore>) {
        let _ = self.stop.take().expect("running").send(());
        self.task.await.expect("no panic").expect("clean stop");
        for node in self.sim.nodes().iter().filter(|n| n.is_alive()) {
            node.check_invariants().expect("simulated node invariants");
        }
        (self.sim, self.store)
    }
}

fn continued_to(caller: &CallerRecord) -> Option<(String, String, i64)> {
    match &caller.outcome {
        Some(Truth::Continued { context, exten, priority }) => {
            Some((context.clone(), exten.clone(), *priority))
        }
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_is_answered_queued_connected_and_completed() {
    let phone = PhoneScript::answering("PJSIP/alice", 50, 300);
    let site = site(
        1,
        vec![queue("support")],
        vec![agent("alice", "support", &[("PJSIP/alice", &[])])],
        vec![phone],
    )
    .await;
    site.call(0, &["queue=support"], |_| {});
    let callers = site.all_ended().await;
    assert!(callers[0].moh_starts >= 1, "the caller heard music on hold: {:?}", callers[0]);
    assert_eq!(callers[0].agent.as_deref(), Some("PJSIP/alice"));
    assert_eq!(callers[0].outcome, Some(Truth::AgentHungUp));
    let completed = site.journal().into_iter().find_map(|e| match e {
        JournalEvent::Completed { agent, talk, .. } => Some((agent, talk)),
        _ => None,
    });
    let (agent, talk) = completed.expect("starq journaled the completed call");
    assert_eq!(agent.as_str(), "alice");
    assert!(talk >= Duration::from_millis(250), "talk {talk:?} matches the phone's 300 ms");
    // The API reaches the store through the shell.
    assert!(
        site.shell.send(Input::Agent { agent: "alice".into(), action: AgentAction::Logout }).await
    );
    eventually("alice is logged out", || site.agent_status("alice") == AgentStatus::LoggedOut)
        .await;
    site.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_arguments_and_unknown_queues_go_back_to_the_dialplan() {
    let site = site(1, vec![queue("support")], vec![], vec![]).await;
    site.call(0, &["queue=nope"], |_| {});
    site.call(0, &["queue=support", "prio=3"], |_| {});
    for caller in site.all_ended().await {
        assert!(continued_to(&caller).is_some(), "{caller:?}");
    }
    assert!(site.journal().is_empty(), "neither entered a queue");
    site.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_who_hangs_up_while_waiting_is_an_abandon() {
    let site = site(1, vec![queue("support")], vec![], vec![]).await;
    site.call(0, &["queue=support"], |c| c.patience = Some(Duration::from_millis(300)));
    let callers = site.all_ended().await;
    assert_eq!(callers[0].outcome, Some(Truth::Abandoned));
    eventually("starq journals the abandon", || site.left() == [Outcome::Abandoned]).await;
    site.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_moves_the_caller_to_the_backup_queue_then_to_voicemail() {
    let mut main = queue("main");
    main.max_wait = Some(Duration::from_secs(1));
    main.on_timeout = Overflow::Queue("backup".into());
    let mut backup = queue("backup");
    backup.max_wait = Some(Duration::from_secs(1));
    backup.on_timeout = Overflow::Dialplan(Some(Destination {
        context: "voicemail".into(),
        extension: "100".into(),
        priority: 1,
    }));
    let site = site(1, vec![main, backup], vec![], vec![]).await;
    site.call(0, &["queue=main"], |_| {});
    let callers = site.all_ended().await;
    assert_eq!(continued_to(&callers[0]), Some(("voicemail".into(), "100".into(), 1)));
    assert!(
        !callers[0].moh_after_stasis,
        "music on hold stopped before the caller went on to voicemail: {:?}",
        callers[0]
    );
    assert_eq!(
        site.left(),
        [Outcome::Timeout, Outcome::Timeout],
        "one timeout per queue of the chain"
    );
    site.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exit_key_continues_in_the_exit_context() {
    let mut q = queue("support");
    q.exit_context = Some("exits".into());
    let site = site(1, vec![q], vec![], vec![]).await;
    site.call(0, &["queue=support"], |c| c.dtmf = vec![(Duration::from_millis(300), '5')]);
    let callers = site.all_ended().await;
    assert_eq!(continued_to(&callers[0]), Some(("exits".into(), "5".into(), 1)));
    assert!(!callers[0].moh_after_stasis, "{:?}", callers[0]);
    assert_eq!(site.left(), [Outcome::ExitWithKey('5')]);
    site.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_queue_refuses_callers_when_told_to() {
    let mut q = queue("support");
    q.join_empty = EmptyConditions::of(&[MemberCondition::Paused]);
    let site = site(1, vec![q], vec![], vec![]).await;
    site.call(0, &["queue=support"], |_| {});
    let callers = site.all_ended().await;
    assert!(continued_to(&callers[0]).is_some(), "{:?}", callers[0]);
    assert_eq!(site.left(), [Outcome::JoinEmpty]);
    site.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ringall_connects_the_first_to_answer_and_stops_the_others() {
    let mut q = queue("sales");
    q.strategy = Strategy::RingAll;
    let fast = PhoneScript::answering("PJSIP/fast", 100, 400);
    let slow = PhoneScript::answering("PJSIP/slow", 1_500, 400);
    let agents = vec![
        agent("fast", "sales", &[("PJSIP/fast", &[])]),
        agent("slow", "sales", &[("PJSIP/slow", &[])]),
    ];
    let site = site(1, vec![q], agents, vec![fast, slow]).await;
    site.call(0, &["queue=sales"], |_| {});
    let callers = site.all_ended().await;
    assert_eq!(callers[0].agent.as_deref(), Some("PJSIP/fast"));
    let truth = site.sim.truth();
    let slow_ring = truth.rings().iter().find(|r| r.agent == "PJSIP/slow").expect("slow rang too");
    assert_eq!(
        slow_ring.result,
        RingResult::NotAnswered,
        "the slow phone stopped ringing unanswered"
    );
    site.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_is_reached_through_the_account_on_the_callers_node() {
    let mut main_only = PhoneScript::answering("PJSIP/alice-main", 50, 300);
    main_only.nodes = Some([0].into());
    let mut backup_only = PhoneScript::answering("PJSIP/alice-backup", 50, 300);
    backup_only.nodes = Some([1].into());
    let alice = agent(
        "alice",
        "support",
        &[("PJSIP/alice-main", &["node0"]), ("PJSIP/alice-backup", &["node1"])],
    );
    let site = site(2, vec![queue("support")], vec![alice], vec![main_only, backup_only]).await;
    site.call(1, &["queue=support"], |_| {});
    let callers = site.all_ended().await;
    assert_eq!(
        callers[0].agent.as_deref(),
        Some("PJSIP/alice-backup"),
        "rung through the backup server"
    );
    site.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_who_does_not_answer_is_auto_paused() {
    let mut q = queue("support");
    q.ring_timeout = Duration::from_secs(1);
    q.max_wait = Some(Duration::from_secs(3));
    q.autopause = AutoPause {
        scope: Some(AutoPauseScope::AllQueues),
        after_misses: 1,
        on_busy: false,
        on_unavailable: false,
    };
    let mut deaf = PhoneScript::answering("PJSIP/deaf", 0, 0);
    deaf.answer_probability = 0.0;
    let site =
        site(1, vec![q], vec![agent("deaf", "support", &[("PJSIP/deaf", &[])])], vec![deaf]).await;
    site.call(0, &["queue=support"], |_| {});
    let callers = site.all_ended().await;
    assert!(continued_to(&callers[0]).is_some(), "timed out to the dialplan: {:?}", callers[0]);
    let paused =
        site.journal().into_iter().any(|e| matches!(e, JournalEvent::Paused { auto: true, .. }));
    assert!(paused, "auto-pause journaled");
    let view = now_or_never(site.store.agent(&"deaf".into())).expect("store").expect("known");
    assert_eq!(view.paused_all.as_deref(), Some("auto"));
    site.stop().await;
}

/// One agent, alice, whose calls last a minute unless the caller ends them; no wrap-up.
async fn long_talk_site() -> Site {
    let phone = PhoneScript {
        talk_time: Dist::fixed(60_000),
        ..PhoneScript::answering("PJSIP/alice", 50, 0)
    };
    let mut q = queue("support");
    q.wrapup = Duration::ZERO;
    site(1, vec![q], vec![agent("alice", "support", &[("PJSIP/alice", &[])])], vec![phone]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_a_node_ends_its_calls_and_frees_its_agents() {
    let site = long_talk_site().await;
    site.call(0, &["queue=support"], |_| {});
    eventually("alice is on the call", || {
        matches!(site.agent_status("alice"), AgentStatus::OnCall(_))
    })
    .await;
    site.sim.node(0).expect("node").kill();
    eventually("starq declares the node lost", || site.left() == [Outcome::NodeLost]).await;
    assert_eq!(
        site.agent_status("alice"),
        AgentStatus::Available,
        "alice is free for calls elsewhere"
    );
    site.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hangup_missed_during_a_websocket_drop_is_found_by_reconciling() {
    let site = site(1, vec![queue("support")], vec![], vec![]).await;
    let channel = site.queued_caller().await;
    let node = site.sim.node(0).expect("node").clone();
    node.pause_events(true);
    node.drop_websockets();
    node.caller_hangup(&channel).expect("hang up");
    node.pause_events(false);
    eventually("the abandon is journaled after the reconnect", || {
        site.left() == [Outcome::Abandoned]
    })
    .await;
    site.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_channel_id_on_two_nodes_is_two_callers() {
    let phones = vec![
        PhoneScript::answering("PJSIP/a", 50, 300),
        PhoneScript::answering("PJSIP/b", 50, 300),
    ];
    let agents = vec![
        agent("a", "support", &[("PJSIP/a", &[])]),
        agent("b", "support", &[("PJSIP/b", &[])]),
    ];
    let site = site(2, vec![queue("support")], agents, phones).await;
    let first = site.call(0, &["queue=support"], |_| {});
    let second = site.call(1, &["queue=support"], |_| {});
    // Asterisk servers without `systemname` number their channels alike.
    assert_eq!(first, second, "the simulated nodes give both callers the same channel id");
    let callers = site.all_ended().await;
    assert!(callers.iter().all(|c| c.outcome == Some(Truth::AgentHungUp)), "{callers:?}");
    let completed =
        site.journal().into_iter().filter(|e| matches!(e, JournalEvent::Completed { .. })).count();
    assert_eq!(completed, 2);
    site.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_leaves_waiting_callers_in_asterisk_and_frees_the_node() {
    let site = site(1, vec![queue("support")], vec![], vec![]).await;
    site.queued_caller().await;
    let (sim, store) = site.stop().await;
    let caller = sim.truth().callers().next().cloned().expect("the caller");
    assert_eq!(
        caller.outcome, None,
        "still in Asterisk, on hold, for the next instance: {caller:?}"
    );
    let ttl = Duration::from_secs(3);
    let taken = now_or_never(store.acquire_lease(
        &NodeId::new("node0"),
        "next-instance",
        starq_core::Time(1),
        ttl,
    ));
    assert!(taken.expect("store").is_some(), "the lease was given up at once");
}

/// Ringall over four agents whose phones answer after `answer_ms`, with `rate` legs a second.
async fn paced_ringall(answer_ms: u64, rate: u32) -> Site {
    let phones: Vec<PhoneScript> =
        (0..4).map(|i| PhoneScript::answering(format!("PJSIP/p{i}"), answer_ms, 200)).collect();
    let agents: Vec<AgentConfig> = (0..4)
        .map(|i| agent(&format!("p{i}"), "support", &[(format!("PJSIP/p{i}").as_str(), &[])]))
        .collect();
    let mut q = queue("support");
    q.strategy = Strategy::RingAll;
    q.ring_timeout = Duration::from_secs(5);
    let site =
        site_with(1, vec![q], agents, phones, Settings { originates_per_sec: rate, ..settings() })
            .await;
    site.call(0, &["queue=support"], |_| {});
    site
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_legs_are_paced_per_node() {
    // Phones answer after two seconds: by then every leg has had its slot.
    let site = paced_ringall(2_000, 4).await;
    let callers = site.all_ended().await;
    assert_eq!(callers[0].outcome, Some(Truth::AgentHungUp));
    let mut rang: Vec<u64> = site.sim.truth().rings().iter().map(|r| r.at_ms).collect();
    rang.sort_unstable();
    // Ringall offers all four at once; at 4 legs a second they reach Asterisk 250 ms apart.
    assert_eq!(rang.len(), 4, "{rang:?}");
    for pair in rang.windows(2) {
        assert!(pair[1] - pair[0] >= 200, "legs 250 ms apart: {rang:?}");
    }
    site.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paced_leg_no_longer_needed_is_never_created() {
    // One leg a second: the first phone answers long before the second slot.
    let site = paced_ringall(50, 1).await;
    let callers = site.all_ended().await;
    assert_eq!(
        callers[0].outcome,
        Some(Truth::AgentHungUp),
        "bridged at once, not behind paced legs"
    );
    assert_eq!(
        site.sim.truth().rings().len(),
        1,
        "the first phone answered before the others' slots"
    );
    site.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_sends_the_next_caller_back() {
    let mut q = queue("support");
    q.max_len = Some(1);
    let site = site(1, vec![q], vec![], vec![]).await;
    site.call(0, &["queue=support"], |c| c.patience = Some(Duration::from_millis(1_500)));
    eventually("the first caller is queued", || {
        site.journal().iter().any(|e| matches!(e, JournalEvent::Entered { .. }))
    })
    .await;
    site.call(0, &["queue=support"], |_| {});
    let callers = site.all_ended().await;
    assert!(continued_to(&callers[1]).is_some(), "the second caller went back: {:?}", callers[1]);
    // The first caller's hang-up reaches the journal a moment after the simulator saw it.
    eventually("both ends are journaled", || site.left().len() == 2).await;
    assert_eq!(site.left(), [Outcome::Full, Outcome::Abandoned]);
    site.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_callers_leave_when_the_last_agent_pauses() {
    let mut q = queue("support");
    q.leave_empty = EmptyConditions::of(&[MemberCondition::Paused]);
    q.retry = Duration::from_secs(10);
    let busy = PhoneScript { busy: true, ..PhoneScript::answering("PJSIP/bob", 0, 0) };
    let site =
        site(1, vec![q], vec![agent("bob", "support", &[("PJSIP/bob", &[])])], vec![busy]).await;
    site.call(0, &["queue=support"], |_| {});
    eventually("bob's phone was busy", || {
        site.journal().iter().any(|e| matches!(e, JournalEvent::Missed { .. }))
    })
    .await;
    let pause = AgentAction::Pause { queue: None, reason: "lunch".into() };
    assert!(site.shell.send(Input::Agent { agent: "bob".into(), action: pause }).await);
    let callers = site.all_ended().await;
    assert!(continued_to(&callers[0]).is_some(), "{:?}", callers[0]);
    assert_eq!(site.left(), [Outcome::LeaveUnavail]);
    site.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_who_hangs_up_during_the_call_completes_it() {
    let site = long_talk_site().await;
    site.call(0, &["queue=support"], |c| c.hangup_after = Some(Duration::from_millis(1_500)));
    let callers = site.all_ended().await;
    assert_eq!(callers[0].outcome, Some(Truth::CallerHungUp));
    eventually("the completion is journaled", || {
        site.journal().iter().any(|e| {
            matches!(e, JournalEvent::Completed { by: starq_core::shared::Party::Caller, .. })
        })
    })
    .await;
    eventually("alice is free again", || site.agent_status("alice") == AgentStatus::Available)
        .await;
    site.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_strategy_routes_calls_end_to_end() {
    for strategy in Strategy::ALL {
        let mut q = queue("support");
        q.strategy = strategy;
        let phones = vec![
            PhoneScript::answering("PJSIP/a", 50, 150),
            PhoneScript::answering("PJSIP/b", 50, 150),
        ];
        let agents = vec![
            agent("a", "support", &[("PJSIP/a", &[])]),
            agent("b", "support", &[("PJSIP/b", &[])]),
        ];
        let site = site(1, vec![q], agents, phones).await;
        site.call(0, &["queue=support"], |_| {});
        site.call(0, &["queue=support"], |_| {});
        let callers = site.all_ended().await;
        assert!(
            callers.iter().all(|c| c.outcome == Some(Truth::AgentHungUp)),
            "{strategy}: {callers:?}"
        );
        site.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrap_up_holds_the_agent_between_calls() {
    let mut q = queue("support");
    q.wrapup = Duration::from_secs(1);
    let phone = PhoneScript::answering("PJSIP/alice", 50, 200);
    let site =
        site(1, vec![q], vec![agent("alice", "support", &[("PJSIP/alice", &[])])], vec![phone])
            .await;
    site.call(0, &["queue=support"], |_| {});
    site.call(0, &["queue=support"], |_| {});
    let callers = site.all_ended().await;
    let first_end = callers[0].ended_ms.expect("ended");
    let second_connect = callers[1].connected_ms.expect("the second caller was answered");
    assert!(
        second_connect >= first_end + 900,
        "wrap-up of 1 s: ended {first_end}, next at {second_connect}"
    );
    site.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_penalty_rule_brings_a_higher_tier_in_after_its_time() {
    let mut q = queue("support");
    q.rule = starq_core::config::PenaltyRule::new(vec![
        "0,0".parse().expect("step"),
        "1,5".parse().expect("step"),
    ]);
    let mut senior = agent("senior", "support", &[("PJSIP/senior", &[])]);
    senior.memberships[0].penalty = 2;
    let phone = PhoneScript::answering("PJSIP/senior", 50, 200);
    let site = site(1, vec![q], vec![senior], vec![phone]).await;
    site.call(0, &["queue=support"], |_| {});
    let callers = site.all_ended().await;
    let waited = callers[0].connected_ms.expect("answered") - callers[0].entered_ms;
    assert!(waited >= 900, "penalty 2 is out of reach for the first second, waited {waited} ms");
    site.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_who_hangs_up_while_an_agent_rings_is_an_abandon_and_the_ring_stops() {
    let mut q = queue("support");
    q.ring_timeout = Duration::from_secs(5);
    let slow = PhoneScript::answering("PJSIP/alice", 3_000, 200);
    let site =
        site(1, vec![q], vec![agent("alice", "support", &[("PJSIP/alice", &[])])], vec![slow])
            .await;
    site.call(0, &["queue=support"], |c| c.patience = Some(Duration::from_millis(500)));
    let callers = site.all_ended().await;
    assert_eq!(callers[0].outcome, Some(Truth::Abandoned));
    eventually("the abandon is journaled", || site.left() == [Outcome::Abandoned]).await;
    eventually("the agent's phone stopped ringing", || {
        site.sim
            .truth()
            .rings()
            .iter()
            .all(|r| r.result == RingResult::NotAnswered && r.ended_ms.is_some())
    })
    .await;
    eventually("alice is free", || site.agent_status("alice") == AgentStatus::Available).await;
    site.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_agent_leg_starq_creates_rings() {
    // Asterisk puts a created channel into the app only after answering the create: a dial
    // sent on that answer alone meets 409 and the phone never rings. Here the simulator takes
    // up to 20 ms, so a dial that does not wait for the leg's StasisStart always fails.
    let agents: Vec<AgentConfig> = (1..=4)
        .map(|n| agent(&format!("a{n}"), "support", &[(&format!("PJSIP/a{n}"), &[])]))
        .collect();
    let phones: Vec<PhoneScript> =
        (1..=4).map(|n| PhoneScript::answering(format!("PJSIP/a{n}"), 20, 150)).collect();
    // One agent per offer (ringall's losing legs may be hung up before they are dialed).
    let mut q = queue("support");
    q.strategy = Strategy::LeastRecent;
    let site = site_tuned(1, vec![q], agents, phones, settings(), |cfg| {
        cfg.node.stasis_entry_delay = (Duration::from_millis(5), Duration::from_millis(20));
    })
    .await;
    for _ in 0..12 {
        site.call(0, &["queue=support"], |_| {});
    }
    let callers = site.all_ended().await;
    assert!(callers.iter().all(|c| c.agent.is_some()), "every caller reached an agent");
    let journal = site.journal();
    let offers = journal.iter().filter(|e| matches!(e, JournalEvent::Offered { .. })).count();
    let missed: Vec<_> =
        journal.iter().filter(|e| matches!(e, JournalEvent::Missed { .. })).collect();
    assert!(missed.is_empty(), "no phone missed a call: {missed:?}");
    assert_eq!(site.sim.truth().rings().len(), offers, "every offer's leg rang");
    site.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_phone_is_given_back_at_once_not_at_the_ring_timeout() {
    // `Busy()` with no timeout: Asterisk sends `Dial BUSY` at once and leaves the leg up until
    // the dial timeout. starq must take the busy at its word.
    let mut q = queue("support");
    q.ring_timeout = Duration::from_secs(5);
    q.strategy = Strategy::Linear;
    let agents = vec![
        agent("busy", "support", &[("Local/1@busy", &[])]),
        agent("free", "support", &[("Local/2@agents", &[])]),
    ];
    let site = site_tuned(1, vec![q], agents, vec![], settings(), |cfg| {
        cfg.node.busy_hold = None;
        cfg.node.agents_talk = Duration::from_millis(300);
    })
    .await;
    site.call(0, &["queue=support"], |_| {});
    let callers = site.all_ended().await;
    assert_eq!(callers[0].agent.as_deref(), Some("Local/2@agents"));
    let wait = callers[0].connected_ms.unwrap() - callers[0].entered_ms;
    assert!(wait < 2_000, "served {wait} ms after entering: the busy phone was not rung out");
    let missed = site.journal().into_iter().find_map(|e| match e {
        JournalEvent::Missed { agent, miss, rang, .. } => Some((agent, miss, rang)),
        _ => None,
    });
    let (agent, miss, rang) = missed.expect("the busy agent's miss is journaled");
    assert_eq!((agent.as_str(), miss), ("busy", starq_core::shared::Miss::Busy));
    assert!(rang < Duration::from_secs(1), "rang {rang:?}");
    let truth = site.sim.truth();
    let busy_leg = truth.rings().iter().find(|r| r.agent == "Local/1@busy").expect("rang");
    let ended = busy_leg.ended_ms.expect("the busy leg was hung up");
    assert!(ended - busy_leg.at_ms < 1_000, "hung up by starq, not at the dial timeout");
    site.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_box_restarted_with_callers_on_hold_serves_them_in_order_of_arrival() {
    // starq with its embedded store dies (kill -9) while five callers wait. Asterisk keeps
    // them in the app; the restarted starq has an empty store. It must take them back in the
    // order they came, with their hold time, and without journaling their entry again.
    let q = queue("support");
    let alice = agent("alice", "support", &[("PJSIP/alice", &[])]);
    let phone = PhoneScript::answering("PJSIP/alice", 20, 100);
    let site = site(1, vec![q.clone()], vec![alice.clone()], vec![phone]).await;
    let logout = Input::Agent { agent: "alice".into(), action: AgentAction::Logout };
    assert!(site.shell.send(logout).await);
    eventually("alice is out", || site.agent_status("alice") == AgentStatus::LoggedOut).await;
    let mut order = Vec::new();
    for _ in 0..5 {
        order.push(site.call(0, &["queue=support"], |_| {}));
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    let node0 = NodeId::new("node0");
    eventually("five callers wait", || {
        order.iter().all(|c| {
            now_or_never(site.store.position(&starq_core::CallId::of_channel(&node0, c, 0)))
                .ok()
                .flatten()
                .is_some()
        })
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let first_journal = site.journal();
    site.task.abort();
    let _ = site.task.await;
    // The restart: a new process, an empty embedded store, the same Asterisk.
    let store = Arc::new(MemoryStore::new());
    let spec =
        NodeSpec { id: node0.clone(), ari: site.sim.node(0).expect("node").ari_config("starq") };
    let (shell, task) = starq_engine::start(
        Arc::clone(&store),
        vec![q],
        vec![alice],
        vec![spec],
        Settings { instance: "restarted".into(), ..settings() },
        std::future::pending(),
    )
    .await
    .expect("restarted");
    let calls: Vec<_> =
        order.iter().map(|c| starq_core::CallId::of_channel(&node0, c, 0)).collect();
    eventually("the restarted starq took the five callers back", || {
        calls.iter().all(|c| now_or_never(store.position(c)).ok().flatten().is_some())
    })
    .await;
    let positions: Vec<u32> =
        calls.iter().map(|c| now_or_never(store.position(c)).unwrap().unwrap()).collect();
    assert_eq!(positions, [1, 2, 3, 4, 5], "the order they arrived in");
    assert!(shell.send(Input::Agent { agent: "alice".into(), action: AgentAction::Login }).await);
    let journal = || {
        let entries = now_or_never(store.read_journal("test", 10_000)).expect("journal");
        entries.into_iter().map(|e| e.event).collect::<Vec<_>>()
    };
    eventually("all five are served", || {
        journal().iter().filter(|e| matches!(e, JournalEvent::Completed { .. })).count() == 5
    })
    .await;
    let served: Vec<String> = journal()
        .into_iter()
        .filter_map(|e| match e {
            JournalEvent::Connected { call, hold, .. } => {
                assert!(hold >= Duration::from_millis(300), "{call}: hold {hold:?} kept");
                Some(call.to_string())
            }
            _ => None,
        })
        .collect();
    let expected: Vec<String> = calls.iter().map(ToString::to_string).collect();
    assert_eq!(served, expected);
    let resumed = journal()
        .into_iter()
        .filter(|e| matches!(e, JournalEvent::Entered { resumed: Some(_), .. }))
        .count();
    assert_eq!(resumed, 5, "their entries are resumed, not new");
    let entered_before =
        first_journal.iter().filter(|e| matches!(e, JournalEvent::Entered { .. })).count();
    assert_eq!(entered_before, 5);
    task.abort();
    drop(shell);
}

/// A plausible misconfiguration a probe found on a real Asterisk: two instances with embedded
/// stores on one node took the app from each other about once a second, and one kept sending
/// requests after being replaced (an agent bridged to two callers). Now the instance replaced
/// while its own store says the node is still its own stops at once, says why, and never takes
/// the node back: one replacement, then one owner.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_instance_with_its_own_store_is_never_fought_over_the_app() {
    let phone = PhoneScript::answering("PJSIP/alice", 50, 300);
    let alice = agent("alice", "support", &[("PJSIP/alice", &[])]);
    let first = site(1, vec![queue("support")], vec![alice.clone()], vec![phone]).await;
    let node = first.sim.node(0).expect("node").clone();
    let spec = NodeSpec { id: NodeId::new("node0"), ari: node.ari_config("starq") };
    let other_store = Arc::new(MemoryStore::new());
    let (stop_second, stopped) = oneshot::channel::<()>();
    let second_settings = Settings { instance: "stranger".into(), ..settings() };
    let (second, second_task) = starq_engine::start(
        Arc::clone(&other_store),
        vec![queue("support")],
        vec![alice],
        vec![spec],
        second_settings,
        async {
            let _ = stopped.await;
        },
    )
    .await
    .expect("the second instance starts");
    let refused = |shell: &ShellHandle| {
        shell.health().nodes.get("node0") == Some(&starq_engine::NodeHealth::Refused)
    };
    eventually("the replaced instance refuses the node", || refused(&first.shell)).await;
    // Several leases later nothing has moved: no instance took the app back.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(refused(&first.shell), "{:?}", first.shell.health());
    assert_eq!(
        second.health().nodes.get("node0"),
        Some(&starq_engine::NodeHealth::Connected),
        "the newcomer keeps the node"
    );
    // The one owner serves callers alone.
    assert!(second.send(Input::Agent { agent: "alice".into(), action: AgentAction::Login }).await);
    eventually("alice logs in with the newcomer", || {
        now_or_never(other_store.agent(&"alice".into()))
            .ok()
            .flatten()
            .is_some_and(|a| a.status != AgentStatus::LoggedOut)
    })
    .await;
    first.call(0, &["queue=support"], |_| {});
    let callers = first.all_ended().await;
    assert_eq!(callers.len(), 1);
    assert_eq!(callers[0].outcome, Some(Truth::AgentHungUp), "{:?}", callers[0]);
    assert_eq!(callers[0].agent.as_deref(), Some("PJSIP/alice"));
    let _ = stop_second.send(());
    second_task.await.expect("no panic").expect("clean stop");
    first.stop().await;
}

//! End to end with the Redis store: the same engine over ARI against the simulator, with shared
//! state in a private `redis-server` (started on an ephemeral port for this test binary).

#[path = "../../store/tests/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::time::Duration;

use starq_ari::rest::CreateChannel;
use starq_ari::{AriClient, RestLimits};
use starq_core::config::{AgentConfig, Contact, Membership, QueueConfig};
use starq_core::engine::Input;
use starq_core::journal::JournalEvent;
use starq_core::shared::{AgentAction, Miss, Notice, Request};
use starq_core::{NodeId, Outcome, Time};
use starq_engine::{NodeSpec, Settings};
use starq_sim::phones::PhoneScript;
use starq_sim::truth::Outcome as Truth;
use starq_sim::{CallSpec, Sim, SimConfig};
use starq_store::{AgentStatus, RedisStore, Store};
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

/// One engine over the Redis store and one node, until [`Running::stop`].
struct Running {
    shell: starq_engine::ShellHandle,
    task: tokio::task::JoinHandle<Result<(), starq_engine::EngineError>>,
    stop: oneshot::Sender<()>,
}

impl Running {
    async fn start(
        store: &Arc<RedisStore>,
        queues: &[QueueConfig],
        alice: &AgentConfig,
        spec: &NodeSpec,
        settings: Settings,
    ) -> Running {
        let (stop, stopped) = oneshot::channel::<()>();
        let (shell, task) = starq_engine::start(
            Arc::clone(store),
            queues.to_vec(),
            vec![alice.clone()],
            vec![spec.clone()],
            settings,
            async {
                let _ = stopped.await;
            },
        )
        .await
        .expect("the engine starts over Redis");
        Running { shell, task, stop }
    }

    /// Shuts it down gracefully and waits until it has.
    async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.expect("no panic").expect("clean stop");
    }
}

/// A first run takes a caller, then stops with nobody logged in: the caller stays queued in
/// the store, on hold in Asterisk.
async fn leave_a_caller_waiting(
    store: &Arc<RedisStore>,
    queues: &[QueueConfig],
    node: &starq_sim::server::NodeHandle,
    alice: &AgentConfig,
    spec: &NodeSpec,
    settings: Settings,
) {
    let first = Running::start(store, queues, alice, spec, settings).await;
    wait_for_consumer(node).await;
    node.place_call(&CallSpec::new("starq", &["queue=support"], "5551")).expect("placed");
    tokio::time::sleep(Duration::from_millis(300)).await;
    first.stop().await;
}

async fn wait_for_consumer(node: &starq_sim::server::NodeHandle) {
    for _ in 0..300 {
        if node.has_consumer("starq") {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("starq never connected to the node");
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
    let run = Running::start(&store, &[queue], &alice, &spec, settings).await;
    run.shell.send(Input::Agent { agent: "alice".into(), action: AgentAction::Login }).await;
    wait_for_consumer(&node).await;
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
    run.stop().await;
    node.check_invariants().expect("simulated node invariants");
}

/// Polls the journal until `done` holds, for up to 5 s; returns the last read.
async fn journal_until(
    store: &RedisStore,
    done: impl Fn(&[JournalEvent]) -> bool,
) -> Vec<JournalEvent> {
    let mut events = Vec::new();
    for _ in 0..500 {
        events = journal(store).await;
        if done(&events) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    events
}

fn completed(events: &[JournalEvent]) -> bool {
    events.iter().any(|e| matches!(e, JournalEvent::Completed { .. }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_left_waiting_by_an_earlier_run_is_adopted_and_served() {
    let redis = support::RedisServer::start_with(false);
    let store = Arc::new(redis.store().await);
    let (_sim, node, spec, alice) = node_with_alice(4).await;
    let settings = Settings { drain_grace: Duration::from_millis(200), ..Settings::new("first") };
    let queues = [QueueConfig::new("support")];
    leave_a_caller_waiting(&store, &queues, &node, &alice, &spec, settings.clone()).await;
    // A second run logs alice in at once, maybe before it adopted the caller: the offer waits
    // for the adoption, then alice is rung and the caller served.
    let second = Settings { instance: "second".into(), ..settings };
    let run = Running::start(&store, &queues, &alice, &spec, second).await;
    run.shell.send(Input::Agent { agent: "alice".into(), action: AgentAction::Login }).await;
    let events = journal_until(&store, completed).await;
    assert!(completed(&events), "the adopted caller is served: {events:?}");
    let ended: Vec<&JournalEvent> = events.iter().filter(|e| e.terminal_call().is_some()).collect();
    assert_eq!(ended.len(), 1, "one end, a completion: {events:?}");
    let offers = events.iter().filter(|e| matches!(e, JournalEvent::Offered { .. })).count();
    assert_eq!(offers, 1, "alice is rung once");
    run.stop().await;
    node.check_invariants().expect("simulated node invariants");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_instance_takes_over_a_dead_ones_node_and_serves_its_callers() {
    let redis = support::RedisServer::start_with(false);
    let store = Arc::new(redis.store().await);
    let (_sim, node, spec, alice) = node_with_alice(5).await;
    let lease_ttl = Duration::from_millis(900);
    let settings = Settings { lease_ttl, ..Settings::new("first") };
    let queues = [QueueConfig::new("support")];
    let first = Running::start(&store, &queues, &alice, &spec, settings.clone()).await;
    wait_for_consumer(&node).await;
    // The second instance finds the node taken and stands by.
    let second = Settings { instance: "second".into(), ..settings };
    let run = Running::start(&store, &queues, &alice, &spec, second).await;
    node.place_call(&CallSpec::new("starq", &["queue=support"], "5551")).expect("placed");
    tokio::time::sleep(Duration::from_millis(200)).await;
    // The first instance dies without a word: its lease lapses and the second takes over.
    first.task.abort();
    let died = std::time::Instant::now();
    run.shell.send(Input::Agent { agent: "alice".into(), action: AgentAction::Login }).await;
    let events = journal_until(&store, completed).await;
    assert!(completed(&events), "the waiting caller is served by the new owner: {events:?}");
    let ended: Vec<&JournalEvent> = events.iter().filter(|e| e.terminal_call().is_some()).collect();
    assert_eq!(ended.len(), 1, "one end, a completion: {ended:?}");
    // Alice's login, made through the standby instance, offered the caller to the dead
    // owner's node: nobody rang it until the takeover rang it, at no cost to her.
    assert!(
        events
            .iter()
            .all(|e| !matches!(e, JournalEvent::Missed { miss, .. } if *miss != Miss::Failed)),
        "{events:?}"
    );
    assert!(died.elapsed() < Duration::from_secs(5), "served within the lease and a reconnect");
    run.stop().await;
    node.check_invariants().expect("simulated node invariants");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routing_pauses_while_redis_is_away_and_resumes_when_it_returns() {
    let mut redis = support::RedisServer::start_with(true);
    let store = Arc::new(redis.store().await);
    let (_sim, node, spec, alice) = node_with_alice(6).await;
    let queues = [QueueConfig::new("support")];
    let run = Running::start(&store, &queues, &alice, &spec, Settings::new("only")).await;
    run.shell.send(Input::Agent { agent: "alice".into(), action: AgentAction::Login }).await;
    wait_for_consumer(&node).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(run.shell.health().ready(), "{:?}", run.shell.health());
    redis.stop();
    node.place_call(&CallSpec::new("starq", &["queue=support"], "5551")).expect("placed");
    let mut health = run.shell.health();
    for _ in 0..300 {
        if !health.store_available {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        health = run.shell.health();
    }
    assert!(!health.store_available && !health.ready(), "routing paused: {health:?}");
    assert!(health.store_error.is_some());
    tokio::time::sleep(Duration::from_millis(500)).await;
    redis.restart();
    let events = journal_until(&store, completed).await;
    assert!(completed(&events), "the caller held through the outage is served: {events:?}");
    assert!(run.shell.health().ready(), "routing resumed: {:?}", run.shell.health());
    run.stop().await;
    node.check_invariants().expect("simulated node invariants");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_a_restarted_redis_forgot_are_taken_in_again_from_asterisk() {
    let mut redis = support::RedisServer::start_with(false);
    let store = Arc::new(redis.store().await);
    let (_sim, node, spec, alice) = node_with_alice(7).await;
    let settings = Settings { drain_grace: Duration::from_millis(200), ..Settings::new("first") };
    let queues = [QueueConfig::new("support")];
    leave_a_caller_waiting(&store, &queues, &node, &alice, &spec, settings.clone()).await;
    // Redis comes back empty: the caller, still on hold in Asterisk, is known to nobody.
    redis.restart();
    let store = Arc::new(redis.store().await);
    let second = Settings { instance: "second".into(), ..settings };
    let run = Running::start(&store, &queues, &alice, &spec, second).await;
    run.shell.send(Input::Agent { agent: "alice".into(), action: AgentAction::Login }).await;
    let events = journal_until(&store, completed).await;
    assert!(completed(&events), "the forgotten caller is found in the app and served: {events:?}");
    run.stop().await;
    node.check_invariants().expect("simulated node invariants");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_that_lost_everything_under_a_running_instance_is_configured_again() {
    let mut redis = support::RedisServer::start_with(false);
    let store = Arc::new(redis.store().await);
    let (_sim, node, spec, alice) = node_with_alice(10).await;
    let queues = [QueueConfig::new("support")];
    let run = Running::start(&store, &queues, &alice, &spec, Settings::new("only")).await;
    wait_for_consumer(&node).await;
    node.place_call(&CallSpec::new("starq", &["queue=support"], "5551")).expect("placed");
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Redis comes back empty under the running instance: no queue, no agent, no caller.
    redis.restart();
    let support = "support".into();
    node.place_call(&CallSpec::new("starq", &["queue=support"], "5552")).expect("placed");
    let mut configured = false;
    for _ in 0..500 {
        if store.queue(&support).await.is_ok_and(|q| q.is_some()) {
            configured = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(configured, "the instance installs its configuration again");
    // Logins lived in the store only: alice logs in again, and both callers are served, the
    // one waiting through the loss taken in again from Asterisk.
    run.shell.send(Input::Agent { agent: "alice".into(), action: AgentAction::Login }).await;
    let two = |events: &[JournalEvent]| {
        events.iter().filter(|e| matches!(e, JournalEvent::Completed { .. })).count() == 2
    };
    let events = journal_until(&store, two).await;
    assert!(two(&events), "both callers served: {events:?}");
    assert!(
        !events.iter().any(|e| matches!(e, JournalEvent::Refused { .. })),
        "nobody refused for a queue the store forgot: {events:?}"
    );
    run.stop().await;
    node.check_invariants().expect("simulated node invariants");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_in_wrap_up_when_its_instance_died_is_ready_again_under_the_next() {
    let redis = support::RedisServer::start_with(false);
    let store = Arc::new(redis.store().await);
    let (_sim, node, spec, alice) = node_with_alice(11).await;
    let mut queue = QueueConfig::new("support");
    queue.wrapup = Duration::from_secs(1);
    let queues = [queue];
    let settings = Settings { lease_ttl: Duration::from_millis(900), ..Settings::new("first") };
    let first = Running::start(&store, &queues, &alice, &spec, settings.clone()).await;
    first.shell.send(Input::Agent { agent: "alice".into(), action: AgentAction::Login }).await;
    wait_for_consumer(&node).await;
    node.place_call(&CallSpec::new("starq", &["queue=support"], "5551")).expect("placed");
    let events = journal_until(&store, completed).await;
    assert!(completed(&events), "the first call is served: {events:?}");
    // The instance dies in alice's wrap-up: the timer that was to end it dies with it.
    first.task.abort();
    let second = Settings { instance: "second".into(), ..settings };
    let run = Running::start(&store, &queues, &alice, &spec, second).await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    node.place_call(&CallSpec::new("starq", &["queue=support"], "5552")).expect("placed");
    let two = |events: &[JournalEvent]| {
        events.iter().filter(|e| matches!(e, JournalEvent::Completed { .. })).count() == 2
    };
    let events = journal_until(&store, two).await;
    assert!(two(&events), "alice's wrap-up ended and she took the next caller: {events:?}");
    run.stop().await;
}

/// An owner dies with an offer half made: its notice lost, its leg created in Asterisk and,
/// when `dialed`, ringing. The next owner rings the same offer under the same leg id, which
/// Asterisk refuses to create or dial twice: alice's phone rings once, and she is connected.
async fn an_offer_half_made_by_a_dead_owner_rings_once(seed: u64, dialed: bool) {
    let redis = support::RedisServer::start_with(false);
    let store = Arc::new(redis.store().await);
    let (sim, node, spec, alice) = node_with_alice(seed).await;
    let settings = Settings { drain_grace: Duration::from_millis(200), ..Settings::new("first") };
    let queues = [QueueConfig::new("support")];
    leave_a_caller_waiting(&store, &queues, &node, &alice, &spec, settings.clone()).await;
    let login = Request::Agent {
        agent: "alice".into(),
        action: AgentAction::Login,
        now: Time::from_millis(1),
        draw: 1,
    };
    let reply = store.apply(login).await.expect("alice logs in");
    let offer = reply
        .notices
        .iter()
        .find_map(|n| match n {
            Notice::Offer(offer) => Some(offer.clone()),
            _ => None,
        })
        .expect("the store offers the waiting caller to alice");
    let (channel, _) = offer.call.channel_candidates(&spec.id).remove(0);
    let leg = starq_core::shared::leg_id(&offer.call, offer.reservation);
    let client = AriClient::new(&spec.ari, RestLimits::default()).expect("ARI client");
    let create = CreateChannel {
        endpoint: "PJSIP/alice".into(),
        app: "starq".into(),
        app_args: Some("leg".into()),
        channel_id: Some(leg.clone()),
        originator: Some(channel.clone()),
        ..CreateChannel::default()
    };
    client.create_channel(&create).await.expect("the dead owner's leg is made");
    if dialed {
        // As the dead owner did: dialed once the leg is in the app (a moment after the create).
        let mut tries = 0;
        while let Err(error) = client.dial(&leg, Some(&channel), Some(15)).await {
            tries += 1;
            assert!(tries < 200, "the leg never entered the app: {error}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    let second = Settings { instance: "second".into(), ..settings };
    let run = Running::start(&store, &queues, &alice, &spec, second).await;
    let events = journal_until(&store, completed).await;
    assert!(completed(&events), "the caller is served: {events:?}");
    let offers = events.iter().filter(|e| matches!(e, JournalEvent::Offered { .. })).count();
    assert_eq!(offers, 1, "one offer, never made again: {events:?}");
    let truth = sim.truth();
    let rings: Vec<_> = truth.rings().iter().filter(|r| r.agent == "PJSIP/alice").collect();
    assert_eq!(rings.len(), 1, "alice's phone rang once: {rings:?}");
    assert_eq!(rings[0].channel_id, leg);
    assert!(rings[0].answered_ms.is_some() && !rings[0].while_busy, "{rings:?}");
    run.stop().await;
    node.check_invariants().expect("simulated node invariants");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leg_a_dead_owner_made_but_never_dialed_is_dialed_by_the_next() {
    an_offer_half_made_by_a_dead_owner_rings_once(8, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leg_a_dead_owner_left_ringing_is_followed_not_rung_twice() {
    an_offer_half_made_by_a_dead_owner_rings_once(9, true).await;
}

/// The fault a probe found: SIGTERM (and a second SIGTERM, and SIGINT) did nothing while Redis
/// was away, the driver being stuck retrying a routing request. The drain now ends within its
/// grace, and the leave within a second more, whatever the store is doing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_is_bounded_while_redis_is_away() {
    let mut redis = support::RedisServer::start_with(false);
    let store = Arc::new(redis.store().await);
    let (_sim, node, spec, alice) = node_with_alice(11).await;
    let queues = [QueueConfig::new("support")];
    let grace = Duration::from_millis(300);
    let settings = Settings { drain_grace: grace, ..Settings::new("only") };
    let run = Running::start(&store, &queues, &alice, &spec, settings).await;
    run.shell.send(Input::Agent { agent: "alice".into(), action: AgentAction::Login }).await;
    wait_for_consumer(&node).await;
    redis.stop();
    // A caller arrives: its routing request waits for a store that does not answer.
    node.place_call(&CallSpec::new("starq", &["queue=support"], "5551")).expect("placed");
    for _ in 0..300 {
        if !run.shell.health().store_available {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(!run.shell.health().store_available, "the store is seen away");
    let signalled = std::time::Instant::now();
    let _ = run.stop.send(());
    let mut draining = false;
    for _ in 0..50 {
        draining |= run.shell.health().draining;
        if draining || run.task.is_finished() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(draining || run.task.is_finished(), "/status shows the drain");
    let stopped = tokio::time::timeout(Duration::from_secs(5), run.task).await;
    let took = signalled.elapsed();
    stopped.expect("stops while Redis is away").expect("no panic").expect("clean stop");
    assert!(
        took < grace + Duration::from_millis(1_800),
        "bounded by the grace and a second: {took:?}"
    );
    node.check_invariants().expect("simulated node invariants");
}

/// A second signal exits at once, even while an agent's phone rings under a long grace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_exits_at_once() {
    let redis = support::RedisServer::start_with(false);
    let store = Arc::new(redis.store().await);
    let mut cfg = SimConfig::local(1, 12);
    // Alice's phone rings for a minute.
    cfg.phones = vec![PhoneScript::answering("PJSIP/alice", 60_000, 300)];
    let sim = Sim::start(cfg).await.expect("simulator starts");
    let node = sim.node(0).expect("node").clone();
    let spec = NodeSpec { id: NodeId::new("node0"), ari: node.ari_config("starq") };
    let mut alice = AgentConfig::new("alice");
    alice.memberships.push(Membership { queue: "support".into(), penalty: 0 });
    alice.contacts.push(Contact { endpoint: "PJSIP/alice".into(), nodes: Vec::new() });
    let settings = Settings { drain_grace: Duration::from_secs(60), ..Settings::new("only") };
    let (signal, signals) = tokio::sync::mpsc::channel(2);
    let (shell, task) = starq_engine::start_with_signals(
        Arc::clone(&store),
        vec![QueueConfig::new("support")],
        vec![alice],
        vec![spec],
        settings,
        signals,
        None,
    )
    .await
    .expect("starts");
    shell.send(Input::Agent { agent: "alice".into(), action: AgentAction::Login }).await;
    wait_for_consumer(&node).await;
    node.place_call(&CallSpec::new("starq", &["queue=support"], "5551")).expect("placed");
    let mut ringing = false;
    for _ in 0..300 {
        ringing = store.agent(&"alice".into()).await.is_ok_and(|a| {
            matches!(a.map(|a| a.status), Some(starq_store::AgentStatus::Reserved(_)))
        });
        if ringing {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(ringing, "alice's phone rings");
    signal.send(()).await.expect("first signal");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!task.is_finished(), "the first signal drains: the ringing leg may still be answered");
    assert!(shell.health().draining);
    let second = std::time::Instant::now();
    signal.send(()).await.expect("second signal");
    tokio::time::timeout(Duration::from_secs(1), task)
        .await
        .expect("the second signal exits at once")
        .expect("no panic")
        .expect("clean exit");
    assert!(second.elapsed() < Duration::from_millis(500), "{:?}", second.elapsed());
}

/// A durable record of agents' presence for the test: what the reports database would hold.
struct RecordedPresence(Vec<starq_core::shared::Presence>);

impl starq_engine::PresenceRecord for RecordedPresence {
    fn recall(
        &self,
    ) -> std::pin::Pin<
        Box<
            dyn std::future::Future<Output = Result<Vec<starq_core::shared::Presence>, String>>
                + Send
                + '_,
        >,
    > {
        Box::pin(async { Ok(self.0.clone()) })
    }
}

/// The fault a probe found: a Redis back empty under a running instance cut live
/// conversations (agents' legs hung up as "leftover", callers queued again with a second
/// `ENTERQUEUE` and no completion), and agents came back logged out, their pauses gone. Now the
/// conversation goes on and completes with its record, waiting callers keep their place and
/// their priority, and agents come back logged in and paused with their reasons.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_back_empty_loses_no_conversation_no_place_and_no_presence() {
    let mut redis = support::RedisServer::start_with(false);
    let store = Arc::new(redis.store().await);
    let mut cfg = SimConfig::local(1, 13);
    cfg.phones = vec![
        PhoneScript::answering("PJSIP/alice", 50, 4_000),
        PhoneScript::answering("PJSIP/bob", 50, 300),
    ];
    let sim = Sim::start(cfg).await.expect("simulator starts");
    let node = sim.node(0).expect("node").clone();
    let spec = NodeSpec { id: NodeId::new("node0"), ari: node.ari_config("starq") };
    let member = |name: &str| {
        let mut agent = AgentConfig::new(name);
        agent.memberships.push(Membership { queue: "support".into(), penalty: 0 });
        agent.contacts.push(Contact { endpoint: format!("PJSIP/{name}"), nodes: Vec::new() });
        agent
    };
    let presence = vec![
        starq_core::shared::Presence {
            agent: "alice".into(),
            logged_in: true,
            paused_all: None,
            paused: Vec::new(),
        },
        starq_core::shared::Presence {
            agent: "bob".into(),
            logged_in: true,
            paused_all: Some("lunch".into()),
            paused: Vec::new(),
        },
    ];
    let settings = Settings {
        lease_ttl: Duration::from_millis(900),
        drain_grace: Duration::from_millis(300),
        ..Settings::new("only")
    };
    let (signal, signals) = tokio::sync::mpsc::channel(2);
    let (shell, task) = starq_engine::start_with_signals(
        Arc::clone(&store),
        vec![QueueConfig::new("support")],
        vec![member("alice"), member("bob")],
        vec![spec],
        settings,
        signals,
        Some(Arc::new(RecordedPresence(presence))),
    )
    .await
    .expect("starts");
    wait_for_consumer(&node).await;
    let act = |agent: &str, action| Input::Agent { agent: agent.into(), action };
    shell.send(act("bob", AgentAction::Login)).await;
    shell.send(act("bob", AgentAction::Pause { queue: None, reason: "lunch".into() })).await;
    shell.send(act("alice", AgentAction::Login)).await;
    // Alice takes the first caller and talks for 4 s; two more wait, the later one raised to
    // priority 5.
    let talking =
        node.place_call(&CallSpec::new("starq", &["queue=support"], "5551")).expect("placed");
    let mut connected = false;
    for _ in 0..300 {
        connected = sim.truth().callers().any(|c| c.connected_ms.is_some());
        if connected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(connected, "alice talks to the first caller");
    let first =
        node.place_call(&CallSpec::new("starq", &["queue=support"], "5552")).expect("placed");
    tokio::time::sleep(Duration::from_millis(50)).await;
    let raised =
        node.place_call(&CallSpec::new("starq", &["queue=support"], "5553")).expect("placed");
    tokio::time::sleep(Duration::from_millis(150)).await;
    let (node_id, channel) = (NodeId::new("node0"), raised.channel_id.clone());
    shell.send(Input::SetPriority { node: node_id, channel, priority: 5 }).await;
    tokio::time::sleep(Duration::from_millis(150)).await;

    // Redis comes back empty.
    redis.restart();
    let mut bob_back = false;
    for _ in 0..500 {
        bob_back = store.agent(&"bob".into()).await.is_ok_and(|a| {
            a.is_some_and(|a| {
                a.status != AgentStatus::LoggedOut && a.paused_all.as_deref() == Some("lunch")
            })
        });
        if bob_back {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        bob_back,
        "bob is logged in and paused for lunch again: {:?}",
        store.agent(&"bob".into()).await
    );
    let alice = store.agent(&"alice".into()).await.expect("store").expect("alice");
    assert!(
        matches!(alice.status, AgentStatus::OnCall(_)),
        "alice is on her call again: {alice:?}"
    );

    // Alice's call ends on its own; then she serves the raised caller first.
    let served = |events: &[JournalEvent]| {
        events.iter().filter(|e| matches!(e, JournalEvent::Completed { .. })).count() >= 2
    };
    let mut events = Vec::new();
    for _ in 0..1_000 {
        events = journal(&store).await;
        if served(&events) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The caller's channel ends a moment after the store recorded the end.
    for _ in 0..300 {
        if sim.truth().callers().any(|c| c.channel_id == talking.channel_id && c.outcome.is_some())
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let truth: Vec<_> = sim.truth().callers().cloned().collect();
    let talk = truth.iter().find(|c| c.channel_id == talking.channel_id).expect("first caller");
    assert_eq!(
        talk.outcome,
        Some(Truth::AgentHungUp),
        "the conversation went on to its end: {talk:?}"
    );
    assert_eq!(talk.rang.len(), 1, "alice was rung once for it: {talk:?}");
    let completed_first = events.iter().find_map(|e| match e {
        JournalEvent::Completed { call, talk, .. }
            if call.as_str().ends_with(&talking.channel_id) =>
        {
            Some(*talk)
        }
        _ => None,
    });
    let talked = completed_first.expect("the conversation completes with its record: {events:?}");
    assert!(talked >= Duration::from_millis(3_500), "talk counts from before the loss: {talked:?}");
    assert!(
        !events.iter().any(|e| matches!(e, JournalEvent::Entered { resumed: None, .. })),
        "nobody enters anew: {events:?}"
    );
    let connected_order: Vec<String> = events
        .iter()
        .filter_map(|e| match e {
            JournalEvent::Connected { call, .. } => Some(call.to_string()),
            _ => None,
        })
        .collect();
    assert!(
        connected_order.first().is_some_and(|c| c.ends_with(&raised.channel_id)),
        "the raised caller, though later, is served first: {connected_order:?} (first {})",
        first.channel_id
    );
    signal.send(()).await.expect("signal");
    task.await.expect("no panic").expect("clean stop");
    node.check_invariants().expect("simulated node invariants");
}

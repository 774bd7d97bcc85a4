//! Differential test: random request sequences applied to `MemoryStore` (the reference) and
//! `RedisStore`, comparing every reply, then the final views (agents, queues, positions) and
//! the journal. Also checks that Lua's strategy scores equal `Strategy::score`.

mod support;

use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use starq_core::config::{
    AgentConfig, AutoPause, AutoPauseScope, EmptyConditions, Membership, QueueConfig, Window,
};
use starq_core::shared::{AgentAction, Enqueue, Miss, Party, Request, Verdict};
use starq_core::strategy::{AgentStats, Strategy as Ring};
use starq_core::{AgentId, CallId, Epoch, Fence, NodeId, Outcome, QueueId, ReservationId, Time};
use starq_store::{MemoryStore, RedisStore, Store};
use support::RedisServer;

const QUEUES: [&str; 2] = ["q1", "q2"];
const AGENTS: usize = 5;
const CALLS: usize = 8;

#[derive(Clone, Debug)]
struct World {
    queues: Vec<QueueConfig>,
    agents: Vec<AgentConfig>,
}

#[derive(Clone, Debug)]
enum Op {
    Enqueue {
        call: usize,
        queue: usize,
        priority: i32,
        window: Window,
    },
    SetWindow {
        call: usize,
        window: Window,
    },
    SetPriority {
        call: usize,
        priority: i32,
    },
    Leave {
        call: usize,
        outcome: Outcome,
    },
    Answered {
        reservation: u64,
    },
    Missed {
        reservation: u64,
        miss: Miss,
        draw: u64,
    },
    Extend {
        call: usize,
    },
    Hangup {
        call: usize,
        by: Party,
        draw: u64,
    },
    Ready {
        agent: usize,
        draw: u64,
    },
    Agent {
        agent: usize,
        action: AgentAction,
        draw: u64,
    },
    /// A request under a stale epoch: both stores must refuse it.
    Stale {
        call: usize,
    },
    /// Reconfigure (same world): runtime state must survive.
    Reconfigure,
}

fn conditions() -> impl proptest::strategy::Strategy<Value = EmptyConditions> {
    prop_oneof![
        Just(EmptyConditions::NONE),
        Just("paused".parse().expect("valid")),
        Just("strict".parse().expect("valid")),
        Just("penalty,inuse,ringing,wrapup".parse().expect("valid")),
        Just("unavailable,paused".parse().expect("valid")),
    ]
}

fn queue_config(id: &'static str) -> impl proptest::strategy::Strategy<Value = QueueConfig> {
    (
        (0..Ring::ALL.len(), 0u32..3, any::<bool>(), prop_oneof![Just(0u64), Just(10)]),
        (prop_oneof![Just(0u64), Just(5)], 0u32..3, any::<bool>(), any::<bool>()),
        (prop::option::of(1u32..4), conditions(), conditions(), prop_oneof![Just(0u32), Just(2)]),
    )
        .prop_map(
            move |(
                (strategy, weight, autofill, retry),
                (wrapup, scope, on_busy, on_unavailable),
                (max_len, join_empty, leave_empty, pml),
            )| {
                let mut q = QueueConfig::new(id);
                q.strategy = Ring::ALL[strategy];
                q.weight = weight;
                q.autofill = autofill;
                q.retry = Duration::from_secs(retry);
                q.wrapup = Duration::from_secs(wrapup);
                q.autopause = AutoPause {
                    scope: [None, Some(AutoPauseScope::ThisQueue), Some(AutoPauseScope::AllQueues)]
                        [scope as usize],
                    after_misses: 2,
                    on_busy,
                    on_unavailable,
                };
                q.max_len = max_len;
                q.join_empty = join_empty;
                q.leave_empty = leave_empty;
                q.penalty_members_limit = pml;
                q
            },
        )
}

fn world() -> impl proptest::strategy::Strategy<Value = World> {
    let agent = (prop::collection::vec((0usize..2, 0u32..3), 1..3), prop::option::of(0u64..3));
    (queue_config("q1"), queue_config("q2"), prop::collection::vec(agent, AGENTS)).prop_map(
        |(q1, q2, agents)| World {
            queues: vec![q1, q2],
            agents: agents
                .into_iter()
                .enumerate()
                .map(|(i, (members, wrapup))| {
                    let mut a = AgentConfig::new(format!("a{i}"));
                    a.wrapup = wrapup.map(Duration::from_secs);
                    let mut seen = [false; 2];
                    for (q, penalty) in members {
                        if !std::mem::replace(&mut seen[q], true) {
                            a.memberships.push(Membership { queue: QUEUES[q].into(), penalty });
                        }
                    }
                    a
                })
                .collect(),
        },
    )
}

fn window() -> impl proptest::strategy::Strategy<Value = Window> {
    prop_oneof![
        3 => Just(Window::ANY),
        1 => Just(Window { min: 0, max: 0 }),
        1 => Just(Window { min: 1, max: 2 }),
        1 => Just(Window { min: 0, max: 1 }),
    ]
}

fn outcome() -> impl proptest::strategy::Strategy<Value = Outcome> {
    prop_oneof![
        Just(Outcome::Abandoned),
        Just(Outcome::Timeout),
        Just(Outcome::ExitWithKey('5')),
        Just(Outcome::NodeLost),
    ]
}

fn miss() -> impl proptest::strategy::Strategy<Value = Miss> {
    prop_oneof![Just(Miss::NoAnswer), Just(Miss::Busy), Just(Miss::Unreachable), Just(Miss::Failed)]
}

fn action() -> impl proptest::strategy::Strategy<Value = AgentAction> {
    let queue = prop::option::of((0usize..3).prop_map(|i| QueueId::new(["q1", "q2", "qx"][i])));
    prop_oneof![
        4 => Just(AgentAction::Login),
        1 => Just(AgentAction::Logout),
        1 => queue.clone().prop_map(|queue| AgentAction::Pause { queue, reason: "lunch".into() }),
        1 => queue.prop_map(|queue| AgentAction::Unpause { queue }),
        1 => (0usize..2, 0u32..3).prop_map(|(q, penalty)| AgentAction::SetPenalty {
            queue: QUEUES[q].into(),
            penalty
        }),
        1 => any::<bool>().prop_map(|reachable| AgentAction::SetReachable { reachable }),
    ]
}

fn op() -> impl proptest::strategy::Strategy<Value = Op> {
    let call = 0..CALLS;
    let agent = 0..AGENTS;
    let res = 1u64..12;
    prop_oneof![
        6 => (call.clone(), 0usize..2, -1i32..3, window())
            .prop_map(|(call, queue, priority, window)| Op::Enqueue { call, queue, priority, window }),
        1 => (call.clone(), window()).prop_map(|(call, window)| Op::SetWindow { call, window }),
        1 => (call.clone(), -1i32..3).prop_map(|(call, priority)| Op::SetPriority { call, priority }),
        2 => (call.clone(), outcome()).prop_map(|(call, outcome)| Op::Leave { call, outcome }),
        4 => res.clone().prop_map(|reservation| Op::Answered { reservation }),
        3 => (res, miss(), any::<u64>())
            .prop_map(|(reservation, miss, draw)| Op::Missed { reservation, miss, draw }),
        1 => call.clone().prop_map(|call| Op::Extend { call }),
        3 => (call.clone(), any::<bool>(), any::<u64>()).prop_map(|(call, agent_hung, draw)| {
            Op::Hangup { call, by: if agent_hung { Party::Agent } else { Party::Caller }, draw }
        }),
        2 => (agent.clone(), any::<u64>()).prop_map(|(agent, draw)| Op::Ready { agent, draw }),
        6 => (agent, action(), any::<u64>())
            .prop_map(|(agent, action, draw)| Op::Agent { agent, action, draw }),
        1 => call.prop_map(|call| Op::Stale { call }),
        1 => Just(Op::Reconfigure),
    ]
}

fn request(op: &Op, fence: &Fence, now: Time) -> Option<Request> {
    let call = |i: &usize| CallId::new(format!("c{i}"));
    let fence = fence.clone();
    Some(match op {
        Op::Enqueue { call: c, queue, priority, window } => Request::Enqueue(Enqueue {
            fence,
            call: call(c),
            queue: QUEUES[*queue].into(),
            caller_id: format!("10{c}"),
            priority: *priority,
            window: *window,
            now,
            resumed: None,
        }),
        Op::SetWindow { call: c, window } => {
            Request::SetWindow { fence, call: call(c), window: *window, now }
        }
        Op::SetPriority { call: c, priority } => {
            Request::SetPriority { fence, call: call(c), priority: *priority, now }
        }
        Op::Leave { call: c, outcome } => {
            Request::Leave { fence, call: call(c), outcome: *outcome, now }
        }
        Op::Answered { reservation } => {
            Request::Answered { fence, reservation: ReservationId(*reservation), now }
        }
        Op::Missed { reservation, miss, draw } => Request::Missed {
            fence,
            reservation: ReservationId(*reservation),
            miss: *miss,
            now,
            draw: *draw,
        },
        Op::Extend { call: c } => Request::Extend { fence, call: call(c), now },
        Op::Hangup { call: c, by, draw } => {
            Request::Hangup { fence, call: call(c), by: *by, now, draw: *draw }
        }
        Op::Ready { agent, draw } => {
            Request::AgentReady { agent: AgentId::new(format!("a{agent}")), now, draw: *draw }
        }
        Op::Agent { agent, action, draw } => Request::Agent {
            agent: AgentId::new(format!("a{agent}")),
            action: action.clone(),
            now,
            draw: *draw,
        },
        Op::Stale { call: c } => Request::Leave {
            fence: Fence { node: fence.node, epoch: Epoch(fence.epoch.0 + 7) },
            call: call(c),
            outcome: Outcome::Abandoned,
            now,
        },
        Op::Reconfigure => return None,
    })
}

/// The same agents with every penalty 0.
fn lowered(agents: &[AgentConfig]) -> Vec<AgentConfig> {
    let mut agents = agents.to_vec();
    for m in agents.iter_mut().flat_map(|a| a.memberships.iter_mut()) {
        m.penalty = 0;
    }
    agents
}

async fn run_case(
    server: &RedisServer,
    world: &World,
    ops: &[(Op, u64)],
) -> Result<(), TestCaseError> {
    let memory = MemoryStore::new();
    let redis = server.store().await;
    // Two nodes: callers of both share the queues; each request acts for one of them.
    let ttl = Duration::from_secs(1_000_000);
    let mut fences = Vec::new();
    for name in ["n1", "n2"] {
        let node = NodeId::new(name);
        // Acquired at time 0 both stores hand out epoch 1.
        let m_lease = memory.acquire_lease(&node, "i", Time(0), ttl).await.unwrap().unwrap();
        let r_lease = redis.acquire_lease(&node, "i", Time(0), ttl).await.unwrap().unwrap();
        prop_assert_eq!(m_lease.epoch, r_lease.epoch);
        fences.push(m_lease.fence());
    }
    memory.configure(&world.queues, &world.agents).await.unwrap();
    redis.configure(&world.queues, &world.agents).await.unwrap();
    let mut now = Time(1_700_000_000_000);
    // The queue each call joined: the engine extends offers only under ring-progressively.
    let mut joined = [None; CALLS];
    for (step, (op, dt)) in ops.iter().enumerate() {
        now = now + Duration::from_millis(*dt);
        if let Op::Extend { call } = op
            && joined[*call]
                .is_none_or(|q: usize| world.queues[q].strategy != Ring::RingProgressively)
        {
            continue;
        }
        let Some(req) = request(op, &fences[step % 2], now) else {
            // A reload re-matches: resetting a penalty changed at run time, or every other
            // time lowering all penalties to 0, can let an idle agent take a waiting caller.
            let agents = if step % 2 == 0 { world.agents.clone() } else { lowered(&world.agents) };
            let expected = memory.reconfigure(&world.queues, &agents, now).await.unwrap();
            memory.check_invariants();
            let got = redis.reconfigure(&world.queues, &agents, now).await.unwrap();
            prop_assert_eq!(&got, &expected, "step {} reconfigure", step);
            continue;
        };
        let expected = memory.apply(req.clone()).await.unwrap();
        memory.check_invariants();
        let got = redis.apply(req.clone()).await.unwrap();
        prop_assert_eq!(&got, &expected, "step {}: {:?}", step, req);
        if let (Op::Enqueue { call, queue, .. }, Verdict::Joined { .. }) = (op, &got.result) {
            joined[*call] = Some(*queue);
        }
    }
    compare_views(&memory, &redis).await
}

async fn compare_views(memory: &MemoryStore, redis: &RedisStore) -> Result<(), TestCaseError> {
    for i in 0..AGENTS {
        let id = AgentId::new(format!("a{i}"));
        prop_assert_eq!(redis.agent(&id).await.unwrap(), memory.agent(&id).await.unwrap());
    }
    for q in QUEUES.iter().chain(&["qx"]) {
        let id = QueueId::new(q);
        prop_assert_eq!(redis.queue(&id).await.unwrap(), memory.queue(&id).await.unwrap());
    }
    for i in 0..CALLS {
        let id = CallId::new(format!("c{i}"));
        prop_assert_eq!(redis.position(&id).await.unwrap(), memory.position(&id).await.unwrap());
    }
    let expected = memory.read_journal("diff", 100_000).await.unwrap();
    let got = redis.read_journal("diff", 100_000).await.unwrap();
    let events = |j: &[starq_core::journal::JournalEntry]| {
        j.iter().map(|e| (e.time, e.event.clone())).collect::<Vec<_>>()
    };
    prop_assert_eq!(events(&got), events(&expected));
    prop_assert!(got.windows(2).all(|w| w[0].seq < w[1].seq), "seqs strictly increase");
    Ok(())
}

#[test]
fn redis_store_matches_memory_store_request_by_request() {
    let server = RedisServer::start_with(false);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let cases = std::env::var("STARQ_DIFF_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(96);
    let mut runner = TestRunner::new(Config { cases, ..Config::default() });
    let ops = prop::collection::vec((op(), 0u64..8_000), 1..80);
    let result =
        runner.run(&(world(), ops), |(world, ops)| rt.block_on(run_case(&server, &world, &ops)));
    if let Err(e) = result {
        panic!("{e}");
    }
}

#[test]
fn lua_scores_equal_the_core_scores() {
    let server = RedisServer::start_with(false);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let store = rt.block_on(server.store());
    let mut runner = TestRunner::new(Config { cases: 2_000, ..Config::default() });
    let stats = (
        0usize..Ring::ALL.len(),
        any::<u32>(),
        any::<u32>(),
        prop_oneof![Just(0u64), 0u64..(1 << 45)],
        0u64..1_000_000,
        prop_oneof![any::<u64>(), Just(0), Just(u64::MAX), Just(2_147_483_647)],
    );
    let result = runner.run(&stats, |(s, order, penalty, last, calls, draw)| {
        let strategy = Ring::ALL[s];
        let stats =
            AgentStats { order, penalty, last_call_end: Time(last), calls_taken: calls, draw };
        let lua = rt.block_on(store.lua_score(strategy, &stats)).expect("score");
        prop_assert_eq!(lua, strategy.score(&stats), "{} {:?}", strategy, stats);
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

//! Cost of the routing core per event and per routing decision, at 100, 1,000 and 10,000
//! agents with as many callers waiting. Run with `cargo bench -p starq-dst --bench core`.
//!
//! Steady state: every agent is on a call and as many callers wait. One round: a caller hangs
//! up, which frees its agent; the store matches the agent with the head caller; the agent's leg
//! answers and is bridged; a new caller arrives. That is one routing decision and three engine
//! inputs (plus the store requests they cause). The ratio column compares each size with the
//! 100-agent run made in the same process.

use std::collections::VecDeque;
use std::hint::black_box;
use std::time::{Duration, Instant};

use starq_core::config::{AgentConfig, Contact, Membership, QueueConfig};
use starq_core::engine::{Arrival, Command, Engine, Input};
use starq_core::strategy::Strategy;
use starq_core::{Epoch, Fence, NodeId, QueueId, ReservationId, Time};
use starq_store::MemoryStore;

struct Bench {
    engine: Engine,
    store: MemoryStore,
    now: Time,
    next_caller: u64,
    connected: VecDeque<String>,
    answers: Vec<ReservationId>,
    inputs: u64,
}

impl Bench {
    fn new(agents: usize, strategy: Strategy) -> Self {
        let mut queue = QueueConfig::new("q");
        queue.strategy = strategy;
        queue.ring_timeout = Duration::from_secs(3600);
        let agents: Vec<AgentConfig> = (0..agents)
            .map(|i| {
                let mut a = AgentConfig::new(format!("a{i}"));
                a.memberships
                    .push(Membership { queue: QueueId::new("q"), penalty: (i % 4) as u32 });
                a.contacts.push(Contact { endpoint: format!("PJSIP/{i}"), nodes: Vec::new() });
                a
            })
            .collect();
        let store = MemoryStore::new();
        store.configure_now(std::slice::from_ref(&queue), &agents);
        let mut engine = Engine::new(&[queue], &agents, 1);
        engine.handle(
            Time(1),
            Input::NodeOwned { fence: Fence { node: NodeId::new("n1"), epoch: Epoch(0) } },
        );
        let (node, calls, present) = (NodeId::new("n1"), Vec::new(), Default::default());
        engine.handle(Time(1), Input::Adopt { node, calls, present });
        let mut b = Bench {
            engine,
            store,
            now: Time(1_000),
            next_caller: 0,
            connected: VecDeque::new(),
            answers: Vec::new(),
            inputs: 0,
        };
        for a in &agents {
            let action = starq_core::shared::AgentAction::Login;
            b.input(Input::Agent { agent: a.id.clone(), action });
        }
        // Fill every agent with a call, then queue as many callers again.
        for _ in 0..agents.len() * 2 {
            b.arrive();
            b.answer_all();
        }
        b
    }

    fn input(&mut self, input: Input) {
        self.now = self.now + Duration::from_millis(1);
        self.inputs += 1;
        self.engine.handle(self.now, input);
        while let Some(command) = self.engine.poll_command() {
            match command {
                Command::Store(request) => {
                    let reply = self.store.apply_now(request);
                    self.engine.handle(self.now, Input::Reply(reply));
                }
                Command::Dial { reservation, .. } => self.answers.push(reservation),
                Command::Bridge { channel, .. } => self.connected.push_back(channel),
                Command::QueryPosition { call } => {
                    let position = self.store.position_now(&call);
                    self.engine.handle(self.now, Input::Position { call, position });
                }
                _ => {}
            }
        }
    }

    fn arrive(&mut self) {
        self.next_caller += 1;
        let channel = format!("c{}", self.next_caller);
        let arrival = Arrival {
            node: NodeId::new("n1"),
            channel,
            queue: QueueId::new("q"),
            caller_id: "1".into(),
            priority: 0,
            max_wait: None,
            resumed: None,
            connected: None,
        };
        self.input(Input::CallerArrived(arrival));
    }

    fn answer_all(&mut self) {
        while let Some(reservation) = self.answers.pop() {
            self.input(Input::LegAnswered { reservation });
        }
    }

    /// One round: hang-up, decision, answer, bridge, new caller.
    fn round(&mut self) {
        let channel = self.connected.pop_front().expect("steady state has calls");
        self.input(Input::CallerHungUp { node: NodeId::new("n1"), channel });
        self.answer_all();
        self.arrive();
    }
}

/// Timing belongs to the bench harness, not to the code under test.
#[allow(clippy::disallowed_methods)]
fn measure(agents: usize, strategy: Strategy, rounds: usize) -> (f64, f64) {
    let mut b = Bench::new(agents, strategy);
    for _ in 0..rounds / 10 {
        b.round(); // warm-up
    }
    let inputs_before = b.inputs;
    let start = Instant::now();
    for _ in 0..rounds {
        b.round();
    }
    let elapsed = start.elapsed().as_nanos() as f64;
    black_box(&b.engine);
    let inputs = (b.inputs - inputs_before) as f64;
    (elapsed / rounds as f64, elapsed / inputs)
}

fn main() {
    // `cargo bench -p starq-dst --bench core -- <strategy>` measures one strategy only.
    let only: Option<Strategy> = std::env::args().skip(1).find_map(|a| a.parse().ok());
    let rounds = 20_000;
    println!(
        "routing core + memory store, {rounds} rounds per size (one decision and three inputs per round)"
    );
    println!(
        "{:<20} {:>8} {:>14} {:>12} {:>8}",
        "strategy", "agents", "ns/decision", "ns/input", "ratio"
    );
    let strategies =
        [Strategy::LeastRecent, Strategy::RrMemory, Strategy::RingAll, Strategy::WRandom];
    for strategy in strategies.into_iter().filter(|s| only.is_none_or(|o| o == *s)) {
        let mut baseline = None;
        for agents in [100, 1_000, 10_000] {
            // The best of three runs: the machine is shared, and noise only ever adds time.
            let runs = [0; 3].map(|_| measure(agents, strategy, rounds));
            let (per_decision, per_input) =
                runs.into_iter().min_by(|a, b| a.0.total_cmp(&b.0)).expect("three runs");
            let base = *baseline.get_or_insert(per_decision);
            println!(
                "{:<20} {agents:>8} {per_decision:>14.0} {per_input:>12.0} {:>8.2}",
                strategy.as_str(),
                per_decision / base
            );
        }
    }
}

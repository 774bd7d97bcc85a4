//! A simulated call center: one or two engines (instances) sharing a memory store, two nodes,
//! callers arriving on either node on a Poisson process (with bursts), waiting with a patience,
//! pressing keys; agents' phones answer after a delay, reject, ring out or are busy, and are
//! reachable from some nodes only; agents log in and out and pause through any instance. With
//! two engines, each owns one node, so offers made by one instance's request for the other's
//! callers travel as routed notices, as between real instances. Time is simulated: a step
//! jumps to the next event or engine deadline, so hours of traffic take milliseconds.
//!
//! After every step the store's, the engine's and the world's own invariants are checked; the
//! world is the ground truth (which phone rang, who was connected to whom).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use starq_core::engine::{Arrival, ChannelAction, Command, Engine, Input};
use starq_core::journal::{JournalEntry, JournalEvent};
use starq_core::rng::Rng;
use starq_core::shared::{AgentAction, Miss};
use starq_core::{AgentId, Epoch, Fence, NodeId, QueueId, ReservationId, Time};
use starq_store::MemoryStore;

use crate::config::{self, NODES};

/// What a world is made of.
#[derive(Clone, Debug)]
pub struct Params {
    /// The seed every random choice derives from.
    pub seed: u64,
    /// Queues.
    pub queues: usize,
    /// Agents.
    pub agents: usize,
    /// Simulated time with arrivals.
    pub busy: Duration,
    /// Mean time between arrivals.
    pub arrival_mean: Duration,
    /// Engines (instances): 1 owns both nodes, 2 own one each.
    pub engines: usize,
}

impl Params {
    /// A world drawn from the seed: sizes and load vary with it.
    pub fn from_seed(seed: u64) -> Self {
        let mut rng = Rng::seeded(seed ^ 0x5eed);
        let queues = 1 + rng.below(3) as usize;
        Params {
            seed,
            queues,
            // At least one agent per queue, so that every queue can be drained.
            agents: queues.max(2 + rng.below(8) as usize),
            busy: Duration::from_secs(600 + rng.below(1200)),
            arrival_mean: Duration::from_millis(2_000 + rng.below(20_000)),
            engines: 1 + rng.below(2) as usize,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    Arrive,
    Abandon(String),
    Dtmf(String, char),
    LegAnswers(String),
    LegBusy(String),
    TalkEnds { leg: String, agent_hangs_up: bool },
    AgentMood(usize),
    Reprioritize(String),
}

#[derive(Debug)]
struct SimCaller {
    node: NodeId,
    talking_on: Option<String>,
}

#[derive(Debug)]
struct SimLeg {
    node: NodeId,
    reservation: ReservationId,
    agent: AgentId,
    channel: String,
    answered: bool,
}

#[derive(Debug)]
struct Phone {
    answer: f64,
    busy: f64,
    delay_ms: u64,
}

/// Counts a run ends with.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Callers that arrived.
    pub arrived: u64,
    /// Callers connected to an agent.
    pub connected: u64,
    /// Outcome status → callers (as handed to the dialplan, or observed by the world).
    pub outcomes: BTreeMap<String, u64>,
    /// Steps taken.
    pub steps: u64,
    /// Notices one engine's request caused for another engine's callers.
    pub routed: u64,
}

/// The simulated world.
pub struct World {
    params: Params,
    rng: Rng,
    now: Time,
    engines: Vec<Engine>,
    /// Which engine owns each node.
    owners: BTreeMap<NodeId, usize>,
    store: MemoryStore,
    events: BTreeMap<(Time, u64), Event>,
    seq: u64,
    callers: BTreeMap<String, SimCaller>,
    legs: BTreeMap<String, SimLeg>,
    phones: Vec<Phone>,
    agents: Vec<AgentId>,
    next_caller: u64,
    arrivals: bool,
    summary: Summary,
    /// The last steps' store requests and replies, printed when an invariant breaks.
    recent: VecDeque<String>,
}

/// How many recent store exchanges a failure report shows.
const RECENT: usize = 12;

impl World {
    /// Builds a world from its parameters.
    pub fn new(params: Params) -> Self {
        let mut rng = Rng::seeded(params.seed);
        let queues: Vec<_> =
            (0..params.queues).map(|i| config::queue(&mut rng, i, params.queues)).collect();
        let agents: Vec<_> = (0..params.agents)
            .map(|i| {
                // The first agents reach every node, so every queue can be drained.
                config::agent(&mut rng, i, params.queues, i < params.queues)
            })
            .collect();
        let store = MemoryStore::new();
        store.configure_now(&queues, &agents);
        let mut engines: Vec<Engine> =
            (0..params.engines).map(|_| Engine::new(&queues, &agents, rng.next_u64())).collect();
        let mut owners = BTreeMap::new();
        for (i, node) in NODES.iter().enumerate() {
            let owner = i % engines.len();
            let fence = Fence { node: NodeId::new(node), epoch: Epoch(0) };
            engines[owner].handle(Time::ZERO, Input::NodeOwned { fence });
            let (node, calls, present) = (NodeId::new(node), Vec::new(), Default::default());
            engines[owner].handle(Time::ZERO, Input::Adopt { node: node.clone(), calls, present });
            owners.insert(node, owner);
        }
        let phones = (0..params.agents)
            .map(|_| Phone {
                answer: 0.5 + rng.unit() * 0.5,
                busy: rng.unit() * 0.1,
                delay_ms: 500 + rng.below(8_000),
            })
            .collect();
        let mut world = World {
            agents: agents.iter().map(|a| a.id.clone()).collect(),
            params,
            rng,
            now: Time(1_000_000),
            engines,
            owners,
            store,
            events: BTreeMap::new(),
            seq: 0,
            callers: BTreeMap::new(),
            legs: BTreeMap::new(),
            phones,
            next_caller: 0,
            arrivals: true,
            summary: Summary::default(),
            recent: VecDeque::new(),
        };
        for i in 0..world.agents.len() {
            world.agent_action(i, AgentAction::Login);
            let first = Duration::from_secs(world.rng.below(300));
            world.at(first, Event::AgentMood(i));
        }
        world.at(Duration::ZERO, Event::Arrive);
        world.drain_commands();
        world
    }

    /// Runs the busy phase, then the liveness phase, checking invariants after every step.
    /// Returns the summary; panics (with the seed in the test's message) on any violation.
    pub fn run(self) -> Summary {
        self.run_with_journal().0
    }

    /// [`run`](Self::run), also returning the store's whole journal (for report checks).
    pub fn run_with_journal(mut self) -> (Summary, Vec<JournalEntry>) {
        let end_of_busy = self.now + self.params.busy;
        while self.now < end_of_busy {
            if !self.step() {
                break;
            }
        }
        self.liveness();
        self.check_journal();
        let journal = self.store.journal_now();
        (self.summary, journal)
    }

    /// Stops arrivals, makes every agent available and every phone answer, and requires every
    /// caller to be served or to leave within a bounded time.
    fn liveness(&mut self) {
        self.arrivals = false;
        self.events.retain(|_, e| {
            !matches!(e, Event::Arrive | Event::AgentMood(_) | Event::Abandon(_) | Event::Dtmf(..))
        });
        for phone in &mut self.phones {
            *phone = Phone { answer: 1.0, busy: 0.0, delay_ms: 1_000 };
        }
        for i in 0..self.agents.len() {
            self.agent_action(i, AgentAction::Login);
            self.agent_action(i, AgentAction::Unpause { queue: None });
        }
        self.drain_commands();
        let deadline = self.now + Duration::from_secs(4 * 3600);
        while !self.callers.is_empty() && self.now < deadline {
            if !self.step() {
                break;
            }
        }
        assert!(
            self.callers.is_empty(),
            "liveness: {} callers still in the system: {:?}\n{}",
            self.callers.len(),
            self.callers.keys().collect::<Vec<_>>(),
            self.store.describe()
        );
        for engine in &self.engines {
            assert_eq!(engine.callers(), 0, "liveness: an engine still follows callers");
            assert_eq!(engine.requests_in_flight(), 0);
        }
    }

    fn at(&mut self, delay: Duration, event: Event) {
        self.seq += 1;
        self.events.insert((self.now + delay, self.seq), event);
    }

    fn owner(&self, node: &NodeId) -> usize {
        self.owners[node]
    }

    fn tell_owner(&mut self, node: &NodeId, input: Input) {
        let owner = self.owner(node);
        self.engines[owner].handle(self.now, input);
    }

    /// One step: the earliest of the next world event and the engines' deadlines.
    fn step(&mut self) -> bool {
        let next_event = self.events.first_key_value().map(|((t, _), _)| *t);
        let next_timer = self.engines.iter().filter_map(Engine::poll_timeout).min();
        let next = match (next_event, next_timer) {
            (None, None) => return false,
            (a, b) => a.into_iter().chain(b).min().expect("one is set"),
        };
        self.now = self.now.max(next);
        if next_timer.is_some_and(|t| t <= next_event.unwrap_or(Time(u64::MAX))) {
            for engine in &mut self.engines {
                if engine.poll_timeout().is_some_and(|t| t <= self.now) {
                    engine.handle_timeout(self.now);
                }
            }
        } else {
            let (_, event) = self.events.pop_first().expect("checked");
            self.on_event(event);
        }
        self.drain_commands();
        self.summary.steps += 1;
        let checked = catch_unwind(AssertUnwindSafe(|| {
            self.store.check_invariants();
            self.engines.iter().for_each(Engine::check_invariants);
            self.check_world();
        }));
        if let Err(panic) = checked {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            let recent: Vec<&str> = self.recent.iter().map(String::as_str).collect();
            panic!(
                "at {}: {message}\nlast store exchanges:\n{}\nstate:\n{}",
                self.now,
                recent.join("\n"),
                self.store.describe()
            );
        }
        true
    }

    fn on_event(&mut self, event: Event) {
        match event {
            Event::Arrive => self.arrive(),
            Event::Abandon(channel) => {
                if let Some(node) = self.waiting_node(&channel) {
                    self.end_caller(&channel, "ABANDONED");
                    self.tell_owner(&node, Input::CallerHungUp { node: node.clone(), channel });
                }
            }
            Event::Dtmf(channel, digit) => {
                if let Some(node) = self.callers.get(&channel).map(|c| c.node.clone()) {
                    self.tell_owner(
                        &node,
                        Input::CallerDtmf { node: node.clone(), channel, digit },
                    );
                }
            }
            Event::Reprioritize(channel) => {
                if let Some(node) = self.callers.get(&channel).map(|c| c.node.clone()) {
                    let priority = self.rng.below(10) as i32;
                    self.tell_owner(
                        &node,
                        Input::SetPriority { node: node.clone(), channel, priority },
                    );
                }
            }
            Event::LegAnswers(leg) => {
                if let Some(l) = self.legs.get_mut(&leg) {
                    l.answered = true;
                    let (node, reservation) = (l.node.clone(), l.reservation);
                    self.tell_owner(&node, Input::LegAnswered { reservation });
                }
            }
            Event::LegBusy(leg) => {
                if let Some(l) = self.legs.remove(&leg) {
                    let failed = Input::LegFailed { reservation: l.reservation, miss: Miss::Busy };
                    self.tell_owner(&l.node, failed);
                }
            }
            Event::TalkEnds { leg, agent_hangs_up } => self.talk_ends(&leg, agent_hangs_up),
            Event::AgentMood(i) => {
                let action = match self.rng.below(6) {
                    0 => AgentAction::Logout,
                    1 => AgentAction::Login,
                    2 => AgentAction::Pause { queue: None, reason: "break".into() },
                    3 => AgentAction::Pause {
                        queue: Some(QueueId::new(format!(
                            "q{}",
                            self.rng.below(self.params.queues as u64)
                        ))),
                        reason: "focus".into(),
                    },
                    _ => AgentAction::Unpause { queue: None },
                };
                self.agent_action(i, action);
                let next = Duration::from_secs(30 + self.rng.below(600));
                self.at(next, Event::AgentMood(i));
            }
        }
    }

    fn arrive(&mut self) {
        if !self.arrivals {
            return;
        }
        self.next_caller += 1;
        let channel = format!("c{}", self.next_caller);
        let queue = QueueId::new(format!("q{}", self.rng.below(self.params.queues as u64)));
        let priority = if self.rng.chance(0.1) { 1 + self.rng.below(5) as i32 } else { 0 };
        let patience = Duration::from_secs(10 + self.rng.below(400));
        let node = NodeId::new(NODES[self.rng.below(NODES.len() as u64) as usize]);
        self.callers.insert(channel.clone(), SimCaller { node: node.clone(), talking_on: None });
        self.summary.arrived += 1;
        self.at(patience, Event::Abandon(channel.clone()));
        if self.rng.chance(0.05) {
            let digit = char::from(b'0' + self.rng.below(10) as u8);
            let when = Duration::from_secs(self.rng.below(60));
            self.at(when, Event::Dtmf(channel.clone(), digit));
        }
        if self.rng.chance(0.05) {
            let when = Duration::from_secs(self.rng.below(60));
            self.at(when, Event::Reprioritize(channel.clone()));
        }
        let arrival = Arrival {
            node: node.clone(),
            channel,
            queue,
            caller_id: "5551234".into(),
            priority,
            max_wait: None,
            resumed: None,
            connected: None,
        };
        self.tell_owner(&node, Input::CallerArrived(arrival));
        // Poisson arrivals, with an occasional burst of callers at once.
        let mean = self.params.arrival_mean.as_millis() as f64;
        let gap = if self.rng.chance(0.02) { 0 } else { self.rng.exponential(mean) as u64 };
        self.at(Duration::from_millis(gap), Event::Arrive);
    }

    fn talk_ends(&mut self, leg: &str, agent_hangs_up: bool) {
        let Some(l) = self.legs.get(leg) else { return };
        let (reservation, channel, node) = (l.reservation, l.channel.clone(), l.node.clone());
        if agent_hangs_up {
            self.legs.remove(leg);
            self.tell_owner(&node, Input::LegHungUp { reservation });
        } else if self.callers.contains_key(&channel) {
            self.end_caller(&channel, "CONTINUE");
            self.tell_owner(&node, Input::CallerHungUp { node: node.clone(), channel });
        }
    }

    fn agent_action(&mut self, i: usize, action: AgentAction) {
        // The API is served by any instance.
        let agent = self.agents[i].clone();
        let engine = self.rng.below(self.engines.len() as u64) as usize;
        self.engines[engine].handle(self.now, Input::Agent { agent, action });
    }

    /// The node of a caller still waiting (not talking).
    fn waiting_node(&self, channel: &str) -> Option<NodeId> {
        self.callers.get(channel).filter(|c| c.talking_on.is_none()).map(|c| c.node.clone())
    }

    fn end_caller(&mut self, channel: &str, status: &str) {
        if let Some(c) = self.callers.remove(channel) {
            *self.summary.outcomes.entry(status.to_owned()).or_default() += 1;
            if let Some(leg) = c.talking_on {
                self.legs.remove(&leg);
            }
        }
    }

    /// Carries out every engine's commands, feeding replies back, until all are quiet.
    fn drain_commands(&mut self) {
        loop {
            let mut quiet = true;
            for i in 0..self.engines.len() {
                while let Some(command) = self.engines[i].poll_command() {
                    quiet = false;
                    self.execute(i, command);
                }
            }
            if quiet {
                return;
            }
        }
    }

    fn execute(&mut self, engine: usize, command: Command) {
        let now = self.now;
        match command {
            Command::Store(request) => {
                let asked = format!("{request:?}");
                let reply = self.store.apply_now(request);
                if self.recent.len() == RECENT {
                    self.recent.pop_front();
                }
                self.recent.push_back(format!("  engine {engine}: {asked}\n    -> {reply:?}"));
                self.engines[engine].handle(now, Input::Reply(reply));
            }
            Command::QueryPosition { call } => {
                let position = self.store.position_now(&call);
                self.engines[engine].handle(now, Input::Position { call, position });
            }
            Command::Channel { channel, action, .. } => match action {
                ChannelAction::Continue { status, .. } => self.end_caller(&channel, status),
                ChannelAction::Hangup => self.end_caller(&channel, "CONTINUE"),
                ChannelAction::Answer
                | ChannelAction::Ring
                | ChannelAction::StartMoh(_)
                | ChannelAction::StopMoh
                | ChannelAction::NoteEntry { .. }
                | ChannelAction::NoteConnected { .. }
                | ChannelAction::Play(_) => {
                    assert!(
                        self.callers.contains_key(&channel),
                        "{action:?} on {channel}, which is gone"
                    );
                }
            },
            Command::Dial { node, leg, channel, reservation, endpoint, .. } => {
                assert_eq!(
                    self.owner(&node),
                    engine,
                    "engine {engine} dials on {node}, not its node"
                );
                self.dial(node, leg, channel, reservation, &endpoint)
            }
            Command::Bridge { channel, leg, .. } => {
                let l =
                    self.legs.get(&leg).unwrap_or_else(|| panic!("bridge with unknown leg {leg}"));
                assert!(l.answered, "bridged leg {leg} never answered");
                let c = self
                    .callers
                    .get_mut(&channel)
                    .unwrap_or_else(|| panic!("bridge of gone caller {channel}"));
                assert!(c.talking_on.is_none(), "{channel} bridged twice");
                c.talking_on = Some(leg.clone());
                self.summary.connected += 1;
                let talk = Duration::from_secs(10 + self.rng.below(300));
                let agent_hangs_up = self.rng.chance(0.4);
                self.at(talk, Event::TalkEnds { leg, agent_hangs_up });
            }
            Command::HangupLeg { leg, .. } => {
                self.legs.remove(&leg);
            }
            Command::Route(notices) => {
                // What another instance's request caused for our callers: to each node's owner.
                for notice in notices {
                    self.summary.routed += 1;
                    let owner = self.owner(notice.node());
                    assert_ne!(owner, engine, "engine {engine} routed a notice for its own node");
                    self.engines[owner].handle(now, Input::Notices(vec![notice]));
                }
            }
            Command::NodeFenced { node } => {
                panic!("fenced on {node} though epochs never change here")
            }
        }
    }

    /// The phone rings: the agent's phone model decides what happens.
    fn dial(
        &mut self,
        node: NodeId,
        leg: String,
        channel: String,
        reservation: ReservationId,
        endpoint: &str,
    ) {
        let index: usize =
            endpoint.trim_start_matches("PJSIP/").parse().expect("endpoint of a simulated agent");
        let agent = self.agents[index].clone();
        let ringing: Vec<&String> =
            self.legs.iter().filter(|(_, l)| l.agent == agent).map(|(id, _)| id).collect();
        assert!(
            ringing.is_empty(),
            "agent {agent} offered {leg} while on {ringing:?}: double booking"
        );
        let phone = &self.phones[index];
        let (busy, answer, delay) = (phone.busy, phone.answer, phone.delay_ms);
        self.legs
            .insert(leg.clone(), SimLeg { node, reservation, agent, channel, answered: false });
        if self.rng.chance(busy) {
            self.at(Duration::from_millis(200), Event::LegBusy(leg));
        } else if self.rng.chance(answer) {
            self.at(Duration::from_millis(delay), Event::LegAnswers(leg));
        }
    }

    /// Ground truth: no agent phone on two legs, no caller bridged to two agents.
    fn check_world(&self) {
        let mut per_agent: BTreeSet<&AgentId> = BTreeSet::new();
        for (id, leg) in &self.legs {
            assert!(per_agent.insert(&leg.agent), "agent {} has two legs (one is {id})", leg.agent);
        }
    }

    /// Every caller who entered a queue ends there exactly once in the journal.
    fn check_journal(&self) {
        let mut open: BTreeSet<String> = BTreeSet::new();
        let mut ended: BTreeSet<String> = BTreeSet::new();
        for entry in self.store.journal_now() {
            match &entry.event {
                JournalEvent::Entered { call, .. } => {
                    assert!(open.insert(call.to_string()), "{call} entered twice")
                }
                event => {
                    if let Some(call) = event.terminal_call() {
                        let refused = matches!(event, JournalEvent::Refused { .. });
                        assert!(
                            refused || open.remove(call.as_str()),
                            "{call} ended without being queued: {event:?}"
                        );
                        assert!(ended.insert(call.to_string()), "{call} ended twice: {event:?}");
                    }
                }
            }
        }
        assert!(open.is_empty(), "callers never ended: {open:?}");
        let channels: u64 = self.summary.outcomes.values().sum();
        assert_eq!(channels, self.summary.arrived, "every caller's channel ends once in the world");
    }
}

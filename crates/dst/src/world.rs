//! A simulated call center around one engine and a memory store: callers arrive on a Poisson
//! process (with bursts), wait with a patience, press keys; agents' phones answer after a delay,
//! reject, ring out or are busy; agents log in and out and pause. Time is simulated: a step
//! jumps to the next event or engine deadline, so hours of traffic take milliseconds.
//!
//! After every step the store's, the engine's and the world's own invariants are checked; the
//! world is the ground truth (which phone rang, who was connected to whom).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use starq_core::engine::{Arrival, ChannelAction, Command, Engine, Input};
use starq_core::journal::JournalEvent;
use starq_core::rng::Rng;
use starq_core::shared::{AgentAction, Miss};
use starq_core::{AgentId, Epoch, Fence, NodeId, QueueId, ReservationId, Time};
use starq_store::MemoryStore;

use crate::config::{self, NODE};

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
    talking_on: Option<String>,
}

#[derive(Debug)]
struct SimLeg {
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
}

/// The simulated world.
pub struct World {
    params: Params,
    rng: Rng,
    now: Time,
    engine: Engine,
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
                let reachable = i < params.queues || rng.chance(0.85);
                config::agent(&mut rng, i, params.queues, reachable)
            })
            .collect();
        let store = MemoryStore::new();
        store.configure_now(&queues, &agents);
        let mut engine = Engine::new(&queues, &agents, rng.next_u64());
        let fence = Fence { node: NodeId::new(NODE), epoch: Epoch(0) };
        engine.handle(Time::ZERO, Input::NodeOwned { fence });
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
            engine,
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
    pub fn run(mut self) -> Summary {
        let end_of_busy = self.now + self.params.busy;
        while self.now < end_of_busy {
            if !self.step() {
                break;
            }
        }
        self.liveness();
        self.check_journal();
        self.summary
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
        assert_eq!(self.engine.callers(), 0, "liveness: the engine still follows callers");
        assert_eq!(self.engine.requests_in_flight(), 0);
    }

    fn at(&mut self, delay: Duration, event: Event) {
        self.seq += 1;
        self.events.insert((self.now + delay, self.seq), event);
    }

    /// One step: the earliest of the next world event and the engine's deadline.
    fn step(&mut self) -> bool {
        let next_event = self.events.first_key_value().map(|((t, _), _)| *t);
        let next_timer = self.engine.poll_timeout();
        let next = match (next_event, next_timer) {
            (None, None) => return false,
            (a, b) => a.into_iter().chain(b).min().expect("one is set"),
        };
        self.now = self.now.max(next);
        if next_timer.is_some_and(|t| t <= next_event.unwrap_or(Time(u64::MAX))) {
            self.engine.handle_timeout(self.now);
        } else {
            let (_, event) = self.events.pop_first().expect("checked");
            self.on_event(event);
        }
        self.drain_commands();
        self.summary.steps += 1;
        let checked = catch_unwind(AssertUnwindSafe(|| {
            self.store.check_invariants();
            self.engine.check_invariants();
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
        let now = self.now;
        match event {
            Event::Arrive => self.arrive(),
            Event::Abandon(channel) => {
                if self.callers.get(&channel).is_some_and(|c| c.talking_on.is_none()) {
                    self.end_caller(&channel, "ABANDONED");
                    self.engine.handle(now, Input::CallerHungUp { channel: channel.clone() });
                }
            }
            Event::Dtmf(channel, digit) => {
                if self.callers.contains_key(&channel) {
                    self.engine.handle(now, Input::CallerDtmf { channel: channel.clone(), digit });
                }
            }
            Event::Reprioritize(channel) => {
                if self.callers.contains_key(&channel) {
                    let priority = self.rng.below(10) as i32;
                    self.engine
                        .handle(now, Input::SetPriority { channel: channel.clone(), priority });
                }
            }
            Event::LegAnswers(leg) => {
                if let Some(l) = self.legs.get_mut(&leg) {
                    l.answered = true;
                    let reservation = l.reservation;
                    self.engine.handle(now, Input::LegAnswered { reservation });
                }
            }
            Event::LegBusy(leg) => {
                if let Some(l) = self.legs.remove(&leg) {
                    self.engine.handle(
                        now,
                        Input::LegFailed { reservation: l.reservation, miss: Miss::Busy },
                    );
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
        self.callers.insert(channel.clone(), SimCaller { talking_on: None });
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
            node: NodeId::new(NODE),
            channel,
            queue,
            caller_id: "5551234".into(),
            priority,
            max_wait: None,
        };
        self.engine.handle(self.now, Input::CallerArrived(arrival));
        // Poisson arrivals, with an occasional burst of callers at once.
        let mean = self.params.arrival_mean.as_millis() as f64;
        let gap = if self.rng.chance(0.02) { 0 } else { self.rng.exponential(mean) as u64 };
        self.at(Duration::from_millis(gap), Event::Arrive);
    }

    fn talk_ends(&mut self, leg: &str, agent_hangs_up: bool) {
        let Some(l) = self.legs.get(leg) else { return };
        let (reservation, channel) = (l.reservation, l.channel.clone());
        if agent_hangs_up {
            self.legs.remove(leg);
            self.engine.handle(self.now, Input::LegHungUp { reservation });
        } else if self.callers.contains_key(&channel) {
            self.end_caller(&channel, "CONTINUE");
            self.engine.handle(self.now, Input::CallerHungUp { channel: channel.clone() });
        }
    }

    fn agent_action(&mut self, i: usize, action: AgentAction) {
        let agent = self.agents[i].clone();
        self.engine.handle(self.now, Input::Agent { agent, action });
    }

    fn end_caller(&mut self, channel: &str, status: &str) {
        if let Some(c) = self.callers.remove(channel) {
            *self.summary.outcomes.entry(status.to_owned()).or_default() += 1;
            if let Some(leg) = c.talking_on {
                self.legs.remove(&leg);
            }
        }
    }

    /// Carries out every command the engine has, feeding replies back, until it is quiet.
    fn drain_commands(&mut self) {
        while let Some(command) = self.engine.poll_command() {
            self.execute(command);
        }
    }

    fn execute(&mut self, command: Command) {
        let now = self.now;
        match command {
            Command::Store(request) => {
                let asked = format!("{request:?}");
                let reply = self.store.apply_now(request);
                if self.recent.len() == RECENT {
                    self.recent.pop_front();
                }
                self.recent.push_back(format!("  {asked}\n    -> {reply:?}"));
                self.engine.handle(now, Input::Reply(reply));
            }
            Command::QueryPosition { call } => {
                let position = self.store.position_now(&call);
                self.engine.handle(now, Input::Position { call, position });
            }
            Command::Channel { channel, action, .. } => match action {
                ChannelAction::Continue { status, .. } => self.end_caller(&channel, status),
                ChannelAction::Hangup => self.end_caller(&channel, "CONTINUE"),
                ChannelAction::Answer
                | ChannelAction::Ring
                | ChannelAction::StartMoh(_)
                | ChannelAction::StopMoh
                | ChannelAction::Play(_) => {
                    assert!(
                        self.callers.contains_key(&channel),
                        "{action:?} on {channel}, which is gone"
                    );
                }
            },
            Command::Dial { leg, reservation, endpoint, .. } => {
                self.dial(leg, reservation, &endpoint)
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
            Command::Route(notices) => panic!("notices for nodes nobody owns: {notices:?}"),
            Command::NodeFenced { node } => panic!("fenced on {node} with a single engine"),
        }
    }

    /// The phone rings: the agent's phone model decides what happens.
    fn dial(&mut self, leg: String, reservation: ReservationId, endpoint: &str) {
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
        let channel = leg.split("-r").next().expect("leg id starts with the call").to_owned();
        let channel =
            channel.split("-q").next().expect("call id starts with the channel").to_owned();
        self.legs.insert(leg.clone(), SimLeg { reservation, agent, channel, answered: false });
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

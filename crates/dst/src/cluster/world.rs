//! The world: one queue of happenings ordered by (time, sequence), the instances, the shared
//! store and the nodes, and what stands between them (the driver's and the executor's part, the
//! network's delays). A step takes the earliest of the next happening and the instances'
//! deadlines, then checks every invariant.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use starq_ari::events::DisconnectReason;
use starq_ari::{ConnectionState, StreamItem};
use starq_core::config::{AgentConfig, QueueConfig};
use starq_core::engine::{ChannelAction, Input as CoreInput};
use starq_core::rng::Rng;
use starq_core::shared::{AgentAction, Miss};
use starq_core::{Fence, NodeId, Time};
use starq_engine::instance::{AriCommand, AriOutcome, Input, OpId, Output, StoreOp};
use starq_engine::{Instance, Settings};

use super::faults::{FaultKind, Recovery, RestFate};
use super::node::{APP, Birth, Effect, Leaving, Phone, SimNode, Timer};
use super::store::SharedStore;
use super::{Params, Summary};
use crate::config;

/// The first instant of a world (ms since 1970, as the instances count).
const START: Time = Time(1_700_000_000_000);
/// How long a node lease lasts.
pub(super) const LEASE_TTL: Duration = Duration::from_secs(3);
/// How long a node's stream may stay down before its calls are declared lost.
pub(super) const NODE_DOWN_AFTER: Duration = Duration::from_secs(5);

/// One event stream an instance opened: which instance (and which life of it), which tenure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct StreamKey {
    pub slot: usize,
    pub incarnation: u32,
    pub tenure: Fence,
}

/// Something that happens at a given time.
#[derive(Debug)]
enum Happening {
    Arrive,
    /// Agents log in (at start, and after the store lost them) through a running instance.
    Login,
    /// An input reaches an instance (an answer to one of its requests).
    Deliver {
        slot: usize,
        incarnation: u32,
        input: Input,
    },
    /// A node's event stream delivers an item.
    Stream {
        key: StreamKey,
        item: StreamItem,
    },
    /// A store operation reaches the store.
    Store {
        slot: usize,
        incarnation: u32,
        id: OpId,
        op: StoreOp,
    },
    /// An ARI request reaches a node.
    Ari {
        slot: usize,
        incarnation: u32,
        node: usize,
        command: AriCommand,
        fate: RestFate,
    },
    List {
        slot: usize,
        incarnation: u32,
        node: usize,
        as_of: u64,
    },
    Describe {
        slot: usize,
        incarnation: u32,
        node: usize,
        channels: Vec<String>,
    },
    /// A stream (re)connects to its node.
    Connect(StreamKey),
    Node {
        node: usize,
        timer: Timer,
    },
    Fault,
    Recover(Recovery),
}

/// An instance's place in the world: the machine while it runs, and what its driver holds.
pub(super) struct Slot {
    pub name: String,
    pub instance: Option<Instance>,
    /// Counts starts: answers to an earlier life are lost.
    pub incarnation: u32,
    pub frozen: bool,
    /// Inputs that reached it while frozen, in order.
    pub backlog: Vec<Input>,
    /// Per node, the tenure requests go out under and until when (the executor's fence).
    pub executors: BTreeMap<NodeId, (Fence, Time)>,
}

/// A caller as the world saw it.
#[derive(Debug)]
pub(super) struct WorldCaller {
    pub queue: usize,
    pub connected: bool,
    pub left: Option<String>,
}

/// The simulated world.
pub struct World {
    pub(super) params: Params,
    pub(super) rng: Rng,
    pub(super) now: Time,
    happenings: BTreeMap<(Time, u64), Happening>,
    seq: u64,
    pub(super) slots: Vec<Slot>,
    pub(super) store: SharedStore,
    pub(super) nodes: Vec<SimNode>,
    /// Per node, the stream consumer registered for the app (connected), if any.
    pub(super) consumers: Vec<Option<StreamKey>>,
    /// Streams open (opened and neither closed, replaced nor dead with their instance).
    pub(super) streams: Vec<StreamKey>,
    /// Per node, when its last stream item is due: items arrive in order.
    stream_clock: Vec<Time>,
    /// Per (instance, node), when its last REST request lands: requests land in order.
    rest_clock: BTreeMap<(usize, usize), Time>,
    pub(super) queues: Vec<QueueConfig>,
    agents: Vec<AgentConfig>,
    pub(super) phones: Vec<Phone>,
    pub(super) callers: BTreeMap<String, WorldCaller>,
    /// Times the store lost everything: legs of an earlier era are not held to the invariants
    /// a store that forgot them cannot keep.
    pub(super) era: u32,
    serial: u64,
    next_caller: u64,
    pub(super) busy_until: Time,
    pub(super) summary: Summary,
}

impl World {
    /// Builds a world from its parameters.
    pub fn new(params: Params) -> Self {
        let mut rng = Rng::seeded(params.seed);
        let queues: Vec<_> =
            (0..params.queues).map(|i| config::queue(&mut rng, i, params.queues)).collect();
        let agents: Vec<_> = (0..params.agents)
            .map(|i| config::agent(&mut rng, i, params.queues, i < params.queues))
            .collect();
        let phones = (0..params.agents)
            .map(|_| Phone {
                answer: 0.5 + rng.unit() * 0.5,
                busy: rng.unit() * 0.15,
                delay: Duration::from_millis(300 + rng.below(6_000)),
            })
            .collect();
        let nodes: Vec<SimNode> = (0..params.nodes).map(|i| SimNode::new(node_id(i))).collect();
        let slots = (0..params.instances)
            .map(|i| Slot {
                name: format!("starq-{i}"),
                instance: None,
                incarnation: 0,
                frozen: false,
                backlog: Vec::new(),
                executors: BTreeMap::new(),
            })
            .collect();
        let mut world = World {
            busy_until: START + params.busy,
            consumers: vec![None; nodes.len()],
            stream_clock: vec![START; nodes.len()],
            nodes,
            params,
            rng,
            now: START,
            happenings: BTreeMap::new(),
            seq: 0,
            slots,
            store: SharedStore::default(),
            streams: Vec::new(),
            rest_clock: BTreeMap::new(),
            queues,
            agents,
            phones,
            callers: BTreeMap::new(),
            era: 0,
            serial: 0,
            next_caller: 0,
            summary: Summary::default(),
        };
        for slot in 0..world.slots.len() {
            let stagger = Duration::from_millis(world.rng.below(500));
            world.at(stagger, Happening::Recover(Recovery::Start(slot)));
        }
        world.at(Duration::from_millis(300), Happening::Login);
        world.at(Duration::from_secs(1), Happening::Arrive);
        world.schedule_fault();
        world
    }

    /// Runs the busy phase, then the quiet one, checking invariants after every step, then
    /// the final checks. Panics on any violation; returns the summary.
    pub fn run(mut self) -> Summary {
        let end = self.busy_until + self.params.quiet;
        while self.step(end) {}
        self.now = end;
        self.checked(World::check_quiet);
        self.summary
    }

    fn at(&mut self, delay: Duration, happening: Happening) {
        self.seq += 1;
        self.happenings.insert((self.now + delay, self.seq), happening);
    }

    fn millis(&mut self, low: u64, high: u64) -> Duration {
        Duration::from_millis(low + self.rng.below(high - low + 1))
    }

    pub(super) fn next_serial(&mut self) -> u64 {
        self.serial += 1;
        self.serial
    }

    /// One step, unless nothing is due before `end`.
    fn step(&mut self, end: Time) -> bool {
        let next_happening = self.happenings.first_key_value().map(|((t, _), _)| *t);
        let next_timeout = self
            .slots
            .iter()
            .filter(|s| !s.frozen)
            .filter_map(|s| s.instance.as_ref()?.poll_timeout())
            .min();
        let Some(next) = next_happening.into_iter().chain(next_timeout).min() else {
            return false;
        };
        if next > end {
            return false;
        }
        self.now = self.now.max(next);
        if next_timeout.is_some_and(|t| Some(t) <= next_happening.or(Some(Time(u64::MAX)))) {
            for slot in 0..self.slots.len() {
                let due = !self.slots[slot].frozen
                    && self.slots[slot]
                        .instance
                        .as_ref()
                        .and_then(Instance::poll_timeout)
                        .is_some_and(|t| t <= self.now);
                if due {
                    self.note(|| format!("slot {slot}: timeout"));
                    if let Some(instance) = self.slots[slot].instance.as_mut() {
                        instance.handle_timeout(self.now);
                    }
                    self.carry_out(slot);
                }
            }
        } else {
            let (_, happening) = self.happenings.pop_first().expect("checked");
            self.note(|| format!("{happening:?}"));
            self.happen(happening);
        }
        self.summary.steps += 1;
        self.checked(World::check_step);
        true
    }

    /// Prints a line about the step when tracing (formatting every step otherwise would cost
    /// more than the step).
    fn note(&self, line: impl FnOnce() -> String) {
        if self.params.trace {
            eprintln!("+{} {}", self.now.0 - START.0, line());
        }
    }

    /// Runs a check, adding the time and the store's state to its panic.
    fn checked(&self, check: fn(&World)) {
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| check(self))) {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            panic!(
                "at +{} ms: {message}\nstore:\n{}(STARQ_TRACE=1 prints every step)",
                self.now.0 - START.0,
                self.store.store.describe()
            );
        }
    }

    fn happen(&mut self, happening: Happening) {
        match happening {
            Happening::Arrive => self.arrive(),
            Happening::Login => self.login(),
            Happening::Deliver { slot, incarnation, input } => {
                if self.slots[slot].incarnation == incarnation {
                    self.feed(slot, input);
                }
            }
            Happening::Stream { key, item } => {
                let Some(open) = self.streams.iter().position(|s| *s == key) else { return };
                if matches!(item, StreamItem::Replaced) {
                    // The stream ends after telling its instance.
                    self.streams.swap_remove(open);
                }
                self.feed(key.slot, Input::Stream { tenure: key.tenure, item });
            }
            Happening::Store { slot, incarnation, id, op } => {
                // Performed even for an instance gone since: the request was on the wire.
                let answer = self.store.perform(op);
                let delay = self.millis(0, 2);
                let input = Input::Store { id, answer };
                self.at(delay, Happening::Deliver { slot, incarnation, input });
            }
            Happening::Ari { slot, incarnation, node, command, fate } => {
                self.land(slot, incarnation, node, command, fate);
            }
            Happening::List { slot, incarnation, node, as_of } => {
                let listing = if !self.nodes[node].up {
                    Err("connection refused".to_owned())
                } else if self.rest_fails() {
                    Err("simulated 500".to_owned())
                } else {
                    Ok(self.nodes[node].listing())
                };
                let node = node_id(node);
                let input = Input::Listed { node, as_of, listing };
                let delay = self.millis(1, 5);
                self.at(delay, Happening::Deliver { slot, incarnation, input });
            }
            Happening::Describe { slot, incarnation, node, channels } => {
                let strays =
                    if self.nodes[node].up { self.nodes[node].describe(&channels) } else { vec![] };
                if !strays.is_empty() {
                    let input = Input::Strays { node: node_id(node), strays };
                    let delay = self.millis(1, 5);
                    self.at(delay, Happening::Deliver { slot, incarnation, input });
                }
            }
            Happening::Connect(key) => self.connect(key),
            Happening::Node { node, timer } => {
                let mut fx = Vec::new();
                self.nodes[node].fire(self.now, timer, &mut fx);
                self.effects(node, fx);
            }
            Happening::Fault => self.inject(),
            Happening::Recover(recovery) => self.recover(recovery),
        }
    }

    /// Hands an input to an instance (held back while it is frozen).
    pub(super) fn feed(&mut self, slot: usize, input: Input) {
        let s = &mut self.slots[slot];
        let Some(instance) = s.instance.as_mut() else { return };
        if s.frozen {
            s.backlog.push(input);
            return;
        }
        instance.handle(self.now, input);
        self.carry_out(slot);
    }

    /// Carries out an instance's outputs as its driver would.
    pub(super) fn carry_out(&mut self, slot: usize) {
        loop {
            let Some(output) = self.slots[slot].instance.as_mut().and_then(Instance::poll_output)
            else {
                return;
            };
            let incarnation = self.slots[slot].incarnation;
            match output {
                Output::Store { id, op } => {
                    let delay = self.millis(0, 2);
                    self.at(delay, Happening::Store { slot, incarnation, id, op });
                }
                Output::Ari { node, command } => self.send(slot, &node, command),
                Output::Attach { tenure, until } => {
                    let key = StreamKey { slot, incarnation, tenure: tenure.clone() };
                    // An earlier stream of the same tenure is dropped for the new one.
                    self.streams.retain(|s| *s != key);
                    self.streams.push(key.clone());
                    self.slots[slot].executors.insert(tenure.node.clone(), (tenure, until));
                    let delay = self.millis(1, 5);
                    self.at(delay, Happening::Connect(key));
                }
                Output::Extend { tenure, until } => {
                    if let Some((current, end)) = self.slots[slot].executors.get_mut(&tenure.node)
                        && *current == tenure
                    {
                        *end = until;
                    }
                }
                Output::EndTenure(tenure) => {
                    let executors = &mut self.slots[slot].executors;
                    if executors.get(&tenure.node).is_some_and(|(current, _)| *current == tenure) {
                        executors.remove(&tenure.node);
                    }
                }
                Output::CloseStream(tenure) => {
                    let key = StreamKey { slot, incarnation, tenure };
                    self.close_stream(&key);
                }
                Output::List { node, as_of } => {
                    let node = node_index(&node);
                    let delay = self.millis(1, 10);
                    self.at(delay, Happening::List { slot, incarnation, node, as_of });
                }
                Output::DescribeStrays { node, channels } => {
                    let node = node_index(&node);
                    let delay = self.millis(1, 10);
                    self.at(delay, Happening::Describe { slot, incarnation, node, channels });
                }
                Output::RecallPresence => {
                    // No durable record of presence here: agents log in again themselves.
                    let input = Input::Presence(Ok(Vec::new()));
                    let delay = self.millis(1, 5);
                    self.at(delay, Happening::Deliver { slot, incarnation, input });
                }
                Output::Exit { error } => {
                    self.note(|| format!("slot {slot} exits: {error:?}"));
                    self.summary.exits += 1;
                    self.stop(slot);
                    let delay = self.millis(500, 2_000);
                    self.at(delay, Happening::Recover(Recovery::Start(slot)));
                    return;
                }
            }
        }
    }

    /// A stream is closed by its instance (or dies with it): a consumer no more.
    pub(super) fn close_stream(&mut self, key: &StreamKey) {
        self.streams.retain(|s| s != key);
        for consumer in &mut self.consumers {
            if consumer.as_ref() == Some(key) {
                *consumer = None;
            }
        }
    }

    /// The instance process ends: its machine, its streams and every answer on its way.
    pub(super) fn stop(&mut self, slot: usize) {
        let s = &mut self.slots[slot];
        s.instance = None;
        s.incarnation += 1;
        s.frozen = false;
        s.backlog.clear();
        s.executors.clear();
        let gone: Vec<StreamKey> =
            self.streams.iter().filter(|k| k.slot == slot).cloned().collect();
        for key in gone {
            self.close_stream(&key);
        }
    }

    /// A new process for the slot, with the same name.
    pub(super) fn start(&mut self, slot: usize) {
        let mut settings = Settings::new(self.slots[slot].name.clone());
        settings.lease_ttl = LEASE_TTL;
        settings.node_down_after = NODE_DOWN_AFTER;
        settings.seed =
            self.params.seed ^ (slot as u64) << 32 ^ u64::from(self.slots[slot].incarnation);
        let nodes = (0..self.nodes.len()).map(|i| (node_id(i), APP.to_owned()));
        let instance =
            Instance::new(settings, nodes, self.queues.clone(), self.agents.clone(), self.now);
        self.slots[slot].instance = Some(instance);
        self.carry_out(slot);
    }

    /// An ARI request through the executor of the node's current tenure, if it may still act.
    fn send(&mut self, slot: usize, node: &NodeId, command: AriCommand) {
        // A leg's hang-up goes out until the tenure ends, even past the lease (as the driver's
        // executor does).
        let hangup = matches!(command, AriCommand::HangupLeg { .. });
        let acting = self.slots[slot]
            .executors
            .get(node)
            .is_some_and(|(_, until)| hangup || self.now < *until);
        if !acting {
            self.summary.fenced_requests += 1;
            return;
        }
        let fate = self.rest_fate(&command);
        let n = node_index(node);
        let incarnation = self.slots[slot].incarnation;
        let mut latency = Duration::from_millis(1 + self.rng.below(10));
        if self.params.faults.slow_rest && self.rng.chance(SLOW_REST_RATE) {
            // Within the teardown rest's assumption (`docs/reliability.md`, limits): a hang-up
            // reaches its node within `LEG_TEARDOWN`.
            latency += Duration::from_millis(100 + self.rng.below(200));
            self.count(FaultKind::SlowRest);
        }
        let clock = self.rest_clock.entry((slot, n)).or_insert(self.now);
        let lands = (*clock).max(self.now) + latency;
        *self.rest_clock.get_mut(&(slot, n)).expect("inserted") = lands;
        self.seq += 1;
        let happening = Happening::Ari { slot, incarnation, node: n, command, fate };
        self.happenings.insert((lands, self.seq), happening);
    }

    /// A REST request reaches its node; what came of it goes back to the instance.
    fn land(
        &mut self,
        slot: usize,
        incarnation: u32,
        node: usize,
        command: AriCommand,
        fate: RestFate,
    ) {
        let leg_failed = |command: &AriCommand| match command {
            AriCommand::CreateLeg { reservation, .. } | AriCommand::DialLeg { reservation, .. } => {
                Some(AriOutcome::LegFailed { reservation: *reservation, miss: Miss::Failed })
            }
            _ => None,
        };
        let outcome = if !self.nodes[node].up || fate == RestFate::Refused {
            leg_failed(&command)
        } else {
            let mut fx = Vec::new();
            let birth = Birth { era: self.era, serial: self.next_serial() };
            let outcome = self.nodes[node].rest(
                self.now,
                &command,
                &self.phones,
                birth,
                &mut self.rng,
                &mut fx,
            );
            self.effects(node, fx);
            if fate == RestFate::TimedOut { leg_failed(&command) } else { outcome }
        };
        if let Some(outcome) = outcome {
            if matches!(outcome, AriOutcome::DialEarly(..)) {
                self.summary.early_dials += 1;
            }
            let input = Input::Ari { node: node_id(node), outcome };
            let delay = self.millis(1, 3);
            self.at(delay, Happening::Deliver { slot, incarnation, input });
        }
    }

    /// What a node step produced: events to its consumer, timers, callers leaving.
    pub(super) fn effects(&mut self, node: usize, fx: Vec<Effect>) {
        for effect in fx {
            match effect {
                Effect::Event(event) => match self.consumers[node].clone() {
                    Some(key) => self.stream(node, key, StreamItem::Event(event)),
                    None => self.note(|| format!("n{node}: event lost, no consumer")),
                },
                Effect::Later(delay, timer) => self.at(delay, Happening::Node { node, timer }),
                Effect::CallerLeft { channel, how } => self.caller_left(&channel, how),
                Effect::Connected { caller } => {
                    self.summary.connected += 1;
                    if let Some(c) = self.callers.get_mut(&caller) {
                        c.connected = true;
                    }
                }
                Effect::AgentGaveUp => self.summary.agents_gave_up += 1,
            }
        }
    }

    /// Queues an item on a node's stream to one consumer, after the node's earlier items.
    pub(super) fn stream(&mut self, node: usize, key: StreamKey, item: StreamItem) {
        let due = self.stream_clock[node].max(self.now) + self.millis(0, 3);
        self.stream_clock[node] = due;
        self.seq += 1;
        self.happenings.insert((due, self.seq), Happening::Stream { key, item });
    }

    /// A stream (re)connects: it registers the app, taking it from whoever held it.
    fn connect(&mut self, key: StreamKey) {
        if !self.streams.contains(&key) {
            return;
        }
        let node = node_index(&key.tenure.node);
        if !self.nodes[node].up {
            // The client tries again.
            self.at(Duration::from_secs(1), Happening::Connect(key));
            return;
        }
        if let Some(previous) = self.consumers[node].take()
            && previous != key
        {
            self.stream(node, previous, StreamItem::Replaced);
        }
        self.consumers[node] = Some(key.clone());
        self.stream(node, key, StreamItem::State(ConnectionState::Connected));
    }

    /// The consumer of a node loses its WebSocket; it tries again after `retry`.
    pub(super) fn disconnect(&mut self, node: usize, retry: Duration) {
        let Some(key) = self.consumers[node].take() else { return };
        let state = ConnectionState::Disconnected {
            reason: DisconnectReason::Dead,
            attempt: 1,
            retry_in: retry,
        };
        self.stream(node, key.clone(), StreamItem::State(state));
        self.at(retry, Happening::Connect(key));
    }

    fn arrive(&mut self) {
        if self.now >= self.busy_until {
            return;
        }
        let mean = self.params.arrival_mean.as_millis() as f64;
        let gap = if self.rng.chance(0.03) { 0 } else { self.rng.exponential(mean) as u64 };
        self.at(Duration::from_millis(gap), Happening::Arrive);
        let node = self.rng.below(self.nodes.len() as u64) as usize;
        if !self.nodes[node].up {
            return; // Nobody calls a dead server.
        }
        self.next_caller += 1;
        let channel = format!("c{}", self.next_caller);
        if self.consumers[node].is_none() {
            self.summary.stasis_failed += 1;
            return;
        }
        self.summary.arrived += 1;
        let queue = self.rng.below(self.queues.len() as u64) as usize;
        let mut args = vec![format!("queue=q{queue}")];
        if self.rng.chance(0.1) {
            args.push(format!("priority={}", 1 + self.rng.below(5)));
        }
        let patience = Duration::from_secs(3 + self.rng.below(23));
        let serial = self.next_serial();
        let caller = WorldCaller { queue, connected: false, left: None };
        self.callers.insert(channel.clone(), caller);
        let mut fx = Vec::new();
        self.nodes[node].arrive(self.now, &channel, args, serial, patience, &mut fx);
        self.effects(node, fx);
    }

    fn caller_left(&mut self, channel: &str, how: Leaving) {
        let caller = self.callers.get_mut(channel).expect("a caller the world made");
        assert!(caller.left.is_none(), "caller {channel} left twice");
        let outcome = match how {
            Leaving::NodeLost => "node-lost".to_owned(),
            _ if caller.connected => "talked".to_owned(),
            Leaving::HungUp => {
                self.summary.abandoned += 1;
                "abandoned".to_owned()
            }
            Leaving::HungUpByStarq => "hung-up-by-starq".to_owned(),
            Leaving::Continued(status) => status,
        };
        *self.summary.outcomes.entry(outcome.clone()).or_default() += 1;
        caller.left = Some(outcome);
    }

    /// Every agent logs in, through one running instance (the API is served by any).
    fn login(&mut self) {
        let running: Vec<usize> = (0..self.slots.len())
            .filter(|&i| {
                let s = &self.slots[i];
                !s.frozen && s.instance.as_ref().is_some_and(Instance::started)
            })
            .collect();
        if running.is_empty() {
            self.at(Duration::from_millis(200), Happening::Login);
            return;
        }
        let slot = running[self.rng.below(running.len() as u64) as usize];
        for agent in self.agents.iter().map(|a| a.id.clone()).collect::<Vec<_>>() {
            let input = CoreInput::Agent { agent, action: AgentAction::Login };
            self.feed(slot, Input::Api(input));
        }
    }

    /// Agents log in again later (after the store forgot them).
    pub(super) fn login_later(&mut self, delay: Duration) {
        self.at(delay, Happening::Login);
    }

    pub(super) fn schedule_fault(&mut self) {
        let mean = self.params.fault_mean.as_millis() as f64;
        let gap = Duration::from_millis(self.rng.exponential(mean) as u64);
        self.at(gap, Happening::Fault);
    }

    pub(super) fn recover_later(&mut self, delay: Duration, recovery: Recovery) {
        self.at(delay, Happening::Recover(recovery));
    }

    pub(super) fn count(&mut self, kind: FaultKind) {
        *self.summary.faults.entry(kind).or_default() += 1;
    }

    /// Whether a listing or a media action fails (REST errors enabled).
    fn rest_fails(&mut self) -> bool {
        self.params.faults.rest_errors && self.rng.chance(REST_ERROR_RATE)
    }

    /// What becomes of a REST request: leg requests and media actions may fail, before
    /// reaching Asterisk or after (a time-out: done, but answered with an error). Teardown
    /// (hang-ups, continues, bridges) does not fail here.
    fn rest_fate(&mut self, command: &AriCommand) -> RestFate {
        let fails = match command {
            AriCommand::CreateLeg { .. } | AriCommand::DialLeg { .. } => {
                self.params.faults.leg_request_failures && self.rng.chance(REST_ERROR_RATE)
            }
            AriCommand::Channel { action, .. } => {
                matches!(
                    action,
                    ChannelAction::Answer
                        | ChannelAction::Ring
                        | ChannelAction::StartMoh(_)
                        | ChannelAction::Play(_)
                        | ChannelAction::NoteEntry { .. }
                ) && self.rest_fails()
            }
            _ => false,
        };
        if !fails {
            return RestFate::Done;
        }
        if self.rng.chance(0.5) {
            self.count(FaultKind::RestError);
            RestFate::Refused
        } else {
            self.count(FaultKind::RestTimeout);
            RestFate::TimedOut
        }
    }
}

/// Chance that one REST request fails while REST errors are enabled.
const REST_ERROR_RATE: f64 = 0.03;
/// The share of ARI requests a slowed node answers late.
const SLOW_REST_RATE: f64 = 0.02;

/// The id of the `i`-th node.
pub(super) fn node_id(i: usize) -> NodeId {
    NodeId::new(format!("n{}", i + 1))
}

pub(super) fn node_index(node: &NodeId) -> usize {
    node.as_str()[1..].parse::<usize>().expect("a simulated node") - 1
}

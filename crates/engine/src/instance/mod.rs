//! The instance: everything one starq process decides, as a deterministic state machine.
//!
//! [`Instance`] wraps the routing core ([`Engine`]) with what a process running it among
//! others must decide: which nodes it owns (leases, epochs, rebalancing by rendezvous hashing,
//! hand-over, another consumer taking the app), what each ARI event means ([`Channels`]),
//! what a node's app holds after a reconnect (reconcile, adoption, strays), the notices
//! instances leave each other, agents' rests, a node's loss and return, the store's absence,
//! configuration changed while it runs (followed at once; written into the store by one
//! instance, the first live one by name), and shutdown. It reads no clock, does no I/O and draws no global randomness: the shell
//! ([`crate::driver`] in a process, a seeded simulation in tests) calls, as often as it likes,
//!
//! 1. [`Instance::handle`] with each [`Input`] and the time it happened, or
//!    [`Instance::handle_timeout`] once [`Instance::poll_timeout`] is due;
//! 2. [`Instance::poll_output`] until it returns `None`, carrying each [`Output`] out and
//!    handing answers back as inputs.
//!
//! Store operations may be performed side by side: the machine keeps those that must be
//! ordered (the core's routing requests) to one in flight, and retries one the store could not
//! take while it is away, without holding anything else up: events, signals, lease renewals
//! and drain go on.
//!
//! | module | owns |
//! |---|---|
//! | `io` | inputs, outputs, store operations and ARI requests, as data |
//! | `nodes` | ownership of each node: leases, rebalancing, hand-over, replacement, loss |
//! | `reconcile` | a node's app listing against what is followed and what the store holds |
//! | `codes` | agent feature codes from phones, from arrival to the dialplan |

mod codes;
mod io;
mod nodes;
mod reconcile;

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use starq_ari::{ConnectionState, StreamItem};
use starq_core::config::{AgentConfig, QueueConfig};
use starq_core::engine::{ChannelAction, Command, Engine, Input as CoreInput, LegHangup};
use starq_core::shared::{AgentAction, LEG_TEARDOWN, Presence, Request};
use starq_core::{AgentId, CallId, Fence, NodeId, Time};
use starq_store::{AgentStatus, StoreError};

pub use io::{AriCommand, AriOutcome, Input, Listing, OpId, Output, StoreAnswer, StoreOp, Stray};
use nodes::Node;

use crate::config::Catalog;
use crate::translate::{Channels, DialOrder, Step};
use crate::{Health, Settings};

/// How often node inboxes are read while other instances are live (and ten times slower
/// while alone, for what a departed instance left).
const INBOX_EVERY: Duration = Duration::from_millis(25);
/// Notices taken from an inbox at once.
const INBOX_BATCH: usize = 256;
/// How often every owned node is reconciled with the store, even without a reconnect.
const RECONCILE_EVERY: Duration = Duration::from_secs(5);
/// How soon a listing or a store read that failed during a reconcile is tried again.
const RECONCILE_RETRY: Duration = Duration::from_secs(1);
/// The first pause before trying again a routing request the store could not take, doubled
/// on each failure up to [`STORE_RETRY_MAX`].
const STORE_RETRY_MIN: Duration = Duration::from_millis(50);
/// The longest pause between two tries of a store that is away.
const STORE_RETRY_MAX: Duration = Duration::from_secs(1);
/// How long a leaving instance waits for the store to take its leave (leases released) before
/// it exits anyway.
const LEAVE_WAIT: Duration = Duration::from_secs(1);

/// Where the instance is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Joining: first heartbeat, leases, configuration.
    Starting { configuring: bool },
    /// Routing.
    Running,
    /// Taking no new callers; ringing legs may still be answered until `until`.
    Draining { until: Time },
    /// Leases being released; exits once the store took them or at `until`.
    Leaving { until: Time },
    /// [`Output::Exit`] was given.
    Done,
}

/// What a store operation in flight was for, to act on its answer.
#[derive(Debug)]
enum Purpose {
    /// The first heartbeat: which nodes to take.
    Join,
    /// A renewal's heartbeat.
    Beat,
    /// The heartbeat that leaves the live instances.
    Leave,
    Acquire(NodeId),
    Renew(Fence),
    /// After `ApplicationReplaced`: whether the lease is still this instance's.
    Replaced(Fence),
    Release,
    Configure,
    /// The core's routing request in flight (see [`Routing`]), kept to be tried again.
    Route(Request),
    Position(CallId),
    Inbox(Fence),
    Post,
    NodeCalls {
        node: NodeId,
        as_of: u64,
        listing: Listing,
    },
    Rest(AgentId),
    /// An agent's view for a feature code on this node's channel.
    Code(NodeId, String),
}

/// The core's routing requests: applied in the order the core gives them, one at a time, and
/// tried again while the store is away. The core's later commands wait behind one in flight,
/// so they go out in the order the core gave them, as the core expects.
#[derive(Debug, Default)]
struct Routing {
    in_flight: Option<OpId>,
    /// A request the store could not take, and when to try it again.
    retry: Option<(Request, Time)>,
    pause: Duration,
}

impl Routing {
    fn idle(&self) -> bool {
        self.in_flight.is_none() && self.retry.is_none()
    }
}

/// What an instance rebuilds after finding the store without its state: the conversations and
/// waiting callers of its nodes (from Asterisk, on each node's next reconcile), then the agents'
/// presence (from the durable record).
#[derive(Debug, Default)]
struct Recovery {
    /// The durable record was asked for.
    asked: bool,
    /// What it answered, held until the nodes are reconciled.
    presence: Option<Vec<Presence>>,
    /// Nodes reconciled since.
    reconciled: std::collections::BTreeSet<NodeId>,
}

/// Passes over the agents' rests (see [`Instance::follow_rests`]).
#[derive(Debug, Default)]
struct Rests {
    queue: VecDeque<AgentId>,
    in_flight: bool,
    /// Asked for again while a pass ran: one more pass follows it.
    again: bool,
    /// No rest read ends before this (leftover legs a reconcile just hung up must land first).
    not_before: Time,
}

/// When each periodic duty is next due.
#[derive(Debug)]
struct Cadence {
    renew: Time,
    inbox: Time,
    inbox_skips: u32,
    reconcile: Time,
}

/// One starq instance's decisions. See the module docs for the call order.
#[derive(Debug)]
pub struct Instance {
    settings: Settings,
    engine: Engine,
    channels: Channels,
    /// Agent feature codes in progress.
    codes: codes::Codes,
    nodes: BTreeMap<NodeId, Node>,
    /// Live instances at the last heartbeat, sorted.
    live: Vec<String>,
    /// The configuration this instance installs, again in a store that lost it, and the
    /// catalog's revision it came from (0: the configuration file's).
    queues: Arc<[QueueConfig]>,
    agents: Arc<[AgentConfig]>,
    revision: u64,
    /// This instance writes configuration into the store (see [`Instance::writes_configuration`]).
    writer: bool,
    ops: BTreeMap<OpId, Purpose>,
    next_op: u64,
    outputs: VecDeque<Output>,
    now: Time,
    routing: Routing,
    /// Why the store is away, while it is: routing is paused until it answers again.
    store_error: Option<String>,
    cadence: Cadence,
    beating: bool,
    rests: Rests,
    /// Streams of tenures handed over, closed at the given time.
    closing: Vec<(Time, Fence)>,
    /// Nodes to list again, and when.
    relist: BTreeMap<NodeId, Time>,
    /// Nodes whose events may have been missed (a reconnect, events lost): their ringing legs are
    /// asked about at the next reconcile (see `Channels::redials`).
    missed_events: std::collections::BTreeSet<NodeId>,
    /// Nodes taken over whose agents' rests are followed once they are reconciled.
    rests_after_reconcile: std::collections::BTreeSet<NodeId>,
    /// Per node, the callers its last listing showed bridged (see `reconcile`).
    talking: BTreeMap<NodeId, std::collections::BTreeSet<String>>,
    /// Signals received.
    signals: u32,
    /// The store was found without its state, and what is being rebuilt (see [`Recovery`]).
    recovery: Option<Recovery>,
    phase: Phase,
}

impl Instance {
    /// An instance about to join at `now`, for `nodes` (each with its ARI app's name), with
    /// this configuration to install. Its first outputs beat in the store.
    pub fn new(
        settings: Settings,
        nodes: impl IntoIterator<Item = (NodeId, String)>,
        queues: Vec<QueueConfig>,
        agents: Vec<AgentConfig>,
        now: Time,
    ) -> Self {
        let engine = Engine::new(&queues, &agents, settings.seed);
        let nodes = nodes.into_iter().map(|(id, app)| (id, Node::new(app))).collect();
        let mut instance = Instance {
            engine,
            channels: Channels::default(),
            codes: codes::Codes::default(),
            nodes,
            live: Vec::new(),
            queues: queues.into(),
            agents: agents.into(),
            revision: 0,
            writer: false,
            ops: BTreeMap::new(),
            next_op: 0,
            outputs: VecDeque::new(),
            now,
            routing: Routing { pause: STORE_RETRY_MIN, ..Routing::default() },
            store_error: None,
            cadence: Cadence {
                renew: now + settings.lease_ttl / 3,
                inbox: now + INBOX_EVERY,
                inbox_skips: 0,
                reconcile: now + RECONCILE_EVERY,
            },
            beating: false,
            rests: Rests::default(),
            closing: Vec::new(),
            relist: BTreeMap::new(),
            talking: BTreeMap::new(),
            rests_after_reconcile: std::collections::BTreeSet::new(),
            missed_events: std::collections::BTreeSet::new(),
            signals: 0,
            recovery: None,
            phase: Phase::Starting { configuring: false },
            settings,
        };
        let beat = instance.heartbeat_op(instance.settings.lease_ttl);
        instance.store(Purpose::Join, beat);
        instance
    }

    /// Whether the instance has joined: its nodes taken or left to others, its configuration
    /// installed (or it exited trying).
    pub fn started(&self) -> bool {
        !matches!(self.phase, Phase::Starting { .. })
    }

    /// The next thing to do.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When [`Instance::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<Time> {
        if self.phase == Phase::Done {
            return None;
        }
        let phase = match self.phase {
            Phase::Draining { until } | Phase::Leaving { until } => Some(until),
            _ => None,
        };
        let periodic = self
            .started()
            .then_some(self.cadence.renew.min(self.cadence.inbox).min(self.cadence.reconcile));
        [
            self.engine.poll_timeout(),
            self.routing.retry.as_ref().map(|(_, at)| *at),
            self.closing.iter().map(|(at, _)| *at).min(),
            self.relist.values().copied().min(),
            self.codes.next_due(),
            phase,
            periodic,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// The instance's health now.
    pub fn health(&self) -> Health {
        let nodes = self.nodes.iter().map(|(id, node)| (id.to_string(), node.health())).collect();
        Health {
            store_available: self.store_error.is_none(),
            store_error: self.store_error.clone(),
            draining: matches!(
                self.phase,
                Phase::Draining { .. } | Phase::Leaving { .. } | Phase::Done
            ),
            callers: self.engine.callers(),
            nodes,
        }
    }

    /// Callers and legs the channel registry follows.
    pub fn channels_followed(&self) -> usize {
        self.channels.len()
    }

    /// Agent legs ringing.
    pub fn legs_ringing(&self) -> usize {
        self.engine.legs_ringing()
    }

    /// Handles one input that happened at `now`.
    pub fn handle(&mut self, now: Time, input: Input) {
        self.advance(now);
        match input {
            Input::Stream { tenure, item } => self.on_stream(tenure, item),
            Input::Ari { node, outcome } => {
                let steps = match outcome {
                    AriOutcome::LegUp(leg) => self.channels.leg_up(&leg),
                    AriOutcome::LegExisted(leg) => self.channels.leg_existed(&leg),
                    AriOutcome::DialEarly(leg, order) => self.channels.dial_early(&leg, order),
                    AriOutcome::LegFailed { reservation, miss } => {
                        // The request may have made the leg after all (it timed out on the
                        // way back): hung up, so that the phone stops before its agent is
                        // offered again.
                        if let Some(leg) = self.channels.leg_of(&node, reservation) {
                            self.channels.leg_released(&leg);
                            let reason = LegHangup::Cancelled;
                            self.send(&node, AriCommand::HangupLeg { leg, reason });
                        }
                        vec![Step::Input(CoreInput::LegFailed { reservation, miss })]
                    }
                };
                self.apply_steps(&node, steps);
            }
            Input::Listed { node, as_of, listing } => self.on_listed(node, as_of, listing),
            Input::Strays { node, strays } => self.on_strays(&node, strays),
            Input::Store { id, answer } => self.on_store(id, answer),
            Input::Presence(recalled) => self.on_presence(recalled),
            Input::Api(input) => self.core(input),
            Input::Signal => self.on_signal(),
            Input::Configure(catalog) => self.on_configure(&catalog),
        }
        self.settle();
    }

    /// Fires what is due at `now`.
    pub fn handle_timeout(&mut self, now: Time) {
        self.advance(now);
        if self.engine.poll_timeout().is_some_and(|t| t <= now) {
            self.engine.handle_timeout(now);
        }
        if let Some((request, at)) = self.routing.retry.take() {
            if at <= now {
                self.route(request);
            } else {
                self.routing.retry = Some((request, at));
            }
        }
        let (due, later): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.closing).into_iter().partition(|(at, _)| *at <= now);
        self.closing = later;
        for (_, tenure) in due {
            self.outputs.push_back(Output::CloseStream(tenure));
        }
        let relist: Vec<NodeId> =
            self.relist.iter().filter(|(_, at)| **at <= now).map(|(n, _)| n.clone()).collect();
        for node in relist {
            self.relist.remove(&node);
            self.list(&node);
        }
        self.codes_due(now);
        if self.started() && self.phase != Phase::Done {
            self.periodic(now);
        }
        self.settle();
    }

    fn advance(&mut self, now: Time) {
        self.now = self.now.max(now);
    }

    /// Renewals, inbox reads and reconciles that are due.
    fn periodic(&mut self, now: Time) {
        if self.cadence.renew <= now {
            self.cadence.renew = now + self.settings.lease_ttl / 3;
            self.renew();
        }
        if self.cadence.inbox <= now {
            self.cadence.inbox = now + INBOX_EVERY;
            self.read_inboxes();
        }
        if self.cadence.reconcile <= now {
            self.cadence.reconcile = now + RECONCILE_EVERY;
            let connected: Vec<NodeId> = self
                .nodes
                .iter()
                .filter(|(_, n)| n.owned().is_some_and(|o| o.down_since.is_none()))
                .map(|(id, _)| id.clone())
                .collect();
            for node in connected {
                self.list(&node);
            }
        }
    }

    /// After every input: the core's commands carried out, and the drain's end checked.
    fn settle(&mut self) {
        self.pump();
        match self.phase {
            Phase::Draining { until } if self.engine.legs_ringing() == 0 || self.now >= until => {
                self.leave();
            }
            Phase::Leaving { until }
                if self.now >= until
                    || !self
                        .ops
                        .values()
                        .any(|p| matches!(p, Purpose::Leave | Purpose::Release)) =>
            {
                self.exit(None);
            }
            _ => {}
        }
    }

    fn core(&mut self, input: CoreInput) {
        let now = self.now;
        self.engine.handle(now, input);
    }

    /// Queues a store operation.
    fn store(&mut self, purpose: Purpose, op: StoreOp) -> OpId {
        let id = OpId(self.next_op);
        self.next_op += 1;
        self.ops.insert(id, purpose);
        self.outputs.push_back(Output::Store { id, op });
        id
    }

    fn heartbeat_op(&self, ttl: Duration) -> StoreOp {
        StoreOp::Heartbeat { instance: self.settings.instance.clone(), now: self.now, ttl }
    }

    fn send(&mut self, node: &NodeId, command: AriCommand) {
        if self.nodes.get(node).and_then(Node::owned).is_none() {
            tracing::warn!(%node, ?command, "command for a node this instance does not own");
            return;
        }
        self.outputs.push_back(Output::Ari { node: node.clone(), command });
    }

    fn exit(&mut self, error: Option<StoreError>) {
        if self.phase != Phase::Done {
            self.phase = Phase::Done;
            self.outputs.push_back(Output::Exit { error });
        }
    }

    /// Carries the core's commands out until it has none, or one waits for a routing request
    /// in flight.
    fn pump(&mut self) {
        while self.routing.idle() {
            let Some(command) = self.engine.poll_command() else { return };
            match command {
                Command::Store(request) => self.route(request),
                Command::QueryPosition { call } => {
                    let id = self.store(Purpose::Position(call.clone()), StoreOp::Position(call));
                    self.routing.in_flight = Some(id);
                }
                Command::Channel { node, channel, action } => {
                    if matches!(action, ChannelAction::Continue { .. } | ChannelAction::Hangup)
                        && let Some(bridge) = self.channels.caller_released(&node, &channel)
                    {
                        self.send(&node, AriCommand::DeleteBridge(bridge));
                    }
                    self.send(&node, AriCommand::Channel { channel, action });
                }
                Command::Dial {
                    node, leg, channel, agent, reservation, endpoint, timeout, ..
                } => {
                    let order = DialOrder { caller: channel.clone(), timeout };
                    self.channels.leg_created(&node, &leg, reservation, order);
                    let create =
                        AriCommand::CreateLeg { leg, channel, agent, reservation, endpoint };
                    self.send(&node, create);
                }
                Command::Bridge { node, channel, leg } => {
                    // A caller gone meanwhile (its hang-up is on its way to the core) gets no
                    // bridge: one made for it would be left empty, taken for ours for ever.
                    if self.channels.follows_caller(&node, &channel) {
                        let bridge = starq_core::bridge_of(&channel);
                        self.channels.bridged(&node, &channel, &bridge);
                        self.send(&node, AriCommand::Bridge { bridge, channel, leg });
                    }
                }
                Command::HangupLeg { node, leg, reason } => {
                    self.channels.leg_released(&leg);
                    self.send(&node, AriCommand::HangupLeg { leg, reason });
                }
                Command::Route(notices) => {
                    self.store(Purpose::Post, StoreOp::PostNotices(notices));
                }
                Command::NodeFenced { node } => {
                    tracing::error!(%node, "lost the node's lease to another instance: stopping for it");
                    self.disown(&node, false);
                }
            }
        }
    }

    fn apply_steps(&mut self, node: &NodeId, steps: Vec<Step>) {
        for step in steps {
            match step {
                Step::Input(input) => self.core(input),
                Step::Refuse { channel, reason } => {
                    tracing::warn!(%node, %channel, %reason, "caller refused: bad Stasis arguments");
                    self.send(node, AriCommand::Refuse { channel });
                }
                Step::DeleteBridge(bridge) => self.send(node, AriCommand::DeleteBridge(bridge)),
                Step::Dial { leg, reservation, order } => {
                    self.send(node, AriCommand::DialLeg { leg, reservation, order });
                }
                Step::HangupLeg(leg) => {
                    let reason = LegHangup::Normal;
                    self.send(node, AriCommand::HangupLeg { leg, reason });
                }
                code @ (Step::AgentCode { .. }
                | Step::AgentCodePlayed(_)
                | Step::AgentCodeGone(_)) => self.on_code_step(node, code),
            }
        }
    }

    fn on_store(&mut self, id: OpId, answer: Result<StoreAnswer, StoreError>) {
        let Some(purpose) = self.ops.remove(&id) else { return };
        match (purpose, answer) {
            (Purpose::Route(request), answer) => self.on_routed(request, answer),
            (Purpose::Position(call), answer) => {
                self.routing.in_flight = None;
                let position = match answer {
                    Ok(StoreAnswer::Position(position)) => position,
                    // An announcement can do without: a store away costs it, nothing more.
                    Err(StoreError::Unavailable(_)) => None,
                    other => return self.unexpected(other),
                };
                self.core(CoreInput::Position { call, position });
            }
            (Purpose::Join, answer) => self.on_join(answer),
            (Purpose::Beat, answer) => self.on_beat(answer),
            (Purpose::Leave | Purpose::Release, Ok(_)) => {}
            (Purpose::Leave, Err(error)) => {
                tracing::warn!(%error, "could not leave the live instances");
            }
            (Purpose::Release, Err(error)) => tracing::warn!(%error, "node lease not released"),
            (Purpose::Acquire(node), answer) => self.on_acquired(&node, answer),
            (Purpose::Renew(fence), answer) => self.on_renewed(&fence, answer),
            (Purpose::Replaced(fence), answer) => self.on_replaced_checked(&fence, answer),
            (Purpose::Configure, answer) => self.on_configured(answer),
            (Purpose::Inbox(fence), answer) => self.on_inbox(&fence, answer),
            (Purpose::Post, Ok(_)) => {}
            (Purpose::Post, Err(error)) => {
                // Lost here, an offer is given back by its node owner's next reconcile.
                tracing::warn!(%error, "notices for other instances' nodes not left");
            }
            (Purpose::NodeCalls { node, as_of, listing }, answer) => match answer {
                Ok(StoreAnswer::Calls(calls)) => self.on_present(&node, calls, listing, as_of),
                Ok(other) => self.unexpected(Ok(other)),
                Err(error) => {
                    tracing::warn!(%node, %error, "cannot read the node's callers: adopting later");
                    self.relist.insert(node, self.now + RECONCILE_RETRY);
                }
            },
            (Purpose::Rest(agent), answer) => self.on_rest(&agent, answer),
            (Purpose::Code(node, channel), answer) => self.on_code_view(node, channel, answer),
        }
    }

    /// A store answer of the wrong kind, or an error that is not the store's absence: a bug or
    /// a version skew. The instance stops rather than act on what it does not understand.
    fn unexpected(&mut self, answer: Result<StoreAnswer, StoreError>) {
        let error = match answer {
            Err(error) => error,
            Ok(other) => StoreError::Protocol(format!("unexpected answer {other:?}")),
        };
        tracing::error!(%error, "store failed: stopping");
        self.exit(Some(error));
    }

    /// Sends a routing request of the core; the core's next commands wait for its answer.
    fn route(&mut self, request: Request) {
        let id = self.store(Purpose::Route(request.clone()), StoreOp::Apply(request));
        self.routing.in_flight = Some(id);
    }

    fn on_routed(&mut self, request: Request, answer: Result<StoreAnswer, StoreError>) {
        self.routing.in_flight = None;
        match answer {
            Ok(StoreAnswer::Reply(reply)) => {
                if let Some(error) = self.store_error.take() {
                    tracing::info!(%error, "store back: routing resumes");
                }
                self.routing.pause = STORE_RETRY_MIN;
                self.core(CoreInput::Reply(reply));
            }
            Err(StoreError::Unavailable(error)) => {
                if self.store_error.is_none() {
                    tracing::error!(%error, "store unavailable: routing paused, callers stay on hold");
                    self.store_error = Some(error);
                }
                // Tried again, alone, after a pause: requests must be applied in order.
                // Retrying is safe (see `StoreError::Unavailable`).
                let at = self.now + self.routing.pause;
                self.routing.pause = (self.routing.pause * 2).min(STORE_RETRY_MAX);
                self.routing.retry = Some((request, at));
            }
            other => self.unexpected(other),
        }
    }

    fn on_stream(&mut self, tenure: Fence, item: StreamItem) {
        if self
            .nodes
            .get(&tenure.node)
            .and_then(Node::owned)
            .is_none_or(|o| o.lease.epoch != tenure.epoch)
        {
            // From a tenure over since (a node given up, or handed over).
            return self.on_stale_stream(&tenure, &item);
        }
        let node = &tenure.node;
        match item {
            StreamItem::Event(event) => {
                let call = event.channel().map(|c| c.id.clone()).unwrap_or_default();
                let _span = tracing::debug_span!("event", %node, %call, kind = event.event_type())
                    .entered();
                let steps = self.channels.translate(node, &event);
                self.apply_steps(node, steps);
            }
            StreamItem::DecodeError(error) => {
                tracing::warn!(%node, %error, "undecodable ARI event skipped");
            }
            StreamItem::Lost { dropped } => {
                tracing::error!(%node, dropped, "ARI events lost: consumer fell behind; reconciling");
                self.missed_events.insert(node.clone());
                self.list(node);
            }
            StreamItem::Replaced => self.replaced(&tenure),
            StreamItem::State(ConnectionState::Connected) => {
                tracing::info!(%node, "ARI events connected");
                if let Some(owned) = self.nodes.get_mut(node).and_then(Node::owned_mut) {
                    owned.down_since = None;
                    if std::mem::take(&mut owned.reported_down) {
                        tracing::info!(%node, "node is back");
                        let fence = owned.lease.fence();
                        self.core(CoreInput::NodeOwned { fence });
                    }
                }
                self.missed_events.insert(node.clone());
                self.list(node);
            }
            StreamItem::State(state @ ConnectionState::Disconnected { .. }) => {
                let now = self.now;
                if let Some(owned) = self.nodes.get_mut(node).and_then(Node::owned_mut) {
                    owned.down_since.get_or_insert(now);
                }
                tracing::warn!(%node, ?state, "ARI event stream down");
            }
            StreamItem::State(state) => tracing::info!(%node, ?state, "ARI event stream"),
        }
    }

    fn on_signal(&mut self) {
        self.signals += 1;
        match self.phase {
            Phase::Running if self.signals == 1 => {
                // Stop taking callers, let ringing legs finish (answered ones get bridged)
                // within the grace, then go: waiting callers stay in Asterisk for the
                // instances that remain.
                tracing::info!(ringing = self.engine.legs_ringing(), "draining");
                self.core(CoreInput::Drain);
                self.phase = Phase::Draining { until: self.now + self.settings.drain_grace };
            }
            Phase::Done => {}
            _ => {
                tracing::warn!("signalled again: exiting at once");
                self.exit(None);
            }
        }
    }

    /// Leaves: out of the live instances, every lease released, every stream closed; exits
    /// once the store took it, or after [`LEAVE_WAIT`] if it does not answer.
    fn leave(&mut self) {
        tracing::info!("leaving: node leases released");
        let leave = self.heartbeat_op(Duration::ZERO);
        self.store(Purpose::Leave, leave);
        let owned: Vec<NodeId> = self
            .nodes
            .iter()
            .filter(|(_, n)| n.owned().is_some())
            .map(|(id, _)| id.clone())
            .collect();
        for node in owned {
            self.disown(&node, true);
        }
        self.phase = Phase::Leaving { until: self.now + LEAVE_WAIT };
    }

    fn on_rest(&mut self, agent: &AgentId, answer: Result<StoreAnswer, StoreError>) {
        self.rests.in_flight = false;
        match answer {
            Ok(StoreAnswer::Agent(Some(view))) => {
                if let AgentStatus::WrapUp(until) | AgentStatus::Retry(until) = view.status {
                    let until = until.max(self.rests.not_before);
                    self.core(CoreInput::AgentResting { agent: agent.clone(), until });
                }
            }
            Ok(StoreAnswer::Agent(None)) => {}
            Ok(other) => return self.unexpected(Ok(other)),
            Err(error) => {
                tracing::warn!(%error, "agents' rests not read");
                self.rests = Rests { not_before: self.rests.not_before, ..Rests::default() };
                return;
            }
        }
        self.next_rest();
    }

    /// Has this engine end the rests the store holds for the configured agents (wrap-up, retry,
    /// leg teardown). The engine that began a rest ends it with a timer of its own, so a rest
    /// begun by an instance that died, or by this one before a restart, would never end. Read
    /// one agent at a time at start and at every takeover; asked for while a pass runs, one
    /// more pass follows it (a rest may have begun behind the running one). Ending a rest twice
    /// is harmless (the second is stale).
    pub(super) fn follow_rests(&mut self) {
        // A rest found is ended a teardown from now at the soonest: its end may have been
        // stamped in the past (a request retried after an outage carries the time it was
        // made), while the leg it covers was hung up only just, or not yet.
        self.rests.not_before = self.rests.not_before.max(self.now + LEG_TEARDOWN);
        if self.rests.in_flight || !self.rests.queue.is_empty() {
            self.rests.again = true;
            return;
        }
        self.rests.queue = self.agents.iter().map(|a| a.id.clone()).collect();
        self.next_rest();
    }

    fn next_rest(&mut self) {
        if self.rests.in_flight {
            return;
        }
        if self.rests.queue.is_empty() && std::mem::take(&mut self.rests.again) {
            self.rests.queue = self.agents.iter().map(|a| a.id.clone()).collect();
        }
        if let Some(agent) = self.rests.queue.pop_front() {
            self.rests.in_flight = true;
            self.store(Purpose::Rest(agent.clone()), StoreOp::Agent(agent));
        }
    }

    fn on_configured(&mut self, answer: Result<StoreAnswer, StoreError>) {
        match answer {
            Ok(StoreAnswer::Offers(notices)) => {
                self.core(CoreInput::Notices(notices));
                if let Some(recovery) = self.recovery.as_mut()
                    && !std::mem::replace(&mut recovery.asked, true)
                {
                    self.outputs.push_back(Output::RecallPresence);
                }
                if let Phase::Starting { .. } = self.phase {
                    self.phase = Phase::Running;
                    self.follow_rests();
                }
            }
            Ok(other) => self.unexpected(Ok(other)),
            Err(error) if self.started() => {
                tracing::warn!(%error, "configuration not restored: next heartbeat");
            }
            Err(error) => self.exit(Some(error)),
        }
    }

    /// Agents logged in (and paused, with their reasons) as the durable record last saw them,
    /// logged in again in a store that lost them. An agent already logged in meanwhile is
    /// refused the login by the store, harmlessly.
    fn on_presence(&mut self, recalled: Result<Vec<Presence>, String>) {
        let Some(recovery) = self.recovery.as_mut() else { return };
        match recalled {
            Ok(presence) => recovery.presence = Some(presence),
            Err(error) => {
                tracing::error!(%error, "agents' presence not recalled: they log in again");
                self.recovery = None;
            }
        }
        self.recover_presence();
    }

    /// A node's conversations were looked for after the store's loss.
    fn reconciled_after_loss(&mut self, node: &NodeId) {
        if let Some(recovery) = self.recovery.as_mut() {
            recovery.reconciled.insert(node.clone());
            self.recover_presence();
        }
    }

    /// Gives the recalled presence back once every node this instance wins was owned and
    /// reconciled since the loss: its conversations are then taken back first (their agents on
    /// their calls), and an agent logged in again is never offered a caller while it talks. An
    /// instance that wins no node leaves it to those that do.
    fn recover_presence(&mut self) {
        let Some(recovery) = self.recovery.as_ref() else { return };
        if recovery.presence.is_none() {
            return;
        }
        // The nodes this instance wins: owned once the store is configured again.
        let won: Vec<&NodeId> = self.nodes.keys().filter(|id| self.wins(id)).collect();
        let ready = |node: &NodeId| {
            self.nodes[node].owned().is_some() && recovery.reconciled.contains(node)
        };
        if !won.iter().all(|node| ready(node)) {
            return;
        }
        let presence = self.recovery.take().and_then(|r| r.presence).unwrap_or_default();
        if won.is_empty() {
            tracing::info!("agents' presence left to the instances that own nodes");
            return;
        }
        let known: std::collections::BTreeSet<&AgentId> =
            self.agents.iter().map(|a| &a.id).collect();
        let actions: Vec<(AgentId, AgentAction)> = presence
            .iter()
            .filter(|p| known.contains(&p.agent))
            .flat_map(|p| p.actions().into_iter().map(|action| (p.agent.clone(), action)))
            .collect();
        tracing::info!(
            agents = presence.iter().filter(|p| p.logged_in).count(),
            "agents' presence recalled"
        );
        for (agent, action) in actions {
            self.core(CoreInput::Agent { agent, action });
        }
    }

    /// A new configuration: followed at once by this instance's core (callers already queued
    /// keep what they entered with), and installed in the store by the one instance that writes
    /// configuration.
    fn on_configure(&mut self, catalog: &Catalog) {
        if catalog.revision <= self.revision {
            return;
        }
        tracing::info!(
            revision = catalog.revision,
            queues = catalog.queues.len(),
            agents = catalog.agents.len(),
            "configuration changed"
        );
        self.revision = catalog.revision;
        self.queues = catalog.queues.clone().into();
        self.agents = catalog.agents.clone().into();
        let (queues, agents) = (catalog.queues.clone(), catalog.agents.clone());
        self.core(CoreInput::Configure { queues, agents });
        if self.started() && self.writer {
            self.configure();
        }
    }

    /// Whether this instance writes configuration into the store: the first of the live
    /// instances by name, so that instances never write over each other (each follows the
    /// catalog itself; a writer that changes writes its own once, which, a poll behind at
    /// worst, the next change or poll brings level).
    fn writes_configuration(&self) -> bool {
        self.live.first() == Some(&self.settings.instance)
    }

    /// After a heartbeat: an instance that has become the writer installs its configuration.
    fn check_writer(&mut self) {
        let writer = self.writes_configuration();
        if writer && !self.writer && self.started() && self.revision > 0 {
            self.configure();
        }
        self.writer = writer;
    }

    /// Installs the configuration (at start, and again in a store found without it).
    fn configure(&mut self) {
        let (queues, agents) = (Arc::clone(&self.queues), Arc::clone(&self.agents));
        let op = StoreOp::Reconfigure { queues, agents, now: self.now };
        self.store(Purpose::Configure, op);
    }
}

//! The engine: the call and agent state machines one starq instance runs for the nodes it owns.
//!
//! Sans-IO, quinn-style. The shell calls, in this order, as often as it likes:
//! 1. [`Engine::handle`] with each input (a telephony event, a store reply, an API action) and
//!    the time it happened, or [`Engine::handle_timeout`] when [`Engine::poll_timeout`] is due;
//! 2. [`Engine::poll_command`] until it returns `None`, carrying each command out. Store
//!    requests must be applied in the order polled, and their replies handed back in that order.
//!
//! Routing decisions are never made here: they are store requests, so any number of engines can
//! share queues. The engine keeps only what its own calls need between events (legs ringing,
//! timers, announcement state), all of it rebuilt from the store and Asterisk on takeover.

mod caller;
mod invariants;
mod io;
mod legs;
mod nodes;
mod replies;
mod timers;
mod waiting;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

pub use io::{
    Arrival, CONNECTED_VARIABLE, ChannelAction, Command, ENTRY_VARIABLE, Input, LegHangup,
    Reconnection,
};
pub use timers::TimerKey;

use crate::config::{AgentConfig, AnswerMode, Overflow, QueueConfig, Window};
use crate::estimate::HandleTime;
use crate::ids::{AgentId, CallId, Fence, NodeId, QueueId, ReservationId};
use crate::outcome::Outcome;
use crate::rng::Rng;
use crate::shared::{Enqueue, Notice, Party, Request, wrapup_after};
use crate::time::Time;
use caller::{Caller, Leg, Phase};
use timers::TimerTable;

/// What a request in flight was for, to interpret its reply.
#[derive(Clone, Debug)]
enum Pending {
    Enqueue(CallId),
    Answered(ReservationId),
    /// A missed offer given back (`Missed`).
    GaveBack(ReservationId),
    /// A connected call taken back by a store that lost it.
    Reconnect(CallId),
    Other,
}

/// The state machine of one instance. See the module docs for the call order.
#[derive(Debug)]
pub struct Engine {
    queues: BTreeMap<QueueId, Arc<QueueConfig>>,
    agents: BTreeMap<AgentId, Arc<AgentConfig>>,
    nodes: BTreeMap<NodeId, Fence>,
    /// Owned nodes not adopted yet, with the notices held for callers not known yet.
    unadopted: BTreeMap<NodeId, Vec<Notice>>,
    /// Owned nodes found down: nothing is sent to them until they are owned again.
    lost: BTreeSet<NodeId>,
    /// Reservations this engine gave back, most recent kept: a notice offering one of them
    /// arriving late (through another instance's inbox) is stale, not a phone to ring. A
    /// give-back the store refused (fenced) is forgotten: the offer is still held.
    given_back: BTreeSet<ReservationId>,
    callers: BTreeMap<CallId, Caller>,
    /// The current caller of each (node, channel) (a failover step gives a channel a new caller).
    by_channel: BTreeMap<(NodeId, String), CallId>,
    legs: BTreeMap<ReservationId, Leg>,
    timers: TimerTable,
    pending: VecDeque<Pending>,
    commands: VecDeque<Command>,
    handle_times: BTreeMap<QueueId, HandleTime>,
    rng: Rng,
    draining: bool,
    now: Time,
}

impl Engine {
    /// An engine with configuration and a seed for its random draws.
    pub fn new(queues: &[QueueConfig], agents: &[AgentConfig], seed: u64) -> Self {
        Engine {
            queues: queues.iter().map(|q| (q.id.clone(), Arc::new(q.clone()))).collect(),
            agents: agents.iter().map(|a| (a.id.clone(), Arc::new(a.clone()))).collect(),
            nodes: BTreeMap::new(),
            unadopted: BTreeMap::new(),
            lost: BTreeSet::new(),
            given_back: BTreeSet::new(),
            callers: BTreeMap::new(),
            by_channel: BTreeMap::new(),
            legs: BTreeMap::new(),
            timers: TimerTable::default(),
            pending: VecDeque::new(),
            commands: VecDeque::new(),
            handle_times: BTreeMap::new(),
            rng: Rng::seeded(seed),
            draining: false,
            now: Time::ZERO,
        }
    }

    /// The next command to carry out.
    pub fn poll_command(&mut self) -> Option<Command> {
        self.commands.pop_front()
    }

    /// Takes the leg hang-ups for `node` still waiting among the commands (behind a store
    /// request in flight), for a shell about to give the node up: a hang-up decided is final,
    /// and one carried out later would find the node no longer this engine's.
    pub fn take_leg_hangups(&mut self, node: &NodeId) -> Vec<(String, LegHangup)> {
        let mut hangups = Vec::new();
        self.commands.retain(|command| match command {
            Command::HangupLeg { node: n, leg, reason } if n == node => {
                hangups.push((leg.clone(), *reason));
                false
            }
            _ => true,
        });
        hangups
    }

    /// When [`Engine::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<Time> {
        self.timers.next_deadline()
    }

    /// Callers this engine is following (waiting, ringing or connected).
    pub fn callers(&self) -> usize {
        self.callers.len()
    }

    /// Agent legs ringing (offered, not yet answered).
    pub fn legs_ringing(&self) -> usize {
        self.legs.values().filter(|l| !l.answered).count()
    }

    /// Store requests sent whose replies have not come back.
    pub fn requests_in_flight(&self) -> usize {
        self.pending.len()
    }

    /// Fires every timer due at `now` that was set before this call.
    pub fn handle_timeout(&mut self, now: Time) {
        self.advance(now);
        // Only the timers set before this call: one re-armed for `now` while firing (a zero
        // interval, or a time saturated at its maximum) waits for the next call rather than
        // spinning here for ever.
        let set_before = self.timers.generation();
        while let Some(key) = self.timers.pop_due(now, set_before) {
            self.on_timer(key);
        }
    }

    /// Handles one input that happened at `now`.
    pub fn handle(&mut self, now: Time, input: Input) {
        self.advance(now);
        match input {
            Input::NodeOwned { fence } => {
                self.lost.remove(&fence.node);
                self.unadopted.entry(fence.node.clone()).or_default();
                self.nodes.insert(fence.node.clone(), fence);
            }
            Input::Adopt { node, calls, present } => self.adopt(&node, calls, &present),
            Input::NodeDisowned { node } => self.forget_node(&node),
            Input::NodeDown { node } => self.node_down(&node),
            Input::CallerArrived(arrival) => self.caller_arrived(arrival),
            Input::CallerHungUp { node, channel } => {
                if let Some(call) = self.by_channel.get(&(node, channel)).cloned() {
                    self.caller_hung_up(&call);
                }
            }
            Input::CallerDtmf { node, channel, digit } => {
                if let Some(call) = self.by_channel.get(&(node, channel)).cloned() {
                    self.caller_dtmf(&call, digit);
                }
            }
            Input::Position { call, position } => self.announce_position(&call, position),
            Input::PlaybackFinished { node, channel } => {
                let Some(call) = self.by_channel.get(&(node, channel)).cloned() else { return };
                let on_hold = self.callers.get(&call).filter(|c| {
                    c.phase == Phase::Waiting && c.queue.answer == crate::config::AnswerMode::Answer
                });
                if let Some(class) = on_hold.map(|c| c.queue.music_class.clone()) {
                    self.channel(&call, ChannelAction::StartMoh(class));
                }
            }
            Input::LegAnswered { reservation } => self.leg_answered(reservation),
            Input::LegFailed { reservation, miss } => self.leg_failed(reservation, miss),
            Input::LegHungUp { reservation } => self.leg_hung_up(reservation),
            Input::Reply(reply) => self.on_reply(reply),
            Input::Notices(notices) => self.on_notices(notices),
            Input::Agent { agent, action } => {
                let draw = self.rng.next_u64();
                self.request(Pending::Other, Request::Agent { agent, action, now, draw });
            }
            Input::Configure { queues, agents } => {
                self.queues = queues.into_iter().map(|q| (q.id.clone(), Arc::new(q))).collect();
                self.agents = agents.into_iter().map(|a| (a.id.clone(), Arc::new(a))).collect();
            }
            Input::AgentResting { agent, until } => {
                // A later end this engine armed itself is kept: a cancelled offer on a node it
                // does not own waits for that node's owner to hang the leg up.
                let key = TimerKey::AgentReady(agent);
                let until = until.max(now).max(self.timers.due(&key).unwrap_or(Time(0)));
                self.timers.set(key, until);
            }
            Input::SetPriority { node, channel, priority } => {
                let Some(call) = self.by_channel.get(&(node, channel)).cloned() else { return };
                if let Some(fence) = self.live_fence(&call) {
                    self.request(
                        Pending::Other,
                        Request::SetPriority { fence, call: call.clone(), priority, now },
                    );
                    // The channel's note keeps the new priority for a store that loses it.
                    if let Some(c) = self.callers.get_mut(&call)
                        && !matches!(c.phase, Phase::Connected(_))
                    {
                        c.priority = priority;
                        let (queue, step, entered) = (c.queue.id.clone(), c.step, c.entered);
                        let note = ChannelAction::NoteEntry { queue, step, entered, priority };
                        self.channel(&call, note);
                    }
                }
            }
            Input::Withdraw { node, channel } => {
                if let Some(call) = self.by_channel.get(&(node, channel)).cloned() {
                    self.leave(&call, Outcome::Withdrawn);
                }
            }
            Input::Drain => self.draining = true,
        }
    }

    fn advance(&mut self, now: Time) {
        debug_assert!(now >= self.now, "time went backwards: {now} < {}", self.now);
        self.now = self.now.max(now);
    }

    fn request(&mut self, pending: Pending, request: Request) {
        self.pending.push_back(pending);
        self.commands.push_back(Command::Store(request));
    }

    fn channel(&mut self, call: &CallId, action: ChannelAction) {
        if let Some(c) = self.callers.get(call) {
            let (node, channel) = (c.node.clone(), c.channel.clone());
            self.commands.push_back(Command::Channel { node, channel, action });
        }
    }

    /// The fence of a caller still in a queue (not ended, node owned).
    fn live_fence(&self, call: &CallId) -> Option<Fence> {
        let c = self.callers.get(call)?;
        (c.phase != Phase::Ending).then(|| self.nodes.get(&c.node).cloned()).flatten()
    }

    // === callers ===

    fn caller_arrived(&mut self, a: Arrival) {
        let back = |status| ChannelAction::Continue { destination: None, status };
        let refuse = |engine: &mut Self, status| {
            let (node, channel) = (a.node.clone(), a.channel.clone());
            engine.commands.push_back(Command::Channel { node, channel, action: back(status) });
        };
        if let Some(connection) = a.connected.clone() {
            // Never sent anywhere: the conversation goes on whatever becomes of its record.
            return self.reconnect(a, connection);
        }
        if self.draining {
            return refuse(self, Outcome::Drained.queue_status());
        }
        let Some(queue) = self.queues.get(&a.queue).cloned() else {
            return refuse(self, "UNKNOWNQUEUE");
        };
        let Some(fence) = self.nodes.get(&a.node).cloned() else {
            return refuse(self, "NODENOTOWNED");
        };
        let call = CallId::of_channel(&a.node, &a.channel, 0);
        if self.callers.contains_key(&call) {
            return; // A duplicate StasisStart (replayed after reconnect) changes nothing.
        }
        let entry = Entry { priority: a.priority, max_wait: a.max_wait, resumed: a.resumed };
        self.enter(call, a.channel, a.caller_id, entry, &queue, fence, true);
    }

    /// Puts a caller into a queue: on arrival, or as the next step of a failover chain.
    #[allow(clippy::too_many_arguments)]
    fn enter(
        &mut self,
        call: CallId,
        channel: String,
        caller_id: String,
        entry: Entry,
        queue: &Arc<QueueConfig>,
        fence: Fence,
        first: bool,
    ) {
        let now = self.now;
        // A resumed wait counts from its first entry (never from the future).
        let entered = entry.resumed.map_or(now, |at| at.min(now));
        self.by_channel.insert((fence.node.clone(), channel.clone()), call.clone());
        let mut caller =
            Caller::new(channel, fence.node.clone(), Arc::clone(queue), caller_id.clone(), entered);
        caller.priority = entry.priority;
        self.callers.insert(call.clone(), caller);
        if first {
            self.hold(&call, queue);
        }
        self.arm_wait_timers(&call, queue, entry.max_wait, entered);
        let window = queue.rule.window_at(Window::ANY, now.since(entered));
        let enqueue = Enqueue {
            fence,
            call: call.clone(),
            queue: queue.id.clone(),
            caller_id,
            priority: entry.priority,
            window,
            now,
            resumed: entry.resumed.map(|_| entered),
        };
        self.request(Pending::Enqueue(call), Request::Enqueue(enqueue));
    }

    /// Puts a caller on hold as its queue says: answered with music on hold, or hearing
    /// ringback. Answering an answered channel does nothing, so an adopted caller whose
    /// earlier owner died before answering it is answered too.
    fn hold(&mut self, call: &CallId, queue: &QueueConfig) {
        match queue.answer {
            AnswerMode::Answer => {
                self.channel(call, ChannelAction::Answer);
                self.channel(call, ChannelAction::StartMoh(queue.music_class.clone()));
            }
            AnswerMode::Ring => self.channel(call, ChannelAction::Ring),
        }
    }

    /// Arms the timers of a wait that began at `entered` (now, or before an adoption): max
    /// wait and penalty rule steps run from the entry, announcements from now.
    fn arm_wait_timers(
        &mut self,
        call: &CallId,
        queue: &QueueConfig,
        max_wait: Option<Duration>,
        entered: Time,
    ) {
        let (now, waited) = (self.now, self.now.since(entered));
        if let Some(wait) = max_wait.or(queue.max_wait) {
            self.timers.set(TimerKey::MaxWait(call.clone()), entered + wait);
        }
        if let Some(step) = queue.rule.next_change_after(waited) {
            self.timers.set(TimerKey::RuleStep(call.clone()), entered + step);
        }
        // As app_queue, the first position announcement comes at entry (then see `on_timer`).
        if queue.announce.frequency.is_some() {
            self.timers.set(TimerKey::Announce(call.clone()), now);
        }
        if let Some(every) =
            queue.announce.periodic_frequency.filter(|_| !queue.announce.periodic.is_empty())
        {
            let first_at = match queue.announce.periodic_start_delay {
                Some(delay) if waited.is_zero() => delay,
                _ => every,
            };
            self.timers.set(TimerKey::Periodic(call.clone()), now + first_at);
        }
    }

    fn caller_hung_up(&mut self, call: &CallId) {
        let Some(c) = self.callers.get(call) else { return };
        match c.phase {
            Phase::Connected(reservation) => {
                if let Some(leg) = self.legs.remove(&reservation) {
                    let node = c.node.clone();
                    self.commands.push_back(Command::HangupLeg {
                        node,
                        leg: leg.id,
                        reason: LegHangup::Normal,
                    });
                }
                self.hangup(call, Party::Caller);
            }
            Phase::Ending => {}
            Phase::Joining | Phase::Waiting => {
                // The channel is gone: nothing to continue, only the store to tell.
                if let Some(c) = self.callers.get_mut(call) {
                    c.channel_gone = true;
                }
                self.leave(call, Outcome::Abandoned);
            }
        }
    }

    fn caller_dtmf(&mut self, call: &CallId, digit: char) {
        let Some(c) = self.callers.get(call) else { return };
        let waiting = matches!(c.phase, Phase::Waiting | Phase::Joining);
        if waiting
            && c.queue.exit_context.is_some()
            && (digit.is_ascii_digit() || digit == '*' || digit == '#')
        {
            self.leave(call, Outcome::ExitWithKey(digit));
        }
    }

    /// A caller leaves without being connected: tell the store, send the channel on.
    fn leave(&mut self, call: &CallId, outcome: Outcome) {
        let Some(fence) = self.live_fence(call) else { return };
        if matches!(self.callers[call].phase, Phase::Connected(_)) {
            return;
        }
        let now = self.now;
        self.request(Pending::Other, Request::Leave { fence, call: call.clone(), outcome, now });
        self.finish(call, outcome);
    }

    /// A connected call ends.
    fn hangup(&mut self, call: &CallId, by: Party) {
        let Some(fence) = self.live_fence(call) else { return };
        let c = &self.callers[call];
        let Phase::Connected(reservation) = c.phase else { return };
        if let Some(agent) = c.agent.clone() {
            let wrapup = self.agents.get(&agent).and_then(|a| a.wrapup).unwrap_or(c.queue.wrapup);
            let talk = self.now.since(c.connected_at);
            self.handle_times
                .entry(c.queue.id.clone())
                .or_default()
                .record(talk.saturating_add(wrapup));
            let rest = wrapup_after(wrapup, by == Party::Caller);
            if !rest.is_zero() {
                self.timers.set(TimerKey::AgentReady(agent), self.now + rest);
            }
        }
        self.legs.remove(&reservation);
        let (now, draw) = (self.now, self.rng.next_u64());
        self.request(Pending::Other, Request::Hangup { fence, call: call.clone(), by, now, draw });
        let outcome = match by {
            Party::Caller => Outcome::CompletedByCaller,
            Party::Agent => Outcome::CompletedByAgent,
        };
        self.finish(call, outcome);
    }

    /// A channel whose call had already ended in the store (taken in again as a stray: its
    /// last owner died before moving it, or it was on its way out): it is moved as its outcome
    /// says (sent on to the dialplan, or hung up), and nothing is recorded again.
    fn settle(&mut self, call: &CallId, outcome: Outcome) {
        if outcome.continues_in_dialplan() {
            return self.finish(call, outcome);
        }
        if let Some(c) = self.callers.get_mut(call) {
            c.phase = Phase::Ending;
        }
        for key in caller::timer_keys(call) {
            self.timers.cancel(&key);
        }
        self.channel(call, ChannelAction::Hangup);
        self.drop_caller(call);
    }

    /// Ends the caller's stay on this engine: timers off, channel sent on or hung up.
    fn finish(&mut self, call: &CallId, outcome: Outcome) {
        let Some(c) = self.callers.get_mut(call) else { return };
        if c.phase == Phase::Ending {
            return;
        }
        let was_connected = matches!(c.phase, Phase::Connected(_));
        c.phase = Phase::Ending;
        c.outcome = Some(outcome);
        let (queue, gone) = (Arc::clone(&c.queue), c.channel_gone);
        for key in caller::timer_keys(call) {
            self.timers.cancel(&key);
        }
        if outcome == Outcome::Timeout
            && let Overflow::Queue(next) = &queue.on_timeout
            && let Some(next) = self.queues.get(next).cloned()
            && let Some(fence) = self.nodes.get(&self.callers[call].node).cloned()
        {
            let c = self.drop_caller(call).expect("exists");
            let next_call = CallId::of_channel(&c.node, &c.channel, c.step + 1);
            let entry = Entry { priority: 0, max_wait: None, resumed: None };
            self.enter(next_call.clone(), c.channel, c.caller_id, entry, &next, fence, false);
            if let Some(n) = self.callers.get_mut(&next_call) {
                n.step = c.step + 1;
            }
            return;
        }
        if !gone && outcome.continues_in_dialplan() {
            let destination = match &queue.on_timeout {
                Overflow::Dialplan(d) if outcome == Outcome::Timeout => d.clone(),
                _ => None,
            };
            let destination = match outcome {
                Outcome::ExitWithKey(digit) => {
                    queue.exit_context.clone().map(|context| crate::config::Destination {
                        context,
                        extension: digit.to_string(),
                        priority: 1,
                    })
                }
                _ => destination,
            };
            // `/continue` leaves music on hold playing on in the dialplan (Asterisk stops it
            // only at hangup): stop it first, or the caller hears it over voicemail.
            if queue.answer == AnswerMode::Answer {
                self.channel(call, ChannelAction::StopMoh);
            }
            self.channel(
                call,
                ChannelAction::Continue { destination, status: outcome.queue_status() },
            );
        } else if !gone && was_connected && outcome == Outcome::CompletedByAgent {
            self.channel(call, ChannelAction::Hangup);
        }
        self.drop_caller(call);
    }

    fn drop_caller(&mut self, call: &CallId) -> Option<Caller> {
        let c = self.callers.remove(call)?;
        let key = (c.node.clone(), c.channel.clone());
        if self.by_channel.get(&key) == Some(call) {
            self.by_channel.remove(&key);
        }
        Some(c)
    }
}

/// How a caller enters a queue: from the dialplan's arguments, or the next queue of its chain.
struct Entry {
    priority: i32,
    max_wait: Option<Duration>,
    /// See [`Arrival::resumed`].
    resumed: Option<Time>,
}

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
mod io;
mod timers;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

pub use io::{Arrival, ChannelAction, Command, Input, LegHangup};
pub use timers::TimerKey;

use crate::config::{AgentConfig, Overflow, QueueConfig, Window};
use crate::estimate::{HandleTime, estimated_wait, position_prompts};
use crate::ids::{AgentId, CallId, Fence, NodeId, QueueId, ReservationId};
use crate::outcome::Outcome;
use crate::rng::Rng;
use crate::shared::{Enqueue, Miss, Notice, Offer, Party, Reply, Request, Verdict, rest_after};
use crate::strategy::Strategy;
use crate::time::Time;
use caller::{Caller, Leg, Phase};
use timers::TimerTable;

/// What a request in flight was for, to interpret its reply.
#[derive(Clone, Debug)]
enum Pending {
    Enqueue(CallId),
    Answered(ReservationId),
    Other,
}

/// The state machine of one instance. See the module docs for the call order.
#[derive(Debug)]
pub struct Engine {
    queues: BTreeMap<QueueId, Arc<QueueConfig>>,
    agents: BTreeMap<AgentId, Arc<AgentConfig>>,
    nodes: BTreeMap<NodeId, Fence>,
    callers: BTreeMap<CallId, Caller>,
    /// The current caller of each channel (a failover step gives a channel a new caller).
    by_channel: BTreeMap<String, CallId>,
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

    /// When [`Engine::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<Time> {
        self.timers.next_deadline()
    }

    /// Callers this engine is following (waiting, ringing or connected).
    pub fn callers(&self) -> usize {
        self.callers.len()
    }

    /// Store requests sent whose replies have not come back.
    pub fn requests_in_flight(&self) -> usize {
        self.pending.len()
    }

    /// Fires every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Time) {
        self.advance(now);
        while let Some(key) = self.timers.pop_due(now) {
            self.on_timer(key);
        }
    }

    /// Handles one input that happened at `now`.
    pub fn handle(&mut self, now: Time, input: Input) {
        self.advance(now);
        match input {
            Input::NodeOwned { fence } => _ = self.nodes.insert(fence.node.clone(), fence),
            Input::NodeDown { node } => self.node_down(&node),
            Input::CallerArrived(arrival) => self.caller_arrived(arrival),
            Input::CallerHungUp { channel } => {
                if let Some(call) = self.by_channel.get(&channel).cloned() {
                    self.caller_hung_up(&call);
                }
            }
            Input::CallerDtmf { channel, digit } => {
                if let Some(call) = self.by_channel.get(&channel).cloned() {
                    self.caller_dtmf(&call, digit);
                }
            }
            Input::Position { call, position } => self.announce_position(&call, position),
            Input::LegAnswered { reservation } => self.leg_answered(reservation),
            Input::LegFailed { reservation, miss } => self.leg_failed(reservation, miss),
            Input::LegHungUp { reservation } => self.leg_hung_up(reservation),
            Input::Reply(reply) => self.on_reply(reply),
            Input::Notices(notices) => self.on_notices(notices),
            Input::Agent { agent, action } => {
                let draw = self.rng.next_u64();
                self.request(Pending::Other, Request::Agent { agent, action, now, draw });
            }
            Input::SetPriority { channel, priority } => {
                let Some(call) = self.by_channel.get(&channel).cloned() else { return };
                if let Some(fence) = self.live_fence(&call) {
                    self.request(
                        Pending::Other,
                        Request::SetPriority { fence, call, priority, now },
                    );
                }
            }
            Input::Withdraw { channel } => {
                if let Some(call) = self.by_channel.get(&channel).cloned() {
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
        if self.draining {
            return refuse(self, Outcome::Drained.queue_status());
        }
        let Some(queue) = self.queues.get(&a.queue).cloned() else {
            return refuse(self, "UNKNOWNQUEUE");
        };
        let Some(fence) = self.nodes.get(&a.node).cloned() else {
            return refuse(self, "NODENOTOWNED");
        };
        let call = CallId::new(&a.channel);
        if self.callers.contains_key(&call) {
            return; // A duplicate StasisStart (replayed after reconnect) changes nothing.
        }
        self.enter(call, a.channel, a.caller_id, a.priority, a.max_wait, &queue, fence, true);
    }

    /// Puts a caller into a queue: on arrival, or as the next step of a failover chain.
    #[allow(clippy::too_many_arguments)]
    fn enter(
        &mut self,
        call: CallId,
        channel: String,
        caller_id: String,
        priority: i32,
        max_wait: Option<Duration>,
        queue: &Arc<QueueConfig>,
        fence: Fence,
        first: bool,
    ) {
        let now = self.now;
        self.by_channel.insert(channel.clone(), call.clone());
        let caller =
            Caller::new(channel, fence.node.clone(), Arc::clone(queue), caller_id.clone(), now);
        self.callers.insert(call.clone(), caller);
        if first {
            match queue.answer {
                crate::config::AnswerMode::Answer => {
                    self.channel(&call, ChannelAction::Answer);
                    self.channel(&call, ChannelAction::StartMoh(queue.music_class.clone()));
                }
                crate::config::AnswerMode::Ring => self.channel(&call, ChannelAction::Ring),
            }
        }
        if let Some(wait) = max_wait.or(queue.max_wait) {
            self.timers.set(TimerKey::MaxWait(call.clone()), now + wait);
        }
        if let Some(step) = queue.rule.next_change_after(Duration::ZERO) {
            self.timers.set(TimerKey::RuleStep(call.clone()), now + step);
        }
        if let Some(every) = queue.announce.frequency {
            self.timers.set(TimerKey::Announce(call.clone()), now + every);
        }
        if let Some(every) =
            queue.announce.periodic_frequency.filter(|_| !queue.announce.periodic.is_empty())
        {
            let first_at = queue.announce.periodic_start_delay.unwrap_or(every);
            self.timers.set(TimerKey::Periodic(call.clone()), now + first_at);
        }
        let window = queue.rule.window_at(Window::ANY, Duration::ZERO);
        let enqueue = Enqueue {
            fence,
            call: call.clone(),
            queue: queue.id.clone(),
            caller_id,
            priority,
            window,
            now,
        };
        self.request(Pending::Enqueue(call), Request::Enqueue(enqueue));
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
            self.handle_times.entry(c.queue.id.clone()).or_default().record(talk + wrapup);
            if !wrapup.is_zero() {
                self.timers.set(TimerKey::AgentReady(agent), self.now + wrapup);
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
            let next_call = CallId::new(format!("{}-q{}", c.channel, c.step + 1));
            self.enter(next_call.clone(), c.channel, c.caller_id, 0, None, &next, fence, false);
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
        if self.by_channel.get(&c.channel) == Some(call) {
            self.by_channel.remove(&c.channel);
        }
        Some(c)
    }

    // === agent legs ===

    fn on_offer(&mut self, offer: Offer) {
        let Some(c) = self
            .callers
            .get(&offer.call)
            .filter(|c| c.phase == Phase::Waiting || c.phase == Phase::Joining)
        else {
            // The caller left while the store matched it: give the agent back at once.
            return self.release(&offer, Miss::Failed);
        };
        let node = c.node.clone();
        let endpoint = self.agents.get(&offer.agent).and_then(|a| {
            a.contacts.iter().find(|ct| ct.reachable_from(&node)).map(|ct| ct.endpoint.clone())
        });
        let Some(endpoint) = endpoint else {
            return self.release(&offer, Miss::Unreachable);
        };
        let leg = format!("{}-r{}", offer.call, offer.reservation.0);
        let caller_id = c.caller_id.clone();
        let strategy = c.queue.strategy;
        let delay = c.queue.ring_progressively_delay;
        self.legs.insert(
            offer.reservation,
            Leg { id: leg.clone(), offer: offer.clone(), answered: false },
        );
        self.timers.set(TimerKey::Ring(offer.reservation), self.now + offer.ring_timeout);
        if strategy == Strategy::RingProgressively
            && !self.timers.is_set(&TimerKey::Extend(offer.call.clone()))
        {
            self.timers.set(TimerKey::Extend(offer.call.clone()), self.now + delay);
        }
        self.commands.push_back(Command::Dial {
            node,
            leg,
            reservation: offer.reservation,
            endpoint,
            caller_id,
            timeout: offer.ring_timeout,
        });
    }

    /// Ends an offer the agent did not take.
    fn release(&mut self, offer: &Offer, miss: Miss) {
        let reservation = offer.reservation;
        self.timers.cancel(&TimerKey::Ring(reservation));
        self.legs.remove(&reservation);
        let Some(fence) = self.nodes.get(&offer.node).cloned() else { return };
        let retry = self.queues.get(&offer.queue).map_or(Duration::ZERO, |q| q.retry);
        if let Some(rest) = rest_after(miss, retry) {
            self.timers.set(TimerKey::AgentReady(offer.agent.clone()), self.now + rest);
        }
        let (now, draw) = (self.now, self.rng.next_u64());
        self.request(Pending::Other, Request::Missed { fence, reservation, miss, now, draw });
    }

    fn leg_answered(&mut self, reservation: ReservationId) {
        let Some(leg) = self.legs.get_mut(&reservation) else { return };
        if leg.answered {
            return;
        }
        leg.answered = true;
        self.timers.cancel(&TimerKey::Ring(reservation));
        let call = leg.offer.call.clone();
        let Some(fence) = self.live_fence(&call) else { return };
        let now = self.now;
        self.request(Pending::Answered(reservation), Request::Answered { fence, reservation, now });
    }

    fn leg_failed(&mut self, reservation: ReservationId, miss: Miss) {
        let Some(leg) = self.legs.get(&reservation) else { return };
        if leg.answered {
            return self.leg_hung_up(reservation);
        }
        let offer = leg.offer.clone();
        self.release(&offer, miss);
    }

    fn leg_hung_up(&mut self, reservation: ReservationId) {
        let Some(leg) = self.legs.get(&reservation) else { return };
        let call = leg.offer.call.clone();
        match self.callers.get(&call).map(|c| c.phase) {
            Some(Phase::Connected(r)) if r == reservation => {
                self.hangup(&call, Party::Agent);
            }
            // Answered but not yet confirmed: the confirmation will find the leg gone.
            _ => _ = self.legs.get_mut(&reservation).map(|l| l.answered = false),
        }
    }

    // === store replies and notices ===

    fn on_reply(&mut self, reply: Reply) {
        let pending = self.pending.pop_front().unwrap_or(Pending::Other);
        if reply.result == Verdict::Fenced {
            return self.on_fenced(&pending);
        }
        match (pending, &reply.result) {
            (Pending::Enqueue(call), Verdict::Joined { position, serving }) => {
                if let Some(c) = self.callers.get_mut(&call) {
                    c.serving = *serving;
                    c.position = *position;
                    if c.phase == Phase::Joining {
                        c.phase = Phase::Waiting;
                    }
                }
            }
            (Pending::Enqueue(call), Verdict::Refused(outcome)) => self.finish(&call, *outcome),
            (Pending::Answered(reservation), Verdict::Confirmed { agent }) => {
                self.connect(reservation, agent.clone())
            }
            (Pending::Answered(reservation), _) => {
                // Lost the race (another leg won, or the caller left): this leg goes.
                if let Some(leg) = self.legs.remove(&reservation) {
                    let node = self.callers.get(&leg.offer.call).map(|c| c.node.clone());
                    if let Some(node) = node {
                        self.commands.push_back(Command::HangupLeg {
                            node,
                            leg: leg.id,
                            reason: LegHangup::AnsweredElsewhere,
                        });
                    }
                }
            }
            _ => {}
        }
        self.on_notices(reply.notices);
    }

    fn on_fenced(&mut self, pending: &Pending) {
        let call = match pending {
            Pending::Enqueue(call) => Some(call.clone()),
            Pending::Answered(r) => self.legs.get(r).map(|l| l.offer.call.clone()),
            Pending::Other => None,
        };
        let node = call.and_then(|c| self.callers.get(&c).map(|c| c.node.clone()));
        if let Some(node) = node {
            self.forget_node(&node);
            self.commands.push_back(Command::NodeFenced { node });
        }
    }

    fn on_notices(&mut self, notices: Vec<Notice>) {
        let mut foreign = Vec::new();
        for notice in notices {
            if !self.nodes.contains_key(notice.node()) {
                foreign.push(notice);
                continue;
            }
            match notice {
                Notice::Offer(offer) => self.on_offer(offer),
                Notice::Cancelled(offer) => {
                    self.timers.cancel(&TimerKey::Ring(offer.reservation));
                    if let Some(leg) = self.legs.remove(&offer.reservation) {
                        let reason = if self
                            .callers
                            .get(&offer.call)
                            .is_some_and(|c| matches!(c.phase, Phase::Connected(_)))
                        {
                            LegHangup::AnsweredElsewhere
                        } else {
                            LegHangup::Cancelled
                        };
                        self.commands.push_back(Command::HangupLeg {
                            node: offer.node,
                            leg: leg.id,
                            reason,
                        });
                    }
                }
                Notice::Evict { call, outcome, .. } => {
                    // The store already ended the caller; only the channel is left to move.
                    self.finish(&call, outcome);
                }
            }
        }
        if !foreign.is_empty() {
            self.commands.push_back(Command::Route(foreign));
        }
    }

    fn connect(&mut self, reservation: ReservationId, agent: AgentId) {
        let Some(leg) = self.legs.get(&reservation) else { return };
        if !leg.answered {
            // The leg hung up between its answer and the confirmation: end the call.
            let call = leg.offer.call.clone();
            if let Some(c) = self.callers.get_mut(&call) {
                c.phase = Phase::Connected(reservation);
                c.agent = Some(agent);
                c.connected_at = self.now;
            }
            return self.hangup(&call, Party::Agent);
        }
        let (call, leg_id) = (leg.offer.call.clone(), leg.id.clone());
        let Some(c) = self.callers.get_mut(&call) else { return };
        c.phase = Phase::Connected(reservation);
        c.agent = Some(agent);
        c.connected_at = self.now;
        let (node, channel) = (c.node.clone(), c.channel.clone());
        for key in caller::timer_keys(&call) {
            self.timers.cancel(&key);
        }
        self.commands.push_back(Command::Channel {
            node: node.clone(),
            channel: channel.clone(),
            action: ChannelAction::StopMoh,
        });
        self.commands.push_back(Command::Bridge { node, channel, leg: leg_id });
    }

    // === timers ===

    fn on_timer(&mut self, key: TimerKey) {
        let now = self.now;
        match key {
            TimerKey::MaxWait(call) => self.leave(&call, Outcome::Timeout),
            TimerKey::RuleStep(call) => {
                let Some(fence) = self.live_fence(&call) else { return };
                let c = &self.callers[&call];
                let waited = now.since(c.entered);
                let window = c.queue.rule.window_at(Window::ANY, waited);
                if let Some(next) = c.queue.rule.next_change_after(waited) {
                    self.timers.set(TimerKey::RuleStep(call.clone()), c.entered + next);
                }
                self.request(Pending::Other, Request::SetWindow { fence, call, window, now });
            }
            TimerKey::Announce(call) => {
                if let Some(c) = self.callers.get(&call).filter(|c| c.phase == Phase::Waiting) {
                    let every = c.queue.announce.frequency.unwrap_or(Duration::from_secs(60));
                    self.timers.set(
                        TimerKey::Announce(call.clone()),
                        now + every.max(c.queue.announce.min_frequency),
                    );
                    self.commands.push_back(Command::QueryPosition { call });
                }
            }
            TimerKey::Periodic(call) => self.periodic(&call),
            TimerKey::Extend(call) => {
                let Some(fence) = self.live_fence(&call) else { return };
                let c = &self.callers[&call];
                if c.phase == Phase::Waiting {
                    let delay = c.queue.ring_progressively_delay;
                    self.timers.set(TimerKey::Extend(call.clone()), now + delay);
                    self.request(Pending::Other, Request::Extend { fence, call, now });
                }
            }
            TimerKey::Ring(reservation) => {
                let Some(leg) = self.legs.get(&reservation) else { return };
                let (offer, id) = (leg.offer.clone(), leg.id.clone());
                let node = offer.node.clone();
                self.commands.push_back(Command::HangupLeg {
                    node,
                    leg: id,
                    reason: LegHangup::Timeout,
                });
                self.release(&offer, Miss::NoAnswer);
            }
            TimerKey::AgentReady(agent) => {
                let draw = self.rng.next_u64();
                self.request(Pending::Other, Request::AgentReady { agent, now, draw });
            }
        }
    }

    fn announce_position(&mut self, call: &CallId, position: Option<u32>) {
        let Some(position) = position else { return };
        let Some(c) = self.callers.get_mut(call).filter(|c| c.phase == Phase::Waiting) else {
            return;
        };
        if position == 1 && !c.queue.announce.to_first_user {
            return;
        }
        let handle = self.handle_times.get(&c.queue.id).copied().unwrap_or_default();
        let wait = estimated_wait(position, c.serving, &handle);
        let media = position_prompts(&c.queue.announce, position, wait, c.said_holdtime);
        c.said_holdtime |= wait.is_some();
        c.position = position;
        if !media.is_empty() {
            self.channel(call, ChannelAction::Play(media));
        }
    }

    fn periodic(&mut self, call: &CallId) {
        let Some(c) = self.callers.get_mut(call).filter(|c| c.phase == Phase::Waiting) else {
            return;
        };
        let prompts = &c.queue.announce.periodic;
        let index = if c.queue.announce.random_periodic {
            self.rng.below(prompts.len() as u64) as usize
        } else {
            let i = c.periodic_index % prompts.len();
            c.periodic_index += 1;
            i
        };
        let media = vec![format!("sound:{}", prompts[index])];
        if let Some(every) = c.queue.announce.periodic_frequency {
            self.timers.set(TimerKey::Periodic(call.clone()), self.now + every);
        }
        self.channel(call, ChannelAction::Play(media));
    }

    // === nodes ===

    fn node_down(&mut self, node: &NodeId) {
        let Some(fence) = self.nodes.get(node).cloned() else { return };
        let calls: Vec<CallId> = self
            .callers
            .iter()
            .filter(|(_, c)| &c.node == node)
            .map(|(id, _)| id.clone())
            .collect();
        for call in calls {
            let c = self.callers.get_mut(&call).expect("listed");
            c.channel_gone = true;
            if let Phase::Connected(r) = c.phase {
                // The store frees the agent into wrap-up and records the loss, not a completion.
                c.phase = Phase::Waiting;
                self.legs.remove(&r);
                if let Some(agent) = c.agent.clone() {
                    let wrapup =
                        self.agents.get(&agent).and_then(|a| a.wrapup).unwrap_or(c.queue.wrapup);
                    if !wrapup.is_zero() {
                        self.timers.set(TimerKey::AgentReady(agent), self.now + wrapup);
                    }
                }
            }
            let now = self.now;
            self.request(
                Pending::Other,
                Request::Leave {
                    fence: fence.clone(),
                    call: call.clone(),
                    outcome: Outcome::NodeLost,
                    now,
                },
            );
            self.finish(&call, Outcome::NodeLost);
        }
        let legs: Vec<ReservationId> = self
            .legs
            .iter()
            .filter(|(_, l)| !self.callers.contains_key(&l.offer.call))
            .map(|(r, _)| *r)
            .collect();
        for r in legs {
            self.legs.remove(&r);
            self.timers.cancel(&TimerKey::Ring(r));
        }
    }

    /// Drops everything about a node another instance now owns, without touching the store.
    fn forget_node(&mut self, node: &NodeId) {
        self.nodes.remove(node);
        let calls: Vec<CallId> = self
            .callers
            .iter()
            .filter(|(_, c)| &c.node == node)
            .map(|(id, _)| id.clone())
            .collect();
        for call in calls {
            for key in caller::timer_keys(&call) {
                self.timers.cancel(&key);
            }
            self.drop_caller(&call);
        }
        let legs: Vec<ReservationId> = self
            .legs
            .iter()
            .filter(|(_, l)| !self.callers.contains_key(&l.offer.call))
            .map(|(r, _)| *r)
            .collect();
        for r in legs {
            self.legs.remove(&r);
            self.timers.cancel(&TimerKey::Ring(r));
        }
    }

    /// Panics with a description if the engine's own state is inconsistent. Simulations call it
    /// after every step.
    pub fn check_invariants(&self) {
        let mut answered_by_call: BTreeMap<&CallId, usize> = BTreeMap::new();
        for (r, leg) in &self.legs {
            let c = self
                .callers
                .get(&leg.offer.call)
                .unwrap_or_else(|| panic!("leg {r} of unknown caller {}", leg.offer.call));
            if let Phase::Connected(connected) = c.phase {
                assert_eq!(
                    connected, *r,
                    "caller {} connected through {connected} but still has leg {r}",
                    leg.offer.call
                );
                *answered_by_call.entry(&leg.offer.call).or_default() += 1;
            }
            assert!(
                self.timers.is_set(&TimerKey::Ring(*r))
                    || leg.answered
                    || matches!(c.phase, Phase::Connected(_)),
                "leg {r} rings without a ring timer"
            );
        }
        let agents_on_legs: BTreeSet<&AgentId> =
            self.legs.values().map(|l| &l.offer.agent).collect();
        assert_eq!(agents_on_legs.len(), self.legs.len(), "an agent has two legs on this engine");
        assert_eq!(self.by_channel.len(), self.callers.len(), "channel map out of sync");
        for (call, c) in &self.callers {
            assert_eq!(
                self.by_channel.get(&c.channel),
                Some(call),
                "channel {} not mapped to {call}",
                c.channel
            );
            assert_ne!(c.phase, Phase::Ending, "caller {call} ended but kept");
            assert!(self.nodes.contains_key(&c.node), "caller {call} on a node not owned");
        }
    }
}

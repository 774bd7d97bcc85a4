//! Store replies and notices: what the shared store decided, turned into the engine's moves.

use super::caller::{self, Phase};
use super::{ChannelAction, Command, Engine, LegHangup, Pending, TimerKey};
use crate::ids::{AgentId, ReservationId};
use crate::shared::{LEG_TEARDOWN, Notice, Party, Reply, Verdict, leg_id};

/// How long a cancelled offer's notice may take to reach the owner of its node, when the
/// engine that cancelled it does not own the node: the rest it ends as a fallback runs this
/// much longer than the leg's teardown.
const FOREIGN_TEARDOWN: std::time::Duration = std::time::Duration::from_secs(5);

impl Engine {
    /// The store's reply to the oldest request in flight.
    pub(super) fn on_reply(&mut self, reply: Reply) {
        let pending = self.pending.pop_front().unwrap_or(Pending::Other);
        if reply.result == Verdict::Fenced {
            return self.on_fenced(&pending);
        }
        let mut note = None;
        match (pending, &reply.result) {
            (Pending::Enqueue(call), Verdict::Joined { position, serving }) => {
                if let Some(c) = self.callers.get_mut(&call) {
                    c.serving = *serving;
                    c.position = *position;
                    if c.phase == Phase::Joining {
                        c.phase = Phase::Waiting;
                    }
                    let (queue, step, entered) = (c.queue.id.clone(), c.step, c.entered);
                    let priority = c.priority;
                    let entry = ChannelAction::NoteEntry { queue, step, entered, priority };
                    note = Some((call.clone(), entry));
                }
            }
            (Pending::Enqueue(call), Verdict::Refused(outcome)) => self.finish(&call, *outcome),
            (Pending::Enqueue(call), Verdict::Ended(outcome)) => self.settle(&call, *outcome),
            // Held by the store again (or still: the loss spared it).
            (Pending::Reconnect(_), Verdict::Confirmed { .. } | Verdict::Stale) => {}
            (Pending::Reconnect(call), _) => {
                // The store cannot hold it (the agent is on another call there, or the call is
                // unknown to this configuration): the conversation goes on, unrecorded and
                // no longer followed.
                self.drop_caller(&call);
                self.legs.retain(|_, leg| leg.offer.call != call);
            }
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
        // An agent whose offer this request cancelled rests while its leg is hung up. The rest
        // is ended by the engine that hangs the leg up (`on_notices`), once it has; for a node
        // this engine does not own, the notice may take a while to reach its owner (through
        // its inbox, after a takeover), so the rest is ended here too, later, should the
        // notice be lost. (A lost node's offers leave no leg: the store freed their agents.)
        for notice in &reply.notices {
            if let Notice::Cancelled(offer) = notice
                && !self.nodes.contains_key(&offer.node)
            {
                let until = self.now + LEG_TEARDOWN + FOREIGN_TEARDOWN;
                self.timers.set(TimerKey::AgentReady(offer.agent.clone()), until);
            }
        }
        self.on_notices(reply.notices);
        // Noted after any offer the reply made: the agent leg goes out first.
        if let Some((call, action)) = note {
            self.channel(&call, action);
        }
    }

    /// The store refused a request: another instance owns that node now, or this one under a
    /// newer lease.
    pub(super) fn on_fenced(&mut self, pending: &Pending) {
        let call = match pending {
            Pending::Enqueue(call) => Some(call.clone()),
            Pending::Answered(r) => self.legs.get(r).map(|l| l.offer.call.clone()),
            Pending::GaveBack(r) => {
                // The offer was not given back: the store still holds it, and whoever adopts
                // the node next (this engine included, at its next look) rings it again.
                self.given_back.remove(r);
                None
            }
            Pending::Reconnect(call) => Some(call.clone()),
            Pending::Other => None,
        };
        let node = call.and_then(|c| self.callers.get(&c).map(|c| c.node.clone()));
        if let Some(node) = node {
            self.forget_node(&node);
            self.commands.push_back(Command::NodeFenced { node });
        }
    }

    /// Acts on notices for owned nodes; hands the others to the shell to route.
    pub(super) fn on_notices(&mut self, notices: Vec<Notice>) {
        let mut foreign = Vec::new();
        for notice in notices {
            if !self.nodes.contains_key(notice.node()) {
                foreign.push(notice);
                continue;
            }
            if let Some(held) = self.unadopted.get_mut(notice.node()) {
                let call = match &notice {
                    Notice::Offer(o) | Notice::Cancelled(o) => &o.call,
                    Notice::Evict { call, .. } => call,
                };
                if !self.callers.contains_key(call) {
                    held.push(notice);
                    continue;
                }
            }
            match notice {
                Notice::Offer(offer) => self.on_offer(offer),
                Notice::Cancelled(offer) => {
                    self.timers.cancel(&TimerKey::Ring(offer.reservation));
                    // Hung up even when this engine does not follow the leg (an earlier owner
                    // rang it, or its tracking was dropped with a node given up meanwhile):
                    // the agent is offered again once its rest ends, and the phone must not
                    // be ringing then. A leg that is gone, or never made, is ignored. A lost
                    // node took its legs with it.
                    let leg = match self.legs.remove(&offer.reservation) {
                        Some(leg) => leg.id,
                        None if self.lost.contains(&offer.node) => continue,
                        None => leg_id(&offer.call, offer.reservation),
                    };
                    let reason = if self
                        .callers
                        .get(&offer.call)
                        .is_some_and(|c| matches!(c.phase, Phase::Connected(_)))
                    {
                        LegHangup::AnsweredElsewhere
                    } else {
                        LegHangup::Cancelled
                    };
                    self.commands.push_back(Command::HangupLeg { node: offer.node, leg, reason });
                    // The agent rests while the leg is hung up, then is offered again.
                    let until = self.now + LEG_TEARDOWN;
                    self.timers.set(TimerKey::AgentReady(offer.agent), until);
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

    /// The reservation is confirmed: bridge the caller with the agent.
    pub(super) fn connect(&mut self, reservation: ReservationId, agent: AgentId) {
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
        let leaving = self.callers.get(&call).is_none_or(|c| c.phase == Phase::Ending);
        if leaving {
            // The caller left while the answer was being confirmed (its leave, behind, ends
            // the call in the store): nobody to bridge the agent with, the leg goes.
            let node = leg.offer.node.clone();
            self.legs.remove(&reservation);
            let reason = LegHangup::Cancelled;
            self.commands.push_back(Command::HangupLeg { node, leg: leg_id, reason });
            return;
        }
        let Some(c) = self.callers.get_mut(&call) else { return };
        c.phase = Phase::Connected(reservation);
        c.agent = Some(agent.clone());
        c.connected_at = self.now;
        let (node, channel, since) = (c.node.clone(), c.channel.clone(), c.connected_at);
        for key in caller::timer_keys(&call) {
            self.timers.cancel(&key);
        }
        self.commands.push_back(Command::Channel {
            node: node.clone(),
            channel: channel.clone(),
            action: ChannelAction::StopMoh,
        });
        self.commands.push_back(Command::Bridge {
            node: node.clone(),
            channel: channel.clone(),
            leg: leg_id,
        });
        // Noted after the bridge, which goes out first.
        let note = ChannelAction::NoteConnected { agent, reservation, since };
        self.commands.push_back(Command::Channel { node, channel, action: note });
    }
}

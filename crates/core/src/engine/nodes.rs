//! Nodes: adopting the callers of one taken over, losing one, and forgetting one another
//! instance took over.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::caller::{self, Caller, Leg, Phase};
use super::{Arrival, ChannelAction, Command, Engine, LegHangup, Pending, Reconnection, TimerKey};
use crate::ids::{AgentId, CallId, NodeId, QueueId, ReservationId};
use crate::outcome::Outcome;
use crate::shared::{Notice, Offer, Party, Reconnect, Request, StoredCall, StoredState, leg_id};

impl Engine {
    /// The node is gone: its callers end as node-lost and the store frees their agents.
    pub(super) fn node_down(&mut self, node: &NodeId) {
        let Some(fence) = self.nodes.get(node).cloned() else { return };
        self.lost.insert(node.clone());
        // Offers held for callers never adopted: those callers went with the node.
        for notice in self.unadopted.remove(node).unwrap_or_default() {
            if let Notice::Offer(offer) = notice {
                self.orphan(&offer);
            }
        }
        let calls = self.callers_on(node);
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
        self.drop_orphan_legs();
    }

    /// Drops everything about a node another instance now owns, without touching the store.
    pub(super) fn forget_node(&mut self, node: &NodeId) {
        self.nodes.remove(node);
        self.lost.remove(node);
        self.unadopted.remove(node);
        let calls = self.callers_on(node);
        for call in calls {
            for key in caller::timer_keys(&call) {
                self.timers.cancel(&key);
            }
            self.drop_caller(&call);
        }
        self.drop_orphan_legs();
    }

    /// Takes over the callers of an owned node this engine does not follow (see
    /// [`Input::Adopt`](super::Input::Adopt)), then acts on the notices held meanwhile.
    ///
    /// Offers are rung again under their own reservation, never given back for a missing leg:
    /// an earlier owner frozen or killed with a leg request on the wire may still land it, and
    /// with one leg id per offer that late request meets this engine's leg (Asterisk refuses a
    /// second channel with the same id and a second dial) instead of ringing the agent for an
    /// offer made again.
    pub(super) fn adopt(
        &mut self,
        node: &NodeId,
        calls: Vec<StoredCall>,
        present: &BTreeSet<String>,
    ) {
        if !self.nodes.contains_key(node) {
            return;
        }
        let held = self.unadopted.remove(node).unwrap_or_default();
        let mut unfollowed = Vec::new();
        for stored in calls {
            if !self.callers.contains_key(&stored.call) {
                self.adopt_call(node, stored, present);
            } else if let StoredState::Waiting { offers } = stored.state {
                // Offers this engine never heard of, for callers it follows: their notice was
                // lost (the instance that made it died before handing it over) or is still on
                // its way (ringing it now makes the notice a repeat).
                unfollowed.extend(
                    offers.into_iter().filter(|(r, _)| !self.legs.contains_key(r)).map(
                        |(r, agent)| self.stored_offer(node, &stored.call, &stored.queue, r, agent),
                    ),
                );
            }
        }
        for offer in unfollowed.into_iter().flatten() {
            self.on_offer(offer);
        }
        for notice in held {
            match notice {
                Notice::Evict { call, outcome, .. } if !self.callers.contains_key(&call) => {
                    // The store ended a caller no engine followed: only its channel is left.
                    let channel = call
                        .channel_candidates(node)
                        .into_iter()
                        .map(|(channel, _)| channel)
                        .find(|c| present.contains(c));
                    if let Some(channel) = channel {
                        // Its earlier owner may have left music on hold playing, which
                        // `/continue` does not stop.
                        let status = outcome.queue_status();
                        for action in [
                            ChannelAction::StopMoh,
                            ChannelAction::Continue { destination: None, status },
                        ] {
                            self.commands.push_back(Command::Channel {
                                node: node.clone(),
                                channel: channel.clone(),
                                action,
                            });
                        }
                    }
                }
                notice => self.on_notices(vec![notice]),
            }
        }
    }

    /// An offer the store holds for a caller of `node`, as its notice would have carried it.
    fn stored_offer(
        &self,
        node: &NodeId,
        call: &CallId,
        queue: &QueueId,
        reservation: ReservationId,
        agent: AgentId,
    ) -> Option<Offer> {
        let ring_timeout = self.queues.get(queue)?.ring_timeout;
        Some(Offer {
            reservation,
            call: call.clone(),
            node: node.clone(),
            queue: queue.clone(),
            agent,
            ring_timeout,
        })
    }

    fn adopt_call(&mut self, node: &NodeId, stored: StoredCall, present: &BTreeSet<String>) {
        let candidates = stored.call.channel_candidates(node);
        let Some((channel, step)) =
            candidates.iter().find(|(c, _)| present.contains(c)).or(candidates.first()).cloned()
        else {
            return; // Not a call of this node.
        };
        let key = (node.clone(), channel.clone());
        let Some(queue) = self.queues.get(&stored.queue).cloned() else { return };
        if self.by_channel.contains_key(&key) {
            return; // The channel is followed in a later queue of its chain.
        }
        let call = stored.call;
        let gone = !present.contains(&channel);
        let mut caller = Caller::new(
            channel,
            node.clone(),
            Arc::clone(&queue),
            stored.caller_id,
            stored.entered,
        );
        caller.step = step;
        caller.channel_gone = gone;
        self.by_channel.insert(key, call.clone());
        let offer = |reservation, agent| Offer {
            reservation,
            call: call.clone(),
            node: node.clone(),
            queue: queue.id.clone(),
            agent,
            ring_timeout: queue.ring_timeout,
        };
        match stored.state {
            StoredState::Connected { reservation, agent, since } => {
                caller.phase = Phase::Connected(reservation);
                caller.agent = Some(agent.clone());
                caller.connected_at = since;
                self.callers.insert(call.clone(), caller);
                let id = leg_id(&call, reservation);
                let leg_present = present.contains(&id);
                let leg = Leg { id, offer: offer(reservation, agent), answered: true };
                self.legs.insert(reservation, leg);
                if gone {
                    self.caller_hung_up(&call);
                } else if !leg_present {
                    self.hangup(&call, Party::Agent);
                }
            }
            StoredState::Waiting { offers } => {
                caller.phase = Phase::Waiting;
                self.callers.insert(call.clone(), caller);
                if gone {
                    // The leave cancels the offers; phones still ringing for them stop.
                    for (reservation, _) in offers {
                        let leg = leg_id(&call, reservation);
                        if present.contains(&leg) {
                            let reason = LegHangup::Cancelled;
                            self.commands.push_back(Command::HangupLeg {
                                node: node.clone(),
                                leg,
                                reason,
                            });
                        }
                    }
                    return self.leave(&call, Outcome::Abandoned);
                }
                self.hold(&call, &queue);
                self.arm_wait_timers(&call, &queue, None, stored.entered);
                for (reservation, agent) in offers {
                    self.on_offer(offer(reservation, agent));
                }
            }
        }
    }

    /// A conversation found again in Asterisk under a store that lost it ([`Arrival::connected`]):
    /// followed as connected, bridge and leg as they are, and handed back to the store. It is
    /// never sent anywhere: not while draining, not on a node not owned (it is left alone).
    pub(super) fn reconnect(&mut self, a: Arrival, r: Reconnection) {
        let (Some(queue), Some(fence)) =
            (self.queues.get(&a.queue).cloned(), self.nodes.get(&a.node).cloned())
        else {
            return;
        };
        let call = CallId::of_channel(&a.node, &a.channel, r.step);
        let key = (a.node.clone(), a.channel.clone());
        if self.callers.contains_key(&call) || self.by_channel.contains_key(&key) {
            return;
        }
        let now = self.now;
        let entered = a.resumed.unwrap_or(r.since).min(r.since).min(now);
        let since = r.since.min(now);
        let mut caller = Caller::new(
            a.channel,
            a.node.clone(),
            Arc::clone(&queue),
            a.caller_id.clone(),
            entered,
        );
        caller.step = r.step;
        caller.priority = a.priority;
        caller.phase = Phase::Connected(r.reservation);
        caller.agent = Some(r.agent.clone());
        caller.connected_at = since;
        self.by_channel.insert(key, call.clone());
        self.callers.insert(call.clone(), caller);
        let offer = Offer {
            reservation: r.reservation,
            call: call.clone(),
            node: a.node,
            queue: queue.id.clone(),
            agent: r.agent.clone(),
            ring_timeout: queue.ring_timeout,
        };
        let leg = Leg { id: leg_id(&call, r.reservation), offer, answered: true };
        self.legs.insert(r.reservation, leg);
        let reconnect = Reconnect {
            fence,
            call: call.clone(),
            queue: queue.id.clone(),
            caller_id: a.caller_id,
            entered,
            agent: r.agent,
            reservation: r.reservation,
            since,
            now,
        };
        self.request(Pending::Reconnect(call), Request::Reconnect(reconnect));
    }

    fn callers_on(&self, node: &NodeId) -> Vec<CallId> {
        self.callers.iter().filter(|(_, c)| &c.node == node).map(|(id, _)| id.clone()).collect()
    }

    /// Drops the legs whose callers this engine no longer follows, with their ring timers.
    fn drop_orphan_legs(&mut self) {
        let orphans: Vec<ReservationId> = self
            .legs
            .iter()
            .filter(|(_, l)| !self.callers.contains_key(&l.offer.call))
            .map(|(r, _)| *r)
            .collect();
        for r in orphans {
            self.legs.remove(&r);
            self.timers.cancel(&TimerKey::Ring(r));
        }
    }
}

//! Agent legs: ringing an offered agent, answers, misses, and connecting the call.

use std::time::Duration;

use super::caller::{Leg, Phase};
use super::{Command, Engine, Pending, TimerKey};
use crate::ids::ReservationId;
use crate::outcome::Outcome;
use crate::shared::{Miss, Offer, Party, Request, leg_id, rest_after};
use crate::strategy::Strategy;

/// Reservations given back that an engine remembers (ids only grow: the oldest go first).
const GIVEN_BACK_KEPT: usize = 4096;

impl Engine {
    /// The store reserved an agent for a caller here: ring the agent through a contact the
    /// caller's node can dial, or give the reservation back.
    pub(super) fn on_offer(&mut self, offer: Offer) {
        if self.given_back.contains(&offer.reservation)
            || self.legs.contains_key(&offer.reservation)
        {
            return; // A late or repeated notice of an offer already acted on.
        }
        let Some(c) = self.callers.get(&offer.call) else {
            // A caller this engine does not follow, on a node it owns: one it let go of (its
            // leave, already sent, will cancel the offer) or one an earlier owner left in the
            // store. Giving the agent back would only get the same offer again; ending the
            // orphan in the store frees the agent for good (a repeat for a known leave is stale).
            return self.orphan(&offer);
        };
        if !matches!(c.phase, Phase::Waiting | Phase::Joining) {
            return self.release(&offer, Miss::Failed);
        }
        let node = c.node.clone();
        let endpoint = self.agents.get(&offer.agent).and_then(|a| {
            a.contacts.iter().find(|ct| ct.reachable_from(&node)).map(|ct| ct.endpoint.clone())
        });
        let Some(endpoint) = endpoint else {
            return self.release(&offer, Miss::Unreachable);
        };
        let leg = leg_id(&offer.call, offer.reservation);
        let (caller_id, channel) = (c.caller_id.clone(), c.channel.clone());
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
            channel,
            agent: offer.agent.clone(),
            reservation: offer.reservation,
            endpoint,
            caller_id,
            timeout: offer.ring_timeout,
        });
    }

    /// Ends an offer the agent did not take.
    pub(super) fn release(&mut self, offer: &Offer, miss: Miss) {
        let reservation = offer.reservation;
        self.given_back.insert(reservation);
        while self.given_back.len() > GIVEN_BACK_KEPT {
            self.given_back.pop_first();
        }
        self.timers.cancel(&TimerKey::Ring(reservation));
        self.legs.remove(&reservation);
        let Some(fence) = self.nodes.get(&offer.node).cloned() else { return };
        let retry = self.queues.get(&offer.queue).map_or(Duration::ZERO, |q| q.retry);
        if let Some(rest) = rest_after(miss, retry) {
            self.timers.set(TimerKey::AgentReady(offer.agent.clone()), self.now + rest);
        }
        let (now, draw) = (self.now, self.rng.next_u64());
        let request = Request::Missed { fence, reservation, miss, now, draw };
        self.request(Pending::GaveBack(reservation), request);
    }

    /// The agent picked up: ask the store to confirm (under ringall, the first confirmation wins).
    pub(super) fn leg_answered(&mut self, reservation: ReservationId) {
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

    /// The leg ended unanswered (busy, unreachable, rejected).
    pub(super) fn leg_failed(&mut self, reservation: ReservationId, miss: Miss) {
        let Some(leg) = self.legs.get(&reservation) else { return };
        if leg.answered {
            return self.leg_hung_up(reservation);
        }
        let offer = leg.offer.clone();
        self.release(&offer, miss);
    }

    /// An answered leg hung up: the agent ended the call (or left before it was bridged).
    pub(super) fn leg_hung_up(&mut self, reservation: ReservationId) {
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

    /// Ends, in the store, a caller this engine does not follow (see [`Engine::on_offer`]).
    pub(super) fn orphan(&mut self, offer: &Offer) {
        self.timers.cancel(&TimerKey::Ring(offer.reservation));
        let Some(fence) = self.nodes.get(&offer.node).cloned() else { return };
        let (call, now) = (offer.call.clone(), self.now);
        self.request(
            Pending::Other,
            Request::Leave { fence, call, outcome: Outcome::NodeLost, now },
        );
    }
}

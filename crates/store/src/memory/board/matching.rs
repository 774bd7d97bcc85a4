//! Matching: which caller an agent takes and which agents a caller is offered, reservations and
//! their cancellation.

use starq_core::journal::{CancelCause, JournalEvent};
use starq_core::shared::{LEG_TEARDOWN, Notice, Offer};
use starq_core::{AgentId, CallId, NodeId, QueueId, ReservationId, Time};

use super::super::agent::Status;
use super::super::index::Rank;
use super::{Board, CallerStatus, Effects, Reservation};

impl Board {
    /// Offers a newly matchable caller to the agents its strategy picks, if any is available.
    pub(super) fn match_caller(&mut self, call: &CallId, now: Time, fx: &mut Effects) {
        // The caller may have left already, made to by matching earlier in the same request.
        let Some(c) = self.callers.get(call).filter(|c| c.status == CallerStatus::Waiting) else {
            return;
        };
        let q = &self.queues[&c.queue];
        if !q.config.autofill && q.present.first() != Some(&c.rank) {
            return;
        }
        self.offer_to_best(call, now, fx);
    }

    /// Under `autofill=no` only the head may ring: when the head changes, try the new one.
    pub(super) fn match_head(&mut self, queue: &QueueId, now: Time, fx: &mut Effects) {
        let q = &self.queues[queue];
        if q.config.autofill {
            return;
        }
        if let Some(head) = q.present.first().map(|r| r.call.clone()) {
            self.match_caller(&head, now, fx);
        }
    }

    /// Reserves the agent(s) the queue's strategy selects for `call` (one more under
    /// `ring-progressively`), returning whether any was reserved.
    pub(super) fn offer_to_best(&mut self, call: &CallId, now: Time, fx: &mut Effects) -> bool {
        let c = &self.callers[call];
        let q = &self.queues[&c.queue];
        let window = (!self.penalties_ignored(&c.queue)).then_some(c.window);
        let chosen = q.available.select(q.config.strategy.selection(), window, q.rr_cursor);
        if chosen.is_empty() {
            return false;
        }
        let queue = c.queue.clone();
        self.queues.get_mut(&queue).expect("exists").rr_cursor = chosen.last().map(|(s, _)| *s);
        for (_, agent) in chosen {
            self.reserve(call, &agent, now, fx);
        }
        true
    }

    /// Offers a newly available agent the best caller it may take, across its queues: the
    /// highest queue weight first, then caller rank.
    pub(super) fn match_agent(&mut self, id: &AgentId, now: Time, fx: &mut Effects) {
        let agent = &self.agents[id];
        let mut best: Option<(u32, &Rank)> = None;
        for (queue, (penalty, _)) in &agent.indexed {
            let q = &self.queues[queue];
            let candidate = if q.config.autofill {
                let penalty = (!self.penalties_ignored(queue)).then_some(*penalty);
                q.waiting.best_for(penalty)
            } else {
                q.present.first().filter(|head| {
                    let c = &self.callers[&head.call];
                    c.status == CallerStatus::Waiting
                        && (self.penalties_ignored(queue) || c.window.admits(*penalty))
                })
            };
            let Some(rank) = candidate else { continue };
            let weight = q.config.weight;
            let better = best.is_none_or(|(w, r)| weight > w || (weight == w && rank < r));
            if better {
                best = Some((weight, rank));
            }
        }
        let Some((_, rank)) = best else { return };
        let call = rank.call.clone();
        let queue = self.callers[&call].queue.clone();
        if let Some(&(_, score)) = self.agents[id].indexed.get(&queue) {
            self.queues.get_mut(&queue).expect("exists").rr_cursor = Some(score);
        }
        self.reserve(&call, id, now, fx);
    }

    pub(super) fn reserve(&mut self, call: &CallId, agent: &AgentId, now: Time, fx: &mut Effects) {
        self.next_reservation += 1;
        let id = ReservationId(self.next_reservation);
        self.assert_served_in_order(call, agent);
        let c = self.callers.get_mut(call).expect("caller exists");
        let queue = c.queue.clone();
        if c.status == CallerStatus::Waiting {
            let q = self.queues.get_mut(&queue).expect("exists");
            q.waiting.remove(c.window, &c.rank);
            c.status = CallerStatus::Offered;
        }
        c.reservations.insert(id);
        let node = c.node.clone();
        self.reservations.insert(
            id,
            Reservation {
                call: call.clone(),
                agent: agent.clone(),
                queue: queue.clone(),
                created: now,
            },
        );
        self.agents.get_mut(agent).expect("exists").status = Status::Reserved(id);
        self.refresh_agent(agent, 0);
        let ring_timeout = self.queues[&queue].config.ring_timeout;
        fx.journal.push(JournalEvent::Offered {
            call: call.clone(),
            queue: queue.clone(),
            agent: agent.clone(),
            reservation: id,
        });
        fx.notices.push(Notice::Offer(Offer {
            reservation: id,
            call: call.clone(),
            node,
            queue,
            agent: agent.clone(),
            ring_timeout,
        }));
        self.check_leave_empty(agent, now, fx);
    }

    /// Invariant 3, checked on every offer: no caller waiting ahead of `call` in its queue could
    /// have taken `agent` (priority first, then entry time, among callers the agent may take).
    pub(super) fn assert_served_in_order(&self, call: &CallId, agent: &AgentId) {
        let c = &self.callers[call];
        if c.status != CallerStatus::Waiting {
            return; // An extra agent for a caller already ringing (ring-progressively).
        }
        let penalty = self.agents[agent].members.get(&c.queue).map(|m| m.penalty);
        let penalty = penalty.filter(|_| !self.penalties_ignored(&c.queue));
        if let Some(ahead) = self.queues[&c.queue].waiting.best_for(penalty) {
            assert!(
                *ahead >= c.rank,
                "agent {agent} offered {call} while {} waits ahead of it in {}",
                ahead.call,
                c.queue
            );
        }
    }

    /// Ends a reservation the agent is not to blame for. The agent rests [`LEG_TEARDOWN`] while
    /// starq hangs its leg up (the engine that asked for the change ends the rest), or is free at
    /// once when there is no leg to hang up.
    pub(super) fn cancel_reservation(
        &mut self,
        id: ReservationId,
        node: &NodeId,
        leg_to_hang_up: bool,
        cause: CancelCause,
        now: Time,
        fx: &mut Effects,
    ) {
        let Some(res) = self.reservations.remove(&id) else { return };
        if let Some(c) = self.callers.get_mut(&res.call) {
            c.reservations.remove(&id);
        }
        fx.journal.push(JournalEvent::OfferCancelled {
            call: res.call.clone(),
            queue: res.queue.clone(),
            agent: res.agent.clone(),
            rang: now.since(res.created),
            cause,
        });
        let ring_timeout = self.queues[&res.queue].config.ring_timeout;
        fx.notices.push(Notice::Cancelled(Offer {
            reservation: id,
            call: res.call.clone(),
            node: node.clone(),
            queue: res.queue.clone(),
            agent: res.agent.clone(),
            ring_timeout,
        }));
        self.agents.get_mut(&res.agent).expect("exists").status = if leg_to_hang_up {
            Status::Resting { until: now + LEG_TEARDOWN, wrapup: false }
        } else {
            Status::Idle
        };
        self.refresh_agent(&res.agent, 0);
        self.match_agent(&res.agent, now, fx);
    }

    /// A caller whose last offer ended without an answer waits again. Returns whether it did.
    pub(super) fn requeue_if_unoffered(&mut self, call: &CallId) -> bool {
        let Some(c) = self.callers.get_mut(call) else { return false };
        if c.status != CallerStatus::Offered || !c.reservations.is_empty() {
            return false;
        }
        c.status = CallerStatus::Waiting;
        let q = self.queues.get_mut(&c.queue).expect("exists");
        q.waiting.insert(c.window, c.rank.clone());
        true
    }
}

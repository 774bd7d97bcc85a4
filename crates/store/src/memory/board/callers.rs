//! Requests about callers: enqueue (join rules, `maxlen`), window and priority changes, leaving,
//! answers, misses, ring-progressively extensions and hang-ups; and the callers of a node, read
//! back for adoption.

use std::collections::BTreeSet;
use std::sync::Arc;

use starq_core::config::{AutoPauseScope, Window};
use starq_core::journal::{CancelCause, JournalEvent};
use starq_core::shared::{
    Enqueue, Miss, Party, Reconnect, StoredCall, StoredState, Verdict, rest_after, wrapup_after,
};
use starq_core::{AgentId, CallId, NodeId, Outcome, QueueId, ReservationId, Time};

use super::super::agent::Status;
use super::super::index::Rank;
use super::{Board, CallerState, CallerStatus, ENDED_KEPT, Effects, position_of};

impl Board {
    pub(super) fn enqueue(&mut self, e: Enqueue, fx: &mut Effects) -> Verdict {
        if self.callers.contains_key(&e.call) {
            return Verdict::Invalid(format!("caller {} is already queued", e.call));
        }
        if let Some((_, outcome)) = self.ended.get(&e.call) {
            // Its stay ended (its channel may still be on its way out): once is all.
            return Verdict::Ended(*outcome);
        }
        let Some(q) = self.queues.get(&e.queue) else {
            return Verdict::Invalid(format!("unknown queue {:?}", e.queue.as_str()));
        };
        let cfg = Arc::clone(&q.config);
        let refusal = if cfg.max_len.is_some_and(|max| q.present.len() >= max as usize) {
            Some(Outcome::Full)
        } else {
            self.empty_verdict(&e.queue, cfg.join_empty, e.window)
                .map(|empty| if empty { Outcome::JoinEmpty } else { Outcome::JoinUnavail })
        };
        if let Some(outcome) = refusal {
            self.mark_ended(&e.call, outcome, e.now);
            fx.journal.push(JournalEvent::Refused {
                call: e.call,
                queue: e.queue,
                node: e.fence.node,
                caller_id: e.caller_id,
                outcome,
            });
            return Verdict::Refused(outcome);
        }
        self.next_seq += 1;
        // A resumed wait keeps the place its first entry gave it.
        let entered = e.resumed.unwrap_or(e.now);
        let rank = Rank::new(e.priority, entered, self.next_seq, e.call.clone());
        let q = self.queues.get_mut(&e.queue).expect("checked above");
        q.present.insert(rank.clone());
        q.waiting.insert(e.window, rank.clone());
        let position = position_of(q, &rank);
        let serving = self.serving(&e.queue);
        self.callers.insert(
            e.call.clone(),
            CallerState {
                queue: e.queue.clone(),
                node: e.fence.node.clone(),
                rank,
                window: e.window,
                entered,
                caller_id: e.caller_id.clone(),
                original_position: position,
                status: CallerStatus::Waiting,
                reservations: BTreeSet::new(),
            },
        );
        fx.journal.push(JournalEvent::Entered {
            call: e.call.clone(),
            queue: e.queue,
            node: e.fence.node,
            caller_id: e.caller_id,
            position,
            resumed: e.resumed,
        });
        self.match_caller(&e.call, e.now, fx);
        Verdict::Joined { position, serving }
    }

    /// Takes back a connected call the store lost ([`Request::Reconnect`]).
    pub(super) fn reconnect(&mut self, r: Reconnect) -> Verdict {
        if self.callers.contains_key(&r.call) {
            return Verdict::Stale;
        }
        if let Some((_, outcome)) = self.ended.get(&r.call) {
            return Verdict::Ended(*outcome);
        }
        if !self.queues.contains_key(&r.queue) {
            return Verdict::Invalid(format!("unknown queue {:?}", r.queue.as_str()));
        }
        let Some(agent) = self.agents.get_mut(&r.agent) else {
            return Verdict::Invalid(format!("unknown agent {:?}", r.agent.as_str()));
        };
        match agent.status {
            Status::Reserved(_) | Status::OnCall(_) => {
                return Verdict::Invalid(format!("agent {} is on another call", r.agent));
            }
            Status::LoggedOut => agent.logged_in_at = r.since,
            _ => {}
        }
        agent.status = Status::OnCall(r.call.clone());
        agent.misses_in_row = 0;
        // Reservation ids only grow: those made from now on must not meet this one.
        self.next_reservation = self.next_reservation.max(r.reservation.0);
        self.next_seq += 1;
        let rank = Rank::new(0, r.entered, self.next_seq, r.call.clone());
        let status = CallerStatus::Connected {
            agent: r.agent.clone(),
            since: r.since,
            reservation: r.reservation,
        };
        self.callers.insert(
            r.call,
            CallerState {
                queue: r.queue,
                node: r.fence.node,
                rank,
                window: Window::ANY,
                entered: r.entered,
                caller_id: r.caller_id,
                original_position: 0,
                status,
                reservations: BTreeSet::new(),
            },
        );
        self.refresh_agent(&r.agent, 0);
        Verdict::Confirmed { agent: r.agent }
    }

    pub(super) fn set_window(
        &mut self,
        call: &CallId,
        window: Window,
        now: Time,
        fx: &mut Effects,
    ) -> Verdict {
        let Some(c) = self.callers.get_mut(call) else { return Verdict::Stale };
        let old = std::mem::replace(&mut c.window, window);
        if c.status == CallerStatus::Waiting {
            let q = self.queues.get_mut(&c.queue).expect("caller's queue exists");
            q.waiting.remove(old, &c.rank);
            q.waiting.insert(window, c.rank.clone());
            self.match_caller(call, now, fx);
        }
        Verdict::Done
    }

    pub(super) fn set_priority(
        &mut self,
        call: &CallId,
        priority: i32,
        now: Time,
        fx: &mut Effects,
    ) -> Verdict {
        let Some(c) = self.callers.get_mut(call) else { return Verdict::Stale };
        if matches!(c.status, CallerStatus::Connected { .. }) {
            return Verdict::Stale;
        }
        let q = self.queues.get_mut(&c.queue).expect("caller's queue exists");
        let old = c.rank.clone();
        self.next_seq += 1;
        let new = Rank::new(priority, c.entered, self.next_seq, call.clone());
        q.present.remove(&old);
        q.present.insert(new.clone());
        if c.status == CallerStatus::Waiting {
            q.waiting.remove(c.window, &old);
            q.waiting.insert(c.window, new.clone());
        }
        c.rank = new;
        let queue = c.queue.clone();
        self.match_caller(call, now, fx);
        // Under `autofill=no` another caller may have become the head.
        self.match_head(&queue, now, fx);
        Verdict::Done
    }

    pub(super) fn leave(
        &mut self,
        call: &CallId,
        outcome: Outcome,
        now: Time,
        fx: &mut Effects,
    ) -> Verdict {
        let Some(c) = self.callers.get(call) else { return Verdict::Stale };
        if let CallerStatus::Connected { agent, since, .. } = c.status.clone() {
            // A connected call lost (node gone, drain, or a caller whose leave crossed its
            // agent's answer): the agent is freed as after a hangup, resting while a leg left
            // is hung up.
            let (queue, hold, original_position) =
                (c.queue.clone(), since.since(c.entered), c.original_position);
            self.callers.remove(call);
            self.mark_ended(call, outcome, now);
            // The call's end is recorded before the agent, freed, may be offered the next one.
            fx.journal.push(JournalEvent::Left {
                call: call.clone(),
                queue: queue.clone(),
                outcome,
                position: 0,
                original_position,
                hold,
            });
            let leg_to_hang_up = outcome != Outcome::NodeLost;
            self.end_call_for_agent(&agent, &queue, now, 0, leg_to_hang_up, fx);
            return Verdict::Done;
        }
        let position = position_of(&self.queues[&c.queue], &c.rank);
        let c = self.remove_waiting_caller(call, outcome, now, fx);
        fx.journal.push(JournalEvent::Left {
            call: call.clone(),
            queue: c.queue,
            outcome,
            position,
            original_position: c.original_position,
            hold: now.since(c.entered),
        });
        Verdict::Done
    }

    /// Removes a caller that is not connected: cancels its offers (their agents rest while
    /// their legs are hung up) and lets the next caller become the head.
    pub(super) fn remove_waiting_caller(
        &mut self,
        call: &CallId,
        outcome: Outcome,
        now: Time,
        fx: &mut Effects,
    ) -> CallerState {
        let c = self.callers.remove(call).expect("caller exists");
        self.mark_ended(call, outcome, now);
        let q = self.queues.get_mut(&c.queue).expect("caller's queue exists");
        q.present.remove(&c.rank);
        if c.status == CallerStatus::Waiting {
            q.waiting.remove(c.window, &c.rank);
        }
        // A lost node took its agent legs with it: nothing is left to hang up.
        let leg_to_hang_up = outcome != Outcome::NodeLost;
        for r in &c.reservations {
            let cause = CancelCause::CallerLeft;
            self.cancel_reservation(*r, &c.node, leg_to_hang_up, cause, now, fx);
        }
        self.match_head(&c.queue, now, fx);
        c
    }

    pub(super) fn answered(&mut self, id: ReservationId, now: Time, fx: &mut Effects) -> Verdict {
        let Some(res) = self.reservations.remove(&id) else { return Verdict::Stale };
        let c = self.callers.get_mut(&res.call).expect("a reservation's caller exists");
        c.reservations.remove(&id);
        c.status =
            CallerStatus::Connected { agent: res.agent.clone(), since: now, reservation: id };
        let others: Vec<ReservationId> = std::mem::take(&mut c.reservations).into_iter().collect();
        let (node, rank, entered) = (c.node.clone(), c.rank.clone(), c.entered);
        self.queues.get_mut(&res.queue).expect("queue exists").present.remove(&rank);
        let agent = self.agents.get_mut(&res.agent).expect("a reservation's agent exists");
        agent.status = Status::OnCall(res.call.clone());
        agent.misses_in_row = 0;
        self.refresh_agent(&res.agent, 0);
        fx.journal.push(JournalEvent::Connected {
            call: res.call.clone(),
            queue: res.queue.clone(),
            agent: res.agent.clone(),
            reservation: id,
            hold: now.since(entered),
            rang: now.since(res.created),
        });
        for other in others {
            self.cancel_reservation(other, &node, true, CancelCause::AnsweredElsewhere, now, fx);
        }
        self.check_leave_empty(&res.agent, now, fx);
        self.match_head(&res.queue, now, fx);
        Verdict::Confirmed { agent: res.agent }
    }

    pub(super) fn missed(
        &mut self,
        id: ReservationId,
        miss: Miss,
        now: Time,
        draw: u64,
        fx: &mut Effects,
    ) -> Verdict {
        let Some(res) = self.reservations.remove(&id) else { return Verdict::Stale };
        if let Some(c) = self.callers.get_mut(&res.call) {
            c.reservations.remove(&id);
        }
        let cfg = Arc::clone(&self.queues[&res.queue].config);
        fx.journal.push(JournalEvent::Missed {
            call: res.call.clone(),
            queue: res.queue.clone(),
            agent: res.agent.clone(),
            miss,
            rang: now.since(res.created),
        });
        let agent = self.agents.get_mut(&res.agent).expect("a reservation's agent exists");
        let counts = match miss {
            Miss::NoAnswer => true,
            Miss::Busy => cfg.autopause.on_busy,
            Miss::Unreachable => cfg.autopause.on_unavailable,
            Miss::Failed => false,
        };
        if counts {
            agent.misses_in_row += 1;
        }
        let pause = cfg
            .autopause
            .scope
            .filter(|_| counts && agent.misses_in_row >= cfg.autopause.after_misses);
        if let Some(scope) = pause {
            agent.misses_in_row = 0;
            let queue = match scope {
                AutoPauseScope::ThisQueue => Some(res.queue.clone()),
                AutoPauseScope::AllQueues => None,
            };
            let reason = "auto".to_owned();
            match &queue {
                Some(q) => _ = agent.paused.insert(q.clone(), reason.clone()),
                None => agent.paused_all = Some(reason.clone()),
            }
            let members = super::agents::members_if_all(&queue, agent.members.keys());
            fx.journal.push(JournalEvent::Paused {
                agent: res.agent.clone(),
                queue,
                reason,
                auto: true,
                members,
            });
        }
        agent.status = match rest_after(miss, cfg.retry) {
            Some(rest) => Status::Resting { until: now + rest, wrapup: false },
            None => Status::Idle,
        };
        self.refresh_agent(&res.agent, draw);
        // The caller waits again before anyone is matched, so that an agent freed here picks
        // the best caller, this one included, and the caller only then looks for an agent.
        let requeued = self.requeue_if_unoffered(&res.call);
        self.check_leave_empty(&res.agent, now, fx);
        self.match_agent(&res.agent, now, fx);
        if requeued {
            self.match_caller(&res.call, now, fx);
            // A caller nobody can take may have to leave now.
            self.leave_if_empty(&res.queue, now, fx);
        }
        Verdict::Done
    }

    pub(super) fn extend(&mut self, call: &CallId, now: Time, fx: &mut Effects) -> Verdict {
        match self.callers.get(call).map(|c| &c.status) {
            Some(CallerStatus::Offered) => {}
            _ => return Verdict::Stale,
        }
        self.offer_to_best(call, now, fx);
        Verdict::Done
    }

    pub(super) fn hangup(
        &mut self,
        call: &CallId,
        by: Party,
        now: Time,
        draw: u64,
        fx: &mut Effects,
    ) -> Verdict {
        let Some(c) = self.callers.get(call) else { return Verdict::Stale };
        let CallerStatus::Connected { agent, since, .. } = c.status.clone() else {
            return Verdict::Stale;
        };
        let c = self.callers.remove(call).expect("checked above");
        let outcome = match by {
            Party::Caller => Outcome::CompletedByCaller,
            Party::Agent => Outcome::CompletedByAgent,
        };
        self.mark_ended(call, outcome, now);
        // The call's end is recorded before the agent, freed, may be offered the next one.
        fx.journal.push(JournalEvent::Completed {
            call: call.clone(),
            queue: c.queue.clone(),
            agent: agent.clone(),
            by,
            hold: since.since(c.entered),
            talk: now.since(since),
            original_position: c.original_position,
        });
        self.end_call_for_agent(&agent, &c.queue, now, draw, by == Party::Caller, fx);
        Verdict::Done
    }

    /// Frees the agent of a call that ended into its wrap-up (see [`wrapup_after`]).
    pub(super) fn end_call_for_agent(
        &mut self,
        id: &AgentId,
        queue: &QueueId,
        now: Time,
        draw: u64,
        leg_to_hang_up: bool,
        fx: &mut Effects,
    ) {
        let cfg = Arc::clone(&self.queues[queue].config);
        let agent = self.agents.get_mut(id).expect("an agent on a call exists");
        if let Some(stats) = agent.members.get_mut(queue) {
            stats.calls_taken += 1;
            stats.last_call_end = now;
        }
        let wrapup = wrapup_after(agent.config.wrapup.unwrap_or(cfg.wrapup), leg_to_hang_up);
        agent.status = if wrapup.is_zero() {
            Status::Idle
        } else {
            Status::Resting { until: now + wrapup, wrapup: true }
        };
        self.refresh_agent(id, draw);
        self.match_agent(id, now, fx);
    }
}

impl Board {
    /// The callers of a node, for its new owner to adopt (a walk over every caller: the
    /// embedded store serves one box, and adoption happens on takeover only).
    pub(crate) fn node_calls(&self, node: &NodeId) -> Vec<StoredCall> {
        let stored = |(call, c): (&CallId, &CallerState)| StoredCall {
            call: call.clone(),
            queue: c.queue.clone(),
            caller_id: c.caller_id.clone(),
            entered: c.entered,
            state: match &c.status {
                CallerStatus::Connected { agent, since, reservation } => StoredState::Connected {
                    reservation: *reservation,
                    agent: agent.clone(),
                    since: *since,
                },
                CallerStatus::Waiting | CallerStatus::Offered => StoredState::Waiting {
                    offers: c
                        .reservations
                        .iter()
                        .map(|r| (*r, self.reservations[r].agent.clone()))
                        .collect(),
                },
            },
        };
        self.callers.iter().filter(|(_, c)| &c.node == node).map(stored).collect()
    }
}

impl Board {
    /// Remembers that a call's stay ended, for [`ENDED_KEPT`]: an `Enqueue` of it in that
    /// time (a stray found while its channel was on its way out) changes nothing.
    pub(super) fn mark_ended(&mut self, call: &CallId, outcome: Outcome, now: Time) {
        self.ended.insert(call.clone(), (now, outcome));
        self.ended_order.push_back((now, call.clone()));
        while let Some((at, old)) = self.ended_order.front()
            && now.since(*at) > ENDED_KEPT
        {
            if self.ended.get(old).is_some_and(|(t, _)| t == at) {
                self.ended.remove(old);
            }
            self.ended_order.pop_front();
        }
    }
}

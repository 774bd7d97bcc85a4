//! The routing board: queues, agents, callers and reservations, and the atomic application of
//! one [`Request`]. This is the reference semantics of the store; the Redis functions implement
//! the same steps on the same orderings.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use starq_core::config::{AgentConfig, AutoPauseScope, EmptyConditions, QueueConfig, Window};
use starq_core::journal::JournalEvent;
use starq_core::shared::{
    AgentAction, Enqueue, Miss, Notice, Offer, Party, Request, Verdict, rest_after,
};
use starq_core::strategy::{AgentStats, Score};
use starq_core::{AgentId, CallId, NodeId, Outcome, QueueId, ReservationId, Time};

use super::agent::{AgentState, CLASSES, MemberStats, Status, class_counts};
use super::index::{Available, Rank, Waiting};
use super::ranked::RankedSet;

#[derive(Debug)]
pub(crate) struct QueueState {
    pub(crate) config: Arc<QueueConfig>,
    pub(crate) waiting: Waiting,
    /// Every caller in the queue not yet connected (waiting or ringing), for positions.
    pub(crate) present: RankedSet<Rank>,
    pub(crate) available: Available,
    /// Logged-in members per tier, per status class (see [`CLASSES`]).
    pub(crate) counts: BTreeMap<u32, [u32; CLASSES]>,
    pub(crate) rr_cursor: Option<Score>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum CallerStatus {
    /// Matchable: in the waiting index.
    Waiting,
    /// Ringing one or more agents.
    Offered,
    /// Talking to `agent` since `since`.
    Connected { agent: AgentId, since: Time },
}

#[derive(Debug)]
pub(crate) struct CallerState {
    pub(crate) queue: QueueId,
    pub(crate) node: NodeId,
    pub(crate) rank: Rank,
    pub(crate) window: Window,
    pub(crate) entered: Time,
    pub(crate) original_position: u32,
    pub(crate) status: CallerStatus,
    pub(crate) reservations: BTreeSet<ReservationId>,
}

#[derive(Clone, Debug)]
pub(crate) struct Reservation {
    pub(crate) call: CallId,
    pub(crate) agent: AgentId,
    pub(crate) queue: QueueId,
    pub(crate) created: Time,
}

/// Everything routing decides on, for one site.
#[derive(Debug, Default)]
pub(crate) struct Board {
    pub(crate) queues: BTreeMap<QueueId, QueueState>,
    pub(crate) agents: BTreeMap<AgentId, AgentState>,
    pub(crate) callers: BTreeMap<CallId, CallerState>,
    pub(crate) reservations: BTreeMap<ReservationId, Reservation>,
    next_reservation: u64,
    next_seq: u64,
}

/// The effects of one request being applied: its journal records and notices.
#[derive(Debug, Default)]
pub(crate) struct Effects {
    pub(crate) journal: Vec<JournalEvent>,
    pub(crate) notices: Vec<Notice>,
}

impl Board {
    /// Installs or updates queues and agents, keeping the runtime state of those that remain.
    pub(crate) fn configure(&mut self, queues: &[QueueConfig], agents: &[AgentConfig]) {
        for q in queues {
            match self.queues.get_mut(&q.id) {
                Some(state) => state.config = Arc::new(q.clone()),
                None => {
                    self.queues.insert(
                        q.id.clone(),
                        QueueState {
                            config: Arc::new(q.clone()),
                            waiting: Waiting::default(),
                            present: RankedSet::default(),
                            available: Available::default(),
                            counts: BTreeMap::new(),
                            rr_cursor: None,
                        },
                    );
                }
            }
        }
        // Member order per queue follows the order agents are configured in.
        let mut next_order: BTreeMap<QueueId, u32> = BTreeMap::new();
        for a in agents {
            let orders: BTreeMap<QueueId, u32> = a
                .memberships
                .iter()
                .map(|m| {
                    let n = next_order.entry(m.queue.clone()).or_insert(0);
                    *n += 1;
                    (m.queue.clone(), *n - 1)
                })
                .collect();
            let fresh = AgentState::new(a.clone(), &orders);
            match self.agents.get_mut(&a.id) {
                Some(state) => {
                    state.config = a.clone();
                    for (q, stats) in fresh.members {
                        let old = state.members.remove(&q);
                        let kept = old.map(|o| MemberStats {
                            penalty: stats.penalty,
                            order: stats.order,
                            ..o
                        });
                        state.members.insert(q, kept.unwrap_or(stats));
                    }
                    state.members.retain(|q, _| a.memberships.iter().any(|m| &m.queue == q));
                }
                None => {
                    self.agents.insert(a.id.clone(), fresh);
                }
            }
            self.refresh_agent(&a.id, 0);
        }
    }

    /// After [`configure`](Self::configure): offers waiting callers to the agents the new
    /// configuration lets take them (a lowered penalty, a new membership, a queue's new weight
    /// or `penaltymemberslimit`). Candidates are the configured agents and the available agents
    /// of the configured queues, matched one by one in id order as if each had just become
    /// available; one that is not available (or was just reserved) matches nothing.
    pub(crate) fn rematch(
        &mut self,
        queues: &[QueueConfig],
        agents: &[AgentConfig],
        now: Time,
        fx: &mut Effects,
    ) {
        let mut candidates: BTreeSet<AgentId> = agents.iter().map(|a| a.id.clone()).collect();
        for q in queues {
            candidates.extend(self.queues[&q.id].available.agents().cloned());
        }
        for id in candidates {
            self.match_agent(&id, now, fx);
        }
    }

    /// Applies one request atomically.
    pub(crate) fn apply(&mut self, request: Request, fx: &mut Effects) -> Verdict {
        match request {
            Request::Enqueue(e) => self.enqueue(e, fx),
            Request::SetWindow { call, window, now, .. } => self.set_window(&call, window, now, fx),
            Request::SetPriority { call, priority, now, .. } => {
                self.set_priority(&call, priority, now, fx)
            }
            Request::Leave { call, outcome, now, .. } => self.leave(&call, outcome, now, fx),
            Request::Answered { reservation, now, .. } => self.answered(reservation, now, fx),
            Request::Missed { reservation, miss, now, draw, .. } => {
                self.missed(reservation, miss, now, draw, fx)
            }
            Request::Extend { call, now, .. } => self.extend(&call, now, fx),
            Request::Hangup { call, by, now, draw, .. } => self.hangup(&call, by, now, draw, fx),
            Request::AgentReady { agent, now, draw } => self.agent_ready(&agent, now, draw, fx),
            Request::Agent { agent, action, now, draw } => {
                self.agent_action(&agent, action, now, draw, fx)
            }
        }
    }

    // === callers ===

    fn enqueue(&mut self, e: Enqueue, fx: &mut Effects) -> Verdict {
        if self.callers.contains_key(&e.call) {
            return Verdict::Invalid(format!("caller {} is already queued", e.call));
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
        let rank = Rank::new(e.priority, e.now, self.next_seq, e.call.clone());
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
                entered: e.now,
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
        });
        self.match_caller(&e.call, e.now, fx);
        Verdict::Joined { position, serving }
    }

    fn set_window(
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

    fn set_priority(
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

    fn leave(&mut self, call: &CallId, outcome: Outcome, now: Time, fx: &mut Effects) -> Verdict {
        let Some(c) = self.callers.get(call) else { return Verdict::Stale };
        if let CallerStatus::Connected { agent, since } = c.status.clone() {
            // A connected call lost (node gone, drain): the agent is freed as after a hangup.
            let (queue, hold, original_position) =
                (c.queue.clone(), since.since(c.entered), c.original_position);
            self.callers.remove(call);
            // The call's end is recorded before the agent, freed, may be offered the next one.
            fx.journal.push(JournalEvent::Left {
                call: call.clone(),
                queue: queue.clone(),
                outcome,
                position: 0,
                original_position,
                hold,
            });
            self.end_call_for_agent(&agent, &queue, now, 0, fx);
            return Verdict::Done;
        }
        let position = position_of(&self.queues[&c.queue], &c.rank);
        let c = self.remove_waiting_caller(call, now, fx);
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

    /// Removes a caller that is not connected: cancels its offers (freeing their agents, who
    /// may then be matched) and lets the next caller become the head.
    fn remove_waiting_caller(&mut self, call: &CallId, now: Time, fx: &mut Effects) -> CallerState {
        let c = self.callers.remove(call).expect("caller exists");
        let q = self.queues.get_mut(&c.queue).expect("caller's queue exists");
        q.present.remove(&c.rank);
        if c.status == CallerStatus::Waiting {
            q.waiting.remove(c.window, &c.rank);
        }
        for r in &c.reservations {
            self.cancel_reservation(*r, &c.node, now, fx);
        }
        self.match_head(&c.queue, now, fx);
        c
    }

    fn answered(&mut self, id: ReservationId, now: Time, fx: &mut Effects) -> Verdict {
        let Some(res) = self.reservations.remove(&id) else { return Verdict::Stale };
        let c = self.callers.get_mut(&res.call).expect("a reservation's caller exists");
        c.reservations.remove(&id);
        c.status = CallerStatus::Connected { agent: res.agent.clone(), since: now };
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
            self.cancel_reservation(other, &node, now, fx);
        }
        self.check_leave_empty(&res.agent, now, fx);
        self.match_head(&res.queue, now, fx);
        Verdict::Confirmed { agent: res.agent }
    }

    fn missed(
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
            fx.journal.push(JournalEvent::Paused {
                agent: res.agent.clone(),
                queue,
                reason,
                auto: true,
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

    fn extend(&mut self, call: &CallId, now: Time, fx: &mut Effects) -> Verdict {
        match self.callers.get(call).map(|c| &c.status) {
            Some(CallerStatus::Offered) => {}
            _ => return Verdict::Stale,
        }
        self.offer_to_best(call, now, fx);
        Verdict::Done
    }

    fn hangup(
        &mut self,
        call: &CallId,
        by: Party,
        now: Time,
        draw: u64,
        fx: &mut Effects,
    ) -> Verdict {
        let Some(c) = self.callers.get(call) else { return Verdict::Stale };
        let CallerStatus::Connected { agent, since } = c.status.clone() else {
            return Verdict::Stale;
        };
        let c = self.callers.remove(call).expect("checked above");
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
        self.end_call_for_agent(&agent, &c.queue, now, draw, fx);
        Verdict::Done
    }

    fn end_call_for_agent(
        &mut self,
        id: &AgentId,
        queue: &QueueId,
        now: Time,
        draw: u64,
        fx: &mut Effects,
    ) {
        let cfg = Arc::clone(&self.queues[queue].config);
        let agent = self.agents.get_mut(id).expect("an agent on a call exists");
        if let Some(stats) = agent.members.get_mut(queue) {
            stats.calls_taken += 1;
            stats.last_call_end = now;
        }
        let wrapup = agent.config.wrapup.unwrap_or(cfg.wrapup);
        agent.status = if wrapup.is_zero() {
            Status::Idle
        } else {
            Status::Resting { until: now + wrapup, wrapup: true }
        };
        self.refresh_agent(id, draw);
        self.match_agent(id, now, fx);
    }

    // === agents ===

    fn agent_ready(&mut self, id: &AgentId, now: Time, draw: u64, fx: &mut Effects) -> Verdict {
        let Some(agent) = self.agents.get_mut(id) else { return Verdict::Stale };
        match agent.status {
            Status::Resting { until, .. } if until <= now => agent.status = Status::Idle,
            _ => return Verdict::Stale,
        }
        self.refresh_agent(id, draw);
        self.match_agent(id, now, fx);
        Verdict::Done
    }

    fn agent_action(
        &mut self,
        id: &AgentId,
        action: AgentAction,
        now: Time,
        draw: u64,
        fx: &mut Effects,
    ) -> Verdict {
        let Some(agent) = self.agents.get_mut(id) else {
            return Verdict::Invalid(format!("unknown agent {:?}", id.as_str()));
        };
        let logged_in = agent.status != Status::LoggedOut;
        let event = match action {
            AgentAction::Login if logged_in => {
                return Verdict::Invalid(format!("agent {id} is already logged in"));
            }
            AgentAction::Login => {
                agent.status = Status::Idle;
                agent.logged_in_at = now;
                agent.misses_in_row = 0;
                JournalEvent::LoggedIn { agent: id.clone() }
            }
            AgentAction::Logout => match agent.status {
                Status::LoggedOut => {
                    return Verdict::Invalid(format!("agent {id} is not logged in"));
                }
                Status::Reserved(_) | Status::OnCall(_) => {
                    return Verdict::Invalid(format!("agent {id} is on a call; log out after it"));
                }
                _ => {
                    agent.status = Status::LoggedOut;
                    agent.paused.clear();
                    agent.paused_all = None;
                    JournalEvent::LoggedOut {
                        agent: id.clone(),
                        session: now.since(agent.logged_in_at),
                    }
                }
            },
            AgentAction::Pause { queue, reason } => {
                if let Some(q) = &queue {
                    if !agent.members.contains_key(q) {
                        return Verdict::Invalid(format!(
                            "agent {id} is not a member of queue {q}"
                        ));
                    }
                    agent.paused.insert(q.clone(), reason.clone());
                } else {
                    agent.paused_all = Some(reason.clone());
                }
                JournalEvent::Paused { agent: id.clone(), queue, reason, auto: false }
            }
            AgentAction::Unpause { queue } => {
                match &queue {
                    Some(q) => _ = agent.paused.remove(q),
                    None => {
                        agent.paused_all = None;
                        agent.paused.clear();
                    }
                }
                agent.misses_in_row = 0;
                JournalEvent::Unpaused { agent: id.clone(), queue }
            }
            AgentAction::SetPenalty { queue, penalty } => {
                let Some(stats) = agent.members.get_mut(&queue) else {
                    return Verdict::Invalid(format!(
                        "agent {id} is not a member of queue {queue}"
                    ));
                };
                stats.penalty = penalty;
                JournalEvent::PenaltyChanged { agent: id.clone(), queue, penalty }
            }
            AgentAction::SetReachable { reachable } => {
                agent.reachable = reachable;
                JournalEvent::Reachability { agent: id.clone(), reachable }
            }
        };
        fx.journal.push(event);
        self.refresh_agent(id, draw);
        self.check_leave_empty(id, now, fx);
        self.match_agent(id, now, fx);
        // A login or logout can cross a queue's `penaltymemberslimit`: once penalties are
        // ignored, agents outside waiting callers' windows may take them.
        let queues: Vec<QueueId> = self.agents[id].members.keys().cloned().collect();
        for queue in queues {
            self.fill_if_penalties_ignored(&queue, now, fx);
        }
        Verdict::Done
    }

    /// While penalties are ignored in `queue`, offers waiting callers, best first, to its
    /// available agents. O(offers made).
    fn fill_if_penalties_ignored(&mut self, queue: &QueueId, now: Time, fx: &mut Effects) {
        while self.penalties_ignored(queue) {
            let q = &self.queues[queue];
            if q.available.len() == 0 {
                return;
            }
            let Some(head) = q.waiting.best_for(None).map(|r| r.call.clone()) else { return };
            self.match_caller(&head, now, fx);
            if self.callers.get(&head).is_some_and(|c| c.status == CallerStatus::Waiting) {
                return; // Not matchable now (autofill=no and not the head).
            }
        }
    }

    // === matching ===

    /// Offers a newly matchable caller to the agents its strategy picks, if any is available.
    fn match_caller(&mut self, call: &CallId, now: Time, fx: &mut Effects) {
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
    fn match_head(&mut self, queue: &QueueId, now: Time, fx: &mut Effects) {
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
    fn offer_to_best(&mut self, call: &CallId, now: Time, fx: &mut Effects) -> bool {
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
    fn match_agent(&mut self, id: &AgentId, now: Time, fx: &mut Effects) {
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

    fn reserve(&mut self, call: &CallId, agent: &AgentId, now: Time, fx: &mut Effects) {
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
    fn assert_served_in_order(&self, call: &CallId, agent: &AgentId) {
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

    /// Ends a reservation the agent is not to blame for; the agent is free again at once.
    fn cancel_reservation(
        &mut self,
        id: ReservationId,
        node: &NodeId,
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
        self.agents.get_mut(&res.agent).expect("exists").status = Status::Idle;
        self.refresh_agent(&res.agent, 0);
        self.match_agent(&res.agent, now, fx);
    }

    /// A caller whose last offer ended without an answer waits again. Returns whether it did.
    fn requeue_if_unoffered(&mut self, call: &CallId) -> bool {
        let Some(c) = self.callers.get_mut(call) else { return false };
        if c.status != CallerStatus::Offered || !c.reservations.is_empty() {
            return false;
        }
        c.status = CallerStatus::Waiting;
        let q = self.queues.get_mut(&c.queue).expect("exists");
        q.waiting.insert(c.window, c.rank.clone());
        true
    }

    // === availability bookkeeping ===

    /// Re-derives the agent's places in every queue's availability index and counters from its
    /// state. Every change to an agent goes through here, so the indexes cannot drift.
    fn refresh_agent(&mut self, id: &AgentId, draw: u64) {
        let agent = self.agents.get_mut(id).expect("agent exists");
        for (queue, (penalty, score)) in std::mem::take(&mut agent.indexed) {
            self.queues.get_mut(&queue).expect("exists").available.remove(penalty, score, id);
        }
        for (queue, (penalty, class)) in std::mem::take(&mut agent.counted) {
            let q = self.queues.get_mut(&queue).expect("exists");
            let counts = q.counts.get_mut(&penalty).expect("counted");
            counts[class] -= 1;
            if counts.iter().all(|&n| n == 0) {
                q.counts.remove(&penalty);
            }
        }
        for (queue, stats) in &agent.members {
            let Some(q) = self.queues.get_mut(queue) else { continue };
            if let Some(class) = agent.class_in(queue) {
                q.counts.entry(stats.penalty).or_default()[class] += 1;
                agent.counted.insert(queue.clone(), (stats.penalty, class));
            }
            if agent.is_available_in(queue) {
                let score = q.config.strategy.score(&AgentStats {
                    order: stats.order,
                    penalty: stats.penalty,
                    last_call_end: stats.last_call_end,
                    calls_taken: stats.calls_taken,
                    draw,
                });
                q.available.insert(stats.penalty, score, id.clone());
                agent.indexed.insert(queue.clone(), (stats.penalty, score));
            }
        }
    }

    /// Logged-in members of a queue.
    fn members_logged_in(&self, queue: &QueueId) -> u32 {
        self.queues[queue].counts.values().flatten().sum()
    }

    fn penalties_ignored(&self, queue: &QueueId) -> bool {
        let limit = self.queues[queue].config.penalty_members_limit;
        limit > 0 && self.members_logged_in(queue) <= limit
    }

    /// Members that serve the queue: logged in, unpaused, reachable (busy or not).
    fn serving(&self, queue: &QueueId) -> u32 {
        let counts = self.queues[queue].counts.values();
        counts.map(|c| c[0] + c[1] + c[2] + c[3] + c[5]).sum()
    }

    /// Under `conditions`, is the queue empty for a caller with `window`? `None`: not empty;
    /// `Some(true)`: no member at all; `Some(false)`: members, none counting as available.
    fn empty_verdict(
        &self,
        queue: &QueueId,
        conditions: EmptyConditions,
        window: Window,
    ) -> Option<bool> {
        if conditions.is_off() {
            return None;
        }
        if self.members_logged_in(queue) == 0 {
            return Some(true);
        }
        let by_penalty = conditions.contains(starq_core::config::MemberCondition::Penalty)
            && !self.penalties_ignored(queue);
        let range = if by_penalty { window.min..=window.max } else { 0..=u32::MAX };
        let usable = self.queues[queue].counts.range(range).any(|(_, counts)| {
            counts.iter().enumerate().any(|(class, &n)| n > 0 && class_counts(class, conditions))
        });
        (!usable).then_some(false)
    }

    /// After an agent's state changed, callers of its queues may have to leave.
    fn check_leave_empty(&mut self, agent: &AgentId, now: Time, fx: &mut Effects) {
        let queues: Vec<QueueId> = self.agents[agent].members.keys().cloned().collect();
        for queue in queues {
            self.leave_if_empty(&queue, now, fx);
        }
    }

    /// Makes every waiting caller of `queue` for whom the queue is empty under `leavewhenempty`
    /// leave. O(windows) when nobody has to leave; otherwise O(callers leaving).
    fn leave_if_empty(&mut self, queue: &QueueId, now: Time, fx: &mut Effects) {
        let Some(q) = self.queues.get(queue) else { return };
        let conditions = q.config.leave_empty;
        if conditions.is_off() {
            return;
        }
        let mut leaving = Vec::new();
        for (window, callers) in q.waiting.groups() {
            if let Some(empty) = self.empty_verdict(queue, conditions, *window) {
                let outcome = if empty { Outcome::LeaveEmpty } else { Outcome::LeaveUnavail };
                leaving.extend(callers.iter().map(|r| (r.call.clone(), outcome)));
            }
        }
        for (call, outcome) in leaving {
            // Matching set off by an earlier eviction may already have taken this caller.
            if self.callers.get(&call).is_none_or(|c| c.status != CallerStatus::Waiting) {
                continue;
            }
            let position = position_of(&self.queues[queue], &self.callers[&call].rank);
            let c = self.remove_waiting_caller(&call, now, fx);
            fx.journal.push(JournalEvent::Left {
                call: call.clone(),
                queue: queue.clone(),
                outcome,
                position,
                original_position: c.original_position,
                hold: now.since(c.entered),
            });
            fx.notices.push(Notice::Evict { call, node: c.node, queue: queue.clone(), outcome });
        }
    }

    /// The 1-based position of a caller still in the queue.
    pub(crate) fn position(&self, call: &CallId) -> Option<u32> {
        let c = self.callers.get(call)?;
        if matches!(c.status, CallerStatus::Connected { .. }) {
            return None;
        }
        Some(position_of(&self.queues[&c.queue], &c.rank))
    }
}

/// The 1-based position of a caller in its queue, in O(log n).
fn position_of(q: &QueueState, rank: &Rank) -> u32 {
    u32::try_from(q.present.rank(rank) + 1).unwrap_or(u32::MAX)
}

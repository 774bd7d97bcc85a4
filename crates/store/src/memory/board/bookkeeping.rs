//! Availability bookkeeping: agents' places in the indexes and counters, and the empty-queue rules
//! derived from them.

use starq_core::config::{EmptyConditions, Window};
use starq_core::journal::JournalEvent;
use starq_core::shared::Notice;
use starq_core::strategy::AgentStats;
use starq_core::{AgentId, CallId, Outcome, QueueId, Time};

use super::super::agent::class_counts;
use super::{Board, CallerStatus, Effects, position_of};

impl Board {
    /// Re-derives the agent's places in every queue's availability index and counters from its
    /// state. Every change to an agent goes through here, so the indexes cannot drift.
    pub(super) fn refresh_agent(&mut self, id: &AgentId, draw: u64) {
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
    pub(super) fn members_logged_in(&self, queue: &QueueId) -> u32 {
        self.queues[queue].counts.values().flatten().sum()
    }

    pub(super) fn penalties_ignored(&self, queue: &QueueId) -> bool {
        let limit = self.queues[queue].config.penalty_members_limit;
        limit > 0 && self.members_logged_in(queue) <= limit
    }

    /// Members that serve the queue: logged in, unpaused, reachable (busy or not).
    pub(super) fn serving(&self, queue: &QueueId) -> u32 {
        let counts = self.queues[queue].counts.values();
        counts.map(|c| c[0] + c[1] + c[2] + c[3] + c[5]).sum()
    }

    /// Under `conditions`, is the queue empty for a caller with `window`? `None`: not empty;
    /// `Some(true)`: no member at all; `Some(false)`: members, none counting as available.
    pub(super) fn empty_verdict(
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
    pub(super) fn check_leave_empty(&mut self, agent: &AgentId, now: Time, fx: &mut Effects) {
        let queues: Vec<QueueId> = self.agents[agent].members.keys().cloned().collect();
        for queue in queues {
            self.leave_if_empty(&queue, now, fx);
        }
    }

    /// Makes every waiting caller of `queue` for whom the queue is empty under `leavewhenempty`
    /// leave. O(windows) when nobody has to leave; otherwise O(callers leaving).
    pub(super) fn leave_if_empty(&mut self, queue: &QueueId, now: Time, fx: &mut Effects) {
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
            let c = self.remove_waiting_caller(&call, outcome, now, fx);
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

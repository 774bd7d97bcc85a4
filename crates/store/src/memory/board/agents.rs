//! Requests about agents: the end of a rest, and login, logout, pauses, penalties, reachability.

use starq_core::journal::JournalEvent;
use starq_core::shared::{AgentAction, Verdict};
use starq_core::{AgentId, QueueId, Time};

use super::super::agent::Status;
use super::{Board, CallerStatus, Effects};

impl Board {
    pub(super) fn agent_ready(
        &mut self,
        id: &AgentId,
        now: Time,
        draw: u64,
        fx: &mut Effects,
    ) -> Verdict {
        let Some(agent) = self.agents.get_mut(id) else { return Verdict::Stale };
        match agent.status {
            Status::Resting { until, .. } if until <= now => agent.status = Status::Idle,
            _ => return Verdict::Stale,
        }
        self.refresh_agent(id, draw);
        self.match_agent(id, now, fx);
        Verdict::Done
    }

    pub(super) fn agent_action(
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
                let members = members_if_all(&queue, agent.members.keys());
                JournalEvent::Paused { agent: id.clone(), queue, reason, auto: false, members }
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
                let members = members_if_all(&queue, agent.members.keys());
                JournalEvent::Unpaused { agent: id.clone(), queue, members }
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
    pub(super) fn fill_if_penalties_ignored(
        &mut self,
        queue: &QueueId,
        now: Time,
        fx: &mut Effects,
    ) {
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
}

/// The queues a pause or unpause in all queues (`queue` is `None`) applies to, for the
/// journal; none for one in one queue.
pub(super) fn members_if_all<'a>(
    queue: &Option<QueueId>,
    members: impl Iterator<Item = &'a QueueId>,
) -> Vec<QueueId> {
    match queue {
        Some(_) => Vec::new(),
        None => members.cloned().collect(),
    }
}

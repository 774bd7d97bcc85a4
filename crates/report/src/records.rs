//! Journal records as changes to the call records (`queue_calls`) and agent sessions
//! (`agent_sessions`) tables.
//!
//! A call record is one caller's stay in one queue: queue, node, caller id, entry, answer and
//! end times, wait and talk, the agent who took it and the outcome. The queues of one failover
//! chain are rows of their own, tied by `channel` and numbered by `step`; the row a caller left
//! to fail over records the queue it went on to (`next_queue`).
//!
//! An agent session is an interval: logged in (`login`), or paused in one queue or in all of
//! them (`pause`, queue empty for all), open (`ended` null) until it ends.
//!
//! Changes are pure data. The SQL sink applies them in journal order inside the batch
//! transaction that also records how far the batch got, so a replayed record changes nothing.

use std::time::Duration;

use starq_core::journal::{JournalEntry, JournalEvent};
use starq_core::shared::{Miss, Party};
use starq_core::{AgentId, CallId, Outcome, Time};

use crate::queue_log::split_call;

/// One change to the call records or agent sessions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordChange {
    /// A caller entered a queue (or was refused at entry: then `ended` and `outcome` are set).
    Enter {
        /// The starq call id (primary key).
        call: String,
        /// The caller channel's uniqueid, shared by the queues of a failover chain.
        channel: String,
        /// The failover step (0 for the first queue).
        step: u32,
        /// The queue.
        queue: String,
        /// The caller's node.
        node: String,
        /// The caller id number.
        caller_id: String,
        /// Entry time.
        entered: Time,
        /// Position at entry (1-based); 0 when refused.
        position: u32,
        /// Set when the caller was refused at entry: the outcome, at entry time.
        refused: Option<Outcome>,
    },
    /// The caller failed over from `call` to `next_queue`.
    FailedOver {
        /// The call id of the queue left.
        call: String,
        /// The queue the caller went on to.
        next_queue: String,
    },
    /// An agent answered.
    Answer {
        /// The call id.
        call: String,
        /// The agent.
        agent: String,
        /// When.
        at: Time,
        /// How long the caller waited.
        wait: Duration,
        /// How long the agent's leg rang.
        ring: Duration,
    },
    /// An offer to an agent was not taken (no answer, busy, unreachable).
    Miss {
        /// The call id.
        call: String,
    },
    /// The caller's stay ended.
    End {
        /// The call id.
        call: String,
        /// When.
        at: Time,
        /// How it ended.
        outcome: Outcome,
        /// Time waited before being answered or leaving.
        wait: Duration,
        /// Talk time (zero when not answered).
        talk: Duration,
    },
    /// An agent session (login or pause) began.
    Open {
        /// The agent.
        agent: String,
        /// `login` or `pause`.
        kind: SessionKind,
        /// The queue of a one-queue pause; empty otherwise.
        queue: String,
        /// The pause reason; empty for logins.
        reason: String,
        /// When.
        at: Time,
    },
    /// Open sessions of an agent ended: of one kind, in one queue (or all queues when `queue`
    /// is `None`).
    Close {
        /// The agent.
        agent: String,
        /// `login` or `pause`.
        kind: SessionKind,
        /// `Some` closes the session in that queue (empty: the all-queues one); `None` every
        /// open session of that kind.
        queue: Option<String>,
        /// When.
        at: Time,
    },
}

/// What an agent session is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionKind {
    /// Logged in.
    Login,
    /// Paused.
    Pause,
}

impl SessionKind {
    /// The value stored in `agent_sessions.kind`.
    pub const fn as_str(self) -> &'static str {
        match self {
            SessionKind::Login => "login",
            SessionKind::Pause => "pause",
        }
    }
}

/// The outcome as stored in `queue_calls.outcome`: the dialplan's status name, with
/// `COMPLETECALLER` / `COMPLETEAGENT` for answered calls so the side that hung up is kept.
pub fn outcome_name(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::CompletedByCaller => "COMPLETECALLER",
        Outcome::CompletedByAgent => "COMPLETEAGENT",
        other => other.queue_status(),
    }
}

fn id(call: &CallId) -> String {
    call.to_string()
}

fn agent_name(agent: &AgentId) -> String {
    agent.to_string()
}

/// The changes one journal record makes, in order.
pub fn changes(entry: &JournalEntry) -> Vec<RecordChange> {
    let at = entry.time;
    match &entry.event {
        JournalEvent::Entered { call, queue, node, caller_id, position, resumed } => {
            let (_, channel, step) = split_call(call);
            let enter = RecordChange::Enter {
                call: id(call),
                channel: channel.to_owned(),
                step,
                queue: queue.to_string(),
                node: node.to_string(),
                caller_id: caller_id.clone(),
                // A resumed wait began before: its record keeps the first entry.
                entered: resumed.unwrap_or(at),
                position: *position,
                refused: None,
            };
            match previous_step(call) {
                Some(previous) => vec![
                    RecordChange::FailedOver { call: previous, next_queue: queue.to_string() },
                    enter,
                ],
                None => vec![enter],
            }
        }
        JournalEvent::Refused { call, queue, node, caller_id, outcome } => {
            let (_, channel, step) = split_call(call);
            let enter = RecordChange::Enter {
                call: id(call),
                channel: channel.to_owned(),
                step,
                queue: queue.to_string(),
                node: node.to_string(),
                caller_id: caller_id.clone(),
                entered: at,
                position: 0,
                refused: Some(*outcome),
            };
            match previous_step(call) {
                Some(previous) => vec![
                    RecordChange::FailedOver { call: previous, next_queue: queue.to_string() },
                    enter,
                ],
                None => vec![enter],
            }
        }
        JournalEvent::Connected { call, agent, hold, rang, .. } => vec![RecordChange::Answer {
            call: id(call),
            agent: agent_name(agent),
            at,
            wait: *hold,
            ring: *rang,
        }],
        // As in queue_log, an offer withdrawn for starq's own reasons is not a miss.
        JournalEvent::Missed { miss: Miss::Failed, .. } => Vec::new(),
        JournalEvent::Missed { call, .. } => vec![RecordChange::Miss { call: id(call) }],
        JournalEvent::Completed { call, by, hold, talk, .. } => {
            let outcome = match by {
                Party::Caller => Outcome::CompletedByCaller,
                Party::Agent => Outcome::CompletedByAgent,
            };
            vec![RecordChange::End { call: id(call), at, outcome, wait: *hold, talk: *talk }]
        }
        JournalEvent::Left { call, outcome, hold, .. } => vec![RecordChange::End {
            call: id(call),
            at,
            outcome: *outcome,
            wait: *hold,
            talk: Duration::ZERO,
        }],
        JournalEvent::LoggedIn { agent } => vec![RecordChange::Open {
            agent: agent_name(agent),
            kind: SessionKind::Login,
            queue: String::new(),
            reason: String::new(),
            at,
        }],
        JournalEvent::LoggedOut { agent, .. } => {
            // A logout ends the agent's pauses too (the stores clear them).
            let agent = agent_name(agent);
            vec![
                RecordChange::Close {
                    agent: agent.clone(),
                    kind: SessionKind::Pause,
                    queue: None,
                    at,
                },
                RecordChange::Close { agent, kind: SessionKind::Login, queue: None, at },
            ]
        }
        JournalEvent::Paused { agent, queue, reason, .. } => {
            // Pausing again (a new reason) ends the previous pause of the same scope.
            let agent = agent_name(agent);
            let queue = queue.as_ref().map(|q| q.to_string()).unwrap_or_default();
            vec![
                RecordChange::Close {
                    agent: agent.clone(),
                    kind: SessionKind::Pause,
                    queue: Some(queue.clone()),
                    at,
                },
                RecordChange::Open {
                    agent,
                    kind: SessionKind::Pause,
                    queue,
                    reason: reason.clone(),
                    at,
                },
            ]
        }
        JournalEvent::Unpaused { agent, queue, .. } => vec![RecordChange::Close {
            agent: agent_name(agent),
            kind: SessionKind::Pause,
            // Unpausing everywhere clears every pause, per queue ones included.
            queue: queue.as_ref().map(|q| q.to_string()),
            at,
        }],
        JournalEvent::Offered { .. }
        | JournalEvent::OfferCancelled { .. }
        | JournalEvent::PenaltyChanged { .. }
        | JournalEvent::Reachability { .. }
        | JournalEvent::MemberAdded { .. }
        | JournalEvent::MemberRemoved { .. } => Vec::new(),
    }
}

/// The call id of the queue before this one in the caller's failover chain, if any.
fn previous_step(call: &CallId) -> Option<String> {
    let (node, channel, step) = split_call(call);
    if step == 0 {
        return None;
    }
    let node = starq_core::NodeId::new(node);
    Some(CallId::of_channel(&node, channel, step - 1).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use starq_core::{NodeId, QueueId};

    fn entry(event: JournalEvent) -> JournalEntry {
        JournalEntry { seq: 1, time: Time(5_000), event }
    }

    fn entered(step: u32, queue: &str) -> JournalEvent {
        JournalEvent::Entered {
            call: CallId::of_channel(&NodeId::new("pbx1"), "ch.1", step),
            queue: QueueId::new(queue),
            node: NodeId::new("pbx1"),
            caller_id: "555".into(),
            position: 2,
            resumed: None,
        }
    }

    #[test]
    fn a_failover_step_points_the_previous_row_at_the_next_queue() {
        assert!(matches!(&changes(&entry(entered(0, "sales")))[..], [RecordChange::Enter { .. }]));
        let next = changes(&entry(entered(2, "backup")));
        assert_eq!(
            next[0],
            RecordChange::FailedOver { call: "pbx1~ch.1-q1".into(), next_queue: "backup".into() }
        );
        assert!(matches!(
            &next[1],
            RecordChange::Enter { call, channel, step: 2, refused: None, .. }
                if call == "pbx1~ch.1-q2" && channel == "ch.1"
        ));
    }

    #[test]
    fn only_misses_that_are_the_agents_count() {
        let missed = |miss| {
            changes(&entry(JournalEvent::Missed {
                call: CallId::new("c"),
                queue: QueueId::new("q"),
                agent: AgentId::new("a"),
                miss,
                rang: Duration::ZERO,
            }))
        };
        assert_eq!(missed(Miss::Busy), [RecordChange::Miss { call: "c".into() }]);
        assert!(missed(Miss::Failed).is_empty());
    }
}
